/* tests/unit/test_redis_pure.c — the redis plugins' pure parts: URIs,
 * channel names, and the sink's ring of held events (order,
 * rewind after a lost connection, acks in contiguous runs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "changecast/error.h"
#include "plugins/redis/redis_queue.h"
#include "plugins/redis/redis_uri.h"
#include "plugins/redis/redis_util.h"

static void uri_full_form_with_acl_user(void **unused)
{
    (void)unused;
    redis_uri_t u;
    char err[256];
    assert_int_equal(redis_uri_parse("redis://alice:s%40cret@10.0.0.5:6380/3", &u, err,
                                     sizeof err), 0);
    assert_string_equal(u.host, "10.0.0.5");
    assert_int_equal(u.port, 6380);
    assert_string_equal(u.user, "alice");
    assert_string_equal(u.password, "s@cret");
    assert_int_equal(u.db, 3);
    assert_null(u.path);
    char where[64];
    redis_uri_where(&u, where, sizeof where);
    assert_string_equal(where, "10.0.0.5:6380");
    redis_uri_free(&u);
}

static void uri_defaults_and_legacy_password(void **unused)
{
    (void)unused;
    redis_uri_t u;
    char err[256];
    assert_int_equal(redis_uri_parse("redis://localhost", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 6379);
    assert_null(u.user);
    assert_null(u.password);
    assert_int_equal(u.db, 0);
    redis_uri_free(&u);

    assert_int_equal(redis_uri_parse("redis://:pw@[::1]:7000/", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 7000);
    assert_null(u.user);
    assert_string_equal(u.password, "pw");
    char where[64];
    redis_uri_where(&u, where, sizeof where);
    assert_string_equal(where, "[::1]:7000");
    redis_uri_free(&u);

    assert_int_equal(redis_uri_parse("unix:///run/redis.sock?db=2", &u, err, sizeof err), 0);
    assert_string_equal(u.path, "/run/redis.sock");
    assert_int_equal(u.db, 2);
    redis_uri_free(&u);
}

static void uri_errors_say_what_is_wrong(void **unused)
{
    (void)unused;
    static const struct {
        const char *uri, *why;
    } bad[] = {
        {"", "expected a redis:// URI"},
        {"http://x", "expected redis://"},
        {"rediss://x:6379", "no TLS"},
        {"redis://", "host is missing"},
        {"redis://h:0", "port must be a number from 1 to 65535"},
        {"redis://h:70000", "port must be"},
        {"redis://h:12ab", "port must be"},
        {"redis://h/x", "database number"},
        {"redis://h/1?x=1", "query strings"},
        {"redis://user@h", "password is required"},
        {"redis://u:@h", "password is empty"},
        {"redis://u:%zz@h", "percent-escape in the password"},
        {"redis://u:%00@h", "percent-escape"},
        {"redis://h o", "spaces"},
        {"redis://[::1", "IPv6"},
        {"unix://rel/path", "absolute"},
        {"unix:///s?db=x", "?db=N"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        redis_uri_t u;
        char err[256] = "";
        assert_int_equal(redis_uri_parse(bad[i].uri, &u, err, sizeof err), CC_ECONFIG);
        if (!strstr(err, bad[i].why))
            fail_msg("\"%s\": \"%s\" lacks \"%s\"", bad[i].uri, err, bad[i].why);
        assert_null(u.host);
        assert_null(u.password);
    }
}

static void channel_names_are_the_python_packages(void **unused)
{
    (void)unused;
    char *buf = NULL;
    size_t cap = 0;
    assert_int_equal(redis_channel(&buf, &cap, "mongo_change:", 13, "user_1"), 19);
    assert_string_equal(buf, "mongo_change:user_1");
    assert_int_equal(redis_channel(&buf, &cap, "mongo_change:", 13, NULL), 22);
    assert_string_equal(buf, "mongo_change:broadcast");
    assert_int_equal(redis_channel(&buf, &cap, "", 0, "x"), 1);
    assert_string_equal(buf, "x");
    free(buf);
}

static void commands_are_formatted_in_resp(void **unused)
{
    (void)unused;
    char *buf = NULL;
    size_t cap = 0;
    const char *argv[3] = {"PUBLISH", "mongo_change:u", "{\"a\":1}\r\n"};
    size_t lens[3] = {7, 14, 9};
    size_t n = redis_format(&buf, &cap, 3, argv, lens);
    const char want[] = "*3\r\n$7\r\nPUBLISH\r\n$14\r\nmongo_change:u\r\n$9\r\n{\"a\":1}\r\n\r\n";
    assert_int_equal(n, sizeof want - 1);
    assert_memory_equal(buf, want, n);
    /* An empty argument and a long one (the buffer grows). */
    char *big = malloc(100000);
    assert_non_null(big);
    memset(big, 'x', 100000);
    const char *argv2[2] = {"", big};
    size_t lens2[2] = {0, 100000};
    n = redis_format(&buf, &cap, 2, argv2, lens2);
    assert_int_equal(n, 4 + 6 + 9 + 100000 + 2);
    assert_memory_equal(buf, "*2\r\n$0\r\n\r\n$100000\r\nxx", 21);
    free(big);
    free(buf);
}

static void stream_ids_parse_compare_and_print(void **unused)
{
    (void)unused;
    redis_sid_t a, b;
    assert_int_equal(redis_sid_parse("1795314539321-0", &a), 0);
    assert_int_equal(redis_sid_parse("1795314539321-12", &b), 0);
    assert_true(redis_sid_cmp(a, b) < 0);
    assert_true(redis_sid_cmp(b, a) > 0);
    assert_int_equal(redis_sid_cmp(a, a), 0);
    assert_int_equal(redis_sid_parse("9-1", &b), 0);
    assert_true(redis_sid_cmp(b, a) < 0);   /* numeric, not text, order */
    char text[48];
    redis_sid_format(a, text);
    assert_string_equal(text, "1795314539321-0");
    assert_int_equal(redis_sid_parse("12", &a), -1);
    assert_int_equal(redis_sid_parse("-1", &a), -1);
    assert_int_equal(redis_sid_parse("1-", &a), -1);
    assert_int_equal(redis_sid_parse("1-x", &a), -1);
    assert_int_equal(redis_sid_parse("99999999999999999999999-0", &a), -1);
    assert_int_equal(redis_sid_parse(NULL, &a), -1);
}

/* Fake events: only their addresses matter to the queue. */
static cc_event_t *ev_at(size_t i)
{
    static char slots[5000];
    return (cc_event_t *)(void *)&slots[i];
}

static void queue_sends_in_order_and_acks_what_was_answered(void **unused)
{
    (void)unused;
    redis_queue_t q = {0};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(redis_queue_push(&q, ev_at(i)), 0);
    assert_ptr_equal(redis_queue_next(&q), ev_at(0));
    assert_ptr_equal(redis_queue_next(&q), ev_at(1));
    assert_ptr_equal(redis_queue_next(&q), ev_at(2));
    cc_event_t *const *run;
    assert_int_equal(redis_queue_acks(&q, &run), 0);
    redis_queue_replied(&q);
    redis_queue_replied(&q);
    assert_int_equal(redis_queue_acks(&q, &run), 2);
    assert_ptr_equal(run[0], ev_at(0));
    assert_ptr_equal(run[1], ev_at(1));
    redis_queue_pop(&q, 2);
    /* Connection lost: event 2 (sent, unanswered) goes out again first. */
    assert_int_equal(redis_queue_rewind(&q), 1);
    assert_ptr_equal(redis_queue_next(&q), ev_at(2));
    assert_ptr_equal(redis_queue_next(&q), ev_at(3));
    assert_ptr_equal(redis_queue_next(&q), ev_at(4));
    assert_null(redis_queue_next(&q));
    assert_int_equal(redis_queue_held(&q), 3);
    redis_queue_free(&q);
}

static void queue_grows_and_acks_across_the_wrap(void **unused)
{
    (void)unused;
    redis_queue_t q = {0};
    size_t pushed = 0, acked = 0;
    /* Move the marks near the end of the first array, then grow past it
     * while events are held: order must survive the re-layout. */
    for (; pushed < 1000; pushed++)
        assert_int_equal(redis_queue_push(&q, ev_at(pushed)), 0);
    for (size_t i = 0; i < 1000; i++) {
        assert_ptr_equal(redis_queue_next(&q), ev_at(i));
        redis_queue_replied(&q);
    }
    cc_event_t *const *run;
    size_t n;
    while ((n = redis_queue_acks(&q, &run)) > 0) {
        for (size_t i = 0; i < n; i++)
            assert_ptr_equal(run[i], ev_at(acked + i));
        acked += n;
        redis_queue_pop(&q, n);
    }
    assert_int_equal(acked, 1000);
    for (; pushed < 3500; pushed++)
        assert_int_equal(redis_queue_push(&q, ev_at(pushed)), 0);
    for (size_t i = 1000; i < 3500; i++) {
        assert_ptr_equal(redis_queue_next(&q), ev_at(i));
        redis_queue_replied(&q);
    }
    while ((n = redis_queue_acks(&q, &run)) > 0) {
        for (size_t i = 0; i < n; i++)
            assert_ptr_equal(run[i], ev_at(acked + i));
        acked += n;
        redis_queue_pop(&q, n);
    }
    assert_int_equal(acked, 3500);
    assert_int_equal(redis_queue_held(&q), 0);
    redis_queue_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uri_full_form_with_acl_user),
        cmocka_unit_test(uri_defaults_and_legacy_password),
        cmocka_unit_test(uri_errors_say_what_is_wrong),
        cmocka_unit_test(channel_names_are_the_python_packages),
        cmocka_unit_test(commands_are_formatted_in_resp),
        cmocka_unit_test(stream_ids_parse_compare_and_print),
        cmocka_unit_test(queue_sends_in_order_and_acks_what_was_answered),
        cmocka_unit_test(queue_grows_and_acks_across_the_wrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
