/* llvm_target.c: the LLVM targets netc compiles for, the pass pipeline and
 * the JIT.
 *
 * emit_llvm.c builds the module from the kernel programs; this file makes
 * the target machine the options ask for (the host's CPU and features
 * without --target, RISC-V's hard-float ABI for riscv64-linux-gnu), checks
 * what LLVM accepts (an unknown CPU or feature is a user error, which LLVM
 * reports only as a warning on stderr), runs the pass pipeline and the
 * verifier, and compiles a module in memory with ORC's LLJIT to run the
 * trainer at once (`netc run`).
 */
#define _POSIX_C_SOURCE 200809L
#include "llvm_target.h"
#include "netrt.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Object.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* RISC-V's float ABI (lp64d, ...) for the target being built, or NULL.  The
 * LLVM 14 C API cannot set TargetOptions' ABI name: the module flag
 * "target-abi" makes code generation use the hard-float calling convention,
 * and emit_llvm() marks the object's ELF header (e_flags) to match, as llc
 * -target-abi would. */
const char *llvm_riscv_abi;

void llvm_verify(LLVMModuleRef mod, const char *when) {
    char *msg = NULL;
    if (!LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
        LLVMDisposeMessage(msg);
        return;
    }
    LLVMDisposeMessage(msg);
    for (LLVMValueRef f = LLVMGetFirstFunction(mod); f; f = LLVMGetNextFunction(f))
        if (LLVMCountBasicBlocks(f) && LLVMVerifyFunction(f, LLVMReturnStatusAction)) {
            size_t len;
            die("emit_llvm: the module does not verify %s, in function %s", when,
                LLVMGetValueName2(f, &len));
        }
    die("emit_llvm: the module does not verify %s", when);
}


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
LLVMTargetMachineRef llvm_target_machine(const LlvmOptions *o, bool *host) {
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
    llvm_riscv_abi = NULL;
    if (riscv && (strstr(feat, "+d") || strstr(feat, "+f"))) {
        bool rv64 = strncmp(triple, "riscv64", 7) == 0, d = strstr(feat, "+d") != NULL;
        llvm_riscv_abi = rv64 ? (d ? "lp64d" : "lp64f") : (d ? "ilp32d" : "ilp32f");
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

void llvm_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt) {
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    char pipeline[32];
    snprintf(pipeline, sizeof pipeline, "default<O%d>", opt);
    LLVMErrorRef err = LLVMRunPasses(mod, pipeline, tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (err) {
        char *msg = LLVMGetErrorMessage(err);
        die("emit_llvm: the pass pipeline %s failed: %s", pipeline, msg);
    }
    llvm_verify(mod, format("after %s", pipeline));
}

/* Sets the float ABI bits of a little-endian RISC-V ELF object's e_flags
 * (EF_RISCV_FLOAT_ABI_SINGLE 0x2, _DOUBLE 0x4) to llvm_riscv_abi's. */
void llvm_mark_float_abi(char *elf, size_t len) {
    size_t at = len > 4 && elf[4] == 2 ? 48 : 36; /* e_flags in ELF64 / ELF32 */
    if (len < at + 4 || memcmp(elf, "\177ELF", 4) != 0 || elf[5] != 1)
        die("emit_llvm: the RISC-V object is not a little-endian ELF file");
    unsigned char *f = (unsigned char *)elf + at;
    f[0] = (unsigned char)((f[0] & ~0x6u) | (strchr(llvm_riscv_abi, 'd') ? 0x4u : 0x2u));
}

static _Noreturn void jit_error(LLVMErrorRef err, const char *what) {
    char *msg = LLVMGetErrorMessage(err);
    const char *text = format("JIT: %s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
    user_error(text);
}

int llvm_jit_run(LLVMModuleRef mod, LLVMOrcThreadSafeContextRef tsc, LLVMTargetMachineRef tm, const char *symbol,
                 int argc, char **argv) {
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
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
    LLVMOrcDisposeThreadSafeContext(tsc); /* the module keeps the context alive */
    if ((err = LLVMOrcLLJITAddLLVMIRModule(jit, LLVMOrcLLJITGetMainJITDylib(jit), tsm)))
        jit_error(err, "cannot add the module");
    LLVMOrcExecutorAddress addr = 0;
    if ((err = LLVMOrcLLJITLookup(jit, &addr, symbol)))
        jit_error(err, "cannot compile the model");
    int status = netrt_main((const netrt_model *)(uintptr_t)addr, argc, argv);
    fflush(stdout);
    if ((err = LLVMOrcDisposeLLJIT(jit)))
        jit_error(err, "cannot release the JIT");
    return status;
}

void llvm_object_sizes(const char *obj, size_t len, const char *target, CodeSize *cs) {
    memset(cs, 0, sizeof *cs);
    cs->target = target;
    LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRange(obj, len, "object", 0);
    char *err = NULL;
    LLVMBinaryRef bin = LLVMCreateBinary(buf, NULL, &err);
    if (!bin)
        die("cannot read the object back: %s", err ? err : "?");
    LLVMSectionIteratorRef sec = LLVMObjectFileCopySectionIterator(bin);
    for (; !LLVMObjectFileIsSectionIteratorAtEnd(bin, sec); LLVMMoveToNextSection(sec)) {
        const char *name = LLVMGetSectionName(sec);
        long size = (long)LLVMGetSectionSize(sec);
        if (!name)
            continue;
        if (strncmp(name, ".text", 5) == 0)
            cs->text += size;
        else if (strncmp(name, ".rodata", 7) == 0 || strncmp(name, ".ARM.exidx", 10) == 0)
            cs->rodata += size;
        else if (strncmp(name, ".data", 5) == 0 || strncmp(name, ".data.rel.ro", 12) == 0)
            cs->data += size;
    }
    cs->flash = cs->text + cs->rodata + cs->data;
    int cap = 0;
    LLVMSectionIteratorRef in = LLVMObjectFileCopySectionIterator(bin);
    LLVMSymbolIteratorRef sym = LLVMObjectFileCopySymbolIterator(bin);
    for (; !LLVMObjectFileIsSymbolIteratorAtEnd(bin, sym); LLVMMoveToNextSymbol(sym)) {
        const char *name = LLVMGetSymbolName(sym);
        long size = (long)LLVMGetSymbolSize(sym);
        LLVMMoveToContainingSection(in, sym);
        const char *sname = LLVMObjectFileIsSectionIteratorAtEnd(bin, in) ? NULL : LLVMGetSectionName(in);
        if (!name || !*name || size <= 0 || !sname || strncmp(sname, ".text", 5) != 0)
            continue;
        if (cs->n == cap) {
            cap = cap ? 2 * cap : 16;
            cs->sym = xrealloc(cs->sym, sizeof *cs->sym * (size_t)cap);
        }
        cs->sym[cs->n++] = (CodeSym){intern(name), size};
    }
    LLVMDisposeSymbolIterator(sym);
    LLVMDisposeSectionIterator(in);
    LLVMDisposeSectionIterator(sec);
    LLVMDisposeBinary(bin);
    LLVMDisposeMemoryBuffer(buf);
}
