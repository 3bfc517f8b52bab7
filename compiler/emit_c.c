/* emit_c.c: the kernel programs printed as C11 (emit_c_api.c prints what is around them).
 *
 * The emitter renders each kernel's program (kprog.c) statement by
 * statement and decides nothing about the schedule.  What it decides is
 * presentation: leaves and constants print inline, a node the plan gives no
 * local is inlined into its user, everything else is a `const` local named
 * after its node (hidden_z_0, d_hidden_weight_2_4, tmp7); vectors are GCC
 * vector types.  Stores to outputs come after every computation, so a kernel
 * may read and write the same params.
 */
#include "netc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct Emit {
    FILE *out;
    const Model *m;
    const Graph *s;
    const EmitOptions *o;
    const char *real;   /* "float" or "double" */
    const Plan *pl;     /* the kernel being printed: its program's plan */
    bool inline_all;    /* print whole expressions from memory (NAME_train's prologue) */
    int def;            /* the node whose definition is printed (KS_DEF), or -1 */
    int lines;          /* vector loads printed in this body */
    const char *chunk[64]; /* the locals of the body's whole-vector loads, by slot */
} Emit;

/* ---- expressions ---- */

static void print_real(Emit *e, double v) { c_real(e->out, v, e->o->fp64); }

static int precedence(const Emit *e, int id) {
    const Node *n = &e->s->node[id];
    if (!e->inline_all && id != e->def && (e->pl->is_var[id] || plan_pack(e->pl, id) >= 0))
        return 10;
    if (n->op == OP_CONST)
        return n->value < 0 || signbit(n->value) ? 8 : 10;
    return op_info[n->op].c_prec; /* ops.h */
}

static void expr(Emit *e, int id);

static void operand(Emit *e, int id, int min_prec) {
    bool paren = precedence(e, id) < min_prec;
    if (paren)
        fputc('(', e->out);
    expr(e, id);
    if (paren)
        fputc(')', e->out);
}

/* Element k of a member shaped as parameter p: "p->hidden_weight[1][2]". */
static void member_ref(Emit *e, const char *ptr, const char *cname, const Param *p, int k) {
    if (p->cols)
        fprintf(e->out, "%s->%s[%d][%d]", ptr, cname, k / p->cols, k % p->cols);
    else
        fprintf(e->out, "%s->%s[%d]", ptr, cname, k);
}

static void leaf(Emit *e, const Node *n) {
    switch (n->op) {
    case OP_INPUT: fprintf(e->out, "x[%d]", n->index); return;
    case OP_TARGET: fprintf(e->out, "t[%d]", n->index); return;
    case OP_NEXT: fprintf(e->out, "xn[%d]", n->index); return;
    case OP_PARAM:
        member_ref(e, "p", e->m->params[n->slot].cname, &e->m->params[n->slot], n->index);
        return;
    case OP_GRADIENT:
        member_ref(e, "g", e->m->params[n->slot].cname, &e->m->params[n->slot], n->index);
        return;
    case OP_STATE: {
        const State *st = &e->m->states[n->slot];
        member_ref(e, "o", st->cname, &e->m->params[st->param], n->index);
        return;
    }
    default: unreachable();
    }
}

/* Node i of a hyperparameter formula (abi.c) as C, in double; `step` is the
 * expression of the step counter.  Parenthesized where C's precedence needs it. */
static int hx_prec(HxOp op) { return op == HX_SUB ? 1 : op == HX_MUL || op == HX_DIV ? 2 : 3; }

static void hx_expr(Emit *e, const HyperFormula *f, int i, const char *step) {
    const Hx *x = &f->e[i];
    switch (x->op) {
    case HX_LR:
        fprintf(e->out, "(o->lr != 0 ? (double)o->lr : %s_LR)", e->m->name);
        return;
    case HX_FIRST:
        fprintf(e->out, "%s == 0", step);
        return;
    case HX_STEP1:
        fprintf(e->out, "(double)(%s + 1)", step);
        return;
    case HX_ONE:
        fputs("1.0", e->out);
        return;
    case HX_CONST:
        fprintf(e->out, "%.17g", x->c);
        return;
    case HX_POW: case HX_SQRT:
        fputs(x->op == HX_POW ? "pow(" : "sqrt(", e->out);
        hx_expr(e, f, x->a, step);
        if (x->op == HX_POW) {
            fputs(", ", e->out);
            hx_expr(e, f, x->b, step);
        }
        fputc(')', e->out);
        return;
    case HX_SUB: case HX_MUL: case HX_DIV: {
        int p = hx_prec(x->op);
        bool pa = hx_prec(f->e[x->a].op) < p, pb = hx_prec(f->e[x->b].op) <= p;
        fputs(pa ? "(" : "", e->out);
        hx_expr(e, f, x->a, step);
        fprintf(e->out, "%s %c ", pa ? ")" : "", x->op == HX_SUB ? '-' : x->op == HX_MUL ? '*' : '/');
        fputs(pb ? "(" : "", e->out);
        hx_expr(e, f, x->b, step);
        fputs(pb ? ")" : "", e->out);
        return;
    }
    }
    unreachable();
}

/* A per-step scalar: its formula, cast to the kernel's precision. */
static void hyper_def(Emit *e, Hyper h, const char *step) {
    HyperFormula f = hyper_formula(&e->m->opt, h);
    const Hx *top = &f.e[f.n - 1];
    if (top->op == HX_FIRST) {
        hx_expr(e, &f, f.n - 1, step);
        return;
    }
    bool paren = hx_prec(top->op) < 3; /* a cast binds tighter than any operator */
    fprintf(e->out, "(%s)%s", e->real, paren ? "(" : "");
    hx_expr(e, &f, f.n - 1, step);
    fputs(paren ? ")" : "", e->out);
}

/* fn(args[0], ..., args[n-1]), each argument a whole expression. */
static void call_n(Emit *e, const char *fn, const int *args, int n) {
    fprintf(e->out, "%s(", fn);
    for (int i = 0; i < n; i++) {
        if (i)
            fputs(", ", e->out);
        expr(e, args[i]);
    }
    fputc(')', e->out);
}

/* NAME_fn(args[0], ..., args[n-1]). */
static void helper_call(Emit *e, const char *fn, const int *args, int n) {
    call_n(e, format("%s_%s", e->m->name, fn), args, n);
}

/* The ops that ops.h spells as CODE: helpers and formulas. */

static void c_sigmoid(Emit *e, const Node *n) { /* 1 / (1 + e^-a) */
    print_real(e, 1.0f);
    fputs(" / (", e->out);
    print_real(e, 1.0f);
    fputs(" + ", e->out);
    fprintf(e->out, "exp%s(-", e->o->fp64 ? "" : "f");
    operand(e, n->arg[0], 9);
    fputs("))", e->out);
}

static void c_max(Emit *e, const Node *n) { /* a < b ? b : a: a NaN in a comes through, as in torch.relu */
    helper_call(e, "max", (const int[]){n->arg[0], n->arg[1]}, 2);
}

static void c_select(Emit *e, const Node *n) { /* c ? a : b */
    const Node *cn = &e->s->node[n->arg[0]];
    if (e->pl->pk->npack && (cn->op == OP_GT || cn->op == OP_EQ) && plan_pack(e->pl, n->arg[0]) < 0) {
        /* compare and select in vector registers (plan.c gives the compare no local) */
        helper_call(e, cn->op == OP_GT ? "sgt" : "seq", (const int[]){cn->arg[0], cn->arg[1], n->arg[1], n->arg[2]},
                    4);
        return;
    }
    helper_call(e, "sel", n->arg, 3);
}

static void (*const c_code[OP_COUNT])(Emit *, const Node *) = {
    [OP_SIGMOID] = c_sigmoid,
    [OP_MAX] = c_max,
    [OP_SELECT] = c_select,
};

static void expr(Emit *e, int id) {
    const Node *n = &e->s->node[id];
    int v = e->inline_all || id == e->def ? -1 : plan_pack(e->pl, id);
    if (v >= 0) { /* a lane of a vector local */
        fprintf(e->out, "%s[%d]", e->pl->pack_var[v], e->pl->pk->lane_of[id]);
        return;
    }
    if (e->pl->is_var[id] && !e->inline_all && id != e->def) {
        fputs(e->pl->var[id], e->out);
        return;
    }
    const OpInfo *op = &op_info[n->op]; /* ops.h */
    int prec = precedence(e, id);
    switch (op->c_form) {
    case C_LEAF:
        if (n->op == OP_HYPER)
            hyper_def(e, (Hyper)n->slot, e->pl->k == K_TRAIN ? "o->steps + s" : "o->steps");
        else if (n->op == OP_CONST)
            print_real(e, n->value);
        else
            leaf(e, n);
        return;
    case C_INFIX:
        operand(e, n->arg[0], prec); /* left-associative: a left operand of the same */
        fputs(op->c, e->out);        /* precedence needs no parentheses, a right one does */
        operand(e, n->arg[1], prec + 1);
        return;
    case C_PREFIX:
        fputs(op->c, e->out);
        operand(e, n->arg[0], prec + 1);
        return;
    case C_LIBM: /* expf, ... (exp, ... with --fp64) */
        call_n(e, format("%s%s", op->c, e->o->fp64 ? "" : "f"), n->arg, op->arity);
        return;
    case C_CODE:
        c_code[n->op](e, n);
        return;
    case C_NONE:
        break;
    }
    die("emit_c: %s in a scalar graph", op_name[n->op]);
}

/* ---- kernels ---- */

static const char *const phase_title[] = {"forward", "backward", "update"};

/* ---- vectors ---- */

static const char *vtype(const Emit *e, bool mask) {
    return format("%s_v%d%s", e->m->name, e->pl->pk->width, mask ? "i" : "");
}

/* A vector literal of the lanes' scalar expressions, 0 past the used lanes;
 * in a mask, a scalar compare's lane (0 or 1 in C) is negated to 0 or -1,
 * and a lane of a vector mask is 0 or -1 already.  In parentheses, so that
 * its commas do not split the argument of NAME_vsel. */
static void vector_literal(Emit *e, const int *ids, int lanes, bool mask) {
    fprintf(e->out, "((%s){", vtype(e, mask)); /* parenthesized: a macro argument */
    for (int i = 0; i < e->pl->pk->width; i++) {
        if (i)
            fputs(", ", e->out);
        if (i < lanes && mask && (e->inline_all || plan_pack(e->pl, ids[i]) < 0)) { /* a scalar compare's 0 or 1 */
            fputs("-(", e->out);
            expr(e, ids[i]);
            fputc(')', e->out);
        } else if (i < lanes) {
            expr(e, ids[i]); /* a lane of a vector mask is 0 or -1 already */
        } else if (mask)
            fputc('0', e->out);
        else
            print_real(e, 0.0);
    }
    fputs("})", e->out);
}

/* Operand o of a vector statement (kprog.c's Vop): a packed vector, lanes of
 * two vectors moved, a compare of splats, or a vector literal. */
static void vector_operand(Emit *e, const Vop *o) {
    int w = e->pl->pk->width;
    switch (o->kind) {
    case VOP_PACK:
        fputs(e->pl->pack_var[o->pack], e->out);
        return;
    case VOP_SHUFFLE:
        fprintf(e->out, "__builtin_shufflevector(%s, %s", e->pl->pack_var[o->pack], e->pl->pack_var[o->pack2]);
        for (int i = 0; i < w; i++)
            fprintf(e->out, ", %d",
                    i >= o->n ? -1 : e->pl->pk->lane_of[o->id[i]] + (plan_pack(e->pl, o->id[i]) == o->pack ? 0 : w));
        fputc(')', e->out);
        return;
    case VOP_CMP_SPLAT: {
        const Node *c = &e->s->node[o->id[0]];
        int a[LIMIT_LANES], b[LIMIT_LANES];
        for (int i = 0; i < w; i++)
            a[i] = c->arg[0], b[i] = c->arg[1];
        fputc('(', e->out);
        vector_literal(e, a, w, false);
        fputs(c->op == OP_GT ? " > " : " == ", e->out);
        vector_literal(e, b, w, false);
        fputc(')', e->out);
        return;
    }
    case VOP_SPLAT: case VOP_LANES: /* a splat from memory: splats_from_memory's asm */
        vector_literal(e, o->id, o->n, o->mask);
        return;
    }
    unreachable();
}

/* `const NAME_v4 v_hidden_z_0 = ...;`: every lane's node at once. */
static void vector_statement(Emit *e, const KStmt *st, const char *indent) {
    const Pack *v = &e->pl->pk->pack[st->pack];
    const Node *n = &e->s->node[v->node[0]];
    const char *N = e->m->name;
    fprintf(e->out, "%sconst %s %s = ", indent, vtype(e, n->type.dt == DT_BOOL), e->pl->pack_var[st->pack]);
    const OpInfo *op = &op_info[n->op]; /* ops.h: the scalar operator, or a helper lane by lane */
    if (op->c_form == C_INFIX) {
        vector_operand(e, &st->op[0]);
        fputs(op->c, e->out);
        vector_operand(e, &st->op[1]);
    } else if (op->c_form == C_PREFIX) {
        fputs(op->c, e->out);
        vector_operand(e, &st->op[0]);
    } else if (op->cvec) {
        fprintf(e->out, "%s_%s(", N, op->cvec);
        for (int a = 0; a < st->nop; a++) {
            if (a)
                fputs(", ", e->out);
            vector_operand(e, &st->op[a]);
        }
        fputc(')', e->out);
    } else {
        die("emit_c: %s in a vector", op_name[n->op]);
    }
    fputs(";\n", e->out);
}

/* Operand o of a strided pack's shuffle program (plan_shuffles): a chunk
 * (-1 - c), or a step printed as a nested __builtin_shufflevector; equal
 * steps of two packs are equal expressions, which the compiler merges. */
static void shuffle_operand(Emit *e, const KStmt *st, int o) {
    if (o < 0) {
        fputs(e->chunk[st->chunks[-1 - o]], e->out);
        return;
    }
    fputs("__builtin_shufflevector(", e->out);
    shuffle_operand(e, st, st->shuf[o].a);
    fputs(", ", e->out);
    shuffle_operand(e, st, st->shuf[o].b);
    for (int k = 0; k < e->pl->pk->width; k++)
        fprintf(e->out, ", %d", st->shuf[o].idx[k]);
    fputc(')', e->out);
}

/* A leaf vector from memory, lane by lane: "(NAME_v4){p->w[0][0], ...}". */
static void leaf_vector(Emit *e, int vi) {
    const Pack *v = &e->pl->pk->pack[vi];
    fprintf(e->out, "(%s){", vtype(e, false));
    for (int i = 0; i < e->pl->pk->width; i++) {
        if (i)
            fputs(", ", e->out);
        if (i < v->lanes)
            leaf(e, &e->s->node[v->node[i]]);
        else
            print_real(e, 0.0);
    }
    fputs("};\n", e->out);
}

/* A section heading: the phase, then the layer (or the loss or optimizer). */
static void note(Emit *e, const KStmt *st, const char *indent) {
    const Node *n = &e->s->node[st->node];
    if (st->phase) {
        fprintf(e->out, "%s%s/* ---- %s ---- */\n", e->lines ? "\n" : "", indent, phase_title[n->phase]);
        e->lines = 1;
    }
    if (n->layer >= 0 && n->phase == PH_UPDATE) { /* loc: the optimizer's line */
        fprintf(e->out, "%s/* %s: %s step on its parameters  (%s:%d:%d) */\n", indent, e->m->layers[n->layer].name,
                opt_name[e->m->opt.kind], c_comment(e->m->file), n->loc.line, n->loc.col);
    } else if (n->layer >= 0) {
        const Layer *L = &e->m->layers[n->layer];
        int in = n->layer ? e->m->layers[n->layer - 1].out : e->m->input;
        fprintf(e->out, "%s/* %s: linear %d -> %d%s, %s%s  (%s:%d:%d) */\n", indent, L->name, in, L->out,
                L->bias ? "" : " without bias", act_name[L->act], L->trainable ? "" : ", frozen",
                c_comment(e->m->file), n->loc.line, n->loc.col);
    } else if (n->loc.line) {
        fprintf(e->out, "%s/* %s  (%s:%d:%d) */\n", indent,
                format("%s: %s", n->phase == PH_UPDATE ? "optimizer" : "loss",
                       n->phase == PH_UPDATE ? opt_name[e->m->opt.kind] : loss_name[e->m->loss]),
                c_comment(e->m->file), n->loc.line, n->loc.col);
    }
}

/* The carried local or lane a statement names: "v_w[2]" or "hidden_weight_0_1". */
static void carried(Emit *e, const KStmt *st) {
    if (st->pack >= 0)
        fprintf(e->out, "%s[%d]", e->pl->pack_var[st->pack], st->lane);
    else
        fputs(e->pl->var[st->node], e->out);
}

/* Where root r lives in memory: "y[0]", "g->w[0][1]", "p->w[0][1]". */
static void root_at(Emit *e, const Root *r) {
    switch (r->kind) {
    case ROOT_OUTPUT: fprintf(e->out, "y[%d]", r->index); return;
    case ROOT_GRAD: member_ref(e, "g", e->m->params[r->slot].cname, &e->m->params[r->slot], r->index); return;
    default: {
        Node n = {.op = plan_root_leaf(r->kind), .slot = r->slot, .index = r->index};
        leaf(e, &n);
        return;
    }
    }
}

/* Renders the kernel program kp: one case per statement kind. */
static void render(Emit *e, const KProg *kp) {
    const char *N = e->m->name, *R = e->real;
    e->pl = &kp->pl;
    e->s = kp->pl.s;
    const char *indent = "    ";
    for (int i = 0; i < kp->n; i++) {
        const KStmt *st = &kp->st[i];
        const Node *n = st->node >= 0 ? &e->s->node[st->node] : NULL;
        switch (st->kind) {
        case KS_BODY:
            fputc('\n', e->out);
            e->lines = 0;
            break;
        case KS_NOTE:
            note(e, st, indent);
            break;
        case KS_CHUNK:
            e->chunk[st->chunk] = st->name;
            fprintf(e->out, "%sconst %s %s = *(const %su *)(%s + %d);\n", indent, vtype(e, false), st->name,
                    vtype(e, false), st->t ? "t" : "x", st->at);
            break;
        case KS_VSTRIDED:
            e->lines++;
            fprintf(e->out, "%sconst %s %s = ", indent, vtype(e, false), e->pl->pack_var[st->pack]);
            shuffle_operand(e, st, st->nshuf - 1);
            fputs(";\n", e->out);
            break;
        case KS_VLOAD:
            e->lines++;
            fprintf(e->out, "%sconst %s %s = ", indent, vtype(e, false), e->pl->pack_var[st->pack]);
            leaf_vector(e, st->pack);
            break;
        case KS_VCARRY: {
            const Node *n0 = &e->s->node[e->pl->pk->pack[st->pack].node[0]];
            if (n0->op == OP_CARRY) { /* set by the prologue */
                fprintf(e->out, "%s%s %s = {0};\n", indent, vtype(e, false), e->pl->pack_var[st->pack]);
                break;
            }
            fprintf(e->out, "%s%s%s %s = ", indent, plan_frozen(e->pl, n0) ? "const " : "", vtype(e, false),
                    e->pl->pack_var[st->pack]);
            leaf_vector(e, st->pack);
            break;
        }
        case KS_VDEF:
            vector_statement(e, st, indent);
            break;
        case KS_DEF:
            fprintf(e->out, "%sconst %s %s = ", indent, n->type.dt == DT_BOOL ? "int" : R, e->pl->var[st->node]);
            e->def = st->node; /* print the definition, not the name */
            expr(e, st->node);
            e->def = -1;
            fputs(";\n", e->out);
            break;
        case KS_BODY_END:
            fputc('\n', e->out);
            break;
        case KS_CARRY:
            fprintf(e->out, "%s%s%s %s = ", indent, plan_frozen(e->pl, n) ? "const " : "", R, e->pl->var[st->node]);
            if (n->op == OP_CARRY)
                print_real(e, 0.0); /* set by the prologue */
            else
                leaf(e, n);
            fputs(";\n", e->out);
            break;
        case KS_PROLOGUE:
            if (st->count)
                fprintf(e->out, "    if (steps) { /* %s.z of the first sample; the loop computes the next one's */\n",
                        e->m->layers[0].name);
            break;
        case KS_FIRST:
            fputs("        ", e->out);
            carried(e, st);
            fputs(" = ", e->out);
            e->inline_all = true;
            expr(e, e->s->root[st->root].node);
            e->inline_all = false;
            fputs(";\n", e->out);
            break;
        case KS_PROLOGUE_END:
            if (kp->st[i - 1].kind != KS_PROLOGUE)
                fputs("    }\n", e->out);
            break;
        case KS_HOIST:
            fprintf(e->out, "    const %s %s = ", R, e->pl->var[st->node]);
            hyper_def(e, (Hyper)n->slot, "o->steps");
            fputs(";\n", e->out);
            break;
        case KS_LOOP:
            fprintf(e->out,
                    "\n    for (size_t s = 0; s < steps; s++, x += %s_BATCH * %s_IN, t += %s_BATCH * %s_TARGETS) {",
                    N, N, N, N);
            if (st->count) /* the last batch reads itself: the value is not used */
                fprintf(e->out, "\n        const %s *const xn = s + 1 < steps ? x + %s_BATCH * %s_IN : x;", R, N, N);
            indent = "        ";
            break;
        case KS_SPLATS:
            /* The parameters' splats (Vop.mem) from memory: x86 has one port for
             * shuffles, which the rows of inputs and the gradients' tails already
             * fill, and a splat of a lane in a register is a shuffle, while a splat
             * from memory (vbroadcastss) needs a load port only.  An empty asm that
             * may read and write the vector through its address keeps it in memory
             * at the top of each step, as emit_llvm.c's volatile loads do. */
            if (kp->st[i - 1].kind != KS_SPLATS)
                fputs("\n        /* the parameters' splats from memory, not from lanes of registers */", e->out);
            fprintf(e->out, "\n        __asm__ volatile(\"\" : : \"r\"(&%s) : \"memory\");", e->pl->pack_var[st->pack]);
            break;
        case KS_VASSIGN:
            fprintf(e->out, "%s%s = %s;\n", indent, e->pl->pack_var[st->pack], e->pl->pack_var[st->from]);
            break;
        case KS_STORE:
            fputs(indent, e->out);
            if (st->node >= 0)
                carried(e, st);
            else
                root_at(e, &e->s->root[st->root]);
            fputs(" = ", e->out);
            expr(e, e->s->root[st->root].node);
            fputs(";\n", e->out);
            break;
        case KS_STEPS:
            fprintf(e->out, "    o->steps += %s;\n", st->count ? "1" : "steps");
            break;
        case KS_LOSS:
            fprintf(e->out, "%s%s", indent, e->pl->k == K_TRAIN ? "total += " : "return ");
            expr(e, st->node);
            fputs(";\n", e->out);
            break;
        case KS_LOOP_END:
            fputs("    }\n\n", e->out);
            indent = "    ";
            break;
        case KS_WRITEBACK:
            fputs("    ", e->out);
            leaf(e, n);
            fputs(" = ", e->out);
            carried(e, st);
            fputs(";\n", e->out);
            break;
        case KS_RETURN:
            fprintf(e->out, "    return steps ? (%s)(total / (double)steps) : 0;\n", R);
            break;
        case KS_COUNT:
            unreachable();
        }
    }
    fputs("}\n\n", e->out);
}

static void contract(Emit *e, const char *what) {
    fprintf(e->out, "/* %s\n *   gradient of: loss (%s, %s)\n *   with respect to:", what,
            loss_name[e->m->loss], e->m->loss_sum ? "sum" : "mean");
    for (int p = 0; p < e->m->nparams; p++)
        if (e->m->params[p].trainable)
            fprintf(e->out, " %s", e->m->params[p].name);
    fputs("\n */\n", e->out);
}

/* The kernels' comments and prototypes, each followed by its program. */
static void kernels(Emit *e, const Schedule *sc) {
    const char *N = e->m->name, *R = e->real;
    fprintf(e->out, "/* %s_forward: one sample, y = f(x). Straight-line code. */\n", N);
    fprintf(e->out, "void %s_forward(const %s_params *p, const %s *x, %s *y)\n{", N, N, R, R);
    render(e, &sc->k[K_FORWARD]);
    contract(e, format("%s_grad: loss of one batch, and its gradient into g.", N));
    fprintf(e->out, "%s %s_grad(const %s_params *p, const %s *x, const %s *t, %s_params *g)\n{", R, N, N, R, R, N);
    render(e, &sc->k[K_GRAD]);
    contract(e, format("%s_step: one %s step on one batch; returns the loss before it.", N, opt_name[e->m->opt.kind]));
    fprintf(e->out, "%s %s_step(%s_params *p, %s_optim *o, const %s *x, const %s *t)\n{", R, N, N, N, R, R);
    render(e, &sc->k[K_STEP]);
    bool own = sc->train != sc->s;
    fprintf(e->out,
            "/* %s_train: n samples in order, one step per %s_BATCH of them; returns the mean\n"
            " * loss.  The parameters stay in locals across the loop.%s */\n",
            N, N,
            own ? format("  So does %s.z, the first layer's\n"
                         " * pre-activation: each step computes the next sample's from this step's\n"
                         " * weights and gradient (--reassociate; rounds unlike %s_step).",
                         e->m->layers[0].name, N)
                : "");
    fprintf(e->out, "%s %s_train(%s_params *p, %s_optim *o, const %s *x, const %s *t, size_t n)\n{\n", R, N, N, N,
            R, R);
    fprintf(e->out, "    const size_t steps = n / %s_BATCH;\n    double total = 0.0;\n", N);
    render(e, &sc->k[K_TRAIN]);
    if (!sc->apply)
        return;
    fprintf(e->out,
            "/* %s_apply: the %s update alone, from the gradient g (%s_grad's, or\n"
            " * the mean of several, as a data-parallel runtime sums them): %s_grad then\n"
            " * %s_apply is %s_step, bit for bit.  Straight-line code. */\n",
            N, opt_name[e->m->opt.kind], N, N, N, N);
    fprintf(e->out, "void %s_apply(%s_params *p, %s_optim *o, const %s_params *g)\n{", N, N, N, N);
    render(e, &sc->k[K_APPLY]);
}

/* ---- the files ---- */

/* Opens the x86 definition of macro NAME_<fn>(params): the intrinsic
 * <_mm, _mm256 or _mm512>_<op>_<ps or pd> on the arguments `args` (each cast
 * to the intrinsic's vector type), where the target is x86-64 and `need`
 * holds (a preprocessor condition, "" for none); the caller then prints the
 * portable definition and the #endif.  False, printing
 * nothing, where no x86 vector is this wide. */
static bool x86_macro(Emit *e, int w, int bytes, const char *fn, const char *params, const char *op,
                      const char *const *args, int nargs, const char *need) {
    const char *x86 = bytes == 64 ? "_mm512" : bytes == 32 ? "_mm256" : bytes == 16 ? "_mm" : NULL;
    if (!x86)
        return false;
    const char *m = format("__m%d%s", bytes * 8, e->o->fp64 ? "d" : "");
    fprintf(e->out, "#if defined(__x86_64__)%s%s\n#include <immintrin.h>\n", *need ? " && " : "", need);
    fprintf(e->out, "#define %s_%s(%s) ((%s_v%d)%s_%s_%s(", e->m->name, fn, params, e->m->name, w, x86, op,
            e->o->fp64 ? "pd" : "ps");
    for (int i = 0; i < nargs; i++)
        fprintf(e->out, "%s(%s)(%s)", i ? ", " : "", m, args[i]);
    fputs("))\n#else\n", e->out);
    return true;
}

/* NAME_vfma(a, b, c): a * b + c lane by lane, rounded once (fmaf): one
 * instruction where the target has it (x86 FMA or AVX-512), else fmaf per
 * lane; the bits are the same either way.  A macro, as NAME_vsel. */
static void emit_vfma(Emit *e, int w, int bytes) {
    const char *N = e->m->name;
    fprintf(e->out, "/* a * b + c lane by lane, rounded once: fused multiply-adds (--fma). */\n");
    bool x86 = x86_macro(e, w, bytes, "vfma", "a, b, c", "fmadd", (const char *[]){"a", "b", "c"}, 3,
                         bytes == 64 ? "defined(__AVX512F__)" : "defined(__FMA__)");
    fprintf(e->out, "#define %s_vfma(a, b, c) ((%s_v%d){", N, N, w);
    for (int i = 0; i < w; i++)
        fprintf(e->out, "%sfma%s((a)[%d], (b)[%d], (c)[%d])", i ? ", " : "", e->o->fp64 ? "" : "f", i, i, i);
    fprintf(e->out, "})\n%s\n", x86 ? "#endif\n" : "");
}

/* NAME_vmax(a, b): a < b ? b : a lane by lane, the IR's max (a NaN in a
 * comes through, as in torch.relu).  x86's maxps(b, a) is b > a ? b : a,
 * the same in every case (NaNs, and zeros of either sign): one instruction
 * instead of a compare (on the shuffle port, with AVX-512) and a blend,
 * which is what GCC makes of the select. */
static void emit_vmax(Emit *e, int w, int bytes) {
    const char *N = e->m->name;
    fprintf(e->out, "/* a < b ? b : a lane by lane (a NaN in a comes through). */\n");
    bool x86 = x86_macro(e, w, bytes, "vmax", "a, b", "max", (const char *[]){"b", "a"}, 2,
                         bytes == 64 ? "defined(__AVX512F__)" : bytes == 32 ? "defined(__AVX__)" : "");
    fprintf(e->out, "#define %s_vmax(a, b) %s_vsel((a) < (b), (b), (a))\n%s\n", N, N, x86 ? "#endif\n" : "");
}

/* Selects as bit operations: a ternary on data compiles to a branch, which
 * mispredicts on ReLU masks; this compiles to and/andn/or or a blend. */
static void emit_select(Emit *e) {
    const char *N = e->m->name, *R = e->real, *U = e->o->fp64 ? "uint64_t" : "uint32_t";
    if (e->pl->pk->npack) {
        int w = e->pl->pk->width, bytes = w * (e->o->fp64 ? 8 : 4);
        fprintf(e->out,
                "/* SIMD vectors (GCC/Clang vector extensions): %d lanes. */\n"
                "typedef %s %s_v%d __attribute__((vector_size(%d)));\n"
                "typedef %s %s_v%du __attribute__((vector_size(%d), aligned(%d), may_alias)); /* loads */\n"
                "typedef %s %s_v%di __attribute__((vector_size(%d)));\n\n"
                "/* Lane by lane c ? a : b, c's lanes 0 or -1: bit operations, no branch.  A\n"
                " * macro: wide vectors passed to functions would change the ABI. */\n"
                "#define %s_vsel(c, a, b) ((%s_v%d)(((c) & (%s_v%di)(a)) | (~(c) & (%s_v%di)(b))))\n\n",
                w, R, N, w, bytes, R, N, w, bytes, e->o->fp64 ? 8 : 4, e->o->fp64 ? "int64_t" : "int32_t", N, w,
                bytes, N, N, w, N, w, N, w);
        for (int eq = 0; eq < 2; eq++)
            fprintf(e->out,
                    "/* x %s y ? a : b on scalars held in lane 0 of vectors: the compare\n"
                    " * never leaves the vector registers, and no branch. */\n"
                    "static inline __attribute__((unused)) %s %s_s%s(%s x, %s y, %s a, %s b)\n{\n"
                    "    return %s_vsel((%s_v%d){x} %s (%s_v%d){y}, (%s_v%d){a}, (%s_v%d){b})[0];\n}\n\n",
                    eq ? "==" : ">", R, N, eq ? "eq" : "gt", R, R, R, R, N, N, w, eq ? "==" : ">", N, w, N, w,
                    N, w);
        bool fma = false, max = false;
        for (int i = 0; i < e->s->n; i++) {
            fma |= e->s->node[i].op == OP_FMA;
            max |= e->s->node[i].op == OP_MAX && e->pl->pk->pack_of[i] >= 0;
        }
        if (fma)
            emit_vfma(e, w, bytes);
        if (max)
            emit_vmax(e, w, bytes);
    }
    fprintf(e->out,
            "/* c ? a : b without a branch (unused where the model selects nothing). */\n"
            "static inline __attribute__((unused)) %s %s_sel(int c, %s a, %s b)\n{\n"
            "    union { %s f; %s u; } x = {a}, y = {b};\n"
            "    const %s m = (%s)0 - (%s)(c != 0);\n"
            "    x.u = (x.u & m) | (y.u & ~m);\n"
            "    return x.f;\n}\n\n",
            R, N, R, R, R, U, U, U, U);
    fprintf(e->out,
            "/* max(a, b) as a < b ? b : a: a NaN in a comes through, as in torch.relu%s. */\n"
            "static inline __attribute__((unused)) %s %s_max(%s a, %s b) { return %s; }\n\n",
            e->pl->pk->npack ? "; in vector registers" : "", R, N, R, R,
            e->pl->pk->npack ? format("%s_sgt(b, a, b, a)", N) : format("%s_sel(a < b, b, a)", N));
}

void emit_c(FILE *out, const Schedule *sc, const EmitOptions *o) {
    for (int op = 0; op < OP_COUNT; op++) /* every op ops.h spells as CODE has its function */
        if (op_info[op].c_form == C_CODE && !c_code[op])
            die("emit_c: no C for %s (ops.h says CODE)", op_name[op]);
    const Model *m = sc->m;
    Emit e = {.out = out, .m = m, .s = sc->s, .o = o, .real = o->fp64 ? "double" : "float", .def = -1};
    e.pl = &sc->k[K_FORWARD].pl;
    emit_c_prologue(out, m, o);
    emit_select(&e);
    emit_init(out, m, o);
    kernels(&e, sc);
    if (!o->fp64)
        emit_trainer(out, m);
}
