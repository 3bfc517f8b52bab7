/* mpi/mpi.c: data-parallel training through MPI (libnetrt_mpi.a).
 *
 * `netc model.yaml -o trainer --mpi` links this library before libnetrt.a
 * and a main() that calls netrt_mpi_main; `mpirun -np N ./trainer ...` then
 * runs the trainer on N ranks.  Only this file uses MPI, and it sits in a
 * folder of its own: the plain trainer, libnetrt.a and the runtime's own
 * sources do not change.  netrt_main_par (netrt.c) and train.c do the work
 * through the netrt_par callbacks below (trainer.h):
 *
 *   agree      MPI_Allreduce (max) of each rank's failure flag after a
 *              phase; on a failure, every rank's first error line is
 *              gathered to rank 0, which prints the first failing rank's
 *              (ranks other than 0 write their stderr to a temporary file
 *              and their stdout to /dev/null: rank 0 alone prints).
 *   step       this rank's NAME_grad, the sum below, / N, NAME_apply.
 *   mean_loss  a loss over a data set, batches shared round robin.
 *   sync       rank 0's weights, state and seed broadcast; the data compared.
 *   same       at the end, every rank's weights compared with rank 0's.
 *
 * The sum is a fixed-order reduction over one contiguous buffer: it is cut
 * into N chunks, MPI_Alltoall sends chunk c of every rank to rank c, which
 * adds the N pieces in rank order (((g0 + g1) + g2) ...) and, for a step,
 * divides by N, and MPI_Allgather (in place) gives every rank every sum.
 * A step's buffer is allocated padded to N equal chunks, so the collectives
 * read and write it directly; at N = 1 nothing is summed or divided.  The
 * library only moves bytes; the arithmetic and its order are ours, so the
 * result does not depend on the algorithm Open MPI picks by message size,
 * and every rank has the same bits.  Each rank sends and receives
 * (N - 1) / N of the buffer twice, as a ring allreduce does.
 *
 * Errors of MPI calls return (MPI_ERRORS_RETURN) and stop the job with a
 * message naming the call and MPI_Abort.  A rank that dies (SIGKILL) is
 * mpirun's to report; it stops the others.  Checkpoints are written by
 * rank 0 alone, crash-safely (checkpoint.c), so the file on disk is always
 * the last complete one.
 */
#define _POSIX_C_SOURCE 200809L
#include "trainer.h"

#include <mpi.h>

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MSG = 512 }; /* bytes of a failing rank's message passed to rank 0 */

typedef struct impl {
    MPI_Comm comm;
    FILE *capture; /* ranks > 0: where stderr goes */
    int err_fd;    /* ranks > 0: the real stderr */
    float *pad, *parts;
    float *grad; /* step's buffer */
    size_t cap;  /* floats in pad and parts */
} impl;

static impl *of(netrt_par *par) { return par->impl; }

/* An MPI call failed: say which, on the real stderr, and stop the job. */
static void check(netrt_par *par, int rc, const char *what) {
    char text[MPI_MAX_ERROR_STRING], line[MPI_MAX_ERROR_STRING + 256];
    int len = 0, n;
    if (rc == MPI_SUCCESS)
        return;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "error %d", rc);
    fflush(stdout);
    n = snprintf(line, sizeof line, "trainer: error: rank %d of %d: %s failed: %s (did another rank stop?)\n",
                 par->rank, par->size, what, text);
    if (n > 0 && write(par->rank ? of(par)->err_fd : STDERR_FILENO, line, (size_t)n) < 0)
        n = 0;
    MPI_Abort(of(par)->comm, 1);
    exit(1);
}

/* This rank's first captured error line since the last phase, without the
 * "trainer: error: " prefix rank 0 adds again; "" if none. */
static void first_line(netrt_par *par, char *msg) {
    impl *im = of(par);
    ssize_t n;
    char *nl;
    fflush(stderr);
    msg[0] = 0;
    n = pread(fileno(im->capture), msg, MSG - 1, 0);
    msg[n > 0 ? n : 0] = 0;
    if ((nl = strchr(msg, '\n')))
        *nl = 0;
    if (strncmp(msg, "trainer: error: ", 16) == 0)
        memmove(msg, msg + 16, strlen(msg + 16) + 1);
}

static void reset_capture(netrt_par *par) {
    impl *im = of(par);
    if (!im->capture)
        return;
    fflush(stderr);
    if (ftruncate(fileno(im->capture), 0) == 0)
        lseek(STDERR_FILENO, 0, SEEK_SET); /* the same open file: its offset too */
}

static int agree(netrt_par *par, int status) {
    impl *im = of(par);
    int flag = status != 0, any = 0, r;
    char mine[MSG + 1], *all = NULL;
    check(par, MPI_Allreduce(&flag, &any, 1, MPI_INT, MPI_MAX, im->comm), "MPI_Allreduce");
    if (!any) {
        reset_capture(par);
        return 0;
    }
    memset(mine, 0, sizeof mine);
    mine[0] = (char)flag;
    if (flag && par->rank)
        first_line(par, mine + 1);
    if (par->rank == 0 && !(all = malloc((size_t)par->size * sizeof mine)))
        check(par, MPI_ERR_NO_MEM, "malloc");
    check(par, MPI_Gather(mine, (int)sizeof mine, MPI_CHAR, all, (int)sizeof mine, MPI_CHAR, 0, im->comm),
          "MPI_Gather");
    if (par->rank == 0 && !flag) /* rank 0 has said its own failure; else the first failing rank's */
        for (r = 1; r < par->size; r++) {
            const char *m = all + (size_t)r * sizeof mine;
            if (!m[0])
                continue;
            fflush(stdout);
            fprintf(stderr, "trainer: error: rank %d of %d: %s\n", r, par->size,
                    m[1] ? m + 1 : "failed (no message)");
            break;
        }
    free(all);
    reset_capture(par);
    return 1;
}

/* Floats a chunk of an n-float buffer holds: the buffer is cut into size of them. */
static size_t chunk_of(const netrt_par *par, size_t n) {
    return (n + (size_t)par->size - 1) / (size_t)par->size;
}

/* out[i] = ((in[i] + in[chunk + i]) + in[2 chunk + i]) ... over size >= 2
 * pieces, divided by size with mean: a pass per piece after the second, the
 * division in the last (a power of two multiplies: x / 2^k and x * 2^-k are
 * roundings of the same real number, so the bits are the same). */
static void add_pieces(float *out, const float *in, size_t chunk, size_t size, int mean) {
    const float *acc = in, *last = in + (size - 1) * chunk; /* acc: pieces 0 .. r - 1 summed */
    float inv = 1.0f / (float)size;
    size_t i, r;
    for (r = 1; r + 1 < size; r++, acc = out)
        for (i = 0; i < chunk; i++)
            out[i] = acc[i] + in[r * chunk + i];
    if (!mean)
        for (i = 0; i < chunk; i++)
            out[i] = acc[i] + last[i];
    else if ((size & (size - 1)) == 0)
        for (i = 0; i < chunk; i++)
            out[i] = (acc[i] + last[i]) * inv;
    else
        for (i = 0; i < chunk; i++)
            out[i] = (acc[i] + last[i]) / (float)size;
}

/* Sums buf[0 .. n) over the ranks in rank order, in place; with mean, each
 * sum is then divided by the number of ranks (once, by the rank that added
 * it, before the sums are gathered).  buf has room for room floats: with
 * room >= size chunks the collectives work on buf itself, otherwise through
 * a padded copy. */
static void sum(netrt_par *par, float *buf, size_t n, size_t room, int mean) {
    impl *im = of(par);
    size_t size = (size_t)par->size, chunk = chunk_of(par, n);
    float *io = buf;
    if (size == 1)
        return; /* x / 1 is x */
    if (chunk * size > im->cap) {
        free(im->pad);
        free(im->parts);
        im->cap = chunk * size;
        im->pad = malloc(im->cap * sizeof(float));
        im->parts = malloc(im->cap * sizeof(float));
        if (!im->pad || !im->parts)
            check(par, MPI_ERR_NO_MEM, "malloc");
    }
    if (room < chunk * size) {
        io = im->pad;
        memcpy(io, buf, n * sizeof(float));
        memset(io + n, 0, (chunk * size - n) * sizeof(float));
    }
    check(par, MPI_Alltoall(io, (int)chunk, MPI_FLOAT, im->parts, (int)chunk, MPI_FLOAT, im->comm),
          "MPI_Alltoall");
    /* This rank's chunk, where the in-place gather expects it: rank 0's
     * piece, + rank 1's, ... (each element's sum in rank order), then / N;
     * a pass per piece, so the compiler vectorizes the loops. */
    add_pieces(io + (size_t)par->rank * chunk, im->parts, chunk, size, mean);
    check(par, MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, io, (int)chunk, MPI_FLOAT, im->comm),
          "MPI_Allgather");
    if (io != buf)
        memcpy(buf, io, n * sizeof(float));
}

static void bcast(netrt_par *par, void *buf, size_t n) {
    size_t at, k;
    for (at = 0; at < n; at += k) {
        k = n - at < (1u << 30) ? n - at : (1u << 30);
        check(par, MPI_Bcast((char *)buf + at, (int)k, MPI_BYTE, 0, of(par)->comm), "MPI_Bcast");
    }
}

/* FNV-1a 64 of a data set's samples, to see that every rank read the same. */
static uint64_t data_hash(const netrt_model *m, const netrt_data *d) {
    uint64_t h = 1469598103934665603u ^ d->n;
    const unsigned char *b[2] = {(const unsigned char *)d->x, (const unsigned char *)d->t};
    size_t len[2] = {d->n * m->n_in * sizeof(float), d->n * m->n_target * sizeof(float)}, i, k;
    for (k = 0; k < 2; k++)
        for (i = 0; i < len[k]; i++)
            h = (h ^ b[k][i]) * 1099511628211u;
    return h;
}

/* netrt_par.sync: a data-parallel run after its setup: rank 0's weights, optimizer state,
 * checkpoint metadata and seed on every rank, and the same data on every
 * rank.  Returns the agreed status. */
static int sync(netrt_par *par, const netrt_model *m, state *s, netrt_meta *meta, uint64_t *steps0,
                uint64_t *seed, const netrt_data *d, const netrt_data *val) {
    uint64_t mine[4] = {d->n, data_hash(m, d), val->n, val->n ? data_hash(m, val) : 0}, root[4];
    uint64_t v[5] = {meta->epoch, (uint64_t)meta->has_optim, *steps0, *seed, 0};
    int bad = 0;
    bcast(par, s->p, m->params_size);
    bcast(par, s->o, m->optim_size);
    bcast(par, v, sizeof v);
    meta->epoch = v[0], meta->has_optim = (int)v[1], *steps0 = v[2], *seed = v[3];
    memcpy(root, mine, sizeof root);
    bcast(par, root, sizeof root);
    if (memcmp(root, mine, sizeof root)) {
        netrt_fail(
            "the data differ from rank 0's: %llu training and %llu validation samples here, %llu and %llu "
            "there, or other values (every rank must read the same files)",
            (unsigned long long)mine[0], (unsigned long long)mine[2], (unsigned long long)root[0],
            (unsigned long long)root[2]);
        bad = 1;
    }
    return agree(par, bad);
}

/* netrt_par.same: after a data-parallel run, every rank holds rank 0's weights and
 * optimizer state, bit for bit (FNV-1a 64 of both structs compared). */
static int same(netrt_par *par, const netrt_model *m, const state *s, int quiet) {
    uint64_t h[2] = {1469598103934665603u, 0};
    const unsigned char *b[2] = {s->p, s->o};
    size_t len[2] = {m->params_size, m->optim_size}, i, k;
    for (k = 0; k < 2; k++)
        for (i = 0; i < len[k]; i++)
            h[0] = (h[0] ^ b[k][i]) * 1099511628211u;
    h[1] = h[0];
    bcast(par, &h[1], sizeof h[1]);
    if (h[0] != h[1])
        netrt_fail("rank %d's weights differ from rank 0's after training (fnv1a-64 %016llx, rank 0 %016llx)",
                   par->rank, (unsigned long long)h[0], (unsigned long long)h[1]);
    if (agree(par, h[0] != h[1]))
        return -1;
    if (!quiet)
        printf("data parallel: the weights and optimizer state are the same bits on all %d ranks\n",
               par->size);
    return 0;
}

/* netrt_par.mean_loss: netrt_mean_loss with the batches shared round robin
 * among the ranks and the per-batch losses summed, a block at a time: the
 * one-process bits (each batch's loss has one rank's value, the others' 0). */
static double mean_loss(netrt_par *par, const netrt_model *m, state *s, const float *x, const float *t,
                        size_t n) {
    enum { BLOCK = 1024 };
    float block[BLOCK];
    size_t steps = n / m->batch, i, j, k;
    double total = 0;
    for (i = 0; i < steps; i += k) {
        k = steps - i < BLOCK ? steps - i : BLOCK;
        for (j = 0; j < k; j++)
            block[j] = (i + j) % (size_t)par->size != (size_t)par->rank
                ? 0.0f
                : m->grad(s->p, x + (i + j) * m->batch * m->n_in, t + (i + j) * m->batch * m->n_target, s->g);
        sum(par, block, k, BLOCK, 0);
        for (j = 0; j < k; j++)
            total += block[j];
    }
    return total / (double)steps;
}

/* netrt_par.step: one global step on the size batches at x and t: this
 * rank's gradient and loss in one buffer (a params struct, then a float,
 * padded to size equal chunks), summed over the ranks, divided by their
 * number, applied. */
static float step(netrt_par *par, const netrt_model *m, state *s, const float *x, const float *t) {
    impl *im = of(par);
    size_t nf = m->params_size / sizeof(float), room = chunk_of(par, nf + 1) * (size_t)par->size;
    size_t at = (size_t)par->rank * m->batch;
    float *buf = im->grad;
    if (!buf && !(buf = im->grad = calloc(room, sizeof(float)))) /* frozen entries and padding stay 0 */
        check(par, MPI_ERR_NO_MEM, "calloc");
    buf[nf] = m->grad(s->p, x + at * m->n_in, t + at * m->n_target, buf);
    sum(par, buf, nf + 1, room, 1);
    m->apply(s->p, s->o, buf);
    return buf[nf];
}

int netrt_mpi_main(const netrt_model *m, int argc, char **argv) {
    impl im = {0};
    netrt_par par = {0};
    int status, null;
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fputs("trainer: error: MPI_Init failed\n", stderr);
        return 1;
    }
    im.comm = MPI_COMM_WORLD;
    MPI_Comm_set_errhandler(im.comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(im.comm, &par.rank);
    MPI_Comm_size(im.comm, &par.size);
    par.agree = agree;
    par.step = step;
    par.mean_loss = mean_loss;
    par.sync = sync;
    par.same = same;
    par.impl = &im;
    if (par.rank) { /* rank 0 alone prints: stdout to /dev/null, stderr kept for agree */
        im.err_fd = dup(STDERR_FILENO);
        im.capture = tmpfile();
        null = open("/dev/null", O_WRONLY);
        if (im.err_fd < 0 || !im.capture || null < 0 || dup2(null, STDOUT_FILENO) < 0 ||
            dup2(fileno(im.capture), STDERR_FILENO) < 0) {
            fprintf(stderr, "trainer: error: rank %d: cannot redirect its output: %s\n", par.rank,
                    strerror(errno));
            MPI_Abort(im.comm, 1);
            return 1;
        }
        close(null);
    }
    status = netrt_main_par(m, argc, argv, &par);
    if (agree(&par, status) && !status)
        status = 1; /* another rank failed at the end */
    fflush(stdout);
    fflush(stderr);
    MPI_Finalize();
    free(im.pad);
    free(im.parts);
    free(im.grad);
    if (im.capture)
        fclose(im.capture);
    return status;
}
