"""device.py: `--save` naming a character device leaves the device alone.

usage: device.py TRAINER DATA FOLDER

Two cases, each printing the trainer's exit status, its stderr and what the
target is afterwards:

clone:   a character device 1,3 (what /dev/null is) made in FOLDER with
         mknod when we are root, which a rename could replace without harm
         to the system; /dev/null itself when we are not root (we cannot
         replace it then).
devnull: /dev/null itself, run as the unprivileged user nobody when we are
         root (limits.py --nobody), so that a regression cannot replace the
         machine's /dev/null.
"""
import os
import stat
import subprocess
import sys

trainer, data, folder = sys.argv[1:4]
here = os.path.dirname(os.path.abspath(__file__))


def show(label, target, prefix=()):
    r = subprocess.run(list(prefix) + [trainer, '--data', data, '--epochs', '2', '--quiet',
                                       '--save', target], capture_output=True, text=True)
    print('%s: status %d' % (label, r.returncode))
    for line in (r.stdout + r.stderr).splitlines():
        print('%s: %s' % (label, line))
    st = os.stat(target)
    if stat.S_ISCHR(st.st_mode):
        print('%s: character device %d,%d' % (label, os.major(st.st_rdev), os.minor(st.st_rdev)))
    else:
        print('%s: not a character device any more' % label)


if os.geteuid() == 0:
    clone = os.path.join(folder, 'null')
    if os.path.lexists(clone):
        os.unlink(clone)
    os.mknod(clone, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    show('clone', clone)
    show('devnull', '/dev/null', [sys.executable, os.path.join(here, 'limits.py'), '--nobody'])
else:
    show('clone', '/dev/null')
    show('devnull', '/dev/null')
