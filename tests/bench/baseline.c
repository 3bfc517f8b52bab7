/* baseline.c: the obvious-loops C implementation of the reference network's
 * training, the benchmark's baseline.
 *
 * It computes what netc's kernels compute in the same order, so the two end
 * with the same bits: each pre-activation is sum_k x_k * w_jk left to right,
 * then + bias; ReLU's gradient is 0 at 0; the MSE gradient is 2 (y - t) (times
 * 1/batch first, for a batch); a batch's gradients are summed over samples in
 * order; the update is w - lr * g.  Built with -ffp-contract=off (C11's
 * default in gcc) like netc's output. */
#include "baseline.h"

static float relu(float z) { return z > 0 ? z : 0; }

float baseline_train(net *p, const float *x, const float *t, size_t n, float lr)
{
    double total = 0;
    for (size_t s = 0; s < n; s++, x += NIN, t += NOUT) {
        float z1[NHID], a1[NHID], z2[NOUT], y[NOUT];
        float d2[NOUT], d1[NHID];

        /* forward */
        for (int j = 0; j < NHID; j++) {
            float sum = 0;
            for (int k = 0; k < NIN; k++)
                sum += x[k] * p->w1[j][k];
            z1[j] = sum + p->b1[j];
            a1[j] = relu(z1[j]);
        }
        for (int j = 0; j < NOUT; j++) {
            float sum = 0;
            for (int k = 0; k < NHID; k++)
                sum += a1[k] * p->w2[j][k];
            z2[j] = sum + p->b2[j];
            y[j] = relu(z2[j]);
        }

        /* loss and backward */
        float loss = 0;
        for (int j = 0; j < NOUT; j++) {
            float diff = y[j] - t[j];
            loss += diff * diff;
            d2[j] = z2[j] > 0 ? 2 * diff : 0;
        }
        total += loss / NOUT;
        for (int k = 0; k < NHID; k++) {
            float sum = 0;
            for (int j = 0; j < NOUT; j++)
                sum += d2[j] * p->w2[j][k];
            d1[k] = z1[k] > 0 ? sum : 0;
        }

        /* update */
        for (int j = 0; j < NOUT; j++) {
            for (int k = 0; k < NHID; k++)
                p->w2[j][k] -= lr * (a1[k] * d2[j]);
            p->b2[j] -= lr * d2[j];
        }
        for (int j = 0; j < NHID; j++) {
            for (int k = 0; k < NIN; k++)
                p->w1[j][k] -= lr * (x[k] * d1[j]);
            p->b1[j] -= lr * d1[j];
        }
    }
    return n ? (float)(total / (double)n) : 0;
}

float baseline_train_batch(net *p, const float *x, const float *t, size_t n, size_t batch, float lr)
{
    double total = 0;
    const float scale = 1.0f / (float)batch;
    size_t steps = n / batch;
    for (size_t s = 0; s < steps; s++) {
        net g = {0};
        float loss = 0;
        for (size_t b = 0; b < batch; b++, x += NIN, t += NOUT) {
            float z1[NHID], a1[NHID], z2[NOUT], y[NOUT];
            float d2[NOUT], d1[NHID];
            for (int j = 0; j < NHID; j++) {
                float sum = 0;
                for (int k = 0; k < NIN; k++)
                    sum += x[k] * p->w1[j][k];
                z1[j] = sum + p->b1[j];
                a1[j] = relu(z1[j]);
            }
            for (int j = 0; j < NOUT; j++) {
                float sum = 0;
                for (int k = 0; k < NHID; k++)
                    sum += a1[k] * p->w2[j][k];
                z2[j] = sum + p->b2[j];
                y[j] = relu(z2[j]);
            }
            for (int j = 0; j < NOUT; j++) {
                float diff = y[j] - t[j];
                loss += diff * diff;
                d2[j] = z2[j] > 0 ? 2 * (scale * diff) : 0;
            }
            for (int k = 0; k < NHID; k++) {
                float sum = 0;
                for (int j = 0; j < NOUT; j++)
                    sum += d2[j] * p->w2[j][k];
                d1[k] = z1[k] > 0 ? sum : 0;
            }
            for (int j = 0; j < NOUT; j++) {
                for (int k = 0; k < NHID; k++)
                    g.w2[j][k] += a1[k] * d2[j];
                g.b2[j] += d2[j];
            }
            for (int j = 0; j < NHID; j++) {
                for (int k = 0; k < NIN; k++)
                    g.w1[j][k] += x[k] * d1[j];
                g.b1[j] += d1[j];
            }
        }
        total += loss / (float)(batch * NOUT);
        for (int j = 0; j < NOUT; j++) {
            for (int k = 0; k < NHID; k++)
                p->w2[j][k] -= lr * g.w2[j][k];
            p->b2[j] -= lr * g.b2[j];
        }
        for (int j = 0; j < NHID; j++) {
            for (int k = 0; k < NIN; k++)
                p->w1[j][k] -= lr * g.w1[j][k];
            p->b1[j] -= lr * g.b1[j];
        }
    }
    return steps ? (float)(total / (double)steps) : 0;
}
