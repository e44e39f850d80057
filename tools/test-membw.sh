#!/usr/bin/env bash
# halo_membw: a short probe prints two positive bandwidths (one core alone, each of two at
# once), with small and with huge pages; every bad argument exits 2 and names itself.
# usage: test-membw.sh HALO_MEMBW
set -uo pipefail
membw=$1
fail=0
for pages in "" "--pages small" "--pages huge"; do
    # shellcheck disable=SC2086 # $pages: no option or an option and its value
    out=$("$membw" --mb 8 --passes 1 --rounds 3 $pages) || { echo "a short probe ($pages) failed" >&2; fail=1; }
    echo "$out" | awk 'NF != 2 || !($1 > 0) || !($2 > 0) { bad = 1 } END { exit bad || NR != 1 }' ||
        { echo "$pages: wanted one line of two positive numbers, got '$out'" >&2; fail=1; }
done
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
expect "--pages: 'big' is not small or huge" --pages big
expect "--pages: needs a value" --pages
"$membw" --help | grep -q "^usage: halo_membw" || { echo "--help: no usage line" >&2; fail=1; }
exit $fail
