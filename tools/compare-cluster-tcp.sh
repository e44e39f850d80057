#!/usr/bin/env bash
# TCP recovery per token, the kernel against the simulator, on the ground-truth cells measured
# with the kernel's counters (tools/ground-truth.sh --tcp-stats) that have a mirror beside them.
#
# usage: tools/compare-cluster-tcp.sh [--tcp KEY=VALUE ...] [--build DIR] GT_DIR ...
#   GT_DIR   a ground-truth folder with tcp.csv, tcp/*.nstat.*.txt (each node namespace's
#            counters over the lossy part of each run) and mirror-SYSTEM-MODEL-NODES-LOSS.yaml
#            (the simulated cell: `halo sim --json`, its own runs and tokens)
#   --tcp    a TCP setting added to every mirror's engine (engine.tcp.KEY, as a scenario's);
#            repeatable
#   --build  halo's build tree (default build/dev)
# Prints one markdown row per mirrored lossy cell: ms/token and, per token, retransmission
# timeouts, loss probes and D-SACKs received (needless retransmissions), kernel then simulated;
# the kernel's recoveries undone by a D-SACK per token besides. Kernel: counters summed over the
# nodes and runs, over the tokens made while the loss was armed (tcp.csv's lossy_tokens);
# ms/token from ground-truth.csv. Simulated: summed over the mirror's runs and measured tokens.
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$repo/build/dev
tcp_keys=""
dirs=()
while [ $# -gt 0 ]; do
    case "$1" in
    --tcp) tcp_key_add "${2:?--tcp needs KEY=VALUE}"; shift ;;
    --build) build=${2:?--build needs a directory}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) log "unknown option $1 (--help)"; exit 2 ;;
    *) dirs+=("$1") ;;
    esac
    shift
done
[ ${#dirs[@]} -gt 0 ] || { log "usage: tools/compare-cluster-tcp.sh [--tcp KEY=VALUE ...] [--build DIR] GT_DIR ... (--help)"; exit 2; }
halo=$build/app/halo
[ -x "$halo" ] || { log "no halo binary at $halo (make build)"; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "| cell | ms/token kernel | simulated | timeouts kernel | simulated | probes kernel | simulated | D-SACKs kernel | simulated | undone by D-SACK, kernel |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for d in "${dirs[@]}"; do
    for f in "$d/tcp.csv" "$d/ground-truth.csv"; do need_file GT_DIR "$f" "a ground-truth folder measured with --tcp-stats"; done
    found=0
    for m in "$d"/mirror-*.yaml; do
        [ -f "$m" ] || continue
        found=1
        cell=$(basename "$m" .yaml)
        cell=${cell#mirror-}
        # SYSTEM-MODEL-NODES-LOSS; the system may hold dashes (dllama-q40)
        loss=${cell##*-}
        rest=${cell%-*}
        nodes=${rest##*-}
        rest=${rest%-*}
        model=${rest##*-}
        sys=${rest%-*}
        kernel=$(awk -F, -v s="$sys" -v m="$model" -v l="$loss" -v n="$nodes" '
            NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
            $c["system"] == s && $c["model"] == m && $c["loss"] == l && $c["nodes"] == n {
                t += $c["lossy_tokens"]; to += $c["timeouts"]; p += $c["probes"]; runs = runs " " $c["run"] }
            END { if (t) printf "%s %s %s%s", t, to, p, runs }' "$d/tcp.csv")
        [ -n "$kernel" ] || { log "$m: no row of $sys $model $nodes nodes $loss in $d/tcp.csv"; exit 1; }
        read -r tok to pr runs <<<"$kernel"
        ds=0
        un=0
        for r in $runs; do
            set -- "$d/tcp/$sys-$model-$loss-$nodes-$r".nstat.*.txt
            [ -f "$1" ] || { log "$d/tcp: no counters of $sys-$model-$loss-$nodes-$r"; exit 1; }
            read -r a b < <(cat "$@" | awk '$1 == "TcpExtTCPDSACKRecv" { s += $2 } $1 == "TcpExtTCPDSACKUndo" { u += $2 }
                END { print s + 0, u + 0 }')
            ds=$((ds + a))
            un=$((un + b))
        done
        ms=$(awk -F, -v s="$sys" -v m="$model" -v l="$loss" -v n="$nodes" '
            NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
            $c["system"] == s && $c["model"] == m && $c["loss"] == l && $c["nodes"] == n { print $c["ms_mean"] }' "$d/ground-truth.csv")
        sed "s/^engine: {\(.*\)}$/engine: {\1${tcp_keys:+, tcp: {$tcp_keys\}}}/" "$m" >"$tmp/cell.yaml"
        "$halo" sim --json "$tmp/cell.yaml" >"$tmp/out.json" 2>"$tmp/err" ||
            { log "$m: halo sim failed: $(head -n 1 "$tmp/err")"; exit 1; }
        awk -v cell="$sys $model $nodes nodes $(awk -v l="$loss" 'BEGIN { printf "%g%%", 100 * l }')" \
            -v ms="$ms" -v tok="$tok" -v to="$to" -v pr="$pr" -v ds="$ds" -v un="$un" '
            function sum(key,   s, v) { s = 0; t = $0
                while (match(t, "\"" key "\": [0-9.e+-]+")) { v = substr(t, RSTART, RLENGTH); sub(/.*: /, "", v); s += v; t = substr(t, RSTART + RLENGTH) }
                return s }
            { n = sum("tokens"); mean = 0; t = $0
              while (match(t, /"mean_ms": [0-9.e+-]+/)) { v = substr(t, RSTART, RLENGTH); sub(/.*: /, "", v); mean += v; k++; t = substr(t, RSTART + RLENGTH) }
              printf "| %s | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", cell, ms, mean / k,
                  to / tok, sum("timeouts") / n, pr / tok, sum("probes") / n, ds / tok, sum("dsacks") / n, un / tok }' "$tmp/out.json"
    done
    [ "$found" = 1 ] || { log "$d: no mirror-*.yaml beside the counters"; exit 1; }
done
echo
echo "(kernel: per token made while the loss was armed, summed over the nodes and runs; simulated: the mirror's runs${tcp_keys:+, with engine.tcp {$tcp_keys\}})"
