#!/usr/bin/env python3
"""Checks netc's memory figures against the built kernels, model by model.

    stack_sweep.py --netc NETC --harness stack.c --out DIR --cc 'gcc clang'
                   --levels '-O1 -O2 -O3' MODEL.yaml[:FLAGS] ...

For each model (netc flags after a colon, comma-separated), each compiler and
each level: the C from netc, the kernels built at that level, the harness at
-O2; the harness prints sizeof(NAME_params) and sizeof(NAME_optim) beside
NAME_PARAMS_BYTES and NAME_OPTIM_BYTES, and each kernel's measured stack
high-water mark.  Fails (exit 1) if a size differs or a kernel's stack
exceeds NAME_SCRATCH_BYTES.  Prints one line a build, then the largest
ratio of measured stack to the peak live bytes netc computed ((SCRATCH -
1024) / 4) and to the estimate.
"""
import argparse
import os
import re
import subprocess
import sys


def sh(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, **kw)
    if p.returncode != 0:
        sys.stdout.write('FAILED: %s\n%s' % (' '.join(cmd), p.stdout))
        sys.exit(1)
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--netc', required=True)
    ap.add_argument('--harness', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--cc', default='gcc')
    ap.add_argument('--levels', default='-O2')
    ap.add_argument('models', nargs='+')
    a = ap.parse_args()
    bad = 0
    worst_live = worst_est = 0.0
    for i, spec in enumerate(a.models):
        path, _, flags = spec.partition(':')
        flags = [f for f in flags.split(',') if f]
        name = re.search(r'^name:\s*(\w+)', open(path).read(), re.M).group(1)
        d = os.path.join(a.out, str(i))
        os.makedirs(d, exist_ok=True)
        sh([a.netc, path, '-o', os.path.join(d, name + '.c')] + flags)
        for cc in a.cc.split():
            harness = os.path.join(d, 'stack-%s.o' % os.path.basename(cc))
            sh([cc, '-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-DMODEL=' + name,
                '-DHEADER="%s.h"' % name, '-I' + d, '-c', a.harness, '-o', harness])
            for level in a.levels.split():
                obj = os.path.join(d, 'k.o')
                exe = os.path.join(d, 'st')
                sh([cc, '-std=c11', level, '-c', os.path.join(d, name + '.c'), '-o', obj])
                # -z now: symbols bound at load.  Lazily bound, a kernel's first
                # libm call runs the dynamic linker's resolver on its stack, which
                # saves the whole register file there (about 3 KB with AVX-512):
                # the loader's cost, once per symbol, not the kernel's.
                sh([cc, harness, obj, '-lm', '-lpthread', '-Wl,-z,now', '-o', exe])
                got = dict(l.split(' ', 1) for l in sh([exe]).splitlines())
                ps, pd = map(int, got['params'].split())
                osz, od = map(int, got['optim'].split())
                scratch = int(got['scratch'])
                live = max((scratch - 1024) // 4, 1)
                deepest = max(int(got[k]) for k in ('forward', 'grad', 'step', 'train'))
                ok = ps == pd and osz == od and deepest <= scratch
                bad += not ok
                worst_live = max(worst_live, deepest / live)
                worst_est = max(worst_est, deepest / scratch)
                print('%s %s %s %s: %s params %d/%d optim %d/%d scratch %d, stack %s' % (
                    'ok' if ok else 'FAIL', os.path.basename(path), ' '.join(flags) or '-', cc, level, ps, pd,
                    osz, od, scratch, ' '.join('%s %s' % (k, got[k]) for k in ('forward', 'grad', 'step', 'train'))))
    print('largest stack / peak live bytes: %.2f; largest stack / estimate: %.2f' % (worst_live, worst_est))
    print('%d build(s) failed' % bad if bad else 'all within the figures')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
