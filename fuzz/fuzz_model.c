/*
 * Fuzz target: llama2.c model checkpoints with their tokenizer (core/model.c, core/forward.c,
 * core/tokenizer.c), the pair `halo generate` loads.
 *
 * Input: u32 model length, the model file, then the tokenizer file (for the model's
 * vocabulary, whatever its size). What loads runs: the prompt is encoded (every id inside
 * the vocabulary) and fed through the forward pass for up to 4 positions, and the greedy
 * next token is inside the vocabulary. Models whose run state would exceed 64 MiB are only
 * loaded (the harness's memory budget, not a limit of halo).
 */
#include "core/forward.h"
#include "core/model.h"
#include "core/sampler.h"
#include "core/tokenizer.h"
#include "fuzz/fuzz.h"

#include <string.h>

static void run(const halo_model *m, const char *tok_path) {
    const halo_model_config *c = halo_model_get_config(m);
    double state = ((double)c->n_layers * c->seq_len * c->dim * 2 + (double)c->hidden_dim * 3 +
                    (double)c->vocab_size + (double)c->n_heads * c->seq_len) *
                   4.0;
    if (state > 64.0 * 1024 * 1024)
        return;
    halo_tokenizer *t = NULL;
    halo_err err = {0};
    if (halo_tokenizer_load(&t, tok_path, c->vocab_size, &err) != HALO_OK)
        return;
    const char *prompt = "Once upon a time, \xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80 ~";
    int tokens[64], n = 0;
    FZ_CHECK(halo_tokenizer_max_tokens(prompt) <= 64);
    FZ_CHECK(halo_tokenizer_encode(t, prompt, 1, 0, tokens, 64, &n, &err) == HALO_OK);
    halo_state *s = NULL;
    if (halo_state_new(&s, m, NULL, &err) == HALO_OK) {
        for (int pos = 0; pos < n && pos < 4 && pos < c->seq_len; pos++) {
            FZ_CHECK(tokens[pos] >= 0 && tokens[pos] < c->vocab_size);
            const float *logits = halo_forward(s, tokens[pos], pos);
            int next = halo_argmax(logits, c->vocab_size);
            FZ_CHECK(next >= 0 && next < c->vocab_size);
            size_t nb;
            (void)halo_tokenizer_decode(t, tokens[pos], next, &nb);
        }
        halo_state_free(s);
    }
    halo_tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4)
        return 0;
    size_t model_len = (size_t)(data[0] | data[1] << 8 | data[2] << 16 | (uint32_t)data[3] << 24);
    if (model_len > size - 4)
        model_len = size - 4;
    const char *mp = fz_file(0, data + 4, model_len);
    const char *tp = fz_file(1, data + 4 + model_len, size - 4 - model_len);
    halo_model *m = NULL;
    halo_err err = {0};
    if (halo_model_load(&m, mp, &err) != HALO_OK) {
        FZ_CHECK(m == NULL && strstr(err.msg, mp) != NULL);
        return 0;
    }
    run(m, tp);
    halo_model_free(m);
    return 0;
}
