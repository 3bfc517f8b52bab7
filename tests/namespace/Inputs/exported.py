"""exported.py: the external symbols an object file or archive defines.

usage: exported.py PREFIX[,PREFIX...] FILE...

Prints each symbol (`nm -g --defined-only`) as `NAME TYPE`, one a line,
and exits 1 after naming any whose name does not start with one of the
prefixes.  Names that start with two underscores are the implementation's
(C11 7.1.3: sanitizers add __odr_asan.NAME beside a global) and no app can
define them, so they are allowed.  An empty listing is an error too: it
would mean nm read nothing.
"""
import subprocess
import sys

prefixes = tuple(sys.argv[1].split(','))
out = subprocess.run(['nm', '-g', '--defined-only', '-P'] + sys.argv[2:],
                     check=True, capture_output=True, text=True).stdout
names, bad = [], []
for line in out.splitlines():
    f = line.split()
    # -P: "NAME TYPE VALUE SIZE"; an archive adds "lib.a[member.o]:" lines.
    if len(f) < 2 or line.endswith(':'):
        continue
    names.append(f[0])
    print(f[0], f[1])
    if not f[0].startswith(prefixes) and not f[0].startswith('__'):
        bad.append(f[0])
if not names:
    sys.exit('exported.py: no defined external symbols in ' + ' '.join(sys.argv[2:]))
if bad:
    sys.exit('exported.py: symbols outside %s: %s' % ('/'.join(prefixes), ' '.join(bad)))
