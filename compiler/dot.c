/* dot.c: the IR as a Graphviz graph (--emit=dot, and --print-after with it).
 *
 * One node per IR node and one per root, in the graph's order; the forward
 * pass (and loss), the backward pass and the optimizer update in three
 * colours; one cluster per layer labelled with its YAML line, one for the
 * loss; parameters are boxes, optimizer state cylinders, data (inputs,
 * targets) inverted houses, per-step hyperparameters diamonds, constants
 * plain text, operations ellipses and roots octagons.  Each edge carries the
 * shape of the value it moves.  Render with `dot -Tsvg`.
 */
#include "netc.h"

#include <string.h>

static const char *const phase_label[] = {"forward", "backward", "update"};
static const char *const phase_color[] = {"#1f5fa8", "#b8332b", "#2e8540"};
static const char *const phase_fill[] = {"#dce8f7", "#f8dcda", "#dcf0e0"};

static bool is_data(Op op) { return op == OP_INPUT || op == OP_TARGET || op == OP_NEXT; }

/* In no cluster: the data, and the optimizer's glue. */
static bool outside(const Node *n) { return is_data(n->op) || (n->layer < 0 && n->phase == PH_UPDATE); }

/* s with " and \ escaped for a dot string. */
static void put_escaped(FILE *out, const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
}

static const char *shape_text(Type t) {
    if (t.rank == 0)
        return t.dt == DT_BOOL ? "bool" : "scalar";
    if (t.rank == 1)
        return format("%s[%d]", t.dt == DT_BOOL ? "bool" : "", t.dim[0]);
    return format("%s[%d,%d]", t.dt == DT_BOOL ? "bool" : "", t.dim[0], t.dim[1]);
}

static const char *node_shape(Op op) {
    switch (op) {
    case OP_PARAM: return "box";
    case OP_STATE: return "cylinder";
    case OP_INPUT: case OP_TARGET: case OP_NEXT: return "invhouse";
    case OP_HYPER: return "diamond";
    case OP_CONST: return "plaintext";
    case OP_CARRY: return "box3d";
    default: return "ellipse";
    }
}

static const char *node_label(const Graph *g, const Model *m, int i) {
    const Node *n = &g->node[i];
    const char *idx = g->scalar ? format("[%d]", n->index) : "";
    switch (n->op) {
    case OP_PARAM: return format("%s%s", m->params[n->slot].name, idx);
    case OP_STATE: return format("%s%s", m->states[n->slot].name, idx);
    case OP_HYPER: return hyper_name[n->slot];
    case OP_CONST: return format(g->f64 ? "%.17g" : "%.9g", n->value);
    case OP_CARRY: return format("carry %s.z%s", m->layers[0].name, idx);
    case OP_INPUT: return format("x%s", idx);
    case OP_TARGET: return format("t%s", idx);
    case OP_NEXT: return format("next x%s", idx);
    default: return n->name ? format("%s\n%s", op_name[n->op], n->name) : op_name[n->op];
    }
}

static void put_node(FILE *out, const Graph *g, const Model *m, int i, const char *indent) {
    const Node *n = &g->node[i];
    fprintf(out, "%sn%d [label=\"", indent, i);
    put_escaped(out, node_label(g, m, i));
    fprintf(out, "\", shape=%s, color=\"%s\", fontcolor=\"%s\"", node_shape(n->op), phase_color[n->phase],
            phase_color[n->phase]);
    if (n->op != OP_CONST)
        fprintf(out, ", style=\"filled%s\", fillcolor=\"%s\"", n->op == OP_PARAM || n->op == OP_STATE ? ",bold" : "",
                phase_fill[n->phase]);
    fprintf(out, ", tooltip=\"%%%d %s, %s\"];\n", i, op_name[n->op], phase_label[n->phase]);
}

static const char *root_label(const Root *r, const Model *m) {
    switch (r->kind) {
    case ROOT_GRAD: return format("grad %s", m->params[r->slot].name);
    case ROOT_UPDATE: return format("new %s", m->params[r->slot].name);
    case ROOT_STATE: return format("new %s", m->states[r->slot].name);
    case ROOT_CARRY: case ROOT_CARRY_INIT: return format("%s %s.z", root_name[r->kind], m->layers[0].name);
    default: return root_name[r->kind];
    }
}

void dot_print(FILE *out, const Graph *g, const Model *m, const char *title) {
    fprintf(out, "digraph \"%s\" {\n", m->name);
    fputs("  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=12, labelloc=t, label=\"", out);
    put_escaped(out, format("%s: %s of %s, %s\nforward pass and loss in blue, backward pass in red, "
                            "optimizer update in green;\nparameters are boxes, optimizer state cylinders, data "
                            "inverted houses, edges the shapes they carry",
                            m->name, title, m->file, g->scalar ? "scalar form" : "tensor form"));
    fputs("\"];\n  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=8, "
          "color=\"#555555\", fontcolor=\"#555555\"];\n",
          out);
    /* a cluster per layer, then the loss's, then what belongs to none */
    for (int l = -1; l < m->nlayers; l++) {
        bool any = false;
        for (int i = 0; i < g->n && !any; i++)
            any = g->node[i].layer == l && !outside(&g->node[i]);
        if (!any)
            continue;
        if (l >= 0) {
            const Layer *ly = &m->layers[l];
            int in = l ? m->layers[l - 1].out : m->input;
            fprintf(out, "  subgraph cluster_%d {\n    label=\"", l);
            put_escaped(out, format("%s: linear %d -> %d%s%s%s\n%s:%d:%d", ly->name, in, ly->out,
                                    ly->act ? ", " : "", ly->act ? act_name[ly->act] : "",
                                    ly->trainable ? "" : ", frozen", m->file, ly->loc.line, ly->loc.col));
        } else {
            fputs("  subgraph cluster_loss {\n    label=\"", out);
            put_escaped(out, format("loss: %s%s%s", loss_name[m->loss], m->loss_sum ? " (sum)" : " (mean)",
                                    m->loss_loc.line ? format("\n%s:%d:%d", m->file, m->loss_loc.line,
                                                              m->loss_loc.col)
                                                     : ""));
        }
        fputs("\";\n    style=rounded; color=\"#999999\"; fontcolor=\"#333333\";\n", out);
        for (int i = 0; i < g->n; i++)
            if (g->node[i].layer == l && !outside(&g->node[i]))
                put_node(out, g, m, i, "    ");
        fputs("  }\n", out);
    }
    for (int i = 0; i < g->n; i++)
        if (outside(&g->node[i]) || g->node[i].layer >= m->nlayers)
            put_node(out, g, m, i, "  ");
    for (int r = 0; r < g->nroot; r++) {
        const Root *rt = &g->root[r];
        Phase ph = rt->kind == ROOT_GRAD ? PH_BACKWARD
                   : rt->kind == ROOT_UPDATE || rt->kind == ROOT_STATE ? PH_UPDATE
                                                                       : PH_FORWARD;
        fprintf(out, "  r%d [label=\"", r);
        put_escaped(out, format("%s%s", root_label(rt, m), g->scalar && rt->index >= 0 ? format("[%d]", rt->index) : ""));
        fprintf(out, "\", shape=octagon, color=\"%s\", fontcolor=\"%s\", tooltip=\"root\"];\n", phase_color[ph],
                phase_color[ph]);
    }
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->node[i];
        for (int a = 0; a < op_info[n->op].arity; a++) {
            const Node *arg = &g->node[n->arg[a]];
            fprintf(out, "  n%d -> n%d [label=\"%s\", color=\"%s\"];\n", n->arg[a], i, shape_text(arg->type),
                    phase_color[n->phase]);
        }
    }
    for (int r = 0; r < g->nroot; r++)
        fprintf(out, "  n%d -> r%d [label=\"%s\"];\n", g->root[r].node, r, shape_text(g->node[g->root[r].node].type));
    fputs("}\n", out);
}
