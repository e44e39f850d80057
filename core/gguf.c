/*
 * GGUF reading (a bounds-checked cursor over the mapped bytes, then checks across tensors)
 * and writing (metadata collected in memory, tensor data streamed).
 */
#define _POSIX_C_SOURCE 200809L

#include "core/gguf.h"

#include "core/bytes.h"
#include "core/file.h"
#include "core/grow.h"
#include "core/quant.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct halo_gguf {
    char *what;
    void *map; /* owned mapping (open) or NULL (parse) */
    const unsigned char *bytes;
    size_t n_bytes;
    int version;
    uint64_t alignment;
    uint64_t data_offset;
    int n_kv, n_tensors;
    halo_gguf_kv *kv;
    halo_gguf_tensor *tensors;
    int *kv_sorted;     /* indices of kv by key */
    int *tensor_sorted; /* indices of tensors by name */
    char *names;        /* every key and tensor name, NUL-terminated */
};

enum {
    MAX_ITEMS = 1 << 20,      /* keys or tensors */
    MAX_KEY_BYTES = 1 << 16,  /* a key's length */
    MAX_NAME_BYTES = 1 << 10, /* a tensor name's length */
    MAX_DIMS = 4,
};

static const size_t VALUE_BYTES[HALO_GGUF_VALUE_TYPE_COUNT_] = {1, 1, 2, 2, 4, 4, 4,
                                                                1, 0, 0, 8, 8, 8};

static const char *const VALUE_NAMES[HALO_GGUF_VALUE_TYPE_COUNT_] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};

static const char *value_name(int t) {
    return t >= 0 && t < HALO_GGUF_VALUE_TYPE_COUNT_ ? VALUE_NAMES[t] : "unknown";
}

/* ==== Reading ==== */

typedef struct cursor {
    const unsigned char *p;
    size_t pos, n;
} cursor;

static int has(const cursor *c, uint64_t k) {
    return k <= (uint64_t)(c->n - c->pos);
}

static uint32_t rd_u32(cursor *c) {
    uint32_t v = halo_get_u32(c->p + c->pos);
    c->pos += 4;
    return v;
}

static uint64_t rd_u64(cursor *c) {
    uint64_t v = halo_get_u64(c->p + c->pos);
    c->pos += 8;
    return v;
}

/* Reads a string's length and checks the bytes are there; *s points at them. */
static int rd_str(cursor *c, uint64_t max, const unsigned char **s, uint64_t *len) {
    if (!has(c, 8))
        return -1;
    uint64_t n = rd_u64(c);
    if (n > max || !has(c, n))
        return -1;
    *s = c->p + c->pos;
    *len = n;
    c->pos += (size_t)n;
    return 0;
}

/* qsort has no context argument in C11: (name, index) pairs are sorted instead. */
typedef struct name_idx {
    const char *name;
    int idx;
} name_idx;

static int cmp_name_idx(const void *a, const void *b) {
    return strcmp(((const name_idx *)a)->name, ((const name_idx *)b)->name);
}

typedef struct off_idx {
    uint64_t off;
    int idx;
} off_idx;

static int cmp_off_idx(const void *a, const void *b) {
    uint64_t x = ((const off_idx *)a)->off, y = ((const off_idx *)b)->off;
    return (x > y) - (x < y);
}

/* Sorts `n` names into `order`, fails when two are equal (*dup receives one of them). */
static int sort_unique(const char *const *names, int n, int *order, const char **dup) {
    name_idx *t = malloc((size_t)(n ? n : 1) * sizeof *t);
    if (!t)
        return -2;
    for (int i = 0; i < n; i++)
        t[i] = (name_idx){names[i], i};
    qsort(t, (size_t)n, sizeof *t, cmp_name_idx);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        order[i] = t[i].idx;
        if (i > 0 && strcmp(t[i].name, t[i - 1].name) == 0 && rc == 0) {
            *dup = t[i].name;
            rc = -1;
        }
    }
    free(t);
    return rc;
}

/* Skips one value of type `type` (not an array) at the cursor. */
static int skip_scalar(cursor *c, int type) {
    if (type == HALO_GGUF_STRING) {
        const unsigned char *s;
        uint64_t len;
        return rd_str(c, UINT64_MAX, &s, &len);
    }
    size_t k = VALUE_BYTES[type];
    if (!has(c, k))
        return -1;
    c->pos += k;
    return 0;
}

/* Reads the name of item i (a key or a tensor, `kind`): a string of 1 to max_bytes bytes
   without a NUL, copied NUL-terminated to *names_end, which moves past it; *out points at
   the copy. */
static int read_name(cursor *c, const char *what, const char *kind, int i, int max_bytes,
                     char **names_end, const char **out, halo_err *err) {
    const unsigned char *s;
    uint64_t len;
    if (rd_str(c, (uint64_t)max_bytes, &s, &len) != 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: %s %d: name truncated or longer than %d bytes",
                         what, kind, i, max_bytes);
    if (len == 0 || memchr(s, 0, (size_t)len))
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: %s %d: name is empty or holds a NUL byte", what,
                         kind, i);
    memcpy(*names_end, s, (size_t)len);
    (*names_end)[len] = '\0';
    *out = *names_end;
    *names_end += len + 1;
    return HALO_OK;
}

static int parse_kv(halo_gguf *g, cursor *c, char **names_end, halo_err *err) {
    const char *what = g->what;
    for (int i = 0; i < g->n_kv; i++) {
        halo_gguf_kv *kv = &g->kv[i];
        int rc = read_name(c, what, "key", i, MAX_KEY_BYTES, names_end, &kv->key, err);
        if (rc != HALO_OK)
            return rc;
        if (!has(c, 4))
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key '%s': value type truncated", what,
                             kv->key);
        uint32_t type = rd_u32(c);
        if (type >= HALO_GGUF_VALUE_TYPE_COUNT_)
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key '%s': unknown value type %" PRIu32,
                             what, kv->key, type);
        kv->type = (int)type;
        kv->n = 1;
        kv->elem_type = -1;
        if (type == HALO_GGUF_ARRAY) {
            if (!has(c, 12))
                return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key '%s': array header truncated", what,
                                 kv->key);
            uint32_t et = rd_u32(c);
            uint64_t n = rd_u64(c);
            if (et >= HALO_GGUF_VALUE_TYPE_COUNT_ || et == HALO_GGUF_ARRAY)
                return HALO_FAIL(err, HALO_ERR_FORMAT,
                                 "%s: key '%s': array of %s elements (type %" PRIu32
                                 ") is not supported",
                                 what, kv->key, value_name((int)et), et);
            kv->elem_type = (int)et;
            kv->n = n;
            kv->value = c->p + c->pos;
            uint64_t min_bytes = et == HALO_GGUF_STRING ? 8 : VALUE_BYTES[et];
            if (n > (uint64_t)(c->n - c->pos) / min_bytes)
                return HALO_FAIL(err, HALO_ERR_FORMAT,
                                 "%s: key '%s': array of %" PRIu64
                                 " %s elements runs past the end of the file",
                                 what, kv->key, n, value_name((int)et));
            if (et == HALO_GGUF_STRING) {
                for (uint64_t k = 0; k < n; k++)
                    if (skip_scalar(c, HALO_GGUF_STRING) != 0)
                        return HALO_FAIL(err, HALO_ERR_FORMAT,
                                         "%s: key '%s': string %" PRIu64
                                         " of the array runs past the end of the file",
                                         what, kv->key, k);
            } else {
                c->pos += (size_t)(n * min_bytes);
            }
        } else {
            kv->value = c->p + c->pos;
            if (skip_scalar(c, (int)type) != 0)
                return HALO_FAIL(err, HALO_ERR_FORMAT,
                                 "%s: key '%s': %s value runs past the end of the file", what,
                                 kv->key, value_name((int)type));
            if (type == HALO_GGUF_BOOL && kv->value[0] > 1)
                return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key '%s': bool value %u is not 0 or 1",
                                 what, kv->key, kv->value[0]);
        }
    }
    return HALO_OK;
}

static int parse_tensors(halo_gguf *g, cursor *c, char **names_end, halo_err *err) {
    const char *what = g->what;
    for (int i = 0; i < g->n_tensors; i++) {
        halo_gguf_tensor *t = &g->tensors[i];
        int rc = read_name(c, what, "tensor", i, MAX_NAME_BYTES, names_end, &t->name, err);
        if (rc != HALO_OK)
            return rc;
        if (!has(c, 4))
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: tensor '%s': info truncated", what,
                             t->name);
        uint32_t nd = rd_u32(c);
        if (nd < 1 || nd > MAX_DIMS)
            return HALO_FAIL(err, HALO_ERR_FORMAT,
                             "%s: tensor '%s': %" PRIu32 " dimensions, expected 1..%d", what,
                             t->name, nd, MAX_DIMS);
        t->n_dims = (int)nd;
        if (!has(c, 8 * (uint64_t)nd + 12))
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: tensor '%s': info truncated", what,
                             t->name);
        uint64_t count = 1;
        for (int d = 0; d < MAX_DIMS; d++) {
            uint64_t v = d < (int)nd ? rd_u64(c) : 1;
            if (v < 1)
                return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: tensor '%s': dimension %d is 0", what,
                                 t->name, d);
            if (v > (uint64_t)INT64_MAX / count) /* the product so far names the culprit too */
                return HALO_FAIL(err, HALO_ERR_FORMAT,
                                 "%s: tensor '%s': dimension %d is %" PRIu64 ", and the dimensions "
                                 "before it hold %" PRIu64 " elements: the count overflows",
                                 what, t->name, d, v, count);
            t->ne[d] = (int64_t)v;
            count *= v;
        }
        uint32_t type = rd_u32(c);
        t->offset = rd_u64(c);
        int block = halo_type_block((int)type);
        if (type > 1024 || block == 0)
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: tensor '%s': unknown tensor type %" PRIu32,
                             what, t->name, type);
        t->type = (int)type;
        if (t->ne[0] % block != 0)
            return HALO_FAIL(err, HALO_ERR_FORMAT,
                             "%s: tensor '%s': row of %" PRId64
                             " elements is not a whole number of %s blocks of %d",
                             what, t->name, t->ne[0], halo_type_name(t->type), block);
        uint64_t bb = halo_type_block_bytes(t->type);
        if (count / (uint64_t)block > ((uint64_t)1 << 62) / bb)
            return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: tensor '%s': size overflows", what,
                             t->name);
        t->n_bytes = count / (uint64_t)block * bb;
        if (t->offset % g->alignment != 0)
            return HALO_FAIL(err, HALO_ERR_FORMAT,
                             "%s: tensor '%s': offset %" PRIu64
                             " is not a multiple of the alignment %" PRIu64,
                             what, t->name, t->offset, g->alignment);
    }
    return HALO_OK;
}

static int find_alignment(halo_gguf *g, halo_err *err) {
    g->alignment = HALO_GGUF_DEFAULT_ALIGNMENT;
    for (int i = 0; i < g->n_kv; i++) {
        const halo_gguf_kv *kv = &g->kv[i];
        if (strcmp(kv->key, "general.alignment") != 0)
            continue;
        if (kv->type != HALO_GGUF_U32)
            return HALO_FAIL(err, HALO_ERR_FORMAT,
                             "%s: key 'general.alignment' is %s, expected u32", g->what,
                             value_name(kv->type));
        uint32_t a = halo_get_u32(kv->value);
        if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 20))
            return HALO_FAIL(err, HALO_ERR_FORMAT,
                             "%s: key 'general.alignment' is %" PRIu32
                             ", expected a power of two up to 2^20",
                             g->what, a);
        g->alignment = a;
    }
    return HALO_OK;
}

static int check_layout(halo_gguf *g, halo_err *err) {
    const char *what = g->what;
    uint64_t room = g->n_bytes >= g->data_offset ? g->n_bytes - g->data_offset : 0;
    if (g->n_tensors > 0 && g->data_offset > g->n_bytes)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: the data section would start at byte %" PRIu64
                         ", past the end of the file (%zu bytes)",
                         what, g->data_offset, g->n_bytes);
    off_idx *o = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *o);
    if (!o)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", what);
    int rc = HALO_OK;
    for (int i = 0; i < g->n_tensors && rc == HALO_OK; i++) {
        halo_gguf_tensor *t = &g->tensors[i];
        if (t->offset > room || t->n_bytes > room - t->offset)
            rc = HALO_FAIL(err, HALO_ERR_FORMAT,
                           "%s: tensor '%s': %" PRIu64 " bytes at offset %" PRIu64
                           " run past the end of the file (%" PRIu64
                           " bytes of data): truncated file or wrong offset",
                           what, t->name, t->n_bytes, t->offset, room);
        o[i] = (off_idx){t->offset, i};
    }
    if (rc == HALO_OK) {
        qsort(o, (size_t)g->n_tensors, sizeof *o, cmp_off_idx);
        for (int i = 1; i < g->n_tensors && rc == HALO_OK; i++) {
            const halo_gguf_tensor *a = &g->tensors[o[i - 1].idx], *b = &g->tensors[o[i].idx];
            if (a->offset + a->n_bytes > b->offset)
                rc = HALO_FAIL(err, HALO_ERR_FORMAT,
                               "%s: tensors '%s' and '%s' overlap (offsets %" PRIu64 " and %" PRIu64
                               ")",
                               what, a->name, b->name, a->offset, b->offset);
        }
    }
    free(o);
    for (int i = 0; rc == HALO_OK && i < g->n_tensors; i++) {
        halo_gguf_tensor *t = &g->tensors[i];
        t->offset += g->data_offset;
        t->data = g->bytes + t->offset;
    }
    return rc;
}

static int parse_all(halo_gguf *g, halo_err *err) {
    const char *what = g->what;
    cursor c = {g->bytes, 0, g->n_bytes};
    if (g->n_bytes < 24)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: %zu bytes, shorter than a GGUF header (24)",
                         what, g->n_bytes);
    if (memcmp(g->bytes, "GGUF", 4) != 0)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: not a GGUF file (no 'GGUF' magic)", what);
    c.pos = 4;
    uint32_t version = rd_u32(&c);
    if (version != 2 && version != 3)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: GGUF version %" PRIu32 " is not supported (2 and 3 are)", what,
                         version);
    g->version = (int)version;
    uint64_t n_tensors = rd_u64(&c), n_kv = rd_u64(&c);
    /* A key-value pair takes at least 13 bytes, a tensor info at least 29. */
    if (n_kv > MAX_ITEMS || n_kv > (g->n_bytes - c.pos) / 13)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: %" PRIu64 " key-value pairs cannot fit in the file", what, n_kv);
    if (n_tensors > MAX_ITEMS || n_tensors > (g->n_bytes - c.pos) / 29)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: %" PRIu64 " tensors cannot fit in the file",
                         what, n_tensors);
    g->n_kv = (int)n_kv;
    g->n_tensors = (int)n_tensors;
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    g->kv_sorted = calloc(n_kv ? n_kv : 1, sizeof *g->kv_sorted);
    g->tensor_sorted = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensor_sorted);
    /* Names are copies of bytes of the file plus a NUL each: bounded by the file size. */
    g->names = malloc(g->n_bytes + (size_t)n_kv + (size_t)n_tensors + 1);
    if (!g->kv || !g->tensors || !g->kv_sorted || !g->tensor_sorted || !g->names)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", what);
    char *names_end = g->names;
    int rc = parse_kv(g, &c, &names_end, err);
    if (rc != HALO_OK)
        return rc;
    rc = find_alignment(g, err);
    if (rc != HALO_OK)
        return rc;
    rc = parse_tensors(g, &c, &names_end, err);
    if (rc != HALO_OK)
        return rc;
    g->data_offset = ((uint64_t)c.pos + g->alignment - 1) / g->alignment * g->alignment;

    size_t n_names = (size_t)(g->n_kv > g->n_tensors ? g->n_kv : g->n_tensors) + 1;
    const char **names = malloc(n_names * sizeof *names);
    if (!names)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", what);
    const char *dup = NULL;
    for (int i = 0; i < g->n_kv; i++)
        names[i] = g->kv[i].key;
    int s = sort_unique(names, g->n_kv, g->kv_sorted, &dup);
    if (s == -1)
        rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key '%s' appears twice", what, dup);
    if (s == 0) {
        for (int i = 0; i < g->n_tensors; i++)
            names[i] = g->tensors[i].name;
        s = sort_unique(names, g->n_tensors, g->tensor_sorted, &dup);
        if (s == -1)
            rc = HALO_FAIL(err, HALO_ERR_FORMAT, "%s: tensor '%s' appears twice", what, dup);
    }
    if (s == -2)
        rc = HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", what);
    free(names);
    if (rc != HALO_OK)
        return rc;
    return check_layout(g, err);
}

int halo_gguf_parse(halo_gguf **out, const void *data, size_t n_bytes, const char *what,
                    halo_err *err) {
    *out = NULL;
    halo_gguf *g = calloc(1, sizeof *g);
    if (!g)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", what);
    g->what = strdup(what);
    g->bytes = data;
    g->n_bytes = n_bytes;
    int rc =
        g->what ? parse_all(g, err) : HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", what);
    if (rc != HALO_OK) {
        halo_gguf_free(g);
        return rc;
    }
    *out = g;
    return HALO_OK;
}

int halo_gguf_open(halo_gguf **out, const char *path, halo_err *err) {
    *out = NULL;
    int fd;
    uint64_t size;
    int rc = halo_file_open_regular(path, &fd, &size, err);
    if (rc != HALO_OK)
        return rc;
    if (size < 24 || size > (uint64_t)SIZE_MAX) {
        (void)close(fd);
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: %" PRIu64 " bytes, shorter than a GGUF header (24)", path, size);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    (void)close(fd);
    if (map == MAP_FAILED)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: cannot map: %s", path, strerror(map_errno));
    rc = halo_gguf_parse(out, map, (size_t)size, path, err);
    if (rc != HALO_OK) {
        (void)munmap(map, (size_t)size);
        return rc;
    }
    (*out)->map = map;
    return HALO_OK;
}

void halo_gguf_free(halo_gguf *g) {
    if (!g)
        return;
    if (g->map)
        (void)munmap(g->map, g->n_bytes);
    free(g->what);
    free(g->kv);
    free(g->tensors);
    free(g->kv_sorted);
    free(g->tensor_sorted);
    free(g->names);
    free(g);
}

const char *halo_gguf_what(const halo_gguf *g) {
    return g->what;
}

int halo_gguf_version(const halo_gguf *g) {
    return g->version;
}

uint64_t halo_gguf_alignment(const halo_gguf *g) {
    return g->alignment;
}

uint64_t halo_gguf_data_offset(const halo_gguf *g) {
    return g->data_offset;
}

const void *halo_gguf_bytes(const halo_gguf *g, size_t *n_bytes) {
    if (n_bytes)
        *n_bytes = g->n_bytes;
    return g->bytes;
}

int halo_gguf_n_kv(const halo_gguf *g) {
    return g->n_kv;
}

const halo_gguf_kv *halo_gguf_kv_at(const halo_gguf *g, int i) {
    return i >= 0 && i < g->n_kv ? &g->kv[i] : NULL;
}

int halo_gguf_n_tensors(const halo_gguf *g) {
    return g->n_tensors;
}

const halo_gguf_tensor *halo_gguf_tensor_at(const halo_gguf *g, int i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

static const char *kv_key(const halo_gguf *g, int i) {
    return g->kv[i].key;
}

static const char *tensor_name(const halo_gguf *g, int i) {
    return g->tensors[i].name;
}

/* The item named `name` by binary search over `order` (n indices sorted by name_of), or -1. */
static int find_sorted(const halo_gguf *g, const int *order, int n,
                       const char *(*name_of)(const halo_gguf *, int), const char *name) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(name_of(g, order[mid]), name);
        if (c == 0)
            return order[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const halo_gguf_kv *halo_gguf_find(const halo_gguf *g, const char *key) {
    int i = find_sorted(g, g->kv_sorted, g->n_kv, kv_key, key);
    return i >= 0 ? &g->kv[i] : NULL;
}

const halo_gguf_tensor *halo_gguf_find_tensor(const halo_gguf *g, const char *name) {
    int i = find_sorted(g, g->tensor_sorted, g->n_tensors, tensor_name, name);
    return i >= 0 ? &g->tensors[i] : NULL;
}

static int is_int_type(int t) {
    return t == HALO_GGUF_U8 || t == HALO_GGUF_I8 || t == HALO_GGUF_U16 || t == HALO_GGUF_I16 ||
           t == HALO_GGUF_U32 || t == HALO_GGUF_I32 || t == HALO_GGUF_U64 || t == HALO_GGUF_I64;
}

/* Integer value of type t at p; *ok = 0 for a u64 beyond INT64_MAX. */
static int64_t int_at(int t, const unsigned char *p, int *ok) {
    *ok = 1;
    switch (t) {
    case HALO_GGUF_U8:
        return p[0];
    case HALO_GGUF_I8:
        return (int8_t)p[0];
    case HALO_GGUF_U16:
        return halo_get_u16(p);
    case HALO_GGUF_I16:
        return (int16_t)halo_get_u16(p);
    case HALO_GGUF_U32:
        return halo_get_u32(p);
    case HALO_GGUF_I32:
        return halo_get_i32(p);
    case HALO_GGUF_U64: {
        uint64_t v = halo_get_u64(p);
        if (v > (uint64_t)INT64_MAX) {
            *ok = 0;
            return INT64_MAX;
        }
        return (int64_t)v;
    }
    case HALO_GGUF_I64: {
        uint64_t v = halo_get_u64(p);
        int64_t s;
        memcpy(&s, &v, sizeof s);
        return s;
    }
    default:
        *ok = 0;
        return 0;
    }
}

static int get_int(const halo_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out,
                   int optional, halo_err *err) {
    const halo_gguf_kv *kv = halo_gguf_find(g, key);
    if (!kv)
        return optional ? HALO_OK
                        : HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key '%s' is missing", g->what, key);
    if (kv->type == HALO_GGUF_ARRAY || !is_int_type(kv->type))
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key '%s' is %s, expected an integer", g->what,
                         key, kv->type == HALO_GGUF_ARRAY ? "an array" : value_name(kv->type));
    int ok;
    int64_t v = int_at(kv->type, kv->value, &ok);
    if (!ok || v < lo || v > hi)
        return HALO_FAIL(err, HALO_ERR_FORMAT,
                         "%s: key '%s' is %" PRId64 ", expected %" PRId64 "..%" PRId64, g->what,
                         key, v, lo, hi);
    *out = v;
    return HALO_OK;
}

int halo_gguf_get_int(const halo_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out,
                      halo_err *err) {
    return get_int(g, key, lo, hi, out, 0, err);
}

int halo_gguf_get_int_opt(const halo_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out,
                          halo_err *err) {
    return get_int(g, key, lo, hi, out, 1, err);
}

int halo_gguf_get_f32_opt(const halo_gguf *g, const char *key, float *out, halo_err *err) {
    const halo_gguf_kv *kv = halo_gguf_find(g, key);
    if (!kv)
        return HALO_OK;
    double v;
    if (kv->type == HALO_GGUF_F32) {
        v = (double)halo_get_f32(kv->value);
    } else if (kv->type == HALO_GGUF_F64) {
        uint64_t u = halo_get_u64(kv->value);
        memcpy(&v, &u, sizeof v);
    } else {
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key '%s' is %s, expected f32", g->what, key,
                         value_name(kv->type));
    }
    if (!isfinite(v) || fabs(v) > 3.4e38)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key '%s' is not a finite float", g->what, key);
    *out = (float)v;
    return HALO_OK;
}

int halo_gguf_get_bool_opt(const halo_gguf *g, const char *key, int *out, halo_err *err) {
    const halo_gguf_kv *kv = halo_gguf_find(g, key);
    if (!kv)
        return HALO_OK;
    if (kv->type != HALO_GGUF_BOOL)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key '%s' is %s, expected bool", g->what, key,
                         value_name(kv->type));
    *out = kv->value[0];
    return HALO_OK;
}

int halo_gguf_get_str(const halo_gguf *g, const char *key, const char **s, size_t *len,
                      halo_err *err) {
    const halo_gguf_kv *kv = halo_gguf_find(g, key);
    if (!kv)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key '%s' is missing", g->what, key);
    if (kv->type != HALO_GGUF_STRING)
        return HALO_FAIL(err, HALO_ERR_FORMAT, "%s: key '%s' is %s, expected a string", g->what,
                         key, value_name(kv->type));
    *len = (size_t)halo_get_u64(kv->value);
    *s = (const char *)kv->value + 8;
    return HALO_OK;
}

double halo_gguf_array_num(const halo_gguf_kv *kv, uint64_t i) {
    const unsigned char *p = kv->value + i * VALUE_BYTES[kv->elem_type];
    if (kv->elem_type == HALO_GGUF_F32)
        return (double)halo_get_f32(p);
    if (kv->elem_type == HALO_GGUF_F64) {
        uint64_t u = halo_get_u64(p);
        double v;
        memcpy(&v, &u, sizeof v);
        return v;
    }
    if (kv->elem_type == HALO_GGUF_BOOL)
        return p[0];
    int ok;
    return (double)int_at(kv->elem_type, p, &ok);
}

void halo_gguf_array_str_next(const halo_gguf_kv *kv, uint64_t *pos, const char **s, size_t *len) {
    const unsigned char *p = kv->value + *pos;
    *len = (size_t)halo_get_u64(p);
    *s = (const char *)p + 8;
    *pos += 8 + *len;
}

/* ==== Writing ==== */

typedef struct wtensor {
    char *name;
    int type, n_dims;
    int64_t ne[4];
    uint64_t n_bytes, offset;
} wtensor;

struct halo_gguf_writer {
    char *path;
    halo_file_out out;        /* the file under its temporary name until finish renames it */
    FILE *f;                  /* out.f */
    halo_byte_array kv_bytes; /* the key-value section as written so far */
    uint64_t n_kv;
    wtensor *t;
    int n_t, cap_t;
    int cur;           /* tensor being written */
    uint64_t cur_done; /* its bytes written so far */
    uint64_t pos;      /* bytes written to the file */
    int failed;        /* a put ran out of memory */
    int began;
    halo_err err;
};

int halo_gguf_writer_new(halo_gguf_writer **out, const char *path, halo_err *err) {
    *out = NULL;
    halo_gguf_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", path);
    }
    /* A regular file only: a FIFO or device named as the output is refused at once. The
       content goes to a temporary file beside it, renamed over `path` only when complete: a
       failed write (a full disk, the file-size limit) leaves whatever `path` held, and an
       input mapped from `path` itself is never truncated under its reader. */
    int rc = halo_file_out_open(&w->out, path, 0644, err);
    w->f = w->out.f;
    if (rc != HALO_OK) {
        free(w->path);
        free(w);
        return rc;
    }
    *out = w;
    return HALO_OK;
}

static int put_bytes(halo_gguf_writer *w, const void *p, size_t n) {
    if (w->failed)
        return -1;
    if (halo__append(&w->kv_bytes, p, n, 4096) != 0) {
        w->failed = 1;
        return -1;
    }
    return 0;
}

static int put_u32le(halo_gguf_writer *w, uint32_t v) {
    unsigned char b[4];
    halo_put_u32(b, v);
    return put_bytes(w, b, 4);
}

static int put_f32le(halo_gguf_writer *w, float v) {
    unsigned char b[4];
    halo_put_f32(b, v);
    return put_bytes(w, b, 4);
}

static int put_u64le(halo_gguf_writer *w, uint64_t v) {
    unsigned char b[8];
    halo_put_u64(b, v);
    return put_bytes(w, b, 8);
}

static int put_string(halo_gguf_writer *w, const char *s, size_t n) {
    return put_u64le(w, n) | put_bytes(w, s, n);
}

static int put_key(halo_gguf_writer *w, const char *key, int type) {
    w->n_kv++;
    return put_string(w, key, strlen(key)) | put_u32le(w, (uint32_t)type);
}

static int put_status(const halo_gguf_writer *w) {
    return w->failed ? HALO_ERR_NOMEM : HALO_OK;
}

int halo_gguf_put_u32(halo_gguf_writer *w, const char *key, uint32_t v) {
    (void)(put_key(w, key, HALO_GGUF_U32) | put_u32le(w, v));
    return put_status(w);
}

int halo_gguf_put_i32(halo_gguf_writer *w, const char *key, int32_t v) {
    (void)(put_key(w, key, HALO_GGUF_I32) | put_u32le(w, (uint32_t)v));
    return put_status(w);
}

int halo_gguf_put_f32(halo_gguf_writer *w, const char *key, float v) {
    (void)(put_key(w, key, HALO_GGUF_F32) | put_f32le(w, v));
    return put_status(w);
}

int halo_gguf_put_bool(halo_gguf_writer *w, const char *key, int v) {
    unsigned char b = v ? 1 : 0;
    (void)(put_key(w, key, HALO_GGUF_BOOL) | put_bytes(w, &b, 1));
    return put_status(w);
}

int halo_gguf_put_str(halo_gguf_writer *w, const char *key, const char *s) {
    (void)(put_key(w, key, HALO_GGUF_STRING) | put_string(w, s, strlen(s)));
    return put_status(w);
}

static int put_array_head(halo_gguf_writer *w, const char *key, int et, uint64_t n) {
    return put_key(w, key, HALO_GGUF_ARRAY) | put_u32le(w, (uint32_t)et) | put_u64le(w, n);
}

int halo_gguf_put_arr_str(halo_gguf_writer *w, const char *key, const char *const *s,
                          const size_t *len, uint64_t n) {
    (void)put_array_head(w, key, HALO_GGUF_STRING, n);
    for (uint64_t i = 0; i < n; i++)
        (void)put_string(w, s[i], len[i]);
    return put_status(w);
}

int halo_gguf_put_arr_f32(halo_gguf_writer *w, const char *key, const float *v, uint64_t n) {
    (void)put_array_head(w, key, HALO_GGUF_F32, n);
    for (uint64_t i = 0; i < n; i++)
        (void)put_f32le(w, v[i]);
    return put_status(w);
}

int halo_gguf_put_arr_i32(halo_gguf_writer *w, const char *key, const int32_t *v, uint64_t n) {
    (void)put_array_head(w, key, HALO_GGUF_I32, n);
    for (uint64_t i = 0; i < n; i++)
        (void)put_u32le(w, (uint32_t)v[i]);
    return put_status(w);
}

static uint64_t pad_to(uint64_t n) {
    return (n + HALO_GGUF_DEFAULT_ALIGNMENT - 1) / HALO_GGUF_DEFAULT_ALIGNMENT *
           HALO_GGUF_DEFAULT_ALIGNMENT;
}

int halo_gguf_add_tensor(halo_gguf_writer *w, const char *name, int type, int n_dims,
                         const int64_t *ne) {
    HALO_ASSERT(!w->began && n_dims >= 1 && n_dims <= 4 && halo_type_block(type) > 0);
    if (w->failed)
        return HALO_ERR_NOMEM;
    if (w->n_t == w->cap_t) {
        int cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *t = realloc(w->t, (size_t)cap * sizeof *t);
        if (!t) {
            w->failed = 1;
            return HALO_ERR_NOMEM;
        }
        w->t = t;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) {
        w->failed = 1;
        return HALO_ERR_NOMEM;
    }
    t->type = type;
    t->n_dims = n_dims;
    uint64_t count = 1;
    for (int d = 0; d < 4; d++) {
        t->ne[d] = d < n_dims ? ne[d] : 1;
        count *= (uint64_t)t->ne[d];
    }
    HALO_ASSERT(t->ne[0] % halo_type_block(type) == 0);
    t->n_bytes = count / (uint64_t)halo_type_block(type) * halo_type_block_bytes(type);
    t->offset = w->n_t ? pad_to(w->t[w->n_t - 1].offset + w->t[w->n_t - 1].n_bytes) : 0;
    w->n_t++;
    return HALO_OK;
}

static int write_file(halo_gguf_writer *w, const void *p, size_t n, halo_err *err) {
    if (n && fwrite(p, 1, n, w->f) != n)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    w->pos += n;
    return HALO_OK;
}

static int write_pad(halo_gguf_writer *w, halo_err *err) {
    static const unsigned char zeros[HALO_GGUF_DEFAULT_ALIGNMENT];
    return write_file(w, zeros, (size_t)(pad_to(w->pos) - w->pos), err);
}

int halo_gguf_begin_data(halo_gguf_writer *w, halo_err *err) {
    HALO_ASSERT(!w->began);
    w->began = 1;
    if (w->failed)
        return HALO_FAIL(err, HALO_ERR_NOMEM, "%s: out of memory", w->path);
    unsigned char h[24];
    memcpy(h, "GGUF", 4);
    halo_put_u32(h + 4, 3);
    halo_put_u64(h + 8, (uint64_t)w->n_t);
    halo_put_u64(h + 16, w->n_kv);
    int rc = write_file(w, h, sizeof h, err);
    if (rc == HALO_OK)
        rc = write_file(w, w->kv_bytes.p, w->kv_bytes.n, err);
    for (int i = 0; rc == HALO_OK && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        size_t len = strlen(t->name);
        unsigned char b[8];
        halo_put_u64(b, len);
        rc = write_file(w, b, 8, err);
        if (rc == HALO_OK)
            rc = write_file(w, t->name, len, err);
        halo_put_u32(b, (uint32_t)t->n_dims);
        if (rc == HALO_OK)
            rc = write_file(w, b, 4, err);
        for (int d = 0; rc == HALO_OK && d < t->n_dims; d++) {
            halo_put_u64(b, (uint64_t)t->ne[d]);
            rc = write_file(w, b, 8, err);
        }
        halo_put_u32(b, (uint32_t)t->type);
        if (rc == HALO_OK)
            rc = write_file(w, b, 4, err);
        halo_put_u64(b, t->offset);
        if (rc == HALO_OK)
            rc = write_file(w, b, 8, err);
    }
    if (rc == HALO_OK)
        rc = write_pad(w, err);
    w->pos = 0; /* from here on: offsets in the data section */
    if (rc != HALO_OK)
        w->failed = 2;
    return rc;
}

int halo_gguf_write_data(halo_gguf_writer *w, const void *data, size_t n, halo_err *err) {
    HALO_ASSERT(w->began);
    if (w->failed)
        return HALO_FAIL(err, HALO_ERR_IO, "%s: an earlier write failed", w->path);
    const unsigned char *p = data;
    while (n > 0) {
        if (w->cur >= w->n_t)
            return HALO_FAIL(err, HALO_ERR_ARG, "%s: more data than the declared tensors", w->path);
        wtensor *t = &w->t[w->cur];
        uint64_t left = t->n_bytes - w->cur_done;
        size_t k = n < left ? n : (size_t)left;
        int rc = write_file(w, p, k, err);
        if (rc != HALO_OK) {
            w->failed = 2;
            return rc;
        }
        p += k;
        n -= k;
        w->cur_done += k;
        if (w->cur_done == t->n_bytes) {
            rc = write_pad(w, err);
            if (rc != HALO_OK) {
                w->failed = 2;
                return rc;
            }
            w->cur++;
            w->cur_done = 0;
        }
    }
    return HALO_OK;
}

int halo_gguf_writer_finish(halo_gguf_writer *w, int ok, halo_err *err) {
    int rc = HALO_OK;
    if (ok && w->failed)
        rc = HALO_FAIL(err, HALO_ERR_IO, "%s: writing failed", w->path);
    else if (ok && (!w->began || w->cur != w->n_t))
        rc = HALO_FAIL(err, HALO_ERR_ARG, "%s: tensor data incomplete (%d of %d tensors)", w->path,
                       w->cur, w->n_t);
    if (rc == HALO_OK && ok)
        rc = halo_file_out_commit(&w->out, err); /* flushed, synced, renamed; else removed */
    halo_file_out_abort(&w->out);                /* after a commit: a no-op */
    for (int i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->t);
    free(w->kv_bytes.p);
    free(w->path);
    free(w);
    return rc;
}
