/* genann_style.c: a small generic multilayer perceptron in the style of the
 * genann library (one heap block per network; weights, outputs and deltas as
 * flat arrays walked with pointers; activation functions called through
 * pointers; each neuron's bias first, as a weight on a constant -1 input).
 * Written for this benchmark, not genann's code.  Differences from genann:
 * float instead of double, ReLU instead of the sigmoid, and the output delta
 * is the MSE gradient 2 (t - y) (genann's is t - y), so it trains the same
 * network with the same learning rate as netc.  Its sums start with the bias,
 * so its weights match netc's only to rounding. */
#include "impl.h"

#include <stdlib.h>
#include <string.h>

typedef float (*actfun)(float z);

typedef struct mlp {
    int inputs, hidden_layers, hidden, outputs;
    actfun act_hidden, act_output;
    actfun dact_hidden, dact_output; /* derivative, as a function of the output */
    int total_weights, total_neurons;
    float *weight; /* all weights, neuron by neuron, bias first */
    float *output; /* inputs, then every layer's outputs */
    float *delta;  /* every non-input neuron's delta */
} mlp;

static float act_relu(float z) { return z > 0 ? z : 0; }
static float dact_relu(float y) { return y > 0 ? 1.0f : 0.0f; }

static mlp *mlp_new(int inputs, int hidden_layers, int hidden, int outputs)
{
    const int hidden_weights = hidden_layers ? (inputs + 1) * hidden + (hidden_layers - 1) * (hidden + 1) * hidden : 0;
    const int output_weights = (hidden_layers ? hidden + 1 : inputs + 1) * outputs;
    const int total_weights = hidden_weights + output_weights;
    const int total_neurons = inputs + hidden * hidden_layers + outputs;
    const size_t floats = (size_t)total_weights + (size_t)total_neurons + (size_t)(total_neurons - inputs);
    mlp *ann = malloc(sizeof *ann + floats * sizeof(float));
    if (!ann)
        return NULL;
    ann->inputs = inputs;
    ann->hidden_layers = hidden_layers;
    ann->hidden = hidden;
    ann->outputs = outputs;
    ann->total_weights = total_weights;
    ann->total_neurons = total_neurons;
    ann->weight = (float *)(ann + 1);
    ann->output = ann->weight + total_weights;
    ann->delta = ann->output + total_neurons;
    ann->act_hidden = ann->act_output = act_relu;
    ann->dact_hidden = ann->dact_output = dact_relu;
    memset(ann->weight, 0, floats * sizeof(float));
    return ann;
}

static const float *mlp_run(const mlp *ann, const float *inputs)
{
    const float *w = ann->weight;
    float *o = ann->output + ann->inputs;
    const float *i = ann->output;
    memcpy(ann->output, inputs, sizeof(float) * (size_t)ann->inputs);

    int h, j, k;
    if (!ann->hidden_layers) {
        float *ret = o;
        for (j = 0; j < ann->outputs; ++j) {
            float sum = *w++ * -1.0f;
            for (k = 0; k < ann->inputs; ++k)
                sum += *w++ * i[k];
            *o++ = ann->act_output(sum);
        }
        return ret;
    }
    for (j = 0; j < ann->hidden; ++j) {
        float sum = *w++ * -1.0f;
        for (k = 0; k < ann->inputs; ++k)
            sum += *w++ * i[k];
        *o++ = ann->act_hidden(sum);
    }
    i += ann->inputs;
    for (h = 1; h < ann->hidden_layers; ++h) {
        for (j = 0; j < ann->hidden; ++j) {
            float sum = *w++ * -1.0f;
            for (k = 0; k < ann->hidden; ++k)
                sum += *w++ * i[k];
            *o++ = ann->act_hidden(sum);
        }
        i += ann->hidden;
    }
    const float *ret = o;
    for (j = 0; j < ann->outputs; ++j) {
        float sum = *w++ * -1.0f;
        for (k = 0; k < ann->hidden; ++k)
            sum += *w++ * i[k];
        *o++ = ann->act_output(sum);
    }
    return ret;
}

/* One SGD step on one sample; returns the sample's loss before it. */
static float mlp_train(mlp *ann, const float *inputs, const float *desired, float learning_rate)
{
    mlp_run(ann, inputs);
    int h, j, k;
    float loss = 0;

    /* Output deltas. */
    {
        const float *o = ann->output + ann->inputs + ann->hidden * ann->hidden_layers;
        float *d = ann->delta + ann->hidden * ann->hidden_layers;
        const float *t = desired;
        for (j = 0; j < ann->outputs; ++j) {
            const float diff = *t - *o;
            loss += diff * diff;
            *d++ = 2.0f * diff * ann->dact_output(*o);
            ++o;
            ++t;
        }
    }

    /* Hidden deltas, last hidden layer first. */
    for (h = ann->hidden_layers - 1; h >= 0; --h) {
        const float *o = ann->output + ann->inputs + h * ann->hidden;
        float *d = ann->delta + h * ann->hidden;
        const float *dd = ann->delta + (h + 1) * ann->hidden;
        const float *ww = ann->weight + (ann->inputs + 1) * ann->hidden + (ann->hidden + 1) * ann->hidden * h;
        for (j = 0; j < ann->hidden; ++j) {
            float delta = 0;
            for (k = 0; k < (h == ann->hidden_layers - 1 ? ann->outputs : ann->hidden); ++k) {
                const float forward_delta = dd[k];
                const int windex = k * (ann->hidden + 1) + (j + 1);
                delta += forward_delta * ww[windex];
            }
            *d = ann->dact_hidden(*o) * delta;
            ++d;
            ++o;
        }
    }

    /* Output weights. */
    {
        const float *d = ann->delta + ann->hidden * ann->hidden_layers;
        float *w = ann->weight + (ann->hidden_layers ? (ann->inputs + 1) * ann->hidden + (ann->hidden + 1) * ann->hidden * (ann->hidden_layers - 1) : 0);
        const float *i = ann->output + (ann->hidden_layers ? ann->inputs + ann->hidden * (ann->hidden_layers - 1) : 0);
        const int n_in = ann->hidden_layers ? ann->hidden : ann->inputs;
        for (j = 0; j < ann->outputs; ++j) {
            *w++ += *d * learning_rate * -1.0f;
            for (k = 1; k < n_in + 1; ++k)
                *w++ += *d * learning_rate * i[k - 1];
            ++d;
        }
    }

    /* Hidden weights, every hidden layer. */
    for (h = ann->hidden_layers - 1; h >= 0; --h) {
        const float *d = ann->delta + h * ann->hidden;
        const float *i = ann->output + (h ? ann->inputs + ann->hidden * (h - 1) : 0);
        float *w = ann->weight + (h ? (ann->inputs + 1) * ann->hidden + (ann->hidden + 1) * ann->hidden * (h - 1) : 0);
        const int n_in = h == 0 ? ann->inputs : ann->hidden;
        for (j = 0; j < ann->hidden; ++j) {
            *w++ += *d * learning_rate * -1.0f;
            for (k = 1; k < n_in + 1; ++k)
                *w++ += *d * learning_rate * i[k - 1];
            ++d;
        }
    }
    return loss / (float)ann->outputs;
}

/* ---- harness adapter: 5-3-1, lr 0.01, per-sample only ---- */

static mlp *ann;

int impl_setup(const float w[BENCH_NPARAMS], size_t batch)
{
    if (batch != 1)
        return -1;
    if (!ann && !(ann = mlp_new(BENCH_IN, 1, BENCH_HID, BENCH_OUT)))
        return -1;
    /* state_dict order -> neuron by neuron, bias first (as a weight on -1). */
    const float *W1 = w, *b1 = w + 15, *W2 = w + 18, *b2 = w + 21;
    float *p = ann->weight;
    for (int j = 0; j < BENCH_HID; j++) {
        *p++ = -b1[j];
        for (int k = 0; k < BENCH_IN; k++)
            *p++ = W1[j * BENCH_IN + k];
    }
    *p++ = -b2[0];
    for (int k = 0; k < BENCH_HID; k++)
        *p++ = W2[k];
    return 0;
}

float impl_train(const float *x, const float *t, size_t n)
{
    double total = 0;
    for (size_t s = 0; s < n; s++)
        total += mlp_train(ann, x + s * BENCH_IN, t + s * BENCH_OUT, 0.01f);
    return n ? (float)(total / (double)n) : 0;
}

void impl_get(float w[BENCH_NPARAMS])
{
    const float *p = ann->weight;
    float *W1 = w, *b1 = w + 15, *W2 = w + 18, *b2 = w + 21;
    for (int j = 0; j < BENCH_HID; j++) {
        b1[j] = -*p++;
        for (int k = 0; k < BENCH_IN; k++)
            W1[j * BENCH_IN + k] = *p++;
    }
    b2[0] = -*p++;
    for (int k = 0; k < BENCH_HID; k++)
        W2[k] = *p++;
}
