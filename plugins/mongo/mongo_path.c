/* plugins/mongo/mongo_path.c — dotted paths into BSON and value text.
 *
 * The core's envelope builder is not reachable from a plugin (the daemon
 * exports no symbols), and the lookup needs the same rules for `local` and
 * `field`: this is a small copy of them. Pure; any thread.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/mongo/mongo.h"

/* Compact copy of libbson's relaxed Extended JSON: spaces outside strings
 * removed. Returns new or NULL. */
static char *mg_compact_json(const bson_iter_t *value)
{
    bson_t doc = BSON_INITIALIZER;
    if (!bson_append_iter(&doc, "v", 1, value)) {
        bson_destroy(&doc);
        return NULL;
    }
    size_t len = 0;
    char *json = bson_as_relaxed_extended_json(&doc, &len);
    bson_destroy(&doc);
    if (json == NULL)
        return NULL;
    /* json is { "v" : X }: keep X, without spaces outside strings. */
    char *start = strchr(json, ':');
    char *out = malloc(len + 1);
    if (start == NULL || out == NULL) {
        bson_free(json);
        free(out);
        return NULL;
    }
    size_t n = 0;
    bool in_str = false;
    for (const char *p = start + 1; *p; p++) {
        if (in_str) {
            out[n++] = *p;
            if (*p == '\\' && p[1])
                out[n++] = *++p;
            else if (*p == '"')
                in_str = false;
            continue;
        }
        if (*p == ' ' || *p == '\n' || *p == '\t')
            continue;
        if (*p == '"')
            in_str = true;
        out[n++] = *p;
    }
    /* Drop the closing brace of the wrapper. */
    if (n > 0 && out[n - 1] == '}')
        n--;
    out[n] = '\0';
    bson_free(json);
    return out;
}

static char *mg_double_string(double d)
{
    char buf[40];
    if (!isfinite(d))
        return strdup(isnan(d) ? "{\"$numberDouble\":\"NaN\"}"
                               : d > 0 ? "{\"$numberDouble\":\"Infinity\"}"
                                       : "{\"$numberDouble\":\"-Infinity\"}");
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    /* An integral double keeps a ".0" ("2.0"), as the core writes it. */
    if (strspn(buf, "-0123456789") == strlen(buf) && strlen(buf) < sizeof buf - 3)
        strcat(buf, ".0");
    return strdup(buf);
}

char *mg_value_string(const bson_iter_t *value)
{
    char buf[32];
    switch (bson_iter_type(value)) {
    case BSON_TYPE_UTF8: {
        uint32_t n = 0;
        const char *s = bson_iter_utf8(value, &n);
        char *out = malloc((size_t)n + 1);
        if (out != NULL) {
            memcpy(out, s, n);
            out[n] = '\0';
        }
        return out;
    }
    case BSON_TYPE_OID:
        bson_oid_to_string(bson_iter_oid(value), buf);
        return strdup(buf);
    case BSON_TYPE_INT32:
        snprintf(buf, sizeof buf, "%" PRId32, bson_iter_int32(value));
        return strdup(buf);
    case BSON_TYPE_INT64:
        snprintf(buf, sizeof buf, "%" PRId64, bson_iter_int64(value));
        return strdup(buf);
    case BSON_TYPE_DOUBLE:
        return mg_double_string(bson_iter_double(value));
    default:
        return mg_compact_json(value);
    }
}

/* Walks `path` (segment starting at seg) from the value at `it`. */
static int mg_path_walk(const bson_iter_t *it, const char *seg, mg_path_cb cb, void *arg,
                        int depth)
{
    if (seg == NULL || *seg == '\0') {
        /* An array at the end of the path gives each element. */
        if (BSON_ITER_HOLDS_ARRAY(it)) {
            bson_iter_t child;
            if (!bson_iter_recurse(it, &child))
                return 0;
            while (bson_iter_next(&child)) {
                int rc = cb(arg, &child);
                if (rc != 0)
                    return rc;
            }
            return 0;
        }
        return cb(arg, it);
    }
    if (depth > 100)
        return 0;
    const char *dot = strchr(seg, '.');
    size_t len = dot ? (size_t)(dot - seg) : strlen(seg);
    const char *rest = dot ? dot + 1 : NULL;
    bson_iter_t child;

    if (BSON_ITER_HOLDS_DOCUMENT(it)) {
        if (!bson_iter_recurse(it, &child))
            return 0;
        while (bson_iter_next(&child)) {
            if (bson_iter_key_len(&child) == len && memcmp(bson_iter_key(&child), seg, len) == 0)
                return mg_path_walk(&child, rest, cb, arg, depth + 1);
        }
        return 0;
    }
    if (BSON_ITER_HOLDS_ARRAY(it)) {
        bool numeric = len > 0 && len < 10;
        for (size_t i = 0; i < len && numeric; i++)
            numeric = isdigit((unsigned char)seg[i]) != 0;
        if (!bson_iter_recurse(it, &child))
            return 0;
        if (numeric) {
            while (bson_iter_next(&child)) {
                if (bson_iter_key_len(&child) == len &&
                    memcmp(bson_iter_key(&child), seg, len) == 0)
                    return mg_path_walk(&child, rest, cb, arg, depth + 1);
            }
            return 0;
        }
        /* A name maps over the array's documents. */
        while (bson_iter_next(&child)) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&child))
                continue;
            int rc = mg_path_walk(&child, seg, cb, arg, depth + 1);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

int mg_path_each(const bson_t *doc, const char *path, mg_path_cb cb, void *arg)
{
    static const char fd[] = "fullDocument";
    const size_t fd_len = sizeof fd - 1;
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    const char *rest = dot ? dot + 1 : NULL;
    char first[256];
    if (len == 0 || len >= sizeof first)
        return 0;
    memcpy(first, path, len);
    first[len] = '\0';

    bson_iter_t it;
    bool found = bson_iter_init_find(&it, doc, first);
    /* A delete carries the document only as its pre-image. */
    if (len == fd_len && memcmp(path, fd, fd_len) == 0 &&
        (!found || BSON_ITER_HOLDS_NULL(&it)))
        found = bson_iter_init_find(&it, doc, "fullDocumentBeforeChange");
    if (!found)
        return 0;
    return mg_path_walk(&it, rest, cb, arg, 0);
}
