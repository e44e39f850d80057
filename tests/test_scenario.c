/*
 * Scenario files (sim/scenario.h): the bundled examples load at every sweep point with the
 * values they state; sweep points expand in document order with the last axis fastest;
 * every kind of bad file fails with HALO_ERR_FORMAT (or IO/ARG) and a message of the form
 * "<file>:<line>: <key path>: <problem>"; named profiles and links are found beside the
 * scenario first; and 2000 seeded mutations of each example either load or fail cleanly
 * (ASan + UBSan in CI check that nothing is touched out of bounds or leaked).
 */
#define _POSIX_C_SOURCE 200809L

#include "core/importance.h"
#include "core/rng.h"
#include "core/wire.h"
#include "sim/scenario.h"
#include "tests/test.h"
#include "tests/testutil.h"

#include <dirent.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    FUZZ_ROUNDS = 2000
};

static const char *const examples[] = {"scenarios/tiny-loss.yaml", "scenarios/headline.yaml",
                                       "scenarios/hetero.yaml"};

/* Writes `text` to a scratch file `name` and returns its path. */
static void mkdir_tmp(const char *name) {
    const char *p = tu_tmp_path(name);
    if (mkdir(p, 0755) != 0) {
        perror(p);
        abort();
    }
}

static halo_scenario *load_ok(const char *path, long point) {
    halo_scenario *s = NULL;
    halo_err err = {0};
    int rc = halo_scenario_load(&s, path, point, &err);
    if (rc != HALO_OK)
        TEST_FAIL_AT("%s point %ld: %d %s", path, point, rc, err.msg);
    ASSERT(s != NULL);
    return s;
}

/* Loads `text` (as bad.yaml) expecting `code` and a message containing every `want`. */
static void expect_fail(const char *text, int code, const char *want1, const char *want2) {
    const char *p = tu_write_tmp("bad.yaml", text);
    halo_scenario *s = (halo_scenario *)1;
    halo_err err = {0};
    int rc = halo_scenario_load(&s, p, 0, &err);
    if (rc != code)
        TEST_FAIL_AT("expected %d, got %d (%s) for:\n%s", code, rc, err.msg, text);
    ASSERT(s == NULL);
    ASSERT_STR_CONTAINS(err.msg, p);
    ASSERT_STR_CONTAINS(err.msg, want1);
    if (want2)
        ASSERT_STR_CONTAINS(err.msg, want2);
}

/* A valid scenario's head (model and one device); tests append keys. */
#define HEAD               \
    "model:\n"             \
    "  shape: llama2-7b\n" \
    "devices:\n"           \
    "  - profile: rpi4b\n" \
    "    link: gige\n"
#define WORKLOAD  \
    "workload:\n" \
    "  tokens: 4\n"

static int tcp_equal(const halo_tcp_config *a, const halo_tcp_config *b) {
    return a->init_cwnd == b->init_cwnd && a->rto_min_ns == b->rto_min_ns &&
           a->rto_max_ns == b->rto_max_ns && a->rto_init_ns == b->rto_init_ns &&
           a->delack_ns == b->delack_ns && a->tlp == b->tlp &&
           a->dupack_threshold == b->dupack_threshold &&
           a->quickack_segments == b->quickack_segments;
}

/* ==== Examples ==== */

static void tiny_loss_sweeps_loss_over_three_points(void) {
    const double loss[3] = {0, 0.01, 0.05};
    for (long pt = 0; pt < 3; pt++) {
        halo_scenario *s = load_ok(tu_src_path(examples[0]), pt);
        ASSERT_EQ(s->n_points, 3);
        ASSERT_EQ(s->point, pt);
        ASSERT_STR_CONTAINS(s->point_label, "devices[0].link.loss=");
        ASSERT(strcmp(s->name, "tiny-loss") == 0);
        ASSERT(s->model_file && s->shape_name == NULL);
        ASSERT_STR_CONTAINS(s->model_file, "models/stories260K.bin");
        ASSERT_STR_CONTAINS(s->tokenizer_file, "models/tok512.bin");
        ASSERT(access(s->model_file, R_OK) == 0 && access(s->tokenizer_file, R_OK) == 0);
        ASSERT_EQ(s->weight_type, HALO_WEIGHT_F32);
        ASSERT_EQ(s->n_devices, 4);
        for (int d = 0; d < 4; d++) {
            const halo_scenario_device *dev = &s->devices[d];
            ASSERT(strcmp(dev->profile_name, "rpi4b") == 0);
            ASSERT_NEAR(dev->profile.flops_per_s, 12e9, 1);
            ASSERT_NEAR(dev->profile.mem_bw_bps, 3.2043e9, 1); /* calibrated value */
            ASSERT_EQ(dev->profile.send_ns, 0); /* host costs: per KiB, not per message */
            ASSERT_EQ(dev->profile.recv_ns, 0);
            ASSERT_NEAR(dev->profile.copy_ns_per_kb, 70930.5614, 1e-6); /* calibrated value */
            ASSERT_EQ(dev->profile.mem_bytes, 3584ull << 20);
            const halo_link_spec *l[2] = {&dev->uplink, &dev->downlink};
            for (int k = 0; k < 2; k++) {
                ASSERT_NEAR(l[k]->bandwidth_bps, 1e9, 1);
                ASSERT_EQ(l[k]->latency_ns, 60000);
                ASSERT_EQ(l[k]->jitter_ns, 20000);
                ASSERT_EQ(l[k]->mtu_bytes, 1500);
                ASSERT_EQ(l[k]->header_bytes, 66);
                ASSERT_EQ(l[k]->queue_bytes, 128 << 10);
                ASSERT_EQ(l[k]->loss.model, HALO_LOSS_BERNOULLI);
                ASSERT_NEAR(l[k]->loss.p, loss[pt], 1e-12);
            }
        }
        ASSERT_EQ(s->engine.policy, HALO_SYNC_POLICY_RELAXED);
        ASSERT_EQ(s->engine.delivery, HALO_DELIVERY_DATAGRAM);
        ASSERT_EQ(s->engine.deadline_ns, 20000000);
        ASSERT_EQ(s->engine.encoding, HALO_ENCODING_Q8);
        ASSERT(strcmp(s->engine.placement, "equal") == 0);
        ASSERT(s->engine.baseline[0] == '\0' && s->engine.critical == NULL);
        ASSERT(strcmp(s->prompt, "Once upon a time") == 0);
        ASSERT_EQ(s->tokens, 16);
        ASSERT_NEAR(s->temperature, 0, 0);
        ASSERT_EQ(s->seed, 1);
        ASSERT_EQ(s->runs, 1);
        ASSERT_STR_CONTAINS(s->text, "tiny-loss");
        halo_scenario_free(s);
    }
}

static void headline_is_7b_q40_on_eight_pis_with_lossy_workers(void) {
    halo_scenario *s = load_ok(tu_src_path(examples[1]), 0);
    ASSERT_EQ(s->n_points, 2); /* engine.baseline: [dllama, halo] */
    ASSERT(strcmp(s->point_label, "engine.baseline=dllama") == 0);
    ASSERT(strcmp(s->shape_name, "llama2-7b") == 0);
    ASSERT(s->model_file == NULL && s->tokenizer_file == NULL);
    ASSERT_EQ(s->shape.dim, 4096);
    ASSERT_EQ(s->shape.n_layers, 32);
    ASSERT_EQ(s->weight_type, HALO_WEIGHT_Q40);
    ASSERT_EQ(s->n_devices, 8);
    for (int d = 0; d < 8; d++) {
        ASSERT(strcmp(s->devices[d].profile_name, "rpi4b") == 0);
        double p = d == 0 ? 0.0 : 0.05;
        ASSERT_EQ(s->devices[d].uplink.loss.model, d == 0 ? HALO_LOSS_NONE : HALO_LOSS_BERNOULLI);
        ASSERT_NEAR(s->devices[d].uplink.loss.p, p, 1e-12);
        ASSERT_NEAR(s->devices[d].downlink.loss.p, p, 1e-12);
    }
    ASSERT(strcmp(s->engine.baseline, "dllama") == 0);
    ASSERT(strcmp(s->engine.placement, "equal") == 0);
    ASSERT_EQ(s->engine.policy, HALO_SYNC_POLICY_STRICT);
    ASSERT_EQ(s->engine.delivery, HALO_DELIVERY_STREAM);
    halo_tcp_config linux_tcp;
    halo_tcp_config_linux(&linux_tcp);
    ASSERT(tcp_equal(&s->engine.tcp, &linux_tcp));
    ASSERT_EQ(s->engine.simulator, HALO_SIMULATOR_SIM); /* engine.simulator's default */
    ASSERT_EQ(s->tokens, 32);
    ASSERT_EQ(s->runs, 3);
    ASSERT_EQ(s->engine.importance, -1);
    halo_scenario_free(s);
    /* point 1: the HALO baseline = relaxed, balanced by speed and host costs, synthetic
     * importance (a shape), adaptive deadlines, two copies of critical activations once a
     * contribution went missing, datagrams */
    s = load_ok(tu_src_path(examples[1]), 1);
    ASSERT(strcmp(s->engine.baseline, "halo") == 0);
    ASSERT(strcmp(s->engine.placement, "balanced-host") == 0);
    ASSERT_EQ(s->engine.redundancy_on_loss, 1);
    ASSERT_EQ(s->engine.policy, HALO_SYNC_POLICY_RELAXED);
    ASSERT_EQ(s->engine.delivery, HALO_DELIVERY_DATAGRAM);
    ASSERT_EQ(s->engine.importance, HALO_SCORING_SYNTHETIC);
    ASSERT_EQ(s->engine.adaptive_deadline, 1);
    ASSERT_EQ(s->engine.redundancy, 2);
    ASSERT_NEAR(s->engine.tau, 0.9, 1e-12);
    halo_scenario_free(s);
}

static void hetero_mixes_profiles_and_sweeps_placement_and_sync(void) {
    static const char *const placement[4] = {"equal", "equal", "balanced", "balanced"};
    static const int policy[4] = {HALO_SYNC_POLICY_STRICT, HALO_SYNC_POLICY_RELAXED,
                                  HALO_SYNC_POLICY_STRICT, HALO_SYNC_POLICY_RELAXED};
    for (long pt = 0; pt < 4; pt++) {
        halo_scenario *s = load_ok(tu_src_path(examples[2]), pt);
        ASSERT_EQ(s->n_points, 4);
        ASSERT(strcmp(s->engine.placement, placement[pt]) == 0);
        ASSERT_EQ(s->engine.policy, policy[pt]);
        ASSERT_EQ(s->engine.delivery, policy[pt] == HALO_SYNC_POLICY_STRICT
                                          ? HALO_DELIVERY_STREAM
                                          : HALO_DELIVERY_DATAGRAM);
        ASSERT_EQ(s->n_devices, 5);
        ASSERT(strcmp(s->devices[0].profile_name, "rpi5") == 0);
        ASSERT(strcmp(s->devices[1].profile_name, "rpi4b") == 0);
        ASSERT(strcmp(s->devices[2].profile_name, "rpi4b") == 0);
        ASSERT(strcmp(s->devices[3].profile_name, "jetson-nano") == 0);
        ASSERT(strcmp(s->devices[4].profile_name, "inline:rpi4b") == 0);
        ASSERT_EQ(s->devices[4].profile.mem_bytes, 1536ull << 20);
        ASSERT_NEAR(s->devices[4].profile.flops_per_s, s->devices[1].profile.flops_per_s, 0);
        ASSERT_NEAR(s->devices[4].uplink.bandwidth_bps, 100e6, 1);
        ASSERT(strcmp(s->engine.critical, "1") == 0);
        ASSERT(strcmp(s->shape_name, "tinyllama-1.1b") == 0);
        ASSERT_EQ(s->weight_type, HALO_WEIGHT_Q80);
        ASSERT_EQ(s->seed, 7);
        halo_scenario_free(s);
    }
}

static void shapes_are_consistent_and_unknown_shape_is_arg(void) {
    static const char *const names[] = {"llama2-7b", "llama2-13b", "tinyllama-1.1b", "llama3-8b"};
    for (int i = 0; i < 4; i++) {
        halo_model_config c;
        ASSERT_OK(halo_scenario_shape(names[i], &c));
        ASSERT_OK(halo_model_config_check(&c, names[i], NULL));
        ASSERT_EQ(c.shared_classifier, 0);
    }
    halo_model_config c;
    ASSERT_OK(halo_scenario_shape("llama3-8b", &c));
    ASSERT_EQ(c.vocab_size, 128256);
    ASSERT_EQ(c.n_kv_heads, 8);
    ASSERT_EQ(halo_scenario_shape("gpt-2", &c), HALO_ERR_ARG);
}

/* ==== Sweeps ==== */

static void sweep_points_are_mixed_radix_in_document_order_last_fastest(void) {
    const char *p = tu_write_tmp("sweep.yaml", "seed: [5, 6]\n" HEAD "    count: [1, 2, 3]\n"
                                               "engine:\n"
                                               "  deadline_ms: [10, 20]\n" WORKLOAD);
    halo_scenario *s = load_ok(p, 0);
    ASSERT_EQ(s->n_points, 12);
    halo_scenario_free(s);
    for (long pt = 0; pt < 12; pt++) {
        s = load_ok(p, pt);
        long seed_i = pt / 6, count_i = (pt / 2) % 3, dl_i = pt % 2;
        ASSERT_EQ(s->seed, 5 + seed_i);
        ASSERT_EQ(s->n_devices, 1 + count_i);
        ASSERT_EQ(s->engine.deadline_ns, (uint64_t)(10 + 10 * dl_i) * 1000000);
        char want[128];
        (void)snprintf(want, sizeof want, "seed=%ld devices[0].count=%ld engine.deadline_ms=%ld",
                       5 + seed_i, 1 + count_i, 10 + 10 * dl_i);
        ASSERT(strcmp(s->point_label, want) == 0);
        halo_scenario_free(s);
    }
}

static void point_out_of_range_is_an_argument_error(void) {
    const long bad[] = {-1, 3, 1000};
    for (int i = 0; i < 3; i++) {
        halo_scenario *s = (halo_scenario *)1;
        halo_err err = {0};
        ASSERT_EQ(halo_scenario_load(&s, tu_src_path(examples[0]), bad[i], &err), HALO_ERR_ARG);
        ASSERT(s == NULL);
        ASSERT_STR_CONTAINS(err.msg, "out of range");
        ASSERT_STR_CONTAINS(err.msg, "3 points");
    }
    halo_scenario *s = (halo_scenario *)1;
    halo_err err = {0};
    ASSERT_EQ(halo_scenario_load(&s, tu_src_path(examples[1]), 2, &err), HALO_ERR_ARG);
    ASSERT(s == NULL);
}

static void a_sweep_of_profile_names_and_link_overrides_applies_per_point(void) {
    const char *p = tu_write_tmp("names.yaml", "model: {shape: llama2-7b}\n"
                                               "devices:\n"
                                               "  - profile: [rpi4b, rpi5]\n"
                                               "    link: gige\n"
                                               "    uplink: {loss: 0.1}\n"
                                               "    downlink: wifi\n" WORKLOAD);
    for (long pt = 0; pt < 2; pt++) {
        halo_scenario *s = load_ok(p, pt);
        ASSERT_EQ(s->n_points, 2);
        ASSERT(strcmp(s->devices[0].profile_name, pt ? "rpi5" : "rpi4b") == 0);
        const halo_link_spec *up = &s->devices[0].uplink, *dn = &s->devices[0].downlink;
        ASSERT_NEAR(up->bandwidth_bps, 1e9, 1); /* gige, with loss on top */
        ASSERT_EQ(up->loss.model, HALO_LOSS_BERNOULLI);
        ASSERT_NEAR(up->loss.p, 0.1, 1e-12);
        ASSERT_NEAR(dn->bandwidth_bps, 80e6, 1); /* wifi replaces gige */
        ASSERT_EQ(dn->loss.model, HALO_LOSS_GILBERT);
        ASSERT_NEAR(dn->loss.p_bad_good, 0.3, 1e-12);
        ASSERT_NEAR(dn->loss.loss_bad, 0.5, 1e-12);
        halo_scenario_free(s);
    }
}

/* ==== Defaults, lookup, YAML features ==== */

static void defaults_fill_every_optional_key(void) {
    const char *p = tu_write_tmp("minimal.yaml", HEAD WORKLOAD);
    halo_scenario *s = load_ok(p, 0);
    ASSERT(strcmp(s->name, "minimal") == 0);
    ASSERT_EQ(s->n_points, 1);
    ASSERT_EQ(s->weight_type, HALO_WEIGHT_F32);
    ASSERT(s->engine.baseline[0] == '\0' && s->engine.critical == NULL && s->eval_file == NULL);
    ASSERT(strcmp(s->engine.placement, "equal") == 0);
    ASSERT_EQ(s->engine.policy, HALO_SYNC_POLICY_STRICT);
    ASSERT_EQ(s->engine.delivery, HALO_DELIVERY_STREAM);
    ASSERT_EQ(s->engine.deadline_ns, 10000000);
    ASSERT_EQ(s->engine.encoding, HALO_ENCODING_F32);
    ASSERT_EQ(s->engine.group_size, 0);
    ASSERT(strcmp(s->prompt, "") == 0);
    ASSERT_NEAR(s->temperature, 0, 0);
    ASSERT_EQ(s->seed, 1);
    ASSERT_EQ(s->runs, 1);
    ASSERT_EQ(s->paper, 0);
    halo_tcp_config t;
    halo_tcp_config_linux(&t);
    ASSERT(tcp_equal(&s->engine.tcp, &t));
    halo_scenario_free(s);
}

static void engine_keys_and_baselines_resolve(void) {
    char text[1024];
    (void)snprintf(text, sizeof text,
                   HEAD "    count: 4\n"
                        "engine:\n"
                        "  baseline: balanced\n"
                        "  critical: \"1,3\"\n"
                        "  group_size: 64\n"
                        "  tcp: {init_cwnd: 4, rto_min_ms: 1, rto_init_ms: 5, tlp: false, "
                        "delack_ms: 0}\n"
                        "workload:\n"
                        "  tokens: 1e3\n"
                        "  temperature: 0.8\n"
                        "  prompt: 'Hello: world'\n"
                        "  eval: %s\n"
                        "runs: 10000\n"
                        "seed: 18446744073709551615\n",
                   tu_src_path("data/tinystories-valid-dev.txt"));
    const char *p = tu_write_tmp("engine.yaml", text);
    halo_scenario *s = load_ok(p, 0);
    ASSERT(strcmp(s->engine.baseline, "balanced") == 0);
    ASSERT(strcmp(s->engine.placement, "balanced") == 0);
    ASSERT_EQ(s->engine.policy, HALO_SYNC_POLICY_STRICT);
    ASSERT(strcmp(s->engine.critical, "1,3") == 0);
    ASSERT_EQ(s->engine.group_size, 64);
    ASSERT_EQ(s->engine.tcp.init_cwnd, 4);
    ASSERT_EQ(s->engine.tcp.rto_min_ns, 1000000);
    ASSERT_EQ(s->engine.tcp.rto_init_ns, 5000000);
    ASSERT_EQ(s->engine.tcp.tlp, 0);
    ASSERT_EQ(s->engine.tcp.delack_ns, 0);
    ASSERT_EQ(s->engine.tcp.dupack_threshold, 3);
    ASSERT_EQ(s->tokens, 1000);
    ASSERT_NEAR(s->temperature, 0.8, 1e-6);
    ASSERT(strcmp(s->prompt, "Hello: world") == 0);
    ASSERT_STR_CONTAINS(s->eval_file, "tinystories-valid-dev.txt");
    ASSERT_EQ(s->runs, 10000);
    ASSERT(s->seed == UINT64_MAX);
    halo_scenario_free(s);

    p = tu_write_tmp("relaxed.yaml", HEAD "    count: 3\n"
                                          "engine: {baseline: relaxed, placement: "
                                          "'explicit:0,1/2,2', deadline_ms: 2.5}\n" WORKLOAD);
    s = load_ok(p, 0);
    ASSERT_EQ(s->engine.policy, HALO_SYNC_POLICY_RELAXED);
    ASSERT_EQ(s->engine.delivery, HALO_DELIVERY_DATAGRAM);
    ASSERT(strcmp(s->engine.placement, "explicit:0,1/2,2") == 0);
    ASSERT_EQ(s->engine.deadline_ns, 2500000);
    halo_scenario_free(s);
}

static void named_files_beside_the_scenario_come_first(void) {
    mkdir_tmp("local");
    mkdir_tmp("local/profiles");
    mkdir_tmp("local/links");
    tu_write_tmp("local/profiles/rpi4b.yaml", "profile:\n"
                                              "  gflops: 1\n"
                                              "  mem_bw_gbps: 2\n"
                                              "  mem_mb: 3\n"
                                              "  storage_mbps: 4\n"
                                              "  op_overhead_us: 5.5\n"
                                              "  source: a test\n");
    tu_write_tmp("local/links/slow.yaml", "link: {base: gige, bandwidth_mbps: 10, source: test}\n");
    const char *p = tu_write_tmp("local/s.yaml", "model: {shape: llama2-13b}\n"
                                                 "devices:\n"
                                                 "  - {profile: rpi4b, link: slow}\n"
                                                 "  - {profile: rpi5, link: gige}\n" WORKLOAD);
    halo_scenario *s = load_ok(p, 0);
    ASSERT_NEAR(s->devices[0].profile.flops_per_s, 1e9, 1);
    ASSERT_EQ(s->devices[0].profile.mem_bytes, 3ull << 20);
    ASSERT_NEAR(s->devices[0].profile.storage_bw_bps, 4e6, 1);
    ASSERT_EQ(s->devices[0].profile.op_overhead_ns, 5500);
    ASSERT_NEAR(s->devices[0].uplink.bandwidth_bps, 10e6, 1);
    ASSERT_EQ(s->devices[0].uplink.latency_ns, 60000);       /* from gige, the base of slow */
    ASSERT_NEAR(s->devices[1].profile.flops_per_s, 30e9, 1); /* the project's rpi5 */
    halo_scenario_free(s);

    /* HALO_SCENARIO_DIR replaces the project's folder. */
    ASSERT_OK(setenv("HALO_SCENARIO_DIR", tu_tmp_path("local"), 1));
    p = tu_write_tmp("env.yaml", "model: {shape: llama2-13b}\n"
                                 "devices: [{profile: rpi4b, link: {bandwidth_mbps: 5, "
                                 "latency_us: 1}}]\n" WORKLOAD);
    s = load_ok(p, 0);
    ASSERT_NEAR(s->devices[0].profile.flops_per_s, 1e9, 1);
    halo_scenario_free(s);
    expect_fail("model: {shape: llama2-13b}\n"
                "devices: [{profile: rpi5, link: gige}]\n" WORKLOAD,
                HALO_ERR_FORMAT, "devices[0].profile: unknown profile 'rpi5'", NULL);
    ASSERT_OK(unsetenv("HALO_SCENARIO_DIR"));
}

static void anchors_and_aliases_are_copied(void) {
    const char *p = tu_write_tmp("alias.yaml", "model: {shape: llama2-7b}\n"
                                               "devices:\n"
                                               "  - profile: rpi4b\n"
                                               "    link: &lossy {base: gige, loss: 0.02}\n"
                                               "  - profile: rpi5\n"
                                               "    link: *lossy\n" WORKLOAD);
    halo_scenario *s = load_ok(p, 0);
    ASSERT_NEAR(s->devices[1].downlink.loss.p, 0.02, 1e-12);
    halo_scenario_free(s);
    expect_fail(HEAD "engine: *nothing\n" WORKLOAD, HALO_ERR_FORMAT,
                "bad.yaml:6:", "unknown alias");
    /* An anchor on a mapping key is refused: the key's node is consumed into its mapping,
       and an alias to it read freed memory (fuzz_clusterfile's finding, issue 18). */
    expect_fail("&o a: *o\n", HALO_ERR_FORMAT,
                "bad.yaml:1:", "an anchor on a mapping key (&o) is not supported");
    expect_fail("&o:: *o:: *a a *a", HALO_ERR_FORMAT, "bad.yaml:1:", "anchor on a mapping key");
    expect_fail("m: {&k x: 1, y: *k}\n", HALO_ERR_FORMAT,
                "bad.yaml:1:", "an anchor on a mapping key (&k) is not supported");
    /* An alias bomb stops at the node budget. */
    expect_fail("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
                HALO_ERR_FORMAT, "nodes", NULL);
}

/* ==== Bad files ==== */

static void syntax_errors_name_the_file_and_line(void) {
    expect_fail(HEAD "engine:\n  sync: [strict\n" WORKLOAD, HALO_ERR_FORMAT,
                "bad.yaml:8: syntax error: did not find expected ',' or ']'",
                "while parsing a flow sequence started on line 7");
    expect_fail("model:\n  shape: llama2-7b\n bad indent: 1\n", HALO_ERR_FORMAT,
                "bad.yaml:3:", "syntax error");
    expect_fail("model: \"unterminated\n", HALO_ERR_FORMAT, "syntax error", NULL);
    expect_fail("\tmodel: {}\n", HALO_ERR_FORMAT, "bad.yaml:1:", "syntax error");
    expect_fail("a: 1\x01\n", HALO_ERR_FORMAT, "bad.yaml:1:", "syntax error");
    expect_fail("a: 1\n---\nb: 2\n", HALO_ERR_FORMAT, "bad.yaml:2:", "one YAML document");
    expect_fail("a: 1\na: 2\n", HALO_ERR_FORMAT, "bad.yaml:2:", "duplicate key 'a'");
    expect_fail("{x: 1}: 2\n", HALO_ERR_FORMAT, "keys must be scalars", NULL);
    expect_fail("", HALO_ERR_FORMAT, "bad.yaml:1: document: empty", NULL);
    expect_fail("# only a comment\n", HALO_ERR_FORMAT, "empty", NULL);
    expect_fail("- a\n- b\n", HALO_ERR_FORMAT, "bad.yaml:1: document: expected a mapping", NULL);
    char deep[128] = "a: ";
    memset(deep + 3, '[', 100);
    deep[103] = '\0';
    expect_fail(deep, HALO_ERR_FORMAT, "nested deeper", NULL);
}

static void wrong_types_are_errors(void) {
    expect_fail(HEAD "workload:\n  tokens: many\n", HALO_ERR_FORMAT,
                "bad.yaml:7: workload.tokens: expected an integer, got 'many'", NULL);
    expect_fail(HEAD "workload:\n  tokens: 2.5\n", HALO_ERR_FORMAT, "workload.tokens",
                "expected an integer");
    expect_fail(HEAD "workload:\n  tokens: \"4\"\n", HALO_ERR_FORMAT, "workload.tokens",
                "got the string '4'");
    expect_fail(HEAD "workload:\n  tokens:\n", HALO_ERR_FORMAT, "workload.tokens",
                "got an empty value");
    expect_fail(HEAD "workload:\n  tokens: {n: 4}\n", HALO_ERR_FORMAT, "workload.tokens",
                "expected an integer, got a mapping");
    expect_fail(HEAD "engine: strict\n" WORKLOAD, HALO_ERR_FORMAT,
                "bad.yaml:6: engine: expected a mapping, got a scalar", NULL);
    expect_fail(HEAD "engine: [a, b]\n" WORKLOAD, HALO_ERR_FORMAT, "engine: expected a mapping",
                NULL);
    expect_fail(HEAD "engine: {tcp: {tlp: maybe}}\n" WORKLOAD, HALO_ERR_FORMAT, "engine.tcp.tlp",
                "expected true or false");
    expect_fail(HEAD "engine: {sync: lax}\n" WORKLOAD, HALO_ERR_FORMAT,
                "engine.sync: 'lax' is not one of strict, relaxed", NULL);
    expect_fail(HEAD "engine: {deadline_ms: .inf}\n" WORKLOAD, HALO_ERR_FORMAT,
                "engine.deadline_ms: expected a number", NULL);
    expect_fail(HEAD WORKLOAD "seed: -1\n", HALO_ERR_FORMAT, "bad.yaml:8: seed:", NULL);
    expect_fail("devices: {profile: rpi4b}\nmodel: {shape: llama2-7b}\n" WORKLOAD, HALO_ERR_FORMAT,
                "bad.yaml:1: devices: expected a list", NULL);
    expect_fail(HEAD "engine: {sync: [strict, [relaxed]]}\n" WORKLOAD, HALO_ERR_FORMAT,
                "engine.sync[1]: a sweep list may hold scalars only", NULL);
    expect_fail(HEAD "engine: {sync: []}\n" WORKLOAD, HALO_ERR_FORMAT, "engine.sync: an empty list",
                NULL);
}

/* `$name` in a sweep list stands for a single-value variable (it was "expected a number,
   got '$a'"); a list variable there, or an unknown one, is named with file:line. */
static void a_variable_in_a_sweep_list_is_substituted(void) {
    const char *p =
        tu_write_tmp("vars.yaml", "vars: {a: 0.01}\n"
                                  "model: {shape: llama2-7b}\n"
                                  "devices:\n"
                                  "  - profile: rpi4b\n"
                                  "    link: {base: gige, loss: [$a, 0.02]}\n" WORKLOAD);
    halo_scenario *s = load_ok(p, 0);
    ASSERT_NEAR(s->devices[0].uplink.loss.p, 0.01, 1e-12);
    ASSERT(strcmp(s->point_label, "devices[0].link.loss=0.01") == 0);
    halo_scenario_free(s);
    s = load_ok(p, 1);
    ASSERT_NEAR(s->devices[0].uplink.loss.p, 0.02, 1e-12);
    halo_scenario_free(s);
    expect_fail("vars: {a: [0.01, 0.03]}\n" HEAD "engine: {tau: [$a, 0.5]}\n" WORKLOAD,
                HALO_ERR_FORMAT, "bad.yaml:7: engine.tau[0]: variable '$a' is a list", NULL);
    expect_fail(HEAD "engine: {tau: [0.5, $b]}\n" WORKLOAD, HALO_ERR_FORMAT,
                "bad.yaml:6: engine.tau[1]: unknown variable '$b'", NULL);
}

static void an_empty_name_is_an_error(void) {
    expect_fail("name: \"\"\n" HEAD WORKLOAD, HALO_ERR_FORMAT, "bad.yaml:1: name: an empty name",
                NULL);
}

static void unknown_keys_are_errors(void) {
    expect_fail(HEAD "engine:\n  sync: strict\n  speed: 3\n" WORKLOAD, HALO_ERR_FORMAT,
                "bad.yaml:8: engine.speed: unknown key", "baseline");
    expect_fail(HEAD WORKLOAD "colour: blue\n", HALO_ERR_FORMAT, "bad.yaml:8: colour: unknown key",
                NULL);
    expect_fail(HEAD "    lnik: gige\n" WORKLOAD, HALO_ERR_FORMAT,
                "bad.yaml:6: devices[0].lnik: unknown key", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n    link: {base: gige, "
                "gilbert: {p_good_bad: 0.1, p_bad_good: 0.5, burst: 3}}\n" WORKLOAD,
                HALO_ERR_FORMAT, "devices[0].link.gilbert.burst: unknown key", NULL);
}

static void values_out_of_range_are_errors(void) {
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n"
                "    link: {base: gige, bandwidth_mbps: -100}\n" WORKLOAD,
                HALO_ERR_FORMAT,
                "bad.yaml:4: devices[0].link.bandwidth_mbps: -100 is not in [0.001, 1e+06]", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n    link: gige\n"
                "  - profile: rpi4b\n    link: gige\n    uplink:\n      loss: 1\n" WORKLOAD,
                HALO_ERR_FORMAT, "bad.yaml:8: devices[1].uplink.loss: 1 is not in [0, 1)", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: {base: rpi4b, compute_cv: "
                "-0.5}\n    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT,
                "bad.yaml:3: devices[0].profile.compute_cv: -0.5 is not in [0, 10]", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n    link: gige\n"
                "  - profile: {base: rpi4b, host_overlap: 1.5}\n    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT,
                "bad.yaml:5: devices[1].profile.host_overlap: 1.5 is not in [0, 1]", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n    link: gige\n"
                "  - profile: {base: rpi4b, recv_jitter_us: 2e6}\n    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT,
                "bad.yaml:5: devices[1].profile.recv_jitter_us: 2e6 is not in [0, 1e+06]", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n    link: gige\n"
                "  - profile: {base: rpi4b, cold_wake_us: 40}\n    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT,
                "bad.yaml:5: devices[1].profile.cold_wake_ms: required key is missing", NULL);
    expect_fail(
        "model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n    link: gige\n"
        "  - profile: {base: rpi4b, cold_wake_us: 40, cold_wake_ms: 0}\n    link: gige\n" WORKLOAD,
        HALO_ERR_FORMAT, "bad.yaml:5: devices[1].profile.cold_wake_ms: 0 is not in [0.001, 1e+06]",
        NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n    link: gige\n"
                "  - profile: {base: rpi4b, strided_bw_gbps: 0}\n    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT,
                "bad.yaml:5: devices[1].profile.strided_bw_gbps: 0 is not in [0.001, 100000]",
                NULL);
    /* Inside the old ranges, but a hang or an overflow: 1 bit/s made TCP's retransmit timer
       fire for minutes (strict sync), 1e-15 GB/s a compute time past 2^64 ns, a heartbeat of
       1 ns a billion pings per simulated second. */
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n"
                "    link: {base: gige, bandwidth_mbps: 1e-9}\n" WORKLOAD,
                HALO_ERR_FORMAT,
                "bad.yaml:4: devices[0].link.bandwidth_mbps: 1e-9 is not in [0.001, 1e+06]", NULL);
    static const char *const slow[] = {"gflops",          "mem_bw_gbps",   "storage_mbps",
                                       "strided_bw_gbps", "cache_bw_gbps", "host_mem_bw_gbps"};
    for (size_t i = 0; i < sizeof slow / sizeof slow[0]; i++) {
        char yaml[512], want[128];
        (void)snprintf(yaml, sizeof yaml,
                       "model: {shape: llama2-7b}\ndevices:\n  - profile: {base: rpi4b, %s: "
                       "1e-15%s}\n    link: gige\n" WORKLOAD,
                       slow[i], i == 4 ? ", cache_mb: 8" : "");
        (void)snprintf(want, sizeof want,
                       "bad.yaml:3: devices[0].profile.%s: 1e-15 is not in [0.001, ", slow[i]);
        expect_fail(yaml, HALO_ERR_FORMAT, want, NULL);
    }
    expect_fail(HEAD "engine: {heartbeat_ms: 0.000001}\n" WORKLOAD, HALO_ERR_FORMAT,
                "engine.heartbeat_ms: 1e-06 is not 0 (never) or in [1, 1e+06]", NULL);
    /* a cache is a size and a bandwidth: each alone is refused, naming the other */
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n    link: gige\n"
                "  - profile: {base: rpi4b, cache_mb: 32}\n    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT,
                "bad.yaml:5: devices[1].profile.cache_bw_gbps: required key is missing", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: {base: rpi4b, cache_bw_gbps: "
                "80}\n    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT, "bad.yaml:3: devices[0].profile.cache_mb: required key is missing",
                NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: {base: rpi4b, cache_mb: 0, "
                "cache_bw_gbps: 80}\n    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT,
                "bad.yaml:3: devices[0].profile.cache_mb: 0 is not in (0, 1.04858e+06]", NULL);
    /* cores placed as Linux wakes tasks: shared or wake, and only with a host bandwidth */
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: {base: rpi4b, "
                "host_mem_bw_gbps: 8, core_placement: pinned}\n    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT,
                "bad.yaml:3: devices[0].profile.core_placement: 'pinned' is not one of shared, "
                "wake",
                NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: {base: rpi4b, "
                "core_placement: wake}\n    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT,
                "bad.yaml:3: devices[0].profile.core_placement: wake needs host_mem_bw_gbps", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: {base: rpi4b, "
                "cores: 2, host_mem_bw_gbps: 8, core_placement: wake}\n    host: box\n"
                "    link: gige\n"
                "  - profile: {base: rpi4b, cores: 2, host_mem_bw_gbps: 8}\n    host: box\n"
                "    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT,
                "bad.yaml:6: devices[1]: host 'box': core_placement shared, but devices[0] on it "
                "has wake",
                NULL);
    /* a balance tick: only for placed cores, in range, the same on one host */
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: {base: rpi4b, "
                "host_mem_bw_gbps: 8, core_balance_ms: 4}\n    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT,
                "bad.yaml:3: devices[0].profile.core_balance_ms: needs core_placement: wake", NULL);
    expect_fail(
        "model: {shape: llama2-7b}\ndevices:\n  - profile: {base: rpi4b, "
        "host_mem_bw_gbps: 8, core_placement: wake, core_balance_ms: 0}\n    link: gige\n" WORKLOAD,
        HALO_ERR_FORMAT,
        "bad.yaml:3: devices[0].profile.core_balance_ms: 0 is not in [0.001, 1000]", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: {base: rpi4b, "
                "cores: 2, host_mem_bw_gbps: 8, core_placement: wake, core_balance_ms: 4}\n"
                "    host: box\n    link: gige\n"
                "  - profile: {base: rpi4b, cores: 2, host_mem_bw_gbps: 8, core_placement: wake}\n"
                "    host: box\n    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT,
                "bad.yaml:6: devices[1]: host 'box': core_balance_ms 0, but devices[0] on it has 4",
                NULL);
    expect_fail(HEAD "    count: 0\n" WORKLOAD, HALO_ERR_FORMAT,
                "devices[0].count: 0 is not in [1, 1024]", NULL);
    expect_fail(HEAD "    count: 1000\n"
                     "  - profile: rpi4b\n    link: gige\n    count: 25\n" WORKLOAD,
                HALO_ERR_FORMAT, "devices[1]: more than 1024 devices", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices: [{profile: rpi4b, link: {base: gige, mtu: "
                "100}}]\n" WORKLOAD,
                HALO_ERR_FORMAT, "devices[0].link.mtu: 100 is not in [576, 65535]", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices: [{profile: rpi4b, link: {base: gige, "
                "queue_kb: 1, mtu: 9000}}]\n" WORKLOAD,
                HALO_ERR_FORMAT, "devices[0].link.queue_kb", "one packet");
    expect_fail("model: {shape: llama2-7b}\ndevices: [{profile: rpi4b, link: {base: gige, "
                "gilbert: {p_good_bad: 1.5, p_bad_good: 0.1}}}]\n" WORKLOAD,
                HALO_ERR_FORMAT, "devices[0].link.gilbert.p_good_bad: 1.5 is not in [0, 1]", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices: [{profile: rpi4b, link: {base: gige, "
                "gilbert: {p_good_bad: 0.1}}}]\n" WORKLOAD,
                HALO_ERR_FORMAT, "devices[0].link.gilbert.p_bad_good: required key is missing",
                NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices: [{profile: rpi4b, link: {base: gige, "
                "gilbert: {p_good_bad: 0.1, p_bad_good: 0}}}]\n" WORKLOAD,
                HALO_ERR_FORMAT, "mean loss rate is 1", NULL);
    expect_fail(HEAD WORKLOAD "runs: 0\n", HALO_ERR_FORMAT, "runs: 0 is not in [1, 10000]", NULL);
    expect_fail(HEAD "workload: {tokens: 1000001}\n", HALO_ERR_FORMAT, "workload.tokens", NULL);
    expect_fail(HEAD "workload: {tokens: 4, skip: 4}\n", HALO_ERR_FORMAT,
                "workload.skip: 4 is not in [0, 3]", NULL);
    expect_fail(HEAD "workload: {tokens: 4, skip: -1}\n", HALO_ERR_FORMAT, "workload.skip", NULL);
    expect_fail(HEAD "engine: {deadline_ms: -1}\n" WORKLOAD, HALO_ERR_FORMAT,
                "engine.deadline_ms: -1 is not in [0, 1e+06]", NULL);
    expect_fail(HEAD "engine: {critical: '1'}\n" WORKLOAD, HALO_ERR_FORMAT,
                "engine.critical: '1' is not a list of device numbers in 0..0", NULL);
    expect_fail(HEAD "engine: {placement: 'weights:1,2'}\n" WORKLOAD, HALO_ERR_FORMAT,
                "engine.placement", "needs 1 positive weights");
    expect_fail(HEAD "engine: {placement: 'explicit:0/1'}\n" WORKLOAD, HALO_ERR_FORMAT,
                "engine.placement", "device numbers in 0..0");
    expect_fail(HEAD "engine: {placement: random}\n" WORKLOAD, HALO_ERR_FORMAT,
                "engine.placement: 'random' is not one of", NULL);
    expect_fail(HEAD "engine: {tcp: {rto_min_ms: 2000}}\n" WORKLOAD, HALO_ERR_FORMAT,
                "engine.tcp: expected rto_min_ms <= rto_init_ms <= rto_max_ms", NULL);
}

/* The keys of the fidelity work: collective, TCP acknowledgement and ticks, host costs,
   shared hosts, Gilbert-Elliott's mean form; each bad value named with file, line and key. */
static void fidelity_keys_load_and_bad_values_are_named(void) {
    const char *p = tu_write_tmp(
        "fid.yaml", "model: {shape: llama2-7b}\n"
                    "devices:\n"
                    "  - profile: {base: rpi4b, send_us: 40, recv_us: 60, "
                    "copy_ns_per_kb: 500, cores: 2, host_mem_bw_gbps: 36.5, cold_wake_us: 40, "
                    "cold_wake_ms: 20, core_placement: wake, core_balance_ms: 4}\n"
                    "    count: 2\n"
                    "    host: box\n"
                    "    link: {base: gige, gilbert: {mean_loss: 0.05, "
                    "mean_burst_ms: 10}}\n"
                    "  - profile: rpi4b\n"
                    "    link: {base: gige, gilbert: {mean_loss: 0.02, "
                    "mean_burst_packets: 4}}\n"
                    "engine: {baseline: dllama, tcp: {quickack: false, tick_ms: 10, "
                    "cc: reno, rx_batch_us: 50, comp_sack_delay_us: 500, "
                    "comp_sack_slack_us: 0, comp_sack_nr: 0, "
                    "slow_start_after_idle: false, read_order: rank}}\n"
                    "workload: {tokens: 2}\n");
    halo_scenario *s = NULL;
    halo_err err = {0};
    ASSERT_OK_ERR(halo_scenario_load(&s, p, 0, &err), err);
    ASSERT_EQ(s->engine.collective, HALO_COLLECTIVE_MESH); /* the dllama preset's */
    ASSERT_EQ(s->engine.tcp.quickack, 0);
    ASSERT_EQ(s->engine.tcp.tick_ns, 10000000);
    ASSERT_EQ(s->engine.tcp.cc, HALO_TCP_CC_RENO);
    ASSERT_EQ(s->engine.tcp.rx_batch_ns, 50000);
    ASSERT_EQ(s->engine.tcp.comp_sack_delay_ns, 500000);
    ASSERT_EQ(s->engine.tcp.comp_sack_slack_ns, 0);
    ASSERT_EQ(s->engine.tcp.comp_sack_nr, 0);
    ASSERT_EQ(s->engine.tcp.slow_start_after_idle, 0);
    ASSERT_EQ(s->engine.tcp.read_order, HALO_TCP_READ_RANK);
    ASSERT_EQ(s->devices[0].profile.send_ns, 40000);
    ASSERT_EQ(s->devices[0].profile.recv_ns, 60000);
    ASSERT_NEAR(s->devices[0].profile.copy_ns_per_kb, 500, 1e-9);
    ASSERT_NEAR(s->devices[1].profile.host_mem_bw_bps, 36.5e9, 1);
    ASSERT_NEAR(s->devices[2].profile.host_mem_bw_bps, 0, 0);
    ASSERT_EQ(s->devices[1].profile.cold_wake_ns, 40000);
    ASSERT_EQ(s->devices[1].profile.cold_tau_ns, 20000000);
    ASSERT_EQ(s->devices[1].profile.core_placement, HALO_CORES_WAKE);
    ASSERT_EQ(s->devices[1].profile.core_balance_ns, 4000000);
    ASSERT_EQ(s->devices[2].profile.core_placement, HALO_CORES_SHARED);
    ASSERT(s->devices[0].profile.host > 0 &&
           s->devices[0].profile.host == s->devices[1].profile.host);
    ASSERT_EQ(s->devices[2].profile.host, 0);
    const halo_loss_spec *g = &s->devices[0].uplink.loss;
    ASSERT_EQ(g->model, HALO_LOSS_GILBERT);
    ASSERT_EQ(g->mean_bad_ns, 10000000);
    ASSERT_NEAR(halo_loss_mean(g), 0.05, 1e-9);
    const halo_loss_spec *k = &s->devices[2].uplink.loss;
    ASSERT_EQ(k->mean_bad_ns, 0);
    ASSERT_NEAR(k->p_bad_good, 0.25, 1e-12);
    ASSERT_NEAR(halo_loss_mean(k), 0.02, 1e-9);
    halo_scenario_free(s);

    /* Bad values of the engine keys, each named with its key (and file:line where given). */
    static const struct {
        const char *text, *want;
    } bad_engine[] = {
        {HEAD "engine: {collective: ring}\n" WORKLOAD,
         "bad.yaml:6: engine.collective: 'ring' is not one of star, mesh"},
        {HEAD "engine: {sync: relaxed, collective: mesh}\n" WORKLOAD,
         "engine.collective: mesh needs sync: strict"},
        {HEAD "engine: {tcp: {tick_ms: 1000}}\n" WORKLOAD,
         "engine.tcp.tick_ms: 1000 is not in [0, 100]"},
        {HEAD "engine: {tcp: {quickack: yes}}\n" WORKLOAD,
         "engine.tcp.quickack: expected true or false"},
        {HEAD "engine: {tcp: {cc: vegas}}\n" WORKLOAD,
         "bad.yaml:6: engine.tcp.cc: 'vegas' is not one of cubic, reno"},
        {HEAD "engine: {tcp: {read_order: sideways}}\n" WORKLOAD,
         "bad.yaml:6: engine.tcp.read_order: 'sideways' is not one of arrival, rank"},
        {HEAD "engine: {tcp: {comp_sack_nr: 256}}\n" WORKLOAD,
         "bad.yaml:6: engine.tcp.comp_sack_nr: 256 is not in [0, 255]"},
        {HEAD "engine: {tcp: {rx_batch_us: -1}}\n" WORKLOAD,
         "bad.yaml:6: engine.tcp.rx_batch_us: -1 is not in"},
        {HEAD "engine: {tcp: {slow_start_after_idle: 2}}\n" WORKLOAD,
         "engine.tcp.slow_start_after_idle: expected true or false"},
    };

    for (size_t i = 0; i < sizeof bad_engine / sizeof bad_engine[0]; i++)
        expect_fail(bad_engine[i].text, HALO_ERR_FORMAT, bad_engine[i].want, NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: {base: rpi4b, send_us: -1}\n"
                "    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT, "bad.yaml:3: devices[0].profile.send_us: -1 is not in", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n    host: box\n"
                "    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT, "devices[0].host", "need the profile's cores");
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n"
                "    link: {base: gige, gilbert: {mean_loss: 0.05}}\n" WORKLOAD,
                HALO_ERR_FORMAT, "gilbert", "mean_burst_ms (in time) or mean_burst_packets");
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n"
                "    link: {base: gige, gilbert: {mean_loss: 0.05, mean_burst_ms: 5, "
                "p_good_bad: 0.1}}\n" WORKLOAD,
                HALO_ERR_FORMAT, "gilbert", "give either p_good_bad and p_bad_good");
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n"
                "    link: {base: gige, gilbert: {mean_loss: 1, mean_burst_ms: 5}}\n" WORKLOAD,
                HALO_ERR_FORMAT, "gilbert: mean_loss 1 is not in [loss_good, loss_bad)", NULL);
}

/* A gilbert: mapping over a base's chain: one form given replaces the other inherited one
   (wifi's per-packet chain by a mean and a burst, a burst in time by one in packets, a mean
   form by a per-packet chain), keeping the base's loss_good and loss_bad; a form left
   incomplete by the replacement is named. */
static void a_gilbert_form_replaces_the_bases_other_form(void) {
    const char *p = tu_write_tmp("ge.yaml", "model: {shape: llama2-7b}\n"
                                            "devices:\n"
                                            "  - profile: rpi4b\n"
                                            "    link: {base: wifi, gilbert: {mean_loss: 0.05, "
                                            "mean_burst_packets: 3}}\n"
                                            "  - profile: rpi4b\n"
                                            "    link: {base: wifi, gilbert: {mean_loss: 0.02, "
                                            "mean_burst_ms: 10}}\n"
                                            "    downlink: {gilbert: {mean_burst_packets: 5}}\n"
                                            "  - profile: rpi4b\n"
                                            "    link: {base: wifi, gilbert: {mean_loss: 0.02, "
                                            "mean_burst_ms: 10}}\n"
                                            "    uplink: {gilbert: {p_good_bad: 0.02, "
                                            "p_bad_good: 0.5}}\n" WORKLOAD);
    halo_scenario *s = load_ok(p, 0);
    const halo_loss_spec *w = &s->devices[0].uplink.loss;
    ASSERT_EQ(w->model, HALO_LOSS_GILBERT);
    ASSERT_NEAR(w->loss_good, 0.001, 1e-12); /* wifi's */
    ASSERT_NEAR(w->loss_bad, 0.5, 1e-12);
    ASSERT_NEAR(w->p_bad_good, 1.0 / 3.0, 1e-12);
    ASSERT_NEAR(halo_loss_mean(w), 0.05, 1e-9);
    ASSERT_EQ(s->devices[1].uplink.loss.mean_bad_ns, 10000000);
    const halo_loss_spec *d = &s->devices[1].downlink.loss;
    ASSERT_EQ(d->mean_bad_ns, 0);
    ASSERT_NEAR(d->p_bad_good, 0.2, 1e-12);
    ASSERT_NEAR(halo_loss_mean(d), 0.02, 1e-9);
    const halo_loss_spec *u = &s->devices[2].uplink.loss;
    ASSERT_EQ(u->mean_bad_ns, 0);
    ASSERT_NEAR(u->p_good_bad, 0.02, 1e-12);
    ASSERT_NEAR(u->p_bad_good, 0.5, 1e-12);
    ASSERT_EQ(s->devices[2].downlink.loss.mean_bad_ns, 10000000);
    halo_scenario_free(s);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n"
                "    link: {base: wifi, gilbert: {mean_loss: 0.02, mean_burst_ms: 10}}\n"
                "    downlink: {gilbert: {p_good_bad: 0.02}}\n" WORKLOAD,
                HALO_ERR_FORMAT, "bad.yaml:5: devices[0].downlink.gilbert", "p_bad_good");
}

static void a_bad_value_in_a_sweep_fails_only_its_point(void) {
    const char *p = tu_write_tmp("axis.yaml", "model: {shape: llama2-7b}\ndevices:\n"
                                              "  - profile: rpi4b\n"
                                              "    link: {base: gige, loss: [0, 0.5,\n"
                                              "                             1.5]}\n" WORKLOAD);
    halo_scenario *s = load_ok(p, 1);
    ASSERT_EQ(s->n_points, 3);
    halo_scenario_free(s);
    halo_err err = {0};
    s = (halo_scenario *)1;
    ASSERT_EQ(halo_scenario_load(&s, p, 2, &err), HALO_ERR_FORMAT);
    ASSERT(s == NULL);
    ASSERT_STR_CONTAINS(err.msg, "axis.yaml:5: devices[0].link.loss: 1.5 is not in [0, 1)");
}

static void zero_devices_and_missing_keys_are_errors(void) {
    expect_fail("model: {shape: llama2-7b}\ndevices: []\n" WORKLOAD, HALO_ERR_FORMAT,
                "bad.yaml:2: devices: the list is empty", NULL);
    expect_fail("devices:\n  - profile: rpi4b\n    link: gige\n" WORKLOAD, HALO_ERR_FORMAT,
                "bad.yaml:1: model: required key is missing", NULL);
    expect_fail("model: {shape: llama2-7b}\n" WORKLOAD, HALO_ERR_FORMAT,
                "devices: required key is missing", NULL);
    expect_fail(HEAD, HALO_ERR_FORMAT, "workload: required key is missing", NULL);
    expect_fail(HEAD "workload: {prompt: hi}\n", HALO_ERR_FORMAT,
                "bad.yaml:6: workload.tokens: required key is missing", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n" WORKLOAD,
                HALO_ERR_FORMAT, "bad.yaml:3: devices[0].link: required key is missing", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - link: gige\n" WORKLOAD, HALO_ERR_FORMAT,
                "devices[0].profile: required key is missing", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices: [{profile: {gflops: 1, mem_bw_gbps: 1, "
                "mem_mb: 1}, link: gige}]\n" WORKLOAD,
                HALO_ERR_FORMAT, "devices[0].profile.storage_mbps: required key is missing", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices: [{profile: rpi4b, uplink: gige, downlink: "
                "{loss: 0.1}}]\n" WORKLOAD,
                HALO_ERR_FORMAT, "devices[0].downlink.bandwidth_mbps: required key is missing",
                NULL);
}

static void model_section_errors(void) {
    expect_fail("model: {}\ndevices: [{profile: rpi4b, link: gige}]\n" WORKLOAD, HALO_ERR_FORMAT,
                "bad.yaml:1: model: one of file or shape is required", NULL);
    expect_fail("model:\n  shape: llama2-7b\n  file: x.bin\ndevices: [{profile: rpi4b, link: "
                "gige}]\n" WORKLOAD,
                HALO_ERR_FORMAT, "bad.yaml:2: model: both file and shape", NULL);
    expect_fail("model:\n  shape: gpt-5\ndevices: [{profile: rpi4b, link: gige}]\n" WORKLOAD,
                HALO_ERR_FORMAT, "bad.yaml:2: model.shape: 'gpt-5' is not one of llama2-7b", NULL);
    expect_fail("model:\n  shape: llama2-7b\n  weights: q2\ndevices: [{profile: rpi4b, link: "
                "gige}]\n" WORKLOAD,
                HALO_ERR_FORMAT, "model.weights: 'q2' is not one of f32, q80, q40", NULL);
    expect_fail("model:\n  shape: llama2-7b\n  tokenizer: t.bin\ndevices: [{profile: rpi4b, "
                "link: gige}]\n" WORKLOAD,
                HALO_ERR_FORMAT, "bad.yaml:3: model.tokenizer: only allowed with model.file", NULL);
    expect_fail("model:\n  file: no-such-model.bin\ndevices: [{profile: rpi4b, link: "
                "gige}]\n" WORKLOAD,
                HALO_ERR_IO, "bad.yaml:2: model.file: cannot read", "no-such-model.bin");
    char text[512];
    (void)snprintf(text, sizeof text,
                   "model:\n  file: %s\ndevices: [{profile: rpi4b, link: gige}]\n" WORKLOAD,
                   tu_src_path("models"));
    expect_fail(text, HALO_ERR_IO, "model.file: cannot read", "not a regular file");
    (void)snprintf(text, sizeof text,
                   "model:\n  file: %s\ndevices: [{profile: rpi4b, link: gige}]\n" WORKLOAD,
                   tu_src_path("data/tinystories-valid-dev.txt"));
    expect_fail(text, HALO_ERR_IO, "bad.yaml:2: model.tokenizer: not given, and the default",
                "data/tok512.bin cannot be read");
}

static void named_profile_and_link_errors(void) {
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi9\n    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT, "bad.yaml:3: devices[0].profile: unknown profile 'rpi9'", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: rpi4b\n    link: carrier-"
                "pigeon\n" WORKLOAD,
                HALO_ERR_FORMAT, "devices[0].link: unknown link 'carrier-pigeon'", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: ../profiles/rpi4b\n"
                "    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT, "is not a valid profile name", NULL);
    expect_fail("model: {shape: llama2-7b}\ndevices:\n  - profile: {base: nope}\n"
                "    link: gige\n" WORKLOAD,
                HALO_ERR_FORMAT, "devices[0].profile.base: unknown profile 'nope'", NULL);
    /* Errors inside a named file name that file. */
    mkdir_tmp("named");
    mkdir_tmp("named/profiles");
    mkdir_tmp("named/links");
    tu_write_tmp("named/profiles/broken.yaml",
                 "profile:\n  gflops: [1, 2]\n  mem_bw_gbps: 1\n  source: x\n");
    tu_write_tmp("named/profiles/nosource.yaml",
                 "profile: {gflops: 1, mem_bw_gbps: 1, mem_mb: 1, storage_mbps: 1}\n");
    tu_write_tmp("named/links/loop.yaml", "link: {base: loop, source: x}\n");
    tu_write_tmp("named/links/notlink.yaml", "profile: {}\n");
    static const char *const cases[][3] = {
        {"broken", "gige",
         "profiles/broken.yaml:2: devices[0].profile.gflops: expected a number, "
         "got a list"},
        {"nosource", "gige", "profiles/nosource.yaml:1: devices[0].profile.source: required"},
        {"rpi4b", "loop", "base:' chain deeper"},
        {"rpi4b", "notlink", "links/notlink.yaml:1: link: expected one top-level key 'link'"},
    };
    for (int i = 0; i < 4; i++) {
        char text[512];
        (void)snprintf(text, sizeof text,
                       "model: {shape: llama2-7b}\ndevices: [{profile: %s, link: %s}]\n" WORKLOAD,
                       cases[i][0], cases[i][1]);
        const char *p = tu_write_tmp("named/s.yaml", text);
        halo_scenario *s = (halo_scenario *)1;
        halo_err err = {0};
        ASSERT_EQ(halo_scenario_load(&s, p, 0, &err), HALO_ERR_FORMAT);
        ASSERT(s == NULL);
        ASSERT_STR_CONTAINS(err.msg, cases[i][2]);
    }
}

static void a_missing_file_is_an_io_error(void) {
    const char *p = tu_tmp_path("does-not-exist.yaml");
    halo_scenario *s = (halo_scenario *)1;
    halo_err err = {0};
    ASSERT_EQ(halo_scenario_load(&s, p, 0, &err), HALO_ERR_IO);
    ASSERT(s == NULL);
    ASSERT_STR_CONTAINS(err.msg, p);
    ASSERT_STR_CONTAINS(err.msg, "cannot open");
    halo_scenario_free(NULL);
}

/* ==== Fuzz ==== */

static const char *const punct[] = {
    ":",  "-", "[",      "]",    "{",    "}",   ",",  "&a ",   "*a",    "!",    "|",  ">",
    "#",  "'", "\"",     "?",    "\n",   " ",   "\t", "%",     "@",     "`",    "- ", ": ",
    "\\", "~", "!!str ", "\n  ", "\n- ", "1e9", "-1", "---\n", "...\n", "&b [", "*b"};

/* Start of line `k` (of `n` lines) in buf[0..len), or len. */
static size_t line_start(const char *buf, size_t len, size_t k) {
    size_t at = 0;
    while (k > 0 && at < len) {
        const char *nl = memchr(buf + at, '\n', len - at);
        if (!nl)
            return len;
        at = (size_t)(nl - buf) + 1;
        k--;
    }
    return at;
}

static size_t count_lines(const char *buf, size_t len) {
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += buf[i] == '\n';
    return n;
}

/* One random mutation of buf[0..len) (capacity cap); returns the new length. */
static size_t mutate(char *buf, size_t len, size_t cap, halo_rng *rng) {
    uint64_t kind = halo_rng_u64(rng) % 6;
    if (len == 0)
        kind = 5;
    if (kind == 0) { /* bit flip, within ASCII (kind 4 writes arbitrary bytes) */
        size_t at = (size_t)(halo_rng_u64(rng) % len);
        buf[at] = (char)(buf[at] ^ (1u << (halo_rng_u64(rng) % 7)));
        return len;
    }
    if (kind == 1) /* truncation */
        return (size_t)(halo_rng_u64(rng) % len);
    size_t lines = count_lines(buf, len);
    size_t k = (size_t)(halo_rng_u64(rng) % lines);
    size_t a = line_start(buf, len, k), b = line_start(buf, len, k + 1);
    if (kind == 2) { /* line deletion */
        memmove(buf + a, buf + b, len - b);
        return len - (b - a);
    }
    if (kind == 3 && b > a && len + (b - a) <= cap) { /* line duplication */
        memmove(buf + b, buf + a, len - a);
        return len + (b - a);
    }
    if (kind == 4 && len > 0) { /* random byte */
        buf[halo_rng_u64(rng) % len] = (char)(halo_rng_u64(rng) % 256);
        return len;
    }
    /* insertion of YAML punctuation */
    const char *ins = punct[halo_rng_u64(rng) % (sizeof punct / sizeof punct[0])];
    size_t n = strlen(ins), at = len ? (size_t)(halo_rng_u64(rng) % (len + 1)) : 0;
    if (len + n > cap)
        return len;
    memmove(buf + at + n, buf + at, len - at);
    memcpy(buf + at, ins, n); // NOLINT(bugprone-not-null-terminated-result): bytes, not a string
    return len + n;
}

static void mutated_examples_load_or_fail_cleanly(void) {
    /* A mirror of the project layout, so that the examples' relative paths resolve. */
    mkdir_tmp("fz");
    mkdir_tmp("fz/scenarios");
    if (symlink(tu_src_path("models"), tu_tmp_path("fz/models")) != 0 ||
        symlink(tu_src_path("data"), tu_tmp_path("fz/data")) != 0)
        TEST_FAIL_AT("symlink failed");
    char path[4096];
    (void)snprintf(path, sizeof path, "%s", tu_tmp_path("fz/scenarios/mut.yaml"));
    halo_rng rng;
    halo_rng_init(&rng, 20240601);
    for (int e = 0; e < 3; e++) {
        size_t n;
        unsigned char *orig = tu_read_file(tu_src_path(examples[e]), &n);
        size_t cap = 2 * n + 256;
        char *buf = malloc(cap);
        ASSERT(buf != NULL);
        int ok = 0, failed = 0;
        for (int round = 0; round < FUZZ_ROUNDS; round++) {
            memcpy(buf, orig, n);
            size_t len = n;
            int muts = 1 + (int)(halo_rng_u64(&rng) % 4);
            for (int m = 0; m < muts; m++)
                len = mutate(buf, len, cap, &rng);
            tu_write_file(path, buf, len);
            halo_scenario *s = (halo_scenario *)1;
            halo_err err = {0};
            int rc = halo_scenario_load(&s, path, 0, &err);
            if (rc == HALO_OK) {
                ASSERT(s != NULL);
                ASSERT(s->n_devices >= 1 && s->n_devices <= 1024);
                ASSERT(s->n_points >= 1 && s->point == 0);
                ASSERT((s->model_file != NULL) != (s->shape_name != NULL));
                ASSERT(s->tokens >= 1 && s->runs >= 1 && s->engine.placement && s->prompt);
                halo_scenario_free(s);
                ok++;
            } else {
                if (rc != HALO_ERR_FORMAT && rc != HALO_ERR_IO && rc != HALO_ERR_ARG)
                    TEST_FAIL_AT("%s round %d: code %d (%s)", examples[e], round, rc, err.msg);
                ASSERT(s == NULL);
                ASSERT(err.msg[0] != '\0');
                ASSERT_STR_CONTAINS(err.msg, "mut.yaml");
                failed++;
            }
        }
        /* Both outcomes occur, or the mutations are not exercising anything. */
        ASSERT(ok > 0 && failed > 0);
        free(buf);
        free(orig);
    }
}

/* Every point of every scenario the project ships loads (profiles and links are checked
   elsewhere, by the scenarios that name them). */
static void every_bundled_scenario_loads_at_every_point(void) {
    static const char *const dirs[] = {"scenarios", "scenarios/bench", "scenarios/calibration"};
    int files = 0;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char dir[4096];
        (void)snprintf(dir, sizeof dir, "%s", tu_src_path(dirs[i]));
        DIR *d = opendir(dir);
        ASSERT(d != NULL);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            size_t n = strlen(e->d_name);
            if (n < 6 || strcmp(e->d_name + n - 5, ".yaml") != 0)
                continue;
            char path[8192];
            (void)snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            halo_scenario *s = load_ok(path, 0);
            long points = s->n_points;
            halo_scenario_free(s);
            for (long p = 1; p < points; p++)
                halo_scenario_free(load_ok(path, p));
            files++;
        }
        closedir(d);
    }
    ASSERT(files >= 10);
}

/* engine.simulator picks the network engine; a list sweeps it like any scalar. */
static void engine_simulator_selects_and_sweeps_the_network_engine(void) {
    const char *p = tu_write_tmp("sim.yaml", "model: {shape: llama2-7b}\n"
                                             "devices: [{profile: rpi4b, link: gige}]\n"
                                             "engine: {simulator: [sim, ns3]}\n"
                                             "workload: {tokens: 2}\n");
    for (long pt = 0; pt < 2; pt++) {
        halo_scenario *s = load_ok(p, pt);
        ASSERT_EQ(s->n_points, 2);
        ASSERT_EQ(s->engine.simulator, pt == 0 ? HALO_SIMULATOR_SIM : HALO_SIMULATOR_NS3);
        halo_scenario_free(s);
    }
    expect_fail("model: {shape: llama2-7b}\ndevices: [{profile: rpi4b, link: gige}]\n"
                "engine: {simulator: omnet}\nworkload: {tokens: 2}\n",
                HALO_ERR_FORMAT, "engine.simulator", "omnet");
}

/* `paper: true` marks the paper's own setup (issue 17: the paper's numbers in figures only
   beside it); anything but true or false is an error naming the key. */
static void paper_flag_marks_the_papers_setup(void) {
    halo_scenario *s = load_ok(tu_write_tmp("paper.yaml", "paper: true\n" HEAD WORKLOAD), 0);
    ASSERT_EQ(s->paper, 1);
    halo_scenario_free(s);
    s = load_ok(tu_src_path("scenarios/sweep-loss.yaml"), 0);
    ASSERT_EQ(s->paper, 1);
    halo_scenario_free(s);
    s = load_ok(tu_write_tmp("paper0.yaml", "paper: false\n" HEAD WORKLOAD), 0);
    ASSERT_EQ(s->paper, 0);
    halo_scenario_free(s);
    expect_fail("paper: maybe\n" HEAD WORKLOAD, HALO_ERR_FORMAT, "paper", "maybe");
}

TEST_MAIN(TEST(tiny_loss_sweeps_loss_over_three_points), TEST(paper_flag_marks_the_papers_setup),
          TEST(every_bundled_scenario_loads_at_every_point),
          TEST(engine_simulator_selects_and_sweeps_the_network_engine),
          TEST(fidelity_keys_load_and_bad_values_are_named),
          TEST(headline_is_7b_q40_on_eight_pis_with_lossy_workers),
          TEST(hetero_mixes_profiles_and_sweeps_placement_and_sync),
          TEST(shapes_are_consistent_and_unknown_shape_is_arg),
          TEST(sweep_points_are_mixed_radix_in_document_order_last_fastest),
          TEST(point_out_of_range_is_an_argument_error),
          TEST(a_sweep_of_profile_names_and_link_overrides_applies_per_point),
          TEST(defaults_fill_every_optional_key), TEST(engine_keys_and_baselines_resolve),
          TEST(named_files_beside_the_scenario_come_first), TEST(anchors_and_aliases_are_copied),
          TEST(syntax_errors_name_the_file_and_line), TEST(wrong_types_are_errors),
          TEST(unknown_keys_are_errors), TEST(values_out_of_range_are_errors),
          TEST(a_variable_in_a_sweep_list_is_substituted), TEST(an_empty_name_is_an_error),
          TEST(a_gilbert_form_replaces_the_bases_other_form),
          TEST(a_bad_value_in_a_sweep_fails_only_its_point),
          TEST(zero_devices_and_missing_keys_are_errors), TEST(model_section_errors),
          TEST(named_profile_and_link_errors), TEST(a_missing_file_is_an_io_error),
          TEST(mutated_examples_load_or_fail_cleanly))
