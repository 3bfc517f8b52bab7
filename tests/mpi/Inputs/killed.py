#!/usr/bin/python3
"""killed.py --mpirun CMD --kill kill-rank1.sh --trainer T --data D --ck CK

Runs T on 2 ranks for a very long time, saving CK every epoch, with rank 1
SIGKILLed once CK exists (kill-rank1.sh; a 300 s timeout guards a hang).
Then: mpirun's exit status must be non-zero and its output must say the
signal; CK must read cleanly and equal, byte for byte, the checkpoint of a
straight 2-rank run of as many epochs as CK says it holds."""
import argparse
import os
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "checkpoint"))
import st  # noqa: E402

ap = argparse.ArgumentParser()
for a in ("--mpirun", "--kill", "--trainer", "--data", "--ck"):
    ap.add_argument(a, required=True)
args = ap.parse_args()
mpirun = shlex.split(args.mpirun)
run = [args.trainer, "--data", args.data, "--save", args.ck, "--save-every", "1", "--quiet"]
p = subprocess.run(mpirun + ["-np", "2", "sh", args.kill, args.ck] + run + ["--epochs", "100000000"],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
said = [l for l in p.stdout.splitlines() if "signal 9" in l]
if p.returncode == 0 or not said:
    sys.exit("killed.py: mpirun exit %d, output:\n%s" % (p.returncode, p.stdout))
print("mpirun: exit %d: %s" % (p.returncode, said[0].strip()))
meta, _ = st.read(args.ck)
epoch = meta["netc.epoch"]
straight = args.ck + ".straight"
subprocess.run(mpirun + ["-np", "2", args.trainer, "--data", args.data, "--save", straight, "--quiet",
                         "--epochs", epoch], check=True, stdout=subprocess.DEVNULL)
with open(args.ck, "rb") as f, open(straight, "rb") as g:
    if f.read() != g.read():
        sys.exit("killed.py: the checkpoint of epoch %s differs from a straight run's" % epoch)
print("killed after epoch %s: the checkpoint reads cleanly and equals a straight run's" % epoch)
