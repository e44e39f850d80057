/*
 * The frame format on its own (net/frame.h): sealing and opening, every verdict of the
 * receive checks, the replay window's edges and reassembly, over plain buffers (no sockets).
 */
#include "net/frame.h"
#include "tests/test.h"

#include <sodium.h>
#include <string.h>

static const uint8_t key[HALO_NET_KEY_BYTES] = {9, 8, 7};
static const uint8_t other_key[HALO_NET_KEY_BYTES] = {9, 8, 6};

static unsigned char buf[HALO_NET_MAX_FRAME_BYTES];

static halo_net_frame header(int type, int src, int dst, uint64_t seq, size_t len) {
    halo_net_frame h = {.type = type,
                        .src = src,
                        .dst = dst,
                        .frag_idx = 0,
                        .frag_count = 1,
                        .payload_bytes = len,
                        .seq = seq,
                        .msg_bytes = (uint32_t)len,
                        .offset_bytes = 0};
    return h;
}

static void sealed_frame_opens_with_its_header_and_payload(void) {
    ASSERT(sodium_init() >= 0);
    const char payload[] = "hello, frames";
    halo_net_frame h = {.type = HALO_NET_FRAME_CONTROL,
                        .src = 3,
                        .dst = 1,
                        .frag_idx = 1,
                        .frag_count = 2,
                        .payload_bytes = sizeof payload,
                        .seq = 0x1122334455667788ull,
                        .msg_bytes = 100,
                        .offset_bytes = 50};
    size_t n = halo_net_frame_seal(key, &h, payload, buf, sizeof buf);
    ASSERT_EQ(n, HALO_NET_OVERHEAD_BYTES + sizeof payload);
    ASSERT(memcmp(buf, "HNET", 4) == 0);
    ASSERT_EQ(halo_net_frame_wire_bytes(buf), n);
    halo_net_frame o;
    ASSERT_EQ(halo_net_frame_open(key, buf, n, sizeof buf, 4, &o), HALO_NET_VERDICT_OK);
    ASSERT_EQ(o.type, h.type);
    ASSERT_EQ(o.src, 3);
    ASSERT_EQ(o.dst, 1);
    ASSERT_EQ(o.frag_idx, 1);
    ASSERT_EQ(o.frag_count, 2);
    ASSERT_EQ(o.payload_bytes, sizeof payload);
    ASSERT(o.seq == h.seq);
    ASSERT_EQ(o.msg_bytes, 100);
    ASSERT_EQ(o.offset_bytes, 50);
    ASSERT(memcmp(buf + HALO_NET_HEADER_BYTES, payload, sizeof payload) == 0);
    /* the test helper seals the same bytes */
    unsigned char again[256];
    ASSERT_EQ(halo_net_seal_fragment(key, h.type, 3, 1, h.seq, 1, 2, 100, 50, payload,
                                     sizeof payload, again, sizeof again),
              n);
    ASSERT(memcmp(again, buf, n) == 0);
}

static void seal_refuses_what_does_not_fit(void) {
    ASSERT(sodium_init() >= 0);
    halo_net_frame h = header(HALO_NET_FRAME_DATA, 1, 0, 5, 10);
    unsigned char small[HALO_NET_OVERHEAD_BYTES + 9];
    ASSERT_EQ(halo_net_frame_seal(key, &h, "0123456789", small, sizeof small), 0);
    h.payload_bytes = HALO_NET_MAX_PAYLOAD_BYTES + 1;
    ASSERT_EQ(halo_net_frame_seal(key, &h, buf, buf, sizeof buf), 0);
    h = header(HALO_NET_FRAME_DATA, 1, 0, 5, 0);
    h.frag_count = 65536;
    ASSERT_EQ(halo_net_frame_seal(key, &h, NULL, buf, sizeof buf), 0);
}

/* Seals h (payload of zeros) and returns the verdict of opening it with n_nodes = 4. */
static int verdict_of(const halo_net_frame *h, const uint8_t *open_key) {
    static const unsigned char zeros[64];
    size_t n = halo_net_frame_seal(key, h, zeros, buf, sizeof buf);
    ASSERT(n > 0);
    halo_net_frame o;
    return halo_net_frame_open(open_key, buf, n, sizeof buf, 4, &o);
}

static void open_judges_authenticated_fields(void) {
    ASSERT(sodium_init() >= 0);
    halo_net_frame h = header(HALO_NET_FRAME_DATA, 1, 0, 7, 16);
    ASSERT_EQ(verdict_of(&h, key), HALO_NET_VERDICT_OK);
    ASSERT_EQ(verdict_of(&h, other_key), HALO_NET_VERDICT_BAD_AUTH);
    h = header(0, 1, 0, 7, 16); /* no such type */
    ASSERT_EQ(verdict_of(&h, key), HALO_NET_VERDICT_MALFORMED);
    h = header(HALO_NET_FRAME_PONG + 1, 1, 0, 7, 16);
    ASSERT_EQ(verdict_of(&h, key), HALO_NET_VERDICT_MALFORMED);
    h = header(HALO_NET_FRAME_DATA, 4, 0, 7, 16); /* source out of range */
    ASSERT_EQ(verdict_of(&h, key), HALO_NET_VERDICT_MALFORMED);
    h = header(HALO_NET_FRAME_DATA, 2, 2, 7, 16); /* to itself */
    ASSERT_EQ(verdict_of(&h, key), HALO_NET_VERDICT_MALFORMED);
    h = header(HALO_NET_FRAME_DATA, 1, 0, 7, 16);
    h.frag_count = 0;
    ASSERT_EQ(verdict_of(&h, key), HALO_NET_VERDICT_MALFORMED);
    h.frag_count = 2;
    h.frag_idx = 2;
    ASSERT_EQ(verdict_of(&h, key), HALO_NET_VERDICT_MALFORMED);
    h = header(HALO_NET_FRAME_DATA, 1, 0, 7, 16);
    h.offset_bytes = 1; /* 16 bytes at 1 of a 16-byte message */
    ASSERT_EQ(verdict_of(&h, key), HALO_NET_VERDICT_MALFORMED);
    h = header(HALO_NET_FRAME_DATA, 1, 0, 2, 16);
    h.frag_count = 4;
    h.frag_idx = 3; /* the first fragment would have sequence number -1 */
    h.msg_bytes = 64;
    ASSERT_EQ(verdict_of(&h, key), HALO_NET_VERDICT_MALFORMED);
    h = header(HALO_NET_FRAME_DATA, 1, 0, 7, 16);
    h.frag_count = 2;
    h.msg_bytes = HALO_NET_MAX_MESSAGE_BYTES + 1;
    ASSERT_EQ(verdict_of(&h, key), HALO_NET_VERDICT_OVERSIZED);
}

static void open_judges_bytes_before_the_tag(void) {
    ASSERT(sodium_init() >= 0);
    halo_net_frame h = header(HALO_NET_FRAME_DATA, 1, 0, 7, 16), o;
    static const unsigned char zeros[16];
    size_t n = halo_net_frame_seal(key, &h, zeros, buf, sizeof buf);
    ASSERT_EQ(halo_net_frame_open(key, buf, n - 1, sizeof buf, 4, &o), HALO_NET_VERDICT_MALFORMED);
    ASSERT_EQ(halo_net_frame_open(key, buf, HALO_NET_OVERHEAD_BYTES - 1, sizeof buf, 4, &o),
              HALO_NET_VERDICT_MALFORMED);
    ASSERT_EQ(halo_net_frame_open(key, buf, n, n - 1, 4, &o), HALO_NET_VERDICT_OVERSIZED);
    buf[n - 1] ^= 1; /* the tag */
    ASSERT_EQ(halo_net_frame_open(key, buf, n, sizeof buf, 4, &o), HALO_NET_VERDICT_BAD_AUTH);
    buf[n - 1] ^= 1;
    buf[HALO_NET_HEADER_BYTES] ^= 1; /* the payload */
    ASSERT_EQ(halo_net_frame_open(key, buf, n, sizeof buf, 4, &o), HALO_NET_VERDICT_BAD_AUTH);
    buf[HALO_NET_HEADER_BYTES] ^= 1;
    buf[4] = 2; /* version */
    ASSERT_EQ(halo_net_frame_open(key, buf, n, sizeof buf, 4, &o), HALO_NET_VERDICT_MALFORMED);
    buf[4] = 1;
    buf[0] = 'X'; /* magic */
    ASSERT_EQ(halo_net_frame_open(key, buf, n, sizeof buf, 4, &o), HALO_NET_VERDICT_MALFORMED);
    ASSERT_EQ(halo_net_frame_wire_bytes(buf), 0);
    ASSERT(halo_net_frame_is_refusal("HNETNAK1", 8));
    ASSERT(!halo_net_frame_is_refusal("HNETNAK1", 7));
    ASSERT(!halo_net_frame_is_refusal("HNETNAK2", 8));
}

static void replay_window_accepts_each_number_once_within_64(void) {
    halo_net_replay w;
    halo_net_replay_init(&w);
    ASSERT(halo_net_replay_accept(&w, 1000));
    ASSERT(!halo_net_replay_accept(&w, 1000));
    ASSERT(halo_net_replay_accept(&w, 1003));
    ASSERT(halo_net_replay_accept(&w, 1001)); /* reordered, inside the window */
    ASSERT(!halo_net_replay_accept(&w, 1001));
    ASSERT(halo_net_replay_accept(&w, 1003 - 63));  /* the window's oldest slot */
    ASSERT(!halo_net_replay_accept(&w, 1003 - 64)); /* just behind it */
    ASSERT(halo_net_replay_accept(&w, 2000));       /* a jump clears the window */
    ASSERT(!halo_net_replay_accept(&w, 1003));
    ASSERT(halo_net_replay_accept(&w, 1999));
    ASSERT(!halo_net_replay_accept(&w, 2000));
}

static halo_net_frame frag(uint64_t first, unsigned idx, unsigned count, uint32_t msg_bytes,
                           uint32_t off, size_t len) {
    halo_net_frame h = header(HALO_NET_FRAME_DATA, 1, 0, first + idx, len);
    h.frag_idx = idx;
    h.frag_count = count;
    h.msg_bytes = msg_bytes;
    h.offset_bytes = off;
    return h;
}

static void reassembly_joins_fragments_in_any_order(void) {
    halo_net_reasm r;
    halo_net_reasm_init(&r);
    const unsigned char *msg;
    int abandoned;
    const char *text = "aaaabbbbcc";
    halo_net_frame f2 = frag(50, 2, 3, 10, 8, 2), f0 = frag(50, 0, 3, 10, 0, 4),
                   f1 = frag(50, 1, 3, 10, 4, 4);
    ASSERT_EQ(halo_net_reasm_add(&r, &f2, text + 8, &msg, &abandoned), HALO_NET_REASM_MORE);
    ASSERT_EQ(halo_net_reasm_add(&r, &f0, text, &msg, &abandoned), HALO_NET_REASM_MORE);
    /* a single-fragment message passes through and leaves the one in progress alone */
    halo_net_frame one = header(HALO_NET_FRAME_DATA, 1, 0, 60, 3);
    ASSERT_EQ(halo_net_reasm_add(&r, &one, "xyz", &msg, &abandoned), HALO_NET_REASM_DONE);
    ASSERT(memcmp(msg, "xyz", 3) == 0);
    ASSERT_EQ(abandoned, 0);
    ASSERT_EQ(halo_net_reasm_add(&r, &f1, text + 4, &msg, &abandoned), HALO_NET_REASM_DONE);
    ASSERT(memcmp(msg, text, 10) == 0);
    ASSERT_EQ(abandoned, 0);
    halo_net_reasm_free(&r);
}

static void reassembly_drops_abandoned_and_inconsistent_messages(void) {
    halo_net_reasm r;
    halo_net_reasm_init(&r);
    const unsigned char *msg;
    int abandoned;
    unsigned char data[8] = {0};
    halo_net_frame a0 = frag(10, 0, 2, 8, 0, 4), b0 = frag(20, 0, 2, 8, 0, 4),
                   b1 = frag(20, 1, 2, 8, 4, 4);
    ASSERT_EQ(halo_net_reasm_add(&r, &a0, data, &msg, &abandoned), HALO_NET_REASM_MORE);
    ASSERT_EQ(halo_net_reasm_add(&r, &b0, data, &msg, &abandoned), HALO_NET_REASM_MORE);
    ASSERT_EQ(abandoned, 1); /* a0's message is lost */
    b1.frag_count = 3;       /* disagrees with b0 */
    ASSERT_EQ(halo_net_reasm_add(&r, &b1, data, &msg, &abandoned), HALO_NET_REASM_INCONSISTENT);
    ASSERT_EQ(abandoned, 0);
    b1.frag_count = 2; /* b's message was dropped with it: this one starts afresh */
    ASSERT_EQ(halo_net_reasm_add(&r, &b1, data, &msg, &abandoned), HALO_NET_REASM_MORE);
    halo_net_frame one = header(HALO_NET_FRAME_DATA, 1, 0, 60, 3);
    one.msg_bytes = 4; /* a single fragment must carry the whole message */
    ASSERT_EQ(halo_net_reasm_add(&r, &one, data, &msg, &abandoned), HALO_NET_REASM_INCONSISTENT);
    halo_net_reasm_free(&r);
    halo_net_reasm_free(&r); /* freeing an empty one is a no-op */
}

/* A session pair (net/session.h): the root's keys in *r, the worker's in *w. */
static void session_pair(halo_net_session *r, halo_net_session *w, int encrypt) {
    halo_net_kx kr, kw;
    ASSERT_OK(halo_net_kx_new(&kr, NULL));
    ASSERT_OK(halo_net_kx_new(&kw, NULL));
    ASSERT_OK(halo_net_session_derive(r, &kr, kw.pk, 1, key, encrypt, NULL));
    ASSERT_OK(halo_net_session_derive(w, &kw, kr.pk, 0, key, encrypt, NULL));
    ASSERT(memcmp(r->tx, w->rx, sizeof r->tx) == 0);
    ASSERT(memcmp(r->rx, w->tx, sizeof r->rx) == 0);
    ASSERT(memcmp(r->tx, r->rx, sizeof r->rx) != 0);
    /* the same exchange under another cluster key gives other keys */
    halo_net_session o;
    ASSERT_OK(halo_net_session_derive(&o, &kr, kw.pk, 1, other_key, encrypt, NULL));
    ASSERT(memcmp(o.tx, r->tx, sizeof o.tx) != 0);
    /* a public key of small order is refused */
    uint8_t zero[HALO_NET_KX_PUBLIC_BYTES] = {0};
    ASSERT_EQ(halo_net_session_derive(&o, &kr, zero, 1, key, encrypt, NULL), HALO_ERR_ARG);
}

static int contains(const unsigned char *hay, size_t n, const void *needle, size_t m) {
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return 1;
    return 0;
}

static void session_frames_are_encrypted_and_any_change_is_detected(void) {
    ASSERT(sodium_init() >= 0);
    static unsigned char plain[HALO_NET_MAX_PAYLOAD_BYTES];
    const char payload[] = "activations of layer 3, in clear before issue 18";
    for (int encrypt = 1; encrypt >= 0; encrypt--) {
        halo_net_session r, w, old_r, old_w;
        session_pair(&r, &w, encrypt);
        session_pair(&old_r, &old_w, encrypt);
        halo_net_frame h = header(HALO_NET_FRAME_DATA, 2, 0, 77, sizeof payload);
        size_t n = halo_net_frame_seal_session(w.tx, encrypt, &h, payload, buf, sizeof buf);
        ASSERT_EQ(n, HALO_NET_SESSION_OVERHEAD_BYTES + sizeof payload);
        ASSERT_EQ(halo_net_frame_wire_bytes(buf), n);
        ASSERT_EQ(contains(buf, n, payload, sizeof payload), !encrypt);
        int src = -1;
        ASSERT(halo_net_frame_peek_session(buf, n, &src));
        ASSERT_EQ(src, 2);
        halo_net_frame got;
        const unsigned char *p = NULL;
        ASSERT_EQ(halo_net_frame_open_session(r.rx, buf, n, n, 4, plain, &p, &got),
                  HALO_NET_VERDICT_OK);
        ASSERT(memcmp(p, payload, sizeof payload) == 0);
        ASSERT_EQ(got.type, HALO_NET_FRAME_DATA);
        ASSERT_EQ(got.seq, 77);
        /* not under the cluster key, not without a session, not under another session's or
           the other direction's key */
        ASSERT_EQ(halo_net_frame_open(key, buf, n, n, 4, &got), HALO_NET_VERDICT_MALFORMED);
        ASSERT_EQ(halo_net_frame_open_session(NULL, buf, n, n, 4, plain, &p, &got),
                  HALO_NET_VERDICT_BAD_SESSION);
        ASSERT_EQ(halo_net_frame_open_session(old_r.rx, buf, n, n, 4, plain, &p, &got),
                  HALO_NET_VERDICT_BAD_SESSION);
        ASSERT_EQ(halo_net_frame_open_session(r.tx, buf, n, n, 4, plain, &p, &got),
                  HALO_NET_VERDICT_BAD_SESSION);
        /* every single bit changed anywhere in the frame: never accepted */
        for (size_t i = 0; i < n; i++)
            for (int bit = 0; bit < 8; bit++) {
                buf[i] ^= (unsigned char)(1u << bit);
                ASSERT(halo_net_frame_open_session(r.rx, buf, n, n, 4, plain, &p, &got) !=
                       HALO_NET_VERDICT_OK);
                buf[i] ^= (unsigned char)(1u << bit);
            }
        /* a cluster-key frame is not taken for a session frame */
        size_t m = halo_net_frame_seal(key, &h, payload, buf, sizeof buf);
        ASSERT(!halo_net_frame_peek_session(buf, m, &src));
        ASSERT_EQ(halo_net_frame_open_session(r.rx, buf, m, m, 4, plain, &p, &got),
                  HALO_NET_VERDICT_MALFORMED);
    }
}

/* Issue 18 (fuzz_frame): a zero-byte message in several fragments completes without touching
   a buffer it never allocated (it did memcpy(NULL, ..., 0): UBSan in the asan build), and
   the message it gives is not NULL. */
static void zero_byte_message_in_fragments_completes(void) {
    halo_net_reasm r;
    halo_net_reasm_init(&r);
    const unsigned char *msg = NULL;
    int abandoned;
    halo_net_frame f0 = frag(70, 0, 3, 0, 0, 0), f1 = frag(70, 1, 3, 0, 0, 0),
                   f2 = frag(70, 2, 3, 0, 0, 0);
    ASSERT_EQ(halo_net_reasm_add(&r, &f0, "", &msg, &abandoned), HALO_NET_REASM_MORE);
    ASSERT_EQ(halo_net_reasm_add(&r, &f2, "", &msg, &abandoned), HALO_NET_REASM_MORE);
    ASSERT_EQ(halo_net_reasm_add(&r, &f1, "", &msg, &abandoned), HALO_NET_REASM_DONE);
    ASSERT(msg != NULL);
    ASSERT_EQ(abandoned, 0);
    halo_net_reasm_free(&r);
}

/* The parity frame of fragments f (count of them, `fb` bytes each but the last) of msg. */
static halo_net_frame parity_of(uint64_t first, unsigned count, const unsigned char *msg,
                                uint32_t len, size_t fb, unsigned char *par) {
    memset(par, 0, fb);
    for (size_t i = 0; i < len; i++)
        par[i % fb] ^= msg[i];
    halo_net_frame h = frag(first, count, count, len, 0, fb);
    h.parity = 1;
    return h;
}

/* Issue 15: a message of three fragments and its parity completes whichever one of the
   four is lost, with the message's bytes; a parity after a complete message is spare; two
   lost fragments are still a lost message. */
static void parity_rebuilds_any_one_lost_fragment(void) {
    const unsigned char text[] = "0123456789abcdefghijklmnopqrstu"; /* 31 bytes: 12, 12, 7 */
    const uint32_t len = 31;
    const size_t fb = 12;
    unsigned char par[12];
    for (int lost = 0; lost < 4; lost++) {
        halo_net_reasm r;
        halo_net_reasm_init(&r);
        const unsigned char *msg = NULL;
        int abandoned, last = HALO_NET_REASM_MORE;
        uint64_t first = 100;
        for (unsigned i = 0; i < 3; i++) {
            if ((int)i == lost)
                continue;
            size_t off = i * fb, n = len - off < fb ? len - off : fb;
            halo_net_frame f = frag(first, i, 3, len, (uint32_t)off, n);
            last = halo_net_reasm_add(&r, &f, text + off, &msg, &abandoned);
        }
        halo_net_frame p = parity_of(first, 3, text, len, fb, par);
        int at_parity = halo_net_reasm_add(&r, &p, par, &msg, &abandoned);
        if (lost == 3) { /* nothing lost: done before the parity, which is spare */
            ASSERT_EQ(last, HALO_NET_REASM_DONE);
            ASSERT_EQ(at_parity, HALO_NET_REASM_SPARE);
        } else {
            ASSERT_EQ(last, HALO_NET_REASM_MORE);
            ASSERT_EQ(at_parity, HALO_NET_REASM_REPAIRED);
            ASSERT(memcmp(msg, text, len) == 0);
            /* the lost fragment arriving late after all: spare, nothing abandoned */
            size_t off = (size_t)lost * fb, n = len - off < fb ? len - off : fb;
            halo_net_frame f = frag(first, (unsigned)lost, 3, len, (uint32_t)off, n);
            ASSERT_EQ(halo_net_reasm_add(&r, &f, text + off, &msg, &abandoned),
                      HALO_NET_REASM_SPARE);
        }
        ASSERT_EQ(abandoned, 0);
        halo_net_reasm_free(&r);
    }
    /* the parity first, then two of three fragments */
    halo_net_reasm r;
    halo_net_reasm_init(&r);
    const unsigned char *msg = NULL;
    int abandoned;
    halo_net_frame p = parity_of(200, 3, text, len, fb, par);
    ASSERT_EQ(halo_net_reasm_add(&r, &p, par, &msg, &abandoned), HALO_NET_REASM_MORE);
    halo_net_frame f2 = frag(200, 2, 3, len, 24, 7), f0 = frag(200, 0, 3, len, 0, 12);
    ASSERT_EQ(halo_net_reasm_add(&r, &f2, text + 24, &msg, &abandoned), HALO_NET_REASM_MORE);
    ASSERT_EQ(halo_net_reasm_add(&r, &f0, text, &msg, &abandoned), HALO_NET_REASM_REPAIRED);
    ASSERT(memcmp(msg, text, len) == 0);
    /* two fragments lost: the parity cannot help; the next message abandons it */
    halo_net_frame h0 = frag(300, 0, 3, len, 0, 12);
    p = parity_of(300, 3, text, len, fb, par);
    ASSERT_EQ(halo_net_reasm_add(&r, &h0, text, &msg, &abandoned), HALO_NET_REASM_MORE);
    ASSERT_EQ(halo_net_reasm_add(&r, &p, par, &msg, &abandoned), HALO_NET_REASM_MORE);
    halo_net_frame g0 = frag(400, 0, 2, 20, 0, 12);
    ASSERT_EQ(halo_net_reasm_add(&r, &g0, text, &msg, &abandoned), HALO_NET_REASM_MORE);
    ASSERT_EQ(abandoned, 1);
    /* a parity older than the message in progress is spare, not an abandonment */
    ASSERT_EQ(halo_net_reasm_add(&r, &p, par, &msg, &abandoned), HALO_NET_REASM_SPARE);
    ASSERT_EQ(abandoned, 0);
    /* the next message's parity rebuilds its second fragment (8 bytes of 12) */
    halo_net_frame q = parity_of(400, 2, text, 20, fb, par);
    ASSERT_EQ(halo_net_reasm_add(&r, &q, par, &msg, &abandoned), HALO_NET_REASM_REPAIRED);
    ASSERT(memcmp(msg, text, 20) == 0);
    halo_net_reasm_free(&r);
}

/* Issue 15: a parity frame seals and opens with its flag, and its fields are judged: after
   the last fragment, of two or more, at offset 0, of the fragment size. */
static void parity_frame_opens_and_its_fields_are_judged(void) {
    ASSERT(sodium_init() >= 0);
    unsigned char par[12] = {1, 2, 3};
    halo_net_frame h = frag(100, 3, 3, 31, 0, 12);
    h.parity = 1;
    ASSERT_EQ(verdict_of(&h, key), HALO_NET_VERDICT_OK);
    size_t n = halo_net_frame_seal(key, &h, par, buf, sizeof buf);
    halo_net_frame o;
    ASSERT_EQ(halo_net_frame_open(key, buf, n, sizeof buf, 4, &o), HALO_NET_VERDICT_OK);
    ASSERT_EQ(o.parity, 1);
    ASSERT_EQ(o.lossy, 0);
    ASSERT_EQ(o.frag_idx, 3);
    h.lossy = 1; /* the request for parity travels on any frame, sessions too */
    n = halo_net_frame_seal(key, &h, par, buf, sizeof buf);
    ASSERT_EQ(halo_net_frame_open(key, buf, n, sizeof buf, 4, &o), HALO_NET_VERDICT_OK);
    ASSERT_EQ(o.lossy, 1);
    ASSERT_EQ(o.parity, 1);
    ASSERT_EQ(o.type, HALO_NET_FRAME_DATA);
    h.lossy = 0;
    halo_net_frame d = frag(100, 2, 3, 31, 24, 7); /* a data fragment is not a parity */
    n = halo_net_frame_seal(key, &d, par, buf, sizeof buf);
    ASSERT_EQ(halo_net_frame_open(key, buf, n, sizeof buf, 4, &o), HALO_NET_VERDICT_OK);
    ASSERT_EQ(o.parity, 0);
    halo_net_frame b = h;
    b.frag_idx = 2; /* not after the last fragment */
    ASSERT_EQ(verdict_of(&b, key), HALO_NET_VERDICT_MALFORMED);
    b = h;
    b.frag_idx = b.frag_count = 1; /* a single-fragment message's parity: a copy of it */
    b.msg_bytes = 12;
    ASSERT_EQ(verdict_of(&b, key), HALO_NET_VERDICT_OK);
    b.msg_bytes = 13; /* shorter than the message */
    ASSERT_EQ(verdict_of(&b, key), HALO_NET_VERDICT_MALFORMED);
    b.msg_bytes = 11; /* longer than the message */
    ASSERT_EQ(verdict_of(&b, key), HALO_NET_VERDICT_MALFORMED);
    b.msg_bytes = 12;
    b.frag_idx = 0; /* not after the fragment */
    ASSERT_EQ(verdict_of(&b, key), HALO_NET_VERDICT_MALFORMED);
    b = h;
    b.payload_bytes = 10; /* 10 * 3 < 31: not the fragment size */
    ASSERT_EQ(verdict_of(&b, key), HALO_NET_VERDICT_MALFORMED);
    b = h;
    b.payload_bytes = 16; /* 16 * 2 >= 31 */
    ASSERT_EQ(verdict_of(&b, key), HALO_NET_VERDICT_MALFORMED);
    b = h;
    b.offset_bytes = 1;
    ASSERT_EQ(verdict_of(&b, key), HALO_NET_VERDICT_MALFORMED);
    b = h;
    b.type = HALO_NET_FRAME_PING;
    ASSERT_EQ(verdict_of(&b, key), HALO_NET_VERDICT_MALFORMED);
    b = h;
    b.parity = 0; /* frag_idx == frag_count without the flag */
    ASSERT_EQ(verdict_of(&b, key), HALO_NET_VERDICT_MALFORMED);
}

/* The second parity (Q) of GF(2^8) by its definition, one byte at a time (shift and add),
   independent of the tables net/frame.c uses. */
static unsigned char slow_mul(unsigned char a, unsigned char b) {
    unsigned char p = 0;
    for (int i = 0; i < 8; i++) {
        if (b & 1)
            p ^= a;
        int hi = a & 0x80;
        a = (unsigned char)(a << 1);
        if (hi)
            a ^= 0x1d;
        b >>= 1;
    }
    return p;
}

/* Issue 15: with P and Q (RAID-6's code) a message of 2..5 fragments completes with any two
   of its count + 2 frames lost, byte for byte, in either order of arrival; three lost are a
   lost message; Q matches its definition. */
static void two_parities_rebuild_any_two_lost_frames(void) {
    ASSERT(sodium_init() >= 0);
    unsigned char text[64], par[16], q[16], slow[16];
    for (int i = 0; i < 64; i++)
        text[i] = (unsigned char)(i * 37 + 11);
    const size_t fb = 16;
    for (unsigned count = 2; count <= 4; count++) {
        uint32_t len = (uint32_t)(fb * (count - 1) + 5); /* the last fragment is short */
        halo_net_parity_q(q, text, len, fb, count);
        memset(slow, 0, sizeof slow);
        for (unsigned j = 0; j < count; j++) {
            unsigned char c = 1;
            for (unsigned k = 0; k < j; k++)
                c = slow_mul(c, 2);
            for (size_t i = 0; i < fb && j * fb + i < len; i++)
                slow[i] ^= slow_mul(c, text[j * fb + i]);
        }
        ASSERT(memcmp(q, slow, fb) == 0);
        unsigned n = count + 2;
        for (unsigned drop = 0; drop < (1u << n); drop++) {
            int n_drop = __builtin_popcount(drop);
            if (n_drop < 1 || n_drop > 3)
                continue;
            for (int reverse = 0; reverse < 2; reverse++) {
                halo_net_reasm r;
                halo_net_reasm_init(&r);
                const unsigned char *msg = NULL;
                int abandoned, last = HALO_NET_REASM_MORE, done = 0;
                uint64_t first = 1000;
                for (unsigned t = 0; t < n; t++) {
                    unsigned k = reverse ? n - 1 - t : t;
                    if (drop >> k & 1)
                        continue;
                    halo_net_frame f;
                    const unsigned char *pl;
                    if (k < count) {
                        size_t off = k * fb, m = len - off < fb ? len - off : fb;
                        f = frag(first, k, count, len, (uint32_t)off, m);
                        pl = text + off;
                    } else if (k == count) {
                        f = parity_of(first, count, text, len, fb, par);
                        pl = par;
                    } else {
                        f = frag(first, count + 1, count, len, 0, fb);
                        f.parity = 1;
                        pl = q;
                    }
                    ASSERT_EQ(verdict_of(&f, key), HALO_NET_VERDICT_OK);
                    last = halo_net_reasm_add(&r, &f, pl, &msg, &abandoned);
                    if (last == HALO_NET_REASM_DONE || last == HALO_NET_REASM_REPAIRED) {
                        ASSERT(memcmp(msg, text, len) == 0);
                        done++;
                    }
                }
                ASSERT_EQ(done, n_drop <= 2 ? 1 : 0);
                halo_net_reasm_free(&r);
            }
        }
    }
    /* Q's fields: only after P's place, of 2..64 fragments */
    halo_net_frame b = frag(100, 2, 1, 12, 0, 12); /* of one fragment */
    b.parity = 1;
    ASSERT_EQ(verdict_of(&b, key), HALO_NET_VERDICT_MALFORMED);
    b = frag(100, 66, 65, 65 * 12, 0, 12); /* of 65 */
    b.parity = 1;
    ASSERT_EQ(verdict_of(&b, key), HALO_NET_VERDICT_MALFORMED);
    b = frag(100, 65, 64, 64 * 12, 0, 12); /* of 64 */
    b.parity = 1;
    ASSERT_EQ(verdict_of(&b, key), HALO_NET_VERDICT_OK);
    b = frag(100, 5, 3, 31, 0, 12); /* two places after the last fragment */
    b.parity = 1;
    ASSERT_EQ(verdict_of(&b, key), HALO_NET_VERDICT_MALFORMED);
}

/* Issue 15: the parity of a single-fragment message is a copy of it (frag_idx 1 of 1, the
   next sequence number): the reassembly completes it as it does the original, and it leaves
   a message in progress alone; the transport tells the two apart by the flag. */
static void single_fragment_parity_is_a_copy(void) {
    ASSERT(sodium_init() >= 0);
    const char text[] = "one datagram";
    size_t len = sizeof text - 1;
    halo_net_frame p = frag(500, 1, 1, (uint32_t)len, 0, len);
    p.parity = 1;
    size_t n = halo_net_frame_seal(key, &p, text, buf, sizeof buf);
    halo_net_frame o;
    ASSERT_EQ(halo_net_frame_open(key, buf, n, sizeof buf, 4, &o), HALO_NET_VERDICT_OK);
    ASSERT_EQ(o.parity, 1);
    ASSERT_EQ(o.seq - o.frag_idx, 500); /* names the original's sequence number */
    halo_net_reasm r;
    halo_net_reasm_init(&r);
    const unsigned char *msg;
    int abandoned;
    halo_net_frame f0 = frag(400, 0, 3, 31, 0, 12);
    ASSERT_EQ(halo_net_reasm_add(&r, &f0, text, &msg, &abandoned), HALO_NET_REASM_MORE);
    ASSERT_EQ(halo_net_reasm_add(&r, &o, buf + HALO_NET_HEADER_BYTES, &msg, &abandoned),
              HALO_NET_REASM_DONE);
    ASSERT_EQ(abandoned, 0);
    ASSERT(memcmp(msg, text, len) == 0);
    ASSERT_EQ(r.count, 3); /* the message in progress is still there */
    halo_net_reasm_free(&r);
}

TEST_MAIN(TEST(sealed_frame_opens_with_its_header_and_payload),
          TEST(seal_refuses_what_does_not_fit), TEST(open_judges_authenticated_fields),
          TEST(open_judges_bytes_before_the_tag),
          TEST(replay_window_accepts_each_number_once_within_64),
          TEST(reassembly_joins_fragments_in_any_order),
          TEST(reassembly_drops_abandoned_and_inconsistent_messages),
          TEST(session_frames_are_encrypted_and_any_change_is_detected),
          TEST(zero_byte_message_in_fragments_completes),
          TEST(parity_rebuilds_any_one_lost_fragment),
          TEST(parity_frame_opens_and_its_fields_are_judged),
          TEST(single_fragment_parity_is_a_copy), TEST(two_parities_rebuild_any_two_lost_frames))
