/* plugins/mongo/mongo_config.c — watch entries into stream plans.
 *
 * The core has checked the key table (types, choices, required keys); this
 * file checks what the table cannot say (a database for every entry, a
 * pipeline of stage objects, snapshot on a named collection, ...) and names
 * the field in each message. Entries on one database without a pipeline of
 * their own share one stream; an entry with a pipeline gets its own.
 * Main thread, during init.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "plugins/mongo/mongo.h"

#define MG_LOOKUP_CACHE_MAX 100000

typedef struct mg_cfg_ctx {
    cc_instance_t *self;
    const cc_host_t *host;
    const char *place;
} mg_cfg_ctx_t;

/* Logs "<place>.config.<fmt>"; at least one argument after fmt. */
#define MG_CFG_FAIL(c, fmt, ...) \
    (c)->host->log((c)->self, CC_LOG_ERROR, "%s.config." fmt, (c)->place, __VA_ARGS__)

static const char *mg_json_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int mg_entry_ops(mg_cfg_ctx_t *c, mg_entry_t *e, const json_t *w)
{
    const json_t *ops = json_object_get(w, "operations");
    if (ops == NULL || json_is_null(ops)) {
        e->ops = MG_OPS_DEFAULT;
        return 0;
    }
    if (!json_is_array(ops)) {
        MG_CFG_FAIL(c, "watch[%zu].operations: expected an array of operation names", e->index);
        return CC_ECONFIG;
    }
    if (json_array_size(ops) == 0) {
        MG_CFG_FAIL(c, "watch[%zu].operations: empty: list at least one operation", e->index);
        return CC_ECONFIG;
    }
    size_t i;
    const json_t *op;
    json_array_foreach(ops, i, op) {
        unsigned bit = json_is_string(op) ? mg_op_bit(json_string_value(op),
                                                      json_string_length(op)) : 0;
        if (bit == 0) {
            MG_CFG_FAIL(c, "watch[%zu].operations[%zu]: unknown operation %s%s%s (one of insert, "
                        "update, replace, delete, drop, rename, dropDatabase, invalidate)",
                        e->index, i, json_is_string(op) ? "\"" : "",
                        json_is_string(op) ? json_string_value(op) : "(not a string)",
                        json_is_string(op) ? "\"" : "");
            return CC_ECONFIG;
        }
        e->ops |= bit;
    }
    return 0;
}

static int mg_entry_pipeline(mg_cfg_ctx_t *c, mg_entry_t *e, const json_t *w)
{
    const json_t *p = json_object_get(w, "pipeline");
    if (p == NULL || json_is_null(p))
        return 0;
    if (!json_is_array(p)) {
        MG_CFG_FAIL(c, "watch[%zu].pipeline: expected an array of aggregation stages", e->index);
        return CC_ECONFIG;
    }
    if (json_array_size(p) == 0)
        return 0;   /* [] is no pipeline: the entry may share a stream */
    size_t i;
    const json_t *stage;
    json_array_foreach(p, i, stage) {
        if (!json_is_object(stage) || json_object_size(stage) != 1) {
            MG_CFG_FAIL(c, "watch[%zu].pipeline[%zu]: expected a stage object with one key "
                        "(e.g. {\"$match\": {...}})", e->index, i);
            return CC_ECONFIG;
        }
    }
    /* Extended JSON in the stages ({"$date": ...}) becomes BSON types. */
    json_t *wrap = json_pack("{sO}", "s", (json_t *)p);
    char *text = wrap ? json_dumps(wrap, JSON_COMPACT) : NULL;
    json_decref(wrap);
    if (text == NULL)
        return CC_ENOMEM;
    bson_error_t berr;
    bson_t *doc = bson_new_from_json((const uint8_t *)text, -1, &berr);
    free(text);
    if (doc == NULL) {
        MG_CFG_FAIL(c, "watch[%zu].pipeline: %s", e->index, berr.message);
        return CC_ECONFIG;
    }
    bson_iter_t it;
    const uint8_t *data;
    uint32_t len;
    if (!bson_iter_init_find(&it, doc, "s") || !BSON_ITER_HOLDS_ARRAY(&it)) {
        bson_destroy(doc);
        MG_CFG_FAIL(c, "watch[%zu].pipeline: expected an array of aggregation stages", e->index);
        return CC_ECONFIG;
    }
    bson_iter_array(&it, &len, &data);
    e->pipeline = bson_new_from_data(data, len);
    bson_destroy(doc);
    return e->pipeline ? 0 : CC_ENOMEM;
}

static int mg_entry_lookup(mg_cfg_ctx_t *c, mg_entry_t *e, const json_t *w)
{
    const json_t *l = json_object_get(w, "recipient_lookup");
    if (l == NULL || json_is_null(l))
        return 0;
    static const char *const keys[] = {"collection", "local", "foreign", "field"};
    const char *vals[4];
    for (size_t k = 0; k < 4; k++) {
        vals[k] = mg_json_str(l, keys[k]);
        if (vals[k] == NULL || *vals[k] == '\0') {
            MG_CFG_FAIL(c, "watch[%zu].recipient_lookup.%s: %s", e->index, keys[k],
                        vals[k] ? "empty" : "missing: a lookup needs collection, local, foreign "
                        "and field");
            return CC_ECONFIG;
        }
    }
    if (mg_json_str(w, "recipient") != NULL && *mg_json_str(w, "recipient") != '\0') {
        MG_CFG_FAIL(c, "watch[%zu].recipient_lookup: set either recipient or recipient_lookup, "
                    "not both", e->index);
        return CC_ECONFIG;
    }
    const json_t *cms = json_object_get(l, "cache_ms");
    int64_t cache_ms = 30000;
    if (cms != NULL && !json_is_null(cms)) {
        if (!json_is_integer(cms) || json_integer_value(cms) < 0) {
            MG_CFG_FAIL(c, "watch[%zu].recipient_lookup.cache_ms: expected an integer >= 0 "
                        "(0 = no cache)", e->index);
            return CC_ECONFIG;
        }
        cache_ms = json_integer_value(cms);
    }
    mg_lookup_t *lk = calloc(1, sizeof *lk);
    if (lk == NULL)
        return CC_ENOMEM;
    lk->collection = vals[0];
    lk->local = vals[1];
    lk->foreign = vals[2];
    lk->field = vals[3];
    lk->cache_ms = cache_ms;
    size_t seg = strcspn(lk->field, ".");
    lk->projection_key = strndup(lk->field, seg);
    if (lk->projection_key == NULL || mg_cache_init(&lk->cache, MG_LOOKUP_CACHE_MAX) != 0) {
        free(lk->projection_key);
        mg_cache_free(&lk->cache);
        free(lk);
        return CC_ENOMEM;
    }
    e->lookup = lk;
    return 0;
}

static int mg_entry_shape(mg_cfg_ctx_t *c, mg_entry_t *e, const json_t *w)
{
    const json_t *fields = json_object_get(w, "fields");
    const char *recipient = mg_json_str(w, "recipient");
    if (recipient != NULL && *recipient == '\0')
        recipient = NULL;
    size_t n = json_is_array(fields) ? json_array_size(fields) : 0;
    if (n == 0 && recipient == NULL)
        return 0;
    const char **v = n ? calloc(n, sizeof *v) : NULL;
    if (n && v == NULL)
        return CC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i] = json_string_value(json_array_get(fields, i));
        if (v[i] == NULL) {
            MG_CFG_FAIL(c, "watch[%zu].fields[%zu]: expected a dotted path string", e->index, i);
            free(v);
            return CC_ECONFIG;
        }
    }
    e->shape = c->host->shape_new(c->self, v, n, recipient);
    free(v);
    if (e->shape == NULL) {
        MG_CFG_FAIL(c, "watch[%zu]: bad fields or recipient path (see above)", e->index);
        return CC_ECONFIG;
    }
    return 0;
}

static int mg_entry_load(mg_cfg_ctx_t *c, mg_entry_t *e, const json_t *w, const char *def_db)
{
    if (!json_is_object(w)) {
        MG_CFG_FAIL(c, "watch[%zu]: expected an object", e->index);
        return CC_ECONFIG;
    }
    e->collection = mg_json_str(w, "collection");
    if (e->collection == NULL) {
        MG_CFG_FAIL(c, "watch[%zu].collection: missing: name the collection, or \"*\" for the "
                    "whole database", e->index);
        return CC_ECONFIG;
    }
    if (*e->collection == '\0') {
        MG_CFG_FAIL(c, "watch[%zu].collection: empty collection name (use \"*\" for the whole "
                    "database)", e->index);
        return CC_ECONFIG;
    }
    e->database = mg_json_str(w, "database");
    if (e->database == NULL)
        e->database = def_db;
    if (e->database == NULL || *e->database == '\0') {
        MG_CFG_FAIL(c, "watch[%zu].database: no database: set config.database, this entry's "
                    "database, or a database in the URI", e->index);
        return CC_ECONFIG;
    }
    if (strcmp(e->database, "*") == 0 && strcmp(e->collection, "*") != 0) {
        MG_CFG_FAIL(c, "watch[%zu].collection: a cluster-wide watch (database \"*\") takes "
                    "collection \"*\"; filter collections with a pipeline", e->index);
        return CC_ECONFIG;
    }
    const json_t *snap = json_object_get(w, "snapshot");
    e->snapshot = json_is_true(snap);
    if (e->snapshot && strcmp(e->collection, "*") == 0) {
        MG_CFG_FAIL(c, "watch[%zu].snapshot: a snapshot needs a named collection, not \"*\"",
                    e->index);
        return CC_ECONFIG;
    }
    int rc;
    if ((rc = mg_entry_ops(c, e, w)) != 0 || (rc = mg_entry_pipeline(c, e, w)) != 0 ||
        (rc = mg_entry_lookup(c, e, w)) != 0 || (rc = mg_entry_shape(c, e, w)) != 0)
        return rc;
    return 0;
}

static int mg_cmp_str(const void *a, const void *b)
{
    const mg_entry_t *x = *(mg_entry_t *const *)a, *y = *(mg_entry_t *const *)b;
    return strcmp(x->collection, y->collection);
}

/* Stream key: "<db>/<coll>[,<coll>...]" (sorted), "|watch[i]" for an entry
 * with its own pipeline; stable while the config names the same things. */
static char *mg_plan_key(const mg_plan_t *p, const mg_entry_t *own)
{
    mg_text_t t = {0};
    int rc = mg_text_put(&t, p->database, strlen(p->database));
    rc = rc ? rc : mg_text_put(&t, "/", 1);
    mg_entry_t **sorted = malloc(p->n_entries * sizeof *sorted);
    if (sorted == NULL)
        rc = CC_ENOMEM;
    if (rc == 0) {
        memcpy(sorted, p->entries, p->n_entries * sizeof *sorted);
        qsort(sorted, p->n_entries, sizeof *sorted, mg_cmp_str);
        for (size_t i = 0; rc == 0 && i < p->n_entries; i++) {
            if (i > 0 && strcmp(sorted[i]->collection, sorted[i - 1]->collection) == 0)
                continue;
            if (i > 0)
                rc = mg_text_put(&t, ",", 1);
            rc = rc ? rc : mg_text_put(&t, sorted[i]->collection, strlen(sorted[i]->collection));
        }
    }
    free(sorted);
    if (rc == 0 && own != NULL) {
        char buf[40];
        snprintf(buf, sizeof buf, "|watch[%zu]", own->index);
        rc = mg_text_put(&t, buf, strlen(buf));
    }
    if (rc != 0) {
        mg_text_free(&t);
        return NULL;
    }
    return t.p;
}

static int mg_plan_add(mg_config_t *cfg, const char *db, mg_entry_t *own)
{
    mg_plan_t *p = &cfg->plans[cfg->n_plans];
    memset(p, 0, sizeof *p);
    p->database = db;
    p->entries = calloc(cfg->n_entries, sizeof *p->entries);
    if (p->entries == NULL)
        return CC_ENOMEM;
    cfg->n_plans++;
    bool any_star = false;
    for (size_t i = 0; i < cfg->n_entries; i++) {
        mg_entry_t *e = &cfg->entries[i];
        bool mine = own ? e == own : (e->pipeline == NULL && strcmp(e->database, db) == 0);
        if (!mine)
            continue;
        p->entries[p->n_entries++] = e;
        p->ops |= e->ops;
        if (strcmp(e->collection, "*") == 0)
            any_star = true;
    }
    if (own)
        p->user_pipeline = own->pipeline;
    /* One named collection: watch it; several: the database, on ns.coll. */
    bool one_coll = !any_star;
    for (size_t i = 1; one_coll && i < p->n_entries; i++)
        one_coll = strcmp(p->entries[i]->collection, p->entries[0]->collection) == 0;
    if (strcmp(db, "*") != 0 && one_coll)
        p->collection = p->entries[0]->collection;
    else
        p->filter_ns = !any_star && strcmp(db, "*") != 0;
    p->key = mg_plan_key(p, own);
    return p->key ? 0 : CC_ENOMEM;
}

int mg_config_plan(mg_config_t *cfg)
{
    cfg->plans = calloc(cfg->n_entries ? cfg->n_entries : 1, sizeof *cfg->plans);
    if (cfg->plans == NULL)
        return CC_ENOMEM;
    for (size_t i = 0; i < cfg->n_entries; i++) {
        mg_entry_t *e = &cfg->entries[i];
        int rc = 0;
        if (e->pipeline != NULL) {
            rc = mg_plan_add(cfg, e->database, e);
        } else {
            bool seen = false;   /* a shared stream for this database exists */
            for (size_t j = 0; j < i && !seen; j++)
                seen = cfg->entries[j].pipeline == NULL &&
                       strcmp(cfg->entries[j].database, e->database) == 0;
            if (!seen)
                rc = mg_plan_add(cfg, e->database, NULL);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int mg_settings_load(mg_cfg_ctx_t *c, mg_settings_t *s)
{
    const cc_host_t *h = c->host;
    const char *fd = h->config_string(c->self, "full_document");
    static const char *const fds[] = {"default", "updateLookup", "whenAvailable", "required"};
    static const char *const pres[] = {"off", "whenAvailable", "required"};
    s->full_document = MG_FD_DEFAULT;
    if (fd != NULL) {
        size_t i = 0;
        while (i < 4 && strcmp(fd, fds[i]) != 0)
            i++;
        if (i == 4) {
            MG_CFG_FAIL(c, "full_document: \"%s\" is not one of \"default\", \"updateLookup\", "
                        "\"whenAvailable\", \"required\"", fd);
            return CC_ECONFIG;
        }
        s->full_document = (mg_full_doc_t)i;
    }
    const char *pre = h->config_string(c->self, "full_document_before_change");
    s->pre_image = MG_PRE_OFF;
    if (pre != NULL) {
        size_t i = 0;
        while (i < 3 && strcmp(pre, pres[i]) != 0)
            i++;
        if (i == 3) {
            MG_CFG_FAIL(c, "full_document_before_change: \"%s\" is not one of \"off\", "
                        "\"whenAvailable\", \"required\"", pre);
            return CC_ECONFIG;
        }
        s->pre_image = (mg_pre_image_t)i;
    }
    s->batch_size = (int32_t)h->config_int(c->self, "batch_size", 1000);
    s->max_await_ms = h->config_int(c->self, "max_await_ms", 1000);
    const char *hl = h->config_string(c->self, "on_history_lost");
    if (hl != NULL && strcmp(hl, "fail") != 0 && strcmp(hl, "restart") != 0) {
        MG_CFG_FAIL(c, "on_history_lost: \"%s\" is not one of \"fail\", \"restart\"", hl);
        return CC_ECONFIG;
    }
    s->history_lost_restart = hl != NULL && strcmp(hl, "restart") == 0;
    return 0;
}

int mg_config_load(mg_config_t *cfg, cc_instance_t *self, const cc_host_t *host,
                   const char *place, const char *uri_db)
{
    mg_cfg_ctx_t c = {.self = self, .host = host, .place = place};
    memset(cfg, 0, sizeof *cfg);
    int rc = mg_settings_load(&c, &cfg->settings);
    if (rc != 0)
        return rc;
    const json_t *watch = host->config_json(self, "watch");
    if (!json_is_array(watch) || json_array_size(watch) == 0) {
        MG_CFG_FAIL(&c, "watch: expected a non-empty array of watch entries%s",
                    " (e.g. [{\"collection\": \"users\"}])");
        return CC_ECONFIG;
    }
    const char *def_db = host->config_string(self, "database");
    if (def_db == NULL || *def_db == '\0')
        def_db = uri_db;
    cfg->n_entries = json_array_size(watch);
    cfg->entries = calloc(cfg->n_entries, sizeof *cfg->entries);
    if (cfg->entries == NULL)
        return CC_ENOMEM;
    for (size_t i = 0; i < cfg->n_entries; i++) {
        cfg->entries[i].index = i;
        if ((rc = mg_entry_load(&c, &cfg->entries[i], json_array_get(watch, i), def_db)) != 0)
            return rc;
    }
    return mg_config_plan(cfg);
}

void mg_config_free(mg_config_t *cfg, const cc_host_t *host)
{
    for (size_t i = 0; i < cfg->n_entries; i++) {
        mg_entry_t *e = &cfg->entries[i];
        if (e->pipeline)
            bson_destroy(e->pipeline);
        if (e->shape)
            host->shape_free(e->shape);
        if (e->lookup) {
            mg_cache_free(&e->lookup->cache);
            free(e->lookup->projection_key);
            free(e->lookup);
        }
    }
    for (size_t i = 0; i < cfg->n_plans; i++) {
        free(cfg->plans[i].key);
        free(cfg->plans[i].entries);
    }
    free(cfg->entries);
    free(cfg->plans);
    memset(cfg, 0, sizeof *cfg);
}
