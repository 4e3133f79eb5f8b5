/* core/envelope.h — from a change document to the SPEC envelope.
 *
 * The one implementation of the path rules for every source: dotted paths
 * into the change event, arrays giving several recipients, and the delete
 * fallback from fullDocument.x to fullDocumentBeforeChange.x.
 */
#ifndef CC_CORE_ENVELOPE_H
#define CC_CORE_ENVELOPE_H

#include <bson/bson.h>

#include "core/buf.h"
#include "core/event.h"

/* Opaque to plugins (see plugin.h); defined here for the core. */
#define CC_PATH_MAX_SEGMENTS 200

struct cc_shape {
    char **fields;        /* dotted paths, owned             */
    size_t n_fields;
    char *recipient;      /* dotted path or NULL, owned      */
};

/* Returns new, or NULL with a message in err ("recipient: empty path
 * segment in \"a..b\""). Paths are copied; a repeated field is kept once
 * (it would give a duplicate key in "data"); an empty or NULL recipient
 * means none. A path has at most CC_PATH_MAX_SEGMENTS segments. */
cc_shape_t *cc_shape_new(const char *const *fields, size_t n_fields, const char *recipient,
                         char *err, size_t errlen);
void cc_shape_free(cc_shape_t *shape);

/* A growable array of events. */
/* A growable array of events, with the builder's scratch text: keep one per
 * source thread and reuse it, so building allocates only the events. Zero
 * is an empty vector. */
typedef struct cc_event_vec {
    cc_event_t **v;
    size_t n, cap;
    cc_buf_t scratch;     /* owned; reused by cc_envelope_build */
} cc_event_vec_t;

void cc_event_vec_free(cc_event_vec_t *vec);   /* unrefs every event, frees array and scratch */

/* Builds the events for one change: one per recipient (several when the
 * recipient path reaches an array, or when `recipients` lists several), or
 * one broadcast. With recipients != NULL, those replace the shape's
 * recipient path (n_recipients == 0 then means broadcast).
 * `change` is borrowed. Appends new events to `out` (the caller owns them).
 * Returns 0, or CC_EPARSE with a message in err when the document is not a
 * change event (no operationType, ...), or CC_ENOMEM. On error `out` is
 * unchanged. Any thread. */
int cc_envelope_build(const bson_t *change, const cc_shape_t *shape,
                      const char *const *recipients, size_t n_recipients,
                      cc_event_vec_t *out, char *err, size_t errlen);

/* Renders a value the way document_id and recipients are written: a string
 * as itself (raw, not JSON-escaped), an ObjectId as 24 lowercase hex
 * digits, an integer as decimal, a double as the shortest text that reads
 * back ("1.5", "2.0"; non-finite as {"$numberDouble":"NaN"}), anything else
 * as compact relaxed Extended JSON. Appends to `out`. Returns 0 or a
 * cc_ejson_append_value error (CC_ERANGE, CC_EPARSE, CC_ENOMEM). */
struct cc_buf;
int cc_envelope_id_string(struct cc_buf *out, const bson_iter_t *value);

/* Calls `cb` for every value the dotted `path` reaches in `change` (the
 * path rules above: a numeric segment indexes an array, another segment
 * maps over an array's documents, "fullDocument..." falls back to
 * fullDocumentBeforeChange when fullDocument is absent or null). Stops at,
 * and returns, the first non-zero `cb` result; 0 otherwise. Borrowed
 * arguments; the iterator is valid only during the call. */
typedef int (*cc_path_cb)(void *arg, const bson_iter_t *value);
int cc_envelope_resolve(const bson_t *change, const char *path, cc_path_cb cb, void *arg);

#endif
