#!/usr/bin/env bash
# Simulated TCP engines against kernel TCP, per message size and loss rate (docs/ns3.md).
# For every (size, loss) row of a kernel summary (size,loss,n,mean_ms,p50_ms,p90_ms,p99_ms,
# over100, as tools/measure-kernel-tcp.sh writes it, with or without a header line), runs the
# same request/response exchange on each engine (halo_sim_pingpong --engine E: RUNS runs of
# the kernel's count each, seed 1, runs 0..RUNS-1, pooled) and prints one markdown table:
# mean, p90 and the fraction of exchanges over 100 ms, the kernel's value first, then each
# engine's with its error against the kernel in percent.
# With the kernel's 95% intervals (the summary's columns 9-11, mean_hw_ms, p90_lo_ms and
# p90_hi_ms, as tools/tcp-summary.awk writes them, or --raw), each engine's mean and p90 get
# a verdict: within (the kernel's interval is within +-25% of its value and the engine is
# within 25% of it), outside (the engine is more than 25% from every value of the kernel's
# interval, or the interval is within +-25% and the engine is not) or undecided (a kernel
# value too noisy to judge 25% at; more exchanges would decide it), and a count per engine.
#
# usage: tools/compare-kernel-tcp.sh [--engines "ns3 sim"] [--runs R] [--raw KERNEL_RAW.csv]
#            [--counters KERNEL_COUNTERS.csv] [--tcp KEY=VALUE ...] [--args "ARGS"] [--quick]
#            [KERNEL_SUMMARY.csv [BUILD_DIR]]
#   --engines  engines, one column group each, in order (default "ns3"; "sim" is the in-tree
#              engine, "ns3" needs a build with ns-3)
#   --runs     runs per cell and engine (default 10; the kernel has one run of n exchanges)
#   --raw      the kernel's raw samples (size,loss,seq,rtt_ns): adds the 95% confidence
#              half-width of the kernel's mean (1.96 s / sqrt(n)), its sampling noise
#   --counters the kernel's counters per cell (tools/measure-kernel-tcp.sh's .counters.csv):
#              adds a second table, packets dropped, segments retransmitted, RTOs and tail
#              loss probes per run of the kernel and of each engine (mean over its runs)
#   --tcp      passed to every engine (shared TCP settings, as in a scenario's engine.tcp)
#   --args     more arguments for halo_sim_pingpong (e.g. "--ns3-rack-stand-in 0")
#   --quick    2 runs of 200 exchanges per cell (a smoke test of the script)
# default summary: sim/validation/kernel-tcp-2026-12-06-summary.csv (sizes 256 to 65536 B,
# loss 0/1/2/5%, 2000-6000 exchanges per cell with their 95% intervals, this machine's kernel,
# docs/kernel-tcp.md).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
engines="ns3"
runs=10
raw=""
counters=""
quick=0
tcp=()
args=""
while [ $# -gt 0 ]; do
    case "$1" in
    --engines) engines=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --raw) raw=$2; shift 2 ;;
    --counters) counters=$2; shift 2 ;;
    --tcp) tcp+=(--tcp "$2"); shift 2 ;;
    --args) args=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    -*) echo "compare-kernel-tcp: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
kernel=${1:-$here/sim/validation/kernel-tcp-2026-12-06-summary.csv}
build=${2:-$here/build/dev}
pp=$build/tools/halo_sim_pingpong
summ=$here/tools/tcp-summary.awk
[ -x "$pp" ] || { echo "compare-kernel-tcp: no $pp (build first)" >&2; exit 2; }
[ -r "$kernel" ] || { echo "compare-kernel-tcp: cannot read $kernel" >&2; exit 2; }
for f in "$raw" "$counters"; do
    [ -z "$f" ] || [ -r "$f" ] || { echo "compare-kernel-tcp: cannot read $f" >&2; exit 2; }
done
[ $quick -eq 1 ] && runs=2
unset NS_LOG NS_GLOBAL_VALUE
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

name() { case "$1" in sim) echo "in-tree" ;; ns3) echo "ns-3" ;; *) echo "$1" ;; esac; }

# The kernel's rows (header dropped), and its 95% intervals (size,loss,mean_hw,p90_lo,p90_hi):
# from the raw samples, else from the summary's own columns 9-11 when it has them.
awk -F, '$1 != "size"' "$kernel" >"$tmp/kernel"
if [ -n "$raw" ]; then
    awk -f "$summ" "$raw" | awk -F, -v OFS=, '{ print $1, $2, $9, $10, $11 }' >"$tmp/ci"
else
    awk -F, -v OFS=, 'NF >= 11 { print $1, $2, $9, $10, $11 }' "$tmp/kernel" >"$tmp/ci"
fi

# Each engine's summary of every cell: RUNS runs pooled.
# Counters (--stats): one "# stats size S loss P: packets .. lost .. retransmits .. timeouts ..
# probes .." line per run on stderr.
for e in $engines; do
    : >"$tmp/$e.csv"
    : >"$tmp/$e.stats"
    while IFS=, read -r size loss n _; do
        [ $quick -eq 1 ] && n=200
        for ((r = 0; r < runs; r++)); do
            "$pp" --engine "$e" --size "$size" --loss "$loss" --count "$n" --seed 1 --run "$r" \
                --stats ${tcp[@]+"${tcp[@]}"} $args 2>>"$tmp/$e.stats"
        done | awk -f "$summ" >>"$tmp/$e.csv"
    done <"$tmp/kernel"
done

# header KERNEL_COLUMN ENGINE_COLUMN...: a table's header row and separator: size, loss, then
# per pair the kernel's column and each engine's (named).
header() {
    local hdr="| size B | loss |" sep="|---|---|" e
    while [ $# -ge 2 ]; do
        hdr="$hdr kernel $1 |"
        sep="$sep---|"
        for e in $engines; do hdr="$hdr $(name "$e") $2 |"; sep="$sep---|"; done
        shift 2
    done
    echo "$hdr"
    echo "$sep"
}

# The table: kernel, then each engine with its error, for mean, p90 and >100 ms.
header "mean ms" "mean ms (error)" "p90 ms" "p90 ms (error)" ">100 ms" ">100 ms"
files=()
for e in $engines; do files+=("$tmp/$e.csv"); done
awk -F, -v ne="$(echo $engines | wc -w)" -v names="$(for e in $engines; do name "$e"; done | paste -sd,)" '
    function err(m, k) { return k <= 0 ? "-" : m > 10 * k ? sprintf("x%.0f", m / k) : sprintf("%+.0f%%", 100 * (m - k) / k) }
    function ms(v) { return v < 1 ? sprintf("%.3f", v) : v < 100 ? sprintf("%.2f", v) : sprintf("%.1f", v) }
    # verdict of engine value e against kernel value k with interval [lo, hi] (none: no interval)
    function verdict(e, k, lo, hi) {
        if (lo == "") return ""
        if (e > 1.25 * hi || e < 0.75 * lo) return "outside"
        if (hi - k > 0.25 * k || k - lo > 0.25 * k) return "undecided"
        return e > 1.25 * k || e < 0.75 * k ? "outside" : "within"
    }
    function cell(e, k, lo, hi, metric, i,   v) {
        v = verdict(e, k, lo, hi)
        if (v != "") count[i, metric, v]++
        return sprintf(" %s (%s%s) |", ms(e), err(e, k), v == "" ? "" : v == "outside" ? "; **outside**" : "; " v)
    }
    FILENAME == ARGV[1] { ci[$1 "," $2] = $0; next }
    FILENAME == ARGV[2] { order[++nk] = $1 "," $2; kr[$1 "," $2] = $0; next }
    { for (i = 3; i <= ne + 2; i++) if (FILENAME == ARGV[i]) row[i - 2, $1 "," $2] = $0 }
    END {
        split(names, nm, ",")
        for (j = 1; j <= nk; j++) {
            key = order[j]; split(kr[key], k, ",")
            hw = lo = hi = ""
            if (key in ci) { split(ci[key], c, ","); hw = c[3]; lo = c[4]; hi = c[5] }
            line = sprintf("| %s | %s | %s%s |", k[1], k[2], ms(k[4]), hw != "" ? " ± " ms(hw) : "")
            for (i = 1; i <= ne; i++) { split(row[i, key], e, ","); line = line cell(e[4], k[4], hw != "" ? k[4] - hw : "", k[4] + hw, "mean", i) }
            line = line sprintf(" %s%s |", ms(k[6]), lo != "" ? " [" ms(lo) "-" ms(hi) "]" : "")
            for (i = 1; i <= ne; i++) { split(row[i, key], e, ","); line = line cell(e[6], k[6], lo, hi, "p90", i) }
            line = line sprintf(" %.1f%% |", 100 * k[8])
            for (i = 1; i <= ne; i++) { split(row[i, key], e, ","); line = line sprintf(" %.1f%% |", 100 * e[8]) }
            print line
        }
        for (i = 1; i <= ne; i++)
            for (m = 1; m <= 2; m++) {
                metric = m == 1 ? "mean" : "p90"
                t = count[i, metric, "within"] + count[i, metric, "outside"] + count[i, metric, "undecided"]
                if (t > 0)
                    summary = summary sprintf("%s%s %s: %d within, %d outside, %d undecided of %d", summary == "" ? "" : "; ", nm[i], metric,
                        count[i, metric, "within"], count[i, metric, "outside"], count[i, metric, "undecided"], t)
            }
        if (summary != "") print "\nVerdicts: " summary "."
    }' "$tmp/ci" "$tmp/kernel" "${files[@]}"
echo
note="kernel: $(basename "$kernel"), one run per cell; engines: $runs runs of the same count"
note="$note per cell, seed 1${tcp[*]+, ${tcp[*]}}${args:+, $args}; error = (engine - kernel) / kernel, xN above +999%"
[ ! -s "$tmp/ci" ] || note="$note; ± = 95% half-width of the kernel mean, [lo-hi] = 95% interval of its p90 (sampling noise)"
echo "($note)"

[ -n "$counters" ] || exit 0
echo
header "drops / retrans / RTO / TLP" "drops / retrans / RTO / TLP"
sfiles=()
for e in $engines; do sfiles+=("$tmp/$e.stats"); done
awk -v ne="$(echo $engines | wc -w)" '
    FILENAME == ARGV[1] { split($0, c, ","); if (c[1] == "size") next
        kc[c[1] "," c[2]] = sprintf("%d / %d / %d / %d", c[4] + c[6], c[8], c[9], c[10]); next }
    FILENAME == ARGV[2] { split($0, c, ","); order[++nk] = c[1] "," c[2]; next }
    /^# stats/ { for (i = 3; i <= ne + 2; i++) if (FILENAME == ARGV[i]) {
        key = $4 "," $6; sub(/:$/, "", key); n[i - 2, key]++
        lost[i - 2, key] += $10; re[i - 2, key] += $12; to[i - 2, key] += $14; pr[i - 2, key] += $16 } }
    END {
        for (j = 1; j <= nk; j++) {
            key = order[j]; split(key, k, ",")
            line = sprintf("| %s | %s | %s |", k[1], k[2], key in kc ? kc[key] : "-")
            for (i = 1; i <= ne; i++) { m = n[i, key] > 0 ? n[i, key] : 1
                line = line sprintf(" %.0f / %.0f / %.0f / %.0f |", lost[i, key] / m, re[i, key] / m,
                                    to[i, key] / m, pr[i, key] / m) }
            print line
        }
    }' "$counters" "$tmp/kernel" "${sfiles[@]}"
echo
echo "(per run of the kernel count plus 20 warm-up exchanges; kernel: both namespaces, RTO ="
echo "TcpExtTCPTimeouts, TLP = TcpExtTCPLossProbes; engines: mean over their runs, RTO = entries"
echo "into the loss state (ns-3) or retransmission timeouts (in-tree))"
