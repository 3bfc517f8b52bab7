/* plot.h: the trainer's --plot (plot.c), internal to the runtime (not
 * installed). */
#ifndef NETRT_PLOT_H
#define NETRT_PLOT_H

#include <stddef.h>
#include <stdint.h>

typedef struct netrt_plot {
    const char *path, *title;
    uint64_t epoch0, last; /* the x axis: the run's first and last epoch */
    int has_val;
    double *train, *val; /* per epoch from epoch0 */
    size_t n, cap;
    char *tmp; /* the temporary file beside path */
} netrt_plot;

/* Before any work: path is not a FIFO, device or folder, and a file can be
 * created beside it.  Returns 0, or -1 with one line `PATH: error: ...` in
 * err. */
int netrt_plot_check(const char *path, char *err, size_t errlen);
/* Allocates the points of epochs + 1 epochs; -1: out of memory. */
int netrt_plot_init(netrt_plot *pl, const char *path, const char *title, uint64_t epoch0, uint64_t epochs,
                    int has_val);
/* Adds the next epoch's losses (val ignored without validation data) and
 * rewrites the file atomically; -1 with the error line in err. */
int netrt_plot_add(netrt_plot *pl, double train, double val, char *err, size_t errlen);
void netrt_plot_free(netrt_plot *pl);

#endif
