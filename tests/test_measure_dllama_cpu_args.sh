#!/usr/bin/env bash
# tools/measure-dllama-cpu.sh's inputs, checked before it makes a namespace or starts a
# process: bad counts, a missing or unusable binary, unreadable model files and unknown
# arguments end with status 2 and a message naming them; --help prints the usage.
# usage: test_measure_dllama_cpu_args.sh SOURCE_DIR
set -u
src=$1
# shellcheck source=tests/lib.sh
. "$src/tests/lib.sh"
scratch_dir mdc-args
tool=$src/tools/measure-dllama-cpu.sh
: >"$tmp/fake"
chmod +x "$tmp/fake"
: >"$tmp/m"
expect_script 0 "CPU per token of a distributed-llama cluster" "$tool" --help
expect_script 2 "unknown argument --bogus" "$tool" --bogus
expect_script 2 "--rounds: 'x' is not a round count from 1 to 100" "$tool" --rounds x
expect_script 2 "--rounds: '0' is not a round count from 1 to 100" "$tool" --rounds 0
expect_script 2 "--tokens: '-3' is not a positive token count" "$tool" --tokens -3
expect_script 2 "--short: '0' is not a positive step count" "$tool" --short 0
expect_script 2 "--buffer: 'q40' is not f32 or q80" "$tool" --buffer q40
expect_script 2 "--dllama BIN is required" "$tool" --rounds 2
expect_script 2 "$tmp/none: not an executable file" "$tool" --dllama "$tmp/none"
expect_script 2 "$tmp/none.t: cannot read it" "$tool" --dllama "$tmp/fake" --model "$tmp/m" "$tmp/none.t"
finish
