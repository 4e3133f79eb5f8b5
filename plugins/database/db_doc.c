/* db_doc.c — the stored document and the reading of bulk-insert replies. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <mongoc/mongoc.h>

#include "db_doc.h"

/* Appends a jansson value under `key`, every key and string taken as it is
 * (no Extended JSON): the fallback for envelopes libbson refuses. */
static bool append_literal(bson_t *b, const char *key, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        bson_t child;
        const char *k;
        json_t *x;
        if (!bson_append_document_begin(b, key, -1, &child))
            return false;
        json_object_foreach((json_t *)(uintptr_t)v, k, x)
            if (!append_literal(&child, k, x))
                return false;
        return bson_append_document_end(b, &child);
    }
    case JSON_ARRAY: {
        bson_t child;
        char idx[16];
        const char *ks;
        if (!bson_append_array_begin(b, key, -1, &child))
            return false;
        for (size_t i = 0; i < json_array_size(v); i++) {
            bson_uint32_to_string((uint32_t)i, &ks, idx, sizeof idx);
            if (!append_literal(&child, ks, json_array_get(v, i)))
                return false;
        }
        return bson_append_array_end(b, &child);
    }
    case JSON_STRING:
        return bson_append_utf8(b, key, -1, json_string_value(v), (int)json_string_length(v));
    case JSON_INTEGER:
        return bson_append_int64(b, key, -1, json_integer_value(v));
    case JSON_REAL:
        return bson_append_double(b, key, -1, json_real_value(v));
    case JSON_TRUE:
    case JSON_FALSE:
        return bson_append_bool(b, key, -1, json_is_true(v));
    case JSON_NULL:
    default:
        return bson_append_null(b, key, -1);
    }
}

static int append_message(bson_t *doc, const char *envelope, size_t len, int *literal)
{
    bson_t msg;
    bson_error_t err;
    *literal = 0;
    size_t i = 0;
    while (i < len && (envelope[i] == ' ' || envelope[i] == '\n' || envelope[i] == '\t'))
        i++;
    if (i == len || envelope[i] != '{')
        return -1;   /* libbson would take a top-level array as a document */
    if (bson_init_from_json(&msg, envelope, (ssize_t)len, &err)) {
        bool ok = bson_append_document(doc, "message", -1, &msg);
        bson_destroy(&msg);
        return ok ? 0 : -1;
    }
    json_t *root = json_loadb(envelope, len, JSON_ALLOW_NUL, NULL);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return -1;
    }
    *literal = 1;
    int rc = append_literal(doc, "message", root) ? 0 : -1;
    json_decref(root);
    return rc;
}

int db_doc_build(bson_t *doc, const char *id, const char *recipient, const char *envelope,
                 size_t envelope_len, int64_t now_ms, int *literal, size_t *ts_off)
{
    if (!bson_append_utf8(doc, "_id", 3, id, -1))
        return -1;
    if (recipient != NULL && !bson_append_utf8(doc, "recipient", 9, recipient, -1))
        return -1;
    if (append_message(doc, envelope, envelope_len, literal) != 0)
        return -1;
    /* type byte, "timestamp" and its NUL, then the value */
    *ts_off = doc->len - 1 + 1 + sizeof "timestamp";
    if (!bson_append_date_time(doc, "timestamp", 9, now_ms))
        return -1;
    if (recipient == NULL && !bson_append_bool(doc, "broadcast", 9, true))
        return -1;
    return 0;
}

void db_doc_set_timestamp(uint8_t *doc, size_t ts_off, int64_t ms)
{
    uint64_t v = (uint64_t)ms;   /* BSON is little-endian */
    for (int i = 0; i < 8; i++)
        doc[ts_off + (size_t)i] = (uint8_t)(v >> (8 * i));
}

static bool is_duplicate(int32_t code)
{
    return code == 11000 || code == 11001 || code == 12582;
}

static int32_t iter_int(const bson_iter_t *it)
{
    if (BSON_ITER_HOLDS_INT32(it))
        return bson_iter_int32(it);
    if (BSON_ITER_HOLDS_INT64(it))
        return (int32_t)bson_iter_int64(it);
    if (BSON_ITER_HOLDS_DOUBLE(it))
        return (int32_t)bson_iter_double(it);
    return -1;
}

/* Reads one entry of writeErrors / writeConcernErrors. */
static void read_error(const bson_iter_t *entry, int32_t *index, int32_t *code,
                       const char **msg)
{
    bson_iter_t f;
    *index = -1;
    *code = 0;
    *msg = "";
    if (!BSON_ITER_HOLDS_DOCUMENT(entry) || !bson_iter_recurse(entry, &f))
        return;
    while (bson_iter_next(&f)) {
        const char *k = bson_iter_key(&f);
        if (strcmp(k, "index") == 0)
            *index = iter_int(&f);
        else if (strcmp(k, "code") == 0)
            *code = iter_int(&f);
        else if (strcmp(k, "errmsg") == 0 && BSON_ITER_HOLDS_UTF8(&f))
            *msg = bson_iter_utf8(&f, NULL);
    }
}

/* Whether the reply holds a non-empty array `key`; *arr then iterates it. */
static bool reply_array(const bson_t *reply, const char *key, bson_iter_t *arr)
{
    bson_iter_t it;
    if (reply == NULL || !bson_iter_init_find(&it, reply, key) || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, arr))
        return false;
    bson_iter_t probe = *arr;
    return bson_iter_next(&probe);
}

db_verdict_t db_bulk_verdict(int ok, const bson_error_t *error, const bson_t *reply,
                             db_outcome_t *outcomes, size_t n, char *why, size_t whylen)
{
    bson_iter_t arr;
    int32_t index, code;
    const char *msg;
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    for (size_t i = 0; i < n; i++)
        outcomes[i] = DB_STORED;
    if (ok)
        return DB_DONE;

    /* Not yet as durable as asked: what landed is found again as duplicates. */
    if (reply_array(reply, "writeConcernErrors", &arr)) {
        bson_iter_next(&arr);
        read_error(&arr, &index, &code, &msg);
        snprintf(why, whylen, "write concern not satisfied (code %d): %s", code, msg);
        return DB_RETRY;
    }
    /* Per-document errors are final unless the batch also broke off (the
     * connection dropped, the server stepped down): then no outcome past
     * the break is known, and the whole batch goes again. */
    bool broke_off = error->domain == MONGOC_ERROR_STREAM ||
                     error->domain == MONGOC_ERROR_SERVER_SELECTION ||
                     error->domain == MONGOC_ERROR_PROTOCOL ||
                     error->domain == MONGOC_ERROR_CLIENT ||
                     error->domain == MONGOC_ERROR_WRITE_CONCERN;
    if (!broke_off && reply_array(reply, "writeErrors", &arr)) {
        while (bson_iter_next(&arr)) {
            read_error(&arr, &index, &code, &msg);
            if (index < 0 || (size_t)index >= n) {
                snprintf(why, whylen, "write error %d for a document the batch does not have "
                         "(index %d): %s", code, index, msg);
                return DB_RETRY;
            }
            if (is_duplicate(code))
                continue;
            if (outcomes[index] != DB_FAILED && why != NULL && why[0] == '\0')
                snprintf(why, whylen, "write error %d: %s", code, msg);
            outcomes[index] = DB_FAILED;
        }
        return DB_DONE;
    }
    snprintf(why, whylen, "%s", error->message[0] ? error->message : "bulk insert failed");
    return DB_RETRY;
}
