/*
 * The worker daemon (net/worker.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "net/worker.h"

#include "core/loader.h"
#include "core/node.h"
#include "core/plan.h"
#include "net/mesh.h"
#include "net/probe.h"

#include <sodium.h>
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
    /* the key exchange of the current session: our pair, made for the root's public key
       root_pk (a JOIN the root repeats gets the same answer) */
    halo_net_kx kx;
    uint8_t root_pk[HALO_NET_KX_PUBLIC_BYTES];
    int have_kx;
    uint64_t start_wall_ns; /* wall clock when this worker started */
    uint64_t early_joins;   /* JOINs stamped before that: ignored */
    halo_net_probe probe;   /* the speed probe of session probe.session (issue 15) */
    int have_probe;
    /* the mesh collective (net/mesh.h): a JOIN flagged mesh makes no node; the PEERS that
       follows gives the peers' keys and addresses and the placement, then the node is made */
    int mesh;          /* the current session is a mesh */
    int mesh_n;        /* its n_devices (peer sessions to clear at the next session) */
    int mesh_encoding; /* the JOIN's payload encoding */
    int mesh_encrypt;  /* the JOIN's HALO_NET_JOIN_ENCRYPT */
    halo_groups mesh_g;
    uint64_t last_join_ns; /* the stamp of the last JOIN answered (0: none yet) */
    uint64_t old_joins;    /* JOINs stamped no later than that: ignored */
} worker;

/* A JACK is never larger than the JOIN it answers: an answered replay (or a JOIN with a
   forged source address, which needs the cluster key) reflects less than it costs. */
_Static_assert(HALO_NET_JACK_BYTES <= HALO_NET_JOIN_BYTES, "a JACK must not amplify a JOIN");

/* The speed probe a JOIN with HALO_NET_JOIN_PROBE asks for, after the JACK: timed once per
   session (a repeated JOIN gets the same result again). */
static void send_probe(worker *w, const halo_net_join *j, int dst) {
    if (!w->have_probe || w->probe.session != j->session || w->probe.node_idx != j->node_idx) {
        halo_net_probe p = {.node_idx = j->node_idx, .session = j->session};
        if (halo_net_probe_run(w->cfg->model, w->cfg->pool, j->n_devices, 5000000, &p, NULL) !=
            HALO_OK)
            return;
        w->probe = p;
        w->have_probe = 1;
        halo_net_log(w->cfg->log_fn, w->cfg->log_ctx, "speed probe: %.3g flop/s in %.1f ms",
                     p.flops_per_s, (double)p.probe_ns / 1e6);
    }
    unsigned char buf[HALO_NET_PROBE_BYTES];
    halo_net_probe_encode(&w->probe, buf);
    (void)halo_net_send_control(w->t, dst, 0, buf, sizeof buf, NULL);
}

/* Forgets the peer sessions of an earlier mesh session. */
static void mesh_forget(worker *w) {
    for (int d = 1; d < w->mesh_n; d++)
        if (d != w->node_idx)
            halo_net_set_session(w->t, d, NULL);
    w->mesh = 0;
    w->mesh_n = 0;
}

/* PEERS from the root of our mesh session: connect to the peers, make the node, answer PACK
   (again for a repeated PEERS). Anything not for our current session gets no answer. */
static void worker_peers(worker *w, int dst, int src, const halo_net_peers *v) {
    if (src != 0 || !w->mesh || v->session != w->session || v->node_idx != w->node_idx ||
        dst != w->node_idx || !w->have_kx ||
        memcmp(halo_net_peers_pk(v, dst), w->kx.pk, HALO_NET_KX_PUBLIC_BYTES) != 0)
        return;
    int status = 0;
    if (!w->node) {
        halo_err e = {0};
        halo_placement pl = {0};
        int rc = v->n_devices == w->mesh_n
                     ? halo_placement_init(&pl, &w->mesh_g, v->n_devices, NULL, &e)
                     : HALO_FAIL(&e, HALO_ERR_ARG, "mesh: %d devices in the peer list, %d joined",
                                 v->n_devices, w->mesh_n);
        if (rc == HALO_OK)
            rc = halo_net_peers_placement(v, &pl, &e);
        if (rc == HALO_OK)
            rc = halo_net_mesh_connect(w->t, v, w->node_idx, &w->kx, w->cfg->key, w->mesh_encrypt,
                                       &e);
        if (rc == HALO_OK) {
            halo_node_config nc = {.node_idx = w->node_idx,
                                   .n_devices = v->n_devices,
                                   .model = w->cfg->model,
                                   .groups = &w->mesh_g,
                                   .transport = w->t,
                                   .pool = w->cfg->pool,
                                   .encoding = w->mesh_encoding,
                                   .loader = w->loader,
                                   .collective = HALO_COLLECTIVE_MESH,
                                   .mesh_placement = &pl,
                                   .pack_windows = 1};
            rc = halo_node_new(&w->node, &nc, &e);
        }
        halo_placement_free(&pl);
        if (rc != HALO_OK) {
            status = 1;
            halo_net_log(w->cfg->log_fn, w->cfg->log_ctx, "cannot join the mesh: %s", e.msg);
        } else {
            halo_net_log(w->cfg->log_fn, w->cfg->log_ctx,
                         "mesh: connected to %d peers of session %016llx", v->n_devices - 2,
                         (unsigned long long)v->session);
        }
    }
    unsigned char ack[HALO_NET_PACK_BYTES];
    halo_net_pack_encode(ack, v->session, w->node_idx, status);
    (void)halo_net_send_control(w->t, dst, 0, ack, sizeof ack, NULL);
}

/* The session keys for JOIN j, made with a fresh key pair unless j repeats the exchange we
   answered last. */
static int worker_session(worker *w, const halo_net_join *j, halo_net_session *s) {
    if (!w->have_kx || j->session != w->session ||
        memcmp(j->kx_pk, w->root_pk, sizeof w->root_pk) != 0) {
        halo_net_kx_wipe(&w->kx);
        w->have_kx = 0;
        if (halo_net_kx_new(&w->kx, NULL) != HALO_OK)
            return HALO_ERR_IO;
        memcpy(w->root_pk, j->kx_pk, sizeof w->root_pk);
        w->have_kx = 1;
    }
    return halo_net_session_derive(s, &w->kx, j->kx_pk, 0, w->cfg->key,
                                   (j->flags & HALO_NET_JOIN_ENCRYPT) != 0, NULL);
}

/* Counts a JOIN ignored for one reason in *ignored and logs the first of them: "ignoring a
   join stamped <early_ns in s> before <what>". */
static void ignore_join(const worker *w, uint64_t *ignored, uint64_t early_ns, const char *what) {
    if ((*ignored)++ == 0)
        halo_net_log(w->cfg->log_fn, w->cfg->log_ctx, "ignoring a join stamped %.3f s before %s",
                     (double)early_ns / 1e9, what);
}

static void worker_control(void *ctx, int dst, int src, const void *msg, size_t len) {
    worker *w = ctx;
    halo_net_join j;
    halo_net_peers v;
    if (halo_net_peers_decode(&v, msg, len)) {
        worker_peers(w, dst, src, &v);
        return;
    }
    if (src != 0 || !halo_net_join_decode(&j, msg, len) || j.node_idx != dst || j.node_idx < 1 ||
        j.node_idx >= j.n_devices || j.n_devices > HALO_MAX_DEVICES)
        return;
    if (j.wall_ns < w->start_wall_ns) {
        /* Sent before this worker started: a recording of an earlier session replayed to a
           restarted worker (issue 18), since a live root stamps every JOIN when it sends it.
           No answer at all, so the replay gets nothing back. */
        ignore_join(w, &w->early_joins, w->start_wall_ns - j.wall_ns,
                    "this worker started (a replayed recording, or a root whose clock is behind "
                    "ours)");
        return;
    }
    if (j.wall_ns <= w->last_join_ns) {
        /* Answered only when stamped after the last JOIN answered: a live root stamps each
           JOIN (and each repeat) when it sends it, so only a replay comes out of order. The
           frames' replay window already drops a recording older than what this worker heard
           since; this bound does not depend on sequence numbers (issue 18, docs/net.md). */
        ignore_join(w, &w->old_joins, w->last_join_ns - j.wall_ns,
                    "the last join answered (a replayed recording)");
        return;
    }
    w->last_join_ns = j.wall_ns;
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
    halo_net_session sess;
    memset(&sess, 0, sizeof sess);
    if (status == HALO_NET_JACK_OK && worker_session(w, &j, &sess) != HALO_OK)
        status = HALO_NET_JACK_BAD;
    if (status == HALO_NET_JACK_OK &&
        (j.encoding < 0 || j.encoding >= HALO_ENCODING_COUNT_ || j.ffn_group_size < 1 ||
         halo_groups_init(&g, mc, j.ffn_group_size, &e) != HALO_OK))
        status = HALO_NET_JACK_BAD;
    int mesh = (j.flags & HALO_NET_JOIN_MESH) != 0;
    /* a mesh JOIN the root repeats (its JACK was lost) keeps what the session has made */
    int repeat = status == HALO_NET_JACK_OK && mesh && w->mesh && j.session == w->session &&
                 j.node_idx == w->node_idx;
    if (status == HALO_NET_JACK_OK && !repeat) {
        if (w->mesh_n)
            mesh_forget(w);
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
    if (status == HALO_NET_JACK_OK && !repeat) {
        if (w->node_idx > 0 && w->node_idx != j.node_idx)
            (void)w->t->ops->attach(w->t, w->node_idx, NULL, NULL, NULL);
        halo_node_config nc = {.node_idx = j.node_idx,
                               .n_devices = j.n_devices,
                               .model = w->cfg->model,
                               .groups = &g,
                               .transport = w->t,
                               .pool = w->cfg->pool,
                               .encoding = j.encoding,
                               .loader = w->loader,
                               .split_classifier = (j.flags & HALO_NET_JOIN_SPLIT) != 0,
                               .pack_windows = 1};
        if (mesh) { /* the node comes with the PEERS (its placement and peers) */
            w->mesh = 1;
            w->mesh_n = j.n_devices;
            w->mesh_encoding = j.encoding;
            w->mesh_encrypt = (j.flags & HALO_NET_JOIN_ENCRYPT) != 0;
            w->mesh_g = g;
        }
        if (!mesh && halo_node_new(&w->node, &nc, &e) != HALO_OK) {
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
            halo_net_set_parity(w->t, j.flags & HALO_NET_JOIN_PARITY ? HALO_NET_PARITY_ON_LOSS
                                                                     : HALO_NET_PARITY_OFF);
            if (j.session != w->session)
                halo_net_log(w->cfg->log_fn, w->cfg->log_ctx,
                             "joined session %016llx as node %d of %d (%s payloads, %s collective, "
                             "injected loss %g)",
                             (unsigned long long)j.session, j.node_idx, j.n_devices,
                             j.encoding == HALO_ENCODING_Q8 ? "q8" : "f32", mesh ? "mesh" : "star",
                             j.loss_rate);
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
    if (status == HALO_NET_JACK_OK)
        memcpy(a.kx_pk, w->kx.pk, sizeof a.kx_pk);
    unsigned char ack[HALO_NET_JACK_BYTES];
    halo_net_jack_encode(&a, ack);
    (void)halo_net_send_control(w->t, dst, 0, ack, sizeof ack, NULL);
    /* after the JACK (which travels under the cluster key): the root's frames must now come
       under this session's keys, so a recording of an earlier session opens nothing */
    if (status == HALO_NET_JACK_OK)
        halo_net_set_session(w->t, 0, &sess);
    sodium_memzero(&sess, sizeof sess);
    if (status == HALO_NET_JACK_OK && (j.flags & HALO_NET_JOIN_PROBE))
        send_probe(w, &j, dst);
}

static int worker_stop(void *arg) {
    const worker *w = arg;
    return *w->cfg->stop != 0;
}

int halo_worker_run(const halo_worker_config *cfg, halo_err *err) {
    /* the loader streams float32 llama2.c checkpoints only: refused here, not at every join
       (where the root saw only "the request does not fit its model") */
    if (cfg->memory_bytes && halo_model_format(cfg->model) == HALO_MODEL_GGUF)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "%s: --memory-mb streams groups from float32 llama2.c checkpoints only, "
                         "not GGUF files: drop --memory-mb, or give the checkpoint",
                         cfg->model_path ? cfg->model_path : "the model");
    worker w = {
        .cfg = cfg, .hash = halo_model_hash(cfg->model), .start_wall_ns = halo_net_wall_ns()};
    halo_net_config nc = {.kind = cfg->kind,
                          .n_nodes = HALO_MAX_DEVICES,
                          .listen = cfg->listen,
                          .key = cfg->key,
                          .max_conns = cfg->max_conns,
                          .preauth_timeout_ns = cfg->preauth_timeout_ns,
                          .spin_ns = cfg->spin_ns,
                          .require_session = 1};
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
        "stopping: %llu joins, %llu refused, %llu stamped before our start ignored, %llu "
        "stamped out of order ignored; %llu blocks computed; frames dropped: %llu "
        "unauthenticated, %llu replayed, %llu malformed, %llu oversized, %llu misaddressed, "
        "%llu stale, %llu outside the session",
        (unsigned long long)w.joins, (unsigned long long)w.refusals,
        (unsigned long long)w.early_joins, (unsigned long long)w.old_joins,
        (unsigned long long)(ns ? ns->computed : 0), (unsigned long long)s.bad_auth,
        (unsigned long long)s.replayed, (unsigned long long)s.malformed,
        (unsigned long long)s.oversized, (unsigned long long)s.misaddressed,
        (unsigned long long)s.stale, (unsigned long long)s.bad_session);
    halo_winpack_stats ps = w.node ? halo_node_packed(w.node) : (halo_winpack_stats){0};
    if (ps.copies)
        halo_net_log(cfg->log_fn, cfg->log_ctx, "weight windows: %ld copied, %.1f MB held (%s)%s",
                     ps.copies, (double)ps.window_bytes / 1e6,
                     ps.huge ? "huge pages advised" : "no huge pages",
                     ps.stopped ? "; copying stopped: windows moving or over the budget" : "");
    if (cfg->kind == HALO_NET_KIND_TCP)
        halo_net_log(cfg->log_fn, cfg->log_ctx,
                     "connections: %llu closed, %llu evicted unauthenticated at the cap, %llu "
                     "refused, %llu timed out unauthenticated, %llu failed accepts (no fds)",
                     (unsigned long long)s.conns_closed, (unsigned long long)s.conns_evicted,
                     (unsigned long long)s.conns_refused, (unsigned long long)s.conns_timed_out,
                     (unsigned long long)s.accept_failures);
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
    halo_net_kx_wipe(&w.kx);
    return rc;
}
