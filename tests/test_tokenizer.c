/* The llama2.c tokenizer: encoding matches llama2.c's encode(), decoding, bad files. */
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

TEST_MAIN(TEST(encode_matches_llama2c), TEST(eos_is_appended_and_bos_optional),
          TEST(small_buffer_is_an_error), TEST(decode_round_trips_text_and_bytes),
          TEST(vocabulary_mismatch_is_named), TEST(malformed_entries_are_rejected))
