/* tests/unit/test_file_sink.c — the file sink against the mock host: lines
 * written and acknowledged only once written, appending across reopen,
 * write failures kept unacknowledged and retried on the sink's event base
 * without duplicating a line cut short. plugins/file/file.c is compiled in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "mock_host.h"

#define MAX_EVENTS 4096

typedef struct fixture {
    char dir[64];
    char path[128];
    char link[128];
    struct event_base *base;
    cc_instance_t *inst;
    void *state;
    bool inited, started;
    cc_event_t *events[MAX_EVENTS];
    size_t n_events;
} fixture_t;

static int setup(void **vs)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/cc-file-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/out.jsonl", f->dir);
    snprintf(f->link, sizeof f->link, "%s/link.jsonl", f->dir);
    f->base = event_base_new();
    assert_non_null(f->base);
    *vs = f;
    return 0;
}

static int teardown(void **vs)
{
    fixture_t *f = *vs;
    const cc_plugin_t *p = cc_plugin_entry();
    if (f->started)
        p->stop(f->state);
    if (f->inited)
        p->destroy(f->state);
    for (size_t i = 0; i < f->n_events; i++)
        mock_event_free(f->events[i]);
    mock_instance_free(f->inst);
    event_base_free(f->base);
    char old[160];
    snprintf(old, sizeof old, "%s.1", f->path);
    unlink(old);
    unlink(f->path);
    unlink(f->link);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void init_and_start(fixture_t *f, const char *config)
{
    const cc_plugin_t *p = cc_plugin_entry();
    f->inst = mock_instance_new(p, config, f->dir);
    assert_non_null(f->inst);
    mock_set_event_base(f->inst, f->base);
    assert_int_equal(p->init(f->inst, mock_host(), &f->state), 0);
    f->inited = true;
    assert_int_equal(p->start(f->state), 0);
    f->started = true;
}

static char *event_json(size_t i)
{
    static char buf[256];
    snprintf(buf, sizeof buf,
             "{\"operation\":\"insert\",\"collection\":\"orders\",\"document_id\":\"%zu\","
             "\"recipient\":null,\"id\":\"tok%zu\"}", i, i);
    return buf;
}

/* Delivers n new events (numbered on from the last) as one batch. */
static void deliver(fixture_t *f, size_t n)
{
    assert_true(f->n_events + n <= MAX_EVENTS);
    size_t first = f->n_events;
    for (size_t i = 0; i < n; i++)
        f->events[f->n_events++] = mock_event_new(event_json(first + i));
    cc_batch_t batch = {.size = sizeof batch, .count = n, .events = f->events + first};
    assert_int_equal(cc_plugin_entry()->deliver(f->state, &batch), 0);
}

/* The lines events [from, to) should have produced. */
static char *expected_lines(size_t from, size_t to)
{
    size_t cap = 256 * (to - from) + 1, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    s[0] = '\0';
    for (size_t i = from; i < to; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s\n", event_json(i));
    return s;
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t cap = 1 << 20, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t n;
    while ((n = fread(s + len, 1, cap - len - 1, fp)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            s = realloc(s, cap);
            assert_non_null(s);
        }
    }
    s[len] = '\0';
    fclose(fp);
    return s;
}

static void assert_file_is(const char *path, const char *want)
{
    char *got = read_file(path);
    assert_string_equal(got, want);
    free(got);
}

static void assert_each_acked_once(fixture_t *f, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        assert_int_equal(mock_event_acks(f->events[i]), 1);
}

/* Runs the sink's event loop until n events are acknowledged. */
static bool run_until_acked(fixture_t *f, size_t n, int timeout_ms)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (mock_acks(f->inst) >= n)
            return true;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms)
            return false;
        struct timeval slice = {.tv_sec = 0, .tv_usec = 20000};
        event_base_loopexit(f->base, &slice);
        event_base_dispatch(f->base);
    }
}

static void run_for(fixture_t *f, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_base_loopexit(f->base, &tv);
    event_base_dispatch(f->base);
}

static void descriptor_is_a_lossless_sink_with_reopen(void **vs)
{
    (void)vs;
    const cc_plugin_t *p = cc_plugin_entry();
    assert_int_equal(p->abi_major, CC_ABI_MAJOR);
    assert_int_equal(p->abi_minor, CC_ABI_MINOR);
    assert_int_equal(p->size, sizeof(cc_plugin_t));
    assert_string_equal(p->name, "file");
    assert_int_equal(p->kind, CC_PLUGIN_SINK);
    assert_non_null(p->deliver);
    assert_non_null(p->reopen);
    assert_int_equal(p->flags & CC_PLUGIN_F_LOSSY_DEFAULT, 0);
}

static void writes_each_event_as_a_line_and_acks_after_writing(void **vs)
{
    fixture_t *f = *vs;
    char config[256];
    snprintf(config, sizeof config, "{\"path\":\"out.jsonl\"}");   /* relative to the manifest */
    init_and_start(f, config);
    deliver(f, 3);
    char *want = expected_lines(0, 3);
    assert_file_is(f->path, want);
    free(want);
    assert_each_acked_once(f, 0, 3);
    assert_int_equal(mock_sink_status(f->inst), CC_SINK_OK);
    assert_int_equal(mock_log_count(f->inst, CC_LOG_ERROR), 0);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    mode_t um = umask(0);
    umask(um);
    assert_int_equal(st.st_mode & 0777, 0644 & ~um);
}

static void a_batch_larger_than_one_writev_keeps_order(void **vs)
{
    fixture_t *f = *vs;
    char config[256];
    snprintf(config, sizeof config, "{\"path\":\"%s\",\"fsync\":true}", f->path);
    init_and_start(f, config);
    deliver(f, 3000);
    deliver(f, 1);
    char *want = expected_lines(0, 3001);
    assert_file_is(f->path, want);
    free(want);
    assert_each_acked_once(f, 0, 3001);
}

static void appends_to_an_existing_file_and_across_reopen(void **vs)
{
    fixture_t *f = *vs;
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs("from a previous run\n", fp);
    fclose(fp);
    char config[256];
    snprintf(config, sizeof config, "{\"path\":\"%s\"}", f->path);
    init_and_start(f, config);
    deliver(f, 2);

    /* logrotate: move the file away, then SIGHUP. */
    char old[160];
    snprintf(old, sizeof old, "%s.1", f->path);
    assert_int_equal(rename(f->path, old), 0);
    cc_plugin_entry()->reopen(f->state);
    deliver(f, 2);

    char *lines = expected_lines(0, 2);
    char want[1024];
    snprintf(want, sizeof want, "from a previous run\n%s", lines);
    free(lines);
    assert_file_is(old, want);
    lines = expected_lines(2, 4);
    assert_file_is(f->path, lines);
    free(lines);
    assert_each_acked_once(f, 0, 4);
    assert_true(mock_log_contains(f->inst, "reopened"));
}

static void write_error_sets_down_and_acks_nothing(void **vs)
{
    fixture_t *f = *vs;
    init_and_start(f, "{\"path\":\"/dev/full\"}");
    deliver(f, 3);
    assert_int_equal(mock_acks(f->inst), 0);
    assert_int_equal(mock_sink_status(f->inst), CC_SINK_DOWN);
    assert_true(mock_log_contains(f->inst, "cannot write to /dev/full: No space left on device"));

    deliver(f, 2);   /* queued behind the first batch */
    run_for(f, 350);   /* a few retries: 100, 200 ms */
    assert_int_equal(mock_acks(f->inst), 0);
    assert_true(mock_counted(f->inst, CC_RESULT_RETRIED) >= 5);
    assert_int_equal(mock_log_count(f->inst, CC_LOG_ERROR), 1);   /* logged once */
    assert_int_equal(mock_sink_status_count(f->inst, CC_SINK_DOWN), 1);

    cc_plugin_entry()->stop(f->state);
    f->started = false;
    assert_int_equal(mock_acks(f->inst), 0);
    assert_true(mock_log_contains(f->inst, "stopping with 5 events not written"));
}

static void retries_after_a_failure_without_duplicating_a_cut_line(void **vs)
{
    fixture_t *f = *vs;
    char config[256];
    snprintf(config, sizeof config, "{\"path\":\"%s\"}", f->path);
    init_and_start(f, config);

    /* A file size limit cuts the third line short: EFBIG after 200 bytes. */
    size_t line = strlen(event_json(0)) + 1;
    struct rlimit saved, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    lim = saved;
    lim.rlim_cur = (rlim_t)(2 * line + line / 2);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    deliver(f, 5);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old_handler);

    assert_int_equal(mock_acks(f->inst), 2);   /* the two lines written whole */
    assert_each_acked_once(f, 0, 2);
    assert_int_equal(mock_sink_status(f->inst), CC_SINK_DOWN);
    assert_true(mock_log_contains(f->inst, "File too large"));
    deliver(f, 3);   /* must wait behind the failed ones */
    assert_int_equal(mock_acks(f->inst), 2);

    assert_true(run_until_acked(f, 8, 3000));
    char *want = expected_lines(0, 8);
    assert_file_is(f->path, want);
    free(want);
    assert_each_acked_once(f, 0, 8);
    assert_int_equal(mock_sink_status(f->inst), CC_SINK_OK);
    assert_true(mock_log_contains(f->inst, "writing to"));
    assert_true(mock_log_contains(f->inst, "again"));
}

static void reopen_after_an_outage_writes_the_kept_events_to_the_new_file(void **vs)
{
    fixture_t *f = *vs;
    assert_int_equal(symlink("/dev/full", f->link), 0);
    char config[256];
    snprintf(config, sizeof config, "{\"path\":\"%s\"}", f->link);
    init_and_start(f, config);
    deliver(f, 4);
    assert_int_equal(mock_acks(f->inst), 0);
    assert_int_equal(mock_sink_status(f->inst), CC_SINK_DOWN);

    assert_int_equal(unlink(f->link), 0);
    assert_int_equal(symlink(f->path, f->link), 0);
    cc_plugin_entry()->reopen(f->state);
    assert_true(run_until_acked(f, 4, 3000));
    char *want = expected_lines(0, 4);
    assert_file_is(f->path, want);
    free(want);
    assert_each_acked_once(f, 0, 4);
    assert_int_equal(mock_sink_status(f->inst), CC_SINK_OK);
}

static void dash_writes_to_stdout(void **vs)
{
    fixture_t *f = *vs;
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_true(dup2(fd, STDOUT_FILENO) >= 0);
    close(fd);

    init_and_start(f, NULL);   /* path defaults to "-" */
    deliver(f, 2);
    cc_plugin_entry()->reopen(f->state);   /* nothing to reopen: still stdout */
    deliver(f, 1);

    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    char *want = expected_lines(0, 3);
    assert_file_is(f->path, want);
    free(want);
    assert_each_acked_once(f, 0, 3);
}

static void unopenable_path_fails_init(void **vs)
{
    fixture_t *f = *vs;
    const cc_plugin_t *p = cc_plugin_entry();
    f->inst = mock_instance_new(p, "{\"path\":\"/nonexistent/dir/out.jsonl\"}", NULL);
    assert_non_null(f->inst);
    assert_int_equal(p->init(f->inst, mock_host(), &f->state), CC_ENOENT);
    assert_true(mock_log_contains(f->inst, "cannot open /nonexistent/dir/out.jsonl for appending"));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(descriptor_is_a_lossless_sink_with_reopen),
        T(writes_each_event_as_a_line_and_acks_after_writing),
        T(a_batch_larger_than_one_writev_keeps_order),
        T(appends_to_an_existing_file_and_across_reopen),
        T(write_error_sets_down_and_acks_nothing),
        T(retries_after_a_failure_without_duplicating_a_cut_line),
        T(reopen_after_an_outage_writes_the_kept_events_to_the_new_file),
        T(dash_writes_to_stdout),
        T(unopenable_path_fails_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
