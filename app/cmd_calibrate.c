/*
 * `halo calibrate`: fits the importance predictor of a model on a text of stories, measures
 * it on stories it was not fitted on, writes the predictor file and prints the recall
 * tables (or one JSON object). The fitting and measuring are core/predictor_fit.h (which
 * says what is fitted and measured, and how); this file holds the options, the file
 * handling around the library, the progress line and the printing.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, CLOCK_THREAD_CPUTIME_ID */

#include "app/cli.h"
#include "core/predictor_fit.h"
#include "results/report.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    N_SIZES = HALO_PREDICTOR_FIT_N_SIZES,
    N_TAUS = HALO_PREDICTOR_FIT_N_TAUS,
};

/* ==== Options ==== */

typedef struct cal_opts {
    const char *model, *tokenizer, *out, *file;
    long max_stories;
    int json;
    halo_predictor_fit_config fit; /* method, rank, attn, solver, fit_from, compare */
} cal_opts;

/* Parses the command line into *o; returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, cal_opts *o) {
    *o = (cal_opts){.max_stories = -1};
    halo_predictor_fit_config_init(&o->fit);
    const char *methods[HALO_PREDICTOR_FIT_METHOD_COUNT + 1] = {NULL};
    const char *attns[HALO_PREDICTOR_FIT_ATTN_COUNT + 1] = {NULL};
    const char *solvers[HALO_PREDICTOR_FIT_SOLVER_COUNT + 1] = {NULL};
    for (int i = 0; i < HALO_PREDICTOR_FIT_SOLVER_COUNT; i++)
        solvers[i] = halo_predictor_fit_solver_name(i);
    for (int i = 0; i < HALO_PREDICTOR_FIT_METHOD_COUNT; i++)
        methods[i] = halo_predictor_fit_method_name(i);
    for (int i = 0; i < HALO_PREDICTOR_FIT_ATTN_COUNT; i++)
        attns[i] = halo_predictor_fit_attn_name(i);
    long rank = o->fit.rank, fit_from = o->fit.fit_from, threads = o->fit.threads;
    char rank_help[96], method_help[96], attn_help[200];
    (void)snprintf(rank_help, sizeof rank_help,
                   "rank of the factors, 1..min(dim, hidden_dim) (default %d)",
                   HALO_PREDICTOR_FIT_DEFAULT_RANK);
    (void)snprintf(method_help, sizeof method_help, "svd, aware or aware-w2 (default %s)",
                   halo_predictor_fit_method_name(HALO_PREDICTOR_FIT_AWARE));
    (void)snprintf(attn_help, sizeof attn_help,
                   "how attention groups are scored: factors (low-rank\nvalues), prior (a fixed "
                   "score per group) or none (all\nequal) (default %s)",
                   halo_predictor_fit_attn_name(HALO_PREDICTOR_FIT_ATTN_PRIOR));
    const halo_cli_opt opts[] = {
        HALO_CLI_OPT_MODEL(&o->model),
        HALO_CLI_OPT_TOKENIZER(&o->tokenizer),
        HALO_CLI_OPT_PATH("out", 'o', &o->out, "FILE",
                          "predictor file to write (default: the model's name with\n.pred, in the "
                          "current directory)"),
        HALO_CLI_OPT_LONG("rank", 'r', &rank, 1, 1 << 16, "R", rank_help),
        HALO_CLI_OPT_CHOICE("method", 0, &o->fit.method, methods, "M", method_help),
        HALO_CLI_OPT_CHOICE("attn", 0, &o->fit.attn, attns, "A", attn_help),
        HALO_CLI_OPT_LONG("threads", 0, &threads, 0, 1024, "T",
                          "threads of the oracle (the untimed scoring of the\ntrue importance), 0 "
                          "= one per core (default 0)"),
        HALO_CLI_OPT_CHOICE("solver", 0, &o->fit.solver, solvers, "S",
                            "how the top singular vectors are found: dense (GSL's full\n"
                            "SVD, exact), iterative (subspace iteration for the top\n"
                            "ones only, for large layers, where GSL's full SVD is\n"
                            "slow) or auto (dense for small matrices) (default auto)"),
        HALO_CLI_OPT_LONG(
            "fit-from", 0, &fit_from, 2, 1L << 30, "K",
            "fit on stories K..N, measure on 1..K-1 (default: the last\n30% are fitted on)"),
        HALO_CLI_OPT_LONG("max-stories", 0, &o->max_stories, 2, 1L << 30, "N",
                          "read only the first N stories of TEXTFILE"),
        HALO_CLI_OPT_FLAG("compare", 0, &o->fit.compare,
                          "also fit and measure every method at ranks 4, 8, 16, 32\nand full rank, "
                          "and print the comparison"),
        HALO_CLI_OPT_JSON(&o->json, "tables"),
        HALO_CLI_OPT_END,
    };
    halo_cli_spec spec = {
        .name = "calibrate",
        .synopsis = "[options] TEXTFILE",
        .about = "Fits the importance predictor of a model on the stories in TEXTFILE "
                 "(separated by\nlines holding only <|endoftext|>), measures it on stories it "
                 "was not fitted on,\nprints the recall of the oracle's critical groups per "
                 "layer and writes the\npredictor file (atomically: the old file stays until "
                 "the new one is complete).\n",
        .opts = opts,
        .positional = "TEXTFILE to calibrate on",
        .pos_out = &o->file};
    int status = halo_cli_parse_or_exit(&spec, argc, argv);
    o->fit.rank = (int)rank;
    o->fit.fit_from = fit_from;
    o->fit.threads = (int)threads;
    return status;
}

/* ==== Files ==== */

/* The default output: the model file's name with .pred, in the current directory. */
static const char *default_out(const char *model_path, char *buf, size_t size) {
    const char *base = strrchr(model_path, '/');
    base = base ? base + 1 : model_path;
    const char *dot = strrchr(base, '.');
    int len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    (void)snprintf(buf, size, "%.*s.pred", len, base);
    return buf;
}

/* Refuses an output that cannot be written, before the work rather than after it. */
static int check_out(const char *out, halo_err *err) {
    struct stat st;
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
        return HALO_FAIL(err, HALO_ERR_IO, "%s: is a directory", out);
    char dir[4096];
    const char *slash = strrchr(out, '/');
    if (!slash)
        (void)snprintf(dir, sizeof dir, ".");
    else if (slash == out)
        (void)snprintf(dir, sizeof dir, "/");
    else
        (void)snprintf(dir, sizeof dir, "%.*s", (int)(slash - out), out);
    if (access(dir, W_OK) != 0)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot write in %s: %s", out, dir, strerror(errno));
    return HALO_OK;
}

/* ==== Progress and time ==== */

/* The progress line on stderr (when it is a terminal). */
static void show_progress(void *ctx, int pass, long story, long first, long last) {
    (void)ctx;
    if (story == 0)
        (void)fprintf(stderr, "\n");
    else
        (void)fprintf(stderr, "\rhalo calibrate: %s: story %ld of %ld..%ld  ",
                      pass == 1 ? "fitting" : "measuring", story, first, last);
}

/*
 * CPU time of this thread in nanoseconds. Timing uses it rather than the wall clock: on a
 * loaded machine a preempted interval would count another process's time (2026-11-26: the
 * wall-clock ratios of one run varied 3x under a load of 8 on 2 cores).
 */
static uint64_t cpu_ns(void *ctx) {
    (void)ctx;
    struct timespec ts;
    (void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ==== Report ==== */

static const char *method_name(const halo_predictor_fit_cand *k) {
    return halo_predictor_fit_method_name(k->method);
}

static const char *attn_name(const halo_predictor_fit_cand *k) {
    return halo_predictor_fit_attn_name(k->attn);
}

static void print_row(const char *label, const halo_predictor_fit_recall *s) {
    (void)printf("%-8s", label);
    for (int g = 0; g < N_SIZES; g++) {
        for (int t = 0; t < N_TAUS; t++)
            (void)printf(" %5.3f", s->ffn[g][t]);
        (void)printf("  ");
    }
    for (int t = 0; t < N_TAUS; t++)
        (void)printf(" %5.3f", s->attn[t]);
    (void)printf("\n");
}

static void print_header(const halo_predictor_fit_report *r, const char *first) {
    (void)printf("%-8s", first);
    for (int g = 0; g < N_SIZES; g++)
        (void)printf(" FFN G=%-2d (%2d groups) ", r->group_size[g], r->n_ffn_groups[g]);
    (void)printf(" attention (%d groups)\n%-8s", r->n_attn_groups, "");
    for (int g = 0; g <= N_SIZES; g++) {
        for (int t = 0; t < N_TAUS; t++)
            (void)printf("  %3.0f%%", 100 * r->taus[t]);
        (void)printf("  ");
    }
    (void)printf("\n");
}

static void print_text(const halo_predictor_fit_report *r, const cal_opts *o, const char *out) {
    const halo_predictor_fit_cand *ch = &r->cands[r->chosen];
    (void)printf("text        %s: %ld stories\n", o->file, r->n_stories);
    (void)printf("fitted on   stories %ld..%ld (%ld positions)\n", r->n_heldout + 1, r->n_stories,
                 r->fit_positions);
    (void)printf("measured on stories 1..%ld (%ld positions, held out)\n", r->n_heldout,
                 r->heldout_positions);
    (void)printf("predictor   %s, rank %d, attention %s; %llu bytes -> %s\n\n", method_name(ch),
                 ch->rank, attn_name(ch), (unsigned long long)r->file_bytes, out);
    (void)printf(
        "Recall of the oracle's critical groups: k = the fewest groups holding 50/80/90%%\n"
        "of the true importance; recall = share of them among the predictor's top k.\n");
    print_header(r, "layer");
    for (int l = 0; l < r->n_layers; l++) {
        char label[16];
        (void)snprintf(label, sizeof label, "%d", l);
        print_row(label, &ch->layers[l]);
    }
    print_row("mean", &ch->mean);
    print_row("static", &r->fixed);
    print_row("chance", &r->chance);
    double mp = r->mean_positions, pf = ch->macs;
    const halo_predictor_fit_recall *equal = &r->equal_attn;
    (void)printf("(static: one fixed ranking per layer, the mean oracle score on the fit stories;\n"
                 " chance: k / groups; attention scored equally (--attn none): %.3f %.3f %.3f.)\n"
                 "Oracle mass in the predicted top k at 80%%: FFN G=16 %.3f, attention %.3f.\n\n",
                 equal->attn[0], equal->attn[1], equal->attn[2], ch->mean.ffn_mass[1][1],
                 ch->mean.attn_mass[1]);
    (void)printf("cost per layer: %.0f multiply-adds = %.1f%% of the layer's %.0f (projections "
                 "and FFN), %.1f%% with attention over the mean %.0f positions;\n"
                 "measured: scoring takes %.1f%% of the time of the blocks it scores, FFN "
                 "scoring %.1f%% of the FFN block's\n(per layer and position: attention block "
                 "%.0f ns, FFN block %.0f ns, scoring %.0f ns; %ld positions x %d layers)\n",
                 pf, 100 * pf / r->layer_macs, r->layer_macs,
                 100 * pf / r->layer_macs_with_attention, mp, 100 * ch->time_ratio,
                 100 * ch->ffn_time_ratio, r->attn_block_ns, r->ffn_block_ns, ch->score_ns,
                 r->heldout_positions, r->n_layers);
    if (!o->fit.compare)
        return;
    (void)printf("\nComparison (mean over layers; MACs per layer; time = scoring / blocks):\n");
    print_header(r, "method");
    for (int i = 0; i < r->n_cands; i++) {
        const halo_predictor_fit_cand *k = &r->cands[i];
        char label[32];
        (void)snprintf(label, sizeof label, "%s", method_name(k));
        (void)printf("r=%-3d ", k->rank);
        print_row(label, &k->mean);
        double f = k->macs;
        (void)printf("%14s attention %s; MACs %.0f = %.1f%% (%.1f%% with attention), time "
                     "%.1f%% (FFN %.1f%%)\n",
                     "", attn_name(k), f, 100 * f / r->layer_macs,
                     100 * f / r->layer_macs_with_attention, 100 * k->time_ratio,
                     100 * k->ffn_time_ratio);
    }
}

static void json_recall(const halo_predictor_fit_report *r, const halo_predictor_fit_recall *s) {
    (void)printf("{\"ffn\": {");
    for (int g = 0; g < N_SIZES; g++) {
        (void)printf("%s\"%d\": [", g ? ", " : "", r->nominal_group_size[g]);
        for (int t = 0; t < N_TAUS; t++)
            (void)printf("%s%.4f", t ? ", " : "", s->ffn[g][t]);
        (void)printf("]");
    }
    (void)printf("}, \"attn\": [");
    for (int t = 0; t < N_TAUS; t++)
        (void)printf("%s%.4f", t ? ", " : "", s->attn[t]);
    (void)printf("], \"ffn_mass_80\": [");
    for (int g = 0; g < N_SIZES; g++)
        (void)printf("%s%.4f", g ? ", " : "", s->ffn_mass[g][1]);
    (void)printf("], \"attn_mass_80\": %.4f}", s->attn_mass[1]);
}

static void print_json(const halo_predictor_fit_report *r, const cal_opts *o, const char *out) {
    const halo_predictor_fit_cand *ch = &r->cands[r->chosen];
    (void)printf("{\"text\": ");
    halo_report_json_string(stdout, o->file);
    (void)printf(", \"out\": ");
    halo_report_json_string(stdout, out);
    (void)printf(", \"bytes\": %llu, \"stories\": %ld, \"fit_stories\": [%ld, %ld], "
                 "\"heldout_stories\": [1, %ld], \"fit_positions\": %ld, "
                 "\"heldout_positions\": %ld, \"method\": \"%s\", \"rank\": %d, \"attn\": \"%s\", "
                 "\"taus\": [0.5, 0.8, 0.9], \"group_sizes\": [%d, %d, %d], \"layers\": [",
                 (unsigned long long)r->file_bytes, r->n_stories, r->n_heldout + 1, r->n_stories,
                 r->n_heldout, r->fit_positions, r->heldout_positions, method_name(ch), ch->rank,
                 attn_name(ch), r->group_size[0], r->group_size[1], r->group_size[2]);
    for (int l = 0; l < r->n_layers; l++) {
        (void)printf("%s", l ? ", " : "");
        json_recall(r, &ch->layers[l]);
    }
    (void)printf("], \"mean\": ");
    json_recall(r, &ch->mean);
    (void)printf(", \"static\": ");
    json_recall(r, &r->fixed);
    (void)printf(", \"chance\": ");
    json_recall(r, &r->chance);
    (void)printf(", \"equal_attn\": [%.4f, %.4f, %.4f]", r->equal_attn.attn[0],
                 r->equal_attn.attn[1], r->equal_attn.attn[2]);
    double pf = ch->macs;
    (void)printf(", \"cost\": {\"predictor_macs\": %.0f, \"layer_macs\": %.0f, "
                 "\"mean_positions\": %.1f, \"layer_macs_with_attention\": %.0f, "
                 "\"flops_fraction\": %.4f, \"flops_fraction_with_attention\": %.4f, "
                 "\"time_ratio\": %.4f, \"ffn_time_ratio\": %.4f, \"attn_block_ns\": %.1f, "
                 "\"ffn_block_ns\": %.1f, \"score_ns\": %.1f}",
                 pf, r->layer_macs, r->mean_positions, r->layer_macs_with_attention,
                 pf / r->layer_macs, pf / r->layer_macs_with_attention, ch->time_ratio,
                 ch->ffn_time_ratio, r->attn_block_ns, r->ffn_block_ns, ch->score_ns);
    if (o->fit.compare) {
        (void)printf(", \"compare\": [");
        for (int i = 0; i < r->n_cands; i++) {
            const halo_predictor_fit_cand *k = &r->cands[i];
            double f = k->macs;
            (void)printf("%s{\"method\": \"%s\", \"rank\": %d, \"attn\": \"%s\", "
                         "\"macs\": %.0f, \"flops_fraction\": %.4f, \"time_ratio\": %.4f, "
                         "\"ffn_time_ratio\": %.4f, \"recall\": ",
                         i ? ", " : "", method_name(k), k->rank, attn_name(k), f, f / r->layer_macs,
                         k->time_ratio, k->ffn_time_ratio);
            json_recall(r, &k->mean);
            (void)printf("}");
        }
        (void)printf("]");
    }
    (void)printf("}\n");
}

/* ==== The command ==== */

int halo_cmd_calibrate(int argc, char **argv) {
    halo_err err = {0};
    cal_opts o;
    int status = parse(argc, argv, &o);
    if (status >= 0)
        return status;
    int rc;
    char mbuf[4096], obuf[4096];
    const char *model_path = halo_cli_model_path(o.model, mbuf, sizeof mbuf);
    const char *out = o.out ? o.out : default_out(model_path, obuf, sizeof obuf);
    halo_model *model = NULL;
    halo_tokenizer *tok = NULL;
    char *text = NULL;
    halo_predictor_fit *fit = NULL;
    int usage_error = 0;
    /* the output must not replace an input (the model is mapped while the fit runs) */
    rc = halo_cli_check_output("-o", out, "the model", model_path, &err);
    if (rc == HALO_OK)
        rc = halo_cli_check_output("-o", out, "--tokenizer", o.tokenizer, &err);
    if (rc == HALO_OK)
        rc = halo_cli_check_output("-o", out, "TEXTFILE", o.file, &err);
    usage_error = rc != HALO_OK;
    if (rc == HALO_OK)
        rc = halo_model_load(&model, model_path, &err);
    if (rc == HALO_OK) {
        const halo_model_config *c = halo_model_get_config(model);
        int max_rank = c->dim < c->hidden_dim ? c->dim : c->hidden_dim;
        if (o.fit.rank > max_rank) {
            rc = HALO_FAIL(&err, HALO_ERR_ARG,
                           "--rank: %d is out of range 1..%d (min(dim, hidden_dim) of %s)",
                           o.fit.rank, max_rank, model_path);
            usage_error = 1;
        }
    }
    if (rc == HALO_OK)
        rc = halo_cli_tokenizer_for(model, o.tokenizer, &tok, &err);
    if (rc == HALO_OK)
        rc = check_out(out, &err);
    if (rc == HALO_OK)
        rc = halo_cli_read_text(o.file, &text, &err);
    if (rc == HALO_OK)
        rc = halo_predictor_fit_new(&fit, model, tok, text, o.file, o.max_stories, &err);
    if (rc == HALO_OK && o.fit.fit_from - 1 >= halo_predictor_fit_n_stories(fit)) {
        rc = HALO_FAIL(&err, HALO_ERR_ARG, "--fit-from: %ld leaves no story to fit on (%s has %ld)",
                       o.fit.fit_from, o.file, halo_predictor_fit_n_stories(fit));
        usage_error = 1;
    }
    if (rc == HALO_OK) {
        if (isatty(STDERR_FILENO))
            o.fit.progress = show_progress;
        o.fit.clock_ns = cpu_ns;
        rc = halo_predictor_fit_run(fit, &o.fit, &err);
    }
    if (rc == HALO_OK)
        rc = halo_predictor_fit_write(fit, out, &err);
    if (rc == HALO_OK) {
        const halo_predictor_fit_report *r = halo_predictor_fit_get_report(fit);
        if (o.json)
            print_json(r, &o, out);
        else
            print_text(r, &o, out);
    }
    halo_predictor_fit_free(fit);
    free(text);
    halo_tokenizer_free(tok);
    halo_model_free(model);
    if (rc != HALO_OK) {
        halo_cli_print_err(&err);
        if (usage_error)
            (void)fprintf(stderr, "Try 'halo calibrate --help'.\n");
        return usage_error ? HALO_EXIT_USAGE : HALO_EXIT_FAIL;
    }
    return HALO_EXIT_OK;
}
