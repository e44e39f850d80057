#!/usr/bin/env bash
# halo plot for any sweep (issue 17): a scenario written from the docs (heterogeneous devices,
# bursty loss, a tau axis) plotted without renaming anything, chosen and automatic axes, the
# error bars equal to the report's intervals, PDF at column width, captions beside the
# figures, the paper's marker only beside the paper's own setup, a non-zero exit when nothing
# is drawn. Skips (77) when gnuplot is missing.
# usage: test_plot.sh HALO_BINARY SOURCE_DIR CASE
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
scenario_script plot "$@"

if ! command -v gnuplot >/dev/null; then
    echo "# skip: gnuplot not installed (scripts/deps.sh installs gnuplot-nox)"
    exit 77
fi

# A researcher's own sweep, from scenarios/README.md alone.
own_scenario() {
    cat >"$tmp/mine.yaml" <<'EOF'
name: my-hetero
model:
  shape: tinyllama-1.1b
  weights: q40
devices:
  - profile: rpi4b
    link: gige
  - profile: rpi4b
    count: 2
    link: {base: gige, gilbert: {mean_loss: [0.01, 0.03, 0.05], mean_burst_ms: 5}}
  - profile: jetson-nano
    link: {base: gige, gilbert: {mean_loss: 0.02, mean_burst_ms: 5}}
engine:
  baseline: [dllama, halo]
  tau: [0.05, 0.2]
  encoding: q8
workload:
  prompt: ""
  tokens: 4
runs: 3
EOF
    halo sweep --quiet --db "$tmp/a.db" "$tmp/mine.yaml" >/dev/null || not_ok "sweep of my-hetero"
}

magic() { od -An -c -N4 "$1" 2>/dev/null | tr -d ' '; }

case_plot_any_sweep() {
    own_scenario
    local fig=$tmp/fig stem
    expect_ok plot --db "$tmp/a.db" --out "$fig"
    stem=$fig/my-hetero.mean_ms-vs-devices_1_.link.gilbert.mean_loss
    check "automatic: ms/token against the loss axis, PNG" test "$(magic "$stem.png")" = '211PNG'
    check "and SVG" grep -q "<svg" "$stem.svg"
    check "and PDF" test "$(magic "$stem.pdf")" = '%PDF'
    check "automatic: the speedup too" test -s "$fig/my-hetero.speedup-vs-devices_1_.link.gilbert.mean_loss.pdf"
    check "caption beside the figure, naming the series and panels" \
        grep -q "one line per engine.baseline, one panel per engine.tau" "$stem.caption.txt"
    check "caption states the intervals" grep -q "95% confidence intervals of the mean over runs" "$stem.caption.txt"
    check "no title inside the figure (the caption is not in the SVG)" \
        bash -c "! grep -q 'Scenario my-hetero' '$stem.svg'"
    check "paper figures without data skipped with a note" grep -q "speedup_vs_loss: no data in .*skipped" "$tmp/err"
    # the error bars are the report's intervals: ms/token and the speedup, point by point
    halo report --db "$tmp/a.db" >"$tmp/report.md"
    local want got
    local row
    row=$(grep -E '^\| devices\[1\]\.link\.gilbert\.mean_loss=0\.05 engine\.baseline=halo engine\.tau=0\.2 ' \
        "$tmp/report.md")
    want="$(echo "$row" | awk -F'|' '{print $4}' | tr -d ' ')|$(echo "$row" |
        grep -oE '[0-9.]+x \[-?[0-9.]+, [0-9.]+\]' | tr -d ' ')"
    got=$(awk '/^# block/ {b = $0} b ~ /engine.tau=0.2 engine.baseline=halo/ && $1 == "0.05" {
            printf "%.2f±%.2f", $2, $4 - $2 }' "$stem.dat")
    got="$got|$(awk '/^# block/ {b = $0} b ~ /engine.tau=0.2 engine.baseline=halo/ && $1 == "0.05" {
            printf "%.2fx[%.2f,%.2f]", $2, $3, $4 }' \
        "$fig/my-hetero.speedup-vs-devices_1_.link.gilbert.mean_loss.dat")"
    check "error bars equal the report's intervals ($got = $want)" test "$got" = "$want"

    # chosen axes: tau on x, loss as panels, only the missing contributions
    expect_ok plot --db "$tmp/a.db" --out "$tmp/f2" --scenario my-hetero --x engine.tau \
        --facet devices[1].link.gilbert.mean_loss --y missing_pct,p99_ms --format svg
    check "chosen: two metrics against tau" test "$(ls "$tmp/f2"/*.svg | wc -l)" = 2
    check "chosen: three panels" test "$(grep -c '^# block' "$tmp/f2/my-hetero.missing_pct-vs-engine.tau.dat")" = 6
    check "no paper figures with --scenario" test ! -e "$tmp/f2/time_vs_loss.svg"
    # a derived column as x, the baseline as the x axis
    expect_ok plot --db "$tmp/a.db" --out "$tmp/f3" --scenario my-hetero --x loss_pct --y mean_ms --format png
    check "derived x: loss_pct" test -s "$tmp/f3/my-hetero.mean_ms-vs-loss_pct.png"
    # column width: 3.3 in = 237.6 pt wide (cairo rounds the page to whole points)
    expect_ok plot --db "$tmp/a.db" --out "$tmp/f4" --scenario my-hetero --y mean_ms --size column --format pdf
    local pdf=$tmp/f4/my-hetero.mean_ms-vs-devices_1_.link.gilbert.mean_loss.pdf
    if command -v pdfinfo >/dev/null; then
        check "column width: 3.3 in (237 pt) wide" bash -c "pdfinfo '$pdf' | grep -qE 'Page size: +237(\.[0-9]+)? x'"
    else
        check "column width: 3.3 in (237 pt) wide" grep -aqE 'MediaBox \[ ?0 0 237' "$pdf"
    fi

    # wrong choices: one clear line each
    expect_fail 2 "unknown metric" -- plot --db "$tmp/a.db" --out "$tmp/f5" --y speed
    expect_fail 2 "not an axis of this scenario; its axes: devices[1].link.gilbert.mean_loss engine.baseline engine.tau" \
        -- plot --db "$tmp/a.db" --out "$tmp/f5" --scenario my-hetero --x engine.sync
    expect_fail 2 "not in" -- plot --db "$tmp/a.db" --out "$tmp/f5" --scenario nosuch
    expect_fail 2 "two roles" -- plot --db "$tmp/a.db" --out "$tmp/f5" --scenario my-hetero --x engine.tau --series engine.tau
    expect_fail 2 "--format" -- plot --db "$tmp/a.db" --out "$tmp/f5" --format gif
    expect_fail 1 "nothing drawn" -- plot --db "$tmp/a.db" --out "$tmp/f5" --x devices[0].count
}

case_plot_nothing_drawn() {
    halo sweep --quiet --db "$tmp/one.db" "$sc/tiny-loss.yaml" >/dev/null 2>&1 ||
        halo sweep --quiet --db "$tmp/one.db" "$sc/headline.yaml" >/dev/null
    sqlite3 "$tmp/one.db" "DELETE FROM quality; DELETE FROM token; DELETE FROM layer_stat;
        DELETE FROM device_stat; DELETE FROM run_axis; DELETE FROM run"
    expect_fail 1 "nothing drawn" -- plot --db "$tmp/one.db" --out "$tmp/fig"
    check "the reason: no data and no axis" grep -q "no paper figure's query finds rows" "$tmp/err"
    check "no empty --out directory left behind" test ! -e "$tmp/fig"
    # a bad choice is refused before the directory is made, or the one made is removed
    halo sweep --quiet --db "$tmp/two.db" "$sc/tiny-loss.yaml" >/dev/null 2>&1
    expect_fail 2 "--y bogus: unknown metric" -- plot --db "$tmp/two.db" --out "$tmp/f1" --y bogus
    expect_fail 2 "--y '': no metric" -- plot --db "$tmp/two.db" --out "$tmp/f1" --y ''
    expect_fail 2 "--y ',': no metric" -- plot --db "$tmp/two.db" --out "$tmp/f1" --y ,
    expect_fail 2 "--scenario nope: not in" -- plot --db "$tmp/two.db" --out "$tmp/f1" --scenario nope
    expect_fail 1 "nothing drawn" -- plot --db "$tmp/two.db" --out "$tmp/f1" --x nope
    check "no --out directory left by a failed plot" test ! -e "$tmp/f1"
    mkdir "$tmp/f2"
    expect_fail 1 "nothing drawn" -- plot --db "$tmp/one.db" --out "$tmp/f2"
    check "a directory that was there is kept" test -d "$tmp/f2"
}

# The paper's 3.41x only beside the paper's own setup (paper: true), not beside a sweep that
# merely has the name sweep-loss.
case_plot_paper_marker() {
    sed -e 's/^  tokens: 32/  tokens: 2/' -e 's/^runs: 3/runs: 1/' "$sc/sweep-loss.yaml" >"$tmp/paper.yaml"
    sed -e '/^paper: true/d' -e 's/count: 7/count: 3/' "$tmp/paper.yaml" >"$tmp/renamed.yaml"
    halo sweep --quiet --db "$tmp/p.db" "$tmp/paper.yaml" >/dev/null || not_ok "paper sweep"
    halo sweep --quiet --db "$tmp/r.db" "$tmp/renamed.yaml" >/dev/null || not_ok "renamed sweep"
    expect_ok plot --db "$tmp/p.db" --out "$tmp/pf" --format svg
    check "the paper's setup: the 3.41x marker" grep -q "HALO paper: 3.41x" "$tmp/pf/speedup_vs_loss.svg"
    check "its caption beside it" grep -q "against packet loss; error bars: the report.s intervals .*\. llama2-7b (q40, shape-only), 8 devices" "$tmp/pf/speedup_vs_loss.caption.txt"
    check "no automatic figures for a scenario a paper figure drew" test ! -e "$tmp/pf/sweep-loss.mean_ms-vs-devices_1_.link.loss.svg"
    expect_ok plot --db "$tmp/r.db" --out "$tmp/rf" --format svg
    check "a 4-device sweep named sweep-loss: no marker" bash -c "! grep -q 'HALO paper' '$tmp/rf/speedup_vs_loss.svg'"
    check "time_vs_loss: error bars from the t-intervals (no s.d.)" bash -c "! grep -q 's.d.' '$tmp/rf/time_vs_loss.svg'"
}

run_cases plot_any_sweep plot_nothing_drawn plot_paper_marker
finish
