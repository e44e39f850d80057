/*
 * Scenario files (see scenario.h; every key is documented in scenarios/README.md).
 *
 * Three stages. (1) libyaml's events are built into a small generic tree in which every
 * node keeps its file and line; aliases are expanded into copies (with a node budget, so an
 * alias bomb fails cleanly). (2) The scenario tree's sweep axes are found structurally:
 * every list except the top-level `devices` list is an axis, so the set of axes never
 * depends on the values chosen. The requested point picks one item of each axis
 * (mixed radix over the axes in document order, the last axis fastest). (3) The tree is
 * interpreted key by key into a halo_scenario, with strict checks: unknown keys, wrong
 * types, missing keys and values out of range are errors naming file, line and key path.
 *
 * Named profiles and links (profiles/NAME.yaml, links/NAME.yaml) are parsed into trees of
 * their own when first used; they may not contain lists (axes live in the scenario file
 * only). The model, tokenizer and eval files are only checked for readability, not read.
 * Nothing is kept on failure.
 */
#define _POSIX_C_SOURCE 200809L

#include "sim/scenario.h"

#include "core/engine_yaml.h"
#include "core/grow.h"
#include "core/importance.h"
#include "core/parse.h"
#include "core/plan.h"
#include "core/wire.h"
#include "core/yaml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#ifndef HALO_SOURCE_SCENARIO_DIR
#define HALO_SOURCE_SCENARIO_DIR "scenarios"
#endif

/* HALO_FAIL whose value static analysers can see (they do not inline variadic functions). */
#define FAIL(err, code, ...) ((void)HALO_FAIL((err), (code), __VA_ARGS__), (code))

enum {
    MAX_BASE_DEPTH = 8,     /* `base:` chains (catches cycles) */
    MAX_POINTS = 100000000, /* sweep points */
    NAME_MAX_LEN = 48,      /* profile and link names */
};

/* ==== Small helpers ==== */

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Directory part of a path ("." when there is none); NULL when out of memory. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        return dupstr(".");
    if (slash == path)
        return dupstr("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

/* `rel` relative to directory `dir` (unchanged when absolute or when dir is "."). */
static char *join_path(const char *dir, const char *rel) {
    if (rel[0] == '/' || strcmp(dir, ".") == 0)
        return dupstr(rel);
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        (void)snprintf(p, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", rel);
    return p;
}

/* ==== Interpretation context and typed getters ==== */

/* One entry of a point's label: key path (or variable name) = the axis's chosen value. Linked
   variables are one axis with an entry each; an alias of an axis has none of its own. */
typedef struct label_entry {
    char *kp;
    const halo_yaml_node *node; /* the list */
    int axis;
} label_entry;

typedef struct ctx {
    halo_err *err;
    char *scen_dir;       /* directory of the scenario file */
    const char *proj_dir; /* the project's scenarios/ folder */
    long *digit;          /* (n_axes) chosen item of each axis */
    char **axis_kp;       /* (n_axes) key path of each axis */
    int n_axes;
    long cap_axes;
    label_entry *labels; /* (n_labels) what a point's label shows, in document order */
    int n_labels;
    long cap_labels;
    const halo_yaml_node *vars;        /* the top-level `vars:` mapping, or NULL */
    const halo_yaml_node *linked;      /* the top-level `linked:` list, or NULL */
    halo_yaml_doc **docs;              /* [0] the scenario, then the named files used */
    const halo_engine_args *overrides; /* engine keys given on the command line, or NULL */
    int n_docs;
    long cap_docs;
} ctx;

static void ctx_free(ctx *c) {
    free(c->scen_dir);
    free(c->digit);
    for (int i = 0; i < c->n_axes; i++)
        free(c->axis_kp[i]);
    free(c->axis_kp);
    for (int i = 0; i < c->n_labels; i++)
        free(c->labels[i].kp);
    free(c->labels);
    for (int i = 0; i < c->n_docs; i++)
        halo_yaml_free(c->docs[i]);
    free(c->docs);
}

static int nomem(ctx *c) {
    (void)HALO_FAIL(c->err, HALO_ERR_NOMEM, "scenario: out of memory");
    return HALO_ERR_NOMEM;
}

#define FAILC(c, code, ...) halo_yaml_fail((c)->err, (code), __VA_ARGS__)
#define BAD(c, node, kp, ...) \
    FAILC((c), HALO_ERR_FORMAT, (node)->file, (node)->line, (kp), __VA_ARGS__)

/* The variable a plain `$name` scalar names, or NULL. */
static const halo_yaml_node *var_of(const ctx *c, const halo_yaml_node *n) {
    if (n->kind == HALO_YAML_SCALAR && n->plain && n->str[0] == '$' && c->vars)
        return halo_yaml_get(c->vars, n->str + 1);
    return NULL;
}

/* The node a value stands for at this point: a variable's value (`$name`), an axis's chosen
   item (itself a single-value variable's value when it is `$name`: find_axes allows no
   other), else itself. */
static const halo_yaml_node *pick(const ctx *c, const halo_yaml_node *n) {
    const halo_yaml_node *v = var_of(c, n);
    if (v)
        n = v;
    if (n->kind == HALO_YAML_SEQ && n->mark >= 0) {
        n = n->items[c->digit[n->mark]];
        v = var_of(c, n);
        if (v && v->kind == HALO_YAML_SCALAR)
            n = v;
    }
    return n;
}

/* A scalar value (after picking the axis item); `what` names the expected type. */
static int scalar(ctx *c, const halo_yaml_node *n, const char *kp, const char *what,
                  const halo_yaml_node **out) {
    if (n->kind == HALO_YAML_SEQ && n->mark < 0)
        return BAD(c, n, kp,
                   "expected %s, got a list (sweep lists are allowed in the scenario "
                   "file only)",
                   what);
    n = pick(c, n);
    if (n->kind != HALO_YAML_SCALAR)
        return BAD(c, n, kp, "expected %s, got %s", what, halo_yaml_kind_name(n));
    if (halo_yaml_is_null(n))
        return BAD(c, n, kp, "expected %s, got an empty value", what);
    *out = n;
    return HALO_OK;
}

static int get_str(ctx *c, const halo_yaml_node *n, const char *kp, const char **out) {
    const halo_yaml_node *s;
    int rc = scalar(c, n, kp, "a string", &s);
    if (rc == HALO_OK)
        *out = s->str;
    return rc;
}

/* Copies a string value into *dst (freeing what was there). */
static int get_strdup(ctx *c, const halo_yaml_node *n, const char *kp, char **dst) {
    const char *v;
    int rc = get_str(c, n, kp, &v);
    if (rc != HALO_OK)
        return rc;
    char *d = dupstr(v);
    if (!d)
        return nomem(c);
    free(*dst);
    *dst = d;
    return HALO_OK;
}

static int not_a(ctx *c, const halo_yaml_node *s, const char *kp, const char *what) {
    return BAD(c, s, kp, "expected %s, got %s'%s'", what, s->plain ? "" : "the string ", s->str);
}

/* A value parser's error (core/parse.h), placed at node s and key path kp. */
static int value_error(ctx *c, const halo_yaml_node *s, const char *kp) {
    return halo_yaml_prefix(c->err, s, kp);
}

/* A number in [lo, hi] (or (lo, ...) when lo_open; hi may be INFINITY). */
static int get_num(ctx *c, const halo_yaml_node *n, const char *kp, double lo, int lo_open,
                   double hi, int hi_open, double *out) {
    const halo_yaml_node *s;
    int rc = scalar(c, n, kp, "a number", &s);
    if (rc != HALO_OK)
        return rc;
    if (!s->plain)
        return not_a(c, s, kp, "a number");
    if (halo_parse_number(s->str, lo, lo_open, hi, hi_open, out, c->err) != HALO_OK)
        return value_error(c, s, kp);
    return HALO_OK;
}

/* An integer in [lo, hi] (1e6 is accepted as an integer). */
static int get_int(ctx *c, const halo_yaml_node *n, const char *kp, long long lo, long long hi,
                   long long *out) {
    const halo_yaml_node *s;
    int rc = scalar(c, n, kp, "an integer", &s);
    if (rc != HALO_OK)
        return rc;
    if (!s->plain)
        return not_a(c, s, kp, "an integer");
    if (halo_parse_integer(s->str, lo, hi, out, c->err) != HALO_OK)
        return value_error(c, s, kp);
    return HALO_OK;
}

static int get_u64(ctx *c, const halo_yaml_node *n, const char *kp, uint64_t *out) {
    const halo_yaml_node *s;
    int rc = scalar(c, n, kp, "a non-negative integer", &s);
    if (rc != HALO_OK)
        return rc;
    if (!s->plain || halo_parse_u64(s->str, out, NULL) != HALO_OK)
        return not_a(c, s, kp, "an integer in [0, 2^64)");
    return HALO_OK;
}

/* One of `names` (NULL-terminated); *out is its index. */
static int get_enum(ctx *c, const halo_yaml_node *n, const char *kp, const char *const *names,
                    int *out) {
    const char *v;
    int rc = get_str(c, n, kp, &v);
    if (rc == HALO_OK && halo_parse_enum(v, names, out, c->err) != HALO_OK)
        rc = value_error(c, pick(c, n), kp);
    return rc;
}

static int expect_map(ctx *c, const halo_yaml_node *n, const char *kp) {
    const halo_yaml_node *v = pick(c, n);
    if (v->kind == HALO_YAML_MAP)
        return HALO_OK;
    if (halo_yaml_is_null(v))
        return BAD(c, v, kp, "expected a mapping, got an empty value");
    return BAD(c, v, kp, "expected a mapping, got %s",
               n->kind == HALO_YAML_SEQ ? "a list" : halo_yaml_kind_name(v));
}

static int check_keys(ctx *c, const halo_yaml_node *map, const char *kp,
                      const char *const *allowed) {
    return halo_yaml_check_keys(map, kp, allowed, c->err);
}

static int missing(ctx *c, const halo_yaml_node *map, const char *kp, const char *key) {
    char sub[HALO_YAML_KP_MAX];
    return BAD(c, map, halo_yaml_kp_key(sub, kp, key), "required key is missing");
}

/* ==== Named files (profiles/NAME.yaml, links/NAME.yaml) ==== */

static int valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= NAME_MAX_LEN || s[0] == '.')
        return 0;
    for (const char *p = s; *p; p++)
        if (!halo_parse_name_char(*p))
            return 0;
    return 1;
}

static int ctx_add_doc(ctx *c, halo_yaml_doc *d) {
    halo_yaml_doc **docs = halo__grow(c->docs, c->n_docs, &c->cap_docs, sizeof *docs, 4);
    if (!docs) {
        halo_yaml_free(d);
        return nomem(c);
    }
    c->docs = docs;
    c->docs[c->n_docs++] = d;
    return HALO_OK;
}

/*
 * Finds and parses `<kind>s/<name>.yaml` (kind "profile" or "link"), whose top level must be
 * one mapping `<kind>: {...}`; *body receives that mapping. `at` is where the name was
 * given (for messages).
 */
static int named_body(ctx *c, const char *kind, const halo_yaml_node *at, const char *kp,
                      const char *name, const halo_yaml_node **body) {
    if (!valid_name(name))
        return BAD(c, at, kp, "'%s' is not a valid %s name (letters, digits, '-', '_', '.')", name,
                   kind);
    char rel[NAME_MAX_LEN + 32], *cand[2] = {NULL, NULL};
    (void)snprintf(rel, sizeof rel, "%ss/%s.yaml", kind, name);
    cand[0] = join_path(c->scen_dir, rel);
    cand[1] = join_path(c->proj_dir, rel);
    int rc = cand[0] && cand[1] ? HALO_OK : nomem(c);
    const char *found = NULL;
    for (int i = 0; rc == HALO_OK && i < 2 && !found; i++)
        if (access(cand[i], F_OK) == 0)
            found = cand[i];
    if (rc == HALO_OK && !found)
        rc = BAD(c, at, kp, "unknown %s '%s' (no %s or %s)", kind, name, cand[0], cand[1]);
    halo_yaml_doc *d = NULL;
    for (int i = 1; rc == HALO_OK && i < c->n_docs && !d; i++)
        if (strcmp(c->docs[i]->path, found) == 0)
            d = c->docs[i];
    if (rc == HALO_OK && !d) {
        rc = halo_yaml_load(&d, found, NULL, c->err);
        if (rc == HALO_OK)
            rc = ctx_add_doc(c, d);
        if (rc != HALO_OK)
            d = NULL;
    }
    if (rc == HALO_OK) {
        const halo_yaml_node *r = d->root;
        if (!r || r->kind != HALO_YAML_MAP || r->n != 1 || strcmp(r->keys[0], kind) != 0)
            rc = FAILC(c, HALO_ERR_FORMAT, d->path, r ? r->line : 1, kind,
                       "expected one top-level key '%s' holding a mapping", kind);
        else if ((rc = expect_map(c, r->items[0], kind)) == HALO_OK)
            *body = r->items[0];
    }
    free(cand[0]);
    free(cand[1]);
    return rc;
}

/* ==== Profiles and links: mappings of numbers with a `base:` and a `source:` ==== */

/* How a numeric key is read and stored. */
enum {
    F_DOUBLE,    /* a number; the double field holds value * scale */
    F_U64_ROUND, /* a number; the uint64_t field holds value * scale, rounded */
    F_U64,       /* an integer; the uint64_t field holds value * scale */
    F_INT,       /* an integer; the int field holds it */
};

/* One numeric key of a mapping: its range, where its value goes in the accumulator and the
   bit it sets in the accumulator's `set` (0 for none). */
typedef struct num_key {
    const char *key;
    int field;     /* F_* */
    double lo, hi; /* the range: [lo, hi], or (lo, hi] when lo_open */
    int lo_open;   /* F_DOUBLE and F_U64_ROUND only */
    double scale;  /* F_DOUBLE, F_U64_ROUND, F_U64 */
    size_t off;    /* the field's offset in the accumulator */
    unsigned bit;  /* set when the key is given */
} num_key;

/* Reads the numeric keys `keys` (in order; the first bad one is the error) of mapping m
   into accumulator `acc`, marking each one given in *set. */
static int read_numbers(ctx *c, const halo_yaml_node *m, const char *kp, const num_key *keys,
                        int n_keys, void *acc, unsigned *set) {
    char sub[HALO_YAML_KP_MAX];
    int rc = HALO_OK;
    for (int k = 0; rc == HALO_OK && k < n_keys; k++) {
        const num_key *nk = &keys[k];
        const halo_yaml_node *v = halo_yaml_get(m, nk->key);
        if (!v)
            continue;
        char *field = (char *)acc + nk->off;
        halo_yaml_kp_key(sub, kp, nk->key);
        double d;
        long long i;
        if (nk->field == F_DOUBLE || nk->field == F_U64_ROUND)
            rc = get_num(c, v, sub, nk->lo, nk->lo_open, nk->hi, 0, &d);
        else
            rc = get_int(c, v, sub, (long long)nk->lo, (long long)nk->hi, &i);
        if (rc != HALO_OK)
            break;
        if (nk->field == F_DOUBLE)
            *(double *)(void *)field = d * nk->scale;
        else if (nk->field == F_U64_ROUND)
            *(uint64_t *)(void *)field = (uint64_t)llround(d * nk->scale);
        else if (nk->field == F_U64)
            *(uint64_t *)(void *)field = (uint64_t)i * (uint64_t)nk->scale;
        else
            *(int *)(void *)field = (int)i;
        *set |= nk->bit;
    }
    return rc;
}

/* A kind of named mapping (a device profile, a link): its keys, how a `base:` resets the
   accumulator, and what it reads beyond its numbers. */
typedef struct map_kind {
    const char *name;        /* "profile": named files are profiles/NAME.yaml */
    const char *const *keys; /* the keys allowed, NULL-terminated */
    const num_key *nums;     /* its numeric keys, in the order they are read */
    int n_nums;
    size_t set_off;           /* offset of the accumulator's `unsigned set` */
    void (*reset)(void *acc); /* the accumulator a `base:` starts from */
    /* the other keys (after the numbers, before `source`), or NULL */
    int (*more)(ctx *c, const halo_yaml_node *m, const char *kp, void *acc);
} map_kind;

static int named_file(ctx *c, const map_kind *k, const halo_yaml_node *at, const char *kp,
                      const char *name, void *acc, int depth);

/* Applies a mapping onto `acc` (a `base:` first resets `acc` to the named file); *base_name
   (when not NULL) receives the base's name. */
static int named_map(ctx *c, const map_kind *k, const halo_yaml_node *m, const char *kp, void *acc,
                     int depth, const char **base_name) {
    int rc = expect_map(c, m, kp);
    if (rc == HALO_OK) {
        m = pick(c, m);
        rc = check_keys(c, m, kp, k->keys);
    }
    char sub[HALO_YAML_KP_MAX];
    const halo_yaml_node *v;
    if (rc == HALO_OK && (v = halo_yaml_get(m, "base"))) {
        const char *name;
        rc = get_str(c, v, halo_yaml_kp_key(sub, kp, "base"), &name);
        if (rc == HALO_OK) {
            k->reset(acc);
            rc = named_file(c, k, pick(c, v), sub, name, acc, depth + 1);
        }
        if (rc == HALO_OK && base_name)
            *base_name = name;
    }
    if (rc == HALO_OK)
        rc = read_numbers(c, m, kp, k->nums, k->n_nums, acc,
                          (unsigned *)(void *)((char *)acc + k->set_off));
    if (rc == HALO_OK && k->more)
        rc = k->more(c, m, kp, acc);
    const char *src;
    if (rc == HALO_OK && (v = halo_yaml_get(m, "source")))
        rc = get_str(c, v, halo_yaml_kp_key(sub, kp, "source"), &src);
    return rc;
}

/* The named file `<kind>s/<name>.yaml` applied onto `acc`; it must say its `source`. */
static int named_file(ctx *c, const map_kind *k, const halo_yaml_node *at, const char *kp,
                      const char *name, void *acc, int depth) {
    if (depth > MAX_BASE_DEPTH)
        return BAD(c, at, kp, "'base:' chain deeper than %d (a cycle?)", MAX_BASE_DEPTH);
    const halo_yaml_node *body = NULL;
    int rc = named_body(c, k->name, at, kp, name, &body);
    if (rc == HALO_OK && !halo_yaml_get(body, "source"))
        rc = missing(c, body, kp, "source");
    if (rc == HALO_OK)
        rc = named_map(c, k, body, kp, acc, depth, NULL);
    return rc;
}

/* ==== Device profiles ==== */

enum {
    P_GFLOPS = 1,
    P_MEMBW = 2,
    P_MEM = 4,
    P_STORAGE = 8,
    P_CACHE = 16,
    P_CACHEBW = 32,
    P_COLD = 64,
    P_COLDTAU = 128,
    P_BALANCE = 256,
};

typedef struct prof_acc {
    halo_device_profile p;
    unsigned set; /* P_* given so far */
} prof_acc;

static const char *const profile_keys[] = {"base",
                                           "gflops",
                                           "mem_bw_gbps",
                                           "mem_mb",
                                           "storage_mbps",
                                           "op_overhead_us",
                                           "send_us",
                                           "recv_us",
                                           "copy_ns_per_kb",
                                           "cores",
                                           "strided_bw_gbps",
                                           "compute_cv",
                                           "host_overlap",
                                           "recv_jitter_us",
                                           "cache_mb",
                                           "cache_bw_gbps",
                                           "host_mem_bw_gbps",
                                           "cold_wake_us",
                                           "cold_wake_ms",
                                           "core_placement",
                                           "core_balance_ms",
                                           "source",
                                           NULL};

#define PROF(field) offsetof(prof_acc, p.field)
static const num_key profile_nums[] = {
    {"gflops", F_DOUBLE, 1e-3, 1e6, 0, 1e9, PROF(flops_per_s), P_GFLOPS},
    {"mem_bw_gbps", F_DOUBLE, 1e-3, 1e5, 0, 1e9, PROF(mem_bw_bps), P_MEMBW},
    {"mem_mb", F_U64, 1, 1LL << 30, 0, 1 << 20, PROF(mem_bytes), P_MEM},
    {"storage_mbps", F_DOUBLE, 1e-3, 1e6, 0, 1e6, PROF(storage_bw_bps), P_STORAGE},
    {"op_overhead_us", F_U64_ROUND, 0, 1e6, 0, 1e3, PROF(op_overhead_ns), 0},
    {"send_us", F_U64_ROUND, 0, 1e6, 0, 1e3, PROF(send_ns), 0},
    {"recv_us", F_U64_ROUND, 0, 1e6, 0, 1e3, PROF(recv_ns), 0},
    {"cores", F_INT, 1, 4096, 0, 1, PROF(cores), 0},
    {"copy_ns_per_kb", F_DOUBLE, 0, 1e9, 0, 1, PROF(copy_ns_per_kb), 0},
    {"strided_bw_gbps", F_DOUBLE, 1e-3, 1e5, 0, 1e9, PROF(strided_bw_bps), 0},
    {"compute_cv", F_DOUBLE, 0, 10, 0, 1, PROF(compute_cv), 0},
    {"host_overlap", F_DOUBLE, 0, 1, 0, 1, PROF(host_overlap), 0},
    {"recv_jitter_us", F_U64_ROUND, 0, 1e6, 0, 1e3, PROF(recv_jitter_ns), 0},
    {"cache_mb", F_U64_ROUND, 0, 1 << 20, 1, 1 << 20, PROF(cache_bytes), P_CACHE},
    {"cache_bw_gbps", F_DOUBLE, 1e-3, 1e5, 0, 1e9, PROF(cache_bw_bps), P_CACHEBW},
    {"host_mem_bw_gbps", F_DOUBLE, 1e-3, 1e5, 0, 1e9, PROF(host_mem_bw_bps), 0},
    {"cold_wake_us", F_U64_ROUND, 1e-3, 1e6, 0, 1e3, PROF(cold_wake_ns), P_COLD},
    {"cold_wake_ms", F_U64_ROUND, 1e-3, 1e6, 0, 1e6, PROF(cold_tau_ns), P_COLDTAU},
    {"core_balance_ms", F_U64_ROUND, 1e-3, 1e3, 0, 1e6, PROF(core_balance_ns), P_BALANCE},
};
#undef PROF

static void profile_reset(void *acc) {
    memset(acc, 0, sizeof(prof_acc));
}

static const char *const core_placement_names[] = {"shared", "wake", NULL};

/* The profile's keys that are not numbers. */
static int profile_more(ctx *c, const halo_yaml_node *m, const char *kp, void *acc) {
    prof_acc *a = acc;
    char sub[HALO_YAML_KP_MAX];
    const halo_yaml_node *v = halo_yaml_get(m, "core_placement");
    if (!v)
        return HALO_OK;
    return get_enum(c, v, halo_yaml_kp_key(sub, kp, "core_placement"), core_placement_names,
                    &a->p.core_placement);
}

static const map_kind profile_kind = {"profile",
                                      profile_keys,
                                      profile_nums,
                                      (int)(sizeof profile_nums / sizeof profile_nums[0]),
                                      offsetof(prof_acc, set),
                                      profile_reset,
                                      profile_more};

/* A device's `profile:` value (a name or a mapping) into d->profile and d->profile_name. */
static int device_profile(ctx *c, const halo_yaml_node *v, const char *kp,
                          halo_scenario_device *dev) {
    prof_acc a;
    profile_reset(&a);
    const halo_yaml_node *pv = pick(c, v);
    int rc;
    if (pv->kind == HALO_YAML_MAP) {
        const char *base = NULL;
        rc = named_map(c, &profile_kind, pv, kp, &a, 0, &base);
        if (rc == HALO_OK)
            (void)snprintf(dev->profile_name, sizeof dev->profile_name, "%s%s",
                           base ? "inline:" : "inline", base ? base : "");
    } else {
        const char *name;
        rc = get_str(c, v, kp, &name);
        if (rc == HALO_OK)
            rc = named_file(c, &profile_kind, pv, kp, name, &a, 0);
        if (rc == HALO_OK)
            (void)snprintf(dev->profile_name, sizeof dev->profile_name, "%s", name);
    }

    static const struct {
        unsigned bit;
        const char *key;
    } req[] = {{P_GFLOPS, "gflops"},
               {P_MEMBW, "mem_bw_gbps"},
               {P_MEM, "mem_mb"},
               {P_STORAGE, "storage_mbps"}};

    for (int i = 0; rc == HALO_OK && i < 4; i++)
        if (!(a.set & req[i].bit))
            rc = missing(c, pv, kp, req[i].key);
    /* a cache is its size and its bandwidth: one without the other is a mistake */
    if (rc == HALO_OK && (a.set & P_CACHE) && !(a.set & P_CACHEBW))
        rc = missing(c, pv, kp, "cache_bw_gbps");
    if (rc == HALO_OK && (a.set & P_CACHEBW) && !(a.set & P_CACHE))
        rc = missing(c, pv, kp, "cache_mb");
    /* a cold wake-up is its size and its time constant */
    if (rc == HALO_OK && (a.set & P_COLD) && !(a.set & P_COLDTAU))
        rc = missing(c, pv, kp, "cold_wake_ms");
    if (rc == HALO_OK && (a.set & P_COLDTAU) && !(a.set & P_COLD))
        rc = missing(c, pv, kp, "cold_wake_us");
    /* cores placed as Linux wakes tasks are planned over time with the host's bandwidth */
    if (rc == HALO_OK && a.p.core_placement == HALO_CORES_WAKE && !(a.p.host_mem_bw_bps > 0)) {
        char sub[HALO_YAML_KP_MAX];
        rc = BAD(c, pv, halo_yaml_kp_key(sub, kp, "core_placement"),
                 "wake needs host_mem_bw_gbps (the cores are planned with the host's bandwidth)");
    }
    /* a balance tick moves devices between placed cores */
    if (rc == HALO_OK && (a.set & P_BALANCE) && a.p.core_placement != HALO_CORES_WAKE) {
        char sub[HALO_YAML_KP_MAX];
        rc = BAD(c, pv, halo_yaml_kp_key(sub, kp, "core_balance_ms"),
                 "needs core_placement: wake (a shared pool of cores is always balanced)");
    }
    if (rc == HALO_OK)
        dev->profile = a.p;
    return rc;
}

/* ==== Links ==== */

enum {
    L_BW = 1,
    L_LAT = 2,
    L_PGB = 4,
    L_PBG = 8,
    L_MEAN = 16,
    L_BURST_MS = 32,
    L_BURST_PKTS = 64,
};

typedef struct link_acc {
    halo_link_spec s;
    unsigned set;                              /* L_* given so far */
    double mean_loss, burst_ms, burst_packets; /* gilbert's mean form */
} link_acc;

static const char *const link_keys[] = {"base",       "bandwidth_mbps", "latency_us", "jitter_us",
                                        "mtu",        "header_bytes",   "queue_kb",   "loss",
                                        "loss_model", "gilbert",        "source",     NULL};

#define LINK(field) offsetof(link_acc, field)
static const num_key link_nums[] = {
    {"bandwidth_mbps", F_DOUBLE, 1e-3, 1e6, 0, 1e6, LINK(s.bandwidth_bps), L_BW},
    {"latency_us", F_U64_ROUND, 0, 1e7, 0, 1e3, LINK(s.latency_ns), L_LAT},
    {"jitter_us", F_U64_ROUND, 0, 1e7, 0, 1e3, LINK(s.jitter_ns), 0},
    {"mtu", F_INT, 576, 65535, 0, 1, LINK(s.mtu_bytes), 0},
    {"header_bytes", F_INT, 0, 1024, 0, 1, LINK(s.header_bytes), 0},
    {"queue_kb", F_U64, 0, 1LL << 30, 0, 1 << 10, LINK(s.queue_bytes), 0},
};

static const char *const gilbert_keys[] = {"p_good_bad",         "p_bad_good", "loss_good",
                                           "loss_bad",           "mean_loss",  "mean_burst_ms",
                                           "mean_burst_packets", NULL};

static const num_key gilbert_nums[] = {
    {"p_good_bad", F_DOUBLE, 0, 1, 0, 1, LINK(s.loss.p_good_bad), L_PGB},
    {"p_bad_good", F_DOUBLE, 0, 1, 0, 1, LINK(s.loss.p_bad_good), L_PBG},
    {"loss_good", F_DOUBLE, 0, 1, 0, 1, LINK(s.loss.loss_good), 0},
    {"loss_bad", F_DOUBLE, 0, 1, 0, 1, LINK(s.loss.loss_bad), 0},
    {"mean_loss", F_DOUBLE, 0, 1, 0, 1, LINK(mean_loss), L_MEAN},
    {"mean_burst_ms", F_DOUBLE, 0, 1e7, 1, 1, LINK(burst_ms), L_BURST_MS},
    {"mean_burst_packets", F_DOUBLE, 0, 1e9, 1, 1, LINK(burst_packets), L_BURST_PKTS},
};
#undef LINK

static const char *const loss_model_names[] = {"none", "bernoulli", "gilbert", NULL};

static void link_defaults(void *acc) {
    link_acc *a = acc;
    memset(a, 0, sizeof *a);
    a->s.mtu_bytes = 1500;
    a->s.header_bytes = 66;
    a->s.loss.model = HALO_LOSS_NONE;
    a->s.loss.loss_good = 0.0;
    a->s.loss.loss_bad = 1.0;
}

/*
 * A `gilbert:` mapping onto what the link has so far (its base's, say). The chain's two forms
 * exclude each other, and so do the mean form's two bursts: a key of one form (or burst) that
 * the mapping gives replaces the other one inherited, so that {base: wifi, gilbert:
 * {mean_loss: 0.05, mean_burst_packets: 3}} replaces wifi's per-packet chain (keeping its
 * loss_good and loss_bad); both forms in one mapping stay an error (link_finish).
 */
static int gilbert_map(ctx *c, const halo_yaml_node *m, const char *kp, link_acc *a) {
    enum {
        PACKET = L_PGB | L_PBG,
        MEAN = L_MEAN | L_BURST_MS | L_BURST_PKTS
    };

    int rc = expect_map(c, m, kp);
    if (rc == HALO_OK) {
        m = pick(c, m);
        rc = check_keys(c, m, kp, gilbert_keys);
    }
    unsigned given = 0;
    if (rc == HALO_OK)
        rc = read_numbers(c, m, kp, gilbert_nums,
                          (int)(sizeof gilbert_nums / sizeof gilbert_nums[0]), a, &given);
    unsigned inherited = a->set;
    if ((given & MEAN) && !(given & PACKET))
        inherited &= ~(unsigned)PACKET;
    if ((given & PACKET) && !(given & MEAN))
        inherited &= ~(unsigned)MEAN;
    if (given & (L_BURST_MS | L_BURST_PKTS)) { /* the burst given, not the one inherited */
        inherited &= ~(unsigned)(L_BURST_MS | L_BURST_PKTS);
        if (!(given & L_BURST_MS))
            a->burst_ms = 0;
        if (!(given & L_BURST_PKTS))
            a->burst_packets = 0;
    }
    a->set = inherited | given;
    return rc;
}

/* The loss keys of a link mapping: the loss model is explicit, else implied by what it
   sets. */
static int link_loss(ctx *c, const halo_yaml_node *m, const char *kp, void *acc) {
    link_acc *a = acc;
    char sub[HALO_YAML_KP_MAX];
    const halo_yaml_node *v;
    int rc = HALO_OK;
    if ((v = halo_yaml_get(m, "loss")) && (rc = get_num(c, v, halo_yaml_kp_key(sub, kp, "loss"), 0,
                                                        0, 1, 1, &a->s.loss.p)) == HALO_OK)
        a->s.loss.model = HALO_LOSS_BERNOULLI;
    if (rc == HALO_OK && (v = halo_yaml_get(m, "gilbert")) &&
        (rc = gilbert_map(c, v, halo_yaml_kp_key(sub, kp, "gilbert"), a)) == HALO_OK)
        a->s.loss.model = HALO_LOSS_GILBERT;
    if (rc == HALO_OK && (v = halo_yaml_get(m, "loss_model")))
        rc = get_enum(c, v, halo_yaml_kp_key(sub, kp, "loss_model"), loss_model_names,
                      &a->s.loss.model);
    return rc;
}

static const map_kind link_kind = {"link",
                                   link_keys,
                                   link_nums,
                                   (int)(sizeof link_nums / sizeof link_nums[0]),
                                   offsetof(link_acc, set),
                                   link_defaults,
                                   link_loss};

/* A link value: a name replaces `a`; a mapping applies onto it. */
static int link_value(ctx *c, const halo_yaml_node *v, const char *kp, link_acc *a) {
    const halo_yaml_node *pv = pick(c, v);
    if (pv->kind == HALO_YAML_MAP)
        return named_map(c, &link_kind, pv, kp, a, 0, NULL);
    const char *name;
    int rc = get_str(c, v, kp, &name);
    if (rc == HALO_OK) {
        link_defaults(a);
        rc = named_file(c, &link_kind, pv, kp, name, a, 0);
    }
    return rc;
}

/* Completeness and cross-key checks of a merged link. `at` is where it was given. */
static int link_finish(ctx *c, const halo_yaml_node *at, const char *kp, const link_acc *a) {
    if (!(a->set & L_BW))
        return missing(c, at, kp, "bandwidth_mbps");
    if (!(a->set & L_LAT))
        return missing(c, at, kp, "latency_us");
    const halo_loss_spec *l = &a->s.loss;
    char sub[HALO_YAML_KP_MAX];
    if (l->model == HALO_LOSS_GILBERT && (a->set & (L_MEAN | L_BURST_MS | L_BURST_PKTS))) {
        /* the mean form: mean_loss with a burst in time or in packets */
        const char *g = halo_yaml_kp_key(sub, kp, "gilbert");
        if (a->set & (L_PGB | L_PBG))
            return BAD(c, at, g,
                       "give either p_good_bad and p_bad_good, or mean_loss with "
                       "mean_burst_ms or mean_burst_packets");
        if (!(a->set & L_MEAN))
            return missing(c, at, g, "mean_loss");
        if (!(a->set & L_BURST_MS) == !(a->set & L_BURST_PKTS))
            return BAD(c, at, g, "give one of mean_burst_ms (in time) or mean_burst_packets");
        halo_loss_spec tmp = *l;
        if (halo_loss_gilbert_from_mean(&tmp, a->mean_loss, (uint64_t)llround(a->burst_ms * 1e6),
                                        a->burst_packets) != 0)
            return BAD(c, at, g,
                       "mean_loss %g is not in [loss_good, loss_bad) = [%g, %g), or the burst "
                       "is under one packet",
                       a->mean_loss, l->loss_good, l->loss_bad);
    } else if (l->model == HALO_LOSS_GILBERT) {
        if (!(a->set & L_PGB))
            return missing(c, at, halo_yaml_kp_key(sub, kp, "gilbert"), "p_good_bad");
        if (!(a->set & L_PBG))
            return missing(c, at, halo_yaml_kp_key(sub, kp, "gilbert"), "p_bad_good");
        double s = l->p_good_bad + l->p_bad_good;
        double mean =
            s > 0 ? (l->p_bad_good * l->loss_good + l->p_good_bad * l->loss_bad) / s : l->loss_good;
        if (!(mean < 1.0))
            return BAD(c, at, halo_yaml_kp_key(sub, kp, "gilbert"),
                       "mean loss rate is 1 (the link never delivers)");
    }
    uint64_t packet = (uint64_t)a->s.mtu_bytes + (uint64_t)a->s.header_bytes;
    if (a->s.queue_bytes > 0 && a->s.queue_bytes < packet)
        return BAD(c, at, halo_yaml_kp_key(sub, kp, "queue_kb"),
                   "%llu bytes do not hold one packet of %llu bytes (mtu + header_bytes)",
                   (unsigned long long)a->s.queue_bytes, (unsigned long long)packet);
    return HALO_OK;
}

/* ==== Devices ==== */

static const char *const device_keys[] = {"profile",  "count",     "link", "uplink",
                                          "downlink", "memory_mb", "host", NULL};

/* One `devices[i]` entry into *dev; *count receives its replication count. */
static int device_entry(ctx *c, const halo_yaml_node *e, const char *kp, halo_scenario_device *dev,
                        int *count) {
    int rc = expect_map(c, e, kp);
    if (rc == HALO_OK)
        rc = check_keys(c, e, kp, device_keys);
    if (rc != HALO_OK)
        return rc;
    char sub[HALO_YAML_KP_MAX];
    const halo_yaml_node *v;
    long long i = 1;
    if ((v = halo_yaml_get(e, "count")))
        rc = get_int(c, v, halo_yaml_kp_key(sub, kp, "count"), 1, HALO_MAX_DEVICES, &i);
    *count = (int)i;
    if (rc == HALO_OK)
        rc = (v = halo_yaml_get(e, "profile"))
                 ? device_profile(c, v, halo_yaml_kp_key(sub, kp, "profile"), dev)
                 : missing(c, e, kp, "profile");
    double mib;
    if (rc == HALO_OK && (v = halo_yaml_get(e, "memory_mb")) &&
        (rc = get_num(c, v, halo_yaml_kp_key(sub, kp, "memory_mb"), 0, 1, 1 << 30, 0, &mib)) ==
            HALO_OK)
        dev->profile.mem_bytes = (uint64_t)llround(mib * 1048576.0);
    const char *host;
    if (rc == HALO_OK && (v = halo_yaml_get(e, "host")) &&
        (rc = get_str(c, v, halo_yaml_kp_key(sub, kp, "host"), &host)) == HALO_OK) {
        if (!valid_name(host))
            rc = BAD(c, pick(c, v), sub,
                     "'%s' is not a valid host name (letters, digits, '-', '_', '.')", host);
        else if (dev->profile.cores < 1)
            rc = BAD(c, pick(c, v), sub,
                     "devices sharing a host need the profile's cores (how many they share)");
        else
            (void)snprintf(dev->host, sizeof dev->host, "%s", host);
    }
    const halo_yaml_node *lk = halo_yaml_get(e, "link"), *up = halo_yaml_get(e, "uplink"),
                         *dn = halo_yaml_get(e, "downlink");
    if (rc == HALO_OK && !lk && !(up && dn))
        rc = missing(c, e, kp, "link");
    link_acc both, a;
    link_defaults(&both);
    if (rc == HALO_OK && lk)
        rc = link_value(c, lk, halo_yaml_kp_key(sub, kp, "link"), &both);
    const halo_yaml_node *dir[2] = {up, dn};
    const char *dname[2] = {"uplink", "downlink"};
    halo_link_spec *dst[2] = {&dev->uplink, &dev->downlink};
    for (int k = 0; k < 2 && rc == HALO_OK; k++) {
        a = both;
        halo_yaml_kp_key(sub, kp, dir[k] ? dname[k] : "link");
        if (dir[k])
            rc = link_value(c, dir[k], sub, &a);
        if (rc == HALO_OK)
            rc = link_finish(c, pick(c, dir[k] ? dir[k] : lk), sub, &a);
        if (rc == HALO_OK && a.s.loss.model == HALO_LOSS_GILBERT && (a.set & L_MEAN))
            (void)halo_loss_gilbert_from_mean(&a.s.loss, a.mean_loss,
                                              (uint64_t)llround(a.burst_ms * 1e6),
                                              a.burst_packets); /* checked in link_finish */
        if (rc == HALO_OK)
            *dst[k] = a.s;
    }
    return rc;
}

static int load_devices(ctx *c, const halo_yaml_node *list, halo_scenario *s) {
    const char *kp = "devices";
    if (list->kind != HALO_YAML_SEQ)
        return BAD(c, list, kp, "expected a list of devices, got %s",
                   halo_yaml_is_null(list) ? "an empty value" : halo_yaml_kind_name(list));
    if (list->n == 0)
        return BAD(c, list, kp, "the list is empty (at least one device is required)");
    int rc = HALO_OK, total = 0;
    halo_scenario_device *devs = NULL;
    for (int e = 0; e < list->n && rc == HALO_OK; e++) {
        char sub[HALO_YAML_KP_MAX];
        halo_scenario_device dev;
        memset(&dev, 0, sizeof dev);
        int count = 1;
        rc = device_entry(c, list->items[e], halo_yaml_kp_idx(sub, kp, e), &dev, &count);
        if (rc == HALO_OK && total + count > HALO_MAX_DEVICES)
            rc = BAD(c, list->items[e], sub, "more than %d devices in total", HALO_MAX_DEVICES);
        /* one host's cores are given out one way: its devices agree on core_placement and
           on its balance tick */
        for (int d = 0; rc == HALO_OK && dev.host[0] && d < total; d++) {
            const halo_device_profile *o = &devs[d].profile, *p = &dev.profile;
            if (strcmp(devs[d].host, dev.host) != 0)
                continue;
            if (o->core_placement != p->core_placement)
                rc = BAD(c, list->items[e], sub,
                         "host '%s': core_placement %s, but devices[%d] on it has %s", dev.host,
                         core_placement_names[p->core_placement], d,
                         core_placement_names[o->core_placement]);
            else if (o->core_balance_ns != p->core_balance_ns)
                rc = BAD(c, list->items[e], sub,
                         "host '%s': core_balance_ms %g, but devices[%d] on it has %g", dev.host,
                         (double)p->core_balance_ns / 1e6, d, (double)o->core_balance_ns / 1e6);
        }
        if (rc != HALO_OK)
            break;
        halo_scenario_device *grown = realloc(devs, (size_t)(total + count) * sizeof *grown);
        if (!grown) {
            rc = nomem(c);
            break;
        }
        devs = grown;
        for (int k = 0; k < count; k++)
            devs[total + k] = dev;
        total += count;
    }
    if (rc != HALO_OK) {
        free(devs);
        return rc;
    }
    /* host ids: one per distinct label, in order of appearance */
    for (int d = 0; d < total; d++) {
        devs[d].profile.host = 0;
        for (int e = 0; devs[d].host[0] && e <= d && !devs[d].profile.host; e++)
            if (strcmp(devs[e].host, devs[d].host) == 0)
                devs[d].profile.host = e == d ? d + 1 : devs[e].profile.host;
    }
    s->devices = devs;
    s->n_devices = total;
    return HALO_OK;
}

/* ==== Model ==== */

static const char *const model_keys[] = {"file", "shape", "tokenizer", "weights", NULL};
static const char *const weight_names[] = {"f32", "q80", "q40", NULL};

/* NULL when `path` is a readable regular file, else why not. */
static const char *unreadable(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0 || access(path, R_OK) != 0)
        return strerror(errno);
    return S_ISREG(st.st_mode) ? NULL : "not a regular file";
}

/* Resolves a path relative to the scenario file and checks it can be read. */
static int scen_file(ctx *c, const halo_yaml_node *v, const char *kp, char **out) {
    const char *rel;
    int rc = get_str(c, v, kp, &rel);
    if (rc != HALO_OK)
        return rc;
    char *p = join_path(c->scen_dir, rel);
    if (!p)
        return nomem(c);
    const char *why = unreadable(p);
    if (why) {
        const halo_yaml_node *at = pick(c, v);
        rc = FAILC(c, HALO_ERR_IO, at->file, at->line, kp, "cannot read %s: %s", p, why);
        free(p);
        return rc;
    }
    free(*out);
    *out = p;
    return HALO_OK;
}

static int load_model(ctx *c, const halo_yaml_node *m, halo_scenario *s) {
    const char *kp = "model";
    int rc = expect_map(c, m, kp);
    if (rc == HALO_OK)
        rc = check_keys(c, m, kp, model_keys);
    if (rc != HALO_OK)
        return rc;
    char sub[HALO_YAML_KP_MAX];
    const halo_yaml_node *file = halo_yaml_get(m, "file"), *shape = halo_yaml_get(m, "shape"),
                         *tok = halo_yaml_get(m, "tokenizer"), *w = halo_yaml_get(m, "weights");
    if (file && shape)
        return BAD(c, m, kp, "both file and shape are given (exactly one is allowed)");
    if (!file && !shape)
        return BAD(c, m, kp, "one of file or shape is required");
    if (w)
        rc = get_enum(c, w, halo_yaml_kp_key(sub, kp, "weights"), weight_names, &s->weight_type);
    if (rc == HALO_OK && shape) {
        if (tok)
            return FAILC(c, HALO_ERR_FORMAT, m->file, halo_yaml_key_line(m, "tokenizer"),
                         halo_yaml_kp_key(sub, kp, "tokenizer"), "only allowed with model.file");
        rc = get_strdup(c, shape, halo_yaml_kp_key(sub, kp, "shape"), &s->shape_name);
        if (rc == HALO_OK && halo_scenario_shape(s->shape_name, &s->shape) != HALO_OK)
            rc = BAD(c, pick(c, shape), sub,
                     "'%s' is not one of llama2-7b, llama2-13b, tinyllama-1.1b, llama3-8b",
                     s->shape_name);
        return rc;
    }
    if (rc == HALO_OK)
        rc = scen_file(c, file, halo_yaml_kp_key(sub, kp, "file"), &s->model_file);
    if (rc == HALO_OK && tok) {
        rc = scen_file(c, tok, halo_yaml_kp_key(sub, kp, "tokenizer"), &s->tokenizer_file);
    } else if (rc == HALO_OK) {
        char *dir = dir_of(s->model_file);
        s->tokenizer_file = dir ? join_path(dir, "tok512.bin") : NULL;
        free(dir);
        if (!s->tokenizer_file)
            return nomem(c);
        const char *why = unreadable(s->tokenizer_file);
        if (why)
            rc = FAILC(c, HALO_ERR_IO, m->file, m->line, halo_yaml_kp_key(sub, kp, "tokenizer"),
                       "not given, and the default %s cannot be read: %s", s->tokenizer_file, why);
    }
    return rc;
}

/* ==== Engine ==== */

/* The `engine:` section is the one engine configuration's (core/engine_yaml.h), read with
 * this file's sweep axes and its files relative to the scenario. */

static const halo_yaml_node *engine_pick(void *c, const halo_yaml_node *n) {
    return pick(c, n);
}

static int engine_path(void *c, const halo_yaml_node *at, const char *kp, const char *value,
                       char **out, halo_err *err) {
    (void)value;
    (void)err;
    return scen_file(c, at, kp, out);
}

/* `m` may be NULL (no engine section: every default). */
static int load_engine(ctx *c, const halo_yaml_node *m, const halo_yaml_node *top,
                       halo_scenario *s) {
    halo_engine_yaml hooks = {
        .pick = engine_pick, .path = engine_path, .ctx = c, .flags = c->overrides};
    halo_engine_config_init(&s->engine);
    int rc = halo_engine_yaml_read(&s->engine, m, "engine", &hooks, c->err);
    const char *bad = NULL;
    if (rc == HALO_OK && c->overrides &&
        (rc = halo_engine_args_apply(&s->engine, c->overrides, &bad, c->err)) != HALO_OK) {
        char flag[64];
        (void)halo_err_prefix(c->err, "--%s: ", halo_engine_flag_name(bad, flag, sizeof flag));
    }
    if (rc == HALO_OK)
        rc = halo_engine_yaml_finish(&s->engine, m, top, "engine", s->n_devices,
                                     s->model_file != NULL, HALO_ENGINE_WHERE_SIM, &hooks, c->err);
    return rc;
}

/* ==== Workload and top level ==== */

static const char *const workload_keys[] = {"prompt",      "tokens", "skip",
                                            "temperature", "eval",   NULL};
static const char *const top_keys[] = {"name",   "description", "model", "devices",
                                       "engine", "workload",    "seed",  "runs",
                                       "vars",   "linked",      "paper", NULL};

static int load_workload(ctx *c, const halo_yaml_node *m, halo_scenario *s) {
    const char *kp = "workload";
    int rc = expect_map(c, m, kp);
    if (rc == HALO_OK)
        rc = check_keys(c, m, kp, workload_keys);
    if (rc != HALO_OK)
        return rc;
    char sub[HALO_YAML_KP_MAX];
    const halo_yaml_node *v;
    long long i;
    double d;
    if ((v = halo_yaml_get(m, "prompt")))
        rc = get_strdup(c, v, halo_yaml_kp_key(sub, kp, "prompt"), &s->prompt);
    else if (!(s->prompt = dupstr("")))
        rc = nomem(c);
    if (rc == HALO_OK)
        rc = (v = halo_yaml_get(m, "tokens"))
                 ? get_int(c, v, halo_yaml_kp_key(sub, kp, "tokens"), 1, 1000000, &i)
                 : missing(c, m, kp, "tokens");
    if (rc == HALO_OK)
        s->tokens = (int)i;
    if (rc == HALO_OK && (v = halo_yaml_get(m, "skip")) &&
        (rc = get_int(c, v, halo_yaml_kp_key(sub, kp, "skip"), 0, s->tokens - 1, &i)) == HALO_OK)
        s->skip = (int)i;
    if (rc == HALO_OK && (v = halo_yaml_get(m, "temperature")) &&
        (rc = get_num(c, v, halo_yaml_kp_key(sub, kp, "temperature"), 0, 0, 100, 0, &d)) == HALO_OK)
        s->temperature = (float)d;
    if (rc == HALO_OK && (v = halo_yaml_get(m, "eval")))
        rc = scen_file(c, v, halo_yaml_kp_key(sub, kp, "eval"), &s->eval_file);
    return rc;
}

/* The file's base name without .yaml/.yml. */
static char *default_name(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    char *n = dupstr(b);
    if (!n)
        return NULL;
    size_t len = strlen(n);
    if (len > 5 && strcmp(n + len - 5, ".yaml") == 0)
        n[len - 5] = '\0';
    else if (len > 4 && strcmp(n + len - 4, ".yml") == 0)
        n[len - 4] = '\0';
    return n;
}

static int load_top(ctx *c, const halo_yaml_node *r, const char *path, halo_scenario *s) {
    int rc = check_keys(c, r, "", top_keys);
    const halo_yaml_node *v;
    if (rc == HALO_OK && (v = halo_yaml_get(r, "name"))) {
        rc = get_strdup(c, v, "name", &s->name);
        /* results, figures and files are named after it (plot wrote ".mean_ms-vs-...svg") */
        if (rc == HALO_OK && !s->name[0])
            rc = BAD(c, pick(c, v), "name",
                     "an empty name (leave the key out to use the file name)");
    } else if (rc == HALO_OK && !(s->name = default_name(path)))
        rc = nomem(c);
    const char *desc;
    if (rc == HALO_OK && (v = halo_yaml_get(r, "description")))
        rc = get_str(c, v, "description", &desc);
    if (rc == HALO_OK)
        rc = (v = halo_yaml_get(r, "model")) ? load_model(c, v, s) : missing(c, r, "", "model");
    if (rc == HALO_OK)
        rc = (v = halo_yaml_get(r, "devices")) ? load_devices(c, v, s)
                                               : missing(c, r, "", "devices");
    if (rc == HALO_OK)
        rc = load_engine(c, halo_yaml_get(r, "engine"), r, s);
    if (rc == HALO_OK)
        rc = (v = halo_yaml_get(r, "workload")) ? load_workload(c, v, s)
                                                : missing(c, r, "", "workload");
    s->seed = 1;
    if (rc == HALO_OK && (v = halo_yaml_get(r, "seed")))
        rc = get_u64(c, v, "seed", &s->seed);
    long long runs = 1;
    if (rc == HALO_OK && (v = halo_yaml_get(r, "runs")))
        rc = get_int(c, v, "runs", 1, 10000, &runs);
    s->runs = (int)runs;
    /* `paper: true` marks the paper's own configuration: `halo plot` draws the paper's
       published numbers only beside such a scenario's curves, never by name (issue 17). */
    static const char *const no_yes[] = {"false", "true", NULL};
    if (rc == HALO_OK && (v = halo_yaml_get(r, "paper")))
        rc = get_enum(c, v, "paper", no_yes, &s->paper);
    return rc;
}

/* ==== Sweep axes ==== */

static int add_label(ctx *c, const halo_yaml_node *n, const char *kp) {
    label_entry *l = halo__grow(c->labels, c->n_labels, &c->cap_labels, sizeof *l, 8);
    if (!l)
        return nomem(c);
    c->labels = l;
    if (!(l[c->n_labels].kp = dupstr(kp)))
        return nomem(c);
    l[c->n_labels].node = n;
    l[c->n_labels++].axis = n->mark;
    return HALO_OK;
}

static int add_axis(ctx *c, halo_yaml_node *n, const char *kp) {
    for (int j = 0; j < n->n; j++)
        if (n->items[j]->kind != HALO_YAML_SCALAR) {
            char sub[HALO_YAML_KP_MAX];
            return BAD(c, n->items[j], halo_yaml_kp_idx(sub, kp, j),
                       "a sweep list may hold scalars only, got %s",
                       halo_yaml_kind_name(n->items[j]));
        }
    for (int j = 0; j < n->n; j++) { /* `$name` in a sweep list: a single-value variable */
        const halo_yaml_node *it = n->items[j], *v = var_of(c, it);
        char sub[HALO_YAML_KP_MAX];
        if (it->plain && it->str[0] == '$' && !v)
            return BAD(c, it, halo_yaml_kp_idx(sub, kp, j),
                       "unknown variable '%s' (define it under vars:)", it->str);
        if (v && v->kind != HALO_YAML_SCALAR)
            return BAD(c, it, halo_yaml_kp_idx(sub, kp, j),
                       "variable '%s' is a list; an item of a sweep list may name a variable "
                       "of one value only",
                       it->str);
    }
    if (n->n == 0)
        return BAD(c, n, kp, "an empty list (a sweep axis needs at least one value)");
    char **kps = halo__grow(c->axis_kp, c->n_axes, &c->cap_axes, sizeof *kps, 8);
    if (!kps)
        return nomem(c);
    c->axis_kp = kps;
    if (!(c->axis_kp[c->n_axes] = dupstr(kp)))
        return nomem(c);
    n->mark = c->n_axes++;
    return add_label(c, n, kp);
}

/* The group of `linked:` that names variable `name`, or NULL. */
static const halo_yaml_node *linked_group(const ctx *c, const char *name) {
    for (int g = 0; c->linked && g < c->linked->n; g++)
        for (int i = 0; i < c->linked->items[g]->n; i++)
            if (strcmp(c->linked->items[g]->items[i]->str, name) == 0)
                return c->linked->items[g];
    return NULL;
}

static int valid_var(const char *s) {
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

/* `linked:` is a list of groups, each a list of names of list variables, each in one group. */
static int check_linked(ctx *c, const char *kp) {
    const halo_yaml_node *l = c->linked;
    if (l->kind != HALO_YAML_SEQ)
        return BAD(c, l, kp, "expected a list of lists of variable names, got %s",
                   halo_yaml_kind_name(l));
    char sub[HALO_YAML_KP_MAX], el[HALO_YAML_KP_MAX];
    for (int g = 0; g < l->n; g++) {
        const halo_yaml_node *grp = l->items[g];
        halo_yaml_kp_idx(sub, kp, g);
        if (grp->kind != HALO_YAML_SEQ)
            return BAD(c, grp, sub, "expected a list of variable names, got %s",
                       halo_yaml_kind_name(grp));
        for (int i = 0; i < grp->n; i++) {
            const halo_yaml_node *nm = grp->items[i];
            halo_yaml_kp_idx(el, sub, i);
            if (nm->kind != HALO_YAML_SCALAR)
                return BAD(c, nm, el, "expected a variable name, got %s", halo_yaml_kind_name(nm));
            const halo_yaml_node *v = c->vars ? halo_yaml_get(c->vars, nm->str) : NULL;
            if (!v)
                return BAD(c, nm, el, "unknown variable '%s' (define it under vars:)", nm->str);
            if (v->kind != HALO_YAML_SEQ)
                return BAD(c, nm, el, "variable '%s' is not a list (only lists are linked)",
                           nm->str);
            if (linked_group(c, nm->str) != grp)
                return BAD(c, nm, el, "variable '%s' is in two linked groups", nm->str);
            for (int j = 0; j < i; j++)
                if (strcmp(grp->items[j]->str, nm->str) == 0)
                    return BAD(c, nm, el, "variable '%s' is listed twice", nm->str);
        }
    }
    return HALO_OK;
}

/* The variables of `vars:`: a list is an axis of its own, or shares one with the variables
   linked to it (equal lengths); a scalar is a constant. */
static int find_vars(ctx *c, halo_yaml_node *m, const char *kp) {
    if (m->kind != HALO_YAML_MAP)
        return BAD(c, m, kp, "expected a mapping of variable names to values or lists, got %s",
                   halo_yaml_kind_name(m));
    char sub[HALO_YAML_KP_MAX];
    int rc = HALO_OK;
    for (int i = 0; i < m->n && rc == HALO_OK; i++) {
        halo_yaml_node *v = m->items[i];
        const char *name = m->keys[i];
        halo_yaml_kp_key(sub, kp, name);
        if (!valid_var(name)) {
            rc = FAILC(c, HALO_ERR_FORMAT, m->file, m->key_lines[i], sub,
                       "'%s' is not a valid variable name (letters, digits, '_', '-')", name);
            break;
        }
        if (v->kind == HALO_YAML_MAP) {
            rc = BAD(c, v, sub, "a variable is a value or a list of values, not a mapping");
            break;
        }
        if (v->kind != HALO_YAML_SEQ)
            continue;
        const halo_yaml_node *grp = linked_group(c, name), *first = NULL;
        for (int j = 0; grp && j < grp->n && !first; j++) {
            const halo_yaml_node *o = halo_yaml_get(m, grp->items[j]->str);
            if (o != v && o && o->mark >= 0)
                first = o;
        }
        if (!first) {
            rc = add_axis(c, v, name);
        } else if (first->n != v->n) {
            rc = BAD(c, v, sub,
                     "linked variables need lists of one length ('%s' has %d values, "
                     "this %d)",
                     c->axis_kp[first->mark], first->n, v->n);
        } else {
            rc = add_axis(c, v, name); /* checks the items; then it joins the group's axis */
            if (rc == HALO_OK) {
                free(c->axis_kp[--c->n_axes]);
                v->mark = first->mark;
                c->labels[c->n_labels - 1].axis = first->mark;
            }
        }
    }
    return rc;
}

/*
 * Marks every list except the top-level `devices` list as an axis, in document order: a copy
 * of an anchored list (a YAML alias) is the anchor's axis, not one of its own; the lists of
 * `vars:` are named axes, and the variables of one `linked:` group share one. Checks that
 * every `$name` refers to a variable.
 */
static int find_axes(ctx *c, halo_yaml_node *n, const char *kp, int top) {
    char sub[HALO_YAML_KP_MAX];
    int rc = HALO_OK;
    if (n->kind == HALO_YAML_SEQ) {
        if (n->origin && n->origin->kind == HALO_YAML_SEQ && n->origin->mark >= 0) {
            n->mark = n->origin->mark;
            return HALO_OK;
        }
        return add_axis(c, n, kp);
    }
    if (n->kind == HALO_YAML_SCALAR && n->plain && n->str[0] == '$' &&
        !(c->vars && halo_yaml_get(c->vars, n->str + 1)))
        return BAD(c, n, kp, "unknown variable '%s' (define it under vars:)", n->str);
    if (n->kind != HALO_YAML_MAP)
        return HALO_OK;
    if (top) {
        c->vars = halo_yaml_get(n, "vars");
        c->linked = halo_yaml_get(n, "linked");
        if (c->vars && c->vars->kind != HALO_YAML_MAP)
            return BAD(c, c->vars, "vars", "expected a mapping of variable names, got %s",
                       halo_yaml_kind_name(c->vars));
        if (c->linked && (rc = check_linked(c, "linked")) != HALO_OK)
            return rc;
    }
    for (int i = 0; i < n->n && rc == HALO_OK; i++) {
        halo_yaml_node *v = n->items[i];
        halo_yaml_kp_key(sub, kp, n->keys[i]);
        if (top && strcmp(n->keys[i], "devices") == 0 && v->kind == HALO_YAML_SEQ) {
            for (int j = 0; j < v->n && rc == HALO_OK; j++) {
                char el[HALO_YAML_KP_MAX];
                rc = find_axes(c, v->items[j], halo_yaml_kp_idx(el, sub, j), 0);
            }
        } else if (top && strcmp(n->keys[i], "vars") == 0) {
            rc = find_vars(c, v, sub);
        } else if (!(top && strcmp(n->keys[i], "linked") == 0)) {
            rc = find_axes(c, v, sub, 0);
        }
    }
    return rc;
}

/* Collects axis nodes by index (for item counts and labels). */
static void collect_axes(const halo_yaml_node *n, const halo_yaml_node **axes) {
    if (n->kind == HALO_YAML_SEQ && n->mark >= 0) {
        axes[n->mark] = n;
        return;
    }
    for (int i = 0; i < n->n; i++)
        collect_axes(n->items[i], axes);
}

/* The value a label shows for its axis at this point (a `$name` item: the variable's). */
static const char *label_value(const ctx *c, const label_entry *l) {
    const halo_yaml_node *it = l->node->items[c->digit[l->axis]], *v = var_of(c, it);
    return v && v->kind == HALO_YAML_SCALAR ? v->str : it->str;
}

static int select_point(ctx *c, const halo_yaml_node *root, const char *path, long point,
                        halo_scenario *s) {
    const halo_yaml_node **axes =
        calloc((size_t)(c->n_axes ? c->n_axes : 1), sizeof(const halo_yaml_node *));
    if (!axes)
        return nomem(c);
    collect_axes(root, axes);
    int rc = HALO_OK;
    long n_points = 1;
    for (int k = 0; k < c->n_axes && rc == HALO_OK; k++) {
        if (n_points > MAX_POINTS / axes[k]->n)
            rc = BAD(c, axes[k], c->axis_kp[k], "more than %d sweep points", MAX_POINTS);
        else
            n_points *= axes[k]->n;
    }
    if (rc == HALO_OK && (point < 0 || point >= n_points))
        rc = FAIL(c->err, HALO_ERR_ARG,
                  "%s: point %ld is out of range: the scenario has %ld "
                  "point%s (0..%ld)",
                  path, point, n_points, n_points == 1 ? "" : "s", n_points - 1);
    if (rc == HALO_OK &&
        !(c->digit = calloc((size_t)(c->n_axes ? c->n_axes : 1), sizeof *c->digit)))
        rc = nomem(c);
    /* Mixed radix, last axis fastest. */
    long p = point;
    for (int k = c->n_axes - 1; k >= 0 && rc == HALO_OK; k--) {
        c->digit[k] = p % axes[k]->n;
        p /= axes[k]->n;
    }
    size_t len = 1;
    for (int k = 0; k < c->n_labels && rc == HALO_OK; k++)
        len += strlen(c->labels[k].kp) + strlen(label_value(c, &c->labels[k])) + 2;
    if (rc == HALO_OK && !(s->point_label = malloc(len)))
        rc = nomem(c);
    if (rc == HALO_OK) {
        size_t used = 0;
        s->point_label[0] = '\0';
        for (int k = 0; k < c->n_labels; k++) {
            const label_entry *l = &c->labels[k];
            int w = snprintf(s->point_label + used, len - used, "%s%s=%s", k ? " " : "", l->kp,
                             label_value(c, l));
            if (w > 0)
                used += (size_t)w;
        }
        s->n_points = n_points;
        s->point = point;
    }
    free(axes);
    return rc;
}

/* ==== Public API ==== */

int halo_scenario_shape(const char *name, halo_model_config *out) {
    /* The paper's shapes: the LLaMA 2 ones and TinyLlama as core names them
       (halo_model_shape_named), and Llama 3 8B, which core does not offer (halo convert's
       synthetic models take the 32000-token bundled vocabulary; it has 128256 tokens). */
    static const halo_model_config llama3_8b = {4096, 14336, 32, 32, 8, 128256, 8192, 0};
    static const char *const from_core[] = {"llama2-7b", "llama2-13b", "tinyllama-1.1b"};
    halo_model_config c = llama3_8b;
    int found = name && strcmp(name, "llama3-8b") == 0;
    for (size_t i = 0; name && !found && i < sizeof from_core / sizeof from_core[0]; i++)
        found = strcmp(name, from_core[i]) == 0 && halo_model_shape_named(name, &c) == HALO_OK;
    if (!found)
        return HALO_ERR_ARG;
    if (out)
        *out = c;
    return HALO_OK;
}

void halo_scenario_free(halo_scenario *s) {
    if (!s)
        return;
    free(s->path);
    free(s->text);
    free(s->name);
    free(s->point_label);
    free(s->model_file);
    free(s->tokenizer_file);
    free(s->shape_name);
    free(s->devices);
    halo_engine_config_free(&s->engine);
    free(s->prompt);
    free(s->eval_file);
    free(s);
}

int halo_scenario_n_points(const char *path, long *n_points, halo_err *err) {
    HALO_ASSERT(path && n_points);
    *n_points = 0;
    ctx c;
    memset(&c, 0, sizeof c);
    c.err = err;
    halo_yaml_doc *d = NULL;
    int rc = halo_yaml_load(&d, path, NULL, err);
    if (rc == HALO_OK)
        rc = ctx_add_doc(&c, d);
    if (rc == HALO_OK && (!d->root || d->root->kind != HALO_YAML_MAP))
        rc =
            FAIL(err, HALO_ERR_FORMAT, "%s:1: document: expected a mapping at the top level", path);
    if (rc == HALO_OK)
        rc = find_axes(&c, d->root, "", 1);
    const halo_yaml_node **axes = NULL;
    if (rc == HALO_OK &&
        !(axes = calloc((size_t)(c.n_axes ? c.n_axes : 1), sizeof(const halo_yaml_node *))))
        rc = nomem(&c);
    long n = 1;
    if (rc == HALO_OK) {
        collect_axes(d->root, axes);
        for (int k = 0; k < c.n_axes && rc == HALO_OK; k++) {
            if (n > MAX_POINTS / axes[k]->n)
                rc = BAD(&c, axes[k], c.axis_kp[k], "more than %d sweep points", MAX_POINTS);
            else
                n *= axes[k]->n;
        }
    }
    free(axes);
    ctx_free(&c);
    if (rc == HALO_OK)
        *n_points = n;
    return rc;
}

int halo_scenario_load(halo_scenario **out, const char *path, long point, halo_err *err) {
    return halo_scenario_load_with(out, path, point, NULL, err);
}

int halo_scenario_load_with(halo_scenario **out, const char *path, long point,
                            const halo_engine_args *overrides, halo_err *err) {
    HALO_ASSERT(out && path);
    *out = NULL;
    ctx c;
    memset(&c, 0, sizeof c);
    c.err = err;
    c.overrides = overrides;
    const char *env = getenv("HALO_SCENARIO_DIR");
    c.proj_dir = env && env[0] ? env : HALO_SOURCE_SCENARIO_DIR;
    halo_scenario *s = calloc(1, sizeof *s);
    int rc = HALO_OK;
    if (!s || !(s->path = dupstr(path)) || !(c.scen_dir = dir_of(path)))
        rc = nomem(&c);
    halo_yaml_doc *d = NULL;
    if (rc == HALO_OK)
        rc = halo_yaml_load(&d, path, NULL, err);
    if (rc == HALO_OK)
        rc = ctx_add_doc(&c, d);
    if (rc == HALO_OK) {
        s->text = d->text;
        d->text = NULL;
        if (!d->root)
            rc = FAIL(err, HALO_ERR_FORMAT, "%s:1: document: empty (expected a mapping)", path);
        else if (d->root->kind != HALO_YAML_MAP)
            rc = BAD(&c, d->root, "document", "expected a mapping at the top level, got %s",
                     halo_yaml_kind_name(d->root));
    }
    if (rc == HALO_OK)
        rc = find_axes(&c, d->root, "", 1);
    if (rc == HALO_OK)
        rc = select_point(&c, d->root, path, point, s);
    if (rc == HALO_OK)
        rc = load_top(&c, d->root, path, s);
    ctx_free(&c);
    if (rc != HALO_OK) {
        halo_scenario_free(s);
        return rc;
    }
    *out = s;
    return HALO_OK;
}
