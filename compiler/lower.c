/* lower.c: the model's layers spelled in primitive IR ops.
 *
 * Layers exist only here.  A linear layer is x . W^T + b with W in PyTorch's
 * [out, in] layout; relu is max(z, 0); the MSE loss is the sum of squared
 * differences divided by their count, as torch.nn.MSELoss(reduction='mean')
 * computes it.  Every node carries the layer and YAML position it came from.
 */
#include "netc.h"

#include <stdlib.h>

#include <string.h>

/* Fills m->params: a weight and a bias per layer, in layer order, which is
 * also the member order of NAME_params and PyTorch's state_dict order. */
void model_params(Model *m) {
    m->nparams = 2 * m->nlayers;
    m->params = xcalloc((size_t)m->nparams, sizeof(Param));
    int in = m->input;
    for (int l = 0; l < m->nlayers; l++) {
        const Layer *L = &m->layers[l];
        Param *w = &m->params[2 * l], *b = &m->params[2 * l + 1];
        *w = (Param){.layer = l, .rows = L->out, .cols = in, .size = L->out * in, .fan_in = in};
        snprintf(w->name, sizeof w->name, "%s.weight", L->name);
        snprintf(w->cname, sizeof w->cname, "%s_weight", L->name);
        *b = (Param){.layer = l, .rows = L->out, .cols = 0, .size = L->out, .fan_in = in};
        snprintf(b->name, sizeof b->name, "%s.bias", L->name);
        snprintf(b->cname, sizeof b->cname, "%s_bias", L->name);
        in = L->out;
    }
}

static const char *vname(const Layer *L, const char *what) {
    return intern(format("%s.%s", L->name, what));
}

void lower_model(const Model *m, Graph *g) {
    const int B = m->batch;
    g->at = (Origin){.layer = -1, .phase = PH_FORWARD};
    int h = ir_named(g, ir_leaf(g, OP_INPUT, type_f32(2, B, m->input), 0, -1), "x");
    for (int l = 0; l < m->nlayers; l++) {
        const Layer *L = &m->layers[l];
        const Param *pw = &m->params[2 * l], *pb = &m->params[2 * l + 1];
        g->at = (Origin){.layer = l, .phase = PH_FORWARD, .loc = L->loc};
        int w = ir_named(g, ir_leaf(g, OP_PARAM, type_f32(2, pw->rows, pw->cols), 2 * l, -1), pw->name);
        int b = ir_named(g, ir_leaf(g, OP_PARAM, type_f32(1, pb->rows, 0), 2 * l + 1, -1), pb->name);
        int xw = ir_op(g, OP_MATMUL, h, ir_op(g, OP_TRANSPOSE, w, -1, -1), -1);
        int z = ir_op(g, OP_ADD, xw, ir_op(g, OP_BCAST, b, -1, B), -1);
        ir_named(g, z, vname(L, "z"));
        switch (L->act) {
        case ACT_IDENTITY:
            h = z;
            break;
        case ACT_RELU:
            h = ir_op(g, OP_MAX, z, ir_const(g, g->node[z].type, 0.0f), -1);
            ir_named(g, h, vname(L, "a"));
            break;
        }
    }
    ir_root(g, ROOT_OUTPUT, -1, -1, h);

    g->at = (Origin){.layer = -1, .phase = PH_FORWARD, .loc = m->loss_loc};
    int t = ir_named(g, ir_leaf(g, OP_TARGET, g->node[h].type, 0, -1), "t");
    int loss = -1;
    switch (m->loss) {
    case LOSS_MSE: {
        int d = ir_named(g, ir_op(g, OP_SUB, h, t, -1), "loss.diff");
        int s = ir_op(g, OP_SUMALL, ir_op(g, OP_MUL, d, d, -1), -1, -1);
        float count = (float)type_numel(g->node[h].type);
        loss = ir_op(g, OP_DIV, s, ir_const(g, type_f32(0, 1, 1), count), -1);
        break;
    }
    }
    ir_root(g, ROOT_LOSS, -1, -1, ir_named(g, loss, "loss"));
}
