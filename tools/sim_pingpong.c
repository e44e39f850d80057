/*
 * halo_sim_pingpong: the request/response exchange of tools/tcp_pingpong.c, run over the
 * simulator's stream (TCP) model instead of kernel TCP, with the same output format
 * (`size,loss,seq,rtt_ns`), so tools/compare-tcp-model.sh can set the model beside the
 * kernel measured in network namespaces.
 *
 * World: two nodes joined by a veth-like path (10 Gb/s, 7 us per hop), loss drawn
 * independently on each node's incoming link (the kernel measurement drops on INPUT in
 * both namespaces), Linux TCP defaults. The client sends SIZE bytes, the server answers
 * with SIZE bytes once it holds the whole request, the client records the round trip and
 * waits the interval before the next exchange.
 *
 * --engine ns3 runs the same world on ns-3 (sim/ns3/, Linux-like TCP settings) instead of the
 * in-tree engine; --delivery datagram sends the request and the response as datagrams, and
 * an exchange whose request or response is lost is given up after --timeout-us and printed
 * with rtt_ns -1 (the delivery-ratio comparison of tools/compare-ns3.sh); --gilbert draws
 * Gilbert-Elliott bursts instead of Bernoulli loss; --stats prints the transport's counters
 * (both nodes summed, warm-up included: packets lost, segments retransmitted, timeouts, tail
 * loss probes, D-SACKs received) as one `# stats ...` line on stderr, to set beside the kernel's
 * counters;
 * --trace FILE writes the in-tree world's trace-event JSON (sim/trace.h: sends, receives,
 * packets lost, retransmissions, timeouts, probes; at most 4 million events, the earliest kept)
 * for one exchange's story; --ns3-rack-stand-in 0 turns off the ns-3 backend's RACK stand-in
 * (sim/ns3/ns3_shim.h);
 * --host gives both devices' host costs (a device profile's send_us, recv_us, copy_ns_per_kb
 * and, optionally, recv_jitter_us, then cold_wake_us and cold_wake_ms together:
 * tools/fit-kernel-tcp.sh fits them on the kernel's loss-free cells).
 */
#define _POSIX_C_SOURCE 200809L

#include "core/engine.h"
#include "sim/ns3/ns3_shim.h"
#include "sim/sim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pp {
    halo_transport *t;
    size_t size;
    long warmup, count, done;
    uint64_t interval_ns, sent_at;
    uint64_t timeout_ns; /* datagram: give up an exchange after this (0: never) */
    uint64_t timer;      /* its timer */
    int timer_on;
    int64_t *rtt; /* -1: lost */
    unsigned char *buf;
    int failed;
} pp;

static void on_timeout(void *arg);

static void send_request(void *arg) {
    pp *p = arg;
    p->sent_at = p->t->ops->now_ns(p->t, 0);
    p->buf[0] = (unsigned char)p->done; /* a late response to an earlier exchange is ignored */
    if (p->t->ops->send(p->t, 0, 1, p->buf, p->size, NULL) != HALO_OK)
        p->failed = 1;
    p->timer_on = 0;
    if (p->timeout_ns) {
        if (p->t->ops->schedule(p->t, 0, p->timeout_ns, on_timeout, p, &p->timer, NULL) != HALO_OK)
            p->failed = 1;
        p->timer_on = 1;
    }
}

/* Records exchange p->done (rtt, or -1 when lost) and starts the next one. */
static void complete(pp *p, int64_t rtt) {
    if (p->done >= p->warmup)
        p->rtt[p->done - p->warmup] = rtt;
    p->done++;
    if (p->done < p->warmup + p->count &&
        p->t->ops->schedule(p->t, 0, p->interval_ns, send_request, p, NULL, NULL) != HALO_OK)
        p->failed = 1;
}

static void on_timeout(void *arg) {
    pp *p = arg;
    p->timer_on = 0;
    complete(p, -1);
}

static void on_server(void *ctx, int src, const void *msg, size_t len) {
    pp *p = ctx;
    (void)src;
    if (p->t->ops->send(p->t, 1, 0, msg, len, NULL) != HALO_OK)
        p->failed = 1;
}

static void on_client(void *ctx, int src, const void *msg, size_t len) {
    pp *p = ctx;
    (void)src;
    if (len < 1 || ((const unsigned char *)msg)[0] != (unsigned char)p->done)
        return; /* the response to an exchange already given up */
    if (p->timeout_ns && !p->timer_on)
        return;
    if (p->timer_on) {
        (void)p->t->ops->cancel(p->t, p->timer);
        p->timer_on = 0;
    }
    complete(p, (int64_t)(p->t->ops->now_ns(p->t, 0) - p->sent_at));
}

static int finished(void *arg) {
    const pp *p = arg;
    return p->failed || p->done >= p->warmup + p->count;
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || !(v >= lo && v <= hi)) {
        (void)fprintf(stderr, "halo_sim_pingpong: %s: '%s' is not a number in %g..%g\n", opt, s, lo,
                      hi);
        return -1;
    }
    *out = v;
    return 0;
}

static void usage(void) {
    (void)fprintf(
        stderr,
        "usage: halo_sim_pingpong --size BYTES --loss P [--count N] "
        "[--warmup K] [--interval-us U] [--seed S] [--run R] [--header]\n"
        "       [--engine sim|ns3] [--delivery stream|datagram] "
        "[--timeout-us U]\n"
        "       [--gilbert P_GB,P_BG,LOSS_GOOD,LOSS_BAD]  (Gilbert-Elliott "
        "bursts instead of\n        Bernoulli --loss; --loss then only labels "
        "the output)\n"
        "       [--host SEND_US,RECV_US,COPY_NS_PER_KB[,RECV_JITTER_US[,COLD_US,COLD_MS]]]\n"
        "       [--link GBPS,LATENCY_US] [--trace FILE]  (the in-tree engine's trace-event "
        "JSON)\n"
        "       [--tcp KEY=VALUE ...]  (TCP settings as in a scenario's "
        "engine.tcp: rto_min_ms,\n        delack_ms, tlp, quickack_segments, "
        "...)\n");
}

typedef struct opts {
    double size, loss, count, warmup, interval_us, seed, run, timeout_us;
    double gilbert[4]; /* p_good_bad, p_bad_good, loss_good, loss_bad */
    int use_gilbert;
    int stats;         /* --stats: the transport's counters on stderr */
    const char *trace; /* --trace FILE: the in-tree world's trace (NULL: none) */
    int rack_stand_in; /* --ns3-rack-stand-in 0|1 (halo_ns3_settings; default 1) */
    int header, ns3, delivery;
    halo_engine_config engine; /* --tcp KEY=VALUE: the TCP settings, as engine.tcp.KEY */
    double host[6]; /* --host SEND_US,RECV_US,COPY_NS_PER_KB[,RECV_JITTER_US[,COLD_US,COLD_MS]] */
    double link[2]; /* --link GBPS,LATENCY_US */
} opts;

static int bad_usage(void) {
    usage();
    return -1;
}

/* Parses the command line into *o; returns 0, or -1 after printing the usage. */
static int parse_args(int argc, char **argv, opts *o) {
    *o = (opts){.loss = -1,
                .count = 2000,
                .warmup = 20,
                .interval_us = 1000,
                .seed = 1,
                .timeout_us = 100000,
                .delivery = HALO_DELIVERY_STREAM,
                .link = {10, 7}};
    halo_engine_config_init(&o->engine);
    o->rack_stand_in = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        double *dst = NULL, lo = 0, hi = 0;
        if (strcmp(a, "--header") == 0) {
            o->header = 1;
            continue;
        } else if (strcmp(a, "--stats") == 0) {
            o->stats = 1;
            continue;
        } else if (strcmp(a, "--trace") == 0 && i + 1 < argc) {
            o->trace = argv[++i];
            continue;
        } else if (strcmp(a, "--ns3-rack-stand-in") == 0 && i + 1 < argc) {
            o->rack_stand_in = strcmp(argv[++i], "1") == 0;
            if (!o->rack_stand_in && strcmp(argv[i], "0") != 0)
                return bad_usage();
            continue;
        } else if (strcmp(a, "--engine") == 0 && i + 1 < argc) {
            o->ns3 = strcmp(argv[++i], "ns3") == 0;
            if (!o->ns3 && strcmp(argv[i], "sim") != 0)
                return bad_usage();
            continue;
        } else if (strcmp(a, "--delivery") == 0 && i + 1 < argc) {
            o->delivery =
                strcmp(argv[++i], "datagram") == 0 ? HALO_DELIVERY_DATAGRAM : HALO_DELIVERY_STREAM;
            if (o->delivery == HALO_DELIVERY_STREAM && strcmp(argv[i], "stream") != 0)
                return bad_usage();
            continue;
        } else if (strcmp(a, "--tcp") == 0 && i + 1 < argc) {
            char key[64], *eq = strchr(argv[++i], '=');
            halo_err e = {0};
            if (!eq || (size_t)(eq - argv[i]) + 5 > sizeof key)
                return bad_usage();
            (void)snprintf(key, sizeof key, "tcp.%.*s", (int)(eq - argv[i]), argv[i]);
            if (halo_engine_set(&o->engine, key, eq + 1, &e) != HALO_OK) {
                (void)fprintf(stderr, "halo_sim_pingpong: --tcp %s: %s\n", argv[i], e.msg);
                return -1;
            }
            continue;
        } else if ((strcmp(a, "--host") == 0 || strcmp(a, "--link") == 0) && i + 1 < argc) {
            /* --host: 3 values, an optional 4th, and a 5th and 6th together; --link: 2 */
            int host = strcmp(a, "--host") == 0, need = host ? 3 : 2, most = host ? 6 : 2;
            double *vals = host ? o->host : o->link;
            char *end = argv[++i];
            int k = 0;
            for (;;) {
                const char *start = end;
                vals[k] = strtod(start, &end);
                if (end == start || !(vals[k] >= 0) || !(vals[k] < 1e9))
                    return bad_usage();
                k++;
                if (*end == '\0')
                    break;
                if (*end != ',' || k == most)
                    return bad_usage();
                end++;
            }
            if (k < need || (host && k == 5))
                return bad_usage();
            continue;
        } else if (strcmp(a, "--gilbert") == 0 && i + 1 < argc) {
            char *end = argv[++i];
            for (int k = 0; k < 4; k++) {
                const char *start = end;
                o->gilbert[k] = strtod(start, &end);
                if (end == start || !(o->gilbert[k] >= 0 && o->gilbert[k] <= 1) ||
                    *end != (k < 3 ? ',' : '\0'))
                    return bad_usage();
                end += k < 3;
            }
            o->use_gilbert = 1;
            continue;
        } else if (strcmp(a, "--run") == 0) {
            dst = &o->run, lo = 0, hi = 1e9;
        } else if (strcmp(a, "--timeout-us") == 0) {
            dst = &o->timeout_us, lo = 1, hi = 1e9;
        } else if (strcmp(a, "--size") == 0) {
            dst = &o->size, lo = 1, hi = 1 << 24;
        } else if (strcmp(a, "--loss") == 0) {
            dst = &o->loss, lo = 0, hi = 0.99;
        } else if (strcmp(a, "--count") == 0) {
            dst = &o->count, lo = 1, hi = 1e7;
        } else if (strcmp(a, "--warmup") == 0) {
            dst = &o->warmup, lo = 0, hi = 1e6;
        } else if (strcmp(a, "--interval-us") == 0) {
            dst = &o->interval_us, lo = 0, hi = 1e9;
        } else if (strcmp(a, "--seed") == 0) {
            dst = &o->seed, lo = 0, hi = 1e15;
        } else {
            return bad_usage();
        }
        if (i + 1 >= argc || parse_num(a, argv[++i], lo, hi, dst) != 0)
            return bad_usage();
    }
    if (o->trace && o->ns3) {
        (void)fprintf(stderr, "halo_sim_pingpong: --trace: the in-tree engine only\n");
        return -1;
    }
    return o->size >= 1 && o->loss >= 0 ? 0 : bad_usage();
}

int main(int argc, char **argv) {
    opts o;
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    double size = o.size, loss = o.loss;
    int header = o.header, ns3 = o.ns3, delivery = o.delivery;
    halo_device_profile dev[2];
    for (int i = 0; i < 2; i++)
        dev[i] = (halo_device_profile){.flops_per_s = 1e12,
                                       .mem_bw_bps = 1e12,
                                       .send_ns = (uint64_t)llround(o.host[0] * 1e3),
                                       .recv_ns = (uint64_t)llround(o.host[1] * 1e3),
                                       .copy_ns_per_kb = o.host[2],
                                       .recv_jitter_ns = (uint64_t)llround(o.host[3] * 1e3),
                                       .cold_wake_ns = (uint64_t)llround(o.host[4] * 1e3),
                                       .cold_tau_ns = (uint64_t)llround(o.host[5] * 1e6)};
    halo_link_spec veth = {.bandwidth_bps = o.link[0] * 1e9,
                           .latency_ns = (uint64_t)llround(o.link[1] * 1e3),
                           .mtu_bytes = 1500,
                           .header_bytes = 66};
    halo_link_spec up[2] = {veth, veth}, down[2] = {veth, veth};
    for (int i = 0; i < 2; i++)
        down[i].loss = o.use_gilbert ? (halo_loss_spec){.model = HALO_LOSS_GILBERT,
                                                        .p_good_bad = o.gilbert[0],
                                                        .p_bad_good = o.gilbert[1],
                                                        .loss_good = o.gilbert[2],
                                                        .loss_bad = o.gilbert[3]}
                                     : (halo_loss_spec){.model = HALO_LOSS_BERNOULLI, .p = loss};
    halo_sim_config cfg = {.n_nodes = 2,
                           .devices = dev,
                           .uplink = up,
                           .downlink = down,
                           .delivery = delivery,
                           .seed = (uint64_t)o.seed,
                           .run = (uint64_t)o.run,
                           .trace_max_events = o.trace ? 4000000 : 0};
    cfg.tcp = o.engine.tcp; /* Linux-like, with any --tcp settings */
    halo_err err = {0};
    halo_ns3_settings ns3_settings;
    halo_ns3_settings_linux(&ns3_settings);
    ns3_settings.rack_stand_in = o.rack_stand_in;
    pp p = {.size = (size_t)size,
            .warmup = (long)o.warmup,
            .count = (long)o.count,
            .interval_ns = (uint64_t)(o.interval_us * 1e3),
            .timeout_ns = delivery == HALO_DELIVERY_DATAGRAM ? (uint64_t)(o.timeout_us * 1e3) : 0};
    p.rtt = calloc((size_t)p.count, sizeof *p.rtt);
    p.buf = calloc(1, p.size);
    int rc = !p.rtt || !p.buf ? HALO_FAIL(&err, HALO_ERR_NOMEM, "out of memory")
             : ns3            ? halo_ns3_new(&p.t, &cfg, &ns3_settings, &err)
                              : halo_sim_new(&p.t, &cfg, &err);
    if (rc == HALO_OK && !p.t)
        rc = HALO_FAIL(&err, HALO_ERR_NOMEM, "no world");
    if (rc == HALO_OK)
        rc = p.t->ops->attach(p.t, 1, on_server, &p, &err);
    if (rc == HALO_OK)
        rc = p.t->ops->attach(p.t, 0, on_client, &p, &err);
    if (rc == HALO_OK) {
        send_request(&p);
        rc = p.t->ops->run(p.t, finished, &p, &err);
    }
    if (rc == HALO_OK && p.failed)
        rc = HALO_FAIL(&err, HALO_ERR_NOMEM, "a send failed");
    if (rc == HALO_OK && o.trace) {
        const char *const names[2] = {"client", "server"};
        rc = halo_sim_trace_write(p.t, o.trace, names, &err);
    }
    if (rc == HALO_OK && o.stats) {
        halo_sim_node_stats st[2];
        for (int i = 0; i < 2; i++) {
            if (ns3)
                halo_ns3_get_stats(p.t, i, &st[i]);
            else
                halo_sim_get_stats(p.t, i, &st[i]);
        }
        (void)fprintf(stderr,
                      "# stats size %zu loss %g: packets %llu lost %llu retransmits %llu "
                      "timeouts %llu probes %llu dsacks %llu\n",
                      p.size, loss, (unsigned long long)(st[0].packets_sent + st[1].packets_sent),
                      (unsigned long long)(st[0].packets_lost + st[1].packets_lost),
                      (unsigned long long)(st[0].retransmits + st[1].retransmits),
                      (unsigned long long)(st[0].timeouts + st[1].timeouts),
                      (unsigned long long)(st[0].probes + st[1].probes),
                      (unsigned long long)(st[0].dsacks + st[1].dsacks));
    }
    if (rc == HALO_OK) {
        if (header)
            (void)printf("size,loss,seq,rtt_ns\n");
        for (long i = 0; i < p.count; i++)
            (void)printf("%zu,%g,%ld,%lld\n", p.size, loss, i, (long long)p.rtt[i]);
    } else {
        (void)fprintf(stderr, "halo_sim_pingpong: %s\n", err.msg);
    }
    halo_transport_free(p.t);
    free(p.rtt);
    free(p.buf);
    return rc == HALO_OK ? 0 : 1;
}
