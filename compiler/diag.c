/* diag.c: diagnostics and allocation for the whole compiler.
 *
 * User errors go through error_at(): one line `file:line:col: error: msg` on
 * stderr and exit status 1, no recovery.  Internal bugs go through die(),
 * which names netc's own source line and aborts.  Allocation failures are
 * internal errors too.  Cleanup hooks registered with diag_cleanup() run on
 * every exit path (they remove temporary output files).
 */
#include "netc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifdef NETC_FUZZ
#include <setjmp.h>
jmp_buf *netc_fuzz_jmp; /* set by the fuzz target around parse_model */
#endif

static void (*cleanup_fn)(void);

void diag_cleanup(void (*fn)(void)) { cleanup_fn = fn; }

static void run_cleanup(void) {
    void (*fn)(void) = cleanup_fn;
    cleanup_fn = NULL;
    if (fn)
        fn();
}

void error_at(const char *file, Loc loc, const char *fmt, ...) {
    va_list ap;
    if (loc.line > 0)
        fprintf(stderr, "%s:%d:%d: error: ", file, loc.line, loc.col);
    else
        fprintf(stderr, "%s: error: ", file);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    run_cleanup();
#ifdef NETC_FUZZ
    /* tests/fuzz/fuzz_yaml.c: a rejected input returns to the fuzzer. */
    if (netc_fuzz_jmp)
        longjmp(*netc_fuzz_jmp, 1);
#endif
    exit(1);
}

void die_at(const char *srcfile, int srcline, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "netc: internal error at %s:%d: ", srcfile, srcline);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    run_cleanup();
    abort();
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

/* Strings that live until exit (node names): one pool, freed at exit so
 * that LeakSanitizer sees every byte accounted for. */
typedef struct Block {
    struct Block *next;
    size_t used;
    char data[16384];
} Block;
static Block *pool;

static void pool_free(void) {
    while (pool) {
        Block *b = pool->next;
        free(pool);
        pool = b;
    }
}

const char *intern(const char *s) {
    size_t n = strlen(s) + 1;
    if (n > sizeof pool->data)
        die("string of %zu bytes is too long to intern", n);
    if (!pool || pool->used + n > sizeof pool->data) {
        if (!pool)
            atexit(pool_free);
        Block *b = xmalloc(sizeof *b);
        b->next = pool;
        b->used = 0;
        pool = b;
    }
    char *p = memcpy(pool->data + pool->used, s, n);
    pool->used += n;
    return p;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

/* Formats into a small rotating set of static buffers: enough for the few
 * strings one diagnostic or one emitted line needs at a time. */
char *format(const char *fmt, ...) {
    static char buf[8][512];
    static int next;
    char *b = buf[next++ & 7];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof buf[0], fmt, ap);
    va_end(ap);
    return b;
}

/* Formats into a new malloc'd string of any length (paths: up to PATH_MAX). */
char *xformat(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        die("bad format %s", fmt);
    char *b = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return b;
}

/* A user's value made safe to echo: quoted, escaped, shortened. */
const char *quote(const char *s, size_t len) {
    enum { SHOW = 32 };
    char tmp[SHOW * 4 + 16];
    size_t o = 0;
    tmp[o++] = '\'';
    for (size_t i = 0; i < len && i < SHOW; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' || c == '\'')
            o += (size_t)sprintf(tmp + o, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            tmp[o++] = (char)c;
        else
            o += (size_t)sprintf(tmp + o, "\\x%02x", c);
    }
    if (len > SHOW)
        o += (size_t)sprintf(tmp + o, "...");
    tmp[o++] = '\'';
    tmp[o] = 0;
    return format("%s", tmp);
}
