/* plugins/mongo/mongo_headroom.c — seconds of oplog left behind the
 * resume point (changecast_mongo_history_headroom_seconds).
 *
 * Its own thread with its own client: the oldest oplog entry is one query on
 * a real server, but a slow answer must never hold up a change stream. The
 * first reading waits until a stream has caught up (an empty batch, or a
 * change less than a second old) or a period passed, so a source draining a
 * backlog does not add work to the server. -1 while the
 * oplog cannot be read (no rights on `local`, not a replica set).
 */
#include <time.h>

#include "plugins/mongo/mongo.h"

#define MG_HEADROOM_EVERY_MS 15000
#define MG_HEADROOM_POLL_MS 200
#define MG_HEADROOM_RETRY_MS 1000   /* until a first reading */

/* The oldest resume point: the smallest clusterTime among streams that
 * read a change (now when none did). */
static double mg_headroom_resume_point(mg_source_t *src)
{
    uint32_t oldest = 0;
    for (size_t s = 0; s < src->cfg.n_plans; s++) {
        uint32_t t = atomic_load(&src->streams[s].last_event_t);
        if (t != 0 && (oldest == 0 || t < oldest))
            oldest = t;
    }
    if (oldest != 0)
        return oldest;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec;
}

/* Sets the gauge from the oldest oplog entry. False when there was none to
 * read (an error: the gauge says -1; an empty oplog: left as it is). */
static bool mg_headroom_read(mg_source_t *src, mongoc_client_t *client)
{
    mongoc_collection_t *coll = mongoc_client_get_collection(client, "local", "oplog.rs");
    bson_t filter = BSON_INITIALIZER;
    /* An oplog's natural order is its insertion order: the first is the oldest. */
    bson_t *opts = BCON_NEW("sort", "{", "$natural", BCON_INT32(1), "}", "limit", BCON_INT64(1),
                            "projection", "{", "ts", BCON_INT32(1), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
    const bson_t *doc;
    bool read = false;
    bson_iter_t it;
    if (mongoc_cursor_next(cur, &doc) && bson_iter_init_find(&it, doc, "ts") &&
        BSON_ITER_HOLDS_TIMESTAMP(&it)) {
        uint32_t t = 0, i = 0;
        bson_iter_timestamp(&it, &t, &i);
        double headroom = mg_headroom_resume_point(src) - (double)t;
        src->host->metric_set(src->m_headroom, headroom > 0 ? headroom : 0);
        read = true;
    } else if (mongoc_cursor_error(cur, NULL)) {
        src->host->metric_set(src->m_headroom, -1);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
    return read;
}

static bool mg_headroom_any_caught_up(mg_source_t *src)
{
    for (size_t s = 0; s < src->cfg.n_plans; s++) {
        if (atomic_load(&src->streams[s].caught_up))
            return true;
    }
    return false;
}

void *mg_headroom_run(void *arg)
{
    mg_source_t *src = arg;
    int64_t first = mg_now_ms() + MG_HEADROOM_EVERY_MS;
    while (!mg_headroom_any_caught_up(src) && mg_now_ms() < first) {
        if (!mg_source_sleep(src, MG_HEADROOM_POLL_MS))
            return NULL;
    }
    mongoc_client_t *client = mongoc_client_pool_pop(src->pool);
    bool known = false;
    do {
        known |= mg_headroom_read(src, client);
    } while (mg_source_sleep(src, known ? MG_HEADROOM_EVERY_MS : MG_HEADROOM_RETRY_MS));
    mongoc_client_pool_push(src->pool, client);
    return NULL;
}
