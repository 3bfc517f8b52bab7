#!/usr/bin/env python3
"""Compile a sweep of models with gcc and clang, every warning an error.

    sweep.py --netc NETC --rtinc RUNTIME_DIR --out TMPDIR --yaml-root DIR ...

The models: every .yaml under the --yaml-root folders that netc accepts (the
rejected ones, tests/errors and the like, are counted and skipped), and a
generated sweep of small models over input sizes, layer stacks, every
activation, loss and optimizer, frozen and bias-less layers and batch sizes,
each compiled with one of netc's code-shaping flags (vector widths,
--reassociate, --fma, --fp64) in turn.  Each model's C is compiled with both
compilers, -Wall -Wextra -Werror -Wpedantic, as a trainer (-DNETC_TRAINER:
the kernels and the runtime's descriptor; --fp64 C as kernels alone): gcc
at -O2, clang -fsyntax-only (its warnings are its front end's).  Both compilers are required: a missing one is a failure,
not a skip.  Prints one line per failure, then

    sweep: N accepted models (R rejected), C compiles, F failures

and exits 1 if anything failed.  Two compiles run at a time.
"""

import argparse
import concurrent.futures
import itertools
import os
import shutil
import subprocess
import sys

ACTS = ['identity', 'relu', 'sigmoid', 'tanh', 'leaky_relu', 'softmax']
LOSSES = ['mse', 'l1', 'bce', 'bce_with_logits', 'cross_entropy']
OPTS = ['sgd: {lr: 0.1}', 'sgd: {lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.01}',
        'sgd: {lr: 0.1, momentum: 0.5, dampening: 0.5}', 'adam: {lr: 0.01}', 'adamw: {lr: 0.01, weight_decay: 0.1}']
FLAGS = [[], ['--vector-width=1'], ['--vector-width=2'], ['--vector-width=8'], ['--vector-width=16'],
         ['--reassociate'], ['--reassociate', '--fma'], ['--fp64'], ['--reassociate', '--vector-width=8']]
WARN = ['-std=c11', '-Wall', '-Wextra', '-Werror', '-Wpedantic']
BIG = 1 << 20  # bytes of C: larger models are left out (the limits model is 17 MB)


def generated():
    """(name, yaml text, flags) for the generated sweep: every loss with every
    last activation it accepts, over a rotation of shapes, optimizers and flags."""
    shapes = [(1, [1]), (1, [2]), (3, [1]), (2, [3, 1]), (4, [1, 2]), (3, [2, 2, 3]), (5, [4])]
    batches = [1, 3, 4, 8]
    n = 0
    for loss, last in itertools.product(LOSSES, ACTS):
        if loss == 'bce' and last not in ('sigmoid', 'softmax'):
            continue
        for k in range(2):
            inp, sizes = shapes[(n + k) % len(shapes)]
            sizes = list(sizes)
            if loss == 'cross_entropy' and sizes[-1] < 2:
                sizes[-1] = 2
            lines = ['name: g%d' % n, 'input: %d' % inp, 'layers:']
            for i, size in enumerate(sizes):
                act = last if i == len(sizes) - 1 else ACTS[(n + i) % 5]  # softmax: last layer only
                extra = ''
                if (n + i) % 4 == 1:
                    extra += ', bias: false'
                if (n + i) % 5 == 2 and len(sizes) > 1:
                    extra += ', trainable: false'
                if act == 'leaky_relu' and n % 2:
                    extra += ', negative_slope: 0.2'
                lines.append('  - {name: l%d, linear: %d, activation: %s%s}' % (i, size, act, extra))
            if all('trainable: false' in l for l in lines[3:]):
                lines[3] = lines[3].replace(', trainable: false', '')
            red = ['mean', 'sum'][n % 2]
            lines.append('loss: {%s: {reduction: %s}}' % (loss, red))
            lines.append('optimizer:\n  %s' % OPTS[n % len(OPTS)])
            lines.append('batch: %d' % batches[n % len(batches)])
            yield 'g%d' % n, '\n'.join(lines) + '\n', FLAGS[n % len(FLAGS)]
            n += 1


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    return p.returncode, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--netc', required=True)
    ap.add_argument('--rtinc', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--yaml-root', action='append', default=[])
    args = ap.parse_args()
    failures = []
    compilers = []
    for cc in ('gcc', 'clang'):
        path = shutil.which(cc)
        if path:
            compilers.append(path)
        else:
            failures.append('%s: not found; this test checks the generated C with both gcc and clang' % cc)

    models = []  # (name, path, flags)
    for root in args.yaml_root:
        for dirpath, _, files in sorted(os.walk(root)):
            for f in sorted(files):
                if f.endswith('.yaml'):
                    models.append((os.path.relpath(os.path.join(dirpath, f), root), os.path.join(dirpath, f), []))
    os.makedirs(args.out, exist_ok=True)
    for name, text, flags in generated():
        path = os.path.join(args.out, name + '.yaml')
        with open(path, 'w') as f:
            f.write(text)
        models.append((name, path, flags))

    jobs, accepted, rejected, big = [], 0, 0, 0
    for i, (name, path, flags) in enumerate(models):
        c = os.path.join(args.out, 'm%d.c' % i)
        code, out = run([args.netc] + flags + [path, '-o', c])
        if code == 1 and ': error: ' in out and path.startswith(tuple(args.yaml_root)):
            rejected += 1  # a model netc refuses: nothing to compile
            continue
        if code != 0:
            failures.append('%s %s: netc failed (%d):\n%s' % (name, ' '.join(flags), code, out))
            continue
        if os.path.getsize(c) > BIG:
            big += 1  # limits-ok.yaml: minutes of gcc for no new construct
            continue
        accepted += 1
        # The trainer (float) holds the kernels and the runtime descriptor:
        # gcc at -O2, where its flow warnings (maybe-uninitialized) live;
        # clang's warnings come from its front end, so -fsyntax-only.
        mode = [] if '--fp64' in flags else ['-DNETC_TRAINER', '-I' + args.rtinc]
        for cc in compilers:
            how = ['-O2', '-c', '-o', c + '.o'] if os.path.basename(cc) == 'gcc' else ['-fsyntax-only']
            jobs.append((name, flags, [cc] + WARN + mode + how + [c]))
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        for (name, flags, cmd), (code, out) in zip(jobs, ex.map(lambda j: run(j[2]), jobs)):
            if code != 0:
                failures.append('%s %s: %s failed:\n%s' % (name, ' '.join(flags), ' '.join(cmd), out))
    for f in failures:
        print('FAIL: ' + f)
    print('sweep: %d accepted models (%d rejected, %d over %d bytes of C), %d compiles, %d failures'
          % (accepted, rejected, big, BIG, len(jobs), len(failures)))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
