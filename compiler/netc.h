/* netc.h: the one internal header of the netc compiler.
 *
 * The pipeline, one file per phase, called in this order from main.c:
 *   parse.c    YAML text   -> Model          (the only user of libyaml)
 *   lower.c    Model       -> IR, forward pass and loss, tensor form
 *   grad.c     IR          -> IR + gradient of the loss (reverse mode, new IR)
 *   optim.c    IR          -> IR + optimizer update of every parameter
 *   simplify.c IR          -> IR folded, deduplicated, dead code removed
 *   carry.c    tensor IR   -> NAME_train's own IR, first-layer z carried
 *                             (--reassociate, plain SGD, batch 1)
 *   apply.c    tensor IR   -> NAME_apply's own IR: the update from a given gradient
 *   scalar.c   tensor IR   -> scalar IR: the fully unrolled schedule
 *   reassoc.c  scalar IR   -> shorter chains, other rounding (--reassociate)
 *   vector.c   scalar IR   -> its SIMD packs
 *   plan.c     scalar IR   -> per kernel: what is computed, and every name
 *   kprog.c    plan        -> per kernel: one linear program (the schedule),
 *                             verified; --emit=kernels prints it
 *   emit_c.c   programs    -> C source and header
 *   emit_llvm.c programs   -> LLVM IR, bitcode, assembly, object, or a JIT run
 *                             (llvm_target.c: targets, passes, the JIT)
 *   report.c   programs    -> memory, FLOPs and schedule (--report, the header's
 *                             figures, --max-ram and --max-flash)
 *   dot.c      IR          -> Graphviz (--emit=dot)
 * ir.c holds the graph itself (builder, hash-consing, printer, verifier) and
 * diag.c the diagnostics and allocation helpers every phase uses.
 *
 * Sections below follow the files that define the prototypes.
 */
#ifndef NETC_H
#define NETC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define NETC_VERSION "0.1.0"

/* ---- limits of the model language (documented in README.md) ---- */
enum {
    LIMIT_NAME = 63,          /* characters in a model or layer name */
    LIMIT_FEATURES = 4096,    /* input features, and outputs of one layer */
    LIMIT_LAYERS = 64,        /* layers in one model */
    LIMIT_BATCH = 1024,       /* samples per optimizer step */
    LIMIT_PARAMS = 2048,      /* parameter scalars, frozen ones too: kernels are fully unrolled */
    LIMIT_UNROLL = 1 << 14,   /* batch x parameters: the unrolled step's size */
    LIMIT_DEPTH = 16,         /* YAML nesting depth */
    LIMIT_FILE = 1 << 20,     /* bytes of YAML input */
    LIMIT_LANES = 16,         /* lanes in one vector (--vector-width) */
    /* the loop schedule's (loops.c): above the unrolled limits, up to these */
    LIMIT_LOOP_PARAMS = 1 << 24,   /* parameter scalars */
    LIMIT_LOOP_FEATURES = 1 << 16, /* input features, and outputs of one layer */
    LIMIT_LOOP_BATCH = 1 << 16,    /* samples per optimizer step */
    LIMIT_LOOP_ACTS = 1 << 30,     /* batch x the widest layer: every index fits an int */
    LIMIT_LOOP_STACK = 4 << 20,    /* bytes of scratch a loop kernel puts on the stack */
};

/* A position in the YAML input, 1-based; line 0 means "no position". */
typedef struct Loc {
    int line;
    int col;
} Loc;

/* ---- the model: what the YAML says, checked ---- */

/* The language's activations, losses and optimizers (lang.h); each *_name
 * table holds the YAML spellings in enum order, NULL-terminated. */
typedef enum Act {
#define ACT(e, s) ACT_##e,
#include "lang.h"
} Act;
extern const char *const act_name[];

typedef enum LossKind {
#define LOSS(e, s) LOSS_##e,
#include "lang.h"
} LossKind;
extern const char *const loss_name[];

typedef enum OptKind {
#define OPT(e, s) OPT_##e,
#include "lang.h"
} OptKind;
extern const char *const opt_name[];

typedef struct Optimizer {
    OptKind kind;
    double lr;           /* default learning rate, finite and > 0 */
    double momentum;     /* sgd, in [0, 1) */
    double dampening;    /* sgd, in [0, 1] */
    bool nesterov;       /* sgd; needs momentum > 0 and dampening 0, as torch */
    double weight_decay; /* >= 0 */
    double beta1, beta2; /* adam(w), each in [0, 1) */
    double eps;          /* adam(w), > 0 */
    Loc loc;             /* the optimizer's key */
} Optimizer;

typedef struct Layer {
    char name[LIMIT_NAME + 1]; /* C identifier, unique in the model */
    int out;                   /* output features */
    Act act;                   /* activation applied after the affine map */
    double slope;              /* leaky_relu's negative_slope */
    bool bias;                 /* has a bias vector */
    bool trainable;            /* gets gradients and updates */
    Loc loc;                   /* the layer's list item, for comments and IR */
} Layer;

/* One parameter tensor in NAME_params, in declaration order. */
typedef struct Param {
    char name[LIMIT_NAME + 8];  /* PyTorch state_dict name: "hidden.weight" */
    char cname[LIMIT_NAME + 8]; /* C member name: "hidden_weight" */
    int layer;                  /* index into Model.layers */
    int rows;                   /* weight: out features; bias: size */
    int cols;                   /* weight: in features; bias: 0 (a vector) */
    int size;                   /* number of scalars */
    int fan_in;                 /* in features of the layer, for init */
    bool trainable;             /* its layer is trainable */
} Param;

/* What one optimizer state tensor holds. */
typedef enum StateKind {
    ST_MOMENTUM, /* sgd's momentum_buffer */
    ST_EXP_AVG,  /* adam's first moment */
    ST_EXP_AVG_SQ, /* adam's second moment */
} StateKind;

/* One optimizer state tensor in NAME_optim, shaped as its parameter. */
typedef struct State {
    char name[LIMIT_NAME + 40];  /* "optim.hidden.weight.momentum_buffer" */
    char cname[LIMIT_NAME + 40]; /* "hidden_weight_momentum_buffer" */
    int param;                   /* index into Model.params */
    StateKind kind;
} State;

/* Per-step scalars the kernels compute from the optim struct (HYPER leaves). */
typedef enum Hyper {
    HY_LR,         /* the learning rate: o->lr, or the compiled default when 0 */
    HY_FIRST,      /* bool: this is the first step (sgd momentum starts its buffer) */
    HY_STEP_SIZE,  /* adam: lr / (1 - beta1^step), computed in double */
    HY_BC2_SQRT,   /* adam: sqrt(1 - beta2^step), computed in double */
    HY_DECAY,      /* adamw: 1 - lr * weight_decay, computed in double */
    HY_COUNT
} Hyper;
extern const char *const hyper_name[HY_COUNT];

/* ---- names.c: every name template of the generated code ---- */
const char *name_of(const char *layer, const char *what); /* hidden.z */
const char *name_adjoint(const char *of);                 /* d_hidden.z */
const char *name_updated(const char *of);                 /* new_hidden.weight */
const char *name_next_z(const char *layer);               /* next_hidden.z */
const char *name_from_z(const char *base);                /* loss.diff_z */
const char *name_element(const char *base, int row, int col); /* hidden.z_2 (row -1), hidden.weight_1_3 */
const char *name_temp(int n);                             /* tmp7 */
const char *name_chunk(bool targets, int at);             /* ld_x_8 */
const char *name_c_ident(const char *name);               /* hidden.z_2 -> hidden_z_2 */
/* A vector of consecutive elements of tensor base: down a column (col, rows
 * row..last) or along a row (row, or -1 for a vector; cols col..last); whole:
 * all of that column or row. */
const char *name_vector(const char *base, bool down, int row, int col, int last, bool whole);

/* ---- abi.c: what both backends compute outside the kernels' IR, as data ---- */

/* A hyperparameter's formula: nodes in double, operands before their users,
 * the value last; the backends cast it to the kernel's precision (HX_FIRST
 * is a bool and stays one). */
typedef enum HxOp {
    HX_LR,    /* the step's learning rate: o->lr, or the compiled one when 0 */
    HX_FIRST, /* the step counter is 0 */
    HX_STEP1, /* the step counter + 1, as a double */
    HX_ONE,   /* 1.0 */
    HX_CONST, /* c: a hyperparameter of the model (beta1, weight_decay, ...) */
    HX_SUB, HX_MUL, HX_DIV, /* a op b */
    HX_POW,   /* pow(a, b) */
    HX_SQRT,  /* sqrt(a) */
} HxOp;
typedef struct Hx {
    HxOp op;
    int a, b; /* operands: earlier nodes, or -1 */
    double c; /* HX_CONST, HX_ONE */
} Hx;
enum { HYPER_MAX_NODES = 8 };
typedef struct HyperFormula {
    int n;
    Hx e[HYPER_MAX_NODES];
} HyperFormula;
HyperFormula hyper_formula(const Optimizer *o, Hyper h);

/* NAME_init's stream: splitmix64, s += init_increment, then for each round
 * z = (z ^ z >> shift) * mul (the last round has mul 0: no multiply); a
 * weight is U(-bound, bound) from the top INIT_BITS bits of z:
 * u = (z >> (64 - INIT_BITS)) * 2^-INIT_BITS, w = (2u - 1) * bound, drawn
 * element by element in declaration order. */
typedef struct MixRound {
    int shift;
    uint64_t mul;
} MixRound;
enum { INIT_ROUNDS = 3, INIT_BITS = 24 };
extern const uint64_t init_increment;
extern const MixRound init_mix[INIT_ROUNDS];
double init_bound(const Param *p); /* 1/sqrt(fan_in), rounded to float */

/* The runtime descriptor's contents (netrt_model of runtime/netrt.h): sizes
 * and the tensor tables (a state tensor has its parameter's shape).  A table
 * with no rows is written as one zero row: C has no empty arrays. */
typedef struct DescTensor {
    const char *name;  /* state_dict name */
    const char *cname; /* member of NAME_params or NAME_optim */
    int rows, cols;
} DescTensor;
typedef struct Descriptor {
    size_t n_in, n_out, n_target, batch;
    float lr;
    uint64_t hash;
    int ntensors, nstates;
    DescTensor *tensors, *states;
} Descriptor;
struct Model;
Descriptor model_descriptor(const struct Model *m);
void descriptor_free(Descriptor *d); /* its tables */

typedef struct Model {
    const char *file;          /* the YAML path, as given */
    char name[LIMIT_NAME + 1]; /* prefixes every generated symbol */
    int input;                 /* input features */
    Layer *layers;             /* nlayers entries */
    int nlayers;
    LossKind loss;
    bool loss_sum;             /* reduction: sum (default mean) */
    Loc loss_loc;
    Optimizer opt;
    int batch;                 /* samples per step, >= 1 */
    Param *params;             /* filled by model_params() */
    int nparams;
    State *states;             /* filled by model_params() */
    int nstates;
    uint64_t hash;             /* FNV-1a of the input bytes, for the banner */
    const char *unroll_err;    /* the first limit of full unrolling it breaks, or NULL */
    Loc unroll_loc;            /* where (--unroll=full reports it; auto takes loops) */
} Model;

/* ---- the IR ---- */

typedef enum Op {
#define X(e, ...) OP_##e,
#include "ops.h"
#undef X
    OP_COUNT
} Op;

/* The kinds of ops.h's KIND column. */
typedef enum OpKind {
    OPK_LEAF,   /* no operands */
    OPK_ELEM,   /* elementwise, f32 operands of one shape -> f32 of that shape */
    OPK_MASK,   /* elementwise compare of two f32 -> bool */
    OPK_SELECT, /* bool mask, f32, f32 of one shape -> f32 */
    OPK_TENSOR, /* a shape op: tensors only, typed and scalarized by code */
} OpKind;

/* How emit_c.c spells an op (ops.h's C column). */
typedef enum CForm {
    C_LEAF,   /* the model's memory, a constant or a per-step scalar */
    C_INFIX,  /* a c b */
    C_PREFIX, /* c a */
    C_LIBM,   /* the C library's c(a, ...): cf in single precision */
    C_CODE,   /* a function of emit_c.c */
    C_NONE,   /* a shape op: never in a scalar graph */
} CForm;

/* How emit_llvm.c builds an op (ops.h's LL column). */
typedef enum LlForm {
    LL_LEAF,      /* a load, a constant or a per-step scalar */
    LL_INSTR,     /* the instruction ll */
    LL_INTRINSIC, /* a call of the intrinsic ll, overloaded on the operand type */
    LL_LIBM,      /* a call of the C library's ll, with the C's suffix */
    LL_CODE,      /* a function of emit_llvm.c */
    LL_NONE,      /* a shape op: never in a scalar graph */
} LlForm;

/* One row of ops.h. */
typedef struct OpInfo {
    const char *name; /* the printer's spelling */
    int arity;        /* operands */
    OpKind kind;
    int latency;      /* cycles, reassoc.c's estimate */
    bool lanes;       /* vector.c may pack it into SIMD lanes */
    bool exact;       /* --reassociate copies it unchanged (reassoc.c) */
    CForm c_form;
    const char *c;    /* C spelling: operator or libm function */
    int c_prec;       /* C precedence of that spelling */
    const char *cvec; /* vector helper NAME_cvec, NULL: the scalar operator */
    LlForm ll_form;
    const char *ll;   /* LLVM instruction, intrinsic or libm function */
} OpInfo;
extern const OpInfo op_info[OP_COUNT];

typedef enum DType {
    DT_F32,  /* IEEE single */
    DT_BOOL, /* a comparison mask */
} DType;

/* f32 or bool, of rank 0 (a scalar), 1 ([n]) or 2 ([m,n]). */
typedef struct Type {
    DType dt;
    int rank;
    int dim[2];
} Type;

typedef enum Phase {
    PH_FORWARD,  /* forward pass and loss */
    PH_BACKWARD, /* adjoints */
    PH_UPDATE,   /* optimizer */
} Phase;

typedef struct Node {
    Op op;
    Type type;
    int arg[3];       /* operand ids, each smaller than this node's id */
    double value;     /* OP_CONST: the value, rounded to the graph's precision */
    int slot;         /* OP_PARAM: Model.params; OP_STATE: Model.states; OP_HYPER: Hyper */
    int index;        /* leaves in scalar form: element; OP_BCAST: rows */
    int layer;        /* producing layer, -1 for the loss and optimizer glue */
    Phase phase;      /* which section the node was built for */
    Loc loc;          /* YAML position of what produced the node */
    const char *name; /* human name ("hidden.z", "d_hidden.z"), or NULL */
    /* Scalar graphs: the element of a named tensor this node is (name is
     * ebase with its indices): row erow (-1 for a vector, or one sample's
     * row) and column ecol of an erows x ecols tensor. */
    const char *ebase;
    int erow, ecol, erows, ecols;
} Node;

typedef enum RootKind {
    ROOT_OUTPUT, /* the model's output y */
    ROOT_LOSS,   /* the scalar loss */
    ROOT_GRAD,   /* d loss / d params[slot] */
    ROOT_UPDATE, /* params[slot] after one optimizer step */
    ROOT_STATE,  /* states[slot] after one optimizer step */
    ROOT_CARRY,  /* NAME_train: the carried pre-activation for the next batch (carry.c) */
    ROOT_CARRY_INIT, /* NAME_train: the carried pre-activation of the first batch */
} RootKind;

/* A value the generated code must compute.  In scalar form, index names the
 * element (row-major); in tensor form it is -1. */
typedef struct Root {
    RootKind kind;
    int slot;
    int index;
    int node;
} Root;

/* Where new nodes come from: set by a pass before it builds. */
typedef struct Origin {
    int layer;
    Phase phase;
    Loc loc;
} Origin;

/* An append-only, hash-consed graph: operands always precede their users, so
 * the array order is a topological order. */
typedef struct Graph {
    Node *node;
    int n, cap;
    int *hash;  /* open addressing over node ids, -1 empty */
    int hcap;
    Root *root;
    int nroot, rootcap;
    bool scalar; /* every node has rank 0 */
    bool f64;    /* values are doubles (--fp64); else floats */
    Origin at;   /* origin given to nodes built next */
} Graph;

/* ---- diag.c ---- */
_Noreturn void error_at(const char *file, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn void die_at(const char *srcfile, int srcline, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define die(...) die_at(__FILE__, __LINE__, __VA_ARGS__)
#define unreachable() die_at(__FILE__, __LINE__, "unreachable")
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
const char *intern(const char *s);
char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xformat(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* malloc'd, any length */
const char *quote(const char *s, size_t len);
void diag_cleanup(void (*fn)(void));

/* ---- output.c ---- */
/* One output being written: to a temporary beside path (slot >= 0), or in
 * place (standard output for "-", or a file that is not a regular file). */
typedef struct Output {
    const char *path;
    FILE *f;
    int slot;
} Output;
/* Records the input's identity, ignores SIGXFSZ, and makes SIGINT, SIGTERM
 * and SIGHUP (and every error line) remove the temporaries and stop a
 * running C compiler. */
void output_init(const char *input);
/* An error line, before anything is written, if path ("-": standard
 * output) is the input file by any spelling. */
void output_check(const char *path);
bool output_special(const char *path); /* exists and is not a regular file */
bool output_direct(const char *path);  /* "-" or special: written in place, no header beside it */
void output_open(Output *o, const char *path);
void output_close(Output *o);                /* flushed and synced, or an error line (EFBIG too) */
void output_commit(Output *o, unsigned mode); /* the temporary renamed over path */
void output_cleanup(void);                   /* temporaries and the temporary folder removed */
const char *output_tempdir(void);            /* a private temporary folder, made once */
char *output_temp_file(const char *name);    /* its file name (malloc'd), removed by cleanup */
bool output_run(char *const argv[]);         /* runs a program; true if it exited 0 */
void output_copy(Output *o, const char *from); /* appends the file `from` to o */

/* ---- parse.c ---- */
/* Requires: buf holds len bytes of the file named path.  Guarantees: m is a
 * complete, checked model, or one error line was printed and the process
 * exited with status 1. */
void parse_model(const char *path, const char *buf, size_t len, Model *m);
void model_free(Model *m);

/* ---- ir.c ---- */
extern const char *const op_name[OP_COUNT];
void graph_init(Graph *g, bool scalar);
void graph_free(Graph *g);
Type type_f32(int rank, int d0, int d1);
int type_numel(Type t);
bool type_eq(Type a, Type b);
int ir_node(Graph *g, Node n);
int ir_lookup(const Graph *g, Node n); /* the id of a node identical to n, or -1 */
int ir_op(Graph *g, Op op, int a, int b, int c);
int ir_const(Graph *g, Type t, double v);
double ir_round(const Graph *g, double v);
int ir_splat(Graph *g, int a, Type t);
int ir_leaf(Graph *g, Op op, Type t, int slot, int index);
int ir_named(Graph *g, int id, const char *name);
/* ir_named for element k of tensor `base` of type t, in a scalar graph. */
int ir_named_element(Graph *g, int id, const char *base, Type t, int k);
/* ir_named with from's name, and its element's place: a pass copying a graph. */
int ir_copy_name(Graph *g, int id, const Node *from);
void ir_root(Graph *g, RootKind kind, int slot, int index, int node);
bool ir_is_const(const Graph *g, int id, double v);
void ir_print(FILE *out, const Graph *g, const Model *m);
void ir_verify(const Graph *g, const char *after);
extern const char *const root_name[7];
bool ir_is_leaf(Op op); /* no operands */
int model_outputs(const Model *m);
int model_targets(const Model *m);

/* ---- lower.c ---- */
void model_params(Model *m);
Type param_type(const Param *p);
/* Requires: a checked model.  Guarantees: g holds the forward pass for one
 * batch and the loss, with roots ROOT_OUTPUT and ROOT_LOSS. */
void lower_model(const Model *m, Graph *g);

/* ---- grad.c ---- */
/* Requires: g has a ROOT_LOSS.  Guarantees: one ROOT_GRAD per parameter,
 * built from one rule per primitive op; no tape, no runtime autodiff. */
void grad_build(Graph *g, const Model *m);

/* ---- optim.c ---- */
/* Requires: g has ROOT_GRAD for each parameter.  Guarantees: one ROOT_UPDATE
 * per parameter holding its value after one optimizer step. */
void optim_build(Graph *g, const Model *m);

/* ---- simplify.c ---- */
/* Guarantees: same roots, same values bit for bit; constants folded,
 * exact identities removed (x*1, x-0, --x; never x+0 or x*0), duplicates merged, unreachable nodes
 * gone, nodes renumbered in topological order.  latency: also the rewrite
 * that only shortens chains (a ReLU gradient's e reads z, not max(z, 0));
 * pass false for a schedule bound by its number of operations (a batch's
 * samples in the vector lanes). */
void simplify(Graph *g, bool latency);

/* ---- carry.c ---- */
/* Requires: the simplified tensor graph g of a model.  Guarantees: when the
 * model qualifies (plain SGD, a trainable first layer, batch 1), t is the
 * graph of NAME_train under --reassociate: the first layer's pre-activation
 * is a CARRY leaf, with roots for its next value (computed from the old
 * weights and the next sample) and its first value; returns false and
 * leaves t untouched otherwise. */
bool carry_build(const Graph *g, const Model *m, Graph *t);

/* ---- apply.c ---- */
/* Requires: the simplified tensor graph g of a model.  Guarantees: a is the
 * graph of NAME_apply: g's ROOT_UPDATE and ROOT_STATE roots, in g's order,
 * computed by the same operations with each parameter's gradient a
 * GRADIENT leaf (the kernel's argument g). */
void apply_build(const Graph *g, const Model *m, Graph *a);

/* ---- reassoc.c ---- */
/* Requires: a scalar graph.  Guarantees: the same roots computed with sums
 * as latency-ordered trees and data-only factors multiplied first, or, in
 * a batch kernel (`batch`, its vector width, > 1), as chains over groups of
 * samples, fused multiply-adds with `fma`; values may differ in rounding
 * (--reassociate, --fma). */
void reassociate(Graph *g, int batch, bool fma);

/* ---- scalar.c ---- */
/* Requires: a tensor graph.  Guarantees: s is the same computation with every
 * node a scalar, matmuls and sums unrolled in index order. */
void scalarize(const Graph *t, Graph *s);

/* ---- vector.c ---- */
/* One vector: the scalar node of each lane. */
typedef struct Pack {
    int lanes;                /* used lanes; the vector has Packing.width */
    int node[LIMIT_LANES];
    int last;                 /* the latest lane in graph order: where the vector is computed */
} Pack;

typedef struct Packing {
    int width;                /* lanes per vector, a power of two; < 2: no vectors */
    bool samples;             /* a batch's samples fill the lanes (vector_pack's `samples`) */
    Pack *pack;
    int npack, cap;
    int *pack_of;             /* per scalar node: its pack, or -1 */
    int *lane_of;             /* per scalar node: its lane */
} Packing;
/* Requires: the scalar schedule.  Guarantees: disjoint packs of isomorphic
 * nodes, each lane computing exactly its scalar node; with samples, a
 * batch's samples fill the lanes where they can (--reassociate), else a
 * layer's units do. */
void vector_pack(const Graph *s, const Model *m, int width, bool samples, Packing *pk);
void packing_free(Packing *pk);

/* ---- plan.c ---- */
typedef enum Kernel { K_FORWARD, K_GRAD, K_STEP, K_TRAIN, K_APPLY } Kernel;

/* One kernel's plan over the scalar graph, shared by both backends. */
typedef struct Plan {
    const Model *m;
    const Graph *s;
    Kernel k;
    bool *live;         /* node is computed by this kernel */
    int *uses;          /* uses by live nodes and roots */
    bool *is_var;       /* node is held in a named local */
    const char **var;   /* the local's name */
    const char **taken; /* hash set of the kernel's local names */
    int ntaken_cap;     /* its size, a power of two */
    int *leaf_of;       /* scalar leaf of each parameter element, then each state element */
    int *param_base;    /* first element of each parameter in leaf_of; [nparams] = total */
    int *state_base;    /* first element of each state, after the parameters' */
    const Packing *pk;  /* the vectors */
    bool *pack_live;    /* pack is computed as a vector by this kernel */
    const char **pack_var; /* its local's name */
} Plan;
void plan_init(Plan *p, const Model *m, const Graph *s, const Packing *pk);
int plan_pack(const Plan *p, int id); /* the live pack holding node id, or -1 */
bool plan_leaf_op(Op op);             /* a leaf that packs load from memory */
int plan_operand_pack(const Plan *p, const Pack *v, int a); /* operand a of v as a live pack, or -1 */
void plan_kernel(Plan *p, Kernel k);
void plan_free(Plan *p);
/* The temporaries of a file, numbered in reading order across its kernels:
 * per node and per pack of one graph, its number or 0. */
typedef struct TempNames {
    int n;
    int *node, *pack;
} TempNames;
/* Names the kernel's temporaries (locals and vectors plan_kernel left
 * unnamed) in the order their definitions are read: order lists node ids,
 * and packs as -1 - pack. */
void plan_name_temps(Plan *p, TempNames *t, const int *order, int n);
bool plan_has_root(const Plan *p, const Root *r);
bool plan_carried(Op op);              /* NAME_train keeps it in a local across the loop */
Op plan_root_leaf(RootKind k);         /* the carried leaf a root updates, or OP_COUNT */
bool plan_loop_invariant(const Node *n); /* NAME_train computes it once, before the loop */
bool plan_frozen(const Plan *p, const Node *n); /* a frozen layer's parameter: never written */
bool plan_stored(const Plan *p, const Node *n); /* NAME_train writes it back after its loop */
int plan_leaf(const Plan *p, Op op, int slot, int k); /* scalar leaf of an element, or -1 */
const char *plan_fresh(Plan *p, const char *base);    /* a new local's unique name */
/* A full pack of inputs or targets a fixed stride apart (a batch's samples in
 * the lanes: x[b * IN + i]), to load as whole vectors of the samples' rows
 * from `origin` on and shuffle: lane k is lane at[k] of chunk in[k]. */
typedef struct Strided {
    int origin;             /* the first lane's row, as an index into x or t */
    int nchunk;             /* vectors loaded: origin, origin + width, ... */
    int stride, off;        /* lane k is element origin + off + stride * k */
    int in[LIMIT_LANES];
    int at[LIMIT_LANES];
} Strided;
bool plan_strided(const Plan *p, const Pack *v, Strided *g); /* false: load lane by lane */

/* A kernel body's whole-vector loads of x and t (strided packs), each loaded
 * once: chunk i is x (or t, t[i]) from element at[i] on. */
typedef struct Chunks {
    int n;
    bool t[64];
    int at[64];
} Chunks;
/* The loads of g's chunks (t: of the targets), into slot[0..g->nchunk):
 * indices into c, the new ones marked in fresh; false, and c unchanged, if
 * c would overflow. */
bool plan_chunks(Chunks *c, const Strided *g, bool t, int width, int *slot, bool *fresh);

/* One two-vector shuffle of a strided pack's program: operands a and b are
 * chunk c as -1 - c or an earlier step; idx[k] picks lane k (< width from
 * a, else from b; -1: any). */
typedef struct Shuffle {
    int a, b;
    int idx[LIMIT_LANES];
} Shuffle;
/* The shuffles that build strided pack g from its chunks (at most
 * 2 * nchunk; the last is the pack).  The chunks are merged by halves; a
 * merge of two chunks is shared with the pack of the neighbouring input
 * feature (off ^ 1), each holding the other's lanes in the upper half, so
 * that the two packs' programs have that step in common (the compilers
 * merge equal shuffles): 16 shuffles for 5 features of 16 samples, not 20. */
int plan_shuffles(const Plan *p, const Strided *g, Shuffle *out);

/* ---- kprog.c ---- */
/* A kernel as one linear program, built once after packing from what plan.c
 * computes: every statement both backends print, in order, with its names,
 * types and vector shapes decided.  The emitters render it statement by
 * statement (a switch over kinds) and decide nothing; expressions inside a
 * statement are the scalar graph's, inlined where the plan gives a node no
 * local (Plan.is_var, plan_pack). */
typedef enum KsKind {
    KS_BODY,      /* a step's body begins: no whole-vector load made yet */
    KS_NOTE,      /* a section heading before `node`: phase (new phase) and its layer or loss */
    KS_CHUNK,     /* chunk `chunk` = the vector of x (t: of t) from element `at` on, named `name` */
    KS_VLOAD,     /* pack `pack` loaded from memory, lane by lane */
    KS_VSTRIDED,  /* pack `pack` = shuffles shuf[0..nshuf) of chunks chunks[0..nchunk) */
    KS_VDEF,      /* pack `pack` = its lanes' op on operands op[0..nop) */
    KS_DEF,       /* the scalar local of `node` = its expression */
    KS_BODY_END,  /* the body is done; the stores follow */
    KS_CARRY,     /* NAME_train, before its loop: leaf `node`'s local, from memory (OP_CARRY: 0) */
    KS_VCARRY,    /* NAME_train, before its loop: carried leaf pack `pack`, from memory (OP_CARRY: 0) */
    KS_PROLOGUE,  /* NAME_train: `count` KS_FIRST follow, computed only when a step runs */
    KS_FIRST,     /* NAME_train: carried `node` (local, or lane `lane` of `pack`) = root `root`, from memory */
    KS_PROLOGUE_END,
    KS_HOIST,     /* NAME_train, before its loop: the loop-invariant hyperparameter `node` */
    KS_LOOP,      /* NAME_train: the loop over the steps begins; `count`: the next batch's x is read */
    KS_SPLATS,    /* NAME_train: carried pack `pack`'s lanes are read as splats from memory */
    KS_VASSIGN,   /* NAME_train: carried pack `pack` = pack `from`, whole */
    KS_STORE,     /* root `root`: to memory, or (`node` >= 0) NAME_train's carried local or lane */
    KS_STEPS,     /* o->steps += 1 (count 1), or += steps (count 0, after NAME_train's loop) */
    KS_LOSS,      /* the loss `node`: returned, or added to NAME_train's total */
    KS_LOOP_END,  /* NAME_train: the loop ends */
    KS_WRITEBACK, /* NAME_train after its loop: carried `node` (local, or lane `lane` of `pack`) to memory */
    KS_RETURN,    /* NAME_train: returns the mean loss */
    KS_COUNT
} KsKind;
extern const char *const ks_name[KS_COUNT];

/* How a vector operation reads one operand. */
typedef enum VopKind {
    VOP_PACK,     /* pack `pack`, lane for lane */
    VOP_SHUFFLE,  /* lanes of packs `pack` and `pack2` moved: lane i is id[i] (i < n), 0 past n */
    VOP_SPLAT,    /* scalar id[0] in all n lanes; mem: a lane of a carried pack, read from memory */
    VOP_CMP_SPLAT,/* scalar compare id[0] (no local) as a compare of its operands' splats */
    VOP_LANES,    /* the scalars id[0..n) in lanes 0..n, 0 past n */
} VopKind;
typedef struct Vop {
    VopKind kind;
    int pack, pack2;
    int n;
    bool mask;    /* a compare's lanes: 0 or -1 */
    bool mem;
    int id[LIMIT_LANES];
} Vop;

typedef struct KStmt {
    KsKind kind;
    int node, pack, lane, from, root;
    int count;
    bool phase;               /* KS_NOTE: a new phase begins */
    int chunk, at;            /* KS_CHUNK */
    bool t;                   /* KS_CHUNK: of the targets */
    const char *name;         /* KS_CHUNK: its local */
    int nchunk, chunks[LIMIT_LANES]; /* KS_VSTRIDED: chunk slots */
    int nshuf;
    Shuffle *shuf;            /* KS_VSTRIDED */
    int nop;
    Vop op[3];                /* KS_VDEF */
} KStmt;

typedef struct KProg {
    Plan pl;      /* the kernel's liveness and names (plan.c) */
    KStmt *st;
    int n, cap;
    int nchunk;   /* chunk slots used */
} KProg;

/* The schedule both emitters print: the scalar graph and its packs, NAME_train's
 * own (carry.c) or the same, and one program per kernel. */
typedef struct Schedule {
    const Model *m;
    const Graph *s, *train;   /* train: NAME_train's graph (== s unless carry.c built one) */
    const Packing *pk, *train_pk;
    KProg k[5];               /* by Kernel */
    const Graph *apply;       /* NAME_apply's graph (apply.c), or NULL: not built */
    const Packing *apply_pk;
    TempNames temps[3];       /* the temporaries' numbers: of s, of train's own graph, of apply's */
} Schedule;
/* Requires: the schedules after packing.  Guarantees: the four kernels'
 * programs, verified (kprog_verify); train == NULL: NAME_train uses s. */
void schedule_build(Schedule *sc, const Model *m, const Graph *s, const Packing *pk, const Graph *train,
                    const Packing *train_pk);
/* Adds NAME_apply's program, over its own graph a and packing (apply.c). */
void schedule_apply(Schedule *sc, const Graph *a, const Packing *pk);
void schedule_free(Schedule *sc);
/* Dies (internal error) unless: every operand is defined before its use and
 * in scope, every lane of a pack computes its scalar node, every root the
 * kernel writes is stored exactly once. */
void kprog_verify(const KProg *kp, Kernel k);
void schedule_print(FILE *out, const Schedule *sc);
extern const char *const kernel_name[5];

/* ---- emit_c.c ---- */
/* ---- report.c ---- */
/* What one training step costs, from the kernel programs (report.c). */
typedef struct Cost {
    int real;            /* bytes of a float of the kernels: 4, or 8 (--fp64) */
    long params_bytes;   /* sizeof(NAME_params) */
    long optim_bytes;    /* sizeof(NAME_optim) */
    long live_bytes[4];  /* per kernel: the peak bytes of its locals alive at once */
    long local_bytes[4]; /* per kernel: the bytes of all its locals */
    long scratch_bytes;  /* the stack a kernel call needs at most (an estimate: see report.c) */
    int scratch_kernel;  /* the Kernel that needs it */
    long flops[3];       /* NAME_step's floating-point operations, by Phase */
    long flops_step;     /* their sum */
    bool loops;          /* the loop schedule (else unrolled) */
    const char *why;     /* why that schedule, for the report (main.c) */
} Cost;
/* Requires: the kernel programs.  fp64: double kernels. */
void cost_compute(Cost *c, const Schedule *sc, bool fp64);
/* The loop schedule's (loops.c): g the simplified tensor graph, stack the
 * largest kernel's buffers (loops_stack). */
void cost_loops(Cost *c, const Graph *g, const Model *m, long stack, bool fp64);
/* One function of an LLVM object, and the object's loaded bytes. */
typedef struct CodeSym {
    const char *name;
    long size;
} CodeSym;
typedef struct CodeSize {
    CodeSym *sym;        /* its functions, in the object's order */
    int n;
    long text, rodata, data; /* bytes of the code, constant and initialized data sections */
    long flash;          /* their sum */
    const char *target;  /* the triple and CPU, for the report */
} CodeSize;
/* The report of --report: per layer and in total. cs: code sizes, or NULL. */
/* sc: the unrolled schedule, or NULL with g, the loop schedule's tensor graph. */
void report_print(FILE *out, const Model *m, const Schedule *sc, const Graph *g, const Cost *c, const CodeSize *cs,
                  bool fp64);
/* --max-ram / --max-flash: an error line at the largest contributor if the
 * model's training memory (code size) exceeds max bytes (a limit < 0: none). */
void budget_ram(const Model *m, const Cost *c, long max, const char *arg);
void budget_flash(const Model *m, const CodeSize *cs, long max, const char *arg);
/* "256K", "1M", "1.5M", "65536": bytes (K = 1024), or -1 if bad. */
long parse_size(const char *s);
/* 401408 -> "401,408" (a static buffer of 16 rotating slots). */
const char *commas(long v);

/* ---- dot.c ---- */
/* The graph as Graphviz: a cluster per layer, colours by phase. */
void dot_print(FILE *out, const Graph *g, const Model *m, const char *title);

typedef struct EmitOptions {
    bool fp64;            /* emit double instead of float (gradient checks) */
    const Cost *cost;     /* the header's and banner's figures, or NULL */
    bool inline_header;   /* put the header text in the C (for -o -) */
    const char *header;   /* file name the C includes, when not inlined */
    const char *argv;     /* the flags, for the banner */
    bool loops;           /* the loop schedule (loops.c): NAME_optim also holds the gradient */
} EmitOptions;
/* Renders the schedule's kernel programs as C, with what emit_c_api.c prints around them. */
void emit_c(FILE *out, const Schedule *sc, const EmitOptions *o);

/* ---- emit_c_api.c: the C around the kernels ---- */
void emit_header(FILE *out, const Model *m, const EmitOptions *o); /* the API header, both backends */
void emit_header_body(FILE *out, const Model *m, const EmitOptions *o);
void emit_banner(FILE *out, const Model *m, const EmitOptions *o, const char *what);
void emit_c_prologue(FILE *out, const Model *m, const EmitOptions *o); /* banner, header, <math.h> */
void emit_init(FILE *out, const Model *m, const EmitOptions *o);   /* NAME_init */
void emit_trainer(FILE *out, const Model *m); /* NAME_model and main, #ifdef NETC_TRAINER / NETC_RUNTIME */
void c_real(FILE *out, double v, bool fp64);  /* the shortest literal that reads back as v */
const char *c_string(const char *s);         /* s as the body of a C string literal */
const char *c_comment(const char *s);        /* s made safe inside a C comment */

/* The loop schedule's C: banner, header, init and the runtime descriptor as
 * emit_c, the kernels from loops.c. */
void emit_c_loops(FILE *out, const Model *m, const Graph *g, int width, const EmitOptions *o);

/* ---- loops.c ---- */
/* Requires: the simplified tensor graph of a model.  Guarantees: the
 * kernels as loops over tiles of samples (NAME_forward .. NAME_train), the
 * same bits as the unrolled schedule; an error line if one sample's buffers
 * pass LIMIT_LOOP_STACK. */
void emit_loops(FILE *out, const Graph *g, const Model *m, int width, const EmitOptions *o);
/* The stack bytes of a kernel call, at most, but for the outer frames and libm. */
long loops_stack(const Graph *g, const Model *m, int width, const EmitOptions *o);
void loops_print(FILE *out, const Graph *g, const Model *m, int width, const EmitOptions *o);

/* ---- emit_llvm.c (the only user of the LLVM C API) ---- */
typedef enum LlvmKind { LLVM_IR, LLVM_BC, LLVM_ASM, LLVM_OBJ } LlvmKind;
typedef struct LlvmOptions {
    LlvmKind kind;
    const char *triple;   /* NULL: the host */
    const char *cpu;      /* NULL: the host's CPU when triple is NULL, else generic */
    const char *features; /* "+a,-b", or NULL */
    int opt;              /* 0..3: the pass pipeline default<On> and codegen level */
    bool fp64;            /* double kernels, as EmitOptions.fp64 */
    bool runtime;         /* also NAME_model, the netrt descriptor, as -DNETC_RUNTIME */
    bool trainer;         /* also main(), the descriptor internal, as -DNETC_TRAINER */
    CodeSize *sizes;      /* non-NULL: also compile an object and fill in its code sizes */
} LlvmOptions;
/* Requires: the schedule emit_c prints.  Guarantees: the same kernels,
 * computing the same values, as the requested output kind, in a malloc'd
 * buffer of *len bytes (NUL-terminated); a bad target, CPU or feature is one
 * error line and exit 1. */
char *emit_llvm(const Schedule *sc, const LlvmOptions *o, size_t *len);
/* Compiles the trainer in memory for the host (ORC LLJIT) and runs
 * netrt_main with argc/argv; returns its exit status. */
int run_jit(const Schedule *sc, const LlvmOptions *o, int argc, char **argv);

#endif
