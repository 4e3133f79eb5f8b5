/* tests/unit/test_mongo_pipeline.c — the mongo source's pure parts: watch
 * entries into stream plans (every watch form), the $changeStream pipeline
 * and options, position text both ways, paths and value text. The plugin's
 * sources are compiled in; the config comes through the mock host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock_host.h"
#include "plugins/mongo/mongo.h"

/* Compact relaxed Extended JSON of a document (new, free()). */
static char *compact(const bson_t *doc)
{
    char *s = mg_position_value(doc, false);
    assert_non_null(s);
    return s;
}

static void assert_json(const bson_t *doc, const char *want)
{
    char *got = compact(doc);
    if (strcmp(got, want) != 0)
        fail_msg("got  %s\nwant %s", got, want);
    free(got);
}

typedef struct loaded {
    cc_instance_t *inst;
    mg_config_t cfg;
    int rc;
} loaded_t;

static void load(loaded_t *l, const char *config)
{
    l->inst = mock_instance_new(cc_plugin_entry(), config, NULL);
    assert_non_null(l->inst);
    l->rc = mg_config_load(&l->cfg, l->inst, mock_host(), "sources[0]", NULL);
}

static void unload(loaded_t *l)
{
    mg_config_free(&l->cfg, mock_host());
    mock_instance_free(l->inst);
}

static void pipeline_of(const mg_plan_t *p, const char *want)
{
    bson_t pl;
    mg_pipeline_build(p, &pl);
    assert_json(&pl, want);
    bson_destroy(&pl);
}

static void test_one_collection_watches_the_collection(void **state)
{
    (void)state;
    loaded_t l;
    load(&l, "{\"uri\":\"mongodb://x/\",\"database\":\"test\",\"watch\":[{\"collection\":\"users\"}]}");
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.cfg.n_plans, 1);
    const mg_plan_t *p = &l.cfg.plans[0];
    assert_string_equal(p->key, "test/users");
    assert_string_equal(p->database, "test");
    assert_string_equal(p->collection, "users");
    assert_false(p->filter_ns);
    pipeline_of(p, "{\"pipeline\":[{\"$match\":{\"operationType\":{\"$in\":[\"insert\",\"update\","
                "\"replace\",\"delete\",\"invalidate\"]}}}]}");
    unload(&l);
}

static void test_entries_on_one_database_share_a_stream(void **state)
{
    (void)state;
    loaded_t l;
    load(&l, "{\"uri\":\"mongodb://x/\",\"database\":\"test\",\"watch\":["
             "{\"collection\":\"users\",\"operations\":[\"insert\"]},"
             "{\"collection\":\"orders\",\"operations\":[\"delete\"]},"
             "{\"collection\":\"audit\",\"database\":\"other\"}]}");
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.cfg.n_plans, 2);
    const mg_plan_t *p = &l.cfg.plans[0];
    assert_string_equal(p->key, "test/orders,users");
    assert_null(p->collection);
    assert_true(p->filter_ns);
    assert_int_equal(p->n_entries, 2);
    pipeline_of(p, "{\"pipeline\":[{\"$match\":{\"operationType\":{\"$in\":[\"insert\",\"delete\","
                "\"invalidate\"]}}},{\"$match\":{\"$or\":[{\"ns.coll\":{\"$in\":[\"users\","
                "\"orders\"]}},{\"ns.coll\":{\"$exists\":false}}]}}]}");
    assert_string_equal(l.cfg.plans[1].key, "other/audit");
    assert_string_equal(l.cfg.plans[1].collection, "audit");
    unload(&l);
}

static void test_whole_database_and_cluster(void **state)
{
    (void)state;
    loaded_t l;
    load(&l, "{\"uri\":\"mongodb://x/\",\"database\":\"test\",\"watch\":["
             "{\"collection\":\"*\"},{\"collection\":\"*\",\"database\":\"*\","
             "\"operations\":[\"drop\",\"dropDatabase\"]}]}");
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.cfg.n_plans, 2);
    assert_string_equal(l.cfg.plans[0].key, "test/*");
    assert_null(l.cfg.plans[0].collection);
    assert_false(l.cfg.plans[0].filter_ns);
    assert_string_equal(l.cfg.plans[1].key, "*/*");
    assert_string_equal(l.cfg.plans[1].database, "*");
    assert_false(l.cfg.plans[1].filter_ns);
    pipeline_of(&l.cfg.plans[1], "{\"pipeline\":[{\"$match\":{\"operationType\":{\"$in\":["
                "\"drop\",\"dropDatabase\",\"invalidate\"]}}}]}");
    unload(&l);
}

static void test_own_pipeline_gets_its_own_stream_after_the_filter(void **state)
{
    (void)state;
    loaded_t l;
    load(&l, "{\"uri\":\"mongodb://x/\",\"database\":\"test\",\"watch\":["
             "{\"collection\":\"users\"},"
             "{\"collection\":\"inventory\",\"operations\":[\"update\"],\"pipeline\":["
             "{\"$match\":{\"$expr\":{\"$lte\":[\"$fullDocument.q\",\"$fullDocument.r\"]}}},"
             "{\"$match\":{\"fullDocument.at\":{\"$gte\":{\"$date\":\"2025-01-01T00:00:00Z\"}}}}]},"
             "{\"collection\":\"orders\"}]}");
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.cfg.n_plans, 2);
    assert_string_equal(l.cfg.plans[0].key, "test/orders,users");
    const mg_plan_t *p = &l.cfg.plans[1];
    assert_string_equal(p->key, "test/inventory|watch[1]");
    assert_string_equal(p->collection, "inventory");
    pipeline_of(p, "{\"pipeline\":[{\"$match\":{\"operationType\":{\"$in\":[\"update\","
                "\"invalidate\"]}}},{\"$match\":{\"$expr\":{\"$lte\":[\"$fullDocument.q\","
                "\"$fullDocument.r\"]}}},{\"$match\":{\"fullDocument.at\":{\"$gte\":{\"$date\":"
                "\"2025-01-01T00:00:00Z\"}}}}]}");
    unload(&l);
}

static void test_options_for_each_start(void **state)
{
    (void)state;
    mg_settings_t s = {.full_document = MG_FD_UPDATE_LOOKUP, .pre_image = MG_PRE_WHEN_AVAILABLE,
                       .batch_size = 500, .max_await_ms = 250};
    mg_from_t from = {0};
    bson_t o;
    mg_opts_build(&s, &from, &o);
    assert_json(&o, "{\"fullDocument\":\"updateLookup\",\"fullDocumentBeforeChange\":"
                "\"whenAvailable\",\"batchSize\":500,\"maxAwaitTimeMS\":250}");
    bson_destroy(&o);

    bson_t *tok = BCON_NEW("_data", "8263AB");
    assert_int_equal(mg_from_set_token(&from, MG_FROM_RESUME, tok), 0);
    s = (mg_settings_t){0};
    mg_opts_build(&s, &from, &o);
    assert_json(&o, "{\"resumeAfter\":{\"_data\":\"8263AB\"}}");
    bson_destroy(&o);
    assert_int_equal(mg_from_set_token(&from, MG_FROM_START_AFTER, tok), 0);
    mg_opts_build(&s, &from, &o);
    assert_json(&o, "{\"startAfter\":{\"_data\":\"8263AB\"}}");
    bson_destroy(&o);
    mg_from_clear(&from);
    from.kind = MG_FROM_OPTIME;
    from.t = 1700000000;
    from.i = 3;
    s.full_document = MG_FD_REQUIRED;
    s.pre_image = MG_PRE_REQUIRED;
    mg_opts_build(&s, &from, &o);
    assert_json(&o, "{\"fullDocument\":\"required\",\"fullDocumentBeforeChange\":\"required\","
                "\"startAtOperationTime\":{\"$timestamp\":{\"t\":1700000000,\"i\":3}}}");
    bson_destroy(&o);
    bson_destroy(tok);
}

static void test_position_round_trip(void **state)
{
    (void)state;
    bson_t *a = BCON_NEW("_data", "82AA");
    bson_t *b = BCON_NEW("_data", "82BB");
    char *va = mg_position_value(a, false);
    char *vb = mg_position_value(b, true);
    assert_string_equal(va, "{\"_data\":\"82AA\"}");
    assert_string_equal(vb, "{\"startAfter\":{\"_data\":\"82BB\"}}");
    const char *keys[] = {"test/orders,users", "test/inv|watch[2]", "x/\"quoted\""};
    const char *values[] = {va, vb, NULL};
    mg_text_t t = {0};
    assert_int_equal(mg_position_render(&t, keys, values, 3), 0);
    assert_string_equal(t.p, "{\"test/orders,users\":{\"_data\":\"82AA\"},"
                             "\"test/inv|watch[2]\":{\"startAfter\":{\"_data\":\"82BB\"}}}");

    char err[256];
    mg_from_t f = {0};
    assert_int_equal(mg_position_find(t.p, keys[0], &f, err, sizeof err), 1);
    assert_int_equal(f.kind, MG_FROM_RESUME);
    assert_true(bson_equal(f.token, a));
    assert_int_equal(mg_position_find(t.p, keys[1], &f, err, sizeof err), 1);
    assert_int_equal(f.kind, MG_FROM_START_AFTER);
    assert_true(bson_equal(f.token, b));
    mg_from_clear(&f);
    assert_int_equal(mg_position_find(t.p, keys[2], &f, err, sizeof err), 0);
    assert_int_equal(f.kind, MG_FROM_NOW);
    /* A jsonl-style offset, or garbage: not a position of this source. */
    assert_int_equal(mg_position_find("12345", keys[0], &f, err, sizeof err), CC_EPARSE);
    assert_int_equal(mg_position_find("{\"test/orders,users\":7}", keys[0], &f, err, sizeof err),
                     CC_EPARSE);
    assert_non_null(strstr(err, "resume token"));
    mg_text_free(&t);
    free(va);
    free(vb);
    bson_destroy(a);
    bson_destroy(b);
}

static int collect(void *arg, const bson_iter_t *v)
{
    mg_text_t *t = arg;
    char *s = mg_value_string(v);
    assert_non_null(s);
    if (t->len)
        mg_text_put(t, "|", 1);
    mg_text_put(t, s, strlen(s));
    free(s);
    return 0;
}

static void path_is(const char *json, const char *path, const char *want)
{
    bson_error_t err;
    bson_t *doc = bson_new_from_json((const uint8_t *)json, -1, &err);
    assert_non_null(doc);
    mg_text_t t = {0};
    mg_text_put(&t, "", 0);
    mg_path_each(doc, path, collect, &t);
    if (strcmp(t.p, want) != 0)
        fail_msg("%s in %s: got \"%s\", want \"%s\"", path, json, t.p, want);
    mg_text_free(&t);
    bson_destroy(doc);
}

static void test_paths_and_value_text(void **state)
{
    (void)state;
    path_is("{\"fullDocument\":{\"owner\":{\"id\":\"alice\"}}}", "fullDocument.owner.id", "alice");
    path_is("{\"fullDocument\":{\"m\":[\"a\",\"b\"]}}", "fullDocument.m", "a|b");
    path_is("{\"fullDocument\":{\"m\":[{\"u\":1},{\"u\":2}]}}", "fullDocument.m.u", "1|2");
    path_is("{\"fullDocument\":{\"m\":[\"a\",\"b\"]}}", "fullDocument.m.1", "b");
    /* A delete: fullDocument falls back to the pre-image. */
    path_is("{\"fullDocument\":null,\"fullDocumentBeforeChange\":{\"o\":\"bob\"}}",
            "fullDocument.o", "bob");
    path_is("{\"fullDocumentBeforeChange\":{\"o\":\"bob\"}}", "fullDocument.o", "bob");
    /* DBRef: owner.$id. */
    path_is("{\"owner\":{\"$ref\":\"users\",\"$id\":{\"$oid\":\"6500000000000000000000a1\"}}}",
            "owner.$id", "6500000000000000000000a1");
    path_is("{\"a\":{\"$numberLong\":\"9007199254740993\"},\"b\":2.0,\"c\":1.5,\"d\":true,"
            "\"e\":{\"x\":1}}", "a", "9007199254740993");
    path_is("{\"b\":2.0}", "b", "2.0");
    path_is("{\"c\":1.5}", "c", "1.5");
    path_is("{\"e\":{\"x\":1, \"y\": \"a b\"}}", "e", "{\"x\":1,\"y\":\"a b\"}");
    path_is("{\"a\":1}", "missing.path", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_collection_watches_the_collection),
        cmocka_unit_test(test_entries_on_one_database_share_a_stream),
        cmocka_unit_test(test_whole_database_and_cluster),
        cmocka_unit_test(test_own_pipeline_gets_its_own_stream_after_the_filter),
        cmocka_unit_test(test_options_for_each_start),
        cmocka_unit_test(test_position_round_trip),
        cmocka_unit_test(test_paths_and_value_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
