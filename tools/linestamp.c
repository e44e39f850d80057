/*
 * halo_linestamp: copies its standard input to its standard output one line at a time, each
 * line prefixed by the wall-clock time at which it was read (seconds since the epoch with
 * nine decimals, then a tab), and flushed at once. tools/ground-truth.sh pipes the token
 * output of the systems it measures through it (distributed-llama's per-token lines,
 * `halo generate --ids`), so every system's per-token times come from one clock, read the
 * same way, at microsecond resolution (distributed-llama prints whole milliseconds). The
 * wall clock, not a monotonic one, so that the script can compare the stamps with times it
 * takes itself (bash's EPOCHREALTIME).
 *
 *   producer | halo_linestamp > stamped.txt
 *
 * It measures nothing itself and never changes a line; a final line without a newline is
 * stamped and given one. Exit status 0, or 1 when writing fails.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(void) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        struct timespec ts;
        (void)clock_gettime(CLOCK_REALTIME, &ts);
        int bad = printf("%lld.%09ld\t", (long long)ts.tv_sec, ts.tv_nsec) < 0;
        bad |= fwrite(line, 1, (size_t)n, stdout) != (size_t)n;
        if (line[n - 1] != '\n')
            bad |= putchar('\n') == EOF;
        bad |= fflush(stdout) != 0;
        if (bad) {
            free(line);
            return 1;
        }
    }
    free(line);
    return 0;
}
