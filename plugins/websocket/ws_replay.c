/* ws_replay.c — ring of the last events with an id index. */
#include <stdlib.h>
#include <string.h>

#include "ws_replay.h"

static uint64_t ws_replay_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

int ws_replay_init(ws_replay_t *r, size_t cap)
{
    memset(r, 0, sizeof *r);
    if (cap == 0)
        return 0;
    if (cap >= WS_REPLAY_END / 2)
        return CC_EINVAL;
    size_t nb = 16;
    while (nb < cap * 2)
        nb <<= 1;
    r->ring = calloc(cap, sizeof *r->ring);
    r->chain = malloc(cap * sizeof *r->chain);
    r->buckets = malloc(nb * sizeof *r->buckets);
    if (r->ring == NULL || r->chain == NULL || r->buckets == NULL) {
        free(r->ring);
        free(r->chain);
        free(r->buckets);
        memset(r, 0, sizeof *r);
        return CC_ENOMEM;
    }
    for (size_t i = 0; i < nb; i++)
        r->buckets[i] = WS_REPLAY_END;
    r->cap = cap;
    r->nbuckets = nb;
    return 0;
}

void ws_replay_free(ws_replay_t *r, const cc_host_t *host)
{
    for (size_t i = 0; i < r->count; i++)
        ws_item_unref(host, r->ring[(r->head + i) % r->cap]);
    free(r->ring);
    free(r->chain);
    free(r->buckets);
    memset(r, 0, sizeof *r);
}

static size_t ws_replay_bucket(const ws_replay_t *r, const cc_host_t *host, const ws_item_t *it)
{
    return (size_t)ws_replay_hash(host->event_id(it->ev)) & (r->nbuckets - 1);
}

/* Takes slot `s` (the oldest) out of its bucket's chain. */
static void ws_replay_unlink(ws_replay_t *r, const cc_host_t *host, uint32_t s)
{
    uint32_t *p = &r->buckets[ws_replay_bucket(r, host, r->ring[s])];
    while (*p != s && *p != WS_REPLAY_END)
        p = &r->chain[*p];
    if (*p == s)
        *p = r->chain[s];
}

void ws_replay_push(ws_replay_t *r, const cc_host_t *host, ws_item_t *it)
{
    if (r->cap == 0)
        return;
    uint32_t s;
    if (r->count == r->cap) {
        s = (uint32_t)r->head;
        ws_replay_unlink(r, host, s);
        ws_item_unref(host, r->ring[s]);
        r->head = (r->head + 1) % r->cap;
        r->count--;
    } else {
        s = (uint32_t)((r->head + r->count) % r->cap);
    }
    ws_item_ref(it);
    r->ring[s] = it;
    size_t b = ws_replay_bucket(r, host, it);
    r->chain[s] = r->buckets[b];
    r->buckets[b] = s;
    r->count++;
}

int ws_replay_find(const ws_replay_t *r, const cc_host_t *host, const char *id, size_t *next)
{
    if (r->cap == 0 || id == NULL)
        return 0;
    size_t b = (size_t)ws_replay_hash(id) & (r->nbuckets - 1);
    for (uint32_t s = r->buckets[b]; s != WS_REPLAY_END; s = r->chain[s]) {
        if (strcmp(host->event_id(r->ring[s]->ev), id) == 0) {
            *next = ((s + r->cap - r->head) % r->cap) + 1;
            return 1;
        }
    }
    return 0;
}

ws_item_t *ws_replay_at(const ws_replay_t *r, size_t i)
{
    return r->ring[(r->head + i) % r->cap];
}
