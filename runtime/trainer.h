/* trainer.h: what the trainer's files share, internal to the runtime (not
 * installed): the PRNG, the model state, the training loop, messages.
 * Every function with external linkage is named netrt_..., so that an app
 * linking libnetrt.a keeps all other names (train, fail, ...) for itself
 * (tests/namespace).
 *
 * netrt.c holds the command line and netrt_main, train.c the training loop
 * (shuffling, validation, logging, progress, periodic checkpoints, the
 * divergence check), demo.c the tutorial demo and its synthetic task,
 * paths.c the checks of the run's files.
 */
#ifndef NETRT_TRAINER_H
#define NETRT_TRAINER_H

#include "data.h"
#include "netrt.h"
#include "plot.h"

#include <stdint.h>
#include <stdio.h>

/* PRNG streams derived from one seed, so that e.g. the shuffle does not
 * repeat the numbers that drew the demo's sample.  Epoch e's shuffle uses
 * stream STREAM_EPOCH + e, so any epoch's order follows from the seed and
 * its number alone: a resumed run shuffles as the run it continues would. */
enum { STREAM_SAMPLE = 1, STREAM_SHUFFLE = 2, STREAM_TASK = 3 };
#define STREAM_EPOCH 0x100000000u

/* splitmix64: small and good enough for shuffling and data. */
typedef struct rng {
    uint64_t s;
} rng;

rng netrt_rng_stream(uint64_t seed, uint64_t stream);
size_t netrt_rng_below(rng *r, size_t n); /* [0, n), n >= 1, no modulo bias */
float netrt_rng_normal(rng *r);           /* standard normal, Box-Muller */

/* `trainer: error: ...` on stderr, after flushing stdout. */
void netrt_fail(const char *fmt, ...);

/* The model's state: weights, optimizer state, a gradient scratch buffer. */
typedef struct state {
    void *p, *o, *g;
} state;

int netrt_state_new(const netrt_model *m, state *s);
void netrt_state_free(state *s);

/* The mean loss over the first n - n % batch samples, in order, without
 * changing the weights (the gradient goes to s->g); n >= batch. */
double netrt_mean_loss(const netrt_model *m, state *s, const float *x, const float *t, size_t n);

/* Whether the gradient is zero on every batch of d: no step moves p. */
int netrt_zero_gradient(const netrt_model *m, state *s, const netrt_data *d);

/* One training run's settings and results. */
/* The learning rate of each epoch: --lr and --lr-schedule. */
typedef struct lr_plan {
    double lr; /* the starting rate; 0: the model's compiled one */
    enum { LR_CONSTANT, LR_STEP, LR_COSINE } kind;
    uint64_t every; /* LR_STEP: epochs between decays */
    double gamma;   /* LR_STEP: the factor of each decay */
    double min;     /* LR_COSINE: the rate it anneals toward */
} lr_plan;

typedef struct train_run {
    const netrt_data *d;   /* training data, d->n >= batch */
    const netrt_data *val; /* NULL, or validation data with val->n >= batch */
    uint64_t epoch0;       /* epochs already done (a resumed run); numbering continues */
    uint64_t epochs;       /* epochs to run now */
    uint64_t seed;         /* the shuffling seed */
    uint64_t steps0;       /* optimizer steps already done */
    int quiet;
    FILE *log;             /* NULL, or the --log file (header already written) */
    int log_errno;         /* out: why a write to log first failed; 0 if none did */
    netrt_plot *plot;      /* NULL, or the --plot file, rewritten after every epoch */
    const char *save;      /* NULL, or the checkpoint path */
    uint64_t save_every;   /* 0: save only at the end */
    lr_plan lr;            /* the learning rate of each epoch */
    double first, last;    /* out: loss before training, and the last epoch's */
    struct netrt_par *par; /* NULL, or the data-parallel job (global batch: batch x size) */
} train_run;

/* A data-parallel run's processes (mpi/mpi.c fills it in; NULL everywhere for
 * the plain trainer, which never calls it).  Every rank runs the same
 * program on the same data: each global step is `size` batches, rank r
 * computes the gradient of the r-th, and the gradients are summed.  Every
 * collective below must be called by all ranks in the same order. */
typedef struct netrt_par {
    int rank, size;
    /* The job's status after a phase: 0 if every rank passed 0, else 1 on
     * every rank (rank 0 prints the first failing rank's message, which the
     * other ranks keep from their stderr). */
    int (*agree)(struct netrt_par *par, int status);
    /* One global step on the size batches at x and t (rank r's is the r-th):
     * this rank's gradient, the ranks' summed in a fixed order and divided
     * by their number, applied on every rank; returns the mean loss. */
    float (*step)(struct netrt_par *par, const netrt_model *m, state *s, const float *x, const float *t);
    /* netrt_mean_loss, its batches shared among the ranks: the same bits. */
    double (*mean_loss)(struct netrt_par *par, const netrt_model *m, state *s, const float *x, const float *t,
                        size_t n);
    /* After the setup: rank 0's weights, optimizer state, metadata, step
     * count and seed on every rank, and the same data everywhere.  Returns
     * the agreed status. */
    int (*sync)(struct netrt_par *par, const netrt_model *m, state *s, netrt_meta *meta, uint64_t *steps0,
                uint64_t *seed, const netrt_data *d, const netrt_data *val);
    /* After training: every rank holds rank 0's bits (printed unless quiet).
     * Returns 0, or -1 agreed. */
    int (*same)(struct netrt_par *par, const netrt_model *m, const state *s, int quiet);
    void *impl;
} netrt_par;

/* netrt_main on the ranks of a data-parallel job (par != NULL), or alone. */
int netrt_main_par(const netrt_model *m, int argc, char **argv, netrt_par *par);

/* Trains; returns 0, or -1 after reporting (divergence, a failed save, out
 * of memory).  See train.c for what it prints. */
int netrt_train(const netrt_model *m, state *s, train_run *r);

int netrt_demo(const netrt_model *m, uint64_t epochs, uint64_t seed, int quiet);

/* The run's files before any work (paths.c): no output (save, log, plot) is
 * an input (data, val, load; save may be load) or another output, and save
 * and plot can be written.  Each argument may be NULL.  Returns 0, or -1 after
 * printing one line `PATH: error: ...`. */
int netrt_check_files(const char *data, const char *val, const char *load, const char *save, const char *log,
                      const char *plot);

#endif
