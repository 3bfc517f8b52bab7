/* fdcheck.c: m_grad of any fp64 model against central finite differences.
 *
 * Usage: fdcheck real|prob|class
 *   the targets to draw: real numbers (mse, l1), probabilities in
 *   [0.05, 0.95] (bce, bce_with_logits), or class indices 0..m_OUT-1 as
 *   doubles (cross_entropy).
 *
 * Built against `netc --fp64 MODEL.yaml -o m.c` (model name m): m_params is
 * then an array of doubles, which is all this harness needs to know.  Each
 * tests/fdops test is a tiny model that isolates one gradient rule, so a
 * wrong rule is named by the test that fails.
 *
 * For POINTS random points (m_init with seed s, every parameter moved by
 * U(-0.3, 0.3), x ~ U(-2, 2), targets as above) and every parameter element
 * p_i whose gradient m_grad writes:
 *     fd_i = (L(p + h e_i) - L(p - h e_i)) / (2h),  h = 1e-5 * max(1, |p_i|)
 * against the analytic g_i.  It passes when
 *     |fd_i - g_i| <= 1e-6 * max(|fd_i|, |g_i|) + 1e-9 * max(1, |L|):
 * 1e-6 relative; the central difference's own error is O(h^2) relative
 * (1e-10) plus rounding, about 1e-16 |L| / h = 1e-11 |L|, which the absolute
 * term covers with a factor 100 (it matters only for gradients near 0).
 *
 * Kinks (relu, leaky_relu, abs, the max in the losses): a point where some
 * kink lies within h of p_i would compare a derivative with a chord across
 * the kink.  Such a point is recognised without knowing the model: there the
 * central differences with h and h/4 disagree (away from kinks they agree to
 * O(h^2)), and the point is redrawn (counted; too many redraws fail).  A
 * wrong rule cannot hide this way: its finite differences agree with each
 * other and disagree with g.
 *
 * Frozen parameters (trainable: false): m_grad must not write their entries
 * (g is prefilled with a NaN sentinel); such entries are counted as frozen,
 * not compared.  Each point also checks that m_grad leaves p alone.
 *
 * Last line: "fdcheck: P points, N gradients checked (Z zero, F frozen),
 * M mismatches, max rel err E"; exit 1 on a mismatch, on too many redraws,
 * or when more than half the gradients checked are exactly 0 (a test that
 * tests little).
 */
#include "m.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { POINTS = 10, NPARAM = (int)(sizeof(m_params) / sizeof(double)) };
#define REL_TOL 1e-6
#define ABS_TOL 1e-9

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double uniform(double lo, double hi) { /* xorshift64*, 53 bits */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
    return lo + (hi - lo) * (double)(r >> 11) * 0x1.0p-53;
}

static double *elem(m_params *p, int i) { return (double *)p + i; }

static double loss_at(m_params *p, const double *x, const double *t) {
    m_params scratch;
    return m_grad(p, x, t, &scratch);
}

/* Central difference of the loss in element i with step h. */
static double central(m_params *p, int i, double h, const double *x, const double *t) {
    double p0 = *elem(p, i);
    *elem(p, i) = p0 + h;
    double lp = loss_at(p, x, t);
    *elem(p, i) = p0 - h;
    double lm = loss_at(p, x, t);
    *elem(p, i) = p0;
    return (lp - lm) / (2 * h);
}

int main(int argc, char **argv) {
    const char *kind = argc == 2 ? argv[1] : "";
    if (strcmp(kind, "real") != 0 && strcmp(kind, "prob") != 0 && strcmp(kind, "class") != 0) {
        fprintf(stderr, "usage: %s real|prob|class\n", argv[0]);
        return 2;
    }
    static const uint64_t sentinel = 0x7ff8dead0000beefull; /* a quiet NaN with a payload */
    long checked = 0, zeros = 0, frozen = 0, mismatches = 0, redraws = 0;
    double max_rel = 0;
    int points = 0;
    for (uint64_t s = 1; points < POINTS; s++) {
        if (redraws > 5 * POINTS) {
            printf("fdcheck: %ld redraws: kinks everywhere?\n", redraws);
            return 1;
        }
        m_params p;
        m_init(&p, s);
        for (int i = 0; i < NPARAM; i++)
            *elem(&p, i) += uniform(-0.3, 0.3);
        double x[m_BATCH * m_IN], t[m_BATCH * m_TARGETS];
        for (int k = 0; k < m_BATCH * m_IN; k++)
            x[k] = uniform(-2, 2);
        for (int k = 0; k < m_BATCH * m_TARGETS; k++) {
            if (kind[0] == 'r')
                t[k] = uniform(-1, 1);
            else if (kind[0] == 'p')
                t[k] = uniform(0.05, 0.95);
            else
                t[k] = floor(uniform(0, m_OUT));
        }

        m_params g, before = p;
        for (int i = 0; i < NPARAM; i++)
            memcpy(elem(&g, i), &sentinel, sizeof sentinel);
        double loss = m_grad(&p, x, t, &g);
        if (memcmp(&p, &before, sizeof p) != 0) {
            mismatches++;
            printf("MISMATCH point %d: m_grad changed the parameters\n", points);
        }

        /* First pass: is this point kink-free for every element? */
        double fd[NPARAM];
        int kinked = 0;
        for (int i = 0; i < NPARAM && !kinked; i++) {
            if (memcmp(elem(&g, i), &sentinel, sizeof sentinel) == 0)
                continue;
            double h = 1e-5 * fmax(1, fabs(*elem(&p, i)));
            fd[i] = central(&p, i, h, x, t);
            double fd4 = central(&p, i, h / 4, x, t);
            double scale = fmax(fabs(fd[i]), fabs(fd4));
            kinked = !(fabs(fd[i] - fd4) <= REL_TOL * scale + ABS_TOL * fmax(1, fabs(loss)));
        }
        if (kinked) {
            redraws++;
            continue;
        }
        points++;

        for (int i = 0; i < NPARAM; i++) {
            if (memcmp(elem(&g, i), &sentinel, sizeof sentinel) == 0) {
                frozen++;
                continue;
            }
            double an = *elem(&g, i);
            double diff = fabs(fd[i] - an), scale = fmax(fabs(fd[i]), fabs(an));
            double abs_tol = ABS_TOL * fmax(1, fabs(loss));
            checked++;
            zeros += an == 0;
            if (REL_TOL * scale > abs_tol && diff / scale > max_rel) /* where the relative term rules */
                max_rel = diff / scale;
            if (!(diff <= REL_TOL * scale + abs_tol)) {
                mismatches++;
                printf("MISMATCH point %d (seed %llu) parameter element %d: analytic %.12g, finite difference "
                       "%.12g (rel err %.3g)\n",
                       points, (unsigned long long)s, i, an, fd[i], scale > 0 ? diff / scale : 0.0);
            }
        }
    }
    printf("fdcheck: %d points, %ld gradients checked (%ld zero, %ld frozen), %ld mismatches, max rel err %.2g\n",
           points, checked, zeros, frozen, mismatches, max_rel);
    if (zeros * 2 > checked) {
        printf("fdcheck: more than half the gradients are zero; the points test too little\n");
        return 1;
    }
    return mismatches ? 1 : 0;
}
