/* core/envelope.c — from a change document to the SPEC envelope.
 *
 * Hot path (one call per change, 300k+/s): everything is rendered into one
 * cc_buf per call, regions addressed by offset; the parts every copy shares
 * are rendered once, and each event is one allocation (cc_event_new).
 */
#include "core/envelope.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "changecast/error.h"
#include "core/bson_next.h"
#include "core/buf.h"
#include "core/ejson.h"

/* ---- shape ------------------------------------------------------------ */

/* 0 when `path` is usable; else writes why (naming `where`) into err. */
static int check_path(const char *where, const char *path, char *err, size_t errlen)
{
    if (!path || !*path) {
        cc_set_err(err, errlen, "%s: empty path", where);
        return CC_EINVAL;
    }
    size_t segs = 1;
    const char *seg = path;
    for (const char *p = path;; p++) {
        if (*p == '.' || *p == '\0') {
            if (p == seg) {
                cc_set_err(err, errlen, "%s: empty path segment in \"%s\"", where, path);
                return CC_EINVAL;
            }
            if (*p == '\0')
                break;
            seg = p + 1;
            segs++;
        }
    }
    if (segs > CC_PATH_MAX_SEGMENTS) {
        cc_set_err(err, errlen, "%s: more than %d segments in \"%s\"", where, CC_PATH_MAX_SEGMENTS,
                path);
        return CC_EINVAL;
    }
    return 0;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

cc_shape_t *cc_shape_new(const char *const *fields, size_t n_fields, const char *recipient,
                         char *err, size_t errlen)
{
    char where[48];
    if (!fields)
        n_fields = 0;
    for (size_t i = 0; i < n_fields; i++) {
        snprintf(where, sizeof where, "fields[%zu]", i);
        if (check_path(where, fields[i], err, errlen) != 0)
            return NULL;
    }
    if (recipient && *recipient && check_path("recipient", recipient, err, errlen) != 0)
        return NULL;

    cc_shape_t *shape = calloc(1, sizeof *shape);
    if (!shape)
        goto oom;
    if (n_fields) {
        shape->fields = calloc(n_fields, sizeof *shape->fields);
        if (!shape->fields)
            goto oom;
    }
    for (size_t i = 0; i < n_fields; i++) {
        size_t j = 0;
        while (j < shape->n_fields && strcmp(shape->fields[j], fields[i]) != 0)
            j++;
        if (j < shape->n_fields)
            continue;   /* repeated path: once is enough */
        if (!(shape->fields[shape->n_fields] = dup_str(fields[i])))
            goto oom;
        shape->n_fields++;
    }
    if (recipient && *recipient && !(shape->recipient = dup_str(recipient)))
        goto oom;
    return shape;
oom:
    cc_shape_free(shape);
    cc_set_err(err, errlen, "out of memory");
    return NULL;
}

void cc_shape_free(cc_shape_t *shape)
{
    if (!shape)
        return;
    for (size_t i = 0; i < shape->n_fields; i++)
        free(shape->fields[i]);
    free(shape->fields);
    free(shape->recipient);
    free(shape);
}

void cc_event_vec_free(cc_event_vec_t *vec)
{
    if (!vec)
        return;
    for (size_t i = 0; i < vec->n; i++)
        cc_event_unref(vec->v[i]);
    free(vec->v);
    vec->v = NULL;
    vec->n = vec->cap = 0;
    cc_buf_free(&vec->scratch);
}

/* ---- paths ------------------------------------------------------------ */

/* A segment of digits only, without a leading zero, indexes an array. */
static int parse_index(const char *s, size_t n, uint32_t *idx)
{
    if (n == 0 || n > 9 || (n > 1 && s[0] == '0'))
        return 0;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    *idx = v;
    return 1;
}

/* Follows `rest` (the remaining dotted path, NULL when done) from `start`.
 * Iterative along documents and indexes; recursion only where an array fans
 * out, and each level consumes a segment, so depth <= segments <= 200. */
static int walk(const bson_iter_t *start, const char *rest, cc_path_cb cb, void *arg)
{
    bson_iter_t v = *start;
    for (;;) {
        if (!rest)
            return cb(arg, &v);
        const char *dot = strchr(rest, '.');
        size_t seglen = dot ? (size_t)(dot - rest) : strlen(rest);
        const char *next = dot ? dot + 1 : NULL;
        bson_type_t t = bson_iter_type(&v);
        bson_iter_t child;
        uint32_t idx;

        if (seglen > INT32_MAX || (t != BSON_TYPE_DOCUMENT && t != BSON_TYPE_ARRAY) ||
            !bson_iter_recurse(&v, &child))
            return 0;
        if (t == BSON_TYPE_DOCUMENT) {
            if (!bson_iter_find_w_len(&child, rest, (int)seglen))
                return 0;
            v = child;
            rest = next;
            continue;
        }
        if (parse_index(rest, seglen, &idx)) {
            uint32_t i = 0;
            int found = 0;
            while (cc_bson_next(&child))
                if (i++ == idx) {
                    found = 1;
                    break;
                }
            if (!found)
                return 0;
            v = child;
            rest = next;
            continue;
        }
        /* MongoDB semantics: a field name applied to an array looks into
         * each of its documents (not into nested arrays). */
        while (cc_bson_next(&child)) {
            bson_iter_t grand;
            if (bson_iter_type(&child) != BSON_TYPE_DOCUMENT ||
                !bson_iter_recurse(&child, &grand) ||
                !bson_iter_find_w_len(&grand, rest, (int)seglen))
                continue;
            int rc = walk(&grand, next, cb, arg);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
}

static int is_nullish(const bson_iter_t *it)
{
    bson_type_t t = bson_iter_type(it);
    return t == BSON_TYPE_NULL || t == BSON_TYPE_UNDEFINED;
}

int cc_envelope_resolve(const bson_t *change, const char *path, cc_path_cb cb, void *arg)
{
    static const char full[] = "fullDocument";
    bson_iter_t it;
    if (!change || !path || !*path)
        return 0;
    const char *dot = strchr(path, '.');
    size_t seglen = dot ? (size_t)(dot - path) : strlen(path);
    const char *next = dot ? dot + 1 : NULL;
    if (seglen > INT32_MAX)
        return 0;

    if (seglen == sizeof full - 1 && memcmp(path, full, seglen) == 0) {
        /* Delete fallback (SPEC): a delete has no post-image, so read the
         * pre-image. Other operations without one resolve to nothing rather
         * than to values from before the change. */
        if (!bson_iter_init_find(&it, change, full) || is_nullish(&it)) {
            bson_iter_t op;
            if (!bson_iter_init_find(&op, change, "operationType") ||
                !BSON_ITER_HOLDS_UTF8(&op) || strcmp(bson_iter_utf8(&op, NULL), "delete") != 0 ||
                !bson_iter_init_find(&it, change, "fullDocumentBeforeChange"))
                return 0;
        }
        return walk(&it, next, cb, arg);
    }
    if (!bson_iter_init(&it, change) || !bson_iter_find_w_len(&it, path, (int)seglen))
        return 0;
    return walk(&it, next, cb, arg);
}

/* bson_iter_utf8 for an element known to be a string, inline. */
static inline const char *utf8_of(const bson_iter_t *it, uint32_t *n)
{
    size_t len = 0;
    const char *s = bson_iter_utf8_unsafe(it, &len);
    *n = (uint32_t)len;
    return s;
}

/* ---- id strings ------------------------------------------------------- */

int cc_envelope_id_string(struct cc_buf *out, const bson_iter_t *value)
{
    switch (bson_iter_type(value)) {
    case BSON_TYPE_UTF8: {
        uint32_t n = 0;
        const char *s = utf8_of(value, &n);
        cc_buf_append(out, s, n);
        break;
    }
    case BSON_TYPE_OID: {
        char hex[25];
        bson_oid_to_string(bson_iter_oid(value), hex);
        cc_buf_append(out, hex, 24);
        break;
    }
    case BSON_TYPE_INT32:
        cc_buf_put_int(out, bson_iter_int32_unsafe(value));
        break;
    case BSON_TYPE_INT64:
        cc_buf_put_int(out, bson_iter_int64_unsafe(value));
        break;
    case BSON_TYPE_DOUBLE:
        cc_ejson_double(out, bson_iter_double(value));
        break;
    default:
        return cc_ejson_append_value(out, value);
    }
    return out->oom ? CC_ENOMEM : 0;
}

/* ---- the builder ------------------------------------------------------ */

/* Appends b[off, off+n) to b as a JSON string. The 6n + 2 reservation is
 * the worst case (every byte as \u00XX or \ufffd), so the source region
 * cannot move while it is read. */
static void json_self(cc_buf_t *b, size_t off, size_t n)
{
    if (b->cap - b->len <= 6 * n + 2 && cc_buf_reserve(b, 6 * n + 2) != 0)
        return;
    cc_buf_json_string(b, b->data + off, n);
}

/* Appends a copy of b[off, off+n) to b (reserve first: same buffer). */
static void copy_self(cc_buf_t *b, size_t off, size_t n)
{
    if (n == 0 || (b->cap - b->len <= n && cc_buf_reserve(b, n) != 0))
        return;
    memcpy(b->data + b->len, b->data + off, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* Distinct recipients, kept as NUL-terminated spans of the call's buffer in
 * first-seen order. Duplicates are found by a linear scan while there are
 * few, then by an open-addressing hash table (a big array of members). */
#define RSET_INLINE 16

typedef struct span {
    size_t off, len;
} span_t;

typedef struct rset {
    cc_buf_t *b;
    span_t *v;
    size_t n, cap;
    uint32_t *slots;   /* index + 1; 0 = empty. NULL while n <= RSET_INLINE */
    size_t nslots;
    span_t inl[RSET_INLINE];
} rset_t;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603u;   /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211u;
    }
    return h;
}

static int rset_equal(const rset_t *rs, size_t i, const char *s, size_t n)
{
    return rs->v[i].len == n && memcmp(rs->b->data + rs->v[i].off, s, n) == 0;
}

/* Inserts index i into the hash table (which has room). */
static void rset_slot_put(rset_t *rs, size_t i)
{
    const span_t *sp = &rs->v[i];
    size_t mask = rs->nslots - 1;
    size_t h = (size_t)hash_bytes(rs->b->data + sp->off, sp->len) & mask;
    while (rs->slots[h])
        h = (h + 1) & mask;
    rs->slots[h] = (uint32_t)(i + 1);
}

static int rset_rehash(rset_t *rs, size_t want)
{
    size_t ns = 64;
    while (ns < want * 2)
        ns *= 2;
    uint32_t *slots = calloc(ns, sizeof *slots);
    if (!slots)
        return CC_ENOMEM;
    free(rs->slots);
    rs->slots = slots;
    rs->nslots = ns;
    for (size_t i = 0; i < rs->n; i++)
        rset_slot_put(rs, i);
    return 0;
}

/* The candidate is b[start, b->len): keeps it (NUL-terminated) when new,
 * drops it when already present. */
static int rset_commit(rset_t *rs, size_t start)
{
    cc_buf_t *b = rs->b;
    if (b->oom)
        return CC_ENOMEM;
    const char *s = b->data ? b->data + start : "";
    size_t n = b->len - start;

    if (rs->slots) {
        size_t mask = rs->nslots - 1;
        for (size_t h = (size_t)hash_bytes(s, n) & mask; rs->slots[h]; h = (h + 1) & mask)
            if (rset_equal(rs, rs->slots[h] - 1, s, n)) {
                cc_buf_truncate(b, start);
                return 0;
            }
    } else {
        for (size_t i = 0; i < rs->n; i++)
            if (rset_equal(rs, i, s, n)) {
                cc_buf_truncate(b, start);
                return 0;
            }
    }
    if (rs->n >= UINT32_MAX - 1)
        return CC_ENOMEM;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap * 2;
        span_t *v = rs->v == rs->inl ? malloc(cap * sizeof *v) : realloc(rs->v, cap * sizeof *v);
        if (!v)
            return CC_ENOMEM;
        if (rs->v == rs->inl)
            memcpy(v, rs->inl, rs->n * sizeof *v);
        rs->v = v;
        rs->cap = cap;
    }
    cc_buf_putc(b, '\0');
    if (b->oom)
        return CC_ENOMEM;
    rs->v[rs->n].off = start;
    rs->v[rs->n].len = n;
    rs->n++;
    if (rs->n > RSET_INLINE && (!rs->slots || rs->n * 2 > rs->nslots)) {
        if (rset_rehash(rs, rs->n) != 0)
            return CC_ENOMEM;
    } else if (rs->slots) {
        rset_slot_put(rs, rs->n - 1);
    }
    return 0;
}

static void rset_free(rset_t *rs)
{
    if (rs->v != rs->inl)
        free(rs->v);
    free(rs->slots);
}

static int rset_add_value(rset_t *rs, const bson_iter_t *v)
{
    size_t start = rs->b->len;
    int rc = cc_envelope_id_string(rs->b, v);
    if (rc != 0)
        return rc;
    return rset_commit(rs, start);
}

/* cc_path_cb for the recipient path: a final array gives one recipient per
 * element; null and undefined are skipped. */
static int recipient_cb(void *arg, const bson_iter_t *v)
{
    rset_t *rs = arg;
    if (is_nullish(v))
        return 0;
    if (bson_iter_type(v) != BSON_TYPE_ARRAY)
        return rset_add_value(rs, v);
    bson_iter_t child;
    if (!bson_iter_recurse(v, &child))
        return CC_EPARSE;
    while (cc_bson_next(&child)) {
        if (is_nullish(&child))
            continue;
        int rc = rset_add_value(rs, &child);
        if (rc != 0)
            return rc;
    }
    return child.err_off ? CC_EPARSE : 0;
}

/* cc_path_cb for one entry of "fields": the first value is written as is;
 * a second one turns what was written into an array. */
typedef struct field_ctx {
    cc_buf_t *b;
    size_t value_start;
    size_t count;
} field_ctx_t;

static int field_cb(void *arg, const bson_iter_t *v)
{
    field_ctx_t *fc = arg;
    if (is_nullish(v))
        return 0;
    if (fc->count == 1)
        cc_buf_insert(fc->b, fc->value_start, "[", 1);
    if (fc->count >= 1)
        cc_buf_putc(fc->b, ',');
    fc->count++;
    return cc_ejson_append_value(fc->b, v);
}

/* The top-level members the envelope reads, found in one pass. */
enum {
    K_ID, K_OP, K_NS, K_DOCKEY, K_CLUSTER, K_WALL, K_FULL, K_BEFORE, K_UPDESC, K_COUNT
};
/* bson_iter_t is over-aligned (128) beyond its size: arrays need a wrapper. */
typedef struct top_slot {
    bson_iter_t it;
} top_slot_t;

static const char *const top_keys[K_COUNT] = {
    "_id", "operationType", "ns", "documentKey", "clusterTime", "wallTime",
    "fullDocument", "fullDocumentBeforeChange", "updateDescription",
};
static const uint32_t top_key_lens[K_COUNT] = {3, 13, 2, 11, 11, 8, 12, 24, 17};

/* cc_envelope_resolve over the members found in the one top-level pass, so
 * each fields/recipient path does not scan the change from the start. */
static int resolve_top(const bson_t *change, const top_slot_t *top, const int *have, int is_delete,
                       const char *path, cc_path_cb cb, void *arg)
{
    const char *dot = strchr(path, '.');
    size_t seglen = dot ? (size_t)(dot - path) : strlen(path);
    const char *next = dot ? dot + 1 : NULL;
    for (int k = 0; k < K_COUNT; k++) {
        if (seglen != top_key_lens[k] || memcmp(path, top_keys[k], seglen) != 0)
            continue;
        /* The delete fallback, as in cc_envelope_resolve. */
        if (k == K_FULL && (!have[K_FULL] || is_nullish(&top[K_FULL].it))) {
            if (!is_delete || !have[K_BEFORE])
                return 0;
            k = K_BEFORE;
        } else if (!have[k]) {
            return 0;
        }
        bson_iter_t it = top[k].it;
        return walk(&it, next, cb, arg);
    }
    return cc_envelope_resolve(change, path, cb, arg);
}

/* Finds `key` (klen bytes) in the document under `parent`, with type
 * `type` (any with BSON_TYPE_EOD). The first member of that name counts, as
 * with bson_iter_find; key lengths are compared first, so the members
 * passed over cost no strlen or strncmp. */
static int sub_find(const bson_iter_t *parent, const char *key, uint32_t klen, bson_type_t type,
                    bson_iter_t *out)
{
    bson_iter_t child;
    if (bson_iter_type_unsafe(parent) != BSON_TYPE_DOCUMENT || !cc_bson_recurse(parent, &child))
        return 0;
    while (cc_bson_next(&child)) {
        if (cc_bson_key_len(&child) != klen)
            continue;
        const char *k = bson_iter_key_unsafe(&child);
        uint32_t j = 0;
        while (j < klen && k[j] == key[j])   /* a few bytes: no memcmp call */
            j++;
        if (j < klen)
            continue;
        if (type != BSON_TYPE_EOD && bson_iter_type_unsafe(&child) != type)
            return 0;
        *out = child;
        return 1;
    }
    return 0;
}
#define SUB_FIND(parent, lit, type, out) sub_find((parent), "" lit, sizeof(lit) - 1, (type), (out))

/* ns.db and ns.coll in one pass, each as SUB_FIND(..., BSON_TYPE_UTF8)
 * would find it: the first member of the name, if it is a string. */
static void find_ns(const bson_iter_t *ns, const char **db, uint32_t *db_len, const char **coll,
                    uint32_t *coll_len)
{
    bson_iter_t child;
    int seen_db = 0, seen_coll = 0;
    if (bson_iter_type_unsafe(ns) != BSON_TYPE_DOCUMENT || !cc_bson_recurse(ns, &child))
        return;
    while ((!seen_db || !seen_coll) && cc_bson_next(&child)) {
        uint32_t klen = cc_bson_key_len(&child);
        const char *key = bson_iter_key_unsafe(&child);
        int is_str = bson_iter_type_unsafe(&child) == BSON_TYPE_UTF8;
        if (klen == 2 && !seen_db && memcmp(key, "db", 2) == 0) {
            seen_db = 1;
            if (is_str)
                *db = utf8_of(&child, db_len);
        } else if (klen == 4 && !seen_coll && memcmp(key, "coll", 4) == 0) {
            seen_coll = 1;
            if (is_str)
                *coll = utf8_of(&child, coll_len);
        }
    }
}

/* Maps a renderer's error to the builder's contract, with a message. */
static int render_fail(int rc, const char *what, char *err, size_t errlen)
{
    if (rc == CC_ENOMEM) {
        cc_set_err(err, errlen, "out of memory");
        return CC_ENOMEM;
    }
    if (rc == CC_ERANGE)
        cc_set_err(err, errlen, "change event: %s is nested deeper than %d levels", what,
                CC_EJSON_MAX_DEPTH);
    else
        cc_set_err(err, errlen, "change event: %s is corrupt BSON", what);
    return CC_EPARSE;
}

static int render_data(cc_buf_t *b, const bson_t *change, const cc_shape_t *shape,
                       const top_slot_t *top, const int *have, int is_delete, char *err,
                       size_t errlen)
{
    int rc;
    if (shape && shape->n_fields) {
        cc_buf_putc(b, '{');
        int first = 1;
        for (size_t i = 0; i < shape->n_fields; i++) {
            const char *path = shape->fields[i];
            size_t mark = b->len;
            if (!first)
                cc_buf_putc(b, ',');
            cc_buf_json_string(b, path, strlen(path));
            cc_buf_putc(b, ':');
            field_ctx_t fc = {b, b->len, 0};
            rc = resolve_top(change, top, have, is_delete, path, field_cb, &fc);
            if (rc != 0)
                return render_fail(rc, path, err, errlen);
            if (fc.count == 0) {
                cc_buf_truncate(b, mark);
                continue;
            }
            if (fc.count > 1)
                cc_buf_putc(b, ']');
            first = 0;
        }
        cc_buf_putc(b, '}');
        return 0;
    }
    const bson_iter_t *doc = NULL;
    const char *what = "fullDocument";
    if (have[K_FULL] && bson_iter_type_unsafe(&top[K_FULL].it) == BSON_TYPE_DOCUMENT) {
        doc = &top[K_FULL].it;
    } else if (is_delete && have[K_BEFORE] &&
               bson_iter_type_unsafe(&top[K_BEFORE].it) == BSON_TYPE_DOCUMENT) {
        doc = &top[K_BEFORE].it;
        what = "fullDocumentBeforeChange";
    }
    if (!doc) {
        cc_buf_lit(b, "{}");
        return 0;
    }
    rc = cc_ejson_append_value(b, doc);
    return rc ? render_fail(rc, what, err, errlen) : 0;
}

static int render_update(cc_buf_t *b, const top_slot_t *top, const int *have, char *err,
                         size_t errlen)
{
    bson_iter_t f;
    int rc;
    cc_buf_lit(b, ",\"update\":{\"updated\":");
    if (have[K_UPDESC] && SUB_FIND(&top[K_UPDESC].it, "updatedFields", BSON_TYPE_DOCUMENT, &f)) {
        if ((rc = cc_ejson_append_value(b, &f)) != 0)
            return render_fail(rc, "updateDescription.updatedFields", err, errlen);
    } else {
        cc_buf_lit(b, "{}");
    }
    cc_buf_lit(b, ",\"removed\":");
    if (have[K_UPDESC] && SUB_FIND(&top[K_UPDESC].it, "removedFields", BSON_TYPE_ARRAY, &f)) {
        if ((rc = cc_ejson_append_value(b, &f)) != 0)
            return render_fail(rc, "updateDescription.removedFields", err, errlen);
    } else {
        cc_buf_lit(b, "[]");
    }
    cc_buf_putc(b, '}');
    return 0;
}

/* Makes room for `more` events in `out` without changing its contents. */
static int vec_reserve(cc_event_vec_t *out, size_t more)
{
    if (out->cap - out->n >= more)
        return 0;
    if (more > SIZE_MAX / sizeof *out->v - out->n)
        return CC_ENOMEM;
    size_t cap = out->cap ? out->cap * 2 : 8;
    if (cap < out->n + more)
        cap = out->n + more;
    cc_event_t **v = realloc(out->v, cap * sizeof *v);
    if (!v)
        return CC_ENOMEM;
    out->v = v;
    out->cap = cap;
    return 0;
}

int cc_envelope_build(const bson_t *change, const cc_shape_t *shape,
                      const char *const *recipients, size_t n_recipients,
                      cc_event_vec_t *out, char *err, size_t errlen)
{
    bson_iter_t it;
    top_slot_t top[K_COUNT];
    int have[K_COUNT] = {0};
    /* Borrow the caller's scratch buffer (given back below on every path). */
    cc_buf_t b = out ? out->scratch : (cc_buf_t)CC_BUF_INIT;
    rset_t rs;
    size_t made = 0;
    int rc;

    if (!change || !out || !bson_iter_init(&it, change)) {
        cc_set_err(err, errlen, "change event is not a BSON document");
        return CC_EPARSE;
    }
    cc_buf_reset(&b);
    while (cc_bson_next(&it)) {
        const char *key = bson_iter_key_unsafe(&it);
        uint32_t klen = cc_bson_key_len(&it);
        /* By length first (at most two candidates share one), then one
         * compare of a known size. */
        int k;
#define TOP_IS(id, lit) (k = (id), memcmp(key, "" lit, sizeof(lit) - 1) == 0)
        switch (klen) {
        case 2: if (!TOP_IS(K_NS, "ns")) continue; break;
        case 3: if (!TOP_IS(K_ID, "_id")) continue; break;
        case 8: if (!TOP_IS(K_WALL, "wallTime")) continue; break;
        case 11:
            if (!TOP_IS(K_DOCKEY, "documentKey") && !TOP_IS(K_CLUSTER, "clusterTime"))
                continue;
            break;
        case 12: if (!TOP_IS(K_FULL, "fullDocument")) continue; break;
        case 13: if (!TOP_IS(K_OP, "operationType")) continue; break;
        case 17: if (!TOP_IS(K_UPDESC, "updateDescription")) continue; break;
        case 24: if (!TOP_IS(K_BEFORE, "fullDocumentBeforeChange")) continue; break;
        default: continue;
        }
#undef TOP_IS
        if (!have[k]) {
            top[k].it = it;
            have[k] = 1;
        }
    }
    if (it.err_off) {
        cc_set_err(err, errlen, "change event is corrupt BSON (at byte %u)", (unsigned)it.err_off);
        return CC_EPARSE;
    }

    if (!have[K_OP] || bson_iter_type_unsafe(&top[K_OP].it) != BSON_TYPE_UTF8) {
        cc_set_err(err, errlen, "change event has no operationType");
        return CC_EPARSE;
    }
    if (!have[K_ID] || is_nullish(&top[K_ID].it)) {
        cc_set_err(err, errlen, "change event has no _id (resume token)");
        return CC_EPARSE;
    }
    uint32_t op_len = 0;
    const char *op = utf8_of(&top[K_OP].it, &op_len);
    /* As strcmp would: the name, then the string's NUL (BSON has one). */
    int is_update = op_len >= 6 && memcmp(op, "update", 7) == 0;
    int is_delete = op_len >= 6 && memcmp(op, "delete", 7) == 0;

    const char *db = NULL, *coll = "";
    uint32_t db_len = 0, coll_len = 0;
    if (have[K_NS])
        find_ns(&top[K_NS].it, &db, &db_len, &coll, &coll_len);

    rs.b = &b;   /* rs.inl is not read before it is written */
    rs.v = rs.inl;
    rs.n = 0;
    rs.cap = RSET_INLINE;
    rs.slots = NULL;
    rs.nslots = 0;

    /* One reservation covers a typical envelope: usually the only malloc
     * here besides the events themselves. */
    if (cc_buf_reserve(&b, 1024) != 0)
        goto nomem;

    /* Raw strings first: the resume token, the document id, recipients.
     * An _id that is not a server resume token (a replayed or synthetic
     * event) reads as document_id would, so "snapshot:42" stays itself. */
    bson_iter_t data_it;
    size_t tok_off = b.len;
    if (SUB_FIND(&top[K_ID].it, "_data", BSON_TYPE_UTF8, &data_it)) {
        uint32_t n = 0;
        const char *s = utf8_of(&data_it, &n);
        cc_buf_append(&b, s, n);
    } else if ((rc = cc_envelope_id_string(&b, &top[K_ID].it)) != 0) {
        rc = render_fail(rc, "_id", err, errlen);
        goto fail;
    }
    size_t tok_len = b.len - tok_off;
    cc_buf_putc(&b, '\0');

    bson_iter_t key_it;
    size_t docid_off = b.len;
    if (have[K_DOCKEY] && SUB_FIND(&top[K_DOCKEY].it, "_id", BSON_TYPE_EOD, &key_it) &&
        (rc = cc_envelope_id_string(&b, &key_it)) != 0) {
        rc = render_fail(rc, "documentKey._id", err, errlen);
        goto fail;
    }
    size_t docid_len = b.len - docid_off;
    cc_buf_putc(&b, '\0');

    if (recipients) {
        for (size_t i = 0; i < n_recipients; i++) {
            if (!recipients[i])
                continue;
            size_t start = b.len;
            cc_buf_puts(&b, recipients[i]);
            if ((rc = rset_commit(&rs, start)) != 0)
                goto nomem;
        }
    } else if (shape && shape->recipient) {
        rc = resolve_top(change, top, have, is_delete, shape->recipient, recipient_cb, &rs);
        if (rc != 0) {
            rc = render_fail(rc, shape->recipient, err, errlen);
            goto fail;
        }
    }

    /* The shared prefix, up to and including "recipient":. */
    size_t pre_off = b.len;
    cc_buf_lit(&b, "{\"operation\":");
    cc_buf_json_string(&b, op, op_len);
    cc_buf_lit(&b, ",\"collection\":");
    cc_buf_json_string(&b, coll, coll_len);
    cc_buf_lit(&b, ",\"document_id\":");
    json_self(&b, docid_off, docid_len);
    cc_buf_lit(&b, ",\"data\":");
    if ((rc = render_data(&b, change, shape, top, have, is_delete, err, errlen)) != 0)
        goto fail;

    double ts = 0.0;
    uint32_t ct_t = 0, ct_i = 0;
    size_t ct_t_off = 0, ct_t_len = 0;
    int have_ct =
        have[K_CLUSTER] && bson_iter_type_unsafe(&top[K_CLUSTER].it) == BSON_TYPE_TIMESTAMP;
    cc_buf_lit(&b, ",\"timestamp\":");
    if (have_ct) {
        bson_iter_timestamp(&top[K_CLUSTER].it, &ct_t, &ct_i);
        ts = (double)ct_t;
        ct_t_off = b.len;
        cc_buf_put_uint(&b, ct_t);
        ct_t_len = b.len - ct_t_off;
        cc_buf_lit(&b, ".0");
    } else if (have[K_WALL] && bson_iter_type_unsafe(&top[K_WALL].it) == BSON_TYPE_DATE_TIME) {
        ts = (double)bson_iter_date_time(&top[K_WALL].it) / 1000.0;
        cc_ejson_double(&b, ts);
    } else {
        cc_buf_lit(&b, "0.0");
    }
    cc_buf_lit(&b, ",\"namespace\":");
    if (db)
        cc_buf_json_string(&b, db, db_len);
    else
        cc_buf_lit(&b, "null");
    cc_buf_lit(&b, ",\"recipient\":");
    size_t pre_len = b.len - pre_off;

    /* The shared suffix, after the id. */
    size_t suf_off = b.len;
    cc_buf_lit(&b, ",\"cluster_time\":");
    if (have_ct) {
        cc_buf_lit(&b, "{\"t\":");
        copy_self(&b, ct_t_off, ct_t_len);   /* the digits written above */
        cc_buf_lit(&b, ",\"i\":");
        cc_buf_put_uint(&b, ct_i);
        cc_buf_putc(&b, '}');
    } else {
        cc_buf_lit(&b, "null");
    }
    if (is_update && (rc = render_update(&b, top, have, err, errlen)) != 0)
        goto fail;
    cc_buf_putc(&b, '}');
    size_t suf_len = b.len - suf_off;
    size_t shared_end = b.len;
    if (b.oom)
        goto nomem;

    size_t copies = rs.n ? rs.n : 1;
    if (vec_reserve(out, copies) != 0)
        goto nomem;

    for (size_t k = 0; k < copies; k++) {
        const span_t *r = rs.n ? &rs.v[k] : NULL;
        size_t id_off = tok_off, id_len = tok_len;
        if (rs.n > 1) {
            /* Copies get "<token>:<recipient>" so ids stay unique. */
            id_off = b.len;
            copy_self(&b, tok_off, tok_len);
            cc_buf_putc(&b, ':');
            copy_self(&b, r->off, r->len);
            id_len = b.len - id_off;
            cc_buf_putc(&b, '\0');
        }
        size_t json_off = b.len;
        copy_self(&b, pre_off, pre_len);
        if (r)
            json_self(&b, r->off, r->len);
        else
            cc_buf_lit(&b, "null");
        cc_buf_lit(&b, ",\"id\":");
        json_self(&b, id_off, id_len);
        copy_self(&b, suf_off, suf_len);
        if (b.oom)
            goto nomem;

        /* Pointers only now: every append above may have moved the data. */
        cc_event_init_t init = {
            .json = b.data + json_off,
            .json_len = b.len - json_off,
            .id = b.data + id_off,
            .recipient = r ? b.data + r->off : NULL,
            .operation = op,
            .database = db,
            .collection = coll,
            .document_id = b.data + docid_off,
            .timestamp = ts,
            .have_lens = 1,
            .id_len = id_len,
            .recipient_len = r ? r->len : 0,
            .operation_len = op_len,
            .database_len = db ? db_len : 0,
            .collection_len = coll_len,
            .document_id_len = docid_len,
        };
        cc_event_t *ev = cc_event_new(&init);
        if (!ev)
            goto nomem;
        out->v[out->n + made++] = ev;
        cc_buf_truncate(&b, shared_end);
    }
    out->n += made;
    rset_free(&rs);
    out->scratch = b;
    return 0;

nomem:
    cc_set_err(err, errlen, "out of memory");
    rc = CC_ENOMEM;
fail:
    for (size_t k = 0; k < made; k++)
        cc_event_unref(out->v[out->n + k]);
    rset_free(&rs);
    out->scratch = b;
    return rc;
}
