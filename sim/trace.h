/*
 * A trace of one simulated run for a trace viewer: spans (compute, sends, receives, waits at
 * syncs) and instants (deadlines, packets lost, retransmissions, timeouts, probes) per
 * device, kept in memory up to a cap and written as Chrome / Perfetto trace-event JSON
 * (https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU): one
 * process (pid) per device, one thread (tid) per track, ts and dur in microseconds of
 * simulated time. Opens in ui.perfetto.dev and chrome://tracing.
 *
 * Recording never changes the simulation: the recorder only copies numbers it is given.
 * Not here: where the events come from (sim/sim.c, core/node.c through the transport's
 * optional trace op), the command line (app/cmd_sim.c).
 */
#ifndef HALO_SIM_TRACE_H
#define HALO_SIM_TRACE_H

#include "core/status.h"

#include <stdint.h>

/* Default cap on recorded events (about 100 bytes of JSON each: ~20 MB). */
#define HALO_TRACE_DEFAULT_MAX_EVENTS 200000L

/* A device's tracks (its threads in the viewer). */
enum halo_trace_track {
    HALO_TRACE_COMPUTE = 1, /* charged compute */
    HALO_TRACE_SEND = 2,    /* host cost of a send (the system call and copy) */
    HALO_TRACE_RECV = 3,    /* host cost of a message received */
    HALO_TRACE_NET = 4,     /* packets lost, retransmissions, timeouts, probes, messages lost */
    HALO_TRACE_SYNC = 5,    /* waits at syncs, deadlines armed and passed */
};

typedef struct halo_trace halo_trace;

/*
 * A recorder for n_nodes devices keeping at most max_events (> 0) events; later ones are
 * counted as dropped. Errors: HALO_ERR_ARG (n_nodes < 1, max_events < 1), HALO_ERR_NOMEM.
 */
int halo_trace_new(halo_trace **out, int n_nodes, long max_events, halo_err *err);

/* Frees the recorder; NULL is a no-op. */
void halo_trace_free(halo_trace *t);

/*
 * Records on `node`'s `track` a span [start_ns, end_ns] named `name` (a static string), or an
 * instant when end_ns == start_ns and `instant` is set. `peer` (-1: none) is the other
 * device of a message; `arg` (-1: none) a number shown with it (bytes, a layer, a deadline
 * in ns, a sequence number). Events beyond the cap, and spans with end_ns < start_ns, are
 * dropped (counted). Never fails. Returns the event's handle for halo_trace_move, or -1 when
 * it was dropped.
 */
long halo_trace_add(halo_trace *t, int node, int track, const char *name, uint64_t start_ns,
                    uint64_t end_ns, int instant, int peer, int64_t arg);

/*
 * Gives the span `event` (a handle of halo_trace_add; -1 is ignored) new times, when what it
 * shows was planned again after it was recorded: a compute segment of a host shared with
 * other devices ends later when another device's segment comes to overlap it. A span whose
 * end would come before its start keeps its old times.
 */
void halo_trace_move(halo_trace *t, long event, uint64_t start_ns, uint64_t end_ns);

/* Events recorded, and dropped for the cap. */
long halo_trace_count(const halo_trace *t);
long halo_trace_dropped(const halo_trace *t);

/*
 * Writes the trace-event JSON to `path` (created or truncated): metadata naming each device
 * (node_names[i], borrowed; NULL or a NULL entry: "device i") and track, then the events in
 * the order recorded, then otherData with the counts and the cap. Errors: HALO_ERR_IO
 * naming the path.
 */
int halo_trace_write(const halo_trace *t, const char *path, const char *const *node_names,
                     halo_err *err);

#endif /* HALO_SIM_TRACE_H */
