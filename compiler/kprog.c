/* kprog.c: each kernel as one linear program, built once, verified, printed.
 *
 * plan.c decides what a kernel computes and what its values are called; this
 * file decides the rest of its schedule, once for both backends: which leaf
 * vectors are loaded and how (whole rows shuffled, or lane by lane), where
 * each local and vector is defined, how a vector operation reads each
 * operand (a packed vector, lanes of two vectors moved, a splat, a splat
 * from memory, a compare of splats, a gather), which roots are stored and
 * where (memory, a carried local, a lane of a carried vector, or a carried
 * vector whole), and NAME_train's skeleton: its carried locals, the first
 * batch's carried pre-activation, the loop-invariant hyperparameters hoisted
 * out of the loop, the loop, the write-back after it.  emit_c.c and
 * emit_llvm.c render the statements in order and decide nothing.
 *
 * kprog_verify checks a program after it is built: every local, vector and
 * chunk defined before it is read and in scope (a step's values do not
 * outlive its iteration), every lane of a vector computing exactly its scalar
 * node, every root the kernel writes stored exactly once.  A test-only hook,
 * the environment variable NETC_BREAK_KPROG=K:I, corrupts statement I of
 * kernel K (the defining statement moves to the end) before verifying, so
 * that a test can watch the verifier reject it.
 */
#include "netc.h"

#include <stdlib.h>
#include <string.h>

const char *const kernel_name[5] = {"forward", "grad", "step", "train", "apply"};

const char *const ks_name[KS_COUNT] = {
    [KS_BODY] = "body",         [KS_NOTE] = "note",           [KS_CHUNK] = "chunk",
    [KS_VLOAD] = "vload",       [KS_VSTRIDED] = "vstrided",   [KS_VDEF] = "vdef",
    [KS_DEF] = "def",           [KS_BODY_END] = "body-end",   [KS_CARRY] = "carry",
    [KS_VCARRY] = "vcarry",     [KS_PROLOGUE] = "prologue",   [KS_FIRST] = "first",
    [KS_PROLOGUE_END] = "prologue-end", [KS_HOIST] = "hoist", [KS_LOOP] = "loop",
    [KS_SPLATS] = "splats",     [KS_VASSIGN] = "vassign",     [KS_STORE] = "store",
    [KS_STEPS] = "steps",       [KS_LOSS] = "loss",           [KS_LOOP_END] = "loop-end",
    [KS_WRITEBACK] = "writeback", [KS_RETURN] = "return",
};

static KStmt *add(KProg *kp, KsKind kind) {
    if (kp->n == kp->cap) {
        kp->cap = kp->cap ? 2 * kp->cap : 64;
        kp->st = xrealloc(kp->st, sizeof(KStmt) * (size_t)kp->cap);
    }
    KStmt *st = &kp->st[kp->n++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    st->node = st->pack = st->from = st->root = st->chunk = -1;
    return st;
}

/* ---- building ---- */

typedef struct Build {
    KProg *kp;
    Plan *pl;
    const Graph *s;
    const Model *m;
    Chunks chunks; /* this body's whole-vector loads */
} Build;

/* Operand a of pack v: how the vector operation reads it. */
static Vop operand(Build *b, const Pack *v, int a) {
    const Plan *pl = b->pl;
    const Packing *pk = pl->pk;
    Vop o = {.pack = -1, .pack2 = -1};
    int w = plan_operand_pack(pl, v, a);
    if (w >= 0) {
        o.kind = VOP_PACK, o.pack = w, o.n = v->lanes;
        return o;
    }
    int *ids = o.id;
    for (int i = 0; i < v->lanes; i++)
        ids[i] = b->s->node[v->node[i]].arg[a];
    o.mask = b->s->node[ids[0]].type.dt == DT_BOOL;
    int n = v->lanes;
    if (v->lanes < pk->width && ids[0] == ids[v->lanes - 1]) /* pad a splat with itself */
        for (n = v->lanes; n < pk->width; n++)
            ids[n] = ids[0];
    bool splat = true;
    for (int i = 1; i < v->lanes; i++)
        splat &= ids[i] == ids[0];
    int from[2] = {plan_pack(pl, ids[0]), -1}; /* the lanes' vectors, at most two */
    for (int i = 1; i < v->lanes && from[0] >= 0 && !splat; i++) {
        int q = plan_pack(pl, ids[i]);
        if (q != from[0] && from[1] < 0)
            from[1] = q;
        if (q < 0 || (q != from[0] && q != from[1]))
            from[0] = -1;
    }
    if (pk->samples && !splat && from[0] >= 0) { /* the tails of halving sums: one shuffle */
        o.kind = VOP_SHUFFLE, o.pack = from[0], o.pack2 = from[1] >= 0 ? from[1] : from[0], o.n = v->lanes;
        return o;
    }
    const Node *c = &b->s->node[ids[0]];
    if (splat) {
        for (int i = 0; i < pk->width; i++)
            ids[i] = ids[0];
        o.n = pk->width;
        int q = plan_pack(pl, ids[0]);
        if (o.mask && (c->op == OP_GT || c->op == OP_EQ) && !pl->is_var[ids[0]]) {
            o.kind = VOP_CMP_SPLAT;
            return o;
        }
        o.kind = VOP_SPLAT;
        /* NAME_train with the samples in the lanes: a parameter's splat is read from
         * the memory of the vector it is carried in (a load port, not a shuffle) */
        o.mem = pl->k == K_TRAIN && pk->samples && q >= 0 && plan_carried(b->s->node[pk->pack[q].node[0]].op);
        return o;
    }
    o.kind = VOP_LANES, o.n = n;
    return o;
}

/* Leaf packs this body loads (not NAME_train's carried ones): whole rows
 * shuffled where they are strided (plan_strided), else lane by lane. */
static void leaf_vectors(Build *b) {
    const Plan *pl = b->pl;
    const Packing *pk = pl->pk;
    for (int vi = 0; vi < pk->npack; vi++) {
        const Pack *v = &pk->pack[vi];
        Op op = b->s->node[v->node[0]].op;
        if (!pl->pack_live[vi] || !plan_leaf_op(op) || (pl->k == K_TRAIN && plan_carried(op)))
            continue;
        Strided g;
        bool t = op == OP_TARGET, fresh[LIMIT_LANES];
        int slot[LIMIT_LANES];
        if (plan_strided(pl, v, &g) && plan_chunks(&b->chunks, &g, t, pk->width, slot, fresh)) {
            for (int c = 0; c < g.nchunk; c++)
                if (fresh[c]) {
                    KStmt *st = add(b->kp, KS_CHUNK);
                    st->chunk = slot[c], st->t = t, st->at = b->chunks.at[slot[c]];
                    st->name = plan_fresh(b->pl, name_chunk(t, st->at));
                    if (slot[c] + 1 > b->kp->nchunk)
                        b->kp->nchunk = slot[c] + 1;
                }
            KStmt *st = add(b->kp, KS_VSTRIDED);
            st->pack = vi, st->nchunk = g.nchunk;
            memcpy(st->chunks, slot, sizeof slot);
            st->shuf = xmalloc(sizeof(Shuffle) * 2 * LIMIT_LANES);
            st->nshuf = plan_shuffles(pl, &g, st->shuf);
            continue;
        }
        add(b->kp, KS_VLOAD)->pack = vi;
    }
}

/* The statements of one step: leaf vectors, then every local in graph order
 * under section headings (phase, then layer or loss). */
static void body(Build *b) {
    const Plan *pl = b->pl;
    const Graph *s = b->s;
    add(b->kp, KS_BODY);
    b->chunks.n = 0;
    leaf_vectors(b);
    int phase = -1, layer = -2;
    Loc loc = {0, 0};
    for (int i = 0; i < s->n; i++) {
        const Node *n = &s->node[i];
        int v = plan_pack(pl, i);
        const Pack *pv = v >= 0 ? &pl->pk->pack[v] : NULL;
        bool vector_def = pv && !plan_leaf_op(n->op) && pv->last == i;
        if (pv && !vector_def)
            continue;
        if (!vector_def &&
            (!pl->is_var[i] || (pl->k == K_TRAIN && (plan_carried(n->op) || plan_loop_invariant(n)))))
            continue;
        bool new_phase = (int)n->phase != phase;
        if (new_phase) {
            phase = (int)n->phase;
            layer = -2;
        }
        if (new_phase || n->layer != layer || n->loc.line != loc.line) {
            layer = n->layer;
            loc = n->loc;
            KStmt *st = add(b->kp, KS_NOTE);
            st->node = i, st->phase = new_phase;
        }
        if (vector_def) {
            KStmt *st = add(b->kp, KS_VDEF);
            st->pack = v;
            for (int a = 0; a < 3 && n->arg[a] >= 0; a++)
                st->op[st->nop++] = operand(b, pv, a);
        } else {
            add(b->kp, KS_DEF)->node = i;
        }
    }
    add(b->kp, KS_BODY_END);
}

/* NAME_train's carried vectors that take their next values whole: every
 * lane's root is the same lane of one pack of as many lanes.  Marks those
 * roots done. */
static void whole_vectors(Build *b, bool *done) {
    const Plan *pl = b->pl;
    const Graph *s = b->s;
    int *root_of = xmalloc(sizeof(int) * (size_t)(s->n + 1)); /* carried leaf -> its root */
    for (int i = 0; i < s->n; i++)
        root_of[i] = -1;
    for (int r = 0; r < s->nroot; r++) {
        const Root *root = &s->root[r];
        if (plan_has_root(pl, root) && plan_root_leaf(root->kind) != OP_COUNT) {
            int leaf = plan_leaf(pl, plan_root_leaf(root->kind), root->slot, root->index);
            if (leaf >= 0)
                root_of[leaf] = r;
        }
    }
    for (int vi = 0; vi < pl->pk->npack; vi++) {
        const Pack *v = &pl->pk->pack[vi];
        if (!pl->pack_live[vi] || !plan_carried(s->node[v->node[0]].op))
            continue;
        int u = -1;
        bool whole = true;
        for (int i = 0; i < v->lanes && whole; i++) {
            int r = root_of[v->node[i]], rn = r >= 0 ? s->root[r].node : -1;
            int w = rn >= 0 ? plan_pack(pl, rn) : -1;
            whole = w >= 0 && (u < 0 || w == u) && pl->pk->lane_of[rn] == i && pl->pk->pack[w].lanes == v->lanes;
            u = w;
        }
        if (!whole)
            continue;
        KStmt *st = add(b->kp, KS_VASSIGN);
        st->pack = vi, st->from = u;
        for (int i = 0; i < v->lanes; i++)
            done[root_of[v->node[i]]] = true;
    }
    free(root_of);
}

/* Where NAME_train keeps carried leaf `leaf`: st's pack and lane, or its
 * local (pack -1); false if it is never read. */
static bool carried_at(const Plan *pl, int leaf, KStmt *st) {
    st->node = leaf;
    if (leaf < 0)
        return false;
    st->pack = plan_pack(pl, leaf);
    if (st->pack >= 0) {
        st->lane = pl->pk->lane_of[leaf];
        return true;
    }
    return pl->is_var[leaf];
}

/* The stores of the kernel's roots, in root order, and the loss last. */
static void stores(Build *b) {
    const Plan *pl = b->pl;
    const Graph *s = b->s;
    bool *done = xcalloc((size_t)s->nroot + 1, sizeof(bool));
    int loss = -1;
    if (pl->k == K_TRAIN)
        whole_vectors(b, done);
    for (int r = 0; r < s->nroot; r++) {
        const Root *root = &s->root[r];
        if (!plan_has_root(pl, root) || done[r])
            continue;
        if (root->kind == ROOT_LOSS) {
            loss = root->node;
            continue;
        }
        if (root->kind == ROOT_CARRY_INIT)
            continue; /* the prologue's */
        KStmt at = {.node = -1, .pack = -1};
        Op op = plan_root_leaf(root->kind);
        if (pl->k == K_TRAIN && op != OP_COUNT && !carried_at(pl, plan_leaf(pl, op, root->slot, root->index), &at))
            continue; /* never read: nothing to carry */
        KStmt *st = add(b->kp, KS_STORE);
        st->root = r, st->node = at.node, st->pack = at.pack, st->lane = at.lane;
    }
    free(done);
    if (loss >= 0)
        add(b->kp, KS_LOSS)->node = loss;
}

static bool has_op(const Plan *p, Op op) {
    for (int i = 0; i < p->s->n; i++)
        if (p->live[i] && p->s->node[i].op == op)
            return true;
    return false;
}

static void build_train(Build *b) {
    const Plan *pl = b->pl;
    const Graph *s = b->s;
    for (int i = 0; i < s->n; i++)
        if (pl->is_var[i] && plan_carried(s->node[i].op))
            add(b->kp, KS_CARRY)->node = i;
    for (int vi = 0; vi < pl->pk->npack; vi++)
        if (pl->pack_live[vi] && plan_leaf_op(s->node[pl->pk->pack[vi].node[0]].op) &&
            plan_carried(s->node[pl->pk->pack[vi].node[0]].op))
            add(b->kp, KS_VCARRY)->pack = vi;
    KStmt *pro = add(b->kp, KS_PROLOGUE);
    int npro = b->kp->n - 1, count = 0;
    for (int r = 0; r < s->nroot; r++) {
        const Root *root = &s->root[r];
        KStmt at = {.node = -1, .pack = -1};
        if (root->kind != ROOT_CARRY_INIT || !carried_at(pl, plan_leaf(pl, OP_CARRY, 0, root->index), &at))
            continue; /* never read */
        KStmt *st = add(b->kp, KS_FIRST);
        st->root = r, st->node = at.node, st->pack = at.pack, st->lane = at.lane;
        count++;
    }
    (void)pro;
    b->kp->st[npro].count = count;
    add(b->kp, KS_PROLOGUE_END);
    for (int i = 0; i < s->n; i++)
        if (pl->is_var[i] && plan_loop_invariant(&s->node[i]))
            add(b->kp, KS_HOIST)->node = i;
    add(b->kp, KS_LOOP)->count = has_op(pl, OP_NEXT);
    for (int vi = 0; pl->pk->samples && vi < pl->pk->npack; vi++) {
        Op op = s->node[pl->pk->pack[vi].node[0]].op;
        if (pl->pack_live[vi] && plan_leaf_op(op) && plan_carried(op) && op != OP_CARRY)
            add(b->kp, KS_SPLATS)->pack = vi;
    }
    body(b);
    stores(b);
    add(b->kp, KS_LOOP_END);
    for (int i = 0; i < s->n; i++)
        if (plan_pack(pl, i) >= 0 && plan_carried(s->node[i].op) && plan_stored(pl, &s->node[i])) {
            KStmt *st = add(b->kp, KS_WRITEBACK);
            carried_at(pl, i, st);
        }
    for (int i = 0; i < s->n; i++)
        if (pl->is_var[i] && plan_carried(s->node[i].op) && plan_stored(pl, &s->node[i]))
            add(b->kp, KS_WRITEBACK)->node = i;
    add(b->kp, KS_STEPS)->count = 0;
    add(b->kp, KS_RETURN);
}

static void build(KProg *kp, const Model *m, const Graph *s, const Packing *pk, Kernel k) {
    memset(kp, 0, sizeof *kp);
    plan_init(&kp->pl, m, s, pk);
    plan_kernel(&kp->pl, k);
    Build b = {.kp = kp, .pl = &kp->pl, .s = s, .m = m};
    if (k == K_TRAIN) {
        build_train(&b);
        return;
    }
    body(&b);
    if (k == K_STEP || k == K_APPLY)
        add(kp, KS_STEPS)->count = 1;
    stores(&b);
}

/* The test-only hook: NETC_BREAK_KPROG=K:I moves statement I of kernel K to
 * the end of its program. */
static void break_hook(KProg *kp, Kernel k) {
    const char *env = getenv("NETC_BREAK_KPROG");
    int kk, i;
    if (!env || sscanf(env, "%d:%d", &kk, &i) != 2 || kk != (int)k || i < 0 || i >= kp->n)
        return;
    KStmt st = kp->st[i];
    memmove(&kp->st[i], &kp->st[i + 1], sizeof(KStmt) * (size_t)(kp->n - i - 1));
    kp->st[kp->n - 1] = st;
}

/* Names the program's temporaries in the order its statements define them. */
static void name_temps(KProg *kp, TempNames *t) {
    int *order = xmalloc(sizeof(int) * (size_t)(kp->n + 1)), n = 0;
    for (int i = 0; i < kp->n; i++) {
        const KStmt *st = &kp->st[i];
        switch (st->kind) {
        case KS_VLOAD: case KS_VSTRIDED: case KS_VDEF: case KS_VCARRY:
            order[n++] = -1 - st->pack;
            break;
        case KS_DEF: case KS_CARRY: case KS_HOIST:
            order[n++] = st->node;
            break;
        default:
            break;
        }
    }
    plan_name_temps(&kp->pl, t, order, n);
    free(order);
}

void schedule_build(Schedule *sc, const Model *m, const Graph *s, const Packing *pk, const Graph *train,
                    const Packing *train_pk) {
    memset(sc, 0, sizeof *sc);
    sc->m = m, sc->s = s, sc->pk = pk;
    sc->train = train ? train : s;
    sc->train_pk = train ? train_pk : pk;
    for (int g = 0; g < (train ? 2 : 1); g++) {
        sc->temps[g].node = xcalloc((size_t)(g ? train : s)->n, sizeof(int));
        sc->temps[g].pack = xcalloc((size_t)(g ? train_pk : pk)->npack + 1, sizeof(int));
    }
    for (int k = K_FORWARD; k <= K_TRAIN; k++) {
        bool t = k == K_TRAIN;
        build(&sc->k[k], m, t ? sc->train : s, t ? sc->train_pk : pk, (Kernel)k);
        name_temps(&sc->k[k], &sc->temps[t && train ? 1 : 0]);
        break_hook(&sc->k[k], (Kernel)k);
        kprog_verify(&sc->k[k], (Kernel)k);
    }
}

void schedule_apply(Schedule *sc, const Graph *a, const Packing *pk) {
    sc->apply = a, sc->apply_pk = pk;
    sc->temps[2].node = xcalloc((size_t)a->n, sizeof(int));
    sc->temps[2].pack = xcalloc((size_t)pk->npack + 1, sizeof(int));
    build(&sc->k[K_APPLY], sc->m, a, pk, K_APPLY);
    name_temps(&sc->k[K_APPLY], &sc->temps[2]);
    break_hook(&sc->k[K_APPLY], K_APPLY);
    kprog_verify(&sc->k[K_APPLY], K_APPLY);
}

void schedule_free(Schedule *sc) {
    for (int k = K_FORWARD; k <= (sc->apply ? K_APPLY : K_TRAIN); k++) {
        KProg *kp = &sc->k[k];
        for (int i = 0; i < kp->n; i++)
            free(kp->st[i].shuf);
        free(kp->st);
        plan_free(&kp->pl);
    }
    for (int g = 0; g < 3; g++) {
        free(sc->temps[g].node);
        free(sc->temps[g].pack);
    }
}

/* ---- the verifier ---- */

typedef struct Check {
    const KProg *kp;
    const Plan *pl;
    const Graph *s;
    Kernel k;
    int at;           /* the statement being checked */
    char *var;        /* per node: 0 undefined, 1 defined in the step, 2 before the loop */
    char *vec;        /* per pack: the same */
    char *chunk;      /* per chunk slot */
    bool inline_all;  /* an expression read whole from memory (the prologue) */
} Check;

static _Noreturn void bad(const Check *c, const char *what) {
    die("kernel program %s, statement %d (%s): %s", kernel_name[c->k], c->at, ks_name[c->kp->st[c->at].kind],
        what);
}

/* Node id read where statement c->at stands: every local or vector it
 * reads is defined. */
static void reads(Check *c, int id) {
    const Node *n = &c->s->node[id];
    if (!c->inline_all) {
        int v = plan_pack(c->pl, id);
        if (v >= 0) {
            if (!c->vec[v])
                bad(c, format("reads vector %s before it is defined", c->pl->pack_var[v]));
            return;
        }
        if (c->pl->is_var[id]) {
            if (!c->var[id])
                bad(c, format("reads %s before it is defined", c->pl->var[id]));
            return;
        }
    }
    if (n->op == OP_CARRY && c->inline_all)
        bad(c, "reads the carried value inside its own first value");
    for (int a = 0; a < 3; a++)
        if (n->arg[a] >= 0)
            reads(c, n->arg[a]);
}

static void read_pack(Check *c, int v) {
    if (v < 0 || v >= c->pl->pk->npack || !c->pl->pack_live[v])
        bad(c, "names no vector of this kernel");
    if (!c->vec[v])
        bad(c, format("reads vector %s before it is defined", c->pl->pack_var[v]));
}

/* Operand a of pack v read as o: lane i holds argument a of lane i's node. */
static void check_operand(Check *c, const Pack *v, int a, const Vop *o) {
    const Packing *pk = c->pl->pk;
    for (int i = 0; i < v->lanes; i++) {
        int want = c->s->node[v->node[i]].arg[a], got;
        switch (o->kind) {
        case VOP_PACK:
            read_pack(c, o->pack);
            got = i < pk->pack[o->pack].lanes ? pk->pack[o->pack].node[i] : -1;
            break;
        case VOP_SHUFFLE:
            read_pack(c, o->pack);
            read_pack(c, o->pack2);
            got = o->id[i];
            if (pk->pack_of[got] != o->pack && pk->pack_of[got] != o->pack2)
                bad(c, "shuffles a lane of neither vector");
            break;
        case VOP_SPLAT: case VOP_CMP_SPLAT:
            got = o->id[0];
            if (o->kind == VOP_SPLAT)
                reads(c, got);
            else
                for (int b = 0; b < 2; b++)
                    reads(c, c->s->node[got].arg[b]);
            break;
        case VOP_LANES:
            got = o->id[i];
            reads(c, got);
            break;
        default:
            bad(c, "an unknown operand kind");
        }
        if (got != want)
            bad(c, format("lane %d of vector %s does not compute its scalar node", i,
                          c->pl->pack_var[v - pk->pack]));
    }
}

/* A strided pack's shuffles, followed lane by lane: lane k must end as the
 * element its node loads. */
static void check_strided(Check *c, const KStmt *st) {
    const Pack *v = &c->pl->pk->pack[st->pack];
    int w = c->pl->pk->width, elem[2 * LIMIT_LANES][LIMIT_LANES];
    const KStmt *chunk_of[LIMIT_LANES];
    for (int j = 0; j < st->nchunk; j++) {
        chunk_of[j] = NULL;
        for (int i = 0; i < c->at; i++)
            if (c->kp->st[i].kind == KS_CHUNK && c->kp->st[i].chunk == st->chunks[j])
                chunk_of[j] = &c->kp->st[i];
        if (!chunk_of[j] || !c->chunk[st->chunks[j]])
            bad(c, "reads a chunk before it is loaded");
    }
    for (int s = 0; s < st->nshuf; s++) {
        const Shuffle *sh = &st->shuf[s];
        for (int k = 0; k < w; k++) {
            int idx = sh->idx[k], from = idx < w ? sh->a : sh->b, lane = idx % w;
            if (idx < 0) {
                elem[s][k] = -1;
                continue;
            }
            if (from >= s)
                bad(c, "a shuffle reads a later step");
            if (from < 0) {
                const KStmt *ch = chunk_of[-1 - from];
                elem[s][k] = (ch->t ? 1 << 24 : 0) + ch->at + lane;
            } else {
                elem[s][k] = elem[from][lane];
            }
        }
    }
    for (int k = 0; k < v->lanes; k++) {
        const Node *n = &c->s->node[v->node[k]];
        if (elem[st->nshuf - 1][k] != (n->op == OP_TARGET ? 1 << 24 : 0) + n->index)
            bad(c, format("lane %d of vector %s is not the element its node loads", k,
                          c->pl->pack_var[st->pack]));
    }
}

void kprog_verify(const KProg *kp, Kernel k) {
    const Plan *pl = &kp->pl;
    const Graph *s = pl->s;
    Check c = {.kp = kp, .pl = pl, .s = s, .k = k};
    c.var = xcalloc((size_t)s->n + 1, 1);
    c.vec = xcalloc((size_t)pl->pk->npack + 1, 1);
    c.chunk = xcalloc((size_t)kp->nchunk + 1, 1);
    int *stored = xcalloc((size_t)s->nroot + 1, sizeof(int));
    int depth = 0, loss = 0;
    /* leaves read from memory are always defined outside NAME_train */
    for (int i = 0; i < s->n; i++)
        if (k != K_TRAIN && plan_carried(s->node[i].op))
            c.var[i] = 2;
    for (c.at = 0; c.at < kp->n; c.at++) {
        const KStmt *st = &kp->st[c.at];
        char here = depth ? 1 : 2;
        switch (st->kind) {
        case KS_BODY:
            memset(c.chunk, 0, (size_t)kp->nchunk + 1);
            break;
        case KS_NOTE: case KS_BODY_END: case KS_PROLOGUE: case KS_PROLOGUE_END:
            break;
        case KS_CHUNK:
            if (st->chunk < 0 || st->chunk >= kp->nchunk)
                bad(&c, "an unknown chunk");
            c.chunk[st->chunk] = 1;
            break;
        case KS_VLOAD: case KS_VCARRY: {
            const Pack *v = &pl->pk->pack[st->pack];
            for (int i = 0; i < v->lanes; i++)
                if (!plan_leaf_op(s->node[v->node[i]].op) ||
                    (st->kind == KS_VCARRY) != (k == K_TRAIN && plan_carried(s->node[v->node[i]].op)))
                    bad(&c, "loads a lane that is not a leaf from memory");
            if (c.vec[st->pack])
                bad(&c, format("defines vector %s twice", pl->pack_var[st->pack]));
            c.vec[st->pack] = here;
            break;
        }
        case KS_VSTRIDED:
            check_strided(&c, st);
            if (c.vec[st->pack])
                bad(&c, format("defines vector %s twice", pl->pack_var[st->pack]));
            c.vec[st->pack] = here;
            break;
        case KS_VDEF: {
            const Pack *v = &pl->pk->pack[st->pack];
            const Node *n0 = &s->node[v->node[0]];
            for (int i = 0; i < v->lanes; i++)
                if (s->node[v->node[i]].op != n0->op)
                    bad(&c, "mixes operations in one vector");
            for (int a = 0; a < 3; a++)
                if ((n0->arg[a] >= 0) != (a < st->nop))
                    bad(&c, "has the wrong number of operands");
            for (int a = 0; a < st->nop; a++)
                check_operand(&c, v, a, &st->op[a]);
            if (c.vec[st->pack])
                bad(&c, format("defines vector %s twice", pl->pack_var[st->pack]));
            c.vec[st->pack] = here;
            break;
        }
        case KS_DEF: case KS_HOIST: case KS_CARRY: {
            const Node *n = &s->node[st->node];
            if (!pl->is_var[st->node])
                bad(&c, "defines a node the plan gives no local");
            if (st->kind == KS_DEF)
                for (int a = 0; a < 3; a++)
                    if (n->arg[a] >= 0)
                        reads(&c, n->arg[a]);
            if (st->kind == KS_HOIST && !plan_loop_invariant(n))
                bad(&c, "hoists a value that varies from step to step");
            if (c.var[st->node])
                bad(&c, format("defines %s twice", pl->var[st->node]));
            c.var[st->node] = here;
            break;
        }
        case KS_FIRST:
            c.inline_all = true;
            reads(&c, s->root[st->root].node);
            c.inline_all = false;
            if (st->pack >= 0 ? !c.vec[st->pack] : !c.var[st->node])
                bad(&c, "sets a carried value before it is declared");
            break;
        case KS_LOOP:
            depth++;
            break;
        case KS_LOOP_END:
            if (!depth--)
                bad(&c, "ends a loop that did not begin");
            for (int i = 0; i < s->n; i++) /* the step's locals go out of scope */
                if (c.var[i] == 1)
                    c.var[i] = 0;
            for (int v = 0; v < pl->pk->npack; v++)
                if (c.vec[v] == 1)
                    c.vec[v] = 0;
            break;
        case KS_SPLATS:
            read_pack(&c, st->pack);
            break;
        case KS_VASSIGN: {
            read_pack(&c, st->pack);
            read_pack(&c, st->from);
            const Pack *v = &pl->pk->pack[st->pack], *u = &pl->pk->pack[st->from];
            for (int i = 0; i < v->lanes; i++) {
                int root = -1;
                for (int r = 0; r < s->nroot; r++)
                    if (plan_has_root(pl, &s->root[r]) && plan_root_leaf(s->root[r].kind) != OP_COUNT &&
                        plan_leaf(pl, plan_root_leaf(s->root[r].kind), s->root[r].slot, s->root[r].index) ==
                            v->node[i])
                        root = r;
                if (root < 0 || i >= u->lanes || u->node[i] != s->root[root].node)
                    bad(&c, format("lane %d of %s does not take its root's value", i, pl->pack_var[st->pack]));
                stored[root]++;
            }
            break;
        }
        case KS_STORE: {
            if (st->root < 0 || st->root >= s->nroot || !plan_has_root(pl, &s->root[st->root]))
                bad(&c, "stores no root of this kernel");
            reads(&c, s->root[st->root].node);
            stored[st->root]++;
            break;
        }
        case KS_LOSS:
            reads(&c, st->node);
            loss++;
            break;
        case KS_STEPS: case KS_RETURN:
            break;
        case KS_WRITEBACK:
            if (depth)
                bad(&c, "writes back inside the loop");
            if (st->pack >= 0)
                read_pack(&c, st->pack);
            else if (!c.var[st->node])
                bad(&c, "writes back a value never declared");
            break;
        default:
            bad(&c, "an unknown statement");
        }
    }
    if (depth)
        die("kernel program %s: its loop does not end", kernel_name[k]);
    for (int r = 0; r < s->nroot; r++) {
        const Root *root = &s->root[r];
        if (!plan_has_root(pl, root) || root->kind == ROOT_CARRY_INIT)
            continue;
        int want = 1;
        if (root->kind == ROOT_LOSS)
            want = 0, stored[r] += 0;
        else if (k == K_TRAIN && plan_root_leaf(root->kind) != OP_COUNT) {
            int leaf = plan_leaf(pl, plan_root_leaf(root->kind), root->slot, root->index);
            if (leaf < 0 || (plan_pack(pl, leaf) < 0 && !pl->is_var[leaf]))
                want = 0; /* never read: nothing to carry */
        }
        if (stored[r] != want)
            die("kernel program %s: root %s %d[%d] is stored %d times, not %d", kernel_name[k],
                root_name[root->kind], root->slot, root->index, stored[r], want);
    }
    bool has_loss = false;
    for (int r = 0; r < s->nroot; r++)
        has_loss |= plan_has_root(pl, &s->root[r]) && s->root[r].kind == ROOT_LOSS;
    if (loss != has_loss)
        die("kernel program %s: the loss is read %d times", kernel_name[k], loss);
    free(stored);
    free(c.var);
    free(c.vec);
    free(c.chunk);
}

/* ---- the printer (--emit=kernels) ---- */

/* A leaf as it reads from memory: "x[3]", "hidden.weight[7]". */
static const char *leaf_text(const Plan *pl, const Node *n) {
    switch (n->op) {
    case OP_INPUT: return format("x[%d]", n->index);
    case OP_TARGET: return format("t[%d]", n->index);
    case OP_NEXT: return format("xn[%d]", n->index);
    case OP_GRADIENT: return format("g.%s[%d]", pl->m->params[n->slot].name, n->index);
    case OP_CARRY: return format("carry[%d]", n->index);
    case OP_PARAM: return format("%s[%d]", pl->m->params[n->slot].name, n->index);
    case OP_STATE: return format("%s[%d]", pl->m->states[n->slot].name, n->index);
    default: return NULL;
    }
}

/* Node id as a statement reads it: a lane, a local, a leaf, a constant, or
 * %id for an expression inlined into its user. */
static const char *local(const Plan *pl, int id) {
    const Node *n = &pl->s->node[id];
    int v = plan_pack(pl, id);
    if (v >= 0)
        return format("%s[%d]", pl->pack_var[v], pl->pk->lane_of[id]);
    if (pl->is_var[id])
        return pl->var[id];
    if (leaf_text(pl, n))
        return leaf_text(pl, n);
    if (n->op == OP_CONST)
        return format("%.9g", n->value);
    if (n->op == OP_HYPER)
        return hyper_name[n->slot];
    return format("%%%d", id);
}

static void print_vop(FILE *out, const Plan *pl, const Vop *o) {
    switch (o->kind) {
    case VOP_PACK: fputs(pl->pack_var[o->pack], out); return;
    case VOP_SHUFFLE:
        fprintf(out, "shuffle(%s, %s;", pl->pack_var[o->pack], pl->pack_var[o->pack2]);
        break;
    case VOP_SPLAT: fprintf(out, "splat%s(%s)", o->mem ? "-from-memory" : "", local(pl, o->id[0])); return;
    case VOP_CMP_SPLAT: {
        const Node *c = &pl->s->node[o->id[0]];
        fprintf(out, "splat(%s) %s splat(%s)", local(pl, c->arg[0]), c->op == OP_GT ? ">" : "==",
                local(pl, c->arg[1]));
        return;
    }
    case VOP_LANES: fputs(o->mask ? "mask{" : "{", out); break;
    }
    for (int i = 0; i < o->n; i++)
        fprintf(out, "%s%s", i ? ", " : o->kind == VOP_SHUFFLE ? " " : "", local(pl, o->id[i]));
    fputs(o->kind == VOP_SHUFFLE ? ")" : "}", out);
}

static const char *root_text(const Plan *pl, const Root *r) {
    const char *what = r->kind == ROOT_GRAD || r->kind == ROOT_UPDATE ? pl->m->params[r->slot].name
                       : r->kind == ROOT_STATE                        ? pl->m->states[r->slot].name
                                                                      : NULL;
    return what ? format("%s %s[%d]", root_name[r->kind], what, r->index) : format("%s[%d]", root_name[r->kind], r->index);
}

static void print_prog(FILE *out, const Model *m, const KProg *kp, Kernel k) {
    const Plan *pl = &kp->pl;
    const Graph *s = pl->s;
    int w = pl->pk->width, depth = 1;
    fprintf(out, "kernel %s_%s (%d statements, %d lanes)\n", m->name, kernel_name[k], kp->n, w);
    for (int i = 0; i < kp->n; i++) {
        const KStmt *st = &kp->st[i];
        if (st->kind == KS_LOOP_END || st->kind == KS_PROLOGUE_END)
            depth--;
        fprintf(out, "%*s%s", 2 * depth, "", ks_name[st->kind]);
        const Node *n = st->node >= 0 ? &s->node[st->node] : NULL;
        switch (st->kind) {
        case KS_NOTE:
            fprintf(out, " %s%s", st->phase ? format("%s: ", n->phase == PH_FORWARD ? "forward" : n->phase == PH_BACKWARD ? "backward" : "update") : "",
                    n->layer >= 0 ? m->layers[n->layer].name : n->phase == PH_UPDATE ? "optimizer" : "loss");
            break;
        case KS_CHUNK: fprintf(out, " %s = %s[%d..%d)", st->name, st->t ? "t" : "x", st->at, st->at + w); break;
        case KS_VLOAD: case KS_VCARRY: case KS_VSTRIDED: case KS_VDEF: case KS_SPLATS: {
            const Pack *v = &pl->pk->pack[st->pack];
            fprintf(out, " %s <%d x %s>", pl->pack_var[st->pack], w, s->node[v->node[0]].type.dt == DT_BOOL ? "mask" : "real");
            if (st->kind == KS_VDEF) {
                fprintf(out, " = %s(", op_name[s->node[v->node[0]].op]);
                for (int a = 0; a < st->nop; a++) {
                    if (a)
                        fputs(", ", out);
                    print_vop(out, pl, &st->op[a]);
                }
                fputc(')', out);
            } else if (st->kind == KS_VSTRIDED) {
                fprintf(out, " = %d shuffles of", st->nshuf);
                for (int c = 0; c < st->nchunk; c++)
                    for (int j = 0; j < i; j++)
                        if (kp->st[j].kind == KS_CHUNK && kp->st[j].chunk == st->chunks[c]) {
                            fprintf(out, " %s", kp->st[j].name);
                            break;
                        }
            } else if (st->kind != KS_SPLATS) {
                fputs(" = {", out);
                for (int l = 0; l < v->lanes; l++)
                    fprintf(out, "%s%s", l ? ", " : "", leaf_text(pl, &s->node[v->node[l]]));
                fputc('}', out);
            }
            break;
        }
        case KS_DEF: case KS_HOIST: case KS_CARRY: {
            fprintf(out, " %s %s = %s", n->type.dt == DT_BOOL ? "bool" : "real", pl->var[st->node], op_name[n->op]);
            if (n->op == OP_HYPER)
                fprintf(out, " %s", hyper_name[n->slot]);
            for (int a = 0; a < 3 && n->arg[a] >= 0; a++)
                fprintf(out, "%s%s", a ? ", " : " ", local(pl, n->arg[a]));
            if (plan_leaf_op(n->op))
                fprintf(out, " %s", leaf_text(pl, n));
            break;
        }
        case KS_PROLOGUE: fprintf(out, " %d", st->count); depth++; break;
        case KS_LOOP: fprintf(out, " over the steps%s", st->count ? ", reading the next batch" : ""); depth++; break;
        case KS_FIRST: case KS_STORE: case KS_WRITEBACK: {
            const char *to = st->node < 0 ? "memory" : st->pack >= 0 ? format("%s[%d]", pl->pack_var[st->pack], st->lane)
                                                                    : pl->var[st->node];
            if (st->kind == KS_WRITEBACK)
                fprintf(out, " %s -> memory", to);
            else
                fprintf(out, " %s = %s -> %s", root_text(pl, &s->root[st->root]), local(pl, s->root[st->root].node), to);
            break;
        }
        case KS_VASSIGN: fprintf(out, " %s = %s", pl->pack_var[st->pack], pl->pack_var[st->from]); break;
        case KS_STEPS: fprintf(out, " += %s", st->count ? "1" : "steps"); break;
        case KS_LOSS: fprintf(out, " %s", local(pl, st->node)); break;
        default: break;
        }
        fputc('\n', out);
    }
}

void schedule_print(FILE *out, const Schedule *sc) {
    for (int k = K_FORWARD; k <= (sc->apply ? K_APPLY : K_TRAIN); k++) {
        if (k)
            fputc('\n', out);
        print_prog(out, sc->m, &sc->k[k], (Kernel)k);
    }
}
