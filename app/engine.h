/*
 * The command line's view of an inference engine: one device (halo_forward) or an
 * in-process cluster over the loop transport, chosen and configured by shared options, so
 * `halo generate` and `halo eval` run every configuration the same way.
 */
#ifndef HALO_APP_ENGINE_H
#define HALO_APP_ENGINE_H

#include "app/cli.h"
#include "core/cluster.h"
#include "net/remote.h"

#include <getopt.h>
#include <stdio.h>

typedef struct halo_engine_opts {
    long nodes;               /* 0: single device; >= 1: in-process cluster of that many */
    const char *placement;    /* placement spec (default from the baseline) */
    const char *baseline;     /* dllama | balanced | relaxed, or NULL */
    const char *speeds;       /* relative device speeds for "balanced" */
    int policy;               /* enum halo_sync_policy */
    double deadline_ms;       /* relaxed deadline after a broadcast */
    const char *critical;     /* devices always awaited under relaxed, "1,3" */
    int encoding;             /* enum halo_encoding */
    long group_size;          /* FFN group size, 0 = default */
    double drop_rate;         /* injected loss on messages to/from the drop devices */
    const char *drop_devices; /* "1,2" or NULL: every worker */
    uint64_t drop_seed;
    int set_policy, set_placement; /* given explicitly (override the baseline) */
    const char *cluster;           /* cluster file: real sockets (net/remote.h), or NULL */
    int set_drop_seed, set_deadline;
} halo_engine_opts;

/* getopt_long codes of the engine options start here. */
enum {
    HALO_ENGINE_OPT_FIRST = 1000
};

#define HALO_ENGINE_LONGOPTS                                                  \
    {"nodes", required_argument, NULL, HALO_ENGINE_OPT_FIRST + 0},            \
        {"placement", required_argument, NULL, HALO_ENGINE_OPT_FIRST + 1},    \
        {"sync", required_argument, NULL, HALO_ENGINE_OPT_FIRST + 2},         \
        {"deadline-ms", required_argument, NULL, HALO_ENGINE_OPT_FIRST + 3},  \
        {"critical", required_argument, NULL, HALO_ENGINE_OPT_FIRST + 4},     \
        {"encoding", required_argument, NULL, HALO_ENGINE_OPT_FIRST + 5},     \
        {"group-size", required_argument, NULL, HALO_ENGINE_OPT_FIRST + 6},   \
        {"drop", required_argument, NULL, HALO_ENGINE_OPT_FIRST + 7},         \
        {"drop-devices", required_argument, NULL, HALO_ENGINE_OPT_FIRST + 8}, \
        {"drop-seed", required_argument, NULL, HALO_ENGINE_OPT_FIRST + 9},    \
        {"baseline", required_argument, NULL, HALO_ENGINE_OPT_FIRST + 10},    \
        {"speeds", required_argument, NULL, HALO_ENGINE_OPT_FIRST + 11}, {    \
        "cluster", required_argument, NULL, HALO_ENGINE_OPT_FIRST + 12        \
    }

/* Help text of the engine options. */
extern const char halo_engine_help[];

/* Defaults: single device, strict, f32, 10 ms deadline. */
void halo_engine_opts_init(halo_engine_opts *o);

/*
 * Handles one engine option (code from HALO_ENGINE_LONGOPTS). Returns HALO_OK, HALO_ERR_ARG
 * with a message, or 1 when `code` is not an engine option.
 */
int halo_engine_parse_opt(halo_engine_opts *o, int code, const char *arg, halo_err *err);

typedef struct halo_engine {
    halo_cli_session s;
    halo_transport *t;
    halo_cluster *c;
    halo_remote *r;              /* --cluster: the root of a socket cluster */
    struct halo_importance *imp; /* --cluster with importance: the HALO planning hook */
    struct halo_predictor *pred;
    int n_devices;
    uint64_t tokens;
    uint64_t wall_ns_sum;
} halo_engine;

/*
 * Loads model and tokenizer and builds the engine the options describe. Cross-option
 * errors (e.g. drop devices beyond --nodes) are HALO_ERR_ARG. On failure all is freed.
 */
int halo_engine_open(halo_engine *e, const char *model_path, const char *tokenizer_path,
                     int threads, const halo_engine_opts *o, halo_err *err);

/* Runs one token; *logits is valid until the next call. */
int halo_engine_forward(halo_engine *e, int token, int pos, const float **logits, halo_err *err);

/* Remote contributions expected and missing so far (0 and 0 for a single device). */
void halo_engine_contributions(const halo_engine *e, uint64_t *expected, uint64_t *missing);

/* Prints the cluster's metrics (nothing for a single device) to f. */
void halo_engine_report(const halo_engine *e, FILE *f);

/* Frees; safe on a zeroed engine. */
void halo_engine_close(halo_engine *e);

#endif /* HALO_APP_ENGINE_H */
