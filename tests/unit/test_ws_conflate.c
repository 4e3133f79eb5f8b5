/* tests/unit/test_ws_conflate.c — the websocket sink's conflation queue
 * (on_slow: conflate): only the newest pending event per document is kept,
 * it moves to the back (so the order is the order of the newest changes),
 * collection-level events are never merged, and the byte count stays exact.
 * plugins/websocket/ws_conflate.c and ws_item.c are compiled in, with the
 * mock host's fake events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mock_host.h"
#include "plugins/websocket/ws_conflate.h"

#define MAX_EV 8000

static cc_event_t *events[MAX_EV];
static size_t n_events;

static int free_events(void **s)
{
    (void)s;
    for (size_t i = 0; i < n_events; i++) mock_event_free(events[i]);
    n_events = 0;
    return 0;
}

/* An item for an event on document doc (NULL: a collection-level event)
 * whose envelope carries `pad` extra bytes. The caller owns the reference. */
static ws_item_t *item(const char *id, const char *coll, const char *doc, int pad)
{
    char json[512];
    if (doc)
        snprintf(json, sizeof json,
                 "{\"operation\":\"update\",\"namespace\":\"test\",\"collection\":\"%s\","
                 "\"document_id\":\"%s\",\"id\":\"%s\",\"pad\":\"%*s\"}", coll, doc, id, pad, "");
    else
        snprintf(json, sizeof json, "{\"operation\":\"drop\",\"collection\":\"%s\",\"id\":\"%s\"}",
                 coll, id);
    assert_true(n_events < MAX_EV);
    cc_event_t *ev = events[n_events++] = mock_event_new(json);
    ws_item_t *it = ws_item_new(mock_host(), ev, n_events);
    assert_non_null(it);
    return it;
}

/* Adds and drops the caller's reference; returns what add returned. */
static int add(ws_conflate_t *cf, ws_item_t *it)
{
    int rc = ws_conflate_add(cf, mock_host(), it);
    ws_item_unref(mock_host(), it);
    return rc;
}

static const char *pop_id(ws_conflate_t *cf)
{
    static char id[64];
    ws_item_t *it = ws_conflate_pop(cf);
    if (!it) return NULL;
    snprintf(id, sizeof id, "%s", mock_host()->event_id(it->ev));
    ws_item_unref(mock_host(), it);
    return id;
}

static void newest_per_document_moves_to_the_back(void **s)
{
    (void)s;
    ws_conflate_t *cf = ws_conflate_new();
    assert_non_null(cf);
    assert_int_equal(add(cf, item("a1", "users", "a", 0)), 0);
    assert_int_equal(add(cf, item("b1", "users", "b", 0)), 0);
    assert_int_equal(add(cf, item("a2", "users", "a", 0)), 1);   /* replaces a1 */
    assert_int_equal(add(cf, item("c1", "users", "c", 0)), 0);
    assert_int_equal(add(cf, item("a3", "users", "a", 0)), 1);
    assert_int_equal(cf->count, 3);
    assert_string_equal(pop_id(cf), "b1");
    assert_string_equal(pop_id(cf), "c1");
    assert_string_equal(pop_id(cf), "a3");
    assert_null(pop_id(cf));
    assert_int_equal(cf->count, 0);
    assert_int_equal(cf->bytes, 0);
    /* after popping, the document is new again */
    assert_int_equal(add(cf, item("a4", "users", "a", 0)), 0);
    ws_conflate_free(cf, mock_host());
}

static void collection_level_events_are_never_merged(void **s)
{
    (void)s;
    ws_conflate_t *cf = ws_conflate_new();
    assert_non_null(cf);
    assert_int_equal(add(cf, item("d1", "users", NULL, 0)), 0);
    assert_int_equal(add(cf, item("d2", "users", NULL, 0)), 0);
    assert_int_equal(add(cf, item("x1", "users", "x", 0)), 0);
    assert_int_equal(add(cf, item("x1o", "orders", "x", 0)), 0);   /* another collection */
    assert_int_equal(cf->count, 4);
    assert_string_equal(pop_id(cf), "d1");
    assert_string_equal(pop_id(cf), "d2");
    assert_string_equal(pop_id(cf), "x1");
    assert_string_equal(pop_id(cf), "x1o");
    ws_conflate_free(cf, mock_host());
}

static void byte_count_follows_replacements(void **s)
{
    (void)s;
    ws_conflate_t *cf = ws_conflate_new();
    assert_non_null(cf);
    ws_item_t *a = item("a1", "users", "a", 100);
    size_t la = a->ws->len;
    add(cf, a);
    ws_item_t *b = item("b1", "users", "b", 10);
    size_t lb = b->ws->len;
    add(cf, b);
    assert_int_equal(cf->bytes, la + lb);
    ws_item_t *a2 = item("a2", "users", "a", 0);     /* shorter */
    size_t la2 = a2->ws->len;
    add(cf, a2);
    assert_int_equal(cf->bytes, la2 + lb);
    ws_item_t *a3 = item("a3", "users", "a", 200);   /* longer */
    size_t la3 = a3->ws->len;
    add(cf, a3);
    assert_int_equal(cf->bytes, la3 + lb);
    assert_string_equal(pop_id(cf), "b1");
    assert_int_equal(cf->bytes, la3);
    ws_conflate_free(cf, mock_host());   /* frees what is still pending */
}

/* Past the first table size: every document still found, order kept. */
static void thousands_of_documents_keep_order_after_growth(void **s)
{
    (void)s;
    ws_conflate_t *cf = ws_conflate_new();
    assert_non_null(cf);
    char id[32], doc[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "first%d", i);
        snprintf(doc, sizeof doc, "doc%d", i);
        assert_int_equal(add(cf, item(id, "users", doc, 0)), 0);
    }
    /* update every document again, in reverse order */
    for (int i = 2999; i >= 0; i--) {
        snprintf(id, sizeof id, "second%d", i);
        snprintf(doc, sizeof doc, "doc%d", i);
        assert_int_equal(add(cf, item(id, "users", doc, 0)), 1);
    }
    assert_int_equal(cf->count, 3000);
    for (int i = 2999; i >= 0; i--) {
        snprintf(id, sizeof id, "second%d", i);
        const char *got = pop_id(cf);
        assert_non_null(got);
        assert_string_equal(got, id);
    }
    assert_null(pop_id(cf));
    ws_conflate_free(cf, mock_host());
    ws_conflate_free(NULL, mock_host());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(newest_per_document_moves_to_the_back, free_events),
        cmocka_unit_test_teardown(collection_level_events_are_never_merged, free_events),
        cmocka_unit_test_teardown(byte_count_follows_replacements, free_events),
        cmocka_unit_test_teardown(thousands_of_documents_keep_order_after_growth, free_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
