/* loops_baseline.c: the obvious C loops for an MLP's training step, the
 * baseline of tests/bench/loops.py.  The shape comes from loops_shape.h
 * (written by loops.py): NL layers, SIZES[0..NL] (inputs first), BATCH,
 * CE (1: cross entropy, class-index targets; 0: mse), ADAM (1: adam; 0:
 * sgd), LR; hidden layers relu, the last identity.  Textbook per-layer loops,
 * sample by sample, built -O3 -march=native.
 *
 *   ./a.out SECONDS     prints "us_per_step U loss L" as loops_harness.c */
#define _POSIX_C_SOURCE 199309L
#include "loops_shape.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { NB = 16 };

static float *W[NL], *Bv[NL], *gW[NL], *gB[NL], *mW[NL], *vW[NL], *mB[NL], *vB[NL];
static float *A[NL + 1], *Z[NL], *D[NL + 1];
static long steps;

static unsigned long long lcg = 42;
static float uniform(void)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(lcg >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
}

static void update(float *p, float *g, float *m, float *v, int n)
{
    if (!ADAM) {
        for (int i = 0; i < n; i++)
            p[i] -= LR * g[i];
        return;
    }
    float bc1 = 1.0f - powf(0.9f, (float)steps), bc2 = 1.0f - powf(0.999f, (float)steps);
    for (int i = 0; i < n; i++) {
        m[i] = 0.9f * m[i] + 0.1f * g[i];
        v[i] = 0.999f * v[i] + 0.001f * g[i] * g[i];
        p[i] -= LR / bc1 * m[i] / (sqrtf(v[i] / bc2) + 1e-8f);
    }
}

static float step(const float *x, const float *t)
{
    float loss = 0;
    for (int l = 0; l < NL; l++) {
        memset(gW[l], 0, sizeof(float) * (size_t)SIZES[l] * SIZES[l + 1]);
        memset(gB[l], 0, sizeof(float) * (size_t)SIZES[l + 1]);
    }
    for (int b = 0; b < BATCH; b++) {
        memcpy(A[0], x + (size_t)b * SIZES[0], sizeof(float) * SIZES[0]);
        for (int l = 0; l < NL; l++)
            for (int j = 0; j < SIZES[l + 1]; j++) {
                float z = Bv[l][j];
                for (int k = 0; k < SIZES[l]; k++)
                    z += W[l][(size_t)j * SIZES[l] + k] * A[l][k];
                Z[l][j] = z;
                A[l + 1][j] = l + 1 < NL && z < 0 ? 0 : z;
            }
        const int out = SIZES[NL];
        float *y = A[NL], *d = D[NL];
        if (CE) {
            float mx = y[0], s = 0;
            for (int j = 1; j < out; j++)
                mx = y[j] > mx ? y[j] : mx;
            for (int j = 0; j < out; j++)
                s += expf(y[j] - mx);
            int c = (int)t[b];
            loss += (logf(s) + mx - y[c]) / BATCH;
            for (int j = 0; j < out; j++)
                d[j] = (expf(y[j] - mx) / s - (j == c)) / BATCH;
        } else {
            for (int j = 0; j < out; j++) {
                float e = y[j] - t[(size_t)b * out + j];
                loss += e * e / (BATCH * out);
                d[j] = 2 * e / (BATCH * out);
            }
        }
        for (int l = NL - 1; l >= 0; l--) {
            for (int j = 0; j < SIZES[l + 1]; j++) {
                float dz = D[l + 1][j] * (l + 1 < NL && Z[l][j] <= 0 ? 0.0f : 1.0f);
                gB[l][j] += dz;
                for (int k = 0; k < SIZES[l]; k++)
                    gW[l][(size_t)j * SIZES[l] + k] += dz * A[l][k];
                D[l + 1][j] = dz;
            }
            if (l > 0)
                for (int k = 0; k < SIZES[l]; k++) {
                    float s = 0;
                    for (int j = 0; j < SIZES[l + 1]; j++)
                        s += W[l][(size_t)j * SIZES[l] + k] * D[l + 1][j];
                    D[l][k] = s;
                }
        }
    }
    steps++;
    for (int l = 0; l < NL; l++) {
        update(W[l], gW[l], mW[l], vW[l], SIZES[l] * SIZES[l + 1]);
        update(Bv[l], gB[l], mB[l], vB[l], SIZES[l + 1]);
    }
    return loss;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    for (int l = 0; l < NL; l++) {
        size_t n = (size_t)SIZES[l] * SIZES[l + 1];
        W[l] = malloc(4 * n), gW[l] = malloc(4 * n), mW[l] = calloc(n, 4), vW[l] = calloc(n, 4);
        Bv[l] = malloc(4 * SIZES[l + 1]), gB[l] = malloc(4 * SIZES[l + 1]);
        mB[l] = calloc(SIZES[l + 1], 4), vB[l] = calloc(SIZES[l + 1], 4);
        float bound = 1.0f / sqrtf((float)SIZES[l]);
        for (size_t i = 0; i < n; i++)
            W[l][i] = bound * uniform();
        for (int i = 0; i < SIZES[l + 1]; i++)
            Bv[l][i] = bound * uniform();
        Z[l] = malloc(4 * SIZES[l + 1]);
    }
    for (int l = 0; l <= NL; l++)
        A[l] = malloc(4 * SIZES[l]), D[l] = malloc(4 * SIZES[l]);
    size_t n = (size_t)NB * BATCH;
    float *x = malloc(4 * n * SIZES[0]), *t = malloc(4 * n * (CE ? 1 : SIZES[NL]));
    for (size_t i = 0; i < n * SIZES[0]; i++)
        x[i] = uniform();
    for (size_t i = 0; i < n * (CE ? 1 : SIZES[NL]); i++)
        t[i] = CE ? (float)(int)((uniform() + 1.0f) * 0.5f * SIZES[NL] * 0.999f) : uniform();
    double times[1000];
    int rounds = 0;
    float loss = 0;
    double start = now_s();
    while (rounds < 1000 && (rounds < 3 || now_s() - start < seconds)) {
        double t0 = now_s();
        for (int s = 0; s < NB; s++)
            loss = step(x + (size_t)s * BATCH * SIZES[0], t + (size_t)s * BATCH * (CE ? 1 : SIZES[NL]));
        times[rounds++] = (now_s() - t0) / NB;
    }
    qsort(times, (size_t)rounds, sizeof *times, cmp);
    printf("us_per_step %.3f loss %.6g rounds %d\n", 1e6 * times[rounds / 2], loss, rounds);
    return 0;
}
