# Summarises `size,loss,seq,rtt_ns` samples (with or without a header line) into one row per
# (size, loss): size,loss,n,mean_ms,p50_ms,p90_ms,p99_ms,over100 (nearest-rank percentiles;
# over100 = fraction of exchanges above 100 ms). Rows come out sorted by size, then loss.
BEGIN { FS = ","; OFS = "," }
$1 == "size" { next }
{
    key = $1 "," $2
    n[key]++
    v[key, n[key]] = $4 / 1e6
    sum[key] += $4 / 1e6
    if ($4 > 100e6) over[key]++
}
END {
    for (key in n) {
        m = n[key]
        for (i = 1; i <= m; i++) s[i] = v[key, i]
        # insertion sort is too slow for 2000 samples x 20 keys in awk; use a simple heap sort
        heapsort(s, m)
        printf "%s,%d,%.4f,%.4f,%.4f,%.4f,%.4f\n", key, m, sum[key] / m, rank(s, m, 0.50),
            rank(s, m, 0.90), rank(s, m, 0.99), (over[key] + 0) / m | "sort -t, -k1,1n -k2,2n"
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
