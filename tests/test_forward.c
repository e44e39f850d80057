/*
 * The forward pass: results independent of the thread count, grouped-query attention and
 * separate classifiers, and no allocation while decoding.
 */
#include "core/forward.h"
#include "core/sampler.h"
#include "tests/test.h"
#include "tests/testalloc.h"
#include "tests/testutil.h"

/* Greedy-decodes `steps` tokens and copies every position's logits into `all`. */
static void decode(const halo_model *m, int threads, int steps, float *all) {
    halo_pool *pool = NULL;
    halo_state *s = NULL;
    ASSERT_OK(halo_pool_new(&pool, threads, NULL));
    ASSERT_OK(halo_state_new(&s, m, pool, NULL));
    int vocab = halo_model_get_config(m)->vocab_size;
    int token = 1;
    for (int pos = 0; pos < steps; pos++) {
        float *logits = halo_forward(s, token, pos);
        memcpy(all + (size_t)pos * (size_t)vocab, logits, (size_t)vocab * sizeof(float));
        token = halo_argmax(logits, vocab);
    }
    halo_state_free(s);
    halo_pool_free(pool);
}

static void check_thread_invariance(const halo_model *m, int steps) {
    int vocab = halo_model_get_config(m)->vocab_size;
    size_t n = (size_t)steps * (size_t)vocab;
    float *ref = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    decode(m, 1, steps, ref);
    for (int threads = 2; threads <= 4; threads++) {
        decode(m, threads, steps, got);
        ASSERT(memcmp(ref, got, n * sizeof(float)) == 0);
    }
    free(ref);
    free(got);
}

static void logits_do_not_depend_on_thread_count(void) {
    halo_model *m = tu_bundled_model();
    check_thread_invariance(m, 300); /* past the length where attention goes parallel */
    halo_model_free(m);
}

static void wide_gqa_model_with_separate_classifier_is_thread_invariant(void) {
    /* Large enough for the FFN and classifier products to be split across threads. */
    halo_model_config cfg = tu_model_shape("k-blocks");
    halo_model *m = tu_random_model("wide.bin", &cfg, 5, NULL);
    check_thread_invariance(m, 32);
    float logits[512];
    decode(m, 1, 1, logits);
    for (int i = 0; i < 512; i++)
        ASSERT(isfinite(logits[i]));
    halo_model_free(m);
}

static void decoding_does_not_allocate(void) {
    halo_model *m = tu_bundled_model();
    halo_pool *pool = NULL;
    halo_state *s = NULL;
    ASSERT_OK(halo_pool_new(&pool, 2, NULL));
    ASSERT_OK(halo_state_new(&s, m, pool, NULL));
    ASSERT(halo_state_bytes(s) > 0);
    long before = ta_allocs();
    int token = 1;
    for (int pos = 0; pos < 512; pos++)
        token = halo_argmax(halo_forward(s, token, pos), 512);
    ASSERT_EQ(ta_allocs(), before);
    halo_state_free(s);
    halo_pool_free(pool);
    halo_model_free(m);
}

static void allocation_counter_sees_allocations(void) {
    long before = ta_allocs();
    halo_state *s = NULL;
    halo_model *m = tu_bundled_model();
    ASSERT_OK(halo_state_new(&s, m, NULL, NULL));
    ASSERT(ta_allocs() > before); /* the wrapper works, so the test above can fail */
    halo_state_free(s);
    halo_model_free(m);
}

TEST_MAIN(TEST(logits_do_not_depend_on_thread_count),
          TEST(wide_gqa_model_with_separate_classifier_is_thread_invariant),
          TEST(decoding_does_not_allocate), TEST(allocation_counter_sees_allocations))
