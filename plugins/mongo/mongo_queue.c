/* plugins/mongo/mongo_queue.c — the bounded queue from readers to emitter.
 *
 * Readers (one per stream) push copies of the changes they read; the
 * emitter takes what is there in one go, so batches form by themselves
 * while the core is busy. Full: the reader waits, and the server keeps the
 * rest (backpressure reaches the change stream). Any thread.
 */
#include <stdlib.h>
#include <string.h>

#include "plugins/mongo/mongo.h"

void mg_item_clear(mg_item_t *it)
{
    if (it->block != NULL)
        mg_block_release(it->block);
    else
        free(it->doc);
    mg_strv_free(it->recips, it->n_recips);
    memset(it, 0, sizeof *it);
}

int mg_queue_init(mg_queue_t *q, size_t cap, size_t max_bytes)
{
    memset(q, 0, sizeof *q);
    q->items = calloc(cap, sizeof *q->items);
    if (q->items == NULL)
        return CC_ENOMEM;
    q->cap = cap;
    q->max_bytes = max_bytes;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    return 0;
}

void mg_queue_free(mg_queue_t *q)
{
    if (q->items == NULL)
        return;
    for (size_t k = 0; k < q->count; k++)
        mg_item_clear(&q->items[(q->head + k) % q->cap]);
    free(q->items);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    memset(q, 0, sizeof *q);
}

int mg_queue_push(mg_queue_t *q, mg_item_t *it)
{
    pthread_mutex_lock(&q->mu);
    /* Large documents bound the queue by bytes too: 8192 items of 16 MB
     * must not pile up in memory. */
    while ((q->count == q->cap || (q->count > 0 && q->bytes + it->len > q->max_bytes)) &&
           !q->closed)
        pthread_cond_wait(&q->not_full, &q->mu);
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        return CC_ECLOSED;
    }
    q->items[(q->head + q->count) % q->cap] = *it;
    q->count++;
    q->bytes += it->len;
    memset(it, 0, sizeof *it);
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

size_t mg_queue_pop(mg_queue_t *q, mg_item_t *out, size_t max)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->closed)
        pthread_cond_wait(&q->not_empty, &q->mu);
    size_t n = q->count < max ? q->count : max;
    for (size_t k = 0; k < n; k++) {
        out[k] = q->items[q->head];
        q->bytes -= out[k].len;
        memset(&q->items[q->head], 0, sizeof q->items[q->head]);
        q->head = (q->head + 1) % q->cap;
    }
    q->count -= n;
    if (n > 0)
        pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    return n;
}

void mg_queue_close(mg_queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
}
