#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined)
# and runs each for SECONDS (default 30) on its committed seed corpus,
# tests/fuzz/corpus/TARGET/.  New inputs go to WORK/TARGET (default
# build/fuzz), never into the source tree.  The targets' own error lines are
# muted with -close_fd_mask=2 (libFuzzer's reports still show).  Exit 77
# (ctest: skipped) when clang's fuzzer runtime is missing, 1 when a fuzzer
# finds a crash, a leak or a hang (the input is saved in WORK as TARGET-crash-*).
#
#   tests/fuzz/run.sh [SECONDS] [WORK]
#   tests/fuzz/run.sh 3600 /tmp/fuzz      # a longer run
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-30}
work=${2:-$root/build/fuzz}
cc=${FUZZ_CC:-clang}
flags="-std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Wall -Wextra -Werror"
mkdir -p "$work"

probe="$work/probe.c"
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' > "$probe"
if ! command -v "$cc" >/dev/null || ! $cc $flags "$probe" -o "$work/probe" 2>/dev/null; then
    echo "fuzz: skipped: $cc cannot build with -fsanitize=fuzzer (apt-get install clang)"
    exit 77
fi

rt="$root/runtime"
yaml_flags=$(pkg-config --cflags --libs yaml-0.1)
$cc $flags -I"$rt" "$here/fuzz_safetensors.c" "$rt/checkpoint.c" "$rt/json.c" "$rt/data.c" "$rt/npy.c" -lm -o "$work/fuzz_safetensors"
$cc $flags -I"$rt" "$here/fuzz_data.c" "$rt/data.c" "$rt/npy.c" -lm -o "$work/fuzz_csv"
$cc $flags -I"$rt" -DFUZZ_NPY "$here/fuzz_data.c" "$rt/data.c" "$rt/npy.c" -lm -o "$work/fuzz_npy"
# The YAML target links parse.c and diag.c, plus whatever they use from the
# rest of the compiler (tables in lower.c, ...), through an archive so that
# only the objects needed are pulled in; not main.c or the LLVM backend.
# A private folder per run, so that two runs on one WORK cannot collide.
obj=$(mktemp -d "$work/obj.XXXXXX")
trap 'rm -rf "$obj"' EXIT
for src in "$root"/compiler/*.c; do
    case $(basename "$src") in main.c|emit_llvm*.c|llvm_target.c) continue ;; esac
    $cc $flags -Wno-error -DNETC_FUZZ -I"$root/compiler" $(pkg-config --cflags yaml-0.1) \
        -c "$src" -o "$obj/$(basename "$src" .c).o"
done
ar rcs "$obj/libnetc_fuzz.a" "$obj"/*.o
$cc $flags -DNETC_FUZZ -I"$root/compiler" "$here/fuzz_yaml.c" "$obj/libnetc_fuzz.a" $yaml_flags -lm -o "$work/fuzz_yaml"

status=0
for t in yaml csv npy safetensors; do
    mkdir -p "$work/$t"
    log="$work/$t.log"
    if ASAN_OPTIONS=detect_leaks=1 "$work/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=1024 -max_len=4096 -close_fd_mask=2 -artifact_prefix="$work/$t-" \
        "$work/$t" "$here/corpus/$t" >"$log" 2>&1; then
        runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' || echo '?')
        echo "fuzz $t: $runs executions in ${seconds}s, no findings"
    else
        echo "fuzz $t: FOUND A PROBLEM; see $log and $work/$t-crash-*"
        tail -40 "$log"
        status=1
    fi
done
exit $status
