/*
 * `halo eval`: teacher-forced quality over a file of stories (see core/eval.h for the
 * exact metric): stories, tokens, mean negative log-likelihood per token, perplexity.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"
#include "app/runner.h"
#include "core/eval.h"
#include "sim/scenario.h"
#include "sim/simrun.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
    (void)fprintf(f,
                  "usage: halo eval [options] FILE\n\n"
                  "Teacher-forced evaluation: mean negative log-likelihood per token and\n"
                  "perplexity over the stories in FILE (separated by lines holding only\n"
                  "<|endoftext|>; each story is scored as BOS + its tokens).\n\n"
                  "options:\n"
                  "  -m, --model FILE       llama2.c checkpoint (default: bundled)\n"
                  "  -z, --tokenizer FILE   llama2.c tokenizer (default: bundled)\n"
                  "      --threads T        compute threads, 0 = one per core (default 0)\n"
                  "      --max-stories N    score only the first N stories\n"
                  "      --scenario FILE    evaluate through a simulated cluster (losses and\n"
                  "                         all), reporting quality and simulated time together\n"
                  "      --point I          the scenario's sweep point (default 0)\n"
                  "      --run R            the replication (default 0)\n"
                  "      --json             print one JSON object instead of text\n"
                  "  -h, --help             this help\n\n");
    halo_runner_print_help(f);
}

typedef struct eval_opts {
    const char *model, *tokenizer, *file, *scenario;
    long threads, max_stories, point, run;
    int json;
    halo_runner_opts engine;
} eval_opts;

static int parse(int argc, char **argv, eval_opts *o, halo_err *err) {
    static const struct option own[] = {
        {"model", required_argument, NULL, 'm'},   {"tokenizer", required_argument, NULL, 'z'},
        {"threads", required_argument, NULL, 'T'}, {"max-stories", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'J'},          {"scenario", required_argument, NULL, 'C'},
        {"point", required_argument, NULL, 'O'},   {"run", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    *o = (eval_opts){.max_stories = -1};
    halo_runner_opts_init(&o->engine);
    optind = 1;
    opterr = 0;
    int c, rc = HALO_OK;
    while (rc == HALO_OK &&
           (c = getopt_long(argc, argv, ":m:z:h", halo_runner_longopts(&o->engine, own, 1),
                            NULL)) != -1) {
        switch (c) {
        case 'm':
            o->model = optarg;
            break;
        case 'z':
            o->tokenizer = optarg;
            break;
        case 'T':
            rc = halo_cli_parse_long("--threads", optarg, 0, 1024, &o->threads, err);
            break;
        case 'S':
            rc = halo_cli_parse_long("--max-stories", optarg, 1, 1L << 30, &o->max_stories, err);
            break;
        case 'C':
            o->scenario = optarg;
            break;
        case 'O':
            rc = halo_cli_parse_long("--point", optarg, 0, 1L << 40, &o->point, err);
            break;
        case 'R':
            rc = halo_cli_parse_long("--run", optarg, 0, 1000000, &o->run, err);
            break;
        case 'J':
            o->json = 1;
            break;
        case 'h':
            return 1;
        default: /* ':' too: it is no engine option */
            rc = halo_runner_parse_opt(&o->engine, c, optarg, err);
            if (rc == 1)
                return halo_cli_bad_option(c, argv, err);
        }
    }
    if (rc != HALO_OK)
        return rc;
    return halo_cli_one_arg(argc, argv, "FILE to evaluate", &o->file, err);
}

/* Reads a whole file into a NUL-terminated buffer; rejects embedded NULs. */
static int read_text(const char *path, char **out, halo_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            (void)fclose(f);
            return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
        }
        len += fread(buf + len, 1, cap - len - 1, f);
        if (len < cap - 1)
            break;
        cap *= 2;
        char *nb = realloc(buf, cap);
        if (!nb)
            free(buf);
        buf = nb;
    }
    int bad = ferror(f), e = errno;
    (void)fclose(f);
    if (bad) {
        free(buf);
        return HALO_FAIL(err, HALO_ERR_IO, "%s: read error: %s", path, strerror(e));
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        free(buf);
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: contains a NUL byte; not a text file", path);
    }
    *out = buf;
    return HALO_OK;
}

static int forward_cb(void *ctx, int token, int pos, const float **logits, halo_err *err) {
    return halo_runner_forward(ctx, token, pos, logits, err);
}

static void progress_cb(void *ctx, long stories, long tokens) {
    (void)ctx;
    (void)fprintf(stderr, "\rhalo eval: %ld stories, %ld tokens", stories, tokens);
}

/* `halo eval --scenario`: quality and time from the same simulated runs. */
static int eval_scenario(const eval_opts *o) {
    halo_err err = {0};
    if (o->model || o->tokenizer || o->engine.nodes || o->engine.cluster || o->engine.speeds ||
        o->engine.drop_rate > 0 || o->engine.drop_devices)
        return HALO_FAIL(&err, HALO_ERR_ARG,
                         "--scenario takes the model and the cluster from the scenario: drop "
                         "-m, -z, --nodes, --cluster, --speeds and --drop* (engine flags "
                         "override its engine: section)"),
               halo_cli_print_err(&err), HALO_EXIT_USAGE;
    halo_scenario *sc = NULL;
    char *text = NULL;
    int rc = halo_scenario_load_with(&sc, o->scenario, o->point, &o->engine.engine, &err);
    if (rc == HALO_OK)
        rc = read_text(o->file, &text, &err);
    halo_eval_result q = {0};
    halo_sim_result r = {0};
    if (rc == HALO_OK)
        rc = halo_simrun_eval(sc, (int)o->run, text, o->max_stories, &q, &r, &err);
    if (rc == HALO_OK && q.tokens == 0)
        rc = HALO_FAIL(&err, HALO_ERR_FORMAT, "%s: no story with at least one token", o->file);
    free(text);
    if (rc != HALO_OK) {
        halo_scenario_free(sc);
        halo_cli_print_err(&err);
        return rc == HALO_ERR_ARG ? HALO_EXIT_USAGE : HALO_EXIT_FAIL;
    }
    double nll = halo_eval_mean_nll(&q);
    if (o->json) {
        (void)printf("{\"file\": ");
        halo_cli_print_json_string(stdout, o->file);
        (void)printf(", \"scenario\": ");
        halo_cli_print_json_string(stdout, sc->path);
        (void)printf(", \"point\": %ld, \"label\": ", sc->point);
        halo_cli_print_json_string(stdout, sc->point_label);
        (void)printf(", \"run\": %ld, \"stories\": %ld, \"tokens\": %ld, \"truncated\": %ld, "
                     "\"nll\": %.6f, \"perplexity\": %.6f, \"mean_ms\": %.6f, "
                     "\"p99_ms\": %.6f, \"contributions\": %llu, \"missing\": %llu, "
                     "\"wall_s\": %.3f}\n",
                     o->run, q.stories, q.tokens, q.truncated, nll, exp(nll), r.mean_ms, r.p99_ms,
                     (unsigned long long)r.expected, (unsigned long long)r.missing,
                     (double)r.wall_ns / 1e9);
    } else {
        (void)printf("file        %s\nscenario    %s (point %ld%s%s, run %ld)\nstories     %ld\n"
                     "tokens      %ld\ntruncated   %ld\nnll/token   %.6f\nperplexity  %.6f\n"
                     "ms/token    %.3f (simulated; p99 %.3f)\nmissing     %llu of %llu "
                     "contributions\n",
                     o->file, sc->path, sc->point, sc->point_label[0] ? ": " : "", sc->point_label,
                     o->run, q.stories, q.tokens, q.truncated, nll, exp(nll), r.mean_ms, r.p99_ms,
                     (unsigned long long)r.missing, (unsigned long long)r.expected);
    }
    halo_sim_result_free(&r);
    halo_scenario_free(sc);
    return HALO_EXIT_OK;
}

int halo_cmd_eval(int argc, char **argv) {
    halo_err err = {0};
    eval_opts o;
    int rc = parse(argc, argv, &o, &err);
    int status = halo_cli_after_parse(rc, "eval", usage, &err);
    if (status >= 0)
        return status;
    if (o.scenario)
        return eval_scenario(&o);
    char *text = NULL;
    halo_runner e;
    memset(&e, 0, sizeof e);
    halo_eval_result tot = {0};
    rc = read_text(o.file, &text, &err);
    if (rc == HALO_OK)
        rc = halo_runner_open(&e, o.model, o.tokenizer, (int)o.threads, &o.engine, &err);
    uint64_t t0 = halo_cli_now_ns();
    int show = isatty(STDERR_FILENO);
    if (rc == HALO_OK) {
        const halo_model_config *c = halo_model_get_config(e.b.model);
        halo_eval_config ec = {.tok = e.b.tok,
                               .seq_len = c->seq_len,
                               .vocab_size = c->vocab_size,
                               .max_stories = o.max_stories,
                               .forward = forward_cb,
                               .forward_ctx = &e,
                               .progress = show ? progress_cb : NULL};
        rc = halo_eval_text(&ec, text, &tot, &err);
        if (show)
            (void)fprintf(stderr, "\n");
    }
    if (rc == HALO_OK && tot.tokens == 0)
        rc = HALO_FAIL(&err, HALO_ERR_FORMAT, "%s: no story with at least one token", o.file);
    double secs = (double)(halo_cli_now_ns() - t0) / 1e9;
    free(text);
    uint64_t expected = 0, missing = 0;
    if (rc == HALO_OK) {
        halo_runner_report(&e, stderr);
        halo_runner_contributions(&e, &expected, &missing);
    }
    halo_runner_close(&e);
    if (rc != HALO_OK) {
        halo_cli_print_err(&err);
        return HALO_EXIT_FAIL;
    }
    double nll = halo_eval_mean_nll(&tot);
    if (o.json) {
        (void)printf("{\"file\": ");
        halo_cli_print_json_string(stdout, o.file);
        (void)printf(", \"stories\": %ld, \"tokens\": %ld, \"truncated\": %ld, "
                     "\"nll\": %.6f, \"perplexity\": %.6f, \"seconds\": %.3f, "
                     "\"contributions\": %llu, \"missing\": %llu}\n",
                     tot.stories, tot.tokens, tot.truncated, nll, exp(nll), secs,
                     (unsigned long long)expected, (unsigned long long)missing);
    } else {
        (void)printf("file        %s\nstories     %ld\ntokens      %ld\ntruncated   %ld\n"
                     "nll/token   %.6f\nperplexity  %.6f\nseconds     %.3f\n",
                     o.file, tot.stories, tot.tokens, tot.truncated, nll, exp(nll), secs);
    }
    return HALO_EXIT_OK;
}
