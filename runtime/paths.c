/* paths.c: the trainer's files, checked before any work is done.
 *
 * A run that would destroy one of its own inputs, or that can only fail at
 * its end, is refused at its start with one line `PATH: error: ...`:
 *
 *   - an output (--save, --log, --plot) may not be an input (--data, --val,
 *     --load) nor another output, however it is spelled: a symlink, `./x`, a hard
 *     link all name the same file (same device and inode).  The one
 *     exception is --save equal to --load, which is how a run is resumed:
 *     the checkpoint read at the start is replaced whole at the end.
 *   - --save and --plot must be writable now (netrt_save_check,
 *     netrt_plot_check): a regular file or a new name, in a folder where a
 *     file can be created.  A FIFO or a device is refused, never renamed
 *     over (checkpoint.c, plot.c).
 *
 * An output that does not exist yet cannot be an existing input; two that
 * do not exist are the same when their folders are and their last names
 * match.  The checks are made once, before the data is read; --log is then
 * opened (created) before the first epoch as before.
 */
#define _POSIX_C_SOURCE 200809L
#include "trainer.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Which file a path names: the file itself when it exists, else its folder
 * and its last name. */
typedef struct file_id {
    int known; /* 0: neither the file nor its folder exists */
    int exists;
    dev_t dev;
    ino_t ino;
    const char *base; /* !exists: the last name, inside the path */
} file_id;

static file_id identify(const char *path) {
    file_id id = {0};
    struct stat st;
    const char *slash = strrchr(path, '/');
    char *dir;
    if (stat(path, &st) == 0) {
        id.known = id.exists = 1;
        id.dev = st.st_dev;
        id.ino = st.st_ino;
        return id;
    }
    id.base = slash ? slash + 1 : path;
    if (!(dir = malloc(strlen(path) + 2)))
        return id;
    if (!slash)
        strcpy(dir, ".");
    else if (slash == path)
        strcpy(dir, "/");
    else {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    }
    if (stat(dir, &st) == 0) {
        id.known = 1;
        id.dev = st.st_dev;
        id.ino = st.st_ino;
    }
    free(dir);
    return id;
}

static int same_file(const file_id *a, const file_id *b) {
    return a->known && b->known && a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
        (a->exists || strcmp(a->base, b->base) == 0);
}

int netrt_check_files(const char *data, const char *val, const char *load, const char *save, const char *log,
                      const char *plot) {
    const char *in_opt[] = {"data", "val", "load"}, *in_path[] = {data, val, load};
    const char *out_opt[] = {"save", "log", "plot"}, *out_path[] = {save, log, plot};
    file_id out_id[3];
    char err[1024];
    size_t i, k;
    for (i = 0; i < 3; i++) {
        if (!out_path[i])
            continue;
        out_id[i] = identify(out_path[i]);
        for (k = 0; k < 3; k++) {
            file_id in_id;
            if (!in_path[k] || (i == 0 && k == 2)) /* --save may be --load: resuming */
                continue;
            in_id = identify(in_path[k]);
            if (same_file(&out_id[i], &in_id)) {
                fflush(stdout);
                fprintf(stderr,
                        "%s: error: --%s names the same file as --%s '%s'; writing it would "
                        "destroy the %s\n",
                        out_path[i], out_opt[i], in_opt[k], in_path[k], k == 2 ? "checkpoint" : "data");
                return -1;
            }
        }
        for (k = 0; k < i; k++)
            if (out_path[k] && same_file(&out_id[k], &out_id[i])) {
                fflush(stdout);
                fprintf(stderr, "%s: error: --%s names the same file as --%s '%s'; give each its own file\n",
                        out_path[i], out_opt[i], out_opt[k], out_path[k]);
                return -1;
            }
    }
    if ((save && netrt_save_check(save, err, sizeof err)) ||
        (plot && netrt_plot_check(plot, err, sizeof err))) {
        fflush(stdout);
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}
