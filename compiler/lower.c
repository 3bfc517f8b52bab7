/* lower.c: the model's layers and loss spelled in primitive IR ops.
 *
 * Layers exist only here.  A linear layer is x . W^T + b with W in PyTorch's
 * [out, in] layout.  Activations and losses follow PyTorch's own formulas so
 * that the numbers agree: relu is max(z, 0), leaky_relu selects z or
 * slope*z, sigmoid, tanh and (log)softmax are primitives with PyTorch's
 * gradients, bce is one op (OP_BCE: its logarithms clamped at -100, its
 * gradient torch's, finite where a prediction is exactly 0 or 1), bce_with_logits uses
 * PyTorch's overflow-free form, and cross_entropy is nll of log_softmax.
 * A mean divides the sum by the element count (by the batch for
 * cross_entropy), as torch.nn's losses do.  Every node carries the layer and
 * YAML position it came from.
 */
#include "netc.h"

#include <stdlib.h>
#include <string.h>

const char *const act_name[] = {
#define ACT(e, s) s,
#include "lang.h"
    NULL};
const char *const loss_name[] = {
#define LOSS(e, s) s,
#include "lang.h"
    NULL};
const char *const opt_name[] = {
#define OPT(e, s) s,
#include "lang.h"
    NULL};

int model_outputs(const Model *m) { return m->layers[m->nlayers - 1].out; }

int model_targets(const Model *m) { return m->loss == LOSS_CROSS_ENTROPY ? 1 : model_outputs(m); }

static void add_state(Model *m, int param, StateKind kind) {
    static const char *const what[] = {"momentum_buffer", "exp_avg", "exp_avg_sq"};
    State *s = &m->states[m->nstates++];
    s->param = param;
    s->kind = kind;
    snprintf(s->name, sizeof s->name, "optim.%s.%s", m->params[param].name, what[kind]);
    snprintf(s->cname, sizeof s->cname, "%s_%s", m->params[param].cname, what[kind]);
}

/* Fills m->params (a weight and, unless `bias: false`, a bias per layer, in
 * layer order: NAME_params' member order and PyTorch's state_dict order) and
 * m->states (the optimizer's per-parameter state, trainable ones only). */
void model_params(Model *m) {
    m->params = xcalloc((size_t)(2 * m->nlayers), sizeof(Param));
    m->nparams = 0;
    int in = m->input;
    for (int l = 0; l < m->nlayers; l++) {
        const Layer *L = &m->layers[l];
        Param *w = &m->params[m->nparams++];
        *w = (Param){.layer = l, .rows = L->out, .cols = in, .size = L->out * in, .fan_in = in,
                     .trainable = L->trainable};
        snprintf(w->name, sizeof w->name, "%s.weight", L->name);
        snprintf(w->cname, sizeof w->cname, "%s_weight", L->name);
        if (L->bias) {
            Param *b = &m->params[m->nparams++];
            *b = (Param){.layer = l, .rows = L->out, .size = L->out, .fan_in = in,
                         .trainable = L->trainable};
            snprintf(b->name, sizeof b->name, "%s.bias", L->name);
            snprintf(b->cname, sizeof b->cname, "%s_bias", L->name);
        }
        in = L->out;
    }
    m->states = xcalloc((size_t)(2 * m->nparams + 1), sizeof(State));
    m->nstates = 0;
    for (int p = 0; p < m->nparams; p++) {
        if (!m->params[p].trainable)
            continue;
        switch (m->opt.kind) {
        case OPT_SGD:
            if (m->opt.momentum != 0)
                add_state(m, p, ST_MOMENTUM);
            break;
        case OPT_ADAM:
        case OPT_ADAMW:
            add_state(m, p, ST_EXP_AVG);
            add_state(m, p, ST_EXP_AVG_SQ);
            break;
        }
    }
}

Type param_type(const Param *p) { return type_f32(p->cols ? 2 : 1, p->rows, p->cols); }


static int cnst(Graph *g, int like, double v) { return ir_const(g, g->node[like].type, v); }

static int unary(Graph *g, Op op, int a) { return ir_op(g, op, a, -1, -1); }

static int binary(Graph *g, Op op, int a, int b) { return ir_op(g, op, a, b, -1); }

static int activation(Graph *g, const Layer *L, int z) {
    switch (L->act) {
    case ACT_IDENTITY:
        return z;
    case ACT_RELU:
        return binary(g, OP_MAX, z, cnst(g, z, 0.0f));
    case ACT_SIGMOID:
        return unary(g, OP_SIGMOID, z);
    case ACT_TANH:
        return unary(g, OP_TANH, z);
    case ACT_LEAKY_RELU: /* z > 0 ? z : z * slope, as torch */
        return ir_op(g, OP_SELECT, binary(g, OP_GT, z, cnst(g, z, 0.0f)), z,
                     binary(g, OP_MUL, z, cnst(g, z, L->slope)));
    case ACT_SOFTMAX:
        return unary(g, OP_SOFTMAX, z);
    case ACT_GELU: { /* z * 0.5 * (1 + erf(z * M_SQRT1_2)), in torch's order (nn.GELU, approximate='none') */
        int half = binary(g, OP_MUL, z, cnst(g, z, 0.5));
        int erf = unary(g, OP_ERF, binary(g, OP_MUL, z, cnst(g, z, 0.70710678118654752440))); /* M_SQRT1_2 */
        return binary(g, OP_MUL, half, binary(g, OP_ADD, cnst(g, z, 1.0), erf));
    }
    }
    unreachable();
}

/* The sum over all elements of the loss terms of y against t. */
static int loss_sum(Graph *g, const Model *m, int y, int t) {
    switch (m->loss) {
    case LOSS_MSE: {
        int d = ir_named(g, binary(g, OP_SUB, y, t), "loss.diff");
        return unary(g, OP_SUMALL, binary(g, OP_MUL, d, d));
    }
    case LOSS_L1:
        return unary(g, OP_SUMALL, unary(g, OP_ABS, ir_named(g, binary(g, OP_SUB, y, t), "loss.diff")));
    case LOSS_BCE: /* one op, the reduction included: lower_model */
        break;
    case LOSS_BCE_LOGITS: { /* m = max(-y, 0); (1 - t) y + m + log(e^-m + e^(-y-m)) */
        int one = cnst(g, y, 1.0f), ny = unary(g, OP_NEG, y);
        int mx = binary(g, OP_MAX, ny, cnst(g, y, 0.0f));
        int lse = unary(g, OP_LOG, binary(g, OP_ADD, unary(g, OP_EXP, unary(g, OP_NEG, mx)),
                                          unary(g, OP_EXP, binary(g, OP_SUB, ny, mx))));
        int terms = binary(g, OP_ADD, binary(g, OP_ADD, binary(g, OP_MUL, binary(g, OP_SUB, one, t), y), mx), lse);
        return unary(g, OP_SUMALL, ir_named(g, terms, "loss.terms"));
    }
    case LOSS_CROSS_ENTROPY: { /* -sum(onehot(t) * log_softmax(y)) */
        int ls = ir_named(g, unary(g, OP_LOGSOFTMAX, y), "loss.logp");
        int hot = ir_op(g, OP_ONEHOT, t, -1, model_outputs(m));
        return unary(g, OP_NEG, unary(g, OP_SUMALL, binary(g, OP_MUL, hot, ls)));
    }
    }
    unreachable();
}

void lower_model(const Model *m, Graph *g) {
    const int B = m->batch;
    g->at = (Origin){.layer = -1, .phase = PH_FORWARD};
    int h = ir_named(g, ir_leaf(g, OP_INPUT, type_f32(2, B, m->input), 0, -1), "x");
    int slot = 0;
    for (int l = 0; l < m->nlayers; l++) {
        const Layer *L = &m->layers[l];
        g->at = (Origin){.layer = l, .phase = PH_FORWARD, .loc = L->loc};
        const Param *pw = &m->params[slot];
        int w = ir_named(g, ir_leaf(g, OP_PARAM, param_type(pw), slot, -1), pw->name);
        slot++;
        int z = ir_op(g, OP_MATMUL, h, unary(g, OP_TRANSPOSE, w), -1);
        if (L->bias) {
            const Param *pb = &m->params[slot];
            int b = ir_named(g, ir_leaf(g, OP_PARAM, param_type(pb), slot, -1), pb->name);
            slot++;
            z = binary(g, OP_ADD, z, ir_op(g, OP_BCAST, b, -1, B));
        }
        ir_named(g, z, name_of(L->name, "z"));
        h = activation(g, L, z);
        ir_named(g, h, name_of(L->name, "a"));
    }
    ir_root(g, ROOT_OUTPUT, -1, -1, h);

    g->at = (Origin){.layer = -1, .phase = PH_FORWARD, .loc = m->loss_loc};
    int t = ir_named(g, ir_leaf(g, OP_TARGET, type_f32(2, B, model_targets(m)), 0, -1), "t");
    int loss;
    if (m->loss == LOSS_BCE) { /* an op of its own: torch's gradient, which divides by the count last */
        loss = ir_op(g, OP_BCE, h, t, m->loss_sum ? 1 : B * model_outputs(m));
    } else {
        loss = loss_sum(g, m, h, t);
    }
    if (!m->loss_sum && m->loss != LOSS_BCE) {
        int count = m->loss == LOSS_CROSS_ENTROPY ? B : B * model_outputs(m);
        loss = binary(g, OP_DIV, loss, ir_const(g, type_f32(0, 1, 1), count));
    }
    ir_root(g, ROOT_LOSS, -1, -1, ir_named(g, loss, "loss"));
}
