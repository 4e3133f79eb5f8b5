/* tests/unit/mock_host.c — a recording cc_host_t for plugin unit tests.
 * See mock_host.h. One global lock guards every instance: tests are small.
 */
#include "mock_host.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

/* Stand-in for the core's event (core/event.h is not used here). */
struct cc_event {
    char *json;
    size_t json_len;
    char *id;
    char *operation;
    char *database;
    char *collection;
    char *document_id;
    char *recipient;         /* NULL = broadcast */
    double timestamp;
    int refs;
    int acks;
};

struct cc_shape {
    char desc[256];
};

struct cc_metric {
    double value;
    struct cc_metric *next;
};

typedef struct mock_change {
    char *json;
    char *position;
    char *origin;
    const cc_shape_t *shape;
} mock_change_t;

struct cc_instance {
    const cc_plugin_t *plugin;
    json_t *config;
    char *base_dir;
    char **paths;            /* resolved config_path results */
    size_t n_paths;
    void *event_base;
    char *state_position;
    bool closed;

    char *log;
    size_t log_len, log_cap;
    size_t log_levels[CC_LOG_DEBUG + 1];

    mock_change_t *changes;
    size_t n_changes, cap_changes;
    size_t emit_calls;
    char last_shape[256];

    int source_status;
    int sink_status;
    size_t sink_status_counts[CC_SINK_DOWN + 1];
    uint64_t counted[CC_RESULT_RETRIED + 1];
    size_t acks;
    char *fatal;
    struct cc_metric *metrics;
};

static pthread_mutex_t mock_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mock_cond = PTHREAD_COND_INITIALIZER;
static int mock_alive_shapes;

static char *mock_strdup(const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d == NULL)
        abort();
    memcpy(d, s, n);
    return d;
}

static char *mock_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        abort();
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* ------------------------------------------------------------------ config */

static const json_t *mock_config_get(cc_instance_t *self, const char *path)
{
    const json_t *node = self->config;
    char key[256];
    while (node != NULL && *path != '\0') {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof key)
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        node = json_is_object(node) ? json_object_get(node, key) : NULL;
        path += n + (dot ? 1 : 0);
    }
    return node;
}

static const char *mock_config_string(cc_instance_t *self, const char *path)
{
    return json_string_value(mock_config_get(self, path));
}

static int64_t mock_config_int(cc_instance_t *self, const char *path, int64_t def)
{
    const json_t *v = mock_config_get(self, path);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

static double mock_config_double(cc_instance_t *self, const char *path, double def)
{
    const json_t *v = mock_config_get(self, path);
    return json_is_number(v) ? json_number_value(v) : def;
}

static int mock_config_bool(cc_instance_t *self, const char *path, int def)
{
    const json_t *v = mock_config_get(self, path);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

static size_t mock_config_count(cc_instance_t *self, const char *path)
{
    return json_array_size(mock_config_get(self, path));
}

static const char *mock_config_string_at(cc_instance_t *self, const char *path, size_t i)
{
    return json_string_value(json_array_get(mock_config_get(self, path), i));
}

static const void *mock_config_json(cc_instance_t *self, const char *path)
{
    return mock_config_get(self, path);
}

static const char *mock_config_path(cc_instance_t *self, const char *path)
{
    const char *s = mock_config_string(self, path);
    if (s == NULL || strcmp(s, "-") == 0 || s[0] == '/' || self->base_dir == NULL)
        return s;
    size_t n = strlen(self->base_dir) + strlen(s) + 2;
    char *full = malloc(n);
    if (full == NULL)
        abort();
    snprintf(full, n, "%s/%s", self->base_dir, s);
    pthread_mutex_lock(&mock_lock);
    char **paths = realloc(self->paths, (self->n_paths + 1) * sizeof *paths);
    if (paths == NULL)
        abort();
    self->paths = paths;
    self->paths[self->n_paths++] = full;
    pthread_mutex_unlock(&mock_lock);
    return full;
}

/* Checks `config` against a key table as the core does, filling defaults. */
static bool mock_config_apply(json_t *config, const cc_config_field_t *table, const char *name)
{
    const char *key;
    json_t *value;
    json_object_foreach(config, key, value) {
        const cc_config_field_t *f = table;
        while (f != NULL && f->name != NULL && strcmp(f->name, key) != 0)
            f++;
        if (f == NULL || f->name == NULL) {
            fprintf(stderr, "mock_host: %s: unknown config key \"%s\"\n", name, key);
            return false;
        }
    }
    for (const cc_config_field_t *f = table; f != NULL && f->name != NULL; f++) {
        if (json_object_get(config, f->name) != NULL)
            continue;
        if (f->required) {
            fprintf(stderr, "mock_host: %s: config.%s is required\n", name, f->name);
            return false;
        }
        if (f->def == NULL)
            continue;
        json_error_t err;
        json_t *def = json_loads(f->def, JSON_DECODE_ANY, &err);
        if (def == NULL) {
            fprintf(stderr, "mock_host: %s: default of config.%s is not JSON: %s\n", name,
                    f->name, err.text);
            return false;
        }
        json_object_set_new(config, f->name, def);
    }
    return true;
}

/* ---------------------------------------------------------------- services */

static void mock_log(cc_instance_t *self, cc_log_level_t level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = strlen(line);
    const char *lvl = (unsigned)level <= CC_LOG_DEBUG ? names[level] : "?";
    if (getenv("MOCK_HOST_VERBOSE") != NULL)
        fprintf(stderr, "level=%s msg=%s\n", lvl, line);

    pthread_mutex_lock(&mock_lock);
    size_t need = self->log_len + strlen(lvl) + len + 4;
    if (need > self->log_cap) {
        size_t cap = self->log_cap ? self->log_cap : 1024;
        while (cap < need)
            cap *= 2;
        char *log = realloc(self->log, cap);
        if (log == NULL)
            abort();
        self->log = log;
        self->log_cap = cap;
    }
    self->log_len += (size_t)sprintf(self->log + self->log_len, "%s: %s\n", lvl, line);
    if ((unsigned)level <= CC_LOG_DEBUG)
        self->log_levels[level]++;
    pthread_mutex_unlock(&mock_lock);
}

static const char *mock_instance_name(cc_instance_t *self)
{
    return self->plugin->name;
}

static void *mock_event_base(cc_instance_t *self)
{
    return self->event_base;
}

static const char *mock_state_position(cc_instance_t *self)
{
    return self->state_position;
}

static cc_shape_t *mock_shape_new(cc_instance_t *self, const char *const *fields, size_t n_fields,
                                  const char *recipient_path)
{
    cc_shape_t *shape = calloc(1, sizeof *shape);
    if (shape == NULL)
        abort();
    size_t len = (size_t)snprintf(shape->desc, sizeof shape->desc, "fields=");
    for (size_t i = 0; i < n_fields && len < sizeof shape->desc; i++)
        len += (size_t)snprintf(shape->desc + len, sizeof shape->desc - len, "%s%s",
                                i ? "," : "", fields[i]);
    if (len < sizeof shape->desc)
        snprintf(shape->desc + len, sizeof shape->desc - len, " recipient=%s",
                 recipient_path ? recipient_path : "");
    pthread_mutex_lock(&mock_lock);
    mock_alive_shapes++;
    memcpy(self->last_shape, shape->desc, sizeof self->last_shape);
    pthread_mutex_unlock(&mock_lock);
    return shape;
}

static void mock_shape_free(cc_shape_t *shape)
{
    if (shape == NULL)
        return;
    pthread_mutex_lock(&mock_lock);
    mock_alive_shapes--;
    pthread_mutex_unlock(&mock_lock);
    free(shape);
}

static int mock_emit(cc_instance_t *self, const cc_change_t *change)
{
    if (change == NULL || change->size < offsetof(cc_change_t, shape) + sizeof change->shape)
        return CC_EINVAL;
    const char *origin = change->size >= offsetof(cc_change_t, origin) + sizeof change->origin
                             ? change->origin : NULL;
    json_error_t err;
    json_t *doc = change->json ? json_loadb(change->json, change->json_len, 0, &err) : NULL;
    bool ok = json_is_object(doc);
    if (doc != NULL && !ok)
        snprintf(err.text, sizeof err.text, "not a JSON object");
    json_decref(doc);

    pthread_mutex_lock(&mock_lock);
    self->emit_calls++;
    if (self->closed) {
        pthread_mutex_unlock(&mock_lock);
        return CC_ECLOSED;
    }
    if (!ok) {
        pthread_mutex_unlock(&mock_lock);
        /* As the core does: one warning naming the origin. */
        mock_log(self, CC_LOG_WARN, "%s%sskipped change: %s", origin ? origin : "",
                 origin ? ": " : "", err.text);
        return CC_EPARSE;
    }
    if (self->n_changes == self->cap_changes) {
        size_t cap = self->cap_changes ? self->cap_changes * 2 : 64;
        mock_change_t *c = realloc(self->changes, cap * sizeof *c);
        if (c == NULL)
            abort();
        self->changes = c;
        self->cap_changes = cap;
    }
    mock_change_t *c = &self->changes[self->n_changes++];
    c->json = mock_strndup(change->json, change->json_len);
    c->position = mock_strdup(change->position);
    c->origin = mock_strdup(origin);
    c->shape = change->shape;
    pthread_cond_broadcast(&mock_cond);
    pthread_mutex_unlock(&mock_lock);
    return 0;
}

static void mock_source_status_set(cc_instance_t *self, cc_source_status_t status)
{
    pthread_mutex_lock(&mock_lock);
    self->source_status = (int)status;
    pthread_cond_broadcast(&mock_cond);
    pthread_mutex_unlock(&mock_lock);
}

static void mock_ack(cc_instance_t *self, const cc_event_t *event)
{
    pthread_mutex_lock(&mock_lock);
    ((cc_event_t *)(uintptr_t)event)->acks++;
    self->acks++;
    pthread_cond_broadcast(&mock_cond);
    pthread_mutex_unlock(&mock_lock);
}

static void mock_ack_batch(cc_instance_t *self, const cc_batch_t *batch)
{
    for (size_t i = 0; i < batch->count; i++)
        mock_ack(self, batch->events[i]);
}

static void mock_count(cc_instance_t *self, cc_sink_result_t result, uint64_t n)
{
    pthread_mutex_lock(&mock_lock);
    if ((unsigned)result <= CC_RESULT_RETRIED)
        self->counted[result] += n;
    pthread_mutex_unlock(&mock_lock);
}

static void mock_sink_status_set(cc_instance_t *self, cc_sink_status_t status)
{
    pthread_mutex_lock(&mock_lock);
    self->sink_status = (int)status;
    if ((unsigned)status <= CC_SINK_DOWN)
        self->sink_status_counts[status]++;
    pthread_mutex_unlock(&mock_lock);
}

static const char *mock_ev_json(const cc_event_t *ev, size_t *len)
{
    if (len != NULL)
        *len = ev->json_len;
    return ev->json;
}

static const char *mock_ev_id(const cc_event_t *ev) { return ev->id; }
static const char *mock_ev_recipient(const cc_event_t *ev) { return ev->recipient; }
static const char *mock_ev_operation(const cc_event_t *ev) { return ev->operation; }
static const char *mock_ev_database(const cc_event_t *ev) { return ev->database; }
static const char *mock_ev_collection(const cc_event_t *ev) { return ev->collection; }
static const char *mock_ev_document_id(const cc_event_t *ev) { return ev->document_id; }
static double mock_ev_timestamp(const cc_event_t *ev) { return ev->timestamp; }

static cc_event_t *mock_ev_ref(const cc_event_t *ev)
{
    cc_event_t *e = (cc_event_t *)(uintptr_t)ev;
    pthread_mutex_lock(&mock_lock);
    e->refs++;
    pthread_mutex_unlock(&mock_lock);
    return e;
}

static void mock_ev_unref(cc_event_t *ev)
{
    pthread_mutex_lock(&mock_lock);
    ev->refs--;
    pthread_mutex_unlock(&mock_lock);
}

static void mock_fatal_set(cc_instance_t *self, const char *msg)
{
    pthread_mutex_lock(&mock_lock);
    if (self->fatal == NULL)
        self->fatal = mock_strdup(msg);
    pthread_mutex_unlock(&mock_lock);
}

static cc_metric_t *mock_metric_new(cc_instance_t *self, cc_metric_kind_t kind, const char *name,
                                    const char *help, const char *label, const char *label_value)
{
    (void)kind;
    (void)name;
    (void)help;
    (void)label;
    (void)label_value;
    cc_metric_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    pthread_mutex_lock(&mock_lock);
    m->next = self->metrics;
    self->metrics = m;
    pthread_mutex_unlock(&mock_lock);
    return m;
}

static void mock_metric_add(cc_metric_t *m, double v)
{
    pthread_mutex_lock(&mock_lock);
    m->value += v;
    pthread_mutex_unlock(&mock_lock);
}

static void mock_metric_set(cc_metric_t *m, double v)
{
    pthread_mutex_lock(&mock_lock);
    m->value = v;
    pthread_mutex_unlock(&mock_lock);
}

/* As the core does: each change as if emitted alone, in order; a bad one
 * is logged and skipped, CC_ECLOSED stops the batch. */
static int mock_emit_batch(cc_instance_t *self, const cc_change_t *changes, size_t n, size_t *done)
{
    for (size_t i = 0; i < n; i++) {
        if (mock_emit(self, &changes[i]) == CC_ECLOSED) {
            if (done)
                *done = i;
            return CC_ECLOSED;
        }
    }
    if (done)
        *done = n;
    return 0;
}

static const cc_host_t mock_vtable = {
    .size = sizeof(cc_host_t),
    .abi_major = CC_ABI_MAJOR,
    .abi_minor = CC_ABI_MINOR,
    .log = mock_log,
    .instance_name = mock_instance_name,
    .config_string = mock_config_string,
    .config_int = mock_config_int,
    .config_double = mock_config_double,
    .config_bool = mock_config_bool,
    .config_count = mock_config_count,
    .config_string_at = mock_config_string_at,
    .config_json = mock_config_json,
    .config_path = mock_config_path,
    .event_base = mock_event_base,
    .state_position = mock_state_position,
    .shape_new = mock_shape_new,
    .shape_free = mock_shape_free,
    .emit = mock_emit,
    .source_status = mock_source_status_set,
    .ack = mock_ack,
    .ack_batch = mock_ack_batch,
    .count = mock_count,
    .sink_status = mock_sink_status_set,
    .event_json = mock_ev_json,
    .event_id = mock_ev_id,
    .event_recipient = mock_ev_recipient,
    .event_operation = mock_ev_operation,
    .event_database = mock_ev_database,
    .event_collection = mock_ev_collection,
    .event_document_id = mock_ev_document_id,
    .event_timestamp = mock_ev_timestamp,
    .event_ref = mock_ev_ref,
    .event_unref = mock_ev_unref,
    .fatal = mock_fatal_set,
    .metric_new = mock_metric_new,
    .metric_add = mock_metric_add,
    .metric_set = mock_metric_set,
    .emit_batch = mock_emit_batch,
};

const cc_host_t *mock_host(void)
{
    return &mock_vtable;
}

/* --------------------------------------------------------------- instances */

cc_instance_t *mock_instance_new(const cc_plugin_t *plugin, const char *config_json,
                                 const char *base_dir)
{
    json_error_t err;
    json_t *config = json_loads(config_json ? config_json : "{}", 0, &err);
    if (!json_is_object(config)) {
        fprintf(stderr, "mock_host: config is not a JSON object: %s\n",
                config ? "not an object" : err.text);
        json_decref(config);
        return NULL;
    }
    if (!mock_config_apply(config, plugin->config, plugin->name)) {
        json_decref(config);
        return NULL;
    }
    cc_instance_t *inst = calloc(1, sizeof *inst);
    if (inst == NULL)
        abort();
    inst->plugin = plugin;
    inst->config = config;
    inst->base_dir = mock_strdup(base_dir);
    inst->source_status = -1;
    inst->sink_status = -1;
    return inst;
}

void mock_instance_free(cc_instance_t *inst)
{
    if (inst == NULL)
        return;
    json_decref(inst->config);
    free(inst->base_dir);
    for (size_t i = 0; i < inst->n_paths; i++)
        free(inst->paths[i]);
    free(inst->paths);
    free(inst->state_position);
    free(inst->log);
    for (size_t i = 0; i < inst->n_changes; i++) {
        free(inst->changes[i].json);
        free(inst->changes[i].position);
        free(inst->changes[i].origin);
    }
    free(inst->changes);
    free(inst->fatal);
    while (inst->metrics != NULL) {
        cc_metric_t *next = inst->metrics->next;
        free(inst->metrics);
        inst->metrics = next;
    }
    free(inst);
}

void mock_set_event_base(cc_instance_t *inst, void *base)
{
    inst->event_base = base;
}

void mock_set_state_position(cc_instance_t *inst, const char *position)
{
    free(inst->state_position);
    inst->state_position = mock_strdup(position);
}

void mock_set_closed(cc_instance_t *inst, bool closed)
{
    pthread_mutex_lock(&mock_lock);
    inst->closed = closed;
    pthread_mutex_unlock(&mock_lock);
}

bool mock_log_contains(cc_instance_t *inst, const char *needle)
{
    return mock_log_count_matching(inst, needle) > 0;
}

size_t mock_log_count_matching(cc_instance_t *inst, const char *needle)
{
    size_t n = 0;
    pthread_mutex_lock(&mock_lock);
    for (const char *p = inst->log; p != NULL && (p = strstr(p, needle)) != NULL; p++)
        n++;
    pthread_mutex_unlock(&mock_lock);
    return n;
}

size_t mock_log_count(cc_instance_t *inst, cc_log_level_t level)
{
    pthread_mutex_lock(&mock_lock);
    size_t n = inst->log_levels[level];
    pthread_mutex_unlock(&mock_lock);
    return n;
}

void mock_log_print(cc_instance_t *inst)
{
    pthread_mutex_lock(&mock_lock);
    fprintf(stderr, "--- log of %s ---\n%s---\n", inst->plugin->name, inst->log ? inst->log : "");
    pthread_mutex_unlock(&mock_lock);
}

size_t mock_changes(cc_instance_t *inst)
{
    pthread_mutex_lock(&mock_lock);
    size_t n = inst->n_changes;
    pthread_mutex_unlock(&mock_lock);
    return n;
}

size_t mock_emit_calls(cc_instance_t *inst)
{
    pthread_mutex_lock(&mock_lock);
    size_t n = inst->emit_calls;
    pthread_mutex_unlock(&mock_lock);
    return n;
}

const char *mock_change_json(cc_instance_t *inst, size_t i)
{
    pthread_mutex_lock(&mock_lock);
    const char *s = i < inst->n_changes ? inst->changes[i].json : NULL;
    pthread_mutex_unlock(&mock_lock);
    return s;
}

const char *mock_change_position(cc_instance_t *inst, size_t i)
{
    pthread_mutex_lock(&mock_lock);
    const char *s = i < inst->n_changes ? inst->changes[i].position : NULL;
    pthread_mutex_unlock(&mock_lock);
    return s;
}

const char *mock_change_origin(cc_instance_t *inst, size_t i)
{
    pthread_mutex_lock(&mock_lock);
    const char *s = i < inst->n_changes ? inst->changes[i].origin : NULL;
    pthread_mutex_unlock(&mock_lock);
    return s;
}

const cc_shape_t *mock_change_shape(cc_instance_t *inst, size_t i)
{
    pthread_mutex_lock(&mock_lock);
    const cc_shape_t *s = i < inst->n_changes ? inst->changes[i].shape : NULL;
    pthread_mutex_unlock(&mock_lock);
    return s;
}

static void mock_deadline(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

bool mock_wait_changes(cc_instance_t *inst, size_t n, int timeout_ms)
{
    struct timespec ts;
    mock_deadline(&ts, timeout_ms);
    pthread_mutex_lock(&mock_lock);
    int rc = 0;
    while (inst->n_changes < n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&mock_cond, &mock_lock, &ts);
    bool ok = inst->n_changes >= n;
    pthread_mutex_unlock(&mock_lock);
    return ok;
}

const char *mock_last_shape(cc_instance_t *inst)
{
    return inst->last_shape;
}

int mock_shapes_alive(void)
{
    pthread_mutex_lock(&mock_lock);
    int n = mock_alive_shapes;
    pthread_mutex_unlock(&mock_lock);
    return n;
}

int mock_source_status(cc_instance_t *inst)
{
    pthread_mutex_lock(&mock_lock);
    int s = inst->source_status;
    pthread_mutex_unlock(&mock_lock);
    return s;
}

int mock_sink_status(cc_instance_t *inst)
{
    pthread_mutex_lock(&mock_lock);
    int s = inst->sink_status;
    pthread_mutex_unlock(&mock_lock);
    return s;
}

bool mock_wait_source_status(cc_instance_t *inst, cc_source_status_t status, int timeout_ms)
{
    struct timespec ts;
    mock_deadline(&ts, timeout_ms);
    pthread_mutex_lock(&mock_lock);
    int rc = 0;
    while (inst->source_status != (int)status && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&mock_cond, &mock_lock, &ts);
    bool ok = inst->source_status == (int)status;
    pthread_mutex_unlock(&mock_lock);
    return ok;
}

size_t mock_sink_status_count(cc_instance_t *inst, cc_sink_status_t status)
{
    pthread_mutex_lock(&mock_lock);
    size_t n = inst->sink_status_counts[status];
    pthread_mutex_unlock(&mock_lock);
    return n;
}

uint64_t mock_counted(cc_instance_t *inst, cc_sink_result_t result)
{
    pthread_mutex_lock(&mock_lock);
    uint64_t n = inst->counted[result];
    pthread_mutex_unlock(&mock_lock);
    return n;
}

size_t mock_acks(cc_instance_t *inst)
{
    pthread_mutex_lock(&mock_lock);
    size_t n = inst->acks;
    pthread_mutex_unlock(&mock_lock);
    return n;
}

const char *mock_fatal(cc_instance_t *inst)
{
    pthread_mutex_lock(&mock_lock);
    const char *s = inst->fatal;
    pthread_mutex_unlock(&mock_lock);
    return s;
}

/* ------------------------------------------------------------------ events */

static char *mock_json_text(const json_t *v)
{
    if (v == NULL || json_is_null(v))
        return NULL;
    if (json_is_string(v))
        return mock_strdup(json_string_value(v));
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char *d = mock_strdup(s);
    free(s);
    return d;
}

cc_event_t *mock_event_new(const char *json)
{
    cc_event_t *ev = calloc(1, sizeof *ev);
    if (ev == NULL)
        abort();
    ev->json = mock_strdup(json);
    ev->json_len = strlen(json);
    ev->refs = 1;
    json_t *doc = json_loads(json, 0, NULL);
    if (json_is_object(doc)) {
        ev->id = mock_json_text(json_object_get(doc, "id"));
        ev->operation = mock_json_text(json_object_get(doc, "operation"));
        ev->database = mock_json_text(json_object_get(doc, "namespace"));
        ev->collection = mock_json_text(json_object_get(doc, "collection"));
        ev->document_id = mock_json_text(json_object_get(doc, "document_id"));
        ev->recipient = mock_json_text(json_object_get(doc, "recipient"));
        ev->timestamp = json_number_value(json_object_get(doc, "timestamp"));
    }
    json_decref(doc);
    return ev;
}

void mock_event_free(cc_event_t *ev)
{
    if (ev == NULL)
        return;
    free(ev->json);
    free(ev->id);
    free(ev->operation);
    free(ev->database);
    free(ev->collection);
    free(ev->document_id);
    free(ev->recipient);
    free(ev);
}

int mock_event_acks(const cc_event_t *ev)
{
    pthread_mutex_lock(&mock_lock);
    int n = ev->acks;
    pthread_mutex_unlock(&mock_lock);
    return n;
}
