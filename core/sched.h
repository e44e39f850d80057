/*
 * The load-balancing scheduler: how many attention groups and how many FFN groups each
 * device takes, so that one layer's expected time is smallest while every device's share
 * fits its memory (the HALO paper's scheduler, with an explicit cost model).
 *
 * Groups of one kind are interchangeable, so a schedule is a vector of counts per device
 * and block, the same in every layer; halo_sched_to_placement turns it into a placement
 * (contiguous runs in device order, as halo_placement_init builds them).
 *
 * Cost model (all times in nanoseconds; docs/scheduler.md derives it):
 *   block k in {attention, FFN}, device d holding n groups of k:
 *     c_dk(n) = (n > 0 ? ops_k * op_overhead_d : 0)
 *               + n * max(flops_k / flops_per_s_d, bytes_k / mem_bw_bps_d) * 1e9
 *   where flops_k, bytes_k and ops_k are one group's cost exactly as core/node.c charges it
 *   (halo_sched_group_cost). A worker (is_root == 0) holding n > 0 groups also pays one
 *   round trip per sync:
 *     m_d = 2 * (link_latency_ns + msg_bytes * 8 / link_bps * 1e9)
 *           + (1 - (1 - loss)^(2 * packets)) * loss_penalty_ns,   packets = ceil(msg / packet)
 *   Block time T_k = max over d of c_dk(n_dk) + [worker, n_dk > 0] m_d.
 *   Objective: minimise T_attn + T_ffn.
 *   Memory, per device: n_layers * (n_attn * (attn_bytes + kv_bytes) + n_ffn * ffn_bytes)
 *   <= mem_bytes, with weights in the problem's weight type. Every group is placed.
 *
 * Deliberately not modelled: the root's own serialisation of its broadcasts (all workers
 * are charged independently), queueing at the switch, the root's aggregation and
 * embedding/classifier work (the same for every schedule), the smaller last FFN group (all
 * groups are charged at full size), and memory outside groups: callers subtract what the
 * root needs for embeddings and the classifier from its mem_bytes.
 *
 * Pure C11, no allocation beyond the solution arrays and the heuristic's scratch, no state.
 * The exact MILP solver is core/sched_exact.h (its own library, halo_sched_exact: GLPK).
 */
#ifndef HALO_SCHED_H
#define HALO_SCHED_H

#include "core/model.h"
#include "core/plan.h"
#include "core/status.h"
#include "core/transport.h"

#include <stddef.h>
#include <stdint.h>

enum halo_sched_block {
    HALO_SCHED_ATTN = 0,
    HALO_SCHED_FFN = 1,
    HALO_SCHED_N_BLOCKS = 2
};

typedef struct halo_sched_device {
    double flops_per_s;       /* sustained floating-point rate, > 0 */
    double mem_bw_bps;        /* sustained memory bandwidth, bytes per second, > 0 */
    uint64_t mem_bytes;       /* memory available for this device's groups */
    uint64_t op_overhead_ns;  /* fixed cost of each kernel invocation */
    double link_bps;          /* link to the root, bits per second (> 0 unless is_root) */
    uint64_t link_latency_ns; /* one-way latency to the root */
    double loss;              /* packet loss rate of the link, [0, 1) */
    int is_root;              /* 1: the root (no messages); 0: a worker */
} halo_sched_device;

typedef struct halo_sched_problem {
    int n_devices;                    /* 1..HALO_MAX_DEVICES */
    const halo_sched_device *devices; /* (n_devices); borrowed, must outlive the problem */
    halo_model_config cfg;            /* model shape */
    int weight_type;                  /* enum halo_weight_type of the stored weights */
    halo_groups groups;               /* group geometry of cfg (halo_groups_init) */
    uint64_t msg_bytes;               /* bytes of one message, each direction, per sync */
    uint64_t packet_bytes;            /* payload bytes per packet (e.g. TCP MSS 1448) */
    uint64_t loss_penalty_ns;         /* expected extra delay of a message that lost a packet:
                                         an RTO (200 ms) under strict TCP, the deadline under
                                         relaxed sync */
    int n_layers;                     /* layers whose groups a device keeps in memory */
    uint64_t kv_bytes;                /* KV-cache bytes per attention group per layer */
    int ctx_positions;                /* positions one attention group attends (compute cost) */
} halo_sched_problem;

/*
 * Fills `p` for model `cfg` with weights of `weight_type`, FFN groups of `ffn_size`
 * neurons and the `n_devices` devices at `devices` (borrowed), with these defaults:
 * msg_bytes = HALO_WIRE_HEADER_BYTES + 4 * dim (one float32 vector), packet_bytes = 1448,
 * loss_penalty_ns = 200 ms (Linux's minimum RTO), n_layers = cfg->n_layers, kv_bytes =
 * 2 * seq_len * head_size * 4 (float32 keys and values), ctx_positions = seq_len / 2 (the
 * mean over a full sequence). Change any field afterwards.
 * Errors: HALO_ERR_ARG (ffn_size, weight type or device count out of range).
 */
int halo_sched_problem_init(halo_sched_problem *p, const halo_model_config *cfg, int weight_type,
                            int ffn_size, const halo_sched_device *devices, int n_devices,
                            halo_err *err);

/*
 * Checks a problem: device count, every device's fields (rates > 0 and finite, loss in
 * [0, 1), link_bps > 0 for workers), the group geometry against cfg, n_layers >= 1,
 * packet_bytes >= 1. Errors: HALO_ERR_ARG naming the device and field.
 */
int halo_sched_problem_check(const halo_sched_problem *p, halo_err *err);

/* One group's compute cost in block `block` (enum halo_sched_block): flops and bytes per
 * group, ops per block invocation (4 for attention, 3 for FFN), as core/node.c charges. */
void halo_sched_group_cost(const halo_sched_problem *p, int block, halo_cost *out);

/* Memory one group of `block` takes on its device over p->n_layers layers, in bytes
 * (weights rounded up to whole bytes per layer, plus the KV cache for attention). */
uint64_t halo_sched_group_bytes(const halo_sched_problem *p, int block);

/* m_d above: the expected communication time of device d per sync (0 for the root). */
double halo_sched_comm_ns(const halo_sched_problem *p, int device);

/*
 * The linear pieces of device d's time in `block`: with n > 0 groups it takes
 * fixed_ns + n * per_group_ns (fixed = overhead + communication), with none it takes 0.
 */
void halo_sched_coeffs(const halo_sched_problem *p, int device, int block, double *fixed_ns,
                       double *per_group_ns);

/* c_dk(n) + m_d (n > 0) of device d holding n groups of `block`. */
double halo_sched_device_time_ns(const halo_sched_problem *p, int device, int block, int n);

typedef struct halo_sched_solution {
    int n_devices;
    int *n_groups[HALO_SCHED_N_BLOCKS];   /* (n_devices) per block: groups each device takes */
    double block_ns[HALO_SCHED_N_BLOCKS]; /* T_attn, T_ffn under the cost model */
    double objective_ns;                  /* T_attn + T_ffn: a model estimate, kept in double
                                             so that solvers compare exactly */
    int optimal;                          /* 1 when proven optimal */
} halo_sched_solution;

/* Allocates the count arrays (zeroed) for n_devices devices. Errors: HALO_ERR_ARG,
 * HALO_ERR_NOMEM. Free with halo_sched_solution_free. */
int halo_sched_solution_init(halo_sched_solution *s, int n_devices, halo_err *err);

/* Frees the arrays; safe on a zeroed or freed solution. */
void halo_sched_solution_free(halo_sched_solution *s);

/* The objective of `s` (T_attn + T_ffn) under the cost model; block times go to
 * block_ns[] when it is not NULL. Does not check feasibility. */
double halo_sched_eval(const halo_sched_problem *p, const halo_sched_solution *s, double *block_ns);

/*
 * Checks that `s` places every group exactly once (counts >= 0 summing to n_attn and
 * n_ffn) and respects every device's memory. Errors: HALO_ERR_ARG naming the device.
 */
int halo_sched_check(const halo_sched_problem *p, const halo_sched_solution *s, halo_err *err);

/*
 * The heuristic solver (docs/scheduler.md):
 *  1. each block solved exactly with all of every device's memory (a min-max over device
 *     times that grow with the count: a continuous bound, then a heap); when the two fit
 *     together, this optimum of a relaxation is the optimum, and out->optimal is set;
 *  2. otherwise three scans over the attention time, from a lower bound up to where a bound
 *     on the FFN time shows nothing better can follow: at each step the attention groups go
 *     where they take the least FFN room (sparing the FFN counts at an optimistic, the best
 *     so far, or an unbounded FFN time; an exact packing when the greedy one leaves the FFN
 *     no fit) and the FFN responds optimally in the memory left;
 *  3. local improvement of the best: alternating best responses of the two blocks, closing
 *     devices with a costly link in one block, closing the FFN's bottleneck devices with
 *     the attention re-packed around them, and single-group moves and attention-for-FFN
 *     swaps between any two devices.
 * Microseconds when memory does not bind; when it does, tens of microseconds for 16
 * devices and about half a millisecond for 64 devices with 40 + 3456 groups (-O2; measured
 * in docs/scheduler.md). Deterministic. `out` must be initialised for p->n_devices devices;
 * it is overwritten.
 * Errors: HALO_ERR_ARG (bad problem, or no schedule fits: the message names the shortfall,
 * e.g. the total memory needed against the total available, a group larger than every
 * device's memory, or memory that fits in total but not device by device), HALO_ERR_NOMEM.
 */
int halo_sched_solve_heuristic(const halo_sched_problem *p, halo_sched_solution *out,
                               halo_err *err);

/*
 * Builds the placement of `s` over `groups`: in every layer, device 0's attention groups
 * first, then device 1's, ... (contiguous runs in device order), and the same for FFN
 * groups. `p` is initialised here (free with halo_placement_free).
 * Errors: HALO_ERR_ARG (counts do not sum to the group counts), HALO_ERR_NOMEM.
 */
int halo_sched_to_placement(const halo_sched_solution *s, const halo_groups *groups,
                            halo_placement *p, halo_err *err);

/*
 * Writes the same placement as an "explicit:A0,A1,../F0,F1,.." spec (halo_placement_parse)
 * into buf (capacity cap, NUL-terminated); *len (if not NULL) receives the length without
 * the NUL. Errors: HALO_ERR_ARG (counts do not sum to the group counts, or buf too small;
 * 6 * (n_attn + n_ffn) + 16 bytes always suffice).
 */
int halo_sched_spec(const halo_sched_solution *s, const halo_groups *groups, char *buf, size_t cap,
                    size_t *len, halo_err *err);

#endif /* HALO_SCHED_H */
