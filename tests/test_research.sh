#!/usr/bin/env bash
# The research workflow of issue 17 through the halo binary: run identity (a changed profile
# reruns exactly the runs that use it, a comment reruns nothing, the resolved point is
# stored), sweeps (linked axes, named variables, a YAML alias as one axis, the Gilbert-Elliott
# mean form in labels, axes that change nothing deduplicated with a warning), `halo export`,
# `halo report --scenario --json`, the CLI fixes (regress labels with commas, exit codes,
# sweep --list labels, db info/merge --help, a bad axis value failing only its points, loss
# stored as written, --version) and the example scenario written from the docs alone.
# usage: test_research.sh HALO_BINARY SOURCE_DIR CASE
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
scenario_script research "$@"

q() { sqlite3 -batch -noheader "$@"; }

# rpi_scenario FILE NAME N_WORKERS LOSS ENGINE [LINE]: a scenario NAME of TinyLlama (q40, 2
# tokens) on a Raspberry Pi 4B root and N_WORKERS more, their gigabit links losing LOSS (a
# value or a list), with ENGINE as its engine mapping and LINE added at the end.
rpi_scenario() {
    printf '%s\n' "name: $2" "model: {shape: tinyllama-1.1b, weights: q40}" "devices:" \
        "  - {profile: rpi4b, link: gige}" \
        "  - {profile: rpi4b, count: $3, link: {base: gige, loss: $4}}" "engine: $5" \
        "workload: {tokens: 2}" ${6:+"$6"} >"$1"
}

# A small scenario beside a profile file of its own: the worker's profile is an axis over
# that file and a bundled one, so editing the file touches exactly half the points.
write_identity_scenario() {
    mkdir -p "$tmp/id/profiles"
    cat >"$tmp/id/profiles/board.yaml" <<'EOF'
profile: {base: rpi4b, source: "a test board"}
EOF
    cat >"$tmp/id/s.yaml" <<'EOF'
name: identity
model: {shape: tinyllama-1.1b, weights: q40}
devices:
  - profile: rpi4b
    link: gige
  - profile: [board, rpi5]
    link: {base: gige, loss: [0, 0.02]}
engine: {baseline: dllama}
workload:
  tokens: 2
runs: 2
EOF
}

case_research_identity() {
    write_identity_scenario
    local db=$tmp/id.db s=$tmp/id/s.yaml
    expect_ok sweep --db "$db" "$s"
    check "identity: 8 runs simulated" grep -q "8 runs in shard 0/1, 0 already in .*, 8 done (0 copied" "$tmp/out"
    check "identity: every run stores its resolved point as JSON" test "$(q "$db" "SELECT count(*) FROM run WHERE json_valid(resolved) AND length(point_hash) = 64")" = 8
    check "identity: the resolved point holds the profile's numbers" test "$(q "$db" "SELECT DISTINCT json_extract(resolved, '\$.devices[1].flops_per_s') FROM run WHERE point_label LIKE '%profile=board%'")" = 12000000000
    # a comment and reformatting: nothing reruns
    { echo "# a comment"; sed 's/tokens: 2/tokens:   2    # two tokens/' "$s"; } >"$tmp/id/s2.yaml"
    mv "$tmp/id/s2.yaml" "$s"
    expect_ok sweep --db "$db" "$s"
    check "identity: an added comment reruns nothing" grep -q "8 runs in shard 0/1, 8 already in .*, 0 done" "$tmp/out"
    # the profile file changes: exactly the 4 runs that use it are simulated again
    cat >"$tmp/id/profiles/board.yaml" <<'EOF'
profile: {base: rpi4b, gflops: 6, mem_bw_gbps: 1.6, source: "a slower test board"}
EOF
    expect_ok sweep --list --db "$db" "$s"
    check "identity: --list names the 4 runs to simulate with their labels" test "$(grep -vc '(copy)' "$tmp/out")" = 4
    check "identity: --list: only the changed profile's points are simulated" test "$(grep -v '(copy)' "$tmp/out" | grep -c 'devices\[1\].profile=board')" = 4
    expect_ok sweep --db "$db" "$s"
    check "identity: a changed profile reruns exactly its runs" grep -q "8 runs in shard 0/1, 0 already in .*, 8 done (4 copied" "$tmp/out"
    check "identity: 12 simulations in all, 4 copies" test "$(q "$db" "SELECT sum(copied_from = ''), sum(copied_from <> '') FROM run")" = "12|4"
    check "identity: the rerun sees the new profile" test "$(q "$db" "SELECT count(DISTINCT mean_ms) FROM latest_run WHERE point_label LIKE '%profile=board%' AND run = 0")" = 2
    check "identity: latest_run reads the new version (8 runs)" test "$(q "$db" "SELECT count(*) FROM latest_run")" = 8
    local old new
    old=$(q "$db" "SELECT mean_ms FROM run WHERE point = 0 AND run = 0 ORDER BY id LIMIT 1")
    new=$(q "$db" "SELECT mean_ms FROM latest_run WHERE point = 0 AND run = 0")
    check "identity: the slower board is slower ($old -> $new ms)" awk -v a="$old" -v b="$new" 'BEGIN { exit !(b > a) }'
    # back to the first version: nothing to do, and it is the latest again
    cat >"$tmp/id/profiles/board.yaml" <<'EOF'
profile: {base: rpi4b, source: "a test board"}
EOF
    expect_ok sweep --db "$db" "$s"
    check "identity: the first version again: nothing reruns" grep -q "8 already in" "$tmp/out"
    check "identity: ... and latest_run reads it" test "$(q "$db" "SELECT mean_ms FROM latest_run WHERE point = 0 AND run = 0")" = "$old"
    # tau under distributed-llama changes nothing: simulated once, copied, with a warning
    rpi_scenario "$tmp/tau.yaml" tau 3 0.05 "{baseline: [dllama, halo], tau: [0.5, 0.7, 0.9]}" \
        "runs: 2"
    expect_ok sweep --db "$tmp/tau.db" "$tmp/tau.yaml" --jobs 2
    check "tau under dllama: a warning names the axis" grep -q "warning: engine.tau: changes nothing at point 1 (engine.baseline=dllama engine.tau=0.7)" "$tmp/err"
    check "tau under dllama: 4 of 12 runs copied" grep -q "12 done (4 copied" "$tmp/out"
    check "tau under dllama: every tau has its rows (the speedup view)" test "$(q "$tmp/tau.db" "SELECT count(*) FROM speedup")" = 3
    check "tau under dllama: the copies carry their own tau" test "$(q "$tmp/tau.db" "SELECT count(DISTINCT tau) FROM run WHERE system = 'dllama'")" = 3
    check "tau under dllama: the copies' results are the simulated run's" test "$(q "$tmp/tau.db" "SELECT count(DISTINCT mean_ms) FROM run WHERE system = 'dllama' AND run = 0")" = 1
    check "tau under halo: tau matters there (no copies)" test "$(q "$tmp/tau.db" "SELECT count(*) FROM run WHERE system = 'halo' AND copied_from <> ''")" = 0
}

# Linked axes, named variables, an alias as one axis, the Gilbert-Elliott mean form.
case_research_sweeps() {
    mkdir -p "$tmp/sw"
    cat >"$tmp/sw/v.yaml" <<'EOF'
name: vars
model: {shape: tinyllama-1.1b, weights: q40}
vars:
  loss: [0, 0.01, 0.05]
  burst: [2, 4, 8]
  dl: [5, 10]
linked: [[loss, burst]]
devices:
  - profile: rpi4b
    link: gige
  - profile: rpi4b
    count: 2
    link: {base: gige, gilbert: {mean_loss: $loss, mean_burst_packets: $burst}}
  - profile: rpi5
    link: {base: gige, loss: &l [0, 0.02]}
  - profile: jetson-nano
    link: {base: gige, loss: *l}
engine: {baseline: halo, deadline_ms: $dl}
workload:
  tokens: 2
EOF
    expect_ok sim --points "$tmp/sw/v.yaml"
    check "sweeps: linked (3) x variable (2) x one aliased axis (2) = 12 points" test "$(cat "$tmp/out")" = 12
    expect_ok sim --json --point 11 "$tmp/sw/v.yaml"
    check "sweeps: labels name the variables and the alias once" grep -qF '"label": "loss=0.05 burst=8 dl=10 devices[2].link.loss=0.02"' "$tmp/out"
    expect_ok sweep --db "$tmp/sw.db" "$tmp/sw/v.yaml"
    check "sweeps: the axes stored: loss, burst, dl, devices[2].link.loss" test "$(q "$tmp/sw.db" "SELECT group_concat(key, ' ') FROM (SELECT DISTINCT key FROM run_axis ORDER BY key)")" = "burst devices[2].link.loss dl loss"
    check "sweeps: the alias gives both devices the same loss at every point" test "$(q "$tmp/sw.db" "SELECT count(*) FROM device_stat a JOIN device_stat b ON a.run_id = b.run_id AND a.device = 3 AND b.device = 4 WHERE a.loss_up <> b.loss_up")" = 0
    check "sweeps: the aliased axis varies" test "$(q "$tmp/sw.db" "SELECT count(DISTINCT loss_up) FROM device_stat WHERE device = 4")" = 2
    check "sweeps: the linked variables advance together (mean loss per Gilbert link)" test "$(q "$tmp/sw.db" "SELECT group_concat(DISTINCT round(d.loss_up, 4)) FROM device_stat d JOIN run_axis a ON a.run_id = d.run_id AND a.key = 'burst' WHERE d.device = 1 AND a.value = '8'")" = 0.05
    check "sweeps: a variable sets the deadline" test "$(q "$tmp/sw.db" "SELECT group_concat(DISTINCT r.deadline_ms) FROM run r JOIN run_axis a ON a.run_id = r.id AND a.key = 'dl' WHERE a.value = '5'")" = 5.0
    # the Gilbert-Elliott mean form as an axis: labels read as written
    sed 's/gilbert: {mean_loss: $loss,/gilbert: {mean_loss: [0.02, 0.05],/' "$tmp/sw/v.yaml" >"$tmp/sw/g.yaml"
    expect_ok sim --json --point 0 "$tmp/sw/g.yaml"
    check "sweeps: a Gilbert mean_loss axis is labelled as written" grep -qF 'devices[1].link.gilbert.mean_loss=0.02' "$tmp/out"
    # mistakes, each named with file and line
    sed 's/burst: \[2, 4, 8\]/burst: [2, 4]/' "$tmp/sw/v.yaml" >"$tmp/sw/b1.yaml"
    expect_fail 1 "b1.yaml:5: vars.burst: linked variables need lists of one length ('loss' has 3 values, this 2)" -- sim --points "$tmp/sw/b1.yaml"
    sed 's/deadline_ms: $dl/deadline_ms: $dll/' "$tmp/sw/v.yaml" >"$tmp/sw/b2.yaml"
    expect_fail 1 "b2.yaml:18: engine.deadline_ms: unknown variable '\$dll' (define it under vars:)" -- sim --points "$tmp/sw/b2.yaml"
    sed 's/linked: \[\[loss, burst\]\]/linked: [[loss, bursts]]/' "$tmp/sw/v.yaml" >"$tmp/sw/b3.yaml"
    expect_fail 1 "b3.yaml:7: linked[0][1]: unknown variable 'bursts'" -- sim --points "$tmp/sw/b3.yaml"
}

# halo export and halo report --scenario --json on the example scenario.
case_research_export() {
    local db=$tmp/ex.db
    expect_ok sweep --db "$db" "$sc/examples/research.yaml"
    expect_ok export --db "$db" --scenario research-example
    cp "$tmp/out" "$tmp/ex.csv"
    check "export: a header and one line per run (72)" test "$(wc -l <"$tmp/ex.csv")" = 73
    check "export: one column per axis, named as written" grep -q '^scenario,point,run,loss,burst,devices\[2\].link.loss,engine.baseline,engine.tau,system,' "$tmp/ex.csv"
    check "export: values as written (loss 0.01, burst 4)" grep -q '^research-example,8,0,0.01,4,0,dllama,0.5,dllama,' "$tmp/ex.csv"
    check "export: every line has the header's columns" test "$(awk -F, '{ print NF }' "$tmp/ex.csv" | sort -u)" = "$(head -n 1 "$tmp/ex.csv" | awk -F, '{ print NF }')"
    python3 - "$tmp/ex.csv" >"$tmp/py.txt" 2>&1 <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 72, len(rows)
r = [x for x in rows if x["loss"] == "0.05" and x["engine.baseline"] == "halo"]
assert len(r) == 12, len(r)
assert all(abs(float(x["compute_ms"]) + float(x["stragglers_ms"]) + float(x["network_ms"])
               - float(x["mean_ms"])) < 1e-6 for x in rows)
print("csv ok")
EOF
    check "export: read back by Python's csv module (columns by name, the split adds up)" grep -qx "csv ok" "$tmp/py.txt"
    expect_ok export --db "$db" --out "$tmp/ex2.csv"
    check "export --out: the same table" cmp -s "$tmp/ex.csv" "$tmp/ex2.csv"
    expect_fail 2 "no runs of a scenario named 'nope' (there: research-example)" -- export --db "$db" --scenario nope
    expect_fail 2 "missing --db" -- export
    # the report of one scenario, markdown and JSON
    expect_ok report --db "$db" --scenario research-example
    check "report: stragglers, loss, packets lost and queue drops columns" grep -qF "| compute ms | stragglers ms | network ms | missing | loss | packets lost | queue drops |" "$tmp/out"
    expect_ok report --db "$db" --scenario research-example --json
    cp "$tmp/out" "$tmp/r.json"
    python3 - "$tmp/r.json" >"$tmp/py.txt" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
(s,) = d["scenarios"]
assert s["name"] == "research-example" and s["devices"] == 5, s["name"]
pts = s["points"]
assert len(pts) == 24, len(pts)
for p in pts:
    m = p["ms_per_token"]["mean"]
    assert abs(p["compute_ms"] + p["stragglers_ms"] + p["network_ms"] - m) < 1e-6 * m, p
    assert p["runs"] == 3 and p["ms_per_token"]["ci"] >= 0
    assert set(p["axes"]) == {"loss", "burst", "devices[2].link.loss", "engine.baseline", "engine.tau"}
    assert (p["speedup"] is None) == (p["system"] == "dllama")
print("json ok", sum(p["packets_lost"] for p in pts) > 0)
EOF
    check "report --json: valid; compute + stragglers + network = ms/token at every point" grep -qx "json ok True" "$tmp/py.txt"
    expect_fail 2 "no scenario named 'nope'" -- report --db "$db" --scenario nope --json
    # queue drops surface: Llama 3 8B on 8 boards over lossless gigabit links, the boards'
    # host cost off (rpi4b's cost per KiB paces each board's sends below the link rate, and
    # no queue overflows)
    cat >"$tmp/q.yaml" <<'EOF'
name: qdrop
model: {shape: llama3-8b, weights: q40}
devices:
  - {profile: {base: rpi4b, copy_ns_per_kb: 0}, link: gige, memory_mb: 7680}
  - {profile: {base: rpi4b, copy_ns_per_kb: 0}, count: 7, link: gige, memory_mb: 7680}
engine: {baseline: dllama, encoding: q8}
workload: {tokens: 2}
EOF
    expect_ok sweep --db "$tmp/q.db" "$tmp/q.yaml"
    check "queue drops: counted on lossless links" test "$(q "$tmp/q.db" "SELECT queue_drops > 0 AND queue_drops = packets_lost AND loss = 0 FROM run")" = 1
    check "queue drops: per device too" test "$(q "$tmp/q.db" "SELECT sum(queue_drops) FROM device_stat")" = "$(q "$tmp/q.db" "SELECT queue_drops FROM run")"
    expect_ok report --db "$tmp/q.db"
    check "queue drops: the report says so" grep -q "Queue drops:" "$tmp/out"
}

# The CLI fixes of issue 17, one check (or more) each.
case_research_bugs() {
    # regress: a label with a comma is quoted in the baseline and read back
    rpi_scenario "$tmp/crit.yaml" crit 3 0.02 '{baseline: [dllama, relaxed], critical: ["1,3", "2"]}'
    expect_ok sweep --db "$tmp/c.db" "$tmp/crit.yaml"
    expect_ok regress --db "$tmp/c.db" --baseline "$tmp/base.csv" --write
    check "regress --write: a label with a comma is quoted" grep -qF 'crit,"engine.baseline=relaxed engine.critical=1,3",mean_ms,' "$tmp/base.csv"
    expect_ok regress --db "$tmp/c.db" --baseline "$tmp/base.csv"
    check "regress: the quoted labels are read back (all within tolerance)" grep -q "halo regress: 10 of 10 values within tolerance" "$tmp/out"
    check "regress: ... and named in the table" grep -qF '| crit | engine.baseline=relaxed engine.critical=1,3 | mean_ms |' "$tmp/out"
    # regress exit codes: 1 regressed, 2 cannot read
    sed 's/^\(crit,"engine.baseline=relaxed engine.critical=1,3",mean_ms,\)[0-9.e+-]*/\11/' "$tmp/base.csv" >"$tmp/slow.csv"
    expect_fail 1 "values outside their tolerance" -- regress --db "$tmp/c.db" --baseline "$tmp/slow.csv"
    expect_fail 2 "no such database" -- regress --db "$tmp/none.db" --baseline "$tmp/base.csv"
    expect_fail 2 "none.csv" -- regress --db "$tmp/c.db" --baseline "$tmp/none.csv"
    printf 'crit,"open quote,mean_ms,1,0.1,0.01\n' >"$tmp/broken.csv"
    expect_fail 2 "broken.csv:1: expected scenario,label,metric,value,rel,abs" -- regress --db "$tmp/c.db" --baseline "$tmp/broken.csv"
    # sweep --list prints each run's label
    expect_ok sweep --list --db "$tmp/l.db" "$tmp/crit.yaml"
    check "sweep --list: point, run and label" test "$(head -n 1 "$tmp/out")" = "0 0 engine.baseline=dllama engine.critical=1,3"
    check "sweep --list creates no database" test ! -e "$tmp/l.db"
    # db info --help and db merge --help
    expect_ok db info --help
    check "db info --help: its usage" grep -q "usage: halo db info FILE" "$tmp/out"
    expect_ok db merge --help
    check "db merge --help: its usage" grep -q "usage: halo db merge DEST SRC" "$tmp/out"
    check "db merge --help: no database named --help" test ! -e ./--help
    # a bad value in one axis fails only its points (docs/results.md)
    sed 's/loss: 0.02}}/loss: [0.02, 1.5]}}/' "$tmp/crit.yaml" >"$tmp/bad.yaml"
    expect_fail 1 "bad.yaml:5: devices[1].link.loss: 1.5 is not in [0, 1)" -- sweep --db "$tmp/bad.db" "$tmp/bad.yaml"
    check "a bad axis value: the other points ran (4 of 8)" grep -q "8 runs in shard 0/1, 0 already in .*, 4 done" "$tmp/out"
    check "a bad axis value: 4 runs stored" test "$(q "$tmp/bad.db" "SELECT count(*) FROM run")" = 4
    check "a bad axis value: 4 failures reported" grep -q "halo: 4 of 8 runs failed" "$tmp/err"
    # loss as written: WHERE loss = 0.05 finds the runs of 5% loss on 7 workers
    rpi_scenario "$tmp/l7.yaml" l7 7 "[0.05, 0.03]" "{baseline: dllama}"
    expect_ok sweep --db "$tmp/l7.db" "$tmp/l7.yaml"
    check "loss stored as written: WHERE loss = 0.05" test "$(q "$tmp/l7.db" "SELECT count(*) FROM run WHERE loss = 0.05")" = 1
    check "loss stored as written: WHERE loss = 0.03" test "$(q "$tmp/l7.db" "SELECT count(*) FROM run WHERE loss = 0.03")" = 1
    # halo --version: the git revision and the build's features
    expect_ok --version
    check "--version: the git revision" grep -qE "^git revision [0-9a-f]{12}|^git revision unknown" "$tmp/out"
    check "--version: ns-3 or not" grep -qE "^ns-3 backend: (yes|no)" "$tmp/out"
    check "--version: the GGUF kernels" grep -qE "^GGUF kernels on this processor: scalar.*\(in use: " "$tmp/out"
}

# The acceptance: the example scenario, written from scenarios/README.md alone, sweeps and
# reports without renaming anything.
case_research_example() {
    local db=$tmp/r.db s=$sc/examples/research.yaml
    expect_ok sweep --db "$db" --jobs 2 "$s"
    check "example: 72 runs, tau under dllama simulated once" grep -q "72 runs in shard 0/1, 0 already in .*, 72 done (18 copied" "$tmp/out"
    check "example: the warning names tau" grep -q "warning: engine.tau: changes nothing" "$tmp/err"
    expect_ok report --db "$db" --scenario research-example
    check "example: a row per point (24), labelled by its variables" test "$(grep -c '^| loss=' "$tmp/out")" = 24
    check "example: HALO's speedup at the lossiest point" grep -qE '^\| loss=0.05 burst=8 devices\[2\].link.loss=0.02 engine.baseline=halo engine.tau=0.9 \| 3 \| .* [0-9.]+x \[' "$tmp/out"
    expect_ok export --db "$db" --scenario research-example
    check "example: export has the axes as written" grep -q '^scenario,point,run,loss,burst,devices\[2\].link.loss,engine.baseline,engine.tau,' "$tmp/out"
    check "example: the Gilbert links lose what the variables say" test "$(q "$db" "SELECT group_concat(DISTINCT round(d.loss_up, 6)) FROM device_stat d JOIN run_axis a ON a.run_id = d.run_id AND a.key = 'loss' WHERE d.device IN (1, 2) AND a.value = '0.01'")" = 0.01
    check "example: the aliased axis is one (devices 3 and 4 agree)" test "$(q "$db" "SELECT count(*) FROM device_stat a JOIN device_stat b ON a.run_id = b.run_id AND a.device = 3 AND b.device = 4 WHERE a.loss_up <> b.loss_up")" = 0
    # the same scenario with comments and another layout: nothing reruns
    mkdir -p "$tmp/ex"
    { echo "# my copy"; sed 's/^runs: 3$/runs:    3   # three/' "$s"; } >"$tmp/ex/research.yaml"
    expect_ok sweep --db "$db" "$tmp/ex/research.yaml"
    check "example: a reformatted copy reruns nothing" grep -q "72 runs in shard 0/1, 72 already in" "$tmp/out"
}

run_cases research_identity research_sweeps research_export research_bugs research_example
finish
