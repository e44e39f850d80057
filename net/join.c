/*
 * JOIN and JACK encodings (net/join.h).
 */
#include "net/join.h"

#include "core/bytes.h"
#include "net/ctlmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The magics, as bytes (not strings: no terminating NUL travels). */
static const unsigned char join_magic[4] = {'J', 'O', 'I', 'N'};
static const unsigned char jack_magic[4] = {'J', 'A', 'C', 'K'};

void halo_net_join_encode(const halo_net_join *j, unsigned char *p) {
    halo_net_ctlmsg_begin(p, HALO_NET_JOIN_BYTES, join_magic, HALO_NET_JOIN_VERSION);
    halo_put_u16(p + 6, (uint16_t)j->node_idx);
    halo_put_u16(p + 8, (uint16_t)j->n_devices);
    halo_put_u16(p + 10, (uint16_t)j->encoding);
    halo_put_u32(p + 12, (uint32_t)j->ffn_group_size);
    halo_put_u64(p + 16, j->model_hash);
    halo_put_u64(p + 24, j->wall_ns);
    halo_put_u64(p + 32, j->session);
    halo_put_u64(p + 40, (uint64_t)(j->loss_rate * 1e9));
    halo_put_u64(p + 48, j->delay_ns);
    halo_put_u64(p + 56, j->loss_seed);
    memcpy(p + 64, j->kx_pk, sizeof j->kx_pk);
    halo_put_u32(p + 96, j->flags);
}

int halo_net_join_decode(halo_net_join *j, const void *msg, size_t len) {
    const unsigned char *p = msg;
    if (len != HALO_NET_JOIN_BYTES || !halo_net_ctlmsg_check(p, join_magic, HALO_NET_JOIN_VERSION))
        return 0;
    j->node_idx = halo_get_u16(p + 6);
    j->n_devices = halo_get_u16(p + 8);
    j->encoding = halo_get_u16(p + 10);
    j->ffn_group_size = (int)halo_get_u32(p + 12);
    j->model_hash = halo_get_u64(p + 16);
    j->wall_ns = halo_get_u64(p + 24);
    j->session = halo_get_u64(p + 32);
    uint64_t loss = halo_get_u64(p + 40);
    j->loss_rate = loss < 1000000000ull ? (double)loss / 1e9 : 0.0;
    j->delay_ns = halo_get_u64(p + 48);
    j->loss_seed = halo_get_u64(p + 56);
    memcpy(j->kx_pk, p + 64, sizeof j->kx_pk);
    j->flags = halo_get_u32(p + 96);
    return 1;
}

void halo_net_jack_encode(const halo_net_jack *a, unsigned char *p) {
    memcpy(p, jack_magic, sizeof jack_magic);
    halo_put_u16(p + 4, (uint16_t)a->status);
    halo_put_u16(p + 6, (uint16_t)a->node_idx);
    halo_put_u64(p + 8, a->model_hash);
    halo_put_u64(p + 16, a->session);
    memcpy(p + 24, a->kx_pk, sizeof a->kx_pk);
}

int halo_net_jack_decode(halo_net_jack *a, const void *msg, size_t len) {
    const unsigned char *p = msg;
    if (len != HALO_NET_JACK_BYTES || memcmp(p, jack_magic, sizeof jack_magic) != 0)
        return 0;
    a->status = halo_get_u16(p + 4);
    a->node_idx = halo_get_u16(p + 6);
    a->model_hash = halo_get_u64(p + 8);
    a->session = halo_get_u64(p + 16);
    memcpy(a->kx_pk, p + 24, sizeof a->kx_pk);
    return 1;
}

void halo_net_log(halo_net_log_fn fn, void *ctx, const char *fmt, ...) {
    if (!fn)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fn(ctx, line);
}
