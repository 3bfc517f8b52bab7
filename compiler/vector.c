/* vector.c: SIMD lanes for the scalar schedule (superword-level packing).
 *
 * A pack is a list of scalar nodes, one per lane, that do the same operation
 * on corresponding operands: the units of a layer for one sample.  Packs are
 * grown bottom-up from seeds, as LLVM's SLP vectorizer does: the seeds are
 * the parameters' updated values (and gradients, and outputs), a weight
 * matrix by columns so that its lanes are the layer's output units.  For
 * each operand position of a pack, the operands across lanes are
 *   - one node: a splat, no pack;
 *   - distinct leaves (parameters, state, inputs): a leaf pack, loaded once
 *     (NAME_train keeps it in a vector register across its loop);
 *   - the same operation again: packed in turn;
 *   - anything else: gathered from scalars when emitted.
 * Sums of a layer's products into one scalar (the dot product of a single
 * output unit) have no root per lane: their terms seed packs too, so the
 * products are one vector and the sum adds its lanes.
 * With a batch's samples in the lanes (--reassociate), the sums over the
 * samples are packed first: their terms, their chains over groups of
 * samples (grow_up), and then the tails that add a vector's lanes by
 * halves, several sums to a vector (pack_tails).
 * Packing changes no arithmetic: every lane computes what its scalar node
 * computes, in the same order, so results stay bit for bit the same.
 */
#include "netc.h"

#include <stdlib.h>
#include <string.h>

static bool packable_op(Op op) { return op_info[op].lanes; } /* ops.h */

static bool leaf_op(Op op) { return plan_leaf_op(op); }

/* Whether nodes[0..n) are distinct, unpacked, and all of one op. */
static bool uniform(const Graph *s, const Packing *pk, const int *nodes, int n) {
    for (int i = 0; i < n; i++) {
        if (pk->pack_of[nodes[i]] >= 0 || s->node[nodes[i]].op != s->node[nodes[0]].op)
            return false;
        for (int j = 0; j < i; j++)
            if (nodes[j] == nodes[i])
                return false;
    }
    return true;
}

static int add_pack(Packing *pk, const int *nodes, int n) {
    if (pk->npack == pk->cap) {
        pk->cap = pk->cap ? 2 * pk->cap : 64;
        pk->pack = xrealloc(pk->pack, sizeof(Pack) * (size_t)pk->cap);
    }
    Pack *p = &pk->pack[pk->npack];
    p->lanes = n;
    p->last = nodes[0];
    for (int i = 0; i < n; i++) {
        p->last = nodes[i] > p->last ? nodes[i] : p->last;
        p->node[i] = nodes[i];
        pk->pack_of[nodes[i]] = pk->npack;
        pk->lane_of[nodes[i]] = i;
    }
    return pk->npack++;
}

/* Packs nodes[0..n) and, recursively, their operands. */
static void grow(const Graph *s, Packing *pk, const int *nodes, int n) {
    if (n < 2 || !uniform(s, pk, nodes, n))
        return;
    Op op = s->node[nodes[0]].op;
    if (leaf_op(op)) {
        add_pack(pk, nodes, n);
        return;
    }
    if (!packable_op(op))
        return;
    add_pack(pk, nodes, n);
    for (int a = 0; a < 3 && s->node[nodes[0]].arg[a] >= 0; a++) {
        int ops[LIMIT_LANES];
        for (int i = 0; i < n; i++)
            ops[i] = s->node[nodes[i]].arg[a];
        grow(s, pk, ops, n);
    }
}

/* Seeds the lanes of one tensor root group: a weight [R, C] by columns when
 * R > 1 (lanes = output units), else by its row; vectors by chunks. */
static void seed_tensor(const Graph *s, Packing *pk, const int *elem, int rows, int cols) {
    int lanes[LIMIT_LANES];
    if (rows > 1) {
        for (int c = 0; c < cols; c++)
            for (int r0 = 0; r0 < rows; r0 += pk->width) {
                int n = 0;
                for (int r = r0; r < rows && n < pk->width; r++)
                    lanes[n++] = elem[r * cols + c];
                grow(s, pk, lanes, n);
            }
    } else {
        for (int c0 = 0; c0 < cols; c0 += pk->width) {
            int n = 0;
            for (int c = c0; c < cols && n < pk->width; c++)
                lanes[n++] = elem[c];
            grow(s, pk, lanes, n);
        }
    }
}

/* The terms of the addition cluster under node i: operands through
 * additions used only by the cluster. */
static void cluster_terms(const Graph *s, const int *uses, int i, int *t, int *n, int cap) {
    const Node *nd = &s->node[i];
    for (int a = 0; a < 2; a++) {
        int j = nd->arg[a];
        if (s->node[j].op == OP_ADD && uses[j] == 1)
            cluster_terms(s, uses, j, t, n, cap);
        else if (*n < cap)
            t[(*n)++] = j;
    }
}

/* Seeds from the terms of every sum: runs of terms of one packable op. */
static int by_id(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* Seeds from the terms of every sum: runs of terms of one packable op, in
 * graph order (a batch's terms are then its samples in order).  Sums last
 * in the graph first when `last_first`: a batch's gradients, whose terms
 * are one per sample. */
static void seed_sums(const Graph *s, Packing *pk, bool last_first) {
    int *uses = xcalloc((size_t)s->n + 1, sizeof(int));
    for (int i = 0; i < s->n; i++)
        for (int a = 0; a < 3; a++)
            if (s->node[i].arg[a] >= 0)
                uses[s->node[i].arg[a]]++;
    for (int r = 0; r < s->nroot; r++)
        uses[s->root[r].node] += 2;
    int *terms = xmalloc(sizeof(int) * (size_t)(s->n + 1)), *run = xmalloc(sizeof(int) * (size_t)(s->n + 1));
    for (int k = 0; k < s->n; k++) {
        int i = last_first ? s->n - 1 - k : k;
        if (s->node[i].op != OP_ADD || pk->pack_of[i] >= 0 || uses[i] == 1)
            continue; /* a packed sum, or part of a larger cluster */
        int n = 0;
        cluster_terms(s, uses, i, terms, &n, s->n);
        for (Op op = 0; op < OP_COUNT; op++) {
            int k = 0;
            for (int j = 0; j < n; j++)
                if (s->node[terms[j]].op == op && packable_op(op) && pk->pack_of[terms[j]] < 0)
                    run[k++] = terms[j];
            qsort(run, (size_t)k, sizeof *run, by_id);
            for (int j = 0; j < k; j += pk->width)
                grow(s, pk, run + j, k - j < pk->width ? k - j : pk->width);
        }
    }
    free(terms);
    free(run);
    free(uses);
}

/* Each node's users, by operand (CSR): user[first[i] .. first[i + 1]). */
typedef struct Users {
    int *first, *user;
} Users;

static Users users(const Graph *s) {
    Users us = {xcalloc((size_t)s->n + 2, sizeof(int)), NULL};
    for (int i = 0; i < s->n; i++)
        for (int a = 0; a < 3; a++)
            if (s->node[i].arg[a] >= 0)
                us.first[s->node[i].arg[a] + 1]++;
    for (int i = 0; i < s->n; i++)
        us.first[i + 1] += us.first[i];
    us.user = xmalloc(sizeof(int) * (size_t)(us.first[s->n] + 1));
    int *fill = xmalloc(sizeof(int) * (size_t)(s->n + 1));
    memcpy(fill, us.first, sizeof(int) * (size_t)(s->n + 1));
    for (int i = 0; i < s->n; i++)
        for (int a = 0; a < 3; a++)
            if (s->node[i].arg[a] >= 0)
                us.user[fill[s->node[i].arg[a]]++] = i;
    free(fill);
    return us;
}

/* Operand b of lanes[0..n) into leaves; whether it is a new leaf pack to
 * make (unpacked, and not one node for every lane). */
static bool leaf_operand(const Graph *s, const Packing *pk, const int *lanes, int n, int b, int *leaves) {
    for (int k = 0; k < n; k++)
        leaves[k] = s->node[lanes[k]].arg[b];
    return leaves[1] != leaves[0] && pk->pack_of[leaves[0]] < 0;
}

/* Packs upward: for each pack, the users of its first lanes that do one op
 * with the lane in one operand position, and whose other operands are one
 * node or lanes of one pack; repeated over the new packs.  This packs the
 * chains and levels of a batch's sums (reassoc.c) whose terms seed_sums
 * packed: t[k] + t[k + 8] of a 16-lane vector is an 8-lane vector whose
 * second operand is the upper half (a shuffle); `full_only` keeps to packs
 * as wide as the one they grow from.  With `new_leaves`, another operand
 * may also be a distinct leaf per lane, which becomes a leaf pack: the
 * parameters of an update that grows from the gradients' tails, so that
 * they are held in the tails' lane order. */
static void grow_up(const Graph *s, Packing *pk, const Users *us, bool full_only, bool new_leaves) {
    const int *first = us->first, *user = us->user;
    for (int v = 0; v < pk->npack; v++) {
        const Pack p = pk->pack[v];
        for (int e = first[p.node[0]]; e < first[p.node[0] + 1]; e++) {
            int u0 = user[e], a = 0;
            const Node *n0 = &s->node[u0];
            if (pk->pack_of[u0] >= 0 || !packable_op(n0->op))
                continue;
            while (n0->arg[a] != p.node[0])
                a++;
            int lanes[LIMIT_LANES] = {u0}, n = 1;
            for (int k = 1; k < p.lanes && n == k; k++) {
                lanes[k] = -1;
                for (int f = first[p.node[k]]; f < first[p.node[k] + 1] && lanes[k] < 0; f++) {
                    const Node *nk = &s->node[user[f]];
                    bool fits = nk->op == n0->op && nk->arg[a] == p.node[k] && pk->pack_of[user[f]] < 0;
                    for (int b = 0; b < 3 && fits; b++) {
                        int o0 = n0->arg[b], ok_ = nk->arg[b];
                        if (b == a || o0 < 0 || o0 == ok_)
                            continue;
                        fits = (pk->pack_of[o0] >= 0 && pk->pack_of[ok_] == pk->pack_of[o0]) ||
                               (new_leaves && leaf_op(s->node[o0].op) && s->node[ok_].op == s->node[o0].op &&
                                pk->pack_of[o0] < 0 && pk->pack_of[ok_] < 0);
                    }
                    for (int j = 0; j < k && fits; j++)
                        fits = lanes[j] != user[f];
                    if (fits)
                        lanes[k] = user[f];
                }
                n += lanes[k] >= 0;
            }
            if (n < 2 || (full_only && n != p.lanes))
                continue;
            int leaves[LIMIT_LANES];
            bool distinct = true; /* a leaf repeated across lanes cannot be a leaf pack */
            for (int b = 0; b < 3 && n0->arg[b] >= 0; b++)
                if (b != a && leaf_operand(s, pk, lanes, n, b, leaves))
                    distinct &= uniform(s, pk, leaves, n);
            if (!distinct)
                continue;
            for (int b = 0; b < 3 && n0->arg[b] >= 0; b++)
                if (b != a && leaf_operand(s, pk, lanes, n, b, leaves))
                    add_pack(pk, leaves, n);
            add_pack(pk, lanes, n);
        }
    }
}

/* The additions nodes[k] + nodes[k + n/2], k < n/2, into out (one halving
 * level of a sum, reassoc.c's tree); false unless each exists, unpacked. */
static bool halve(const Graph *s, const Packing *pk, const Users *us, const int *nodes, int n, int *out) {
    if (n < 2 || n % 2)
        return false;
    for (int k = 0; k < n / 2; k++) {
        out[k] = -1;
        for (int e = us->first[nodes[k]]; e < us->first[nodes[k] + 1] && out[k] < 0; e++) {
            const Node *u = &s->node[us->user[e]];
            int a = u->arg[0], b = u->arg[1];
            if (u->op == OP_ADD && pk->pack_of[us->user[e]] < 0 &&
                ((a == nodes[k] && b == nodes[k + n / 2]) || (b == nodes[k] && a == nodes[k + n / 2])))
                out[k] = us->user[e];
        }
        if (out[k] < 0)
            return false;
    }
    return true;
}

/* The tails of a batch's sums, packed across sums.  A sum over samples ends
 * in a vector of partial sums whose lanes are added by halves (8, 4, 2, 1
 * of 16 lanes); packed alone each level is a shuffle and an add for a
 * vector that is half empty, and then a quarter, and so on.  Here the level
 * of W / L sums, L lanes each, fills one vector instead: its operands are
 * lanes of two vectors of the level above (two-vector shuffles), so every
 * level of 16 sums costs 2 shuffles and an add per vector, the transposed
 * reduction of a matrix of partial sums.  Sums are grouped in pack order. */
static void pack_tails(const Graph *s, Packing *pk, const Users *us) {
    int w = pk->width, nlev = 0, ntail = 0, cap = 0;
    while ((1 << nlev) < w)
        nlev++;
    int(*lv)[LIMIT_LANES] = NULL; /* tail t's level j at lv[t * nlev + j - 1] */
    for (int v = 0; v < pk->npack; v++) {
        if (pk->pack[v].lanes != w)
            continue;
        if (ntail == cap) {
            cap = cap ? 2 * cap : 16;
            lv = xrealloc(lv, sizeof *lv * (size_t)(cap * nlev));
        }
        const int *up = pk->pack[v].node;
        int j = 1;
        for (; j <= nlev && halve(s, pk, us, up, w >> (j - 1), lv[ntail * nlev + j - 1]); j++)
            up = lv[ntail * nlev + j - 1];
        ntail += j > nlev; /* whole tails only */
    }
    /* A level's vector is computed at its latest lane (drop_late_packs), so
     * a sum used before another's tail ends (the loss) stays out of the
     * groups, until every grouped sum's first use follows every grouped
     * tail's end. */
    int kept = ntail;
    for (bool changed = true; changed && kept > 1;) {
        int end = -1;
        for (int t = 0; t < ntail; t++)
            for (int j = 1; j <= nlev && lv[t * nlev][0] >= 0; j++)
                for (int k = 0; k < w >> j; k++)
                    end = lv[t * nlev + j - 1][k] > end ? lv[t * nlev + j - 1][k] : end;
        changed = false;
        for (int t = 0; t < ntail; t++) {
            int sum = lv[t * nlev + nlev - 1][0];
            if (lv[t * nlev][0] < 0)
                continue;
            for (int e = us->first[sum]; e < us->first[sum + 1]; e++)
                if (us->user[e] < end) {
                    lv[t * nlev][0] = -1; /* dropped from the groups */
                    changed = true;
                    kept--;
                    break;
                }
        }
    }
    int grouped = 0;
    for (int t = 0; t < ntail; t++)
        if (lv[t * nlev][0] >= 0 && grouped++ != t)
            memcpy(lv + (grouped - 1) * nlev, lv + t * nlev, sizeof *lv * (size_t)nlev);
    ntail = grouped;
    for (int j = 1; j <= nlev && ntail > 1; j++) {
        int l = w >> j, group = w / l;
        for (int t0 = 0; t0 < ntail; t0 += group) {
            int lanes[LIMIT_LANES], n = 0;
            for (int t = t0; t < t0 + group && t < ntail; t++)
                for (int k = 0; k < l; k++)
                    lanes[n++] = lv[t * nlev + j - 1][k];
            if (n >= 2)
                add_pack(pk, lanes, n);
        }
    }
    free(lv);
}

/* Drops every pack that would be computed after a use of one of its lanes,
 * renumbering the rest.  A vector is computed at its latest lane, and a
 * user that is a lane itself at its own pack's latest lane; lanes seeded
 * from sums need not be in graph order; a leaf pack is loaded before the
 * kernel's body and is never late; a pack one of whose lanes is an operand
 * of another (two levels of one sum tree) always is.  Dropping a pack moves its lanes
 * earlier, which can invalidate their operands' packs: repeat until none
 * is dropped. */
static void drop_late_packs(const Graph *s, Packing *pk) {
    int *at = xmalloc(sizeof(int) * (size_t)(s->n + 1));       /* where each node is computed */
    int *use = xmalloc(sizeof(int) * (size_t)(pk->npack + 1)); /* each pack's earliest user */
    for (bool dropped = true; dropped;) {
        dropped = false;
        for (int i = 0; i < s->n; i++) /* leaf packs are loaded before the body */
            at[i] = pk->pack_of[i] < 0 ? i : leaf_op(s->node[i].op) ? -1 : pk->pack[pk->pack_of[i]].last;
        for (int v = 0; v < pk->npack; v++)
            use[v] = s->n;
        for (int i = 0; i < s->n; i++)
            for (int a = 0; a < 3; a++) {
                int o = s->node[i].arg[a], v = o >= 0 ? pk->pack_of[o] : -1;
                if (v >= 0 && v == pk->pack_of[i])
                    use[v] = -1; /* a lane reads another lane of its own vector: never valid */
                else if (v >= 0 && at[i] < use[v])
                    use[v] = at[i];
            }
        int kept = 0;
        for (int v = 0; v < pk->npack; v++) {
            Pack p = pk->pack[v];
            bool ok = use[v] > p.last || leaf_op(s->node[p.node[0]].op);
            for (int i = 0; i < p.lanes; i++) {
                pk->pack_of[p.node[i]] = ok ? kept : -1;
                pk->lane_of[p.node[i]] = ok ? i : -1;
            }
            if (ok)
                pk->pack[kept++] = p;
            dropped |= !ok;
        }
        pk->npack = kept;
    }
    free(at);
    free(use);
}

void vector_pack(const Graph *s, const Model *m, int width, bool samples, Packing *pk) {
    memset(pk, 0, sizeof *pk);
    pk->width = width;
    pk->pack_of = xmalloc(sizeof(int) * (size_t)(s->n + 1));
    pk->lane_of = xmalloc(sizeof(int) * (size_t)(s->n + 1));
    for (int i = 0; i < s->n; i++)
        pk->pack_of[i] = pk->lane_of[i] = -1;
    if (width < 2)
        return;
    pk->samples = samples;
    if (samples) { /* the batch's samples in the lanes, before the roots' units */
        seed_sums(s, pk, true);
        Users us = users(s);
        grow_up(s, pk, &us, true, false); /* the sums' chains over groups of samples */
        pack_tails(s, pk, &us);
        grow_up(s, pk, &us, false, true); /* and on: the updates, in the tails' lanes */
        free(us.first);
        free(us.user);
    }
    static const RootKind order[] = {ROOT_UPDATE, ROOT_STATE, ROOT_CARRY, ROOT_GRAD, ROOT_OUTPUT};
    int *elem = xmalloc(sizeof(int) * (size_t)(s->nroot + 1));
    for (size_t o = 0; o < sizeof order / sizeof *order; o++)
        for (int r = 0; r < s->nroot;) {
            const Root *root = &s->root[r];
            if (root->kind != order[o]) {
                r++;
                continue;
            }
            int n = 0;
            while (r + n < s->nroot && s->root[r + n].kind == root->kind && s->root[r + n].slot == root->slot)
                elem[n] = s->root[r + n].node, n++;
            int rows = 1, cols = n;
            if (root->kind == ROOT_OUTPUT || root->kind == ROOT_CARRY) {
                cols = root->kind == ROOT_OUTPUT ? model_outputs(m) : m->layers[0].out;
                rows = n / cols;
                for (int b = 0; b < rows; b++) /* each sample's outputs */
                    seed_tensor(s, pk, elem + b * cols, 1, cols);
            } else {
                const Param *p = &m->params[root->kind == ROOT_STATE ? m->states[root->slot].param : root->slot];
                if (p->cols)
                    rows = p->rows, cols = p->cols;
                seed_tensor(s, pk, elem, rows, cols);
            }
            r += n;
        }
    free(elem);
    seed_sums(s, pk, false);
    drop_late_packs(s, pk);
}

void packing_free(Packing *pk) {
    free(pk->pack);
    free(pk->pack_of);
    free(pk->lane_of);
    memset(pk, 0, sizeof *pk);
}
