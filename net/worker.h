/*
 * The worker daemon of a socket cluster (`halo worker`): one socket at `listen` that hosts
 * whatever node index a root's JOIN (net/join.h) asks for. It checks the JOIN (the model
 * hash against its own model, the root's clock within 120 s, settings that fit its model),
 * builds the core node for that index and answers JACK; then it computes the groups the
 * root's placement gives it, until told to stop. A later JOIN (a new session, or the same
 * root after a loss) replaces the node. The transport answers the root's PINGs only while a
 * node is hosted, so a restarted worker looks lost to the root until it is joined again.
 *
 * Hardening (issue 18): the JOIN and JACK carry a per-session key exchange (net/session.h)
 * and everything else between root and worker travels under its keys, so a recorded session
 * opens nothing; a JOIN stamped before the worker started is ignored without an answer; TCP
 * connections are admitted under a cap and must authenticate within a timeout
 * (halo_net_config's admission fields); the UDP port is bound exclusively.
 *
 * Under the mesh collective (a JOIN flagged HALO_NET_JOIN_MESH) the node is made when the
 * root's PEERS arrives (net/mesh.h): the peers' addresses and keys, and the placement.
 *
 * A worker whose memory cannot hold its share (memory_bytes) streams its groups' weights from
 * its checkpoint through the loader, and logs what it read, waited for and hid at the end.
 *
 * Not here: the placement and recovery, which are the root's (net/root.h); reading key
 * files (net/key.h); signals (the caller sets *stop).
 */
#ifndef HALO_NET_WORKER_H
#define HALO_NET_WORKER_H

#include "core/model.h"
#include "core/pool.h"
#include "net/join.h"
#include "net/transport.h"

#include <signal.h>

typedef struct halo_worker_config {
    const halo_model *model;           /* borrowed */
    halo_pool *pool;                   /* borrowed, may be NULL */
    int kind;                          /* enum halo_net_kind */
    const char *listen;                /* "host:port" */
    const uint8_t *key;                /* HALO_NET_KEY_BYTES */
    const volatile sig_atomic_t *stop; /* run until *stop is nonzero (e.g. set by SIGTERM) */
    /* 0: the node computes from the mapped model. Otherwise the bytes of group weights this
       worker keeps in memory: it reads the weights of the groups it computes from its own
       checkpoint `model_path` through a neuron-group loader of this capacity (core/loader.h),
       reading the next block ahead while it computes. */
    uint64_t memory_bytes;
    const char *model_path; /* the checkpoint of `model` (memory_bytes > 0) */
    /* TCP admission (halo_net_config): connections held at once (0 = 64) and how long one
       may stay without authenticating (0 = 2 s); nothing a stranger sends can hold more. */
    int max_conns;
    uint64_t preauth_timeout_ns;
    uint64_t spin_ns; /* the event loop spins this long before it blocks
                         (halo_net_config.spin_ns); 0 = never */
    halo_net_log_fn log_fn;
    void *log_ctx;
} halo_worker_config;

/*
 * The worker daemon: listens, joins roots, computes the groups it is asked for, until
 * *stop. Nothing a peer sends stops it. Errors: those of halo_net_new (cannot listen),
 * HALO_ERR_NOMEM.
 */
int halo_worker_run(const halo_worker_config *cfg, halo_err *err);

#endif /* HALO_NET_WORKER_H */
