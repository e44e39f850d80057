/*
 * `halo eval`: teacher-forced quality over a file of stories (see core/eval.h for the
 * exact metric): stories, tokens, mean negative log-likelihood per token, perplexity.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"
#include "app/runner.h"
#include "core/eval.h"
#include "core/json.h"
#include "results/report.h"
#include "sim/scenario.h"
#include "sim/simrun.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct eval_opts {
    const char *model, *tokenizer, *file, *scenario;
    long threads, max_stories, point, run;
    int json;
    halo_runner_opts engine;
} eval_opts;

/* Parses the command line into *o; returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, eval_opts *o) {
    *o = (eval_opts){.max_stories = -1};
    halo_runner_opts_init(&o->engine);
    const halo_cli_opt opts[] = {
        HALO_CLI_OPT_MODEL(&o->model),
        HALO_CLI_OPT_TOKENIZER(&o->tokenizer),
        HALO_CLI_OPT_THREADS(&o->threads),
        HALO_CLI_OPT_LONG("max-stories", 0, &o->max_stories, 1, 1L << 30, "N",
                          "score only the first N stories"),
        HALO_CLI_OPT_PATH("scenario", 0, &o->scenario, "FILE",
                          "evaluate through a simulated cluster (losses and\nall), reporting "
                          "quality and simulated time together"),
        HALO_CLI_OPT_LONG("point", 0, &o->point, 0, 1L << 40, "I",
                          "the scenario's sweep point (default 0)"),
        HALO_CLI_OPT_LONG("run", 0, &o->run, 0, 1000000, "R", "the replication (default 0)"),
        HALO_CLI_OPT_JSON(&o->json, "text"),
        HALO_CLI_OPT_END,
    };
    halo_cli_spec spec = {
        .name = "eval",
        .synopsis = "[options] FILE",
        .about = "Teacher-forced evaluation: mean negative log-likelihood per token and\n"
                 "perplexity over the stories in FILE (separated by lines holding only\n"
                 "<|endoftext|>; each story is scored as BOS + its tokens).\n",
        .opts = opts,
        .positional = "FILE to evaluate",
        .pos_out = &o->file};
    halo_runner_add_options(&o->engine, &spec, 1);
    return halo_cli_parse_or_exit(&spec, argc, argv);
}

static int forward_cb(void *ctx, int token, int pos, const float **logits, halo_err *err) {
    return halo_runner_forward(ctx, token, pos, logits, err);
}

static void progress_cb(void *ctx, long stories, long tokens) {
    (void)ctx;
    (void)fprintf(stderr, "\rhalo eval: %ld stories, %ld tokens", stories, tokens);
}

/* `halo eval --scenario`: quality and time from the same simulated runs. */
/* A double as JSON: fixed, 6 digits, never NaN or Inf (core/json.h). */
static void json6(FILE *js, const char *key, double v, halo_json_guard *g) {
    (void)fprintf(js, ", \"%s\": ", key);
    halo_json_num(js, v, HALO_JSON_FIXED, 6, key, g);
}

static int eval_scenario(const eval_opts *o) {
    halo_err err = {0};
    if (o->model || o->tokenizer || o->engine.nodes || o->engine.cluster || o->engine.speeds ||
        o->engine.drop_rate > 0 || o->engine.drop_devices || o->engine.db)
        return HALO_FAIL(&err, HALO_ERR_ARG,
                         "--scenario takes the model and the cluster from the scenario: drop "
                         "-m, -z, --nodes, --cluster, --speeds, --drop* and --db (engine flags "
                         "override its engine: section)"),
               halo_cli_print_err(&err), HALO_EXIT_USAGE;
    halo_scenario *sc = NULL;
    char *text = NULL;
    int rc = halo_scenario_load_with(&sc, o->scenario, o->point, &o->engine.engine, &err);
    if (rc == HALO_OK)
        rc = halo_cli_read_text(o->file, &text, &err);
    halo_eval_result q = {0};
    halo_sim_result r = {0};
    if (rc == HALO_OK)
        rc = halo_simrun_eval(sc, (int)o->run, text, o->max_stories, &q, &r, &err);
    if (rc == HALO_OK && q.tokens == 0)
        rc = HALO_FAIL(&err, HALO_ERR_FORMAT, "%s: no story with at least one token", o->file);
    free(text);
    if (rc != HALO_OK) {
        halo_scenario_free(sc);
        return halo_cli_fail(rc, &err);
    }
    double nll = halo_eval_mean_nll(&q);
    if (o->json) {
        /* built in memory, printed only if every number is finite (core/json.h) */
        halo_cli_json j;
        FILE *js = halo_cli_json_open(&j, "eval --json", &err) == HALO_OK ? j.js : NULL;
        halo_json_guard *g = &j.g;
        if (js) {
            (void)fprintf(js, "{\"file\": ");
            halo_report_json_string(js, o->file);
            (void)fprintf(js, ", \"scenario\": ");
            halo_report_json_string(js, sc->path);
            (void)fprintf(js, ", \"point\": %ld, \"label\": ", sc->point);
            halo_report_json_string(js, sc->point_label);
            (void)fprintf(js,
                          ", \"run\": %ld, \"stories\": %ld, \"tokens\": %ld, "
                          "\"truncated\": %ld",
                          o->run, q.stories, q.tokens, q.truncated);
            json6(js, "nll", nll, g);
            json6(js, "perplexity", exp(nll), g);
            json6(js, "mean_ms", r.mean_ms, g);
            json6(js, "p99_ms", r.p99_ms, g);
            (void)fprintf(js, ", \"contributions\": %llu, \"missing\": %llu, \"wall_s\": ",
                          (unsigned long long)r.expected, (unsigned long long)r.missing);
            halo_json_num(js, (double)r.wall_ns / 1e9, HALO_JSON_FIXED, 3, "wall_s", g);
            (void)fprintf(js, "}\n");
        }
        if (halo_cli_json_print(&j, "eval --json", &err) != HALO_OK) {
            halo_cli_print_err(&err);
            halo_sim_result_free(&r);
            halo_scenario_free(sc);
            return HALO_EXIT_FAIL;
        }
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
    int status = parse(argc, argv, &o);
    if (status >= 0)
        return status;
    int rc;
    if (o.scenario)
        return eval_scenario(&o);
    char *text = NULL;
    halo_runner e;
    memset(&e, 0, sizeof e);
    halo_eval_result tot = {0};
    rc = halo_cli_read_text(o.file, &text, &err);
    if (rc == HALO_OK)
        rc = halo_runner_open(&e, o.model, o.tokenizer, (int)o.threads, &o.engine, &err);
    uint64_t t0 = halo_cli_now_ns();
    int show = isatty(STDERR_FILENO);
    if (rc == HALO_OK && halo_model_get_config(e.b.model)->seq_len < 2)
        rc = HALO_FAIL(&err, HALO_ERR_ARG,
                       "%s: its context has %d position: room for BOS only, no token to score",
                       o.model ? o.model : "the model", halo_model_get_config(e.b.model)->seq_len);
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
    if (e.b.model) { /* opened: store what ran (--db) */
        halo_err rec_err = {0};
        int rec = halo_runner_record(&e, &o.engine, "halo-eval", rc != HALO_OK, &rec_err);
        if (rc == HALO_OK && rec != HALO_OK) {
            rc = rec;
            err = rec_err;
        }
    }
    /* the re-plans of a scheduled socket cluster, for --json (the runner is closed first) */
    char *replans = NULL;
    size_t replans_len = 0;
    FILE *rf = o.json ? open_memstream(&replans, &replans_len) : NULL;
    if (rf) {
        halo_runner_replans_json(&e, rf);
        (void)fclose(rf);
    }
    halo_runner_close(&e);
    if (rc != HALO_OK) {
        free(replans);
        halo_cli_print_err(&err);
        return HALO_EXIT_FAIL;
    }
    double nll = halo_eval_mean_nll(&tot);
    if (o.json) {
        /* built in memory, printed only if every number is finite (core/json.h; the mean
           NLL was checked by halo_eval_text already) */
        halo_cli_json j;
        FILE *js = halo_cli_json_open(&j, "eval --json", &err) == HALO_OK ? j.js : NULL;
        halo_json_guard *g = &j.g;
        if (js) {
            (void)fprintf(js, "{\"file\": ");
            halo_report_json_string(js, o.file);
            (void)fprintf(js, ", \"stories\": %ld, \"tokens\": %ld, \"truncated\": %ld",
                          tot.stories, tot.tokens, tot.truncated);
            json6(js, "nll", nll, g);
            json6(js, "perplexity", exp(nll), g);
            (void)fprintf(js, ", \"seconds\": ");
            halo_json_num(js, secs, HALO_JSON_FIXED, 3, "seconds", g);
            (void)fprintf(js, ", \"contributions\": %llu, \"missing\": %llu",
                          (unsigned long long)expected, (unsigned long long)missing);
            if (replans && replans_len)
                (void)fprintf(js, "%s", replans);
            (void)fprintf(js, "}\n");
        }
        if (halo_cli_json_print(&j, "eval --json", &err) != HALO_OK) {
            free(replans);
            halo_cli_print_err(&err);
            return HALO_EXIT_FAIL;
        }
    } else {
        (void)printf("file        %s\nstories     %ld\ntokens      %ld\ntruncated   %ld\n"
                     "nll/token   %.6f\nperplexity  %.6f\nseconds     %.3f\n",
                     o.file, tot.stories, tot.tokens, tot.truncated, nll, exp(nll), secs);
    }
    free(replans);
    return HALO_EXIT_OK;
}
