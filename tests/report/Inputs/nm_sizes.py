#!/usr/bin/env python3
"""llvm-nm -S output on stdin -> 'NAME SIZE' (decimal) for each text symbol."""
import sys

for line in sys.stdin:
    f = line.split()
    if len(f) == 4 and f[2] in ('T', 't'):
        print(f[3], int(f[1], 16))
