/*
 * Group geometry and placements.
 */
#include "core/plan.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int halo_groups_init(halo_groups *g, const halo_model_config *cfg, int ffn_size, halo_err *err) {
    if (ffn_size < 1 || ffn_size > cfg->hidden_dim)
        return HALO_FAIL(err, HALO_ERR_ARG, "ffn group size %d: expected 1..%d (hidden_dim)",
                         ffn_size, cfg->hidden_dim);
    int n_ffn = (cfg->hidden_dim + ffn_size - 1) / ffn_size;
    if (n_ffn > 65535 || cfg->n_kv_heads > 65535)
        return HALO_FAIL(err, HALO_ERR_ARG, "ffn group size %d gives %d groups, at most 65535",
                         ffn_size, n_ffn);
    *g = (halo_groups){.n_layers = cfg->n_layers,
                       .n_attn = cfg->n_kv_heads,
                       .n_ffn = n_ffn,
                       .ffn_size = ffn_size,
                       .kv_mul = cfg->n_heads / cfg->n_kv_heads,
                       .head_size = halo_model_head_size(cfg),
                       .hidden_dim = cfg->hidden_dim};
    return HALO_OK;
}

void halo_placement_free(halo_placement *p) {
    free(p->attn);
    free(p->ffn);
    p->attn = p->ffn = NULL;
}

static int alloc_placement(halo_placement *p, const halo_groups *groups, int n_devices,
                           halo_err *err) {
    memset(p, 0, sizeof *p);
    if (n_devices < 1 || n_devices > HALO_MAX_DEVICES)
        return HALO_FAIL(err, HALO_ERR_ARG, "%d devices: expected 1..%d", n_devices,
                         HALO_MAX_DEVICES);
    p->n_devices = n_devices;
    p->groups = *groups;
    p->attn = calloc((size_t)groups->n_layers * (size_t)groups->n_attn, sizeof *p->attn);
    p->ffn = calloc((size_t)groups->n_layers * (size_t)groups->n_ffn, sizeof *p->ffn);
    if (!p->attn || !p->ffn) {
        halo_placement_free(p);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "placement: out of memory");
    }
    return HALO_OK;
}

/*
 * Splits n items into contiguous runs in device order, sized by largest remainder of
 * n * w_d / sum(w); ties go to the lower device.
 */
static void split(uint16_t *dev_of, int n, int n_devices, const double *w, double w_sum,
                  int *counts) {
    double *rem = malloc((size_t)n_devices * sizeof *rem);
    int assigned = 0;
    for (int d = 0; d < n_devices; d++) {
        double exact = (double)n * (w ? w[d] : 1.0) / w_sum;
        counts[d] = (int)floor(exact);
        if (rem)
            rem[d] = exact - counts[d];
        assigned += counts[d];
    }
    while (assigned < n) {
        int best = 0;
        for (int d = 1; rem && d < n_devices; d++)
            if (rem[d] > rem[best])
                best = d;
        counts[best]++;
        if (rem)
            rem[best] = -1.0;
        assigned++;
    }
    free(rem);
    int i = 0;
    for (int d = 0; d < n_devices; d++)
        for (int k = 0; k < counts[d]; k++)
            dev_of[i++] = (uint16_t)d;
}

int halo_placement_init(halo_placement *p, const halo_groups *groups, int n_devices,
                        const double *weights, halo_err *err) {
    double w_max = 0;
    for (int d = 0; weights && d < n_devices; d++) {
        if (!(weights[d] > 0.0) || !isfinite(weights[d]))
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "weight %g of device %d: expected a finite number > 0", weights[d], d);
        if (weights[d] > w_max)
            w_max = weights[d];
    }
    int rc = alloc_placement(p, groups, n_devices, err);
    if (rc != HALO_OK)
        return rc;
    int *counts = malloc((size_t)n_devices * sizeof *counts);
    double *w = weights ? malloc((size_t)n_devices * sizeof *w) : NULL;
    if (!counts || (weights && !w)) {
        free(counts);
        free(w);
        halo_placement_free(p);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "placement: out of memory");
    }
    /* Normalised by the power of two at or above the largest weight, so each is in (0, 1] and
       their sum at most n_devices: n * w / sum can neither overflow (weights near DBL_MAX) nor
       lose the split to an infinite sum, and scaling by a power of two is exact, so ordinary
       weights split exactly as they did unscaled. */
    double w_sum = n_devices;
    if (weights) {
        int e;
        (void)frexp(w_max, &e);
        w_sum = 0;
        for (int d = 0; d < n_devices; d++) {
            w[d] = ldexp(weights[d], -e);
            w_sum += w[d];
        }
    }
    for (int l = 0; l < groups->n_layers; l++) {
        split(p->attn + (size_t)l * (size_t)groups->n_attn, groups->n_attn, n_devices, w, w_sum,
              counts);
        split(p->ffn + (size_t)l * (size_t)groups->n_ffn, groups->n_ffn, n_devices, w, w_sum,
              counts);
    }
    free(w);
    free(counts);
    return HALO_OK;
}

/* Parses "a,b,c" into exactly n numbers; returns the count parsed or -1 on a bad number. A
   value that underflows to a tiny nonzero number is kept ("balanced" writes speeds near DBL_MIN
   as %.6g, a hair below it); one that overflows or underflows to zero is bad. */
static int parse_list(const char *s, const char *end, double *out, int n) {
    int k = 0;
    while (s < end) {
        char *stop;
        errno = 0;
        double v = strtod(s, &stop);
        if (stop == s || (errno != 0 && !(errno == ERANGE && v != 0 && isfinite(v))) ||
            (stop < end && *stop != ','))
            return -1;
        if (k < n)
            out[k] = v;
        k++;
        s = stop < end ? stop + 1 : stop;
    }
    return k;
}

static int parse_devices(const char *spec, const char *s, const char *end, uint16_t *out, int n,
                         int n_devices, const char *what, halo_err *err) {
    double *v = malloc(((size_t)n + 1) * sizeof *v);
    if (!v)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "placement: out of memory");
    int k = parse_list(s, end, v, n);
    int rc = HALO_OK;
    if (k != n) {
        rc = HALO_FAIL(err, HALO_ERR_ARG, "placement '%s': %s needs %d device numbers, got %s",
                       spec, what, n, k < 0 ? "a bad number" : "another count");
    } else {
        for (int i = 0; i < n && rc == HALO_OK; i++) {
            if (v[i] < 0 || v[i] >= n_devices || v[i] != floor(v[i]))
                rc = HALO_FAIL(err, HALO_ERR_ARG,
                               "placement '%s': %s group %d on device %g, expected 0..%d", spec,
                               what, i, v[i], n_devices - 1);
            else
                out[i] = (uint16_t)v[i];
        }
    }
    free(v);
    return rc;
}

int halo_placement_parse(halo_placement *p, const halo_groups *groups, int n_devices,
                         const char *spec, halo_err *err) {
    memset(p, 0, sizeof *p);
    if (strcmp(spec, "equal") == 0)
        return halo_placement_init(p, groups, n_devices, NULL, err);
    if (strncmp(spec, "weights:", 8) == 0) {
        if (n_devices < 1 || n_devices > HALO_MAX_DEVICES)
            return HALO_FAIL(err, HALO_ERR_ARG, "%d devices: expected 1..%d", n_devices,
                             HALO_MAX_DEVICES);
        double *w = malloc((size_t)n_devices * sizeof *w);
        if (!w)
            return HALO_FAIL(err, HALO_ERR_NOMEM, "placement: out of memory");
        const char *s = spec + 8;
        int k = parse_list(s, s + strlen(s), w, n_devices);
        int rc = k == n_devices
                     ? halo_placement_init(p, groups, n_devices, w, err)
                     : HALO_FAIL(err, HALO_ERR_ARG,
                                 "placement '%s': needs %d weights (one per device), got %s", spec,
                                 n_devices, k < 0 ? "a bad number" : "another count");
        free(w);
        return rc;
    }
    if (strncmp(spec, "explicit:", 9) == 0) {
        const char *s = spec + 9, *slash = strchr(s, '/');
        if (!slash)
            return HALO_FAIL(err, HALO_ERR_ARG,
                             "placement '%s': expected explicit:ATTN_DEVICES/FFN_DEVICES", spec);
        int rc = alloc_placement(p, groups, n_devices, err);
        if (rc == HALO_OK)
            rc =
                parse_devices(spec, s, slash, p->attn, groups->n_attn, n_devices, "attention", err);
        if (rc == HALO_OK)
            rc = parse_devices(spec, slash + 1, slash + 1 + strlen(slash + 1), p->ffn,
                               groups->n_ffn, n_devices, "ffn", err);
        if (rc != HALO_OK) {
            halo_placement_free(p);
            return rc;
        }
        for (int l = 1; l < groups->n_layers; l++) {
            memcpy(p->attn + (size_t)l * (size_t)groups->n_attn, p->attn,
                   (size_t)groups->n_attn * sizeof *p->attn);
            memcpy(p->ffn + (size_t)l * (size_t)groups->n_ffn, p->ffn,
                   (size_t)groups->n_ffn * sizeof *p->ffn);
        }
        return HALO_OK;
    }
    return HALO_FAIL(err, HALO_ERR_ARG,
                     "placement '%s': expected equal, weights:W0,W1,... or explicit:A/F", spec);
}

int halo_placement_check(const halo_placement *p, halo_err *err) {
    const halo_groups *g = &p->groups;
    for (int l = 0; l < g->n_layers; l++) {
        for (int i = 0; i < g->n_attn; i++)
            if (p->attn[(size_t)l * (size_t)g->n_attn + (size_t)i] >= p->n_devices)
                return HALO_FAIL(err, HALO_ERR_ARG,
                                 "placement: layer %d attention group %d on device %d of %d", l, i,
                                 p->attn[(size_t)l * (size_t)g->n_attn + (size_t)i], p->n_devices);
        for (int i = 0; i < g->n_ffn; i++)
            if (p->ffn[(size_t)l * (size_t)g->n_ffn + (size_t)i] >= p->n_devices)
                return HALO_FAIL(err, HALO_ERR_ARG,
                                 "placement: layer %d ffn group %d on device %d of %d", l, i,
                                 p->ffn[(size_t)l * (size_t)g->n_ffn + (size_t)i], p->n_devices);
    }
    return HALO_OK;
}

void halo_placement_copy(halo_placement *dst, const halo_placement *src) {
    HALO_ASSERT(dst->groups.n_layers == src->groups.n_layers &&
                dst->groups.n_attn == src->groups.n_attn && dst->groups.n_ffn == src->groups.n_ffn);
    dst->n_devices = src->n_devices;
    memcpy(dst->attn, src->attn,
           (size_t)src->groups.n_layers * (size_t)src->groups.n_attn * sizeof *dst->attn);
    memcpy(dst->ffn, src->ffn,
           (size_t)src->groups.n_layers * (size_t)src->groups.n_ffn * sizeof *dst->ffn);
}

int halo_placement_count(const halo_placement *p, int layer, int device, int *n_attn, int *n_ffn) {
    const halo_groups *g = &p->groups;
    int a = 0, f = 0;
    for (int i = 0; i < g->n_attn; i++)
        a += p->attn[(size_t)layer * (size_t)g->n_attn + (size_t)i] == device;
    for (int i = 0; i < g->n_ffn; i++)
        f += p->ffn[(size_t)layer * (size_t)g->n_ffn + (size_t)i] == device;
    if (n_attn)
        *n_attn = a;
    if (n_ffn)
        *n_ffn = f;
    return a + f;
}
