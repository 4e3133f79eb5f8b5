/* plugins/redis/redis_queue.h — the sink's events between deliver and ack.
 *
 * One ring in delivery order with three marks: head (oldest not yet
 * acknowledged to the core), done (oldest whose replies have not all come
 * back), sent (oldest not yet written to Redis). Replies come back in the
 * order commands were written, so "done" only moves forward one event at a
 * time; after a lost connection "sent" goes back to "done" and those events
 * are written again, in order. The events are borrowed from the core (valid
 * until acknowledged). Pure: no I/O; the sink's thread.
 */
#ifndef CC_REDIS_QUEUE_H
#define CC_REDIS_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "changecast/plugin.h"

typedef struct redis_queue {
    cc_event_t **ring;     /* owned array (not the events); cap is a power of two */
    size_t cap;
    uint64_t head, done, sent, tail;
} redis_queue_t;

/* Appends (borrowed). 0 or CC_ENOMEM. */
int redis_queue_push(redis_queue_t *q, cc_event_t *ev);
/* The next event to write, moving "sent" past it; NULL when all are sent. */
cc_event_t *redis_queue_next(redis_queue_t *q);
/* Every reply of the oldest sent-but-not-done event arrived. */
void redis_queue_replied(redis_queue_t *q);
/* The done-but-not-acknowledged events as one contiguous run (the first
 * part when the run wraps); returns how many (0 = none). Pass that count to
 * redis_queue_pop after acknowledging them. */
size_t redis_queue_acks(const redis_queue_t *q, cc_event_t *const **run);
void redis_queue_pop(redis_queue_t *q, size_t n);
/* The connection was lost: sent-but-not-done events go out again. Returns
 * how many. */
uint64_t redis_queue_rewind(redis_queue_t *q);
void redis_queue_free(redis_queue_t *q);

static inline uint64_t redis_queue_unsent(const redis_queue_t *q) { return q->tail - q->sent; }
static inline uint64_t redis_queue_held(const redis_queue_t *q) { return q->tail - q->head; }

#endif
