/* plot.c: the trainer's --plot FILE.svg, the loss per epoch as a picture.
 *
 * A standalone SVG (no script, no font files, nothing beyond libc to write
 * it): the training loss (blue) and, with validation data, the validation
 * loss (orange) per epoch, the y axis logarithmic with a tick and label at
 * every power of ten (and at 2 and 5 when the data spans less than two
 * decades), the x axis the epochs with about ten labelled ticks, axis
 * titles, a legend.  The x range is the whole run (epoch0 to the last
 * epoch) from the start, so the curve grows across a fixed frame.  Each
 * point is a circle carrying its epoch and loss (data-epoch, data-loss, the
 * loss as --log writes it, %.9g) for tools and tests; a loss of 0 is drawn
 * at the bottom of the axis, a non-finite one not at all.
 *
 * The file is rewritten after every epoch, atomically: written whole to a
 * temporary file beside it and renamed over it, so a browser reloading it
 * never sees half a picture.  As for --save, a target that exists and is
 * not a regular file (a FIFO, a device) is refused, and so is one of the
 * run's inputs (paths.c); both are checked before the first epoch.  The
 * memory for the points is allocated once, before training.
 */
#define _POSIX_C_SOURCE 200809L
#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { WIDTH = 800, HEIGHT = 500, LEFT = 90, RIGHT = 30, TOP = 50, BOTTOM = 70 };

int netrt_plot_check(const char *path, char *err, size_t errlen) {
    struct stat st;
    size_t n = strlen(path);
    if (!n || path[n - 1] == '/') {
        snprintf(err, errlen, "%s: error: --plot: not a file name", path);
        return -1;
    }
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(err, errlen,
                 "%s: error: --plot: not a regular file: the plot is written by renaming a new file over "
                 "its name, which would replace it",
                 path);
        return -1;
    }
    /* Whether a file can be created beside it: by creating one. */
    char *tmp = malloc(n + 32);
    if (!tmp) {
        snprintf(err, errlen, "%s: error: --plot: out of memory", path);
        return -1;
    }
    snprintf(tmp, n + 32, "%s.tmp-%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0) {
        snprintf(err, errlen, "%s: error: --plot: cannot create a file beside it: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    close(fd);
    unlink(tmp);
    free(tmp);
    return 0;
}

int netrt_plot_init(netrt_plot *pl, const char *path, const char *title, uint64_t epoch0, uint64_t epochs,
                    int has_val) {
    memset(pl, 0, sizeof *pl);
    pl->path = path;
    pl->title = title;
    pl->epoch0 = epoch0;
    pl->last = epoch0 + epochs;
    pl->has_val = has_val;
    pl->cap = (size_t)epochs + 1;
    pl->train = malloc(pl->cap * sizeof *pl->train);
    pl->val = malloc(pl->cap * sizeof *pl->val);
    pl->tmp = malloc(strlen(path) + 32);
    if (!pl->train || !pl->val || !pl->tmp) {
        netrt_plot_free(pl);
        return -1;
    }
    snprintf(pl->tmp, strlen(path) + 32, "%s.tmp-%ld", path, (long)getpid());
    return 0;
}

void netrt_plot_free(netrt_plot *pl) {
    free(pl->train);
    free(pl->val);
    free(pl->tmp);
    pl->train = pl->val = NULL;
    pl->tmp = NULL;
}

/* The y axis: [lo, hi] in log10, whole decades around the finite, positive losses. */
static void y_range(const netrt_plot *pl, double *lo, double *hi) {
    double mn = INFINITY, mx = -INFINITY;
    size_t i;
    for (i = 0; i < pl->n; i++) {
        double v[2] = {pl->train[i], pl->val[i]};
        int k;
        for (k = 0; k < 1 + pl->has_val; k++)
            if (isfinite(v[k]) && v[k] > 0) {
                mn = v[k] < mn ? v[k] : mn;
                mx = v[k] > mx ? v[k] : mx;
            }
    }
    if (!(mn <= mx))
        mn = mx = 1;
    *lo = floor(log10(mn));
    *hi = ceil(log10(mx));
    if (*hi <= *lo)
        *hi = *lo + 1;
}

static double x_of(const netrt_plot *pl, uint64_t e) {
    double span = pl->last > pl->epoch0 ? (double)(pl->last - pl->epoch0) : 1;
    return LEFT + (WIDTH - LEFT - RIGHT) * ((double)(e - pl->epoch0) / span);
}

static double y_of(double lo, double hi, double v) {
    double l = v > 0 ? log10(v) : lo;
    if (l < lo)
        l = lo;
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (l - lo) / (hi - lo));
}

/* A power of ten as a label: 1, 10, 100, 0.1, 0.01, else 1e-05. */
static void decade_label(char *buf, size_t cap, double v) {
    if (v >= 1e-3 && v <= 1e4)
        snprintf(buf, cap, "%g", v);
    else
        snprintf(buf, cap, "%.0e", v);
}

static void curve(FILE *f, const netrt_plot *pl, const double *v, double lo, double hi, const char *color,
                  const char *cls) {
    size_t i;
    int any = 0;
    fprintf(f, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", cls, color);
    for (i = 0; i < pl->n; i++)
        if (isfinite(v[i]))
            fprintf(f, "%s%.2f,%.2f", any++ ? " " : "", x_of(pl, pl->epoch0 + i), y_of(lo, hi, v[i]));
    fputs("\"/>\n", f);
    for (i = 0; i < pl->n; i++)
        if (isfinite(v[i]))
            fprintf(f,
                    "<circle class=\"%s\" cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\" data-epoch=\"%llu\" "
                    "data-loss=\"%.9g\"><title>epoch %llu: %.6g</title></circle>\n",
                    cls, x_of(pl, pl->epoch0 + i), y_of(lo, hi, v[i]), color,
                    (unsigned long long)(pl->epoch0 + i), v[i], (unsigned long long)(pl->epoch0 + i), v[i]);
}

static void write_svg(FILE *f, const netrt_plot *pl) {
    double lo, hi, d;
    uint64_t step = 1, e;
    char label[32];
    int x0 = LEFT, x1 = WIDTH - RIGHT, y0 = TOP, y1 = HEIGHT - BOTTOM;
    y_range(pl, &lo, &hi);
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"sans-serif\" font-size=\"13\">\n"
            "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
            WIDTH, HEIGHT, WIDTH, HEIGHT, WIDTH, HEIGHT);
    fputs("<text x=\"", f);
    fprintf(f, "%d\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">", WIDTH / 2);
    for (const char *c = pl->title; *c; c++) /* the model's name: escaped for XML */
        if (*c == '<')
            fputs("&lt;", f);
        else if (*c == '&')
            fputs("&amp;", f);
        else if (*c == '>')
            fputs("&gt;", f);
        else
            fputc(*c, f);
    fputs(": loss per epoch</text>\n", f);
    fprintf(f,
            "<rect class=\"area\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\" "
            "data-log10-min=\"%g\" data-log10-max=\"%g\" data-epoch-min=\"%llu\" data-epoch-max=\"%llu\"/>\n",
            x0, y0, x1 - x0, y1 - y0, lo, hi, (unsigned long long)pl->epoch0, (unsigned long long)pl->last);
    /* y ticks: every decade, and 2 and 5 within a short range */
    for (d = lo; d <= hi + 1e-9; d++) {
        static const double sub[] = {1, 2, 5};
        int k;
        for (k = 0; k < (hi - lo < 2 ? 3 : 1); k++) {
            double v = pow(10, d) * sub[k], y;
            if (log10(v) > hi + 1e-9)
                break;
            y = y_of(lo, hi, v);
            if (k == 0)
                decade_label(label, sizeof label, pow(10, d));
            else
                snprintf(label, sizeof label, "%g", v);
            fprintf(f,
                    "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" stroke=\"#ddd\"/>"
                    "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" stroke=\"#333\"/>"
                    "<text class=\"ytick\" x=\"%d\" y=\"%.2f\" text-anchor=\"end\" "
                    "dominant-baseline=\"middle\">%s"
                    "</text>\n",
                    x0, y, x1, y, x0 - 6, y, x0, y, x0 - 9, y, label);
        }
    }
    /* x ticks: about ten, at round steps */
    {
        uint64_t decade = 1;
        static const unsigned mult[] = {1, 2, 5};
        int k = 0;
        while ((pl->last - pl->epoch0) / (step = decade * mult[k]) > 10)
            if (++k == 3)
                k = 0, decade *= 10;
    }
    for (e = (pl->epoch0 + step - 1) / step * step; e <= pl->last; e += step) {
        double x = x_of(pl, e);
        fprintf(f,
                "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" stroke=\"#333\"/>"
                "<text class=\"xtick\" x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">%llu</text>\n",
                x, y1, x, y1 + 6, x, y1 + 22, (unsigned long long)e);
    }
    fprintf(f,
            "<text class=\"xlabel\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">epoch</text>\n"
            "<text class=\"ylabel\" x=\"22\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 22 %d)\">"
            "loss (log scale)</text>\n",
            (x0 + x1) / 2, HEIGHT - 22, (y0 + y1) / 2, (y0 + y1) / 2);
    curve(f, pl, pl->train, lo, hi, "#1f5fa8", "train");
    if (pl->has_val)
        curve(f, pl, pl->val, lo, hi, "#e07b00", "val");
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" fill=\"#1f5fa8\"/>"
            "<text x=\"%d\" y=\"%d\">training</text>\n",
            x1 - 150, y0 + 14, x1 - 130, y0 + 20);
    if (pl->has_val)
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" fill=\"#e07b00\"/>"
                "<text x=\"%d\" y=\"%d\">validation</text>\n",
                x1 - 150, y0 + 34, x1 - 130, y0 + 40);
    fputs("</svg>\n", f);
}

int netrt_plot_add(netrt_plot *pl, double train, double val, char *err, size_t errlen) {
    FILE *f;
    int fd, bad;
    if (pl->n < pl->cap) {
        pl->train[pl->n] = train;
        pl->val[pl->n] = pl->has_val ? val : NAN;
        pl->n++;
    }
    unlink(pl->tmp); /* a leftover of this process */
    if ((fd = open(pl->tmp, O_WRONLY | O_CREAT | O_EXCL, 0666)) < 0 || !(f = fdopen(fd, "w"))) {
        snprintf(err, errlen, "%s: error: --plot: cannot create a file beside it: %s", pl->path,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    write_svg(f, pl);
    bad = ferror(f);
    errno = 0;
    if (fflush(f) != 0 || bad || fsync(fd) != 0) {
        int e = errno ? errno : EIO;
        fclose(f);
        unlink(pl->tmp);
        snprintf(err, errlen, "%s: error: --plot: cannot write (%s); the previous plot is unchanged",
                 pl->path, strerror(e));
        return -1;
    }
    if (fclose(f) != 0 || rename(pl->tmp, pl->path) != 0) {
        int e = errno;
        unlink(pl->tmp);
        snprintf(err, errlen, "%s: error: --plot: cannot replace it (%s); the previous plot is unchanged",
                 pl->path, strerror(e));
        return -1;
    }
    return 0;
}
