# tests/lib.sh: what the shell tests share (sourced by test_cli.sh, test_inputs.sh,
# test_net.sh, test_net_mesh.sh, test_net_sched.sh, test_plot.sh, test_research.sh,
# test_results.sh, test_trace.sh and the tools' argument tests): sanitizer settings for the
# halo binary, TAP-style results (ok, not_ok, check, show, finish), running halo under
# expect_ok / expect_fail and the tools' scripts under expect_script, the scripts' preamble
# (halo_script, scenario_script), the case dispatch (run_cases) and the worker processes of
# the socket tests (start_worker, start_workers, stop_workers, end_workers, wait_exit,
# stop_started). Not a test by itself.
#
# The sourcing script calls halo_script or scenario_script (or sets halo_bin, the binary, and
# calls scratch_dir) before anything writes to $tmp, and optionally sets run_prefix (an
# emulator and its arguments, word-split; empty: none).

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

# show FILE [N]: the first N (default 20) lines of FILE, indented, under a failed check.
show() {
    sed 's/^/    /' "$1" | head -n "${2:-20}"
}

# verdict STATUS OK_TEXT NOT_OK_TEXT [FILE]: ok OK_TEXT when STATUS (of a check, passed as
# `verdict $? ...` right after it: $? expands before the texts' command substitutions) is 0,
# else not_ok NOT_OK_TEXT followed by show FILE (default $tmp/err.txt).
verdict() {
    if [ "$1" -eq 0 ]; then
        ok "$2"
    else
        not_ok "$3"
        show "${4:-$tmp/err.txt}"
    fi
}

# expect_script STATUS TEXT SCRIPT ARGS...: `bash SCRIPT ARGS...` exits STATUS and prints TEXT
# (on stdout or stderr): the input checks of the tools' scripts, which must refuse bad
# arguments before they start anything.
expect_script() {
    local want=$1 text=$2 script=$3 rc=0
    shift 3
    bash "$script" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
    if [ "$rc" = "$want" ] && grep -qF -- "$text" "$tmp/out" "$tmp/err"; then
        ok "${script##*/} $* -> exit $rc"
    else
        not_ok "${script##*/} $* -> exit $rc (expected $want and '$text')"
        show "$tmp/out"
        show "$tmp/err"
    fi
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
        show "$tmp/err"
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
        show "$tmp/err"
    fi
}

# halo_script NAME HALO_BINARY SOURCE_DIR [CASE]: the preamble of the scripts run with the
# halo binary and the source tree: halo_bin, src (made absolute), only (CASE; empty: every
# case); halo finds the bundled models in the source tree; $tmp is a fresh scratch directory
# named after NAME.
halo_script() {
    halo_bin=$2
    src=$(cd "$3" && pwd)
    only=${4:-}
    export HALO_MODEL_DIR=$src/models
    scratch_dir "$1"
}

# scenario_script NAME HALO_BINARY SOURCE_DIR [CASE]: halo_script for the scripts that run
# the bundled scenarios, and sc (scenarios/); halo also finds scenarios and plot queries in
# the source tree.
scenario_script() {
    halo_script "$@"
    sc=$src/scenarios
    export HALO_SCENARIO_DIR=$src/scenarios HALO_PLOT_DIR=$src/plots
}

# run_cases CASE...: runs case_CASE for each CASE in order, or only case_$only when the
# script was given one; a name that is no case fails (exit 2) before anything runs.
run_cases() {
    if [ -n "${only:-}" ]; then
        if ! declare -F "case_$only" >/dev/null; then
            echo "unknown case '$only' (cases: $*)" >&2
            exit 2
        fi
        set -- "$only"
    fi
    local c
    for c in "$@"; do
        echo "# $c"
        "case_$c"
    done
}

# Worker processes of a socket test (test_net.sh, test_net_mesh.sh, test_net_sched.sh),
# which sets halo_bin, calls scratch_dir, writes a cluster key to $tmp/k.key and keeps the
# pids of what else it starts in the array pids.

# start_worker NAME TRANSPORT ADDR [extra args]: starts a worker (inside the network
# namespace $NETNS when set, under the command prefix $PRE, word-split, when set), waits (at
# most 10 s) for it to listen; prints its address (IPv4 or bracketed IPv6).
start_worker() {
    local name=$1 transport=$2 addr=$3
    shift 3
    local pre=()
    [ -n "${NETNS:-}" ] && pre=(ip netns exec "$NETNS")
    [ -n "${PRE:-}" ] && read -ra pre <<<"$PRE"
    "${pre[@]}" "$halo_bin" worker --listen "$addr" --key "$tmp/k.key" --transport "$transport" \
        "$@" >"$tmp/$name.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    echo "$pid" >"$tmp/$name.pid"
    for _ in $(seq 100); do
        local a
        a=$(sed -n 's/.*listening on \([^ ]*:[0-9]*\) .*/\1/p' "$tmp/$name.log" 2>/dev/null)
        if [ -n "$a" ]; then
            echo "$a"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "worker $name did not start:" >&2
    cat "$tmp/$name.log" >&2
    return 1
}

# start_workers PREFIX TRANSPORT ADDR [extra args]: starts workers PREFIX-1, -2 and -3
# (start_worker) and puts their addresses in the caller's array addrs; fails when one does
# not start.
start_workers() {
    local prefix=$1 transport=$2 addr=$3 i a
    shift 3
    addrs=()
    for i in 1 2 3; do
        a=$(start_worker "$prefix-$i" "$transport" "$addr" "$@") || return 1
        addrs+=("$a")
    done
}

# stop_workers NAME...: TERM to the workers started under these names.
stop_workers() {
    local n
    for n in "$@"; do
        kill "$(cat "$tmp/$n.pid")" 2>/dev/null
    done
}

# end_workers NAME...: TERM to the workers started under these names, then waits (at most
# 10 s each) for each to end, so that their logs are complete.
end_workers() {
    local n
    stop_workers "$@"
    for n in "$@"; do
        wait_exit "$(cat "$tmp/$n.pid")"
    done
}

# wait_exit PID: waits (at most 10 s) for a process to end.
wait_exit() {
    for _ in $(seq 200); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.05
    done
    return 1
}

# stop_started: TERM to every process in the array pids and every one named by a $tmp/*.pid
# file (workers started inside $(...) are known by their pid files only), so that `timeout`
# passes it on to the root it runs; 0.2 s later KILL to whatever is left. For an EXIT trap.
stop_started() {
    local all=("${pids[@]}" $(cat "$tmp"/*.pid 2>/dev/null))
    for p in "${all[@]}"; do
        kill "$p" 2>/dev/null
    done
    sleep 0.2
    for p in "${all[@]}"; do
        kill -9 "$p" 2>/dev/null
    done
    wait 2>/dev/null
}
