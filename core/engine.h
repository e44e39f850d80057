/*
 * The engine configuration: every setting that decides how a distributed forward pass
 * runs (sync policy, deadlines, placement, importance-aware sync, redundancy, payload
 * encoding, memory budgets, delivery and its TCP settings, the simulator behind a
 * simulated world), one plain-data struct that the three front-ends only fill in: a
 * scenario file's `engine:` section (sim/scenario.h), a cluster file's `engine:` section
 * (net/clusterfile.h) and the command line's engine flags (app/). They all go through the
 * one key table below, so a key has the same name, values and meaning everywhere:
 * `engine.deadline_ms: 5` in a file is `--deadline-ms 5` on the command line.
 *
 * Filling a configuration, in this order:
 *   halo_engine_config_init        the defaults (no preset: strict, equal split, ...);
 *   halo_engine_preset             a named baseline (dllama, balanced, relaxed, halo,
 *                                  strict-datagram, strict-tcp-tuned);
 *   halo_engine_set                each explicit key, which overrides the preset;
 *   halo_engine_config_finish      derived defaults (delivery from the policy, the halo
 *                                  preset's scoring for a shape) and the checks between
 *                                  keys, for a given cluster size and model kind.
 *
 * Building an engine from a finished configuration (halo_engine_new) resolves what needs
 * the devices and the model: the placement ("balanced" from device speeds, "scheduled" by
 * the load-balancing scheduler), critical and reliable devices, the importance hook and its
 * predictor, memory budgets; halo_engine_cluster_new then makes the in-process cluster over
 * a transport (the loop transport or a simulated world), and a socket root reads the sync
 * settings and shares from the engine.
 *
 * Not here: which world runs (that is the front-end's choice), link and device models
 * (sim/), sockets (net/).
 */
#ifndef HALO_ENGINE_H
#define HALO_ENGINE_H

#include "core/cluster.h"
#include "core/delivery.h"
#include "core/model.h"
#include "core/node.h"
#include "core/status.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* engine.importance values beyond enum halo_scoring. */
enum {
    HALO_ENGINE_IMPORTANCE_NONE = -1, /* no importance-aware sync */
    HALO_ENGINE_IMPORTANCE_AUTO = -2, /* the halo preset's: predictor, synthetic for a shape */
};

/* engine.split_classifier: auto, decided from the model and the cluster size when the engine
   is built (halo_engine_split_classifier_pays); a finished engine holds 0 or 1. */
enum {
    HALO_ENGINE_SPLIT_AUTO = -1
};

/* engine.split_classifier auto: split when the classifier weights it moves off the root per
   token, (n - 1) / n x vocab x dim, reach this many: at ~1e9 weights/s of one core (f32,
   memory-bound: 1-3e9 measured here) that is >= 1 ms of the root's compute, against the one
   extra exchange per token the split costs (a round trip of dim floats out and vocab / n back
   per worker, with its host costs: 0.05-0.5 ms on loopback and a LAN). */
#define HALO_ENGINE_SPLIT_MIN_WEIGHTS 1000000.0

/* engine.synthetic_sigma: measured (the value the importance hook reads as "look it up"). */
#define HALO_ENGINE_SIGMA_MEASURED 0.0

/* engine.encoding: auto, decided from the model's weights when the engine is built
   (halo_engine_auto_encoding); a built engine holds HALO_ENCODING_F32 or HALO_ENCODING_Q8.
   Its value is the index of "auto" in the key's names, after the wire's encodings. The
   default is f32: without loss, the distributed result equals the single device's; q8
   rounds every partial sum to 8 bits. */
enum {
    HALO_ENGINE_ENCODING_AUTO = 2
};

/* engine.encoding auto: q8 payloads (blocks of 32 int8 with a scale, as distributed-llama's
   q80 sync buffer beside its Q40 weights) for a model whose weights are block-quantised
   (Q8_0, Q4_0, Q4_K: the activations' 8 bits are finer than the weights' 4 or 8), float32
   for float weights (F32, F16). Issue 15: on the quantised 110M model the f32 payloads were
   three datagrams a message at a 1500-byte MTU where q8's are one. */
int halo_engine_auto_encoding(const halo_model *model);

/* engine.delivery before finish: derived from the policy (stream if strict). */
enum {
    HALO_ENGINE_DELIVERY_AUTO = -1
};

/* The network engine of a simulated world (engine.simulator). */
enum halo_simulator {
    HALO_SIMULATOR_SIM = 0, /* the in-tree discrete-event engine (sim/sim.h) */
    HALO_SIMULATOR_NS3 = 1, /* ns-3 (sim/ns3/) */
};

typedef struct halo_engine_config {
    char baseline[24];        /* the preset applied, "" for none */
    char *placement;          /* equal | balanced | scheduled | weights:.. | explicit:.. */
    int policy;               /* enum halo_sync_policy */
    uint64_t deadline_ns;     /* relaxed: wait for non-critical contributions this long */
    char *critical;           /* "1,3" or "all": devices always awaited under relaxed, or NULL */
    int encoding;             /* enum halo_encoding of every message (default f32), or
                                 HALO_ENGINE_ENCODING_AUTO */
    int group_size;           /* hidden neurons per FFN group, 0 = the default */
    int delivery;             /* enum halo_delivery, or HALO_ENGINE_DELIVERY_AUTO */
    halo_tcp_config tcp;      /* stream delivery (simulated worlds) */
    int simulator;            /* enum halo_simulator (simulated worlds) */
    int collective;           /* enum halo_collective: star or mesh (core/node.h) */
    uint64_t heartbeat_ns;    /* simulated: the root pings every device this often, 0 = never */
    int importance;           /* enum halo_scoring, or HALO_ENGINE_IMPORTANCE_* */
    double tau;               /* fraction of the importance mass that is critical, (0, 1] */
    char *predictor;          /* predictor file, or NULL: the model file with .pred */
    int place_critical;       /* move critical FFN groups onto reliable devices */
    int attention_critical;   /* always await devices holding attention groups */
    char *reliable;           /* "0,2": devices whose links lose nothing, or NULL: derived */
    double synthetic_sigma;   /* log-normal sigma of synthetic scores (shape-only), or
                                 HALO_ENGINE_SIGMA_MEASURED: core/importance_sigma.h's table */
    int adaptive_deadline;    /* deadline from measured arrival delays */
    uint64_t deadline_min_ns; /* clamp of the adaptive deadline */
    uint64_t deadline_max_ns;
    int redundancy;         /* copies of each activation to a critical device, 1..8 */
    int memory_budget;      /* devices hold at most their memory of group weights */
    int prefetch;           /* memory_budget: read the next streamed block ahead */
    int redundancy_on_loss; /* extra copies only after a contribution went missing */
    int split_classifier;   /* star: every device computes a slice of the classifier's rows
                               and the root gathers the logits (core/node.h); the mesh always
                               splits it. 0, 1 or HALO_ENGINE_SPLIT_AUTO (resolved by
                               halo_engine_new; the halo preset's default over sockets) */
    int parity;             /* datagram delivery: parity datagrams after every message: a copy
                               of a single datagram; the XOR of the fragments and, for 2..64,
                               a second (RAID-6's Q), so any two lost are rebuilt */
    int slow_safe;          /* simulated worlds: the socket root's deadline rules
                               (halo_sync_config.slow_safe; a socket root always has them) */
    uint64_t set;           /* bit k: key k of the table was given explicitly */
} halo_engine_config;

/* The value types of the keys. */
enum halo_engine_type {
    HALO_ENGINE_TYPE_ENUM = 0,    /* one of names[] */
    HALO_ENGINE_TYPE_NUMBER = 1,  /* a finite number in the range */
    HALO_ENGINE_TYPE_INTEGER = 2, /* an integer in the range (1e6 is an integer) */
    HALO_ENGINE_TYPE_BOOL = 3,    /* true or false */
    HALO_ENGINE_TYPE_STRING = 4,  /* text (a placement spec) */
    HALO_ENGINE_TYPE_DEVICES = 5, /* device numbers "1,3" (checked against the cluster) */
    HALO_ENGINE_TYPE_PATH = 6,    /* a file (a front-end resolves it against its file's dir) */
};

/* Where a key takes effect (bits). */
enum {
    HALO_ENGINE_WHERE_SIM = 1,  /* simulated worlds */
    HALO_ENGINE_WHERE_LOOP = 2, /* the in-process loop cluster (halo generate --nodes) */
    HALO_ENGINE_WHERE_NET = 4,  /* socket clusters */
    HALO_ENGINE_WHERE_ALL = 7,
};

typedef struct halo_engine_key {
    const char *name;         /* "deadline_ms", "tcp.rto_min_ms" */
    int type;                 /* enum halo_engine_type */
    const char *const *names; /* ENUM: the values, NULL-terminated */
    double lo, hi;            /* NUMBER/INTEGER range */
    int lo_open, hi_open;     /* NUMBER: the bound itself excluded */
    int where;                /* HALO_ENGINE_WHERE_* bits */
    const char *arg;          /* the value's placeholder in help ("MS", "POLICY") */
    const char *help;         /* one line */
    /* Where the value is stored: offsetof(halo_engine_config, field), or HALO_ENGINE_NO_FIELD
       (baseline: a preset, not a field). ENUM, INTEGER and BOOL fields are int; STRING,
       PATH and DEVICES ones char *; a NUMBER key named with a unit (_ms, _us) is stored as
       uint64_t nanoseconds, any other NUMBER as double. */
    size_t offset;
} halo_engine_key;

#define HALO_ENGINE_NO_FIELD ((size_t)-1)

/* The key table (halo_engine_n_keys entries). Key k's bit in `set` is 1 << k. */
extern const halo_engine_key halo_engine_keys[];
extern const int halo_engine_n_keys;

/* The index of key `name` in the table, or -1. */
int halo_engine_key_find(const char *name);

/* Defaults without a preset: strict sync, equal split, f32, 10 ms deadline, TCP like
   Linux, no importance. Free with halo_engine_config_free. */
void halo_engine_config_init(halo_engine_config *c);

/* Frees the strings; the config is then as after init. Safe on an initialised config. */
void halo_engine_config_free(halo_engine_config *c);

/* Deep copy of src into dst (initialised or not; dst's old strings are not freed).
   Errors: HALO_ERR_NOMEM (dst is then initialised). */
int halo_engine_config_copy(halo_engine_config *dst, const halo_engine_config *src, halo_err *err);

/*
 * Applies a preset: the one mapping from a baseline name to settings.
 *   dllama     strict sync, equal split, reliable stream, the mesh collective
 *              (distributed-llama; a socket cluster gathers at the root unless
 *              collective: mesh is given explicitly, since only the star recovers from a
 *              lost worker);
 *   balanced   strict sync, split by device speed;
 *   relaxed    relaxed sync with a fixed deadline, equal split, no importance;
 *   halo       relaxed sync, split by device speed, importance from the predictor (synthetic
 *              scores for a shape), critical groups placed on reliable devices, adaptive
 *              deadline, two copies of each activation to critical devices;
 *   strict-datagram  the cheapest fix a strict system could make for loss: strict sync over
 *              datagrams with the application's own resend: relaxed sync with every device
 *              critical (critical: all), so every contribution is awaited, and an activation
 *              whose answer is missing after the adaptive deadline (srtt + 4 rttvar of the
 *              answers, as TCP's RTO without its 200 ms floor) is sent again; equal split,
 *              star collective, no importance, one copy;
 *   strict-tcp-tuned  dllama with the minimum RTO lowered per route as Linux allows
 *              (tcp.rto_min_ms 5: `ip route change ... rto_min 5ms`).
 * Keys set explicitly before are kept. Errors: HALO_ERR_ARG naming the value and the
 * presets (the message has no key prefix; front-ends add file:line or the flag).
 */
int halo_engine_preset(halo_engine_config *c, const char *name, halo_err *err);

/* The presets' names, NULL-terminated. */
extern const char *const halo_engine_preset_names[];

/*
 * Sets key `name` from its text `value` (as written in a file or on the command line) and
 * marks it set. "baseline" applies the preset. An empty device list ("") means none.
 * Errors: HALO_ERR_ARG for an unknown key or a bad value; the message is about the value
 * only ("1.5 is not in (0, 1]"), without the key: front-ends prefix the key as they name it.
 */
int halo_engine_set(halo_engine_config *c, const char *name, const char *value, halo_err *err);

/* 1 when key `name` was given explicitly. */
int halo_engine_is_set(const halo_engine_config *c, const char *name);

/*
 * Resolves the derived defaults and checks the keys against each other and against the
 * cluster: `n_devices` devices (root included), a model with weights (`has_weights`) or a
 * shape (no numerics), for a world of kind `where` (one HALO_ENGINE_WHERE_* bit: keys given
 * explicitly that do not take effect there are refused). On error *bad_key (may be NULL)
 * names the key at fault, so a front-end can point at it. Errors: HALO_ERR_ARG.
 */
int halo_engine_config_finish(halo_engine_config *c, int n_devices, int has_weights, int where,
                              const char **bad_key, halo_err *err);

/*
 * Writes the configuration as one JSON object with every key in table order (canonical: the
 * same settings give the same text, whichever front-end filled them), into buf (truncated
 * to cap, always NUL-terminated); "parity" only when on, so that the text of every
 * configuration from before that key is unchanged. Returns the length it needed.
 */
size_t halo_engine_config_json(const halo_engine_config *c, char *buf, size_t cap);

/* The command-line flag of key `name` without the dashes ("deadline-ms" for "deadline_ms",
   "tcp-rto-min-ms" for "tcp.rto_min_ms") into buf; returns buf. */
const char *halo_engine_flag_name(const char *name, char *buf, size_t cap);

/* Prints the command-line flags of every key (--name-with-dashes ARG  help) to f. */
void halo_engine_print_flags(FILE *f);

/* Engine keys given as text (command-line flags): value[k] for key k, or NULL. */
typedef struct halo_engine_args {
    const char *value[64]; /* borrowed */
} halo_engine_args;

/* 1 when any key is given. */
int halo_engine_args_any(const halo_engine_args *a);

/*
 * Sets every key given in `a` on `c` (the preset first, then the others in table order),
 * overriding what `c` holds. Errors: those of halo_engine_set; *bad_key (may be NULL)
 * receives the key at fault.
 */
int halo_engine_args_apply(halo_engine_config *c, const halo_engine_args *a, const char **bad_key,
                           halo_err *err);

/* What the engine knows of one device; zero fields are unknown. */
typedef struct halo_engine_device {
    double speed;              /* relative speed for placement "balanced" (> 0), 0 = unknown */
    double flops_per_s;        /* for "scheduled" */
    double mem_bw_bps;         /* for "scheduled" */
    uint64_t mem_bytes;        /* for "scheduled" and memory_budget */
    uint64_t op_overhead_ns;   /* for "scheduled" */
    double storage_bw_bps;     /* memory_budget: storage to stream from */
    double link_bps;           /* slower direction of its links */
    uint64_t link_latency_ns;  /* one-way latency, both directions added */
    double loss;               /* mean loss of the lossier direction; 0 = reliable */
    uint64_t send_ns, recv_ns; /* host cost of one message sent / received ("balanced-host") */
    double copy_ns_per_kb;     /* host cost per KiB of a message sent or received, on top */
} halo_engine_device;

typedef struct halo_engine_env {
    const halo_model *model;           /* borrowed; outlives the engine */
    const char *model_path;            /* for the default predictor file, may be NULL */
    const char *default_predictor;     /* used when model_path is NULL (the bundled one) */
    const char *name;                  /* prefixes messages (scenario or cluster file) */
    int n_devices;                     /* root included */
    const halo_engine_device *devices; /* (n_devices), or NULL: nothing known (then the
                                          root alone is reliable) */
    uint64_t seed, run;                /* synthetic scores' stream */
    int context_positions;             /* KV-cache positions the run needs (memory check);
                                          0 = the model's whole context */
} halo_engine_env;

typedef struct halo_engine halo_engine;

/*
 * Resolves a finished configuration for a cluster: the placement spec, critical and
 * reliable devices, the importance hook (loading the predictor), memory budgets. When the
 * devices' memory is known (env->devices with mem_bytes > 0) and memory_budget is off, it
 * checks that every device holds its share (group weights, the KV cache of its attention
 * groups for context_positions, and on the root the embedding table and the classifier, a
 * slice of it on every device under the mesh collective): out of memory is an error naming
 * the device and the sizes, never a time.
 * Errors: HALO_ERR_ARG (a placement that needs device facts the env lacks, a budget that
 * cannot hold the KV cache, ...; messages start with env->name), HALO_ERR_IO/FORMAT (the
 * predictor file), HALO_ERR_NOMEM. The config is copied.
 */
int halo_engine_new(halo_engine **out, const halo_engine_config *cfg, const halo_engine_env *env,
                    halo_err *err);

/* engine.split_classifier auto: 1 if splitting the classifier over n_devices pays for model
   shape mc (the classifier weights moved off the root, (n - 1) / n x vocab x dim, reach
   HALO_ENGINE_SPLIT_MIN_WEIGHTS), else 0; 0 for one device. OUT weights_moved (may be NULL):
   that weight count. */
int halo_engine_split_classifier_pays(const halo_model_config *mc, int n_devices,
                                      double *weights_moved);

/* Frees; NULL is a no-op. Clusters made from the engine must be freed first. */
void halo_engine_free(halo_engine *e);

/*
 * Makes the in-process cluster of the engine over `transport` (borrowed, spanning
 * env->n_devices nodes) with compute threads `pool` (borrowed, may be NULL). The cluster
 * borrows the engine. Errors: those of halo_cluster_new.
 */
int halo_engine_cluster_new(halo_cluster **out, const halo_engine *e, halo_transport *transport,
                            halo_pool *pool, halo_err *err);

/* The resolved settings (owned by the engine). The sync config's plan hook is bound to the
   engine's importance hook; its critical[] has n_devices entries. */
const halo_engine_config *halo_engine_get_config(const halo_engine *e);
const halo_sync_config *halo_engine_sync(const halo_engine *e);
const char *halo_engine_placement(const halo_engine *e);   /* a spec for halo_placement_parse */
const uint64_t *halo_engine_budgets(const halo_engine *e); /* (n_devices) or NULL */

/*
 * The shares of the devices for a placement that is a split by shares (equal, weights:,
 * balanced), into out[n_devices]. Errors: HALO_ERR_ARG for explicit and scheduled
 * placements (not a split by shares).
 */
int halo_engine_shares(const halo_engine *e, double *out, halo_err *err);

/* The importance hook's statistics, or NULL without importance. */
const struct halo_importance_stats *halo_engine_importance_stats(const halo_engine *e);

#endif /* HALO_ENGINE_H */
