/* tests/unit/test_log.c — record format (text and JSON), escaping, the
 * threshold, reopen after logrotate, whole lines under concurrency. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include <jansson.h>

#include "core/log.h"
#include "changecast/error.h"

static char g_dir[64];
static char g_path[128];
static char g_rotated[140];

static int setup(void **vs)
{
    (void)vs;
    strcpy(g_dir, "/tmp/cc-log-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    snprintf(g_path, sizeof(g_path), "%s/changecast.log", g_dir);
    snprintf(g_rotated, sizeof(g_rotated), "%s.1", g_path);
    return 0;
}

static int teardown(void **vs)
{
    (void)vs;
    assert_int_equal(cc_log_setup(CC_LOG_INFO, 0, NULL), 0);
    unlink(g_path);
    unlink(g_rotated);
    rmdir(g_dir);
    return 0;
}

/* Checks that `ts` starts with an RFC 3339 UTC time with milliseconds, close
 * to now, and returns its length (24). */
static size_t check_ts(const char *ts)
{
    const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    struct tm tm;
    time_t now = time(NULL), t;

    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd')
            assert_true(ts[i] >= '0' && ts[i] <= '9');
        else
            assert_int_equal(ts[i], shape[i]);
    }
    memset(&tm, 0, sizeof(tm));
    assert_non_null(strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm));
    t = timegm(&tm);
    assert_true(t >= now - 5 && t <= now + 1);
    return strlen(shape);
}

/* Returns the line with its timestamp replaced by "TS". */
static char *strip_text_ts(const char *line)
{
    char *out = malloc(strlen(line) + 1);

    assert_non_null(out);
    assert_memory_equal(line, "ts=", 3);
    check_ts(line + 3);
    strcpy(out, "ts=TS");
    strcat(out, line + 3 + 24);
    return out;
}

static char *strip_json_ts(const char *line)
{
    char *out = malloc(strlen(line) + 1);

    assert_non_null(out);
    assert_memory_equal(line, "{\"ts\":\"", 7);
    check_ts(line + 7);
    strcpy(out, "{\"ts\":\"TS");
    strcat(out, line + 7 + 24);
    return out;
}

static void text_record_is_one_logfmt_line(void **vs)
{
    char *all, *line;

    (void)vs;
    assert_int_equal(cc_log_setup(CC_LOG_INFO, 0, g_path), 0);
    cc_log(CC_LOG_INFO, "core", "replay", "loaded %d plugins", 3);
    cc_log_warn("no name here");
    cc_log(CC_LOG_ERROR, "websocket", "live-feed", "bind failed");
    all = test_read_file(g_path);

    line = strtok(all, "\n");
    {
        char *s = strip_text_ts(line);
        assert_string_equal(s, "ts=TS level=info plugin=core name=replay msg=\"loaded 3 plugins\"");
        free(s);
    }
    line = strtok(NULL, "\n");
    {
        char *s = strip_text_ts(line);
        assert_string_equal(s, "ts=TS level=warn plugin=core msg=\"no name here\"");
        free(s);
    }
    line = strtok(NULL, "\n");
    {
        char *s = strip_text_ts(line);
        assert_string_equal(s, "ts=TS level=error plugin=websocket name=live-feed msg=\"bind failed\"");
        free(s);
    }
    assert_null(strtok(NULL, "\n"));
    free(all);
}

static void json_record_is_one_valid_object(void **vs)
{
    char *all, *line, *s;
    json_t *j;
    json_error_t jerr;

    (void)vs;
    assert_int_equal(cc_log_setup(CC_LOG_DEBUG, 1, g_path), 0);
    cc_log(CC_LOG_INFO, "core", "replay", "loaded %d plugins", 3);
    cc_log(CC_LOG_DEBUG, "redis", NULL, "ping");
    all = test_read_file(g_path);

    line = strtok(all, "\n");
    s = strip_json_ts(line);
    assert_string_equal(s, "{\"ts\":\"TS\",\"level\":\"info\",\"plugin\":\"core\",\"name\":\"replay\","
                           "\"msg\":\"loaded 3 plugins\"}");
    free(s);
    j = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "loaded 3 plugins");
    json_decref(j);

    line = strtok(NULL, "\n");
    s = strip_json_ts(line);
    assert_string_equal(s, "{\"ts\":\"TS\",\"level\":\"debug\",\"plugin\":\"redis\","
                           "\"msg\":\"ping\"}");
    free(s);
    assert_null(strtok(NULL, "\n"));
    free(all);
}

#define NASTY "say \"hi\" \\ back\nline2\tx\r\x01\x7f \xc3\xa9 bad\xff end"

static void special_characters_are_escaped_in_text(void **vs)
{
    char *all, *s;

    (void)vs;
    assert_int_equal(cc_log_setup(CC_LOG_INFO, 0, g_path), 0);
    cc_log(CC_LOG_INFO, "my plugin", "a=b", "%s", NASTY);
    all = test_read_file(g_path);
    /* Exactly one line. */
    assert_non_null(strchr(all, '\n'));
    assert_int_equal(strchr(all, '\n') - all, (long)strlen(all) - 1);
    all[strlen(all) - 1] = '\0';
    s = strip_text_ts(all);
    assert_string_equal(s, "ts=TS level=info plugin=\"my plugin\" name=\"a=b\" "
                           "msg=\"say \\\"hi\\\" \\\\ back\\nline2\\tx\\r\\u0001\\u007f "
                           "\xc3\xa9 bad\xef\xbf\xbd end\"");
    free(s);
    free(all);
}

static void special_characters_are_escaped_in_json(void **vs)
{
    char *all;
    json_t *j;
    json_error_t jerr;

    (void)vs;
    assert_int_equal(cc_log_setup(CC_LOG_INFO, 1, g_path), 0);
    cc_log(CC_LOG_INFO, "core", "q\"n", "%s", NASTY);
    all = test_read_file(g_path);
    assert_int_equal(strchr(all, '\n') - all, (long)strlen(all) - 1);
    j = json_loads(all, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        fail_msg("not JSON: %s: %s", jerr.text, all);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "q\"n");
    assert_string_equal(json_string_value(json_object_get(j, "msg")),
                        "say \"hi\" \\ back\nline2\tx\r\x01\x7f \xc3\xa9 bad\xef\xbf\xbd end");
    json_decref(j);
    free(all);
}

static void records_below_the_threshold_are_dropped(void **vs)
{
    char *all;

    (void)vs;
    assert_int_equal(cc_log_setup(CC_LOG_WARN, 0, g_path), 0);
    assert_int_equal(cc_log_level(), CC_LOG_WARN);
    cc_log_debug("debug-1");
    cc_log_info("info-1");
    cc_log_warn("warn-1");
    cc_log_error("error-1");
    assert_int_equal(cc_log_setup(CC_LOG_ERROR, 0, g_path), 0);
    cc_log_warn("warn-2");
    cc_log_error("error-2");
    all = test_read_file(g_path);
    assert_null(strstr(all, "debug-1"));
    assert_null(strstr(all, "info-1"));
    assert_non_null(strstr(all, "msg=\"warn-1\""));
    assert_non_null(strstr(all, "msg=\"error-1\""));
    assert_null(strstr(all, "warn-2"));
    assert_non_null(strstr(all, "msg=\"error-2\""));
    free(all);
}

static void reopen_after_rename_starts_a_new_file(void **vs)
{
    char *old, *cur;

    (void)vs;
    assert_int_equal(cc_log_setup(CC_LOG_INFO, 0, g_path), 0);
    cc_log_info("before rotation");
    assert_int_equal(rename(g_path, g_rotated), 0);
    cc_log_info("still old file");
    assert_int_equal(cc_log_reopen(), 0);
    cc_log_info("after rotation");

    old = test_read_file(g_rotated);
    cur = test_read_file(g_path);
    assert_non_null(strstr(old, "before rotation"));
    assert_non_null(strstr(old, "still old file"));
    assert_null(strstr(old, "after rotation"));
    assert_non_null(strstr(cur, "after rotation"));
    assert_null(strstr(cur, "before rotation"));
    free(old);
    free(cur);
}

static void file_is_appended_not_truncated(void **vs)
{
    char *all;
    FILE *fp;

    (void)vs;
    fp = fopen(g_path, "w");
    assert_non_null(fp);
    fputs("earlier run\n", fp);
    fclose(fp);
    assert_int_equal(cc_log_setup(CC_LOG_INFO, 0, g_path), 0);
    cc_log_info("this run");
    all = test_read_file(g_path);
    assert_memory_equal(all, "earlier run\nts=", 15);
    free(all);
}

static void unopenable_file_is_eio_and_keeps_the_output(void **vs)
{
    char bad[200], *all;

    (void)vs;
    assert_int_equal(cc_log_setup(CC_LOG_INFO, 0, g_path), 0);
    snprintf(bad, sizeof(bad), "%s/missing/x.log", g_dir);
    assert_int_equal(cc_log_setup(CC_LOG_INFO, 0, bad), CC_EIO);
    cc_log_info("still here");
    all = test_read_file(g_path);
    assert_non_null(strstr(all, "level=error plugin=core msg=\"cannot open log file "));
    assert_non_null(strstr(all, "No such file or directory"));
    assert_non_null(strstr(all, "msg=\"still here\""));
    free(all);
}

static void default_output_is_stderr(void **vs)
{
    int saved = dup(STDERR_FILENO);
    int fd;
    char *all, *s;

    (void)vs;
    fd = open(g_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
    assert_int_equal(cc_log_setup(CC_LOG_INFO, 0, NULL), 0);
    cc_log(CC_LOG_INFO, "core", NULL, "to stderr");
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);

    all = test_read_file(g_path);
    all[strlen(all) - 1] = '\0';
    s = strip_text_ts(all);
    assert_string_equal(s, "ts=TS level=info plugin=core msg=\"to stderr\"");
    free(s);
    free(all);
}

static void long_messages_are_kept_whole(void **vs)
{
    char *big = malloc(100001), *all;
    json_t *j;
    json_error_t jerr;

    (void)vs;
    assert_non_null(big);
    for (size_t i = 0; i < 100000; i++)
        big[i] = (char)('a' + i % 26);
    big[100000] = '\0';
    big[5000] = '"';     /* escapes grow the line past any fixed buffer */
    assert_int_equal(cc_log_setup(CC_LOG_INFO, 1, g_path), 0);
    cc_log(CC_LOG_INFO, "core", NULL, "%s", big);
    all = test_read_file(g_path);
    j = json_loads(all, 0, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "msg")), big);
    json_decref(j);
    free(all);
    free(big);
}

#define THREADS 4
#define PER_THREAD 2000

static void *writer_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    char pad[3000];

    for (int i = 0; i < PER_THREAD; i++) {
        size_t n = (size_t)((i * 37 + id * 101) % (int)sizeof(pad));
        memset(pad, 'a' + id, n);
        pad[n] = '\0';
        cc_log(CC_LOG_INFO, "core", "t", "thread=%d i=%d pad=%s", id, i, pad);
    }
    return NULL;
}

static void concurrent_records_never_interleave(void **vs)
{
    pthread_t th[THREADS];
    int seen[THREADS] = {0};
    char *all, *line, *save = NULL;
    int lines = 0;

    (void)vs;
    assert_int_equal(cc_log_setup(CC_LOG_INFO, 1, g_path), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);

    all = test_read_file(g_path);
    for (line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        int id, i;
        const char *msg;

        if (j == NULL)
            fail_msg("line %d is not JSON: %s", lines, jerr.text);
        msg = json_string_value(json_object_get(j, "msg"));
        assert_int_equal(sscanf(msg, "thread=%d i=%d", &id, &i), 2);
        assert_true(id >= 0 && id < THREADS);
        assert_int_equal(i, seen[id]);   /* in order per thread, none lost */
        seen[id]++;
        json_decref(j);
        lines++;
    }
    assert_int_equal(lines, THREADS * PER_THREAD);
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(text_record_is_one_logfmt_line, setup, teardown),
        cmocka_unit_test_setup_teardown(json_record_is_one_valid_object, setup, teardown),
        cmocka_unit_test_setup_teardown(special_characters_are_escaped_in_text, setup, teardown),
        cmocka_unit_test_setup_teardown(special_characters_are_escaped_in_json, setup, teardown),
        cmocka_unit_test_setup_teardown(records_below_the_threshold_are_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_after_rename_starts_a_new_file, setup, teardown),
        cmocka_unit_test_setup_teardown(file_is_appended_not_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(unopenable_file_is_eio_and_keeps_the_output, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(default_output_is_stderr, setup, teardown),
        cmocka_unit_test_setup_teardown(long_messages_are_kept_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_records_never_interleave, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
