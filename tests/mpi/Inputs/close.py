#!/usr/bin/python3
"""close.py A B [TOL]: two checkpoints hold the same tensors (parameters and
optimizer state, by name) within TOL (default 1e-5) relative, with the
matrix's floor: |a - b| <= TOL * max(|a|, |b|, 1e-2 * M), M the largest |value|
of the tensor in B (tests/matrix/Inputs/harness.c).  Prints
"close: N values, max rel err E" and exits 0, or names the worst and exits 1."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "checkpoint"))
import st  # noqa: E402

a_meta, a = st.read(sys.argv[1])
b_meta, b = st.read(sys.argv[2])
tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-5
if set(a) != set(b):
    sys.exit("close: the tensors differ: %s vs %s" % (sorted(a), sorted(b)))
if a_meta.get("netc.steps") != b_meta.get("netc.steps"):
    sys.exit("close: %s steps vs %s" % (a_meta.get("netc.steps"), b_meta.get("netc.steps")))
n, worst, where = 0, 0.0, ""
for name in sorted(a):
    x, y = st.floats(a[name][2]), st.floats(b[name][2])
    m = max(abs(v) for v in y)
    for i, (u, v) in enumerate(zip(x, y)):
        err = abs(u - v) / max(abs(u), abs(v), 1e-2 * m, 1e-30)
        n += 1
        if err > worst:
            worst, where = err, "%s[%d]: %r vs %r" % (name, i, u, v)
print("close: %d values, max rel err %.3g" % (n, worst))
if worst > tol:
    sys.exit("close: beyond %g at %s" % (tol, where))
