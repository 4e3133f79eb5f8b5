/* plugins/mongo/mongo_lookup.c — recipient_lookup: the query and its cache.
 *
 * The value at `local` in the change selects one document of `collection`
 * (foreign == value); the value(s) at `field` in it are the recipients.
 * Results, misses included, are cached per value for cache_ms, so a burst of
 * changes to one business costs one query. The cache belongs to the stream
 * thread that serves the entry: no lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugins/mongo/mongo.h"

#define MG_LOOKUP_MAX_VALUES 64      /* local values per change (an array) */
#define MG_LOOKUP_MAX_RECIPS 1024    /* recipients per change */

int64_t mg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mg_strv_free(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- cache ---- */

static uint64_t mg_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

int mg_cache_init(mg_cache_t *c, size_t max_entries)
{
    memset(c, 0, sizeof *c);
    c->n_buckets = 256;
    c->max_entries = max_entries ? max_entries : 1;
    c->buckets = calloc(c->n_buckets, sizeof *c->buckets);
    return c->buckets ? 0 : CC_ENOMEM;
}

static void mg_cache_entry_free(mg_cache_entry_t *e)
{
    free(e->key);
    mg_strv_free(e->recips, e->n_recips);
    free(e);
}

void mg_cache_free(mg_cache_t *c)
{
    for (size_t b = 0; c->buckets && b < c->n_buckets; b++) {
        mg_cache_entry_t *e = c->buckets[b];
        while (e) {
            mg_cache_entry_t *next = e->next;
            mg_cache_entry_free(e);
            e = next;
        }
    }
    free(c->buckets);
    memset(c, 0, sizeof *c);
}

/* Drops expired entries; with `all`, every entry. */
static void mg_cache_sweep(mg_cache_t *c, int64_t now_ms, bool all)
{
    for (size_t b = 0; b < c->n_buckets; b++) {
        mg_cache_entry_t **pp = &c->buckets[b];
        while (*pp) {
            mg_cache_entry_t *e = *pp;
            if (all || e->expires_ms <= now_ms) {
                *pp = e->next;
                mg_cache_entry_free(e);
                c->count--;
            } else {
                pp = &e->next;
            }
        }
    }
}

/* Doubles the table while the load is high; a failed growth keeps the
 * table as it is (longer chains, still correct). */
static void mg_cache_grow(mg_cache_t *c)
{
    if (c->count < c->n_buckets * 2)
        return;
    size_t nb = c->n_buckets * 2;
    mg_cache_entry_t **buckets = calloc(nb, sizeof *buckets);
    if (buckets == NULL)
        return;
    for (size_t b = 0; b < c->n_buckets; b++) {
        mg_cache_entry_t *e = c->buckets[b];
        while (e) {
            mg_cache_entry_t *next = e->next;
            size_t nbk = (size_t)(mg_hash(e->key) & (nb - 1));
            e->next = buckets[nbk];
            buckets[nbk] = e;
            e = next;
        }
    }
    free(c->buckets);
    c->buckets = buckets;
    c->n_buckets = nb;
}

const mg_cache_entry_t *mg_cache_get(mg_cache_t *c, const char *key, int64_t now_ms)
{
    size_t b = (size_t)(mg_hash(key) & (c->n_buckets - 1));
    for (mg_cache_entry_t **pp = &c->buckets[b]; *pp; pp = &(*pp)->next) {
        mg_cache_entry_t *e = *pp;
        if (strcmp(e->key, key) != 0)
            continue;
        if (e->expires_ms <= now_ms) {
            *pp = e->next;
            mg_cache_entry_free(e);
            c->count--;
            return NULL;
        }
        return e;
    }
    return NULL;
}

int mg_cache_put(mg_cache_t *c, const char *key, char **recips, size_t n, int64_t now_ms,
                 int64_t ttl_ms)
{
    mg_cache_entry_t *e = calloc(1, sizeof *e);
    char *k = strdup(key);
    if (e == NULL || k == NULL) {
        free(e);
        free(k);
        mg_strv_free(recips, n);
        return CC_ENOMEM;
    }
    /* An older entry for the key goes first (it is expired, or the caller
     * would not have queried). */
    size_t b = (size_t)(mg_hash(key) & (c->n_buckets - 1));
    for (mg_cache_entry_t **pp = &c->buckets[b]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->key, key) == 0) {
            mg_cache_entry_t *old = *pp;
            *pp = old->next;
            mg_cache_entry_free(old);
            c->count--;
            break;
        }
    }
    if (c->count >= c->max_entries) {
        mg_cache_sweep(c, now_ms, false);
        if (c->count >= c->max_entries)
            mg_cache_sweep(c, now_ms, true);   /* full of live entries: start over */
    }
    mg_cache_grow(c);
    b = (size_t)(mg_hash(key) & (c->n_buckets - 1));
    e->key = k;
    e->recips = recips;
    e->n_recips = n;
    e->expires_ms = now_ms + ttl_ms;
    e->next = c->buckets[b];
    c->buckets[b] = e;
    c->count++;
    return 0;
}

/* ---- the query ---- */

typedef struct mg_recips {
    char **v;                      /* owned */
    size_t n, cap;
    bool oom;
} mg_recips_t;

/* Appends a copy of s unless already there. 0, or 1 when out of memory. */
static int mg_recips_add_str(mg_recips_t *r, const char *s)
{
    if (r->n >= MG_LOOKUP_MAX_RECIPS)
        return 0;
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->v[i], s) == 0)   /* once per recipient */
            return 0;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        char **v = realloc(r->v, cap * sizeof *v);
        if (v == NULL) {
            r->oom = true;
            return 1;
        }
        r->v = v;
        r->cap = cap;
    }
    if ((r->v[r->n] = strdup(s)) == NULL) {
        r->oom = true;
        return 1;
    }
    r->n++;
    return 0;
}

static int mg_recips_add(void *arg, const bson_iter_t *value)
{
    mg_recips_t *r = arg;
    if (BSON_ITER_HOLDS_NULL(value))
        return 0;
    char *s = mg_value_string(value);
    if (s == NULL) {
        r->oom = true;
        return 1;
    }
    int rc = mg_recips_add_str(r, s);
    free(s);
    return rc;
}

typedef struct mg_values {
    bson_t holder;                 /* {"0": v0, "1": v1, ...} */
    size_t n;
} mg_values_t;

static int mg_values_add(void *arg, const bson_iter_t *value)
{
    mg_values_t *vs = arg;
    if (BSON_ITER_HOLDS_NULL(value) || vs->n >= MG_LOOKUP_MAX_VALUES)
        return 0;
    char key[24];
    snprintf(key, sizeof key, "%zu", vs->n++);
    bson_append_iter(&vs->holder, key, -1, value);
    return 0;
}

/* Queries one value; appends its recipients (or none) to r through the
 * cache. 0, CC_ENOMEM, or CC_EIO with err set. */
static int mg_lookup_one(mongoc_collection_t *coll, mg_lookup_t *lk, const bson_iter_t *value,
                         mg_recips_t *r, bson_error_t *err)
{
    char *vs = mg_value_string(value);
    if (vs == NULL)
        return CC_ENOMEM;
    /* The type tags the key: the string "42" and the number 42 differ. */
    size_t klen = strlen(vs) + 4;
    char *key = malloc(klen);
    if (key == NULL) {
        free(vs);
        return CC_ENOMEM;
    }
    snprintf(key, klen, "%02x:%s", (unsigned)bson_iter_type(value), vs);
    free(vs);

    int64_t now = mg_now_ms();
    if (lk->cache_ms > 0) {
        const mg_cache_entry_t *e = mg_cache_get(&lk->cache, key, now);
        if (e != NULL) {
            for (size_t i = 0; i < e->n_recips && !r->oom; i++)
                mg_recips_add_str(r, e->recips[i]);
            free(key);
            return r->oom ? CC_ENOMEM : 0;
        }
    }

    bson_t filter = BSON_INITIALIZER;
    bson_append_iter(&filter, lk->foreign, -1, value);
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_INT64(&opts, "limit", 1);
    bson_t proj;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, lk->projection_key, 1);
    bson_append_document_end(&opts, &proj);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, &opts, NULL);
    bson_destroy(&filter);
    bson_destroy(&opts);

    mg_recips_t found = {0};
    const bson_t *doc;
    if (mongoc_cursor_next(cur, &doc))
        mg_path_each(doc, lk->field, mg_recips_add, &found);
    bool failed = mongoc_cursor_error(cur, err);
    mongoc_cursor_destroy(cur);
    if (failed || found.oom) {
        mg_strv_free(found.v, found.n);
        free(key);
        return failed ? CC_EIO : CC_ENOMEM;
    }

    for (size_t i = 0; i < found.n && !r->oom; i++)
        mg_recips_add_str(r, found.v[i]);
    int rc = 0;
    if (lk->cache_ms > 0)
        rc = mg_cache_put(&lk->cache, key, found.v, found.n, now, lk->cache_ms);
    else
        mg_strv_free(found.v, found.n);
    free(key);
    return r->oom ? CC_ENOMEM : rc;
}

int mg_lookup_recipients(mg_stream_t *st, mongoc_client_t *client, const mg_entry_t *entry,
                         const bson_t *change, mg_item_t *it, bson_error_t *err)
{
    mg_lookup_t *lk = entry->lookup;
    mg_values_t vs = {.n = 0};
    bson_init(&vs.holder);
    mg_path_each(change, lk->local, mg_values_add, &vs);

    /* The looked-up collection lives in the change's database. */
    const char *db = entry->database;
    bson_iter_t nsit, dbit;
    if (bson_iter_init_find(&nsit, change, "ns") && BSON_ITER_HOLDS_DOCUMENT(&nsit) &&
        bson_iter_recurse(&nsit, &dbit) && bson_iter_find(&dbit, "db") &&
        BSON_ITER_HOLDS_UTF8(&dbit))
        db = bson_iter_utf8(&dbit, NULL);

    mg_recips_t r = {0};
    int rc = 0;
    if (vs.n > 0) {
        mongoc_collection_t *coll = mongoc_client_get_collection(client, db, lk->collection);
        bson_iter_t vit;
        if (bson_iter_init(&vit, &vs.holder)) {
            while (rc == 0 && bson_iter_next(&vit))
                rc = mg_lookup_one(coll, lk, &vit, &r, err);
        }
        mongoc_collection_destroy(coll);
    }
    bson_destroy(&vs.holder);
    if (rc != 0) {
        mg_strv_free(r.v, r.n);
        return rc;
    }
    (void)st;
    it->recips = r.v;
    it->n_recips = r.n;
    it->has_recips = true;
    return 0;
}
