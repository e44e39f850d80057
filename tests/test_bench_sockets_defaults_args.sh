#!/usr/bin/env bash
# tools/bench-sockets-defaults.sh's inputs, checked before it starts a worker or makes a
# namespace: bad counts and modes, a missing halo or distributed-llama binary, unreadable
# model files, a model without the predictor the halo preset reads beside it, and unknown
# arguments end with status 2 and a message naming them; --help prints the usage.
# usage: test_bench_sockets_defaults_args.sh SOURCE_DIR
set -u
src=$1
# shellcheck source=tests/lib.sh
. "$src/tests/lib.sh"
scratch_dir bsd-args
tool=$src/tools/bench-sockets-defaults.sh
printf '#!/bin/sh\nexit 1\n' >"$tmp/fake"
chmod +x "$tmp/fake"
for f in m.bin t.bin q.gguf q.pred q.m; do : >"$tmp/$f"; done
b=(--bin "$tmp/fake")
expect_script 0 "Issue 15's acceptance ratios" "$tool" --help
expect_script 2 "unknown argument --bogus" "$tool" "${b[@]}" --bogus
expect_script 2 "--rounds: 'x' is not a round count" "$tool" "${b[@]}" --rounds x
expect_script 2 "--tokens: '0' is not a positive token count" "$tool" "${b[@]}" --tokens 0
expect_script 2 "--tokens-bundled: '481' is not a token count from 1 to 480" \
    "$tool" "${b[@]}" --tokens-bundled 481
expect_script 2 "--root-threads: '-1' is not a thread count" "$tool" "${b[@]}" --root-threads -1
expect_script 2 "--busy: '65' is not a count of busy loops from 0 to 64" \
    "$tool" "${b[@]}" --busy 65
expect_script 2 "--modes: 'wifi' is not loopback or netns" "$tool" "${b[@]}" --modes "loopback wifi"
expect_script 2 "--more-losses: '1.5' is not a loss between 0 and 1" \
    "$tool" "${b[@]}" --more-losses "0.01 1.5"
expect_script 2 "--bin: $tmp/none: not an executable file" "$tool" --bin "$tmp/none"
expect_script 2 "--dllama: $tmp/none: not an executable file" "$tool" "${b[@]}" --dllama "$tmp/none"
expect_script 2 "--big: $tmp/none.bin: cannot read it" \
    "$tool" "${b[@]}" --big "$tmp/none.bin" "$tmp/t.bin"
expect_script 2 "--big: $tmp/m.pred: cannot read it (the halo preset's predictor" \
    "$tool" "${b[@]}" --big "$tmp/m.bin" "$tmp/t.bin"
expect_script 2 "--quant: $tmp/none.t: cannot read it" \
    "$tool" "${b[@]}" --quant "$tmp/q.gguf" "$tmp/t.bin" "$tmp/q.m" "$tmp/none.t"
finish
