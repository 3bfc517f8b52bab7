/* impl_fann.c: the harness adapter for FANN 2.2 (Debian libfann-dev, float
 * build), fann_create_standard(3, 5, 3, 1) trained with fann_train, one
 * sample at a time (incremental training).
 *
 * FANN 2.2 has no ReLU.  Its closest activation is FANN_LINEAR_PIECE,
 * clamp(z, 0, 1), whose derivative FANN takes as the constant steepness
 * (no mask), so this is not the same network: the timing is comparable (the
 * same work per step: two small layers, a clamp per neuron, backprop, update),
 * the weights are not; the benchmark prints its loss for a sanity check only.
 * Steepness 1 (FANN's default 0.5 scales z), the linear error function (the
 * default tanh error function reshapes the error), and learning rate 0.02:
 * FANN's output delta is t - y, half of the MSE gradient 2 (y - t), so 0.02
 * makes FANN's step the same size as SGD on MSE at lr 0.01. */
#include "impl.h"

#include <fann.h>
#include <stdio.h>

#ifndef FANN_ACT
#define FANN_ACT FANN_LINEAR_PIECE
#endif

static struct fann *ann;
static struct fann_connection conn[BENCH_NPARAMS];

/* Index in state_dict order of a FANN connection: neurons 0-4 are the inputs,
 * 5 the input layer's bias, 6-8 the hidden units, 9 their bias, 10 the output. */
static int param_index(const struct fann_connection *c)
{
    unsigned from = c->from_neuron, to = c->to_neuron;
    if (to >= 6 && to <= 8)
        return from == 5 ? 15 + (int)(to - 6) : (int)((to - 6) * BENCH_IN + from);
    if (to == 10)
        return from == 9 ? 21 : 18 + (int)(from - 6);
    return -1;
}

int impl_setup(const float w[BENCH_NPARAMS], size_t batch)
{
    if (batch != 1)
        return -1;
    if (!ann) {
        ann = fann_create_standard(3, BENCH_IN, BENCH_HID, BENCH_OUT);
        if (!ann || fann_get_total_connections(ann) != BENCH_NPARAMS) {
            fprintf(stderr, "impl_fann: unexpected network layout\n");
            return -1;
        }
        fann_set_activation_function_hidden(ann, FANN_ACT);
        fann_set_activation_function_output(ann, FANN_ACT);
        fann_set_activation_steepness_hidden(ann, 1.0f);
        fann_set_activation_steepness_output(ann, 1.0f);
        fann_set_train_error_function(ann, FANN_ERRORFUNC_LINEAR);
        fann_set_training_algorithm(ann, FANN_TRAIN_INCREMENTAL);
        fann_set_learning_momentum(ann, 0.0f);
        fann_set_learning_rate(ann, 0.02f);
    }
    fann_get_connection_array(ann, conn);
    for (int i = 0; i < BENCH_NPARAMS; i++) {
        int k = param_index(&conn[i]);
        if (k < 0) {
            fprintf(stderr, "impl_fann: unexpected connection %u -> %u\n", conn[i].from_neuron, conn[i].to_neuron);
            return -1;
        }
        conn[i].weight = w[k];
    }
    fann_set_weight_array(ann, conn, BENCH_NPARAMS);
    return 0;
}

float impl_train(const float *x, const float *t, size_t n)
{
    fann_reset_MSE(ann);
    for (size_t s = 0; s < n; s++)
        fann_train(ann, (fann_type *)(x + s * BENCH_IN), (fann_type *)(t + s * BENCH_OUT));
    return fann_get_MSE(ann);
}

void impl_get(float w[BENCH_NPARAMS])
{
    fann_get_connection_array(ann, conn);
    for (int i = 0; i < BENCH_NPARAMS; i++)
        w[param_index(&conn[i])] = conn[i].weight;
}
