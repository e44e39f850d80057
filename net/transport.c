/*
 * The socket transports (net/transport.h): endpoints and TCP connections, the send path
 * (fragmenting, sealing, the seeded loss/delay layer), the receive path (what a frame's
 * verdict costs, the replay window, reassembly and loss seen per link, delivery through the event
 * queue), and the ppoll loop that runs timers and sockets. Frames themselves are
 * net/frame.c's; sockets are made by net/addr.c.
 */
#define _GNU_SOURCE /* ppoll, sendmmsg, recvmmsg */

#include "net/transport.h"

#include "core/evq.h"
#include "core/grow.h"
#include "core/plan.h"
#include "core/rng.h"
#include "net/addr.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    EV_DELIVER = 1,
    EV_TIMER = 2,
    EV_RELEASE = 3, /* a frame held by the loss layer goes out */
};

#define TCP_FRAG_BYTES         60000u
#define TCP_OUT_LIMIT          (64u << 20) /* a peer that stops reading is cut off */
#define REFUSAL_GAP_NS         100000000ull
#define RX_BURST               64
#define RX_MMSG                8            /* datagrams per recvmmsg */
#define RX_CONN_BUDGET         (256u << 10) /* bytes read from one connection per poll round */
#define RX_STRANGER_BUDGET     (64u << 10) /* bytes read from all unauthenticated ones, per round */
#define DEFAULT_MAX_CONNS      64
#define MIN_DATAGRAM_BYTES     256u          /* the smallest mtu a cluster may set */
#define DEFAULT_DATAGRAM_BYTES 1400u         /* mtu 0 when the route's MTU cannot be found */
#define PATH_MTU_RECHECK_NS    1000000000ull /* peer_frag reads a route's MTU again after 1 s */
#define DEFAULT_PREAUTH_NS     2000000000ull
#define ACCEPT_BACKOFF_MIN_NS  10000000ull   /* 10 ms */
#define ACCEPT_BACKOFF_MAX_NS  1000000000ull /* 1 s */
/* UDP segmentation offload (Linux 4.18's UDP_SEGMENT): at most this many datagrams, and this
   many bytes in all (under a UDP datagram's 65507-byte limit), leave by one send */
#define GSO_MAX_SEGS           64
#define GSO_MAX_BYTES          65000u
#define RESTART_GAP                                                    \
    (1u << 20) /* a jump in a link's sequence numbers beyond this is a \
                  restarted sender, not a loss */

/* ==== State ==== */

typedef struct msgbuf {
    size_t len;
    int type, src, dst;
    unsigned char data[];
} msgbuf;

typedef struct conn {
    int fd;
    int ep;               /* endpoint that owns it */
    int peer;             /* node at the other end, -1 until its first authenticated frame */
    int outgoing;         /* we connected (1) or accepted (0) */
    int connecting;       /* non-blocking connect in progress */
    int broken;           /* to be closed by the poll loop (never freed under a caller) */
    uint64_t accepted_ns; /* now_ns when accepted (outgoing: 0) */
    unsigned char *in;
    size_t in_len, in_cap;
    halo_byte_array out; /* queued to send: out.n bytes, those from out_off on not yet sent */
    size_t out_off;
    struct conn *next;
} conn;

typedef struct endpoint {
    int fd; /* UDP socket, or TCP listening socket */
    int node;
    conn *conns;
    uint64_t last_refusal_ns;
    uint64_t accept_resume_ns;  /* accept failed (no fds): not polled before this; 0 = polled */
    uint64_t accept_backoff_ns; /* the last pause; doubles while accept keeps failing */
    uint64_t last_rx_ns;        /* the arrival time given to the last datagram read here */
} endpoint;

/* One local endpoint and one remote node: the receive side of what that node sends to the
   endpoint's node and the send side of what the endpoint's node sends to it. Sequence
   numbers count per link (issue 15), so a gap in them is a frame lost on this link. */
typedef struct chan {
    /* receive side */
    halo_net_replay replay;
    uint64_t delivered_seq; /* first sequence number of the last delivered message */
    uint64_t rx_frames;     /* frames accepted on this link (halo_net_peer_rx) */
    uint64_t rx_gap_frames; /* sequence numbers skipped: frames lost on the way */
    halo_net_reasm reasm;
    uint64_t rx_loss_until_ns; /* a frame on this link was lost (a gap in its sequence
                                  numbers) or a message repaired lately: frames back carry
                                  HALO_NET_FRAME_LOSSY until then */
    /* send side */
    uint64_t next_seq;
    uint64_t tx_parity_until_ns; /* HALO_NET_PARITY_ON_LOSS: the remote asked for parity;
                                    send it parity frames until then */
} chan;

typedef struct peer {
    halo_net_addr addr; /* len 0: not known (yet) */
    uint64_t last_heard_ns;
    uint64_t refusals;
    /* session keys with this node (net/session.h), when has_session */
    halo_net_session session;
    int has_session;
    /* send side, per local sender */
    halo_rng rng;
    uint64_t release_ns; /* loss layer: frames to this peer leave in order, not before */
    int held;            /* loss layer: frames to this peer waiting in the event queue */
    /* local */
    halo_recv_fn recv;
    void *recv_ctx;
    int ep;                   /* endpoint index of a local node, -1 otherwise */
    size_t frag_bytes;        /* UDP: payload bytes of one frame to this node (peer_frag); 0 = not
                                 found yet for its address */
    uint64_t frag_checked_ns; /* when frag_bytes was read from the route */
} peer;

/* Frames in one batch (ops->batch): a fuller batch is sent and a new one begun. */
enum {
    NET_BATCH_MAX = 32
};

typedef struct net {
    halo_transport base;
    int kind, n_nodes, wildcard;
    uint8_t key[HALO_NET_KEY_BYTES];
    size_t mtu;
    double loss_rate;
    uint64_t delay_ns, rto_ns, seed, idle_timeout_ns;
    uint64_t spin_ns;            /* halo_net_config.spin_ns */
    int require_session;         /* DATA, PING, PONG only under a session key */
    int parity;                  /* UDP: enum halo_net_parity */
    int max_conns;               /* accepted connections held per listening socket */
    uint64_t preauth_timeout_ns; /* an accepted connection must authenticate within this */
    size_t rx_round;             /* poll rounds: where the strangers' turn starts (poll_once) */
    peer *peers;
    chan *chans; /* (n_eps, n_nodes): chans[ep * n_nodes + node] */
    endpoint *eps;
    int n_eps;
    halo_evq *q;
    uint64_t t0_ns;
    halo_net_control_fn control;
    void *control_ctx;
    halo_net_stats stats;
    unsigned char frame[HALO_NET_MAX_FRAME_BYTES]; /* scratch for sealing */
    unsigned char rx[HALO_NET_MAX_FRAME_BYTES];    /* scratch for an injected frame */
    unsigned char *rx_slots; /* RX_MMSG datagrams of HALO_NET_MAX_FRAME_BYTES, lazily (rx_udp) */
    unsigned char plain[HALO_NET_MAX_PAYLOAD_BYTES]; /* a decrypted session payload */
    unsigned char par[HALO_NET_MAX_PAYLOAD_BYTES];   /* the parity being sent */
    unsigned char qpar[HALO_NET_MAX_PAYLOAD_BYTES];  /* the second parity (Q) being sent */
    struct pollfd *pfds;
    conn **pconns;
    size_t pcap;
    uint64_t last_poll_ns;  /* now_ns when the sockets were last read */
    uint64_t rx_at_ns;      /* arrival (kernel timestamp) of the datagram being read, or 0 */
    uint64_t delivering_ns; /* the arrival time of the message being delivered, or 0 */
    /* UDP frames held back between ops->batch(on) and ops->batch(off), or while one message's
       frames are sealed, then sent by one sendmmsg per endpoint (issue 15: fewer system
       calls, and every peer of a broadcast woken before the first can take the sender's CPU) */
    int batching;
    int n_batch;
    unsigned char *batch_buf; /* NET_BATCH_MAX frames of HALO_NET_MAX_FRAME_BYTES, lazily;
                                 the frames stand back to back, batch_used bytes */
    size_t batch_used;
    int batch_ep[NET_BATCH_MAX], batch_dst[NET_BATCH_MAX];
    struct iovec batch_iov[NET_BATCH_MAX];
    /* what batch_flush hands the kernel: one message per datagram, or per run of datagrams
       to one peer that the kernel cuts (UDP_SEGMENT, the first frame's size each but the last) */
    struct mmsghdr batch_msg[NET_BATCH_MAX];
    struct iovec batch_msg_iov[NET_BATCH_MAX];
    int batch_msg_first[NET_BATCH_MAX], batch_msg_frames[NET_BATCH_MAX];
    _Alignas(struct cmsghdr) unsigned char gso_ctl[NET_BATCH_MAX][CMSG_SPACE(sizeof(uint16_t))];
    int gso; /* 1: runs of datagrams to one peer leave as one segmented send; 0: the kernel
                refused one (or UDP_SEGMENT is not there): one datagram each */
} net;

static net *as_net(halo_transport *t) {
    return (net *)t;
}

/* The link between local endpoint ep_idx and node `node`. */
static chan *chan_of(net *n, int ep_idx, int node) {
    return &n->chans[(size_t)ep_idx * (size_t)n->n_nodes + (size_t)node];
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t halo_net_wall_ns(void) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_of(const net *n) {
    return mono_ns() - n->t0_ns;
}

/* ==== Endpoints, connections and the send path ==== */

static int open_endpoint(net *n, endpoint *ep, const halo_net_addr *addr, halo_err *err) {
    int rc = halo_net_addr_bind(&ep->fd, addr,
                                n->kind == HALO_NET_KIND_UDP ? SOCK_DGRAM : SOCK_STREAM, err);
    if (rc == HALO_OK && n->kind == HALO_NET_KIND_UDP) {
        int big = 4 << 20, on = 1;
        (void)setsockopt(ep->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        (void)setsockopt(ep->fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        /* arrival times: a contribution that came before its deadline counts even when the
           process was busy computing when it came (rx_udp) */
        (void)setsockopt(ep->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
#ifdef UDP_SEGMENT
        /* A kernel before 4.18 does not refuse a send's UDP_SEGMENT control message: it
           ignores it and sends the run as one datagram that no receiver can parse. Such a
           kernel refuses the socket option (ENOPROTOOPT): no segmented sends then. 0 is the
           socket's default (each send says its own size). */
        int zero = 0;
        if (setsockopt(ep->fd, IPPROTO_UDP, UDP_SEGMENT, &zero, sizeof zero) != 0)
            n->gso = 0;
#endif
    }
    return rc;
}

static void conn_close(net *n, conn *c) {
    endpoint *ep = &n->eps[c->ep];
    for (conn **pp = &ep->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    (void)close(c->fd);
    free(c->in);
    free(c->out.p);
    free(c);
    n->stats.conns_closed++;
}

static conn *conn_add(net *n, int ep_idx, int fd, int peer_idx, int outgoing) {
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fd = fd;
    c->ep = ep_idx;
    c->peer = peer_idx;
    c->outgoing = outgoing;
    c->next = n->eps[ep_idx].conns;
    n->eps[ep_idx].conns = c;
    return c;
}

static int conn_append(conn *c, const void *data, size_t len) {
    if (c->out_off > 0 && c->out_off == c->out.n)
        c->out_off = c->out.n = 0;
    if (c->out.n + len > TCP_OUT_LIMIT)
        return -1;
    return halo__append(&c->out, data, len, 4096);
}

/* Writes what the kernel takes; -1 when the connection broke. */
static int conn_flush(conn *c) {
    while (!c->connecting && c->out_off < c->out.n) {
        ssize_t w = send(c->fd, c->out.p + c->out_off, c->out.n - c->out_off, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out.n)
        c->out_off = c->out.n = 0;
    return 0;
}

static endpoint *ep_of(net *n, int node) {
    if (n->wildcard)
        return &n->eps[0];
    return n->peers[node].ep >= 0 ? &n->eps[n->peers[node].ep] : NULL;
}

/* The connection that carries frames from local `ep` to node dst (made if needed). */
static conn *tcp_route(net *n, int ep_idx, int dst) {
    conn *in = NULL;
    for (conn *c = n->eps[ep_idx].conns; c; c = c->next)
        if (c->peer == dst && !c->broken) {
            if (c->outgoing)
                return c;
            in = in ? in : c;
        }
    const peer *p = &n->peers[dst];
    int fd, in_progress;
    if (!p->addr.len || halo_net_addr_connect(&fd, &in_progress, &p->addr, NULL) != HALO_OK)
        return in;
    conn *c = conn_add(n, ep_idx, fd, dst, 1);
    if (!c) {
        (void)close(fd);
        return in;
    }
    c->connecting = in_progress;
    return c;
}

/* Frames first .. first+count-1 of the batch (all from one endpoint) as the messages of one
   sendmmsg, into batch_msg; returns how many. With gso, frames to one peer that follow each
   other, all as long as the first but the last (which may be shorter), become one message
   that the kernel cuts into those datagrams (UDP_SEGMENT): the stack is walked once for the
   run, and a receiver is woken once for a message of several datagrams instead of once for
   its first and again for the rest (issue 15). */
static int batch_messages(net *n, int first, int count) {
    int m = 0;
    for (int i = first; i < first + count;) {
        size_t seg = n->batch_iov[i].iov_len, total = seg;
        int k = 1;
#ifdef UDP_SEGMENT
        while (n->gso && i + k < first + count && k < GSO_MAX_SEGS &&
               n->batch_dst[i + k] == n->batch_dst[i] && n->batch_iov[i + k - 1].iov_len == seg &&
               n->batch_iov[i + k].iov_len <= seg &&
               total + n->batch_iov[i + k].iov_len <= GSO_MAX_BYTES) {
            total += n->batch_iov[i + k].iov_len;
            k++;
        }
#endif
        peer *p = &n->peers[n->batch_dst[i]];
        n->batch_msg_iov[m] =
            (struct iovec){.iov_base = n->batch_iov[i].iov_base, .iov_len = total};
        struct msghdr h = {.msg_name = &p->addr.ss,
                           .msg_namelen = p->addr.len,
                           .msg_iov = &n->batch_msg_iov[m],
                           .msg_iovlen = 1};
#ifdef UDP_SEGMENT
        if (k > 1) {
            uint16_t seg16 = (uint16_t)seg;
            h.msg_control = n->gso_ctl[m];
            h.msg_controllen = sizeof n->gso_ctl[m];
            struct cmsghdr *c = CMSG_FIRSTHDR(&h);
            c->cmsg_level = IPPROTO_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            memcpy(CMSG_DATA(c), &seg16, sizeof seg16);
        }
#endif
        n->batch_msg[m] = (struct mmsghdr){.msg_hdr = h};
        n->batch_msg_first[m] = i;
        n->batch_msg_frames[m] = k;
        m++;
        i += k;
    }
    return m;
}

/* Sends frames first .. first+count-1 of the batch, all from endpoint e (a frame the kernel
   refuses is counted as a failed send and the rest go on; a segmented send the kernel
   refuses turns segmentation off and its frames go again one datagram each). */
static void send_run(net *n, int e, int first, int count) {
    int n_msg = batch_messages(n, first, count), m = 0;
    while (m < n_msg) {
        int sent = sendmmsg(n->eps[e].fd, &n->batch_msg[m], (unsigned)(n_msg - m), 0);
        if (sent <= 0) {
            if (sent < 0 && errno == EINTR)
                continue;
            int f = n->batch_msg_first[m], k = n->batch_msg_frames[m];
            if (k > 1 &&
                (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT || errno == EOPNOTSUPP)) {
                /* no segmentation here (an old kernel, a device without checksum offload):
                   the rest as single datagrams, from now on */
                n->gso = 0;
                send_run(n, e, f, first + count - f);
                return;
            }
            n->stats.send_failures += (uint64_t)k;
            m++; /* the message at m failed: go on after it */
            continue;
        }
        for (int j = m; j < m + sent; j++) {
            n->stats.frames_sent += (uint64_t)n->batch_msg_frames[j];
            n->stats.bytes_sent += n->batch_msg_iov[j].iov_len;
            if (n->batch_msg_frames[j] > 1)
                n->stats.gso_sends++;
        }
        m += sent;
    }
}

/* Sends the batch: one sendmmsg per run of frames from one endpoint. */
static void batch_flush(net *n) {
    int i = 0;
    while (i < n->n_batch) {
        int e = n->batch_ep[i], run = 1;
        while (i + run < n->n_batch && n->batch_ep[i + run] == e)
            run++;
        send_run(n, e, i, run);
        i += run;
    }
    n->n_batch = 0;
    n->batch_used = 0;
}

/* Holds a sealed UDP frame for the batch (sending a full batch first); 0 when it cannot be
   held (no memory for the batch: the caller sends it at once). */
static int batch_add(net *n, int ep_idx, int dst, const unsigned char *f, size_t len) {
    if (!n->batch_buf) {
        n->batch_buf = malloc((size_t)NET_BATCH_MAX * HALO_NET_MAX_FRAME_BYTES);
        if (!n->batch_buf)
            return 0;
    }
    if (n->n_batch == NET_BATCH_MAX)
        batch_flush(n);
    int i = n->n_batch++;
    unsigned char *slot = n->batch_buf + n->batch_used; /* after the last: runs are contiguous */
    memcpy(slot, f, len);
    n->batch_used += len;
    n->batch_ep[i] = ep_idx;
    n->batch_dst[i] = dst;
    n->batch_iov[i] = (struct iovec){.iov_base = slot, .iov_len = len};
    return 1;
}

/* Holds UDP frames from on to the matching off (calls nest), then sends them. */
static void batch_begin(net *n) {
    if (n->kind == HALO_NET_KIND_UDP)
        n->batching++;
}

static void batch_end(net *n) {
    if (n->kind == HALO_NET_KIND_UDP && n->batching > 0 && --n->batching == 0)
        batch_flush(n);
}

/* ops->batch: UDP frames wait between on and off; TCP writes at once. */
static void net_batch(halo_transport *t, int node, int on) {
    (void)node;
    if (on)
        batch_begin(as_net(t));
    else
        batch_end(as_net(t));
}

/* Puts one sealed frame on the wire (no loss layer). */
static void emit(net *n, int ep_idx, int dst, const unsigned char *f, size_t len) {
    endpoint *ep = &n->eps[ep_idx];
    if (n->kind == HALO_NET_KIND_UDP) {
        const peer *p = &n->peers[dst];
        if (p->addr.len && n->batching && batch_add(n, ep_idx, dst, f, len))
            return; /* counted when the batch is sent */
        if (!p->addr.len ||
            sendto(ep->fd, f, len, 0, (const struct sockaddr *)&p->addr.ss, p->addr.len) < 0) {
            n->stats.send_failures++;
            return;
        }
    } else {
        conn *c = tcp_route(n, ep_idx, dst);
        if (!c || c->broken || conn_append(c, f, len) != 0 || conn_flush(c) != 0) {
            n->stats.send_failures++;
            if (c)
                c->broken = 1;
            return;
        }
    }
    n->stats.frames_sent++;
    n->stats.bytes_sent += len;
}

/* The loss layer between sealing and the wire. */
static int lossy_emit(net *n, int src, int ep_idx, int dst, const unsigned char *f, size_t len,
                      halo_err *err) {
    if (n->loss_rate <= 0.0 && n->delay_ns == 0) {
        emit(n, ep_idx, dst, f, len);
        return HALO_OK;
    }
    peer *s = &n->peers[src];
    uint64_t now = now_of(n), release = now + n->delay_ns;
    if (n->loss_rate > 0.0 && halo_rng_f64(&s->rng) < n->loss_rate) {
        if (n->kind == HALO_NET_KIND_UDP) {
            n->stats.injected_drops++;
            return HALO_OK;
        }
        n->stats.injected_holds++;
        release += n->rto_ns;
    }
    /* Frames to one peer leave in order (FIFO), as on a real link. */
    peer *d = &n->peers[dst];
    if (release < d->release_ns)
        release = d->release_ns;
    d->release_ns = release;
    /* Nothing delays it: out now, not when the caller returns to the event loop (a root
       that sends its activations and then computes its own share must not hold them back
       for the length of that compute; issue 15). */
    if (release <= now && d->held == 0) {
        emit(n, ep_idx, dst, f, len);
        return HALO_OK;
    }
    msgbuf *b = malloc(sizeof *b + len);
    if (!b)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "net: out of memory for a %zu-byte frame", len);
    memcpy(b->data, f, len);
    b->len = len;
    b->dst = dst;
    b->src = ep_idx;
    halo_event ev = {.time_ns = release, .kind = EV_RELEASE, .ptr = b};
    int rc = halo_evq_push(n->q, &ev, NULL, err);
    if (rc != HALO_OK)
        free(b);
    else
        d->held++;
    return rc;
}

/* ==== Seal and open: the cluster key, or the session key of the pair (issue 18) ==== */

/* Seals frame h into n->frame. CONTROL frames (JOIN, JACK: the key exchange itself) always
   go under the cluster key; the rest under the session key when the pair has one. */
static size_t seal(net *n, const halo_net_frame *h, const void *payload) {
    const peer *d = &n->peers[h->dst];
    if (d->has_session && h->type != HALO_NET_FRAME_CONTROL)
        return halo_net_frame_seal_session(d->session.tx, d->session.encrypt, h, payload, n->frame,
                                           sizeof n->frame);
    return halo_net_frame_seal(n->key, h, payload, n->frame, sizeof n->frame);
}

/* Opens frame f[0..len): a session frame under the claimed sender's rx key, anything else
   under the cluster key; with require_session only CONTROL may come without a session.
   *payload: the plaintext payload. Returns an enum halo_net_verdict. */
static int open_frame(net *n, const unsigned char *f, size_t len, size_t max, halo_net_frame *h,
                      const unsigned char **payload) {
    int src;
    if (halo_net_frame_peek_session(f, len, &src)) {
        const peer *p = src >= 0 && src < n->n_nodes ? &n->peers[src] : NULL;
        return halo_net_frame_open_session(p && p->has_session ? p->session.rx : NULL, f, len, max,
                                           n->n_nodes, n->plain, payload, h);
    }
    int v = halo_net_frame_open(n->key, f, len, max, n->n_nodes, h);
    *payload = f + HALO_NET_HEADER_BYTES;
    if (v == HALO_NET_VERDICT_OK && n->require_session && h->type != HALO_NET_FRAME_CONTROL)
        return HALO_NET_VERDICT_BAD_SESSION;
    return v;
}

/* UDP: payload bytes of one frame to peer p. With a fixed mtu, what it leaves; with mtu 0 (the
   default), what one datagram on the kernel's route to the peer carries unfragmented (issue
   15: on loopback a 3 KB activation is one datagram, not three: a third of the packets,
   system calls and wake-ups), else what a 1400-byte datagram carries. */
static size_t peer_frag(net *n, peer *p) {
    if (n->mtu)
        return n->mtu - HALO_NET_OVERHEAD_BYTES;
    uint64_t now = now_of(n);
    /* read again now and then: the route's MTU falls to the path's when a router on the way
       answers a too-large datagram (ICMP "fragmentation needed"), and the kernel would
       otherwise cut every later datagram into IP fragments */
    if (!p->frag_bytes || now - p->frag_checked_ns >= PATH_MTU_RECHECK_NS) {
        size_t datagram = halo_net_addr_path_payload(&p->addr);
        if (datagram < MIN_DATAGRAM_BYTES)
            datagram = DEFAULT_DATAGRAM_BYTES;
        p->frag_bytes = datagram - HALO_NET_OVERHEAD_BYTES;
        p->frag_checked_ns = now;
    }
    return p->frag_bytes;
}

static int tx_message_now(net *n, int type, int src, int dst, const void *msg, size_t len,
                          halo_err *err) {
    if (src < 0 || src >= n->n_nodes || dst < 0 || dst >= n->n_nodes || src == dst)
        return HALO_FAIL(err, HALO_ERR_ARG, "net: cannot send from node %d to node %d", src, dst);
    endpoint *ep = ep_of(n, src);
    if (!ep)
        return HALO_FAIL(err, HALO_ERR_ARG, "net: node %d is not hosted here", src);
    if (len > HALO_NET_MAX_MESSAGE_BYTES)
        return HALO_FAIL(err, HALO_ERR_ARG, "net: %zu-byte message exceeds the %u-byte limit", len,
                         HALO_NET_MAX_MESSAGE_BYTES);
    peer *d = &n->peers[dst];
    if (n->kind == HALO_NET_KIND_UDP && !d->addr.len)
        return HALO_FAIL(err, HALO_ERR_CLOSED, "net: no address for node %d yet", dst);
    size_t frag = n->kind == HALO_NET_KIND_UDP ? peer_frag(n, d) : TCP_FRAG_BYTES;
    unsigned count = len == 0 ? 1 : (unsigned)((len + frag - 1) / frag);
    int ep_idx = (int)(ep - n->eps);
    chan *l = chan_of(n, ep_idx, dst);
    uint64_t now = now_of(n);
    int lossy = now < l->rx_loss_until_ns;
    for (unsigned i = 0; i < count; i++) {
        size_t off = (size_t)i * frag, part = len - off < frag ? len - off : frag;
        const unsigned char *payload = len ? (const unsigned char *)msg + off : NULL;
        halo_net_frame h = halo_net_frame_fragment(type, src, dst, l->next_seq++, i, count,
                                                   (uint32_t)len, (uint32_t)off, part);
        h.lossy = lossy;
        size_t flen = seal(n, &h, payload);
        HALO_ASSERT(flen > 0);
        int rc = lossy_emit(n, src, ep_idx, dst, n->frame, flen, err);
        if (rc != HALO_OK)
            return rc;
    }
    int parity = n->parity == HALO_NET_PARITY_ALWAYS ||
                 (n->parity == HALO_NET_PARITY_ON_LOSS && now < l->tx_parity_until_ns);
    if (parity && n->kind == HALO_NET_KIND_UDP && len > 0 &&
        (type == HALO_NET_FRAME_DATA || type == HALO_NET_FRAME_CONTROL)) {
        /* the XOR of the fragments, each padded to `frag` bytes with zeros; of a single
           fragment, the fragment itself (a copy of the message: issue 15) */
        const unsigned char *m = msg;
        size_t par_bytes = count >= 2 ? frag : len;
        memcpy(n->par, m, par_bytes);
        for (unsigned i = 1; i < count; i++) {
            size_t off = (size_t)i * frag, part = len - off < frag ? len - off : frag;
            for (size_t k = 0; k < part; k++)
                n->par[k] ^= m[off + k];
        }
        /* then Q, of 2..HALO_NET_Q_MAX_FRAGMENTS: with P any two lost fragments are rebuilt */
        unsigned n_par = count >= 2 && count <= HALO_NET_Q_MAX_FRAGMENTS ? 2 : 1;
        if (n_par == 2)
            halo_net_parity_q(n->qpar, msg, len, frag, count);
        for (unsigned k = 0; k < n_par; k++) {
            halo_net_frame h = halo_net_frame_fragment(type, src, dst, l->next_seq++, count + k,
                                                       count, (uint32_t)len, 0, par_bytes);
            h.parity = 1;
            h.lossy = lossy;
            size_t flen = seal(n, &h, k ? n->qpar : n->par);
            HALO_ASSERT(flen > 0);
            int rc = lossy_emit(n, src, ep_idx, dst, n->frame, flen, err);
            if (rc != HALO_OK)
                return rc;
            n->stats.parity_sent++;
        }
    }
    if (type == HALO_NET_FRAME_DATA || type == HALO_NET_FRAME_CONTROL)
        n->stats.msgs_sent++;
    return HALO_OK;
}

/* Fragments, seals and sends one message (with its parity): over UDP its frames leave
   together, by one sendmmsg (or with the batch the caller has open). */
static int tx_message(net *n, int type, int src, int dst, const void *msg, size_t len,
                      halo_err *err) {
    batch_begin(n);
    int rc = tx_message_now(n, type, src, dst, msg, len, err);
    batch_end(n);
    return rc;
}

/* ==== Receive path ==== */

static void deliver_later(net *n, int type, int src, int dst, const void *data, size_t len) {
    msgbuf *b = malloc(sizeof *b + (len ? len : 1));
    if (!b)
        return; /* lost, as on a full queue */
    memcpy(b->data, data, len);
    b->len = len;
    b->type = type;
    b->src = src;
    b->dst = dst;
    halo_event ev = {
        .time_ns = n->rx_at_ns ? n->rx_at_ns : now_of(n), .kind = EV_DELIVER, .ptr = b};
    if (halo_evq_push(n->q, &ev, NULL, NULL) != HALO_OK)
        free(b);
}

static void refuse(net *n, endpoint *ep, conn *c, const halo_net_addr *from) {
    uint64_t now = now_of(n);
    if (ep->last_refusal_ns && now - ep->last_refusal_ns < REFUSAL_GAP_NS)
        return;
    ep->last_refusal_ns = now ? now : 1;
    if (c)
        (void)send(c->fd, HALO_NET_REFUSAL, HALO_NET_REFUSAL_BYTES, MSG_NOSIGNAL);
    else if (from)
        (void)sendto(ep->fd, HALO_NET_REFUSAL, HALO_NET_REFUSAL_BYTES, 0,
                     (const struct sockaddr *)&from->ss, from->len);
}

static void note_refusal(net *n, conn *c, const halo_net_addr *from) {
    for (int i = 0; i < n->n_nodes; i++) {
        peer *p = &n->peers[i];
        if (c ? c->peer == i : (from && halo_net_addr_equal(&p->addr, from)))
            p->refusals++;
    }
}

static int is_local(const net *n, int node) {
    return n->wildcard ? n->peers[node].recv != NULL || n->control != NULL : n->peers[node].ep >= 0;
}

/* What a frame's verdict costs: counted; every failed frame closes a TCP stream. */
static int rx_verdict(net *n, endpoint *ep, conn *c, const halo_net_addr *from, int verdict) {
    switch (verdict) {
    case HALO_NET_VERDICT_OK:
        return 0;
    case HALO_NET_VERDICT_OVERSIZED:
        n->stats.oversized++;
        break;
    case HALO_NET_VERDICT_BAD_AUTH:
        n->stats.bad_auth++;
        refuse(n, ep, c, from);
        break;
    case HALO_NET_VERDICT_BAD_SESSION:
        /* a peer with the cluster key but not this session (a recording, or a root that
           has not finished the exchange): no refusal, which would read "wrong key" */
        n->stats.bad_session++;
        break;
    default:
        n->stats.malformed++;
        break;
    }
    return -1;
}

/*
 * One frame f[0..len) arrived at endpoint ep (from `from` over UDP, on `c` over TCP).
 * Returns 0, or -1 when a TCP connection must be closed (its stream is unusable).
 */
static int rx_frame(net *n, endpoint *ep, conn *c, const halo_net_addr *from,
                    const unsigned char *f, size_t len) {
    if (halo_net_frame_is_refusal(f, len)) {
        note_refusal(n, c, from);
        return -1;
    }
    halo_net_frame h;
    const unsigned char *payload;
    /* a datagram is as long as its sender's route allows (peer_frag); a fixed mtu bounds it */
    size_t max = n->kind == HALO_NET_KIND_UDP && n->mtu ? n->mtu : HALO_NET_MAX_FRAME_BYTES;
    if (rx_verdict(n, ep, c, from, open_frame(n, f, len, max, &h, &payload)) != 0)
        return -1;
    int src = h.src, dst = h.dst;
    if ((!n->wildcard && dst != ep->node) || !is_local(n, dst)) {
        n->stats.misaddressed++;
        return 0;
    }
    if (c && c->peer >= 0 && c->peer != src) {
        n->stats.malformed++;
        return -1;
    }
    peer *p = &n->peers[src];
    chan *l = chan_of(n, (int)(ep - n->eps), src);
    uint64_t top = l->replay.have_seq ? l->replay.top_seq : 0;
    if (!halo_net_replay_accept(&l->replay, h.seq)) {
        n->stats.replayed++;
        return 0;
    }
    n->stats.frames_recv++;
    n->stats.bytes_recv += len;
    l->rx_frames++;
    p->last_heard_ns = now_of(n);
    if (p->last_heard_ns == 0)
        p->last_heard_ns = 1;
    if (c)
        c->peer = src;
    else if (from && !halo_net_addr_equal(&p->addr, from)) {
        p->addr = *from;
        p->frag_bytes = 0; /* a new address, maybe a new route */
    }
    if (top && h.seq > top + RESTART_GAP) {
        /* a restarted sender (a new root for a worker daemon): what the link lost before
           says nothing about the new one */
        l->rx_loss_until_ns = l->tx_parity_until_ns = 0;
    }
    if (h.lossy)
        l->tx_parity_until_ns = p->last_heard_ns + HALO_NET_PARITY_HOLD_NS;
    /* numbers skipped on this link are frames lost on the way (a jump beyond RESTART_GAP is
       a restarted sender, which numbers from its clock): ask for parity (issue 15) */
    if (top && h.seq > top + 1 && h.seq - top - 1 <= RESTART_GAP) {
        l->rx_gap_frames += h.seq - top - 1;
        l->rx_loss_until_ns = p->last_heard_ns + HALO_NET_PARITY_HOLD_NS;
        n->stats.gap_frames += h.seq - top - 1;
    }
    if (h.type == HALO_NET_FRAME_PING) {
        /* A daemon answers only for a node it really hosts: a worker restarted since its
           join (no node yet) stays silent, so the root sees it lost and joins it again. */
        if (!n->wildcard || n->peers[dst].recv)
            (void)tx_message(n, HALO_NET_FRAME_PONG, dst, src, NULL, 0, NULL);
        return 0;
    }
    if (h.type == HALO_NET_FRAME_PONG)
        return 0;
    const unsigned char *msg;
    int abandoned;
    int r = halo_net_reasm_add(&l->reasm, &h, payload, &msg, &abandoned);
    if (abandoned)
        n->stats.incomplete++;
    if (r == HALO_NET_REASM_INCONSISTENT)
        n->stats.malformed++;
    uint64_t first = h.seq - h.frag_idx; /* a parity's frag_idx is frag_count: the same */
    if (r == HALO_NET_REASM_DONE && h.parity && h.frag_count == 1) {
        /* the copy of a single-frame message: spare when the original came (or a later
           message did), else it stands in for the lost original */
        if (l->delivered_seq && first <= l->delivered_seq)
            return 0;
        r = HALO_NET_REASM_REPAIRED;
    }
    if (r == HALO_NET_REASM_REPAIRED)
        n->stats.repaired++;
    if (abandoned || r == HALO_NET_REASM_REPAIRED) /* this peer's messages lose: ask for parity */
        l->rx_loss_until_ns = p->last_heard_ns + HALO_NET_PARITY_HOLD_NS;
    if (r != HALO_NET_REASM_DONE && r != HALO_NET_REASM_REPAIRED)
        return 0;
    if (l->delivered_seq && first <= l->delivered_seq) {
        n->stats.stale++;
        return 0;
    }
    l->delivered_seq = first;
    deliver_later(n, h.type, src, dst, msg, h.msg_bytes);
    return 0;
}

/* The now_ns at which a datagram stamped `wall` (CLOCK_REALTIME, by the kernel) arrived;
   never after now. */
static uint64_t arrival_ns(const net *n, const struct timespec *wall) {
    uint64_t now = now_of(n), w = halo_net_wall_ns();
    uint64_t at = (uint64_t)wall->tv_sec * 1000000000ull + (uint64_t)wall->tv_nsec;
    uint64_t ago = w > at ? w - at : 0;
    return now > ago ? now - ago : 1;
}

/* One received datagram: stamps its arrival, keeps arrival times from going backwards on
   the endpoint, and hands it to rx_frame. */
static void rx_datagram(net *n, endpoint *ep, halo_net_addr *from, struct msghdr *mh,
                        unsigned char *buf, size_t len) {
    from->len = mh->msg_namelen;
    n->rx_at_ns = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            n->rx_at_ns = arrival_ns(n, &ts);
        }
    /* The socket hands datagrams over in the order they arrived, so their times may not
       go backwards: arrival_ns reads two clocks one after the other, and a thread
       descheduled between them makes a datagram look up to that long older than it is
       (CI, under ASan, once delivered a message before the one sent just ahead of it). */
    if (n->rx_at_ns && n->rx_at_ns < ep->last_rx_ns)
        n->rx_at_ns = ep->last_rx_ns;
    if (n->rx_at_ns)
        ep->last_rx_ns = n->rx_at_ns;
    (void)rx_frame(n, ep, NULL, from, buf, len);
    n->rx_at_ns = 0;
}

/* Reads up to RX_BURST datagrams, RX_MMSG per recvmmsg; a call that returns fewer than it
   asked for has emptied the socket, so no call is made only to hear EAGAIN (issue 15: the
   root made 40 receive calls per token on the bundled model, 10 of them empty; every
   worker one empty call per message). Without the slots' memory, one datagram per call
   into n->rx. */
static void rx_udp(net *n, endpoint *ep) {
    if (!n->rx_slots)
        n->rx_slots = malloc((size_t)RX_MMSG * HALO_NET_MAX_FRAME_BYTES);
    unsigned vlen = n->rx_slots ? RX_MMSG : 1;
    /* CMSG_SPACE is a multiple of a cmsghdr's alignment: every row starts aligned */
    _Alignas(struct cmsghdr) unsigned char ctl[RX_MMSG][CMSG_SPACE(sizeof(struct timespec))];
    halo_net_addr from[RX_MMSG];
    struct iovec iov[RX_MMSG];
    struct mmsghdr mm[RX_MMSG];
    for (int got = 0; got < RX_BURST;) {
        for (unsigned i = 0; i < vlen; i++) {
            from[i].len = sizeof from[i].ss;
            iov[i].iov_base =
                n->rx_slots ? n->rx_slots + (size_t)i * HALO_NET_MAX_FRAME_BYTES : n->rx;
            iov[i].iov_len = HALO_NET_MAX_FRAME_BYTES;
            mm[i].msg_len = 0;
            mm[i].msg_hdr = (struct msghdr){.msg_name = &from[i].ss,
                                            .msg_namelen = from[i].len,
                                            .msg_iov = &iov[i],
                                            .msg_iovlen = 1,
                                            .msg_control = ctl[i],
                                            .msg_controllen = sizeof ctl[i]};
        }
        int r = recvmmsg(ep->fd, mm, vlen, MSG_DONTWAIT | MSG_TRUNC, NULL);
        if (r <= 0)
            return;
        for (int i = 0; i < r; i++) {
            /* MSG_TRUNC: msg_len is the datagram's own length, longer than a slot when cut */
            if (mm[i].msg_len > HALO_NET_MAX_FRAME_BYTES || (mm[i].msg_hdr.msg_flags & MSG_TRUNC)) {
                n->stats.oversized++;
                continue;
            }
            rx_datagram(n, ep, &from[i], &mm[i].msg_hdr, iov[i].iov_base, mm[i].msg_len);
        }
        got += r;
        if ((unsigned)r < vlen)
            return;
    }
}

/* Parses whole frames out of c->in; -1 when the connection must close. */
static int tcp_parse(net *n, conn *c) {
    size_t at = 0;
    int rc = 0;
    while (rc == 0 && c->in_len - at >= HALO_NET_REFUSAL_BYTES) {
        const unsigned char *f = c->in + at;
        size_t need;
        if (halo_net_frame_is_refusal(f, HALO_NET_REFUSAL_BYTES))
            need = HALO_NET_REFUSAL_BYTES;
        else if (c->in_len - at < HALO_NET_HEADER_BYTES)
            break;
        else if (!(need = halo_net_frame_wire_bytes(f))) {
            n->stats.malformed++;
            return -1;
        }
        if (c->in_len - at < need)
            break;
        rc = rx_frame(n, &n->eps[c->ep], c, NULL, f, need);
        at += need;
    }
    memmove(c->in, c->in + at, c->in_len - at);
    c->in_len -= at;
    return rc;
}

/* rx_tcp with at most *budget_io bytes; *budget_io: what is left of them. */
static int rx_tcp_budget(net *n, conn *c, size_t *budget_io) {
    size_t budget = *budget_io;
    for (int i = 0; i < RX_BURST && budget > 0; i++) {
        size_t want = c->peer < 0 ? HALO_NET_MAX_FRAME_BYTES
                                  : c->in_len + (size_t)2 * HALO_NET_MAX_FRAME_BYTES;
        if (c->in_cap - c->in_len < 65536 && want > c->in_cap) {
            size_t cap = want;
            unsigned char *p = realloc(c->in, cap);
            if (!p)
                return -1;
            c->in = p;
            c->in_cap = cap;
        }
        size_t room = c->in_cap - c->in_len;
        if (room == 0) /* cannot happen: a whole frame fits and is parsed */
            return -1;
        size_t ask = room < budget ? room : budget;
        ssize_t r = recv(c->fd, c->in + c->in_len, ask, 0);
        if (r == 0)
            return -1;
        if (r < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        c->in_len += (size_t)r;
        budget -= (size_t)r;
        *budget_io = budget;
        if (tcp_parse(n, c) != 0)
            return -1;
        /* A short read emptied the socket: the next recv would only say EAGAIN (what comes
           later, the next poll reports). */
        if ((size_t)r < ask)
            break;
    }
    return 0;
}

/* Reads what is there; -1 when the connection is finished. `shared` (NULL for an
   authenticated connection): what is left this round of the budget all unauthenticated
   connections share, reduced by what this one read. */
static int rx_tcp(net *n, conn *c, size_t *shared) {
    /* Fair between peers: each connection gets at most RX_CONN_BUDGET bytes per poll round.
       Bounded per peer: until it has authenticated, a connection buffers at most one frame
       (tcp_parse takes every whole frame out), not 128 KiB more at every read. */
    size_t budget = RX_CONN_BUDGET;
    if (shared && *shared < budget)
        budget = *shared;
    size_t start = budget;
    int rc = rx_tcp_budget(n, c, &budget);
    if (shared)
        *shared -= start - budget;
    return rc;
}

/* ==== Admission: connection cap, pre-authentication timeout, accept backoff ==== */

/* Accepted connections of ep not yet closing; *oldest: the oldest one that has not
   authenticated (NULL if none). */
static int count_accepted(const endpoint *ep, conn **oldest) {
    int k = 0;
    *oldest = NULL;
    for (conn *c = ep->conns; c; c = c->next) {
        if (c->outgoing || c->broken)
            continue;
        k++;
        if (c->peer < 0 && (!*oldest || c->accepted_ns <= (*oldest)->accepted_ns))
            *oldest = c;
    }
    return k;
}

/*
 * Accepts what is waiting (issue 18: idle connections exhausted the worker). At the cap the
 * oldest connection that has not authenticated makes room (an authenticated peer is never
 * pushed out by strangers), or the new one is closed when every held connection is
 * authenticated. When accept itself fails (no fds left: EMFILE, ENFILE, ENOBUFS) the
 * connection stays in the backlog and the socket stays readable, which spun the loop at
 * 100% CPU: the oldest unauthenticated connection is closed instead and the listening socket
 * rests 10 ms, doubling up to 1 s while accept keeps failing.
 */
static void accept_all(net *n, int ep_idx) {
    endpoint *ep = &n->eps[ep_idx];
    for (int i = 0; i < RX_BURST; i++) {
        int fd;
        conn *oldest;
        int rc = halo_net_addr_accept(&fd, ep->fd, NULL);
        if (rc == HALO_ERR_AGAIN)
            return;
        if (rc != HALO_OK) {
            n->stats.accept_failures++;
            (void)count_accepted(ep, &oldest);
            if (oldest) {
                oldest->broken = 1;
                n->stats.conns_evicted++;
            }
            uint64_t b = ep->accept_backoff_ns ? 2 * ep->accept_backoff_ns : ACCEPT_BACKOFF_MIN_NS;
            ep->accept_backoff_ns = b < ACCEPT_BACKOFF_MAX_NS ? b : ACCEPT_BACKOFF_MAX_NS;
            ep->accept_resume_ns = now_of(n) + ep->accept_backoff_ns;
            return;
        }
        ep->accept_backoff_ns = 0;
        if (count_accepted(ep, &oldest) >= n->max_conns) {
            if (!oldest) {
                (void)close(fd);
                n->stats.conns_refused++;
                continue;
            }
            oldest->broken = 1;
            n->stats.conns_evicted++;
        }
        conn *c = conn_add(n, ep_idx, fd, -1, 0);
        if (!c)
            (void)close(fd);
        else
            c->accepted_ns = now_of(n);
    }
}

/* Closes accepted connections that did not authenticate within preauth_timeout_ns. */
static void expire_preauth(net *n, uint64_t now) {
    for (int e = 0; e < n->n_eps; e++)
        for (conn *c = n->eps[e].conns; c; c = c->next)
            if (!c->outgoing && c->peer < 0 && !c->broken &&
                now - c->accepted_ns >= n->preauth_timeout_ns) {
                c->broken = 1;
                n->stats.conns_timed_out++;
            }
}

/* How long the poll may sleep, at most, for the admission rules: until a paused listening
   socket resumes or the first unauthenticated connection expires. */
static uint64_t admission_wait_ns(const net *n, uint64_t now, uint64_t wait) {
    for (int e = 0; e < n->n_eps; e++) {
        const endpoint *ep = &n->eps[e];
        if (ep->accept_resume_ns) {
            uint64_t left = ep->accept_resume_ns > now ? ep->accept_resume_ns - now : 0;
            wait = left < wait ? left : wait;
        }
        for (const conn *c = ep->conns; c; c = c->next)
            if (!c->outgoing && c->peer < 0 && !c->broken) {
                uint64_t due = c->accepted_ns + n->preauth_timeout_ns;
                uint64_t left = due > now ? due - now : 0;
                wait = left < wait ? left : wait;
            }
    }
    return wait;
}

void halo_net_inject_rx(halo_transport *t, int node, const void *buf, size_t len) {
    net *n = as_net(t);
    endpoint *ep =
        node < 0 ? (n->wildcard ? &n->eps[0] : NULL) : (node < n->n_nodes ? ep_of(n, node) : NULL);
    if (!ep)
        return;
    if (n->kind == HALO_NET_KIND_UDP) {
        halo_net_addr from;
        halo_net_addr_loopback(&from, 9);
        if (len <= sizeof n->rx) {
            memcpy(n->rx, buf, len);
            (void)rx_frame(n, ep, NULL, &from, n->rx, len);
        } else {
            n->stats.oversized++;
        }
        return;
    }
    /* TCP: a fresh connection whose bytes are `buf`; its fd is a closed-pipe stand-in. */
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
        return;
    conn *c = conn_add(n, (int)(ep - n->eps), fds[0], -1, 0);
    if (!c) {
        (void)close(fds[0]);
        (void)close(fds[1]);
        return;
    }
    (void)close(fds[1]);
    c->in = malloc(len ? len : 1);
    if (c->in) {
        memcpy(c->in, buf, len);
        c->in_len = c->in_cap = len;
    }
    (void)tcp_parse(n, c);
    conn_close(n, c);
}

/* ==== Transport ops ==== */

static int net_attach(halo_transport *t, int node, halo_recv_fn fn, void *ctx, halo_err *err) {
    net *n = as_net(t);
    if (node < 0 || node >= n->n_nodes || (!n->wildcard && n->peers[node].ep < 0))
        return HALO_FAIL(err, HALO_ERR_ARG, "net: node %d is not hosted here (of %d)", node,
                         n->n_nodes);
    n->peers[node].recv = fn;
    n->peers[node].recv_ctx = ctx;
    return HALO_OK;
}

static int net_send(halo_transport *t, int src, int dst, const void *msg, size_t len,
                    halo_err *err) {
    return tx_message(as_net(t), HALO_NET_FRAME_DATA, src, dst, msg, len, err);
}

static int net_schedule(halo_transport *t, int node, uint64_t delay_ns, halo_timer_fn fn, void *arg,
                        uint64_t *timer_id, halo_err *err) {
    net *n = as_net(t);
    if (node < 0 || node >= n->n_nodes || !fn)
        return HALO_FAIL(err, HALO_ERR_ARG, "net: bad timer for node %d", node);
    return halo_evq_push_timer(n->q, EV_TIMER, node, now_of(n), delay_ns, fn, arg, timer_id, "net",
                               err);
}

static int net_cancel(halo_transport *t, uint64_t timer_id) {
    return halo_evq_cancel(as_net(t)->q, timer_id);
}

static uint64_t net_now(halo_transport *t, int node) {
    (void)node;
    return now_of(as_net(t));
}

static uint64_t net_arrived(halo_transport *t, int node) {
    (void)node;
    net *n = as_net(t);
    uint64_t now = now_of(n);
    return n->delivering_ns && n->delivering_ns < now ? n->delivering_ns : now;
}

/* Frames from `from` that local `node` missed: the link's highest sequence number less the
   frames accepted (0 over TCP, which has no gaps, and before the first frame). */
static uint64_t net_rx_lost(halo_transport *t, int node, int from) {
    net *n = as_net(t);
    if (node < 0 || node >= n->n_nodes || from < 0 || from >= n->n_nodes)
        return 0;
    endpoint *ep = ep_of(n, node);
    if (!ep)
        return 0;
    const chan *l = chan_of(n, (int)(ep - n->eps), from);
    uint64_t top = l->replay.have_seq ? l->replay.top_seq : 0;
    return top > l->rx_frames ? top - l->rx_frames : 0;
}

static void net_charge(halo_transport *t, int node, const halo_cost *cost) {
    (void)t;
    (void)node;
    (void)cost;
}

static void handle_event(net *n, halo_event *ev) {
    if (ev->kind == EV_TIMER) {
        ev->fn(ev->ptr2);
        return;
    }
    msgbuf *b = ev->ptr;
    if (ev->kind == EV_RELEASE) {
        n->peers[b->dst].held--;
        emit(n, b->src, b->dst, b->data, b->len);
    } else if (b->type == HALO_NET_FRAME_CONTROL) {
        n->stats.msgs_recv++;
        if (n->control)
            n->control(n->control_ctx, b->dst, b->src, b->data, b->len);
    } else {
        n->stats.msgs_recv++;
        peer *d = &n->peers[b->dst];
        if (d->recv) {
            n->delivering_ns = ev->time_ns ? ev->time_ns : 1;
            d->recv(d->recv_ctx, b->src, b->data, b->len);
            n->delivering_ns = 0;
        }
    }
    free(b);
}

/* Closes the connections marked broken. */
static void sweep(net *n) {
    for (int e = 0; e < n->n_eps; e++) {
        conn *c = n->eps[e].conns;
        while (c) {
            conn *next = c->next;
            if (c->broken)
                conn_close(n, c);
            c = next;
        }
    }
}

/* Builds the poll set; returns its size. */
static size_t poll_set(net *n) {
    size_t need = (size_t)n->n_eps;
    for (int e = 0; e < n->n_eps; e++)
        for (conn *c = n->eps[e].conns; c; c = c->next)
            need++;
    if (need > n->pcap) {
        struct pollfd *p = realloc(n->pfds, need * sizeof *p);
        if (p)
            n->pfds = p;
        conn **q = realloc(n->pconns, need * sizeof *q);
        if (q)
            n->pconns = q;
        if (!p || !q)
            return 0;
        n->pcap = need;
    }
    size_t k = 0;
    uint64_t now = now_of(n);
    for (int e = 0; e < n->n_eps; e++) {
        endpoint *ep = &n->eps[e];
        if (ep->accept_resume_ns && ep->accept_resume_ns <= now)
            ep->accept_resume_ns = 0;
        /* a paused listening socket is left out (a negative fd is ignored by poll) */
        n->pfds[k] = (struct pollfd){.fd = ep->accept_resume_ns ? -1 : ep->fd, .events = POLLIN};
        n->pconns[k++] = NULL;
        for (conn *c = n->eps[e].conns; c; c = c->next) {
            short ev = POLLIN;
            if (c->connecting || c->out.n > c->out_off)
                ev |= POLLOUT;
            n->pfds[k] = (struct pollfd){.fd = c->fd, .events = ev};
            n->pconns[k++] = c;
        }
    }
    return k;
}

static void poll_once(net *n, uint64_t timeout_ns) {
    if (n->n_batch > 0) /* a batch left open is not kept waiting for the network */
        batch_flush(n);
    size_t k = poll_set(n);
    timeout_ns = admission_wait_ns(n, now_of(n), timeout_ns);
    int r = 0, spun_out = 0;
    if (n->spin_ns > 0 && timeout_ns > 0) {
        /* spin, then block (halo_net_config.spin_ns): a message that comes within the spin is
           read without the sleep and the wake-up that cost the most of a sync on a virtual
           machine (issue 15: the bundled model's strict star 0.81 -> 0.65 ms/token with the
           root spinning 20 us, docs/net.md). The spin counts against the timeout. */
        const struct timespec zero = {0, 0};
        uint64_t start = now_of(n), spin = n->spin_ns < timeout_ns ? n->spin_ns : timeout_ns;
        uint64_t spun = 0;
        while ((r = ppoll(n->pfds, (nfds_t)k, &zero, NULL)) == 0 &&
               (spun = now_of(n) - start) < spin)
            ;
        spun_out = spun >= timeout_ns; /* nothing came before the timeout: timed out */
        timeout_ns = spun_out ? 0 : timeout_ns - spun;
    }
    if (r == 0 && !spun_out) {
        struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000ull),
                              .tv_nsec = (long)(timeout_ns % 1000000000ull)};
        r = ppoll(n->pfds, (nfds_t)k, &ts, NULL);
    }
    n->last_poll_ns = now_of(n);
    if (r <= 0) {
        expire_preauth(n, n->last_poll_ns);
        sweep(n);
        return;
    }
    /* Fair between peers (issue 18): authenticated connections and our own outgoing ones
       first, each with its own budget; then the listeners and the connections that have not
       authenticated, which share RX_STRANGER_BUDGET per round, from a rotating start. */
    size_t strangers = RX_STRANGER_BUDGET;
    n->rx_round++;
    for (size_t j = 0; j < 2 * k; j++) {
        int first_pass = j < k;
        size_t i = first_pass ? j : (j - k + n->rx_round) % k;
        short re = n->pfds[i].revents;
        if (!re)
            continue;
        conn *c = n->pconns[i];
        int trusted = c && (c->outgoing || c->peer >= 0);
        if (trusted != first_pass)
            continue;
        n->pfds[i].revents = 0; /* handled once: a stranger that authenticates stays done */
        if (!c) {
            int e = 0;
            while (e < n->n_eps && (n->pfds[i].fd < 0 || n->eps[e].fd != n->pfds[i].fd))
                e++;
            if (e == n->n_eps)
                continue;
            if (n->kind == HALO_NET_KIND_UDP)
                rx_udp(n, &n->eps[e]);
            else
                accept_all(n, e);
            continue;
        }
        if (c->broken)
            continue;
        int bad = 0;
        if (c->connecting && (re & (POLLOUT | POLLERR | POLLHUP))) {
            int so = 0;
            socklen_t sl = sizeof so;
            bad = getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &so, &sl) != 0 || so != 0;
            c->connecting = 0;
        }
        if (!bad && (re & POLLOUT))
            bad = conn_flush(c) != 0;
        if (!bad && (re & (POLLIN | POLLHUP | POLLERR))) {
            /* a stream's messages are stamped with the poll that found them, as a datagram
               with its kernel arrival time: not later, so net_run does not poll once more
               before delivering them (issue 15: 2 of 5 system calls per sync) */
            n->rx_at_ns = n->last_poll_ns;
            bad = rx_tcp(n, c, trusted ? NULL : &strangers) != 0;
            n->rx_at_ns = 0;
        }
        if (bad)
            c->broken = 1;
    }
    expire_preauth(n, now_of(n));
    sweep(n);
}

static int net_run(halo_transport *t, halo_done_fn done, void *arg, halo_err *err) {
    net *n = as_net(t);
    uint64_t last_event = now_of(n);
    halo_event ev;
    while (!(done && done(arg))) {
        uint64_t now = now_of(n);
        const halo_event *top = halo_evq_peek(n->q);
        if (top && top->time_ns <= now && top->time_ns > n->last_poll_ns) {
            /* Read what arrived before this event is due first (a contribution that came
               while the process computed must not lose to its deadline). */
            poll_once(n, 0);
            continue;
        }
        if (top && top->time_ns <= now) {
            (void)halo_evq_pop(n->q, &ev);
            handle_event(n, &ev);
            last_event = now;
            continue;
        }
        uint64_t wait = top ? top->time_ns - now : 1000000000ull;
        if (n->idle_timeout_ns) {
            if (now - last_event >= n->idle_timeout_ns)
                return HALO_FAIL(err, HALO_ERR_TIMEOUT, "net: nothing happened for %.3f s",
                                 (double)n->idle_timeout_ns / 1e9);
            uint64_t left = n->idle_timeout_ns - (now - last_event);
            if (wait > left)
                wait = left;
        }
        size_t before = halo_evq_size(n->q);
        poll_once(n, wait);
        if (halo_evq_size(n->q) > before)
            last_event = now_of(n);
    }
    return HALO_OK;
}

static void net_destroy(halo_transport *t) {
    net *n = as_net(t);
    halo_event ev;
    while (halo_evq_pop(n->q, &ev))
        if (ev.kind != EV_TIMER)
            free(ev.ptr);
    halo_evq_free(n->q);
    for (int e = 0; n->eps && e < n->n_eps; e++) {
        while (n->eps[e].conns)
            conn_close(n, n->eps[e].conns);
        if (n->eps[e].fd >= 0)
            (void)close(n->eps[e].fd);
    }
    for (size_t i = 0; n->chans && i < (size_t)n->n_eps * (size_t)n->n_nodes; i++)
        halo_net_reasm_free(&n->chans[i].reasm);
    for (int i = 0; n->peers && i < n->n_nodes; i++)
        sodium_memzero(&n->peers[i].session, sizeof n->peers[i].session);
    sodium_memzero(n->key, sizeof n->key);
    free(n->batch_buf);
    free(n->rx_slots);
    free(n->pfds);
    free(n->pconns);
    free(n->eps);
    free(n->chans);
    free(n->peers);
    free(n);
}

static const halo_transport_ops net_ops = {
    .attach = net_attach,
    .send = net_send,
    .schedule = net_schedule,
    .cancel = net_cancel,
    .now_ns = net_now,
    .charge = net_charge,
    .run = net_run,
    .destroy = net_destroy,
    .batch = net_batch,
    .arrived_ns = net_arrived,
    .rx_lost = net_rx_lost,
};

/* ==== Construction and extras ==== */

void halo_net_set_parity(halo_transport *t, int mode) {
    as_net(t)->parity = mode == HALO_NET_PARITY_ALWAYS || mode == HALO_NET_PARITY_ON_LOSS
                            ? mode
                            : HALO_NET_PARITY_OFF;
}

void halo_net_set_loss(halo_transport *t, double loss_rate, uint64_t delay_ns, uint64_t seed) {
    net *n = as_net(t);
    n->loss_rate = loss_rate > 0.0 && loss_rate < 1.0 ? loss_rate : 0.0;
    n->delay_ns = delay_ns;
    n->seed = seed;
    for (int i = 0; i < n->n_nodes; i++)
        halo_rng_init_stream(&n->peers[i].rng, seed, 0, (uint64_t)i, 0x6e6574 /* net */);
}

/* Parses the configured addresses and binds the local sockets. */
static int bind_endpoints(net *n, const halo_net_config *cfg, halo_err *err) {
    int rc = HALO_OK;
    for (int i = 0; rc == HALO_OK && cfg->addrs && i < n->n_nodes; i++)
        if (cfg->addrs[i])
            rc = halo_net_addr_parse(&n->peers[i].addr, cfg->addrs[i], err);
    halo_net_addr any;
    halo_net_addr_loopback(&any, 0);
    if (rc == HALO_OK && n->wildcard) {
        rc = halo_net_addr_parse(&any, cfg->listen, err);
        n->eps[0].node = -1;
        if (rc == HALO_OK)
            rc = open_endpoint(n, &n->eps[0], &any, err);
    }
    for (int i = 0, e = 0; rc == HALO_OK && !n->wildcard && i < n->n_nodes; i++) {
        if (!cfg->local[i])
            continue;
        peer *p = &n->peers[i];
        if (!p->addr.len)
            p->addr = any;
        n->eps[e].node = i;
        p->ep = e;
        rc = open_endpoint(n, &n->eps[e], &p->addr, err);
        halo_net_addr bound; /* the port the kernel chose for port 0 */
        if (rc == HALO_OK && halo_net_addr_sockname(&bound, n->eps[e].fd, NULL) == HALO_OK)
            p->addr = bound;
        e++;
    }
    return rc;
}

int halo_net_new(halo_transport **out, const halo_net_config *cfg, halo_err *err) {
    *out = NULL;
    if (cfg->kind != HALO_NET_KIND_UDP && cfg->kind != HALO_NET_KIND_TCP)
        return HALO_FAIL(err, HALO_ERR_ARG, "net: transport kind %d, expected udp or tcp",
                         cfg->kind);
    if (cfg->n_nodes < 1 || cfg->n_nodes > HALO_MAX_DEVICES)
        return HALO_FAIL(err, HALO_ERR_ARG, "net: %d nodes, expected 1..%d", cfg->n_nodes,
                         HALO_MAX_DEVICES);
    if (!cfg->key)
        return HALO_FAIL(err, HALO_ERR_ARG, "net: a cluster key is required");
    if (!(cfg->loss_rate >= 0.0 && cfg->loss_rate < 1.0))
        return HALO_FAIL(err, HALO_ERR_ARG, "net: loss rate %g not in [0, 1)", cfg->loss_rate);
    if (cfg->mtu_bytes && (cfg->mtu_bytes < MIN_DATAGRAM_BYTES || cfg->mtu_bytes > 65507))
        return HALO_FAIL(err, HALO_ERR_ARG, "net: MTU %zu bytes, expected 256..65507",
                         cfg->mtu_bytes);
    if (!cfg->listen && !cfg->local)
        return HALO_FAIL(err, HALO_ERR_ARG, "net: neither local nodes nor a listen address");
    if (sodium_init() < 0)
        return HALO_FAIL(err, HALO_ERR_IO, "net: libsodium failed to initialise");
    net *n = calloc(1, sizeof *n);
    if (!n)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "net: out of memory");
    n->base.ops = &net_ops;
    n->kind = cfg->kind;
    n->n_nodes = cfg->n_nodes;
    n->wildcard = cfg->listen != NULL;
    memcpy(n->key, cfg->key, HALO_NET_KEY_BYTES);
    n->mtu = cfg->mtu_bytes; /* 0: each peer's path MTU (peer_frag) */
    n->rto_ns = cfg->rto_ns ? cfg->rto_ns : 200000000ull;
    n->idle_timeout_ns = cfg->idle_timeout_ns;
    n->spin_ns = cfg->spin_ns;
    n->gso = n->kind == HALO_NET_KIND_UDP && !cfg->no_gso;
    n->require_session = cfg->require_session != 0;
    n->parity = cfg->parity == HALO_NET_PARITY_ALWAYS || cfg->parity == HALO_NET_PARITY_ON_LOSS
                    ? cfg->parity
                    : HALO_NET_PARITY_OFF;
    n->max_conns = cfg->max_conns > 0 ? cfg->max_conns : DEFAULT_MAX_CONNS;
    n->preauth_timeout_ns = cfg->preauth_timeout_ns ? cfg->preauth_timeout_ns : DEFAULT_PREAUTH_NS;
    n->t0_ns = mono_ns();
    n->peers = calloc((size_t)n->n_nodes, sizeof *n->peers);
    int n_eps = 0;
    for (int i = 0; !n->wildcard && i < n->n_nodes; i++)
        n_eps += cfg->local[i] != 0;
    n->n_eps = n->wildcard ? 1 : n_eps;
    n->eps = calloc((size_t)(n->n_eps ? n->n_eps : 1), sizeof *n->eps);
    n->chans = calloc((size_t)(n->n_eps ? n->n_eps : 1) * (size_t)n->n_nodes, sizeof *n->chans);
    int rc = n->peers && n->eps && n->chans ? halo_evq_new(&n->q, err)
                                            : HALO_FAIL(err, HALO_ERR_NOMEM, "net: out of memory");
    if (rc != HALO_OK) {
        free(n->peers);
        free(n->eps);
        free(n->chans);
        free(n);
        return rc;
    }
    for (int e = 0; e < n->n_eps; e++)
        n->eps[e].fd = -1;
    uint64_t seq0 = halo_net_wall_ns();
    for (int i = 0; i < n->n_nodes; i++)
        n->peers[i].ep = -1;
    for (size_t i = 0; i < (size_t)n->n_eps * (size_t)n->n_nodes; i++) {
        halo_net_replay_init(&n->chans[i].replay);
        halo_net_reasm_init(&n->chans[i].reasm);
        n->chans[i].next_seq = seq0;
    }
    halo_net_set_loss(&n->base, cfg->loss_rate, cfg->delay_ns, cfg->seed);
    rc = bind_endpoints(n, cfg, err);
    if (rc != HALO_OK) {
        net_destroy(&n->base);
        return rc;
    }
    *out = &n->base;
    return HALO_OK;
}

int halo_net_port(halo_transport *t, int node) {
    net *n = as_net(t);
    endpoint *ep = node < 0 ? (n->wildcard ? &n->eps[0] : NULL)
                            : (node < n->n_nodes && !n->wildcard ? ep_of(n, node) : NULL);
    halo_net_addr a;
    if (!ep || halo_net_addr_sockname(&a, ep->fd, NULL) != HALO_OK)
        return -1;
    return halo_net_addr_port(&a);
}

int halo_net_set_addr(halo_transport *t, int node, const char *addr, halo_err *err) {
    net *n = as_net(t);
    if (node < 0 || node >= n->n_nodes)
        return HALO_FAIL(err, HALO_ERR_ARG, "net: no node %d", node);
    return halo_net_addr_parse(&n->peers[node].addr, addr, err);
}

void halo_net_set_session(halo_transport *t, int node, const halo_net_session *s) {
    net *n = as_net(t);
    if (node < 0 || node >= n->n_nodes)
        return;
    peer *p = &n->peers[node];
    sodium_memzero(&p->session, sizeof p->session);
    p->has_session = s != NULL;
    if (s)
        p->session = *s;
}

void halo_net_set_control(halo_transport *t, halo_net_control_fn fn, void *ctx) {
    net *n = as_net(t);
    n->control = fn;
    n->control_ctx = ctx;
}

int halo_net_send_control(halo_transport *t, int src, int dst, const void *msg, size_t len,
                          halo_err *err) {
    return tx_message(as_net(t), HALO_NET_FRAME_CONTROL, src, dst, msg, len, err);
}

int halo_net_ping(halo_transport *t, int src, int dst, halo_err *err) {
    return tx_message(as_net(t), HALO_NET_FRAME_PING, src, dst, NULL, 0, err);
}

void halo_net_peer_rx(halo_transport *t, int node, uint64_t *frames, uint64_t *top_seq) {
    net *n = as_net(t);
    const chan *l = node >= 0 && node < n->n_nodes && n->n_eps > 0 ? chan_of(n, 0, node) : NULL;
    *frames = l ? l->rx_frames : 0;
    *top_seq = l && l->replay.have_seq ? l->replay.top_seq : 0;
}

uint64_t halo_net_last_heard_ns(halo_transport *t, int node) {
    net *n = as_net(t);
    return node >= 0 && node < n->n_nodes ? n->peers[node].last_heard_ns : 0;
}

uint64_t halo_net_refusals(halo_transport *t, int node) {
    net *n = as_net(t);
    return node >= 0 && node < n->n_nodes ? n->peers[node].refusals : 0;
}

void halo_net_get_stats(halo_transport *t, halo_net_stats *out) {
    *out = as_net(t)->stats;
}
