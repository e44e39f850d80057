/*
 * Bounded text assembly (core/text.h).
 */
#include "core/text.h"

#include <stdarg.h>
#include <stdio.h>

void halo_text_appendf(char *buf, size_t cap, size_t *len, const char *fmt, ...) {
    if (cap == 0 || *len >= cap - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0)
        buf[*len] = '\0'; /* an encoding error: nothing appended */
    else
        *len = *len + (size_t)n < cap - 1 ? *len + (size_t)n : cap - 1;
}
