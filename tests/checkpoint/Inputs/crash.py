#!/usr/bin/python3
"""Crash-safety drivers for the trainer's checkpoints.

    crash.py kill TRAINER DATA DIR ROUNDS
        Starts TRAINER --data DATA --save DIR/ck.safetensors --save-every 1
        (resuming from the checkpoint after the first round) and SIGKILLs it
        after a delay that varies from round to round (0 to 40 ms, a fixed
        sequence), ROUNDS times.  After every kill the checkpoint must read
        cleanly (st.py's strict reader, then the trainer's own --load) and be
        byte for byte the checkpoint a straight run of that many epochs
        writes, and its epoch may never go backwards.  Timing only decides
        where the kills land, never whether the test passes.

    crash.py full TRAINER DATA DIR
        Saves a good checkpoint, then runs the trainer again with a file size
        limit (RLIMIT_FSIZE, SIGXFSZ ignored) too small for the new file, so
        its write fails part way (a short write, then EFBIG) as on a full
        disk.  The error must be reported (exit 1, "cannot write") and the old
        checkpoint must be intact, with no temporary file left behind.
"""

import os
import resource
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import st  # noqa: E402


def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)


def reference(trainer, data, d, epoch, cache):
    """The bytes of the checkpoint a straight run of `epoch` epochs writes."""
    if epoch not in cache:
        path = os.path.join(d, "ref-%d.safetensors" % epoch)
        subprocess.run([trainer, "--data", data, "--epochs", str(epoch), "--save", path,
                        "--quiet"], check=True, stdout=subprocess.DEVNULL)
        cache[epoch] = open(path, "rb").read()
    return cache[epoch]


def kill(trainer, data, d, rounds):
    ck = os.path.join(d, "ck.safetensors")
    cache, last_epoch, changed, kills = {}, 0, 0, 0
    # A first checkpoint to resume from.
    subprocess.run([trainer, "--data", data, "--epochs", "1", "--save", ck, "--quiet"],
                   check=True, stdout=subprocess.DEVNULL)
    for r in range(rounds):
        delay = (r * 7919 % 41) / 1000.0  # 0..40 ms, spread over the rounds
        before = open(ck, "rb").read()
        p = subprocess.Popen([trainer, "--data", data, "--load", ck, "--save", ck,
                              "--save-every", "1", "--epochs", "1000000", "--quiet"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        _, err = p.communicate()
        if p.returncode != -signal.SIGKILL:
            fail("round %d: the trainer exited with %s before the kill: %s"
                 % (r, p.returncode, err.decode(errors="replace")))
        kills += 1
        try:
            meta, _ = st.read(ck)
        except st.BadFile as e:
            fail("round %d: the checkpoint does not read after the kill: %s" % (r, e))
        epoch = int(meta["netc.epoch"])
        now = open(ck, "rb").read()
        if now != reference(trainer, data, d, epoch, cache):
            fail("round %d: the checkpoint of epoch %d is not the one a straight run writes"
                 % (r, epoch))
        if epoch < last_epoch:
            fail("round %d: the epoch went back from %d to %d" % (r, last_epoch, epoch))
        changed += now != before
        last_epoch = epoch
        # Temporary files of killed runs are left behind (nothing can remove
        # them on SIGKILL); they never replace the checkpoint.  Tidy up.
        for name in os.listdir(d):
            if name.startswith("ck.safetensors.tmp-"):
                os.unlink(os.path.join(d, name))
    check = subprocess.run([trainer, "--data", data, "--load", ck, "--epochs", "1", "--quiet"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if check.returncode != 0:
        fail("the trainer cannot load the final checkpoint: " + check.stderr.decode())
    print("kill: %d kills, all left a complete checkpoint (old or new); %d rounds saved at "
          "least once; reached epoch %d" % (kills, changed, last_epoch))
    # Timing-dependent numbers go to stderr, so that FileCheck never sees them.
    sys.stderr.write("kill: %d distinct epochs checked against straight runs\n" % len(cache))


def full(trainer, data, d):
    ck = os.path.join(d, "full.safetensors")
    subprocess.run([trainer, "--data", data, "--epochs", "2", "--save", ck, "--quiet"],
                   check=True, stdout=subprocess.DEVNULL)
    old = open(ck, "rb").read()
    limit = len(old) // 2

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    p = subprocess.run([trainer, "--data", data, "--load", ck, "--epochs", "3", "--save", ck],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limited)
    err = p.stderr.decode(errors="replace")
    print("exit %d" % p.returncode)
    sys.stdout.write(err)
    if open(ck, "rb").read() != old:
        fail("the old checkpoint changed")
    left = [n for n in os.listdir(d) if n.startswith("full.safetensors.tmp")]
    if left:
        fail("temporary files left behind: %s" % left)
    st.read(ck)
    print("the old checkpoint is intact")


def main(argv):
    if len(argv) == 6 and argv[1] == "kill":
        kill(argv[2], argv[3], argv[4], int(argv[5]))
    elif len(argv) == 5 and argv[1] == "full":
        full(argv[2], argv[3], argv[4])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
