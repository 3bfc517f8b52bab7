/* carry.c: seed_train compiled with --reassociate, whose hidden
 * pre-activation is carried from sample to sample (compiler/carry.c),
 * against ref_step: the same network compiled without the flag, one exact
 * SGD step per sample in PyTorch's order.
 *
 * Checks, each printing one line:
 *   1. 8 initial weights x 4000 samples: the weights seed_train leaves are
 *      within TOL of ref_step's, relative to the largest |weight| (the
 *      rounding differs; the arithmetic must not), and training moved them;
 *   2. n = 0 with x and t NULL: reads nothing, returns 0, changes nothing;
 *   3. n = 1 (the carry's next sample is the sample itself): within TOL of
 *      one ref_step;
 *   4. 4000 samples as 4 calls of 1000 (each call starts its carry again
 *      from memory): within TOL of the single call.
 * The last line is "carry: N checks, M failures, worst E".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "seed.h"

#define TOL 1e-5
enum { N = 4000, P = sizeof(seed_params) / sizeof(float) };

static float x[N * seed_IN], t[N];
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

int main(void) {
    uint64_t s = 12345;
    for (int i = 0; i < N * seed_IN; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        x[i] = (float)((double)(s >> 40) * 0x1p-24 * 3 - 1.5);
    }
    for (int i = 0; i < N; i++) { /* a teacher: relu of a fixed affine map */
        float z = 0.3f;
        for (int k = 0; k < seed_IN; k++)
            z += x[i * seed_IN + k] * (0.2f * (float)k - 0.3f);
        t[i] = z > 0 ? z : 0;
    }

    int moved = 0;
    for (int init = 1; init <= 8; init++) { /* 1. */
        ref_params r, r0;
        ref_init(&r, (uint64_t)init);
        r0 = r;
        seed_params p;
        memcpy(&p, &r, sizeof p);
        ref_optim ro;
        seed_optim o;
        memset(&ro, 0, sizeof ro);
        memset(&o, 0, sizeof o);
        for (int i = 0; i < N; i++)
            ref_step(&r, &ro, x + i * seed_IN, t + i);
        seed_train(&p, &o, x, t, N);
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

    seed_params p, q; /* 2. */
    seed_init(&p, 1);
    q = p;
    seed_optim o;
    memset(&o, 0, sizeof o);
    float loss = seed_train(&q, &o, NULL, NULL, 0);
    checks++;
    if (loss != 0 || memcmp(&p, &q, sizeof p) != 0 || o.steps != 0) {
        failures++;
        printf("FAIL n = 0 changed something\n");
    }

    ref_params r; /* 3. */
    ref_init(&r, 3);
    memcpy(&q, &r, sizeof q);
    ref_optim ro;
    memset(&ro, 0, sizeof ro);
    ref_step(&r, &ro, x + 7 * seed_IN, t + 7);
    seed_train(&q, &o, x + 7 * seed_IN, t + 7, 1);
    compare("one sample", &q, &r);

    seed_init(&p, 5); /* 4. */
    q = p;
    memset(&o, 0, sizeof o);
    seed_train(&p, &o, x, t, N);
    seed_optim o4;
    memset(&o4, 0, sizeof o4);
    for (int c = 0; c < 4; c++)
        seed_train(&q, &o4, x + c * (N / 4) * seed_IN, t + c * (N / 4), N / 4);
    compare("4 calls of 1000", &q, &p);

    printf("carry: %d checks, %d failures, worst %.3g\n", checks, failures, worst);
    return failures != 0;
}
