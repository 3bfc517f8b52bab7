/* parity.c: the generated float32 kernels of models/seed.yaml against PyTorch.
 *
 * Usage: parity FIXTURE    (tests/pytorch/seed_fixture.txt, written by
 *                           tests/pytorch/gen_seed_fixture.py; its header
 *                           comment documents the format)
 *
 * Built against netc's output for models/seed.yaml (seed.c, seed.h).  Starting
 * from the fixture's initial weights it checks:
 *   1. seed_forward on sample 0: the output;
 *   2. seed_grad on sample 0: the returned loss and all 22 gradient elements
 *      (g is filled with NaN first, so an element never written is a mismatch),
 *      and that seed_grad leaves the parameters alone;
 *   3. 10 seed_step calls, sample i at step i: each returned loss, and every
 *      parameter after the 10 steps;
 *   4. seed_train over the same 10 samples from the same initial weights: the
 *      weights must equal those after the 10 seed_step calls bit for bit, and
 *      the return value must be the mean of the 10 losses (against the
 *      fixture's steps.mean_loss and against the mean of the losses seed_step
 *      returned here).  Built with -DTRAIN_VS_TORCH (--reassociate, whose
 *      seed_train carries the hidden pre-activation and rounds it its own
 *      way) the weights seed_train leaves are checked against the fixture
 *      instead, at the same 1e-6.
 *
 * Tolerance, for every value compared with the fixture: with a the computed
 * and b the reference value, a matches b when |a - b| <= 1e-6 * max(|a|, |b|)
 * (1e-6 relative, as the issue asks).  Only where the reference is exactly 0
 * (a dead ReLU's gradient) is a tiny absolute floor used instead: |a| <= 1e-30.
 * NaN never matches.  The bit-for-bit checks of 4. compare the float bits.
 *
 * Every mismatch is printed with its name, index and both values; the last
 * line is "parity: N values checked, M mismatches, max rel err E".  Exit
 * status 0 when M is 0, 1 on any mismatch, 2 when the fixture cannot be read.
 */
#include "seed.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REL_TOL 1e-6
#define ZERO_FLOOR 1e-30

enum { MAX_ENTRIES = 64, MAX_VALUES = 64, MAX_KEY = 64, MAX_LINE = 8192 };

typedef struct Entry {
    char key[MAX_KEY];
    int count;
    float v[MAX_VALUES];
} Entry;

static Entry entries[MAX_ENTRIES];
static int nentries;
static const char *fixture_path;

static void die(int line, const char *msg, const char *what) {
    fprintf(stderr, "parity: %s:%d: %s%s%s\n", fixture_path, line, msg, what ? ": " : "", what ? what : "");
    exit(2);
}

static void read_fixture(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    fixture_path = path;
    char line[MAX_LINE];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n')
            die(lineno, "line too long", NULL);
        if (line[0] == '#' || strspn(line, " \t\r\n") == len)
            continue;
        if (nentries == MAX_ENTRIES)
            die(lineno, "too many entries", NULL);
        Entry *e = &entries[nentries++];
        char *p = line;
        int n = 0;
        if (sscanf(p, "%63s %d%n", e->key, &e->count, &n) != 2 || e->count < 1 || e->count > MAX_VALUES)
            die(lineno, "expected KEY COUNT", NULL);
        p += n;
        for (int i = 0; i < e->count; i++) {
            char *end;
            e->v[i] = strtof(p, &end);
            if (end == p)
                die(lineno, "too few values", e->key);
            p = end;
        }
        if (strspn(p, " \t\r\n") != strlen(p))
            die(lineno, "too many values", e->key);
    }
    fclose(f);
}

/* The values of KEY, which must hold exactly COUNT of them. */
static const float *get(const char *key, int count) {
    for (int i = 0; i < nentries; i++) {
        if (strcmp(entries[i].key, key) == 0) {
            if (entries[i].count != count) {
                fprintf(stderr, "parity: %s: %s has %d values, expected %d\n", fixture_path, key,
                        entries[i].count, count);
                exit(2);
            }
            return entries[i].v;
        }
    }
    fprintf(stderr, "parity: %s: no %s\n", fixture_path, key);
    exit(2);
}

/* seed_params <-> fixture keys PREFIX.hidden.weight etc., member by member. */
static void load_params(seed_params *p, const char *prefix) {
    char key[MAX_KEY];
    snprintf(key, sizeof key, "%s.hidden.weight", prefix);
    memcpy(p->hidden_weight, get(key, 15), sizeof p->hidden_weight);
    snprintf(key, sizeof key, "%s.hidden.bias", prefix);
    memcpy(p->hidden_bias, get(key, 3), sizeof p->hidden_bias);
    snprintf(key, sizeof key, "%s.out.weight", prefix);
    memcpy(p->out_weight, get(key, 3), sizeof p->out_weight);
    snprintf(key, sizeof key, "%s.out.bias", prefix);
    memcpy(p->out_bias, get(key, 1), sizeof p->out_bias);
}

static long checked, mismatches;
static double max_rel;

static void check(const char *name, int index, float got, float want) {
    double a = got, b = want, diff = fabs(a - b), rel = 0;
    int ok;
    checked++;
    if (b == 0) {
        ok = fabs(a) <= ZERO_FLOOR;
    } else {
        double scale = fmax(fabs(a), fabs(b));
        rel = diff / scale;
        ok = diff <= REL_TOL * scale;
        if (!(rel <= max_rel)) /* NaN propagates into the summary */
            max_rel = isnan(rel) ? NAN : rel;
    }
    if (!ok) {
        mismatches++;
        printf("MISMATCH %s[%d]: got %.9g, expected %.9g (abs err %.3g, rel err %.3g)\n", name, index, a, b,
               diff, rel);
    }
}

static void check_vec(const char *name, const float *got, const float *want, int n) {
    for (int i = 0; i < n; i++)
        check(name, i, got[i], want[i]);
}

/* All of P against the fixture's PREFIX.* values. */
static void check_params(const char *prefix, const seed_params *p) {
    char key[MAX_KEY];
    snprintf(key, sizeof key, "%s.hidden.weight", prefix);
    check_vec(key, &p->hidden_weight[0][0], get(key, 15), 15);
    snprintf(key, sizeof key, "%s.hidden.bias", prefix);
    check_vec(key, p->hidden_bias, get(key, 3), 3);
    snprintf(key, sizeof key, "%s.out.weight", prefix);
    check_vec(key, &p->out_weight[0][0], get(key, 3), 3);
    snprintf(key, sizeof key, "%s.out.bias", prefix);
    check_vec(key, p->out_bias, get(key, 1), 1);
}

#ifndef TRAIN_VS_TORCH
/* Bit-for-bit equality of two float arrays. */
static void check_same_bits(const char *name, const float *got, const float *want, int n) {
    for (int i = 0; i < n; i++) {
        checked++;
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
            mismatches++;
            printf("MISMATCH %s[%d]: seed_train gives %.9g, seed_step x10 gives %.9g (not bit for bit)\n", name, i,
                   (double)got[i], (double)want[i]);
        }
    }
}
#endif

static void fill_nan(seed_params *g) {
    float *f = (float *)g;
    for (size_t i = 0; i < sizeof *g / sizeof(float); i++)
        f[i] = NAN;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE\n", argv[0]);
        return 2;
    }
    read_fixture(argv[1]);
    if (get("lr", 1)[0] != 0.01f) {
        fprintf(stderr, "parity: %s: lr is not models/seed.yaml's 0.01\n", argv[1]);
        return 2;
    }

    enum { N = 10 };
    float x[N][seed_IN], t[N][seed_OUT];
    for (int i = 0; i < N; i++) {
        char key[MAX_KEY];
        snprintf(key, sizeof key, "x.%d", i);
        memcpy(x[i], get(key, seed_IN), sizeof x[i]);
        snprintf(key, sizeof key, "t.%d", i);
        memcpy(t[i], get(key, seed_OUT), sizeof t[i]);
    }

    seed_params init;
    memset(&init, 0, sizeof init);
    load_params(&init, "init");

    /* 1. forward, sample 0 */
    float y[seed_OUT] = {NAN};
    seed_forward(&init, x[0], y);
    check_vec("sample0.output", y, get("sample0.output", 1), 1);

    /* 2. loss and gradients, sample 0 */
    seed_params p = init, g;
    fill_nan(&g);
    float loss = seed_grad(&p, x[0], t[0], &g);
    check("sample0.loss", 0, loss, get("sample0.loss", 1)[0]);
    check_params("sample0.grad", &g);
    if (memcmp(&p, &init, sizeof p) != 0) {
        mismatches++;
        printf("MISMATCH seed_grad changed the parameters\n");
    }

    /* 3. ten SGD steps */
    seed_optim o;
    memset(&o, 0, sizeof o);
    float losses[N];
    const float *want_loss = get("steps.loss", N);
    for (int i = 0; i < N; i++) {
        losses[i] = seed_step(&p, &o, x[i], t[i]);
        check("steps.loss", i, losses[i], want_loss[i]);
    }
    check_params("final", &p);

    /* 4. seed_train over the same samples: same weights, mean loss */
    seed_params q = init;
    seed_optim oq;
    memset(&oq, 0, sizeof oq);
    float mean = seed_train(&q, &oq, &x[0][0], &t[0][0], N);
#ifdef TRAIN_VS_TORCH
    check_params("final", &q);
#else
    check_same_bits("train.hidden.weight", &q.hidden_weight[0][0], &p.hidden_weight[0][0], 15);
    check_same_bits("train.hidden.bias", q.hidden_bias, p.hidden_bias, 3);
    check_same_bits("train.out.weight", &q.out_weight[0][0], &p.out_weight[0][0], 3);
    check_same_bits("train.out.bias", q.out_bias, p.out_bias, 1);
#endif
    check("train.mean_loss", 0, mean, get("steps.mean_loss", 1)[0]);
    double sum = 0;
    for (int i = 0; i < N; i++)
        sum += losses[i];
    check("train.mean_loss_vs_steps", 0, mean, (float)(sum / N));

    printf("parity: %ld values checked, %ld mismatches, max rel err %.2g\n", checked, mismatches, max_rel);
    return mismatches ? 1 : 0;
}
