/* ws_replay.h — the replay window: the last N events, found by id.
 *
 * A ring of items (each holding its event by reference) with a hash index
 * id → slot, so that a client resuming with `last_event_id` gets every kept
 * event after that id in O(1) lookup + O(k) iteration. Sink thread only.
 */
#ifndef WS_REPLAY_H
#define WS_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "ws_item.h"

typedef struct ws_replay {
    ws_item_t **ring;        /* owned references; cap slots */
    uint32_t *chain;         /* per slot: next slot in its bucket, or WS_REPLAY_END */
    uint32_t *buckets;       /* slot of the first item per bucket, or WS_REPLAY_END */
    size_t cap, nbuckets;    /* nbuckets: a power of two */
    size_t head, count;      /* oldest slot; items kept */
} ws_replay_t;

#define WS_REPLAY_END UINT32_MAX

/* Sets up a window of `cap` events (0 = keeps nothing). 0 or CC_ENOMEM. */
int ws_replay_init(ws_replay_t *r, size_t cap);
/* Drops every item (references released through `host`) and frees. */
void ws_replay_free(ws_replay_t *r, const cc_host_t *host);

/* Keeps `it` (takes a reference), evicting the oldest when full. */
void ws_replay_push(ws_replay_t *r, const cc_host_t *host, ws_item_t *it);

/* Looks `id` up. Returns 1 and sets *next to the index (0 = oldest) of the
 * first item after it, or 0 when the id is not in the window. */
int ws_replay_find(const ws_replay_t *r, const cc_host_t *host, const char *id, size_t *next);

/* The i-th kept item, 0 = oldest (borrowed). */
ws_item_t *ws_replay_at(const ws_replay_t *r, size_t i);

#endif
