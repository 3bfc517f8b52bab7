/* scalar.c: the schedule: every tensor node unrolled to scalars.
 *
 * Each tensor node maps to its elements in row-major order, each a node of a
 * scalar graph.  Shape ops disappear: a transpose or broadcast only permutes
 * or repeats element ids, and a matmul or sum becomes a chain of scalar adds
 * taken left to right in index order (((a0 + a1) + a2) ...), which fixes the
 * rounding of every sum.  Element names extend the tensor's name with the
 * element's indices ("hidden.z" -> "hidden.z_2").
 */
#include "netc.h"

#include <stdlib.h>

static int binary(Graph *s, Op op, int a, int b) { return ir_op(s, op, a, b, -1); }

void scalarize(const Graph *t, Graph *s) {
    const Type scalar = type_f32(0, 1, 1);
    int **el = xcalloc((size_t)t->n, sizeof(int *));
    for (int i = 0; i < t->n; i++) {
        const Node *n = &t->node[i];
        const int numel = type_numel(n->type);
        const int *A = n->arg[0] >= 0 ? el[n->arg[0]] : NULL;
        const int *Bv = n->arg[1] >= 0 ? el[n->arg[1]] : NULL;
        const int *C = n->arg[2] >= 0 ? el[n->arg[2]] : NULL;
        int *e = el[i] = xmalloc(sizeof(int) * (size_t)numel);
        s->at = (Origin){.layer = n->layer, .phase = n->phase, .loc = n->loc};
        const int rows = n->type.dim[0], cols = n->type.dim[1];
        if (op_info[n->op].kind != OPK_LEAF && op_info[n->op].kind != OPK_TENSOR) {
            for (int k = 0; k < numel; k++) /* elementwise (ops.h): element k of each operand */
                e[k] = ir_op(s, n->op, A[k], Bv ? Bv[k] : -1, C ? C[k] : -1);
        } else {
            switch (n->op) { /* leaves and shape ops */
            case OP_INPUT: case OP_TARGET: case OP_PARAM: case OP_STATE: case OP_CARRY: case OP_NEXT:
            case OP_GRADIENT:
                for (int k = 0; k < numel; k++)
                    e[k] = ir_leaf(s, n->op, scalar, n->slot, k);
                break;
            case OP_HYPER:
                e[0] = ir_leaf(s, OP_HYPER, n->type, n->slot, 0);
                break;
            case OP_CONST:
                for (int k = 0; k < numel; k++)
                    e[k] = ir_const(s, scalar, n->value);
                break;
            case OP_ONEHOT: /* row r: t[r] == j ? 1 : 0 */
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++)
                        e[r * cols + c] = ir_op(s, OP_SELECT, binary(s, OP_EQ, A[r], ir_const(s, scalar, c)),
                                                ir_const(s, scalar, 1.0f), ir_const(s, scalar, 0.0f));
                break;
            case OP_SOFTMAX: case OP_LOGSOFTMAX: /* per row, shifted by the row's max as torch */
                for (int r = 0; r < rows; r++) {
                    const int *a = A + r * cols;
                    int mx = a[0], sum = -1;
                    for (int c = 1; c < cols; c++)
                        mx = binary(s, OP_MAX, mx, a[c]);
                    int *sh = e + r * cols; /* first the shifted values, then the results */
                    for (int c = 0; c < cols; c++) {
                        sh[c] = binary(s, OP_SUB, a[c], mx);
                        int ex = ir_op(s, OP_EXP, sh[c], -1, -1);
                        sum = c ? binary(s, OP_ADD, sum, ex) : ex;
                    }
                    if (n->op == OP_SOFTMAX)
                        for (int c = 0; c < cols; c++)
                            sh[c] = binary(s, OP_DIV, ir_op(s, OP_EXP, sh[c], -1, -1), sum);
                    else
                        for (int c = 0; c < cols; c++)
                            sh[c] = binary(s, OP_SUB, sh[c], ir_op(s, OP_LOG, sum, -1, -1));
                }
                break;
            case OP_MATMUL: {
                const int inner = t->node[n->arg[0]].type.dim[1];
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++) {
                        int acc = binary(s, OP_MUL, A[r * inner], Bv[c]);
                        for (int k = 1; k < inner; k++)
                            acc = binary(s, OP_ADD, acc, binary(s, OP_MUL, A[r * inner + k], Bv[k * cols + c]));
                        e[r * cols + c] = acc;
                    }
                break;
            }
            case OP_TRANSPOSE:
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++)
                        e[r * cols + c] = A[c * rows + r];
                break;
            case OP_BCAST:
                for (int k = 0; k < numel; k++)
                    e[k] = A[k % cols];
                break;
            case OP_SPLAT:
                for (int k = 0; k < numel; k++)
                    e[k] = A[0];
                break;
            case OP_SUMROWS: {
                const int m = t->node[n->arg[0]].type.dim[0];
                for (int c = 0; c < numel; c++) {
                    int acc = A[c];
                    for (int r = 1; r < m; r++)
                        acc = binary(s, OP_ADD, acc, A[r * numel + c]);
                    e[c] = acc;
                }
                break;
            }
            case OP_BCE: { /* torch's terms, summed in order, then divided by the count */
                int floor = ir_const(s, scalar, -100.0f), one = ir_const(s, scalar, 1.0f), acc = -1;
                for (int k = 0; k < type_numel(t->node[n->arg[0]].type); k++) {
                    int y = A[k], tk = Bv[k];
                    int l1y = binary(s, OP_MAX, ir_op(s, OP_LOG, binary(s, OP_SUB, one, y), -1, -1), floor);
                    int ly = binary(s, OP_MAX, ir_op(s, OP_LOG, y, -1, -1), floor);
                    int term = binary(s, OP_SUB, binary(s, OP_MUL, binary(s, OP_SUB, tk, one), l1y),
                                      binary(s, OP_MUL, tk, ly));
                    acc = k ? binary(s, OP_ADD, acc, term) : term;
                }
                e[0] = n->index > 1 ? binary(s, OP_DIV, acc, ir_const(s, scalar, n->index)) : acc;
                break;
            }
            case OP_SUMALL: {
                const int m = type_numel(t->node[n->arg[0]].type);
                int acc = A[0];
                for (int k = 1; k < m; k++)
                    acc = binary(s, OP_ADD, acc, A[k]);
                e[0] = acc;
                break;
            }
            default: /* an elementwise op, above */
                unreachable();
            }
        }
        for (int k = 0; k < numel; k++)
            ir_named_element(s, e[k], n->name, n->type, k);
        if (s->n > LIMIT_UNROLL * 8)
            die("scalarize: %d scalar nodes; the model checks should have stopped this", s->n);
    }
    for (int r = 0; r < t->nroot; r++) {
        const Root *root = &t->root[r];
        int numel = type_numel(t->node[root->node].type);
        for (int k = 0; k < numel; k++)
            ir_root(s, root->kind, root->slot, k, el[root->node][k]);
    }
    for (int i = 0; i < t->n; i++)
        free(el[i]);
    free(el);
}
