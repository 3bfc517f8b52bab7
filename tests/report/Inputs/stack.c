/* stack.c: a model's memory figures against what its kernels really use.
 *
 * Built with the generated m.c and m.h of a model named MODEL (-DMODEL=name
 * -DHEADER='"name.h"').  Prints, one line each:
 *   params SIZEOF DEFINE, optim SIZEOF DEFINE, scratch DEFINE,
 *   KERNEL USED: the stack high-water mark of one call, in bytes.
 * The stack is measured by painting: each kernel runs on a thread of its own
 * (1 MiB of stack from malloc); the thread fills its stack below its stack
 * pointer with a pattern, calls the kernel, and finds the deepest byte no
 * longer holding the pattern: the call's depth (its return address, the
 * kernel's frame, and the libm functions it calls).  x86-64 (it reads the
 * stack pointer); build this file at -O2, the kernels at any level. */
#define _GNU_SOURCE
#include HEADER

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define K(x) CAT(MODEL, x)

enum { STACK = 1 << 20, PAINT = 0xa5 };

static K(_params) p, g;
static K(_optim) o;
static float x[4 * K(_BATCH) * K(_IN)], t[4 * K(_BATCH) * K(_TARGETS)], y[K(_OUT)];
static volatile float sink;

static unsigned char *stack_base;

/* Paints the thread's stack below the stack pointer (a loop in this frame,
 * no call), calls the kernel, and measures how deep the call went. */
static void *run(void *arg) {
    unsigned char *sp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
    for (volatile unsigned char *q = stack_base + 4096; q < sp; q++)
        *q = PAINT;
    switch ((int)(intptr_t)arg) {
    case 0: K(_forward)(&p, x, y); sink = y[0]; break;
    case 1: sink = K(_grad)(&p, x, t, &g); break;
    case 2: sink = K(_step)(&p, &o, x, t); break;
    case 3: sink = K(_train)(&p, &o, x, t, 4 * K(_BATCH)); break;
    default: break;
    }
    unsigned char *q = stack_base + 4096;
    while (q < sp && *q == PAINT)
        q++;
    return (void *)(intptr_t)(sp - q);
}

static long used(int kernel) {
    pthread_attr_t attr;
    pthread_t th;
    void *depth;
    stack_base = aligned_alloc(4096, STACK);
    if (!stack_base || pthread_attr_init(&attr) || pthread_attr_setstack(&attr, stack_base, STACK) ||
        pthread_create(&th, &attr, run, (void *)(intptr_t)kernel) || pthread_join(th, &depth)) {
        fprintf(stderr, "stack: cannot run a thread\n");
        exit(2);
    }
    pthread_attr_destroy(&attr);
    free(stack_base);
    return (long)(intptr_t)depth;
}

int main(void) {
    static const char *const name[] = {"forward", "grad", "step", "train"};
    K(_init)(&p, 1);
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        t[i] = K(_TARGETS) == K(_OUT) ? (float)((i * 13) % 7) / 7.0f : (float)(i % K(_OUT));
    printf("params %zu %ld\n", sizeof(K(_params)), (long)K(_PARAMS_BYTES));
    printf("optim %zu %ld\n", sizeof(K(_optim)), (long)K(_OPTIM_BYTES));
    printf("scratch %ld\n", (long)K(_SCRATCH_BYTES));
    for (int k = 0; k < 4; k++) {
        long most = 0;
        for (int rep = 0; rep < 2; rep++) { /* the first call may bind the libm symbols */
            long u = used(k);
            most = u > most ? u : most;
        }
        printf("%s %ld\n", name[k], most);
    }
    return 0;
}
