/* output.c: writing netc's outputs without losing anything the user has.
 *
 * Every output path is checked against the input before any work: a path
 * that names the input file by any spelling (./, a symlink, a hard link:
 * the same device and inode) is refused, as gcc refuses it.  A regular
 * output is written to a temporary file beside its target and renamed into
 * place only once complete, so a failed run leaves an existing file as it
 * was; a target that exists and is not a regular file (/dev/null,
 * /dev/stdout, a FIFO) is written in place, with nothing created beside it
 * (a user may not write in /dev).  Temporaries are opened relative to their
 * folder and named to fit NAME_MAX, so any path the system accepts works.
 *
 * Cleanup is the same on every way out: an error line (diag.c's hook), or
 * SIGINT, SIGTERM, SIGHUP, which stop a running C compiler (its whole
 * process group), reap it, remove the temporaries and the temporary folder,
 * and then end netc by the same signal, so its status is the conventional
 * one.  SIGXFSZ is ignored: past a file-size limit (ulimit -f) a write
 * fails with EFBIG and is reported as any failed write.  The registry the
 * signal handler reads is changed only with those signals blocked, and holds
 * no pointer the handler could see half-built.
 */
#define _POSIX_C_SOURCE 200809L
#include "netc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef O_PATH
#define O_PATH O_RDONLY
#endif

enum { TEMPS = 8 };

/* A temporary file: name relative to the folder dir (an open descriptor). */
typedef struct Temp {
    bool used;
    int dir;
    char name[NAME_MAX + 1];
} Temp;

static Temp temps[TEMPS];
static char *tempdir;            /* the temporary folder, or NULL */
static int tempdir_fd = -1;      /* it, opened for *at() calls */
static pid_t child;              /* a running C compiler (its process group), or 0 */
static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
static struct stat input_st;     /* the input file's identity */
static bool input_known;
static const char *input_path;

/* Blocks (or restores) the cleanup signals around registry changes. */
static void block(sigset_t *old) {
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, old);
}

static void unblock(const sigset_t *old) { sigprocmask(SIG_SETMASK, old, NULL); }

/* Async-signal-safe: stops the child, removes every temporary. */
static void cleanup_now(void) {
    if (child > 0) {
        kill(-child, SIGTERM);
        kill(child, SIGTERM);
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
            ;
        child = 0;
    }
    for (int i = 0; i < TEMPS; i++)
        if (temps[i].used) {
            unlinkat(temps[i].dir, temps[i].name, 0);
            temps[i].used = false;
        }
    if (tempdir)
        rmdir(tempdir);
}

static void on_signal(int sig) {
    int saved = errno;
    cleanup_now();
    signal(sig, SIG_DFL);
    raise(sig); /* delivered once this handler returns: netc ends by sig */
    errno = saved;
}

void output_cleanup(void) {
    sigset_t old;
    block(&old);
    cleanup_now();
    for (int i = 0; i < TEMPS; i++) {
        if (temps[i].dir != AT_FDCWD && temps[i].dir != tempdir_fd)
            close(temps[i].dir);
        temps[i].dir = AT_FDCWD;
    }
    if (tempdir_fd >= 0)
        close(tempdir_fd);
    tempdir_fd = -1;
    char *d = tempdir;
    tempdir = NULL;
    unblock(&old);
    free(d);
}

void output_init(const char *input) {
    input_path = input;
    input_known = stat(input, &input_st) == 0;
    for (int i = 0; i < TEMPS; i++)
        temps[i].dir = AT_FDCWD;
    diag_cleanup(output_cleanup);
    signal(SIGXFSZ, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaddset(&sa.sa_mask, sigs[i]);
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction old;
        /* a signal ignored by whoever started netc (nohup, a background
         * job) stays ignored */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
    }
}

static bool same_file(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

void output_check(const char *path) {
    struct stat st;
    bool is_stdout = strcmp(path, "-") == 0;
    if (!input_known || (is_stdout ? fstat(STDOUT_FILENO, &st) : stat(path, &st)) != 0)
        return;
    if (same_file(&st, &input_st))
        error_at(is_stdout ? "<stdout>" : path, (Loc){0, 0},
                 "this output is the input file %s: refusing to overwrite it", input_path);
}

bool output_special(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

/* "-", or a path to the file standard output already is (/dev/stdout,
 * even when that is a regular file: a rename must not replace the link). */
static bool is_stdout(const char *path) {
    struct stat st, out;
    return strcmp(path, "-") == 0 ||
           (stat(path, &st) == 0 && fstat(STDOUT_FILENO, &out) == 0 && same_file(&st, &out));
}

bool output_direct(const char *path) { return is_stdout(path) || output_special(path); }

/* The folder part of path ("." for none) opened for *at() calls, and the
 * last component in *base. */
static int open_dir(const char *path, const char **base) {
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    if (!slash)
        return open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *dir = memcpy(xmalloc(n + 1), path, n);
    dir[n] = 0;
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int saved = errno;
    free(dir);
    errno = saved;
    return fd;
}

/* A new file BASE.tmpXXXXXX (BASE shortened to fit NAME_MAX) in dir,
 * registered; returns its descriptor, or -1 with errno set. */
static int create_temp(int dir, const char *base, int *slot) {
    static unsigned long counter;
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    int s = 0;
    while (s < TEMPS && temps[s].used)
        s++;
    if (s == TEMPS)
        die("more than %d temporary files", TEMPS);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long x = (unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 16) ^ (unsigned long)ts.tv_sec;
    for (int attempt = 0; attempt < 1000; attempt++) {
        char suffix[7];
        unsigned long r = (x += 0x9e3779b97f4a7c15ul * ++counter);
        r ^= r >> 29;
        for (int i = 0; i < 6; i++, r /= 62)
            suffix[i] = alnum[r % 62];
        suffix[6] = 0;
        char name[NAME_MAX + 1];
        int keep = (int)strlen(base);
        if (keep > NAME_MAX - 10)
            keep = NAME_MAX - 10;
        snprintf(name, sizeof name, "%.*s.tmp%s", keep, base, suffix);
        sigset_t old;
        block(&old);
        int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            temps[s].dir = dir;
            memcpy(temps[s].name, name, sizeof name);
            temps[s].used = true;
            *slot = s;
        }
        int saved = errno;
        unblock(&old);
        if (fd >= 0 || saved != EEXIST) {
            errno = saved;
            return fd;
        }
    }
    errno = EEXIST;
    return -1;
}

/* Forgets temporary slot s (after it was renamed or removed). */
static void release(int s, bool remove) {
    sigset_t old;
    block(&old);
    if (remove)
        unlinkat(temps[s].dir, temps[s].name, 0);
    temps[s].used = false;
    int dir = temps[s].dir;
    temps[s].dir = AT_FDCWD;
    unblock(&old);
    if (dir != AT_FDCWD && dir != tempdir_fd)
        close(dir);
}

void output_open(Output *o, const char *path) {
    o->path = path;
    o->slot = -1;
    if (is_stdout(path)) { /* /dev/stdout: reopening its pipe may be refused to another user */
        o->f = stdout;
        return;
    }
    if (output_special(path)) {
        o->f = fopen(path, "wb");
        if (!o->f)
            error_at(path, (Loc){0, 0}, "cannot write output: %s", strerror(errno));
        return;
    }
    const char *base;
    int dir = open_dir(path, &base);
    if (dir < 0)
        error_at(path, (Loc){0, 0}, "cannot create output: %s", strerror(errno));
    int fd = create_temp(dir, base, &o->slot);
    if (fd < 0) {
        int saved = errno;
        close(dir);
        error_at(path, (Loc){0, 0}, "cannot create output: %s", strerror(saved));
    }
    o->f = fdopen(fd, "wb");
    if (!o->f)
        error_at(path, (Loc){0, 0}, "cannot write output: %s", strerror(errno));
}

void output_close(Output *o) {
    /* a failed write leaves its bytes buffered: the flush retries and
     * fails the same way (EFBIG, ENOSPC), with the errno to report */
    int err = 0, earlier = errno;
    bool bad = ferror(o->f);
    if (fflush(o->f) != 0)
        err = errno;
    if (!err && bad)
        err = earlier ? earlier : EIO;
    if (!err && o->slot >= 0 && fsync(fileno(o->f)) != 0)
        err = errno;
    if (o->f != stdout && fclose(o->f) != 0 && !err)
        err = errno;
    o->f = NULL;
    if (err)
        error_at(strcmp(o->path, "-") == 0 ? "<stdout>" : o->path, (Loc){0, 0},
                 "cannot write output: %s", strerror(err));
}

void output_commit(Output *o, unsigned mode) {
    if (o->slot < 0)
        return;
    Temp *t = &temps[o->slot];
    const char *base = strrchr(o->path, '/') ? strrchr(o->path, '/') + 1 : o->path;
    if (fchmodat(t->dir, t->name, (mode_t)mode, 0) != 0 || renameat(t->dir, t->name, t->dir, base) != 0)
        error_at(o->path, (Loc){0, 0}, "cannot write output: %s", strerror(errno));
    release(o->slot, false);
    o->slot = -1;
}

/* ---- the C compiler's folder and run ---- */

const char *output_tempdir(void) {
    if (tempdir)
        return tempdir;
    const char *tmp = getenv("TMPDIR");
    tmp = tmp && *tmp ? tmp : "/tmp";
    char *d = xformat("%s/netc-XXXXXX", tmp);
    sigset_t old;
    block(&old);
    bool ok = mkdtemp(d) != NULL;
    int saved = errno;
    if (ok)
        tempdir = d;
    unblock(&old);
    if (!ok) {
        free(d);
        error_at(tmp, (Loc){0, 0}, "cannot create a temporary folder: %s", strerror(saved));
    }
    tempdir_fd = open(tempdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (tempdir_fd < 0)
        error_at(tempdir, (Loc){0, 0}, "cannot open the temporary folder: %s", strerror(errno));
    return tempdir;
}

char *output_temp_file(const char *name) {
    const char *d = output_tempdir();
    int s = 0;
    while (s < TEMPS && temps[s].used)
        s++;
    if (s == TEMPS || strlen(name) > NAME_MAX)
        die("no room for temporary file %s", name);
    sigset_t old;
    block(&old);
    temps[s].dir = tempdir_fd;
    snprintf(temps[s].name, sizeof temps[s].name, "%s", name);
    temps[s].used = true;
    unblock(&old);
    return xformat("%s/%s", d, name);
}

bool output_run(char *const argv[]) {
    fflush(NULL);
    sigset_t old;
    block(&old);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0); /* its own group: a signal to netc stops cc1, as and ld too */
        for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
            signal(sigs[i], SIG_DFL);
        signal(SIGXFSZ, SIG_DFL);
        unblock(&old);
        execvp(argv[0], argv);
        fprintf(stderr, "netc: error: cannot run the C compiler '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (pid > 0) {
        setpgid(pid, pid); /* also here: no window where a signal finds it in netc's group */
        child = pid;
    }
    unblock(&old);
    if (pid < 0)
        return false;
    int status = 0;
    pid_t got;
    while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    block(&old);
    child = 0;
    unblock(&old);
    return got == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void output_copy(Output *o, const char *from) {
    FILE *in = fopen(from, "rb");
    if (!in)
        error_at(from, (Loc){0, 0}, "cannot read the built trainer: %s", strerror(errno));
    char buf[1 << 15];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, k, o->f) != k)
            break;
    bool bad = ferror(in);
    fclose(in);
    if (bad)
        error_at(from, (Loc){0, 0}, "cannot read the built trainer");
}
