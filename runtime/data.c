/* data.c: reads training data: CSV here, .npy in npy.c, chosen by suffix.
 *
 * One sample a row: n_in inputs then n_out targets, separated by commas,
 * spaces and tabs allowed around each number.  Blank lines and lines whose
 * first non-blank character is '#' are skipped; the first remaining row may
 * be a header (it is one when no field starts like a number); LF and CRLF
 * line endings and a UTF-8 byte-order mark are fine.  Every number must be
 * finite and fit a float.  The whole file is read and checked before the
 * caller sees any of it, so nothing ever trains on half-read data; the first
 * bad row stops the read with `PATH:LINE:COL: error: WHAT WAS EXPECTED`.
 */
#include "data.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reader's state: where we are, and the rows stored so far. */
typedef struct reader {
    const char *path;
    size_t line; /* 1-based number of the line in buf */
    char *buf;   /* the current line, NUL-terminated, no line ending */
    size_t len;
    size_t n_in, n_out;
    netrt_data *d;
    size_t cap; /* rows allocated in d->x and d->t */
} reader;

/* One error line on stderr; col 0 means "no column" and line 0 "no line". */
static void report(const reader *r, size_t line, size_t col, const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    if (line && col)
        fprintf(stderr, "%s:%zu:%zu: error: ", r->path, line, col);
    else
        fprintf(stderr, "%s: error: ", r->path);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static const char *plural(size_t n) { return n == 1 ? "" : "s"; }

int netrt_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *v) {
    uint64_t x = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (d > 9 || x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    if (x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

const char *netrt_escape(const char *s, size_t len, size_t max, char *out, size_t cap) {
    size_t n = 0, i;
    for (i = 0; i < len && n + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == max) {
            n += (size_t)snprintf(out + n, cap - n, "...");
            break;
        }
        if (c < 0x20 || c >= 0x7f || c == '\'' || c == '\\')
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", c);
        else
            out[n++] = (char)c;
    }
    out[n] = '\0';
    return out;
}

/* The field at buf[i] as a message may echo it: up to the next comma, at most
 * 24 bytes, trailing blanks dropped. */
static const char *field_text(const reader *r, size_t i, char *out, size_t cap) {
    size_t end = i, n;
    while (end < r->len && r->buf[end] != ',')
        end++;
    netrt_escape(r->buf + i, end - i, 24, out, cap);
    for (n = strlen(out); n > 0 && out[n - 1] == ' ';)
        out[--n] = '\0';
    return out;
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

static size_t skip_blanks(const reader *r, size_t i) {
    while (i < r->len && is_blank(r->buf[i]))
        i++;
    return i;
}

/* Reads the next line into r->buf.  Returns 1 for a line, 0 at end of file,
 * -1 after reporting an error (read error, line too long). */
static int next_line(reader *r, FILE *f) {
    size_t len = 0;
    int c = EOF;
    while ((c = getc(f)) != EOF && c != '\n') {
        /* One byte over the limit is kept so that a CR before the LF fits. */
        if (len > NETRT_LINE_MAX) {
            report(r, r->line + 1, NETRT_LINE_MAX + 1, "line too long: expected at most %d bytes",
                   NETRT_LINE_MAX);
            return -1;
        }
        r->buf[len++] = (char)c;
    }
    if (ferror(f)) {
        report(r, 0, 0, "cannot read: %s", strerror(errno));
        return -1;
    }
    if (c == EOF && len == 0)
        return 0;
    r->line++;
    if (len > 0 && r->buf[len - 1] == '\r')
        len--;
    if (len > NETRT_LINE_MAX) {
        report(r, r->line, NETRT_LINE_MAX + 1, "line too long: expected at most %d bytes", NETRT_LINE_MAX);
        return -1;
    }
    r->buf[len] = '\0';
    /* A byte-order mark is not part of the first field. */
    if (r->line == 1 && len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0) {
        memmove(r->buf, r->buf + 3, len - 3 + 1);
        len -= 3;
    }
    r->len = len;
    return 1;
}

/* Parses the number that starts at buf[i] (blanks already skipped) into *v;
 * only blanks may follow it before a comma or the end of the line.  Returns
 * the index just past it, or 0 after reporting what was expected. */
static size_t parse_number(const reader *r, size_t i, float *v) {
    const char *s = r->buf + i;
    char *end = NULL;
    double x;
    size_t j;
    char text[128];
    if (i >= r->len || *s == ',') {
        report(r, r->line, i + 1, "expected a number");
        return 0;
    }
    errno = 0;
    /* strtod would also skip leading whitespace such as '\v'; refuse it. */
    x = strchr("+-.0123456789nNiI", *s) ? strtod(s, &end) : 0;
    for (j = end ? (size_t)(end - r->buf) : i; j < r->len && is_blank(r->buf[j]); j++)
        ;
    if (!end || end == s || (j < r->len && r->buf[j] != ',')) {
        report(r, r->line, i + 1, "expected a number, found '%s'", field_text(r, i, text, sizeof text));
        return 0;
    }
    if (isnan(x) || (isinf(x) && errno != ERANGE)) {
        report(r, r->line, i + 1, "expected a finite number, not NaN or infinity");
        return 0;
    }
    if (fabs(x) > FLT_MAX) {
        report(r, r->line, i + 1, "number out of range for a float");
        return 0;
    }
    *v = (float)x; /* tiny values underflow to 0 or a subnormal: fine */
    return (size_t)(end - r->buf);
}

/* Whether buf[a, b) starts like a number: a digit, sign or point. */
static int field_is_number(const reader *r, size_t a, size_t b) {
    while (a < b && is_blank(r->buf[a]))
        a++;
    return a < b && strchr("+-.0123456789", r->buf[a]);
}

/* A header is a first row none of whose fields starts like a number.  Returns 1 when
 * the line is a good header, 0 when it is not a header, -1 after reporting a
 * header with the wrong number of columns. */
static int header(const reader *r) {
    size_t a = 0, fields = 0, i;
    for (i = 0; i <= r->len; i++) {
        if (i == r->len || r->buf[i] == ',') {
            if (field_is_number(r, a, i))
                return 0;
            fields++;
            a = i + 1;
        }
    }
    if (fields != r->n_in + r->n_out) {
        report(r, r->line, 1, "header has %zu column%s, expected %zu (%zu input%s, %zu target%s)", fields,
               plural(fields), r->n_in + r->n_out, r->n_in, plural(r->n_in), r->n_out, plural(r->n_out));
        return -1;
    }
    return 1;
}

/* Makes room for one more row.  Returns 0, or -1 after reporting. */
static int grow(reader *r) {
    netrt_data *d = r->d;
    size_t cap = r->cap ? r->cap * 2 : 256;
    size_t width = r->n_in > r->n_out ? r->n_in : r->n_out;
    float *x, *t;
    if (d->n < r->cap)
        return 0;
    if (cap < r->cap || cap > SIZE_MAX / sizeof(float) / width) {
        report(r, r->line, 1, "too many rows");
        return -1;
    }
    x = realloc(d->x, cap * r->n_in * sizeof(float));
    if (x)
        d->x = x;
    t = x ? realloc(d->t, cap * r->n_out * sizeof(float)) : NULL;
    if (t)
        d->t = t;
    if (!x || !t) {
        report(r, r->line, 1, "out of memory");
        return -1;
    }
    r->cap = cap;
    return 0;
}

/* Parses the line as one sample and appends it.  Returns 0, or -1 after
 * reporting the first thing wrong with it. */
static int row(reader *r) {
    size_t cols = r->n_in + r->n_out, i = 0, j;
    float *x, *t;
    if (grow(r))
        return -1;
    x = r->d->x + r->d->n * r->n_in;
    t = r->d->t + r->d->n * r->n_out;
    for (j = 0; j < cols; j++) {
        float *v = j < r->n_in ? &x[j] : &t[j - r->n_in];
        i = skip_blanks(r, i);
        if (j > 0 && i == r->len) {
            report(r, r->line, i + 1, "expected %zu numbers (%zu input%s, %zu target%s), found %zu", cols,
                   r->n_in, plural(r->n_in), r->n_out, plural(r->n_out), j);
            return -1;
        }
        if (!(i = parse_number(r, i, v)))
            return -1;
        /* parse_number saw only blanks, then a comma or the end. */
        i = skip_blanks(r, i);
        if (j + 1 < cols && i < r->len)
            i++;
    }
    if (i < r->len) {
        report(r, r->line, i + 1, "expected %zu numbers (%zu input%s, %zu target%s), found more", cols,
               r->n_in, plural(r->n_in), r->n_out, plural(r->n_out));
        return -1;
    }
    r->d->n++;
    return 0;
}

int netrt_csv_read(FILE *f, const char *path, size_t n_in, size_t n_out, netrt_data *d) {
    reader r = {0};
    int got, status = 0, first = 1;
    memset(d, 0, sizeof *d);
    r.path = path;
    r.n_in = n_in;
    r.n_out = n_out;
    r.d = d;
    if (!(r.buf = malloc(NETRT_LINE_MAX + 2))) {
        report(&r, 0, 0, "out of memory");
        return -1;
    }
    while (status == 0 && (got = next_line(&r, f)) != 0) {
        size_t i;
        if (got < 0) {
            status = -1;
            break;
        }
        if (memchr(r.buf, '\0', r.len)) {
            report(&r, r.line, (size_t)((char *)memchr(r.buf, '\0', r.len) - r.buf) + 1,
                   "unexpected NUL byte");
            status = -1;
            break;
        }
        i = skip_blanks(&r, 0);
        if (i == r.len || r.buf[i] == '#')
            continue;
        if (first) {
            int h;
            first = 0;
            if ((h = header(&r)) != 0) {
                status = h < 0 ? -1 : 0;
                continue;
            }
        }
        status = row(&r);
    }
    if (status == 0 && d->n == 0) {
        report(&r, 0, 0, "no data rows: expected rows of %zu numbers (%zu input%s, %zu target%s)",
               n_in + n_out, n_in, plural(n_in), n_out, plural(n_out));
        status = -1;
    }
    free(r.buf);
    if (status)
        netrt_data_free(d);
    return status;
}

/* Whether path ends in suffix, ignoring ASCII case. */
static int ends_with(const char *path, const char *suffix) {
    size_t n = strlen(path), k = strlen(suffix), i;
    if (n < k)
        return 0;
    for (i = 0; i < k; i++) {
        char c = path[n - k + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != suffix[i])
            return 0;
    }
    return 1;
}

int netrt_data_read(const char *path, size_t n_in, size_t n_out, netrt_data *d) {
    FILE *f;
    int status;
    memset(d, 0, sizeof *d);
    if (!(f = fopen(path, "rb"))) {
        fflush(stdout);
        fprintf(stderr, "%s: error: cannot open: %s\n", path, strerror(errno));
        return -1;
    }
    if (ends_with(path, ".npy"))
        status = netrt_npy_read(f, path, n_in, n_out, d);
    else
        status = netrt_csv_read(f, path, n_in, n_out, d);
    fclose(f);
    return status;
}

void netrt_data_free(netrt_data *d) {
    free(d->x);
    free(d->t);
    memset(d, 0, sizeof *d);
}

int netrt_data_split(netrt_data *d, double frac, size_t n_in, size_t n_out, netrt_data *val) {
    size_t k, keep;
    double want = frac * (double)d->n;
    memset(val, 0, sizeof *val);
    if (!(frac > 0 && frac < 1))
        return -1;
    k = want >= (double)d->n ? d->n : (size_t)ceil(want);
    if (k == 0)
        k = 1;
    if (k >= d->n)
        return -1;
    keep = d->n - k;
    val->x = malloc(k * n_in * sizeof(float));
    val->t = malloc(k * n_out * sizeof(float));
    if (!val->x || !val->t) {
        netrt_data_free(val);
        return -1;
    }
    memcpy(val->x, d->x + keep * n_in, k * n_in * sizeof(float));
    memcpy(val->t, d->t + keep * n_out, k * n_out * sizeof(float));
    val->n = k;
    d->n = keep;
    return 0;
}
