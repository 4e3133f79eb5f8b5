/* plugins/redis/redis_queue.c — the sink's events between deliver and ack
 * (see redis_queue.h). */
#include "redis_queue.h"

#include <stdlib.h>

#include "changecast/error.h"

int redis_queue_push(redis_queue_t *q, cc_event_t *ev)
{
    if (q->tail - q->head == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 1024;
        cc_event_t **r = malloc(cap * sizeof *r);
        if (!r)
            return CC_ENOMEM;
        /* Same indices, new mask. */
        for (uint64_t i = q->head; i < q->tail; i++)
            r[i & (cap - 1)] = q->ring[i & (q->cap - 1)];
        free(q->ring);
        q->ring = r;
        q->cap = cap;
    }
    q->ring[q->tail++ & (q->cap - 1)] = ev;
    return 0;
}

cc_event_t *redis_queue_next(redis_queue_t *q)
{
    if (q->sent == q->tail)
        return NULL;
    return q->ring[q->sent++ & (q->cap - 1)];
}

void redis_queue_replied(redis_queue_t *q)
{
    if (q->done < q->sent)
        q->done++;
}

size_t redis_queue_acks(const redis_queue_t *q, cc_event_t *const **run)
{
    if (q->done == q->head)
        return 0;
    size_t at = (size_t)(q->head & (q->cap - 1));
    size_t n = (size_t)(q->done - q->head);
    if (n > q->cap - at)
        n = q->cap - at;   /* up to the end of the array; the rest next call */
    *run = &q->ring[at];
    return n;
}

void redis_queue_pop(redis_queue_t *q, size_t n)
{
    q->head += n;
}

uint64_t redis_queue_rewind(redis_queue_t *q)
{
    uint64_t n = q->sent - q->done;
    q->sent = q->done;
    return n;
}

void redis_queue_free(redis_queue_t *q)
{
    free(q->ring);
    q->ring = NULL;
    q->cap = 0;
    q->head = q->done = q->sent = q->tail = 0;
}
