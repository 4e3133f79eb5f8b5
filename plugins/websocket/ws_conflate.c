/* ws_conflate.c — newest-per-document pending queue. */
#include <stdlib.h>

#include "ws_conflate.h"

struct ws_cf_node {
    ws_item_t *it;                    /* owned reference */
    ws_cf_node_t *prev, *next;        /* FIFO */
    ws_cf_node_t *hnext;              /* bucket chain (documents only) */
};

ws_conflate_t *ws_conflate_new(void)
{
    ws_conflate_t *cf = calloc(1, sizeof *cf);
    if (cf == NULL)
        return NULL;
    cf->nbuckets = 64;
    cf->buckets = calloc(cf->nbuckets, sizeof *cf->buckets);
    if (cf->buckets == NULL) {
        free(cf);
        return NULL;
    }
    return cf;
}

void ws_conflate_free(ws_conflate_t *cf, const cc_host_t *host)
{
    if (cf == NULL)
        return;
    ws_cf_node_t *n = cf->head;
    while (n != NULL) {
        ws_cf_node_t *next = n->next;
        ws_item_unref(host, n->it);
        free(n);
        n = next;
    }
    free(cf->buckets);
    free(cf);
}

/* Doubles the bucket table when the chains grow long; keeps going on failure. */
static void ws_conflate_grow(ws_conflate_t *cf)
{
    size_t nb = cf->nbuckets * 2;
    ws_cf_node_t **b = calloc(nb, sizeof *b);
    if (b == NULL)
        return;
    for (ws_cf_node_t *n = cf->head; n != NULL; n = n->next) {
        if (n->it->doc_hash == 0)
            continue;
        size_t i = (size_t)n->it->doc_hash & (nb - 1);
        n->hnext = b[i];
        b[i] = n;
    }
    free(cf->buckets);
    cf->buckets = b;
    cf->nbuckets = nb;
}

static void ws_conflate_unlink(ws_conflate_t *cf, ws_cf_node_t *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        cf->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        cf->tail = n->prev;
    n->prev = n->next = NULL;
}

static void ws_conflate_append(ws_conflate_t *cf, ws_cf_node_t *n)
{
    n->prev = cf->tail;
    n->next = NULL;
    if (cf->tail)
        cf->tail->next = n;
    else
        cf->head = n;
    cf->tail = n;
}

int ws_conflate_add(ws_conflate_t *cf, const cc_host_t *host, ws_item_t *it)
{
    if (it->doc_hash != 0) {
        size_t i = (size_t)it->doc_hash & (cf->nbuckets - 1);
        for (ws_cf_node_t *n = cf->buckets[i]; n != NULL; n = n->hnext) {
            if (ws_item_same_doc(host, n->it, it)) {
                cf->bytes += (size_t)it->ws->len - n->it->ws->len;
                ws_item_unref(host, n->it);
                ws_item_ref(it);
                n->it = it;
                ws_conflate_unlink(cf, n);
                ws_conflate_append(cf, n);
                return 1;
            }
        }
    }
    ws_cf_node_t *n = calloc(1, sizeof *n);
    if (n == NULL)
        return CC_ENOMEM;
    ws_item_ref(it);
    n->it = it;
    ws_conflate_append(cf, n);
    if (it->doc_hash != 0) {
        size_t i = (size_t)it->doc_hash & (cf->nbuckets - 1);
        n->hnext = cf->buckets[i];
        cf->buckets[i] = n;
    }
    cf->count++;
    cf->bytes += it->ws->len;
    if (cf->count > cf->nbuckets * 2)
        ws_conflate_grow(cf);
    return 0;
}

ws_item_t *ws_conflate_pop(ws_conflate_t *cf)
{
    ws_cf_node_t *n = cf->head;
    if (n == NULL)
        return NULL;
    if (n->it->doc_hash != 0) {
        ws_cf_node_t **p = &cf->buckets[(size_t)n->it->doc_hash & (cf->nbuckets - 1)];
        while (*p != n)
            p = &(*p)->hnext;
        *p = n->hnext;
    }
    ws_conflate_unlink(cf, n);
    ws_item_t *it = n->it;
    cf->count--;
    cf->bytes -= it->ws->len;
    free(n);
    return it;
}
