/* core/event.c — the immutable, reference-counted event. */
#include "core/event.h"

#include <stdlib.h>
#include <string.h>

#include "changecast/error.h"

/* Copies `s` (n bytes + NUL) to *at and advances it; returns the copy. */
static const char *place(char **at, const char *s, size_t n)
{
    char *dst = *at;
    if (n)
        memcpy(dst, s, n);
    dst[n] = '\0';
    *at = dst + n + 1;
    return dst;
}

cc_event_t *cc_event_new(const cc_event_init_t *init)
{
    /* One allocation: the struct, then every string. A NULL string other
     * than the recipient is stored as "" so readers never test for NULL. */
    const char *strs[6] = {init->id, init->recipient, init->operation,
                           init->database, init->collection, init->document_id};
    const size_t given[6] = {init->id_len, init->recipient_len, init->operation_len,
                             init->database_len, init->collection_len, init->document_id_len};
    size_t lens[6];
    size_t json_len = init->json ? init->json_len : 0;
    size_t total = sizeof(cc_event_t);

    if (json_len > SIZE_MAX - total - 1)
        return NULL;
    total += json_len + 1;
    for (int i = 0; i < 6; i++) {
        lens[i] = !strs[i] ? 0 : init->have_lens ? given[i] : strlen(strs[i]);
        if (lens[i] > SIZE_MAX - total - 1)
            return NULL;
        total += lens[i] + 1;
    }

    cc_event_t *ev = malloc(total);
    if (!ev)
        return NULL;
    memset(ev, 0, sizeof *ev);
    atomic_init(&ev->refs, 1u);
    ev->timestamp = init->timestamp;
    ev->op_mask = cc_op_mask(init->operation);

    char *at = (char *)(ev + 1);
    ev->json = place(&at, init->json ? init->json : "", json_len);
    ev->json_len = json_len;
    ev->id = place(&at, strs[0] ? strs[0] : "", lens[0]);
    ev->recipient = strs[1] ? place(&at, strs[1], lens[1]) : NULL;
    ev->operation = place(&at, strs[2] ? strs[2] : "", lens[2]);
    ev->database = place(&at, strs[3] ? strs[3] : "", lens[3]);
    ev->collection = place(&at, strs[4] ? strs[4] : "", lens[4]);
    ev->document_id = place(&at, strs[5] ? strs[5] : "", lens[5]);
    ev->position = NULL;
    return ev;
}

int cc_event_set_position(cc_event_t *ev, const char *position)
{
    char *copy = NULL;
    if (position) {
        size_t n = strlen(position);
        copy = malloc(n + 1);
        if (!copy)
            return CC_ENOMEM;
        memcpy(copy, position, n + 1);
    }
    free(ev->position);
    ev->position = copy;
    return 0;
}

cc_event_t *cc_event_ref(const cc_event_t *ev)
{
    /* The count is the one mutable part of an otherwise immutable event. */
    cc_event_t *e = (cc_event_t *)ev;
    if (e)
        atomic_fetch_add_explicit(&e->refs, 1u, memory_order_relaxed);
    return e;
}

void cc_event_unref(cc_event_t *ev)
{
    if (!ev)
        return;
    /* acq_rel: the last owner sees every other owner's writes before free. */
    if (atomic_fetch_sub_explicit(&ev->refs, 1u, memory_order_acq_rel) == 1u) {
        free(ev->position);
        free(ev);
    }
}

uint32_t cc_op_mask(const char *operation)
{
    static const struct {
        const char *name;
        uint32_t bit;
    } ops[] = {
        {"insert", CC_OP_INSERT},         {"update", CC_OP_UPDATE},
        {"replace", CC_OP_REPLACE},       {"delete", CC_OP_DELETE},
        {"invalidate", CC_OP_INVALIDATE}, {"drop", CC_OP_DROP},
        {"rename", CC_OP_RENAME},         {"dropDatabase", CC_OP_DROPDATABASE},
        {"snapshot", CC_OP_SNAPSHOT},
    };
    if (!operation)
        return CC_OP_OTHER;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(operation, ops[i].name) == 0)
            return ops[i].bit;
    return CC_OP_OTHER;
}
