/* ir.c: the IR graph: builder with hash-consing, printer, verifier.
 *
 * A graph is one append-only array of nodes referenced by index.  Operands
 * always have smaller indices than their users, so array order is a
 * topological order and reverse-mode AD walks it backwards.  ir_node()
 * returns the existing id when an identical node (same op, type, operands and
 * attributes) exists: common subexpressions are merged as they are built, and
 * the numbering depends only on the order of construction, never on pointers.
 */
#include "netc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const OpInfo op_info[OP_COUNT] = {
#define X(e, s, n, kind, lat, lanes, exact, cf, c, prec, cvec, llf, ll) \
    {s, n, OPK_##kind, lat, lanes, exact, C_##cf, c, prec, cvec, LL_##llf, ll},
#include "ops.h"
#undef X
};

const char *const op_name[OP_COUNT] = {
#define X(e, s, ...) s,
#include "ops.h"
#undef X
};

const char *const root_name[7] = {"output", "loss", "grad", "update", "state", "carry", "carry_init"};

bool ir_is_leaf(Op op) { return op_info[op].arity == 0; }
const char *const hyper_name[HY_COUNT] = {"lr", "first_step", "adam_step_size", "adam_bc2_sqrt",
                                          "adamw_decay"};

void graph_init(Graph *g, bool scalar) {
    memset(g, 0, sizeof *g);
    g->scalar = scalar;
    g->at.layer = -1;
}

void graph_free(Graph *g) {
    free(g->node);
    free(g->hash);
    free(g->root);
    memset(g, 0, sizeof *g);
}

Type type_f32(int rank, int d0, int d1) {
    Type t = {DT_F32, rank, {rank > 0 ? d0 : 1, rank > 1 ? d1 : 1}};
    return t;
}

int type_numel(Type t) { return t.dim[0] * t.dim[1]; }

bool type_eq(Type a, Type b) {
    return a.dt == b.dt && a.rank == b.rank && a.dim[0] == b.dim[0] && a.dim[1] == b.dim[1];
}

static uint64_t node_hash(const Node *n) {
    uint64_t bits;
    memcpy(&bits, &n->value, sizeof bits);
    uint64_t h = 1469598103934665603u;
    int64_t key[] = {n->op, n->type.dt, n->type.rank, n->type.dim[0], n->type.dim[1],
                     n->arg[0], n->arg[1], n->arg[2], bits, n->slot, n->index};
    for (size_t i = 0; i < sizeof key / sizeof key[0]; i++)
        h = (h ^ (uint64_t)key[i]) * 1099511628211u;
    return h;
}

static bool node_same(const Node *a, const Node *b) {
    return a->op == b->op && type_eq(a->type, b->type) && a->arg[0] == b->arg[0] &&
           a->arg[1] == b->arg[1] && a->arg[2] == b->arg[2] &&
           memcmp(&a->value, &b->value, sizeof a->value) == 0 && a->slot == b->slot &&
           a->index == b->index;
}

static void rehash(Graph *g) {
    free(g->hash);
    g->hcap = g->hcap ? g->hcap * 2 : 1024;
    g->hash = xmalloc(sizeof(int) * (size_t)g->hcap);
    memset(g->hash, -1, sizeof(int) * (size_t)g->hcap);
    for (int i = 0; i < g->n; i++) {
        size_t h = node_hash(&g->node[i]) & (size_t)(g->hcap - 1);
        while (g->hash[h] >= 0)
            h = (h + 1) & (size_t)(g->hcap - 1);
        g->hash[h] = i;
    }
}

int ir_lookup(const Graph *g, Node n) {
    for (int i = op_info[n.op].arity; i < 3; i++)
        n.arg[i] = -1;
    if (!g->hcap)
        return -1;
    size_t h = node_hash(&n) & (size_t)(g->hcap - 1);
    for (; g->hash[h] >= 0; h = (h + 1) & (size_t)(g->hcap - 1))
        if (node_same(&g->node[g->hash[h]], &n))
            return g->hash[h];
    return -1;
}

/* Adds n (operands, type and attributes set; origin taken from g->at) or
 * returns the id of an identical node. */
int ir_node(Graph *g, Node n) {
    for (int i = 0; i < op_info[n.op].arity; i++)
        if (n.arg[i] < 0 || n.arg[i] >= g->n)
            die("%s: operand %d is %d, outside the graph", op_name[n.op], i, n.arg[i]);
    for (int i = op_info[n.op].arity; i < 3; i++)
        n.arg[i] = -1;
    if (g->scalar && n.type.rank != 0)
        die("%s: tensor node in a scalar graph", op_name[n.op]);
    if (2 * (g->n + 1) > g->hcap)
        rehash(g);
    size_t h = node_hash(&n) & (size_t)(g->hcap - 1);
    for (; g->hash[h] >= 0; h = (h + 1) & (size_t)(g->hcap - 1))
        if (node_same(&g->node[g->hash[h]], &n))
            return g->hash[h];
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 256;
        g->node = xrealloc(g->node, sizeof(Node) * (size_t)g->cap);
    }
    n.layer = g->at.layer;
    n.phase = g->at.phase;
    n.loc = g->at.loc;
    n.name = NULL;
    n.ebase = NULL;
    g->hash[h] = g->n;
    g->node[g->n] = n;
    return g->n++;
}

static Type infer(const Graph *g, Op op, int a, int b, int c, int rows) {
    Type ta = g->node[a].type, tb = b >= 0 ? g->node[b].type : ta;
    Type t = ta;
    switch (op_info[op].kind) {
    case OPK_LEAF:
        die("%s is not an operation", op_name[op]);
    case OPK_ELEM:
    case OPK_MASK:
        for (int i = 1; i < op_info[op].arity; i++)
            if (!type_eq(ta, g->node[i == 1 ? b : c].type))
                die("%s: operand types differ", op_name[op]);
        if (ta.dt != DT_F32)
            die("%s: operand is not f32", op_name[op]);
        if (op_info[op].kind == OPK_MASK)
            t.dt = DT_BOOL;
        return t;
    case OPK_SELECT:
        if (ta.dt != DT_BOOL || !type_eq(tb, g->node[c].type) || tb.dt != DT_F32 ||
            tb.dim[0] != ta.dim[0] || tb.dim[1] != ta.dim[1])
            die("%s: operand types differ", op_name[op]);
        return tb;
    case OPK_TENSOR:
        break;
    }
    switch (op) { /* the shape ops */
    case OP_SOFTMAX: case OP_LOGSOFTMAX:
        if (ta.rank != 2)
            die("%s: operand of rank %d", op_name[op], ta.rank);
        return t;
    case OP_ONEHOT:
        if (ta.rank != 2 || ta.dim[1] != 1)
            die("onehot: operand is not a column");
        return type_f32(2, ta.dim[0], rows);
    case OP_MATMUL:
        if (ta.rank != 2 || tb.rank != 2 || ta.dim[1] != tb.dim[0])
            die("matmul: [%d,%d] x [%d,%d]", ta.dim[0], ta.dim[1], tb.dim[0], tb.dim[1]);
        return type_f32(2, ta.dim[0], tb.dim[1]);
    case OP_TRANSPOSE:
        return type_f32(2, ta.dim[1], ta.dim[0]);
    case OP_BCAST:
        if (ta.rank != 1)
            die("bcast: operand of rank %d", ta.rank);
        return type_f32(2, rows, ta.dim[0]);
    case OP_SUMROWS:
        if (ta.rank != 2)
            die("sumrows: operand of rank %d", ta.rank);
        return type_f32(1, ta.dim[1], 1);
    case OP_SUMALL:
        return type_f32(0, 1, 1);
    case OP_BCE:
        if (ta.rank != 2 || !type_eq(ta, tb) || rows < 1)
            die("bce: operands [%d,%d] and [%d,%d], count %d", ta.dim[0], ta.dim[1], tb.dim[0], tb.dim[1], rows);
        return type_f32(0, 1, 1);
    default:
        die("%s: no type rule for this shape op", op_name[op]);
    }
}

/* Builds an operation node; its type follows from the operands.  For
 * OP_BCAST, c is the number of rows; for OP_ONEHOT, the number of classes;
 * for OP_BCE, the divisor. */
int ir_op(Graph *g, Op op, int a, int b, int c) {
    bool attr = op == OP_BCAST || op == OP_ONEHOT || op == OP_BCE; /* c is an attribute (index) */
    int rows = attr ? c : 0;
    if (attr)
        c = -1;
    Node n = {.op = op, .arg = {a, b, c}, .index = rows};
    n.type = infer(g, op, a, b, c, rows);
    return ir_node(g, n);
}

/* Scalar a repeated to type t. */
int ir_splat(Graph *g, int a, Type t) {
    if (g->node[a].type.rank != 0)
        die("splat: operand of rank %d", g->node[a].type.rank);
    if (t.rank == 0)
        return a;
    Node n = {.op = OP_SPLAT, .type = t, .arg = {a, -1, -1}};
    return ir_node(g, n);
}

/* v in the graph's precision: constants are what the kernels will compute with. */
double ir_round(const Graph *g, double v) { return g->f64 ? v : (double)(float)v; }

int ir_const(Graph *g, Type t, double v) {
    Node n = {.op = OP_CONST, .type = t, .value = ir_round(g, v), .arg = {-1, -1, -1}};
    return ir_node(g, n);
}

int ir_leaf(Graph *g, Op op, Type t, int slot, int index) {
    Node n = {.op = op, .type = t, .slot = slot, .index = index, .arg = {-1, -1, -1}};
    return ir_node(g, n);
}

/* Gives node id a human name unless it already has one; returns id. */
int ir_named(Graph *g, int id, const char *name) {
    if (!g->node[id].name)
        g->node[id].name = name;
    return id;
}

int ir_copy_name(Graph *g, int id, const Node *from) {
    Node *n = &g->node[id];
    if (!n->name && from->name) {
        n->name = from->name;
        n->ebase = from->ebase;
        n->erow = from->erow, n->ecol = from->ecol, n->erows = from->erows, n->ecols = from->ecols;
    }
    return id;
}

int ir_named_element(Graph *g, int id, const char *base, Type t, int k) {
    Node *n = &g->node[id];
    if (n->name || !base || t.rank == 0)
        return ir_named(g, id, base);
    bool row = t.rank == 1 || t.dim[0] == 1; /* a vector, or one sample's row: one index */
    n->ebase = base;
    n->erows = row ? 0 : t.dim[0];
    n->ecols = row ? type_numel(t) : t.dim[1];
    n->erow = row ? -1 : k / t.dim[1];
    n->ecol = row ? k : k % t.dim[1];
    n->name = name_element(base, n->erow, n->ecol);
    return id;
}

void ir_root(Graph *g, RootKind kind, int slot, int index, int node) {
    if (g->nroot == g->rootcap) {
        g->rootcap = g->rootcap ? g->rootcap * 2 : 64;
        g->root = xrealloc(g->root, sizeof(Root) * (size_t)g->rootcap);
    }
    g->root[g->nroot++] = (Root){kind, slot, index, node};
}

bool ir_is_const(const Graph *g, int id, double v) {
    return g->node[id].op == OP_CONST && g->node[id].value == v &&
           signbit(g->node[id].value) == signbit(v);
}

static void print_type(FILE *out, Type t) {
    fputs(t.dt == DT_BOOL ? "bool" : "f32", out);
    if (t.rank == 1)
        fprintf(out, "[%d]", t.dim[0]);
    else if (t.rank == 2)
        fprintf(out, "[%d,%d]", t.dim[0], t.dim[1]);
}

/* One line per node: `%7 = matmul f32[1,3] %3, %5  ; hidden.z (hidden, seed.yaml:6:5)`.
 * Stable: depends only on the graph, so it is the FileCheck surface. */
void ir_print(FILE *out, const Graph *g, const Model *m) {
    static const char *const phase_name[] = {"forward", "backward", "update"};
    int phase = -1;
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->node[i];
        if ((int)n->phase != phase) {
            phase = (int)n->phase;
            fprintf(out, "; %s\n", phase_name[phase]);
        }
        fprintf(out, "%%%d = %s ", i, op_name[n->op]);
        print_type(out, n->type);
        switch (n->op) {
        case OP_CONST:
            fprintf(out, g->f64 ? " %.17g" : " %.9g", n->value);
            break;
        case OP_PARAM:
            fprintf(out, " %s", m->params[n->slot].name);
            if (g->scalar)
                fprintf(out, "[%d]", n->index);
            break;
        case OP_GRADIENT:
            fprintf(out, " d %s", m->params[n->slot].name);
            if (g->scalar)
                fprintf(out, "[%d]", n->index);
            break;
        case OP_STATE:
            fprintf(out, " %s", m->states[n->slot].name);
            if (g->scalar)
                fprintf(out, "[%d]", n->index);
            break;
        case OP_HYPER:
            fprintf(out, " %s", hyper_name[n->slot]);
            break;
        case OP_CARRY:
            fprintf(out, " %s.z", m->layers[0].name);
            if (g->scalar)
                fprintf(out, "[%d]", n->index);
            break;
        case OP_INPUT: case OP_TARGET: case OP_NEXT:
            if (g->scalar)
                fprintf(out, " [%d]", n->index);
            break;
        default:
            for (int a = 0; a < op_info[n->op].arity; a++)
                fprintf(out, "%s%%%d", a ? ", " : " ", n->arg[a]);
        }
        if (n->name || n->loc.line) {
            fputs("  ;", out);
            if (n->name)
                fprintf(out, " %s", n->name);
            if (n->loc.line)
                fprintf(out, " (%s, %s:%d:%d)", n->layer >= 0 ? m->layers[n->layer].name : "loss",
                        m->file, n->loc.line, n->loc.col);
        }
        fputc('\n', out);
    }
    fputs("; roots\n", out);
    for (int i = 0; i < g->nroot; i++) {
        const Root *r = &g->root[i];
        fprintf(out, "%s", root_name[r->kind]);
        if (r->kind == ROOT_GRAD || r->kind == ROOT_UPDATE)
            fprintf(out, " %s", m->params[r->slot].name);
        else if (r->kind == ROOT_STATE)
            fprintf(out, " %s", m->states[r->slot].name);
        else if (r->kind == ROOT_CARRY || r->kind == ROOT_CARRY_INIT)
            fprintf(out, " %s.z", m->layers[0].name);
        if (r->index >= 0)
            fprintf(out, "[%d]", r->index);
        fprintf(out, " = %%%d\n", r->node);
    }
}

/* Checks the structural invariants every pass must keep; a failure is a bug
 * in the pass named by `after`. */
void ir_verify(const Graph *g, const char *after) {
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->node[i];
        if ((unsigned)n->op >= OP_COUNT)
            die("after %s: %%%d has no valid op", after, i);
        for (int a = 0; a < 3; a++) {
            bool want = a < op_info[n->op].arity;
            if (want != (n->arg[a] >= 0) || n->arg[a] >= i)
                die("after %s: %%%d (%s) operand %d is %d", after, i, op_name[n->op], a, n->arg[a]);
        }
        if (g->scalar && n->type.rank != 0)
            die("after %s: %%%d is a tensor in a scalar graph", after, i);
        if (n->op == OP_SPLAT) {
            if (g->node[n->arg[0]].type.rank != 0)
                die("after %s: %%%d splats a tensor", after, i);
        } else if (!ir_is_leaf(n->op)) {
            Type t = infer(g, n->op, n->arg[0], n->arg[1], n->arg[2], n->index);
            if (!type_eq(t, n->type))
                die("after %s: %%%d (%s) has the wrong type", after, i, op_name[n->op]);
        }
    }
    for (int r = 0; r < g->nroot; r++)
        if (g->root[r].node < 0 || g->root[r].node >= g->n)
            die("after %s: root %d points outside the graph", after, r);
}
