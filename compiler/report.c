/* report.c: what training a model costs, known at compile time.
 *
 * Memory.  The parameters and the optimizer state are the generated structs,
 * sized here as the C compiler lays them out (NAME_optim: a uint64_t step
 * count, the float rate, then the state arrays, padded to 8 bytes).  The
 * kernels allocate nothing; their only other memory is the stack of one
 * call, which depends on the C compiler's register allocation.  netc knows
 * the kernel programs exactly, so it measures the peak bytes of locals
 * alive at once in program order (a scalar local is one float, a vector
 * local its full width, NAME_train's carried locals live across the whole
 * loop) and the bytes of all its locals, and estimates the stack as
 *
 *     scratch = max over kernels of min(SCRATCH_FACTOR x peak, all) + SCRATCH_BASE
 *
 * the factor an allowance for the compiler moving loads and computations
 * earlier (which raises the pressure), the base for the frame itself and
 * the libm functions the kernels call; no kernel needs more than a slot
 * for each of its locals.  tests/report
 * measures the stack high-water mark of every kernel, built by gcc and clang
 * at -O1, -O2 and -O3, for a sweep of models, and fails if a measurement
 * exceeds the estimate; compiler/README.md gives the numbers.  Unoptimized
 * builds (-O0) give every local its own slot and are not covered.
 *
 * FLOPs.  NAME_step's floating-point operations as the scalar schedule
 * computes them: each add, sub, mul, div, neg, max, abs, compare, sqrt,
 * exp, log, tanh and sigmoid is one, a fused multiply-add two; selects,
 * loads and stores are none.  They are split by the phase that produced each
 * operation (forward pass and loss, gradient, optimizer update) and by layer.
 *
 * The loop schedule (loops.c) has no kernel programs: its NAME_optim also
 * holds a gradient NAME_params, its scratch is the largest kernel's tile
 * buffers and packed panel (loops_stack) plus SCRATCH_BASE, and its FLOPs are
 * counted on the tensor graph as the loops execute them: a product [m,k] x
 * [k,n] 2mnk (each sum starts from -0 and adds every term), an elementwise op
 * one per element as above, a sum over rows or all elements one add per
 * element, softmax and log-softmax 5 per element (max, sub, exp, add, div or
 * the final sub), binary cross entropy 8 per element; the nodes are those
 * NAME_step needs (the loss, the updated parameters and state).
 *
 * The budgets (--max-ram, --max-flash) and --report are printed here too.
 */
#include "netc.h"

#include <stdlib.h>
#include <string.h>

enum { SCRATCH_FACTOR = 4, SCRATCH_BASE = 1024, SCRATCH_BASE_LOOPS = 4096 };

const char *commas(long v) {
    static char buf[16][32];
    static int next;
    char *out = buf[next++ & 15], digits[32];
    int n = snprintf(digits, sizeof digits, "%ld", v < 0 ? -v : v), k = 0;
    if (v < 0)
        out[k++] = '-';
    for (int i = 0; i < n; i++) {
        out[k++] = digits[i];
        if ((n - 1 - i) % 3 == 0 && i < n - 1)
            out[k++] = ',';
    }
    out[k] = 0;
    return out;
}

long parse_size(const char *s) {
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    double v = strtod(s, &end);
    double unit = 1;
    if (*end == 'k' || *end == 'K')
        unit = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        unit = 1024.0 * 1024, end++;
    else if (*end == 'g' || *end == 'G')
        unit = 1024.0 * 1024 * 1024, end++;
    if (unit > 1 && (*end == 'b' || *end == 'B'))
        end++;
    if (*end || !(v >= 0) || v * unit > 1e15)
        return -1;
    double bytes = v * unit;
    if (bytes != (double)(long)bytes)
        return -1; /* a fraction of a byte */
    return (long)bytes;
}

/* ---- memory ---- */

static long real_size(bool fp64) { return fp64 ? 8 : 4; }

static long state_bytes(const Model *m, int i, bool fp64) {
    return (long)m->params[m->states[i].param].size * real_size(fp64);
}

/* sizeof(NAME_optim); grad: the bytes of a last member, the loop schedule's
 * gradient NAME_params (0: none). */
static long optim_size(const Model *m, bool fp64, long grad) {
    long at = 8 + 4; /* steps, lr */
    for (int i = 0; i < m->nstates; i++) {
        at = (at + real_size(fp64) - 1) / real_size(fp64) * real_size(fp64);
        at += state_bytes(m, i, fp64);
    }
    if (grad)
        at = (at + real_size(fp64) - 1) / real_size(fp64) * real_size(fp64) + grad;
    return (at + 7) / 8 * 8;
}

/* The peak bytes of locals alive at once in kernel program kp. */
static long peak_live(const KProg *kp, bool fp64, long *all) {
    const Plan *pl = &kp->pl;
    const Graph *s = pl->s;
    const Packing *pk = pl->pk;
    long R = real_size(fp64), V = (pk->width > 1 ? pk->width : 1) * R;
    int n = kp->n;
    /* where each value is defined (-1: not a local) and read last */
    int *def = xmalloc(sizeof(int) * (size_t)(s->n + 1)), *last = xmalloc(sizeof(int) * (size_t)(s->n + 1));
    int *vdef = xmalloc(sizeof(int) * (size_t)(pk->npack + 1)), *vlast = xmalloc(sizeof(int) * (size_t)(pk->npack + 1));
    int *eval = xmalloc(sizeof(int) * (size_t)(s->n + 1)); /* an inlined node: where its user is */
    long *delta = xcalloc((size_t)n + 2, sizeof(long));
    for (int i = 0; i < s->n; i++)
        def[i] = last[i] = eval[i] = -1;
    for (int v = 0; v < pk->npack; v++)
        vdef[v] = vlast[v] = -1;
    int chunk_def[64], *chunk_last = xmalloc(sizeof(int) * (size_t)(n + 1));
    for (int c = 0; c < 64; c++)
        chunk_def[c] = -1;
    for (int i = 0; i < n; i++) {
        const KStmt *st = &kp->st[i];
        chunk_last[i] = -1;
        switch (st->kind) {
        case KS_DEF:
            def[st->node] = last[st->node] = i;
            break;
        case KS_HOIST: case KS_CARRY: /* alive through the loop */
            def[st->node] = i, last[st->node] = n;
            break;
        case KS_VCARRY:
            vdef[st->pack] = i, vlast[st->pack] = n;
            break;
        case KS_VLOAD: case KS_VDEF:
            vdef[st->pack] = vlast[st->pack] = i;
            break;
        case KS_VSTRIDED:
            vdef[st->pack] = vlast[st->pack] = i;
            for (int c = 0; c < st->nchunk; c++)
                if (st->chunks[c] >= 0 && st->chunks[c] < 64 && chunk_def[st->chunks[c]] >= 0)
                    chunk_last[chunk_def[st->chunks[c]]] = i;
            break;
        case KS_CHUNK:
            if (st->chunk >= 0 && st->chunk < 64)
                chunk_def[st->chunk] = i;
            chunk_last[i] = i;
            break;
        case KS_STORE: case KS_FIRST:
            if (st->root >= 0 && eval[s->root[st->root].node] < i)
                eval[s->root[st->root].node] = i;
            break;
        case KS_LOSS:
            if (eval[st->node] < i)
                eval[st->node] = i;
            break;
        default:
            break;
        }
    }
    /* every read of a value: users first (operands precede them) */
    for (int u = s->n - 1; u >= 0; u--) {
        if (!pl->live[u] && def[u] < 0)
            continue;
        int at[2], nat = 0, v = plan_pack(pl, u);
        if (def[u] >= 0)
            at[nat++] = def[u];
        if (v >= 0 && vdef[v] >= 0)
            at[nat++] = vdef[v];
        if (!nat && eval[u] >= 0)
            at[nat++] = eval[u];
        if (def[u] >= 0 && eval[u] > last[u])
            last[u] = eval[u];
        if (v >= 0 && eval[u] > vlast[v])
            vlast[v] = eval[u];
        const Node *nd = &s->node[u];
        for (int k = 0; k < 3 && nd->arg[k] >= 0 && nat; k++) {
            int a = nd->arg[k], w = plan_pack(pl, a);
            for (int j = 0; j < nat; j++) {
                if (def[a] >= 0 && at[j] > last[a])
                    last[a] = at[j];
                if (w >= 0 && vdef[w] >= 0 && at[j] > vlast[w])
                    vlast[w] = at[j];
                if (def[a] < 0 && (w < 0 || vdef[w] < 0) && at[j] > eval[a])
                    eval[a] = at[j];
            }
        }
    }
    *all = 0;
    for (int i = 0; i < s->n; i++)
        if (def[i] >= 0) {
            *all += R;
            delta[def[i]] += R;
            delta[(last[i] > def[i] ? last[i] : def[i]) + 1] -= R;
        }
    for (int v = 0; v < pk->npack; v++)
        if (vdef[v] >= 0) {
            *all += V;
            delta[vdef[v]] += V;
            delta[(vlast[v] > vdef[v] ? vlast[v] : vdef[v]) + 1] -= V;
        }
    for (int i = 0; i < n; i++)
        if (chunk_last[i] >= 0 && kp->st[i].kind == KS_CHUNK) {
            *all += V;
            delta[i] += V;
            delta[chunk_last[i] + 1] -= V;
        }
    long live = 0, peak = 0;
    for (int i = 0; i <= n; i++) {
        live += delta[i];
        if (live > peak)
            peak = live;
    }
    free(def), free(last), free(vdef), free(vlast), free(eval), free(delta), free(chunk_last);
    return peak;
}

/* ---- FLOPs ---- */

static int op_flops(Op op) {
    switch (op) {
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_NEG: case OP_MAX: case OP_GT: case OP_EQ:
    case OP_EXP: case OP_LOG: case OP_TANH: case OP_SIGMOID: case OP_ABS: case OP_SQRT:
        return 1;
    case OP_FMA:
        return 2;
    default:
        return 0;
    }
}

/* NAME_step's operations by layer (nlayers: the loss and optimizer glue) and phase. */
static void layer_flops(const Schedule *sc, long (*out)[3]) {
    const Plan *pl = &sc->k[K_STEP].pl;
    const Graph *s = pl->s;
    for (int i = 0; i < s->n; i++) {
        const Node *n = &s->node[i];
        if (!pl->live[i])
            continue;
        int l = n->layer >= 0 && n->layer < sc->m->nlayers ? n->layer : sc->m->nlayers;
        out[l][n->phase] += op_flops(n->op);
    }
}

void cost_compute(Cost *c, const Schedule *sc, bool fp64) {
    const Model *m = sc->m;
    memset(c, 0, sizeof *c);
    c->real = (int)real_size(fp64);
    for (int i = 0; i < m->nparams; i++)
        c->params_bytes += (long)m->params[i].size * real_size(fp64);
    c->optim_bytes = optim_size(m, fp64, 0);
    long most = 0;
    for (int k = 0; k < 4; k++) {
        c->live_bytes[k] = peak_live(&sc->k[k], fp64, &c->local_bytes[k]);
        long est = SCRATCH_FACTOR * c->live_bytes[k];
        if (c->local_bytes[k] < est)
            est = c->local_bytes[k];
        if (est > most)
            most = est, c->scratch_kernel = k;
    }
    c->scratch_bytes = most + SCRATCH_BASE;
    long (*lf)[3] = xcalloc((size_t)m->nlayers + 1, sizeof *lf);
    layer_flops(sc, lf);
    for (int l = 0; l <= m->nlayers; l++)
        for (int p = 0; p < 3; p++)
            c->flops[p] += lf[l][p];
    free(lf);
    c->flops_step = c->flops[0] + c->flops[1] + c->flops[2];
}

/* ---- the loop schedule's ---- */

/* NAME_step's operations on tensor graph g, by layer and phase (see the top). */
static void graph_flops(const Graph *g, const Model *m, long (*out)[3]) {
    bool *need = xcalloc((size_t)g->n + 1, sizeof *need);
    for (int r = 0; r < g->nroot; r++)
        if (g->root[r].kind == ROOT_LOSS || g->root[r].kind == ROOT_UPDATE || g->root[r].kind == ROOT_STATE)
            need[g->root[r].node] = true;
    for (int i = g->n - 1; i >= 0; i--)
        if (need[i])
            for (int a = 0; a < 3; a++)
                if (g->node[i].arg[a] >= 0)
                    need[g->node[i].arg[a]] = true;
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->node[i];
        if (!need[i])
            continue;
        const Type *t = &n->type;
        long numel = t->rank == 0 ? 1 : t->rank == 1 ? t->dim[0] : (long)t->dim[0] * t->dim[1];
        const Type *a = n->arg[0] >= 0 ? &g->node[n->arg[0]].type : t;
        long anumel = a->rank == 0 ? 1 : a->rank == 1 ? a->dim[0] : (long)a->dim[0] * a->dim[1];
        long f = 0;
        switch (n->op) {
        case OP_MATMUL: f = 2 * numel * a->dim[1]; break;
        case OP_SUMROWS: case OP_SUMALL: f = anumel; break;
        case OP_SOFTMAX: case OP_LOGSOFTMAX: f = 5 * numel; break;
        case OP_BCE: f = 8 * anumel; break;
        default: f = op_info[n->op].kind == OPK_TENSOR || op_info[n->op].kind == OPK_LEAF ? 0 : op_flops(n->op) * numel;
        }
        int l = n->layer >= 0 && n->layer < m->nlayers ? n->layer : m->nlayers;
        out[l][n->phase] += f;
    }
    free(need);
}

void cost_loops(Cost *c, const Graph *g, const Model *m, long stack, bool fp64) {
    memset(c, 0, sizeof *c);
    c->real = (int)real_size(fp64);
    for (int i = 0; i < m->nparams; i++)
        c->params_bytes += (long)m->params[i].size * real_size(fp64);
    c->optim_bytes = optim_size(m, fp64, c->params_bytes);
    c->scratch_bytes = stack + SCRATCH_BASE_LOOPS;
    c->scratch_kernel = K_STEP;
    c->loops = true;
    long (*lf)[3] = xcalloc((size_t)m->nlayers + 1, sizeof *lf);
    graph_flops(g, m, lf);
    for (int l = 0; l <= m->nlayers; l++)
        for (int p = 0; p < 3; p++)
            c->flops[p] += lf[l][p];
    free(lf);
    c->flops_step = c->flops[0] + c->flops[1] + c->flops[2];
}

/* ---- the report ---- */

static void schedule_text(FILE *out, const Model *m, const Schedule *sc, const char *why);

static const char *bytes(long v) { return format("%s B", commas(v)); }

void report_print(FILE *out, const Model *m, const Schedule *sc, const Graph *g, const Cost *c, const CodeSize *cs,
                  bool fp64) {
    const char *N = m->name;
    long R = real_size(fp64);
    fprintf(out, "model '%s' (%s): batch %d, %s, %s, %s kernels\n\n", N, m->file, m->batch, loss_name[m->loss],
            opt_name[m->opt.kind], fp64 ? "double" : "float");

    long (*lf)[3] = xcalloc((size_t)m->nlayers + 1, sizeof *lf);
    if (sc)
        layer_flops(sc, lf);
    else
        graph_flops(g, m, lf);
    fprintf(out, "%-20s %-8s %10s %12s %12s %12s %12s %12s\n", "layer", "line", "params", "param bytes",
            "optim bytes", "fwd FLOPs", "bwd FLOPs", "upd FLOPs");
    long tparams = 0;
    for (int l = 0; l <= m->nlayers; l++) {
        long np = 0, pb = 0, ob = 0;
        for (int i = 0; i < m->nparams; i++)
            if (m->params[i].layer == l && l < m->nlayers)
                np += m->params[i].size;
        pb = np * R;
        for (int i = 0; i < m->nstates; i++)
            if (m->params[m->states[i].param].layer == l && l < m->nlayers)
                ob += state_bytes(m, i, fp64);
        tparams += np;
        if (l < m->nlayers) {
            const Layer *ly = &m->layers[l];
            fprintf(out, "%-20s %-8s %10s %12s %12s %12s %12s %12s\n", ly->name,
                    format("%d:%d", ly->loc.line, ly->loc.col), commas(np), commas(pb), commas(ob),
                    commas(lf[l][0]), commas(lf[l][1]), commas(lf[l][2]));
        } else {
            long glue = c->optim_bytes;
            for (int i = 0; i < m->nstates; i++)
                glue -= state_bytes(m, i, fp64);
            fprintf(out, "%-20s %-8s %10s %12s %12s %12s %12s %12s\n", "(loss, optimizer)",
                    m->loss_loc.line ? format("%d:%d", m->loss_loc.line, m->loss_loc.col) : "-", "-", "-",
                    commas(glue), commas(lf[l][0]), commas(lf[l][1]), commas(lf[l][2]));
        }
    }
    fprintf(out, "%-20s %-8s %10s %12s %12s %12s %12s %12s\n\n", "total", "", commas(tparams),
            commas(c->params_bytes), commas(c->optim_bytes), commas(c->flops[0]), commas(c->flops[1]),
            commas(c->flops[2]));
    free(lf);

    fprintf(out, "memory of training (%s_step): %s\n", N,
            bytes(c->params_bytes + c->optim_bytes + c->scratch_bytes));
    fprintf(out, "  parameters       %12s  sizeof(%s_params), %s_PARAMS_BYTES\n", bytes(c->params_bytes), N, N);
    fprintf(out, "  optimizer state  %12s  sizeof(%s_optim), %s_OPTIM_BYTES\n", bytes(c->optim_bytes), N, N);
    fprintf(out, "  scratch          %12s  stack of one kernel call, %s_SCRATCH_BYTES (estimated: see below)\n",
            bytes(c->scratch_bytes), N);
    if (c->loops) {
        fprintf(out, "  (scratch: the largest kernel's tile buffers, packed panel and micro-kernel frame, %s, + %s)\n",
                bytes(c->scratch_bytes - SCRATCH_BASE_LOOPS), commas(SCRATCH_BASE_LOOPS));
        fprintf(out, "  %s_optim holds a gradient %s_params as the loops' accumulator\n", N, N);
    } else {
        fprintf(out, "  %-14s %12s %12s  (scratch: the largest of min(%d x peak, all) + %s)\n", "kernel locals",
                "peak live", "all", SCRATCH_FACTOR, commas(SCRATCH_BASE));
        for (int k = 0; k < 4; k++)
            fprintf(out, "  %-14s %12s %12s\n", format("%s_%s", N, kernel_name[k]), bytes(c->live_bytes[k]),
                    bytes(c->local_bytes[k]));
    }
    fprintf(out, "  also for %s_grad: a gradient %s_params (%s)\n\n", N, N, bytes(c->params_bytes));

    fprintf(out, "FLOPs per step (%d sample%s): %s = forward %s + backward %s + update %s\n", m->batch,
            m->batch == 1 ? "" : "s", commas(c->flops_step), commas(c->flops[0]), commas(c->flops[1]),
            commas(c->flops[2]));
    if (c->loops)
        fprintf(out, "  (%s_FLOPS_PER_STEP; as the loops run: a product [m,k] x [k,n] 2mnk, elementwise ops 1 an "
                     "element, softmax 5, bce 8)\n\n", N);
    else
        fprintf(out, "  (%s_FLOPS_PER_STEP; each add, mul, div, compare, max, exp, log, sqrt ... 1, fma 2)\n\n", N);

    if (c->loops) {
        fprintf(out, "schedule: loops\n  why: %s\n  every kernel runs tiles of samples through all layers; each matrix product is a\n"
                     "  register-blocked micro-kernel, each parameter's update one loop\n",
                c->why ? c->why : "");
    } else {
        schedule_text(out, m, sc, c->why);
    }
    if (!cs) {
        fprintf(out, "\ncode size: for an LLVM object (--emit=obj, --target=...)\n");
        return;
    }
    fprintf(out, "\ncode size (LLVM object, %s): %s flash = text %s + rodata %s + data %s\n", cs->target,
            bytes(cs->flash), commas(cs->text), commas(cs->rodata), commas(cs->data));
    for (int i = 0; i < cs->n; i++)
        fprintf(out, "  %-32s %12s\n", cs->sym[i].name, bytes(cs->sym[i].size));
}

static void schedule_text(FILE *out, const Model *m, const Schedule *sc, const char *why) {
    const char *N = m->name;
    const Packing *pk = sc->pk;
    fprintf(out, "schedule: unrolled\n  why: %s\n  %s_forward, _grad and _step are straight-line code, %s_train one loop over the\n"
                 "  steps around the unrolled step\n",
            why ? why : "", N, N);
    if (pk->width < 2)
        fprintf(out, "  vectors: none (--vector-width=1)\n");
    else
        fprintf(out, "  vectors: %d lanes (--vector-width), %s\n", pk->width,
                pk->samples ? "a batch's samples in the lanes (--reassociate at batch >= 4)"
                            : m->batch >= 4 ? "a layer's units in the lanes (the samples go in the lanes only with "
                                              "--reassociate)"
                                            : "a layer's units in the lanes (batch < 4)");
    if (sc->train != sc->s)
        fprintf(out, "  %s_train carries %s.z, the first layer's pre-activation (--reassociate, plain SGD, batch 1)\n",
                N, m->layers[0].name);
}

/* ---- budgets ---- */

void budget_ram(const Model *m, const Cost *c, long max, const char *arg) {
    long total = c->params_bytes + c->optim_bytes + c->scratch_bytes;
    if (max < 0 || total <= max)
        return;
    long R = c->real;
    /* the largest contributor: a tensor, the optimizer's scalars, or the stack */
    const char *name = format("the stack of %s_%s (estimated)", m->name, kernel_name[c->scratch_kernel]);
    long most = c->scratch_bytes;
    Loc loc = {1, 1};
    for (int i = 0; i < m->nparams; i++)
        if ((long)m->params[i].size * R > most) {
            most = (long)m->params[i].size * R;
            name = m->params[i].name;
            loc = m->layers[m->params[i].layer].loc;
        }
    for (int i = 0; i < m->nstates; i++)
        if ((long)m->params[m->states[i].param].size * R > most) {
            most = (long)m->params[m->states[i].param].size * R;
            name = m->states[i].name;
            loc = m->opt.loc;
        }
    error_at(m->file, loc,
             "training needs %s bytes of RAM (parameters %s + optimizer state %s + scratch %s), over %s (%s "
             "bytes); largest: %s: %s bytes",
             commas(total), commas(c->params_bytes), commas(c->optim_bytes), commas(c->scratch_bytes), arg,
             commas(max), name, commas(most));
}

void budget_flash(const Model *m, const CodeSize *cs, long max, const char *arg) {
    if (max < 0 || cs->flash <= max)
        return;
    const char *name = "(data)";
    long most = -1;
    for (int i = 0; i < cs->n; i++)
        if (cs->sym[i].size > most)
            most = cs->sym[i].size, name = cs->sym[i].name;
    error_at(m->file, (Loc){1, 1}, "the code takes %s bytes of flash (%s), over %s (%s bytes); largest: %s: %s bytes",
             commas(cs->flash), cs->target, arg, commas(max), name, commas(most));
}
