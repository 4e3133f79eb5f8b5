/* tests/unit/test_jsonl_source.c — the jsonl source against the mock host:
 * positions, resume, blank and malformed lines, end-of-input modes, rate,
 * stdin, long lines, shutdown. plugins/jsonl/jsonl.c is compiled in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mock_host.h"

#define WAIT_MS 5000

typedef struct fixture {
    char dir[64];
    char path[128];
    char config[512];
    cc_instance_t *inst;
    void *state;
    bool inited;
} fixture_t;

static int setup(void **vs)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/cc-jsonl-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/events.jsonl", f->dir);
    *vs = f;
    return 0;
}

static int teardown(void **vs)
{
    fixture_t *f = *vs;
    const cc_plugin_t *p = cc_plugin_entry();
    if (f->inited) {
        p->stop(f->state);
        p->destroy(f->state);
    }
    assert_int_equal(mock_shapes_alive(), 0);
    mock_instance_free(f->inst);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text, const char *mode)
{
    FILE *fp = fopen(path, mode);
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

/* Creates the instance with `config` (printf-style) and runs init. */
static int init_with(fixture_t *f, const char *fmt, ...) CC_PRINTF(2, 3);
static int init_with(fixture_t *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->config, sizeof f->config, fmt, ap);
    va_end(ap);
    const cc_plugin_t *p = cc_plugin_entry();
    f->inst = mock_instance_new(p, f->config, f->dir);
    assert_non_null(f->inst);
    int rc = p->init(f->inst, mock_host(), &f->state);
    f->inited = rc == 0;
    return rc;
}

static void start(fixture_t *f)
{
    assert_int_equal(cc_plugin_entry()->start(f->state), 0);
}

static void wait_finished(fixture_t *f)
{
    if (!mock_wait_source_status(f->inst, CC_SOURCE_FINISHED, WAIT_MS)) {
        mock_log_print(f->inst);
        fail_msg("source did not finish");
    }
}

static void descriptor_is_a_source_of_the_current_abi(void **vs)
{
    (void)vs;
    const cc_plugin_t *p = cc_plugin_entry();
    assert_int_equal(p->abi_major, CC_ABI_MAJOR);
    assert_int_equal(p->abi_minor, CC_ABI_MINOR);
    assert_int_equal(p->size, sizeof(cc_plugin_t));
    assert_string_equal(p->name, "jsonl");
    assert_int_equal(p->kind, CC_PLUGIN_SOURCE);
    assert_null(p->deliver);
    assert_int_equal(p->flags, 0);
}

static void positions_are_the_end_offsets_of_lines(void **vs)
{
    fixture_t *f = *vs;
    const char *l1 = "{\"a\":1}\n", *l2 = "{\"bb\":22}\n", *l3 = "{\"ccc\":333}\n";
    char text[128];
    snprintf(text, sizeof text, "%s%s%s", l1, l2, l3);
    write_file(f->path, text, "w");
    /* A relative path resolves against the manifest's folder (f->dir). */
    assert_int_equal(init_with(f, "{\"path\":\"events.jsonl\"}"), 0);
    start(f);
    wait_finished(f);

    assert_int_equal(mock_changes(f->inst), 3);
    assert_string_equal(mock_change_json(f->inst, 0), "{\"a\":1}");
    assert_string_equal(mock_change_json(f->inst, 2), "{\"ccc\":333}");
    char want[32];
    snprintf(want, sizeof want, "%zu", strlen(l1));
    assert_string_equal(mock_change_position(f->inst, 0), want);
    snprintf(want, sizeof want, "%zu", strlen(l1) + strlen(l2));
    assert_string_equal(mock_change_position(f->inst, 1), want);
    snprintf(want, sizeof want, "%zu", strlen(text));
    assert_string_equal(mock_change_position(f->inst, 2), want);
    assert_null(mock_change_shape(f->inst, 0));   /* no fields, no recipient */
}

static void resume_from_a_saved_offset_skips_earlier_lines(void **vs)
{
    fixture_t *f = *vs;
    write_file(f->path, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n", "w");
    assert_int_equal(init_with(f, "{\"path\":\"%s\"}", f->path), 0);
    mock_set_state_position(f->inst, "16");   /* after the second line */
    start(f);
    wait_finished(f);

    assert_int_equal(mock_changes(f->inst), 2);
    assert_string_equal(mock_change_json(f->inst, 0), "{\"n\":3}");
    assert_string_equal(mock_change_position(f->inst, 0), "24");
    assert_string_equal(mock_change_json(f->inst, 1), "{\"n\":4}");
    assert_string_equal(mock_change_position(f->inst, 1), "32");
    assert_true(mock_log_contains(f->inst, "resuming"));
    assert_true(mock_log_contains(f->inst, "16"));
    /* Line numbers count from the resume point, as the log says. */
    char want[160];
    snprintf(want, sizeof want, "%s:1", f->path);
    assert_string_equal(mock_change_origin(f->inst, 0), want);
}

static void resume_mid_line_skips_to_the_next_line(void **vs)
{
    fixture_t *f = *vs;
    write_file(f->path, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n", "w");
    assert_int_equal(init_with(f, "{\"path\":\"%s\"}", f->path), 0);
    mock_set_state_position(f->inst, "10");   /* inside line 2 */
    start(f);
    wait_finished(f);
    assert_int_equal(mock_changes(f->inst), 1);
    assert_string_equal(mock_change_json(f->inst, 0), "{\"n\":3}");
    assert_true(mock_log_contains(f->inst, "not at a line start"));
}

static void resume_past_the_end_reads_from_the_start(void **vs)
{
    fixture_t *f = *vs;
    write_file(f->path, "{\"n\":1}\n", "w");
    assert_int_equal(init_with(f, "{\"path\":\"%s\"}", f->path), 0);
    mock_set_state_position(f->inst, "999");
    start(f);
    wait_finished(f);
    assert_int_equal(mock_changes(f->inst), 1);
    assert_true(mock_log_contains(f->inst, "past the end"));
}

static void blank_lines_are_skipped_but_counted(void **vs)
{
    fixture_t *f = *vs;
    write_file(f->path, "\n   \n{\"n\":1}\r\n\t\r\n\n{not json\n{\"n\":2}\n", "w");
    assert_int_equal(init_with(f, "{\"path\":\"%s\"}", f->path), 0);
    start(f);
    wait_finished(f);
    assert_int_equal(mock_changes(f->inst), 2);
    assert_string_equal(mock_change_json(f->inst, 0), "{\"n\":1}");   /* \r stripped */
    assert_string_equal(mock_change_position(f->inst, 0), "14");
    assert_string_equal(mock_change_json(f->inst, 1), "{\"n\":2}");
    char want[160];
    snprintf(want, sizeof want, "%s:6: skipped change", f->path);   /* blanks are counted */
    assert_true(mock_log_contains(f->inst, want));
}

static void malformed_line_is_logged_with_its_number_and_reading_goes_on(void **vs)
{
    fixture_t *f = *vs;
    write_file(f->path, "{\"n\":1}\n{\"n\":\n[1,2]\n{\"n\":4}\n", "w");
    assert_int_equal(init_with(f, "{\"path\":\"%s\"}", f->path), 0);
    start(f);
    wait_finished(f);
    assert_int_equal(mock_emit_calls(f->inst), 4);
    assert_int_equal(mock_changes(f->inst), 2);
    assert_string_equal(mock_change_json(f->inst, 1), "{\"n\":4}");
    /* Each accepted change names its line; the host's one warning per bad
     * line names it too, and the source does not log it a second time. */
    char want[160];
    snprintf(want, sizeof want, "%s:4", f->path);
    assert_string_equal(mock_change_origin(f->inst, 1), want);
    snprintf(want, sizeof want, "%s:2: skipped change", f->path);
    assert_true(mock_log_contains(f->inst, want));
    snprintf(want, sizeof want, "%s:3: skipped change", f->path);
    assert_true(mock_log_contains(f->inst, want));
    snprintf(want, sizeof want, "%s:2", f->path);
    assert_int_equal(mock_log_count_matching(f->inst, want), 1);
    assert_int_equal(mock_log_count(f->inst, CC_LOG_WARN), 2);
}

static void finished_is_reported_at_end_of_file(void **vs)
{
    fixture_t *f = *vs;
    write_file(f->path, "{\"n\":1}\n{\"n\":2}", "w");   /* no final newline */
    assert_int_equal(init_with(f, "{\"path\":\"%s\"}", f->path), 0);
    assert_int_equal(mock_source_status(f->inst), -1);
    start(f);
    wait_finished(f);
    /* The unterminated last line still counts; its position is the file size. */
    assert_int_equal(mock_changes(f->inst), 2);
    assert_string_equal(mock_change_json(f->inst, 1), "{\"n\":2}");
    assert_string_equal(mock_change_position(f->inst, 1), "15");
}

static void empty_file_finishes_at_once(void **vs)
{
    fixture_t *f = *vs;
    write_file(f->path, "", "w");
    assert_int_equal(init_with(f, "{\"path\":\"%s\"}", f->path), 0);
    start(f);
    wait_finished(f);
    assert_int_equal(mock_changes(f->inst), 0);
}

static void missing_file_fails_init_with_a_clear_message(void **vs)
{
    fixture_t *f = *vs;
    assert_int_equal(init_with(f, "{\"path\":\"nope.jsonl\"}"), CC_ENOENT);
    assert_true(mock_log_contains(f->inst, "cannot open"));
    assert_true(mock_log_contains(f->inst, "nope.jsonl: No such file or directory"));
    assert_int_equal(mock_source_status(f->inst), CC_SOURCE_FAILED);
}

static void follow_reads_lines_appended_later(void **vs)
{
    fixture_t *f = *vs;
    write_file(f->path, "{\"n\":1}\n", "w");
    assert_int_equal(init_with(f, "{\"path\":\"%s\",\"on_eof\":\"follow\"}", f->path), 0);
    start(f);
    assert_true(mock_wait_changes(f->inst, 1, WAIT_MS));
    /* Half a line first: it must wait for the rest, not emit a fragment. */
    write_file(f->path, "{\"n\":", "a");
    usleep(250 * 1000);
    assert_int_equal(mock_emit_calls(f->inst), 1);
    write_file(f->path, "2}\n{\"n\":3}\n", "a");
    assert_true(mock_wait_changes(f->inst, 3, WAIT_MS));
    assert_string_equal(mock_change_json(f->inst, 1), "{\"n\":2}");
    assert_string_equal(mock_change_position(f->inst, 2), "24");
    assert_int_equal(mock_source_status(f->inst), CC_SOURCE_CONNECTED);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cc_plugin_entry()->stop(f->state);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms < 1000);
}

static void follow_rereads_a_truncated_file(void **vs)
{
    fixture_t *f = *vs;
    write_file(f->path, "{\"n\":1}\n{\"n\":2}\n", "w");
    assert_int_equal(init_with(f, "{\"path\":\"%s\",\"on_eof\":\"follow\"}", f->path), 0);
    start(f);
    assert_true(mock_wait_changes(f->inst, 2, WAIT_MS));
    write_file(f->path, "{\"n\":9}\n", "w");   /* truncated and rewritten */
    assert_true(mock_wait_changes(f->inst, 3, WAIT_MS));
    assert_string_equal(mock_change_json(f->inst, 2), "{\"n\":9}");
    assert_string_equal(mock_change_position(f->inst, 2), "8");
    assert_true(mock_log_contains(f->inst, "truncated"));
}

static void stay_keeps_running_until_stopped(void **vs)
{
    fixture_t *f = *vs;
    write_file(f->path, "{\"n\":1}\n", "w");
    assert_int_equal(init_with(f, "{\"path\":\"%s\",\"on_eof\":\"stay\"}", f->path), 0);
    start(f);
    assert_true(mock_wait_changes(f->inst, 1, WAIT_MS));
    usleep(200 * 1000);
    assert_int_equal(mock_source_status(f->inst), CC_SOURCE_CONNECTED);
    cc_plugin_entry()->stop(f->state);
    assert_int_equal(mock_source_status(f->inst), CC_SOURCE_CONNECTED);
}

static void closed_emit_stops_reading(void **vs)
{
    fixture_t *f = *vs;
    write_file(f->path, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n", "w");
    assert_int_equal(init_with(f, "{\"path\":\"%s\",\"on_eof\":\"stay\"}", f->path), 0);
    mock_set_closed(f->inst, true);
    start(f);
    for (int i = 0; i < 100 && mock_emit_calls(f->inst) == 0; i++)
        usleep(10 * 1000);
    usleep(100 * 1000);
    assert_int_equal(mock_emit_calls(f->inst), 1);   /* gave up after CC_ECLOSED */
    assert_int_equal(mock_changes(f->inst), 0);
    cc_plugin_entry()->stop(f->state);
}

static void rate_spaces_events_out(void **vs)
{
    fixture_t *f = *vs;
    write_file(f->path, "{}\n{}\n{}\n{}\n{}\n{}\n", "w");
    assert_int_equal(init_with(f, "{\"path\":\"%s\",\"rate\":20}", f->path), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    start(f);
    wait_finished(f);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    /* 6 events at 20/s: the first at once, the last 250 ms later. */
    assert_int_equal(mock_changes(f->inst), 6);
    assert_true(ms >= 240);
    assert_true(ms < 2000);
}

static void fields_and_recipient_build_a_shape_passed_with_each_change(void **vs)
{
    fixture_t *f = *vs;
    write_file(f->path, "{\"n\":1}\n{\"n\":2}\n", "w");
    assert_int_equal(init_with(f, "{\"path\":\"%s\",\"fields\":[\"fullDocument.name\","
                                  "\"fullDocument.age\"],\"recipient\":\"fullDocument.owner\"}",
                               f->path), 0);
    assert_string_equal(mock_last_shape(f->inst),
                        "fields=fullDocument.name,fullDocument.age recipient=fullDocument.owner");
    assert_int_equal(mock_shapes_alive(), 1);
    start(f);
    wait_finished(f);
    assert_non_null(mock_change_shape(f->inst, 0));
    assert_ptr_equal(mock_change_shape(f->inst, 0), mock_change_shape(f->inst, 1));
}

static void line_over_16_mb_is_skipped_with_a_warning(void **vs)
{
    fixture_t *f = *vs;
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs("{\"n\":1}\n{\"big\":\"", fp);
    static char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 17 * 16; i++)
        assert_int_equal(fwrite(chunk, 1, sizeof chunk, fp), sizeof chunk);
    fputs("\"}\n{\"n\":3}\n", fp);
    long size = ftell(fp);
    assert_int_equal(fclose(fp), 0);

    assert_int_equal(init_with(f, "{\"path\":\"%s\"}", f->path), 0);
    start(f);
    wait_finished(f);
    assert_int_equal(mock_changes(f->inst), 2);
    assert_string_equal(mock_change_json(f->inst, 1), "{\"n\":3}");
    char want[32];
    snprintf(want, sizeof want, "%ld", size);
    assert_string_equal(mock_change_position(f->inst, 1), want);
    char msg[160];
    snprintf(msg, sizeof msg, "%s:2: line longer than 16 MB", f->path);
    assert_true(mock_log_contains(f->inst, msg));
}

static void line_of_exactly_16_mb_is_emitted(void **vs)
{
    fixture_t *f = *vs;
    /* A line of 16 MB exactly (newline excluded) still fits the buffer. */
    size_t len = (size_t)16 * 1024 * 1024;
    char *line = malloc(len + 1);
    assert_non_null(line);
    memcpy(line, "{\"s\":\"", 6);
    memset(line + 6, 'y', len - 8);
    memcpy(line + len - 2, "\"}", 2);
    line[len] = '\n';
    int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, line, len + 1), (ssize_t)(len + 1));
    close(fd);
    free(line);

    assert_int_equal(init_with(f, "{\"path\":\"%s\"}", f->path), 0);
    start(f);
    wait_finished(f);
    assert_int_equal(mock_changes(f->inst), 1);
    assert_int_equal(strlen(mock_change_json(f->inst, 0)), len);
}

static void many_lines_cross_buffer_boundaries_intact(void **vs)
{
    fixture_t *f = *vs;
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    const int n = 50000;   /* ~1.3 MB: several reads of the 256 KB buffer */
    for (int i = 0; i < n; i++)
        fprintf(fp, "{\"i\":%d,\"pad\":\"%.*s\"}\n", i, i % 7, "abcdefg");
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(init_with(f, "{\"path\":\"%s\"}", f->path), 0);
    start(f);
    wait_finished(f);
    assert_int_equal(mock_changes(f->inst), (size_t)n);
    uint64_t end = 0;
    char want[64];
    for (int i = 0; i < n; i++) {
        int len = snprintf(want, sizeof want, "{\"i\":%d,\"pad\":\"%.*s\"}", i, i % 7, "abcdefg");
        end += (uint64_t)len + 1;
        assert_string_equal(mock_change_json(f->inst, (size_t)i), want);
        char pos[32];
        snprintf(pos, sizeof pos, "%llu", (unsigned long long)end);
        assert_string_equal(mock_change_position(f->inst, (size_t)i), pos);
    }
}

static void stdin_pipe_is_read_and_cannot_resume(void **vs)
{
    fixture_t *f = *vs;
    int p[2];
    assert_int_equal(pipe(p), 0);
    int saved = dup(STDIN_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(p[0], STDIN_FILENO) >= 0);
    close(p[0]);

    assert_int_equal(init_with(f, "{}"), 0);   /* path defaults to "-" */
    mock_set_state_position(f->inst, "8");
    start(f);
    const char *text = "{\"n\":1}\n{\"n\":2}\n";
    assert_int_equal(write(p[1], text, strlen(text)), (ssize_t)strlen(text));
    assert_true(mock_wait_changes(f->inst, 2, WAIT_MS));
    assert_int_equal(mock_source_status(f->inst), CC_SOURCE_CONNECTED);   /* pipe still open */
    close(p[1]);
    wait_finished(f);
    assert_string_equal(mock_change_json(f->inst, 0), "{\"n\":1}");   /* not resumed */
    assert_string_equal(mock_change_position(f->inst, 1), "16");
    assert_true(mock_log_contains(f->inst, "cannot resume <stdin>"));
    assert_string_equal(mock_change_origin(f->inst, 1), "<stdin>:2");

    cc_plugin_entry()->stop(f->state);
    assert_true(dup2(saved, STDIN_FILENO) >= 0);
    close(saved);
}

static void stop_is_prompt_while_a_pipe_is_idle(void **vs)
{
    fixture_t *f = *vs;
    int p[2];
    assert_int_equal(pipe(p), 0);
    int saved = dup(STDIN_FILENO);
    assert_true(dup2(p[0], STDIN_FILENO) >= 0);
    close(p[0]);
    assert_int_equal(init_with(f, "{\"path\":\"-\"}"), 0);
    start(f);
    usleep(50 * 1000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cc_plugin_entry()->stop(f->state);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms < 500);
    close(p[1]);
    assert_true(dup2(saved, STDIN_FILENO) >= 0);
    close(saved);
}

static void unknown_config_key_is_refused_by_the_table(void **vs)
{
    (void)vs;
    /* The mock validates like the core: the table has no "speed". */
    assert_null(mock_instance_new(cc_plugin_entry(), "{\"speed\":3}", NULL));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(descriptor_is_a_source_of_the_current_abi),
        T(positions_are_the_end_offsets_of_lines),
        T(resume_from_a_saved_offset_skips_earlier_lines),
        T(resume_mid_line_skips_to_the_next_line),
        T(resume_past_the_end_reads_from_the_start),
        T(blank_lines_are_skipped_but_counted),
        T(malformed_line_is_logged_with_its_number_and_reading_goes_on),
        T(finished_is_reported_at_end_of_file),
        T(empty_file_finishes_at_once),
        T(missing_file_fails_init_with_a_clear_message),
        T(follow_reads_lines_appended_later),
        T(follow_rereads_a_truncated_file),
        T(stay_keeps_running_until_stopped),
        T(closed_emit_stops_reading),
        T(rate_spaces_events_out),
        T(fields_and_recipient_build_a_shape_passed_with_each_change),
        T(line_over_16_mb_is_skipped_with_a_warning),
        T(line_of_exactly_16_mb_is_emitted),
        T(many_lines_cross_buffer_boundaries_intact),
        T(stdin_pipe_is_read_and_cannot_resume),
        T(stop_is_prompt_while_a_pipe_is_idle),
        cmocka_unit_test(unknown_config_key_is_refused_by_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
