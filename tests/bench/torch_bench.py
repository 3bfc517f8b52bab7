#!/usr/bin/python3
"""PyTorch eager on the benchmark's data: the tutorial's training loop.

    torch_bench.py DATA --samples N [--reps K]

Per sample: forward, loss, zero_grad, backward, step, exactly as the PyTorch
tutorial the reference network comes from, one thread (the layers are far too
small for intra-op threads to help; one thread is also what every other
variant gets).  Prints what harness.c prints: ns_per_sample per rep, the mean
loss over the last up-to-4096 samples, and the final weights as hex floats.
"""
import argparse
import time

import numpy as np
import torch
from torch import nn

ap = argparse.ArgumentParser()
ap.add_argument('data')
ap.add_argument('--samples', type=int, required=True)
ap.add_argument('--reps', type=int, default=1)
args = ap.parse_args()

raw = open(args.data, 'rb').read()
assert raw[:8] == b'NETCBNCH', 'not a benchmark data file'
n = int(np.frombuffer(raw, dtype='<u4', count=1, offset=8)[0])
floats = np.frombuffer(raw, dtype='<f4', offset=12)
w0, floats = floats[:22], floats[22:]
xs = torch.from_numpy(floats[:n * 5].reshape(n, 5).copy())
ts = torch.from_numpy(floats[n * 5:n * 5 + n].reshape(n, 1).copy())
samples = [(xs[i:i + 1], ts[i:i + 1]) for i in range(n)]

torch.set_num_threads(1)
model = nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 1), nn.ReLU())


def reset():
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(w0[0:15].reshape(3, 5).copy()))
        model[0].bias.copy_(torch.from_numpy(w0[15:18].copy()))
        model[2].weight.copy_(torch.from_numpy(w0[18:21].reshape(1, 3).copy()))
        model[2].bias.copy_(torch.from_numpy(w0[21:22].copy()))
    return torch.optim.SGD(model.parameters(), lr=0.01), nn.MSELoss()


def train(count):
    losses = []
    for i in range(count):
        x, t = samples[i % n]
        output = model(x)
        loss = criterion(output, t)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


optimizer, criterion = reset()
train(min(200, args.samples))  # warm-up, as harness.c --warmup

times = []
for _ in range(args.reps):
    optimizer, criterion = reset()
    t0 = time.perf_counter_ns()
    losses = train(args.samples)
    t1 = time.perf_counter_ns()
    times.append((t1 - t0) / args.samples)

last = args.samples % n or min(n, args.samples)
print('ns_per_sample ' + ' '.join('%.4f' % t for t in times))
print('loss %.9g' % (sum(losses[-last:]) / last))
params = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
print('weights ' + ' '.join(float(v).hex() for v in params.tolist()))
