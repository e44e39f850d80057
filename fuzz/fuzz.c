/*
 * Scratch files, source paths and the model run for the fuzz targets (fuzz/fuzz.h).
 */
#define _GNU_SOURCE

#include "fuzz/fuzz.h"

#include "core/forward.h"
#include "core/model.h"
#include "core/sampler.h"
#include "core/tokenizer.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int fds[4] = {-1, -1, -1, -1};
static char paths[4][64];

const char *fz_file(int slot, const void *data, size_t n) {
    FZ_CHECK(slot >= 0 && slot < 4);
    if (fds[slot] < 0) {
        fds[slot] = memfd_create("halo-fuzz", MFD_CLOEXEC);
        FZ_CHECK(fds[slot] >= 0);
        (void)snprintf(paths[slot], sizeof paths[slot], "/proc/self/fd/%d", fds[slot]);
    }
    FZ_CHECK(ftruncate(fds[slot], 0) == 0);
    const char *p = data;
    for (size_t done = 0; done < n;) {
        ssize_t w = pwrite(fds[slot], p + done, n - done, (off_t)done);
        FZ_CHECK(w > 0);
        done += (size_t)w;
    }
    return paths[slot];
}

int fz_model_fits(const halo_model *m) {
    const halo_model_config *c = halo_model_get_config(m);
    double state = ((double)c->n_layers * c->seq_len * c->dim * 2 + (double)c->hidden_dim * 3 +
                    (double)c->vocab_size + (double)c->n_heads * c->seq_len) *
                   4.0;
    return state <= 64.0 * 1024 * 1024;
}

void fz_model_run(const halo_model *m, const halo_tokenizer *t, const char *prompt,
                  int max_positions) {
    const halo_model_config *c = halo_model_get_config(m);
    halo_err err = {0};
    int tokens[64], n = 0;
    FZ_CHECK(halo_tokenizer_max_tokens(prompt) <= 64);
    FZ_CHECK(halo_tokenizer_encode(t, prompt, 1, 0, tokens, 64, &n, &err) == HALO_OK);
    halo_state *s = NULL;
    if (halo_state_new(&s, m, NULL, &err) != HALO_OK)
        return;
    for (int pos = 0; pos < n && pos < max_positions && pos < c->seq_len; pos++) {
        FZ_CHECK(tokens[pos] >= 0 && tokens[pos] < c->vocab_size);
        const float *logits = halo_forward(s, tokens[pos], pos);
        int next = halo_argmax(logits, c->vocab_size);
        FZ_CHECK(next >= 0 && next < c->vocab_size);
        size_t nb;
        (void)halo_tokenizer_decode(t, tokens[pos], next, &nb);
    }
    halo_state_free(s);
}

int fz_flagged(const uint8_t *raw, size_t raw_size, unsigned char *out, size_t cap, size_t *size) {
    if (raw_size < 1 || raw_size - 1 > cap)
        return -1;
    *size = raw_size - 1;
    memcpy(out, raw + 1, *size);
    return raw[0];
}

const char *fz_src_path(const char *rel) {
    static char ring[4][4096];
    static int next;
    char *p = ring[next++ % 4];
    int n = snprintf(p, sizeof ring[0], "%s/%s", HALO_SOURCE_DIR, rel);
    FZ_CHECK(n > 0 && (size_t)n < sizeof ring[0]);
    return p;
}
