/*
 * YAML trees with lines (core/yaml.h).
 *
 * libyaml's events are built into the tree bottom-up on an explicit stack; aliases are
 * expanded into deep copies, counted against the node and byte limits as they are made.
 */
#define _POSIX_C_SOURCE 200809L

#include "core/yaml.h"

#include "core/file.h"
#include "core/grow.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

enum {
    HARD_MAX_DEPTH = 64 /* the builder's stack */
};

const halo_yaml_limits halo_yaml_default_limits = {.max_bytes = 4u << 20,
                                                   .max_depth = HARD_MAX_DEPTH,
                                                   .max_nodes = 200000,
                                                   .max_expanded_bytes = 32u << 20};

/* ==== The generic tree ==== */

static void node_free(halo_yaml_node *n) {
    if (!n)
        return;
    for (int i = 0; i < n->n; i++) {
        node_free(n->items[i]);
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

static halo_yaml_node *node_new(int kind, int line, const char *file) {
    halo_yaml_node *n = calloc(1, sizeof *n);
    if (n) {
        n->kind = kind;
        n->line = line;
        n->file = file;
        n->mark = -1;
    }
    return n;
}

/* Appends an item (sequence) or an entry (mapping, with key/key_line); takes ownership of
 * `child` and `key` only on success. */
static int node_push(halo_yaml_node *p, halo_yaml_node *child, char *key, int key_line) {
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 4;
        halo_yaml_node **items = realloc(p->items, (size_t)cap * sizeof(halo_yaml_node *));
        if (!items)
            return HALO_ERR_NOMEM;
        p->items = items;
        if (p->kind == HALO_YAML_MAP) {
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
    if (p->kind == HALO_YAML_MAP) {
        p->keys[p->n] = key;
        p->key_lines[p->n] = key_line;
    }
    p->n++;
    return HALO_OK;
}

const halo_yaml_node *halo_yaml_get(const halo_yaml_node *map, const char *key) {
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0)
            return map->items[i];
    return NULL;
}

int halo_yaml_key_line(const halo_yaml_node *map, const char *key) {
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0)
            return map->key_lines[i];
    return map->line;
}

/* ==== Parsing a file into a tree ==== */

void halo_yaml_free(halo_yaml_doc *d) {
    if (!d)
        return;
    node_free(d->root);
    free(d->text);
    free(d->path);
    free(d);
}

typedef struct anchor {
    char *name;
    const halo_yaml_node *node; /* borrowed from the tree */
} anchor;

typedef struct builder {
    halo_yaml_doc *d;
    halo_err *err;
    halo_yaml_node *stack[HARD_MAX_DEPTH];
    char *stack_anchor[HARD_MAX_DEPTH];
    int depth;
    anchor *anchors;
    int n_anchors;
    long cap_anchors;
    long n_nodes;
    size_t n_bytes; /* scalar and key bytes, copies included */
    int n_docs;
    const halo_yaml_limits *lim;
} builder;

/* Records "<file>:<line>: <message>" (HALO_ERR_FORMAT). Variadic functions are opaque to
 * static analysers, so callers use BFAIL, whose value is the constant code. */
__attribute__((format(printf, 3, 4))) static void bfail(builder *b, int line, const char *fmt,
                                                        ...) {
    va_list ap;
    va_start(ap, fmt);
    (void)halo_err_setv(b->err, HALO_ERR_FORMAT, __FILE__, __LINE__, fmt, ap);
    va_end(ap);
    (void)halo_err_prefix(b->err, "%s:%d: ", b->d->path, line);
}

#define BFAIL(b, line, ...) (bfail((b), (line), __VA_ARGS__), HALO_ERR_FORMAT)

static int bnomem(builder *b) {
    (void)HALO_FAIL(b->err, HALO_ERR_NOMEM, "%s: out of memory", b->d->path);
    return HALO_ERR_NOMEM;
}

/* Attaches a new node to the collection being built (or makes it the root). Takes
 * ownership of `n` in every case. */
static int attach(builder *b, halo_yaml_node *n) {
    if (b->depth == 0) {
        HALO_ASSERT(!b->d->root);
        b->d->root = n;
        return HALO_OK;
    }
    halo_yaml_node *p = b->stack[b->depth - 1];
    int rc;
    if (p->kind == HALO_YAML_SEQ) {
        rc = node_push(p, n, NULL, 0);
    } else if (!p->pkey) {
        if (n->kind != HALO_YAML_SCALAR) {
            int line = n->line;
            node_free(n);
            return BFAIL(b, line, "mapping keys must be scalars");
        }
        for (int i = 0; i < p->n; i++)
            if (strcmp(p->keys[i], n->str) == 0) {
                rc = BFAIL(b, n->line, "duplicate key '%s' (first on line %d)", n->str,
                           p->key_lines[i]);
                node_free(n);
                return rc;
            }
        p->pkey = n->str;
        p->pkey_line = n->line;
        n->str = NULL;
        node_free(n);
        return HALO_OK;
    } else {
        rc = node_push(p, n, p->pkey, p->pkey_line);
        if (rc == HALO_OK)
            p->pkey = NULL;
    }
    if (rc != HALO_OK) {
        node_free(n);
        return bnomem(b);
    }
    return HALO_OK;
}

static int count_node(builder *b, int line) {
    if (++b->n_nodes > b->lim->max_nodes)
        return BFAIL(b, line, "more than %ld nodes (alias expansion?)", b->lim->max_nodes);
    return HALO_OK;
}

/* Counts `len` more bytes of scalars and keys against the expansion limit. */
static int count_bytes(builder *b, int line, size_t len) {
    b->n_bytes += len;
    if (b->n_bytes > b->lim->max_expanded_bytes)
        return BFAIL(b, line, "more than %zu bytes of values (alias expansion?)",
                     b->lim->max_expanded_bytes);
    return HALO_OK;
}

/* Deep copy of `src` placed at nesting `depth`, for an alias. */
static int copy_node(builder *b, const halo_yaml_node *src, int depth, int line,
                     halo_yaml_node **out) {
    *out = NULL;
    if (depth > b->lim->max_depth)
        return BFAIL(b, line, "alias nests deeper than %d levels", b->lim->max_depth);
    int rc = count_node(b, line);
    if (rc == HALO_OK && src->str)
        rc = count_bytes(b, line, strlen(src->str));
    for (int i = 0; rc == HALO_OK && src->kind == HALO_YAML_MAP && i < src->n; i++)
        rc = count_bytes(b, line, strlen(src->keys[i]));
    if (rc != HALO_OK)
        return rc;
    halo_yaml_node *n = node_new(src->kind, src->line, src->file);
    if (!n)
        return bnomem(b);
    n->plain = src->plain;
    n->origin = src->origin ? src->origin : src; /* one sweep axis, however often aliased */
    if (src->str && !(n->str = strdup(src->str))) {
        node_free(n);
        return bnomem(b);
    }
    for (int i = 0; i < src->n; i++) {
        halo_yaml_node *c;
        rc = copy_node(b, src->items[i], depth + 1, line, &c);
        char *key = NULL;
        if (rc == HALO_OK && src->kind == HALO_YAML_MAP && !(key = strdup(src->keys[i])))
            rc = bnomem(b);
        if (rc == HALO_OK &&
            node_push(n, c, key, src->kind == HALO_YAML_MAP ? src->key_lines[i] : 0))
            rc = bnomem(b);
        if (rc != HALO_OK) {
            node_free(c);
            free(key);
            node_free(n);
            return rc;
        }
    }
    *out = n;
    return HALO_OK;
}

static int add_anchor(builder *b, char *name, const halo_yaml_node *node) {
    for (int i = 0; i < b->n_anchors; i++)
        if (strcmp(b->anchors[i].name, name) == 0) {
            free(b->anchors[i].name);
            b->anchors[i].name = name;
            b->anchors[i].node = node;
            return HALO_OK;
        }
    anchor *a = halo__grow(b->anchors, b->n_anchors, &b->cap_anchors, sizeof *a, 8);
    if (!a) {
        free(name);
        return bnomem(b);
    }
    b->anchors = a;
    b->anchors[b->n_anchors++] = (anchor){name, node};
    return HALO_OK;
}

static int on_scalar(builder *b, const yaml_event_t *ev, int line) {
    int rc = count_node(b, line);
    if (rc == HALO_OK)
        rc = count_bytes(b, line, ev->data.scalar.length);
    if (rc != HALO_OK)
        return rc;
    halo_yaml_node *n = node_new(HALO_YAML_SCALAR, line, b->d->path);
    if (!n)
        return bnomem(b);
    size_t len = ev->data.scalar.length;
    n->str = malloc(len + 1);
    if (!n->str) {
        node_free(n);
        return bnomem(b);
    }
    memcpy(n->str, ev->data.scalar.value, len);
    n->str[len] = '\0';
    const char *tag = (const char *)ev->data.scalar.tag;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               !(tag && strcmp(tag, YAML_STR_TAG) == 0);
    const halo_yaml_node *keep = n;
    rc = attach(b, n);
    if (rc == HALO_OK && ev->data.scalar.anchor) {
        char *name = strdup((const char *)ev->data.scalar.anchor);
        rc = name ? add_anchor(b, name, keep) : bnomem(b);
    }
    return rc;
}

static int on_start(builder *b, int kind, const yaml_char_t *anchor_name, int line) {
    if (b->depth >= b->lim->max_depth)
        return BFAIL(b, line, "nested deeper than %d levels", b->lim->max_depth);
    int rc = count_node(b, line);
    if (rc != HALO_OK)
        return rc;
    halo_yaml_node *n = node_new(kind, line, b->d->path);
    if (!n)
        return bnomem(b);
    char *name = NULL;
    if (anchor_name && !(name = strdup((const char *)anchor_name))) {
        node_free(n);
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
    halo_yaml_node *n = b->stack[b->depth];
    char *name = b->stack_anchor[b->depth];
    b->stack_anchor[b->depth] = NULL;
    HALO_ASSERT(!n->pkey); /* libyaml always gives a mapping key its value */
    return name ? add_anchor(b, name, n) : HALO_OK;
}

static int on_alias(builder *b, const yaml_event_t *ev, int line) {
    const char *name = (const char *)ev->data.alias.anchor;
    for (int i = b->n_anchors - 1; i >= 0; i--)
        if (strcmp(b->anchors[i].name, name) == 0) {
            halo_yaml_node *c;
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
        return on_start(b, HALO_YAML_SEQ, ev->data.sequence_start.anchor, line);
    case YAML_MAPPING_START_EVENT:
        return on_start(b, HALO_YAML_MAP, ev->data.mapping_start.anchor, line);
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
static int parse_tree(halo_yaml_doc *d, const halo_yaml_limits *lim, halo_err *err) {
    yaml_parser_t p;
    builder b;
    memset(&b, 0, sizeof b);
    b.d = d;
    b.err = err;
    b.lim = lim;
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

/* The limits to apply: the defaults, the depth capped at the builder's stack. */
static halo_yaml_limits limits_of(const halo_yaml_limits *in) {
    halo_yaml_limits l = in ? *in : halo_yaml_default_limits;
    if (l.max_depth > HARD_MAX_DEPTH || l.max_depth < 1)
        l.max_depth = HARD_MAX_DEPTH;
    return l;
}

static int new_doc(halo_yaml_doc **out, const char *path, halo_err *err) {
    halo_yaml_doc *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(path))) {
        free(d);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
    }
    *out = d;
    return HALO_OK;
}

int halo_yaml_load(halo_yaml_doc **out, const char *path, const halo_yaml_limits *limits,
                   halo_err *err) {
    *out = NULL;
    halo_yaml_limits lim = limits_of(limits);
    halo_yaml_doc *d;
    int rc = new_doc(&d, path, err);
    if (rc != HALO_OK)
        return rc;
    rc = halo_file_read(path, lim.max_bytes, &d->text, &d->len, err);
    if (rc == HALO_OK)
        rc = parse_tree(d, &lim, err);
    if (rc != HALO_OK) {
        halo_yaml_free(d);
        return rc;
    }
    *out = d;
    return HALO_OK;
}

int halo_yaml_parse(halo_yaml_doc **out, const char *name, const char *text, size_t len,
                    const halo_yaml_limits *limits, halo_err *err) {
    *out = NULL;
    halo_yaml_limits lim = limits_of(limits);
    if (len > lim.max_bytes)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: %zu bytes, larger than the limit of %zu", name,
                         len, lim.max_bytes);
    halo_yaml_doc *d;
    int rc = new_doc(&d, name, err);
    if (rc != HALO_OK)
        return rc;
    if (!(d->text = malloc(len + 1))) {
        halo_yaml_free(d);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", name);
    }
    memcpy(d->text, text, len);
    d->text[len] = '\0';
    d->len = len;
    rc = parse_tree(d, &lim, err);
    if (rc != HALO_OK) {
        halo_yaml_free(d);
        return rc;
    }
    *out = d;
    return HALO_OK;
}

/* ==== Helpers for readers ==== */

const char *halo_yaml_kind_name(const halo_yaml_node *n) {
    if (n->kind == HALO_YAML_MAP)
        return "a mapping";
    if (n->kind == HALO_YAML_SEQ)
        return "a list";
    return "a scalar";
}

int halo_yaml_is_null(const halo_yaml_node *s) {
    return s->kind == HALO_YAML_SCALAR && s->plain &&
           (s->str[0] == '\0' || strcmp(s->str, "~") == 0 || strcmp(s->str, "null") == 0 ||
            strcmp(s->str, "Null") == 0 || strcmp(s->str, "NULL") == 0);
}

const char *halo_yaml_kp_key(char *buf, const char *parent, const char *key) {
    /* Long paths are cut short: they only ever appear in messages. */
    int n = snprintf(buf, HALO_YAML_KP_MAX, "%s%s%s", parent, parent[0] ? "." : "", key);
    if (n < 0)
        buf[0] = '\0';
    return buf;
}

const char *halo_yaml_kp_idx(char *buf, const char *parent, int i) {
    int n = snprintf(buf, HALO_YAML_KP_MAX, "%s[%d]", parent, i);
    if (n < 0)
        buf[0] = '\0';
    return buf;
}

int halo_yaml_fail(halo_err *err, int code, const char *file, int line, const char *kp,
                   const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    (void)halo_err_setv(err, code, __FILE__, __LINE__, fmt, ap);
    va_end(ap);
    (void)halo_err_prefix(err, "%s:%d: %s: ", file, line, kp);
    return code;
}

int halo_yaml_prefix(halo_err *err, const halo_yaml_node *at, const char *kp) {
    if (err)
        err->code = HALO_ERR_FORMAT;
    (void)halo_err_prefix(err, "%s:%d: %s: ", at->file, at->line, kp);
    return HALO_ERR_FORMAT;
}

int halo_yaml_check_keys(const halo_yaml_node *map, const char *kp, const char *const *allowed,
                         halo_err *err) {
    for (int i = 0; i < map->n; i++) {
        int ok = 0;
        for (int k = 0; allowed[k] && !ok; k++)
            ok = strcmp(map->keys[i], allowed[k]) == 0;
        if (ok)
            continue;
        char list[400] = "";
        size_t used = 0;
        for (int k = 0; allowed[k]; k++) {
            int w = snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", allowed[k]);
            if (w > 0 && (size_t)w < sizeof list - used)
                used += (size_t)w;
        }
        char sub[HALO_YAML_KP_MAX];
        return halo_yaml_fail(err, HALO_ERR_FORMAT, map->file, map->key_lines[i],
                              halo_yaml_kp_key(sub, kp, map->keys[i]),
                              "unknown key (expected one of: %s)", list);
    }
    return HALO_OK;
}
