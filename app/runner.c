/*
 * One device, an in-process cluster or a socket cluster, behind the command line
 * (app/runner.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "app/runner.h"

#include "core/forward.h"
#include "core/importance.h"
#include "core/parse.h"
#include "core/transport_loop.h"
#include "net/clusterfile.h"
#include "net/key.h"
#include "net/replan.h"
#include "net/transport.h"
#include "results/measured.h"
#include "results/report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The world options (codes HALO_RUNNER_OPT_WORLD + index). */
enum {
    W_NODES,
    W_SPEEDS,
    W_DROP,
    W_DROP_DEVICES,
    W_DROP_SEED,
    W_CLUSTER,
    W_DB,
    W_COUNT
};

static const char *const world_names[W_COUNT] = {"nodes",     "speeds",  "drop", "drop-devices",
                                                 "drop-seed", "cluster", "db"};

void halo_runner_opts_init(halo_runner_opts *o) {
    memset(o, 0, sizeof *o);
    o->drop_seed = 1;
}

static void flag_of(const char *key, char *out, size_t cap) {
    (void)halo_engine_flag_name(key, out, cap);
}

static int parse_more(void *ctx, int code, const char *arg, halo_err *err) {
    return halo_runner_parse_opt(ctx, code, arg, err);
}

static void print_help(void *ctx, FILE *f) {
    const halo_runner_opts *o = ctx;
    if (o->with_world)
        (void)fprintf(
            f, "cluster options:\n"
               "      --nodes N                    an in-process cluster of N devices (root\n"
               "                                   included) over the loop transport\n"
               "      --cluster FILE               a cluster of workers over real sockets\n"
               "                                   (docs/net.md); engine flags override its\n"
               "                                   engine: section\n"
               "      --speeds S0,S1,..            relative device speeds (placement balanced or\n"
               "                                   balanced-host, the halo preset)\n"
               "      --drop RATE                  drop messages to/from the drop devices\n"
               "      --drop-devices D,..          devices whose links drop (default: every "
               "worker)\n"
               "      --drop-seed S                seed of the injected drops (default 1)\n"
               "      --db FILE                    store the run as a measured run in this\n"
               "                                   results database (one device or --cluster;\n"
               "                                   docs/results.md)\n\n");
    (void)fprintf(f, "engine flags (the keys of a scenario's engine: section, "
                     "scenarios/README.md):\n");
    halo_engine_print_flags(f);
}

void halo_runner_add_options(halo_runner_opts *o, halo_cli_spec *spec, int with_world) {
    int n = 0;
    for (int k = 0; k < halo_engine_n_keys; k++) {
        flag_of(halo_engine_keys[k].name, o->flag_names[k], sizeof o->flag_names[k]);
        o->longopts[n++] =
            (struct option){o->flag_names[k], required_argument, NULL, HALO_RUNNER_OPT_ENGINE + k};
    }
    for (int w = 0; with_world && w < W_COUNT; w++)
        o->longopts[n++] =
            (struct option){world_names[w], required_argument, NULL, HALO_RUNNER_OPT_WORLD + w};
    o->longopts[n] = (struct option){NULL, 0, NULL, 0};
    o->with_world = with_world;
    spec->more = o->longopts;
    spec->more_parse = parse_more;
    spec->more_help = print_help;
    spec->more_ctx = o;
}

int halo_runner_parse_opt(halo_runner_opts *o, int code, const char *arg, halo_err *err) {
    if (code >= HALO_RUNNER_OPT_ENGINE && code < HALO_RUNNER_OPT_ENGINE + halo_engine_n_keys) {
        /* checked now for a prompt message; applied when the runner opens */
        int k = code - HALO_RUNNER_OPT_ENGINE;
        halo_engine_config scratch;
        halo_engine_config_init(&scratch);
        int rc = halo_engine_set(&scratch, halo_engine_keys[k].name, arg, err);
        halo_engine_config_free(&scratch);
        if (rc != HALO_OK) {
            char flag[40];
            flag_of(halo_engine_keys[k].name, flag, sizeof flag);
            (void)halo_err_prefix(err, "--%s: ", flag);
            return rc;
        }
        o->engine.value[k] = arg;
        return HALO_OK;
    }
    float f;
    int rc;
    switch (code - HALO_RUNNER_OPT_WORLD) {
    case W_NODES:
        return halo_cli_parse_long("--nodes", arg, 1, HALO_MAX_DEVICES, &o->nodes, err);
    case W_SPEEDS:
        o->speeds = arg;
        return HALO_OK;
    case W_DROP:
        rc = halo_cli_parse_float("--drop", arg, 0.0f, 0.999f, &f, err);
        o->drop_rate = f;
        return rc;
    case W_DROP_DEVICES:
        o->drop_devices = arg;
        return HALO_OK;
    case W_DROP_SEED:
        o->set_drop_seed = 1;
        return halo_cli_parse_u64("--drop-seed", arg, &o->drop_seed, err);
    case W_CLUSTER:
        o->cluster = arg;
        return HALO_OK;
    case W_DB:
        o->db = arg;
        return HALO_OK;
    default:
        return 1;
    }
}

/* ==== Opening ==== */

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

/* Parses --speeds into devices[n].speed. */
static int parse_speeds(const char *list, int n, halo_engine_device *dev, halo_err *err) {
    const char *s = list;
    for (int d = 0; d < n; d++) {
        char *end;
        errno = 0;
        double v = strtod(s, &end); /* finite and > 0 (DBL_MIN..DBL_MAX), as weights: takes */
        if (end == s || errno == ERANGE || !(v > 0) || !isfinite(v) ||
            (*end != ',' && *end != '\0') || (d + 1 < n && *end != ','))
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "--speeds: '%s' is not %d positive numbers (one per device)", list, n);
        dev[d].speed = v;
        s = end + (*end == ',');
    }
    if (*s)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "--speeds: '%s' is not %d positive numbers (one per device)", list, n);
    return HALO_OK;
}

/* Applies the engine flags and finishes the configuration for a world of kind `where`;
   errors name the flag. */
static int engine_from_flags(halo_engine_config *c, const halo_runner_opts *o, int n, int where,
                             halo_err *err) {
    const char *bad = NULL;
    int rc = halo_engine_args_apply(c, &o->engine, &bad, err);
    if (rc == HALO_OK)
        rc = halo_engine_config_finish(c, n, 1, where, &bad, err);
    if (rc != HALO_OK) {
        char flag[40];
        flag_of(bad && bad[0] ? bad : "deadline_min_ms", flag, sizeof flag);
        (void)halo_err_prefix(err, "--%s: ", flag);
    }
    return rc;
}

static int open_cluster(halo_runner *e, const halo_runner_opts *o, const char *model_path,
                        halo_err *err) {
    int n = (int)o->nodes;
    e->n_devices = n;
    double *rates = calloc((size_t)n, sizeof *rates);
    uint8_t *drop_set = calloc((size_t)n, 1);
    halo_engine_device *dev = calloc((size_t)n, sizeof *dev);
    halo_engine_config cfg;
    halo_engine_config_init(&cfg);
    int rc = HALO_OK;
    if (!rates || !drop_set || !dev)
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    if (rc == HALO_OK)
        rc = engine_from_flags(&cfg, o, n, HALO_ENGINE_WHERE_LOOP, err);
    /* balanced-host (the halo preset) is balanced here: an in-process cluster's messages have
       no host costs */
    int by_speed = rc == HALO_OK && (strcmp(cfg.placement, "balanced") == 0 ||
                                     strcmp(cfg.placement, "balanced-host") == 0);
    if (rc == HALO_OK && strcmp(cfg.placement, "scheduled") == 0)
        rc = HALO_FAIL(err, HALO_ERR_ARG,
                       "--placement scheduled needs device and link profiles, which an in-process "
                       "cluster (--nodes) has not: use a scenario (halo sim) or --placement "
                       "balanced with --speeds");
    if (rc == HALO_OK && o->speeds && !by_speed)
        rc = HALO_FAIL(err, HALO_ERR_ARG,
                       "--speeds is used by placement balanced and balanced-host only (this "
                       "cluster's placement is %s)",
                       cfg.placement);
    if (rc == HALO_OK && o->speeds)
        rc = parse_speeds(o->speeds, n, dev, err);
    if (rc == HALO_OK && by_speed && !o->speeds)
        rc = HALO_FAIL(err, HALO_ERR_ARG,
                       "placement %s (--baseline balanced or halo) needs --speeds on an "
                       "in-process cluster",
                       cfg.placement);
    if (rc == HALO_OK && o->drop_devices)
        rc = parse_device_set("--drop-devices", o->drop_devices, n, drop_set, err);
    if (rc == HALO_OK) {
        for (int d = 1; d < n; d++)
            dev[d].loss = rates[d] = (o->drop_devices ? drop_set[d] : 1) ? o->drop_rate : 0.0;
        halo_loop_config lc = {.n_nodes = n, .drop_rate = rates, .seed = o->drop_seed};
        rc = halo_loop_new(&e->t, &lc, err);
    }
    char bundled[4096];
    halo_engine_env env = {.model = e->b.model,
                           .model_path = model_path,
                           .default_predictor =
                               halo_cli_bundled_path("stories260K.pred", bundled, sizeof bundled),
                           .name = "--nodes",
                           .n_devices = n,
                           .devices = dev,
                           .seed = 1};
    if (rc == HALO_OK)
        rc = halo_engine_new(&e->engine, &cfg, &env, err);
    if (rc == HALO_OK)
        rc = halo_engine_cluster_new(&e->c, e->engine, e->t, e->b.pool, err);
    halo_engine_config_free(&cfg);
    free(rates);
    free(drop_set);
    free(dev);
    return rc;
}

static void log_line(void *ctx, const char *line) {
    (void)ctx;
    (void)fprintf(stderr, "halo: %s\n", line);
}

/* A socket cluster's default for engine key `name`: set to `value` unless the file or a flag
   set it, and still counted as not set (a later preset or flag may replace it). */
static int net_default(halo_engine_config *c, const char *name, const char *value, halo_err *err) {
    if (halo_engine_is_set(c, name))
        return HALO_OK;
    int rc = halo_engine_set(c, name, value, err);
    c->set &= ~(1ull << halo_engine_key_find(name));
    return rc;
}

/* The engine of a socket cluster: the file's engine section, the flags over it. */
static int remote_engine(halo_runner *e, halo_clusterfile *cf, const halo_runner_opts *o,
                         const char *model_path, int *scheduled, halo_err *err) {
    int n = cf->n_workers + 1;
    const char *bad = NULL;
    int rc = halo_engine_args_apply(&cf->engine, &o->engine, &bad, err);
    int halo = strcmp(cf->engine.baseline, "halo") == 0;
    /* The halo preset splits by device speed (and host costs); a socket cluster does not know
       its workers' speeds, so the preset's split is equal there (an explicit placement: balanced
       still asks for speeds). */
    if (rc == HALO_OK && cf->engine.placement &&
        (strcmp(cf->engine.placement, "balanced") == 0 ||
         strcmp(cf->engine.placement, "balanced-host") == 0))
        rc = net_default(&cf->engine, "placement", "equal", err);
    /* Real sockets answer in ~0.1 ms and their jitter is measured (rttvar): the preset's floor of
       0.5 ms, made for simulated links, would make every lost exchange cost five loss-free syncs
       of a small model (issue 15). A file or flag that sets the key keeps its value. */
    if (rc == HALO_OK)
        rc = net_default(&cf->engine, "deadline_min_ms", "0.1", err);
    /* The halo preset over real sockets sends parity datagrams after every message to a peer
       whose frames were lost lately (issue 15: on the 110M model three datagrams a message
       lost 14% of the messages at 5% frame loss, each a re-ask after a compute-time
       deadline; with P and Q 0.12%; the bundled model's one-datagram messages get a copy;
       on a clean network none is sent). The
       simulated preset keeps it off (its figures stay as published). */
    if (rc == HALO_OK && halo)
        rc = net_default(&cf->engine, "parity", "true", err);
    /* ... keeps critical FFN groups where the placement put them (issue 15). Moving them onto
       reliable devices re-deals every FFN block's groups by score while a link loses, so a
       worker's groups are no longer one run of consecutive rows and columns: its packed
       weight windows stop matching and it reads scattered 32-column strips of W2 in place.
       On the 110M model at 5% kernel drops the workers spent about 5 ms more CPU per token
       for nothing recovered (0 missing either way): over sockets a critical device is
       awaited and re-asked, and parity rebuilds the lost datagrams (docs/net.md, "Critical
       groups stay in place"). The simulated preset keeps moving them (its figures stay as
       published). */
    if (rc == HALO_OK && halo)
        rc = net_default(&cf->engine, "place_critical", "false", err);
    /* ... and splits the classifier over the workers when that moves enough of its weights off
       the root to pay for the one more exchange per token (halo_engine_split_classifier_pays:
       on a 32000-token vocabulary, not on the bundled model's 512; issue 15). The simulated
       preset keeps the root computing it (its figures stay as published). */
    if (rc == HALO_OK && halo)
        rc = net_default(&cf->engine, "split_classifier", "auto", err);
    if (rc == HALO_OK) {
        /* a key a flag set is named as the flag, a key of the file at its line */
        halo_engine_config trial;
        rc = halo_engine_config_copy(&trial, &cf->engine, err);
        if (rc == HALO_OK &&
            halo_engine_config_finish(&trial, n, 1, HALO_ENGINE_WHERE_NET, &bad, NULL) != HALO_OK &&
            bad && bad[0] && o->engine.value[halo_engine_key_find(bad)])
            rc = engine_from_flags(&trial, o, n, HALO_ENGINE_WHERE_NET, err);
        halo_engine_config_free(&trial);
    }
    if (rc == HALO_OK)
        rc = halo_clusterfile_finish(cf, 1, err);
    /* placement scheduled: the root probes its workers at join and runs the scheduler itself
       (net/replan.h); the engine starts from an equal split it does not use */
    *scheduled =
        rc == HALO_OK && cf->engine.placement && strcmp(cf->engine.placement, "scheduled") == 0;
    if (*scheduled)
        rc = halo_engine_set(&cf->engine, "placement", "equal", err);
    char bundled[4096];
    halo_engine_env env = {.model = e->b.model,
                           .model_path = model_path,
                           .default_predictor =
                               halo_cli_bundled_path("stories260K.pred", bundled, sizeof bundled),
                           .name = o->cluster,
                           .n_devices = n,
                           .seed = cf->seed};
    if (rc == HALO_OK)
        rc = halo_engine_new(&e->engine, &cf->engine, &env, err);
    if (rc == HALO_OK && cf->engine.split_classifier == HALO_ENGINE_SPLIT_AUTO &&
        halo_engine_get_config(e->engine)->collective == HALO_COLLECTIVE_STAR && n > 1) {
        double moved = 0.0;
        int on = halo_engine_split_classifier_pays(halo_model_get_config(e->b.model), n, &moved);
        char line[192];
        (void)snprintf(line, sizeof line,
                       "split classifier (auto): %s, %.3g classifier weights per token %s the "
                       "root (threshold %.3g)",
                       on ? "on" : "off", moved, on ? "moved off" : "would move off",
                       HALO_ENGINE_SPLIT_MIN_WEIGHTS);
        log_line(NULL, line);
    }
    return rc;
}

/* --cluster FILE: the root of a socket cluster. */
static int open_remote(halo_runner *e, const halo_runner_opts *o, const char *model_path,
                       halo_err *err) {
    if (o->speeds || o->drop_devices)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "--speeds and --drop-devices do not apply to --cluster (the cluster "
                         "file's engine.placement sets the split)");
    halo_clusterfile cf;
    int rc = halo_clusterfile_load(&cf, o->cluster, err);
    if (rc != HALO_OK)
        return rc;
    int n = cf.n_workers + 1;
    e->n_devices = n;
    uint8_t key[HALO_NET_KEY_BYTES];
    double *shares = calloc((size_t)n, sizeof *shares);
    if (!shares)
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    if (rc == HALO_OK)
        rc = halo_net_key_load(cf.key_path, key, err);
    int scheduled = 0;
    if (rc == HALO_OK)
        rc = remote_engine(e, &cf, o, model_path, &scheduled, err);
    if (rc == HALO_OK && !scheduled && (cf.replan_tokens || cf.replan_band > 0 || cf.speed))
        rc = HALO_FAIL(err, HALO_ERR_ARG,
                       "%s: %s applies to engine.placement scheduled only (the placement is %s)",
                       o->cluster,
                       cf.speed           ? "inject.speed"
                       : cf.replan_tokens ? "replan_tokens"
                                          : "replan_band",
                       halo_engine_get_config(e->engine)->placement);
    if (rc == HALO_OK)
        rc = halo_engine_shares(e->engine, shares, err);
    if (rc == HALO_OK) {
        const halo_engine_config *ec = halo_engine_get_config(e->engine);
        halo_remote_config rc_cfg = {
            .model = e->b.model,
            .pool = e->b.pool,
            .kind = ec->delivery == HALO_DELIVERY_STREAM ? HALO_NET_KIND_TCP : HALO_NET_KIND_UDP,
            .n_workers = cf.n_workers,
            .workers = (const char *const *)cf.workers,
            .bind = cf.bind,
            .key = key,
            .ffn_group_size = ec->group_size,
            .encoding = ec->encoding,
            .sync = *halo_engine_sync(e->engine),
            .weights = shares,
            .loss_rate = o->drop_rate > 0 ? o->drop_rate : cf.loss,
            .delay_ns = (uint64_t)(cf.delay_ms * 1e6),
            .loss_seed = o->set_drop_seed ? o->drop_seed : cf.seed,
            .join_timeout_ns = (uint64_t)(cf.join_timeout_ms * 1e6),
            .heartbeat_ns = (uint64_t)(cf.heartbeat_ms * 1e6),
            .dead_after_ns = (uint64_t)(cf.dead_after_ms * 1e6),
            .rejoin_ns = (uint64_t)(cf.rejoin_ms * 1e6),
            .auth_only = cf.auth_only,
            .collective = ec->collective,
            .split_classifier = ec->split_classifier,
            .parity = ec->parity && ec->delivery == HALO_DELIVERY_DATAGRAM,
            .stall_ns = (uint64_t)(cf.stall_ms * 1e6),
            .spin_ns = (uint64_t)llround(cf.spin_us * 1e3),
            .scheduled = scheduled,
            .replan_tokens = cf.replan_tokens,
            .replan_band = cf.replan_band,
            .speed_override = cf.speed,
            .warmup = !cf.no_warmup,
            .log_fn = log_line};
        e->loss = rc_cfg.loss_rate;
        (void)snprintf(e->system, sizeof e->system, "%s",
                       ec->policy == HALO_SYNC_POLICY_STRICT
                           ? (rc_cfg.kind == HALO_NET_KIND_TCP ? "halo-strict" : "halo-strict-udp")
                       : ec->importance >= 0 ? "halo"
                                             : "halo-relaxed");
        if (o->db) {
            /* what ran: the file, a summary, then the whole engine configuration (canonical
               JSON, every key, as a simulated run stores it in its columns) */
            size_t json = halo_engine_config_json(ec, NULL, 0);
            size_t cap = strlen(o->cluster) + 256 + json + 16;
            if (!(e->source = malloc(cap)))
                rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
            else
                (void)snprintf(e->source, cap,
                               "%s; engine %s, %s, %s, deadline %s, redundancy %d, placement %s%s",
                               o->cluster, ec->baseline[0] ? ec->baseline : "custom",
                               ec->policy == HALO_SYNC_POLICY_STRICT ? "strict" : "relaxed",
                               rc_cfg.kind == HALO_NET_KIND_TCP ? "tcp" : "udp",
                               ec->adaptive_deadline ? "adaptive" : "fixed", ec->redundancy,
                               scheduled ? "scheduled" : ec->placement,
                               ec->collective == HALO_COLLECTIVE_MESH ? ", mesh"
                               : ec->split_classifier                 ? ", split classifier"
                                                                      : "");
            if (e->source) {
                size_t len = strlen(e->source);
                (void)snprintf(e->source + len, cap - len, "; engine ");
                len = strlen(e->source);
                (void)halo_engine_config_json(ec, e->source + len, cap - len);
            }
        }
        if (rc == HALO_OK)
            rc = halo_remote_new(&e->r, &rc_cfg, err);
    }
    memset(key, 0, sizeof key);
    free(shares);
    halo_clusterfile_free(&cf);
    return rc;
}

/* The model's name for a measured run: the checkpoint's file name without its extension, other
   characters than letters, digits, '-', '_' and '.' as '_'. */
static void model_name(const char *path, char *out, size_t cap) {
    const char *base = path ? strrchr(path, '/') : NULL;
    base = base ? base + 1 : path ? path : "stories260K.bin";
    size_t n = 0;
    const char *dot = strrchr(base, '.');
    for (const char *p = base; *p && (!dot || p < dot || dot == base) && n + 1 < cap; p++) {
        out[n++] = halo_parse_name_char(*p) ? *p : '_';
    }
    out[n] = '\0';
    if (n == 0)
        (void)snprintf(out, cap, "model");
}

int halo_runner_open(halo_runner *e, const char *model_path, const char *tokenizer_path,
                     int threads, const halo_runner_opts *o, halo_err *err) {
    memset(e, 0, sizeof *e);
    if (o->nodes && o->cluster)
        return HALO_FAIL(err, HALO_ERR_ARG, "--nodes and --cluster exclude each other");
    if (!o->nodes && !o->cluster &&
        (halo_engine_args_any(&o->engine) || o->drop_rate > 0 || o->drop_devices || o->speeds))
        return HALO_FAIL(err, HALO_ERR_ARG, "cluster options need --nodes N");
    if (o->db && o->nodes)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "--db stores runs of one device or of a socket cluster (--cluster), not "
                         "of an in-process one (--nodes: simulate it with a scenario instead)");
    e->opened_ns = halo_cli_now_ns();
    model_name(model_path, e->model, sizeof e->model);
    (void)snprintf(e->system, sizeof e->system, "halo-single");
    int rc = halo_bundle_open(&e->b, model_path, tokenizer_path, threads, err);
    if (rc == HALO_OK && o->nodes)
        rc = open_cluster(e, o, model_path, err);
    if (rc == HALO_OK && o->cluster)
        rc = open_remote(e, o, model_path, err);
    if (rc == HALO_OK && o->db && !e->source && !(e->source = strdup("single device")))
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    e->record = o->db != NULL;
    if (rc != HALO_OK)
        halo_runner_close(e);
    return rc;
}

static int forward(halo_runner *e, int token, int pos, const float **logits, halo_err *err) {
    if (e->r)
        return halo_remote_forward(e->r, token, pos, logits, err);
    if (!e->c) {
        *logits = halo_forward(e->b.state, token, pos);
        return HALO_OK;
    }
    return halo_cluster_forward(e->c, token, pos, logits, err);
}

int halo_runner_forward(halo_runner *e, int token, int pos, const float **logits, halo_err *err) {
    e->tokens++;
    if (!e->record)
        return forward(e, token, pos, logits, err);
    if (e->n_token_ms == e->cap_token_ms) {
        size_t cap = e->cap_token_ms ? 2 * e->cap_token_ms : 1024;
        double *p = realloc(e->token_ms, cap * sizeof *p);
        if (!p)
            return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
        e->token_ms = p;
        e->cap_token_ms = cap;
    }
    uint64_t t0 = halo_cli_now_ns();
    int rc = forward(e, token, pos, logits, err);
    if (rc == HALO_OK)
        e->token_ms[e->n_token_ms++] = (double)(halo_cli_now_ns() - t0) / 1e6;
    return rc;
}

int halo_runner_record(const halo_runner *e, const halo_runner_opts *o, const char *harness,
                       int failed, halo_err *err) {
    if (!o->db)
        return HALO_OK;
    halo_measured_run_info info = {.system = e->system,
                                   .model = e->model,
                                   .loss = e->loss,
                                   .nodes = e->r ? e->n_devices : 1,
                                   .missing_pct = NAN,
                                   .wall_s = (double)(halo_cli_now_ns() - e->opened_ns) / 1e9,
                                   .failed = failed};
    halo_measured_replan replans[64];
    const halo_replan *rp = e->r ? halo_remote_replan(e->r) : NULL;
    for (int i = 0, n = rp ? halo_replan_count_events(rp) : 0; i < n; i++) {
        const halo_replan_event *ev = halo_replan_event_at(rp, i);
        if (ev && info.n_replans < 64)
            replans[info.n_replans++] = (halo_measured_replan){.token = ev->token,
                                                               .reason = ev->reason,
                                                               .old_split = ev->old_split,
                                                               .new_split = ev->new_split};
    }
    info.replans = replans;
    if (e->r) {
        halo_net_stats ns;
        halo_net_get_stats(halo_remote_transport(e->r), &ns);
        uint64_t expected, missing;
        halo_runner_contributions(e, &expected, &missing);
        info.frames = (long long)(ns.frames_sent + ns.frames_recv + ns.injected_drops);
        info.dropped = (long long)ns.injected_drops;
        info.missing_pct = expected ? 100.0 * (double)missing / (double)expected : 0.0;
    }
    halo_db *db = NULL;
    int rc = halo_db_new(&db, o->db, HALO_DB_CREATE, err);
    long long run = 0;
    if (rc == HALO_OK)
        rc = halo_measured_record(db, harness, e->source ? e->source : "halo", &info, e->token_ms,
                                  (long)e->n_token_ms, &run, err);
    halo_db_free(db);
    if (rc == HALO_OK)
        (void)fprintf(stderr, "halo: measured run %s/%s/%d/%g run %lld stored in %s\n", e->system,
                      e->model, info.nodes, info.loss, run, o->db);
    return rc;
}

void halo_runner_contributions(const halo_runner *e, uint64_t *expected, uint64_t *missing) {
    *expected = *missing = 0;
    if (e->c || e->r) {
        const halo_node_stats *rs =
            halo_node_get_stats(e->r ? halo_remote_root(e->r) : halo_cluster_node(e->c, 0));
        *expected = rs->expected;
        *missing = rs->missing;
    }
}

/* ==== Reports ==== */

/* The first line of either kind of cluster's report. */
static void report_root(const halo_runner *e, const halo_node_stats *rs, const char *how, FILE *f) {
    (void)fprintf(f,
                  "cluster: %d devices%s, %llu tokens, %llu of %llu remote contributions "
                  "missing (%.2f%%), root waited %.3f ms per token\n",
                  e->n_devices, how, (unsigned long long)e->tokens, (unsigned long long)rs->missing,
                  (unsigned long long)rs->expected,
                  rs->expected ? 100.0 * (double)rs->missing / (double)rs->expected : 0.0,
                  e->tokens ? (double)rs->wait_ns / 1e6 / (double)e->tokens : 0.0);
}

static void report_remote(const halo_runner *e, FILE *f) {
    halo_net_stats ns;
    halo_remote_stats st;
    halo_net_get_stats(halo_remote_transport(e->r), &ns);
    halo_remote_get_stats(e->r, &st);
    const halo_node_stats *rs = halo_node_get_stats(halo_remote_root(e->r));
    report_root(e, rs, " over sockets", f);
    (void)fprintf(f,
                  "root sync: mean deadline %.3f ms, %llu activations re-sent to awaited "
                  "devices, %llu late or stale contributions, %llu duplicates, %llu deadlines "
                  "extended for a late device\n",
                  rs->deadlines ? (double)rs->deadline_sum_ns / 1e6 / (double)rs->deadlines : 0.0,
                  (unsigned long long)rs->retries, (unsigned long long)rs->stale,
                  (unsigned long long)rs->duplicate, (unsigned long long)rs->extended);
    (void)fprintf(f,
                  "cluster events: %llu workers lost, %llu rejoined, %llu stalls, %llu "
                  "recomputations (%llu tokens replayed), %d workers in the placement\n",
                  (unsigned long long)st.lost, (unsigned long long)st.rejoined,
                  (unsigned long long)st.stalls, (unsigned long long)st.recomputations,
                  (unsigned long long)st.replayed_tokens, st.alive);
    if (st.warmup_ns)
        (void)fprintf(f,
                      "cluster warm-up: one pass before the first token, %.1f ms%s (start-up "
                      "time, in none of the per-token figures)\n",
                      (double)st.warmup_ns / 1e6,
                      st.warmup_done ? "" : ", given up (stalled or a worker lost)");
    const halo_replan *rp = halo_remote_replan(e->r);
    if (rp) {
        char split[192];
        halo_replan_split(rp, split, sizeof split);
        (void)fprintf(f, "scheduled placement: %llu re-plans; split now %s\n",
                      (unsigned long long)st.replans, split);
    }
    (void)fprintf(f,
                  "root transport: %llu frames sent, %llu received; dropped %llu injected, "
                  "%llu unauthenticated, %llu replayed, %llu malformed, %llu incomplete, %llu "
                  "stale, %llu outside the session; %llu TCP frames held back; %llu parity "
                  "frames sent, %llu messages repaired from parity; %llu frames lost on the "
                  "way in (sequence gaps)\n",
                  (unsigned long long)ns.frames_sent, (unsigned long long)ns.frames_recv,
                  (unsigned long long)ns.injected_drops, (unsigned long long)ns.bad_auth,
                  (unsigned long long)ns.replayed, (unsigned long long)ns.malformed,
                  (unsigned long long)ns.incomplete, (unsigned long long)ns.stale,
                  (unsigned long long)ns.bad_session, (unsigned long long)ns.injected_holds,
                  (unsigned long long)ns.parity_sent, (unsigned long long)ns.repaired,
                  (unsigned long long)ns.gap_frames);
    const halo_engine_config *ec = halo_engine_get_config(e->engine);
    if (ec->split_classifier && ec->collective == HALO_COLLECTIVE_STAR && e->n_devices > 1)
        (void)fprintf(f,
                      "root classifier: split over %d devices; %llu workers' slices computed by "
                      "the root, still missing at the second deadline; %llu tokens computed by "
                      "the root alone, a link having lost lately\n",
                      e->n_devices, (unsigned long long)rs->cls_local,
                      (unsigned long long)rs->cls_whole);
    halo_winpack_stats ps = halo_node_packed(halo_remote_root(e->r));
    if (ps.copies)
        (void)fprintf(f, "root weight windows: %ld copied, %.1f MB held (%s)%s\n", ps.copies,
                      (double)ps.window_bytes / 1e6,
                      ps.huge ? "huge pages advised" : "no huge pages",
                      ps.stopped ? "; copying stopped: windows moving or over the budget" : "");
    const halo_importance_stats *is = halo_engine_importance_stats(e->engine);
    if (is)
        (void)fprintf(f,
                      "root importance: %llu of %llu syncs scored by the predictor (%.3f GFLOP), "
                      "%llu critical groups left on unreliable devices, %llu groups moved off "
                      "their device (place_critical)\n",
                      (unsigned long long)is->syncs, (unsigned long long)rs->deadlines,
                      is->predictor_flops / 1e9, (unsigned long long)is->critical_exposed,
                      (unsigned long long)is->moved);
}

void halo_runner_report(const halo_runner *e, FILE *f) {
    if (e->r) {
        report_remote(e, f);
        return;
    }
    if (!e->c)
        return;
    halo_node *root = halo_cluster_node(e->c, 0);
    const halo_node_stats *rs = halo_node_get_stats(root);
    int n_layers = halo_model_get_config(e->b.model)->n_layers;
    report_root(e, rs, "", f);
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

void halo_runner_replans_json(const halo_runner *e, FILE *f) {
    const halo_replan *rp = e->r ? halo_remote_replan(e->r) : NULL;
    if (!rp)
        return;
    (void)fprintf(f, ", \"replans\": [");
    for (int i = 0, k = 0, n = halo_replan_count_events(rp); i < n; i++) {
        const halo_replan_event *ev = halo_replan_event_at(rp, i);
        if (!ev)
            continue;
        (void)fprintf(f, "%s{\"token\": %d, \"reason\": ", k++ ? ", " : "", ev->token);
        halo_report_json_string(f, ev->reason);
        (void)fprintf(f, ", \"old_split\": ");
        halo_report_json_string(f, ev->old_split);
        (void)fprintf(f, ", \"new_split\": ");
        halo_report_json_string(f, ev->new_split);
        (void)fprintf(f, "}");
    }
    (void)fprintf(f, "]");
}

void halo_runner_close(halo_runner *e) {
    free(e->token_ms);
    free(e->source);
    halo_remote_free(e->r);
    halo_cluster_free(e->c);
    halo_engine_free(e->engine);
    halo_transport_free(e->t);
    halo_bundle_close(&e->b);
    memset(e, 0, sizeof *e);
}
