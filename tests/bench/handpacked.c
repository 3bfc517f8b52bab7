/* handpacked.c: the reference network's per-sample SGD packed by hand into
 * 4-lane SSE vectors, the kernel the speed issue describes ("hand-packed into
 * 4-lane SIMD with all 22 weights held in registers across samples").
 *
 * The hidden layer's three units are lanes 0..2 of one vector; each column
 * of hidden.weight is one vector, so the forward sum over inputs and the
 * weight update are vertical.  The arithmetic is baseline.c's, in the same
 * order and rounding (sum of x_k * w_jk left to right, then + bias; ReLU as
 * max(0, z), which is (0 > z ? 0 : z) bit for bit; the update w - lr * g), so
 * the benchmark requires its weights to equal netc's bit for bit.  It shows
 * how fast exact-order training can go on the machine at hand: a latency
 * bound, not an instruction-count one.
 *
 * x86-64 only (SSE, which every x86-64 has); the benchmark skips it
 * elsewhere. */
#include "impl.h"

#include <emmintrin.h>
#include <string.h>
#include <xmmintrin.h>

static float w1[BENCH_HID][BENCH_IN], b1[BENCH_HID], w2[BENCH_HID], b2;

int impl_setup(const float w[BENCH_NPARAMS], size_t batch)
{
    if (batch != 1)
        return -1;
    memcpy(w1, w, sizeof w1);
    memcpy(b1, w + 15, sizeof b1);
    memcpy(w2, w + 18, sizeof w2);
    b2 = w[21];
    return 0;
}

void impl_get(float w[BENCH_NPARAMS])
{
    memcpy(w, w1, sizeof w1);
    memcpy(w + 15, b1, sizeof b1);
    memcpy(w + 18, w2, sizeof w2);
    w[21] = b2;
}

static __m128 column(int k) { return _mm_setr_ps(w1[0][k], w1[1][k], w1[2][k], 0); }

static float lane(__m128 v, int i)
{
    float f[4];
    _mm_storeu_ps(f, v);
    return f[i];
}

float impl_train(const float *x, const float *t, size_t n)
{
    const __m128 zero = _mm_setzero_ps(), lr = _mm_set1_ps(0.01f);
    __m128 c0 = column(0), c1 = column(1), c2 = column(2), c3 = column(3), c4 = column(4);
    __m128 bias = _mm_setr_ps(b1[0], b1[1], b1[2], 0), out = _mm_setr_ps(w2[0], w2[1], w2[2], 0);
    __m128 ob = _mm_set_ss(b2);
    double total = 0;
    for (size_t s = 0; s < n; s++, x += BENCH_IN, t++) {
        const __m128 x0 = _mm_set1_ps(x[0]), x1 = _mm_set1_ps(x[1]), x2 = _mm_set1_ps(x[2]);
        const __m128 x3 = _mm_set1_ps(x[3]), x4 = _mm_set1_ps(x[4]), tt = _mm_set_ss(*t);
        /* forward */
        __m128 z = _mm_mul_ps(x0, c0);
        z = _mm_add_ps(z, _mm_mul_ps(x1, c1));
        z = _mm_add_ps(z, _mm_mul_ps(x2, c2));
        z = _mm_add_ps(z, _mm_mul_ps(x3, c3));
        z = _mm_add_ps(z, _mm_mul_ps(x4, c4));
        z = _mm_add_ps(z, bias);
        const __m128 a = _mm_max_ps(zero, z), live = _mm_cmpgt_ps(z, zero);
        const __m128 p = _mm_mul_ps(a, out);
        __m128 oz = _mm_add_ss(p, _mm_shuffle_ps(p, p, 1));
        oz = _mm_add_ss(oz, _mm_movehl_ps(p, p));
        oz = _mm_add_ss(oz, ob);
        /* loss and its gradient: 2 (y - t) where z > 0 */
        const __m128 diff = _mm_sub_ss(_mm_max_ss(zero, oz), tt);
        total += _mm_cvtss_f32(_mm_mul_ss(diff, diff));
        __m128 d = _mm_sub_ss(oz, tt);
        d = _mm_and_ps(_mm_add_ss(d, d), _mm_cmpgt_ss(oz, zero));
        d = _mm_shuffle_ps(d, d, 0);
        /* backward and update */
        const __m128 dz = _mm_and_ps(_mm_mul_ps(d, out), live);
        out = _mm_sub_ps(out, _mm_mul_ps(lr, _mm_mul_ps(a, d)));
        ob = _mm_sub_ss(ob, _mm_mul_ss(lr, d));
        c0 = _mm_sub_ps(c0, _mm_mul_ps(lr, _mm_mul_ps(x0, dz)));
        c1 = _mm_sub_ps(c1, _mm_mul_ps(lr, _mm_mul_ps(x1, dz)));
        c2 = _mm_sub_ps(c2, _mm_mul_ps(lr, _mm_mul_ps(x2, dz)));
        c3 = _mm_sub_ps(c3, _mm_mul_ps(lr, _mm_mul_ps(x3, dz)));
        c4 = _mm_sub_ps(c4, _mm_mul_ps(lr, _mm_mul_ps(x4, dz)));
        bias = _mm_sub_ps(bias, _mm_mul_ps(lr, dz));
    }
    for (int k = 0; k < BENCH_IN; k++) {
        const __m128 c = k == 0 ? c0 : k == 1 ? c1 : k == 2 ? c2 : k == 3 ? c3 : c4;
        for (int j = 0; j < BENCH_HID; j++)
            w1[j][k] = lane(c, j);
    }
    for (int j = 0; j < BENCH_HID; j++) {
        b1[j] = lane(bias, j);
        w2[j] = lane(out, j);
    }
    b2 = _mm_cvtss_f32(ob);
    return n ? (float)(total / (double)n) : 0;
}
