#!/usr/bin/env bash
# halo_membw: a short probe prints two positive bandwidths (one core alone, each of two at
# once); every bad argument exits 2 and names itself.
# usage: test-membw.sh HALO_MEMBW
set -uo pipefail
membw=$1
fail=0
out=$("$membw" --mb 8 --passes 1 --rounds 3) || { echo "a short probe failed" >&2; fail=1; }
echo "$out" | awk 'NF != 2 || !($1 > 0) || !($2 > 0) { bad = 1 } END { exit bad || NR != 1 }' ||
    { echo "wanted one line of two positive numbers, got '$out'" >&2; fail=1; }
expect() { # PATTERN ARGS...: exit 2 and PATTERN on stderr
    local pattern=$1 rc=0 err
    shift
    err=$("$membw" "$@" 2>&1 >/dev/null) || rc=$?
    [ "$rc" = 2 ] && grep -qF -- "$pattern" <<<"$err" ||
        { echo "halo_membw $*: exit $rc, wanted 2 and '$pattern'; stderr: $err" >&2; fail=1; }
}
expect "--mb: '0' is not a whole number" --mb 0
expect "--mb: needs a value" --mb
expect "--passes: 'x' is not a whole number" --passes x
expect "--rounds: '101' is not a whole number in 1..100" --rounds 101
expect "--cores: '0,0' names one core twice" --cores 0,0
expect "--cores: '7' is not two cores A,B" --cores 7
expect "--cores: '$(nproc)' is not a whole number" --cores "0,$(nproc)"
expect "--bogus: unknown option" --bogus 1
"$membw" --help | grep -q "^usage: halo_membw" || { echo "--help: no usage line" >&2; fail=1; }
exit $fail
