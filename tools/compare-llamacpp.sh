#!/usr/bin/env bash
# halo against llama.cpp, an independent implementation, on GGUF files that halo writes:
#   1. logits of the first tokens (teacher-forced on the bundled model's golden greedy ids),
#      per type, with the tolerance each type is held to;
#   2. perplexity on the dev excerpt (data/tinystories-valid-dev.txt), every story scored from
#      its BOS exactly as `halo eval` does, on the same token ids;
#   3. the K-quants (q4_k_m) and q8_0 on a small synthetic model whose widths are whole K
#      blocks (grouped-query attention: 4 heads, 2 KV heads), and the same shape in f32 with
#      Llama 3's RoPE base 500000 (llama.rope.freq_base);
#   4. halo's SentencePiece encoder against llama.cpp's vocabulary test (its Llama SPM
#      vocabulary and expected ids, from the checkout).
# Decode speed beside llama.cpp and distributed-llama: tools/compare-speed.sh.
#
# llama.cpp is fetched and built from its public source into a scratch folder outside the
# repository (LLAMA_DIR, default ${XDG_CACHE_HOME:-$HOME/.cache}/halo/llama.cpp); nothing of
# it enters the repository. The script writes a small driver against libllama's public API
# (llama.h) to read logits and score stories; halo's side is tools/llamacpp_ref.c.
#
# usage: tools/compare-llamacpp.sh [options]
#   --build DIR        halo build directory (default build/release, else build/dev)
#   --types "T ..."    types of the bundled model (default "f32 f16 q8_0 q4_0")
#   --positions N      logits compared per type (default 64)
#   --threads T        threads for both programs (default 2)
#   --no-ppl           skip the perplexity runs (the slowest part)
#   --docs FILE        also write the tables into FILE between the lines
#                      "<!-- compare-llamacpp.sh: begin -->" and "<!-- compare-llamacpp.sh: end -->"
#                      (docs/models.md; tools/splice-doc.sh)
# Environment: LLAMA_GIT (a git URL or a local git directory of ggml-org/llama.cpp; needed
# unless LLAMA_DIR already holds the build), LLAMA_COMMIT (default c392e5094, Feb 2025),
# LLAMA_NATIVE (ON: -march=native, the default llama.cpp build; OFF: portable).
set -euo pipefail
# shellcheck source=tools/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build= types="f32 f16 q8_0 q4_0" positions=64 threads=2 ppl=1 docs=
while [ $# -gt 0 ]; do
    case "$1" in
    --build) build=$2 && shift 2 ;;
    --types) types=$2 && shift 2 ;;
    --positions) positions=$2 && shift 2 ;;
    --threads) threads=$2 && shift 2 ;;
    --no-ppl) ppl=0 && shift ;;
    --docs) docs=$2 && shift 2 ;;
    *) other_arg "$1" ;;
    esac
done
if [ -z "$build" ]; then
    build=$here/build/release
    [ -x "$build/app/halo" ] || build=$here/build/dev
fi
halo=$build/app/halo ref=$build/tools/halo_llamacpp_ref
[ -x "$halo" ] && [ -x "$ref" ] || { echo "no halo or halo_llamacpp_ref in $build (build first)" >&2; exit 1; }
LLAMA_DIR=${LLAMA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/halo/llama.cpp}
LLAMA_COMMIT=${LLAMA_COMMIT:-c392e5094}
LLAMA_NATIVE=${LLAMA_NATIVE:-ON}
bin=$LLAMA_DIR/build/bin

# ---- llama.cpp: fetch and build (once) ----
if ! [ -x "$bin/llama-bench" ] || ! [ -f "$bin/libllama.so" ]; then
    [ -n "${LLAMA_GIT:-}" ] || { echo "llama.cpp is not built in $LLAMA_DIR; set LLAMA_GIT" >&2; exit 1; }
    log "fetching llama.cpp $LLAMA_COMMIT from $LLAMA_GIT into $LLAMA_DIR/src"
    mkdir -p "$LLAMA_DIR"
    rm -rf "$LLAMA_DIR/src" "$LLAMA_DIR/build"
    git clone -q --no-checkout "$LLAMA_GIT" "$LLAMA_DIR/src"
    # Large test vocabularies may be absent from a partial mirror: check out what is there.
    git -C "$LLAMA_DIR/src" checkout -q "$LLAMA_COMMIT" 2>/dev/null ||
        git -C "$LLAMA_DIR/src" checkout -q -f "$LLAMA_COMMIT" -- . 2>/dev/null || true
    [ -f "$LLAMA_DIR/src/include/llama.h" ] || { echo "checkout of $LLAMA_COMMIT failed" >&2; exit 1; }
    log "building llama.cpp (cmake, GGML_NATIVE=$LLAMA_NATIVE; a few minutes)"
    cmake -S "$LLAMA_DIR/src" -B "$LLAMA_DIR/build" -DCMAKE_BUILD_TYPE=Release \
        -DGGML_NATIVE="$LLAMA_NATIVE" -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=ON \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >"$LLAMA_DIR/configure.log" 2>&1
    cmake --build "$LLAMA_DIR/build" -j "$(nproc)" --target llama llama-bench \
        >"$LLAMA_DIR/build.log" 2>&1 || { tail -20 "$LLAMA_DIR/build.log" >&2; exit 1; }
fi
rev=$(git -C "$LLAMA_DIR/src" rev-parse --short HEAD 2>/dev/null || echo "$LLAMA_COMMIT")

# ---- the driver: logits and story scores through libllama ----
drv=$LLAMA_DIR/halo-driver/driver
if ! [ -x "$drv" ] || [ "$0" -nt "$drv" ]; then
    mkdir -p "$LLAMA_DIR/halo-driver"
    cat >"$LLAMA_DIR/halo-driver/driver.cpp" <<'CPP'
// Written by halo's tools/compare-llamacpp.sh; uses llama.cpp's public API only.
//   driver logits MODEL IDS N OUT THREADS   teacher-forced logits, one token per decode
//   driver nll MODEL STORIES THREADS        every story (a line of ids, BOS first) scored
#include "llama.h"
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

static llama_context *context(llama_model *m, int n_ctx, int threads) {
    llama_context_params p = llama_context_default_params();
    p.n_ctx = n_ctx;
    p.n_batch = n_ctx;
    p.n_ubatch = n_ctx;
    p.n_threads = threads;
    p.n_threads_batch = threads;
    p.no_perf = true;
    p.type_k = GGML_TYPE_F32; /* halo's KV cache is float32 (llama.cpp's default is f16) */
    p.type_v = GGML_TYPE_F32;
    return llama_init_from_model(m, p);
}

int main(int argc, char **argv) {
    if (argc < 5) return 2;
    std::string mode = argv[1];
    llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    llama_model *model = llama_model_load_from_file(argv[2], mp);
    if (!model) { fprintf(stderr, "driver: cannot load %s\n", argv[2]); return 1; }
    int vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    if (mode == "logits" && argc == 7) {
        int n = atoi(argv[4]);
        std::vector<llama_token> ids;
        std::ifstream in(argv[3]);
        int v;
        while ((int)ids.size() < n && in >> v) ids.push_back(v);
        llama_context *ctx = context(model, n, atoi(argv[6]));
        FILE *out = fopen(argv[5], "wb");
        for (int i = 0; i < n; i++) {
            if (llama_decode(ctx, llama_batch_get_one(&ids[i], 1)) != 0) return 1;
            fwrite(llama_get_logits_ith(ctx, -1), sizeof(float), vocab, out);
        }
        fclose(out);
        llama_free(ctx);
    } else if (mode == "nll" && argc == 5) {
        std::ifstream in(argv[3]);
        std::string line;
        std::vector<std::vector<llama_token>> stories;
        size_t longest = 0;
        while (std::getline(in, line)) {
            std::istringstream ss(line);
            std::vector<llama_token> s;
            int v;
            while (ss >> v) s.push_back(v);
            if (!s.empty()) { stories.push_back(s); longest = std::max(longest, s.size()); }
        }
        llama_context *ctx = context(model, (int)longest, atoi(argv[4]));
        double nll = 0;
        long tokens = 0;
        for (const auto &s : stories) {
            llama_kv_cache_clear(ctx);
            llama_batch b = llama_batch_init((int)s.size(), 0, 1);
            for (size_t i = 0; i < s.size(); i++) {
                b.token[i] = s[i];
                b.pos[i] = (llama_pos)i;
                b.n_seq_id[i] = 1;
                b.seq_id[i][0] = 0;
                b.logits[i] = 1;
            }
            b.n_tokens = (int)s.size();
            if (llama_decode(ctx, b) != 0) return 1;
            for (size_t i = 0; i + 1 < s.size(); i++) {
                const float *l = llama_get_logits_ith(ctx, (int)i);
                double mx = l[0], sum = 0;
                for (int k = 1; k < vocab; k++) mx = std::max(mx, (double)l[k]);
                for (int k = 0; k < vocab; k++) sum += std::exp((double)l[k] - mx);
                nll += std::log(sum) + mx - (double)l[s[i + 1]];
                tokens++;
            }
            llama_batch_free(b);
        }
        printf("stories %zu tokens %ld nll %.6f ppl %.6f\n", stories.size(), tokens,
               nll / tokens, std::exp(nll / tokens));
        llama_free(ctx);
    } else {
        return 2;
    }
    llama_model_free(model);
    return 0;
}
CPP
    log "building the driver"
    g++ -O2 -std=c++17 -I"$LLAMA_DIR/src/include" -I"$LLAMA_DIR/src/ggml/include" \
        "$LLAMA_DIR/halo-driver/driver.cpp" -L"$bin" -lllama -Wl,-rpath,"$bin" -o "$drv"
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/halo-llamacpp-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export HALO_MODEL_DIR=$here/models
data=$here/data/tinystories-valid-dev.txt
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
# The tables go to a file (printed at the end, and spliced into --docs).
exec 3>&1 >"$scratch/out.md"
echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`tools/compare-llamacpp.sh\` (halo" \
    "$(git -C "$here" rev-parse --short HEAD), $(basename "$build") build; llama.cpp $rev," \
    "GGML_NATIVE=$LLAMA_NATIVE), $threads threads, $cpu."
echo

# Teacher-forced ids: BOS, then llama2.c's greedy ids of the bundled model.
{ echo 1; head -n $((positions - 1)) "$here/tests/golden/stories260K_greedy200.ids"; } >"$scratch/ids"

# The tolerance each type is held to (max over positions of max|a - b| / max|b|). Both
# programs compute the same function: float types up to the order of additions (llama.cpp
# turns activations into f16 for f16 weights); quantised types also quantise activations to
# 8 bits per block, with the same levels and scales in both, so they agree to float rounding
# until one activation lands within rounding noise of a level boundary and the two programs
# round it differently. From that position on (it stays in the KV cache) the logits differ
# by about one activation level: the tolerance allows that, and the columns "positions
# within 1e-5" and "first above" show how long the two agreed exactly.
tol_of() {
    case "$1" in
    f32) echo 1e-4 ;; f16) echo 1e-3 ;; q8_0 | q4_0 | q4_k_m) echo 5e-2 ;;
    *) echo 1 ;;
    esac
}
status=0
compare_logits() { # compare_logits NAME FILE VOCAB -> a table row
    local name=$1 f=$2 vocab=$3
    "$ref" logits "$f" "$scratch/ids" "$positions" "$scratch/halo.bin"
    "$drv" logits "$f" "$scratch/ids" "$positions" "$scratch/llama.bin" "$threads"
    local s
    s=$("$ref" compare "$scratch/halo.bin" "$scratch/llama.bin" "$vocab" | tail -n 1)
    local max mean agree exact first tol verdict
    max=$(echo "$s" | awk '{print $5}') mean=$(echo "$s" | awk '{print $7}')
    agree=$(echo "$s" | awk '{print $9}') exact=$(echo "$s" | awk '{print $11}')
    first=$(echo "$s" | awk '{print $13}') tol=$(tol_of "${name##* }")
    [ "$first" = -1 ] && first=none
    verdict=$(awk -v m="$max" -v t="$tol" 'BEGIN { print (m <= t) ? "yes" : "NO" }')
    [ "$verdict" = yes ] || status=1
    printf '| %s | %.3g | %.3g | %s/%s | %s | %s | %s | %s |\n' "$name" "$max" "$mean" "$agree" \
        "$positions" "$exact" "$first" "$tol" "$verdict"
}

echo "### Logits of the first $positions tokens (teacher-forced)"
echo
echo "| model | max relative error | mean | same argmax | positions within 1e-5 | first above | tolerance | within |"
echo "|---|---|---|---|---|---|---|---|"
for t in $types; do
    "$halo" convert -t "$t" -o "$scratch/s-$t.gguf" >/dev/null
    compare_logits "stories260K $t" "$scratch/s-$t.gguf" 512
done
"$halo" convert --synthetic 256,512,4,4,2,512,512 -z "$here/models/tok512.bin" -t q4_k_m \
    --seed 3 -o "$scratch/k.gguf" >/dev/null
compare_logits "synthetic-256 q4_k_m" "$scratch/k.gguf" 512
"$halo" convert --synthetic 256,512,4,4,2,512,512 -z "$here/models/tok512.bin" -t q8_0 \
    --seed 3 -o "$scratch/k8.gguf" >/dev/null
compare_logits "synthetic-256 q8_0" "$scratch/k8.gguf" 512
# Llama 3's RoPE base: a wrong or ignored llama.rope.freq_base moves f32 logits far past 1e-4.
"$halo" convert --synthetic 256,512,4,8,2,512,512 -z "$here/models/tok512.bin" -t f32 \
    --rope-theta 500000 --seed 5 -o "$scratch/theta.gguf" >/dev/null
compare_logits "synthetic-256 rope_theta 500000 f32" "$scratch/theta.gguf" 512
echo

if [ "$ppl" -eq 1 ]; then
    echo "### Perplexity on the dev excerpt (each story from its BOS, the same token ids)"
    echo
    # Agreement: the two perplexities within 0.1% of each other (the logits agree to float
    # rounding; rare activations rounded differently move a story's NLL slightly).
    echo "| model | stories | tokens | halo NLL | llama.cpp NLL | halo ppl | llama.cpp ppl | difference | within 0.1% |"
    echo "|---|---|---|---|---|---|---|---|---|"
    declare -A nll_of=()
    for t in $types; do
        f=$scratch/s-$t.gguf
        "$ref" stories "$f" "$data" "$scratch/stories"
        h=$("$halo" eval -m "$f" --threads "$threads" --json "$data" 2>/dev/null)
        hn=$(echo "$h" | sed -n 's/.*"nll": \([0-9.e+-]*\).*/\1/p')
        ht=$(echo "$h" | sed -n 's/.*"tokens": \([0-9]*\).*/\1/p')
        l=$("$drv" nll "$f" "$scratch/stories" "$threads")
        ls=$(echo "$l" | awk '{print $2}') lt=$(echo "$l" | awk '{print $4}') ln=$(echo "$l" | awk '{print $6}')
        [ "$lt" = "$ht" ] || { log "token counts differ: halo eval $ht, stories file $lt"; status=1; }
        nll_of[$t]=$hn
        row=$(awk -v t="$t" -v s="$ls" -v n="$lt" -v a="$hn" -v b="$ln" 'BEGIN {
            d = 100 * (exp(a) / exp(b) - 1)
            printf "| stories260K %s | %d | %d | %.6f | %.6f | %.4f | %.4f | %+.3f%% | %s |\n",
                   t, s, n, a, b, exp(a), exp(b), d, (d <= 0.1 && d >= -0.1) ? "yes" : "NO" }')
        echo "$row"
        [[ "$row" == *"| yes |" ]] || status=1
    done
    echo
    # halo's own cost of quantisation, against its f32 perplexity
    for t in $types; do
        [ "$t" != f32 ] && [ -n "${nll_of[f32]:-}" ] || continue
        awk -v t="$t" -v a="${nll_of[$t]}" -v b="${nll_of[f32]}" 'BEGIN {
            printf "- halo %s against f32: perplexity %+.3f%%%s\n", t, 100 * (exp(a) / exp(b) - 1),
                   t == "q8_0" ? ((exp(a) / exp(b) - 1 <= 0.005) ? " (bound 0.5%: within)" : " (bound 0.5%: NOT within)") : "" }'
    done
    echo
fi

vtest=$LLAMA_DIR/src/models/ggml-vocab-llama-spm.gguf
if [ -f "$vtest" ] && [ -f "$vtest.inp" ] && [ -f "$vtest.out" ]; then
    echo "### Tokenizer: llama.cpp's vocabulary test (ggml-vocab-llama-spm.gguf, expected ids from SentencePiece)"
    echo
    "$ref" tokenize "$vtest" "$vtest.inp" "$scratch/tok.out"
    n=$(wc -l <"$vtest.out")
    same=$(paste -d '\t' "$scratch/tok.out" "$vtest.out" |
        awk -F '\t' '{ a = $1; b = $2; gsub(/^ +| +$/, "", a); gsub(/^ +| +$/, "", b); if (a == b) s++ } END { print s + 0 }')
    echo "$same of $n test texts encode to the expected ids."
    paste -d '\t' "$scratch/tok.out" "$vtest.out" | awk -F '\t' '{ a = $1; b = $2; gsub(/^ +| +$/, "", a);
        gsub(/^ +| +$/, "", b); if (a != b) printf "  test %d: halo [%s], expected [%s]\n", NR, a, b }' | head -n 10
    echo
fi

exec 1>&3 3>&-
cat "$scratch/out.md"
if [ -n "$docs" ]; then
    "$here/tools/splice-doc.sh" "$docs" compare-llamacpp.sh <"$scratch/out.md"
    log "wrote the tables into $docs"
fi
exit $status
