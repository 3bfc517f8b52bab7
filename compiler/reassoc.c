/* reassoc.c: --reassociate, the opt-in rewrites that change rounding for
 * a shorter dependency chain.
 *
 * Per-sample training is latency-bound: each step's update feeds the next
 * step's forward pass, so what counts is the longest chain of dependent
 * operations, not their number.  The default schedule adds every sum left
 * to right (bit for bit the obvious loops); this pass, on the scalar
 * schedule, rewrites two things:
 *
 *   - sums: a cluster of additions (a node and the single-use additions
 *     under it) becomes a tree built as Huffman builds codes, always adding
 *     the two terms that are ready first, by an estimate of each term's
 *     depth; for z = x0*w0 + ... + x4*w4 + b that is depth 3 instead of 5;
 *   - products: u * (a * b), where u and a depend only on the sample and
 *     the hyperparameters and b does not, becomes (u * a) * b, so that the
 *     learning rate times the input is ready before the gradient is: the
 *     update w - lr * (x * d) becomes w - (lr * x) * d.
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
    int *depth;  /* estimated latency of each output node, in cycles */
    bool *early; /* output node depends only on the sample and hyperparameters */
} Reassoc;

static int latency(Op op) {
    switch (op) {
    case OP_ADD: case OP_SUB: return 3;
    case OP_MUL: return 4;
    case OP_DIV: case OP_SQRT: return 12;
    case OP_EXP: case OP_LOG: case OP_TANH: case OP_SIGMOID: return 20;
    default: return 1;
    }
}

static bool leaf(Op op) {
    return op == OP_INPUT || op == OP_TARGET || op == OP_PARAM || op == OP_STATE || op == OP_HYPER ||
           op == OP_CONST;
}

/* Builds node n (operands already in the output) and records its depth. */
static int build(Reassoc *r, Node n) {
    int id = ir_node(r->out, n);
    if (r->depth[id] < 0) { /* new, not a hash-consed duplicate */
        int d = 0;
        bool early = n.op != OP_PARAM && n.op != OP_STATE;
        for (int a = 0; a < 3; a++)
            if (n.arg[a] >= 0) {
                d = d > r->depth[n.arg[a]] ? d : r->depth[n.arg[a]];
                early = early && r->early[n.arg[a]];
            }
        r->depth[id] = leaf(n.op) ? 0 : d + latency(n.op);
        r->early[id] = early;
    }
    return id;
}

static int binary(Reassoc *r, Op op, int a, int b) {
    Node n = {.op = op, .type = r->out->node[a].type, .arg = {a, b, -1}};
    return build(r, n);
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
 * terms' order, so every lane of a layer gets the same tree. */
static int tree(Reassoc *r, int *t, int n) {
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

/* u * p as (u * a) * b when p is a * b with u and a early and b not;
 * -1 when it is not of that form. */
static int regroup(Reassoc *r, int u, int p) {
    const Node *pn = &r->out->node[p];
    if (!r->early[u] || pn->op != OP_MUL || r->early[pn->arg[0]] == r->early[pn->arg[1]])
        return -1;
    int a = r->early[pn->arg[0]] ? pn->arg[0] : pn->arg[1], b = a == pn->arg[0] ? pn->arg[1] : pn->arg[0];
    return binary(r, OP_MUL, binary(r, OP_MUL, u, a), b);
}

void reassociate(Graph *g) {
    Reassoc r = {.in = g};
    Graph out;
    graph_init(&out, g->scalar);
    out.f64 = g->f64;
    r.out = &out;
    r.map = xmalloc(sizeof(int) * (size_t)(g->n + 1));
    r.uses = xcalloc((size_t)g->n + 1, sizeof(int));
    /* The output never has more than twice the input's nodes: each rewrite
     * adds at most one node per input node. */
    r.depth = xmalloc(sizeof(int) * (size_t)(2 * g->n + 2));
    r.early = xcalloc((size_t)(2 * g->n + 2), sizeof(bool));
    for (int i = 0; i < 2 * g->n + 2; i++)
        r.depth[i] = -1;
    for (int i = 0; i < g->n; i++)
        for (int a = 0; a < 3; a++)
            if (g->node[i].arg[a] >= 0)
                r.uses[g->node[i].arg[a]]++;
    for (int k = 0; k < g->nroot; k++)
        r.uses[g->root[k].node] += 2;
    r.absorbed = xcalloc((size_t)g->n + 1, sizeof(bool));
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
        if (n.op == OP_ADD) {
            int nt = 0;
            terms(&r, i, &t, &nt, &cap, true);
            id = tree(&r, t, nt);
        } else {
            id = n.op == OP_MUL ? regroup(&r, n.arg[0], n.arg[1]) : -1;
            if (id < 0 && n.op == OP_MUL)
                id = regroup(&r, n.arg[1], n.arg[0]);
            if (id < 0)
                id = build(&r, n);
        }
        r.map[i] = id;
        if (n.name)
            ir_named(&out, id, n.name);
        if (out.n > 2 * g->n + 1)
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
    free(r.early);
    graph_free(g);
    *g = out;
}
