/* fuzz_yaml.c: libFuzzer target for netc's YAML front end (compiler/parse.c).
 *
 * Each input is parsed as a model file.  A rejection is error_at(), which in
 * a -DNETC_FUZZ build of compiler/diag.c longjmps back here instead of
 * exiting; parse.c releases what it holds before calling it, so LeakSanitizer
 * checks that promise on every rejected input.  An internal error (die())
 * aborts, which libFuzzer reports as a finding, as it should.
 */
#include "netc.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern jmp_buf *netc_fuzz_jmp;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static jmp_buf env;
    /* volatile: read after longjmp */
    char *volatile buf = malloc(size + 1);
    Model m;
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    netc_fuzz_jmp = &env;
    if (setjmp(env) == 0) {
        parse_model("fuzz.yaml", buf, size, &m);
        model_free(&m);
    }
    netc_fuzz_jmp = NULL;
    free(buf);
    return 0;
}
