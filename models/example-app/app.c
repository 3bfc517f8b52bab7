/* app.c: an app that trains the reference network on one sample and keeps
 * its weights in a checkpoint across runs (netrt_load / netrt_save).
 * Usage: app CHECKPOINT.  The first run starts from seed_init's weights;
 * later runs continue from the checkpoint. */
#include "netrt.h"
#include "seed.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CHECKPOINT\n", argv[0]);
        return 2;
    }
    seed_params p;
    seed_optim o = {0};
    char err[512];
    seed_init(&p, 42);
    FILE *f = fopen(argv[1], "rb");
    if (f) {
        fclose(f);
        if (netrt_load(&seed_model, &p, &o, NULL, argv[1], err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    }
    const float x[seed_IN] = {0.5f, -1.0f, 0.25f, 2.0f, 0.0f}, t[seed_OUT] = {1.0f};
    float loss = 0;
    for (int i = 0; i < 100; i++)
        loss = seed_step(&p, &o, x, t);
    if (netrt_save(&seed_model, &p, &o, NULL, argv[1], err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("steps %llu loss %.6g\n", (unsigned long long)o.steps, loss);
    return 0;
}
