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
halo_bin=$1
src=$2
only=${3:-}
export HALO_MODEL_DIR=$src/models HALO_SCENARIO_DIR=$src/scenarios HALO_PLOT_DIR=$src/plots
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
scratch_dir research
sc=$src/scenarios

q() { sqlite3 -batch -noheader "$@"; }

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
    cat >"$tmp/tau.yaml" <<'EOF'
name: tau
model: {shape: tinyllama-1.1b, weights: q40}
devices:
  - {profile: rpi4b, link: gige}
  - {profile: rpi4b, count: 3, link: {base: gige, loss: 0.05}}
engine: {baseline: [dllama, halo], tau: [0.5, 0.7, 0.9]}
workload: {tokens: 2}
runs: 2
EOF
    expect_ok sweep --db "$tmp/tau.db" "$tmp/tau.yaml" --jobs 2
    check "tau under dllama: a warning names the axis" grep -q "warning: engine.tau: changes nothing at point 1 (engine.baseline=dllama engine.tau=0.7)" "$tmp/err"
    check "tau under dllama: 4 of 12 runs copied" grep -q "12 done (4 copied" "$tmp/out"
    check "tau under dllama: every tau has its rows (the speedup view)" test "$(q "$tmp/tau.db" "SELECT count(*) FROM speedup")" = 3
    check "tau under dllama: the copies carry their own tau" test "$(q "$tmp/tau.db" "SELECT count(DISTINCT tau) FROM run WHERE system = 'dllama'")" = 3
    check "tau under dllama: the copies' results are the simulated run's" test "$(q "$tmp/tau.db" "SELECT count(DISTINCT mean_ms) FROM run WHERE system = 'dllama' AND run = 0")" = 1
    check "tau under halo: tau matters there (no copies)" test "$(q "$tmp/tau.db" "SELECT count(*) FROM run WHERE system = 'halo' AND copied_from <> ''")" = 0
}

cases=(research_identity)
if [ -n "$only" ]; then
    if ! declare -F "case_$only" >/dev/null; then
        echo "unknown case '$only' (cases: ${cases[*]})" >&2
        exit 2
    fi
    "case_$only"
else
    for c in "${cases[@]}"; do "case_$c"; done
fi
finish
