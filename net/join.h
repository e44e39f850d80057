/*
 * What the root (net/root.h) and the worker daemon (net/worker.h) say to each other beside
 * the core's wire messages: the JOIN a root sends to make a worker node `node_idx` of its
 * cluster, and the worker's JACK (accepted, or refused and why). Both travel as CONTROL
 * frames of the socket transport, so they are authenticated under the cluster key; they
 * also carry the two halves of the session key exchange (net/session.h). These are their
 * fixed-size, little-endian encodings (magic, version, fields), and the event-log callback
 * both sides report through.
 *
 * Only encoding: whether a JOIN is acceptable (model hash, clock skew, settings) is the
 * worker's decision, what a JACK means for the placement is the root's.
 */
#ifndef HALO_NET_JOIN_H
#define HALO_NET_JOIN_H

#include <stddef.h>
#include <stdint.h>

#define HALO_NET_JOIN_BYTES   104
#define HALO_NET_JACK_BYTES   56
#define HALO_NET_JOIN_VERSION 2 /* 2: the session key exchange (issue 18) */

#define HALO_NET_JOIN_ENCRYPT 1u /* flags: session payloads encrypted (else authenticated) */
#define HALO_NET_JOIN_MESH    2u /* flags: the mesh collective; a PEERS follows (net/mesh.h) */
#define HALO_NET_JOIN_SPLIT   4u /* flags: star with the classifier split (core/node.h) */
/* flags: parity frames to a peer that lost messages lately (HALO_NET_PARITY_ON_LOSS,
   net/transport.h; issue 15) */
#define HALO_NET_JOIN_PARITY  8u
/* flags: time the speed probe and send it after the JACK (net/probe.h; scheduled placement,
   issue 15) */
#define HALO_NET_JOIN_PROBE   16u

/* A JOIN: the root asks a worker to be node node_idx of a cluster session. */
typedef struct halo_net_join {
    int node_idx;        /* 1..n_devices-1: the node the worker is to be */
    int n_devices;       /* the cluster's size, root included */
    int encoding;        /* enum halo_encoding of the payloads */
    int ffn_group_size;  /* FFN rows per group */
    uint64_t model_hash; /* the root's halo_model_hash */
    uint64_t wall_ns;    /* the root's wall clock when sent (ns since the epoch) */
    uint64_t session;    /* the root's session number; echoed in the JACK */
    double loss_rate;    /* injected loss the worker applies to what it sends, [0, 1);
                            travels in units of 1e-9 */
    uint64_t delay_ns;   /* injected delay, likewise */
    uint64_t loss_seed;  /* seed of the worker's loss stream */
    uint8_t kx_pk[32];   /* the root's ephemeral public key of this session (net/session.h) */
    unsigned flags;      /* HALO_NET_JOIN_ENCRYPT, _MESH, _SPLIT, _PARITY, _PROBE */
} halo_net_join;

enum halo_net_jack_status {
    HALO_NET_JACK_OK = 0,
    HALO_NET_JACK_MODEL = 1, /* the worker holds another model */
    HALO_NET_JACK_BAD = 2,   /* the request does not fit the worker's model */
    HALO_NET_JACK_STALE = 3, /* the JOIN's clock is too far from the worker's */
};

/* A JACK: the worker's answer to a JOIN. */
typedef struct halo_net_jack {
    int status;          /* enum halo_net_jack_status */
    int node_idx;        /* the JOIN's node_idx */
    uint64_t model_hash; /* the worker's halo_model_hash */
    uint64_t session;    /* the JOIN's session */
    uint8_t kx_pk[32];   /* the worker's ephemeral public key for this session (status OK) */
} halo_net_jack;

/* Encodes j into p[0..HALO_NET_JOIN_BYTES). */
void halo_net_join_encode(const halo_net_join *j, unsigned char *p);

/* Decodes msg[0..len) into *j. Returns 1 if it is a JOIN of this version, 0 if not (then *j
   is unspecified). */
int halo_net_join_decode(halo_net_join *j, const void *msg, size_t len);

/* Encodes a into p[0..HALO_NET_JACK_BYTES). */
void halo_net_jack_encode(const halo_net_jack *a, unsigned char *p);

/* Decodes msg[0..len) into *a. Returns 1 if it is a JACK, 0 if not. */
int halo_net_jack_decode(halo_net_jack *a, const void *msg, size_t len);

/* Where the root and the worker report events (one line, no newline); may be NULL. */
typedef void (*halo_net_log_fn)(void *ctx, const char *line);

/* Formats one event line (cut at 511 bytes) and passes it to fn; nothing if fn is NULL. */
void halo_net_log(halo_net_log_fn fn, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* HALO_NET_JOIN_H */
