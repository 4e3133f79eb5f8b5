/* plugins/mongo/mongo_snapshot.c — state first, then changes, no gap.
 *
 * Reads the server's operation time, emits every document of the stream's
 * snapshot entries as a synthetic "snapshot" change, then lets the stream
 * open at that operation time. A write during the snapshot may show up in
 * both (at least once), never in neither. Snapshot changes carry no
 * position: a restart before the stream's first change takes the snapshot
 * again. Reader thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/mongo/mongo.h"

/* The operation time from a ping reply (replica sets send it), else the
 * cluster time. */
static bool mg_snapshot_optime(mongoc_client_t *client, uint32_t *t, uint32_t *i,
                               bson_error_t *err)
{
    bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
    bson_t reply;
    bool ok = mongoc_client_command_simple(client, "admin", cmd, NULL, &reply, err);
    bson_destroy(cmd);
    if (!ok) {
        bson_destroy(&reply);
        return false;
    }
    bson_iter_t it, top;
    ok = (bson_iter_init_find(&it, &reply, "operationTime") && BSON_ITER_HOLDS_TIMESTAMP(&it)) ||
         (bson_iter_init(&top, &reply) &&
          bson_iter_find_descendant(&top, "$clusterTime.clusterTime", &it) &&
          BSON_ITER_HOLDS_TIMESTAMP(&it));
    if (ok)
        bson_iter_timestamp(&it, t, i);
    else
        bson_set_error(err, MONGOC_ERROR_PROTOCOL, MONGOC_ERROR_PROTOCOL_INVALID_REPLY,
                       "the server's ping reply has no operationTime: a snapshot needs a "
                       "replica set (mongod --replSet)");
    bson_destroy(&reply);
    return ok;
}

/* Builds the synthetic change for one document into ch (initialized). */
static bool mg_snapshot_change(const mg_entry_t *e, const bson_t *doc, uint32_t t, uint32_t i,
                               bson_t *ch)
{
    bson_iter_t id;
    if (!bson_iter_init_find(&id, doc, "_id"))
        return false;
    char *ids = mg_value_string(&id);
    if (ids == NULL)
        return false;
    size_t n = strlen(ids) + 10;
    char *sid = malloc(n);
    if (sid == NULL) {
        free(ids);
        return false;
    }
    snprintf(sid, n, "snapshot:%s", ids);
    free(ids);
    bson_t sub;
    bson_init(ch);
    /* An _id without _data: the core writes the event id as this string. */
    BSON_APPEND_UTF8(ch, "_id", sid);
    free(sid);
    BSON_APPEND_UTF8(ch, "operationType", "snapshot");
    BSON_APPEND_TIMESTAMP(ch, "clusterTime", t, i);
    BSON_APPEND_DOCUMENT_BEGIN(ch, "ns", &sub);
    BSON_APPEND_UTF8(&sub, "db", e->database);
    BSON_APPEND_UTF8(&sub, "coll", e->collection);
    bson_append_document_end(ch, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(ch, "documentKey", &sub);
    bson_append_iter(&sub, "_id", 3, &id);
    bson_append_document_end(ch, &sub);
    BSON_APPEND_DOCUMENT(ch, "fullDocument", doc);
    return true;
}

/* Queues one collection. 0, CC_ECLOSED or CC_EIO. */
static int mg_snapshot_entry(mg_stream_t *st, mongoc_client_t *client, const mg_entry_t *e,
                             uint32_t t, uint32_t i, bson_error_t *err)
{
    mg_source_t *src = st->src;
    mongoc_collection_t *coll = mongoc_client_get_collection(client, e->database, e->collection);
    bson_t filter = BSON_INITIALIZER;
    bson_t *opts = BCON_NEW("batchSize", BCON_INT32(st->src->cfg.settings.batch_size > 0
                                                    ? st->src->cfg.settings.batch_size : 1000));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
    bson_destroy(opts);
    bson_destroy(&filter);
    const bson_t *doc;
    size_t count = 0;
    int rc = 0;
    while (rc == 0 && mongoc_cursor_next(cur, &doc)) {
        if (atomic_load(&src->stopping)) {
            rc = CC_ECLOSED;
            break;
        }
        bson_t ch;
        if (!mg_snapshot_change(e, doc, t, i, &ch))
            continue;   /* no _id: nothing to name the event by */
        mg_item_t item = {.stream = st, .entry = e, .tok = MG_TOK_NONE};
        if (e->lookup != NULL) {
            int lrc = mg_lookup_recipients(st, client, e, &ch, &item, err);
            if (lrc != 0) {
                bson_destroy(&ch);
                mg_item_clear(&item);
                rc = lrc == CC_EIO ? CC_EIO : CC_ENOMEM;
                break;
            }
        }
        item.len = ch.len;
        item.doc = malloc(ch.len);   /* owned by the item */
        if (item.doc != NULL)
            memcpy(item.doc, bson_get_data(&ch), ch.len);
        bson_destroy(&ch);
        if (item.doc == NULL) {
            mg_item_clear(&item);
            rc = CC_ENOMEM;
            break;
        }
        if (mg_queue_push(&src->queue, &item) != 0) {
            mg_item_clear(&item);
            rc = CC_ECLOSED;
            break;
        }
        count++;
    }
    if (rc == 0 && mongoc_cursor_error(cur, err))
        rc = CC_EIO;
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(coll);
    if (rc == CC_ENOMEM) {
        bson_set_error(err, MONGOC_ERROR_BSON, 0, "out of memory during the snapshot");
        rc = CC_EIO;
    }
    if (rc == 0)
        src->host->log(src->self, CC_LOG_INFO, "snapshot of %s.%s: %zu documents at operation "
                       "time %u.%u", e->database, e->collection, count, t, i);
    return rc;
}

int mg_snapshot_run(mg_stream_t *st, mongoc_client_t *client, bson_error_t *err)
{
    uint32_t t = 0, i = 0;
    if (!mg_snapshot_optime(client, &t, &i, err))
        return CC_EIO;
    for (size_t k = 0; k < st->plan->n_entries; k++) {
        const mg_entry_t *e = st->plan->entries[k];
        if (!e->snapshot)
            continue;
        int rc = mg_snapshot_entry(st, client, e, t, i, err);
        if (rc != 0)
            return rc;
    }
    mg_from_clear(&st->from);
    st->from.kind = MG_FROM_OPTIME;
    st->from.t = t;
    st->from.i = i;
    return 0;
}
