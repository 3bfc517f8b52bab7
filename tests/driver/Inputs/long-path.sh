#!/bin/sh
# long-path.sh NETC MODEL DIR: outputs whose paths are close to PATH_MAX
# (4096 on Linux): 15 folders of 250-character names and a 240-character
# file name, 4009 bytes in all (relative to DIR).  The temporary beside the target shortens
# its name to fit NAME_MAX.  Prints what was made, and an error that must
# name the whole path.
netc=$1 model=$2 dir=$3
cd "$dir" || exit 1
p=.
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
    p=$p/$(printf 'd%0249d' "$i")
done
mkdir -p "$p" || exit 1
f=$p/$(printf 'f%0239d' 0)
echo "path bytes: $(printf '%s.c' "$f" | wc -c)"
"$netc" "$model" -o "$f.c" && echo "C: ok"
"$netc" "$model" -o "$f" && echo "trainer: ok"
"$f" --quiet --epochs 1 >/dev/null && echo "trainer runs"
echo "files: $(ls -A "$p" | wc -l)"
"$netc" "$model" -o "$p/missing/x.c" 2> err
grep -q -F "$p/missing/x.h: error: cannot create output: No such file or directory" err && echo "error names the whole path"
