#!/usr/bin/env bash
# Merges the output folders of several runs of tools/ground-truth.sh into one, for
# tools/mirror-ground-truth.sh and `halo report fidelity`: a top-up run of some cells beside
# the run that measured the loss-free cells the mirror fits on.
#
#   tools/merge-ground-truth.sh OUT DIR1 DIR2 ...
#
# runs.csv, samples.csv, tcp.csv, phases.csv, cpu.csv and hostprobe.csv (where present) are
# concatenated with each cell's runs renumbered 1, 2, ... in the order of the folders given,
# so that runs of one cell from two folders stay distinct; ground-truth.csv gets one row per
# cell, computed from the merged runs and samples exactly as the harness computes it (mean
# and p90 of the token intervals, the smallest and largest run mean, frames and drops
# summed, missing_pct and self_ms the mean over the runs that have one); same_text adds up
# the folders' counts, engine is the first folder's, deadline_ms the mean of the folders'
# values weighted by their runs. The harness's markdown tables (*.md) are copied as
# DIRk-NAME.md, so the mirror still reads the token counts they state (and refuses folders
# whose counts disagree). OUT must not exist.
# Exit 2 on a bad argument, a missing or unreadable file, or CSV headers that differ.
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { echo "usage: tools/merge-ground-truth.sh OUT DIR1 DIR2 ... (--help)" >&2; exit 2; }
case "${1:-}" in
-h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
'' | -*) usage ;;
esac
[ $# -ge 3 ] || usage
out=$1
shift
[ ! -e "$out" ] || { echo "merge-ground-truth: $out: exists (give a new folder)" >&2; exit 2; }
for d in "$@"; do
    for f in ground-truth.csv runs.csv samples.csv; do
        [ -r "$d/$f" ] || { echo "merge-ground-truth: $d/$f: not readable" >&2; exit 2; }
    done
done
# headers: each file's must agree across folders (ground-truth.csv: with or without
# deadline_ms; hostprobe.csv: with or without the huge-page probe's columns, which the rows of
# a folder without them get empty)
hp_old="system,model,loss,nodes,run,alone_before,pair_before,alone_after,pair_after"
hp_new="$hp_old,alone_huge_before,pair_huge_before,alone_huge_after,pair_huge_after"
for f in runs.csv samples.csv tcp.csv phases.csv cpu.csv hostprobe.csv; do
    h=""
    for d in "$@"; do
        [ -r "$d/$f" ] || continue
        this=$(head -n 1 "$d/$f")
        [ "$f" != hostprobe.csv ] || [ "$this" != "$hp_new" ] || this=$hp_old
        [ -z "$h" ] || [ "$h" = "$this" ] ||
            { echo "merge-ground-truth: $d/$f: header differs from the first folder's" >&2; exit 2; }
        h=$this
    done
done
gt_head="system,model,loss,nodes,runs,failed,tokens,ms_mean,ms_p90,ms_run_min,ms_run_max,drop_rate,frames,dropped,same_text,missing_pct,self_ms,engine"
for d in "$@"; do
    case "$(head -n 1 "$d/ground-truth.csv")" in
    "$gt_head" | "$gt_head,deadline_ms") ;;
    *) echo "merge-ground-truth: $d/ground-truth.csv: not a harness table (header)" >&2; exit 2 ;;
    esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Renumbering: for each folder k, run r of a cell becomes the cell's runs before folder k + r.
# map.csv: k,system,model,loss,nodes,old_run,new_run
k=0
for d in "$@"; do
    k=$((k + 1))
    tail -n +2 "$d/runs.csv" | awk -F, -v k="$k" '{ print k "," $1 "," $2 "," $3 "," $4 "," $5 }'
done | awk -F, '{ cell = $2 FS $3 FS $4 FS $5; n[cell]++; print $0 "," n[cell] }' >"$tmp/map.csv"

# renumber FILE: FILE of every folder, the run (column 5) renumbered, header once
renumber() {
    local f=$1 k=0 d
    shift
    head -n 1 "$first/$f"
    for d in "$@"; do
        k=$((k + 1))
        [ -r "$d/$f" ] || continue
        tail -n +2 "$d/$f" | awk -F, -v OFS=, -v k="$k" 'FNR == NR { m[$1 FS $2 FS $3 FS $4 FS $5 FS $6] = $7; next }
            { key = k FS $1 FS $2 FS $3 FS $4 FS $5
              if (!(key in m)) { print "merge-ground-truth: no run " $5 " of " $1 " " $2 " " $3 " " $4 " in runs.csv" > "/dev/stderr"; exit 3 }
              $5 = m[key]; print }' "$tmp/map.csv" -
    done
}
first=$1
mkdir -p "$tmp/out"
for f in runs.csv samples.csv tcp.csv phases.csv cpu.csv hostprobe.csv; do
    [ -r "$first/$f" ] || continue
    renumber "$f" "$@" >"$tmp/out/$f" || { echo "merge-ground-truth: $f: a run not in its folder's runs.csv" >&2; exit 2; }
done
if [ -e "$tmp/out/hostprobe.csv" ] &&
    for d in "$@"; do [ -r "$d/hostprobe.csv" ] && head -n 1 "$d/hostprobe.csv"; done |
    grep -x "$hp_new" >/dev/null; then # not -q: a head after an early exit of grep is a SIGPIPE, a failure under pipefail
    awk -F, -v h="$hp_new" 'NR == 1 { print h; next } NF == 9 { print $0 ",,,,"; next } { print }' \
        "$tmp/out/hostprobe.csv" >"$tmp/hp.csv" && mv "$tmp/hp.csv" "$tmp/out/hostprobe.csv"
fi

# The cells' rows. extra.csv: per folder and cell, what runs.csv does not hold:
# k,system,model,loss,nodes,same_a,same_b,has_same,engine,deadline_ms
k=0
for d in "$@"; do
    k=$((k + 1))
    awk -F, -v k="$k" 'NR == 1 { dl = ($19 == "deadline_ms"); next }
        { split($15, st, "/"); print k "," $1 "," $2 "," $3 "," $4 "," st[1] + 0 "," st[2] + 0 "," ($15 ~ /\// ? 1 : 0) "," $18 "," (dl ? $19 : "") }' \
        "$d/ground-truth.csv"
done >"$tmp/extra.csv"
has_dl=0
grep -q ',deadline_ms$' <(for d in "$@"; do head -n 1 "$d/ground-truth.csv"; done) && has_dl=1
{
    echo "$gt_head$([ $has_dl = 1 ] && echo ,deadline_ms)"
    awk -F, 'NR > 1 && !seen[$1 FS $2 FS $3 FS $4]++ { print $1 "," $2 "," $3 "," $4 }' "$tmp/out/runs.csv" |
        while IFS=, read -r sys model loss nodes; do
            gt_cell_stats "$tmp/out/samples.csv" "$tmp/out/runs.csv" "$sys" "$model" "$loss" "$nodes"
            # same_text, engine and deadline_ms from the folders' rows of this cell
            same=$(awk -F, -v s="$sys" -v m="$model" -v l="$loss" -v n="$nodes" '
                $2 == s && $3 == m && $4 == l && $5 == n && $8 { a += $6; b += $7; t = 1 }
                END { print (t ? a "/" b : "-") }' "$tmp/extra.csv")
            engine=$(awk -F, -v s="$sys" -v m="$model" -v l="$loss" -v n="$nodes" '
                $2 == s && $3 == m && $4 == l && $5 == n { print $9; exit }' "$tmp/extra.csv")
            line="$sys,$model,$loss,$nodes,$nruns,$nfail,$ntok,$mean,$p90,$rmin,$rmax,$drate,$frames,$dropped,$same,$miss,$self,$engine"
            if [ $has_dl = 1 ]; then
                # weighted by each folder's runs of the cell (runs.csv of that folder)
                dl=$(k=0; for d in "$@"; do
                    k=$((k + 1))
                    r=$(awk -F, -v s="$sys" -v m="$model" -v l="$loss" -v n="$nodes" \
                        'NR > 1 && $1 == s && $2 == m && $3 == l && $4 == n { r++ } END { print r + 0 }' "$d/runs.csv")
                    v=$(awk -F, -v k="$k" -v s="$sys" -v m="$model" -v l="$loss" -v n="$nodes" \
                        '$1 == k && $2 == s && $3 == m && $4 == l && $5 == n { print $10; exit }' "$tmp/extra.csv")
                    [ -z "$v" ] || echo "$r $v"
                done | awk '{ w += $1; s += $1 * $2 } END { if (w) printf "%.4f", s / w }')
                line+=",$dl"
            fi
            echo "$line"
        done
} >"$tmp/out/ground-truth.csv"
k=0
for d in "$@"; do
    k=$((k + 1))
    for f in "$d"/*.md; do
        [ -r "$f" ] || continue
        cp "$f" "$tmp/out/dir$k-$(basename "$f")"
    done
done
mv "$tmp/out" "$out"
echo "merge-ground-truth: $# folders, $(($(wc -l <"$out/runs.csv") - 1)) runs of $(($(wc -l <"$out/ground-truth.csv") - 1)) cells into $out" >&2
