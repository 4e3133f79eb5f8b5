/* mongo — a source that turns MongoDB change streams into events.
 *
 * The descriptor, the key table, init/start/stop/destroy, the metrics and
 * the emitter thread (see mongo.h for the threads). Config in
 * mongo_config.c, the pipeline in mongo_pipeline.c, the readers in
 * mongo_stream.c, snapshots in mongo_snapshot.c, lookups in
 * mongo_lookup.c. See README.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/mongo/mongo.h"

#define MG_QUEUE_CAP 8192            /* changes read ahead of the core */
#define MG_QUEUE_BYTES ((size_t)64 << 20)   /* ... and their bytes */
#define MG_EMIT_BATCH 1024           /* changes per emit_batch */
#define MG_SELECT_TIMEOUT_MS 2000    /* server selection, unless the URI says */

static const char *const mg_full_document_choices[] = {"default", "updateLookup",
                                                       "whenAvailable", "required", NULL};
static const char *const mg_pre_image_choices[] = {"off", "whenAvailable", "required", NULL};
static const char *const mg_history_choices[] = {"fail", "restart", NULL};

static const cc_config_field_t mg_lookup_config[] = {
    {.name = "collection", .type = CC_CFG_STRING, .required = 1,
     .doc = "collection holding the recipient (same database as the change)"},
    {.name = "local", .type = CC_CFG_STRING, .required = 1,
     .doc = "dotted path in the change whose value selects the document (fullDocument.owned_by)"},
    {.name = "foreign", .type = CC_CFG_STRING, .required = 1,
     .doc = "field of that collection matched against it (_id)"},
    {.name = "field", .type = CC_CFG_STRING, .required = 1,
     .doc = "dotted path to the recipient in the found document (owner.$id)"},
    {.name = "cache_ms", .type = CC_CFG_INT, .def = "30000", .min = 0, .max = 86400000,
     .doc = "how long a result (or a miss) is reused; 0 = query every time"},
    {0}
};

static const cc_config_field_t mg_watch_config[] = {
    {.name = "collection", .type = CC_CFG_STRING, .required = 1,
     .doc = "collection to watch, or \"*\" for the whole database"},
    {.name = "database", .type = CC_CFG_STRING,
     .doc = "database of this entry (default: config.database); \"*\" = the cluster"},
    {.name = "operations", .type = CC_CFG_STRINGS, .choices = mg_op_names,
     .doc = "operation types to deliver (default insert, update, replace, delete)"},
    {.name = "pipeline", .type = CC_CFG_JSON,
     .doc = "aggregation stages appended after the operation filter (own change stream)"},
    {.name = "fields", .type = CC_CFG_STRINGS,
     .doc = "dotted paths copied into the envelope's data"},
    {.name = "recipient", .type = CC_CFG_STRING,
     .doc = "dotted path to the recipient (an array gives one event per element)"},
    {.name = "recipient_lookup", .type = CC_CFG_OBJECT, .fields = mg_lookup_config,
     .doc = "find the recipient in another collection"},
    {.name = "snapshot", .type = CC_CFG_BOOL, .def = "false",
     .doc = "first emit every existing document as operation \"snapshot\""},
    {0}
};

static const cc_config_field_t mg_config[] = {
    {.name = "uri", .type = CC_CFG_STRING, .required = 1,
     .doc = "MongoDB connection string (a replica set: change streams need one)"},
    {.name = "database", .type = CC_CFG_STRING,
     .doc = "default database of the watch entries (else the URI's)"},
    {.name = "watch", .type = CC_CFG_OBJECTS, .required = 1, .fields = mg_watch_config,
     .doc = "what to watch: [{collection, database, operations, pipeline, fields, recipient, "
            "recipient_lookup, snapshot}]"},
    {.name = "full_document", .type = CC_CFG_STRING, .def = "\"updateLookup\"",
     .choices = mg_full_document_choices,
     .doc = "post-image of updates: default (none), updateLookup, whenAvailable, required"},
    {.name = "full_document_before_change", .type = CC_CFG_STRING, .def = "\"off\"",
     .choices = mg_pre_image_choices,
     .doc = "pre-images (collMod changeStreamPreAndPostImages): off, whenAvailable, required"},
    {.name = "batch_size", .type = CC_CFG_INT, .def = "1000", .min = 1, .max = 1000000,
     .doc = "changes per server batch"},
    {.name = "max_await_ms", .type = CC_CFG_INT, .def = "1000", .min = 1, .max = 60000,
     .doc = "how long the server holds an empty getMore (also bounds stop)"},
    {.name = "on_history_lost", .type = CC_CFG_STRING, .def = "\"fail\"",
     .choices = mg_history_choices,
     .doc = "resume point gone from the oplog: fail (exit 1) or restart (from now, counted)"},
    {0}
};

bool mg_source_sleep(mg_source_t *src, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);   /* src->wake waits on the monotonic clock */
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&src->mu);
    while (!atomic_load(&src->stopping)) {
        if (pthread_cond_timedwait(&src->wake, &src->mu, &ts) != 0)
            break;   /* timed out (or an error: then do not spin) */
    }
    bool go_on = !atomic_load(&src->stopping);
    pthread_mutex_unlock(&src->mu);
    return go_on;
}

void mg_source_set_connected(mg_source_t *src, mg_stream_t *st, bool connected)
{
    pthread_mutex_lock(&src->mu);
    if (st->connected != connected) {
        st->connected = connected;
        if (connected)
            src->n_connected++;
        else
            src->n_connected--;
        /* Connected when every stream is: a source half-served is not. */
        src->host->source_status(src->self, src->n_connected == src->cfg.n_plans
                                                ? CC_SOURCE_CONNECTED : CC_SOURCE_CONNECTING);
    }
    pthread_mutex_unlock(&src->mu);
}

/* ---- the emitter ---- */

static void mg_emit_failed(mg_source_t *src, int rc)
{
    char msg[256];
    snprintf(msg, sizeof msg, "cannot hand changes to the core: %s; stopping so that a restart "
             "resumes before them", cc_strerror(rc));
    src->host->source_status(src->self, CC_SOURCE_FAILED);
    src->host->fatal(src->self, msg);
}

/* Moves each stream's newest token in this batch into its position value
 * and renders the position. Returns true when it changed. */
static bool mg_emit_position(mg_source_t *src, mg_text_t *pos, const char **keys,
                             const char **values)
{
    bool changed = false;
    for (size_t s = 0; s < src->cfg.n_plans; s++) {
        mg_stream_t *st = &src->streams[s];
        if (st->pending_doc == NULL)
            continue;
        bson_t doc, token;
        bson_iter_t it;
        const uint8_t *data;
        uint32_t len;
        if (bson_init_static(&doc, st->pending_doc, st->pending_len) &&
            bson_iter_init_find(&it, &doc, "_id") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_iter_document(&it, &len, &data);
            bson_init_static(&token, data, len);
            char *v = mg_position_value(&token, st->pending_tok == MG_TOK_START_AFTER);
            if (v != NULL) {
                free(st->pos_value);
                st->pos_value = v;
                changed = true;
            }
        }
        st->pending_doc = NULL;
    }
    if (!changed)
        return false;
    for (size_t s = 0; s < src->cfg.n_plans; s++) {
        keys[s] = src->streams[s].plan->key;
        values[s] = src->streams[s].pos_value;
    }
    return mg_position_render(pos, keys, values, src->cfg.n_plans) == 0;
}

static void *mg_emitter_run(void *arg)
{
    static const char *const no_recipients[1] = {NULL};
    mg_source_t *src = arg;
    const cc_host_t *host = src->host;
    mg_item_t *items = calloc(MG_EMIT_BATCH, sizeof *items);
    cc_change_t *changes = calloc(MG_EMIT_BATCH, sizeof *changes);
    const char **keys = calloc(src->cfg.n_plans, sizeof *keys);
    const char **values = calloc(src->cfg.n_plans, sizeof *values);
    mg_text_t pos = {0};
    bool use_batch = CC_HOST_HAS(host, emit_batch);
    if (items == NULL || changes == NULL || keys == NULL || values == NULL) {
        mg_emit_failed(src, CC_ENOMEM);
        goto out;
    }
    for (;;) {
        size_t n = mg_queue_pop(&src->queue, items, MG_EMIT_BATCH);
        if (n == 0)
            break;
        size_t m = 0;   /* changes: the items that are not marks */
        for (size_t k = 0; k < n; k++) {
            mg_item_t *it = &items[k];
            if (it->tok != MG_TOK_NONE) {
                it->stream->pending_doc = it->doc;
                it->stream->pending_len = it->len;
                it->stream->pending_tok = it->tok;
            }
            if (it->mark)
                continue;
            changes[m++] = (cc_change_t){
                .size = sizeof(cc_change_t),
                .bson = it->doc,
                .bson_len = it->len,
                .shape = it->entry->shape,
                .recipients = it->has_recips
                                  ? (it->n_recips ? (const char *const *)it->recips : no_recipients)
                                  : NULL,
                .n_recipients = it->n_recips,
                .origin = it->stream->origin,
            };
        }
        /* Only the batch's last change carries the position (every
         * stream's token after the batch): a restart after a partly
         * acknowledged batch replays it, at least once. Marks alone move
         * it without an event (a host before ABI 1.3: not at all). */
        const char *moved = mg_emit_position(src, &pos, keys, values) ? pos.p : NULL;
        if (moved != NULL && m > 0)
            changes[m - 1].position = moved;
        int rc = 0;
        if (m == 0) {
            if (moved != NULL && CC_HOST_HAS(host, emit_position))
                rc = host->emit_position(src->self, moved);
        } else if (use_batch) {
            rc = host->emit_batch(src->self, changes, m, NULL);
        } else {
            for (size_t k = 0; k < m && (rc == 0 || rc == CC_EPARSE); k++)
                rc = host->emit(src->self, &changes[k]);
            if (rc == CC_EPARSE)
                rc = 0;
        }
        for (size_t k = 0; k < n; k++)
            mg_item_clear(&items[k]);
        if (rc != 0) {
            if (rc != CC_ECLOSED)
                mg_emit_failed(src, rc);
            break;
        }
    }
out:
    /* Readers waiting on a full queue must not wait for us any longer. */
    mg_queue_close(&src->queue);
    mg_text_free(&pos);
    free(items);
    free(changes);
    free(keys);
    free(values);
    return NULL;
}

/* ---- libmongoc's own messages ---- */

/* libmongoc logs through one process-wide handler; its warnings and errors
 * go to the log of the first mongo source alive (as log records, not raw
 * stderr lines), the chatter below is dropped. */
static pthread_mutex_t mg_log_mu = PTHREAD_MUTEX_INITIALIZER;
static mg_source_t *mg_log_owner;   /* guarded by mg_log_mu */

static void mg_mongoc_log(mongoc_log_level_t level, const char *domain, const char *message,
                          void *arg)
{
    (void)arg;
    if (level > MONGOC_LOG_LEVEL_WARNING)
        return;
    pthread_mutex_lock(&mg_log_mu);
    mg_source_t *src = mg_log_owner;
    if (src != NULL)
        src->host->log(src->self, level <= MONGOC_LOG_LEVEL_ERROR ? CC_LOG_ERROR : CC_LOG_WARN,
                       "libmongoc %s: %s", domain, message);
    pthread_mutex_unlock(&mg_log_mu);
}

static pthread_once_t mg_log_once = PTHREAD_ONCE_INIT;

static void mg_log_install(void)
{
    mongoc_log_set_handler(mg_mongoc_log, NULL);
}

/* The handler is installed outside mg_log_mu: libmongoc calls it under its
 * own lock, so taking them in the other order could deadlock. */
static void mg_log_attach(mg_source_t *src)
{
    pthread_mutex_lock(&mg_log_mu);
    if (mg_log_owner == NULL)
        mg_log_owner = src;
    pthread_mutex_unlock(&mg_log_mu);
    pthread_once(&mg_log_once, mg_log_install);
}

static void mg_log_detach(mg_source_t *src)
{
    pthread_mutex_lock(&mg_log_mu);
    if (mg_log_owner == src)
        mg_log_owner = NULL;   /* the handler stays, silent */
    pthread_mutex_unlock(&mg_log_mu);
}

/* ---- lifecycle ---- */

static void mg_free(mg_source_t *src)
{
    mg_log_detach(src);
    if (src->streams) {
        for (size_t s = 0; s < src->cfg.n_plans; s++) {
            mg_from_clear(&src->streams[s].from);
            free(src->streams[s].pos_value);
        }
        free(src->streams);
    }
    mg_queue_free(&src->queue);
    if (src->pool)
        mongoc_client_pool_destroy(src->pool);
    if (src->uri)
        mongoc_uri_destroy(src->uri);
    mg_config_free(&src->cfg, src->host);
    pthread_mutex_destroy(&src->mu);
    pthread_cond_destroy(&src->wake);
    free(src);
}

/* Where each stream starts: its token in the saved position, else a
 * snapshot when asked for, else now. */
static void mg_resume_plan(mg_source_t *src)
{
    const char *saved = src->host->state_position(src->self);
    bool have_saved = saved != NULL && *saved != '\0';
    for (size_t s = 0; s < src->cfg.n_plans; s++) {
        mg_stream_t *st = &src->streams[s];
        int found = 0;
        if (have_saved) {
            char err[256];
            found = mg_position_find(saved, st->plan->key, &st->from, err, sizeof err);
            if (found < 0) {
                src->host->log(src->self, CC_LOG_WARN, "saved position is not this source's "
                               "(%s); change stream %s starts from now", err, st->plan->key);
                found = 0;
            } else if (found == 0) {
                src->host->log(src->self, CC_LOG_INFO, "no saved token for change stream %s "
                               "(new in the config?)", st->plan->key);
            } else {
                src->host->log(src->self, CC_LOG_INFO, "change stream %s resumes %s the saved "
                               "token", st->plan->key,
                               st->from.kind == MG_FROM_START_AFTER ? "after the invalidate at"
                                                                     : "after");
                /* The saved token also carries the stream's own position text. */
                st->pos_value = mg_position_value(st->from.token,
                                                  st->from.kind == MG_FROM_START_AFTER);
            }
        }
        if (found == 0) {
            for (size_t k = 0; k < st->plan->n_entries; k++)
                st->need_snapshot |= st->plan->entries[k]->snapshot;
        }
    }
}

/* The config as init and check read it: the connection string parses and
 * every watch entry is sound. On 0, *uri (mongoc_uri_destroy) and cfg
 * (mg_config_free) are the caller's; else logged, and what was made is
 * left for the caller's usual cleanup. */
static int mg_read_config(cc_instance_t *self, const cc_host_t *host, const char *place,
                          mongoc_uri_t **uri, mg_config_t *cfg)
{
    const char *text = host->config_string(self, "uri");
    bson_error_t berr;
    if (text == NULL || *text == '\0') {
        host->log(self, CC_LOG_ERROR, "%s.config.uri: missing: a MongoDB connection string "
                  "(mongodb://host:27017/?replicaSet=rs0)", place);
        return CC_ECONFIG;
    }
    *uri = mongoc_uri_new_with_error(text, &berr);
    if (*uri == NULL) {
        host->log(self, CC_LOG_ERROR, "%s.config.uri: %s", place, berr.message);
        return CC_ECONFIG;
    }
    int rc = mg_config_load(cfg, self, host, place, mongoc_uri_get_database(*uri));
    if (rc == CC_ENOMEM)
        host->log(self, CC_LOG_ERROR, "out of memory");
    return rc;
}

static int mg_check(cc_instance_t *self, const cc_host_t *host)
{
    char buf[96];
    mg_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    mongoc_uri_t *uri = NULL;
    mongoc_init();
    /* libmongoc's own words on a bad string are dropped: ours name the key. */
    pthread_once(&mg_log_once, mg_log_install);
    const char *place = cc_place(host, self, "sources", buf, sizeof buf);
    int rc = mg_read_config(self, host, place, &uri, &cfg);
    mg_config_free(&cfg, host);
    mongoc_uri_destroy(uri);
    return rc;
}

static int mg_init(cc_instance_t *self, const cc_host_t *host, void **state)
{
    mg_source_t *src = calloc(1, sizeof *src);
    if (src == NULL) {
        host->log(self, CC_LOG_ERROR, "out of memory");
        return CC_ENOMEM;
    }
    src->self = self;
    src->host = host;
    src->name = host->instance_name(self);
    src->place = cc_place(host, self, "sources", src->place_buf, sizeof src->place_buf);
    atomic_init(&src->stopping, false);
    pthread_mutex_init(&src->mu, NULL);
    /* Backoff waits on the monotonic clock: a wall-clock step must not
     * stretch or skip them. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&src->wake, &ca);
    pthread_condattr_destroy(&ca);
    mongoc_init();
    mg_log_attach(src);

    bson_error_t berr;
    int rc = mg_read_config(self, host, src->place, &src->uri, &src->cfg);
    if (rc != 0)
        goto fail;
    /* A short server selection keeps stop() prompt while the server is
     * away; the stream retries forever anyway. */
    if (!mongoc_uri_has_option(src->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(src->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                       MG_SELECT_TIMEOUT_MS);
    rc = CC_ENOMEM;
    src->streams = calloc(src->cfg.n_plans, sizeof *src->streams);
    if (src->streams == NULL || mg_queue_init(&src->queue, MG_QUEUE_CAP, MG_QUEUE_BYTES) != 0) {
        host->log(self, CC_LOG_ERROR, "out of memory");
        goto fail;
    }
    for (size_t s = 0; s < src->cfg.n_plans; s++) {
        mg_stream_t *st = &src->streams[s];
        st->src = src;
        st->plan = &src->cfg.plans[s];
        st->index = s;
        atomic_init(&st->last_event_t, 0);
        atomic_init(&st->caught_up, false);
        snprintf(st->origin, sizeof st->origin, "%s", st->plan->key);
    }
    src->pool = mongoc_client_pool_new_with_error(src->uri, &berr);
    if (src->pool == NULL) {
        host->log(self, CC_LOG_ERROR, "%s.config.uri: %s", src->place, berr.message);
        rc = CC_ECONFIG;
        goto fail;
    }
    mongoc_client_pool_set_error_api(src->pool, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_set_appname(src->pool, "changecast");

    if (CC_HOST_HAS(host, metric_new) && CC_HOST_HAS(host, metric_add)) {
        src->m_reconnects = host->metric_new(self, CC_METRIC_COUNTER,
                                             "changecast_mongo_reconnects_total",
                                             "change stream reconnects after an error", NULL, NULL);
        src->m_history_lost = host->metric_new(self, CC_METRIC_COUNTER,
                                               "changecast_source_history_lost_total",
                                               "resume points lost from the oplog (restarted "
                                               "from now)", NULL, NULL);
        src->m_headroom = host->metric_new(self, CC_METRIC_GAUGE,
                                           "changecast_mongo_history_headroom_seconds",
                                           "seconds of oplog before the resume point would be "
                                           "lost; -1 = oplog not readable", NULL, NULL);
        if (src->m_headroom)
            host->metric_set(src->m_headroom, -1);
    }
    host->source_status(self, CC_SOURCE_CONNECTING);
    *state = src;
    return 0;
fail:
    mg_free(src);
    return rc;
}

static void mg_stop(void *state);

static int mg_start(void *state)
{
    mg_source_t *src = state;
    if (src->emitter_started)
        return 0;
    atomic_store(&src->stopping, false);
    mg_resume_plan(src);
    int rc = pthread_create(&src->emitter, NULL, mg_emitter_run, src);
    if (rc != 0) {
        src->host->log(src->self, CC_LOG_ERROR, "cannot start a thread: %s", strerror(rc));
        src->host->source_status(src->self, CC_SOURCE_FAILED);
        return CC_EIO;
    }
    src->emitter_started = true;
    char tname[16];
    snprintf(tname, sizeof tname, "mongo:%s", src->name);
    pthread_setname_np(src->emitter, tname);
    if (src->m_headroom != NULL) {
        rc = pthread_create(&src->headroom, NULL, mg_headroom_run, src);
        if (rc != 0) {
            src->host->log(src->self, CC_LOG_ERROR, "cannot start a thread: %s", strerror(rc));
            src->host->source_status(src->self, CC_SOURCE_FAILED);
            mg_stop(src);
            return CC_EIO;
        }
        src->headroom_started = true;
        pthread_setname_np(src->headroom, "mongo:headroom");
    }
    for (size_t s = 0; s < src->cfg.n_plans; s++) {
        mg_stream_t *st = &src->streams[s];
        rc = pthread_create(&st->thread, NULL, mg_stream_run, st);
        if (rc != 0) {
            src->host->log(src->self, CC_LOG_ERROR, "cannot start a thread: %s", strerror(rc));
            src->host->source_status(src->self, CC_SOURCE_FAILED);
            mg_stop(src);
            return CC_EIO;
        }
        st->started = true;
        snprintf(tname, sizeof tname, "mongo:%u", (unsigned)(s % 1000));
        pthread_setname_np(st->thread, tname);
    }
    return 0;
}

static void mg_stop(void *state)
{
    mg_source_t *src = state;
    if (!src->emitter_started)
        return;
    pthread_mutex_lock(&src->mu);
    atomic_store(&src->stopping, true);
    pthread_cond_broadcast(&src->wake);
    pthread_mutex_unlock(&src->mu);
    /* What is still queued was never handed over: a restart resumes before
     * it. */
    mg_queue_close(&src->queue);
    for (size_t s = 0; s < src->cfg.n_plans; s++) {
        if (src->streams[s].started)
            pthread_join(src->streams[s].thread, NULL);
        src->streams[s].started = false;
    }
    if (src->headroom_started)
        pthread_join(src->headroom, NULL);
    src->headroom_started = false;
    pthread_join(src->emitter, NULL);
    src->emitter_started = false;
}

static void mg_destroy(void *state)
{
    mg_source_t *src = state;
    mg_stop(src);
    mg_free(src);
}

static const cc_plugin_t mg_plugin = {
    .abi_major = CC_ABI_MAJOR,
    .abi_minor = CC_ABI_MINOR,
    .size = sizeof(cc_plugin_t),
    .name = "mongo",
    .version = "1.0.0",
    .description = "MongoDB change streams (collection, database or cluster) as events",
    .kind = CC_PLUGIN_SOURCE,
    .config = mg_config,
    .init = mg_init,
    .start = mg_start,
    .stop = mg_stop,
    .destroy = mg_destroy,
    .flags = 0,
    .check = mg_check,
};

CC_PLUGIN_ENTRY(mg_plugin)
