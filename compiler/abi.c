/* abi.c: what both backends compute outside the kernels' IR, as data.
 *
 * emit_c.c and emit_llvm.c render these; neither decides them.
 *
 *  - The per-step hyperparameters (HYPER leaves): each is a small formula in
 *    double over the step's learning rate and step counter, cast to the
 *    kernel's precision at the end.  hyper_formula() gives it as a list of
 *    nodes, operands before their users, the value last.
 *  - NAME_init's random stream: splitmix64 (an increment, then xor-shift and
 *    multiply rounds), and a uniform draw from its top INIT_BITS bits.
 *  - The runtime descriptor's contents (netrt_model): its tensor tables and
 *    sizes, in the order netrt.h lays them out.
 */
#include "netc.h"

#include <math.h>
#include <stdlib.h>

static int hx(HyperFormula *f, HxOp op, int a, int b, double c) {
    if (f->n == HYPER_MAX_NODES)
        die("hyper_formula: more than %d nodes", HYPER_MAX_NODES);
    f->e[f->n] = (Hx){.op = op, .a = a, .b = b, .c = c};
    return f->n++;
}

/* 1 - beta^(step + 1): Adam's bias correction for the step about to be taken. */
static int bias_correction(HyperFormula *f, double beta) {
    int one = hx(f, HX_ONE, -1, -1, 1.0), b = hx(f, HX_CONST, -1, -1, beta);
    int t = hx(f, HX_STEP1, -1, -1, 0);
    return hx(f, HX_SUB, one, hx(f, HX_POW, b, t, 0), 0);
}

HyperFormula hyper_formula(const Optimizer *o, Hyper h) {
    HyperFormula f = {0};
    switch (h) {
    case HY_LR:
        hx(&f, HX_LR, -1, -1, 0);
        break;
    case HY_FIRST:
        hx(&f, HX_FIRST, -1, -1, 0);
        break;
    case HY_STEP_SIZE: { /* lr / (1 - beta1^t) */
        int lr = hx(&f, HX_LR, -1, -1, 0);
        hx(&f, HX_DIV, lr, bias_correction(&f, o->beta1), 0);
        break;
    }
    case HY_BC2_SQRT: /* sqrt(1 - beta2^t) */
        hx(&f, HX_SQRT, bias_correction(&f, o->beta2), -1, 0);
        break;
    case HY_DECAY: { /* 1 - lr * weight_decay */
        int lr = hx(&f, HX_LR, -1, -1, 0), one = hx(&f, HX_ONE, -1, -1, 1.0);
        int wd = hx(&f, HX_CONST, -1, -1, o->weight_decay);
        hx(&f, HX_SUB, one, hx(&f, HX_MUL, lr, wd, 0), 0);
        break;
    }
    case HY_COUNT:
        die("hyper_formula: %d", (int)h);
    }
    return f;
}

/* splitmix64 (Steele, Lea, Flood 2014), as the C writes it:
 *   z = (s += INIT_INCREMENT); z = (z ^ z >> 30) * M1; z = (z ^ z >> 27) * M2; z ^ z >> 31 */
const uint64_t init_increment = 0x9e3779b97f4a7c15u;
const MixRound init_mix[INIT_ROUNDS] = {{30, 0xbf58476d1ce4e5b9u}, {27, 0x94d049bb133111ebu}, {31, 0}};

/* torch.nn.Linear's bound 1/sqrt(fan_in), rounded to float as the C's literal is. */
double init_bound(const Param *p) { return (float)(1.0 / sqrt((double)p->fan_in)); }

Descriptor model_descriptor(const Model *m) {
    Descriptor d = {
        .n_in = (size_t)m->input,
        .n_out = (size_t)m->layers[m->nlayers - 1].out,
        .n_target = (size_t)model_targets(m),
        .batch = (size_t)m->batch,
        .lr = (float)m->opt.lr,
        .hash = m->hash,
        .ntensors = m->nparams,
        .nstates = m->nstates,
        .tensors = xcalloc((size_t)m->nparams, sizeof(DescTensor)),
        .states = xcalloc((size_t)m->nstates + 1, sizeof(DescTensor)),
    };
    for (int i = 0; i < m->nparams; i++) {
        const Param *p = &m->params[i];
        d.tensors[i] = (DescTensor){p->name, p->cname, p->rows, p->cols};
    }
    for (int i = 0; i < m->nstates; i++) {
        const State *st = &m->states[i];
        const Param *p = &m->params[st->param];
        d.states[i] = (DescTensor){st->name, st->cname, p->rows, p->cols};
    }
    return d;
}

void descriptor_free(Descriptor *d) {
    free(d->tensors);
    free(d->states);
    d->tensors = d->states = NULL;
}
