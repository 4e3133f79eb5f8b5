/* core/host.c — the host API vtable: every service a plugin can reach. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/emit.h"
#include "core/log.h"
#include "core/runtime.h"

uint64_t cc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void host_log(cc_instance_t *self, cc_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cc_logv(level, self->plugin->desc.name, self->entry->name, fmt, ap);
    va_end(ap);
}

static const char *host_instance_name(cc_instance_t *self)
{
    return self->entry->name;
}

static const char *host_instance_place(cc_instance_t *self)
{
    return self->entry->place;
}

static json_t *cfg(cc_instance_t *self, const char *path)
{
    json_t *v = cc_json_path(self->entry->config, path);
    return json_is_null(v) ? NULL : v;
}

static const char *host_config_string(cc_instance_t *self, const char *path)
{
    return json_string_value(cfg(self, path));
}

static int64_t host_config_int(cc_instance_t *self, const char *path, int64_t def)
{
    json_t *v = cfg(self, path);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    return def;
}

static double host_config_double(cc_instance_t *self, const char *path, double def)
{
    json_t *v = cfg(self, path);
    return json_is_number(v) ? json_number_value(v) : def;
}

static int host_config_bool(cc_instance_t *self, const char *path, int def)
{
    json_t *v = cfg(self, path);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

static size_t host_config_count(cc_instance_t *self, const char *path)
{
    json_t *v = cfg(self, path);
    return json_is_array(v) ? json_array_size(v) : 0;
}

static const char *host_config_string_at(cc_instance_t *self, const char *path, size_t i)
{
    return json_string_value(json_array_get(cfg(self, path), i));
}

static const void *host_config_json(cc_instance_t *self, const char *path)
{
    return cfg(self, path);
}

static const char *host_config_path(cc_instance_t *self, const char *path)
{
    const char *v = host_config_string(self, path);
    if (!v)
        return NULL;
    if (v[0] == '/' || strcmp(v, "-") == 0 || !self->rt->manifest->dir)
        return v;
    size_t n = strlen(self->rt->manifest->dir) + strlen(v) + 2;
    char *full = malloc(n);
    if (!full)
        return NULL;
    snprintf(full, n, "%s/%s", self->rt->manifest->dir, v);
    pthread_mutex_lock(&self->paths_lock);
    char **p = realloc(self->paths, (self->n_paths + 1) * sizeof *p);
    if (!p) {
        pthread_mutex_unlock(&self->paths_lock);
        free(full);
        return NULL;
    }
    self->paths = p;
    p[self->n_paths++] = full;   /* owned by the instance until it is freed */
    pthread_mutex_unlock(&self->paths_lock);
    return full;
}

static void *host_event_base(cc_instance_t *self)
{
    return self->base;
}

static const char *host_state_position(cc_instance_t *self)
{
    return self->rt->state ? cc_state_get(self->rt->state, self->entry->name) : NULL;
}

static cc_shape_t *host_shape_new(cc_instance_t *self, const char *const *fields, size_t n,
                                  const char *recipient)
{
    char err[256];
    cc_shape_t *s = cc_shape_new(fields, n, recipient, err, sizeof err);
    if (!s)
        cc_log(CC_LOG_ERROR, self->plugin->desc.name, self->entry->name, "%s", err);
    return s;
}

static void host_shape_free(cc_shape_t *s)
{
    cc_shape_free(s);
}

static void host_source_status(cc_instance_t *self, cc_source_status_t status)
{
    int old = atomic_exchange(&self->status, (int)status);
    if (status == CC_SOURCE_FINISHED && old != CC_SOURCE_FINISHED)
        cc_runtime_source_finished(self->rt);
}

static void sink_observe_acks(cc_instance_t *self, cc_event_t *const *evs, size_t n)
{
    uint64_t now = cc_now_ns();
    for (size_t i = 0; i < n; i++)
        cc_metrics_observe_latency(self->rt->metrics, (double)(now - evs[i]->emit_ns) / 1e9);
    atomic_fetch_add_explicit(&self->n_acked, n, memory_order_relaxed);
}

static void host_ack(cc_instance_t *self, const cc_event_t *ev)
{
    cc_event_t *e = (cc_event_t *)ev;
    sink_observe_acks(self, &e, 1);
    cc_bus_ack(self->consumer, &e, 1);
}

static void host_ack_batch(cc_instance_t *self, const cc_batch_t *b)
{
    sink_observe_acks(self, b->events, b->count);
    cc_bus_ack(self->consumer, b->events, b->count);
}

static void host_count(cc_instance_t *self, cc_sink_result_t r, uint64_t n)
{
    cc_metric_t *m = r == CC_RESULT_FAILED    ? self->m_failed
                     : r == CC_RESULT_DROPPED ? self->m_dropped
                     : r == CC_RESULT_RETRIED ? self->m_retried
                                              : NULL;
    if (m)
        cc_metric_add(m, (double)n);
    if (r == CC_RESULT_FAILED)
        atomic_fetch_add_explicit(&self->n_given_up, n, memory_order_relaxed);
}

static void host_sink_status(cc_instance_t *self, cc_sink_status_t status)
{
    atomic_store(&self->status, (int)status);
}

static const char *ev_json(const cc_event_t *ev, size_t *len)
{
    if (len)
        *len = ev->json_len;
    return ev->json;
}
static const char *ev_id(const cc_event_t *ev) { return ev->id; }
static const char *ev_recipient(const cc_event_t *ev) { return ev->recipient; }
static const char *ev_operation(const cc_event_t *ev) { return ev->operation; }
static const char *ev_database(const cc_event_t *ev) { return ev->database; }
static const char *ev_collection(const cc_event_t *ev) { return ev->collection; }
static const char *ev_document_id(const cc_event_t *ev) { return ev->document_id; }
static double ev_timestamp(const cc_event_t *ev) { return ev->timestamp; }

static void host_fatal(cc_instance_t *self, const char *msg)
{
    cc_log(CC_LOG_ERROR, self->plugin->desc.name, self->entry->name, "fatal: %s", msg);
    cc_runtime_request_stop(self->rt, 1);
}

static cc_metric_t *host_metric_new(cc_instance_t *self, cc_metric_kind_t kind, const char *name,
                                    const char *help, const char *label, const char *value)
{
    cc_buf_t labels = CC_BUF_INIT;
    cc_buf_puts(&labels, self->plugin->desc.kind == CC_PLUGIN_SOURCE ? "source=" : "sink=");
    cc_metrics_label_value(&labels, self->entry->name);
    if (label && value) {
        cc_buf_printf(&labels, ",%s=", label);
        cc_metrics_label_value(&labels, value);
    }
    cc_metric_t *m = labels.oom ? NULL
                                : cc_metrics_add(self->rt->metrics, kind, name, help,
                                                 cc_buf_cstr(&labels));
    cc_buf_free(&labels);
    return m;
}

const cc_host_t cc_host_api = {
    .size = sizeof(cc_host_t),
    .abi_major = CC_ABI_MAJOR,
    .abi_minor = CC_ABI_MINOR,
    .log = host_log,
    .instance_name = host_instance_name,
    .config_string = host_config_string,
    .config_int = host_config_int,
    .config_double = host_config_double,
    .config_bool = host_config_bool,
    .config_count = host_config_count,
    .config_string_at = host_config_string_at,
    .config_json = host_config_json,
    .config_path = host_config_path,
    .event_base = host_event_base,
    .state_position = host_state_position,
    .shape_new = host_shape_new,
    .shape_free = host_shape_free,
    .emit = cc_emit_one,
    .source_status = host_source_status,
    .ack = host_ack,
    .ack_batch = host_ack_batch,
    .count = host_count,
    .sink_status = host_sink_status,
    .event_json = ev_json,
    .event_id = ev_id,
    .event_recipient = ev_recipient,
    .event_operation = ev_operation,
    .event_database = ev_database,
    .event_collection = ev_collection,
    .event_document_id = ev_document_id,
    .event_timestamp = ev_timestamp,
    .event_ref = cc_event_ref,
    .event_unref = cc_event_unref,
    .fatal = host_fatal,
    .metric_new = host_metric_new,
    .metric_add = cc_metric_add,
    .metric_set = cc_metric_set,
    .emit_batch = cc_emit_batch,
    .instance_place = host_instance_place,
    .emit_envelope = cc_emit_envelope,
    .emit_position = cc_emit_position,
};
