/*
 * The one engine configuration (core/engine.h): presets map a baseline name to settings in
 * one place; keys parse with messages that name the value; the checks between keys and
 * against the world; and the three front-ends (a scenario's engine: section, a cluster
 * file's engine: section, engine flags as the command line gives them) produce the same
 * configuration for the same settings.
 */
#define _POSIX_C_SOURCE 200809L

#include "core/engine.h"
#include "core/importance.h"
#include "core/plan.h"
#include "core/wire.h"
#include "net/clusterfile.h"
#include "sim/scenario.h"
#include "tests/test.h"
#include "tests/testutil.h"

#include <float.h>
#include <stdio.h>
#include <string.h>

static void json_of(const halo_engine_config *c, char *buf, size_t cap) {
    size_t need = halo_engine_config_json(c, buf, cap);
    ASSERT(need < cap);
}

static void presets_map_names_to_settings(void) {
    static const struct {
        const char *name;
        int policy, importance, adaptive, redundancy, delivery;
        const char *placement;
    } want[] = {
        {"dllama", HALO_SYNC_POLICY_STRICT, HALO_ENGINE_IMPORTANCE_NONE, 0, 1, HALO_DELIVERY_STREAM,
         "equal"},
        {"balanced", HALO_SYNC_POLICY_STRICT, HALO_ENGINE_IMPORTANCE_NONE, 0, 1,
         HALO_DELIVERY_STREAM, "balanced"},
        {"relaxed", HALO_SYNC_POLICY_RELAXED, HALO_ENGINE_IMPORTANCE_NONE, 0, 1,
         HALO_DELIVERY_DATAGRAM, "equal"},
        {"halo", HALO_SYNC_POLICY_RELAXED, HALO_SCORING_PREDICTOR, 1, 2, HALO_DELIVERY_DATAGRAM,
         "balanced-host"},
        {"strict-datagram", HALO_SYNC_POLICY_RELAXED, HALO_ENGINE_IMPORTANCE_NONE, 1, 1,
         HALO_DELIVERY_DATAGRAM, "equal"},
        {"strict-tcp-tuned", HALO_SYNC_POLICY_STRICT, HALO_ENGINE_IMPORTANCE_NONE, 0, 1,
         HALO_DELIVERY_STREAM, "equal"},
    };

    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        halo_engine_config c;
        halo_engine_config_init(&c);
        ASSERT_OK(halo_engine_preset(&c, want[i].name, NULL));
        ASSERT_OK(halo_engine_config_finish(&c, 4, 1, HALO_ENGINE_WHERE_SIM, NULL, NULL));
        ASSERT_EQ(c.policy, want[i].policy);
        ASSERT_EQ(c.importance, want[i].importance);
        ASSERT_EQ(c.adaptive_deadline, want[i].adaptive);
        ASSERT_EQ(c.redundancy, want[i].redundancy);
        ASSERT_EQ(c.delivery, want[i].delivery);
        ASSERT(strcmp(c.placement, want[i].placement) == 0);
        ASSERT(strcmp(c.baseline, want[i].name) == 0);
        halo_engine_config_free(&c);
    }
    /* a shape has no activations: the halo preset scores synthetically there */
    halo_engine_config c;
    halo_engine_config_init(&c);
    ASSERT_OK(halo_engine_preset(&c, "halo", NULL));
    ASSERT_OK(halo_engine_config_finish(&c, 8, 0, HALO_ENGINE_WHERE_SIM, NULL, NULL));
    ASSERT_EQ(c.importance, HALO_SCORING_SYNTHETIC);
    ASSERT_EQ(c.redundancy_on_loss, 1); /* no loss, no copies */
    halo_engine_config_free(&c);
    halo_err err = {0};
    halo_engine_config_init(&c);
    ASSERT_EQ(halo_engine_preset(&c, "fastest", &err), HALO_ERR_ARG);
    ASSERT_STR_CONTAINS(err.msg, "'fastest' is not one of dllama, balanced, relaxed, halo, "
                                 "strict-datagram, strict-tcp-tuned");
    halo_engine_config_free(&c);
}

/* The placement halo_engine_new resolves for `spec` on n devices of equal speed whose
   messages cost send_us + recv_us of host time each plus copy_ns_per_kb per KiB, collective
   star, f32 payloads. */
static void host_kib_placement(const char *spec, int n, double host_us, double copy_ns_per_kb,
                               char *out, size_t cap) {
    halo_engine_config c;
    halo_engine_config_init(&c);
    ASSERT_OK(halo_engine_set(&c, "placement", spec, NULL));
    ASSERT_OK(halo_engine_set(&c, "encoding", "f32", NULL));
    ASSERT_OK(halo_engine_config_finish(&c, n, 0, HALO_ENGINE_WHERE_SIM, NULL, NULL));
    halo_model *m = tu_shape_model("llama2-7b", HALO_WEIGHT_Q40);
    halo_engine_device dev[8] = {{0}};
    for (int d = 0; d < n; d++)
        dev[d] = (halo_engine_device){.speed = 5.74e9, /* Q4_0 weights/s of a Pi 4B */
                                      .send_ns = (uint64_t)(host_us * 1e3),
                                      .recv_ns = (uint64_t)(host_us * 1e3),
                                      .copy_ns_per_kb = copy_ns_per_kb};
    halo_engine_env env = {.model = m, .n_devices = n, .devices = dev};
    halo_engine *e = NULL;
    ASSERT_OK(halo_engine_new(&e, &c, &env, NULL));
    (void)snprintf(out, cap, "%s", halo_engine_placement(e));
    halo_engine_free(e);
    halo_model_free(m);
    halo_engine_config_free(&c);
}

/* The encoding a built engine holds for a config's `encoding` (NULL: the default) on a
   llama2-7b shape of weights `wt`. */
static int built_encoding(const char *encoding, int wt) {
    halo_engine_config c;
    halo_engine_config_init(&c);
    if (encoding)
        ASSERT_OK(halo_engine_set(&c, "encoding", encoding, NULL));
    ASSERT_OK(halo_engine_config_finish(&c, 4, 0, HALO_ENGINE_WHERE_SIM, NULL, NULL));
    halo_model *m = tu_shape_model("llama2-7b", wt);
    halo_engine_env env = {.model = m, .n_devices = 4};
    halo_engine *e = NULL;
    ASSERT_OK(halo_engine_new(&e, &c, &env, NULL));
    int enc = halo_engine_get_config(e)->encoding;
    halo_engine_free(e);
    halo_model_free(m);
    halo_engine_config_free(&c);
    return enc;
}

/* encoding auto: q8 payloads for block-quantised weights (as distributed-llama's q80 buffer
   beside Q40), f32 for float weights; the default is f32 whatever the weights (exact); a set
   encoding is kept; the config's text says auto until an engine resolves it. */
static void encoding_auto_follows_the_weights(void) {
    ASSERT_EQ(built_encoding("auto", HALO_WEIGHT_Q40), HALO_ENCODING_Q8);
    ASSERT_EQ(built_encoding("auto", HALO_WEIGHT_Q80), HALO_ENCODING_Q8);
    ASSERT_EQ(built_encoding("auto", HALO_WEIGHT_F32), HALO_ENCODING_F32);
    ASSERT_EQ(built_encoding("auto", HALO_WEIGHT_F16), HALO_ENCODING_F32);
    ASSERT_EQ(built_encoding(NULL, HALO_WEIGHT_Q40), HALO_ENCODING_F32);
    ASSERT_EQ(built_encoding("f32", HALO_WEIGHT_Q40), HALO_ENCODING_F32);
    ASSERT_EQ(built_encoding("q8", HALO_WEIGHT_F32), HALO_ENCODING_Q8);
    halo_engine_config c;
    halo_engine_config_init(&c);
    ASSERT_OK(halo_engine_set(&c, "encoding", "auto", NULL));
    char text[2048];
    ASSERT(halo_engine_config_json(&c, text, sizeof text) < sizeof text);
    ASSERT(strstr(text, "\"encoding\": \"auto\"") != NULL);
    halo_engine_config_free(&c);
}

static void host_placement(const char *spec, int n, double host_us, char *out, size_t cap) {
    host_kib_placement(spec, n, host_us, 0, out, cap);
}

/* "balanced-host" (the halo preset's split): the star's root serialises 2 (N-1) messages per
   block, so with the fitted Pi 4B host costs it only coordinates 8 boards; with two devices
   both pay one message each way (an equal split); without host costs it is "balanced". */
static void balanced_host_relieves_the_root(void) {
    char a[512], b[512];
    host_placement("balanced-host", 8, 311, a, sizeof a);
    ASSERT(strncmp(a, "weights:1e-09,", 14) == 0);
    host_placement("balanced-host", 8, 0, a, sizeof a);
    host_placement("balanced", 8, 0, b, sizeof b);
    ASSERT(strcmp(a, b) == 0);
    host_placement("balanced-host", 2, 311, a, sizeof a);
    double w0 = 0, w1 = 0;
    ASSERT_EQ(sscanf(a, "weights:%lf,%lf", &w0, &w1), 2);
    ASSERT_NEAR(w0, w1, 1e-6 * w1);
    /* 4 boards with small host costs: the root keeps a share, smaller than a worker's */
    host_placement("balanced-host", 4, 50, a, sizeof a);
    ASSERT_EQ(sscanf(a, "weights:%lf,%lf", &w0, &w1), 2);
    ASSERT(w0 > 0.5 * w1 && w0 < w1);
}

/* A host cost per KiB only (the Pi 4B profile's copy_ns_per_kb, send_us = recv_us = 0) relieves
   the root like the per-message cost it amounts to: llama2-7b's star messages carry 4096 f32
   values (16 KiB and a header), so 3125 ns per KiB on each side is about 50 us per message; the
   root keeps a share smaller than a worker's and than balanced's, close to the per-message
   one's. With the fitted Pi 4B copy cost it only coordinates 8 boards; zero costs of every kind
   give "balanced". */
static void balanced_host_sees_a_per_kib_cost(void) {
    char a[512], b[512];
    double w0 = 0, w1 = 0, m0 = 0, m1 = 0, b0 = 0, b1 = 0;
    host_kib_placement("balanced-host", 4, 0, 3125, a, sizeof a);
    ASSERT_EQ(sscanf(a, "weights:%lf,%lf", &w0, &w1), 2);
    host_placement("balanced-host", 4, 50, b, sizeof b);
    ASSERT_EQ(sscanf(b, "weights:%lf,%lf", &m0, &m1), 2);
    host_placement("balanced", 4, 0, b, sizeof b);
    ASSERT_EQ(sscanf(b, "weights:%lf,%lf", &b0, &b1), 2);
    ASSERT(w0 > 0.5 * w1 && w0 < w1);
    ASSERT(w0 / w1 < b0 / b1);
    ASSERT_NEAR(w0 / w1, m0 / m1, 0.02);
    host_kib_placement("balanced-host", 8, 0, 70930.5614, a, sizeof a);
    ASSERT(strncmp(a, "weights:1e-09,", 14) == 0);
    host_kib_placement("balanced-host", 8, 0, 0, a, sizeof a);
    host_placement("balanced", 8, 0, b, sizeof b);
    ASSERT(strcmp(a, b) == 0);
}

/* The fair baselines: strict over datagrams awaits every device and resends after the
   adaptive timeout; tuned TCP is dllama with a 5 ms minimum RTO; a later preset takes back
   what an earlier one set, explicit keys stay. */
static void fair_baselines_are_presets(void) {
    halo_engine_config c;
    halo_engine_config_init(&c);
    ASSERT_OK(halo_engine_set(&c, "baseline", "strict-datagram", NULL));
    ASSERT_OK(halo_engine_config_finish(&c, 8, 0, HALO_ENGINE_WHERE_SIM, NULL, NULL));
    ASSERT(c.critical && strcmp(c.critical, "all") == 0);
    ASSERT_EQ(c.collective, HALO_COLLECTIVE_STAR);
    ASSERT_EQ(c.redundancy, 1);
    halo_engine_device dev[8] = {{0}};
    halo_model *m = NULL;
    m = tu_shape_model("tinyllama-1.1b", HALO_WEIGHT_Q40);
    halo_engine_env env = {.model = m, .n_devices = 8, .devices = dev};
    for (int d = 0; d < 8; d++)
        dev[d] = (halo_engine_device){.speed = 1, .loss = d ? 0.05 : 0};
    halo_engine *e = NULL;
    ASSERT_OK(halo_engine_new(&e, &c, &env, NULL));
    const halo_sync_config *sy = halo_engine_sync(e);
    for (int d = 1; d < 8; d++)
        ASSERT_EQ(sy->critical[d], 1);
    ASSERT(sy->adaptive);
    ASSERT(!sy->plan_fn);
    ASSERT_EQ(sy->slow_safe, 0); /* simulated worlds: off unless asked */
    halo_engine_free(e);
    /* slow_safe: the socket root's deadline rules reach the simulated root */
    ASSERT_OK(halo_engine_set(&c, "slow_safe", "true", NULL));
    ASSERT_OK(halo_engine_new(&e, &c, &env, NULL));
    ASSERT_EQ(halo_engine_sync(e)->slow_safe, 1);
    halo_engine_free(e);
    halo_model_free(m);
    halo_engine_config_free(&c);

    halo_engine_config_init(&c);
    ASSERT_OK(halo_engine_set(&c, "baseline", "strict-tcp-tuned", NULL));
    ASSERT_OK(halo_engine_config_finish(&c, 8, 0, HALO_ENGINE_WHERE_SIM, NULL, NULL));
    ASSERT_EQ(c.tcp.rto_min_ns, 5000000u);
    ASSERT_EQ(c.collective, HALO_COLLECTIVE_MESH);
    /* another preset over it (a command line's over a file's) restores Linux's 200 ms */
    ASSERT_OK(halo_engine_set(&c, "baseline", "dllama", NULL));
    ASSERT_EQ(c.tcp.rto_min_ns, 200000000u);
    halo_engine_config_free(&c);

    /* explicit keys win over the presets, before or after them */
    halo_engine_config_init(&c);
    ASSERT_OK(halo_engine_set(&c, "tcp.rto_min_ms", "20", NULL));
    ASSERT_OK(halo_engine_set(&c, "critical", "2", NULL));
    ASSERT_OK(halo_engine_set(&c, "baseline", "strict-tcp-tuned", NULL));
    ASSERT_EQ(c.tcp.rto_min_ns, 20000000u);
    ASSERT_OK(halo_engine_set(&c, "baseline", "strict-datagram", NULL));
    ASSERT(strcmp(c.critical, "2") == 0);
    halo_engine_config_free(&c);
    /* halo over strict-datagram awaits no device by default again */
    halo_engine_config_init(&c);
    ASSERT_OK(halo_engine_set(&c, "baseline", "strict-datagram", NULL));
    ASSERT_OK(halo_engine_set(&c, "baseline", "halo", NULL));
    ASSERT(c.critical == NULL);
    halo_engine_config_free(&c);
}

static void explicit_keys_override_the_preset_in_any_order(void) {
    halo_engine_config a, b;
    halo_engine_config_init(&a);
    halo_engine_config_init(&b);
    /* a key set before the preset survives it, as one set after it */
    ASSERT_OK(halo_engine_set(&a, "sync", "strict", NULL));
    ASSERT_OK(halo_engine_set(&a, "baseline", "relaxed", NULL));
    ASSERT_OK(halo_engine_set(&b, "baseline", "relaxed", NULL));
    ASSERT_OK(halo_engine_set(&b, "sync", "strict", NULL));
    ASSERT_OK(halo_engine_config_finish(&a, 2, 1, HALO_ENGINE_WHERE_SIM, NULL, NULL));
    ASSERT_OK(halo_engine_config_finish(&b, 2, 1, HALO_ENGINE_WHERE_SIM, NULL, NULL));
    ASSERT_EQ(a.policy, HALO_SYNC_POLICY_STRICT);
    ASSERT_EQ(a.delivery, HALO_DELIVERY_STREAM); /* derived from the final policy */
    char ja[4096], jb[4096];
    json_of(&a, ja, sizeof ja);
    json_of(&b, jb, sizeof jb);
    ASSERT(strcmp(ja, jb) == 0);
    halo_engine_config_free(&a);
    halo_engine_config_free(&b);
}

static void bad_values_and_combinations_are_named(void) {
    static const struct {
        const char *key, *value, *needle;
    } bad[] = {
        {"tau", "0", "0 is not in (0, 1]"},
        {"tau", "x", "expected a number, got 'x'"},
        {"redundancy", "9", "9 is not in [1, 8]"},
        {"redundancy", "1.5", "expected an integer, got '1.5'"},
        {"sync", "lax", "'lax' is not one of strict, relaxed"},
        {"adaptive_deadline", "yes", "expected true or false, got 'yes'"},
        {"split_classifier", "sometimes", "expected true, false or auto, got 'sometimes'"},
        {"critical", "1,,2", "'1,,2' is not a list of device numbers"},
        {"tcp.rto_min_ms", "0", "0 is not in (0, 1e+07]"},
        {"no_such_key", "1", "unknown engine key 'no_such_key'"},
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        halo_engine_config c;
        halo_engine_config_init(&c);
        halo_err err = {0};
        ASSERT_EQ(halo_engine_set(&c, bad[i].key, bad[i].value, &err), HALO_ERR_ARG);
        ASSERT_STR_CONTAINS(err.msg, bad[i].needle);
        ASSERT(!halo_engine_is_set(&c, bad[i].key));
        halo_engine_config_free(&c);
    }

    static const struct {
        const char *keys[4][2];
        int n_devices, has_weights, where;
        const char *bad_key, *needle;
    } combos[] = {
        {{{"importance", "predictor"}},
         4,
         1,
         HALO_ENGINE_WHERE_SIM,
         "importance",
         "needs sync: relaxed"},
        {{{"sync", "relaxed"}, {"importance", "oracle"}},
         4,
         0,
         HALO_ENGINE_WHERE_SIM,
         "importance",
         "a shape has no activations"},
        {{{"critical", "4"}}, 4, 1, HALO_ENGINE_WHERE_SIM, "critical", "device numbers in 0..3"},
        {{{"placement", "weights:1,2"}},
         3,
         1,
         HALO_ENGINE_WHERE_SIM,
         "placement",
         "needs 3 positive weights"},
        {{{"placement", "weights:0,1,1"}},
         3,
         1,
         HALO_ENGINE_WHERE_SIM,
         "placement",
         "got one that is not a number above 0"},
        {{{"tcp.rto_min_ms", "2000"}},
         2,
         1,
         HALO_ENGINE_WHERE_SIM,
         "tcp",
         "rto_min_ms <= rto_init_ms"},
        {{{"deadline_min_ms", "5"}, {"deadline_max_ms", "1"}},
         2,
         1,
         HALO_ENGINE_WHERE_SIM,
         "",
         "deadline_min_ms <= deadline_max_ms"},
        {{{"tcp.tlp", "false"}},
         2,
         1,
         HALO_ENGINE_WHERE_NET,
         "tcp.tlp",
         "has no effect in socket clusters"},
        {{{"memory_budget", "true"}},
         2,
         1,
         HALO_ENGINE_WHERE_LOOP,
         "memory_budget",
         "only simulated devices stream"},
        {{{"delivery", "stream"}}, 2, 1, HALO_ENGINE_WHERE_LOOP, "delivery", "in-process"},
    };

    for (size_t i = 0; i < sizeof combos / sizeof combos[0]; i++) {
        halo_engine_config c;
        halo_engine_config_init(&c);
        for (int k = 0; k < 4 && combos[i].keys[k][0]; k++)
            ASSERT_OK(halo_engine_set(&c, combos[i].keys[k][0], combos[i].keys[k][1], NULL));
        halo_err err = {0};
        const char *at = NULL;
        ASSERT_EQ(halo_engine_config_finish(&c, combos[i].n_devices, combos[i].has_weights,
                                            combos[i].where, &at, &err),
                  HALO_ERR_ARG);
        ASSERT(at && strcmp(at, combos[i].bad_key) == 0);
        ASSERT_STR_CONTAINS(err.msg, combos[i].needle);
        halo_engine_config_free(&c);
    }
}

/* Attention and FFN groups per device (layer 0) of a weights: placement over `g`. */
static void split_of(const halo_groups *g, const char *spec, int n, int *attn, int *ffn) {
    halo_placement p;
    halo_err err = {0};
    ASSERT_OK_ERR(halo_placement_parse(&p, g, n, spec, &err), err);
    for (int d = 0; d < n; d++)
        (void)halo_placement_count(&p, 0, d, &attn[d], &ffn[d]);
    halo_placement_free(&p);
}

/* Only the weights' ratios count, whatever their magnitude: n * w / sum overflowed for
   weights near DBL_MAX (an infinite share, then (int)floor(inf)), and an infinite sum put
   every group on device 0. The engine key takes every finite positive weight. */
static void placement_weights_of_any_magnitude_split_by_ratio(void) {
    halo_model_config mc = tu_model_shape("mesh");
    halo_groups g;
    ASSERT_OK(halo_groups_init(&g, &mc, 32, NULL));

    static const struct {
        int n;
        const char *spec, *same_as;
    } cases[] = {
        {2, "weights:1e308,1e308", "equal"},
        {2, "weights:1.7976931348623157e308,1.7976931348623157e308", "equal"},
        {2, "weights:3e-308,3e-308", "equal"},
        {2, "weights:1e300,3e300", "weights:1,3"},
        {3, "weights:2e307,4e307,1e307", "weights:2,4,1"},
        {2, "weights:1e-300,1e308", "weights:1e-300,1"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = cases[i].n;
        int a[3], f[3], ea[3], ef[3];
        split_of(&g, cases[i].spec, n, a, f);
        split_of(&g, cases[i].same_as, n, ea, ef);
        for (int d = 0; d < n; d++) {
            if (a[d] != ea[d] || f[d] != ef[d])
                TEST_FAIL_AT("%s: device %d has %d/%d groups, %s gives %d/%d", cases[i].spec, d,
                             a[d], f[d], cases[i].same_as, ea[d], ef[d]);
        }
        halo_engine_config c;
        halo_engine_config_init(&c);
        ASSERT_OK(halo_engine_set(&c, "placement", cases[i].spec, NULL));
        halo_err err = {0};
        ASSERT_OK_ERR(halo_engine_config_finish(&c, n, 1, HALO_ENGINE_WHERE_SIM, NULL, &err), err);
        halo_engine_config_free(&c);
    }
    /* all on the larger weight: the other's share rounds to nothing */
    int a[2], f[2];
    split_of(&g, "weights:1,1e308", 2, a, f);
    ASSERT_EQ(a[0] + f[0], 0);
    ASSERT_EQ(a[1], g.n_attn);
    ASSERT_EQ(f[1], g.n_ffn);
    /* zero, negative, infinite and overflowing weights stay refused */
    static const char *const bad[] = {"weights:0,1", "weights:-1,1", "weights:inf,1",
                                      "weights:1e309,1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        halo_placement p;
        halo_err err = {0};
        ASSERT_EQ(halo_placement_parse(&p, &g, 2, bad[i], &err), HALO_ERR_ARG);
        halo_engine_config c;
        halo_engine_config_init(&c);
        ASSERT_OK(halo_engine_set(&c, "placement", bad[i], NULL));
        ASSERT_EQ(halo_engine_config_finish(&c, 2, 1, HALO_ENGINE_WHERE_SIM, NULL, &err),
                  HALO_ERR_ARG);
        ASSERT_STR_CONTAINS(err.msg, "positive weights");
        halo_engine_config_free(&c);
    }
}

/* The same settings through a scenario, a cluster file and command-line flags. */
static void three_front_ends_give_equal_configs(void) {
    static const char *const keys[][2] = {
        {"baseline", "halo"},
        {"deadline_ms", "7.5"},
        {"tau", "0.8"},
        {"redundancy", "3"},
        {"encoding", "q8"},
        {"group_size", "16"},
        {"critical", "1"},
        {"adaptive_deadline", "false"},
        {"place_critical", "false"},
        {"placement", "weights:1,2,3,4"},
        {"deadline_max_ms", "250"},
    };

    enum {
        N = sizeof keys / sizeof keys[0]
    };

    char engine_yaml[2048] = "", scen[4096], clus[4096];
    size_t used = 0;
    for (int i = 0; i < N; i++)
        used += (size_t)snprintf(engine_yaml + used, sizeof engine_yaml - used, "  %s: %s%s%s\n",
                                 keys[i][0], keys[i][1][0] == 'w' ? "'" : "", keys[i][1],
                                 keys[i][1][0] == 'w' ? "'" : "");
    (void)snprintf(scen, sizeof scen,
                   "model: {file: %s}\n"
                   "devices: [{profile: rpi4b, count: 4, link: gige}]\n"
                   "engine:\n%s"
                   "workload: {tokens: 2}\n",
                   tu_src_path("models/stories260K.bin"), engine_yaml);
    (void)snprintf(clus, sizeof clus,
                   "key: k.key\nworkers: [127.0.0.1:7001, 127.0.0.1:7002, 127.0.0.1:7003]\n"
                   "engine:\n%s",
                   engine_yaml);
    char want[4096], got[4096];

    /* the command line: flags as text, applied over the defaults */
    halo_engine_args args = {0};
    for (int i = 0; i < N; i++)
        args.value[halo_engine_key_find(keys[i][0])] = keys[i][1];
    halo_engine_config cli;
    halo_engine_config_init(&cli);
    ASSERT_OK(halo_engine_args_apply(&cli, &args, NULL, NULL));
    ASSERT_OK(halo_engine_config_finish(&cli, 4, 1, HALO_ENGINE_WHERE_SIM, NULL, NULL));
    json_of(&cli, want, sizeof want);

    halo_scenario *sc = NULL;
    halo_err err = {0};
    int rc = halo_scenario_load(&sc, tu_write_tmp("fe.yaml", scen), 0, &err);
    ASSERT_OK_ERR(rc, err);
    json_of(&sc->engine, got, sizeof got);
    ASSERT(strcmp(want, got) == 0);
    halo_scenario_free(sc);

    halo_clusterfile cf;
    rc = halo_clusterfile_load(&cf, tu_write_tmp("fe-cluster.yaml", clus), &err);
    ASSERT_OK_ERR(rc, err);
    ASSERT_OK(halo_clusterfile_finish(&cf, 1, &err));
    json_of(&cf.engine, got, sizeof got);
    ASSERT(strcmp(want, got) == 0);
    halo_clusterfile_free(&cf);

    /* and the flags over a file override its section, key by key */
    rc = halo_clusterfile_load(&cf, tu_write_tmp("fe-cluster.yaml", clus), &err);
    ASSERT_OK(rc);
    halo_engine_args over = {0};
    over.value[halo_engine_key_find("tau")] = "0.5";
    ASSERT_OK(halo_engine_args_apply(&cf.engine, &over, NULL, NULL));
    ASSERT_OK(halo_clusterfile_finish(&cf, 1, &err));
    ASSERT_NEAR(cf.engine.tau, 0.5, 1e-12);
    ASSERT_EQ(cf.engine.redundancy, 3);
    halo_clusterfile_free(&cf);
    halo_engine_config_free(&cli);
}

/* The scenario's errors point at the key's line; the cluster file refuses keys that do not
   apply to sockets with the same words. */
static void yaml_front_ends_place_errors_at_the_key(void) {
    char text[1024];
    (void)snprintf(text, sizeof text,
                   "model: {file: %s}\n"
                   "devices: [{profile: rpi4b, count: 2, link: gige}]\n"
                   "engine:\n"
                   "  sync: strict\n"
                   "  importance: oracle\n"
                   "workload: {tokens: 2}\n",
                   tu_src_path("models/stories260K.bin"));
    halo_scenario *sc = NULL;
    halo_err err = {0};
    ASSERT_EQ(halo_scenario_load(&sc, tu_write_tmp("e1.yaml", text), 0, &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, "e1.yaml:5: engine.importance: needs sync: relaxed");
    halo_clusterfile cf;
    const char *p = tu_write_tmp("e2.yaml", "key: k.key\nworkers: [127.0.0.1:7001]\n"
                                            "engine:\n  tcp: {tlp: false}\n");
    ASSERT_OK(halo_clusterfile_load(&cf, p, &err));
    ASSERT_EQ(halo_clusterfile_finish(&cf, 1, &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, "e2.yaml:4: engine.tcp.tlp: has no effect in socket clusters");
    halo_clusterfile_free(&cf);
    p = tu_write_tmp("e3.yaml", "key: k.key\nworkers: [127.0.0.1:7001]\nsync: strict\n");
    ASSERT_EQ(halo_clusterfile_load(&cf, p, &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, "e3.yaml:3: sync: this key moved to engine.sync");
    p = tu_write_tmp("e6.yaml", "key: k.key\nworkers: [127.0.0.1:7001]\n"
                                "engine:\n  sync: relaxed\n  split_classifier: often\n");
    ASSERT_EQ(halo_clusterfile_load(&cf, p, &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, "e6.yaml:5: engine.split_classifier: expected true, false or "
                                 "auto, got 'often'");
    p = tu_write_tmp("e7.yaml", "key: k.key\nworkers: [127.0.0.1:7001]\n"
                                "engine: {split_classifier: 'auto'}\n");
    ASSERT_EQ(halo_clusterfile_load(&cf, p, &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, "e7.yaml:3: engine.split_classifier: expected true, false or "
                                 "auto, got the string 'auto'");
    p = tu_write_tmp("e4.yaml", "key: k.key\nworkers: [127.0.0.1:7001]\nkey: again\n");
    ASSERT_EQ(halo_clusterfile_load(&cf, p, &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, "duplicate key 'key'");
    p = tu_write_tmp("e5.yaml", "key: k.key\nworkers: [127.0.0.1:7001]\n---\nkey: b\n");
    ASSERT_EQ(halo_clusterfile_load(&cf, p, &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, "only one YAML document");
}

/* Every key of the table has a flag and a JSON field; the canonical text is stable. */
static void every_key_has_a_flag_and_round_trips(void) {
    halo_engine_config c;
    halo_engine_config_init(&c);
    char json[4096];
    json_of(&c, json, sizeof json);
    /* split_classifier and parity (issue 15) are written only when on: the text of every
       configuration from before them, and so the identity of stored runs, stays as it was */
    ASSERT(strstr(json, "split_classifier") == NULL);
    ASSERT(!strstr(json, "\"parity\":"));
    ASSERT(!strstr(json, "\"slow_safe\":"));
    c.split_classifier = 1;
    json_of(&c, json, sizeof json);
    ASSERT_STR_CONTAINS(json, "\"redundancy_on_loss\": false, \"split_classifier\": true}");
    c.parity = 1;
    json_of(&c, json, sizeof json);
    ASSERT_STR_CONTAINS(json, "\"split_classifier\": true, \"parity\": true}");
    c.slow_safe = 1;
    json_of(&c, json, sizeof json);
    ASSERT_STR_CONTAINS(json, "\"parity\": true, \"slow_safe\": true}");
    /* so are tcp.segment_gap_us, tcp.early_ack_kb and tcp.read_order (docs/kernel-tcp.md) */
    ASSERT(!strstr(json, "\"segment_gap_us\":") && !strstr(json, "\"early_ack_kb\":") &&
           !strstr(json, "\"read_order\":"));
    c.tcp.segment_gap_ns = 2000;
    c.tcp.early_ack_kb = 64;
    json_of(&c, json, sizeof json);
    ASSERT_STR_CONTAINS(
        json, "\"slow_start_after_idle\": true, \"segment_gap_us\": 2, \"early_ack_kb\": 64}");
    c.tcp.read_order = HALO_TCP_READ_RANK;
    json_of(&c, json, sizeof json);
    ASSERT_STR_CONTAINS(json, "\"early_ack_kb\": 64, \"read_order\": \"rank\"}");
    for (int k = 0; k < halo_engine_n_keys; k++) {
        const char *name = halo_engine_keys[k].name;
        const char *leaf = strncmp(name, "tcp.", 4) == 0 ? name + 4 : name;
        char quoted[80];
        (void)snprintf(quoted, sizeof quoted, "\"%s\":", leaf);
        ASSERT_STR_CONTAINS(json, quoted);
        char flag[64];
        ASSERT(strlen(halo_engine_flag_name(name, flag, sizeof flag)) == strlen(name));
        ASSERT(!strchr(flag, '_') && !strchr(flag, '.'));
        ASSERT_EQ(halo_engine_key_find(name), k);
    }
    halo_engine_config_free(&c);
}

/* A cluster file without an engine section runs the halo preset (issue 15). */
static void cluster_file_defaults_to_the_halo_preset(void) {
    halo_clusterfile cf;
    halo_err err = {0};
    const char *p =
        tu_write_tmp("d.yaml", "key: k.key\nworkers: [127.0.0.1:7001, 127.0.0.1:7002]\n");
    ASSERT_OK(halo_clusterfile_load(&cf, p, &err));
    ASSERT_OK(halo_clusterfile_finish(&cf, 1, &err));
    ASSERT(strcmp(cf.engine.baseline, "halo") == 0);
    ASSERT_EQ(cf.engine.policy, HALO_SYNC_POLICY_RELAXED);
    ASSERT_EQ(cf.engine.delivery, HALO_DELIVERY_DATAGRAM);
    ASSERT_EQ(cf.engine.importance, HALO_SCORING_PREDICTOR);
    ASSERT_EQ(cf.engine.adaptive_deadline, 1);
    ASSERT_EQ(cf.engine.redundancy, 2);
    ASSERT(cf.spin_us == HALO_CLUSTER_SPIN_US); /* the root spins before it sleeps */
    halo_clusterfile_free(&cf);
    p = tu_write_tmp("d3.yaml", "key: k.key\nworkers: [127.0.0.1:7001]\nspin_us: 0\n");
    ASSERT_OK(halo_clusterfile_load(&cf, p, &err));
    ASSERT(cf.spin_us == 0.0);
    halo_clusterfile_free(&cf);
    p = tu_write_tmp("d4.yaml", "key: k.key\nworkers: [127.0.0.1:7001]\nspin_us: -5\n");
    ASSERT_EQ(halo_clusterfile_load(&cf, p, &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, "d4.yaml:3: spin_us");
    p = tu_write_tmp("d5.yaml", "key: k.key\nworkers: [127.0.0.1:7001]\nspin_us: '20'\n");
    ASSERT_EQ(halo_clusterfile_load(&cf, p, &err), HALO_ERR_FORMAT);
    ASSERT_STR_CONTAINS(err.msg, "d5.yaml:3: spin_us: expected a number, got the string '20'");
    /* strict sync over the halo preset: the preset's importance does not apply there */
    p = tu_write_tmp("d2.yaml", "key: k.key\nworkers: [127.0.0.1:7001]\nengine: {sync: strict}\n");
    ASSERT_OK(halo_clusterfile_load(&cf, p, &err));
    ASSERT_OK(halo_clusterfile_finish(&cf, 1, &err));
    ASSERT_EQ(cf.engine.importance, HALO_ENGINE_IMPORTANCE_NONE);
    ASSERT_EQ(cf.engine.delivery, HALO_DELIVERY_STREAM);
    halo_clusterfile_free(&cf);
}

/* A valid value of key k, as a cluster file writes it. */
static void sample_value(const halo_engine_key *k, char *buf, size_t cap) {
    switch (k->type) {
    case HALO_ENGINE_TYPE_ENUM:
        (void)snprintf(buf, cap, "%s", k->names[0]);
        break;
    case HALO_ENGINE_TYPE_NUMBER:
        (void)snprintf(buf, cap, "%g", k->lo + 1 < k->hi ? k->lo + 1 : (k->lo + k->hi) / 2);
        break;
    case HALO_ENGINE_TYPE_INTEGER:
        (void)snprintf(buf, cap, "%g", k->lo > 0 ? k->lo : 16);
        break;
    case HALO_ENGINE_TYPE_BOOL:
        (void)snprintf(buf, cap, "true");
        break;
    case HALO_ENGINE_TYPE_DEVICES:
        (void)snprintf(buf, cap, "'1'");
        break;
    case HALO_ENGINE_TYPE_PATH:
        (void)snprintf(buf, cap, "x.pred");
        break;
    default:
        (void)snprintf(buf, cap, "equal");
        break;
    }
}

/* Every key of the table through a cluster file: taken (and marked given) where it applies
   to socket clusters, refused with the reason where it does not. */
static void every_key_goes_through_a_cluster_file(void) {
    for (int k = 0; k < halo_engine_n_keys; k++) {
        const halo_engine_key *key = &halo_engine_keys[k];
        char value[64], text[512];
        sample_value(key, value, sizeof value);
        if (strncmp(key->name, "tcp.", 4) == 0)
            (void)snprintf(text, sizeof text,
                           "key: k.key\nworkers: [127.0.0.1:7001]\nengine:\n  tcp: {%s: %s}\n",
                           key->name + 4, value);
        else
            (void)snprintf(text, sizeof text,
                           "key: k.key\nworkers: [127.0.0.1:7001]\nengine:\n  %s: %s\n", key->name,
                           value);
        halo_clusterfile cf;
        halo_err err = {0};
        int rc = halo_clusterfile_load(&cf, tu_write_tmp("every.yaml", text), &err);
        int loaded = rc == HALO_OK;
        if (rc == HALO_OK)
            rc = halo_clusterfile_finish(&cf, 1, &err);
        if (key->where & HALO_ENGINE_WHERE_NET) {
            if (rc != HALO_OK)
                TEST_FAIL_AT("%s: %s", key->name, err.msg);
            ASSERT(halo_engine_is_set(&cf.engine, key->name));
        } else {
            ASSERT_EQ(rc, HALO_ERR_FORMAT);
            ASSERT_STR_CONTAINS(err.msg, "has no effect in socket clusters");
        }
        if (loaded)
            halo_clusterfile_free(&cf);
    }
}

/* split_classifier: auto (the socket halo preset's default) splits the classifier when it
   moves at least HALO_ENGINE_SPLIT_MIN_WEIGHTS of its weights off the root per token: not on
   the bundled model (512 x 64), on the 110M model of `halo bench --save-big` (32000 x 768) and
   on TinyLlama's shape; halo_engine_new resolves it; every front-end takes the word. */
static void split_classifier_auto_follows_the_classifier_size(void) {
    halo_model *small = tu_bundled_model();
    halo_model *tiny = tu_shape_model("tinyllama-1.1b", HALO_WEIGHT_Q40);
    halo_model_config big = *halo_model_get_config(small);
    big.vocab_size = 32000;
    big.dim = 768;
    double moved = 0;
    ASSERT_EQ(halo_engine_split_classifier_pays(halo_model_get_config(small), 4, &moved), 0);
    ASSERT_NEAR(moved, 0.75 * 512 * 64, 1e-6);
    ASSERT_EQ(halo_engine_split_classifier_pays(&big, 4, &moved), 1);
    ASSERT_NEAR(moved, 0.75 * 32000 * 768, 1e-3);
    ASSERT_EQ(halo_engine_split_classifier_pays(&big, 2, NULL), 1);
    ASSERT_EQ(halo_engine_split_classifier_pays(&big, 1, &moved), 0); /* nothing to split */
    ASSERT(moved == 0.0);
    ASSERT_EQ(halo_engine_split_classifier_pays(halo_model_get_config(tiny), 8, NULL), 1);

    /* through the key and the engine */
    const halo_model *models[] = {small, tiny};
    for (int i = 0; i < 2; i++) {
        halo_engine_config c;
        halo_engine_config_init(&c);
        ASSERT_OK(halo_engine_set(&c, "split_classifier", "auto", NULL));
        ASSERT_EQ(c.split_classifier, HALO_ENGINE_SPLIT_AUTO);
        ASSERT(halo_engine_is_set(&c, "split_classifier"));
        char json[4096];
        json_of(&c, json, sizeof json);
        ASSERT_STR_CONTAINS(json, "\"split_classifier\": \"auto\"}");
        ASSERT_OK(halo_engine_config_finish(&c, 4, i == 0, HALO_ENGINE_WHERE_NET, NULL, NULL));
        halo_engine_env env = {.model = models[i], .n_devices = 4};
        halo_engine *e = NULL;
        ASSERT_OK(halo_engine_new(&e, &c, &env, NULL));
        ASSERT_EQ(halo_engine_get_config(e)->split_classifier, i == 0 ? 0 : 1);
        halo_engine_free(e);
        /* explicit choices stay */
        for (int v = 0; v < 2; v++) {
            ASSERT_OK(halo_engine_set(&c, "split_classifier", v ? "true" : "false", NULL));
            ASSERT_OK(halo_engine_new(&e, &c, &env, NULL));
            ASSERT_EQ(halo_engine_get_config(e)->split_classifier, v);
            halo_engine_free(e);
        }
        halo_engine_config_free(&c);
    }

    /* the halo preset itself (simulated worlds, in-process clusters) keeps the root computing
       the classifier: a socket cluster's root sets auto (app/runner.c), as it does parity */
    halo_engine_config c;
    halo_engine_config_init(&c);
    ASSERT_OK(halo_engine_set(&c, "baseline", "halo", NULL));
    ASSERT_EQ(c.split_classifier, 0);
    halo_engine_config_free(&c);

    /* a cluster file takes the word */
    halo_clusterfile cf;
    halo_err err = {0};
    ASSERT_OK(
        halo_clusterfile_load(&cf,
                              tu_write_tmp("auto.yaml", "key: k.key\nworkers: [127.0.0.1:7001]\n"
                                                        "engine: {split_classifier: auto}\n"),
                              &err));
    ASSERT_OK(halo_clusterfile_finish(&cf, 1, &err));
    ASSERT_EQ(cf.engine.split_classifier, HALO_ENGINE_SPLIT_AUTO);
    halo_clusterfile_free(&cf);
    halo_model_free(tiny);
    halo_model_free(small);
}

TEST_MAIN(TEST(cluster_file_defaults_to_the_halo_preset),
          TEST(split_classifier_auto_follows_the_classifier_size),
          TEST(every_key_goes_through_a_cluster_file), TEST(presets_map_names_to_settings),
          TEST(explicit_keys_override_the_preset_in_any_order), TEST(fair_baselines_are_presets),
          TEST(encoding_auto_follows_the_weights), TEST(balanced_host_relieves_the_root),
          TEST(balanced_host_sees_a_per_kib_cost), TEST(bad_values_and_combinations_are_named),
          TEST(placement_weights_of_any_magnitude_split_by_ratio),
          TEST(three_front_ends_give_equal_configs), TEST(yaml_front_ends_place_errors_at_the_key),
          TEST(every_key_has_a_flag_and_round_trips))
