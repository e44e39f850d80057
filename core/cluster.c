/*
 * In-process cluster.
 */
#include "core/cluster.h"

#include <stdlib.h>
#include <string.h>

struct halo_cluster {
    int n;
    halo_node **nodes;
    halo_transport *t;
    halo_placement placement;
    halo_memplan **plans; /* (n) or NULL without budgets */
    uint64_t *budget_bytes;
    int prefetch, dim;
    double wbytes;
    int collective;
};

/* Builds one memory plan per device for placement p into plans[0..n). */
static int build_plans(const halo_cluster *c, const halo_placement *p, halo_memplan **plans,
                       halo_err *err) {
    for (int i = 0; i < c->n; i++) {
        halo_memplan_config mc = {.placement = p,
                                  .device = i,
                                  .dim = c->dim,
                                  .weight_bytes = c->wbytes,
                                  .budget_bytes = c->budget_bytes[i],
                                  .prefetch = c->prefetch};
        int rc = halo_memplan_new(&plans[i], &mc, err);
        if (rc != HALO_OK) {
            for (int j = 0; j < i; j++) {
                halo_memplan_free(plans[j]);
                plans[j] = NULL;
            }
            return rc;
        }
    }
    return HALO_OK;
}

int halo_cluster_default_group_size(const halo_model_config *cfg) {
    return cfg->hidden_dim < 32 ? cfg->hidden_dim : 32;
}

int halo_cluster_default_group_size_of(const halo_model *model) {
    const halo_model_config *cfg = halo_model_get_config(model);
    int g = halo_cluster_default_group_size(cfg), a = halo_model_ffn_align(model);
    g = (g + a - 1) / a * a;
    return g < cfg->hidden_dim ? g : cfg->hidden_dim;
}

int halo_cluster_new(halo_cluster **out, const halo_cluster_config *cfg, halo_err *err) {
    *out = NULL;
    if (cfg->n_devices < 1 || cfg->n_devices > HALO_MAX_DEVICES)
        return HALO_FAIL(err, HALO_ERR_ARG, "%d devices: expected 1..%d", cfg->n_devices,
                         HALO_MAX_DEVICES);
    const halo_model_config *mc = halo_model_get_config(cfg->model);
    halo_groups groups;
    int rc =
        halo_groups_init(&groups, mc,
                         cfg->ffn_group_size > 0 ? cfg->ffn_group_size
                                                 : halo_cluster_default_group_size_of(cfg->model),
                         err);
    if (rc != HALO_OK)
        return rc;
    halo_cluster *c = calloc(1, sizeof *c);
    if (!c)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "cluster: out of memory");
    c->n = cfg->n_devices;
    c->t = cfg->transport;
    c->collective = cfg->collective;
    c->nodes = calloc((size_t)c->n, sizeof *c->nodes);
    if (!c->nodes) {
        free(c);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "cluster: out of memory");
    }
    rc = halo_placement_parse(&c->placement, &groups, c->n,
                              cfg->placement ? cfg->placement : "equal", err);
    if (rc == HALO_OK && cfg->budget_bytes) {
        c->dim = mc->dim;
        c->wbytes = halo_weight_bytes(halo_model_weight_type(cfg->model));
        c->prefetch = cfg->prefetch;
        c->plans = calloc((size_t)c->n, sizeof *c->plans);
        c->budget_bytes = malloc((size_t)c->n * sizeof *c->budget_bytes);
        if (!c->plans || !c->budget_bytes)
            rc = HALO_FAIL(err, HALO_ERR_NOMEM, "cluster: out of memory");
        else
            memcpy(c->budget_bytes, cfg->budget_bytes, (size_t)c->n * sizeof *c->budget_bytes);
        if (rc == HALO_OK)
            rc = build_plans(c, &c->placement, c->plans, err);
    }
    for (int i = 0; rc == HALO_OK && i < c->n; i++) {
        halo_node_config nc = {.node_idx = i,
                               .n_devices = c->n,
                               .model = cfg->model,
                               .groups = &groups,
                               .transport = cfg->transport,
                               .pool = cfg->pool,
                               .encoding = cfg->encoding,
                               .sync = cfg->sync,
                               .memplan = c->plans ? c->plans[i] : NULL,
                               .loader = cfg->loaders ? cfg->loaders[i] : NULL,
                               .collective = cfg->collective,
                               .mesh_placement = &c->placement,
                               .split_classifier = cfg->split_classifier,
                               .pack_windows = cfg->pack_windows};
        rc = halo_node_new(&c->nodes[i], &nc, err);
    }
    if (rc == HALO_OK)
        rc = halo_node_set_placement(c->nodes[0], &c->placement, err);
    if (rc != HALO_OK) {
        halo_cluster_free(c);
        return rc;
    }
    *out = c;
    return HALO_OK;
}

void halo_cluster_free(halo_cluster *c) {
    if (!c)
        return;
    for (int i = 0; c->nodes && i < c->n; i++)
        halo_node_free(c->nodes[i]);
    free(c->nodes);
    for (int i = 0; c->plans && i < c->n; i++)
        halo_memplan_free(c->plans[i]);
    free(c->plans);
    free(c->budget_bytes);
    halo_placement_free(&c->placement);
    free(c);
}

static int token_done(void *arg) {
    return halo_node_token_done(arg);
}

int halo_cluster_forward(halo_cluster *c, int token, int pos, const float **logits, halo_err *err) {
    *logits = NULL;
    halo_node *root = c->nodes[0];
    int rc = halo_node_start_token(root, token, pos, err);
    if (rc == HALO_OK)
        rc = c->t->ops->run(c->t, token_done, root, err);
    if (rc != HALO_OK && halo_node_token_done(root) == 0)
        halo_node_abort_token(root, rc);
    if (rc == HALO_ERR_AGAIN)
        HALO_FAIL(err, rc,
                  "cluster stalled at token %d (position %d): a contribution the "
                  "policy waits for will never arrive",
                  token, pos);
    if (rc == HALO_OK)
        rc = halo_node_token_status(root, err);
    if (rc == HALO_OK)
        *logits = halo_node_logits(root);
    return rc;
}

halo_node *halo_cluster_node(halo_cluster *c, int i) {
    HALO_ASSERT(i >= 0 && i < c->n);
    return c->nodes[i];
}

const halo_placement *halo_cluster_placement(const halo_cluster *c) {
    return &c->placement;
}

const halo_memplan *halo_cluster_memplan(const halo_cluster *c, int i) {
    HALO_ASSERT(i >= 0 && i < c->n);
    return c->plans ? c->plans[i] : NULL;
}

int halo_cluster_set_placement(halo_cluster *c, const halo_placement *p, halo_err *err) {
    if (c->collective == HALO_COLLECTIVE_MESH)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "cluster: the mesh collective keeps its placement (every node holds it)");
    halo_memplan **plans = NULL;
    if (c->plans) {
        if (p->n_devices != c->n)
            return HALO_FAIL(err, HALO_ERR_ARG, "placement for %d devices, cluster has %d",
                             p->n_devices, c->n);
        plans = calloc((size_t)c->n, sizeof *plans);
        if (!plans)
            return HALO_FAIL(err, HALO_ERR_NOMEM, "cluster: out of memory");
        int rc = build_plans(c, p, plans, err);
        if (rc != HALO_OK) {
            free(plans);
            return rc;
        }
    }
    int rc = halo_node_set_placement(c->nodes[0], p, err);
    if (rc == HALO_OK)
        halo_placement_copy(&c->placement, p);
    if (rc == HALO_OK && plans) {
        for (int i = 0; i < c->n; i++) {
            halo_memplan_free(c->plans[i]);
            c->plans[i] = plans[i];
            plans[i] = NULL;
            halo_node_set_memplan(c->nodes[i], c->plans[i]);
        }
    }
    for (int i = 0; plans && i < c->n; i++)
        halo_memplan_free(plans[i]);
    free(plans);
    return rc;
}
