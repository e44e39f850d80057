/*
 * A cluster over real sockets: the root's side (halo_remote) and the worker daemon
 * (halo_worker_run). Both sit on the socket transport of net/net.h; the core's node state
 * machine does the inference on each side, unchanged.
 *
 * Join: the root sends every worker a JOIN control message (its node index, the cluster's
 * size, FFN group size, payload encoding, the root's model hash, a session number, the root's
 * wall clock, and the injected loss the worker should apply to what it sends). The worker
 * checks the model hash against its own copy of the model, builds its node and answers
 * JACK (accepted, or refused with its own hash). A worker holding another cluster key cannot
 * verify the JOIN and answers with an unauthenticated refusal, which the root reports as a
 * key mismatch.
 *
 * Fault tolerance: the root pings every worker every heartbeat_ns (the transport answers
 * PINGs itself); a worker that has not answered for dead_after_ns is lost. The token in
 * flight is abandoned, the placement is rebuilt over the remaining devices (same rule as the
 * initial one: shares proportional to the weights, in device order) and the sequence so far
 * is recomputed on the new placement (so moved attention groups get their KV history), then
 * the token runs again. A lost worker is sent JOIN again every rejoin_ns; once it accepts,
 * it is back in the placement from the next token, again with a recomputation. A token that
 * makes no progress for stall_ns (a strict sync whose contribution was lost) is reported and
 * recomputed the same way instead of hanging.
 */
#ifndef HALO_NET_REMOTE_H
#define HALO_NET_REMOTE_H

#include "core/node.h"
#include "net/net.h"

#include <signal.h>

/* Where the root and the worker report events (one line, no newline); may be NULL. */
typedef void (*halo_net_log_fn)(void *ctx, const char *line);

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
 * cluster kept failing the token).
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
} halo_remote_stats;

void halo_remote_get_stats(const halo_remote *r, halo_remote_stats *out);

typedef struct halo_worker_config {
    const halo_model *model;           /* borrowed */
    halo_pool *pool;                   /* borrowed, may be NULL */
    int kind;                          /* enum halo_net_kind */
    const char *listen;                /* "host:port" */
    const uint8_t *key;                /* HALO_NET_KEY_BYTES */
    const volatile sig_atomic_t *stop; /* run until *stop is nonzero (e.g. set by SIGTERM) */
    halo_net_log_fn log_fn;
    void *log_ctx;
} halo_worker_config;

/*
 * The worker daemon: listens, joins roots, computes the groups it is asked for, until
 * *stop. Nothing a peer sends stops it. Errors: those of halo_net_new (cannot listen),
 * HALO_ERR_NOMEM.
 */
int halo_worker_run(const halo_worker_config *cfg, halo_err *err);

#endif /* HALO_NET_REMOTE_H */
