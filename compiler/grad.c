/* grad.c: reverse-mode differentiation, source to source.
 *
 * The gradient is new IR appended to the same graph: the nodes are walked
 * from the loss down (array order is topological), and each node's adjoint,
 * complete once all its users are processed, is pushed to its operands by
 * one rule per primitive op.  Contributions to one operand are summed.  Only
 * nodes that depend on a parameter get adjoints.  An op without a rule is an
 * internal error naming it.  Adjoints are named d_<name> (names.c).
 */
#include "netc.h"

#include <stdlib.h>

#include <string.h>

typedef struct Grad {
    Graph *g;
    int *adj;   /* adjoint node of each forward node, -1 while none */
    bool *need; /* node depends on a parameter */
} Grad;


/* adj[a] += c */
static void accumulate(Grad *d, int a, int c) {
    if (!d->need[a])
        return;
    d->adj[a] = d->adj[a] < 0 ? c : ir_op(d->g, OP_ADD, d->adj[a], c, -1);
}

static int zero_like(Graph *g, int a) {
    Type t = g->node[a].type;
    t.dt = DT_F32;
    return ir_const(g, t, 0.0f);
}

/* Each row's sum, repeated across the row: (A . 1[n,1]) . 1[1,n].  The
 * products with 1 fold away when scalarized, leaving a plain sum. */
static int row_sum_bcast(Graph *g, int a) {
    Type t = g->node[a].type;
    int col = ir_op(g, OP_MATMUL, a, ir_const(g, type_f32(2, t.dim[1], 1), 1.0f), -1);
    return ir_op(g, OP_MATMUL, col, ir_const(g, type_f32(2, 1, t.dim[1]), 1.0f), -1);
}

/* Pushes the adjoint dy of node y to its operands. */
static void rule(Grad *d, int y, int dy) {
    Graph *g = d->g;
    Node n = g->node[y];
    int a = n.arg[0], b = n.arg[1], c = n.arg[2];
    switch (n.op) {
    case OP_INPUT: case OP_TARGET: case OP_PARAM: case OP_CONST: case OP_STATE: case OP_HYPER:
    case OP_CARRY: case OP_NEXT: case OP_GRADIENT:
        return;                                                     /* leaves */
    case OP_ADD:                                                    /* d(a+b) = da + db */
        accumulate(d, a, dy);
        accumulate(d, b, dy);
        return;
    case OP_SUB:                                                    /* d(a-b) = da - db */
        accumulate(d, a, dy);
        if (d->need[b])
            accumulate(d, b, ir_op(g, OP_NEG, dy, -1, -1));
        return;
    case OP_MUL:                                                    /* d(ab) = b da + a db */
        if (d->need[a])
            accumulate(d, a, ir_op(g, OP_MUL, dy, b, -1));
        if (d->need[b])
            accumulate(d, b, ir_op(g, OP_MUL, dy, a, -1));
        return;
    case OP_DIV:                                                    /* d(a/b) = da/b - a db/b^2 */
        if (d->need[a])
            accumulate(d, a, ir_op(g, OP_DIV, dy, b, -1));
        if (d->need[b]) {
            int q = ir_op(g, OP_DIV, ir_op(g, OP_MUL, dy, a, -1), ir_op(g, OP_MUL, b, b, -1), -1);
            accumulate(d, b, ir_op(g, OP_NEG, q, -1, -1));
        }
        return;
    case OP_NEG:                                                    /* d(-a) = -da */
        accumulate(d, a, ir_op(g, OP_NEG, dy, -1, -1));
        return;
    case OP_MAX: {                  /* d max(a,b) = a > b ? da : db  (torch: 0 to a at a tie) */
        int mask = ir_op(g, OP_GT, a, b, -1), z = zero_like(g, y);
        if (d->need[a])
            accumulate(d, a, ir_op(g, OP_SELECT, mask, dy, z));
        if (d->need[b])
            accumulate(d, b, ir_op(g, OP_SELECT, mask, z, dy));
        return;
    }
    case OP_GT: case OP_EQ: case OP_ONEHOT:                         /* piecewise constant */
        return;
    case OP_EXP:                                                    /* d e^a = e^a da */
        accumulate(d, a, ir_op(g, OP_MUL, dy, y, -1));
        return;
    case OP_LOG:                                                    /* d log a = da / a */
        accumulate(d, a, ir_op(g, OP_DIV, dy, a, -1));
        return;
    case OP_ERF: {                                  /* d erf a = 2/sqrt(pi) e^(-a^2) da */
        int e = ir_op(g, OP_EXP, ir_op(g, OP_NEG, ir_op(g, OP_MUL, a, a, -1), -1, -1), -1, -1);
        int c = ir_const(g, n.type, 1.12837916709551257390); /* M_2_SQRTPI */
        accumulate(d, a, ir_op(g, OP_MUL, dy, ir_op(g, OP_MUL, c, e, -1), -1));
        return;
    }
    case OP_SQRT:                                                   /* d sqrt a = da / (2 sqrt a) */
        accumulate(d, a, ir_op(g, OP_DIV, dy, ir_op(g, OP_MUL, ir_const(g, n.type, 2.0f), y, -1), -1));
        return;
    case OP_TANH: {                                                 /* d tanh a = (1 - y^2) da */
        int one = ir_const(g, n.type, 1.0f);
        int s = ir_op(g, OP_SUB, one, ir_op(g, OP_MUL, y, y, -1), -1);
        accumulate(d, a, ir_op(g, OP_MUL, dy, s, -1));
        return;
    }
    case OP_SIGMOID: {                                              /* d sig a = (1 - y) y da */
        int one = ir_const(g, n.type, 1.0f);
        int s = ir_op(g, OP_MUL, ir_op(g, OP_MUL, dy, ir_op(g, OP_SUB, one, y, -1), -1), y, -1);
        accumulate(d, a, s);
        return;
    }
    case OP_ABS: {                                     /* d |a| = sign(a) da, sign(0) = 0 (torch) */
        int zero = ir_const(g, n.type, 0.0f);
        int sign = ir_op(g, OP_SELECT, ir_op(g, OP_GT, a, zero, -1), ir_const(g, n.type, 1.0f),
                         ir_op(g, OP_SELECT, ir_op(g, OP_GT, zero, a, -1),
                               ir_const(g, n.type, -1.0f), zero));
        accumulate(d, a, ir_op(g, OP_MUL, dy, sign, -1));
        return;
    }
    case OP_SOFTMAX: {                                 /* da = y (dy - rowsum(dy y)), as torch */
        int r = row_sum_bcast(g, ir_op(g, OP_MUL, dy, y, -1));
        accumulate(d, a, ir_op(g, OP_MUL, y, ir_op(g, OP_SUB, dy, r, -1), -1));
        return;
    }
    case OP_LOGSOFTMAX: {                              /* da = dy - e^y rowsum(dy), as torch */
        int r = row_sum_bcast(g, dy);
        accumulate(d, a, ir_op(g, OP_SUB, dy, ir_op(g, OP_MUL, ir_op(g, OP_EXP, y, -1, -1), r, -1), -1));
        return;
    }
    case OP_BCE: { /* torch: da = dy (a - t) / max((1 - a) a, 1e-12) / count: finite at a = 0 or 1 */
        Type t = g->node[a].type;
        int one = ir_const(g, t, 1.0f), eps = ir_const(g, t, 1e-12);
        int num = ir_op(g, OP_MUL, ir_splat(g, dy, t), ir_op(g, OP_SUB, a, b, -1), -1);
        int den = ir_op(g, OP_MAX, ir_op(g, OP_MUL, ir_op(g, OP_SUB, one, a, -1), a, -1), eps, -1);
        int da = ir_op(g, OP_DIV, num, den, -1);
        if (n.index > 1)
            da = ir_op(g, OP_DIV, da, ir_const(g, t, n.index), -1);
        accumulate(d, a, da);
        return;
    }
    case OP_SELECT: {                                               /* d(c?a:b) = c ? da : db */
        int z = zero_like(g, y);
        if (d->need[b])
            accumulate(d, b, ir_op(g, OP_SELECT, a, dy, z));
        if (d->need[c])
            accumulate(d, c, ir_op(g, OP_SELECT, a, z, dy));
        return;
    }
    case OP_MATMUL:                                                 /* dA = dY B^T, dB = A^T dY */
        if (d->need[a])
            accumulate(d, a, ir_op(g, OP_MATMUL, dy, ir_op(g, OP_TRANSPOSE, b, -1, -1), -1));
        if (d->need[b])
            accumulate(d, b, ir_op(g, OP_MATMUL, ir_op(g, OP_TRANSPOSE, a, -1, -1), dy, -1));
        return;
    case OP_TRANSPOSE:                                              /* dA = dY^T */
        accumulate(d, a, ir_op(g, OP_TRANSPOSE, dy, -1, -1));
        return;
    case OP_BCAST:                                                  /* db = sum of dY's rows */
        accumulate(d, a, ir_op(g, OP_SUMROWS, dy, -1, -1));
        return;
    case OP_SUMROWS:                                                /* dA = dy repeated */
        accumulate(d, a, ir_op(g, OP_BCAST, dy, -1, g->node[a].type.dim[0]));
        return;
    case OP_SUMALL:                                                 /* dA = dy everywhere */
        accumulate(d, a, ir_splat(g, dy, g->node[a].type));
        return;
    case OP_SPLAT:                                                  /* da = sum of dY */
        accumulate(d, a, ir_op(g, OP_SUMALL, dy, -1, -1));
        return;
    case OP_FMA: /* made by reassoc.c, after differentiation */
    case OP_COUNT:
        break;
    } /* no default: an op without a rule is a -Wswitch error */
    die("no gradient rule for op '%s'", n.op < OP_COUNT ? op_name[n.op] : "?");
}

void grad_build(Graph *g, const Model *m) {
    int loss = -1;
    for (int r = 0; r < g->nroot; r++)
        if (g->root[r].kind == ROOT_LOSS)
            loss = g->root[r].node;
    if (loss < 0)
        die("grad_build: no loss");

    int n = g->n;
    Grad d = {g, xmalloc(sizeof(int) * (size_t)n), xcalloc((size_t)n, sizeof(bool))};
    int *param_node = xmalloc(sizeof(int) * (size_t)m->nparams);
    for (int p = 0; p < m->nparams; p++)
        param_node[p] = -1;
    for (int i = 0; i < n; i++) {
        const Node *x = &g->node[i];
        d.adj[i] = -1;
        if (x->op == OP_PARAM && m->params[x->slot].trainable) {
            d.need[i] = true;
            param_node[x->slot] = i;
        }
        for (int a = 0; a < 3; a++)
            if (x->arg[a] >= 0 && d.need[x->arg[a]] && op_info[x->op].kind != OPK_MASK)
                d.need[i] = true;
    }

    g->at = (Origin){.layer = -1, .phase = PH_BACKWARD, .loc = g->node[loss].loc};
    d.adj[loss] = ir_const(g, g->node[loss].type, 1.0f);
    for (int y = loss; y >= 0; y--) {
        if (d.adj[y] < 0 || !d.need[y])
            continue;
        const Node *fy = &g->node[y];
        if (fy->name)
            ir_named(g, d.adj[y], name_adjoint(fy->name));
        g->at = (Origin){.layer = fy->layer, .phase = PH_BACKWARD, .loc = fy->loc};
        rule(&d, y, d.adj[y]);
    }

    for (int p = 0; p < m->nparams; p++) {
        if (!m->params[p].trainable) /* frozen: no gradient code at all */
            continue;
        int pn = param_node[p];
        int gp = pn >= 0 ? d.adj[pn] : -1;
        if (gp < 0) /* the loss does not depend on it */
            gp = ir_const(g, param_type(&m->params[p]), 0.0f);
        ir_root(g, ROOT_GRAD, p, -1, gp);
    }
    free(param_node);
    free(d.adj);
    free(d.need);
}
