# paper-repro/lib.sh: what the paper-repro scripts share (sourced, never run): the project
# root, the common options, the halo binary check, reading numbers out of halo's JSON
# output, a scratch directory, and scenario copies with engine settings overridden. Defines
# functions and the variables `here` and AWK_VAL; runs nothing.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# repro_options ARGS...: the options the scripts share, read from the front of ARGS up to
# the first other argument: --quick (quick=1), --out DIR (out), --jobs N (jobs, default the
# number of cores). Sets nargs to the count read; the caller then runs `shift "$nargs"`.
repro_options() {
    quick=0 out="" jobs=$(nproc 2>/dev/null || echo 2) nargs=0
    while [ $# -gt 0 ]; do
        case $1 in
        --quick) quick=1 ;;
        --out) out=$2; shift; nargs=$((nargs + 1)) ;;
        --jobs) jobs=$2; shift; nargs=$((nargs + 1)) ;;
        *) break ;;
        esac
        shift
        nargs=$((nargs + 1))
    done
}

# use_halo SCRIPT PATH [HINT]: halo=PATH, or exit 2 naming SCRIPT when it is not executable.
use_halo() {
    halo=$2
    [ -x "$halo" ] || {
        echo "$1: no halo binary at $halo${3:+ ($3)}" >&2
        exit 2
    }
}

# field KEY: the first number after "KEY": in the JSON on stdin.
field() { sed -n "s/.*\"$1\": \([0-9.e+-]*\).*/\1/p" | head -n 1; }

# For awk programs: val(s, key) is the number after "key": in the text s (one run's JSON).
AWK_VAL='function val(s, key,   t) { t = s; sub(".*\"" key "\": ", "", t); sub(/[,}].*/, "", t); return t + 0 }'

# run_stats: "mean_ms dropped_pct" of the halo sim --json output on stdin, averaged over its
# runs (the mean of their ms/token; missing over expected contributions, in percent).
run_stats() {
    awk '
    {
        n = split($0, runs, /\{"run": /)
        for (i = 2; i <= n; i++) {
            mean += val(runs[i], "mean_ms"); ex += val(runs[i], "expected")
            miss += val(runs[i], "missing"); k++
        }
        printf "%.1f %.2f\n", mean / k, (ex > 0 ? 100 * miss / ex : 0)
    }
    '"$AWK_VAL"
}

# scratch: tmp becomes a fresh directory, removed at exit.
scratch() {
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
}

# engine_overrides FILE KEY-VALUE...: sets each "key: value" under the scenario FILE's
# engine: block, replacing the key where the block has it already.
engine_overrides() {
    local f=$1 kv
    shift
    for kv in "$@"; do
        if grep -q "^  ${kv%%:*}:" "$f"; then
            sed -i "s|^  ${kv%%:*}:.*|  $kv|" "$f"
        else
            sed -i "s|^engine:|engine:\n  $kv|" "$f"
        fi
    done
}
