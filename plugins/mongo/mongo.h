/* plugins/mongo/mongo.h — the mongo change-stream source: shared types.
 *
 * Threads. One reader thread per change stream (mongo_stream.c) owns a
 * client popped from the source's pool, blocks in mongoc_change_stream_next,
 * copies each change into a queue item (with its lookup recipients) and
 * pushes it. One emitter thread per source (mongo.c) drains the queue in
 * batches into host->emit_batch, so the core sees one producing thread per
 * source, and keeps the position: every stream's last token, one JSON object.
 * A quiet stream's getMore wait never delays a busy one, and the reader goes
 * on reading while the core builds envelopes.
 */
#ifndef CC_MONGO_H
#define CC_MONGO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

#include "changecast/changecast.h"

/* Operation types a watch entry may list ("invalidate" always passes). */
#define MG_OPS(X)            \
    X(INSERT, "insert")      \
    X(UPDATE, "update")      \
    X(REPLACE, "replace")    \
    X(DELETE, "delete")      \
    X(DROP, "drop")          \
    X(RENAME, "rename")      \
    X(DROP_DATABASE, "dropDatabase") \
    X(INVALIDATE, "invalidate")

#define MG__OP_BIT(id, name) MG_OP_##id##_BIT,
enum { MG_OPS(MG__OP_BIT) MG_OP_COUNT };
#undef MG__OP_BIT
#define MG_OP(id) (1u << MG_OP_##id##_BIT)
#define MG_OPS_DEFAULT (MG_OP(INSERT) | MG_OP(UPDATE) | MG_OP(REPLACE) | MG_OP(DELETE))

extern const char *const mg_op_names[];   /* NULL-terminated, bit order */

/* Returns the bit of an operation name, 0 when unknown. */
unsigned mg_op_bit(const char *name, size_t len);

/* ---- lookup cache (mongo_lookup.c; pure) ---- */

typedef struct mg_cache_entry {
    char *key;                     /* owned */
    char **recips;                 /* owned array of owned strings */
    size_t n_recips;
    int64_t expires_ms;            /* monotonic ms */
    struct mg_cache_entry *next;
} mg_cache_entry_t;

typedef struct mg_cache {
    mg_cache_entry_t **buckets;    /* owned */
    size_t n_buckets;              /* power of two */
    size_t count;
    size_t max_entries;
} mg_cache_t;

int mg_cache_init(mg_cache_t *c, size_t max_entries);   /* 0 or CC_ENOMEM */
void mg_cache_free(mg_cache_t *c);
/* Returns the live entry for key (borrowed, valid until the next put), or
 * NULL when absent or expired at now_ms (an expired entry is dropped). */
const mg_cache_entry_t *mg_cache_get(mg_cache_t *c, const char *key, int64_t now_ms);
/* Stores recips[0..n) under key until now_ms + ttl_ms. Steals `recips` (and
 * its strings) on success and on failure. 0 or CC_ENOMEM. */
int mg_cache_put(mg_cache_t *c, const char *key, char **recips, size_t n, int64_t now_ms,
                 int64_t ttl_ms);

void mg_strv_free(char **v, size_t n);

/* ---- values and paths (mongo_lookup.c; pure) ---- */

/* Renders a value as the core writes document_id and recipients (a string
 * as itself, ObjectId as hex, integers in decimal, doubles shortest, else
 * compact relaxed Extended JSON). Returns new or NULL (out of memory). */
char *mg_value_string(const bson_iter_t *value);

/* Calls cb for each value the dotted path reaches in doc: a numeric
 * segment indexes an array, another maps over an array's documents, and in
 * a change event "fullDocument..." falls back to fullDocumentBeforeChange
 * when fullDocument is absent or null (deletes). Stops at the first
 * non-zero cb result and returns it. */
typedef int (*mg_path_cb)(void *arg, const bson_iter_t *value);
int mg_path_each(const bson_t *doc, const char *path, mg_path_cb cb, void *arg);

/* ---- configuration (mongo_config.c) ---- */

typedef struct mg_lookup {
    const char *collection;        /* borrowed (config) */
    const char *local;
    const char *foreign;
    const char *field;
    char *projection_key;          /* owned: field's first segment */
    int64_t cache_ms;
    mg_cache_t cache;              /* used by the entry's stream thread only */
} mg_lookup_t;

struct mg_stream;

typedef struct mg_entry {
    size_t index;                  /* watch[index] */
    const char *database;          /* borrowed; "*" = cluster */
    const char *collection;        /* borrowed; "*" = every collection */
    unsigned ops;                  /* MG_OP bits */
    bson_t *pipeline;              /* owned user stages as {"0": {...}, ...}, or NULL */
    bool snapshot;
    cc_shape_t *shape;             /* owned (host->shape_free), or NULL */
    mg_lookup_t *lookup;           /* owned, or NULL */
} mg_entry_t;

/* What one change stream watches: a collection, a database (several
 * entries share it, filtered on ns.coll) or the cluster. */
typedef struct mg_plan {
    char *key;                     /* owned: names the stream in the position */
    const char *database;          /* borrowed; "*" = cluster */
    const char *collection;        /* borrowed; NULL = database or cluster level */
    mg_entry_t **entries;          /* owned array of borrowed entries */
    size_t n_entries;
    bool filter_ns;                /* $match on ns.coll over the entries' collections */
    unsigned ops;                  /* union of the entries' operations */
    const bson_t *user_pipeline;   /* borrowed: the one entry's own stages, or NULL */
} mg_plan_t;

typedef enum mg_full_doc {
    MG_FD_DEFAULT = 0,
    MG_FD_UPDATE_LOOKUP,
    MG_FD_WHEN_AVAILABLE,
    MG_FD_REQUIRED
} mg_full_doc_t;

typedef enum mg_pre_image {
    MG_PRE_OFF = 0,
    MG_PRE_WHEN_AVAILABLE,
    MG_PRE_REQUIRED
} mg_pre_image_t;

typedef struct mg_settings {
    mg_full_doc_t full_document;
    mg_pre_image_t pre_image;
    int32_t batch_size;            /* 0 = the server's */
    int64_t max_await_ms;
    bool history_lost_restart;     /* on_history_lost: "restart" */
} mg_settings_t;

typedef struct mg_config {
    mg_settings_t settings;
    mg_entry_t *entries;           /* owned */
    size_t n_entries;
    mg_plan_t *plans;              /* owned */
    size_t n_plans;
} mg_config_t;

/* Reads the watch entries from the validated config (key table already
 * checked by the core) into entries and stream plans. Errors are logged
 * naming the field ("sources[0].config.watch[1].collection: ...") and
 * return CC_ECONFIG (CC_ENOMEM when out of memory). `uri_db`: the URI's
 * database, the default after config.database. Main thread. */
int mg_config_load(mg_config_t *cfg, cc_instance_t *self, const cc_host_t *host,
                   const char *place, const char *uri_db);
void mg_config_free(mg_config_t *cfg, const cc_host_t *host);

/* Groups entries into plans (pure; entries filled in). 0 or CC_ENOMEM. */
int mg_config_plan(mg_config_t *cfg);

/* ---- pipeline and options (mongo_pipeline.c; pure) ---- */

typedef enum mg_from_kind {
    MG_FROM_NOW = 0,               /* no option: the server's present */
    MG_FROM_RESUME,                /* resumeAfter token */
    MG_FROM_START_AFTER,           /* startAfter token (after an invalidate) */
    MG_FROM_OPTIME                 /* startAtOperationTime */
} mg_from_kind_t;

typedef struct mg_from {
    mg_from_kind_t kind;
    bson_t *token;                 /* owned, for RESUME / START_AFTER */
    uint32_t t, i;                 /* for OPTIME */
} mg_from_t;

void mg_from_clear(mg_from_t *f);
/* Replaces f with a copy of `token` (borrowed; not f's own), reusing f's
 * token when it has one. 0, or CC_ENOMEM (f is then cleared). */
int mg_from_set_token(mg_from_t *f, mg_from_kind_t kind, const bson_t *token);

/* Builds {"pipeline": [operation filter, ns filter, user stages...]} into
 * `out` (initialized by the call). */
void mg_pipeline_build(const mg_plan_t *plan, bson_t *out);
/* Builds the watch options (fullDocument, fullDocumentBeforeChange,
 * batchSize, maxAwaitTimeMS, and where to start) into `out`. */
void mg_opts_build(const mg_settings_t *s, const mg_from_t *from, bson_t *out);

/* ---- position (mongo_position.c; pure) ---- */

/* A position is a JSON object keyed by stream key: {"k": token} to resume
 * after a token, {"k": {"startAfter": token}} after an invalidate. */

/* Appends `s` as a JSON string to a growing buffer. 0 or CC_ENOMEM. */
typedef struct mg_text {
    char *p;                       /* owned */
    size_t len, cap;
} mg_text_t;
int mg_text_put(mg_text_t *t, const char *s, size_t n);
int mg_text_json_string(mg_text_t *t, const char *s);
void mg_text_free(mg_text_t *t);

/* Renders a stream's position value from its token: `token_json` (relaxed
 * Extended JSON of the resume token). Returns new or NULL. */
char *mg_position_value(const bson_t *token, bool start_after);

/* Builds the position text from keys[i] / values[i] (values may be NULL:
 * left out) into t (reset first). 0 or CC_ENOMEM. */
int mg_position_render(mg_text_t *t, const char *const *keys, const char *const *values, size_t n);

/* Finds stream `key` in a saved position: sets *from to resume there and
 * returns 1; 0 when the key is absent; CC_EPARSE when the text is not a
 * position (err says why). */
int mg_position_find(const char *position, const char *key, mg_from_t *from, char *err,
                     size_t errlen);

/* ---- the source (mongo.c, mongo_stream.c, mongo_snapshot.c, mongo_queue.c) ---- */

typedef enum mg_tok {
    MG_TOK_NONE = 0,               /* no token (a snapshot document) */
    MG_TOK_RESUME,
    MG_TOK_START_AFTER
} mg_tok_t;

/* ---- item memory (mongo_block.c) ---- */

/* A block the reader carves change copies from (see mongo_block.c). */
typedef struct mg_block mg_block_t;

/* Returns room for n bytes on the reader's thread, from its current block
 * `*cur` (a new one when it is full; *cur is the reader's), and sets
 * *owner to that block, or to NULL when the room is a malloc of its own (a
 * big copy): release it with mg_block_release(owner), or free() when NULL.
 * NULL when out of memory. */
uint8_t *mg_block_alloc(mg_block_t **cur, size_t n, mg_block_t **owner);
/* Drops one copy's hold on b (NULL: nothing). Any thread. */
void mg_block_release(mg_block_t *b);
/* The reader lets go of its current block (at the end of its thread); the
 * copies still queued keep it alive. */
void mg_block_retire(mg_block_t **cur);

/* One change on its way from a reader to the emitter. */
typedef struct mg_item {
    uint8_t *doc;                  /* owned: the change document's BSON, in
                                      `block`, or malloc'd when block is NULL */
    mg_block_t *block;             /* one hold on it, or NULL */
    uint32_t len;
    struct mg_stream *stream;      /* borrowed */
    const mg_entry_t *entry;       /* borrowed: the shape */
    char **recips;                 /* owned, when has_recips */
    size_t n_recips;
    bool has_recips;
    bool mark;                     /* no change: doc is {_id: the stream's
                                      postBatchResumeToken}, a position only */
    mg_tok_t tok;
} mg_item_t;

void mg_item_clear(mg_item_t *it);

typedef struct mg_queue {
    mg_item_t *items;              /* owned ring */
    size_t cap, head, count;
    size_t bytes, max_bytes;       /* documents queued; push waits above max_bytes */
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    bool closed;
} mg_queue_t;

/* A queue of at most `cap` items and about `max_bytes` of documents (one
 * item is always let in, whatever its size). 0 or CC_ENOMEM. */
int mg_queue_init(mg_queue_t *q, size_t cap, size_t max_bytes);
void mg_queue_free(mg_queue_t *q);
/* Pushes *it (stolen on success). Waits while full (items or bytes). Returns 0, or
 * CC_ECLOSED when the queue is closed (it stays the caller's). */
int mg_queue_push(mg_queue_t *q, mg_item_t *it);
/* Takes up to max items into out, waiting for at least one. Returns the
 * count, 0 when closed and empty. */
size_t mg_queue_pop(mg_queue_t *q, mg_item_t *out, size_t max);
void mg_queue_close(mg_queue_t *q);

typedef struct mg_source mg_source_t;

typedef struct mg_stream {
    mg_source_t *src;              /* borrowed */
    const mg_plan_t *plan;         /* borrowed */
    size_t index;
    mg_from_t from;                /* where the next open starts (reader thread) */
    mg_block_t *block;             /* the reader's current block (reader thread) */
    bool need_snapshot;            /* no saved position and a snapshot entry */
    bool connected;                /* under src->mu */
    pthread_t thread;
    bool started;
    char origin[96];               /* for the core's messages */
    /* Emitter side: the last token handed to the core, as position text. */
    char *pos_value;               /* owned */
    const uint8_t *pending_doc;    /* emitter scratch: last item of the batch */
    uint32_t pending_len;
    mg_tok_t pending_tok;
    atomic_uint_least32_t last_event_t;  /* clusterTime seconds of the last change read */
    atomic_bool caught_up;         /* the reader saw an empty batch once */
} mg_stream_t;

struct mg_source {
    cc_instance_t *self;
    const cc_host_t *host;
    const char *name;
    const char *place;
    char place_buf[96];
    mongoc_uri_t *uri;             /* owned */
    mongoc_client_pool_t *pool;    /* owned */
    mg_config_t cfg;
    mg_stream_t *streams;          /* owned, cfg.n_plans */
    mg_queue_t queue;
    pthread_t emitter;
    bool emitter_started;
    atomic_bool stopping;
    pthread_mutex_t mu;            /* connected flags, backoff sleeps */
    pthread_cond_t wake;
    size_t n_connected;
    cc_metric_t *m_reconnects;
    cc_metric_t *m_history_lost;
    cc_metric_t *m_headroom;
    pthread_t headroom;            /* the headroom thread (mongo_headroom.c) */
    bool headroom_started;
};

/* Reader thread body (mongo_stream.c). */
void *mg_stream_run(void *arg);
/* Headroom thread body (mongo_headroom.c): arg is the source. */
void *mg_headroom_run(void *arg);

/* Sleeps ms unless stopping; false when stopping. Any thread. */
bool mg_source_sleep(mg_source_t *src, int64_t ms);
void mg_source_set_connected(mg_source_t *src, mg_stream_t *st, bool connected);

/* Snapshot (mongo_snapshot.c): reads the operation time, queues every
 * document of the stream's snapshot entries as "snapshot" changes and sets
 * st->from to start at that time. 0, CC_ECLOSED (stopping), or CC_EIO with
 * the error in err. Reader thread. */
int mg_snapshot_run(mg_stream_t *st, mongoc_client_t *client, bson_error_t *err);

/* Finds the lookup recipients of a change for entry (reader thread):
 * 0 with it->recips set (possibly none: a miss), or CC_EIO on a query error. */
int mg_lookup_recipients(mg_stream_t *st, mongoc_client_t *client, const mg_entry_t *entry,
                         const bson_t *change, mg_item_t *it, bson_error_t *err);

int64_t mg_now_ms(void);

#endif
