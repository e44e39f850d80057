#!/usr/bin/env bash
# tools/merge-ground-truth.sh: two harness folders with runs of one cell each become one
# folder whose runs are renumbered and whose cell rows are recomputed from the merged runs and
# samples (mean, p90, run range, same_text, deadline_ms weighted by runs); host probes with
# and without the huge-page columns are merged into one table; bad inputs are
# refused with exit 2 and nothing written.
# usage: test_merge_ground_truth.sh SOURCE_DIR
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
merge=$src/tools/merge-ground-truth.sh
H="system,model,loss,nodes,runs,failed,tokens,ms_mean,ms_p90,ms_run_min,ms_run_max,drop_rate,frames,dropped,same_text,missing_pct,self_ms,engine"
R="system,model,loss,nodes,run,tokens,ms_mean,frames,dropped,missing_pct,self_ms,wall_s,status"
S="system,model,loss,nodes,run,idx,ms"
mkdir "$tmp/a" "$tmp/b"
# a: cell x (halo-udp T 0.01 2) runs 1 and 2; b: cell x run 1, cell y (halo T 0 1) run 1
printf '%s,deadline_ms\nhalo-udp,T,0.01,2,2,0,4,15.0000,20.0000,10.0000,20.0000,0.0100,1000,10,0/2,10.00,15.000,e1,4.0000\n' "$H" >"$tmp/a/ground-truth.csv"
printf '%s\nhalo-udp,T,0.01,2,1,2,10.0000,500,5,10.00,10.000,9,ok\nhalo-udp,T,0.01,2,2,2,20.0000,500,5,10.00,20.000,9,ok\n' "$R" >"$tmp/a/runs.csv"
printf '%s\nhalo-udp,T,0.01,2,1,1,9\nhalo-udp,T,0.01,2,1,2,11\nhalo-udp,T,0.01,2,2,1,19\nhalo-udp,T,0.01,2,2,2,21\n' "$S" >"$tmp/a/samples.csv"
printf 'BOS; S: 128 tokens per run, T: 48; the first 2 intervals of each run dropped;\n' >"$tmp/a/table.md"
printf '%s,deadline_ms\nhalo-udp,T,0.01,2,1,1,2,40.0000,41.0000,40.0000,40.0000,0.0200,800,16,1/1,30.00,40.000,e2,7.0000\nhalo,T,0,1,1,0,2,5.0000,6.0000,5.0000,5.0000,,0,0,-,,5.000,e3,\n' "$H" >"$tmp/b/ground-truth.csv"
printf '%s\nhalo-udp,T,0.01,2,1,2,40.0000,800,16,30.00,40.000,9,failed\nhalo,T,0,1,1,2,5.0000,0,0,,5.000,3,ok\n' "$R" >"$tmp/b/runs.csv"
printf '%s\nhalo-udp,T,0.01,2,1,1,39\nhalo-udp,T,0.01,2,1,2,41\nhalo,T,0,1,1,1,4\nhalo,T,0,1,1,2,6\n' "$S" >"$tmp/b/samples.csv"
printf 'BOS; S: 128 tokens per run, T: 48; the first 2 intervals of each run dropped;\n' >"$tmp/b/table.md"

fail=0
check() { # WHAT GOT WANT
    [ "$2" = "$3" ] || { echo "$1: '$2', expected '$3'" >&2; fail=1; }
}
bash "$merge" "$tmp/m" "$tmp/a" "$tmp/b" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
# runs renumbered: b's run 1 of x is run 3
check "x's runs" "$(awk -F, '$1 == "halo-udp" { printf "%s ", $5 }' "$tmp/m/runs.csv")" "1 2 3 "
check "x's samples' runs" "$(awk -F, '$1 == "halo-udp" { printf "%s ", $5 }' "$tmp/m/samples.csv")" "1 1 2 2 3 3 "
check "y's run" "$(awk -F, '$1 == "halo" { print $5 }' "$tmp/m/runs.csv")" "1"
# x: 3 runs, 1 failed, 6 samples (9 11 19 21 39 41): mean 23.3333, p90 = the 6th (ceil 5.4)
# = 41; run means 10..40; frames 1800, dropped 26; missing (10+10+30)/3; self (10+20+40)/3;
# same text 0/2 + 1/1; engine of the first folder; deadline (2*4 + 1*7)/3 = 5
check "x's row" "$(grep '^halo-udp' "$tmp/m/ground-truth.csv")" \
    "halo-udp,T,0.01,2,3,1,6,23.3333,41.0000,10.0000,40.0000,0.0144,1800,26,1/3,16.67,23.333,e1,5.0000"
check "y's row" "$(grep '^halo,' "$tmp/m/ground-truth.csv")" "halo,T,0,1,1,0,2,5.0000,6.0000,5.0000,5.0000,,0,0,-,,5.000,e3,"
check "header" "$(head -n 1 "$tmp/m/ground-truth.csv")" "$H,deadline_ms"
check "tables" "$(for f in "$tmp"/m/*.md; do printf '%s ' "${f##*/}"; done)" "dir1-table.md dir2-table.md "

# hostprobe.csv with and without the huge-page columns: one table with all of them, the rows of
# the folder without them padded empty, runs renumbered
HP="system,model,loss,nodes,run,alone_before,pair_before,alone_after,pair_after"
printf '%s\nhalo-udp,T,0.01,2,1,30,20,30,20\n' "$HP" >"$tmp/a/hostprobe.csv"
printf '%s,alone_huge_before,pair_huge_before,alone_huge_after,pair_huge_after\nhalo-udp,T,0.01,2,1,30,20,30,20,33,21,33,21\n' "$HP" >"$tmp/b/hostprobe.csv"
bash "$merge" "$tmp/mh" "$tmp/a" "$tmp/b" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
check "hostprobe.csv merged" "$(tr '\n' ' ' <"$tmp/mh/hostprobe.csv")" \
    "$HP,alone_huge_before,pair_huge_before,alone_huge_after,pair_huge_after halo-udp,T,0.01,2,1,30,20,30,20,,,, halo-udp,T,0.01,2,3,30,20,30,20,33,21,33,21 "
# ... also when a folder with them is followed by one without (the header check must read
# every folder's header: a `grep -q` that stops early kills the next `head` under pipefail)
mkdir "$tmp/d"
cp "$tmp/a/"* "$tmp/d/"
bash "$merge" "$tmp/mh3" "$tmp/a" "$tmp/b" "$tmp/d" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
check "hostprobe.csv merged, new header in the middle" "$(tr '\n' ' ' <"$tmp/mh3/hostprobe.csv")" \
    "$HP,alone_huge_before,pair_huge_before,alone_huge_after,pair_huge_after halo-udp,T,0.01,2,1,30,20,30,20,,,, halo-udp,T,0.01,2,3,30,20,30,20,33,21,33,21 halo-udp,T,0.01,2,4,30,20,30,20,,,, "
rm -r "$tmp/d"
rm "$tmp/a/hostprobe.csv" "$tmp/b/hostprobe.csv"

# refused: OUT exists, a folder without runs.csv, headers that differ, too few folders
refused() { # WANT_IN_STDERR ARGS...
    local want=$1 rc=0
    shift
    bash "$merge" "$@" >/dev/null 2>"$tmp/err" || rc=$?
    [ "$rc" = 2 ] || { echo "exit $rc, expected 2 for: $*" >&2; fail=1; }
    grep -qF -- "$want" "$tmp/err" || { echo "stderr lacks '$want':" >&2; cat "$tmp/err" >&2; fail=1; }
}
refused "exists" "$tmp/m" "$tmp/a" "$tmp/b"
mkdir "$tmp/c"
cp "$tmp/a/ground-truth.csv" "$tmp/a/samples.csv" "$tmp/c/"
refused "$tmp/c/runs.csv: not readable" "$tmp/n1" "$tmp/a" "$tmp/c"
cp "$tmp/a/runs.csv" "$tmp/c/"
sed -i '1s/wall_s/wall/' "$tmp/c/runs.csv"
refused "runs.csv: header differs" "$tmp/n2" "$tmp/a" "$tmp/c"
refused "usage" "$tmp/n3" "$tmp/a"
for n in n1 n2 n3; do
    if [ -e "$tmp/$n" ]; then
        echo "a refused merge wrote $n" >&2
        fail=1
    fi
done
exit $fail
