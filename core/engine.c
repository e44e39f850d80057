/*
 * The engine configuration and its builder (core/engine.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "core/engine.h"

#include "core/importance.h"
#include "core/parse.h"
#include "core/plan.h"
#include "core/predictor.h"
#include "core/sched.h"
#include "core/wire.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== The key table ==== */

static const char *const sync_names[] = {"strict", "relaxed", NULL};
static const char *const encoding_names[] = {"f32", "q8", "auto", NULL};
_Static_assert((int)HALO_ENGINE_ENCODING_AUTO == (int)HALO_ENCODING_COUNT_,
               "encoding auto is the name after the wire's encodings");
static const char *const delivery_names[] = {"datagram", "stream", NULL};
static const char *const simulator_names[] = {"sim", "ns3", NULL};
static const char *const collective_names[] = {"star", "mesh", NULL}; /* enum halo_collective */
static const char *const tcp_cc_names[] = {"cubic", "reno", NULL};    /* enum halo_tcp_cc */
/* enum halo_tcp_read_order */
static const char *const tcp_read_order_names[] = {"arrival", "rank", NULL};
/* in the order of enum halo_scoring, then "none" */
static const char *const importance_names[] = {"predictor", "oracle", "synthetic",
                                               "uniform",   "none",   NULL};
const char *const halo_engine_preset_names[] = {
    "dllama", "balanced", "relaxed", "halo", "strict-datagram", "strict-tcp-tuned", NULL};

/* Key indices (the order of halo_engine_keys). */
enum {
    K_BASELINE,
    K_PLACEMENT,
    K_SYNC,
    K_DEADLINE_MS,
    K_CRITICAL,
    K_ENCODING,
    K_GROUP_SIZE,
    K_DELIVERY,
    K_TCP_INIT_CWND,
    K_TCP_RTO_MIN_MS,
    K_TCP_RTO_MAX_MS,
    K_TCP_RTO_INIT_MS,
    K_TCP_DELACK_MS,
    K_TCP_TLP,
    K_TCP_DUPACK_THRESHOLD,
    K_TCP_QUICKACK_SEGMENTS,
    K_TCP_QUICKACK,
    K_TCP_TICK_MS,
    K_TCP_CC,
    K_TCP_RX_BATCH_US,
    K_TCP_COMP_SACK_DELAY_US,
    K_TCP_COMP_SACK_SLACK_US,
    K_TCP_COMP_SACK_NR,
    K_TCP_SLOW_START_AFTER_IDLE,
    K_TCP_SEGMENT_GAP_US,
    K_TCP_READ_ORDER,
    K_TCP_EARLY_ACK_KB,
    K_IMPORTANCE,
    K_TAU,
    K_PREDICTOR,
    K_PLACE_CRITICAL,
    K_ATTENTION_CRITICAL,
    K_RELIABLE,
    K_SYNTHETIC_SIGMA,
    K_ADAPTIVE_DEADLINE,
    K_DEADLINE_MIN_MS,
    K_DEADLINE_MAX_MS,
    K_REDUNDANCY,
    K_MEMORY_BUDGET,
    K_PREFETCH,
    K_SIMULATOR,
    K_COLLECTIVE,
    K_HEARTBEAT_MS,
    K_REDUNDANCY_ON_LOSS,
    K_SPLIT_CLASSIFIER,
    K_PARITY,
    K_SLOW_SAFE,
    K_COUNT
};

#define ALL      HALO_ENGINE_WHERE_ALL
#define SIM      HALO_ENGINE_WHERE_SIM
#define NET      HALO_ENGINE_WHERE_NET
#define LOOP     HALO_ENGINE_WHERE_LOOP
#define F(field) offsetof(halo_engine_config, field)
#define E(n, f, names, w, arg, help) \
    { n, HALO_ENGINE_TYPE_ENUM, names, 0, 0, 0, 0, w, arg, help, f }
#define N(n, f, lo, lo_open, hi, hi_open, w, arg, help) \
    { n, HALO_ENGINE_TYPE_NUMBER, NULL, lo, hi, lo_open, hi_open, w, arg, help, F(f) }
#define I(n, f, lo, hi, w, arg, help) \
    { n, HALO_ENGINE_TYPE_INTEGER, NULL, lo, hi, 0, 0, w, arg, help, F(f) }
#define B(n, f, w, help) \
    { n, HALO_ENGINE_TYPE_BOOL, NULL, 0, 0, 0, 0, w, "BOOL", help, F(f) }
#define S(n, f, type, w, arg, help) \
    { n, type, NULL, 0, 0, 0, 0, w, arg, help, F(f) }

const halo_engine_key halo_engine_keys[] = {
    E("baseline", HALO_ENGINE_NO_FIELD, halo_engine_preset_names, ALL, "NAME",
      "preset: dllama, balanced, relaxed, halo, strict-datagram or strict-tcp-tuned (other "
      "keys override it)"),
    S("placement", placement, HALO_ENGINE_TYPE_STRING, ALL, "SPEC",
      "equal | balanced | scheduled | weights:W0,W1,.. | explicit:A0,../F0,.."),
    E("sync", F(policy), sync_names, ALL, "POLICY", "strict (wait for all) or relaxed (deadline)"),
    N("deadline_ms", deadline_ns, 0, 0, 1e6, 0, ALL, "MS",
      "relaxed: wait this long after a broadcast"),
    S("critical", critical, HALO_ENGINE_TYPE_DEVICES, ALL, "D,..",
      "relaxed: devices always awaited (all: every device)"),
    E("encoding", F(encoding), encoding_names, ALL, "ENC",
      "f32, q8 or auto (q8 for block-quantised weights, f32 for float ones)"),
    I("group_size", group_size, 0, 1 << 20, ALL, "G",
      "hidden neurons per FFN group (0: 32, or a quantised model's block)"),
    E("delivery", F(delivery), delivery_names, SIM | NET, "KIND",
      "datagram (UDP) or stream (TCP); default: stream if strict"),
    I("tcp.init_cwnd", tcp.init_cwnd, 1, 1000, SIM, "SEGS", "simulated TCP: initial window"),
    N("tcp.rto_min_ms", tcp.rto_min_ns, 0, 1, 1e7, 0, SIM, "MS", "simulated TCP: minimum RTO"),
    N("tcp.rto_max_ms", tcp.rto_max_ns, 0, 1, 1e7, 0, SIM, "MS", "simulated TCP: maximum RTO"),
    N("tcp.rto_init_ms", tcp.rto_init_ns, 0, 1, 1e7, 0, SIM, "MS",
      "simulated TCP: RTO before a sample"),
    N("tcp.delack_ms", tcp.delack_ns, 0, 0, 1e7, 0, SIM, "MS",
      "simulated TCP: delayed-ACK timeout"),
    B("tcp.tlp", tcp.tlp, SIM, "simulated TCP: tail loss probes"),
    I("tcp.dupack_threshold", tcp.dupack_threshold, 1, 100, SIM, "N",
      "simulated TCP: fast retransmit threshold"),
    I("tcp.quickack_segments", tcp.quickack_segments, 0, 1000000, SIM, "N",
      "simulated TCP: quick ACKs at start"),
    B("tcp.quickack", tcp.quickack, SIM, "simulated TCP: ACK every segment at once (TCP_QUICKACK)"),
    N("tcp.tick_ms", tcp.tick_ns, 0, 0, 100, 0, SIM, "MS",
      "simulated TCP: timer granularity (jiffy)"),
    E("tcp.cc", F(tcp.cc), tcp_cc_names, SIM, "CC",
      "simulated TCP: congestion control, cubic or reno"),
    N("tcp.rx_batch_us", tcp.rx_batch_ns, 0, 0, 1e6, 0, SIM, "US",
      "simulated TCP: the receiver reads (and ACKs) a burst this long after its last segment"),
    N("tcp.comp_sack_delay_us", tcp.comp_sack_delay_ns, 0, 0, 1e6, 0, SIM, "US",
      "simulated TCP: longest wait of a compressed SACK (tcp_comp_sack_delay_ns)"),
    N("tcp.comp_sack_slack_us", tcp.comp_sack_slack_ns, 0, 0, 1e6, 0, SIM, "US",
      "simulated TCP: slack of the compressed-SACK timer (tcp_comp_sack_slack_ns)"),
    I("tcp.comp_sack_nr", tcp.comp_sack_nr, 0, 255, SIM, "N",
      "simulated TCP: SACKs compressed in a row, 0: none (tcp_comp_sack_nr)"),
    B("tcp.slow_start_after_idle", tcp.slow_start_after_idle, SIM,
      "simulated TCP: restart from the initial window after an idle RTO"),
    N("tcp.segment_gap_us", tcp.segment_gap_ns, 0, 0, 1e6, 0, SIM, "US",
      "simulated TCP: CPU time per full segment, spacing a burst's send times (0: one instant)"),
    E("tcp.read_order", F(tcp.read_order), tcp_read_order_names, SIM, "ORDER",
      "simulated TCP: the receiver reads its peers as data arrives or in rank order, blocking"),
    I("tcp.early_ack_kb", tcp.early_ack_kb, 0, 10000000, SIM, "KB",
      "simulated TCP: ACK a second full segment on arrival over the first KB received (0: never)"),
    E("importance", F(importance), importance_names, ALL, "SCORING",
      "predictor, oracle, synthetic, uniform or none"),
    N("tau", tau, 0, 1, 1, 0, ALL, "F", "fraction of the importance mass that is critical"),
    S("predictor", predictor, HALO_ENGINE_TYPE_PATH, ALL, "FILE",
      "predictor file (default: model's .pred)"),
    B("place_critical", place_critical, ALL,
      "move critical FFN groups onto reliable devices (default: on; in a socket cluster's "
      "halo preset off)"),
    B("attention_critical", attention_critical, ALL,
      "always await devices holding attention groups"),
    S("reliable", reliable, HALO_ENGINE_TYPE_DEVICES, ALL, "D,..",
      "devices whose links lose nothing (default: derived)"),
    N("synthetic_sigma", synthetic_sigma, 0, 1, 10, 0, ALL, "S|measured",
      "log-normal sigma of synthetic scores, or measured (default: per block kind, depth and "
      "group count as measured on the bundled model)"),
    B("adaptive_deadline", adaptive_deadline, ALL, "deadline from measured arrival delays"),
    N("deadline_min_ms", deadline_min_ns, 0, 0, 1e6, 0, ALL, "MS",
      "lower clamp of the adaptive deadline"),
    N("deadline_max_ms", deadline_max_ns, 0, 1, 1e6, 0, ALL, "MS",
      "upper clamp of the adaptive deadline"),
    I("redundancy", redundancy, 1, 8, ALL, "N", "copies of each activation to a critical device"),
    B("memory_budget", memory_budget, SIM,
      "devices stream the group weights their memory cannot hold"),
    B("prefetch", prefetch, SIM, "memory_budget: read the next streamed block ahead"),
    E("simulator", F(simulator), simulator_names, SIM, "ENGINE", "sim (in-tree) or ns3"),
    E("collective", F(collective), collective_names, ALL, "KIND",
      "star (root gathers) or mesh (all-gather, split classifier; strict)"),
    N("heartbeat_ms", heartbeat_ns, 0, 0, 1e6, 0, SIM, "MS",
      "simulated runs: the root pings every device this often, 0 (never) or 1..1e6, as a "
      "socket cluster's root does (its period is the cluster file's top-level heartbeat_ms)"),
    B("redundancy_on_loss", redundancy_on_loss, ALL,
      "extra copies only to devices whose contribution went missing lately"),
    {"split_classifier", HALO_ENGINE_TYPE_BOOL, NULL, 0, 0, 0, 0, ALL, "BOOL|auto",
     "star: every device computes a slice of the classifier, the root gathers the logits; "
     "auto: when it moves >= 1M classifier weights off the root (default: off; in a socket "
     "cluster's halo preset auto)",
     F(split_classifier)},
    B("parity", parity, SIM | NET,
      "datagram delivery: parity datagrams after every message repair lost ones: a copy of "
      "a one-datagram message, the XOR and a RAID-6 Q of 2..64 datagrams (any two lost) "
      "(default: off; in a socket cluster's halo "
      "preset on, and sent "
      "only while a link loses)"),
    B("slow_safe", slow_safe, SIM,
      "the socket root's deadline rules, to mirror a socket cluster: a device is awaited until "
      "its delay has a sample, late answers are samples, repeated requests back off, copies "
      "only after trouble, the importance hook told which links lose (always on over sockets; "
      "docs/net.md)"),
};

#undef E
#undef N
#undef I
#undef B
#undef S
#undef F

const int halo_engine_n_keys = (int)(sizeof halo_engine_keys / sizeof halo_engine_keys[0]);

_Static_assert(sizeof halo_engine_keys / sizeof halo_engine_keys[0] == K_COUNT,
               "the key table and its indices disagree");
_Static_assert(K_COUNT <= 64, "engine keys must fit the `set` mask and halo_engine_args");

int halo_engine_key_find(const char *name) {
    for (int k = 0; k < K_COUNT; k++)
        if (strcmp(halo_engine_keys[k].name, name) == 0)
            return k;
    return -1;
}

/* ==== Config lifetime ==== */

void halo_engine_config_init(halo_engine_config *c) {
    *c = (halo_engine_config){.policy = HALO_SYNC_POLICY_STRICT,
                              .deadline_ns = 10000000,
                              .encoding = HALO_ENCODING_F32,
                              .delivery = HALO_ENGINE_DELIVERY_AUTO,
                              .simulator = HALO_SIMULATOR_SIM,
                              .importance = HALO_ENGINE_IMPORTANCE_NONE,
                              .tau = 0.9,
                              .place_critical = 1,
                              .synthetic_sigma = HALO_ENGINE_SIGMA_MEASURED,
                              .deadline_min_ns = 500000,
                              .deadline_max_ns = 1000000000,
                              .redundancy = 1,
                              .prefetch = 1};
    halo_tcp_config_linux(&c->tcp);
}

void halo_engine_config_free(halo_engine_config *c) {
    free(c->placement);
    free(c->critical);
    free(c->predictor);
    free(c->reliable);
    halo_engine_config_init(c);
}

static char *dup_or_null(const char *s, int *failed) {
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    else
        *failed = 1;
    return d;
}

int halo_engine_config_copy(halo_engine_config *dst, const halo_engine_config *src, halo_err *err) {
    int failed = 0;
    *dst = *src;
    dst->placement = dup_or_null(src->placement, &failed);
    dst->critical = dup_or_null(src->critical, &failed);
    dst->predictor = dup_or_null(src->predictor, &failed);
    dst->reliable = dup_or_null(src->reliable, &failed);
    if (failed) {
        halo_engine_config_free(dst);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "engine configuration: out of memory");
    }
    return HALO_OK;
}

static int replace_str(char **dst, const char *v, halo_err *err) {
    int failed = 0;
    char *d = dup_or_null(v, &failed);
    if (failed)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "engine configuration: out of memory");
    free(*dst);
    *dst = d;
    return HALO_OK;
}

/* ==== Presets ==== */

static int is_set(const halo_engine_config *c, int k) {
    return (c->set >> k) & 1u;
}

/* The presets, in the order of halo_engine_preset_names. */
enum {
    P_DLLAMA,
    P_BALANCED,
    P_RELAXED,
    P_HALO,
    P_STRICT_DATAGRAM,
    P_STRICT_TCP_TUNED,
};

/*
 * strict-tcp-tuned: the smallest minimum RTO a Linux route takes in practice
 * (`ip route change ... rto_min 5ms`; the kernel keeps it in jiffies, so at HZ = 250 it
 * acts as two 4 ms ticks, which tcp.tick_ms models). Lower values are accepted by the kernel
 * but fall under the timer granularity and the host's own scheduling delays, where every
 * late ACK is a spurious retransmission; 5 ms is the value operators of low-latency LANs
 * use (RTTs here are well under a millisecond).
 */
#define TUNED_RTO_MIN_NS 5000000ull

int halo_engine_preset(halo_engine_config *c, const char *name, halo_err *err) {
    int p = -1;
    for (int i = 0; halo_engine_preset_names[i]; i++)
        if (strcmp(name, halo_engine_preset_names[i]) == 0)
            p = i;
    if (p < 0)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "'%s' is not one of dllama, balanced, relaxed, halo, strict-datagram, "
                         "strict-tcp-tuned",
                         name);
    int halo = p == P_HALO, sdgram = p == P_STRICT_DATAGRAM;
    int relaxed = p == P_RELAXED || halo || sdgram, balanced = p == P_BALANCED || halo;
    (void)snprintf(c->baseline, sizeof c->baseline, "%s", name);
    if (!is_set(c, K_SYNC))
        c->policy = relaxed ? HALO_SYNC_POLICY_RELAXED : HALO_SYNC_POLICY_STRICT;
    if (!is_set(c, K_PLACEMENT)) {
        /* halo's root coordinates the star (2 (N-1) messages a block): its share is smaller */
        int rc = replace_str(&c->placement,
                             halo       ? "balanced-host"
                             : balanced ? "balanced"
                                        : "equal",
                             err);
        if (rc != HALO_OK)
            return rc;
    }
    if (!is_set(c, K_IMPORTANCE))
        c->importance = halo ? HALO_ENGINE_IMPORTANCE_AUTO : HALO_ENGINE_IMPORTANCE_NONE;
    if (!is_set(c, K_ADAPTIVE_DEADLINE))
        c->adaptive_deadline = halo || sdgram;
    if (!is_set(c, K_REDUNDANCY))
        c->redundancy = halo ? 2 : 1;
    if (!is_set(c, K_REDUNDANCY_ON_LOSS)) /* no loss, no penalty: no copies until one is lost */
        c->redundancy_on_loss = halo;
    if (!is_set(c, K_COLLECTIVE)) /* distributed-llama all-gathers; the others gather at a root */
        c->collective =
            p == P_DLLAMA || p == P_STRICT_TCP_TUNED ? HALO_COLLECTIVE_MESH : HALO_COLLECTIVE_STAR;
    /* strict over datagrams: relaxed sync with every device critical waits for every
       contribution and asks again after the adaptive timeout, so nothing is ever dropped.
       The other presets take back what an earlier preset set (a command line's baseline
       over a file's). */
    if (!is_set(c, K_CRITICAL)) {
        int rc = replace_str(&c->critical, sdgram ? "all" : NULL, err);
        if (rc != HALO_OK)
            return rc;
    }
    if (!is_set(c, K_TCP_RTO_MIN_MS)) {
        halo_tcp_config linux_tcp;
        halo_tcp_config_linux(&linux_tcp);
        c->tcp.rto_min_ns = p == P_STRICT_TCP_TUNED ? TUNED_RTO_MIN_NS : linux_tcp.rto_min_ns;
    }
    return HALO_OK;
}

/* ==== Values from text ==== */

/* Where key k's value is stored in c (halo_engine_key.offset). */
static void *field_of(halo_engine_config *c, int k) {
    HALO_ASSERT(halo_engine_keys[k].offset != HALO_ENGINE_NO_FIELD);
    return (char *)c + halo_engine_keys[k].offset;
}

/* Nanoseconds per unit of a NUMBER key named with one (_ms, _us), or 0 for a plain number. */
static double ns_per_unit(const char *name) {
    size_t n = strlen(name);
    if (n > 3 && strcmp(name + n - 3, "_ms") == 0)
        return 1e6;
    if (n > 3 && strcmp(name + n - 3, "_us") == 0)
        return 1e3;
    return 0.0;
}

/* Stores a parsed number of key k. */
static void set_number(halo_engine_config *c, int k, double v) {
    double scale = ns_per_unit(halo_engine_keys[k].name);
    if (scale > 0.0)
        *(uint64_t *)field_of(c, k) = (uint64_t)llround(v * scale);
    else
        *(double *)field_of(c, k) = v;
}

static int set_enum(halo_engine_config *c, int k, const char *value, halo_err *err) {
    int v = 0, rc = halo_parse_enum(value, halo_engine_keys[k].names, &v, err);
    if (rc != HALO_OK)
        return rc;
    if (k == K_IMPORTANCE && v == 4) /* "none", after the halo_scoring values */
        v = HALO_ENGINE_IMPORTANCE_NONE;
    *(int *)field_of(c, k) = v;
    return HALO_OK;
}

static int set_string(halo_engine_config *c, int k, const char *value, halo_err *err) {
    char **dst = field_of(c, k);
    if (k == K_PREDICTOR && !*value)
        return HALO_FAIL(err, HALO_ERR_ARG, "expected a file name, got an empty value");
    if (k == K_CRITICAL || k == K_RELIABLE) {
        /* syntax now, the range when the cluster size is known (finish) */
        if (k == K_CRITICAL && strcmp(value, "all") == 0)
            return replace_str(dst, value, err);
        if (*value &&
            halo_parse_list_count(value, value + strlen(value), 0, HALO_MAX_DEVICES - 1, 1) < 0)
            return HALO_FAIL(err, HALO_ERR_ARG, "'%s' is not a list of device numbers", value);
        return replace_str(dst, *value ? value : NULL, err);
    }
    return replace_str(dst, value, err);
}

int halo_engine_set(halo_engine_config *c, const char *name, const char *value, halo_err *err) {
    int k = halo_engine_key_find(name);
    if (k < 0)
        return HALO_FAIL(err, HALO_ERR_ARG, "unknown engine key '%s'", name);
    const halo_engine_key *key = &halo_engine_keys[k];
    int rc = HALO_OK;
    double d = 0.0;
    long long i = 0;
    switch (key->type) {
    case HALO_ENGINE_TYPE_ENUM:
        rc = k == K_BASELINE ? halo_engine_preset(c, value, err) : set_enum(c, k, value, err);
        break;
    case HALO_ENGINE_TYPE_NUMBER:
        if (k == K_SYNTHETIC_SIGMA && strcmp(value, "measured") == 0) {
            c->synthetic_sigma = HALO_ENGINE_SIGMA_MEASURED;
            break;
        }
        rc = halo_parse_number(value, key->lo, key->lo_open, key->hi, key->hi_open, &d, err);
        /* a ping every few microseconds floods the simulated links (minutes, gigabytes) */
        if (rc == HALO_OK && k == K_HEARTBEAT_MS && d > 0 && d < 1)
            rc = HALO_FAIL(err, HALO_ERR_ARG, "%g is not 0 (never) or in [1, %g]", d, key->hi);
        if (rc == HALO_OK)
            set_number(c, k, d);
        break;
    case HALO_ENGINE_TYPE_INTEGER:
        rc = halo_parse_integer(value, (long long)key->lo, (long long)key->hi, &i, err);
        if (rc == HALO_OK)
            *(int *)field_of(c, k) = (int)i;
        break;
    case HALO_ENGINE_TYPE_BOOL:
        if (k == K_SPLIT_CLASSIFIER && strcmp(value, "auto") == 0) {
            c->split_classifier = HALO_ENGINE_SPLIT_AUTO;
            break;
        }
        rc = halo_parse_bool(value, field_of(c, k), err);
        if (rc != HALO_OK && k == K_SPLIT_CLASSIFIER)
            rc = HALO_FAIL(err, HALO_ERR_ARG, "expected true, false or auto, got '%s'", value);
        break;
    default:
        rc = set_string(c, k, value, err);
        break;
    }
    if (rc == HALO_OK)
        c->set |= (uint64_t)1 << k;
    return rc;
}

int halo_engine_is_set(const halo_engine_config *c, const char *name) {
    int k = halo_engine_key_find(name);
    return k >= 0 && is_set(c, k);
}

int halo_engine_args_any(const halo_engine_args *a) {
    for (int k = 0; k < K_COUNT; k++)
        if (a->value[k])
            return 1;
    return 0;
}

int halo_engine_args_apply(halo_engine_config *c, const halo_engine_args *a, const char **bad_key,
                           halo_err *err) {
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < K_COUNT; k++) {
            if (!a->value[k] || (pass == 0) != (k == K_BASELINE))
                continue;
            int rc = halo_engine_set(c, halo_engine_keys[k].name, a->value[k], err);
            if (rc != HALO_OK) {
                if (bad_key)
                    *bad_key = halo_engine_keys[k].name;
                return rc;
            }
        }
    return HALO_OK;
}

/* ==== Finish: derived defaults and checks between keys ==== */

#define BAD_KEY(k, ...) \
    (*bad_key = halo_engine_keys[k].name, HALO_FAIL(err, HALO_ERR_ARG, __VA_ARGS__))

static int check_placement(const char *spec, int n_dev, const char **bad_key, halo_err *err) {
    if (strcmp(spec, "equal") == 0 || strcmp(spec, "balanced") == 0 ||
        strcmp(spec, "balanced-host") == 0 || strcmp(spec, "scheduled") == 0)
        return HALO_OK;
    if (strncmp(spec, "weights:", 8) == 0) {
        const char *s = spec + 8;
        int k = halo_parse_list_count(s, s + strlen(s), DBL_MIN, DBL_MAX, 0);
        if (k != n_dev)
            return BAD_KEY(K_PLACEMENT, "'%s' needs %d positive weights (one per device), got %s",
                           spec, n_dev,
                           k < 0 ? "one that is not a number above 0" : "another count");
        return HALO_OK;
    }
    if (strncmp(spec, "explicit:", 9) == 0) {
        const char *s = spec + 9, *slash = strchr(s, '/');
        if (slash && halo_parse_list_count(s, slash, 0, n_dev - 1, 1) > 0 &&
            halo_parse_list_count(slash + 1, slash + 1 + strlen(slash + 1), 0, n_dev - 1, 1) > 0)
            return HALO_OK;
        return BAD_KEY(K_PLACEMENT,
                       "'%s' is not explicit:A0,A1,../F0,F1,.. with device numbers in 0..%d", spec,
                       n_dev - 1);
    }
    return BAD_KEY(K_PLACEMENT,
                   "'%s' is not one of equal, balanced, balanced-host, scheduled, "
                   "weights:W0,W1,.. or "
                   "explicit:A/F",
                   spec);
}

static int check_devices(int k, const char *list, int n_dev, const char **bad_key, halo_err *err) {
    if (list && strcmp(list, "all") == 0)
        return HALO_OK;
    if (list && halo_parse_list_count(list, list + strlen(list), 0, n_dev - 1, 1) < 0)
        return BAD_KEY(k, "'%s' is not a list of device numbers in 0..%d", list, n_dev - 1);
    return HALO_OK;
}

/* Keys given explicitly that do not take effect in a world of kind `where`. */
static int check_where(const halo_engine_config *c, int where, const char **bad_key,
                       halo_err *err) {
    static const char *const world[] = {"", "simulated runs", "in-process clusters", "",
                                        "socket clusters"};
    for (int k = 0; k < K_COUNT; k++)
        if (is_set(c, k) && !(halo_engine_keys[k].where & where)) {
            const char *in = where < 5 ? world[where] : "this kind of run";
            if (k == K_MEMORY_BUDGET || k == K_PREFETCH)
                return BAD_KEY(k,
                               "has no effect in %s: only simulated devices stream their weights "
                               "from storage",
                               in);
            return BAD_KEY(k, "has no effect in %s (it applies to %s)", in,
                           halo_engine_keys[k].where == SIM ? "simulated runs" : "other runs");
        }
    return HALO_OK;
}

int halo_engine_config_finish(halo_engine_config *c, int n_devices, int has_weights, int where,
                              const char **bad_key, halo_err *err) {
    const char *ignored;
    if (!bad_key)
        bad_key = &ignored;
    *bad_key = NULL;
    int rc = check_where(c, where, bad_key, err);
    if (rc != HALO_OK)
        return rc;
    if (!c->placement && (rc = replace_str(&c->placement, "equal", err)) != HALO_OK)
        return rc;
    if (c->delivery == HALO_ENGINE_DELIVERY_AUTO)
        c->delivery =
            c->policy == HALO_SYNC_POLICY_STRICT ? HALO_DELIVERY_STREAM : HALO_DELIVERY_DATAGRAM;
    if (c->importance == HALO_ENGINE_IMPORTANCE_AUTO) /* the preset's: where it applies */
        c->importance = c->policy != HALO_SYNC_POLICY_RELAXED ? HALO_ENGINE_IMPORTANCE_NONE
                        : has_weights                         ? HALO_SCORING_PREDICTOR
                                                              : HALO_SCORING_SYNTHETIC;
    if ((rc = check_placement(c->placement, n_devices, bad_key, err)) != HALO_OK ||
        (rc = check_devices(K_CRITICAL, c->critical, n_devices, bad_key, err)) != HALO_OK ||
        (rc = check_devices(K_RELIABLE, c->reliable, n_devices, bad_key, err)) != HALO_OK)
        return rc;
    if (!(c->tcp.rto_min_ns <= c->tcp.rto_init_ns && c->tcp.rto_init_ns <= c->tcp.rto_max_ns)) {
        *bad_key = "tcp";
        return HALO_FAIL(err, HALO_ERR_ARG, "expected rto_min_ms <= rto_init_ms <= rto_max_ms");
    }
    if (c->importance >= 0 && c->policy != HALO_SYNC_POLICY_RELAXED)
        return BAD_KEY(K_IMPORTANCE,
                       "needs sync: relaxed (strict sync waits for every group anyway)");
    if (!has_weights &&
        (c->importance == HALO_SCORING_PREDICTOR || c->importance == HALO_SCORING_ORACLE))
        return BAD_KEY(K_IMPORTANCE,
                       "a shape has no activations to score: use synthetic (or a model file)");
    if (c->collective == HALO_COLLECTIVE_MESH && where == HALO_ENGINE_WHERE_NET &&
        !is_set(c, K_COLLECTIVE))
        c->collective = HALO_COLLECTIVE_STAR; /* the dllama preset's mesh: a socket cluster
                                                 gathers at the root unless the file or a flag
                                                 says collective: mesh (the star recovers from
                                                 a lost worker, the mesh stops; issue 15) */
    if (c->collective == HALO_COLLECTIVE_MESH && c->policy != HALO_SYNC_POLICY_STRICT)
        return BAD_KEY(K_COLLECTIVE, "mesh needs sync: strict (as distributed-llama)");
    if (c->deadline_min_ns > c->deadline_max_ns) {
        *bad_key = "";
        return HALO_FAIL(err, HALO_ERR_ARG, "expected deadline_min_ms <= deadline_max_ms");
    }
    return HALO_OK;
}

#undef BAD_KEY

/* ==== Canonical text ==== */

typedef struct sbuf {
    char *buf;
    size_t cap, len;
} sbuf;

__attribute__((format(printf, 2, 3))) static void sb_add(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *at = b->len < b->cap ? b->buf + b->len : NULL;
    int n = vsnprintf(at, at ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += (size_t)n;
}

static void sb_str(sbuf *b, const char *s) {
    if (!s) {
        sb_add(b, "null");
        return;
    }
    sb_add(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_add(b, "\\%c", *p);
        else if (*p < 0x20)
            sb_add(b, "\\u%04x", *p);
        else
            sb_add(b, "%c", *p);
    }
    sb_add(b, "\"");
}

static double ns_ms(uint64_t ns) {
    return (double)ns / 1e6;
}

static const char *importance_text(int v) {
    if (v == HALO_ENGINE_IMPORTANCE_AUTO)
        return "auto";
    return v >= 0 && v < 4 ? importance_names[v] : "none";
}

size_t halo_engine_config_json(const halo_engine_config *c, char *buf, size_t cap) {
    sbuf b = {buf, cap, 0};
    if (cap)
        buf[0] = '\0';
    sb_add(&b, "{\"baseline\": ");
    sb_str(&b, c->baseline[0] ? c->baseline : NULL);
    sb_add(&b, ", \"placement\": ");
    sb_str(&b, c->placement ? c->placement : "equal");
    sb_add(&b, ", \"sync\": \"%s\", \"deadline_ms\": %.6g, \"critical\": ", sync_names[c->policy],
           ns_ms(c->deadline_ns));
    sb_str(&b, c->critical);
    sb_add(&b, ", \"encoding\": \"%s\", \"group_size\": %d, \"delivery\": ",
           encoding_names[c->encoding], c->group_size);
    sb_str(&b, c->delivery >= 0 ? delivery_names[c->delivery] : "auto");
    sb_add(&b,
           ", \"tcp\": {\"init_cwnd\": %d, \"rto_min_ms\": %.6g, \"rto_max_ms\": %.6g, "
           "\"rto_init_ms\": %.6g, \"delack_ms\": %.6g, \"tlp\": %s, \"dupack_threshold\": %d, "
           "\"quickack_segments\": %d, \"quickack\": %s, \"tick_ms\": %.6g, \"cc\": \"%s\", "
           "\"rx_batch_us\": %.6g, \"comp_sack_delay_us\": %.6g, \"comp_sack_slack_us\": %.6g, "
           "\"comp_sack_nr\": %d, \"slow_start_after_idle\": %s",
           c->tcp.init_cwnd, ns_ms(c->tcp.rto_min_ns), ns_ms(c->tcp.rto_max_ns),
           ns_ms(c->tcp.rto_init_ns), ns_ms(c->tcp.delack_ns), c->tcp.tlp ? "true" : "false",
           c->tcp.dupack_threshold, c->tcp.quickack_segments, c->tcp.quickack ? "true" : "false",
           ns_ms(c->tcp.tick_ns), tcp_cc_names[c->tcp.cc], (double)c->tcp.rx_batch_ns / 1e3,
           (double)c->tcp.comp_sack_delay_ns / 1e3, (double)c->tcp.comp_sack_slack_ns / 1e3,
           c->tcp.comp_sack_nr, c->tcp.slow_start_after_idle ? "true" : "false");
    if (c->tcp.segment_gap_ns || c->tcp.early_ack_kb) /* only when set: the JSON of older runs */
        sb_add(&b, ", \"segment_gap_us\": %.6g, \"early_ack_kb\": %d",
               (double)c->tcp.segment_gap_ns / 1e3, c->tcp.early_ack_kb);
    if (c->tcp.read_order != HALO_TCP_READ_ARRIVAL)
        sb_add(&b, ", \"read_order\": \"%s\"", tcp_read_order_names[c->tcp.read_order]);
    sb_add(&b, "}");
    sb_add(&b, ", \"importance\": \"%s\", \"tau\": %.6g, \"predictor\": ",
           importance_text(c->importance), c->tau);
    sb_str(&b, c->predictor);
    sb_add(&b, ", \"place_critical\": %s, \"attention_critical\": %s, \"reliable\": ",
           c->place_critical ? "true" : "false", c->attention_critical ? "true" : "false");
    sb_str(&b, c->reliable);
    if (c->synthetic_sigma == HALO_ENGINE_SIGMA_MEASURED)
        sb_add(&b, ", \"synthetic_sigma\": \"measured\"");
    else
        sb_add(&b, ", \"synthetic_sigma\": %.6g", c->synthetic_sigma);
    sb_add(&b,
           ", \"adaptive_deadline\": %s, \"deadline_min_ms\": %.6g, "
           "\"deadline_max_ms\": %.6g, \"redundancy\": %d, \"memory_budget\": %s, \"prefetch\": "
           "%s, \"simulator\": \"%s\", \"collective\": \"%s\", \"heartbeat_ms\": %.6g, "
           "\"redundancy_on_loss\": %s",
           c->adaptive_deadline ? "true" : "false", ns_ms(c->deadline_min_ns),
           ns_ms(c->deadline_max_ns), c->redundancy, c->memory_budget ? "true" : "false",
           c->prefetch ? "true" : "false", simulator_names[c->simulator],
           collective_names[c->collective], ns_ms(c->heartbeat_ns),
           c->redundancy_on_loss ? "true" : "false");
    /* issue 15's keys are written only when on, so every configuration from before them
       keeps its text (the runs' identities in results databases) */
    if (c->split_classifier)
        sb_add(&b, ", \"split_classifier\": %s",
               c->split_classifier == HALO_ENGINE_SPLIT_AUTO ? "\"auto\"" : "true");
    if (c->parity)
        sb_add(&b, ", \"parity\": true");
    if (c->slow_safe)
        sb_add(&b, ", \"slow_safe\": true");
    sb_add(&b, "}");
    if (cap && b.len >= cap)
        buf[cap - 1] = '\0';
    return b.len;
}

const char *halo_engine_flag_name(const char *name, char *buf, size_t cap) {
    size_t i = 0;
    for (const char *p = name; *p && i + 1 < cap; p++)
        buf[i++] = *p == '_' || *p == '.' ? '-' : *p;
    if (cap)
        buf[i] = '\0';
    return buf;
}

void halo_engine_print_flags(FILE *f) {
    for (int k = 0; k < K_COUNT; k++) {
        const halo_engine_key *key = &halo_engine_keys[k];
        char flag[64];
        (void)halo_engine_flag_name(key->name, flag, sizeof flag);
        char left[96];
        (void)snprintf(left, sizeof left, "--%s %s", flag, key->arg);
        (void)fprintf(f, "      %-28s %s\n", left, key->help);
    }
}

/* ==== The engine ==== */

struct halo_engine {
    halo_engine_config cfg;
    const halo_model *model;
    int n_devices;
    char *placement;   /* resolved spec */
    uint8_t *critical; /* (n_devices) */
    uint8_t *reliable; /* (n_devices) */
    uint64_t *budgets; /* (n_devices) or NULL */
    double *speeds;    /* (n_devices) device speeds, or NULL */
    halo_predictor *predictor;
    halo_importance *importance;
    halo_sync_config sync;
    char name[256];
};

static int group_size_of(const halo_engine *e) {
    return e->cfg.group_size > 0 ? e->cfg.group_size : halo_cluster_default_group_size_of(e->model);
}

/* The group size and the placement spec against the model, once, naming the key: each step
   below and the cluster would otherwise fail on them with a message naming neither the
   engine nor the key ("ffn group size 1000: expected 1..172 (hidden_dim)"). */
static int check_geometry(const halo_engine *e, halo_err *err) {
    halo_groups g;
    halo_placement p = {0};
    int rc = halo_groups_init(&g, halo_model_get_config(e->model), group_size_of(e), err);
    if (rc != HALO_OK) {
        (void)halo_err_prefix(err, "%s: engine.group_size: ", e->name);
        return rc;
    }
    rc = halo_placement_parse(&p, &g, e->n_devices, e->placement, err);
    halo_placement_free(&p);
    if (rc != HALO_OK)
        (void)halo_err_prefix(err, "%s: engine.placement: ", e->name);
    return rc;
}

/* Sets flags[d] for the devices of a list ("1,3"), or of every device for "all". */
static int parse_flags(const char *list, uint8_t *flags, int n) {
    if (list && strcmp(list, "all") == 0) {
        memset(flags, 1, (size_t)n);
        return 0;
    }
    for (const char *s = list; s && *s;) {
        char *end;
        long d = strtol(s, &end, 10);
        if (end == s)
            return -1;
        flags[d] = 1;
        s = *end == ',' ? end + 1 : end;
    }
    return 0;
}

/* HALO_OK if every device's speed is known (env->devices may be NULL: none is), else
   HALO_ERR_ARG naming engine.placement `spec` and the first device without one. */
static int check_speeds(const halo_engine *e, const halo_engine_env *env, const char *spec,
                        halo_err *err) {
    for (int d = 0; d < e->n_devices; d++)
        if (!(env->devices && env->devices[d].speed > 0))
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "%s: engine.placement %s needs every device's speed (device %d's is "
                             "not known)",
                             e->name, spec, d);
    return HALO_OK;
}

/* e->placement = "weights:w[0],w[1],..." (n_devices weights, each %.6g). */
static int weights_spec(halo_engine *e, const double *w, halo_err *err) {
    size_t cap = 32 + 32 * (size_t)e->n_devices;
    e->placement = malloc(cap);
    if (!e->placement)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    size_t used = (size_t)snprintf(e->placement, cap, "weights:");
    for (int d = 0; d < e->n_devices; d++)
        used += (size_t)snprintf(e->placement + used, cap - used, "%s%.6g", d ? "," : "", w[d]);
    return HALO_OK;
}

/* "balanced": weights by device speed. */
static int balanced_spec(halo_engine *e, const halo_engine_env *env, halo_err *err) {
    int rc = check_speeds(e, env, "balanced", err);
    if (rc != HALO_OK)
        return rc;
    double w[HALO_MAX_DEVICES];
    for (int d = 0; d < e->n_devices; d++)
        w[d] = env->devices[d].speed;
    return weights_spec(e, w, err);
}

/*
 * "balanced-host": balanced, with the host costs of the star collective's messages, charged
 * as the simulator charges them (sim/sim.h, halo_device_host_ns): a message sent costs its
 * sender send_ns, one received its receiver recv_ns, and each side copy_ns_per_kb per KiB of
 * the message's size on the wire. Per block a worker d receives one activation and sends one
 * partial sum, both of m_d bytes (the header, its group ids and dim values in the configured
 * encoding): h_d = send_d + recv_d + 2 m_d c_d / 1024; the root sends the N-1 activations and
 * receives the N-1 partials, one after the other on its CPU: h_0 = sum over the workers of
 * send_0 + recv_0 + 2 m_d c_0 / 1024. A block costs device d its share x_d of the block's
 * weights W at its speed s_d (weights per second) plus h_d. Shares that make every device
 * finish together: t = (W + sum s_d h_d) / sum s_d and x_d = s_d (t - h_d) / W; when the
 * root's comes out negative it holds (almost) nothing and coordinates (the workers are solved
 * without it). W is a block's mean weight count, and a worker's group ids are its speed's
 * share of a block's mean group count (attention and FFN blocks alternate; the ids are 2 bytes
 * each, a small part of a message). Without host costs, under the mesh collective (every
 * device sends and receives alike) or with memory budgets (moving work onto memory-poor
 * devices costs storage reads this model does not weigh) this is "balanced".
 */
static int balanced_host_spec(halo_engine *e, const halo_engine_env *env, halo_err *err) {
    int n = e->n_devices, any = 0;
    for (int d = 0; env->devices && d < n; d++)
        any |= env->devices[d].send_ns + env->devices[d].recv_ns > 0 ||
               env->devices[d].copy_ns_per_kb > 0;
    /* memory_budget: a device streams what its memory does not hold, so moving the root's
       share onto memory-poor workers costs storage time this model does not see: balanced
       (placement: scheduled weighs memory) */
    if (!any || n < 2 || e->cfg.collective != HALO_COLLECTIVE_STAR || e->cfg.memory_budget)
        return balanced_spec(e, env, err);
    const halo_model_config *mc = halo_model_get_config(e->model);
    double dim = mc->dim, kv = halo_model_kv_dim(mc);
    double w_block = (2.0 * dim * dim + 2.0 * dim * kv + 3.0 * dim * mc->hidden_dim) / 2.0;
    int gs = group_size_of(e);
    double g_block = (mc->n_kv_heads + (double)((mc->hidden_dim + gs - 1) / gs)) / 2.0;
    double x[HALO_MAX_DEVICES], s_sum = 0, sh_sum = 0;
    int rc = check_speeds(e, env, "balanced-host", err);
    if (rc != HALO_OK)
        return rc;
    for (int d = 0; d < n; d++)
        s_sum += env->devices[d].speed;
    const halo_engine_device *root = &env->devices[0];
    x[0] = 0;
    for (int d = 1; d < n; d++) {
        const halo_engine_device *v = &env->devices[d];
        double groups = floor(g_block * v->speed / s_sum + 0.5);
        double kib =
            (double)halo_wire_size(e->cfg.encoding, (unsigned)groups, (uint32_t)dim) / 1024.0;
        /* the device's message time per block, for now */
        x[d] = ((double)(v->send_ns + v->recv_ns) + 2.0 * kib * v->copy_ns_per_kb) * 1e-9;
        x[0] += ((double)(root->send_ns + root->recv_ns) + 2.0 * kib * root->copy_ns_per_kb) * 1e-9;
    }
    for (int d = 0; d < n; d++)
        sh_sum += env->devices[d].speed * x[d];
    double t = (w_block + sh_sum) / s_sum;
    int root_out = t <= x[0];
    if (root_out) { /* the root only coordinates */
        double s0 = env->devices[0].speed;
        t = (w_block + sh_sum - s0 * x[0]) / (s_sum - s0);
    }
    double share[HALO_MAX_DEVICES];
    for (int d = 0; d < n; d++) {
        share[d] = env->devices[d].speed * (t - x[d]) / w_block;
        if ((d == 0 && root_out) || !(share[d] > 1e-9))
            share[d] = 1e-9; /* rounds to no group (weights must be positive) */
    }
    return weights_spec(e, share, err);
}

/*
 * "scheduled": the load-balancing scheduler's heuristic (core/sched.h) over the devices and
 * links: group counts per device minimising the modelled time of a layer under memory
 * budgets, with the policy's loss penalty (an RTO under strict sync, the deadline under
 * relaxed sync).
 */
static int scheduled_spec(halo_engine *e, const halo_engine_env *env, halo_err *err) {
    int n = e->n_devices;
    if (!env->devices)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "%s: engine.placement scheduled needs device and link profiles", e->name);
    halo_sched_device *sd = calloc((size_t)n, sizeof *sd);
    if (!sd)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    for (int d = 0; d < n; d++) {
        const halo_engine_device *v = &env->devices[d];
        sd[d] = (halo_sched_device){.flops_per_s = v->flops_per_s,
                                    .mem_bw_bps = v->mem_bw_bps,
                                    .mem_bytes = v->mem_bytes,
                                    .op_overhead_ns = v->op_overhead_ns,
                                    .link_bps = v->link_bps,
                                    .link_latency_ns = v->link_latency_ns,
                                    .loss = v->loss,
                                    .is_root = d == 0};
    }
    const halo_model_config *mc = halo_model_get_config(e->model);
    halo_sched_problem p;
    halo_sched_solution s = {0};
    int rc = halo_sched_problem_init(&p, mc, halo_model_weight_type(e->model), group_size_of(e), sd,
                                     n, err);
    if (rc == HALO_OK) {
        p.loss_penalty_ns =
            e->cfg.policy == HALO_SYNC_POLICY_STRICT ? e->cfg.tcp.rto_min_ns : e->cfg.deadline_ns;
        rc = halo_sched_solution_init(&s, n, err);
    }
    if (rc == HALO_OK)
        rc = halo_sched_solve_heuristic(&p, &s, err);
    size_t cap = 8192;
    if (rc == HALO_OK && !(e->placement = malloc(cap)))
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    if (rc == HALO_OK)
        rc = halo_sched_spec(&s, &p.groups, e->placement, cap, NULL, err);
    halo_sched_solution_free(&s);
    free(sd);
    return rc;
}

static int resolve_placement(halo_engine *e, const halo_engine_env *env, halo_err *err) {
    const char *spec = e->cfg.placement ? e->cfg.placement : "equal";
    if (strcmp(spec, "balanced") == 0)
        return balanced_spec(e, env, err);
    if (strcmp(spec, "balanced-host") == 0)
        return balanced_host_spec(e, env, err);
    if (strcmp(spec, "scheduled") == 0)
        return scheduled_spec(e, env, err);
    return replace_str(&e->placement, spec, err);
}

/* The importance hook of the HALO policy, when the configuration asks for one. */
static int build_importance(halo_engine *e, const halo_engine_env *env, halo_err *err) {
    const halo_engine_config *c = &e->cfg;
    if (c->importance < 0)
        return HALO_OK;
    if (c->importance == HALO_SCORING_PREDICTOR) {
        char path[4096];
        const char *p = c->predictor;
        if (!p && !env->model_path) {
            p = env->default_predictor;
        } else if (!p) { /* default: the model file with .pred instead of its extension */
            int len = snprintf(path, sizeof path, "%s", env->model_path);
            const char *slash = strrchr(path, '/');
            char *dot = len > 0 && (size_t)len < sizeof path ? strrchr(path, '.') : NULL;
            if (!dot || (slash && dot < slash) || (size_t)(dot - path) + 6 > sizeof path)
                return HALO_FAIL(err, HALO_ERR_ARG,
                                 "%s: cannot derive a predictor file name from %s; give "
                                 "engine.predictor",
                                 e->name, env->model_path);
            memcpy(dot, ".pred", 6);
            p = path;
        }
        if (!p)
            return HALO_FAIL(err, HALO_ERR_ARG, "%s: no predictor file; give engine.predictor",
                             e->name);
        int rc = halo_predictor_load(&e->predictor, p, e->model, err);
        if (rc != HALO_OK)
            return rc;
    }
    halo_groups g;
    int rc = halo_groups_init(&g, halo_model_get_config(e->model), group_size_of(e), err);
    if (rc != HALO_OK)
        return rc;
    halo_importance_config ic = {.model = e->model,
                                 .groups = &g,
                                 .n_devices = e->n_devices,
                                 .scoring = c->importance,
                                 .predictor = e->predictor,
                                 .tau = c->tau,
                                 .reliable = e->reliable,
                                 .place = c->place_critical,
                                 .attention_critical = c->attention_critical,
                                 .synthetic_sigma = c->synthetic_sigma,
                                 .seed = env->seed,
                                 .run = env->run};
    return halo_importance_new(&e->importance, &ic, err);
}

/*
 * engine.memory_budget: what each device may keep of its group weights: its memory, less
 * the KV cache of its attention groups at the full context (f32, allocated up front), and
 * on the root less the embedding table, the classifier and the norms.
 */
static int memory_budgets(halo_engine *e, const halo_engine_env *env, halo_err *err) {
    const halo_model_config *mc = halo_model_get_config(e->model);
    int n = e->n_devices;
    if (!env->devices)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: engine.memory_budget needs device profiles",
                         e->name);
    halo_groups g;
    halo_placement p = {0};
    int rc = halo_groups_init(&g, mc, group_size_of(e), err);
    if (rc == HALO_OK)
        rc = halo_placement_parse(&p, &g, n, e->placement, err);
    if (rc == HALO_OK && !(e->budgets = calloc((size_t)n, sizeof *e->budgets)))
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    double wbytes = halo_weight_bytes(halo_model_weight_type(e->model));
    double root_fixed =
        wbytes * ((double)mc->vocab_size * mc->dim * (mc->shared_classifier ? 1 : 2) +
                  (2.0 * mc->n_layers + 1.0) * mc->dim);
    double kv_per_group = 2.0 * 4.0 * (double)mc->seq_len * p.groups.head_size;
    for (int d = 0; rc == HALO_OK && d < n; d++) {
        const halo_engine_device *v = &env->devices[d];
        if (!(v->storage_bw_bps > 0)) {
            rc = HALO_FAIL(err, HALO_ERR_ARG,
                           "%s: device %d: engine.memory_budget needs a storage bandwidth "
                           "(storage_mbps > 0)",
                           e->name, d);
            break;
        }
        double kv = 0;
        for (size_t i = 0; i < (size_t)p.groups.n_layers * (size_t)p.groups.n_attn; i++)
            kv += p.attn[i] == d ? kv_per_group : 0.0;
        double fixed = kv + (d == 0 ? root_fixed : 0.0);
        if ((double)v->mem_bytes <= fixed) {
            rc = HALO_FAIL(err, HALO_ERR_ARG,
                           "%s: device %d: memory (%.1f MiB) does not hold its KV cache%s "
                           "(%.1f MiB)",
                           e->name, d, (double)v->mem_bytes / 1048576.0,
                           d == 0 ? ", embeddings and classifier" : "", fixed / 1048576.0);
            break;
        }
        e->budgets[d] = v->mem_bytes - (uint64_t)fixed;
    }
    halo_placement_free(&p);
    return rc;
}

/* Without memory_budget every device must hold its share: checked when memory is known. */
static int check_memory(const halo_engine *e, const halo_engine_env *env, halo_err *err) {
    const halo_model_config *mc = halo_model_get_config(e->model);
    int n = e->n_devices;
    halo_groups g;
    halo_placement p = {0};
    int rc = halo_groups_init(&g, mc, group_size_of(e), err);
    if (rc == HALO_OK)
        rc = halo_placement_parse(&p, &g, n, e->placement, err);
    double wb = halo_weight_bytes(halo_model_weight_type(e->model)), dim = mc->dim;
    double q = (double)g.kv_mul * g.head_size, hs = g.head_size;
    double attn_w = wb * (2.0 * q + 2.0 * hs) * dim;
    int ctx = env->context_positions > 0 && env->context_positions < mc->seq_len
                  ? env->context_positions
                  : mc->seq_len;
    double kv_per_group = 2.0 * 4.0 * (double)ctx * hs;
    double cls = wb * (double)mc->vocab_size * dim * (mc->shared_classifier ? 0 : 1);
    double emb = 4.0 * (double)mc->vocab_size * dim + 4.0 * (2.0 * mc->n_layers + 1.0) * dim;
    int mesh = e->cfg.collective == HALO_COLLECTIVE_MESH;
    for (int d = 0; rc == HALO_OK && d < n; d++) {
        uint64_t mem = env->devices[d].mem_bytes;
        if (!mem)
            continue;
        double w = 0, kv = 0;
        for (size_t i = 0; i < (size_t)g.n_layers * (size_t)g.n_attn; i++)
            if (p.attn[i] == d) {
                w += attn_w;
                kv += kv_per_group;
            }
        for (size_t i = 0; i < (size_t)g.n_layers * (size_t)g.n_ffn; i++)
            if (p.ffn[i] == d)
                w += wb * 3.0 * dim * halo_groups_ffn_len(&g, (int)(i % (size_t)g.n_ffn));
        double fixed = (d == 0 ? emb : 0.0) + (mesh ? cls / n : d == 0 ? cls : 0.0);
        double need = w + kv + fixed;
        if (need > (double)mem)
            rc = HALO_FAIL(err, HALO_ERR_ARG,
                           "%s: device %d is out of memory: its share needs %.1f MiB (weights "
                           "%.1f, KV cache for %d positions %.1f, embeddings and classifier "
                           "%.1f) and it has %.1f MiB (engine.memory_budget streams what does not "
                           "fit from storage)",
                           e->name, d, need / 1048576.0, w / 1048576.0, ctx, kv / 1048576.0,
                           fixed / 1048576.0, (double)mem / 1048576.0);
    }
    halo_placement_free(&p);
    return rc;
}

/*
 * The split costs one more exchange per token: the root sends the final residual (dim floats)
 * to every worker and each answers vocab / n logits, after it computed its slice while the
 * root computed its own. It saves the root (n - 1) / n of the classifier, vocab x dim weights.
 * Time saved W / s against the exchange's round trip and host costs R: split when
 * W >= s R. Neither is known before the workers join, so the rule takes s R from what was
 * measured (docs/net.md): one core does 1-3e9 f32 weights/s (memory-bound matvec) and an
 * exchange costs 0.05-0.5 ms on loopback and a LAN, so s R ~ 1e6 weights. On the bundled model
 * (vocab 512, dim 64) 4 devices move 24.6K weights: the split was 1.32x slower; on the 110M
 * model (32000 x 768) 18.4M: 0.75x the strict star's time.
 */
int halo_engine_split_classifier_pays(const halo_model_config *mc, int n_devices,
                                      double *weights_moved) {
    double w = n_devices > 1 ? (double)(n_devices - 1) / (double)n_devices *
                                   (double)mc->vocab_size * (double)mc->dim
                             : 0.0;
    if (weights_moved)
        *weights_moved = w;
    return n_devices > 1 && w >= HALO_ENGINE_SPLIT_MIN_WEIGHTS;
}

int halo_engine_auto_encoding(const halo_model *model) {
    int t = halo_model_weight_type(model);
    return t == HALO_WEIGHT_Q80 || t == HALO_WEIGHT_Q40 ? HALO_ENCODING_Q8 : HALO_ENCODING_F32;
}

int halo_engine_new(halo_engine **out, const halo_engine_config *cfg, const halo_engine_env *env,
                    halo_err *err) {
    *out = NULL;
    int n = env->n_devices;
    if (n < 1 || n > HALO_MAX_DEVICES)
        return HALO_FAIL(err, HALO_ERR_ARG, "%d devices: expected 1..%d", n, HALO_MAX_DEVICES);
    halo_engine *e = calloc(1, sizeof *e);
    if (!e)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "engine: out of memory");
    int rc = halo_engine_config_copy(&e->cfg, cfg, err);
    if (rc != HALO_OK) {
        free(e);
        return rc;
    }
    e->model = env->model;
    e->n_devices = n;
    (void)snprintf(e->name, sizeof e->name, "%s", env->name ? env->name : "engine");
    if (e->cfg.encoding == HALO_ENGINE_ENCODING_AUTO)
        e->cfg.encoding = halo_engine_auto_encoding(env->model);
    if (e->cfg.split_classifier == HALO_ENGINE_SPLIT_AUTO)
        e->cfg.split_classifier =
            halo_engine_split_classifier_pays(halo_model_get_config(env->model), n, NULL);
    e->critical = calloc((size_t)n, 1);
    e->reliable = calloc((size_t)n, 1);
    if (!e->critical || !e->reliable)
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "engine: out of memory");
    if (rc == HALO_OK)
        rc = resolve_placement(e, env, err);
    if (rc == HALO_OK)
        rc = check_geometry(e, err);
    if (rc == HALO_OK) {
        (void)parse_flags(e->cfg.critical, e->critical, n);
        if (e->cfg.reliable) {
            (void)parse_flags(e->cfg.reliable, e->reliable, n);
        } else {
            /* by default, devices whose links lose nothing are reliable; with nothing known
               of the links, only the root is */
            for (int d = 0; d < n; d++)
                e->reliable[d] = env->devices ? env->devices[d].loss == 0.0 : d == 0;
        }
    }
    if (rc == HALO_OK)
        rc = build_importance(e, env, err);
    if (rc == HALO_OK && e->cfg.memory_budget)
        rc = memory_budgets(e, env, err);
    else if (rc == HALO_OK && env->devices)
        rc = check_memory(e, env, err);
    if (rc == HALO_OK && env->devices) {
        if (!(e->speeds = calloc((size_t)n, sizeof *e->speeds)))
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "engine: out of memory");
        for (int d = 0; rc == HALO_OK && d < n; d++)
            e->speeds[d] = env->devices[d].speed;
    }
    if (rc != HALO_OK) {
        halo_engine_free(e);
        return rc;
    }
    e->sync = (halo_sync_config){.policy = e->cfg.policy,
                                 .deadline_ns = e->cfg.deadline_ns,
                                 .critical = e->critical,
                                 .adaptive = e->cfg.adaptive_deadline,
                                 .deadline_min_ns = e->cfg.deadline_min_ns,
                                 .redundancy = e->cfg.redundancy,
                                 .redundancy_on_loss = e->cfg.redundancy_on_loss,
                                 .deadline_max_ns = e->cfg.deadline_max_ns,
                                 .plan_fn = e->importance ? halo_importance_plan : NULL,
                                 .reliable_fn = e->importance ? halo_importance_set_reliable : NULL,
                                 .plan_ctx = e->importance,
                                 .slow_safe = e->cfg.slow_safe};
    *out = e;
    return HALO_OK;
}

void halo_engine_free(halo_engine *e) {
    if (!e)
        return;
    halo_importance_free(e->importance);
    halo_predictor_free(e->predictor);
    halo_engine_config_free(&e->cfg);
    free(e->placement);
    free(e->critical);
    free(e->reliable);
    free(e->budgets);
    free(e->speeds);
    free(e);
}

int halo_engine_cluster_new(halo_cluster **out, const halo_engine *e, halo_transport *transport,
                            halo_pool *pool, halo_err *err) {
    halo_cluster_config cc = {.model = e->model,
                              .n_devices = e->n_devices,
                              .ffn_group_size = e->cfg.group_size,
                              .placement = e->placement,
                              .encoding = e->cfg.encoding,
                              .transport = transport,
                              .pool = pool,
                              .budget_bytes = e->budgets,
                              .prefetch = e->cfg.prefetch,
                              .collective = e->cfg.collective,
                              .split_classifier = e->cfg.split_classifier,
                              .sync = e->sync};
    return halo_cluster_new(out, &cc, err);
}

const halo_engine_config *halo_engine_get_config(const halo_engine *e) {
    return &e->cfg;
}

const halo_sync_config *halo_engine_sync(const halo_engine *e) {
    return &e->sync;
}

const char *halo_engine_placement(const halo_engine *e) {
    return e->placement;
}

const uint64_t *halo_engine_budgets(const halo_engine *e) {
    return e->budgets;
}

int halo_engine_shares(const halo_engine *e, double *out, halo_err *err) {
    const char *spec = e->placement;
    if (strcmp(spec, "equal") == 0) {
        for (int d = 0; d < e->n_devices; d++)
            out[d] = 1.0;
        return HALO_OK;
    }
    if (strncmp(spec, "weights:", 8) == 0) {
        const char *s = spec + 8;
        for (int d = 0; d < e->n_devices; d++) {
            char *end;
            out[d] = strtod(s, &end);
            s = *end == ',' ? end + 1 : end;
        }
        return HALO_OK;
    }
    return HALO_FAIL(err, HALO_ERR_ARG,
                     "%s: engine.placement '%s' is not a split by shares (equal, weights: or "
                     "balanced)",
                     e->name, e->cfg.placement ? e->cfg.placement : spec);
}

const struct halo_importance_stats *halo_engine_importance_stats(const halo_engine *e) {
    return e->importance ? halo_importance_get_stats(e->importance) : NULL;
}
