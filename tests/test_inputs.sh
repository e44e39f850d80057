#!/usr/bin/env bash
# Hostile inputs and faults a user must understand (issue 18): every file argument given a
# FIFO fails at once (inputs and outputs); YAML alias bombs and deep nesting fail fast and
# small; cluster files refuse what scenarios refuse; a NaN model's eval --json is an error,
# not invalid JSON; numbers out of range say so; an empty --db, a file-size limit (ulimit -f
# in a subshell) and a read-only results database each give one clear message; an output
# that is one of the command's own inputs is refused (exit 2), and a failed convert keeps the
# earlier output.
# usage: test_inputs.sh HALO_BINARY SOURCE_DIR [case]
set -u
# Nothing here may hang: every run is bounded (a hang fails as exit 124).
run_prefix="timeout 20"
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
halo_script inputs "$@"

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

# cluster_refused NAME NEEDLE: generate refuses the cluster file $tmp/NAME.yaml (exit 1, with
# NEEDLE, within 5 s).
cluster_refused() {
    expect_fast_fail 5 1 "$2" -- generate --cluster "$tmp/$1.yaml" -n 2
}

# bad_cluster NAME TEXT NEEDLE: the cluster file $tmp/NAME.yaml holding TEXT (a printf format)
# is refused as cluster_refused says.
bad_cluster() {
    # shellcheck disable=SC2059 # TEXT is a format: its \n are the file's lines
    printf "$2" >"$tmp/$1.yaml"
    cluster_refused "$1" "$3"
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
    cluster_refused deep "nested deeper than 16 levels"
    {
        printf "$head"'x: '
        for _ in $(seq 50000); do printf '{a: '; done
        printf '1'
        for _ in $(seq 50000); do printf '}'; done
        printf '\n'
    } >"$tmp/deep-map.yaml"
    cluster_refused deep-map "nested deeper than 16 levels"
    { printf "$head"; head -c 2000000 /dev/zero | tr '\0' '#'; } >"$tmp/big.yaml"
    cluster_refused big "larger than the limit of 1048576"
    bad_cluster dup "$head"'key: again.key\n' "dup.yaml:3: duplicate key 'key' (first on line 1)"
    bad_cluster docs "$head"'---\nkey: b.key\n' "docs.yaml:3: only one YAML document is allowed"
    bad_cluster warm "$head"'warmup: maybe\n' "warm.yaml:3: warmup"
    # the same worker twice (two devices of which one never answers: 2.4 s of stalls and a
    # root that computed everything, exit 0); [::1] spelt two ways is one address
    bad_cluster twice 'key: k.key\nworkers: [127.0.0.1:7001, 127.0.0.1:7002, "127.0.0.1:7001"]\n' \
        "twice.yaml:2: workers[2]: '127.0.0.1:7001' is workers[0]'s address too"
    bad_cluster twice6 'key: k.key\nworkers: ["[::1]:7001", "[0::1]:7001"]\n' "twice6.yaml:2: workers[1]"
    # bind: checked where it is written (a bare "address 'x': expected host:port", exit 2),
    # and a family that cannot reach the workers ("did not answer the join within 3.0 s")
    bad_cluster bind "$head"'bind: garbage\n' "bind.yaml:3: bind: address 'garbage': expected host:port"
    bad_cluster bind6 "$head"'bind: "[::1]:0"\n' \
        "bind6.yaml:3: bind: '[::1]:0' is an IPv6 address and cannot reach workers[0]"
    bad_cluster nokey 'key: ""\nworkers: [127.0.0.1:7001]\n' \
        "nokey.yaml:1: key: expected a key file's name, got an empty string"
    # a worker that cannot stream what --memory-mb asks of it says so at start (it listened,
    # and every root's join was refused as "the request does not fit its model")
    halo keygen "$tmp/w.key" >/dev/null 2>&1
    halo convert -t q8_0 -o "$tmp/w.gguf" >/dev/null 2>&1
    expect_fast_fail 5 1 "--memory-mb streams groups from float32 llama2.c checkpoints only" -- \
        worker --listen 127.0.0.1:0 --key "$tmp/w.key" -m "$tmp/w.gguf" --memory-mb 1
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
    expect_ok convert -o "$tmp/keep.gguf" -t q4_0
    cp "$tmp/keep.gguf" "$tmp/keep.orig"
    (
        ulimit -f 40
        expect_fail 1 "the file-size limit of 40960 bytes" -- \
            sweep "$src/scenarios/tiny-loss.yaml" --db "$tmp/x.db"
        expect_fail 1 "x.gguf: write failed: File too large" -- convert -o "$tmp/x.gguf"
        expect_fail 1 "keep.gguf: write failed: File too large" -- convert -o "$tmp/keep.gguf"
        finish >"$tmp/sub.tap"
    )
    local sub=$?
    sed 's/^/#   /' "$tmp/sub.tap"
    check "the limited commands failed cleanly (subshell status $sub)" test "$sub" -eq 0
    check "a failed convert leaves no file" test ! -e "$tmp/x.gguf"
    # convert writes a temporary file and renames it: a failure keeps the earlier output
    check "a failed convert leaves an existing output as it was" cmp -s "$tmp/keep.gguf" "$tmp/keep.orig"
    check "a failed convert leaves no temporary file" \
        test -z "$(find "$tmp" -maxdepth 1 -name '.*.tmp')"
    # Without the limit the same database takes the sweep.
    expect_ok sweep "$src/scenarios/tiny-loss.yaml" --db "$tmp/x.db"
    expect_ok db info "$tmp/x.db"
    check "3 runs stored" grep -q "3 runs" "$tmp/out"
    # gnuplot (which inherits the limit and the ignored SIGXFSZ) exits 0 with a cut figure:
    # halo checks each figure's ending and names it; nothing is left under the figure's name
    # First once without the limit: on a fresh machine the first figure has fontconfig
    # write its cache, and under the limit that write fails with fontconfig's own message
    # ("write cache: ...") before gnuplot cuts anything (seen once, on a new machine).
    expect_ok plot --db "$tmp/x.db" --out "$tmp/plots-warm"
    mkdir "$tmp/plots"
    (
        ulimit -f 16
        expect_fail 1 "is incomplete (a full disk or the file-size limit?)" -- \
            plot --db "$tmp/x.db" --out "$tmp/plots"
        finish >"$tmp/sub.tap"
    )
    sub=$?
    sed 's/^/#   /' "$tmp/sub.tap"
    check "plot under the limit failed cleanly (subshell status $sub)" test "$sub" -eq 0
    check "no cut figure and no temporary file left" \
        test -z "$(find "$tmp/plots" -name '*.png' -o -name '*.svg' -o -name '*.pdf' -o -name '*.tmp')"
}

# An output that is one of the command's own inputs, under any path (./x, a symbolic link):
# refused with both paths named, exit 2, the input untouched. Before: export and regress
# --write replaced the database with CSV, sim --trace the scenario, convert died of SIGBUS
# after truncating the checkpoint it had mapped, calibrate overwrote the model, and db merge
# of ./s.db into s.db waited 60 s on its own lock.
case_same_file() {
    local sc=$src/scenarios/tiny-loss.yaml
    expect_ok sweep "$sc" --db "$tmp/s.db"
    cp "$tmp/s.db" "$tmp/s.orig"
    ln -s s.db "$tmp/s.link"
    expect_fail 2 "--out $tmp/./s.db: the same file as --db $tmp/s.db" -- \
        export --db "$tmp/s.db" -o "$tmp/./s.db"
    expect_fail 2 "--baseline $tmp/s.link: the same file as --db $tmp/s.db" -- \
        regress --db "$tmp/s.db" --baseline "$tmp/s.link" --write
    expect_fail 2 "SRC $tmp/./s.db is the same file as DEST $tmp/s.db" -- \
        db merge "$tmp/s.db" "$tmp/./s.db"
    expect_fail 2 "SRC $tmp/s.link is the same file as DEST $tmp/s.db" -- \
        db merge "$tmp/s.db" "$tmp/s.link"
    check "the database is left as it was" cmp -s "$tmp/s.db" "$tmp/s.orig"
    sed "s#\.\./models/#$src/models/#" "$sc" >"$tmp/t.yaml"
    cp "$tmp/t.yaml" "$tmp/t.orig"
    expect_fail 2 "--trace $tmp/./t.yaml: the same file as the scenario $tmp/t.yaml" -- \
        sim --trace "$tmp/./t.yaml" "$tmp/t.yaml"
    expect_fail 2 "--db $tmp/t.yaml: the same file as SCENARIO $tmp/t.yaml" -- \
        sweep --db "$tmp/t.yaml" "$tmp/t.yaml"
    check "the scenario is left as it was" cmp -s "$tmp/t.yaml" "$tmp/t.orig"
    cp "$src/models/stories260K.bin" "$tmp/m.bin"
    expect_fail 2 "-o $tmp/m.bin: the same file as CHECKPOINT $tmp/./m.bin" -- \
        convert -o "$tmp/m.bin" -t q8_0 "$tmp/./m.bin"
    expect_fail 2 "-o $tmp/m.bin: the same file as the model $tmp/m.bin" -- \
        calibrate -m "$tmp/m.bin" -o "$tmp/m.bin" "$src/data/tinystories-valid-dev.txt"
    check "the model is left as it was" cmp -s "$tmp/m.bin" "$src/models/stories260K.bin"
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

# A full disk (issue 18): a tmpfs of 4 MB in a private mount namespace (needs root: CI runs
# as root; skipped with exit 77 otherwise). The script runs itself again under `unshare -m`
# as case full_disk_ns, which mounts the tmpfs on $tmp/disk.
# skip WHY: exit 77 (ctest's skip) when this case runs alone, a TAP skip among all cases.
skip() {
    echo "skipped: $1"
    [ -n "$only" ] && exit 77
    ok "# SKIP $1"
}

case_full_disk() {
    if [ "$(id -u)" -ne 0 ]; then
        skip "a full disk needs root (a tmpfs in a private mount namespace)"
        return
    fi
    if ! command -v unshare >/dev/null || ! unshare -m true 2>/dev/null; then
        skip "unshare -m is missing or refused (no mount namespaces here)"
        return
    fi
    HALO_FULL_DISK_NS=1 unshare -m bash "$0" "$halo_bin" "$src" full_disk_ns
    local rc=$?
    [ "$rc" -eq 77 ] && exit 77
    check "the full-disk cases passed in their mount namespace" test "$rc" -eq 0
}

# fill_disk DIR KB: a file that leaves about KB kilobytes free on DIR's file system.
fill_disk() {
    local avail
    avail=$(df --output=avail -B1 "$1" | tail -n 1)
    head -c $((avail > $2 * 1024 ? avail - $2 * 1024 : 0)) /dev/zero >>"$1/fill$2" 2>/dev/null
    echo "# $1: $(df --output=avail -B1 "$1" | tail -n 1) bytes free"
}

case_full_disk_ns() {
    [ "${HALO_FULL_DISK_NS:-}" = 1 ] || { echo "full_disk_ns runs under case full_disk"; exit 2; }
    local d=$tmp/disk
    mkdir "$d"
    mount -t tmpfs -o size=4m tmpfs "$d" || {
        echo "skipped: mount -t tmpfs refused"
        exit 77
    }
    # ten runs of each of tiny-loss's three points, under another name, the model absolute
    sed -e "s|\.\./models|$src/models|" -e 's/^runs: 1/runs: 10/' \
        -e 's/^name: tiny-loss/name: tiny-loss10/' "$src/scenarios/tiny-loss.yaml" >"$tmp/t10.yaml"
    expect_ok sweep "$src/scenarios/tiny-loss.yaml" --db "$d/r.db"
    expect_ok export --db "$d/r.db" -o "$d/old.csv"
    cp "$d/old.csv" "$tmp/old.csv"
    # about 80 KB left: the sweep stores a run or two, then stops at the first full write
    fill_disk "$d" 80
    expect_fail 1 "r.db: out of space (see above): the sweep stopped with" -- \
        sweep "$tmp/t10.yaml" --db "$d/r.db"
    check "the sweep named the full disk" grep -q "database or disk is full\|No space left" "$tmp/err"
    check "the sweep ran no run after the disk was full" grep -q " 1 failed" "$tmp/out"
    # nothing left at all
    fill_disk "$d" 0
    expect_ok db info "$d/r.db"
    check "db info on the full disk lists the earlier runs" grep -q "tiny-loss .* 3 runs" "$tmp/out"
    expect_ok report --db "$d/r.db"
    expect_fail 1 "r.db: commit: database or disk is full" -- generate -n 4 --db "$d/r.db"
    expect_fail 1 "r.db: commit: database or disk is full" -- eval --db "$d/r.db" --max-stories 1 \
        "$src/data/tinystories-valid-dev.txt"
    # outputs: a clear message, and nothing half-written under the final name
    expect_fail 1 "old.csv: write failed: No space left on device" -- \
        export --db "$d/r.db" -o "$d/old.csv"
    check "a failed export left the earlier CSV as it was" cmp -s "$d/old.csv" "$tmp/old.csv"
    expect_fail 1 "new.csv: write failed: No space left on device" -- \
        export --db "$d/r.db" -o "$d/new.csv"
    check "a failed export left no new CSV" test ! -e "$d/new.csv"
    halo report --db "$d/r.db" --json >"$d/r.json" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" -eq 1 ] && grep -q "halo: standard output: write failed: No space left on device" \
        "$tmp/err"; then
        ok "report --json > a full disk: exit 1, $(tr '\n' ' ' <"$tmp/err")"
    else
        not_ok "report --json > a full disk: exit $rc, $(head -n 1 "$tmp/err")"
    fi
    mkdir "$d/plots"
    expect_fail 1 "write failed: No space left on device" -- plot --db "$d/r.db" --out "$d/plots"
    check "a failed plot left no figure under its name" \
        test -z "$(find "$d/plots" -name '*.png' -o -name '*.svg' -o -name '*.pdf' -o -name '*.tmp')"
    expect_fail 1 "t.json: write failed: No space left on device" -- \
        sim --trace "$d/t.json" "$src/scenarios/tiny-loss.yaml"
    check "a failed trace left no file" test ! -e "$d/t.json"
    check "no temporary file left" test -z "$(find "$d" -name '*.tmp')"
    # space again: the same sweep resumes and completes; the database is whole
    rm -f "$d"/fill*
    expect_ok sweep "$tmp/t10.yaml" --db "$d/r.db"
    expect_ok db info "$d/r.db"
    check "after the disk had room again: 3 and 30 runs" \
        grep -q "tiny-loss10 .* 30 runs" "$tmp/out"
    if command -v sqlite3 >/dev/null; then
        check "integrity_check: ok" test "$(sqlite3 "$d/r.db" 'PRAGMA integrity_check')" = ok
    fi
    umount "$d"
}

run_cases fifo yaml_bombs cluster_files nan_eval numbers empty_db file_size_limit same_file read_only_db \
    full_disk
finish
