#!/usr/bin/env python3
"""Compile every model of the PyTorch matrix and run the generic harness on it.

    run_matrix.py --netc NETC --cc "CC FLAGS" --rtinc RUNTIME_DIR --harness harness.c
                  --matrix tests/pytorch/matrix --out TMPDIR [NAME ...]

For each NAME.yaml in the matrix folder (all of them by default, sorted):
netc NAME.yaml -o OUT/NAME/m.c, CC -DNETC_RUNTIME -IOUT/NAME -IRUNTIME_DIR
m.c harness.c -lm, then the harness on NAME.txt.  Prints one line a model,

    NAME: ok: <the harness's summary line>
    NAME: FAIL (<stage>): ...   followed by the failing output, indented

then "matrix: N models, F failed".  Exit 1 if any failed.  Models are built
two at a time (the machine has few cores; the C compiler dominates).
"""

import argparse
import concurrent.futures
import os
import shlex
import subprocess
import sys


def run_one(args, name):
    d = os.path.join(args.out, name)
    os.makedirs(d, exist_ok=True)
    yaml = os.path.join(args.matrix, name + '.yaml')
    fixture = os.path.join(args.matrix, name + '.txt')
    exe = os.path.join(d, 'harness')
    stages = [
        ('netc', [args.netc] + shlex.split(args.netc_flags) + [yaml, '-o', os.path.join(d, 'm.c')]),
        ('cc', shlex.split(args.cc) + ['-DNETC_RUNTIME', '-I' + d, '-I' + args.rtinc, os.path.join(d, 'm.c'),
                                        args.harness, '-lm', '-o', exe]),
        ('harness', [exe, fixture]),
    ]
    out = ''
    for stage, cmd in stages:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        out = p.stdout
        if p.returncode != 0:
            detail = '\n'.join('    ' + l for l in out.rstrip('\n').splitlines()[-40:])
            return False, '%s: FAIL (%s, exit %d)\n%s' % (name, stage, p.returncode, detail)
    last = out.rstrip('\n').splitlines()[-1] if out.strip() else '(no output)'
    return True, '%s: ok: %s' % (name, last)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--netc', required=True)
    ap.add_argument('--cc', required=True)
    ap.add_argument('--netc-flags', default='', help='more netc options (--unroll=loops)')
    ap.add_argument('--rtinc', required=True)
    ap.add_argument('--harness', required=True)
    ap.add_argument('--matrix', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('-j', type=int, default=2)
    ap.add_argument('names', nargs='*')
    args = ap.parse_args()
    names = args.names or sorted(f[:-5] for f in os.listdir(args.matrix) if f.endswith('.yaml'))
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.j) as ex:
        results = list(ex.map(lambda n: run_one(args, n), names))
    failed = 0
    for ok, line in results:
        print(line)
        failed += not ok
    print('matrix: %d models, %d failed' % (len(names), failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
