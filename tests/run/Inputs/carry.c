/* carry.c: NAME_train compiled with --reassociate, whose first-layer
 * pre-activation is carried from sample to sample (compiler/carry.c),
 * against REF_step: the same model compiled without the flag under the
 * name REF, one exact SGD step per sample in PyTorch's order.
 *
 * Build with -DM=name -DR=refname '-DHEADER="name.h"' '-DREF_HEADER="ref.h"',
 * and -DCLASSES=k for a cross-entropy model (targets are class indices).
 * Checks, each printing one line on failure:
 *   1. 8 initial weights x 4000 samples: the weights M_train leaves are
 *      within TOL of REF_step's, relative to the largest |weight| (the
 *      rounding differs; the arithmetic must not), and training moved them;
 *   2. n = 0 with x and t NULL: reads nothing, returns 0, changes nothing;
 *   3. n = 1 (the carry's next sample is the sample itself): within TOL of
 *      one REF_step;
 *   4. 4000 samples as 4 calls of 1000 (each call starts its carry again
 *      from memory): within TOL of the single call.
 * The last line is "carry: N checks, M failures, worst E".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include HEADER
#include REF_HEADER

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define F(x) CAT(M, x)
#define G(x) CAT(R, x)

#define TOL 1e-5
enum { N = 4000, P = sizeof(F(_params)) / sizeof(float), IN = F(_IN), TG = F(_TARGETS) };

static float x[N * IN], t[N * TG];
static int checks, failures;
static double worst;

static void compare(const char *what, const void *got, const void *want) {
    const float *a = got, *b = want;
    double big = 0, err = 0;
    for (int i = 0; i < P; i++)
        big = fmax(big, fabs(b[i]));
    for (int i = 0; i < P; i++)
        err = fmax(err, isnan(a[i]) ? INFINITY : fabs(a[i] - b[i]) / big);
    checks++;
    worst = fmax(worst, err);
    if (!(err <= TOL)) {
        failures++;
        printf("FAIL %s: relative error %.3g\n", what, err);
    }
}

static double uniform(uint64_t *s) {
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return (double)(*s >> 40) * 0x1p-24;
}

int main(void) {
    _Static_assert(sizeof(F(_params)) == sizeof(G(_params)), "the two builds are one model");
    uint64_t s = 12345;
    for (int i = 0; i < N * IN; i++)
        x[i] = (float)(uniform(&s) * 3 - 1.5);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < TG; k++) {
#ifdef CLASSES
            t[i * TG + k] = (float)(int)(uniform(&s) * CLASSES);
#else
            float z = 0.3f; /* a teacher: a fixed affine map, squashed into (0, 1) */
            for (int j = 0; j < IN; j++)
                z += x[i * IN + j] * (0.2f * (float)((j + k) % 5) - 0.3f);
            t[i * TG + k] = 1.0f / (1.0f + expf(-z));
#endif
        }

    int moved = 0;
    for (int init = 1; init <= 8; init++) { /* 1. */
        G(_params) r, r0;
        G(_init)(&r, (uint64_t)init);
        r0 = r;
        F(_params) p;
        memcpy(&p, &r, sizeof p);
        G(_optim) ro;
        F(_optim) o;
        memset(&ro, 0, sizeof ro);
        memset(&o, 0, sizeof o);
        for (int i = 0; i < N; i++)
            G(_step)(&r, &ro, x + i * IN, t + i * TG);
        F(_train)(&p, &o, x, t, N);
        char what[64];
        snprintf(what, sizeof what, "init %d, %d samples", init, N);
        compare(what, &p, &r);
        moved += memcmp(&r, &r0, sizeof r) != 0;
    }
    checks++;
    if (moved < 6) {
        failures++;
        printf("FAIL only %d of 8 runs trained\n", moved);
    }
    printf("trained: %d of 8 runs moved their weights\n", moved);

    F(_params) p, q; /* 2. */
    F(_init)(&p, 1);
    q = p;
    F(_optim) o;
    memset(&o, 0, sizeof o);
    float loss = F(_train)(&q, &o, NULL, NULL, 0);
    checks++;
    if (loss != 0 || memcmp(&p, &q, sizeof p) != 0 || o.steps != 0) {
        failures++;
        printf("FAIL n = 0 changed something\n");
    }

    G(_params) r; /* 3. */
    G(_init)(&r, 3);
    memcpy(&q, &r, sizeof q);
    G(_optim) ro;
    memset(&ro, 0, sizeof ro);
    G(_step)(&r, &ro, x + 7 * IN, t + 7 * TG);
    F(_train)(&q, &o, x + 7 * IN, t + 7 * TG, 1);
    compare("one sample", &q, &r);

    F(_init)(&p, 5); /* 4. */
    q = p;
    memset(&o, 0, sizeof o);
    F(_train)(&p, &o, x, t, N);
    F(_optim) o4;
    memset(&o4, 0, sizeof o4);
    for (int c = 0; c < 4; c++)
        F(_train)(&q, &o4, x + c * (N / 4) * IN, t + c * (N / 4) * TG, N / 4);
    compare("4 calls of 1000", &q, &p);

    printf("carry: %d checks, %d failures, worst %.3g\n", checks, failures, worst);
    return failures != 0;
}
