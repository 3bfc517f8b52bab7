/* parse.c: YAML text -> checked Model.  The only user of libyaml.
 *
 * Two steps.  read_tree() pulls libyaml's events into a small tree of
 * scalars, lists and mappings, each with its 1-based position, and rejects on
 * the way what the model language never uses: anchors, aliases, tags, a
 * second document, nesting deeper than LIMIT_DEPTH (directives such as
 * `%YAML 1.2` are standard YAML and read).  libyaml's
 * own errors (not UTF-8, not YAML) are reported at its problem mark.  Then
 * check_model() walks the tree against the schema with small helpers (a keys
 * table per mapping, expect_int, expect_number, expect_ident, expect_choice)
 * and fills the Model.
 *
 * The language is strict and nothing is guessed: a quoted "5" is a string, a
 * plain 5 a number, a plain ~ or empty value is null, and each rejection is
 * one error_at() line pointing at the offending key (unknown, duplicate) or
 * value (wrong type, out of range).  User text is echoed only through quote().
 */
#include "netc.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ---- the tree ---- */

typedef enum Kind { K_SCALAR, K_SEQ, K_MAP } Kind;

typedef struct YNode YNode;
struct YNode {
    Kind kind;
    Loc loc;      /* where the node starts: its first character */
    bool plain;   /* scalar written without quotes or | >: may be a number */
    char *text;   /* scalar bytes, NUL-terminated (may hold "\0" escapes) */
    size_t len;
    YNode **kid;  /* list: items; mapping: key, value, key, value, ... */
    int n, cap;
};

/* Everything a parse owns, so that fail() can release it before exiting. */
typedef struct Parser {
    const char *path;
    const char *text; /* the input after a UTF-8 byte-order mark, if any */
    size_t len;
    yaml_parser_t yp;
    bool yp_live;
    yaml_event_t ev;
    bool ev_live;
    YNode *root;      /* the document's top node; NULL until one is read */
    Loc doc;          /* where the document starts */
    Model *m;
} Parser;

static void node_free(YNode *n) {
    if (!n)
        return;
    for (int i = 0; i < n->n; i++)
        node_free(n->kid[i]);
    free(n->kid);
    free(n->text);
    free(n);
}

static void release(Parser *p) {
    if (p->ev_live)
        yaml_event_delete(&p->ev);
    if (p->yp_live)
        yaml_parser_delete(&p->yp);
    p->ev_live = p->yp_live = false;
    node_free(p->root);
    p->root = NULL;
}

/* Reports one error and exits.  The message is formatted first (its
 * arguments may point into the tree), then everything is freed, so even the
 * error path leaves nothing for LeakSanitizer. */
static _Noreturn void fail(Parser *p, Loc at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(Parser *p, Loc at, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    release(p);
    model_free(p->m);
    error_at(p->path, at, "%s", msg);
}

/* libyaml marks are 0-based, Loc is 1-based: the one place that converts. */
static Loc loc_of(yaml_mark_t mk) {
    return (Loc){(int)mk.line + 1, (int)mk.column + 1};
}

/* The position of byte `off` of the input, counted as libyaml counts:
 * columns in characters (UTF-8 lead bytes), lines ended by '\n'. */
static Loc offset_loc(const Parser *p, size_t off) {
    yaml_mark_t mk = {0, 0, 0};
    for (size_t i = 0; i < off && i < p->len; i++) {
        unsigned char c = (unsigned char)p->text[i];
        if (c == '\n')
            mk.line++, mk.column = 0;
        else if ((c & 0xc0) != 0x80)
            mk.column++;
    }
    return loc_of(mk);
}

/* Turns libyaml's failure into our one error line. */
static _Noreturn void yaml_fail(Parser *p) {
    yaml_parser_t *y = &p->yp;
    const char *problem = y->problem ? y->problem : "unknown error";
    switch (y->error) {
    case YAML_READER_ERROR: { /* bad bytes: libyaml gives an offset, no mark */
        const unsigned char *t = (const unsigned char *)p->text;
        size_t off = y->problem_offset < p->len ? y->problem_offset : p->len;
        if (!strstr(problem, "UTF-8") || off == p->len) {
            if (y->problem_value >= 0) /* a decoded character */
                fail(p, offset_loc(p, off), "not YAML text: %s (U+%04X)", problem,
                     (unsigned)y->problem_value);
            fail(p, offset_loc(p, off), "not YAML text: %s", problem);
        }
        /* A bad trailing octet is reported at itself: back up to the lead
         * byte of its character, which is what the user wrote wrong. */
        if (strstr(problem, "trailing"))
            while (off > 0 && y->problem_offset - off < 3 && (t[off] & 0xc0) != 0xc0)
                off--;
        fail(p, offset_loc(p, off), "not UTF-8 text: %s (sequence starting with byte 0x%02x)",
             problem, t[off]);
    }
    case YAML_SCANNER_ERROR:
    case YAML_PARSER_ERROR:
        if (y->context)
            fail(p, loc_of(y->problem_mark), "invalid YAML: %s %s", problem, y->context);
        fail(p, loc_of(y->problem_mark), "invalid YAML: %s", problem);
    default:
        fail(p, (Loc){1, 1}, "cannot read YAML: %s", problem);
    }
}

/* Anchors and tags are YAML features the model language has no use for;
 * rejecting them keeps every value what it looks like. */
static void check_props(Parser *p, const yaml_char_t *anchor, const yaml_char_t *tag) {
    Loc at = loc_of(p->ev.start_mark); /* the anchor or tag comes first */
    if (anchor)
        fail(p, at, "YAML anchors are not allowed (anchor %s)",
             quote((const char *)anchor, strlen((const char *)anchor)));
    if (tag)
        fail(p, at, "YAML tags are not allowed (tag %s)",
             quote((const char *)tag, strlen((const char *)tag)));
}

static YNode *new_node(Parser *p, Kind kind, YNode **stack, int depth) {
    YNode *n = xcalloc(1, sizeof *n);
    n->kind = kind;
    n->loc = loc_of(p->ev.start_mark);
    if (depth == 0) {
        p->root = n; /* at most one document, so at most one top node */
        return n;
    }
    YNode *up = stack[depth - 1];
    if (up->n == up->cap) {
        up->cap = up->cap ? 2 * up->cap : 8;
        up->kid = xrealloc(up->kid, (size_t)up->cap * sizeof *up->kid);
    }
    up->kid[up->n++] = n;
    return n;
}

/* Reads the whole event stream into p->root (NULL for an empty stream).
 * Depth is bounded while reading, so hostile nesting costs nothing. */
static void read_tree(Parser *p) {
    YNode *stack[LIMIT_DEPTH];
    int depth = 0, docs = 0;
    for (bool done = false; !done;) {
        if (!yaml_parser_parse(&p->yp, &p->ev))
            yaml_fail(p);
        p->ev_live = true;
        yaml_event_t *e = &p->ev;
        Loc at = loc_of(e->start_mark);
        YNode *n;
        switch (e->type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (docs++)
                fail(p, at, "more than one YAML document; a model file holds one");
            p->doc = at; /* %YAML and %TAG directives are fine: tags themselves are refused */
            break;
        case YAML_ALIAS_EVENT:
            fail(p, at, "YAML aliases are not allowed (alias %s)",
                 quote((const char *)e->data.alias.anchor,
                       strlen((const char *)e->data.alias.anchor)));
        case YAML_SCALAR_EVENT:
            check_props(p, e->data.scalar.anchor, e->data.scalar.tag);
            n = new_node(p, K_SCALAR, stack, depth);
            n->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            n->len = e->data.scalar.length;
            n->text = memcpy(xmalloc(n->len + 1), e->data.scalar.value, n->len);
            n->text[n->len] = 0;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (e->type == YAML_SEQUENCE_START_EVENT)
                check_props(p, e->data.sequence_start.anchor, e->data.sequence_start.tag);
            else
                check_props(p, e->data.mapping_start.anchor, e->data.mapping_start.tag);
            if (depth == LIMIT_DEPTH)
                fail(p, at, "nesting deeper than %d levels", LIMIT_DEPTH);
            n = new_node(p, e->type == YAML_MAPPING_START_EVENT ? K_MAP : K_SEQ, stack, depth);
            stack[depth++] = n;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default: /* stream start, document end, no event */
            break;
        }
        yaml_event_delete(e);
        p->ev_live = false;
    }
}

/* ---- scalars ---- */

static bool is(const YNode *n, const char *s) {
    return n->kind == K_SCALAR && n->len == strlen(s) && memcmp(n->text, s, n->len) == 0;
}

static bool is_null(const YNode *n) {
    return n->kind == K_SCALAR && n->plain &&
           (n->len == 0 || is(n, "~") || is(n, "null") || is(n, "Null") || is(n, "NULL"));
}

/* What a node is, for "got ..." in type errors. */
static const char *describe(const YNode *n) {
    if (n->kind == K_MAP)
        return "a mapping";
    if (n->kind == K_SEQ)
        return "a list";
    if (is_null(n))
        return "null (no value)";
    if (!n->plain)
        return format("a quoted string %s", quote(n->text, n->len));
    return quote(n->text, n->len);
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* A plain [+-]?[0-9]+.  The value saturates beyond 1e15, far outside every
 * limit, so absurd sizes stay absurd without overflow. */
static bool scalar_int(const YNode *n, int64_t *out) {
    if (n->kind != K_SCALAR || !n->plain || n->len == 0)
        return false;
    size_t i = (n->text[0] == '+' || n->text[0] == '-');
    if (i == n->len)
        return false;
    int64_t v = 0;
    for (; i < n->len; i++) {
        if (!is_digit(n->text[i]))
            return false;
        if (v < 1000000000000000)
            v = v * 10 + (n->text[i] - '0');
    }
    *out = n->text[0] == '-' ? -v : v;
    return true;
}

/* A plain number: an integer, a decimal such as 0.01, .5, 1e-2, or one of
 * YAML's .inf / .nan spellings (non-finite, for the caller to reject).  The
 * syntax is checked here because strtod() alone also takes hex, "inf", ... */
static bool scalar_number(const YNode *n, double *out) {
    if (n->kind != K_SCALAR || !n->plain)
        return false;
    const char *s = n->text;
    size_t len = n->len, i = (len > 0 && (s[0] == '+' || s[0] == '-'));
    const char *r = s + i;
    if (!strcmp(r, ".inf") || !strcmp(r, ".Inf") || !strcmp(r, ".INF")) {
        *out = s[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) {
        *out = NAN;
        return true;
    }
    size_t digits = 0;
    for (; i < len && is_digit(s[i]); i++)
        digits++;
    if (i < len && s[i] == '.')
        for (i++; i < len && is_digit(s[i]); i++)
            digits++;
    if (digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        i += (i < len && (s[i] == '+' || s[i] == '-'));
        if (i == len || !is_digit(s[i]))
            return false;
        while (i < len && is_digit(s[i]))
            i++;
    }
    if (i != len)
        return false;
    *out = strtod(s, NULL); /* netc never calls setlocale: '.' is the point */
    return true;
}

/* ---- schema helpers ---- */

static int expect_int(Parser *p, const YNode *n, const char *what, int lo, int hi) {
    int64_t v;
    if (!scalar_int(n, &v))
        fail(p, n->loc, "%s must be an integer, got %s", what, describe(n));
    if (v < lo || v > hi)
        fail(p, n->loc, "%s must be between %d and %d, got %s", what, lo, hi,
             quote(n->text, n->len));
    return (int)v;
}

/* The first limit of full unrolling the model breaks (--unroll=full reports
 * it; --unroll=auto takes loops): kept, not failed. */
static void unroll_limit(Parser *p, Loc at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void unroll_limit(Parser *p, Loc at, const char *fmt, ...) {
    if (p->m->unroll_err)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->m->unroll_err = intern(msg);
    p->m->unroll_loc = at;
}

/* An integer in [lo, hi] (the loop schedule's limit) that full unrolling
 * takes only up to unrolled. */
static int expect_size(Parser *p, const YNode *n, const char *what, int hi, int unrolled) {
    int v = expect_int(p, n, what, 1, hi);
    if (v > unrolled)
        unroll_limit(p, n->loc, "%s must be between 1 and %d, got %s", what, unrolled, quote(n->text, n->len));
    return v;
}

static double expect_number(Parser *p, const YNode *n, const char *what) {
    double v;
    if (!scalar_number(n, &v))
        fail(p, n->loc, "%s must be a number, got %s", what, describe(n));
    return v;
}

/* Edit distance, for "did you mean".  b is one of our short keys. */
static int distance(const char *a, size_t na, const char *b) {
    int row[32];
    size_t nb = strlen(b);
    if (nb >= 32)
        return 99;
    for (size_t j = 0; j <= nb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[nb];
}

/* The closest of `words` within distance 2 (and nearer than its length, so
 * "x" does not suggest "lr"), or NULL. */
static const char *near_miss(const YNode *n, const char *const *words) {
    const char *best = NULL;
    int bestd = 3;
    if (n->kind != K_SCALAR || n->len > 32)
        return NULL;
    for (int i = 0; words[i]; i++) {
        int d = distance(n->text, n->len, words[i]);
        if (d < bestd && d < (int)strlen(words[i]))
            best = words[i], bestd = d;
    }
    return best;
}

/* "a, b, c" for messages. */
static const char *word_list(const char *const *words) {
    char buf[256] = "";
    for (int i = 0; words[i]; i++) {
        if (i)
            strcat(buf, ", ");
        strcat(buf, words[i]);
    }
    return format("%s", buf);
}

/* Matches the keys of mapping `map` (called `what` in messages) against the
 * NULL-terminated `keys`: key[i] and val[i] receive the key and value nodes
 * of keys[i], or NULL.  Unknown keys (with a near-miss suggestion), keys that
 * are not scalars, and duplicates are errors at the key. */
static void match_keys(Parser *p, const YNode *map, const char *what,
                       const char *const *keys, const YNode **key, const YNode **val) {
    int nkeys = 0;
    while (keys[nkeys])
        key[nkeys] = val[nkeys] = NULL, nkeys++;
    for (int i = 0; i + 1 < map->n; i += 2) {
        const YNode *k = map->kid[i];
        if (k->kind != K_SCALAR)
            fail(p, k->loc, "a key in %s must be a word, got %s", what, describe(k));
        int j = 0;
        while (j < nkeys && !is(k, keys[j]))
            j++;
        if (j == nkeys) {
            const char *near = near_miss(k, keys);
            if (near)
                fail(p, k->loc, "unknown key %s in %s; did you mean '%s'?",
                     quote(k->text, k->len), what, near);
            fail(p, k->loc, "unknown key %s in %s; expected one of: %s",
                 quote(k->text, k->len), what, word_list(keys));
        }
        if (key[j])
            fail(p, k->loc, "duplicate key '%s' in %s; first given at line %d",
                 keys[j], what, key[j]->loc.line);
        key[j] = k;
        val[j] = map->kid[i + 1];
    }
}

static void require(Parser *p, const YNode *map, const char *what, const char *key,
                    const YNode *val) {
    if (!val)
        fail(p, map->loc, "missing required key '%s' in %s", key, what);
}

/* A string value that must be one of `words`; returns its index. */
static int expect_choice(Parser *p, const YNode *n, const char *what,
                         const char *const *words) {
    if (n->kind != K_SCALAR || is_null(n))
        fail(p, n->loc, "'%s' must be one of: %s; got %s", what, word_list(words),
             describe(n));
    for (int i = 0; words[i]; i++)
        if (is(n, words[i]))
            return i;
    const char *near = near_miss(n, words);
    if (near)
        fail(p, n->loc, "unknown %s %s; did you mean '%s'?", what,
             quote(n->text, n->len), near);
    fail(p, n->loc, "unknown %s %s; expected one of: %s", what, quote(n->text, n->len),
         word_list(words));
}

/* Names become parts of C identifiers, so C's keywords (C11 and C23) and
 * reserved spellings are out. */
static const char *const c_keywords[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do",
    "double", "else", "enum", "extern", "float", "for", "goto", "if", "inline",
    "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned",
    "void", "volatile", "while", "_Alignas", "_Alignof", "_Atomic", "_Bool",
    "_Complex", "_Generic", "_Imaginary", "_Noreturn", "_Static_assert",
    "_Thread_local", "alignas", "alignof", "bool", "constexpr", "false",
    "nullptr", "static_assert", "thread_local", "true", "typeof",
    "typeof_unqual", "_BitInt", "_Decimal32", "_Decimal64", "_Decimal128", NULL};

/* Copies a valid name into out (LIMIT_NAME + 1 bytes). */
static void expect_ident(Parser *p, const YNode *n, const char *what, char *out) {
    if (n->kind != K_SCALAR || is_null(n))
        fail(p, n->loc, "%s must be a C identifier, got %s", what, describe(n));
    const char *s = n->text;
    bool ok = n->len > 0 && !is_digit(s[0]);
    for (size_t i = 0; i < n->len; i++) {
        char c = s[i];
        ok = ok && (is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_');
    }
    if (!ok)
        fail(p, n->loc, "%s %s is not a C identifier (letters, digits and '_', not starting with a digit)",
             what, quote(s, n->len));
    if (n->len > LIMIT_NAME)
        fail(p, n->loc, "%s %s is too long: %zu characters, the limit is %d", what,
             quote(s, n->len), n->len, LIMIT_NAME);
    for (int i = 0; c_keywords[i]; i++)
        if (is(n, c_keywords[i]))
            fail(p, n->loc, "%s %s is a C keyword", what, quote(s, n->len));
    if (s[0] == '_')
        fail(p, n->loc, "%s %s starts with '_'; C reserves such names", what, quote(s, n->len));
    memcpy(out, s, n->len + 1);
}

/* The model name prefixes every generated global symbol (NAME_model,
 * NAME_params, NAME_train, ...), so it must not begin with a prefix of the
 * runtime's own symbols, which the trainer's translation unit and link
 * share: netrt_model, netrt_save, NETRT_H, ... (any case). */
static void expect_model_name(Parser *p, const YNode *n, char *out) {
    expect_ident(p, n, "model name", out);
    static const char *const reserved[] = {"netrt", NULL};
    for (int i = 0; reserved[i]; i++) {
        size_t k = strlen(reserved[i]), j = 0;
        while (j < k && out[j] && (out[j] | 0x20) == reserved[i][j])
            j++;
        if (j == k)
            fail(p, n->loc, "model name %s begins with '%s', which the runtime reserves for its own "
                 "symbols (netrt_model, netrt_save, ...); choose another name",
                 quote(out, strlen(out)), reserved[i]);
    }
}

/* ---- the schema ---- */

/* A plain true or false. */
static bool expect_bool(Parser *p, const YNode *n, const char *what) {
    if (n->kind == K_SCALAR && n->plain && (is(n, "true") || is(n, "false")))
        return is(n, "true");
    fail(p, n->loc, "%s must be true or false, got %s", what, describe(n));
}

/* A finite number in [lo, hi] (hi_open: [lo, hi)); `what` names it. */
static double expect_range(Parser *p, const YNode *n, const char *what, double lo, double hi,
                           bool hi_open) {
    double v = expect_number(p, n, what);
    if (!isfinite(v))
        fail(p, n->loc, "%s must be finite, got %s", what, quote(n->text, n->len));
    if (v < lo || v > hi || (hi_open && v == hi))
        fail(p, n->loc, "%s must be in [%g, %g%c, got %s", what, lo, hi, hi_open ? ')' : ']',
             quote(n->text, n->len));
    return v;
}

enum { L_NAME, L_LINEAR, L_ACT, L_SLOPE, L_BIAS, L_TRAIN, L_N };
static const char *const layer_keys[] = {"name", "linear", "activation", "negative_slope",
                                         "bias", "trainable", NULL};

/* Checks the layer list; returns the parameter count.  Sizes are at most
 * LIMIT_FEATURES and layers at most LIMIT_LAYERS, so int64_t cannot
 * overflow, and the limit is checked after every layer to name the culprit. */
static int64_t check_layers(Parser *p, const YNode *seq) {
    Model *m = p->m;
    if (seq->kind != K_SEQ)
        fail(p, seq->loc, "'layers' must be a list of layers, got %s", describe(seq));
    if (seq->n == 0)
        fail(p, seq->loc, "'layers' must not be empty");
    if (seq->n > LIMIT_LAYERS)
        fail(p, seq->kid[LIMIT_LAYERS]->loc, "too many layers (%d); the limit is %d",
             seq->n, LIMIT_LAYERS);
    m->layers = xcalloc((size_t)seq->n, sizeof *m->layers);
    m->nlayers = seq->n;
    const YNode *name[LIMIT_LAYERS]; /* each layer's explicit name, or NULL */
    int64_t in = m->input, params = 0;
    bool any_trainable = false;
    for (int i = 0; i < seq->n; i++) {
        const YNode *item = seq->kid[i], *key[L_N], *val[L_N];
        Layer *l = &m->layers[i];
        if (item->kind != K_MAP)
            fail(p, item->loc, "a layer must be a mapping such as {linear: 3}, got %s",
                 describe(item));
        match_keys(p, item, "layer", layer_keys, key, val);
        require(p, item, "layer", "linear", val[L_LINEAR]);
        l->loc = item->loc;
        name[i] = val[L_NAME];
        if (name[i])
            expect_ident(p, name[i], "layer name", l->name);
        else
            snprintf(l->name, sizeof l->name, "fc%d", i + 1);
        for (int j = 0; j < i; j++) {
            if (strcmp(l->name, m->layers[j].name))
                continue;
            const char *other = name[j] ? "the name of" : "the default name of";
            if (name[i])
                fail(p, name[i]->loc, "layer name %s is already %s layer %d (line %d)",
                     quote(l->name, strlen(l->name)), other, j + 1, m->layers[j].loc.line);
            fail(p, l->loc, "layer %d's default name %s is already %s layer %d (line %d); "
                 "give this layer a name", i + 1, quote(l->name, strlen(l->name)), other,
                 j + 1, m->layers[j].loc.line);
        }
        l->out = expect_size(p, val[L_LINEAR], "'linear'", LIMIT_LOOP_FEATURES, LIMIT_FEATURES);
        l->act = val[L_ACT] ? (Act)expect_choice(p, val[L_ACT], "activation", act_name)
                            : ACT_IDENTITY;
        if (l->act == ACT_SOFTMAX && i + 1 != seq->n)
            fail(p, val[L_ACT]->loc, "softmax is only allowed on the last layer (layer %s is %d of %d)",
                 quote(l->name, strlen(l->name)), i + 1, seq->n);
        l->slope = 0.01; /* torch's default negative_slope */
        if (val[L_SLOPE]) {
            if (l->act != ACT_LEAKY_RELU)
                fail(p, key[L_SLOPE]->loc, "'negative_slope' needs 'activation: leaky_relu'");
            l->slope = expect_range(p, val[L_SLOPE], "'negative_slope'", -1e6, 1e6, false);
        }
        l->bias = val[L_BIAS] ? expect_bool(p, val[L_BIAS], "'bias'") : true;
        l->trainable = val[L_TRAIN] ? expect_bool(p, val[L_TRAIN], "'trainable'") : true;
        any_trainable |= l->trainable;
        params += (int64_t)l->out * in + (l->bias ? l->out : 0);
        if (params > LIMIT_LOOP_PARAMS)
            fail(p, l->loc, "layer %s brings the model to %lld parameters; the limit is %d",
                 quote(l->name, strlen(l->name)), (long long)params, LIMIT_LOOP_PARAMS);
        if (params > LIMIT_PARAMS)
            unroll_limit(p, l->loc, "layer %s brings the model to %lld parameters; the limit is %d",
                         quote(l->name, strlen(l->name)), (long long)params, LIMIT_PARAMS);
        in = l->out;
    }
    if (!any_trainable)
        fail(p, seq->loc, "every layer has 'trainable: false': there is nothing to train");
    return params;
}

enum { T_NAME, T_INPUT, T_LAYERS, T_LOSS, T_OPT, T_BATCH, T_N };
static const char *const top_keys[] = {"name", "input", "layers", "loss", "optimizer",
                                       "batch", NULL};
static const char *const reduction_names[] = {"mean", "sum", NULL};
static const char *const reduction_keys[] = {"reduction", NULL};

/* loss: NAME, or {NAME: {reduction: mean | sum}}. */
static void check_loss(Parser *p, const YNode *n) {
    Model *m = p->m;
    if (n->kind == K_MAP) {
        if (n->n != 2)
            fail(p, n->loc, "'loss' must name exactly one loss, such as {mse: {reduction: sum}}");
        const YNode *opts = n->kid[1], *key[1], *val[1];
        n = n->kid[0];
        m->loss = (LossKind)expect_choice(p, n, "loss", loss_name);
        if (opts->kind != K_MAP)
            fail(p, opts->loc, "the options of loss '%s' must be a mapping such as {reduction: sum}, got %s",
                 loss_name[m->loss], describe(opts));
        match_keys(p, opts, format("loss '%s'", loss_name[m->loss]), reduction_keys, key, val);
        if (val[0])
            m->loss_sum = expect_choice(p, val[0], "reduction", reduction_names) == 1;
    } else {
        m->loss = (LossKind)expect_choice(p, n, "loss", loss_name);
    }
    m->loss_loc = n->loc;
    int outs = model_outputs(m);
    if (m->loss == LOSS_CROSS_ENTROPY && outs < 2)
        fail(p, n->loc, "cross_entropy needs at least 2 outputs (one per class); the last layer has %d", outs);
    const Layer *last = &m->layers[m->nlayers - 1];
    if (m->loss == LOSS_BCE && last->act != ACT_SIGMOID && last->act != ACT_SOFTMAX)
        fail(p, n->loc, "bce takes probabilities, but the last layer %s ends in %s, not sigmoid or softmax: "
             "use bce_with_logits (it applies the sigmoid itself), or give that layer 'activation: sigmoid'",
             quote(last->name, strlen(last->name)), act_name[last->act]);
}

enum { O_LR, O_MOMENTUM, O_DAMPENING, O_NESTEROV, O_WD, O_BETAS, O_EPS, O_N };
static const char *const sgd_keys[] = {"lr", "momentum", "dampening", "nesterov", "weight_decay", NULL};
static const char *const adam_keys[] = {"lr", "betas", "eps", "weight_decay", NULL};

/* optimizer: {sgd: {...}} | {adam: {...}} | {adamw: {...}}: exactly one,
 * named by its key, with torch.optim's defaults and range checks. */
static void check_optimizer(Parser *p, const YNode *o) {
    Optimizer *opt = &p->m->opt;
    if (o->kind != K_MAP)
        fail(p, o->loc, "'optimizer' must be a mapping such as {sgd: {lr: 0.01}}, got %s",
             describe(o));
    if (o->n == 0)
        fail(p, o->loc, "'optimizer' names no optimizer; expected one of: %s", word_list(opt_name));
    if (o->n > 2)
        fail(p, o->kid[2]->loc, "'optimizer' must name exactly one optimizer");
    const YNode *k = o->kid[0], *v = o->kid[1];
    opt->kind = (OptKind)expect_choice(p, k, "optimizer", opt_name);
    opt->loc = k->loc;
    const char *what = opt_name[opt->kind];
    if (v->kind != K_MAP)
        fail(p, v->loc, "'%s' must be a mapping such as {lr: 0.01}, got %s", what, describe(v));
    const YNode *key[O_N], *val[O_N], *ak[4], *av[4];
    for (int i = 0; i < O_N; i++)
        key[i] = val[i] = NULL;
    opt->beta1 = 0.9, opt->beta2 = 0.999, opt->eps = 1e-8;
    switch (opt->kind) { /* each optimizer's keys and torch's defaults */
    case OPT_SGD:
        match_keys(p, v, what, sgd_keys, key, val);
        require(p, v, what, "lr", val[O_LR]);
        opt->lr = 0, opt->weight_decay = 0;
        break;
    case OPT_ADAM:
    case OPT_ADAMW: /* adam's keys map onto the shared slots */
        match_keys(p, v, what, adam_keys, ak, av);
        val[O_LR] = av[0], val[O_BETAS] = av[1], val[O_EPS] = av[2], val[O_WD] = av[3];
        key[O_WD] = ak[3];
        opt->lr = 0.001, opt->weight_decay = opt->kind == OPT_ADAMW ? 0.01 : 0;
        break;
    }
    if (val[O_LR]) {
        const YNode *n = val[O_LR];
        double lr = expect_number(p, n, "'lr'");
        const char *q = quote(n->text, n->len);
        if (!isfinite(lr))
            fail(p, n->loc, "'lr' must be finite, got %s", q);
        if (lr <= 0)
            fail(p, n->loc, "'lr' must be greater than 0, got %s", q);
        if (lr > FLT_MAX) /* checked before the conversion, which would be undefined */
            fail(p, n->loc, "'lr' %s is too large for float", q);
        if ((float)lr == 0)
            fail(p, n->loc, "'lr' %s is too small for float: it rounds to 0", q);
        opt->lr = lr;
    }
    if (val[O_MOMENTUM])
        opt->momentum = expect_range(p, val[O_MOMENTUM], "'momentum'", 0, 1, true);
    if (val[O_DAMPENING])
        opt->dampening = expect_range(p, val[O_DAMPENING], "'dampening'", 0, 1, false);
    if (val[O_NESTEROV]) {
        opt->nesterov = expect_bool(p, val[O_NESTEROV], "'nesterov'");
        if (opt->nesterov && (opt->momentum == 0 || opt->dampening != 0))
            fail(p, val[O_NESTEROV]->loc, "nesterov momentum needs momentum > 0 and dampening 0, as in torch");
    }
    if (val[O_WD])
        opt->weight_decay = expect_range(p, val[O_WD], "'weight_decay'", 0, 1e6, false);
    if (val[O_EPS]) {
        opt->eps = expect_range(p, val[O_EPS], "'eps'", 0, 1e6, false);
        if ((float)opt->eps == 0)
            fail(p, val[O_EPS]->loc, "'eps' must be greater than 0 (as a float), got %s",
                 quote(val[O_EPS]->text, val[O_EPS]->len));
    }
    if (val[O_BETAS]) {
        const YNode *b = val[O_BETAS];
        if (b->kind != K_SEQ || b->n != 2)
            fail(p, b->loc, "'betas' must be a list of two numbers such as [0.9, 0.999], got %s",
                 describe(b));
        opt->beta1 = expect_range(p, b->kid[0], "'betas' first value", 0, 1, true);
        opt->beta2 = expect_range(p, b->kid[1], "'betas' second value", 0, 1, true);
    }
}

static void check_model(Parser *p) {
    Model *m = p->m;
    const YNode *root = p->root, *key[T_N], *val[T_N];
    if (!root)
        fail(p, (Loc){1, 1}, "empty input: expected a YAML mapping describing the model");
    if (is_null(root))
        fail(p, p->doc, "empty document: expected a YAML mapping describing the model");
    if (root->kind != K_MAP)
        fail(p, root->loc, "the top level must be a mapping (name:, input:, layers:, ...), got %s",
             describe(root));
    match_keys(p, root, "model", top_keys, key, val);
    for (int i = 0; i < T_N; i++)
        if (i != T_BATCH)
            require(p, root, "model", top_keys[i], val[i]);
    expect_model_name(p, val[T_NAME], m->name);
    m->input = expect_size(p, val[T_INPUT], "'input'", LIMIT_LOOP_FEATURES, LIMIT_FEATURES);
    m->batch = val[T_BATCH] ? expect_size(p, val[T_BATCH], "'batch'", LIMIT_LOOP_BATCH, LIMIT_BATCH) : 1;
    int64_t params = check_layers(p, val[T_LAYERS]);
    if (params * m->batch > LIMIT_UNROLL) /* batch 1 never gets here: PARAMS < UNROLL */
        unroll_limit(p, val[T_BATCH] ? val[T_BATCH]->loc : root->loc,
                     "batch %d times %lld parameters is %lld unrolled scalars; the limit is %d", m->batch,
                     (long long)params, (long long)(params * m->batch), LIMIT_UNROLL);
    /* each activation tensor (batch x features) stays below 2^30 scalars, so
     * every index of the loop schedule fits an int */
    int widest = m->input;
    for (int i = 0; i < m->nlayers; i++)
        widest = m->layers[i].out > widest ? m->layers[i].out : widest;
    if ((int64_t)widest * m->batch > LIMIT_LOOP_ACTS)
        fail(p, val[T_BATCH] ? val[T_BATCH]->loc : root->loc,
             "batch %d times %d features is %lld activations in one tensor; the limit is %d", m->batch, widest,
             (long long)widest * m->batch, LIMIT_LOOP_ACTS);
    check_loss(p, val[T_LOSS]);
    check_optimizer(p, val[T_OPT]);
}

void parse_model(const char *path, const char *buf, size_t len, Model *m) {
    Parser p = {.path = path, .text = buf, .len = len, .m = m};
    m->file = path;
    m->name[0] = 0;
    m->layers = NULL;
    m->nlayers = 0;
    m->params = NULL;
    m->nparams = 0;
    m->states = NULL;
    m->nstates = 0;
    m->loss_sum = false;
    m->opt = (Optimizer){0};
    m->unroll_err = NULL;
    m->unroll_loc = (Loc){0, 0};
    /* A UTF-8 byte-order mark is skipped here, so libyaml's columns on line 1
     * do not count it. */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        p.text += 3, p.len -= 3;
    if (len > LIMIT_FILE)
        fail(&p, offset_loc(&p, LIMIT_FILE - (len - p.len)),
             "the file is larger than the limit of %d bytes", LIMIT_FILE);
    const char *nul = memchr(p.text, 0, p.len);
    if (nul)
        fail(&p, offset_loc(&p, (size_t)(nul - p.text)), "NUL byte in input: not YAML text");
    if (!yaml_parser_initialize(&p.yp))
        fail(&p, (Loc){1, 1}, "cannot start the YAML parser: out of memory");
    p.yp_live = true;
    yaml_parser_set_input_string(&p.yp, (const unsigned char *)p.text, p.len);
    yaml_parser_set_encoding(&p.yp, YAML_UTF8_ENCODING); /* no UTF-16 guessing */
    read_tree(&p);
    check_model(&p);
    release(&p);
}

void model_free(Model *m) {
    free(m->layers);
    free(m->params);
    free(m->states);
    m->layers = NULL;
    m->params = NULL;
    m->states = NULL;
    m->nlayers = m->nparams = 0;
}
