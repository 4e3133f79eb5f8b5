/* core/runtime.h — the running daemon: instances, threads, lifecycle.
 *
 * Threads: the main thread runs `base` (signals, admin listener, state
 * flushes, shutdown); each sink runs its own event loop thread; each source
 * runs whatever threads it starts itself.
 */
#ifndef CC_CORE_RUNTIME_H
#define CC_CORE_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>

#include <event2/event.h>

#include "core/admin.h"
#include "core/bus.h"
#include "core/emit.h"
#include "core/envelope.h"
#include "core/loader.h"
#include "core/manifest.h"
#include "core/metrics.h"
#include "core/state.h"

typedef struct cc_runtime cc_runtime_t;

struct cc_instance {
    cc_runtime_t *rt;
    const cc_manifest_entry_t *entry;     /* borrowed from the manifest   */
    const cc_loaded_plugin_t *plugin;     /* borrowed from the loader     */
    uint32_t index;                       /* among sources / among sinks  */
    void *state;                          /* the plugin's                 */
    int inited;
    _Atomic int status;                   /* cc_source_status_t / cc_sink_status_t */

    pthread_mutex_t paths_lock;           /* config_path results, owned   */
    char **paths;
    size_t n_paths;

    /* sources */
    cc_emit_ctx_t emit;                   /* reused by emit (source's thread)  */
    struct cc_builder *builder;           /* emit_batch's second thread, or NULL */
    int builder_failed;
    cc_metric_t *m_events, *m_lag, *m_bad;
    char *committed;                      /* last position handed to desc.committed
                                             (main thread), owned, or NULL */

    /* sinks */
    int lossless;
    uint8_t *from;                        /* per source index: 1 = wanted */
    struct event_base *base;
    pthread_t thread;
    int thread_started;
    struct event *drain_ev, *linger_ev, *stop_ev, *reopen_ev;
    cc_bus_consumer_t *consumer;
    cc_event_t **polled, **matched, **skipped;
    cc_metric_t *m_ok, *m_failed, *m_dropped, *m_retried;
    /* ok = acknowledged - given up (a dead-lettered event is acknowledged
     * too, to leave the bus), computed when /metrics is rendered. */
    _Atomic uint64_t n_acked, n_given_up;
    double ok_shown;                      /* main thread: never goes down */
    pthread_mutex_t run_lock;             /* stop handshake with the sink thread */
    pthread_cond_t run_cond;
    int stopped;
};

struct cc_runtime {
    cc_manifest_t *manifest;              /* owned */
    cc_loader_t loader;
    cc_bus_t *bus;
    cc_state_t *state;
    cc_metrics_t *metrics;
    struct event_base *base;
    cc_admin_t *admin;
    cc_instance_t *sources;
    size_t n_sources;
    cc_instance_t *sinks;
    size_t n_sinks;
    struct event *sig_term, *sig_int, *sig_hup, *flush_timer, *shutdown_ev, *drain_timer,
        *finish_ev;
    _Atomic int exit_code;
    _Atomic int stopping;
    uint64_t drain_deadline_ns;           /* UINT64_MAX: none (every source finished) */
    int finishing;                        /* main thread: stop came from the sources */
    cc_metric_t *m_bus_depth, *m_bus_cap, *m_state_errors;
};

/* The host vtable handed to every plugin (host.c). */
extern const cc_host_t cc_host_api;

/* Loads plugins and checks each entry's config (no init). Returns 0 or
 * CC_ECONFIG after printing the message. Used by `check` and `run`. */
int cc_runtime_prepare(cc_runtime_t *rt, cc_manifest_t *m, int quiet_refusals);
/* After a successful prepare, for `changecast check`: asks every plugin that
 * has one (ABI 1.3 `check`) about its entry's config, on a throwaway
 * instance; every entry is asked, each logs its own errors. 0, CC_ECONFIG
 * or CC_ENOMEM. */
int cc_runtime_check_plugins(cc_runtime_t *rt);
/* Runs until stopped. Returns the exit status (0, 1). */
int cc_runtime_run(cc_runtime_t *rt);
void cc_runtime_free(cc_runtime_t *rt);

/* Plugin folders to scan: manifest, else $CHANGECAST_PLUGIN_DIR, else the
 * installed folder. Returns new strings in *out (free each and the array). */
int cc_plugin_dirs(const cc_manifest_t *m, const char *override, char ***out, size_t *n);

/* Called from any thread: begin an orderly stop with this exit status. */
void cc_runtime_request_stop(cc_runtime_t *rt, int exit_code);
/* A source reported FINISHED: stop once every source has. Any thread. */
void cc_runtime_source_finished(cc_runtime_t *rt);

uint64_t cc_now_ns(void);

#endif
