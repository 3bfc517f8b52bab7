/* data.h: the runtime's data readers (CSV, .npy), internal to the runtime (not installed).
 *
 * A data set is n samples, each n_in inputs and n_out targets, stored as two
 * contiguous row-major float arrays so a batch is a plain pointer into them.
 */
#ifndef NETRT_DATA_H
#define NETRT_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct netrt_data {
    size_t n; /* samples */
    float *x; /* n rows of n_in inputs */
    float *t; /* n rows of n_out targets */
} netrt_data;

/* Longest accepted line in bytes, without its line ending. */
#define NETRT_LINE_MAX 65536

/* Reads the whole of PATH into d: a NumPy .npy file when the name ends in
 * ".npy" (any case), CSV otherwise.  On any problem (cannot open, read error,
 * a bad row, no data rows, out of memory) prints one line on stderr,
 * `PATH:LINE:COL: error: ...` or `PATH: error: ...`, leaves d empty and
 * returns -1; returns 0 on success.  Free d with netrt_data_free. */
int netrt_data_read(const char *path, size_t n_in, size_t n_out, netrt_data *d);

/* The readers on an open stream; path only names it in messages.  Same
 * contract as netrt_data_read.  The .npy reader needs a seekable stream. */
int netrt_csv_read(FILE *f, const char *path, size_t n_in, size_t n_out, netrt_data *d);
int netrt_npy_read(FILE *f, const char *path, size_t n_in, size_t n_out, netrt_data *d);

/* The last fraction `frac` (0 < frac < 1) of d's samples, rounded up to at
 * least one, move to val (newly allocated); d keeps the rest.  Returns 0, or
 * -1 when either part would be empty or memory runs out (nothing moved). */
int netrt_data_split(netrt_data *d, double frac, size_t n_in, size_t n_out, netrt_data *val);

void netrt_data_free(netrt_data *d);

/* A decimal integer in [lo, hi], digits only: no sign, no junk, no
 * overflow.  Returns 0, or -1 with *v untouched. */
int netrt_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *v);

/* s[0..len) as a message may echo it, into out (cap bytes): at most max
 * bytes, then "..."; unprintable bytes, quotes and backslashes as \xNN. */
const char *netrt_escape(const char *s, size_t len, size_t max, char *out, size_t cap);

#endif
