/* ws_conflate.h — one socket's pending events while it is over its queue
 * limit, newest per document only.
 *
 * A FIFO of items plus a hash by document (database, collection,
 * document_id): adding an event whose document is already pending drops the
 * older one and appends the newer at the tail, both O(1). Items without a
 * document_id (collection-level events) are always appended. Sink thread only.
 */
#ifndef WS_CONFLATE_H
#define WS_CONFLATE_H

#include <stddef.h>

#include "ws_item.h"

typedef struct ws_cf_node ws_cf_node_t;

typedef struct ws_conflate {
    ws_cf_node_t **buckets;  /* owned; nbuckets, a power of two */
    size_t nbuckets;
    size_t count;            /* items pending */
    size_t bytes;            /* their frame bytes */
    ws_cf_node_t *head, *tail;
} ws_conflate_t;

/* Returns new (empty) or NULL. */
ws_conflate_t *ws_conflate_new(void);
/* Drops every pending item and frees. */
void ws_conflate_free(ws_conflate_t *cf, const cc_host_t *host);

/* Queues `it` (takes a reference). Returns 1 when it replaced a pending
 * event of the same document, 0 when appended, CC_ENOMEM (nothing taken). */
int ws_conflate_add(ws_conflate_t *cf, const cc_host_t *host, ws_item_t *it);

/* Takes the oldest pending item (returns its reference), or NULL. */
ws_item_t *ws_conflate_pop(ws_conflate_t *cf);

#endif
