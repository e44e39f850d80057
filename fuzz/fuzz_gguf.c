/*
 * Fuzz target: GGUF files (core/gguf.c) and the LLaMA models and vocabularies in them
 * (core/model_gguf.c, core/tokenizer.c).
 *
 * The input is one GGUF file. It is parsed in memory and every key and tensor is walked
 * (string arrays iterated to the end, numeric arrays read at both ends); then the same bytes
 * are loaded as a model from a file, and a model that loads gets its vocabulary read, a
 * prompt encoded (ids inside the vocabulary) and up to 3 positions of the forward pass (the
 * greedy token inside the vocabulary). Run states over 64 MiB are skipped (the harness's
 * budget).
 */
#include "core/gguf.h"
#include "core/model.h"
#include "core/tokenizer.h"
#include "fuzz/fuzz.h"

#include <string.h>

static void walk(const halo_gguf *g) {
    volatile double sink = 0;
    for (int i = 0; i < halo_gguf_n_kv(g); i++) {
        const halo_gguf_kv *kv = halo_gguf_kv_at(g, i);
        FZ_CHECK(halo_gguf_find(g, kv->key) != NULL);
        if (kv->type == HALO_GGUF_ARRAY && kv->elem_type == HALO_GGUF_STRING) {
            uint64_t pos = 0;
            for (uint64_t k = 0; k < kv->n; k++) {
                const char *s;
                size_t len;
                halo_gguf_array_str_next(kv, &pos, &s, &len);
                sink += len ? (unsigned char)s[len - 1] : 0;
            }
        } else if (kv->type == HALO_GGUF_ARRAY && kv->elem_type != HALO_GGUF_ARRAY && kv->n > 0) {
            sink += halo_gguf_array_num(kv, 0) + halo_gguf_array_num(kv, kv->n - 1);
        } else if (kv->type == HALO_GGUF_STRING) {
            const char *s;
            size_t len;
            halo_err err = {0};
            FZ_CHECK(halo_gguf_get_str(g, kv->key, &s, &len, &err) == HALO_OK);
            sink += len ? (unsigned char)s[len - 1] : 0;
        }
    }
    for (int i = 0; i < halo_gguf_n_tensors(g); i++) {
        const halo_gguf_tensor *t = halo_gguf_tensor_at(g, i);
        FZ_CHECK(halo_gguf_find_tensor(g, t->name) != NULL);
        if (t->n_bytes)
            sink += ((const unsigned char *)t->data)[t->n_bytes - 1];
    }
    (void)sink;
}

static void run(const halo_model *m) {
    if (!fz_model_fits(m))
        return;
    halo_tokenizer *t = NULL;
    halo_err err = {0};
    const halo_gguf *g = halo_model_gguf(m);
    if (!g ||
        halo_tokenizer_load_gguf(&t, g, halo_model_get_config(m)->vocab_size, &err) != HALO_OK)
        return;
    fz_model_run(m, t, "Once upon a time \xe2\x96\x81 \xc3\xa9", 3);
    halo_tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    halo_gguf *g = NULL;
    halo_err err = {0};
    int rc = halo_gguf_parse(&g, data, size, "fuzz.gguf", &err);
    if (rc != HALO_OK) {
        FZ_CHECK(g == NULL && strstr(err.msg, "fuzz.gguf") != NULL);
        return 0;
    }
    walk(g);
    halo_gguf_free(g);
    const char *path = fz_file(0, data, size);
    halo_model *m = NULL;
    if (halo_model_load(&m, path, &err) != HALO_OK) {
        FZ_CHECK(m == NULL);
        return 0;
    }
    run(m);
    halo_model_free(m);
    return 0;
}
