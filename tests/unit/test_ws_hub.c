/* tests/unit/test_ws_hub.c — the websocket sink's hub: many sockets per
 * recipient, broadcasts-only sockets, SSE counted apart, a recipient gone
 * with its last socket, and thousands of recipients past the table's first
 * size. plugins/websocket/ws_hub.c is compiled in; connections are bare
 * structs (the hub only links them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugins/websocket/ws_sink.h"

static ws_conn_t *conn(ws_kind_t kind)
{
    ws_conn_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->kind = (uint8_t)kind;
    return c;
}

static size_t count_list(const ws_conn_t *c, const ws_conn_t *want[], size_t nwant)
{
    size_t n = 0;
    for (; c; c = c->rnext, n++) {
        bool known = false;
        for (size_t k = 0; k < nwant; k++) known = known || want[k] == c;
        if (!known) fail_msg("unexpected connection in a recipient's list");
    }
    return n;
}

static void several_sockets_share_a_recipient(void **s)
{
    (void)s;
    ws_hub_t h;
    assert_int_equal(ws_hub_init(&h), 0);
    ws_conn_t *c1 = conn(WS_KIND_WS), *c2 = conn(WS_KIND_WS), *c3 = conn(WS_KIND_WS);
    ws_conn_t *c4 = conn(WS_KIND_WS), *c5 = conn(WS_KIND_SSE);
    assert_int_equal(ws_hub_add(&h, c1, "user_1"), 0);
    assert_int_equal(ws_hub_add(&h, c2, "user_1"), 0);
    assert_int_equal(ws_hub_add(&h, c3, "user_2"), 0);
    assert_int_equal(ws_hub_add(&h, c4, NULL), 0);        /* broadcasts only */
    assert_int_equal(ws_hub_add(&h, c5, "user_1"), 0);
    assert_int_equal(h.n_open, 5);
    assert_int_equal(h.n_sse, 1);
    assert_int_equal(h.nrcpt, 2);
    const ws_conn_t *u1[] = {c1, c2, c5};
    assert_int_equal(count_list(ws_hub_find(&h, "user_1"), u1, 3), 3);
    const ws_conn_t *u2[] = {c3};
    assert_int_equal(count_list(ws_hub_find(&h, "user_2"), u2, 1), 1);
    assert_null(ws_hub_find(&h, "user_3"));
    assert_null(ws_hub_find(&h, "user_"));
    assert_null(c4->rcpt);
    /* every socket is on the open list, once */
    size_t n = 0;
    for (ws_conn_t *c = h.open; c; c = c->next) n++;
    assert_int_equal(n, 5);

    ws_hub_remove(&h, c2);                                /* from the middle */
    const ws_conn_t *u1b[] = {c1, c5};
    assert_int_equal(count_list(ws_hub_find(&h, "user_1"), u1b, 2), 2);
    ws_hub_remove(&h, c2);                                /* twice: no-op */
    assert_int_equal(h.n_open, 4);
    ws_hub_remove(&h, c5);
    assert_int_equal(h.n_sse, 0);
    ws_hub_remove(&h, c1);
    assert_null(ws_hub_find(&h, "user_1"));               /* gone with its last socket */
    assert_int_equal(h.nrcpt, 1);
    ws_hub_remove(&h, c4);
    ws_hub_remove(&h, c3);
    assert_int_equal(h.n_open, 0);
    assert_int_equal(h.nrcpt, 0);
    assert_null(h.open);
    /* a socket may join again after leaving */
    assert_int_equal(ws_hub_add(&h, c1, "user_1"), 0);
    assert_ptr_equal(ws_hub_find(&h, "user_1"), c1);
    ws_hub_remove(&h, c1);
    ws_hub_free(&h);
    free(c1);
    free(c2);
    free(c3);
    free(c4);
    free(c5);
}

static void thousands_of_recipients_are_all_found(void **s)
{
    (void)s;
    enum { N = 3000 };
    ws_hub_t h;
    assert_int_equal(ws_hub_init(&h), 0);
    ws_conn_t **cs = calloc(N, sizeof *cs);
    assert_non_null(cs);
    char name[32];
    for (int i = 0; i < N; i++) {
        cs[i] = conn(WS_KIND_WS);
        snprintf(name, sizeof name, "user_%d", i);
        assert_int_equal(ws_hub_add(&h, cs[i], name), 0);
    }
    assert_int_equal(h.nrcpt, N);
    assert_true(h.nbuckets >= N);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "user_%d", i);
        ws_conn_t *c = ws_hub_find(&h, name);
        assert_ptr_equal(c, cs[i]);
        assert_null(c->rnext);
        assert_string_equal(c->rcpt->name, name);
    }
    for (int i = 0; i < N; i += 2) ws_hub_remove(&h, cs[i]);
    assert_int_equal(h.nrcpt, N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "user_%d", i);
        if (i % 2 == 0) assert_null(ws_hub_find(&h, name));
        else assert_ptr_equal(ws_hub_find(&h, name), cs[i]);
    }
    /* freeing the hub with sockets still in it frees its recipients */
    ws_hub_free(&h);
    for (int i = 0; i < N; i++) free(cs[i]);
    free(cs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(several_sockets_share_a_recipient),
        cmocka_unit_test(thousands_of_recipients_are_all_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
