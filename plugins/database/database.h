/* database.h — the database sink's state, shared by database.c (the plugin:
 * config, lifecycle, deliver) and db_writer.c (the writer thread). */
#ifndef CC_DATABASE_H
#define CC_DATABASE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

#include "changecast/changecast.h"

/* MongoDB's maxBsonObjectSize: the driver refuses a larger document for
 * the whole batch, so such an event is given up on before the batch. */
#define DB_MAX_DOC_BYTES (16 * 1024 * 1024)

/* One event on its way to the collection: its document is built on the
 * sink's thread as it arrives, so that the writer thread only sends. */
typedef struct db_item {
    cc_event_t *event;               /* borrowed until acknowledged     */
    uint8_t *doc;                    /* owned BSON (bson_free), or NULL: cannot be stored */
    uint32_t len;
    uint32_t ts_off;                 /* where the timestamp's value is  */
} db_item_t;

typedef struct db_sink {
    cc_instance_t *self;
    const cc_host_t *host;
    const char *place;               /* "sinks[1]", borrowed           */
    char place_buf[96];
    /* Config (strings borrowed from the host until destroy). */
    const char *database;
    const char *collection;
    int64_t ttl_seconds;
    size_t batch_size;
    uint64_t backoff_ms, max_backoff_ms;
    mongoc_uri_t *uri;               /* owned                          */
    char *uri_redacted;              /* owned: the URI without password, for logs */

    /* The hand-over from deliver (sink thread) to the writer thread:
     * queue[head .. head+count), oldest first. Only deliver appends, only
     * the writer removes, after acknowledging. Bounded by the bus's
     * capacity. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    db_item_t *queue;                /* owned array; items own their doc */
    size_t head, count, cap;
    size_t n_literal;                /* sink thread: envelopes stored literally, unreported */
    bool stopping;                   /* stop(): write what is queued once, then end */
    bool started;
    pthread_t thread;

    /* Writer-thread only. */
    mongoc_client_t *client;         /* owned; single-threaded client  */
    bool index_done;                 /* the TTL index exists (or is not wanted) */
    unsigned attempt;                /* failures in a row               */
    cc_sink_status_t status;
    uint32_t rng;

    cc_metric_t *m_docs_inserted;    /* changecast_database_documents_total{result} */
    cc_metric_t *m_docs_duplicate;
    cc_metric_t *m_docs_failed;
    cc_metric_t *m_batches;          /* changecast_database_batches_total */
} db_sink_t;

/* Starts / stops the writer thread (db_writer.c). stop writes what is
 * queued once more if the server answers, then joins. */
int db_writer_start(db_sink_t *db);
void db_writer_stop(db_sink_t *db);

#endif
