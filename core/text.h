/*
 * Bounded text assembly: appending printf output to a fixed buffer, cutting what does not
 * fit, for messages and scripts built piece by piece (re-plan reasons, gnuplot scripts and
 * captions). Not a growing string: the caller owns the buffer and its capacity; for text
 * of unbounded length use core/grow.h's byte arrays.
 */
#ifndef HALO_CORE_TEXT_H
#define HALO_CORE_TEXT_H

#include <stddef.h>

/*
 * Appends printf(fmt, ...) to the NUL-terminated text of *len characters in buf (cap bytes,
 * *len < cap), cutting what does not fit: buf stays NUL-terminated and *len becomes the new
 * length, at most cap - 1. Nothing happens when cap is 0 or the text already fills buf.
 */
void halo_text_appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
