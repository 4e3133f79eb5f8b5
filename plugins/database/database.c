/* database — a sink that stores each event as a document of a MongoDB
 * collection, idempotently.
 *
 * Documents are the Python package's ({_id, recipient, message, timestamp} or
 * {_id, message, timestamp, broadcast: true}) with `_id` the event id, so a
 * replay after a restart finds its documents already there: the duplicate-key
 * error counts as stored and the collection holds each event exactly once.
 *
 * libmongoc blocks, so the writing happens on a thread of its own
 * (db_writer.c); deliver only queues the batch for it. See README.md.
 *
 * init, start, stop and destroy run on the main thread; deliver on the
 * sink's event-loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "database.h"
#include "db_doc.h"

#define DB_PLUGIN_VERSION "0.1.0"

static const cc_config_field_t db_config_fields[] = {
    {.name = "uri", .type = CC_CFG_STRING, .required = 1,
     .doc = "MongoDB connection string (mongodb:// or mongodb+srv://)"},
    {.name = "database", .type = CC_CFG_STRING, .required = 1,
     .doc = "database to write to"},
    {.name = "collection", .type = CC_CFG_STRING, .required = 1,
     .doc = "collection to write to"},
    {.name = "ttl_seconds", .type = CC_CFG_INT, .def = "0", .min = 0, .max = 2147483647,
     .doc = "> 0: a TTL index on timestamp expires documents after this many seconds"},
    {.name = "batch_size", .type = CC_CFG_INT, .def = "1000", .min = 1, .max = 100000,
     .doc = "documents per bulk insert at most"},
    {.name = "backoff_ms", .type = CC_CFG_INT, .def = "100", .min = 1, .max = 3600000,
     .doc = "delay before the first retry of a failed write; doubles per retry, jittered"},
    {.name = "max_backoff_ms", .type = CC_CFG_INT, .def = "30000", .min = 1, .max = 86400000,
     .doc = "longest delay between retries"},
    {0}
};

/* libmongoc logs through one process-wide handler: its warnings and errors
 * go to the log of the first database sink alive, as log records rather
 * than raw stderr lines; its chatter below warnings is dropped. (The mongo
 * source installs the same kind of handler; whichever comes last serves.) */
static pthread_mutex_t db_log_mu = PTHREAD_MUTEX_INITIALIZER;
static db_sink_t *db_log_owner;   /* guarded by db_log_mu */

static void db_mongoc_log(mongoc_log_level_t level, const char *domain, const char *message,
                          void *arg)
{
    (void)arg;
    if (level > MONGOC_LOG_LEVEL_WARNING)
        return;
    pthread_mutex_lock(&db_log_mu);
    if (db_log_owner != NULL)
        db_log_owner->host->log(db_log_owner->self,
                                level <= MONGOC_LOG_LEVEL_ERROR ? CC_LOG_ERROR : CC_LOG_WARN,
                                "libmongoc %s: %s", domain, message);
    pthread_mutex_unlock(&db_log_mu);
}

/* The handler is installed outside db_log_mu: libmongoc calls it under its
 * own lock, so taking them in the other order could deadlock. */
static void db_log_attach(db_sink_t *db)
{
    pthread_mutex_lock(&db_log_mu);
    if (db_log_owner == NULL)
        db_log_owner = db;
    pthread_mutex_unlock(&db_log_mu);
}

static void db_log_detach(db_sink_t *db)
{
    pthread_mutex_lock(&db_log_mu);
    if (db_log_owner == db)
        db_log_owner = NULL;   /* the handler stays, silent */
    pthread_mutex_unlock(&db_log_mu);
}

static pthread_once_t db_mongoc_once = PTHREAD_ONCE_INIT;

/* Never paired with mongoc_cleanup: another plugin (the mongo source) may
 * still use the driver, and the process ends soon after anyway. */
static void db_mongoc_init(void)
{
    mongoc_init();
    mongoc_log_set_handler(db_mongoc_log, NULL);
}

/* MongoDB's own rules for names (docs: "Naming Restrictions"). */
static const char *db_bad_name(const char *name, int is_db)
{
    if (*name == '\0')
        return "must not be empty";
    if (is_db) {
        if (strlen(name) >= 64)
            return "must be shorter than 64 bytes";
        if (strpbrk(name, "/\\. \"$") != NULL)
            return "must not contain /, \\, ., spaces, double quotes or $";
        return NULL;
    }
    if (strchr(name, '$') != NULL)
        return "must not contain $";
    if (strncmp(name, "system.", 7) == 0)
        return "must not start with system.";
    return NULL;
}

/* The URI without its password, for messages. */
static char *db_redact(const mongoc_uri_t *uri)
{
    const mongoc_host_list_t *h = mongoc_uri_get_hosts(uri);
    const char *user = mongoc_uri_get_username(uri);
    size_t cap = 256;
    for (const mongoc_host_list_t *x = h; x != NULL; x = x->next)
        cap += strlen(x->host_and_port) + 1;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    size_t n = (size_t)snprintf(out, cap, "mongodb://%s%s", user ? user : "",
                                user ? ":***@" : "");
    for (const mongoc_host_list_t *x = h; x != NULL && n < cap; x = x->next)
        n += (size_t)snprintf(out + n, cap - n, "%s%s", x == h ? "" : ",", x->host_and_port);
    return out;
}

static int db_config(db_sink_t *db)
{
    const cc_host_t *host = db->host;
    cc_instance_t *self = db->self;
    const char *uri = host->config_string(self, "uri");
    bson_error_t err;
    db->uri = mongoc_uri_new_with_error(uri, &err);
    if (db->uri == NULL) {
        host->log(self, CC_LOG_ERROR, "%s.config.uri: %s", db->place, err.message);
        return CC_ECONFIG;
    }
    db->database = host->config_string(self, "database");
    db->collection = host->config_string(self, "collection");
    const char *why;
    if ((why = db_bad_name(db->database, 1)) != NULL) {
        host->log(self, CC_LOG_ERROR, "%s.config.database: %s%s%s", db->place, why,
                  *db->database ? "; got " : "", db->database);
        return CC_ECONFIG;
    }
    if ((why = db_bad_name(db->collection, 0)) != NULL) {
        host->log(self, CC_LOG_ERROR, "%s.config.collection: %s%s%s", db->place, why,
                  *db->collection ? "; got " : "", db->collection);
        return CC_ECONFIG;
    }
    db->ttl_seconds = host->config_int(self, "ttl_seconds", 0);
    db->batch_size = (size_t)host->config_int(self, "batch_size", 1000);
    db->backoff_ms = (uint64_t)host->config_int(self, "backoff_ms", 100);
    db->max_backoff_ms = (uint64_t)host->config_int(self, "max_backoff_ms", 30000);
    if (db->max_backoff_ms < db->backoff_ms)
        db->max_backoff_ms = db->backoff_ms;
    db->uri_redacted = db_redact(db->uri);
    if (db->uri_redacted == NULL) {
        host->log(self, CC_LOG_ERROR, "out of memory");
        return CC_ENOMEM;
    }

    /* An acknowledgement from the server is what lets the sink acknowledge. */
    const mongoc_write_concern_t *wc = mongoc_uri_get_write_concern(db->uri);
    if (wc != NULL && mongoc_write_concern_get_w(wc) == MONGOC_WRITE_CONCERN_W_UNACKNOWLEDGED) {
        host->log(self, CC_LOG_ERROR, "%s.config.uri: w=0 (unacknowledged writes) cannot "
                  "tell when an event is stored; use w=1 or w=majority", db->place);
        return CC_ECONFIG;
    }
    return 0;
}

static void db_metrics(db_sink_t *db)
{
    const cc_host_t *host = db->host;
    if (!CC_HOST_HAS(host, metric_new))
        return;
    static const char help[] = "documents written by the database sink, by outcome "
                               "(duplicate: already stored by an earlier run)";
    db->m_docs_inserted = host->metric_new(db->self, CC_METRIC_COUNTER,
        "changecast_database_documents_total", help, "result", "inserted");
    db->m_docs_duplicate = host->metric_new(db->self, CC_METRIC_COUNTER,
        "changecast_database_documents_total", help, "result", "duplicate");
    db->m_docs_failed = host->metric_new(db->self, CC_METRIC_COUNTER,
        "changecast_database_documents_total", help, "result", "failed");
    db->m_batches = host->metric_new(db->self, CC_METRIC_COUNTER,
        "changecast_database_batches_total", "bulk inserts sent (retries included)", NULL, NULL);
}

/* Builds the document of one event (sink thread). A document that cannot
 * be stored (larger than MongoDB's 16 MB) is left NULL: the writer gives the
 * event up, with its id in the message. */
static void db_item_build(db_sink_t *db, db_item_t *it, cc_event_t *ev)
{
    size_t len, ts_off = 0;
    int literal = 0;
    const char *json = db->host->event_json(ev, &len);
    bson_t doc = BSON_INITIALIZER;
    it->event = ev;
    it->doc = NULL;
    if (db_doc_build(&doc, db->host->event_id(ev), db->host->event_recipient(ev), json, len, 0,
                     &literal, &ts_off) == 0 && doc.len <= DB_MAX_DOC_BYTES) {
        uint32_t n;
        it->doc = bson_destroy_with_steal(&doc, true, &n);
        it->len = n;
        it->ts_off = (uint32_t)ts_off;
    } else {
        bson_destroy(&doc);
    }
    db->n_literal += (size_t)literal;
}

static int db_deliver(void *state, const cc_batch_t *batch)
{
    db_sink_t *db = state;
    if (batch->count == 0)
        return 0;
    pthread_mutex_lock(&db->mu);
    if (db->head > 0 && db->head + db->count + batch->count > db->cap) {
        memmove(db->queue, db->queue + db->head, db->count * sizeof *db->queue);
        db->head = 0;
    }
    size_t at = db->head + db->count;
    if (db->count + batch->count > db->cap) {
        size_t cap = db->cap ? db->cap : 1024;
        while (cap < db->count + batch->count)
            cap *= 2;
        db_item_t *q = realloc(db->queue, cap * sizeof *q);
        if (q == NULL) {
            pthread_mutex_unlock(&db->mu);
            db->host->log(db->self, CC_LOG_ERROR, "out of memory queueing %zu events",
                          batch->count);
            return CC_ENOMEM;
        }
        db->queue = q;
        db->cap = cap;
    }
    pthread_mutex_unlock(&db->mu);
    /* The slots past the end are the sink thread's alone until `count`
     * covers them, and only this thread moves or grows the array. */
    for (size_t i = 0; i < batch->count; i++)
        db_item_build(db, &db->queue[at + i], batch->events[i]);
    if (db->n_literal > 0) {
        db->host->log(db->self, CC_LOG_WARN, "%zu envelopes hold keys like Extended JSON "
                      "operators; their message was stored with keys and values as written",
                      db->n_literal);
        db->n_literal = 0;
    }
    pthread_mutex_lock(&db->mu);
    db->count += batch->count;
    pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
    return 0;
}

static int db_start(void *state)
{
    db_sink_t *db = state;
    return db_writer_start(db);
}

static void db_stop(void *state)
{
    db_writer_stop(state);
}

static void db_free(db_sink_t *db)
{
    db_log_detach(db);
    if (db->uri != NULL)
        mongoc_uri_destroy(db->uri);
    free(db->uri_redacted);
    for (size_t i = 0; i < db->count; i++)
        bson_free(db->queue[db->head + i].doc);
    free(db->queue);
    pthread_cond_destroy(&db->cv);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

static void db_destroy(void *state)
{
    db_sink_t *db = state;
    db_writer_stop(db);   /* no-op when stop already ran */
    db_free(db);
}

/* A sink with its place and locks, nothing more yet. Returns new (db_free)
 * or NULL after logging. */
static db_sink_t *db_new(cc_instance_t *self, const cc_host_t *host)
{
    db_sink_t *db = calloc(1, sizeof *db);
    if (db == NULL) {
        host->log(self, CC_LOG_ERROR, "out of memory");
        return NULL;
    }
    db->self = self;
    db->host = host;
    db->place = cc_place(host, self, "sinks", db->place_buf, sizeof db->place_buf);
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->cv, NULL);
    pthread_once(&db_mongoc_once, db_mongoc_init);
    return db;
}

/* changecast check: the config as init reads it, and nothing else. */
static int db_check(cc_instance_t *self, const cc_host_t *host)
{
    db_sink_t *db = db_new(self, host);
    if (db == NULL)
        return CC_ENOMEM;
    int rc = db_config(db);
    db_free(db);
    return rc;
}

static int db_init(cc_instance_t *self, const cc_host_t *host, void **state)
{
    db_sink_t *db = db_new(self, host);
    if (db == NULL)
        return CC_ENOMEM;
    db_log_attach(db);
    db->rng = (uint32_t)time(NULL) ^ (uint32_t)getpid() ^ (uint32_t)(uintptr_t)db;
    if (db->rng == 0)
        db->rng = 1;
    int rc = db_config(db);
    if (rc != 0) {
        db_free(db);
        return rc;
    }
    db_metrics(db);
    *state = db;
    return 0;
}

static const cc_plugin_t db_plugin = {
    .abi_major = CC_ABI_MAJOR,
    .abi_minor = CC_ABI_MINOR,
    .size = sizeof(cc_plugin_t),
    .name = "database",
    .version = DB_PLUGIN_VERSION,
    .description = "stores events in a MongoDB collection, idempotently (_id = event id)",
    .kind = CC_PLUGIN_SINK,
    .config = db_config_fields,
    .init = db_init,
    .start = db_start,
    .deliver = db_deliver,
    .stop = db_stop,
    .destroy = db_destroy,
    .flags = 0,
    .check = db_check,
};

CC_PLUGIN_ENTRY(db_plugin)
