/* emit_llvm.c: the scalar IR built as an LLVM module, through the LLVM C API.
 *
 * The second backend, and the only file of netc that includes llvm-c headers:
 * every LLVM handle is created and disposed here.  It builds, node for node,
 * what emit_c.c prints: the same kernels with the same C ABI, the same values
 * in the same order (each sum left to right, max as `a < b ? b : a`, gt as an
 * ordered >), with no fast-math flags and no fmuladd, so LLVM may not contract
 * or reassociate anything.  The presentation decisions of emit_c.c (which
 * values get a name, which are inlined into their user, and the names
 * themselves: hidden_z_0, d_hidden_weight_2_4, tmp7) are repeated here so
 * that the IR reads like the C.
 *
 * Outputs: textual IR, bitcode, assembly or an object for any target LLVM
 * was built with (emit_llvm), or the whole trainer compiled in memory with
 * ORC's LLJIT and run at once (run_jit).  With LlvmOptions.trainer the module
 * also holds what the C backend puts under #ifdef NETC_TRAINER: void-pointer
 * wrappers of the kernels, the netrt_model descriptor and main().
 */
#define _POSIX_C_SOURCE 200809L
#include "netc.h"
#include "netrt.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/BitWriter.h>
#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The descriptor built below mirrors netrt.h field for field; a field added
 * there must be added here (and this check updated). */
_Static_assert(offsetof(netrt_model, set_lr) + sizeof(void (*)(void)) == sizeof(netrt_model),
               "netrt_model gained a field: update model_type() and descriptor() in emit_llvm.c");

typedef struct L {
    const Model *m;
    const Graph *s;
    const LlvmOptions *o;
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTargetDataRef td;
    LLVMTypeRef real, i1, i8, i32, i64, isz, i8p, realp, params, optim, tensor, model;
    /* the kernel being built */
    Plan pl; /* the kernel being built */
    LLVMTypeRef vreal, vmask; /* <W x real>, <W x i1> */
    LLVMValueRef *pval;       /* each live pack's vector value, once built */
    LLVMValueRef *pslot;      /* K_TRAIN: the alloca of each carried leaf vector */
    LLVMValueRef *lane_load;  /* K_TRAIN, samples in the lanes: a carried vector's
                               * lane read from its alloca this step (splat_lane) */
    LLVMValueRef fn, p, o_arg, x, t, g, y;
    LLVMValueRef step_s; /* NAME_train: the loop's step index s */
    LLVMValueRef xn;     /* NAME_train: the next batch's inputs (carry.c) */
    bool inline_all;     /* build whole expressions from memory (NAME_train's prologue) */
    Chunks chunks;       /* whole-vector loads of this body (plan_chunks) */
    LLVMValueRef chunk[64]; /* and their values */
    LLVMValueRef *val;  /* the value of each named node, once built */
    LLVMValueRef *slot; /* K_TRAIN: the alloca holding each parameter leaf */
    LLVMValueRef pow_fn, tanh_fn;
} L;

/* RISC-V's float ABI (lp64d, ...) for the target being built, or NULL.  The
 * LLVM 14 C API cannot set TargetOptions' ABI name: the module flag
 * "target-abi" makes code generation use the hard-float calling convention,
 * and emit_llvm() marks the object's ELF header (e_flags) to match, as llc
 * -target-abi would. */
static const char *riscv_abi;

/* Makes s and pk the schedule the next kernels print (NULL: none). */
static void use_schedule(L *l, const Graph *s, const Packing *pk) {
    if (l->val) {
        plan_free(&l->pl);
        free(l->pval);
        free(l->pslot);
        free(l->lane_load);
        free(l->val);
        free(l->slot);
        l->val = NULL;
    }
    if (!s)
        return;
    l->s = s;
    l->val = xcalloc((size_t)s->n, sizeof(LLVMValueRef));
    l->slot = xcalloc((size_t)s->n, sizeof(LLVMValueRef));
    l->pval = xcalloc((size_t)pk->npack + 1, sizeof(LLVMValueRef));
    l->pslot = xcalloc((size_t)pk->npack + 1, sizeof(LLVMValueRef));
    l->lane_load = xcalloc(((size_t)pk->npack + 1) * LIMIT_LANES, sizeof(LLVMValueRef));
    plan_init(&l->pl, l->m, s, pk);
}

/* Starts kernel k: the shared plan, and no values built yet. */
static void plan(L *l, Kernel k) {
    plan_kernel(&l->pl, k);
    memset(l->val, 0, sizeof(LLVMValueRef) * (size_t)l->s->n);
    memset(l->slot, 0, sizeof(LLVMValueRef) * (size_t)l->s->n);
    memset(l->pval, 0, sizeof(LLVMValueRef) * (size_t)(l->pl.pk->npack + 1));
    memset(l->pslot, 0, sizeof(LLVMValueRef) * (size_t)(l->pl.pk->npack + 1));
}

/* ---- values ---- */

/* A constant; the IR holds it rounded to the kernel's precision, and the C
 * backend prints text that reads back as the same value. */
static LLVMValueRef real_const(L *l, double v) {
    return LLVMConstReal(l->real, v);
}

static LLVMValueRef gep2(L *l, LLVMValueRef base, LLVMTypeRef ty, unsigned a, unsigned b) {
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
enum { OPTIM_STEPS, OPTIM_LR, OPTIM_STATE0 };

static LLVMValueRef state_addr(L *l, int slot, int k) {
    return member_addr(l, l->optim, l->o_arg, OPTIM_STATE0 + slot, &l->m->params[l->m->states[slot].param], k);
}

/* Where a carried leaf lives in memory. */
static LLVMValueRef leaf_addr(L *l, Op op, int slot, int k) {
    return op == OP_PARAM ? param_addr(l, l->p, slot, k) : state_addr(l, slot, k);
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
static void add_attr(L *l, LLVMValueRef fn, LLVMAttributeIndex at, const char *name);

static LLVMValueRef intrinsic(L *l, const char *name, LLVMTypeRef ty, LLVMValueRef a, LLVMValueRef b) {
    const char *full = format("llvm.%s.%s", name, ty == LLVMFloatTypeInContext(l->ctx) ? "f32" : "f64");
    LLVMValueRef fn = LLVMGetNamedFunction(l->mod, full);
    LLVMTypeRef args[2] = {ty, ty}, ft = LLVMFunctionType(ty, args, b ? 2 : 1, 0);
    if (!fn)
        fn = LLVMAddFunction(l->mod, full, ft);
    LLVMValueRef v[2] = {a, b};
    return LLVMBuildCall2(l->b, ft, fn, v, b ? 2 : 1, "");
}

/* tanh has no LLVM intrinsic: the C library's tanhf/tanh, as the C calls. */
static LLVMValueRef libm_tanh(L *l, LLVMValueRef a, const char *name) {
    const char *fname = l->o->fp64 ? "tanh" : "tanhf";
    LLVMTypeRef ft = LLVMFunctionType(l->real, &l->real, 1, 0);
    LLVMValueRef fn = LLVMGetNamedFunction(l->mod, fname);
    if (!fn) {
        fn = LLVMAddFunction(l->mod, fname, ft);
        add_attr(l, fn, LLVMAttributeFunctionIndex, "nounwind");
    }
    return LLVMBuildCall2(l->b, ft, fn, &a, 1, name);
}

/* The optimizer's step counter for this step: o->steps (+ s in NAME_train). */
static LLVMValueRef step_index(L *l) {
    LLVMValueRef steps = load(l, l->i64, gep2(l, l->o_arg, l->optim, 0, OPTIM_STEPS), "");
    return l->pl.k == K_TRAIN ? LLVMBuildAdd(l->b, steps, LLVMBuildZExt(l->b, l->step_s, l->i64, ""), "") : steps;
}

/* A per-step scalar, as emit_c.c's hyper_def writes it (in double, then cast). */
static LLVMValueRef hyper(L *l, Hyper h, const char *name) {
    const Optimizer *o = &l->m->opt;
    LLVMTypeRef dbl = LLVMDoubleTypeInContext(l->ctx);
    LLVMValueRef one = LLVMConstReal(dbl, 1.0);
    /* lr = o->lr != 0 ? (double)o->lr : NAME_LR */
    LLVMValueRef lr = NULL;
    if (h == HY_LR || h == HY_STEP_SIZE || h == HY_DECAY) {
        LLVMValueRef olr = load(l, LLVMFloatTypeInContext(l->ctx), gep2(l, l->o_arg, l->optim, 0, OPTIM_LR), "");
        LLVMValueRef set = LLVMBuildFCmp(l->b, LLVMRealUNE, olr, LLVMConstReal(LLVMTypeOf(olr), 0.0), "");
        lr = LLVMBuildSelect(l->b, set, LLVMBuildFPExt(l->b, olr, dbl, ""), LLVMConstReal(dbl, o->lr), "lr");
    }
    LLVMValueRef d = NULL;
    switch (h) {
    case HY_LR:
        d = lr;
        break;
    case HY_FIRST:
        return LLVMBuildICmp(l->b, LLVMIntEQ, step_index(l), LLVMConstInt(l->i64, 0, 0), name);
    case HY_STEP_SIZE: case HY_BC2_SQRT: {
        /* 1.0 - pow(beta, (double)(step + 1)) */
        LLVMValueRef n = LLVMBuildUIToFP(l->b, LLVMBuildAdd(l->b, step_index(l), LLVMConstInt(l->i64, 1, 0), ""), dbl, "");
        LLVMValueRef pw = intrinsic(l, "pow", dbl, LLVMConstReal(dbl, h == HY_STEP_SIZE ? o->beta1 : o->beta2), n);
        LLVMValueRef bc = LLVMBuildFSub(l->b, one, pw, "");
        d = h == HY_STEP_SIZE ? LLVMBuildFDiv(l->b, lr, bc, "") : intrinsic(l, "sqrt", dbl, bc, NULL);
        break;
    }
    case HY_DECAY:
        d = LLVMBuildFSub(l->b, one, LLVMBuildFMul(l->b, lr, LLVMConstReal(dbl, o->weight_decay), ""), "");
        break;
    case HY_COUNT:
        die("emit_llvm: hyper %d", (int)h);
    }
    return l->o->fp64 ? d : LLVMBuildFPTrunc(l->b, d, l->real, name);
}

/* Builds node id here, as the C evaluates an expression where it appears. */
/* The instruction of an arithmetic op on operand values: scalars, or vectors
 * lane by lane (the same builders serve both). */
static LLVMValueRef arith(L *l, Op op, LLVMValueRef *v, const char *name) {
    switch (op) {
    case OP_NEG: return LLVMBuildFNeg(l->b, v[0], name);
    case OP_ADD: return LLVMBuildFAdd(l->b, v[0], v[1], name);
    case OP_SUB: return LLVMBuildFSub(l->b, v[0], v[1], name);
    case OP_MUL: return LLVMBuildFMul(l->b, v[0], v[1], name);
    case OP_DIV: return LLVMBuildFDiv(l->b, v[0], v[1], name);
    case OP_GT: return LLVMBuildFCmp(l->b, LLVMRealOGT, v[0], v[1], name);
    case OP_EQ: return LLVMBuildFCmp(l->b, LLVMRealOEQ, v[0], v[1], name);
    case OP_MAX: /* a < b ? b : a: an ordered compare, so a NaN in a comes through */
        return LLVMBuildSelect(l->b, LLVMBuildFCmp(l->b, LLVMRealOLT, v[0], v[1], ""), v[1], v[0], name);
    case OP_SELECT: return LLVMBuildSelect(l->b, v[0], v[1], v[2], name);
    case OP_FMA: { /* llvm.fma: one rounding, lane by lane */
        LLVMTypeRef ty = LLVMTypeOf(v[0]), args[3] = {ty, ty, ty};
        unsigned id = LLVMLookupIntrinsicID("llvm.fma", 8);
        LLVMValueRef fn = LLVMGetIntrinsicDeclaration(l->mod, id, &ty, 1);
        return LLVMBuildCall2(l->b, LLVMFunctionType(ty, args, 3, 0), fn, v, 3, name);
    }
    default: die("emit_llvm: %s is not arithmetic", op_name[op]);
    }
}

static LLVMValueRef build(L *l, int id, const char *name) {
    const Node *n = &l->s->node[id];
    switch (n->op) {
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
    case OP_HYPER:
        return hyper(l, (Hyper)n->slot, name);
    case OP_CONST:
        return real_const(l, n->value);
    case OP_EXP: case OP_LOG: case OP_ABS: case OP_SQRT: {
        static const char *const fn[OP_COUNT] = {[OP_EXP] = "exp", [OP_LOG] = "log", [OP_ABS] = "fabs",
                                                 [OP_SQRT] = "sqrt"};
        LLVMValueRef v = intrinsic(l, fn[n->op], l->real, value(l, n->arg[0]), NULL);
        LLVMSetValueName2(v, name, strlen(name));
        return v;
    }
    case OP_TANH:
        return libm_tanh(l, value(l, n->arg[0]), name);
    case OP_SIGMOID: { /* 1 / (1 + e^-a) */
        LLVMValueRef e = intrinsic(l, "exp", l->real, LLVMBuildFNeg(l->b, value(l, n->arg[0]), ""), NULL);
        LLVMValueRef one = real_const(l, 1.0f);
        return LLVMBuildFDiv(l->b, one, LLVMBuildFAdd(l->b, one, e, ""), name);
    }
    case OP_EQ: case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_NEG: case OP_MAX:
    case OP_GT: case OP_SELECT: case OP_FMA: {
        LLVMValueRef ops[3] = {NULL, NULL, NULL};
        for (int a = 0; a < 3 && n->arg[a] >= 0; a++)
            ops[a] = value(l, n->arg[a]);
        return arith(l, n->op, ops, name);
    }
    case OP_MATMUL: case OP_TRANSPOSE: case OP_BCAST: case OP_SUMROWS: case OP_SUMALL:
    case OP_SPLAT: case OP_ONEHOT: case OP_SOFTMAX: case OP_LOGSOFTMAX: case OP_BCE:
        die("emit_llvm: %s in a scalar graph", op_name[n->op]);
    case OP_COUNT:
        break;
    }
    die("emit_llvm: unknown op %d", (int)n->op);
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
    const Pack *pv = &l->pl.pk->pack[v];
    LLVMValueRef vec = LLVMConstNull(l->vreal);
    for (int i = 0; i < pv->lanes; i++) {
        const Node *n = &l->s->node[pv->node[i]];
        LLVMValueRef x = n->op == OP_INPUT    ? load(l, l->real, elem_addr(l, l->x, n->index), "")
                         : n->op == OP_TARGET ? load(l, l->real, elem_addr(l, l->t, n->index), "")
                                              : load(l, l->real, leaf_addr(l, n->op, n->slot, n->index), "");
        vec = LLVMBuildInsertElement(l->b, vec, x, LLVMConstInt(l->i32, (unsigned)i, 0),
                                     i + 1 == pv->lanes ? l->pl.pack_var[v] : "");
    }
    return vec;
}

/* A strided pack (plan_strided) as whole-vector loads, each once per body,
 * and shuffles; NULL if it is not one. */
static LLVMValueRef strided_vector(L *l, int v) {
    const Pack *pv = &l->pl.pk->pack[v];
    Strided g;
    bool t = l->s->node[pv->node[0]].op == OP_TARGET, fresh[LIMIT_LANES];
    int slot[LIMIT_LANES];
    if (!plan_strided(&l->pl, pv, &g) || !plan_chunks(&l->chunks, &g, t, l->pl.pk->width, slot, fresh))
        return NULL;
    LLVMValueRef chunk[LIMIT_LANES];
    for (int c = 0; c < g.nchunk; c++) {
        int j = slot[c];
        if (fresh[c]) {
            LLVMValueRef addr = LLVMBuildBitCast(l->b, elem_addr(l, t ? l->t : l->x, l->chunks.at[j]),
                                                 LLVMPointerType(l->vreal, 0), "");
            l->chunk[j] = load(l, l->vreal, addr, "");
            LLVMSetAlignment(l->chunk[j], l->o->fp64 ? 8 : 4);
        }
        chunk[c] = l->chunk[j];
    }
    Shuffle prog[2 * LIMIT_LANES]; /* plan_shuffles: equal steps of two packs are CSE'd by LLVM */
    LLVMValueRef step[2 * LIMIT_LANES], vec = NULL;
    int nstep = plan_shuffles(&l->pl, &g, prog);
    for (int s = 0; s < nstep; s++) {
        LLVMValueRef mask[LIMIT_LANES];
        for (int k = 0; k < l->pl.pk->width; k++)
            mask[k] = prog[s].idx[k] < 0 ? LLVMGetUndef(l->i32) : LLVMConstInt(l->i32, (unsigned)prog[s].idx[k], 0);
        LLVMValueRef a = prog[s].a < 0 ? chunk[-1 - prog[s].a] : step[prog[s].a];
        LLVMValueRef b = prog[s].b < 0 ? chunk[-1 - prog[s].b] : step[prog[s].b];
        vec = step[s] = LLVMBuildShuffleVector(l->b, a, b, LLVMConstVector(mask, (unsigned)l->pl.pk->width), "");
    }
    LLVMSetValueName2(vec, l->pl.pack_var[v], strlen(l->pl.pack_var[v]));
    return vec;
}

static LLVMValueRef pack_value(L *l, int v) {
    if (l->pslot[v])
        return LLVMBuildLoad2(l->b, l->vreal, l->pslot[v], "");
    if (!l->pval[v])
        die("emit_llvm: vector %s used before it is computed", l->pl.pack_var[v]);
    return l->pval[v];
}

/* NAME_train with a batch's samples in the lanes reads every parameter as a
 * splat, the same value in all lanes, while the parameters are carried in
 * a few vectors (the update's lanes).  A splat of a lane of a register is
 * a shuffle, and x86 has one port for shuffles, which the rows of inputs
 * (plan_shuffles) and the gradients' tails already fill; a splat from
 * memory (vbroadcastss) uses a load port only.  So the lane is read from
 * the vector's alloca with a volatile load: LLVM would otherwise forward
 * the stored vector and extract the lane in a register.  One load per lane
 * and step, before the step's update stores the vector; NULL where id is
 * not such a lane. */
static LLVMValueRef splat_lane(L *l, int id) {
    int v = plan_pack(&l->pl, id);
    if (l->pl.k != K_TRAIN || !l->pl.pk->samples || l->inline_all || v < 0 || !l->pslot[v])
        return NULL;
    int lane = l->pl.pk->lane_of[id];
    LLVMValueRef *ld = &l->lane_load[(size_t)v * LIMIT_LANES + (size_t)lane];
    if (!*ld) {
        LLVMValueRef base = LLVMBuildBitCast(l->b, l->pslot[v], l->realp, "");
        LLVMValueRef at = LLVMConstInt(l->i32, (unsigned)lane, 0);
        *ld = load(l, l->real, LLVMBuildInBoundsGEP2(l->b, l->real, base, &at, 1, ""), "");
        LLVMSetVolatile(*ld, 1);
    }
    return *ld;
}

/* Operand a of pack v as a vector: a packed vector, a splat or a gather. */
static LLVMValueRef vector_operand(L *l, const Pack *v, int a) {
    int w = plan_operand_pack(&l->pl, v, a);
    if (w >= 0)
        return pack_value(l, w);
    int ids[LIMIT_LANES] = {0};
    for (int i = 0; i < v->lanes; i++)
        ids[i] = l->s->node[v->node[i]].arg[a];
    bool splat = true;
    for (int i = 1; i < v->lanes; i++)
        splat &= ids[i] == ids[0];
    LLVMValueRef mem = splat ? splat_lane(l, ids[0]) : NULL;
    if (mem) {
        LLVMValueRef one = LLVMBuildInsertElement(l->b, LLVMGetUndef(l->vreal), mem, LLVMConstInt(l->i32, 0, 0), "");
        LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(l->i32, (unsigned)l->pl.pk->width));
        return LLVMBuildShuffleVector(l->b, one, LLVMGetUndef(l->vreal), zeros, "");
    }
    for (int i = v->lanes; splat && i < l->pl.pk->width; i++)
        ids[i] = ids[0];
    return lanes_vector(l, ids, splat ? l->pl.pk->width : v->lanes,
                        l->s->node[ids[0]].type.dt == DT_BOOL, "");
}

/* Every lane's node of pack vi at once. */
static LLVMValueRef vector_op(L *l, int vi) {
    const Pack *v = &l->pl.pk->pack[vi];
    const Node *n = &l->s->node[v->node[0]];
    LLVMValueRef ops[3] = {NULL, NULL, NULL};
    for (int a = 0; a < 3 && n->arg[a] >= 0; a++)
        ops[a] = vector_operand(l, v, a);
    return arith(l, n->op, ops, l->pl.pack_var[vi]);
}

/* The value of node id where it is used: a named local, or built inline. */
static LLVMValueRef value(L *l, int id) {
    if (l->inline_all)
        return build(l, id, "");
    int v = plan_pack(&l->pl, id);
    if (v >= 0)
        return LLVMBuildExtractElement(l->b, pack_value(l, v),
                                       LLVMConstInt(l->i32, (unsigned)l->pl.pk->lane_of[id], 0), "");
    if (l->pl.is_var[id]) {
        if (l->pl.k == K_TRAIN && plan_carried(l->s->node[id].op))
            return load(l, l->real, l->slot[id], "");
        if (!l->val[id])
            die("emit_llvm: %s used before it is computed", l->pl.var[id]);
        return l->val[id];
    }
    return build(l, id, "");
}

/* The statements computing every named local, in graph order. */
static void body(L *l) {
    l->chunks.n = 0;
    memset(l->lane_load, 0, sizeof(LLVMValueRef) * (size_t)(l->pl.pk->npack + 1) * LIMIT_LANES);
    for (int v = 0; v < l->pl.pk->npack; v++) /* leaf vectors, loaded once */
        if (l->pl.pack_live[v] && plan_leaf_op(l->s->node[l->pl.pk->pack[v].node[0]].op) &&
            !(l->pl.k == K_TRAIN && plan_carried(l->s->node[l->pl.pk->pack[v].node[0]].op))) {
            l->pval[v] = strided_vector(l, v);
            if (!l->pval[v])
                l->pval[v] = leaf_vector(l, v);
        }
    for (int i = 0; i < l->s->n; i++) {
        int v = plan_pack(&l->pl, i);
        if (v >= 0) {
            const Pack *pv = &l->pl.pk->pack[v];
            if (!plan_leaf_op(l->s->node[i].op) && pv->last == i)
                l->pval[v] = vector_op(l, v);
            continue;
        }
        if (!l->pl.is_var[i] || (l->pl.k == K_TRAIN && plan_carried(l->s->node[i].op)))
            continue;
        l->val[i] = build(l, i, l->pl.var[i]);
    }
}

/* NAME_train: the carried vector v's next value as one computed vector, if
 * every lane's root is the same lane of one pack (the update, lane for
 * lane); NULL otherwise.  Its lanes past v's are junk, as in the C
 * backend's whole-vector assignment: no lane reads them. */
static LLVMValueRef whole_update(L *l, int v) {
    const Pack *pv = &l->pl.pk->pack[v];
    int w = -1, lanes = 0;
    for (int r = 0; r < l->s->nroot; r++) {
        const Root *root = &l->s->root[r];
        Op op = plan_root_leaf(root->kind);
        int leaf = op == OP_COUNT || !plan_has_root(&l->pl, root) ? -1 : plan_leaf(&l->pl, op, root->slot, root->index);
        if (leaf < 0 || plan_pack(&l->pl, leaf) != v)
            continue;
        int u = plan_pack(&l->pl, root->node);
        if (u < 0 || (w >= 0 && u != w) || l->pl.pk->lane_of[root->node] != l->pl.pk->lane_of[leaf])
            return NULL;
        w = u;
        lanes++;
    }
    return w >= 0 && lanes == pv->lanes && l->pl.pk->pack[w].lanes == pv->lanes ? pack_value(l, w) : NULL;
}

/* The stores of the kernel's roots, in root order; returns the loss node. */
static int stores(L *l) {
    const Graph *s = l->s;
    int loss = -1;
    bool *whole = xcalloc((size_t)l->pl.pk->npack + 1, sizeof(bool));
    for (int v = 0; l->pl.k == K_TRAIN && v < l->pl.pk->npack; v++) {
        LLVMValueRef next = l->pslot[v] ? whole_update(l, v) : NULL;
        if (next) {
            LLVMBuildStore(l->b, next, l->pslot[v]);
            whole[v] = true;
        }
    }
    for (int r = 0; r < s->nroot; r++) {
        const Root *root = &s->root[r];
        if (!plan_has_root(&l->pl, root))
            continue;
        LLVMValueRef addr = NULL;
        switch (root->kind) {
        case ROOT_OUTPUT:
            addr = elem_addr(l, l->y, root->index);
            break;
        case ROOT_LOSS:
            loss = root->node;
            continue;
        case ROOT_CARRY_INIT: /* kernel_train's prologue */
            continue;
        case ROOT_GRAD:
            addr = param_addr(l, l->g, root->slot, root->index);
            break;
        case ROOT_UPDATE: case ROOT_STATE: case ROOT_CARRY: {
            Op op = plan_root_leaf(root->kind);
            if (l->pl.k == K_TRAIN) {
                int leaf = plan_leaf(&l->pl, op, root->slot, root->index);
                int v = leaf >= 0 ? plan_pack(&l->pl, leaf) : -1;
                if (v >= 0 && whole[v]) /* stored whole, above */
                    continue;
                if (v >= 0) { /* a lane of a carried vector */
                    LLVMValueRef vec = LLVMBuildLoad2(l->b, l->vreal, l->pslot[v], "");
                    vec = LLVMBuildInsertElement(l->b, vec, value(l, root->node),
                                                 LLVMConstInt(l->i32, (unsigned)l->pl.pk->lane_of[leaf], 0), "");
                    LLVMBuildStore(l->b, vec, l->pslot[v]);
                    continue;
                }
                if (leaf < 0 || !l->pl.is_var[leaf]) /* never read: nothing to carry */
                    continue;
                addr = l->slot[leaf];
            } else {
                addr = leaf_addr(l, op, root->slot, root->index);
            }
            break;
        }
        }
        LLVMBuildStore(l->b, value(l, root->node), addr);
    }
    free(whole);
    return loss;
}

/* ---- functions ---- */

static void add_attr(L *l, LLVMValueRef fn, LLVMAttributeIndex at, const char *name) {
    unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
    if (!kind)
        die("emit_llvm: no LLVM attribute '%s'", name);
    LLVMAddAttributeAtIndex(fn, at, LLVMCreateEnumAttribute(l->ctx, kind, 0));
}

/* A kernel's prototype.  attrs[i] lists the attributes of parameter i + 1,
 * blank-separated. */
static LLVMValueRef function(L *l, const char *name, LLVMTypeRef ret, LLVMTypeRef *args,
                             const char *const *names, const char *const *attrs, unsigned n) {
    LLVMValueRef fn = LLVMAddFunction(l->mod, name, LLVMFunctionType(ret, args, n, 0));
    add_attr(l, fn, LLVMAttributeFunctionIndex, "nounwind");
    for (unsigned i = 0; i < n; i++) {
        LLVMSetValueName2(LLVMGetParam(fn, i), names[i], strlen(names[i]));
        char buf[128];
        snprintf(buf, sizeof buf, "%s", attrs[i]);
        for (char *save = NULL, *a = strtok_r(buf, " ", &save); a; a = strtok_r(NULL, " ", &save))
            add_attr(l, fn, i + 1, a);
    }
    LLVMPositionBuilderAtEnd(l->b, LLVMAppendBasicBlockInContext(l->ctx, fn, "entry"));
    l->fn = fn;
    return fn;
}

static LLVMTypeRef ptr(LLVMTypeRef t) { return LLVMPointerType(t, 0); }

static void kernel_forward(L *l) {
    plan(l, K_FORWARD);
    LLVMTypeRef args[] = {ptr(l->params), l->realp, l->realp};
    static const char *const names[] = {"p", "x", "y"};
    /* y is the only memory written: it must not overlap p or x (README). */
    static const char *const attrs[] = {"nocapture readonly", "nocapture readonly",
                                        "nocapture noalias writeonly"};
    LLVMValueRef fn = function(l, format("%s_forward", l->m->name), LLVMVoidTypeInContext(l->ctx), args,
                               names, attrs, 3);
    l->p = LLVMGetParam(fn, 0), l->x = LLVMGetParam(fn, 1), l->y = LLVMGetParam(fn, 2);
    body(l);
    stores(l);
    LLVMBuildRetVoid(l->b);
}

static void kernel_grad(L *l) {
    plan(l, K_GRAD);
    LLVMTypeRef args[] = {ptr(l->params), l->realp, l->realp, ptr(l->params)};
    static const char *const names[] = {"p", "x", "t", "g"};
    static const char *const attrs[] = {"nocapture readonly", "nocapture readonly",
                                        "nocapture readonly", "nocapture noalias writeonly"};
    LLVMValueRef fn = function(l, format("%s_grad", l->m->name), l->real, args, names, attrs, 4);
    l->p = LLVMGetParam(fn, 0), l->x = LLVMGetParam(fn, 1), l->t = LLVMGetParam(fn, 2);
    l->g = LLVMGetParam(fn, 3);
    body(l);
    int loss = stores(l);
    LLVMBuildRet(l->b, value(l, loss));
}

/* o->steps += k */
static void count_steps(L *l, LLVMValueRef k) {
    LLVMValueRef addr = gep2(l, l->o_arg, l->optim, 0, 0);
    LLVMValueRef steps = load(l, l->i64, addr, "");
    LLVMBuildStore(l->b, LLVMBuildAdd(l->b, steps, k, ""), addr);
}

static void kernel_step(L *l) {
    plan(l, K_STEP);
    LLVMTypeRef args[] = {ptr(l->params), ptr(l->optim), l->realp, l->realp};
    static const char *const names[] = {"p", "o", "x", "t"};
    static const char *const attrs[] = {"nocapture", "nocapture noalias", "nocapture readonly",
                                        "nocapture readonly"};
    LLVMValueRef fn = function(l, format("%s_step", l->m->name), l->real, args, names, attrs, 4);
    l->p = LLVMGetParam(fn, 0), l->o_arg = LLVMGetParam(fn, 1);
    l->x = LLVMGetParam(fn, 2), l->t = LLVMGetParam(fn, 3);
    body(l);
    count_steps(l, LLVMConstInt(l->i64, 1, 0));
    int loss = stores(l);
    LLVMBuildRet(l->b, value(l, loss));
}

/* One loop over the steps; the parameters live in allocas across it, which
 * the pass pipeline's SROA/mem2reg turns into registers (phis) from -O1. */
/* NAME_train's carried pre-activation (carry.c) for the first batch, when
 * there is one (n may be 0 and x unreadable); returns the block that
 * enters the loop. */
static LLVMBasicBlockRef prologue(L *l, LLVMValueRef fn, LLVMValueRef steps, LLVMValueRef x0) {
    const Graph *s = l->s;
    LLVMBasicBlockRef pro = LLVMAppendBasicBlockInContext(l->ctx, fn, "first");
    LLVMBasicBlockRef pre = LLVMAppendBasicBlockInContext(l->ctx, fn, "enter");
    LLVMBuildCondBr(l->b, LLVMBuildICmp(l->b, LLVMIntNE, steps, LLVMConstInt(l->isz, 0, 0), ""), pro, pre);
    LLVMPositionBuilderAtEnd(l->b, pro);
    l->x = x0;
    for (int r = 0; r < s->nroot; r++) {
        const Root *root = &s->root[r];
        int leaf = root->kind == ROOT_CARRY_INIT ? plan_leaf(&l->pl, OP_CARRY, 0, root->index) : -1;
        int v = leaf >= 0 ? plan_pack(&l->pl, leaf) : -1;
        if (v < 0 && (leaf < 0 || !l->pl.is_var[leaf]))
            continue; /* never read */
        l->inline_all = true;
        LLVMValueRef z = value(l, root->node);
        l->inline_all = false;
        if (v >= 0) {
            LLVMValueRef vec = LLVMBuildLoad2(l->b, l->vreal, l->pslot[v], "");
            vec = LLVMBuildInsertElement(l->b, vec, z,
                                         LLVMConstInt(l->i32, (unsigned)l->pl.pk->lane_of[leaf], 0), "");
            LLVMBuildStore(l->b, vec, l->pslot[v]);
        } else {
            LLVMBuildStore(l->b, z, l->slot[leaf]);
        }
    }
    LLVMBuildBr(l->b, pre);
    LLVMPositionBuilderAtEnd(l->b, pre);
    return pre;
}

static void kernel_train(L *l) {
    const Model *m = l->m;
    const Graph *s = l->s;
    plan(l, K_TRAIN);
    LLVMTypeRef args[] = {ptr(l->params), ptr(l->optim), l->realp, l->realp, l->isz};
    static const char *const names[] = {"p", "o", "x", "t", "n"};
    static const char *const attrs[] = {"nocapture", "nocapture noalias", "nocapture readonly",
                                        "nocapture readonly", ""};
    LLVMValueRef fn = function(l, format("%s_train", m->name), l->real, args, names, attrs, 5);
    l->p = LLVMGetParam(fn, 0), l->o_arg = LLVMGetParam(fn, 1);
    LLVMValueRef x0 = LLVMGetParam(fn, 2), t0 = LLVMGetParam(fn, 3), n = LLVMGetParam(fn, 4);
    LLVMBasicBlockRef entry = LLVMGetInsertBlock(l->b);
    LLVMValueRef steps = LLVMBuildUDiv(l->b, n, LLVMConstInt(l->isz, (unsigned)m->batch, 0), "steps");
    for (int i = 0; i < s->n; i++)
        if (l->pl.is_var[i] && plan_carried(s->node[i].op)) {
            const Node *nd = &s->node[i];
            l->slot[i] = LLVMBuildAlloca(l->b, l->real, l->pl.var[i]);
            LLVMBuildStore(l->b, nd->op == OP_CARRY ? real_const(l, 0.0) /* the prologue sets it */
                                                    : load(l, l->real, leaf_addr(l, nd->op, nd->slot, nd->index), ""),
                           l->slot[i]);
        }
    for (int v = 0; v < l->pl.pk->npack; v++)
        if (l->pl.pack_live[v] && plan_carried(s->node[l->pl.pk->pack[v].node[0]].op)) {
            l->pslot[v] = LLVMBuildAlloca(l->b, l->vreal, l->pl.pack_var[v]);
            bool carry = s->node[l->pl.pk->pack[v].node[0]].op == OP_CARRY;
            LLVMBuildStore(l->b, carry ? LLVMConstNull(l->vreal) : leaf_vector(l, v), l->pslot[v]);
        }
    entry = prologue(l, fn, steps, x0);
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(l->ctx, fn, "loop");
    LLVMBasicBlockRef step = LLVMAppendBasicBlockInContext(l->ctx, fn, "step");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(l->ctx, fn, "done");
    LLVMBuildBr(l->b, head);

    LLVMPositionBuilderAtEnd(l->b, head);
    LLVMTypeRef dbl = LLVMDoubleTypeInContext(l->ctx);
    LLVMValueRef si = LLVMBuildPhi(l->b, l->isz, "s");
    LLVMValueRef xi = LLVMBuildPhi(l->b, l->realp, "x");
    LLVMValueRef ti = LLVMBuildPhi(l->b, l->realp, "t");
    LLVMValueRef total = LLVMBuildPhi(l->b, dbl, "total");
    LLVMBuildCondBr(l->b, LLVMBuildICmp(l->b, LLVMIntULT, si, steps, ""), step, done);

    LLVMPositionBuilderAtEnd(l->b, step);
    l->x = xi, l->t = ti, l->step_s = si;
    LLVMValueRef dx = LLVMConstInt(l->i64, (unsigned long long)m->batch * (unsigned)m->input, 0);
    LLVMValueRef x2 = LLVMBuildInBoundsGEP2(l->b, l->real, xi, &dx, 1, "");
    LLVMValueRef s2 = LLVMBuildAdd(l->b, si, LLVMConstInt(l->isz, 1, 0), "");
    /* the next batch's inputs (carry.c); the last batch reads itself, unused */
    l->xn = LLVMBuildSelect(l->b, LLVMBuildICmp(l->b, LLVMIntULT, s2, steps, ""), x2, xi, "xn");
    body(l);
    int loss = stores(l);
    LLVMValueRef total2 = LLVMBuildFAdd(l->b, total, LLVMBuildFPExt(l->b, value(l, loss), dbl, ""), "");
    LLVMValueRef dt = LLVMConstInt(l->i64, (unsigned long long)m->batch * (unsigned)model_targets(m), 0);
    LLVMValueRef t2 = LLVMBuildInBoundsGEP2(l->b, l->real, ti, &dt, 1, "");
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(l->b);
    LLVMBuildBr(l->b, head);

    LLVMValueRef zero = LLVMConstInt(l->isz, 0, 0), dzero = LLVMConstReal(dbl, 0.0);
    LLVMValueRef vs[2] = {zero, s2}, vx[2] = {x0, x2}, vt[2] = {t0, t2}, vtot[2] = {dzero, total2};
    LLVMBasicBlockRef from[2] = {entry, latch};
    LLVMAddIncoming(si, vs, from, 2);
    LLVMAddIncoming(xi, vx, from, 2);
    LLVMAddIncoming(ti, vt, from, 2);
    LLVMAddIncoming(total, vtot, from, 2);

    LLVMPositionBuilderAtEnd(l->b, done);
    for (int i = 0; i < s->n; i++)
        if (!plan_carried(s->node[i].op) || !plan_stored(&l->pl, &s->node[i]))
            continue;
        else if (l->pl.is_var[i])
            LLVMBuildStore(l->b, load(l, l->real, l->slot[i], ""),
                           leaf_addr(l, s->node[i].op, s->node[i].slot, s->node[i].index));
        else if (plan_pack(&l->pl, i) >= 0)
            LLVMBuildStore(l->b, value(l, i), leaf_addr(l, s->node[i].op, s->node[i].slot, s->node[i].index));
    count_steps(l, LLVMBuildZExt(l->b, steps, l->i64, ""));
    /* steps ? (real)(total / (double)steps) : 0 */
    LLVMValueRef mean = LLVMBuildFDiv(l->b, total, LLVMBuildUIToFP(l->b, steps, dbl, ""), "");
    if (!l->o->fp64)
        mean = LLVMBuildFPTrunc(l->b, mean, l->real, "");
    LLVMValueRef any = LLVMBuildICmp(l->b, LLVMIntNE, steps, zero, "");
    LLVMBuildRet(l->b, LLVMBuildSelect(l->b, any, mean, LLVMConstReal(l->real, 0.0), "mean"));
}

/* NAME_init: splitmix64 and U(-bound, bound) from the top 24 bits, element by
 * element in declaration order, as the C backend's loops. */
static void kernel_init(L *l) {
    const Model *m = l->m;
    LLVMTypeRef args[] = {ptr(l->params), l->i64};
    static const char *const names[] = {"p", "seed"};
    static const char *const attrs[] = {"nocapture writeonly", ""};
    LLVMValueRef fn = function(l, format("%s_init", m->name), LLVMVoidTypeInContext(l->ctx), args,
                               names, attrs, 2);
    LLVMValueRef p = LLVMGetParam(fn, 0), state = LLVMGetParam(fn, 1);
    LLVMBasicBlockRef prev = LLVMGetInsertBlock(l->b);
    for (int i = 0; i < m->nparams; i++) {
        const Param *pa = &m->params[i];
        LLVMValueRef base = LLVMBuildBitCast(l->b, gep2(l, p, l->params, 0, (unsigned)i), l->realp,
                                             pa->cname);
        LLVMBasicBlockRef loop = LLVMAppendBasicBlockInContext(l->ctx, fn, format("%s.loop", pa->cname));
        LLVMBuildBr(l->b, loop);
        LLVMPositionBuilderAtEnd(l->b, loop);
        LLVMValueRef k = LLVMBuildPhi(l->b, l->i64, "k"), s = LLVMBuildPhi(l->b, l->i64, "s");
        /* z = (*s += 0x9e3779b97f4a7c15); z = (z ^ z>>30) * ...; z = (z ^ z>>27) * ...; z ^ z>>31 */
        LLVMValueRef s2 = LLVMBuildAdd(l->b, s, LLVMConstInt(l->i64, 0x9e3779b97f4a7c15u, 0), "");
        LLVMValueRef z = s2;
        z = LLVMBuildMul(l->b, LLVMBuildXor(l->b, z, LLVMBuildLShr(l->b, z, LLVMConstInt(l->i64, 30, 0), ""), ""),
                         LLVMConstInt(l->i64, 0xbf58476d1ce4e5b9u, 0), "");
        z = LLVMBuildMul(l->b, LLVMBuildXor(l->b, z, LLVMBuildLShr(l->b, z, LLVMConstInt(l->i64, 27, 0), ""), ""),
                         LLVMConstInt(l->i64, 0x94d049bb133111ebu, 0), "");
        z = LLVMBuildXor(l->b, z, LLVMBuildLShr(l->b, z, LLVMConstInt(l->i64, 31, 0), ""), "");
        /* u = (R)(z >> 40) * (R)0x1p-24; (2 * u - 1) * bound */
        LLVMValueRef u = LLVMBuildUIToFP(l->b, LLVMBuildLShr(l->b, z, LLVMConstInt(l->i64, 40, 0), ""), l->real, "");
        u = LLVMBuildFMul(l->b, u, LLVMConstReal(l->real, 0x1p-24), "u");
        LLVMValueRef w = LLVMBuildFSub(l->b, LLVMBuildFMul(l->b, LLVMConstReal(l->real, 2.0), u, ""),
                                       LLVMConstReal(l->real, 1.0), "");
        w = LLVMBuildFMul(l->b, w, real_const(l, (float)(1.0 / sqrt((double)pa->fan_in))), "w");
        LLVMBuildStore(l->b, w, LLVMBuildInBoundsGEP2(l->b, l->real, base, &k, 1, ""));
        LLVMValueRef k2 = LLVMBuildAdd(l->b, k, LLVMConstInt(l->i64, 1, 0), "");
        LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(l->ctx, fn, "");
        LLVMBuildCondBr(l->b, LLVMBuildICmp(l->b, LLVMIntULT, k2, LLVMConstInt(l->i64, (unsigned)pa->size, 0), ""),
                        loop, next);
        LLVMValueRef vk[2] = {LLVMConstInt(l->i64, 0, 0), k2}, vs[2] = {state, s2};
        LLVMBasicBlockRef from[2] = {prev, loop};
        LLVMAddIncoming(k, vk, from, 2);
        LLVMAddIncoming(s, vs, from, 2);
        LLVMPositionBuilderAtEnd(l->b, next);
        prev = next;
        state = s2;
    }
    LLVMBuildRetVoid(l->b);
}

/* ---- the trainer: what the C backend writes under #ifdef NETC_TRAINER ---- */

static LLVMValueRef cstring(L *l, const char *s, const char *name) {
    LLVMValueRef init = LLVMConstStringInContext(l->ctx, s, (unsigned)strlen(s), 0);
    LLVMValueRef gv = LLVMAddGlobal(l->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(gv, init);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMPrivateLinkage);
    LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
    LLVMValueRef zero[2] = {LLVMConstInt(l->i32, 0, 0), LLVMConstInt(l->i32, 0, 0)};
    return LLVMConstInBoundsGEP2(LLVMTypeOf(init), gv, zero, 2);
}

/* static R wrapper(void *p, ...) { return NAME_kernel(p, ...); }: the
 * descriptor's entry points take void pointers, the kernels typed ones. */
static LLVMValueRef wrapper(L *l, const char *name, const char *kernel) {
    LLVMValueRef k = LLVMGetNamedFunction(l->mod, format("%s_%s", l->m->name, kernel));
    LLVMTypeRef kt = LLVMGlobalGetValueType(k);
    unsigned n = LLVMCountParamTypes(kt);
    LLVMTypeRef kargs[8], wargs[8];
    LLVMGetParamTypes(kt, kargs);
    for (unsigned i = 0; i < n; i++)
        wargs[i] = kargs[i] == ptr(l->params) || kargs[i] == ptr(l->optim) ? l->i8p : kargs[i];
    LLVMTypeRef ret = LLVMGetReturnType(kt);
    LLVMValueRef fn = LLVMAddFunction(l->mod, name, LLVMFunctionType(ret, wargs, n, 0));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    add_attr(l, fn, LLVMAttributeFunctionIndex, "nounwind");
    LLVMPositionBuilderAtEnd(l->b, LLVMAppendBasicBlockInContext(l->ctx, fn, "entry"));
    LLVMValueRef args[8];
    for (unsigned i = 0; i < n; i++) {
        args[i] = LLVMGetParam(fn, i);
        if (wargs[i] != kargs[i])
            args[i] = LLVMBuildBitCast(l->b, args[i], kargs[i], "");
    }
    LLVMValueRef r = LLVMBuildCall2(l->b, kt, k, args, n, "");
    if (LLVMGetTypeKind(ret) == LLVMVoidTypeKind)
        LLVMBuildRetVoid(l->b);
    else
        LLVMBuildRet(l->b, r);
    return fn;
}

/* netrt_tensor and netrt_model of netrt.h, for the target's pointer size. */
static void model_type(L *l) {
    LLVMTypeRef t[] = {l->i8p, l->isz, l->isz, l->isz};
    l->tensor = LLVMStructCreateNamed(l->ctx, "netrt_tensor");
    LLVMStructSetBody(l->tensor, t, 4, 0);
    LLVMTypeRef vp = l->i8p, fp = l->realp, f = l->real, v = LLVMVoidTypeInContext(l->ctx);
    LLVMTypeRef init[] = {vp, l->i64}, fwd[] = {vp, fp, fp}, grad[] = {vp, fp, fp, vp},
                step[] = {vp, vp, fp, fp}, train[] = {vp, vp, fp, fp, l->isz}, lr[] = {vp, f};
    LLVMTypeRef fields[] = {
        l->i8p, l->i8p, l->i8p,                                /* name, source, version */
        l->isz, l->isz, l->isz, l->isz, l->isz, l->isz, l->isz, /* n_in .. n_tensors */
        ptr(l->tensor), f,                                     /* tensors, lr */
        l->isz, ptr(l->tensor),                                /* n_state, state */
        ptr(LLVMFunctionType(v, init, 2, 0)), ptr(LLVMFunctionType(v, fwd, 3, 0)),
        ptr(LLVMFunctionType(f, grad, 4, 0)), ptr(LLVMFunctionType(f, step, 4, 0)),
        ptr(LLVMFunctionType(f, train, 5, 0)), ptr(LLVMFunctionType(v, lr, 2, 0)),
    };
    l->model = LLVMStructCreateNamed(l->ctx, "netrt_model");
    LLVMStructSetBody(l->model, fields, sizeof fields / sizeof *fields, 0);
}

/* The host's netrt_model must be the struct built above: checked whenever
 * the module is for the machine netc runs on. */
static void check_model_layout(L *l) {
    static const size_t off[] = {
        offsetof(netrt_model, name), offsetof(netrt_model, source), offsetof(netrt_model, version),
        offsetof(netrt_model, n_in), offsetof(netrt_model, n_out), offsetof(netrt_model, n_target),
        offsetof(netrt_model, batch), offsetof(netrt_model, params_size),
        offsetof(netrt_model, optim_size), offsetof(netrt_model, n_tensors),
        offsetof(netrt_model, tensors), offsetof(netrt_model, lr), offsetof(netrt_model, n_state),
        offsetof(netrt_model, state), offsetof(netrt_model, init), offsetof(netrt_model, forward),
        offsetof(netrt_model, grad), offsetof(netrt_model, step), offsetof(netrt_model, train),
        offsetof(netrt_model, set_lr)};
    if (LLVMCountStructElementTypes(l->model) != sizeof off / sizeof *off ||
        LLVMABISizeOfType(l->td, l->model) != sizeof(netrt_model))
        die("emit_llvm: the netrt_model type does not match netrt.h");
    for (unsigned i = 0; i < sizeof off / sizeof *off; i++)
        if (LLVMOffsetOfElement(l->td, l->model, i) != off[i])
            die("emit_llvm: field %u of netrt_model is not where netrt.h puts it", i);
}

static LLVMValueRef size_const(L *l, unsigned long long v) { return LLVMConstInt(l->isz, v, 0); }

/* static void set_lr_v(void *o, float lr) { ((NAME_optim *)o)->lr = lr; } */
static LLVMValueRef set_lr_wrapper(L *l) {
    LLVMTypeRef args[] = {l->i8p, LLVMFloatTypeInContext(l->ctx)};
    LLVMValueRef fn = LLVMAddFunction(l->mod, "set_lr_v", LLVMFunctionType(LLVMVoidTypeInContext(l->ctx), args, 2, 0));
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    add_attr(l, fn, LLVMAttributeFunctionIndex, "nounwind");
    LLVMPositionBuilderAtEnd(l->b, LLVMAppendBasicBlockInContext(l->ctx, fn, "entry"));
    l->o_arg = LLVMBuildBitCast(l->b, LLVMGetParam(fn, 0), ptr(l->optim), "o");
    LLVMBuildStore(l->b, LLVMGetParam(fn, 1), gep2(l, l->o_arg, l->optim, 0, OPTIM_LR));
    LLVMBuildRetVoid(l->b);
    return fn;
}

/* A constant netrt_tensor array NAME_<what>: name, offset in floats from the
 * struct's start, rows, cols; tensors of params or of optim. */
static LLVMValueRef tensor_table(L *l, const char *what, bool states) {
    const Model *m = l->m;
    int n = states ? m->nstates : m->nparams;
    LLVMValueRef *rows = xmalloc(sizeof(LLVMValueRef) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        const Param *p = &m->params[states ? m->states[i].param : i];
        LLVMTypeRef st = states ? l->optim : l->params;
        unsigned field = (unsigned)(states ? OPTIM_STATE0 + i : i);
        LLVMValueRef f[] = {cstring(l, states ? m->states[i].name : p->name, format("%s.%s.%d", m->name, what, i)),
                            size_const(l, LLVMOffsetOfElement(l->td, st, field) / LLVMABISizeOfType(l->td, l->real)),
                            size_const(l, (unsigned)p->rows), size_const(l, (unsigned)p->cols)};
        rows[i] = LLVMConstNamedStruct(l->tensor, f, 4);
    }
    if (!n) /* as the C: one zero row, C has no empty arrays */
        rows[n++] = LLVMConstNull(l->tensor);
    LLVMTypeRef arr = LLVMArrayType(l->tensor, (unsigned)n);
    LLVMValueRef gv = LLVMAddGlobal(l->mod, arr, format("%s_%s", m->name, what));
    LLVMSetInitializer(gv, LLVMConstArray(l->tensor, rows, (unsigned)n));
    free(rows);
    LLVMSetGlobalConstant(gv, 1);
    LLVMSetLinkage(gv, LLVMInternalLinkage);
    LLVMValueRef zero[2] = {LLVMConstInt(l->i32, 0, 0), LLVMConstInt(l->i32, 0, 0)};
    return LLVMConstInBoundsGEP2(arr, gv, zero, 2);
}

/* The descriptor NAME_model, as the C backend's -DNETC_RUNTIME (an external
 * NAME_model) or -DNETC_TRAINER (an internal one and main calling
 * netrt_main). */
static void descriptor(L *l, bool with_main, bool host) {
    const Model *m = l->m;
    model_type(l);
    if (host)
        check_model_layout(l);
    LLVMValueRef fields[] = {
        cstring(l, m->name, "name"), cstring(l, m->file, "source"), cstring(l, NETC_VERSION, "version"),
        size_const(l, (unsigned)m->input), size_const(l, (unsigned)m->layers[m->nlayers - 1].out),
        size_const(l, (unsigned)model_targets(m)), size_const(l, (unsigned)m->batch),
        size_const(l, LLVMABISizeOfType(l->td, l->params)), size_const(l, LLVMABISizeOfType(l->td, l->optim)),
        size_const(l, (unsigned)m->nparams), tensor_table(l, "tensors", false),
        LLVMConstReal(l->real, (double)(float)m->opt.lr), /* (float)NAME_LR */
        size_const(l, (unsigned)m->nstates), tensor_table(l, "state", true),
        wrapper(l, "init_v", "init"), wrapper(l, "forward_v", "forward"), wrapper(l, "grad_v", "grad"),
        wrapper(l, "step_v", "step"), wrapper(l, "train_v", "train"), set_lr_wrapper(l),
    };
    enum { FIRST_FN = 14 };
    for (unsigned i = FIRST_FN; i < sizeof fields / sizeof *fields; i++)
        fields[i] = LLVMConstBitCast(fields[i], LLVMStructGetTypeAtIndex(l->model, i));
    LLVMValueRef model = LLVMAddGlobal(l->mod, l->model, format("%s_model", m->name));
    LLVMSetInitializer(model, LLVMConstNamedStruct(l->model, fields, sizeof fields / sizeof *fields));
    LLVMSetGlobalConstant(model, 1);
    if (!with_main)
        return;
    LLVMSetLinkage(model, LLVMInternalLinkage);
    LLVMTypeRef argv = ptr(l->i8p);
    LLVMTypeRef margs[] = {l->i32, argv}, nargs[] = {ptr(l->model), l->i32, argv};
    LLVMTypeRef nt = LLVMFunctionType(l->i32, nargs, 3, 0);
    LLVMValueRef netrt_main = LLVMAddFunction(l->mod, "netrt_main", nt);
    static const char *const names[] = {"argc", "argv"}, *const attrs[] = {"", ""};
    LLVMValueRef fn = function(l, "main", l->i32, margs, names, attrs, 2);
    LLVMValueRef cargs[] = {model, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1)};
    LLVMBuildRet(l->b, LLVMBuildCall2(l->b, nt, netrt_main, cargs, 3, ""));
}

/* ---- the module ---- */

static void verify(L *l, const char *when) {
    char *msg = NULL;
    if (!LLVMVerifyModule(l->mod, LLVMReturnStatusAction, &msg)) {
        LLVMDisposeMessage(msg);
        return;
    }
    LLVMDisposeMessage(msg);
    for (LLVMValueRef f = LLVMGetFirstFunction(l->mod); f; f = LLVMGetNextFunction(f))
        if (LLVMCountBasicBlocks(f) && LLVMVerifyFunction(f, LLVMReturnStatusAction)) {
            size_t len;
            die("emit_llvm: the module does not verify %s, in function %s", when,
                LLVMGetValueName2(f, &len));
        }
    die("emit_llvm: the module does not verify %s", when);
}

static void build_module(L *l, LLVMContextRef ctx, LLVMTargetMachineRef tm, bool desc, bool with_main,
                         bool host) {
    const Model *m = l->m;
    const Graph *s = l->s;
    l->ctx = ctx;
    l->mod = LLVMModuleCreateWithNameInContext(m->file, ctx);
    LLVMSetSourceFileName(l->mod, m->file, strlen(m->file));
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(l->mod, triple);
    LLVMDisposeMessage(triple);
    l->td = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(l->mod, l->td);
    l->b = LLVMCreateBuilderInContext(ctx);
    if (riscv_abi)
        LLVMAddModuleFlag(l->mod, LLVMModuleFlagBehaviorError, "target-abi", 10,
                          LLVMMDStringInContext2(ctx, riscv_abi, strlen(riscv_abi)));

    l->real = l->o->fp64 ? LLVMDoubleTypeInContext(ctx) : LLVMFloatTypeInContext(ctx);
    l->i1 = LLVMInt1TypeInContext(ctx);
    l->i8 = LLVMInt8TypeInContext(ctx);
    l->i32 = LLVMInt32TypeInContext(ctx);
    l->i64 = LLVMInt64TypeInContext(ctx);
    l->isz = LLVMIntPtrTypeInContext(ctx, l->td);
    l->i8p = ptr(l->i8);
    l->realp = ptr(l->real);
    /* NAME_params: one array per parameter tensor, as in the header */
    LLVMTypeRef *fields = xmalloc(sizeof(LLVMTypeRef) * (size_t)m->nparams);
    for (int i = 0; i < m->nparams; i++) {
        const Param *p = &m->params[i];
        fields[i] = LLVMArrayType(l->real, (unsigned)p->rows);
        if (p->cols)
            fields[i] = LLVMArrayType(LLVMArrayType(l->real, (unsigned)p->cols), (unsigned)p->rows);
    }
    l->params = LLVMStructCreateNamed(ctx, format("%s_params", m->name));
    LLVMStructSetBody(l->params, fields, (unsigned)m->nparams, 0);
    free(fields);
    /* NAME_optim: { uint64_t steps; float lr; one array per state tensor } */
    fields = xmalloc(sizeof(LLVMTypeRef) * (size_t)(m->nstates + OPTIM_STATE0));
    fields[OPTIM_STEPS] = l->i64;
    fields[OPTIM_LR] = LLVMFloatTypeInContext(ctx);
    for (int i = 0; i < m->nstates; i++) {
        const Param *p = &m->params[m->states[i].param];
        fields[OPTIM_STATE0 + i] = LLVMArrayType(l->real, (unsigned)p->rows);
        if (p->cols)
            fields[OPTIM_STATE0 + i] = LLVMArrayType(LLVMArrayType(l->real, (unsigned)p->cols), (unsigned)p->rows);
    }
    l->optim = LLVMStructCreateNamed(ctx, format("%s_optim", m->name));
    LLVMStructSetBody(l->optim, fields, (unsigned)(m->nstates + OPTIM_STATE0), 0);
    free(fields);

    Packing scalar; /* callers without a schedule's packing get scalar code */
    if (!l->o->pk)
        vector_pack(s, m, 1, false, &scalar);
    const Packing *pk = l->o->pk ? l->o->pk : &scalar;
    l->vreal = LLVMVectorType(l->real, (unsigned)(pk->width > 1 ? pk->width : 1));
    l->vmask = LLVMVectorType(l->i1, (unsigned)(pk->width > 1 ? pk->width : 1));
    use_schedule(l, s, pk);

    kernel_init(l);
    kernel_forward(l);
    kernel_grad(l);
    kernel_step(l);
    if (l->o->train) /* NAME_train's own schedule (carry.c) */
        use_schedule(l, l->o->train, l->o->train_pk);
    kernel_train(l);
    if (desc)
        descriptor(l, with_main, host);

    use_schedule(l, NULL, NULL);
    if (!l->o->pk)
        packing_free(&scalar);
    LLVMDisposeBuilder(l->b);
    l->b = NULL;
    verify(l, "as built");
}

/* ---- targets ---- */

static bool targets_ready;

static void init_targets(void) {
    if (targets_ready)
        return;
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();
    LLVMInitializeAllAsmParsers();
    targets_ready = true;
}

/* Reads what LLVM printed on stderr while fn ran.  LLVM reports an unknown
 * CPU or feature only as a warning on stderr ("'x' is not a recognized
 * processor for this target (ignoring processor)") and goes on with the
 * generic one; the C API offers no other way to learn it, so the driver runs
 * the target machine's creation with fd 2 pointed at a temporary file. */
static char *capture_stderr(LLVMTargetMachineRef (*fn)(void *), void *arg, LLVMTargetMachineRef *tm) {
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(2);
    if (!tmp || saved < 0 || dup2(fileno(tmp), 2) < 0)
        error_at("netc", (Loc){0, 0}, "cannot capture LLVM's diagnostics");
    *tm = fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long len = ftell(tmp) > 0 ? ftell(tmp) : 0;
    char *text = xmalloc((size_t)len + 1);
    rewind(tmp);
    size_t got = fread(text, 1, (size_t)len, tmp);
    text[got] = 0;
    fclose(tmp);
    return text;
}

typedef struct TMArgs {
    LLVMTargetRef target;
    const char *triple, *cpu, *features;
    LLVMCodeGenOptLevel level;
    LLVMRelocMode reloc;
} TMArgs;

static LLVMTargetMachineRef create_tm(void *arg) {
    TMArgs *a = arg;
    return LLVMCreateTargetMachine(a->target, a->triple, a->cpu, a->features, a->level, a->reloc,
                                   LLVMCodeModelDefault);
}

static bool valid_features(const char *f) {
    if (!*f)
        return true;
    for (;;) {
        if (*f != '+' && *f != '-')
            return false;
        size_t n = strcspn(++f, ",");
        if (!n)
            return false;
        for (size_t i = 0; i < n; i++)
            if (!(f[i] == '.' || f[i] == '-' || f[i] == '_' || (f[i] >= '0' && f[i] <= '9') ||
                  (f[i] >= 'a' && f[i] <= 'z') || (f[i] >= 'A' && f[i] <= 'Z')))
                return false;
        f += n;
        if (!*f)
            return true;
        f++;
    }
}

static _Noreturn void user_error(const char *msg) { error_at("netc", (Loc){0, 0}, "%s", msg); }

/* The target machine the options ask for; an unknown triple, CPU or feature
 * is a user error.  *host tells whether it is the machine netc runs on. */
static LLVMTargetMachineRef target_machine(const LlvmOptions *o, bool *host) {
    init_targets();
    char *def = LLVMGetDefaultTargetTriple();
    char *triple = o->triple ? LLVMNormalizeTargetTriple(o->triple) : LLVMNormalizeTargetTriple(def);
    char *host_triple = LLVMNormalizeTargetTriple(def);
    LLVMDisposeMessage(def);
    *host = strcmp(triple, host_triple) == 0;
    LLVMDisposeMessage(host_triple);
    LLVMTargetRef target;
    char *err = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &err)) {
        const char *msg = format("unknown target '%s' (%s)", o->triple ? o->triple : triple, err);
        LLVMDisposeMessage(err);
        LLVMDisposeMessage(triple);
        user_error(msg);
    }
    /* No --target and no --cpu: the host's CPU and features, as -march=native. */
    char *cpu = NULL, *features = NULL;
    if (!o->triple && !o->cpu) {
        cpu = LLVMGetHostCPUName();
        features = LLVMGetHostCPUFeatures();
    }
    const char *feat = o->features ? o->features : features ? features : "";
    /* riscv64-linux-gnu means rv64gc and the lp64d ABI, as Debian's gcc and
     * clang default to; LLVM 14's default would be the soft-float rv64i. */
    bool riscv = strncmp(triple, "riscv", 5) == 0;
    if (riscv && !o->features && !o->cpu && strstr(triple, "linux"))
        feat = "+m,+a,+f,+d,+c";
    riscv_abi = NULL;
    if (riscv && (strstr(feat, "+d") || strstr(feat, "+f"))) {
        bool rv64 = strncmp(triple, "riscv64", 7) == 0, d = strstr(feat, "+d") != NULL;
        riscv_abi = rv64 ? (d ? "lp64d" : "lp64f") : (d ? "ilp32d" : "ilp32f");
    }
    if (o->features && !valid_features(o->features)) {
        LLVMDisposeMessage(triple);
        user_error(format("bad --features '%s': expected a comma-separated list of +name and -name",
                          o->features));
    }
    static const LLVMCodeGenOptLevel levels[] = {LLVMCodeGenLevelNone, LLVMCodeGenLevelLess,
                                                  LLVMCodeGenLevelDefault, LLVMCodeGenLevelAggressive};
    TMArgs a = {target, triple, o->cpu ? o->cpu : cpu ? cpu : "", feat, levels[o->opt],
                strstr(triple, "-none") ? LLVMRelocStatic : LLVMRelocPIC};
    LLVMTargetMachineRef tm;
    char *said = capture_stderr(create_tm, &a, &tm);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    const char *bad = NULL;
    if (strstr(said, "is not a recognized processor"))
        bad = format("unknown CPU '%s' for target %s", o->cpu, triple);
    else if (strstr(said, "is not a recognized feature")) {
        const char *q = strchr(said, '\''), *e = q ? strchr(q + 1, '\'') : NULL;
        bad = format("unknown feature '%.*s' for target %s", q && e ? (int)(e - q - 1) : 0,
                     q && e ? q + 1 : "", triple);
    } else if (*said) {
        fputs(said, stderr); /* --cpu=help prints the list; anything else, pass it on */
        if (o->cpu && strcmp(o->cpu, "help") == 0) {
            free(said);
            LLVMDisposeTargetMachine(tm);
            LLVMDisposeMessage(triple);
            exit(0);
        }
    }
    free(said);
    LLVMDisposeMessage(triple);
    if (bad || !tm) {
        if (tm)
            LLVMDisposeTargetMachine(tm);
        user_error(bad ? bad : "LLVM cannot create a target machine for these options");
    }
    return tm;
}

static void optimize(L *l, LLVMTargetMachineRef tm) {
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    char pipeline[32];
    snprintf(pipeline, sizeof pipeline, "default<O%d>", l->o->opt);
    LLVMErrorRef err = LLVMRunPasses(l->mod, pipeline, tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (err) {
        char *msg = LLVMGetErrorMessage(err);
        die("emit_llvm: the pass pipeline %s failed: %s", pipeline, msg);
    }
    verify(l, format("after %s", pipeline));
}

/* Sets the float ABI bits of a little-endian RISC-V ELF object's e_flags
 * (EF_RISCV_FLOAT_ABI_SINGLE 0x2, _DOUBLE 0x4) to riscv_abi's. */
static void mark_float_abi(char *elf, size_t len) {
    size_t at = len > 4 && elf[4] == 2 ? 48 : 36; /* e_flags in ELF64 / ELF32 */
    if (len < at + 4 || memcmp(elf, "\177ELF", 4) != 0 || elf[5] != 1)
        die("emit_llvm: the RISC-V object is not a little-endian ELF file");
    unsigned char *f = (unsigned char *)elf + at;
    f[0] = (unsigned char)((f[0] & ~0x6u) | (strchr(riscv_abi, 'd') ? 0x4u : 0x2u));
}

static char *copy_out(const char *data, size_t n, size_t *len) {
    char *out = xmalloc(n + 1);
    memcpy(out, data, n);
    out[n] = 0;
    *len = n;
    return out;
}

char *emit_llvm(const Model *m, const Graph *s, const LlvmOptions *o, size_t *len) {
    bool host;
    LLVMTargetMachineRef tm = target_machine(o, &host);
    L l = {.m = m, .s = s, .o = o};
    LLVMContextRef ctx = LLVMContextCreate();
    build_module(&l, ctx, tm, o->trainer || o->runtime, o->trainer, host);
    optimize(&l, tm);
    char *out = NULL, *err = NULL;
    LLVMMemoryBufferRef buf = NULL;
    switch (o->kind) {
    case LLVM_IR: {
        char *text = LLVMPrintModuleToString(l.mod);
        out = copy_out(text, strlen(text), len);
        LLVMDisposeMessage(text);
        break;
    }
    case LLVM_BC:
        buf = LLVMWriteBitcodeToMemoryBuffer(l.mod);
        break;
    case LLVM_ASM: case LLVM_OBJ:
        if (LLVMTargetMachineEmitToMemoryBuffer(tm, l.mod, o->kind == LLVM_ASM ? LLVMAssemblyFile : LLVMObjectFile,
                                                &err, &buf))
            die("emit_llvm: code generation failed: %s", err);
        break;
    }
    if (buf) {
        out = copy_out(LLVMGetBufferStart(buf), LLVMGetBufferSize(buf), len);
        LLVMDisposeMemoryBuffer(buf);
    }
    if (o->kind == LLVM_OBJ && riscv_abi)
        mark_float_abi(out, *len);
    LLVMDisposeModule(l.mod);
    LLVMDisposeTargetData(l.td);
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
    LLVMShutdown();
    return out;
}

static _Noreturn void jit_error(LLVMErrorRef err, const char *what) {
    char *msg = LLVMGetErrorMessage(err);
    const char *text = format("JIT: %s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
    user_error(text);
}

int run_jit(const Model *m, const Graph *s, const LlvmOptions *o, int argc, char **argv) {
    LlvmOptions host_only = *o;
    host_only.triple = NULL;
    bool host;
    LLVMTargetMachineRef tm = target_machine(&host_only, &host);
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    L l = {.m = m, .s = s, .o = o};
    build_module(&l, LLVMOrcThreadSafeContextGetContext(tsc), tm, true, false, true);
    optimize(&l, tm);
    LLVMDisposeTargetData(l.td);

    /* The JIT compiles with this same target machine (it takes it over). */
    LLVMOrcLLJITBuilderRef jb = LLVMOrcCreateLLJITBuilder();
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(jb, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm));
    LLVMOrcLLJITRef jit;
    LLVMErrorRef err = LLVMOrcCreateLLJIT(&jit, jb);
    if (err)
        jit_error(err, "cannot create the JIT");
    /* The kernels may call the C library's math (expf, logf, tanhf, pow): the
     * JIT resolves them in netc's own process, which links libm. */
    LLVMOrcDefinitionGeneratorRef gen;
    if ((err = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(jit), NULL, NULL)))
        jit_error(err, "cannot search the process for symbols");
    LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(jit), gen);
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(l.mod, tsc);
    LLVMOrcDisposeThreadSafeContext(tsc); /* the module keeps the context alive */
    if ((err = LLVMOrcLLJITAddLLVMIRModule(jit, LLVMOrcLLJITGetMainJITDylib(jit), tsm)))
        jit_error(err, "cannot add the module");
    LLVMOrcExecutorAddress addr = 0;
    if ((err = LLVMOrcLLJITLookup(jit, &addr, format("%s_model", m->name))))
        jit_error(err, "cannot compile the model");
    int status = netrt_main((const netrt_model *)(uintptr_t)addr, argc, argv);
    fflush(stdout);
    if ((err = LLVMOrcDisposeLLJIT(jit)))
        jit_error(err, "cannot release the JIT");
    LLVMShutdown();
    return status;
}
