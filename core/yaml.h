/*
 * YAML files as small trees in which every node keeps its file and line: the one reader of
 * scenario, profile, link and cluster files (libyaml's event parser underneath).
 *
 * What it accepts is YAML's block and flow styles with anchors and aliases; what it refuses,
 * with "<file>:<line>: <problem>" (HALO_ERR_FORMAT): syntax errors, more than one document,
 * duplicate mapping keys, non-scalar keys, unknown aliases, and inputs past the limits
 * (file size, nesting depth, node count, and the bytes that alias expansion creates, so an
 * alias bomb fails cleanly and quickly). Aliases are expanded into copies: readers see a
 * plain tree. Nesting is bounded by an explicit stack, so no input recurses deeply.
 *
 * What it does not do: interpret values. Scalars stay text with a `plain` flag (unquoted,
 * untagged), so a reader can tell the number 5 from the string "5"; core/parse.h turns text
 * into numbers. Typed access with key paths in messages is the readers' business (the
 * helpers below format "<file>:<line>: <key path>: <message>").
 *
 * Built as its own library (halo_yaml, linking libyaml) beside the core: the inference core
 * itself reads no YAML.
 */
#ifndef HALO_YAML_H
#define HALO_YAML_H

#include "core/status.h"

#include <stddef.h>

enum halo_yaml_kind {
    HALO_YAML_SCALAR = 0,
    HALO_YAML_SEQ = 1,
    HALO_YAML_MAP = 2,
};

typedef struct halo_yaml_node halo_yaml_node;

struct halo_yaml_node {
    int kind;                     /* enum halo_yaml_kind */
    int line;                     /* 1-based line where the node starts */
    int plain;                    /* scalar: plain style and no explicit !!str tag */
    int mark;                     /* free for the reader (-1 initially; the scenario loader marks
                                     its sweep axes here) */
    const halo_yaml_node *origin; /* an alias's copy: the anchored node it copies (which
                                     precedes it in the document); NULL otherwise */
    const char *file;             /* the file's path (owned by its document) */
    char *str;                    /* scalar text, NUL-terminated */
    int n;                        /* items (sequence) or entries (mapping) */
    halo_yaml_node **items;       /* (n) sequence items; mapping values */
    char **keys;                  /* (n) mapping keys */
    int *key_lines;               /* (n) mapping keys' lines */
    /* private to the builder */
    int cap;
    char *pkey;
    int pkey_line;
};

typedef struct halo_yaml_doc {
    char *path;           /* as opened */
    char *text;           /* the whole file, NUL-terminated */
    size_t len;           /* its bytes */
    halo_yaml_node *root; /* NULL for an empty stream */
} halo_yaml_doc;

typedef struct halo_yaml_limits {
    size_t max_bytes;          /* file size */
    int max_depth;             /* nesting of collections */
    long max_nodes;            /* nodes, alias copies included */
    size_t max_expanded_bytes; /* scalar bytes in the tree, alias copies included */
} halo_yaml_limits;

/* The defaults: 4 MiB files, 64 levels, 200,000 nodes, 32 MiB of scalars after expansion. */
extern const halo_yaml_limits halo_yaml_default_limits;

/*
 * Reads and parses the file at `path` (a regular file: core/file.h) under `limits` (NULL:
 * the defaults). *out receives the document (free with halo_yaml_free), NULL on failure.
 * Errors: HALO_ERR_IO (cannot read, not a regular file), HALO_ERR_FORMAT (as above, with
 * file and line), HALO_ERR_NOMEM.
 */
int halo_yaml_load(halo_yaml_doc **out, const char *path, const halo_yaml_limits *limits,
                   halo_err *err);

/* The same for text already in memory; `name` stands for the file in messages. */
int halo_yaml_parse(halo_yaml_doc **out, const char *name, const char *text, size_t len,
                    const halo_yaml_limits *limits, halo_err *err);

/* Frees; NULL is a no-op. */
void halo_yaml_free(halo_yaml_doc *d);

/* The value of `key` in mapping `map`, or NULL. */
const halo_yaml_node *halo_yaml_get(const halo_yaml_node *map, const char *key);

/* The line of `key` in `map`, or the map's own line when it is absent. */
int halo_yaml_key_line(const halo_yaml_node *map, const char *key);

/* "a scalar", "a list" or "a mapping". */
const char *halo_yaml_kind_name(const halo_yaml_node *n);

/* 1 for a plain empty, ~ or null scalar. */
int halo_yaml_is_null(const halo_yaml_node *n);

/* Key paths for messages: "parent.key" (or "key" at the top) and "parent[i]", into buf of
   HALO_YAML_KP_MAX bytes (cut short when longer); return buf. */
enum {
    HALO_YAML_KP_MAX = 160
};

const char *halo_yaml_kp_key(char *buf, const char *parent, const char *key);
const char *halo_yaml_kp_idx(char *buf, const char *parent, int i);

/* Records "<file>:<line>: <kp>: <message>" with `code`; returns code. */
int halo_yaml_fail(halo_err *err, int code, const char *file, int line, const char *kp,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Prefixes err's message (set by a value parser) with "<file>:<line>: <kp>: "; returns
   HALO_ERR_FORMAT (the code becomes a file-format error). */
int halo_yaml_prefix(halo_err *err, const halo_yaml_node *at, const char *kp);

/*
 * Every key of mapping `map` is in `allowed` (NULL-terminated); else HALO_ERR_FORMAT at the
 * first other key's line: "<kp>.<key>: unknown key (expected one of: ...)".
 */
int halo_yaml_check_keys(const halo_yaml_node *map, const char *kp, const char *const *allowed,
                         halo_err *err);

#endif /* HALO_YAML_H */
