#!/usr/bin/env bash
# How long TCP data waits for the receiving application's read in a real cluster, and so how
# late the ACKs that wait for the read are (issue 13: the 4-node cells' late ACKs; the
# simulator's counterpart is `halo sim --json`'s read_wait_ms). Runs tools/ground-truth.sh for
# one cell under `perf record -a` of the kernel's tcp:tcp_probe, sock:sock_recv_length and
# tcp:tcp_retransmit_skb tracepoints (with --sched also sched:sched_switch and
# sched:sched_wakeup), then reads the trace over the run's captured decode window (the
# harness's --tcp-stats captures: from the first token on) with tools/tcp-read-delays.awk.
# A benchmark, not a test; perf itself slows the run (docs/kernel-tcp.md, "ACKs that wait for
# the read").
#
#   sudo tools/measure-read-delays.sh [--sched] [--keep-perf] --out DIR -- HARNESS_OPTIONS...
#
# HARNESS_OPTIONS name one cell and one run, e.g. --models T --systems dllama --nodes 4
#                --losses 0.02 --repeats 1 --target-se 0 --tokens-t 16 --mem-share 0;
#                --tcp-stats and --out are added
# --out DIR      a new or empty folder: gt/ (the harness's folder), window.txt (the decode
#                window in the capture's clock and in perf's), read-delays.txt (the awk's
#                output)
# --sched        also the scheduler's switches and wake-ups: what each reader was doing when
#                its data arrived (a larger trace)
# --keep-perf    keep DIR/perf.data (hundreds of MB: distributed-llama streams its weights
#                at every start); removed otherwise
#
# Needs root, perf and what tools/ground-truth.sh needs.
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

out=""
sched=0
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --out) out=${2:?--out needs a folder}; shift ;;
    --sched) sched=1 ;;
    --keep-perf) keep=1 ;;
    --) shift; break ;;
    *) other_arg "$1" ;;
    esac
    shift
done
[ -n "$out" ] || { log "--out DIR is required"; exit 2; }
[ $# -gt 0 ] || { log "no harness options after -- (one cell, one run of tools/ground-truth.sh)"; exit 2; }
for a in "$@"; do
    case "$a" in
    --out | --tcp-stats) log "$a: given by this script, not among the harness options"; exit 2 ;;
    esac
done
if [ -e "$out" ] && { [ ! -d "$out" ] || [ -n "$(ls -A "$out")" ]; }; then
    log "--out: $out exists and is not an empty folder"
    exit 2
fi
[ "$(id -u)" = 0 ] || { log "needs root (network namespaces, perf's tracepoints)"; exit 2; }
command -v perf >/dev/null || { log "needs perf (apt-get install linux-perf)"; exit 2; }
command -v tcpdump >/dev/null || { log "needs tcpdump (apt-get install tcpdump)"; exit 2; }

mkdir -p "$out"
events=(-e tcp:tcp_probe -e sock:sock_recv_length -e tcp:tcp_retransmit_skb)
[ $sched = 0 ] || events+=(-e sched:sched_switch -e sched:sched_wakeup)
# perf's trace clock is the time since boot, as /proc/uptime counts it (to 10 ms)
read -r up _ </proc/uptime
offset=$(awk -v now="$EPOCHREALTIME" -v up="$up" 'BEGIN { printf "%.3f", now - up }')
perf record -a -q -o "$out/perf.data" "${events[@]}" >"$out/perf.log" 2>&1 &
perf_pid=$!
stop_perf() {
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
}
trap stop_perf EXIT
sleep 1
kill -0 "$perf_pid" 2>/dev/null || { log "perf record did not start: $(tail -n 3 "$out/perf.log")"; exit 1; }
log "perf record running; the harness: $*"
"$repo/tools/ground-truth.sh" "$@" --tcp-stats --out "$out/gt" >"$out/gt.md"
stop_perf
trap - EXIT

shopt -s nullglob
caps=("$out"/gt/tcp/*.pcap)
[ ${#caps[@]} -gt 0 ] || { log "the harness left no capture in $out/gt/tcp (was a cell run?)"; exit 1; }
runs=$(printf '%s\n' "${caps[@]}" | sed 's/\.p[0-9]*\.pcap$//' | sort -u | wc -l)
[ "$runs" = 1 ] || { log "$runs runs captured: give the harness one cell and one run"; exit 2; }
window=$(for f in "${caps[@]}"; do tcpdump -nn -tt -r "$f" 2>/dev/null | awk 'NR == 1 { print $1 } END { print $1 }'; done |
    sort -n | sed -n '1p; $p' | tr '\n' ' ')
read -r first last <<<"$window"
from=$(awk -v t="$first" -v o="$offset" 'BEGIN { printf "%.3f", t - o }')
to=$(awk -v t="$last" -v o="$offset" 'BEGIN { printf "%.3f", t - o }')
printf 'capture %s to %s (realtime); perf %s to %s (time since boot; offset %s)\n' \
    "$first" "$last" "$from" "$to" "$offset" >"$out/window.txt"
perf script -i "$out/perf.data" -F comm,pid,cpu,time,event,trace 2>/dev/null |
    awk -v from="$from" -v to="$to" -f "$repo/tools/tcp-read-delays.awk" >"$out/read-delays.txt.tmp"
mv "$out/read-delays.txt.tmp" "$out/read-delays.txt"
[ $keep = 1 ] || rm -f "$out/perf.data"
log "wrote $out/read-delays.txt"
cat "$out/read-delays.txt"
