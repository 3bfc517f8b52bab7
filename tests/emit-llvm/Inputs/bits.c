/* bits.c: everything a model's kernels compute, printed bit for bit, to
 * compare two builds of the same model (the C backend's and the LLVM
 * backend's) with cmp.
 *
 * Build: cc -DM=NAME -DHEADER='"NAME.h"' bits.c KERNELS -lm
 * Prints, as hexadecimal float bits: 20 losses of NAME_step over a fixed
 * pseudo-random data set, the gradient NAME_grad writes for the first batch,
 * NAME_forward's outputs, the mean loss of NAME_train over all the data with
 * the learning rate halved through o.lr, and then every byte of the params
 * and optim structs. */
#include HEADER

#include <stdio.h>
#include <string.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define F(x) CAT(M, x)

enum { SAMPLES = F(_BATCH) * 20 };

static float xs[SAMPLES * F(_IN)], ts[SAMPLES * F(_TARGETS)];
static unsigned long long lcg = 12345;

static float uniform(void) {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(lcg >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
}

static void bits(const char *what, const void *p, size_t n) {
    const unsigned char *b = p;
    printf("%s:", what);
    for (size_t i = 0; i < n; i++)
        printf("%s%02x", i % 4 ? "" : " ", b[i]);
    putchar('\n');
}

int main(void) {
    for (int i = 0; i < SAMPLES * F(_IN); i++)
        xs[i] = 2.0f * uniform();
    for (int i = 0; i < SAMPLES * F(_TARGETS); i++)
        ts[i] = F(_TARGETS) == F(_OUT) ? 0.5f * (uniform() + 1.0f)       /* probabilities, values */
                                       : (float)(int)((uniform() + 1.0f) * 0.5f * F(_OUT) * 0.999f);
    F(_params) p, g;
    F(_optim) o;
    memset(&o, 0, sizeof o);
    F(_init)(&p, 7);
    bits("init", &p, sizeof p);
    for (int s = 0; s < 20; s++) {
        float loss = F(_step)(&p, &o, xs + s * F(_BATCH) * F(_IN), ts + s * F(_BATCH) * F(_TARGETS));
        bits("step", &loss, sizeof loss);
    }
    memset(&g, 0, sizeof g);
    float loss = F(_grad)(&p, xs, ts, &g);
    bits("grad loss", &loss, sizeof loss);
    bits("grad", &g, sizeof g);
    float y[F(_OUT)];
    F(_forward)(&p, xs, y);
    bits("forward", y, sizeof y);
    o.lr = (float)(F(_LR) * 0.5);
    loss = F(_train)(&p, &o, xs, ts, SAMPLES);
    bits("train", &loss, sizeof loss);
    bits("params", &p, sizeof p);
    bits("optim", &o, sizeof o);
    return 0;
}
