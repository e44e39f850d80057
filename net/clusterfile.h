/*
 * Cluster files: what the root of a socket cluster (`halo generate --cluster FILE`, and
 * eval) reads to reach its workers. YAML, read by core/yaml.h; keys documented in
 * docs/net.md:
 *
 *   key: cluster.key          # key file (64 hex digits), relative to this file
 *   workers: [127.0.0.1:7001, 127.0.0.1:7002]
 *   bind: 0.0.0.0:0           # the root's address (optional)
 *   heartbeat_ms: 100         # optional fault-detection timing
 *   dead_after_ms: 1000
 *   rejoin_ms: 500
 *   stall_ms: 5000
 *   join_timeout_ms: 3000
 *   spin_us: 20               # the root polls this long before it sleeps (0: never)
 *   inject: {loss: 0.02, delay_ms: 0, seed: 1}   # optional seeded loss on worker links
 *   #   inject.speed: [1e7, 1e7, 2.5e6, 1e7]   # flop/s instead of the probes (scheduled)
 *   replan_tokens: 32         # engine.placement scheduled: at most one re-plan per N tokens
 *   replan_band: 0.5          # and only beyond this drift and gain (hysteresis)
 *   encrypt: true             # false: session frames authenticated, not encrypted
 *   warmup: true              # one pass before the first token (first-use costs)
 *   engine:                   # the engine configuration (core/engine.h): the same keys,
 *     baseline: halo          # values and meanings as a scenario's engine: section and
 *     deadline_ms: 10         # the command line's engine flags; delivery picks the
 *     delivery: datagram      # sockets: datagram = UDP, stream = TCP
 *
 * Without `engine: {baseline: ...}` the file starts from the `halo` preset (issue 15: relaxed
 * sync over UDP, importance predictor, adaptive deadline, redundancy; the app makes its
 * speed-balanced split equal, worker speeds being unknown). The engine section is read, not
 * finished:
 * the command line's flags may still override it (halo_engine_args_apply), then the
 * caller finishes it for the cluster's size.
 */
#ifndef HALO_NET_CLUSTERFILE_H
#define HALO_NET_CLUSTERFILE_H

#include "core/engine.h"
#include "core/status.h"

#include <stdint.h>

typedef struct halo_clusterfile {
    char *path;     /* as given */
    int n_workers;  /* >= 1 */
    char **workers; /* (n_workers) "host:port" */
    char *key_path; /* resolved against the file's directory */
    char *bind;     /* or NULL */
    double heartbeat_ms, dead_after_ms, rejoin_ms, stall_ms, join_timeout_ms; /* 0 = default */
    double spin_us;            /* the root's spin before it blocks (net/transport.h, spin_ns);
                                  HALO_CLUSTER_SPIN_US unless the file sets it */
    double loss, delay_ms;     /* injected on worker links */
    uint64_t seed;             /* of the injected loss */
    double *speed;             /* inject.speed: (n_workers + 1) flop/s, or NULL */
    int replan_tokens;         /* 0 = default */
    double replan_band;        /* 0 = default */
    int auth_only;             /* encrypt: false (issue 18) */
    int no_warmup;             /* warmup: false (net/root.h, halo_remote_config.warmup) */
    halo_engine_config engine; /* the engine: section over the halo preset, not finished */
    /* where the engine section stands, for halo_clusterfile_finish's messages */
    struct halo_yaml_doc *doc;
} halo_clusterfile;

/* spin_us when the file does not set it: the root spins 20 us before it blocks. On the
   bundled model (root + 3 workers on 2 cores, loopback) that took a token of strict sync
   from 0.81 to 0.65 ms; on the TinyLlama-shaped q4_0 model it made no difference that the
   runs could show (docs/net.md, "The root spins before it sleeps"). */
#define HALO_CLUSTER_SPIN_US 20.0

/* Errors: HALO_ERR_IO (cannot read), HALO_ERR_FORMAT (names the file, line and key). */
int halo_clusterfile_load(halo_clusterfile *cf, const char *path, halo_err *err);

/*
 * Finishes the engine configuration for the cluster (root + workers) after any overrides;
 * errors point at the file's key (or name the key when the override set it).
 * Errors: HALO_ERR_FORMAT.
 */
int halo_clusterfile_finish(halo_clusterfile *cf, int has_weights, halo_err *err);

/* Frees; safe on a zeroed struct. */
void halo_clusterfile_free(halo_clusterfile *cf);

#endif /* HALO_NET_CLUSTERFILE_H */
