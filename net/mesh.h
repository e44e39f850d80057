/*
 * The mesh collective over real sockets (issue 15): what a root and its workers add to the
 * join so that every node can send its partial sums to every other (core/node.h's
 * HALO_COLLECTIVE_MESH, distributed-llama's all-gather).
 *
 * After every worker has accepted a JOIN flagged HALO_NET_JOIN_MESH (net/join.h), the root
 * sends each worker a PEERS control message: the session, the receiver's node index, and
 * for every device its address ("host:port" as the cluster file names it) and the
 * ephemeral public key it sent in its JACK, then the fixed placement of the groups (every
 * node of a mesh holds it). The worker answers PACK. Both travel as CONTROL frames,
 * authenticated under the cluster key like JOIN and JACK; nothing in them is secret.
 *
 * Keys between workers: each pair of workers derives its session keys from the two
 * ephemeral key pairs of this session (X25519 through crypto_kx, the lower node index
 * taking the client's side, bound to the cluster key as net/session.h does for the root):
 * no extra round trip, no key material on the wire, and the pair keys are as fresh as the
 * session (a worker's pair keys change at every JOIN). The public keys are authenticated
 * by the cluster key, so the pair exchange resists the same attackers as the root's (and,
 * like it, not an active attacker holding the cluster key).
 *
 * Only encodings and the root's wait for the PACKs; the worker's side is in net/worker.c.
 */
#ifndef HALO_NET_MESH_H
#define HALO_NET_MESH_H

#include "core/plan.h"
#include "core/status.h"
#include "net/join.h"
#include "net/session.h"
#include "net/transport.h"

#include <stddef.h>
#include <stdint.h>

#define HALO_NET_PEERS_VERSION    1
#define HALO_NET_PEERS_ADDR_BYTES 128 /* an address field, NUL-padded */
#define HALO_NET_PACK_BYTES       24

/* The bytes of a PEERS message for n_devices devices and a placement of that geometry. */
size_t halo_net_peers_size(int n_devices, const halo_groups *g);

/*
 * Encodes PEERS for node `node_idx` into p[0..halo_net_peers_size): `addrs` and `pks`
 * have n_devices entries (entry 0, the root, is sent as zeros: workers never dial it, the
 * root is reached at the address its frames come from); the placement `pl` is copied.
 */
void halo_net_peers_encode(unsigned char *p, uint64_t session, int node_idx, int n_devices,
                           const char *const *addrs, const uint8_t (*pks)[HALO_NET_KX_PUBLIC_BYTES],
                           const halo_placement *pl);

/* A decoded PEERS: views into the message (valid while the message is). */
typedef struct halo_net_peers {
    uint64_t session;
    int node_idx, n_devices;
    int n_layers, n_attn, n_ffn;
    const unsigned char *records; /* (n_devices) records: pk, address */
    const unsigned char *attn;    /* (n_layers, n_attn) u16 little-endian */
    const unsigned char *ffn;     /* (n_layers, n_ffn) u16 little-endian */
} halo_net_peers;

/* Decodes msg[0..len). Returns 1 if it is a well-formed PEERS of this version, else 0. */
int halo_net_peers_decode(halo_net_peers *v, const void *msg, size_t len);

/* Device d's public key (32 bytes) and its address (NUL-terminated, copied into buf). */
const uint8_t *halo_net_peers_pk(const halo_net_peers *v, int d);
void halo_net_peers_addr(const halo_net_peers *v, int d, char *buf, size_t cap);

/*
 * The placement of a decoded PEERS into p, which must be initialised for v's geometry (the
 * receiver's groups and n_devices). Errors: HALO_ERR_ARG when the geometry differs or an
 * entry names no device.
 */
int halo_net_peers_placement(const halo_net_peers *v, halo_placement *p, halo_err *err);

/* PACK: the worker's answer to PEERS. status 0 = ready; otherwise it could not take them. */
void halo_net_pack_encode(unsigned char *p, uint64_t session, int node_idx, int status);
int halo_net_pack_decode(const void *msg, size_t len, uint64_t *session, int *node_idx,
                         int *status);

/*
 * Derives and installs on transport t the session keys between local node `self` and
 * every other worker of v (net/session.h, with `ours` the key pair of this session) and
 * sets their addresses. Errors: HALO_ERR_ARG (an unusable public key or address; the
 * message names the device).
 */
int halo_net_mesh_connect(halo_transport *t, const halo_net_peers *v, int self,
                          const halo_net_kx *ours, const uint8_t cluster_key[HALO_NET_KEY_BYTES],
                          int encrypt, halo_err *err);

/* The root's side: what it tells the workers and how long it waits. */
typedef struct halo_net_mesh_setup {
    halo_transport *t; /* the root's transport (node 0); its control callback is
                          borrowed for the wait and restored afterwards */
    halo_net_control_fn restore_fn;
    void *restore_ctx;
    uint64_t session;
    int n_devices;
    const char *const *addrs;                       /* (n_devices) entry 0 unused */
    const uint8_t (*pks)[HALO_NET_KX_PUBLIC_BYTES]; /* (n_devices) entry 0 unused */
    const halo_placement *placement;
    uint64_t timeout_ns; /* give up after this long */
} halo_net_mesh_setup;

/*
 * Sends PEERS to every worker (again every 200 ms until it answers) and runs the transport
 * until every worker has answered PACK. Errors: HALO_ERR_CLOSED (a worker did not answer in
 * time, or refused: the message names it and its address), HALO_ERR_NOMEM, the transport's.
 */
int halo_net_mesh_setup_run(const halo_net_mesh_setup *s, halo_err *err);

#endif /* HALO_NET_MESH_H */
