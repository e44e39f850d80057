/*
 * Outputs written whole or not at all (core/file.h, halo_file_out; issue 18): the content
 * appears under its name only on commit; an abort or a failed write leaves the earlier file;
 * a FIFO is refused; a symbolic link is written through.
 */
#define _POSIX_C_SOURCE 200809L

#include "core/file.h"
#include "tests/test.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void) {
    (void)snprintf(dir, sizeof dir, "/tmp/halo-test-file-XXXXXX");
    ASSERT(mkdtemp(dir) != NULL);
}

/* The path of `name` inside dir, in out[cap]. */
static void in_dir(char *out, size_t cap, const char *name) {
    (void)snprintf(out, cap, "%s/%s", dir, name);
}

/* Writes `text` to `path` through halo_file_out and commits it (an error fails the test). */
static void write_committed(const char *path, const char *text) {
    halo_file_out o;
    ASSERT_OK(halo_file_out_open(&o, path, 0644, NULL));
    (void)fputs(text, o.f);
    ASSERT_OK(halo_file_out_commit(&o, NULL));
}

/* Entries of dir besides . and .. */
static int n_entries(void) {
    DIR *d = opendir(dir);
    ASSERT(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    (void)closedir(d);
    return n;
}

static void slurp(const char *path, char *buf, size_t cap) {
    char *text = NULL;
    size_t len;
    ASSERT_OK(halo_file_read_text(path, cap - 1, &text, &len, NULL));
    (void)snprintf(buf, cap, "%s", text);
    free(text);
}

static void remove_dir(void) {
    char cmd[128];
    (void)snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ(system(cmd), 0);
}

static void content_appears_only_on_commit(void) {
    make_dir();
    char path[128], buf[64];
    in_dir(path, sizeof path, "out.csv");
    halo_file_out o;
    ASSERT_OK(halo_file_out_open(&o, path, 0644, NULL));
    (void)fprintf(o.f, "a,b\n1,2\n");
    ASSERT(access(path, F_OK) != 0); /* not yet under its name */
    ASSERT_EQ(n_entries(), 1);       /* the temporary file */
    ASSERT_OK(halo_file_out_commit(&o, NULL));
    slurp(path, buf, sizeof buf);
    ASSERT_STR_CONTAINS(buf, "a,b\n1,2\n");
    ASSERT_EQ(n_entries(), 1);
    /* an abort leaves the earlier content and no temporary file */
    ASSERT_OK(halo_file_out_open(&o, path, 0644, NULL));
    (void)fprintf(o.f, "half");
    halo_file_out_abort(&o);
    halo_file_out_abort(&o); /* closed: a no-op */
    slurp(path, buf, sizeof buf);
    ASSERT_STR_CONTAINS(buf, "a,b\n1,2\n");
    ASSERT_EQ(n_entries(), 1);
    remove_dir();
}

/* A write that failed (here: its descriptor closed under it) is an error naming the file, and
   the earlier content stays. */
static void a_failed_write_leaves_the_earlier_file(void) {
    make_dir();
    char path[128], buf[64];
    in_dir(path, sizeof path, "out.txt");
    write_committed(path, "old\n");
    halo_file_out o;
    ASSERT_OK(halo_file_out_open(&o, path, 0644, NULL));
    (void)close(fileno(o.f)); /* every write from now on fails (EBADF), as on a full disk */
    (void)fprintf(o.f, "new\n");
    (void)fflush(o.f);
    ASSERT(ferror(o.f));
    halo_err err = {0};
    ASSERT_EQ(halo_file_out_commit(&o, &err), HALO_ERR_IO);
    ASSERT_STR_CONTAINS(err.msg, "out.txt: write failed");
    ASSERT_STR_CONTAINS(err.msg, "nothing written under that name");
    slurp(path, buf, sizeof buf);
    ASSERT_STR_CONTAINS(buf, "old\n");
    ASSERT_EQ(n_entries(), 1);
    remove_dir();
}

static void a_fifo_is_refused_and_a_link_written_through(void) {
    make_dir();
    char fifo[128], target[128], link[128], buf[64];
    in_dir(fifo, sizeof fifo, "fifo");
    ASSERT_EQ(mkfifo(fifo, 0600), 0);
    halo_file_out o;
    halo_err err = {0};
    ASSERT_EQ(halo_file_out_open(&o, fifo, 0644, &err), HALO_ERR_IO);
    ASSERT_STR_CONTAINS(err.msg, "fifo: not a regular file (a FIFO)");
    halo_file_out_abort(&o); /* failed open: a no-op */
    in_dir(target, sizeof target, "target");
    in_dir(link, sizeof link, "link");
    ASSERT_EQ(symlink("target", link), 0);
    write_committed(link, "through\n");
    struct stat st;
    ASSERT_EQ(lstat(link, &st), 0);
    ASSERT(S_ISLNK(st.st_mode)); /* still a link */
    slurp(target, buf, sizeof buf);
    ASSERT_STR_CONTAINS(buf, "through\n");
    remove_dir();
}

static void same_file_is_found_under_any_spelling(void) {
    make_dir();
    char a[128], dot[128], sym[128], hard[128], other[128], none[128];
    in_dir(a, sizeof a, "a");
    (void)snprintf(dot, sizeof dot, "%s/./a", dir);
    in_dir(sym, sizeof sym, "sym");
    in_dir(hard, sizeof hard, "hard");
    in_dir(other, sizeof other, "other");
    in_dir(none, sizeof none, "none");
    write_committed(a, "a\n");
    write_committed(other, "a\n"); /* the same content is not the same file */
    ASSERT_EQ(symlink("a", sym), 0);
    ASSERT_EQ(link(a, hard), 0);
    ASSERT_EQ(halo_file_same(a, a), 1);
    ASSERT_EQ(halo_file_same(a, dot), 1);
    ASSERT_EQ(halo_file_same(sym, a), 1);
    ASSERT_EQ(halo_file_same(a, hard), 1);
    ASSERT_EQ(halo_file_same(a, other), 0);
    ASSERT_EQ(halo_file_same(a, none), 0); /* an output not created yet */
    ASSERT_EQ(halo_file_same(none, none), 0);
    ASSERT_EQ(halo_file_same(NULL, a), 0);
    remove_dir();
}

TEST_MAIN(TEST(content_appears_only_on_commit), TEST(a_failed_write_leaves_the_earlier_file),
          TEST(a_fifo_is_refused_and_a_link_written_through),
          TEST(same_file_is_found_under_any_spelling))
