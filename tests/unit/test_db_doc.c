/* tests/unit/test_db_doc.c — what the database sink stores and how it reads
 * the server's answers, without a server: documents (recipient, broadcast,
 * Extended JSON types, the literal fallback), bulk-insert verdicts
 * (duplicates, refused documents, write concern, broken connections).
 * plugins/database/db_doc.c is compiled in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mongoc/mongoc.h>

#include "plugins/database/db_doc.h"

static const char envelope[] =
    "{\"operation\":\"insert\",\"collection\":\"users\",\"document_id\":\"u1\","
    "\"data\":{\"when\":{\"$date\":\"2025-04-21T17:48:47.405Z\"},"
    "\"oid\":{\"$oid\":\"5f1e4b2c9d3e4a0012345678\"},\"n\":7,\"x\":1.5},"
    "\"timestamp\":1745257727.0,\"namespace\":\"test\",\"recipient\":\"u1\",\"id\":\"82AB\"}";

static char *doc_json(const bson_t *doc)
{
    return bson_as_canonical_extended_json(doc, NULL);
}

static void document_for_a_recipient(void **s)
{
    (void)s;
    bson_t doc = BSON_INITIALIZER;
    int literal = -1;
    size_t ts_off;
    assert_int_equal(db_doc_build(&doc, "82AB", "u1", envelope, strlen(envelope),
                                  1745257727405LL, &literal, &ts_off), 0);
    assert_int_equal(literal, 0);
    bson_iter_t it;
    /* Field order: the Python package's, with _id first. */
    assert_true(bson_iter_init(&it, &doc));
    assert_true(bson_iter_next(&it));
    assert_string_equal(bson_iter_key(&it), "_id");
    assert_string_equal(bson_iter_utf8(&it, NULL), "82AB");
    assert_true(bson_iter_next(&it));
    assert_string_equal(bson_iter_key(&it), "recipient");
    assert_string_equal(bson_iter_utf8(&it, NULL), "u1");
    assert_true(bson_iter_next(&it));
    assert_string_equal(bson_iter_key(&it), "message");
    assert_true(BSON_ITER_HOLDS_DOCUMENT(&it));
    assert_true(bson_iter_next(&it));
    assert_string_equal(bson_iter_key(&it), "timestamp");
    assert_true(BSON_ITER_HOLDS_DATE_TIME(&it));
    assert_int_equal(bson_iter_date_time(&it), 1745257727405LL);
    assert_false(bson_iter_next(&it));

    /* Documents are dated again when written: in place, nothing else moves. */
    uint8_t *raw = (uint8_t *)bson_get_data(&doc);
    db_doc_set_timestamp(raw, ts_off, 1900000000123LL);
    assert_true(bson_iter_init_find(&it, &doc, "timestamp"));
    assert_int_equal(bson_iter_date_time(&it), 1900000000123LL);
    assert_true(bson_validate(&doc, BSON_VALIDATE_NONE, NULL));
    assert_true(bson_iter_init_find(&it, &doc, "recipient"));
    assert_string_equal(bson_iter_utf8(&it, NULL), "u1");

    /* Extended JSON in data becomes BSON types. */
    assert_true(bson_iter_init_find(&it, &doc, "message"));
    bson_iter_t d;
    assert_true(bson_iter_init(&it, &doc));
    assert_true(bson_iter_find_descendant(&it, "message.data.when", &d));
    assert_true(BSON_ITER_HOLDS_DATE_TIME(&d));
    assert_int_equal(bson_iter_date_time(&d), 1745257727405LL);
    assert_true(bson_iter_init(&it, &doc));
    assert_true(bson_iter_find_descendant(&it, "message.data.oid", &d));
    assert_true(BSON_ITER_HOLDS_OID(&d));
    assert_true(bson_iter_init(&it, &doc));
    assert_true(bson_iter_find_descendant(&it, "message.data.n", &d));
    assert_true(BSON_ITER_HOLDS_INT32(&d) || BSON_ITER_HOLDS_INT64(&d));
    assert_true(bson_iter_init(&it, &doc));
    assert_true(bson_iter_find_descendant(&it, "message.id", &d));
    assert_string_equal(bson_iter_utf8(&d, NULL), "82AB");
    bson_destroy(&doc);
}

static void document_for_a_broadcast(void **s)
{
    (void)s;
    bson_t doc = BSON_INITIALIZER;
    int literal;
    size_t ts_off;
    const char env[] = "{\"operation\":\"delete\",\"recipient\":null,\"id\":\"T\"}";
    assert_int_equal(db_doc_build(&doc, "T", NULL, env, strlen(env), 0, &literal, &ts_off), 0);
    char *j = doc_json(&doc);
    assert_string_equal(j, "{ \"_id\" : \"T\", \"message\" : { \"operation\" : \"delete\", "
                           "\"recipient\" : null, \"id\" : \"T\" }, \"timestamp\" : { \"$date\" "
                           ": { \"$numberLong\" : \"0\" } }, \"broadcast\" : true }");
    bson_free(j);
    bson_destroy(&doc);
}

static void operator_like_keys_are_stored_literally(void **s)
{
    (void)s;
    /* A document with a field named "$date" holding a number: not Extended
     * JSON, refused by libbson's reader; kept as written. */
    const char env[] = "{\"operation\":\"insert\",\"data\":{\"w\":{\"$date\":\"soon\",\"k\":[1,"
                       "2.5,true,null,\"s\"]}},\"id\":\"L\"}";
    bson_t doc = BSON_INITIALIZER;
    int literal = 0;
    size_t ts_off;
    assert_int_equal(db_doc_build(&doc, "L", "r", env, strlen(env), 5, &literal, &ts_off), 0);
    assert_int_equal(literal, 1);
    bson_iter_t it, d;
    assert_true(bson_iter_init(&it, &doc));
    assert_true(bson_iter_find_descendant(&it, "message.data.w.$date", &d));
    assert_string_equal(bson_iter_utf8(&d, NULL), "soon");
    assert_true(bson_iter_init(&it, &doc));
    assert_true(bson_iter_find_descendant(&it, "message.data.w.k.1", &d));
    assert_true(BSON_ITER_HOLDS_DOUBLE(&d));
    assert_true(bson_iter_init(&it, &doc));
    assert_true(bson_iter_find_descendant(&it, "message.data.w.k.3", &d));
    assert_true(BSON_ITER_HOLDS_NULL(&d));
    bson_destroy(&doc);
}

static void not_an_object_is_refused(void **s)
{
    (void)s;
    bson_t doc = BSON_INITIALIZER;
    int literal;
    size_t ts_off;
    assert_int_equal(db_doc_build(&doc, "X", NULL, "[1]", 3, 0, &literal, &ts_off), -1);
    bson_reinit(&doc);
    assert_int_equal(db_doc_build(&doc, "X", NULL, "{", 1, 0, &literal, &ts_off), -1);
    bson_destroy(&doc);
}

/* A reply as mongoc builds one for a bulk write. */
static bson_t *reply_from(const char *json)
{
    bson_error_t err;
    bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &err);
    assert_non_null(b);
    return b;
}

static void success_stores_all(void **s)
{
    (void)s;
    db_outcome_t out[3] = {DB_FAILED, DB_FAILED, DB_FAILED};
    bson_error_t err = {0};
    char why[256];
    assert_int_equal(db_bulk_verdict(1, &err, NULL, out, 3, why, sizeof why), DB_DONE);
    for (int i = 0; i < 3; i++)
        assert_int_equal(out[i], DB_STORED);
    assert_string_equal(why, "");
}

static void duplicates_count_as_stored_others_fail(void **s)
{
    (void)s;
    bson_t *reply = reply_from(
        "{\"nInserted\": 1, \"writeErrors\": ["
        "{\"index\": 0, \"code\": 11000, \"errmsg\": \"E11000 duplicate key\"},"
        "{\"index\": 2, \"code\": 121, \"errmsg\": \"Document failed validation\"},"
        "{\"index\": 3, \"code\": 11000, \"errmsg\": \"E11000 duplicate key\"}]}");
    bson_error_t err = {.domain = MONGOC_ERROR_SERVER, .code = 11000};
    db_outcome_t out[4];
    char why[256];
    assert_int_equal(db_bulk_verdict(0, &err, reply, out, 4, why, sizeof why), DB_DONE);
    assert_int_equal(out[0], DB_STORED);
    assert_int_equal(out[1], DB_STORED);
    assert_int_equal(out[2], DB_FAILED);
    assert_int_equal(out[3], DB_STORED);
    assert_string_equal(why, "write error 121: Document failed validation");
    bson_destroy(reply);
}

static void write_concern_error_retries(void **s)
{
    (void)s;
    bson_t *reply = reply_from("{\"nInserted\": 2, \"writeConcernErrors\": [{\"code\": 64, "
                               "\"errmsg\": \"waiting for replication timed out\"}]}");
    bson_error_t err = {.domain = MONGOC_ERROR_WRITE_CONCERN, .code = 64};
    db_outcome_t out[2];
    char why[256];
    assert_int_equal(db_bulk_verdict(0, &err, reply, out, 2, why, sizeof why), DB_RETRY);
    assert_string_equal(why, "write concern not satisfied (code 64): waiting for replication "
                             "timed out");
    bson_destroy(reply);
}

static void broken_connection_retries_even_with_write_errors(void **s)
{
    (void)s;
    bson_t *reply = reply_from("{\"nInserted\": 0, \"writeErrors\": [{\"index\": 0, \"code\": "
                               "11000, \"errmsg\": \"dup\"}]}");
    bson_error_t err = {.domain = MONGOC_ERROR_STREAM, .code = MONGOC_ERROR_STREAM_SOCKET};
    strcpy(err.message, "socket error or timeout");
    db_outcome_t out[2];
    char why[256];
    assert_int_equal(db_bulk_verdict(0, &err, reply, out, 2, why, sizeof why), DB_RETRY);
    assert_string_equal(why, "socket error or timeout");
    bson_destroy(reply);

    /* No reply at all: server selection failed. */
    bson_error_t sel = {.domain = MONGOC_ERROR_SERVER_SELECTION, .code = 13053};
    strcpy(sel.message, "No suitable servers found");
    assert_int_equal(db_bulk_verdict(0, &sel, NULL, out, 2, why, sizeof why), DB_RETRY);
    assert_string_equal(why, "No suitable servers found");
}

static void command_error_without_write_errors_retries(void **s)
{
    (void)s;
    bson_t *reply = reply_from("{\"nInserted\": 0}");
    bson_error_t err = {.domain = MONGOC_ERROR_SERVER, .code = 10107};
    strcpy(err.message, "not primary");
    db_outcome_t out[1];
    char why[256];
    assert_int_equal(db_bulk_verdict(0, &err, reply, out, 1, why, sizeof why), DB_RETRY);
    assert_string_equal(why, "not primary");
    bson_destroy(reply);
}

static void write_error_index_out_of_range_retries(void **s)
{
    (void)s;
    bson_t *reply = reply_from("{\"writeErrors\": [{\"index\": 5, \"code\": 2, \"errmsg\": \"x\"}]}");
    bson_error_t err = {.domain = MONGOC_ERROR_SERVER, .code = 2};
    db_outcome_t out[2];
    char why[256];
    assert_int_equal(db_bulk_verdict(0, &err, reply, out, 2, why, sizeof why), DB_RETRY);
    bson_destroy(reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(document_for_a_recipient),
        cmocka_unit_test(document_for_a_broadcast),
        cmocka_unit_test(operator_like_keys_are_stored_literally),
        cmocka_unit_test(not_an_object_is_refused),
        cmocka_unit_test(success_stores_all),
        cmocka_unit_test(duplicates_count_as_stored_others_fail),
        cmocka_unit_test(write_concern_error_retries),
        cmocka_unit_test(broken_connection_retries_even_with_write_errors),
        cmocka_unit_test(command_error_without_write_errors_retries),
        cmocka_unit_test(write_error_index_out_of_range_retries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
