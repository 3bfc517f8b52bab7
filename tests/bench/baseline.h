/* baseline.h: the reference network written the obvious way, as a textbook
 * would: arrays per layer and loops over them. */
#ifndef BENCH_BASELINE_H
#define BENCH_BASELINE_H

#include <stddef.h>

#define NIN  5
#define NHID 3
#define NOUT 1

typedef struct net {
    float w1[NHID][NIN], b1[NHID];
    float w2[NOUT][NHID], b2[NOUT];
} net;

/* Per-sample SGD: n steps, one a sample; returns the mean loss. */
float baseline_train(net *p, const float *x, const float *t, size_t n, float lr);
/* Mini-batch SGD: n / batch steps on the mean loss of `batch` samples. */
float baseline_train_batch(net *p, const float *x, const float *t, size_t n, size_t batch, float lr);

#endif
