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

/* GF(2^8) with the polynomial 0x11d and generator 2 (RAID-6's field): gf_exp[i] = 2^i
   (twice over, so that a sum of two logarithms needs no reduction), gf_log its inverse
   (gf_log[0] unused). */
static const unsigned char gf_exp[510] = {
    1,   2,   4,   8,   16,  32,  64,  128, 29,  58,  116, 232, 205, 135, 19,  38,  76,  152, 45,
    90,  180, 117, 234, 201, 143, 3,   6,   12,  24,  48,  96,  192, 157, 39,  78,  156, 37,  74,
    148, 53,  106, 212, 181, 119, 238, 193, 159, 35,  70,  140, 5,   10,  20,  40,  80,  160, 93,
    186, 105, 210, 185, 111, 222, 161, 95,  190, 97,  194, 153, 47,  94,  188, 101, 202, 137, 15,
    30,  60,  120, 240, 253, 231, 211, 187, 107, 214, 177, 127, 254, 225, 223, 163, 91,  182, 113,
    226, 217, 175, 67,  134, 17,  34,  68,  136, 13,  26,  52,  104, 208, 189, 103, 206, 129, 31,
    62,  124, 248, 237, 199, 147, 59,  118, 236, 197, 151, 51,  102, 204, 133, 23,  46,  92,  184,
    109, 218, 169, 79,  158, 33,  66,  132, 21,  42,  84,  168, 77,  154, 41,  82,  164, 85,  170,
    73,  146, 57,  114, 228, 213, 183, 115, 230, 209, 191, 99,  198, 145, 63,  126, 252, 229, 215,
    179, 123, 246, 241, 255, 227, 219, 171, 75,  150, 49,  98,  196, 149, 55,  110, 220, 165, 87,
    174, 65,  130, 25,  50,  100, 200, 141, 7,   14,  28,  56,  112, 224, 221, 167, 83,  166, 81,
    162, 89,  178, 121, 242, 249, 239, 195, 155, 43,  86,  172, 69,  138, 9,   18,  36,  72,  144,
    61,  122, 244, 245, 247, 243, 251, 235, 203, 139, 11,  22,  44,  88,  176, 125, 250, 233, 207,
    131, 27,  54,  108, 216, 173, 71,  142, 1,   2,   4,   8,   16,  32,  64,  128, 29,  58,  116,
    232, 205, 135, 19,  38,  76,  152, 45,  90,  180, 117, 234, 201, 143, 3,   6,   12,  24,  48,
    96,  192, 157, 39,  78,  156, 37,  74,  148, 53,  106, 212, 181, 119, 238, 193, 159, 35,  70,
    140, 5,   10,  20,  40,  80,  160, 93,  186, 105, 210, 185, 111, 222, 161, 95,  190, 97,  194,
    153, 47,  94,  188, 101, 202, 137, 15,  30,  60,  120, 240, 253, 231, 211, 187, 107, 214, 177,
    127, 254, 225, 223, 163, 91,  182, 113, 226, 217, 175, 67,  134, 17,  34,  68,  136, 13,  26,
    52,  104, 208, 189, 103, 206, 129, 31,  62,  124, 248, 237, 199, 147, 59,  118, 236, 197, 151,
    51,  102, 204, 133, 23,  46,  92,  184, 109, 218, 169, 79,  158, 33,  66,  132, 21,  42,  84,
    168, 77,  154, 41,  82,  164, 85,  170, 73,  146, 57,  114, 228, 213, 183, 115, 230, 209, 191,
    99,  198, 145, 63,  126, 252, 229, 215, 179, 123, 246, 241, 255, 227, 219, 171, 75,  150, 49,
    98,  196, 149, 55,  110, 220, 165, 87,  174, 65,  130, 25,  50,  100, 200, 141, 7,   14,  28,
    56,  112, 224, 221, 167, 83,  166, 81,  162, 89,  178, 121, 242, 249, 239, 195, 155, 43,  86,
    172, 69,  138, 9,   18,  36,  72,  144, 61,  122, 244, 245, 247, 243, 251, 235, 203, 139, 11,
    22,  44,  88,  176, 125, 250, 233, 207, 131, 27,  54,  108, 216, 173, 71,  142,
};
static const unsigned char gf_log[256] = {
    0,   0,   1,   25,  2,   50,  26,  198, 3,   223, 51,  238, 27,  104, 199, 75,  4,   100, 224,
    14,  52,  141, 239, 129, 28,  193, 105, 248, 200, 8,   76,  113, 5,   138, 101, 47,  225, 36,
    15,  33,  53,  147, 142, 218, 240, 18,  130, 69,  29,  181, 194, 125, 106, 39,  249, 185, 201,
    154, 9,   120, 77,  228, 114, 166, 6,   191, 139, 98,  102, 221, 48,  253, 226, 152, 37,  179,
    16,  145, 34,  136, 54,  208, 148, 206, 143, 150, 219, 189, 241, 210, 19,  92,  131, 56,  70,
    64,  30,  66,  182, 163, 195, 72,  126, 110, 107, 58,  40,  84,  250, 133, 186, 61,  202, 94,
    155, 159, 10,  21,  121, 43,  78,  212, 229, 172, 115, 243, 167, 87,  7,   112, 192, 247, 140,
    128, 99,  13,  103, 74,  222, 237, 49,  197, 254, 24,  227, 165, 153, 119, 38,  184, 180, 124,
    17,  68,  146, 217, 35,  32,  137, 46,  55,  63,  209, 91,  149, 188, 207, 205, 144, 135, 151,
    178, 220, 252, 190, 97,  242, 86,  211, 171, 20,  42,  93,  158, 132, 60,  57,  83,  71,  109,
    65,  162, 31,  45,  67,  216, 183, 123, 164, 118, 196, 23,  73,  236, 127, 12,  111, 246, 108,
    161, 59,  82,  41,  157, 85,  170, 251, 96,  134, 177, 187, 204, 62,  90,  203, 89,  95,  176,
    156, 169, 160, 81,  11,  245, 22,  235, 122, 117, 44,  215, 79,  174, 213, 233, 230, 231, 173,
    232, 116, 214, 244, 234, 168, 80,  88,  175,
};

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
        h.frag_idx >= h.frag_count + (h.parity ? 2u : 0u) || h.offset_bytes > h.msg_bytes ||
        flen > h.msg_bytes - h.offset_bytes || h.seq < h.frag_idx)
        return HALO_NET_VERDICT_MALFORMED;
    /* a parity: after the last fragment (P), or after P (Q, of 2..HALO_NET_Q_MAX_FRAGMENTS
       fragments), F * (count - 1) < msg_bytes <= F * count for its length F (of a single
       fragment: F = msg_bytes, a copy of the message) */
    int q_idx = h.frag_idx == h.frag_count + 1 && h.frag_count >= 2 &&
                h.frag_count <= HALO_NET_Q_MAX_FRAGMENTS;
    if (h.parity && ((h.frag_idx != h.frag_count && !q_idx) || h.offset_bytes != 0 || flen == 0 ||
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
    halo_net_frame h =
        halo_net_frame_fragment(type, src, dst, seq, idx, count, msg_bytes, offset, len);
    return halo_net_frame_seal(key, &h, payload, out, cap);
}

halo_net_frame halo_net_frame_fragment(int type, int src, int dst, uint64_t seq, unsigned idx,
                                       unsigned count, uint32_t msg_bytes, uint32_t offset,
                                       size_t payload_bytes) {
    return (halo_net_frame){.type = type,
                            .src = src,
                            .dst = dst,
                            .frag_idx = idx,
                            .frag_count = count,
                            .payload_bytes = payload_bytes,
                            .seq = seq,
                            .msg_bytes = msg_bytes,
                            .offset_bytes = offset};
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
    free(r->q);
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

/* Bytes of fragment j of r (F-byte blocks; the last one shorter). */
static size_t block_bytes(const halo_net_reasm *r, size_t fb, unsigned j) {
    size_t off = (size_t)j * fb;
    return r->len - off < fb ? r->len - off : fb;
}

/* c * b in GF(2^8). */
static unsigned char gf_mul(unsigned char c, unsigned char b) {
    return c && b ? gf_exp[gf_log[c] + gf_log[b]] : 0;
}

/* acc[0..n) ^= 2^j * b[0..n) in GF(2^8) (j < 255). */
static void gf_addmul(unsigned char *acc, const unsigned char *b, size_t n, unsigned j) {
    if (j == 0) {
        for (size_t i = 0; i < n; i++)
            acc[i] ^= b[i];
        return;
    }
    unsigned char row[256];
    for (unsigned v = 0; v < 256; v++)
        row[v] = gf_mul(gf_exp[j], (unsigned char)v);
    for (size_t i = 0; i < n; i++)
        acc[i] ^= row[b[i]];
}

void halo_net_parity_q(unsigned char *q, const void *msg, size_t len, size_t frag, unsigned count) {
    const unsigned char *m = msg;
    memset(q, 0, frag);
    for (unsigned j = 0; j < count; j++) {
        size_t off = (size_t)j * frag, n = len - off < frag ? len - off : frag;
        gf_addmul(q, m + off, n, j);
    }
}

/* The one fragment `miss` missing from r, P in: the XOR of P and every other F-byte block of
   the message, written in place. */
static void repair(halo_net_reasm *r, unsigned miss) {
    size_t fb = r->par_len;
    for (unsigned j = 0; j < r->count; j++)
        if (j != miss)
            gf_addmul(r->par, r->buf + (size_t)j * fb, block_bytes(r, fb, j), 0);
    memcpy(r->buf + (size_t)miss * fb, r->par, block_bytes(r, fb, miss));
}

/* The one fragment `miss` missing from r, Q in and no P: Q less every other block's 2^j
   multiple, divided by 2^miss. */
static void repair_q(halo_net_reasm *r, unsigned miss) {
    size_t fb = r->q_len;
    for (unsigned j = 0; j < r->count; j++)
        if (j != miss)
            gf_addmul(r->q, r->buf + (size_t)j * fb, block_bytes(r, fb, j), j);
    unsigned char inv = gf_exp[(255 - miss) % 255];
    unsigned char *d = r->buf + (size_t)miss * fb;
    size_t n = block_bytes(r, fb, miss);
    for (size_t i = 0; i < n; i++)
        d[i] = gf_mul(inv, r->q[i]);
}

/* The two fragments x < y missing from r, P and Q in (RAID-6): with Pxy = D_x + D_y and
   Qxy = 2^x D_x + 2^y D_y (the other blocks taken out), D_x = A Pxy + B Qxy for
   A = 2^(y-x) / (2^(y-x) + 1) and B = 2^-x / (2^(y-x) + 1); D_y = Pxy + D_x. */
static void repair_two(halo_net_reasm *r, unsigned x, unsigned y) {
    size_t fb = r->par_len;
    for (unsigned j = 0; j < r->count; j++)
        if (j != x && j != y) {
            gf_addmul(r->par, r->buf + (size_t)j * fb, block_bytes(r, fb, j), 0);
            gf_addmul(r->q, r->buf + (size_t)j * fb, block_bytes(r, fb, j), j);
        }
    unsigned char a = gf_exp[y - x], den = (unsigned char)(a ^ 1);
    unsigned char inv = gf_exp[255 - gf_log[den]];
    unsigned char ca = gf_mul(a, inv), cb = gf_mul(gf_exp[(255 - x) % 255], inv);
    unsigned char *dx = r->buf + (size_t)x * fb, *dy = r->buf + (size_t)y * fb;
    size_t nx = block_bytes(r, fb, x), ny = block_bytes(r, fb, y);
    for (size_t i = 0; i < fb; i++) {
        unsigned char v = (unsigned char)(gf_mul(ca, r->par[i]) ^ gf_mul(cb, r->q[i]));
        if (i < nx)
            dx[i] = v;
        if (i < ny)
            dy[i] = (unsigned char)(r->par[i] ^ v);
    }
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
        r->par_len = r->q_len = 0;
        r->idx_sum = 0;
        r->have_mask = 0;
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
        int is_q = h->frag_idx == h->frag_count + 1;
        unsigned char **pb = is_q ? &r->q : &r->par;
        size_t *pcap = is_q ? &r->q_cap : &r->par_cap, *plen = is_q ? &r->q_len : &r->par_len;
        size_t other = is_q ? r->par_len : r->q_len;
        /* a second P or Q of one message, or the two of different lengths: only a forger */
        if (*plen || (other && other != h->payload_bytes)) {
            r->count = 0;
            return HALO_NET_REASM_INCONSISTENT;
        }
        if (reserve(pb, pcap, h->payload_bytes) != 0)
            return HALO_NET_REASM_NOMEM;
        memcpy(*pb, payload, h->payload_bytes);
        *plen = h->payload_bytes;
    } else {
        if (r->count <= HALO_NET_Q_MAX_FRAGMENTS) {
            if (r->have_mask >> h->frag_idx & 1) { /* only a caller without the replay window */
                r->count = 0;
                return HALO_NET_REASM_INCONSISTENT;
            }
            r->have_mask |= 1ull << h->frag_idx;
        }
        if (h->payload_bytes) /* a zero-byte message has no buffer: r->buf may be NULL */
            memcpy(r->buf + h->offset_bytes, payload, h->payload_bytes);
        r->got++;
        r->idx_sum += h->frag_idx;
    }
    int result = HALO_NET_REASM_DONE;
    if (r->got < r->count) {
        unsigned missing = r->count - r->got;
        if (missing == 1 && (r->par_len || r->q_len)) {
            uint64_t miss = (uint64_t)r->count * (r->count - 1) / 2 - r->idx_sum;
            if (miss >= r->count) {
                r->count = 0; /* indices stored twice: only a caller without the replay window */
                return HALO_NET_REASM_INCONSISTENT;
            }
            if (r->par_len)
                repair(r, (unsigned)miss);
            else
                repair_q(r, (unsigned)miss);
        } else if (missing == 2 && r->par_len && r->q_len) {
            /* Q comes only for count <= HALO_NET_Q_MAX_FRAGMENTS: the mask names the two */
            unsigned x = r->count, y = r->count;
            for (unsigned j = 0; j < r->count; j++)
                if (!(r->have_mask >> j & 1)) {
                    if (x == r->count)
                        x = j;
                    else
                        y = j;
                }
            if (y == r->count) {
                r->count = 0;
                return HALO_NET_REASM_INCONSISTENT;
            }
            repair_two(r, x, y);
        } else {
            return HALO_NET_REASM_MORE;
        }
        result = HALO_NET_REASM_REPAIRED;
    }
    r->count = 0;
    r->have_done = 1;
    r->done_first = first;
    *msg = r->buf ? r->buf : payload;
    return result;
}
