/*
 * The root's side of a socket cluster (net/root.h): membership (join, heartbeats, lost and
 * rejoined workers), placement over the members, and running tokens with recomputation.
 */
#define _POSIX_C_SOURCE 200809L

#include "net/root.h"

#include "core/arena.h"
#include "core/cluster.h"
#include "net/addr.h"
#include "net/mesh.h"
#include "net/probe.h"
#include "net/replan.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct worker_state {
    char addr[128];      /* copied from the config */
    int joined;          /* accepted the current session */
    int in_placement;    /* holds groups in the current placement */
    int refused;         /* JACK status other than OK */
    uint64_t their_hash; /* from a refusal */
    uint64_t pending_since_ns;
    uint64_t last_join_ns;
    int ever_lost;
    double probe_flops_per_s; /* scheduled: the worker's probe this session (0: none yet) */
    /* scheduled: frame loss from the sequence gaps of what arrives from it */
    uint64_t rx_frames, rx_top;    /* halo_net_peer_rx at the last boundary */
    uint64_t win_frames, win_span; /* the window being measured: frames in, numbers spent */
    double loss;                   /* the last full window's loss */
    uint8_t kx_pk[HALO_NET_KX_PUBLIC_BYTES]; /* its public key of this session (the mesh's
                                                 pair keys, net/mesh.h) */
    int blocks_per_token;   /* syncs per token in which it holds groups (placement) */
    uint64_t missing_seen;  /* halo_node_missing_from after the last token */
    uint64_t behind_tokens; /* tokens in which it missed half or more of its contributions */
} worker_state;

struct halo_remote {
    halo_remote_config cfg;
    halo_transport *t;
    halo_node *root;
    halo_groups groups;
    halo_placement placement;
    int n_devices;   /* one block holds this struct and the tables w, weights, history */
    worker_state *w; /* (n_devices), entry 0 unused */
    double *weights; /* (n_devices) */
    uint8_t *critical;
    uint64_t session, model_hash;
    halo_net_kx kx;                  /* this session's ephemeral key pair (net/session.h) */
    uint8_t key[HALO_NET_KEY_BYTES]; /* the cluster key (cfg.key is borrowed for new only) */
    uint64_t hb_id;
    int hb_armed;
    int membership_changed; /* placement must be rebuilt */
    int lost_in_flight;     /* a worker of the current placement was lost */
    int *history;           /* (seq_len) tokens of the current sequence */
    int seq_len;
    int cur_pos; /* position of the token being run (for event logs) */
    uint64_t token_start_ns;
    int stalled;
    int warming; /* the warm-up pass is in flight */
    halo_remote_stats stats;
    halo_replan *rp;    /* scheduled placement (net/replan.h), or NULL */
    int tokens_started; /* halo_remote_forward calls: the re-plan rule's clock (positions
                           restart with every sequence) */
};

static void got_probe(halo_remote *r, int src, const void *msg, size_t len);

static void send_join(halo_remote *r, int d) {
    halo_net_join j = {
        .node_idx = d,
        .n_devices = r->n_devices,
        .encoding = r->cfg.encoding,
        .ffn_group_size = r->groups.ffn_size,
        .model_hash = r->model_hash,
        .wall_ns = halo_net_wall_ns(),
        .session = r->session,
        .loss_rate = r->cfg.loss_rate,
        .delay_ns = r->cfg.delay_ns,
        .loss_seed = r->cfg.loss_seed + (uint64_t)d,
        .flags = (r->cfg.auth_only ? 0u : HALO_NET_JOIN_ENCRYPT) |
                 (r->cfg.collective == HALO_COLLECTIVE_MESH ? HALO_NET_JOIN_MESH : 0u) |
                 (r->cfg.split_classifier ? HALO_NET_JOIN_SPLIT : 0u) |
                 (r->cfg.parity ? HALO_NET_JOIN_PARITY : 0u) | (r->rp ? HALO_NET_JOIN_PROBE : 0u)};
    memcpy(j.kx_pk, r->kx.pk, sizeof j.kx_pk);
    unsigned char buf[HALO_NET_JOIN_BYTES];
    halo_net_join_encode(&j, buf);
    r->w[d].last_join_ns = r->t->ops->now_ns(r->t, 0);
    (void)halo_net_send_control(r->t, 0, d, buf, sizeof buf, NULL);
}

static void root_control(void *ctx, int dst, int src, const void *msg, size_t len) {
    halo_remote *r = ctx;
    halo_net_jack a;
    if (dst == 0 && src > 0 && src < r->n_devices && len == HALO_NET_PROBE_BYTES) {
        got_probe(r, src, msg, len);
        return;
    }
    if (dst != 0 || src <= 0 || src >= r->n_devices || !halo_net_jack_decode(&a, msg, len) ||
        a.session != r->session || a.node_idx != src)
        return;
    worker_state *w = &r->w[src];
    if (a.status != HALO_NET_JACK_OK) {
        if (!w->refused)
            halo_net_log(r->cfg.log_fn, r->cfg.log_ctx,
                         "worker %d (%s) refused to join: %s (its model hash %016llx, ours "
                         "%016llx)",
                         src, w->addr,
                         a.status == HALO_NET_JACK_MODEL ? "it holds a different model"
                                                         : "the request does not fit its model",
                         (unsigned long long)a.model_hash, (unsigned long long)r->model_hash);
        w->refused = a.status;
        w->their_hash = a.model_hash;
        return;
    }
    if (w->joined)
        return;
    /* the session keys with this worker: from now on its frames must be under them */
    halo_net_session s;
    if (halo_net_session_derive(&s, &r->kx, a.kx_pk, 1, r->key, !r->cfg.auth_only, NULL) != HALO_OK)
        return;
    halo_net_set_session(r->t, src, &s);
    sodium_memzero(&s, sizeof s);
    memcpy(w->kx_pk, a.kx_pk, sizeof w->kx_pk);
    w->joined = 1;
    w->refused = 0;
    w->pending_since_ns = 0;
    if (w->ever_lost) {
        r->stats.rejoined++;
        r->membership_changed = 1;
        halo_net_log(r->cfg.log_fn, r->cfg.log_ctx,
                     "worker %d (%s) rejoined at position %d; it is back in the placement from the "
                     "next token",
                     src, w->addr, r->cur_pos);
    }
}

static void declare_lost(halo_remote *r, int d, uint64_t silent_ns) {
    worker_state *w = &r->w[d];
    w->joined = 0;
    w->ever_lost = 1;
    w->pending_since_ns = 0;
    r->stats.lost++;
    r->membership_changed = 1;
    if (w->in_placement)
        r->lost_in_flight = 1;
    halo_net_log(r->cfg.log_fn, r->cfg.log_ctx,
                 "worker %d (%s) lost at position %d: no answer for %.0f ms; its groups go to the "
                 "remaining devices",
                 d, w->addr, r->cur_pos, (double)silent_ns / 1e6);
}

/* Checks heartbeats; called from the heartbeat timer and before every event of a token. */
static void check_workers(halo_remote *r) {
    uint64_t now = r->t->ops->now_ns(r->t, 0);
    for (int d = 1; d < r->n_devices; d++) {
        worker_state *w = &r->w[d];
        if (!w->joined || !w->pending_since_ns)
            continue;
        uint64_t heard = halo_net_last_heard_ns(r->t, d);
        if (heard >= w->pending_since_ns)
            continue;
        if (now - w->pending_since_ns > r->cfg.dead_after_ns)
            declare_lost(r, d, now - (heard > 0 ? heard : w->pending_since_ns));
    }
}

static void heartbeat(void *arg) {
    halo_remote *r = arg;
    r->hb_armed = 0;
    uint64_t now = r->t->ops->now_ns(r->t, 0);
    check_workers(r);
    for (int d = 1; d < r->n_devices; d++) {
        worker_state *w = &r->w[d];
        if (w->joined) {
            uint64_t heard = halo_net_last_heard_ns(r->t, d);
            if (!w->pending_since_ns || heard >= w->pending_since_ns)
                w->pending_since_ns = now ? now : 1;
            (void)halo_net_ping(r->t, 0, d, NULL);
        } else if (w->ever_lost && now - w->last_join_ns >= r->cfg.rejoin_ns) {
            send_join(r, d);
        }
    }
    if (r->t->ops->schedule(r->t, 0, r->cfg.heartbeat_ns, heartbeat, r, &r->hb_id, NULL) == HALO_OK)
        r->hb_armed = 1;
}

static int sched_rebuild(halo_remote *r, halo_err *err);

/* Rebuilds the placement over the root and the joined workers. */
static int rebuild_placement(halo_remote *r, halo_err *err) {
    if (r->rp)
        return sched_rebuild(r, err);
    int *dev = malloc((size_t)r->n_devices * sizeof *dev);
    double *w = malloc((size_t)r->n_devices * sizeof *w);
    halo_placement small = {0};
    if (!dev || !w) {
        free(dev);
        free(w);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    }
    int rc = HALO_OK, k = 0;
    for (int d = 0; d < r->n_devices; d++)
        if (d == 0 || r->w[d].joined) {
            dev[k] = d;
            w[k++] = r->weights[d];
        }
    if (rc == HALO_OK)
        rc = halo_placement_init(&small, &r->groups, k, w, err);
    if (rc == HALO_OK) {
        size_t na = (size_t)r->groups.n_layers * (size_t)r->groups.n_attn;
        size_t nf = (size_t)r->groups.n_layers * (size_t)r->groups.n_ffn;
        for (size_t i = 0; i < na; i++)
            r->placement.attn[i] = (uint16_t)dev[small.attn[i]];
        for (size_t i = 0; i < nf; i++)
            r->placement.ffn[i] = (uint16_t)dev[small.ffn[i]];
        rc = halo_node_set_placement(r->root, &r->placement, err);
    }
    if (rc == HALO_OK) {
        char list[256];
        size_t at = 0;
        list[0] = '\0';
        for (int i = 0; i < k && at < sizeof list - 8; i++)
            at += (size_t)snprintf(list + at, sizeof list - at, i ? ",%d" : "%d", dev[i]);
        for (int d = 1; d < r->n_devices; d++) {
            int a = 0, f = 0;
            for (int l = 0; l < r->groups.n_layers; l++) {
                int na = 0, nf = 0;
                (void)halo_placement_count(&r->placement, l, d, &na, &nf);
                a += na;
                f += nf;
            }
            r->w[d].in_placement = a + f > 0;
            int blocks = 0;
            for (int l = 0; l < r->groups.n_layers; l++) {
                int na = 0, nf = 0;
                (void)halo_placement_count(&r->placement, l, d, &na, &nf);
                blocks += (na > 0) + (nf > 0);
            }
            r->w[d].blocks_per_token = blocks;
        }
        if (r->stats.lost || r->stats.rejoined)
            halo_net_log(r->cfg.log_fn, r->cfg.log_ctx,
                         "placement rebuilt over devices %s; recomputing the sequence so far",
                         list);
        r->stats.alive = k - 1;
        r->membership_changed = 0;
    }
    halo_placement_free(&small);
    free(dev);
    free(w);
    return rc;
}

typedef struct join_wait {
    halo_remote *r;
    int timed_out;
    uint64_t resend_id; /* the pending resend timer */
} join_wait;

/* 1 while worker d owes the root an answer to its JOIN: the JACK, or (scheduled) the probe
   that follows the JACK. */
static int join_awaited(const halo_remote *r, int d) {
    const worker_state *w = &r->w[d];
    return (!w->joined && !w->refused) || (r->rp && w->joined && !w->probe_flops_per_s);
}

static int all_answered(void *arg) {
    join_wait *jw = arg;
    if (jw->timed_out)
        return 1;
    for (int d = 1; d < jw->r->n_devices; d++)
        if (join_awaited(jw->r, d))
            return 0;
    return 1;
}

static void join_timeout(void *arg) {
    ((join_wait *)arg)->timed_out = 1;
}

static void join_resend(void *arg) {
    join_wait *jw = arg;
    halo_remote *r = jw->r;
    for (int d = 1; d < r->n_devices; d++)
        if (join_awaited(r, d))
            send_join(r, d); /* a repeated JOIN gets the JACK and the probe again */
    if (!jw->timed_out)
        (void)r->t->ops->schedule(r->t, 0, 200000000ull, join_resend, jw, &jw->resend_id, NULL);
}

static int join_all(halo_remote *r, halo_err *err) {
    join_wait jw = {.r = r};
    uint64_t to_id = 0;
    for (int d = 1; d < r->n_devices; d++)
        send_join(r, d);
    int rc = r->t->ops->schedule(r->t, 0, r->cfg.join_timeout_ns, join_timeout, &jw, &to_id, err);
    if (rc == HALO_OK)
        rc = r->t->ops->schedule(r->t, 0, 200000000ull, join_resend, &jw, &jw.resend_id, err);
    if (rc == HALO_OK)
        rc = r->t->ops->run(r->t, all_answered, &jw, err);
    /* Both timers point at jw, which lives on this stack: cancel them. */
    jw.timed_out = 1;
    (void)r->t->ops->cancel(r->t, to_id);
    (void)r->t->ops->cancel(r->t, jw.resend_id);
    if (rc != HALO_OK)
        return rc;
    for (int d = 1; d < r->n_devices; d++) {
        worker_state *w = &r->w[d];
        if (w->joined)
            continue;
        if (w->refused == HALO_NET_JACK_MODEL)
            return HALO_FAIL(err, HALO_ERR_CLOSED,
                             "worker %d (%s) refused: it holds a different model (its hash "
                             "%016llx, the root's %016llx)",
                             d, w->addr, (unsigned long long)w->their_hash,
                             (unsigned long long)r->model_hash);
        if (w->refused)
            return HALO_FAIL(err, HALO_ERR_CLOSED,
                             "worker %d (%s) refused the join: the cluster settings do not fit "
                             "its model",
                             d, w->addr);
        if (halo_net_refusals(r->t, d))
            return HALO_FAIL(err, HALO_ERR_CLOSED,
                             "worker %d (%s) rejected our messages as unauthenticated: it holds "
                             "a different cluster key",
                             d, w->addr);
        return HALO_FAIL(err, HALO_ERR_CLOSED,
                         "worker %d (%s) did not answer the join within %.1f s (not running, "
                         "unreachable, or listening on another transport than %s)",
                         d, w->addr, (double)r->cfg.join_timeout_ns / 1e9,
                         r->cfg.kind == HALO_NET_KIND_UDP ? "udp" : "tcp");
    }
    return HALO_OK;
}

static int sched_new(halo_remote *r, halo_err *err);
static int sched_boundary(halo_remote *r, int pos, int *recompute, halo_err *err);

/* The root's node: the star's, or (mesh) with the placement r->placement that every node of
   the mesh holds. */
static int make_root_node(halo_remote *r, halo_err *err) {
    halo_node_config nc = {.node_idx = 0,
                           .n_devices = r->n_devices,
                           .model = r->cfg.model,
                           .groups = &r->groups,
                           .transport = r->t,
                           .pool = r->cfg.pool,
                           .encoding = r->cfg.encoding,
                           .sync = r->cfg.sync,
                           .collective = r->cfg.collective,
                           .mesh_placement = &r->placement,
                           .split_classifier = r->cfg.split_classifier,
                           .pack_windows = 1};
    nc.sync.slow_safe = 1; /* real compute times are whatever they are (issue 15) */
    return halo_node_new(&r->root, &nc, err);
}

/* The mesh collective (net/mesh.h): once every worker has joined, the placement over all of
   them, the peer list to every worker, and the root's node. */
static int mesh_setup(halo_remote *r, halo_err *err) {
    halo_placement p = {0};
    const char **addrs = calloc((size_t)r->n_devices, sizeof *addrs);
    uint8_t(*pks)[HALO_NET_KX_PUBLIC_BYTES] = calloc((size_t)r->n_devices, sizeof *pks);
    int rc = addrs && pks ? halo_placement_init(&p, &r->groups, r->n_devices, r->weights, err)
                          : HALO_FAIL(err, HALO_ERR_NOMEM, "cluster: out of memory");
    for (int d = 1; rc == HALO_OK && d < r->n_devices; d++) {
        addrs[d] = r->w[d].addr;
        memcpy(pks[d], r->w[d].kx_pk, sizeof pks[d]);
    }
    if (rc == HALO_OK) {
        halo_placement_copy(&r->placement, &p);
        halo_net_mesh_setup s = {.t = r->t,
                                 .restore_fn = root_control,
                                 .restore_ctx = r,
                                 .session = r->session,
                                 .n_devices = r->n_devices,
                                 .addrs = addrs,
                                 .pks = (const uint8_t(*)[HALO_NET_KX_PUBLIC_BYTES])pks,
                                 .placement = &p,
                                 .timeout_ns = r->cfg.join_timeout_ns};
        rc = halo_net_mesh_setup_run(&s, err);
    }
    if (rc == HALO_OK)
        rc = make_root_node(r, err);
    halo_placement_free(&p);
    free(addrs);
    free(pks);
    return rc;
}

static void carve(void *obj, halo_arena *a) {
    halo_remote *r = obj;
    r->w = halo_arena_take(a, (size_t)r->n_devices, sizeof *r->w);
    r->weights = halo_arena_take(a, (size_t)r->n_devices, sizeof *r->weights);
    r->history = halo_arena_take(a, (size_t)r->seq_len, sizeof *r->history);
}

enum {
    RUN_OK = 0,
    RUN_AGAIN = 1, /* placement changed or stalled: recompute */
};

static int run_token(halo_remote *r, int token, int pos, halo_err *err);

/* cfg.warmup: one pass at position 0 with every contribution awaited, then the root's sync
   state starts over (halo_node_set_warmup). A pass that stalls or loses a worker is given up:
   the first token deals with what it left (a lost worker's re-placement). */
static int warmup(halo_remote *r, halo_err *err) {
    uint64_t t0 = r->t->ops->now_ns(r->t, 0);
    uint64_t stall = r->cfg.stall_ns;
    r->cfg.stall_ns = 12 * stall; /* a first pass may take many tokens' time */
    r->warming = 1;
    halo_node_set_warmup(r->root, 1);
    int rc = run_token(r, 1 % halo_model_get_config(r->cfg.model)->vocab_size, 0, err);
    halo_node_set_warmup(r->root, 0);
    r->warming = 0;
    r->cfg.stall_ns = stall;
    r->stats.warmup_ns = r->t->ops->now_ns(r->t, 0) - t0;
    r->stats.warmup_done = rc == RUN_OK;
    return rc == RUN_OK || rc == RUN_AGAIN ? HALO_OK : rc;
}

int halo_remote_new(halo_remote **out, const halo_remote_config *cfg, halo_err *err) {
    *out = NULL;
    if (cfg->n_workers < 1 || cfg->n_workers + 1 > HALO_MAX_DEVICES)
        return HALO_FAIL(err, HALO_ERR_ARG, "cluster: %d workers, expected 1..%d", cfg->n_workers,
                         HALO_MAX_DEVICES - 1);
    const halo_model_config *mc = halo_model_get_config(cfg->model);
    halo_remote proto = {.cfg = *cfg, .n_devices = cfg->n_workers + 1, .seq_len = mc->seq_len};
    halo_remote *r = halo_arena_new(sizeof proto, &proto, carve, "cluster", NULL, err);
    if (!r)
        return HALO_ERR_NOMEM;
    if (!r->cfg.join_timeout_ns)
        r->cfg.join_timeout_ns = 3000000000ull;
    if (!r->cfg.heartbeat_ns)
        r->cfg.heartbeat_ns = 100000000ull;
    if (!r->cfg.dead_after_ns)
        r->cfg.dead_after_ns = 1000000000ull;
    if (!r->cfg.rejoin_ns)
        r->cfg.rejoin_ns = 500000000ull;
    if (!r->cfg.stall_ns)
        r->cfg.stall_ns = 5000000000ull;
    r->model_hash = halo_model_hash(cfg->model);
    r->session = halo_net_wall_ns() ^ ((uint64_t)(uintptr_t)r << 16);
    memcpy(r->key, cfg->key, sizeof r->key);
    if (halo_net_kx_new(&r->kx, err) != HALO_OK) {
        halo_remote_free(r);
        return HALO_ERR_IO;
    }
    const char **addrs = calloc((size_t)r->n_devices, sizeof *addrs);
    uint8_t *local = calloc((size_t)r->n_devices, 1);
    if (!addrs || !local) {
        free(addrs);
        free(local);
        halo_remote_free(r);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "cluster: out of memory");
    }
    int rc = HALO_OK;
    for (int d = 0; d < r->n_devices; d++) {
        r->weights[d] = cfg->weights ? cfg->weights[d] : 1.0;
        if (d > 0) {
            addrs[d] = cfg->workers[d - 1];
            (void)snprintf(r->w[d].addr, sizeof r->w[d].addr, "%s", addrs[d]);
        }
    }
    if (rc == HALO_OK) {
        /* by default the root's socket has the first worker's family (one family for all) */
        halo_net_addr w0;
        int v6 = halo_net_addr_parse(&w0, cfg->workers[0], NULL) == HALO_OK &&
                 w0.ss.ss_family == AF_INET6;
        addrs[0] = cfg->bind ? cfg->bind : v6 ? "[::]:0" : "0.0.0.0:0";
        local[0] = 1;
        halo_net_config nc = {.kind = cfg->kind,
                              .n_nodes = r->n_devices,
                              .addrs = addrs,
                              .local = local,
                              .key = cfg->key,
                              .loss_rate = cfg->loss_rate,
                              .delay_ns = cfg->delay_ns,
                              .seed = cfg->loss_seed,
                              .require_session = 1,
                              .spin_ns = cfg->spin_ns,
                              .parity = cfg->parity ? HALO_NET_PARITY_ON_LOSS : 0};
        rc = halo_net_new(&r->t, &nc, err);
    }
    free(addrs);
    free(local);
    if (rc == HALO_OK)
        rc = halo_groups_init(&r->groups, mc,
                              cfg->ffn_group_size > 0
                                  ? cfg->ffn_group_size
                                  : halo_cluster_default_group_size_of(cfg->model),
                              err);
    if (rc == HALO_OK)
        rc = halo_placement_init(&r->placement, &r->groups, r->n_devices, NULL, err);
    int mesh = cfg->collective == HALO_COLLECTIVE_MESH;
    if (rc == HALO_OK && !mesh)
        rc = make_root_node(r, err);
    if (rc == HALO_OK && cfg->scheduled && mesh)
        rc = HALO_FAIL(err, HALO_ERR_ARG,
                       "cluster: placement scheduled needs the star collective (a mesh keeps the "
                       "placement every node holds)");
    if (rc == HALO_OK && cfg->scheduled)
        rc = sched_new(r, err);
    if (rc == HALO_OK) {
        halo_net_set_control(r->t, root_control, r);
        rc = join_all(r, err);
    }
    if (rc == HALO_OK && mesh) /* the root's node needs the placement every node holds */
        rc = mesh_setup(r, err);
    if (rc == HALO_OK)
        rc = rebuild_placement(r, err);
    if (rc == HALO_OK)
        rc = r->t->ops->schedule(r->t, 0, r->cfg.heartbeat_ns, heartbeat, r, &r->hb_id, err);
    if (rc != HALO_OK) {
        halo_remote_free(r);
        return rc;
    }
    r->hb_armed = 1;
    if (cfg->warmup && (rc = warmup(r, err)) != HALO_OK) {
        halo_remote_free(r);
        return rc;
    }
    *out = r;
    return HALO_OK;
}

void halo_remote_free(halo_remote *r) {
    if (!r)
        return;
    halo_node_free(r->root);
    halo_transport_free(r->t);
    halo_replan_free(r->rp);
    halo_placement_free(&r->placement);
    halo_net_kx_wipe(&r->kx);
    sodium_memzero(r->key, sizeof r->key);
    free(r); /* with its tables */
}

static int token_over(void *arg) {
    halo_remote *r = arg;
    if (halo_node_token_done(r->root))
        return 1;
    check_workers(r);
    if (r->lost_in_flight)
        return 1;
    if (r->t->ops->now_ns(r->t, 0) - r->token_start_ns > r->cfg.stall_ns) {
        r->stalled = 1;
        return 1;
    }
    return 0;
}

/* ==== A worker that cannot keep up (issue 18) ==== */

/* Into buf: "; waiting for worker 2 (addr): ..." naming each worker the sync in flight still
   waits for and what the root will do about it ("" when none). */
static void awaited_workers(halo_remote *r, char *buf, size_t cap) {
    size_t at = 0;
    buf[0] = '\0';
    uint64_t now = r->t->ops->now_ns(r->t, 0);
    for (int d = 1; d < r->n_devices && at < cap; d++) {
        if (!halo_node_awaiting(r->root, d))
            continue;
        uint64_t heard = halo_net_last_heard_ns(r->t, d);
        double silent_ms = heard && now > heard ? (double)(now - heard) / 1e6 : -1;
        int n;
        if (silent_ms >= 0 && silent_ms < 2e-6 * (double)r->cfg.heartbeat_ns)
            n = snprintf(buf + at, cap - at,
                         "; waiting for worker %d (%s): it answers heartbeats but has not sent "
                         "its part (too slow for its share; it stays in the placement)",
                         d, r->w[d].addr);
        else
            n = snprintf(buf + at, cap - at,
                         "; waiting for worker %d (%s): silent for %.0f ms (declared lost and "
                         "its groups moved after %.0f ms)",
                         d, r->w[d].addr, silent_ms >= 0 ? silent_ms : 0.0,
                         (double)r->cfg.dead_after_ns / 1e6);
        at += n > 0 ? (size_t)n : 0;
    }
    if (at >= cap && cap > 4)
        memcpy(buf + cap - 4, "...", 4);
}

/* After a token: a worker that missed half or more of its contributions to it (late or
   lost, counted as zero at the deadline) is named, the first time and then at 2, 4, 8...
   such tokens, so a slow worker under the relaxed policy does not degrade the output
   silently. */
static void note_behind(halo_remote *r, int pos) {
    for (int d = 1; d < r->n_devices; d++) {
        worker_state *w = &r->w[d];
        uint64_t missing = halo_node_missing_from(r->root, d);
        uint64_t missed = missing - w->missing_seen;
        w->missing_seen = missing;
        if (!w->joined || w->blocks_per_token == 0 || 2 * missed < (uint64_t)w->blocks_per_token)
            continue;
        w->behind_tokens++;
        if (w->behind_tokens & (w->behind_tokens - 1))
            continue; /* not a power of two */
        halo_net_log(r->cfg.log_fn, r->cfg.log_ctx,
                     "worker %d (%s) cannot keep up: %llu of its %d contributions to the token "
                     "at position %d missed the deadline and were counted as zero (the %s "
                     "policy does not wait for it; %llu such tokens so far)",
                     d, w->addr, (unsigned long long)missed, w->blocks_per_token, pos,
                     r->cfg.sync.policy == HALO_SYNC_POLICY_STRICT ? "strict" : "relaxed",
                     (unsigned long long)w->behind_tokens);
    }
}

static int run_token(halo_remote *r, int token, int pos, halo_err *err) {
    r->lost_in_flight = 0;
    r->stalled = 0;
    r->cur_pos = pos;
    r->token_start_ns = r->t->ops->now_ns(r->t, 0);
    for (int d = 1; d < r->n_devices; d++) /* note_behind counts this run of the token only */
        r->w[d].missing_seen = halo_node_missing_from(r->root, d);
    int rc = halo_node_start_token(r->root, token, pos, err);
    if (rc == HALO_OK)
        rc = r->t->ops->run(r->t, token_over, r, err);
    if (rc != HALO_OK)
        return rc;
    if (halo_node_token_done(r->root) && !r->lost_in_flight)
        return halo_node_token_status(r->root, err);
    char who[512];
    if (r->stalled)
        awaited_workers(r, who, sizeof who);
    halo_node_abort_token(r->root, HALO_ERR_CLOSED);
    if (r->stalled) {
        r->stats.stalls++;
        halo_net_log(
            r->cfg.log_fn, r->cfg.log_ctx,
            "token at position %d stalled for %.1f s (a contribution the %s policy waits for "
            "never came)%s; %s",
            pos, (double)r->cfg.stall_ns / 1e9,
            r->cfg.sync.policy == HALO_SYNC_POLICY_STRICT ? "strict" : "relaxed", who,
            r->warming ? "going on without the warm-up pass" : "recomputing");
    }
    return RUN_AGAIN;
}

/* A worker of a mesh was lost: every node's placement is fixed and every node waits for every
   peer, so the mesh cannot go on without it (distributed-llama stops too). */
static int mesh_lost(halo_remote *r, int pos, halo_err *err) {
    for (int d = 1; d < r->n_devices; d++)
        if (!r->w[d].joined)
            return HALO_FAIL(err, HALO_ERR_CLOSED,
                             "worker %d (%s) was lost at position %d: the mesh collective cannot "
                             "go on without it (every node holds a fixed share and waits for "
                             "every peer); restart the cluster, or use engine.collective: star, "
                             "which moves a lost worker's groups to the others",
                             d, r->w[d].addr, pos);
    return HALO_FAIL(err, HALO_ERR_CLOSED, "cluster: the mesh's membership changed at position %d",
                     pos);
}

int halo_remote_forward(halo_remote *r, int token, int pos, const float **logits, halo_err *err) {
    *logits = NULL;
    if (pos < 0 || pos >= r->seq_len)
        return HALO_FAIL(err, HALO_ERR_ARG, "cluster: position %d out of range", pos);
    r->history[pos] = token;
    int recompute = 0;
    r->tokens_started++;
    if (r->rp && !r->membership_changed) {
        int rc = sched_boundary(r, pos, &recompute, err);
        if (rc != HALO_OK)
            return rc;
    }
    for (int attempt = 0; attempt < 4 * r->n_devices + 8; attempt++) {
        if (r->membership_changed && r->cfg.collective == HALO_COLLECTIVE_MESH)
            return mesh_lost(r, pos, err);
        if (r->membership_changed) {
            int rc = rebuild_placement(r, err);
            if (rc != HALO_OK)
                return rc;
            recompute = pos > 0;
        }
        int rc = RUN_OK;
        if (recompute) {
            r->stats.recomputations++;
            for (int p = 0; p < pos && rc == RUN_OK; p++) {
                rc = run_token(r, r->history[p], p, err);
                r->stats.replayed_tokens++;
            }
        }
        if (rc == RUN_OK)
            rc = run_token(r, token, pos, err);
        if (rc == RUN_OK) {
            note_behind(r, pos);
            *logits = halo_node_logits(r->root);
            return HALO_OK;
        }
        if (rc != RUN_AGAIN)
            return rc;
        recompute = 1;
    }
    return HALO_FAIL(err, HALO_ERR_TIMEOUT,
                     "cluster: the token at position %d failed on every attempt", pos);
}

halo_node *halo_remote_root(halo_remote *r) {
    return r->root;
}

halo_transport *halo_remote_transport(halo_remote *r) {
    return r->t;
}

void halo_remote_get_stats(const halo_remote *r, halo_remote_stats *out) {
    *out = r->stats;
    out->replans = r->rp ? (uint64_t)halo_replan_count_events(r->rp) : 0;
}

const struct halo_replan *halo_remote_replan(const halo_remote *r) {
    return r->rp;
}

/* ==== Scheduled placement (issue 15, net/replan.h) ==== */

static void got_probe(halo_remote *r, int src, const void *msg, size_t len) {
    halo_net_probe p;
    if (!r->rp || !halo_net_probe_decode(&p, msg, len) || p.session != r->session ||
        p.node_idx != src || !(p.flops_per_s > 0))
        return;
    const double *o = r->cfg.speed_override;
    if (!r->w[src].probe_flops_per_s)
        halo_net_log(r->cfg.log_fn, r->cfg.log_ctx,
                     "worker %d (%s) probed %.3g flop/s in %.1f ms%s", src, r->w[src].addr,
                     p.flops_per_s, (double)p.probe_ns / 1e6,
                     o ? " (the injected speed is used instead)" : "");
    r->w[src].probe_flops_per_s = o ? o[src] : p.flops_per_s;
}

static int sched_new(halo_remote *r, halo_err *err) {
    halo_replan_config rc_cfg = {.model = r->cfg.model,
                                 .groups = &r->groups,
                                 .n_devices = r->n_devices,
                                 .every_tokens = r->cfg.replan_tokens,
                                 .band = r->cfg.replan_band,
                                 .packet_bytes = r->cfg.kind == HALO_NET_KIND_UDP ? 1336 : 60000};
    int rc = halo_replan_new(&r->rp, &rc_cfg, err);
    halo_net_probe p = {0};
    if (rc == HALO_OK)
        rc = halo_net_probe_run(r->cfg.model, r->cfg.pool, r->n_devices, 5000000, &p, err);
    if (rc == HALO_OK) {
        halo_replan_set_device(r->rp, 0, 1,
                               r->cfg.speed_override ? r->cfg.speed_override[0] : p.flops_per_s);
        halo_net_log(r->cfg.log_fn, r->cfg.log_ctx, "root probed %.3g flop/s in %.1f ms",
                     p.flops_per_s, (double)p.probe_ns / 1e6);
    }
    return rc;
}

/* Worker d's frame loss: the sequence numbers it spent against the frames that came, over
   windows of at least 256 numbers. A jump no loss explains (a restarted worker numbers from
   its clock) starts a new window. */
static void measure_loss(halo_remote *r, int d) {
    worker_state *w = &r->w[d];
    uint64_t frames, top;
    halo_net_peer_rx(r->t, d, &frames, &top);
    uint64_t df = frames - w->rx_frames, ds = top - w->rx_top;
    int sane =
        w->rx_top && top >= w->rx_top && frames >= w->rx_frames && ds >= df && ds <= 4 * df + 1024;
    w->rx_frames = frames;
    w->rx_top = top;
    if (!sane) {
        w->win_frames = w->win_span = 0;
        return;
    }
    w->win_frames += df;
    w->win_span += ds;
    if (w->win_span >= 256) {
        w->loss = 1.0 - (double)w->win_frames / (double)w->win_span;
        w->win_frames = w->win_span = 0;
    }
}

typedef struct ping_wait {
    halo_remote *r;
    uint64_t sent_ns;
    int timed_out;
} ping_wait;

static int pings_back(void *arg) {
    ping_wait *pw = arg;
    if (pw->timed_out)
        return 1;
    for (int d = 1; d < pw->r->n_devices; d++)
        if (pw->r->w[d].joined && halo_net_last_heard_ns(pw->r->t, d) < pw->sent_ns)
            return 0;
    return 1;
}

static void ping_timeout(void *arg) {
    ((ping_wait *)arg)->timed_out = 1;
}

/* The initial round trips, before any exchange has measured them: three rounds of pings
   (the transport answers them at once), the fastest of each worker's answers. Nothing else
   travels then, so the first frame heard after a ping is its answer. */
static void sched_ping(halo_remote *r) {
    uint64_t best[HALO_MAX_DEVICES] = {0};
    for (int round = 0; round < 3; round++) {
        ping_wait pw = {.r = r, .sent_ns = r->t->ops->now_ns(r->t, 0)};
        uint64_t id = 0;
        for (int d = 1; d < r->n_devices; d++)
            if (r->w[d].joined)
                (void)halo_net_ping(r->t, 0, d, NULL);
        if (r->t->ops->schedule(r->t, 0, 100000000ull, ping_timeout, &pw, &id, NULL) != HALO_OK)
            return;
        (void)r->t->ops->run(r->t, pings_back, &pw, NULL);
        pw.timed_out = 1;
        (void)r->t->ops->cancel(r->t, id);
        for (int d = 1; d < r->n_devices; d++) {
            uint64_t heard = halo_net_last_heard_ns(r->t, d);
            if (r->w[d].joined && heard >= pw.sent_ns && (!best[d] || heard - pw.sent_ns < best[d]))
                best[d] = heard - pw.sent_ns ? heard - pw.sent_ns : 1;
        }
    }
    for (int d = 1; d < r->n_devices; d++)
        if (best[d])
            halo_replan_set_comm(r->rp, d, best[d]);
}

/* Who is in the cluster, how fast, and what its link measures, into the scheduler. */
static void sched_members(halo_remote *r) {
    for (int d = 1; d < r->n_devices; d++) {
        halo_node_link l;
        halo_node_get_link(r->root, d, &l);
        halo_replan_set_device(r->rp, d, r->w[d].joined, r->w[d].probe_flops_per_s);
        if (r->w[d].joined) {
            measure_loss(r, d);
            halo_replan_observe(r->rp, d, &l);
            halo_replan_set_loss(r->rp, d, r->w[d].loss);
        }
    }
}

/* The scheduler's plan into the root node's placement. */
static int sched_apply(halo_remote *r, halo_err *err) {
    halo_placement p;
    int rc = halo_replan_placement(r->rp, &p, err);
    if (rc != HALO_OK)
        return rc;
    halo_placement_copy(&r->placement, &p);
    halo_placement_free(&p);
    rc = halo_node_set_placement(r->root, &r->placement, err);
    int alive = 0;
    for (int d = 1; d < r->n_devices; d++) {
        r->w[d].in_placement = halo_replan_count(r->rp, 0, d) + halo_replan_count(r->rp, 1, d) > 0;
        alive += r->w[d].joined;
    }
    r->stats.alive = alive;
    return rc;
}

static void log_event(halo_remote *r, int recompute) {
    const halo_replan_event *e = halo_replan_event_at(r->rp, halo_replan_count_events(r->rp) - 1);
    if (e)
        halo_net_log(r->cfg.log_fn, r->cfg.log_ctx, "re-plan at token %d: %s; split %s -> %s%s",
                     e->token, e->reason, e->old_split, e->new_split,
                     recompute ? "; recomputing the sequence so far" : "");
}

static int sched_rebuild(halo_remote *r, halo_err *err) {
    sched_members(r);
    if (!halo_replan_count_events(r->rp) && !r->stats.lost && !r->stats.rejoined)
        sched_ping(r); /* the first plan */
    int before = halo_replan_count_events(r->rp);
    char reason[64];
    (void)snprintf(reason, sizeof reason, "membership changed at position %d", r->cur_pos);
    int rc =
        halo_replan_plan(r->rp, r->tokens_started > 0 ? r->tokens_started - 1 : 0, reason, err);
    if (rc == HALO_OK)
        rc = sched_apply(r, err);
    if (rc == HALO_OK) {
        char split[192];
        halo_replan_split(r->rp, split, sizeof split);
        if (halo_replan_count_events(r->rp) > before)
            log_event(r, r->cur_pos > 0);
        else if (!before && !r->stats.lost)
            halo_net_log(r->cfg.log_fn, r->cfg.log_ctx, "scheduled split %s", split);
        r->membership_changed = 0;
    }
    return rc;
}

/* The penalty of a failed exchange: the deadline the root would wait. */
static uint64_t sched_penalty(halo_remote *r) {
    const halo_sync_config *c = &r->cfg.sync;
    if (c->policy == HALO_SYNC_POLICY_STRICT)
        return 200000000; /* a retransmission timeout */
    if (!c->adaptive)
        return c->deadline_ns;
    uint64_t worst = 0;
    for (int d = 1; d < r->n_devices; d++) {
        if (!r->w[d].joined)
            continue;
        halo_node_link l;
        halo_node_get_link(r->root, d, &l);
        for (int b = 0; b < 2; b++)
            if (l.srtt_ns[b] && l.srtt_ns[b] + 4 * l.rttvar_ns[b] > worst)
                worst = l.srtt_ns[b] + 4 * l.rttvar_ns[b];
    }
    if (!worst)
        worst = c->deadline_ns;
    if (worst < c->deadline_min_ns)
        worst = c->deadline_min_ns;
    if (c->deadline_max_ns && worst > c->deadline_max_ns)
        worst = c->deadline_max_ns;
    return worst;
}

/* The re-plan rule at the boundary before position `pos` (the tokens_started-th token). */
static int sched_boundary(halo_remote *r, int pos, int *recompute, halo_err *err) {
    sched_members(r);
    halo_replan_set_penalty(r->rp, sched_penalty(r));
    int changed = 0;
    int rc = halo_replan_check(r->rp, r->tokens_started - 1, &changed, err);
    if (rc != HALO_OK || !changed)
        return rc;
    rc = sched_apply(r, err);
    if (rc != HALO_OK)
        return rc;
    const halo_replan_event *e = halo_replan_event_at(r->rp, halo_replan_count_events(r->rp) - 1);
    if (e && e->attn_moved && pos > 0)
        *recompute = 1; /* the sequence so far, for the moved groups' KV caches */
    log_event(r, *recompute);
    return HALO_OK;
}
