/* llvm_target.h: what emit_llvm.c asks of llvm_target.c (target machines,
 * the pass pipeline, the JIT); the two files are netc's only users of the
 * LLVM C API. */
#ifndef NETC_LLVM_TARGET_H
#define NETC_LLVM_TARGET_H

#include "netc.h"

#include <llvm-c/Core.h>
#include <llvm-c/Orc.h>
#include <llvm-c/TargetMachine.h>

/* RISC-V's float ABI of the last target machine made ("lp64d", ...), or NULL. */
extern const char *llvm_riscv_abi;
/* The target machine the options ask for; an unknown triple, CPU or feature
 * is a user error (one line, exit 1).  *host: it is the machine netc runs on. */
LLVMTargetMachineRef llvm_target_machine(const LlvmOptions *o, bool *host);
/* Dies (internal error) unless mod verifies; `when` names the moment. */
void llvm_verify(LLVMModuleRef mod, const char *when);
/* Runs default<Oopt> on mod for tm, and verifies it. */
void llvm_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt);
/* Marks a RISC-V ELF object's e_flags with llvm_riscv_abi's float ABI. */
void llvm_mark_float_abi(char *elf, size_t len);
/* Compiles mod (in tsc, for tm, which the JIT takes over) with ORC's LLJIT
 * and runs netrt_main on the descriptor `symbol` with argc/argv. */
int llvm_jit_run(LLVMModuleRef mod, LLVMOrcThreadSafeContextRef tsc, LLVMTargetMachineRef tm, const char *symbol,
                 int argc, char **argv);
/* The code sizes of an object file's sections and functions (ELF); target
 * names the triple and CPU for the report. */
void llvm_object_sizes(const char *obj, size_t len, const char *target, CodeSize *cs);

#endif
