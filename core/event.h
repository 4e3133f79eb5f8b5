/* core/event.h — the event every sink receives (opaque to plugins).
 *
 * An event is immutable after construction and reference-counted; its
 * envelope JSON is rendered once by the envelope builder and shared by every
 * sink. All strings live in the same allocation as the struct.
 */
#ifndef CC_CORE_EVENT_H
#define CC_CORE_EVENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "changecast/plugin.h"

struct cc_event {
    atomic_uint refs;
    uint32_t source;           /* index of the producing source, set by emit      */
    uint64_t seq;              /* bus sequence, set by cc_bus_publish             */
    uint64_t emit_ns;          /* CLOCK_MONOTONIC ns at emit, for latency metrics */
    double timestamp;          /* clusterTime seconds                             */
    uint32_t op_mask;          /* CC_OP_* bit of `operation`, for fast filtering;
                                  0 only on a position marker (emit_position),
                                  which no sink is given                          */
    const char *json;          /* the envelope, NUL-terminated                    */
    size_t json_len;
    const char *id;            /* envelope "id"                                    */
    const char *recipient;     /* NULL = broadcast                                */
    const char *operation;
    const char *database;
    const char *collection;
    const char *document_id;
    char *position;            /* resume position after this change, or NULL.
                                  Only the last event of a change carries it, so
                                  a partly acknowledged multi-recipient change is
                                  replayed whole. Owned (separate allocation). */
};

/* Fields for cc_event_new; every string is copied (borrowed). A NULL
 * string other than `recipient` is stored as "", so the event's strings are
 * never NULL except `recipient` (NULL = broadcast). */
typedef struct cc_event_init {
    const char *json; size_t json_len;
    const char *id;
    const char *recipient;     /* may be NULL */
    const char *operation;
    const char *database;
    const char *collection;
    const char *document_id;
    double timestamp;
    /* With have_lens set, the lengths of id .. document_id (the builder
     * knows them: no strlen on the hot path); else each is measured. */
    int have_lens;
    size_t id_len, recipient_len, operation_len, database_len, collection_len,
        document_id_len;
} cc_event_init_t;

/* Returns new (refs = 1), or NULL on out of memory. */
cc_event_t *cc_event_new(const cc_event_init_t *init);
/* Sets the position (copied). 0 or CC_ENOMEM. Only before publishing. */
int cc_event_set_position(cc_event_t *ev, const char *position);
cc_event_t *cc_event_ref(const cc_event_t *ev);
void cc_event_unref(cc_event_t *ev);

/* Operation bits for `where.operation` filters. */
#define CC_OP_INSERT       (1u << 0)
#define CC_OP_UPDATE       (1u << 1)
#define CC_OP_REPLACE      (1u << 2)
#define CC_OP_DELETE       (1u << 3)
#define CC_OP_INVALIDATE   (1u << 4)
#define CC_OP_DROP         (1u << 5)
#define CC_OP_RENAME       (1u << 6)
#define CC_OP_DROPDATABASE (1u << 7)
#define CC_OP_SNAPSHOT     (1u << 8)
#define CC_OP_OTHER        (1u << 31)
/* Maps an operationType to its CC_OP_* bit (CC_OP_OTHER when unknown). */
uint32_t cc_op_mask(const char *operation);

#endif
