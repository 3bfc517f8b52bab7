# Checks for help-passes.test: argv = main.c, help text, netc, a model.
import re, subprocess, sys

src, helptext, netc, model = sys.argv[1:5]
body = re.search(r'passes\[\]\s*=\s*\{(.*?)\};', open(src).read(), re.S).group(1)
passes = re.findall(r'"([a-z-]+)"', body)
assert len(passes) >= 8, passes
help_words = set(re.findall(r'[a-z-]+', open(helptext).read().split('--print-after=PASS', 1)[1].split('\n  --', 1)[0]))
bad = [p for p in passes if p not in help_words]
if bad:
    sys.exit('--help does not list: ' + ', '.join(bad))
for p in passes + ['all']:
    r = subprocess.run([netc, '--print-after=' + p, '--emit=ir', model], capture_output=True)
    if r.returncode != 0:
        sys.exit('--print-after=%s failed: %s' % (p, r.stderr.decode()))
print('ok', len(passes))
