/*
 * gguf_dump FILE: prints what halo's GGUF reader (core/gguf.h) sees in FILE, in the text form
 * tests/gguf_npm.mjs prints from the independent @huggingface/gguf parser, so that
 * tests/test_gguf_npm.sh can compare the two line by line: the header counts, every key
 * with its value (floats as their bit patterns; arrays as their length and an FNV-1a hash
 * of their elements), every tensor's dimensions, type and offset in the data section.
 */
#include "core/bytes.h"
#include "core/gguf.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static uint32_t fnv(uint32_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 16777619u;
    }
    return h;
}

/* A scalar of type t at p, as text. */
static void scalar(int t, const unsigned char *p, char *out, size_t cap) {
    switch (t) {
    case HALO_GGUF_F32:
        (void)snprintf(out, cap, "f32:%08" PRIx32, halo_get_u32(p));
        break;
    case HALO_GGUF_F64:
        (void)snprintf(out, cap, "f64:%016" PRIx64, halo_get_u64(p));
        break;
    case HALO_GGUF_BOOL:
        (void)snprintf(out, cap, "%s", p[0] ? "true" : "false");
        break;
    case HALO_GGUF_STRING: {
        size_t len = (size_t)halo_get_u64(p);
        (void)snprintf(out, cap, "str:%.*s", (int)(len < 200 ? len : 200), (const char *)p + 8);
        break;
    }
    case HALO_GGUF_U64:
        (void)snprintf(out, cap, "%" PRIu64, halo_get_u64(p));
        break;
    case HALO_GGUF_I64:
        (void)snprintf(out, cap, "%" PRId64, (int64_t)halo_get_u64(p));
        break;
    default: {
        halo_gguf_kv kv = {.type = HALO_GGUF_ARRAY, .elem_type = t, .n = 1, .value = p};
        (void)snprintf(out, cap, "%.0f", halo_gguf_array_num(&kv, 0));
    }
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        (void)fprintf(stderr, "usage: gguf_dump FILE\n");
        return 2;
    }
    halo_gguf *g = NULL;
    halo_err err = {0};
    if (halo_gguf_open(&g, argv[1], &err) != HALO_OK) {
        (void)fprintf(stderr, "gguf_dump: %s\n", err.msg);
        return 1;
    }
    uint64_t data = halo_gguf_data_offset(g);
    (void)printf("version %d\ntensor_count %d\nkv_count %d\ndata_offset %" PRIu64 "\n",
                 halo_gguf_version(g), halo_gguf_n_tensors(g), halo_gguf_n_kv(g), data);
    for (int i = 0; i < halo_gguf_n_kv(g); i++) {
        const halo_gguf_kv *kv = halo_gguf_kv_at(g, i);
        char v[256];
        if (kv->type != HALO_GGUF_ARRAY) {
            scalar(kv->type, kv->value, v, sizeof v);
            (void)printf("kv %s %s\n", kv->key, v);
            continue;
        }
        uint32_t h = 2166136261u;
        uint64_t pos = 0;
        for (uint64_t k = 0; k < kv->n; k++) {
            if (kv->elem_type == HALO_GGUF_STRING) {
                const char *s;
                size_t len;
                halo_gguf_array_str_next(kv, &pos, &s, &len);
                /* The npm parser decodes strings with TextDecoder, which drops a leading
                   byte-order mark (U+FEFF): token 30143 of the Llama 2 vocabulary is one. */
                if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
                    s += 3, len -= 3;
                h = fnv(h, s, len);
                h = fnv(h, "", 1);
            } else {
                size_t size = kv->elem_type == HALO_GGUF_F32 || kv->elem_type == HALO_GGUF_I32 ||
                                      kv->elem_type == HALO_GGUF_U32
                                  ? 4
                                  : 1;
                scalar(kv->elem_type, kv->value + pos, v, sizeof v);
                pos += size;
                h = fnv(h, v, strlen(v));
                h = fnv(h, "", 1);
            }
        }
        (void)printf("kv %s array n=%" PRIu64 " hash=%08" PRIx32 "\n", kv->key, kv->n, h);
    }
    for (int i = 0; i < halo_gguf_n_tensors(g); i++) {
        const halo_gguf_tensor *t = halo_gguf_tensor_at(g, i);
        (void)printf("tensor %s dims=", t->name);
        for (int d = 0; d < t->n_dims; d++)
            (void)printf("%s%" PRId64, d ? "," : "", t->ne[d]);
        (void)printf(" type=%d offset=%" PRIu64 "\n", t->type, t->offset - data);
    }
    halo_gguf_free(g);
    return 0;
}
