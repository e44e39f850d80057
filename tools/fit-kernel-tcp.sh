#!/usr/bin/env bash
# Fits the host costs of the simulated request/response exchange (halo_sim_pingpong --host
# SEND_US,RECV_US,COPY_NS_PER_KB,RECV_JITTER_US[,COLD_US,COLD_MS] --link GBPS,LATENCY_US) on the
# LOSS-FREE rows of
# a kernel summary only (tools/measure-kernel-tcp.sh's samples through tools/tcp-summary.awk),
# so that tools/compare-kernel-tcp.sh can predict every lossy row with them.
#
# Fitted: the per-message cost (send_us = recv_us: on a symmetric exchange only their sum
# shows), the copy per KiB, the one-way latency and the mean of the receiver's varying
# wake-up (recv_jitter_us, exponential); the veth's rate stays at 10 Gbit/s. With --idle
# summaries (loss-free exchanges measured with longer pauses between them), also the cold
# wake-up (cold_wake_us, cold_wake_ms: a receiver asleep for t waits cold_wake_us (1 -
# exp(-(t / cold_wake_ms)^4)) more). Target: the squared log errors of the mean and of the p90 of
# every loss-free row, summed; Nelder-Mead from a fixed start, values kept >= 0 (the draws
# are seeded: the fit is deterministic). The four host costs are fitted on the main
# summary's rows, then the cold wake-up alone on the --idle rows.
#
# usage: tools/fit-kernel-tcp.sh [--count N] [--interval-us U] [--idle U=SUMMARY ...]
#                                [--tcp KEY=VALUE ...] [--latency-us L]
#                                [KERNEL_SUMMARY.csv [BUILD_DIR]]
#   --count N        simulated exchanges per row and evaluation (default 2000; an --idle
#                    row: its own count of kernel exchanges, at most N)
#   --interval-us U  the pause between the main summary's exchanges (default 1000, the
#                    measure's default)
#   --idle U=FILE    a summary of loss-free exchanges measured with U us between them
#                    (tools/measure-kernel-tcp.sh --interval-us U); repeatable
#   --tcp KEY=VALUE  a TCP setting for every simulated exchange (halo_sim_pingpong --tcp, as a
#                    scenario's engine.tcp.KEY); repeatable, and repeated in the printed args
#   --latency-us L   keep the one-way latency at L instead of fitting it (e.g. from the
#                    kernel's minimum RTT)
# default summary: sim/validation/kernel-tcp-2026-12-06-summary.csv.
# Prints the loss-free rows beside the fit, the fitted values and the arguments for
# tools/compare-kernel-tcp.sh (--args "--host ... --link ...").
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
count=2000
interval=1000
idle=()
tcp=()
latency=""
while [ $# -gt 0 ]; do
    case "$1" in
    --count) count=${2:?--count needs a number}; shift 2 ;;
    --interval-us) interval=${2:?--interval-us needs a number}; shift 2 ;;
    --idle) idle+=("${2:?--idle needs U=SUMMARY}"); shift 2 ;;
    --tcp) tcp+=("${2:?--tcp needs KEY=VALUE}"); shift 2 ;;
    --latency-us) latency=${2:?--latency-us needs a number}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fit-kernel-tcp: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
[[ "$count" =~ ^[1-9][0-9]*$ ]] || { echo "fit-kernel-tcp: --count: not a positive number: $count" >&2; exit 2; }
[[ "$interval" =~ ^[0-9]+$ ]] || { echo "fit-kernel-tcp: --interval-us: not a whole number: $interval" >&2; exit 2; }
for t in "${tcp[@]}"; do
    [[ "$t" =~ ^[a-z_]+=[^[:space:]]+$ ]] || { echo "fit-kernel-tcp: --tcp: not KEY=VALUE: $t" >&2; exit 2; }
done
[ -z "$latency" ] || [[ "$latency" =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
    { echo "fit-kernel-tcp: --latency-us: not a number: $latency" >&2; exit 2; }
for i in "${idle[@]}"; do
    [[ "$i" =~ ^[0-9]+=.+ ]] || { echo "fit-kernel-tcp: --idle: not U=SUMMARY: $i" >&2; exit 2; }
    [ -r "${i#*=}" ] || { echo "fit-kernel-tcp: --idle: cannot read ${i#*=}" >&2; exit 2; }
done
kernel=${1:-$here/sim/validation/kernel-tcp-2026-12-06-summary.csv}
build=${2:-$here/build/dev}
pp=$build/tools/halo_sim_pingpong
[ -x "$pp" ] || { echo "fit-kernel-tcp: no $pp (build first)" >&2; exit 2; }
[ -r "$kernel" ] || { echo "fit-kernel-tcp: cannot read $kernel" >&2; exit 2; }
command -v python3 >/dev/null || { echo "fit-kernel-tcp: needs python3" >&2; exit 2; }

HALO_FIT_TCP="${tcp[*]}" HALO_FIT_LATENCY="$latency" \
    python3 - "$pp" "$kernel" "$count" "$interval" "${idle[@]}" <<'EOF'
import math, os, subprocess, sys

pp, kernel, count, interval = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
tcp_args = [a for t in os.environ.get("HALO_FIT_TCP", "").split() for a in ("--tcp", t)]
fixed_lat = float(os.environ["HALO_FIT_LATENCY"]) if os.environ.get("HALO_FIT_LATENCY") else None
def die(msg):
    print(f"fit-kernel-tcp: {msg}", file=sys.stderr)
    sys.exit(2)

def read(path, pause):
    got = []
    with open(path) as f:
        for no, line in enumerate(f, 1):
            c = line.strip().split(",")
            if not line.strip() or c[0] == "size":
                continue
            try:
                if len(c) < 8:
                    raise ValueError(f"{len(c)} columns, not at least 8")
                size, loss, n = int(c[0]), float(c[1]), int(c[2])
                mean, p90 = float(c[3]), float(c[5])
                if size < 1 or n < 1 or not (mean > 0 and p90 > 0):
                    raise ValueError("size, n, mean and p90 must be positive")
            except ValueError as e:
                die(f"{path}:{no}: not a summary row (size,loss,n,mean_ms,p50_ms,p90_ms,...): {e}")
            if loss == 0:
                got.append((size, pause, n, mean, p90))
    if not got:
        die(f"{path}: no loss-free row (loss 0)")
    return got

main = read(kernel, interval)
idle = []
cold = len(sys.argv) > 5
for arg in sys.argv[5:]:
    pause, path = arg.split("=", 1)
    idle += read(path, int(pause))
rows = main + idle

# The simulated mean and p90 of a row at x. The simulator is deterministic for its arguments,
# which carry x rounded, and Nelder-Mead comes back to the same rounded points (its shrinks and
# a collapsing simplex): each distinct call runs once (1266 calls, 316 distinct, in the test).
simulated = {}
def simulate(x, size, pause, n):
    h, copy, lat, jit = x[:4]
    if fixed_lat is not None:
        lat = fixed_lat
    host = f"{h:.4f},{h:.4f},{copy:.2f},{jit:.4f}"
    if cold and x[4] > 0:
        host += f",{x[4]:.4f},{math.exp(x[5]):.6f}"
    args = (pp, "--size", str(size), "--loss", "0", "--count",
            str(min(n, count) if pause != interval else count), "--seed", "1",
            "--interval-us", str(pause), "--host", host, "--link", f"10,{lat:.4f}", *tcp_args)
    if args not in simulated:
        out = subprocess.run(args, capture_output=True, text=True)
        if out.returncode != 0:
            die(f"halo_sim_pingpong failed: {out.stderr.strip()}")
        v = sorted(int(l.split(",")[3]) / 1e6 for l in out.stdout.split())
        simulated[args] = (sum(v) / len(v), v[max(0, math.ceil(0.9 * len(v)) - 1)])
    return simulated[args]

def clamp(x):
    return [max(0.0, t) for t in x[:5]] + x[5:]

def cost(x, on):
    x = clamp(x)
    s = 0.0
    for size, pause, n, km, k90 in on:
        m, p90 = simulate(x, size, pause, n)
        s += math.log(m / km) ** 2 + math.log(p90 / k90) ** 2
    return s

def nelder_mead(f, x0, step, iters=160):
    pts = [list(x0)] + [[x0[j] + (step[j] if j == i else 0) for j in range(len(x0))]
                        for i in range(len(x0))]
    val = [f(p) for p in pts]
    for _ in range(iters):
        order = sorted(range(len(pts)), key=lambda i: val[i])
        pts, val = [pts[i] for i in order], [val[i] for i in order]
        n = len(x0)
        cen = [sum(p[j] for p in pts[:-1]) / n for j in range(n)]
        ref = [cen[j] + (cen[j] - pts[-1][j]) for j in range(n)]
        fr = f(ref)
        if fr < val[0]:
            exp = [cen[j] + 2 * (cen[j] - pts[-1][j]) for j in range(n)]
            fe = f(exp)
            pts[-1], val[-1] = (exp, fe) if fe < fr else (ref, fr)
        elif fr < val[-2]:
            pts[-1], val[-1] = ref, fr
        else:
            con = [cen[j] + 0.5 * (pts[-1][j] - cen[j]) for j in range(n)]
            fc = f(con)
            if fc < val[-1]:
                pts[-1], val[-1] = con, fc
            else:
                for i in range(1, len(pts)):
                    pts[i] = [pts[0][j] + 0.5 * (pts[i][j] - pts[0][j]) for j in range(n)]
                    val[i] = f(pts[i])
    i = min(range(len(pts)), key=lambda i: val[i])
    return pts[i], val[i]

# First the four host costs on the main summary's rows; then, with --idle, the cold wake-up on
# the --idle rows with those four kept (each on its own cells: fitted jointly, the many idle
# rows pulled the main ones off by up to 25%). The time constant is fitted as its logarithm
# (ms): it may span decades.
x, v = nelder_mead(lambda y: cost(y + ([0.0, 0.0] if cold else []), main),
                   [5.0, 1000.0, 1.0, 3.0], [2.0, 400.0, 1.0, 2.0])
if cold:
    c, v2 = nelder_mead(lambda y: cost(x + y, idle), [40.0, math.log(20.0)], [20.0, 1.0], 100)
    x, v = x + c, v + v2
x = clamp(x)
h, copy, lat, jit = x[:4]
if fixed_lat is not None:
    lat = fixed_lat
names = kernel.split('/')[-1] + "".join(f", {a.split('=', 1)[1].split('/')[-1]}" for a in sys.argv[5:])
print(f"Fitted on the {len(rows)} loss-free rows of {names} (mean and p90 of each, {count} "
      f"simulated exchanges per row, or the kernel's count where fewer, seed 1):")
print()
print("| size B | pause us | kernel mean ms | fit mean ms (error) | kernel p90 ms | fit p90 ms (error) |")
print("|---|---|---|---|---|---|")
for size, pause, n, km, k90 in rows:
    m, p90 = simulate(x, size, pause, n)
    print(f"| {size} | {pause} | {km:.4f} | {m:.4f} ({100 * (m - km) / km:+.0f}%) | {k90:.4f} | "
          f"{p90:.4f} ({100 * (p90 - k90) / k90:+.0f}%) |")
print()
extra = f", cold_wake_us {x[4]:.2f}, cold_wake_ms {math.exp(x[5]):.3f}" if cold else ""
print(f"send_us = recv_us {h:.2f}, copy_ns_per_kb {copy:.0f}, latency_us {lat:.2f}"
      f"{' (kept)' if fixed_lat is not None else ''}, "
      f"recv_jitter_us {jit:.2f}{extra} (sum of squared log errors {v:.4f})")
host = f"{h:.2f},{h:.2f},{copy:.0f},{jit:.2f}"
if cold and x[4] > 0:
    host += f",{x[4]:.2f},{math.exp(x[5]):.3f}"
tcp_text = "".join(f" --tcp {t}" for t in os.environ.get("HALO_FIT_TCP", "").split())
print(f'tools/compare-kernel-tcp.sh{tcp_text} --args "--host {host} --link 10,{lat:.2f}"')
EOF
