/*
 * Helpers shared by the `halo` subcommands: strict number parsing, default file locations,
 * error printing, clocks and loading of the model + tokenizer pair. Only the app layer
 * prints and exits; these helpers return statuses.
 */
#ifndef HALO_APP_CLI_H
#define HALO_APP_CLI_H

#include "core/forward.h"
#include "core/json.h"
#include "core/model.h"
#include "core/pool.h"
#include "core/status.h"
#include "core/tokenizer.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses of the halo command. */
enum {
    HALO_EXIT_OK = 0,
    HALO_EXIT_FAIL = 1,
    HALO_EXIT_USAGE = 2
};

/* ==== Declarative options ==== */

/* What an option's value is and where it goes (halo_cli_opt.dest). */
enum halo_cli_kind {
    HALO_CLI_FLAG = 0,   /* no value; int *dest = 1 */
    HALO_CLI_STRING = 1, /* const char **dest = the argument (may be empty) */
    HALO_CLI_LONG = 2,   /* long *dest: a whole number in [lo, hi] */
    HALO_CLI_FLOAT = 3,  /* float *dest: a finite number in [lo, hi] */
    HALO_CLI_U64 = 4,    /* uint64_t *dest: a whole number in [0, 2^64) */
    HALO_CLI_CHOICE = 5, /* int *dest: the index of the argument among choices[] */
    HALO_CLI_PATH = 6,   /* const char **dest = the argument, a file name (never empty) */
};

/* One option of a command; a table of them ends with a NULL name. */
typedef struct halo_cli_opt {
    const char *name;           /* long name, without the dashes */
    int short_name;             /* 'm', or 0 for none */
    int kind;                   /* enum halo_cli_kind */
    void *dest;                 /* where the value goes (borrowed) */
    double lo, hi;              /* LONG, FLOAT: the range */
    const char *const *choices; /* CHOICE: the names, NULL-terminated */
    const char *arg;            /* the value's placeholder in the help ("FILE", "N") */
    const char *help;           /* the help text; '\n' starts a continuation line */
    int required;               /* PATH: 1 when it must be given ("missing --NAME ARG") */
} halo_cli_opt;

/*
 * The entries of an option table, one macro per kind (git's parse-options OPT_* idiom): each
 * names only the fields its kind uses, and a `dest` of another type than the kind stores does
 * not compile ("pointer type mismatch"). HALO_CLI_OPT_END ends the table.
 */
#define HALO_CLI_DEST(type, dest) ((void *)(1 ? (dest) : (type *)0))
#define HALO_CLI_OPT_(name_, short_, kind_, dest_, lo_, hi_, choices_, arg_, help_)             \
    {                                                                                           \
        .name = (name_), .short_name = (short_), .kind = (kind_), .dest = (dest_), .lo = (lo_), \
        .hi = (hi_), .choices = (choices_), .arg = (arg_), .help = (help_)                      \
    }
#define HALO_CLI_OPT_FLAG(name, short_name, dest, help) \
    HALO_CLI_OPT_(name, short_name, HALO_CLI_FLAG, HALO_CLI_DEST(int, dest), 0, 0, NULL, NULL, help)
#define HALO_CLI_OPT_STRING(name, short_name, dest, arg, help)                                \
    HALO_CLI_OPT_(name, short_name, HALO_CLI_STRING, HALO_CLI_DEST(const char *, dest), 0, 0, \
                  NULL, arg, help)
#define HALO_CLI_OPT_PATH(name, short_name, dest, arg, help)                                      \
    HALO_CLI_OPT_(name, short_name, HALO_CLI_PATH, HALO_CLI_DEST(const char *, dest), 0, 0, NULL, \
                  arg, help)
/* A PATH option that must be given: halo_cli_parse fails with "missing --NAME ARG" for the
   first one of the table absent. */
#define HALO_CLI_OPT_REQUIRED_PATH(name_, short_, dest_, arg_, help_)                             \
    {                                                                                             \
        .name = (name_), .short_name = (short_), .kind = HALO_CLI_PATH,                           \
        .dest = HALO_CLI_DEST(const char *, dest_), .arg = (arg_), .help = (help_), .required = 1 \
    }
#define HALO_CLI_OPT_LONG(name, short_name, dest, lo, hi, arg, help)                             \
    HALO_CLI_OPT_(name, short_name, HALO_CLI_LONG, HALO_CLI_DEST(long, dest), lo, hi, NULL, arg, \
                  help)
#define HALO_CLI_OPT_FLOAT(name, short_name, dest, lo, hi, arg, help)                              \
    HALO_CLI_OPT_(name, short_name, HALO_CLI_FLOAT, HALO_CLI_DEST(float, dest), lo, hi, NULL, arg, \
                  help)
#define HALO_CLI_OPT_U64(name, short_name, dest, arg, help)                                       \
    HALO_CLI_OPT_(name, short_name, HALO_CLI_U64, HALO_CLI_DEST(uint64_t, dest), 0, 0, NULL, arg, \
                  help)
#define HALO_CLI_OPT_CHOICE(name, short_name, dest, choices, arg, help)                            \
    HALO_CLI_OPT_(name, short_name, HALO_CLI_CHOICE, HALO_CLI_DEST(int, dest), 0, 0, choices, arg, \
                  help)
#define HALO_CLI_OPT_END HALO_CLI_OPT_(NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL)

/* Options that several commands take with the same meaning, written once. */
#define HALO_CLI_OPT_MODEL(dest)                  \
    HALO_CLI_OPT_PATH("model", 'm', dest, "FILE", \
                      "llama2.c checkpoint or GGUF file (default: bundled)")
#define HALO_CLI_OPT_TOKENIZER(dest)                                                          \
    HALO_CLI_OPT_PATH("tokenizer", 'z', dest, "FILE",                                         \
                      "llama2.c tokenizer (default: a GGUF file's own\nvocabulary, else the " \
                      "bundled one)")
#define HALO_CLI_OPT_THREADS(dest)                      \
    HALO_CLI_OPT_LONG("threads", 0, dest, 0, 1024, "T", \
                      "compute threads, 0 = one per core (default 0)")
/* --json: `instead` (a string literal) names what the JSON replaces ("text", "a table"). */
#define HALO_CLI_OPT_JSON(dest, instead) \
    HALO_CLI_OPT_FLAG("json", 0, dest, "print one JSON object instead of " instead)

/* A command's options and help: halo_cli_parse reads argv by it, halo_cli_usage prints it. */
typedef struct halo_cli_spec {
    const char *name;     /* "generate" */
    const char *synopsis; /* what follows "usage: halo NAME", e.g. "[options] FILE" */
    const char *about;    /* paragraphs before the options (ending in "\n") */
    const halo_cli_opt *opts;
    const char *after;       /* text after the options, or NULL */
    const char *positional;  /* the one positional argument's name ("FILE to evaluate"), or
                                NULL for none */
    const char **pos_out;    /* where the positional argument goes */
    int optional_positional; /* 1: the positional argument may be absent */
    /* More options handled elsewhere (the runner's engine and world flags): their long
       options, a handler (returns 1 for a code it does not know) and their help. */
    const struct option *more;
    int (*more_parse)(void *ctx, int code, const char *arg, halo_err *err);
    void (*more_help)(void *ctx, FILE *f);
    void *more_ctx;
} halo_cli_spec;

/* Prints "usage: halo NAME SYNOPSIS", the about text, every option and the rest to f. */
void halo_cli_usage(const halo_cli_spec *spec, FILE *f);

/*
 * Parses argv (argv[0] is the command's name) by `spec`. Returns HALO_OK, 1 for --help, or
 * HALO_ERR_ARG with a message naming the option ("--steps: 0 is not in [1, 1073741824]",
 * "unknown option '--x'", "option --model needs a value", "missing FILE to evaluate",
 * "missing --db FILE"; the positional argument is checked before the required options).
 */
int halo_cli_parse(const halo_cli_spec *spec, int argc, char **argv, halo_err *err);

/*
 * halo_cli_parse and what a command does with the result: -1 to go on; otherwise the exit
 * status after printing the usage (--help: stdout, 0) or the error with a "Try 'halo NAME
 * --help'" hint (2).
 */
int halo_cli_parse_or_exit(const halo_cli_spec *spec, int argc, char **argv);

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

/*
 * The model file a command runs: `path` when it is not NULL, else the bundled
 * stories260K.bin (halo_cli_bundled_path into `buf` of `size` bytes). Returns `path` or
 * `buf`; borrowed from the caller either way.
 */
const char *halo_cli_model_path(const char *path, char *buf, size_t size);

/* Prints "halo: <msg>" to stderr (with the raising source line when HALO_DEBUG is set). */
void halo_cli_print_err(const halo_err *err);

/*
 * Refuses an output that is one of the command's inputs (halo_file_same: the same existing
 * file under any path, a symbolic or a hard link): HALO_ERR_ARG "OUT_NAME OUT: the same file
 * as IN_NAME IN; refusing to overwrite an input" (out_name, in_name: how the command line
 * names them, "-o", "--db", "the scenario"). HALO_OK when they differ or either is NULL or
 * missing. Call it before anything is read or created.
 */
int halo_cli_check_output(const char *out_name, const char *out, const char *in_name,
                          const char *in, halo_err *err);

/* Reads the stories file of `halo eval` and `halo calibrate`: a regular file of at most
   HALO_CLI_MAX_TEXT_BYTES with no NUL byte inside (halo_file_read_text), into *out (the
   caller frees it). */
#define HALO_CLI_MAX_TEXT_BYTES ((size_t)1 << 30) /* a whole TinyStories split is about 20 MB */
int halo_cli_read_text(const char *path, char **out, halo_err *err);

/* A command's failure `rc`: prints err (halo_cli_print_err) and returns the exit status,
   HALO_EXIT_USAGE for HALO_ERR_ARG (a bad argument), else HALO_EXIT_FAIL. */
int halo_cli_fail(int rc, const halo_err *err);

/* A --json document built in memory and printed only when every number in it is finite
   (core/json.h; issue 18): halo_cli_json_open, fprintf to js (numbers through
   halo_json_num with &g), then halo_cli_json_print. */
typedef struct halo_cli_json {
    FILE *js;          /* the in-memory stream; NULL when it could not be opened */
    halo_json_guard g; /* the first non-finite number written, if any */
    char *doc;         /* the document (owned; freed by halo_cli_json_print) */
    size_t doc_len;    /* its length in bytes */
} halo_cli_json;

/* Opens j->js. Returns HALO_OK, or HALO_ERR_NOMEM naming `what` ("bench --json"). */
int halo_cli_json_open(halo_cli_json *j, const char *what, halo_err *err);

/* Ends the document of halo_cli_json_open (after an open that failed, j->js is NULL and
   this fails again): closes the stream, checks the guard, writes the document to stdout
   only when both succeeded, frees it. Returns HALO_OK, HALO_ERR_NOMEM
   (the stream failed) or HALO_ERR_FORMAT (a non-finite number); errors name `what`. Does
   not print the error. */
int halo_cli_json_print(halo_cli_json *j, const char *what, halo_err *err);

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
 * The tokenizer of `model`: the file at tokenizer_path, else the vocabulary in a GGUF
 * model's file, else the bundled tok512.bin. Errors as the loaders'.
 */
int halo_cli_tokenizer_for(const halo_model *model, const char *tokenizer_path,
                           halo_tokenizer **out, halo_err *err);

/* The longest context a GGUF model is run with (its KV cache is allocated for it). */
#define HALO_CLI_MAX_CONTEXT 4096

/*
 * Loads model and tokenizer (NULL paths mean the bundled ones; a GGUF model without a
 * tokenizer path uses the vocabulary in the file), starts `threads` threads (0 = one per
 * core) and creates a run state. On failure everything is freed.
 */
int halo_bundle_open(halo_bundle *s, const char *model_path, const char *tokenizer_path,
                     int threads, halo_err *err);

/* Frees what halo_bundle_open made; safe on a zeroed session. */
void halo_bundle_close(halo_bundle *s);

/* The subcommands: each takes argc/argv starting at its own name and returns an exit code. */
int halo_cmd_generate(int argc, char **argv);
int halo_cmd_eval(int argc, char **argv);
int halo_cmd_bench(int argc, char **argv);
int halo_cmd_convert(int argc, char **argv); /* app/cmd_convert.c */
int halo_cmd_sim(int argc, char **argv);
int halo_cmd_calibrate(int argc, char **argv);
int halo_cmd_worker(int argc, char **argv);
int halo_cmd_keygen(int argc, char **argv);
int halo_cmd_sweep(int argc, char **argv);   /* app/cmd_sweep.c */
int halo_cmd_db(int argc, char **argv);      /* app/cmd_sweep.c */
int halo_cmd_plot(int argc, char **argv);    /* app/cmd_results.c */
int halo_cmd_report(int argc, char **argv);  /* app/cmd_results.c */
int halo_cmd_regress(int argc, char **argv); /* app/cmd_results.c */
int halo_cmd_export(int argc, char **argv);  /* app/cmd_results.c */

#endif /* HALO_APP_CLI_H */
