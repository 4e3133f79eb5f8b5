/* plugins/mongo/mongo_stream.c — one change stream's reader thread.
 *
 * Opens the stream (from the saved token, after an invalidate, at the
 * snapshot's operation time, or from now), copies each change into a queue
 * item with its lookup recipients, and reopens it when it ends: after an
 * invalidate at once with startAfter, after an error with capped, jittered
 * exponential backoff, resuming after the last change it queued. libmongoc
 * has already retried a resumable error once by itself when next() reports
 * one. History lost is fatal or a restart from now, per on_history_lost.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/bson_next.h"   /* header only (inline): no core symbol */
#include "plugins/mongo/mongo.h"

#define MG_BACKOFF_MIN_MS 100
#define MG_BACKOFF_MAX_MS 30000

/* Server codes meaning the resume point is gone from the oplog. */
#define MG_ERR_HISTORY_LOST 286    /* ChangeStreamHistoryLost */
#define MG_ERR_FATAL 280           /* ChangeStreamFatalError (resume token not found) */

typedef enum mg_read_end {
    MG_READ_OK = 0,                /* mg_stream_take: go on */
    MG_READ_STOP,                  /* stopping */
    MG_READ_REOPEN,                /* invalidated: open again from st->from */
    MG_READ_ERROR                  /* err (and errdoc) set */
} mg_read_end_t;

static bool mg_stopping(const mg_stream_t *st)
{
    return atomic_load(&st->src->stopping);
}

static mongoc_change_stream_t *mg_stream_open(mg_stream_t *st, mongoc_client_t *client)
{
    const mg_plan_t *p = st->plan;
    bson_t pipeline, opts;
    mg_pipeline_build(p, &pipeline);
    mg_opts_build(&st->src->cfg.settings, &st->from, &opts);
    mongoc_change_stream_t *cs;
    if (strcmp(p->database, "*") == 0) {
        cs = mongoc_client_watch(client, &pipeline, &opts);
    } else if (p->collection != NULL) {
        mongoc_collection_t *coll = mongoc_client_get_collection(client, p->database,
                                                                 p->collection);
        cs = mongoc_collection_watch(coll, &pipeline, &opts);
        mongoc_collection_destroy(coll);   /* the stream keeps its own names */
    } else {
        mongoc_database_t *db = mongoc_client_get_database(client, p->database);
        cs = mongoc_database_watch(db, &pipeline, &opts);
        mongoc_database_destroy(db);
    }
    bson_destroy(&pipeline);
    bson_destroy(&opts);
    return cs;
}

/* The entry a change belongs to: by ns.coll on a shared stream, else the
 * "*" entry, else the first (collection-less events: dropDatabase). `ns`:
 * the change's "ns" member, or NULL. */
static const mg_entry_t *mg_route(const mg_plan_t *p, const bson_iter_t *ns)
{
    if (p->n_entries == 1)
        return p->entries[0];
    bson_iter_t coll;
    const char *name = NULL;
    uint32_t len = 0;
    if (ns != NULL && BSON_ITER_HOLDS_DOCUMENT(ns) && bson_iter_recurse(ns, &coll) &&
        bson_iter_find(&coll, "coll") && BSON_ITER_HOLDS_UTF8(&coll))
        name = bson_iter_utf8(&coll, &len);
    const mg_entry_t *star = NULL;
    for (size_t i = 0; i < p->n_entries; i++) {
        const mg_entry_t *e = p->entries[i];
        if (strcmp(e->collection, "*") == 0) {
            star = star ? star : e;
            continue;
        }
        if (name && strlen(e->collection) == len && memcmp(e->collection, name, len) == 0)
            return e;
    }
    return star ? star : p->entries[0];
}

/* The top-level members the reader reads. */
enum { MG_TOP_ID, MG_TOP_OP, MG_TOP_CT, MG_TOP_NS, MG_TOP_COUNT };
/* bson_iter_t is over-aligned (128) beyond its size: arrays need a wrapper. */
typedef struct mg_top_slot {
    bson_iter_t it;
} mg_top_slot_t;

/* Finds _id, operationType, clusterTime and (when `want_ns`) ns in one pass
 * over the change, stopping once it has them; the first member of each name
 * counts, as with bson_iter_init_find. */
static void mg_top_scan(const bson_t *doc, bool want_ns, mg_top_slot_t *top, bool *have)
{
    static const char *const keys[MG_TOP_COUNT] = {"_id", "operationType", "clusterTime", "ns"};
    static const uint32_t lens[MG_TOP_COUNT] = {3, 13, 11, 2};
    unsigned missing = want_ns ? 4 : 3;
    bson_iter_t it;
    for (int k = 0; k < MG_TOP_COUNT; k++)
        have[k] = false;
    if (!bson_iter_init(&it, doc))
        return;
    while (missing > 0 && cc_bson_next(&it)) {
        uint32_t klen = cc_bson_key_len(&it);
        for (int k = 0; k < MG_TOP_COUNT; k++) {
            if (!have[k] && klen == lens[k] &&
                memcmp(bson_iter_key_unsafe(&it), keys[k], klen) == 0) {
                top[k].it = it;
                have[k] = true;
                if (k != MG_TOP_NS || want_ns)
                    missing--;
                break;
            }
        }
    }
}

/* Queues one change. MG_READ_OK, MG_READ_STOP or MG_READ_ERROR (a lookup failed). */
static int mg_stream_take(mg_stream_t *st, mongoc_client_t *client, const bson_t *doc,
                          bool *invalidated, bson_error_t *err)
{
    mg_source_t *src = st->src;
    mg_top_slot_t top[MG_TOP_COUNT];
    bool have[MG_TOP_COUNT];
    mg_top_scan(doc, st->plan->n_entries > 1, top, have);
    const char *op = NULL;
    uint32_t op_len = 0;
    /* The _unsafe accessors: libbson's inline ones, on elements the scan
     * found (their bounds checked). */
    if (have[MG_TOP_OP] && bson_iter_type_unsafe(&top[MG_TOP_OP].it) == BSON_TYPE_UTF8)
        op = bson_iter_utf8(&top[MG_TOP_OP].it, &op_len);
    unsigned bit = op ? mg_op_bit(op, op_len) : 0;
    *invalidated = bit == MG_OP(INVALIDATE);
    if (!have[MG_TOP_ID] || bson_iter_type_unsafe(&top[MG_TOP_ID].it) != BSON_TYPE_DOCUMENT) {
        src->host->log(src->self, CC_LOG_WARN, "%s: change without a resume token skipped",
                       st->origin);
        return 0;
    }
    bson_t token;
    const uint8_t *data;
    uint32_t len;
    bson_iter_document(&top[MG_TOP_ID].it, &len, &data);
    bson_init_static(&token, data, len);

    if (have[MG_TOP_CT] && bson_iter_type_unsafe(&top[MG_TOP_CT].it) == BSON_TYPE_TIMESTAMP) {
        uint32_t t = 0, i = 0;
        bson_iter_timestamp(&top[MG_TOP_CT].it, &t, &i);
        atomic_store(&st->last_event_t, t);
        /* Caught up: changes about as fresh as the clock (or, below, an
         * empty batch). Until then the headroom thread leaves the server
         * alone. */
        if (!atomic_load_explicit(&st->caught_up, memory_order_relaxed) &&
            (int64_t)t + 1 >= (int64_t)time(NULL))
            atomic_store(&st->caught_up, true);
    }

    const mg_entry_t *entry = mg_route(st->plan, have[MG_TOP_NS] ? &top[MG_TOP_NS].it : NULL);
    /* An event its entry did not ask for (entries sharing a stream ask for
     * different operations; a new server event type): skipped, but the
     * stream moves past it. */
    if (!*invalidated && (bit == 0 || !(entry->ops & bit))) {
        if (mg_from_set_token(&st->from, MG_FROM_RESUME, &token) != 0)
            return MG_READ_STOP;
        return 0;
    }

    mg_item_t item = {.stream = st, .entry = entry,
                      .tok = *invalidated ? MG_TOK_START_AFTER : MG_TOK_RESUME};
    if (entry->lookup != NULL && !*invalidated) {
        int rc = mg_lookup_recipients(st, client, entry, doc, &item, err);
        if (rc == CC_EIO)
            return MG_READ_ERROR;
        if (rc != 0)
            goto oom;
    }
    /* MongoDB's invalidate names no namespace; the stream knows it, and
     * sinks filtering on collection or database should see it. */
    bson_t with_ns;
    bool have_with_ns = false;   /* only set up when used: this runs per change */
    if (*invalidated && !bson_has_field(doc, "ns") && strcmp(st->plan->database, "*") != 0) {
        bson_t ns;
        bson_init(&with_ns);
        have_with_ns = true;
        bson_copy_to_excluding_noinit(doc, &with_ns, "", NULL);
        BSON_APPEND_DOCUMENT_BEGIN(&with_ns, "ns", &ns);
        BSON_APPEND_UTF8(&ns, "db", st->plan->database);
        if (st->plan->collection)
            BSON_APPEND_UTF8(&ns, "coll", st->plan->collection);
        bson_append_document_end(&with_ns, &ns);
        doc = &with_ns;
    }
    item.len = doc->len;
    /* Owned by the item (a hold on the reader's block); next() reuses its
     * buffer. */
    item.doc = mg_block_alloc(&st->block, doc->len, &item.block);
    if (item.doc != NULL)
        memcpy(item.doc, bson_get_data(doc), doc->len);
    if (have_with_ns)
        bson_destroy(&with_ns);
    if (item.doc == NULL)
        goto oom;
    if (mg_queue_push(&src->queue, &item) != 0) {
        mg_item_clear(&item);
        return MG_READ_STOP;
    }
    if (mg_from_set_token(&st->from, *invalidated ? MG_FROM_START_AFTER : MG_FROM_RESUME,
                          &token) != 0)
        goto oom;
    return 0;
oom:
    mg_item_clear(&item);
    src->host->source_status(src->self, CC_SOURCE_FAILED);
    src->host->fatal(src->self, "out of memory while reading changes");
    return MG_READ_STOP;
}

/* An empty batch: the server's resume point (postBatchResumeToken) may
 * have moved past changes the pipeline filtered out, or past a quiet
 * stretch. Queued as a mark when it did, so the emitter saves it after the
 * changes queued before it: a filtered stream's saved position keeps up
 * with the oplog instead of aging out of it. MG_READ_OK or MG_READ_STOP. */
static int mg_stream_quiet(mg_stream_t *st, mongoc_change_stream_t *cs)
{
    const bson_t *tok = mongoc_change_stream_get_resume_token(cs);
    if (tok == NULL || bson_empty0(tok) || (st->from.token && bson_equal(st->from.token, tok)))
        return MG_READ_OK;
    mg_item_t item = {.stream = st, .entry = st->plan->entries[0], .mark = true,
                      .tok = MG_TOK_RESUME};
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_DOCUMENT(&doc, "_id", tok);
    item.len = doc.len;
    item.doc = malloc(doc.len);   /* owned by the item, as a change's copy */
    if (item.doc != NULL)
        memcpy(item.doc, bson_get_data(&doc), doc.len);
    bson_destroy(&doc);
    if (item.doc == NULL || mg_from_set_token(&st->from, MG_FROM_RESUME, tok) != 0) {
        mg_item_clear(&item);
        st->src->host->source_status(st->src->self, CC_SOURCE_FAILED);
        st->src->host->fatal(st->src->self, "out of memory while reading changes");
        return MG_READ_STOP;
    }
    if (mg_queue_push(&st->src->queue, &item) != 0) {
        mg_item_clear(&item);
        return MG_READ_STOP;
    }
    return MG_READ_OK;
}

static mg_read_end_t mg_stream_read(mg_stream_t *st, mongoc_client_t *client,
                                    mongoc_change_stream_t *cs, bson_error_t *err,
                                    const bson_t **errdoc)
{
    while (!mg_stopping(st)) {
        const bson_t *doc;
        if (mongoc_change_stream_next(cs, &doc)) {
            bool invalidated = false;
            int rc = mg_stream_take(st, client, doc, &invalidated, err);
            if (rc == MG_READ_STOP)
                return MG_READ_STOP;
            if (rc == MG_READ_ERROR) {
                *errdoc = NULL;
                return MG_READ_ERROR;
            }
            if (invalidated)
                return MG_READ_REOPEN;
        } else if (mongoc_change_stream_error_document(cs, err, errdoc)) {
            return MG_READ_ERROR;
        } else {
            atomic_store(&st->caught_up, true);   /* an empty getMore: nothing behind */
            if (mg_stream_quiet(st, cs) == MG_READ_STOP)
                return MG_READ_STOP;
        }
    }
    return MG_READ_STOP;
}

static bool mg_is_history_lost(const bson_error_t *err)
{
    return (err->domain == MONGOC_ERROR_SERVER || err->domain == MONGOC_ERROR_QUERY) &&
           (err->code == MG_ERR_HISTORY_LOST || err->code == MG_ERR_FATAL);
}

/* After a failure: history lost is fatal or a restart from now; anything
 * else waits out the backoff. Returns false when the thread must end. */
static bool mg_stream_failed(mg_stream_t *st, const bson_error_t *err, bool at_open,
                             unsigned *attempt, uint32_t *seed)
{
    mg_source_t *src = st->src;
    const cc_host_t *host = src->host;
    if (mg_stopping(st))
        return false;   /* an error from the shutdown itself: nothing to report */
    mg_source_set_connected(src, st, false);
    if (mg_is_history_lost(err)) {
        if (!src->cfg.settings.history_lost_restart) {
            char msg[768];
            snprintf(msg, sizeof msg,
                     "change stream %s: history lost (server error %" PRIu32 ": %s): the resume "
                     "point is no longer in the oplog, so changes since the last delivered event "
                     "were missed. Set on_history_lost: \"restart\" to continue from now, or "
                     "remove the source's position from the state file",
                     st->plan->key, err->code, err->message);
            host->source_status(src->self, CC_SOURCE_FAILED);
            host->fatal(src->self, msg);
            return false;
        }
        host->log(src->self, CC_LOG_WARN,
                  "change stream %s: history lost (server error %" PRIu32 ": %s); "
                  "on_history_lost is \"restart\": continuing from now, changes in between "
                  "are missed", st->plan->key, err->code, err->message);
        if (src->m_history_lost)
            host->metric_add(src->m_history_lost, 1);
        mg_from_clear(&st->from);
        *attempt = 0;
        return true;
    }
    (*attempt)++;
    int64_t delay = (int64_t)cc_backoff_ms(*attempt, MG_BACKOFF_MIN_MS, MG_BACKOFF_MAX_MS,
                                           cc_xorshift32(seed));
    /* The server refusing the command (a bad pipeline stage, no replica
     * set, no rights) will not pass by itself: an error every time, with
     * the server's words. A lost connection is a warning, then quieter. */
    bool refused = at_open &&
                   (err->domain == MONGOC_ERROR_SERVER || err->domain == MONGOC_ERROR_QUERY);
    host->log(src->self, refused ? CC_LOG_ERROR : *attempt == 1 ? CC_LOG_WARN : CC_LOG_INFO,
              "change stream %s: %s%s (error %" PRIu32 ".%" PRIu32 "); reconnecting in %" PRId64
              " ms (attempt %u)", st->plan->key, refused ? "the server refused it: " : "",
              err->message, err->domain, err->code, delay, *attempt);
    if (src->m_reconnects)
        host->metric_add(src->m_reconnects, 1);
    return mg_source_sleep(src, delay);
}

void *mg_stream_run(void *arg)
{
    mg_stream_t *st = arg;
    mg_source_t *src = st->src;
    mongoc_client_t *client = mongoc_client_pool_pop(src->pool);
    unsigned attempt = 0;
    uint32_t seed = (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)st;

    while (!mg_stopping(st)) {
        bson_error_t err;
        memset(&err, 0, sizeof err);
        if (st->need_snapshot) {
            int rc = mg_snapshot_run(st, client, &err);
            if (rc == CC_ECLOSED)
                break;
            if (rc != 0) {
                if (!mg_stream_failed(st, &err, true, &attempt, &seed))
                    break;
                continue;
            }
            st->need_snapshot = false;
        }
        mongoc_change_stream_t *cs = mg_stream_open(st, client);
        const bson_t *errdoc = NULL;
        if (mongoc_change_stream_error_document(cs, &err, &errdoc)) {
            bson_error_t copy = err;
            mongoc_change_stream_destroy(cs);
            if (!mg_stream_failed(st, &copy, true, &attempt, &seed))
                break;
            continue;
        }
        if (attempt > 0)
            src->host->log(src->self, CC_LOG_INFO, "change stream %s: connected again",
                           st->plan->key);
        attempt = 0;
        mg_source_set_connected(src, st, true);
        mg_read_end_t end = mg_stream_read(st, client, cs, &err, &errdoc);
        bson_error_t copy = err;
        mongoc_change_stream_destroy(cs);
        if (end == MG_READ_STOP)
            break;
        if (end == MG_READ_REOPEN) {
            src->host->log(src->self, CC_LOG_INFO, "change stream %s: invalidated (collection "
                           "dropped or renamed); delivered, reopening after it", st->plan->key);
            continue;
        }
        if (!mg_stream_failed(st, &copy, false, &attempt, &seed))
            break;
    }
    mongoc_client_pool_push(src->pool, client);
    mg_block_retire(&st->block);   /* the changes still queued keep it */
    return NULL;
}
