/* impl_netc.c: the harness adapter for a netc-generated model.
 *
 * Build with -DNETC_NAME=seed -DNETC_HEADER='"seed.h"' (the model's name and
 * its generated header); the kernels themselves are a separate object, so
 * they are compiled with the variant's flags and never inlined here. */
#include "impl.h"

#include <stdio.h>
#include <string.h>

#include NETC_HEADER

#define CAT2(a, b) a##b
#define CAT(a, b)  CAT2(a, b)
#define SYM(s)     CAT(NETC_NAME, s)

static SYM(_params) params;
static SYM(_optim) optim;

/* The params struct holds the four tensors in this order with no padding;
 * copy them field by field anyway, so a layout change cannot go unnoticed. */
_Static_assert(sizeof params == BENCH_NPARAMS * sizeof(float), "5-3-1 parameters");
_Static_assert(SYM(_IN) == BENCH_IN && SYM(_OUT) == BENCH_OUT, "5-3-1 shape");

int impl_setup(const float w[BENCH_NPARAMS], size_t batch)
{
    if (batch != SYM(_BATCH)) {
        fprintf(stderr, "impl_netc: model compiled for batch %d, asked for %zu\n", SYM(_BATCH), batch);
        return -1;
    }
    memcpy(params.hidden_weight, w, sizeof params.hidden_weight);
    w += sizeof params.hidden_weight / sizeof(float);
    memcpy(params.hidden_bias, w, sizeof params.hidden_bias);
    w += sizeof params.hidden_bias / sizeof(float);
    memcpy(params.out_weight, w, sizeof params.out_weight);
    w += sizeof params.out_weight / sizeof(float);
    memcpy(params.out_bias, w, sizeof params.out_bias);
    memset(&optim, 0, sizeof optim);
    return 0;
}

float impl_train(const float *x, const float *t, size_t n)
{
    return SYM(_train)(&params, &optim, x, t, n);
}

void impl_get(float w[BENCH_NPARAMS])
{
    memcpy(w, params.hidden_weight, sizeof params.hidden_weight);
    w += sizeof params.hidden_weight / sizeof(float);
    memcpy(w, params.hidden_bias, sizeof params.hidden_bias);
    w += sizeof params.hidden_bias / sizeof(float);
    memcpy(w, params.out_weight, sizeof params.out_weight);
    w += sizeof params.out_weight / sizeof(float);
    memcpy(w, params.out_bias, sizeof params.out_bias);
}
