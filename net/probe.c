/*
 * The speed probe and its message (net/probe.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "net/probe.h"

#include "core/bytes.h"
#include "core/mat.h"
#include "net/ctlmsg.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const unsigned char probe_magic[4] = {'P', 'R', 'O', 'B'};

static uint64_t mono_ns(void) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int halo_net_probe_run(const halo_model *model, halo_pool *pool, int n_devices, uint64_t budget_ns,
                       halo_net_probe *out, halo_err *err) {
    out->flops_per_s = 0;
    out->probe_ns = 0;
    out->flops = 0;
    if (!halo_model_has_weights(model))
        return HALO_OK;
    const halo_model_config *c = halo_model_get_config(model);
    int rows = c->hidden_dim / (n_devices > 0 ? n_devices : 1);
    if (rows < 1)
        rows = 1;
    float *x = malloc((size_t)c->dim * sizeof *x);
    float *y = malloc((size_t)rows * sizeof *y);
    halo_act act = {0};
    int quantised = halo_model_weight_type(model) != HALO_WEIGHT_F32;
    int rc = !x || !y ? HALO_FAIL(err, HALO_ERR_NOMEM, "probe: out of memory")
                      : halo_act_init(&act, c->dim, quantised, err);
    if (rc == HALO_OK) {
        for (int i = 0; i < c->dim; i++)
            x[i] = (float)((i % 7) - 3) * 0.125f;
        halo_act_set(&act, x, c->dim);
        uint64_t t0 = mono_ns(), now = t0, best = 0;
        uint64_t per_pass = (uint64_t)c->n_layers * 4ull * (uint64_t)rows * (uint64_t)c->dim;
        int passes = 0;
        while (passes < 1000000 && (passes == 0 || now - t0 < budget_ns)) {
            uint64_t p0 = now;
            for (int l = 0; l < c->n_layers; l++) {
                const halo_layer *L = halo_model_layer(model, l);
                halo_mat_vec(pool, y, &L->w1, 0, 0, x, halo_act_get(&act, &L->w1), rows, c->dim, 0);
                halo_mat_vec(pool, y, &L->w3, 0, 0, x, halo_act_get(&act, &L->w3), rows, c->dim, 1);
            }
            passes++;
            now = mono_ns();
            if (!best || now - p0 < best)
                best = now > p0 ? now - p0 : 1;
        }
        /* the fastest pass: a pass the scheduler interrupted (other processes probing at the
           same time on a shared host) says nothing about the device */
        out->probe_ns = now > t0 ? now - t0 : 1;
        out->flops = (uint64_t)passes * per_pass;
        out->flops_per_s = (double)per_pass * 1e9 / (double)best;
    }
    halo_act_free(&act);
    free(x);
    free(y);
    return rc;
}

void halo_net_probe_encode(const halo_net_probe *p, unsigned char *buf) {
    halo_net_ctlmsg_begin(buf, HALO_NET_PROBE_BYTES, probe_magic, HALO_NET_PROBE_VERSION);
    halo_put_u16(buf + 6, (uint16_t)p->node_idx);
    halo_put_u64(buf + 8, p->session);
    double r = p->flops_per_s > 0 && p->flops_per_s < 1.8e19 ? p->flops_per_s : 0.0;
    halo_put_u64(buf + 16, (uint64_t)r);
    halo_put_u64(buf + 24, p->probe_ns);
    halo_put_u64(buf + 32, p->flops);
}

int halo_net_probe_decode(halo_net_probe *p, const void *msg, size_t len) {
    const unsigned char *b = msg;
    if (len != HALO_NET_PROBE_BYTES ||
        !halo_net_ctlmsg_check(b, probe_magic, HALO_NET_PROBE_VERSION))
        return 0;
    p->node_idx = halo_get_u16(b + 6);
    p->session = halo_get_u64(b + 8);
    p->flops_per_s = (double)halo_get_u64(b + 16);
    p->probe_ns = halo_get_u64(b + 24);
    p->flops = halo_get_u64(b + 32);
    return 1;
}
