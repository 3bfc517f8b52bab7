#!/usr/bin/python3
"""netc's benchmark: per-sample and mini-batch SGD on the reference network
(models/seed.yaml, 5-3-1 ReLU, MSE, SGD lr 0.01) against an obvious-loops C
baseline, a genann-style C MLP, FANN and PyTorch eager, all on the same data,
from the same initial weights, for the same number of samples.

    bench.py --netc PATH [--work DIR] [--rounds R] [--samples N] [--check]

It builds every variant, runs them interleaved (round after round, each
variant once a round, in a rotating order), and prints one markdown table of
medians, then instruction counts (callgrind, AVX2 build), kernel sizes and
netc's compile time.  Every variant's final weights are checked against netc's
(see TOLERANCE below); a netc variant or the baseline that disagrees fails
the run (exit 1), so a fast wrong kernel cannot win.  Timings never decide
the exit status.

--check builds everything with a tiny sample count and only checks the
weights (for ctest); no timing, no PyTorch, no callgrind.
"""
import argparse
import concurrent.futures
import os
import platform
import re
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SEED_YAML = os.path.join(ROOT, 'models', 'seed.yaml')

# Compiler flags.  -ffp-contract=off is gcc's default under -std=c11 and what
# netc's output asks for; it keeps netc and the baseline bit-identical.
STD = ['-std=c11', '-ffp-contract=off']
O3N = ['-O3', '-march=native']
O2 = ['-O2']                      # what netc uses for its own trainer build
AVX2 = ['-O3', '-mavx2', '-mfma']  # for callgrind: valgrind 3.19 has no AVX-512


class V:
    """One benchmarked variant.

    kind: netc (generated C), netc-obj (netc --emit=obj, linked with the C
    backend's header), baseline, genann, fann, torch.  tol: None for bit-exact
    agreement with the reference, a number for the largest allowed
    |w - w_ref| over the 22 parameters, 'loss' for a loss sanity check only.
    gate: whether a disagreement fails the run.  optional: skip (with a note)
    instead of failing when it cannot be built."""

    def __init__(self, name, kind, cflags=(), netc=(), model=SEED_YAML, batch=1,
                 tol=None, gate=True, optional=False, note=''):
        self.name, self.kind, self.cflags, self.netc = name, kind, list(cflags), list(netc)
        self.model, self.batch, self.tol, self.gate = model, batch, tol, gate
        self.optional, self.note = optional, note
        self.cmd = None        # the command that runs it, once built
        self.skipped = None    # why it is not in the table
        self.ns = []           # per-round ns per sample
        self.weights = None
        self.loss = None


# ---- the variants: adding one is one line ----
REF = 'netc C, -O3 -march=native'
VARIANTS = [
    V(REF, 'netc', O3N),
    V('netc C, -O2 (netc\'s default)', 'netc', O2),
    V('netc C --reassociate, -O3 -march=native', 'netc', O3N, netc=['--reassociate'],
      tol=1e-3, optional=True, note='reordered arithmetic, compared to 1e-3'),
    V('netc LLVM --emit=obj (host CPU, -O2)', 'netc-obj', netc=['--emit=obj'], tol=1e-4, optional=True,
      note='LLVM backend, compared to 1e-4'),
    V('netc LLVM --reassociate (host CPU, -O2)', 'netc-obj', netc=['--emit=obj', '--reassociate'], tol=1e-3,
      optional=True, note='LLVM backend, reordered arithmetic, compared to 1e-3'),
    V('obvious C loops, -O3 -march=native', 'baseline', O3N),
    V('hand-packed SSE C, -O3 -march=native', 'handpacked', O3N, optional=True,
      note='x86-64 only; exact order, so equal bit for bit'),
    V('genann-style C, -O3 -march=native', 'genann', O3N, tol=1e-3, gate=False,
      note='bias first in each sum: equal to rounding'),
    V('FANN 2.2 fann_train', 'fann', O3N, tol='loss', gate=False,
      note='no ReLU in FANN 2.2: clamp(z, 0, 1) units, so loss only'),
    V('PyTorch 1.13 eager', 'torch', tol=1e-4, gate=False,
      note='fewer samples; compared to netc after as many'),
]
BATCH_VARIANTS = [
    V('netc C batch 16, -O3 -march=native', 'netc', O3N, model=os.path.join(HERE, 'batch16.yaml'), batch=16),
    V('netc C batch 64, -O3 -march=native', 'netc', O3N, model=os.path.join(HERE, 'batch64.yaml'), batch=64),
    V('netc C batch 16 --reassociate --fma --vector-width=16, -O3 -march=native', 'netc', O3N,
      netc=['--reassociate', '--fma', '--vector-width=16'], model=os.path.join(HERE, 'batch16.yaml'), batch=16,
      tol=1e-3, note='samples in the lanes, fused multiply-adds: compared to 1e-3'),
    V('netc C batch 64 --reassociate --fma --vector-width=16, -O3 -march=native', 'netc', O3N,
      netc=['--reassociate', '--fma', '--vector-width=16'], model=os.path.join(HERE, 'batch64.yaml'), batch=64,
      tol=1e-3, note='samples in the lanes, fused multiply-adds: compared to 1e-3'),
    V('netc LLVM batch 64 --reassociate --vector-width=16 (host CPU, -O2)', 'netc-obj',
      netc=['--emit=obj', '--reassociate', '--vector-width=16'], model=os.path.join(HERE, 'batch64.yaml'), batch=64,
      tol=1e-3, optional=True, note='LLVM backend, samples in the lanes: compared to 1e-3'),
    V('netc LLVM batch 64 --reassociate --fma --vector-width=16 (host CPU, -O2)', 'netc-obj',
      netc=['--emit=obj', '--reassociate', '--fma', '--vector-width=16'], model=os.path.join(HERE, 'batch64.yaml'),
      batch=64, tol=1e-3, optional=True, note='LLVM backend, samples in the lanes, fused multiply-adds: 1e-3'),
    V('obvious C loops batch 16, -O3 -march=native', 'baseline', O3N, batch=16),
    V('obvious C loops batch 64, -O3 -march=native', 'baseline', O3N, batch=64),
]
BASELINES = ['obvious C loops, -O3 -march=native', 'genann-style C, -O3 -march=native',
             'FANN 2.2 fann_train', 'PyTorch 1.13 eager']
BASELINE_SHORT = {BASELINES[0]: 'C loops', BASELINES[1]: 'genann-style',
                  BASELINES[2]: 'FANN', BASELINES[3]: 'PyTorch'}

# Useful floating-point operations per sample of the 5-3-1 network (a multiply
# and an add count one each; ReLU and its mask, which are selects, count 0):
# forward 3*(5 mul + 5 add) + (3 mul + 3 add) = 36; loss gradient y - t and
# its doubling = 2; backward: d_hidden_a 3 mul, d_out_weight 3 mul,
# d_hidden_weight 15 mul = 21; update 22 * (mul + sub) = 44 per step.  For a
# batch of B: the 1/B scale 1 more per sample, summing 22 gradients over the
# batch (B - 1) * 22 adds per step, and the update once per step.
N_PARAMS = 22


def flops_per_sample(batch):
    per_sample = 36 + 2 + 21 + (1 if batch > 1 else 0)
    return per_sample + (22 * (batch - 1) + 2 * N_PARAMS) / batch


# Latency classes of the scalar IR's ops (latency.c measures them).
LAT_CLASS = {'add': 'add', 'sub': 'add', 'mul': 'mul', 'fma': 'mul', 'max': 'max', 'select': 'select',
             'gt': 'gt', 'eq': 'gt', 'neg': 'select'}


def recurrence_cycles(ir, lat, section=None):
    """The latency bound of NAME_train's loop from netc's IR dump: the
    maximum mean cycle of the graph whose nodes are the carried values
    (parameters, and a carried pre-activation with --reassociate), an edge
    a -> b weighted by the longest chain of dependent operations from a to
    b's next value within one step, each op taking its measured latency.
    `section`: the dump's part whose header contains it (else the last)."""
    parts = re.split(r'^; ---- IR after .*$', ir, flags=re.M)
    heads = re.findall(r'^; ---- IR after .*$', ir, flags=re.M)
    body = parts[-1]
    for h, part in zip(heads, parts[1:]):
        if section and section in h:
            body = part
    op, args, state, nxt = {}, {}, {}, {}
    for line in body.splitlines():
        m = re.match(r'%(\d+) = (\w+) \S+ ?([^;]*)', line)
        if m:
            i = int(m.group(1))
            op[i] = m.group(2)
            args[i] = [int(a) for a in re.findall(r'%(\d+)', m.group(3))]
            if op[i] in ('param', 'carry'):
                state[i] = op[i] + ' ' + m.group(3).split()[0]
            continue
        m = re.match(r'(update|carry) (\S+) = %(\d+)', line)
        if m:
            nxt[('param ' if m.group(1) == 'update' else 'carry ') + m.group(2)] = int(m.group(3))
    order = sorted(op)
    keys = sorted(set(state.values()) & set(nxt))
    src = {k: [i for i, s in state.items() if s == k] for k in keys}
    w = {}
    for a in keys:
        dist = {i: 0.0 for i in src[a]}
        for i in order:
            d = [dist[j] for j in args[i] if j in dist]
            if d and i not in dist:
                dist[i] = max(d) + lat.get(LAT_CLASS.get(op[i]), 0.0)
        for b in keys:
            if nxt[b] in dist:
                w[a, b] = dist[nxt[b]]
    if not w:
        return 0.0
    # Longest walks of K edges, K large: their mean is the maximum mean cycle.
    steps = 50 * len(keys)
    d = {k: 0.0 for k in keys}
    for _ in range(steps):
        d = {b: max([d[a] + w[a, b] for a in keys if (a, b) in w] or [float('-inf')]) for b in keys}
    return max(d.values()) / steps


def check_recurrence():
    """recurrence_cycles on two small loops whose bound is known: a weight
    whose update reads itself (mul + add: 6 cycles), and two weights that
    update each other (4 and 2 cycles: 3 a step)."""
    lat = {'add': 2.0, 'mul': 4.0}
    one = ('%0 = param f32 a[0]\n%1 = param f32 b[0]\n%2 = mul f32 %0, %1\n%3 = add f32 %2, %0\n'
           'update a[0] = %3\nupdate b[0] = %1\n')
    two = ('%0 = param f32 a[0]\n%1 = param f32 b[0]\n%2 = mul f32 %1, %1\n%3 = add f32 %0, %0\n'
           'update a[0] = %2\nupdate b[0] = %3\n')
    for ir, want in ((one, 6.0), (two, 3.0)):
        got = recurrence_cycles('; ---- IR after simplify ----\n' + ir, lat)
        if abs(got - want) > 1e-9:
            raise AssertionError('recurrence_cycles: %g, not %g, for\n%s' % (got, want, ir))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def write_data(path, n):
    """n inputs ~ N(0, 1); targets from a fixed teacher of the same shape
    (torch.nn.Linear's init distribution from another seed, times 3; about
    65% of its outputs are positive); initial weights from torch.nn.Linear's
    distribution, a draw whose output unit is alive on the whole set."""
    def linear_init(rng):
        a, b = 1 / np.sqrt(5), 1 / np.sqrt(3)
        return np.concatenate([rng.uniform(-a, a, 18), rng.uniform(-b, b, 4)]).astype(np.float32)

    def forward(w, x):
        h = np.maximum(x @ w[:15].reshape(3, 5).T + w[15:18], 0)
        return np.maximum(h @ w[18:21].reshape(1, 3).T + w[21:22], 0)

    x = np.random.default_rng(2024).standard_normal((n, 5)).astype(np.float32)
    teacher = (linear_init(np.random.default_rng(102)) * np.float32(3)).astype(np.float32)
    t = forward(teacher, x).astype(np.float32)
    w0 = linear_init(np.random.default_rng(3))
    with open(path, 'wb') as f:
        f.write(b'NETCBNCH' + struct.pack('<I', n))
        f.write(w0.astype('<f4').tobytes() + x.astype('<f4').tobytes() + t.astype('<f4').tobytes())


class Builder:
    def __init__(self, args):
        self.args, self.work = args, args.work
        self.cc = shlex.split(args.cc)
        self.san = shlex.split(args.san_flags) if args.check else []
        self.warn = ['-Wall', '-Wextra', '-Werror']

    def compile(self, out, sources, flags, extra=(), link=True, san=True):
        cmd = self.cc + STD + flags + self.warn + (self.san if san else []) + ['-I', HERE] + list(extra) + sources
        cmd += ['-o', out] if link else ['-c', '-o', out]
        run(cmd)
        return out

    def obj(self, name, source, flags, extra=(), san=True):
        return self.compile(os.path.join(self.work, name + '.o'), [source], flags, extra, link=False, san=san)

    def harness(self, name, objs, libs=()):
        """Links harness.c (built at -O2: it only reads data and times) with
        an implementation's objects."""
        out = os.path.join(self.work, name)
        cmd = self.cc + STD + O2 + self.warn + self.san + ['-I', HERE, os.path.join(HERE, 'harness.c')]
        run(cmd + objs + ['-o', out] + list(libs) + ['-lm'])
        return out

    def netc_c(self, model, netc_flags, tag):
        """Generates the C for a model; returns (dir, model name)."""
        d = os.path.join(self.work, tag + '-src')
        os.makedirs(d, exist_ok=True)
        name = model_name(model)
        run([self.args.netc] + netc_flags + [model, '-o', os.path.join(d, name + '.c')])
        return d, name

    def build(self, v, tag):
        if v.kind in ('netc', 'netc-obj'):
            if v.kind == 'netc':
                d, name = self.netc_c(v.model, v.netc, tag)
                # Sanitizers make gcc take ~20 s on the unrolled batch-16 file;
                # the lit tests run the generated code under them already.
                kern = self.obj(tag + '-kernel', os.path.join(d, name + '.c'), v.cflags, san=v.batch == 1)
            else:
                d, name = self.netc_c(v.model, [], tag)  # the header
                kern = os.path.join(self.work, tag + '-kernel.o')
                run([self.args.netc] + v.netc + [v.model, '-o', kern])
            adapter = self.obj(tag + '-impl', os.path.join(HERE, 'impl_netc.c'), O2,
                               ['-I', d, '-DNETC_NAME=' + name, '-DNETC_HEADER="%s.h"' % name])
            v.kernel_obj, v.symbol = kern, name + '_train'
            return [self.harness(tag, [adapter, kern])]
        if v.kind == 'baseline':
            objs = [self.obj(tag + '-baseline', os.path.join(HERE, 'baseline.c'), v.cflags),
                    self.obj(tag + '-impl', os.path.join(HERE, 'impl_baseline.c'), O2)]
            v.kernel_obj, v.symbol = objs[0], 'baseline_train'
            return [self.harness(tag, objs)]
        if v.kind == 'handpacked':
            if platform.machine() not in ('x86_64', 'AMD64'):
                raise Skip('SSE intrinsics: x86-64 only')
            o = self.obj(tag + '-impl', os.path.join(HERE, 'handpacked.c'), v.cflags)
            v.kernel_obj, v.symbol = o, 'impl_train'
            return [self.harness(tag, [o])]
        if v.kind == 'genann':
            return [self.harness(tag, [self.obj(tag + '-impl', os.path.join(HERE, 'genann_style.c'), v.cflags)])]
        if v.kind == 'fann':
            if not os.path.exists('/usr/include/fann.h'):
                raise Skip('FANN not installed (apt-get install libfann-dev)')
            # fann.h has unused-parameter and sign warnings of its own.
            o = self.compile(os.path.join(self.work, tag + '-impl.o'), [os.path.join(HERE, 'impl_fann.c')],
                             v.cflags, ['-Wno-error'], link=False)
            return [self.harness(tag, [o], ['-lfann'])]
        if v.kind == 'torch':
            if self.args.check:
                raise Skip('not in --check')
            if subprocess.call([sys.executable, '-c', 'import torch'], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL):
                raise Skip('torch is not importable by ' + sys.executable)
            return [sys.executable, os.path.join(HERE, 'torch_bench.py')]
        raise ValueError(v.kind)


class Skip(Exception):
    pass


def model_name(path):
    for line in open(path, encoding='utf-8'):
        if line.startswith('name:'):
            return line.split(':', 1)[1].split('#')[0].strip()
    raise ValueError('no name in ' + path)


def parse_output(text):
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(' ')
        out[key] = rest.split()
    return ([float(v) for v in out['ns_per_sample']], float(out['loss'][0]),
            [float.fromhex(v) for v in out['weights']])


def run_variant(v, data, samples, reps, warmup=True):
    cmd = v.cmd + [data, '--samples', str(samples), '--reps', str(reps)]
    if v.kind != 'torch':
        cmd += ['--batch', str(v.batch)] + (['--warmup'] if warmup else [])
    return parse_output(run(cmd).stdout)


def maxdiff(a, b):
    return max(abs(x - y) for x, y in zip(a, b))


def fmt_rate(x):
    return '{:,.0f}'.format(x)


def fmt_ns(x):
    return '%.1f' % x if x < 1000 else '{:,.0f}'.format(x)


def fmt_ratio(x):
    if x >= 100:
        return '{:,.0f}x'.format(x)
    if x < 0.01:
        return '%.2gx' % x
    return '%.2fx' % x


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--netc', required=True)
    ap.add_argument('--work', default=os.path.join(os.getcwd(), 'bench-work'))
    ap.add_argument('--cc', default=os.environ.get('CC', 'gcc'))
    ap.add_argument('--rounds', type=int, default=7, help='interleaved rounds (median over them)')
    ap.add_argument('--reps', type=int, default=3, help='timed runs within a round (their median)')
    ap.add_argument('--samples', type=int, default=4096 * 256, help='samples per timed run')
    ap.add_argument('--torch-samples', type=int, default=3000)
    ap.add_argument('--data-size', type=int, default=4096)
    ap.add_argument('--check', action='store_true', help='correctness only, tiny sizes')
    ap.add_argument('--san-flags', default='', help='sanitizer flags for --check builds')
    args = ap.parse_args()
    if args.check:
        args.samples, args.rounds, args.reps = 4096 * 2, 1, 1
        check_recurrence()
    os.makedirs(args.work, exist_ok=True)
    # One snapshot of netc for the whole run: the build tree's binary may be
    # rebuilt while the benchmark runs.
    snap = os.path.join(args.work, 'netc')
    shutil.copy2(args.netc, snap)
    args.netc = snap

    data = os.path.join(args.work, 'data.bin')
    write_data(data, args.data_size)
    b = Builder(args)
    notes = []

    # ---- build (in parallel: the batch-64 file alone takes gcc ~10 s) ----
    variants = VARIANTS + BATCH_VARIANTS

    def build(i, v):
        try:
            if args.check and v.batch > 16:
                raise Skip('not in --check (gcc needs ~10 s for the unrolled batch-64 file)')
            v.cmd = b.build(v, 'v%d' % i)
        except Skip as e:
            v.skipped = str(e)
        except subprocess.CalledProcessError as e:
            if not v.optional:
                return 'bench: building %s failed:\n%s%s' % (v.name, e.stdout or '', e.stderr or '')
            msg = (e.stderr or e.stdout or '').strip().splitlines()
            v.skipped = 'not available: `%s` says: %s' % (
                ' '.join(os.path.basename(c) for c in e.cmd[:1] + [c for c in e.cmd[1:] if c.startswith('--')]),
                msg[0] if msg else 'exit %d' % e.returncode)
        return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        errors = [e for e in pool.map(build, range(len(variants)), variants) if e]
    if errors:
        log(errors[0])
        return 2
    notes += ['%s: skipped, %s' % (v.name, v.skipped) for v in variants if v.skipped]
    live = [v for v in variants if not v.skipped]
    peak = None if args.check else b.compile(os.path.join(args.work, 'peak'), [os.path.join(HERE, 'peak.c')], O2)
    latency = None if args.check else b.compile(os.path.join(args.work, 'latency'),
                                                [os.path.join(HERE, 'latency.c')], O2)

    # ---- run, interleaved ----
    peaks = {'avx512': [], 'avx2': []}
    lats = {}
    for r in range(args.rounds):
        log('bench: round %d of %d' % (r + 1, args.rounds))
        order = live[r % len(live):] + live[:r % len(live)]
        for v in order:
            samples = args.torch_samples if v.kind == 'torch' and not args.check else args.samples
            ns, loss, w = run_variant(v, data, samples, args.reps)
            v.ns.append(statistics.median(ns))
            if v.weights is not None and w != v.weights:
                notes.append('%s: weights differ between rounds (nondeterministic)' % v.name)
                v.nondeterministic = True
            v.weights, v.loss = w, loss
        if peak:
            for line in run([peak, '0.1']).stdout.splitlines():
                k, val = line.split()
                peaks[k].append(float(val))
        if latency:
            for line in run([latency, '0.3']).stdout.splitlines():
                k, val = line.split()
                lats.setdefault(k, []).append(float(val))

    # ---- correctness ----
    failed = []
    by_name = {v.name: v for v in variants}
    ref = by_name[REF]
    ref_batch = {}
    for v in live:
        if v.kind == 'netc' and v.batch > 1 and not v.netc and v.batch not in ref_batch:
            ref_batch[v.batch] = v
    checks = []
    for v in live:
        if v is ref:
            continue
        r = ref if v.batch == 1 else ref_batch.get(v.batch)
        if r is None or r is v:
            continue
        rw, rl = r.weights, r.loss
        if v.kind == 'torch':
            _, rl, rw = run_variant(ref, data, args.torch_samples, 1, warmup=False)
        if v.kind == 'torch':
            v.note_loss = ' (after %d samples: loss %.4g vs netc %.4g)' % (args.torch_samples, v.loss, rl)
        if v.tol == 'loss':
            verdict = 'loss %.4g vs netc %.4g (weights not comparable)' % (v.loss, rl)
            ok = True
        else:
            d = maxdiff(v.weights, rw)
            if v.tol is None:
                ok = v.weights == rw
                verdict = 'bit-identical' if ok else 'DIFFERS (max |dw| %.3g, must be bit-identical)' % d
            else:
                ok = d <= v.tol
                verdict = 'max |dw| %.3g (tolerance %g)%s' % (d, v.tol, '' if ok else ' EXCEEDED')
        checks.append('%s vs %s: %s%s' % (v.name, r.name, verdict, getattr(v, 'note_loss', '')))
        if not ok and v.gate:
            failed.append(v.name)
        elif not ok:
            notes.append('%s: outside its tolerance (reported, not gated)' % v.name)

    print('# netc benchmark: reference network %s, %d-sample data set, %s' % (
        os.path.relpath(SEED_YAML, ROOT), args.data_size,
        'check mode' if args.check else '%d samples a run, median of %d rounds x %d runs' % (
            args.samples, args.rounds, args.reps)))
    print()
    print('Weights after training, against netc (%s):' % REF)
    for c in checks:
        print('  ' + c)
    print('  final mean loss (last 4096 samples): ' + ', '.join(
        '%s %.4g' % (BASELINE_SHORT.get(v.name, v.name), v.loss) for v in live if v.batch == 1 and v.kind != 'torch'))
    print()
    if args.check:
        for n in notes:
            print('note: ' + n)
        if failed:
            print('FAIL: weights disagree: ' + ', '.join(failed))
            return 1
        print('check: ok')
        return 0

    # ---- tables ----
    med = {v.name: statistics.median(v.ns) for v in live}
    rounds = {v.name: v.ns for v in live}

    def speedup(base, name):
        """Median over rounds of the per-round ratio: each ratio compares two
        runs made seconds apart, so slow drift of the machine cancels."""
        return statistics.median(b / x for b, x in zip(rounds[base], rounds[name]))

    cols = [n for n in BASELINES if n in med]
    print('## Per-sample SGD (batch 1)')
    print()
    print('| variant | steps/s | ns/step | ' + ' | '.join('vs ' + BASELINE_SHORT[c] for c in cols) + ' |')
    print('| --- | ---: | ---: | ' + ' | '.join('---:' for _ in cols) + ' |')
    for v in live:
        if v.batch != 1:
            continue
        ns = med[v.name]
        ratios = [fmt_ratio(speedup(c, v.name)) for c in cols]
        print('| %s | %s | %s | %s |' % (v.name, fmt_rate(1e9 / ns), fmt_ns(ns), ' | '.join(ratios)))
    print()
    print('ns/step: median over rounds.  Ratios: speed-up (baseline time / variant time), the median over'
          ' rounds of the ratio within each round; all from this run.')
    print()
    bound = latency_bound(args, lats)
    if bound:
        loops = med.get(BASELINES[0])
        print('Latency bound: a step cannot be faster than the longest chain of dependent operations from one'
              ' step\'s weights to the next step\'s (the maximum mean cycle of NAME_train\'s loop in netc\'s IR),'
              ' at this core\'s latencies, measured in each round (`latency.c`; median: %s cycles at %.2f GHz):'
              % (', '.join('%s %.1f' % (k, bound['lat'][k]) for k in ('add', 'mul', 'max', 'gt', 'select')),
                 bound['ghz']))
        print()
        for what, cyc in (('as PyTorch orders the step (netc\'s default, the C loops, the hand-packed kernel)',
                           bound['exact']), ('as `--reassociate` orders it', bound['reassoc'])):
            ns = cyc / bound['ghz']
            print('- %s: %.1f cycles, %.1f ns%s' % (
                what, cyc, ns, '; the C loops take %.1f ns, so %.2fx is the most any kernel of this order can gain'
                ' on them' % (loops, loops / ns) if loops else ''))
        print()

    peak_g = {k: statistics.median(vals) for k, vals in peaks.items()}
    best = max(peak_g.values())
    print('## Mini-batch SGD')
    print()
    print('FMA throughput bound, measured: AVX-512 %.1f GFLOP/s, AVX2 %.1f GFLOP/s (one core).' % (
        peak_g['avx512'], peak_g['avx2']))
    print()
    print('| variant | samples/s | ns/sample | FLOP/sample | GFLOP/s | x from FMA bound | vs C loops, same batch |')
    print('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
    batch_base = {v.batch: v for v in live if v.kind == 'baseline'}
    for v in live:
        if not (v.name == REF or v.batch > 1 or v.kind == 'baseline'):
            continue
        ns = med[v.name]
        f = flops_per_sample(v.batch)
        g = f / ns
        base = batch_base.get(v.batch)
        vs = fmt_ratio(speedup(base.name, v.name)) if base else '-'
        print('| %s | %s | %s | %.1f | %.2f | %.1fx | %s |' % (
            v.name, fmt_rate(1e9 / ns), fmt_ns(ns), f, g, best / g, vs))
    print()
    print('"x from FMA bound": how many times slower than the measured peak (%.1f GFLOP/s) at the'
          ' useful FLOPs per sample.' % best)
    print()

    # ---- instructions, sizes, compile time ----
    stats = static_stats(b, args, data, ref, by_name)
    for line in stats['lines']:
        print(line)

    # ---- targets ----
    print()
    print('## Targets (issue 3)')
    print()
    base = med.get(BASELINES[0])
    tgt = []
    if base:
        most = (lambda k: ' (latency bound of its order: %.2fx)' % (base / (bound[k] / bound['ghz']))) if bound \
            else (lambda k: '')
        x = speedup(BASELINES[0], REF)
        tgt.append(('netc train >= 2.0x faster than C loops -O3 -march=native', x >= 2.0, '%.2fx%s' % (x, most('exact'))))
        reas = [v for v in live if '--reassociate' in v.netc and v.batch == 1]
        x = speedup(BASELINES[0], reas[0].name) if reas else 0
        tgt.append(('--reassociate >= 3.0x faster than C loops', x >= 3.0,
                    '%.2fx%s' % (x, most('reassoc')) if reas else 'no --reassociate yet'))
    torch_v = med.get(BASELINES[3])
    x = speedup(BASELINES[3], REF) if torch_v else 0
    tgt.append(('netc train >= 10,000x faster than PyTorch eager', x >= 1e4,
                fmt_ratio(x) if torch_v else 'PyTorch not run'))
    ipc = stats.get('instr')
    tgt.append(('<= 50 instructions per step (AVX2 build)', ipc is not None and ipc <= 50,
                '%.1f' % ipc if ipc is not None else 'callgrind not run'))
    b64 = sorted((med[v.name], v.name) for v in live if v.batch == 64 and v.kind in ('netc', 'netc-obj'))
    if b64:
        x = best / (flops_per_sample(64) / b64[0][0])
        tgt.append(('batch 64 within 3x of the FMA bound', x <= 3, '%.1fx from the bound (%s)' % (x, b64[0][1])))
    tgt.append(('< 1 KiB .text per kernel (forward, grad, step, train at -O3 -march=native)',
                stats['max_text'] < 1024, 'largest %d bytes (%s)' % (stats['max_text'], stats['max_text_sym'])))
    print('| target | holds | measured |')
    print('| --- | --- | --- |')
    for name, ok, val in tgt:
        print('| %s | %s | %s |' % (name, 'yes' if ok else 'no', val))
    print()
    for n in notes:
        print('note: ' + n)
    if failed:
        print('FAIL: weights disagree: ' + ', '.join(failed))
        return 1
    return 0


def latency_bound(args, lats):
    """NAME_train's latency bound per step, in cycles, for netc's default
    order and for --reassociate's (recurrence_cycles), at the median measured
    latencies; None without measurements (--check, or not x86-64)."""
    if not lats or not lats.get('ghz'):
        return None
    lat = {k: statistics.median(v) for k, v in lats.items()}

    def ir(flags, after):
        return run([args.netc, SEED_YAML, '--print-after=' + after, '-o', os.devnull] + flags).stderr
    name = model_name(SEED_YAML)
    return {'lat': lat, 'ghz': lat['ghz'],
            'exact': recurrence_cycles(ir([], 'simplify-scalar'), lat),
            'reassoc': recurrence_cycles(ir(['--reassociate'], 'reassociate'), lat, '(%s_train)' % name)}


def static_stats(b, args, data, ref, by_name):
    lines = ['## Instructions, code size, compile time', '']
    res = {'lines': lines}
    # Callgrind on AVX2 builds of netc's train and the baseline, counting only
    # inside the train function (--toggle-collect).
    calls = []
    if shutil.which('valgrind'):
        steps = 4096 * 10
        rows = []
        for v, tag in ((ref, 'cg-netc'), (by_name['netc C --reassociate, -O3 -march=native'], 'cg-netcr'),
                       (by_name[BASELINES[0]], 'cg-baseline'),
                       (by_name['hand-packed SSE C, -O3 -march=native'], 'cg-hand'),
                       (by_name['netc C batch 64, -O3 -march=native'], 'cg-netc64')):
            if v.skipped:
                continue
            w = V(v.name, v.kind, AVX2, v.netc, v.model, v.batch)
            w.cmd = b.build(w, tag)
            out = os.path.join(args.work, tag + '.callgrind')
            run(['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out,
                 '--toggle-collect=' + w.symbol] + w.cmd + [data, '--samples', str(steps), '--batch', str(v.batch)])
            ir = None
            for line in open(out):
                if line.startswith(('summary:', 'totals:')):
                    ir = int(line.split()[1])
            per = ir / steps * v.batch
            rows.append((v.name.split(',')[0], v.batch, per))
            if v is ref:
                res['instr'] = per
            calls.append(w)
        lines.append('Instructions per step, `valgrind --tool=callgrind --toggle-collect=<train function>`'
                     ' on an AVX2 build (-O3 -mavx2 -mfma), loop overhead included:')
        lines.append('')
        lines.append('| kernel | batch | instructions/step | instructions/sample |')
        lines.append('| --- | ---: | ---: | ---: |')
        for name, batch, per in rows:
            lines.append('| %s | %d | %.1f | %.1f |' % (name, batch, per, per / batch))
        lines.append('')
    else:
        lines.append('valgrind not installed: no instruction counts.')
        lines.append('')

    # .text bytes of each kernel (nm --size), per build.
    builds = [('-O2', by_name["netc C, -O2 (netc's default)"]), ('-O3 -march=native', ref)]
    builds += [('-O3 -mavx2 -mfma', c) for c in calls if c.kind == 'netc' and c.batch == 1 and not c.netc]
    sizes = {}
    for label, v in builds:
        if v.skipped:
            continue
        for line in run(['nm', '--size-sort', '-S', '--defined-only', v.kernel_obj]).stdout.splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[2] in 'tT':
                sizes.setdefault(parts[3], {})[label] = int(parts[1], 16)
    labels = [label for label, v in builds if not v.skipped]
    lines.append('`.text` bytes per function of the reference kernels (`nm --size`):')
    lines.append('')
    lines.append('| function | ' + ' | '.join(labels) + ' |')
    lines.append('| --- | ' + ' | '.join('---:' for _ in labels) + ' |')
    res['max_text'], res['max_text_sym'] = 0, ''
    for sym in sorted(sizes):
        lines.append('| %s | %s |' % (sym, ' | '.join(str(sizes[sym].get(lab, '-')) for lab in labels)))
        n = sizes[sym].get('-O3 -march=native', 0)
        kernels = [model_name(SEED_YAML) + '_' + k for k in ('forward', 'grad', 'step', 'train')]
        if sym in kernels and n > res['max_text']:
            res['max_text'], res['max_text_sym'] = n, sym
    lines.append('')

    # netc's own time to compile seed.yaml to C.
    tmp = os.path.join(args.work, 'compile-time')
    os.makedirs(tmp, exist_ok=True)
    ts = []
    for _ in range(11):
        t0 = time.perf_counter()
        run([args.netc, SEED_YAML, '-o', os.path.join(tmp, 'seed.c')])
        ts.append(time.perf_counter() - t0)
    tc = []
    for _ in range(5):
        t0 = time.perf_counter()
        run(b.cc + STD + O2 + ['-c', os.path.join(tmp, 'seed.c'), '-o', os.path.join(tmp, 'seed.o')])
        tc.append(time.perf_counter() - t0)
    lines.append('netc compile time for models/seed.yaml to C: %.1f ms (median of 11, process start included);'
                 ' then `%s -O2 -c` on its output: %.0f ms.' % (
                     statistics.median(ts) * 1e3, ' '.join(b.cc), statistics.median(tc) * 1e3))
    return res


if __name__ == '__main__':
    sys.exit(main())
