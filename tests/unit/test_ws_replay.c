/* tests/unit/test_ws_replay.c — the websocket sink's shared frames and its
 * replay window: an event's text frame and SSE message built once, shared by
 * evbuffer reference without a copy, the document key of conflation, and
 * the window that finds "every kept event after this id" across evictions.
 * plugins/websocket/ws_item.c and ws_replay.c are compiled in, with the mock
 * host's fake events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "mock_host.h"
#include "plugins/websocket/ws_frame.h"
#include "plugins/websocket/ws_item.h"
#include "plugins/websocket/ws_replay.h"

#define MAX_EV 6000

static cc_event_t *events[MAX_EV];
static size_t n_events;

/* A fake event with this id (and document when doc is not NULL); freed by
 * free_events. */
static cc_event_t *event(const char *id, const char *coll, const char *doc)
{
    char json[256];
    if (doc)
        snprintf(json, sizeof json,
                 "{\"operation\":\"update\",\"namespace\":\"test\",\"collection\":\"%s\","
                 "\"document_id\":\"%s\",\"id\":\"%s\"}", coll, doc, id);
    else
        snprintf(json, sizeof json, "{\"operation\":\"drop\",\"collection\":\"%s\",\"id\":\"%s\"}",
                 coll, id);
    assert_true(n_events < MAX_EV);
    return events[n_events++] = mock_event_new(json);
}

static int free_events(void **s)
{
    (void)s;
    for (size_t i = 0; i < n_events; i++) mock_event_free(events[i]);
    n_events = 0;
    return 0;
}

static ws_item_t *item(const char *id, uint64_t seq)
{
    ws_item_t *it = ws_item_new(mock_host(), event(id, "users", id), seq);
    assert_non_null(it);
    return it;
}

/* Pushes an item into the window and drops the caller's reference. */
static void push(ws_replay_t *r, const char *id, uint64_t seq)
{
    ws_item_t *it = item(id, seq);
    ws_replay_push(r, mock_host(), it);
    ws_item_unref(mock_host(), it);
}

static const char *id_at(const ws_replay_t *r, size_t i)
{
    return mock_host()->event_id(ws_replay_at(r, i)->ev);
}

static void item_frame_is_the_envelope_in_one_text_frame(void **s)
{
    (void)s;
    const cc_host_t *h = mock_host();
    cc_event_t *ev = event("82680684:u1", "users", "u1");
    size_t jlen;
    const char *json = h->event_json(ev, &jlen);
    ws_item_t *it = ws_item_new(h, ev, 7);
    assert_non_null(it);
    assert_int_equal(it->seq, 7);
    assert_int_equal(it->refs, 1);
    assert_int_equal(it->ws->len, 2 + jlen);
    assert_int_equal((uint8_t)it->ws->data[0], 0x81);
    assert_int_equal((uint8_t)it->ws->data[1], jlen);
    assert_memory_equal(it->ws->data + 2, json, jlen);
    /* SSE message: built on first need, then the same bytes every time */
    assert_null(it->sse);
    ws_blob_t *sse = ws_item_sse(h, it);
    assert_non_null(sse);
    assert_ptr_equal(ws_item_sse(h, it), sse);
    char want[512];
    int n = snprintf(want, sizeof want, "id: 82680684:u1\ndata: %s\n\n", json);
    assert_int_equal(sse->len, (size_t)n);
    assert_memory_equal(sse->data, want, (size_t)n);
    ws_item_unref(h, it);
}

static void long_envelopes_use_the_16_bit_length_form(void **s)
{
    (void)s;
    char json[300];
    memset(json, 'x', sizeof json);
    ws_blob_t *b = ws_blob_text_frame(json, sizeof json);
    assert_non_null(b);
    assert_int_equal(b->len, 4 + sizeof json);
    uint8_t hdr[WS_FRAME_HEADER_MAX];
    assert_int_equal(ws_frame_header(hdr, WS_OP_TEXT, sizeof json), 4);
    assert_memory_equal(b->data, hdr, 4);
    ws_blob_unref(b);
    b = ws_blob_sse(NULL, "{\"operation\":\"gap\"}", 19);
    assert_non_null(b);
    assert_int_equal(b->len, 6 + 19 + 2);
    assert_memory_equal(b->data, "data: {\"operation\":\"gap\"}\n\n", b->len);
    ws_blob_unref(b);
}

/* One buffer, many sockets: each evbuffer holds a reference, not a copy,
 * and gives it back when freed or drained. */
static void blobs_are_shared_by_reference(void **s)
{
    (void)s;
    ws_blob_t *b = ws_blob_text_frame("{\"a\":1}", 7);
    assert_non_null(b);
    struct evbuffer *out1 = evbuffer_new(), *out2 = evbuffer_new();
    assert_int_equal(ws_blob_send(b, out1), 0);
    assert_int_equal(ws_blob_send(b, out2), 0);
    assert_int_equal(b->refs, 3);
    assert_int_equal(evbuffer_get_length(out1), b->len);
    assert_ptr_equal(evbuffer_pullup(out1, -1), b->data);   /* the blob's own bytes */
    evbuffer_drain(out1, b->len);
    assert_int_equal(b->refs, 2);
    evbuffer_free(out2);
    assert_int_equal(b->refs, 1);
    evbuffer_free(out1);
    ws_blob_unref(b);
}

static void same_document_means_database_collection_and_id(void **s)
{
    (void)s;
    const cc_host_t *h = mock_host();
    ws_item_t *a1 = ws_item_new(h, event("1", "users", "u1"), 1);
    ws_item_t *a2 = ws_item_new(h, event("2", "users", "u1"), 2);
    ws_item_t *b = ws_item_new(h, event("3", "orders", "u1"), 3);
    ws_item_t *c = ws_item_new(h, event("4", "users", "u2"), 4);
    ws_item_t *none = ws_item_new(h, event("5", "users", NULL), 5);
    assert_true(ws_item_same_doc(h, a1, a2));
    assert_false(ws_item_same_doc(h, a1, b));
    assert_false(ws_item_same_doc(h, a1, c));
    assert_int_equal(none->doc_hash, 0);
    assert_false(ws_item_same_doc(h, none, none));   /* collection-level: never merged */
    assert_int_not_equal(a1->doc_hash, 0);
    ws_item_unref(h, a1);
    ws_item_unref(h, a2);
    ws_item_unref(h, b);
    ws_item_unref(h, c);
    ws_item_unref(h, none);
}

static void window_keeps_the_last_events_and_finds_what_follows_an_id(void **s)
{
    (void)s;
    ws_replay_t r;
    assert_int_equal(ws_replay_init(&r, 3), 0);
    char id[16];
    for (int i = 1; i <= 5; i++) {
        snprintf(id, sizeof id, "e%d", i);
        push(&r, id, (uint64_t)i);
    }
    assert_int_equal(r.count, 3);
    assert_string_equal(id_at(&r, 0), "e3");
    assert_string_equal(id_at(&r, 2), "e5");
    size_t next = 99;
    assert_int_equal(ws_replay_find(&r, mock_host(), "e3", &next), 1);
    assert_int_equal(next, 1);
    assert_string_equal(id_at(&r, next), "e4");
    assert_int_equal(ws_replay_find(&r, mock_host(), "e5", &next), 1);
    assert_int_equal(next, 3);                       /* up to date: nothing to replay */
    assert_int_equal(ws_replay_find(&r, mock_host(), "e2", &next), 0);   /* evicted: a gap */
    assert_int_equal(ws_replay_find(&r, mock_host(), "nope", &next), 0);
    assert_int_equal(ws_replay_find(&r, mock_host(), NULL, &next), 0);
    ws_replay_free(&r, mock_host());
}

static void an_empty_window_keeps_nothing(void **s)
{
    (void)s;
    ws_replay_t r;
    assert_int_equal(ws_replay_init(&r, 0), 0);
    push(&r, "e1", 1);
    assert_int_equal(r.count, 0);
    size_t next;
    assert_int_equal(ws_replay_find(&r, mock_host(), "e1", &next), 0);
    ws_replay_free(&r, mock_host());
}

/* Thousands of pushes through a small ring: the index must forget every
 * evicted id and still find every kept one (stale hash chains would show). */
static void index_stays_exact_across_many_evictions(void **s)
{
    (void)s;
    ws_replay_t r;
    assert_int_equal(ws_replay_init(&r, 50), 0);
    char id[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "%08X:u%d", i * 7919, i % 13);
        push(&r, id, (uint64_t)i + 1);
    }
    assert_int_equal(r.count, 50);
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "%08X:u%d", i * 7919, i % 13);
        size_t next;
        int found = ws_replay_find(&r, mock_host(), id, &next);
        if (i < 4950) {
            if (found) fail_msg("evicted id %s still found", id);
        } else {
            assert_int_equal(found, 1);
            assert_int_equal(next, (size_t)(i - 4950 + 1));
            assert_int_equal(ws_replay_at(&r, next - 1)->seq, (uint64_t)i + 1);
        }
    }
    ws_replay_free(&r, mock_host());
}

/* An id seen twice (an event replayed after a restart) resumes after the
 * newest copy: the client has already seen it. */
static void a_repeated_id_resumes_after_its_newest_copy(void **s)
{
    (void)s;
    ws_replay_t r;
    assert_int_equal(ws_replay_init(&r, 8), 0);
    push(&r, "dup", 1);
    push(&r, "x", 2);
    push(&r, "dup", 3);
    push(&r, "y", 4);
    size_t next;
    assert_int_equal(ws_replay_find(&r, mock_host(), "dup", &next), 1);
    assert_int_equal(next, 3);
    assert_string_equal(id_at(&r, next), "y");
    ws_replay_free(&r, mock_host());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(item_frame_is_the_envelope_in_one_text_frame, free_events),
        cmocka_unit_test_teardown(long_envelopes_use_the_16_bit_length_form, free_events),
        cmocka_unit_test_teardown(blobs_are_shared_by_reference, free_events),
        cmocka_unit_test_teardown(same_document_means_database_collection_and_id, free_events),
        cmocka_unit_test_teardown(window_keeps_the_last_events_and_finds_what_follows_an_id, free_events),
        cmocka_unit_test_teardown(an_empty_window_keeps_nothing, free_events),
        cmocka_unit_test_teardown(index_stays_exact_across_many_evictions, free_events),
        cmocka_unit_test_teardown(a_repeated_id_resumes_after_its_newest_copy, free_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
