/* netrt.c: the trainer's main: the command line, and training on data.
 *
 * A generated trainer is main() { return netrt_main(&NAME_model, ...); }: the
 * model describes itself (sizes, entry points) and the runtime does the rest.
 * With --data FILE it trains on CSV or .npy data for some epochs (train.c),
 * optionally from a checkpoint (--load), saving one (--save, --save-every),
 * with a validation set (--val, --val-split) and a CSV log (--log).  Without
 * --data it runs the tutorial demo (demo.c).  Everything is deterministic
 * given the seeds; nothing but the terminal's progress line reads the clock.
 * Exit status: 0 success, 1 bad data or a failed run, 2 bad usage.  SIGXFSZ
 * is ignored, so a write past `ulimit -f` fails (EFBIG) and is reported.
 *
 * Under mpirun with the MPI library (mpi/mpi.c: netrt_mpi_main), every rank runs
 * this with a netrt_par: every rank reads the data, rank 0 alone checks and
 * writes the outputs and loads the checkpoint, which it then broadcasts
 * with the weights, and the ranks agree on success after each phase.
 *
 * Output, on stdout: a heading, then `epoch %3u  loss %.6g` lines (see
 * train.c).  Errors are one line on stderr: `trainer: error: ...`, or
 * `FILE:LINE:COL: error: ...` / `FILE: error: ...` for data and checkpoints.
 */
#define _POSIX_C_SOURCE 200809L
#include "trainer.h"

#include "checkpoint.h"
#include "data.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_EPOCHS_DATA 100
#define DEFAULT_EPOCHS_DEMO 100
#define MAX_EPOCHS 1000000000u

typedef struct options {
    const char *data; /* NULL: the demo */
    const char *val, *load, *save, *log, *plot;
    double val_split; /* 0: none */
    uint64_t epochs;  /* 0: the default */
    uint64_t seed, init_seed, save_every;
    int seed_given, init_seed_given, quiet, force;
    lr_plan lr; /* --lr, --lr-schedule */
} options;

/* s as it may be echoed in a message: at most 40 bytes, non-printable bytes
 * and quotes escaped. */
static const char *shown(const char *s, char *buf, size_t cap) {
    return netrt_escape(s, strlen(s), 40, buf, cap);
}

static void usage(const netrt_model *m, const char *argv0) {
    printf("usage: %s [--data FILE] [--epochs N] [--seed S] [--init-seed S] [--load FILE]\n"
           "       [--save FILE] [--save-every N] [--val FILE | --val-split F] [--log FILE]"
           "\n       [--plot FILE.svg] [--lr R] [--lr-schedule S] [--force] [--quiet]\n\n",
           argv0);
    printf("Trains the model '%s' (compiled by netc %s from %s): %zu inputs, %zu\n"
           "outputs, %zu parameters, batch %zu, learning rate %g.\n\n",
           m->name, m->version, m->source, m->n_in, m->n_out, m->params_size / sizeof(float), m->batch,
           (double)m->lr);
    printf("  --data FILE     train on FILE: CSV (one sample a row, %zu inputs then %zu\n"
           "                  targets; an optional header row, '#' comment lines), or a\n"
           "                  .npy file of float32 ('<f4'), shape (rows, %zu)\n"
           "  --epochs N      epochs to run (default %d; %d without --data); after --load\n"
           "                  the numbering continues from the checkpoint's epoch\n"
           "  --seed S        seeds the shuffling (default 1, or the checkpoint's), and the\n"
           "                  initial weights unless --init-seed is given\n"
           "  --init-seed S   seeds the initial weights (default: --seed)\n"
           "  --load FILE     start from a checkpoint (safetensors) instead of --init-seed\n"
           "  --force         ... even one another model saved (its name or source hash\n"
           "                  differs), when its tensors' names and shapes match\n"
           "  --save FILE     write a checkpoint (safetensors) at the end\n"
           "  --save-every N  ... and after every epoch whose number is a multiple of N\n"
           "  --val FILE      report the loss on FILE (same format) each epoch\n"
           "  --val-split F   hold out the last fraction F (0 < F < 1) of the data instead\n"
           "  --log FILE      append epoch,step,train_loss,val_loss rows to a CSV file\n"
           "  --plot FILE.svg the loss per epoch as an SVG picture, rewritten after every\n"
           "                  epoch (open it in a browser and reload)\n"
           "  --lr R          learning rate (default: the model's, %g)\n"
           "  --lr-schedule S per epoch: step:EVERY:GAMMA (times GAMMA every EVERY\n"
           "                  epochs, as StepLR) or cosine[:MIN] (toward MIN, as\n"
           "                  CosineAnnealingLR with T_max = all the epochs)\n"
           "  --quiet         print only the final result\n"
           "  --help          print this help and exit\n\n",
           m->n_in, m->n_target, m->n_in + m->n_target, DEFAULT_EPOCHS_DATA, DEFAULT_EPOCHS_DEMO,
           (double)m->lr);
    printf("Without --data: the PyTorch tutorial's step (a random sample, the output,\n"
           "the loss, one optimizer step, the loss after), then training on a synthetic\n"
           "task whose targets come from a fixed teacher network.\n");
}

/* Options with a value, then flags (from O_FORCE on). */
enum {
    O_DATA,
    O_EPOCHS,
    O_SEED,
    O_INIT_SEED,
    O_LOAD,
    O_SAVE,
    O_SAVE_EVERY,
    O_VAL,
    O_VAL_SPLIT,
    O_LOG,
    O_PLOT,
    O_LR,
    O_LR_SCHEDULE,
    O_FORCE,
    O_QUIET,
    O_HELP,
    O_COUNT
};
static const char *const names[O_COUNT] = {"data",        "epochs", "seed",      "init-seed", "load", "save",
                                           "save-every",  "val",    "val-split", "log",       "plot", "lr",
                                           "lr-schedule", "force",  "quiet",     "help"};

/* A positive finite number, all of s. */
static int parse_positive(const char *s, double *out) {
    char *end;
    if (!strchr("0123456789.", s[0]))
        return -1;
    *out = strtod(s, &end);
    return *end || !(*out > 0) || !isfinite(*out) || *out > 1e30 ? -1 : 0;
}

/* step:EVERY:GAMMA, or cosine, or cosine:MIN. */
static int parse_schedule(const char *s, lr_plan *pl) {
    if (strncmp(s, "step:", 5) == 0) {
        const char *colon = strchr(s + 5, ':');
        char every[32];
        if (!colon || (size_t)(colon - s - 5) >= sizeof every)
            return -1;
        memcpy(every, s + 5, (size_t)(colon - s - 5));
        every[colon - s - 5] = 0;
        pl->kind = LR_STEP;
        return netrt_parse_uint(every, 1, MAX_EPOCHS, &pl->every) || parse_positive(colon + 1, &pl->gamma);
    }
    if (strcmp(s, "cosine") == 0) {
        pl->kind = LR_COSINE;
        pl->min = 0;
        return 0;
    }
    if (strncmp(s, "cosine:", 7) == 0) {
        pl->kind = LR_COSINE;
        return strcmp(s + 7, "0") == 0 ? (pl->min = 0, 0) : parse_positive(s + 7, &pl->min);
    }
    return -1;
}

/* Returns 0 to run, 1 when --help was printed, -1 after a usage error. */
static int parse_args(const netrt_model *m, int argc, char **argv, options *o) {
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
            netrt_fail("unknown option '%s' (try --help)", shown(a, b1, sizeof b1));
            return -1;
        }
        if (strncmp(a, "--", 2) != 0) {
            netrt_fail("unexpected argument '%s' (try --help)", shown(a, b1, sizeof b1));
            return -1;
        }
        eq = strchr(a + 2, '=');
        len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        for (k = 0; k < O_COUNT; k++)
            if (strlen(names[k]) == len && strncmp(a + 2, names[k], len) == 0)
                break;
        if (k == O_COUNT) {
            netrt_fail("unknown option '%s' (try --help)", shown(a, b1, sizeof b1));
            return -1;
        }
        if (k >= O_FORCE) { /* flags */
            if (eq) {
                netrt_fail("option --%s takes no value", names[k]);
                return -1;
            }
            if (k == O_HELP) {
                usage(m, argv[0] ? argv[0] : "trainer");
                return 1;
            }
            *(k == O_FORCE ? &o->force : &o->quiet) = 1;
            continue;
        }
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        if (!val || !*val) {
            netrt_fail("option --%s needs a value", names[k]);
            return -1;
        }
        switch (k) {
        case O_DATA:
            o->data = val;
            break;
        case O_VAL:
            o->val = val;
            break;
        case O_LOAD:
            o->load = val;
            break;
        case O_SAVE:
            o->save = val;
            break;
        case O_LOG:
            o->log = val;
            break;
        case O_PLOT:
            o->plot = val;
            break;
        case O_LR:
            if (parse_positive(val, &o->lr.lr)) {
                netrt_fail("option --lr: expected a positive number, got '%s'", shown(val, b2, sizeof b2));
                return -1;
            }
            break;
        case O_LR_SCHEDULE:
            if (parse_schedule(val, &o->lr)) {
                netrt_fail("option --lr-schedule: expected step:EVERY:GAMMA, cosine or cosine:MIN, got '%s'",
                           shown(val, b2, sizeof b2));
                return -1;
            }
            break;
        case O_EPOCHS:
        case O_SAVE_EVERY:
            if (netrt_parse_uint(val, 1, MAX_EPOCHS, k == O_EPOCHS ? &o->epochs : &o->save_every)) {
                netrt_fail("option --%s: expected a whole number from 1 to %u, got '%s'", names[k],
                           MAX_EPOCHS, shown(val, b2, sizeof b2));
                return -1;
            }
            break;
        case O_SEED:
        case O_INIT_SEED:
            if (netrt_parse_uint(val, 0, UINT64_MAX, k == O_SEED ? &o->seed : &o->init_seed)) {
                netrt_fail("option --%s: expected a whole number from 0 to %llu, got '%s'", names[k],
                           (unsigned long long)UINT64_MAX, shown(val, b2, sizeof b2));
                return -1;
            }
            *(k == O_SEED ? &o->seed_given : &o->init_seed_given) = 1;
            break;
        default: { /* O_VAL_SPLIT */
            char *end;
            o->val_split = strtod(val, &end);
            if (*end || !strchr("0123456789.", val[0]) || !(o->val_split > 0) || !(o->val_split < 1)) {
                netrt_fail("option --val-split: expected a fraction between 0 and 1, got '%s'",
                           shown(val, b2, sizeof b2));
                return -1;
            }
        }
        }
    }
    if (!o->data &&
        (o->val || o->val_split > 0 || o->load || o->save || o->save_every || o->log || o->plot ||
         o->init_seed_given || o->lr.lr > 0 || o->lr.kind != LR_CONSTANT)) {
        netrt_fail("options --val, --val-split, --load, --save, --save-every, --log, --plot, --init-seed, "
                   "--lr and --lr-schedule need --data");
        return -1;
    }
    if (o->val && o->val_split > 0) {
        netrt_fail("give --val or --val-split, not both");
        return -1;
    }
    if (o->save_every && !o->save) {
        netrt_fail("option --save-every needs --save");
        return -1;
    }
    if (o->force && !o->load) {
        netrt_fail("option --force needs --load");
        return -1;
    }
    if (o->load && o->init_seed_given) {
        netrt_fail("--init-seed and --load both set the initial weights; give one");
        return -1;
    }
    return 0;
}

/* The descriptor comes from generated code, but a broken one must not crash
 * us: check what the arithmetic relies on. */
static int check_model(const netrt_model *m) {
    size_t row = m->n_in + m->n_target;
    char msg[256];
    if (!m->name || !m->source || !m->version || !m->n_in || !m->n_out || !m->n_target ||
        (m->n_target != m->n_out && m->n_target != 1) || !m->batch || !m->params_size ||
        m->params_size % sizeof(float) || row < m->n_in || m->batch > SIZE_MAX / sizeof(float) / row ||
        !m->init || !m->forward || !m->grad || !m->step || !m->train) {
        netrt_fail("the model descriptor is invalid");
        return -1;
    }
    if (netrt_ckpt_check_model(m, msg, sizeof msg)) {
        netrt_fail("%s", msg);
        return -1;
    }
    return 0;
}

static int enough(const netrt_model *m, const char *what, const netrt_data *d) {
    if (d->n >= m->batch)
        return 0;
    fflush(stdout);
    fprintf(stderr, "%s: error: %zu sample%s, fewer than one batch of %zu\n", what, d->n,
            d->n == 1 ? "" : "s", m->batch);
    return -1;
}

/* Class indices (n_target 1 for n_out > 1 outputs) must be whole numbers in
 * [0, n_out): the kernels use them as indices. */
static int check_classes(const netrt_model *m, const char *path, const netrt_data *d) {
    size_t i;
    if (m->n_target == m->n_out)
        return 0;
    for (i = 0; i < d->n; i++) {
        float c = d->t[i];
        if (!(c >= 0 && c < (float)m->n_out && c == floorf(c))) {
            fflush(stdout);
            fprintf(stderr,
                    "%s: error: sample %zu: target %g is not a class index: expected "
                    "a whole number from 0 to %zu\n",
                    path, i + 1, (double)c, m->n_out - 1);
            return -1;
        }
    }
    return 0;
}

static int run_data(const netrt_model *m, options *o, netrt_par *par) {
    netrt_data d = {0}, val = {0};
    state s = {0};
    train_run r = {0};
    netrt_meta meta = {0};
    FILE *log = NULL;
    netrt_plot plot = {0};
    uint64_t epochs = o->epochs ? o->epochs : DEFAULT_EPOCHS_DATA;
    uint64_t init_seed = o->init_seed_given ? o->init_seed : o->seed;
    char err[1024];
    int status = 1, agreed = 0, root = !par || par->rank == 0; /* root: checks, loads, writes */
    if (root && netrt_check_files(o->data, o->val, o->load, o->save, o->log, o->plot))
        goto done;
    if (netrt_data_read(o->data, m->n_in, m->n_target, &d))
        goto done;
    if (o->val && netrt_data_read(o->val, m->n_in, m->n_target, &val))
        goto done;
    if (check_classes(m, o->data, &d) || (o->val && check_classes(m, o->val, &val)))
        goto done;
    if (o->val_split > 0 && netrt_data_split(&d, o->val_split, m->n_in, m->n_target, &val)) {
        netrt_fail("--val-split %g leaves no training or no validation samples of %zu", o->val_split, d.n);
        goto done;
    }
    if (enough(m, o->data, &d) ||
        ((o->val || o->val_split > 0) && enough(m, o->val ? o->val : "the --val-split part", &val)))
        goto done;
    if (netrt_state_new(m, &s))
        goto done;
    if (o->load && root) {
        if (netrt_load_with(m, s.p, s.o, &meta, o->load, o->force ? NETRT_LOAD_ANY_MODEL : 0, err,
                            sizeof err)) {
            fflush(stdout);
            fprintf(stderr, "%s\n", err);
            goto done;
        }
        if (!o->seed_given && meta.has_seed)
            o->seed = meta.seed;
        if (meta.epoch > UINT64_MAX - epochs) {
            netrt_fail("the checkpoint's epoch %llu is too large to continue from",
                       (unsigned long long)meta.epoch);
            goto done;
        }
        if (m->optim_size >= sizeof r.steps0)
            memcpy(&r.steps0, s.o, sizeof r.steps0);
    } else if (!o->load) {
        m->init(s.p, init_seed);
        if (root && netrt_zero_gradient(m, &s, &d))
            fprintf(stderr,
                    "trainer: warning: the weights from seed %llu give a zero gradient "
                    "on every sample (a dead network), so training cannot change them; try "
                    "another --%s\n",
                    (unsigned long long)init_seed, o->init_seed_given ? "init-seed" : "seed");
    }
    if (o->log && root) {
        if (!(log = fopen(o->log, "a"))) {
            fflush(stdout);
            fprintf(stderr, "%s: error: cannot open the log: %s\n", o->log, strerror(errno));
            goto done;
        }
        if (ftell(log) == 0)
            fputs("epoch,step,train_loss,val_loss\n", log);
    }
    if (o->plot && root) {
        if (netrt_plot_init(&plot, o->plot, m->name, meta.epoch, epochs, val.n > 0)) {
            netrt_fail("out of memory");
            goto done;
        }
        r.plot = &plot;
    }
    if (par) { /* every rank set up: now rank 0's state to all */
        agreed = 1;
        if (par->agree(par, 0) || par->sync(par, m, &s, &meta, &r.steps0, &o->seed, &d, &val))
            goto done;
    }
    if (!o->quiet) {
        printf("%s: training on %s: %zu samples, batch %zu, %llu epochs, seed %llu", m->name, o->data, d.n,
               m->batch, (unsigned long long)epochs, (unsigned long long)o->seed);
        if (!o->load && init_seed != o->seed)
            printf(", weights from seed %llu", (unsigned long long)init_seed);
        putchar('\n');
        if (o->load)
            printf("resumed from %s: epoch %llu, step %llu%s\n", o->load, (unsigned long long)meta.epoch,
                   (unsigned long long)r.steps0,
                   meta.has_optim ? "" : " (no optimizer state in the file: starting it afresh)");
        if (val.n)
            printf("validation: %zu samples from %s\n", val.n,
                   o->val ? o->val : "the end of the data (--val-split)");
        if (par)
            printf("data parallel: %d ranks, global batch %zu (%zu per rank)\n", par->size,
                   m->batch * (size_t)par->size, m->batch);
        if (d.n % (m->batch * (par ? (size_t)par->size : 1))) {
            size_t rows = m->batch * (par ? (size_t)par->size : 1);
            printf("(each epoch leaves out its last %zu shuffled sample%s: a batch needs %zu)\n", d.n % rows,
                   d.n % rows == 1 ? "" : "s", rows);
        }
    }
    r.d = &d;
    r.val = val.n ? &val : NULL;
    r.epoch0 = meta.epoch;
    r.epochs = epochs;
    r.seed = o->seed;
    r.quiet = o->quiet;
    r.log = log;
    r.save = root ? o->save : NULL;
    r.save_every = o->save_every;
    r.lr = o->lr;
    r.par = par;
    if (netrt_train(m, &s, &r) == 0 && (!par || par->same(par, m, &s, o->quiet) == 0))
        status = 0;
done:
    if (par && !agreed) /* failed in the setup: tell the others, who wait to agree on it */
        par->agree(par, 1);
    if (log) {
        int bad = ferror(log), e = r.log_errno;
        errno = 0;
        if ((fclose(log) != 0 || bad || e) && (status == 0 || e)) {
            e = e ? e : errno ? errno : EIO;
            fflush(stdout);
            fprintf(stderr, "%s: error: cannot write the log: %s\n", o->log, strerror(e));
            status = 1;
        }
    }
    netrt_plot_free(&plot);
    netrt_state_free(&s);
    netrt_data_free(&d);
    netrt_data_free(&val);
    return status;
}

int netrt_main(const netrt_model *desc, int argc, char **argv) {
    return netrt_main_par(desc, argc, argv, NULL);
}

int netrt_main_par(const netrt_model *desc, int argc, char **argv, netrt_par *par) {
    options o;
    int status, r;
    /* Descriptors from before n_target existed leave it 0: targets are
     * then one per output. */
    netrt_model copy = *desc;
    const netrt_model *m = &copy;
    if (!copy.n_target)
        copy.n_target = copy.n_out;
    if (check_model(m))
        return 1;
    if (par && !m->apply) {
        netrt_fail("the model's descriptor has no apply kernel (an older netc compiled it): rebuild it");
        return 1;
    }
    /* Under a file-size limit (ulimit -f), a write past it raises SIGXFSZ,
     * whose default kills the process silently, leaving a temporary file;
     * ignored, the write fails with EFBIG and is reported like any other
     * (the old checkpoint intact, the temporary removed). */
    signal(SIGXFSZ, SIG_IGN);
    r = parse_args(m, argc, argv, &o);
    if (par && par->agree(par, r < 0))
        return r < 0 ? 2 : 1;
    if (r < 0)
        return 2;
    status = r > 0 ? 0
        : o.data   ? run_data(m, &o, par)
                   : netrt_demo(m, o.epochs ? o.epochs : DEFAULT_EPOCHS_DEMO, o.seed, o.quiet);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        netrt_fail("cannot write the output");
        status = 1;
    }
    return status;
}
