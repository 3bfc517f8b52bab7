/* plan.c: what each generated kernel computes, and what its values are called.
 *
 * Both backends print the same scalar schedule; this file makes the one set
 * of decisions they share, so that the C and the LLVM IR stay equivalent and
 * name their values alike: which roots a kernel stores, which nodes are live
 * in it, which values are held in named locals (named nodes and values used
 * more than once; NAME_train also keeps the parameters and optimizer state
 * in locals across its loop), and each local's unique name.
 */
#include "netc.h"

#include <stdlib.h>
#include <string.h>

static uint64_t str_hash(const char *s) {
    uint64_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* Adds name to the kernel's set of locals unless present; returns whether
 * it was added. */
static bool take_name(Plan *p, const char *name) {
    size_t mask = (size_t)p->ntaken_cap - 1, h = str_hash(name) & mask;
    for (; p->taken[h]; h = (h + 1) & mask)
        if (strcmp(p->taken[h], name) == 0)
            return false;
    p->taken[h] = name;
    return true;
}

/* g's lanes from its stride and offset: lane k is lane at[k] of chunk in[k]. */
static void strided_lanes(Strided *g, int w) {
    for (int k = 0; k < w; k++) {
        int d = g->off + g->stride * k;
        g->in[k] = d / w, g->at[k] = d % w;
    }
    g->nchunk = g->in[w - 1] + 1;
}

bool plan_strided(const Plan *p, const Pack *v, Strided *g) {
    const Node *n0 = &p->s->node[v->node[0]];
    int w = p->pk->width, stride = v->lanes > 1 ? p->s->node[v->node[1]].index - n0->index : 0;
    if ((n0->op != OP_INPUT && n0->op != OP_TARGET) || v->lanes != w || w < 4 || stride < 2 || stride > LIMIT_LANES)
        return false; /* full packs only: a partial one's last chunk could read past the batch */
    for (int k = 0; k < v->lanes; k++)
        if (p->s->node[v->node[k]].op != n0->op || p->s->node[v->node[k]].index != n0->index + stride * k)
            return false;
    g->origin = n0->index - n0->index % stride;
    g->stride = stride, g->off = n0->index % stride;
    strided_lanes(g, w);
    return true;
}

/* The partner feature's strided pack (off ^ 1), if it loads the same chunks. */
static bool partner(const Strided *g, int w, Strided *q) {
    *q = *g;
    q->off = g->off ^ 1;
    if (q->off >= g->stride)
        return false;
    strided_lanes(q, w);
    return q->nchunk == g->nchunk;
}

bool plan_chunks(Chunks *c, const Strided *g, bool t, int width, int *slot, bool *fresh) {
    if (c->n + g->nchunk > (int)(sizeof c->at / sizeof *c->at))
        return false;
    for (int k = 0; k < g->nchunk; k++) {
        int at = g->origin + k * width, j = 0;
        while (j < c->n && (c->t[j] != t || c->at[j] != at))
            j++;
        fresh[k] = j == c->n;
        if (fresh[k])
            c->t[j] = t, c->at[j] = at, c->n++;
        slot[k] = j;
    }
    return true;
}

/* Chunks [lo, hi) of g merged into out (from step *n on); pos[k] is where
 * lane k ends, for g's lanes in those chunks.  Returns the operand. */
static int merge(const Strided *g, const Strided *q, int w, int lo, int hi, int *pos, Shuffle *out, int *n) {
    if (hi - lo == 1) {
        for (int k = 0; k < w; k++)
            if (g->in[k] == lo)
                pos[k] = g->at[k];
        return -1 - lo;
    }
    Shuffle sh = {.a = -1 - lo, .b = -2 - lo};
    for (int k = 0; k < w; k++)
        sh.idx[k] = -1;
    if (hi - lo == 2 && q) { /* shared: the lower feature at k, the other at k + w/2 */
        bool ok = true;
        for (int f = 0; f < 2 && ok; f++) {
            const Strided *h = (f == 0) == (g->off < q->off) ? g : q;
            for (int k = 0; k < w && ok; k++)
                if (h->in[k] == lo || h->in[k] == lo + 1) {
                    int at = (k + f * w / 2) % w;
                    ok = sh.idx[at] < 0;
                    sh.idx[at] = (h->in[k] == lo ? 0 : w) + h->at[k];
                }
        }
        if (ok) {
            for (int k = 0; k < w; k++)
                if (g->in[k] == lo || g->in[k] == lo + 1)
                    pos[k] = (k + (g->off < q->off ? 0 : w / 2)) % w;
            out[*n] = sh;
            return (*n)++;
        }
        for (int k = 0; k < w; k++)
            sh.idx[k] = -1;
    }
    int mid = lo + (hi - lo) / 2, pa[LIMIT_LANES], pb[LIMIT_LANES];
    sh.a = merge(g, q, w, lo, mid, pa, out, n);
    sh.b = merge(g, q, w, mid, hi, pb, out, n);
    for (int k = 0; k < w; k++) {
        int in = g->in[k];
        sh.idx[k] = in >= lo && in < mid ? pa[k] : in >= mid && in < hi ? w + pb[k] : -1;
        if (in >= lo && in < hi)
            pos[k] = k;
    }
    out[*n] = sh;
    return (*n)++;
}

int plan_shuffles(const Plan *p, const Strided *g, Shuffle *out) {
    int w = p->pk->width, n = 0, pos[LIMIT_LANES];
    Strided q;
    bool shared = partner(g, w, &q);
    int top = merge(g, shared ? &q : NULL, w, 0, g->nchunk, pos, out, &n);
    bool in_place = top >= 0;
    for (int k = 0; k < w && in_place; k++)
        in_place = pos[k] == k;
    if (!in_place) { /* one chunk, or a shared merge at the top: move the lanes */
        Shuffle sh = {.a = top, .b = top};
        for (int k = 0; k < w; k++)
            sh.idx[k] = pos[k];
        out[n++] = sh;
    }
    return n;
}

const char *plan_fresh(Plan *p, const char *base) {
    const char *name = base;
    for (int suffix = 2; !take_name(p, name); suffix++)
        name = intern(format("%s__%d", base, suffix));
    return name;
}

/* ---- names: every local's name is chosen here (the templates are in names.c) ----
 *
 * A named node's local is its name as a C identifier (hidden_z_0,
 * d_hidden_weight_2_4); a vector's says which elements it holds
 * (hidden_weight_col1: column 1 of the weight, its rows in the lanes;
 * hidden_z: the whole of a small tensor; d_hidden_z_16to31); anything else
 * is a temporary, tmp1, tmp2, ... numbered in reading order by
 * plan_name_temps once the kernel's program is built, one numbering per
 * file, so that a value keeps its name in every kernel. */

/* Gives node id a unique local name in this kernel, or leaves it to
 * plan_name_temps (NULL). */
static void name_var(Plan *p, int id) {
    const char *name = p->s->node[id].name;
    p->var[id] = name ? plan_fresh(p, name_c_ident(name)) : NULL;
}

/* The elements pack v holds, if its lanes are consecutive elements of one
 * named tensor along a row or a column; else NULL (a temporary). */
static const char *vector_name(const Plan *p, const Pack *v) {
    const Node *n0 = &p->s->node[v->node[0]];
    if (!n0->ebase)
        return NULL;
    bool down = v->lanes > 1 && n0->erow >= 0, across = true; /* lanes along a column / a row */
    for (int k = 1; k < v->lanes; k++) {
        const Node *n = &p->s->node[v->node[k]];
        if (n->ebase != n0->ebase)
            return NULL;
        down &= n->ecol == n0->ecol && n->erow == n0->erow + k;
        across &= n->erow == n0->erow && n->ecol == n0->ecol + k;
    }
    const Node *nl = &p->s->node[v->node[v->lanes - 1]];
    if (down)
        return name_vector(n0->ebase, true, n0->erow, n0->ecol, nl->erow, n0->erow == 0 && v->lanes == n0->erows);
    if (!across)
        return NULL;
    return name_vector(n0->ebase, false, n0->erow, n0->ecol, nl->ecol, n0->ecol == 0 && v->lanes == n0->ecols);
}

/* A temporary's number: the one it has in an earlier kernel of the file,
 * or the next. */
static int temp_number(TempNames *t, int *of, int i) {
    if (!of[i])
        of[i] = ++t->n;
    return of[i];
}

void plan_name_temps(Plan *p, TempNames *t, const int *order, int n) {
    for (int i = 0; i < n; i++) {
        int id = order[i];
        if (id >= 0 && p->is_var[id] && !p->var[id])
            p->var[id] = plan_fresh(p, name_temp(temp_number(t, t->node, id)));
        int v = id < 0 ? -1 - id : -1;
        if (v >= 0 && p->pack_live[v] && !p->pack_var[v])
            p->pack_var[v] = plan_fresh(p, name_temp(temp_number(t, t->pack, v)));
    }
    for (int id = 0; id < p->s->n; id++) /* defined nowhere in the program: never printed, but named */
        if (p->is_var[id] && !p->var[id])
            p->var[id] = plan_fresh(p, name_temp(temp_number(t, t->node, id)));
    for (int v = 0; v < p->pk->npack; v++)
        if (p->pack_live[v] && !p->pack_var[v])
            p->pack_var[v] = plan_fresh(p, name_temp(temp_number(t, t->pack, v)));
}

bool plan_leaf_op(Op op) {
    return op == OP_PARAM || op == OP_STATE || op == OP_INPUT || op == OP_TARGET || op == OP_CARRY ||
           op == OP_GRADIENT;
}

int plan_pack(const Plan *p, int id) {
    int v = p->pk->pack_of[id];
    return v >= 0 && p->pack_live[v] ? v : -1;
}

int plan_operand_pack(const Plan *p, const Pack *v, int a) {
    int first = p->s->node[v->node[0]].arg[a], w = plan_pack(p, first);
    if (w < 0 || p->pk->pack[w].lanes != v->lanes)
        return -1;
    for (int i = 0; i < v->lanes; i++)
        if (p->pk->pack[w].node[i] != p->s->node[v->node[i]].arg[a])
            return -1;
    return w;
}

/* Which packs this kernel computes as vectors (those whose lanes are all
 * live), and the scalars their gathers and splats read more than once. */
static void plan_vectors(Plan *p) {
    const Packing *pk = p->pk;
    for (int v = 0; v < pk->npack; v++) {
        const Pack *pv = &pk->pack[v];
        bool live = true;
        for (int i = 0; i < pv->lanes; i++)
            live &= p->live[pv->node[i]];
        p->pack_live[v] = live;
    }
    for (int v = 0; v < pk->npack; v++) {
        const Pack *pv = &pk->pack[v];
        if (!p->pack_live[v] || plan_leaf_op(p->s->node[pv->node[0]].op))
            continue;
        for (int a = 0; a < 3 && p->s->node[pv->node[0]].arg[a] >= 0; a++)
            if (plan_operand_pack(p, pv, a) < 0)
                for (int i = 0; i < pv->lanes; i++) /* a splat repeats it: hold it in a local */
                    p->uses[p->s->node[pv->node[i]].arg[a]] += 2;
    }
}

bool plan_has_root(const Plan *p, const Root *r) {
    switch (p->k) {
    case K_FORWARD: return r->kind == ROOT_OUTPUT && r->index < model_outputs(p->m);
    case K_GRAD: return r->kind == ROOT_LOSS || r->kind == ROOT_GRAD;
    case K_STEP:
        return r->kind == ROOT_LOSS || r->kind == ROOT_UPDATE || r->kind == ROOT_STATE;
    case K_TRAIN:
        return r->kind == ROOT_LOSS || r->kind == ROOT_UPDATE || r->kind == ROOT_STATE ||
               r->kind == ROOT_CARRY;
    case K_APPLY: return r->kind == ROOT_UPDATE || r->kind == ROOT_STATE;
    }
    return false;
}

bool plan_carried(Op op) { return op == OP_PARAM || op == OP_STATE || op == OP_CARRY; }

Op plan_root_leaf(RootKind k) {
    return k == ROOT_UPDATE ? OP_PARAM : k == ROOT_STATE ? OP_STATE : k == ROOT_CARRY ? OP_CARRY : OP_COUNT;
}

bool plan_loop_invariant(const Node *n) {
    return n->op == OP_HYPER && (n->slot == HY_LR || n->slot == HY_DECAY);
}

bool plan_frozen(const Plan *p, const Node *n) {
    return n->op == OP_PARAM && !p->m->params[n->slot].trainable;
}

bool plan_stored(const Plan *p, const Node *n) {
    return (n->op == OP_PARAM || n->op == OP_STATE) && !plan_frozen(p, n);
}

static bool is_leaf(Op op) { return ir_is_leaf(op) && op != OP_HYPER; }

/* Where element k of a parameter, state or carried value is in leaf_of. */
static int leaf_pos(const Plan *p, Op op, int slot, int k) {
    int states = p->param_base[p->m->nparams];
    return k + (op == OP_PARAM   ? p->param_base[slot]
                : op == OP_STATE ? states + p->state_base[slot]
                                 : states + p->state_base[p->m->nstates]);
}

int plan_leaf(const Plan *p, Op op, int slot, int k) { return p->leaf_of[leaf_pos(p, op, slot, k)]; }

void plan_init(Plan *p, const Model *m, const Graph *s, const Packing *pk) {
    memset(p, 0, sizeof *p);
    p->m = m;
    p->s = s;
    p->pk = pk;
    p->pack_live = xcalloc((size_t)pk->npack + 1, sizeof(bool));
    p->pack_var = xcalloc((size_t)pk->npack + 1, sizeof(char *));
    p->live = xmalloc(sizeof(bool) * (size_t)s->n);
    p->uses = xmalloc(sizeof(int) * (size_t)s->n);
    p->is_var = xmalloc(sizeof(bool) * (size_t)s->n);
    p->var = xcalloc((size_t)s->n, sizeof(char *));
    for (p->ntaken_cap = 64; p->ntaken_cap < 2 * s->n + 32;)
        p->ntaken_cap *= 2;
    p->taken = xmalloc(sizeof(char *) * (size_t)p->ntaken_cap);
    p->param_base = xmalloc(sizeof(int) * (size_t)(m->nparams + 1));
    p->state_base = xmalloc(sizeof(int) * (size_t)(m->nstates + 1));
    p->param_base[0] = p->state_base[0] = 0;
    for (int i = 0; i < m->nparams; i++)
        p->param_base[i + 1] = p->param_base[i] + m->params[i].size;
    for (int i = 0; i < m->nstates; i++)
        p->state_base[i + 1] = p->state_base[i] + m->params[m->states[i].param].size;
    size_t nleaf = (size_t)(p->param_base[m->nparams] + p->state_base[m->nstates] +
                            m->batch * m->layers[0].out + 1);
    p->leaf_of = xmalloc(sizeof(int) * nleaf);
    memset(p->leaf_of, -1, sizeof(int) * nleaf);
    for (int i = 0; i < s->n; i++)
        if (plan_carried(s->node[i].op))
            p->leaf_of[leaf_pos(p, s->node[i].op, s->node[i].slot, s->node[i].index)] = i;
}

void plan_kernel(Plan *p, Kernel k) {
    const Graph *s = p->s;
    p->k = k;
    memset(p->live, 0, sizeof(bool) * (size_t)s->n);
    memset(p->uses, 0, sizeof(int) * (size_t)s->n);
    memset(p->is_var, 0, sizeof(bool) * (size_t)s->n);
    for (int r = 0; r < s->nroot; r++)
        if (plan_has_root(p, &s->root[r])) {
            p->live[s->root[r].node] = true;
            p->uses[s->root[r].node] += 2; /* a root's value is always held in a local */
        }
    for (int i = s->n - 1; i >= 0; i--) {
        if (!p->live[i])
            continue;
        const Node *n = &s->node[i];
        for (int a = 0; a < 3; a++)
            if (n->arg[a] >= 0) {
                p->live[n->arg[a]] = true;
                p->uses[n->arg[a]] += n->op == OP_MAX ? 2 : 1; /* max reads operands twice */
            }
    }
    plan_vectors(p);
    memset(p->taken, 0, sizeof(char *) * (size_t)p->ntaken_cap);
    static const char *const reserved[] = {"p", "o", "x", "t", "g", "y", "n", "s", "steps", "total"};
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        take_name(p, reserved[i]);
    for (int i = 0; i < s->n; i++) {
        const Node *n = &s->node[i];
        if (!p->live[i])
            continue;
        bool leafy = is_leaf(n->op);
        if (k == K_TRAIN && plan_carried(n->op))
            leafy = false; /* parameters and state live in locals across the loop */
        if (plan_pack(p, i) >= 0)
            continue; /* a lane of a vector local */
        if (n->type.dt == DT_BOOL && p->pk->npack)
            continue; /* a scalar compare: printed inside each select (emit_c) */
        if (!leafy && (n->name || p->uses[i] > 1)) {
            p->is_var[i] = true;
            name_var(p, i);
        }
    }
    for (int v = 0; v < p->pk->npack; v++)
        if (p->pack_live[v]) {
            const char *name = vector_name(p, &p->pk->pack[v]);
            p->pack_var[v] = name ? plan_fresh(p, name) : NULL;
        }
}

void plan_free(Plan *p) {
    free(p->pack_live);
    free(p->pack_var);
    free(p->live);
    free(p->uses);
    free(p->is_var);
    free(p->var);
    free(p->taken);
    free(p->param_base);
    free(p->state_base);
    free(p->leaf_of);
}
