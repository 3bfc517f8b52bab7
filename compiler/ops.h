/* ops.h: the closed set of primitive IR operations, declared once.
 *
 * Each row is X(ENUM, "name", arity).  The enum (netc.h), the printer's names
 * and the verifier's arity checks all come from this table, so an op is added
 * in exactly one place.  Layers (linear, relu, mse, ...) are not ops: lowering
 * spells them with these primitives.
 */
/* leaves */
X(INPUT,     "input",     0) /* the batch of inputs x[B,IN]; scalar form: x[index] */
X(TARGET,    "target",    0) /* the batch of targets t[B,OUT]; scalar form: t[index] */
X(PARAM,     "param",     0) /* parameter tensor `slot`; scalar form: element `index` */
X(CONST,     "const",     0) /* `value` splatted to the node's shape */
X(STATE,     "state",     0) /* optimizer state tensor `slot`; scalar form: element `index` */
X(HYPER,     "hyper",     0) /* a per-step scalar the kernel computes: Hyper `slot` */
X(CARRY,     "carry",     0) /* NAME_train's carried first-layer pre-activation (carry.c); scalar: element `index` */
X(NEXT,      "next",      0) /* the next batch's inputs x'[B,IN] (carry.c); scalar form: x'[index] */
/* elementwise, operands of the node's shape */
X(ADD,       "add",       2) /* a + b */
X(SUB,       "sub",       2) /* a - b */
X(MUL,       "mul",       2) /* a * b */
X(DIV,       "div",       2) /* a / b */
X(NEG,       "neg",       1) /* -a */
X(MAX,       "max",       2) /* a < b ? b : a  (a NaN in a propagates, as torch.relu) */
X(GT,        "gt",        2) /* a > b, a bool mask */
X(EQ,        "eq",        2) /* a == b, a bool mask */
X(EXP,       "exp",       1) /* e^a */
X(LOG,       "log",       1) /* natural logarithm */
X(TANH,      "tanh",      1) /* hyperbolic tangent */
X(SIGMOID,   "sigmoid",   1) /* 1 / (1 + e^-a) */
X(ABS,       "abs",       1) /* |a| */
X(SQRT,      "sqrt",      1) /* square root */
X(SELECT,    "select",    3) /* c ? a : b, c a bool mask */
X(FMA,       "fma",       3) /* a * b + c rounded once, as C's fmaf (only --reassociate makes it) */
/* shape ops (tensor form only; scalarization removes them) */
X(MATMUL,    "matmul",    2) /* [m,k] x [k,n] -> [m,n], sums over k in order */
X(TRANSPOSE, "transpose", 1) /* [m,n] -> [n,m] */
X(BCAST,     "bcast",     1) /* [n] -> [m,n]: repeat a row m times */
X(SUMROWS,   "sumrows",   1) /* [m,n] -> [n]: sum over the rows, in row order */
X(SUMALL,    "sumall",    1) /* any shape -> scalar: sum of all elements in order */
X(SPLAT,     "splat",     1) /* scalar -> the node's shape, every element the same */
X(ONEHOT,    "onehot",    1) /* [m,1] class indices -> [m,n] rows of 0 and 1; n is `index` */
X(SOFTMAX,   "softmax",   1) /* [m,n] -> [m,n]: each row's exp(a - max) / sum */
X(LOGSOFTMAX,"logsoftmax",1) /* [m,n] -> [m,n]: each row's a - max - log(sum(exp(a - max))) */
