/*
 * Fuzz target: llama2.c tokenizer files of any vocabulary size (core/tokenizer.c), and the
 * encoder and decoder on what loads.
 *
 * Input: u16 vocabulary size (taken modulo 1022, plus 3: 3..1024, so vocabularies without
 * the 256 byte-fallback pieces are common), u8 text length (mod 64), the text, then the
 * tokenizer file. Invariants: every encoded id is inside the vocabulary (issue 18: byte
 * fallback of a vocabulary under 259 tokens emitted ids past its end), BOS first, and every
 * id decodes.
 */
#include "core/tokenizer.h"
#include "fuzz/fuzz.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3)
        return 0;
    int vocab = 3 + (int)((data[0] | (unsigned)data[1] << 8) % 1022u);
    size_t text_len = data[2] % 64u;
    if (size < 3 + text_len)
        return 0;
    char text[65];
    memcpy(text, data + 3, text_len);
    text[text_len] = '\0';
    const char *path = fz_file(0, data + 3 + text_len, size - 3 - text_len);
    halo_tokenizer *t = NULL;
    halo_err err = {0};
    if (halo_tokenizer_load(&t, path, vocab, &err) != HALO_OK) {
        FZ_CHECK(t == NULL && strstr(err.msg, path) != NULL);
        return 0;
    }
    FZ_CHECK(halo_tokenizer_vocab_size(t) == vocab);
    int tokens[80], n = 0;
    size_t cap = halo_tokenizer_max_tokens(text);
    FZ_CHECK(cap <= sizeof tokens / sizeof tokens[0]);
    int rc = halo_tokenizer_encode(t, text, 1, 1, tokens, (int)cap, &n, &err);
    FZ_CHECK(rc == HALO_OK);
    FZ_CHECK(n >= 2 && tokens[0] == HALO_TOKEN_BOS && tokens[n - 1] == HALO_TOKEN_EOS);
    int prev = HALO_TOKEN_BOS;
    for (int i = 0; i < n; i++) {
        FZ_CHECK(tokens[i] >= 0 && tokens[i] < vocab);
        size_t nb;
        const char *s = halo_tokenizer_decode(t, prev, tokens[i], &nb);
        FZ_CHECK(s != NULL);
        volatile char sink = nb ? s[nb - 1] : 0;
        (void)sink;
        prev = tokens[i];
    }
    halo_tokenizer_free(t);
    return 0;
}
