/* tests/unit/test_state.c — the resume-point file: round trips, corrupt
 * files, crash safety of the atomic write. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "core/state.h"
#include "changecast/error.h"

typedef struct fixture {
    char dir[64];
    char path[128];
    char tmp[160];
} fixture_t;

static int setup(void **vs)
{
    fixture_t *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    strcpy(f->dir, "/tmp/cc-state-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/changecast.state", f->dir);
    snprintf(f->tmp, sizeof(f->tmp), "%s.tmp", f->path);
    *vs = f;
    return 0;
}

static int teardown(void **vs)
{
    fixture_t *f = *vs;

    cc_state_test_before_rename = NULL;
    unlink(f->path);
    unlink(f->tmp);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

static void missing_file_opens_as_empty_state(void **vs)
{
    fixture_t *f = *vs;
    cc_state_t *st = NULL;
    char err[256] = "";

    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    assert_non_null(st);
    assert_null(cc_state_get(st, "orders"));
    /* Nothing to write: no file appears. */
    assert_int_equal(cc_state_flush(st, err, sizeof(err)), 0);
    assert_int_equal(access(f->path, F_OK), -1);
    cc_state_free(st);
}

static void positions_survive_a_round_trip(void **vs)
{
    fixture_t *f = *vs;
    cc_state_t *st = NULL;
    char err[256] = "";
    const char *odd = "{\"_data\":\"8263\\\"quote\\\\ \xc3\xa9\"}";
    struct stat sb;

    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    assert_int_equal(cc_state_set(st, "orders", "82635F1A"), 0);
    assert_int_equal(cc_state_set(st, "users", odd), 0);
    assert_int_equal(cc_state_set(st, "orders", "82635F1B"), 0);   /* newer wins */
    assert_string_equal(cc_state_get(st, "orders"), "82635F1B");
    assert_int_equal(cc_state_flush(st, err, sizeof(err)), 0);
    cc_state_free(st);

    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(access(f->tmp, F_OK), -1);

    st = NULL;
    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    assert_string_equal(cc_state_get(st, "orders"), "82635F1B");
    assert_string_equal(cc_state_get(st, "users"), odd);
    assert_null(cc_state_get(st, "other"));
    cc_state_free(st);
}

static void file_has_the_documented_shape(void **vs)
{
    fixture_t *f = *vs;
    cc_state_t *st = NULL;
    char err[256] = "";
    char *text;

    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    assert_int_equal(cc_state_set(st, "b", "2"), 0);
    assert_int_equal(cc_state_set(st, "a", "1"), 0);
    assert_int_equal(cc_state_flush(st, err, sizeof(err)), 0);
    cc_state_free(st);

    text = test_read_file(f->path);
    assert_string_equal(text,
        "{\n"
        "  \"sources\": {\n"
        "    \"a\": {\n"
        "      \"position\": \"1\"\n"
        "    },\n"
        "    \"b\": {\n"
        "      \"position\": \"2\"\n"
        "    }\n"
        "  },\n"
        "  \"version\": 1\n"
        "}\n");
    free(text);
}

static void corrupt_file_is_an_error_with_line_and_column(void **vs)
{
    fixture_t *f = *vs;
    cc_state_t *st = (cc_state_t *)0x1;
    char err[512] = "";
    char want[256];

    write_text(f->path, "{\"version\":1,\n \"sources\": {\"a\": {\"position\": \"x\"}\n");
    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), CC_EPARSE);
    assert_null(st);
    snprintf(want, sizeof(want), "%s:3:0: corrupt state file: ", f->path);
    assert_memory_equal(err, want, strlen(want));
    assert_non_null(strstr(err, "repair it"));
    /* The file is left alone for the user to look at. */
    assert_int_equal(access(f->path, F_OK), 0);
}

static void truncated_file_is_an_error(void **vs)
{
    fixture_t *f = *vs;
    cc_state_t *st = NULL;
    char err[512] = "";

    write_text(f->path, "");
    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), CC_EPARSE);
    assert_null(st);
    assert_non_null(strstr(err, "corrupt state file"));
}

static void wrong_version_is_an_error(void **vs)
{
    fixture_t *f = *vs;
    cc_state_t *st = NULL;
    char err[512] = "";
    char want[256];

    write_text(f->path, "{\"version\":2,\"sources\":{}}");
    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), CC_EPARSE);
    assert_null(st);
    snprintf(want, sizeof(want),
             "%s: unsupported state file version 2 (this changecast reads version 1)", f->path);
    assert_string_equal(err, want);
}

static void wrong_types_are_errors_naming_the_key(void **vs)
{
    fixture_t *f = *vs;
    cc_state_t *st = NULL;
    char err[512] = "";

    write_text(f->path, "{\"version\":1,\"sources\":{\"orders\":{\"position\":5}}}");
    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), CC_EPARSE);
    assert_non_null(strstr(err, "sources.orders.position: expected a string"));

    write_text(f->path, "{\"version\":1}");
    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), CC_EPARSE);
    assert_non_null(strstr(err, "sources: expected an object"));

    write_text(f->path, "[1]");
    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), CC_EPARSE);
    assert_non_null(strstr(err, "expected an object at the top"));

    write_text(f->path, "{\"version\":1,\"sources\":{\"a\":{\"position\":\"1\"},"
                        "\"a\":{\"position\":\"2\"}}}");
    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), CC_EPARSE);
    assert_non_null(strstr(err, "duplicate"));
}

static int crash_before_rename(const char *tmp_path)
{
    /* The new file is complete and synced at this point. */
    char *text = test_read_file(tmp_path);
    int ok = strstr(text, "\"new-a\"") != NULL;

    free(text);
    return ok ? 1 : 2;
}

static void crash_between_write_and_rename_keeps_the_old_file(void **vs)
{
    fixture_t *f = *vs;
    cc_state_t *st = NULL;
    char err[512] = "";

    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    assert_int_equal(cc_state_set(st, "a", "old-a"), 0);
    assert_int_equal(cc_state_set(st, "b", "old-b"), 0);
    assert_int_equal(cc_state_flush(st, err, sizeof(err)), 0);

    assert_int_equal(cc_state_set(st, "a", "new-a"), 0);
    cc_state_test_before_rename = crash_before_rename;
    assert_int_equal(cc_state_flush(st, err, sizeof(err)), CC_EIO);
    assert_non_null(strstr(err, "cannot write"));
    cc_state_free(st);    /* the "crash" */
    cc_state_test_before_rename = NULL;

    /* The temporary file is left, complete, as a crash would leave it. */
    {
        char *tmp = test_read_file(f->tmp);
        assert_non_null(strstr(tmp, "\"position\": \"new-a\""));
        free(tmp);
    }

    st = NULL;
    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    assert_string_equal(cc_state_get(st, "a"), "old-a");
    assert_string_equal(cc_state_get(st, "b"), "old-b");

    /* The next run writes over the stale temporary file. */
    assert_int_equal(cc_state_set(st, "a", "newer-a"), 0);
    assert_int_equal(cc_state_flush(st, err, sizeof(err)), 0);
    assert_int_equal(access(f->tmp, F_OK), -1);
    cc_state_free(st);
    st = NULL;
    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    assert_string_equal(cc_state_get(st, "a"), "newer-a");
    cc_state_free(st);
}

static void failed_flush_is_retried_by_the_next_flush(void **vs)
{
    fixture_t *f = *vs;
    cc_state_t *st = NULL;
    char err[512] = "";

    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    assert_int_equal(cc_state_set(st, "a", "1"), 0);
    cc_state_test_before_rename = crash_before_rename;   /* returns 2: no "new-a" */
    assert_int_equal(cc_state_flush(st, err, sizeof(err)), CC_EIO);
    cc_state_test_before_rename = NULL;
    assert_int_equal(access(f->path, F_OK), -1);
    /* Still dirty: the retry writes it. */
    assert_int_equal(cc_state_flush(st, err, sizeof(err)), 0);
    assert_int_equal(access(f->path, F_OK), 0);
    cc_state_free(st);
}

static int count_calls;
static int count_hook(const char *tmp_path)
{
    (void)tmp_path;
    count_calls++;
    return 0;
}

static void flush_is_a_no_op_when_clean(void **vs)
{
    fixture_t *f = *vs;
    cc_state_t *st = NULL;
    char err[512] = "";
    struct stat a, b;

    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    assert_int_equal(cc_state_set(st, "a", "1"), 0);
    count_calls = 0;
    cc_state_test_before_rename = count_hook;
    assert_int_equal(cc_state_flush(st, err, sizeof(err)), 0);
    assert_int_equal(count_calls, 1);
    assert_int_equal(stat(f->path, &a), 0);
    assert_int_equal(cc_state_flush(st, err, sizeof(err)), 0);
    assert_int_equal(cc_state_flush(st, err, sizeof(err)), 0);
    assert_int_equal(count_calls, 1);
    assert_int_equal(stat(f->path, &b), 0);
    assert_true(a.st_ino == b.st_ino);
    /* A state opened from the file is clean too. */
    cc_state_free(st);
    st = NULL;
    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    assert_int_equal(cc_state_flush(st, err, sizeof(err)), 0);
    assert_int_equal(count_calls, 1);
    cc_state_free(st);
}

static void many_positions_round_trip(void **vs)
{
    fixture_t *f = *vs;
    cc_state_t *st = NULL;
    char err[512] = "";
    char name[32], pos[600];

    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 1000; i++) {
            snprintf(name, sizeof(name), "source-%d", i);
            memset(pos, 'a' + (i + round) % 26, (size_t)(i % 500));
            snprintf(pos + i % 500, sizeof(pos) - (size_t)(i % 500), "#%d.%d", i, round);
            assert_int_equal(cc_state_set(st, name, pos), 0);
        }
        assert_int_equal(cc_state_flush(st, err, sizeof(err)), 0);
    }
    cc_state_free(st);

    st = NULL;
    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    for (int i = 0; i < 1000; i++) {
        const char *got;
        snprintf(name, sizeof(name), "source-%d", i);
        memset(pos, 'a' + (i + 2) % 26, (size_t)(i % 500));
        snprintf(pos + i % 500, sizeof(pos) - (size_t)(i % 500), "#%d.%d", i, 2);
        got = cc_state_get(st, name);
        assert_non_null(got);
        assert_string_equal(got, pos);
    }
    cc_state_free(st);
}

typedef struct setter_arg {
    cc_state_t *st;
    int id;
} setter_arg_t;

static void *setter_main(void *p)
{
    setter_arg_t *a = p;
    char name[32], pos[32];

    snprintf(name, sizeof(name), "src-%d", a->id);
    for (int i = 0; i <= 2000; i++) {
        snprintf(pos, sizeof(pos), "%d", i);
        if (cc_state_set(a->st, name, pos) != 0)
            return (void *)1;
    }
    return NULL;
}

static void sets_from_threads_during_flushes_end_with_the_last_positions(void **vs)
{
    fixture_t *f = *vs;
    cc_state_t *st = NULL;
    char err[512] = "";
    pthread_t th[4];
    setter_arg_t args[4];
    char name[32];

    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    for (int i = 0; i < 4; i++) {
        args[i].st = st;
        args[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, setter_main, &args[i]), 0);
    }
    for (int i = 0; i < 20; i++)
        assert_int_equal(cc_state_flush(st, err, sizeof(err)), 0);
    for (int i = 0; i < 4; i++) {
        void *ret;
        assert_int_equal(pthread_join(th[i], &ret), 0);
        assert_null(ret);
    }
    assert_int_equal(cc_state_flush(st, err, sizeof(err)), 0);
    cc_state_free(st);

    st = NULL;
    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "src-%d", i);
        assert_string_equal(cc_state_get(st, name), "2000");
    }
    cc_state_free(st);
}

static void bad_arguments_are_einval(void **vs)
{
    fixture_t *f = *vs;
    cc_state_t *st = NULL;
    char err[256] = "";

    assert_int_equal(cc_state_open("", &st, err, sizeof(err)), CC_EINVAL);
    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    assert_int_equal(cc_state_set(st, "", "1"), CC_EINVAL);
    assert_int_equal(cc_state_set(st, "a", NULL), CC_EINVAL);
    assert_int_equal(cc_state_set(st, NULL, "1"), CC_EINVAL);
    cc_state_free(st);
}

static void unwritable_folder_is_eio_naming_the_file(void **vs)
{
    fixture_t *f = *vs;
    cc_state_t *st = NULL;
    char err[512] = "";
    char path[256];

    snprintf(path, sizeof(path), "%s/no-such-dir/changecast.state", f->dir);
    assert_int_equal(cc_state_open(path, &st, err, sizeof(err)), 0);
    assert_int_equal(cc_state_set(st, "a", "1"), 0);
    assert_int_equal(cc_state_flush(st, err, sizeof(err)), CC_EIO);
    assert_non_null(strstr(err, "changecast.state.tmp: cannot write: No such file or directory"));
    cc_state_free(st);
}

static void failed_write_is_eio_with_the_system_message(void **vs)
{
    fixture_t *f = *vs;
    cc_state_t *st = NULL;
    char err[512] = "";
    char want[256], big[8192];
    struct rlimit old, small;
    void (*old_sig)(int);

    /* A file size limit makes write(2) fail (EFBIG) the way a full disk
     * (ENOSPC) does, without needing a full filesystem. */
    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    assert_int_equal(cc_state_set(st, "a", "old"), 0);
    assert_int_equal(cc_state_flush(st, err, sizeof(err)), 0);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cc_state_set(st, "a", big), 0);

    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 4096;
    old_sig = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    assert_int_equal(cc_state_flush(st, err, sizeof(err)), CC_EIO);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_sig);

    snprintf(want, sizeof(want), "%s: cannot write: %s", f->path, strerror(EFBIG));
    assert_string_equal(err, want);
    /* No half-written temporary file is left, and the old file is intact. */
    assert_int_equal(access(f->tmp, F_OK), -1);
    cc_state_free(st);
    st = NULL;
    assert_int_equal(cc_state_open(f->path, &st, err, sizeof(err)), 0);
    assert_string_equal(cc_state_get(st, "a"), "old");
    cc_state_free(st);
}

static void non_regular_file_is_an_error(void **vs)
{
    cc_state_t *st = NULL;
    char err[512] = "";

    (void)vs;
    assert_int_equal(cc_state_open("/dev/null", &st, err, sizeof(err)), CC_EIO);
    assert_null(st);
    assert_string_equal(err, "/dev/null: state path is not a regular file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(missing_file_opens_as_empty_state, setup, teardown),
        cmocka_unit_test_setup_teardown(positions_survive_a_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(file_has_the_documented_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_file_is_an_error_with_line_and_column, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(truncated_file_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_version_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_types_are_errors_naming_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_between_write_and_rename_keeps_the_old_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(failed_flush_is_retried_by_the_next_flush, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(flush_is_a_no_op_when_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(many_positions_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(
            sets_from_threads_during_flushes_end_with_the_last_positions, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_arguments_are_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(unwritable_folder_is_eio_naming_the_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(failed_write_is_eio_with_the_system_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(non_regular_file_is_an_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
