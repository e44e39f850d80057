/*
 * halo_importance_sigma: the spread of group importance measured on a real model, per
 * block kind, layer and group count (core/importance_sigma.h), as CSV; with --c the rows of
 * the table compiled into halo (core/importance_sigma_table.inc).
 *
 *   halo_importance_sigma [--model FILE] [--tokenizer FILE] [--text FILE] [--stories N]
 *                         [--positions N] [--c]
 *
 * Defaults: the bundled models/stories260K.bin with models/tok512.bin, the first 40 stories
 * of data/tinystories-valid-dev.txt, the full context. sim/validation/importance-sigma.csv
 * is this program's CSV with the defaults (its header comment says how to rebuild it).
 * It is not part of `halo`: a one-off measurement whose result halo carries compiled in.
 */
#include "core/importance_sigma.h"

#include "core/file.h"
#include "core/model.h"
#include "core/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HALO_SOURCE_DIR
#define HALO_SOURCE_DIR "."
#endif

static int usage(void) {
    (void)fprintf(stderr, "usage: halo_importance_sigma [--model FILE] [--tokenizer FILE] "
                          "[--text FILE] [--stories N] [--positions N] [--c]\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *model_path = HALO_SOURCE_DIR "/models/stories260K.bin";
    const char *tok_path = HALO_SOURCE_DIR "/models/tok512.bin";
    const char *text_path = HALO_SOURCE_DIR "/data/tinystories-valid-dev.txt";
    long stories = 40;
    int positions = 0, c_table = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--c") == 0) {
            c_table = 1;
            continue;
        }
        if (!v)
            return usage();
        if (strcmp(a, "--model") == 0)
            model_path = v;
        else if (strcmp(a, "--tokenizer") == 0)
            tok_path = v;
        else if (strcmp(a, "--text") == 0)
            text_path = v;
        else if (strcmp(a, "--stories") == 0)
            stories = strtol(v, NULL, 10);
        else if (strcmp(a, "--positions") == 0)
            positions = (int)strtol(v, NULL, 10);
        else
            return usage();
        i++;
    }
    halo_err err = {0};
    halo_model *m = NULL;
    halo_tokenizer *tok = NULL;
    char *text = NULL;
    size_t text_len = 0;
    halo_importance_sigma_row *rows = NULL;
    int n = 0;
    int rc = halo_model_load(&m, model_path, &err);
    if (rc == HALO_OK)
        rc = halo_tokenizer_load(&tok, tok_path, halo_model_get_config(m)->vocab_size, &err);
    if (rc == HALO_OK)
        rc = halo_file_read_text(text_path, (size_t)1 << 30, &text, &text_len, &err);
    if (rc == HALO_OK)
        rc = halo_importance_sigma_measure(m, tok, text, stories, positions, &rows, &n, &err);
    if (rc == HALO_OK && c_table) {
        for (int i = 0; i < n; i++)
            printf("{%d, %d, %d, %d, %.4f},\n", rows[i].phase, rows[i].layer, rows[i].n_layers,
                   rows[i].n_groups, rows[i].sigma);
    } else if (rc == HALO_OK) {
        printf("kind,layer,n_layers,n_groups,group_size,sigma,q05,q25,q50,q75,q95,"
               "crit90_measured,crit90_lognormal,blocks\n");
        for (int i = 0; i < n; i++) {
            const halo_importance_sigma_row *r = &rows[i];
            printf("%s,%d,%d,%d,%d,%.4f,%.3f,%.3f,%.3f,%.3f,%.3f,%.4f,%.4f,%ld\n",
                   r->phase == 0 ? "attn" : "ffn", r->layer, r->n_layers, r->n_groups,
                   r->group_size, r->sigma, r->q[0], r->q[1], r->q[2], r->q[3], r->q[4],
                   r->crit_measured, r->crit_lognormal, r->blocks);
        }
    }
    if (rc != HALO_OK)
        (void)fprintf(stderr, "halo_importance_sigma: %s (%s:%d)\n", err.msg, err.file, err.line);
    free(rows);
    free(text);
    halo_tokenizer_free(tok);
    halo_model_free(m);
    return rc == HALO_OK ? 0 : 1;
}
