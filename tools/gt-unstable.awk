# Whether a cell of tools/ground-truth.sh needs another run (the top-up), from its runs.csv:
# exits 0 (needs one) or 1 (stable).
#
#   awk -F, -v s=SYSTEM -v m=MODEL -v l=LOSS -v n=NODES -v t=TARGET_SE_PCT \
#       -v e=MIN_EVENTS -v u=EVENT_MS -f tools/gt-unstable.awk runs.csv
#
# Needs one when it has fewer than 2 counted runs, or when the standard error of its mean
# ms/token over its runs (the spread of the run means: a run's token intervals are not
# independent draws) is above t% of its cost of loss (its mean above the loss-free cell of
# the same system, model and nodes; the mean itself without that cell), or, for the systems
# on TCP (all but halo-udp), when its runs together hold fewer than e costly events: its cost
# of loss times the tokens counted over all its runs, over u ms (a minimum retransmission
# timeout). Few events make a heavy tail: on 2026-12-06 three runs of distributed-llama S on 2
# nodes at 1% (about one timeout each) agreed on 2.18 ms/token, so the standard error stopped
# the top-up, while 40 runs of the same cell that morning measured 4.87.
# A loss-free cell (loss 0) needs one when it has fewer than 2 counted runs or when the
# standard error of its mean is above t% of the smallest positive cost of loss that rests on
# it (the lossy cells of the same system, model and nodes measured so far; its mean without
# one): every cost of loss is a difference with it, and on T a loss-free cell's runs differ
# by 4-12 times what their own tokens spread (the host's state between runs; 2026-12-06), so
# three of them left the 1% costs undecided.
NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
$1 != s || $2 != m || $4 != n || $c["ms_mean"] == "" || $c["tokens"] + 0 == 0 { next }
$3 == l { k++; x += $c["ms_mean"]; xx += $c["ms_mean"] * $c["ms_mean"]; tok += $c["tokens"] }
$3 + 0 == 0 { k0++; x0 += $c["ms_mean"] }
$3 + 0 > 0 { lsum[$3 + 0] += $c["ms_mean"]; lk[$3 + 0]++ }
END {
    if (k < 2)
        exit 0
    mean = x / k; v = (xx - k * mean * mean) / (k - 1); se = sqrt(v > 0 ? v / k : 0)
    if (l + 0 == 0) {
        least = mean
        for (q in lk) {
            d = lsum[q] / lk[q] - mean
            if (d > 0 && d < least)
                least = d
        }
        exit(se > t / 100 * least ? 0 : 1)
    }
    cost = k0 ? mean - x0 / k0 : mean
    if (cost <= 0)
        cost = mean
    if (se > t / 100 * cost)
        exit 0
    if (s != "halo-udp" && e > 0 && u > 0 && cost * tok / u < e)
        exit 0
    exit 1
}
