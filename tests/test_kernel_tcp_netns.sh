#!/usr/bin/env bash
# Kernel TCP between two network namespaces under random loss (label netns), quick mode in two
# rounds: sizes 1024 and 16384, loss 0 and 0.05, 100 exchanges each (50 a round) = 400
# samples and a header, and one counters row per (size, loss), the two rounds summed
# (tools/measure-kernel-tcp.sh --rounds). Needs root, ip netns and iptables or nft; the
# script exits 77 (skipped) elsewhere.
# usage: test_kernel_tcp_netns.sh MEASURE_KERNEL_TCP HALO_TCP_PINGPONG OUT.csv
set -euo pipefail
script=$1 bin=$2 out=$3
rm -f "$out" "${out%.csv}.counters.csv"
rc=0
bash "$script" --quick --rounds 2 --bin "$bin" "$out" >/dev/null || rc=$?
[ "$rc" = 0 ] || exit "$rc"
fail=0
n=$(wc -l <"$out")
[ "$n" -eq 401 ] || { echo "expected 401 lines in $out, got $n" >&2; fail=1; }
for cell in 1024,0 16384,0 1024,0.05 16384,0.05; do
    k=$(grep -c "^$cell," "${out%.csv}.counters.csv" || true)
    [ "$k" = 1 ] || { echo "counters: $k rows for $cell, expected 1" >&2; fail=1; }
    s=$(grep -c "^${cell%,*},${cell#*,}," "$out" || true)
    [ "$s" = 100 ] || { echo "samples: $s for $cell, expected 100" >&2; fail=1; }
done
# the summed loss-free rows count both rounds' packets: at least 2 x (50 + 5 warm-up) requests
awk -F, '$1 == 1024 && $2 == 0 { exit !($3 >= 110) }' "${out%.csv}.counters.csv" ||
    { echo "counters: the 1024 B loss-free row does not sum two rounds" >&2; fail=1; }
exit $fail
