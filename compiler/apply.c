/* apply.c: NAME_apply's own graph, the optimizer's update alone.
 *
 * NAME_step computes the gradient and updates the parameters in one body.
 * A data-parallel runtime needs the two apart: each process computes the
 * gradient of its part of a batch (NAME_grad), the gradients are summed
 * between the processes, and every process applies the same update
 * (NAME_apply).  apply_build copies the update out of the full tensor
 * graph: the cone of each parameter's ROOT_UPDATE and ROOT_STATE roots,
 * with that parameter's gradient (its ROOT_GRAD node) replaced by a
 * GRADIENT leaf, which the kernel reads from its argument g.
 *
 * The update is the same operations on the same values: simplify only
 * makes rewrites that keep every value's bits, so NAME_grad followed by
 * NAME_apply is NAME_step bit for bit (tests/apply).  main.c schedules the
 * graph without --reassociate, so NAME_apply is always torch's update
 * operation for operation; with --reassociate NAME_step may fold the update
 * into the gradient's last product and round otherwise.
 */
#include "netc.h"

#include <stdlib.h>
#include <string.h>

typedef struct Copy {
    const Graph *g;
    const Model *m;
    Graph *a;
    int *map;  /* node of g -> node of a, -1 not copied yet (per parameter) */
    int grad;  /* the parameter's gradient node in g */
    int slot;  /* the parameter */
} Copy;

static int copy(Copy *c, int id) {
    if (c->map[id] >= 0)
        return c->map[id];
    Node n = c->g->node[id];
    int r;
    if (id == c->grad && n.op != OP_CONST) {
        c->a->at = (Origin){.layer = n.layer, .phase = PH_UPDATE, .loc = n.loc}; /* a constant gradient stays one: the same on every process */
        r = ir_named(c->a, ir_leaf(c->a, OP_GRADIENT, n.type, c->slot, -1),
                     n.name ? n.name : name_adjoint(c->m->params[c->slot].name));
    } else {
        if (n.op == OP_INPUT || n.op == OP_TARGET || n.op == OP_CARRY || n.op == OP_NEXT)
            die("apply: the update of %s reads the data besides its gradient", c->m->params[c->slot].name);
        for (int i = 0; i < 3; i++)
            if (n.arg[i] >= 0)
                n.arg[i] = copy(c, n.arg[i]);
        c->a->at = (Origin){.layer = n.layer, .phase = n.phase, .loc = n.loc};
        r = ir_node(c->a, n);
        if (n.name)
            ir_named(c->a, r, n.name);
    }
    return c->map[id] = r;
}

void apply_build(const Graph *g, const Model *m, Graph *a) {
    graph_init(a, false);
    a->f64 = g->f64;
    Copy c = {.g = g, .m = m, .a = a, .map = xmalloc(sizeof(int) * (size_t)g->n), .slot = -1};
    for (int r = 0; r < g->nroot; r++) { /* in g's order, so the stores are NAME_step's */
        const Root *rt = &g->root[r];
        if (rt->kind != ROOT_UPDATE && rt->kind != ROOT_STATE)
            continue;
        int p = rt->kind == ROOT_UPDATE ? rt->slot : m->states[rt->slot].param;
        if (p != c.slot) { /* another parameter: its own gradient, a fresh map */
            c.slot = p, c.grad = -1;
            for (int q = 0; q < g->nroot; q++)
                if (g->root[q].kind == ROOT_GRAD && g->root[q].slot == p)
                    c.grad = g->root[q].node;
            if (c.grad < 0)
                die("apply: %s is updated without a gradient", m->params[p].name);
            memset(c.map, -1, sizeof(int) * (size_t)g->n);
        }
        ir_root(a, rt->kind, rt->slot, rt->index, copy(&c, rt->node));
    }
    free(c.map);
}
