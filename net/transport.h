/*
 * The socket transports behind core/transport.h: a datagram transport (UDP; relaxed sync)
 * and a stream transport (TCP; the strict baseline), driven by one poll loop with timers on
 * the monotonic clock. now_ns is real time since the transport was made; charge does nothing
 * (the time really passed).
 *
 * Every message travels in authenticated frames (net/frame.h; docs/net.md has the layout):
 * under the cluster key, or, between nodes given session keys (halo_net_set_session), as
 * encrypted session frames; with require_session nothing but CONTROL is taken without one.
 * Over UDP a message larger than the MTU is cut into fragments and reassembled; a message
 * with a lost fragment is lost (nothing is retransmitted), unless a parity frame (the XOR of
 * the fragments, `parity`) lets the receiver rebuild the one fragment lost. Over TCP frames follow
 * each other on a connection.
 *
 * Receive path: frames that are malformed, oversized, unauthenticated, replayed (a 64-entry
 * sliding window per link over its sequence numbers), mis-addressed or stale are dropped
 * and counted; nothing a peer sends can crash the process or make it allocate more than
 * HALO_NET_MAX_MESSAGE_BYTES per sender. Sequence numbers count per link (sending node,
 * receiving node; issue 15: a gap in them is a frame lost on that link) and start at the
 * sender's wall clock in nanoseconds, so a restarted sender is accepted and old frames are not.
 * Accepted TCP connections are admitted under a cap, must authenticate within a timeout,
 * buffer at most one frame until they do, and each gets a bounded share of every poll
 * round; when accept fails for lack of fds the listening socket rests instead of spinning.
 *
 * Nodes: the transport spans n_nodes indices. Either every node marked `local` gets its own
 * socket (several nodes in one process: tests), or one socket bound at `listen` hosts
 * whatever node index attaches (the worker daemon, which learns its index when it joins).
 * A remote node's address is given, or learned from its authenticated traffic (a worker
 * answers the root at the address the root's frames came from).
 *
 * Loss injection (tests and measurements; deterministic per seed): every frame a node sends
 * is, with probability loss_rate, lost (UDP) or held back rto_ns together with everything
 * after it on that link (TCP: what a retransmission timeout does), and every frame may be
 * delayed by delay_ns.
 *
 * What it does not do: the frame format and the checks on a frame's bytes (net/frame.h),
 * parsing addresses and making sockets (net/addr.h), key files (net/key.h), and anything
 * about cluster membership (net/root.h, net/worker.h). Not thread-safe; no global state
 * except libsodium's one-time initialisation.
 */
#ifndef HALO_NET_TRANSPORT_H
#define HALO_NET_TRANSPORT_H

#include "core/transport.h"
#include "net/frame.h"
#include "net/key.h"
#include "net/session.h"

#include <stddef.h>
#include <stdint.h>

enum halo_net_kind {
    HALO_NET_KIND_UDP = 0,
    HALO_NET_KIND_TCP = 1,
};

typedef struct halo_net_config {
    int kind;                 /* enum halo_net_kind */
    int n_nodes;              /* 1..HALO_MAX_DEVICES */
    const char *const *addrs; /* (n_nodes) or NULL: "host:port" of each node, NULL entries
                                 unknown (learned). For a local node: where to bind (port 0:
                                 any free port, see halo_net_port). */
    const uint8_t *local;     /* (n_nodes) 1 = hosted here on its own socket; or NULL */
    const char *listen;       /* instead of `local`: one socket bound here hosts every node
                                 index that attaches ("host:port") */
    const uint8_t *key;       /* HALO_NET_KEY_BYTES bytes: the cluster key (required) */
    size_t mtu_bytes;         /* UDP: largest datagram sent, 256..65507; 0 = per peer, what the
                                 route to it carries unfragmented (1400 if not found) */
    double loss_rate;         /* injected: [0, 1) */
    uint64_t delay_ns;        /* injected: added to every frame */
    uint64_t rto_ns;          /* injected TCP loss: hold time; 0 = 200 ms (Linux's minimum RTO) */
    uint64_t seed;            /* injected loss: seed of the per-node streams */
    uint64_t idle_timeout_ns; /* run: HALO_ERR_TIMEOUT after this long without any event;
                                 0 = never */
    /* run: before it blocks for the network, the loop polls its sockets without blocking for
       up to this long, so that a message that comes within it is read without a sleep and a
       wake-up (tens of microseconds on a virtual machine; docs/net.md, "Event loop"); the
       CPU it spins is taken from whatever else runs on the host. 0 = never. */
    uint64_t spin_ns;
    /* UDP: 1 = every datagram its own send. 0 (the default): the frames of a message (and of
       a batch) to one peer leave as one send that the kernel cuts into datagrams
       (UDP_SEGMENT, Linux 4.18; where the kernel refuses it, one datagram each from then
       on), so that the peer is woken once for them (docs/net.md, "Frames"). */
    int no_gso;
    /* Admission of accepted TCP connections (issue 18). At most max_conns per listening
       socket (0 = 64); at the cap the oldest one that has not authenticated is closed for the
       new one. One that has sent no authenticated frame within preauth_timeout_ns (0 = 2 s)
       is closed, and until then it buffers at most one frame. */
    int max_conns;
    uint64_t preauth_timeout_ns;
    /* 1: DATA, PING and PONG frames are accepted only under a session key of their sender
       (halo_net_set_session); under the cluster key alone they are dropped (bad_session).
       CONTROL frames (the JOIN/JACK key exchange) always travel under the cluster key. */
    int require_session;
    /* UDP (issue 15): enum halo_net_parity. Parity frames after the fragments of a message
       (net/frame.h, HALO_NET_FRAME_PARITY): P, their XOR, and for 2..64 fragments Q, so that
       a receiver rebuilds any two lost frames without a round trip; of a single-datagram
       message P is a copy, which stands in for a lost original. Receivers always use the
       parity that comes. */
    int parity;
} halo_net_config;

enum halo_net_parity {
    HALO_NET_PARITY_OFF = 0,
    HALO_NET_PARITY_ALWAYS = 1, /* after every DATA and CONTROL message */
    /* only to a node that asked for it lately: a node that lost a frame from another (a gap
       in the link's sequence numbers), or lost (abandoned incomplete) or repaired a message
       from it, flags every frame it sends to it
       HALO_NET_FRAME_LOSSY for HALO_NET_PARITY_HOLD_NS, and that one sends parity to it
       until HALO_NET_PARITY_HOLD_NS after the last such frame: no loss, no parity */
    HALO_NET_PARITY_ON_LOSS = 2,
};

#define HALO_NET_PARITY_HOLD_NS 2000000000ull

/*
 * Makes the transport and binds its sockets (listening, for TCP). Errors: HALO_ERR_ARG (bad
 * counts, addresses, rates, no key), HALO_ERR_IO (socket, bind: the message names the
 * address and errno text), HALO_ERR_NOMEM. Free with halo_transport_free.
 */
int halo_net_new(halo_transport **out, const halo_net_config *cfg, halo_err *err);

/* The local port a node (or the listen socket, node -1) is bound to; -1 if not local. */
int halo_net_port(halo_transport *t, int node);

/* Sets or replaces the address of remote `node` ("host:port"). Errors: HALO_ERR_ARG. */
int halo_net_set_addr(halo_transport *t, int node, const char *addr, halo_err *err);

/* Sets the parity mode (enum halo_net_parity, as in the config) of messages sent from now on. */
void halo_net_set_parity(halo_transport *t, int mode);

/* Changes the injected loss (as in the config) of frames sent from now on. */
void halo_net_set_loss(halo_transport *t, double loss_rate, uint64_t delay_ns, uint64_t seed);

/*
 * A control message arrived for local node `dst` from `src` (authenticated); `msg` is
 * borrowed until the callback returns. Control messages are delivered in run() like data.
 */
typedef void (*halo_net_control_fn)(void *ctx, int dst, int src, const void *msg, size_t len);

/*
 * Sets (s not NULL: copied) or clears (NULL) the session keys between this transport's
 * node(s) and `node` (net/session.h). From now on every DATA, PING and PONG frame to `node`
 * is sealed with s->tx (encrypted if s->encrypt), and session frames from it are opened with
 * s->rx; frames under an earlier session's keys no longer open (bad_session). Nothing for a
 * node out of range.
 */
void halo_net_set_session(halo_transport *t, int node, const halo_net_session *s);

/* Sets the control callback (replacing any earlier one). */
void halo_net_set_control(halo_transport *t, halo_net_control_fn fn, void *ctx);

/* Sends a control message; the same contract and errors as send. */
int halo_net_send_control(halo_transport *t, int src, int dst, const void *msg, size_t len,
                          halo_err *err);

/* Sends a PING from src to dst; the peer's transport answers with a PONG. */
int halo_net_ping(halo_transport *t, int src, int dst, halo_err *err);

/* now_ns of the last authenticated frame from `node` (0: never). */
uint64_t halo_net_last_heard_ns(halo_transport *t, int node);

/*
 * What arrived from sender `node` at the first local node (the only one of a cluster
 * process): frames accepted (*frames) and the highest sequence number accepted (*top_seq, 0
 * before any). A sender numbers the frames of each link, so between two calls the growth of
 * top_seq less the growth of frames is what was lost on the way; the runtime scheduler
 * measures links with it (net/replan.h).
 */
void halo_net_peer_rx(halo_transport *t, int node, uint64_t *frames, uint64_t *top_seq);

/* Unauthenticated refusals ("wrong key") received from the address of `node`. */
uint64_t halo_net_refusals(halo_transport *t, int node);

typedef struct halo_net_stats {
    uint64_t msgs_sent, msgs_recv;     /* whole messages (data and control) */
    uint64_t frames_sent, frames_recv; /* frames that passed every check */
    uint64_t bytes_sent, bytes_recv;   /* on the wire, framing included */
    uint64_t bad_auth;                 /* dropped: tag did not verify */
    uint64_t bad_session;              /* dropped: no current session key opens it, or it
                                          needed one (require_session) */
    uint64_t replayed;                 /* dropped: sequence number seen or too old */
    uint64_t malformed;                /* dropped: bad magic, version, sizes, fields */
    uint64_t oversized;                /* dropped: larger than the limits */
    uint64_t misaddressed;             /* dropped: for a node not hosted here */
    uint64_t stale;                    /* dropped: message older than one delivered */
    uint64_t incomplete;               /* messages lost to a missing fragment */
    uint64_t parity_sent;              /* parity frames sent (config parity) */
    uint64_t repaired;                 /* messages completed by rebuilding a lost fragment
                                          from their parity (or delivered from the copy of a
                                          single-frame message whose original was lost) */
    uint64_t gap_frames;               /* sequence numbers skipped on the links: frames lost
                                          on the way (issue 15) */
    uint64_t injected_drops;           /* frames the loss layer dropped */
    uint64_t injected_holds;           /* TCP frames the loss layer held back */
    uint64_t send_failures;            /* frames the kernel refused (ENOBUFS, ...) */
    uint64_t gso_sends;                /* UDP: sends of several datagrams to one peer that the
                                          kernel cut (UDP_SEGMENT) */
    uint64_t conns_closed;             /* TCP connections closed (any reason) */
    uint64_t conns_evicted;            /* closed unauthenticated to admit another */
    uint64_t conns_refused;            /* accepted and closed at once: the cap is all
                                          authenticated peers */
    uint64_t conns_timed_out;          /* closed: not authenticated within the timeout */
    uint64_t accept_failures;          /* accept failed (no fds): the listener rested */
} halo_net_stats;

/* Cumulative statistics of the whole transport. */
void halo_net_get_stats(halo_transport *t, halo_net_stats *out);

/*
 * Test entry point of the receive path: processes buf[0..len) as a datagram (UDP) or as
 * bytes of a fresh incoming connection (TCP) arriving at the socket of local node `node`
 * (-1: the listen socket). Whatever it contains, nothing but counters and deliveries (in a
 * later run) can follow.
 */
void halo_net_inject_rx(halo_transport *t, int node, const void *buf, size_t len);

/* Wall-clock time (CLOCK_REALTIME) in ns since the epoch: where a sender's sequence numbers
   start, and the clock a JOIN carries. */
uint64_t halo_net_wall_ns(void);

#endif /* HALO_NET_TRANSPORT_H */
