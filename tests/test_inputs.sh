#!/usr/bin/env bash
# Hostile inputs and faults a user must understand (issue 18): every file argument given a
# FIFO fails at once (inputs and outputs); YAML alias bombs and deep nesting fail fast and
# small; cluster files refuse what scenarios refuse; a NaN model's eval --json is an error,
# not invalid JSON; numbers out of range say so; an empty --db, a file-size limit (ulimit -f
# in a subshell) and a read-only results database each give one clear message.
# usage: test_inputs.sh HALO_BINARY SOURCE_DIR [case]
set -u
halo_bin=$1
src=$(cd "$2" && pwd)
only=${3:-}
export HALO_MODEL_DIR=$src/models
# Nothing here may hang: every run is bounded (a hang fails as exit 124).
run_prefix="timeout 20"
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
scratch_dir inputs

# expect_fast_fail SECONDS STATUS NEEDLE -- ARGS...: expect_fail, within SECONDS.
expect_fast_fail() {
    local secs=$1 t0 ms
    shift
    t0=$(date +%s%N)
    expect_fail "$@"
    ms=$((($(date +%s%N) - t0) / 1000000))
    if [ "$ms" -gt $((secs * 1000)) ]; then
        not_ok "took ${ms} ms, more than ${secs} s"
    else
        ok "failed in ${ms} ms (limit ${secs} s)"
    fi
}

case_fifo() {
    local m=$src/models/stories260K.bin z=$src/models/tok512.bin t=$src/data/tinystories-valid-dev.txt
    local f=$tmp/fifo
    mkfifo "$f"
    printf 'key: k.key\nworkers: [127.0.0.1:7001]\n' >"$tmp/cluster.yaml"
    # inputs
    expect_fast_fail 5 1 "not a regular file (a FIFO)" -- generate -m "$f" -n 2
    expect_fast_fail 5 1 "not a regular file (a FIFO)" -- generate -m "$m" -z "$f" -n 2
    expect_fast_fail 5 1 "not a regular file (a FIFO)" -- eval "$f"
    expect_fast_fail 5 1 "not a regular file (a FIFO)" -- eval -m "$f" "$t"
    # bench measures the memory bandwidth before it opens the model: slower, never blocked
    expect_fast_fail 30 1 "not a regular file (a FIFO)" -- bench --model "$f"
    expect_fast_fail 5 1 "not a regular file (a FIFO)" -- sim "$f"
    expect_fast_fail 5 1 "not a regular file (a FIFO)" -- eval --scenario "$f" "$t"
    expect_fast_fail 5 1 "not a regular file (a FIFO)" -- calibrate "$f"
    expect_fast_fail 5 1 "not a regular file (a FIFO)" -- calibrate -m "$f" "$t"
    expect_fast_fail 5 1 "not a regular file (a FIFO)" -- sweep "$f" --db "$tmp/x.db"
    expect_fast_fail 5 1 "not a regular file" -- sweep "$src/scenarios/tiny-loss.yaml" --db "$f"
    expect_fast_fail 5 1 "not a regular file" -- db info "$f"
    expect_fast_fail 5 1 "not a regular file" -- report --db "$f"
    # regress: exit 2 is "cannot read" (1 is "regressed"), docs/results.md
    expect_fast_fail 5 2 "not a regular file" -- regress --db "$f" --baseline "$src/regress/baseline.csv"
    expect_fast_fail 5 1 "not a regular file (a FIFO)" -- generate --cluster "$f" -n 2
    expect_fast_fail 5 1 "not a regular file (a FIFO)" -- worker --listen 127.0.0.1:0 --key "$f"
    # outputs: refused without waiting for a reader, and the FIFO is left alone
    expect_fast_fail 5 1 "$f: not a regular file (a FIFO)" -- convert -o "$f"
    expect_fast_fail 5 1 "not a regular file (a device)" -- convert -o /dev/null
    check "the FIFO is still a FIFO" test -p "$f"
    [ -e "$tmp/x.db" ] && not_ok "a refused sweep left $tmp/x.db"
}

# A 1 MB scenario whose ~1 MB scalar is aliased 1000 times (1 GB expanded: it took 1.15 GB
# and 8.7 s), and nested aliases (~10 GB): a clean error naming the limit, fast.
case_yaml_bombs() {
    local big
    big=$(head -c 1000000 /dev/zero | tr '\0' x)
    {
        printf 'model: {shape: llama2-7b}\nbig: &a "%s"\nlist:\n' "$big"
        for _ in $(seq 1000); do printf '  - *a\n'; done
    } >"$tmp/bomb.yaml"
    expect_fast_fail 5 1 "bytes of values (alias expansion?)" -- sim "$tmp/bomb.yaml"
    {
        printf 'model: {shape: llama2-7b}\na: &a "%s"\n' "$(head -c 100000 /dev/zero | tr '\0' y)"
        printf 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n'
        printf 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n'
        printf 'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n'
        printf 'e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n'
    } >"$tmp/nested.yaml"
    expect_fast_fail 5 1 "bytes of values (alias expansion?)" -- sim "$tmp/nested.yaml"
    head -c 5000000 /dev/zero | tr '\0' '#' >"$tmp/huge.yaml"
    expect_fast_fail 5 1 "larger than the limit of 4194304" -- sim "$tmp/huge.yaml"
}

# Cluster files: nesting was quadratic (100k levels in 200 KB: 17.9 s), there was no size
# limit, and duplicate keys and a second document were accepted.
case_cluster_files() {
    local head='key: k.key\nworkers: [127.0.0.1:7001]\n'
    {
        printf "$head"'x: '
        head -c 100000 /dev/zero | tr '\0' '['
        head -c 100000 /dev/zero | tr '\0' ']'
        printf '\n'
    } >"$tmp/deep.yaml"
    expect_fast_fail 5 1 "nested deeper than 16 levels" -- generate --cluster "$tmp/deep.yaml" -n 2
    {
        printf "$head"'x: '
        for _ in $(seq 50000); do printf '{a: '; done
        printf '1'
        for _ in $(seq 50000); do printf '}'; done
        printf '\n'
    } >"$tmp/deep-map.yaml"
    expect_fast_fail 5 1 "nested deeper than 16 levels" -- generate --cluster "$tmp/deep-map.yaml" -n 2
    { printf "$head"; head -c 2000000 /dev/zero | tr '\0' '#'; } >"$tmp/big.yaml"
    expect_fast_fail 5 1 "larger than the limit of 1048576" -- generate --cluster "$tmp/big.yaml" -n 2
    printf "$head"'key: again.key\n' >"$tmp/dup.yaml"
    expect_fast_fail 5 1 "dup.yaml:3: duplicate key 'key' (first on line 1)" -- \
        generate --cluster "$tmp/dup.yaml" -n 2
    printf "$head"'---\nkey: b.key\n' >"$tmp/docs.yaml"
    expect_fast_fail 5 1 "docs.yaml:3: only one YAML document is allowed" -- \
        generate --cluster "$tmp/docs.yaml" -n 2
}

# A model whose first embedding row is NaN: eval --json printed "nll": nan (invalid JSON)
# and exited 0.
case_nan_eval() {
    local m=$src/models/stories260K.bin
    { head -c 28 "$m"; for _ in $(seq 64); do printf '\000\000\300\177'; done; tail -c +285 "$m"; } \
        >"$tmp/nan.bin"
    check "the NaN model is the bundled model's size" \
        test "$(stat -c %s "$tmp/nan.bin")" -eq "$(stat -c %s "$m")"
    printf 'Once upon a time there was a cat.\n' >"$tmp/s.txt"
    expect_fail 1 "the log-likelihood is NaN" -- eval --json -m "$tmp/nan.bin" "$tmp/s.txt"
    check "nothing on stdout" test ! -s "$tmp/out"
    expect_fail 1 "the log-likelihood is NaN" -- eval -m "$tmp/nan.bin" "$tmp/s.txt"
}

# Numbers beyond a double were reported as "not a number".
case_numbers() {
    expect_fail 2 "--temp: 1e400 is out of range: not in [0, 1e+06]" -- generate --temp 1e400 -n 2
    expect_fail 2 "1e400 is out of range: not in [1," -- generate -n 1e400
    expect_fail 2 "--steps: 99999999999 is not in [1, 1073741824]" -- generate -n 99999999999
    expect_fail 2 "expected a number, got 'abc'" -- generate --temp abc -n 2
}

# --db '' gave "halo: : cannot switch to WAL mode".
case_empty_db() {
    expect_fail 2 "--db: empty file name" -- sweep "$src/scenarios/tiny-loss.yaml" --db ''
    expect_fail 2 "--db: empty file name" -- report --db ''
    expect_fail 1 "the database's file name is empty" -- db info ''
}

# ulimit -f: SIGXFSZ killed a sweep without a word. Now: EFBIG reported, exit 1, the
# database stays consistent, and a failed convert leaves no file.
case_file_size_limit() {
    (
        ulimit -f 40
        expect_fail 1 "the file-size limit of 40960 bytes" -- \
            sweep "$src/scenarios/tiny-loss.yaml" --db "$tmp/x.db"
        expect_fail 1 "x.gguf: write failed: File too large" -- convert -o "$tmp/x.gguf"
        finish >"$tmp/sub.tap"
    )
    local sub=$?
    sed 's/^/#   /' "$tmp/sub.tap"
    check "the limited commands failed cleanly (subshell status $sub)" test "$sub" -eq 0
    check "a failed convert leaves no file" test ! -e "$tmp/x.gguf"
    # Without the limit the same database takes the sweep.
    expect_ok sweep "$src/scenarios/tiny-loss.yaml" --db "$tmp/x.db"
    expect_ok db info "$tmp/x.db"
    check "3 runs stored" grep -q "3 runs" "$tmp/out"
}

# A database this user cannot write (as root: run halo as nobody; otherwise chmod): db info
# and report read it; a sweep is refused saying it is read-only.
case_read_only_db() {
    expect_ok sweep "$src/scenarios/tiny-loss.yaml" --db "$tmp/r.db"
    local as=()
    if [ "$(id -u)" -eq 0 ]; then
        command -v setpriv >/dev/null || {
            ok "# SKIP setpriv missing"
            return
        }
        as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
        chmod 755 "$tmp"
    else
        chmod 444 "$tmp/r.db"
        chmod 555 "$tmp"
    fi
    local saved=$run_prefix
    run_prefix="timeout 20 ${as[*]}"
    expect_ok db info "$tmp/r.db"
    check "db info lists the runs" grep -q "tiny-loss .* 3 runs" "$tmp/out"
    expect_ok report --db "$tmp/r.db"
    check "report has a table" grep -q "tiny-loss" "$tmp/out"
    expect_fail 1 "r.db: read-only (the file or its directory cannot be written)" -- \
        sweep "$src/scenarios/tiny-loss.yaml" --db "$tmp/r.db"
    run_prefix=$saved
    chmod 755 "$tmp"
    check "no side files left beside it" test ! -e "$tmp/r.db-wal" -a ! -e "$tmp/r.db-shm"
}

run_cases fifo yaml_bombs cluster_files nan_eval numbers empty_db file_size_limit read_only_db
finish
