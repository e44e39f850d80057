/*
 * The authenticated frame format of the socket transports (docs/net.md, "Frames", has the
 * table): a 32-byte little-endian header (magic "HNET", version 1, type, source and
 * destination node, fragment index and count, payload bytes, 64-bit sequence number,
 * message bytes, offset), the payload, and a 32-byte tag (libsodium's crypto_auth,
 * HMAC-SHA512-256, under the cluster key) over both; or, as a session frame (issue 18), the
 * same header flagged, the payload encrypted (or only authenticated) and a 16-byte
 * ChaCha20-Poly1305 tag under a session key (net/session.h). Also what a receiver keeps per link
 * to judge frames: the replay window over sequence numbers and the reassembly of a
 * fragmented message; and the 8-byte unauthenticated refusal ("HNETNAK1") a receiver sends
 * to a peer whose frames fail authentication.
 *
 * Pure functions over buffers: no sockets, clocks, counters or logging. A verdict says what
 * is wrong with a frame; the transport (net/transport.h) decides what that costs (drop,
 * count, refuse, close a stream). Not thread-safe per state object; libsodium must be
 * initialised (sodium_init, which halo_net_new calls) before sealing or opening.
 */
#ifndef HALO_NET_FRAME_H
#define HALO_NET_FRAME_H

#include "net/key.h"
#include "net/session.h"

#include <stddef.h>
#include <stdint.h>

#define HALO_NET_HEADER_BYTES           32
#define HALO_NET_TAG_BYTES              32
#define HALO_NET_OVERHEAD_BYTES         (HALO_NET_HEADER_BYTES + HALO_NET_TAG_BYTES)
#define HALO_NET_MAX_PAYLOAD_BYTES      65535u /* one frame's payload: a 16-bit field */
#define HALO_NET_MAX_FRAME_BYTES        (HALO_NET_OVERHEAD_BYTES + HALO_NET_MAX_PAYLOAD_BYTES)
#define HALO_NET_MAX_MESSAGE_BYTES      (1u << 22) /* 4 MiB: larger messages are refused/dropped */
#define HALO_NET_REPLAY_WINDOW          64
#define HALO_NET_REFUSAL                "HNETNAK1" /* not a frame: "your tag did not verify" */
#define HALO_NET_REFUSAL_BYTES          8
#define HALO_NET_SESSION_TAG_BYTES      16 /* a session frame's AEAD tag */
#define HALO_NET_SESSION_OVERHEAD_BYTES (HALO_NET_HEADER_BYTES + HALO_NET_SESSION_TAG_BYTES)
#define HALO_NET_Q_MAX_FRAGMENTS        64 /* messages with a second parity (Q): 2..64 fragments */

enum halo_net_frame_type {
    HALO_NET_FRAME_DATA = 1,    /* a message for the node's receive callback */
    HALO_NET_FRAME_CONTROL = 2, /* a message for the control callback (join, ...) */
    HALO_NET_FRAME_PING = 3,    /* answered with PONG by the transport itself */
    HALO_NET_FRAME_PONG = 4,
    /* flags in the type byte (issue 18): a session frame, sealed with ChaCha20-Poly1305
       (IETF) under a session key (net/session.h), nonce = its sequence number, the header
       as associated data, its payload encrypted, or only authenticated with CLEAR. Its tag
       is HALO_NET_SESSION_TAG_BYTES. */
    HALO_NET_FRAME_SESSION = 0x80,
    HALO_NET_FRAME_CLEAR = 0x40,
    /* flag (issue 15): the frame is the message's parity fragment, the XOR of its
       frag_count fragments each padded with zeros to the parity's length (the fragment size
       F). Its frag_idx is frag_count (sequence number: the first fragment's + frag_count),
       its offset 0, and F * (frag_count - 1) < msg_bytes <= F * frag_count. With it a
       receiver rebuilds any one lost fragment of the message without a round trip. The
       parity of a single-fragment message (frag_count 1, frag_idx 1, F = msg_bytes) is a
       copy of it: a duplicate datagram with its own sequence number. A message of 2 to
       HALO_NET_Q_MAX_FRAGMENTS fragments may have a second one after it, Q (frag_idx
       frag_count + 1, the next sequence number, the same F): the sum of 2^i times fragment
       i in GF(2^8) (RAID-6's code, halo_net_parity_q); with P and Q any two lost fragments
       are rebuilt. */
    HALO_NET_FRAME_PARITY = 0x20,
    /* flag (issue 15), on any frame: its sender lost or repaired a message from the frame's
       destination lately and asks it for parity frames (parity "on loss") */
    HALO_NET_FRAME_LOSSY = 0x10,
};

/* A frame's header fields. */
typedef struct halo_net_frame {
    int type;              /* enum halo_net_frame_type */
    int src, dst;          /* node indices, 0..65535 */
    unsigned frag_idx;     /* this fragment's index in the message, < frag_count */
    unsigned frag_count;   /* fragments of the message, >= 1 */
    size_t payload_bytes;  /* this frame's payload, <= HALO_NET_MAX_PAYLOAD_BYTES */
    uint64_t seq;          /* the sender's sequence number of this frame */
    uint32_t msg_bytes;    /* the whole message */
    uint32_t offset_bytes; /* of this fragment's payload in the message */
    int parity;            /* 1: the parity fragment (HALO_NET_FRAME_PARITY) */
    int lossy;             /* 1: HALO_NET_FRAME_LOSSY */
} halo_net_frame;

/*
 * The header of fragment `idx` of `count` of a message of `msg_bytes` from node src to node
 * dst, carrying payload_bytes of it from byte `offset`, with the sender's sequence number
 * `seq`; neither parity nor lossy (a caller sets those fields after). The one place a
 * sender fills a halo_net_frame; nothing is checked (halo_net_frame_seal checks widths).
 */
halo_net_frame halo_net_frame_fragment(int type, int src, int dst, uint64_t seq, unsigned idx,
                                       unsigned count, uint32_t msg_bytes, uint32_t offset,
                                       size_t payload_bytes);

/*
 * Seals one frame: header `h`, h->payload_bytes of `payload`, tag under `key`
 * (HALO_NET_KEY_BYTES), into out (capacity cap bytes). Returns the frame's length
 * (HALO_NET_OVERHEAD_BYTES + payload), or 0 if it does not fit in cap or a field does not
 * fit its width. The fields are not checked for consistency: a peer holding the key can
 * seal anything, and the receiver's checks (halo_net_frame_open) must hold against it.
 */
size_t halo_net_frame_seal(const uint8_t *key, const halo_net_frame *h, const void *payload,
                           void *out, size_t cap);

/* What is wrong with a received frame (halo_net_frame_open). */
enum halo_net_verdict {
    HALO_NET_VERDICT_OK = 0,
    HALO_NET_VERDICT_MALFORMED = 1,   /* bad magic, version, lengths, types, nodes, fragments */
    HALO_NET_VERDICT_OVERSIZED = 2,   /* longer than the limit, or a message over 4 MiB */
    HALO_NET_VERDICT_BAD_AUTH = 3,    /* the tag does not verify under the key */
    HALO_NET_VERDICT_BAD_SESSION = 4, /* a session frame that no current session key opens
                                         (recorded from an earlier session, or forged) */
};

/*
 * Checks a received frame buf[0..len) and reads its header into *out (valid only for
 * HALO_NET_VERDICT_OK). In order: magic, version and minimum length (MALFORMED); len above
 * max_frame_bytes or HALO_NET_MAX_FRAME_BYTES (OVERSIZED); payload length against len
 * (MALFORMED); the tag under `key` (BAD_AUTH); then, authenticated, the fields: type, nodes
 * below n_nodes and distinct, fragment arithmetic (MALFORMED); message size (OVERSIZED).
 * The payload is at buf + HALO_NET_HEADER_BYTES, out->payload_bytes long. Returns an
 * enum halo_net_verdict.
 */
int halo_net_frame_open(const uint8_t *key, const void *buf, size_t len, size_t max_frame_bytes,
                        int n_nodes, halo_net_frame *out);

/*
 * Seals one session frame: header `h` (its type without flags), h->payload_bytes of
 * `payload`, under the session key `key` (HALO_NET_SESSION_KEY_BYTES: the sender's tx key),
 * the payload encrypted if `encrypt`, else only authenticated; into out (capacity cap).
 * Returns the frame's length (HALO_NET_SESSION_OVERHEAD_BYTES + payload), or 0 as
 * halo_net_frame_seal. h->seq must never repeat under one key (the transport's do not).
 */
size_t halo_net_frame_seal_session(const uint8_t *key, int encrypt, const halo_net_frame *h,
                                   const void *payload, void *out, size_t cap);

/* 1 if buf[0..len) has the magic and the session flag: then *src is the node it claims to
   come from (unauthenticated: it only picks the key to try). 0 otherwise. */
int halo_net_frame_peek_session(const void *buf, size_t len, int *src);

/*
 * halo_net_frame_open for a session frame, under the receiver's rx key for the claimed
 * sender (`key`; NULL when there is no session with it). The same checks in the same order,
 * with BAD_SESSION where the tag does not verify (or there is no key). On OK *payload is the
 * plaintext payload, out->payload_bytes long: `plain` (capacity HALO_NET_MAX_PAYLOAD_BYTES)
 * when it was encrypted, else inside buf.
 */
int halo_net_frame_open_session(const uint8_t *key, const void *buf, size_t len,
                                size_t max_frame_bytes, int n_nodes, void *plain,
                                const unsigned char **payload, halo_net_frame *out);

/*
 * For a stream: the length of the frame whose first HALO_NET_HEADER_BYTES bytes are at
 * `hdr` (its overhead, by the session flag, + its payload bytes), or 0 if they do not start
 * with the magic (the stream is not carrying frames).
 */
size_t halo_net_frame_wire_bytes(const void *hdr);

/* 1 if buf[0..len) is exactly a refusal (HALO_NET_REFUSAL). */
int halo_net_frame_is_refusal(const void *buf, size_t len);

/*
 * Test helper: seals one single-fragment frame of `type` from src to dst with sequence
 * number `seq` under `key` into out (capacity cap); returns its length, 0 if it does not fit.
 * Initialises libsodium itself.
 */
size_t halo_net_seal_frame(const uint8_t *key, int type, int src, int dst, uint64_t seq,
                           const void *payload, size_t len, void *out, size_t cap);

/*
 * Seals fragment `idx` of `count` of a message of `msg_bytes`, carrying payload[0..len) from
 * `offset` of it: what the transport sends, and (with arbitrary fields) what tests forge as a
 * peer holding the key could; the receive path must reject inconsistent fields. Returns the
 * frame's length, 0 if it does not fit. libsodium must be initialised (halo_net_new does).
 */
size_t halo_net_seal_fragment(const uint8_t *key, int type, int src, int dst, uint64_t seq,
                              unsigned idx, unsigned count, uint32_t msg_bytes, uint32_t offset,
                              const void *payload, size_t len, void *out, size_t cap);

/*
 * The second parity (Q) of a message of `count` fragments of `frag` bytes, msg[0..len):
 * q[0..frag) = sum over i of 2^i * fragment i (zero-padded to frag bytes) in GF(2^8) with
 * the polynomial 0x11d. count < 255.
 */
void halo_net_parity_q(unsigned char *q, const void *msg, size_t len, size_t frag, unsigned count);

/* ==== Replay window ==== */

/*
 * The receive side's memory of one sender's sequence numbers (RFC 4303's window): the
 * highest accepted and a HALO_NET_REPLAY_WINDOW-bit map behind it. Plain data; a zeroed one
 * (or halo_net_replay_init) has seen nothing.
 */
typedef struct halo_net_replay {
    uint64_t top_seq; /* highest accepted sequence number */
    uint64_t window;  /* bit i: top_seq - i was accepted */
    int have_seq;     /* anything accepted yet */
} halo_net_replay;

void halo_net_replay_init(halo_net_replay *w);

/*
 * 1 if `seq` is new (and records it); 0 if it was accepted before or is
 * HALO_NET_REPLAY_WINDOW or more behind the highest. The first number is always new.
 */
int halo_net_replay_accept(halo_net_replay *w, uint64_t seq);

/* ==== Reassembly ==== */

/*
 * One sender's message being assembled from fragments, keyed by the sequence number of its
 * first fragment (seq - frag_idx). One message at a time: a fragment of another message
 * abandons the one in progress. Caller-allocated: halo_net_reasm_init, halo_net_reasm_free.
 */
typedef struct halo_net_reasm {
    unsigned char *buf; /* (cap) the message, owned */
    size_t cap, len;    /* bytes allocated; the message's bytes */
    uint64_t first;     /* sequence number of the message's first fragment */
    unsigned count;     /* fragments of the message; 0 = nothing in progress */
    unsigned got;       /* fragments stored */
    int type, dst;      /* every fragment must agree */
    /* parity (HALO_NET_FRAME_PARITY) */
    unsigned char *par;  /* (par_cap) the message's parity payload, owned */
    size_t par_cap;      /* bytes allocated */
    size_t par_len;      /* the parity's length (the fragment size); 0 = none received */
    unsigned char *q;    /* (q_cap) the message's second parity (Q), owned */
    size_t q_cap;        /* bytes allocated */
    size_t q_len;        /* Q's length (the fragment size); 0 = none received */
    uint64_t have_mask;  /* bit i: fragment i stored (messages of at most
                            HALO_NET_Q_MAX_FRAGMENTS fragments) */
    uint64_t idx_sum;    /* sum of the stored fragments' indices: names the missing one */
    uint64_t done_first; /* first sequence number of the last message completed */
    int have_done;       /* done_first is set */
} halo_net_reasm;

enum halo_net_reasm_result {
    HALO_NET_REASM_MORE = 0,         /* stored; the message is not complete yet */
    HALO_NET_REASM_DONE = 1,         /* the message is complete: *msg */
    HALO_NET_REASM_INCONSISTENT = 2, /* fields disagree with the message in progress (or a
                                        single fragment with msg_bytes != its payload): the
                                        fragment and that message are dropped */
    HALO_NET_REASM_NOMEM = 3,        /* no memory for the message: the fragment is dropped */
    HALO_NET_REASM_SPARE = 4,        /* a fragment (or parity) of a message already complete,
                                        or a parity older than the message in progress:
                                        nothing to do, nothing abandoned */
    HALO_NET_REASM_REPAIRED = 5,     /* as DONE, with one lost fragment rebuilt from the
                                        parity */
};

void halo_net_reasm_init(halo_net_reasm *r);

/* Frees the buffer; r is empty again. */
void halo_net_reasm_free(halo_net_reasm *r);

/*
 * Adds the fragment with header `h` (accepted by halo_net_frame_open) and payload
 * (h->payload_bytes). *abandoned is set to 1 when a message in progress was dropped
 * incomplete because this fragment starts another, else 0. On HALO_NET_REASM_DONE *msg is
 * the whole message, h->msg_bytes long: `payload` itself for a single-fragment message
 * (which leaves a message in progress alone) or a zero-byte one, else r's buffer, valid
 * until the next add or free. Returns an enum halo_net_reasm_result.
 *
 * The parity of a single-fragment message (its copy) is DONE as the fragment itself is: the
 * caller, which knows whether the original was delivered, tells them apart by h->parity.
 * Parity (h->parity): a message whose fragments are all in but one, and its parity, is
 * complete: the missing fragment is the XOR of the parity and the others, or follows from Q
 * (HALO_NET_REASM_REPAIRED); with both P and Q, all in but two is complete. A parity or fragment of
 * the message completed last is SPARE. Fragments at offsets other than idx * F (which an honest
 * sender never makes) rebuild garbage, never memory outside the buffers; the core's wire CRC
 * refuses it.
 */
int halo_net_reasm_add(halo_net_reasm *r, const halo_net_frame *h, const void *payload,
                       const unsigned char **msg, int *abandoned);

#endif /* HALO_NET_FRAME_H */
