/*
 * halo_llamacpp_ref: halo's side of the comparison with llama.cpp (tools/compare-llamacpp.sh).
 * It writes what halo computes in files the llama.cpp side (a small driver the script builds
 * against libllama) reads or writes in the same form, and compares them. It holds none of
 * llama.cpp's code.
 *
 *   halo_llamacpp_ref stories MODEL TEXT OUT     token ids of each story exactly as `halo eval`
 *                                                scores them (BOS first, cut at the context),
 *                                                one story per line
 *   halo_llamacpp_ref logits MODEL IDS N OUT     teacher-forced logits of the first N ids of the
 *                                                first line of IDS: N x vocab float32
 *   halo_llamacpp_ref compare A B VOCAB          per position: max |a - b| / max |b|, argmax
 *                                                agreement; a summary line (the worst and mean
 *                                                errors, positions within 1e-5, the first
 *                                                position above it or -1)
 *   halo_llamacpp_ref tokenize GGUF INP OUT      halo's encoding (no BOS) of each test text of a
 *                                                llama.cpp vocabulary test (texts separated by
 *                                                "\n__ggml_vocab_test__\n"), one line each, in
 *                                                the form of its .out files
 *
 * MODEL may be a llama2.c checkpoint or a GGUF file; a GGUF file's own vocabulary is used.
 * Exit status: 0 done, 1 error (message on stderr), 2 usage.
 */
#define _POSIX_C_SOURCE 200809L

#include "core/eval.h"
#include "core/file.h"
#include "core/forward.h"
#include "core/gguf.h"
#include "core/model.h"
#include "core/sampler.h"
#include "core/tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *msg) {
    (void)fprintf(stderr, "halo_llamacpp_ref: %s\n", msg);
    return 1;
}

static int load(const char *path, halo_model **m, halo_tokenizer **t, halo_err *err) {
    halo_model_opts o = {.max_seq_len = 4096};
    int rc = halo_model_load_opts(m, path, &o, err);
    if (rc != HALO_OK)
        return rc;
    if (halo_model_gguf(*m))
        return halo_tokenizer_load_gguf(t, halo_model_gguf(*m),
                                        halo_model_get_config(*m)->vocab_size, err);
    return HALO_FAIL(err, HALO_ERR_ARG, "%s: give a GGUF file (it carries its vocabulary)", path);
}

/* The stories of `text` as core/eval.h splits them (halo_eval_next_story), encoded with BOS
   and cut at seq_len, one line of ids each. tools/compare-llamacpp.sh checks the token count
   against `halo eval`'s. */
static int write_stories(const halo_tokenizer *t, int seq_len, char *text, FILE *out) {
    int *ids = malloc(halo_tokenizer_max_tokens(text) * sizeof *ids);
    if (!ids)
        return -1;
    const char *at = text, *story;
    size_t len;
    while (halo_eval_next_story(&at, &story, &len)) {
        char *start = text + (story - text), *end = start + len;
        char keep = *end;
        *end = '\0';
        int n;
        if (halo_tokenizer_encode(t, start, 1, 0, ids, (int)halo_tokenizer_max_tokens(start), &n,
                                  NULL) != HALO_OK) {
            free(ids);
            return -1;
        }
        *end = keep;
        if (n > seq_len)
            n = seq_len;
        for (int i = 0; i < n; i++)
            (void)fprintf(out, "%s%d", i ? " " : "", ids[i]);
        (void)fputc('\n', out);
    }
    free(ids);
    return 0;
}

static int cmd_stories(char **argv) {
    halo_err err = {0};
    halo_model *m = NULL;
    halo_tokenizer *t = NULL;
    char *text = NULL;
    size_t len;
    int rc = load(argv[0], &m, &t, &err);
    if (rc == HALO_OK)
        rc = halo_file_read_text(argv[1], (size_t)1 << 30, &text, &len, &err);
    FILE *out = rc == HALO_OK ? fopen(argv[2], "w") : NULL;
    if (rc == HALO_OK && !out)
        rc = HALO_FAIL(&err, HALO_ERR_IO, "%s: cannot create", argv[2]);
    if (rc == HALO_OK && write_stories(t, halo_model_get_config(m)->seq_len, text, out) != 0)
        rc = HALO_FAIL(&err, HALO_ERR_NOMEM, "encoding failed");
    if (out && fclose(out) != 0 && rc == HALO_OK)
        rc = HALO_FAIL(&err, HALO_ERR_IO, "%s: write failed", argv[2]);
    free(text);
    halo_tokenizer_free(t);
    halo_model_free(m);
    return rc == HALO_OK ? 0 : fail(err.msg);
}

static int cmd_logits(char **argv) {
    halo_err err = {0};
    halo_model *m = NULL;
    halo_model_opts o = {.max_seq_len = 4096};
    if (halo_model_load_opts(&m, argv[0], &o, &err) != HALO_OK)
        return fail(err.msg);
    int n = atoi(argv[2]), ids[4096], n_ids = 0;
    FILE *f = fopen(argv[1], "r");
    if (!f)
        return fail("cannot open the ids file");
    while (n_ids < n && fscanf(f, "%d", &ids[n_ids]) == 1)
        n_ids++;
    (void)fclose(f);
    const halo_model_config *c = halo_model_get_config(m);
    if (n_ids < n || n > c->seq_len)
        return fail("fewer ids than asked for, or more than the context");
    halo_state *s = NULL;
    if (halo_state_new(&s, m, NULL, &err) != HALO_OK)
        return fail(err.msg);
    FILE *out = fopen(argv[3], "wb");
    if (!out)
        return fail("cannot create the output");
    for (int pos = 0; pos < n; pos++) {
        if (ids[pos] < 0 || ids[pos] >= c->vocab_size)
            return fail("an id is out of the vocabulary");
        const float *l = halo_forward(s, ids[pos], pos);
        if (fwrite(l, sizeof(float), (size_t)c->vocab_size, out) != (size_t)c->vocab_size)
            return fail("write failed");
    }
    if (fclose(out) != 0)
        return fail("write failed");
    halo_state_free(s);
    halo_model_free(m);
    return 0;
}

static float *read_floats(const char *path, size_t *n) {
    char *b = NULL;
    size_t len = 0;
    halo_err err = {0};
    if (halo_file_read(path, (size_t)1 << 31, &b, &len, &err) != HALO_OK) {
        (void)fprintf(stderr, "halo_llamacpp_ref: %s\n", err.msg);
        return NULL;
    }
    *n = len / sizeof(float);
    float *f = malloc(len + 1);
    if (f)
        memcpy(f, b, len);
    free(b);
    return f;
}

static int cmd_compare(char **argv) {
    size_t na, nb;
    float *a = read_floats(argv[0], &na), *b = read_floats(argv[1], &nb);
    int vocab = atoi(argv[2]);
    if (!a || !b || vocab < 1 || na != nb || na % (size_t)vocab != 0)
        return fail("the two files differ in size or are not whole rows of VOCAB floats");
    int rows = (int)(na / (size_t)vocab), agree = 0, exact = 0, first = -1;
    double worst = 0, sum = 0;
    for (int r = 0; r < rows; r++) {
        const float *x = a + (size_t)r * (size_t)vocab, *y = b + (size_t)r * (size_t)vocab;
        double d = 0, mag = 0;
        for (int i = 0; i < vocab; i++) {
            d = fmax(d, fabs((double)x[i] - (double)y[i]));
            mag = fmax(mag, fabs((double)y[i]));
        }
        double rel = mag > 0 ? d / mag : d;
        worst = fmax(worst, rel);
        sum += rel;
        agree += halo_argmax(x, vocab) == halo_argmax(y, vocab);
        exact += rel <= 1e-5;
        if (rel > 1e-5 && first < 0)
            first = r;
        (void)printf("pos %d max_abs %.6g rel %.6g argmax %d %d\n", r, d, rel,
                     halo_argmax(x, vocab), halo_argmax(y, vocab));
    }
    (void)printf("summary positions %d max_rel %.6g mean_rel %.6g argmax_agree %d within_1e-5 %d "
                 "first_above %d\n",
                 rows, worst, sum / rows, agree, exact, first);
    free(a);
    free(b);
    return 0;
}

static int cmd_tokenize(char **argv) {
    halo_err err = {0};
    halo_gguf *g = NULL;
    if (halo_gguf_open(&g, argv[0], &err) != HALO_OK)
        return fail(err.msg);
    const halo_gguf_kv *kv = halo_gguf_find(g, "tokenizer.ggml.tokens");
    halo_tokenizer *t = NULL;
    if (!kv || halo_tokenizer_load_gguf(&t, g, (int)kv->n, &err) != HALO_OK)
        return fail(kv ? err.msg : "no tokenizer.ggml.tokens");
    char *text = NULL;
    size_t len;
    if (halo_file_read_text(argv[1], (size_t)1 << 26, &text, &len, &err) != HALO_OK)
        return fail(err.msg);
    FILE *out = fopen(argv[2], "w");
    if (!out)
        return fail("cannot create the output");
    static const char sep[] = "\n__ggml_vocab_test__\n";
    for (char *p = text; p;) {
        char *next = strstr(p, sep);
        if (next)
            *next = '\0';
        size_t cap = halo_tokenizer_max_tokens(p);
        int *ids = malloc(cap * sizeof *ids), n;
        if (!ids || halo_tokenizer_encode(t, p, 0, 0, ids, (int)cap, &n, &err) != HALO_OK)
            return fail("encoding failed");
        for (int i = 0; i < n; i++)
            (void)fprintf(out, " %d", ids[i]);
        (void)fputc('\n', out);
        free(ids);
        p = next && next[strlen(sep)] ? next + strlen(sep) : NULL;
    }
    if (fclose(out) != 0)
        return fail("write failed");
    free(text);
    halo_tokenizer_free(t);
    halo_gguf_free(g);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "stories") == 0 && argc == 5)
        return cmd_stories(argv + 2);
    if (argc >= 2 && strcmp(argv[1], "logits") == 0 && argc == 6)
        return cmd_logits(argv + 2);
    if (argc >= 2 && strcmp(argv[1], "compare") == 0 && argc == 5)
        return cmd_compare(argv + 2);
    if (argc >= 2 && strcmp(argv[1], "tokenize") == 0 && argc == 5)
        return cmd_tokenize(argv + 2);
    (void)fprintf(stderr, "usage: halo_llamacpp_ref stories MODEL TEXT OUT | logits MODEL IDS N "
                          "OUT | compare A B VOCAB | tokenize GGUF INP OUT\n");
    return 2;
}
