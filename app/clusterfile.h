/*
 * Cluster files: what `halo generate --cluster FILE` (and eval) read to reach workers over
 * real sockets. YAML (libyaml), keys documented in docs/net.md:
 *
 *   transport: udp            # udp (relaxed, HALO) or tcp (the strict baseline)
 *   sync: relaxed             # strict | relaxed (default: relaxed over udp, strict over tcp)
 *   deadline_ms: 10           # relaxed deadline after a broadcast
 *   key: cluster.key          # key file (64 hex digits), relative to this file
 *   bind: 0.0.0.0:0           # the root's address (optional)
 *   workers: [127.0.0.1:7001, 127.0.0.1:7002]
 *   weights: [1, 1, 1]        # optional shares of root and workers
 *   heartbeat_ms: 100         # optional fault-detection timing
 *   dead_after_ms: 1000
 *   rejoin_ms: 500
 *   stall_ms: 5000
 *   join_timeout_ms: 3000
 *   inject: {loss: 0.02, delay_ms: 0, seed: 1}   # optional seeded loss on worker links
 *   importance: predictor     # HALO's importance-aware relaxed sync: none (default),
 *                             # predictor or oracle
 *   tau: 0.9                  # fraction of the importance mass that is critical
 *   predictor: FILE           # default: the model file with .pred for .bin
 */
#ifndef HALO_APP_CLUSTERFILE_H
#define HALO_APP_CLUSTERFILE_H

#include "core/status.h"

#include <stdint.h>

typedef struct halo_clusterfile {
    int kind;               /* enum halo_net_kind */
    int policy, has_policy; /* enum halo_sync_policy, given in the file */
    double deadline_ms;
    int has_deadline;
    int n_workers;
    char **workers;  /* (n_workers) "host:port" */
    char *key_path;  /* resolved against the file's directory */
    char *bind;      /* or NULL */
    double *weights; /* (n_workers + 1) or NULL */
    double heartbeat_ms, dead_after_ms, rejoin_ms, stall_ms, join_timeout_ms; /* 0 = default */
    double loss, delay_ms;
    uint64_t seed;
    int importance;  /* enum halo_scoring, or -1 (none) */
    double tau;      /* default 0.9 */
    char *predictor; /* resolved against the file's directory, or NULL */
} halo_clusterfile;

/* Errors: HALO_ERR_IO (cannot read), HALO_ERR_FORMAT (names the file, key and line). */
int halo_clusterfile_load(halo_clusterfile *cf, const char *path, halo_err *err);

/* Frees; safe on a zeroed struct. */
void halo_clusterfile_free(halo_clusterfile *cf);

#endif /* HALO_APP_CLUSTERFILE_H */
