/*
 * The root's side of a cluster over real sockets (halo_remote): it makes the socket
 * transport (net/transport.h) and the root node, joins every worker daemon (net/worker.h),
 * runs tokens through the cluster and keeps it going while workers come and go. The core's
 * node state machine does the inference, unchanged.
 *
 * Join: the root sends every worker a JOIN control message (net/join.h: its node index, the
 * cluster's size, FFN group size, payload encoding, the root's model hash, a session number,
 * the root's wall clock, and the injected loss the worker should apply to what it sends).
 * The worker answers JACK (accepted, or refused with its own hash). A worker holding another
 * cluster key cannot verify the JOIN and answers with an unauthenticated refusal, which the
 * root reports as a key mismatch. JOIN and JACK carry the two public halves of a per-session
 * key exchange (net/session.h): once a worker has accepted, everything but JOIN/JACK between
 * it and the root is sealed with that session's keys (encrypted unless auth_only).
 *
 * Collectives (issue 15): the star (the root gathers every block's partial sums), with or
 * without the classifier split over the workers (split_classifier, core/node.h), or the mesh
 * (collective: every node sends its partial sums to every peer; strict sync only): after
 * the join the root sends every worker the peer list (net/mesh.h) and waits for all to take
 * it before the first token.
 *
 * Fault tolerance: the root pings every worker every heartbeat_ns (the transport answers
 * PINGs itself); a worker that has not answered for dead_after_ns is lost. The token in
 * flight is abandoned, the placement is rebuilt over the remaining devices (same rule as the
 * initial one: shares proportional to the weights, in device order) and the sequence so far
 * is recomputed on the new placement (so moved attention groups get their KV history), then
 * the token runs again. A lost worker is sent JOIN again every rejoin_ns; once it accepts,
 * it is back in the placement from the next token, again with a recomputation. A token that
 * makes no progress for stall_ns (a strict sync whose contribution was lost) is reported and
 * recomputed the same way instead of hanging. A mesh cannot re-place a lost worker's groups
 * (every node holds the fixed placement): halo_remote_forward fails with HALO_ERR_CLOSED
 * naming the worker instead.
 *
 * Scheduled placement (cfg.scheduled, issue 15): every worker times a short probe at join
 * and reports it (net/probe.h; the root probes itself too); the split is the scheduler's
 * over those speeds (net/replan.h) and, at token boundaries, is planned again when the
 * links' measured round trips and losses (from the root node's sync machinery) drift beyond
 * the hysteresis band, at most once per replan_tokens tokens. A re-plan is logged (token,
 * reason, old and new split) and takes effect at the token boundary; when attention groups
 * moved, the sequence so far is recomputed first (their KV caches), as after a lost worker.
 *
 * Not here: reading the cluster file (net/clusterfile.h) and the key file (net/key.h), which
 * the caller does; the worker's side. The root is a single point of failure.
 */
#ifndef HALO_NET_ROOT_H
#define HALO_NET_ROOT_H

#include "core/node.h"
#include "net/join.h"
#include "net/transport.h"

typedef struct halo_remote_config {
    const halo_model *model;    /* borrowed */
    halo_pool *pool;            /* borrowed, may be NULL */
    int kind;                   /* enum halo_net_kind */
    int n_workers;              /* >= 1; worker i is node i + 1 */
    const char *const *workers; /* (n_workers) "host:port" */
    const char *bind;           /* the root's address; NULL = "0.0.0.0:0" */
    const uint8_t *key;         /* HALO_NET_KEY_BYTES */
    int ffn_group_size;         /* 0 = the cluster default */
    int encoding;               /* enum halo_encoding */
    halo_sync_config sync;      /* critical[] has n_workers + 1 entries (copied) */
    const double *weights;      /* (n_workers + 1) shares, or NULL for equal */
    double loss_rate;           /* injected on every link to and from workers */
    uint64_t delay_ns, loss_seed;
    uint64_t join_timeout_ns; /* 0 = 3 s */
    uint64_t heartbeat_ns;    /* 0 = 100 ms */
    uint64_t dead_after_ns;   /* 0 = 1 s */
    uint64_t rejoin_ns;       /* 0 = 500 ms */
    uint64_t stall_ns;        /* 0 = 5 s */
    uint64_t spin_ns;         /* the root's event loop spins this long before it blocks
                                 (halo_net_config.spin_ns); 0 = never */
    int auth_only;            /* 1: session frames authenticated, not encrypted (issue 18) */
    int collective;           /* enum halo_collective: star, or mesh (strict sync; every worker
                                 sends its partials to every node, net/mesh.h; a lost worker
                                 ends the run with HALO_ERR_CLOSED instead of a re-placement) */
    int split_classifier;     /* star: every node computes a slice of the classifier (the JOIN
                                 tells the workers; core/node.h) */
    int parity;               /* UDP: root and workers send a parity frame after every message
                                 of two or more datagrams to a peer whose messages to them were
                                 lost lately (HALO_NET_PARITY_ON_LOSS; engine.parity, issue 15) */
    /* engine.placement scheduled (issue 15, net/replan.h): every node's speed is probed at
       join, links are measured during the run, and the split comes from the scheduler and is
       re-planned when the measurements drift (weights is then ignored) */
    int scheduled;
    int replan_tokens;            /* at most one re-plan per this many tokens; 0 = 32 */
    double replan_band;           /* hysteresis; 0 = 0.5 */
    const double *speed_override; /* (n_workers + 1) flop/s or NULL: used instead of the
                                     probed speeds (tests and what-if runs: a slow device) */
    /* 1: after the join, one warm-up pass through the cluster (core/node.h,
       halo_node_set_warmup: every contribution awaited, then the root's sync state starts
       over), so that each node's first-use costs (pages of the model read in, weight windows
       copied) are paid before the first token and the adaptive deadline does not learn from
       them (issue 15). Its time is start-up time (halo_remote_stats.warmup_ns). */
    int warmup;
    halo_net_log_fn log_fn;
    void *log_ctx;
} halo_remote_config;

typedef struct halo_remote halo_remote;

/*
 * Makes the transport and the root node and joins every worker. Errors: HALO_ERR_ARG,
 * HALO_ERR_IO, HALO_ERR_NOMEM, HALO_ERR_CLOSED (a worker refused: different model or key,
 * or did not answer; the message names it, its address and the reason).
 */
int halo_remote_new(halo_remote **out, const halo_remote_config *cfg, halo_err *err);

/* Frees; NULL is a no-op. */
void halo_remote_free(halo_remote *r);

/*
 * Runs `token` at `pos` through the cluster (recovering from lost workers as above) and
 * returns the root's logits in *logits (valid until the next call). Positions of a sequence
 * must come in order from 0. Errors: HALO_ERR_ARG, HALO_ERR_NOMEM, HALO_ERR_TIMEOUT (the
 * cluster kept failing the token), HALO_ERR_CLOSED (mesh: a worker was lost).
 */
int halo_remote_forward(halo_remote *r, int token, int pos, const float **logits, halo_err *err);

/* The root node and the transport; owned by r. */
halo_node *halo_remote_root(halo_remote *r);
halo_transport *halo_remote_transport(halo_remote *r);

typedef struct halo_remote_stats {
    uint64_t lost;            /* workers declared lost */
    uint64_t rejoined;        /* workers back after a loss */
    uint64_t stalls;          /* tokens given up after stall_ns */
    uint64_t recomputations;  /* sequences recomputed after a placement change */
    uint64_t replayed_tokens; /* tokens run again by those recomputations */
    int alive;                /* workers in the placement now */
    uint64_t replans;         /* scheduled: placements changed by the re-plan rule */
    uint64_t warmup_ns;       /* the warm-up pass (0 without one) */
    int warmup_done;          /* 1 if it finished (0: skipped after a stall or a lost worker) */
} halo_remote_stats;

void halo_remote_get_stats(const halo_remote *r, halo_remote_stats *out);

/* The runtime scheduler (its plan, its re-plan events), or NULL unless cfg.scheduled; owned
   by r. */
const struct halo_replan *halo_remote_replan(const halo_remote *r);

#endif /* HALO_NET_ROOT_H */
