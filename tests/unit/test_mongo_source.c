/* tests/unit/test_mongo_source.c — the mongo source's config errors (each
 * names its field, through init on the mock host), the lookup cache's expiry
 * and bounds, the reader-to-emitter queue, and a prompt stop while the
 * server cannot be reached. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mock_host.h"
#include "plugins/mongo/mongo.h"

/* init with config; returns its result, *inst for the log. */
static int init_with(const char *config, cc_instance_t **inst, void **st)
{
    *inst = mock_instance_new(cc_plugin_entry(), config, NULL);
    assert_non_null(*inst);
    return cc_plugin_entry()->init(*inst, mock_host(), st);
}

static void config_error(const char *config, const char *needle)
{
    cc_instance_t *inst;
    void *st = NULL;
    int rc = init_with(config, &inst, &st);
    if (rc == 0) {
        cc_plugin_entry()->destroy(st);
        mock_instance_free(inst);
        fail_msg("init accepted %s", config);
    }
    assert_int_equal(rc, CC_ECONFIG);
    if (!mock_log_contains(inst, needle)) {
        mock_log_print(inst);
        fail_msg("no \"%s\" in the log", needle);
    }
    assert_int_equal(mock_shapes_alive(), 0);
    mock_instance_free(inst);
}

static void test_config_errors_name_the_field(void **state)
{
    (void)state;
    config_error("{\"uri\":\"http://x\",\"database\":\"d\",\"watch\":[{\"collection\":\"c\"}]}",
                 "sources[mongo].config.uri: Invalid URI Schema");
    config_error("{\"uri\":\"mongodb://\",\"database\":\"d\",\"watch\":[{\"collection\":\"c\"}]}",
                 "sources[mongo].config.uri: ");
    config_error("{\"uri\":\"mongodb://h/\",\"watch\":[{\"collection\":\"c\"}]}",
                 "sources[mongo].config.watch[0].database: no database");
    config_error("{\"uri\":\"mongodb://h/\",\"database\":\"d\",\"watch\":[{\"collection\":\"\"}]}",
                 "sources[mongo].config.watch[0].collection: empty collection name");
    config_error("{\"uri\":\"mongodb://h/\",\"database\":\"d\",\"watch\":[{\"collection\":\"c\","
                 "\"operations\":[\"insert\",\"upsert\"]}]}",
                 "sources[mongo].config.watch[0].operations[1]: unknown operation \"upsert\"");
    config_error("{\"uri\":\"mongodb://h/\",\"database\":\"d\",\"watch\":[{\"collection\":\"c\","
                 "\"operations\":[]}]}", "sources[mongo].config.watch[0].operations: empty");
    config_error("{\"uri\":\"mongodb://h/\",\"database\":\"d\",\"watch\":[{\"collection\":\"c\"},"
                 "{\"collection\":\"e\",\"pipeline\":[{\"$match\":{}},3]}]}",
                 "sources[mongo].config.watch[1].pipeline[1]: expected a stage object");
    config_error("{\"uri\":\"mongodb://h/\",\"database\":\"d\",\"watch\":[{\"collection\":\"c\","
                 "\"recipient\":\"a\",\"recipient_lookup\":{\"collection\":\"b\",\"local\":\"l\","
                 "\"foreign\":\"_id\",\"field\":\"o\"}}]}",
                 "sources[mongo].config.watch[0].recipient_lookup: set either recipient");
    config_error("{\"uri\":\"mongodb://h/\",\"database\":\"d\",\"watch\":[{\"collection\":\"c\","
                 "\"recipient_lookup\":{\"collection\":\"b\",\"local\":\"l\",\"field\":\"o\"}}]}",
                 "sources[mongo].config.watch[0].recipient_lookup.foreign: missing");
    config_error("{\"uri\":\"mongodb://h/\",\"database\":\"*\",\"watch\":[{\"collection\":\"c\"}]}",
                 "sources[mongo].config.watch[0].collection: a cluster-wide watch");
    config_error("{\"uri\":\"mongodb://h/\",\"database\":\"d\",\"full_document\":\"always\","
                 "\"watch\":[{\"collection\":\"c\"}]}",
                 "sources[mongo].config.full_document: \"always\" is not one of");
}

static void test_uri_database_is_the_default(void **state)
{
    (void)state;
    cc_instance_t *inst;
    void *st = NULL;
    assert_int_equal(init_with("{\"uri\":\"mongodb://127.0.0.1:1/shop\",\"watch\":[{\"collection\":"
                               "\"c\",\"fields\":[\"fullDocument.a\"]}]}", &inst, &st), 0);
    mg_source_t *src = st;
    assert_string_equal(src->cfg.plans[0].key, "shop/c");
    cc_plugin_entry()->destroy(st);
    assert_int_equal(mock_shapes_alive(), 0);
    mock_instance_free(inst);
}

static char **strv(const char *a, const char *b)
{
    char **v = calloc(2, sizeof *v);
    v[0] = strdup(a);
    v[1] = b ? strdup(b) : NULL;
    return v;
}

static void test_lookup_cache_expires(void **state)
{
    (void)state;
    mg_cache_t c;
    assert_int_equal(mg_cache_init(&c, 100), 0);
    assert_null(mg_cache_get(&c, "k", 0));
    assert_int_equal(mg_cache_put(&c, "k", strv("alice", "bob"), 2, 1000, 500), 0);
    const mg_cache_entry_t *e = mg_cache_get(&c, "k", 1499);
    assert_non_null(e);
    assert_int_equal(e->n_recips, 2);
    assert_string_equal(e->recips[1], "bob");
    assert_null(mg_cache_get(&c, "k", 1500));   /* expired: dropped */
    assert_int_equal(c.count, 0);
    /* A miss is cached too (no recipients). */
    assert_int_equal(mg_cache_put(&c, "miss", NULL, 0, 0, 100), 0);
    e = mg_cache_get(&c, "miss", 50);
    assert_non_null(e);
    assert_int_equal(e->n_recips, 0);
    /* Replacing a key keeps one entry. */
    assert_int_equal(mg_cache_put(&c, "miss", strv("x", NULL), 1, 60, 100), 0);
    assert_int_equal(c.count, 1);
    mg_cache_free(&c);
}

static void test_lookup_cache_stays_bounded(void **state)
{
    (void)state;
    mg_cache_t c;
    assert_int_equal(mg_cache_init(&c, 1000), 0);
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(mg_cache_put(&c, key, strv(key, NULL), 1, i, 1000000), 0);
        assert_true(c.count <= 1000);
    }
    snprintf(key, sizeof key, "k%d", 4999);
    assert_non_null(mg_cache_get(&c, key, 5000));
    /* Expired entries go first when full. */
    mg_cache_free(&c);
    assert_int_equal(mg_cache_init(&c, 10), 0);
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "old%d", i);
        mg_cache_put(&c, key, NULL, 0, 0, i < 5 ? 10 : 1000);
    }
    mg_cache_put(&c, "new", NULL, 0, 100, 1000);
    assert_int_equal(c.count, 6);
    assert_non_null(mg_cache_get(&c, "old9", 100));
    mg_cache_free(&c);
}

static void test_queue_keeps_order_and_closes(void **state)
{
    (void)state;
    mg_queue_t q;
    assert_int_equal(mg_queue_init(&q, 4, 1 << 20), 0);
    for (int i = 0; i < 3; i++) {
        mg_item_t it = {.len = (uint32_t)i, .doc = malloc(1)};
        assert_int_equal(mg_queue_push(&q, &it), 0);
        assert_null(it.doc);   /* stolen */
    }
    mg_item_t out[8];
    assert_int_equal(mg_queue_pop(&q, out, 2), 2);
    assert_int_equal(out[0].len, 0);
    assert_int_equal(out[1].len, 1);
    mg_item_clear(&out[0]);
    mg_item_clear(&out[1]);
    mg_queue_close(&q);
    mg_item_t it = {.doc = malloc(1)};
    assert_int_equal(mg_queue_push(&q, &it), CC_ECLOSED);
    mg_item_clear(&it);
    assert_int_equal(mg_queue_pop(&q, out, 8), 1);   /* what was queued still comes out */
    mg_item_clear(&out[0]);
    assert_int_equal(mg_queue_pop(&q, out, 8), 0);
    mg_queue_free(&q);
}

typedef struct pusher {
    mg_queue_t *q;
    uint32_t len;
    int rc;
} pusher_t;

static void *push_one(void *arg)
{
    pusher_t *p = arg;
    mg_item_t it = {.len = p->len, .doc = malloc(1)};
    p->rc = mg_queue_push(p->q, &it);
    mg_item_clear(&it);
    return NULL;
}

static void test_queue_is_bounded_by_bytes(void **state)
{
    (void)state;
    mg_queue_t q;
    assert_int_equal(mg_queue_init(&q, 100, 1000), 0);
    /* One item always gets in, however large. */
    mg_item_t big = {.len = 5000, .doc = malloc(1)};
    assert_int_equal(mg_queue_push(&q, &big), 0);
    assert_int_equal(q.bytes, 5000);
    /* The next waits until the big one is taken. */
    pusher_t p = {.q = &q, .len = 10, .rc = -1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, push_one, &p), 0);
    nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
    pthread_mutex_lock(&q.mu);
    assert_int_equal(q.count, 1);
    pthread_mutex_unlock(&q.mu);
    mg_item_t out[4];
    assert_int_equal(mg_queue_pop(&q, out, 4), 1);
    assert_int_equal(out[0].len, 5000);
    mg_item_clear(&out[0]);
    pthread_join(t, NULL);
    assert_int_equal(p.rc, 0);
    assert_int_equal(q.bytes, 10);
    mg_queue_free(&q);
}

/* Change copies from a reader's blocks: small ones share a block that
 * lives until its last copy and its reader let go (ASan sees any leak or
 * use after free); a full block whose copies are all gone is reused; a big
 * copy is a malloc of its own. */
static void test_block_copies(void **state)
{
    (void)state;
    mg_block_t *cur = NULL, *owner = NULL, *first = NULL;
    mg_item_t items[64];
    for (int i = 0; i < 64; i++) {
        items[i] = (mg_item_t){.len = 3000};
        items[i].doc = mg_block_alloc(&cur, 3000, &items[i].block);
        assert_non_null(items[i].doc);
        assert_non_null(items[i].block);
        memset(items[i].doc, i, 3000);
        if (i == 0)
            first = items[i].block;
    }
    /* 64 x 3000 bytes span several 64 KB blocks, none overlapping. */
    assert_ptr_not_equal(items[63].block, first);
    for (int i = 1; i < 64; i++)
        if (items[i].block == items[i - 1].block)
            assert_true(items[i].doc >= items[i - 1].doc + 3000);
    for (int i = 0; i < 64; i++) {
        for (int k = 0; k < 3000; k += 499)
            assert_int_equal(items[i].doc[k], i);
        mg_item_clear(&items[i]);   /* the retired blocks go with their last copy */
    }
    /* Every copy gone: the reader's full block starts over, no new block. */
    mg_block_t *b = cur;
    for (int i = 0; i < 40; i++) {
        uint8_t *p = mg_block_alloc(&cur, 3000, &owner);
        assert_non_null(p);
        assert_ptr_equal(owner, b);
        mg_block_release(owner);
    }
    assert_ptr_equal(cur, b);
    /* A big copy is its own malloc. */
    mg_item_t big = {.len = 1 << 20};
    big.doc = mg_block_alloc(&cur, 1 << 20, &big.block);
    assert_non_null(big.doc);
    assert_null(big.block);
    big.doc[(1 << 20) - 1] = 1;
    mg_item_clear(&big);
    /* A copy outlives its reader's hold. */
    mg_item_t last = {.len = 8};
    last.doc = mg_block_alloc(&cur, 8, &last.block);
    mg_block_retire(&cur);
    assert_null(cur);
    memcpy(last.doc, "survives", 8);
    mg_item_clear(&last);
}

static void test_unreachable_server_retries_and_stops_promptly(void **state)
{
    (void)state;
    cc_instance_t *inst;
    void *st = NULL;
    assert_int_equal(init_with("{\"uri\":\"mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200"
                               "&connectTimeoutMS=200\",\"database\":\"d\",\"watch\":[{"
                               "\"collection\":\"c\"}]}", &inst, &st), 0);
    const cc_plugin_t *p = cc_plugin_entry();
    assert_int_equal(p->start(st), 0);
    assert_int_equal(mock_source_status(inst), CC_SOURCE_CONNECTING);
    /* The first failure is logged with the retry delay. */
    for (int i = 0; i < 200 && !mock_log_contains(inst, "reconnecting in"); i++)
        nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
    assert_true(mock_log_contains(inst, "reconnecting in"));
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    p->stop(st);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    assert_true(s < 2.0);
    assert_int_equal(mock_source_status(inst), CC_SOURCE_CONNECTING);
    assert_null(mock_fatal(inst));
    p->destroy(st);
    mock_instance_free(inst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors_name_the_field),
        cmocka_unit_test(test_uri_database_is_the_default),
        cmocka_unit_test(test_lookup_cache_expires),
        cmocka_unit_test(test_lookup_cache_stays_bounded),
        cmocka_unit_test(test_queue_keeps_order_and_closes),
        cmocka_unit_test(test_queue_is_bounded_by_bytes),
        cmocka_unit_test(test_block_copies),
        cmocka_unit_test(test_unreachable_server_retries_and_stops_promptly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
