/* reassoc.c: --reassociate, the opt-in rewrites that change rounding for
 * a shorter dependency chain.
 *
 * Per-sample training is latency-bound: each step's update feeds the next
 * step's forward pass, so what counts is the longest chain of dependent
 * operations, not their number.  The default schedule adds every sum left
 * to right (bit for bit the obvious loops); this pass, on the scalar
 * schedule, rewrites three things, by an estimate of each value's latency
 * after the values carried from the previous step (see DATA below):
 *
 *   - sums: a cluster of additions (a node and the single-use additions
 *     under it) becomes a tree built as Huffman builds codes, always adding
 *     the two terms that are ready first, by an estimate of each term's
 *     depth; for z = x0*w0 + ... + x4*w4 + b that is depth 3 instead of 5;
 *   - products: u * (a * b), where b is ready last, becomes (u * a) * b,
 *     so that the factors ready early are multiplied while b is computed:
 *     the update w - lr * (x * d) becomes w - (lr * x) * d; and u * (a + a)
 *     becomes (u * 2) * a (mse's derivative is d + d); but where the first
 *     layer's pre-activation is carried (carry.c) its weights are off the
 *     chain, and lr * (x * d) becomes x * (lr * d), one product fewer;
 *   - masks after products: u * (c ? a : 0) becomes c ? u * a : 0, and
 *     u * max(z, 0) becomes 0 > z ? 0 : u * z, so the product no longer
 *     waits for the compare; but where the mask is ready before a (a
 *     compare counts 4 cycles), it masks the early factor instead,
 *     (c ? u : 0) * a, so the select leaves the chain (the results differ
 *     only when u or a is infinite or NaN, and in the sign of a zero); in
 *     the forward pass only (and in NAME_train's next pre-activation,
 *     carry.c): a gradient's mask is shared by a whole weight matrix and
 *     would be applied per column.
 *
 * A batch kernel (batch >= 4, the samples in the vector lanes, vector.c)
 * is bound by throughput instead: there (`fuse`, the vector width) the
 * masks stay where they are (the ReLU is computed anyway, so a mask after
 * the product would only add a compare), every sum is one chain, and a
 * batch's sum over its samples first accumulates its groups of `fuse`
 * samples, one vector each, in such a chain; the last vector's lanes are
 * then added by halves.  There p + p is 2 * p, one product (mse's
 * derivative 2 * (c * d) becomes (2 * c) * d).  With --fma (`fma`) the
 * chains' products are fused multiply-adds, fma(a, b, acc), rounded once
 * each, and so is a - h * b for a hyperparameter or constant h, the update
 * w - lr * g as fma(-lr, g, w): fewer instructions where the target has
 * them, and a library call per lane where it has not, so it is a flag of
 * its own.
 *
 * Every lane of a layer gets the same shape, so the vector packing is
 * unchanged.  The results differ from the default in the last bits of each
 * rewritten operation; README.md gives the measured difference to PyTorch.
 */
#include "netc.h"

#include <stdlib.h>

typedef struct Reassoc {
    const Graph *in;
    Graph *out;
    int *map;    /* input node -> output node */
    int *uses;   /* uses of each input node, roots included */
    bool *absorbed; /* input node is an addition inside a larger sum's cluster */
    int *depth;  /* estimated latency of each output node after the carried values, in cycles */
    int cap;     /* entries of depth */
    bool carry;  /* NAME_train's graph with a carried first-layer pre-activation (carry.c) */
    int fuse;    /* a batch kernel's vector width: sums as chains, over groups of samples */
    bool fma;    /* in those chains, products as fused multiply-adds (--fma) */
} Reassoc;

static int latency(Op op) { return op_info[op].latency; } /* ops.h */

/* The depth of the sample's data and the hyperparameters: far below the
 * carried values' 0, so that work on data alone (which the processor runs
 * ahead of the chain) always counts as ready first, and is still ordered by
 * its own latency. */
enum { DATA = -1000000 };

/* Builds node n (operands already in the output) and records its depth. */
static int build(Reassoc *r, Node n) {
    int id = ir_node(r->out, n);
    if (id >= r->cap) {
        int cap = 2 * r->cap;
        r->depth = xrealloc(r->depth, sizeof(int) * (size_t)cap);
        for (int i = r->cap; i < cap; i++)
            r->depth[i] = -2;
        r->cap = cap;
    }
    if (r->depth[id] == -2) { /* new, not a hash-consed duplicate */
        int d = DATA; /* no operand depends on a carried value */
        for (int a = 0; a < 3; a++)
            if (n.arg[a] >= 0)
                d = d > r->depth[n.arg[a]] ? d : r->depth[n.arg[a]];
        r->depth[id] = n.op == OP_PARAM || n.op == OP_STATE || n.op == OP_CARRY ? 0
                       : ir_is_leaf(n.op)                                        ? DATA
                                                                                 : d + latency(n.op);
    }
    return id;
}

static int binary(Reassoc *r, Op op, int a, int b) {
    Node n = {.op = op, .type = r->out->node[a].type, .arg = {a, b, -1}};
    if (op == OP_GT || op == OP_EQ)
        n.type.dt = DT_BOOL;
    return build(r, n);
}

static int select3(Reassoc *r, int c, int a, int b) {
    Node n = {.op = OP_SELECT, .type = r->out->node[a].type, .arg = {c, a, b}};
    return build(r, n);
}

static bool is_zero(const Reassoc *r, int id) { return ir_is_const(r->out, id, 0.0); }

static int mul(Reassoc *r, int a, int b);

/* u * p, rewritten when p is a product whose last-ready factor can be
 * multiplied last, or a select or ReLU with a zero arm; -1 if neither. */
static int rewrite_mul(Reassoc *r, int u, int p) {
    const Node pn = r->out->node[p];
    if (r->depth[u] >= r->depth[p])
        return -1; /* u is the late operand: nothing to gain */
    if (pn.op == OP_MUL) {
        int a = pn.arg[0], b = pn.arg[1];
        if (r->depth[a] > r->depth[b])
            a = pn.arg[1], b = pn.arg[0];
        if (r->carry && r->out->at.phase == PH_UPDATE && r->out->at.layer == 0)
            /* the first layer's weights are off the chain when z is carried:
             * lr * (x * d) as x * (lr * d), lr * d shared by a whole column */
            return r->depth[b] > r->depth[a] ? binary(r, OP_MUL, a, mul(r, u, b)) : -1;
        if (r->depth[b] > r->depth[a] && r->depth[b] > r->depth[u])
            return mul(r, mul(r, u, a), b); /* b may be a select to sink into */
        return -1;
    }
    if (pn.op == OP_ADD && pn.arg[0] == pn.arg[1]) { /* u * (a + a) = (u * 2) * a */
        Node two = {.op = OP_CONST, .type = pn.type, .value = 2.0, .arg = {-1, -1, -1}};
        return mul(r, mul(r, u, build(r, two)), pn.arg[0]);
    }
    if (r->out->at.phase != PH_FORWARD || r->fuse)
        return -1; /* gradients keep their masks: see above; a batch kernel
                    * has the ReLU anyway, and would add a compare */
    if (pn.op == OP_SELECT && (is_zero(r, pn.arg[1]) || is_zero(r, pn.arg[2]))) {
        int c = pn.arg[0], k = is_zero(r, pn.arg[2]) ? 1 : 2, a = pn.arg[k];
        int arms[3] = {c, pn.arg[1], pn.arg[2]};
        if (r->depth[c] < r->depth[a]) { /* the mask is ready first: mask u, then multiply */
            arms[k] = u;
            return mul(r, select3(r, arms[0], arms[1], arms[2]), a);
        }
        arms[k] = mul(r, u, a);
        return select3(r, arms[0], arms[1], arms[2]);
    }
    if (pn.op == OP_MAX && is_zero(r, pn.arg[1])) { /* max(z, 0) = 0 > z ? 0 : z */
        int z = pn.arg[0], zero = pn.arg[1];
        return select3(r, binary(r, OP_GT, zero, z), zero, mul(r, u, z));
    }
    return -1;
}

static int mul(Reassoc *r, int a, int b) {
    int id = rewrite_mul(r, a, b);
    if (id < 0)
        id = rewrite_mul(r, b, a);
    return id >= 0 ? id : binary(r, OP_MUL, a, b);
}

/* acc + p: fma(a, b, acc) when p is a product a * b (with --fma). */
static int fused_add(Reassoc *r, int acc, int p) {
    const Node pn = r->out->node[p];
    if (pn.op != OP_MUL || !r->fma)
        return binary(r, OP_ADD, acc, p);
    return build(r, (Node){.op = OP_FMA, .type = pn.type, .arg = {pn.arg[0], pn.arg[1], acc}});
}

/* a - p as fma(-h, b, a) when p is a product h * b of a hyperparameter or
 * constant h (with --fma, in a batch kernel: the update w - lr * g, where
 * -lr is computed once); -1 otherwise. */
static int fused_sub(Reassoc *r, int a, int p) {
    const Node pn = r->out->node[p];
    if (!r->fma || !r->fuse || pn.op != OP_MUL)
        return -1;
    for (int k = 0; k < 2; k++) {
        Op h = r->out->node[pn.arg[k]].op;
        if (h == OP_HYPER || h == OP_CONST) {
            int neg = build(r, (Node){.op = OP_NEG, .type = pn.type, .arg = {pn.arg[k], -1, -1}});
            return build(r, (Node){.op = OP_FMA, .type = pn.type, .arg = {neg, pn.arg[1 - k], a}});
        }
    }
    return -1;
}

/* Collects the terms of the addition cluster under input node i. */
static void terms(Reassoc *r, int i, int **t, int *n, int *cap, bool top) {
    const Node *nd = &r->in->node[i];
    if (nd->op == OP_ADD && (top || r->uses[i] == 1)) {
        terms(r, nd->arg[0], t, n, cap, false);
        terms(r, nd->arg[1], t, n, cap, false);
        return;
    }
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *t = xrealloc(*t, sizeof(int) * (size_t)*cap);
    }
    (*t)[(*n)++] = r->map[i];
}

/* The terms added two at a time, the two shallowest first; ties keep the
 * terms' order, so every lane of a layer gets the same tree.  Terms all of
 * one depth (a batch's gradient: one product per sample) are added by
 * halves instead, t[k] + t[k + n/2]: each level is then whole vectors of
 * samples added lane by lane (vector.c packs samples in lanes). */
static int tree(Reassoc *r, int *t, int n) {
    if (r->fuse && n == 2 && t[0] == t[1]) {
        /* p + p = 2 * p, exactly; mse's derivative 2 * (c * d) = (2 * c) * d,
         * one product per sample (latency prefers p + p: see rewrite_mul) */
        Node two = {.op = OP_CONST, .type = r->out->node[t[0]].type, .value = 2.0, .arg = {-1, -1, -1}};
        return mul(r, build(r, two), t[0]);
    }
    bool level = n >= 4;
    for (int k = 1; k < n && level; k++)
        level = r->depth[t[k]] == r->depth[t[0]];
    if (r->fuse && !level) { /* throughput, not latency: one chain (fused with --fma) */
        int first = 0; /* the chain starts from a term that is not a product */
        while (first < n && r->out->node[t[first]].op == OP_MUL)
            first++;
        first = first < n ? first : 0;
        int acc = t[first];
        for (int k = 0; k < n; k++)
            acc = k == first ? acc : fused_add(r, acc, t[k]);
        return acc;
    }
    if (r->fuse && level && n % r->fuse == 0 && n > r->fuse) {
        /* a batch's groups of `fuse` samples, one vector each, accumulated
         * in one chain (fused with --fma); then the last vector by halves */
        for (int g = 1; g < n / r->fuse; g++)
            for (int k = 0; k < r->fuse; k++)
                t[k] = fused_add(r, t[k], t[g * r->fuse + k]);
        n = r->fuse;
    }
    while (level && n > 1) {
        int h = n / 2;
        for (int k = 0; k < h; k++)
            t[k] = binary(r, OP_ADD, t[k], t[k + h]);
        if (n % 2)
            t[h] = t[n - 1];
        n = h + n % 2;
    }
    while (n > 1) {
        int lo[2] = {-1, -1};
        for (int k = 0; k < n; k++) {
            if (lo[0] < 0 || r->depth[t[k]] < r->depth[t[lo[0]]]) {
                lo[1] = lo[0];
                lo[0] = k;
            } else if (lo[1] < 0 || r->depth[t[k]] < r->depth[t[lo[1]]]) {
                lo[1] = k;
            }
        }
        int a = lo[0] < lo[1] ? lo[0] : lo[1], b = lo[0] < lo[1] ? lo[1] : lo[0];
        t[a] = binary(r, OP_ADD, t[a], t[b]);
        for (int k = b; k + 1 < n; k++)
            t[k] = t[k + 1];
        n--;
    }
    return t[0];
}

void reassociate(Graph *g, int batch, bool fma) {
    Reassoc r = {.in = g, .fuse = batch > 1 ? batch : 0, .fma = fma};
    Graph out;
    graph_init(&out, g->scalar);
    out.f64 = g->f64;
    r.out = &out;
    r.map = xmalloc(sizeof(int) * (size_t)(g->n + 1));
    r.uses = xcalloc((size_t)g->n + 1, sizeof(int));
    r.cap = 2 * g->n + 16;
    r.depth = xmalloc(sizeof(int) * (size_t)r.cap);
    for (int i = 0; i < r.cap; i++)
        r.depth[i] = -2;
    for (int i = 0; i < g->n; i++)
        for (int a = 0; a < 3; a++)
            if (g->node[i].arg[a] >= 0)
                r.uses[g->node[i].arg[a]]++;
    for (int k = 0; k < g->nroot; k++)
        r.uses[g->root[k].node] += 2;
    r.absorbed = xcalloc((size_t)g->n + 1, sizeof(bool));
    for (int i = 0; i < g->n; i++)
        r.carry |= g->node[i].op == OP_CARRY;
    for (int i = 0; i < g->n; i++)
        if (g->node[i].op == OP_ADD)
            for (int a = 0; a < 2; a++) {
                int j = g->node[i].arg[a];
                r.absorbed[j] = g->node[j].op == OP_ADD && r.uses[j] == 1;
            }

    int *t = NULL, cap = 0;
    for (int i = 0; i < g->n; i++) {
        Node n = g->node[i];
        out.at = (Origin){.layer = n.layer, .phase = n.phase, .loc = n.loc};
        for (int a = 0; a < 3; a++)
            if (n.arg[a] >= 0)
                n.arg[a] = r.map[n.arg[a]];
        int id;
        if (r.absorbed[i]) { /* built as part of its user's tree */
            r.map[i] = -1;
            continue;
        }
        if (op_info[n.op].exact) { /* ops.h: not an op this pass rewrites */
            id = build(&r, n);
        } else if (n.op == OP_ADD) {
            int nt = 0;
            terms(&r, i, &t, &nt, &cap, true);
            id = tree(&r, t, nt);
        } else if (n.op == OP_SUB && r.uses[g->node[i].arg[1]] == 1 &&
                   (id = fused_sub(&r, n.arg[0], n.arg[1])) >= 0) {
            /* a - h * b, the product used here only: fma(-h, b, a) */
        } else if (n.op == OP_MUL) {
            id = mul(&r, n.arg[0], n.arg[1]);
        } else {
            id = build(&r, n);
        }
        r.map[i] = id;
        ir_copy_name(&out, id, &n);
        if (out.n > 8 * g->n + 16)
            die("reassociate: %d nodes from %d", out.n, g->n);
    }
    for (int k = 0; k < g->nroot; k++) {
        Root root = g->root[k];
        ir_root(&out, root.kind, root.slot, root.index, r.map[root.node]);
    }
    free(t);
    free(r.map);
    free(r.uses);
    free(r.absorbed);
    free(r.depth);
    graph_free(g);
    *g = out;
}
