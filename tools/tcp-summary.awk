# Summarises `size,loss,seq,rtt_ns` samples (with or without a header line) into one row per
# (size, loss): size,loss,n,mean_ms,p50_ms,p90_ms,p99_ms,over100,mean_hw_ms,p90_lo_ms,p90_hi_ms
# (nearest-rank percentiles; over100 = fraction of exchanges above 100 ms; mean_hw_ms = the
# 95% half-width of the mean, 1.96 s / sqrt(n); p90_lo_ms..p90_hi_ms = a distribution-free
# 95% interval of the 90th percentile, the order statistics of ranks n q -+ 1.96 sqrt(n q
# (1 - q))). Rows come out sorted by size, then loss. The first eight columns are the
# format of the committed kernel summaries; readers index the columns, so new ones go last.
BEGIN { FS = ","; OFS = "," }
$1 == "size" { next }
{
    key = $1 "," $2
    n[key]++
    v[key, n[key]] = $4 / 1e6
    sum[key] += $4 / 1e6
    sq[key] += ($4 / 1e6) ^ 2
    if ($4 > 100e6) over[key]++
}
END {
    for (key in n) {
        m = n[key]
        for (i = 1; i <= m; i++) s[i] = v[key, i]
        # insertion sort is too slow for 2000 samples x 20 keys in awk; use a simple heap sort
        heapsort(s, m)
        mean = sum[key] / m
        var = m > 1 ? (sq[key] - m * mean * mean) / (m - 1) : 0
        w = 1.96 * sqrt(m * 0.9 * 0.1)
        lo = int(m * 0.9 - w); hi = int(m * 0.9 + w + 0.999999)
        lo = lo < 1 ? 1 : lo; hi = hi > m ? m : hi
        printf "%s,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f\n", key, m, mean, rank(s, m, 0.50),
            rank(s, m, 0.90), rank(s, m, 0.99), (over[key] + 0) / m,
            1.96 * sqrt(var > 0 ? var : 0) / sqrt(m), s[lo], s[hi] | "sort -t, -k1,1n -k2,2n"
    }
}
function rank(a, m, q,   i) { i = int(q * m + 0.999999); if (i < 1) i = 1; return a[i] }
function sift(a, i, m,   c, t) {
    while ((c = 2 * i) <= m) {
        if (c < m && a[c + 1] > a[c]) c++
        if (a[i] >= a[c]) return
        t = a[i]; a[i] = a[c]; a[c] = t; i = c
    }
}
function heapsort(a, m,   i, t) {
    for (i = int(m / 2); i >= 1; i--) sift(a, i, m)
    for (i = m; i > 1; i--) { t = a[1]; a[1] = a[i]; a[i] = t; sift(a, 1, i - 1) }
}
