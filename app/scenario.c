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

#include "app/scenario.h"

#include "core/importance.h"
#include "core/plan.h"
#include "core/wire.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
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
    MAX_FILE_BYTES = 4 << 20, /* larger scenario/profile/link files are refused */
    MAX_DEPTH = 64,           /* nesting of YAML collections */
    MAX_NODES = 200000,       /* nodes per file, alias copies included */
    MAX_BASE_DEPTH = 8,       /* `base:` chains (catches cycles) */
    MAX_POINTS = 100000000,   /* sweep points */
    KP_MAX = 160,             /* key path buffer */
    NAME_MAX_LEN = 48,        /* profile and link names */
};

/* ==== Small helpers ==== */

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* "parent.key", or "key" at the top. */
static const char *kp_key(char *buf, const char *parent, const char *key) {
    /* Long paths are cut short: they only ever appear in messages. */
    int n = snprintf(buf, KP_MAX, "%s%s%s", parent, parent[0] ? "." : "", key);
    if (n < 0)
        buf[0] = '\0';
    return buf;
}

static const char *kp_idx(char *buf, const char *parent, int i) {
    int n = snprintf(buf, KP_MAX, "%s[%d]", parent, i);
    if (n < 0)
        buf[0] = '\0';
    return buf;
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

/* ==== The generic tree ==== */

enum {
    Y_SCALAR,
    Y_SEQ,
    Y_MAP
};

typedef struct ynode ynode;

struct ynode {
    int kind;         /* Y_SCALAR, Y_SEQ or Y_MAP */
    int line;         /* 1-based line where the node starts */
    int plain;        /* scalar: plain style and no explicit !!str tag */
    int axis;         /* sequence: index of its sweep axis, or -1 */
    const char *file; /* the file's path (owned by its ydoc) */
    char *str;        /* scalar text */
    int n, cap;       /* items (sequence) or entries (mapping) */
    ynode **items;    /* sequence items; mapping values */
    char **keys;      /* mapping keys (n) */
    int *key_lines;   /* mapping keys' lines (n) */
    char *pkey;       /* mapping under construction: key awaiting its value */
    int pkey_line;
};

static void ynode_free(ynode *n) {
    if (!n)
        return;
    for (int i = 0; i < n->n; i++) {
        ynode_free(n->items[i]);
        if (n->keys)
            free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->key_lines);
    free(n->str);
    free(n->pkey);
    free(n);
}

static ynode *ynode_new(int kind, int line, const char *file) {
    ynode *n = calloc(1, sizeof *n);
    if (n) {
        n->kind = kind;
        n->line = line;
        n->file = file;
        n->axis = -1;
    }
    return n;
}

/* Appends an item (sequence) or an entry (mapping, with key/key_line); takes ownership of
 * `child` and `key` only on success. */
static int ynode_push(ynode *p, ynode *child, char *key, int key_line) {
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 4;
        ynode **items = realloc(p->items, (size_t)cap * sizeof(ynode *));
        if (!items)
            return HALO_ERR_NOMEM;
        p->items = items;
        if (p->kind == Y_MAP) {
            char **keys = realloc(p->keys, (size_t)cap * sizeof *keys);
            if (!keys)
                return HALO_ERR_NOMEM;
            p->keys = keys;
            int *lines = realloc(p->key_lines, (size_t)cap * sizeof *lines);
            if (!lines)
                return HALO_ERR_NOMEM;
            p->key_lines = lines;
        }
        p->cap = cap;
    }
    p->items[p->n] = child;
    if (p->kind == Y_MAP) {
        p->keys[p->n] = key;
        p->key_lines[p->n] = key_line;
    }
    p->n++;
    return HALO_OK;
}

static const ynode *mget(const ynode *map, const char *key) {
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0)
            return map->items[i];
    return NULL;
}

static int mget_line(const ynode *map, const char *key) {
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0)
            return map->key_lines[i];
    return map->line;
}

/* ==== Parsing a file into a tree ==== */

typedef struct ydoc {
    char *path; /* as opened */
    char *text; /* whole file, NUL-terminated */
    size_t len;
    ynode *root; /* NULL for an empty stream */
} ydoc;

static void ydoc_free(ydoc *d) {
    if (!d)
        return;
    ynode_free(d->root);
    free(d->text);
    free(d->path);
    free(d);
}

static int read_text(const char *path, char **text, size_t *len, halo_err *err) {
    *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return FAIL(err, HALO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    int rc = buf ? HALO_OK : FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
    while (rc == HALO_OK) {
        if (n == cap) {
            if (cap >= MAX_FILE_BYTES) {
                rc = FAIL(err, HALO_ERR_FORMAT, "%s: larger than %d bytes", path, MAX_FILE_BYTES);
                break;
            }
            cap *= 2;
            char *b = realloc(buf, cap + 1);
            if (!b) {
                rc = FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rc = FAIL(err, HALO_ERR_IO, "%s: cannot read", path);
            break;
        }
    }
    if (fclose(f) != 0 && rc == HALO_OK)
        rc = FAIL(err, HALO_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    if (rc != HALO_OK) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return HALO_OK;
}

typedef struct anchor {
    char *name;
    const ynode *node; /* borrowed from the tree */
} anchor;

typedef struct builder {
    ydoc *d;
    halo_err *err;
    ynode *stack[MAX_DEPTH];
    char *stack_anchor[MAX_DEPTH];
    int depth;
    anchor *anchors;
    int n_anchors, cap_anchors;
    long n_nodes;
    int n_docs;
} builder;

/* Records "<file>:<line>: <message>" (HALO_ERR_FORMAT). Variadic functions are opaque to
 * static analysers, so callers use BFAIL, whose value is the constant code. */
__attribute__((format(printf, 3, 4))) static void bfail(builder *b, int line, const char *fmt,
                                                        ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    (void)HALO_FAIL(b->err, HALO_ERR_FORMAT, "%s:%d: %s", b->d->path, line, msg);
}

#define BFAIL(b, line, ...) (bfail((b), (line), __VA_ARGS__), HALO_ERR_FORMAT)

static int bnomem(builder *b) {
    (void)HALO_FAIL(b->err, HALO_ERR_NOMEM, "%s: out of memory", b->d->path);
    return HALO_ERR_NOMEM;
}

/* Attaches a new node to the collection being built (or makes it the root). Takes
 * ownership of `n` in every case. */
static int attach(builder *b, ynode *n) {
    if (b->depth == 0) {
        HALO_ASSERT(!b->d->root);
        b->d->root = n;
        return HALO_OK;
    }
    ynode *p = b->stack[b->depth - 1];
    int rc;
    if (p->kind == Y_SEQ) {
        rc = ynode_push(p, n, NULL, 0);
    } else if (!p->pkey) {
        if (n->kind != Y_SCALAR) {
            int line = n->line;
            ynode_free(n);
            return BFAIL(b, line, "mapping keys must be scalars");
        }
        for (int i = 0; i < p->n; i++)
            if (strcmp(p->keys[i], n->str) == 0) {
                rc = BFAIL(b, n->line, "duplicate key '%s' (first on line %d)", n->str,
                           p->key_lines[i]);
                ynode_free(n);
                return rc;
            }
        p->pkey = n->str;
        p->pkey_line = n->line;
        n->str = NULL;
        ynode_free(n);
        return HALO_OK;
    } else {
        rc = ynode_push(p, n, p->pkey, p->pkey_line);
        if (rc == HALO_OK)
            p->pkey = NULL;
    }
    if (rc != HALO_OK) {
        ynode_free(n);
        return bnomem(b);
    }
    return HALO_OK;
}

static int count_node(builder *b, int line) {
    if (++b->n_nodes > MAX_NODES)
        return BFAIL(b, line, "more than %d nodes (alias expansion?)", MAX_NODES);
    return HALO_OK;
}

/* Deep copy of `src` placed at nesting `depth`, for an alias. */
static int copy_node(builder *b, const ynode *src, int depth, int line, ynode **out) {
    *out = NULL;
    if (depth > MAX_DEPTH)
        return BFAIL(b, line, "alias nests deeper than %d levels", MAX_DEPTH);
    int rc = count_node(b, line);
    if (rc != HALO_OK)
        return rc;
    ynode *n = ynode_new(src->kind, src->line, src->file);
    if (!n)
        return bnomem(b);
    n->plain = src->plain;
    if (src->str && !(n->str = dupstr(src->str))) {
        ynode_free(n);
        return bnomem(b);
    }
    for (int i = 0; i < src->n; i++) {
        ynode *c;
        rc = copy_node(b, src->items[i], depth + 1, line, &c);
        char *key = NULL;
        if (rc == HALO_OK && src->kind == Y_MAP && !(key = dupstr(src->keys[i])))
            rc = bnomem(b);
        if (rc == HALO_OK && ynode_push(n, c, key, src->kind == Y_MAP ? src->key_lines[i] : 0))
            rc = bnomem(b);
        if (rc != HALO_OK) {
            ynode_free(c);
            free(key);
            ynode_free(n);
            return rc;
        }
    }
    *out = n;
    return HALO_OK;
}

static int add_anchor(builder *b, char *name, const ynode *node) {
    for (int i = 0; i < b->n_anchors; i++)
        if (strcmp(b->anchors[i].name, name) == 0) {
            free(b->anchors[i].name);
            b->anchors[i].name = name;
            b->anchors[i].node = node;
            return HALO_OK;
        }
    if (b->n_anchors == b->cap_anchors) {
        int cap = b->cap_anchors ? 2 * b->cap_anchors : 8;
        anchor *a = realloc(b->anchors, (size_t)cap * sizeof *a);
        if (!a) {
            free(name);
            return bnomem(b);
        }
        b->anchors = a;
        b->cap_anchors = cap;
    }
    b->anchors[b->n_anchors++] = (anchor){name, node};
    return HALO_OK;
}

static int on_scalar(builder *b, const yaml_event_t *ev, int line) {
    int rc = count_node(b, line);
    if (rc != HALO_OK)
        return rc;
    ynode *n = ynode_new(Y_SCALAR, line, b->d->path);
    if (!n)
        return bnomem(b);
    size_t len = ev->data.scalar.length;
    n->str = malloc(len + 1);
    if (!n->str) {
        ynode_free(n);
        return bnomem(b);
    }
    memcpy(n->str, ev->data.scalar.value, len);
    n->str[len] = '\0';
    const char *tag = (const char *)ev->data.scalar.tag;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               !(tag && strcmp(tag, YAML_STR_TAG) == 0);
    const ynode *keep = n;
    rc = attach(b, n);
    if (rc == HALO_OK && ev->data.scalar.anchor) {
        char *name = dupstr((const char *)ev->data.scalar.anchor);
        rc = name ? add_anchor(b, name, keep) : bnomem(b);
    }
    return rc;
}

static int on_start(builder *b, int kind, const yaml_char_t *anchor_name, int line) {
    if (b->depth >= MAX_DEPTH)
        return BFAIL(b, line, "nested deeper than %d levels", MAX_DEPTH);
    int rc = count_node(b, line);
    if (rc != HALO_OK)
        return rc;
    ynode *n = ynode_new(kind, line, b->d->path);
    if (!n)
        return bnomem(b);
    char *name = NULL;
    if (anchor_name && !(name = dupstr((const char *)anchor_name))) {
        ynode_free(n);
        return bnomem(b);
    }
    rc = attach(b, n);
    if (rc != HALO_OK) {
        free(name);
        return rc;
    }
    b->stack[b->depth] = n;
    b->stack_anchor[b->depth] = name;
    b->depth++;
    return HALO_OK;
}

static int on_end(builder *b) {
    HALO_ASSERT(b->depth > 0);
    b->depth--;
    ynode *n = b->stack[b->depth];
    char *name = b->stack_anchor[b->depth];
    b->stack_anchor[b->depth] = NULL;
    HALO_ASSERT(!n->pkey); /* libyaml always gives a mapping key its value */
    return name ? add_anchor(b, name, n) : HALO_OK;
}

static int on_alias(builder *b, const yaml_event_t *ev, int line) {
    const char *name = (const char *)ev->data.alias.anchor;
    for (int i = b->n_anchors - 1; i >= 0; i--)
        if (strcmp(b->anchors[i].name, name) == 0) {
            ynode *c;
            int rc = copy_node(b, b->anchors[i].node, b->depth, line, &c);
            return rc == HALO_OK ? attach(b, c) : rc;
        }
    return BFAIL(b, line, "unknown alias '*%s'", name);
}

static int syntax_error(builder *b, const yaml_parser_t *p) {
    if (p->error == YAML_MEMORY_ERROR)
        return bnomem(b);
    int line;
    if (p->error == YAML_READER_ERROR) {
        line = 1;
        for (size_t i = 0; i < p->problem_offset && i < b->d->len; i++)
            line += b->d->text[i] == '\n';
    } else {
        line = (int)p->problem_mark.line + 1;
    }
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->context)
        return BFAIL(b, line, "syntax error: %s (%s started on line %d)", problem, p->context,
                     (int)p->context_mark.line + 1);
    return BFAIL(b, line, "syntax error: %s", problem);
}

static int on_event(builder *b, const yaml_event_t *ev) {
    int line = (int)ev->start_mark.line + 1;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->n_docs > 1)
            return BFAIL(b, line, "only one YAML document is allowed");
        return HALO_OK;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev, line);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(b, Y_SEQ, ev->data.sequence_start.anchor, line);
    case YAML_MAPPING_START_EVENT:
        return on_start(b, Y_MAP, ev->data.mapping_start.anchor, line);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(b);
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev, line);
    default:
        return HALO_OK;
    }
}

/* Parses d->text into d->root. */
static int parse_tree(ydoc *d, halo_err *err) {
    yaml_parser_t p;
    builder b;
    memset(&b, 0, sizeof b);
    b.d = d;
    b.err = err;
    if (!yaml_parser_initialize(&p))
        return bnomem(&b);
    yaml_parser_set_input_string(&p, (const unsigned char *)d->text, d->len);
    int rc = HALO_OK, done = 0;
    while (rc == HALO_OK && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = syntax_error(&b, &p);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&b, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    for (int i = 0; i < b.depth; i++)
        free(b.stack_anchor[i]);
    for (int i = 0; i < b.n_anchors; i++)
        free(b.anchors[i].name);
    free(b.anchors);
    return rc;
}

static int ydoc_load(ydoc **out, const char *path, halo_err *err) {
    *out = NULL;
    ydoc *d = calloc(1, sizeof *d);
    if (!d || !(d->path = dupstr(path))) {
        free(d);
        return FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
    }
    int rc = read_text(path, &d->text, &d->len, err);
    if (rc == HALO_OK)
        rc = parse_tree(d, err);
    if (rc != HALO_OK) {
        ydoc_free(d);
        return rc;
    }
    *out = d;
    return HALO_OK;
}

/* ==== Interpretation context and typed getters ==== */

typedef struct ctx {
    halo_err *err;
    char *scen_dir;       /* directory of the scenario file */
    const char *proj_dir; /* the project's scenarios/ folder */
    long *digit;          /* (n_axes) chosen item of each axis */
    char **axis_kp;       /* (n_axes) key path of each axis */
    int n_axes, cap_axes;
    ydoc **docs; /* [0] the scenario, then the named files used */
    int n_docs, cap_docs;
} ctx;

static void ctx_free(ctx *c) {
    free(c->scen_dir);
    free(c->digit);
    for (int i = 0; i < c->n_axes; i++)
        free(c->axis_kp[i]);
    free(c->axis_kp);
    for (int i = 0; i < c->n_docs; i++)
        ydoc_free(c->docs[i]);
    free(c->docs);
}

static int nomem(ctx *c) {
    (void)HALO_FAIL(c->err, HALO_ERR_NOMEM, "scenario: out of memory");
    return HALO_ERR_NOMEM;
}

/* Records "<file>:<line>: <key path>: <problem>" with `code`. Callers use FAILC or BAD,
 * whose value is the code (variadic functions are opaque to static analysers). */
__attribute__((format(printf, 6, 7))) static void
failc(ctx *c, int code, const char *file, int line, const char *kp, const char *fmt, ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    (void)HALO_FAIL(c->err, code, "%s:%d: %s: %s", file, line, kp, msg);
}

#define FAILC(c, code, ...) (failc((c), (code), __VA_ARGS__), (code))
#define BAD(c, node, kp, ...) \
    FAILC((c), HALO_ERR_FORMAT, (node)->file, (node)->line, (kp), __VA_ARGS__)

static const char *kind_name(const ynode *n) {
    if (n->kind == Y_MAP)
        return "a mapping";
    if (n->kind == Y_SEQ)
        return "a list";
    return "a scalar";
}

static int is_null(const ynode *s) {
    return s->kind == Y_SCALAR && s->plain &&
           (s->str[0] == '\0' || strcmp(s->str, "~") == 0 || strcmp(s->str, "null") == 0 ||
            strcmp(s->str, "Null") == 0 || strcmp(s->str, "NULL") == 0);
}

/* The node a value stands for at this point: an axis's chosen item, else itself. */
static const ynode *pick(const ctx *c, const ynode *n) {
    if (n->kind == Y_SEQ && n->axis >= 0)
        return n->items[c->digit[n->axis]];
    return n;
}

/* A scalar value (after picking the axis item); `what` names the expected type. */
static int scalar(ctx *c, const ynode *n, const char *kp, const char *what, const ynode **out) {
    if (n->kind == Y_SEQ && n->axis < 0)
        return BAD(c, n, kp,
                   "expected %s, got a list (sweep lists are allowed in the scenario "
                   "file only)",
                   what);
    n = pick(c, n);
    if (n->kind != Y_SCALAR)
        return BAD(c, n, kp, "expected %s, got %s", what, kind_name(n));
    if (is_null(n))
        return BAD(c, n, kp, "expected %s, got an empty value", what);
    *out = n;
    return HALO_OK;
}

static int get_str(ctx *c, const ynode *n, const char *kp, const char **out) {
    const ynode *s;
    int rc = scalar(c, n, kp, "a string", &s);
    if (rc == HALO_OK)
        *out = s->str;
    return rc;
}

/* Copies a string value into *dst (freeing what was there). */
static int get_strdup(ctx *c, const ynode *n, const char *kp, char **dst) {
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

static int looks_numeric(const char *s) {
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE", *p))
            return 0;
    return 1;
}

static int parse_double(const ynode *s, double *out) {
    if (!s->plain || !looks_numeric(s->str))
        return 0;
    char *end;
    errno = 0;
    double v = strtod(s->str, &end);
    if (end == s->str || *end || errno == ERANGE || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

static int not_a(ctx *c, const ynode *s, const char *kp, const char *what) {
    return BAD(c, s, kp, "expected %s, got %s'%s'", what, s->plain ? "" : "the string ", s->str);
}

/* A number in [lo, hi] (or (lo, ...) when lo_open; hi may be INFINITY). */
static int get_num(ctx *c, const ynode *n, const char *kp, double lo, int lo_open, double hi,
                   int hi_open, double *out) {
    const ynode *s;
    int rc = scalar(c, n, kp, "a number", &s);
    if (rc != HALO_OK)
        return rc;
    double v;
    if (!parse_double(s, &v))
        return not_a(c, s, kp, "a number");
    int below = lo_open ? !(v > lo) : !(v >= lo);
    int above = hi_open ? !(v < hi) : !(v <= hi);
    if (below || above) {
        if (isinf(hi))
            return BAD(c, s, kp, "%s is not %s %g", s->str, lo_open ? ">" : ">=", lo);
        return BAD(c, s, kp, "%s is not in %c%g, %g%c", s->str, lo_open ? '(' : '[', lo, hi,
                   hi_open ? ')' : ']');
    }
    *out = v;
    return HALO_OK;
}

/* An integer in [lo, hi] (1e6 is accepted as an integer). */
static int get_int(ctx *c, const ynode *n, const char *kp, long long lo, long long hi,
                   long long *out) {
    const ynode *s;
    int rc = scalar(c, n, kp, "an integer", &s);
    if (rc != HALO_OK)
        return rc;
    double d;
    if (!parse_double(s, &d))
        return not_a(c, s, kp, "an integer");
    long long v;
    char *end;
    errno = 0;
    v = strtoll(s->str, &end, 10);
    if (*end || errno == ERANGE) {
        /* not plain digits: accept an integral number in exponent form */
        if (d != floor(d) || fabs(d) > 9.0e15)
            return (d != floor(d)) ? not_a(c, s, kp, "an integer")
                                   : BAD(c, s, kp, "%s is not in [%lld, %lld]", s->str, lo, hi);
        v = (long long)d;
    }
    if (v < lo || v > hi)
        return BAD(c, s, kp, "%s is not in [%lld, %lld]", s->str, lo, hi);
    *out = v;
    return HALO_OK;
}

static int get_u64(ctx *c, const ynode *n, const char *kp, uint64_t *out) {
    const ynode *s;
    int rc = scalar(c, n, kp, "a non-negative integer", &s);
    if (rc != HALO_OK)
        return rc;
    const char *p = s->str;
    int ok = s->plain && *p;
    for (; ok && *p; p++)
        ok = *p >= '0' && *p <= '9';
    char *end;
    errno = 0;
    unsigned long long v = ok ? strtoull(s->str, &end, 10) : 0;
    if (!ok || errno == ERANGE)
        return not_a(c, s, kp, "an integer in [0, 2^64)");
    *out = (uint64_t)v;
    return HALO_OK;
}

static int get_bool(ctx *c, const ynode *n, const char *kp, int *out) {
    const ynode *s;
    int rc = scalar(c, n, kp, "true or false", &s);
    if (rc != HALO_OK)
        return rc;
    static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False",
                                                                           "FALSE"};
    for (int i = 0; s->plain && i < 3; i++) {
        if (strcmp(s->str, t[i]) == 0) {
            *out = 1;
            return HALO_OK;
        }
        if (strcmp(s->str, f[i]) == 0) {
            *out = 0;
            return HALO_OK;
        }
    }
    return not_a(c, s, kp, "true or false");
}

/* One of `names` (NULL-terminated); *out is its index. */
static int get_enum(ctx *c, const ynode *n, const char *kp, const char *const *names, int *out) {
    const char *v;
    int rc = get_str(c, n, kp, &v);
    if (rc != HALO_OK)
        return rc;
    char list[160] = "";
    size_t used = 0;
    for (int i = 0; names[i]; i++) {
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return HALO_OK;
        }
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
        if (w > 0 && (size_t)w < sizeof list - used)
            used += (size_t)w;
    }
    return BAD(c, pick(c, n), kp, "'%s' is not one of %s", v, list);
}

static int expect_map(ctx *c, const ynode *n, const char *kp) {
    const ynode *v = pick(c, n);
    if (v->kind == Y_MAP)
        return HALO_OK;
    if (is_null(v))
        return BAD(c, v, kp, "expected a mapping, got an empty value");
    return BAD(c, v, kp, "expected a mapping, got %s", n->kind == Y_SEQ ? "a list" : kind_name(v));
}

/* Every key of `map` is in `allowed` (NULL-terminated). */
static int check_keys(ctx *c, const ynode *map, const char *kp, const char *const *allowed) {
    for (int i = 0; i < map->n; i++) {
        int ok = 0;
        for (int k = 0; allowed[k] && !ok; k++)
            ok = strcmp(map->keys[i], allowed[k]) == 0;
        if (ok)
            continue;
        char list[160] = "";
        size_t used = 0;
        for (int k = 0; allowed[k]; k++) {
            int w = snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", allowed[k]);
            if (w > 0 && (size_t)w < sizeof list - used)
                used += (size_t)w;
        }
        char sub[KP_MAX];
        return FAILC(c, HALO_ERR_FORMAT, map->file, map->key_lines[i],
                     kp_key(sub, kp, map->keys[i]), "unknown key (expected one of: %s)", list);
    }
    return HALO_OK;
}

static int missing(ctx *c, const ynode *map, const char *kp, const char *key) {
    char sub[KP_MAX];
    return BAD(c, map, kp_key(sub, kp, key), "required key is missing");
}

/* ==== Named files (profiles/NAME.yaml, links/NAME.yaml) ==== */

static int valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= NAME_MAX_LEN || s[0] == '.')
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

static int ctx_add_doc(ctx *c, ydoc *d) {
    if (c->n_docs == c->cap_docs) {
        int cap = c->cap_docs ? 2 * c->cap_docs : 4;
        ydoc **docs = realloc(c->docs, (size_t)cap * sizeof(ydoc *));
        if (!docs) {
            ydoc_free(d);
            return nomem(c);
        }
        c->docs = docs;
        c->cap_docs = cap;
    }
    c->docs[c->n_docs++] = d;
    return HALO_OK;
}

/*
 * Finds and parses `<kind>s/<name>.yaml` (kind "profile" or "link"), whose top level must be
 * one mapping `<kind>: {...}`; *body receives that mapping. `at` is where the name was
 * given (for messages).
 */
static int named_body(ctx *c, const char *kind, const ynode *at, const char *kp, const char *name,
                      const ynode **body) {
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
    ydoc *d = NULL;
    for (int i = 1; rc == HALO_OK && i < c->n_docs && !d; i++)
        if (strcmp(c->docs[i]->path, found) == 0)
            d = c->docs[i];
    if (rc == HALO_OK && !d) {
        rc = ydoc_load(&d, found, c->err);
        if (rc == HALO_OK)
            rc = ctx_add_doc(c, d);
        if (rc != HALO_OK)
            d = NULL;
    }
    if (rc == HALO_OK) {
        const ynode *r = d->root;
        if (!r || r->kind != Y_MAP || r->n != 1 || strcmp(r->keys[0], kind) != 0)
            rc = FAILC(c, HALO_ERR_FORMAT, d->path, r ? r->line : 1, kind,
                       "expected one top-level key '%s' holding a mapping", kind);
        else if ((rc = expect_map(c, r->items[0], kind)) == HALO_OK)
            *body = r->items[0];
    }
    free(cand[0]);
    free(cand[1]);
    return rc;
}

/* ==== Device profiles ==== */

enum {
    P_GFLOPS = 1,
    P_MEMBW = 2,
    P_MEM = 4,
    P_STORAGE = 8,
};

typedef struct prof_acc {
    halo_device_profile p;
    unsigned set; /* P_* given so far */
} prof_acc;

static const char *const profile_keys[] = {
    "base", "gflops", "mem_bw_gbps", "mem_mb", "storage_mbps", "op_overhead_us", "source", NULL};

static int profile_file(ctx *c, const ynode *at, const char *kp, const char *name, prof_acc *a,
                        int depth);

/* Applies a profile mapping onto `a` (a `base:` first resets `a` to the named profile). */
static int profile_map(ctx *c, const ynode *m, const char *kp, prof_acc *a, int depth,
                       const char **base_name) {
    int rc = expect_map(c, m, kp);
    if (rc == HALO_OK)
        rc = check_keys(c, m, kp, profile_keys);
    char sub[KP_MAX];
    const ynode *v;
    if (rc == HALO_OK && (v = mget(m, "base"))) {
        const char *name;
        rc = get_str(c, v, kp_key(sub, kp, "base"), &name);
        if (rc == HALO_OK) {
            memset(a, 0, sizeof *a);
            rc = profile_file(c, pick(c, v), sub, name, a, depth + 1);
        }
        if (rc == HALO_OK && base_name)
            *base_name = name;
    }
    double d;
    long long i;
    if (rc == HALO_OK && (v = mget(m, "gflops")) &&
        (rc = get_num(c, v, kp_key(sub, kp, "gflops"), 0, 1, 1e6, 0, &d)) == HALO_OK) {
        a->p.flops_per_s = d * 1e9;
        a->set |= P_GFLOPS;
    }
    if (rc == HALO_OK && (v = mget(m, "mem_bw_gbps")) &&
        (rc = get_num(c, v, kp_key(sub, kp, "mem_bw_gbps"), 0, 1, 1e5, 0, &d)) == HALO_OK) {
        a->p.mem_bw_bps = d * 1e9;
        a->set |= P_MEMBW;
    }
    if (rc == HALO_OK && (v = mget(m, "mem_mb")) &&
        (rc = get_int(c, v, kp_key(sub, kp, "mem_mb"), 1, 1LL << 30, &i)) == HALO_OK) {
        a->p.mem_bytes = (uint64_t)i << 20;
        a->set |= P_MEM;
    }
    if (rc == HALO_OK && (v = mget(m, "storage_mbps")) &&
        (rc = get_num(c, v, kp_key(sub, kp, "storage_mbps"), 0, 1, 1e6, 0, &d)) == HALO_OK) {
        a->p.storage_bw_bps = d * 1e6;
        a->set |= P_STORAGE;
    }
    if (rc == HALO_OK && (v = mget(m, "op_overhead_us")) &&
        (rc = get_num(c, v, kp_key(sub, kp, "op_overhead_us"), 0, 0, 1e6, 0, &d)) == HALO_OK)
        a->p.op_overhead_ns = (uint64_t)llround(d * 1e3);
    const char *src;
    if (rc == HALO_OK && (v = mget(m, "source")))
        rc = get_str(c, v, kp_key(sub, kp, "source"), &src);
    return rc;
}

static int profile_file(ctx *c, const ynode *at, const char *kp, const char *name, prof_acc *a,
                        int depth) {
    if (depth > MAX_BASE_DEPTH)
        return BAD(c, at, kp, "'base:' chain deeper than %d (a cycle?)", MAX_BASE_DEPTH);
    const ynode *body;
    int rc = named_body(c, "profile", at, kp, name, &body);
    if (rc == HALO_OK && !mget(body, "source"))
        rc = missing(c, body, kp, "source");
    if (rc == HALO_OK)
        rc = profile_map(c, body, kp, a, depth, NULL);
    return rc;
}

/* A device's `profile:` value (a name or a mapping) into d->profile and d->profile_name. */
static int device_profile(ctx *c, const ynode *v, const char *kp, halo_scenario_device *dev) {
    prof_acc a;
    memset(&a, 0, sizeof a);
    const ynode *pv = pick(c, v);
    int rc;
    if (pv->kind == Y_MAP) {
        const char *base = NULL;
        rc = profile_map(c, pv, kp, &a, 0, &base);
        if (rc == HALO_OK)
            (void)snprintf(dev->profile_name, sizeof dev->profile_name, "%s%s",
                           base ? "inline:" : "inline", base ? base : "");
    } else {
        const char *name;
        rc = get_str(c, v, kp, &name);
        if (rc == HALO_OK)
            rc = profile_file(c, pv, kp, name, &a, 0);
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
};

typedef struct link_acc {
    halo_link_spec s;
    unsigned set; /* L_* given so far */
} link_acc;

static const char *const link_keys[] = {"base",       "bandwidth_mbps", "latency_us", "jitter_us",
                                        "mtu",        "header_bytes",   "queue_kb",   "loss",
                                        "loss_model", "gilbert",        "source",     NULL};

static const char *const gilbert_keys[] = {"p_good_bad", "p_bad_good", "loss_good", "loss_bad",
                                           NULL};

static const char *const loss_model_names[] = {"none", "bernoulli", "gilbert", NULL};

static void link_defaults(link_acc *a) {
    memset(a, 0, sizeof *a);
    a->s.mtu_bytes = 1500;
    a->s.header_bytes = 66;
    a->s.loss.model = HALO_LOSS_NONE;
    a->s.loss.loss_good = 0.0;
    a->s.loss.loss_bad = 1.0;
}

static int link_file(ctx *c, const ynode *at, const char *kp, const char *name, link_acc *a,
                     int depth);

static int gilbert_map(ctx *c, const ynode *m, const char *kp, link_acc *a) {
    int rc = expect_map(c, m, kp);
    if (rc == HALO_OK) {
        m = pick(c, m);
        rc = check_keys(c, m, kp, gilbert_keys);
    }
    double *dst[] = {&a->s.loss.p_good_bad, &a->s.loss.p_bad_good, &a->s.loss.loss_good,
                     &a->s.loss.loss_bad};
    const unsigned bit[] = {L_PGB, L_PBG, 0, 0};
    char sub[KP_MAX];
    for (int i = 0; rc == HALO_OK && i < 4; i++) {
        const ynode *v = mget(m, gilbert_keys[i]);
        if (v &&
            (rc = get_num(c, v, kp_key(sub, kp, gilbert_keys[i]), 0, 0, 1, 0, dst[i])) == HALO_OK)
            a->set |= bit[i];
    }
    return rc;
}

/* Converts a microsecond value into nanoseconds. */
static uint64_t us_to_ns(double us) {
    return (uint64_t)llround(us * 1e3);
}

/* The numeric keys of a link mapping. */
static int link_numbers(ctx *c, const ynode *m, const char *kp, link_acc *a) {
    char sub[KP_MAX];
    const ynode *v;
    double d;
    long long i;
    int rc = HALO_OK;
    if ((v = mget(m, "bandwidth_mbps")) &&
        (rc = get_num(c, v, kp_key(sub, kp, "bandwidth_mbps"), 0, 1, 1e6, 0, &d)) == HALO_OK) {
        a->s.bandwidth_bps = d * 1e6;
        a->set |= L_BW;
    }
    if (rc == HALO_OK && (v = mget(m, "latency_us")) &&
        (rc = get_num(c, v, kp_key(sub, kp, "latency_us"), 0, 0, 1e7, 0, &d)) == HALO_OK) {
        a->s.latency_ns = us_to_ns(d);
        a->set |= L_LAT;
    }
    if (rc == HALO_OK && (v = mget(m, "jitter_us")) &&
        (rc = get_num(c, v, kp_key(sub, kp, "jitter_us"), 0, 0, 1e7, 0, &d)) == HALO_OK)
        a->s.jitter_ns = us_to_ns(d);
    if (rc == HALO_OK && (v = mget(m, "mtu")) &&
        (rc = get_int(c, v, kp_key(sub, kp, "mtu"), 576, 65535, &i)) == HALO_OK)
        a->s.mtu_bytes = (int)i;
    if (rc == HALO_OK && (v = mget(m, "header_bytes")) &&
        (rc = get_int(c, v, kp_key(sub, kp, "header_bytes"), 0, 1024, &i)) == HALO_OK)
        a->s.header_bytes = (int)i;
    if (rc == HALO_OK && (v = mget(m, "queue_kb")) &&
        (rc = get_int(c, v, kp_key(sub, kp, "queue_kb"), 0, 1LL << 30, &i)) == HALO_OK)
        a->s.queue_bytes = (uint64_t)i << 10;
    return rc;
}

/* Applies a link mapping onto `a` (a `base:` first resets `a` to the named link). */
static int link_map(ctx *c, const ynode *m, const char *kp, link_acc *a, int depth) {
    int rc = expect_map(c, m, kp);
    if (rc == HALO_OK) {
        m = pick(c, m);
        rc = check_keys(c, m, kp, link_keys);
    }
    char sub[KP_MAX];
    const ynode *v;
    if (rc == HALO_OK && (v = mget(m, "base"))) {
        const char *name;
        rc = get_str(c, v, kp_key(sub, kp, "base"), &name);
        if (rc == HALO_OK) {
            link_defaults(a);
            rc = link_file(c, pick(c, v), sub, name, a, depth + 1);
        }
    }
    if (rc == HALO_OK)
        rc = link_numbers(c, m, kp, a);
    /* The loss model of this mapping: explicit, else implied by what it sets. */
    if (rc == HALO_OK && (v = mget(m, "loss")) &&
        (rc = get_num(c, v, kp_key(sub, kp, "loss"), 0, 0, 1, 1, &a->s.loss.p)) == HALO_OK)
        a->s.loss.model = HALO_LOSS_BERNOULLI;
    if (rc == HALO_OK && (v = mget(m, "gilbert")) &&
        (rc = gilbert_map(c, v, kp_key(sub, kp, "gilbert"), a)) == HALO_OK)
        a->s.loss.model = HALO_LOSS_GILBERT;
    if (rc == HALO_OK && (v = mget(m, "loss_model")))
        rc = get_enum(c, v, kp_key(sub, kp, "loss_model"), loss_model_names, &a->s.loss.model);
    const char *src;
    if (rc == HALO_OK && (v = mget(m, "source")))
        rc = get_str(c, v, kp_key(sub, kp, "source"), &src);
    return rc;
}

static int link_file(ctx *c, const ynode *at, const char *kp, const char *name, link_acc *a,
                     int depth) {
    if (depth > MAX_BASE_DEPTH)
        return BAD(c, at, kp, "'base:' chain deeper than %d (a cycle?)", MAX_BASE_DEPTH);
    const ynode *body;
    int rc = named_body(c, "link", at, kp, name, &body);
    if (rc == HALO_OK && !mget(body, "source"))
        rc = missing(c, body, kp, "source");
    if (rc == HALO_OK)
        rc = link_map(c, body, kp, a, depth);
    return rc;
}

/* A link value: a name replaces `a`; a mapping applies onto it. */
static int link_value(ctx *c, const ynode *v, const char *kp, link_acc *a) {
    const ynode *pv = pick(c, v);
    if (pv->kind == Y_MAP)
        return link_map(c, pv, kp, a, 0);
    const char *name;
    int rc = get_str(c, v, kp, &name);
    if (rc == HALO_OK) {
        link_defaults(a);
        rc = link_file(c, pv, kp, name, a, 0);
    }
    return rc;
}

/* Completeness and cross-key checks of a merged link. `at` is where it was given. */
static int link_finish(ctx *c, const ynode *at, const char *kp, const link_acc *a) {
    if (!(a->set & L_BW))
        return missing(c, at, kp, "bandwidth_mbps");
    if (!(a->set & L_LAT))
        return missing(c, at, kp, "latency_us");
    const halo_loss_spec *l = &a->s.loss;
    char sub[KP_MAX];
    if (l->model == HALO_LOSS_GILBERT) {
        if (!(a->set & L_PGB))
            return missing(c, at, kp_key(sub, kp, "gilbert"), "p_good_bad");
        if (!(a->set & L_PBG))
            return missing(c, at, kp_key(sub, kp, "gilbert"), "p_bad_good");
        double s = l->p_good_bad + l->p_bad_good;
        double mean =
            s > 0 ? (l->p_bad_good * l->loss_good + l->p_good_bad * l->loss_bad) / s : l->loss_good;
        if (!(mean < 1.0))
            return BAD(c, at, kp_key(sub, kp, "gilbert"),
                       "mean loss rate is 1 (the link never delivers)");
    }
    uint64_t packet = (uint64_t)a->s.mtu_bytes + (uint64_t)a->s.header_bytes;
    if (a->s.queue_bytes > 0 && a->s.queue_bytes < packet)
        return BAD(c, at, kp_key(sub, kp, "queue_kb"),
                   "%llu bytes do not hold one packet of %llu bytes (mtu + header_bytes)",
                   (unsigned long long)a->s.queue_bytes, (unsigned long long)packet);
    return HALO_OK;
}

/* ==== Devices ==== */

static const char *const device_keys[] = {"profile",  "count",     "link", "uplink",
                                          "downlink", "memory_mb", NULL};

/* One `devices[i]` entry into *dev; *count receives its replication count. */
static int device_entry(ctx *c, const ynode *e, const char *kp, halo_scenario_device *dev,
                        int *count) {
    int rc = expect_map(c, e, kp);
    if (rc == HALO_OK)
        rc = check_keys(c, e, kp, device_keys);
    if (rc != HALO_OK)
        return rc;
    char sub[KP_MAX];
    const ynode *v;
    long long i = 1;
    if ((v = mget(e, "count")))
        rc = get_int(c, v, kp_key(sub, kp, "count"), 1, HALO_MAX_DEVICES, &i);
    *count = (int)i;
    if (rc == HALO_OK)
        rc = (v = mget(e, "profile")) ? device_profile(c, v, kp_key(sub, kp, "profile"), dev)
                                      : missing(c, e, kp, "profile");
    double mib;
    if (rc == HALO_OK && (v = mget(e, "memory_mb")) &&
        (rc = get_num(c, v, kp_key(sub, kp, "memory_mb"), 0, 1, 1 << 30, 0, &mib)) == HALO_OK)
        dev->profile.mem_bytes = (uint64_t)llround(mib * 1048576.0);
    const ynode *lk = mget(e, "link"), *up = mget(e, "uplink"), *dn = mget(e, "downlink");
    if (rc == HALO_OK && !lk && !(up && dn))
        rc = missing(c, e, kp, "link");
    link_acc both, a;
    link_defaults(&both);
    if (rc == HALO_OK && lk)
        rc = link_value(c, lk, kp_key(sub, kp, "link"), &both);
    const ynode *dir[2] = {up, dn};
    const char *dname[2] = {"uplink", "downlink"};
    halo_link_spec *dst[2] = {&dev->uplink, &dev->downlink};
    for (int k = 0; k < 2 && rc == HALO_OK; k++) {
        a = both;
        kp_key(sub, kp, dir[k] ? dname[k] : "link");
        if (dir[k])
            rc = link_value(c, dir[k], sub, &a);
        if (rc == HALO_OK)
            rc = link_finish(c, pick(c, dir[k] ? dir[k] : lk), sub, &a);
        if (rc == HALO_OK)
            *dst[k] = a.s;
    }
    return rc;
}

static int load_devices(ctx *c, const ynode *list, halo_scenario *s) {
    const char *kp = "devices";
    if (list->kind != Y_SEQ)
        return BAD(c, list, kp, "expected a list of devices, got %s",
                   is_null(list) ? "an empty value" : kind_name(list));
    if (list->n == 0)
        return BAD(c, list, kp, "the list is empty (at least one device is required)");
    int rc = HALO_OK, total = 0;
    halo_scenario_device *devs = NULL;
    for (int e = 0; e < list->n && rc == HALO_OK; e++) {
        char sub[KP_MAX];
        halo_scenario_device dev;
        memset(&dev, 0, sizeof dev);
        int count = 1;
        rc = device_entry(c, list->items[e], kp_idx(sub, kp, e), &dev, &count);
        if (rc == HALO_OK && total + count > HALO_MAX_DEVICES)
            rc = BAD(c, list->items[e], sub, "more than %d devices in total", HALO_MAX_DEVICES);
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
static int scen_file(ctx *c, const ynode *v, const char *kp, char **out) {
    const char *rel;
    int rc = get_str(c, v, kp, &rel);
    if (rc != HALO_OK)
        return rc;
    char *p = join_path(c->scen_dir, rel);
    if (!p)
        return nomem(c);
    const char *why = unreadable(p);
    if (why) {
        const ynode *at = pick(c, v);
        rc = FAILC(c, HALO_ERR_IO, at->file, at->line, kp, "cannot read %s: %s", p, why);
        free(p);
        return rc;
    }
    free(*out);
    *out = p;
    return HALO_OK;
}

static int load_model(ctx *c, const ynode *m, halo_scenario *s) {
    const char *kp = "model";
    int rc = expect_map(c, m, kp);
    if (rc == HALO_OK)
        rc = check_keys(c, m, kp, model_keys);
    if (rc != HALO_OK)
        return rc;
    char sub[KP_MAX];
    const ynode *file = mget(m, "file"), *shape = mget(m, "shape"), *tok = mget(m, "tokenizer"),
                *w = mget(m, "weights");
    if (file && shape)
        return BAD(c, m, kp, "both file and shape are given (exactly one is allowed)");
    if (!file && !shape)
        return BAD(c, m, kp, "one of file or shape is required");
    if (w)
        rc = get_enum(c, w, kp_key(sub, kp, "weights"), weight_names, &s->weight_type);
    if (rc == HALO_OK && shape) {
        if (tok)
            return FAILC(c, HALO_ERR_FORMAT, m->file, mget_line(m, "tokenizer"),
                         kp_key(sub, kp, "tokenizer"), "only allowed with model.file");
        rc = get_strdup(c, shape, kp_key(sub, kp, "shape"), &s->shape_name);
        if (rc == HALO_OK && halo_scenario_shape(s->shape_name, &s->shape) != HALO_OK)
            rc = BAD(c, pick(c, shape), sub,
                     "'%s' is not one of llama2-7b, llama2-13b, tinyllama-1.1b, llama3-8b",
                     s->shape_name);
        return rc;
    }
    if (rc == HALO_OK)
        rc = scen_file(c, file, kp_key(sub, kp, "file"), &s->model_file);
    if (rc == HALO_OK && tok) {
        rc = scen_file(c, tok, kp_key(sub, kp, "tokenizer"), &s->tokenizer_file);
    } else if (rc == HALO_OK) {
        char *dir = dir_of(s->model_file);
        s->tokenizer_file = dir ? join_path(dir, "tok512.bin") : NULL;
        free(dir);
        if (!s->tokenizer_file)
            return nomem(c);
        const char *why = unreadable(s->tokenizer_file);
        if (why)
            rc = FAILC(c, HALO_ERR_IO, m->file, m->line, kp_key(sub, kp, "tokenizer"),
                       "not given, and the default %s cannot be read: %s", s->tokenizer_file, why);
    }
    return rc;
}

/* ==== Engine ==== */

static const char *const engine_keys[] = {"baseline",
                                          "placement",
                                          "sync",
                                          "deadline_ms",
                                          "critical",
                                          "encoding",
                                          "group_size",
                                          "delivery",
                                          "tcp",
                                          "importance",
                                          "tau",
                                          "predictor",
                                          "place_critical",
                                          "attention_critical",
                                          "reliable",
                                          "synthetic_sigma",
                                          "adaptive_deadline",
                                          "deadline_min_ms",
                                          "deadline_max_ms",
                                          "redundancy",
                                          "memory_budget",
                                          "prefetch",
                                          "simulator",
                                          NULL};
static const char *const baseline_names[] = {"dllama", "balanced", "relaxed", "halo", NULL};
/* in the order of enum halo_scoring */
static const char *const importance_names[] = {"predictor", "oracle", "synthetic",
                                               "uniform",   "none",   NULL};
static const char *const sync_names[] = {"strict", "relaxed", NULL};
static const char *const encoding_names[] = {"f32", "q8", NULL};
static const char *const delivery_names[] = {"datagram", "stream", NULL};
static const char *const simulator_names[] = {"sim", "ns3", NULL}; /* enum halo_simulator */
static const char *const tcp_keys[] = {"init_cwnd",        "rto_min_ms",        "rto_max_ms",
                                       "rto_init_ms",      "delack_ms",         "tlp",
                                       "dupack_threshold", "quickack_segments", NULL};

/* Counts the comma-separated numbers in [s, end); -1 when one is not a number or is out of
 * [lo, hi] (or not an integer when `integer`). */
static int count_list(const char *s, const char *end, double lo, double hi, int integer) {
    int n = 0;
    while (s < end) {
        char num[64];
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *stop = comma ? comma : end;
        size_t len = (size_t)(stop - s);
        if (len == 0 || len >= sizeof num)
            return -1;
        memcpy(num, s, len);
        num[len] = '\0';
        char *e;
        errno = 0;
        double v = strtod(num, &e);
        if (!looks_numeric(num) || *e || errno == ERANGE || !isfinite(v) || v < lo || v > hi ||
            (integer && v != floor(v)))
            return -1;
        n++;
        s = comma ? comma + 1 : end;
        if (comma && s == end)
            return -1;
    }
    return n;
}

static int check_placement(ctx *c, const ynode *at, const char *kp, const char *spec, int n_dev) {
    if (strcmp(spec, "equal") == 0 || strcmp(spec, "balanced") == 0 ||
        strcmp(spec, "scheduled") == 0)
        return HALO_OK;
    if (strncmp(spec, "weights:", 8) == 0) {
        const char *s = spec + 8;
        int k = count_list(s, s + strlen(s), 1e-300, 1e300, 0);
        if (k != n_dev)
            return BAD(c, at, kp, "'%s' needs %d positive weights (one per device), got %s", spec,
                       n_dev, k < 0 ? "a bad number" : "another count");
        return HALO_OK;
    }
    if (strncmp(spec, "explicit:", 9) == 0) {
        const char *s = spec + 9, *slash = strchr(s, '/');
        if (slash && count_list(s, slash, 0, n_dev - 1, 1) > 0 &&
            count_list(slash + 1, slash + 1 + strlen(slash + 1), 0, n_dev - 1, 1) > 0)
            return HALO_OK;
        return BAD(c, at, kp, "'%s' is not explicit:A0,A1,../F0,F1,.. with device numbers in 0..%d",
                   spec, n_dev - 1);
    }
    return BAD(c, at, kp,
               "'%s' is not one of equal, balanced, scheduled, weights:W0,W1,.. or explicit:A/F",
               spec);
}

static int load_tcp(ctx *c, const ynode *m, const char *kp, halo_tcp_config *t) {
    int rc = expect_map(c, m, kp);
    if (rc == HALO_OK) {
        m = pick(c, m);
        rc = check_keys(c, m, kp, tcp_keys);
    }
    char sub[KP_MAX];
    const ynode *v;
    long long i;
    double d;
    if (rc == HALO_OK && (v = mget(m, "init_cwnd")) &&
        (rc = get_int(c, v, kp_key(sub, kp, "init_cwnd"), 1, 1000, &i)) == HALO_OK)
        t->init_cwnd = (int)i;
    uint64_t *ms[] = {&t->rto_min_ns, &t->rto_max_ns, &t->rto_init_ns, &t->delack_ns};
    const char *ms_keys[] = {"rto_min_ms", "rto_max_ms", "rto_init_ms", "delack_ms"};
    for (int k = 0; k < 4 && rc == HALO_OK; k++)
        if ((v = mget(m, ms_keys[k])) &&
            (rc = get_num(c, v, kp_key(sub, kp, ms_keys[k]), 0, k < 3, 1e7, 0, &d)) == HALO_OK)
            *ms[k] = (uint64_t)llround(d * 1e6);
    if (rc == HALO_OK && (v = mget(m, "tlp")))
        rc = get_bool(c, v, kp_key(sub, kp, "tlp"), &t->tlp);
    if (rc == HALO_OK && (v = mget(m, "dupack_threshold")) &&
        (rc = get_int(c, v, kp_key(sub, kp, "dupack_threshold"), 1, 100, &i)) == HALO_OK)
        t->dupack_threshold = (int)i;
    if (rc == HALO_OK && (v = mget(m, "quickack_segments")) &&
        (rc = get_int(c, v, kp_key(sub, kp, "quickack_segments"), 0, 1000000, &i)) == HALO_OK)
        t->quickack_segments = (int)i;
    if (rc == HALO_OK && !(t->rto_min_ns <= t->rto_init_ns && t->rto_init_ns <= t->rto_max_ns))
        rc = BAD(c, m, kp, "expected rto_min_ms <= rto_init_ms <= rto_max_ms");
    return rc;
}

/* Engine settings that need no other key's value. */
static int engine_simple(ctx *c, const ynode *m, halo_scenario *s) {
    const char *kp = "engine";
    char sub[KP_MAX];
    const ynode *v;
    int rc = HALO_OK;
    double d;
    long long i;
    s->deadline_ns = 10000000; /* 10 ms */
    if ((v = mget(m, "deadline_ms")) &&
        (rc = get_num(c, v, kp_key(sub, kp, "deadline_ms"), 0, 0, 1e6, 0, &d)) == HALO_OK)
        s->deadline_ns = (uint64_t)llround(d * 1e6);
    if (rc == HALO_OK && (v = mget(m, "encoding")))
        rc = get_enum(c, v, kp_key(sub, kp, "encoding"), encoding_names, &s->encoding);
    if (rc == HALO_OK && (v = mget(m, "group_size")) &&
        (rc = get_int(c, v, kp_key(sub, kp, "group_size"), 0, 1 << 20, &i)) == HALO_OK)
        s->group_size = (int)i;
    halo_tcp_config_linux(&s->tcp);
    if (rc == HALO_OK && (v = mget(m, "tcp")))
        rc = load_tcp(c, v, kp_key(sub, kp, "tcp"), &s->tcp);
    if (rc == HALO_OK && (v = mget(m, "critical"))) {
        rc = get_strdup(c, v, kp_key(sub, kp, "critical"), &s->critical);
        if (rc == HALO_OK && s->critical[0] == '\0') {
            free(s->critical);
            s->critical = NULL;
        } else if (rc == HALO_OK && count_list(s->critical, s->critical + strlen(s->critical), 0,
                                               s->n_devices - 1, 1) < 0) {
            rc = BAD(c, pick(c, v), sub, "'%s' is not a list of device numbers in 0..%d",
                     s->critical, s->n_devices - 1);
        }
    }
    return rc;
}

/* The HALO mechanisms: importance scoring, threshold, placement, deadlines. */
static int engine_halo(ctx *c, const ynode *m, halo_scenario *s, int halo_baseline) {
    const char *kp = "engine";
    char sub[KP_MAX];
    const ynode *v;
    int rc = HALO_OK, imp = 4;
    /* baseline halo: predictor scoring (synthetic scores for a shape), adaptive deadline */
    if (halo_baseline)
        imp = s->shape_name ? HALO_SCORING_SYNTHETIC : HALO_SCORING_PREDICTOR;
    if ((v = mget(m, "importance")))
        rc = get_enum(c, v, kp_key(sub, kp, "importance"), importance_names, &imp);
    s->importance = imp == 4 ? -1 : imp;
    if (rc == HALO_OK && s->importance >= 0 && s->policy != HALO_SYNC_POLICY_RELAXED)
        rc = BAD(c, v ? pick(c, v) : m, kp_key(sub, kp, "importance"),
                 "needs sync: relaxed (strict sync waits for every group anyway)");
    if (rc == HALO_OK && s->shape_name &&
        (s->importance == HALO_SCORING_PREDICTOR || s->importance == HALO_SCORING_ORACLE))
        rc = BAD(c, v ? pick(c, v) : m, kp_key(sub, kp, "importance"),
                 "a shape has no activations to score: use synthetic (or a model file)");
    double d;
    s->tau = 0.9;
    if (rc == HALO_OK && (v = mget(m, "tau")) &&
        (rc = get_num(c, v, kp_key(sub, kp, "tau"), 0, 1, 1, 0, &d)) == HALO_OK)
        s->tau = d;
    s->synthetic_sigma = 1.0;
    if (rc == HALO_OK && (v = mget(m, "synthetic_sigma")) &&
        (rc = get_num(c, v, kp_key(sub, kp, "synthetic_sigma"), 0, 0, 10, 0, &d)) == HALO_OK)
        s->synthetic_sigma = d;
    s->place_critical = 1;
    if (rc == HALO_OK && (v = mget(m, "place_critical")))
        rc = get_bool(c, v, kp_key(sub, kp, "place_critical"), &s->place_critical);
    if (rc == HALO_OK && (v = mget(m, "attention_critical")))
        rc = get_bool(c, v, kp_key(sub, kp, "attention_critical"), &s->attention_critical);
    s->adaptive_deadline = halo_baseline;
    long long copies = halo_baseline ? 2 : 1;
    if (rc == HALO_OK && (v = mget(m, "redundancy")))
        rc = get_int(c, v, kp_key(sub, kp, "redundancy"), 1, 8, &copies);
    s->redundancy = (int)copies;
    if (rc == HALO_OK && (v = mget(m, "adaptive_deadline")))
        rc = get_bool(c, v, kp_key(sub, kp, "adaptive_deadline"), &s->adaptive_deadline);
    if (rc == HALO_OK && (v = mget(m, "memory_budget")))
        rc = get_bool(c, v, kp_key(sub, kp, "memory_budget"), &s->memory_budget);
    s->prefetch = 1;
    if (rc == HALO_OK && (v = mget(m, "prefetch")))
        rc = get_bool(c, v, kp_key(sub, kp, "prefetch"), &s->prefetch);
    s->deadline_min_ns = 500000;     /* 0.5 ms */
    s->deadline_max_ns = 1000000000; /* 1 s */
    if (rc == HALO_OK && (v = mget(m, "deadline_min_ms")) &&
        (rc = get_num(c, v, kp_key(sub, kp, "deadline_min_ms"), 0, 0, 1e6, 0, &d)) == HALO_OK)
        s->deadline_min_ns = (uint64_t)llround(d * 1e6);
    if (rc == HALO_OK && (v = mget(m, "deadline_max_ms")) &&
        (rc = get_num(c, v, kp_key(sub, kp, "deadline_max_ms"), 0, 1, 1e6, 0, &d)) == HALO_OK)
        s->deadline_max_ns = (uint64_t)llround(d * 1e6);
    if (rc == HALO_OK && s->deadline_min_ns > s->deadline_max_ns)
        rc = BAD(c, m, kp, "expected deadline_min_ms <= deadline_max_ms");
    if (rc == HALO_OK && (v = mget(m, "reliable"))) {
        rc = get_strdup(c, v, kp_key(sub, kp, "reliable"), &s->reliable);
        if (rc == HALO_OK &&
            count_list(s->reliable, s->reliable + strlen(s->reliable), 0, s->n_devices - 1, 1) < 0)
            rc = BAD(c, pick(c, v), sub, "'%s' is not a list of device numbers in 0..%d",
                     s->reliable, s->n_devices - 1);
    }
    if (rc == HALO_OK && (v = mget(m, "predictor")))
        rc = scen_file(c, v, kp_key(sub, kp, "predictor"), &s->predictor_file);
    return rc;
}

/* `m` may be NULL (no engine section: every default). */
static int load_engine(ctx *c, const ynode *m, halo_scenario *s) {
    static const ynode empty = {.kind = Y_MAP, .line = 1, .axis = -1};
    const char *kp = "engine";
    int rc = m ? expect_map(c, m, kp) : HALO_OK;
    if (rc == HALO_OK && m)
        rc = check_keys(c, m, kp, engine_keys);
    if (rc != HALO_OK)
        return rc;
    if (!m)
        m = &empty;
    char sub[KP_MAX];
    const ynode *v;
    int baseline = -1;
    if ((v = mget(m, "baseline"))) {
        rc = get_enum(c, v, kp_key(sub, kp, "baseline"), baseline_names, &baseline);
        if (rc == HALO_OK)
            rc = get_strdup(c, v, sub, &s->baseline);
    }
    /* Baselines: dllama = equal + strict, balanced = by flops + strict, relaxed = equal +
     * relaxed; explicit keys override. */
    s->policy = baseline >= 2 ? HALO_SYNC_POLICY_RELAXED : HALO_SYNC_POLICY_STRICT;
    if (rc == HALO_OK && (v = mget(m, "sync")))
        rc = get_enum(c, v, kp_key(sub, kp, "sync"), sync_names, &s->policy);
    if (rc == HALO_OK) {
        if ((v = mget(m, "placement"))) {
            rc = get_strdup(c, v, kp_key(sub, kp, "placement"), &s->placement);
            if (rc == HALO_OK)
                rc = check_placement(c, pick(c, v), sub, s->placement, s->n_devices);
        } else if (!(s->placement =
                         dupstr(baseline == 1 || baseline == 3 ? "balanced" : "equal"))) {
            rc = nomem(c);
        }
    }
    s->delivery =
        s->policy == HALO_SYNC_POLICY_STRICT ? HALO_DELIVERY_STREAM : HALO_DELIVERY_DATAGRAM;
    if (rc == HALO_OK && (v = mget(m, "delivery")))
        rc = get_enum(c, v, kp_key(sub, kp, "delivery"), delivery_names, &s->delivery);
    if (rc == HALO_OK && (v = mget(m, "simulator")))
        rc = get_enum(c, v, kp_key(sub, kp, "simulator"), simulator_names, &s->simulator);
    if (rc == HALO_OK)
        rc = engine_simple(c, m, s);
    if (rc == HALO_OK)
        rc = engine_halo(c, m, s, baseline == 3);
    return rc;
}

/* ==== Workload and top level ==== */

static const char *const workload_keys[] = {"prompt", "tokens", "temperature", "eval", NULL};
static const char *const top_keys[] = {"name",     "description", "model", "devices", "engine",
                                       "workload", "seed",        "runs",  NULL};

static int load_workload(ctx *c, const ynode *m, halo_scenario *s) {
    const char *kp = "workload";
    int rc = expect_map(c, m, kp);
    if (rc == HALO_OK)
        rc = check_keys(c, m, kp, workload_keys);
    if (rc != HALO_OK)
        return rc;
    char sub[KP_MAX];
    const ynode *v;
    long long i;
    double d;
    if ((v = mget(m, "prompt")))
        rc = get_strdup(c, v, kp_key(sub, kp, "prompt"), &s->prompt);
    else if (!(s->prompt = dupstr("")))
        rc = nomem(c);
    if (rc == HALO_OK)
        rc = (v = mget(m, "tokens")) ? get_int(c, v, kp_key(sub, kp, "tokens"), 1, 1000000, &i)
                                     : missing(c, m, kp, "tokens");
    if (rc == HALO_OK)
        s->tokens = (int)i;
    if (rc == HALO_OK && (v = mget(m, "temperature")) &&
        (rc = get_num(c, v, kp_key(sub, kp, "temperature"), 0, 0, 100, 0, &d)) == HALO_OK)
        s->temperature = (float)d;
    if (rc == HALO_OK && (v = mget(m, "eval")))
        rc = scen_file(c, v, kp_key(sub, kp, "eval"), &s->eval_file);
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

static int load_top(ctx *c, const ynode *r, const char *path, halo_scenario *s) {
    int rc = check_keys(c, r, "", top_keys);
    const ynode *v;
    if (rc == HALO_OK && (v = mget(r, "name")))
        rc = get_strdup(c, v, "name", &s->name);
    else if (rc == HALO_OK && !(s->name = default_name(path)))
        rc = nomem(c);
    const char *desc;
    if (rc == HALO_OK && (v = mget(r, "description")))
        rc = get_str(c, v, "description", &desc);
    if (rc == HALO_OK)
        rc = (v = mget(r, "model")) ? load_model(c, v, s) : missing(c, r, "", "model");
    if (rc == HALO_OK)
        rc = (v = mget(r, "devices")) ? load_devices(c, v, s) : missing(c, r, "", "devices");
    if (rc == HALO_OK)
        rc = load_engine(c, mget(r, "engine"), s);
    if (rc == HALO_OK)
        rc = (v = mget(r, "workload")) ? load_workload(c, v, s) : missing(c, r, "", "workload");
    s->seed = 1;
    if (rc == HALO_OK && (v = mget(r, "seed")))
        rc = get_u64(c, v, "seed", &s->seed);
    long long runs = 1;
    if (rc == HALO_OK && (v = mget(r, "runs")))
        rc = get_int(c, v, "runs", 1, 10000, &runs);
    s->runs = (int)runs;
    return rc;
}

/* ==== Sweep axes ==== */

static int add_axis(ctx *c, ynode *n, const char *kp) {
    for (int j = 0; j < n->n; j++)
        if (n->items[j]->kind != Y_SCALAR) {
            char sub[KP_MAX];
            return BAD(c, n->items[j], kp_idx(sub, kp, j),
                       "a sweep list may hold scalars only, got %s", kind_name(n->items[j]));
        }
    if (n->n == 0)
        return BAD(c, n, kp, "an empty list (a sweep axis needs at least one value)");
    if (c->n_axes == c->cap_axes) {
        int cap = c->cap_axes ? 2 * c->cap_axes : 8;
        char **kps = realloc(c->axis_kp, (size_t)cap * sizeof *kps);
        if (!kps)
            return nomem(c);
        c->axis_kp = kps;
        c->cap_axes = cap;
    }
    if (!(c->axis_kp[c->n_axes] = dupstr(kp)))
        return nomem(c);
    n->axis = c->n_axes++;
    return HALO_OK;
}

/* Marks every list except the top-level `devices` list as an axis, in document order. */
static int find_axes(ctx *c, ynode *n, const char *kp, int top) {
    char sub[KP_MAX];
    int rc = HALO_OK;
    if (n->kind == Y_SEQ)
        return add_axis(c, n, kp);
    if (n->kind != Y_MAP)
        return HALO_OK;
    for (int i = 0; i < n->n && rc == HALO_OK; i++) {
        ynode *v = n->items[i];
        kp_key(sub, kp, n->keys[i]);
        if (top && strcmp(n->keys[i], "devices") == 0 && v->kind == Y_SEQ) {
            for (int j = 0; j < v->n && rc == HALO_OK; j++) {
                char el[KP_MAX];
                rc = find_axes(c, v->items[j], kp_idx(el, sub, j), 0);
            }
        } else {
            rc = find_axes(c, v, sub, 0);
        }
    }
    return rc;
}

/* Collects axis nodes by index (for item counts and labels). */
static void collect_axes(const ynode *n, const ynode **axes) {
    if (n->kind == Y_SEQ && n->axis >= 0) {
        axes[n->axis] = n;
        return;
    }
    for (int i = 0; i < n->n; i++)
        collect_axes(n->items[i], axes);
}

static int select_point(ctx *c, const ynode *root, const char *path, long point, halo_scenario *s) {
    const ynode **axes = calloc((size_t)(c->n_axes ? c->n_axes : 1), sizeof(const ynode *));
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
    for (int k = 0; k < c->n_axes && rc == HALO_OK; k++)
        len += strlen(c->axis_kp[k]) + strlen(axes[k]->items[c->digit[k]]->str) + 2;
    if (rc == HALO_OK && !(s->point_label = malloc(len)))
        rc = nomem(c);
    if (rc == HALO_OK) {
        size_t used = 0;
        s->point_label[0] = '\0';
        for (int k = 0; k < c->n_axes; k++) {
            int w = snprintf(s->point_label + used, len - used, "%s%s=%s", k ? " " : "",
                             c->axis_kp[k], axes[k]->items[c->digit[k]]->str);
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
    static const struct {
        const char *name;
        halo_model_config cfg;
    } shapes[] = {
        {"llama2-7b", {4096, 11008, 32, 32, 32, 32000, 4096, 0}},
        {"llama2-13b", {5120, 13824, 40, 40, 40, 32000, 4096, 0}},
        {"tinyllama-1.1b", {2048, 5632, 22, 32, 4, 32000, 2048, 0}},
        {"llama3-8b", {4096, 14336, 32, 32, 8, 128256, 8192, 0}},
    };

    for (size_t i = 0; name && i < sizeof shapes / sizeof shapes[0]; i++)
        if (strcmp(name, shapes[i].name) == 0) {
            if (out)
                *out = shapes[i].cfg;
            return HALO_OK;
        }
    return HALO_ERR_ARG;
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
    free(s->baseline);
    free(s->placement);
    free(s->critical);
    free(s->reliable);
    free(s->predictor_file);
    free(s->prompt);
    free(s->eval_file);
    free(s);
}

int halo_scenario_load(halo_scenario **out, const char *path, long point, halo_err *err) {
    HALO_ASSERT(out && path);
    *out = NULL;
    ctx c;
    memset(&c, 0, sizeof c);
    c.err = err;
    const char *env = getenv("HALO_SCENARIO_DIR");
    c.proj_dir = env && env[0] ? env : HALO_SOURCE_SCENARIO_DIR;
    halo_scenario *s = calloc(1, sizeof *s);
    int rc = HALO_OK;
    if (!s || !(s->path = dupstr(path)) || !(c.scen_dir = dir_of(path)))
        rc = nomem(&c);
    ydoc *d = NULL;
    if (rc == HALO_OK)
        rc = ydoc_load(&d, path, err);
    if (rc == HALO_OK)
        rc = ctx_add_doc(&c, d);
    if (rc == HALO_OK) {
        s->text = d->text;
        d->text = NULL;
        if (!d->root)
            rc = FAIL(err, HALO_ERR_FORMAT, "%s:1: document: empty (expected a mapping)", path);
        else if (d->root->kind != Y_MAP)
            rc = BAD(&c, d->root, "document", "expected a mapping at the top level, got %s",
                     kind_name(d->root));
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
