/*
 * A node of a distributed forward pass: a non-blocking state machine driven by the
 * transport's callbacks. Node 0 is the root: it embeds the token, and at every sync point
 * (the attention block and the FFN block of each layer) it broadcasts the normalised
 * activations to the devices that hold groups of that block, computes its own groups,
 * collects the devices' partial sums under the sync policy, adds them to the residual
 * stream, and at the end applies the final norm and the classifier. Every other node is a
 * worker: it computes the groups the root lists in each activation message and returns
 * their summed partial.
 *
 * Sync policies:
 *  - strict: every expected contribution is awaited, however long (distributed-llama);
 *  - relaxed: contributions of critical devices are always awaited; the others until a
 *    deadline after the broadcast. A missing contribution is a zero term, counted. A
 *    critical contribution still missing at the deadline is requested again (datagrams may
 *    be lost), every deadline, until it arrives.
 * The deadline is fixed, or adaptive: per device and block kind (attention, FFN) the root
 * keeps a smoothed arrival delay (broadcast to the contribution's arrival, which a real
 * world stamps in the kernel: halo_transport_arrived_ns; first transmissions only) and its
 * mean deviation, as TCP does for RTTs (RFC 6298 gains 1/8 and 1/4); a sync's deadline is
 * the largest srtt + 4 rttvar (the margin at least srtt / 16) over the devices it waits
 * for, clamped to [deadline_min,
 * deadline_max], and the fixed deadline until a device has a sample. The two block kinds
 * are kept apart because their delays differ systematically (an FFN block is about twice
 * the work of an attention block): one estimate over both would count that alternation as
 * variance, and a deadline four deviations wide would wait far longer than either needs
 * (docs/halo.md measures the difference).
 * A per-sync hook may re-place FFN groups and choose the critical devices (the predictor's
 * slot).
 *
 * Robustness: messages that are malformed, stale (for an earlier sync), duplicated or
 * listing other groups than assigned are dropped and counted. A worker that missed an
 * activation simply does not contribute to that block; the KV-cache positions it never
 * computed are masked out of its attention, never read as garbage. A new sequence is
 * recognised by its base step (step - pos), so the caches reset even if pos 0 was lost.
 *
 * Every buffer is allocated in halo_node_new: a token allocates nothing (beyond what the
 * transport does).
 */
#ifndef HALO_NODE_H
#define HALO_NODE_H

#include "core/memplan.h"
#include "core/model.h"
#include "core/plan.h"
#include "core/pool.h"
#include "core/transport.h"
#include "core/winpack.h"
#include "core/wire.h"

#include <stdint.h>

enum halo_sync_policy {
    HALO_SYNC_POLICY_STRICT = 0,
    HALO_SYNC_POLICY_RELAXED = 1,
};

/*
 * How the partial sums of a block meet:
 *  - star: the root broadcasts each block's input to the devices holding its groups and
 *    gathers their partial sums (two hops per block, 2 (N-1) messages); the root alone
 *    computes the classifier. Every sync policy.
 *  - mesh: distributed-llama's all-gather: the root sends the residual stream to every
 *    device at a token's start; for each block every node normalises its own copy, computes
 *    its groups (a fixed placement) and sends its partial sum to every peer (one hop, N (N-1)
 *    messages); each node adds all partial sums in device order, so every copy of the
 *    residual stays bit-identical; the classifier is split into N row slices whose logits
 *    the root gathers. Strict sync only (as distributed-llama).
 */
enum halo_collective {
    HALO_COLLECTIVE_STAR = 0,
    HALO_COLLECTIVE_MESH = 1,
};

/*
 * Per-sync planning hook (root): called at the start of each sync with the block's
 * normalised input xb (dim floats). `devices[i]` is the device of group i of this block
 * (n_groups entries, from the placement); for an FFN block the hook may move groups to other
 * devices for this sync (attention groups keep their devices: changes are ignored, their KV
 * caches live there). `critical[d]` = 1 marks devices whose contribution is awaited under
 * the relaxed policy; on entry it holds the static configuration. The importance predictor
 * plugs in here (core/importance.h).
 */
typedef void (*halo_plan_fn)(void *ctx, uint32_t step, int layer, int phase, const float *xb,
                             uint16_t *devices, int n_groups, uint8_t *critical);

typedef struct halo_sync_config {
    int policy; /* enum halo_sync_policy */
    /*
     * relaxed: how long after a broadcast the root waits for non-critical contributions.
     * A critical contribution still missing then is asked for again (the activation is
     * re-sent; the device answers from its cache) every deadline until it arrives.
     */
    uint64_t deadline_ns;
    int adaptive; /* relaxed: derive the deadline from measured arrival delays (below) */
    uint64_t deadline_min_ns, deadline_max_ns; /* clamp of the adaptive deadline */
    const uint8_t *critical; /* (n_devices) or NULL: devices always awaited (relaxed) */
    int redundancy;          /* relaxed: copies of each activation sent to a critical device (>= 1;
                                0 means 1). Each copy that arrives is answered (the second from the
                                worker's cache), so a critical exchange fails only when every copy of
                                one direction is lost. */
    /* relaxed, redundancy > 1: send the extra copies only to a device whose contribution
       went missing at a deadline (lost or late) within the last 2 n_layers syncs (a token):
       no copies, and no host time spent on them, while nothing is lost */
    int redundancy_on_loss;
    halo_plan_fn plan_fn; /* optional per-sync planning */
    void *plan_ctx;
    /*
     * Optional, slow_safe only: the root tells the planning hook (plan_ctx) which devices'
     * links lose: reliable = 0 once a device's exchanges failed lately (a repeated request
     * or a missing contribution in more than ~1/256 of its recent syncs, the gate of the
     * redundant copies), 1 again when they stop; called at the start of a sync, for every
     * device once at the first sync and then on each change. The importance hook moves
     * critical groups only while some device is unreliable (no loss, no penalty: on a clean
     * network every group stays where the placement put it).
     */
    void (*reliable_fn)(void *plan_ctx, int device, int reliable);
    /*
     * relaxed with adaptive: deadlines never drop work that is merely slow (issue 15). A
     * device is awaited (and re-asked every deadline, as a critical one) until its delay for
     * the block kind has a sample, and a contribution that arrives after its sync finished
     * without it is a sample too, so the estimate follows a device slower than the
     * deadline instead of dropping it forever. Repeated requests back off (x2), and the
     * redundant copies go only to devices whose exchanges failed lately (repeated request or
     * missing in ~1/256 of recent syncs; a missing answer that comes late is no failure).
     * A deadline that falls due while a device is missing whose answers have lately come
     * late more often than they were lost (missing at a deadline and come after it, against
     * never come), whose exchanges have not failed lately and whose frames showed no gap
     * within 256 syncs (halo_transport_rx_lost, where the world counts them) waits once more,
     * as long past the deadline as late answers have come lately (at least the deadline's
     * length again), before it gives up: on a clean network a worker a busy host descheduled
     * is waited for; on a lossy link nothing changes. Socket clusters always set it;
     * simulated worlds with engine.slow_safe (the mirrors of socket cells), else not, so that
     * published figures stay as they are.
     */
    int slow_safe;
} halo_sync_config;

typedef struct halo_node_config {
    int node_idx;              /* 0 = root */
    int n_devices;             /* nodes in the cluster, root included */
    const halo_model *model;   /* borrowed; outlives the node */
    const halo_groups *groups; /* group geometry (copied) */
    halo_transport *transport; /* borrowed; the node attaches its receiver */
    halo_pool *pool;           /* borrowed, may be NULL: threads for this node's compute */
    int encoding;              /* enum halo_encoding of the messages this node sends */
    halo_sync_config sync;     /* root only (critical[] is copied) */
    /* Borrowed, may be NULL: the node's memory plan (core/memplan.h). Its blocks' storage
       reads are added to the costs the node charges; the numerics are unchanged. */
    halo_memplan *memplan;
    /*
     * Borrowed, may be NULL: the node reads the weights of the groups it computes through
     * this neuron-group loader (core/loader.h: a bounded cache filled from the checkpoint
     * file, with read-ahead) instead of from the model's mapping: what a device whose memory
     * cannot hold its share does. While computing a block the node asks the loader to read
     * ahead the groups it computed last time for the next block. Output projections are
     * then computed group by group (the packed columns of one group at a time), so sums
     * may differ from the mapped path in the last bits. A group the loader cannot read
     * fails the block: a worker sends no partial for it (the root's policy treats it as
     * lost, and a repeated request reads again), the root fails the token.
     */
    struct halo_loader *loader;
    int collective;                       /* enum halo_collective */
    const halo_placement *mesh_placement; /* mesh: the fixed placement (copied; every node) */
    /*
     * Star only, every node of the cluster alike (issue 15): the classifier is split as the
     * mesh splits it. After the last block the root sends the final normalised residual
     * (f32, a STATE message) to every worker, computes its own slice of the output rows
     * (vocab_size / n_devices, the last device the remainder) and gathers the workers'
     * logits slices (LOGITS). Under relaxed sync a missing slice is asked again every
     * deadline (four times the last block's, doubling); a worker answers a repeated request
     * from its cache. Under strict sync every slice is awaited. The logits equal the
     * single-device ones bit for bit.
     */
    int split_classifier;
    /*
     * f32 weights read from the model's mapping (no loader): the node copies the windows of
     * every matrix it computes (its rows of Wq, Wk, Wv, W1, W3 and of its classifier slice,
     * its columns of Wo and W2; one run of consecutive groups per block) into memory backed
     * by huge pages at first use and reads those copies (core/winpack.h). A column window in
     * place is a short run per row (768 x 512 of 2048-column rows, 12 layers: 6.65-7.05 GB/s
     * in place, 24.64-26.47 GB/s packed; issue 15); a row window in place goes through the
     * page cache's 4 KiB pages (two processes streaming at once: 26.5 against 34 GB/s each in
     * huge pages). The same products bit for bit. A window that changes is copied again;
     * after four copies per slot on average, or past twice an even share of the model's
     * float32 matrices, the node reads in place. Costs the windows' size in memory (about
     * the node's share of the weights). A real world's nodes set it; the simulator's do not
     * (its cost model keeps charging column windows as strided reads).
     */
    int pack_windows;
} halo_node_config;

typedef struct halo_node halo_node;

/* Errors: HALO_ERR_ARG (bad index, counts, encoding, policy), HALO_ERR_NOMEM. */
int halo_node_new(halo_node **out, const halo_node_config *cfg, halo_err *err);

/* Frees; NULL is a no-op. The transport must not deliver to the node afterwards. */
void halo_node_free(halo_node *node);

/*
 * Root: sets the placement used from the next token on (copied; it must match the node's
 * group geometry and device count). Errors: HALO_ERR_ARG.
 */
int halo_node_set_placement(halo_node *root, const halo_placement *p, halo_err *err);

/* Replaces the node's memory plan (borrowed, may be NULL) from its next block on. */
void halo_node_set_memplan(halo_node *node, halo_memplan *memplan);

/*
 * Root: starts the forward pass of `token` at sequence position `pos` (0 starts a new
 * sequence). Returns after sending the first broadcast; the token completes as the
 * transport runs. Errors: HALO_ERR_ARG (not the root, a token in flight, bad token/pos),
 * or the transport's send errors.
 */
int halo_node_start_token(halo_node *root, int token, int pos, halo_err *err);

/*
 * Root: abandons the token in flight (e.g. after its world stalled); its status becomes
 * `code`. The next halo_node_start_token may follow. No-op when nothing is in flight.
 */
void halo_node_abort_token(halo_node *root, int code);

/* Root: 1 once the token started last has finished (or failed), 0 while in flight. */
int halo_node_token_done(const halo_node *root);

/*
 * Root: HALO_OK if the last token finished, else the error that stopped it (details in
 * *err when not NULL).
 */
int halo_node_token_status(const halo_node *root, halo_err *err);

/* Root: logits of the last finished token (vocab_size floats), valid until the next start. */
const float *halo_node_logits(const halo_node *root);

typedef struct halo_token_metrics {
    uint32_t step, pos;
    uint64_t start_ns, end_ns; /* root clock */
    uint64_t wait_ns;          /* sum over syncs of the time the root idled after its work */
    uint32_t expected;         /* remote contributions expected */
    uint32_t missing;          /* of those, counted as zero */
} halo_token_metrics;

/* Root: metrics of the last finished token. */
const halo_token_metrics *halo_node_last_metrics(const halo_node *root);

typedef struct halo_node_stats {
    uint64_t msgs_sent, bytes_sent, msgs_recv, bytes_recv;
    uint64_t msgs_encoded;    /* messages wire-encoded: one per broadcast (the mesh collective's
                                 partial sums and STATE), so at most msgs_sent */
    uint64_t stale;           /* dropped: for a sync already finished */
    uint64_t duplicate;       /* dropped: a second copy */
    uint64_t malformed;       /* dropped: failed decoding or validation */
    uint64_t computed;        /* blocks computed for the root (workers) */
    uint64_t expected;        /* root: remote contributions expected, all tokens */
    uint64_t missing;         /* root: of those, counted as zero */
    uint64_t wait_ns;         /* root: total idle time at syncs */
    uint64_t retries;         /* root: activations re-sent to missing critical devices */
    uint64_t resent;          /* worker: cached partials sent again on a repeated activation */
    uint64_t load_failed;     /* blocks not computed: the loader could not read a group */
    uint64_t deadlines;       /* root: relaxed syncs that armed a deadline */
    uint64_t deadline_sum_ns; /* root: their first deadlines, summed */
    uint64_t cls_local;       /* root, split classifier: a worker's slice the root computed
                                 itself, still missing at the second deadline */
    uint64_t cls_whole;       /* root, split classifier: tokens whose whole classifier the root
                                 computed, a device's exchanges having failed lately */
    uint64_t extended;        /* root, slow_safe: deadlines that waited once more for a late
                                 device (see halo_sync_config.slow_safe) */
} halo_node_stats;

/* Cumulative statistics. */
const halo_node_stats *halo_node_get_stats(const halo_node *node);

/*
 * Root, between tokens: on = 1 makes the following tokens warm-up passes, in which every
 * device's contribution is awaited as a critical one's (re-asked at each deadline, the
 * deadlines backing off as slow_safe's; a split classifier's slices too), so every node
 * computes, pages in and copies (pack_windows) every weight window it holds, whatever the
 * policy. on = 0 ends them and starts the root's sync state over as halo_node_new left it:
 * delay estimates, loss evidence, per-block and per-device counters and the statistics (what
 * a first pass teaches is first-use costs, not the cluster). The caches need nothing: the
 * next token at position 0 starts a new sequence. Socket clusters run one such pass before
 * the first token (net/root.h, halo_remote_config.warmup).
 */
void halo_node_set_warmup(halo_node *root, int on);

/* The node's packed weight windows (halo_node_config.pack_windows): all zero without them. */
halo_winpack_stats halo_node_packed(const halo_node *node);

/* Root: missing contributions so far in (layer, phase), phase an enum halo_phase. */
uint64_t halo_node_missing_at(const halo_node *root, int layer, int phase);

/* Root: missing contributions of device d (0..n_devices-1) so far, all tokens: what the
   deadline counted as zero because d's answer was lost or late. */
uint64_t halo_node_missing_from(const halo_node *root, int d);

/* Root: 1 when the sync in flight still waits for device d's contribution (d holds groups of
   this block and nothing arrived from it yet), else 0. Valid until the token is aborted. */
int halo_node_awaiting(const halo_node *root, int d);

/* Root: total idle time (ns) so far at the sync of (layer, phase), all tokens. */
uint64_t halo_node_wait_at(const halo_node *root, int layer, int phase);

/*
 * Root: total time (ns) so far spent in block (layer, phase), all tokens: from the end of
 * the previous sync (or the token's start) to the end of this block's sync, so compute,
 * sending and waiting. The classifier after the last sync is not in any block.
 */
uint64_t halo_node_block_at(const halo_node *root, int layer, int phase);

/* Root: what the sync machinery measured of device d's exchanges (issue 15, the runtime
   scheduler of net/replan.h reads it). */
typedef struct halo_node_link {
    uint64_t srtt_ns[2];   /* per phase (enum halo_phase): smoothed delay from broadcast to
                              contribution (network and the device's compute); 0 = no sample */
    uint64_t rttvar_ns[2]; /* their mean deviations */
} halo_node_link;

/* Root: fills *out for device d (1..n_devices-1). */
void halo_node_get_link(const halo_node *root, int d, halo_node_link *out);

/* Bytes this node allocated. */
size_t halo_node_bytes(const halo_node *node);

#endif /* HALO_NODE_H */
