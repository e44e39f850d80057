/*
 * A simulated world, whichever network engine runs it: the in-tree discrete-event engine
 * (sim/sim.h) or ns-3 (sim/ns3/ns3_shim.h). This facade is the one place that chooses
 * between them; everything above it (runs, sweeps, commands) asks the world for statistics
 * and settings without knowing which engine it is.
 */
#ifndef HALO_SIM_WORLD_H
#define HALO_SIM_WORLD_H

#include "core/engine.h"
#include "core/status.h"
#include "core/transport.h"
#include "sim/sim.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Makes a world of `cfg` run by `simulator` (enum halo_simulator). Errors: those of
 * halo_sim_new or halo_ns3_new (HALO_ERR_ARG naming the node or link and field; for ns-3
 * also a build without ns-3, or another ns-3 world alive in this process).
 */
int halo_world_new(halo_transport **out, const halo_sim_config *cfg, int simulator, halo_err *err);

/* 1 when this build can run `simulator` (ns-3 may be absent). */
int halo_world_available(int simulator);

/* The version of the library behind `simulator` ("3.37" for ns-3), or NULL when this build
   cannot run it or it is the in-tree engine (whose version is halo's). */
const char *halo_world_version(int simulator);

/* Node's statistics so far, whichever engine runs `t` (a world from halo_world_new). */
void halo_world_stats(halo_transport *t, int node, halo_sim_node_stats *out);

/*
 * Writes the trace of a world made with cfg->trace_max_events > 0 (the in-tree engine only)
 * to `path`: see halo_sim_trace_write. Errors: HALO_ERR_ARG (no trace kept, or an ns-3
 * world), HALO_ERR_IO.
 */
int halo_world_trace_write(halo_transport *t, const char *path, const char *const *node_names,
                           halo_err *err);

/* Events the world has processed so far. */
uint64_t halo_world_events(halo_transport *t);

/*
 * The network engine of a world (`simulator`) and the settings it runs with (TCP parameters,
 * queue) as one JSON object, into buf (truncated to cap). `tcp` and `link` describe the
 * world (the first device's uplink stands for the queue).
 */
void halo_world_settings_json(int simulator, const halo_tcp_config *tcp, const halo_link_spec *link,
                              char *buf, size_t cap);

#endif /* HALO_SIM_WORLD_H */
