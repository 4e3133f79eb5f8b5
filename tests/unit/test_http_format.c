/* tests/unit/test_http_format.c — what the http sink sends and decides,
 * without a network: request bodies, dead-letter lines, reasons, verdicts,
 * Retry-After, and the per-recipient ordering queue (backoff delays:
 * test_retry.c).
 * plugins/http/http_format.c and http_queue.c are compiled in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "changecast/error.h"
#include "plugins/http/http.h"

static const char envelope[] = "{\"operation\":\"insert\",\"id\":\"t1\",\"recipient\":\"u1\","
                               "\"data\":{\"x\":1.50}}";

static void body_embeds_envelope_verbatim_with_recipient(void **s)
{
    (void)s;
    http_buf_t b = {0};
    assert_int_equal(http_body(&b, "u1", envelope, strlen(envelope)), 0);
    assert_string_equal(b.data, "{\"recipient\":\"u1\",\"event\":{\"operation\":\"insert\","
                                "\"id\":\"t1\",\"recipient\":\"u1\",\"data\":{\"x\":1.50}}}");
    assert_int_equal(b.len, strlen(b.data));
    /* Reused buffers start over. */
    assert_int_equal(http_body(&b, NULL, "{}", 2), 0);
    assert_string_equal(b.data, "{\"event\":{}}");
    http_buf_free(&b);
}

static void body_escapes_recipient_as_json_string(void **s)
{
    (void)s;
    http_buf_t b = {0};
    assert_int_equal(http_body(&b, "a\"b\\c\n\x01\xc3\xa9", "{}", 2), 0);
    json_error_t err;
    json_t *j = json_loads(b.data, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "recipient")),
                        "a\"b\\c\n\x01\xc3\xa9");
    json_decref(j);
    http_buf_free(&b);
}

static void dead_letter_line_has_every_field(void **s)
{
    (void)s;
    http_buf_t b = {0};
    assert_int_equal(http_dead_letter_line(&b, envelope, strlen(envelope), "u1", 400,
                                           "HTTP 400 Bad Request: \"no\"", 1), 0);
    assert_int_equal(b.data[b.len - 1], '\n');
    assert_null(memchr(b.data, '\n', b.len - 1));
    json_error_t err;
    json_t *j = json_loads(b.data, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "event"), "id")), "t1");
    assert_string_equal(json_string_value(json_object_get(j, "recipient")), "u1");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 400);
    assert_string_equal(json_string_value(json_object_get(j, "reason")),
                        "HTTP 400 Bad Request: \"no\"");
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 1);
    json_decref(j);
    /* The envelope is kept byte for byte (1.50 stays 1.50). */
    assert_non_null(strstr(b.data, envelope));

    assert_int_equal(http_dead_letter_line(&b, "{}", 2, NULL, -1, "timeout after 5000 ms", 9), 0);
    assert_string_equal(b.data, "{\"event\":{},\"recipient\":null,\"status\":null,"
                                "\"reason\":\"timeout after 5000 ms\",\"attempts\":9}\n");
    http_buf_free(&b);
}

static void verdicts_follow_the_spec(void **s)
{
    (void)s;
    assert_int_equal(http_verdict(false, 200), HTTP_VERDICT_OK);
    assert_int_equal(http_verdict(false, 204), HTTP_VERDICT_OK);
    assert_int_equal(http_verdict(false, 299), HTTP_VERDICT_OK);
    assert_int_equal(http_verdict(false, 500), HTTP_VERDICT_RETRY);
    assert_int_equal(http_verdict(false, 503), HTTP_VERDICT_RETRY);
    assert_int_equal(http_verdict(false, 429), HTTP_VERDICT_RETRY);
    assert_int_equal(http_verdict(false, 408), HTTP_VERDICT_RETRY);
    assert_int_equal(http_verdict(true, -1), HTTP_VERDICT_RETRY);
    assert_int_equal(http_verdict(false, 400), HTTP_VERDICT_DEAD);
    assert_int_equal(http_verdict(false, 404), HTTP_VERDICT_DEAD);
    assert_int_equal(http_verdict(false, 410), HTTP_VERDICT_DEAD);
    assert_int_equal(http_verdict(false, 301), HTTP_VERDICT_DEAD);
    assert_int_equal(http_verdict(false, 302), HTTP_VERDICT_DEAD);
}

static void retry_after_reads_seconds_and_http_dates(void **s)
{
    (void)s;
    time_t now = 1614265330;   /* Thu, 25 Feb 2021 15:02:10 GMT */
    assert_int_equal(http_retry_after_ms("3", now), 3000);
    assert_int_equal(http_retry_after_ms(" 0", now), 0);
    assert_int_equal(http_retry_after_ms("120 ", now), 120000);
    assert_int_equal(http_retry_after_ms("Thu, 25 Feb 2021 15:02:40 GMT", now), 30000);
    assert_int_equal(http_retry_after_ms("Thu, 25 Feb 2021 15:00:00 GMT", now), 0);
    assert_int_equal(http_retry_after_ms("99999999999", now), 24LL * 3600 * 1000);
    assert_int_equal(http_retry_after_ms(NULL, now), -1);
    assert_int_equal(http_retry_after_ms("", now), -1);
    assert_int_equal(http_retry_after_ms("soon", now), -1);
    assert_int_equal(http_retry_after_ms("3s", now), -1);
}

static void reasons_quote_a_clean_excerpt_of_the_body(void **s)
{
    (void)s;
    char r[512];
    http_reason_http(r, sizeof r, 400, "Bad Request", "{\"error\":\"bad\"}\n", 16);
    assert_string_equal(r, "HTTP 400 Bad Request: {\"error\":\"bad\"}");
    http_reason_http(r, sizeof r, 404, "", NULL, 0);   /* HTTP/2: no phrase */
    assert_string_equal(r, "HTTP 404 Not Found");
    http_reason_http(r, sizeof r, 499, NULL, "", 0);
    assert_string_equal(r, "HTTP 499");

    char big[300];
    memset(big, 'a', sizeof big);
    http_reason_http(r, sizeof r, 503, "Service Unavailable", big, sizeof big);
    assert_int_equal(strlen(r), strlen("HTTP 503 Service Unavailable: ") + HTTP_BODY_EXCERPT);

    /* Invalid UTF-8 and control characters never reach the JSON line. */
    http_reason_http(r, sizeof r, 500, "Oops", "a\x01" "b\xff" "c\xc3\xa9" "\r\n", 9);
    assert_string_equal(r, "HTTP 500 Oops: a b?c\xc3\xa9");
    char clean[8];
    http_text_clean("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8, clean, sizeof clean);
    assert_string_equal(clean, "\xc3\xa9\xc3\xa9\xc3\xa9");   /* cut on a boundary */
    http_text_clean("ab\xe2\x82", 4, clean, sizeof clean);      /* cut sequence */
    assert_string_equal(clean, "ab??");
}

static void header_id_escapes_control_characters_only(void **s)
{
    (void)s;
    const char *clean = "82680684FF:user_\xc3\xa9 1";
    assert_ptr_equal(http_header_id(clean), clean);   /* no copy when clean */
    char *id = http_header_id("tok:evil\r\nX-Injected: 1\x7f");
    assert_non_null(id);
    assert_string_equal(id, "tok:evil%0D%0AX-Injected: 1%7F");
    free(id);
}

/* ---- the per-recipient queue ------------------------------------------ */

static int freed_keys;
static void count_free(http_key_t *k)
{
    (void)k;
    freed_keys++;
}

static void queue_keeps_recipient_order_and_rotates_recipients(void **s)
{
    (void)s;
    http_queue_t q;
    int ev[6];
    freed_keys = 0;
    assert_int_equal(http_queue_init(&q, &q, count_free), 0);
    assert_non_null(http_queue_push(&q, "a", &ev[0]));
    assert_non_null(http_queue_push(&q, "a", &ev[1]));
    assert_non_null(http_queue_push(&q, "b", &ev[2]));
    assert_non_null(http_queue_push(&q, NULL, &ev[3]));
    assert_non_null(http_queue_push(&q, "a", &ev[4]));
    assert_non_null(http_queue_push(&q, NULL, &ev[5]));
    assert_int_equal(q.nitems, 6);

    /* One head per recipient is ready, in arrival order of the recipients. */
    http_key_t *ka = http_queue_take(&q), *kb = http_queue_take(&q), *kn = http_queue_take(&q);
    assert_null(http_queue_take(&q));
    assert_string_equal(ka->recipient, "a");
    assert_string_equal(kb->recipient, "b");
    assert_null(kn->recipient);
    assert_ptr_equal(ka->owner, &q);

    /* "a" waits for a retry: "b" and broadcasts go on. */
    ka->state = HTTP_KEY_WAITING;
    assert_ptr_equal(http_queue_pop(&q, kb), &ev[2]);   /* b empty: freed */
    assert_int_equal(freed_keys, 1);
    assert_ptr_equal(http_queue_pop(&q, kn), &ev[3]);
    kn = http_queue_take(&q);
    assert_null(kn->recipient);
    assert_ptr_equal(kn->head->ev, &ev[5]);
    assert_null(http_queue_take(&q));

    /* The retry of a's head comes back behind the ready ones, still first of a. */
    http_queue_ready(&q, ka);
    assert_ptr_equal(http_queue_take(&q), ka);
    assert_ptr_equal(ka->head->ev, &ev[0]);
    ka->attempts = 3;
    ka->retrying = true;
    ka->reason = strdup("x");
    assert_ptr_equal(http_queue_pop(&q, ka), &ev[0]);
    assert_int_equal(ka->attempts, 0);   /* per-event fields reset */
    assert_false(ka->retrying);
    assert_null(ka->reason);
    assert_ptr_equal(http_queue_take(&q), ka);
    assert_ptr_equal(http_queue_pop(&q, ka), &ev[1]);
    assert_ptr_equal(http_queue_take(&q), ka);
    assert_ptr_equal(http_queue_pop(&q, ka), &ev[4]);
    assert_int_equal(q.nkeys, 0);
    assert_int_equal(q.nitems, 1);
    http_queue_free(&q);   /* frees the broadcast key still holding ev[5] */
    assert_int_equal(freed_keys, 3);
}

static void queue_grows_for_many_recipients(void **s)
{
    (void)s;
    http_queue_t q;
    static int ev;
    char name[32];
    assert_int_equal(http_queue_init(&q, NULL, NULL), 0);
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "user_%d", i);
        http_key_t *k = http_queue_push(&q, name, &ev);
        assert_non_null(k);
        assert_ptr_equal(http_queue_push(&q, name, &ev), k);   /* same key again */
    }
    assert_int_equal(q.nkeys, 5000);
    assert_true(q.nbuckets >= 4096);
    for (int i = 0; i < 5000; i++) {
        http_key_t *k = http_queue_take(&q);
        snprintf(name, sizeof name, "user_%d", i);
        assert_string_equal(k->recipient, name);
        assert_int_equal(k->len, 2);
        if (i % 2)
            http_queue_pop(&q, k);
    }
    assert_int_equal(q.nitems, 7500);
    http_queue_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(body_embeds_envelope_verbatim_with_recipient),
        cmocka_unit_test(body_escapes_recipient_as_json_string),
        cmocka_unit_test(dead_letter_line_has_every_field),
        cmocka_unit_test(verdicts_follow_the_spec),
        cmocka_unit_test(retry_after_reads_seconds_and_http_dates),
        cmocka_unit_test(reasons_quote_a_clean_excerpt_of_the_body),
        cmocka_unit_test(header_id_escapes_control_characters_only),
        cmocka_unit_test(queue_keeps_recipient_order_and_rotates_recipients),
        cmocka_unit_test(queue_grows_for_many_recipients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
