/* ws_hub.c — who gets what: recipient -> its open connections, and the list
 * of every open connection (broadcasts). Sink thread only. */
#include <stdlib.h>
#include <string.h>

#include "ws_sink.h"

static uint64_t ws_hub_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

int ws_hub_init(ws_hub_t *h)
{
    memset(h, 0, sizeof *h);
    h->nbuckets = 256;
    h->buckets = calloc(h->nbuckets, sizeof *h->buckets);
    return h->buckets ? 0 : CC_ENOMEM;
}

void ws_hub_free(ws_hub_t *h)
{
    for (size_t i = 0; i < h->nbuckets; i++) {
        ws_rcpt_t *r = h->buckets[i];
        while (r) {
            ws_rcpt_t *n = r->hnext;
            free(r->name);
            free(r);
            r = n;
        }
    }
    free(h->buckets);
    memset(h, 0, sizeof *h);
}

static ws_rcpt_t **ws_hub_slot(const ws_hub_t *h, const char *name)
{
    ws_rcpt_t **p = &h->buckets[ws_hub_hash(name) & (h->nbuckets - 1)];
    while (*p && strcmp((*p)->name, name) != 0)
        p = &(*p)->hnext;
    return p;
}

/* Doubles the table when chains grow; on failure keeps the old one. */
static void ws_hub_grow(ws_hub_t *h)
{
    size_t nb = h->nbuckets * 2;
    ws_rcpt_t **b = calloc(nb, sizeof *b);
    if (b == NULL)
        return;
    for (size_t i = 0; i < h->nbuckets; i++) {
        ws_rcpt_t *r = h->buckets[i];
        while (r) {
            ws_rcpt_t *n = r->hnext;
            size_t j = ws_hub_hash(r->name) & (nb - 1);
            r->hnext = b[j];
            b[j] = r;
            r = n;
        }
    }
    free(h->buckets);
    h->buckets = b;
    h->nbuckets = nb;
}

int ws_hub_add(ws_hub_t *h, ws_conn_t *c, const char *recipient)
{
    if (recipient != NULL) {
        ws_rcpt_t **p = ws_hub_slot(h, recipient);
        ws_rcpt_t *r = *p;
        if (r == NULL) {
            r = calloc(1, sizeof *r);
            if (r == NULL || (r->name = strdup(recipient)) == NULL) {
                free(r);
                return CC_ENOMEM;
            }
            *p = r;
            h->nrcpt++;
        }
        c->rcpt = r;
        c->rprev = NULL;
        c->rnext = r->conns;
        if (r->conns)
            r->conns->rprev = c;
        r->conns = c;
        if (h->nrcpt > h->nbuckets)
            ws_hub_grow(h);
    }
    c->prev = NULL;
    c->next = h->open;
    if (h->open)
        h->open->prev = c;
    h->open = c;
    c->in_open_list = true;
    h->n_open++;
    if (c->kind == WS_KIND_SSE)
        h->n_sse++;
    return 0;
}

void ws_hub_remove(ws_hub_t *h, ws_conn_t *c)
{
    if (!c->in_open_list)
        return;
    ws_rcpt_t *r = c->rcpt;
    if (r != NULL) {
        if (c->rprev)
            c->rprev->rnext = c->rnext;
        else
            r->conns = c->rnext;
        if (c->rnext)
            c->rnext->rprev = c->rprev;
        c->rprev = c->rnext = NULL;
        c->rcpt = NULL;
        if (r->conns == NULL) {
            ws_rcpt_t **p = ws_hub_slot(h, r->name);
            *p = r->hnext;
            free(r->name);
            free(r);
            h->nrcpt--;
        }
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        h->open = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->in_open_list = false;
    h->n_open--;
    if (c->kind == WS_KIND_SSE)
        h->n_sse--;
}

ws_conn_t *ws_hub_find(const ws_hub_t *h, const char *recipient)
{
    ws_rcpt_t *r = *ws_hub_slot(h, recipient);
    return r ? r->conns : NULL;
}
