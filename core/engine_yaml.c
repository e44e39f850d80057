/*
 * The `engine:` section of YAML files (core/engine_yaml.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "core/engine_yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MAX_NAMES = 64
};

static const halo_yaml_node *pick(const halo_engine_yaml *h, const halo_yaml_node *n) {
    return h && h->pick ? h->pick(h->ctx, n) : n;
}

/* The section's keys into names[MAX_NAMES + 1]: the table's names up to the first '.',
   each once; with `tcp` set, the keys under tcp. instead. */
static const char *const *key_names(const char **names, int tcp) {
    int n = 0;
    for (int k = 0; k < halo_engine_n_keys && n < MAX_NAMES; k++) {
        const char *name = halo_engine_keys[k].name;
        int sub = strncmp(name, "tcp.", 4) == 0;
        if (tcp && sub)
            names[n++] = name + 4;
        else if (!tcp && sub && strcmp(name, "tcp.init_cwnd") == 0)
            names[n++] = "tcp";
        else if (!tcp && !sub)
            names[n++] = name;
    }
    names[n] = NULL;
    return names;
}

/* Sets key `name` from node v at key path kp. */
static int read_value(halo_engine_config *c, const halo_yaml_node *v, const char *kp,
                      const char *name, const halo_engine_yaml *h, halo_err *err) {
    static const char *const what[] = {"a string", "a number", "an integer", "true or false",
                                       "a string", "a string", "a string"};
    const halo_engine_key *key = &halo_engine_keys[halo_engine_key_find(name)];
    const char *w = strcmp(name, "split_classifier") == 0 ? "true, false or auto" : what[key->type];
    const halo_yaml_node *s = pick(h, v);
    if (s->kind != HALO_YAML_SCALAR)
        return halo_yaml_fail(err, HALO_ERR_FORMAT, s->file, s->line, kp, "expected %s, got %s", w,
                              halo_yaml_kind_name(s));
    if (halo_yaml_is_null(s))
        return halo_yaml_fail(err, HALO_ERR_FORMAT, s->file, s->line, kp,
                              "expected %s, got an empty value", w);
    int typed = key->type == HALO_ENGINE_TYPE_NUMBER || key->type == HALO_ENGINE_TYPE_INTEGER ||
                key->type == HALO_ENGINE_TYPE_BOOL;
    if (typed && !s->plain)
        return halo_yaml_fail(err, HALO_ERR_FORMAT, s->file, s->line, kp,
                              "expected %s, got the string '%s'", w, s->str);
    if (key->type == HALO_ENGINE_TYPE_PATH && h && h->path) {
        char *path = NULL;
        int rc = h->path(h->ctx, s, kp, s->str, &path, err);
        if (rc == HALO_OK && halo_engine_set(c, name, path, err) != HALO_OK)
            rc = halo_yaml_prefix(err, s, kp);
        free(path);
        return rc;
    }
    if (halo_engine_set(c, name, s->str, err) != HALO_OK)
        return halo_yaml_prefix(err, s, kp);
    return HALO_OK;
}

static int expect_map(const halo_yaml_node *m, const halo_yaml_node *v, const char *kp,
                      halo_err *err) {
    if (v->kind == HALO_YAML_MAP)
        return HALO_OK;
    if (halo_yaml_is_null(v))
        return halo_yaml_fail(err, HALO_ERR_FORMAT, v->file, v->line, kp,
                              "expected a mapping, got an empty value");
    return halo_yaml_fail(err, HALO_ERR_FORMAT, v->file, v->line, kp, "expected a mapping, got %s",
                          m->kind == HALO_YAML_SEQ ? "a list" : halo_yaml_kind_name(v));
}

static int read_tcp(halo_engine_config *c, const halo_yaml_node *m, const char *kp,
                    const halo_engine_yaml *h, halo_err *err) {
    const halo_yaml_node *t = pick(h, m);
    const char *names[MAX_NAMES + 1];
    int rc = expect_map(m, t, kp, err);
    if (rc == HALO_OK)
        rc = halo_yaml_check_keys(t, kp, key_names(names, 1), err);
    for (int i = 0; rc == HALO_OK && i < t->n; i++) {
        char sub[HALO_YAML_KP_MAX], name[64];
        (void)snprintf(name, sizeof name, "tcp.%s", t->keys[i]);
        rc = read_value(c, t->items[i], halo_yaml_kp_key(sub, kp, t->keys[i]), name, h, err);
    }
    return rc;
}

int halo_engine_yaml_read(halo_engine_config *c, const halo_yaml_node *m, const char *kp,
                          const halo_engine_yaml *h, halo_err *err) {
    if (!m)
        return HALO_OK;
    const halo_yaml_node *e = pick(h, m);
    const char *names[MAX_NAMES + 1];
    int rc = expect_map(m, e, kp, err);
    if (rc == HALO_OK)
        rc = halo_yaml_check_keys(e, kp, key_names(names, 0), err);
    char sub[HALO_YAML_KP_MAX];
    const halo_yaml_node *v;
    /* the preset first, so that the other keys override it wherever they stand */
    if (rc == HALO_OK && (v = halo_yaml_get(e, "baseline")))
        rc = read_value(c, v, halo_yaml_kp_key(sub, kp, "baseline"), "baseline", h, err);
    for (int i = 0; rc == HALO_OK && i < e->n; i++) {
        const char *key = e->keys[i];
        (void)halo_yaml_kp_key(sub, kp, key);
        if (strcmp(key, "baseline") == 0)
            continue;
        rc = strcmp(key, "tcp") == 0 ? read_tcp(c, e->items[i], sub, h, err)
                                     : read_value(c, e->items[i], sub, key, h, err);
    }
    return rc;
}

int halo_engine_yaml_finish(halo_engine_config *c, const halo_yaml_node *m,
                            const halo_yaml_node *absent, const char *kp, int n_devices,
                            int has_weights, int where, const halo_engine_yaml *h, halo_err *err) {
    const char *bad = NULL;
    if (halo_engine_config_finish(c, n_devices, has_weights, where, &bad, err) == HALO_OK)
        return HALO_OK;
    /* The flags given for the key at fault (for "tcp": those of its keys tcp.*), if any: the
       values checked are theirs, not the file's. */
    char flags[256] = "";
    size_t used = 0, blen = bad ? strlen(bad) : 0;
    for (int k = 0; blen && h && h->flags && k < halo_engine_n_keys; k++) {
        const char *name = halo_engine_keys[k].name;
        if (!h->flags->value[k] || strncmp(name, bad, blen) != 0 ||
            (name[blen] != '\0' && name[blen] != '.'))
            continue;
        char flag[64];
        int w = snprintf(flags + used, sizeof flags - used, "%s--%s", used ? ", " : "",
                         halo_engine_flag_name(name, flag, sizeof flag));
        if (w > 0 && (size_t)w < sizeof flags - used)
            used += (size_t)w;
    }
    if (used) {
        (void)halo_err_prefix(err, "%s: ", flags);
        if (err)
            err->code = HALO_ERR_ARG;
        return HALO_ERR_ARG;
    }
    /* the value's node when the key is in the file, else the section, else `absent` */
    char name[64], sub[HALO_YAML_KP_MAX];
    (void)snprintf(name, sizeof name, "%s", bad ? bad : "");
    char *dot = strchr(name, '.');
    if (dot)
        *dot = '\0';
    const halo_yaml_node *e = m ? pick(h, m) : NULL;
    const halo_yaml_node *v = e && name[0] ? halo_yaml_get(e, name) : NULL;
    if (v && dot && pick(h, v)->kind == HALO_YAML_MAP)
        v = halo_yaml_get(pick(h, v), dot + 1);
    const halo_yaml_node *at = v ? pick(h, v) : e ? e : absent;
    if (bad && bad[0])
        (void)halo_yaml_kp_key(sub, kp, bad);
    else
        (void)snprintf(sub, sizeof sub, "%s", kp);
    return halo_yaml_prefix(err, at, sub);
}
