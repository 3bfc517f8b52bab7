#!/usr/bin/env python3
"""200 samples for the reference network: 5 inputs in [-1, 1], the target
half the ReLU of their sum (CSV on stdout, deterministic)."""
import random

random.seed(1)
for _ in range(200):
    x = [random.uniform(-1, 1) for _ in range(5)]
    print(','.join('%g' % v for v in x + [max(0.0, sum(x)) * 0.5]))
