# tools/lib.sh: what the measurement scripts in tools/ share (sourced, never run): the help
# text taken from a script's header comment, the end of their option loops, log lines on
# stderr named after the script, the figures read from halo's and distributed-llama's
# output, files made once, the real-time priority of the systems measured, and the medians
# and ratios of interleaved rounds (awk). Defines
# functions and the variables `tool`, `repo` and AWK_ROUNDS; runs nothing.

tool=$(basename "$0" .sh)

# The repository's root: the folder above tools/ (this file's folder).
# shellcheck disable=SC2034 # used by the scripts that source this file
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# gen_ms: the ms/token of a `halo generate` run, read from its stderr on stdin (the X of its
# line "... tokens/s (X ms/token), ..."); prints nothing when the line is absent.
gen_ms() { sed -n 's/.*(\([0-9.]*\) ms\/token).*/\1/p'; }

# gen_missing: the percentage of contributions a cluster's `halo generate` went without, read
# from its stderr on stdin (the X of "missing (X%)"); prints nothing when absent.
gen_missing() { sed -n 's/.*missing (\([0-9.]*\)%).*/\1/p'; }

# dllama_ms: distributed-llama's ms/token, read from the output of its `dllama inference` on
# stdin: the first "ms/tok" figure at or after its "Prediction" line; nothing when absent.
dllama_ms() { awk '/^Prediction/ { p = 1 } p && /ms\/tok/ { gsub(/[()]/, ""); print $3; exit }'; }

# script_help: the script's header comment (line 2 up to its `set -euo` line) without the
# leading '# '.
script_help() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

# For awk programs that summarise interleaved rounds: median(a, n) is the median of a[1..n]
# (sorted in place); over the table v[ROUND, KEY] of R rounds, ratios(num, den) sets x[1..R]
# to each round's v[r, num] / v[r, den] (unsorted) and lo, hi to their smallest and largest,
# and ratio(num, den) is their "**median x** (lo-hi)" (x sorted).
# shellcheck disable=SC2034 # used by the scripts that source this file
AWK_ROUNDS='
function median(a, n,    i, j, t) {
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function ratios(num, den,    r) {
    lo = 1e9; hi = 0
    for (r = 1; r <= R; r++) {
        x[r] = v[r, num] / v[r, den]
        if (x[r] < lo) lo = x[r]; if (x[r] > hi) hi = x[r]
    }
}
function ratio(num, den) {
    ratios(num, den)
    return sprintf("**%.2fx** (%.2f-%.2f)", median(x, R), lo, hi)
}'

# log MESSAGE...: "TOOL: MESSAGE" on stderr.
log() { echo "$tool: $*" >&2; }

# tcp_key_add KEY=VALUE: appends "KEY: VALUE" to $tcp_keys, the body of an engine.tcp flow
# mapping ("k: v, k: v") built from a script's --tcp options, or exits 2 naming the argument.
tcp_key_add() {
    [[ "$1" =~ ^[a-z_]+=[A-Za-z0-9._+-]+$ ]] ||
        { log "--tcp: '$1' is not KEY=VALUE (a key of engine.tcp, a number or a word)"; exit 2; }
    tcp_keys+="${tcp_keys:+, }${1%%=*}: ${1#*=}"
}

# other_arg ARG: an argument that a script's option loop does not take itself: -h or --help
# prints the help and exits 0; anything else exits 2 with "TOOL: unknown argument ARG".
other_arg() {
    case "$1" in
    -h | --help) script_help; exit 0 ;;
    *) log "unknown argument $1"; exit 2 ;;
    esac
}

# need_int OPTION VALUE LO HI WHAT: VALUE is a whole number from LO to HI, or the script
# exits 2 with "TOOL: OPTION: 'VALUE' is not WHAT".
need_int() {
    awk -v v="$2" -v lo="$3" -v hi="$4" 'BEGIN { exit !(v ~ /^[0-9]+$/ && v >= lo && v <= hi) }' ||
        { log "$1: '$2' is not $5"; exit 2; }
}

# need_file OPTION FILE HINT: FILE is a readable file, or the script exits 2 with
# "TOOL: OPTION: FILE: cannot read it (HINT)".
need_file() {
    [ -f "$2" ] && [ -r "$2" ] || { log "$1: $2: cannot read it ($3)"; exit 2; }
}

# make_file OUT CMD...: unless OUT exists and is not empty, runs CMD with @OUT@ in its
# arguments replaced by OUT.tmp (its stdout to stderr), then renames OUT.tmp to OUT.
make_file() {
    local f=$1
    shift
    [ -s "$f" ] && return 0
    log "writing $f"
    "${@//@OUT@/$f.tmp}" >&2
    mv "$f.tmp" "$f"
}

# memshare_stats FILE: per system of a ground-truth memshare.csv (tools/ground-truth.sh
# --mem-share), over its complete rounds, one line "SYSTEM MEDIAN MIN MAX ALONE PAIR ROUNDS":
# the median, smallest and largest of the rounds' ratios (the mean of the pair's runs over the
# run alone; the median is the figure tools/mirror-ground-truth.sh uses: this machine's speed
# drifts by 20% between rounds) and the mean ms/token alone and two at once. Rows are not
# checked here (the mirror checks them first).
memshare_stats() {
    awk -F, 'NR > 1 && $4 != "" && $5 != "" && $6 != "" {
            a[$1] += $4; p[$1] += ($5 + $6) / 2; r[$1, ++k[$1]] = ($5 + $6) / 2 / $4
            if (k[$1] == 1) o[++n] = $1 }
        END { for (i = 1; i <= n; i++) { s = o[i]; m = k[s]
                  for (x = 1; x <= m; x++) v[x] = r[s, x]
                  for (x = 2; x <= m; x++) for (y = x; y > 1 && v[y - 1] > v[y]; y--) { t = v[y]; v[y] = v[y - 1]; v[y - 1] = t }
                  printf "%s %.6g %.6g %.6g %.4f %.4f %d\n", s, (m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2),
                      v[1], v[m], a[s] / m, p[s] / m, m } }' "$1"
}

# rt_prio RT: the array prio becomes (chrt -f 5), SCHED_FIFO 5 for the systems under test,
# when RT is 1 and this process may use it; otherwise it is empty (with a log line saying so
# when RT is 1).
rt_prio() {
    prio=()
    if [ "$1" = 1 ]; then
        if chrt -f 5 true 2>/dev/null; then
            prio=(chrt -f 5)
        else
            log "chrt -f not permitted: the systems run at normal priority"
        fi
    fi
}

# start_workers DIR NAME CMD...: runs the command line CMD (a `halo worker` listening on a
# port 0, or the same behind a prefix such as `ip netns exec NS`) three times in the
# background, each with its output in DIR/NAME-I.log and its pid in DIR/NAME-I.pid (I = 1, 2,
# 3); waits up to 60 s for each one's "listening on ADDR " line and prints the three ADDRs
# comma-separated. Exits 1 with a log line when one does not start (run it in $(...): the
# caller's assignment then fails). stop_pids DIR NAME stops them.
start_workers() {
    local dir=$1 name=$2 addrs=() i a
    shift 2
    for i in 1 2 3; do
        "$@" >"$dir/$name-$i.log" 2>&1 &
        echo $! >"$dir/$name-$i.pid"
    done
    for i in 1 2 3; do
        a=""
        for _ in $(seq 600); do
            a=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\) .*/\1/p' "$dir/$name-$i.log" \
                2>/dev/null || true)
            [ -n "$a" ] && break
            sleep 0.1
        done
        [ -n "$a" ] || { log "worker $name-$i did not start"; exit 1; }
        addrs+=("$a")
    done
    (IFS=,; echo "${addrs[*]}")
}

# stop_pids DIR [NAME]: kills the process of every DIR/NAME-*.pid (of every DIR/*.pid without
# NAME) and removes those files; never fails, waits for nothing.
stop_pids() {
    local f
    for f in "$1/${2:+$2-}"*.pid; do
        [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
        rm -f "$f"
    done
}

# dllama_workers DLLAMA NS HOST DIR: starts three distributed-llama workers (one thread,
# --net-turbo 0) in namespace NS on HOST, on the ports after the global dl_port (which it
# advances, wrapping below 60000), logs DIR/dw-I.log, pids DIR/dw-I.pid (stop_pids DIR dw);
# their addresses go to the global array dl_addrs.
dllama_workers() {
    local i
    dl_addrs=()
    for i in 1 2 3; do
        dl_port=$((dl_port + 1))
        [ "$dl_port" -lt 60000 ] || dl_port=20001
        ip netns exec "$2" "$1" worker --host "$3" --port "$dl_port" --nthreads 1 \
            --net-turbo 0 >"$4/dw-$i.log" 2>&1 &
        echo $! >"$4/dw-$i.pid"
        dl_addrs+=("$3:$dl_port")
    done
}

# bench_tmp HALO PREFIX: for a script that runs a socket cluster of the binary HALO: exits 1
# with a log line unless HALO is executable; sets tmp to a new directory
# ${TMPDIR:-/tmp}/PREFIX.XXXXXX holding a cluster key tmp/k.key (HALO keygen); on exit (trap
# EXIT) the processes of its *.pid files are stopped (stop_pids), the caller's function
# cleanup_more runs when one is defined, and the directory is removed.
bench_tmp() {
    [ -x "$1" ] || { log "$1 not built"; exit 1; }
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/$2.XXXXXX")
    trap bench_cleanup EXIT
    "$1" keygen "$tmp/k.key" >/dev/null
}

# bench_cleanup: what bench_tmp runs on exit.
bench_cleanup() {
    stop_pids "$tmp"
    wait 2>/dev/null || true
    if declare -F cleanup_more >/dev/null; then cleanup_more; fi
    rm -rf "$tmp"
}

# gt_cell_stats SAMPLES RUNS SYSTEM MODEL LOSS NODES: one cell of tools/ground-truth.sh's
# output from its samples.csv and runs.csv, into the caller's variables: ntok, mean, p90 (of
# the token intervals; p90 nearest rank), nruns, nfail (status not ok), rmin, rmax (run means),
# frames, dropped (summed), drate (dropped / frames, at loss > 0), miss, self (means over the
# runs that have one); drate, miss and self are empty when there is no value. Used by the
# harness and by merge-ground-truth.sh, so that a merged cell is computed as the harness does.
gt_cell_stats() {
    local stats runstats
    stats=$(awk -F, -v s="$3" -v m="$4" -v l="$5" -v n="$6" \
        'NR > 1 && $1 == s && $2 == m && $3 == l && $4 == n { print $7 }' "$1" | sort -g |
        awk '{ v[NR] = $1; s += $1 } END { if (NR == 0) { print "0 - -"; exit }
             k = int(0.9 * NR); if (k < 0.9 * NR) k++; printf "%d %.4f %.4f\n", NR, s / NR, v[k] }')
    runstats=$(awk -F, -v s="$3" -v m="$4" -v l="$5" -v n="$6" '
        NR > 1 && $1 == s && $2 == m && $3 == l && $4 == n { r++
            if (mn == "" || $7 < mn) mn = $7; if (mx == "" || $7 > mx) mx = $7
            fr += $8; dr += $9; if ($10 != "") { ms += $10; nm++ } if ($11 != "") { ss += $11; ns++ }
            if ($13 != "ok") nf++ }
        END { printf "%d %d %.4f %.4f %d %d %s %s %s\n", r, nf, mn, mx, fr, dr,
              (fr > 0 && l > 0 ? sprintf("%.4f", dr / fr) : "-"), (nm ? sprintf("%.2f", ms / nm) : "-"),
              (ns ? sprintf("%.3f", ss / ns) : "-") }' "$2")
    # shellcheck disable=SC2034 # the caller's variables
    read -r ntok mean p90 <<<"$stats"
    # shellcheck disable=SC2034
    read -r nruns nfail rmin rmax frames dropped drate miss self <<<"$runstats"
    [ "$drate" != - ] || drate=""
    [ "$miss" != - ] || miss=""
    [ "$self" != - ] || self=""
}
