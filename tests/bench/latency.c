/* latency.c: this core's latency of the operations a per-sample training
 * step chains, in cycles, and its clock, measured.
 *
 *   latency [SECONDS]    prints "ghz G" and "<op> CYCLES" lines (x86-64
 *                        with AVX; elsewhere it prints nothing)
 *
 * Each op runs as one long chain of dependent 4-lane instructions (the
 * netc kernels' width at batch 1), so each takes its latency, not its
 * throughput.  The clock comes from a chain of 64-bit multiplies, which take
 * 3 cycles on every x86-64 core since 2006 (integer additions do not do: some
 * cores rename chains of immediate additions away).  The ops:
 *   add, mul, max   vaddps, vmulps, vmaxps
 *   select          vandps: z > 0 ? e : 0 is a mask and e
 *   gt              vcmpltps + vandps, less the select: the compare
 * bench.py multiplies them along the longest dependent path of a training
 * step, the bound no implementation of that arithmetic can beat. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#if defined(__x86_64__)
#define REP4(s) s s s s
#define REP16(s) REP4(s) REP4(s) REP4(s) REP4(s)
#define INNER 1000

/* Seconds per instruction of a chain of 16 x INNER instructions run for
 * about `seconds`. */
#define CHAIN(name, decl, body, ...)                                \
    static double name(double seconds)                             \
    {                                                              \
        decl;                                                      \
        long long n = 0;                                           \
        double t0 = now_s(), t1;                                   \
        do {                                                       \
            for (int i = 0; i < INNER; i++)                        \
                __asm__ volatile(REP16(body) __VA_ARGS__);         \
            n++;                                                   \
            t1 = now_s();                                          \
        } while (t1 - t0 < seconds);                               \
        return (t1 - t0) / ((double)n * INNER * 16);               \
    }

typedef float v4 __attribute__((vector_size(16)));
#define X v4 x = {1, 2, 3, 4}
#define K(c) const v4 k = {c, c, c, c}

/* Each chain keeps its value (x + 0, x * 1, ...): no denormals, no
 * infinities; the mask of all ones is the float with all bits set, a NaN,
 * which vandps only copies. */
CHAIN(t_imul, long long v = 1, "imul %0, %0\n\t", : "+r"(v) : : "cc")
CHAIN(t_add, X; K(0), "vaddps %1, %0, %0\n\t", : "+x"(x) : "x"(k))
CHAIN(t_mul, X; K(1), "vmulps %1, %0, %0\n\t", : "+x"(x) : "x"(k))
CHAIN(t_max, X; K(0), "vmaxps %1, %0, %0\n\t", : "+x"(x) : "x"(k))
CHAIN(t_and, X; K(__builtin_nanf("")); v4 m; __builtin_memset(&m, 0xff, sizeof m); (void)k,
      "vandps %1, %0, %0\n\t", : "+x"(x) : "x"(m))
CHAIN(t_cmp_and, X; K(0), "vcmpltps %1, %0, %%xmm15\n\tvandps %%xmm15, %0, %0\n\t", : "+x"(x) : "x"(k) : "xmm15")
#endif

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 0.5;
    if (seconds <= 0 || seconds > 60) {
        fprintf(stderr, "usage: latency [SECONDS]  (0 < SECONDS <= 60)\n");
        return 2;
    }
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("avx"))
        return 0;
    /* The clock changes under load: each round times every chain next to a
     * multiply chain, and each latency is the median of its rounds' ratios. */
    enum { ROUNDS = 15, OPS = 6 };
    static const char *const name[OPS] = {"ghz", "add", "mul", "max", "select", "gt"};
    double r[OPS][ROUNDS], dt = seconds / (ROUNDS * 2 * (OPS - 1));
    for (int k = 0; k < ROUNDS; k++) {
        double (*const op[OPS - 1])(double) = {t_add, t_mul, t_max, t_and, t_cmp_and};
        double clock = 0;
        for (int j = 0; j < OPS - 1; j++) {
            double c = t_imul(dt) / 3, t = op[j](dt);
            clock += c / (OPS - 1);
            r[j + 1][k] = t / c;
        }
        r[0][k] = 1e-9 / clock;
        r[5][k] -= r[4][k]; /* the compare alone */
    }
    for (int j = 0; j < OPS; j++) {
        for (int i = 1; i < ROUNDS; i++) /* insertion sort, for the median */
            for (int m = i; m > 0 && r[j][m] < r[j][m - 1]; m--) {
                double t = r[j][m];
                r[j][m] = r[j][m - 1];
                r[j][m - 1] = t;
            }
        printf("%s %.2f\n", name[j], r[j][ROUNDS / 2]);
    }
#endif
    return 0;
}
