# tests/lib.sh: what the shell tests share (sourced by test_cli.sh, test_results.sh and
# test_net.sh): sanitizer settings for the halo binary, TAP-style results (ok, not_ok, check,
# finish) and running halo under expect_ok / expect_fail. Not a test by itself.
#
# The sourcing script sets halo_bin (the binary), optionally run_prefix (an emulator and its
# arguments, word-split; empty: none), and calls scratch_dir before anything writes to $tmp.

export ASAN_OPTIONS=${ASAN_OPTIONS:-exitcode=99:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failures=0 count=0

# scratch_dir NAME: tmp becomes a fresh directory, removed at exit (a script with more to
# clean up sets its own EXIT trap afterwards, and removes $tmp there).
scratch_dir() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/halo-$1-XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
}

ok() {
    count=$((count + 1))
    echo "ok $count - $*"
}

not_ok() {
    count=$((count + 1))
    failures=$((failures + 1))
    echo "not ok $count - $*"
}

check() { # check DESCRIPTION COMMAND...: the command succeeds
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# The totals; the status is 0 when nothing failed (call it last).
finish() {
    echo "1..$count"
    echo "# $((count - failures)) passed, $failures failed"
    [ "$failures" -eq 0 ]
}

# shellcheck disable=SC2086 # run_prefix is a command line
halo() { ${run_prefix:-} "$halo_bin" "$@"; }

# expect_fail STATUS NEEDLE -- ARGS...: exit status STATUS, stderr naming NEEDLE, no crash,
# and the first line of stderr in halo's "halo: ..." form.
expect_fail() {
    local want=$1 needle=$2
    shift 3
    halo "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    local got=$? first
    first=$(head -n 1 "$tmp/err")
    if [ "$got" -ne "$want" ] || ! grep -qF -- "$needle" "$tmp/err" ||
        grep -qE 'Sanitizer|runtime error|Segmentation|Aborted' "$tmp/err" ||
        [ "${first#halo: }" = "$first" ]; then
        not_ok "halo $* (exit $got, want $want, needle '$needle')"
        sed 's/^/    /' "$tmp/err" | head -n 20
    else
        ok "halo $* -> $first"
    fi
}

# expect_ok ARGS...: halo succeeds; its output is in $tmp/out and $tmp/err.
expect_ok() {
    if halo "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; then
        ok "halo $*"
    else
        not_ok "halo $* (exit $?)"
        sed 's/^/    /' "$tmp/err" | head -n 20
    fi
}
