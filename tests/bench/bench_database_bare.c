/* bench_database_bare — the yardstick for the database sink: a bare
 * libmongoc loop writing the same documents by unordered bulk insert.
 *
 *     bench_database_bare URI DATABASE COLLECTION ENVELOPES.jsonl BATCH
 *
 * Reads envelopes (JSON lines as the file sink writes them), builds every
 * document the database sink would store ({_id, recipient, message,
 * timestamp} or {_id, message, timestamp, broadcast}) BEFORE the clock
 * starts, then times only the bulk inserts of BATCH documents each, acknowledged
 * (w:1). Prints "bare: N documents in S s: R documents/s". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <mongoc/mongoc.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s URI DATABASE COLLECTION ENVELOPES.jsonl BATCH\n", argv[0]);
        return 2;
    }
    size_t batch = (size_t)strtoul(argv[5], NULL, 10);
    FILE *fp = fopen(argv[4], "r");
    if (fp == NULL || batch == 0) {
        perror(argv[4]);
        return 2;
    }
    mongoc_init();
    size_t n = 0, cap = 1024;
    bson_t **docs = malloc(cap * sizeof *docs);
    char *line = NULL;
    size_t linecap = 0;
    ssize_t len;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t now_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    while ((len = getline(&line, &linecap, fp)) > 0) {
        bson_error_t err;
        bson_t msg;
        if (!bson_init_from_json(&msg, line, len, &err)) {
            fprintf(stderr, "line %zu: %s\n", n + 1, err.message);
            return 1;
        }
        json_t *j = json_loadb(line, (size_t)len, 0, NULL);
        const char *id = json_string_value(json_object_get(j, "id"));
        const char *rcpt = json_string_value(json_object_get(j, "recipient"));
        bson_t *doc = bson_new();
        BSON_APPEND_UTF8(doc, "_id", id);
        if (rcpt != NULL)
            BSON_APPEND_UTF8(doc, "recipient", rcpt);
        BSON_APPEND_DOCUMENT(doc, "message", &msg);
        BSON_APPEND_DATE_TIME(doc, "timestamp", now_ms);
        if (rcpt == NULL)
            BSON_APPEND_BOOL(doc, "broadcast", true);
        bson_destroy(&msg);
        json_decref(j);
        if (n == cap)
            docs = realloc(docs, (cap *= 2) * sizeof *docs);
        docs[n++] = doc;
    }
    free(line);
    fclose(fp);

    mongoc_client_t *client = mongoc_client_new(argv[1]);
    if (client == NULL) {
        fprintf(stderr, "bad URI %s\n", argv[1]);
        return 2;
    }
    mongoc_collection_t *coll = mongoc_client_get_collection(client, argv[2], argv[3]);
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "ordered", false);
    double t0 = now_s();
    for (size_t i = 0; i < n; i += batch) {
        mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll,
                                                                                          &opts);
        for (size_t k = i; k < n && k < i + batch; k++)
            mongoc_bulk_operation_insert(bulk, docs[k]);
        bson_t reply;
        bson_error_t err;
        if (!mongoc_bulk_operation_execute(bulk, &reply, &err)) {
            fprintf(stderr, "bulk insert failed: %s\n", err.message);
            return 1;
        }
        bson_destroy(&reply);
        mongoc_bulk_operation_destroy(bulk);
    }
    double secs = now_s() - t0;
    printf("bare: %zu documents in %.3f s: %.0f documents/s\n", n, secs, (double)n / secs);
    bson_destroy(&opts);
    for (size_t i = 0; i < n; i++)
        bson_destroy(docs[i]);
    free(docs);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    mongoc_cleanup();
    return 0;
}
