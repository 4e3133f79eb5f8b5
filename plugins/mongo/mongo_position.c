/* plugins/mongo/mongo_position.c — the source's position text.
 *
 * The core keeps one string per source; a source may run several streams,
 * so the position is a JSON object keyed by stream:
 *   {"test/users,orders": {"_data": "8263..."},
 *    "test/inventory|watch[2]": {"startAfter": {"_data": "8264..."}}}
 * A token is kept as relaxed Extended JSON of the event's `_id`, whatever
 * its shape. Pure; any thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/mongo/mongo.h"

int mg_text_put(mg_text_t *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 128;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (p == NULL)
            return CC_ENOMEM;
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
    return 0;
}

int mg_text_json_string(mg_text_t *t, const char *s)
{
    int rc = mg_text_put(t, "\"", 1);
    for (const char *p = s; rc == 0 && *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rc = mg_text_put(t, esc, 2);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            rc = mg_text_put(t, esc, 6);
        } else {
            rc = mg_text_put(t, p, 1);
        }
    }
    return rc ? rc : mg_text_put(t, "\"", 1);
}

void mg_text_free(mg_text_t *t)
{
    free(t->p);
    memset(t, 0, sizeof *t);
}

char *mg_position_value(const bson_t *token, bool start_after)
{
    size_t len = 0;
    char *json = bson_as_relaxed_extended_json(token, &len);
    if (json == NULL)
        return NULL;
    mg_text_t t = {0};
    int rc = 0;
    if (start_after)
        rc = mg_text_put(&t, "{\"startAfter\":", 14);
    /* libbson writes "{ "_data" : "..." }": drop the spaces outside strings. */
    bool in_str = false;
    for (size_t i = 0; rc == 0 && i < len; i++) {
        char c = json[i];
        if (in_str) {
            rc = mg_text_put(&t, &c, 1);
            if (c == '\\' && i + 1 < len)
                rc = rc ? rc : mg_text_put(&t, &json[++i], 1);
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == ' ' || c == '\n' || c == '\t')
            continue;
        if (c == '"')
            in_str = true;
        rc = mg_text_put(&t, &c, 1);
    }
    if (rc == 0 && start_after)
        rc = mg_text_put(&t, "}", 1);
    bson_free(json);
    if (rc != 0) {
        mg_text_free(&t);
        return NULL;
    }
    return t.p;
}

int mg_position_render(mg_text_t *t, const char *const *keys, const char *const *values, size_t n)
{
    t->len = 0;
    int rc = mg_text_put(t, "{", 1);
    bool first = true;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (values[i] == NULL)
            continue;
        if (!first)
            rc = mg_text_put(t, ",", 1);
        first = false;
        if (rc == 0)
            rc = mg_text_json_string(t, keys[i]);
        if (rc == 0)
            rc = mg_text_put(t, ":", 1);
        if (rc == 0)
            rc = mg_text_put(t, values[i], strlen(values[i]));
    }
    return rc ? rc : mg_text_put(t, "}", 1);
}

int mg_position_find(const char *position, const char *key, mg_from_t *from, char *err,
                     size_t errlen)
{
    bson_error_t berr;
    bson_t doc;
    if (!bson_init_from_json(&doc, position, -1, &berr)) {
        snprintf(err, errlen, "not a JSON object (%s)", berr.message);
        return CC_EPARSE;
    }
    bson_iter_t it;
    int rc = 0;
    if (bson_iter_init_find(&it, &doc, key)) {
        bson_t value, inner;
        const uint8_t *data;
        uint32_t len;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it)) {
            snprintf(err, errlen, "\"%s\": expected a resume token object", key);
            rc = CC_EPARSE;
        } else {
            bson_iter_document(&it, &len, &data);
            bson_init_static(&value, data, len);
            bson_iter_t sa;
            if (bson_iter_init_find(&sa, &value, "startAfter") && BSON_ITER_HOLDS_DOCUMENT(&sa)) {
                bson_iter_document(&sa, &len, &data);
                bson_init_static(&inner, data, len);
                rc = mg_from_set_token(from, MG_FROM_START_AFTER, &inner);
            } else {
                rc = mg_from_set_token(from, MG_FROM_RESUME, &value);
            }
            if (rc == 0)
                rc = 1;
        }
    }
    bson_destroy(&doc);
    return rc;
}
