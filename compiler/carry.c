/* carry.c: NAME_train's next-sample pre-activation (--reassociate).
 *
 * Per-sample training is one long dependency chain: each step's update
 * feeds the next step's forward pass.  For plain SGD the first layer's
 * pre-activation of the next batch X' can be had without waiting for the
 * updated weights.  With D = d loss / d z of this step (z = X W^T + b):
 *
 *     W_new = W - lr D^T X,   b_new = b - lr 1^T D
 *     z'    = X' W_new^T + b_new
 *           = (X' W^T + b) - (lr (X' X^T + 1)) D
 *
 * The first term needs only the weights at the start of the step, the
 * factor lr (X' X^T + 1) only data, so both are ready long before D; after D
 * come one product and one subtraction instead of the update and the whole
 * next forward sum.  carry_build makes NAME_train's own graph from the full
 * one: the first layer's z becomes a CARRY leaf (a local across the loop),
 * ROOT_CARRY its value for the next batch (a NEXT leaf reads X'), and
 * ROOT_CARRY_INIT its value for the first batch, computed before the loop.
 * The weights are still updated as before, so only the rounding of z
 * changes (README.md gives the measured difference to PyTorch).
 *
 * Only batch 1 takes this path: with B samples a step the carry costs B^2
 * extra dot products of the inputs, and mini-batch kernels are bound by
 * throughput, not by this chain.
 */
#include "netc.h"

#include <stdlib.h>

/* The node with this op and operands, or -1. */
static int find(const Graph *g, Op op, int a, int b) {
    for (int i = 0; i < g->n; i++)
        if (g->node[i].op == op && g->node[i].arg[0] == a && g->node[i].arg[1] == b)
            return i;
    return -1;
}

/* The leaf with this op and slot, or -1. */
static int find_leaf(const Graph *g, Op op, int slot) {
    for (int i = 0; i < g->n; i++)
        if (g->node[i].op == op && g->node[i].slot == slot)
            return i;
    return -1;
}

static int grad_root(const Graph *g, int slot) {
    for (int r = 0; r < g->nroot; r++)
        if (g->root[r].kind == ROOT_GRAD && g->root[r].slot == slot)
            return g->root[r].node;
    return -1;
}

bool carry_build(const Graph *g, const Model *m, Graph *t) {
    const Optimizer *o = &m->opt;
    const Layer *L = &m->layers[0];
    if (o->kind != OPT_SGD || o->momentum != 0 || o->weight_decay != 0 || !L->trainable || m->batch != 1)
        return false;
    /* z = x W^T (+ bcast b), as lower.c builds it; D from W's gradient,
     * transpose(x^T D), as grad.c's matmul rule builds it. */
    int x = find_leaf(g, OP_INPUT, 0), w = find_leaf(g, OP_PARAM, 0);
    int b = L->bias ? find_leaf(g, OP_PARAM, 1) : -1;
    int z = x >= 0 && w >= 0 ? find(g, OP_MATMUL, x, find(g, OP_TRANSPOSE, w, -1)) : -1;
    if (z >= 0 && L->bias)
        z = b >= 0 ? find(g, OP_ADD, z, find(g, OP_BCAST, b, -1)) : -1;
    int gw = grad_root(g, 0);
    int d = -1;
    if (gw >= 0 && g->node[gw].op == OP_TRANSPOSE) {
        const Node *xd = &g->node[g->node[gw].arg[0]];
        if (xd->op == OP_MATMUL && xd->arg[0] == find(g, OP_TRANSPOSE, x, -1))
            d = xd->arg[1];
    }
    if (z < 0 || d < 0)
        return false;

    graph_init(t, false);
    t->f64 = g->f64;
    int *map = xmalloc(sizeof(int) * (size_t)g->n);
    int init = -1;
    for (int i = 0; i < g->n; i++) {
        Node n = g->node[i];
        for (int a = 0; a < 3; a++)
            if (n.arg[a] >= 0)
                n.arg[a] = map[n.arg[a]];
        t->at = (Origin){.layer = n.layer, .phase = n.phase, .loc = n.loc};
        map[i] = ir_node(t, n);
        if (n.name)
            ir_named(t, map[i], n.name);
        if (i == z) { /* the computed z only starts the loop; the loop reads the carried one */
            init = map[i];
            map[i] = ir_named(t, ir_leaf(t, OP_CARRY, n.type, 0, -1), n.name);
        }
    }
    for (int r = 0; r < g->nroot; r++)
        ir_root(t, g->root[r].kind, g->root[r].slot, g->root[r].index, map[g->root[r].node]);
    ir_root(t, ROOT_CARRY_INIT, 0, -1, init);

    /* z' = (x' W^T + b) - (lr (x' x^T + 1)) D, with this step's W and b:
     * the next batch's forward pass */
    t->at = (Origin){.layer = 0, .phase = PH_FORWARD, .loc = L->loc};
    Type bb = type_f32(2, m->batch, m->batch), zt = g->node[z].type;
    int xn = ir_named(t, ir_leaf(t, OP_NEXT, g->node[x].type, 0, -1), "x_next");
    int pre = ir_op(t, OP_MATMUL, xn, ir_op(t, OP_TRANSPOSE, map[w], -1, -1), -1);
    int k = ir_op(t, OP_MATMUL, xn, ir_op(t, OP_TRANSPOSE, map[x], -1, -1), -1);
    if (L->bias) {
        pre = ir_op(t, OP_ADD, pre, ir_op(t, OP_BCAST, map[b], -1, m->batch), -1);
        k = ir_op(t, OP_ADD, k, ir_const(t, bb, 1.0), -1);
    }
    int lr = ir_named(t, ir_leaf(t, OP_HYPER, type_f32(0, 1, 1), HY_LR, -1), hyper_name[HY_LR]);
    int c = ir_op(t, OP_MUL, ir_splat(t, lr, bb), k, -1);
    int next = ir_op(t, OP_SUB, pre, ir_op(t, OP_MATMUL, c, map[d], -1), -1);
    ir_named(t, next, name_next_z(L->name));
    if (!type_eq(t->node[next].type, zt))
        die("carry: the next pre-activation has the wrong type");
    ir_root(t, ROOT_CARRY, 0, -1, next);
    free(map);
    return true;
}
