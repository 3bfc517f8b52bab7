/* simplify.c: constant folding, identities, CSE and dead code elimination.
 *
 * The graph is copied, live nodes only, into a fresh graph: hash-consing in
 * the copy merges duplicates, and each node is folded as it is copied.  Every
 * rewrite is exact in IEEE single precision (x*1, x/1, x-0, --x, x+(-y),
 * x-(-y), select(c,a,a), transposes of transposes, arithmetic on constants
 * computed in float in the order the kernels would), so the simplified graph
 * computes the same bits.  x+0 and x*0 are not rewritten: they are not exact
 * for -0, NaN and infinities.  One rewrite makes new nodes: in a ReLU's
 * gradient z > 0 ? e : 0 (scalar graphs), max(z, 0) inside e is z (where z > 0 the two are
 * the same bits; elsewhere e is not used, and a NaN z selects 0 either way),
 * so e no longer waits for the ReLU: for an output layer under mse, the
 * loss's derivative is computed from z beside the compare.  That rewrite is
 * for latency only, and it is the caller's option (`latency`): a schedule
 * bound by its number of operations (a batch's samples filling the vector
 * lanes) does without it, since there z - t would be computed beside
 * max(z, 0) - t, which the loss needs anyway.  Repeats until nothing
 * changes.
 */
#include "netc.h"

#include <stdlib.h>

#include <string.h>

static bool is_const(const Graph *g, int id) { return g->node[id].op == OP_CONST; }

/* Sum of n copies of v, added left to right in the graph's precision, as
 * the unrolled kernel adds. */
static double repeat_sum(const Graph *g, double v, int n) {
    double s = v;
    for (int i = 1; i < n; i++)
        s = ir_round(g, s + v);
    return s;
}

/* subst()'s results by node, valid where at[] holds the current stamp: kept
 * for a whole pass, so a call costs what it visits, not the graph's size. */
typedef struct Memo {
    int *val, *at;
    int cap, stamp;
    bool latency; /* simplify()'s option: rewrites for latency alone */
} Memo;

/* Names e's copy `out` computed from z: at the top, e's own name (the
 * gradient it replaces: d_out.a_0); below, e's tensor name with "_z"
 * (loss.diff_0 -> loss.diff_z_0, its counterpart from z). */
static void name_copy(Graph *g, int out, int e, int level) {
    const Node *n = &g->node[e];
    Node *o = &g->node[out];
    if (o->name || !n->name)
        return;
    if (level == 0) {
        ir_copy_name(g, out, n);
        return;
    }
    if (!n->ebase)
        return; /* a temporary */
    o->ebase = name_from_z(n->ebase);
    o->erow = n->erow, o->ecol = n->ecol, o->erows = n->erows, o->ecols = n->ecols;
    o->name = name_element(o->ebase, n->erow, n->ecol);
}

/* e with node relu replaced by z, at most 8 levels deep and not past other
 * selects and maxima (whose own gradients are rewritten on their own). */
static int subst(Graph *g, int e, int relu, int z, int level, Memo *m) {
    if (e == relu)
        return z;
    if (e < relu || level == 8) /* built before max(z, 0): cannot contain it */
        return e;
    if (m->at[e] == m->stamp)
        return m->val[e];
    Node n = g->node[e];
    int out = e;
    if (!ir_is_leaf(n.op) && n.op != OP_SELECT && n.op != OP_MAX) {
        bool changed = false;
        for (int a = 0; a < 3; a++)
            if (n.arg[a] >= 0) {
                int s = subst(g, n.arg[a], relu, z, level + 1, m);
                changed |= s != n.arg[a];
                n.arg[a] = s;
            }
        if (changed) {
            out = ir_node(g, n);
            name_copy(g, out, e, level);
        }
    }
    m->val[e] = out;
    m->at[e] = m->stamp;
    return out;
}

/* c ? a : b with c = z > 0, scalars: a with max(z, 0) replaced by z. */
static int relu_gradient(Graph *g, int c, int a, Memo *m) {
    const Node cn = g->node[c];
    if (!g->scalar || cn.op != OP_GT || !ir_is_const(g, cn.arg[1], 0.0))
        return a; /* on tensors, e's elements may read other elements of max(z, 0) */
    if (!m->latency) /* throughput, not latency: e from max(z, 0) shares the loss's nodes */
        return a;
    Node mx = {.op = OP_MAX, .type = g->node[cn.arg[0]].type, .arg = {cn.arg[0], cn.arg[1], -1}};
    int relu = ir_lookup(g, mx);
    if (relu < 0)
        return a;
    if (m->cap < g->n) { /* the nodes subst() may visit: all there are now */
        int cap = 2 * g->n;
        m->val = xrealloc(m->val, sizeof(int) * (size_t)cap);
        m->at = xrealloc(m->at, sizeof(int) * (size_t)cap);
        for (int i = m->cap; i < cap; i++)
            m->at[i] = 0;
        m->cap = cap;
    }
    m->stamp++;
    return subst(g, a, relu, cn.arg[0], 0, m);
}

/* Node n (operands already in g) folded; returns its id in g. */
static int fold(Graph *g, Node n, Memo *m) {
    int a = n.arg[0], b = n.arg[1], c = n.arg[2];
    const Node *A = a >= 0 ? &g->node[a] : NULL, *Bn = b >= 0 ? &g->node[b] : NULL;
    bool ca = a >= 0 && is_const(g, a), cb = b >= 0 && is_const(g, b);
    double x = ca ? A->value : 0, y = cb ? Bn->value : 0; /* ir_const rounds the result */
    switch (n.op) {
    case OP_ADD:
        if (ca && cb)
            return ir_const(g, n.type, x + y);
        if (Bn->op == OP_NEG) /* a + (-b) = a - b */
            return fold(g, (Node){.op = OP_SUB, .type = n.type, .arg = {a, Bn->arg[0], -1}}, m);
        break;
    case OP_SUB:
        if (ca && cb)
            return ir_const(g, n.type, x - y);
        if (ir_is_const(g, b, 0.0f))
            return a;
        if (Bn->op == OP_NEG) /* a - (-b) = a + b */
            return fold(g, (Node){.op = OP_ADD, .type = n.type, .arg = {a, Bn->arg[0], -1}}, m);
        break;
    case OP_MUL:
        if (ca && cb)
            return ir_const(g, n.type, x * y);
        if (ir_is_const(g, a, 1.0f))
            return b;
        if (ir_is_const(g, b, 1.0f))
            return a;
        break;
    case OP_DIV:
        if (ca && cb)
            return ir_const(g, n.type, x / y);
        if (ir_is_const(g, b, 1.0f))
            return a;
        break;
    case OP_NEG:
        if (ca)
            return ir_const(g, n.type, -x);
        if (A->op == OP_NEG)
            return A->arg[0];
        break;
    case OP_MAX:
        if (ca && cb)
            return ir_const(g, n.type, x < y ? y : x);
        break;
    case OP_SELECT:
        if (b == c)
            return b;
        n.arg[1] = relu_gradient(g, a, b, m);
        break;
    case OP_TRANSPOSE:
        if (ca)
            return ir_const(g, n.type, x);
        if (A->op == OP_TRANSPOSE)
            return A->arg[0];
        break;
    case OP_BCAST: case OP_SPLAT:
        if (ca)
            return ir_const(g, n.type, x);
        break;
    case OP_SUMROWS:
        if (ca)
            return ir_const(g, n.type, repeat_sum(g, x, A->type.dim[0]));
        break;
    case OP_SUMALL:
        if (ca)
            return ir_const(g, n.type, repeat_sum(g, x, type_numel(A->type)));
        break;
    case OP_INPUT: case OP_TARGET: case OP_PARAM: case OP_CONST: case OP_STATE: case OP_HYPER: case OP_CARRY:
    case OP_NEXT: case OP_GRADIENT: case OP_GT: case OP_EQ: case OP_EXP: case OP_LOG: case OP_ERF:
    case OP_TANH: case OP_SIGMOID: case OP_ABS: case OP_SQRT: case OP_FMA: case OP_MATMUL: case OP_ONEHOT:
    case OP_SOFTMAX: case OP_LOGSOFTMAX: case OP_BCE:
        break; /* no fold: libm results are not computed at compile time (the C library's may differ) */
    case OP_COUNT:
        unreachable();
    } /* no default: a new op is a -Wswitch error until it says whether it folds */
    return ir_node(g, n);
}

/* One copy of g's live nodes into a new graph; returns whether it shrank. */
static bool simplify_once(Graph *g, bool latency) {
    bool *live = xcalloc((size_t)g->n, sizeof(bool));
    int *map = xmalloc(sizeof(int) * (size_t)(g->n ? g->n : 1));
    for (int r = 0; r < g->nroot; r++)
        live[g->root[r].node] = true;
    for (int i = g->n - 1; i >= 0; i--)
        if (live[i])
            for (int a = 0; a < 3; a++)
                if (g->node[i].arg[a] >= 0)
                    live[g->node[i].arg[a]] = true;

    Graph out;
    graph_init(&out, g->scalar);
    out.f64 = g->f64;
    Memo memo = {.latency = latency};
    for (int i = 0; i < g->n; i++) {
        map[i] = -1;
        if (!live[i])
            continue;
        Node n = g->node[i];
        for (int a = 0; a < 3; a++)
            if (n.arg[a] >= 0)
                n.arg[a] = map[n.arg[a]];
        out.at = (Origin){.layer = n.layer, .phase = n.phase, .loc = n.loc};
        map[i] = fold(&out, n, &memo);
        ir_copy_name(&out, map[i], &n);
    }
    for (int r = 0; r < g->nroot; r++) {
        Root root = g->root[r];
        ir_root(&out, root.kind, root.slot, root.index, map[root.node]);
    }
    bool changed = out.n != g->n;
    free(live);
    free(map);
    free(memo.val);
    free(memo.at);
    graph_free(g);
    *g = out;
    return changed;
}

void simplify(Graph *g, bool latency) {
    for (int round = 0; round < 8 && simplify_once(g, latency); round++)
        ;
}
