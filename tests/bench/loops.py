#!/usr/bin/env python3
"""The loop schedule's benchmark (issue 14's table): netc against PyTorch and
the obvious C loops, in one run.

    loops.py --netc NETC [--cc CC] [--work DIR] [--seconds S] [--rounds R] [--only SHAPE]

For each row of ROWS (shape, loss, optimizer, batch) it builds
  * netc C: `netc --vector-width=16` (the default --unroll=auto takes loops
    for all of these), NAME_train timed by loops_harness.c, built
    `-O3 -march=native -ffp-contract=off` (add --netc-flags for more);
  * the obvious C loops (loops_baseline.c, `-O3 -march=native`);
  * PyTorch eager, one thread (loops_torch.py through /usr/bin/python3 with
    OPENBLAS_NUM_THREADS=1 and OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE unset);
and times them interleaved, R rounds of S seconds each, rotating the order;
the table shows medians, and each ratio is the median of the per-round ratios.
Useful work per step: the forward and backward products (no input gradient
for the first layer), 2 flops a multiply-add, plus the update (sgd 2 flops a
parameter, adam 12).  peak.c measures the FMA peak in the same run.  Hidden
layers are relu, the last identity, as issue 14's table.  Prints markdown."""
import argparse
import os
import shlex
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# (sizes, loss, optimizer, batches), issue 14's table
ROWS = [
    ([784, 128, 10], 'ce', 'sgd', [1, 64, 256]),
    ([784, 512, 512, 10], 'ce', 'adam', [64, 256]),
    ([32, 64, 64, 64, 1], 'mse', 'adam', [256, 1024, 4096]),
    ([64, 64, 64, 8], 'mse', 'adam', [1, 64]),
    ([16, 256, 256, 1], 'mse', 'sgd', [64, 1024]),
]


def run(cmd, env=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env)
    if p.returncode != 0:
        sys.exit('loops.py: %s failed:\n%s' % (' '.join(cmd), p.stdout))
    return p.stdout


def parse(text):
    r = {}
    for line in text.splitlines():
        w = line.split()
        if w and w[0] == 'us_per_step':
            r['us'] = float(w[1])
            r['loss'] = float(w[3])
        elif w and w[0] == 'blas':
            r['blas'] = ' '.join(w[1:])
    return r


def yaml(name, sizes, loss, opt, batch):
    lines = ['name: %s' % name, 'input: %d' % sizes[0], 'layers:']
    for i, n in enumerate(sizes[1:]):
        lines.append('  - {linear: %d%s}' % (n, ', activation: relu' if i + 2 < len(sizes) else ''))
    lines.append('loss: %s' % ('cross_entropy' if loss == 'ce' else 'mse'))
    lines.append('optimizer:\n  %s: {lr: %s}' % (opt, '0.01' if opt == 'sgd' else '0.001'))
    lines.append('batch: %d' % batch)
    return '\n'.join(lines) + '\n'


def flops(sizes, opt, batch):
    mm = sum(a * b for a, b in zip(sizes, sizes[1:]))
    first = sizes[0] * sizes[1]
    params = mm + sum(sizes[1:])
    return 2 * batch * (2 * mm + (mm - first)) + params * (2 if opt == 'sgd' else 12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--netc', required=True)
    ap.add_argument('--cc', default='cc')
    ap.add_argument('--work', default='/tmp/netc-loops-bench')
    ap.add_argument('--seconds', type=float, default=0.5)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--netc-flags', default='')
    ap.add_argument('--only', default='', help='rows whose shape is this, e.g. 784-128-10')
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    native = ['-O3', '-march=native']
    peak_exe = os.path.join(args.work, 'peak')
    run([args.cc, '-O2', '-march=native', os.path.join(HERE, 'peak.c'), '-o', peak_exe])
    torch_env = dict(os.environ, OPENBLAS_NUM_THREADS='1')
    for v in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'):
        torch_env.pop(v, None)
    cases = []
    for sizes, loss, opt, batches in ROWS:
        shape = '-'.join(map(str, sizes))
        if args.only and args.only != shape:
            continue
        for b in batches:
            name = 'b%s_%d' % (shape.replace('-', '_'), b)
            d = os.path.join(args.work, name)
            os.makedirs(d, exist_ok=True)
            y = os.path.join(d, name + '.yaml')
            with open(y, 'w') as f:
                f.write(yaml(name, sizes, loss, opt, b))
            c = os.path.join(d, name + '.c')
            run([args.netc, '--vector-width=16'] + shlex.split(args.netc_flags) + [y, '-o', c])
            netc_exe = os.path.join(d, 'netc')
            run([args.cc, '-std=c11', '-ffp-contract=off'] + native + ['-I' + d, '-DM=' + name,
                '-DHEADER="%s.h"' % name, os.path.join(HERE, 'loops_harness.c'), c, '-lm', '-o', netc_exe])
            with open(os.path.join(d, 'loops_shape.h'), 'w') as f:
                f.write('enum { NL = %d, BATCH = %d, CE = %d, ADAM = %d };\n' % (len(sizes) - 1, b, loss == 'ce',
                                                                                   opt == 'adam'))
                f.write('static const int SIZES[] = {%s};\n#define LR %sf\n' % (', '.join(map(str, sizes)),
                                                                             '0.01' if opt == 'sgd' else '0.001'))
            base_exe = os.path.join(d, 'baseline')
            run([args.cc, '-std=c11'] + native + ['-I' + d, os.path.join(HERE, 'loops_baseline.c'), '-lm', '-o',
                                                 base_exe])
            variants = {
                'netc': [netc_exe, str(args.seconds)],
                'loops': [base_exe, str(args.seconds)],
                'torch': ['/usr/bin/python3', os.path.join(HERE, 'loops_torch.py'), ','.join(map(str, sizes)), str(b),
                          loss, opt, str(args.seconds)],
            }
            cases.append(dict(shape=shape, loss=loss, opt=opt, batch=b, sizes=sizes, variants=variants, res={}))
            print('built %s batch %d' % (shape, b), file=sys.stderr, flush=True)
    peaks = []
    blas = 'unknown'
    for r in range(args.rounds):
        for i, c in enumerate(cases):
            names = list(c['variants'])
            names = names[r % 3:] + names[:r % 3]
            for v in names:
                out = parse(run(c['variants'][v], env=torch_env if v == 'torch' else None))
                c['res'].setdefault(v, []).append(out['us'])
                blas = out.get('blas', blas)
        for line in run([peak_exe, '0.3']).splitlines():
            if line.startswith('avx512'):
                peaks.append(float(line.split()[1]))
        print('round %d done' % (r + 1), file=sys.stderr, flush=True)
    peak = statistics.median(peaks) if peaks else 0
    print('| shape | loss, optimizer | batch | netc µs/step | samples/s | GFLOP/s | of FMA peak | PyTorch µs/step '
          '| netc vs PyTorch | C loops µs/step | netc vs C loops |')
    print('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    for c in cases:
        us = statistics.median(c['res']['netc'])
        vs_t = statistics.median(t / n for t, n in zip(c['res']['torch'], c['res']['netc']))
        vs_l = statistics.median(t / n for t, n in zip(c['res']['loops'], c['res']['netc']))
        gf = flops(c['sizes'], c['opt'], c['batch']) / us / 1e3
        print('| %s | %s, %s | %d | %.1f | %.0f | %.1f | %.0f%% | %.1f | %.2f× | %.1f | %.1f× |' % (
            c['shape'], 'cross entropy' if c['loss'] == 'ce' else 'MSE', c['opt'].upper() if c['opt'] == 'sgd' else
            'Adam', c['batch'], us, c['batch'] * 1e6 / us, gf, 100 * gf / peak if peak else 0,
            statistics.median(c['res']['torch']), vs_t, statistics.median(c['res']['loops']), vs_l))
    print('\nFMA peak (peak.c, AVX-512, median of the rounds): %.1f GFLOP/s; PyTorch %s, BLAS: %s.' % (
        peak, run(['/usr/bin/python3', '-c', 'import torch; print(torch.__version__)'], env=torch_env).strip(), blas))


if __name__ == '__main__':
    main()
