/* Sampling, random streams and the thread pool. */
#include "core/pool.h"
#include "core/rng.h"
#include "core/sampler.h"
#include "tests/test.h"

#include <math.h>
#include <stdatomic.h>

/* One sample that must succeed. */
static int sample(halo_sampler *s, float *logits) {
    int next = -2;
    ASSERT_OK(halo_sampler_sample(s, logits, &next, NULL));
    return next;
}

static void greedy_takes_first_maximum(void) {
    halo_sampler *s = NULL;
    ASSERT_OK(halo_sampler_new(&s, 5, 0.0f, 1.0f, 1, NULL));
    float logits[5] = {0.1f, 3.0f, -1.0f, 3.0f, 2.0f};
    ASSERT_EQ(sample(s, logits), 1);
    halo_sampler_free(s);
}

static void same_seed_same_tokens_other_seed_differs(void) {
    int a[200] = {0}, b[200] = {0}, c[200] = {0};
    int *outs[3] = {a, b, c};
    uint64_t seeds[3] = {7, 7, 8};
    for (int k = 0; k < 3; k++) {
        halo_sampler *s = NULL;
        ASSERT_OK(halo_sampler_new(&s, 16, 1.0f, 1.0f, seeds[k], NULL));
        for (int i = 0; i < 200; i++) {
            float logits[16];
            for (int v = 0; v < 16; v++)
                logits[v] = 0.0f;
            outs[k][i] = sample(s, logits);
        }
        halo_sampler_free(s);
    }
    ASSERT(memcmp(a, b, sizeof a) == 0);
    ASSERT(memcmp(a, c, sizeof a) != 0);
}

static void top_p_samples_only_from_nucleus(void) {
    halo_sampler *s = NULL;
    ASSERT_OK(halo_sampler_new(&s, 4, 1.0f, 0.5f, 3, NULL));
    int counts[4] = {0};
    for (int i = 0; i < 2000; i++) {
        /* probabilities 0.6, 0.3, 0.05, 0.05: the 0.5 nucleus is token 0 alone */
        float logits[4] = {logf(0.6f), logf(0.3f), logf(0.05f), logf(0.05f)};
        counts[sample(s, logits)]++;
    }
    ASSERT_EQ(counts[0], 2000);
    halo_sampler_free(s);
    ASSERT_OK(halo_sampler_new(&s, 4, 1.0f, 0.85f, 3, NULL));
    memset(counts, 0, sizeof counts);
    for (int i = 0; i < 4000; i++) {
        float logits[4] = {logf(0.6f), logf(0.3f), logf(0.05f), logf(0.05f)};
        counts[sample(s, logits)]++;
    }
    /* nucleus {0, 1}: token 0 with probability 2/3 */
    ASSERT_EQ(counts[2] + counts[3], 0);
    ASSERT_NEAR(counts[0] / 4000.0, 2.0 / 3.0, 0.04);
    halo_sampler_free(s);
}

static void temperature_sampling_follows_probabilities(void) {
    halo_sampler *s = NULL;
    ASSERT_OK(halo_sampler_new(&s, 3, 1.0f, 1.0f, 11, NULL));
    int counts[3] = {0};
    for (int i = 0; i < 20000; i++) {
        float logits[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
        counts[sample(s, logits)]++;
    }
    ASSERT_NEAR(counts[0] / 20000.0, 0.5, 0.02);
    ASSERT_NEAR(counts[1] / 20000.0, 0.3, 0.02);
    ASSERT_NEAR(counts[2] / 20000.0, 0.2, 0.02);
    halo_sampler_free(s);
}

static void bad_sampler_settings_are_rejected(void) {
    halo_sampler *s = (halo_sampler *)1;
    halo_err err = {0};
    ASSERT_EQ(halo_sampler_new(&s, 4, -1.0f, 0.9f, 1, &err), HALO_ERR_ARG);
    ASSERT(s == NULL);
    ASSERT_STR_CONTAINS(err.msg, "temperature");
    ASSERT_EQ(halo_sampler_new(&s, 4, NAN, 0.9f, 1, &err), HALO_ERR_ARG);
    ASSERT_EQ(halo_sampler_new(&s, 4, 1.0f, 0.0f, 1, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "top-p");
    ASSERT_EQ(halo_sampler_new(&s, 4, 1.0f, 1.5f, 1, &err), HALO_ERR_ARG);
    ASSERT_EQ(halo_sampler_new(&s, 0, 1.0f, 0.9f, 1, &err), HALO_ERR_ARG);
}

static void tiny_temperature_samples_like_greedy(void) {
    /* logit / 1e-40 overflows: the softmax would see inf - inf = NaN everywhere. */
    const float temps[] = {1e-40f, 1e-45f, 1e-30f};
    const float top_ps[] = {1.0f, 0.9f, 0.5f};
    for (int t = 0; t < 3; t++) {
        for (int p = 0; p < 3; p++) {
            halo_sampler *s = NULL;
            ASSERT_OK(halo_sampler_new(&s, 6, temps[t], top_ps[p], 5, NULL));
            for (int i = 0; i < 50; i++) {
                float logits[6] = {-3.0e38f, 1.5f, -2.0f, 7.25f, 7.0f, 3.0e38f * (i % 2)};
                ASSERT_EQ(sample(s, logits), i % 2 ? 5 : 3);
            }
            halo_sampler_free(s);
        }
    }
}

static void tiny_top_p_keeps_the_most_likely_token(void) {
    /* Equal logits: every probability 1/n is below the cut-off (1 - top_p) / (n - 1) when
       top_p < 1/n, so no candidate used to pass and cands[-1] was read. */
    halo_sampler *s = NULL;
    ASSERT_OK(halo_sampler_new(&s, 512, 1.0f, 1e-6f, 9, NULL));
    for (int i = 0; i < 20; i++) {
        float logits[512] = {0};
        ASSERT_EQ(sample(s, logits), 0);
    }
    halo_sampler_free(s);
}

static void non_finite_logits_are_an_error(void) {
    const float temps[] = {0.0f, 1.0f, 1e-40f};
    const float top_ps[] = {1.0f, 0.9f};
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (int t = 0; t < 3; t++) {
        for (int p = 0; p < 2; p++) {
            for (int b = 0; b < 3; b++) {
                halo_sampler *s = NULL;
                ASSERT_OK(halo_sampler_new(&s, 4, temps[t], top_ps[p], 1, NULL));
                float logits[4] = {0.5f, 1.0f, 0.25f, bad[b]};
                halo_err err = {0};
                int next = 7;
                ASSERT_EQ(halo_sampler_sample(s, logits, &next, &err), HALO_ERR_FORMAT);
                ASSERT_EQ(next, -1);
                ASSERT_STR_CONTAINS(err.msg, "token 3");
                ASSERT_STR_CONTAINS(err.msg, b == 0 ? "NaN" : "infinite");
                halo_sampler_free(s);
            }
        }
    }
}

static void rng_streams_are_reproducible_and_distinct(void) {
    halo_rng a, b, c;
    halo_rng_init_stream(&a, 1, 0, 3, 9);
    halo_rng_init_stream(&b, 1, 0, 3, 9);
    halo_rng_init_stream(&c, 1, 1, 3, 9);
    int same_c = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = halo_rng_u64(&a);
        ASSERT(x == halo_rng_u64(&b));
        same_c += x == halo_rng_u64(&c);
    }
    ASSERT_EQ(same_c, 0);
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        double u = halo_rng_f64(&a);
        ASSERT(u >= 0.0 && u < 1.0);
        sum += u;
    }
    ASSERT_NEAR(sum / 100000, 0.5, 0.01);
}

typedef struct count_job {
    atomic_int hits[1000];
} count_job;

static void count_task(void *arg, int i) {
    count_job *j = arg;
    atomic_fetch_add(&j->hits[i], 1);
}

static void pool_runs_every_task_once(void) {
    for (int threads = 1; threads <= 5; threads++) {
        halo_pool *p = NULL;
        ASSERT_OK(halo_pool_new(&p, threads, NULL));
        ASSERT_EQ(halo_pool_n_threads(p), threads);
        static count_job j;
        for (int round = 0; round < 200; round++) {
            int n = (round * 37) % 1000 + 1;
            for (int i = 0; i < 1000; i++)
                atomic_store(&j.hits[i], 0);
            halo_pool_run(p, count_task, &j, n);
            for (int i = 0; i < 1000; i++)
                ASSERT_EQ(atomic_load(&j.hits[i]), i < n ? 1 : 0);
        }
        halo_pool_free(p);
    }
    halo_pool *p = NULL;
    ASSERT_EQ(halo_pool_new(&p, -1, NULL), HALO_ERR_ARG);
    ASSERT_OK(halo_pool_new(&p, 0, NULL));
    ASSERT(halo_pool_n_threads(p) >= 1);
    halo_pool_free(p);
    halo_pool_free(NULL);
}

TEST_MAIN(TEST(greedy_takes_first_maximum), TEST(same_seed_same_tokens_other_seed_differs),
          TEST(top_p_samples_only_from_nucleus), TEST(temperature_sampling_follows_probabilities),
          TEST(bad_sampler_settings_are_rejected), TEST(tiny_temperature_samples_like_greedy),
          TEST(tiny_top_p_keeps_the_most_likely_token), TEST(non_finite_logits_are_an_error),
          TEST(rng_streams_are_reproducible_and_distinct), TEST(pool_runs_every_task_once))
