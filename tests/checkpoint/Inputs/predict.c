/* predict.c: an app that embeds the generated seed model and uses the
 * checkpoint API: loads CHECKPOINT with netrt_load, then prints the model's
 * outputs for each row of a CSV file (inputs, then targets), one "%.9g" line
 * each, and the mean loss.  Built with the generated seed.c included here
 * (its trainer main renamed away), so it reaches the descriptor seed_model.
 *
 * usage: predict CHECKPOINT DATA.csv
 */
#define main netc_trainer_main
#include "seed.c"
#undef main

#include "data.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    seed_params p = {0};
    netrt_data d;
    char err[1024];
    size_t i;
    double loss = 0;
    if (argc != 3)
        return 2;
    if (netrt_load(&seed_model, &p, NULL, NULL, argv[1], err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (netrt_data_read(argv[2], seed_IN, seed_OUT, &d))
        return 1;
    for (i = 0; i < d.n; i++) {
        float y[seed_OUT];
        seed_forward(&p, d.x + i * seed_IN, y);
        printf("%.9g\n", (double)y[0]);
        loss += ((double)y[0] - d.t[i]) * ((double)y[0] - d.t[i]);
    }
    printf("loss %.9g\n", loss / (double)d.n);
    netrt_data_free(&d);
    return 0;
}
