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

typedef struct gen_opts {
    const char *model, *tokenizer, *prompt;
    long steps, threads;
    float temp, top_p;
    uint64_t seed;
    int ids;
    int ignore_eos;
    halo_runner_opts engine;
} gen_opts;

/* Parses the command line into *o; returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, gen_opts *o) {
    *o = (gen_opts){.prompt = "", .steps = 256, .temp = 1.0f, .top_p = 0.9f, .seed = 42};
    halo_runner_opts_init(&o->engine);
    const halo_cli_opt opts[] = {
        HALO_CLI_OPT_PATH("model", 'm', &o->model, "FILE",
                          "llama2.c checkpoint or GGUF file (default: bundled\nstories260K.bin)"),
        HALO_CLI_OPT_PATH("tokenizer", 'z', &o->tokenizer, "FILE",
                          "llama2.c tokenizer (default: a GGUF file's own\nvocabulary, else the "
                          "bundled tok512.bin)"),
        HALO_CLI_OPT_STRING("prompt", 'p', &o->prompt, "TEXT", "prompt (default: empty)"),
        HALO_CLI_OPT_LONG("steps", 'n', &o->steps, 1, 1 << 30, "N",
                          "tokens to generate after the prompt (default 256); the prompt,\nBOS "
                          "included, plus N - 1 must fit in the model's context"),
        HALO_CLI_OPT_FLOAT("temp", 't', &o->temp, 0, 1e6, "T",
                           "temperature, 0 = greedy (default 1.0)"),
        HALO_CLI_OPT_FLOAT("top-p", 0, &o->top_p, 1e-6, 1, "P",
                           "nucleus sampling threshold in (0, 1] (default 0.9)"),
        HALO_CLI_OPT_U64("seed", 's', &o->seed, "S", "sampling seed (default 42)"),
        HALO_CLI_OPT_THREADS(&o->threads),
        HALO_CLI_OPT_FLAG("ids", 0, &o->ids, "print token ids, one per line, instead of text"),
        HALO_CLI_OPT_FLAG("ignore-eos", 0, &o->ignore_eos,
                          "go on past BOS and EOS tokens: always N tokens (timing runs\nthat must "
                          "all decode as many positions)"),
        HALO_CLI_OPT_END,
    };
    halo_cli_spec spec = {
        .name = "generate",
        .synopsis = "[options]",
        .about = "Generates text on this machine. With no options it runs the bundled model\n"
                 "(stories260K) from an empty prompt.\n",
        .opts = opts,
        .after = "Generation stops early at a BOS or EOS token (unless --ignore-eos). The "
                 "decode\nspeed (and a cluster's metrics) go to stderr.\n"};
    halo_runner_add_options(&o->engine, &spec, 1);
    return halo_cli_parse_or_exit(&spec, argc, argv);
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
    int status = parse(argc, argv, &o);
    if (status >= 0)
        return status;
    int rc;
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
        status = rc == HALO_ERR_ARG ? HALO_EXIT_USAGE : HALO_EXIT_FAIL;
        goto done;
    }

    /* Echo the prompt as llama2.c does, then decode. */
    for (int i = 1; i < n_prompt && !o.ids; i++) {
        size_t n;
        const char *p = halo_tokenizer_decode(e.b.tok, prompt[i - 1], prompt[i], &n);
        print_piece(p, n);
    }
    int token = prompt[0], generated = 0;
    /* Decode is timed apart from the prompt: t0 is taken before the forward pass that gives
       the first generated token, so ms/token is per generated token whatever the prompt's
       length (distributed-llama's "Pred" times likewise; the prompt's passes, counted in,
       made 32 tokens after an 18-token prompt look 1.5x slower per token). */
    uint64_t tp = halo_cli_now_ns(), t0 = tp;
    for (int pos = 0; generated < o.steps; pos++) {
        const float *out;
        if (pos == n_prompt - 1)
            t0 = halo_cli_now_ns();
        rc = halo_runner_forward(&e, token, pos, &out, &err);
        if (rc != HALO_OK)
            break;
        /* The sampler scales logits in place, and the engine's are read-only: copy. */
        memcpy(logits, out, (size_t)cfg->vocab_size * sizeof *logits);
        int next;
        if (pos + 1 < n_prompt) {
            next = prompt[pos + 1];
        } else {
            rc = halo_sampler_sample(sampler, logits, &next, &err);
            if (rc != HALO_OK) {
                (void)halo_err_prefix(&err, "generate: position %d: ", pos);
                break;
            }
            if (!o.ignore_eos && (next == HALO_TOKEN_BOS || next == HALO_TOKEN_EOS))
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
    halo_err rec_err = {0};
    int rec = halo_runner_record(&e, &o.engine, "halo-generate", rc != HALO_OK, &rec_err);
    if (rc == HALO_OK && rec != HALO_OK) {
        rc = rec;
        err = rec_err;
    }
    if (rc != HALO_OK) {
        status = HALO_EXIT_FAIL;
        goto done;
    }
    double secs = (double)(t1 - t0) / 1e9;
    (void)fprintf(stderr,
                  "halo: %d tokens in %.3f s: %.1f tokens/s (%.3f ms/token), %d threads; the "
                  "prompt's %d forward passes before them %.3f s\n",
                  generated, secs, secs > 0 ? generated / secs : 0.0,
                  generated > 0 ? secs * 1e3 / generated : 0.0, halo_pool_n_threads(e.b.pool),
                  n_prompt - 1, (double)(t0 - tp) / 1e9);
    halo_runner_report(&e, stderr);
    status = HALO_EXIT_OK;
done:
    if (status != HALO_EXIT_OK)
        halo_cli_print_err(&err);
    free(prompt);
    free(logits);
    halo_sampler_free(sampler);
    halo_runner_close(&e);
    return status;
}
