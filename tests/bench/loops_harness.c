/* loops_harness.c: times NAME_train of one netc model (tests/bench/loops.py).
 *
 *   cc -DM=NAME -DHEADER='"NAME.h"' loops_harness.c NAME.c -lm
 *   ./a.out SECONDS          prints "us_per_step U loss L checksum C"
 *
 * Data: 16 batches of inputs ~U(-1, 1) and targets (class indices for
 * cross entropy, ~U(-1, 1) otherwise), trained round after round from
 * NAME_init(seed 1) until SECONDS have passed (after a warm-up round); the
 * time is the median of the rounds.  The checksum is the sum of the final
 * parameters, to compare variants that must train alike. */
#define _POSIX_C_SOURCE 199309L
#include HEADER

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define F(x) CAT(M, x)

enum { NB = 16 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static unsigned long long lcg = 42;
static float uniform(void)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(lcg >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    size_t n = (size_t)NB * F(_BATCH);
    float *x = malloc(sizeof(float) * n * F(_IN)), *t = malloc(sizeof(float) * n * F(_TARGETS));
    F(_params) *p = malloc(sizeof *p);
    F(_optim) *o = calloc(1, sizeof *o);
    if (!x || !t || !p || !o)
        return 1;
    for (size_t i = 0; i < n * F(_IN); i++)
        x[i] = uniform();
    for (size_t i = 0; i < n * F(_TARGETS); i++)
        t[i] = F(_TARGETS) == F(_OUT) ? uniform() : (float)(int)((uniform() + 1.0f) * 0.5f * F(_OUT) * 0.999f);
    F(_init)(p, 1);
    float loss = F(_train)(p, o, x, t, n); /* warm-up */
    double times[1000];
    int rounds = 0;
    double start = now_s();
    while (rounds < 1000 && (rounds < 3 || now_s() - start < seconds)) {
        double t0 = now_s();
        loss = F(_train)(p, o, x, t, n);
        times[rounds++] = (now_s() - t0) / NB;
    }
    qsort(times, (size_t)rounds, sizeof *times, cmp);
    double sum = 0;
    const float *w = (const float *)p;
    for (size_t i = 0; i < sizeof *p / sizeof(float); i++)
        sum += w[i];
    printf("us_per_step %.3f loss %.6g checksum %.9g rounds %d\n", 1e6 * times[rounds / 2], loss, sum, rounds);
    return 0;
}
