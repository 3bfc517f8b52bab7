#!/usr/bin/python3
"""PyTorch eager, one thread: the baseline of tests/bench/loops.py.

    loops_torch.py SIZES BATCH LOSS OPT SECONDS     (SIZES: 784,128,10; LOSS: ce|mse; OPT: sgd|adam)

Trains an MLP of that shape (relu hidden layers, identity output) on 16
batches of random data, round after round, the tutorial's loop (forward,
loss, zero_grad, backward, step); prints "us_per_step U loss L rounds R"
(the median of the rounds) and "blas CORE" (OpenBLAS's kernel, when torch's
BLAS is OpenBLAS).  Run with OPENBLAS_NUM_THREADS=1 and without
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (loops.py does)."""
import ctypes
import ctypes.util
import statistics
import sys
import time

import torch

sizes = [int(v) for v in sys.argv[1].split(',')]
batch, loss_kind, opt_kind, seconds = int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
torch.set_num_threads(1)
torch.manual_seed(1)
layers = []
for i in range(len(sizes) - 1):
    layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
    if i + 2 < len(sizes):
        layers.append(torch.nn.ReLU())
net = torch.nn.Sequential(*layers)
crit = torch.nn.CrossEntropyLoss() if loss_kind == 'ce' else torch.nn.MSELoss()
opt = torch.optim.SGD(net.parameters(), lr=0.01) if opt_kind == 'sgd' else torch.optim.Adam(net.parameters(), lr=0.001)
NB = 16
xs = [torch.rand(batch, sizes[0]) * 2 - 1 for _ in range(NB)]
ts = [torch.randint(0, sizes[-1], (batch,)) if loss_kind == 'ce' else torch.rand(batch, sizes[-1]) * 2 - 1
      for _ in range(NB)]


def train_round():
    for x, t in zip(xs, ts):
        opt.zero_grad()
        loss = crit(net(x), t)
        loss.backward()
        opt.step()
    return float(loss)


loss = train_round()
times = []
start = time.perf_counter()
while len(times) < 3 or time.perf_counter() - start < seconds:
    t0 = time.perf_counter()
    loss = train_round()
    times.append((time.perf_counter() - t0) / NB)
print('us_per_step %.3f loss %.6g rounds %d' % (1e6 * statistics.median(times), loss, len(times)))
core = 'unknown'
for name in ('openblas', 'openblas64'):
    path = ctypes.util.find_library(name)
    if path:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            core = 'OpenBLAS ' + lib.openblas_get_corename().decode()
            break
        except (OSError, AttributeError):
            pass
print('blas %s' % core)
