/*
 * Helpers shared by the `halo` subcommands: strict number parsing, default file locations,
 * error printing, clocks and loading of the model + tokenizer pair. Only the app layer
 * prints and exits; these helpers return statuses.
 */
#ifndef HALO_APP_CLI_H
#define HALO_APP_CLI_H

#include "core/forward.h"
#include "core/model.h"
#include "core/pool.h"
#include "core/status.h"
#include "core/tokenizer.h"

#include <stdint.h>
#include <stdio.h>

/* Exit statuses of the halo command. */
enum {
    HALO_EXIT_OK = 0,
    HALO_EXIT_FAIL = 1,
    HALO_EXIT_USAGE = 2
};

/*
 * The error for what getopt_long returned and the caller does not handle (getopt_long with
 * opterr = 0 and a leading ':' in its option string): ':' is an option without its value,
 * anything else an unknown option. Always HALO_ERR_ARG, naming the option.
 */
int halo_cli_bad_option(int c, char *const *argv, halo_err *err);

/*
 * After the options (optind): exactly one positional argument, stored in *out; `what` names
 * it when it is missing ("FILE to evaluate"). Errors: HALO_ERR_ARG.
 */
int halo_cli_one_arg(int argc, char *const *argv, const char *what, const char **out,
                     halo_err *err);

/*
 * What a command does with its option parser's result `rc`: 1 (--help) prints usage to
 * stdout and gives exit status 0; an error prints it with a "Try 'halo CMD --help'" hint and
 * gives 2; HALO_OK gives -1 (go on).
 */
int halo_cli_after_parse(int rc, const char *cmd, void (*usage)(FILE *), const halo_err *err);

/* Prints a usage error with the "Try 'halo CMD --help'" hint; returns exit status 2. */
int halo_cli_usage_error(const halo_err *err, const char *cmd);

/* Parses a whole decimal integer in [min, max]; `opt` names the option in the message. */
int halo_cli_parse_long(const char *opt, const char *s, long min, long max, long *out,
                        halo_err *err);

/* Parses a whole unsigned 64-bit decimal integer. */
int halo_cli_parse_u64(const char *opt, const char *s, uint64_t *out, halo_err *err);

/* Parses a finite float in [min, max]. */
int halo_cli_parse_float(const char *opt, const char *s, float min, float max, float *out,
                         halo_err *err);

/*
 * Path of a bundled file (e.g. "stories260K.bin"): $HALO_MODEL_DIR/name when set, else the
 * source tree's models/name. Returns a pointer into `buf` (of `size` bytes).
 */
const char *halo_cli_bundled_path(const char *name, char *buf, size_t size);

/* Prints "halo: <msg>" to stderr (with the raising source line when HALO_DEBUG is set). */
void halo_cli_print_err(const halo_err *err);

/* Writes `s` as a JSON string literal (quoted, escaped). */
void halo_cli_print_json_string(FILE *f, const char *s);

/* Monotonic wall-clock time in nanoseconds. */
uint64_t halo_cli_now_ns(void);

/* A model, its tokenizer, a pool and a run state, loaded together. */
typedef struct halo_bundle {
    halo_model *model;
    halo_tokenizer *tok;
    halo_pool *pool;
    halo_state *state;
} halo_bundle;

/*
 * Loads model and tokenizer (NULL paths mean the bundled ones), starts `threads` threads
 * (0 = one per core) and creates a run state. On failure everything is freed.
 */
int halo_bundle_open(halo_bundle *s, const char *model_path, const char *tokenizer_path,
                     int threads, halo_err *err);

/* Frees what halo_bundle_open made; safe on a zeroed session. */
void halo_bundle_close(halo_bundle *s);

/* The subcommands: each takes argc/argv starting at its own name and returns an exit code. */
int halo_cmd_generate(int argc, char **argv);
int halo_cmd_eval(int argc, char **argv);
int halo_cmd_bench(int argc, char **argv);
int halo_cmd_sim(int argc, char **argv);
int halo_cmd_calibrate(int argc, char **argv);
int halo_cmd_worker(int argc, char **argv);
int halo_cmd_keygen(int argc, char **argv);
int halo_cmd_sweep(int argc, char **argv);   /* app/cmd_sweep.c */
int halo_cmd_db(int argc, char **argv);      /* app/cmd_sweep.c */
int halo_cmd_plot(int argc, char **argv);    /* app/cmd_results.c */
int halo_cmd_report(int argc, char **argv);  /* app/cmd_results.c */
int halo_cmd_regress(int argc, char **argv); /* app/cmd_results.c */

#endif /* HALO_APP_CLI_H */
