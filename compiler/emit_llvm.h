/* emit_llvm.h: what emit_llvm.c (the kernels) and emit_llvm_module.c (the
 * module around them) share; private to the LLVM backend. */
#ifndef NETC_EMIT_LLVM_H
#define NETC_EMIT_LLVM_H

#include "netc.h"
#include "llvm_target.h"
#include "netrt.h"

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>

/* The descriptor built below mirrors netrt.h field for field; a field added
 * there must be added here (and this check updated). */
_Static_assert(offsetof(netrt_model, apply) + sizeof(void (*)(void)) == sizeof(netrt_model),
               "netrt_model gained a field: update model_type() and descriptor() in emit_llvm_module.c");

typedef struct L {
    const Model *m;
    const Graph *s;
    const LlvmOptions *o;
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTargetDataRef td;
    LLVMTypeRef real, i1, i8, i32, i64, isz, i8p, realp, params, optim, tensor, model;
    const Schedule *sc;       /* the kernel programs */
    const Plan *pl;           /* the kernel being built: its program's plan */
    LLVMTypeRef vreal, vmask; /* <W x real>, <W x i1> */
    LLVMValueRef *pval;       /* each live pack's vector value, once built */
    LLVMValueRef *pslot;      /* K_TRAIN: the alloca of each carried leaf vector */
    LLVMValueRef *lane_load;  /* K_TRAIN, samples in the lanes: a carried vector's
                               * lane read from its alloca this step (splat_lane) */
    LLVMValueRef fn, p, o_arg, x, t, g, y;
    LLVMValueRef step_s; /* NAME_train: the loop's step index s */
    LLVMValueRef xn;     /* NAME_train: the next batch's inputs (carry.c) */
    bool inline_all;     /* build whole expressions from memory (NAME_train's prologue) */
    LLVMValueRef chunk[64]; /* the body's whole-vector loads, by slot */
    LLVMValueRef *val;  /* the value of each named node, once built */
    LLVMValueRef *slot; /* K_TRAIN: the alloca holding each parameter leaf */
    LLVMValueRef pow_fn, tanh_fn;
} L;


enum { OPTIM_STEPS, OPTIM_LR, OPTIM_STATE0 };

static inline LLVMTypeRef ptr(LLVMTypeRef t) { return LLVMPointerType(t, 0); }
LLVMValueRef ll_real_const(L *l, double v);
LLVMValueRef ll_gep2(L *l, LLVMValueRef base, LLVMTypeRef ty, unsigned a, unsigned b);
void ll_add_attr(L *l, LLVMValueRef fn, LLVMAttributeIndex at, const char *name);
LLVMValueRef ll_function(L *l, const char *name, LLVMTypeRef ret, LLVMTypeRef *args, const char *const *names,
                         const char *const *attrs, unsigned n);
void ll_kernels(L *l); /* NAME_forward, _grad, _step and _train */

#endif
