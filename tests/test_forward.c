/*
 * The forward pass: results independent of the thread count, grouped-query attention and
 * separate classifiers, no allocation while decoding, and the exponentials of its softmax
 * and SwiGLU equal to the C library's expf bit for bit.
 */
#include "core/forward.h"
#include "core/ops.h"
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

/* Compares halo_expf_sub on `n` floats from bit pattern `first` on, `stride` apart (wrapping
   around the 32-bit patterns), with expf, in slices of varied length and offset. */
static void check_expf_range(uint32_t first, uint32_t stride, uint32_t n, float sub) {
    enum {
        SLICE = 1031
    };

    float in[SLICE], got[SLICE];
    uint32_t bits = first;
    for (uint32_t done = 0; done < n;) {
        uint32_t len = SLICE - (done / SLICE) % 7; /* every remainder mod 4 */
        if (len > n - done)
            len = n - done;
        for (uint32_t i = 0; i < len; i++, bits += stride)
            memcpy(&in[i], &bits, sizeof bits);
        memcpy(got, in, len * sizeof(float));
        halo_expf_sub(got, (int)len, sub);
        for (uint32_t i = 0; i < len; i++) {
            float want = expf(in[i] - sub);
            if (memcmp(&want, &got[i], sizeof want) != 0 && !(isnan(want) && isnan(got[i])))
                TEST_FAIL_AT("expf(%a - %a): libm %a, halo_expf_sub %a", (double)in[i], (double)sub,
                             (double)want, (double)got[i]);
        }
        done += len;
    }
}

static void expf_sub_equals_libm_expf(void) {
    /* HALO_TEST_EXHAUSTIVE=1: every float (about a minute); otherwise a sample. */
    const char *all = getenv("HALO_TEST_EXHAUSTIVE");
    if (all && all[0] == '1') {
        check_expf_range(0, 1, 0xffffffffu, 0.0f);
        return;
    }
    check_expf_range(0, 1021, 0xffffffffu / 1021, 0.0f);           /* every sign and exponent */
    check_expf_range(0x80000000u, 61, 0x42d00000u / 61, 0.0f);     /* softmax: (-104, 0] */
    check_expf_range(0x42a00000u, 1, 0x200000u, 0.0f);             /* 80..96: the special cases */
    check_expf_range(0xc2b00000u, 1, 0x200000u, 0.0f);             /* -88..-112: underflow */
    check_expf_range(0x80000000u, 4099, 0x42d00000u / 4099, 3.5f); /* with a subtrahend */
    float sp[] = {INFINITY, -INFINITY, NAN, -NAN, 0.0f, -0.0f, 88.72283f, -103.97208f, 1e-45f};
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) {
        uint32_t b;
        memcpy(&b, &sp[i], sizeof b);
        check_expf_range(b, 1, 1, 0.0f);
    }
}

static void softmax_and_swiglu_equal_the_plain_loops(void) {
    enum {
        N = 203
    };

    float x[N] = {0}, ref[N] = {0}, hb2[N] = {0};
    uint64_t st = 7;
    for (int round = 0; round < 200; round++) {
        int n = 1 + round % N;
        float spread = (round % 5 == 4) ? 200.0f : 8.0f; /* some past the special-case bound */
        for (int i = 0; i < n; i++) {
            st = st * 6364136223846793005u + 1442695040888963407u;
            x[i] = spread * ((float)(st >> 40) / (float)(1u << 24) - 0.5f);
            hb2[i] = (float)(st >> 20 & 0xfff) / 1024.0f - 2.0f;
        }
        memcpy(ref, x, sizeof x);
        float max = ref[0], sum = 0.0f;
        for (int i = 1; i < n; i++)
            if (ref[i] > max)
                max = ref[i];
        for (int i = 0; i < n; i++)
            sum += ref[i] = expf(ref[i] - max);
        for (int i = 0; i < n; i++)
            ref[i] /= sum;
        float got[N] = {0};
        memcpy(got, x, sizeof x);
        halo_softmax(got, n);
        ASSERT(memcmp(got, ref, (size_t)n * sizeof(float)) == 0);
        for (int i = 0; i < n; i++) {
            float v = x[i];
            v *= 1.0f / (1.0f + expf(-v));
            ref[i] = v * hb2[i];
        }
        memcpy(got, x, sizeof x);
        halo_swiglu(got, hb2, n);
        ASSERT(memcmp(got, ref, (size_t)n * sizeof(float)) == 0);
    }
}

static void attend2_equals_two_attend_calls(void) {
    enum {
        POS = 70,
        STRIDE = 2 * 64 + 3
    };

    static float k[POS * STRIDE], v[POS * STRIDE], att[2 * POS], ref_att[POS];
    float q[128], out[128], ref[128];
    uint64_t st = 11;
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        st = st * 6364136223846793005u + 1442695040888963407u;
        k[i] = 4.0f * ((float)(st >> 40) / (float)(1u << 24) - 0.5f);
        v[i] = (float)(st >> 16 & 0xffff) / 32768.0f - 1.0f;
    }
    int sizes[] = {8, 16, 64};
    /* scores a few units apart, and far enough apart for expf's special cases */
    float q_scales[] = {1.7f, 60.0f};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        for (size_t qi = 0; qi < 2; qi++) {
            int hs = sizes[si];
            for (int i = 0; i < 2 * hs; i++)
                q[i] = k[(size_t)(7 * i + 3)] * q_scales[qi];
            for (int pos = 0; pos < POS; pos++) {
                halo_attend2(out, att, POS, q, k + 1, v + 2, STRIDE, pos, hs);
                for (int h = 0; h < 2; h++) {
                    halo_attend(ref + h * hs, ref_att, q + h * hs, k + 1, v + 2, STRIDE, NULL, pos,
                                hs);
                    ASSERT(memcmp(att + h * POS, ref_att, (size_t)(pos + 1) * sizeof(float)) == 0);
                }
                ASSERT(memcmp(out, ref, (size_t)(2 * hs) * sizeof(float)) == 0);
            }
        }
    }
}

TEST_MAIN(TEST(logits_do_not_depend_on_thread_count),
          TEST(wide_gqa_model_with_separate_classifier_is_thread_invariant),
          TEST(decoding_does_not_allocate), TEST(allocation_counter_sees_allocations),
          TEST(expf_sub_equals_libm_expf), TEST(softmax_and_swiglu_equal_the_plain_loops),
          TEST(attend2_equals_two_attend_calls))
