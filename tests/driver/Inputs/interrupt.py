#!/usr/bin/env python3
"""Interrupts netc while its C compiler runs, then reports what is left.

    interrupt.py NETC MODEL WORKDIR SIGNAL

CC is a stand-in that writes its pid to a file and sleeps: once the file
exists netc is inside the compile, with its output temporary and its
temporary folder made.  Then SIGNAL (INT or TERM) goes to netc alone, not
to the compiler.  Prints how netc ended, the files left beside the output
and in TMPDIR, and whether the compiler still runs (it is then stopped
here).  No timing: the script waits for the pid file, however long."""
import os
import signal
import subprocess
import sys
import time

netc, model, work, signame = sys.argv[1:5]
# lit's workers ignore SIGINT, and netc keeps a signal ignored by its parent
# ignored (as nohup and background jobs want): give it the default.
signal.signal(signal.SIGINT, signal.SIG_DFL)
sig = getattr(signal, 'SIG' + signame)
out = os.path.join(work, 'out')
tmp = os.path.join(work, 'tmp')
os.makedirs(out)
os.makedirs(tmp)
pidfile = os.path.join(work, 'cc.pid')
cc = os.path.join(work, 'slowcc')
with open(cc, 'w') as f:
    f.write('#!/bin/sh\necho $$ > %s.new && mv %s.new %s\nexec sleep 600\n' % (pidfile, pidfile, pidfile))
os.chmod(cc, 0o755)
env = dict(os.environ, CC=cc, TMPDIR=tmp)
p = subprocess.Popen([netc, model, '-o', os.path.join(out, 'trainer')], env=env)
while not os.path.exists(pidfile):
    if p.poll() is not None:
        sys.exit('netc ended (%d) before running the compiler' % p.returncode)
    time.sleep(0.01)
with open(pidfile) as f:
    ccpid = int(f.read())
p.send_signal(sig)
code = p.wait()
print('netc: %s' % ('ended by SIG%s' % signame if code == -sig else 'exit status %d' % code))
print('left beside the output: %s' % (' '.join(sorted(os.listdir(out))) or 'nothing'))
print('left in TMPDIR: %s' % (' '.join(sorted(os.listdir(tmp))) or 'nothing'))
try:
    os.kill(ccpid, 0)
    print('compiler: still running')
    os.kill(ccpid, signal.SIGKILL)
except ProcessLookupError:
    print('compiler: stopped')
