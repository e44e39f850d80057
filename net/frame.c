/*
 * Frames, the replay window and reassembly (net/frame.h); docs/net.md has the layout.
 */
#include "net/frame.h"

#include "core/bytes.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define VERSION       1
#define OFF_VERSION   4
#define OFF_TYPE      5
#define OFF_SRC       6
#define OFF_DST       8
#define OFF_FRAG_IDX  10
#define OFF_FRAG_CNT  12
#define OFF_PAYLOAD_N 14
#define OFF_SEQ       16
#define OFF_MSG_BYTES 24
#define OFF_OFFSET    28

#define TYPE_MASK 0x0f

static const unsigned char magic[4] = {'H', 'N', 'E', 'T'}; /* bytes, no NUL */

_Static_assert(OFF_OFFSET + 4 == HALO_NET_HEADER_BYTES, "the header is 32 bytes");
_Static_assert(crypto_auth_BYTES == HALO_NET_TAG_BYTES, "the tag is crypto_auth's");
_Static_assert(crypto_auth_KEYBYTES == HALO_NET_KEY_BYTES, "the key is crypto_auth's");
_Static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == HALO_NET_SESSION_TAG_BYTES,
               "a session frame's tag is the AEAD's");
_Static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == HALO_NET_SESSION_KEY_BYTES,
               "a session key is the AEAD's");
_Static_assert(HALO_NET_SESSION_OVERHEAD_BYTES <= HALO_NET_OVERHEAD_BYTES,
               "a session frame is never longer than a cluster-key frame of the same payload");

/* ==== Frames ==== */

/* Writes the header of h with type byte `type`; 0 if a field does not fit its width or the
   frame (overhead `over`) does not fit cap. */
static int put_header(unsigned char *f, const halo_net_frame *h, unsigned type, size_t over,
                      size_t cap) {
    size_t len = h->payload_bytes;
    if (len > HALO_NET_MAX_PAYLOAD_BYTES || h->frag_idx > 65535 || h->frag_count > 65535 ||
        cap < over + len)
        return 0;
    memcpy(f, magic, sizeof magic);
    f[OFF_VERSION] = VERSION;
    f[OFF_TYPE] = (unsigned char)type;
    halo_put_u16(f + OFF_SRC, (uint16_t)h->src);
    halo_put_u16(f + OFF_DST, (uint16_t)h->dst);
    halo_put_u16(f + OFF_FRAG_IDX, (uint16_t)h->frag_idx);
    halo_put_u16(f + OFF_FRAG_CNT, (uint16_t)h->frag_count);
    halo_put_u16(f + OFF_PAYLOAD_N, (uint16_t)len);
    halo_put_u64(f + OFF_SEQ, h->seq);
    halo_put_u32(f + OFF_MSG_BYTES, h->msg_bytes);
    halo_put_u32(f + OFF_OFFSET, h->offset_bytes);
    return 1;
}

size_t halo_net_frame_seal(const uint8_t *key, const halo_net_frame *h, const void *payload,
                           void *out, size_t cap) {
    unsigned char *f = out;
    size_t len = h->payload_bytes;
    unsigned type = ((unsigned)h->type & TYPE_MASK) | (h->parity ? HALO_NET_FRAME_PARITY : 0u) |
                    (h->lossy ? HALO_NET_FRAME_LOSSY : 0u);
    if (!put_header(f, h, type, HALO_NET_OVERHEAD_BYTES, cap))
        return 0;
    if (len)
        memcpy(f + HALO_NET_HEADER_BYTES, payload, len);
    crypto_auth(f + HALO_NET_HEADER_BYTES + len, f, HALO_NET_HEADER_BYTES + len, key);
    return HALO_NET_OVERHEAD_BYTES + len;
}

/* The AEAD's nonce: the frame's sequence number. A session key seals one direction of one
   pair, and a sender's sequence numbers only grow (they start at its wall clock), so no
   nonce repeats under a key. */
static void nonce_of(unsigned char nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES],
                     uint64_t seq) {
    memset(nonce, 0, crypto_aead_chacha20poly1305_ietf_NPUBBYTES);
    halo_put_u64(nonce, seq);
}

size_t halo_net_frame_seal_session(const uint8_t *key, int encrypt, const halo_net_frame *h,
                                   const void *payload, void *out, size_t cap) {
    unsigned char *f = out;
    size_t len = h->payload_bytes;
    unsigned type = ((unsigned)h->type & TYPE_MASK) | HALO_NET_FRAME_SESSION |
                    (encrypt ? 0u : (unsigned)HALO_NET_FRAME_CLEAR) |
                    (h->parity ? (unsigned)HALO_NET_FRAME_PARITY : 0u) |
                    (h->lossy ? (unsigned)HALO_NET_FRAME_LOSSY : 0u);
    if (!put_header(f, h, type, HALO_NET_SESSION_OVERHEAD_BYTES, cap))
        return 0;
    unsigned char nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    nonce_of(nonce, h->seq);
    unsigned char *body = f + HALO_NET_HEADER_BYTES;
    if (encrypt) {
        /* the header is the associated data, the payload is encrypted */
        (void)crypto_aead_chacha20poly1305_ietf_encrypt_detached(
            body, body + len, NULL, payload, len, f, HALO_NET_HEADER_BYTES, NULL, nonce, key);
    } else {
        /* header and payload are associated data; nothing is encrypted */
        if (len)
            memcpy(body, payload, len);
        (void)crypto_aead_chacha20poly1305_ietf_encrypt_detached(body + len, body + len, NULL, body,
                                                                 0, f, HALO_NET_HEADER_BYTES + len,
                                                                 NULL, nonce, key);
    }
    return HALO_NET_SESSION_OVERHEAD_BYTES + len;
}

int halo_net_frame_peek_session(const void *buf, size_t len, int *src) {
    const unsigned char *f = buf;
    if (len < HALO_NET_HEADER_BYTES || memcmp(f, magic, sizeof magic) != 0 ||
        !(f[OFF_TYPE] & HALO_NET_FRAME_SESSION))
        return 0;
    *src = halo_get_u16(f + OFF_SRC);
    return 1;
}

/* The checks before the tag: magic, version, the session flag as expected, lengths. */
static int check_outer(const unsigned char *f, size_t len, size_t max_frame_bytes, int session,
                       size_t *flen) {
    size_t over = session ? HALO_NET_SESSION_OVERHEAD_BYTES : HALO_NET_OVERHEAD_BYTES;
    if (len < over || memcmp(f, magic, sizeof magic) != 0 || f[OFF_VERSION] != VERSION ||
        ((f[OFF_TYPE] & HALO_NET_FRAME_SESSION) != 0) != (session != 0))
        return HALO_NET_VERDICT_MALFORMED;
    if (len > HALO_NET_MAX_FRAME_BYTES || len > max_frame_bytes)
        return HALO_NET_VERDICT_OVERSIZED;
    *flen = halo_get_u16(f + OFF_PAYLOAD_N);
    if (*flen + over != len)
        return HALO_NET_VERDICT_MALFORMED;
    return HALO_NET_VERDICT_OK;
}

/* The checks after the tag: the authenticated fields. */
static int check_fields(const unsigned char *f, size_t flen, int n_nodes, halo_net_frame *out) {
    halo_net_frame h = {
        .type = f[OFF_TYPE] & TYPE_MASK,
        .src = halo_get_u16(f + OFF_SRC),
        .dst = halo_get_u16(f + OFF_DST),
        .frag_idx = halo_get_u16(f + OFF_FRAG_IDX),
        .frag_count = halo_get_u16(f + OFF_FRAG_CNT),
        .payload_bytes = flen,
        .seq = halo_get_u64(f + OFF_SEQ),
        .msg_bytes = halo_get_u32(f + OFF_MSG_BYTES),
        .offset_bytes = halo_get_u32(f + OFF_OFFSET),
    };
    int flags = f[OFF_TYPE] & ~TYPE_MASK;
    h.parity = (flags & HALO_NET_FRAME_PARITY) != 0;
    h.lossy = (flags & HALO_NET_FRAME_LOSSY) != 0;
    if ((flags & HALO_NET_FRAME_CLEAR) && !(flags & HALO_NET_FRAME_SESSION))
        return HALO_NET_VERDICT_MALFORMED;
    if (h.type < HALO_NET_FRAME_DATA || h.type > HALO_NET_FRAME_PONG || h.src >= n_nodes ||
        h.dst >= n_nodes || h.src == h.dst || h.frag_count == 0 ||
        h.frag_idx >= h.frag_count + (unsigned)h.parity || h.offset_bytes > h.msg_bytes ||
        flen > h.msg_bytes - h.offset_bytes || h.seq < h.frag_idx)
        return HALO_NET_VERDICT_MALFORMED;
    /* a parity: after the last fragment, F * (count - 1) < msg_bytes <= F * count for its
       length F (of a single fragment: F = msg_bytes, a copy of the message) */
    if (h.parity && (h.frag_idx != h.frag_count || h.offset_bytes != 0 || flen == 0 ||
                     (h.type != HALO_NET_FRAME_DATA && h.type != HALO_NET_FRAME_CONTROL) ||
                     (uint64_t)flen * (h.frag_count - 1) >= h.msg_bytes ||
                     (uint64_t)flen * h.frag_count < h.msg_bytes))
        return HALO_NET_VERDICT_MALFORMED;
    if (h.msg_bytes > HALO_NET_MAX_MESSAGE_BYTES)
        return HALO_NET_VERDICT_OVERSIZED;
    *out = h;
    return HALO_NET_VERDICT_OK;
}

int halo_net_frame_open(const uint8_t *key, const void *buf, size_t len, size_t max_frame_bytes,
                        int n_nodes, halo_net_frame *out) {
    const unsigned char *f = buf;
    size_t flen;
    int v = check_outer(f, len, max_frame_bytes, 0, &flen);
    if (v != HALO_NET_VERDICT_OK)
        return v;
    if (crypto_auth_verify(f + HALO_NET_HEADER_BYTES + flen, f, HALO_NET_HEADER_BYTES + flen,
                           key) != 0)
        return HALO_NET_VERDICT_BAD_AUTH;
    return check_fields(f, flen, n_nodes, out);
}

int halo_net_frame_open_session(const uint8_t *key, const void *buf, size_t len,
                                size_t max_frame_bytes, int n_nodes, void *plain,
                                const unsigned char **payload, halo_net_frame *out) {
    const unsigned char *f = buf;
    size_t flen;
    int v = check_outer(f, len, max_frame_bytes, 1, &flen);
    if (v != HALO_NET_VERDICT_OK)
        return v;
    if (!key)
        return HALO_NET_VERDICT_BAD_SESSION;
    unsigned char nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    nonce_of(nonce, halo_get_u64(f + OFF_SEQ));
    const unsigned char *body = f + HALO_NET_HEADER_BYTES;
    int bad;
    if (f[OFF_TYPE] & HALO_NET_FRAME_CLEAR) {
        bad = crypto_aead_chacha20poly1305_ietf_decrypt_detached(
            NULL, NULL, body, 0, body + flen, f, HALO_NET_HEADER_BYTES + flen, nonce, key);
        *payload = body;
    } else {
        bad = crypto_aead_chacha20poly1305_ietf_decrypt_detached(
            plain, NULL, body, flen, body + flen, f, HALO_NET_HEADER_BYTES, nonce, key);
        *payload = plain;
    }
    if (bad)
        return HALO_NET_VERDICT_BAD_SESSION;
    return check_fields(f, flen, n_nodes, out);
}

size_t halo_net_frame_wire_bytes(const void *hdr) {
    const unsigned char *f = hdr;
    if (memcmp(f, magic, sizeof magic) != 0)
        return 0;
    return (f[OFF_TYPE] & HALO_NET_FRAME_SESSION ? HALO_NET_SESSION_OVERHEAD_BYTES
                                                 : HALO_NET_OVERHEAD_BYTES) +
           halo_get_u16(f + OFF_PAYLOAD_N);
}

int halo_net_frame_is_refusal(const void *buf, size_t len) {
    return len == HALO_NET_REFUSAL_BYTES && memcmp(buf, HALO_NET_REFUSAL, len) == 0;
}

size_t halo_net_seal_frame(const uint8_t *key, int type, int src, int dst, uint64_t seq,
                           const void *payload, size_t len, void *out, size_t cap) {
    if (sodium_init() < 0)
        return 0;
    return halo_net_seal_fragment(key, type, src, dst, seq, 0, 1, (uint32_t)len, 0, payload, len,
                                  out, cap);
}

size_t halo_net_seal_fragment(const uint8_t *key, int type, int src, int dst, uint64_t seq,
                              unsigned idx, unsigned count, uint32_t msg_bytes, uint32_t offset,
                              const void *payload, size_t len, void *out, size_t cap) {
    halo_net_frame h = {.type = type,
                        .src = src,
                        .dst = dst,
                        .frag_idx = idx,
                        .frag_count = count,
                        .payload_bytes = len,
                        .seq = seq,
                        .msg_bytes = msg_bytes,
                        .offset_bytes = offset};
    return halo_net_frame_seal(key, &h, payload, out, cap);
}

/* ==== Replay window ==== */

void halo_net_replay_init(halo_net_replay *w) {
    memset(w, 0, sizeof *w);
}

int halo_net_replay_accept(halo_net_replay *w, uint64_t seq) {
    if (!w->have_seq) {
        w->have_seq = 1;
        w->top_seq = seq;
        w->window = 1;
        return 1;
    }
    if (seq > w->top_seq) {
        uint64_t shift = seq - w->top_seq;
        w->window = shift >= HALO_NET_REPLAY_WINDOW ? 1 : (w->window << shift) | 1;
        w->top_seq = seq;
        return 1;
    }
    uint64_t back = w->top_seq - seq;
    if (back >= HALO_NET_REPLAY_WINDOW || (w->window >> back) & 1)
        return 0;
    w->window |= 1ull << back;
    return 1;
}

/* ==== Reassembly ==== */

void halo_net_reasm_init(halo_net_reasm *r) {
    memset(r, 0, sizeof *r);
}

void halo_net_reasm_free(halo_net_reasm *r) {
    free(r->buf);
    free(r->par);
    halo_net_reasm_init(r);
}

/* Makes *buf (*cap bytes allocated) hold at least `need` bytes, reallocating it to exactly
   that many when it is smaller. Returns 0, or -1 when out of memory (then *buf and *cap are
   unchanged). */
static int reserve(unsigned char **buf, size_t *cap, size_t need) {
    if (need <= *cap)
        return 0;
    unsigned char *b = realloc(*buf, need);
    if (!b)
        return -1;
    *buf = b;
    *cap = need;
    return 0;
}

/* The one fragment missing from r (got == count - 1, parity in): the XOR of the parity and
   every other F-byte block of the message, written in place. */
static void repair(halo_net_reasm *r) {
    size_t fb = r->par_len;
    uint64_t all = (uint64_t)r->count * (r->count - 1) / 2;
    uint64_t miss = all - r->idx_sum; /* < count: the indices stored are distinct */
    size_t at = (size_t)miss * fb;
    for (unsigned j = 0; j < r->count; j++) {
        if (j == miss)
            continue;
        size_t off = (size_t)j * fb, n = r->len - off < fb ? r->len - off : fb;
        const unsigned char *b = r->buf + off;
        for (size_t i = 0; i < n; i++)
            r->par[i] ^= b[i];
    }
    size_t n = r->len - at < fb ? r->len - at : fb;
    memcpy(r->buf + at, r->par, n);
}

int halo_net_reasm_add(halo_net_reasm *r, const halo_net_frame *h, const void *payload,
                       const unsigned char **msg, int *abandoned) {
    *msg = NULL;
    *abandoned = 0;
    if (h->frag_count == 1) {
        if (h->payload_bytes != h->msg_bytes)
            return HALO_NET_REASM_INCONSISTENT;
        *msg = payload;
        return HALO_NET_REASM_DONE;
    }
    uint64_t first = h->seq - h->frag_idx;
    if ((r->have_done && first == r->done_first) || (h->parity && r->count && first < r->first))
        return HALO_NET_REASM_SPARE;
    if (r->count && r->first != first) {
        *abandoned = 1;
        r->count = 0;
    }
    if (!r->count) {
        if (reserve(&r->buf, &r->cap, h->msg_bytes) != 0)
            return HALO_NET_REASM_NOMEM;
        r->first = first;
        r->count = h->frag_count;
        r->got = 0;
        r->par_len = 0;
        r->idx_sum = 0;
        r->len = h->msg_bytes;
        r->type = h->type;
        r->dst = h->dst;
    }
    if (r->count != h->frag_count || r->len != h->msg_bytes || r->type != h->type ||
        r->dst != h->dst) {
        r->count = 0;
        return HALO_NET_REASM_INCONSISTENT;
    }
    if (h->parity) {
        if (r->par_len) { /* a second parity of one message: only a forger makes it */
            r->count = 0;
            return HALO_NET_REASM_INCONSISTENT;
        }
        if (reserve(&r->par, &r->par_cap, h->payload_bytes) != 0)
            return HALO_NET_REASM_NOMEM;
        memcpy(r->par, payload, h->payload_bytes);
        r->par_len = h->payload_bytes;
    } else {
        if (h->payload_bytes) /* a zero-byte message has no buffer: r->buf may be NULL */
            memcpy(r->buf + h->offset_bytes, payload, h->payload_bytes);
        r->got++;
        r->idx_sum += h->frag_idx;
    }
    int result = HALO_NET_REASM_DONE;
    if (r->got < r->count) {
        if (!r->par_len || r->got + 1 < r->count)
            return HALO_NET_REASM_MORE;
        if ((uint64_t)r->count * (r->count - 1) / 2 - r->idx_sum >= r->count) {
            r->count = 0; /* indices stored twice: only a caller without the replay window */
            return HALO_NET_REASM_INCONSISTENT;
        }
        repair(r);
        result = HALO_NET_REASM_REPAIRED;
    }
    r->count = 0;
    r->have_done = 1;
    r->done_first = first;
    *msg = r->buf ? r->buf : payload;
    return result;
}
