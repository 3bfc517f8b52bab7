/* json.c: a small strict JSON reader (see json.h for the contract).
 *
 * A recursive-descent parser over a byte buffer with an explicit bound on
 * nesting.  Values go into one growable array; strings are decoded into one
 * buffer of the input's size, which always suffices because no escape
 * decodes to more bytes than it takes to write (plus the NUL that replaces
 * the closing quote).  Duplicate keys are found by sorting each object's keys
 * once it is complete, so a hostile header with many keys costs n log n, not
 * n squared.
 */
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const unsigned char *s;
    size_t len, pos;
    json_doc *doc;
    size_t cap;  /* values allocated in doc->v */
    size_t used; /* bytes used in doc->text */
    char *err;
    size_t errlen;
    int failed;
} parser;

static void fail_at(parser *p, size_t at, const char *fmt, ...) {
    va_list ap;
    int n;
    if (p->failed)
        return;
    p->failed = 1;
    if (!p->errlen)
        return;
    n = snprintf(p->err, p->errlen, "byte %zu: ", at);
    if (n < 0 || (size_t)n >= p->errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static void skip_ws(parser *p) {
    while (p->pos < p->len &&
           (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

/* A new value of type t at the current position; returns its index, or 0
 * after failing (0 is the root and is never returned for a fresh child). */
static size_t new_value(parser *p, json_type t) {
    json_value *v;
    if (p->doc->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        json_value *nv;
        if (cap < p->cap || cap > SIZE_MAX / sizeof *nv || !(nv = realloc(p->doc->v, cap * sizeof *nv))) {
            fail_at(p, p->pos, "out of memory");
            return 0;
        }
        p->doc->v = nv;
        p->cap = cap;
    }
    v = &p->doc->v[p->doc->n];
    memset(v, 0, sizeof *v);
    v->type = t;
    v->offset = p->pos;
    return p->doc->n++;
}

static int hex4(const unsigned char *s, unsigned *out) {
    unsigned v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        unsigned c = s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at s[0, n), or 0 if it is not one:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t k, i;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        k = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        k = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        k = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (n < k || s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return k;
}

static char *put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* Decodes the string whose opening quote is at pos; returns the decoded text
 * (NUL-terminated, in doc->text) or NULL after failing. */
static const char *string(parser *p) {
    size_t start = p->pos;
    char *out = p->doc->text + p->used, *o = out;
    p->pos++; /* the opening quote */
    for (;;) {
        unsigned c;
        if (p->pos >= p->len) {
            fail_at(p, start, "unterminated string");
            return NULL;
        }
        c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) {
            fail_at(p, p->pos, "control character 0x%02x in a string", c);
            return NULL;
        }
        if (c == '\\') {
            unsigned cp;
            const char *simple = "\"\\/bfnrt", *rep = "\"\\/\b\f\n\r\t", *hit;
            if (p->pos + 1 >= p->len) {
                fail_at(p, start, "unterminated string");
                return NULL;
            }
            c = p->s[p->pos + 1];
            if (c != 'u') {
                if (!c || !(hit = strchr(simple, (int)c))) {
                    fail_at(p, p->pos, "invalid escape in a string");
                    return NULL;
                }
                *o++ = rep[hit - simple];
                p->pos += 2;
                continue;
            }
            if (p->pos + 6 > p->len || hex4(p->s + p->pos + 2, &cp)) {
                fail_at(p, p->pos, "expected 4 hex digits after \\u");
                return NULL;
            }
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail_at(p, p->pos, "unpaired surrogate \\u%04X", cp);
                return NULL;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p->pos + 12 > p->len || p->s[p->pos + 6] != '\\' || p->s[p->pos + 7] != 'u' ||
                    hex4(p->s + p->pos + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    fail_at(p, p->pos, "unpaired surrogate \\u%04X", cp);
                    return NULL;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p->pos += 6;
            }
            if (cp == 0) {
                fail_at(p, p->pos, "\\u0000 is not allowed in a string");
                return NULL;
            }
            o = put_utf8(o, cp);
            p->pos += 6;
            continue;
        }
        {
            size_t k = utf8_len(p->s + p->pos, p->len - p->pos), i;
            if (!k) {
                fail_at(p, p->pos, "invalid UTF-8 in a string");
                return NULL;
            }
            for (i = 0; i < k; i++)
                *o++ = (char)p->s[p->pos++];
        }
    }
    *o++ = '\0';
    p->used += (size_t)(o - out);
    return out;
}

static int is_digit(unsigned c) { return c >= '0' && c <= '9'; }

static void number(parser *p, json_value *v) {
    size_t start = p->pos;
    int plain = 1;
    uint64_t u = 0;
    if (p->s[p->pos] == '-') {
        plain = 0;
        p->pos++;
    }
    if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
        fail_at(p, start, "expected a digit");
        return;
    }
    if (p->s[p->pos] == '0' && p->pos + 1 < p->len && is_digit(p->s[p->pos + 1])) {
        fail_at(p, start, "a number may not have a leading zero");
        return;
    }
    while (p->pos < p->len && is_digit(p->s[p->pos])) {
        unsigned d = p->s[p->pos] - '0';
        if (u > (UINT64_MAX - d) / 10)
            plain = 0; /* too big to be used as a size: just a number */
        else
            u = u * 10 + d;
        p->pos++;
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        plain = 0;
        p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
            fail_at(p, p->pos, "expected a digit after the decimal point");
            return;
        }
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        plain = 0;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
            fail_at(p, p->pos, "expected a digit in the exponent");
            return;
        }
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    }
    v->is_uint = plain;
    v->uint = plain ? u : 0;
}

typedef struct keyref {
    const char *key;
    size_t offset;
} keyref;

static int keyref_cmp(const void *a, const void *b) {
    const keyref *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->offset > y->offset) - (x->offset < y->offset);
}

/* Fails if the object at index obj repeats a key. */
static void check_duplicates(parser *p, size_t obj) {
    size_t n = p->doc->v[obj].count, i = 0, c;
    keyref *k;
    if (n < 2)
        return;
    if (!(k = malloc(n * sizeof *k))) {
        fail_at(p, p->doc->v[obj].offset, "out of memory");
        return;
    }
    for (c = p->doc->v[obj].first; c; c = p->doc->v[c].next) {
        k[i].key = p->doc->v[c].key;
        k[i++].offset = p->doc->v[c].offset;
    }
    qsort(k, n, sizeof *k, keyref_cmp);
    for (i = 1; i < n; i++)
        if (strcmp(k[i - 1].key, k[i].key) == 0) {
            fail_at(p, k[i].offset, "duplicate key \"%.60s\"", k[i].key);
            break;
        }
    free(k);
}

static size_t value(parser *p, int depth);

/* Parses an array or object whose opening bracket is at pos. */
static void container(parser *p, size_t self, int depth) {
    int is_obj = p->doc->v[self].type == JSON_OBJECT;
    char close = is_obj ? '}' : ']';
    size_t last = 0;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return;
    }
    for (;;) {
        const char *key = NULL;
        size_t child, key_at = p->pos;
        skip_ws(p);
        if (is_obj) {
            key_at = p->pos;
            if (p->pos >= p->len || p->s[p->pos] != '"') {
                fail_at(p, p->pos, "expected a string key");
                return;
            }
            if (!(key = string(p)))
                return;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                fail_at(p, p->pos, "expected ':' after an object key");
                return;
            }
            p->pos++;
        }
        if (!(child = value(p, depth + 1)))
            return;
        if (is_obj) {
            p->doc->v[child].key = key;
            p->doc->v[child].offset = key_at; /* messages point at the key */
        }
        if (last)
            p->doc->v[last].next = child;
        else
            p->doc->v[self].first = child;
        last = child;
        p->doc->v[self].count++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            break;
        }
        fail_at(p, p->pos, "expected ',' or '%c'", close);
        return;
    }
    if (is_obj)
        check_duplicates(p, self);
}

/* Parses one value at pos (after whitespace); returns its index, or 0 after
 * failing.  The root is parsed with depth 0 and is index 0, which the caller
 * knows; children can never be 0. */
static size_t value(parser *p, int depth) {
    size_t self;
    unsigned c;
    skip_ws(p);
    if (p->pos >= p->len) {
        fail_at(p, p->pos, "expected a value, found the end of the header");
        return 0;
    }
    if (depth > JSON_MAX_DEPTH) {
        fail_at(p, p->pos, "nested deeper than %d levels", JSON_MAX_DEPTH);
        return 0;
    }
    c = p->s[p->pos];
    if (c == '{' || c == '[') {
        self = new_value(p, c == '{' ? JSON_OBJECT : JSON_ARRAY);
        if (p->failed)
            return 0;
        container(p, self, depth);
    } else if (c == '"') {
        const char *s;
        self = new_value(p, JSON_STRING);
        if (p->failed || !(s = string(p)))
            return 0;
        p->doc->v[self].str = s;
    } else if (c == '-' || is_digit(c)) {
        self = new_value(p, JSON_NUMBER);
        if (p->failed)
            return 0;
        number(p, &p->doc->v[self]);
    } else {
        static const char *const words[] = {"null", "false", "true"};
        static const json_type types[] = {JSON_NULL, JSON_FALSE, JSON_TRUE};
        size_t i, n;
        for (i = 0; i < 3; i++) {
            n = strlen(words[i]);
            if (p->len - p->pos >= n && memcmp(p->s + p->pos, words[i], n) == 0)
                break;
        }
        if (i == 3) {
            if (c >= 0x20 && c < 0x7f)
                fail_at(p, p->pos, "expected a value, found '%c'", (int)c);
            else
                fail_at(p, p->pos, "expected a value, found byte 0x%02x", c);
            return 0;
        }
        self = new_value(p, types[i]);
        p->pos += n;
    }
    if (p->failed)
        return 0;
    return self;
}

int netrt_json_parse(const char *text, size_t len, json_doc *doc, char *err, size_t errlen) {
    parser p;
    memset(doc, 0, sizeof *doc);
    memset(&p, 0, sizeof p);
    p.s = (const unsigned char *)text;
    p.len = len;
    p.doc = doc;
    p.err = err;
    p.errlen = errlen;
    if (errlen)
        err[0] = '\0';
    if (!(doc->text = malloc(len + 1))) {
        fail_at(&p, 0, "out of memory");
        return -1;
    }
    value(&p, 0);
    if (!p.failed) {
        skip_ws(&p);
        if (p.pos < len)
            fail_at(&p, p.pos, "unexpected data after the JSON value");
    }
    if (p.failed) {
        netrt_json_free(doc);
        return -1;
    }
    return 0;
}

void netrt_json_free(json_doc *doc) {
    free(doc->v);
    free(doc->text);
    memset(doc, 0, sizeof *doc);
}
