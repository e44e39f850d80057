#!/usr/bin/env bash
# tools/measure-read-delays.sh's inputs, checked before perf or the harness starts: a missing
# --out or harness options, the options it adds itself given again, an --out that holds
# files, and unknown arguments end with status 2 and a message naming them; --help prints the
# usage.
# usage: test_measure_read_delays_args.sh SOURCE_DIR
set -u
src=$1
# shellcheck source=tests/lib.sh
. "$src/tests/lib.sh"
scratch_dir mrd-args
tool=$src/tools/measure-read-delays.sh
mkdir -p "$tmp/full"
: >"$tmp/full/x"
: >"$tmp/file"
expect_script 0 "How long TCP data waits for the receiving application's read" "$tool" --help
expect_script 2 "unknown argument --bogus" "$tool" --bogus
expect_script 2 "--out DIR is required" "$tool" -- --nodes 4
expect_script 2 "no harness options after --" "$tool" --out "$tmp/new"
expect_script 2 "--tcp-stats: given by this script" "$tool" --out "$tmp/new" -- --tcp-stats
expect_script 2 "--out: given by this script" "$tool" --out "$tmp/new" -- --out "$tmp/o"
expect_script 2 "--out: $tmp/full exists and is not an empty folder" "$tool" --out "$tmp/full" -- --nodes 4
expect_script 2 "--out: $tmp/file exists and is not an empty folder" "$tool" --out "$tmp/file" -- --nodes 4
[ ! -e "$tmp/new" ] || { echo "FAIL: $tmp/new was made by a refused call" >&2; exit 1; }
finish
