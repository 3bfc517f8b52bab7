/* fuzz_safetensors.c: libFuzzer target for the checkpoint loader
 * (runtime/checkpoint.c and its JSON reader, runtime/json.c).
 *
 * The model is the reference network's shape (hidden 3x5, 3; out 1x3, 1)
 * with momentum-style optimizer state for every parameter, so the parameter,
 * state and metadata paths are all reachable.  Besides not crashing, a
 * successful decode must produce finite values only, and a failed one must
 * leave a message.
 */
#include "checkpoint.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct params {
    float hw[3][5], hb[3], ow[1][3], ob[1];
} params;
typedef struct optim {
    uint64_t steps;
    params buf;
} optim;

static const netrt_tensor tensors[] = {
    {"hidden.weight", 0, 3, 5}, {"hidden.bias", 15, 3, 0},
    {"out.weight", 18, 1, 3},   {"out.bias", 21, 1, 0},
};
static const netrt_tensor state[] = {
    {"optim.hidden.weight.momentum_buffer", 2, 3, 5},
    {"optim.hidden.bias.momentum_buffer", 17, 3, 0},
    {"optim.out.weight.momentum_buffer", 20, 1, 3},
    {"optim.out.bias.momentum_buffer", 23, 1, 0},
};
static const netrt_model model = {
    .name = "seed", .source = "seed.yaml", .version = "fuzz", .n_in = 5, .n_out = 1,
    .n_target = 1, .batch = 1, .params_size = sizeof(params), .optim_size = sizeof(optim),
    .n_tensors = 4, .tensors = tensors, .lr = 0.01f, .n_state = 4, .state = state,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    params p;
    optim o;
    netrt_meta meta;
    char msg[512] = "";
    size_t i;
    memset(&p, 0, sizeof p);
    memset(&o, 0, sizeof o);
    if (netrt_ckpt_decode(&model, data, size, &p, &o, &meta, 0, msg, sizeof msg) == 0) {
        for (i = 0; i < sizeof p / sizeof(float); i++)
            if (!isfinite(((float *)&p)[i]))
                abort();
    } else if (!msg[0]) {
        abort();
    }
    return 0;
}
