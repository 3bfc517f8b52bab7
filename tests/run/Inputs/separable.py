#!/usr/bin/env python3
"""Write a linearly separable two-class data set as CSV: x0, x1, t with
t = 1 where x0 + x1 > 0, every point at least 0.5 from the boundary, inputs
in [-5, 5].  A fixed linear congruential stream: the same file everywhere."""
import sys

state = 12345


def uniform():
    global state
    state = (state * 1103515245 + 12345) % 2 ** 31
    return state / 2 ** 31 * 10 - 5


rows = 0
with open(sys.argv[1], 'w') as f:
    while rows < int(sys.argv[2]):
        x0, x1 = uniform(), uniform()
        if abs(x0 + x1) < 0.5:
            continue
        f.write('%.6f,%.6f,%d\n' % (x0, x1, 1 if x0 + x1 > 0 else 0))
        rows += 1
