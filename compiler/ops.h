/* ops.h: the closed set of primitive IR operations and the facts the passes
 * need about each, declared once.
 *
 * Each row is X(ENUM, "name", arity, KIND, latency, lanes):
 *   KIND     LEAF: no operands (the emitters read it from memory or compute it);
 *            ELEM: elementwise on f32 operands of one shape, f32 of that shape;
 *            MASK: elementwise compare of two f32 operands, a bool mask;
 *            SELECT: a bool mask and two f32 operands of its shape;
 *            TENSOR: a shape op; its type (ir.c) and scalarization (scalar.c)
 *            are code, and exist only on tensors.
 *   latency  reassoc.c's estimate of the op's latency in cycles (1: cheap).
 *   lanes    vector.c may pack it into SIMD lanes (every emitter has a lane-
 *            wise form; the libm calls are per scalar).
 * The enum, the printer's names, the verifier's arity checks, type inference,
 * scalarization and packing of the LEAF/ELEM/MASK/SELECT kinds come from this
 * table.  What has to be code is a case in a switch without a default, which
 * -Wswitch (an error in the project's builds) refuses to build without: the
 * gradient rule (grad.c), and the C and LLVM spellings (emit_c.c,
 * emit_llvm.c).  Layers (linear, relu, mse, ...) are not ops: lowering spells
 * them with these primitives.
 */
/* leaves */
X(INPUT,     "input",     0, LEAF,    1, 0) /* the batch of inputs x[B,IN]; scalar form: x[index] */
X(TARGET,    "target",    0, LEAF,    1, 0) /* the batch of targets t[B,OUT]; scalar form: t[index] */
X(PARAM,     "param",     0, LEAF,    1, 0) /* parameter tensor `slot`; scalar form: element `index` */
X(CONST,     "const",     0, LEAF,    1, 0) /* `value` splatted to the node's shape */
X(STATE,     "state",     0, LEAF,    1, 0) /* optimizer state tensor `slot`; scalar form: element `index` */
X(HYPER,     "hyper",     0, LEAF,    1, 0) /* a per-step scalar the kernel computes: Hyper `slot` */
X(CARRY,     "carry",     0, LEAF,    1, 0) /* NAME_train's carried first-layer pre-activation (carry.c); scalar: element `index` */
X(NEXT,      "next",      0, LEAF,    1, 0) /* the next batch's inputs x'[B,IN] (carry.c); scalar form: x'[index] */
X(GRADIENT,  "gradient",  0, LEAF,    1, 0) /* NAME_apply's given gradient of parameter `slot` (apply.c); scalar: element `index` */
/* elementwise, operands of the node's shape */
X(ADD,       "add",       2, ELEM,    3, 1) /* a + b */
X(SUB,       "sub",       2, ELEM,    3, 1) /* a - b */
X(MUL,       "mul",       2, ELEM,    4, 1) /* a * b */
X(DIV,       "div",       2, ELEM,   12, 1) /* a / b */
X(NEG,       "neg",       1, ELEM,    1, 1) /* -a */
X(MAX,       "max",       2, ELEM,    1, 1) /* a < b ? b : a  (a NaN in a propagates, as torch.relu) */
X(GT,        "gt",        2, MASK,    4, 1) /* a > b, a bool mask */
X(EQ,        "eq",        2, MASK,    4, 1) /* a == b, a bool mask */
X(EXP,       "exp",       1, ELEM,   20, 0) /* e^a */
X(LOG,       "log",       1, ELEM,   20, 0) /* natural logarithm */
X(TANH,      "tanh",      1, ELEM,   20, 0) /* hyperbolic tangent */
X(SIGMOID,   "sigmoid",   1, ELEM,   20, 0) /* 1 / (1 + e^-a) */
X(ABS,       "abs",       1, ELEM,    1, 0) /* |a| */
X(SQRT,      "sqrt",      1, ELEM,   12, 0) /* square root */
X(SELECT,    "select",    3, SELECT,  1, 1) /* c ? a : b, c a bool mask */
X(FMA,       "fma",       3, ELEM,    1, 1) /* a * b + c rounded once, as C's fmaf (only --reassociate makes it) */
/* shape ops (tensor form only; scalarization removes them) */
X(MATMUL,    "matmul",    2, TENSOR,  1, 0) /* [m,k] x [k,n] -> [m,n], sums over k in order */
X(TRANSPOSE, "transpose", 1, TENSOR,  1, 0) /* [m,n] -> [n,m] */
X(BCAST,     "bcast",     1, TENSOR,  1, 0) /* [n] -> [m,n]: repeat a row m times */
X(SUMROWS,   "sumrows",   1, TENSOR,  1, 0) /* [m,n] -> [n]: sum over the rows, in row order */
X(SUMALL,    "sumall",    1, TENSOR,  1, 0) /* any shape -> scalar: sum of all elements in order */
X(SPLAT,     "splat",     1, TENSOR,  1, 0) /* scalar -> the node's shape, every element the same */
X(ONEHOT,    "onehot",    1, TENSOR,  1, 0) /* [m,1] class indices -> [m,n] rows of 0 and 1; n is `index` */
X(SOFTMAX,   "softmax",   1, TENSOR,  1, 0) /* [m,n] -> [m,n]: each row's exp(a - max) / sum */
X(LOGSOFTMAX,"logsoftmax",1, TENSOR,  1, 0) /* [m,n] -> [m,n]: each row's a - max - log(sum(exp(a - max))) */
X(BCE,       "bce",       2, TENSOR,  1, 0) /* [m,n] probabilities y, targets t -> scalar: torch's BCELoss,
                                               the sum of (t - 1) max(log(1 - y), -100) - t max(log y, -100)
                                               in order, divided by `index` (the mean's count; 1 for a sum);
                                               its gradient torch's (grad.c) */
