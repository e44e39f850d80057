# Reads `tcpdump -nn -tt -S -r CAPTURE` lines (several captures concatenated and sorted by
# time: `sort -k1,1n`) and says what the needless retransmissions were: every ACK whose first
# SACK block lies below its cumulative ACK is a D-SACK (RFC 2883: the receiver got that range
# twice); the range's data segment, looked up in the opposite direction by its starting
# sequence, gives the time from its first send to its last one, banded as the retransmission
# kinds are (under 2 ms: RACK or fast retransmit; 2-50 ms: a loss probe or the reorder timer;
# 50-150 ms; 150 ms or more: a timeout). Also counts the data segments that arrive below the
# highest sequence already seen on their flow without having been seen before (reordered
# originals). Prints one line:
#   data N reordered R dsacks D bands <2ms A 2-50ms B 50-150ms C >=150ms E unmatched U
# (unmatched: a D-SACK whose range starts inside a segment, not at one).
# usage: tcpdump ... | sort -k1,1n | awk -f tools/tcp-dsack-bands.awk
{
    t = $1 + 0
    src = $3
    dst = $5
    sub(/:$/, "", dst)
}
/ seq [0-9]+:[0-9]+/ {
    match($0, / seq [0-9]+:[0-9]+/)
    split(substr($0, RSTART + 5, RLENGTH - 5), q, ":")
    s = q[1] + 0
    e = q[2] + 0
    flow = src ">" dst
    key = flow ":" s
    data++
    if ((flow in high) && s < high[flow] && !(key in first))
        reordered++
    if (!(flow in high) || e > high[flow])
        high[flow] = e
    if (!(key in first))
        first[key] = t
    last[key] = t
}
/ ack [0-9]+/ && /sack [0-9]+ \{[0-9]+:[0-9]+/ {
    match($0, / ack [0-9]+/)
    a = substr($0, RSTART + 5, RLENGTH - 5) + 0
    match($0, /sack [0-9]+ \{[0-9]+:[0-9]+/)
    blk = substr($0, RSTART, RLENGTH)
    sub(/.*\{/, "", blk)
    split(blk, b, ":")
    if (b[2] + 0 > a)
        next
    dsacks++
    key = dst ">" src ":" b[1] + 0 # the data flowed the other way
    if (!(key in first)) {
        band["unmatched"]++
        next
    }
    d = (last[key] - first[key]) * 1000
    band[d < 2 ? "<2ms" : d < 50 ? "2-50ms" : d < 150 ? "50-150ms" : ">=150ms"]++
}
END {
    printf "data %d reordered %d dsacks %d bands <2ms %d 2-50ms %d 50-150ms %d >=150ms %d unmatched %d\n",
        data, reordered, dsacks, band["<2ms"], band["2-50ms"], band["50-150ms"], band[">=150ms"],
        band["unmatched"]
}
