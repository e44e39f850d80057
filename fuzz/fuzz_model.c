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
#include "core/model.h"
#include "core/tokenizer.h"
#include "fuzz/fuzz.h"

#include <string.h>

static void run(const halo_model *m, const char *tok_path) {
    if (!fz_model_fits(m))
        return;
    halo_tokenizer *t = NULL;
    halo_err err = {0};
    if (halo_tokenizer_load(&t, tok_path, halo_model_get_config(m)->vocab_size, &err) != HALO_OK)
        return;
    fz_model_run(m, t, "Once upon a time, \xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80 ~", 4);
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
