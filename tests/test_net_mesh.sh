#!/usr/bin/env bash
# The mesh collective over real sockets (issue 15): root + 3 `halo worker` processes on
# loopback with engine.collective: mesh (every node sends its partial sums to every other,
# the classifier split in four row slices).
#   - strict over TCP and over UDP: 200 greedy ids equal single-device generate on the
#     bundled model; the workers log that they connected to their 2 peers;
#   - the star with split_classifier: true (each node computes a quarter of the classifier,
#     the root gathers the logits), strict over TCP and relaxed over UDP (2 s deadline: on
#     loopback nothing is late): the same 200 ids;
#   - a small synthetic model with the 32000-token vocabulary (dim 64, 2 layers): 24 greedy
#     ids equal the single device's, for the mesh, the star and the star with the split
#     classifier;
#   - mesh with relaxed sync is refused with the reason;
#   - kill -9 of worker 2 mid-generation: the root stops with a clear error naming the
#     worker within the dead-after time (the mesh does not recover; the star does, see
#     test_net_kill9).
# Every wait is bounded; everything started is killed at exit.
# usage: test_net_mesh.sh HALO_BINARY SOURCE_DIR
set -u
halo_bin=$1
src=$2
export HALO_MODEL_DIR=$src/models
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
scratch_dir mesh
pids=()
cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null
    done
    sleep 0.2
    for p in "${pids[@]}"; do
        kill -9 "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# start_workers PREFIX TRANSPORT [extra args]: workers PREFIX-1..3 on free loopback ports;
# their addresses go into the array addrs, their pids into wpids.
start_workers() {
    local prefix=$1 transport=$2 i
    shift 2
    addrs=()
    wpids=()
    for i in 1 2 3; do
        "$halo_bin" worker --listen 127.0.0.1:0 --key "$tmp/k.key" --transport "$transport" \
            "$@" >"$tmp/$prefix-$i.log" 2>&1 &
        local pid=$! a=""
        pids+=("$pid")
        wpids+=("$pid")
        for _ in $(seq 100); do
            a=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\) .*/\1/p' "$tmp/$prefix-$i.log" 2>/dev/null)
            [ -n "$a" ] && break
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if [ -z "$a" ]; then
            echo "worker $prefix-$i did not start:" >&2
            cat "$tmp/$prefix-$i.log" >&2
            return 1
        fi
        addrs+=("$a")
    done
}

stop_workers() {
    for p in "${wpids[@]}"; do
        kill "$p" 2>/dev/null
    done
    wait "${wpids[@]}" 2>/dev/null
}

# cluster_file FILE DELIVERY COLLECTIVE [extra engine lines]
cluster_file() {
    local f=$1 delivery=$2 collective=$3
    shift 3
    {
        echo "key: k.key"
        echo "workers: [$(IFS=,; echo "${addrs[*]}")]"
        [ -n "${EXTRA:-}" ] && echo "$EXTRA"
        echo "engine:"
        echo "  sync: strict"
        echo "  delivery: $delivery"
        echo "  collective: $collective"
        for l in "$@"; do echo "  $l"; done
    } >"$f"
}

"$halo_bin" keygen "$tmp/k.key" || exit 1
"$halo_bin" generate -t 0 -n 200 --ids >"$tmp/single.txt" 2>/dev/null || exit 1

# 1. the bundled model, strict over TCP and UDP
for t in "tcp stream" "udp datagram"; do
    set -- $t
    start_workers "m-$1" "$1" || exit 1
    cluster_file "$tmp/m.yaml" "$2" mesh
    if timeout 120 "$halo_bin" generate -t 0 -n 200 --ids --cluster "$tmp/m.yaml" \
        >"$tmp/out.txt" 2>"$tmp/err.txt" && cmp -s "$tmp/out.txt" "$tmp/single.txt" &&
        grep -q " 0 of .* remote contributions missing" "$tmp/err.txt"; then
        ok "mesh, root + 3 workers, strict over $1: 200 greedy ids equal single-device generate"
    else
        not_ok "mesh over $1: output differs or failed"
        sed 's/^/    /' "$tmp/err.txt" | head -20
    fi
    if [ "$1" = tcp ]; then
        cluster_file "$tmp/s.yaml" "$2" star "split_classifier: true"
    else
        cluster_file "$tmp/s.yaml" "$2" star "split_classifier: true" "deadline_ms: 2000"
        sed -i 's/sync: strict/sync: relaxed/' "$tmp/s.yaml"
    fi
    what="split classifier, $(sed -n 's/  sync: //p' "$tmp/s.yaml") over $1"
    if timeout 120 "$halo_bin" generate -t 0 -n 200 --ids --cluster "$tmp/s.yaml" \
        >"$tmp/out.txt" 2>"$tmp/err.txt" && cmp -s "$tmp/out.txt" "$tmp/single.txt" &&
        grep -q " 0 of .* remote contributions missing" "$tmp/err.txt"; then
        ok "$what: 200 greedy ids equal single-device generate"
    else
        not_ok "$what: output differs or failed"
        sed 's/^/    /' "$tmp/err.txt" | head -20
    fi
    stop_workers
    if grep -q "mesh: connected to 2 peers" "$tmp/m-$1-1.log" &&
        grep -q "mesh collective" "$tmp/m-$1-3.log" &&
        grep -q "frames dropped: 0 unauthenticated, 0 replayed, 0 malformed" "$tmp/m-$1-2.log"; then
        ok "mesh over $1: the workers connected to their peers and dropped nothing"
    else
        not_ok "mesh over $1: worker logs"
        sed 's/^/    /' "$tmp/m-$1-1.log"
    fi
done

# 2. relaxed sync with the mesh is refused
start_workers r udp || exit 1
cluster_file "$tmp/r.yaml" datagram mesh
sed -i 's/sync: strict/sync: relaxed/' "$tmp/r.yaml"
if ! timeout 30 "$halo_bin" generate -t 0 -n 4 --cluster "$tmp/r.yaml" >/dev/null 2>"$tmp/err.txt" &&
    grep -q "engine.collective: mesh needs sync: strict" "$tmp/err.txt"; then
    ok "mesh with relaxed sync is refused: $(head -1 "$tmp/err.txt")"
else
    not_ok "mesh with relaxed sync was not refused"
    sed 's/^/    /' "$tmp/err.txt" | head
fi
stop_workers

# 3. a synthetic model with a 32000-token vocabulary (the classifier is most of its compute)
"$halo_bin" convert --synthetic 64,128,2,4,2,32000,32 -o "$tmp/v.gguf" >/dev/null 2>&1 || exit 1
"$halo_bin" generate -m "$tmp/v.gguf" -t 0 -n 24 --ids >"$tmp/vsingle.txt" 2>/dev/null || exit 1
start_workers v tcp -m "$tmp/v.gguf" || exit 1
for c in mesh star split; do
    if [ $c = split ]; then
        cluster_file "$tmp/v.yaml" stream star "split_classifier: true"
    else
        cluster_file "$tmp/v.yaml" stream "$c"
    fi
    if timeout 120 "$halo_bin" generate -m "$tmp/v.gguf" -t 0 -n 24 --ids --cluster "$tmp/v.yaml" \
        >"$tmp/out.txt" 2>"$tmp/err.txt" && cmp -s "$tmp/out.txt" "$tmp/vsingle.txt"; then
        ok "vocabulary 32000 (synthetic), $c over tcp: 24 greedy ids equal the single device's"
    else
        not_ok "vocabulary 32000, $c: output differs or failed"
        sed 's/^/    /' "$tmp/err.txt" | head -20
    fi
done
stop_workers

# 4. kill -9 of a worker in the middle of a mesh run: a clear error, not a hang
start_workers k tcp || exit 1
EXTRA=$'dead_after_ms: 400\ninject: {delay_ms: 2}' cluster_file "$tmp/k.yaml" stream mesh
timeout 120 "$halo_bin" generate -t 0 -n 200 --ids --cluster "$tmp/k.yaml" \
    >"$tmp/out.txt" 2>"$tmp/err.txt" &
gen=$!
pids+=("$gen")
sleep 1.5
kill -9 "${wpids[1]}"
wait "$gen"
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] &&
    grep -q "worker 2 (${addrs[1]}) was lost at position [0-9]*: the mesh collective cannot go on without it" \
        "$tmp/err.txt"; then
    ok "kill -9 of worker 2 in a mesh: exit $rc after $(wc -l <"$tmp/out.txt") ids, $(grep -o 'worker 2 ([^)]*) was lost at position [0-9]*' "$tmp/err.txt")"
else
    not_ok "kill -9 of worker 2 in a mesh (exit $rc)"
    sed 's/^/    /' "$tmp/err.txt" | head -20
fi
stop_workers
finish
