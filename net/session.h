/*
 * Per-session keys of a socket cluster (issue 18): an ephemeral key exchange (libsodium's
 * crypto_kx, X25519) whose public halves travel in the JOIN and its JACK (net/join.h),
 * which the cluster key authenticates. Each side derives two keys, one per direction,
 * from the exchange and the cluster key (BLAKE2b keyed by the cluster key), and the socket
 * transport (net/transport.h) then seals every DATA, PING and PONG frame between the root
 * and that worker with an AEAD under them (net/frame.h): ChaCha20-Poly1305 (IETF), the
 * payload encrypted, or only authenticated when the cluster asks for that.
 *
 * What it buys: a worker takes part in a session only with keys it made itself, so frames
 * recorded from an earlier session (its own, before a restart, or another worker's) fail
 * authentication and are dropped before anything is computed; and activations no longer
 * travel in clear. What it does not: the JOIN and JACK themselves are still sealed under the
 * cluster key only (a replayed JOIN still gets its JACK); any node holding the cluster key
 * can still start a session as the root; there is no forward secrecy against a stolen
 * cluster key for an attacker who was active during the exchange.
 *
 * Pure functions over buffers; libsodium must be initialised (halo_net_new does).
 */
#ifndef HALO_NET_SESSION_H
#define HALO_NET_SESSION_H

#include "core/status.h"
#include "net/key.h"

#include <stdint.h>

#define HALO_NET_KX_PUBLIC_BYTES   32
#define HALO_NET_KX_SECRET_BYTES   32
#define HALO_NET_SESSION_KEY_BYTES 32

/* One side's ephemeral key pair; wipe it when the session ends (halo_net_kx_wipe). */
typedef struct halo_net_kx {
    uint8_t pk[HALO_NET_KX_PUBLIC_BYTES];
    uint8_t sk[HALO_NET_KX_SECRET_BYTES];
} halo_net_kx;

/* The keys of one session as one side holds them. */
typedef struct halo_net_session {
    uint8_t rx[HALO_NET_SESSION_KEY_BYTES]; /* opens what the other side sends */
    uint8_t tx[HALO_NET_SESSION_KEY_BYTES]; /* seals what this side sends */
    int encrypt; /* 1: payloads encrypted and authenticated; 0: authenticated only */
} halo_net_session;

/* A fresh random key pair. Errors: HALO_ERR_IO (libsodium cannot start). */
int halo_net_kx_new(halo_net_kx *kx, halo_err *err);

/* Overwrites the key pair with zeros. */
void halo_net_kx_wipe(halo_net_kx *kx);

/*
 * The session keys of the root (is_root 1: crypto_kx's client) or of a worker (0: server),
 * from its own pair `ours`, the other side's public key `theirs` and the cluster key; the
 * root's tx is the worker's rx and the other way round. Errors: HALO_ERR_ARG (`theirs` is
 * not a usable public key; *out is zeroed).
 */
int halo_net_session_derive(halo_net_session *out, const halo_net_kx *ours,
                            const uint8_t theirs[HALO_NET_KX_PUBLIC_BYTES], int is_root,
                            const uint8_t cluster_key[HALO_NET_KEY_BYTES], int encrypt,
                            halo_err *err);

#endif /* HALO_NET_SESSION_H */
