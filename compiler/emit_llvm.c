/* emit_llvm.c: the kernel programs built as LLVM functions, through the LLVM C API.
 *
 * The second backend (with emit_llvm_module.c, the module around the
 * kernels, and llvm_target.c, its targets, pass pipeline and JIT: the only
 * files of netc that include llvm-c headers).  It renders the
 * kernel programs of kprog.c statement by statement, as emit_c.c prints
 * them: the same kernels with the same C ABI, the same values in the same
 * order (each sum left to right, max as `a < b ? b : a`, gt as an ordered >),
 * with no fast-math flags and no fmuladd, so LLVM may not contract or
 * reassociate anything.  The program's names (hidden_z_0,
 * d_hidden_weight_2_4, tmp7) name the values, so that the IR reads like the C.
 */
#define _POSIX_C_SOURCE 200809L
#include "emit_llvm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- values ---- */

/* A constant; the IR holds it rounded to the kernel's precision, and the C
 * backend prints text that reads back as the same value. */
LLVMValueRef ll_real_const(L *l, double v) {
    return LLVMConstReal(l->real, v);
}

LLVMValueRef ll_gep2(L *l, LLVMValueRef base, LLVMTypeRef ty, unsigned a, unsigned b) {
    LLVMValueRef idx[2] = {LLVMConstInt(l->i32, a, 0), LLVMConstInt(l->i32, b, 0)};
    return LLVMBuildInBoundsGEP2(l->b, ty, base, idx, 2, "");
}

/* Address of element k of member `field` of struct type ty at base, shaped as
 * parameter p: &base->member[k / cols][k % cols]. */
static LLVMValueRef member_addr(L *l, LLVMTypeRef ty, LLVMValueRef base, int field, const Param *p, int k) {
    LLVMValueRef idx[4] = {LLVMConstInt(l->i32, 0, 0), LLVMConstInt(l->i32, (unsigned)field, 0),
                           LLVMConstInt(l->i32, (unsigned)(p->cols ? k / p->cols : k), 0),
                           LLVMConstInt(l->i32, (unsigned)(p->cols ? k % p->cols : 0), 0)};
    return LLVMBuildInBoundsGEP2(l->b, ty, base, idx, p->cols ? 4 : 3, "");
}

/* Address of element k of parameter tensor slot in the params struct at base. */
static LLVMValueRef param_addr(L *l, LLVMValueRef base, int slot, int k) {
    return member_addr(l, l->params, base, slot, &l->m->params[slot], k);
}

/* NAME_optim is {steps, lr, state tensors...}. */

static LLVMValueRef state_addr(L *l, int slot, int k) {
    return member_addr(l, l->optim, l->o_arg, OPTIM_STATE0 + slot, &l->m->params[l->m->states[slot].param], k);
}

/* Where a carried leaf lives in memory. */
static LLVMValueRef leaf_addr(L *l, Op op, int slot, int k) {
    return op == OP_PARAM      ? param_addr(l, l->p, slot, k)
           : op == OP_GRADIENT ? param_addr(l, l->g, slot, k)
                               : state_addr(l, slot, k);
}

static LLVMValueRef elem_addr(L *l, LLVMValueRef base, int k) {
    LLVMValueRef idx = LLVMConstInt(l->i64, (unsigned)k, 0);
    return LLVMBuildInBoundsGEP2(l->b, l->real, base, &idx, 1, "");
}

static LLVMValueRef load(L *l, LLVMTypeRef ty, LLVMValueRef addr, const char *name) {
    return LLVMBuildLoad2(l->b, ty, addr, name);
}

static LLVMValueRef value(L *l, int id);
static LLVMValueRef pack_value(L *l, int v);
void ll_add_attr(L *l, LLVMValueRef fn, LLVMAttributeIndex at, const char *name);

static LLVMValueRef intrinsic(L *l, const char *name, LLVMTypeRef ty, LLVMValueRef a, LLVMValueRef b) {
    const char *full = format("llvm.%s.%s", name, ty == LLVMFloatTypeInContext(l->ctx) ? "f32" : "f64");
    LLVMValueRef fn = LLVMGetNamedFunction(l->mod, full);
    LLVMTypeRef args[2] = {ty, ty}, ft = LLVMFunctionType(ty, args, b ? 2 : 1, 0);
    if (!fn)
        fn = LLVMAddFunction(l->mod, full, ft);
    LLVMValueRef v[2] = {a, b};
    return LLVMBuildCall2(l->b, ft, fn, v, b ? 2 : 1, "");
}

/* A call of the intrinsic `name` (ops.h's "llvm.exp"), overloaded on the
 * type of its operands: llvm.exp.f32, llvm.fma.v4f32. */
static LLVMValueRef call_intrinsic(L *l, const char *name, LLVMValueRef *v, int n, const char *vname) {
    LLVMTypeRef ty = LLVMTypeOf(v[0]), args[3] = {ty, ty, ty};
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    if (!id)
        die("emit_llvm: no intrinsic %s", name);
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(l->mod, id, &ty, 1);
    return LLVMBuildCall2(l->b, LLVMFunctionType(ty, args, (unsigned)n, 0), fn, v, (unsigned)n, vname);
}

/* A call of the C library's `name` (ops.h's "tanh": tanhf, or tanh with
 * --fp64), as the C calls it: for the functions LLVM has no intrinsic for. */
static LLVMValueRef call_libm(L *l, const char *name, LLVMValueRef *v, int n, const char *vname) {
    const char *fname = l->o->fp64 ? name : format("%sf", name);
    LLVMTypeRef args[3] = {l->real, l->real, l->real}, ft = LLVMFunctionType(l->real, args, (unsigned)n, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(l->mod, fname);
    if (!fn) {
        fn = LLVMAddFunction(l->mod, fname, ft);
        ll_add_attr(l, fn, LLVMAttributeFunctionIndex, "nounwind");
    }
    return LLVMBuildCall2(l->b, ft, fn, v, (unsigned)n, vname);
}

/* The optimizer's step counter for this step: o->steps (+ s in NAME_train). */
static LLVMValueRef step_index(L *l) {
    LLVMValueRef steps = load(l, l->i64, ll_gep2(l, l->o_arg, l->optim, 0, OPTIM_STEPS), "");
    return l->pl->k == K_TRAIN ? LLVMBuildAdd(l->b, steps, LLVMBuildZExt(l->b, l->step_s, l->i64, ""), "") : steps;
}

/* A per-step scalar: its formula (abi.c) built in double node by node, in
 * the order the C evaluates it, then cast to the kernel's precision. */
static LLVMValueRef hyper(L *l, Hyper h, const char *name) {
    HyperFormula f = hyper_formula(&l->m->opt, h);
    LLVMTypeRef dbl = LLVMDoubleTypeInContext(l->ctx);
    LLVMValueRef v[HYPER_MAX_NODES];
    for (int i = 0; i < f.n; i++) {
        const Hx *x = &f.e[i];
        LLVMValueRef a = x->a >= 0 ? v[x->a] : NULL, b = x->b >= 0 ? v[x->b] : NULL;
        switch (x->op) {
        case HX_LR: { /* o->lr != 0 ? (double)o->lr : NAME_LR */
            LLVMValueRef olr = load(l, LLVMFloatTypeInContext(l->ctx), ll_gep2(l, l->o_arg, l->optim, 0, OPTIM_LR), "");
            LLVMValueRef set = LLVMBuildFCmp(l->b, LLVMRealUNE, olr, LLVMConstReal(LLVMTypeOf(olr), 0.0), "");
            v[i] = LLVMBuildSelect(l->b, set, LLVMBuildFPExt(l->b, olr, dbl, ""), LLVMConstReal(dbl, l->m->opt.lr), "lr");
            break;
        }
        case HX_FIRST:
            return LLVMBuildICmp(l->b, LLVMIntEQ, step_index(l), LLVMConstInt(l->i64, 0, 0), name);
        case HX_STEP1:
            v[i] = LLVMBuildUIToFP(l->b, LLVMBuildAdd(l->b, step_index(l), LLVMConstInt(l->i64, 1, 0), ""), dbl, "");
            break;
        case HX_ONE: case HX_CONST: v[i] = LLVMConstReal(dbl, x->c); break;
        case HX_SUB: v[i] = LLVMBuildFSub(l->b, a, b, ""); break;
        case HX_MUL: v[i] = LLVMBuildFMul(l->b, a, b, ""); break;
        case HX_DIV: v[i] = LLVMBuildFDiv(l->b, a, b, ""); break;
        case HX_POW: v[i] = intrinsic(l, "pow", dbl, a, b); break;
        case HX_SQRT: v[i] = intrinsic(l, "sqrt", dbl, a, NULL); break;
        }
    }
    return l->o->fp64 ? v[f.n - 1] : LLVMBuildFPTrunc(l->b, v[f.n - 1], l->real, name);
}

/* The ops that ops.h builds as CODE. */

static LLVMValueRef ll_max(L *l, LLVMValueRef *v, const char *name) {
    /* a < b ? b : a: an ordered compare, so a NaN in a comes through */
    return LLVMBuildSelect(l->b, LLVMBuildFCmp(l->b, LLVMRealOLT, v[0], v[1], ""), v[1], v[0], name);
}

static LLVMValueRef ll_sigmoid(L *l, LLVMValueRef *v, const char *name) { /* 1 / (1 + e^-a) */
    LLVMValueRef neg = LLVMBuildFNeg(l->b, v[0], "");
    LLVMValueRef e = call_intrinsic(l, "llvm.exp", &neg, 1, "");
    LLVMValueRef one = ll_real_const(l, 1.0f);
    return LLVMBuildFDiv(l->b, one, LLVMBuildFAdd(l->b, one, e, ""), name);
}

static LLVMValueRef (*const ll_code[OP_COUNT])(L *, LLVMValueRef *, const char *) = {
    [OP_MAX] = ll_max,
    [OP_SIGMOID] = ll_sigmoid,
};

/* An instruction of ops.h's LL column, by the name the IR prints. */
typedef struct Instr {
    const char *ll;
    int kind; /* 0: binary (opcode), 1: fneg, 2: fcmp (pred), 3: select */
    LLVMOpcode opcode;
    LLVMRealPredicate pred;
} Instr;

static const Instr instrs[] = {
    {"fadd", 0, LLVMFAdd, 0},          {"fsub", 0, LLVMFSub, 0},          {"fmul", 0, LLVMFMul, 0},
    {"fdiv", 0, LLVMFDiv, 0},          {"fneg", 1, 0, 0},                 {"fcmp ogt", 2, 0, LLVMRealOGT},
    {"fcmp oeq", 2, 0, LLVMRealOEQ},   {"fcmp olt", 2, 0, LLVMRealOLT},   {"select", 3, 0, 0},
};

static const Instr *instr_of(Op op) {
    for (size_t i = 0; i < sizeof instrs / sizeof *instrs; i++)
        if (!strcmp(instrs[i].ll, op_info[op].ll))
            return &instrs[i];
    die("emit_llvm: ops.h spells %s as the instruction '%s', which emit_llvm.c does not know", op_name[op],
        op_info[op].ll);
}

/* Every op ops.h builds as CODE has its function, every instruction is known. */
static void check_ops(void) {
    for (Op op = 0; op < OP_COUNT; op++) {
        if (op_info[op].ll_form == LL_CODE && !ll_code[op])
            die("emit_llvm: no LLVM for %s (ops.h says CODE)", op_name[op]);
        if (op_info[op].ll_form == LL_INSTR)
            instr_of(op);
    }
}

/* The instruction of an op on operand values: scalars, or vectors lane by
 * lane (the same builders serve both). */
static LLVMValueRef arith(L *l, Op op, LLVMValueRef *v, const char *name) {
    const OpInfo *info = &op_info[op]; /* ops.h */
    switch (info->ll_form) {
    case LL_INSTR: {
        const Instr *in = instr_of(op);
        switch (in->kind) {
        case 0: return LLVMBuildBinOp(l->b, in->opcode, v[0], v[1], name);
        case 1: return LLVMBuildFNeg(l->b, v[0], name);
        case 2: return LLVMBuildFCmp(l->b, in->pred, v[0], v[1], name);
        default: return LLVMBuildSelect(l->b, v[0], v[1], v[2], name);
        }
    }
    case LL_INTRINSIC:
        return call_intrinsic(l, info->ll, v, info->arity, name);
    case LL_LIBM:
        return call_libm(l, info->ll, v, info->arity, name);
    case LL_CODE:
        return ll_code[op](l, v, name);
    case LL_LEAF: case LL_NONE:
        break;
    }
    die("emit_llvm: %s is not arithmetic", op_name[op]);
}

/* Builds node id here, as the C evaluates an expression where it appears. */
static LLVMValueRef build(L *l, int id, const char *name) {
    const Node *n = &l->s->node[id];
    switch (n->op) { /* the leaves; every other op from its operands (ops.h) */
    case OP_INPUT:
        return load(l, l->real, elem_addr(l, l->x, n->index), name);
    case OP_NEXT:
        return load(l, l->real, elem_addr(l, l->xn, n->index), name);
    case OP_CARRY:
        die("emit_llvm: carried %s.z outside NAME_train", l->m->layers[0].name);
    case OP_TARGET:
        return load(l, l->real, elem_addr(l, l->t, n->index), name);
    case OP_PARAM:
        return load(l, l->real, param_addr(l, l->p, n->slot, n->index), name);
    case OP_STATE:
        return load(l, l->real, state_addr(l, n->slot, n->index), name);
    case OP_GRADIENT:
        return load(l, l->real, param_addr(l, l->g, n->slot, n->index), name);
    case OP_HYPER:
        return hyper(l, (Hyper)n->slot, name);
    case OP_CONST:
        return ll_real_const(l, n->value);
    default:
        break;
    }
    LLVMValueRef ops[3] = {NULL, NULL, NULL};
    for (int a = 0; a < op_info[n->op].arity; a++)
        ops[a] = value(l, n->arg[a]);
    return arith(l, n->op, ops, name);
}

/* ---- vectors: the packs emit_c prints as GCC vector types ---- */

/* A vector of the lanes' scalar values, 0 (or false) past the used lanes;
 * all lanes the same: a splat. */
static LLVMValueRef lanes_vector(L *l, const int *ids, int lanes, bool mask, const char *name) {
    LLVMTypeRef vt = mask ? l->vmask : l->vreal;
    LLVMValueRef v = LLVMConstNull(vt);
    for (int i = 0; i < lanes; i++)
        v = LLVMBuildInsertElement(l->b, v, value(l, ids[i]), LLVMConstInt(l->i32, (unsigned)i, 0),
                                   i + 1 == lanes ? name : "");
    return v;
}

/* A leaf pack's vector, loaded lane by lane from memory. */
static LLVMValueRef leaf_vector(L *l, int v) {
    const Pack *pv = &l->pl->pk->pack[v];
    LLVMValueRef vec = LLVMConstNull(l->vreal);
    for (int i = 0; i < pv->lanes; i++) {
        const Node *n = &l->s->node[pv->node[i]];
        LLVMValueRef x = n->op == OP_INPUT    ? load(l, l->real, elem_addr(l, l->x, n->index), "")
                         : n->op == OP_TARGET ? load(l, l->real, elem_addr(l, l->t, n->index), "")
                                              : load(l, l->real, leaf_addr(l, n->op, n->slot, n->index), "");
        vec = LLVMBuildInsertElement(l->b, vec, x, LLVMConstInt(l->i32, (unsigned)i, 0),
                                     i + 1 == pv->lanes ? l->pl->pack_var[v] : "");
    }
    return vec;
}

/* A strided pack (KS_VSTRIDED): its shuffle program (plan_shuffles) over the
 * body's whole-vector loads; equal steps of two packs are CSE'd by LLVM. */
static LLVMValueRef strided_vector(L *l, const KStmt *st) {
    LLVMValueRef step[2 * LIMIT_LANES], vec = NULL;
    for (int s = 0; s < st->nshuf; s++) {
        const Shuffle *sh = &st->shuf[s];
        LLVMValueRef mask[LIMIT_LANES];
        for (int k = 0; k < l->pl->pk->width; k++)
            mask[k] = sh->idx[k] < 0 ? LLVMGetUndef(l->i32) : LLVMConstInt(l->i32, (unsigned)sh->idx[k], 0);
        LLVMValueRef a = sh->a < 0 ? l->chunk[st->chunks[-1 - sh->a]] : step[sh->a];
        LLVMValueRef b = sh->b < 0 ? l->chunk[st->chunks[-1 - sh->b]] : step[sh->b];
        vec = step[s] = LLVMBuildShuffleVector(l->b, a, b, LLVMConstVector(mask, (unsigned)l->pl->pk->width), "");
    }
    LLVMSetValueName2(vec, l->pl->pack_var[st->pack], strlen(l->pl->pack_var[st->pack]));
    return vec;
}

static LLVMValueRef pack_value(L *l, int v) {
    if (l->pslot[v])
        return LLVMBuildLoad2(l->b, l->vreal, l->pslot[v], "");
    if (!l->pval[v])
        die("emit_llvm: vector %s used before it is computed", l->pl->pack_var[v]);
    return l->pval[v];
}

/* A splat from memory (Vop.mem): the lane is read from the carried vector's
 * alloca with a volatile load, or LLVM would forward the stored vector and
 * splat the lane in a register, a shuffle (kprog.c says why not).  One load
 * per lane and step, before the step's update stores the vector. */
static LLVMValueRef splat_lane(L *l, int id) {
    int v = plan_pack(l->pl, id), lane = l->pl->pk->lane_of[id];
    LLVMValueRef *ld = &l->lane_load[(size_t)v * LIMIT_LANES + (size_t)lane];
    if (!*ld) {
        LLVMValueRef base = LLVMBuildBitCast(l->b, l->pslot[v], l->realp, "");
        LLVMValueRef at = LLVMConstInt(l->i32, (unsigned)lane, 0);
        *ld = load(l, l->real, LLVMBuildInBoundsGEP2(l->b, l->real, base, &at, 1, ""), "");
        LLVMSetVolatile(*ld, 1);
    }
    return *ld;
}

/* Operand o of a vector statement (kprog.c's Vop). */
static LLVMValueRef vector_operand(L *l, const Vop *o) {
    if (o->kind == VOP_PACK)
        return pack_value(l, o->pack);
    if (o->kind == VOP_SPLAT && o->mem) {
        LLVMValueRef one = LLVMBuildInsertElement(l->b, LLVMGetUndef(l->vreal), splat_lane(l, o->id[0]),
                                                  LLVMConstInt(l->i32, 0, 0), "");
        LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(l->i32, (unsigned)l->pl->pk->width));
        return LLVMBuildShuffleVector(l->b, one, LLVMGetUndef(l->vreal), zeros, "");
    }
    return lanes_vector(l, o->id, o->n, o->mask, ""); /* lanes moved, splats and gathers: inserts */
}

/* The value of node id where it is used: a named local, or built inline. */
static LLVMValueRef value(L *l, int id) {
    if (l->inline_all)
        return build(l, id, "");
    int v = plan_pack(l->pl, id);
    if (v >= 0)
        return LLVMBuildExtractElement(l->b, pack_value(l, v),
                                       LLVMConstInt(l->i32, (unsigned)l->pl->pk->lane_of[id], 0), "");
    if (l->pl->is_var[id]) {
        if (l->pl->k == K_TRAIN && plan_carried(l->s->node[id].op))
            return load(l, l->real, l->slot[id], "");
        if (!l->val[id])
            die("emit_llvm: %s used before it is computed", l->pl->var[id]);
        return l->val[id];
    }
    return build(l, id, "");
}

/* ---- functions ---- */

void ll_add_attr(L *l, LLVMValueRef fn, LLVMAttributeIndex at, const char *name) {
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    if (!kind)
        die("emit_llvm: no LLVM attribute '%s'", name);
    LLVMAddAttributeAtIndex(fn, at, LLVMCreateEnumAttribute(l->ctx, kind, 0));
}

/* A kernel's prototype.  attrs[i] lists the attributes of parameter i + 1,
 * blank-separated. */
LLVMValueRef ll_function(L *l, const char *name, LLVMTypeRef ret, LLVMTypeRef *args,
                             const char *const *names, const char *const *attrs, unsigned n) {
    LLVMValueRef fn = LLVMAddFunction(l->mod, name, LLVMFunctionType(ret, args, n, 0));
    ll_add_attr(l, fn, LLVMAttributeFunctionIndex, "nounwind");
    for (unsigned i = 0; i < n; i++) {
        LLVMSetValueName2(LLVMGetParam(fn, i), names[i], strlen(names[i]));
        char buf[128];
        snprintf(buf, sizeof buf, "%s", attrs[i]);
        for (char *save = NULL, *a = strtok_r(buf, " ", &save); a; a = strtok_r(NULL, " ", &save))
            ll_add_attr(l, fn, i + 1, a);
    }
    LLVMPositionBuilderAtEnd(l->b, LLVMAppendBasicBlockInContext(l->ctx, fn, "entry"));
    l->fn = fn;
    return fn;
}


/* o->steps += k */
static void count_steps(L *l, LLVMValueRef k) {
    LLVMValueRef addr = ll_gep2(l, l->o_arg, l->optim, 0, 0);
    LLVMValueRef steps = load(l, l->i64, addr, "");
    LLVMBuildStore(l->b, LLVMBuildAdd(l->b, steps, k, ""), addr);
}

/* NAME_train's loop: its blocks and phis, while it is built. */
typedef struct Loop {
    LLVMValueRef steps, x0, t0, si, xi, ti, total, total2, s2, x2;
    LLVMBasicBlockRef entry, pre, head, done;
} Loop;

/* Where root r lives in memory. */
static LLVMValueRef root_addr(L *l, const Root *r) {
    switch (r->kind) {
    case ROOT_OUTPUT: return elem_addr(l, l->y, r->index);
    case ROOT_GRAD: return param_addr(l, l->g, r->slot, r->index);
    default: return leaf_addr(l, plan_root_leaf(r->kind), r->slot, r->index);
    }
}

/* Stores z into the carried local or lane statement st names. */
static void store_carried(L *l, const KStmt *st, LLVMValueRef z) {
    if (st->pack < 0) {
        LLVMBuildStore(l->b, z, l->slot[st->node]);
        return;
    }
    LLVMValueRef vec = LLVMBuildLoad2(l->b, l->vreal, l->pslot[st->pack], "");
    vec = LLVMBuildInsertElement(l->b, vec, z, LLVMConstInt(l->i32, (unsigned)st->lane, 0), "");
    LLVMBuildStore(l->b, vec, l->pslot[st->pack]);
}

/* Renders kernel program kp into the function begun by ll_function(): one case
 * per statement kind. */
static void render(L *l, const KProg *kp, Loop *lp) {
    const Model *m = l->m;
    l->pl = &kp->pl;
    l->s = kp->pl.s;
    size_t n = (size_t)l->s->n, np = (size_t)l->pl->pk->npack + 1;
    l->val = xcalloc(n, sizeof(LLVMValueRef));
    l->slot = xcalloc(n, sizeof(LLVMValueRef));
    l->pval = xcalloc(np, sizeof(LLVMValueRef));
    l->pslot = xcalloc(np, sizeof(LLVMValueRef));
    l->lane_load = xcalloc(np * LIMIT_LANES, sizeof(LLVMValueRef));
    LLVMTypeRef dbl = LLVMDoubleTypeInContext(l->ctx);
    for (int i = 0; i < kp->n; i++) {
        const KStmt *st = &kp->st[i];
        const Node *nd = st->node >= 0 ? &l->s->node[st->node] : NULL;
        switch (st->kind) {
        case KS_BODY:
            memset(l->lane_load, 0, sizeof(LLVMValueRef) * np * LIMIT_LANES);
            break;
        case KS_NOTE: case KS_BODY_END: case KS_SPLATS: /* splats from memory: Vop.mem */
            break;
        case KS_CHUNK: {
            LLVMValueRef addr = LLVMBuildBitCast(l->b, elem_addr(l, st->t ? l->t : l->x, st->at),
                                                 LLVMPointerType(l->vreal, 0), "");
            l->chunk[st->chunk] = load(l, l->vreal, addr, "");
            LLVMSetAlignment(l->chunk[st->chunk], l->o->fp64 ? 8 : 4);
            break;
        }
        case KS_VSTRIDED:
            l->pval[st->pack] = strided_vector(l, st);
            break;
        case KS_VLOAD:
            l->pval[st->pack] = leaf_vector(l, st->pack);
            break;
        case KS_VDEF: {
            LLVMValueRef ops[3] = {NULL, NULL, NULL};
            for (int a = 0; a < st->nop; a++)
                ops[a] = vector_operand(l, &st->op[a]);
            l->pval[st->pack] = arith(l, l->s->node[l->pl->pk->pack[st->pack].node[0]].op, ops,
                                      l->pl->pack_var[st->pack]);
            break;
        }
        case KS_DEF: case KS_HOIST:
            l->val[st->node] = build(l, st->node, l->pl->var[st->node]);
            break;
        case KS_CARRY:
            l->slot[st->node] = LLVMBuildAlloca(l->b, l->real, l->pl->var[st->node]);
            LLVMBuildStore(l->b, nd->op == OP_CARRY ? ll_real_const(l, 0.0) /* the prologue sets it */
                                                    : load(l, l->real, leaf_addr(l, nd->op, nd->slot, nd->index), ""),
                           l->slot[st->node]);
            break;
        case KS_VCARRY: {
            bool carry = l->s->node[l->pl->pk->pack[st->pack].node[0]].op == OP_CARRY;
            l->pslot[st->pack] = LLVMBuildAlloca(l->b, l->vreal, l->pl->pack_var[st->pack]);
            LLVMBuildStore(l->b, carry ? LLVMConstNull(l->vreal) : leaf_vector(l, st->pack), l->pslot[st->pack]);
            break;
        }
        case KS_PROLOGUE: { /* n may be 0 and x then unreadable */
            LLVMBasicBlockRef pro = LLVMAppendBasicBlockInContext(l->ctx, l->fn, "first");
            lp->pre = LLVMAppendBasicBlockInContext(l->ctx, l->fn, "enter");
            LLVMBuildCondBr(l->b, LLVMBuildICmp(l->b, LLVMIntNE, lp->steps, LLVMConstInt(l->isz, 0, 0), ""), pro,
                            lp->pre);
            LLVMPositionBuilderAtEnd(l->b, pro);
            l->x = lp->x0;
            break;
        }
        case KS_FIRST: {
            l->inline_all = true;
            LLVMValueRef z = value(l, l->s->root[st->root].node);
            l->inline_all = false;
            store_carried(l, st, z);
            break;
        }
        case KS_PROLOGUE_END:
            LLVMBuildBr(l->b, lp->pre);
            LLVMPositionBuilderAtEnd(l->b, lp->pre);
            lp->entry = lp->pre;
            break;
        case KS_LOOP: {
            lp->head = LLVMAppendBasicBlockInContext(l->ctx, l->fn, "loop");
            LLVMBasicBlockRef step = LLVMAppendBasicBlockInContext(l->ctx, l->fn, "step");
            lp->done = LLVMAppendBasicBlockInContext(l->ctx, l->fn, "done");
            LLVMBuildBr(l->b, lp->head);
            LLVMPositionBuilderAtEnd(l->b, lp->head);
            lp->si = LLVMBuildPhi(l->b, l->isz, "s");
            lp->xi = LLVMBuildPhi(l->b, l->realp, "x");
            lp->ti = LLVMBuildPhi(l->b, l->realp, "t");
            lp->total = LLVMBuildPhi(l->b, dbl, "total");
            LLVMBuildCondBr(l->b, LLVMBuildICmp(l->b, LLVMIntULT, lp->si, lp->steps, ""), step, lp->done);
            LLVMPositionBuilderAtEnd(l->b, step);
            l->x = lp->xi, l->t = lp->ti, l->step_s = lp->si;
            LLVMValueRef dx = LLVMConstInt(l->i64, (unsigned long long)m->batch * (unsigned)m->input, 0);
            lp->x2 = LLVMBuildInBoundsGEP2(l->b, l->real, lp->xi, &dx, 1, "");
            lp->s2 = LLVMBuildAdd(l->b, lp->si, LLVMConstInt(l->isz, 1, 0), "");
            if (st->count) /* the next batch's inputs (carry.c); the last batch reads itself, unused */
                l->xn = LLVMBuildSelect(l->b, LLVMBuildICmp(l->b, LLVMIntULT, lp->s2, lp->steps, ""), lp->x2,
                                        lp->xi, "xn");
            break;
        }
        case KS_VASSIGN:
            LLVMBuildStore(l->b, pack_value(l, st->from), l->pslot[st->pack]);
            break;
        case KS_STORE:
            if (st->node >= 0)
                store_carried(l, st, value(l, l->s->root[st->root].node));
            else
                LLVMBuildStore(l->b, value(l, l->s->root[st->root].node), root_addr(l, &l->s->root[st->root]));
            break;
        case KS_STEPS:
            count_steps(l, st->count ? LLVMConstInt(l->i64, 1, 0) : LLVMBuildZExt(l->b, lp->steps, l->i64, ""));
            break;
        case KS_LOSS:
            if (l->pl->k != K_TRAIN) {
                LLVMBuildRet(l->b, value(l, st->node));
                break;
            }
            lp->total2 = LLVMBuildFAdd(l->b, lp->total, LLVMBuildFPExt(l->b, value(l, st->node), dbl, ""), "");
            break;
        case KS_LOOP_END: {
            LLVMValueRef dt = LLVMConstInt(l->i64, (unsigned long long)m->batch * (unsigned)model_targets(m), 0);
            LLVMValueRef t2 = LLVMBuildInBoundsGEP2(l->b, l->real, lp->ti, &dt, 1, "");
            LLVMBasicBlockRef latch = LLVMGetInsertBlock(l->b);
            LLVMBuildBr(l->b, lp->head);
            LLVMValueRef zero = LLVMConstInt(l->isz, 0, 0), dzero = LLVMConstReal(dbl, 0.0);
            LLVMValueRef vs[2] = {zero, lp->s2}, vx[2] = {lp->x0, lp->x2}, vt[2] = {lp->t0, t2},
                         vtot[2] = {dzero, lp->total2};
            LLVMBasicBlockRef from[2] = {lp->entry, latch};
            LLVMAddIncoming(lp->si, vs, from, 2);
            LLVMAddIncoming(lp->xi, vx, from, 2);
            LLVMAddIncoming(lp->ti, vt, from, 2);
            LLVMAddIncoming(lp->total, vtot, from, 2);
            LLVMPositionBuilderAtEnd(l->b, lp->done);
            break;
        }
        case KS_WRITEBACK:
            LLVMBuildStore(l->b, st->pack >= 0 ? value(l, st->node) : load(l, l->real, l->slot[st->node], ""),
                           leaf_addr(l, nd->op, nd->slot, nd->index));
            break;
        case KS_RETURN: { /* steps ? (real)(total / (double)steps) : 0 */
            LLVMValueRef mean = LLVMBuildFDiv(l->b, lp->total, LLVMBuildUIToFP(l->b, lp->steps, dbl, ""), "");
            if (!l->o->fp64)
                mean = LLVMBuildFPTrunc(l->b, mean, l->real, "");
            LLVMValueRef any = LLVMBuildICmp(l->b, LLVMIntNE, lp->steps, LLVMConstInt(l->isz, 0, 0), "");
            LLVMBuildRet(l->b, LLVMBuildSelect(l->b, any, mean, LLVMConstReal(l->real, 0.0), "mean"));
            break;
        }
        case KS_COUNT:
            unreachable();
        }
    }
    if (l->pl->k == K_FORWARD || l->pl->k == K_APPLY)
        LLVMBuildRetVoid(l->b);
    free(l->val);
    free(l->slot);
    free(l->pval);
    free(l->pslot);
    free(l->lane_load);
}

static void kernel_forward(L *l, const KProg *kp) {
    LLVMTypeRef args[] = {ptr(l->params), l->realp, l->realp};
    static const char *const names[] = {"p", "x", "y"};
    /* y is the only memory written: it must not overlap p or x (README). */
    static const char *const attrs[] = {"nocapture readonly", "nocapture readonly",
                                        "nocapture noalias writeonly"};
    LLVMValueRef fn = ll_function(l, format("%s_forward", l->m->name), LLVMVoidTypeInContext(l->ctx), args,
                               names, attrs, 3);
    l->p = LLVMGetParam(fn, 0), l->x = LLVMGetParam(fn, 1), l->y = LLVMGetParam(fn, 2);
    render(l, kp, NULL);
}

static void kernel_grad(L *l, const KProg *kp) {
    LLVMTypeRef args[] = {ptr(l->params), l->realp, l->realp, ptr(l->params)};
    static const char *const names[] = {"p", "x", "t", "g"};
    static const char *const attrs[] = {"nocapture readonly", "nocapture readonly",
                                        "nocapture readonly", "nocapture noalias writeonly"};
    LLVMValueRef fn = ll_function(l, format("%s_grad", l->m->name), l->real, args, names, attrs, 4);
    l->p = LLVMGetParam(fn, 0), l->x = LLVMGetParam(fn, 1), l->t = LLVMGetParam(fn, 2);
    l->g = LLVMGetParam(fn, 3);
    render(l, kp, NULL);
}

static void kernel_step(L *l, const KProg *kp) {
    LLVMTypeRef args[] = {ptr(l->params), ptr(l->optim), l->realp, l->realp};
    static const char *const names[] = {"p", "o", "x", "t"};
    static const char *const attrs[] = {"nocapture", "nocapture noalias", "nocapture readonly",
                                        "nocapture readonly"};
    LLVMValueRef fn = ll_function(l, format("%s_step", l->m->name), l->real, args, names, attrs, 4);
    l->p = LLVMGetParam(fn, 0), l->o_arg = LLVMGetParam(fn, 1);
    l->x = LLVMGetParam(fn, 2), l->t = LLVMGetParam(fn, 3);
    render(l, kp, NULL);
}

/* NAME_apply(p, o, g): NAME_step's update from the given gradient. */
static void kernel_apply(L *l, const KProg *kp) {
    LLVMTypeRef args[] = {ptr(l->params), ptr(l->optim), ptr(l->params)};
    static const char *const names[] = {"p", "o", "g"};
    static const char *const attrs[] = {"nocapture", "nocapture noalias", "nocapture readonly"};
    LLVMValueRef fn = ll_function(l, format("%s_apply", l->m->name), LLVMVoidTypeInContext(l->ctx), args, names,
                                  attrs, 3);
    l->p = LLVMGetParam(fn, 0), l->o_arg = LLVMGetParam(fn, 1), l->g = LLVMGetParam(fn, 2);
    render(l, kp, NULL);
}

/* One loop over the steps; the parameters live in allocas across it, which
 * the pass pipeline's SROA/mem2reg turns into registers (phis) from -O1. */
static void kernel_train(L *l, const KProg *kp) {
    LLVMTypeRef args[] = {ptr(l->params), ptr(l->optim), l->realp, l->realp, l->isz};
    static const char *const names[] = {"p", "o", "x", "t", "n"};
    static const char *const attrs[] = {"nocapture", "nocapture noalias", "nocapture readonly",
                                        "nocapture readonly", ""};
    LLVMValueRef fn = ll_function(l, format("%s_train", l->m->name), l->real, args, names, attrs, 5);
    l->p = LLVMGetParam(fn, 0), l->o_arg = LLVMGetParam(fn, 1);
    Loop lp = {.x0 = LLVMGetParam(fn, 2), .t0 = LLVMGetParam(fn, 3)};
    lp.entry = LLVMGetInsertBlock(l->b);
    lp.steps = LLVMBuildUDiv(l->b, LLVMGetParam(fn, 4), LLVMConstInt(l->isz, (unsigned)l->m->batch, 0), "steps");
    render(l, kp, &lp);
}

/* The kernels of the schedule, one function each. */
void ll_kernels(L *l) {
    check_ops();
    kernel_forward(l, &l->sc->k[K_FORWARD]);
    kernel_grad(l, &l->sc->k[K_GRAD]);
    kernel_step(l, &l->sc->k[K_STEP]);
    kernel_train(l, &l->sc->k[K_TRAIN]);
    if (l->sc->apply)
        kernel_apply(l, &l->sc->k[K_APPLY]);
}
