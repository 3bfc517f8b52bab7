/* fdcheck.c: seed_grad against central finite differences, in double.
 *
 * Built against `netc --fp64 models/seed.yaml -o seed64.c` (seed64.c,
 * seed64.h: the same API with double for float).  For POINTS random points
 * (fixed seeds: seed_init, then every parameter perturbed, random x and t) and
 * for every one of the 22 parameter elements p_i:
 *
 *     fd_i = (L(p + h e_i) - L(p - h e_i)) / (2 h),  h = 1e-6 * max(1, |p_i|),
 *
 * with L the loss seed_grad returns, against the analytic g_i seed_grad
 * writes.  Away from the ReLU kinks the loss is a quadratic in any single
 * parameter (the network is linear in each one), so the central difference is
 * exact up to rounding, about 1e-16 * L / h.  A gradient element passes when
 *
 *     |fd_i - g_i| <= 1e-6 * max(|fd_i|, |g_i|) + 1e-9 * max(1, L)
 *
 * (1e-6 relative; the absolute term, 10x the rounding estimate, only matters
 * for gradients near 0, such as a dead unit's, which are exactly 0 both ways).
 *
 * Kinks: the harness computes the pre-activations of both layers itself and
 * redraws a point when any of them is within KINK_MARGIN of 0, far more than a
 * step of h can move them.  It also redraws points whose output ReLU is dead
 * (every gradient would be 0) or that have fewer than 2 live hidden units, so
 * each of the POINTS points tests something; a third hidden unit may be dead
 * (its gradients must then be exactly 0).  If more than a third of all the
 * gradients checked are 0, the test fails as too weak.
 *
 * It also checks, per point, that seed_forward agrees with the loss:
 * L == (y - t)^2 to 1e-12 relative, and that seed_grad leaves p alone.
 * Last line: "fdcheck: P points, N gradients checked (Z zero), M mismatches,
 * max rel err E" (E over the gradients where the relative term of the
 * tolerance is the larger); exit 1 on any mismatch.
 */
#include "seed64.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { POINTS = 20, NPARAM = (int)(sizeof(seed_params) / sizeof(double)) };
#define REL_TOL 1e-6
#define KINK_MARGIN 1e-3

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static double uniform(double lo, double hi) { /* xorshift64*, 53 bits */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
    return lo + (hi - lo) * (double)(r >> 11) * 0x1.0p-53;
}

static double *elem(seed_params *p, int i) { return (double *)p + i; }

/* Name of parameter element I, e.g. "hidden_weight[1][3]". */
static void elem_name(int i, char *buf, size_t n) {
    if (i < 15)
        snprintf(buf, n, "hidden_weight[%d][%d]", i / 5, i % 5);
    else if (i < 18)
        snprintf(buf, n, "hidden_bias[%d]", i - 15);
    else if (i < 21)
        snprintf(buf, n, "out_weight[0][%d]", i - 18);
    else
        snprintf(buf, n, "out_bias[0]");
}

/* Smallest |pre-activation| over both layers; how many hidden units and
 * whether the output are alive. */
static double kink_distance(const seed_params *p, const double *x, int *hidden_alive, int *out_alive) {
    double m = INFINITY, h[3];
    *hidden_alive = 0;
    for (int j = 0; j < 3; j++) {
        double a = p->hidden_bias[j];
        for (int k = 0; k < 5; k++)
            a += p->hidden_weight[j][k] * x[k];
        m = fmin(m, fabs(a));
        h[j] = a > 0 ? a : 0;
        *hidden_alive += a > 0;
    }
    double a = p->out_bias[0];
    for (int j = 0; j < 3; j++)
        a += p->out_weight[0][j] * h[j];
    *out_alive = a > 0;
    return fmin(m, fabs(a));
}

int main(void) {
    /* The layout this harness indexes. */
    _Static_assert(sizeof(seed_params) == 22 * sizeof(double), "seed_params is 22 doubles");
    long checked = 0, zeros = 0, mismatches = 0, redraws = 0;
    double max_rel = 0;
    int points = 0;
    for (uint64_t s = 1; points < POINTS; s++) {
        if (redraws > 1000) {
            printf("fdcheck: cannot find kink-free points\n");
            return 1;
        }
        seed_params p;
        seed_init(&p, s);
        for (int i = 0; i < NPARAM; i++)
            *elem(&p, i) += uniform(-0.2, 0.2);
        double x[seed_IN], t[seed_OUT];
        for (int k = 0; k < seed_IN; k++)
            x[k] = uniform(-2, 2);
        t[0] = uniform(-1, 1);
        int hidden_alive, alive;
        if (kink_distance(&p, x, &hidden_alive, &alive) < KINK_MARGIN || !alive || hidden_alive < 2) {
            redraws++;
            continue;
        }
        points++;

        seed_params g, before = p;
        memset(&g, 0xff, sizeof g); /* NaN: an element never written fails */
        double loss = seed_grad(&p, x, t, &g);
        if (memcmp(&p, &before, sizeof p) != 0) {
            mismatches++;
            printf("MISMATCH point %d: seed_grad changed the parameters\n", points);
        }
        double y[seed_OUT];
        seed_forward(&p, x, y);
        double l2 = (y[0] - t[0]) * (y[0] - t[0]);
        if (!(fabs(loss - l2) <= 1e-12 * fmax(fabs(loss), fabs(l2)))) {
            mismatches++;
            printf("MISMATCH point %d: seed_grad loss %.17g but (seed_forward - t)^2 = %.17g\n", points, loss, l2);
        }

        for (int i = 0; i < NPARAM; i++) {
            double *pi = elem(&p, i), p0 = *pi, h = 1e-6 * fmax(1, fabs(p0));
            seed_params scratch;
            *pi = p0 + h;
            double lp = seed_grad(&p, x, t, &scratch);
            *pi = p0 - h;
            double lm = seed_grad(&p, x, t, &scratch);
            *pi = p0;
            double fd = (lp - lm) / (2 * h), an = *elem(&g, i);
            double diff = fabs(fd - an), scale = fmax(fabs(fd), fabs(an));
            double tol = REL_TOL * scale + 1e-9 * fmax(1, loss);
            checked++;
            zeros += an == 0;
            if (REL_TOL * scale > 1e-9 * fmax(1, loss) && diff / scale > max_rel) /* where relative rules */
                max_rel = diff / scale;
            if (!(diff <= tol)) {
                char name[64];
                elem_name(i, name, sizeof name);
                mismatches++;
                printf("MISMATCH point %d (init seed %llu) %s: analytic %.12g, finite difference %.12g (rel err %.3g)\n",
                       points, (unsigned long long)s, name, an, fd, scale > 0 ? diff / scale : 0.0);
            }
        }
    }
    printf("fdcheck: %d points, %ld gradients checked (%ld zero), %ld mismatches, max rel err %.2g\n", points,
           checked, zeros, mismatches, max_rel);
    if (zeros * 3 > checked) {
        printf("fdcheck: more than a third of the gradients are zero; the points test too little\n");
        return 1;
    }
    return mismatches ? 1 : 0;
}
