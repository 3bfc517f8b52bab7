"""limits.py: runs a command under limits a test cannot set from lit's shell.

usage: limits.py [--nobody] [--fsize BYTES] COMMAND ARGS...

--nobody     run as the unprivileged user nobody (uid and gid 65534, no
             groups) when we are root; as ourselves when we are not root
             already, which is what the option is for.
--fsize N    the file-size limit (ulimit -f, RLIMIT_FSIZE) in bytes.

The command's output goes through pipes and is copied to ours, so that
files it lands in are not under the limit.  Exits with the command's status.  A command killed by a signal is named
on stderr (`limits.py: killed by signal N`) and gives status 99, so that
`not` can tell an orderly failure from a death by SIGXFSZ.
"""
import os
import resource
import subprocess
import sys

args = sys.argv[1:]
nobody = fsize = None
while args and args[0].startswith('--'):
    if args[0] == '--nobody':
        nobody = True
        args = args[1:]
    elif args[0] == '--fsize':
        fsize = int(args[1])
        args = args[2:]
    else:
        sys.exit('limits.py: unknown option ' + args[0])


def setup():
    if fsize is not None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    if nobody and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)


# Through pipes: a file the command wrote its messages to would be under its
# file-size limit too.
p = subprocess.run(args, preexec_fn=setup, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
sys.stdout.buffer.write(p.stdout)
sys.stdout.flush()
sys.stderr.buffer.write(p.stderr)
sys.stderr.flush()
r = p.returncode
if r < 0:
    sys.stderr.write('limits.py: killed by signal %d\n' % -r)
    sys.exit(99)
sys.exit(r)
