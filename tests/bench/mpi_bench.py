#!/usr/bin/python3
"""The data-parallel benchmark: samples per second at 1 and 2 ranks against
PyTorch, every number from one run (tests/bench/README.md, "Data parallel").

    mpi_bench.py --netc NETC --work DIR [--rounds R]

For each model (a YAML in MODELS, batch B per rank, plain SGD, MSE): netc's
plain trainer (NAME_train), its --mpi build under `mpirun -np 1` and `-np 2`
(grad, the fixed-order sum, apply), PyTorch with 2 threads (global batch 2B,
torch.set_num_threads(2), OpenBLAS with 2 threads) and PyTorch
DistributedDataParallel with gloo on 2 processes (B each, one thread each).
netc's time per epoch is the difference of two runs (E and 2E epochs, E
grown until a run takes a second), so start-up and data loading cancel out;
PyTorch's is timed around its loop (at most 2000 steps).
Each variant runs once a round, R rounds (default 3); the table shows the
median samples/s and each ratio the median of the ratios within a round.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = '/usr/bin/python3'
# (name, layer widths, batch per rank, samples, epochs)
MODELS = [
    ('seed 5-3-1 relu, batch 1', [5, 3, 1], 1, 1 << 16, 4),
    ('784-128-10 tanh, batch 256', [784, 128, 10], 256, 1 << 14, 2),
    ('32-64-64-64-1 tanh, batch 1024', [32, 64, 64, 64, 1], 1024, 1 << 16, 2),
]
OMPI_ENV = {'OMPI_MCA_btl': 'self,vader', 'OMPI_MCA_btl_vader_single_copy_mechanism': 'none',
            'OMPI_MCA_plm': 'isolated', 'OMPI_MCA_rmaps_base_oversubscribe': '1',
            'OMPI_MCA_hwloc_base_binding_policy': 'none'}


def yaml_text(name, widths, batch):
    act = 'relu' if widths == [5, 3, 1] else 'tanh'
    layers = ''.join('  - {linear: %d, activation: %s}\n' % (w, act if i < len(widths) - 2 or act == 'relu'
                                                            else 'identity')
                     for i, w in enumerate(widths[1:]))
    return ('name: %s\ninput: %d\nlayers:\n%sloss: mse\noptimizer:\n  sgd: {lr: 0.01}\nbatch: %d\n'
            % (name, widths[0], layers, batch))


TORCH = r'''
import os, sys, time
import numpy as np, torch
from torch import nn
widths = [int(w) for w in sys.argv[2].split(',')]
batch, epochs, mode = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
relu = widths == [5, 3, 1]
def net():
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if relu or i < len(widths) - 2:
            layers.append(nn.ReLU() if relu else nn.Tanh())
    return nn.Sequential(*layers)
a = np.load(sys.argv[1])
x = torch.from_numpy(a[:, :widths[0]].copy()); t = torch.from_numpy(a[:, widths[0]:].copy())
def run(model, rank, size):
    opt = torch.optim.SGD(model.parameters(), lr=0.01); loss_fn = nn.MSELoss()
    g = batch * size; steps = min(len(x) // g, 2000)  # at most 2000 steps: PyTorch is slow
    start = time.perf_counter()
    for e in range(epochs):
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(e))
        for k in range(steps):
            idx = perm[k * g + rank * batch:k * g + (rank + 1) * batch]
            loss = loss_fn(model(x[idx]), t[idx])
            opt.zero_grad(); loss.backward(); opt.step()
    return steps * g * epochs / (time.perf_counter() - start)
if mode == 'threads':
    torch.set_num_threads(2)
    batch *= 2
    print(run(net(), 0, 1))
else:  # ddp RANK: one of the two processes, launched by mpi_bench.py
    import torch.distributed as dist
    rank = int(sys.argv[6])
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method='tcp://127.0.0.1:29571', rank=rank, world_size=2)
    torch.manual_seed(0)
    r = run(nn.parallel.DistributedDataParallel(net()), rank, 2)
    dist.destroy_process_group()
    if rank == 0:
        print(r)
'''


def timed(cmd, env=None):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--netc', required=True)
    ap.add_argument('--work', required=True)
    ap.add_argument('--rounds', type=int, default=3)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    env = dict(os.environ, **OMPI_ENV)
    mpirun = ['mpirun', '--oversubscribe'] + (['--allow-run-as-root'] if os.geteuid() == 0 else [])
    tenv = {k: v for k, v in os.environ.items() if k not in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE')}
    for blas in ('/usr/lib/x86_64-linux-gnu/openblas-pthread', '/usr/lib/aarch64-linux-gnu/openblas-pthread'):
        if os.path.isdir(blas):
            tenv['LD_LIBRARY_PATH'] = blas
    torch_py = os.path.join(args.work, 'torch_mpi.py')
    with open(torch_py, 'w') as f:
        f.write(TORCH)
    have_torch = subprocess.call([PY, '-c', 'import torch'], stderr=subprocess.DEVNULL) == 0
    rows = []
    for title, widths, batch, n, epochs in MODELS:
        d = os.path.join(args.work, 'm%d' % len(rows))
        os.makedirs(d, exist_ok=True)
        yaml = os.path.join(d, 'm.yaml')
        with open(yaml, 'w') as f:
            f.write(yaml_text('m', widths, batch))
        subprocess.run([PY, '-c', 'import numpy as np; r = np.random.default_rng(1); '
                        'x = r.standard_normal((%d, %d)).astype("<f4"); '
                        'np.save("%s", np.hstack([x, np.tanh(x[:, :%d] * 0.3)]).astype("<f4"))'
                        % (n, widths[0], os.path.join(d, 'd.npy'), widths[-1])], check=True)
        subprocess.run([args.netc, yaml, '-o', os.path.join(d, 'plain')], check=True)
        subprocess.run([args.netc, yaml, '-o', os.path.join(d, 'mpi'), '--mpi'], check=True)
        data = os.path.join(d, 'd.npy')
        variants = {
            'netc plain': lambda e: [os.path.join(d, 'plain'), '--data', data, '--epochs', str(e), '--quiet'],
            'netc 1 rank': lambda e: mpirun + ['-np', '1', os.path.join(d, 'mpi'), '--data', data, '--epochs',
                                               str(e), '--quiet'],
            'netc 2 ranks': lambda e: mpirun + ['-np', '2', os.path.join(d, 'mpi'), '--data', data, '--epochs',
                                                str(e), '--quiet'],
        }
        per = {k: [] for k in list(variants) + ['torch 2 threads', 'torch DDP gloo 2']}
        calibrated = {}
        for r in range(args.rounds):
            for name, cmd in variants.items():
                g = batch * (2 if '2 ranks' in name else 1)
                used = n - n % g
                e = calibrated.get(name, 1)
                while name not in calibrated and timed(cmd(e), env) < 1.0 and e < 4096:
                    e *= 4  # until a run takes a second: start-up then cancels out in the difference
                calibrated[name] = e
                dt = timed(cmd(2 * e), env) - timed(cmd(e), env)
                per[name].append(used * e / dt if dt > 0 else float('nan'))
            if have_torch:
                for name, mode in (('torch 2 threads', 'threads'), ('torch DDP gloo 2', 'ddp')):
                    e2 = dict(tenv, OPENBLAS_NUM_THREADS='2' if mode == 'threads' else '1')
                    cmd = [PY, torch_py, data, ','.join(map(str, widths)), str(batch), '1', mode]
                    if mode == 'ddp':
                        other = subprocess.Popen(cmd + ['1'], env=e2, stdout=subprocess.DEVNULL)
                        cmd = cmd + ['0']
                    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, env=e2, universal_newlines=True)
                    if mode == 'ddp' and other.wait() != 0:
                        sys.exit('mpi_bench.py: DDP rank 1 failed')
                    per[name].append(float(out.stdout.split()[-1]))
        rows.append((title, per))
    print('| model (batch per rank) | variant | samples/s | vs netc 1 rank | vs faster PyTorch |')
    print('| --- | --- | ---: | ---: | ---: |')
    for title, per in rows:
        for name, v in per.items():
            if not v:
                continue
            ratio1 = statistics.median(a / b for a, b in zip(v, per['netc 1 rank']))
            torch_best = [max(a, b) for a, b in zip(per['torch 2 threads'], per['torch DDP gloo 2'])]
            ratio_t = statistics.median(a / b for a, b in zip(v, torch_best)) if torch_best else float('nan')
            print('| %s | %s | %.0f | %.2f× | %.2f× |' % (title, name, statistics.median(v), ratio1, ratio_t))


if __name__ == '__main__':
    main()
