/* http_queue.c — per-recipient FIFOs and the list of heads ready to send.
 *
 * Events for one recipient go out one at a time, in order: only a FIFO's
 * head is ever in flight or waiting for a retry, so a failing recipient holds
 * back its own later events and nobody else's. Keys live in a chained hash
 * table (broadcasts in their own key) and exist only while they hold events,
 * so a stream over millions of recipients keeps only the busy ones. Keys
 * whose head may be sent wait in a FIFO "ready list": filling the
 * concurrency slots from it is round-robin over recipients.
 */
#include <stdlib.h>
#include <string.h>

#include "changecast/error.h"
#include "http.h"

#define HTTP_QUEUE_BUCKETS 64

static uint32_t key_hash(const char *s)
{
    uint32_t h = 2166136261u;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int http_queue_init(http_queue_t *q, void *owner, void (*key_free_cb)(http_key_t *))
{
    *q = (http_queue_t){.owner = owner, .key_free_cb = key_free_cb};
    q->buckets = calloc(HTTP_QUEUE_BUCKETS, sizeof *q->buckets);
    if (q->buckets == NULL)
        return CC_ENOMEM;
    q->nbuckets = HTTP_QUEUE_BUCKETS;
    return 0;
}

static void key_free(http_queue_t *q, http_key_t *k)
{
    if (q->key_free_cb)
        q->key_free_cb(k);
    for (http_item_t *it = k->head, *next; it; it = next) {
        next = it->next;
        free(it);
    }
    free(k->recipient);
    free(k->reason);
    free(k);
}

void http_queue_free(http_queue_t *q)
{
    for (size_t i = 0; i < q->nbuckets; i++)
        for (http_key_t *k = q->buckets[i], *next; k; k = next) {
            next = k->hnext;
            key_free(q, k);
        }
    if (q->broadcast)
        key_free(q, q->broadcast);
    free(q->buckets);
    *q = (http_queue_t){0};
}

static void queue_grow(http_queue_t *q)
{
    size_t n = q->nbuckets * 2;
    http_key_t **b = calloc(n, sizeof *b);
    if (b == NULL)
        return;   /* longer chains, still correct */
    for (size_t i = 0; i < q->nbuckets; i++)
        for (http_key_t *k = q->buckets[i], *next; k; k = next) {
            next = k->hnext;
            k->hnext = b[k->hash & (n - 1)];
            b[k->hash & (n - 1)] = k;
        }
    free(q->buckets);
    q->buckets = b;
    q->nbuckets = n;
}

static void ready_append(http_queue_t *q, http_key_t *k)
{
    k->state = HTTP_KEY_READY;
    k->rnext = NULL;
    if (q->ready_tail)
        q->ready_tail->rnext = k;
    else
        q->ready_head = k;
    q->ready_tail = k;
}

static http_key_t *key_find(http_queue_t *q, const char *recipient, uint32_t h)
{
    if (recipient == NULL)
        return q->broadcast;
    for (http_key_t *k = q->buckets[h & (q->nbuckets - 1)]; k; k = k->hnext)
        if (k->hash == h && strcmp(k->recipient, recipient) == 0)
            return k;
    return NULL;
}

http_key_t *http_queue_push(http_queue_t *q, const char *recipient, void *ev)
{
    uint32_t h = recipient ? key_hash(recipient) : 0;
    http_key_t *k = key_find(q, recipient, h);
    http_item_t *it = malloc(sizeof *it);
    if (it == NULL)
        return NULL;
    *it = (http_item_t){.ev = ev};
    if (k == NULL) {
        k = calloc(1, sizeof *k);
        char *r = recipient ? strdup(recipient) : NULL;
        if (k == NULL || (recipient && r == NULL)) {
            free(k);
            free(it);
            return NULL;
        }
        k->recipient = r;
        k->hash = h;
        k->status = -1;
        k->owner = q->owner;
        if (recipient) {
            if (q->nkeys >= q->nbuckets)
                queue_grow(q);
            k->hnext = q->buckets[h & (q->nbuckets - 1)];
            q->buckets[h & (q->nbuckets - 1)] = k;
            q->nkeys++;
        } else {
            q->broadcast = k;
        }
        ready_append(q, k);
    }
    if (k->tail)
        k->tail->next = it;
    else
        k->head = it;
    k->tail = it;
    k->len++;
    q->nitems++;
    return k;
}

http_key_t *http_queue_take(http_queue_t *q)
{
    http_key_t *k = q->ready_head;
    if (k == NULL)
        return NULL;
    q->ready_head = k->rnext;
    if (q->ready_head == NULL)
        q->ready_tail = NULL;
    k->rnext = NULL;
    k->state = HTTP_KEY_BUSY;
    return k;
}

void http_queue_ready(http_queue_t *q, http_key_t *key)
{
    if (key->state != HTTP_KEY_READY)
        ready_append(q, key);
}

static void key_unlink(http_queue_t *q, http_key_t *k)
{
    if (k->recipient == NULL) {
        q->broadcast = NULL;
        return;
    }
    http_key_t **p = &q->buckets[k->hash & (q->nbuckets - 1)];
    while (*p != k)
        p = &(*p)->hnext;
    *p = k->hnext;
    q->nkeys--;
}

void *http_queue_pop(http_queue_t *q, http_key_t *key)
{
    http_item_t *it = key->head;
    void *ev = it->ev;
    key->head = it->next;
    if (key->head == NULL)
        key->tail = NULL;
    key->len--;
    q->nitems--;
    free(it);
    key->attempts = 0;
    key->status = -1;
    key->dead = false;
    key->retrying = false;
    free(key->reason);
    key->reason = NULL;
    if (key->head) {
        ready_append(q, key);
    } else {
        key_unlink(q, key);
        key_free(q, key);
    }
    return ev;
}
