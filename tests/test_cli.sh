#!/usr/bin/env bash
# Command-line behaviour of `halo`: the golden text, help, and one clear error line with a
# non-zero exit status (never a crash or a sanitizer report) for every kind of bad input.
# usage: test_cli.sh HALO_BINARY SOURCE_DIR [case]   (HALO_RUN_PREFIX may hold an emulator)
set -u
run_prefix=${HALO_RUN_PREFIX:-}
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
halo_script cli "$@"

case_golden() {
    local threads=()
    [ -n "${HALO_TEST_MAX_THREADS:-}" ] && threads=(--threads "$HALO_TEST_MAX_THREADS")
    expect_ok generate -t 0 -n 200 "${threads[@]}"
    if cmp -s "$tmp/out" "$src/tests/golden/stories260K_greedy200.txt"; then
        ok "greedy text equals llama2.c's"
    else
        not_ok "greedy text differs from llama2.c's"
        diff "$tmp/out" "$src/tests/golden/stories260K_greedy200.txt" | head
    fi
    # the summary times the generated tokens apart from the prompt's passes: none here (BOS
    # only), and one per prompt token after the first with a prompt
    check "summary: 200 tokens, the prompt's 0 passes apart" \
        grep -q "^halo: 200 tokens in .* ms/token), .*; the prompt's 0 forward passes" "$tmp/err"
    expect_ok generate -t 0 -n 3 --ids -p "Once upon a time"
    check "summary: 3 tokens, the prompt's passes apart ($(grep -o "prompt's [0-9]* forward" "$tmp/err"))" \
        grep -q "^halo: 3 tokens in .*; the prompt's [1-9][0-9]* forward passes" "$tmp/err"
}

# Sampling meets an end-of-sequence token for some seeds (seed 6 after 185 tokens on x86-64):
# generation stops there, and with --ignore-eos goes on to the steps asked for, the same
# tokens first. The first of seeds 1-30 that stops early is used (kernels of other
# instruction sets may round differently).
case_ignore_eos() {
    local s a="" b
    for s in $(seq 1 30); do
        halo generate -t 1 -s "$s" -n 256 --ids >"$tmp/stopped" 2>/dev/null </dev/null || break
        a=$(wc -l <"$tmp/stopped")
        [ "$a" -lt 256 ] && break
        a=""
    done
    check "a seed of 1-30 stops early at EOS (seed $s, ${a:-no} tokens)" test -n "$a"
    [ -n "$a" ] || return 0
    expect_ok generate -t 1 -s "$s" -n 256 --ids --ignore-eos
    b=$(wc -l <"$tmp/out")
    check "--ignore-eos makes all 256 ($b)" test "$b" -eq 256
    check "the same tokens up to the stop" cmp -s "$tmp/stopped" <(head -n "$a" "$tmp/out")
}

case_help() {
    expect_ok --help
    expect_ok --version
    for c in generate eval bench sim calibrate convert; do
        expect_ok "$c" --help
        check "$c help" grep -q "usage: halo $c" "$tmp/out"
    done
}

case_bad_models() {
    local m=$src/models/stories260K.bin size
    size=$(stat -c %s "$m")
    expect_fail 1 "/nonexistent/m.bin" -- generate -m /nonexistent/m.bin
    expect_fail 1 "not a regular file" -- generate -m "$src/models"
    head -c 1000 "$m" >"$tmp/trunc.bin"
    expect_fail 1 "truncated" -- generate -m "$tmp/trunc.bin"
    head -c 10 "$m" >"$tmp/short.bin"
    expect_fail 1 "header" -- generate -m "$tmp/short.bin"
    : >"$tmp/empty.bin"
    expect_fail 1 "header" -- generate -m "$tmp/empty.bin"
    { cat "$m"; printf 'xxxx'; } >"$tmp/big.bin"
    expect_fail 1 "oversized" -- generate -m "$tmp/big.bin"
    # header fields: zero dim, negative n_layers, n_kv_heads not dividing n_heads
    { printf '\0\0\0\0'; tail -c +5 "$m"; } >"$tmp/zero.bin"
    expect_fail 1 "dim is 0" -- generate -m "$tmp/zero.bin"
    { head -c 8 "$m"; printf '\377\377\377\377'; tail -c +13 "$m"; } >"$tmp/neg.bin"
    expect_fail 1 "n_layers is -1" -- generate -m "$tmp/neg.bin"
    { head -c 16 "$m"; printf '\003\0\0\0'; tail -c +21 "$m"; } >"$tmp/kv.bin"
    expect_fail 1 "n_kv_heads" -- eval -m "$tmp/kv.bin" "$src/data/tinystories-valid-dev.txt"
    # a GGUF file with a damaged magic was read as a checkpoint ("dim is 1481983815")
    { printf 'GGUX'; tail -c +5 "$m"; } >"$tmp/magic.bin"
    expect_fail 1 "not a model file: it starts with 'GGUX', which is neither GGUF's magic" \
        -- generate -m "$tmp/magic.bin"
    [ "$size" -gt 0 ]
}

case_bad_tokenizers() {
    local t=$src/models/tok512.bin
    expect_fail 1 "/nonexistent/t.bin" -- generate -z /nonexistent/t.bin
    head -c 3000 "$t" >"$tmp/tt.bin"
    expect_fail 1 "cannot hold 512 tokens" -- generate -z "$tmp/tt.bin"
    head -c 6000 "$t" >"$tmp/tt.bin"
    expect_fail 1 "the model has 512" -- generate -z "$tmp/tt.bin"
    { cat "$t"; printf 'extra'; } >"$tmp/tb.bin"
    expect_fail 1 "vocabulary larger" -- generate -z "$tmp/tb.bin"
    expect_fail 1 "has length" -- generate -z "$src/models/stories260K.bin"
}

case_bad_options() {
    local long
    long=$(printf 'word %.0s' $(seq 1 600))
    expect_fail 2 "longer than the context" -- generate -p "$long"
    expect_fail 2 "the context is 512" -- generate -n 600
    expect_fail 2 "the context is 512" -- generate -p "Once upon a time" -n 510
    expect_fail 2 "--steps" -- generate -n abc
    expect_fail 2 "--steps" -- generate -n 0
    expect_fail 2 "--steps" -- generate -n 99999999999999999999
    expect_fail 2 "--temp" -- generate -t -1
    expect_fail 2 "--temp" -- generate -t nan
    expect_fail 2 "--top-p" -- generate --top-p 1.5
    expect_fail 2 "--top-p" -- generate --top-p 0
    expect_fail 2 "--seed" -- generate --seed -5
    expect_fail 2 "--threads" -- generate --threads -1
    expect_fail 2 "--threads" -- generate --threads 5000
    expect_fail 2 "unknown option" -- generate --frobnicate
    expect_fail 2 "needs a value" -- generate -m
    expect_fail 2 "unexpected argument" -- generate extra
    expect_fail 2 "unknown command" -- frobnicate
    expect_fail 2 "missing FILE" -- eval
    expect_fail 2 "unexpected argument" -- eval a b
    expect_fail 2 "--max-stories" -- eval --max-stories 0 x
    expect_fail 2 "--tokens" -- bench --tokens 0
    expect_fail 2 "--spin-us" -- worker --listen 127.0.0.1:0 --key k --spin-us -1
    expect_fail 2 "--spin-us" -- worker --listen 127.0.0.1:0 --key k --spin-us 20000
    if halo >/dev/null 2>&1; then not_ok "bare halo succeeds"; else ok "bare halo fails with usage"; fi
}

case_bad_eval_inputs() {
    expect_fail 1 "/nonexistent/stories.txt" -- eval /nonexistent/stories.txt
    : >"$tmp/empty.txt"
    expect_fail 1 "no story" -- eval "$tmp/empty.txt"
    printf 'a\0b\n' >"$tmp/nul.txt"
    expect_fail 1 "NUL" -- eval "$tmp/nul.txt"
    expect_fail 1 "not a regular file" -- eval "$src/models"
    # a context of one position holds BOS only (it said "no story with at least one token")
    halo convert -o "$tmp/ctx1.gguf" --synthetic 2,2,1,1,1,32000,1 >/dev/null 2>&1
    expect_fail 1 "its context has 1 position: room for BOS only" \
        -- eval -m "$tmp/ctx1.gguf" "$src/data/tinystories-valid-dev.txt"
}

case_eval_json() {
    printf 'Once upon a time\n<|endoftext|>\nThe end\n' >"$tmp/two.txt"
    expect_ok eval --json "$tmp/two.txt"
    if grep -q '"stories": 2' "$tmp/out" && grep -q '"perplexity"' "$tmp/out"; then
        ok "eval --json fields"
    else
        not_ok "eval --json: $(cat "$tmp/out")"
    fi
}

case_sim() {
    local sc=$src/scenarios/tiny-loss.yaml
    # The same scenario, point and run twice: byte-identical apart from the wall time.
    expect_ok sim --json --point 2 "$sc"
    sed 's/"wall_s": [0-9.]*//g' "$tmp/out" >"$tmp/a.json"
    expect_ok sim --json --point 2 "$sc"
    sed 's/"wall_s": [0-9.]*//g' "$tmp/out" >"$tmp/b.json"
    if cmp -s "$tmp/a.json" "$tmp/b.json" && grep -q '"missing"' "$tmp/a.json"; then
        ok "sim is deterministic"
    else
        not_ok "two sim runs differ"
    fi
    # Another run number draws other losses.
    expect_ok sim --json --point 2 --run 1 "$sc"
    sed 's/"wall_s": [0-9.]*//g; s/"run": 1/"run": 0/' "$tmp/out" >"$tmp/c.json"
    if ! cmp -s "$tmp/a.json" "$tmp/c.json"; then ok "another run differs"; else
        not_ok "run 1 equals run 0"; fi
    expect_ok sim --points "$sc"
    if [ "$(cat "$tmp/out")" = 3 ]; then ok "3 points"; else not_ok "points: $(cat "$tmp/out")"; fi
    expect_fail 1 "/nonexistent.yaml" -- sim /nonexistent.yaml
    printf 'model: {shape: llama2-7b}\ndevices: []\nworkload: {tokens: 2}\n' >"$tmp/bad.yaml"
    expect_fail 1 "bad.yaml:2" -- sim "$tmp/bad.yaml"
    printf 'model: {shape: llama2-7b}\nbogus: 1\n' >"$tmp/bad2.yaml"
    expect_fail 1 "bogus" -- sim "$tmp/bad2.yaml"
    expect_fail 2 "point" -- sim --point 9 "$sc"
    expect_fail 2 "--run" -- sim --run -1 "$sc"
    expect_fail 2 "missing SCENARIO" -- sim
    expect_fail 2 "--engine: 'ns4' is not one of sim, ns3" -- sim --engine ns4 "$sc"
    printf 'model: {shape: llama2-7b}\ndevices: [{profile: rpi4b, link: gige}]\nengine: {simulator: omnet}\nworkload: {tokens: 2}\n' >"$tmp/bad3.yaml"
    expect_fail 1 "engine.simulator" -- sim "$tmp/bad3.yaml"
    # An engine flag's bad value names the flag, not a line of the scenario (which may not
    # have the key at all), as a usage error.
    expect_fail 2 "halo: --critical: '9' is not a list of device numbers in 0..3" -- \
        sim --critical 9 "$sc"
    expect_fail 2 "halo: --reliable: '9' is not a list" -- sim --reliable 9 "$sc"
    expect_fail 2 "halo: --tcp-rto-min-ms: expected rto_min_ms <= rto_init_ms" -- \
        sim --tcp-rto-min-ms 200000 "$sc"
    # A failure while a point runs names the scenario file, the point and the key; with
    # --json nothing of the failed document is printed (it ended at "runs": [).
    sed -e "s#\.\./models/#$src/models/#" -e 's/^  encoding: q8/  encoding: q8\n  group_size: [8, 1000]/' \
        "$sc" >"$tmp/gs.yaml"
    expect_fail 1 "gs.yaml: point 1 (devices[0].link.loss=0 engine.group_size=1000): engine.group_size: ffn group size 1000: expected 1..172" -- \
        sim --point 1 "$tmp/gs.yaml"
    expect_fail 1 "point 0 (devices[0].link.loss=0): engine.placement: placement 'explicit:0/0'" -- \
        sim --json --placement explicit:0/0 "$sc"
    check "a failed sim --json prints nothing on stdout" test ! -s "$tmp/out"
    expect_ok sim --json --point 0 "$tmp/gs.yaml"
    check "sim --json prints one whole document" python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$tmp/out"
    expect_fail 1 "gs.yaml: point 3 (devices[0].link.loss=0.01 engine.group_size=1000): engine.group_size" -- \
        sweep --db "$tmp/gs.db" "$tmp/gs.yaml"
    # Strict sync over datagrams re-asks nothing: at 5% loss it stalls, and the message says
    # why and what does re-ask.
    expect_fail 1 "point 2: cluster stalled at token 1 (position 0): a contribution the policy waits for will never arrive (strict sync over datagrams asks nothing again: a lost datagram stalls it; baseline strict-datagram re-asks)" -- \
        sim --point 2 --sync strict --delivery datagram "$sc"
    expect_ok sim --point 2 --baseline strict-datagram "$sc"
    # The ns-3 engine: a run when halo has it, else a clear error (docs/ns3.md).
    if halo sim --engine ns3 --point 0 "$sc" >"$tmp/out" 2>"$tmp/err"; then
        check "sim --engine ns3 runs" grep -q "engine ns3" "$tmp/out"
    else
        expect_fail 2 "built without ns-3" -- sim --engine ns3 --point 0 "$sc"
    fi
}

# engine.memory_budget: the numerics do not change (the same text), storage is read and
# reported, read-ahead hides some of it; budgets too small are refused naming the device.
case_memory() {
    local base=$tmp/mem.yaml
    cat >"$base" <<YAML
model: {file: $src/models/stories260K.bin}
devices:
  - {profile: rpi4b, link: gige}
  - {profile: rpi4b, count: 3, link: {base: gige, loss: 0.01}, memory_mb: MEM}
engine: {sync: relaxed, deadline_ms: 20, memory_budget: BUDGET, prefetch: PREFETCH}
workload: {prompt: "Once upon a time", tokens: 24, temperature: 0}
seed: 3
YAML
    local v
    for v in "1 false true off" "0.3 true false on-demand" "0.3 true true ahead" \
        "0.01 true true tiny" "0.17 true true nogroup" "0.3 false true oom"; do
        set -- $v
        sed "s/MEM/$1/; s/BUDGET/$2/; s/PREFETCH/$3/" "$base" >"$tmp/mem-$4.yaml"
    done
    expect_ok sim --json "$tmp/mem-off.yaml"
    cp "$tmp/out" "$tmp/off.json"
    # without streaming, a device whose memory does not hold its share is out of memory
    expect_fail 1 "device 1 is out of memory: its share needs" -- sim "$tmp/mem-oom.yaml"
    expect_ok sim --json "$tmp/mem-on-demand.yaml"
    cp "$tmp/out" "$tmp/demand.json"
    expect_ok sim --json "$tmp/mem-ahead.yaml"
    cp "$tmp/out" "$tmp/ahead.json"
    text() { sed -n 's/.*"text": \("[^"]*"\).*/\1/p' "$1"; }
    num() { sed -n "s/.*\"$2\": \([0-9.e+-]*\).*/\1/p" "$1" | head -n 1; }
    if [ -n "$(text "$tmp/off.json")" ] && [ "$(text "$tmp/off.json")" = "$(text "$tmp/demand.json")" ] &&
        [ "$(text "$tmp/off.json")" = "$(text "$tmp/ahead.json")" ]; then
        ok "memory budgets leave the generated text unchanged"
    else
        not_ok "text changed under memory budgets"
    fi
    if awk -v off="$(num "$tmp/off.json" storage_bytes)" -v d="$(num "$tmp/demand.json" storage_bytes)" \
        -v dr="$(num "$tmp/demand.json" storage_read_ms)" -v ds="$(num "$tmp/demand.json" storage_stall_ms)" \
        -v ar="$(num "$tmp/ahead.json" storage_read_ms)" -v as="$(num "$tmp/ahead.json" storage_stall_ms)" \
        -v t0="$(num "$tmp/off.json" mean_ms)" -v t1="$(num "$tmp/demand.json" mean_ms)" \
        -v pin="$(num "$tmp/demand.json" pinned_bytes)" -v share="$(num "$tmp/demand.json" share_bytes)" \
        'BEGIN { exit !(off == 0 && d > 0 && dr > 0 && ds == dr && ar > 0 && as < ar && t1 > t0 &&
                        pin < share) }'; then
        ok "storage read on demand is waited for whole; read-ahead hides some"
    else
        not_ok "storage figures: $(grep -o '"storage_read_ms[^t]*' "$tmp/demand.json" "$tmp/ahead.json")"
    fi
    expect_ok sim "$tmp/mem-ahead.yaml"
    check "storage line" grep -q "storage per token (all devices): read" "$tmp/out"
    expect_fail 1 "device 1: memory (0.0 MiB) does not hold its KV cache" -- sim "$tmp/mem-tiny.yaml"
    expect_fail 1 "device 1: a memory budget of" -- sim "$tmp/mem-nogroup.yaml"
    sed 's/memory_budget: true/memory_budget: maybe/' "$tmp/mem-ahead.yaml" >"$tmp/mem-bad.yaml"
    expect_fail 1 "engine.memory_budget" -- sim "$tmp/mem-bad.yaml"
    sed 's/memory_mb: 0.3/memory_mb: -1/' "$tmp/mem-ahead.yaml" >"$tmp/mem-neg.yaml"
    expect_fail 1 "memory_mb" -- sim "$tmp/mem-neg.yaml"
}

# halo eval --scenario: a loss-free scenario with f32 messages gives the single device's
# NLL (to rounding: the cluster sums partials in another order).
case_eval_scenario() {
    printf 'Once upon a time\n<|endoftext|>\nThe end of the day came\n' >"$tmp/two.txt"
    cat >"$tmp/clean.yaml" <<YAML
model: {file: $src/models/stories260K.bin}
devices:
  - {profile: rpi4b, count: 4, link: gige}
engine: {sync: strict, encoding: f32}
workload: {tokens: 1}
YAML
    expect_ok eval --json "$tmp/two.txt"
    local single
    single=$(sed -n 's/.*"nll": \([0-9.e+-]*\).*/\1/p' "$tmp/out")
    expect_ok eval --json --scenario "$tmp/clean.yaml" "$tmp/two.txt"
    local cluster
    cluster=$(sed -n 's/.*"nll": \([0-9.e+-]*\).*/\1/p' "$tmp/out")
    if [ -n "$single" ] && [ -n "$cluster" ] &&
        awk -v a="$single" -v b="$cluster" 'BEGIN { d = a - b; exit !(d < 1e-5 && d > -1e-5) }'; then
        ok "eval --scenario (loss-free) NLL $cluster = single device $single"
    else
        not_ok "eval --scenario NLL '$cluster' vs single device '$single'"
    fi
    printf 'model: {shape: llama2-7b}\ndevices: [{profile: rpi4b, link: gige}]\nworkload: {tokens: 1}\n' >"$tmp/shape.yaml"
    expect_fail 2 "a shape has no numerics" -- eval --scenario "$tmp/shape.yaml" "$tmp/two.txt"
}

# in-process clusters (--nodes) and the placements that need device speeds: the halo preset's
# balanced-host takes --speeds as balanced does (docs/architecture.md's example), scheduled
# needs profiles that --nodes has not
case_nodes_placement() {
    expect_ok generate --nodes 4 --baseline halo --speeds 1,1,1,1 --drop 0.05 -n 3 -t 0
    expect_ok generate --nodes 2 --placement balanced-host --speeds 1,3 -n 3 -t 0
    expect_fail 2 "placement balanced-host (--baseline balanced or halo) needs --speeds" \
        -- generate --nodes 4 --baseline halo -n 3
    expect_fail 2 "--speeds is used by placement balanced and balanced-host only" \
        -- generate --nodes 2 --placement equal --speeds 1,2 -n 3
    expect_fail 2 "--placement scheduled needs device and link profiles" \
        -- generate --nodes 2 --placement scheduled -n 3
}

case_calibrate() {
    local data=$src/data/tinystories-valid-dev.txt out=$tmp/p.pred
    expect_fail 2 "--rank" -- calibrate --rank 0 "$data"
    expect_fail 2 "--rank" -- calibrate --rank x "$data"
    expect_fail 2 "--rank: 65 is out of range 1..64" -- calibrate --rank 65 "$data"
    expect_fail 2 "--method" -- calibrate --method best "$data"
    expect_fail 2 "--attn" -- calibrate --attn all "$data"
    expect_fail 2 "--solver" -- calibrate --solver fast "$data"
    expect_fail 2 "--threads" -- calibrate --threads -1 "$data"
    expect_fail 2 "--fit-from" -- calibrate --fit-from 1 "$data"
    expect_fail 2 "--fit-from: 9 leaves no story" -- calibrate --max-stories 3 --fit-from 9 \
        --out "$out" "$data"
    expect_fail 2 "--max-stories" -- calibrate --max-stories 1 "$data"
    expect_fail 2 "--out" -- calibrate --out "" "$data"
    expect_fail 2 "unknown option" -- calibrate --frobnicate "$data"
    expect_fail 2 "needs a value" -- calibrate "$data" --rank
    expect_fail 2 "missing TEXTFILE" -- calibrate
    expect_fail 2 "unexpected argument" -- calibrate a b
    expect_fail 1 "/nonexistent.txt" -- calibrate --out "$out" /nonexistent.txt
    expect_fail 1 "/nonexistent/m.bin" -- calibrate -m /nonexistent/m.bin "$data"
    expect_fail 1 "/nonexistent/dir/p.pred" -- calibrate --out /nonexistent/dir/p.pred "$data"
    expect_fail 1 "is a directory" -- calibrate --out "$tmp" "$data"
    # A small fit: 2 stories measured, 1 fitted on; the file is written and reported.
    expect_ok calibrate --max-stories 3 --rank 4 --json --out "$out" "$data"
    if [ -s "$out" ] && grep -q '"rank": 4' "$tmp/out" && grep -q '"heldout_stories": \[1, 2\]' "$tmp/out" &&
        [ "$(head -c 8 "$out")" = HALOPRED ]; then ok "calibrate wrote $out"; else
        not_ok "calibrate output"; fi
    # A failing run leaves the earlier file as it was, and no temporary file beside it.
    cp "$out" "$tmp/before.pred"
    printf 'One story only.\n<|endoftext|>\n' >"$tmp/one.txt"
    expect_fail 1 "at least 2" -- calibrate --out "$out" "$tmp/one.txt"
    if cmp -s "$out" "$tmp/before.pred" && [ -z "$(ls "$tmp" | grep 'p.pred.tmp')" ]; then
        ok "failed calibrate left the file alone"; else
        not_ok "failed calibrate touched $out"; fi
}

case_gguf() {
    local g=$tmp/s.gguf
    # The bundled model as GGUF f32 prints llama2.c's text; q8_0 and q4_0 run, on a cluster too.
    expect_ok convert -o "$g"
    expect_ok generate -m "$g" -t 0 -n 200
    count=$((count + 1))
    if cmp -s "$tmp/out" "$src/tests/golden/stories260K_greedy200.txt"; then
        echo "ok $count - GGUF f32 greedy text equals llama2.c's"
    else
        echo "not ok $count - GGUF f32 greedy text differs"
        failures=$((failures + 1))
    fi
    expect_ok convert -t q8_0 -o "$tmp/q8.gguf" "$src/models/stories260K.bin"
    expect_ok generate -m "$tmp/q8.gguf" -t 0 -n 20 --nodes 3
    expect_ok convert -t q4_0 -o "$tmp/q4.gguf" "$tmp/q8.gguf"
    expect_ok eval -m "$tmp/q4.gguf" --max-stories 2 "$src/data/tinystories-valid-dev.txt"
    # q8_0 costs less than 0.5% of perplexity against f32 (the first 30 stories of the dev
    # excerpt here, 6 under an emulator; tools/compare-llamacpp.sh measures the whole excerpt
    # beside llama.cpp).
    local dev=$src/data/tinystories-valid-dev.txt p32 p8 stories=30
    [ -n "$run_prefix" ] && stories=6 # under an emulator
    expect_ok eval -m "$g" --json --max-stories "$stories" "$dev"
    p32=$(sed -n 's/.*"perplexity": \([0-9.]*\).*/\1/p' "$tmp/out")
    expect_ok eval -m "$tmp/q8.gguf" --json --max-stories "$stories" "$dev"
    p8=$(sed -n 's/.*"perplexity": \([0-9.]*\).*/\1/p' "$tmp/out")
    count=$((count + 1))
    if awk -v a="$p8" -v b="$p32" 'BEGIN { exit !(a > 0 && b > 0 && a / b - 1 < 0.005 && b / a - 1 < 0.005) }'; then
        echo "ok $count - q8_0 perplexity $p8 within 0.5% of f32 $p32"
    else
        echo "not ok $count - q8_0 perplexity '$p8' not within 0.5% of f32 '$p32'"
        failures=$((failures + 1))
    fi
    expect_ok convert --synthetic 256,512,2,4,2,512,64 -z "$src/models/tok512.bin" -t q4_k_m \
        -o "$tmp/k.gguf"
    expect_ok generate -m "$tmp/k.gguf" -t 0 -n 8 --nodes 2
    # A socket cluster of one worker on the q4_k_m model gives the in-process cluster's ids
    # (the default group size is the K block on the root and on the worker alike).
    expect_ok generate -m "$tmp/k.gguf" -t 0 -n 8 --nodes 2 --baseline dllama --ids
    cp "$tmp/out" "$tmp/ids-nodes"
    if [ -z "$run_prefix" ]; then
        halo keygen "$tmp/k.key" >/dev/null
        # the binary itself, not the halo function: $! must be the worker's pid (killing the
        # function's subshell left the worker running after the test)
        "$halo_bin" worker --listen 127.0.0.1:0 --key "$tmp/k.key" --transport tcp \
            -m "$tmp/k.gguf" >"$tmp/w.log" 2>&1 &
        local wpid=$! addr=
        for _ in $(seq 100); do
            addr=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\) .*/\1/p' "$tmp/w.log")
            [ -n "$addr" ] && break
            sleep 0.1
        done
        printf 'key: %s\nworkers: [%s]\nengine: {baseline: dllama}\n' "$tmp/k.key" "$addr" >"$tmp/c.yaml"
        expect_ok generate -m "$tmp/k.gguf" -t 0 -n 8 --ids --cluster "$tmp/c.yaml"
        kill "$wpid" 2>/dev/null
        wait "$wpid" 2>/dev/null
        count=$((count + 1))
        if [ -s "$tmp/out" ] && cmp -s "$tmp/out" "$tmp/ids-nodes"; then
            echo "ok $count - socket cluster on q4_k_m equals the in-process cluster"
        else
            echo "not ok $count - socket cluster on q4_k_m differs"
            failures=$((failures + 1))
        fi
    fi
    # usage errors
    expect_fail 2 "missing -o FILE" -- convert
    expect_fail 2 "--type: 'q3' is not" -- convert -o "$tmp/x.gguf" -t q3
    expect_fail 2 "--synthetic: 'huge' is not a shape" -- convert --synthetic huge -o "$tmp/x.gguf"
    expect_fail 2 "--synthetic takes no CHECKPOINT" -- convert --synthetic tinyllama-1.1b \
        -o "$tmp/x.gguf" "$g"
    expect_fail 2 "multiple of 256 (dim is 64)" -- convert -t q4_k_m -o "$tmp/x.gguf"
    expect_fail 2 "--rope-theta is for --synthetic models only" -- convert --rope-theta 500000 \
        -o "$tmp/x.gguf"
    # halo bench --model times one given file, beside its read bandwidth
    expect_ok bench --model "$tmp/k.gguf" --big-tokens 4 --reps 1 --threads 1 --json
    count=$((count + 1))
    if grep -q '"name": "k.gguf", "type": "q4_k_m"' "$tmp/out" && grep -q '"bandwidth_fraction"' "$tmp/out"; then
        echo "ok $count - bench --model reports the file's type and its bandwidth fraction"
    else
        echo "not ok $count - bench --model: $(head -c 300 "$tmp/out")"
        failures=$((failures + 1))
    fi
    expect_fail 1 "/nonexistent/dir/x.gguf" -- convert -o /nonexistent/dir/x.gguf
    expect_fail 2 "FFN group size 32 is not a multiple of the model's quantisation block 256" \
        -- generate -m "$tmp/k.gguf" --nodes 2 --group-size 32 -n 2
    # bad files
    head -c 3000 "$g" >"$tmp/trunc.gguf"
    expect_fail 1 "$tmp/trunc.gguf" -- generate -m "$tmp/trunc.gguf"
    head -c 200000 "$g" >"$tmp/short.gguf"
    expect_fail 1 "run past the end of the file" -- generate -m "$tmp/short.gguf"
    printf 'GGUF\003\000\000\000' >"$tmp/hdr.gguf"
    expect_fail 1 "shorter than a GGUF header" -- eval -m "$tmp/hdr.gguf" "$src/data/tinystories-valid-dev.txt"
    expect_fail 1 "has data after 512 tokens" -- generate -m "$g" -z "$src/models/tokenizer.bin" -n 2
    ls "$tmp" | grep -q '^x.gguf$' && { echo "not ok - a failed convert left x.gguf"; failures=$((failures + 1)); }
}

run_cases golden help ignore_eos bad_models bad_tokenizers bad_options bad_eval_inputs eval_json sim \
    calibrate memory eval_scenario gguf nodes_placement
finish
