/* fake_model.c: a hand-written stand-in for netc's generated code, so the
 * runtime can be tested without the compiler.
 *
 * The model is linear, y = w.x + b with 2 inputs and 1 output, MSE loss (mean
 * over the batch), SGD with lr 0.05 and 2 samples a step.  It implements the
 * entry points the way generated code does and describes itself with a
 * netrt_model; main() hands over to the runtime as a generated trainer does.
 * With -DFAKE_MOMENTUM the optimizer is SGD with momentum 0.9 as PyTorch's
 * (buf = 0.9 buf + g; p -= lr buf), whose buffers are optimizer state
 * tensors, so the checkpoint tests can check they are saved and restored.
 * With -DFAKE_LR=x another learning rate (a large one diverges); --lr and
 * --lr-schedule set it per epoch through set_lr, as in generated code.
 */
#include "netrt.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define FAKE_IN 2
#define FAKE_OUT 1
#define FAKE_BATCH 2
#ifndef FAKE_LR
#define FAKE_LR 0.05f
#endif

typedef struct fake_params {
    float fc_weight[FAKE_OUT][FAKE_IN];
    float fc_bias[FAKE_OUT];
} fake_params;

typedef struct fake_optim {
    uint64_t steps; /* as generated code: the step count comes first */
    float lr;       /* as generated code: the rate of the next steps; 0: FAKE_LR */
#ifdef FAKE_MOMENTUM
    fake_params buf; /* the momentum buffers */
#endif
} fake_optim;

/* U(-1/sqrt(in), 1/sqrt(in)) from splitmix64, as torch.nn.Linear. */
static void fake_init(void *pv, uint64_t seed)
{
    fake_params *p = pv;
    float *f = (float *)p;
    size_t i;
    for (i = 0; i < sizeof *p / sizeof(float); i++) {
        uint64_t z = (seed += 0x9e3779b97f4a7c15u);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        z ^= z >> 31;
        f[i] = (float)(((double)(z >> 11) * 0x1p-53 * 2 - 1) / sqrt(FAKE_IN));
    }
}

static void fake_forward(const void *pv, const float *x, float *y)
{
    const fake_params *p = pv;
    y[0] = p->fc_weight[0][0] * x[0] + p->fc_weight[0][1] * x[1] + p->fc_bias[0];
}

static float fake_grad(const void *pv, const float *x, const float *t, void *gv)
{
    fake_params *g = gv;
    float loss = 0;
    int s;
    memset(g, 0, sizeof *g);
    for (s = 0; s < FAKE_BATCH; s++) {
        float y, d;
        fake_forward(pv, x + s * FAKE_IN, &y);
        d = y - t[s];
        loss += d * d / FAKE_BATCH;
        g->fc_weight[0][0] += 2 * d * x[s * FAKE_IN] / FAKE_BATCH;
        g->fc_weight[0][1] += 2 * d * x[s * FAKE_IN + 1] / FAKE_BATCH;
        g->fc_bias[0] += 2 * d / FAKE_BATCH;
    }
    return loss;
}

static float fake_step(void *pv, void *ov, const float *x, const float *t)
{
    fake_params g, *p = pv;
    fake_optim *o = ov;
    float loss = fake_grad(pv, x, t, &g), *pf = (float *)p, *gf = (float *)&g;
    float lr = o->lr > 0 ? o->lr : FAKE_LR;
    size_t i;
    for (i = 0; i < sizeof g / sizeof(float); i++) {
#ifdef FAKE_MOMENTUM
        float *bf = (float *)&o->buf;
        bf[i] = o->steps ? 0.9f * bf[i] + gf[i] : gf[i];
        pf[i] -= lr * bf[i];
#else
        pf[i] -= lr * gf[i];
#endif
    }
    o->steps++;
    return loss;
}

static float fake_train(void *p, void *o, const float *x, const float *t, size_t n)
{
    size_t i, steps = n / FAKE_BATCH;
    float sum = 0;
    for (i = 0; i < steps; i++)
        sum += fake_step(p, o, x + i * FAKE_BATCH * FAKE_IN, t + i * FAKE_BATCH * FAKE_OUT);
    return steps ? sum / (float)steps : 0;
}

static void fake_set_lr(void *o, float lr) { ((fake_optim *)o)->lr = lr; }

static const netrt_tensor fake_tensors[] = {
    {"fc.weight", 0, FAKE_OUT, FAKE_IN},
    {"fc.bias", FAKE_OUT * FAKE_IN, FAKE_OUT, 0},
};

#ifdef FAKE_MOMENTUM
static const netrt_tensor fake_state[] = {
    {"optim.fc.weight.momentum_buffer", offsetof(fake_optim, buf) / sizeof(float), FAKE_OUT, FAKE_IN},
    {"optim.fc.bias.momentum_buffer", offsetof(fake_optim, buf) / sizeof(float) + FAKE_OUT * FAKE_IN,
     FAKE_OUT, 0},
};
#define FAKE_N_STATE 2
#else
#define fake_state NULL
#define FAKE_N_STATE 0
#endif

/* -DFAKE_NO_MAIN: no main(), and the descriptor is visible to a test program. */
#ifdef FAKE_NO_MAIN
extern const netrt_model fake_model;
const netrt_model fake_model = {
#else
static const netrt_model fake_model = {
#endif
    .name = "fake", .source = "fake.yaml", .version = "0.0-test",
    .n_in = FAKE_IN, .n_out = FAKE_OUT, .batch = FAKE_BATCH,
    .params_size = sizeof(fake_params), .optim_size = sizeof(fake_optim),
    .n_tensors = 2, .tensors = fake_tensors, .lr = FAKE_LR,
    .n_state = FAKE_N_STATE, .state = fake_state,
    .init = fake_init, .forward = fake_forward, .grad = fake_grad, .step = fake_step,
    .train = fake_train, .set_lr = fake_set_lr,
};

#ifndef FAKE_NO_MAIN
int main(int argc, char **argv) { return netrt_main(&fake_model, argc, argv); }
#endif
