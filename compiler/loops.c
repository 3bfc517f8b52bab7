/* loops.c: the loop schedule, for models above the unroll budget.
 *
 * The tensor IR after grad, optim and simplify is printed as loops instead
 * of being unrolled to scalars.  Every node is classified by what it
 * depends on:
 *   ROW     one value per sample and feature ([B, n]): the batch's inputs,
 *           targets and everything computed from them row by row (forward
 *           and backward pass);
 *   ROWT    the transpose of a ROW node (only read as a matmul operand);
 *   PRE     independent of the batch: parameters, state, constants,
 *           hyperparameters, their transposes and broadcasts;
 *   RED     after a sum over the batch: weight gradients (matmuls of a ROWT
 *           by a ROW node), bias gradients (sumrows), the loss (sumall,
 *           bce), and the optimizer update computed from them.
 * A kernel processes the batch in tiles of samples through all layers: the
 * ROW nodes a tile needs are held in row-major buffers on the stack, and the
 * sums over the batch accumulate tile after tile, sample after sample, into
 * the gradient (NAME_grad's g, or NAME_optim's grad member) and scalar
 * locals.  After the last tile each parameter's update is one loop over its
 * elements.  Every matrix product is a register-blocked micro-kernel: an
 * MR x NR tile of vector accumulators, the reduction innermost with the
 * left operand broadcast and the right one packed (transposed where needed)
 * into a panel padded to whole vectors.  Every sum still adds its terms in
 * index order starting from -0.0f (x + -0 == x for every x), each product
 * rounded and added separately, so the loops compute the same bits as the
 * unrolled schedule.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "netc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define F(...) intern(format(__VA_ARGS__)) /* format's buffers are few: keep what is held */

typedef enum Cls { CL_PRE, CL_ROW, CL_ROWT, CL_RED } Cls;

typedef struct Loops {
    FILE *out;
    const Model *m;
    const Graph *g;
    const EmitOptions *o;
    const char *N, *R; /* model name, "float" or "double" */
    int W;             /* lanes per vector */
    int MR, NR;        /* micro-kernel: rows, vectors */
    bool shape[9][5];  /* the micro-kernels the kernels call, by rows and vectors */
    bool text;         /* print the readable schedule, not C */
    Kernel k;
    Cls *cls;
    bool *need;        /* computed by this kernel */
    int *uses;         /* uses by needed nodes */
    bool *mat;         /* ROW node held in a tile buffer */
    const char **local; /* node read from this named local */
    int *gslot;        /* RED node stored in the gradient of this parameter, or -1 */
    bool *gtrans;      /* ... as its transpose (a weight's gradient) */
    int T;             /* samples per tile */
    int rem;           /* samples in the last tile when fewer than T, else 0 */
    long stack;        /* bytes of this kernel's buffers */
    long panel;        /* scalars of its packed panel: PANEL, or less where every product's operand is smaller */
} Loops;

enum { PANEL = 16384 }; /* scalars in a packed panel of a product's right operand */

/* ---- classification ---- */

static bool elementwise(Op op) {
    OpKind k = op_info[op].kind;
    return k == OPK_ELEM || k == OPK_MASK || k == OPK_SELECT;
}

static void classify(Loops *L) {
    const Graph *g = L->g;
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->node[i];
        Cls a = n->arg[0] >= 0 ? L->cls[n->arg[0]] : CL_PRE, b = n->arg[1] >= 0 ? L->cls[n->arg[1]] : CL_PRE;
        Cls c = CL_PRE;
        switch (n->op) {
        case OP_INPUT: case OP_TARGET: c = CL_ROW; break;
        case OP_PARAM: case OP_STATE: case OP_CONST: case OP_HYPER: c = CL_PRE; break;
        case OP_CARRY: case OP_NEXT: die("loops: %s leaf", op_name[n->op]);
        case OP_TRANSPOSE: c = a == CL_ROW ? CL_ROWT : a == CL_ROWT ? CL_ROW : a; break;
        case OP_BCAST: case OP_SPLAT:
            if (a == CL_ROW || a == CL_ROWT)
                die("loops: %s of a batch tensor", op_name[n->op]);
            c = a;
            break;
        case OP_MATMUL:
            if (a == CL_ROW && (b == CL_PRE))
                c = CL_ROW;
            else if (a == CL_ROWT && b == CL_ROW)
                c = CL_RED;
            else
                die("loops: matmul of %d by %d", (int)a, (int)b);
            break;
        case OP_SUMROWS: case OP_SUMALL: case OP_BCE:
            c = CL_RED;
            break;
        case OP_SOFTMAX: case OP_LOGSOFTMAX: case OP_ONEHOT:
            if (a != CL_ROW)
                die("loops: %s of a non-batch tensor", op_name[n->op]);
            c = CL_ROW;
            break;
        default: {
            if (!elementwise(n->op))
                die("loops: %s", op_name[n->op]);
            bool row = false, red = false;
            for (int k = 0; k < op_info[n->op].arity; k++) {
                Cls x = L->cls[n->arg[k]];
                row |= x == CL_ROW;
                red |= x == CL_RED;
                if (x == CL_ROWT)
                    die("loops: %s of a transposed batch tensor", op_name[n->op]);
            }
            if (row && red) /* a batch value depending on a sum over the batch: no tiling */
                die("loops: %s of a batch tensor and a batch sum", op_name[n->op]);
            c = row ? CL_ROW : red ? CL_RED : CL_PRE;
        }
        }
        L->cls[i] = c;
    }
}

static bool kernel_root(Kernel k, RootKind r) {
    switch (k) {
    case K_FORWARD: return r == ROOT_OUTPUT;
    case K_GRAD: return r == ROOT_LOSS || r == ROOT_GRAD;
    case K_STEP: case K_TRAIN: return r == ROOT_LOSS || r == ROOT_UPDATE || r == ROOT_STATE;
    case K_APPLY: return r == ROOT_UPDATE || r == ROOT_STATE;
    }
    return false;
}

static int cols_of(const Node *n) { return n->type.rank == 2 ? n->type.dim[1] : n->type.rank == 1 ? n->type.dim[0] : 1; }

/* Liveness, uses, tile buffers and gradient storage of kernel k. */
static void plan(Loops *L, Kernel k) {
    const Graph *g = L->g;
    L->k = k;
    memset(L->need, 0, sizeof(bool) * (size_t)g->n);
    memset(L->uses, 0, sizeof(int) * (size_t)g->n);
    memset(L->mat, 0, sizeof(bool) * (size_t)g->n);
    memset(L->local, 0, sizeof(char *) * (size_t)g->n);
    for (int i = 0; i < g->n; i++)
        L->gslot[i] = -1, L->gtrans[i] = false;
    for (int r = 0; r < g->nroot; r++)
        if (kernel_root(k, g->root[r].kind))
            L->need[g->root[r].node] = true;
    for (int i = g->n - 1; i >= 0; i--) {
        if (!L->need[i])
            continue;
        for (int a = 0; a < 3; a++)
            if (g->node[i].arg[a] >= 0) {
                L->need[g->node[i].arg[a]] = true;
                L->uses[g->node[i].arg[a]]++;
            }
    }
    /* the gradients: a sum over the batch stored where its root is */
    for (int r = 0; r < g->nroot; r++) {
        const Root *rt = &g->root[r];
        if (rt->kind != ROOT_GRAD || !L->need[rt->node])
            continue;
        int id = rt->node;
        bool tr = false;
        if (g->node[id].op == OP_TRANSPOSE)
            id = g->node[id].arg[0], tr = true;
        if (L->cls[id] != CL_RED || (g->node[id].op != OP_MATMUL && g->node[id].op != OP_SUMROWS))
            die("loops: the gradient of %s is not a sum over the batch", L->m->params[rt->slot].name);
        L->gslot[id] = rt->slot;
        L->gtrans[id] = tr;
    }
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->node[i];
        if (!L->need[i])
            continue;
        if (L->cls[i] == CL_RED && n->type.rank > 0 && !elementwise(n->op) && n->op != OP_TRANSPOSE &&
            n->op != OP_SPLAT && n->op != OP_BCAST && L->gslot[i] < 0)
            die("loops: %s: a sum over the batch that is no gradient", op_name[n->op]);
        if (L->cls[i] != CL_ROW || n->op == OP_INPUT || n->op == OP_TARGET || n->op == OP_ONEHOT)
            continue;
        if (n->op == OP_MATMUL || n->op == OP_SOFTMAX || n->op == OP_LOGSOFTMAX) {
            L->mat[i] = true;
            continue;
        }
        if (n->type.dt == DT_BOOL)
            continue; /* masks are recomputed where used */
        if (L->uses[i] > 1)
            L->mat[i] = true;
    }
    /* operands read more than once per element: matmuls, softmax and the sums */
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->node[i];
        if (!L->need[i] || elementwise(n->op))
            continue;
        for (int a = 0; a < 3; a++) {
            int x = n->arg[a];
            if (x < 0)
                continue;
            if (g->node[x].op == OP_TRANSPOSE)
                x = g->node[x].arg[0];
            if ((L->cls[x] == CL_ROW) && elementwise(g->node[x].op) && g->node[x].type.dt != DT_BOOL &&
                (n->op == OP_MATMUL || n->op == OP_SOFTMAX || n->op == OP_LOGSOFTMAX))
                L->mat[x] = true;
        }
    }
    /* the tile: buffers of about 1 MiB (a weight gradient is read and written once a tile), at least one sample */
    long per = 0;
    for (int i = 0; i < g->n; i++)
        if (L->mat[i])
            per += cols_of(&g->node[i]);
    int B = k == K_FORWARD ? 1 : L->m->batch;
    long esize = L->o->fp64 ? 8 : 4;
    long T = per ? (1024L * 1024 / esize) / per : B;
    if (T < 1)
        T = 1;
    if (T > B)
        T = B;
    if (T > L->MR && T < B)
        T -= T % L->MR;
    L->T = (int)T;
    L->rem = B % L->T;
    /* the panel: no larger than the largest right operand a product packs
     * (its result's longer side padded to vectors, times the reduction) */
    L->panel = L->W;
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->node[i];
        if (!L->need[i] || n->op != OP_MATMUL)
            continue;
        long side = n->type.dim[0] > n->type.dim[1] ? n->type.dim[0] : n->type.dim[1];
        long want = (side + L->W - 1) / L->W * L->W * g->node[n->arg[0]].type.dim[1];
        if (want > PANEL)
            want = PANEL;
        L->panel = want > L->panel ? want : L->panel;
    }
    L->stack = esize * (per * T + L->panel + L->W);
    if (L->stack > LIMIT_LOOP_STACK)
        error_at(L->m->file, L->m->layers[0].loc,
                 "the loop schedule needs %ld bytes of stack for one sample's activations; the limit is %d",
                 L->stack, LIMIT_LOOP_STACK);
}

/* ---- names and expressions ---- */

static const char *buf_name(const Loops *L, int id) {
    const Node *n = &L->g->node[id];
    char name[96];
    snprintf(name, sizeof name, "%s", n->name ? n->name : op_name[n->op]);
    for (char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
            *c = '_';
    return F("%s%d_%s", L->text ? "%" : "t", id, name);
}

static void real(Loops *L, double v) {
    if (isnan(v)) {
        fputs("NAN", L->out);
        return;
    }
    if (isinf(v)) {
        fputs(v < 0 ? "-INFINITY" : "INFINITY", L->out);
        return;
    }
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (L->o->fp64 ? strtod(buf, NULL) == v : strtof(buf, NULL) == (float)v)
            break;
    }
    if (!strpbrk(buf, ".eEn"))
        strcat(buf, ".0");
    fprintf(L->out, "%s%s%s%s", v < 0 || signbit(v) ? "(" : "", buf, L->o->fp64 ? "" : "f",
            v < 0 || signbit(v) ? ")" : "");
}

/* Element [r][c] of a parameter or state member: "p->w[r][c]". */
static void member(Loops *L, const char *ptr, const char *cname, const Param *p, const char *r, const char *c) {
    if (p->cols)
        fprintf(L->out, "%s->%s[%s][%s]", ptr, cname, r, c);
    else
        fprintf(L->out, "%s->%s[%s]", ptr, cname, c);
}

/* The gradient storage of parameter slot: g or o->grad. */
static const char *grad_ptr(const Loops *L) { return L->k == K_GRAD || L->k == K_APPLY ? "g" : "(&o->grad)"; }

static void expr(Loops *L, int id, const char *r, const char *c);

/* Element (r, c) of node id (for a vector, element c; a scalar ignores
 * both), as a C expression; r is the row within the tile. */
static void expr(Loops *L, int id, const char *r, const char *c) {
    const Graph *g = L->g;
    const Node *n = &g->node[id];
    FILE *out = L->out;
    int a = n->arg[0], b = n->arg[1], d = n->arg[2];
    if (L->local[id]) {
        fputs(L->local[id], out);
        return;
    }
    if (L->mat[id]) {
        fprintf(out, "%s[(%s) * %d + (%s)]", buf_name(L, id), r, cols_of(n), c);
        return;
    }
    if (L->gslot[id] >= 0) {
        const Param *p = &L->m->params[L->gslot[id]];
        if (n->type.rank == 1)
            fprintf(out, "%s->%s[%s]", grad_ptr(L), p->cname, c);
        else if (L->gtrans[id])
            fprintf(out, "%s->%s[%s][%s]", grad_ptr(L), p->cname, c, r);
        else
            fprintf(out, "%s->%s[%s][%s]", grad_ptr(L), p->cname, r, c);
        return;
    }
    switch (n->op) {
    case OP_INPUT:
        fprintf(out, "x[(size_t)(b0 + %s) * %d + (%s)]", r, n->type.dim[1], c);
        return;
    case OP_TARGET:
        fprintf(out, "t[(size_t)(b0 + %s) * %d + (%s)]", r, n->type.dim[1], c);
        return;
    case OP_PARAM:
        member(L, "p", L->m->params[n->slot].cname, &L->m->params[n->slot], r, c);
        return;
    case OP_STATE: {
        const State *st = &L->m->states[n->slot];
        member(L, "o", st->cname, &L->m->params[st->param], r, c);
        return;
    }
    case OP_HYPER:
        fprintf(out, "hy_%s", hyper_name[n->slot]);
        return;
    case OP_CONST:
        real(L, n->value);
        return;
    case OP_TRANSPOSE: expr(L, a, c, r); return;
    case OP_BCAST: expr(L, a, "0", c); return;
    case OP_SPLAT: expr(L, a, "0", "0"); return;
    case OP_ONEHOT:
        fputs("(", out);
        expr(L, a, r, "0");
        fprintf(out, " == (%s)(%s) ? ", L->R, c);
        real(L, 1.0);
        fputs(" : ", out);
        real(L, 0.0);
        fputs(")", out);
        return;
    case OP_MAX: /* a < b ? b : a */
        fprintf(out, "%s_max(", L->N);
        expr(L, a, r, c);
        fputs(", ", out);
        expr(L, b, r, c);
        fputc(')', out);
        return;
    case OP_SELECT:
        fputc('(', out);
        expr(L, a, r, c);
        fputs(" ? ", out);
        expr(L, b, r, c);
        fputs(" : ", out);
        expr(L, d, r, c);
        fputc(')', out);
        return;
    case OP_SIGMOID:
        fputc('(', out);
        real(L, 1.0);
        fputs(" / (", out);
        real(L, 1.0);
        fprintf(out, " + exp%s(-", L->o->fp64 ? "" : "f");
        expr(L, a, r, c);
        fputs(")))", out);
        return;
    default:
        break;
    }
    /* the rest as ops.h spells them in C: infix, prefix, or a libm call */
    const OpInfo *oi = &op_info[n->op];
    switch (oi->c_form) {
    case C_INFIX:
        fputc('(', out);
        expr(L, a, r, c);
        fputs(oi->c, out);
        expr(L, b, r, c);
        fputc(')', out);
        return;
    case C_PREFIX:
        fprintf(out, "(%s", oi->c);
        expr(L, a, r, c);
        fputc(')', out);
        return;
    case C_LIBM:
        fprintf(out, "%s%s(", oi->c, L->o->fp64 ? "" : "f");
        for (int i = 0; i < oi->arity; i++) {
            if (i)
                fputs(", ", out);
            expr(L, n->arg[i], r, c);
        }
        fputc(')', out);
        return;
    default:
        die("loops: %s read elementwise", op_name[n->op]);
    }
}

/* ---- the readable schedule (--emit=ir-scalar, --emit=kernels) ---- */

static const char *shape(const Node *n) {
    if (n->type.rank == 0)
        return "";
    if (n->type.rank == 1)
        return F("[%d]", n->type.dim[0]);
    return F("[%d,%d]", n->type.dim[0], n->type.dim[1]);
}

static const char *label(const Loops *L, int id) {
    const Node *n = &L->g->node[id];
    return F("%%%d%s%s", id, n->name ? " " : "", n->name ? n->name : "");
}

/* ---- C: the micro-kernel ---- */

static void ind(Loops *L, int depth) { fprintf(L->out, "%*s", 4 * depth, ""); }

/* The micro-kernel NAME_mk_MRxNR, printed once per shape: rows 0..mr of
 * C (+)= A . panel over kc terms, nr vectors of columns.  a is A's element
 * (i0, q0), its rows sai and terms saq apart; pk the panel from the block's
 * column on, its rows nc apart; c is C's element (i0, j), its rows ldc apart,
 * with n columns left in the row (a partial last vector is loaded and stored
 * element by element); cont: C holds a partial sum (else the sums start at
 * -0).  Each accumulator adds its terms in order, each product rounded. */
static void micro_def(Loops *L, int mr, int nr) {
    const char *N = L->N, *R = L->R;
    FILE *out = L->out;
    fprintf(out,
            "static void %s_mk%dx%d(int kc, const %s *a, int sai, int saq, const %s *pk, int nc, %s *c, int ldc, "
            "int n, int cont)\n{\n",
            N, mr, nr, R, R, R);
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < nr; v++)
            fprintf(out, "    %s_vec c%d_%d;\n    %s_LOAD(c%d_%d, c + %d * ldc + %d, n - %d, cont);\n", N, i, v, N, i,
                    v, i, v * L->W, v * L->W);
    fputs("    for (int q = 0; q < kc; q++) {\n", out);
    for (int v = 0; v < nr; v++)
        fprintf(out, "        const %s_vec b%d = *(const %s_vec *)(pk + q * nc + %d);\n", N, v, N, v * L->W);
    for (int i = 0; i < mr; i++) {
        fprintf(out, "        const %s a%d = a[%d * sai + q * saq];\n", R, i, i);
        for (int v = 0; v < nr; v++)
            fprintf(out, "        c%d_%d = c%d_%d + a%d * b%d;\n", i, v, i, v, i, v);
    }
    fputs("    }\n", out);
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < nr; v++)
            fprintf(out, "    %s_STORE(c + %d * ldc + %d, c%d_%d, n - %d);\n", N, i, v * L->W, i, v, v * L->W);
    fputs("}\n\n", out);
}

/* A call of micro-kernel mr x nr at rows i0, panel vector jv. */
static void micro(Loops *L, int depth, int mr, int nr, int aid, bool atr, const char *cptr, int ldc, int n,
                  bool acc) {
    const Node *A = &L->g->node[aid];
    int cols = cols_of(A);
    L->shape[mr][nr] = true;
    ind(L, depth);
    fprintf(L->out, "%s_mk%dx%d(kc, ", L->N, mr, nr);
    if (A->op == OP_INPUT || A->op == OP_TARGET) /* rows of x or t */
        fprintf(L->out, "%s + (size_t)(b0 + i0) * %d + q0, %d, 1", A->op == OP_INPUT ? "x" : "t", cols, cols);
    else if (!L->mat[aid])
        die("loops: a matrix product's left operand %%%d is not in a buffer", aid);
    else if (atr) /* A(i, q) is the buffer's element (q, i) */
        fprintf(L->out, "%s + q0 * %d + i0, 1, %d", buf_name(L, aid), cols, cols);
    else
        fprintf(L->out, "%s + i0 * %d + q0, %d, 1", buf_name(L, aid), cols, cols);
    fprintf(L->out, ", pk + jv, nc, %s + (size_t)i0 * %d + j0 + jv, %d, %d - (j0 + jv), %s);\n", cptr, ldc, ldc, n,
            acc ? "1" : "q0");
}

/* The blocks of rows i0.. of mr rows: full blocks of NR vectors, then single vectors. */
static void blocks(Loops *L, int depth, int mr, int aid, bool atr, const char *cptr, int ldc, int n, bool acc) {
    const int W = L->W, step = L->NR * W;
    FILE *out = L->out;
    ind(L, depth);
    fputs("int jv = 0;\n", out);
    ind(L, depth);
    fprintf(out, "for (; jv + %d <= nc; jv += %d)\n", step, step);
    micro(L, depth + 1, mr, L->NR, aid, atr, cptr, ldc, n, acc);
    if (L->NR > 1) {
        ind(L, depth);
        fprintf(out, "for (; jv < nc; jv += %d)\n", W);
        micro(L, depth + 1, mr, 1, aid, atr, cptr, ldc, n, acc);
    }
}

/* C[M x n] (+)= A[M x Q] . B[Q x n]: A(i, q) is node aid (transposed: at
 * (q, i)), B(q, j) node bid (at (j, q)), C row-major from cptr with rows ldc
 * apart.  M and Q are C expressions: M is m1 or m2 (the tile's rows, 0: no
 * second value), Q at most qmax.  acc: C holds a partial sum to continue
 * (else it starts at -0).  The rows that remain after the full blocks of MR
 * get a micro-kernel of exactly that many rows. */
static void gemm(Loops *L, int depth, const char *cptr, int ldc, const char *M, int m1, int m2, int n, int aid,
                 bool atr, const char *Q, int qmax, int bid, bool btr, bool acc) {
    const int W = L->W, step = L->NR * W;
    int np = (n + W - 1) / W * W;
    int nc = np, kc = qmax;
    if ((long)nc * kc > PANEL) {
        kc = qmax < 256 ? qmax : 256;
        nc = PANEL / kc / step * step;
        if (nc < step)
            nc = step;
        if (nc > np)
            nc = np;
        kc = PANEL / nc < qmax ? PANEL / nc : qmax;
    }
    FILE *out = L->out;
    ind(L, depth);
    fprintf(out, "for (int j0 = 0; j0 < %d; j0 += %d) {\n", np, nc);
    ind(L, depth + 1);
    fprintf(out, "const int nc = %d - j0 < %d ? %d - j0 : %d;\n", np, nc, np, nc);
    ind(L, depth + 1);
    fprintf(out, "for (int q0 = 0; q0 < %s; q0 += %d) {\n", Q, kc);
    ind(L, depth + 2);
    fprintf(out, "const int kc = %s - q0 < %d ? %s - q0 : %d;\n", Q, kc, Q, kc);
    /* the panel: B's rows q0.., padded to whole vectors; read along B's memory */
    const Node *b = &L->g->node[bid];
    bool along_q = (b->op == OP_TRANSPOSE) != btr;
    ind(L, depth + 2);
    fprintf(out, "for (int %s = 0; %s < %s; %s++) /* the panel of B, padded to whole vectors */\n",
            along_q ? "j" : "q", along_q ? "j" : "q", along_q ? "nc" : "kc", along_q ? "j" : "q");
    ind(L, depth + 3);
    fprintf(out, "for (int %s = 0; %s < %s; %s++)\n", along_q ? "q" : "j", along_q ? "q" : "j",
            along_q ? "kc" : "nc", along_q ? "q" : "j");
    ind(L, depth + 4);
    fprintf(out, "pk[q * nc + j] = j0 + j < %d ? ", n);
    if (btr)
        expr(L, bid, "j0 + j", "q0 + q");
    else
        expr(L, bid, "q0 + q", "j0 + j");
    fputs(" : 0;\n", out);
    ind(L, depth + 2);
    fprintf(out, "int i0 = 0;\n");
    ind(L, depth + 2);
    fprintf(out, "for (; i0 + %d <= %s; i0 += %d) {\n", L->MR, M, L->MR);
    blocks(L, depth + 3, L->MR, aid, atr, cptr, ldc, n, acc);
    ind(L, depth + 2);
    fputs("}\n", out);
    int r1 = m1 % L->MR, r2 = m2 % L->MR;
    for (int k = 0; k < 2; k++) {
        int r = k ? r2 : r1;
        if (!r || (k && r2 == r1))
            continue;
        ind(L, depth + 2);
        fprintf(out, "if (%s - i0 == %d) {\n", M, r);
        blocks(L, depth + 3, r, aid, atr, cptr, ldc, n, acc);
        ind(L, depth + 2);
        fputs("}\n", out);
    }
    ind(L, depth + 1);
    fputs("}\n", out);
    ind(L, depth);
    fputs("}\n", out);
}

/* ---- C: the statements of a tile ---- */

static void row_node(Loops *L, int id) {
    const Graph *g = L->g;
    const Node *n = &g->node[id];
    FILE *out = L->out;
    int C = cols_of(n);
    const char *b = buf_name(L, id);
    fprintf(out, "        /* %s = %s%s */\n", label(L, id), op_name[n->op], shape(n));
    if (n->op == OP_MATMUL) {
        const Node *A = &g->node[n->arg[0]];
        gemm(L, 2, b, C, "nv", L->T, L->rem, C, n->arg[0], false, F("%d", A->type.dim[1]), A->type.dim[1],
             n->arg[1], false, false);
        return;
    }
    if (n->op == OP_SOFTMAX || n->op == OP_LOGSOFTMAX) {
        int a = n->arg[0];
        fprintf(out, "        for (int r = 0; r < nv; r++) {\n            %s mx = ", L->R);
        expr(L, a, "r", "0");
        fprintf(out, ";\n            for (int c = 1; c < %d; c++)\n                mx = %s_max(mx, ", C, L->N);
        expr(L, a, "r", "c");
        fprintf(out, ");\n            %s sum = ", L->R);
        real(L, -0.0);
        fprintf(out, ";\n            for (int c = 0; c < %d; c++)\n                sum = sum + exp%s(", C,
                L->o->fp64 ? "" : "f");
        expr(L, a, "r", "c");
        fprintf(out, " - mx);\n");
        if (n->op == OP_LOGSOFTMAX)
            fprintf(out, "            const %s ls = log%s(sum);\n", L->R, L->o->fp64 ? "" : "f");
        fprintf(out, "            for (int c = 0; c < %d; c++)\n                %s[r * %d + c] = ", C, b, C);
        if (n->op == OP_SOFTMAX) {
            fprintf(out, "exp%s(", L->o->fp64 ? "" : "f");
            expr(L, a, "r", "c");
            fputs(" - mx) / sum;\n        }\n", out);
        } else {
            fputs("(", out);
            expr(L, a, "r", "c");
            fputs(" - mx) - ls;\n        }\n", out);
        }
        return;
    }
    fprintf(out, "        for (int r = 0; r < nv; r++)\n            for (int c = 0; c < %d; c++)\n", C);
    fprintf(out, "                %s[r * %d + c] = ", b, C);
    L->mat[id] = false;
    expr(L, id, "r", "c");
    L->mat[id] = true;
    fputs(";\n", out);
}

/* A sum over the batch, continued with this tile's samples in order. */
static void reduce(Loops *L, int id) {
    const Graph *g = L->g;
    const Node *n = &g->node[id];
    FILE *out = L->out;
    int a = n->arg[0];
    fprintf(out, "        /* %s = %s%s, this tile's samples */\n", label(L, id), op_name[n->op], shape(n));
    switch (n->op) {
    case OP_MATMUL: { /* transpose(a)[K, B] . b[B, N]: a weight's gradient */
        int at = g->node[a].arg[0], bt = n->arg[1]; /* a = transpose(at) */
        int K = n->type.dim[0], Nn = n->type.dim[1];
        const Param *p = &L->m->params[L->gslot[id]];
        const char *gp = F("&%s->%s[0]%s", grad_ptr(L), p->cname, p->cols ? "[0]" : "");
        if (L->gtrans[id]) /* dW[n][k] += sum_r b[r][n] a[r][k] */
            gemm(L, 2, gp, K, F("%d", Nn), Nn, 0, K, bt, true, "nv", L->T, at, false, true);
        else /* G[k][n] += sum_r a[r][k] b[r][n] */
            gemm(L, 2, gp, Nn, F("%d", K), K, 0, Nn, at, true, "nv", L->T, bt, false, true);
        return;
    }
    case OP_SUMROWS: {
        const Param *p = &L->m->params[L->gslot[id]];
        fprintf(out, "        for (int c = 0; c < %d; c++) {\n            %s s = %s->%s[c];\n", n->type.dim[0],
                L->R, grad_ptr(L), p->cname);
        fputs("            for (int r = 0; r < nv; r++)\n                s = s + ", out);
        expr(L, a, "r", "c");
        fprintf(out, ";\n            %s->%s[c] = s;\n        }\n", grad_ptr(L), p->cname);
        return;
    }
    case OP_SUMALL: {
        const Node *A = &g->node[a];
        fprintf(out, "        for (int r = 0; r < %s; r++)\n            for (int c = 0; c < %d; c++)\n",
                L->cls[a] == CL_ROW ? "nv" : "1", cols_of(A));
        fprintf(out, "                %s = %s + ", buf_name(L, id), buf_name(L, id));
        expr(L, a, "r", "c");
        fputs(";\n", out);
        return;
    }
    case OP_BCE: { /* (t - 1) max(log(1 - y), -100) - t max(log y, -100), summed */
        fprintf(out, "        for (int r = 0; r < nv; r++)\n            for (int c = 0; c < %d; c++) {\n",
                cols_of(&g->node[a]));
        fprintf(out, "                const %s y = ", L->R);
        expr(L, a, "r", "c");
        fprintf(out, ", tt = ");
        expr(L, n->arg[1], "r", "c");
        const char *f = L->o->fp64 ? "" : "f";
        fprintf(out, ";\n                const %s l1y = %s_max(log%s(", L->R, L->N, f);
        real(L, 1.0);
        fputs(" - y), ", out);
        real(L, -100.0);
        fprintf(out, "), ly = %s_max(log%s(y), ", L->N, f);
        real(L, -100.0);
        fputs(");\n", out);
        fprintf(out, "                %s = %s + ((tt - ", buf_name(L, id), buf_name(L, id));
        real(L, 1.0);
        fputs(") * l1y - tt * ly);\n            }\n", out);
        return;
    }
    default:
        die("loops: reduce %s", op_name[n->op]);
    }
}

/* The hyperparameters a kernel reads, computed once at its top (as emit_c). */
static void hypers(Loops *L) {
    const char *N = L->N, *R = L->R;
    const Optimizer *o = &L->m->opt;
    bool seen[HY_COUNT] = {false};
    for (int i = 0; i < L->g->n; i++)
        if (L->need[i] && L->g->node[i].op == OP_HYPER)
            seen[L->g->node[i].slot] = true;
    const char *lr = F("(o->lr != 0 ? (double)o->lr : %s_LR)", N);
    for (int h = 0; h < HY_COUNT; h++) {
        if (!seen[h])
            continue;
        fprintf(L->out, "    const %s hy_%s = ", h == HY_FIRST ? "int" : R, hyper_name[h]);
        switch ((Hyper)h) {
        case HY_LR: fprintf(L->out, "(%s)%s", R, lr); break;
        case HY_FIRST: fputs("o->steps == 0", L->out); break;
        case HY_STEP_SIZE:
            fprintf(L->out, "(%s)(%s / (1.0 - pow(%.17g, (double)(o->steps + 1))))", R, lr, o->beta1);
            break;
        case HY_BC2_SQRT: fprintf(L->out, "(%s)sqrt(1.0 - pow(%.17g, (double)(o->steps + 1)))", R, o->beta2); break;
        case HY_DECAY: fprintf(L->out, "(%s)(1.0 - %s * %.17g)", R, lr, o->weight_decay); break;
        case HY_COUNT: unreachable();
        }
        fputs(";\n", L->out);
    }
}

/* The RED nodes a root needs, elementwise after the batch sums: locals of one loop. */
static void update_loop(Loops *L, int slot) {
    const Graph *g = L->g;
    const Param *p = &L->m->params[slot];
    FILE *out = L->out;
    bool *in = xcalloc((size_t)g->n, sizeof(bool));
    bool any = false;
    for (int r = 0; r < g->nroot; r++) {
        const Root *rt = &g->root[r];
        int ps = rt->kind == ROOT_UPDATE ? rt->slot : rt->kind == ROOT_STATE ? L->m->states[rt->slot].param : -1;
        if (ps == slot && kernel_root(L->k, rt->kind))
            in[rt->node] = any = true;
    }
    if (!any) {
        free(in);
        return;
    }
    for (int i = g->n - 1; i >= 0; i--) /* the cone, down to the sums */
        if (in[i] && L->gslot[i] < 0 && L->cls[i] != CL_ROW)
            for (int a = 0; a < 3; a++)
                if (g->node[i].arg[a] >= 0)
                    in[g->node[i].arg[a]] = true;
    fprintf(out, "    /* %s: the update, element by element */\n", p->name);
    fprintf(out, "    for (int i = 0; i < %d; i++)\n", p->cols ? p->rows : 1);
    fprintf(out, "        for (int j = 0; j < %d; j++) {\n", p->cols ? p->cols : p->rows);
    const char *ri = p->cols ? "i" : "0";
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->node[i];
        if (!in[i] || !elementwise(n->op) || n->type.dt == DT_BOOL || n->type.rank == 0 || L->cls[i] == CL_ROW)
            continue;
        fprintf(out, "            const %s u%d = ", L->R, i);
        expr(L, i, ri, "j");
        fputs(";\n", out);
        L->local[i] = F("u%d", i); /* later reads use the local */
    }
    for (int r = 0; r < g->nroot; r++) {
        const Root *rt = &g->root[r];
        if (!kernel_root(L->k, rt->kind) || !in[rt->node] || (rt->kind != ROOT_UPDATE && rt->kind != ROOT_STATE))
            continue;
        const Param *pp = rt->kind == ROOT_UPDATE ? &L->m->params[rt->slot]
                                                  : &L->m->params[L->m->states[rt->slot].param];
        if (pp != p)
            continue;
        fputs("            ", out);
        if (rt->kind == ROOT_UPDATE)
            member(L, "p", p->cname, p, ri, "j");
        else
            member(L, "o", L->m->states[rt->slot].cname, p, ri, "j");
        fputs(" = ", out);
        expr(L, rt->node, ri, "j");
        fputs(";\n", out);
    }
    fputs("        }\n", out);
    for (int i = 0; i < g->n; i++)
        if (in[i] && elementwise(g->node[i].op) && g->node[i].type.dt != DT_BOOL && g->node[i].type.rank > 0)
            L->local[i] = NULL;
    free(in);
}

/* A kernel's body after its prototype. */
static void kernel(Loops *L, Kernel k) {
    plan(L, k);
    const Graph *g = L->g;
    FILE *out = L->out;
    const char *R = L->R;
    int B = k == K_FORWARD ? 1 : L->m->batch;
    if (k == K_APPLY) { /* the updates alone, from the gradient g */
        fputs("{\n", out);
        hypers(L);
        for (int s = 0; s < L->m->nparams; s++)
            update_loop(L, s);
        /* o->grad holds the last step's gradient (the trainable parameters'), as after NAME_step */
        fputs("    o->steps += 1;\n    if (&o->grad != g) {\n", out);
        for (int s = 0; s < L->m->nparams; s++)
            if (L->m->params[s].trainable)
                fprintf(out, "        __builtin_memcpy(o->grad.%s, g->%s, sizeof o->grad.%s);\n",
                        L->m->params[s].cname, L->m->params[s].cname, L->m->params[s].cname);
        fputs("    }\n}\n\n", out);
        return;
    }
    fprintf(out, "{\n    /* tiles of %d sample%s; %ld bytes of buffers on the stack */\n", L->T, L->T == 1 ? "" : "s",
            L->stack);
    if (k != K_FORWARD)
        hypers(L);
    for (int i = 0; i < g->n; i++)
        if (L->mat[i])
            fprintf(out, "    %s %s[%d * %d]; /* %s */\n", R, buf_name(L, i), L->T, cols_of(&g->node[i]),
                    label(L, i));
    fprintf(out, "    %s pk[%ld] __attribute__((aligned(64))); /* a product's packed right operand */\n", R, L->panel);
    /* the sums over the batch start at -0 */
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->node[i];
        if (!L->need[i] || L->cls[i] != CL_RED || elementwise(n->op))
            continue;
        if (L->gslot[i] >= 0) {
            const Param *p = &L->m->params[L->gslot[i]];
            fprintf(out, "    for (int i = 0; i < %d; i++)\n        (&%s->%s%s)[i] = ", p->size, grad_ptr(L),
                    p->cname, p->cols ? "[0][0]" : "[0]");
            real(L, -0.0);
            fputs(";\n", out);
        } else if (n->op == OP_SUMALL || n->op == OP_BCE) {
            fprintf(out, "    %s %s = ", R, buf_name(L, i));
            real(L, -0.0);
            fputs(";\n", out);
            L->local[i] = buf_name(L, i);
        }
    }
    fprintf(out, "    for (int b0 = 0; b0 < %d; b0 += %d) {\n", B, L->T);
    if (B % L->T == 0) /* the samples of this tile: constants, which bound every loop */
        fprintf(out, "        const int nv = %d;\n", L->T);
    else
        fprintf(out, "        const int nv = b0 + %d <= %d ? %d : %d;\n", L->T, B, L->T, B % L->T);
    for (int i = 0; i < g->n; i++) {
        if (!L->need[i])
            continue;
        const Node *n = &g->node[i];
        if (L->mat[i])
            row_node(L, i);
        else if (L->cls[i] == CL_RED && !elementwise(n->op) && n->op != OP_TRANSPOSE && n->op != OP_SPLAT &&
                 n->op != OP_BCAST)
            reduce(L, i);
    }
    if (k == K_FORWARD) {
        for (int r = 0; r < g->nroot; r++)
            if (g->root[r].kind == ROOT_OUTPUT) {
                fprintf(out, "        for (int c = 0; c < %d; c++)\n            y[c] = ",
                        cols_of(&g->node[g->root[r].node]));
                expr(L, g->root[r].node, "0", "c");
                fputs(";\n", out);
            }
        fputs("    }\n}\n\n", out);
        return;
    }
    fputs("    }\n", out);
    /* scalars after the sums: the loss */
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->node[i];
        if (!L->need[i] || L->cls[i] != CL_RED || n->type.rank != 0)
            continue;
        if (n->op == OP_BCE && n->index > 1) {
            fprintf(out, "    %s = %s / ", buf_name(L, i), buf_name(L, i));
            real(L, n->index);
            fputs(";\n", out);
        } else if (elementwise(n->op)) {
            fprintf(out, "    const %s %s = ", R, buf_name(L, i));
            expr(L, i, "0", "0");
            fputs(";\n", out);
            L->local[i] = buf_name(L, i);
        }
    }
    int loss = -1;
    for (int r = 0; r < g->nroot; r++)
        if (g->root[r].kind == ROOT_LOSS)
            loss = g->root[r].node;
    if (k != K_GRAD) {
        for (int s = 0; s < L->m->nparams; s++)
            update_loop(L, s);
        fputs("    o->steps += 1;\n", out);
    }
    fputs("    return ", out);
    expr(L, loss, "0", "0");
    fputs(";\n}\n\n", out);
}

/* Scalar RED nodes are named locals too (expr prints their name). */

static void loops_init(Loops *L, FILE *out, const Graph *g, const Model *m, int width, const EmitOptions *o) {
    memset(L, 0, sizeof *L);
    L->out = out;
    L->g = g;
    L->m = m;
    L->o = o;
    L->N = m->name;
    L->R = o->fp64 ? "double" : "float";
    L->W = width < 2 ? 1 : width;
    L->MR = L->W >= 16 ? 8 : 4; /* 24 or 12 accumulators: AVX-512 has 32 registers, AVX 16 */
    L->NR = 3;
    L->cls = xcalloc((size_t)g->n, sizeof(Cls));
    L->need = xcalloc((size_t)g->n, sizeof(bool));
    L->uses = xcalloc((size_t)g->n, sizeof(int));
    L->mat = xcalloc((size_t)g->n, sizeof(bool));
    L->local = xcalloc((size_t)g->n, sizeof(char *));
    L->gslot = xcalloc((size_t)g->n, sizeof(int));
    L->gtrans = xcalloc((size_t)g->n, sizeof(bool));
    classify(L);
}

static void loops_free(Loops *L) {
    free(L->cls);
    free(L->need);
    free(L->uses);
    free(L->mat);
    free(L->local);
    free(L->gslot);
    free(L->gtrans);
}

long loops_stack(const Graph *g, const Model *m, int width, const EmitOptions *o) {
    Loops L;
    loops_init(&L, NULL, g, m, width, o);
    long most = 0;
    for (Kernel k = K_FORWARD; k <= K_STEP; k++) {
        plan(&L, k);
        most = L.stack > most ? L.stack : most;
    }
    /* a micro-kernel's frame: its MR x NR accumulator vectors, which an
     * unoptimized register allocation (-O1) may keep in memory with their
     * copies; four tiles' worth (measured at most 3.7 tiles at 16 lanes) */
    most += 4L * L.MR * L.NR * L.W * (o->fp64 ? 8 : 4);
    loops_free(&L);
    return most;
}

void emit_loops(FILE *out, const Graph *g, const Model *m, int width, const EmitOptions *o) {
    Loops L;
    loops_init(&L, out, g, m, width, o);
    const char *N = m->name, *R = L.R;
    int W = L.W, bytes = W * (o->fp64 ? 8 : 4);
    fprintf(out,
            "/* The loop schedule (--unroll): vectors of %d lanes (GCC/Clang vector extensions). */\n"
            "typedef %s %s_vec __attribute__((vector_size(%d)));\n"
            "typedef %s %s_vecu __attribute__((vector_size(%d), aligned(%d), may_alias));\n\n"
            "/* The IR's max: a < b ? b : a (a NaN in a comes through). */\n"
            "static inline %s %s_max(%s a, %s b) { return a < b ? b : a; }\n\n"
            "/* An accumulator vector: from n (< %d: the row's last) elements at p, or -0\n"
            " * when `cont` is 0; stored back the same way, never past the row. */\n"
            "#define %s_LOAD(v, p, n, cont)                                                    \\\n"
            "    do {                                                                      \\\n"
            "        if (!(cont))                                                          \\\n"
            "            (v) = -(%s_vec){0};                                               \\\n"
            "        else if ((n) >= %d)                                                   \\\n"
            "            (v) = *(const %s_vecu *)(p);                                      \\\n"
            "        else {                                                                \\\n"
            "            (v) = (%s_vec){0};                                                \\\n"
            "            for (int l_ = 0; l_ < %d; l_++) /* not a memcpy of n */           \\\n"
            "                if (l_ < (n))                                                 \\\n"
            "                    (v)[l_] = (p)[l_];                                        \\\n"
            "        }                                                                     \\\n"
            "    } while (0)\n"
            "#define %s_STORE(p, v, n)                                                        \\\n"
            "    do {                                                                      \\\n"
            "        if ((n) >= %d)                                                        \\\n"
            "            *(%s_vecu *)(p) = (v);                                            \\\n"
            "        else                                                                  \\\n"
            "            for (int l_ = 0; l_ < %d; l_++)                                   \\\n"
            "                if (l_ < (n))                                                 \\\n"
            "                    (p)[l_] = (v)[l_];                                        \\\n"
            "    } while (0)\n\n",
            W, R, N, bytes, R, N, bytes, o->fp64 ? 8 : 4, R, N, R, R, W, N, N, W, N, N, W, N, W, N, W);
    /* the kernels first into memory: the micro-kernels they call are defined before them */
    char *body = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&body, &len);
    if (!mem)
        die("loops: open_memstream failed");
    L.out = mem;
    fprintf(mem, "void %s_forward(const %s_params *p, const %s *x, %s *y)\n", N, N, R, R);
    kernel(&L, K_FORWARD);
    fprintf(mem, "%s %s_grad(const %s_params *p, const %s *x, const %s *t, %s_params *g)\n", R, N, N, R, R, N);
    kernel(&L, K_GRAD);
    fprintf(mem, "%s %s_step(%s_params *p, %s_optim *o, const %s *x, const %s *t)\n", R, N, N, N, R, R);
    kernel(&L, K_STEP);
    if (fclose(mem) != 0)
        die("loops: the kernels' buffer failed");
    L.out = out;
    for (int mr = 8; mr >= 1; mr--)
        for (int nr = 4; nr >= 1; nr--)
            if (L.shape[mr][nr])
                micro_def(&L, mr, nr);
    fwrite(body, 1, len, out);
    free(body);
    fprintf(out,
            "%s %s_train(%s_params *p, %s_optim *o, const %s *x, const %s *t, size_t n)\n{\n"
            "    const size_t steps = n / %s_BATCH;\n    double total = 0.0;\n"
            "    for (size_t s = 0; s < steps; s++)\n"
            "        total += %s_step(p, o, x + s * %s_BATCH * %s_IN, t + s * %s_BATCH * %s_TARGETS);\n"
            "    return steps ? (%s)(total / (double)steps) : 0;\n}\n\n",
            R, N, N, N, R, R, N, N, N, N, N, N, R);
    fprintf(out, "/* %s_apply: the update alone, from the gradient g: %s_grad then %s_apply is %s_step. */\n", N, N,
            N, N);
    fprintf(out, "void %s_apply(%s_params *p, %s_optim *o, const %s_params *g)\n", N, N, N, N);
    L.shape[0][0] = false;
    kernel(&L, K_APPLY);
    loops_free(&L);
}

/* ---- the readable schedule ---- */

void loops_print(FILE *out, const Graph *g, const Model *m, int width, const EmitOptions *o) {
    Loops L;
    loops_init(&L, out, g, m, width, o);
    L.text = true;
    static const char *const cls_name[] = {"pre", "row", "rowT", "red"};
    fprintf(out, "; loop schedule of '%s' (batch %d, %d-lane vectors, micro-kernel %dx%d vectors)\n", m->name,
            m->batch, L.W, L.MR, L.NR);
    for (Kernel k = K_FORWARD; k <= K_STEP; k++) {
        plan(&L, k);
        fprintf(out, "%s_%s: tiles of %d sample%s, %ld bytes of stack\n", m->name, kernel_name[k], L.T,
                L.T == 1 ? "" : "s", L.stack);
        for (int i = 0; i < g->n; i++) {
            const Node *n = &g->node[i];
            if (!L.need[i])
                continue;
            if (L.mat[i]) {
                fprintf(out, "  tile   %s = %s%s", label(&L, i), op_name[n->op], shape(n));
                if (n->op == OP_MATMUL)
                    fprintf(out, " micro-kernel over %d", g->node[n->arg[0]].type.dim[1]);
                fputc('\n', out);
            } else if (L.cls[i] == CL_RED && !elementwise(n->op) && n->op != OP_TRANSPOSE && n->op != OP_SPLAT &&
                       n->op != OP_BCAST) {
                fprintf(out, "  sum    %s = %s%s over the batch%s\n", label(&L, i), op_name[n->op], shape(n),
                        L.gslot[i] >= 0 ? F(" into the gradient of %s%s", m->params[L.gslot[i]].name,
                                                 L.gtrans[i] ? " (transposed)" : "")
                                        : "");
            }
        }
        if (k == K_STEP)
            for (int r = 0; r < g->nroot; r++)
                if (g->root[r].kind == ROOT_UPDATE)
                    fprintf(out, "  update %s: one loop over %d elements\n", m->params[g->root[r].slot].name,
                            m->params[g->root[r].slot].size);
        (void)cls_name;
    }
    fprintf(out, "%s_train: %s_step on each batch\n", m->name, m->name);
    loops_free(&L);
}

void emit_c_loops(FILE *out, const Model *m, const Graph *g, int width, const EmitOptions *o) {
    emit_c_prologue(out, m, o);
    fprintf(out, "_Static_assert(sizeof(%s_params) == %s_PARAMS_BYTES && sizeof(%s_optim) == "
                 "%s_OPTIM_BYTES, \"the header's sizes\");\n\n",
            m->name, m->name, m->name, m->name);
    emit_init(out, m, o);
    emit_loops(out, g, m, width, o);
    if (!o->fp64)
        emit_trainer(out, m);
}
