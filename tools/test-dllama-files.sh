#!/usr/bin/env bash
# Checks halo_dllama_files (the input files of tools/ground-truth.sh) without
# distributed-llama, and that `halo worker` serves a model whose vocabulary is not the
# bundled tokenizer's:
#   - stories260K -> distributed-llama f32: exact size (hidden padded 172 -> 192), header
#     fields, BOS's embedding row moved to id 510 and the first regular token's to id 1;
#   - a random checkpoint of vocabulary 300 -> q40 on 2 nodes: size of the q40 layout;
#   - the synthetic tokenizer of 300 tokens loads in halo (generate runs on the random
#     checkpoint) and converts with BOS/EOS last;
#   - `halo worker -m` on that checkpoint reaches "listening on" (it used to load the bundled
#     512-token tokenizer and refuse any other vocabulary).
#   test-dllama-files.sh HALO HALO_DLLAMA_FILES MODEL_DIR
set -euo pipefail
halo=$1
files=$2
models=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/halo-dlf.XXXXXX")
wpid=""
cleanup() {
    [ -n "$wpid" ] && kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
i32() { od -An -t d4 -j "$2" -N 4 "$1" | tr -d ' '; } # i32 FILE OFFSET
bytes() { tail -c +$(($2 + 1)) "$1" | head -c "$3"; } # bytes FILE OFFSET N

# stories260K, f32
"$files" model "$models/stories260K.bin" "$tmp/s.m" 2>/dev/null
[ "$(stat -c %s "$tmp/s.m")" = 1248128 ] || fail "s.m is $(stat -c %s "$tmp/s.m") bytes, expected 1248128"
[ "$(i32 "$tmp/s.m" 0)" = $((0x0A00ABCD)) ] || fail "s.m magic"
[ "$(i32 "$tmp/s.m" 4)" = 128 ] || fail "s.m header size"
# pair k at offset 8 + 8k: (key, value); hidden_dim is key 3, vocab_size key 9
[ "$(i32 "$tmp/s.m" 32)" = 3 ] && [ "$(i32 "$tmp/s.m" 36)" = 192 ] || fail "s.m hidden_dim"
[ "$(i32 "$tmp/s.m" 80)" = 9 ] && [ "$(i32 "$tmp/s.m" 84)" = 512 ] || fail "s.m vocab_size"
# embedding rows of 64 floats: llama2.c row 1 (BOS) -> 510, row 3 -> 1, row 0 stays
row=256
cmp -s <(bytes "$models/stories260K.bin" $((28 + 1 * row)) $row) \
    <(bytes "$tmp/s.m" $((128 + 510 * row)) $row) || fail "BOS row not at 510"
cmp -s <(bytes "$models/stories260K.bin" $((28 + 3 * row)) $row) \
    <(bytes "$tmp/s.m" $((128 + 1 * row)) $row) || fail "token 3 not at 1"
cmp -s <(bytes "$models/stories260K.bin" 28 $row) <(bytes "$tmp/s.m" 128 $row) ||
    fail "token 0 moved"

# random checkpoint, vocabulary 300, q40 for 2 nodes: hidden 200 -> 256 (multiple of 64)
shape=128,200,2,4,2,300,64
"$files" random-checkpoint "$tmp/r.bin" --shape "$shape" 2>/dev/null
"$files" model "$tmp/r.bin" "$tmp/r.m" --type q40 --nodes 2 2>/dev/null
q() { echo $(($1 / 32 * 18)); } # q40 bytes of n values
d=128 h=256 kv=64 v=300
layer=$(($(q $((d * d))) * 2 + $(q $((kv * d))) * 2 + $(q $((h * d))) * 3 + 2 * d * 4))
want=$((128 + v * d * 4 + 2 * layer + d * 4 + $(q $((v * d)))))
[ "$(stat -c %s "$tmp/r.m")" = "$want" ] || fail "r.m is $(stat -c %s "$tmp/r.m") bytes, expected $want"
"$files" model "$tmp/r.bin" "$tmp/bad.m" --type q40 --nodes 8 2>/dev/null &&
    fail "q40 with 4-value slices accepted"

# synthetic tokenizer: halo loads it; the conversion puts BOS and EOS last
"$files" random-tokenizer 300 "$tmp/r.tok" 2>/dev/null
"$halo" generate -m "$tmp/r.bin" -z "$tmp/r.tok" -t 0 -n 4 --ids >"$tmp/ids" 2>/dev/null ||
    fail "halo generate refused the synthetic tokenizer"
[ "$(grep -c . "$tmp/ids")" -ge 1 ] || fail "no tokens generated"
"$files" tokenizer "$tmp/r.tok" "$tmp/r.t" 2>/dev/null
[ "$(i32 "$tmp/r.t" 0)" = $((0x567124)) ] || fail "r.t magic"
[ "$(i32 "$tmp/r.t" 32)" = 3 ] && [ "$(i32 "$tmp/r.t" 36)" = 298 ] || fail "r.t bos_id"
[ "$(i32 "$tmp/r.t" 56)" = 299 ] || fail "r.t EOS id"

# a worker serves a model of another vocabulary
"$halo" keygen "$tmp/k.key" >/dev/null
"$halo" worker --listen 127.0.0.1:0 --key "$tmp/k.key" -m "$tmp/r.bin" >"$tmp/w.log" 2>&1 &
wpid=$!
for _ in $(seq 100); do
    grep -q "listening on" "$tmp/w.log" && break
    kill -0 "$wpid" 2>/dev/null || break
    sleep 0.1
done
grep -q "listening on" "$tmp/w.log" || { cat "$tmp/w.log" >&2; fail "worker did not start"; }
echo "ok - halo_dllama_files and a worker of vocabulary 300"
