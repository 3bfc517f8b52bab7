#!/usr/bin/env python3
"""Writes an MNIST-shaped .npy (rows of 784 pixels in [0, 1] and a class
index): ten random prototype images, each sample one of them with noise, so
that a 784-128-10 MLP learns it within an epoch.  Usage: mnist_like.py OUT ROWS"""
import random
import struct
import sys

out, rows = sys.argv[1], int(sys.argv[2])
rng = random.Random(14)
protos = [[rng.random() for _ in range(784)] for _ in range(10)]
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 785), }" % rows
header += ' ' * (63 - (10 + len(header)) % 64) + '\n'
with open(out, 'wb') as f:
    f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(header)) + header.encode())
    for _ in range(rows):
        c = rng.randrange(10)
        px = [min(1.0, max(0.0, p + rng.gauss(0, 0.3))) for p in protos[c]]
        f.write(struct.pack('<785f', *px, float(c)))
