/* emit_llvm_module.c: the LLVM module around the kernels.
 *
 * The struct types of the API, NAME_init, what the C backend writes under
 * #ifdef NETC_TRAINER (the void-pointer wrappers, the netrt_model descriptor
 * and main), and the module's outputs: textual IR, bitcode, assembly or an
 * object for any target (emit_llvm), or the trainer run in memory (run_jit).
 * What these contain is decided elsewhere (abi.c, the Model); emit_llvm.c
 * builds the kernels between them.
 */
#define _POSIX_C_SOURCE 200809L
#include "emit_llvm.h"

#include <llvm-c/BitWriter.h>
#include <llvm-c/Orc.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* NAME_init: splitmix64 and U(-bound, bound) from the top 24 bits, element by
 * element in declaration order, as the C backend's loops. */
static void kernel_init(L *l) {
    const Model *m = l->m;
    LLVMTypeRef args[] = {ptr(l->params), l->i64};
    static const char *const names[] = {"p", "seed"};
    static const char *const attrs[] = {"nocapture writeonly", ""};
    LLVMValueRef fn = ll_function(l, format("%s_init", m->name), LLVMVoidTypeInContext(l->ctx), args,
                               names, attrs, 2);
    LLVMValueRef p = LLVMGetParam(fn, 0), state = LLVMGetParam(fn, 1);
    LLVMBasicBlockRef prev = LLVMGetInsertBlock(l->b);
    for (int i = 0; i < m->nparams; i++) {
        const Param *pa = &m->params[i];
        LLVMValueRef base = LLVMBuildBitCast(l->b, ll_gep2(l, p, l->params, 0, (unsigned)i), l->realp,
                                             pa->cname);
        LLVMBasicBlockRef loop = LLVMAppendBasicBlockInContext(l->ctx, fn, format("%s.loop", pa->cname));
        LLVMBuildBr(l->b, loop);
        LLVMPositionBuilderAtEnd(l->b, loop);
        LLVMValueRef k = LLVMBuildPhi(l->b, l->i64, "k"), s = LLVMBuildPhi(l->b, l->i64, "s");
        /* z = (*s += 0x9e3779b97f4a7c15); z = (z ^ z>>30) * ...; z = (z ^ z>>27) * ...; z ^ z>>31 */
        LLVMValueRef s2 = LLVMBuildAdd(l->b, s, LLVMConstInt(l->i64, init_increment, 0), "");
        LLVMValueRef z = s2;
        for (int r = 0; r < INIT_ROUNDS; r++) {
            const MixRound *mr = &init_mix[r];
            z = LLVMBuildXor(l->b, z, LLVMBuildLShr(l->b, z, LLVMConstInt(l->i64, (unsigned)mr->shift, 0), ""), "");
            if (mr->mul)
                z = LLVMBuildMul(l->b, z, LLVMConstInt(l->i64, mr->mul, 0), "");
        }
        /* u = (R)(z >> (64 - INIT_BITS)) * 2^-INIT_BITS; (2 * u - 1) * bound */
        LLVMValueRef u = LLVMBuildUIToFP(l->b, LLVMBuildLShr(l->b, z, LLVMConstInt(l->i64, 64 - INIT_BITS, 0), ""),
                                         l->real, "");
        u = LLVMBuildFMul(l->b, u, LLVMConstReal(l->real, ldexp(1.0, -INIT_BITS)), "u");
        LLVMValueRef w = LLVMBuildFSub(l->b, LLVMBuildFMul(l->b, LLVMConstReal(l->real, 2.0), u, ""),
                                       LLVMConstReal(l->real, 1.0), "");
        w = LLVMBuildFMul(l->b, w, ll_real_const(l, init_bound(pa)), "w");
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
    ll_add_attr(l, fn, LLVMAttributeFunctionIndex, "nounwind");
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
                step[] = {vp, vp, fp, fp}, train[] = {vp, vp, fp, fp, l->isz}, lr[] = {vp, f},
                apply[] = {vp, vp, vp};
    LLVMTypeRef fields[] = {
        l->i8p, l->i8p, l->i8p,                                /* name, source, version */
        l->isz, l->isz, l->isz, l->isz, l->isz, l->isz, l->isz, /* n_in .. n_tensors */
        ptr(l->tensor), f,                                     /* tensors, lr */
        l->isz, ptr(l->tensor),                                /* n_state, state */
        ptr(LLVMFunctionType(v, init, 2, 0)), ptr(LLVMFunctionType(v, fwd, 3, 0)),
        ptr(LLVMFunctionType(f, grad, 4, 0)), ptr(LLVMFunctionType(f, step, 4, 0)),
        ptr(LLVMFunctionType(f, train, 5, 0)), ptr(LLVMFunctionType(v, lr, 2, 0)),
        l->i64,                                                /* hash */
        ptr(LLVMFunctionType(v, apply, 3, 0)),                 /* apply */
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
        offsetof(netrt_model, set_lr), offsetof(netrt_model, hash), offsetof(netrt_model, apply)};
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
    ll_add_attr(l, fn, LLVMAttributeFunctionIndex, "nounwind");
    LLVMPositionBuilderAtEnd(l->b, LLVMAppendBasicBlockInContext(l->ctx, fn, "entry"));
    l->o_arg = LLVMBuildBitCast(l->b, LLVMGetParam(fn, 0), ptr(l->optim), "o");
    LLVMBuildStore(l->b, LLVMGetParam(fn, 1), ll_gep2(l, l->o_arg, l->optim, 0, OPTIM_LR));
    LLVMBuildRetVoid(l->b);
    return fn;
}

/* A constant netrt_tensor array NAME_<what>: name, offset in floats from the
 * struct's start, rows, cols; tensors of params or of optim. */
static LLVMValueRef tensor_table(L *l, const char *what, const DescTensor *t, int n, bool states) {
    const Model *m = l->m;
    LLVMValueRef *rows = xmalloc(sizeof(LLVMValueRef) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        LLVMTypeRef st = states ? l->optim : l->params;
        unsigned field = (unsigned)(states ? OPTIM_STATE0 + i : i);
        LLVMValueRef f[] = {cstring(l, t[i].name, format("%s.%s.%d", m->name, what, i)),
                            size_const(l, LLVMOffsetOfElement(l->td, st, field) / LLVMABISizeOfType(l->td, l->real)),
                            size_const(l, (unsigned)t[i].rows), size_const(l, (unsigned)t[i].cols)};
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
    Descriptor d = model_descriptor(m);
    LLVMValueRef fields[] = {
        cstring(l, m->name, "name"), cstring(l, m->file, "source"), cstring(l, NETC_VERSION, "version"),
        size_const(l, d.n_in), size_const(l, d.n_out), size_const(l, d.n_target), size_const(l, d.batch),
        size_const(l, LLVMABISizeOfType(l->td, l->params)), size_const(l, LLVMABISizeOfType(l->td, l->optim)),
        size_const(l, (unsigned)d.ntensors), tensor_table(l, "tensors", d.tensors, d.ntensors, false),
        LLVMConstReal(l->real, d.lr),
        size_const(l, (unsigned)d.nstates), tensor_table(l, "state", d.states, d.nstates, true),
        wrapper(l, "init_v", "init"), wrapper(l, "forward_v", "forward"), wrapper(l, "grad_v", "grad"),
        wrapper(l, "step_v", "step"), wrapper(l, "train_v", "train"), set_lr_wrapper(l),
        LLVMConstInt(l->i64, d.hash, 0), wrapper(l, "apply_v", "apply"),
    };
    descriptor_free(&d);
    enum { FIRST_FN = 14, LAST_FN = 19, APPLY_FN = 21 };
    for (unsigned i = FIRST_FN; i <= APPLY_FN; i++)
        if (i <= LAST_FN || i == APPLY_FN)
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
    LLVMValueRef fn = ll_function(l, "main", l->i32, margs, names, attrs, 2);
    LLVMValueRef cargs[] = {model, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1)};
    LLVMBuildRet(l->b, LLVMBuildCall2(l->b, nt, netrt_main, cargs, 3, ""));
}

/* ---- the module ---- */

static void build_module(L *l, LLVMContextRef ctx, LLVMTargetMachineRef tm, bool desc, bool with_main,
                         bool host) {
    const Model *m = l->m;
    l->ctx = ctx;
    l->mod = LLVMModuleCreateWithNameInContext(m->file, ctx);
    LLVMSetSourceFileName(l->mod, m->file, strlen(m->file));
    char *triple = LLVMGetTargetMachineTriple(tm);
    LLVMSetTarget(l->mod, triple);
    LLVMDisposeMessage(triple);
    l->td = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(l->mod, l->td);
    l->b = LLVMCreateBuilderInContext(ctx);
    if (llvm_riscv_abi)
        LLVMAddModuleFlag(l->mod, LLVMModuleFlagBehaviorError, "target-abi", 10,
                          LLVMMDStringInContext2(ctx, llvm_riscv_abi, strlen(llvm_riscv_abi)));

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

    const Packing *pk = l->sc->pk;
    l->vreal = LLVMVectorType(l->real, (unsigned)(pk->width > 1 ? pk->width : 1));
    l->vmask = LLVMVectorType(l->i1, (unsigned)(pk->width > 1 ? pk->width : 1));

    kernel_init(l);
    ll_kernels(l);
    if (desc)
        descriptor(l, with_main, host);
    LLVMDisposeBuilder(l->b);
    l->b = NULL;
    llvm_verify(l->mod, "as built");
}

static char *copy_out(const char *data, size_t n, size_t *len) {
    char *out = xmalloc(n + 1);
    memcpy(out, data, n);
    out[n] = 0;
    *len = n;
    return out;
}

char *emit_llvm(const Schedule *sc, const LlvmOptions *o, size_t *len) {
    bool host;
    LLVMTargetMachineRef tm = llvm_target_machine(o, &host);
    L l = {.m = sc->m, .s = sc->s, .sc = sc, .o = o};
    LLVMContextRef ctx = LLVMContextCreate();
    build_module(&l, ctx, tm, o->trainer || o->runtime, o->trainer, host);
    llvm_optimize(l.mod, tm, o->opt);
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
    if (o->kind == LLVM_OBJ && llvm_riscv_abi)
        llvm_mark_float_abi(out, *len);
    if (o->sizes) { /* the object's code sizes: this output's, or one compiled for them */
        char *triple = LLVMGetTargetMachineTriple(tm), *cpu = LLVMGetTargetMachineCPU(tm);
        const char *target = intern(format("%s%s%s", triple, *cpu ? ", " : "", cpu));
        LLVMDisposeMessage(triple);
        LLVMDisposeMessage(cpu);
        if (o->kind == LLVM_OBJ) {
            llvm_object_sizes(out, *len, target, o->sizes);
        } else {
            LLVMMemoryBufferRef obj;
            if (LLVMTargetMachineEmitToMemoryBuffer(tm, l.mod, LLVMObjectFile, &err, &obj))
                die("emit_llvm: code generation failed: %s", err);
            llvm_object_sizes(LLVMGetBufferStart(obj), LLVMGetBufferSize(obj), target, o->sizes);
            LLVMDisposeMemoryBuffer(obj);
        }
    }
    LLVMDisposeModule(l.mod);
    LLVMDisposeTargetData(l.td);
    LLVMContextDispose(ctx);
    LLVMDisposeTargetMachine(tm);
    LLVMShutdown();
    return out;
}

int run_jit(const Schedule *sc, const LlvmOptions *o, int argc, char **argv) {
    const Model *m = sc->m;
    LlvmOptions host_only = *o;
    host_only.triple = NULL;
    bool host;
    LLVMTargetMachineRef tm = llvm_target_machine(&host_only, &host);
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    L l = {.m = sc->m, .s = sc->s, .sc = sc, .o = o};
    build_module(&l, LLVMOrcThreadSafeContextGetContext(tsc), tm, true, false, true);
    llvm_optimize(l.mod, tm, o->opt);
    LLVMDisposeTargetData(l.td);

    int status = llvm_jit_run(l.mod, tsc, tm, format("%s_model", m->name), argc, argv);
    LLVMShutdown();
    return status;
}
