/*
 * Per-session keys (net/session.h).
 */
#include "net/session.h"

#include <sodium.h>
#include <string.h>

_Static_assert(crypto_kx_PUBLICKEYBYTES == HALO_NET_KX_PUBLIC_BYTES, "crypto_kx public key");
_Static_assert(crypto_kx_SECRETKEYBYTES == HALO_NET_KX_SECRET_BYTES, "crypto_kx secret key");
_Static_assert(crypto_kx_SESSIONKEYBYTES == HALO_NET_SESSION_KEY_BYTES, "crypto_kx session key");

int halo_net_kx_new(halo_net_kx *kx, halo_err *err) {
    if (sodium_init() < 0)
        return HALO_FAIL(err, HALO_ERR_IO, "net: libsodium failed to initialise");
    (void)crypto_kx_keypair(kx->pk, kx->sk);
    return HALO_OK;
}

void halo_net_kx_wipe(halo_net_kx *kx) {
    sodium_memzero(kx, sizeof *kx);
}

/* key = BLAKE2b-256(key: the cluster key, message: the exchange's key || label), so a
   session's keys depend on the cluster key as well as on the exchange. */
static void bind_to_cluster(uint8_t key[HALO_NET_SESSION_KEY_BYTES],
                            const uint8_t cluster_key[HALO_NET_KEY_BYTES]) {
    static const char label[] = "halo session v1";
    crypto_generichash_state st;
    (void)crypto_generichash_init(&st, cluster_key, HALO_NET_KEY_BYTES, HALO_NET_SESSION_KEY_BYTES);
    (void)crypto_generichash_update(&st, key, HALO_NET_SESSION_KEY_BYTES);
    (void)crypto_generichash_update(&st, (const unsigned char *)label, sizeof label - 1);
    (void)crypto_generichash_final(&st, key, HALO_NET_SESSION_KEY_BYTES);
    sodium_memzero(&st, sizeof st);
}

int halo_net_session_derive(halo_net_session *out, const halo_net_kx *ours,
                            const uint8_t theirs[HALO_NET_KX_PUBLIC_BYTES], int is_root,
                            const uint8_t cluster_key[HALO_NET_KEY_BYTES], int encrypt,
                            halo_err *err) {
    int rc = is_root ? crypto_kx_client_session_keys(out->rx, out->tx, ours->pk, ours->sk, theirs)
                     : crypto_kx_server_session_keys(out->rx, out->tx, ours->pk, ours->sk, theirs);
    if (rc != 0) {
        sodium_memzero(out, sizeof *out);
        return HALO_FAIL(err, HALO_ERR_ARG, "net: the peer's session public key is unusable");
    }
    bind_to_cluster(out->rx, cluster_key);
    bind_to_cluster(out->tx, cluster_key);
    out->encrypt = encrypt != 0;
    return HALO_OK;
}
