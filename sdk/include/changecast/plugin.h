/* changecast/plugin.h — the plugin descriptor and the host API.
 *
 * A plugin is a shared object exporting exactly one symbol:
 *
 *     CC_EXPORT const cc_plugin_t *cc_plugin_entry(void);
 *
 * returning a static descriptor that starts with the ABI version it was built
 * against and its own size. The host accepts a plugin when the majors match
 * and the plugin's minor is not newer than the host's; within a major, structs
 * only grow at the end and each side reads no further than the other's
 * `size`. Plugins are loaded RTLD_NOW | RTLD_LOCAL and should be built with
 * -fvisibility=hidden; the daemon exports no symbols, so every host service is
 * reached through the `cc_host_t` vtable handed to `init`.
 *
 * Threads. Sources: init, start, stop and destroy run on the main thread;
 * a source that blocks (a database driver) runs its own thread, started in
 * `start` and joined in `stop`, and hands changes to the core with
 * `host->emit`. Sinks: init and destroy run on the main thread; start,
 * deliver, reopen and stop run on the sink's own event-loop thread
 * (`host->event_base`), which the sink may use for its own I/O and timers.
 * Plugins never block the thread that calls them for long.
 */
#ifndef CHANGECAST_PLUGIN_H
#define CHANGECAST_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>

#include "changecast/portable.h"
#include "changecast/error.h"
#include "changecast/config.h"

/* ABI history:
 *   1.0  descriptor up to `destroy`; host up to `fatal`.
 *   1.1  descriptor gains `reopen` (SIGHUP) and `flags`; host gains `metric_*`
 *        `emit_batch` and `instance_place`; cc_change_t gains `origin`.
 *   1.2  descriptor gains `committed` (sources learn what is durably
 *        acknowledged); host gains `emit_envelope` (sources that receive
 *        finished envelopes, e.g. from another changecast node).
 *   1.3  descriptor gains `check` (`changecast check` asks the plugin about
 *        its config beyond the key table); host gains `emit_position` (a
 *        source's resume point moves without an event).
 */
#define CC_ABI_MAJOR 1
#define CC_ABI_MINOR 3

typedef enum cc_plugin_kind {
    CC_PLUGIN_SOURCE = 1,
    CC_PLUGIN_SINK = 2
} cc_plugin_kind_t;

typedef enum cc_log_level {
    CC_LOG_ERROR = 0,
    CC_LOG_WARN,
    CC_LOG_INFO,
    CC_LOG_DEBUG
} cc_log_level_t;

/* A configured plugin instance (one manifest entry). Opaque; owned by the core. */
typedef struct cc_instance cc_instance_t;

/* One change as every sink sees it: immutable, reference-counted, with its
 * envelope rendered once. Opaque; read it through the host's event_* calls. */
typedef struct cc_event cc_event_t;

/* A sink's view of consecutive events. Borrowed for the duration of
 * `deliver`; the events in it stay valid until the sink acknowledges them
 * (or longer with host->event_ref). */
typedef struct cc_batch {
    size_t size;                 /* sizeof(cc_batch_t) as built by the host */
    size_t count;                /* number of events                        */
    cc_event_t *const *events;   /* borrowed                                */
} cc_batch_t;

/* Source status, for /healthz. */
typedef enum cc_source_status {
    CC_SOURCE_CONNECTING = 0,
    CC_SOURCE_CONNECTED,
    CC_SOURCE_FAILED,
    /* Nothing more to emit (a replay reached its end). When every source has
     * finished and lossless sinks have drained, the daemon stops with 0. */
    CC_SOURCE_FINISHED
} cc_source_status_t;

/* Sink status, for /healthz. */
typedef enum cc_sink_status {
    CC_SINK_OK = 0,
    CC_SINK_RETRYING,
    CC_SINK_DOWN
} cc_sink_status_t;

/* Outcomes a sink reports beyond "ok" (which the core counts at ack). */
typedef enum cc_sink_result {
    CC_RESULT_FAILED = 1,        /* given up (dead-lettered, refused)       */
    CC_RESULT_DROPPED,           /* skipped by policy (slow client, ...)    */
    CC_RESULT_RETRIED            /* one more attempt scheduled              */
} cc_sink_result_t;

/* Opaque rules from a "fields" list and a "recipient" path (host->shape_new). */
typedef struct cc_shape cc_shape_t;

/* One change handed from a source to the core (see host->emit). */
typedef struct cc_change {
    size_t size;                      /* sizeof(cc_change_t)                          */
    const uint8_t *bson;              /* the change document as BSON, or NULL         */
    size_t bson_len;
    const char *json;                 /* ... or as canonical/relaxed Extended JSON
                                         (json_len bytes; no NUL needed)             */
    size_t json_len;
    const char *position;             /* resume position after this change, or NULL;
                                         restored through host->state_position       */
    const cc_shape_t *shape;          /* fields/recipient rules, or NULL              */
    const char *const *recipients;    /* explicit recipients (e.g. from a lookup)     */
    size_t n_recipients;              /* used when recipients != NULL; 0 = broadcast  */
    const char *origin;               /* where the change came from, for messages
                                         ("replay.jsonl:17"), or NULL                */
} cc_change_t;

/* A plugin-defined metric (ABI 1.1). */
typedef struct cc_metric cc_metric_t;

typedef enum cc_metric_kind {
    CC_METRIC_COUNTER = 1,
    CC_METRIC_GAUGE
} cc_metric_kind_t;

typedef struct cc_host cc_host_t;

/* The plugin descriptor. Build it with designated initializers and
 * .abi_major = CC_ABI_MAJOR, .abi_minor = CC_ABI_MINOR,
 * .size = sizeof(cc_plugin_t). */
typedef struct cc_plugin {
    uint32_t abi_major;
    uint32_t abi_minor;
    size_t size;
    const char *name;            /* unique among loaded plugins: [a-z0-9_-]+  */
    const char *version;
    const char *description;
    cc_plugin_kind_t kind;
    const cc_config_field_t *config;   /* key table; NULL = takes no keys  */

    /* Creates the instance. `self` and `host` stay valid until destroy.
     * On success stores the plugin's state in *state (returns new, owned by
     * the plugin, freed in destroy) and returns 0; on failure returns a
     * negative CC_E* after logging why, and destroy is not called. */
    int (*init)(cc_instance_t *self, const cc_host_t *host, void **state);

    /* Starts producing (sources) or accepting (sinks). Sources return at
     * once and work on their own thread. 0 or CC_E*. */
    int (*start)(void *state);

    /* Sinks only: takes a batch (borrowed; see cc_batch_t). The sink
     * acknowledges each event with host->ack / host->ack_batch, now or later,
     * from any thread. Must not block. 0, or CC_E* to make the core log it
     * (the events still need acknowledging). */
    int (*deliver)(void *state, const cc_batch_t *batch);

    /* Sources: stop emitting and join threads; emit calls after this fail
     * with CC_ECLOSED. Sinks: called after the bus drained (or the shutdown
     * deadline passed); flush what can be flushed quickly. */
    void (*stop)(void *state);

    /* Frees the state. Never called when init failed. */
    void (*destroy)(void *state);

    /* --- ABI 1.1 --- */

    /* Optional: SIGHUP reached the process; reopen output files. */
    void (*reopen)(void *state);
    /* CC_PLUGIN_F_* bits. */
    uint32_t flags;

    /* --- ABI 1.2 --- */

    /* Sources, optional: `position` (borrowed for the call) is the newest
     * position of this source that every lossless sink has acknowledged and
     * that is now written to the state file; everything the source emitted
     * up to it is durable, so a source may release it upstream (e.g. XACK).
     * Called on the main thread after each state-file write that changed
     * this source's position (and once after the first write of a run with
     * the position restored from the last run). Must not block. */
    void (*committed)(void *state, const char *position);

    /* --- ABI 1.3 --- */

    /* Optional: judges the instance's config as init would (a connection
     * string that does not parse, a malformed template, a TLS key that
     * does not load), for `changecast check`. Only config getters, log,
     * instance_name, instance_place and shape_new/shape_free may be
     * called (the instance is not set up for more); nothing is opened,
     * connected or started, and nothing outlives the call. Logs why and
     * returns CC_ECONFIG (or CC_ENOMEM); 0 when init would accept it. Main
     * thread; init is not called in that process. */
    int (*check)(cc_instance_t *self, const cc_host_t *host);
} cc_plugin_t;

/* Sink default for "on_full" is "drop" instead of "block" (live feeds). */
#define CC_PLUGIN_F_LOSSY_DEFAULT 0x1u

/* The host API. `size` says how far the host's table reaches: test a member
 * with CC_HOST_HAS(host, member) before calling one newer than ABI 1.0. */
struct cc_host {
    size_t size;
    uint32_t abi_major;
    uint32_t abi_minor;

    /* --- ABI 1.0 --- */

    /* Logs one record for this instance. Any thread. */
    void (*log)(cc_instance_t *self, cc_log_level_t level, const char *fmt, ...) CC_PRINTF(3, 4);

    /* The instance's name from the manifest (borrowed). Any thread. */
    const char *(*instance_name)(cc_instance_t *self);

    /* Config getters over the validated config (defaults filled in). `path`
     * is a dotted key ("auth.jwt_secret"). Values are borrowed and valid
     * until destroy. A missing key gives NULL / `def`. Any thread. */
    const char *(*config_string)(cc_instance_t *self, const char *path);
    int64_t (*config_int)(cc_instance_t *self, const char *path, int64_t def);
    double (*config_double)(cc_instance_t *self, const char *path, double def);
    int (*config_bool)(cc_instance_t *self, const char *path, int def);
    size_t (*config_count)(cc_instance_t *self, const char *path);  /* array length, 0 if absent */
    const char *(*config_string_at)(cc_instance_t *self, const char *path, size_t i);
    /* The raw value as a jansson `const json_t *` (borrowed), for plugins
     * that link jansson; NULL if absent. */
    const void *(*config_json)(cc_instance_t *self, const char *path);
    /* A string key holding a file path, resolved against the manifest's
     * folder unless absolute or "-". Borrowed, valid until destroy. */
    const char *(*config_path)(cc_instance_t *self, const char *path);

    /* Sinks: the sink's own libevent `struct event_base *` (its thread). */
    void *(*event_base)(cc_instance_t *self);

    /* Sources: the position saved for this source by the last run, or NULL
     * when none (borrowed, valid until destroy). Main thread or the
     * source's thread. */
    const char *(*state_position)(cc_instance_t *self);

    /* Sources: builds rules from a "fields" list and a "recipient" path
     * (either may be empty/NULL; both borrowed for the call: the paths are
     * copied). Returns new (freed with shape_free) or NULL on a bad path,
     * logging why. Any thread. */
    cc_shape_t *(*shape_new)(cc_instance_t *self, const char *const *fields, size_t n_fields,
                             const char *recipient_path);
    void (*shape_free)(cc_shape_t *shape);

    /* Sources: turns one change document into events (one per recipient)
     * and publishes them on the bus, waiting while the bus is full for a
     * lossless sink. `change` is borrowed: copied before return. Returns 0,
     * CC_EPARSE (bad document; logged once by the core with `origin` and the
     * reason, counted, nothing published: the caller goes on without logging
     * it again), or CC_ECLOSED (shutting down: stop reading). Call
     * from the source's own thread, one thread per source. */
    int (*emit)(cc_instance_t *self, const cc_change_t *change);

    /* Sources: reports connection state for /healthz. Any thread. */
    void (*source_status)(cc_instance_t *self, cc_source_status_t status);

    /* Sinks: acknowledges one event of a batch (exactly once per event),
     * in any order, from any thread. After this the event may be freed
     * unless the sink holds a reference. */
    void (*ack)(cc_instance_t *self, const cc_event_t *event);
    /* Sinks: acknowledges every event of `batch` (none acknowledged yet).
     * A sink may also pass a cc_batch_t of its own over events it kept, as
     * long as they are in the order they were delivered. */
    void (*ack_batch)(cc_instance_t *self, const cc_batch_t *batch);
    /* Sinks: counts outcomes for changecast_sink_events_total: RETRIED once
     * per event per extra attempt; FAILED for an event given up on (dead-
     * lettered), which is still acknowledged so that it leaves the bus: it
     * then counts as failed, not ok. Any thread. */
    void (*count)(cc_instance_t *self, cc_sink_result_t result, uint64_t n);
    /* Sinks: reports delivery health for /healthz: RETRYING while a
     * destination answers with errors and events are being retried, DOWN
     * while it cannot be reached (or written) at all, OK once it works.
     * Any thread. */
    void (*sink_status)(cc_instance_t *self, cc_sink_status_t status);

    /* Events: accessors (borrowed results, valid while the event is). */
    const char *(*event_json)(const cc_event_t *ev, size_t *len);  /* the envelope */
    const char *(*event_id)(const cc_event_t *ev);
    const char *(*event_recipient)(const cc_event_t *ev);          /* NULL = broadcast */
    const char *(*event_operation)(const cc_event_t *ev);
    const char *(*event_database)(const cc_event_t *ev);
    const char *(*event_collection)(const cc_event_t *ev);
    const char *(*event_document_id)(const cc_event_t *ev);
    double (*event_timestamp)(const cc_event_t *ev);
    /* Takes / drops a reference, to keep an event past its ack. Any thread. */
    cc_event_t *(*event_ref)(const cc_event_t *ev);
    void (*event_unref)(cc_event_t *ev);

    /* Stops the process with exit status 1 after logging `msg`: for errors
     * a plugin cannot recover from (e.g. change-stream history lost with
     * on_history_lost=fail). Any thread; returns at once. */
    void (*fatal)(cc_instance_t *self, const char *msg);

    /* --- ABI 1.1 --- */

    /* Registers a metric exported on /metrics as `name{source|sink="<instance>"
     * [,label="<value>"]}`. `label` may be NULL. Returns new, owned by the
     * core (freed at exit), or NULL. Main thread, during init. */
    cc_metric_t *(*metric_new)(cc_instance_t *self, cc_metric_kind_t kind, const char *name,
                               const char *help, const char *label, const char *label_value);
    /* Adds to a counter or gauge; sets a gauge. Any thread. */
    void (*metric_add)(cc_metric_t *m, double v);
    void (*metric_set)(cc_metric_t *m, double v);

    /* Sources: emits changes[0..n) in order, as n calls of emit would, but
     * lets the core build their envelopes on more than one core. Every
     * change is borrowed for the call only. A change that cannot be parsed
     * is logged (with its origin), counted and skipped; the others go on.
     * Returns 0, or CC_ECLOSED when shutting down (then *done, if not NULL,
     * is how many changes were taken, in order; the rest were not).
     * Call from the source's own thread. */
    int (*emit_batch)(cc_instance_t *self, const cc_change_t *changes, size_t n, size_t *done);

    /* The instance's place in the manifest ("sinks[1]"), so a plugin's own
     * config errors read like the core's: "sinks[1].config.url: …".
     * Borrowed, valid until destroy. Any thread. */
    const char *(*instance_place)(cc_instance_t *self);

    /* --- ABI 1.2 --- */

    /* Sources: publishes one event whose envelope is already built (by
     * another changecast node, say), byte for byte: `json` (len bytes, no
     * NUL needed, borrowed for the call) must be a JSON object with string
     * "id" and "operation", "recipient" a string or null, string
     * "collection", "namespace" and "document_id", and a number
     * "timestamp"; sinks' `where` filters and the event_* accessors read
     * those keys ("namespace" is the database). `position` (copied, or
     * NULL) is the resume position after this event, as in cc_change_t;
     * `origin` (or NULL) names where it came from in messages. Waits while
     * the bus is full for a lossless sink, like emit. Returns 0, CC_EPARSE
     * (not such an object: logged once with `origin` and the reason,
     * counted as a bad change, nothing published), CC_ENOMEM, or CC_ECLOSED
     * (shutting down: stop reading). The source's own thread. */
    int (*emit_envelope)(cc_instance_t *self, const char *json, size_t len,
                         const char *position, const char *origin);

    /* --- ABI 1.3 --- */

    /* Sources: the source has moved on without anything to emit (changes
     * its filter dropped, a quiet stream whose server-side resume point
     * advanced: MongoDB's postBatchResumeToken). `position` (copied) is
     * saved as the source's resume point once every lossless sink has
     * acknowledged what the source emitted before this call; no sink sees
     * anything. Without it a filtered stream's saved point would age until
     * the server's history no longer reaches it. Ordered with the source's
     * emits; waits while the bus is full, like emit. Returns 0, CC_EINVAL
     * (NULL position), CC_ENOMEM or CC_ECLOSED. The source's own thread. */
    int (*emit_position)(cc_instance_t *self, const char *position);
};

#define CC_HOST_HAS(host, member)                                            \
    ((host)->size >= offsetof(cc_host_t, member) + sizeof((host)->member) && \
     (host)->member != NULL)

/* The instance's place for config messages ("sinks[1]"): host->
 * instance_place, or before ABI 1.1 "<list>[<name>]" written into `buf`
 * (`list` is "sources" or "sinks"). Borrowed, valid until destroy (or
 * while buf lives). */
static inline const char *cc_place(const cc_host_t *host, cc_instance_t *self, const char *list,
                                   char *buf, size_t len)
{
    if (CC_HOST_HAS(host, instance_place))
        return host->instance_place(self);
    snprintf(buf, len, "%s[%s]", list, host->instance_name(self));
    return buf;
}

/* Declares the entry point. Use once per plugin:
 *     CC_PLUGIN_ENTRY(my_plugin_descriptor)
 */
#define CC_PLUGIN_ENTRY(desc)                                                \
    CC_EXPORT const cc_plugin_t *cc_plugin_entry(void);                      \
    CC_EXPORT const cc_plugin_t *cc_plugin_entry(void) { return &(desc); }

#endif
