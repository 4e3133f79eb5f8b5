/* plugins/mongo/mongo_block.c — memory for the changes a reader queues.
 *
 * A reader copies every change it reads (next() reuses its buffer); a
 * malloc per change, freed on the emitter thread, costs more than the rest
 * of the reader's own work (a free from another thread misses the
 * allocating thread's cache). So small copies are bump-allocated from
 * 64 KB blocks: the reader carves, the emitter only drops a count, and the
 * block goes back to the heap (or is reused by its reader) when no change
 * in it is left. A copy above MG_BLOCK_BIG is a malloc of its own, so one
 * 16 MB document never pins a block.
 *
 * Threads: mg_block_alloc and mg_block_retire on the reader's thread (it
 * owns `*cur`); mg_block_release on any thread.
 */
#include <stdlib.h>

#include "plugins/mongo/mongo.h"

#define MG_BLOCK_SIZE ((size_t)64 << 10)
#define MG_BLOCK_BIG (MG_BLOCK_SIZE / 4)
#define MG_BLOCK_ALIGN 16

struct mg_block {
    /* Copies alive in the block, plus one while it is its reader's
     * current block. The last to drop it frees the block. */
    atomic_size_t refs;
    size_t used;                   /* reader only */
    _Alignas(MG_BLOCK_ALIGN) uint8_t data[MG_BLOCK_SIZE];
};

void mg_block_release(mg_block_t *b)
{
    /* acq_rel: the reader's writes into the copy, and the emitter's reads
     * of it, happen before whichever thread frees or reuses the block. */
    if (b != NULL && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}

void mg_block_retire(mg_block_t **cur)
{
    mg_block_release(*cur);
    *cur = NULL;
}

uint8_t *mg_block_alloc(mg_block_t **cur, size_t n, mg_block_t **owner)
{
    *owner = NULL;
    if (n > MG_BLOCK_BIG)
        return malloc(n);   /* owned by the caller's item: freed with free() */
    size_t need = (n + MG_BLOCK_ALIGN - 1) & ~(size_t)(MG_BLOCK_ALIGN - 1);
    mg_block_t *b = *cur;
    if (b != NULL && MG_BLOCK_SIZE - b->used < need) {
        /* Full. When every copy in it is gone already (the emitter keeps
         * up), start it over; else leave it to the last copy. */
        if (atomic_load_explicit(&b->refs, memory_order_acquire) == 1)
            b->used = 0;
        else
            mg_block_retire(cur);
    }
    if (*cur == NULL) {
        b = malloc(sizeof *b);   /* owned by its refs: the reader's and each copy's */
        if (b == NULL)
            return NULL;
        atomic_init(&b->refs, 1);
        b->used = 0;
        *cur = b;
    }
    b = *cur;
    uint8_t *p = b->data + b->used;
    b->used += need;
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    *owner = b;
    return p;
}
