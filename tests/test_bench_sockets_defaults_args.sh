#!/usr/bin/env bash
# tools/bench-sockets-defaults.sh's inputs, checked before it starts a worker or makes a
# namespace: bad counts and modes, a missing halo or distributed-llama binary, unreadable
# model files, a model without the predictor the halo preset reads beside it, and unknown
# arguments end with status 2 and a message naming them; --help prints the usage.
# usage: test_bench_sockets_defaults_args.sh SOURCE_DIR
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tool=$src/tools/bench-sockets-defaults.sh
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
printf '#!/bin/sh\nexit 1\n' >"$tmp/fake"
chmod +x "$tmp/fake"
: >"$tmp/m.bin"
: >"$tmp/t.bin"
: >"$tmp/q.gguf"
: >"$tmp/q.pred"
: >"$tmp/q.m"
b=(--bin "$tmp/fake")
check 0 "Issue 15's acceptance ratios" --help
check 2 "unknown argument --bogus" "${b[@]}" --bogus
check 2 "--rounds: 'x' is not a round count" "${b[@]}" --rounds x
check 2 "--tokens: '0' is not a positive token count" "${b[@]}" --tokens 0
check 2 "--tokens-bundled: '481' is not a token count from 1 to 480" "${b[@]}" --tokens-bundled 481
check 2 "--root-threads: '-1' is not a thread count" "${b[@]}" --root-threads -1
check 2 "--modes: 'wifi' is not loopback or netns" "${b[@]}" --modes "loopback wifi"
check 2 "--more-losses: '1.5' is not a loss between 0 and 1" "${b[@]}" --more-losses "0.01 1.5"
check 2 "--bin: $tmp/none: not an executable file" --bin "$tmp/none"
check 2 "--dllama: $tmp/none: not an executable file" "${b[@]}" --dllama "$tmp/none"
check 2 "--big: $tmp/none.bin: cannot read it" "${b[@]}" --big "$tmp/none.bin" "$tmp/t.bin"
check 2 "--big: $tmp/m.pred: cannot read it (the halo preset's predictor" \
    "${b[@]}" --big "$tmp/m.bin" "$tmp/t.bin"
check 2 "--quant: $tmp/none.t: cannot read it" \
    "${b[@]}" --quant "$tmp/q.gguf" "$tmp/t.bin" "$tmp/q.m" "$tmp/none.t"
[ "$fail" = 0 ] && echo "ok: bench-sockets-defaults.sh refuses bad inputs"
exit $fail
