#!/usr/bin/env bash
# The results database and the commands around it (halo sweep, db, plot, report, regress):
# bad input (one clear line, non-zero exit, nothing half-written), resume, crash safety
# (SIGKILL mid-sweep, then resume: identical rows to an uninterrupted sweep), concurrent
# writers, shards and their merge (also through mpirun when present), regression checks,
# measured runs (halo db import-measured, halo report fidelity, halo db migrate from version 1).
# usage: test_results.sh HALO_BINARY SOURCE_DIR CASE
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
scenario_script results "$@"

runs() { sqlite3 -batch -noheader "$1" "SELECT count(*) FROM run"; }

# Every row of every table, keyed by (scenario, point, run) instead of the run id, without
# what legitimately differs between two sweeps: ids, timestamps, host, wall time.
dump() {
    sqlite3 -batch -noheader "$1" "
        SELECT scenario_hash, point, run, point_label, seed, kind, model, model_hash, weights,
               n_devices, engine, system, placement, sync, delivery, encoding, importance, tau,
               deadline_ms, adaptive_deadline, redundancy, place_critical, settings, loss,
               speed_ratio, tokens, mean_ms, p50_ms, p90_ms, p99_ms, max_ms, compute_ms,
               stragglers_ms, network_ms, expected, missing, retransmits, timeouts, probes,
               msgs_lost, bytes_on_wire, events, git_rev, halo_version, sqlite_version, compiler
        FROM run ORDER BY scenario_hash, point, run;
        SELECT hash, name, n_points, length(text) FROM scenario ORDER BY hash;"
    for t in run_axis token device_stat layer_stat quality; do
        sqlite3 -batch -noheader "$1" "SELECT r.scenario_hash, r.point, r.run, c.* FROM $t c
            JOIN run r ON r.id = c.run_id ORDER BY 1, 2, 3" | cut -d'|' -f1-3,5- | sed "s/^/$t|/"
    done
}

integrity() { [ "$(sqlite3 -batch -noheader "$1" 'PRAGMA integrity_check')" = ok ]; }

# sweep-loss.yaml's 60 runs with 8 tokens each instead of 32: what the crash and concurrency
# cases check is the database's, not the simulation's, and they run the sweep several times
# (also under ASan in CI): $tmp/sweep-loss.yaml
sweep_loss_short() {
    sed 's/^  tokens: 32$/  tokens: 8/' "$sc/sweep-loss.yaml" >"$tmp/sweep-loss.yaml"
    grep -q '^  tokens: 8$' "$tmp/sweep-loss.yaml" || not_ok "sweep-loss.yaml: no 'tokens: 32' to shorten"
}

case_results_bad_inputs() {
    expect_fail 2 "missing --db" -- sweep "$sc/headline.yaml"
    expect_fail 2 "missing SCENARIO" -- sweep --db "$tmp/x.db"
    expect_fail 2 "needs 0 <= I < N" -- sweep --shard 3/2 --db "$tmp/x.db" "$sc/headline.yaml"
    expect_fail 2 "needs 0 <= I < N" -- sweep --shard 1/0 --db "$tmp/x.db" "$sc/headline.yaml"
    expect_fail 2 "is not I/N" -- sweep --shard abc --db "$tmp/x.db" "$sc/headline.yaml"
    expect_fail 2 "no launcher rank" -- sweep --shard auto --db "$tmp/x.db" "$sc/headline.yaml"
    expect_fail 2 "--jobs" -- sweep --jobs 0 --db "$tmp/x.db" "$sc/headline.yaml"
    expect_fail 1 "directory does not exist" -- sweep --db "$tmp/no/such/dir/x.db" "$sc/headline.yaml"
    check "no database left for a missing directory" test ! -e "$tmp/no"
    sed 's/^  encoding: q8/  encoding: q8\n  speed: 3/' "$sc/headline.yaml" >"$tmp/bad.yaml"
    expect_fail 1 "engine.speed: unknown key" -- sweep --db "$tmp/bad.db" "$tmp/bad.yaml"
    check "no database half-written for an unknown scenario key" test ! -e "$tmp/bad.db"
    expect_fail 1 "cannot open" -- sweep --eval "$tmp/none.txt" --db "$tmp/e.db" "$sc/headline.yaml"
    check "no database for a missing eval file" test ! -e "$tmp/e.db"
    # newer schema refused, untouched
    sqlite3 "$tmp/new.db" "CREATE TABLE t(x); PRAGMA user_version = 99"
    cp "$tmp/new.db" "$tmp/new.orig"
    expect_fail 1 "schema version 99 is newer" -- sweep --db "$tmp/new.db" "$sc/headline.yaml"
    expect_fail 1 "schema version 99 is newer" -- report --db "$tmp/new.db"
    expect_fail 1 "schema version 99 is newer" -- db migrate "$tmp/new.db"
    check "a newer database is left as it was" cmp -s "$tmp/new.db" "$tmp/new.orig"
    sqlite3 "$tmp/foreign.db" "CREATE TABLE t(x)"
    expect_fail 1 "not a halo results database" -- sweep --db "$tmp/foreign.db" "$sc/headline.yaml"
    head -c 4096 /dev/urandom >"$tmp/garbage.db"
    expect_fail 1 "garbage.db" -- sweep --db "$tmp/garbage.db" "$sc/headline.yaml"
    expect_fail 1 "no such database" -- report --db "$tmp/missing.db"
    expect_fail 1 "no such database" -- plot --db "$tmp/missing.db" --out "$tmp/fig"
    expect_fail 2 "missing --out" -- plot --db "$tmp/new.db"
    expect_fail 2 "missing --baseline" -- regress --db "$tmp/new.db"
    expect_fail 2 "unknown option" -- report --db "$tmp/x.db" --bogus
    expect_fail 2 "unknown subcommand" -- db frobnicate
    expect_fail 2 "db info: missing FILE (the results database)" -- db info
    expect_fail 2 "db migrate: missing FILE" -- db migrate
    expect_fail 2 "db merge: missing DEST and SRC" -- db merge
    expect_fail 2 "db merge: missing SRC" -- db merge "$tmp/m.db"
    expect_fail 2 "into itself" -- db merge "$tmp/m.db" "$tmp/m.db"
    check "no destination created by a refused merge" test ! -e "$tmp/m.db"
    expect_fail 1 "no such database" -- db merge "$tmp/m2.db" "$tmp/missing.db"
    check "no destination created for a missing source" test ! -e "$tmp/m2.db"
    # a baseline with a value regress cannot compare is unreadable (exit 2, file:line): inf
    # passed as "-nan%", a negative tolerance failed everything, an unknown metric was missing
    expect_ok sweep --db "$tmp/t.db" "$sc/tiny-loss.yaml"
    local row
    for row in 'mean_ms,inf,0.1,0.01|value '"'inf'"' is not a finite number' \
        'mean_ms,1,-0.1,0.01|relative tolerance '"'-0.1'"' is not a finite number >= 0' \
        'mean_ms,1,0.1,nan|absolute tolerance '"'nan'"' is not a finite number >= 0' \
        'ms,1,0.1,0.01|unknown metric '"'ms'"' (mean_ms, missing_pct, perplexity, speedup)'; do
        printf '# a comment\ntiny-loss,x,%s\n' "${row%%|*}" >"$tmp/bad.csv"
        expect_fail 2 "bad.csv:2: ${row#*|}" -- regress --db "$tmp/t.db" --baseline "$tmp/bad.csv"
    done
    # a database without runs gives no baseline (regress would refuse the empty file)
    cp "$tmp/t.db" "$tmp/empty.db"
    sqlite3 "$tmp/empty.db" "DELETE FROM token; DELETE FROM device_stat; DELETE FROM layer_stat;
        DELETE FROM quality; DELETE FROM run_axis; DELETE FROM run"
    expect_fail 2 "empty.db: no runs to write a baseline from" -- \
        regress --db "$tmp/empty.db" --baseline "$tmp/empty.csv" --write
    check "no baseline written from a database without runs" test ! -e "$tmp/empty.csv"
    # a '|' in a scenario name is escaped in the markdown table (it split the row's cells)
    sed -e 's/^name: tiny-loss/name: "tiny|loss"/' -e "s#\.\./models/#$src/models/#" \
        "$sc/tiny-loss.yaml" >"$tmp/pipe.yaml"
    expect_ok sweep --db "$tmp/pipe.db" "$tmp/pipe.yaml"
    expect_ok regress --db "$tmp/pipe.db" --baseline "$tmp/pipe.csv" --write
    expect_ok regress --db "$tmp/pipe.db" --baseline "$tmp/pipe.csv"
    check "regress escapes the '|' of a scenario name" grep -qF '| tiny\|loss | devices[0].link.loss=0 | mean_ms |' "$tmp/out"
    local c
    for c in sweep plot report regress db; do
        expect_ok "$c" --help
        check "$c --help shows its usage" grep -q "usage: halo $c" "$tmp/out"
    done
    expect_ok db schema
    check "the schema compiled into halo equals results/schema.sql" cmp -s "$tmp/out" "$src/results/schema.sql"
}

case_results_sweep() {
    local db=$tmp/a.db
    expect_ok sweep --jobs 2 --db "$db" "$sc/headline.yaml"
    check "piped: no progress line, one summary line" test "$(grep -c ETA "$tmp/err"):$(wc -l <"$tmp/out")" = 0:1
    check "6 runs stored (2 points x 3 runs)" test "$(runs "$db")" = 6
    check "WAL mode" test "$(sqlite3 "$db" 'PRAGMA journal_mode')" = wal
    check "schema version 5" test "$(sqlite3 "$db" 'PRAGMA user_version')" = 5
    check "32 token rows per run" test "$(sqlite3 "$db" 'SELECT count(*) FROM token')" = 192
    check "per-layer rows (32 layers)" test "$(sqlite3 "$db" 'SELECT count(*) FROM layer_stat')" = 192
    check "per-device rows (8 devices)" test "$(sqlite3 "$db" 'SELECT count(*) FROM device_stat')" = 48
    check "shape-only runs marked, no quality" test "$(sqlite3 "$db" "SELECT count(*) FROM run WHERE kind = 'shape-only'"):$(sqlite3 "$db" 'SELECT count(*) FROM quality')" = 6:0
    check "provenance: scenario text stored" test "$(sqlite3 "$db" 'SELECT length(text) > 100 FROM scenario')" = 1
    expect_ok sweep --db "$db" "$sc/headline.yaml"
    check "resume skips what is there" grep -q "6 already in" "$tmp/out"
    check "nothing added on resume" test "$(runs "$db")" = 6
    expect_ok sweep --list --db "$db" "$sc/headline.yaml"
    if command -v script >/dev/null; then
        script -qc "'$halo_bin' sweep --jobs 2 --db '$tmp/tty.db' '$sc/sweep-scale.yaml'" /dev/null \
            </dev/null >"$tmp/tty.out" 2>&1
        check "on a terminal: progress with an ETA" grep -q "halo sweep: 18/18 runs, 0 failed, .* ETA" "$tmp/tty.out"
    fi
    check "--list prints nothing left to do" test ! -s "$tmp/out"
    # quality rows for a numerics scenario
    expect_ok sweep --max-stories 2 --db "$db" "$sc/regress-quality.yaml"
    check "quality rows for numerics runs" test "$(sqlite3 "$db" 'SELECT count(*) FROM quality')" = 2
    expect_ok report --db "$db"
    check "report: speedup column with an interval" grep -qE 'engine.baseline=halo \| 3 \| [0-9.]+ ± [0-9.]+ .*x \[' "$tmp/out"
    check "report: shape-only runs have no perplexity" grep -q "n/a (shape-only)" "$tmp/out"
    check "report: perplexity of numerics runs" grep -qE 'regress-quality' "$tmp/out"
    if command -v gnuplot >/dev/null; then
        halo sweep --quiet --jobs 2 --db "$db" "$sc/sweep-scale.yaml" >/dev/null
        expect_ok plot --db "$db" --out "$tmp/fig"
        check "figures without data are skipped with a note" grep -q "no data in .*skipped" "$tmp/err"
        check "time_vs_loss skipped (no sweep-loss runs)" test ! -e "$tmp/fig/time_vs_loss.png"
        check "speedup_vs_devices drawn as PNG" test "$(od -An -c -N4 "$tmp/fig/speedup_vs_devices.png" 2>/dev/null | tr -d ' ')" = '211PNG'
        check "and as SVG" grep -q "<svg" "$tmp/fig/speedup_vs_devices.svg"
        sqlite3 "$tmp/empty.db" "" && rm -f "$tmp/empty.db"
        halo sweep --list --db "$tmp/none.db" "$sc/headline.yaml" >/dev/null
        cp "$db" "$tmp/b.db"
        sqlite3 "$tmp/b.db" "DELETE FROM quality; DELETE FROM token; DELETE FROM layer_stat;
            DELETE FROM device_stat; DELETE FROM run_axis; DELETE FROM run"
        expect_fail 1 "nothing drawn" -- plot --db "$tmp/b.db" --out "$tmp/fig2"
    else
        echo "# skip plot checks: gnuplot not installed (scripts/deps.sh installs gnuplot-nox)"
    fi
}

case_results_crash_resume() {
    sweep_loss_short
    local s=$tmp/sweep-loss.yaml
    halo sweep --quiet --jobs 2 --db "$tmp/ref.db" "$s" >/dev/null || not_ok "reference sweep"
    local total
    total=$(runs "$tmp/ref.db")
    check "reference sweep: 60 runs" test "$total" = 60
    local jobs
    for jobs in 1 2; do
        local db=$tmp/crash$jobs.db
        "$halo_bin" sweep --quiet --jobs "$jobs" --db "$db" "$s" >/dev/null 2>&1 &
        local pid=$! n=0 i
        for i in $(seq 1 400); do
            [ -f "$db" ] && n=$(sqlite3 -batch -noheader "$db" "SELECT count(*) FROM run" 2>/dev/null || echo 0)
            [ "${n:-0}" -ge 10 ] && break
            sleep 0.02
        done
        if [ "$jobs" = 1 ]; then
            # kill it again and again at other moments: after a resume, mid-run
            local k
            for k in 18 26; do
                kill -9 "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
                check "jobs 1: consistent after a SIGKILL (before kill $k)" integrity "$db"
                "$halo_bin" sweep --quiet --db "$db" "$s" >/dev/null 2>&1 &
                pid=$!
                for i in $(seq 1 400); do
                    n=$(sqlite3 -batch -noheader "$db" "SELECT count(*) FROM run" 2>/dev/null || echo 0)
                    [ "${n:-0}" -ge "$k" ] && break
                    sleep 0.02
                done
            done
        fi
        local children
        children=$(pgrep -P "$pid" || true)
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        sleep 0.3
        local left=0 c
        for c in $children; do # alive: exists and is not a zombie (dead, not yet reaped)
            [ -r "/proc/$c/stat" ] && [ "$(cut -d' ' -f3 "/proc/$c/stat" 2>/dev/null)" != Z ] &&
                left=$((left + 1))
        done
        check "jobs $jobs: no worker outlives the killed sweep" test "$left" = 0
        n=$(runs "$db")
        check "jobs $jobs: killed mid-way ($n of $total runs stored)" test "$n" -gt 0 -a "$n" -lt "$total"
        check "jobs $jobs: database consistent after SIGKILL" integrity "$db"
        check "jobs $jobs: no run without its tokens" test "$(sqlite3 "$db" 'SELECT count(*) FROM run r WHERE (SELECT count(*) FROM token t WHERE t.run_id = r.id) <> r.tokens')" = 0
        halo sweep --quiet --jobs "$jobs" --db "$db" "$s" >"$tmp/out" 2>&1 || not_ok "resume"
        check "jobs $jobs: resume skipped the stored runs" grep -q "$n already in" "$tmp/out"
        dump "$tmp/ref.db" >"$tmp/ref.txt"
        dump "$db" >"$tmp/got.txt"
        if cmp -s "$tmp/ref.txt" "$tmp/got.txt"; then
            ok "jobs $jobs: killed and resumed equals uninterrupted (all rows, $(wc -l <"$tmp/ref.txt") lines)"
        else
            not_ok "jobs $jobs: killed and resumed differs from uninterrupted"
            diff "$tmp/ref.txt" "$tmp/got.txt" | head -n 10
        fi
    done
}

case_results_concurrent() {
    sweep_loss_short
    local s=$tmp/sweep-loss.yaml db=$tmp/c.db
    halo sweep --quiet --db "$tmp/ref.db" "$s" >/dev/null || not_ok "reference sweep"
    "$halo_bin" sweep --quiet --db "$db" "$s" >"$tmp/o1" 2>&1 &
    local p1=$!
    "$halo_bin" sweep --quiet --jobs 2 --db "$db" "$s" >"$tmp/o2" 2>&1 &
    local p2=$!
    "$halo_bin" sweep --quiet --db "$db" "$s" >"$tmp/o3" 2>&1 &
    local p3=$!
    wait $p1
    local r1=$?
    wait $p2
    local r2=$?
    wait $p3
    local r3=$?
    # (the three also race to create the database and its schema)
    check "three concurrent sweeps into one new database all succeed ($r1, $r2, $r3)" \
        test "$r1:$r2:$r3" = 0:0:0
    cat "$tmp/o1" "$tmp/o2" "$tmp/o3" | grep "^halo:" | sed 's/^/    /'
    check "database consistent" integrity "$db"
    check "every run stored once (60)" test "$(runs "$db")" = 60
    dump "$tmp/ref.db" >"$tmp/ref.txt"
    dump "$db" >"$tmp/got.txt"
    check "concurrent result equals a single sweep's" cmp -s "$tmp/ref.txt" "$tmp/got.txt"
}

case_results_shards() {
    local s=$sc/sweep-scale.yaml
    halo sweep --quiet --db "$tmp/ref.db" "$s" >/dev/null || not_ok "reference sweep"
    halo sweep --quiet --shard 0/2 --db "$tmp/s0.db" "$s" >/dev/null || not_ok "shard 0/2"
    halo sweep --quiet --shard 1/2 --db "$tmp/s1.db" "$s" >/dev/null || not_ok "shard 1/2"
    check "shards split the runs (9 + 9)" test "$(runs "$tmp/s0.db")+$(runs "$tmp/s1.db")" = 9+9
    expect_ok db merge "$tmp/m.db" "$tmp/s0.db" "$tmp/s1.db"
    check "merge copied 9 from each shard" test "$(grep -c '9 runs copied' "$tmp/out")" = 2
    dump "$tmp/ref.db" >"$tmp/ref.txt"
    dump "$tmp/m.db" >"$tmp/got.txt"
    check "merged shards equal one sweep" cmp -s "$tmp/ref.txt" "$tmp/got.txt"
    expect_ok db merge "$tmp/m.db" "$tmp/s0.db"
    check "merging again copies nothing" grep -q "0 runs copied into .*, 9 already there" "$tmp/out"
    # a Slurm job array of 2 tasks numbered from 4: task 5 is shard 1/2
    SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_MIN=4 SLURM_ARRAY_TASK_COUNT=2 \
        halo sweep --shard auto --list --db "$tmp/none.db" "$s" >"$tmp/slurm.txt"
    halo sweep --shard 1/2 --list --db "$tmp/none.db" "$s" >"$tmp/s1.txt"
    check "Slurm array task 5 of 4..5 takes shard 1/2" cmp -s "$tmp/slurm.txt" "$tmp/s1.txt"
    if command -v mpirun >/dev/null; then
        local mpi=(mpirun -np 2)
        [ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
        mpi+=(--oversubscribe)
        if "${mpi[@]}" "$halo_bin" sweep --quiet --shard auto --db "$tmp/mpi-%r.db" "$s" >"$tmp/mpi.out" 2>&1; then
            ok "mpirun -np 2 halo sweep --shard auto"
        else
            not_ok "mpirun -np 2 halo sweep --shard auto"
            sed 's/^/    /' "$tmp/mpi.out" | head -n 20
        fi
        check "each rank wrote its shard" test "$(runs "$tmp/mpi-0.db" 2>/dev/null)+$(runs "$tmp/mpi-1.db" 2>/dev/null)" = 9+9
        halo db merge "$tmp/mpi.db" "$tmp/mpi-0.db" "$tmp/mpi-1.db" >/dev/null
        dump "$tmp/mpi.db" >"$tmp/got.txt"
        check "two MPI ranks merged equal one sweep" cmp -s "$tmp/ref.txt" "$tmp/got.txt"
    else
        echo "# skip the mpirun launch: mpirun not found (Debian package openmpi-bin; scripts/deps.sh installs it)"
    fi
}

case_results_regress() {
    if HALO=$halo_bin bash "$src/scripts/regress.sh" >"$tmp/out" 2>&1; then
        ok "regress: this build is within the committed baseline's tolerances"
    else
        not_ok "regress against regress/baseline.csv"
        sed 's/^/    /' "$tmp/out" | head -n 40
    fi
    # a deliberately slowed setting: HALO with one copy of critical activations and a fixed
    # 10 ms deadline instead of the adaptive one
    mkdir -p "$tmp/slow"
    sed 's/^  encoding: q8/  encoding: q8\n  redundancy: 1\n  adaptive_deadline: false/' \
        "$sc/regress.yaml" >"$tmp/slow/regress.yaml"
    sed -e "s|\.\./models/|$src/models/|" -e "s|\.\./data/|$src/data/|" \
        "$sc/regress-quality.yaml" >"$tmp/slow/regress-quality.yaml"
    HALO=$halo_bin bash "$src/scripts/regress.sh" "$tmp/slow" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    check "regress fails for the slowed setting (exit $rc)" test "$rc" = 1
    check "and names what moved in a readable table" grep -qE '\| regress \| .*engine.baseline=halo \| speedup \| .*\*\*FAIL\*\*' "$tmp/out"
    check "with one line on stderr" grep -q "halo: .* values outside their tolerance" "$tmp/err"
    grep FAIL "$tmp/out" | head -n 3 | sed 's/^/    /'
}

# A harness directory DIR with tools/ground-truth.sh's two files: write_measured DIR
write_measured() {
    mkdir -p "$1"
    cat >"$1/runs.csv" <<'EOF'
system,model,loss,nodes,run,tokens,ms_mean,frames,dropped,missing_pct,self_ms,wall_s,status
halo-strict,S,0,4,1,2,10.0000,100,0,0.00,10.1,1,ok
halo-strict,S,0.01,4,1,2,30.0000,120,2,0.00,30.2,2,ok
dllama,S,0.01,4,1,1,50.0000,100,1,,49.5,1,failed
EOF
    cat >"$1/samples.csv" <<'EOF'
system,model,loss,nodes,run,idx,ms
halo-strict,S,0,4,1,1,9.0000
halo-strict,S,0,4,1,2,11.0000
halo-strict,S,0.01,4,1,1,20.0000
halo-strict,S,0.01,4,1,2,40.0000
dllama,S,0.01,4,1,1,50.0000
EOF
}

q() { sqlite3 -batch -noheader "$@"; }

case_results_measured() {
    local gt=$tmp/gt db=$tmp/m.db
    write_measured "$gt"
    expect_ok db import-measured "$db" "$gt"
    check "import: 3 runs, 5 tokens" grep -qxF "$gt: 3 runs (5 tokens) imported into $db, 0 runs (0 tokens) already there" "$tmp/out"
    check "stored: 3 runs, 5 tokens, schema version 5" test "$(q "$db" 'SELECT count(*) FROM measured_run; SELECT count(*) FROM measured_token; PRAGMA user_version' | tr '\n' ' ')" = "3 5 5 "
    expect_ok db import-measured --harness ground-truth "$db" "$gt/"
    check "importing again adds nothing" grep -q ": 0 runs (0 tokens) imported into .*, 3 runs (5 tokens) already there" "$tmp/out"
    check "still 3 runs" test "$(q "$db" 'SELECT count(*) FROM measured_run')" = 3
    # bad input: named with file:line and column, non-zero exit, nothing written
    local bad=$tmp/bad
    write_measured "$bad"
    sed -i '3s/,30.0000,/,x,/' "$bad/runs.csv"
    expect_fail 1 "bad/runs.csv:3: column 7 (ms_mean): expected a number, got 'x'" -- db import-measured "$tmp/new.db" "$bad"
    check "no database created for a bad directory" test ! -e "$tmp/new.db"
    write_measured "$bad"
    echo "halo-udp,S,0,4,1,1,5.0000" >>"$bad/samples.csv"
    expect_fail 1 "bad/samples.csv:7: no run halo-udp/S/4/0 run 1 in" -- db import-measured "$db" "$bad"
    write_measured "$bad"
    sed -i '2s/,ok$/,done/' "$bad/runs.csv"
    expect_fail 1 "bad/runs.csv:2: column 13 (status): 'done' is not one of ok, failed, timeout" -- db import-measured "$db" "$bad"
    check "nothing written into an existing database" test "$(q "$db" 'SELECT count(*) FROM measured_run')" = 3
    printf 'system,model\n' >"$bad/runs.csv"
    expect_fail 1 "bad/runs.csv:1: the header has 2 columns, expected 13" -- db import-measured "$db" "$bad"
    expect_fail 1 "none/runs.csv" -- db import-measured "$db" "$tmp/none"
    expect_fail 2 "missing DIR" -- db import-measured "$db"
    expect_fail 2 "harness name 'a b'" -- db import-measured --harness "a b" "$db" "$gt"
    # the report without mirrors: every cell listed, '-' in the simulated columns
    expect_ok report fidelity --db "$db"
    check "report: one table row per measured cell" test "$(grep -c '^| S |' "$tmp/out")" = 3
    check "report: without a mirror, '-' for the simulated values" grep -qF '| S | dllama | 4 | 1% | 50.00 (50.00-50.00; 1 of 1 runs failed) | - | - | - |' "$tmp/out"
    check "report: the last line counts the cells" test "$(tail -n 1 "$tmp/out")" = "Within 25% (mean and cost of loss): 0 of 0 cells with a simulated mirror; 3 measured cells without one. With the measured intervals: 0 within, 0 outside, 0 undecided."
    # the mirrors: tiny-loss at loss 0 and 1%, named mirror/CELL
    local l
    for l in 0 0.01; do
        sed -e "s|^name: .*|name: mirror/halo-strict/S/4/$l|" -e "s|loss: \[0, 0.01, 0.05\]|loss: $l|" \
            -e "s|\.\./models/|$src/models/|" "$sc/tiny-loss.yaml" >"$tmp/mirror-$l.yaml"
        halo sweep --quiet --db "$db" "$tmp/mirror-$l.yaml" >/dev/null || not_ok "sweep of mirror $l"
    done
    expect_ok report fidelity --db "$db" --harness ground-truth
    local sim0 sim1 row want
    sim0=$(q "$db" "SELECT avg(mean_ms) FROM latest_run WHERE scenario_name = 'mirror/halo-strict/S/4/0'")
    sim1=$(q "$db" "SELECT avg(mean_ms) FROM latest_run WHERE scenario_name = 'mirror/halo-strict/S/4/0.01'")
    row=$(grep '^| S | halo-strict | 4 | 1% |' "$tmp/out")
    # measured: 30 ms/token at 1%, 10 at 0, so the cost of loss is 20 ms
    want=$(q "$db" "SELECT printf('%+.1f%%', ($sim1 - 30) / 30 * 100) || '|' || printf('%+.1f%%', (($sim1 - $sim0) - 20) / 20 * 100)")
    check "report: the error from the stored values (${want%|*})" grep -qF -- "${want%|*}" <<<"$row"
    check "report: the cost error from the stored values (${want#*|})" grep -qF -- "${want#*|}" <<<"$row"
    check "report: measured mean (min-max), cost, p90 (nearest rank)" grep -qE '^\| S \| halo-strict \| 4 \| 1% \| 30\.00 \(30\.00-30\.00\) \| [0-9.]+ \| [^|]+ \| 20\.00 \| [0-9.-]+ \| [^|]+ \| 40\.00 \|' <<<"$row"
    check "report: 2 of the 3 cells have a mirror" grep -qE '^Within 25% \(mean and cost of loss\): [0-2] of 2 cells with a simulated mirror; 1 measured cells without one\. With the measured intervals: 0 within, 0 outside, 2 undecided\.$' <(tail -n 1 "$tmp/out")
    check "report: one run per cell, no interval: undecided" test "$(grep -c '| - | - | undecided: one run |$' "$tmp/out")" = 2
    expect_ok db info "$db"
    check "info: measured runs counted" grep -qxF "$db: 3 measured runs" "$tmp/out"
    check "info: per harness and source" grep -qE "^  ground-truth +3 runs +3 cells \(2 simulated\) +5 tokens +from $gt\$" "$tmp/out"
    expect_fail 1 "no measured runs of harness 'nope' (there: ground-truth)" -- report fidelity --db "$db" --harness nope
    halo sweep --quiet --db "$tmp/sim.db" "$tmp/mirror-0.yaml" >/dev/null
    expect_fail 1 "no measured runs (store them with 'halo db import-measured" -- report fidelity --db "$tmp/sim.db"
    expect_fail 1 "no such database" -- report fidelity --db "$tmp/missing.db"
    expect_fail 2 "missing --db" -- report fidelity
    expect_ok report fidelity --help
    check "report fidelity --help shows its usage" grep -q "usage: halo report fidelity" "$tmp/out"
    # merge copies the measured runs too
    expect_ok db merge "$tmp/merged.db" "$db"
    check "merge: runs and measured runs copied" grep -q "2 runs copied into .*, 0 already there; 3 measured runs copied" "$tmp/out"
    check "merged: the same fidelity rows" test "$(q "$db" 'SELECT * FROM fidelity')" = "$(q "$tmp/merged.db" 'SELECT * FROM fidelity')"
    # a version-1 database: refused until migrated; migrated, it keeps its runs and has a new
    # database's schema
    cp "$tmp/sim.db" "$tmp/v1.db"
    q "$tmp/v1.db" "DROP VIEW speedup; DROP VIEW fidelity; DROP VIEW latest_run;
        ALTER TABLE scenario DROP COLUMN last_seen; ALTER TABLE run DROP COLUMN packets_lost;
        ALTER TABLE run DROP COLUMN queue_drops; ALTER TABLE device_stat DROP COLUMN queue_drops;
        DROP INDEX run_identity; ALTER TABLE run DROP COLUMN copied_from;
        ALTER TABLE run DROP COLUMN resolved; ALTER TABLE run DROP COLUMN point_hash; DROP VIEW measured_cell;
        DROP TABLE measured_replan; DROP TABLE measured_token; DROP TABLE measured_run;
        CREATE VIEW latest_run AS SELECT r.* FROM run r WHERE r.scenario_hash = (SELECT s.hash
            FROM scenario s WHERE s.name = r.scenario_name ORDER BY s.first_seen DESC, s.rowid
            DESC LIMIT 1); PRAGMA user_version = 1"
    expect_fail 1 "schema version 1 is older than this halo's 5; run 'halo db migrate" -- report --db "$tmp/v1.db"
    expect_fail 1 "run 'halo db migrate" -- db import-measured "$tmp/v1.db" "$gt"
    expect_ok db migrate "$tmp/v1.db"
    check "migrate: now version 5" grep -qxF "$tmp/v1.db: schema version 5" "$tmp/out"
    check "migrate: its runs kept" test "$(runs "$tmp/v1.db")" = "$(runs "$tmp/sim.db")"
    check "migrate: the schema of a new database" test "$(q "$tmp/v1.db" .schema)" = "$(q "$tmp/sim.db" .schema)"
    expect_ok db import-measured "$tmp/v1.db" "$gt"
    check "a migrated database takes measured runs" test "$(q "$tmp/v1.db" 'SELECT count(*) FROM fidelity')" = 1
}

run_cases results_bad_inputs results_sweep results_crash_resume results_concurrent \
    results_shards results_regress results_measured
finish
