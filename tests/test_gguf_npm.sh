#!/usr/bin/env bash
# halo's GGUF files read by an independent parser: the npm package @huggingface/gguf
# (installed by scripts/deps.sh --ci into $HALO_NPM_DIR) must see the same header, keys,
# values and tensors (dimensions, types, offsets) as halo's reader, for files of every type
# halo writes. Exits 77 (skipped) without node or the package.
# usage: test_gguf_npm.sh HALO_BINARY GGUF_DUMP_BINARY SOURCE_DIR
set -u
halo_bin=$1 dump=$2 src=$(cd "$3" && pwd)
run_prefix=${HALO_RUN_PREFIX:-}
npm_dir=${HALO_NPM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/halo/npm}
if ! command -v node >/dev/null 2>&1; then
    echo "skip: node is not installed (scripts/deps.sh --ci installs it)"
    exit 77
fi
if ! [ -f "$npm_dir/node_modules/@huggingface/gguf/package.json" ]; then
    echo "skip: @huggingface/gguf is not in $npm_dir (scripts/deps.sh --ci installs it)"
    exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/halo-npm-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export HALO_MODEL_DIR=$src/models
failures=0 count=0
files=()
for t in f32 f16 q8_0 q4_0; do
    $run_prefix "$halo_bin" convert -t "$t" -o "$tmp/s-$t.gguf" || exit 1
    files+=("$tmp/s-$t.gguf")
done
$run_prefix "$halo_bin" convert --synthetic 256,512,2,4,2,32000,64 -t q4_k_m -o "$tmp/k.gguf" || exit 1
files+=("$tmp/k.gguf")
for f in "${files[@]}"; do
    count=$((count + 1))
    $run_prefix "$dump" "$f" >"$tmp/halo.txt" 2>&1
    node "$src/tests/gguf_npm.mjs" "$npm_dir" "$f" >"$tmp/npm.txt" 2>&1
    if [ -s "$tmp/halo.txt" ] && cmp -s "$tmp/halo.txt" "$tmp/npm.txt"; then
        echo "ok $count - $(basename "$f"): $(grep -c '^tensor ' "$tmp/halo.txt") tensors and" \
            "$(grep -c '^kv ' "$tmp/halo.txt") keys read alike"
    else
        echo "not ok $count - $(basename "$f"): the readers differ"
        diff "$tmp/halo.txt" "$tmp/npm.txt" | head -20
        failures=$((failures + 1))
    fi
done
echo "$((count - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
