#!/usr/bin/env bash
# tools/measure-dllama-cpu.sh's inputs, checked before it makes a namespace or starts a
# process: bad counts, a missing or unusable binary, unreadable model files and unknown
# arguments end with status 2 and a message naming them; --help prints the usage.
# usage: test_measure_dllama_cpu_args.sh SOURCE_DIR
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tool=$src/tools/measure-dllama-cpu.sh
fail=0
# check EXPECTED_STATUS TEXT ARGS...: the exit status and a line of stderr (or stdout for 0)
check() {
    local want=$1 text=$2 rc=0
    shift 2
    bash "$tool" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    if [ "$rc" != "$want" ] || ! grep -qF -- "$text" "$tmp/out" "$tmp/err"; then
        echo "not ok: $* -> exit $rc (expected $want and '$text'):" >&2
        cat "$tmp/out" "$tmp/err" >&2
        fail=1
    fi
}
: >"$tmp/fake"
chmod +x "$tmp/fake"
: >"$tmp/m"
check 0 "CPU per token of a distributed-llama cluster" --help
check 2 "unknown argument --bogus" --bogus
check 2 "--rounds: 'x' is not a round count from 1 to 100" --rounds x
check 2 "--rounds: '0' is not a round count from 1 to 100" --rounds 0
check 2 "--tokens: '-3' is not a positive token count" --tokens -3
check 2 "--dllama BIN is required" --rounds 2
check 2 "$tmp/none: not an executable file" --dllama "$tmp/none"
check 2 "$tmp/none.t: cannot read it" --dllama "$tmp/fake" --model "$tmp/m" "$tmp/none.t"
[ "$fail" = 0 ] && echo "ok: measure-dllama-cpu.sh refuses bad inputs"
exit $fail
