/* impl_baseline.c: the harness adapter for baseline.c (per-sample SGD for
 * batch 1, mini-batch SGD otherwise), learning rate 0.01 as models/seed.yaml. */
#include "impl.h"

#include "baseline.h"

#include <string.h>

_Static_assert(sizeof(net) == BENCH_NPARAMS * sizeof(float), "5-3-1 parameters in state_dict order");

static net params;
static size_t batch_size;

int impl_setup(const float w[BENCH_NPARAMS], size_t batch)
{
    memcpy(&params, w, sizeof params);
    batch_size = batch;
    return 0;
}

float impl_train(const float *x, const float *t, size_t n)
{
    if (batch_size == 1)
        return baseline_train(&params, x, t, n, 0.01f);
    return baseline_train_batch(&params, x, t, n, batch_size, 0.01f);
}

void impl_get(float w[BENCH_NPARAMS]) { memcpy(w, &params, sizeof params); }
