/* main.c: the netc driver.
 *
 * Reads as the pipeline: parse, lower, differentiate, add the optimizer,
 * simplify, (with --reassociate: NAME_train's carry graph,) scalarize,
 * simplify, (reassociate,) pack vectors, emit; a verifier after each
 * structural pass and --print-after=PASS to dump the IR after any of them.  Output is written
 * to a temporary file beside the target and renamed into place only when
 * everything succeeded, so a failed run leaves existing files untouched.
 * `-o trainer` (no suffix) or --emit=exe also runs the system C compiler and
 * links the runtime, as a compiler driver does.
 */
#define _POSIX_C_SOURCE 200809L
#include "netc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef enum EmitKind { EM_DEFAULT, EM_C, EM_IR, EM_IR_SCALAR, EM_KERNELS, EM_EXE, EM_LLVM, EM_BC, EM_ASM, EM_OBJ, EM_DOT } EmitKind;

typedef struct Options {
    const char *input;
    const char *output;
    EmitKind emit;
    bool fp64;
    const char *print_after; /* pass name, "all", or NULL */
    LlvmOptions llvm;        /* --target, --cpu, --features, -O, --trainer, --runtime */
    bool llvm_flags;         /* one of those was given */
    bool run;                /* `netc run MODEL [trainer options]` */
    int run_argc;            /* the trainer's arguments, argv[0] first */
    char **run_argv;
    char flags[512];         /* the flags as given, for the banner */
    int vector_width;        /* --vector-width: lanes per vector, 1 for scalar code */
    bool reassociate;        /* --reassociate: shorter chains, other rounding */
    bool fma;                /* --fma: with --reassociate, batch sums as fused multiply-adds */
    const char *label;       /* which graph --print-after shows: "" or " (NAME_train)" */
    int unroll;              /* --unroll: UNROLL_AUTO, UNROLL_FULL, UNROLL_LOOPS */
    const Graph *loops;      /* the loop schedule's tensor graph, when it was taken */
    bool report;             /* --report: the cost report on standard output */
    long max_ram, max_flash; /* --max-ram, --max-flash in bytes; -1: none */
    const char *max_ram_arg, *max_flash_arg;
    Cost cost;               /* the schedule's (report.c) */
    bool mpi;                /* --mpi: the trainer links libnetrt_mpi.a, built with mpicc */
} Options;

/* --unroll: full unrolling up to a budget of scalar nodes, loops above it. */
enum { UNROLL_AUTO, UNROLL_FULL, UNROLL_LOOPS, UNROLL_BUDGET = 8192 };

static const char *const passes[] = {"lower", "grad", "optim", "simplify", "carry", "scalarize",
                                     "simplify-scalar", "reassociate", "plan"};

static void usage(FILE *out) {
    fputs("usage: netc [options] MODEL.yaml\n"
          "       netc run [options] MODEL.yaml [trainer options]\n"
          "\n"
          "Compiles a neural network described in YAML to a specialized C trainer:\n"
          "forward pass, symbolic gradient and optimizer step as straight-line code.\n"
          "\n"
          "options:\n"
          "  -o FILE            output: FILE.c (and FILE.h beside it), '-' for the C on\n"
          "                     standard output, or a name without a suffix for a built\n"
          "                     trainer executable (default: MODEL.c)\n"
          "  --emit=KIND        c (default), exe (trainer executable), ir (tensor IR after\n"
          "                     simplification), ir-scalar (the unrolled schedule),\n"
          "                     kernels (the kernel programs both backends print), dot\n"
          "                     (the IR as a Graphviz graph); with LLVM: llvm (.ll), bc\n"
          "                     (bitcode), asm (.s), obj (.o); the suffix of -o picks the\n"
          "                     kind when --emit is not given\n"
          "  --report           print what training costs: parameters, optimizer state,\n"
          "                     scratch, FLOPs per layer, the schedule, and with an LLVM\n"
          "                     kind or --target the code size of each kernel; writes\n"
          "                     the output too only when -o is given\n"
          "  --max-ram=SIZE     fail (exit 1) if parameters, optimizer state and scratch\n"
          "                     exceed SIZE (bytes, or 256K, 1M)\n"
          "  --max-flash=SIZE   fail if the LLVM object's code exceeds SIZE\n"
          "  --target=TRIPLE    LLVM outputs: target triple (default: the host)\n"
          "  --cpu=NAME         LLVM outputs: CPU (default: the host's without --target,\n"
          "                     else generic; 'help' lists them)\n"
          "  --features=+a,-b   LLVM outputs: target features to add or remove\n"
          "  -O0 .. -O3         LLVM outputs: optimization level (default -O2)\n"
          "  --runtime          LLVM outputs: also define NAME_model for libnetrt\n"
          "  --trainer          LLVM outputs: also main(), the trainer (link libnetrt)\n"
          "  --mpi              trainer executables: data-parallel under mpirun (links\n"
          "                     libnetrt_mpi.a with $MPICC, default mpicc, over $CC)\n"
          "  --fp64             emit double instead of float (for gradient checks)\n"
          "  --vector-width=N   SIMD lanes in the kernels (C and LLVM): 1 (scalar), 2, 4\n"
          "                     (default, any x86-64), 8 (AVX), 16 (AVX-512)\n"
          "  --reassociate      reorder sums and products for a shorter dependency chain\n"
          "                     (faster training; rounding differs slightly): at batch 1\n"
          "                     with plain SGD NAME_train carries the first layer's\n"
          "                     pre-activation to the next sample; at batch >= 4 the\n"
          "                     samples fill the vector lanes\n"
          "  --fma              with --reassociate, at batch >= 4: sums of products and\n"
          "                     the update w - lr*g as fused multiply-adds (one\n"
          "                     rounding each); fast where the target has FMA (x86-64\n"
          "                     with -mfma or -march=native, AArch64), exact but slow\n"
          "                     elsewhere\n"
          "  --unroll=KIND      auto (default): straight-line kernels while the unrolled\n"
          "                     schedule has at most 8192 scalar operations, loops above;\n"
          "                     full: always unrolled (its smaller limits); loops: always\n"
          "                     loops (same bits; up to 16M parameters, batch 65536)\n"
          "  --print-after=PASS print the IR to stderr after PASS: lower, grad, optim,\n"
          "                     simplify, carry, scalarize, simplify-scalar, reassociate,\n"
          "                     plan (the kernel programs, as --emit=kernels), or all\n"
          "  --help             this text\n"
          "  --version          netc's version\n"
          "\n"
          "`netc run` compiles the trainer in memory with LLVM's JIT and runs it at once\n"
          "with the trainer options that follow the model (try: netc run MODEL --help).\n"
          "\n"
          "environment: CC (default cc) builds trainers for -o NAME / --emit=exe.\n",
          out);
}

static _Noreturn void usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "netc: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'netc --help'.\n");
    exit(1);
}

static void parse_args(int argc, char **argv, Options *o) {
    memset(o, 0, sizeof *o);
    o->llvm.opt = 2;
    o->max_ram = o->max_flash = -1;
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "run") == 0) {
        o->run = true;
        first = 2;
    }
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--version") == 0) {
            printf("netc %s\n", NETC_VERSION);
            exit(0);
        } else if (strcmp(a, "-o") == 0) {
            if (++i == argc)
                usage_error("%s needs a file name", a);
            o->output = argv[i];
        } else if (strncmp(a, "-o", 2) == 0 && a[2]) {
            o->output = a + 2;
        } else if (strncmp(a, "--emit=", 7) == 0) {
            const char *k = a + 7;
            o->emit = strcmp(k, "c") == 0           ? EM_C
                      : strcmp(k, "ir") == 0        ? EM_IR
                      : strcmp(k, "ir-scalar") == 0 ? EM_IR_SCALAR
                      : strcmp(k, "kernels") == 0   ? EM_KERNELS
                      : strcmp(k, "exe") == 0       ? EM_EXE
                      : strcmp(k, "llvm") == 0      ? EM_LLVM
                      : strcmp(k, "bc") == 0        ? EM_BC
                      : strcmp(k, "asm") == 0       ? EM_ASM
                      : strcmp(k, "obj") == 0       ? EM_OBJ
                      : strcmp(k, "dot") == 0       ? EM_DOT
                                                    : (usage_error("unknown --emit kind '%s'", k), EM_C);
        } else if (strncmp(a, "--target=", 9) == 0 && a[9]) {
            o->llvm.triple = a + 9;
            o->llvm_flags = true;
        } else if (strncmp(a, "--cpu=", 6) == 0 && a[6]) {
            o->llvm.cpu = a + 6;
            o->llvm_flags = true;
        } else if (strncmp(a, "--features=", 11) == 0) {
            o->llvm.features = a + 11;
            o->llvm_flags = true;
        } else if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && !a[3]) {
            o->llvm.opt = a[2] - '0';
            o->llvm_flags = true;
        } else if (strcmp(a, "--trainer") == 0) {
            o->llvm.trainer = true;
            o->llvm_flags = true;
        } else if (strcmp(a, "--runtime") == 0) {
            o->llvm.runtime = true;
            o->llvm_flags = true;
        } else if (strcmp(a, "--fp64") == 0) {
            o->fp64 = true;
        } else if (strcmp(a, "--report") == 0) {
            o->report = true;
        } else if (strncmp(a, "--max-ram=", 10) == 0 || strncmp(a, "--max-flash=", 12) == 0) {
            bool ram = a[6] == 'r';
            long v = parse_size(strchr(a, '=') + 1);
            if (v < 0)
                usage_error(ram ? "--max-ram takes a size in bytes (65536, 256K, 1M), not '%s'"
                                : "--max-flash takes a size in bytes (65536, 256K, 1M), not '%s'",
                            strchr(a, '=') + 1);
            *(ram ? &o->max_ram : &o->max_flash) = v;
            *(ram ? &o->max_ram_arg : &o->max_flash_arg) = a;
        } else if (strcmp(a, "--mpi") == 0) {
            o->mpi = true;
        } else if (strcmp(a, "--reassociate") == 0) {
            o->reassociate = true;
        } else if (strcmp(a, "--fma") == 0) {
            o->fma = true;
        } else if (strncmp(a, "--vector-width=", 15) == 0) {
            const char *w = a + 15;
            o->vector_width = strcmp(w, "1") == 0 ? 1 : strcmp(w, "2") == 0 ? 2 : strcmp(w, "4") == 0 ? 4
                            : strcmp(w, "8") == 0 ? 8 : strcmp(w, "16") == 0 ? 16 : 0;
            if (!o->vector_width)
                usage_error("--vector-width takes 1, 2, 4, 8 or 16 lanes, not '%s'", w);
        } else if (strncmp(a, "--unroll=", 9) == 0) {
            const char *k = a + 9;
            o->unroll = strcmp(k, "auto") == 0    ? UNROLL_AUTO
                        : strcmp(k, "full") == 0  ? UNROLL_FULL
                        : strcmp(k, "loops") == 0 ? UNROLL_LOOPS
                                                  : (usage_error("--unroll takes auto, full or loops, not '%s'", k), 0);
        } else if (strncmp(a, "--print-after=", 14) == 0) {
            o->print_after = a + 14;
            bool known = strcmp(o->print_after, "all") == 0;
            for (size_t p = 0; p < sizeof passes / sizeof *passes; p++)
                known |= strcmp(o->print_after, passes[p]) == 0;
            if (!known)
                usage_error("unknown pass '%s' for --print-after", o->print_after);
        } else if (a[0] == '-' && a[1]) {
            usage_error("unknown option '%s'", a);
        } else if (o->input) {
            usage_error("more than one input file ('%s')", a);
        } else {
            o->input = a;
            if (o->run) { /* the rest is the trainer's */
                o->run_argc = argc - i;
                o->run_argv = argv + i;
                break;
            }
        }
        if (strncmp(a, "--emit=", 7) == 0 || strcmp(a, "--fp64") == 0 || strncmp(a, "--target=", 9) == 0 ||
            strcmp(a, "--reassociate") == 0 || strcmp(a, "--fma") == 0 || strncmp(a, "--unroll=", 9) == 0 ||
            strncmp(a, "--vector-width=", 15) == 0 ||
            strncmp(a, "--cpu=", 6) == 0 || strncmp(a, "--features=", 11) == 0 ||
            (a[0] == '-' && a[1] == 'O') || strcmp(a, "--trainer") == 0 || strcmp(a, "--runtime") == 0) {
            size_t used = strlen(o->flags);
            snprintf(o->flags + used, sizeof o->flags - used, "%s%s", used ? " " : "", a);
        }
    }
    if (!o->input)
        usage_error("%s", "no input file");
    if (o->fma && !o->reassociate)
        usage_error("%s", "--fma changes rounding: it needs --reassociate");
    if (!o->vector_width)
        o->vector_width = 4;
}

/* ---- input ---- */

static char *read_input(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        error_at(path, (Loc){0, 0}, "cannot open: %s", strerror(errno));
    char *buf = xmalloc(LIMIT_FILE + 1);
    size_t n = fread(buf, 1, LIMIT_FILE + 1, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        error_at(path, (Loc){0, 0}, "cannot read");
    }
    if (n > LIMIT_FILE) {
        free(buf);
        error_at(path, (Loc){1, 1}, "the file is larger than the limit of %d bytes", LIMIT_FILE);
    }
    *len = n;
    return buf;
}

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* What emit_c and emit_header need to know of the options and schedules. */
static EmitOptions emit_options(const Options *o) {
    return (EmitOptions){.fp64 = o->fp64, .argv = o->flags, .cost = &o->cost, .loops = o->loops != NULL};
}

/* The kernels as C: the unrolled schedule's programs, or the loops. */
static void kernels_c(FILE *out, const Options *o, const Schedule *sc, const EmitOptions *eo) {
    if (o->loops)
        emit_c_loops(out, sc->m, o->loops, o->vector_width, eo);
    else
        emit_c(out, sc, eo);
}

/* The header written beside output path: its suffix (if it has it) replaced by .h. */
static char *header_path(const char *out, const char *suffix) {
    size_t stem = strlen(out) - (has_suffix(out, suffix) ? strlen(suffix) : 0);
    return xformat("%.*s.h", (int)stem, out);
}

/* Writes FILE.c and FILE.h (output names FILE.c) or the C alone to stdout. */
static void write_c(const Options *o, const Schedule *sc, const char *out) {
    const Model *m = sc->m;
    EmitOptions eo = emit_options(o);
    Output c, h;
    if (output_direct(out)) {
        eo.inline_header = true;
        output_open(&c, out);
        kernels_c(c.f, o, sc, &eo);
        output_close(&c);
        return;
    }
    char *hpath = header_path(out, ".c");
    eo.header = base_name(hpath);
    output_open(&h, hpath);
    output_open(&c, out);
    emit_header(h.f, m, &eo);
    kernels_c(c.f, o, sc, &eo);
    output_close(&h);
    output_close(&c);
    output_commit(&h, 0644);
    output_commit(&c, 0644);
    free(hpath);
}

/* ---- LLVM outputs: .ll, .bc, .s, .o ---- */

static const char *const llvm_suffix[] = {[EM_LLVM] = ".ll", [EM_BC] = ".bc", [EM_ASM] = ".s", [EM_OBJ] = ".o"};

static bool is_llvm(EmitKind k) { return k == EM_LLVM || k == EM_BC || k == EM_ASM || k == EM_OBJ; }

/* The LLVM output kind a file name's suffix asks for, or EM_DEFAULT. */
static EmitKind llvm_kind_of(const char *out) {
    for (EmitKind k = EM_LLVM; k <= EM_OBJ; k++)
        if (has_suffix(out, llvm_suffix[k]) && strlen(base_name(out)) > strlen(llvm_suffix[k]))
            return k;
    return EM_DEFAULT;
}

/* Writes FILE.ll/.bc/.s/.o and FILE.h beside it, or the output alone to stdout. */
static void write_llvm(const Options *o, const Schedule *sc, EmitKind kind, const char *out) {
    const Model *m = sc->m;
    LlvmOptions lo = o->llvm;
    lo.kind = kind == EM_LLVM ? LLVM_IR : kind == EM_BC ? LLVM_BC : kind == EM_ASM ? LLVM_ASM : LLVM_OBJ;
    lo.fp64 = o->fp64;
    if (o->fp64 && (lo.trainer || lo.runtime))
        usage_error("%s", "--fp64 kernels cannot be linked into a trainer (it runs in float)");
    size_t len;
    CodeSize cs;
    if (o->report || o->max_flash >= 0)
        lo.sizes = &cs;
    char *bytes = emit_llvm(sc, &lo, &len); /* exits on a bad target: nothing written yet */
    if (lo.sizes) {
        budget_flash(m, &cs, o->max_flash, o->max_flash_arg);
        if (o->report)
            report_print(stdout, sc->m, sc, NULL, &o->cost, &cs, o->fp64);
        free(cs.sym);
    }
    if (!out) { /* --report alone */
        free(bytes);
        return;
    }
    Output f, h;
    if (output_direct(out)) {
        output_open(&f, out);
        fwrite(bytes, 1, len, f.f); /* a failure is reported by output_close */
        free(bytes);
        output_close(&f);
        return;
    }
    char *hpath = header_path(out, llvm_suffix[kind]);
    EmitOptions eo = emit_options(o);
    output_open(&h, hpath);
    output_open(&f, out);
    emit_header(h.f, m, &eo);
    fwrite(bytes, 1, len, f.f);
    free(bytes);
    output_close(&h);
    output_close(&f);
    output_commit(&h, 0644);
    output_commit(&f, 0644);
    free(hpath);
}

/* ---- the trainer executable ---- */

static const char *runtime_path(const char *what) {
    static char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            const char *installed = strcmp(what, "lib") == 0   ? format("%s/../lib/netc/libnetrt.a", exe)
                                    : strcmp(what, "mpi") == 0 ? format("%s/../lib/netc/libnetrt_mpi.a", exe)
                                                               : format("%s/../include/netc", exe);
            if (access(installed, R_OK) == 0)
                return installed;
        }
    }
    return strcmp(what, "lib") == 0   ? NETC_BUILD_RUNTIME_LIB
           : strcmp(what, "mpi") == 0 ? NETC_BUILD_RUNTIME_MPI_LIB
                                      : NETC_BUILD_RUNTIME_INCLUDE;
}

/* Builds the trainer in a private temporary folder, then copies it into
 * place: beside out and renamed over it, or into out itself when out is
 * not a regular file (/dev/null).  The output is opened first, so an
 * unwritable target is reported before the C compiler runs. */
static void build_exe(const Options *o, const Schedule *sc, const char *out) {
    const Model *m = sc->m;
    Output exe;
    output_open(&exe, out);
    char *csrc = output_temp_file(format("%s.c", m->name));
    char *hsrc = output_temp_file(format("%s.h", m->name));
    char *bin = output_temp_file("trainer");
    EmitOptions eo = emit_options(o);
    eo.header = intern(format("%s.h", m->name));
    Output c = {.path = csrc, .slot = -1}, h = {.path = hsrc, .slot = -1};
    c.f = fopen(csrc, "w");
    h.f = fopen(hsrc, "w");
    if (!c.f || !h.f)
        error_at(output_tempdir(), (Loc){0, 0}, "cannot write in the temporary folder: %s", strerror(errno));
    emit_header(h.f, m, &eo);
    kernels_c(c.f, o, sc, &eo);
    output_close(&h);
    output_close(&c);

    /* --mpi: main() calls netrt_mpi_main; the model's C defines NAME_model
     * (-DNETC_RUNTIME), and mpicc compiles both with $CC underneath. */
    char *msrc = NULL;
    const char *mpilib = NULL;
    if (o->mpi) {
        mpilib = runtime_path("mpi");
        if (!*mpilib || access(mpilib, R_OK) != 0)
            error_at(out, (Loc){0, 0}, "--mpi needs libnetrt_mpi.a, which this netc was built without (CMake "
                                       "found no MPI: install libopenmpi-dev and rebuild)");
        msrc = output_temp_file("mpi_main.c");
        Output mc = {.path = msrc, .slot = -1};
        if (!(mc.f = fopen(msrc, "w")))
            error_at(output_tempdir(), (Loc){0, 0}, "cannot write in the temporary folder: %s", strerror(errno));
        fprintf(mc.f,
                "#include \"netrt.h\"\n\nextern const netrt_model %s_model;\n\n"
                "int main(int argc, char **argv) { return netrt_mpi_main(&%s_model, argc, argv); }\n",
                m->name, m->name);
        output_close(&mc);
    }

    /* $CC may carry flags ("gcc -m64"): split it on blanks.  With --mpi the
     * driver is $MPICC (default mpicc), and $CC's compiler runs under it
     * (OMPI_CC for Open MPI, MPICH_CC for MPICH). */
    const char *cc = getenv("CC");
    char *ccbuf = xstrdup(cc && *cc ? cc : "cc");
    char *args[64];
    int n = 0;
    for (char *tok = strtok(ccbuf, " \t"); tok && n < 40; tok = strtok(NULL, " \t"))
        args[n++] = tok;
    if (o->mpi) {
        const char *mpicc = getenv("MPICC");
        if (n && !getenv("OMPI_CC"))
            setenv("OMPI_CC", args[0], 1);
        if (n && !getenv("MPICH_CC"))
            setenv("MPICH_CC", args[0], 1);
        args[0] = (char *)(mpicc && *mpicc ? mpicc : "mpicc");
    }
    char *extra = xstrdup(NETC_BUILD_CFLAGS);
    for (char *tok = strtok(extra, " \t"); tok && n < 48; tok = strtok(NULL, " \t"))
        args[n++] = tok;
    char *inc = xformat("-I%s", runtime_path("include"));
    char *lib = xstrdup(runtime_path("lib"));
    char *fixed[] = {"-std=c11", "-O2", "-ffp-contract=off", "-DNETC_TRAINER", inc, csrc, lib,
                     "-lm", "-o", bin, NULL};
    if (o->mpi) { /* the model's descriptor and the MPI main, the MPI library first */
        fixed[3] = "-DNETC_RUNTIME";
        args[n++] = msrc;
        args[n++] = (char *)mpilib;
    }
    for (int i = 0; fixed[i]; i++)
        args[n++] = fixed[i];
    args[n] = NULL;
    bool ok = output_run(args);
    free(inc);
    free(lib);
    free(extra);
    free(ccbuf);
    if (!ok)
        error_at(out, (Loc){0, 0}, "the C compiler failed building the trainer");
    output_copy(&exe, bin);
    output_close(&exe);
    output_commit(&exe, 0755);
    output_cleanup();
    free(csrc);
    free(hsrc);
    free(bin);
    free(msrc);
}

/* ---- the pipeline ---- */

static void after(const Options *o, const Graph *g, const Model *m, const char *pass) {
    ir_verify(g, pass);
    if (o->print_after && (strcmp(o->print_after, "all") == 0 || strcmp(o->print_after, pass) == 0)) {
        if (o->emit == EM_DOT) { /* one graph per pass, each a complete dot file */
            dot_print(stderr, g, m, format("IR after %s%s", pass, o->label ? o->label : ""));
            return;
        }
        fprintf(stderr, "; ---- IR after %s%s ----\n", pass, o->label ? o->label : "");
        ir_print(stderr, g, m);
    }
}

/* The scalar schedule both backends print: scalarize, then simplify; then
 * its SIMD vectors. */
static void schedule_one(const Options *o, const Graph *g, const Model *m, Graph *s, Packing *pk) {
    graph_init(s, true);
    s->f64 = o->fp64;
    /* --reassociate sums a batch vector by vector: then the samples go in the lanes */
    bool samples = o->reassociate && m->batch >= 4;
    scalarize(g, s);
    after(o, s, m, "scalarize");
    simplify(s, !samples);
    after(o, s, m, "simplify-scalar");
    if (o->reassociate) {
        reassociate(s, samples ? o->vector_width : 0, o->fma);
        simplify(s, !samples);
        after(o, s, m, "reassociate");
    }
    vector_pack(s, m, o->vector_width, samples, pk);
}

/* The schedules: s and pk for every kernel; with --reassociate, when the
 * model qualifies, NAME_train gets its own from carry.c (o->train). */
typedef struct Schedules {
    Graph s, ts, as; /* as, apk: NAME_apply's (apply.c) */
    Packing pk, tpk, apk;
    bool train;
    Schedule ks; /* the kernel programs (kprog.c) */
} Schedules;

/* NAME_apply's schedule: the update alone, as torch computes it (never
 * reassociated), verified but not printed by --print-after. */
static void schedule_apply_graph(const Options *o, const Graph *g, const Model *m, Schedules *sc) {
    Options plain = *o;
    plain.reassociate = plain.fma = false;
    plain.print_after = NULL;
    Graph a;
    apply_build(g, m, &a);
    after(&plain, &a, m, "apply");
    simplify(&a, true);
    schedule_one(&plain, &a, m, &sc->as, &sc->apk);
    graph_free(&a);
    schedule_apply(&sc->ks, &sc->as, &sc->apk);
}

/* The kernel programs (kprog.c verifies them as it builds them). */
static void after_plan(const Options *o, const Schedule *ks) {
    if (o->print_after && (strcmp(o->print_after, "all") == 0 || strcmp(o->print_after, "plan") == 0)) {
        fputs("; ---- kernel programs after plan ----\n", stderr);
        schedule_print(stderr, ks);
    }
}

static void schedule(Options *o, const Graph *g, const Model *m, Schedules *sc) {
    schedule_one(o, g, m, &sc->s, &sc->pk);

    Graph t;
    sc->train = o->reassociate && carry_build(g, m, &t);
    if (!sc->train) {
        schedule_build(&sc->ks, m, &sc->s, &sc->pk, NULL, NULL);
        schedule_apply_graph(o, g, m, sc);
        after_plan(o, &sc->ks);
        return;
    }
    o->label = intern(format(" (%s_train)", m->name));
    after(o, &t, m, "carry");
    simplify(&t, true);
    schedule_one(o, &t, m, &sc->ts, &sc->tpk);
    graph_free(&t);
    o->label = NULL;
    schedule_build(&sc->ks, m, &sc->s, &sc->pk, &sc->ts, &sc->tpk);
    schedule_apply_graph(o, g, m, sc);
    after_plan(o, &sc->ks);
}

static void schedules_free(Schedules *sc) {
    schedule_free(&sc->ks);
    graph_free(&sc->s);
    packing_free(&sc->pk);
    graph_free(&sc->as);
    packing_free(&sc->apk);
    if (sc->train) {
        graph_free(&sc->ts);
        packing_free(&sc->tpk);
    }
}

static void print_ir(const Options *o, const Graph *g, const Model *m) {
    if (!o->output || strcmp(o->output, "-") == 0) {
        if (o->emit == EM_DOT)
            dot_print(stdout, g, m, "IR");
        else
            ir_print(stdout, g, m);
        return;
    }
    Output f;
    output_open(&f, o->output);
    if (o->emit == EM_DOT)
        dot_print(f.f, g, m, "IR");
    else
        ir_print(f.f, g, m);
    output_close(&f);
    output_commit(&f, 0644);
}

/* The output kind and path, defaults filled in; every path the run will
 * write is checked against the input here, before any work. */
static const char *resolve_output(const Options *o, const Model *m, EmitKind *kind) {
    EmitKind emit = o->emit;
    const char *out = o->output;
    if (emit == EM_DEFAULT && out)
        emit = llvm_kind_of(out);
    if (emit == EM_DEFAULT && o->report && !out && o->llvm_flags)
        emit = EM_OBJ; /* --report --target=...: the code size of an object */
    if (emit == EM_DEFAULT)
        emit = out && strcmp(out, "-") != 0 && !strchr(base_name(out), '.') ? EM_EXE : EM_C;
    if (o->run && (o->output || o->emit || o->fp64 || o->llvm.triple || o->llvm.trainer || o->llvm.runtime))
        usage_error("%s", "netc run compiles for this machine in memory: it takes no -o, --emit, --fp64, "
                          "--target, --trainer or --runtime");
    if (o->llvm_flags && !o->run && !is_llvm(emit))
        usage_error("%s", "--target, --cpu, --features, -O, --trainer and --runtime are for LLVM outputs "
                          "(--emit=llvm|bc|asm|obj, or -o FILE.ll|.bc|.s|.o) and netc run");
    if (emit == EM_EXE && out && strcmp(out, "-") == 0)
        usage_error("%s", "--emit=exe writes an executable: give it a file name, not '-o -'");
    if (o->mpi && (emit != EM_EXE || o->run))
        usage_error("%s", "--mpi builds a trainer executable: -o NAME without a suffix, or --emit=exe");
    if (emit == EM_EXE && o->fp64 && !o->run)
        usage_error("%s", "--fp64 kernels cannot be linked into a trainer (it runs in float)");
    if (o->run && (o->report || o->max_ram >= 0 || o->max_flash >= 0))
        usage_error("%s", "--report, --max-ram and --max-flash are for compiling, not netc run");
    if (o->max_flash >= 0 && !is_llvm(emit))
        usage_error("%s", "--max-flash measures an LLVM object's code: add --emit=obj (or -o FILE.o, "
                          "--emit=llvm|bc|asm) and the board's --target and --cpu");
    if (o->report && out && strcmp(out, "-") == 0)
        usage_error("%s", "--report prints on standard output: give -o a file name, not '-'");
    if (o->report && !out) { /* the report alone: nothing written */
        *kind = emit;
        return NULL;
    }
    const char *b = base_name(o->input), *dot = strrchr(b, '.');
    int stem = (int)(dot ? dot - b : (long)strlen(b));
    if (!out && emit == EM_EXE)
        out = intern(m->name);
    else if (!out && is_llvm(emit))
        out = intern(format("%.*s%s", stem, b, llvm_suffix[emit]));
    else if (!out && emit == EM_C)
        out = intern(format("%.*s.c", stem, b));
    if (out && !o->run) {
        output_check(out);
        if (!output_direct(out) && (emit == EM_C || is_llvm(emit))) {
            char *h = header_path(out, emit == EM_C ? ".c" : llvm_suffix[emit]);
            output_check(h);
            free(h);
        }
    }
    *kind = emit;
    return out;
}

static void print_kernels(const Options *o, const Schedule *sc) {
    if (!o->output || strcmp(o->output, "-") == 0) {
        schedule_print(stdout, sc);
        return;
    }
    Output f;
    output_open(&f, o->output);
    schedule_print(f.f, sc);
    output_close(&f);
    output_commit(&f, 0644);
}

int main(int argc, char **argv) {
    Options o;
    parse_args(argc, argv, &o);
    output_init(o.input);

    size_t len;
    char *text = read_input(o.input, &len);
    Model m;
    parse_model(o.input, text, len, &m);
    m.hash = fnv1a(text, len);
    free(text);
    model_params(&m);
    EmitKind emit;
    const char *out = resolve_output(&o, &m, &emit);

    Graph g;
    graph_init(&g, false);
    g.f64 = o.fp64;
    lower_model(&m, &g);
    after(&o, &g, &m, "lower");
    grad_build(&g, &m);
    after(&o, &g, &m, "grad");
    optim_build(&g, &m);
    after(&o, &g, &m, "optim");
    simplify(&g, true);
    after(&o, &g, &m, "simplify");

    /* the schedule: unrolled within the budget, loops above it (--unroll) */
    if (o.unroll == UNROLL_FULL && m.unroll_err)
        error_at(m.file, m.unroll_loc, "%s", m.unroll_err);
    const char *why = o.unroll == UNROLL_FULL ? "--unroll=full" : NULL;
    if (o.unroll == UNROLL_LOOPS)
        why = "--unroll=loops";
    else if (o.unroll == UNROLL_AUTO && m.unroll_err)
        why = intern(format("above full unrolling's limits (%s)", m.unroll_err));
    else if (o.unroll == UNROLL_AUTO && emit != EM_IR && emit != EM_DOT) {
        Schedules probe;
        Options q = o;
        q.print_after = NULL;
        schedule(&q, &g, &m, &probe);
        int ops = probe.s.n;
        schedules_free(&probe);
        why = intern(format("the unrolled step has %s scalar operations, %s --unroll=auto's budget of %s",
                            commas(ops), ops > UNROLL_BUDGET ? "over" : "within", commas(UNROLL_BUDGET)));
        if (ops > UNROLL_BUDGET)
            o.loops = &g;
    }
    if (o.unroll == UNROLL_LOOPS || (o.unroll == UNROLL_AUTO && m.unroll_err))
        o.loops = &g;
    if (o.loops && (o.run || is_llvm(emit)))
        error_at(m.file, (Loc){0, 0}, "the loop schedule (%s) has no LLVM backend yet: build the C (-o NAME.c, or -o "
                                      "trainer)", why);
    if (o.loops && emit != EM_IR && emit != EM_DOT) {
        Schedule sc = {.m = &m};
        EmitOptions eo = emit_options(&o);
        cost_loops(&o.cost, &g, &m, loops_stack(&g, &m, o.vector_width, &eo), o.fp64);
        o.cost.why = why;
        budget_ram(&m, &o.cost, o.max_ram, o.max_ram_arg);
        if (o.report)
            report_print(stdout, &m, NULL, &g, &o.cost, NULL, o.fp64);
        if (o.report && !o.output) {
            /* --report alone */
        } else if (emit == EM_IR_SCALAR || emit == EM_KERNELS) {
            if (!o.output || strcmp(o.output, "-") == 0) {
                loops_print(stdout, &g, &m, o.vector_width, &eo);
            } else {
                Output f;
                output_open(&f, o.output);
                loops_print(f.f, &g, &m, o.vector_width, &eo);
                output_close(&f);
                output_commit(&f, 0644);
            }
        } else if (emit == EM_EXE) {
            build_exe(&o, &sc, out);
        } else {
            write_c(&o, &sc, out);
        }
        graph_free(&g);
        model_free(&m);
        return 0;
    }

    if (o.run) {
        Schedules sc;
        schedule(&o, &g, &m, &sc);
        graph_free(&g);
        char **argv2 = xmalloc(sizeof(char *) * (size_t)(o.run_argc + 1));
        argv2[0] = xstrdup(format("netc run %s", o.input));
        for (int i = 1; i < o.run_argc; i++)
            argv2[i] = o.run_argv[i];
        argv2[o.run_argc] = NULL;
        int status = run_jit(&sc.ks, &o.llvm, o.run_argc, argv2);
        free(argv2[0]);
        free(argv2);
        schedules_free(&sc);
        model_free(&m);
        return status;
    }
    if ((emit == EM_IR || emit == EM_DOT) && !o.report && o.max_ram < 0) {
        print_ir(&o, &g, &m);
    } else {
        Schedules sc;
        schedule(&o, &g, &m, &sc);
        const Graph *s = &sc.s;
        cost_compute(&o.cost, &sc.ks, o.fp64);
        o.cost.why = why;
        budget_ram(&m, &o.cost, o.max_ram, o.max_ram_arg);
        if (o.report && !is_llvm(emit))
            report_print(stdout, &m, &sc.ks, NULL, &o.cost, NULL, o.fp64);
        if (o.report && !o.output && !is_llvm(emit)) {
            /* --report alone */
        } else if (emit == EM_IR || emit == EM_DOT) {
            print_ir(&o, &g, &m);
        } else if (emit == EM_IR_SCALAR) {
            print_ir(&o, s, &m);
        } else if (emit == EM_KERNELS) {
            print_kernels(&o, &sc.ks);
        } else if (emit == EM_EXE) {
            build_exe(&o, &sc.ks, out);
        } else if (is_llvm(emit)) {
            write_llvm(&o, &sc.ks, emit, out);
        } else {
            write_c(&o, &sc.ks, out);
        }
        schedules_free(&sc);
    }
    graph_free(&g);
    model_free(&m);
    return 0;
}
