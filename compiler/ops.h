/* ops.h: the closed set of primitive IR operations and every fact about each
 * that can be data, declared once.
 *
 * Each row is X(ENUM, "name", arity, KIND, latency, lanes, exact,
 *               C, "c", prec, "cvec", LL, "ll"):
 *   KIND     LEAF: no operands (the emitters read it from memory or compute it);
 *            ELEM: elementwise on f32 operands of one shape, f32 of that shape;
 *            MASK: elementwise compare of two f32 operands, a bool mask;
 *            SELECT: a bool mask and two f32 operands of its shape;
 *            TENSOR: a shape op; its type (ir.c) and scalarization (scalar.c)
 *            are code, and exist only on tensors.
 *   latency  reassoc.c's estimate of the op's latency in cycles (1: cheap).
 *   lanes    vector.c may pack it into SIMD lanes (every emitter has a lane-
 *            wise form; the libm calls are per scalar).
 *   exact    --reassociate leaves it as it is (reassoc.c copies it); 0 for
 *            the ops it rewrites, whose rounding the flag changes: sums
 *            regrouped into trees, products reordered, a - h*b fused.
 *   C, "c"   how emit_c.c spells it in a scalar expression:
 *            INFIX: a c b, left-associative; PREFIX: c a; LIBM: the C
 *            library's function c(a, ...), with the suffix f in single
 *            precision (expf, exp with --fp64); CODE: a function of emit_c.c
 *            (its table c_code[], checked when it starts: helpers such as
 *            NAME_sel, or a formula); LEAF: the model's memory or a
 *            constant; NONE: not in a scalar graph.
 *   prec     the C precedence of that spelling (10: a primary expression,
 *            a call), for parentheses.
 *   "cvec"   the vector form in C, for ops with lanes: NULL for INFIX and
 *            PREFIX (GCC/Clang vector types take the same operator), else
 *            the helper NAME_cvec, lane by lane.
 *   LL, "ll" how emit_llvm.c builds it, scalars and vectors alike:
 *            INSTR: the instruction "ll" as the IR prints it ("fadd",
 *            "fcmp ogt", ...); INTRINSIC: a call of the intrinsic "ll",
 *            overloaded on the operand type (llvm.exp.f32, llvm.fma.v4f32);
 *            LIBM: a call of the C library's "ll" with the C's suffix, as
 *            the C calls it (tanhf); CODE: a function of emit_llvm.c (its
 *            table ll_code[], checked when it starts); LEAF, NONE as in C.
 * The enum, the printer's names, the verifier's arity checks, type inference,
 * scalarization, latency, packing and both emitters' spelling of the
 * LEAF/ELEM/MASK/SELECT kinds come from this table.  What has to be code is
 * a case in a switch without a default, which -Wswitch (an error in the
 * project's builds) refuses to build without: the gradient rule (grad.c)
 * and the fold (simplify.c).  Layers (linear, relu, mse, ...) are not ops:
 * lowering spells them with these primitives.
 */
/*  ENUM       name        ar KIND   lat ln ex C       c         pr cvec    LL         ll */
/* leaves */
X(INPUT,     "input",     0, LEAF,    1, 0, 1, LEAF,   NULL,     10, NULL,   LEAF,      NULL)        /* the batch of inputs x[B,IN]; scalar form: x[index] */
X(TARGET,    "target",    0, LEAF,    1, 0, 1, LEAF,   NULL,     10, NULL,   LEAF,      NULL)        /* the batch of targets t[B,OUT]; scalar form: t[index] */
X(PARAM,     "param",     0, LEAF,    1, 0, 1, LEAF,   NULL,     10, NULL,   LEAF,      NULL)        /* parameter tensor `slot`; scalar form: element `index` */
X(CONST,     "const",     0, LEAF,    1, 0, 1, LEAF,   NULL,     10, NULL,   LEAF,      NULL)        /* `value` splatted to the node's shape */
X(STATE,     "state",     0, LEAF,    1, 0, 1, LEAF,   NULL,     10, NULL,   LEAF,      NULL)        /* optimizer state tensor `slot`; scalar form: element `index` */
X(HYPER,     "hyper",     0, LEAF,    1, 0, 1, LEAF,   NULL,     10, NULL,   LEAF,      NULL)        /* a per-step scalar the kernel computes: Hyper `slot` */
X(CARRY,     "carry",     0, LEAF,    1, 0, 1, LEAF,   NULL,     10, NULL,   LEAF,      NULL)        /* NAME_train's carried first-layer pre-activation (carry.c); scalar: element `index` */
X(NEXT,      "next",      0, LEAF,    1, 0, 1, LEAF,   NULL,     10, NULL,   LEAF,      NULL)        /* the next batch's inputs x'[B,IN] (carry.c); scalar form: x'[index] */
X(GRADIENT,  "gradient",  0, LEAF,    1, 0, 1, LEAF,   NULL,     10, NULL,   LEAF,      NULL)        /* NAME_apply's given gradient of parameter `slot` (apply.c); scalar: element `index` */
/* elementwise, operands of the node's shape */
X(ADD,       "add",       2, ELEM,    3, 1, 0, INFIX,  " + ",     5, NULL,   INSTR,     "fadd")      /* a + b */
X(SUB,       "sub",       2, ELEM,    3, 1, 0, INFIX,  " - ",     5, NULL,   INSTR,     "fsub")      /* a - b */
X(MUL,       "mul",       2, ELEM,    4, 1, 0, INFIX,  " * ",     6, NULL,   INSTR,     "fmul")      /* a * b */
X(DIV,       "div",       2, ELEM,   12, 1, 1, INFIX,  " / ",     6, NULL,   INSTR,     "fdiv")      /* a / b */
X(NEG,       "neg",       1, ELEM,    1, 1, 1, PREFIX, "-",       8, NULL,   INSTR,     "fneg")      /* -a */
X(MAX,       "max",       2, ELEM,    1, 1, 1, CODE,   NULL,     10, "vmax", CODE,      NULL)        /* a < b ? b : a  (a NaN in a propagates, as torch.relu) */
X(GT,        "gt",        2, MASK,    4, 1, 1, INFIX,  " > ",     3, NULL,   INSTR,     "fcmp ogt")  /* a > b, a bool mask */
X(EQ,        "eq",        2, MASK,    4, 1, 1, INFIX,  " == ",    3, NULL,   INSTR,     "fcmp oeq")  /* a == b, a bool mask */
X(EXP,       "exp",       1, ELEM,   20, 0, 1, LIBM,   "exp",    10, NULL,   INTRINSIC, "llvm.exp")  /* e^a */
X(LOG,       "log",       1, ELEM,   20, 0, 1, LIBM,   "log",    10, NULL,   INTRINSIC, "llvm.log")  /* natural logarithm */
X(TANH,      "tanh",      1, ELEM,   20, 0, 1, LIBM,   "tanh",   10, NULL,   LIBM,      "tanh")      /* hyperbolic tangent */
X(ERF,       "erf",       1, ELEM,   20, 0, 1, LIBM,   "erf",    10, NULL,   LIBM,      "erf")       /* the error function, 2/sqrt(pi) * integral of e^-t^2 from 0 to a */
X(SIGMOID,   "sigmoid",   1, ELEM,   20, 0, 1, CODE,   NULL,      6, NULL,   CODE,      NULL)        /* 1 / (1 + e^-a) */
X(ABS,       "abs",       1, ELEM,    1, 0, 1, LIBM,   "fabs",   10, NULL,   INTRINSIC, "llvm.fabs") /* |a| */
X(SQRT,      "sqrt",      1, ELEM,   12, 0, 1, LIBM,   "sqrt",   10, NULL,   INTRINSIC, "llvm.sqrt") /* square root */
X(SELECT,    "select",    3, SELECT,  1, 1, 1, CODE,   NULL,     10, "vsel", INSTR,     "select")    /* c ? a : b, c a bool mask */
X(FMA,       "fma",       3, ELEM,    1, 1, 1, LIBM,   "fma",    10, "vfma", INTRINSIC, "llvm.fma")  /* a * b + c rounded once, as C's fmaf (only --reassociate makes it) */
/* shape ops (tensor form only; scalarization removes them) */
X(MATMUL,    "matmul",    2, TENSOR,  1, 0, 1, NONE,   NULL,     10, NULL,   NONE,      NULL)        /* [m,k] x [k,n] -> [m,n], sums over k in order */
X(TRANSPOSE, "transpose", 1, TENSOR,  1, 0, 1, NONE,   NULL,     10, NULL,   NONE,      NULL)        /* [m,n] -> [n,m] */
X(BCAST,     "bcast",     1, TENSOR,  1, 0, 1, NONE,   NULL,     10, NULL,   NONE,      NULL)        /* [n] -> [m,n]: repeat a row m times */
X(SUMROWS,   "sumrows",   1, TENSOR,  1, 0, 1, NONE,   NULL,     10, NULL,   NONE,      NULL)        /* [m,n] -> [n]: sum over the rows, in row order */
X(SUMALL,    "sumall",    1, TENSOR,  1, 0, 1, NONE,   NULL,     10, NULL,   NONE,      NULL)        /* any shape -> scalar: sum of all elements in order */
X(SPLAT,     "splat",     1, TENSOR,  1, 0, 1, NONE,   NULL,     10, NULL,   NONE,      NULL)        /* scalar -> the node's shape, every element the same */
X(ONEHOT,    "onehot",    1, TENSOR,  1, 0, 1, NONE,   NULL,     10, NULL,   NONE,      NULL)        /* [m,1] class indices -> [m,n] rows of 0 and 1; n is `index` */
X(SOFTMAX,   "softmax",   1, TENSOR,  1, 0, 1, NONE,   NULL,     10, NULL,   NONE,      NULL)        /* [m,n] -> [m,n]: each row's exp(a - max) / sum */
X(LOGSOFTMAX,"logsoftmax",1, TENSOR,  1, 0, 1, NONE,   NULL,     10, NULL,   NONE,      NULL)        /* [m,n] -> [m,n]: each row's a - max - log(sum(exp(a - max))) */
X(BCE,       "bce",       2, TENSOR,  1, 0, 1, NONE,   NULL,     10, NULL,   NONE,      NULL)        /* [m,n] probabilities y, targets t -> scalar: torch's BCELoss,
                                               the sum of (t - 1) max(log(1 - y), -100) - t max(log y, -100)
                                               in order, divided by `index` (the mean's count; 1 for a sum);
                                               its gradient torch's (grad.c) */
