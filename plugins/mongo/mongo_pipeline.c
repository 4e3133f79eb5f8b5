/* plugins/mongo/mongo_pipeline.c — the $changeStream pipeline and options.
 *
 * Pure: from a stream plan and the source's settings to BSON, so unit tests
 * check every watch form without a server. Any thread.
 */
#include <stdio.h>
#include <string.h>

#include "plugins/mongo/mongo.h"

const char *const mg_op_names[] = {
#define MG__OP_NAME(id, name) name,
    MG_OPS(MG__OP_NAME)
#undef MG__OP_NAME
    NULL
};

unsigned mg_op_bit(const char *name, size_t len)
{
    /* Once per change read: the common ones first, without strlen. */
    if (len == 6 && memcmp(name, "insert", 6) == 0)
        return MG_OP(INSERT);
    if (len == 6 && memcmp(name, "update", 6) == 0)
        return MG_OP(UPDATE);
    for (size_t i = 0; mg_op_names[i]; i++) {
        if (strlen(mg_op_names[i]) == len && memcmp(mg_op_names[i], name, len) == 0)
            return 1u << i;
    }
    return 0;
}

void mg_from_clear(mg_from_t *f)
{
    if (f->token)
        bson_destroy(f->token);
    memset(f, 0, sizeof *f);
}

int mg_from_set_token(mg_from_t *f, mg_from_kind_t kind, const bson_t *token)
{
    /* Once per change read: the token's bson_t is kept and its bytes
     * overwritten, not copied anew (bson_copy is an aligned malloc, and a
     * free each time). */
    if (f->token != NULL) {
        bson_reinit(f->token);
        uint8_t *room = bson_reserve_buffer(f->token, token->len);
        if (room == NULL) {
            mg_from_clear(f);
            return CC_ENOMEM;
        }
        memcpy(room, bson_get_data(token), token->len);
    } else {
        bson_t *copy = bson_copy(token);
        if (copy == NULL)
            return CC_ENOMEM;
        f->token = copy;
    }
    f->kind = kind;
    f->t = f->i = 0;
    return 0;
}

void mg_pipeline_build(const mg_plan_t *plan, bson_t *out)
{
    bson_t arr, stage, match, in, ins;
    char key[24];
    size_t n = 0;

    bson_init(out);
    BSON_APPEND_ARRAY_BEGIN(out, "pipeline", &arr);

    /* The operation filter; "invalidate" always passes so the stream can
     * be restarted after it. */
    snprintf(key, sizeof key, "%zu", n++);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, key, &stage);
    BSON_APPEND_DOCUMENT_BEGIN(&stage, "$match", &match);
    BSON_APPEND_DOCUMENT_BEGIN(&match, "operationType", &in);
    BSON_APPEND_ARRAY_BEGIN(&in, "$in", &ins);
    size_t k = 0;
    unsigned ops = plan->ops | MG_OP(INVALIDATE);
    for (size_t i = 0; mg_op_names[i]; i++) {
        if (!(ops & (1u << i)))
            continue;
        snprintf(key, sizeof key, "%zu", k++);
        BSON_APPEND_UTF8(&ins, key, mg_op_names[i]);
    }
    bson_append_array_end(&in, &ins);
    bson_append_document_end(&match, &in);
    bson_append_document_end(&stage, &match);
    bson_append_document_end(&arr, &stage);

    /* Entries sharing a database stream: only their collections (plus the
     * collection-less events: invalidate, dropDatabase). */
    if (plan->filter_ns) {
        bson_t or, alt, coll;
        snprintf(key, sizeof key, "%zu", n++);
        BSON_APPEND_DOCUMENT_BEGIN(&arr, key, &stage);
        BSON_APPEND_DOCUMENT_BEGIN(&stage, "$match", &match);
        BSON_APPEND_ARRAY_BEGIN(&match, "$or", &or);
        BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &alt);
        BSON_APPEND_DOCUMENT_BEGIN(&alt, "ns.coll", &coll);
        BSON_APPEND_ARRAY_BEGIN(&coll, "$in", &ins);
        for (size_t i = 0; i < plan->n_entries; i++) {
            snprintf(key, sizeof key, "%zu", i);
            BSON_APPEND_UTF8(&ins, key, plan->entries[i]->collection);
        }
        bson_append_array_end(&coll, &ins);
        bson_append_document_end(&alt, &coll);
        bson_append_document_end(&or, &alt);
        BSON_APPEND_DOCUMENT_BEGIN(&or, "1", &alt);
        BSON_APPEND_DOCUMENT_BEGIN(&alt, "ns.coll", &coll);
        BSON_APPEND_BOOL(&coll, "$exists", false);
        bson_append_document_end(&alt, &coll);
        bson_append_document_end(&or, &alt);
        bson_append_array_end(&match, &or);
        bson_append_document_end(&stage, &match);
        bson_append_document_end(&arr, &stage);
    }

    /* The user's stages, after the filter. */
    if (plan->user_pipeline) {
        bson_iter_t it;
        if (bson_iter_init(&it, plan->user_pipeline)) {
            while (bson_iter_next(&it)) {
                snprintf(key, sizeof key, "%zu", n++);
                bson_append_iter(&arr, key, -1, &it);
            }
        }
    }
    bson_append_array_end(out, &arr);
}

void mg_opts_build(const mg_settings_t *s, const mg_from_t *from, bson_t *out)
{
    static const char *const fd[] = {NULL, "updateLookup", "whenAvailable", "required"};
    static const char *const pre[] = {NULL, "whenAvailable", "required"};
    bson_init(out);
    if (fd[s->full_document])
        BSON_APPEND_UTF8(out, "fullDocument", fd[s->full_document]);
    if (pre[s->pre_image])
        BSON_APPEND_UTF8(out, "fullDocumentBeforeChange", pre[s->pre_image]);
    if (s->batch_size > 0)
        BSON_APPEND_INT32(out, "batchSize", s->batch_size);
    if (s->max_await_ms > 0)
        BSON_APPEND_INT64(out, "maxAwaitTimeMS", s->max_await_ms);
    switch (from->kind) {
    case MG_FROM_RESUME:
        BSON_APPEND_DOCUMENT(out, "resumeAfter", from->token);
        break;
    case MG_FROM_START_AFTER:
        BSON_APPEND_DOCUMENT(out, "startAfter", from->token);
        break;
    case MG_FROM_OPTIME:
        BSON_APPEND_TIMESTAMP(out, "startAtOperationTime", from->t, from->i);
        break;
    case MG_FROM_NOW:
        break;
    }
}
