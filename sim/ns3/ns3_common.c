/*
 * The parts of the ns-3 backend that need no ns-3: default settings, the Linux timer mapping
 * (halo_ns3_tcp_timing) and the JSON record of every setting. Built in every configuration,
 * with the C++ shim or with the stub.
 */
#include "sim/ns3/ns3_shim.h"

#include <stdio.h>
#include <string.h>

void halo_ns3_settings_linux(halo_ns3_settings *s) {
    memset(s, 0, sizeof *s);
    (void)snprintf(s->congestion, sizeof s->congestion, "%s", "cubic");
    (void)snprintf(s->recovery, sizeof s->recovery, "%s", "prr");
    s->segment_bytes = 0;
    s->sndbuf_bytes = 1u << 20;
    s->rcvbuf_bytes = 1u << 20;
    s->delack_count = 2;
    s->sack = 1;
    /* Off: ns-3 3.37 echoes a peer's timestamp only if the segment's sequence number is at or
     * below the highest ACK it sent (RFC 7323's Last.ACK.sent), but it records that ACK only
     * for pure ACKs (TcpSocketBase::SendEmptyPacket), not for ACKs carried on data. In a
     * request/response exchange every ACK rides on data, so the echoed timestamp stops
     * advancing, every RTT sample is the connection's age and the RTO grows without bound (1 kB
     * at 5% loss: a mean of 141 s per exchange). Without the option, Karn's rule gives clean
     * samples; the shim pads TCP segments by the option's 12 bytes so the wire size is Linux's
     * (which runs with timestamps on). */
    s->timestamps = 0;
    s->rack_stand_in = 1;
    s->tick_ns = 4000000;
    s->queue_packets = 100000;
}

static uint64_t round_up(uint64_t v, uint64_t tick) {
    return (v + tick - 1) / tick * tick;
}

void halo_ns3_tcp_timing(const halo_tcp_config *tcp, const halo_ns3_settings *s,
                         halo_ns3_timing *out) {
    uint64_t tick = s->tick_ns > 0 ? s->tick_ns : 1;
    uint64_t rto_min = round_up(tcp->rto_min_ns > 0 ? tcp->rto_min_ns : 1, tick);
    /* Linux >= 6.7, tcp_delack_max(): min(delack max, max(rto_min, 2 jiffies) - 1 jiffy) */
    uint64_t cap = (rto_min > 2 * tick ? rto_min : 2 * tick) - tick;
    out->rto_min_ns = rto_min;
    out->min_rto_ns = rto_min + tick;
    out->granularity_ns = rto_min;
    out->delack_ns = tcp->delack_ns < cap ? tcp->delack_ns : cap;
    out->conn_timeout_ns = tcp->rto_init_ns;
}

int halo_ns3_retx_threshold(const halo_tcp_config *tcp, const halo_ns3_settings *s) {
    return s->rack_stand_in ? 1 : tcp->dupack_threshold;
}

int halo_ns3_settings_json(const halo_sim_config *cfg, const halo_ns3_settings *ns3, char *buf,
                           size_t cap) {
    halo_ns3_settings def;
    if (!ns3) {
        halo_ns3_settings_linux(&def);
        ns3 = &def;
    }
    int mtu = cfg->n_nodes > 0 && cfg->uplink ? cfg->uplink[0].mtu_bytes : 1500;
    int seg = ns3->segment_bytes > 0 ? ns3->segment_bytes : mtu - 52;
    uint64_t qb = cfg->n_nodes > 0 && cfg->uplink ? cfg->uplink[0].queue_bytes : 0;
    halo_ns3_timing tm;
    halo_ns3_tcp_timing(&cfg->tcp, ns3, &tm);
    const char *t = "true", *f = "false";
    int n = snprintf(
        buf, cap,
        "{\"engine\": \"ns3\", \"ns3_version\": \"%s\", \"tcp\": {\"congestion\": \"%s\", "
        "\"recovery\": \"%s\", \"segment_bytes\": %d, \"init_cwnd\": %d, \"min_rto_ms\": %.3f, "
        "\"delack_ms\": %.3f, \"init_rto_ms\": %.3f, \"dupack_threshold\": %d, "
        "\"tick_ms\": %.3f, \"rto\": \"srtt + max(rto_min, 4 rttvar), rounded up to the tick "
        "(Linux)\", \"ns3_attributes\": {\"MinRto_ms\": %.3f, \"ClockGranularity_ms\": %.3f, "
        "\"DelAckTimeout_ms\": %.3f, \"DelAckCount\": %d, \"ReTxThreshold\": %d, "
        "\"InitialCwnd\": %d, \"SegmentSize\": %d, \"ConnTimeout_ms\": %.3f, \"Sack\": %s, "
        "\"Timestamp\": %s, \"LimitedTransmit\": true, \"TcpNoDelay\": true, "
        "\"DataRetries\": 15, \"SndBufSize\": %llu, \"RcvBufSize\": %llu}, "
        "\"max_rto_ms\": 60000, \"tail_loss_probes\": false, \"rack\": false, "
        "\"rack_stand_in\": %s, \"frto\": false, "
        "\"quickack\": false, \"connections\": \"one per node pair, established before "
        "t=0\"}, \"queue\": {\"kind\": \"device DropTail, no queue disc\", \"limit\": \"%s\", "
        "\"limit_value\": %llu}}",
        halo_ns3_version(), ns3->congestion, ns3->recovery, seg, cfg->tcp.init_cwnd,
        (double)cfg->tcp.rto_min_ns / 1e6, (double)cfg->tcp.delack_ns / 1e6,
        (double)cfg->tcp.rto_init_ns / 1e6, cfg->tcp.dupack_threshold, (double)ns3->tick_ns / 1e6,
        (double)tm.min_rto_ns / 1e6, (double)tm.granularity_ns / 1e6, (double)tm.delack_ns / 1e6,
        ns3->delack_count, halo_ns3_retx_threshold(&cfg->tcp, ns3), cfg->tcp.init_cwnd, seg,
        (double)tm.conn_timeout_ns / 1e6, ns3->sack ? t : f, ns3->timestamps ? t : f,
        (unsigned long long)ns3->sndbuf_bytes, (unsigned long long)ns3->rcvbuf_bytes,
        ns3->rack_stand_in ? t : f, qb ? "bytes" : "packets",
        (unsigned long long)(qb ? qb : ns3->queue_packets));
    if (n < 0 || (size_t)n >= cap)
        return HALO_ERR_ARG;
    return n;
}
