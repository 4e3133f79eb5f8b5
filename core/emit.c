/* core/emit.c — from a source's changes to events on the bus (see emit.h). */
#include "core/emit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ejson.h"
#include "core/envelope_read.h"
#include "core/log.h"
#include "core/runtime.h"

/* Below this many changes a batch is built on the source's thread alone:
 * the handoff would cost more than it saves. */
#define EMIT_SPLIT_MIN 64

struct cc_builder {
    cc_instance_t *self;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    const cc_change_t *changes;   /* the job: borrowed from emit_batch's caller */
    size_t n;
    uint64_t now;
    int has_job, quit;
    int rc;                       /* CC_ENOMEM when building failed */
    cc_emit_ctx_t ctx;
};

static int change_has(const cc_change_t *ch, size_t end_of_field)
{
    return ch->size >= end_of_field;
}
#define CHANGE_HAS(ch, f) change_has((ch), offsetof(cc_change_t, f) + sizeof (ch)->f)

/* Appends the events of one change to ctx->vec, stamped with the source,
 * `now` and (on the last copy) the position. Returns 0, CC_EPARSE (logged
 * with the change's origin and counted; nothing appended), CC_EINVAL or
 * CC_ENOMEM. Any thread, one ctx per thread. */
static int emit_build(cc_instance_t *self, cc_emit_ctx_t *ctx, const cc_change_t *ch, uint64_t now)
{
    bson_t doc;
    char err[512];
    int rc;
    if (ch->bson) {
        if (!bson_init_static(&doc, ch->bson, ch->bson_len)) {
            snprintf(err, sizeof err, "change document is not valid BSON");
            goto bad;
        }
    } else if (ch->json) {
        if (cc_ejson_parse_view(ch->json, ch->json_len, &ctx->bson, &doc, err, sizeof err) != 0)
            goto bad;
    } else {
        return CC_EINVAL;
    }
    cc_event_vec_t *vec = &ctx->vec;
    size_t first = vec->n;
    int explicit = CHANGE_HAS(ch, n_recipients) && ch->recipients != NULL;
    rc = cc_envelope_build(&doc, ch->shape, explicit ? ch->recipients : NULL,
                           explicit ? ch->n_recipients : 0, vec, err, sizeof err);
    bson_destroy(&doc);
    if (rc == CC_EPARSE)
        goto bad;
    if (rc != 0)
        return rc;
    for (size_t i = first; i < vec->n; i++) {
        vec->v[i]->source = self->index;
        vec->v[i]->emit_ns = now;
    }
    /* Only the last copy carries the position: a restart after a partly
     * acknowledged multi-recipient change replays all of its copies. */
    if (ch->position && vec->n > first &&
        cc_event_set_position(vec->v[vec->n - 1], ch->position) != 0) {
        for (size_t i = first; i < vec->n; i++)
            cc_event_unref(vec->v[i]);
        vec->n = first;
        return CC_ENOMEM;
    }
    return 0;
bad:
    cc_metric_add(self->m_bad, 1);
    {
        const char *origin = CHANGE_HAS(ch, origin) ? ch->origin : NULL;
        cc_log(CC_LOG_WARN, self->plugin->desc.name, self->entry->name, "%s%sskipped change: %s",
               origin ? origin : "", origin ? ": " : "", err);
    }
    return CC_EPARSE;
}

/* Publishes ctx->vec in order and empties it. Returns 0 or CC_ECLOSED (the
 * events not published are dropped: not acknowledged, so a restart replays
 * them). The source's thread. */
static int emit_publish(cc_instance_t *self, cc_emit_ctx_t *ctx)
{
    cc_event_vec_t *vec = &ctx->vec;
    if (vec->n == 0)
        return 0;
    double ts = vec->v[vec->n - 1]->timestamp;
    size_t done = 0;
    int rc = cc_bus_publish(self->rt->bus, vec->v, vec->n, &done);
    for (size_t i = done; i < vec->n; i++)
        cc_event_unref(vec->v[i]);
    vec->n = 0;
    if (done) {
        cc_metric_add(self->m_events, (double)done);
        if (ts > 0) {
            struct timespec wall;
            clock_gettime(CLOCK_REALTIME, &wall);
            double lag = (double)wall.tv_sec + wall.tv_nsec / 1e9 - ts;
            cc_metric_set(self->m_lag, lag > 0 ? lag : 0);
        }
    }
    return rc;
}

int cc_emit_one(cc_instance_t *self, const cc_change_t *ch)
{
    if (atomic_load(&self->rt->stopping))
        return CC_ECLOSED;
    int rc = emit_build(self, &self->emit, ch, cc_now_ns());
    if (rc != 0)
        return rc;
    return emit_publish(self, &self->emit);
}

int cc_emit_envelope(cc_instance_t *self, const char *json, size_t len, const char *position,
                     const char *origin)
{
    if (atomic_load(&self->rt->stopping))
        return CC_ECLOSED;
    if (!json)
        return CC_EINVAL;
    char err[512];
    cc_event_t *ev = NULL;
    int rc = cc_envelope_read(json, len, &ev, err, sizeof err);
    if (rc == CC_EPARSE) {
        cc_metric_add(self->m_bad, 1);
        cc_log(CC_LOG_WARN, self->plugin->desc.name, self->entry->name, "%s%sskipped event: %s",
               origin ? origin : "", origin ? ": " : "", err);
        return rc;
    }
    if (rc != 0)
        return rc;
    ev->source = self->index;
    ev->emit_ns = cc_now_ns();
    if (position && cc_event_set_position(ev, position) != 0) {
        cc_event_unref(ev);
        return CC_ENOMEM;
    }
    /* Through the same vector as emit, so the bus and metrics see one path;
     * the vector is empty between calls. */
    cc_event_vec_t *vec = &self->emit.vec;
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 16;
        cc_event_t **v = realloc(vec->v, cap * sizeof *v);
        if (!v) {
            cc_event_unref(ev);
            return CC_ENOMEM;
        }
        vec->v = v;
        vec->cap = cap;
    }
    vec->v[vec->n++] = ev;   /* the vector owns it until published */
    return emit_publish(self, &self->emit);
}

/* Builds changes[0..n) into ctx; stops at the first failure other than a
 * bad change. */
static int emit_build_range(cc_instance_t *self, cc_emit_ctx_t *ctx, const cc_change_t *changes,
                            size_t n, uint64_t now)
{
    for (size_t i = 0; i < n; i++) {
        int rc = emit_build(self, ctx, &changes[i], now);
        if (rc != 0 && rc != CC_EPARSE)
            return rc;
    }
    return 0;
}

static void *builder_main(void *arg)
{
    cc_builder_t *b = arg;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (!b->has_job && !b->quit)
            pthread_cond_wait(&b->cond, &b->lock);
        if (b->quit)
            break;
        pthread_mutex_unlock(&b->lock);
        int rc = emit_build_range(b->self, &b->ctx, b->changes, b->n, b->now);
        pthread_mutex_lock(&b->lock);
        b->rc = rc;
        b->has_job = 0;
        pthread_cond_broadcast(&b->cond);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

/* The source's builder, started on first use; NULL when it cannot be (the
 * batch is then built on the source's thread alone). */
static cc_builder_t *builder_get(cc_instance_t *self)
{
    if (self->builder || self->builder_failed)
        return self->builder;
    cc_builder_t *b = calloc(1, sizeof *b);
    if (!b) {
        self->builder_failed = 1;
        return NULL;
    }
    b->self = self;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    if (pthread_create(&b->thread, NULL, builder_main, b) != 0) {
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->cond);
        free(b);
        self->builder_failed = 1;
        cc_log(CC_LOG_WARN, self->plugin->desc.name, self->entry->name,
               "cannot start a builder thread; building batches on one thread");
        return NULL;
    }
    char name[16];
    snprintf(name, sizeof name, "build:%s", self->entry->name);
    pthread_setname_np(b->thread, name);
    self->builder = b;
    return b;
}

int cc_emit_batch(cc_instance_t *self, const cc_change_t *changes, size_t n, size_t *done)
{
    if (done)
        *done = 0;
    if (atomic_load(&self->rt->stopping))
        return CC_ECLOSED;
    uint64_t now = cc_now_ns();
    size_t split = n;
    cc_builder_t *b = n >= EMIT_SPLIT_MIN ? builder_get(self) : NULL;
    if (b) {
        /* The builder takes the second half while this thread builds the
         * first; the halves are published in order. */
        split = n / 2;
        pthread_mutex_lock(&b->lock);
        b->changes = changes + split;
        b->n = n - split;
        b->now = now;
        b->rc = 0;
        b->has_job = 1;
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->lock);
    }
    int rc = emit_build_range(self, &self->emit, changes, split, now);
    int brc = 0;
    if (b) {
        pthread_mutex_lock(&b->lock);
        while (b->has_job)
            pthread_cond_wait(&b->cond, &b->lock);
        brc = b->rc;
        pthread_mutex_unlock(&b->lock);
    }
    if (rc == 0 && (rc = emit_publish(self, &self->emit)) == 0 && done)
        *done = split;
    if (b) {
        if (rc == 0 && brc == 0 && (rc = emit_publish(self, &b->ctx)) == 0 && done)
            *done = n;
        /* Whatever was not published (an error above) is dropped here. */
        for (size_t i = 0; i < b->ctx.vec.n; i++)
            cc_event_unref(b->ctx.vec.v[i]);
        b->ctx.vec.n = 0;
        if (rc == 0)
            rc = brc;
    }
    for (size_t i = 0; i < self->emit.vec.n; i++)
        cc_event_unref(self->emit.vec.v[i]);
    self->emit.vec.n = 0;
    return rc;
}

void cc_emit_free(cc_instance_t *self)
{
    cc_builder_t *b = self->builder;
    if (b) {
        pthread_mutex_lock(&b->lock);
        b->quit = 1;
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->lock);
        pthread_join(b->thread, NULL);
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->cond);
        cc_event_vec_free(&b->ctx.vec);
        cc_buf_free(&b->ctx.bson);
        free(b);
        self->builder = NULL;
    }
    cc_event_vec_free(&self->emit.vec);
    cc_buf_free(&self->emit.bson);
}

int cc_emit_position(cc_instance_t *self, const char *position)
{
    if (atomic_load(&self->rt->stopping))
        return CC_ECLOSED;
    if (!position)
        return CC_EINVAL;
    cc_event_init_t init;
    memset(&init, 0, sizeof init);
    cc_event_t *ev = cc_event_new(&init);
    if (!ev)
        return CC_ENOMEM;
    ev->op_mask = 0;   /* the marker: no sink's filter takes it */
    ev->source = self->index;
    ev->emit_ns = cc_now_ns();
    if (cc_event_set_position(ev, position) != 0) {
        cc_event_unref(ev);
        return CC_ENOMEM;
    }
    /* Not through emit_publish: a marker is no event for the metrics. */
    size_t done = 0;
    int rc = cc_bus_publish(self->rt->bus, &ev, 1, &done);
    if (done == 0)
        cc_event_unref(ev);
    return rc;
}
