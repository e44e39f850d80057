/*
 * Packed weight windows (core/winpack.h): a window's copy holds its rows and columns
 * row-major; the same window comes back from its slot without a new copy; a moved window is
 * copied again (into the same memory when it fits); whole matrices, other types and bad
 * slots are read in place; copying stops for good when the windows keep moving or the
 * budget is spent, while the windows already copied stay served.
 */
#include "core/winpack.h"
#include "tests/test.h"

#include <stdint.h>
#include <stdlib.h>

enum {
    ROWS = 40,
    STRIDE = 48,
    COLS = 40
};

static float *matrix(halo_mat *m) {
    float *w = malloc((size_t)ROWS * STRIDE * sizeof *w);
    ASSERT(w);
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < STRIDE; c++)
            w[r * STRIDE + c] = (float)(r * 1000 + c);
    *m = (halo_mat){.data = w,
                    .row_bytes = STRIDE * sizeof(float),
                    .type = HALO_TYPE_F32,
                    .rows = ROWS,
                    .cols = COLS};
    return w;
}

static void window_equals(const float *pk, size_t r0, size_t rows, size_t c0, size_t cols) {
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            if (pk[r * cols + c] != (float)((r0 + r) * 1000 + c0 + c))
                TEST_FAIL_AT("window (%zu, %zu) x (%zu, %zu): [%zu][%zu] is %g", r0, rows, c0, cols,
                             r, c, (double)pk[r * cols + c]);
}

static void a_window_is_copied_once_row_major(void) {
    halo_mat m;
    float *w = matrix(&m);
    halo_winpack *p = NULL;
    ASSERT_OK(halo_winpack_new(&p, 3, 1 << 20, NULL));
    const float *cols = halo_winpack_get(p, 0, &m, 0, ROWS, 5, 17); /* a column window */
    ASSERT(cols != NULL);
    ASSERT_EQ((uintptr_t)cols % 64, 0);
    window_equals(cols, 0, ROWS, 5, 17);
    const float *rows = halo_winpack_get(p, 1, &m, 8, 12, 0, COLS); /* a row window */
    ASSERT(rows != NULL && rows != cols);
    window_equals(rows, 8, 12, 0, COLS);
    ASSERT(halo_winpack_get(p, 0, &m, 0, ROWS, 5, 17) == cols); /* asked again: no copy */
    ASSERT(halo_winpack_get(p, 1, &m, 8, 12, 0, COLS) == rows);
    halo_winpack_stats st = halo_winpack_get_stats(p);
    ASSERT_EQ(st.copies, 2);
    ASSERT_EQ(st.window_bytes, (size_t)(ROWS * 17 + 12 * COLS) * sizeof(float));
    ASSERT(st.bytes >= st.window_bytes && st.bytes <= (size_t)1 << 20);
    ASSERT_EQ(st.stopped, 0);
    halo_winpack_free(p);
    free(w);
}

static void whole_matrices_other_types_and_bad_slots_read_in_place(void) {
    halo_mat m;
    float *w = matrix(&m);
    halo_winpack *p = NULL;
    ASSERT_OK(halo_winpack_new(&p, 2, 1 << 20, NULL));
    ASSERT(halo_winpack_get(p, 0, &m, 0, ROWS, 0, COLS) == NULL); /* the whole matrix */
    ASSERT(halo_winpack_get(p, 0, &m, 0, 0, 0, COLS) == NULL);    /* empty */
    ASSERT(halo_winpack_get(p, 2, &m, 0, 4, 0, COLS) == NULL);    /* no such slot */
    ASSERT(halo_winpack_get(p, -1, &m, 0, 4, 0, COLS) == NULL);
    ASSERT(halo_winpack_get(NULL, 0, &m, 0, 4, 0, COLS) == NULL);
    halo_mat q = m;
    q.type = HALO_TYPE_Q8_0;
    ASSERT(halo_winpack_get(p, 0, &q, 0, 4, 0, COLS) == NULL);
    ASSERT_EQ(halo_winpack_get_stats(p).copies, 0);
    halo_winpack_free(p);
    halo_winpack_stats none = halo_winpack_get_stats(NULL);
    ASSERT_EQ(none.copies, 0);
    ASSERT_EQ(none.bytes, 0);
    halo_err err;
    ASSERT_EQ(halo_winpack_new(&p, 0, 1 << 20, &err), HALO_ERR_ARG);
    ASSERT(p == NULL);
    halo_winpack_free(NULL);
    free(w);
}

static void a_moved_window_is_copied_again_in_its_memory_when_it_fits(void) {
    halo_mat m;
    float *w = matrix(&m);
    halo_winpack *p = NULL;
    ASSERT_OK(halo_winpack_new(&p, 2, 1 << 20, NULL));
    const float *a = halo_winpack_get(p, 0, &m, 0, 20, 0, COLS);
    const float *b = halo_winpack_get(p, 0, &m, 4, 10, 0, COLS); /* smaller: same memory */
    ASSERT(a != NULL && b == a);
    window_equals(b, 4, 10, 0, COLS);
    const float *c = halo_winpack_get(p, 0, &m, 0, 30, 0, COLS); /* larger: new memory */
    ASSERT(c != NULL && c != a);
    window_equals(c, 0, 30, 0, COLS);
    /* another matrix through the same slot and window is copied too */
    float *w2 = malloc((size_t)ROWS * STRIDE * sizeof *w2);
    ASSERT(w2);
    for (int i = 0; i < ROWS * STRIDE; i++)
        w2[i] = -w[i];
    halo_mat m2 = m;
    m2.data = w2;
    const float *d = halo_winpack_get(p, 0, &m2, 0, 30, 0, COLS);
    ASSERT(d != NULL && d[COLS + 1] == -1001.0f);
    ASSERT_EQ(halo_winpack_get_stats(p).copies, 4);
    halo_winpack_free(p);
    free(w2);
    free(w);
}

static void copying_stops_when_windows_keep_moving(void) {
    halo_mat m;
    float *w = matrix(&m);
    halo_winpack *p = NULL;
    ASSERT_OK(halo_winpack_new(&p, 1, 1 << 20, NULL)); /* four copies in all */
    const float *last = NULL;
    for (size_t k = 0; k < 4; k++)
        ASSERT((last = halo_winpack_get(p, 0, &m, k, 8, 0, COLS)) != NULL);
    ASSERT(halo_winpack_get(p, 0, &m, 4, 8, 0, COLS) == NULL); /* the fifth: in place */
    halo_winpack_stats st = halo_winpack_get_stats(p);
    ASSERT_EQ(st.copies, 4);
    ASSERT_EQ(st.stopped, 1);
    ASSERT(halo_winpack_get(p, 0, &m, 3, 8, 0, COLS) == last); /* the last copy still served */
    window_equals(last, 3, 8, 0, COLS);
    halo_winpack_free(p);
    free(w);
}

static void copying_stops_at_the_budget(void) {
    halo_mat m;
    float *w = matrix(&m);
    halo_winpack *p = NULL;
    size_t window = (size_t)10 * COLS * sizeof(float); /* 1600 bytes, a multiple of 64 */
    ASSERT_OK(halo_winpack_new(&p, 4, 2 * window, NULL));
    const float *a = halo_winpack_get(p, 0, &m, 0, 10, 0, COLS);
    const float *b = halo_winpack_get(p, 1, &m, 10, 10, 0, COLS);
    ASSERT(a != NULL && b != NULL);
    ASSERT(halo_winpack_get(p, 2, &m, 20, 10, 0, COLS) == NULL); /* over the budget */
    halo_winpack_stats st = halo_winpack_get_stats(p);
    ASSERT_EQ(st.stopped, 1);
    ASSERT(st.bytes <= 2 * window);
    ASSERT(halo_winpack_get(p, 0, &m, 0, 10, 0, COLS) == a);
    window_equals(b, 10, 10, 0, COLS);
    halo_winpack_free(p);
    ASSERT_OK(halo_winpack_new(&p, 1, 0, NULL)); /* no budget: nothing is ever copied */
    ASSERT(halo_winpack_get(p, 0, &m, 0, 1, 0, 1) == NULL);
    halo_winpack_free(p);
    free(w);
}

TEST_MAIN(TEST(a_window_is_copied_once_row_major),
          TEST(whole_matrices_other_types_and_bad_slots_read_in_place),
          TEST(a_moved_window_is_copied_again_in_its_memory_when_it_fits),
          TEST(copying_stops_when_windows_keep_moving), TEST(copying_stops_at_the_budget))
