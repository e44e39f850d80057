# Whether a lossy cell of tools/ground-truth.sh needs another run (the top-up of few-event
# cells), from its runs.csv: exits 0 (needs one) or 1 (stable).
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
NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
$1 != s || $2 != m || $4 != n || $c["ms_mean"] == "" || $c["tokens"] + 0 == 0 { next }
$3 == l { k++; x += $c["ms_mean"]; xx += $c["ms_mean"] * $c["ms_mean"]; tok += $c["tokens"] }
$3 + 0 == 0 { k0++; x0 += $c["ms_mean"] }
END {
    if (k < 2)
        exit 0
    mean = x / k; v = (xx - k * mean * mean) / (k - 1); se = sqrt(v > 0 ? v / k : 0)
    cost = k0 ? mean - x0 / k0 : mean
    if (cost <= 0)
        cost = mean
    if (se > t / 100 * cost)
        exit 0
    if (s != "halo-udp" && e > 0 && u > 0 && cost * tok / u < e)
        exit 0
    exit 1
}
