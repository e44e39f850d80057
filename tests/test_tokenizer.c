/* The llama2.c tokenizer: encoding matches llama2.c's encode(), decoding, bad files. */
#include "core/forward.h"
#include "core/sampler.h"
#include "core/tokenizer.h"
#include "tests/test.h"
#include "tests/testutil.h"

#include <stdint.h>

static halo_tokenizer *load_bundled(void) {
    halo_tokenizer *t = NULL;
    halo_err err = {0};
    ASSERT_OK(halo_tokenizer_load(&t, tu_src_path("models/tok512.bin"), 512, &err));
    return t;
}

/* Expected ids were produced by llama2.c's encode() (bos=1, eos=0) on the same files. */
static const struct {
    const char *text;
    int ids[24];
    int n;
} cases[] = {
    {"Once upon a time", {1, 403, 407, 261, 378}, 5},
    {"Hello, world! 123", {1, 346, 306, 414, 432, 263, 304, 341, 443, 410, 475, 479, 472}, 13},
    {"The caf\303\251 \303\274ber na\303\257ve",
     {1, 291, 280, 412, 431, 485, 410, 198, 191, 430, 285, 297, 412, 198, 178, 360},
     16},
    {"", {1}, 1},
    {"  two  spaces", {1, 410, 410, 259, 424, 414, 410, 262, 427, 412, 331, 419}, 12},
    {"tab\tnewline\nend", {1, 259, 412, 430, 12, 416, 411, 424, 421, 271, 411, 13, 367}, 13},
    {"I am \360\237\230\200 happy", {1, 359, 261, 423, 410, 243, 162, 155, 131, 393}, 10},
    {" ", {1, 410, 410}, 3},
    {"\n", {1, 410, 13}, 3},
    {"a", {1, 261}, 2},
    {"Lily's mom said, \"Lily, let's go.\"",
     {1, 317, 439, 419, 357, 336, 432, 313, 438, 310, 432, 278, 316, 439, 419, 298, 414, 426, 436},
     19},
};

static void encode_matches_llama2c(void) {
    halo_tokenizer *t = load_bundled();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int ids[64], n = -1;
        halo_err err = {0};
        ASSERT_OK(halo_tokenizer_encode(t, cases[c].text, 1, 0, ids, 64, &n, &err));
        if (n != cases[c].n)
            TEST_FAIL_AT("case %zu: %d tokens, expected %d", c, n, cases[c].n);
        for (int i = 0; i < n; i++)
            if (ids[i] != cases[c].ids[i])
                TEST_FAIL_AT("case %zu token %d: %d, expected %d", c, i, ids[i], cases[c].ids[i]);
    }
    halo_tokenizer_free(t);
}

static void eos_is_appended_and_bos_optional(void) {
    halo_tokenizer *t = load_bundled();
    int ids[16], n;
    ASSERT_OK(halo_tokenizer_encode(t, "a", 0, 1, ids, 16, &n, NULL));
    ASSERT_EQ(n, 2);
    ASSERT_EQ(ids[0], 261);
    ASSERT_EQ(ids[1], HALO_TOKEN_EOS);
    halo_tokenizer_free(t);
}

static void small_buffer_is_an_error(void) {
    halo_tokenizer *t = load_bundled();
    int ids[3], n;
    halo_err err = {0};
    ASSERT_EQ(halo_tokenizer_encode(t, "Once upon a time", 1, 0, ids, 3, &n, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "too small");
    ASSERT(halo_tokenizer_max_tokens("Once upon a time") >= 5);
    halo_tokenizer_free(t);
}

static void decode_round_trips_text_and_bytes(void) {
    halo_tokenizer *t = load_bundled();
    const char *text = "Hello, world! The caf\303\251 \360\237\230\200\n";
    int ids[128], n;
    ASSERT_OK(halo_tokenizer_encode(t, text, 1, 0, ids, 128, &n, NULL));
    char out[256];
    size_t len = 0;
    for (int i = 1; i < n; i++) {
        size_t k;
        const char *p = halo_tokenizer_decode(t, ids[i - 1], ids[i], &k);
        memcpy(out + len, p, k);
        len += k;
    }
    out[len] = '\0';
    /* The dummy-prefix space is dropped after BOS, so decoding gives the text back. */
    ASSERT(strcmp(out, text) == 0);
    size_t k;
    const char *nul = halo_tokenizer_decode(t, 5, 3, &k); /* <0x00> */
    ASSERT_EQ(k, 1);
    ASSERT_EQ(nul[0], 0);
    halo_tokenizer_free(t);
}

static void expect_load_error(const char *path, int vocab, int code, const char *needle) {
    halo_tokenizer *t = (halo_tokenizer *)1;
    halo_err err = {0};
    ASSERT_EQ(halo_tokenizer_load(&t, path, vocab, &err), code);
    ASSERT(t == NULL);
    ASSERT_STR_CONTAINS(err.msg, needle);
}

static void vocabulary_mismatch_is_named(void) {
    const char *p = tu_src_path("models/tok512.bin");
    expect_load_error(p, 32000, HALO_ERR_FORMAT, "cannot hold 32000 tokens");
    expect_load_error(p, 600, HALO_ERR_FORMAT, "model has 600");
    expect_load_error(p, 500, HALO_ERR_FORMAT, "data after 500 tokens");
    expect_load_error("/nonexistent/tok.bin", 512, HALO_ERR_IO, "/nonexistent/tok.bin");
    /* A file larger than any vocabulary of that size is refused before its size decides an
       allocation (a 3-token vocabulary takes at most 4 + 3 * (8 + 65536) bytes). */
    size_t n = 4 + 3 * (8 + 65536) + 1;
    unsigned char *big = calloc(1, n);
    const char *bp = tu_tmp_path("big-tok.bin");
    tu_write_file(bp, big, n);
    free(big);
    expect_load_error(bp, 3, HALO_ERR_FORMAT, "more than 3 tokens can take (at most 196636)");
}

static void malformed_entries_are_rejected(void) {
    size_t n;
    unsigned char *buf = tu_read_file(tu_src_path("models/tok512.bin"), &n);
    const char *p = tu_tmp_path("tok.bin");
    /* max_token_length of zero */
    unsigned char *b = malloc(n);
    memcpy(b, buf, n);
    memset(b, 0, 4);
    tu_write_file(p, b, n);
    expect_load_error(p, 512, HALO_ERR_FORMAT, "max_token_length");
    /* first token's length negative, then absurd */
    memcpy(b, buf, n);
    int32_t len = -1;
    memcpy(b + 8, &len, 4);
    tu_write_file(p, b, n);
    expect_load_error(p, 512, HALO_ERR_FORMAT, "token 0 has length -1");
    len = 1 << 30;
    memcpy(b + 8, &len, 4);
    tu_write_file(p, b, n);
    expect_load_error(p, 512, HALO_ERR_FORMAT, "token 0 has length");
    /* a NaN score */
    memcpy(b, buf, n);
    uint32_t nan_bits = 0x7fc00000u;
    memcpy(b + 4, &nan_bits, 4);
    tu_write_file(p, b, n);
    expect_load_error(p, 512, HALO_ERR_FORMAT, "non-finite score");
    /* truncated in the middle of the last entry */
    tu_write_file(p, buf, n - 2);
    expect_load_error(p, 512, HALO_ERR_FORMAT, "");
    free(b);
    free(buf);
}

/* A llama2.c tokenizer file of `vocab` tokens: <unk>, <s>, </s>, then (with `bytes`) the
   <0xXX> pieces while they fit, then single letters and (with `space`) " ", then filler. */
static const char *small_vocab(int vocab, int bytes, int space) {
    size_t cap = 16 + (size_t)vocab * 24, n = 0;
    unsigned char *b = malloc(cap);
    int32_t max_len = 8;
    memcpy(b, &max_len, 4);
    n = 4;
    int letter = 0;
    for (int i = 0; i < vocab; i++) {
        char piece[16];
        if (i < 3)
            (void)snprintf(piece, sizeof piece, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
        else if (bytes && i < 259)
            (void)snprintf(piece, sizeof piece, "<0x%02X>", (unsigned)(i - 3));
        else if (space && letter == 0 && i == vocab - 1)
            (void)snprintf(piece, sizeof piece, " ");
        else if (letter < 26)
            (void)snprintf(piece, sizeof piece, "%c", 'a' + letter++);
        else
            (void)snprintf(piece, sizeof piece, "#%d", i);
        float score = -(float)i;
        int32_t len = (int32_t)strlen(piece);
        memcpy(b + n, &score, 4);
        memcpy(b + n + 4, &len, 4);
        memcpy(b + n + 8, piece, (size_t)len);
        n += 8 + (size_t)len;
    }
    char name[48];
    (void)snprintf(name, sizeof name, "small-%d-%d-%d.bin", vocab, bytes, space);
    const char *p = tu_tmp_path(name);
    tu_write_file(p, b, n);
    free(b);
    return p;
}

/*
 * Issue 18: a vocabulary under 259 tokens has no room for the 256 byte-fallback pieces, and
 * encoding emitted ids past its end (the dummy-prefix space as ' ' + 3 = 35, bytes as
 * byte + 3): an out-of-bounds read in the merge loop (ASan) and ids the forward pass
 * refuses. Every size, with and without byte pieces and a space piece, encodes every text
 * into ids inside the vocabulary, and every id decodes.
 */
static void small_vocabularies_encode_inside_the_vocabulary(void) {
    static const int sizes[] = {3, 4, 10, 35, 36, 40, 258, 259, 300};
    static const char *const texts[] = {"hello world", "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80",
                                        "~ \x01\x7f zz", " "};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int variant = 0; variant < 4; variant++) {
            int vocab = sizes[s], bytes = variant & 1, space = variant >> 1;
            halo_tokenizer *t = NULL;
            halo_err err = {0};
            ASSERT_OK(halo_tokenizer_load(&t, small_vocab(vocab, bytes, space), vocab, &err));
            for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
                int ids[64], n = 0;
                ASSERT(halo_tokenizer_max_tokens(texts[k]) <= 64);
                ASSERT_OK(halo_tokenizer_encode(t, texts[k], 1, 1, ids, 64, &n, &err));
                ASSERT(n >= 3);
                for (int i = 0; i < n; i++) {
                    if (ids[i] < 0 || ids[i] >= vocab)
                        TEST_FAIL_AT("vocab %d (bytes %d, space %d), text %zu: id %d at %d", vocab,
                                     bytes, space, k, ids[i], i);
                    size_t nb;
                    ASSERT(halo_tokenizer_decode(t, i ? ids[i - 1] : 0, ids[i], &nb) != NULL);
                }
            }
            halo_tokenizer_free(t);
        }
}

/* The pair `halo generate` loads: a 35-token model and vocabulary (no byte pieces, no space
   piece) run an ordinary prompt through the forward pass (issue 18: it aborted). */
static void small_vocabulary_model_runs_a_prompt(void) {
    halo_model_config cfg = tu_model_shape("small-vocab");
    halo_model *m = tu_random_model("small-vocab.bin", &cfg, 5, NULL);
    halo_tokenizer *t = NULL;
    halo_err err = {0};
    ASSERT_OK(halo_tokenizer_load(&t, small_vocab(35, 0, 0), 35, &err));
    int ids[64], n = 0;
    ASSERT_OK(halo_tokenizer_encode(t, "Once upon a time, there was", 1, 0, ids, 64, &n, &err));
    halo_state *s = NULL;
    ASSERT_OK(halo_state_new(&s, m, NULL, &err));
    for (int pos = 0; pos < n; pos++) {
        int next = halo_argmax(halo_forward(s, ids[pos], pos), cfg.vocab_size);
        ASSERT(next >= 0 && next < cfg.vocab_size);
    }
    halo_state_free(s);
    halo_tokenizer_free(t);
    halo_model_free(m);
}

TEST_MAIN(TEST(encode_matches_llama2c), TEST(eos_is_appended_and_bos_optional),
          TEST(small_buffer_is_an_error), TEST(decode_round_trips_text_and_bytes),
          TEST(vocabulary_mismatch_is_named), TEST(malformed_entries_are_rejected),
          TEST(small_vocabularies_encode_inside_the_vocabulary),
          TEST(small_vocabulary_model_runs_a_prompt))
