/*
 * The runtime scheduler of socket clusters (net/replan.h) and its probe message
 * (net/probe.h), on a shape-only model of the bundled model's shape: the plan follows the
 * measured speeds, a link that turns lossy loses its attention groups at the next boundary
 * the rate allows, unchanged measurements re-plan nothing, small drifts stay inside the band.
 */
#include "core/model.h"
#include "core/plan.h"
#include "core/sched.h"
#include "net/probe.h"
#include "net/replan.h"
#include "test.h"

static halo_model *model;
static halo_groups groups;

/* The bundled model's shape (weights are not needed), once per test. */
static void setup(void) {
    if (!model) {
        halo_model_config c = {.dim = 64,
                               .hidden_dim = 172,
                               .n_layers = 5,
                               .n_heads = 8,
                               .n_kv_heads = 4,
                               .vocab_size = 512,
                               .seq_len = 512};
        ASSERT_OK(halo_model_new_shape(&model, &c, HALO_WEIGHT_F32, NULL));
        ASSERT_OK(halo_groups_init(&groups, &c, 32, NULL));
    }
}

static void teardown(void) {
    halo_model_free(model);
    model = NULL;
}

static halo_replan *make(int every_tokens, double speed_slow) {
    setup();
    halo_replan *rp = NULL;
    halo_replan_config rc = {
        .model = model, .groups = &groups, .n_devices = 4, .every_tokens = every_tokens};
    ASSERT_OK(halo_replan_new(&rp, &rc, NULL));
    for (int d = 0; d < 4; d++)
        halo_replan_set_device(rp, d, 1, d == 2 ? speed_slow : 1e7);
    halo_replan_set_penalty(rp, 1000000);
    ASSERT_OK(halo_replan_plan(rp, 0, NULL, NULL));
    return rp;
}

static int share(const halo_replan *rp, int d) {
    return halo_replan_count(rp, HALO_SCHED_ATTN, d) + halo_replan_count(rp, HALO_SCHED_FFN, d);
}

static void slow_device_gets_a_smaller_share(void) {
    halo_replan *rp = make(16, 2.5e6);
    ASSERT(share(rp, 2) < share(rp, 1));
    ASSERT(share(rp, 2) < share(rp, 3));
    int a = 0, f = 0;
    for (int d = 0; d < 4; d++) {
        a += halo_replan_count(rp, HALO_SCHED_ATTN, d);
        f += halo_replan_count(rp, HALO_SCHED_FFN, d);
    }
    ASSERT_EQ(a, groups.n_attn);
    ASSERT_EQ(f, groups.n_ffn);
    ASSERT_EQ(halo_replan_count_events(rp), 0); /* the first plan is no re-plan */
    halo_placement p;
    ASSERT_OK(halo_replan_placement(rp, &p, NULL));
    int n2 = 0;
    for (int i = 0; i < groups.n_layers * groups.n_attn; i++)
        n2 += p.attn[i] == 2;
    ASSERT_EQ(n2, groups.n_layers * halo_replan_count(rp, HALO_SCHED_ATTN, 2));
    halo_placement_free(&p);
    halo_replan_free(rp);
    teardown();
}

static void lossy_link_loses_its_attention_groups_at_the_next_allowed_boundary(void) {
    halo_replan *rp = make(16, 1e7);
    ASSERT(halo_replan_count(rp, HALO_SCHED_ATTN, 2) > 0);
    halo_replan_set_loss(rp, 2, 0.05);
    int changed = 1;
    ASSERT_OK(halo_replan_check(rp, 8, &changed, NULL)); /* too soon: one per 16 tokens */
    ASSERT_EQ(changed, 0);
    ASSERT_OK(halo_replan_check(rp, 16, &changed, NULL));
    ASSERT_EQ(changed, 1);
    ASSERT_EQ(halo_replan_count(rp, HALO_SCHED_ATTN, 2), 0);
    ASSERT_EQ(halo_replan_count_events(rp), 1);
    const halo_replan_event *e = halo_replan_event_at(rp, 0);
    ASSERT(e && e->token == 16 && e->attn_moved);
    ASSERT(strstr(e->reason, "device 2's link turned lossy") != NULL);
    ASSERT(strcmp(e->old_split, e->new_split) != 0);
    /* still lossy: nothing more; below half the threshold: clean, the groups come back */
    ASSERT_OK(halo_replan_check(rp, 32, &changed, NULL));
    ASSERT_EQ(changed, 0);
    halo_replan_set_loss(rp, 2, 0.008); /* inside the hysteresis band (0.005 .. 0.01) */
    ASSERT_OK(halo_replan_check(rp, 48, &changed, NULL));
    ASSERT_EQ(changed, 0);
    halo_replan_set_loss(rp, 2, 0.0);
    ASSERT_OK(halo_replan_check(rp, 64, &changed, NULL));
    ASSERT_EQ(changed, 1);
    ASSERT(halo_replan_count(rp, HALO_SCHED_ATTN, 2) > 0);
    ASSERT(strstr(halo_replan_event_at(rp, 1)->reason, "is clean") != NULL);
    halo_replan_free(rp);
    teardown();
}

static void steady_measurements_never_replan(void) {
    halo_replan *rp = make(4, 1e7);
    halo_node_link l = {.srtt_ns = {200000, 300000}, .rttvar_ns = {10000, 10000}};
    int changed = 0;
    for (int t = 1; t <= 400; t++) {
        /* jitter of +-10% on the delays, well inside the band */
        l.srtt_ns[0] = 200000 + (uint64_t)((t * 7919) % 40000) - 20000;
        for (int d = 1; d < 4; d++)
            halo_replan_observe(rp, d, &l);
        ASSERT_OK(halo_replan_check(rp, t, &changed, NULL));
        ASSERT_EQ(changed, 0);
    }
    ASSERT_EQ(halo_replan_count_events(rp), 0);
    halo_replan_free(rp);
    teardown();
}

static void probe_survives_its_encoding(void) {
    halo_net_probe p = {.node_idx = 3,
                        .session = 0x1122334455667788ull,
                        .flops_per_s = 2.5e9,
                        .probe_ns = 5000000,
                        .flops = 12500000};
    unsigned char buf[HALO_NET_PROBE_BYTES];
    halo_net_probe_encode(&p, buf);
    halo_net_probe d;
    ASSERT(halo_net_probe_decode(&d, buf, sizeof buf));
    ASSERT_EQ(d.node_idx, 3);
    ASSERT_EQ(d.session, p.session);
    ASSERT_NEAR(d.flops_per_s, 2.5e9, 1.0);
    ASSERT_EQ(d.probe_ns, p.probe_ns);
    ASSERT_EQ(d.flops, p.flops);
    ASSERT(!halo_net_probe_decode(&d, buf, sizeof buf - 1));
    buf[0] = 'J';
    ASSERT(!halo_net_probe_decode(&d, buf, sizeof buf));
    /* a shape-only model has nothing to time */
    setup();
    halo_net_probe q = {0};
    ASSERT_OK(halo_net_probe_run(model, NULL, 4, 1000000, &q, NULL));
    ASSERT_EQ(q.flops, 0);
    teardown();
}

TEST_MAIN(TEST(slow_device_gets_a_smaller_share),
          TEST(lossy_link_loses_its_attention_groups_at_the_next_allowed_boundary),
          TEST(steady_measurements_never_replan), TEST(probe_survives_its_encoding))
