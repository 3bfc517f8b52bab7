/* harness.c: any model of the matrix against its PyTorch fixture.
 *
 * Usage: harness FIXTURE    (tests/pytorch/matrix/NAME.txt, written by
 *                           tests/pytorch/gen_matrix.py; its header documents
 *                           the format)
 *
 * Built with netc's float output for tests/pytorch/matrix/NAME.yaml (model
 * name m) and -DNETC_RUNTIME, so m_model describes the parameter tensors and
 * the optimizer state tensors by name and offset: one harness for every
 * model.  Starting from the fixture's initial weights it checks:
 *   1. m_forward on every sample of batch 0 (forward.y);
 *   2. m_grad on batch 0: the loss and the gradient of every trainable tensor
 *      (g is prefilled with a NaN sentinel, so an element never written is a
 *      mismatch); for a frozen tensor (trainable.P 0) every g entry must still
 *      hold the sentinel's bits (no gradient code exists for it); and m_grad
 *      leaves the parameters alone;
 *   3. 25 m_step calls from an all-zero m_optim, batch I at step I: each
 *      returned loss, then every parameter (frozen ones bit for bit equal to
 *      their initial values), every optimizer state tensor m_model.state
 *      names, and m_optim.steps;
 *   4. m_train over the same data from the same start: parameters and
 *      optimizer state bit for bit those of the 25 m_step calls, the same
 *      steps, and its mean loss the mean of the 25 step losses (1e-6 rel).
 *      With -DTRAIN_VS_TORCH (--reassociate, where m_train carries the
 *      first layer's pre-activation and rounds it its own way) the
 *      parameters and state are checked against the fixture instead, at
 *      REL_TOL, and frozen ones bit for bit against their initial values.
 * The fixture must hold exactly the tensors m_model describes (init.P for
 * each tensor, final.optim.* for each state tensor, nothing else).
 *
 * Tolerance.  With a computed and b the reference value of key K:
 *     |a - b| <= 1e-5 * max(|a|, |b|, 1e-2 * M_K)
 * where M_K is the largest |value| of K in the fixture (e.g. of the whole
 * grad0.h.weight tensor).  So every value at least 1% of its tensor's largest
 * is held to 1e-5 relative; a smaller one, typically the result of
 * cancellation in a sum (a gradient summed over a batch, a momentum buffer
 * whose sign flips), is held to 1e-7 * M_K absolute, about one float32 ulp of
 * M_K: a float32 sum of terms of size M_K cannot be more exact than that, and
 * its last bits depend on the summation order.  The fixtures are chosen
 * (gen_matrix.py) so that torch's float32 values agree with the same run in
 * float64 to 3e-6 under this rule, so a correct float32 implementation lands
 * well inside it.  NaN never matches.
 *
 * Output: a MISMATCH line per failure (key, index, values), then
 *   "matrix: N values checked, M mismatches, max rel err E at KEY[I]"
 * where E is the largest |a - b| / max(|a|, |b|, 1e-2 M_K) (in units of the
 * relative tolerance's scale).  Exit 0 when M is 0, 1 on a mismatch, 2 when
 * the fixture cannot be read or does not fit the model.
 */
#include "netrt.h"
#include "m.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef REL_TOL /* -DREL_TOL=... for the --reassociate run (tests/matrix/reassociate.test) */
#define REL_TOL 1e-5
#endif
#define FLOOR 1e-2
#define MEAN_TOL 1e-6

enum { MAX_KEY = 96, MAX_LINE = 1 << 22 }; /* a line of the loop models (tests/pytorch/matrix-loops) is up to 2 MB */

typedef struct Entry {
    char key[MAX_KEY];
    int count;
    float *v;
} Entry;

static Entry *entries;
static int nentries, capacity;
static const char *fixture_path;

static void die(const char *fmt, const char *what, long n) {
    fprintf(stderr, "matrix: %s: ", fixture_path);
    fprintf(stderr, fmt, what, n);
    fputc('\n', stderr);
    exit(2);
}

static void read_fixture(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    fixture_path = path;
    static char line[MAX_LINE];
    long lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n')
            die("%sline %ld too long", "", lineno);
        if (line[0] == '#' || strspn(line, " \t\r\n") == len)
            continue;
        if (nentries == capacity) {
            capacity = capacity ? 2 * capacity : 64;
            entries = realloc(entries, (size_t)capacity * sizeof *entries);
            if (!entries)
                die("%sout of memory at line %ld", "", lineno);
        }
        Entry *e = &entries[nentries++];
        char *p = line;
        int n = 0;
        if (sscanf(p, "%95s %d%n", e->key, &e->count, &n) != 2 || e->count < 1)
            die("%sline %ld: expected KEY COUNT", "", lineno);
        e->v = malloc((size_t)e->count * sizeof(float));
        if (!e->v)
            die("%sout of memory at line %ld", "", lineno);
        p += n;
        for (int i = 0; i < e->count; i++) {
            char *end;
            e->v[i] = strtof(p, &end);
            if (end == p)
                die("%s: too few values on line %ld", e->key, lineno);
            p = end;
        }
        if (strspn(p, " \t\r\n") != strlen(p))
            die("%s: too many values on line %ld", e->key, lineno);
    }
    fclose(f);
}

static const Entry *find(const char *key) {
    for (int i = 0; i < nentries; i++)
        if (strcmp(entries[i].key, key) == 0)
            return &entries[i];
    return NULL;
}

/* The values of KEY, which must hold exactly COUNT of them. */
static const float *get(const char *key, long count) {
    const Entry *e = find(key);
    if (!e)
        die("no %s%.0ld", key, 0L);
    if (e->count != count)
        die("%s has the wrong number of values (expected %ld)", key, count);
    return e->v;
}

static const float *getf(long count, const char *fmt, const char *name) {
    char key[MAX_KEY];
    snprintf(key, sizeof key, fmt, name);
    return get(key, count);
}

static size_t tensor_size(const netrt_tensor *t) { return t->rows * (t->cols ? t->cols : 1); }

/* ---- comparisons ---------------------------------------------------------- */

static long checked, mismatches;
static double max_err;
static char max_where[MAX_KEY + 16];

static float largest(const float *v, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmaxf(m, fabsf(v[i]));
    return m;
}

/* got[0..n) against the reference want[0..n) of key KEY, the rule above. */
static void check_vec(const char *key, const float *got, const float *want, size_t n) {
    double floor_scale = FLOOR * largest(want, n);
    for (size_t i = 0; i < n; i++) {
        double a = got[i], b = want[i], diff = fabs(a - b);
        double scale = fmax(fmax(fabs(a), fabs(b)), floor_scale);
        double err = diff == 0 ? 0 : diff / scale;
        checked++;
        if (!(err <= max_err) || isnan(a)) {
            max_err = isnan(a) ? NAN : err;
            snprintf(max_where, sizeof max_where, "%s[%zu]", key, i);
        }
        if (!(diff <= REL_TOL * scale) || isnan(a)) {
            mismatches++;
            printf("MISMATCH %s[%zu]: got %.9g, expected %.9g (abs err %.3g, rel err %.3g)\n", key, i, a, b, diff,
                   err);
        }
    }
}

static void check_bits(const char *what, const void *got, const void *want, size_t n) {
    const unsigned char *a = got, *b = want;
    for (size_t i = 0; i < n; i += sizeof(float)) {
        checked++;
        if (memcmp(a + i, b + i, sizeof(float)) != 0) {
            float x, y;
            memcpy(&x, a + i, sizeof x);
            memcpy(&y, b + i, sizeof y);
            mismatches++;
            printf("MISMATCH %s, float %zu: %.9g vs %.9g (not bit for bit)\n", what, i / sizeof(float), (double)x,
                   (double)y);
        }
    }
}

static void fail(const char *what) {
    mismatches++;
    printf("MISMATCH %s\n", what);
}

/* ---- the model through its descriptor ------------------------------------- */

static float *param(m_params *p, const netrt_tensor *t) { return (float *)p + t->offset; }
static float *state(m_optim *o, const netrt_tensor *t) { return (float *)o + t->offset; }
static uint64_t steps_of(const m_optim *o) { return o->steps; }

static int trainable(const netrt_tensor *t) {
    float v = getf(1, "trainable.%s", t->name)[0];
    if (v != 0 && v != 1)
        die("trainable.%s is neither 0 nor 1%.0ld", t->name, 0L);
    return v == 1;
}

/* Parameters p and state o after the 25 steps (by `who`) against the
 * fixture's final values; a frozen tensor bit for bit its initial value. */
static void check_final(const char *who, m_params *p, m_optim *o, m_params *init) {
    const netrt_model *M = &m_model;
    for (size_t i = 0; i < M->n_tensors; i++) {
        const netrt_tensor *ts = &M->tensors[i];
        size_t n = tensor_size(ts);
        char key[MAX_KEY + 64];
        snprintf(key, sizeof key, "final.%s", ts->name);
        check_vec(key, param(p, ts), get(key, (long)n), n);
        if (!trainable(ts)) {
            snprintf(key, sizeof key, "%s: frozen %s vs its initial value", who, ts->name);
            check_bits(key, param(p, ts), param(init, ts), n * sizeof(float));
        }
    }
    for (size_t i = 0; i < M->n_state; i++) {
        const netrt_tensor *ts = &M->state[i];
        size_t n = tensor_size(ts);
        char key[MAX_KEY];
        snprintf(key, sizeof key, "final.%s", ts->name);
        check_vec(key, state(o, ts), get(key, (long)n), n);
    }
}

/* Every fixture key with this prefix must be one of the descriptor's. */
static void expect_keys(const char *prefix, const netrt_tensor *ts, size_t n, const char *skip) {
    size_t len = strlen(prefix);
    for (int i = 0; i < nentries; i++) {
        const char *k = entries[i].key;
        if (strncmp(k, prefix, len) != 0 || (skip && strncmp(k, skip, strlen(skip)) == 0) ||
            strcmp(k, "final.steps") == 0)
            continue;
        int known = 0;
        for (size_t j = 0; j < n; j++)
            known |= strcmp(k + len, ts[j].name) == 0;
        if (!known)
            die("%s: the model has no such tensor%.0ld", k, 0L);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE\n", argv[0]);
        return 2;
    }
    read_fixture(argv[1]);
    const netrt_model *M = &m_model;
    const long steps = (long)get("steps", 1)[0], B = (long)get("batch", 1)[0];
    if (B != m_BATCH || steps < 1)
        die("%sbatch %ld does not fit the model", "", B);
    if (get("lr", 1)[0] != (float)m_LR)
        die("%slr does not match the model's%.0ld", "", 0L);
    expect_keys("init.", M->tensors, M->n_tensors, NULL);
    expect_keys("final.", M->tensors, M->n_tensors, "final.optim.");
    expect_keys("grad0.", M->tensors, M->n_tensors, "grad0.loss");
    for (int i = 0; i < nentries; i++)
        if (strncmp(entries[i].key, "final.optim.", 12) == 0) {
            int known = 0;
            for (size_t j = 0; j < M->n_state; j++)
                known |= strcmp(entries[i].key + 6, M->state[j].name) == 0;
            if (!known)
                die("%s: the model has no such optimizer state%.0ld", entries[i].key, 0L);
        }

    /* The data, steps batches in a row, as m_train takes them. */
    float *x = malloc((size_t)steps * m_BATCH * m_IN * sizeof(float));
    float *t = malloc((size_t)steps * m_BATCH * m_TARGETS * sizeof(float));
    if (!x || !t)
        die("%sout of memory%.0ld", "", 0L);
    for (long i = 0; i < steps; i++) {
        char key[MAX_KEY];
        snprintf(key, sizeof key, "x.%ld", i);
        memcpy(x + i * m_BATCH * m_IN, get(key, m_BATCH * m_IN), m_BATCH * m_IN * sizeof(float));
        snprintf(key, sizeof key, "t.%ld", i);
        memcpy(t + i * m_BATCH * m_TARGETS, get(key, m_BATCH * m_TARGETS), m_BATCH * m_TARGETS * sizeof(float));
    }

    m_params init;
    memset(&init, 0, sizeof init);
    size_t nfloat = 0;
    for (size_t i = 0; i < M->n_tensors; i++) {
        const netrt_tensor *ts = &M->tensors[i];
        memcpy(param(&init, ts), getf((long)tensor_size(ts), "init.%s", ts->name), tensor_size(ts) * sizeof(float));
        nfloat += tensor_size(ts);
    }
    if (nfloat * sizeof(float) != sizeof(m_params))
        die("%sthe descriptor does not cover m_params%.0ld", "", 0L);

    /* 1. forward */
    {
        float y[m_BATCH * m_OUT];
        for (int b = 0; b < m_BATCH; b++)
            m_forward(&init, x + b * m_IN, y + b * m_OUT);
        check_vec("forward.y", y, get("forward.y", m_BATCH * m_OUT), m_BATCH * m_OUT);
    }

    /* 2. loss and gradients, batch 0 */
    m_params p = init, g;
    const uint32_t sentinel = 0x7fc0beefu; /* a quiet NaN with a payload */
    for (size_t i = 0; i < sizeof g / sizeof(float); i++)
        memcpy((float *)&g + i, &sentinel, sizeof sentinel);
    float loss = m_grad(&p, x, t, &g);
    check_vec("grad0.loss", &loss, get("grad0.loss", 1), 1);
    int nfrozen = 0;
    for (size_t i = 0; i < M->n_tensors; i++) {
        const netrt_tensor *ts = &M->tensors[i];
        size_t n = tensor_size(ts);
        char key[MAX_KEY];
        snprintf(key, sizeof key, "grad0.%s", ts->name);
        if (trainable(ts)) {
            check_vec(key, param(&g, ts), get(key, (long)n), n);
        } else {
            nfrozen++;
            if (find(key))
                die("%s: a gradient for a frozen tensor%.0ld", key, 0L);
            for (size_t k = 0; k < n; k++) {
                checked++;
                if (memcmp(param(&g, ts) + k, &sentinel, sizeof sentinel) != 0) {
                    char what[MAX_KEY + 64];
                    snprintf(what, sizeof what, "m_grad wrote g for frozen %s[%zu]", ts->name, k);
                    fail(what);
                }
            }
        }
    }
    if (memcmp(&p, &init, sizeof p) != 0)
        fail("m_grad changed the parameters");

    /* 3. the optimizer steps */
    m_optim o;
    memset(&o, 0, sizeof o);
    float *losses = malloc((size_t)steps * sizeof(float));
    double sum = 0;
    for (long i = 0; i < steps; i++) {
        losses[i] = m_step(&p, &o, x + i * m_BATCH * m_IN, t + i * m_BATCH * m_TARGETS);
        sum += losses[i];
    }
    check_vec("steps.loss", losses, get("steps.loss", steps), (size_t)steps);
    check_final("m_step", &p, &o, &init);
    checked++;
    if (steps_of(&o) != (uint64_t)get("final.steps", 1)[0]) {
        char what[96];
        snprintf(what, sizeof what, "m_optim.steps is %llu, torch's step is %.0f", (unsigned long long)steps_of(&o),
                 (double)get("final.steps", 1)[0]);
        fail(what);
    }

    /* 4. m_train == steps x m_step */
    m_params q = init;
    m_optim oq;
    memset(&oq, 0, sizeof oq);
    float mean = m_train(&q, &oq, x, t, (size_t)(steps * m_BATCH));
#ifdef TRAIN_VS_TORCH
    check_final("m_train", &q, &oq, &init);
#else
    check_bits("m_train vs m_step: parameters", &q, &p, sizeof p);
    for (size_t i = 0; i < M->n_state; i++) {
        char what[MAX_KEY + 32];
        snprintf(what, sizeof what, "m_train vs m_step: %s", M->state[i].name);
        check_bits(what, state(&oq, &M->state[i]), state(&o, &M->state[i]),
                   tensor_size(&M->state[i]) * sizeof(float));
    }
#endif
    checked++;
    if (steps_of(&oq) != steps_of(&o))
        fail("m_train vs m_step: steps differ");
    checked++;
    double want_mean = sum / (double)steps;
    if (!(fabs(mean - want_mean) <= MEAN_TOL * fabs(want_mean))) {
        char what[128];
        snprintf(what, sizeof what, "m_train mean loss %.9g, mean of the step losses %.9g", (double)mean, want_mean);
        fail(what);
    }

    printf("matrix: %ld values checked (%d frozen tensors, %zu state tensors), %ld mismatches, max rel err %.2g at %s\n",
           checked, nfrozen, M->n_state, mismatches, max_err, max_where);
    free(x);
    free(t);
    free(losses);
    for (int i = 0; i < nentries; i++)
        free(entries[i].v);
    free(entries);
    return mismatches ? 1 : 0;
}
