/*
 * Cluster file loader (libyaml's document API: the files are a few lines).
 */
#define _POSIX_C_SOURCE 200809L

#include "app/clusterfile.h"

#include "core/importance.h"
#include "core/node.h"
#include "net/net.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct ctx {
    const char *path;
    yaml_document_t *doc;
    halo_err *err;
} ctx;

static int fail_at(const ctx *c, const yaml_node_t *n, const char *key, const char *what) {
    return HALO_FAIL(c->err, HALO_ERR_FORMAT, "%s:%lu: %s: %s", c->path,
                     n ? (unsigned long)n->start_mark.line + 1 : 0ul, key, what);
}

static const char *scalar(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int get_double(const ctx *c, const yaml_node_t *n, const char *key, double lo, double hi,
                      double *out) {
    const char *s = scalar(n);
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0.0;
    if (!s || end == s || *end || errno || !(v >= lo && v <= hi)) {
        char what[128];
        (void)snprintf(what, sizeof what, "expected a number in [%g, %g]", lo, hi);
        return fail_at(c, n, key, what);
    }
    *out = v;
    return HALO_OK;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int seq_items(const ctx *c, const yaml_node_t *n, const char *key, int *count) {
    if (!n || n->type != YAML_SEQUENCE_NODE)
        return fail_at(c, n, key, "expected a list");
    *count = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    return HALO_OK;
}

static yaml_node_t *item(const ctx *c, const yaml_node_t *n, int i) {
    return yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
}

static int parse_inject(const ctx *c, const yaml_node_t *n, halo_clusterfile *cf) {
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(c, n, "inject", "expected a mapping (loss, delay_ms, seed)");
    int rc = HALO_OK;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         rc == HALO_OK && p < n->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
        const char *ks = scalar(k);
        double d = 0.0;
        if (ks && strcmp(ks, "loss") == 0)
            rc = get_double(c, v, "inject.loss", 0.0, 0.999, &cf->loss);
        else if (ks && strcmp(ks, "delay_ms") == 0)
            rc = get_double(c, v, "inject.delay_ms", 0.0, 60000.0, &cf->delay_ms);
        else if (ks && strcmp(ks, "seed") == 0) {
            rc = get_double(c, v, "inject.seed", 0.0, 9e15, &d);
            cf->seed = (uint64_t)d;
        } else
            rc = fail_at(c, k, ks ? ks : "?", "unknown key in inject (loss, delay_ms, seed)");
    }
    return rc;
}

static int parse_workers(const ctx *c, const yaml_node_t *v, halo_clusterfile *cf) {
    int n = 0, rc = seq_items(c, v, "workers", &n);
    if (rc == HALO_OK && (n < 1 || n >= HALO_MAX_DEVICES))
        rc = fail_at(c, v, "workers", "expected 1 or more worker addresses");
    if (rc != HALO_OK)
        return rc;
    for (int i = 0; cf->workers && i < cf->n_workers; i++) /* a repeated key: the last wins */
        free(cf->workers[i]);
    free(cf->workers);
    cf->n_workers = 0;
    cf->workers = calloc((size_t)n, sizeof *cf->workers);
    if (!cf->workers)
        return HALO_FAIL(c->err, HALO_ERR_NOMEM, "out of memory");
    cf->n_workers = n;
    for (int i = 0; i < n; i++) {
        const yaml_node_t *it = item(c, v, i);
        const char *a = scalar(it);
        struct sockaddr_in sa;
        halo_err e = {0};
        if (!a || halo_net_parse_addr(a, &sa, &e) != HALO_OK)
            return fail_at(c, it, "workers", a ? e.msg : "expected host:port");
        if (!(cf->workers[i] = dup_str(a)))
            return HALO_FAIL(c->err, HALO_ERR_NOMEM, "out of memory");
    }
    return HALO_OK;
}

static int parse_weights(const ctx *c, const yaml_node_t *v, halo_clusterfile *cf) {
    int n = 0, rc = seq_items(c, v, "weights", &n);
    if (rc != HALO_OK)
        return rc;
    free(cf->weights);
    cf->weights = calloc((size_t)n + 1, sizeof *cf->weights);
    if (!cf->weights)
        return HALO_FAIL(c->err, HALO_ERR_NOMEM, "out of memory");
    for (int i = 0; rc == HALO_OK && i < n; i++)
        rc = get_double(c, item(c, v, i), "weights", 1e-9, 1e9, &cf->weights[i]);
    cf->weights[n] = -1.0; /* count check after all keys are read */
    return rc;
}

static int parse_pair(const ctx *c, const char *ks, const yaml_node_t *k, const yaml_node_t *v,
                      halo_clusterfile *cf, const char *dir) {
    const char *s = scalar(v);
    if (strcmp(ks, "transport") == 0) {
        if (s && strcmp(s, "udp") == 0)
            cf->kind = HALO_NET_KIND_UDP;
        else if (s && strcmp(s, "tcp") == 0)
            cf->kind = HALO_NET_KIND_TCP;
        else
            return fail_at(c, v, ks, "expected udp or tcp");
        return HALO_OK;
    }
    if (strcmp(ks, "sync") == 0) {
        if (s && strcmp(s, "strict") == 0)
            cf->policy = HALO_SYNC_POLICY_STRICT;
        else if (s && strcmp(s, "relaxed") == 0)
            cf->policy = HALO_SYNC_POLICY_RELAXED;
        else
            return fail_at(c, v, ks, "expected strict or relaxed");
        cf->has_policy = 1;
        return HALO_OK;
    }
    if (strcmp(ks, "deadline_ms") == 0) {
        cf->has_deadline = 1;
        return get_double(c, v, ks, 0.0, 3.6e6, &cf->deadline_ms);
    }
    if (strcmp(ks, "importance") == 0) {
        if (s && strcmp(s, "none") == 0)
            cf->importance = -1;
        else if (s && strcmp(s, "predictor") == 0)
            cf->importance = HALO_SCORING_PREDICTOR;
        else if (s && strcmp(s, "oracle") == 0)
            cf->importance = HALO_SCORING_ORACLE;
        else
            return fail_at(c, v, ks, "expected none, predictor or oracle");
        return HALO_OK;
    }
    if (strcmp(ks, "tau") == 0)
        return get_double(c, v, ks, 1e-6, 1.0, &cf->tau);
    if (strcmp(ks, "key") == 0 || strcmp(ks, "bind") == 0 || strcmp(ks, "predictor") == 0) {
        if (!s || !*s)
            return fail_at(c, v, ks, "expected a string");
        char *d;
        int is_path = strcmp(ks, "bind") != 0;
        if (is_path && s[0] != '/' && dir) {
            size_t n = strlen(dir) + strlen(s) + 2;
            d = malloc(n);
            if (d)
                (void)snprintf(d, n, "%s/%s", dir, s);
        } else {
            d = dup_str(s);
        }
        if (!d)
            return HALO_FAIL(c->err, HALO_ERR_NOMEM, "out of memory");
        char **slot = strcmp(ks, "key") == 0    ? &cf->key_path
                      : strcmp(ks, "bind") == 0 ? &cf->bind
                                                : &cf->predictor;
        free(*slot);
        *slot = d;
        return HALO_OK;
    }
    if (strcmp(ks, "workers") == 0)
        return parse_workers(c, v, cf);
    if (strcmp(ks, "weights") == 0)
        return parse_weights(c, v, cf);
    if (strcmp(ks, "inject") == 0)
        return parse_inject(c, v, cf);
    static const char *const ms_keys[] = {"heartbeat_ms", "dead_after_ms", "rejoin_ms", "stall_ms",
                                          "join_timeout_ms"};
    double *ms_vals[] = {&cf->heartbeat_ms, &cf->dead_after_ms, &cf->rejoin_ms, &cf->stall_ms,
                         &cf->join_timeout_ms};
    for (int i = 0; i < 5; i++)
        if (strcmp(ks, ms_keys[i]) == 0)
            return get_double(c, v, ks, 1.0, 3.6e6, ms_vals[i]);
    return fail_at(c, k, ks,
                   "unknown key (transport, sync, deadline_ms, key, bind, workers, weights, "
                   "heartbeat_ms, dead_after_ms, rejoin_ms, stall_ms, join_timeout_ms, inject, "
                   "importance, tau, predictor)");
}

int halo_clusterfile_load(halo_clusterfile *cf, const char *path, halo_err *err) {
    memset(cf, 0, sizeof *cf);
    cf->seed = 1;
    cf->importance = -1;
    cf->tau = 0.9;
    FILE *f = fopen(path, "rb");
    if (!f)
        return HALO_FAIL(err, HALO_ERR_IO, "cluster file %s: %s", path, strerror(errno));
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) {
        (void)fclose(f);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    }
    yaml_parser_set_input_file(&p, f);
    int loaded = yaml_parser_load(&p, &doc);
    int rc = HALO_OK;
    if (!loaded)
        rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s:%lu: %s", path,
                       (unsigned long)p.problem_mark.line + 1,
                       p.problem ? p.problem : "YAML syntax error");
    yaml_parser_delete(&p);
    (void)fclose(f);
    if (rc != HALO_OK)
        return rc;
    char *dir = dup_str(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash)
        *slash = '\0';
    else if (dir) {
        free(dir);
        dir = dup_str(".");
    }
    ctx c = {.path = path, .doc = &doc, .err = err};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE)
        rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: expected a mapping of cluster keys", path);
    for (yaml_node_pair_t *pr = rc == HALO_OK ? root->data.mapping.pairs.start : NULL;
         rc == HALO_OK && pr < root->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
        const char *ks = scalar(k);
        if (!ks)
            rc = fail_at(&c, k, "?", "keys must be plain strings");
        else
            rc = parse_pair(&c, ks, k, yaml_document_get_node(&doc, pr->value), cf, dir);
    }
    if (rc == HALO_OK && !cf->n_workers)
        rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: workers: missing (a list of host:port)", path);
    if (rc == HALO_OK && !cf->key_path)
        rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key: missing (a key file; halo keygen FILE)",
                       path);
    if (rc == HALO_OK && cf->weights) {
        int n = 0;
        while (cf->weights[n] > 0.0)
            n++;
        if (n != cf->n_workers + 1)
            rc = HALO_FAIL(err, HALO_ERR_FORMAT,
                           "%s: weights: %d entries, expected %d (the root, then each worker)",
                           path, n, cf->n_workers + 1);
    }
    if (rc == HALO_OK && !cf->has_policy)
        cf->policy =
            cf->kind == HALO_NET_KIND_TCP ? HALO_SYNC_POLICY_STRICT : HALO_SYNC_POLICY_RELAXED;
    free(dir);
    yaml_document_delete(&doc);
    if (rc != HALO_OK)
        halo_clusterfile_free(cf);
    return rc;
}

void halo_clusterfile_free(halo_clusterfile *cf) {
    for (int i = 0; cf->workers && i < cf->n_workers; i++)
        free(cf->workers[i]);
    free(cf->workers);
    free(cf->key_path);
    free(cf->bind);
    free(cf->predictor);
    free(cf->weights);
    memset(cf, 0, sizeof *cf);
}
