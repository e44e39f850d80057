/*
 * `halo generate`: single-device text generation, printing text as it is produced and the
 * decode speed at the end.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"
#include "app/runner.h"
#include "core/sampler.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    (void)fprintf(
        f,
        "usage: halo generate [options]\n\n"
        "Generates text on this machine. With no options it runs the bundled model\n"
        "(stories260K) from an empty prompt.\n\n"
        "options:\n"
        "  -m, --model FILE       llama2.c checkpoint (default: bundled stories260K.bin)\n"
        "  -z, --tokenizer FILE   llama2.c tokenizer (default: bundled tok512.bin)\n"
        "  -p, --prompt TEXT      prompt (default: empty)\n"
        "  -n, --steps N          tokens to generate after the prompt (default 256); the prompt,\n"
        "                         BOS included, plus N - 1 must fit in the model's context\n"
        "  -t, --temp T           temperature, 0 = greedy (default 1.0)\n"
        "      --top-p P          nucleus sampling threshold in (0, 1] (default 0.9)\n"
        "  -s, --seed S           sampling seed (default 42)\n"
        "      --threads T        compute threads, 0 = one per core (default 0)\n"
        "      --ids              print token ids, one per line, instead of text\n"
        "  -h, --help             this help\n\n"
        "Generation stops early at a BOS or EOS token. The decode speed (and a cluster's\n"
        "metrics) go to stderr.\n\n");
    halo_runner_print_help(f);
}

typedef struct gen_opts {
    const char *model, *tokenizer, *prompt;
    long steps, threads;
    float temp, top_p;
    uint64_t seed;
    int ids;
    halo_runner_opts engine;
} gen_opts;

static int parse(int argc, char **argv, gen_opts *o, halo_err *err) {
    static const struct option own[] = {
        {"model", required_argument, NULL, 'm'},
        {"tokenizer", required_argument, NULL, 'z'},
        {"prompt", required_argument, NULL, 'p'},
        {"steps", required_argument, NULL, 'n'},
        {"temp", required_argument, NULL, 't'},
        {"top-p", required_argument, NULL, 'P'},
        {"seed", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 'T'},
        {"ids", no_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (gen_opts){.prompt = "", .steps = 256, .temp = 1.0f, .top_p = 0.9f, .seed = 42};
    halo_runner_opts_init(&o->engine);
    optind = 1;
    opterr = 0;
    int c, rc = HALO_OK;
    while (rc == HALO_OK &&
           (c = getopt_long(argc, argv, ":m:z:p:n:t:s:h", halo_runner_longopts(&o->engine, own, 1),
                            NULL)) != -1) {
        switch (c) {
        case 'm':
            o->model = optarg;
            break;
        case 'z':
            o->tokenizer = optarg;
            break;
        case 'p':
            o->prompt = optarg;
            break;
        case 'n':
            rc = halo_cli_parse_long("--steps", optarg, 1, 1 << 30, &o->steps, err);
            break;
        case 't':
            rc = halo_cli_parse_float("--temp", optarg, 0.0f, 1e6f, &o->temp, err);
            break;
        case 'P':
            rc = halo_cli_parse_float("--top-p", optarg, 1e-6f, 1.0f, &o->top_p, err);
            break;
        case 's':
            rc = halo_cli_parse_u64("--seed", optarg, &o->seed, err);
            break;
        case 'T':
            rc = halo_cli_parse_long("--threads", optarg, 0, 1024, &o->threads, err);
            break;
        case 'I':
            o->ids = 1;
            break;
        case 'h':
            return 1;
        default: /* ':' too: it is no engine option */
            rc = halo_runner_parse_opt(&o->engine, c, optarg, err);
            if (rc == 1)
                return halo_cli_bad_option(c, argv, err);
        }
    }
    if (rc == HALO_OK && optind < argc)
        rc = HALO_FAIL(err, HALO_ERR_ARG, "unexpected argument '%s'", argv[optind]);
    return rc;
}

/* Writes a piece, skipping lone control bytes other than whitespace (raw byte tokens). */
static void print_piece(const char *s, size_t n) {
    if (n == 1 && iscntrl((unsigned char)s[0]) && !isspace((unsigned char)s[0]))
        return;
    (void)fwrite(s, 1, n, stdout);
}

int halo_cmd_generate(int argc, char **argv) {
    halo_err err = {0};
    gen_opts o;
    int rc = parse(argc, argv, &o, &err);
    int status = halo_cli_after_parse(rc, "generate", usage, &err);
    if (status >= 0)
        return status;
    halo_runner e;
    halo_sampler *sampler = NULL;
    int *prompt = NULL;
    float *logits = NULL;
    rc = halo_runner_open(&e, o.model, o.tokenizer, (int)o.threads, &o.engine, &err);
    const halo_model_config *cfg = rc == HALO_OK ? halo_model_get_config(e.b.model) : NULL;
    if (rc == HALO_OK)
        rc = halo_sampler_new(&sampler, cfg->vocab_size, o.temp, o.top_p, o.seed, &err);
    if (rc == HALO_OK && !(logits = malloc((size_t)cfg->vocab_size * sizeof *logits)))
        rc = HALO_FAIL(&err, HALO_ERR_NOMEM, "out of memory");
    int n_prompt = 0;
    if (rc == HALO_OK) {
        size_t cap = halo_tokenizer_max_tokens(o.prompt);
        prompt = cap <= (size_t)1 << 28 ? malloc(cap * sizeof *prompt) : NULL;
        if (!prompt)
            rc = HALO_FAIL(&err, HALO_ERR_NOMEM, "prompt of %zu bytes: out of memory", cap);
        else
            rc = halo_tokenizer_encode(e.b.tok, o.prompt, 1, 0, prompt, (int)cap, &n_prompt, &err);
    }
    if (rc == HALO_OK && n_prompt > cfg->seq_len)
        rc = HALO_FAIL(&err, HALO_ERR_ARG, "prompt is %d tokens, longer than the context of %d",
                       n_prompt, cfg->seq_len);
    else if (rc == HALO_OK && n_prompt + o.steps - 1 > cfg->seq_len)
        rc = HALO_FAIL(&err, HALO_ERR_ARG,
                       "prompt (%d tokens with BOS) and %ld steps need %ld positions, the "
                       "context is %d",
                       n_prompt, o.steps, n_prompt + o.steps - 1, cfg->seq_len);
    if (rc != HALO_OK) {
        halo_cli_print_err(&err);
        free(prompt);
        free(logits);
        halo_sampler_free(sampler);
        halo_runner_close(&e);
        return rc == HALO_ERR_ARG ? HALO_EXIT_USAGE : HALO_EXIT_FAIL;
    }

    /* Echo the prompt as llama2.c does, then decode. */
    for (int i = 1; i < n_prompt && !o.ids; i++) {
        size_t n;
        const char *p = halo_tokenizer_decode(e.b.tok, prompt[i - 1], prompt[i], &n);
        print_piece(p, n);
    }
    int token = prompt[0], generated = 0;
    uint64_t t0 = halo_cli_now_ns();
    for (int pos = 0; generated < o.steps; pos++) {
        const float *out;
        rc = halo_runner_forward(&e, token, pos, &out, &err);
        if (rc != HALO_OK)
            break;
        /* The sampler scales logits in place, and the engine's are read-only: copy. */
        memcpy(logits, out, (size_t)cfg->vocab_size * sizeof *logits);
        int next;
        if (pos + 1 < n_prompt) {
            next = prompt[pos + 1];
        } else {
            next = halo_sampler_sample(sampler, logits);
            if (next == HALO_TOKEN_BOS || next == HALO_TOKEN_EOS)
                break;
            generated++;
            if (o.ids) {
                (void)printf("%d\n", next);
            } else {
                size_t n;
                const char *p = halo_tokenizer_decode(e.b.tok, token, next, &n);
                print_piece(p, n);
            }
            (void)fflush(stdout);
        }
        token = next;
    }
    uint64_t t1 = halo_cli_now_ns();
    if (!o.ids)
        (void)printf("\n");
    if (rc != HALO_OK) {
        halo_cli_print_err(&err);
        free(prompt);
        free(logits);
        halo_sampler_free(sampler);
        halo_runner_close(&e);
        return HALO_EXIT_FAIL;
    }
    double secs = (double)(t1 - t0) / 1e9;
    (void)fprintf(stderr, "halo: %d tokens in %.3f s: %.1f tokens/s (%.3f ms/token), %d threads\n",
                  generated, secs, secs > 0 ? generated / secs : 0.0,
                  generated > 0 ? secs * 1e3 / generated : 0.0, halo_pool_n_threads(e.b.pool));
    halo_runner_report(&e, stderr);
    free(prompt);
    free(logits);
    halo_sampler_free(sampler);
    halo_runner_close(&e);
    return HALO_EXIT_OK;
}
