/* db_writer.c — the database sink's writer thread.
 *
 * Takes up to batch_size queued events, writes them as one unordered bulk
 * insert and acknowledges them once the server confirmed the write concern.
 * A failed write (server unreachable, not primary, write concern not met)
 * keeps the events, in order, and is retried with capped, jittered backoff
 * for as long as it takes: the bus holds further events for this lossless
 * sink meanwhile. The client is single-threaded and used by this thread
 * alone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "database.h"
#include "db_doc.h"

#define DB_WHY_MAX 512

/* The batch being written: copies of the queue's first items (the queue
 * keeps owning their documents until they are acknowledged and removed),
 * their outcomes, and the index of each in
 * the bulk insert (-1: not sent, given up on beforehand). */
typedef struct db_batch {
    db_item_t *items;        /* owned array of copies          */
    cc_event_t **events;     /* owned array of borrowed events, for ack_batch */
    db_outcome_t *outcomes;  /* owned                          */
    db_outcome_t *sent;      /* owned: outcomes of what was sent, by bulk index */
    int *bulk_index;         /* owned                          */
    size_t n;
} db_batch_t;

static int64_t db_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void db_metric_add(db_sink_t *db, cc_metric_t *m, double v)
{
    if (m != NULL && v > 0)
        db->host->metric_add(m, v);
}

static void db_set_status(db_sink_t *db, cc_sink_status_t s)
{
    if (s == db->status)
        return;
    if (s == CC_SINK_OK)
        db->host->log(db->self, CC_LOG_INFO, "writing to %s.%s at %s again", db->database,
                      db->collection, db->uri_redacted);
    db->status = s;
    db->host->sink_status(db->self, s);
}

/* A failure of the connection itself (as opposed to the server answering
 * with an error): the client is made anew, so that the next attempt connects
 * at once instead of sitting out the driver's cooldown. */
static bool db_connection_error(const bson_error_t *err)
{
    return err->domain == MONGOC_ERROR_STREAM || err->domain == MONGOC_ERROR_SERVER_SELECTION ||
           err->domain == MONGOC_ERROR_PROTOCOL;
}

static void db_drop_client(db_sink_t *db)
{
    if (db->client != NULL) {
        mongoc_client_destroy(db->client);
        db->client = NULL;
    }
}

static int db_client(db_sink_t *db)
{
    if (db->client != NULL)
        return 0;
    db->client = mongoc_client_new_from_uri(db->uri);
    if (db->client == NULL) {
        db->host->log(db->self, CC_LOG_ERROR, "cannot create a MongoDB client for %s",
                      db->uri_redacted);
        return -1;
    }
    mongoc_client_set_error_api(db->client, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_set_appname(db->client, "changecast-database");
    return 0;
}

/* Reports a failed attempt: once per outage at error level, then quietly. */
static void db_failed(db_sink_t *db, const char *what, const char *why, bool unreachable)
{
    if (db->attempt == 0)
        db->host->log(db->self, CC_LOG_ERROR, "%s %s.%s at %s failed: %s; retrying with backoff",
                      what, db->database, db->collection, db->uri_redacted, why);
    else
        db->host->log(db->self, CC_LOG_DEBUG, "%s failed again (attempt %u): %s", what,
                      db->attempt + 1, why);
    db_set_status(db, unreachable ? CC_SINK_DOWN : CC_SINK_RETRYING);
    db->attempt++;
}

/* Sleeps for the backoff of the current attempt, or until stop. Returns
 * false when stopping. Called with db->mu not held. */
static bool db_backoff(db_sink_t *db)
{
    uint64_t ms = cc_backoff_ms(db->attempt, db->backoff_ms, db->max_backoff_ms,
                                cc_xorshift32(&db->rng));
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&db->mu);
    while (!db->stopping && pthread_cond_timedwait(&db->cv, &db->mu, &until) != ETIMEDOUT) {
    }
    bool go_on = !db->stopping;
    pthread_mutex_unlock(&db->mu);
    return go_on;
}

/* Creates the TTL index on timestamp once. An index of another shape on
 * timestamp is the operator's to sort out: logged, and writing goes on. */
static int db_ensure_index(db_sink_t *db)
{
    if (db->index_done || db->ttl_seconds <= 0)
        return 0;
    bson_t cmd = BSON_INITIALIZER, reply;
    bson_error_t err;
    BCON_APPEND(&cmd, "createIndexes", BCON_UTF8(db->collection), "indexes", "[", "{",
                "key", "{", "timestamp", BCON_INT32(1), "}", "name", BCON_UTF8("timestamp_ttl"),
                "expireAfterSeconds", BCON_INT64(db->ttl_seconds), "}", "]");
    bool ok = mongoc_client_write_command_with_opts(db->client, db->database, &cmd, NULL,
                                                    &reply, &err);
    bson_destroy(&cmd);
    bson_destroy(&reply);
    if (ok) {
        db->host->log(db->self, CC_LOG_INFO, "TTL index on %s.%s.timestamp: documents expire "
                      "after %lld s", db->database, db->collection, (long long)db->ttl_seconds);
        db->index_done = true;
        return 0;
    }
    /* 85 IndexOptionsConflict, 86 IndexKeySpecsConflict: one exists already. */
    if (err.code == 85 || err.code == 86) {
        db->host->log(db->self, CC_LOG_ERROR, "cannot create the TTL index on %s.%s.timestamp: "
                      "%s; drop the other index (or change it with collMod) for ttl_seconds "
                      "to apply; writing goes on", db->database, db->collection, err.message);
        db->index_done = true;
        return 0;
    }
    db_failed(db, "creating the TTL index on", err.message, db_connection_error(&err));
    if (db_connection_error(&err))
        db_drop_client(db);
    return -1;
}

/* Connects (a ping) and creates the index, so that an unreachable server
 * shows on /healthz before the first event. */
static int db_connect(db_sink_t *db)
{
    if (db_client(db) != 0)
        return -1;
    bson_t ping = BSON_INITIALIZER, reply;
    bson_error_t err;
    BSON_APPEND_INT32(&ping, "ping", 1);
    bool ok = mongoc_client_command_simple(db->client, "admin", &ping, NULL, &reply, &err);
    bson_destroy(&ping);
    bson_destroy(&reply);
    if (!ok) {
        db_failed(db, "connecting to", err.message, db_connection_error(&err));
        db_drop_client(db);
        return -1;
    }
    return db_ensure_index(db);
}

/* Writes batch->events[0..n) once. Returns 0 when every event has its
 * outcome (then acknowledged), -1 to try again later. */
static int db_write(db_sink_t *db, db_batch_t *b)
{
    if (db_client(db) != 0 || db_ensure_index(db) != 0)
        return -1;
    mongoc_collection_t *coll = mongoc_client_get_collection(db->client, db->database,
                                                             db->collection);
    bson_t opts = BSON_INITIALIZER, reply;
    bson_error_t err;
    BSON_APPEND_BOOL(&opts, "ordered", false);
    mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(coll, &opts);
    bson_destroy(&opts);
    int64_t now = db_now_ms();
    size_t n_sent = 0, n_refused = 0;
    const char *refused_id = NULL;
    for (size_t i = 0; i < b->n; i++) {
        db_item_t *it = &b->items[i];
        bson_t doc;
        b->bulk_index[i] = -1;
        b->outcomes[i] = DB_FAILED;
        if (it->doc != NULL) {
            db_doc_set_timestamp(it->doc, it->ts_off, now);
            if (bson_init_static(&doc, it->doc, it->len) &&
                mongoc_bulk_operation_insert_with_opts(bulk, &doc, NULL, &err)) {
                b->bulk_index[i] = (int)n_sent++;
                continue;
            }
        }
        n_refused++;
        refused_id = db->host->event_id(it->event);
    }
    if (n_refused > 0)
        db->host->log(db->self, CC_LOG_ERROR, "%zu events cannot be stored as a MongoDB "
                      "document (e.g. %s: larger than 16 MB); given up on", n_refused,
                      refused_id);

    int rc = 0;
    uint64_t inserted = 0;
    char why[DB_WHY_MAX];
    if (n_sent > 0) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        uint32_t ok = mongoc_bulk_operation_execute(bulk, &reply, &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        db_metric_add(db, db->m_batches, 1);
        db->host->log(db->self, CC_LOG_DEBUG, "bulk insert of %zu documents: %s in %.1f ms",
                      n_sent, ok ? "ok" : "failed",
                      (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
        if (db_bulk_verdict(ok != 0, &err, &reply, b->sent, n_sent, why, sizeof why) ==
            DB_RETRY) {
            db_failed(db, "writing to", why, db_connection_error(&err));
            if (db_connection_error(&err))
                db_drop_client(db);
            db->host->count(db->self, CC_RESULT_RETRIED, b->n);
            rc = -1;
        } else {
            bson_iter_t it;
            if (bson_iter_init_find(&it, &reply, "nInserted") && BSON_ITER_HOLDS_INT32(&it))
                inserted = (uint64_t)bson_iter_int32(&it);
            for (size_t i = 0; i < b->n; i++)
                if (b->bulk_index[i] >= 0)
                    b->outcomes[i] = b->sent[b->bulk_index[i]];
            if (why[0] != '\0')
                db->host->log(db->self, CC_LOG_ERROR, "the server refused documents for good "
                              "(%s); those events are given up on", why);
        }
        bson_destroy(&reply);
    }
    mongoc_bulk_operation_destroy(bulk);
    mongoc_collection_destroy(coll);
    if (rc != 0)
        return rc;

    size_t stored = 0, failed = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->outcomes[i] == DB_STORED)
            stored++;
        else
            failed++;
    }
    db_metric_add(db, db->m_docs_inserted, (double)inserted);
    db_metric_add(db, db->m_docs_duplicate, (double)(stored > inserted ? stored - inserted : 0));
    db_metric_add(db, db->m_docs_failed, (double)failed);
    if (failed > 0)
        db->host->count(db->self, CC_RESULT_FAILED, failed);
    cc_batch_t acks = {.size = sizeof acks, .count = b->n, .events = b->events};
    db->host->ack_batch(db->self, &acks);
    db->attempt = 0;
    db_set_status(db, CC_SINK_OK);
    return 0;
}

static void *db_writer_main(void *arg)
{
    db_sink_t *db = arg;
    db_batch_t b = {0};
    b.items = malloc(db->batch_size * sizeof *b.items);
    b.events = malloc(db->batch_size * sizeof *b.events);
    b.outcomes = malloc(db->batch_size * sizeof *b.outcomes);
    b.sent = malloc(db->batch_size * sizeof *b.sent);
    b.bulk_index = malloc(db->batch_size * sizeof *b.bulk_index);
    if (b.items == NULL || b.events == NULL || b.outcomes == NULL || b.sent == NULL || b.bulk_index == NULL) {
        db->host->log(db->self, CC_LOG_ERROR, "out of memory for a batch of %zu",
                      db->batch_size);
        db->host->fatal(db->self, "database sink: out of memory");
        goto out;
    }
    while (db_connect(db) != 0)
        if (!db_backoff(db))
            goto out;
    db->attempt = 0;
    db_set_status(db, CC_SINK_OK);

    for (;;) {
        pthread_mutex_lock(&db->mu);
        while (db->count == 0 && !db->stopping)
            pthread_cond_wait(&db->cv, &db->mu);
        if (db->count == 0) {
            pthread_mutex_unlock(&db->mu);
            break;
        }
        bool last = db->stopping;
        b.n = db->count < db->batch_size ? db->count : db->batch_size;
        memcpy(b.items, db->queue + db->head, b.n * sizeof *b.items);
        pthread_mutex_unlock(&db->mu);
        for (size_t i = 0; i < b.n; i++)
            b.events[i] = b.items[i].event;

        if (db_write(db, &b) != 0) {
            /* Stopping: what is not written stays unacknowledged, for the
             * next run to deliver again. */
            if (last || !db_backoff(db))
                break;
            continue;
        }
        for (size_t i = 0; i < b.n; i++)
            bson_free(b.items[i].doc);
        pthread_mutex_lock(&db->mu);
        /* head + count stays where deliver is building the next items
         * (outside the lock): only deliver itself may move them. */
        db->head += b.n;
        db->count -= b.n;
        pthread_mutex_unlock(&db->mu);
    }
out:
    pthread_mutex_lock(&db->mu);
    size_t left = db->count;
    pthread_mutex_unlock(&db->mu);
    if (left > 0)
        db->host->log(db->self, CC_LOG_WARN, "stopping with %zu events not written to %s.%s; "
                      "they are delivered again on the next run", left, db->database,
                      db->collection);
    db_drop_client(db);
    free(b.items);
    free(b.events);
    free(b.outcomes);
    free(b.sent);
    free(b.bulk_index);
    return NULL;
}

int db_writer_start(db_sink_t *db)
{
    int rc = pthread_create(&db->thread, NULL, db_writer_main, db);
    if (rc != 0) {
        db->host->log(db->self, CC_LOG_ERROR, "cannot start the writer thread: %s",
                      strerror(rc));
        return CC_EIO;
    }
    db->started = true;
    return 0;
}

void db_writer_stop(db_sink_t *db)
{
    if (!db->started)
        return;
    pthread_mutex_lock(&db->mu);
    db->stopping = true;
    pthread_cond_broadcast(&db->cv);
    pthread_mutex_unlock(&db->mu);
    pthread_join(db->thread, NULL);
    db->started = false;
}
