/* db_doc.h — the database sink's pure parts: the stored document, and what
 * a bulk insert's reply means for each event. No I/O, no threads; unit-tested
 * in tests/unit/test_db_doc.c. */
#ifndef CC_DB_DOC_H
#define CC_DB_DOC_H

#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

/* Appends to `doc` (initialized, empty) the stored form of one event, the
 * Python package's documents with `_id` from the event id:
 *     {_id: id, recipient: r, message: {envelope}, timestamp: Date(now_ms)}
 *     {_id: id, message: {envelope}, timestamp: Date(now_ms), broadcast: true}
 * `recipient` NULL means a broadcast. `message` is the envelope parsed as
 * relaxed Extended JSON, so {"$date": …} and {"$oid": …} inside `data` are
 * stored as BSON dates and ObjectIds. An envelope libbson cannot read that
 * way (a document field named like an Extended JSON operator) is stored with
 * every key and value taken literally; *literal is set then. *ts_off is
 * where the timestamp's 8 bytes are in the finished document (see
 * db_doc_set_timestamp). Returns 0, or -1 when the envelope is not a JSON
 * object at all (never from the core). */
int db_doc_build(bson_t *doc, const char *id, const char *recipient, const char *envelope,
                 size_t envelope_len, int64_t now_ms, int *literal, size_t *ts_off);

/* Rewrites the timestamp of a finished document in place: documents are
 * built when they arrive and dated when they are written. */
void db_doc_set_timestamp(uint8_t *doc, size_t ts_off, int64_t ms);

/* What became of each document of an unordered bulk insert. */
typedef enum db_outcome {
    DB_STORED = 0,      /* inserted, or already there (duplicate _id: a replay) */
    DB_FAILED           /* refused for good (too large, validation): given up  */
} db_outcome_t;

/* How a whole bulk insert ended. */
typedef enum db_verdict {
    DB_DONE = 0,        /* every document has its outcome in outcomes[]        */
    DB_RETRY            /* write concern not met, network, not primary, auth:
                           write the whole batch again later (duplicates of
                           what did land are then counted as stored)           */
} db_verdict_t;

/* Reads a bulk insert's result: `ok` is what mongoc_bulk_operation_execute
 * returned, `error` its error (domain/code/message), `reply` its reply (may
 * be NULL). Fills outcomes[0..n) for DB_DONE. For DB_RETRY and for each
 * DB_FAILED document, writes a reason into `why` (the first one seen).
 * Duplicate-key errors (11000, 11001, 12582) count as stored. */
db_verdict_t db_bulk_verdict(int ok, const bson_error_t *error, const bson_t *reply,
                             db_outcome_t *outcomes, size_t n, char *why, size_t whylen);


#endif
