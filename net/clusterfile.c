/*
 * Cluster files (net/clusterfile.h), read with the project's YAML reader (core/yaml.h) and
 * the engine section's reader shared with scenarios (core/engine_yaml.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "net/clusterfile.h"

#include "core/engine_yaml.h"
#include "core/parse.h"
#include "core/yaml.h"
#include "net/addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Cluster files are a few lines: small limits keep hostile input cheap. */
static const halo_yaml_limits limits = {
    .max_bytes = 1u << 20, .max_depth = 16, .max_nodes = 100000, .max_expanded_bytes = 4u << 20};

static const char *const top_keys[] = {"key",           "workers",   "bind",     "heartbeat_ms",
                                       "dead_after_ms", "rejoin_ms", "stall_ms", "join_timeout_ms",
                                       "inject",        "engine",    "encrypt",  "replan_tokens",
                                       "replan_band",   "warmup",    "spin_us",  NULL};

/* Keys of earlier versions, now in the engine section: a message that says where. */
static const struct {
    const char *key, *hint;
} moved[] = {
    {"transport", "engine.delivery (datagram = udp, stream = tcp)"},
    {"sync", "engine.sync"},
    {"deadline_ms", "engine.deadline_ms"},
    {"weights", "engine.placement (weights:W0,W1,..)"},
    {"importance", "engine.importance"},
    {"tau", "engine.tau"},
    {"predictor", "engine.predictor"},
};

static int bad(halo_err *err, const halo_yaml_node *at, const char *kp, const char *what) {
    return halo_yaml_fail(err, HALO_ERR_FORMAT, at->file, at->line, kp, "%s", what);
}

static int get_scalar(const halo_yaml_node *v, const char *kp, const char *what, halo_err *err) {
    if (v->kind != HALO_YAML_SCALAR || halo_yaml_is_null(v))
        return halo_yaml_fail(
            err, HALO_ERR_FORMAT, v->file, v->line, kp, "expected %s, got %s", what,
            v->kind == HALO_YAML_SCALAR ? "an empty value" : halo_yaml_kind_name(v));
    return HALO_OK;
}

static int get_number(const halo_yaml_node *v, const char *kp, double lo, double hi, double *out,
                      halo_err *err) {
    int rc = get_scalar(v, kp, "a number", err);
    if (rc == HALO_OK && (!v->plain || halo_parse_number(v->str, lo, 0, hi, 0, out, err)))
        rc = v->plain ? halo_yaml_prefix(err, v, kp)
                      : halo_yaml_fail(err, HALO_ERR_FORMAT, v->file, v->line, kp,
                                       "expected a number, got the string '%s'", v->str);
    return rc;
}

/* Top-level key `kp` of r as true or false into *out (left as it is when absent). */
static int get_bool(const halo_yaml_node *r, const char *kp, int *out, halo_err *err) {
    const halo_yaml_node *v = halo_yaml_get(r, kp);
    if (!v)
        return HALO_OK;
    int rc = get_scalar(v, kp, "true or false", err);
    if (rc == HALO_OK && halo_parse_bool(v->str, out, err) != HALO_OK)
        rc = halo_yaml_prefix(err, v, kp);
    return rc;
}

/* `rel` relative to the directory of `path` (unchanged when absolute). */
static char *beside(const char *path, const char *rel) {
    const char *slash = strrchr(path, '/');
    if (rel[0] == '/' || !slash)
        return strdup(rel);
    size_t dir = (size_t)(slash - path) + 1, n = dir + strlen(rel) + 1;
    char *p = malloc(n);
    if (p) {
        memcpy(p, path, dir);
        memcpy(p + dir, rel, strlen(rel) + 1);
    }
    return p;
}

static int set_string(char **slot, const halo_yaml_node *v, const char *kp, const char *path,
                      halo_err *err) {
    int rc = get_scalar(v, kp, "a string", err);
    if (rc != HALO_OK)
        return rc;
    char *d = path ? beside(path, v->str) : strdup(v->str);
    if (!d)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    free(*slot);
    *slot = d;
    return HALO_OK;
}

static int load_workers(halo_clusterfile *cf, const halo_yaml_node *v, halo_err *err) {
    if (v->kind != HALO_YAML_SEQ)
        return bad(err, v, "workers", "expected a list of host:port");
    int n = v->n;
    if (n < 1 || n >= HALO_MAX_DEVICES)
        return bad(err, v, "workers", "expected 1 or more worker addresses");
    cf->workers = calloc((size_t)n, sizeof *cf->workers);
    if (!cf->workers)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    cf->n_workers = n;
    halo_net_addr *seen = calloc((size_t)n, sizeof *seen);
    if (!seen)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    int rc = HALO_OK;
    for (int i = 0; rc == HALO_OK && i < n; i++) {
        const halo_yaml_node *it = v->items[i];
        char kp[HALO_YAML_KP_MAX];
        (void)halo_yaml_kp_idx(kp, "workers", i);
        rc = get_scalar(it, kp, "host:port", err);
        if (rc == HALO_OK && halo_net_addr_parse(&seen[i], it->str, err) != HALO_OK)
            rc = halo_yaml_prefix(err, it, kp);
        /* one process serves one root: a second entry for it would be a second device that
           never answers (it would join twice, and the second join replaces the first) */
        for (int j = 0; rc == HALO_OK && j < i; j++)
            if (halo_net_addr_equal(&seen[i], &seen[j]))
                rc = halo_yaml_fail(err, HALO_ERR_FORMAT, it->file, it->line, kp,
                                    "'%s' is workers[%d]'s address too: name each worker once",
                                    it->str, j);
        if (rc == HALO_OK && !(cf->workers[i] = strdup(it->str)))
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    }
    free(seen);
    return rc;
}

/* inject.speed: one speed (flop/s) per device, the root first, used instead of the probes. */
static int load_speed(halo_clusterfile *cf, const halo_yaml_node *v, halo_err *err) {
    if (v->kind != HALO_YAML_SEQ || v->n != cf->n_workers + 1)
        return bad(err, v, "inject.speed",
                   "expected a list of one speed (flop/s) per device (the root first, then "
                   "each worker)");
    if (!(cf->speed = calloc((size_t)v->n, sizeof *cf->speed)))
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    for (int i = 0; i < v->n; i++) {
        char kp[HALO_YAML_KP_MAX];
        (void)halo_yaml_kp_idx(kp, "inject.speed", i);
        int rc = get_number(v->items[i], kp, 1.0, 1e18, &cf->speed[i], err);
        if (rc != HALO_OK)
            return rc;
    }
    return HALO_OK;
}

static int load_inject(halo_clusterfile *cf, const halo_yaml_node *m, halo_err *err) {
    static const char *const keys[] = {"loss", "delay_ms", "seed", "speed", NULL};
    if (m->kind != HALO_YAML_MAP)
        return bad(err, m, "inject", "expected a mapping (loss, delay_ms, seed, speed)");
    int rc = halo_yaml_check_keys(m, "inject", keys, err);
    const halo_yaml_node *v;
    if (rc == HALO_OK && (v = halo_yaml_get(m, "loss")))
        rc = get_number(v, "inject.loss", 0.0, 0.999, &cf->loss, err);
    if (rc == HALO_OK && (v = halo_yaml_get(m, "delay_ms")))
        rc = get_number(v, "inject.delay_ms", 0.0, 60000.0, &cf->delay_ms, err);
    if (rc == HALO_OK && (v = halo_yaml_get(m, "seed")) &&
        (rc = get_scalar(v, "inject.seed", "an integer", err)) == HALO_OK &&
        halo_parse_u64(v->str, &cf->seed, err) != HALO_OK)
        rc = halo_yaml_prefix(err, v, "inject.seed");
    if (rc == HALO_OK && (v = halo_yaml_get(m, "speed")))
        rc = load_speed(cf, v, err);
    return rc;
}

static int load_top(halo_clusterfile *cf, const halo_yaml_node *r, halo_err *err) {
    for (int i = 0; i < r->n; i++)
        for (size_t k = 0; k < sizeof moved / sizeof moved[0]; k++)
            if (strcmp(r->keys[i], moved[k].key) == 0)
                return halo_yaml_fail(err, HALO_ERR_FORMAT, r->file, r->key_lines[i], r->keys[i],
                                      "this key moved to %s", moved[k].hint);
    int rc = halo_yaml_check_keys(r, "", top_keys, err);
    const halo_yaml_node *v;
    if (rc == HALO_OK && (v = halo_yaml_get(r, "workers")))
        rc = load_workers(cf, v, err);
    if (rc == HALO_OK && (v = halo_yaml_get(r, "key")))
        rc = v->kind == HALO_YAML_SCALAR && v->str && !v->str[0]
                 ? bad(err, v, "key", "expected a key file's name, got an empty string")
                 : set_string(&cf->key_path, v, "key", cf->path, err);
    if (rc == HALO_OK && (v = halo_yaml_get(r, "bind"))) {
        halo_net_addr a;
        rc = set_string(&cf->bind, v, "bind", NULL, err);
        if (rc == HALO_OK && halo_net_addr_parse(&a, v->str, err) != HALO_OK)
            rc = halo_yaml_prefix(err, v, "bind");
        /* a socket of one family cannot reach an address of the other */
        for (int i = 0; rc == HALO_OK && i < cf->n_workers; i++) {
            halo_net_addr w;
            if (halo_net_addr_parse(&w, cf->workers[i], err) == HALO_OK &&
                w.ss.ss_family != a.ss.ss_family)
                rc = halo_yaml_fail(err, HALO_ERR_FORMAT, v->file, v->line, "bind",
                                    "'%s' is an %s address and cannot reach workers[%d] (%s, %s)",
                                    v->str, a.ss.ss_family == AF_INET6 ? "IPv6" : "IPv4", i,
                                    cf->workers[i], w.ss.ss_family == AF_INET6 ? "IPv6" : "IPv4");
        }
    }
    static const char *const ms_keys[] = {"heartbeat_ms", "dead_after_ms", "rejoin_ms", "stall_ms",
                                          "join_timeout_ms"};
    double *ms_vals[] = {&cf->heartbeat_ms, &cf->dead_after_ms, &cf->rejoin_ms, &cf->stall_ms,
                         &cf->join_timeout_ms};
    for (int i = 0; rc == HALO_OK && i < 5; i++)
        if ((v = halo_yaml_get(r, ms_keys[i])))
            rc = get_number(v, ms_keys[i], 1.0, 3.6e6, ms_vals[i], err);
    if (rc == HALO_OK && (v = halo_yaml_get(r, "inject")))
        rc = load_inject(cf, v, err);
    double replan_tokens = 0;
    if (rc == HALO_OK && (v = halo_yaml_get(r, "replan_tokens")) &&
        (rc = get_number(v, "replan_tokens", 1, 1e6, &replan_tokens, err)) == HALO_OK &&
        replan_tokens != (double)(int)replan_tokens)
        rc = bad(err, v, "replan_tokens", "expected a whole number of tokens");
    cf->replan_tokens = (int)replan_tokens;
    if (rc == HALO_OK && (v = halo_yaml_get(r, "replan_band")))
        rc = get_number(v, "replan_band", 0.01, 10, &cf->replan_band, err);
    cf->spin_us = HALO_CLUSTER_SPIN_US;
    if (rc == HALO_OK && (v = halo_yaml_get(r, "spin_us")))
        rc = get_number(v, "spin_us", 0, 10000, &cf->spin_us, err);
    int encrypt = 1, warm = 1;
    if (rc == HALO_OK)
        rc = get_bool(r, "encrypt", &encrypt, err);
    if (rc == HALO_OK)
        rc = get_bool(r, "warmup", &warm, err);
    cf->auth_only = !encrypt;
    cf->no_warmup = !warm;
    if (rc == HALO_OK && !cf->n_workers)
        rc =
            HALO_FAIL(err, HALO_ERR_FORMAT, "%s: workers: missing (a list of host:port)", cf->path);
    if (rc == HALO_OK && !cf->key_path)
        rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key: missing (a key file; halo keygen FILE)",
                       cf->path);
    return rc;
}

/* engine.predictor: relative to the cluster file. */
static int engine_path(void *ctx, const halo_yaml_node *at, const char *kp, const char *value,
                       char **out, halo_err *err) {
    const halo_clusterfile *cf = ctx;
    (void)at;
    (void)kp;
    *out = beside(cf->path, value);
    return *out ? HALO_OK : HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
}

int halo_clusterfile_load(halo_clusterfile *cf, const char *path, halo_err *err) {
    memset(cf, 0, sizeof *cf);
    cf->seed = 1;
    halo_engine_config_init(&cf->engine);
    if (!(cf->path = strdup(path)))
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    int rc = halo_yaml_load(&cf->doc, path, &limits, err);
    if (rc == HALO_ERR_IO && err)
        (void)halo_err_prefix(err, "cluster file: ");
    const halo_yaml_node *r = rc == HALO_OK ? cf->doc->root : NULL;
    if (rc == HALO_OK && (!r || r->kind != HALO_YAML_MAP))
        rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: expected a mapping of cluster keys", path);
    if (rc == HALO_OK)
        rc = load_top(cf, r, err);
    if (rc == HALO_OK)
        rc = halo_engine_preset(&cf->engine, "halo", err);
    halo_engine_yaml hooks = {.path = engine_path, .ctx = cf};
    if (rc == HALO_OK)
        rc = halo_engine_yaml_read(&cf->engine, halo_yaml_get(r, "engine"), "engine", &hooks, err);
    if (rc != HALO_OK)
        halo_clusterfile_free(cf);
    return rc;
}

int halo_clusterfile_finish(halo_clusterfile *cf, int has_weights, halo_err *err) {
    const halo_yaml_node *r = cf->doc->root;
    return halo_engine_yaml_finish(&cf->engine, halo_yaml_get(r, "engine"), r, "engine",
                                   cf->n_workers + 1, has_weights, HALO_ENGINE_WHERE_NET, NULL,
                                   err);
}

void halo_clusterfile_free(halo_clusterfile *cf) {
    for (int i = 0; cf->workers && i < cf->n_workers; i++)
        free(cf->workers[i]);
    free(cf->workers);
    free(cf->speed);
    free(cf->key_path);
    free(cf->bind);
    free(cf->path);
    halo_engine_config_free(&cf->engine);
    halo_yaml_free(cf->doc);
    memset(cf, 0, sizeof *cf);
}
