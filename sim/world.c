/*
 * The world facade (sim/world.h).
 */
#include "sim/world.h"

#include "sim/ns3/ns3_shim.h"

#include <stdio.h>
#include <string.h>

/* What only the in-tree engine models: ns-3 would silently ignore it. */
static int ns3_refuses(const halo_sim_config *cfg, halo_err *err) {
    if (cfg->heartbeat_ns)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "engine.heartbeat_ms: only the in-tree simulator sends heartbeats "
                         "(simulator: sim), not ns-3");
    if (cfg->parity)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "engine.parity: only the in-tree simulator models parity datagrams "
                         "(simulator: sim), not ns-3");
    const char *tcp_key = cfg->tcp.segment_gap_ns                        ? "segment_gap_us"
                          : cfg->tcp.early_ack_kb                        ? "early_ack_kb"
                          : cfg->tcp.read_order != HALO_TCP_READ_ARRIVAL ? "read_order"
                                                                         : NULL;
    if (tcp_key)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "engine.tcp.%s: only the in-tree simulator models it (simulator: sim), "
                         "not ns-3",
                         tcp_key);
    for (int i = 0; cfg->devices && i < cfg->n_nodes; i++) {
        const halo_device_profile *d = &cfg->devices[i];
        if (d->host)
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "device %d: devices sharing a host are modelled by the in-tree "
                             "simulator only (simulator: sim), not ns-3",
                             i);
        if (d->compute_cv > 0)
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "device %d: compute_cv (varying compute times) is modelled by the "
                             "in-tree simulator only (simulator: sim), not ns-3",
                             i);
        const halo_link_spec *l[2] = {cfg->uplink ? &cfg->uplink[i] : NULL,
                                      cfg->downlink ? &cfg->downlink[i] : NULL};
        for (int k = 0; k < 2; k++)
            if (l[k] && l[k]->loss.model == HALO_LOSS_GILBERT && l[k]->loss.mean_good_ns)
                return HALO_FAIL(err, HALO_ERR_ARG,
                                 "device %d: Gilbert-Elliott loss in time (mean_burst_ms) is "
                                 "modelled by the in-tree simulator only (simulator: sim), not "
                                 "ns-3: give mean_burst_packets or p_good_bad/p_bad_good",
                                 i);
    }
    return HALO_OK;
}

int halo_world_new(halo_transport **out, const halo_sim_config *cfg, int simulator, halo_err *err) {
    *out = NULL;
    if (simulator != HALO_SIMULATOR_NS3 && cfg->pcap_prefix)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "--pcap %s: packet captures come from the ns-3 engine only "
                         "(engine.simulator: ns3); the in-tree engine has --trace",
                         cfg->pcap_prefix);
    if (simulator != HALO_SIMULATOR_NS3)
        return halo_sim_new(out, cfg, err);
    if (cfg->trace_max_events > 0)
        return HALO_FAIL(err, HALO_ERR_ARG,
                         "--trace: traces come from the in-tree engine only (engine.simulator: "
                         "sim); ns-3 writes packet captures (--pcap)");
    int rc = ns3_refuses(cfg, err);
    return rc != HALO_OK ? rc : halo_ns3_new(out, cfg, NULL, err);
}

int halo_world_available(int simulator) {
    return simulator != HALO_SIMULATOR_NS3 || halo_ns3_available();
}

const char *halo_world_version(int simulator) {
    return simulator == HALO_SIMULATOR_NS3 && halo_ns3_available() ? halo_ns3_version() : NULL;
}

void halo_world_stats(halo_transport *t, int node, halo_sim_node_stats *out) {
    if (halo_ns3_owns(t))
        halo_ns3_get_stats(t, node, out);
    else
        halo_sim_get_stats(t, node, out);
}

int halo_world_trace_write(halo_transport *t, const char *path, const char *const *node_names,
                           halo_err *err) {
    if (halo_ns3_owns(t))
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: an ns-3 world keeps no trace (see --pcap)", path);
    return halo_sim_trace_write(t, path, node_names, err);
}

uint64_t halo_world_events(halo_transport *t) {
    return halo_ns3_owns(t) ? halo_ns3_events(t) : halo_sim_events(t);
}

void halo_world_settings_json(int simulator, const halo_tcp_config *tcp, const halo_link_spec *link,
                              char *buf, size_t cap) {
    if (simulator != HALO_SIMULATOR_NS3) {
        char extra[96] = ""; /* keys set away from their defaults only: older runs' text kept */
        if (tcp->segment_gap_ns || tcp->early_ack_kb)
            (void)snprintf(extra, sizeof extra, ", \"segment_gap_us\": %.3f, \"early_ack_kb\": %d",
                           (double)tcp->segment_gap_ns / 1e3, tcp->early_ack_kb);
        if (tcp->read_order == HALO_TCP_READ_RANK) {
            size_t used = strlen(extra);
            (void)snprintf(extra + used, sizeof extra - used, ", \"read_order\": \"rank\"");
        }
        (void)snprintf(buf, cap,
                       "{\"engine\": \"sim\", \"tcp\": {\"model\": \"in-tree\", \"init_cwnd\": %d, "
                       "\"min_rto_ms\": %.3f, \"max_rto_ms\": %.3f, \"init_rto_ms\": %.3f, "
                       "\"delack_ms\": %.3f, \"tail_loss_probes\": %s, \"dupack_threshold\": %d, "
                       "\"quickack_segments\": %d, \"quickack\": %s, \"tick_ms\": %.3f, "
                       "\"cc\": \"%s\", \"rx_batch_us\": %.3f, \"comp_sack_delay_us\": %.3f, "
                       "\"comp_sack_slack_us\": %.3f, \"comp_sack_nr\": %d, "
                       "\"slow_start_after_idle\": %s%s}, "
                       "\"queue\": {\"kind\": \"drop-tail per link\", "
                       "\"limit_bytes\": %llu}}",
                       tcp->init_cwnd, (double)tcp->rto_min_ns / 1e6, (double)tcp->rto_max_ns / 1e6,
                       (double)tcp->rto_init_ns / 1e6, (double)tcp->delack_ns / 1e6,
                       tcp->tlp ? "true" : "false", tcp->dupack_threshold, tcp->quickack_segments,
                       tcp->quickack ? "true" : "false", (double)tcp->tick_ns / 1e6,
                       tcp->cc == HALO_TCP_CC_RENO ? "reno" : "cubic",
                       (double)tcp->rx_batch_ns / 1e3, (double)tcp->comp_sack_delay_ns / 1e3,
                       (double)tcp->comp_sack_slack_ns / 1e3, tcp->comp_sack_nr,
                       tcp->slow_start_after_idle ? "true" : "false", extra,
                       (unsigned long long)link->queue_bytes);
        return;
    }
    halo_link_spec up = *link;
    halo_sim_config cfg = {.n_nodes = 1, .uplink = &up, .downlink = &up, .tcp = *tcp};
    if (halo_ns3_settings_json(&cfg, NULL, buf, cap) < 0)
        (void)snprintf(buf, cap, "{}");
}
