/*
 * Run identity (results/identity.h): the resolved point as canonical JSON and its sha256.
 */
#define _POSIX_C_SOURCE 200809L

#include "results/identity.h"

#include "core/importance.h"
#include "results/report.h"
#include "results/sha256.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ==== The JSON text: a memory stream ==== */

typedef struct buf {
    FILE *f; /* open_memstream's, onto s and len */
    char *s;
    size_t len;
} buf;

static void add(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    (void)vfprintf(b->f, fmt, ap);
    va_end(ap);
}

/* A JSON string, or null. */
static void add_str(buf *b, const char *s) {
    if (s)
        halo_report_json_string(b->f, s);
    else
        add(b, "null");
}

/* Doubles with 17 significant digits: the value exactly, so that different values never
   share an identity. */
static void add_num(buf *b, const char *key, double v) {
    add(b, "\"%s\": %.17g", key, v);
}

/* ==== File hashes ==== */

void halo_identity_cache_free(halo_identity_cache *c) {
    for (int i = 0; i < c->n; i++)
        free(c->e[i].path);
    c->n = 0;
}

static int file_hash(halo_identity_cache *c, const char *path, char hex[65], halo_err *err) {
    for (int i = 0; c && i < c->n; i++)
        if (strcmp(c->e[i].path, path) == 0) {
            memcpy(hex, c->e[i].hex, 65);
            return HALO_OK;
        }
    int rc = halo_sha256_file(path, hex, err);
    if (rc == HALO_OK && c && c->n < (int)(sizeof c->e / sizeof c->e[0]) &&
        (c->e[c->n].path = strdup(path))) {
        memcpy(c->e[c->n].hex, hex, 65);
        c->n++;
    }
    return rc;
}

/* "key": "<sha256 of path>" (or null without a path). */
static int add_file(buf *b, halo_identity_cache *c, const char *key, const char *path,
                    halo_err *err) {
    add(b, "\"%s\": ", key);
    if (!path) {
        add(b, "null");
        return HALO_OK;
    }
    char hex[65];
    int rc = file_hash(c, path, hex, err);
    if (rc == HALO_OK)
        add_str(b, hex);
    return rc;
}

/* ==== The resolved point ==== */

static void add_loss(buf *b, const halo_loss_spec *l) {
    add(b, "{\"model\": %d, ", l->model);
    add_num(b, "p", l->p);
    add(b, ", ");
    add_num(b, "p_good_bad", l->p_good_bad);
    add(b, ", ");
    add_num(b, "p_bad_good", l->p_bad_good);
    add(b, ", ");
    add_num(b, "loss_good", l->loss_good);
    add(b, ", ");
    add_num(b, "loss_bad", l->loss_bad);
    add(b, ", \"mean_good_ns\": %llu, \"mean_bad_ns\": %llu}", (unsigned long long)l->mean_good_ns,
        (unsigned long long)l->mean_bad_ns);
}

static void add_link(buf *b, const char *key, const halo_link_spec *l) {
    add(b, "\"%s\": {", key);
    add_num(b, "bandwidth_bps", l->bandwidth_bps);
    add(b,
        ", \"latency_ns\": %llu, \"jitter_ns\": %llu, \"mtu_bytes\": %d, \"header_bytes\": %d, "
        "\"queue_bytes\": %llu, \"loss\": ",
        (unsigned long long)l->latency_ns, (unsigned long long)l->jitter_ns, l->mtu_bytes,
        l->header_bytes, (unsigned long long)l->queue_bytes);
    add_loss(b, &l->loss);
    add(b, "}");
}

static void add_device(buf *b, const halo_scenario_device *d) {
    const halo_device_profile *p = &d->profile;
    add(b, "{");
    add_num(b, "flops_per_s", p->flops_per_s);
    add(b, ", ");
    add_num(b, "mem_bw_bps", p->mem_bw_bps);
    add(b, ", \"mem_bytes\": %llu, ", (unsigned long long)p->mem_bytes);
    add_num(b, "storage_bw_bps", p->storage_bw_bps);
    add(b, ", \"op_overhead_ns\": %llu, ", (unsigned long long)p->op_overhead_ns);
    add_num(b, "strided_bw_bps", p->strided_bw_bps);
    add(b, ", ");
    add_num(b, "compute_cv", p->compute_cv);
    add(b, ", \"send_ns\": %llu, \"recv_ns\": %llu, ", (unsigned long long)p->send_ns,
        (unsigned long long)p->recv_ns);
    add_num(b, "copy_ns_per_kb", p->copy_ns_per_kb);
    add(b, ", \"host\": %d, \"cores\": %d, ", p->host, p->cores);
    /* keys added later, only where set: a point that does not use them keeps the identity it
       had before them (and its stored runs) */
    if (p->host_overlap != 0) {
        add_num(b, "host_overlap", p->host_overlap);
        add(b, ", ");
    }
    if (p->recv_jitter_ns)
        add(b, "\"recv_jitter_ns\": %llu, ", (unsigned long long)p->recv_jitter_ns);
    if (p->cold_wake_ns || p->cold_tau_ns)
        add(b, "\"cold_wake_ns\": %llu, \"cold_tau_ns\": %llu, ",
            (unsigned long long)p->cold_wake_ns, (unsigned long long)p->cold_tau_ns);
    if (p->host_mem_bw_bps != 0) {
        add_num(b, "host_mem_bw_bps", p->host_mem_bw_bps);
        add(b, ", ");
    }
    if (p->core_placement)
        add(b, "\"core_placement\": %d, ", p->core_placement);
    if (p->cache_bytes || p->cache_bw_bps != 0) {
        add(b, "\"cache_bytes\": %llu, ", (unsigned long long)p->cache_bytes);
        add_num(b, "cache_bw_bps", p->cache_bw_bps);
        add(b, ", ");
    }
    add_link(b, "uplink", &d->uplink);
    add(b, ", ");
    add_link(b, "downlink", &d->downlink);
    add(b, "}");
}

/* The engine: every setting as core/engine.h writes it, then the numbers again exactly (the
   settings JSON rounds to 6 digits), with the ones that cannot matter made null. */
static int add_engine(buf *b, const halo_scenario *sc, halo_identity_cache *c, halo_err *err) {
    halo_engine_config e;
    halo_engine_config_init(&e);
    int rc = halo_engine_config_copy(&e, &sc->engine, err);
    if (rc != HALO_OK)
        return rc;
    int scored = e.importance != HALO_ENGINE_IMPORTANCE_NONE;
    /* the predictor file that predictor scoring reads: its content enters the identity, its
       path does not (a moved scenario is the same experiment) */
    char *pred = NULL;
    if (scored && e.importance == HALO_SCORING_PREDICTOR) {
        if (e.predictor) {
            pred = strdup(e.predictor);
        } else if (sc->model_file) {
            size_t len = strlen(sc->model_file) + 6;
            if ((pred = malloc(len)))
                (void)snprintf(pred, len, "%s.pred", sc->model_file);
            if (pred && access(pred, R_OK) != 0) {
                free(pred);
                pred = NULL;
            }
        }
    }
    free(e.predictor);
    e.predictor = NULL;
    if (!scored) { /* tau and the rest of importance scoring are never read */
        e.tau = 0;
        e.synthetic_sigma = 0;
    }
    size_t n = halo_engine_config_json(&e, NULL, 0);
    char *s = malloc(n + 1);
    if (!s) {
        free(pred);
        halo_engine_config_free(&e);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", sc->path);
    }
    (void)halo_engine_config_json(&e, s, n + 1);
    add(b, "\"engine\": %s, \"engine_exact\": {\"deadline_ns\": %llu, ", s,
        (unsigned long long)e.deadline_ns);
    free(s);
    if (scored) {
        add_num(b, "tau", e.tau);
        add(b, ", ");
        add_num(b, "synthetic_sigma", e.synthetic_sigma);
    } else {
        add(b, "\"tau\": null, \"synthetic_sigma\": null");
    }
    const halo_tcp_config *t = &e.tcp;
    add(b,
        ", \"deadline_min_ns\": %llu, \"deadline_max_ns\": %llu, \"heartbeat_ns\": %llu, "
        "\"rto_min_ns\": %llu, \"rto_max_ns\": %llu, \"rto_init_ns\": %llu, \"delack_ns\": %llu, "
        "\"tick_ns\": %llu, \"rx_batch_ns\": %llu, \"comp_sack_delay_ns\": %llu, "
        "\"comp_sack_slack_ns\": %llu}, ",
        (unsigned long long)e.deadline_min_ns, (unsigned long long)e.deadline_max_ns,
        (unsigned long long)e.heartbeat_ns, (unsigned long long)t->rto_min_ns,
        (unsigned long long)t->rto_max_ns, (unsigned long long)t->rto_init_ns,
        (unsigned long long)t->delack_ns, (unsigned long long)t->tick_ns,
        (unsigned long long)t->rx_batch_ns, (unsigned long long)t->comp_sack_delay_ns,
        (unsigned long long)t->comp_sack_slack_ns);
    rc = add_file(b, c, "predictor_sha256", pred, err);
    free(pred);
    halo_engine_config_free(&e);
    return rc;
}

int halo_identity_point(const halo_scenario *sc, const char *eval_path, halo_identity_cache *cache,
                        char **json, char hash[65], halo_err *err) {
    *json = NULL;
    buf b = {0};
    if (!(b.f = open_memstream(&b.s, &b.len)))
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", sc->path);
    int rc = HALO_OK;
    add(&b, "{\"model\": {");
    if (sc->model_file) {
        rc = add_file(&b, cache, "file_sha256", sc->model_file, err);
        add(&b, ", ");
        if (rc == HALO_OK)
            rc = add_file(&b, cache, "tokenizer_sha256", sc->tokenizer_file, err);
    } else {
        const halo_model_config *m = &sc->shape;
        add(&b, "\"shape\": ");
        add_str(&b, sc->shape_name);
        add(&b,
            ", \"dim\": %d, \"hidden_dim\": %d, \"n_layers\": %d, \"n_heads\": %d, "
            "\"n_kv_heads\": %d, \"vocab_size\": %d, \"seq_len\": %d",
            m->dim, m->hidden_dim, m->n_layers, m->n_heads, m->n_kv_heads, m->vocab_size,
            m->seq_len);
    }
    add(&b, ", \"weights\": %d}, \"devices\": [", sc->weight_type);
    for (int d = 0; d < sc->n_devices; d++) {
        add(&b, d ? ", " : "");
        add_device(&b, &sc->devices[d]);
    }
    add(&b, "], ");
    if (rc == HALO_OK)
        rc = add_engine(&b, sc, cache, err);
    add(&b, ", \"workload\": {\"prompt\": ");
    add_str(&b, sc->prompt);
    add(&b, ", \"tokens\": %d, ", sc->tokens);
    if (sc->skip) /* only when set: every run from before the key keeps its identity */
        add(&b, "\"skip\": %d, ", sc->skip);
    add_num(&b, "temperature", (double)sc->temperature);
    add(&b, ", ");
    if (rc == HALO_OK)
        rc = add_file(&b, cache, "eval_sha256", eval_path, err);
    add(&b, "}, \"seed\": %llu}", (unsigned long long)sc->seed);
    int failed = ferror(b.f);
    if (fclose(b.f) != 0 || failed) /* a write to a memory stream fails only for memory */
        rc = rc != HALO_OK ? rc : HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", sc->path);
    if (rc != HALO_OK) {
        free(b.s);
        return rc;
    }
    halo_sha256_str(b.s, hash);
    *json = b.s;
    return HALO_OK;
}
