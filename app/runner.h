/*
 * What `halo generate` and `halo eval` run tokens on: one device, an in-process cluster over
 * the loop transport (--nodes N), or a socket cluster (--cluster FILE). The command line's
 * engine flags are the engine configuration's keys (core/engine.h: --deadline-ms is
 * engine.deadline_ms, ...), so a cluster is configured the same way from a scenario, a
 * cluster file or the command line; the other options here describe the world: how many
 * in-process devices, their speeds, the loss injected on their links.
 */
#ifndef HALO_APP_RUNNER_H
#define HALO_APP_RUNNER_H

#include "app/cli.h"
#include "core/cluster.h"
#include "core/engine.h"
#include "net/root.h"

#include <getopt.h>
#include <stdio.h>

/* getopt_long codes: engine key k is HALO_RUNNER_OPT_ENGINE + k; the world options follow. */
enum {
    HALO_RUNNER_OPT_ENGINE = 1000,
    HALO_RUNNER_OPT_WORLD = 1100,
    HALO_RUNNER_MAX_LONGOPTS = 128, /* a command's options, the engine's and the world's */
};

typedef struct halo_runner_opts {
    long nodes;               /* 0: single device; >= 1: in-process cluster of that many */
    const char *speeds;       /* relative device speeds (placement balanced) */
    double drop_rate;         /* injected loss on messages to/from the drop devices */
    const char *drop_devices; /* "1,2" or NULL: every worker */
    uint64_t drop_seed;
    int set_drop_seed;
    const char *cluster;     /* cluster file: real sockets (net/root.h), or NULL */
    const char *db;          /* results database to store the measured run in, or NULL */
    halo_engine_args engine; /* engine keys given as flags */
    /* storage for the generated long options */
    char flag_names[64][40];
    struct option longopts[HALO_RUNNER_MAX_LONGOPTS];
    int with_world;
} halo_runner_opts;

/* Defaults: single device, no engine flag, drop seed 1. */
void halo_runner_opts_init(halo_runner_opts *o);

/*
 * Adds the engine flags and (with `with_world`) the world options to a command's option
 * spec (spec->more*): parsed into o, listed in the command's help. The generated long
 * options live in o, which must outlive the parse.
 */
void halo_runner_add_options(halo_runner_opts *o, halo_cli_spec *spec, int with_world);

/*
 * Handles one option code of the engine or world flags. Returns HALO_OK, HALO_ERR_ARG with a
 * message naming the flag, or 1 when `code` is not one of them.
 */
int halo_runner_parse_opt(halo_runner_opts *o, int code, const char *arg, halo_err *err);

typedef struct halo_runner {
    halo_bundle b;
    halo_transport *t;
    halo_engine *engine;
    halo_cluster *c;
    halo_remote *r; /* --cluster: the root of a socket cluster */
    int n_devices;
    uint64_t tokens;
    /* --db: the measured run's token intervals (ms), its engine settings and source */
    double *token_ms;
    size_t n_token_ms, cap_token_ms;
    uint64_t opened_ns;
    char system[32], model[64];
    double loss;
    char *source;
    int record;
} halo_runner;

/*
 * Loads model and tokenizer and builds what the options describe. Cross-option errors
 * (e.g. drop devices beyond --nodes, an engine key with no effect here) are HALO_ERR_ARG
 * naming the flag or the cluster file's key. On failure all is freed.
 */
int halo_runner_open(halo_runner *e, const char *model_path, const char *tokenizer_path,
                     int threads, const halo_runner_opts *o, halo_err *err);

/* Runs one token; *logits is valid until the next call. */
int halo_runner_forward(halo_runner *e, int token, int pos, const float **logits, halo_err *err);

/* Remote contributions expected and missing so far (0 and 0 for a single device). */
void halo_runner_contributions(const halo_runner *e, uint64_t *expected, uint64_t *missing);

/*
 * --db: stores what ran as a measured run (results/measured.h, harness `harness`: system
 * from the engine, model from the checkpoint's name, the injected loss, every forward's time
 * as a token interval, the root's frames and injected drops, missing contributions, the
 * cluster file and engine settings as its source). No-op without --db. Errors: those of
 * halo_db_new and halo_measured_record.
 */
int halo_runner_record(const halo_runner *e, const halo_runner_opts *o, const char *harness,
                       int failed, halo_err *err);

/* Prints the cluster's metrics (nothing for a single device) to f. */
void halo_runner_report(const halo_runner *e, FILE *f);

/* A socket cluster with placement scheduled: prints `, "replans": [{"token": T, "reason":
   "..", "old_split": "..", "new_split": ".."}, ..]` (a JSON member to append to an object)
   to f; nothing otherwise. */
void halo_runner_replans_json(const halo_runner *e, FILE *f);

/* Frees; safe on a zeroed runner. */
void halo_runner_close(halo_runner *e);

#endif /* HALO_APP_RUNNER_H */
