/*
 * GGUF files (the format of llama.cpp and ggml, versions 2 and 3): reading with full
 * validation, and writing.
 *
 * Layout (little-endian): "GGUF", uint32 version, uint64 tensor count, uint64 key-value
 * count; the key-value pairs (string key, uint32 value type, value); the tensor infos
 * (string name, uint32 n_dims, uint64 dims[n_dims] with the fastest-varying first, uint32
 * GGML type, uint64 offset from the start of the data section); padding to the alignment
 * (the key general.alignment, default 32); the data section. A string is a uint64 length and
 * that many bytes (no terminator). Value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32,
 * 6 f32, 7 bool, 8 string, 9 array (uint32 element type, uint64 count, elements; arrays of
 * arrays are refused), 10 u64, 11 i64, 12 f64.
 *
 * Reading maps the file read-only and checks everything before anything is used: every
 * length against what is left of the file, known value and tensor types, unique keys and
 * tensor names, 1 to 4 dimensions each at least 1 whose product cannot overflow, rows that
 * are whole blocks of the type, offsets aligned, inside the file and not overlapping.
 * Every message names the file and the key or tensor at fault. Tensor data stays in the
 * mapping; nothing is copied.
 *
 * This module knows the container only; core/model.c binds a LLaMA model to it and
 * core/tokenizer.c reads a vocabulary from it.
 */
#ifndef HALO_GGUF_H
#define HALO_GGUF_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

enum halo_gguf_value_type {
    HALO_GGUF_U8 = 0,
    HALO_GGUF_I8 = 1,
    HALO_GGUF_U16 = 2,
    HALO_GGUF_I16 = 3,
    HALO_GGUF_U32 = 4,
    HALO_GGUF_I32 = 5,
    HALO_GGUF_F32 = 6,
    HALO_GGUF_BOOL = 7,
    HALO_GGUF_STRING = 8,
    HALO_GGUF_ARRAY = 9,
    HALO_GGUF_U64 = 10,
    HALO_GGUF_I64 = 11,
    HALO_GGUF_F64 = 12,
    HALO_GGUF_VALUE_TYPE_COUNT_ = 13
};

#define HALO_GGUF_DEFAULT_ALIGNMENT 32

/* One key-value pair; pointers into the mapping (valid as long as the file). */
typedef struct halo_gguf_kv {
    const char *key;            /* NUL-terminated copy */
    int type;                   /* enum halo_gguf_value_type */
    int elem_type;              /* arrays: the elements' type */
    uint64_t n;                 /* arrays: the element count; 1 otherwise */
    const unsigned char *value; /* the encoded value (arrays: the first element) */
} halo_gguf_kv;

typedef struct halo_gguf_tensor {
    const char *name; /* NUL-terminated copy */
    int type;         /* GGML type (core/quant.h numbers); its layout is known */
    int n_dims;       /* 1..4 */
    int64_t ne[4];    /* dimensions, fastest first; unused ones are 1 */
    uint64_t offset;  /* from the start of the file */
    uint64_t n_bytes;
    const void *data; /* into the mapping */
} halo_gguf_tensor;

typedef struct halo_gguf halo_gguf;

/*
 * Maps and validates the GGUF file at `path`. Errors: HALO_ERR_IO (cannot open or map; not a
 * regular file), HALO_ERR_FORMAT (anything malformed; the message names the file and the key
 * or tensor), HALO_ERR_NOMEM. *out is NULL on failure.
 */
int halo_gguf_open(halo_gguf **out, const char *path, halo_err *err);

/* The same over bytes in memory (borrowed; they must outlive the object). `what` names
   them in messages. */
int halo_gguf_parse(halo_gguf **out, const void *data, size_t n_bytes, const char *what,
                    halo_err *err);

/* Unmaps (when opened from a file) and frees; NULL is a no-op. */
void halo_gguf_free(halo_gguf *g);

/* The name given to open or parse (for messages). */
const char *halo_gguf_what(const halo_gguf *g);

int halo_gguf_version(const halo_gguf *g);
uint64_t halo_gguf_alignment(const halo_gguf *g);
/* Where the data section starts (tensor offsets in halo_gguf_tensor include it). */
uint64_t halo_gguf_data_offset(const halo_gguf *g);
const void *halo_gguf_bytes(const halo_gguf *g, size_t *n_bytes);

int halo_gguf_n_kv(const halo_gguf *g);
const halo_gguf_kv *halo_gguf_kv_at(const halo_gguf *g, int i);
int halo_gguf_n_tensors(const halo_gguf *g);
const halo_gguf_tensor *halo_gguf_tensor_at(const halo_gguf *g, int i);

/* Lookups by exact name; NULL when absent. */
const halo_gguf_kv *halo_gguf_find(const halo_gguf *g, const char *key);
const halo_gguf_tensor *halo_gguf_find_tensor(const halo_gguf *g, const char *name);

/*
 * Typed getters. A missing key gives HALO_ERR_FORMAT unless `dflt` is given (the *_opt
 * forms keep *out and return HALO_OK); a key of the wrong type always fails, naming it.
 * Integers accept any integer type and check the value fits [lo, hi].
 */
int halo_gguf_get_int(const halo_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out,
                      halo_err *err);
int halo_gguf_get_int_opt(const halo_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out,
                          halo_err *err);
int halo_gguf_get_f32_opt(const halo_gguf *g, const char *key, float *out, halo_err *err);
int halo_gguf_get_bool_opt(const halo_gguf *g, const char *key, int *out, halo_err *err);
/* A string value: *s points into the mapping (not terminated), *len its length. */
int halo_gguf_get_str(const halo_gguf *g, const char *key, const char **s, size_t *len,
                      halo_err *err);

/* Element i of an array of numbers, converted (integers and floats of any width). The
   caller checked i < kv->n and that the element type is numeric. */
double halo_gguf_array_num(const halo_gguf_kv *kv, uint64_t i);

/* Iterates an array of strings: *pos starts at 0; each call gives the next element. */
void halo_gguf_array_str_next(const halo_gguf_kv *kv, uint64_t *pos, const char **s, size_t *len);

/* ==== Writing ==== */

typedef struct halo_gguf_writer halo_gguf_writer;

/* Starts a file at `path`, written under a temporary name beside it (core/file.h,
   halo_file_out) and renamed over `path` by halo_gguf_writer_finish once complete. Errors:
   HALO_ERR_IO (not a regular file, cannot create in its directory), HALO_ERR_NOMEM. */
int halo_gguf_writer_new(halo_gguf_writer **out, const char *path, halo_err *err);

/* Metadata, in the order written. Strings are given with their length. */
int halo_gguf_put_u32(halo_gguf_writer *w, const char *key, uint32_t v);
int halo_gguf_put_i32(halo_gguf_writer *w, const char *key, int32_t v);
int halo_gguf_put_f32(halo_gguf_writer *w, const char *key, float v);
int halo_gguf_put_bool(halo_gguf_writer *w, const char *key, int v);
int halo_gguf_put_str(halo_gguf_writer *w, const char *key, const char *s);
int halo_gguf_put_arr_str(halo_gguf_writer *w, const char *key, const char *const *s,
                          const size_t *len, uint64_t n);
int halo_gguf_put_arr_f32(halo_gguf_writer *w, const char *key, const float *v, uint64_t n);
int halo_gguf_put_arr_i32(halo_gguf_writer *w, const char *key, const int32_t *v, uint64_t n);

/* Declares the next tensor (its data comes later, in declaration order). */
int halo_gguf_add_tensor(halo_gguf_writer *w, const char *name, int type, int n_dims,
                         const int64_t *ne);

/* Writes the header, metadata and tensor infos; after it only tensor data may follow. */
int halo_gguf_begin_data(halo_gguf_writer *w, halo_err *err);

/* Appends `n` bytes of the current tensor's data; a tensor complete moves to the next
   (padding is written between tensors). */
int halo_gguf_write_data(halo_gguf_writer *w, const void *data, size_t n, halo_err *err);

/* Checks every declared tensor was written in full, closes the file, renames it to the
   path given to halo_gguf_writer_new and frees. On failure (or when `ok` is 0) the temporary
   file is removed and whatever that path held is left as it was. Returns the first error of
   the whole writer. */
int halo_gguf_writer_finish(halo_gguf_writer *w, int ok, halo_err *err);

#endif /* HALO_GGUF_H */
