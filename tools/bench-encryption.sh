#!/usr/bin/env bash
# Issue 18: what encrypting a socket cluster's session frames costs per token. Root + 3
# `halo worker` processes on 127.0.0.1, strict sync over UDP (every contribution awaited, so
# every run moves the same frames and yields the same text), measured interleaved: each
# round runs every configuration once, in an order that alternates between rounds, so that
# load on the machine falls on all of them alike. Configurations:
#   encrypted   the default: ChaCha20-Poly1305 session frames, payload encrypted
#   auth-only   `encrypt: false`: the same AEAD over header and payload, nothing encrypted
#   before      (with --before BIN) another build's binary and workers, e.g. one from before
#               issue 18 (frames authenticated with HMAC-SHA512-256 under the cluster key)
# Prints, per model, the median ms/token of each configuration (the root's own figure: the
# generation only, after loading and joining) and the median of the per-round ratios
# encrypted / auth-only (and encrypted / before).
#
#   tools/bench-encryption.sh [--rounds N] [--tokens N] [--big MODEL [--big-tokens N]]
#                             [--bin PATH] [--before PATH]
#
# MODEL: a larger model for the second table (e.g. `halo convert --synthetic stories110m -o
# F`: random weights of the 110M shape, tokenizer embedded). Every process it starts is
# stopped on exit (trap); it talks only to 127.0.0.1.
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

halo=$repo/build/dev/app/halo
before=""
rounds=5
tokens=64
big="" big_tokens=16
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=${2:?}; shift ;;
    --tokens) tokens=${2:?}; shift ;;
    --big) big=${2:?}; shift ;;
    --big-tokens) big_tokens=${2:?}; shift ;;
    --bin) halo=${2:?}; shift ;;
    --before) before=${2:?}; shift ;;
    *) other_arg "$1" ;;
    esac
    shift
done
bench_tmp "$halo" halo-benc

# workers NAME BIN MODEL: starts three workers of BIN; prints their addresses comma-separated
workers() {
    start_workers "$tmp" "$1" "$2" worker --listen 127.0.0.1:0 --key "$tmp/k.key" -m "$3"
}

# run BIN CLUSTER MODEL N: one generation; prints its ms/token
run() {
    local out
    out=$("$1" generate -m "$3" -t 0 -n "$4" -p "Once upon a time" --cluster "$2" 2>&1 >/dev/null) ||
        { echo "bench-encryption: generate failed: $out" >&2; exit 1; }
    gen_ms <<<"$out" | head -n 1
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# bench LABEL MODEL TOKENS: the rounds over one model; appends a table row
bench() {
    local label=$1 model=$2 n=$3 a b r
    a=$(workers "w-$label" "$halo" "$model")
    printf 'key: k.key\nworkers: [%s]\nengine: {sync: strict, delivery: datagram}\n' "$a" \
        >"$tmp/enc.yaml"
    { cat "$tmp/enc.yaml"; echo "encrypt: false"; } >"$tmp/auth.yaml"
    local configs=(enc auth)
    if [ -n "$before" ]; then
        b=$(workers "b-$label" "$before" "$model")
        printf 'key: k.key\nworkers: [%s]\nengine: {sync: strict, delivery: datagram}\n' "$b" \
            >"$tmp/before.yaml"
        configs+=(before)
    fi
    : >"$tmp/$label.txt"
    for ((r = 1; r <= rounds; r++)); do
        local order=("${configs[@]}")
        if ((r % 2 == 0)); then # reversed every other round
            order=()
            for ((i = ${#configs[@]} - 1; i >= 0; i--)); do order+=("${configs[$i]}"); done
        fi
        local line="" c ms
        declare -A got=()
        for c in "${order[@]}"; do
            if [ "$c" = before ]; then
                ms=$(run "$before" "$tmp/before.yaml" "$model" "$n")
            else
                ms=$(run "$halo" "$tmp/$c.yaml" "$model" "$n")
            fi
            got[$c]=$ms
        done
        for c in "${configs[@]}"; do line+="${got[$c]} "; done
        echo "$line" >>"$tmp/$label.txt"
        echo "# $label round $r: ${configs[*]} = $line" >&2
        unset got
    done
    stop_pids "$tmp" "w-$label"
    stop_pids "$tmp" "b-$label"
    local med_enc med_auth ratio row
    med_enc=$(awk '{print $1}' "$tmp/$label.txt" | median)
    med_auth=$(awk '{print $2}' "$tmp/$label.txt" | median)
    ratio=$(awk '{print $1 / $2}' "$tmp/$label.txt" | median)
    row="| $label | $n | $rounds | $med_enc | $med_auth | $(printf '%.3f' "$ratio")x"
    if [ -n "$before" ]; then
        row+=" | $(awk '{print $3}' "$tmp/$label.txt" | median)"
        row+=" | $(printf '%.3f' "$(awk '{print $1 / $3}' "$tmp/$label.txt" | median)")x"
    fi
    echo "$row |"
}

echo "$(nproc) cores, $(uname -r); root + 3 workers on 127.0.0.1, strict sync over UDP, greedy"
echo
if [ -n "$before" ]; then
    echo "| model | tokens | rounds | encrypted ms/token | auth-only ms/token | encrypted / auth-only | before ms/token | encrypted / before |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
else
    echo "| model | tokens | rounds | encrypted ms/token | auth-only ms/token | encrypted / auth-only |"
    echo "|---|---:|---:|---:|---:|---:|"
fi
bench stories260K "$repo/models/stories260K.bin" "$tokens"
[ -n "$big" ] && bench "$(basename "$big")" "$big" "$big_tokens"
exit 0
