/*
 * Runs one point of a scenario in the discrete-event simulator: builds the model (a
 * checkpoint whose numerics really run, or a shape-only model), the simulated world and the
 * in-process cluster, decodes the workload's tokens, and reports per-token times and their
 * split. Used by `halo sim` and, per point and run, by sweeps.
 *
 * The time split of a token, seen from the root:
 *   compute      time the root spent computing;
 *   stragglers   how much longer the busiest worker computed than the root (0 if none);
 *   network      the rest of the token: messages on the wire, queues, retransmissions,
 *                deadlines.
 */
#ifndef HALO_SIM_SIMRUN_H
#define HALO_SIM_SIMRUN_H

#include "core/eval.h"
#include "sim/scenario.h"

#include <stdint.h>

typedef struct halo_sim_token {
    uint32_t pos;
    int token;                  /* id fed at this position (numerics runs) */
    uint64_t time_ns;           /* the root's time for the token */
    uint64_t compute_ns;        /* root busy */
    uint64_t worker_compute_ns; /* the busiest worker */
    uint64_t wait_ns;           /* root idle at syncs */
    uint32_t expected, missing; /* remote contributions */
    uint64_t storage_read_ns;   /* all devices: storage reading during the token */
    uint64_t storage_stall_ns;  /* all devices: compute waiting for storage */
} halo_sim_token;

/* One block (attention or FFN) of one layer, seen from the root, over the measured tokens. */
typedef struct halo_sim_layer {
    uint64_t attn_ns, ffn_ns;           /* time in the block: compute, send and wait */
    uint64_t attn_wait_ns, ffn_wait_ns; /* of which the root idled at the block's sync */
    uint64_t attn_missing, ffn_missing; /* contributions counted as zero */
} halo_sim_layer;

typedef struct halo_sim_result {
    int numerics; /* 1: real weights ran; 0: shape-only */
    int n_tokens;
    halo_sim_token *tokens; /* (n_tokens) */
    uint64_t total_ns;      /* simulated time of all tokens */
    /* over the tokens after the scenario's workload.skip (all of them without it) */
    double mean_ms, p50_ms, p90_ms, p99_ms, max_ms;
    double compute_ms, stragglers_ms, network_ms; /* means per token */
    /* engine.memory_budget: storage reading and the part of it compute waited for, summed
       over devices, means per token (the rest was hidden); bytes read in the whole run
       (prompt included) */
    double storage_read_ms, storage_stall_ms;
    uint64_t storage_bytes;
    uint64_t share_bytes, pinned_bytes; /* memory plans, all devices: group weights held,
                                           and of those kept in memory (core/memplan.h) */
    uint64_t expected, missing;
    /* relaxed sync: the mean of the root's first deadlines over the whole run, prompt
       included, as the socket root reports it ("root sync: mean deadline"); 0 = none armed */
    double deadline_mean_ms;
    uint64_t retransmits, timeouts, probes, msgs_lost, bytes_on_wire;
    uint64_t dsacks; /* ACKs reporting a duplicate segment (D-SACK), in-tree engine; 0 under ns-3 */
    uint64_t read_segs, read_wait_ns; /* halo_sim_node_stats', summed over the devices */
    uint64_t events;                  /* simulator events processed */
    uint64_t wall_ns;                 /* real time the simulation took */
    char *text;                       /* generated text (numerics runs), or NULL */
    int n_devices;
    halo_sim_node_stats *devices; /* (n_devices) per device, over the measured tokens */
    int n_layers;
    halo_sim_layer *layers; /* (n_layers) per layer, over the measured tokens */
} halo_sim_result;

/*
 * Runs replication `run` of scenario `sc`. *out is overwritten; free it with
 * halo_sim_result_free. Errors: those of loading the model, building the world or the
 * cluster (HALO_ERR_ARG naming the device or option), HALO_ERR_AGAIN if the world stalled.
 */
int halo_simrun(const halo_scenario *sc, int run, halo_sim_result *out, halo_err *err);

/* What a run writes besides its results (issue 17). Strings are borrowed for the call. */
typedef struct halo_simrun_output {
    const char *trace_path;  /* trace-event JSON of the run (sim/trace.h), or NULL; the
                                in-tree engine only */
    long trace_max_events;   /* its cap (<= 0: HALO_TRACE_DEFAULT_MAX_EVENTS) */
    const char *pcap_prefix; /* packet captures PREFIX-D.pcap (device D), or NULL; the ns-3
                                engine only */
} halo_simrun_output;

/*
 * halo_simrun, also writing what `o` asks for (NULL: nothing, exactly halo_simrun). The
 * trace is written after the run, so a failed write leaves the results valid but returns
 * the error. The simulated results are the same with or without outputs.
 * Errors: those of halo_simrun; HALO_ERR_ARG (a trace asked of ns-3, a pcap of the in-tree
 * engine); HALO_ERR_IO (writing the trace, naming it).
 */
int halo_simrun_with(const halo_scenario *sc, int run, const halo_simrun_output *o,
                     halo_sim_result *out, halo_err *err);

/*
 * Quality through the simulated cluster: teacher-forced evaluation (core/eval.h) of `text`
 * (at most max_stories stories, < 0: all) with replication `run` of scenario `sc`, losses
 * and all; *quality receives the NLL totals and *out the per-token times of the same run.
 * Errors: HALO_ERR_ARG for a shape-only scenario, else as halo_simrun.
 */
int halo_simrun_eval(const halo_scenario *sc, int run, const char *text, long max_stories,
                     halo_eval_result *quality, halo_sim_result *out, halo_err *err);

/*
 * The network engine of `sc` (engine.simulator) and the settings it runs with (TCP
 * parameters, queue) as a JSON object, into buf (truncated to cap). For `halo sim --json`
 * and the results database.
 */
void halo_simrun_engine_json(const halo_scenario *sc, char *buf, size_t cap);

/* Frees what a result holds; safe on a zeroed result. */
void halo_sim_result_free(halo_sim_result *r);

#endif /* HALO_SIM_SIMRUN_H */
