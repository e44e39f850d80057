/*
 * `halo eval`: teacher-forced quality over a file of stories separated by lines holding
 * only "<|endoftext|>". Each story is trimmed of surrounding whitespace, encoded as BOS plus
 * its tokens (with llama2.c's dummy-prefix space), and every token after BOS is scored by
 * the negative log-likelihood the model assigned to it. A story longer than the context is
 * scored on its first seq_len positions and counted as truncated.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"
#include "core/ops.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char SEPARATOR[] = "<|endoftext|>";

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
                  "      --json             print one JSON object instead of text\n"
                  "  -h, --help             this help\n");
}

typedef struct eval_opts {
    const char *model, *tokenizer, *file;
    long threads, max_stories;
    int json;
} eval_opts;

static int parse(int argc, char **argv, eval_opts *o, halo_err *err) {
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"tokenizer", required_argument, NULL, 'z'},
        {"threads", required_argument, NULL, 'T'},
        {"max-stories", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (eval_opts){.max_stories = -1};
    optind = 1;
    opterr = 0;
    int c, rc = HALO_OK;
    while (rc == HALO_OK && (c = getopt_long(argc, argv, ":m:z:h", longopts, NULL)) != -1) {
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
        case 'J':
            o->json = 1;
            break;
        case 'h':
            return 1;
        case ':':
            return HALO_FAIL(err, HALO_ERR_ARG, "option %s needs a value", argv[optind - 1]);
        default:
            return HALO_FAIL(err, HALO_ERR_ARG, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc != HALO_OK)
        return rc;
    if (optind >= argc)
        return HALO_FAIL(err, HALO_ERR_ARG, "missing FILE to evaluate");
    if (optind + 1 < argc)
        return HALO_FAIL(err, HALO_ERR_ARG, "unexpected argument '%s'", argv[optind + 1]);
    o->file = argv[optind];
    return HALO_OK;
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
    int bad = ferror(f);
    (void)fclose(f);
    if (bad) {
        free(buf);
        return HALO_FAIL(err, HALO_ERR_IO, "%s: read error", path);
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        free(buf);
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: contains a NUL byte; not a text file", path);
    }
    *out = buf;
    return HALO_OK;
}

typedef struct eval_totals {
    long stories, tokens, truncated;
    double nll_sum;
} eval_totals;

/* Scores one story (NUL-terminated, trimmed) and adds it to the totals. */
static int score_story(halo_cli_session *s, const char *text, int *tokens, int cap,
                       eval_totals *tot, halo_err *err) {
    int n = 0;
    int rc = halo_tokenizer_encode(s->tok, text, 1, 0, tokens, cap, &n, err);
    if (rc != HALO_OK)
        return rc;
    int seq_len = halo_model_get_config(s->model)->seq_len;
    int vocab = halo_model_get_config(s->model)->vocab_size;
    if (n > seq_len) {
        tot->truncated++;
        n = seq_len;
    }
    for (int pos = 0; pos + 1 < n; pos++) {
        const float *logits = halo_forward(s->state, tokens[pos], pos);
        tot->nll_sum += halo_nll(logits, vocab, tokens[pos + 1]);
        tot->tokens++;
    }
    tot->stories++;
    return HALO_OK;
}

/* Splits `text` in place at separator lines and scores each non-empty story. */
static int score_file(halo_cli_session *s, char *text, long max_stories, eval_totals *tot,
                      halo_err *err) {
    size_t cap = halo_tokenizer_max_tokens(text);
    if (cap > (size_t)1 << 28)
        return HALO_FAIL(err, HALO_ERR_ARG, "input too large");
    int *tokens = malloc(cap * sizeof *tokens);
    if (!tokens)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "out of memory");
    int show = isatty(STDERR_FILENO);
    int rc = HALO_OK;
    char *story = text;
    for (char *line = text; rc == HALO_OK && line && *line != '\0';) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char *next = nl ? nl + 1 : NULL;
        int is_sep = len >= sizeof SEPARATOR - 1 &&
                     strncmp(line, SEPARATOR, sizeof SEPARATOR - 1) == 0 &&
                     (len == sizeof SEPARATOR - 1 ||
                      (len == sizeof SEPARATOR && line[len - 1] == '\r'));
        if (is_sep || !next) {
            char *end = is_sep ? line : line + len;
            *end = '\0';
            while (*story == ' ' || *story == '\n' || *story == '\r' || *story == '\t')
                story++;
            while (end > story && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r' ||
                                   end[-1] == '\t'))
                *--end = '\0';
            if (*story != '\0') {
                if (max_stories >= 0 && tot->stories >= max_stories)
                    break;
                rc = score_story(s, story, tokens, (int)cap, tot, err);
                if (show)
                    (void)fprintf(stderr, "\rhalo eval: %ld stories, %ld tokens", tot->stories,
                                  tot->tokens);
            }
            story = next;
        }
        line = next;
    }
    if (show)
        (void)fprintf(stderr, "\n");
    free(tokens);
    return rc;
}

int halo_cmd_eval(int argc, char **argv) {
    halo_err err = {0};
    eval_opts o;
    int rc = parse(argc, argv, &o, &err);
    if (rc == 1) {
        usage(stdout);
        return HALO_EXIT_OK;
    }
    if (rc != HALO_OK) {
        halo_cli_print_err(&err);
        (void)fprintf(stderr, "Try 'halo eval --help'.\n");
        return HALO_EXIT_USAGE;
    }
    char *text = NULL;
    halo_cli_session s;
    memset(&s, 0, sizeof s);
    eval_totals tot = {0};
    rc = read_text(o.file, &text, &err);
    if (rc == HALO_OK)
        rc = halo_cli_session_open(&s, o.model, o.tokenizer, (int)o.threads, &err);
    uint64_t t0 = halo_cli_now_ns();
    if (rc == HALO_OK)
        rc = score_file(&s, text, o.max_stories, &tot, &err);
    if (rc == HALO_OK && tot.tokens == 0)
        rc = HALO_FAIL(&err, HALO_ERR_FORMAT, "%s: no story with at least one token", o.file);
    double secs = (double)(halo_cli_now_ns() - t0) / 1e9;
    free(text);
    halo_cli_session_close(&s);
    if (rc != HALO_OK) {
        halo_cli_print_err(&err);
        return HALO_EXIT_FAIL;
    }
    double nll = tot.nll_sum / (double)tot.tokens;
    if (o.json)
        (void)printf("{\"file\": \"%s\", \"stories\": %ld, \"tokens\": %ld, \"truncated\": %ld, "
                     "\"nll\": %.6f, \"perplexity\": %.6f, \"seconds\": %.3f}\n",
                     o.file, tot.stories, tot.tokens, tot.truncated, nll, exp(nll), secs);
    else
        (void)printf("file        %s\nstories     %ld\ntokens      %ld\ntruncated   %ld\n"
                     "nll/token   %.6f\nperplexity  %.6f\nseconds     %.3f\n",
                     o.file, tot.stories, tot.tokens, tot.truncated, nll, exp(nll), secs);
    return HALO_EXIT_OK;
}
