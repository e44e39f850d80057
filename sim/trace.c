/*
 * The trace recorder of one simulated run (sim/trace.h): a fixed array of events filled in
 * the order they happen, written as trace-event JSON at the end.
 */
#define _POSIX_C_SOURCE 200809L

#include "sim/trace.h"

#include "core/file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct trace_event {
    uint64_t start_ns, end_ns;
    int64_t arg;
    const char *name;
    int32_t node, peer;
    uint8_t track, instant;
} trace_event;

struct halo_trace {
    int n_nodes;
    long cap, n, dropped;
    trace_event *v; /* (cap) */
};

int halo_trace_new(halo_trace **out, int n_nodes, long max_events, halo_err *err) {
    *out = NULL;
    if (n_nodes < 1 || max_events < 1)
        return HALO_FAIL(err, HALO_ERR_ARG, "trace: %d devices, cap %ld events (both >= 1)",
                         n_nodes, max_events);
    halo_trace *t = calloc(1, sizeof *t);
    if (t)
        t->v = malloc((size_t)max_events * sizeof *t->v);
    if (!t || !t->v) {
        halo_trace_free(t);
        return HALO_FAIL(err, HALO_ERR_NOMEM, "trace: out of memory for %ld events", max_events);
    }
    t->n_nodes = n_nodes;
    t->cap = max_events;
    *out = t;
    return HALO_OK;
}

void halo_trace_free(halo_trace *t) {
    if (!t)
        return;
    free(t->v);
    free(t);
}

long halo_trace_add(halo_trace *t, int node, int track, const char *name, uint64_t start_ns,
                    uint64_t end_ns, int instant, int peer, int64_t arg) {
    if (t->n >= t->cap || end_ns < start_ns || node < 0 || node >= t->n_nodes) {
        t->dropped++;
        return -1;
    }
    t->v[t->n] = (trace_event){.start_ns = start_ns,
                               .end_ns = end_ns,
                               .arg = arg,
                               .name = name,
                               .node = node,
                               .peer = peer,
                               .track = (uint8_t)track,
                               .instant = (uint8_t)(instant && end_ns == start_ns)};
    return t->n++;
}

void halo_trace_move(halo_trace *t, long event, uint64_t start_ns, uint64_t end_ns) {
    if (event < 0 || event >= t->n || end_ns < start_ns)
        return;
    t->v[event].start_ns = start_ns;
    t->v[event].end_ns = end_ns;
}

long halo_trace_count(const halo_trace *t) {
    return t->n;
}

long halo_trace_dropped(const halo_trace *t) {
    return t->dropped;
}

/* ns as microseconds with three decimals, exactly (no floating point). */
static void us(FILE *f, uint64_t ns) {
    (void)fprintf(f, "%" PRIu64 ".%03u", ns / 1000, (unsigned)(ns % 1000));
}

static const char *const track_names[] = {NULL, "compute", "send", "recv", "network", "sync"};

static void metadata(FILE *f, const halo_trace *t, const char *const *names) {
    for (int i = 0; i < t->n_nodes; i++) {
        const char *name = names && names[i] ? names[i] : NULL;
        (void)fprintf(f,
                      "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,"
                      "\"args\":{\"name\":\"",
                      i);
        if (name) /* names are the caller's plain text: escape what JSON needs */
            for (const char *c = name; *c; c++) {
                if (*c == '"' || *c == '\\')
                    (void)fputc('\\', f);
                if ((unsigned char)*c >= 0x20)
                    (void)fputc(*c, f);
            }
        else
            (void)fprintf(f, "device %d", i);
        (void)fprintf(f,
                      "\"}},\n{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%d,"
                      "\"tid\":0,\"args\":{\"sort_index\":%d}},\n",
                      i, i);
        for (int k = HALO_TRACE_COMPUTE; k <= HALO_TRACE_SYNC; k++)
            (void)fprintf(f,
                          "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
                          "\"args\":{\"name\":\"%s\"}},\n",
                          i, k, track_names[k]);
    }
}

int halo_trace_write(const halo_trace *t, const char *path, const char *const *node_names,
                     halo_err *err) {
    /* written whole or not at all: a full disk leaves no half trace (issue 18) */
    halo_file_out o;
    int rc = halo_file_out_open(&o, path, 0644, err);
    if (rc != HALO_OK)
        return rc;
    FILE *f = o.f;
    (void)fprintf(f, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
    metadata(f, t, node_names);
    for (long i = 0; i < t->n; i++) {
        const trace_event *e = &t->v[i];
        (void)fprintf(f,
                      "{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"%s\",\"pid\":%d,\"tid\":%d,\"ts\":",
                      e->name, track_names[e->track], e->instant ? "i" : "X", e->node, e->track);
        us(f, e->start_ns);
        if (e->instant) {
            (void)fprintf(f, ",\"s\":\"t\"");
        } else {
            (void)fprintf(f, ",\"dur\":");
            us(f, e->end_ns - e->start_ns);
        }
        (void)fprintf(f, ",\"args\":{");
        const char *sep = "";
        if (e->peer >= 0) {
            (void)fprintf(f, "\"peer\":%d", (int)e->peer);
            sep = ",";
        }
        if (e->arg >= 0)
            (void)fprintf(f, "%s\"value\":%" PRId64, sep, e->arg);
        (void)fprintf(f, "}},\n");
    }
    /* the last element closes the list without a trailing comma */
    (void)fprintf(f,
                  "{\"name\":\"trace_end\",\"ph\":\"M\",\"pid\":0,\"tid\":0,\"args\":{}}\n],\n"
                  "\"otherData\":{\"generator\":\"halo sim --trace\",\"time\":\"simulated\","
                  "\"events\":%ld,\"dropped_events\":%ld,\"max_events\":%ld}}\n",
                  t->n, t->dropped, t->cap);
    return halo_file_out_commit(&o, err);
}
