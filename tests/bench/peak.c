/* peak.c: this core's single-precision FMA throughput, measured.
 *
 *   peak [SECONDS]    prints "avx512 GFLOPS" and "avx2 GFLOPS" lines
 *
 * Each loop runs twelve independent chains of packed FMAs in twelve registers
 * (more than latency x FMA ports on current x86 cores, and few enough for the
 * sixteen AVX2 registers), so it runs at the FMA ports' throughput.  One FMA on L lanes counts as 2 L floating-point
 * operations.  A width the CPU lacks prints 0. */
#define _POSIX_C_SOURCE 199309L
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define INNER 1000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Twelve chains x <- 0.5 x + 0.5, which converge to 1: no overflow, no
 * denormals.  F is the FMA intrinsic. */
#define CHAINS 12
#define FMA12(F)                                                                    \
    do {                                                                            \
        a0 = F(a0, m, c); a1 = F(a1, m, c); a2 = F(a2, m, c); a3 = F(a3, m, c);     \
        a4 = F(a4, m, c); a5 = F(a5, m, c); a6 = F(a6, m, c); a7 = F(a7, m, c);     \
        a8 = F(a8, m, c); a9 = F(a9, m, c); a10 = F(a10, m, c); a11 = F(a11, m, c); \
    } while (0)

__attribute__((target("avx512f,fma"))) static double peak_avx512(double seconds)
{
    const __m512 m = _mm512_set1_ps(0.5f), c = _mm512_set1_ps(0.5f);
    /* Different starting values, so the compiler cannot merge the chains. */
    __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3);
    __m512 a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5), a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7);
    __m512 a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9), a10 = _mm512_set1_ps(10), a11 = _mm512_set1_ps(11);
    long long outer = 0;
    double t0 = now_s(), t1;
    do {
        for (int i = 0; i < INNER; i++)
            FMA12(_mm512_fmadd_ps);
        outer++;
        t1 = now_s();
    } while (t1 - t0 < seconds);
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7))),
                   _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    float lanes[16];
    _mm512_storeu_ps(lanes, s);
    for (int i = 0; i < 16; i++) /* every chain has converged to 1 by now */
        if (lanes[i] != (float)CHAINS)
            abort();
    return (double)outer * INNER * CHAINS * 16 * 2 / (t1 - t0) / 1e9;
}

__attribute__((target("avx2,fma"))) static double peak_avx2(double seconds)
{
    const __m256 m = _mm256_set1_ps(0.5f), c = _mm256_set1_ps(0.5f);
    /* Different starting values, so the compiler cannot merge the chains. */
    __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2), a3 = _mm256_set1_ps(3);
    __m256 a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5), a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7);
    __m256 a8 = _mm256_set1_ps(8), a9 = _mm256_set1_ps(9), a10 = _mm256_set1_ps(10), a11 = _mm256_set1_ps(11);
    long long outer = 0;
    double t0 = now_s(), t1;
    do {
        for (int i = 0; i < INNER; i++)
            FMA12(_mm256_fmadd_ps);
        outer++;
        t1 = now_s();
    } while (t1 - t0 < seconds);
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7))),
                   _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    for (int i = 0; i < 8; i++)
        if (lanes[i] != (float)CHAINS)
            abort();
    return (double)outer * INNER * CHAINS * 8 * 2 / (t1 - t0) / 1e9;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 0.2;
    __builtin_cpu_init();
    double g512 = __builtin_cpu_supports("avx512f") ? peak_avx512(seconds) : 0;
    double g256 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? peak_avx2(seconds) : 0;
    printf("avx512 %.3f\navx2 %.3f\n", g512, g256);
    return 0;
}
