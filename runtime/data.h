/* data.h: the runtime's CSV reader, internal to the runtime (not installed).
 *
 * A data set is n samples, each n_in inputs and n_out targets, stored as two
 * contiguous row-major float arrays so a batch is a plain pointer into them.
 */
#ifndef NETRT_DATA_H
#define NETRT_DATA_H

#include <stddef.h>

typedef struct netrt_data {
    size_t n;   /* samples */
    float *x;   /* n rows of n_in inputs */
    float *t;   /* n rows of n_out targets */
} netrt_data;

/* Longest accepted line in bytes, without its line ending. */
#define NETRT_LINE_MAX 65536

/* Reads the whole of PATH into d.  On any problem (cannot open, read error,
 * a bad row, no data rows, out of memory) prints one line on stderr,
 * `PATH:LINE:COL: error: ...` or `PATH: error: ...`, leaves d empty and
 * returns -1; returns 0 on success.  Free d with netrt_data_free. */
int netrt_data_read(const char *path, size_t n_in, size_t n_out, netrt_data *d);

void netrt_data_free(netrt_data *d);

#endif
