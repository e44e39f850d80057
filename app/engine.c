/*
 * Engine options and the single-device / cluster switch.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/engine.h"

#include "app/clusterfile.h"
#include "core/forward.h"
#include "core/importance.h"
#include "core/transport_loop.h"

#include <stdlib.h>
#include <string.h>

const char halo_engine_help[] =
    "cluster options (an in-process cluster over the loop transport):\n"
    "      --nodes N          devices, root included (default: one device, no cluster)\n"
    "      --baseline NAME    dllama (equal split, strict), balanced (split by --speeds,\n"
    "                         strict) or relaxed (equal split, relaxed, nothing critical)\n"
    "      --placement SPEC   equal | weights:W0,W1,.. | explicit:A0,A1,../F0,F1,..\n"
    "      --speeds S0,S1,..  relative device speeds for --baseline balanced\n"
    "      --sync POLICY      strict (wait for all) or relaxed (deadline for non-critical)\n"
    "      --deadline-ms MS   relaxed: wait this long after a broadcast (default 10)\n"
    "      --critical D,..    relaxed: devices whose contribution is always awaited\n"
    "      --encoding ENC     f32 or q8 message payloads (default f32)\n"
    "      --group-size G     hidden neurons per FFN group (default 32)\n"
    "      --drop RATE        drop messages to/from the drop devices with this probability\n"
    "      --drop-devices D,..  devices whose links drop (default: every worker)\n"
    "      --drop-seed S      seed of the injected drops (default 1)\n"
    "      --cluster FILE     run on workers over real sockets instead (docs/net.md): the\n"
    "                         file lists them; --sync, --deadline-ms, --critical, --encoding,\n"
    "                         --group-size, --drop and --drop-seed apply as above\n";

void halo_engine_opts_init(halo_engine_opts *o) {
    *o = (halo_engine_opts){.policy = HALO_SYNC_POLICY_STRICT,
                            .deadline_ms = 10.0,
                            .encoding = HALO_ENCODING_F32,
                            .drop_seed = 1};
}

int halo_engine_parse_opt(halo_engine_opts *o, int code, const char *arg, halo_err *err) {
    float f;
    int rc = HALO_OK;
    switch (code - HALO_ENGINE_OPT_FIRST) {
    case 0:
        return halo_cli_parse_long("--nodes", arg, 1, HALO_MAX_DEVICES, &o->nodes, err);
    case 1:
        o->placement = arg;
        o->set_placement = 1;
        return HALO_OK;
    case 2:
        o->set_policy = 1;
        if (strcmp(arg, "strict") == 0)
            o->policy = HALO_SYNC_POLICY_STRICT;
        else if (strcmp(arg, "relaxed") == 0)
            o->policy = HALO_SYNC_POLICY_RELAXED;
        else
            rc = HALO_FAIL(err, HALO_ERR_ARG, "--sync: '%s', expected strict or relaxed", arg);
        return rc;
    case 3:
        rc = halo_cli_parse_float("--deadline-ms", arg, 0.0f, 3.6e6f, &f, err);
        o->deadline_ms = f;
        o->set_deadline = 1;
        return rc;
    case 4:
        o->critical = arg;
        return HALO_OK;
    case 5:
        if (strcmp(arg, "f32") == 0)
            o->encoding = HALO_ENCODING_F32;
        else if (strcmp(arg, "q8") == 0)
            o->encoding = HALO_ENCODING_Q8;
        else
            rc = HALO_FAIL(err, HALO_ERR_ARG, "--encoding: '%s', expected f32 or q8", arg);
        return rc;
    case 6:
        return halo_cli_parse_long("--group-size", arg, 1, 1 << 20, &o->group_size, err);
    case 7:
        rc = halo_cli_parse_float("--drop", arg, 0.0f, 0.999f, &f, err);
        o->drop_rate = f;
        return rc;
    case 8:
        o->drop_devices = arg;
        return HALO_OK;
    case 9:
        o->set_drop_seed = 1;
        return halo_cli_parse_u64("--drop-seed", arg, &o->drop_seed, err);
    case 10:
        if (strcmp(arg, "dllama") != 0 && strcmp(arg, "balanced") != 0 &&
            strcmp(arg, "relaxed") != 0)
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "--baseline: '%s', expected dllama, balanced or relaxed", arg);
        o->baseline = arg;
        return HALO_OK;
    case 11:
        o->speeds = arg;
        return HALO_OK;
    case 12:
        o->cluster = arg;
        return HALO_OK;
    default:
        return 1;
    }
}

/* Parses "a,b,c" device numbers into flags[n]; errors name the option. */
static int parse_device_set(const char *opt, const char *list, int n, uint8_t *flags,
                            halo_err *err) {
    const char *s = list;
    while (*s) {
        char *end;
        long d = strtol(s, &end, 10);
        if (end == s || (*end != ',' && *end != '\0'))
            return HALO_FAIL(err, HALO_ERR_ARG, "%s: '%s' is not a list of device numbers", opt,
                             list);
        if (d < 0 || d >= n)
            return HALO_FAIL(err, HALO_ERR_ARG, "%s: device %ld, the cluster has 0..%d", opt, d,
                             n - 1);
        flags[d] = 1;
        s = *end ? end + 1 : end;
    }
    return HALO_OK;
}

/* Resolves baseline presets into policy and placement. */
static int resolve(const halo_engine_opts *o, int *policy, char *placement, size_t cap,
                   halo_err *err) {
    *policy = o->policy;
    const char *p = o->placement ? o->placement : "equal";
    if (o->baseline && strcmp(o->baseline, "balanced") == 0 && !o->set_placement) {
        if (!o->speeds)
            return HALO_FAIL(err, HALO_ERR_ARG, "--baseline balanced needs --speeds");
        (void)snprintf(placement, cap, "weights:%s", o->speeds);
        p = NULL;
    } else if (o->speeds && !o->set_placement) {
        return HALO_FAIL(err, HALO_ERR_ARG, "--speeds is used by --baseline balanced only");
    }
    if (o->baseline && !o->set_policy)
        *policy = strcmp(o->baseline, "relaxed") == 0 ? HALO_SYNC_POLICY_RELAXED
                                                      : HALO_SYNC_POLICY_STRICT;
    if (p) {
        int n = snprintf(placement, cap, "%s", p);
        if (n < 0 || (size_t)n >= cap)
            return HALO_FAIL(err, HALO_ERR_ARG, "--placement: spec too long");
    }
    return HALO_OK;
}

static int open_cluster(halo_engine *e, const halo_engine_opts *o, halo_err *err) {
    int n = (int)o->nodes;
    e->n_devices = n;
    double *rates = calloc((size_t)n, sizeof *rates);
    uint8_t *drop_set = calloc((size_t)n, 1), *critical = calloc((size_t)n, 1);
    char placement[4096];
    int policy = HALO_SYNC_POLICY_STRICT, rc = HALO_OK;
    if (!rates || !drop_set || !critical)
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    if (rc == HALO_OK)
        rc = resolve(o, &policy, placement, sizeof placement, err);
    if (rc == HALO_OK && o->drop_devices)
        rc = parse_device_set("--drop-devices", o->drop_devices, n, drop_set, err);
    if (rc == HALO_OK && o->critical)
        rc = parse_device_set("--critical", o->critical, n, critical, err);
    if (rc == HALO_OK && o->critical && policy != HALO_SYNC_POLICY_RELAXED)
        rc = HALO_FAIL(err, HALO_ERR_ARG, "--critical applies to --sync relaxed only");
    if (rc == HALO_OK) {
        for (int d = 1; d < n; d++)
            rates[d] = (o->drop_devices ? drop_set[d] : 1) ? o->drop_rate : 0.0;
        halo_loop_config lc = {.n_nodes = n, .drop_rate = rates, .seed = o->drop_seed};
        rc = halo_loop_new(&e->t, &lc, err);
    }
    if (rc == HALO_OK) {
        halo_cluster_config cc = {.model = e->s.model,
                                  .n_devices = n,
                                  .ffn_group_size = (int)o->group_size,
                                  .placement = placement,
                                  .encoding = o->encoding,
                                  .transport = e->t,
                                  .pool = e->s.pool,
                                  .sync = {.policy = policy,
                                           .deadline_ns = (uint64_t)(o->deadline_ms * 1e6),
                                           .critical = critical}};
        rc = halo_cluster_new(&e->c, &cc, err);
    }
    free(rates);
    free(drop_set);
    free(critical);
    return rc;
}

static void log_line(void *ctx, const char *line) {
    (void)ctx;
    (void)fprintf(stderr, "halo: %s\n", line);
}

/* The HALO planning hook for a socket cluster: every worker link may lose, the root not. */
static int open_importance(halo_engine *e, const halo_clusterfile *cf, const char *model_path,
                           int group_size, uint8_t *reliable, halo_err *err) {
    int rc = HALO_OK;
    if (cf->importance == HALO_SCORING_PREDICTOR) {
        char path[4096];
        const char *p = cf->predictor;
        if (!p && !model_path) {
            p = halo_cli_bundled_path("stories260K.pred", path, sizeof path);
        } else if (!p) {
            int len = snprintf(path, sizeof path, "%s", model_path);
            char *dot = len > 0 && (size_t)len + 6 < sizeof path ? strrchr(path, '.') : NULL;
            if (!dot)
                return HALO_FAIL(
                    err, HALO_ERR_ARG,
                    "%s: cannot derive a predictor file name; give predictor:", model_path);
            memcpy(dot, ".pred", 6);
            p = path;
        }
        rc = halo_predictor_load(&e->pred, p, e->s.model, err);
    }
    const halo_model_config *mc = halo_model_get_config(e->s.model);
    halo_groups g;
    if (rc == HALO_OK)
        rc = halo_groups_init(
            &g, mc, group_size > 0 ? group_size : halo_cluster_default_group_size(mc), err);
    reliable[0] = 1;
    if (rc == HALO_OK) {
        halo_importance_config ic = {.model = e->s.model,
                                     .groups = &g,
                                     .n_devices = cf->n_workers + 1,
                                     .scoring = cf->importance,
                                     .predictor = e->pred,
                                     .tau = cf->tau,
                                     .reliable = reliable,
                                     .place = 1,
                                     .seed = cf->seed};
        rc = halo_importance_new(&e->imp, &ic, err);
    }
    return rc;
}

/* --cluster FILE: the root of a socket cluster. */
static int open_remote(halo_engine *e, const halo_engine_opts *o, const char *model_path,
                       halo_err *err) {
    halo_clusterfile cf;
    int rc = halo_clusterfile_load(&cf, o->cluster, err);
    if (rc != HALO_OK)
        return rc;
    int n = cf.n_workers + 1;
    e->n_devices = n;
    uint8_t key[HALO_NET_KEY_BYTES];
    uint8_t *critical = calloc((size_t)n, 1), *reliable = calloc((size_t)n, 1);
    if (!critical || !reliable)
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    if (rc == HALO_OK)
        rc = halo_net_key_load(cf.key_path, key, err);
    int policy = o->set_policy ? o->policy : cf.policy;
    if (rc == HALO_OK && o->baseline && !o->set_policy)
        policy = strcmp(o->baseline, "relaxed") == 0 ? HALO_SYNC_POLICY_RELAXED
                                                     : HALO_SYNC_POLICY_STRICT;
    if (rc == HALO_OK && (o->placement || o->speeds || o->drop_devices))
        rc = HALO_FAIL(err, HALO_ERR_ARG,
                       "--placement, --speeds and --drop-devices do not apply to --cluster (the "
                       "cluster file's weights set the split)");
    if (rc == HALO_OK && o->critical)
        rc = parse_device_set("--critical", o->critical, n, critical, err);
    if (rc == HALO_OK && o->critical && policy != HALO_SYNC_POLICY_RELAXED)
        rc = HALO_FAIL(err, HALO_ERR_ARG, "--critical applies to --sync relaxed only");
    if (rc == HALO_OK && cf.importance >= 0 && policy != HALO_SYNC_POLICY_RELAXED)
        rc = HALO_FAIL(err, HALO_ERR_ARG, "%s: importance applies to sync: relaxed only",
                       o->cluster);
    if (rc == HALO_OK && cf.importance >= 0)
        rc = open_importance(e, &cf, model_path, (int)o->group_size, reliable, err);
    if (rc == HALO_OK) {
        double deadline_ms = o->set_deadline || !cf.has_deadline ? o->deadline_ms : cf.deadline_ms;
        halo_remote_config rc_cfg = {.model = e->s.model,
                                     .pool = e->s.pool,
                                     .kind = cf.kind,
                                     .n_workers = cf.n_workers,
                                     .workers = (const char *const *)cf.workers,
                                     .bind = cf.bind,
                                     .key = key,
                                     .ffn_group_size = (int)o->group_size,
                                     .encoding = o->encoding,
                                     .sync = {.policy = policy,
                                              .deadline_ns = (uint64_t)(deadline_ms * 1e6),
                                              .critical = critical,
                                              .plan_fn = e->imp ? halo_importance_plan : NULL,
                                              .plan_ctx = e->imp},
                                     .weights = cf.weights,
                                     .loss_rate = o->drop_rate > 0 ? o->drop_rate : cf.loss,
                                     .delay_ns = (uint64_t)(cf.delay_ms * 1e6),
                                     .loss_seed = o->set_drop_seed ? o->drop_seed : cf.seed,
                                     .join_timeout_ns = (uint64_t)(cf.join_timeout_ms * 1e6),
                                     .heartbeat_ns = (uint64_t)(cf.heartbeat_ms * 1e6),
                                     .dead_after_ns = (uint64_t)(cf.dead_after_ms * 1e6),
                                     .rejoin_ns = (uint64_t)(cf.rejoin_ms * 1e6),
                                     .stall_ns = (uint64_t)(cf.stall_ms * 1e6),
                                     .log_fn = log_line};
        rc = halo_remote_new(&e->r, &rc_cfg, err);
    }
    memset(key, 0, sizeof key);
    free(critical);
    free(reliable);
    halo_clusterfile_free(&cf);
    return rc;
}

int halo_engine_open(halo_engine *e, const char *model_path, const char *tokenizer_path,
                     int threads, const halo_engine_opts *o, halo_err *err) {
    memset(e, 0, sizeof *e);
    if (o->nodes && o->cluster)
        return HALO_FAIL(err, HALO_ERR_ARG, "--nodes and --cluster exclude each other");
    if (!o->nodes && !o->cluster &&
        (o->placement || o->baseline || o->set_policy || o->critical || o->drop_rate > 0 ||
         o->drop_devices || o->speeds || o->group_size || o->encoding != HALO_ENCODING_F32))
        return HALO_FAIL(err, HALO_ERR_ARG, "cluster options need --nodes N");
    int rc = halo_cli_session_open(&e->s, model_path, tokenizer_path, threads, err);
    if (rc == HALO_OK && o->nodes)
        rc = open_cluster(e, o, err);
    if (rc == HALO_OK && o->cluster)
        rc = open_remote(e, o, model_path, err);
    if (rc != HALO_OK)
        halo_engine_close(e);
    return rc;
}

int halo_engine_forward(halo_engine *e, int token, int pos, const float **logits, halo_err *err) {
    e->tokens++;
    if (e->r)
        return halo_remote_forward(e->r, token, pos, logits, err);
    if (!e->c) {
        *logits = halo_forward(e->s.state, token, pos);
        return HALO_OK;
    }
    return halo_cluster_forward(e->c, token, pos, logits, err);
}

void halo_engine_contributions(const halo_engine *e, uint64_t *expected, uint64_t *missing) {
    *expected = *missing = 0;
    if (e->c || e->r) {
        const halo_node_stats *rs =
            halo_node_get_stats(e->r ? halo_remote_root(e->r) : halo_cluster_node(e->c, 0));
        *expected = rs->expected;
        *missing = rs->missing;
    }
}

static void report_remote(const halo_engine *e, FILE *f) {
    const halo_node_stats *rs = halo_node_get_stats(halo_remote_root(e->r));
    halo_net_stats ns;
    halo_remote_stats st;
    halo_net_get_stats(halo_remote_transport(e->r), &ns);
    halo_remote_get_stats(e->r, &st);
    (void)fprintf(f,
                  "cluster: %d devices over sockets, %llu tokens, %llu of %llu remote "
                  "contributions missing (%.2f%%), root waited %.3f ms per token\n",
                  e->n_devices, (unsigned long long)e->tokens, (unsigned long long)rs->missing,
                  (unsigned long long)rs->expected,
                  rs->expected ? 100.0 * (double)rs->missing / (double)rs->expected : 0.0,
                  e->tokens ? (double)rs->wait_ns / 1e6 / (double)e->tokens : 0.0);
    (void)fprintf(f,
                  "cluster events: %llu workers lost, %llu rejoined, %llu stalls, %llu "
                  "recomputations (%llu tokens replayed), %d workers in the placement\n",
                  (unsigned long long)st.lost, (unsigned long long)st.rejoined,
                  (unsigned long long)st.stalls, (unsigned long long)st.recomputations,
                  (unsigned long long)st.replayed_tokens, st.alive);
    (void)fprintf(f,
                  "root transport: %llu frames sent, %llu received; dropped %llu injected, "
                  "%llu unauthenticated, %llu replayed, %llu malformed, %llu incomplete, %llu "
                  "stale; %llu TCP frames held back\n",
                  (unsigned long long)ns.frames_sent, (unsigned long long)ns.frames_recv,
                  (unsigned long long)ns.injected_drops, (unsigned long long)ns.bad_auth,
                  (unsigned long long)ns.replayed, (unsigned long long)ns.malformed,
                  (unsigned long long)ns.incomplete, (unsigned long long)ns.stale,
                  (unsigned long long)ns.injected_holds);
}

void halo_engine_report(const halo_engine *e, FILE *f) {
    if (e->r) {
        report_remote(e, f);
        return;
    }
    if (!e->c)
        return;
    halo_node *root = halo_cluster_node(e->c, 0);
    const halo_node_stats *rs = halo_node_get_stats(root);
    int n_layers = halo_model_get_config(e->s.model)->n_layers;
    (void)fprintf(f,
                  "cluster: %d devices, %llu tokens, %llu of %llu remote contributions "
                  "missing (%.2f%%), root waited %.3f ms per token\n",
                  e->n_devices, (unsigned long long)e->tokens, (unsigned long long)rs->missing,
                  (unsigned long long)rs->expected,
                  rs->expected ? 100.0 * (double)rs->missing / (double)rs->expected : 0.0,
                  e->tokens ? (double)rs->wait_ns / 1e6 / (double)e->tokens : 0.0);
    if (rs->missing) {
        (void)fprintf(f, "missing by layer (attention/ffn):");
        for (int l = 0; l < n_layers; l++)
            (void)fprintf(f, " %d:%llu/%llu", l,
                          (unsigned long long)halo_node_missing_at(root, l, HALO_PHASE_ATTN),
                          (unsigned long long)halo_node_missing_at(root, l, HALO_PHASE_FFN));
        (void)fprintf(f, "\n");
    }
    (void)fprintf(f, "%-6s %10s %12s %10s %12s %8s %8s %8s %10s\n", "device", "msgs sent",
                  "bytes sent", "msgs recv", "bytes recv", "stale", "dup", "bad", "dropped");
    for (int d = 0; d < e->n_devices; d++) {
        const halo_node_stats *s = halo_node_get_stats(halo_cluster_node(e->c, d));
        halo_loop_stats ls;
        halo_loop_get_stats(e->t, d, &ls);
        (void)fprintf(f, "%-6d %10llu %12llu %10llu %12llu %8llu %8llu %8llu %10llu\n", d,
                      (unsigned long long)s->msgs_sent, (unsigned long long)s->bytes_sent,
                      (unsigned long long)s->msgs_recv, (unsigned long long)s->bytes_recv,
                      (unsigned long long)s->stale, (unsigned long long)s->duplicate,
                      (unsigned long long)s->malformed, (unsigned long long)ls.msgs_dropped);
    }
}

void halo_engine_close(halo_engine *e) {
    halo_remote_free(e->r);
    halo_importance_free(e->imp);
    halo_predictor_free(e->pred);
    halo_cluster_free(e->c);
    halo_transport_free(e->t);
    halo_cli_session_close(&e->s);
    memset(e, 0, sizeof *e);
}
