#!/usr/bin/env bash
# The simulator half of the ground truth (issue 13, item 1): for every cell that
# tools/ground-truth.sh measured, a mirrored scenario (same model, node count, engine, loss
# and host), fitted ONLY on the loss-free single-device cells, run in the simulator; the
# measured runs and the simulated ones go into one results database and `halo report
# fidelity` prints the per-cell errors (absolute time, cost of loss, p90).
#
#   tools/mirror-ground-truth.sh [options] GT_DIR > fidelity.md
#
# GT_DIR holds ground-truth.csv, runs.csv and samples.csv as tools/ground-truth.sh writes
# them (sim/validation/ground-truth-*/ keeps one run's). What is fitted, and on what:
#   per system family, three numbers of the device profile: op_overhead_us (the fixed cost of
#   each charged compute segment; it is most of a stories260K token) on the S single-device
#   cell and mem_bw_gbps (weight streaming; most of a TinyLlama token) on the T one,
#   alternately until both cells are matched to 0.1%. Families: halo (halo-strict, halo-udp:
#   the `halo` cells), dllama (the `dllama` cells) and dllama-q40 (dllama's overhead: S
#   cannot run Q40). gflops is set high (1000): single-thread f32 matrix-vector products here
#   are bound by memory and per-call costs, and the fit absorbs both. Q40's are bound by
#   arithmetic (dequantising): dllama-q40 keeps dllama's mem_bw_gbps (the same program's
#   streaming; Q4_0 is 18/32 of a byte per weight) and its T cell fits gflops instead (two
#   Q40 runs at once were x1.02-1.05 slower on 2026-12-06, f32 x1.07-1.26), unless that cell
#   is faster than its bytes at dllama's bandwidth (then mem_bw_gbps as before). With one
#   model only, the other number keeps a default (said on stderr). The distributed-llama
#   families' compute_cv (T cells only) is fitted on the spread of their single-device T
#   tokens within a run (each run's sd over its mean, the mean over the runs): devices that
#   compute in exact step stay two and two on the cores under --core-placement wake.
#   Where op_overhead_us cannot reach the S cell even at its floor (the model's bytes at
#   mem_bw_gbps alone take longer than the cell: its 1.04 MB of weights sit in a cache), the
#   S cell fits cache_bw_gbps instead, with cache_mb the machine's largest cache (sysfs,
#   cpu0; --cache-mb): every model that fits it is read at that rate (docs/simulator.md).
#   Third, the host cost of one message, send_us = recv_us, on the loss-free S cell with 2
#   nodes of the family's strict system (halo-strict; dllama, whose value dllama-q40 shares):
#   the wake-ups, system calls and copies of a message on this machine, which no
#   single-device cell can show. Without that cell it stays 5 us (the kernel ping-pong's
#   order, docs/kernel-tcp.md) and stderr says so.
#   Fourth (halo only), strided_bw_gbps: the bandwidth at which halo's nodes read their
#   column slices of Wo and W2 in place (one short run per matrix row; a device holding every
#   column reads whole rows), on the loss-free T cells of halo-strict with 2 and 4 nodes (the
#   geometric mean of the two simulated/measured ratios brought to 1; one cell if only one
#   was measured). Without such a cell it is left out (every byte at mem_bw_gbps).
#   Fifth (halo only), compute_cv: the variation of each compute segment's time (log-normal,
#   seeded), on halo-udp's loss-free T cell: on the root's mean first deadline there (the
#   harness's deadline_ms column, recorded since 2026-12-05: srtt + 4 rttvar of the
#   contributions' delays, which is what a lost contribution costs), or, for tables without
#   that column or with --cv-on missing, on the share of contributions it missed (the
#   adaptive deadline gives up on a contribution only when a worker is later than its usual
#   spread; one percent of a few hundred contributions, so as uncertain as the cost it
#   predicts),
#   with --cv-per-nodes one value per node count measured, used for the T cells of that node
#   count: the spread grows with the processes sharing the host's cores (0.085 on 2 nodes,
#   0.325 on 4 in the run of 2026-12-04 21:55), and one width for all made every deadline on
#   2 nodes too long; node counts without such a cell, and S, take the largest node count's
#   value. Without it, one value on the cell with the most nodes. Without any such cell, or
#   when it missed none, it stays 0. The two are fitted in turn, twice. distributed-llama's families have neither (its slices are packed;
#   no relaxed system shows a spread).
# What is not fitted (taken from elsewhere, the same for every cell):
#   copy_ns_per_kb = 1000 and the veth link (10 Gbit/s, 1 us per hop);
#   the host: all N processes share one machine of `cores` (default 2, --cores) cores;
#   host_overlap = 0.45 (--host-overlap): the share of a message's host cost (send_us,
#   recv_us, the copy) that is waiting (the wake-up of a blocked process), which takes no
#   core of the shared host; the rest is CPU work, which competes with the compute of the
#   other processes for the cores and is stretched by sharing. Measured, not fitted on a
#   time: tools/measure-dllama-cpu.sh gave distributed-llama's four processes on the bundled
#   model 1.358 ms of CPU per token (median of 3 rounds, 2026-12-05, at 0.88-0.91 ms/token);
#   its mirror (host_overlap 1) computes 0.059 ms of that and charges 252 message ends per
#   token at 8.98 us + the copy of ~323 bytes (0.32 us), 2.34 ms; (1.358 - 0.059) / 2.34 =
#   0.55 of the host cost is CPU (docs/ground-truth.md, "Host costs: CPU or waiting").
#   Before that measurement it was 1 (all waiting), which left the loss-free 4-node S cells
#   26-30% fast. Without host sharing (2 nodes, 2 cores) it changes nothing, so the host
#   cost's own fit is unaffected;
#   loss: the bridge drops each frame once with probability p, a simulated message crosses
#   two links (sender's uplink, receiver's downlink), so each link loses q = 1 - sqrt(1 - p);
#   TCP: the Linux defaults (rto_min 200 ms, quick ACKs, 4 ms ticks, HZ = 250 here);
#   the host's memory bandwidth (host_mem_bw_gbps), when GT_DIR has memshare.csv (the
#   harness's --mem-share: single-device T runs alone and two at once, no judged cell):
#   per family, 2 mem_bw_gbps / R with R the family's own system's two-at-once slowdown (the
#   median over the rounds of each round's ratio)
#   (halo's runs for the halo family), or, for a family without runs there, the host
#   bandwidth another family's gave (the machine's); without the file, none (each device
#   its own memory, as before 2026-12-06). Where GT_DIR has hostprobe.csv (the harness's
#   halo_membw just before and after every T run: one core reading memory alone, then two
#   at once), each multi-node T cell instead gets 2 mem_bw_gbps / R with R the slowdown two
#   at once its own runs met (alone / pair, the mean of the two probes of a run, the mean
#   over the cell's runs): on this shared virtual machine that slowdown comes and goes in
#   periods of seconds (1.0 to 1.7 on 2026-12-06), so one figure for the session cannot
#   describe every cell. A condition of the run measured beside it, like the drop rate, not
#   a fit on the cell's time. One core's speed alone drifts too (by 20% within a session
#   here): with --host-probe both every T cell's mem_bw_gbps is also the family's times A,
#   the cell's runs' alone figure over that of the family's single-device T cell (the cell
#   mem_bw_gbps is fitted on, whose A is 1 by definition); not the default, because on the
#   grid of 2026-12-06 13:14 it put 47 of 61 cells within 25% against 49 without it (the
#   probe's alone figure, 24-28 GB/s between cells, is noisier than the drift it follows).
# Engines mirrored: dllama and dllama-q40 = `baseline: dllama` with `collective: mesh`
# (distributed-llama's all-gather; q40: Q4_0 weights, Q8_0 messages); halo-strict =
# `baseline: dllama` with `collective: star` (the socket root gathers); halo-udp = the
# engine keys the harness recorded for the cell (its `engine` column). Both halo systems
# keep the socket cluster's heartbeat (`heartbeat_ms: 100`: the root pings every worker
# over the same connection; under TCP a ping that follows a lost segment makes the
# receiver SACK and the sender retransmit long before its 200 ms timeout), and its deadline
# rules (`slow_safe: true`, which a socket root always has: a device awaited until its delay
# has a sample, late answers as samples, repeated requests backing off, copies only after
# trouble; without them the mirror of HALO over UDP on T at 5% predicted 21.5 ms of cost of
# loss against 52.5 measured, with them 56.9: docs/ground-truth.md).
#
# Options:
#   --db FILE     results database (default GT_DIR/fidelity.db; the measured runs are
#                 imported into it, the mirrored scenarios swept into it)
#   --runs R      simulated runs per cell (seeds 1..R; default 40), and at least as many as
#                 the cell's measured runs (tools/ground-truth.sh --target-se runs more of its
#                 few-event cells): with 3, the simulated mean of a cell with a handful of
#                 retransmission timeouts per run moves as much as a measured one
#                 (distributed-llama S 2 nodes 2%: +43% with 3 runs, +10% with 10); with 10
#                 (the default until 2026-12-08) a lossy T cell still moved by several points
#                 from one variant of the model to the next (distributed-llama T 4 nodes 2%:
#                 +19.6% with 10 runs, +25.3% with 40, docs/kernel-tcp.md); the fits of
#                 strided_bw_gbps and compute_cv use R runs
#   --cores C     cores of the mirrored host (default 2)
#   --host-overlap F  the waiting share of a message's host cost, 0..1 (default 0.45, above)
#   --recv-jitter US  the mean of the receiver's varying wake-up (recv_jitter_us, exponential;
#                 default 0: a fixed wake-up); tools/fit-kernel-tcp.sh fits it on the kernel's
#                 loss-free ping-pong (5.71 us on 2026-12-06, docs/kernel-tcp.md)
#   --mem-share auto|off  the host's memory bandwidth from GT_DIR/memshare.csv (auto, the
#                 default: when the file is there) or not at all (off)
#   --host-probe pair|both|off  the host's state around the T cells from GT_DIR/hostprobe.csv,
#                 when the file is there: pair (the default) the slowdown two at once, both
#                 that and one core's speed alone, off neither (per family as above)
#   --packed-pages auto|off  halo's multi-node T cells whose runs have the probe's huge-page
#                 columns (hostprobe.csv since 2026-12-07): auto (the default) mirrors their
#                 nodes reading huge pages, as a socket cluster's nodes read their packed
#                 weight windows (core/winpack.h) while the single-device cell mem_bw_gbps is
#                 fitted on reads its file mapping in small pages: mem_bw_gbps times KA (the
#                 probe's huge-page alone figure over its small-page one, the same moments)
#                 and host_mem_bw_gbps = 2 mem_bw_gbps KP (huge pages two at once over small
#                 pages alone); off, or a table without those columns: as every other cell
#   --core-placement shared|wake  how the mirrored host's cores are given out
#                 (core_placement, docs/simulator.md): wake (the default since 2026-12-06
#                 20:30) each device on one core at a time, placed as Linux wakes a task;
#                 shared, an even share of the pool for every computing device (before)
#   --core-balance-ms MS  with wake: the host's balance tick (core_balance_ms,
#                 docs/simulator.md): at every multiple of MS a core that idles takes one of
#                 two or more devices on another core, as Linux's balancing does at its
#                 scheduler tick (CONFIG_HZ 250: 4 ms); 0 never (default: 0)
#   --tcp KEY=VALUE  a TCP setting of the mirrored engines (engine.tcp, scenarios/README.md:
#                 e.g. --tcp segment_gap_us=2 --tcp early_ack_kb=64, docs/kernel-tcp.md); given
#                 again for more keys; in the fits and the mirrors alike (default: none, the
#                 simulator's defaults). HALO over UDP carries them unused
#   --dllama-reads ORDER  how distributed-llama's nodes read their peers in its mirrors:
#                 rank (in rank order, blocking, as its all-gather does; a node waits on
#                 each peer whose partial sum it expects: engine.tcp.read_order, docs/kernel-tcp.md
#                 "ACKs that wait for the read" and "Reads that wait for an expected peer") or
#                 arrival (as the data comes, the simulator's default); halo's systems keep
#                 arrival (its socket root polls) (default: rank)
#   --cache-mb M  cache size for the cache fit (default: cpu0's largest cache in sysfs; 0:
#                 no cache model)
#   --build DIR   halo's build tree (default build/dev)
#   --tokens-s N, --tokens-t N  tokens of each simulated run on S and on T (default: what the
#                 harness ran, read from its "BOS; S: N tokens per run, T: M" line in GT_DIR's
#                 *.md files; 128 and 16, its defaults, when no such file is there, said on
#                 stderr; files that disagree are an error naming them)
#   --skip K      tokens left out of each simulated run's time statistics (workload.skip),
#                 as the harness leaves out a run's first token and its --warmup intervals
#                 (default: W + 1, W read from its "the first W intervals of each run dropped"
#                 line in GT_DIR's *.md files; 3 when no such file is there; files that
#                 disagree are an error naming them). Before 2026-12-05 the mirrors counted
#                 every token: the first ones of a lossy relaxed run (no delay sample yet,
#                 backing off under the socket root's rules) went into the simulated mean
#                 and not into the measured one
#   --fit-only    print the fitted profiles and stop
#   --steps N     bisection steps per fitted figure, 1-60 (default 30: the fitted figures to
#                 their printed six digits; fewer for a quick look, as the tests that check
#                 what follows from a fit rather than the fit itself take 5)
#   --cv-per-nodes  fit compute_cv per node count (above); without it, one value on the cell
#                 with the most nodes, for every cell (how runs before 2026-12-04 22:00 were
#                 mirrored: the 15:52 run's 2-node HALO over UDP cell missed 9% at 0% loss
#                 from the socket root's deadline bug, which a per-node fit would take for a
#                 spread of compute times, 3.3)
#   --cv-on deadline|missing  what compute_cv is fitted on (above; default deadline, the
#                 missing share where the table has no deadline_ms)
#   -h, --help    this text
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

db=""
runs=40
cores=2
build=$repo/build/dev
fit_only=0
steps=30
cv_per_nodes=0
cv_on=deadline
host_overlap=0.45
recv_jitter=0
mem_share=auto
host_probe=pair
packed=auto
hbw=""
core_placement=wake
core_balance=0
gf=1000 # gflops of the profile being fitted or mirrored (a family's own for dllama-q40, below)
# (0 where sysfs has no cache entries, as on some virtual machines: no cache fit then)
cache_mb=$(for f in /sys/devices/system/cpu/cpu0/cache/index*/size; do
    if [ -r "$f" ]; then cat "$f"; fi; done 2>/dev/null | awk '
    /K$/ { v = $0 + 0 } /M$/ { v = ($0 + 0) * 1024 } v > m { m = v } END { printf "%g", m / 1024 }')
cbw=""
tokens_s=""
tokens_t=""
skip=""
gt=""
tcp_keys="" # engine.tcp's flow mapping body from --tcp, "k: v, k: v"
dllama_reads=rank
while [ $# -gt 0 ]; do
    case "$1" in
    --db) db=${2:?--db needs a file}; shift ;;
    --runs) runs=${2:?--runs needs a number}; shift ;;
    --cores) cores=${2:?--cores needs a number}; shift ;;
    --host-overlap) host_overlap=${2:?--host-overlap needs a number}; shift ;;
    --recv-jitter) recv_jitter=${2:?--recv-jitter needs a number}; shift ;;
    --cache-mb) cache_mb=${2:?--cache-mb needs a number}; cache_given=1; shift ;;
    --build) build=${2:?--build needs a directory}; shift ;;
    --tokens-s) tokens_s=${2:?--tokens-s needs a number}; shift ;;
    --tokens-t) tokens_t=${2:?--tokens-t needs a number}; shift ;;
    --skip) skip=${2:?--skip needs a number}; shift ;;
    --fit-only) fit_only=1 ;;
    --steps) steps=${2:?--steps needs a number}; shift ;;
    --cv-per-nodes) cv_per_nodes=1 ;;
    --mem-share) mem_share=${2:?--mem-share needs auto or off}; shift ;;
    --host-probe) host_probe=${2:?--host-probe needs pair, both or off}; shift ;;
    --packed-pages) packed=${2:?--packed-pages needs auto or off}; shift ;;
    --core-placement) core_placement=${2:?--core-placement needs shared or wake}; shift ;;
    --core-balance-ms) core_balance=${2:?--core-balance-ms needs a number}; shift ;;
    --cv-on) cv_on=${2:?--cv-on needs deadline or missing}; shift ;;
    --tcp) tcp_key_add "${2:?--tcp needs KEY=VALUE}"; shift ;;
    --dllama-reads) dllama_reads=${2:?--dllama-reads needs arrival or rank}; shift ;;
    -*) other_arg "$1" ;;
    *) [ -z "$gt" ] || { echo "mirror-ground-truth: one GT_DIR only" >&2; exit 2; }
       gt=$1 ;;
    esac
    shift
done
[ -n "$gt" ] || { echo "usage: tools/mirror-ground-truth.sh [options] GT_DIR (--help)" >&2; exit 2; }
case "$core_placement" in shared | wake) ;;
*) echo "mirror-ground-truth: --core-placement: '$core_placement' is not shared or wake" >&2; exit 2 ;;
esac
case "$dllama_reads" in arrival | rank) ;;
*) echo "mirror-ground-truth: --dllama-reads: '$dllama_reads' is not arrival or rank" >&2; exit 2 ;;
esac
case "$core_balance" in
'' | *[!0-9.]* | *.*.* | .) echo "mirror-ground-truth: --core-balance-ms: '$core_balance' is not a number of ms" >&2; exit 2 ;;
esac
# 0 or the scenario key's range, 0.001 to 1000 ms
awk -v b="$core_balance" 'BEGIN { exit !(b == 0 || (b >= 0.001 && b <= 1000)) }' ||
    { echo "mirror-ground-truth: --core-balance-ms: '$core_balance' is not 0 or from 0.001 to 1000 ms" >&2; exit 2; }
# 0 when not placed (a shared pool is balanced already) or given as a zero
[ "$core_placement" = wake ] && awk -v b="$core_balance" 'BEGIN { exit !(b > 0) }' || core_balance=0
case "$packed" in auto | off) ;;
*) echo "mirror-ground-truth: --packed-pages: '$packed' is not auto or off" >&2; exit 2 ;;
esac
case "$host_probe" in pair | both | off) ;;
*) echo "mirror-ground-truth: --host-probe: '$host_probe' is not pair, both or off" >&2; exit 2 ;;
esac
for f in ground-truth.csv runs.csv samples.csv; do
    [ -r "$gt/$f" ] || { echo "mirror-ground-truth: $gt/$f: not readable" >&2; exit 2; }
done
case "$runs" in ''|*[!0-9]*|0) echo "mirror-ground-truth: --runs: '$runs' is not a positive integer" >&2; exit 2 ;; esac
case "$cores" in ''|*[!0-9]*|0) echo "mirror-ground-truth: --cores: '$cores' is not a positive integer" >&2; exit 2 ;; esac
need_int --steps "$steps" 1 60 "a step count from 1 to 60"
awk -v m="$cache_mb" 'BEGIN { exit !(m ~ /^[0-9]*\.?[0-9]+$/) }' ||
    { echo "mirror-ground-truth: --cache-mb: '$cache_mb' is not a number" >&2; exit 2; }
if [ -z "${cache_given:-}" ] && awk -v m="$cache_mb" 'BEGIN { exit !(m == 0) }'; then
    echo "mirror-ground-truth: no cache size in sysfs (cpu0/cache): no cache model; give --cache-mb M to have one (the committed mirrors of 2026-12-07 used 32)" >&2
fi
awk -v h="$host_overlap" 'BEGIN { exit !(h ~ /^[0-9]*\.?[0-9]+$/ && h <= 1) }' ||
    { echo "mirror-ground-truth: --host-overlap: '$host_overlap' is not a share from 0 to 1" >&2; exit 2; }
awk -v j="$recv_jitter" 'BEGIN { exit !(j ~ /^[0-9]*\.?[0-9]+$/ && j <= 1000000) }' ||
    { echo "mirror-ground-truth: --recv-jitter: '$recv_jitter' is not a time in us from 0 to 1000000" >&2; exit 2; }
case "$mem_share" in auto|off) ;; *) echo "mirror-ground-truth: --mem-share: '$mem_share' is not auto or off" >&2; exit 2 ;; esac
case "$cv_on" in deadline|missing) ;; *) echo "mirror-ground-truth: --cv-on: '$cv_on' is not deadline or missing" >&2; exit 2 ;; esac
# The harness's token counts, from the line each table it writes starts with; a table's count
# for a model counts only if the table has rows of that model.
harness_tokens() { # MODEL: the distinct counts of MODEL's runs, "N FILE" per line
    local f n ref='\1'
    [ "$1" = S ] || ref='\2'
    for f in "$gt"/*.md; do
        [ -r "$f" ] || continue
        grep -q "^| $1 |" "$f" || continue
        n=$(grep -o 'BOS; S: [0-9]* tokens per run, T: [0-9]*' "$f" | head -n 1 |
            sed "s/BOS; S: \([0-9]*\) tokens per run, T: \([0-9]*\)/$ref/")
        [ -z "$n" ] || echo "$n $f"
    done
}
for m in S T; do
    v=tokens_$(echo "$m" | tr ST st)
    [ -z "${!v}" ] || continue
    found=$(harness_tokens "$m")
    if [ "$(printf '%s\n' "$found" | awk 'NF { print $1 }' | sort -u | grep -c .)" -gt 1 ]; then
        echo "mirror-ground-truth: $gt: the harness's tables ran $m with different token counts (give --tokens-$(echo "$m" | tr ST st)):" >&2
        printf '%s\n' "$found" >&2
        exit 2
    fi
    if [ -n "$found" ]; then
        printf -v "$v" '%s' "$(printf '%s\n' "$found" | awk 'NF { print $1; exit }')"
    else
        printf -v "$v" '%s' "$([ "$m" = S ] && echo 128 || echo 16)"
        awk -F, -v m="$m" 'NR > 1 && $2 == m { f = 1 } END { exit !f }' "$gt/ground-truth.csv" &&
            echo "mirror-ground-truth: $gt: no harness table of $m cells says its token count; ${!v} (the harness's default)" >&2
    fi
done
if [ -z "$skip" ]; then
    found=$(for f in "$gt"/*.md; do
        [ -r "$f" ] || continue
        n=$(grep -o 'the first [0-9]* intervals of each run dropped' "$f" | head -n 1 | tr -dc 0-9)
        [ -z "$n" ] || echo "$n $f"
    done)
    if [ "$(printf '%s\n' "$found" | awk 'NF { print $1 }' | sort -u | grep -c .)" -gt 1 ]; then
        echo "mirror-ground-truth: $gt: the harness's tables dropped different warm-up intervals (give --skip):" >&2
        printf '%s\n' "$found" >&2
        exit 2
    fi
    w=$(printf '%s\n' "$found" | awk 'NF { print $1; exit }')
    skip=$((${w:-2} + 1))
fi
case "$skip" in ''|*[!0-9]*) echo "mirror-ground-truth: --skip: '$skip' is not a whole number" >&2; exit 2 ;; esac
echo "mirror-ground-truth: simulated runs of $tokens_s tokens on S, $tokens_t on T, the first $skip of each left out of its time" >&2
for v in "--tokens-s:$tokens_s" "--tokens-t:$tokens_t"; do
    case "${v#*:}" in ''|*[!0-9]*|0|1|2|3) echo "mirror-ground-truth: ${v%%:*}: '${v#*:}' is not an integer above 3" >&2; exit 2 ;; esac
    [ "${v#*:}" -gt "$skip" ] || { echo "mirror-ground-truth: --skip $skip leaves no token of ${v#*:} (${v%%:*})" >&2; exit 2; }
done
halo=$build/app/halo
[ -x "$halo" ] || { echo "mirror-ground-truth: no halo binary at $halo (make build)" >&2; exit 2; }
db=${db:-$gt/fidelity.db}
model_s=$repo/models/stories260K.bin
heartbeat_ms=100 # halo's socket root pings each worker this often (cluster file default, kept
                 # by the harness): under TCP the ping after a lost segment brings the SACK
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The cells: system,model,loss,nodes,ms_mean,engine (header checked by name).
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i
                   split("system model loss nodes ms_mean engine", k, " ")
                   for (j in k) if (!(k[j] in c)) { print "mirror-ground-truth: " FILENAME ": no column " k[j] > "/dev/stderr"; bad = 1 }
                   if (bad) exit 2; next }
         { print $c["system"] "," $c["model"] "," $c["loss"] "," $c["nodes"] "," $c["ms_mean"] "," $c["engine"] }' \
    "$gt/ground-truth.csv" >"$tmp/cells"
[ -s "$tmp/cells" ] || { log "$gt/ground-truth.csv has no cells"; exit 2; }

# The two-at-once slowdown per system, from memshare.csv (system R, one per line): the median
# over the complete rounds of each round's ratio, the mean of its pair's runs over its run
# alone (this machine's speed drifts by 20% between rounds: a median keeps one odd round out).
# A malformed row is an error naming file:line.
: >"$tmp/memshare"
if [ "$mem_share" = auto ] && [ -e "$gt/memshare.csv" ]; then
    awk -F, -v f="$gt/memshare.csv" '
        function bad(why) { printf "mirror-ground-truth: %s:%d: %s\n", f, FNR, why > "/dev/stderr"; err = 1; exit 2 }
        NR == 1 { if ($0 != "system,model,round,alone_ms,pair_a_ms,pair_b_ms") bad("not the header of the harness'"'"'s memshare.csv"); next }
        NF != 6 { bad("6 fields expected, " NF " found") }
        $4 == "" || $5 == "" || $6 == "" { next } # a failed run: its round is left out
        { for (i = 4; i <= 6; i++) if ($i !~ /^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/ || $i + 0 <= 0) bad("\"" $i "\" is not a time in ms")
        }
        END { if (err) exit 2 }' "$gt/memshare.csv" || exit 2
    memshare_stats "$gt/memshare.csv" | awk '{ print $1, $2 }' >"$tmp/memshare"
    [ -s "$tmp/memshare" ] || log "$gt/memshare.csv has no complete round: no host memory bandwidth"
fi
# The host's state during each multi-node T cell, from hostprobe.csv (the harness's
# halo_membw before and after every T run): per run, the slowdown of two cores reading at
# once, alone / pair, the mean of the probes before and after; per cell (system model loss
# nodes R, one per line), the mean over its runs. A malformed row is an error naming
# file:line; a run whose probes failed (empty fields) is left out.
: >"$tmp/probe"
if [ "$host_probe" != off ] && [ -e "$gt/hostprobe.csv" ]; then
    awk -F, -v f="$gt/hostprobe.csv" -v out="$tmp/probe" '
        function bad(why) { printf "mirror-ground-truth: %s:%d: %s\n", f, FNR, why > "/dev/stderr"; err = 1; exit 2 }
        function num(v) { if (v !~ /^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/ || v + 0 <= 0) bad("\"" v "\" is not a bandwidth in GB/s") }
        NR == 1 { h = "system,model,loss,nodes,run,alone_before,pair_before,alone_after,pair_after"
                  if ($0 == h) nf = 9
                  else if ($0 == h ",alone_huge_before,pair_huge_before,alone_huge_after,pair_huge_after") nf = 13
                  else bad("not the header of the harness'"'"'s hostprobe.csv")
                  next }
        NF != nf { bad(nf " fields expected, " NF " found") }
        { k = 0; r = 0; a = 0; kh = 0; ka = 0; kp = 0
          for (i = 6; i <= 8; i += 2) {
              if ($i == "" && $(i + 1) == "") continue
              num($i); num($(i + 1))
              r += $i / $(i + 1); a += $i; k++
              # the huge-page probe of the same moment: alone and pair over the small alone
              if (nf == 13 && ($(i + 4) != "" || $(i + 5) != "")) {
                  num($(i + 4)); num($(i + 5))
                  ka += $(i + 4) / $i; kp += $(i + 5) / $i; kh++ } }
          if (!k) next
          cell = $1 " " $2 " " $3 + 0 " " $4; s[cell] += r / k; al[cell] += a / k; n[cell]++
          if (kh) { hka[cell] += ka / kh; hkp[cell] += kp / kh; nh[cell]++ } }
        END { if (err) exit 2
              for (c in s) printf "%s %.6g %.6g %s %s\n", c, s[c] / n[c], al[c] / n[c],
                  nh[c] ? sprintf("%.6g", hka[c] / nh[c]) : "-", nh[c] ? sprintf("%.6g", hkp[c] / nh[c]) : "-" > out }' "$gt/hostprobe.csv" || exit 2
    # (said only when there are multi-node T cells to give it to)
    [ -s "$tmp/probe" ] || ! grep -q '^[^,]*,T,[^,]*,[2-9]' "$gt/ground-truth.csv" ||
        log "$gt/hostprobe.csv has no complete probe: host memory bandwidth per family"
fi
# probe_ratio SYSTEM MODEL LOSS NODES: the cell's slowdown two at once, or nothing
probe_ratio() {
    awk -v s="$1" -v m="$2" -v l="$3" -v n="$4" '$1 == s && $2 == m && $3 + 0 == l + 0 && $4 == n { print $5; exit }' "$tmp/probe"
}
# probe_alone SYSTEM MODEL LOSS NODES: one core's bandwidth alone around the cell's runs (GB/s),
# or nothing
probe_alone() {
    awk -v s="$1" -v m="$2" -v l="$3" -v n="$4" '$1 == s && $2 == m && $3 + 0 == l + 0 && $4 == n { print $6; exit }' "$tmp/probe"
}
# packed_pages SYSTEM MODEL LOSS NODES: "KA KP" for a socket cluster's node of halo (halo-strict,
# halo-udp) on a multi-node T cell whose runs have the huge-page probe, with --packed-pages
# auto: its alone and its pair bandwidth in huge pages over the small-page alone figure of
# the same moments (the nodes read their packed weight windows from huge pages; the
# single-device cell mem_bw_gbps is fitted on reads its file mapping in small ones); else
# nothing
packed_pages() {
    [ "$packed" = auto ] && [ "$2" = T ] && [ "$4" -gt 1 ] || return 0
    case "$1" in halo-strict | halo-udp) ;; *) return 0 ;; esac
    awk -v s="$1" -v m="$2" -v l="$3" -v n="$4" '$1 == s && $2 == m && $3 + 0 == l + 0 && $4 == n && $7 != "-" { print $7, $8; exit }' "$tmp/probe"
}
# alone_scale SYSTEM MODEL LOSS NODES: with --host-probe both, the cell's alone bandwidth over
# that of its family's single-device T cell (the cell mem_bw_gbps is fitted on), or nothing
alone_scale() {
    [ "$host_probe" = both ] && [ "$2" = T ] || return 0
    local ref=$1 a r
    case "$1" in halo-strict | halo-udp) ref=halo ;; esac
    a=$(probe_alone "$1" T "$3" "$4")
    r=$(probe_alone "$ref" T 0 1)
    [ -n "$a" ] && [ -n "$r" ] || return 0
    awk -v a="$a" -v r="$r" 'BEGIN { printf "%.6g", a / r }'
}

# mem_ratio SYSTEM: its two-at-once slowdown, or nothing
mem_ratio() { awk -v s="$1" '$1 == s { print $2; exit }' "$tmp/memshare"; }

# measured SYSTEM MODEL: the single-device cell's mean ms/token, or nothing
measured() { awk -F, -v s="$1" -v m="$2" '$1 == s && $2 == m && $4 == 1 && $3 + 0 == 0 { print $5; exit }' "$tmp/cells"; }

# profile BW OVERHEAD HOST_US [STRIDED_BW [COMPUTE_CV]]: the mirrored device profile (inline;
# STRIDED_BW 0 or empty: none); with the cache of $cache_mb MiB at $cbw GB/s when cbw is set,
# the host's memory bandwidth $hbw GB/s when hbw is set
profile() {
    local sb="" cb=""
    [ "${4:-0}" = 0 ] || sb=", strided_bw_gbps: $4"
    [ -z "$cbw" ] || cb=", cache_mb: $cache_mb, cache_bw_gbps: $cbw"
    [ -z "$hbw" ] || cb+=", host_mem_bw_gbps: $hbw, core_placement: $core_placement"
    [ -z "$hbw" ] || [ "$core_balance" = 0 ] || cb+=", core_balance_ms: $core_balance"
    echo "{gflops: $gf, mem_bw_gbps: $1, mem_mb: 1000000, storage_mbps: 2000, op_overhead_us: $2, send_us: $3, recv_us: $3, copy_ns_per_kb: 1000, cores: $cores, host_overlap: $host_overlap, recv_jitter_us: $recv_jitter$sb, compute_cv: ${5:-0}$cb}"
}

# engine_keys SYSTEM MODEL ENGINE_COLUMN: the engine section's keys (flow mapping body)
engine_keys() {
    case "$1" in
    dllama) echo "baseline: dllama, collective: mesh, encoding: f32" ;;
    dllama-q40) echo "baseline: dllama, collective: mesh, encoding: q8" ;;
    halo-strict | halo) echo "baseline: dllama, collective: star, encoding: f32, heartbeat_ms: $heartbeat_ms, slow_safe: true" ;;
    halo-udp) # the harness's engine column: keys separated by ';' (no commas in CSV)
        local keys
        keys=$(echo "$3" | sed 's/; */, /g; s/, *$//')
        [ -n "$keys" ] || keys="baseline: relaxed"
        if [ "$2" = T ]; then keys=$(echo "$keys" | sed 's/, *importance: *predictor//; s/importance: *predictor, *//'); fi
        echo "$keys, encoding: f32, heartbeat_ms: $heartbeat_ms, slow_safe: true" ;;
    *) log "unknown system '$1' in $gt/ground-truth.csv"; return 2 ;;
    esac
}

# engine SYSTEM MODEL ENGINE_COLUMN: the engine section's keys with --tcp's settings (and
# --dllama-reads's read order on distributed-llama's systems)
engine() {
    local keys tcp=$tcp_keys
    keys=$(engine_keys "$@") || return
    case "$1" in
    dllama | dllama-q40) [ "$dllama_reads" = arrival ] || tcp+="${tcp:+, }read_order: $dllama_reads" ;;
    esac
    echo "$keys${tcp:+, tcp: {$tcp\}}"
}

# scenario NAME SYSTEM MODEL NODES LOSS BW OVERHEAD ENGINE_COLUMN RUNS HOST_US [STRIDED_BW
#          [COMPUTE_CV]] > file
scenario() {
    local name=$1 sys=$2 model=$3 nodes=$4 loss=$5 bw=$6 ov=$7 eng=$8 nruns=$9 hus=${10} q host="" weights=f32 tokens
    local st=${11:-0} cv=${12:-0} r a
    # the host's state its runs met (hostprobe.csv): one core's memory speed against the
    # family's single-device T cell's (both), and the slowdown two at once (else the
    # family's host bandwidth, $hbw)
    local hbw=$hbw
    a=$(alone_scale "$sys" "$model" "$loss" "$nodes")
    [ -z "$a" ] || bw=$(awk -v b="$bw" -v a="$a" 'BEGIN { printf "%.6g", b * a }')
    if [ "$nodes" -gt 1 ] && r=$(probe_ratio "$sys" "$model" "$loss" "$nodes") && [ -n "$r" ]; then
        hbw=$(awk -v b="$bw" -v r="$r" 'BEGIN { printf "%.6g", 2 * b / r }')
    fi
    # halo's nodes read huge pages: alone KA, two at once KP of the small-page alone figure
    local kk
    kk=$(packed_pages "$sys" "$model" "$loss" "$nodes")
    if [ -n "$kk" ]; then
        hbw=$(awk -v b="$bw" -v k="${kk#* }" 'BEGIN { printf "%.6g", 2 * b * k }')
        bw=$(awk -v b="$bw" -v k="${kk% *}" 'BEGIN { printf "%.6g", b * k }')
    fi
    q=$(awk -v p="$loss" 'BEGIN { printf "%.9g", 1 - sqrt(1 - p) }')
    [ "$nodes" -gt 1 ] && host="    host: box"
    [ "$sys" = dllama-q40 ] && weights=q40
    echo "name: $name"
    if [ "$model" = S ]; then
        echo "model: {file: $model_s}"
        tokens=$tokens_s
    else
        echo "model: {shape: tinyllama-1.1b, weights: $weights}"
        tokens=$tokens_t
    fi
    echo "devices:"
    echo "  - profile: $(profile "$bw" "$ov" "$hus" "$st" "$cv")"
    echo "    count: $nodes"
    [ -z "$host" ] || echo "$host"
    echo "    link: {bandwidth_mbps: 10000, latency_us: 1, mtu: 1500, header_bytes: 42, loss: $q}"
    echo "engine: {$(engine "$sys" "$model" "$eng")}"
    echo "workload: {prompt: \"\", tokens: $tokens, skip: $skip, temperature: 0}"
    echo "seed: 1"
    echo "runs: $nruns"
}

# --tcp's settings, read by the simulator once before any fit (a bisection would take a
# failing run for a figure): a 2-node distributed-llama scenario with them
if [ -n "$tcp_keys" ]; then
    scenario tcp-check dllama S 2 0 1 1 "" 1 5 >"$tmp/tcp-check.yaml"
    "$halo" sim --points "$tmp/tcp-check.yaml" >/dev/null 2>"$tmp/tcp-check.err" ||
        { echo "mirror-ground-truth: --tcp: the simulator refuses {$tcp_keys}: $(sed 's/^.*engine\.tcp\./engine.tcp./' "$tmp/tcp-check.err" | head -n 1)" >&2; exit 2; }
fi

# sim_ms SYSTEM MODEL NODES BW OVERHEAD HOST_US: simulated loss-free mean ms/token (one run)
sim_ms() {
    scenario fit "$1" "$2" "$3" 0 "$4" "$5" "" 1 "$6" >"$tmp/fit.yaml"
    "$halo" sim --json "$tmp/fit.yaml" | sed -n 's/.*"mean_ms": \([0-9.e+-]*\).*/\1/p' | head -n 1
}

# bisect LO HI TARGET FN ARGS...: x in [LO, HI] (log scale) where FN ARGS x, increasing
# (dir=up) or decreasing (dir=down) in x, gives TARGET
bisect() {
    local dir=$1 lo=$2 hi=$3 target=$4 t mid
    shift 4
    for _ in $(seq 1 "$steps"); do
        mid=$(awk -v a="$lo" -v b="$hi" 'BEGIN { printf "%.8g", sqrt(a * b) }')
        t=$("$@" "$mid")
        if awk -v t="$t" -v g="$target" -v d="$dir" 'BEGIN { exit !((d == "up") == (t > g)) }'; then
            hi=$mid
        else
            lo=$mid
        fi
    done
    awk -v a="$lo" -v b="$hi" 'BEGIN { printf "%.6g", sqrt(a * b) }'
}
at_bw() { sim_ms "$sys" T 1 "$1" "$ov" "$hus"; }
at_ov() { sim_ms "$sys" S 1 "$bw" "$1" "$hus"; }
at_cbw() { cbw=$1; sim_ms "$sys" S 1 "$bw" "$ov" "$hus"; } # bisect calls it in $(...): the global cbw is untouched
at_hus() { sim_ms "$hsys" S 2 "$bw" "$ov" "$1"; }
at_gf() { gf=$1; sim_ms "$sys" T 1 "$bw" "$ov" "$hus"; } # in $(...) too: the global gf is untouched

# measured_t SYSTEM NODES COLUMN: a loss-free T cell's column of $tmp/cells (5: ms_mean), or nothing
measured_t() { awk -F, -v s="$1" -v n="$2" -v c="$3" '$1 == s && $2 == "T" && $4 == n && $3 + 0 == 0 { print $c; exit }' "$tmp/cells"; }

# at_stride STRIDED_BW: log of the product of simulated/measured over halo-strict's loss-free
# T cells with 2 and 4 nodes (those measured), with the compute_cv of that node count
at_stride() {
    local n m t acc=0
    for n in 2 4; do
        m=$(measured_t halo-strict $n 5)
        [ -n "$m" ] || continue
        scenario fit halo-strict T "$n" 0 "$bw" "$ov" "" "$runs" "$hus" "$1" "${cvn[$n]:-$cv}" >"$tmp/fit.yaml"
        t=$("$halo" sim --json "$tmp/fit.yaml" | awk '{ while (match($0, /"mean_ms": [0-9.e+-]+/)) {
                split(substr($0, RSTART, RLENGTH), kv, ": "); s += kv[2]; k++; $0 = substr($0, RSTART + RLENGTH) } }
            END { printf "%.9g", s / k }')
        acc=$(awk -v a="$acc" -v t="$t" -v m="$m" 'BEGIN { printf "%.9g", a + log(t / m) }')
    done
    echo "$acc"
}

# at_cv COMPUTE_CV: halo-udp's simulated missing share (%) on T at 0% loss with $cv_nodes nodes
at_cv() {
    scenario fit halo-udp T "$cv_nodes" 0 "$bw" "$ov" "$cv_eng" "$runs" "$hus" "$st" "$1" >"$tmp/fit.yaml"
    "$halo" sim --json "$tmp/fit.yaml" | awk '{ while (match($0, /"(expected|missing)": [0-9]+/)) {
            split(substr($0, RSTART, RLENGTH), kv, ": "); v[kv[1]] += kv[2]; $0 = substr($0, RSTART + RLENGTH) } }
        END { printf "%.9g", v["\"expected\""] ? 100 * v["\"missing\""] / v["\"expected\""] : 0 }'
}

# gt_column COLUMN NODES: the loss-free halo-udp T cell's COLUMN of ground-truth.csv (by name;
# nothing when the column or the cell is not there: tables before 2026-12-05 have no deadline_ms)
gt_column() {
    awk -F, -v col="$1" -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        $c["system"] == "halo-udp" && $c["model"] == "T" && $c["loss"] + 0 == 0 && $c["nodes"] == n {
            if (col in c) print $c[col]; exit }' "$gt/ground-truth.csv"
}

# at_cv_dl COMPUTE_CV: halo-udp's simulated mean first deadline (ms) on T at 0% loss with
# $cv_nodes nodes (each run's "deadline_mean_ms", averaged over the runs)
at_cv_dl() {
    scenario fit halo-udp T "$cv_nodes" 0 "$bw" "$ov" "$cv_eng" "$runs" "$hus" "$st" "$1" >"$tmp/fit.yaml"
    "$halo" sim --json "$tmp/fit.yaml" | awk '{ while (match($0, /"deadline_mean_ms": [0-9.e+-]+/)) {
            split(substr($0, RSTART, RLENGTH), kv, ": "); s += kv[2]; k++; $0 = substr($0, RSTART + RLENGTH) } }
        END { printf "%.9g", k ? s / k : 0 }'
}

# token_cv SYSTEM: the spread of its single-device T cell's token times (samples.csv): each
# run's standard deviation over its mean, the mean over its runs of 3 tokens or more; or nothing
token_cv() {
    awk -F, -v s="$1" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        $c["system"] == s && $c["model"] == "T" && $c["nodes"] == 1 && $c["loss"] + 0 == 0 {
            k = $c["run"]; n[k]++; x[k] += $c["ms"]; xx[k] += $c["ms"] * $c["ms"] }
        END { for (k in n) if (n[k] > 2) { m = x[k] / n[k]; v = (xx[k] - n[k] * m * m) / (n[k] - 1)
                                           t += (v > 0 ? sqrt(v) : 0) / m; r++ }
              if (r) printf "%.6g", t / r }' "$gt/samples.csv"
}

# at_tcv COMPUTE_CV: the same spread of the simulated single-device T cell ($runs runs)
at_tcv() {
    scenario fit "$sys" T 1 0 "$bw" "$ov" "" "$runs" "$hus" 0 "$1" >"$tmp/fit.yaml"
    "$halo" sim --json "$tmp/fit.yaml" | awk '{
        while (match($0, /"token_ms": \[[^]]*\]/)) {
            n = split(substr($0, RSTART + 13, RLENGTH - 14), v, /, */); $0 = substr($0, RSTART + RLENGTH)
            if (n < 3) continue
            m = 0; for (i = 1; i <= n; i++) m += v[i]; m /= n
            q = 0; for (i = 1; i <= n; i++) q += (v[i] - m) * (v[i] - m)
            t += sqrt(q / (n - 1)) / m; r++ } }
        END { printf "%.9g", r ? t / r : 0 }'
}

# fit_token_cv FAMILY: sets cv to the compute_cv whose simulated single-device T tokens spread
# as its measured ones do (0 without the cell or a spread)
fit_token_cv() {
    local want
    cv=0
    want=$(token_cv "$1")
    if [ -z "$want" ] || awk -v w="$want" 'BEGIN { exit !(w <= 0) }'; then
        log "$1: no spread of single-device T tokens; compute_cv stays 0"
        return 0
    fi
    cv=$(bisect up 0.0001 5 "$want" at_tcv)
    log "$1: compute_cv $cv (its single-device T tokens spread by $want of their mean within a run)"
}

# measured2 SYSTEM: the loss-free S cell with 2 nodes, or nothing
measured2() { awk -F, -v s="$1" '$1 == s && $2 == "S" && $4 == 2 && $3 + 0 == 0 { print $5; exit }' "$tmp/cells"; }

# fit FAMILY_SYSTEM STRICT_SYSTEM [OVERHEAD_FROM [HOST_US_FROM]]: sets bw, ov and hus
fit() {
    local s_ms t_ms h_ms
    sys=$1
    hsys=$2
    s_ms=$(measured "$sys" S)
    t_ms=$(measured "$sys" T)
    bw=20
    ov=${3:-1}
    hus=${4:-5}
    cbw=""
    hbw=""
    if [ -z "$s_ms" ] && [ -z "$t_ms" ]; then
        log "no single-device cell of $sys: its family is not mirrored"
        return 1
    fi
    [ -n "$s_ms" ] || log "$sys: no S single-device cell; op_overhead_us stays $ov"
    [ -n "$t_ms" ] || log "$sys: no T single-device cell; mem_bw_gbps stays $bw"
    for _ in 1 2 3 4 5 6; do
        if [ -n "$s_ms" ] && [ -z "${3:-}" ] && [ -z "$cbw" ]; then
            ov=$(bisect up 0.001 100000 "$s_ms" at_ov)
            # the floor is still too slow: the weights come from a cache (header)
            if awk -v a="$(at_ov "$ov")" -v b="$s_ms" -v c="$cache_mb" 'BEGIN { exit !(a > b * 1.001 && c > 0) }'; then
                cbw=$(bisect down 0.1 100000 "$s_ms" at_cbw)
                log "$sys: the S cell is faster than its bytes at memory speed: cache_bw_gbps $cbw fitted on it (cache_mb $cache_mb)"
            fi
        elif [ -n "$cbw" ]; then
            cbw=$(bisect down 0.1 100000 "$s_ms" at_cbw)
        fi
        if [ -n "$t_ms" ]; then bw=$(bisect down 0.01 10000 "$t_ms" at_bw); fi
        local ok=1
        [ -z "$s_ms" ] || awk -v a="$(at_ov "$ov")" -v b="$s_ms" 'BEGIN { exit !(a > b * 1.001 || a < b * 0.999) }' && ok=0
        [ -z "$t_ms" ] || awk -v a="$(at_bw "$bw")" -v b="$t_ms" 'BEGIN { exit !(a > b * 1.001 || a < b * 0.999) }' && ok=0
        [ "$ok" = 0 ] || break
    done
    # The host's memory bandwidth (no single-device cell depends on it): from this family's
    # slowdown two at once, else the host bandwidth an earlier family's gave.
    local r
    r=$(mem_ratio "$sys")
    if [ -n "$r" ]; then
        hbw=$(awk -v b="$bw" -v r="$r" 'BEGIN { printf "%.6g", 2 * b / r }')
        host_bw_seen=$hbw
        log "$sys: host_mem_bw_gbps $hbw (two single-device T runs at once, x$r each)"
    elif [ -n "$host_bw_seen" ]; then
        hbw=$host_bw_seen
        log "$sys: no runs of its own in memshare.csv: host_mem_bw_gbps $hbw (another family's)"
    fi
    # Host costs change no single-device time: fitted last, on the 2-node cell.
    h_ms=$(measured2 "$hsys")
    if [ -n "${4:-}" ]; then
        :
    elif [ -n "$h_ms" ] && [ -n "$s_ms" ]; then
        hus=$(bisect up 0.01 100000 "$h_ms" at_hus)
    else
        log "$sys: no loss-free S cell of $hsys on 2 nodes; send_us = recv_us stay $hus"
    fi
    log "$sys: op_overhead_us $ov (S $s_ms ms), mem_bw_gbps $bw (T $t_ms ms), send_us = recv_us $hus (S 2 nodes ${h_ms:-none})"
    st=0
    cv=0
    [ "$sys" = halo ] || return 0
    cvn=()
    cv_by=()
    # one compute_cv per node count with a loss-free halo-udp T cell: the spread of compute
    # times depends on how many processes share the host's cores (2026-12-04: 0.1 gives the
    # 2-node cell's misses, 0.32 the 4-node cell's, and 0.32 on 2 nodes made every adaptive
    # deadline there too long, docs/ground-truth.md)
    local udp_nodes cv_miss="" round
    udp_nodes=$(awk -F, '$1 == "halo-udp" && $2 == "T" && $3 + 0 == 0 && $4 > 1 { print $4 }' "$tmp/cells" | sort -n | tr '\n' ' ')
    [ "$cv_per_nodes" = 1 ] || udp_nodes=$(echo "$udp_nodes" | awk '{ if (NF) print $NF }') # the most nodes only
    cv_nodes=0
    for round in 1 2; do
        # Column windows cost nothing on one device: fitted on the multi-node strict T cells.
        if [ -z "$(measured_t halo-strict 2 5)$(measured_t halo-strict 4 5)" ]; then
            [ $round = 2 ] || log "halo: no loss-free T cell of halo-strict on 2 or 4 nodes; strided_bw_gbps left out"
        elif awk -v a="$(at_stride 0)" 'BEGIN { exit !(a >= 0) }'; then
            st=0
            [ $round = 2 ] || log "halo: the multi-node T cells are not slower than the model; strided_bw_gbps left out"
        else
            st=$(bisect down 0.01 "$bw" 0 at_stride)
        fi
        # The spread of compute times: fitted on halo-udp's loss-free misses on T, per node
        # count; the largest node count's value stands for node counts without such a cell.
        [ -n "$udp_nodes" ] || { [ $round = 2 ] || log "halo: no loss-free T cell of halo-udp; compute_cv stays 0"; }
        for cv_nodes in $udp_nodes; do
            cv_miss=$(gt_column missing_pct "$cv_nodes")
            cv_dl=$(gt_column deadline_ms "$cv_nodes")
            cv_eng=$(awk -F, -v n="$cv_nodes" '$1 == "halo-udp" && $2 == "T" && $3 + 0 == 0 && $4 == n { print $6; exit }' "$tmp/cells")
            if [ -n "$cv_dl" ] && [ "$cv_on" = deadline ]; then
                # on the root's mean deadline: what a lost contribution costs
                if awk -v a="$(at_cv_dl 0.001)" -v m="$cv_dl" 'BEGIN { exit !(a >= m) }'; then
                    cvn[$cv_nodes]=0
                else
                    cvn[$cv_nodes]=$(bisect up 0.001 5 "$cv_dl" at_cv_dl)
                fi
                cv_by[$cv_nodes]="mean deadline $cv_dl ms"
            elif [ -z "$cv_miss" ] || awk -v m="$cv_miss" 'BEGIN { exit !(m <= 0) }'; then
                cvn[$cv_nodes]=0
            elif awk -v a="$(at_cv 0.001)" -v m="$cv_miss" 'BEGIN { exit !(a >= m) }'; then
                cvn[$cv_nodes]=0
            else
                cvn[$cv_nodes]=$(bisect up 0.001 5 "$cv_miss" at_cv)
            fi
            [ -n "${cv_by[$cv_nodes]:-}" ] || cv_by[$cv_nodes]="missing share ${cv_miss:-none}%"
            cv=${cvn[$cv_nodes]}
            [ $round = 1 ] || log "halo: compute_cv ${cvn[$cv_nodes]} on T with $cv_nodes nodes (halo-udp at 0%: ${cv_miss:-none}% missing, mean deadline ${cv_dl:-not recorded} ms; fitted on its ${cv_by[$cv_nodes]})"
        done
    done
    log "halo: strided_bw_gbps $st (halo-strict T 2 and 4 nodes), compute_cv $cv (the largest node count's, for node counts without a halo-udp cell)"
}

declare -A fam_gf fam_bw fam_ov fam_hus fam_on fam_st fam_cv fam_cbw fam_hbw cvn
host_bw_seen=""
cv_halo=0
# fitted_on FAMILY_SYSTEM STRICT_SYSTEM: the cells a family's fit used, for the table
fitted_on() {
    awk -F, -v s="$1" -v h="$2" '($1 == s && $4 == 1) || ($1 == h && $2 == "S" && $4 == 2 && $3 + 0 == 0) {
        printf "%s%s %s %d node%s %s ms", n++ ? ", " : "", $1, $2, $4, ($4 > 1 ? "s" : ""), $5 }' "$tmp/cells"
}
if fit halo halo-strict; then
    fam_bw[halo]=$bw; fam_ov[halo]=$ov; fam_hus[halo]=$hus; fam_on[halo]=$(fitted_on halo halo-strict)
    fam_cbw[halo]=$cbw; fam_hbw[halo]=$hbw
    fam_st[halo]=$st; fam_cv[halo]=$cv; cv_halo=$cv
    cv_list=""
    for n in $(printf '%s\n' "${!cvn[@]}" | sort -n); do
        cv_list+="${cv_list:+, }${cvn[$n]} ($n nodes)"
    done
    cv_what=""
    for n in $(printf '%s\n' "${!cv_by[@]}" | sort -n); do
        cv_what+="${cv_what:+, }${cv_by[$n]} on $n nodes"
    done
    if [ "$cv_per_nodes" = 1 ]; then
        [ -z "$cv_list" ] || fam_cv[halo]=$cv_list
        fam_on[halo]+=", halo-strict T 2 and 4 nodes at 0% (strided_bw_gbps), halo-udp T at 0% on each node count: ${cv_what:-none} (compute_cv)"
    else
        fam_on[halo]+=", halo-strict T 2 and 4 nodes at 0% (strided_bw_gbps), halo-udp T $cv_nodes nodes at 0%: ${cv_what:-none} (compute_cv)"
    fi
fi
if fit dllama dllama; then
    fam_bw[dllama]=$bw; fam_ov[dllama]=$ov; fam_hus[dllama]=$hus; fam_on[dllama]=$(fitted_on dllama dllama)
    fam_cbw[dllama]=$cbw; fam_hbw[dllama]=$hbw
    # The spread of compute times, on the single-device T cell's tokens: real processes never
    # compute in step, and with cores placed as Linux wakes tasks (--core-placement wake) a
    # mesh in exact step keeps its devices two and two on the cores where a real one does not
    fit_token_cv dllama
    fam_cv[dllama]=$cv
    fam_on[dllama]+=", its T tokens' spread (compute_cv, on T)"
fi
if grep -q '^dllama-q40,' "$tmp/cells" &&
    fit dllama-q40 dllama "${fam_ov[dllama]:-1}" "${fam_hus[dllama]:-5}"; then
    fam_on[dllama-q40]="$(fitted_on dllama-q40 none) (overhead and host cost: dllama's)"
    # Bound by arithmetic, not memory: the same program streams Q4_0 weights (18/32 of a byte
    # per weight against f32's 4) at the f32 cell's bandwidth, and what its T cell takes beyond
    # that is the dequantising dot products, gflops fitted here. Two single-device Q40 runs at
    # once slowed each other by x1.03-1.05 on 2026-12-06 (memshare.csv) where f32 slowed by
    # x1.26 and the memory probe by x1.3-1.7: a profile bound by memory at 7 GB/s took the
    # probe's slowdown in full and put the 2-node T cells 24-36% slow.
    t_ms=$(measured dllama-q40 T)
    if [ -n "${fam_bw[dllama]:-}" ] && [ -n "$t_ms" ] &&
        awk -v a="$(at_bw "${fam_bw[dllama]}")" -v b="$t_ms" 'BEGIN { exit !(a < b * 0.999) }'; then
        bw=${fam_bw[dllama]}
        gf=$(bisect down 0.01 1000 "$t_ms" at_gf)
        # its own slowdown two at once, now on this bandwidth (else the machine's, kept)
        r=$(mem_ratio dllama-q40)
        [ -z "$r" ] || hbw=$(awk -v b="$bw" -v r="$r" 'BEGIN { printf "%.6g", 2 * b / r }')
        fam_gf[dllama-q40]=$gf
        fam_on[dllama-q40]+=", mem_bw_gbps dllama's, gflops on its T cell"
        log "dllama-q40: mem_bw_gbps $bw (dllama's), gflops $gf (T $t_ms ms), host_mem_bw_gbps ${hbw:-none}"
    else
        log "dllama-q40: its T cell is not slower than its bytes at dllama's bandwidth: mem_bw_gbps fitted on it ($bw)"
    fi
    fit_token_cv dllama-q40
    fam_cv[dllama-q40]=$cv
    fam_on[dllama-q40]+=", its T tokens' spread (compute_cv, on T)"
    gf=1000
    fam_bw[dllama-q40]=$bw; fam_ov[dllama-q40]=$ov; fam_hus[dllama-q40]=$hus; fam_hbw[dllama-q40]=$hbw
fi
echo "| family | fitted on | op_overhead_us | mem_bw_gbps | send_us = recv_us | strided_bw_gbps | compute_cv | cache_bw_gbps (cache_mb $cache_mb) | host_mem_bw_gbps | gflops |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for f in halo dllama dllama-q40; do
    [ -n "${fam_bw[$f]:-}" ] || continue
    echo "| $f | ${fam_on[$f]} | ${fam_ov[$f]} | ${fam_bw[$f]} | ${fam_hus[$f]} | ${fam_st[$f]:-0} | ${fam_cv[$f]:-0} | ${fam_cbw[$f]:--} | ${fam_hbw[$f]:--} | ${fam_gf[$f]:-1000} |"
done
echo
reads_note="in rank order"
[ "$dllama_reads" = rank ] || reads_note="as the data arrives"
echo "Not fitted: every profile on a host of $cores cores, of a message's host cost the share $host_overlap waiting (host_overlap), copy_ns_per_kb 1000, a waiting receiver's wake-up varying by $recv_jitter us on average (recv_jitter_us), TCP settings ${tcp_keys:-none: the defaults}${tcp_keys:+ (engine.tcp)}, distributed-llama's nodes reading their peers $reads_note (engine.tcp.read_order)$(
    [ -s "$tmp/memshare" ] && awk '{ printf "%s%s x%s", (NR > 1 ? ", " : "; the host'"'"'s memory bandwidth (host_mem_bw_gbps) from the single-device T runs two at once in memshare.csv: "), $1, $2 }' "$tmp/memshare")$(
    [ -s "$tmp/probe" ] && sort -k1,1 -k4,4n -k3,3g "$tmp/probe" | awk -v auto="$([ "$host_probe" = both ] && echo 1)" -v packed="$packed" '
        $3 + 0 == 0 && $4 == 1 { ref[$1] = $6 }
        { row[NR] = $0 }
        END { for (i = 1; i <= NR; i++) { split(row[i], f, " ")
                  if (f[4] <= 1) continue
                  fam = (f[1] ~ /^halo/ ? "halo" : f[1])
                  sc = (auto && (fam in ref) ? sprintf(" a%.3g", f[6] / ref[fam]) : "")
                  if (packed == "auto" && fam == "halo" && f[2] == "T" && f[7] != "-") { sc = sc sprintf(" h%.3g/%.3g", f[7], f[8]); hp = 1 }
                  printf "%s%s %s%%/%d x%.3g%s", (k++ ? ", " : "; the host'"'"'s state halo_membw measured around each multi-node T cell'"'"'s runs (hostprobe.csv), system loss/nodes xR (slowdown two at once: host_mem_bw_gbps = 2 mem_bw_gbps / R)" (auto ? " aA (one core alone, over the family'"'"'s single-device T cell: mem_bw_gbps times A)" : "") ": "), f[1], 100 * f[3], f[4], f[5], sc }
              if (hp) printf "; hKA/KP on halo'"'"'s cells: its nodes read packed windows in huge pages, mem_bw_gbps times KA (huge pages alone over small pages alone) and host_mem_bw_gbps = 2 mem_bw_gbps KP (huge pages two at once over small pages alone) instead" }')."
echo
[ "$fit_only" = 0 ] || exit 0

# measured_runs SYSTEM MODEL LOSS NODES: the cell's measured runs (ground-truth.csv), or 0
measured_runs() {
    awk -F, -v s="$1" -v m="$2" -v l="$3" -v n="$4" '
        NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; if (!("runs" in c)) exit; next }
        $c["system"] == s && $c["model"] == m && $c["loss"] == l && $c["nodes"] == n { r = $c["runs"] }
        END { print r + 0 }' "$gt/ground-truth.csv"
}

# Every cell, mirrored and swept into the database.
"$halo" db import-measured "$db" "$gt" >&2
n=$(wc -l <"$tmp/cells")
i=0
while IFS=, read -r sys model loss nodes _ eng; do
    i=$((i + 1))
    fam=$sys
    case "$sys" in halo | halo-strict | halo-udp) fam=halo ;; esac
    [ -n "${fam_bw[$fam]:-}" ] || { log "[$i/$n] $sys/$model/$nodes/$loss: family $fam not fitted, skipped"; continue; }
    name="mirror/$sys/$model/$nodes/$loss"
    cell_runs=$(measured_runs "$sys" "$model" "$loss" "$nodes")
    [ "$cell_runs" -gt "$runs" ] || cell_runs=$runs
    cell_cv=0
    # the distributed-llama families' compute_cv is their T tokens' spread: T cells only
    [ "$fam" = halo ] || [ "$model" != T ] || cell_cv=${fam_cv[$fam]:-0}
    if [ "$fam" = halo ]; then
        cell_cv=$cv_halo
        [ "$model" != T ] || [ -z "${cvn[$nodes]:-}" ] || cell_cv=${cvn[$nodes]}
    fi
    cbw=${fam_cbw[$fam]:-}
    hbw=${fam_hbw[$fam]:-}
    gf=${fam_gf[$fam]:-1000}
    scenario "$name" "$sys" "$model" "$nodes" "$loss" "${fam_bw[$fam]}" "${fam_ov[$fam]}" "$eng" "$cell_runs" \
        "${fam_hus[$fam]}" "${fam_st[$fam]:-0}" "$cell_cv" >"$tmp/cell.yaml"
    log "[$i/$n] $name"
    "$halo" sweep -q --db "$db" "$tmp/cell.yaml" >&2
done <"$tmp/cells"
"$halo" report fidelity --db "$db"
