/*
 * Golden outputs of the bundled model.
 *
 * tests/golden/stories260K_greedy200.ids holds the 200 token ids that llama2.c's run.c
 * (commit 350e04f, gcc -O2) printed for `run stories260K.bin -z tok512.bin -t 0 -n 200`;
 * see tests/golden/README.md. The mean NLL pin is halo's own measurement on data/,
 * checked against the published validation loss in docs/foundation.md.
 */
#include "core/eval.h"
#include "core/forward.h"
#include "core/sampler.h"
#include "tests/test.h"
#include "tests/testutil.h"

typedef struct session {
    halo_model *m;
    halo_tokenizer *t;
    halo_pool *pool;
    halo_state *s;
} session;

static void open_session(session *x, int threads) {
    halo_err err = {0};
    memset(x, 0, sizeof *x);
    ASSERT_OK(halo_model_load(&x->m, tu_src_path("models/stories260K.bin"), &err));
    ASSERT_OK(halo_tokenizer_load(&x->t, tu_src_path("models/tok512.bin"), 512, &err));
    ASSERT_OK(halo_pool_new(&x->pool, threads, &err));
    ASSERT_OK(halo_state_new(&x->s, x->m, x->pool, &err));
}

static void close_session(session *x) {
    halo_state_free(x->s);
    halo_pool_free(x->pool);
    halo_tokenizer_free(x->t);
    halo_model_free(x->m);
}

static void greedy_200_matches_llama2c(void) {
    size_t n;
    char *text = (char *)tu_read_file(tu_src_path("tests/golden/stories260K_greedy200.ids"), &n);
    int expected[200], n_expected = 0;
    for (char *p = strtok(text, "\n"); p && n_expected < 200; p = strtok(NULL, "\n"))
        expected[n_expected++] = atoi(p);
    free(text);
    ASSERT_EQ(n_expected, 200);
    for (int threads = 1; threads <= tu_max_threads(2); threads++) {
        session x;
        open_session(&x, threads);
        int token = HALO_TOKEN_BOS;
        for (int pos = 0; pos < 200; pos++) {
            token = halo_argmax(halo_forward(x.s, token, pos), 512);
            if (token != expected[pos])
                TEST_FAIL_AT("threads %d, step %d: token %d, llama2.c gave %d", threads, pos, token,
                             expected[pos]);
        }
        close_session(&x);
    }
}

static int forward_cb(void *ctx, int token, int pos, const float **logits, halo_err *err) {
    (void)err;
    *logits = halo_forward(ctx, token, pos);
    return HALO_OK;
}

/* Every story of a text, scored by the session's model (context 512, vocabulary 512). */
static halo_eval_config eval_config(const session *x) {
    return (halo_eval_config){.tok = x->t,
                              .seq_len = 512,
                              .vocab_size = 512,
                              .max_stories = -1,
                              .forward = forward_cb,
                              .forward_ctx = x->s};
}

/* The mean NLL of the dev excerpt's first `max_stories` stories (-1: all), pinned to halo's own
   measurement with the story, token and truncation counts that go with it. */
static void check_eval_pin(int max_stories, long stories, long tokens, long truncated, double nll) {
    session x;
    open_session(&x, tu_max_threads(0));
    size_t n;
    char *text = (char *)tu_read_file(tu_src_path("data/tinystories-valid-dev.txt"), &n);
    halo_eval_config cfg = eval_config(&x);
    cfg.max_stories = max_stories;
    halo_eval_result r;
    ASSERT_OK(halo_eval_text(&cfg, text, &r, NULL));
    ASSERT_EQ(r.stories, stories);
    ASSERT_EQ(r.tokens, tokens);
    ASSERT_EQ(r.truncated, truncated);
    ASSERT_NEAR(halo_eval_mean_nll(&r), nll, 1e-4);
    free(text);
    close_session(&x);
}

/* The first 24 stories (one of them truncated): on every build, the emulated one too. */
static void eval_nll_on_first_stories_is_pinned(void) {
    check_eval_pin(24, 24, 7733, 1, 1.207704);
}

/* The whole excerpt, pinned to halo's measurement (1.216831; the published loss is 1.2968,
   see docs). Under an emulator (the aarch64 build under qemu-user) it would take minutes
   there, about 70 times the native time: the first stories' pin above stands for it. */
static void eval_nll_on_dev_excerpt_is_pinned(void) {
    if (tu_emulated()) {
        (void)printf("# skipped under an emulator: the whole excerpt\n");
        return;
    }
    check_eval_pin(-1, 177, 58604, 3, 1.216831);
}

static void eval_splits_stories_and_skips_blank_ones(void) {
    session x;
    open_session(&x, 1);
    const char *text = "\n  \n<|endoftext|>\nOnce upon a time\n<|endoftext|>\r\n"
                       "a b\n\n<|endoftext|>\n  \n<|endoftext|>\nlast story without end";
    static const char *const want[] = {"Once upon a time", "a b", "last story without end"};
    const char *at = text, *story;
    size_t len;
    for (int i = 0; i < 3; i++) {
        ASSERT(halo_eval_next_story(&at, &story, &len));
        ASSERT_EQ(len, strlen(want[i]));
        ASSERT(memcmp(story, want[i], len) == 0);
    }
    ASSERT(!halo_eval_next_story(&at, &story, &len));
    ASSERT(!halo_eval_next_story(&at, &story, &len)); /* and stays done */
    halo_eval_config cfg = eval_config(&x);
    halo_eval_result r;
    ASSERT_OK(halo_eval_text(&cfg, text, &r, NULL));
    ASSERT_EQ(r.stories, 3);
    /* "Once upon a time" is BOS + 4 tokens: 4 scored; the rest are scored likewise. */
    int ids[64], k1, k2, k3;
    ASSERT_OK(halo_tokenizer_encode(x.t, "Once upon a time", 1, 0, ids, 64, &k1, NULL));
    ASSERT_OK(halo_tokenizer_encode(x.t, "a b", 1, 0, ids, 64, &k2, NULL));
    ASSERT_OK(halo_tokenizer_encode(x.t, "last story without end", 1, 0, ids, 64, &k3, NULL));
    ASSERT_EQ(r.tokens, (k1 - 1) + (k2 - 1) + (k3 - 1));
    cfg.max_stories = 1;
    ASSERT_OK(halo_eval_text(&cfg, text, &r, NULL));
    ASSERT_EQ(r.stories, 1);
    ASSERT_EQ(r.tokens, k1 - 1);
    ASSERT_OK(halo_eval_text(&cfg, "<|endoftext|>\n", &r, NULL));
    ASSERT_EQ(r.tokens, 0);
    ASSERT(isnan(halo_eval_mean_nll(&r)));
    cfg.seq_len = 3; /* truncation: 3 positions, 2 scored tokens */
    cfg.max_stories = -1;
    ASSERT_OK(halo_eval_text(&cfg, "Once upon a time", &r, NULL));
    ASSERT_EQ(r.truncated, 1);
    ASSERT_EQ(r.tokens, 2);
    close_session(&x);
}

TEST_MAIN(TEST(greedy_200_matches_llama2c), TEST(eval_nll_on_first_stories_is_pinned),
          TEST(eval_nll_on_dev_excerpt_is_pinned), TEST(eval_splits_stories_and_skips_blank_ones))
