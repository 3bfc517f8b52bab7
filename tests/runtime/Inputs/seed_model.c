/* seed_model.c: the reference network written by hand, for the runtime's
 * tests: Linear(5->3) -> ReLU -> Linear(3->1) -> ReLU, MSE loss, SGD lr 0.01,
 * one sample a step, as models/seed.yaml describes it.  The weights are drawn
 * like torch.nn.Linear's, U(+-1/sqrt(in)), from splitmix64 (netc's own
 * generator may differ), so the demo's synthetic task can be checked on a
 * ReLU network without the compiler.
 */
#include "netrt.h"

#include <math.h>
#include <string.h>

typedef struct seed_params {
    float hidden_weight[3][5];
    float hidden_bias[3];
    float out_weight[1][3];
    float out_bias[1];
} seed_params;

typedef struct seed_optim {
    uint64_t steps; /* as generated code: the step count comes first */
} seed_optim;

static float uniform(uint64_t *s, int fan_in)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return (float)(((double)(z >> 11) * 0x1p-53 * 2 - 1) / sqrt(fan_in));
}

static void seed_init(void *pv, uint64_t seed)
{
    seed_params *p = pv;
    int i, j;
    for (i = 0; i < 3; i++)
        for (j = 0; j < 5; j++)
            p->hidden_weight[i][j] = uniform(&seed, 5);
    for (i = 0; i < 3; i++)
        p->hidden_bias[i] = uniform(&seed, 5);
    for (j = 0; j < 3; j++)
        p->out_weight[0][j] = uniform(&seed, 3);
    p->out_bias[0] = uniform(&seed, 3);
}

static float relu(float v) { return v > 0 ? v : 0; }

static void run(const seed_params *p, const float *x, float *h, float *y)
{
    int i, j;
    float z = p->out_bias[0];
    for (i = 0; i < 3; i++) {
        float a = p->hidden_bias[i];
        for (j = 0; j < 5; j++)
            a += p->hidden_weight[i][j] * x[j];
        h[i] = relu(a);
        z += p->out_weight[0][i] * h[i];
    }
    *y = relu(z);
}

static void seed_forward(const void *p, const float *x, float *y)
{
    float h[3];
    run(p, x, h, y);
}

static float seed_grad(const void *pv, const float *x, const float *t, void *gv)
{
    const seed_params *p = pv;
    seed_params *g = gv;
    float h[3], y, dy;
    int i, j;
    run(p, x, h, &y);
    memset(g, 0, sizeof *g);
    dy = y > 0 ? 2 * (y - t[0]) : 0;
    g->out_bias[0] = dy;
    for (i = 0; i < 3; i++) {
        float dh = h[i] > 0 ? dy * p->out_weight[0][i] : 0;
        g->out_weight[0][i] = dy * h[i];
        g->hidden_bias[i] = dh;
        for (j = 0; j < 5; j++)
            g->hidden_weight[i][j] = dh * x[j];
    }
    return (y - t[0]) * (y - t[0]);
}

static float seed_step(void *pv, void *o, const float *x, const float *t)
{
    seed_params g;
    float *p = pv, *gf = (float *)&g, loss = seed_grad(pv, x, t, &g);
    size_t i;
    ((seed_optim *)o)->steps++;
    for (i = 0; i < sizeof g / sizeof(float); i++)
        p[i] -= 0.01f * gf[i];
    return loss;
}

static float seed_train(void *p, void *o, const float *x, const float *t, size_t n)
{
    float sum = 0;
    size_t i;
    for (i = 0; i < n; i++)
        sum += seed_step(p, o, x + i * 5, t + i);
    return n ? sum / (float)n : 0;
}

static const netrt_tensor seed_tensors[] = {
    {"hidden.weight", 0, 3, 5},
    {"hidden.bias", 15, 3, 0},
    {"out.weight", 18, 1, 3},
    {"out.bias", 21, 1, 0},
};

static const netrt_model seed_model = {
    .name = "seed", .source = "seed.yaml", .version = "0.0-test",
    .n_in = 5, .n_out = 1, .batch = 1,
    .params_size = sizeof(seed_params), .optim_size = sizeof(seed_optim),
    .n_tensors = 4, .tensors = seed_tensors, .lr = 0.01f,
    .init = seed_init, .forward = seed_forward, .grad = seed_grad, .step = seed_step,
    .train = seed_train,
};

int main(int argc, char **argv) { return netrt_main(&seed_model, argc, argv); }
