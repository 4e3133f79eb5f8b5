/* ws_item.h — the bytes of one event, built once and shared by every socket.
 *
 * A blob is a refcounted byte buffer (a whole WebSocket text frame, or a
 * whole SSE message) handed to many connections' output evbuffers with
 * evbuffer_add_reference; each reference holds one count, dropped by the
 * evbuffer's cleanup callback when the bytes are written or the buffer freed.
 * An item is one delivered event with its blobs: the replay ring and the
 * conflation queues hold items.
 *
 * Everything here runs on the sink's event-loop thread (counts are not
 * atomic), except that a blob's cleanup may run while libevent frees a
 * buffer during event_base_free, after the sink is gone: blobs therefore
 * point at nothing of the sink's.
 */
#ifndef WS_ITEM_H
#define WS_ITEM_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "changecast/changecast.h"

typedef struct ws_blob {
    uint32_t refs;
    uint32_t len;
    char data[];
} ws_blob_t;

/* Returns new (refs = 1) with room for `len` bytes, or NULL. */
ws_blob_t *ws_blob_new(size_t len);
void ws_blob_unref(ws_blob_t *b);

/* The evbuffer cleanup callback of a blob reference: drops one count. */
void ws_blob_cleanup_cb(const void *data, size_t len, void *arg);

/* Appends the blob to `out` as a reference (no copy): takes one count, which
 * the evbuffer drops when done. Returns 0 or CC_ENOMEM. */
int ws_blob_send(ws_blob_t *b, struct evbuffer *out);

typedef struct ws_item {
    uint32_t refs;
    cc_event_t *ev;          /* owned reference (host->event_ref) */
    ws_blob_t *ws;           /* owned: the text frame, built at once */
    ws_blob_t *sse;          /* owned: "id: …\ndata: …\n\n", built on first need */
    uint64_t seq;            /* position in the sink's stream, from 1 */
    uint64_t doc_hash;       /* hash of database+collection+document_id (conflation) */
} ws_item_t;

/* Builds the item for `ev` (borrowed; a reference is taken) with its text
 * frame. Returns new (refs = 1) or NULL when out of memory. */
ws_item_t *ws_item_new(const cc_host_t *host, const cc_event_t *ev, uint64_t seq);
void ws_item_ref(ws_item_t *it);
void ws_item_unref(const cc_host_t *host, ws_item_t *it);
/* The SSE message, built on the first call. Borrowed (NULL: out of memory). */
ws_blob_t *ws_item_sse(const cc_host_t *host, ws_item_t *it);
/* Whether two items are about the same document (conflation key). Items
 * without a document_id (collection-level events) match nothing. */
int ws_item_same_doc(const cc_host_t *host, const ws_item_t *a, const ws_item_t *b);

/* A text frame / SSE message carrying `json` (borrowed), not tied to an
 * event: the gap notice. Returns new (refs = 1) or NULL. */
ws_blob_t *ws_blob_text_frame(const char *json, size_t len);
ws_blob_t *ws_blob_sse(const char *id, const char *json, size_t len);

#endif
