#!/usr/bin/env python3
"""Every model given, built by a backend, through Inputs/split.c.

    run_split.py --netc NETC --cc "CC FLAGS" --split split.c --out DIR
                 --backend c|llvm [--netc-flag F ...] MODEL.yaml ...

Each model (its YAML name must be m or given in the file) is compiled to
C (netc -o m.c) or to an LLVM object (netc -O2 -o m.o), linked with the
harness, and run.  Prints "NAME: ok" or "NAME: FAIL (stage)" and its
output, then "split: N models, F failed"; exit 1 if any failed."""

import argparse
import concurrent.futures
import os
import re
import shlex
import subprocess
import sys


def run_one(args, yaml):
    name = os.path.basename(yaml)[:-5]
    d = os.path.join(args.out, args.backend, name)
    os.makedirs(d, exist_ok=True)
    with open(yaml) as f:
        model = re.search(r'^name:\s*(\w+)', f.read(), re.M).group(1)
    kern = os.path.join(d, model + ('.c' if args.backend == 'c' else '.o'))
    exe = os.path.join(d, 'split')
    netc = [args.netc] + args.netc_flag + ([] if args.backend == 'c' else ['-O2'])
    stages = [
        ('netc', netc + [yaml, '-o', kern]),
        ('cc', shlex.split(args.cc) + ['-ffp-contract=off', '-DM=' + model, '-DHEADER="%s.h"' % model,
                                        '-I' + d, args.split, kern, '-lm', '-o', exe]),
        ('split', [exe]),
    ]
    for stage, cmd in stages:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        if p.returncode != 0:
            return False, '%s: FAIL (%s)\n%s' % (name, stage, p.stdout.rstrip())
    return True, '%s: ok: %s' % (name, p.stdout.strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--netc', required=True)
    ap.add_argument('--cc', required=True)
    ap.add_argument('--split', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--backend', choices=['c', 'llvm'], required=True)
    ap.add_argument('--netc-flag', action='append', default=[])
    ap.add_argument('models', nargs='+')
    args = ap.parse_args()
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        results = list(ex.map(lambda y: run_one(args, y), sorted(args.models)))
    for _, line in results:
        print(line)
    failed = sum(1 for ok, _ in results if not ok)
    print('split: %d models, %d failed' % (len(results), failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
