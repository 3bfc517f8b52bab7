/* corrupt.c: the bad-file corpus test.  Linked with the runtime and with
 * fake_model.c built with -DFAKE_MOMENTUM -DFAKE_NO_MAIN, it takes a small valid
 * checkpoint, a small CSV and a small .npy file and loads every truncation
 * (each length from 0 to the size minus one) and every single-bit flip in
 * the first HEADER bytes (the checkpoint's whole header; all of the data
 * files), each written to a scratch file.  Each must either be rejected with
 * one line naming the file while the weights in memory stay exactly as they
 * were, or load and give exactly the original weights.  Crashes and leaks are
 * the sanitizers' to catch (tests/check runs this under ASan + UBSan).
 *
 * usage: corrupt CHECKPOINT CSV NPY SCRATCH_DIR
 * Prints one summary line per file kind and "FAIL ..." for any violation.
 */
#include "data.h"
#include "netrt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const netrt_model fake_model;

static int failures;

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    long len;
    if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        fprintf(stderr, "corrupt: cannot read %s\n", path);
        exit(2);
    }
    b = malloc((size_t)len + 1);
    if (!b || fread(b, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "corrupt: cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void spill(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f)) {
        fprintf(stderr, "corrupt: cannot write %s\n", path);
        exit(2);
    }
}

/* One checkpoint variant: rejected with p, o untouched and a one-line
 * message naming the file, or loaded with the original weights. */
static int try_ckpt(const char *path, const void *want_p, const char *what, size_t at)
{
    unsigned char p[64], o[64], p0[64], o0[64];
    char err[1024];
    memset(p, 0xA5, sizeof p);
    memset(o, 0x5A, sizeof o);
    memcpy(p0, p, sizeof p);
    memcpy(o0, o, sizeof o);
    if (netrt_load(&fake_model, p, o, NULL, path, err, sizeof err) == 0) {
        if (memcmp(p, want_p, fake_model.params_size) != 0) {
            printf("FAIL %s %zu: loaded other weights\n", what, at);
            failures++;
        }
        return 1;
    }
    if (memcmp(p, p0, sizeof p) || memcmp(o, o0, sizeof o)) {
        printf("FAIL %s %zu: a rejected file changed the weights\n", what, at);
        failures++;
    }
    if (strncmp(err, path, strlen(path)) != 0 || !strstr(err, ": error: ") || strchr(err, '\n')) {
        printf("FAIL %s %zu: message is not one line naming the file: %s\n", what, at, err);
        failures++;
    }
    return 0;
}

static void checkpoints(const char *good, const char *scratch)
{
    size_t n, i, loaded = 0, total = 0, header;
    unsigned char *b = slurp(good, &n), want[64];
    char err[1024];
    int bit;
    if (netrt_load(&fake_model, want, NULL, NULL, good, err, sizeof err)) {
        printf("FAIL the valid checkpoint does not load: %s\n", err);
        failures++;
        return;
    }
    for (i = 0; i < n; i++, total++) {
        spill(scratch, b, i);
        loaded += (size_t)try_ckpt(scratch, want, "truncation", i);
    }
    header = 8 + (size_t)b[0] + ((size_t)b[1] << 8);
    for (i = 0; i < header && i < n; i++)
        for (bit = 0; bit < 8; bit++, total++) {
            b[i] ^= (unsigned char)(1u << bit);
            spill(scratch, b, n);
            loaded += (size_t)try_ckpt(scratch, want, "bit flip at byte", i);
            b[i] ^= (unsigned char)(1u << bit);
        }
    printf("checkpoint: %zu bytes, %zu variants (%zu truncations, %zu bit flips in the %zu "
           "header bytes), %zu loaded the original weights, %zu rejected\n", n, total, n,
           total - n, header, loaded, total - loaded);
    free(b);
}

/* Data: any outcome but a crash is fine, as long as a success yields a
 * sane data set and a failure an empty one. */
static void data(const char *good, const char *scratch, const char *what)
{
    size_t n, i, ok = 0, total = 0;
    unsigned char *b = slurp(good, &n);
    int bit;
    FILE *devnull = freopen("/dev/null", "w", stderr);
    (void)devnull;
    for (i = 0; i <= n; i++) {
        size_t len = i < n ? i : n;
        int flips = i < n ? 8 : 0, f;
        for (f = -1; f < flips; f++, total++) {
            netrt_data d;
            bit = f;
            if (bit >= 0)
                b[i] ^= (unsigned char)(1u << bit);
            spill(scratch, b, bit >= 0 ? n : len);
            if (netrt_data_read(scratch, 2, 1, &d) == 0) {
                ok++;
                if (!d.n || !d.x || !d.t) {
                    printf("FAIL %s %zu: success without data\n", what, i);
                    failures++;
                }
            } else if (d.n || d.x || d.t) {
                printf("FAIL %s %zu: failure left data behind\n", what, i);
                failures++;
            }
            netrt_data_free(&d);
            if (bit >= 0)
                b[i] ^= (unsigned char)(1u << bit);
        }
    }
    printf("%s: %zu bytes, %zu variants (truncations and bit flips), %zu read, %zu rejected\n",
           what, n, total, ok, total - ok);
    free(b);
}

int main(int argc, char **argv)
{
    char scratch[4096];
    if (argc != 5) {
        fprintf(stderr, "usage: corrupt CHECKPOINT CSV NPY SCRATCH_DIR\n");
        return 2;
    }
    snprintf(scratch, sizeof scratch, "%s/variant.safetensors", argv[4]);
    checkpoints(argv[1], scratch);
    snprintf(scratch, sizeof scratch, "%s/variant.csv", argv[4]);
    fflush(stdout);
    data(argv[2], scratch, "csv");
    snprintf(scratch, sizeof scratch, "%s/variant.npy", argv[4]);
    data(argv[3], scratch, "npy");
    printf("%d failures\n", failures);
    return failures != 0;
}
