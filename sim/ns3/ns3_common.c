/*
 * The parts of the ns-3 backend that need no ns-3: default settings and their JSON record.
 * Built in every configuration, with the C++ shim or with the stub.
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
    /* Off: in ns-3 3.37's request/response exchanges the echoed timestamp stops advancing, so
     * every RTT sample is the connection's age and the RTO grows without bound (1 KB at 5%
     * loss: a mean of 141 s per exchange). Without it, Karn's rule gives clean samples; the
     * shim pads TCP segments by the option's 12 bytes so the wire size is unchanged. */
    s->timestamps = 0;
    s->clock_granularity_ns = 1000000;
    s->queue_packets = 100000;
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
    int n = snprintf(
        buf, cap,
        "{\"engine\": \"ns3\", \"ns3_version\": \"%s\", \"tcp\": {\"congestion\": \"%s\", "
        "\"recovery\": \"%s\", \"segment_bytes\": %d, \"init_cwnd\": %d, \"min_rto_ms\": %.3f, "
        "\"delack_ms\": %.3f, \"delack_count\": %d, \"sack\": %s, \"timestamps\": %s, "
        "\"clock_granularity_ms\": %.3f, \"sndbuf_bytes\": %llu, \"rcvbuf_bytes\": %llu, "
        "\"data_retries\": 15, \"tail_loss_probes\": false, \"rack\": false, "
        "\"connections\": \"one per node pair, established "
        "before t=0\"}, \"queue\": {\"kind\": \"device DropTail, no queue disc\", "
        "\"limit\": \"%s\", \"limit_value\": %llu}}",
        halo_ns3_version(), ns3->congestion, ns3->recovery, seg, cfg->tcp.init_cwnd,
        (double)cfg->tcp.rto_min_ns / 1e6, (double)cfg->tcp.delack_ns / 1e6, ns3->delack_count,
        ns3->sack ? "true" : "false", ns3->timestamps ? "true" : "false",
        (double)ns3->clock_granularity_ns / 1e6, (unsigned long long)ns3->sndbuf_bytes,
        (unsigned long long)ns3->rcvbuf_bytes, qb ? "bytes" : "packets",
        (unsigned long long)(qb ? qb : ns3->queue_packets));
    if (n < 0 || (size_t)n >= cap)
        return HALO_ERR_ARG;
    return n;
}
