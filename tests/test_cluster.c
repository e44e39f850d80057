/*
 * The distributed engine over the loop transport: N-device clusters against the single
 * device, relaxed sync under injected drops, stale and duplicate messages, and the
 * allocation-free token path.
 */
#include "core/cluster.h"
#include "core/forward.h"
#include "core/loader.h"
#include "core/sampler.h"
#include "core/transport_loop.h"
#include "tests/test.h"
#include "tests/testalloc.h"
#include "tests/testutil.h"

enum {
    STEPS = 200,
    VOCAB = 512
};

/* The single device's greedy decode of the bundled model from token 1. */
typedef struct reference {
    int ids[STEPS];
    float logits[STEPS * VOCAB];
} reference;

/* The reference of `m`, the bundled model (decoded at the first call only). */
static const reference *single_device(const halo_model *m) {
    static reference ref;
    static int done;
    if (!done) {
        halo_state *s = NULL;
        ASSERT_OK(halo_state_new(&s, m, NULL, NULL));
        (void)tu_greedy(s, VOCAB, 1, STEPS, ref.ids, ref.logits);
        halo_state_free(s);
        done = 1;
    }
    return &ref;
}

typedef struct run_opts {
    int n_devices;
    const char *placement;
    int encoding;
    int policy;
    uint64_t deadline_ns;
    const double *drop_rate;
    halo_loop_drop_fn drop_fn;
    void *drop_ctx;
    halo_loader *const *loaders; /* (n_devices) or NULL */
    int collective;              /* enum halo_collective */
    int split_classifier;
    int pack_windows;
    float *logits; /* (STEPS * VOCAB) or NULL: every step's logits, kept */
} run_opts;

typedef struct run_result {
    int rc;
    int ids[STEPS];
    double max_rel_err; /* max over tokens of max|l - ref| / max|ref| */
    uint64_t missing, expected, dropped, stale, duplicate, retries, cls_local;
    uint64_t sent[8], encoded[8]; /* per device (the first 8): messages sent, wire-encoded */
    long packed[8];               /* per device (the first 8): weight windows copied */
    halo_err err;
} run_result;

static void run_cluster(const halo_model *m, const run_opts *o, const float *ref_logits,
                        run_result *r) {
    memset(r, 0, sizeof *r);
    halo_transport *t = NULL;
    halo_loop_config lc = {.n_nodes = o->n_devices,
                           .drop_rate = o->drop_rate,
                           .seed = 42,
                           .drop_fn = o->drop_fn,
                           .drop_ctx = o->drop_ctx};
    ASSERT_OK(halo_loop_new(&t, &lc, NULL));
    halo_cluster *c = NULL;
    halo_cluster_config cc = {.model = m,
                              .n_devices = o->n_devices,
                              .placement = o->placement,
                              .encoding = o->encoding,
                              .transport = t,
                              .loaders = o->loaders,
                              .collective = o->collective,
                              .split_classifier = o->split_classifier,
                              .pack_windows = o->pack_windows,
                              .sync = {.policy = o->policy, .deadline_ns = o->deadline_ns}};
    ASSERT_OK_ERR(halo_cluster_new(&c, &cc, &r->err), r->err);
    int token = 1;
    for (int pos = 0; pos < STEPS; pos++) {
        const float *l;
        r->rc = halo_cluster_forward(c, token, pos, &l, &r->err);
        if (r->rc != HALO_OK)
            break;
        if (o->logits)
            memcpy(o->logits + (size_t)pos * VOCAB, l, VOCAB * sizeof *l);
        if (ref_logits) {
            const float *ref = ref_logits + (size_t)pos * VOCAB;
            float ref_max = 0, diff_max = 0;
            for (int i = 0; i < VOCAB; i++) {
                ref_max = fmaxf(ref_max, fabsf(ref[i]));
                diff_max = fmaxf(diff_max, fabsf(l[i] - ref[i]));
            }
            double rel = (double)diff_max / (double)ref_max;
            if (rel > r->max_rel_err)
                r->max_rel_err = rel;
        }
        token = r->ids[pos] = halo_argmax(l, VOCAB);
    }
    const halo_node_stats *rs = halo_node_get_stats(halo_cluster_node(c, 0));
    r->missing = rs->missing;
    r->expected = rs->expected;
    r->stale = rs->stale;
    r->duplicate = rs->duplicate;
    r->retries = rs->retries;
    r->cls_local = rs->cls_local;
    for (int d = 0; d < o->n_devices; d++) {
        halo_loop_stats ls;
        halo_loop_get_stats(t, d, &ls);
        r->dropped += ls.msgs_dropped;
        const halo_node_stats *ns = halo_node_get_stats(halo_cluster_node(c, d));
        if (d < 8) {
            r->sent[d] = ns->msgs_sent;
            r->encoded[d] = ns->msgs_encoded;
            r->packed[d] = halo_node_packed(halo_cluster_node(c, d)).copies;
        }
        if (d > 0) {
            r->stale += ns->stale;
            r->duplicate += ns->duplicate;
            ASSERT_EQ(ns->malformed, 0);
        }
        ASSERT_EQ(ns->load_failed, 0);
    }
    halo_cluster_free(c);
    halo_transport_free(t);
}

/* Clusters of every size and placement of a list, with the collective `collective`, give
   the single device's tokens and logits (within 1e-5 relative; exactly on one device) with
   nothing missing, stale or duplicated. */
static void placements_match_the_single_device(halo_model *m, const reference *ref, int collective,
                                               int split_classifier) {
    struct {
        int n;
        const char *placement;
    } cases[] = {
        {1, "equal"},
        {2, "equal"},
        {3, "equal"},
        {4, "equal"},
        {5, "equal"}, /* more devices than the 4 KV heads */
        {8, "equal"},
        {3, "weights:1,2,5"}, /* uneven */
        {5, "weights:3,1,1,1,2"},
        {4, "explicit:3,3,1,0/2,0,2,1,3,3"}, /* scattered; root with few groups */
    };

    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        run_opts o = {.n_devices = cases[k].n,
                      .placement = cases[k].placement,
                      .policy = HALO_SYNC_POLICY_STRICT,
                      .collective = collective,
                      .split_classifier = split_classifier};
        static run_result r;
        run_cluster(m, &o, ref->logits, &r);
        if (r.rc != HALO_OK)
            TEST_FAIL_AT("n=%d %s: %s", cases[k].n, cases[k].placement, r.err.msg);
        for (int i = 0; i < STEPS; i++)
            if (r.ids[i] != ref->ids[i])
                TEST_FAIL_AT("n=%d %s: token %d differs", cases[k].n, cases[k].placement, i);
        if (r.max_rel_err > 1e-5)
            TEST_FAIL_AT("n=%d %s: logits differ by %g relative", cases[k].n, cases[k].placement,
                         r.max_rel_err);
        if (cases[k].n == 1)
            ASSERT(r.max_rel_err == 0.0); /* one device computes exactly halo_forward */
        ASSERT_EQ(r.missing, 0);
        ASSERT_EQ(r.stale + r.duplicate, 0);
        printf("# %s n=%d %-36s max relative logit error %.3g\n",
               collective == HALO_COLLECTIVE_MESH ? "mesh"
               : split_classifier                 ? "star, split classifier"
                                                  : "star",
               cases[k].n, cases[k].placement, r.max_rel_err);
    }
}

static void clusters_of_any_size_match_the_single_device(void) {
    halo_model *m = tu_bundled_model();
    placements_match_the_single_device(m, single_device(m), HALO_COLLECTIVE_STAR, 0);
    halo_model_free(m);
}

/* Drops the first copy of device 2's logits slice of steps 2..4 (issue 15's split
   classifier); ctx counts the drops. */
static int drop_some_logits(void *ctx, int src, int dst, const void *msg, size_t len) {
    int *n = ctx;
    halo_msg h;
    static uint16_t g[64];
    static float v[512];
    static uint32_t last = UINT32_MAX;
    if (src != 2 || dst != 0 || halo_wire_decode(msg, len, &h, g, 64, v, 512, NULL) != HALO_OK ||
        h.kind != HALO_MSG_LOGITS || h.step < 2 || h.step > 4 || h.step == last)
        return 0;
    last = h.step;
    ++*n;
    return 1;
}

/* Drops every copy of device 2's and 3's logits slices of step 3: the workers' answers never
   come, the root must compute those slices itself. */
static int drop_all_logits(void *ctx, int src, int dst, const void *msg, size_t len) {
    int *n = ctx;
    halo_msg h;
    static uint16_t g[64];
    static float v[512];
    if (src < 2 || dst != 0 || halo_wire_decode(msg, len, &h, g, 64, v, 512, NULL) != HALO_OK ||
        h.kind != HALO_MSG_LOGITS || h.step != 3)
        return 0;
    ++*n;
    return 1;
}

/*
 * Issue 15: the star with the classifier split over the devices (each computes
 * vocab / n rows, the root gathers the slices) gives the single device's logits for every
 * size and placement; under relaxed sync a lost slice is asked again and answered from the
 * worker's cache, and one still missing at the second deadline is computed by the root, so the
 * text stays the single device's.
 */
static void split_classifier_matches_the_single_device(void) {
    halo_model *m = tu_bundled_model();
    const reference *ref = single_device(m);
    placements_match_the_single_device(m, ref, HALO_COLLECTIVE_STAR, 1);
    int dropped = 0;
    run_opts o = {.n_devices = 4,
                  .policy = HALO_SYNC_POLICY_RELAXED,
                  .deadline_ns = 1000000000ull, /* nothing else is late on the loop */
                  .drop_fn = drop_some_logits,
                  .drop_ctx = &dropped,
                  .split_classifier = 1};
    static run_result r;
    run_cluster(m, &o, ref->logits, &r);
    ASSERT_OK_ERR(r.rc, r.err);
    ASSERT_EQ(dropped, 3);
    ASSERT_EQ(r.retries, 3); /* one repeated request per lost slice */
    ASSERT_EQ(r.missing, 0);
    ASSERT(memcmp(r.ids, ref->ids, sizeof r.ids) == 0);
    ASSERT_EQ(r.cls_local, 0);
    /* the answers of two workers never come: asked again at the first deadline, computed by
       the root at the second; the text is still the single device's */
    dropped = 0;
    o.drop_fn = drop_all_logits;
    run_cluster(m, &o, ref->logits, &r);
    ASSERT_OK_ERR(r.rc, r.err);
    ASSERT_EQ(dropped, 4); /* two slices, each asked twice */
    ASSERT_EQ(r.retries, 2);
    ASSERT_EQ(r.cls_local, 2);
    ASSERT_EQ(r.missing, 0);
    ASSERT(r.max_rel_err < 1e-5);
    ASSERT(memcmp(r.ids, ref->ids, sizeof r.ids) == 0);
    halo_model_free(m);
}

static void q8_payloads_keep_greedy_tokens_close(void) {
    halo_model *m = tu_bundled_model();
    const reference *ref = single_device(m);
    run_opts o = {.n_devices = 4, .encoding = HALO_ENCODING_Q8, .policy = HALO_SYNC_POLICY_STRICT};
    static run_result r;
    run_cluster(m, &o, ref->logits, &r);
    ASSERT_OK(r.rc);
    int same = 0;
    while (same < STEPS && r.ids[same] == ref->ids[same])
        same++;
    printf("# q8: first %d greedy tokens identical, max relative logit error %.3g\n", same,
           r.max_rel_err);
    ASSERT(same >= 10);        /* quantisation noise may flip a late near-tie, not the start */
    ASSERT(r.max_rel_err > 0); /* the 8-bit path really was taken */
    halo_model_free(m);
}

static void relaxed_sync_counts_every_injected_drop(void) {
    halo_model *m = tu_bundled_model();
    double rates[4] = {0, 0.1, 0, 0.05};
    run_opts o = {.n_devices = 4,
                  .policy = HALO_SYNC_POLICY_RELAXED,
                  .deadline_ns = 1000000,
                  .drop_rate = rates};
    static run_result a, b;
    run_cluster(m, &o, NULL, &a);
    ASSERT_OK(a.rc);
    ASSERT(a.dropped > 0);
    /* Each lost message (activation or partial) loses exactly one contribution. */
    ASSERT_EQ(a.missing, a.dropped);
    ASSERT_EQ(a.expected, (uint64_t)STEPS * 5 * 2 * 3);
    run_cluster(m, &o, NULL, &b); /* the same seed drops the same messages */
    ASSERT_EQ(b.dropped, a.dropped);
    ASSERT(memcmp(a.ids, b.ids, sizeof a.ids) == 0);
    printf("# drops at 10%%/5%% on two of four devices: %llu of %llu contributions missing\n",
           (unsigned long long)a.missing, (unsigned long long)a.expected);
    halo_model_free(m);
}

static void strict_sync_stalls_on_a_lost_contribution(void) {
    halo_model *m = tu_bundled_model();
    double rates[2] = {0, 0.2};
    run_opts o = {.n_devices = 2, .policy = HALO_SYNC_POLICY_STRICT, .drop_rate = rates};
    static run_result r;
    run_cluster(m, &o, NULL, &r);
    ASSERT_EQ(r.rc, HALO_ERR_AGAIN);
    ASSERT_STR_CONTAINS(r.err.msg, "stalled");
    halo_model_free(m);
}

/* Drops the attention activation of layer 0 to device 1 for steps 3..5 only. */
static int drop_some_activations(void *ctx, int src, int dst, const void *msg, size_t len) {
    (void)ctx;
    halo_msg h;
    static uint16_t g[64];
    static float v[64];
    if (src != 0 || dst != 1 || halo_wire_decode(msg, len, &h, g, 64, v, 64, NULL) != HALO_OK)
        return 0;
    return h.layer == 0 && h.phase == HALO_PHASE_ATTN && h.step >= 3 && h.step <= 5;
}

static void device_that_missed_a_broadcast_rejoins_with_masked_history(void) {
    halo_model *m = tu_bundled_model();
    run_opts o = {.n_devices = 2,
                  .policy = HALO_SYNC_POLICY_RELAXED,
                  .deadline_ns = 1000,
                  .drop_fn = drop_some_activations};
    static run_result r;
    run_cluster(m, &o, NULL, &r);
    ASSERT_OK(r.rc);
    ASSERT_EQ(r.dropped, 3);
    ASSERT_EQ(r.missing, 3);
    /* The text stays sensible: greedy tokens are valid ids and not all the same. */
    int distinct = 0;
    for (int i = 1; i < STEPS; i++)
        distinct += r.ids[i] != r.ids[i - 1];
    ASSERT(distinct > STEPS / 2);
    halo_model_free(m);
}

/* Drops the first activation the root sends to device 1 (step 0, layer 0, attention). */
static int drop_first_activation(void *ctx, int src, int dst, const void *msg, size_t len) {
    int *dropped = ctx;
    halo_msg h;
    static uint16_t g[64];
    static float v[64];
    if (*dropped || src != 0 || dst != 1 ||
        halo_wire_decode(msg, len, &h, g, 64, v, 64, NULL) != HALO_OK ||
        h.kind != HALO_MSG_ACTIVATION)
        return 0;
    *dropped = 1;
    return 1;
}

/* slow_safe (socket clusters): a device's first delay sample, when its first exchange was
   lost and re-requested, is measured from the repeated request. Measured from the first
   request it was the whole initial deadline (10 ms here against answers that take no time),
   and every later deadline of that block kind stayed long for dozens of syncs. */
static void first_sample_after_a_lost_exchange_is_from_the_repeat(void) {
    halo_model *m = tu_bundled_model();
    int dropped = 0;
    halo_transport *t = NULL;
    halo_loop_config lc = {.n_nodes = 4, .drop_fn = drop_first_activation, .drop_ctx = &dropped};
    ASSERT_OK(halo_loop_new(&t, &lc, NULL));
    halo_cluster_config cc = {.model = m,
                              .n_devices = 4,
                              .transport = t,
                              .sync = {.policy = HALO_SYNC_POLICY_RELAXED,
                                       .deadline_ns = 10000000,
                                       .adaptive = 1,
                                       .deadline_min_ns = 100000,
                                       .deadline_max_ns = 1000000000,
                                       .slow_safe = 1}};
    halo_cluster *c = tu_cluster_new(&cc);
    (void)tu_cluster_greedy(c, VOCAB, 1, 0, 3);
    const halo_node_stats *rs = halo_node_get_stats(halo_cluster_node(c, 0));
    ASSERT_EQ(dropped, 1);
    ASSERT_EQ(rs->missing, 0); /* awaited (no sample yet) and asked again */
    ASSERT(rs->retries >= 1);
    ASSERT(rs->deadlines >= 20);
    /* every sync after the first: the 0.1 ms floor (the loop takes no time) */
    printf("# %llu deadlines, %llu ns in all\n", (unsigned long long)rs->deadlines,
           (unsigned long long)rs->deadline_sum_ns);
    ASSERT(rs->deadline_sum_ns - 10000000 * 2 <= (rs->deadlines - 2) * 100000);
    halo_cluster_free(c);
    halo_transport_free(t);
    halo_model_free(m);
}

static void cluster_tokens_do_not_allocate(void) {
    halo_model *m = tu_bundled_model();
    double rates[5] = {0, 0.1, 0.1, 0, 0};
    halo_transport *t = NULL;
    halo_loop_config lc = {.n_nodes = 5, .drop_rate = rates, .seed = 3};
    ASSERT_OK(halo_loop_new(&t, &lc, NULL));
    halo_cluster_config cc = {.model = m,
                              .n_devices = 5,
                              .transport = t,
                              .encoding = HALO_ENCODING_Q8,
                              .sync = {.policy = HALO_SYNC_POLICY_RELAXED, .deadline_ns = 5000}};
    halo_cluster *c = tu_cluster_new(&cc);
    /* warm-up: the transport's pools reach their peak */
    int token = tu_cluster_greedy(c, VOCAB, 1, 0, 8);
    long before = ta_allocs();
    (void)tu_cluster_greedy(c, VOCAB, token, 8, 300);
    ASSERT_EQ(ta_allocs(), before);
    ASSERT(halo_node_get_stats(halo_cluster_node(c, 0))->missing > 0); /* drops happened */
    halo_cluster_free(c);
    halo_transport_free(t);
    ASSERT(ta_allocs() == before); /* frees do not count; nothing allocated */
    halo_model_free(m);
}

/*
 * Workers whose memory holds a fraction of their share read their groups through the
 * neuron-group loader (a few cache slots, read-ahead of the next block): the text is the
 * single device's, the logits as close as any cluster's, and the loaders really read,
 * evicted and read ahead.
 */
static void workers_streaming_through_loaders_match_the_single_device(void) {
    halo_model *m = tu_bundled_model();
    const reference *ref = single_device(m);
    const halo_model_config *mc = halo_model_get_config(m);
    halo_groups g;
    ASSERT_OK(halo_groups_init(&g, mc, halo_cluster_default_group_size(mc), NULL));
    size_t one = halo_loader_group_bytes(mc, &g, (halo_group_key){0, HALO_GROUP_KIND_FFN, 0});
    halo_loader *loaders[3] = {NULL, NULL, NULL};
    for (int d = 1; d < 3; d++) /* 3 slots: far below a worker's ~30 groups */
        ASSERT_OK(halo_loader_new(&loaders[d], tu_src_path("models/stories260K.bin"), m, &g,
                                  3 * one + 64, NULL));
    run_opts o = {.n_devices = 3, .placement = "equal", .loaders = loaders};
    run_result r;
    run_cluster(m, &o, ref->logits, &r);
    ASSERT_OK(r.rc);
    for (int i = 0; i < STEPS; i++)
        ASSERT_EQ(r.ids[i], ref->ids[i]);
    ASSERT(r.max_rel_err < 1e-5);
    for (int d = 1; d < 3; d++) {
        halo_loader_stats st;
        halo_loader_get_stats(loaders[d], &st);
        ASSERT(st.n_acquires > 0 && st.bytes_read > 0);
        ASSERT(st.n_evictions > 0);         /* the share did not fit */
        ASSERT(st.n_prefetch_requests > 0); /* the next block was asked for ahead */
        ASSERT_EQ(st.n_errors, 0);
        halo_loader_free(loaders[d]);
    }
    halo_model_free(m);
}

/*
 * The mesh collective (all-gather, split classifier): every node sums the same partials in
 * the same order, so any size of cluster gives the single device's text; the root gathers
 * one classifier slice per device, and each block costs N (N - 1) messages.
 */
static void mesh_all_gather_matches_the_single_device(void) {
    halo_model *m = tu_bundled_model();
    placements_match_the_single_device(m, single_device(m), HALO_COLLECTIVE_MESH, 0);
    /* mesh refuses what it cannot do: relaxed sync */
    halo_transport *t = NULL;
    halo_loop_config lc = {.n_nodes = 2};
    ASSERT_OK(halo_loop_new(&t, &lc, NULL));
    halo_cluster *c = NULL;
    halo_err err = {0};
    halo_cluster_config cc = {.model = m,
                              .n_devices = 2,
                              .transport = t,
                              .collective = HALO_COLLECTIVE_MESH,
                              .sync = {.policy = HALO_SYNC_POLICY_RELAXED}};
    ASSERT_EQ(halo_cluster_new(&c, &cc, &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "mesh collective needs strict sync");
    halo_transport_free(t);
    halo_model_free(m);
}

/*
 * Issue 15: a mesh node encodes each broadcast once and re-addresses the bytes for every
 * further peer (halo_wire_set_dst), so of 4 devices the root encodes a STATE and a partial
 * sum per block and sends each 3 times; a worker also sends its classifier slice once.
 */
static void mesh_encodes_each_broadcast_once(void) {
    halo_model *m = tu_bundled_model();
    run_opts o = {
        .n_devices = 4, .policy = HALO_SYNC_POLICY_STRICT, .collective = HALO_COLLECTIVE_MESH};
    static run_result r;
    run_cluster(m, &o, single_device(m)->logits, &r);
    ASSERT_OK(r.rc);
    ASSERT(r.max_rel_err <= 1e-5);
    const uint64_t blocks = 2 * (uint64_t)halo_model_get_config(m)->n_layers;
    ASSERT_EQ(r.encoded[0], (uint64_t)STEPS * (1 + blocks)); /* STATE, then one per block */
    ASSERT_EQ(r.sent[0], 3 * r.encoded[0]);
    for (int d = 1; d < 4; d++) {
        ASSERT_EQ(r.encoded[d], (uint64_t)STEPS * (blocks + 1)); /* partials, its logits */
        ASSERT_EQ(r.sent[d], (uint64_t)STEPS * (3 * blocks + 1));
    }
    halo_model_free(m);
}

/*
 * Issue 15: nodes that copy the weight windows they compute (pack_windows, as a socket
 * cluster's do: rows of Wq, Wk, Wv, W1, W3 and the classifier, columns of Wo and W2;
 * core/winpack.h) compute the same products bit for bit: every step's logits equal the
 * unpacked cluster's exactly, star and mesh, one run of groups per block (packed) or several
 * (read in place).
 */
static void packed_windows_give_the_same_logits(void) {
    halo_model *m = tu_bundled_model();

    struct {
        int n, collective;
        const char *placement;
    } cases[] = {
        {2, HALO_COLLECTIVE_STAR, "equal"},
        {4, HALO_COLLECTIVE_STAR, "equal"},
        {3, HALO_COLLECTIVE_STAR, "weights:1,2,5"},
        {4, HALO_COLLECTIVE_STAR, "explicit:3,3,1,0/2,0,2,1,3,3"},
        {4, HALO_COLLECTIVE_MESH, "equal"},
    };

    float *a = malloc((size_t)STEPS * VOCAB * sizeof *a);
    float *b = malloc((size_t)STEPS * VOCAB * sizeof *b);
    ASSERT(a && b);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        static run_result r0, r1;
        run_opts o = {.n_devices = cases[k].n,
                      .placement = cases[k].placement,
                      .policy = HALO_SYNC_POLICY_STRICT,
                      .collective = cases[k].collective,
                      .logits = a};
        run_cluster(m, &o, NULL, &r0);
        o.pack_windows = 1;
        o.logits = b;
        run_cluster(m, &o, NULL, &r1);
        ASSERT_OK(r0.rc);
        ASSERT_OK(r1.rc);
        if (memcmp(a, b, (size_t)STEPS * VOCAB * sizeof *a) != 0)
            TEST_FAIL_AT("n=%d %s: packed windows changed the logits", cases[k].n,
                         cases[k].placement);
        ASSERT(memcmp(r0.ids, r1.ids, sizeof r0.ids) == 0);
        /* and they did copy: every device, where each holds one run of groups per block
           (in the explicit placement device 2's FFN groups 0 and 2 are read in place) */
        long copied = 0;
        for (int d = 0; d < cases[k].n; d++) {
            ASSERT_EQ(r0.packed[d], 0);
            copied += r1.packed[d];
            if (r1.packed[d] == 0 && strncmp(cases[k].placement, "explicit", 8) != 0)
                TEST_FAIL_AT("n=%d %s: device %d copied no window", cases[k].n, cases[k].placement,
                             d);
        }
        ASSERT(copied > 0);
    }
    free(a);
    free(b);
    halo_model_free(m);
}

TEST_MAIN(TEST(clusters_of_any_size_match_the_single_device),
          TEST(packed_windows_give_the_same_logits),
          TEST(split_classifier_matches_the_single_device),
          TEST(mesh_all_gather_matches_the_single_device), TEST(mesh_encodes_each_broadcast_once),
          TEST(workers_streaming_through_loaders_match_the_single_device),
          TEST(cluster_tokens_do_not_allocate), TEST(q8_payloads_keep_greedy_tokens_close),
          TEST(relaxed_sync_counts_every_injected_drop),
          TEST(strict_sync_stalls_on_a_lost_contribution),
          TEST(device_that_missed_a_broadcast_rejoins_with_masked_history),
          TEST(first_sample_after_a_lost_exchange_is_from_the_repeat))
