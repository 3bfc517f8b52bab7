/* impl.h: what one benchmarked implementation gives the harness.
 *
 * Every implementation trains the reference network (5-3-1, ReLU, MSE, SGD)
 * and exchanges its parameters as 22 floats in PyTorch's state_dict order:
 * hidden.weight[3][5], hidden.bias[3], out.weight[1][3], out.bias[1].
 */
#ifndef BENCH_IMPL_H
#define BENCH_IMPL_H

#include <stddef.h>

#define BENCH_IN      5
#define BENCH_HID     3
#define BENCH_OUT     1
#define BENCH_NPARAMS (BENCH_HID * BENCH_IN + BENCH_HID + BENCH_OUT * BENCH_HID + BENCH_OUT)

/* Loads the parameters w and resets the optimizer; batch is the number of
 * samples per step.  Returns 0, or -1 if the implementation cannot train with
 * that batch (it then prints why). */
int impl_setup(const float w[BENCH_NPARAMS], size_t batch);
/* Trains on n samples in order (n a multiple of the batch); returns the mean
 * loss of the samples before their steps. */
float impl_train(const float *x, const float *t, size_t n);
/* Stores the current parameters into w. */
void impl_get(float w[BENCH_NPARAMS]);

#endif
