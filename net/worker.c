/*
 * The worker daemon (net/worker.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "net/worker.h"

#include "core/loader.h"
#include "core/node.h"
#include "core/plan.h"

#include <string.h>

typedef struct worker {
    const halo_worker_config *cfg;
    halo_transport *t;
    halo_node *node;
    halo_loader *loader; /* memory_bytes > 0: the group weights, read from the checkpoint */
    int loader_ffn;      /* the FFN group size the loader was made for */
    int node_idx;
    uint64_t session, hash;
    uint64_t joins, refusals;
} worker;

static void worker_control(void *ctx, int dst, int src, const void *msg, size_t len) {
    worker *w = ctx;
    halo_net_join j;
    if (src != 0 || !halo_net_join_decode(&j, msg, len) || j.node_idx != dst || j.node_idx < 1 ||
        j.node_idx >= j.n_devices || j.n_devices > HALO_MAX_DEVICES)
        return;
    uint64_t now = halo_net_wall_ns();
    uint64_t skew = now > j.wall_ns ? now - j.wall_ns : j.wall_ns - now;
    int status = HALO_NET_JACK_OK;
    if (skew > 120000000000ull)
        status = HALO_NET_JACK_STALE;
    else if (j.model_hash != w->hash)
        status = HALO_NET_JACK_MODEL;
    const halo_model_config *mc = halo_model_get_config(w->cfg->model);
    halo_groups g;
    halo_err e = {0};
    if (status == HALO_NET_JACK_OK &&
        (j.encoding < 0 || j.encoding >= HALO_ENCODING_COUNT_ || j.ffn_group_size < 1 ||
         halo_groups_init(&g, mc, j.ffn_group_size, &e) != HALO_OK))
        status = HALO_NET_JACK_BAD;
    if (status == HALO_NET_JACK_OK) {
        halo_node_free(w->node);
        w->node = NULL;
        if (w->cfg->memory_bytes && (!w->loader || w->loader_ffn != j.ffn_group_size)) {
            halo_loader_free(w->loader);
            w->loader = NULL;
            if (halo_loader_new(&w->loader, w->cfg->model_path, w->cfg->model, &g,
                                (size_t)w->cfg->memory_bytes, &e) != HALO_OK) {
                halo_net_log(w->cfg->log_fn, w->cfg->log_ctx, "cannot stream weights: %s", e.msg);
                status = HALO_NET_JACK_BAD;
            }
            w->loader_ffn = j.ffn_group_size;
        }
    }
    if (status == HALO_NET_JACK_OK) {
        if (w->node_idx > 0 && w->node_idx != j.node_idx)
            (void)w->t->ops->attach(w->t, w->node_idx, NULL, NULL, NULL);
        halo_node_config nc = {.node_idx = j.node_idx,
                               .n_devices = j.n_devices,
                               .model = w->cfg->model,
                               .groups = &g,
                               .transport = w->t,
                               .pool = w->cfg->pool,
                               .encoding = j.encoding,
                               .loader = w->loader};
        if (halo_node_new(&w->node, &nc, &e) != HALO_OK) {
            status = HALO_NET_JACK_BAD;
            w->node_idx = 0;
        } else {
            w->node_idx = j.node_idx;
            /* Seeded once per session: re-seeding on every JOIN of one session (the root
               repeats it until answered) repeated the first draw, so a JACK that draw dropped
               was dropped every time and the join timed out (issue 15; ~5% of workers per
               session at 5% injected loss). */
            if (j.session != w->session)
                halo_net_set_loss(w->t, j.loss_rate, j.delay_ns, j.loss_seed);
            if (j.session != w->session)
                halo_net_log(
                    w->cfg->log_fn, w->cfg->log_ctx,
                    "joined session %016llx as node %d of %d (%s payloads, injected loss %g)",
                    (unsigned long long)j.session, j.node_idx, j.n_devices,
                    j.encoding == HALO_ENCODING_Q8 ? "q8" : "f32", j.loss_rate);
            w->session = j.session;
            w->joins++;
        }
    }
    if (status != HALO_NET_JACK_OK) {
        w->refusals++;
        halo_net_log(w->cfg->log_fn, w->cfg->log_ctx, "refused a join as node %d: %s", j.node_idx,
                     status == HALO_NET_JACK_MODEL   ? "the root holds a different model"
                     : status == HALO_NET_JACK_STALE ? "its clock is more than 120 s away from ours"
                                                     : "its settings do not fit our model");
    }
    halo_net_jack a = {
        .status = status, .node_idx = j.node_idx, .model_hash = w->hash, .session = j.session};
    unsigned char ack[HALO_NET_JACK_BYTES];
    halo_net_jack_encode(&a, ack);
    (void)halo_net_send_control(w->t, dst, 0, ack, sizeof ack, NULL);
}

static int worker_stop(void *arg) {
    const worker *w = arg;
    return *w->cfg->stop != 0;
}

int halo_worker_run(const halo_worker_config *cfg, halo_err *err) {
    worker w = {.cfg = cfg, .hash = halo_model_hash(cfg->model)};
    halo_net_config nc = {
        .kind = cfg->kind, .n_nodes = HALO_MAX_DEVICES, .listen = cfg->listen, .key = cfg->key};
    int rc = halo_net_new(&w.t, &nc, err);
    if (rc != HALO_OK)
        return rc;
    halo_net_set_control(w.t, worker_control, &w);
    const char *colon = strrchr(cfg->listen, ':');
    halo_net_log(cfg->log_fn, cfg->log_ctx, "listening on %.*s:%d (%s), model hash %016llx",
                 (int)(colon ? colon - cfg->listen : 0), cfg->listen, halo_net_port(w.t, -1),
                 cfg->kind == HALO_NET_KIND_UDP ? "udp" : "tcp", (unsigned long long)w.hash);
    rc = w.t->ops->run(w.t, worker_stop, &w, err);
    halo_net_stats s;
    halo_net_get_stats(w.t, &s);
    const halo_node_stats *ns = w.node ? halo_node_get_stats(w.node) : NULL;
    halo_net_log(
        cfg->log_fn, cfg->log_ctx,
        "stopping: %llu joins, %llu refused; %llu blocks computed; frames dropped: %llu "
        "unauthenticated, %llu replayed, %llu malformed, %llu oversized, %llu misaddressed, "
        "%llu stale",
        (unsigned long long)w.joins, (unsigned long long)w.refusals,
        (unsigned long long)(ns ? ns->computed : 0), (unsigned long long)s.bad_auth,
        (unsigned long long)s.replayed, (unsigned long long)s.malformed,
        (unsigned long long)s.oversized, (unsigned long long)s.misaddressed,
        (unsigned long long)s.stale);
    if (w.loader) {
        halo_loader_stats ls;
        halo_loader_get_stats(w.loader, &ls);
        /* a token is 2 n_layers blocks when the worker holds groups of every block */
        double tokens =
            (double)(ns ? ns->computed : 0) / (2.0 * halo_model_get_config(cfg->model)->n_layers);
        double per = tokens > 0 ? 1e6 * tokens : 1.0;
        halo_net_log(cfg->log_fn, cfg->log_ctx,
                     "weights streamed: %.1f MB read in %llu reads, %.3f s reading, %.3f s "
                     "waited, %.3f s hidden behind compute; %llu of %llu acquires were hits; "
                     "per token (%.0f): %.3f ms reading, %.3f ms waited, %.3f ms hidden",
                     (double)ls.bytes_read / 1e6, (unsigned long long)ls.n_reads,
                     (double)ls.load_ns / 1e9, (double)ls.wait_ns / 1e9,
                     (double)ls.hidden_load_ns / 1e9, (unsigned long long)ls.n_hits,
                     (unsigned long long)ls.n_acquires, tokens, (double)ls.load_ns / per,
                     (double)ls.wait_ns / per, (double)ls.hidden_load_ns / per);
    }
    halo_node_free(w.node);
    halo_loader_free(w.loader);
    halo_transport_free(w.t);
    return rc;
}
