/* optim.c: the optimizer's update, as IR.
 *
 * The update is part of the graph, so the emitted step function is complete
 * and the runtime only loops.  Each optimizer is written as torch.optim's
 * single-tensor code (PyTorch 1.13) computes it, operation for operation:
 *   sgd:   d = g + wd p;  b = first ? d : mu b + (1 - dampening) d;
 *          d = nesterov ? d + mu b : b;  p' = p - lr d
 *   adam:  g = g + wd p;  m' = beta1 m + (1 - beta1) g;
 *          v' = beta2 v + ((1 - beta2) g) g;
 *          p' = p + (-step_size m') / (sqrt(v') / bc2_sqrt + eps)
 *   adamw: as adam on p * (1 - lr wd), without wd in g.
 * Scalars torch computes in double (1 - beta, lr / bias correction) are
 * computed in double and rounded once, as torch passes them to its kernels.
 * Per-step scalars are HYPER leaves that the emitter computes from the
 * optim struct, so the learning rate can change without recompiling.
 */
#include "netc.h"

#include <stdlib.h>

typedef struct Upd {
    Graph *g;
    const Model *m;
    Type t; /* the parameter's type */
} Upd;

static int splat(Upd *u, int scalar) {
    Type t = u->t;
    t.dt = u->g->node[scalar].type.dt;
    return ir_splat(u->g, scalar, t);
}

static int hyper(Upd *u, Hyper h) {
    Type t = type_f32(0, 1, 1);
    if (h == HY_FIRST)
        t.dt = DT_BOOL;
    return splat(u, ir_named(u->g, ir_leaf(u->g, OP_HYPER, t, h, -1), hyper_name[h]));
}

static int c(Upd *u, double v) { return ir_const(u->g, u->t, v); }
static int add(Upd *u, int a, int b) { return ir_op(u->g, OP_ADD, a, b, -1); }
static int mul(Upd *u, int a, int b) { return ir_op(u->g, OP_MUL, a, b, -1); }

static int state_of(const Model *m, int param, StateKind kind) {
    for (int s = 0; s < m->nstates; s++)
        if (m->states[s].param == param && m->states[s].kind == kind)
            return s;
    die("no %d state for parameter %s", kind, m->params[param].name);
}

static int state(Upd *u, int s) {
    return ir_named(u->g, ir_leaf(u->g, OP_STATE, u->t, s, -1), u->m->states[s].name + 6);
}

static void new_state(Upd *u, int s, int value) {
    ir_root(u->g, ROOT_STATE, s, -1, ir_named(u->g, value, name_updated(u->m->states[s].name + 6)));
}

static int sgd(Upd *u, int slot, int w, int d) {
    const Optimizer *o = &u->m->opt;
    if (o->weight_decay != 0)
        d = add(u, d, mul(u, c(u, o->weight_decay), w));
    if (o->momentum != 0) {
        int s = state_of(u->m, slot, ST_MOMENTUM);
        int buf = add(u, mul(u, state(u, s), c(u, o->momentum)), mul(u, c(u, 1.0 - o->dampening), d));
        buf = ir_op(u->g, OP_SELECT, hyper(u, HY_FIRST), d, buf);
        new_state(u, s, buf);
        d = o->nesterov ? add(u, d, mul(u, c(u, o->momentum), buf)) : buf;
    }
    return ir_op(u->g, OP_SUB, w, mul(u, hyper(u, HY_LR), d), -1);
}

static int adam(Upd *u, int slot, int w, int d) {
    const Optimizer *o = &u->m->opt;
    Graph *g = u->g;
    if (o->kind == OPT_ADAMW) {
        if (o->weight_decay != 0)
            w = mul(u, w, hyper(u, HY_DECAY));
    } else if (o->weight_decay != 0) {
        d = add(u, d, mul(u, c(u, o->weight_decay), w));
    }
    int sm = state_of(u->m, slot, ST_EXP_AVG), sv = state_of(u->m, slot, ST_EXP_AVG_SQ);
    int m1 = add(u, mul(u, state(u, sm), c(u, o->beta1)), mul(u, c(u, 1.0 - o->beta1), d));
    int v1 = add(u, mul(u, state(u, sv), c(u, o->beta2)), mul(u, mul(u, c(u, 1.0 - o->beta2), d), d));
    new_state(u, sm, m1);
    new_state(u, sv, v1);
    int denom = add(u, ir_op(g, OP_DIV, ir_op(g, OP_SQRT, v1, -1, -1), hyper(u, HY_BC2_SQRT), -1),
                    c(u, o->eps));
    int step = mul(u, ir_op(g, OP_NEG, hyper(u, HY_STEP_SIZE), -1, -1), m1);
    return add(u, w, ir_op(g, OP_DIV, step, denom, -1));
}

void optim_build(Graph *g, const Model *m) {
    int nroot = g->nroot;
    for (int r = 0; r < nroot; r++) {
        Root gr = g->root[r];
        if (gr.kind != ROOT_GRAD)
            continue;
        const Param *p = &m->params[gr.slot];
        Upd u = {g, m, g->node[gr.node].type};
        g->at = (Origin){.layer = p->layer, .phase = PH_UPDATE, .loc = m->opt.loc};
        int w = ir_leaf(g, OP_PARAM, u.t, gr.slot, -1);
        int next = -1;
        switch (m->opt.kind) {
        case OPT_SGD:
            next = sgd(&u, gr.slot, w, gr.node);
            break;
        case OPT_ADAM:
        case OPT_ADAMW:
            next = adam(&u, gr.slot, w, gr.node);
            break;
        }
        ir_root(g, ROOT_UPDATE, gr.slot, -1, ir_named(g, next, name_updated(p->name)));
    }
}
