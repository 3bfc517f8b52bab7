/* npy.c: reads training data from NumPy .npy files, the binary format.
 *
 * Format (numpy.lib.format, versions 1.0, 2.0 and 3.0): the magic
 * "\x93NUMPY", a major and minor version byte, the header's length (2 bytes
 * little-endian in 1.0, 4 bytes in 2.0/3.0), then the header: a Python dict
 * literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (100, 6), }
 * padded with spaces and ended by a newline, then the array's bytes.  We
 * accept exactly one layout: little-endian float32 ('<f4'), C order, shape
 * (rows, n_in + n_out), one sample a row (inputs, then targets), which is
 * what `np.save(path, a.astype('<f4'))` writes for a 2-D array.  The data
 * must fill the rest of the file exactly and every value must be finite.
 * Sizes are checked against the file's length before anything is allocated,
 * so a header that claims a billion rows costs nothing.  Errors are one line,
 * `PATH: error: ...`, naming the row and column of a bad value.
 */
#define _POSIX_C_SOURCE 200809L
#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* The longest header we read; numpy itself refuses more than 10000 bytes by
 * default. */
#define NPY_HEADER_MAX 65536

static void report(const char *path, const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "%s: error: ", path);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The header dict, as far as we read it. */
typedef struct npy_header {
    char descr[16];
    int fortran; /* -1 unset, 0 False, 1 True */
    int has_shape;
    size_t ndim;
    uint64_t dims[2]; /* the first two dimensions */
} npy_header;

typedef struct hparser {
    const char *s;
    size_t len, pos;
    const char *err; /* what went wrong, or NULL */
} hparser;

static void hskip(hparser *p) {
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'))
        p->pos++;
}

static int hexpect(hparser *p, char c, const char *what) {
    hskip(p);
    if (p->pos >= p->len || p->s[p->pos] != c) {
        p->err = what;
        return -1;
    }
    p->pos++;
    return 0;
}

/* A quoted string without escapes, into out (cap bytes, truncated). */
static int hstring(hparser *p, char *out, size_t cap) {
    char q;
    size_t n = 0;
    hskip(p);
    if (p->pos >= p->len || (p->s[p->pos] != '\'' && p->s[p->pos] != '"')) {
        p->err = "expected a quoted string";
        return -1;
    }
    q = p->s[p->pos++];
    while (p->pos < p->len && p->s[p->pos] != q) {
        char c = p->s[p->pos++];
        if (c == '\\' || (unsigned char)c < 0x20 || (unsigned char)c >= 0x7f) {
            p->err = "unexpected character in a string";
            return -1;
        }
        if (n + 1 < cap)
            out[n++] = c;
    }
    if (p->pos >= p->len) {
        p->err = "unterminated string";
        return -1;
    }
    p->pos++;
    out[n] = '\0';
    return 0;
}

static int hword(hparser *p, const char *w) {
    size_t n = strlen(w);
    if (p->len - p->pos >= n && memcmp(p->s + p->pos, w, n) == 0) {
        p->pos += n;
        return 1;
    }
    return 0;
}

/* (d0, d1, ...) with an optional trailing comma; () is a scalar. */
static int hshape(hparser *p, npy_header *h) {
    if (hexpect(p, '(', "expected a tuple for 'shape'"))
        return -1;
    h->ndim = 0;
    for (;;) {
        uint64_t v = 0;
        size_t start;
        hskip(p);
        if (p->pos < p->len && p->s[p->pos] == ')') {
            p->pos++;
            break;
        }
        start = p->pos;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
            unsigned d = (unsigned)(p->s[p->pos++] - '0');
            if (v > (UINT64_MAX - d) / 10) {
                p->err = "a dimension in 'shape' is too large";
                return -1;
            }
            v = v * 10 + d;
        }
        if (p->pos == start) {
            p->err = "expected a whole number in 'shape'";
            return -1;
        }
        if (h->ndim < 2)
            h->dims[h->ndim] = v;
        h->ndim++;
        hskip(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (hexpect(p, ')', "expected ',' or ')' in 'shape'"))
            return -1;
        break;
    }
    h->has_shape = 1;
    return 0;
}

/* Parses the dict; returns 0 or -1 with p->err set. */
static int hdict(hparser *p, npy_header *h) {
    int seen_descr = 0;
    memset(h, 0, sizeof *h);
    h->fortran = -1;
    if (hexpect(p, '{', "expected '{'"))
        return -1;
    for (;;) {
        char key[32];
        hskip(p);
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            break;
        }
        if (hstring(p, key, sizeof key) || hexpect(p, ':', "expected ':' after a key"))
            return -1;
        hskip(p);
        if (strcmp(key, "descr") == 0 && !seen_descr) {
            if (hstring(p, h->descr, sizeof h->descr))
                return -1;
            seen_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && h->fortran < 0) {
            if (hword(p, "False"))
                h->fortran = 0;
            else if (hword(p, "True"))
                h->fortran = 1;
            else {
                p->err = "expected True or False for 'fortran_order'";
                return -1;
            }
        } else if (strcmp(key, "shape") == 0 && !h->has_shape) {
            if (hshape(p, h))
                return -1;
        } else {
            p->err = "unknown or repeated key (expected 'descr', 'fortran_order', 'shape')";
            return -1;
        }
        hskip(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (hexpect(p, '}', "expected ',' or '}'"))
            return -1;
        break;
    }
    hskip(p);
    if (p->pos + 1 != p->len || p->s[p->pos] != '\n') {
        p->err = "expected only spaces and a newline after the dict";
        return -1;
    }
    if (!seen_descr || h->fortran < 0 || !h->has_shape) {
        p->err = "the header lacks 'descr', 'fortran_order' or 'shape'";
        return -1;
    }
    return 0;
}

static int read_exact(FILE *f, void *buf, size_t n) { return fread(buf, 1, n, f) == n ? 0 : -1; }

int netrt_npy_read(FILE *f, const char *path, size_t n_in, size_t n_out, netrt_data *d) {
    unsigned char pre[12];
    size_t hlen, cols = n_in + n_out, rows, r, c, chunk_rows;
    char *hdr = NULL;
    unsigned char *chunk = NULL;
    npy_header h;
    hparser hp;
    off_t start, end;
    uint64_t need;
    memset(d, 0, sizeof *d);
    if (read_exact(f, pre, 10) || memcmp(pre, "\x93NUMPY", 6) != 0) {
        report(path, "not a .npy file (it does not begin with \\x93NUMPY)");
        return -1;
    }
    if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0) {
        report(path, ".npy format version %u.%u, expected 1.0, 2.0 or 3.0", pre[6], pre[7]);
        return -1;
    }
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else {
        if (read_exact(f, pre + 10, 2)) {
            report(path, "truncated .npy header");
            return -1;
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    }
    if (hlen == 0 || hlen > NPY_HEADER_MAX) {
        report(path, ".npy header length %zu, expected 1 to %d bytes", hlen, NPY_HEADER_MAX);
        return -1;
    }
    if (!(hdr = malloc(hlen))) {
        report(path, "out of memory");
        return -1;
    }
    if (read_exact(f, hdr, hlen)) {
        report(path, "truncated .npy header (%zu bytes expected)", hlen);
        goto fail;
    }
    hp.s = hdr;
    hp.len = hlen;
    hp.pos = 0;
    hp.err = NULL;
    if (hdict(&hp, &h)) {
        report(path, "bad .npy header at byte %zu of it: %s", hp.pos, hp.err);
        goto fail;
    }
    if (strcmp(h.descr, "<f4") != 0) {
        report(path,
               "dtype '%s', expected '<f4' (little-endian float32: save "
               "a.astype('<f4'))",
               h.descr);
        goto fail;
    }
    if (h.fortran) {
        report(path, "Fortran order, expected C order (save np.ascontiguousarray(a))");
        goto fail;
    }
    if (h.ndim != 2 || h.dims[1] != cols) {
        report(path,
               "shape has %zu dimension%s%s, expected (rows, %zu): %zu input%s then "
               "%zu target%s a row",
               h.ndim, h.ndim == 1 ? "" : "s", h.ndim == 2 ? " of the wrong width" : "", cols, n_in,
               n_in == 1 ? "" : "s", n_out, n_out == 1 ? "" : "s");
        goto fail;
    }
    if (h.dims[0] == 0) {
        report(path, "no data rows: the shape is (0, %zu)", cols);
        goto fail;
    }
    /* Sizes against the file before any allocation. */
    if ((start = ftello(f)) < 0 || fseeko(f, 0, SEEK_END) != 0 || (end = ftello(f)) < 0 ||
        fseeko(f, start, SEEK_SET) != 0) {
        report(path, "cannot determine the file's size (a .npy file must be seekable): %s", strerror(errno));
        goto fail;
    }
    /* A size past what we can hold (or past 64 bits) is the shape's fault,
     * whatever the file holds: say so rather than print a wrapped size. */
    if (h.dims[0] > (uint64_t)(SIZE_MAX / 2) / cols / 4) {
        report(path,
               "the shape (%llu, %zu) is too large: its data would take more than %llu "
               "bytes, the file has %lld",
               (unsigned long long)h.dims[0], cols, (unsigned long long)(SIZE_MAX / 2),
               (long long)(end - start));
        goto fail;
    }
    if ((need = h.dims[0] * cols * 4) != (uint64_t)(end - start)) {
        report(path, "the shape (%llu, %zu) needs %llu data bytes, the file has %lld",
               (unsigned long long)h.dims[0], cols, (unsigned long long)need, (long long)(end - start));
        goto fail;
    }
    rows = (size_t)h.dims[0];
    d->x = malloc(rows * n_in * sizeof(float));
    d->t = malloc(rows * n_out * sizeof(float));
    chunk_rows = 65536 / (cols * 4) ? 65536 / (cols * 4) : 1;
    if (chunk_rows > rows)
        chunk_rows = rows;
    chunk = malloc(chunk_rows * cols * 4);
    if (!d->x || !d->t || !chunk) {
        report(path, "out of memory for %zu rows", rows);
        goto fail;
    }
    for (r = 0; r < rows; r += chunk_rows) {
        size_t k = rows - r < chunk_rows ? rows - r : chunk_rows, i;
        if (read_exact(f, chunk, k * cols * 4)) {
            report(path, "cannot read the data: %s", ferror(f) ? strerror(errno) : "truncated");
            goto fail;
        }
        for (i = 0; i < k; i++)
            for (c = 0; c < cols; c++) {
                const unsigned char *b = chunk + (i * cols + c) * 4;
                uint32_t u =
                    (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
                float v;
                memcpy(&v, &u, sizeof v);
                if (!isfinite(v)) {
                    report(path,
                           "row %zu, column %zu: expected a finite number, not NaN or "
                           "infinity",
                           r + i + 1, c + 1);
                    goto fail;
                }
                if (c < n_in)
                    d->x[(r + i) * n_in + c] = v;
                else
                    d->t[(r + i) * n_out + c - n_in] = v;
            }
    }
    d->n = rows;
    free(hdr);
    free(chunk);
    return 0;
fail:
    free(hdr);
    free(chunk);
    netrt_data_free(d);
    return -1;
}
