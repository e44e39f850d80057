/*
 * Shared command-line helpers.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"

#include "core/file.h"
#include "core/parse.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ==== Declarative options ==== */

enum {
    MAX_OPTS = 192,
    CODE_TABLE = 2000 /* option i of the table has code CODE_TABLE + i */
};

static void print_help_text(FILE *f, const char *left, const char *help) {
    const char *line = help ? help : "";
    int first = 1;
    do {
        const char *nl = strchr(line, '\n');
        int len = nl ? (int)(nl - line) : (int)strlen(line);
        (void)fprintf(f, "  %-23s %.*s\n", first ? left : "", len, line);
        first = 0;
        line = nl ? nl + 1 : NULL;
    } while (line && *line);
}

void halo_cli_usage(const halo_cli_spec *spec, FILE *f) {
    (void)fprintf(f, "usage: halo %s %s\n\n%s\noptions:\n", spec->name, spec->synopsis,
                  spec->about ? spec->about : "");
    for (const halo_cli_opt *o = spec->opts; o && o->name; o++) {
        char left[80];
        if (o->short_name)
            (void)snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name,
                           o->kind == HALO_CLI_FLAG ? "" : " ",
                           o->kind == HALO_CLI_FLAG ? "" : o->arg);
        else
            (void)snprintf(left, sizeof left, "    --%s%s%s", o->name,
                           o->kind == HALO_CLI_FLAG ? "" : " ",
                           o->kind == HALO_CLI_FLAG ? "" : o->arg);
        print_help_text(f, left, o->help);
    }
    print_help_text(f, "-h, --help", "this help");
    if (spec->after)
        (void)fprintf(f, "\n%s", spec->after);
    if (spec->more_help) {
        (void)fprintf(f, "\n");
        spec->more_help(spec->more_ctx, f);
    }
}

/* Stores option o's argument. */
static int store(const halo_cli_opt *o, const char *arg, halo_err *err) {
    int rc = HALO_OK;
    long long l = 0;
    double d = 0;
    switch (o->kind) {
    case HALO_CLI_FLAG:
        *(int *)o->dest = 1;
        return HALO_OK;
    case HALO_CLI_PATH:
        if (!arg[0])
            return HALO_FAIL(err, HALO_ERR_ARG, "--%s: empty file name", o->name);
        *(const char **)o->dest = arg;
        return HALO_OK;
    case HALO_CLI_STRING:
        *(const char **)o->dest = arg;
        return HALO_OK;
    case HALO_CLI_LONG:
        rc = halo_parse_integer(arg, (long long)o->lo, (long long)o->hi, &l, err);
        if (rc == HALO_OK)
            *(long *)o->dest = (long)l;
        break;
    case HALO_CLI_FLOAT:
        rc = halo_parse_number(arg, o->lo, 0, o->hi, 0, &d, err);
        if (rc == HALO_OK)
            *(float *)o->dest = (float)d;
        break;
    case HALO_CLI_U64:
        rc = halo_parse_u64(arg, (uint64_t *)o->dest, err);
        break;
    default:
        rc = halo_parse_enum(arg, o->choices, (int *)o->dest, err);
        break;
    }
    if (rc != HALO_OK)
        (void)halo_err_prefix(err, "--%s: ", o->name);
    return rc;
}

/* The first required option of the table that was not given, as an error. */
static int check_required(const halo_cli_spec *spec, halo_err *err) {
    for (const halo_cli_opt *o = spec->opts; o && o->name; o++)
        if (o->required && !*(const char *const *)o->dest)
            return HALO_FAIL(err, HALO_ERR_ARG, "missing --%s %s", o->name, o->arg);
    return HALO_OK;
}

int halo_cli_parse(const halo_cli_spec *spec, int argc, char **argv, halo_err *err) {
    struct option longopts[MAX_OPTS];
    char shortopts[2 * MAX_OPTS + 4] = ":h";
    size_t n = 0, ns = 2;
    for (const halo_cli_opt *o = spec->opts; o && o->name; o++, n++) {
        HALO_ASSERT(n + 2 < MAX_OPTS);
        int has_arg = o->kind == HALO_CLI_FLAG ? no_argument : required_argument;
        longopts[n] = (struct option){o->name, has_arg, NULL, CODE_TABLE + (int)n};
        if (o->short_name) {
            shortopts[ns++] = (char)o->short_name;
            if (has_arg == required_argument)
                shortopts[ns++] = ':';
        }
    }
    size_t n_table = n;
    longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    for (const struct option *m = spec->more; m && m->name; m++) {
        HALO_ASSERT(n + 1 < MAX_OPTS);
        longopts[n++] = *m;
    }
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    shortopts[ns] = '\0';
    optind = 1;
    opterr = 0;
    int c, rc = HALO_OK;
    while (rc == HALO_OK && (c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == 'h')
            return 1;
        const halo_cli_opt *o = NULL;
        if (c >= CODE_TABLE && c < CODE_TABLE + (int)n_table)
            o = &spec->opts[c - CODE_TABLE];
        for (size_t i = 0; !o && c > 0 && c < 128 && i < n_table; i++)
            if (spec->opts[i].short_name == c)
                o = &spec->opts[i];
        if (o) {
            rc = store(o, optarg, err);
            continue;
        }
        rc = c != ':' && c != '?' && spec->more_parse
                 ? spec->more_parse(spec->more_ctx, c, optarg, err)
                 : 1;
        if (rc == 1)
            return halo_cli_bad_option(c, argv, err);
    }
    if (rc != HALO_OK)
        return rc;
    if (!spec->positional) {
        if (optind < argc)
            return HALO_FAIL(err, HALO_ERR_ARG, "unexpected argument '%s'", argv[optind]);
    } else if (spec->optional_positional && optind >= argc) {
        *spec->pos_out = NULL;
    } else if ((rc = halo_cli_one_arg(argc, argv, spec->positional, spec->pos_out, err)) !=
               HALO_OK) {
        return rc;
    }
    return check_required(spec, err);
}

int halo_cli_parse_or_exit(const halo_cli_spec *spec, int argc, char **argv) {
    halo_err err = {0};
    int rc = halo_cli_parse(spec, argc, argv, &err);
    if (rc == 1) {
        halo_cli_usage(spec, stdout);
        return HALO_EXIT_OK;
    }
    return rc != HALO_OK ? halo_cli_usage_error(&err, spec->name) : -1;
}

int halo_cli_usage_error(const halo_err *err, const char *cmd) {
    halo_cli_print_err(err);
    (void)fprintf(stderr, "Try 'halo %s --help'.\n", cmd);
    return HALO_EXIT_USAGE;
}

int halo_cli_bad_option(int c, char *const *argv, halo_err *err) {
    if (c == ':')
        return HALO_FAIL(err, HALO_ERR_ARG, "option %s needs a value", argv[optind - 1]);
    return HALO_FAIL(err, HALO_ERR_ARG, "unknown option '%s'", argv[optind - 1]);
}

int halo_cli_one_arg(int argc, char *const *argv, const char *what, const char **out,
                     halo_err *err) {
    if (optind >= argc)
        return HALO_FAIL(err, HALO_ERR_ARG, "missing %s", what);
    if (optind + 1 < argc)
        return HALO_FAIL(err, HALO_ERR_ARG, "unexpected argument '%s'", argv[optind + 1]);
    *out = argv[optind];
    return HALO_OK;
}

int halo_cli_parse_long(const char *opt, const char *s, long min, long max, long *out,
                        halo_err *err) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno == ERANGE)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: '%s' is not an integer", opt, s);
    if (v < min || v > max)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: %ld is out of range %ld..%ld", opt, v, min, max);
    *out = v;
    return HALO_OK;
}

int halo_cli_parse_u64(const char *opt, const char *s, uint64_t *out, halo_err *err) {
    char *end = NULL;
    errno = 0;
    if (s[0] == '-' || s[0] == '\0')
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: '%s' is not a non-negative integer", opt, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: '%s' is not a non-negative integer", opt, s);
    *out = (uint64_t)v;
    return HALO_OK;
}

int halo_cli_parse_float(const char *opt, const char *s, float min, float max, float *out,
                         halo_err *err) {
    char *end = NULL;
    errno = 0;
    float v = strtof(s, &end);
    if (s[0] == '\0' || *end != '\0' || errno == ERANGE || !isfinite(v))
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: '%s' is not a number", opt, s);
    if (v < min || v > max)
        return HALO_FAIL(err, HALO_ERR_ARG, "%s: %g is out of range %g..%g", opt, (double)v,
                         (double)min, (double)max);
    *out = v;
    return HALO_OK;
}

const char *halo_cli_bundled_path(const char *name, char *buf, size_t size) {
    const char *dir = getenv("HALO_MODEL_DIR");
    if (!dir || dir[0] == '\0')
        dir = HALO_SOURCE_MODEL_DIR;
    int n = snprintf(buf, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size)
        buf[0] = '\0';
    return buf;
}

const char *halo_cli_model_path(const char *path, char *buf, size_t size) {
    return path ? path : halo_cli_bundled_path("stories260K.bin", buf, size);
}

void halo_cli_print_err(const halo_err *err) {
    if (getenv("HALO_DEBUG") && err->file)
        (void)fprintf(stderr, "halo: %s (%s:%d)\n", err->msg, err->file, err->line);
    else
        (void)fprintf(stderr, "halo: %s\n", err->msg);
}

int halo_cli_read_text(const char *path, char **out, halo_err *err) {
    size_t len;
    return halo_file_read_text(path, HALO_CLI_MAX_TEXT_BYTES, out, &len, err);
}

int halo_cli_check_output(const char *out_name, const char *out, const char *in_name,
                          const char *in, halo_err *err) {
    if (!halo_file_same(out, in))
        return HALO_OK;
    return HALO_FAIL(err, HALO_ERR_ARG,
                     "%s %s: the same file as %s %s; refusing to overwrite an input", out_name, out,
                     in_name, in);
}

int halo_cli_fail(int rc, const halo_err *err) {
    halo_cli_print_err(err);
    return rc == HALO_ERR_ARG ? HALO_EXIT_USAGE : HALO_EXIT_FAIL;
}

int halo_cli_json_open(halo_cli_json *j, const char *what, halo_err *err) {
    memset(j, 0, sizeof *j);
    j->js = open_memstream(&j->doc, &j->doc_len);
    return j->js ? HALO_OK : HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", what);
}

int halo_cli_json_print(halo_cli_json *j, const char *what, halo_err *err) {
    int rc = HALO_OK;
    if (!j->js)
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", what);
    else if (fclose(j->js) != 0)
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", what);
    j->js = NULL;
    if (rc == HALO_OK)
        rc = halo_json_guard_check(&j->g, what, err);
    if (rc == HALO_OK)
        (void)fwrite(j->doc, 1, j->doc_len, stdout);
    free(j->doc);
    j->doc = NULL;
    return rc;
}

uint64_t halo_cli_now_ns(void) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int halo_cli_tokenizer_for(const halo_model *model, const char *tokenizer_path,
                           halo_tokenizer **out, halo_err *err) {
    char tbuf[4096];
    int vocab = halo_model_get_config(model)->vocab_size;
    if (!tokenizer_path && halo_model_gguf(model))
        return halo_tokenizer_load_gguf(out, halo_model_gguf(model), vocab, err);
    if (!tokenizer_path)
        tokenizer_path = halo_cli_bundled_path("tok512.bin", tbuf, sizeof tbuf);
    return halo_tokenizer_load(out, tokenizer_path, vocab, err);
}

int halo_bundle_open(halo_bundle *s, const char *model_path, const char *tokenizer_path,
                     int threads, halo_err *err) {
    char mbuf[4096];
    memset(s, 0, sizeof *s);
    model_path = halo_cli_model_path(model_path, mbuf, sizeof mbuf);
    /* A GGUF file's context can be long (Llama 3: 8192 and more): the KV cache is allocated
       for at most HALO_CLI_MAX_CONTEXT positions. */
    halo_model_opts mo = {.max_seq_len = HALO_CLI_MAX_CONTEXT};
    int rc = halo_model_load_opts(&s->model, model_path, &mo, err);
    if (rc == HALO_OK)
        rc = halo_cli_tokenizer_for(s->model, tokenizer_path, &s->tok, err);
    if (rc == HALO_OK)
        rc = halo_pool_new(&s->pool, threads, err);
    if (rc == HALO_OK)
        rc = halo_state_new(&s->state, s->model, s->pool, err);
    if (rc != HALO_OK)
        halo_bundle_close(s);
    return rc;
}

void halo_bundle_close(halo_bundle *s) {
    halo_state_free(s->state);
    halo_pool_free(s->pool);
    halo_tokenizer_free(s->tok);
    halo_model_free(s->model);
    memset(s, 0, sizeof *s);
}
