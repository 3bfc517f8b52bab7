"""Fails, naming the file and the first differing line, when clang-format
with the repository's .clang-format would change a file of the folder."""
import difflib
import glob
import os
import shutil
import subprocess
import sys

root, folder = sys.argv[1], sys.argv[2]
tool = shutil.which('clang-format') or shutil.which('clang-format-14')
if not tool:
    sys.exit('error: clang-format is missing (.ci/deps installs it)')
files = sorted(glob.glob(os.path.join(root, folder, '*.[ch]')))
if not files:
    sys.exit('error: no C files in ' + folder)
bad = 0
for f in files:
    src = open(f).read()
    out = subprocess.run([tool, '--style=file', f], check=True, capture_output=True, text=True).stdout
    if out != src:
        diff = list(difflib.unified_diff(src.splitlines(), out.splitlines(), f, 'clang-format', n=0, lineterm=''))
        print('\n'.join(diff[:12]))
        bad += 1
print(f'{len(files) - bad} of {len(files)} files formatted')
sys.exit(1 if bad else 0)
