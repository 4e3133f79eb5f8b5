/* core/envelope_read.c — an event from an envelope built elsewhere (see
 * envelope_read.h). */
#include "core/envelope_read.h"

#include <stdio.h>

#include <jansson.h>

#include "changecast/error.h"

/* The string at `key`; NULL with the reason in err when it is absent or not
 * a string. */
static const char *want_string(json_t *obj, const char *key, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        snprintf(err, errlen, "envelope: \"%s\" %s", key,
                 v ? "must be a string" : "is missing");
        return NULL;
    }
    return json_string_value(v);
}

int cc_envelope_read(const char *json, size_t len, cc_event_t **out, char *err, size_t errlen)
{
    json_error_t jerr;
    *out = NULL;
    /* Duplicate keys would make the envelope mean two things to two
     * readers: refuse them. */
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "envelope is not JSON: %s (at byte %d)", jerr.text, jerr.position);
        return CC_EPARSE;
    }
    int rc = CC_EPARSE;
    cc_event_init_t init = {.json = json, .json_len = len};
    if (!json_is_object(root)) {
        snprintf(err, errlen, "envelope must be a JSON object");
        goto out;
    }
    if (!(init.id = want_string(root, "id", err, errlen)) ||
        !(init.operation = want_string(root, "operation", err, errlen)) ||
        !(init.collection = want_string(root, "collection", err, errlen)) ||
        !(init.database = want_string(root, "namespace", err, errlen)) ||
        !(init.document_id = want_string(root, "document_id", err, errlen)))
        goto out;
    json_t *r = json_object_get(root, "recipient");
    if (json_is_string(r)) {
        init.recipient = json_string_value(r);
    } else if (!json_is_null(r)) {
        snprintf(err, errlen, "envelope: \"recipient\" %s",
                 r ? "must be a string or null" : "is missing");
        goto out;
    }
    json_t *ts = json_object_get(root, "timestamp");
    if (!json_is_number(ts)) {
        snprintf(err, errlen, "envelope: \"timestamp\" %s", ts ? "must be a number" : "is missing");
        goto out;
    }
    init.timestamp = json_number_value(ts);
    *out = cc_event_new(&init);   /* copies every string: root can go */
    rc = *out ? 0 : CC_ENOMEM;
    if (rc)
        snprintf(err, errlen, "out of memory");
out:
    json_decref(root);
    return rc;
}
