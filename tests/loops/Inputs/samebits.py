#!/usr/bin/env python3
"""The loop schedule computes the unrolled schedule's bits.

    samebits.py --netc NETC --cc "CC FLAGS" --bits bits.c --out DIR MODEL.yaml[:FLAGS] ...

For each model: netc --unroll=full and netc --unroll=loops (plus the model's
extra FLAGS, comma separated, on the loops side), each built with bits.c
(tests/emit-llvm/Inputs), run, and compared line by line: every loss,
gradient, output, weight and optimizer state the same bits.  Only the optim
struct's dump may differ, and only after the unrolled one's bytes (the loop
schedule's gradient accumulator, o.grad, is a member after the state).
Prints one line a model and exits 1 on any difference.
"""
import argparse
import os
import shlex
import subprocess
import sys


def build(args, yaml, flags, d):
    os.makedirs(d, exist_ok=True)
    name = None
    with open(yaml) as f:
        for line in f:
            if line.startswith('name:'):
                name = line.split(':', 1)[1].strip()
    c = os.path.join(d, name + '.c')
    subprocess.run([args.netc] + flags + [yaml, '-o', c], check=True)
    exe = os.path.join(d, name)
    subprocess.run(shlex.split(args.cc) + ['-ffp-contract=off', '-DM=' + name, '-DHEADER="%s.h"' % name, '-I' + d,
                                           args.bits, c, '-lm', '-o', exe], check=True)
    return subprocess.run([exe], check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout.splitlines()


def optim_prefix(a, b):
    """The unrolled optim struct's words begin the loop one's, but for the
    struct's trailing padding (a zero word after an odd number of floats)."""
    a, b = a.split(), b.split()
    if a[-1] == '00000000':
        a = a[:-1]
    return b[:len(a)] == a


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--netc', required=True)
    ap.add_argument('--cc', required=True)
    ap.add_argument('--bits', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('models', nargs='+')
    args = ap.parse_args()
    bad = 0
    for i, spec in enumerate(args.models):
        yaml, _, extra = spec.partition(':')
        flags = [f for f in extra.split(',') if f]
        u = build(args, yaml, ['--unroll=full'], os.path.join(args.out, '%d-full' % i))
        lo = build(args, yaml, ['--unroll=loops'] + flags, os.path.join(args.out, '%d-loops' % i))
        diff = [(a, b) for a, b in zip(u, lo) if a != b and not (a.startswith('optim:') and optim_prefix(a, b))]
        if len(u) != len(lo) or diff:
            bad += 1
            print('%s%s: DIFFERENT: %s' % (os.path.basename(yaml), extra and ' ' + extra,
                                           diff[0] if diff else 'line counts'))
        else:
            print('%s%s: same bits, %d lines' % (os.path.basename(yaml), extra and ' ' + ' '.join(flags), len(u)))
    print('samebits: %d models, %d different' % (len(args.models), bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
