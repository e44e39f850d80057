// tcp_pingpong: kernel TCP request/response latency, the pattern of a tensor-parallel sync.
//
//   halo_tcp_pingpong server --listen ADDR:PORT [--conns N] [--accept-timeout-ms T]
//                            [--timeout-ms T] [--cc NAME] [--tcp-info] [--busy-us U]
//   halo_tcp_pingpong client --connect ADDR:PORT --size BYTES --count N [--interval-us U]
//                            [--warmup K] [--long-every N --long-us L] [--out FILE]
//                            [--connect-timeout-ms T] [--timeout-ms T] [--cc NAME] [--tcp-info]
//
// One persistent TCP connection, TCP_NODELAY on both ends, default socket buffers. The client
// sends SIZE bytes (the first 8 a big-endian sequence number), the server answers with SIZE
// bytes as soon as it holds the whole request, and the client records the round trip
// (CLOCK_MONOTONIC, ns), waits U microseconds and repeats. K warm-up exchanges come first
// and are not recorded. With --long-every N the pause before every Nth recorded exchange
// (sequence 0 after a warm-up, N, 2N, ...) lasts L microseconds instead: a long sleep, then
// short ones, so that exchanges can be told apart by how many short pauses ago the host last
// slept long. The samples are kept in memory and written at the end (CSV `size,seq,rtt_ns`
// with a header line) so that file I/O does not disturb the timing.
//
// --cc sets the socket's congestion control with TCP_CONGESTION (Linux), which also works
// for algorithms a network namespace may not make its default (EPERM for sysctl
// net.ipv4.tcp_congestion_control when the algorithm is not in tcp_allowed_congestion_control)
// as long as the caller has CAP_NET_ADMIN.
//
// Before the first exchange the client sends a 16-byte hello (magic "HALOTCP1", u32 size,
// u32 exchanges, big-endian) that the server echoes, so the server needs no size option.
//
// Nothing blocks forever: every send/recv has SO_SNDTIMEO/SO_RCVTIMEO (default 30 s), accept
// waits at most --accept-timeout-ms, connect is retried for at most --connect-timeout-ms.
// Exit status: 0 success, 1 network/protocol/IO error or timeout, 2 usage error.
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE // struct tcp_info in <netinet/tcp.h> (glibc)

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PP_MAGIC        "HALOTCP1"
#define PP_HELLO_LEN    16
#define PP_MIN_SIZE     8u
#define PP_MAX_SIZE     (64u * 1024u * 1024u)
#define PP_MAX_COUNT    10000000u
#define PP_MAX_WARMUP   1000000u
#define PP_MAX_CONNS    1000000u
#define PP_MAX_TIMEOUT  3600000u  // ms
#define PP_MAX_INTERVAL 60000000u // us

enum {
    EXIT_USAGE = 2
};

static const char *prog = "halo_tcp_pingpong";

static void usage(FILE *f) {
    fprintf(f,
            "usage:\n"
            "  %s server --listen ADDR:PORT [--conns N] [--accept-timeout-ms T]\n"
            "            [--timeout-ms T] [--cc NAME] [--tcp-info] [--busy-us U]\n"
            "  %s client --connect ADDR:PORT --size BYTES --count N [--interval-us U]\n"
            "            [--warmup K] [--long-every N --long-us L] [--out FILE]\n"
            "            [--connect-timeout-ms T] [--timeout-ms T] [--cc NAME] [--tcp-info]\n"
            "\n"
            "  --listen/--connect  IPv4 a.b.c.d:port or IPv6 [addr]:port\n"
            "  --size              message size in bytes, both directions (%u..%u)\n"
            "  --count             recorded exchanges (1..%u)\n"
            "  --warmup            unrecorded exchanges before them (default 0)\n"
            "  --interval-us       pause after each exchange (default 1000)\n"
            "  --long-every N      the pause before recorded exchanges 0, N, 2N, ... lasts\n"
            "  --long-us L         L us instead (both or neither; default: no long pauses)\n"
            "  --out               CSV size,seq,rtt_ns (default - = stdout)\n"
            "  --conns             server: connections to serve, one after another (default 1)\n"
            "  --busy-us           server: after each reply, do not read for U us (a peer that\n"
            "                      computes between exchanges; default 0)\n"
            "  --accept-timeout-ms server: give up when no client comes (default 60000)\n"
            "  --connect-timeout-ms client: keep retrying a refused connect (default 10000)\n"
            "  --timeout-ms        SO_RCVTIMEO/SO_SNDTIMEO of the connection (default 30000)\n"
            "  --cc NAME           congestion control of the socket (TCP_CONGESTION; default:\n"
            "                      the system's)\n"
            "  --tcp-info          print the connection's TCP_INFO to stderr at the end\n",
            prog, prog, PP_MIN_SIZE, PP_MAX_SIZE, PP_MAX_COUNT);
}

static int parse_u32(const char *opt, const char *s, uint32_t lo, uint32_t hi, uint32_t *out) {
    if (s == NULL || *s == '\0' || *s == '-' || *s == '+') {
        fprintf(stderr, "%s: %s needs a number\n", prog, opt);
        return -1;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "%s: %s: '%s' is not a number in %" PRIu32 "..%" PRIu32 "\n", prog, opt, s,
                lo, hi);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

// Resolves "a.b.c.d:port" or "[v6]:port" (numeric only) into a freshly allocated addrinfo.
static struct addrinfo *resolve(const char *spec, int passive) {
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || colon == spec || colon[1] == '\0') {
        fprintf(stderr, "%s: '%s' is not ADDR:PORT\n", prog, spec);
        return NULL;
    }
    size_t hlen = (size_t)(colon - spec);
    const char *h = spec;
    if (spec[0] == '[') {
        if (hlen < 2 || spec[hlen - 1] != ']') {
            fprintf(stderr, "%s: '%s': IPv6 needs [addr]:port\n", prog, spec);
            return NULL;
        }
        h = spec + 1;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof host) {
        fprintf(stderr, "%s: '%s': bad address\n", prog, spec);
        return NULL;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    uint32_t port = 0;
    if (parse_u32("port", colon + 1, 1, 65535, &port) != 0) {
        return NULL;
    }
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%" PRIu32, port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0 || res == NULL) {
        fprintf(stderr, "%s: '%s': %s\n", prog, spec, gai_strerror(rc));
        return NULL;
    }
    return res;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_us(uint32_t us) {
    struct timespec req = {.tv_sec = (time_t)(us / 1000000u),
                           .tv_nsec = (long)(us % 1000000u) * 1000L};
    struct timespec rem;
    // Bounded: each EINTR leaves strictly less to sleep; cap the retries anyway.
    for (int i = 0; i < 1000 && nanosleep(&req, &rem) != 0 && errno == EINTR; i++) {
        req = rem;
    }
}

// Big-endian fields of n bytes (4: the hello's, 8: sequence numbers).
static void put_be(unsigned char *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) {
        p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
    }
}

static uint64_t get_be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

// Reads exactly n bytes. 0 on success, -1 on error/timeout (message printed), -2 on EOF
// before the first byte (message not printed: the caller decides whether EOF is fine).
static int recv_full(int fd, unsigned char *buf, size_t n, const char *what) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r > 0) {
            got += (size_t)r;
        } else if (r == 0) {
            if (got == 0) {
                return -2;
            }
            fprintf(stderr, "%s: %s: connection closed after %zu of %zu bytes\n", prog, what, got,
                    n);
            return -1;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            fprintf(stderr, "%s: %s: timed out after %zu of %zu bytes\n", prog, what, got, n);
            return -1;
        } else {
            fprintf(stderr, "%s: %s: recv: %s\n", prog, what, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int send_full(int fd, const unsigned char *buf, size_t n, const char *what) {
    size_t sent = 0;
    while (sent < n) {
        ssize_t r = send(fd, buf + sent, n - sent, MSG_NOSIGNAL);
        if (r > 0) {
            sent += (size_t)r;
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            fprintf(stderr, "%s: %s: send timed out after %zu of %zu bytes\n", prog, what, sent, n);
            return -1;
        } else {
            fprintf(stderr, "%s: %s: send: %s\n", prog, what, r < 0 ? strerror(errno) : "0");
            return -1;
        }
    }
    return 0;
}

static int set_conn_options(int fd, uint32_t timeout_ms) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        fprintf(stderr, "%s: TCP_NODELAY: %s\n", prog, strerror(errno));
        return -1;
    }
    struct timeval tv = {.tv_sec = (time_t)(timeout_ms / 1000u),
                         .tv_usec = (suseconds_t)(timeout_ms % 1000u) * 1000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
        fprintf(stderr, "%s: SO_RCVTIMEO/SO_SNDTIMEO: %s\n", prog, strerror(errno));
        return -1;
    }
    return 0;
}

static int set_cc(int fd, const char *cc) {
    if (cc == NULL) {
        return 0;
    }
#if defined(__linux__) && defined(TCP_CONGESTION)
    if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, (socklen_t)strlen(cc)) != 0) {
        fprintf(stderr, "%s: TCP_CONGESTION %s: %s\n", prog, cc, strerror(errno));
        return -1;
    }
    return 0;
#else
    fprintf(stderr, "%s: --cc: TCP_CONGESTION is not available on this system\n", prog);
    return -1;
#endif
}

static void print_tcp_info(int fd, const char *role) {
#if defined(__linux__) && defined(TCP_INFO)
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) {
        fprintf(stderr, "%s: TCP_INFO: %s\n", prog, strerror(errno));
        return;
    }
    char cc[32] = "?";
#ifdef TCP_CONGESTION
    socklen_t cclen = sizeof cc - 1;
    if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &cclen) != 0) {
        strcpy(cc, "?");
    } else {
        cc[cclen < sizeof cc ? cclen : sizeof cc - 1] = '\0';
    }
#endif
    fprintf(stderr,
            "tcp_info role=%s cc=%s rtt_us=%" PRIu32 " rttvar_us=%" PRIu32 " rto_us=%" PRIu32
            " ato_us=%" PRIu32 " snd_mss=%" PRIu32 " rcv_mss=%" PRIu32 " snd_cwnd=%" PRIu32
            " snd_ssthresh=%" PRIu32 " total_retrans=%" PRIu32 " reordering=%" PRIu32 "\n",
            role, cc, (uint32_t)ti.tcpi_rtt, (uint32_t)ti.tcpi_rttvar, (uint32_t)ti.tcpi_rto,
            (uint32_t)ti.tcpi_ato, (uint32_t)ti.tcpi_snd_mss, (uint32_t)ti.tcpi_rcv_mss,
            (uint32_t)ti.tcpi_snd_cwnd, (uint32_t)ti.tcpi_snd_ssthresh,
            (uint32_t)ti.tcpi_total_retrans, (uint32_t)ti.tcpi_reordering);
#else
    (void)fd;
    fprintf(stderr, "%s: %s: TCP_INFO is not available on this system\n", prog, role);
#endif
}

// ---------------------------------------------------------------------------------- server

// Options of a connection, the same for both ends.
struct conn_opts {
    uint32_t timeout_ms; // SO_SNDTIMEO / SO_RCVTIMEO
    const char *cc;      // TCP_CONGESTION, or NULL
    int tcp_info;        // print TCP_INFO at the end
};

struct server_opts {
    const char *listen;
    uint32_t conns;
    uint32_t accept_timeout_ms;
    uint32_t busy_us; // after each reply, not reading for this long (a peer computing)
    struct conn_opts conn;
};

// Serves one connection: hello, then the announced number of exchanges, then EOF.
static int serve_conn(int fd, const struct server_opts *o) {
    if (set_conn_options(fd, o->conn.timeout_ms) != 0 || set_cc(fd, o->conn.cc) != 0) {
        return -1;
    }
    unsigned char hello[PP_HELLO_LEN];
    int rc = recv_full(fd, hello, sizeof hello, "hello");
    if (rc == -2) {
        fprintf(stderr, "%s: client closed before its hello\n", prog);
        return -1;
    }
    if (rc != 0) {
        return -1;
    }
    if (memcmp(hello, PP_MAGIC, 8) != 0) {
        fprintf(stderr, "%s: bad hello (not a %s client)\n", prog, prog);
        return -1;
    }
    uint32_t size = (uint32_t)get_be(hello + 8, 4);
    uint32_t total = (uint32_t)get_be(hello + 12, 4);
    if (size < PP_MIN_SIZE || size > PP_MAX_SIZE || total < 1 ||
        total > PP_MAX_COUNT + PP_MAX_WARMUP) {
        fprintf(stderr, "%s: hello out of range: size %" PRIu32 ", exchanges %" PRIu32 "\n", prog,
                size, total);
        return -1;
    }
    if (send_full(fd, hello, sizeof hello, "hello reply") != 0) {
        return -1;
    }
    unsigned char *buf = malloc(size);
    if (buf == NULL) {
        fprintf(stderr, "%s: out of memory (%" PRIu32 " bytes)\n", prog, size);
        return -1;
    }
    int ret = 0;
    for (uint32_t i = 0; i < total; i++) {
        rc = recv_full(fd, buf, size, "request");
        if (rc != 0) {
            if (rc == -2) {
                fprintf(stderr, "%s: client closed after %" PRIu32 " of %" PRIu32 " exchanges\n",
                        prog, i, total);
            }
            ret = -1;
            break;
        }
        uint64_t seq = get_be(buf, 8);
        if (seq != i) {
            fprintf(stderr, "%s: request %" PRIu32 " carries sequence %" PRIu64 "\n", prog, i, seq);
            ret = -1;
            break;
        }
        if (send_full(fd, buf, size, "reply") != 0) {
            ret = -1;
            break;
        }
        if (o->busy_us > 0) {
            sleep_us(o->busy_us);
        }
    }
    free(buf);
    if (ret == 0) {
        unsigned char extra;
        rc = recv_full(fd, &extra, 1, "end of stream");
        if (rc == 0) {
            fprintf(stderr, "%s: unexpected bytes after the last exchange\n", prog);
            ret = -1;
        } else if (rc == -1) {
            ret = -1;
        }
    }
    if (o->conn.tcp_info) {
        print_tcp_info(fd, "server");
    }
    return ret;
}

static int run_server(const struct server_opts *o) {
    struct addrinfo *ai = resolve(o->listen, 1);
    if (ai == NULL) {
        return EXIT_USAGE;
    }
    int lfd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (lfd < 0) {
        fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
        freeaddrinfo(ai);
        return EXIT_FAILURE;
    }
    if (set_cc(lfd, o->conn.cc) != 0) {
        freeaddrinfo(ai);
        close(lfd);
        return EXIT_FAILURE;
    }
    int one = 1;
    if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(lfd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(lfd, 4) != 0) {
        fprintf(stderr, "%s: listen on %s: %s\n", prog, o->listen, strerror(errno));
        freeaddrinfo(ai);
        close(lfd);
        return EXIT_FAILURE;
    }
    freeaddrinfo(ai);
    int status = EXIT_SUCCESS;
    for (uint32_t c = 0; c < o->conns; c++) {
        struct pollfd pfd = {.fd = lfd, .events = POLLIN, .revents = 0};
        int pr;
        int tries = 0;
        do {
            pr =
                poll(&pfd, 1, o->accept_timeout_ms > INT_MAX ? INT_MAX : (int)o->accept_timeout_ms);
        } while (pr < 0 && errno == EINTR && ++tries < 1000);
        if (pr == 0) {
            fprintf(stderr, "%s: no client within %" PRIu32 " ms\n", prog, o->accept_timeout_ms);
            status = EXIT_FAILURE;
            break;
        }
        if (pr < 0) {
            fprintf(stderr, "%s: poll: %s\n", prog, strerror(errno));
            status = EXIT_FAILURE;
            break;
        }
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            fprintf(stderr, "%s: accept: %s\n", prog, strerror(errno));
            status = EXIT_FAILURE;
            break;
        }
        int rc = serve_conn(fd, o);
        close(fd);
        if (rc != 0) {
            status = EXIT_FAILURE;
            break;
        }
    }
    close(lfd);
    return status;
}

// ---------------------------------------------------------------------------------- client

struct client_opts {
    const char *connect;
    const char *out;
    uint32_t size;
    uint32_t count;
    uint32_t warmup;
    uint32_t interval_us;
    uint32_t long_every; // 0: every pause is interval_us
    uint32_t long_us;
    uint32_t connect_timeout_ms;
    struct conn_opts conn;
};

// Connects, retrying while the server is not listening yet (refused/unreachable).
static int connect_retry(const struct client_opts *o) {
    struct addrinfo *ai = resolve(o->connect, 0);
    if (ai == NULL) {
        return -2;
    }
    int64_t deadline = now_ns() + (int64_t)o->connect_timeout_ms * 1000000;
    int fd = -1;
    for (;;) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
            break;
        }
        // A timeout for connect itself too (Linux honours SO_SNDTIMEO there).
        if (set_conn_options(fd, o->conn.timeout_ms) != 0 || set_cc(fd, o->conn.cc) != 0) {
            close(fd);
            fd = -1;
            break;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        int e = errno;
        close(fd);
        fd = -1;
        int retry = e == ECONNREFUSED || e == ENETUNREACH || e == EHOSTUNREACH || e == EINTR;
        if (!retry || now_ns() >= deadline) {
            fprintf(stderr, "%s: connect to %s: %s\n", prog, o->connect, strerror(e));
            break;
        }
        sleep_us(20000);
    }
    freeaddrinfo(ai);
    return fd;
}

static int write_csv(const struct client_opts *o, const int64_t *rtt) {
    int to_stdout = strcmp(o->out, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(o->out, "w");
    if (f == NULL) {
        fprintf(stderr, "%s: %s: %s\n", prog, o->out, strerror(errno));
        return -1;
    }
    fprintf(f, "size,seq,rtt_ns\n");
    for (uint32_t i = 0; i < o->count; i++) {
        fprintf(f, "%" PRIu32 ",%" PRIu32 ",%" PRId64 "\n", o->size, i, rtt[i]);
    }
    int bad = ferror(f);
    if (to_stdout) {
        bad |= fflush(f) != 0;
    } else {
        bad |= fclose(f) != 0;
    }
    if (bad) {
        fprintf(stderr, "%s: writing %s failed\n", prog, o->out);
        return -1;
    }
    return 0;
}

// Hello, then warm-up and recorded exchanges on connected fd. 0 on success.
static int client_session(int fd, const struct client_opts *o, int64_t *rtt, unsigned char *req,
                          unsigned char *rep) {
    unsigned char hello[PP_HELLO_LEN];
    unsigned char echo[PP_HELLO_LEN];
    uint32_t total = o->warmup + o->count;
    memcpy(hello, PP_MAGIC, 8);
    put_be(hello + 8, o->size, 4);
    put_be(hello + 12, total, 4);
    if (send_full(fd, hello, sizeof hello, "hello") != 0) {
        return -1;
    }
    int rc = recv_full(fd, echo, sizeof echo, "hello reply");
    if (rc != 0 || memcmp(hello, echo, sizeof hello) != 0) {
        if (rc != -1) {
            fprintf(stderr, "%s: server did not echo the hello\n", prog);
        }
        return -1;
    }
    for (uint32_t i = 0; i < total; i++) {
        put_be(req, i, 8);
        int64_t t0 = now_ns();
        if (send_full(fd, req, o->size, "request") != 0) {
            return -1;
        }
        rc = recv_full(fd, rep, o->size, "reply");
        int64_t t1 = now_ns();
        if (rc != 0) {
            if (rc == -2) {
                fprintf(stderr, "%s: server closed before reply %" PRIu32 "\n", prog, i);
            }
            return -1;
        }
        if (get_be(rep, 8) != i) {
            fprintf(stderr, "%s: reply %" PRIu32 " carries sequence %" PRIu64 "\n", prog, i,
                    get_be(rep, 8));
            return -1;
        }
        if (i >= o->warmup) {
            rtt[i - o->warmup] = t1 - t0;
        }
        if (i + 1 < total) {
            // the pause before exchange i + 1, recorded as sequence i + 1 - warmup
            uint32_t pause = o->interval_us;
            if (o->long_every > 0 && i + 1 >= o->warmup &&
                (i + 1 - o->warmup) % o->long_every == 0) {
                pause = o->long_us;
            }
            if (pause > 0) {
                sleep_us(pause);
            }
        }
    }
    if (o->conn.tcp_info) {
        print_tcp_info(fd, "client");
    }
    return 0;
}

static int run_client(const struct client_opts *o) {
    int64_t *rtt = calloc(o->count, sizeof *rtt);
    unsigned char *req = malloc(o->size);
    unsigned char *rep = malloc(o->size);
    int status = EXIT_FAILURE;
    if (rtt == NULL || req == NULL || rep == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
    } else {
        for (uint32_t i = 0; i < o->size; i++) {
            req[i] = (unsigned char)(i * 131u + 7u);
        }
        int fd = connect_retry(o);
        if (fd == -2) {
            status = EXIT_USAGE;
        } else if (fd >= 0) {
            int rc = client_session(fd, o, rtt, req, rep);
            close(fd);
            if (rc == 0 && write_csv(o, rtt) == 0) {
                status = EXIT_SUCCESS;
            }
        }
    }
    free(rtt);
    free(req);
    free(rep);
    return status;
}

// ------------------------------------------------------------------------------------ main

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return EXIT_SUCCESS;
    }
    int is_server = strcmp(argv[1], "server") == 0;
    if (!is_server && strcmp(argv[1], "client") != 0) {
        fprintf(stderr, "%s: unknown mode '%s' (server or client)\n", prog, argv[1]);
        usage(stderr);
        return EXIT_USAGE;
    }
    struct conn_opts conn = {.timeout_ms = 30000};
    struct server_opts so = {.conns = 1, .accept_timeout_ms = 60000};
    struct client_opts co = {.out = "-", .interval_us = 1000, .connect_timeout_ms = 10000};
    int have_long_us = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = 0;
        int takes_value = 1;
        if (strcmp(a, "--tcp-info") == 0) {
            conn.tcp_info = 1;
            takes_value = 0;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return EXIT_SUCCESS;
        } else if (v == NULL) {
            fprintf(stderr, "%s: %s needs a value (or is unknown)\n", prog, a);
            return EXIT_USAGE;
        } else if (strcmp(a, "--cc") == 0) {
            conn.cc = v;
        } else if (strcmp(a, "--timeout-ms") == 0) {
            r = parse_u32(a, v, 1, PP_MAX_TIMEOUT, &conn.timeout_ms);
        } else if (is_server && strcmp(a, "--listen") == 0) {
            so.listen = v;
        } else if (is_server && strcmp(a, "--busy-us") == 0) {
            r = parse_u32(a, v, 0, 10000000, &so.busy_us);
        } else if (is_server && strcmp(a, "--conns") == 0) {
            r = parse_u32(a, v, 1, PP_MAX_CONNS, &so.conns);
        } else if (is_server && strcmp(a, "--accept-timeout-ms") == 0) {
            r = parse_u32(a, v, 1, PP_MAX_TIMEOUT, &so.accept_timeout_ms);
        } else if (!is_server && strcmp(a, "--connect") == 0) {
            co.connect = v;
        } else if (!is_server && strcmp(a, "--out") == 0) {
            co.out = v;
        } else if (!is_server && strcmp(a, "--size") == 0) {
            r = parse_u32(a, v, PP_MIN_SIZE, PP_MAX_SIZE, &co.size);
        } else if (!is_server && strcmp(a, "--count") == 0) {
            r = parse_u32(a, v, 1, PP_MAX_COUNT, &co.count);
        } else if (!is_server && strcmp(a, "--warmup") == 0) {
            r = parse_u32(a, v, 0, PP_MAX_WARMUP, &co.warmup);
        } else if (!is_server && strcmp(a, "--interval-us") == 0) {
            r = parse_u32(a, v, 0, PP_MAX_INTERVAL, &co.interval_us);
        } else if (!is_server && strcmp(a, "--long-every") == 0) {
            r = parse_u32(a, v, 1, PP_MAX_COUNT, &co.long_every);
        } else if (!is_server && strcmp(a, "--long-us") == 0) {
            r = parse_u32(a, v, 0, PP_MAX_INTERVAL, &co.long_us);
            have_long_us = 1;
        } else if (!is_server && strcmp(a, "--connect-timeout-ms") == 0) {
            r = parse_u32(a, v, 0, PP_MAX_TIMEOUT, &co.connect_timeout_ms);
        } else {
            fprintf(stderr, "%s: unknown option '%s' for %s\n", prog, a, argv[1]);
            return EXIT_USAGE;
        }
        if (r != 0) {
            return EXIT_USAGE;
        }
        i += takes_value;
    }
    signal(SIGPIPE, SIG_IGN);
    so.conn = co.conn = conn;
    if (is_server) {
        if (so.listen == NULL) {
            fprintf(stderr, "%s: server needs --listen ADDR:PORT\n", prog);
            return EXIT_USAGE;
        }
        return run_server(&so);
    }
    if (co.connect == NULL || co.size == 0 || co.count == 0) {
        fprintf(stderr, "%s: client needs --connect ADDR:PORT --size BYTES --count N\n", prog);
        return EXIT_USAGE;
    }
    if ((co.long_every > 0) != have_long_us) {
        fprintf(stderr, "%s: --long-every and --long-us go together\n", prog);
        return EXIT_USAGE;
    }
    return run_client(&co);
}
