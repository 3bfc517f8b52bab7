/* netrt.c: the trainer's main: command line, training loop and demo.
 *
 * A generated trainer is main() { return netrt_main(&NAME_model, ...); }: the
 * model describes itself (sizes, entry points) and this file does the rest.
 * With --data FILE it trains on CSV data for some epochs, shuffling the
 * samples before each epoch with a PRNG seeded by --seed, and prints the
 * loss per epoch.  Without --data it replays the PyTorch tutorial the seed
 * model comes from (one random sample, the output and loss, one SGD step,
 * the loss after), then trains on a synthetic task whose targets come from
 * a fixed "teacher" (the same model with other weights) so the loss visibly
 * falls.  Everything is deterministic given --seed; nothing here depends on
 * the clock.  Exit status: 0 success, 1 bad data or failed run, 2 bad usage.
 *
 * Output, on stdout: a heading, then `epoch %3u  loss %.6g` lines, epoch 0
 * being the loss before training; the demo ends with `loss fell from A to B
 * (Rx lower)`, A and B the mean loss over the task before and after.  With
 * --quiet only the last epoch line (and the demo's verdict).  Errors are one
 * line on stderr: `trainer: error: ...`, or `FILE:LINE:COL: error: ...` for
 * data.
 */
#include "netrt.h"

#include "data.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_EPOCHS_DATA 100
#define DEFAULT_EPOCHS_DEMO 100
#define MAX_EPOCHS 1000000000u

/* The synthetic task: a fixed data set, whatever --seed says, so that runs
 * with different seeds train on the same problem. */
#define TASK_SAMPLES 256
#define TEACHER_SEED 0x7eac4e5u /* the teacher's weights: m->init(teacher, this) */
#define TEACHER_SCALE 3.0f      /* then scaled, so that targets are not tiny */
/* (On a hand-written 5-3-1 ReLU model, tests/runtime/Inputs/seed_model.c,
 * these make the loss fall tenfold in 100 epochs for 197 of seeds 1..200;
 * the other 3 settle in a local minimum with a dead hidden unit.) */
#define TASK_DATA_SEED 0xda7au  /* the task's inputs */

/* PRNG streams derived from one seed, so that e.g. the shuffle does not
 * repeat the numbers that drew the demo's sample. */
enum { STREAM_SAMPLE = 1, STREAM_SHUFFLE = 2, STREAM_TASK = 3 };

/* ---- PRNG: splitmix64, small and good enough for shuffling and data ---- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static rng rng_stream(uint64_t seed, uint64_t stream)
{
    rng r = {seed ^ (stream * 0xd1b54a32d192ed03u)};
    r.s = rng_next(&r);
    return r;
}

/* Uniform in [0, 1), 53 random bits. */
static double rng_uniform(rng *r) { return (double)(rng_next(r) >> 11) * 0x1p-53; }

/* Uniform in [0, n), n >= 1, without modulo bias. */
static size_t rng_below(rng *r, size_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;
    do
        v = rng_next(r);
    while (v >= limit);
    return (size_t)(v % n);
}

/* Standard normal (like torch.randn) by Box-Muller; one draw per call. */
static float rng_normal(rng *r)
{
    double u1 = 1.0 - rng_uniform(r); /* (0, 1]: log(u1) is finite */
    double u2 = rng_uniform(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* ---- command line ---- */

typedef struct options {
    const char *data;  /* NULL: the demo */
    uint64_t epochs;   /* 0: the default */
    uint64_t seed;
    int quiet;
} options;

static void fail(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("trainer: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* s as it may be echoed in a message: at most 40 bytes, non-printable bytes
 * and quotes escaped. */
static const char *shown(const char *s, char *buf, size_t cap)
{
    size_t n = 0, i;
    for (i = 0; s[i] && n + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 40) {
            n += (size_t)snprintf(buf + n, cap - n, "...");
            break;
        }
        if (c < 0x20 || c >= 0x7f || c == '\'' || c == '\\')
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", c);
        else
            buf[n++] = (char)c;
    }
    buf[n] = '\0';
    return buf;
}

/* A decimal integer in [lo, hi], digits only: no sign, no junk, no overflow. */
static int parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *v)
{
    uint64_t x = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (d > 9 || x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    if (x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

static void usage(const netrt_model *m, const char *argv0)
{
    printf("usage: %s [--data FILE] [--epochs N] [--seed S] [--quiet]\n\n", argv0);
    printf("Trains the model '%s' (compiled by netc %s from %s): %zu inputs, %zu\n"
           "outputs, %zu parameters, batch %zu, learning rate %g.\n\n",
           m->name, m->version, m->source, m->n_in, m->n_out,
           m->params_size / sizeof(float), m->batch, (double)m->lr);
    printf("  --data FILE  train on FILE, CSV: one sample a row, %zu inputs then %zu\n"
           "               targets; an optional header row, '#' comment lines\n"
           "  --epochs N   passes over the data (default %d; %d without --data)\n"
           "  --seed S     seeds the initial weights and the shuffling (default 1)\n"
           "  --quiet      print only the final result\n"
           "  --help       print this help and exit\n\n",
           m->n_in, m->n_out, DEFAULT_EPOCHS_DATA, DEFAULT_EPOCHS_DEMO);
    printf("Without --data: the PyTorch tutorial's step (a random sample, the output,\n"
           "the loss, one optimizer step, the loss after), then training on a synthetic\n"
           "task whose targets come from a fixed teacher network.\n");
}

/* Returns 0 to run, 1 when --help was printed, -1 after a usage error. */
static int parse_args(const netrt_model *m, int argc, char **argv, options *o)
{
    static const char *const names[] = {"data", "epochs", "seed", "quiet", "help"};
    char b1[200], b2[200];
    int i;
    memset(o, 0, sizeof *o);
    o->seed = 1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *eq, *val = NULL;
        size_t len, k;
        if (strcmp(a, "-h") == 0)
            a = "--help";
        if (a[0] == '-' && a[1] && a[1] != '-') {
            fail("unknown option '%s' (try --help)", shown(a, b1, sizeof b1));
            return -1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fail("unexpected argument '%s' (try --help)", shown(a, b1, sizeof b1));
            return -1;
        }
        eq = strchr(a + 2, '=');
        len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        for (k = 0; k < sizeof names / sizeof *names; k++)
            if (strlen(names[k]) == len && strncmp(a + 2, names[k], len) == 0)
                break;
        if (k == sizeof names / sizeof *names) {
            fail("unknown option '%s' (try --help)", shown(a, b1, sizeof b1));
            return -1;
        }
        if (k >= 3) { /* flags */
            if (eq) {
                fail("option --%s takes no value", names[k]);
                return -1;
            }
            if (k == 4) {
                usage(m, argv[0] ? argv[0] : "trainer");
                return 1;
            }
            o->quiet = 1;
            continue;
        }
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        if (!val || !*val) {
            fail("option --%s needs a value", names[k]);
            return -1;
        }
        if (k == 0)
            o->data = val;
        else if (k == 1 && parse_uint(val, 1, MAX_EPOCHS, &o->epochs)) {
            fail("option --epochs: expected a whole number from 1 to %u, got '%s'",
                 MAX_EPOCHS, shown(val, b2, sizeof b2));
            return -1;
        } else if (k == 2 && parse_uint(val, 0, UINT64_MAX, &o->seed)) {
            fail("option --seed: expected a whole number from 0 to %llu, got '%s'",
                 (unsigned long long)UINT64_MAX, shown(val, b2, sizeof b2));
            return -1;
        }
    }
    return 0;
}

/* The descriptor comes from generated code, but a broken one must not crash
 * us: check what the arithmetic below relies on. */
static int check_model(const netrt_model *m)
{
    size_t row = m->n_in + m->n_out;
    if (!m->name || !m->source || !m->version || !m->n_in || !m->n_out || !m->batch ||
        !m->params_size || m->params_size % sizeof(float) || row < m->n_in ||
        m->batch > SIZE_MAX / sizeof(float) / row || !m->init || !m->forward || !m->grad ||
        !m->step || !m->train) {
        fail("the model descriptor is invalid");
        return -1;
    }
    return 0;
}

/* ---- training ---- */

/* The model's state: weights, optimizer state, a gradient scratch buffer. */
typedef struct state {
    void *p, *o, *g;
} state;

static int state_new(const netrt_model *m, state *s)
{
    s->p = calloc(1, m->params_size);
    s->o = calloc(1, m->optim_size ? m->optim_size : 1); /* all zero: the start state */
    s->g = calloc(1, m->params_size);
    if (!s->p || !s->o || !s->g) {
        fail("out of memory");
        return -1;
    }
    return 0;
}

static void state_free(state *s)
{
    free(s->p);
    free(s->o);
    free(s->g);
}

/* The mean loss over the first n - n % batch samples, in order, without
 * changing the weights: grad's gradient goes to the scratch buffer. */
static double mean_loss(const netrt_model *m, state *s, const float *x, const float *t, size_t n)
{
    size_t steps = n / m->batch, i;
    double sum = 0;
    for (i = 0; i < steps; i++)
        sum += m->grad(s->p, x + i * m->batch * m->n_in, t + i * m->batch * m->n_out, s->g);
    return sum / (double)steps;
}

/* Whether the gradient is zero on every batch of d: no step moves p. */
static int zero_gradient(const netrt_model *m, state *s, const netrt_data *d)
{
    size_t b, i, nf = m->params_size / sizeof(float);
    for (b = 0; b < d->n / m->batch; b++) {
        m->grad(s->p, d->x + b * m->batch * m->n_in, d->t + b * m->batch * m->n_out, s->g);
        for (i = 0; i < nf; i++)
            if (((const float *)s->g)[i] != 0)
                return 0;
    }
    return 1;
}

static int digits(uint64_t v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

static void print_epoch(uint64_t e, uint64_t epochs, double loss)
{
    int w = digits(epochs) < 3 ? 3 : digits(epochs);
    printf("epoch %*llu  loss %.6g\n", w, (unsigned long long)e, loss);
}

/* Trains on d (d->n >= batch) for `epochs` epochs.  Each epoch shuffles the
 * samples (Fisher-Yates) into scratch rows allocated once, then calls
 * m->train on the whole batches; the last d->n % batch samples of the
 * shuffled order are left out, like PyTorch's drop_last.  Prints the loss
 * before training (epoch 0) and per epoch: all up to 10, then every
 * `every`-th, a power of ten keeping about 20 lines, and always the last;
 * with quiet only the last.  Returns 0 with the last epoch's loss in *last,
 * or -1 after reporting. */
static int train(const netrt_model *m, state *s, const netrt_data *d, uint64_t epochs,
                 uint64_t seed, int quiet, double *first, double *last)
{
    size_t n = d->n, used = n - n % m->batch, i;
    float *xs = malloc(n * m->n_in * sizeof(float));
    float *ts = malloc(n * m->n_out * sizeof(float));
    size_t *perm = malloc(n * sizeof(size_t));
    rng r = rng_stream(seed, STREAM_SHUFFLE);
    uint64_t e, every = 1;
    int status = 0;
    if (!xs || !ts || !perm) {
        fail("out of memory");
        status = -1;
        goto done;
    }
    while (every * 20 < epochs)
        every *= 10;
    *first = *last = mean_loss(m, s, d->x, d->t, n);
    if (!quiet)
        print_epoch(0, epochs, *first);
    for (e = 1; e <= epochs; e++) {
        for (i = 0; i < n; i++)
            perm[i] = i;
        for (i = n - 1; i > 0; i--) {
            size_t j = rng_below(&r, i + 1), tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        for (i = 0; i < used; i++) {
            memcpy(xs + i * m->n_in, d->x + perm[i] * m->n_in, m->n_in * sizeof(float));
            memcpy(ts + i * m->n_out, d->t + perm[i] * m->n_out, m->n_out * sizeof(float));
        }
        *last = m->train(s->p, s->o, xs, ts, used);
        if (!isfinite(*last)) {
            print_epoch(e, epochs, *last);
            fail("the loss is not finite at epoch %llu: training diverged "
                 "(a smaller learning rate may help)", (unsigned long long)e);
            status = -1;
            goto done;
        }
        if (e == epochs || (!quiet && (e <= 10 || e % every == 0)))
            print_epoch(e, epochs, *last);
    }
done:
    free(xs);
    free(ts);
    free(perm);
    return status;
}

static int run_data(const netrt_model *m, const options *o)
{
    netrt_data d;
    state s = {0};
    uint64_t epochs = o->epochs ? o->epochs : DEFAULT_EPOCHS_DATA;
    double first, last;
    int status = 1;
    if (netrt_data_read(o->data, m->n_in, m->n_out, &d))
        return 1;
    if (d.n < m->batch) {
        fflush(stdout);
        fprintf(stderr, "%s: error: %zu sample%s, fewer than one batch of %zu\n",
                o->data, d.n, d.n == 1 ? "" : "s", m->batch);
        goto done;
    }
    if (state_new(m, &s))
        goto done;
    m->init(s.p, o->seed);
    if (zero_gradient(m, &s, &d))
        fprintf(stderr, "trainer: warning: the weights from seed %llu give a zero gradient on "
                "every sample (a dead network), so training cannot change them; try another "
                "--seed\n", (unsigned long long)o->seed);
    if (!o->quiet) {
        printf("%s: training on %s: %zu samples, batch %zu, %llu epochs, seed %llu\n", m->name,
               o->data, d.n, m->batch, (unsigned long long)epochs, (unsigned long long)o->seed);
        if (d.n % m->batch)
            printf("(each epoch leaves out its last %zu shuffled sample%s: a batch needs %zu)\n",
                   d.n % m->batch, d.n % m->batch == 1 ? "" : "s", m->batch);
    }
    if (train(m, &s, &d, epochs, o->seed, o->quiet, &first, &last) == 0)
        status = 0;
done:
    state_free(&s);
    netrt_data_free(&d);
    return status;
}

/* ---- the demo ---- */

static void print_row(const char *label, const float *v, size_t n)
{
    size_t i;
    printf("  %-7s", label);
    for (i = 0; i < n && i < 8; i++)
        printf(" %9.6f", (double)v[i]);
    printf(n > 8 ? " ...\n" : "\n");
}

/* The largest fraction of samples at which one output takes its minimum
 * over the data set: near 1 when a ReLU output is dead for most inputs. */
static double stuck_fraction(const netrt_data *d, size_t n_out)
{
    double worst = 0;
    size_t j, i;
    for (j = 0; j < n_out; j++) {
        float lo = d->t[j];
        size_t at = 0;
        for (i = 1; i < d->n; i++)
            if (d->t[i * n_out + j] < lo)
                lo = d->t[i * n_out + j];
        for (i = 0; i < d->n; i++)
            at += d->t[i * n_out + j] == lo;
        if ((double)at / (double)d->n > worst)
            worst = (double)at / (double)d->n;
    }
    return worst;
}

/* The tutorial: output and loss on one random sample, one step, loss after.
 * The sample is repeated to fill a batch, which leaves the mean loss and its
 * gradient those of the one sample. */
static void tutorial(const netrt_model *m, state *s, float *xb, float *tb, float *y, rng *r)
{
    size_t i;
    double before, after;
    for (i = 0; i < m->n_in; i++)
        xb[i] = rng_normal(r);
    for (i = 0; i < m->n_out; i++)
        tb[i] = rng_normal(r);
    for (i = 1; i < m->batch; i++) {
        memcpy(xb + i * m->n_in, xb, m->n_in * sizeof(float));
        memcpy(tb + i * m->n_out, tb, m->n_out * sizeof(float));
    }
    m->forward(s->p, xb, y);
    printf("the tutorial's step, on one random sample:\n");
    print_row("input", xb, m->n_in);
    print_row("target", tb, m->n_out);
    print_row("output", y, m->n_out);
    before = m->step(s->p, s->o, xb, tb);
    after = m->grad(s->p, xb, tb, s->g);
    printf("  loss    %.6g\n", before);
    printf("  after one step (lr %g): loss %.6g\n", (double)m->lr, after);
    for (i = 0; i < m->params_size / sizeof(float); i++)
        if (((const float *)s->g)[i] != 0)
            return;
    printf("  (the gradient is zero on this sample, so the step changed nothing)\n");
}

/* Fills d (d->n allocated rows) with the synthetic task: standard normal
 * inputs, targets from the teacher.  The teacher is m->init's weights for
 * TEACHER_SEED scaled by TEACHER_SCALE, so targets are not tiny; but a ReLU
 * output may be dead for most inputs, which makes a trivial task, so the
 * first of TEACHER_SEED, TEACHER_SEED + 1, ... whose outputs sit at their
 * minimum for at most a quarter of the samples is taken (the best of 16 if
 * none is).  All fixed: the task does not depend on --seed. */
static void make_task(const netrt_model *m, state *teacher, netrt_data *d)
{
    size_t nf = m->params_size / sizeof(float), i;
    uint64_t k, best = 0;
    double stuck, best_stuck = 2;
    rng r = rng_stream(TASK_DATA_SEED, STREAM_TASK);
    for (i = 0; i < d->n * m->n_in; i++)
        d->x[i] = rng_normal(&r);
    for (k = 0; k < 16 + 1; k++) {
        m->init(teacher->p, TEACHER_SEED + (k < 16 ? k : best));
        for (i = 0; i < nf; i++)
            ((float *)teacher->p)[i] *= TEACHER_SCALE;
        for (i = 0; i < d->n; i++)
            m->forward(teacher->p, d->x + i * m->n_in, d->t + i * m->n_out);
        if (k == 16 || (stuck = stuck_fraction(d, m->n_out)) <= 0.25)
            break;
        if (stuck < best_stuck) {
            best_stuck = stuck;
            best = k;
        }
    }
}

/* The student's initial weights: m->init's for seed, unless they make a
 * dead network (zero gradient on every sample, so no step can move it);
 * then those of the first of seed + 1, ..., seed + 99 that does not.
 * Returns the seed used. */
static uint64_t pick_student(const netrt_model *m, state *s, const netrt_data *d, uint64_t seed)
{
    uint64_t k;
    for (k = 0; k < 100; k++) {
        m->init(s->p, seed + k);
        if (!zero_gradient(m, s, d))
            return seed + k;
    }
    m->init(s->p, seed);
    return seed;
}

static int run_demo(const netrt_model *m, const options *o)
{
    uint64_t epochs = o->epochs ? o->epochs : DEFAULT_EPOCHS_DEMO;
    size_t n = (TASK_SAMPLES + m->batch - 1) / m->batch * m->batch;
    netrt_data d = {0};
    state s = {0}, teacher = {0};
    float *xb = malloc(m->batch * m->n_in * sizeof(float));
    float *tb = malloc(m->batch * m->n_out * sizeof(float));
    float *y = malloc(m->n_out * sizeof(float));
    rng r = rng_stream(o->seed, STREAM_SAMPLE);
    double first, last;
    uint64_t student;
    int status = 1;
    if (n > SIZE_MAX / sizeof(float) / (m->n_in + m->n_out)) {
        fail("the model's batch is too large for the demo");
        goto done;
    }
    d.n = n;
    d.x = malloc(n * m->n_in * sizeof(float));
    d.t = malloc(n * m->n_out * sizeof(float));
    if (!xb || !tb || !y || !d.x || !d.t) {
        fail("out of memory");
        goto done;
    }
    if (state_new(m, &s) || state_new(m, &teacher))
        goto done;

    m->init(s.p, o->seed);
    if (!o->quiet) {
        printf("%s (%s, netc %s), seed %llu\n", m->name, m->source, m->version,
               (unsigned long long)o->seed);
        tutorial(m, &s, xb, tb, y, &r);
    }

    if (!o->quiet)
        printf("synthetic task: %zu random inputs, targets from a fixed teacher network "
               "(the same model, other weights)\n", n);
    make_task(m, &teacher, &d);
    student = pick_student(m, &s, &d, o->seed);
    if (student != o->seed && !o->quiet)
        printf("the weights from seed %llu give a zero gradient on every sample (a dead "
               "network); the student starts from seed %llu instead\n",
               (unsigned long long)o->seed, (unsigned long long)student);
    memset(s.o, 0, m->optim_size);
    if (train(m, &s, &d, epochs, o->seed, o->quiet, &first, &last))
        goto done;
    last = mean_loss(m, &s, d.x, d.t, n);
    if (last < first && first / last < 1e6)
        printf("loss fell from %.6g to %.6g (%.1fx lower)\n", first, last, first / last);
    else if (last < first)
        printf("loss fell from %.6g to %.6g (more than a millionfold lower)\n", first, last);
    else
        printf("loss did not fall: from %.6g to %.6g\n", first, last);
    status = 0;
done:
    free(xb);
    free(tb);
    free(y);
    netrt_data_free(&d);
    state_free(&s);
    state_free(&teacher);
    return status;
}

int netrt_main(const netrt_model *m, int argc, char **argv)
{
    options o;
    int status, r;
    if (check_model(m))
        return 1;
    if ((r = parse_args(m, argc, argv, &o)) < 0)
        return 2;
    status = r > 0 ? 0 : o.data ? run_data(m, &o) : run_demo(m, &o);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fail("cannot write the output");
        status = 1;
    }
    return status;
}
