/* train.c: the training loop and what surrounds it.
 *
 * Each epoch shuffles the samples (Fisher-Yates, from a PRNG stream that
 * depends only on the seed and the epoch's number), copies them into
 * scratch rows allocated once, and calls the model's train kernel on the
 * whole batches; the last d->n % batch shuffled samples are left out, like
 * PyTorch's drop_last.  Nothing in the epoch loop allocates.
 *
 * After each epoch: the loss and the weights must be finite.  If not, the
 * epoch is replayed step by step from a snapshot taken at its start (the
 * kernels are deterministic) to name the first step that diverged, and
 * training stops without saving, so the last good checkpoint stays.  Then
 * the validation loss, a --log row, the epoch line, the progress line on a
 * terminal, and every save_every epochs a checkpoint.
 *
 * Data parallel (r->par, mpi/mpi.c): a global step is `size` batches, one per
 * rank; every rank shuffles all samples alike, copies its own batches, and
 * computes their gradient (NAME_grad) with the loss behind it in one buffer;
 * the buffers are summed in rank order, divided by size (the mean of the
 * ranks' means, as DistributedDataParallel averages), and applied by every
 * rank (NAME_apply), so all ranks hold the same bits.  Losses over a data
 * set share its batches round robin and sum them per batch, so they are the
 * one-process values bit for bit.
 *
 * Output: `epoch %3u  loss %.6g` (and `  val %.6g`), epoch epoch0 being the
 * loss before training: all epochs up to epoch0 + 10, then every `every`-th,
 * a power of ten keeping about 20 lines, and always the last; with quiet only
 * the last.  When stdout is a terminal, a progress line (epoch, samples per
 * second, time left) is redrawn in place at most ten times a second and
 * erased at the end; it is the only thing that reads the clock.
 */
#define _POSIX_C_SOURCE 200809L
#include "trainer.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng_next(rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

rng netrt_rng_stream(uint64_t seed, uint64_t stream) {
    rng r = {seed ^ (stream * 0xd1b54a32d192ed03u)};
    r.s = rng_next(&r);
    return r;
}

/* [0, 1), 53 random bits. */
static double rng_uniform(rng *r) { return (double)(rng_next(r) >> 11) * 0x1p-53; }

size_t netrt_rng_below(rng *r, size_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;
    do
        v = rng_next(r);
    while (v >= limit);
    return (size_t)(v % n);
}

float netrt_rng_normal(rng *r) {
    double u1 = 1.0 - rng_uniform(r); /* (0, 1]: log(u1) is finite */
    double u2 = rng_uniform(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void netrt_fail(const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fputs("trainer: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int netrt_state_new(const netrt_model *m, state *s) {
    s->p = calloc(1, m->params_size);
    s->o = calloc(1, m->optim_size ? m->optim_size : 1); /* all zero: the start state */
    s->g = calloc(1, m->params_size);
    if (!s->p || !s->o || !s->g) {
        netrt_fail("out of memory");
        return -1;
    }
    return 0;
}

void netrt_state_free(state *s) {
    free(s->p);
    free(s->o);
    free(s->g);
}

double netrt_mean_loss(const netrt_model *m, state *s, const float *x, const float *t, size_t n) {
    size_t steps = n / m->batch, i;
    double sum = 0;
    for (i = 0; i < steps; i++)
        sum += m->grad(s->p, x + i * m->batch * m->n_in, t + i * m->batch * m->n_target, s->g);
    return sum / (double)steps;
}

int netrt_zero_gradient(const netrt_model *m, state *s, const netrt_data *d) {
    size_t b, i, nf = m->params_size / sizeof(float);
    for (b = 0; b < d->n / m->batch; b++) {
        m->grad(s->p, d->x + b * m->batch * m->n_in, d->t + b * m->batch * m->n_target, s->g);
        for (i = 0; i < nf; i++)
            if (((const float *)s->g)[i] != 0)
                return 0;
    }
    return 1;
}

/* The loss over a data set, and one step: alone, or data parallel (mpi.c). */
static double mean_loss(const netrt_model *m, state *s, netrt_par *par, const float *x, const float *t,
                        size_t n) {
    return par ? par->mean_loss(par, m, s, x, t, n) : netrt_mean_loss(m, s, x, t, n);
}

static float one_step(const netrt_model *m, state *s, netrt_par *par, const float *x, const float *t) {
    return par ? par->step(par, m, s, x, t) : m->step(s->p, s->o, x, t);
}

static int digits(uint64_t v) {
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

static int finite_params(const netrt_model *m, const void *p) {
    size_t i;
    for (i = 0; i < m->params_size / sizeof(float); i++)
        if (!isfinite(((const float *)p)[i]))
            return 0;
    return 1;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The progress line: erased by "\r\033[K" before anything else is printed. */
typedef struct progress {
    int on, shown;
    double start, drawn;
} progress;

static void progress_clear(progress *pg) {
    if (pg->shown) {
        fputs("\r\033[K", stdout);
        pg->shown = 0;
    }
}

static void progress_draw(progress *pg, uint64_t done, uint64_t total, uint64_t epoch, uint64_t last_epoch,
                          size_t samples) {
    double t = now(), el = t - pg->start, left;
    unsigned long long s;
    /* The first epoch always draws, so a short run shows the line once. */
    if (!pg->on || done >= total || (done > 1 && t - pg->drawn < 0.1))
        return;
    pg->drawn = t;
    left = done ? el / (double)done * (double)(total - done) : 0;
    s = (unsigned long long)(left + 0.5);
    fputs("\r\033[K", stdout);
    printf("epoch %llu/%llu  %.0f samples/s  ETA %llu:%02llu:%02llu", (unsigned long long)epoch,
           (unsigned long long)last_epoch, el > 0 ? (double)samples * (double)done / el : 0.0, s / 3600,
           s / 60 % 60, s % 60);
    fflush(stdout);
    pg->shown = 1;
}

static void print_epoch(progress *pg, uint64_t e, uint64_t last, double loss, const double *val) {
    int w = digits(last) < 3 ? 3 : digits(last);
    progress_clear(pg);
    printf("epoch %*llu  loss %.6g", w, (unsigned long long)e, loss);
    if (val)
        printf("  val %.6g", *val);
    putchar('\n');
}

/* Appends a row to the log and flushes it; the first failure's errno is
 * kept in *err for the report at the end (training goes on: the weights
 * are worth more than the log). */
static void log_row(FILE *log, int *err, uint64_t e, uint64_t step, double loss, const double *val) {
    if (!log)
        return;
    fprintf(log, "%llu,%llu,%.9g,", (unsigned long long)e, (unsigned long long)step, loss);
    if (val)
        fprintf(log, "%.9g", *val);
    fputc('\n', log);
    if (fflush(log) != 0 && !*err)
        *err = errno ? errno : EIO;
}

/* Adds an epoch to the --plot file *pl (if any) and rewrites it; on failure
 * reports, then -1, or under MPI (par) 0 with plotting stopped: the other
 * ranks cannot stop with rank 0 here. */
static int plot_row(netrt_plot **pl, double loss, double val, progress *pg, const netrt_par *par) {
    char err[1024];
    if (!*pl || netrt_plot_add(*pl, loss, val, err, sizeof err) == 0)
        return 0;
    progress_clear(pg);
    fflush(stdout);
    fprintf(stderr, "%s\n", err);
    if (par) {
        *pl = NULL;
        return 0;
    }
    return -1;
}

/* Replays epoch e step by step from the snapshot in (p0, o0) to find the
 * first step whose loss, or whose updated weights, are not finite; reports
 * it.  `base` is the number of steps before the epoch. */
static void report_divergence(const netrt_model *m, state *s, const void *p0, const void *o0, const float *xs,
                              const float *ts, size_t steps, uint64_t e, uint64_t base, const char *save,
                              netrt_par *par) {
    size_t k, rows = m->batch * (par ? (size_t)par->size : 1);
    const char *what = "the loss is not finite";
    memcpy(s->p, p0, m->params_size);
    memcpy(s->o, o0, m->optim_size);
    for (k = 0; k < steps; k++) {
        float loss = one_step(m, s, par, xs + k * rows * m->n_in, ts + k * rows * m->n_target);
        if (!isfinite(loss))
            break;
        if (!finite_params(m, s->p)) {
            what = "the weights are not finite";
            break;
        }
    }
    if (k == steps) /* cannot happen with deterministic kernels; say what we know */
        k = steps - 1;
    netrt_fail("%s at epoch %llu, step %llu (step %zu of the epoch): training diverged (a smaller "
               "learning rate may help)%s%s%s",
               what, (unsigned long long)e, (unsigned long long)(base + k + 1), k + 1, save ? "; " : "",
               save ? save : "", save ? " keeps the last good checkpoint" : "");
}

/* The rate for epoch e (1-based) of `last` epochs in all, as torch's
 * StepLR(step_size = every, gamma) and CosineAnnealingLR(T_max = last,
 * eta_min = min), stepped once per epoch, give it. */
static double lr_at(const lr_plan *pl, double lr0, uint64_t e, uint64_t last) {
    const double pi = 3.14159265358979323846;
    switch (pl->kind) {
    case LR_STEP:
        return lr0 * pow(pl->gamma, (double)((e - 1) / pl->every));
    case LR_COSINE:
        return pl->min + (lr0 - pl->min) * (1 + cos(pi * (double)(e - 1) / (double)last)) / 2;
    default:
        return lr0;
    }
}

int netrt_train(const netrt_model *m, state *s, train_run *r) {
    const netrt_data *d = r->d;
    netrt_par *par = r->par;
    size_t rows = m->batch * (par ? (size_t)par->size : 1); /* a global step's samples */
    size_t n = d->n, used = n - n % rows, per_epoch = used / rows, i;
    float *xs = malloc(n * m->n_in * sizeof(float));
    float *ts = malloc(n * m->n_target * sizeof(float));
    size_t *perm = malloc(n * sizeof(size_t));
    void *p0 = malloc(m->params_size), *o0 = malloc(m->optim_size ? m->optim_size : 1);
    uint64_t e, every = 1, last = r->epoch0 + r->epochs;
    double vloss = 0, *val = r->val ? &vloss : NULL;
    progress pg = {0};
    int status = 0;
    if (!xs || !ts || !perm || !p0 || !o0) {
        netrt_fail("out of memory");
        status = -1;
    }
    if (par ? par->agree(par, status != 0) : status) {
        status = -1;
        goto done;
    }
    pg.on = !r->quiet && isatty(STDOUT_FILENO) && !par; /* mpirun gives rank 0 a terminal even when piped */
    if (pg.on)
        pg.start = pg.drawn = now();
    while (every * 20 < r->epochs)
        every *= 10;
    r->first = r->last = mean_loss(m, s, par, d->x, d->t, n);
    if (val)
        vloss = mean_loss(m, s, par, r->val->x, r->val->t, r->val->n);
    if (!r->quiet)
        print_epoch(&pg, r->epoch0, last, r->first, val);
    log_row(r->log, &r->log_errno, r->epoch0, r->steps0, r->first, val);
    if (plot_row(&r->plot, r->first, vloss, &pg, par)) {
        status = -1;
        goto done;
    }
    for (e = r->epoch0 + 1; e <= last; e++) {
        rng g = netrt_rng_stream(r->seed, STREAM_EPOCH + e);
        uint64_t base = r->steps0 + (e - r->epoch0 - 1) * per_epoch;
        for (i = 0; i < n; i++)
            perm[i] = i;
        for (i = n - 1; i > 0; i--) {
            size_t j = netrt_rng_below(&g, i + 1), tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        for (i = 0; i < used; i++) {
            if (par && i / m->batch % (size_t)par->size != (size_t)par->rank)
                continue; /* another rank's batch */
            memcpy(xs + i * m->n_in, d->x + perm[i] * m->n_in, m->n_in * sizeof(float));
            memcpy(ts + i * m->n_target, d->t + perm[i] * m->n_target, m->n_target * sizeof(float));
        }
        if (m->set_lr && (r->lr.lr > 0 || r->lr.kind != LR_CONSTANT)) {
            float lr = (float)lr_at(&r->lr, r->lr.lr > 0 ? r->lr.lr : m->lr, e, last);
            m->set_lr(s->o, lr > 0 ? lr : FLT_TRUE_MIN); /* 0 would mean the compiled rate */
        }
        /* The snapshot a divergence is replayed from: taken after the
         * epoch's rate is set, so the replay steps as the epoch did. */
        memcpy(p0, s->p, m->params_size);
        memcpy(o0, s->o, m->optim_size);
        if (par) {
            double total = 0;
            for (i = 0; i < per_epoch; i++)
                total += par->step(par, m, s, xs + i * rows * m->n_in, ts + i * rows * m->n_target);
            r->last = per_epoch ? (float)(total / (double)per_epoch) : 0; /* as NAME_train returns it */
        } else {
            r->last = m->train(s->p, s->o, xs, ts, used);
        }
        if (!isfinite(r->last) || !finite_params(m, s->p)) {
            if (!r->quiet || !isfinite(r->last))
                print_epoch(&pg, e, last, r->last, NULL);
            report_divergence(m, s, p0, o0, xs, ts, per_epoch, e, base,
                              r->save && access(r->save, F_OK) == 0 ? r->save : NULL, par);
            status = -1;
            goto done;
        }
        if (val)
            vloss = mean_loss(m, s, par, r->val->x, r->val->t, r->val->n);
        log_row(r->log, &r->log_errno, e, base + per_epoch, r->last, val);
        if (plot_row(&r->plot, r->last, vloss, &pg, par)) {
            status = -1;
            goto done;
        }
        if (e == last || (!r->quiet && (e - r->epoch0 <= 10 || e % every == 0)))
            print_epoch(&pg, e, last, r->last, val);
        if (r->save && (e == last || (r->save_every && e % r->save_every == 0))) {
            char err[1024];
            netrt_meta meta = {0};
            meta.epoch = e;
            meta.seed = r->seed;
            meta.has_seed = 1;
            if (netrt_save(m, s->p, s->o, &meta, r->save, err, sizeof err)) {
                progress_clear(&pg);
                fflush(stdout);
                fprintf(stderr, "%s\n", err);
                status = -1;
                if (!par)
                    goto done;
            }
        }
        /* rank 0 saves: the others learn whether it could */
        if (par && (e == last || (r->save_every && e % r->save_every == 0)) && par->agree(par, status != 0)) {
            status = -1;
            goto done;
        }
        progress_draw(&pg, e - r->epoch0, r->epochs, e, last, used);
    }
done:
    progress_clear(&pg);
    free(xs);
    free(ts);
    free(perm);
    free(p0);
    free(o0);
    return status;
}
