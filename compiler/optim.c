/* optim.c: the optimizer's update, as IR.
 *
 * The update is part of the graph, so the emitted step function is complete
 * and the runtime only loops.  SGD: p' = p - lr * g, which is bit for bit
 * what torch.optim.SGD computes (p.add_(g, alpha=-lr)), since -(lr*g) is
 * exact.
 */
#include "netc.h"

#include <stdlib.h>

void optim_build(Graph *g, const Model *m) {
    int nroot = g->nroot;
    for (int r = 0; r < nroot; r++) {
        Root gr = g->root[r];
        if (gr.kind != ROOT_GRAD)
            continue;
        const Param *p = &m->params[gr.slot];
        Type t = g->node[gr.node].type;
        g->at = (Origin){.layer = p->layer, .phase = PH_UPDATE, .loc = m->opt_loc};
        int w = ir_leaf(g, OP_PARAM, t, gr.slot, -1);
        int next = -1;
        switch (m->opt) {
        case OPT_SGD:
            next = ir_op(g, OP_SUB, w, ir_op(g, OP_MUL, ir_const(g, t, m->lr), gr.node, -1), -1);
            break;
        }
        ir_root(g, ROOT_UPDATE, gr.slot, -1, ir_named(g, next, intern(format("new_%s", p->name))));
    }
}
