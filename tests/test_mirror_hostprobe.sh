#!/usr/bin/env bash
# tools/mirror-ground-truth.sh's per-cell host state from the harness's hostprobe.csv
# (halo_membw before and after every T run): a multi-node T cell whose runs met a slowdown two
# at once R (alone / pair, the mean of a run's probes, the mean over the cell's runs) is
# mirrored with host_mem_bw_gbps = 2 mem_bw_gbps / R (the default, --host-probe pair), and
# with --host-probe both its mem_bw_gbps is also the fitted one times its runs' alone figure
# over the single-device cell's; a run whose probes failed is left out; off falls back to the
# family's figure; a malformed file is refused with its file:line. With the huge-page columns
# (since 2026-12-07) halo's multi-node T cells get their nodes' huge-page reads
# (--packed-pages auto, the default; off: as other cells).
# usage: test_mirror_hostprobe.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
src=$1
build=$2
# shellcheck source=tests/lib.sh
. "$src/tests/lib.sh"
scratch_dir mirror-hostprobe
gt=$tmp/gt
mkdir "$gt"
{
    echo "system,model,loss,nodes,runs,failed,tokens,ms_mean,ms_p90,ms_run_min,ms_run_max,drop_rate,frames,dropped,same_text,missing_pct,self_ms,engine"
    echo "dllama,T,0,1,1,0,2,160,160,160,160,,0,0,1/1,,160,x"
    echo "dllama,T,0,2,2,0,4,100,100,100,100,,0,0,1/1,,100,x"
} >"$gt/ground-truth.csv"
{
    echo "system,model,loss,nodes,run,tokens,ms_mean,frames,dropped,missing_pct,self_ms,wall_s,status"
    echo "dllama,T,0,1,1,2,160,0,0,,160,1,ok"
    echo "dllama,T,0,2,1,2,100,10,0,,100,1,ok"
    echo "dllama,T,0,2,2,2,100,10,0,,100,1,ok"
} >"$gt/runs.csv"
{
    echo "system,model,loss,nodes,run,idx,ms"
    echo "dllama,T,0,1,1,1,160"
    echo "dllama,T,0,1,1,2,160"
    for r in 1 2; do echo "dllama,T,0,2,$r,1,100"; echo "dllama,T,0,2,$r,2,100"; done
} >"$gt/samples.csv"
# single device: alone 30; 2 nodes, run 1: 24/16 and 24/16 (x1.5); run 2: 24/24 and 24/12
# (x1 and x2: x1.5); run 3's probes failed. Alone 24 against 30: mem_bw_gbps x0.8.
{
    echo "system,model,loss,nodes,run,alone_before,pair_before,alone_after,pair_after"
    echo "dllama,T,0,1,1,30,30,30,30"
    echo "dllama,T,0,2,1,24,16,24,16"
    echo "dllama,T,0,2,2,24,24,24,12"
    echo "dllama,T,0,2,3,,,,"
} >"$gt/hostprobe.csv"
# 5 bisection steps a figure: every check is of what follows from a fit, not of its digits
args=(--build "$build" --cache-mb 0 --tokens-s 5 --tokens-t 5 --skip 1 --runs 1 --steps 5)
mirror() { # ARGS...: the mirror into $tmp/db, stdout in $tmp/out, stderr in $tmp/err
    rm -f "$tmp/db"
    bash "$src/tools/mirror-ground-truth.sh" "${args[@]}" --db "$tmp/db" "$@" "$gt" >"$tmp/out" 2>"$tmp/err" ||
        { cat "$tmp/err" >&2; return 1; }
}
# ratio CELL: host_mem_bw_gbps / mem_bw_gbps in the mirrored scenario CELL's profile (the
# database's scenario text), or "-" without a host bandwidth
ratio() {
    sqlite3 "$tmp/db" "SELECT text FROM scenario WHERE name = 'mirror/$1'" | awk '
        /profile:/ { b = "-"; h = "-"
                     if (match($0, /[{ ]mem_bw_gbps: [0-9.e+-]+/)) b = substr($0, RSTART + 14, RLENGTH - 14)
                     if (match($0, /host_mem_bw_gbps: [0-9.e+-]+/)) h = substr($0, RSTART + 18, RLENGTH - 18)
                     if (h == "-") print "-"; else printf "%.4f\n", h / b }'
}
# scale CELL: the mirrored scenario CELL's mem_bw_gbps over that of the single-device cell
scale() {
    sqlite3 "$tmp/db" "SELECT name, text FROM scenario WHERE name IN ('mirror/$1', 'mirror/dllama/T/1/0')" | awk -v c="mirror/$1" '
        /^mirror\// { name = substr($0, 1, index($0, "|") - 1) }
        /profile:/ && match($0, /[{ ]mem_bw_gbps: [0-9.e+-]+/) { b[name] = substr($0, RSTART + 14, RLENGTH - 14) }
        END { printf "%.4f\n", b[c] / b["mirror/dllama/T/1/0"] }'
}
check "the mirror runs (--host-probe both)" mirror --host-probe both
check "per-cell host bandwidth: 2 mem_bw_gbps / 1.5" [ "$(ratio dllama/T/2/0)" = 1.3333 ]
check "the Not fitted line names the cell's slowdown and alone figure" grep -q "dllama 0%/2 x1.5 a0.8[,.]" "$tmp/out"
check "no host bandwidth on a single device" [ "$(ratio dllama/T/1/0)" = - ]
check "--host-probe both: mem_bw_gbps x0.8" [ "$(scale dllama/T/2/0)" = 0.8000 ]
check "the mirror runs (default: --host-probe pair)" mirror
check "--host-probe pair: mem_bw_gbps x1" [ "$(scale dllama/T/2/0)" = 1.0000 ]
check "--host-probe pair: 2 mem_bw_gbps / 1.5" [ "$(ratio dllama/T/2/0)" = 1.3333 ]
check "the mirror runs (--host-probe off)" mirror --host-probe off
check "--host-probe off: no host bandwidth without memshare.csv" [ "$(ratio dllama/T/2/0)" = - ]
# Bad inputs: exit 2, named.
expect_fail() { # TEXT ARGS...: exit 2 naming TEXT
    local text=$1
    shift
    expect_script 2 "$text" "$src/tools/mirror-ground-truth.sh" "${args[@]}" --fit-only "$@" "$gt"
}
expect_fail "--host-probe: 'on' is not pair, both or off" --host-probe on
cp "$gt/hostprobe.csv" "$tmp/good.csv"
echo "dllama,T,0,2,4,30,x,30,30" >>"$gt/hostprobe.csv"
expect_fail "hostprobe.csv:6: \"x\" is not a bandwidth in GB/s"
cp "$tmp/good.csv" "$gt/hostprobe.csv"
echo "dllama,T,0,2,4,30,0,30,30" >>"$gt/hostprobe.csv"
expect_fail "hostprobe.csv:6: \"0\" is not a bandwidth in GB/s"
cp "$tmp/good.csv" "$gt/hostprobe.csv"
echo "dllama,T,0,2,4,30" >>"$gt/hostprobe.csv"
expect_fail "hostprobe.csv:6: 9 fields expected, 6 found"
sed '1s/.*/system,run/' "$tmp/good.csv" >"$gt/hostprobe.csv"
expect_fail "hostprobe.csv:1: not the header"
expect_fail "--packed-pages: 'on' is not auto or off" --packed-pages on

# The huge-page columns (since 2026-12-07): halo's multi-node T cells are mirrored with their
# nodes reading huge pages, mem_bw_gbps x KA and host_mem_bw_gbps = 2 mem_bw_gbps KP of the
# fitted one (KA, KP: huge alone and huge pair over small alone, the same moments); other
# systems' cells as before. Here KA = 30 / 24 = 1.25, KP = 18 / 24 = 0.75, both runs.
cp "$tmp/good.csv" "$gt/hostprobe.csv"
{
    echo "halo,T,0,1,3,0,2,170,170,170,170,,0,0,1/1,,170,x"
    echo "halo-strict,T,0,2,2,0,4,100,100,100,100,,0,0,1/1,,100,x"
} >>"$gt/ground-truth.csv"
{
    echo "halo,T,0,1,1,2,170,0,0,,170,1,ok"
    echo "halo-strict,T,0,2,1,2,100,10,0,,100,1,ok"
    echo "halo-strict,T,0,2,2,2,100,10,0,,100,1,ok"
} >>"$gt/runs.csv"
{
    echo "halo,T,0,1,1,1,170"
    echo "halo,T,0,1,1,2,170"
    for r in 1 2; do echo "halo-strict,T,0,2,$r,1,100"; echo "halo-strict,T,0,2,$r,2,100"; done
} >>"$gt/samples.csv"
{
    echo "system,model,loss,nodes,run,alone_before,pair_before,alone_after,pair_after,alone_huge_before,pair_huge_before,alone_huge_after,pair_huge_after"
    tail -n +2 "$tmp/good.csv" | sed 's/$/,,,,/'
    echo "halo,T,0,1,1,30,30,30,30,36,36,36,36"
    echo "halo-strict,T,0,2,1,24,16,24,16,30,18,30,18"
    echo "halo-strict,T,0,2,2,24,24,24,12,30,18,30,18"
} >"$gt/hostprobe.csv"
# bw CELL: the mirrored scenario CELL's mem_bw_gbps and host_mem_bw_gbps ("-" without one)
bw() {
    sqlite3 "$tmp/db" "SELECT text FROM scenario WHERE name = 'mirror/$1'" | awk '
        /profile:/ { b = "-"; h = "-"
                     if (match($0, /[{ ]mem_bw_gbps: [0-9.e+-]+/)) b = substr($0, RSTART + 14, RLENGTH - 14)
                     if (match($0, /host_mem_bw_gbps: [0-9.e+-]+/)) h = substr($0, RSTART + 18, RLENGTH - 18)
                     print b, h }'
}
# packed CELL: "KA H" of CELL against halo's single-device cell: its mem_bw_gbps over that
# one's, and its host_mem_bw_gbps over that one's mem_bw_gbps
packed() {
    local one cell
    one=$(bw halo/T/1/0) cell=$(bw "$1")
    awk -v o="${one% *}" -v b="${cell% *}" -v h="${cell#* }" 'BEGIN { printf "%.4f %.4f\n", b / o, h / o }'
}
check "the mirror runs (huge-page columns)" mirror
check "--packed-pages auto: halo's 2-node node mem_bw_gbps x1.25, host 2 x 0.75" [ "$(packed halo-strict/T/2/0)" = "1.2500 1.5000" ]
check "the Not fitted line names KA/KP" grep -q "halo-strict 0%/2 x1.5 h1.25/0.75" "$tmp/out"
check "huge-page columns: distributed-llama's cell as before" [ "$(ratio dllama/T/2/0)" = 1.3333 ]
check "the mirror runs (--packed-pages off)" mirror --packed-pages off
check "--packed-pages off: mem_bw_gbps x1, host 2 / 1.5" [ "$(packed halo-strict/T/2/0)" = "1.0000 1.3333" ]
cp "$gt/hostprobe.csv" "$tmp/good13.csv"
echo "halo-strict,T,0,2,3,24,16,24,16,30,x,30,18" >>"$gt/hostprobe.csv"
expect_fail "hostprobe.csv:9: \"x\" is not a bandwidth in GB/s"
cp "$tmp/good13.csv" "$gt/hostprobe.csv"
echo "halo-strict,T,0,2,3,24,16,24,16" >>"$gt/hostprobe.csv"
expect_fail "hostprobe.csv:9: 13 fields expected, 9 found"
finish
