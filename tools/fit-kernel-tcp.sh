#!/usr/bin/env bash
# Fits the host costs of the simulated request/response exchange (halo_sim_pingpong --host
# SEND_US,RECV_US,COPY_NS_PER_KB,RECV_JITTER_US --link GBPS,LATENCY_US) on the LOSS-FREE rows of
# a kernel summary only (tools/measure-kernel-tcp.sh's samples through tools/tcp-summary.awk),
# so that tools/compare-kernel-tcp.sh can predict every lossy row with them.
#
# Fitted: the per-message cost (send_us = recv_us: on a symmetric exchange only their sum
# shows), the copy per KiB, the one-way latency and the mean of the receiver's varying
# wake-up (recv_jitter_us, exponential); the veth's rate stays at 10 Gbit/s. Target: the
# squared log errors of the mean and of the p90 of every loss-free size, summed; Nelder-Mead
# from a fixed start, values kept >= 0 (the draws are seeded: the fit is deterministic).
#
# usage: tools/fit-kernel-tcp.sh [--count N] [KERNEL_SUMMARY.csv [BUILD_DIR]]
#   --count N  simulated exchanges per size and evaluation (default 2000)
# default summary: sim/validation/kernel-tcp-2026-12-06-summary.csv.
# Prints the loss-free rows beside the fit, the fitted values and the arguments for
# tools/compare-kernel-tcp.sh (--args "--host ... --link ...").
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
count=2000
while [ $# -gt 0 ]; do
    case "$1" in
    --count) count=${2:?--count needs a number}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fit-kernel-tcp: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
[[ "$count" =~ ^[1-9][0-9]*$ ]] || { echo "fit-kernel-tcp: --count: not a positive number: $count" >&2; exit 2; }
kernel=${1:-$here/sim/validation/kernel-tcp-2026-12-06-summary.csv}
build=${2:-$here/build/dev}
pp=$build/tools/halo_sim_pingpong
[ -x "$pp" ] || { echo "fit-kernel-tcp: no $pp (build first)" >&2; exit 2; }
[ -r "$kernel" ] || { echo "fit-kernel-tcp: cannot read $kernel" >&2; exit 2; }
command -v python3 >/dev/null || { echo "fit-kernel-tcp: needs python3" >&2; exit 2; }

python3 - "$pp" "$kernel" "$count" <<'EOF'
import math, subprocess, sys

pp, kernel, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
def die(msg):
    print(f"fit-kernel-tcp: {msg}", file=sys.stderr)
    sys.exit(2)

rows = []
with open(kernel) as f:
    for no, line in enumerate(f, 1):
        c = line.strip().split(",")
        if not line.strip() or c[0] == "size":
            continue
        try:
            if len(c) < 8:
                raise ValueError(f"{len(c)} columns, not at least 8")
            size, loss, mean, p90 = int(c[0]), float(c[1]), float(c[3]), float(c[5])
            if size < 1 or not (mean > 0 and p90 > 0):
                raise ValueError("size, mean and p90 must be positive")
        except ValueError as e:
            die(f"{kernel}:{no}: not a summary row (size,loss,n,mean_ms,p50_ms,p90_ms,...): {e}")
        if loss == 0:
            rows.append((size, mean, p90))
if not rows:
    die(f"{kernel}: no loss-free row (loss 0)")

def simulate(x, size):
    h, copy, lat, jit = x
    out = subprocess.run([pp, "--size", str(size), "--loss", "0", "--count", str(count),
                          "--seed", "1", "--host", f"{h:.4f},{h:.4f},{copy:.2f},{jit:.4f}",
                          "--link", f"10,{lat:.4f}"], capture_output=True, text=True, check=True)
    v = sorted(int(l.split(",")[3]) / 1e6 for l in out.stdout.split())
    return sum(v) / len(v), v[max(0, math.ceil(0.9 * len(v)) - 1)]

def cost(x):
    x = [max(0.0, t) for t in x]
    s = 0.0
    for size, km, k90 in rows:
        m, p90 = simulate(x, size)
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
    return [max(0.0, t) for t in pts[i]], val[i]

x, v = nelder_mead(cost, [5.0, 1000.0, 1.0, 3.0], [2.0, 400.0, 1.0, 2.0])
h, copy, lat, jit = x
print(f"Fitted on the {len(rows)} loss-free rows of {kernel.split('/')[-1]} (mean and p90 of "
      f"each, {count} simulated exchanges per size, seed 1):")
print()
print("| size B | kernel mean ms | fit mean ms (error) | kernel p90 ms | fit p90 ms (error) |")
print("|---|---|---|---|---|")
for size, km, k90 in rows:
    m, p90 = simulate(x, size)
    print(f"| {size} | {km:.4f} | {m:.4f} ({100 * (m - km) / km:+.0f}%) | {k90:.4f} | "
          f"{p90:.4f} ({100 * (p90 - k90) / k90:+.0f}%) |")
print()
print(f"send_us = recv_us {h:.2f}, copy_ns_per_kb {copy:.0f}, latency_us {lat:.2f}, "
      f"recv_jitter_us {jit:.2f} (sum of squared log errors {v:.4f})")
print(f'tools/compare-kernel-tcp.sh --args "--host {h:.2f},{h:.2f},{copy:.0f},{jit:.2f} '
      f'--link 10,{lat:.2f}"')
EOF
