#!/usr/bin/env bash
# Ground truth for the simulator (issue 13, item 1): real systems measured on this machine,
# root + 3 workers each in its own network namespace, under kernel packet loss. A benchmark,
# not a test: it took 24 minutes in full here, ~40 s with --quick (once distributed-llama
# is built). docs/ground-truth.md shows one run and says how to read it.
#
#   sudo DLLAMA_GIT=<git URL or local git dir of b4rtaz/distributed-llama> \
#        tools/ground-truth.sh [options] > table.md
#
# Systems (each run starts from BOS with an empty prompt, greedy, one compute thread per
# process, so every system does the same positions):
#   dllama       distributed-llama v0.16.4 (commit $DLLAMA_COMMIT, default 8d624a7), fetched
#                from DLLAMA_GIT and built with its own Makefile into DLLAMA_DIR (default
#                ${XDG_CACHE_HOME:-$HOME/.cache}/halo/dllama; nothing of it enters the
#                repository); f32 weights with an f32 sync buffer; blocking sockets
#                (--net-turbo 0: its default busy-polls, which starves four processes on
#                two cores).
#   dllama-q40   the same with Q40 weights and a q80 sync buffer, T only (S's per-node
#                slices of 16 values cannot hold a 32-value block).
#   halo-strict  halo's socket cluster, `engine: {baseline: dllama}` (strict sync over TCP),
#                stall_ms 60000 so that no token is recomputed under loss.
#   halo-udp     halo's socket cluster over UDP with the engine keys of --udp-engine (S;
#                default `baseline: relaxed, importance: predictor`: the relaxed preset's
#                fixed 10 ms deadline) or --udp-engine-t (T; default the same plus
#                `adaptive_deadline: true`: on T a worker's share of a block takes longer than
#                10 ms here, so a fixed deadline drops most contributions, 83% in a trial).
#                A model without a predictor file (FILE.pred beside it) runs without
#                `importance: predictor`; the engine column says what ran.
#   halo         (1 node) `halo generate` on one device, no network: the single-device cell of
#                both halo systems.
# Models (files made once in the scratch folder, ${XDG_CACHE_HOME:-$HOME/.cache}/halo/models):
#   S  the bundled stories260K + tok512 (for distributed-llama: converted by
#      halo_dllama_files, hidden padded 172 -> 192, vocabulary reordered);
#   T  TinyLlama-1.1B's shape with random weights (dim 2048, hidden 5632, 22 layers, 32 heads,
#      4 KV heads, vocab 32000, context 2048; distributed-llama runs with --max-seq-len 512),
#      f32 for both systems (4.4 GB each), a synthetic 32000-token tokenizer.
# Topology: namespaces <p>-r (root, 10.79.X.1) and <p>-w1..w3 (workers, .2-.4), each with one
# veth whose peer is a port of bridge br0 in namespace <p>-br; TSO, GSO, GRO and UDP
# segmentation off on every veth end, so one lost frame is one lost segment or datagram. Loss: an nftables bridge-family rule in
# <p>-br drops each forwarded IPv4 TCP or UDP frame with probability LOSS (`numgen random
# mod 10000 < 10000*LOSS`), so both directions of every link lose; a counter rule before it
# counts the frames, and the achieved drop rate is dropped/frames. distributed-llama's root
# streams the weights to its workers at every start (3.3 GB for T): for T the rule is armed
# when its first token appears, and only tokens after that count.
# Timing: the token output of every root (distributed-llama's per-token lines, `halo generate
# --ids`) goes through halo_linestamp, which stamps each line with the time it was read; a
# token's time is the interval between consecutive token lines. The first --warmup intervals
# of each run are dropped. Runs are interleaved: for each repeat, each node count, each loss,
# every system in turn (the order rotated by one each repeat).
#
# Options:
#   --quick            S only, loss 0 and 5%, nodes 1 and 4, 1 repeat, 48 tokens
#   --models "S T"     models (default both)
#   --losses "..."     drop probabilities (default 0 0.01 0.02 0.05)
#   --nodes "1 2 4"    node counts (1, 2 or 4; default 1 2 4: tools/mirror-ground-truth.sh fits
#                      the host cost per message on the loss-free 2-node S cells); 1 is
#                      measured at loss 0 only
#   --systems "..."    among dllama dllama-q40 halo-strict halo-udp (default all four)
#   --repeats R        runs per cell (default 3), interleaved
#   --target-se PCT    top-up of few-event cells: after the interleaved repeats, every lossy
#                      cell with 2 or more nodes gets more runs, one at a time and in turn,
#                      while the standard error of its mean ms/token (sd / sqrt(runs) of its
#                      run means; until 2026-12-05 over its token intervals, which are not
#                      independent and stopped the top-up too early) is above PCT% of its
#                      cost of loss (its mean minus the same system's loss-free mean at that
#                      node count; its mean if that cell was not measured), up to
#                      --max-repeats-s/-t runs. At
#                      1-2% loss a run holds a handful of retransmission timeouts (~200 ms
#                      each) and 3 runs leave a mean that moves by half between runs
#                      (distributed-llama S 2 nodes 1%: SE 33% of the mean). A loss-free
#                      cell with 2 or more nodes gets more runs too while its standard error
#                      is above PCT% of the smallest cost of loss measured over it (since
#                      2026-12-06 20:30: on T its runs differ by 4-12 times their tokens'
#                      spread, and three of them left the 1% costs undecided). Default 10;
#                      0: no top-up
#   --min-events E     the top-up also goes on for a cell of a system on TCP (all but
#                      halo-udp) until its runs together hold E costly events (default 20,
#                      a Poisson count's relative error ~22%; 0: off), estimated as its cost
#                      of loss times its counted tokens over --event-ms (default 200, the
#                      kernel's minimum retransmission timeout): three runs with a timeout
#                      each can agree by chance (tools/gt-unstable.awk)
#   --max-repeats-s M  most runs of an S cell with the top-up (default 40: ~1-3 s a run)
#   --max-repeats-t M  most runs of a T cell with the top-up (default 8: 10-60 s a run, and
#                      distributed-llama streams 3.3 GB of weights at each start)
#   --tokens-s N       tokens per run on S (default 128), --tokens-t N on T (default 16)
#   --warmup W         intervals dropped at the start of each run (default 2)
#   --udp-engine TEXT  the halo-udp engine section's keys on S (default above)
#   --udp-engine-t T   the same on T (default above)
#   --root-spin-us US  `spin_us` of halo's cluster files: how long the root polls before it
#                      sleeps (default: the cluster file's, 20 us since 2026-12-07; 0 as the
#                      grids measured before then, docs/ground-truth.md "The root's spin")
#   --run-timeout S    limit of one run in seconds (default 900)
#   --rt               run the systems at real-time priority (SCHED_FIFO 5), so that other
#                      jobs on a shared machine wait for them; the default, --no-rt, is normal
#                      priority, as a real cluster runs and as the simulator's shared-host
#                      model assumes: on this machine SCHED_FIFO made 4 processes on 2 cores
#                      7-37% faster than at normal priority and the simulator 35-75% off on
#                      them (docs/ground-truth.md, "Real-time priority and the 4-node
#                      cells"). Use it only on a busy machine.
#   --no-host-probe    leave out the host probe: by default every T run is preceded and
#                      followed by halo_membw (one core reading memory alone, then two at
#                      once, with small pages and with huge ones; ~2 s each), in
#                      hostprobe.csv: on this shared virtual machine two
#                      processes streaming weights at once sometimes each read as fast as one
#                      alone and sometimes 1.5-1.7x slower, in periods of seconds, which moved
#                      distributed-llama's 2-node T cell between 77 and 121 ms/token from one
#                      run to the next (2026-12-06); the mirror gives each T cell the host
#                      memory bandwidth its runs met (docs/ground-truth.md, "The host's state
#                      during a run")
#   --pin              pin every process to one core: node i (0 = the root, workers 1-3) on
#                      core i mod the machine's cores (taskset), the memory-share runs on cores
#                      0 and 1; the default leaves placement to the kernel's scheduler. On
#                      2026-12-06 pinning did not change distributed-llama's two speeds on 2 T
#                      nodes (docs/ground-truth.md, "The host's state during a run")
#   --cc NAME          TCP congestion control on the namespaces' routes (default cubic, the
#                      Linux and Raspberry Pi OS default; this host's is bbr, which a
#                      namespace inherits); `default` leaves the namespaces' own
#   --tcp-stats        per run, the kernel's TCP view (needs nstat, ss, tcpdump): each node
#                      namespace's TCP counters over the lossy part of the run (from the
#                      moment the loss is armed), `ss -ti` of the root's connections every
#                      0.25 s, and the headers of every frame each node sent, captured on its
#                      bridge port before the drop rule; in --out: tcp.csv (one row per run,
#                      columns below) and tcp/ (the raw files, named after the run)
#   --mem-share R      with T: before its cells, R rounds (default 5; 0: none) of each
#                      selected system's single-device T run alone and then two at once (after
#                      one uncounted run alone), in memshare.csv: two weight streams share this
#                      machine's memory bandwidth (1.36-1.48x slower each here on 2026-12-06),
#                      which tools/mirror-ground-truth.sh turns into host_mem_bw_gbps (the
#                      median of the rounds' ratios: the machine's speed drifts by 20% between
#                      rounds). Measured apart from every judged cell. ~4 min
#   --out DIR          where the CSV files go (default build/ground-truth)
#   --build DIR        halo's build tree (default build/bench: -O2 -march=native, like
#                      distributed-llama's -O3 -march=native; made with `make bench` if
#                      missing, brought up to date with cmake --build otherwise)
# Environment: DLLAMA_GIT (required unless DLLAMA_DIR already holds the built binary),
# DLLAMA_DIR, DLLAMA_COMMIT, GT_SCRATCH (default ${XDG_CACHE_HOME:-$HOME/.cache}/halo).
#
# Output: a markdown table on stdout; progress on stderr; in --out:
#   ground-truth.csv  one row per cell, columns:
#     system       dllama | dllama-q40 | halo-strict | halo-udp | halo (single device)
#     model        S | T
#     loss         drop probability set on the bridge
#     nodes        root + workers (1 = one device, no network)
#     runs         runs measured
#     failed       runs that failed or timed out (their tokens up to then are counted)
#     tokens       token intervals counted (over all runs)
#     ms_mean      mean ms per token over those intervals
#     ms_p90       90th percentile (nearest rank) ms per token
#     ms_run_min   smallest per-run mean (spread between runs)
#     ms_run_max   largest per-run mean
#     drop_rate    frames dropped / frames seen by the rules (empty at loss 0)
#     frames       IPv4 TCP+UDP frames the bridge forwarded or dropped (all runs)
#     dropped      frames dropped
#     same_text    runs whose tokens equal the system's single-device output (dllama: its
#                  1-node run; halo-*: halo's single device; first repeat), e.g. 3/3
#     missing_pct  halo: contributions missing (relaxed sync), % of expected
#     self_ms      the system's own ms/token (dllama: Pred+Sync; halo: its summary line),
#                  mean over runs, a check of the line stamps
#     engine       the configuration run (no commas)
#     deadline_ms  halo over sockets with relaxed sync: the root's mean first deadline
#                  ("root sync: mean deadline", srtt + 4 rttvar of the contributions' delays
#                  with adaptive deadlines), mean over the runs that printed it; empty
#                  otherwise (the mirror fits compute_cv on it, tools/mirror-ground-truth.sh)
#   samples.csv     system,model,loss,nodes,run,idx,ms: every counted token interval
#   runs.csv        system,model,loss,nodes,run,tokens,ms_mean,frames,dropped,missing_pct,
#                   self_ms,wall_s (the run's whole time, start-up included),status (ok;
#                   failed: a non-zero exit or fewer token lines than asked; timeout: killed
#                   after --run-timeout)
#   phases.csv      system,model,loss,nodes,run,idx,pred_ms,sync_ms: distributed-llama's own
#                   split of each counted token (the token intervals of samples.csv, same
#                   idx): Pred, the root's op-execution time, and Sync, its time in the sync
#                   steps (transfers and waiting for the slowest peer); integer ms as it
#                   prints them
#   cpu.csv         system,model,loss,nodes,run,user_pct,system_pct,idle_pct,steal_pct: this
#                   machine's CPU time (all cores, /proc/stat) over each run, start-up
#                   included; steal: time the hypervisor gave to another guest
#   hostprobe.csv   (T) system,model,loss,nodes,run,alone_before,pair_before,alone_after,
#                   pair_after: halo_membw's GB/s of one core reading alone and of each of
#                   two reading at once, just before the run and just after it;
#                   alone_huge_before,pair_huge_before,alone_huge_after,pair_huge_after: the
#                   same with buffers in huge pages (--pages huge), as a socket cluster's
#                   nodes hold their packed weight windows (since 2026-12-07)
#   memshare.csv    (T) system,model,round,alone_ms,pair_a_ms,pair_b_ms: --mem-share's
#                   rounds, mean ms/token of each run (the cells' stamps and warm-up rule);
#                   empty fields for a run that failed
#   tcp.csv (--tcp-stats)  system,model,loss,nodes,run,lossy_tokens (token lines produced while
#                   the loss was armed: the counters' span), then, summed over the nodes'
#                   namespaces, the kernel counters: retrans_segs (TcpRetransSegs), timeouts
#                   (TcpExtTCPTimeouts), probes (TcpExtTCPLossProbes), probe_recoveries
#                   (TcpExtTCPLossProbeRecovery), fast_retrans (TcpExtTCPFastRetrans),
#                   delayed_acks (TcpExtDelayedACKs), spurious_rtos (TcpExtTCPSpuriousRTOs),
#                   lost_retransmits (TcpExtTCPLostRetransmit), data_segs (data segments the
#                   nodes sent, first transmissions and retransmissions, from the capture),
#                   and the capture's retransmissions banded by the time since the same
#                   sequence was last sent by the same node: rx_lt2 (<2 ms: RACK, fast
#                   retransmits), rx_2_50 (loss probes, RACK timer), rx_50_150, rx_150_300
#                   (one retransmission timeout, or a probe with one segment out),
#                   rx_300_600 (a timeout after a lost retransmission: backoff), rx_ge600;
#                   rto_ms_max: the largest rto ss showed on the root's connections;
#                   capture_tokens: the tokens the capture holds (lossy_tokens' rule from
#                   its first frame on; the capture starts just after the arming when the
#                   loss is armed at the first token), for the capture's columns
# Everything made (namespaces, veths, bridge, nft table, processes) is removed on exit,
# failure or Ctrl-C. Exit 77 with "skipped: ..." when not root or a tool is missing.
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

models="S T"
losses="0 0.01 0.02 0.05"
nodes_list="1 2 4"
systems="dllama dllama-q40 halo-strict halo-udp"
repeats=3
target_se=10
max_repeats_s=40
max_repeats_t=8
min_events=20
event_ms=200
tokens_s=128
tokens_t=16
warmup=2
udp_engine="baseline: relaxed, importance: predictor"
udp_engine_t="baseline: relaxed, importance: predictor, adaptive_deadline: true"
root_spin_us="" # empty: the cluster file's default
run_timeout=900
cc=cubic
rt=0
out=$repo/build/ground-truth
build=$repo/build/bench
quick=0
tcp_stats=0
mem_share=5
pin=0
host_probe=1
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --models) models=${2:?}; shift ;;
    --losses) losses=${2:?}; shift ;;
    --nodes) nodes_list=${2:?}; shift ;;
    --systems) systems=${2:?}; shift ;;
    --repeats) repeats=${2:?}; shift ;;
    --target-se) target_se=${2:?}; shift ;;
    --max-repeats-s) max_repeats_s=${2:?}; shift ;;
    --min-events) min_events=${2:?}; shift ;;
    --event-ms) event_ms=${2:?}; shift ;;
    --max-repeats-t) max_repeats_t=${2:?}; shift ;;
    --tokens-s) tokens_s=${2:?}; shift ;;
    --tokens-t) tokens_t=${2:?}; shift ;;
    --warmup) warmup=${2:?}; shift ;;
    --udp-engine) udp_engine=${2:?}; shift ;;
    --udp-engine-t) udp_engine_t=${2:?}; shift ;;
    --root-spin-us) root_spin_us=${2:?}; shift ;;
    --run-timeout) run_timeout=${2:?}; shift ;;
    --cc) cc=${2:?}; shift ;;
    --no-rt) rt=0 ;;
    --rt) rt=1 ;;
    --out) out=${2:?}; shift ;;
    --tcp-stats) tcp_stats=1 ;;
    --mem-share) mem_share=${2:?}; shift ;;
    --pin) pin=1 ;;
    --no-host-probe) host_probe=0 ;;
    --build) build=${2:?}; shift ;;
    *) other_arg "$1" ;;
    esac
    shift
done
if [ $quick = 1 ]; then
    models=S
    losses="0 0.05"
    nodes_list="1 4"
    repeats=1
    tokens_s=48
    target_se=0
fi
case "$target_se" in '' | *[!0-9.]* | *.*.*) echo "ground-truth: --target-se: '$target_se' is not a number" >&2; exit 2 ;; esac
case "$min_events" in '' | *[!0-9]*) echo "ground-truth: --min-events: '$min_events' is not a whole number" >&2; exit 2 ;; esac
case "$event_ms" in '' | *[!0-9.]* | *.*.*) echo "ground-truth: --event-ms: '$event_ms' is not a number" >&2; exit 2 ;; esac
case "$mem_share" in '' | *[!0-9]*) echo "ground-truth: --mem-share: '$mem_share' is not a whole number" >&2; exit 2 ;; esac
if [ -n "$root_spin_us" ]; then
    case "$root_spin_us" in *[!0-9]*) echo "ground-truth: --root-spin-us: '$root_spin_us' is not a whole number of microseconds (0-10000)" >&2; exit 2 ;; esac
    [ "$root_spin_us" -le 10000 ] || { echo "ground-truth: --root-spin-us: $root_spin_us is above 10000" >&2; exit 2; }
fi
for m in "$max_repeats_s" "$max_repeats_t"; do
    case "$m" in '' | *[!0-9]*) echo "ground-truth: --max-repeats-s/-t: '$m' is not a whole number" >&2; exit 2 ;; esac
done
for n in $nodes_list; do
    case "$n" in 1 | 2 | 4) ;; *) echo "ground-truth: nodes must be 1, 2 or 4" >&2; exit 2 ;; esac
done
for s in $systems; do
    case "$s" in dllama | dllama-q40 | halo-strict | halo-udp) ;;
    *) echo "ground-truth: unknown system $s" >&2; exit 2 ;; esac
done

skip() { echo "skipped: $*" >&2; exit 77; }

# ==== Requirements ====
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, nftables)"
if [ $tcp_stats = 1 ]; then
    for t in nstat:iproute2 ss:iproute2 tcpdump:tcpdump; do
        command -v "${t%%:*}" >/dev/null 2>&1 ||
            skip "${t%%:*} not found (--tcp-stats; Debian package ${t#*:})"
    done
fi
# each tool with the Debian package that has it
for t in ip:iproute2 nft:nftables ethtool:ethtool timeout:coreutils git:git make:make g++:g++ \
    cmake:cmake sort:coreutils awk:gawk; do
    command -v "${t%%:*}" >/dev/null 2>&1 || skip "${t%%:*} not found (Debian package ${t#*:})"
done
scratch=${GT_SCRATCH:-${XDG_CACHE_HOME:-$HOME/.cache}/halo}
DLLAMA_DIR=${DLLAMA_DIR:-$scratch/dllama}
DLLAMA_COMMIT=${DLLAMA_COMMIT:-8d624a7}
dllama=$DLLAMA_DIR/src/dllama
mdir=$scratch/models
if ! [ -x "$dllama" ] && [ -z "${DLLAMA_GIT:-}" ]; then
    skip "distributed-llama is not built in $DLLAMA_DIR and DLLAMA_GIT is not set"
fi

t_start=$(date +%s)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/halo-gt.XXXXXX")
P=gt$$
NS_BR=$P-br
NS_R=$P-r
sub=$(($$ % 250 + 1))
ip_of() { echo "10.79.$sub.$(($1 + 1))"; } # node 0 = root, 1..3 = workers
made_ns=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for f in "$tmp"/*.pid; do
        [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
    for ns in $made_ns; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do
            kill -9 "$p" 2>/dev/null || true
        done
    done
    wait 2>/dev/null || true
    for ns in $made_ns; do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$tmp"
    [ $rc = 0 ] || log "failed (status $rc); everything it made is removed"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ==== Builds and files ====
halo=$build/app/halo
stamp=$build/tools/halo_linestamp
files=$build/tools/halo_dllama_files
membw=$build/tools/halo_membw
# Brought up to date (incremental) when configured, else configured and built by make bench.
if [ -f "$build/CMakeCache.txt" ]; then
    cmake --build "$build" -j "$(nproc)" >"$tmp/build.log" 2>&1 ||
        { tail -20 "$tmp/build.log" >&2; log "building $build failed"; exit 1; }
elif [ "$build" = "$repo/build/bench" ]; then
    log "building halo (make bench) into $build"
    make -C "$repo" bench >"$tmp/build.log" 2>&1 ||
        { tail -20 "$tmp/build.log" >&2; log "make bench failed"; exit 1; }
fi
[ -x "$halo" ] && [ -x "$stamp" ] && [ -x "$files" ] && [ -x "$membw" ] ||
    { log "$build has no halo, halo_linestamp, halo_dllama_files or halo_membw"; exit 1; }
if [ $host_probe = 1 ] && [ "$(nproc)" -lt 2 ]; then
    log "one core: no host probe (halo_membw needs two)"
    host_probe=0
fi

if ! [ -x "$dllama" ]; then
    log "fetching distributed-llama $DLLAMA_COMMIT from $DLLAMA_GIT into $DLLAMA_DIR/src"
    mkdir -p "$DLLAMA_DIR"
    rm -rf "$DLLAMA_DIR/src"
    git clone -q --no-checkout "$DLLAMA_GIT" "$DLLAMA_DIR/src" >&2
    git -C "$DLLAMA_DIR/src" checkout -q "$DLLAMA_COMMIT" >&2
    log "building distributed-llama (its Makefile, make dllama)"
    make -C "$DLLAMA_DIR/src" -j "$(nproc)" dllama >"$DLLAMA_DIR/build.log" 2>&1 ||
        { tail -20 "$DLLAMA_DIR/build.log" >&2; log "distributed-llama did not build"; exit 1; }
fi
dllama_rev=$(git -C "$DLLAMA_DIR/src" rev-parse --short HEAD 2>/dev/null || echo "?")

mkdir -p "$mdir" "$out"
# S: the bundled model; its distributed-llama files.
S_BIN=$repo/models/stories260K.bin
S_TOK=$repo/models/tok512.bin
make_file "$mdir/stories260K.m" "$files" model "$S_BIN" @OUT@
make_file "$mdir/stories260K.t" "$files" tokenizer "$S_TOK" @OUT@
T_BIN=$mdir/tinyllama-f32.bin
T_TOK=$mdir/tinyllama.tok.bin
case " $models " in *" T "*)
    make_file "$T_BIN" "$files" random-checkpoint @OUT@ --shape tinyllama
    make_file "$T_TOK" "$files" random-tokenizer 32000 @OUT@
    make_file "$mdir/tinyllama.t" "$files" tokenizer "$T_TOK" @OUT@
    make_file "$mdir/tinyllama-f32.m" "$files" model "$T_BIN" @OUT@ --type f32
    case " $systems " in *" dllama-q40 "*)
        make_file "$mdir/tinyllama-q40.m" "$files" model "$T_BIN" @OUT@ --type q40 ;;
    esac
    ;;
esac

model_bin() { if [ "$1" = S ]; then echo "$S_BIN"; else echo "$T_BIN"; fi; }
model_tok() { if [ "$1" = S ]; then echo "$S_TOK"; else echo "$T_TOK"; fi; }
model_tokens() { if [ "$1" = S ]; then echo "$tokens_s"; else echo "$tokens_t"; fi; }
dl_model() { # dl_model MODEL SYSTEM
    if [ "$1" = S ]; then echo "$mdir/stories260K.m"
    elif [ "$2" = dllama-q40 ]; then echo "$mdir/tinyllama-q40.m"
    else echo "$mdir/tinyllama-f32.m"; fi
}
dl_tok() { if [ "$1" = S ]; then echo "$mdir/stories260K.t"; else echo "$mdir/tinyllama.t"; fi; }
dl_buffer() { if [ "$1" = dllama-q40 ]; then echo q80; else echo f32; fi; } # dl_buffer SYSTEM
udp_engine_of() { # the halo-udp engine keys for model $1
    local e=$udp_engine bin
    [ "$1" = T ] && e=$udp_engine_t
    bin=$(model_bin "$1")
    if [[ "$e" == *"importance: predictor"* ]] && ! [ -e "${bin%.bin}.pred" ]; then
        e=$(echo "$e" | sed 's/,* *importance: predictor//; s/^, *//')
    fi
    echo "$e"
}

# ==== Network ====
setup_net() {
    ip netns add "$NS_BR" || skip "cannot create a network namespace"
    made_ns="$NS_BR"
    ip -n "$NS_BR" link add br0 type bridge
    ip -n "$NS_BR" link set br0 up
    ip -n "$NS_BR" link set lo up
    for i in 0 1 2 3; do
        local ns=$NS_R
        [ $i -gt 0 ] && ns=$P-w$i
        ip netns add "$ns"
        made_ns="$made_ns $ns"
        ip link add eth0 netns "$ns" type veth peer name "p$i" netns "$NS_BR" ||
            skip "cannot create a veth pair"
        ip -n "$ns" addr add "$(ip_of $i)/24" dev eth0
        ip -n "$ns" link set lo up
        ip -n "$ns" link set eth0 up
        if [ "$cc" != default ]; then
            ip -n "$ns" route replace "10.79.$sub.0/24" dev eth0 congctl "$cc" ||
                skip "cannot set congestion control $cc on a route"
        fi
        ip -n "$NS_BR" link set "p$i" master br0
        ip -n "$NS_BR" link set "p$i" up
        ip netns exec "$ns" ethtool -K eth0 tso off gso off gro off >/dev/null 2>&1 || true
        ip netns exec "$NS_BR" ethtool -K "p$i" tso off gso off gro off >/dev/null 2>&1 || true
        # UDP segmentation apart (a kernel without the feature refuses the whole command):
        # halo's segmented sends (UDP_SEGMENT, since 2026-12-07) otherwise cross the veth and
        # the bridge as one frame of up to 64 datagrams, which the drop rule takes or leaves
        # whole, where a wire loses each of its frames
        ip netns exec "$ns" ethtool -K eth0 tx-udp-segmentation off >/dev/null 2>&1 || true
        ip netns exec "$NS_BR" ethtool -K "p$i" tx-udp-segmentation off >/dev/null 2>&1 || true
    done
    ip netns exec "$NS_BR" nft add table bridge gtloss ||
        skip "nftables bridge tables do not work here"
    ip netns exec "$NS_BR" nft add chain bridge gtloss lossfwd \
        '{ type filter hook forward priority 0; policy accept; }'
    set_loss 0
    local off
    off=$(ip netns exec "$NS_R" ethtool -k eth0 2>/dev/null |
        awk '/^(tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload|tx-udp-segmentation):/ { printf "%s%s %s", s, $1, $2; s = ", " }')
    case "$off" in *"tx-udp-segmentation: on"*)
        skip "cannot turn UDP segmentation off on the veths (ethtool -K tx-udp-segmentation off): a drop would take a whole segmented send" ;;
    esac
    cc_used=$cc
    [ "$cc" = default ] && cc_used="$(ip netns exec "$NS_R" sysctl -n net.ipv4.tcp_congestion_control) (namespace default)"
    log "namespaces $NS_R, $P-w1..3 on bridge $NS_BR; root eth0: $off; TCP congestion control $cc_used"
}

set_loss() { # set_loss P: the bridge drops each IPv4 TCP/UDP frame with probability P
    local n
    n=$(awk -v p="$1" 'BEGIN { printf "%d", p * 10000 + 0.5 }')
    {
        echo "flush chain bridge gtloss lossfwd"
        echo "add rule bridge gtloss lossfwd ether type ip ip protocol { tcp, udp } counter"
        if [ "$n" -gt 0 ]; then
            echo "add rule bridge gtloss lossfwd ether type ip ip protocol { tcp, udp } numgen random mod 10000 lt $n counter drop"
        fi
    } | ip netns exec "$NS_BR" nft -f -
}

loss_counters() { # prints "frames dropped" since the last set_loss
    ip netns exec "$NS_BR" nft list chain bridge gtloss lossfwd |
        awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") v[n++] = $(i + 1) }
             END { printf "%d %d\n", v[0] + 0, v[1] + 0 }'
}

# ==== The kernel's TCP view of a run (--tcp-stats) ====
ns_of() { if [ "$1" = 0 ]; then echo "$NS_R"; else echo "$P-w$1"; fi; } # ns_of NODE_IDX
# tcp_zero NODES: zeroes each node namespace's TCP counters (nstat's history, one file per
# namespace): just before the loss is armed, so that the counters hold the lossy part.
tcp_zero() {
    local i
    for ((i = 0; i < $1; i++)); do
        NSTAT_HISTORY=$tmp/nstat.$i ip netns exec "$(ns_of $i)" nstat -n
    done
}
# tcp_watch NODES TAG: starts a capture of the frames each node sends (its bridge port's
# ingress, before the drop rule; headers only) and the sampler of the root's `ss -ti`, without
# waiting for them (when the loss is armed at the first token, after the arming: starting
# them takes up to a second on a busy machine, and tokens before the arming do not count; the
# capture then misses its first moments, and tcp.csv's capture_tokens counts only the tokens
# it holds). Every background process writes to a file (this runs inside $(...) then).
tcp_watch() {
    local nodes=$1 tag=$2 i
    for ((i = 0; i < nodes; i++)); do
        ip netns exec "$NS_BR" tcpdump -i "p$i" -Q in -nn -s 96 -B 32768 \
            -w "$out/tcp/$tag.p$i.pcap" tcp >/dev/null 2>&1 &
        echo $! >"$tmp/tcpdump-$i.pid"
    done
    (
        while :; do
            echo "# $EPOCHREALTIME"
            ip netns exec "$NS_R" ss -tinH
            sleep 0.25
        done >"$out/tcp/$tag.ss.txt" 2>/dev/null
    ) >/dev/null 2>&1 &
    echo $! >"$tmp/tcpss.pid"
}
# tcp_end NODES TAG SYSTEM MODEL LOSS NODES REP LOSSY_TOKENS RUN_OUTPUT PATTERN ARMED_LATE: the
# counters since tcp_zero, the captures read; appends the run's row to tcp.csv (capture_tokens:
# LOSSY_TOKENS's rule from the first captured frame on, from the run's stamped token lines)
tcp_end() {
    local nodes=$1 tag=$2 i f t_cap cap_tokens
    for ((i = 0; i < nodes; i++)); do
        NSTAT_HISTORY=$tmp/nstat.$i ip netns exec "$(ns_of $i)" nstat >"$out/tcp/$tag.nstat.$i.txt"
        rm -f "$tmp/nstat.$i"
    done
    sleep 0.3
    for f in "$tmp"/tcpdump-*.pid "$tmp/tcpss.pid"; do
        [ -e "$f" ] || continue
        kill "$(cat "$f")" 2>/dev/null || true
        rm -f "$f"
    done
    sleep 0.5
    local counters bands rto
    counters=$(cat "$out/tcp/$tag".nstat.*.txt | awk '
        { v[$1] += $2 }
        END { printf "%d,%d,%d,%d,%d,%d,%d,%d", v["TcpRetransSegs"], v["TcpExtTCPTimeouts"],
              v["TcpExtTCPLossProbes"], v["TcpExtTCPLossProbeRecovery"], v["TcpExtTCPFastRetrans"],
              v["TcpExtDelayedACKs"], v["TcpExtTCPSpuriousRTOs"], v["TcpExtTCPLostRetransmit"] }')
    bands=$(for ((i = 0; i < nodes; i++)); do
        tcpdump -nn -tt -S -r "$out/tcp/$tag.p$i.pcap" 2>/dev/null
    done | awk '
        / seq [0-9]+:[0-9]+/ {
            match($0, / seq [0-9]+:/); seq = substr($0, RSTART + 5, RLENGTH - 6)
            k = $3 " " seq; n++
            if (k in last) {
                g = ($1 - last[k]) * 1000
                b[g < 2 ? 0 : g < 50 ? 1 : g < 150 ? 2 : g < 300 ? 3 : g < 600 ? 4 : 5]++
            }
            last[k] = $1
        }
        END { printf "%d,%d,%d,%d,%d,%d,%d", n, b[0], b[1], b[2], b[3], b[4], b[5] }')
    rto=$({ grep -o 'rto:[0-9.]*' "$out/tcp/$tag.ss.txt" || true; } | cut -d: -f2 | sort -g | tail -n 1)
    t_cap=$(for ((i = 0; i < nodes; i++)); do
        tcpdump -nn -tt -c 1 -r "$out/tcp/$tag.p$i.pcap" 2>/dev/null | awk '{ print $1 }'
    done | sort -g | head -n 1)
    cap_tokens=$(awk -F'\t' -v pat="${10}" -v t0="${t_cap:-0}" -v late="${11}" '
        $2 ~ pat { t = $1 + 0; if (late == 1) { if (n++ && prev >= t0) c++ } else if (t >= t0) c++; prev = t }
        END { print c + 0 }' "$9")
    [ -n "$t_cap" ] || cap_tokens=0
    echo "$3,$4,$5,$6,$7,$8,$counters,$bands,${rto:-},$cap_tokens" >>"$out/tcp.csv"
}

# ==== Workers (started once per model, kept across runs) ====
# pin_to NODE: the array pinc, the prefix that pins node NODE's process with --pin (empty
# otherwise)
ncpu=$(nproc)
pin_to() {
    pinc=()
    [ $pin = 0 ] || pinc=(taskset -c "$(($1 % ncpu))")
}
start_bg() { # start_bg NAME NS NODE cmd...: a background process of node NODE in NS, pid in $tmp/NAME.pid
    local name=$1 ns=$2 pinc
    pin_to "$3"
    shift 3
    ip netns exec "$ns" timeout 36000 "${prio[@]}" "${pinc[@]}" "$@" >"$tmp/$name.log" 2>&1 &
    echo $! >"$tmp/$name.pid"
    disown $! # no job notices when cleanup kills it
}

stop_bg() { # stop_bg PREFIX: SIGTERM (timeout passes it on), then wait up to 10 s
    for f in "$tmp/$1"*.pid; do
        [ -e "$f" ] || continue
        local pid
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$f"
    done
}

start_dllama_workers() {
    for i in 1 2 3; do
        start_bg "dlw$i" "$P-w$i" "$i" "$dllama" worker --host "$(ip_of $i)" --port 9999 \
            --nthreads 1 --net-turbo 0
    done
    sleep 0.5
}

start_halo_workers() { # start_halo_workers MODEL
    local bin
    bin=$(model_bin "$1")
    for tr in tcp udp; do
        local port=7001
        [ $tr = udp ] && port=7002
        for i in 1 2 3; do
            start_bg "hw-$tr-$i" "$P-w$i" "$i" "$halo" worker --listen "$(ip_of $i):$port" \
                --key "$tmp/k.key" --model "$bin" --transport $tr --threads 1
        done
    done
    for f in "$tmp"/hw-*.log; do
        local ok=0
        for _ in $(seq 600); do
            grep -q "listening on" "$f" 2>/dev/null && { ok=1; break; }
            sleep 0.1
        done
        [ $ok = 1 ] || { cat "$f" >&2; log "halo worker did not start ($f)"; exit 1; }
    done
}

cluster_file() { # cluster_file MODEL SYSTEM NODES: writes the cluster file, prints its path
    local f=$tmp/$1-$2-$3.yaml port=7001 ws=()
    [ "$2" = halo-udp ] && port=7002
    for ((i = 1; i < $3; i++)); do ws+=("$(ip_of $i):$port"); done
    {
        echo "key: k.key"
        echo "workers: [$(IFS=,; echo "${ws[*]}")]"
        echo "join_timeout_ms: 30000"
        [ -z "$root_spin_us" ] || echo "spin_us: $root_spin_us"
        if [ "$2" = halo-strict ]; then
            echo "stall_ms: 60000"
            echo "engine: {baseline: dllama}"
        else
            echo "engine: {$(udp_engine_of "$1")}"
        fi
    } >"$f"
    echo "$f"
}

# ==== One run ====
# run_cell SYSTEM MODEL LOSS NODES REP: one run; appends its token intervals to samples.csv,
# a line to runs.csv, keeps its tokens in $tmp/text/, prints a progress line.
samples=$out/samples.csv
runs=$out/runs.csv
echo "system,model,loss,nodes,run,idx,ms" >"$samples"
echo "system,model,loss,nodes,run,tokens,ms_mean,frames,dropped,missing_pct,self_ms,wall_s,status" >"$runs"
phases=$out/phases.csv
echo "system,model,loss,nodes,run,idx,pred_ms,sync_ms" >"$phases"
cpu=$out/cpu.csv
echo "system,model,loss,nodes,run,user_pct,system_pct,idle_pct,steal_pct" >"$cpu"
probes=$out/hostprobe.csv
echo "system,model,loss,nodes,run,alone_before,pair_before,alone_after,pair_after,alone_huge_before,pair_huge_before,alone_huge_after,pair_huge_after" >"$probes"
# host_probe_now: halo_membw's "alone pair" (GB/s) with small pages, then with huge pages
# (as a socket cluster's nodes hold their packed weight windows), each "- -" when it failed
# (said on stderr)
host_probe_now() {
    local r pages
    for pages in small huge; do
        if r=$("$membw" --pages $pages 2>"$tmp/membw.err") && [ -n "$r" ]; then echo "$r"; else
            log "halo_membw --pages $pages failed: $(head -n 1 "$tmp/membw.err")"
            echo "- -"
        fi
    done | paste -sd ' '
}
# cpu_jiffies: the machine's CPU line of /proc/stat (user nice system idle iowait irq softirq
# steal), summed over the cores
cpu_jiffies() { awk '$1 == "cpu" { print $2, $3, $4, $5, $6, $7, $8, $9; exit }' /proc/stat; }
mkdir -p "$tmp/text"
if [ $tcp_stats = 1 ]; then
    mkdir -p "$out/tcp"
    echo "system,model,loss,nodes,run,lossy_tokens,retrans_segs,timeouts,probes,probe_recoveries,fast_retrans,delayed_acks,spurious_rtos,lost_retransmits,data_segs,rx_lt2,rx_2_50,rx_50_150,rx_150_300,rx_300_600,rx_ge600,rto_ms_max,capture_tokens" >"$out/tcp.csv"
fi
# cell_cmd SYSTEM MODEL NODES: the array cmd becomes the root's command line of that cell
cell_cmd() {
    local sys=$1 model=$2 nodes=$3 n
    n=$(model_tokens "$model")
    if [[ "$sys" == dllama* ]]; then
        cmd=("$dllama" inference --model "$(dl_model "$model" "$sys")" --tokenizer "$(dl_tok "$model")"
            --buffer-float-type "$(dl_buffer "$sys")" --nthreads 1 --prompt "" --steps "$n"
            --temperature 0 --seed 1 --max-seq-len 512 --net-turbo 0)
        if [ "$nodes" -gt 1 ]; then
            cmd+=(--workers)
            for ((i = 1; i < nodes; i++)); do cmd+=("$(ip_of $i):9999"); done
        fi
    else
        # --ignore-eos: every run decodes the positions asked for, as distributed-llama's
        # inference mode does (a cluster that misses contributions can meet an EOS early)
        cmd=("$halo" generate -m "$(model_bin "$model")" -z "$(model_tok "$model")" -t 0
            -n "$n" --threads 1 --ids --ignore-eos)
        if [ "$nodes" -gt 1 ]; then cmd+=(--cluster "$(cluster_file "$model" "$sys" "$nodes")"); fi
    fi
}

n_done=0
run_cell() {
    local sys=$1 model=$2 loss=$3 nodes=$4 rep=$5
    local n o=$tmp/run.out e=$tmp/run.err arm=0 status=ok cmd=() pinc
    n=$(model_tokens "$model")
    pin_to 0
    set_loss 0
    : >"$o"
    cell_cmd "$sys" "$model" "$nodes"
    # distributed-llama's weights stream to the workers at start: for T, arm the loss at the
    # first token.
    if [[ "$sys" == dllama* ]] && [ "$model" = T ] && [ "$nodes" -gt 1 ]; then arm=1; fi
    local tag="$sys-$model-$loss-$nodes-$rep"
    if [ $arm = 0 ]; then
        if [ $tcp_stats = 1 ]; then
            tcp_zero "$nodes"
            tcp_watch "$nodes" "$tag"
            sleep 0.3 # the captures are open by then
        fi
        set_loss "$loss"
    fi
    local t_arm=0 t0=$SECONDS cpu0 probe0=""
    [ $host_probe = 0 ] || [ "$model" != T ] || probe0=$(host_probe_now)
    cpu0=$(cpu_jiffies)
    (
        ip netns exec "$NS_R" timeout "$run_timeout" "${prio[@]}" "${pinc[@]}" "${cmd[@]}" 2>"$e" |
            "${stamper[@]}" >"$o"
        exit "${PIPESTATUS[0]}"
    ) &
    local pid=$!
    if [ $arm = 1 ]; then
        # The watcher runs above the systems' priority (as the stamper does): at normal
        # priority, four busy real-time processes on two cores starve it, and the loss was
        # armed only after most of the run's tokens.
        t_arm=$(
            [ ${#prio[@]} -gt 0 ] && chrt -f -p 10 "$BASHPID" >/dev/null
            while kill -0 $pid 2>/dev/null && ! grep -q "🔶" "$o"; do sleep 0.05; done
            [ $tcp_stats = 0 ] || tcp_zero "$nodes"
            set_loss "$loss"
            echo "$EPOCHREALTIME"
            [ $tcp_stats = 0 ] || tcp_watch "$nodes" "$tag"
        )
    fi
    local rc=0
    wait $pid || rc=$?
    if [ -n "$probe0" ]; then
        local p1
        p1=$(host_probe_now)
        local s0 h0 s1 h1
        read -r s0 h0 <<<"$(echo "$probe0" | awk '{ print $1 "," $2, $3 "," $4 }')"
        read -r s1 h1 <<<"$(echo "$p1" | awk '{ print $1 "," $2, $3 "," $4 }')"
        echo "$sys,$model,$loss,$nodes,$rep,${s0//-/},${s1//-/},${h0//-/},${h1//-/}" >>"$probes"
    fi
    # user+nice, system+irq+softirq, idle+iowait, steal (guest time is counted in user)
    echo "$cpu0 $(cpu_jiffies)" | awk -v k="$sys,$model,$loss,$nodes,$rep" '
        { for (i = 1; i <= 8; i++) d[i] = $(i + 8) - $i
          t = 0; for (i = 1; i <= 8; i++) t += d[i]
          if (t <= 0) t = 1
          printf "%s,%.2f,%.2f,%.2f,%.2f\n", k, 100 * (d[1] + d[2]) / t,
                 100 * (d[3] + d[6] + d[7]) / t, 100 * (d[4] + d[5]) / t, 100 * d[8] / t }' >>"$cpu"
    [ $rc = 0 ] || status=failed
    [ $rc != 124 ] || status=timeout
    local fd
    fd=$(loss_counters)
    # Token lines: distributed-llama's per-token lines; halo's ids.
    local pat='^[0-9]+$'
    [[ "$sys" == dllama* ]] && pat='^🔶 Pred'
    local line
    line=$(awk -F'\t' -v pat="$pat" -v w="$warmup" -v arm="$t_arm" -v sys="$sys" \
        -v model="$model" -v loss="$loss" -v nodes="$nodes" -v rep="$rep" -v out="$samples" \
        -v ph="$([[ "$sys" == dllama* ]] && echo "$phases")" '
        $2 ~ pat { t = $1 + 0; k++
                   if (k > 1 && prev >= arm + 0) { j++
                       if (j > w) { ms = (t - prev) * 1000; c++; s += ms
                                    printf "%s,%s,%s,%d,%d,%d,%.4f\n", sys, model, loss, nodes, rep, c, ms >> out
                                    if (ph != "" && match($2, /Pred +[0-9]+ ms Sync +[0-9]+ ms/)) {
                                        split(substr($2, RSTART, RLENGTH), f, / +/)
                                        printf "%s,%s,%s,%d,%d,%d,%d,%d\n", sys, model, loss, nodes, rep, c, f[2], f[5] >> ph } } }
                   prev = t }
        END { printf "%d %d %.4f %d\n", k, c, (c ? s / c : 0), j }' "$o")
    local k c mean j
    read -r k c mean j <<<"$line"
    if [ "$k" != "$n" ] && [ "$status" = ok ]; then
        status=failed
        log "$sys $model loss $loss nodes $nodes run $rep: $k token lines of $n"
    fi
    # The run's tokens, for same_text.
    if [[ "$sys" == dllama* ]]; then
        cut -f2- "$o" | awk '/^🔶 Pred/ { sub(/^.*Recv *[0-9]+ kB \| /, ""); print }' \
            >"$tmp/text/$sys-$model-$loss-$nodes-$rep"
    else
        cut -f2- "$o" | grep -E '^[0-9]+$' >"$tmp/text/$sys-$model-$loss-$nodes-$rep" || true
    fi
    local miss="" self="" dl=""
    if [[ "$sys" == dllama* ]]; then
        # Its Prediction line: tokens/s has more digits than its ms/tok.
        self=$(cut -f2- "$o" | sed -n 's/.*tokens\/s: \([0-9.]*\) (.*/\1/p' | tail -n 1 |
            awk '$1 > 0 { printf "%.4f", 1000 / $1 }')
    else
        self=$(sed -n 's/^halo: .*(\([0-9.]*\) ms\/token).*/\1/p' "$e")
        miss=$(sed -n 's/.*missing (\([0-9.]*\)%).*/\1/p' "$e" | head -n 1)
        # the root's mean first deadline (relaxed sync), for the mirror's compute_cv
        dl=$(sed -n 's/^root sync: mean deadline \([0-9.]*\) ms.*/\1/p' "$e" | head -n 1)
        if [ -n "$dl" ] && awk -v d="$dl" 'BEGIN { exit !(d > 0) }'; then
            echo "$sys,$model,$loss,$nodes,$rep,$dl" >>"$tmp/deadlines"
        fi
    fi
    if [ "$status" != ok ]; then
        log "run failed ($status): ${cmd[*]}"
        tail -5 "$e" >&2 || true
    fi
    if [ $tcp_stats = 1 ]; then
        # tokens made under loss: the intervals after the arming, or every token line
        tcp_end "$nodes" "$tag" "$sys" "$model" "$loss" "$nodes" "$rep" \
            "$([ $arm = 1 ] && echo "$j" || echo "$k")" "$o" "$pat" "$arm"
    fi
    local wall=$((SECONDS - t0))
    echo "$sys,$model,$loss,$nodes,$rep,$c,$mean,${fd% *},${fd#* },$miss,$self,$wall,$status" >>"$runs"
    n_done=$((n_done + 1))
    awk -v i="$n_done" -v N="$n_cells" -v s="$sys" -v m="$model" -v l="$loss" -v nd="$nodes" \
        -v r="$rep" -v c="$c" -v mean="$mean" -v fr="${fd% *}" -v dr="${fd#* }" -v st="$status" \
        -v w="$wall" '
        BEGIN { printf "ground-truth: [%d/%d] %s %s loss %g%% nodes %d run %d: %.3f ms/token (%d tokens, %d s)%s%s\n",
                i, N, s, m, 100 * l, nd, r, mean, c, w,
                (fr > 0 && l > 0 ? sprintf(", dropped %.2f%% of %d frames", 100 * dr / fr, fr) : ""),
                (st == "ok" ? "" : " [" st "]") > "/dev/stderr" }'
    set_loss 0
}

# ==== Memory shared on the host (T): single-device runs alone and two at once ====
# stamped_mean FILE PATTERN: the mean ms between the stamped lines of FILE that match
# PATTERN, the first --warmup intervals left out (empty when none is left)
stamped_mean() {
    awk -F'\t' -v pat="$2" -v w="$warmup" '
        $2 ~ pat { t = $1 + 0; if (k++ && ++j > w) { s += (t - prev) * 1000; c++ } prev = t }
        END { if (c) printf "%.4f", s / c }' "$1"
}
# single_run SYSTEM TAG [CORE]: one single-device T run of SYSTEM (dllama, dllama-q40 or
# halo), on CORE with --pin (default 0), its stamped token lines in $tmp/mem-TAG.out, in the
# background (pid in $tmp/mem-TAG.pid)
single_run() {
    local cmd=() pinc
    cell_cmd "$1" T 1
    pin_to "${3:-0}"
    (
        ip netns exec "$NS_R" timeout "$run_timeout" "${prio[@]}" "${pinc[@]}" "${cmd[@]}" 2>"$tmp/mem-$2.err" |
            "${stamper[@]}" >"$tmp/mem-$2.out"
        exit "${PIPESTATUS[0]}"
    ) &
    echo $! >"$tmp/mem-$2.pid"
}
# single_wait TAG SYSTEM: waits for the run TAG (in this shell: not inside $(...), whose
# subshell cannot wait for it); sets ms to its mean ms/token, empty if it failed
single_wait() {
    local pid rc=0 pat='^[0-9]+$'
    pid=$(cat "$tmp/mem-$1.pid")
    rm -f "$tmp/mem-$1.pid"
    wait "$pid" || rc=$?
    [[ "$2" != dllama* ]] || pat='^🔶 Pred'
    ms=""
    if [ $rc != 0 ]; then
        log "memory share: $2 run $1 failed (status $rc)"
        tail -3 "$tmp/mem-$1.err" >&2 || true
        return 0
    fi
    ms=$(stamped_mean "$tmp/mem-$1.out" "$pat")
}
# measure_mem_share: for each single-device T system selected, --mem-share rounds of one run
# alone and then two at once (after one run alone that is not counted: the page cache), into
# memshare.csv; the simulator's host_mem_bw_gbps is 2 mem_bw_gbps / (pair / alone)
# (tools/mirror-ground-truth.sh). Two, not four: two processes on two cores share nothing
# but the memory (and the last-level cache).
mem_share_line=""
measure_mem_share() {
    local list=() s r a p1 p2 ms
    for s in dllama dllama-q40; do
        case " $systems " in *" $s "*) list+=("$s") ;; esac
    done
    [ $has_halo = 0 ] || list+=(halo)
    echo "system,model,round,alone_ms,pair_a_ms,pair_b_ms" >"$out/memshare.csv"
    for s in "${list[@]}"; do
        log "memory share: $s T, $mem_share rounds of a run alone and two at once"
        single_run "$s" warm
        single_wait warm "$s"
        for ((r = 1; r <= mem_share; r++)); do
            single_run "$s" alone
            single_wait alone "$s"
            a=$ms
            single_run "$s" pa
            single_run "$s" pb 1
            single_wait pa "$s"
            p1=$ms
            single_wait pb "$s"
            p2=$ms
            echo "$s,T,$r,$a,$p1,$p2" >>"$out/memshare.csv"
            log "memory share: $s round $r: alone ${a:-failed} ms/token, two at once ${p1:-failed} and ${p2:-failed}"
        done
    done
    # per system: the mean times, and the median (range) over the rounds of each round's
    # ratio, the figure the mirror uses
    mem_share_line=$(memshare_stats "$out/memshare.csv" | awk '{
        printf "%s%s %.3f ms/token alone, %.3f two at once (x%.3f, rounds x%.3f-x%.3f, %d rounds)",
            (NR > 1 ? "; " : ""), $1, $5, $6, $2, $3, $4, $7 }')
    log "memory share: ${mem_share_line:-no round completed}"
}

# ==== Conversion check (S): distributed-llama on 1, 2, 4 nodes writes halo's text ====
check_text() {
    local nodes=$1 cmd
    cmd=("$dllama" inference --model "$mdir/stories260K.m" --tokenizer "$mdir/stories260K.t"
        --buffer-float-type f32 --nthreads 1 --prompt "" --steps 256 --temperature 0 --seed 1
        --net-turbo 0)
    if [ "$nodes" -gt 1 ]; then
        cmd+=(--workers)
        for ((i = 1; i < nodes; i++)); do cmd+=("$(ip_of $i):9999"); done
    fi
    ip netns exec "$NS_R" timeout 120 "${cmd[@]}" 2>/dev/null |
        awk '/^🔶 Pred/ { if (on) printf "%s", acc; on = 1; acc = $0
                          sub(/^.*Recv *[0-9]+ kB \| /, "", acc); next }
             /^Evaluation$/ { if (on) printf "%s", acc; on = 0; exit }
             on { acc = acc "\n" $0 }' | sed -e '1s/^ //' -e 's/[[:space:]]*$//' >"$tmp/check-$nodes.txt"
    if cmp -s "$tmp/check-$nodes.txt" "$tmp/check-halo.txt"; then echo yes; else echo NO; fi
}

# ==== Main ====
# The stamper runs at a real-time priority where it may, so that it reads each line as soon
# as it is written even when the machine is busy (it sleeps between lines).
# The systems under test run at normal priority unless --rt (SCHED_FIFO 5, below the
# stamper's 10: other jobs on the machine then wait for them instead of the reverse; the
# kernel still keeps 5% of each second for other tasks, sched_rt_runtime_us). Normal
# priority is the default since 2026-12-06: real clusters run so, and the simulator's
# shared-host model (a fair share of the cores) describes it; SCHED_FIFO's four processes
# on two cores are not a fair share (docs/ground-truth.md).
rt_prio "$rt"
stamper=("$stamp")
if chrt -f 10 true 2>/dev/null; then
    stamper=(chrt -f 10 "$stamp")
else
    log "chrt -f not permitted: the line stamps may lag on a busy machine"
fi
setup_net
"$halo" keygen "$tmp/k.key" >/dev/null
start_dllama_workers
export HALO_MODEL_DIR=$repo/models

conversion="not run (S not selected)"
case " $models " in *" S "*)
    "$halo" generate -m "$S_BIN" -z "$S_TOK" -t 0 -n 256 --threads 1 2>/dev/null |
        sed -e 's/[[:space:]]*$//' >"$tmp/check-halo.txt"
    conversion=""
    for nd in 1 2 4; do
        r=$(check_text $nd)
        conversion="$conversion${conversion:+, }$nd node$([ $nd = 1 ] || echo s): $r"
    done
    log "conversion check (distributed-llama on converted S = halo's single-device text, 256 tokens): $conversion"
    ;;
esac

# The cell list, to count.
has_halo=0
for s in $systems; do [[ "$s" == halo* ]] && has_halo=1; done
cells_of() { # cells_of MODEL NODES LOSS: the systems run at that point
    [ "$2" = 1 ] && [ "$3" != 0 ] && return 0
    for s in $systems; do
        [ "$s" = dllama-q40 ] && [ "$1" = S ] && continue # q40 slices of S: 16 values < 32
        if [[ "$s" == dllama* ]] || [ "$2" != 1 ]; then echo "$s"; fi
    done
    [ "$2" = 1 ] && [ $has_halo = 1 ] && echo halo
    return 0
}
# cell_runs SYSTEM MODEL LOSS NODES: runs of the cell so far (runs.csv)
cell_runs() {
    awk -F, -v s="$1" -v m="$2" -v l="$3" -v n="$4" \
        'NR > 1 && $1 == s && $2 == m && $3 == l && $4 == n { r++ } END { print r + 0 }' "$runs"
}
# unstable SYSTEM MODEL LOSS NODES: true when the cell needs another run of the top-up
# (tools/gt-unstable.awk: its standard error against --target-se, its costly events against
# --min-events), from runs.csv
unstable() {
    awk -F, -v s="$1" -v m="$2" -v l="$3" -v n="$4" -v t="$target_se" -v e="$min_events" \
        -v u="$event_ms" -f "$tools_dir/gt-unstable.awk" "$runs"
}
n_cells=0
for model in $models; do
    for nodes in $nodes_list; do
        for loss in $losses; do
            n_cells=$((n_cells + repeats * $(cells_of "$model" "$nodes" "$loss" | wc -l)))
        done
    done
done
log "$n_cells runs: models $models, losses $losses, nodes $nodes_list, $repeats repeats"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

for model in $models; do
    if [ "$model" = T ] && [ "$mem_share" -gt 0 ]; then measure_mem_share; fi
    [ $has_halo = 1 ] && start_halo_workers "$model"
    for ((rep = 1; rep <= repeats; rep++)); do
        for nodes in $nodes_list; do
            for loss in $losses; do
                mapfile -t list < <(cells_of "$model" "$nodes" "$loss")
                local_n=${#list[@]}
                [ "$local_n" -gt 0 ] || continue
                for ((j = 0; j < local_n; j++)); do
                    sys=${list[$(((j + rep - 1) % local_n))]}
                    run_cell "$sys" "$model" "$loss" "$nodes" "$rep"
                done
            done
        done
    done
    # Top-up (--target-se): rounds over the multi-node cells, one more run for each cell whose
    # mean is not yet stable, until none is left or all reached --max-repeats. The loss-free
    # cells too: every cost of loss is a difference with one (tools/gt-unstable.awk).
    while awk -v t="$target_se" 'BEGIN { exit !(t > 0) }'; do
        more=0
        for nodes in $nodes_list; do
            [ "$nodes" -gt 1 ] || continue
            for loss in $losses; do
                for sys in $(cells_of "$model" "$nodes" "$loss"); do
                    rep=$(cell_runs "$sys" "$model" "$loss" "$nodes")
                    [ "$rep" -lt "$([ "$model" = S ] && echo "$max_repeats_s" || echo "$max_repeats_t")" ] || continue
                    unstable "$sys" "$model" "$loss" "$nodes" || continue
                    n_cells=$((n_cells + 1))
                    run_cell "$sys" "$model" "$loss" "$nodes" $((rep + 1))
                    more=1
                done
            done
        done
        [ $more = 1 ] || break
    done
    stop_bg hw-
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(($(date +%s) - t_start))

# ==== Summary ====
csv=$out/ground-truth.csv
echo "system,model,loss,nodes,runs,failed,tokens,ms_mean,ms_p90,ms_run_min,ms_run_max,drop_rate,frames,dropped,same_text,missing_pct,self_ms,engine,deadline_ms" >"$csv"
touch "$tmp/deadlines"
engine_of() { # engine_of SYSTEM MODEL
    case "$1" in
    dllama) echo "distributed-llama $dllama_rev f32 weights f32 buffer net-turbo 0" ;;
    dllama-q40) echo "distributed-llama $dllama_rev q40 weights (embedding f32) q80 buffer net-turbo 0" ;;
    halo) echo "halo single device" ;;
    halo-strict) echo "baseline: dllama" ;;
    halo-udp) udp_engine_of "$2" | tr ',' ';' ;;
    esac
}
while IFS=, read -r sys model loss nodes; do
    ref=$tmp/text/$([[ "$sys" == dllama* ]] && echo "$sys" || echo halo)-$model-0-1-1
    same=0 nr=0
    for f in "$tmp/text/$sys-$model-$loss-$nodes-"*; do
        nr=$((nr + 1))
        [ -s "$ref" ] && cmp -s "$f" "$ref" && same=$((same + 1))
    done
    [ -s "$ref" ] && same="$same/$nr" || same="-"
    gt_cell_stats "$samples" "$runs" "$sys" "$model" "$loss" "$nodes"
    dl=$(awk -F, -v s="$sys" -v m="$model" -v l="$loss" -v n="$nodes" \
        '$1 == s && $2 == m && $3 == l && $4 == n { t += $6; k++ } END { if (k) printf "%.4f", t / k }' "$tmp/deadlines")
    echo "$sys,$model,$loss,$nodes,$nruns,$nfail,$ntok,$mean,$p90,$rmin,$rmax,$drate,$frames,$dropped,$same,$miss,$self,$(engine_of "$sys" "$model"),$dl" >>"$csv"
done < <(awk -F, 'NR > 1 && !seen[$1 FS $2 FS $3 FS $4]++ { print $1 "," $2 "," $3 "," $4 }' "$runs")

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "## Ground truth: real systems in network namespaces under kernel packet loss"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($cpu), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r);"
echo "load average $load_start at the start, $load_end at the end; $elapsed s in all."
echo "Root + workers each in a network namespace on one bridge; nftables random drops of IPv4 TCP/UDP"
echo "frames in both directions; TSO/GSO/GRO and UDP segmentation off; TCP congestion control $cc_used. $repeats run(s) per cell, interleaved; greedy from"
echo "BOS; S: $tokens_s tokens per run, T: $tokens_t; the first $warmup intervals of each run dropped;"
if awk -v t="$target_se" 'BEGIN { exit !(t > 0) }'; then
    echo "cells of 2 or more nodes topped up with more runs (up to $max_repeats_s on S, $max_repeats_t on T) until the standard error of the mean was at most"
    echo "$target_se% of the cost of loss (a loss-free cell: of the smallest over it)$([ "$min_events" -gt 0 ] && echo " and, on TCP, the runs held $min_events costly events (cost of loss x tokens / $event_ms ms)");"
fi
spin_said="${root_spin_us:-the default of the cluster file (20)}"
echo "the systems at $([ ${#prio[@]} -gt 0 ] && echo "real-time priority (${prio[*]})" || echo "normal priority"); halo's root polling $spin_said us before it sleeps (spin_us)."
echo "Conversion check (distributed-llama on converted S writes halo's single-device text): $conversion."
[ -z "$mem_share_line" ] || echo "Memory shared on the host (single-device T runs, alone and two at once; memshare.csv): $mem_share_line."
# the host probe's figures over all T runs: GB/s alone and two at once, small and huge pages
awk -F, 'NR > 1 { for (i = 6; i <= 12; i += 2) if ($i != "" && $(i + 1) != "") {
        k = (i < 10 ? "s" : "h"); a[k] += $i; p[k] += $(i + 1); n[k]++ } }
    END { if (n["s"]) printf "Host probe (halo_membw around every T run; hostprobe.csv), GB/s, mean over %d probes: one core alone %.1f, each of two at once %.1f with small pages", n["s"], a["s"] / n["s"], p["s"] / n["s"]
          if (n["h"]) printf "; %.1f and %.1f with huge pages", a["h"] / n["h"], p["h"] / n["h"]
          if (n["s"]) print "." }' "$probes"
echo
echo "| model | system | nodes | loss | ms/token mean | p90 | run means (min-max) | tokens | drops achieved | same text | missing |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for model in $models; do
    for sys in dllama dllama-q40 halo halo-strict halo-udp; do
        for nodes in $nodes_list; do
            for loss in $losses; do
                awk -F, -v s="$sys" -v m="$model" -v l="$loss" -v n="$nodes" '
                    NR > 1 && $1 == s && $2 == m && $3 == l && $4 == n {
                    printf "| %s | %s | %d | %g%% | %.3f | %.3f | %.3f-%.3f | %d%s | %s | %s | %s |\n",
                        $2, $1, $4, 100 * $3, $8, $9, $10, $11, $7,
                        ($6 > 0 ? " (" $6 " of " $5 " runs failed)" : ""),
                        ($12 == "" ? "-" : sprintf("%.2f%%", 100 * $12)), $15,
                        ($16 == "" ? "-" : $16 "%") }' "$csv"
            done
        done
    done
done
echo
echo "Engines: $(for s in $systems; do for m in $models; do printf '%s/%s = %s; ' "$s" "$m" "$(engine_of "$s" "$m")"; done; done)"
echo
echo "CSV: $csv (per cell), $samples (per token), $runs (per run)."
log "done in $elapsed s"
