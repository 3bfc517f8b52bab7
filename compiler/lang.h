/* lang.h: the model language's named choices, declared once: activations,
 * losses and optimizers, each row its enum constant and its YAML spelling.
 *
 * The enums (netc.h) and the spelling tables the parser reads and the
 * emitters print (act_name, loss_name, opt_name in lower.c) come from these
 * rows, so they cannot drift apart.  What a choice means is code in a switch
 * without a default over its enum, which -Wswitch (an error in the project's
 * builds) refuses to build without: an activation in lower.c's activation();
 * a loss in lower.c's loss_sum(); an optimizer in parse.c's options,
 * lower.c's state tensors and optim.c's update rule.
 *
 * An includer defines the row macros it wants; the others expand to nothing.
 */
#ifndef ACT
#define ACT(e, s)
#endif
#ifndef LOSS
#define LOSS(e, s)
#endif
#ifndef OPT
#define OPT(e, s)
#endif

ACT(IDENTITY,     "identity")        /* a -> a */
ACT(RELU,         "relu")            /* a -> max(a, 0) */
ACT(SIGMOID,      "sigmoid")         /* a -> 1 / (1 + e^-a) */
ACT(TANH,         "tanh")            /* a -> tanh a */
ACT(LEAKY_RELU,   "leaky_relu")      /* a -> a > 0 ? a : slope * a */
ACT(SOFTMAX,      "softmax")         /* each sample's outputs -> exp(a) / sum exp(a); last layer only */
ACT(GELU,         "gelu")            /* a -> a * 0.5 * (1 + erf(a / sqrt 2)), torch's exact (erf) form */

LOSS(MSE,           "mse")             /* squared differences */
LOSS(L1,            "l1")              /* absolute differences */
LOSS(BCE,           "bce")             /* binary cross entropy on probabilities, log clamped at -100 */
LOSS(BCE_LOGITS,    "bce_with_logits") /* binary cross entropy on logits, in the stable form */
LOSS(CROSS_ENTROPY, "cross_entropy")   /* softmax cross entropy on logits, class-index targets */

OPT(SGD,   "sgd")   /* torch.optim.SGD: momentum, dampening, nesterov, weight_decay */
OPT(ADAM,  "adam")  /* torch.optim.Adam */
OPT(ADAMW, "adamw") /* torch.optim.AdamW: decoupled weight decay */

#undef ACT
#undef LOSS
#undef OPT
