/* tests/bench/bench_mongo_bare.c — the floor for the mongo source: a bare
 * libmongoc loop draining a change stream.
 *
 *     bench_mongo_bare URI DB COLL N T I [PIPELINE_JSON]
 *
 * Opens the change stream on DB.COLL at operation time (T, I)
 * (startAtOperationTime), with PIPELINE_JSON ({"pipeline": [...]}, the
 * stages the plugin sends, so the server does the same work) when given,
 * calls mongoc_change_stream_next until N changes
 * arrived, and prints "bare: N events in S s: R events/s". Run by
 * bench_mongo.py beside changecast on the same server history.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <mongoc/mongoc.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: %s URI DB COLL N T I [PIPELINE_JSON]\n", argv[0]);
        return 2;
    }
    long n = strtol(argv[4], NULL, 10);
    uint32_t t = (uint32_t)strtoul(argv[5], NULL, 10), inc = (uint32_t)strtoul(argv[6], NULL, 10);
    mongoc_init();
    double t0 = now_s();
    bson_error_t err;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(argv[1], &err);
    if (uri == NULL) {
        fprintf(stderr, "bad URI: %s\n", err.message);
        return 2;
    }
    mongoc_client_t *client = mongoc_client_new_from_uri(uri);
    mongoc_collection_t *coll = mongoc_client_get_collection(client, argv[2], argv[3]);
    bson_t *opts = BCON_NEW("startAtOperationTime", BCON_TIMESTAMP(t, inc),
                            "batchSize", BCON_INT32(1000), "maxAwaitTimeMS", BCON_INT64(1000));
    bson_t pipeline = BSON_INITIALIZER;
    if (argc == 8 && !bson_init_from_json(&pipeline, argv[7], -1, &err)) {
        fprintf(stderr, "bad pipeline: %s\n", err.message);
        return 2;
    }
    mongoc_change_stream_t *cs = mongoc_collection_watch(coll, &pipeline, opts);
    long got = 0;
    const bson_t *doc;
    const bson_t *errdoc;
    while (got < n) {
        if (mongoc_change_stream_next(cs, &doc)) {
            got++;
        } else if (mongoc_change_stream_error_document(cs, &err, &errdoc)) {
            fprintf(stderr, "change stream error: %s\n", err.message);
            return 1;
        }
    }
    double dt = now_s() - t0;
    printf("bare: %ld events in %.3f s: %.0f events/s\n", got, dt, (double)got / dt);
    mongoc_change_stream_destroy(cs);
    bson_destroy(&pipeline);
    bson_destroy(opts);
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);
    mongoc_uri_destroy(uri);
    mongoc_cleanup();
    return 0;
}
