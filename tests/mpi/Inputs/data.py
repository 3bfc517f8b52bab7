#!/usr/bin/python3
"""data.py OUT.npy N [SEED]: N samples of 6 inputs and 2 targets from a fixed
teacher (float32, deterministic)."""
import sys

import numpy as np

out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(int(sys.argv[3]) if len(sys.argv) > 3 else 7)
x = rng.standard_normal((n, 6)).astype(np.float32)
w = np.random.default_rng(1).standard_normal((6, 2)).astype(np.float32)
t = np.tanh(x @ w) * 0.5
np.save(out, np.hstack([x, t]).astype("<f4"))
