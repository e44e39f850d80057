/*
 * The mesh collective's PEERS and PACK messages and the root's wait for them (net/mesh.h).
 *
 * PEERS layout (little-endian):
 *   0  4  magic "PEER"        4  2  version        6  2  receiver's node index
 *   8  2  n_devices           10 2  n_layers       12 2  n_attn   14 2  n_ffn
 *   16 8  session
 *   24    n_devices records of 32 (public key) + 128 (address, NUL-padded) bytes
 *   then  n_layers * n_attn u16 (device of each attention group), n_layers * n_ffn u16 (FFN)
 * PACK: "PACK", version u16, node u16, session u64, status u16, 6 bytes zero.
 */
#define _POSIX_C_SOURCE 200809L

#include "net/mesh.h"

#include "core/bytes.h"
#include "net/ctlmsg.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char peers_magic[4] = {'P', 'E', 'E', 'R'};
static const unsigned char pack_magic[4] = {'P', 'A', 'C', 'K'};

#define PEERS_HEADER 24
#define PEERS_RECORD (HALO_NET_KX_PUBLIC_BYTES + HALO_NET_PEERS_ADDR_BYTES)

/* ==== Encodings ==== */

size_t halo_net_peers_size(int n_devices, const halo_groups *g) {
    return PEERS_HEADER + (size_t)n_devices * PEERS_RECORD +
           2 * (size_t)g->n_layers * ((size_t)g->n_attn + (size_t)g->n_ffn);
}

void halo_net_peers_encode(unsigned char *p, uint64_t session, int node_idx, int n_devices,
                           const char *const *addrs, const uint8_t (*pks)[HALO_NET_KX_PUBLIC_BYTES],
                           const halo_placement *pl) {
    const halo_groups *g = &pl->groups;
    halo_net_ctlmsg_begin(p, halo_net_peers_size(n_devices, g), peers_magic,
                          HALO_NET_PEERS_VERSION);
    halo_put_u16(p + 6, (uint16_t)node_idx);
    halo_put_u16(p + 8, (uint16_t)n_devices);
    halo_put_u16(p + 10, (uint16_t)g->n_layers);
    halo_put_u16(p + 12, (uint16_t)g->n_attn);
    halo_put_u16(p + 14, (uint16_t)g->n_ffn);
    halo_put_u64(p + 16, session);
    unsigned char *r = p + PEERS_HEADER;
    for (int d = 1; d < n_devices; d++) {
        unsigned char *rec = r + (size_t)d * PEERS_RECORD;
        memcpy(rec, pks[d], HALO_NET_KX_PUBLIC_BYTES);
        size_t len = strlen(addrs[d]);
        if (len >= HALO_NET_PEERS_ADDR_BYTES)
            len = HALO_NET_PEERS_ADDR_BYTES - 1;
        memcpy(rec + HALO_NET_KX_PUBLIC_BYTES, addrs[d], len);
    }
    unsigned char *q = r + (size_t)n_devices * PEERS_RECORD;
    size_t na = (size_t)g->n_layers * (size_t)g->n_attn,
           nf = (size_t)g->n_layers * (size_t)g->n_ffn;
    for (size_t i = 0; i < na; i++, q += 2)
        halo_put_u16(q, pl->attn[i]);
    for (size_t i = 0; i < nf; i++, q += 2)
        halo_put_u16(q, pl->ffn[i]);
}

int halo_net_peers_decode(halo_net_peers *v, const void *msg, size_t len) {
    const unsigned char *p = msg;
    if (len < PEERS_HEADER || !halo_net_ctlmsg_check(p, peers_magic, HALO_NET_PEERS_VERSION))
        return 0;
    v->node_idx = halo_get_u16(p + 6);
    v->n_devices = halo_get_u16(p + 8);
    v->n_layers = halo_get_u16(p + 10);
    v->n_attn = halo_get_u16(p + 12);
    v->n_ffn = halo_get_u16(p + 14);
    v->session = halo_get_u64(p + 16);
    if (v->n_devices < 2 || v->n_devices > HALO_MAX_DEVICES || v->node_idx < 1 ||
        v->node_idx >= v->n_devices)
        return 0;
    halo_groups g = {.n_layers = v->n_layers, .n_attn = v->n_attn, .n_ffn = v->n_ffn};
    if (len != halo_net_peers_size(v->n_devices, &g))
        return 0;
    v->records = p + PEERS_HEADER;
    v->attn = v->records + (size_t)v->n_devices * PEERS_RECORD;
    v->ffn = v->attn + 2 * (size_t)v->n_layers * (size_t)v->n_attn;
    return 1;
}

const uint8_t *halo_net_peers_pk(const halo_net_peers *v, int d) {
    return v->records + (size_t)d * PEERS_RECORD;
}

void halo_net_peers_addr(const halo_net_peers *v, int d, char *buf, size_t cap) {
    const unsigned char *a = v->records + (size_t)d * PEERS_RECORD + HALO_NET_KX_PUBLIC_BYTES;
    size_t len = 0;
    while (len < HALO_NET_PEERS_ADDR_BYTES - 1 && a[len])
        len++;
    if (cap == 0)
        return;
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, a, len);
    buf[len] = '\0';
}

int halo_net_peers_placement(const halo_net_peers *v, halo_placement *p, halo_err *err) {
    const halo_groups *g = &p->groups;
    if (p->n_devices != v->n_devices || g->n_layers != v->n_layers || g->n_attn != v->n_attn ||
        g->n_ffn != v->n_ffn)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "mesh: the root's placement is for %d devices and %d layers of %d/%d "
                         "groups, ours %d devices and %d layers of %d/%d",
                         v->n_devices, v->n_layers, v->n_attn, v->n_ffn, p->n_devices, g->n_layers,
                         g->n_attn, g->n_ffn);
    size_t na = (size_t)g->n_layers * (size_t)g->n_attn,
           nf = (size_t)g->n_layers * (size_t)g->n_ffn;
    for (size_t i = 0; i < na; i++)
        p->attn[i] = halo_get_u16(v->attn + 2 * i);
    for (size_t i = 0; i < nf; i++)
        p->ffn[i] = halo_get_u16(v->ffn + 2 * i);
    return halo_placement_check(p, err);
}

void halo_net_pack_encode(unsigned char *p, uint64_t session, int node_idx, int status) {
    halo_net_ctlmsg_begin(p, HALO_NET_PACK_BYTES, pack_magic, HALO_NET_PEERS_VERSION);
    halo_put_u16(p + 6, (uint16_t)node_idx);
    halo_put_u64(p + 8, session);
    halo_put_u16(p + 16, (uint16_t)status);
}

int halo_net_pack_decode(const void *msg, size_t len, uint64_t *session, int *node_idx,
                         int *status) {
    const unsigned char *p = msg;
    if (len != HALO_NET_PACK_BYTES || !halo_net_ctlmsg_check(p, pack_magic, HALO_NET_PEERS_VERSION))
        return 0;
    *node_idx = halo_get_u16(p + 6);
    *session = halo_get_u64(p + 8);
    *status = halo_get_u16(p + 16);
    return 1;
}

/* ==== Pair keys ==== */

int halo_net_mesh_connect(halo_transport *t, const halo_net_peers *v, int self,
                          const halo_net_kx *ours, const uint8_t cluster_key[HALO_NET_KEY_BYTES],
                          int encrypt, halo_err *err) {
    for (int d = 1; d < v->n_devices; d++) {
        if (d == self)
            continue;
        char addr[HALO_NET_PEERS_ADDR_BYTES];
        halo_net_peers_addr(v, d, addr, sizeof addr);
        halo_net_session s;
        halo_err e = {0};
        /* the lower index is crypto_kx's client: both ends agree without a message */
        int rc = halo_net_session_derive(&s, ours, halo_net_peers_pk(v, d), self < d, cluster_key,
                                         encrypt, &e);
        if (rc == HALO_OK)
            rc = halo_net_set_addr(t, d, addr, &e);
        if (rc == HALO_OK)
            halo_net_set_session(t, d, &s);
        sodium_memzero(&s, sizeof s);
        if (rc != HALO_OK)
            return HALO_FAIL(err, rc, "mesh: peer %d (%s): %s", d, addr, e.msg);
    }
    return HALO_OK;
}

/* ==== The root's wait ==== */

typedef struct setup_wait {
    const halo_net_mesh_setup *s;
    uint8_t *answered; /* (n_devices) 1 ready, 2 refused */
    unsigned char *buf;
    size_t len;
    int timed_out;
    uint64_t resend_id;
} setup_wait;

static void setup_control(void *ctx, int dst, int src, const void *msg, size_t len) {
    setup_wait *w = ctx;
    uint64_t session;
    int node, status;
    if (dst == 0 && src > 0 && src < w->s->n_devices &&
        halo_net_pack_decode(msg, len, &session, &node, &status) && session == w->s->session &&
        node == src) {
        if (!w->answered[src])
            w->answered[src] = status == 0 ? 1 : 2;
        return;
    }
    /* anything else (a late JACK) goes where it would have gone */
    if (w->s->restore_fn)
        w->s->restore_fn(w->s->restore_ctx, dst, src, msg, len);
}

static void send_peers(setup_wait *w, int d) {
    const halo_net_mesh_setup *s = w->s;
    halo_net_peers_encode(w->buf, s->session, d, s->n_devices, s->addrs, s->pks, s->placement);
    (void)halo_net_send_control(s->t, 0, d, w->buf, w->len, NULL);
}

static void setup_resend(void *arg) {
    setup_wait *w = arg;
    for (int d = 1; d < w->s->n_devices; d++)
        if (!w->answered[d])
            send_peers(w, d);
    if (!w->timed_out)
        (void)w->s->t->ops->schedule(w->s->t, 0, 200000000ull, setup_resend, w, &w->resend_id,
                                     NULL);
}

static void setup_timeout(void *arg) {
    ((setup_wait *)arg)->timed_out = 1;
}

static int setup_done(void *arg) {
    setup_wait *w = arg;
    if (w->timed_out)
        return 1;
    for (int d = 1; d < w->s->n_devices; d++)
        if (!w->answered[d])
            return 0;
    return 1;
}

int halo_net_mesh_setup_run(const halo_net_mesh_setup *s, halo_err *err) {
    setup_wait w = {.s = s, .len = halo_net_peers_size(s->n_devices, &s->placement->groups)};
    w.answered = calloc((size_t)s->n_devices, 1);
    w.buf = malloc(w.len);
    if (!w.answered || !w.buf) {
        free(w.answered);
        free(w.buf);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "mesh: out of memory for the peer list");
    }
    halo_transport *t = s->t;
    halo_net_set_control(t, setup_control, &w);
    for (int d = 1; d < s->n_devices; d++)
        send_peers(&w, d);
    uint64_t to_id = 0;
    int rc = t->ops->schedule(t, 0, s->timeout_ns, setup_timeout, &w, &to_id, err);
    if (rc == HALO_OK)
        rc = t->ops->schedule(t, 0, 200000000ull, setup_resend, &w, &w.resend_id, err);
    if (rc == HALO_OK)
        rc = t->ops->run(t, setup_done, &w, err);
    /* both timers point at w, which lives on this stack */
    w.timed_out = 1;
    (void)t->ops->cancel(t, to_id);
    (void)t->ops->cancel(t, w.resend_id);
    halo_net_set_control(t, s->restore_fn, s->restore_ctx);
    for (int d = 1; rc == HALO_OK && d < s->n_devices; d++)
        if (w.answered[d] == 2)
            rc = HALO_FAIL(err, HALO_ERR_CLOSED,
                           "worker %d (%s) could not join the mesh (its peers' keys or "
                           "addresses, or the placement, did not fit)",
                           d, s->addrs[d]);
        else if (!w.answered[d])
            rc = HALO_FAIL(err, HALO_ERR_CLOSED,
                           "worker %d (%s) did not take the mesh's peer list within %.1f s", d,
                           s->addrs[d], (double)s->timeout_ns / 1e9);
    free(w.answered);
    free(w.buf);
    return rc;
}
