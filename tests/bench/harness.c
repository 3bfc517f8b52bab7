/* harness.c: times one implementation (linked through impl.h) on the
 * benchmark's data set and prints its timings and final weights.
 *
 *   harness DATA --samples N [--reps K] [--batch B] [--warmup]
 *
 * DATA is the file bench.py writes: "NETCBNCH", then little-endian uint32
 * n_samples, then 22 initial parameters, n*5 inputs and n targets (float32).
 * Each rep starts from the initial parameters and trains on N samples, going
 * over the data set in order as often as needed.  Output, one item a line:
 *   ns_per_sample R1 R2 ...      one number per rep
 *   loss L                       mean loss over the last up-to-4096 samples
 *   weights W1 ... W22           the final parameters, C99 hex floats (exact)
 */
#define _POSIX_C_SOURCE 199309L
#include "impl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "harness: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static size_t parse_size(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v == 0)
        die("expected a positive integer", s);
    return (size_t)v;
}

/* Trains `samples` samples from the start of the data set, wrapping around;
 * chunks are whole batches. Returns the mean loss of the last chunk. */
static float run(const float *x, const float *t, size_t n, size_t samples)
{
    float loss = 0;
    while (samples > 0) {
        size_t k = samples < n ? samples : n;
        loss = impl_train(x, t, k);
        samples -= k;
    }
    return loss;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    size_t samples = 0, reps = 1, batch = 1;
    int warmup = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--samples") && i + 1 < argc)
            samples = parse_size(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = parse_size(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = parse_size(argv[++i]);
        else if (!strcmp(argv[i], "--warmup"))
            warmup = 1;
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else
            die("usage: harness DATA --samples N [--reps K] [--batch B] [--warmup]", argv[i]);
    }
    if (!path || !samples)
        die("usage: harness DATA --samples N [--reps K] [--batch B] [--warmup]", NULL);

    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open", path);
    char magic[8];
    uint32_t n32;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "NETCBNCH", 8) || fread(&n32, 4, 1, f) != 1)
        die("not a benchmark data file", path);
    size_t n = n32;
    float w0[BENCH_NPARAMS];
    float *x = malloc(n * BENCH_IN * sizeof *x), *t = malloc(n * BENCH_OUT * sizeof *t);
    if (!x || !t)
        die("out of memory", NULL);
    if (fread(w0, sizeof(float), BENCH_NPARAMS, f) != BENCH_NPARAMS ||
        fread(x, sizeof(float), n * BENCH_IN, f) != n * BENCH_IN ||
        fread(t, sizeof(float), n * BENCH_OUT, f) != n * BENCH_OUT)
        die("truncated data file", path);
    fclose(f);
    /* Chunks of at most n samples must be whole batches. */
    n -= n % batch;
    if (n == 0 || samples % batch)
        die("--samples and the data set size must be multiples of --batch", NULL);

    if (impl_setup(w0, batch)) {
        free(x);
        free(t);
        return 3;
    }
    if (warmup)
        run(x, t, n, samples < n ? samples : n);

    printf("ns_per_sample");
    float loss = 0;
    for (size_t r = 0; r < reps; r++) {
        impl_setup(w0, batch);
        double t0 = now_ns();
        loss = run(x, t, n, samples);
        double t1 = now_ns();
        printf(" %.4f", (t1 - t0) / (double)samples);
    }
    printf("\nloss %.9g\nweights", loss);
    float w[BENCH_NPARAMS];
    impl_get(w);
    for (int i = 0; i < BENCH_NPARAMS; i++)
        printf(" %a", w[i]);
    printf("\n");
    free(x);
    free(t);
    return 0;
}
