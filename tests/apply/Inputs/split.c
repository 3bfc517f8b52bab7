/* split.c: NAME_grad then NAME_apply is NAME_step, bit for bit.
 *
 * Build: cc -DM=NAME -DHEADER='"NAME.h"' split.c KERNELS -lm
 * From NAME_init's weights and a zero optimizer state, two copies train on
 * the same pseudo-random batches for STEPS steps: one by NAME_step, the
 * other by NAME_grad into g and NAME_apply(p, o, g).  After every step the
 * returned losses and every byte of the params and optim structs must be
 * equal.  Half way, o.lr is changed in both (the rate is read per step).
 * Prints "split: N steps bit-identical" and exits 0, or names the first
 * difference and exits 1. */
#include HEADER

#include <stdio.h>
#include <string.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define F(x) CAT(M, x)

enum { STEPS = 30 };

static float xs[STEPS * F(_BATCH) * F(_IN)], ts[STEPS * F(_BATCH) * F(_TARGETS)];
static unsigned long long lcg = 2024;

static float uniform(void) {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(lcg >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
}

int main(void) {
    for (size_t i = 0; i < sizeof xs / sizeof *xs; i++)
        xs[i] = 2.0f * uniform();
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        ts[i] = F(_TARGETS) == F(_OUT) ? 0.5f * (uniform() + 1.0f)
                                       : (float)(int)((uniform() + 1.0f) * 0.5f * F(_OUT) * 0.999f);
    F(_params) p1, p2, g;
    F(_optim) o1, o2;
    memset(&o1, 0, sizeof o1);
    F(_init)(&p1, 11);
    memcpy(&p2, &p1, sizeof p1);
    memcpy(&o2, &o1, sizeof o1);
    for (int s = 0; s < STEPS; s++) {
        const float *x = xs + s * F(_BATCH) * F(_IN), *t = ts + s * F(_BATCH) * F(_TARGETS);
        if (s == STEPS / 2)
            o1.lr = o2.lr = (float)(F(_LR) * 0.75);
        float l1 = F(_step)(&p1, &o1, x, t);
        memset(&g, 0x7f, sizeof g); /* every element apply reads must be written by grad */
        float l2 = F(_grad)(&p2, x, t, &g);
        F(_apply)(&p2, &o2, &g);
        if (memcmp(&l1, &l2, sizeof l1) || memcmp(&p1, &p2, sizeof p1) || memcmp(&o1, &o2, sizeof o1)) {
            printf("split: step %d differs: loss %.9g %.9g, params %s, optim %s\n", s, (double)l1, (double)l2,
                   memcmp(&p1, &p2, sizeof p1) ? "differ" : "equal", memcmp(&o1, &o2, sizeof o1) ? "differ" : "equal");
            return 1;
        }
    }
    printf("split: %d steps bit-identical\n", STEPS);
    return 0;
}
