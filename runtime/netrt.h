/* netrt.h: the netc runtime, the small library a generated trainer links.
 *
 * The runtime knows nothing about any one model: the generated code describes
 * itself with one netrt_model (sizes, tensor names, entry points) and hands it
 * to netrt_main(), which runs the trainer's command line: data loading, the
 * training loop (epochs, deterministic shuffling, batches), and the tutorial
 * demo.  Kernels never call the runtime; apps may use the kernels alone.
 */
#ifndef NETRT_H
#define NETRT_H

#include <stddef.h>
#include <stdint.h>

/* One parameter tensor inside the model's params struct (all floats, no
 * padding), in declaration order. */
typedef struct netrt_tensor {
    const char *name; /* PyTorch state_dict name, e.g. "hidden.weight"; optimizer state
                         is "optim.hidden.weight.momentum_buffer": four dotted parts,
                         so it never clashes with a parameter's two */
    size_t offset;    /* first element, in floats from the struct's start */
    size_t rows;      /* weight: out features; bias: length */
    size_t cols;      /* weight: in features; bias: 0 */
} netrt_tensor;

/* What a generated model tells the runtime about itself.  Entry points take
 * the params and optim structs as void pointers. */
typedef struct netrt_model {
    const char *name;    /* the model's name from the YAML */
    const char *source;  /* the YAML file it was compiled from */
    const char *version; /* netc's version */
    size_t n_in;         /* input features per sample */
    size_t n_out;        /* outputs per sample */
    size_t n_target;     /* targets per sample: n_out, or 1 (a class index) for cross_entropy */
    size_t batch;        /* samples per optimizer step */
    size_t params_size;  /* sizeof(NAME_params) */
    size_t optim_size;   /* sizeof(NAME_optim) */
    size_t n_tensors;    /* entries in tensors */
    const netrt_tensor *tensors;
    float lr;                  /* the learning rate the model was compiled with */
    size_t n_state;            /* optimizer state tensors in NAME_optim (momentum, Adam moments) */
    const netrt_tensor *state; /* their names and offsets, in floats from NAME_optim's start */
    void (*init)(void *p, uint64_t seed);
    void (*forward)(const void *p, const float *x, float *y);
    float (*grad)(const void *p, const float *x, const float *t, void *g);
    float (*step)(void *p, void *o, const float *x, const float *t);
    float (*train)(void *p, void *o, const float *x, const float *t, size_t n);
    /* Sets the learning rate of the next steps in the optim struct; 0 goes
     * back to the compiled one. */
    void (*set_lr)(void *o, float lr);
    /* FNV-1a 64 of the YAML source (the generated files' banner shows it);
     * 0: unknown.  With name, what says which model a checkpoint is of. */
    uint64_t hash;
    /* The optimizer step alone, from the gradient g (a params struct):
     * grad then apply is step, bit for bit.  NULL in descriptors from
     * before it existed; the MPI trainer (mpi/mpi.c) needs it. */
    void (*apply)(void *p, void *o, const void *g);
} netrt_model;

/* The trainer's main: parses argv (--data, --epochs, --seed, --load,
 * --save, ... --help), trains, prints; returns the process exit status. */
int netrt_main(const netrt_model *m, int argc, char **argv);

/* netrt_main on every rank of an MPI job (libnetrt_mpi.a, built where CMake
 * finds MPI; `netc model.yaml -o trainer --mpi` links it): data-parallel
 * training, global batch = ranks x batch, gradients summed in rank order,
 * rank 0 alone printing and writing (runtime/README.md, "MPI"). */
int netrt_mpi_main(const netrt_model *m, int argc, char **argv);

/* ---- checkpoints (safetensors files; README "Checkpoints") ----
 *
 * A checkpoint holds the parameters under their PyTorch state_dict names
 * (F32, shape [out, in] or [out]), the optimizer state tensors under their
 * "optim." names, and in the header's __metadata__ the optimizer's step
 * count ("netc.steps"), the trainer's epoch and shuffling seed, a CRC-32
 * of the data ("netc.crc32"), and the model that saved it: its name
 * ("netc.model") and the hash of its source ("netc.source_hash", 16 hex
 * digits, when the descriptor knows it).  A plain state_dict saved from
 * PyTorch loads too; the optimizer then starts afresh. */

/* What the trainer keeps beside the tensors.  Apps may pass NULL. */
typedef struct netrt_meta {
    uint64_t epoch; /* epochs trained so far; 0 when the file does not say */
    uint64_t seed;  /* the trainer's shuffling seed, valid if has_seed */
    int has_seed;
    /* after a load: whether the file held optimizer state (if not, steps
     * and state tensors were reset to zero) */
    int has_optim;
} netrt_meta;

/* Writes the model's parameters p and optimizer state o (NULL: weights only)
 * to path, crash-safely: a temporary file in the same folder, written,
 * fsync'ed, renamed over path, then the folder fsync'ed.  At every instant
 * path holds either the old file or the complete new one.  path must name
 * a regular file or nothing yet: a FIFO, a device, a socket or a folder is
 * refused, never renamed over.  Returns 0, or -1 with one line
 * "PATH: error: ..." in err (the old file, if any, intact, and no
 * temporary file left).  A failed write is reported like any other, a full
 * disk or EFBIG under a file-size limit alike (netrt_main ignores SIGXFSZ;
 * an app that wants the same must ignore it too). */
int netrt_save(const netrt_model *m, const void *p, const void *o, const netrt_meta *meta, const char *path,
               char *err, size_t errlen);

/* Whether netrt_save could write path now, checked before a long run
 * rather than after it: path names a regular file or nothing yet, and a
 * file can be created beside it (one is created and removed).  Returns 0,
 * or -1 with one line "PATH: error: ..." in err. */
int netrt_save_check(const char *path, char *err, size_t errlen);

/* Reads path and checks all of it against the model (header, names, dtypes,
 * shapes, offsets, checksum, finite values) before it writes p and o: on
 * any problem it returns -1 with one line "PATH: error: ..." in err and p
 * and o are untouched.  o may be NULL (weights only); otherwise its steps
 * and state tensors are restored from the file, or zeroed when the file has
 * no optimizer state, and its other bytes are kept.  meta may be NULL. */
int netrt_load(const netrt_model *m, void *p, void *o, netrt_meta *meta, const char *path, char *err,
               size_t errlen);

/* netrt_load refuses a checkpoint that another model saved, even when its
 * tensors' names and shapes match m's: one whose netc.model is not m's
 * name, or whose netc.source_hash is not m's hash (when both are known).
 * The message names both models and the trainer's --force, which passes
 * this flag to load it anyway. */
#define NETRT_LOAD_ANY_MODEL 1u

/* netrt_load with flags (0 or NETRT_LOAD_ANY_MODEL). */
int netrt_load_with(const netrt_model *m, void *p, void *o, netrt_meta *meta, const char *path,
                    unsigned flags, char *err, size_t errlen);

#endif
