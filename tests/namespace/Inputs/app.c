/* app.c: an app that embeds a generated model and links libnetrt.a, and
 * that has functions of its own named as the runtime's internals once were
 * (train, fail, state_new, json_parse, rng_next, ...), with other
 * signatures.  It links only if the runtime keeps to its netrt_ prefix.
 *
 * It trains the seed model with its own train(), saves a checkpoint with
 * netrt_save, loads it back with netrt_load, checks the weights survived,
 * then runs the runtime's trainer (netrt_main, which pulls in the whole
 * library) on the rest of the command line.
 */
#include "netrt.h"
#include "seed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

/* The app's own names. */
void fail(const char *what);
int train(seed_params *p, seed_optim *o, int epochs);
int state_new(void);
void state_free(int s);
int json_parse(const char *s);
void json_free(void);
unsigned rng_next(void);
double rng_uniform(void);
int rng_stream(int k);
double mean_loss(double a, double b);
int zero_gradient(void);
int run_demo(void);
double lr_at(int e);

void fail(const char *what)
{
    fprintf(stderr, "app: %s\n", what);
    failures++;
}

static unsigned rng_state = 12345;
unsigned rng_next(void) { return rng_state = rng_state * 1103515245u + 12345u; }
double rng_uniform(void) { return (double)(rng_next() >> 8) / 16777216.0; }
int rng_stream(int k) { return k; }
int state_new(void) { return 1; }
void state_free(int s) { (void)s; }
int json_parse(const char *s) { return s ? (int)strlen(s) : 0; }
void json_free(void) {}
double mean_loss(double a, double b) { return (a + b) / 2; }
int zero_gradient(void) { return 0; }
int run_demo(void) { return 0; }
double lr_at(int e) { return 0.01 * e; }

/* A made-up task: the target is the sum of the inputs. */
int train(seed_params *p, seed_optim *o, int epochs)
{
    float x[seed_IN], t[1];
    int e, i;
    for (e = 0; e < epochs; e++) {
        t[0] = 0;
        for (i = 0; i < seed_IN; i++)
            t[0] += x[i] = (float)rng_uniform();
        seed_step(p, o, x, t);
    }
    return epochs;
}

int main(int argc, char **argv)
{
    seed_params p, q;
    seed_optim o = {0}, oq = {0};
    netrt_meta meta = {0};
    char err[1024];
    if (argc < 2)
        return 2;
    seed_init(&p, 7);
    if (train(&p, &o, 50) != 50)
        fail("train");
    if (netrt_save(&seed_model, &p, &o, &meta, argv[1], err, sizeof err) != 0)
        fail(err);
    memset(&q, 0, sizeof q);
    if (netrt_load(&seed_model, &q, &oq, &meta, argv[1], err, sizeof err) != 0)
        fail(err);
    if (memcmp(&p, &q, sizeof p) != 0 || oq.steps != 50)
        fail("the checkpoint did not round-trip");
    printf("app: trained %llu steps, saved and loaded %s; %d failures\n",
           (unsigned long long)oq.steps, argv[1], failures);
    if (failures)
        return 1;
    argv[1] = argv[0];
    return netrt_main(&seed_model, argc - 1, argv + 1);
}
