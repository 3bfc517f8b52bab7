/* fuzz_data.c: libFuzzer target for the data readers (runtime/data.c's CSV,
 * runtime/npy.c's .npy), built twice: -DFUZZ_NPY selects the .npy reader.
 *
 * The input is read through fmemopen as a file would be, for a model of 2
 * inputs and 1 target.  A success must give at least one row of finite
 * numbers; a failure must leave the data set empty.
 */
#define _POSIX_C_SOURCE 200809L
#include "data.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    netrt_data d;
    size_t i;
    FILE *f;
    int r;
    if (size == 0) /* fmemopen needs a buffer; the empty file is in the lit tests */
        return 0;
    if (!(f = fmemopen((void *)data, size, "rb")))
        return 0;
#ifdef FUZZ_NPY
    r = netrt_npy_read(f, "fuzz.npy", 2, 1, &d);
#else
    r = netrt_csv_read(f, "fuzz.csv", 2, 1, &d);
#endif
    fclose(f);
    if (r == 0) {
        if (!d.n)
            abort();
        for (i = 0; i < d.n * 2; i++)
            if (!isfinite(d.x[i]))
                abort();
        for (i = 0; i < d.n; i++)
            if (!isfinite(d.t[i]))
                abort();
    } else if (d.n || d.x || d.t) {
        abort();
    }
    netrt_data_free(&d);
    return 0;
}
