#!/usr/bin/env bash
# Kernel TCP small-message latency under random packet loss, between two network namespaces
# joined by a veth pair: the reference the simulator's reliable-stream model is checked against
# (docs/kernel-tcp.md has a run and how to read it).
#
#   tools/measure-kernel-tcp.sh [options] [OUT.csv]      (default OUT: /tmp/kernel-tcp.csv)
#
#   --quick        sizes 1024 16384, loss 0 0.05, 100 exchanges each (the ctest `netns` entry)
#   --bin PATH     halo_tcp_pingpong (default: $HALO_TCP_PINGPONG, else build/*/tools/)
#   --sizes "..."  message sizes in bytes      (default: 1024 2048 4096 8192 16384)
#   --losses "..." drop probabilities          (default: 0 0.01 0.02 0.05)
#   --count N      exchanges per (size, loss)  (default: 2000, and 1000 at loss >= 0.05)
#   --warmup K     unrecorded exchanges first  (default: 20; quick: 5)
#   --interval-us U pause between exchanges    (default: 1000)
#   --rounds R     run the whole grid R times over, each (size, loss) run with 1/R of its
#                  exchanges (rounded up; default 1): this host's speed changes in phases of
#                  seconds to minutes, which one long run per cell samples unevenly between
#                  cells; rounds spread every cell over the whole session (docs/kernel-tcp.md)
#   --long-every N --long-us L  the pause before every Nth recorded exchange lasts L us
#                  instead (a long sleep, then N - 1 short pauses; both or neither)
#   --cc NAME      congestion control of the measured sockets, set per socket with
#                  TCP_CONGESTION (default: cubic, the Linux and Debian/Raspberry Pi OS
#                  default; "inherit" keeps the namespace's). Not the netns sysctl: a namespace
#                  may only make an algorithm its default when the host lists it in
#                  net.ipv4.tcp_allowed_congestion_control (else EPERM).
#   --drop TOOL    iptables or nft (default: iptables if it works, else nft)
#   --rt PRIO      run client and server at real-time priority PRIO (chrt -f; 0 = normal
#                  scheduling, the default): on a machine shared with other jobs, those
#                  jobs wait instead of delaying the exchange; on a quiet virtual machine it
#                  made small exchanges about 3x slower (docs/kernel-tcp.md)
#   --summarize CSV only print the latency tables of an earlier OUT (no root needed)
#
# Writes every sample to OUT as `size,loss,seq,rtt_ns` (with a header); beside it, OUT
# without .csv plus .log (TCP_INFO at the end of each connection, an `ss -ti` from the middle
# of each run) and plus .counters.csv (per run: packets seen and dropped by the rules, and
# nstat deltas: segments, retransmissions, RTOs, loss probes, fast retransmits, delayed ACKs,
# D-SACKs received and recoveries undone by them, the last two since 2026-12-07).
# Prints to stdout, in markdown: the kernel settings, RTT percentiles and RTT bands per
# (size, loss), and the counters. Progress goes to stderr.
#
# Needs root, `ip netns` (iproute2) and iptables (Debian package iptables; uses
# `-m statistic --mode random`) or nft (Debian package nftables; uses `numgen random`).
# Exits 77 with "skipped: ..." when one of them is missing or not permitted. Installs nothing.
#
# Setup: namespaces halo-tcp-a-PID and halo-tcp-b-PID, a veth pair created directly inside
# them (nothing is added to the host's namespace), addresses 10.213.X.1/24 and .2/24 there only.
# Loss: a random-drop rule on the INPUT hook of BOTH namespaces, matching the veth only, so
# data and ACKs are lost in both directions as on a lossy link. Dropping on the sender's
# OUTPUT is not a link loss: the sending stack sees the drop at once (UDP's sendto fails with
# EPERM; TCP hides the error from the application and just sends the segment again), so
# recovery is unrealistically fast. Kernel random drops cannot be seeded: runs differ.
# GSO is limited to one segment per packet on the veth (gso_max_segs 1): by default veth
# carries a 16 KB send as one 64 KB-capable GSO packet, which a drop rule would then lose as a
# whole, unlike a real link that carries 1448-byte segments.
# Delay: none can be added (no netem on these kernels); the base RTT is the veth's own, tens
# of microseconds, so the milliseconds in the results come from loss recovery (RTO, TLP,
# delayed ACKs) and, rarely, CPU scheduling, not from propagation.
# Everything (processes, namespaces, rules) is removed on exit, failure or Ctrl-C.
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SKIP=77
die() {
    echo "measure-kernel-tcp: $*" >&2
    exit 1
}
skip() {
    echo "skipped: $*" >&2
    exit "$SKIP"
}
usage() {
    script_help >&2
    exit "${1:-2}"
}

. "$repo/tools/netns.sh"

quick=0
bin=${HALO_TCP_PINGPONG-}
sizes=""
losses=""
count=""
warmup=""
interval_us=1000
rounds=1
long_every=""
long_us=""
cc=cubic
drop_pref=""
rt=0
summarize_csv=""
out=""
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --bin) bin=${2:?--bin needs a path}; shift ;;
    --sizes) sizes=${2:?--sizes needs a list}; shift ;;
    --losses) losses=${2:?--losses needs a list}; shift ;;
    --count) count=${2:?--count needs a number}; shift ;;
    --warmup) warmup=${2:?--warmup needs a number}; shift ;;
    --interval-us) interval_us=${2:?--interval-us needs a number}; shift ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift ;;
    --long-every) long_every=${2:?--long-every needs a number}; shift ;;
    --long-us) long_us=${2:?--long-us needs a number}; shift ;;
    --cc) cc=${2:?--cc needs a name}; shift ;;
    --drop) drop_pref=${2:?--drop needs iptables or nft}; shift ;;
    --rt) rt=${2:?--rt needs a priority}; shift ;;
    --summarize) summarize_csv=${2:?--summarize needs a CSV}; shift ;;
    -h | --help) usage 0 ;;
    -*) echo "measure-kernel-tcp: unknown option $1" >&2; usage ;;
    *) [ -z "$out" ] || usage; out=$1 ;;
    esac
    shift
done
out=${out:-/tmp/kernel-tcp.csv}
if [ "$quick" = 1 ]; then
    sizes=${sizes:-"1024 16384"}
    losses=${losses:-"0 0.05"}
    count=${count:-100}
    warmup=${warmup:-5}
else
    sizes=${sizes:-"1024 2048 4096 8192 16384"}
    losses=${losses:-"0 0.01 0.02 0.05"}
    warmup=${warmup:-20}
fi
for n in $sizes ${count:-1} $warmup $interval_us $rt $rounds $long_every $long_us; do
    [[ "$n" =~ ^[0-9]+$ ]] || die "not a number: $n"
done
[ "$rounds" -ge 1 ] || die "--rounds: at least 1"
[ "${long_every:+1}" = "${long_us:+1}" ] || die "--long-every and --long-us go together"
[ "${long_every:-1}" -ge 1 ] || die "--long-every: at least 1"
long_args=()
[ -z "$long_every" ] || long_args=(--long-every "$long_every" --long-us "$long_us")
for p in $losses; do
    awk -v p="$p" 'BEGIN { exit !(p ~ /^(0|0?\.[0-9]+|1)$/ && p >= 0 && p < 1) }' ||
        die "loss must be a probability in [0, 1): $p"
done
[ "$rt" -le 99 ] || die "--rt: a priority in 0..99, not $rt"
rt_cmd=()
[ "$rt" = 0 ] || rt_cmd=(chrt -f "$rt")
case "$drop_pref" in "" | iptables | nft) ;; *) die "--drop: iptables or nft, not $drop_pref" ;; esac

# summarize CSV: markdown tables of RTT percentiles and RTT bands per (size, loss) from a
# size,loss,seq,rtt_ns file (also available alone: --summarize CSV, no root needed).
summarize() {
    echo "RTT per exchange, ms (nearest-rank percentiles; >100 ms = fraction of exchanges):"
    echo
    echo "| size B | loss | n | mean | p50 | p90 | p99 | max | >100 ms |"
    echo "|-------:|-----:|--:|-----:|----:|----:|----:|----:|--------:|"
    tail -n +2 "$1" | sort -t, -k1,1n -k2,2g -k4,4n |
        awk -F, '
        function flush(   i, sum, over) {
            if (n == 0) return
            sum = 0; over = 0
            for (i = 1; i <= n; i++) { sum += v[i]; if (v[i] > 100e6) over++ }
            printf "| %d | %s | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.4f |\n", size, loss,
                   n, sum / n / 1e6, pct(50) / 1e6, pct(90) / 1e6, pct(99) / 1e6, v[n] / 1e6,
                   over / n
            n = 0
        }
        function pct(p,   r) { r = int(p / 100 * n); if (r < p / 100 * n) r++; if (r < 1) r = 1;
                               return v[r] }
        { if ($1 != size || $2 != loss) { flush(); size = $1; loss = $2 } v[++n] = $4 }
        END { flush() }'
    echo
    echo "Fraction of exchanges per RTT band, ms:"
    echo
    echo "| size B | loss | <1 | 1-5 | 5-20 | 20-60 | 60-150 | 150-300 | 300-600 | >=600 |"
    echo "|-------:|-----:|---:|----:|-----:|------:|-------:|--------:|--------:|------:|"
    tail -n +2 "$1" | sort -t, -k1,1n -k2,2g |
        awk -F, '
        function flush(   i) {
            if (n == 0) return
            printf "| %d | %s |", size, loss
            for (i = 0; i < 8; i++) printf " %.3f |", c[i] / n
            printf "\n"
            n = 0; split("", c)
        }
        { if ($1 != size || $2 != loss) { flush(); size = $1; loss = $2 }
          ms = $4 / 1e6
          b = ms < 1 ? 0 : ms < 5 ? 1 : ms < 20 ? 2 : ms < 60 ? 3 : ms < 150 ? 4 : ms < 300 ? 5 : ms < 600 ? 6 : 7
          c[b]++; n++ }
        END { flush() }'
}

if [ -n "$summarize_csv" ]; then
    [ -r "$summarize_csv" ] || die "cannot read $summarize_csv"
    summarize "$summarize_csv"
    exit 0
fi

# ---- can we run here?
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces and packet filter rules)"
command -v ip >/dev/null 2>&1 || skip "ip (iproute2) not found"
ip netns list >/dev/null 2>&1 || skip "'ip netns' is not available"
have_ipt=0
have_nft=0
command -v iptables >/dev/null 2>&1 && have_ipt=1
command -v nft >/dev/null 2>&1 && have_nft=1
[ $have_ipt = 1 ] || [ $have_nft = 1 ] ||
    skip "neither iptables nor nft found (Debian packages iptables or nftables)"

if [ -z "$bin" ]; then
    for b in "$repo"/build/dev/tools/halo_tcp_pingpong "$repo"/build/*/tools/halo_tcp_pingpong; do
        if [ -x "$b" ]; then
            bin=$b
            break
        fi
    done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    die "halo_tcp_pingpong not found; build it (cmake --build --preset dev) or pass --bin"
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
out_dir=$(dirname "$out")
[ -d "$out_dir" ] || die "no such directory: $out_dir"
log=${out%.csv}.log
[ "$log" != "$out" ] || log=$out.log

# ---- setup, with cleanup whatever happens
NS_A=halo-tcp-a-$$
NS_B=halo-tcp-b-$$
sub=$(($$ % 250 + 1))
IP_A=10.213.$sub.1
IP_B=10.213.$sub.2
DEV_A=halo-va
DEV_B=halo-vb
made_a=0
made_b=0
pids=()
tmp=$(mktemp -d "${TMPDIR:-/tmp}/halo-ktcp.XXXXXX")

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    # Anything still inside our namespaces was started by this script.
    [ $made_a = 0 ] || netns_remove "$NS_A"
    [ $made_b = 0 ] || netns_remove "$NS_B"
    rm -rf "$tmp"
    [ "$rc" = 0 ] || rm -f "$out.tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$NS_A" 2>"$tmp/err" || skip "cannot create a network namespace: $(cat "$tmp/err")"
made_a=1
ip netns add "$NS_B" 2>"$tmp/err" || skip "cannot create a network namespace: $(cat "$tmp/err")"
made_b=1
ina() { ip netns exec "$NS_A" "$@"; }
inb() { ip netns exec "$NS_B" "$@"; }

# One MSS per packet, as on a real Ethernet link (see the header).
veth_rc=0
netns_veth "$NS_A" "$DEV_A" "$IP_A" "$NS_B" "$DEV_B" "$IP_B" 1 2>"$tmp/err" || veth_rc=$?
[ $veth_rc -ne 1 ] || skip "cannot create a veth pair: $(cat "$tmp/err")"
[ $veth_rc -ne 2 ] ||
    echo "measure-kernel-tcp: warning: cannot set gso_max_segs 1; drops hit GSO packets" >&2
# The congestion control is set per socket (TCP_CONGESTION): a namespace may only make an
# algorithm its default when it is in the host's tcp_allowed_congestion_control (else EPERM).
cc_args=()
if [ "$cc" != inherit ]; then
    grep -qw -- "$cc" /proc/sys/net/ipv4/tcp_available_congestion_control 2>/dev/null ||
        die "congestion control '$cc' is not available (see tcp_available_congestion_control)"
    cc_args=(--cc "$cc")
fi

# ---- loss rules: $drop is the tool that works here
drop=""
# set_loss NS DEV P: (re)install a counting rule and, for P > 0, a random drop on NS's INPUT.
set_loss() {
    local ns=$1 dev=$2 p=$3
    if [ "$drop" = iptables ]; then
        ip netns exec "$ns" iptables -w -F INPUT || return 1
        ip netns exec "$ns" iptables -w -A INPUT -i "$dev" || return 1
        if awk -v p="$p" 'BEGIN { exit !(p > 0) }'; then
            ip netns exec "$ns" iptables -w -A INPUT -i "$dev" -m statistic --mode random \
                --probability "$p" -j DROP || return 1
        fi
    else
        ip netns exec "$ns" nft delete table inet halo_loss 2>/dev/null || true
        local rules="table inet halo_loss {
          chain input {
            type filter hook input priority 0; policy accept;
            iifname \"$dev\" counter"
        local thr
        thr=$(awk -v p="$p" 'BEGIN { printf "%d", p * 1000000 + 0.5 }')
        if [ "$thr" -gt 0 ]; then
            rules="$rules
            iifname \"$dev\" numgen random mod 1000000 < $thr counter drop"
        fi
        rules="$rules
          }
        }"
        ip netns exec "$ns" nft -f - <<<"$rules" || return 1
    fi
}
# counters NS: "seen dropped" packets on NS's veth input so far.
counters() {
    local ns=$1
    if [ "$drop" = iptables ]; then
        ip netns exec "$ns" iptables -w -L INPUT -v -x -n |
            awk 'NR > 2 { if ($3 == "DROP") d = $1; else s = $1 } END { print s + 0, d + 0 }'
    else
        ip netns exec "$ns" nft list table inet halo_loss |
            awk '/counter/ { for (i = 1; i < NF; i++) if ($i == "packets") v = $(i + 1);
                             if ($0 ~ /drop/) d = v; else s = v }
                 END { print s + 0, d + 0 }'
    fi
}
try_tool() {
    drop=$1
    set_loss "$NS_A" "$DEV_A" 0.5 2>>"$tmp/err" && set_loss "$NS_B" "$DEV_B" 0 2>>"$tmp/err"
}
tools=()
case "$drop_pref" in
iptables) tools=(iptables) ;;
nft) tools=(nft) ;;
*)
    [ $have_ipt = 1 ] && tools+=(iptables)
    [ $have_nft = 1 ] && tools+=(nft)
    ;;
esac
ok=0
: >"$tmp/err"
for t in "${tools[@]}"; do
    if ! command -v "$t" >/dev/null 2>&1; then
        echo "$t not found" >>"$tmp/err"
        continue
    fi
    if try_tool "$t"; then
        ok=1
        break
    fi
done
[ $ok = 1 ] || skip "cannot install a random-drop rule (${tools[*]}): $(tr '\n' ' ' <"$tmp/err")"

# ---- kernel settings, as the namespaces see them
sysctls=(net.ipv4.tcp_early_retrans net.ipv4.tcp_congestion_control
    net.ipv4.tcp_slow_start_after_idle net.ipv4.tcp_min_rtt_wlen net.ipv4.tcp_rto_min_us
    net.ipv4.tcp_recovery net.ipv4.tcp_sack net.ipv4.tcp_frto net.ipv4.tcp_thin_linear_timeouts
    net.ipv4.tcp_autocorking net.ipv4.tcp_no_metrics_save)
hz=""
if [ -r /proc/config.gz ]; then
    hz=$(zcat /proc/config.gz 2>/dev/null | sed -n 's/^CONFIG_HZ=//p')
elif [ -r "/boot/config-$(uname -r)" ]; then
    hz=$(sed -n 's/^CONFIG_HZ=//p' "/boot/config-$(uname -r)")
fi
echo "# Kernel TCP latency under random loss (veth between two network namespaces)"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); kernel: $(uname -r); CONFIG_HZ: ${hz:-unknown}"
echo "- drop rule: $drop on INPUT of both namespaces; veth MTU $(ip -n "$NS_A" -o link show \
    "$DEV_A" | sed -n 's/.* mtu \([0-9]*\).*/\1/p'), gso_max_segs 1"
rounds_note=""
[ "$rounds" = 1 ] || rounds_note=", $rounds rounds over the grid"
echo "- sizes: $sizes; losses: $losses; warm-up $warmup, interval ${interval_us} us${long_every:+,"\
    "every ${long_every}th pause $long_us us}$rounds_note;" \
    "exchanges per cell: ${count:-2000 (1000 at loss >= 0.05)}"
echo
echo "Congestion control of the measured sockets: $cc (set with TCP_CONGESTION)."
echo
echo "Kernel settings in the namespaces (host value in brackets where it differs):"
echo
echo '```'
for s in "${sysctls[@]}"; do
    v=$(ina sysctl -n "$s" 2>/dev/null) || continue
    h=$(sysctl -n "$s" 2>/dev/null || true)
    if [ "$h" != "$v" ]; then
        echo "$s = $v   [host: $h]"
    else
        echo "$s = $v"
    fi
done
echo '```'
echo

# ---- the runs
: >"$log"
echo "size,loss,seq,rtt_ns" >"$out.tmp"
nstat_ok=0
command -v nstat >/dev/null 2>&1 && nstat_ok=1
have_ss=0
command -v ss >/dev/null 2>&1 && have_ss=1
nstat_vars=(TcpOutSegs TcpRetransSegs TcpExtTCPTimeouts TcpExtTCPLossProbes
    TcpExtTCPLossProbeRecovery TcpExtTCPFastRetrans TcpExtTCPSpuriousRTOs TcpExtDelayedACKs
    TcpExtTCPDSACKRecv TcpExtTCPDSACKUndo)
# nstat_delta NS: "name value" lines of the nstat_vars since the previous call for NS.
nstat_delta() {
    NSTAT_HISTORY=$tmp/nstat.$1 ip netns exec "$1" nstat -z -s "${nstat_vars[@]}" 2>/dev/null |
        awk 'NF >= 2 && $1 !~ /^#/ { print $1, $2 }'
    NSTAT_HISTORY=$tmp/nstat.$1 ip netns exec "$1" nstat -n 2>/dev/null || true
}
if [ $nstat_ok = 1 ]; then
    NSTAT_HISTORY=$tmp/nstat.$NS_A ina nstat -n || nstat_ok=0
    NSTAT_HISTORY=$tmp/nstat.$NS_B inb nstat -n || nstat_ok=0
fi
echo "size,loss,pkts_a,drops_a,pkts_b,drops_b,${nstat_vars[*]}" | tr ' ' ',' >"$tmp/counters.csv"

run_limit=900 # seconds for one run at most; the tool's own timeouts should end it far sooner
port=5000
start_all=$(date +%s)
for round in $(seq 1 "$rounds"); do
for loss in $losses; do
    set_loss "$NS_A" "$DEV_A" "$loss" || die "cannot install the drop rule in $NS_A"
    set_loss "$NS_B" "$DEV_B" "$loss" || die "cannot install the drop rule in $NS_B"
    if [ -n "$count" ]; then
        n=$count
    elif awk -v p="$loss" 'BEGIN { exit !(p >= 0.05) }'; then
        n=1000
    else
        n=2000
    fi
    n=$(((n + rounds - 1) / rounds))
    for size in $sizes; do
        port=$((port + 1))
        ip -n "$NS_A" tcp_metrics flush all 2>/dev/null || true
        ip -n "$NS_B" tcp_metrics flush all 2>/dev/null || true
        read -r pa0 da0 <<<"$(counters "$NS_A")"
        read -r pb0 db0 <<<"$(counters "$NS_B")"
        [ $nstat_ok = 0 ] || { nstat_delta "$NS_A" >/dev/null; nstat_delta "$NS_B" >/dev/null; }
        t0=$(date +%s.%N)
        echo "== size $size loss $loss count $n round $round" >>"$log"
        # `ip netns exec` directly (not through a shell function) so that $! is the process.
        ip netns exec "$NS_B" timeout -k 5 "$run_limit" "${rt_cmd[@]}" "$bin" server --listen "$IP_B:$port" \
            --accept-timeout-ms 30000 "${cc_args[@]}" --tcp-info 2>>"$log" &
        spid=$!
        pids+=("$spid")
        ip netns exec "$NS_A" timeout -k 5 "$run_limit" "${rt_cmd[@]}" "$bin" client --connect "$IP_B:$port" --size "$size" \
            --count "$n" --warmup "$warmup" --interval-us "$interval_us" "${long_args[@]}" \
            --out "$tmp/run.csv" "${cc_args[@]}" --tcp-info 2>>"$log" &
        cpid=$!
        pids+=("$cpid")
        # `ss -ti` of the connection every 0.25 s while the client lives; the log keeps the
        # one from the middle of the run.
        k=0
        while kill -0 "$cpid" 2>/dev/null; do
            sleep 0.25
            if [ $have_ss = 1 ] && kill -0 "$cpid" 2>/dev/null; then
                k=$((k + 1))
                ina ss -tin dst "$IP_B" >"$tmp/ss.$k" 2>&1 || true
            fi
        done
        if [ $k -gt 0 ]; then
            m=$(((k + 1) / 2))
            echo "-- ss -ti at $(awk -v m=$m 'BEGIN { print m * 0.25 }') s of a" \
                "$(awk -v k=$k 'BEGIN { print k * 0.25 }') s run:" >>"$log"
            cat "$tmp/ss.$m" >>"$log"
            rm -f "$tmp"/ss.*
        fi
        crc=0
        wait "$cpid" || crc=$?
        src=0
        wait "$spid" || src=$?
        pids=()
        [ $crc = 0 ] || die "client failed (exit $crc) at size $size loss $loss; see $log"
        [ $src = 0 ] || die "server failed (exit $src) at size $size loss $loss; see $log"
        rows=$(($(wc -l <"$tmp/run.csv") - 1))
        [ "$rows" -eq "$n" ] || die "size $size loss $loss: $rows samples, expected $n"
        awk -F, -v l="$loss" 'NR > 1 { print $1 "," l "," $2 "," $3 }' "$tmp/run.csv" >>"$out.tmp"
        read -r pa1 da1 <<<"$(counters "$NS_A")"
        read -r pb1 db1 <<<"$(counters "$NS_B")"
        line="$size,$loss,$((pa1 - pa0)),$((da1 - da0)),$((pb1 - pb0)),$((db1 - db0))"
        if [ $nstat_ok = 1 ]; then
            { nstat_delta "$NS_A"; nstat_delta "$NS_B"; } >"$tmp/nstat"
            for v in "${nstat_vars[@]}"; do
                line="$line,$(awk -v k="$v" '$1 == k { s += $2 } END { print s + 0 }' \
                    "$tmp/nstat")"
            done
        else
            for v in "${nstat_vars[@]}"; do line="$line,"; done
        fi
        echo "$line" >>"$tmp/counters.csv"
        t1=$(date +%s.%N)
        awk -v s="$size" -v l="$loss" -v a="$t0" -v b="$t1" -v n="$n" \
            -v r="$round" -v rs="$rounds" \
            'BEGIN { printf "measure-kernel-tcp: size %5d loss %-4s %5d exchanges in %6.1f s%s\n",
                     s, l, n, b - a, (rs > 1 ? " (round " r " of " rs ")" : "") }' >&2
    done
done
done
mv "$out.tmp" "$out"
# one counters row per (size, loss): the rounds' runs summed, in the order of the first round
awk -F, -v OFS=, 'NR == 1 { print; next }
    { k = $1 "," $2; if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
      for (i = 3; i <= NF; i++) sum[k, i] += $i; nf = NF }
    END { for (j = 1; j <= nk; j++) { line = order[j]
              for (i = 3; i <= nf; i++) line = line "," sum[order[j], i] + 0
              print line } }' "$tmp/counters.csv" >"$tmp/counters.sum.csv"
mv "$tmp/counters.sum.csv" "$tmp/counters.csv"
cp "$tmp/counters.csv" "${out%.csv}.counters.csv" 2>/dev/null || true
echo "measure-kernel-tcp: $(($(wc -l <"$out") - 1)) samples in $out, total $(($(date +%s) - start_all)) s" >&2

summarize "$out"
echo
echo "Kernel counters per run, both namespaces together (drops = packets the rule dropped;"
echo "RTO = TCPTimeouts, TLP = TCPLossProbes, FR = TCPFastRetrans, dACK = DelayedACKs):"
echo
echo "| size B | loss | pkts | drops | drop % | segs out | retrans | RTO | TLP | TLP rec | FR | spurious RTO | dACK |"
echo "|-------:|-----:|-----:|------:|-------:|---------:|--------:|----:|----:|--------:|---:|-----------:|-----:|"
awk -F, 'NR > 1 { p = $3 + $5; d = $4 + $6
    printf "| %d | %s | %d | %d | %.2f | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, p, d,
           p ? 100 * d / p : 0, $7, $8, $9, $10, $11, $12, $13, $14 }' "$tmp/counters.csv"
echo
echo "End-of-connection TCP_INFO (client side) per run:"
echo
echo '```'
awk '/^== / { h = $0 } /^tcp_info role=client/ { print h; print "   " $0 }' "$log"
echo '```'
echo
echo "A mid-run ss -ti snapshot of the largest message at the largest loss:"
echo
echo '```'
awk -v s="$(echo "$sizes" | tr ' ' '\n' | sort -n | tail -1)" \
    -v l="$(echo "$losses" | tr ' ' '\n' | sort -g | tail -1)" '
    /^== / { on = ($3 == s && $5 == l); next } /^tcp_info/ { next } on { print }' "$log"
echo '```'
