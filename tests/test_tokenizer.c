/* The llama2.c tokenizer: encoding matches llama2.c's encode(), decoding, bad files. */
#include "core/forward.h"
#include "core/sampler.h"
#include "core/tokenizer.h"
#include "tests/test.h"
#include "tests/testutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* ==== The merge against a straightforward reference ==== */

/* The encoder as it was before the heap (kept here as the specification): the initial symbols
   (BOS, the dummy prefix, a piece per UTF-8 code point or byte pieces), then, while some
   adjacent pair's concatenation is a piece, the pair whose piece scores highest, the leftmost
   on equal scores, is replaced by that piece. Lookup finds the lowest id of equal pieces. */
typedef struct ref_piece {
    const char *bytes;
    size_t len;
    int id;
} ref_piece;

typedef struct ref_vocab {
    const halo_tokenizer *t;
    int n;
    ref_piece *sorted;
} ref_vocab;

static int ref_cmp_bytes(const char *a, size_t alen, const char *b, size_t blen) {
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

static int ref_piece_cmp(const void *pa, const void *pb) {
    const ref_piece *a = pa, *b = pb;
    int c = ref_cmp_bytes(a->bytes, a->len, b->bytes, b->len);
    return c != 0 ? c : a->id - b->id;
}

static void ref_init(ref_vocab *v, const halo_tokenizer *t) {
    v->t = t;
    v->n = halo_tokenizer_vocab_size(t);
    v->sorted = malloc((size_t)v->n * sizeof *v->sorted);
    ASSERT(v->sorted);
    for (int i = 0; i < v->n; i++) {
        halo_tokenizer_piece(t, i, &v->sorted[i].bytes, &v->sorted[i].len, NULL);
        v->sorted[i].id = i;
    }
    qsort(v->sorted, (size_t)v->n, sizeof *v->sorted, ref_piece_cmp);
}

static int ref_lookup(const ref_vocab *v, const char *bytes, size_t len) {
    int lo = 0, hi = v->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (ref_cmp_bytes(v->sorted[mid].bytes, v->sorted[mid].len, bytes, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < v->n && ref_cmp_bytes(v->sorted[lo].bytes, v->sorted[lo].len, bytes, len) == 0)
        return v->sorted[lo].id;
    return -1;
}

static int ref_byte_id(const ref_vocab *v, unsigned char c) {
    char name[7];
    (void)snprintf(name, sizeof name, "<0x%02X>", (unsigned)c);
    int id = ref_lookup(v, name, 6);
    return id >= 0 ? id : c + 3 < v->n ? c + 3 : 0;
}

/* Returns the count; tokens has room for strlen(text) + 3. */
static int ref_encode(const ref_vocab *v, const char *text, int bos, int *tokens) {
    int n = 0;
    if (bos)
        tokens[n++] = HALO_TOKEN_BOS;
    if (text[0] != '\0') {
        int space = ref_lookup(v, " ", 1);
        tokens[n++] = space >= 0 ? space : ref_byte_id(v, ' ');
    }
    for (const char *c = text; *c != '\0';) {
        int len = 1;
        while (len < 4 && (((unsigned char)c[len]) & 0xC0) == 0x80)
            len++;
        int id = ref_lookup(v, c, (size_t)len);
        if (id >= 0) {
            tokens[n++] = id;
        } else {
            for (int i = 0; i < len; i++)
                tokens[n++] = ref_byte_id(v, (unsigned char)c[i]);
        }
        c += len;
    }
    char *buf = NULL;
    size_t buf_cap = 0;
    for (;;) {
        float best_score = -INFINITY;
        int best_id = -1, best_idx = -1;
        for (int i = bos ? 1 : 0; i + 1 < n; i++) {
            const char *a, *b;
            size_t alen, blen;
            halo_tokenizer_piece(v->t, tokens[i], &a, &alen, NULL);
            halo_tokenizer_piece(v->t, tokens[i + 1], &b, &blen, NULL);
            if (alen + blen > buf_cap) {
                buf_cap = 2 * (alen + blen);
                char *grown = realloc(buf, buf_cap);
                ASSERT(grown);
                buf = grown;
            }
            memcpy(buf, a, alen);
            memcpy(buf + alen, b, blen);
            int id = ref_lookup(v, buf, alen + blen);
            float score;
            if (id >= 0) {
                const char *pb;
                size_t pl;
                halo_tokenizer_piece(v->t, id, &pb, &pl, &score);
                if (score > best_score) {
                    best_score = score;
                    best_id = id;
                    best_idx = i;
                }
            }
        }
        if (best_idx < 0)
            break;
        tokens[best_idx] = best_id;
        memmove(&tokens[best_idx + 1], &tokens[best_idx + 2],
                (size_t)(n - best_idx - 2) * sizeof *tokens);
        n--;
    }
    free(buf);
    return n;
}

/* Encodes `text` both ways, with and without BOS, and fails on the first difference. */
static void expect_same_as_reference(const ref_vocab *v, const char *what, const char *text) {
    size_t cap = halo_tokenizer_max_tokens(text);
    int *got = malloc(cap * sizeof *got), *want = malloc(cap * sizeof *want);
    ASSERT(got && want);
    for (int bos = 0; bos <= 1; bos++) {
        int n = -1;
        halo_err err = {0};
        ASSERT_OK_ERR(halo_tokenizer_encode(v->t, text, bos, 0, got, (int)cap, &n, &err), err);
        int n_want = ref_encode(v, text, bos, want);
        if (n != n_want)
            TEST_FAIL_AT("%s (bos %d, %zu bytes): %d tokens, the reference %d", what, bos,
                         strlen(text), n, n_want);
        for (int i = 0; i < n; i++)
            if (got[i] != want[i])
                TEST_FAIL_AT("%s (bos %d, %zu bytes): token %d is %d, the reference %d", what, bos,
                             strlen(text), i, got[i], want[i]);
    }
    free(got);
    free(want);
}

static uint64_t next_rand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Random text of up to max_len bytes: vocabulary pieces (many merges, equal pieces side by
   side), runs of one letter (ties between equal pairs), UTF-8 and bytes no piece has. */
static char *random_text(const halo_tokenizer *t, uint64_t *rng, size_t max_len) {
    static const char *const bits[] = {"a",
                                       "aa",
                                       " ",
                                       "  ",
                                       "e",
                                       "the",
                                       ".",
                                       "\n",
                                       "\t",
                                       "\xc3\xa9",
                                       "\xf0\x9f\x98\x80",
                                       "\xff\xfe",
                                       "\x80",
                                       "ing ",
                                       "zz",
                                       "<0x41>"};
    size_t want = (size_t)next_rand(rng) % (max_len + 1), n = 0;
    char *s = malloc(max_len + 64);
    ASSERT(s);
    while (n < want) {
        const char *b;
        size_t len;
        uint64_t pick = next_rand(rng) % 4;
        if (pick == 0) {
            b = bits[next_rand(rng) % (sizeof bits / sizeof bits[0])];
            len = strlen(b);
        } else if (pick == 1) {
            s[n++] = (char)('a' + next_rand(rng) % 3);
            continue;
        } else {
            halo_tokenizer_piece(t, (int)(next_rand(rng) % (uint64_t)halo_tokenizer_vocab_size(t)),
                                 &b, &len, NULL);
        }
        if (len > 40 || memchr(b, '\0', len))
            continue;
        memcpy(s + n, b, len);
        n += len;
    }
    s[n] = '\0';
    return s;
}

/* A vocabulary over {a, b, c, space} whose pieces' scores come from a small set, so that many
   candidate pairs tie and the leftmost rule decides. */
static const char *tied_vocab(int *vocab_out) {
    size_t cap = 1 << 16, n = 4;
    unsigned char *b = malloc(cap);
    int32_t max_len = 5; /* "<unk>" */
    memcpy(b, &max_len, 4);
    static const char alpha[] = "abc ";
    int vocab = 0;
    uint64_t rng = 99;
    for (int len = 0; len <= 4; len++) {
        int count = len == 0 ? 3 : 1;
        for (int k = 0; k < len; k++)
            count *= 4;
        for (int i = 0; i < count; i++) {
            char piece[8];
            if (len == 0) {
                (void)snprintf(piece, sizeof piece, "%s",
                               i == 0   ? "<unk>"
                               : i == 1 ? "<s>"
                                        : "</s>");
            } else {
                int x = i;
                for (int k = 0; k < len; k++, x /= 4)
                    piece[k] = alpha[x % 4];
                piece[len] = '\0';
                if (len >= 3 && next_rand(&rng) % 3 == 0)
                    continue; /* some longer pieces missing: merges stop early */
            }
            float score = len == 1 ? 0.0f : -(float)(next_rand(&rng) % 3);
            int32_t plen = (int32_t)strlen(piece);
            memcpy(b + n, &score, 4);
            memcpy(b + n + 4, &plen, 4);
            memcpy(b + n + 8, piece, (size_t)plen);
            n += 8 + (size_t)plen;
            vocab++;
        }
    }
    ASSERT(n <= cap);
    const char *p = tu_tmp_path("tied-vocab.bin");
    tu_write_file(p, b, n);
    free(b);
    *vocab_out = vocab;
    return p;
}

/*
 * The heap-driven merge gives exactly the tokens of the quadratic rescan it replaced, for
 * both bundled vocabularies and a vocabulary full of ties: on stories (real text, cut at
 * random places), on random text and on runs of one letter.
 */
static void merge_matches_the_reference_rescan(void) {
    static const struct {
        const char *path;
        int vocab;
        int n_random, max_len;
    } vocabs[] = {{"models/tok512.bin", 512, 100, 400},
                  {"models/tokenizer.bin", 32000, 40, 300},
                  {NULL, 0, 150, 200}};

    size_t story_bytes = 0;
    char *stories =
        (char *)tu_read_file(tu_src_path("data/tinystories-valid-dev.txt"), &story_bytes);
    ASSERT(stories && story_bytes > 10000);
    for (size_t k = 0; k < sizeof vocabs / sizeof vocabs[0]; k++) {
        halo_tokenizer *t = NULL;
        halo_err err = {0};
        int vocab = vocabs[k].vocab;
        const char *path = vocabs[k].path ? tu_src_path(vocabs[k].path) : tied_vocab(&vocab);
        ASSERT_OK_ERR(halo_tokenizer_load(&t, path, vocab, &err), err);
        ref_vocab v;
        ref_init(&v, t);
        uint64_t rng = 12345 + k;
        char what[64];
        for (int i = 0; i < vocabs[k].n_random; i++) {
            char *text = random_text(t, &rng, (size_t)vocabs[k].max_len);
            if (!vocabs[k].path) /* only the tied vocabulary's letters */
                for (char *c = text; *c; c++)
                    *c = "abc "[(unsigned char)*c % 4];
            (void)snprintf(what, sizeof what, "%s random text %d", path, i);
            expect_same_as_reference(&v, what, text);
            free(text);
        }
        for (int i = 0; i < 20; i++) {
            size_t at = (size_t)next_rand(&rng) % (story_bytes - 600);
            size_t len = (size_t)next_rand(&rng) % 600;
            char *text = malloc(len + 1);
            ASSERT(text);
            memcpy(text, stories + at, len);
            text[len] = '\0';
            if (!vocabs[k].path)
                for (char *c = text; *c; c++)
                    *c = "abc "[(unsigned char)*c % 4];
            (void)snprintf(what, sizeof what, "%s story bytes %zu..", path, at);
            expect_same_as_reference(&v, what, text);
            free(text);
        }
        for (int len = 1; len <= 40; len++) {
            char text[41];
            memset(text, "abc"[len % 3], (size_t)len);
            text[len] = '\0';
            (void)snprintf(what, sizeof what, "%s run of %d", path, len);
            expect_same_as_reference(&v, what, text);
        }
        free(v.sorted);
        halo_tokenizer_free(t);
    }
    free(stories);
}

/* A 260 KB line encodes whole (the rescan after every merge took over a minute for 65 KB and
   grew with the square of the length: this test would run into CTest's timeout) and decodes
   back to its bytes. */
static void long_text_encodes(void) {
    halo_tokenizer *t = load_bundled();
    const char *unit = "the cat sat. ";
    size_t ul = strlen(unit), reps = 20000;
    char *text = malloc(ul * reps + 1);
    ASSERT(text);
    for (size_t i = 0; i < reps; i++)
        memcpy(text + i * ul, unit, ul);
    text[ul * reps] = '\0';
    size_t cap = halo_tokenizer_max_tokens(text);
    int *ids = malloc(cap * sizeof *ids), n = 0;
    ASSERT(ids);
    ASSERT_OK(halo_tokenizer_encode(t, text, 1, 0, ids, (int)cap, &n, NULL));
    ASSERT(n > (int)reps && n < (int)(ul * reps));
    size_t dec = 0;
    for (int i = 1; i < n; i++) {
        size_t nb;
        (void)halo_tokenizer_decode(t, ids[i - 1], ids[i], &nb);
        dec += nb;
    }
    ASSERT_EQ(dec, ul * reps); /* the dummy prefix's space is dropped after BOS */
    free(ids);
    free(text);
    halo_tokenizer_free(t);
}

TEST_MAIN(TEST(encode_matches_llama2c), TEST(eos_is_appended_and_bos_optional),
          TEST(small_buffer_is_an_error), TEST(decode_round_trips_text_and_bytes),
          TEST(vocabulary_mismatch_is_named), TEST(malformed_entries_are_rejected),
          TEST(small_vocabularies_encode_inside_the_vocabulary),
          TEST(small_vocabulary_model_runs_a_prompt), TEST(merge_matches_the_reference_rescan),
          TEST(long_text_encodes))
