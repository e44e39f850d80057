/*
 * `halo convert`: writes a model as a GGUF file (core/model.h): a llama2.c checkpoint (or a
 * GGUF file) converted to f32, f16, q8_0, q4_0 or q4_k_m with its vocabulary, or a synthetic
 * model of a named shape with seeded random weights and the Llama 2 vocabulary.
 */
#define _POSIX_C_SOURCE 200809L

#include "app/cli.h"
#include "core/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct convert_opts {
    const char *input, *output, *tokenizer, *type, *synthetic, *name;
    uint64_t seed;
    float rope_theta;
} convert_opts;

static int parse(int argc, char **argv, convert_opts *o) {
    *o = (convert_opts){.type = "f32", .seed = 1234};
    const halo_cli_opt opts[] = {
        HALO_CLI_OPT_PATH("output", 'o', &o->output, "FILE", "the GGUF file to write"),
        HALO_CLI_OPT_STRING("type", 't', &o->type, "T", "f32 (default), f16, q8_0, q4_0 or q4_k_m"),
        HALO_CLI_OPT_PATH("tokenizer", 'z', &o->tokenizer, "FILE",
                          "llama2.c tokenizer to embed (default: the bundled\ntok512.bin for a "
                          "checkpoint, the input's own vocabulary\nfor a GGUF file, "
                          "models/tokenizer.bin (Llama 2,\n32000 tokens) for --synthetic)"),
        HALO_CLI_OPT_STRING(
            "synthetic", 0, &o->synthetic, "SHAPE",
            "random weights of a shape instead of an input:\ntinyllama-1.1b, llama2-7b, "
            "llama2-13b, stories110m,\nstories15m, bench-110m, or D,H,L,NH,NKV,V,S (dim,\nhidden, "
            "layers, heads, kv heads, vocab, context)"),
        HALO_CLI_OPT_U64("seed", 0, &o->seed, "N", "seed of the synthetic weights (default 1234)"),
        HALO_CLI_OPT_FLOAT("rope-theta", 0, &o->rope_theta, 2, 1e9, "X",
                           "RoPE base of the synthetic model (default 10000;\nLlama 3: 500000)"),
        HALO_CLI_OPT_STRING("name", 0, &o->name, "NAME",
                            "general.name of the file (default: halo)"),
        HALO_CLI_OPT_END,
    };
    halo_cli_spec spec = {
        .name = "convert",
        .synopsis = "-o FILE [options] [CHECKPOINT]",
        .about = "Writes a model as a GGUF file (llama.cpp's format): the llama2.c checkpoint or\n"
                 "GGUF file CHECKPOINT (default: the bundled stories260K.bin) in another type,\n"
                 "or with --synthetic a model of a named shape with random weights.\n"
                 "Quantised types pad the FFN's hidden width with zero neurons to whole\n"
                 "blocks (32, or 256 for q4_k_m); the function is unchanged.\n",
        .opts = opts,
        .positional = "CHECKPOINT",
        .pos_out = &o->input,
        .optional_positional = 1};
    return halo_cli_parse_or_exit(&spec, argc, argv);
}

/* "D,H,L,NH,NKV,V,S" or a shape name. */
static int parse_shape(const char *s, halo_model_config *c, halo_err *err) {
    if (halo_model_shape_named(s, c) == HALO_OK)
        return HALO_OK;
    int v[7], used = 0;
    if (sscanf(s, "%d,%d,%d,%d,%d,%d,%d%n", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
               &used) == 7 &&
        s[used] == '\0') {
        *c = (halo_model_config){.dim = v[0],
                                 .hidden_dim = v[1],
                                 .n_layers = v[2],
                                 .n_heads = v[3],
                                 .n_kv_heads = v[4],
                                 .vocab_size = v[5],
                                 .seq_len = v[6],
                                 .shared_classifier = 0};
        return halo_model_config_check(c, "--synthetic", err);
    }
    return HALO_FAIL(err, HALO_ERR_ARG,
                     "--synthetic: '%s' is not a shape (%s, or D,H,L,NH,NKV,V,S)", s,
                     halo_model_shape_names());
}

int halo_cmd_convert(int argc, char **argv) {
    convert_opts o;
    int status = parse(argc, argv, &o);
    if (status >= 0)
        return status;
    halo_err err = {0};
    int ftype = halo_ftype_from_name(o.type);
    int rc = HALO_OK;
    if (ftype < 0)
        rc = HALO_FAIL(&err, HALO_ERR_ARG, "--type: '%s' is not f32, f16, q8_0, q4_0 or q4_k_m",
                       o.type);
    else if (!o.output)
        rc = HALO_FAIL(&err, HALO_ERR_ARG, "missing -o FILE (the GGUF file to write)");
    else if (o.synthetic && o.input)
        rc = HALO_FAIL(&err, HALO_ERR_ARG, "--synthetic takes no CHECKPOINT");
    else if (o.rope_theta != 0.0f && !o.synthetic)
        rc = HALO_FAIL(&err, HALO_ERR_ARG, "--rope-theta is for --synthetic models only");
    char mbuf[4096], tbuf[4096];
    /* the input is mapped while the output is written: never the same file */
    if (rc == HALO_OK && !o.synthetic)
        rc = halo_cli_check_output("-o", o.output, "CHECKPOINT",
                                   halo_cli_model_path(o.input, mbuf, sizeof mbuf), &err);
    if (rc == HALO_OK)
        rc = halo_cli_check_output("-o", o.output, "--tokenizer", o.tokenizer, &err);
    if (rc != HALO_OK)
        return halo_cli_usage_error(&err, "convert");

    halo_model *model = NULL;
    halo_tokenizer *tok = NULL;
    halo_model_config shape;
    if (o.synthetic) {
        rc = parse_shape(o.synthetic, &shape, &err);
        if (rc != HALO_OK)
            return halo_cli_usage_error(&err, "convert");
        const char *tp =
            o.tokenizer ? o.tokenizer : halo_cli_bundled_path("tokenizer.bin", tbuf, sizeof tbuf);
        rc = halo_tokenizer_load(&tok, tp, shape.vocab_size, &err);
        if (rc == HALO_OK)
            rc = halo_model_write_gguf_random(o.output, &shape, tok, ftype, o.seed, o.rope_theta,
                                              o.name, &err);
    } else {
        rc = halo_model_load(&model, halo_cli_model_path(o.input, mbuf, sizeof mbuf), &err);
        /* A GGUF input without a vocabulary is written without one. */
        if (rc == HALO_OK && (o.tokenizer || !halo_model_gguf(model) ||
                              halo_gguf_find(halo_model_gguf(model), "tokenizer.ggml.model")))
            rc = halo_cli_tokenizer_for(model, o.tokenizer, &tok, &err);
        if (rc == HALO_OK)
            rc = halo_model_write_gguf(o.output, model, tok, ftype, o.name, &err);
    }
    halo_tokenizer_free(tok);
    halo_model_free(model);
    if (rc != HALO_OK) {
        return halo_cli_fail(rc, &err);
    }
    return HALO_EXIT_OK;
}
