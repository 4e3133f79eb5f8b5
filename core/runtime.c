/* core/runtime.c — from a checked manifest to a running daemon and back.
 *
 * Start: load plugins, check each config against its table, init every
 * instance, start sink threads, then sources. Stop (signal, fatal error, or
 * every source finished): close the bus so sources stop, wait until lossless
 * sinks acknowledged everything (bounded by shutdown_ms), stop sinks, write
 * the state, exit.
 */
#include "core/runtime.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/thread.h>

#include "cc_config.h"
#include "core/log.h"

#define SINK_BATCH 1024
/* While events keep coming, a sink polls again after this long instead of
 * being woken by producers for each one: a wake costs the producer a
 * syscall and the sink a context switch; this costs at most that much
 * latency under load and none when idle. */
#define SINK_LINGER_US 1000

/* ------------------------------------------------------------------ */
/* Plugin folders                                                      */

static int split_dirs(const char *list, char ***out, size_t *n)
{
    char *copy = strdup(list);
    if (!copy)
        return CC_ENOMEM;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
        char **v = realloc(*out, (*n + 1) * sizeof *v);
        if (!v) {
            free(copy);
            return CC_ENOMEM;
        }
        *out = v;
        if (!(v[*n] = strdup(tok))) {
            free(copy);
            return CC_ENOMEM;
        }
        (*n)++;
    }
    free(copy);
    return 0;
}

int cc_plugin_dirs(const cc_manifest_t *m, const char *override, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (override)
        return split_dirs(override, out, n);
    if (m && m->n_plugin_dirs) {
        for (size_t i = 0; i < m->n_plugin_dirs; i++) {
            int rc = split_dirs(m->plugin_dirs[i], out, n);
            if (rc)
                return rc;
        }
        return 0;
    }
    const char *env = getenv("CHANGECAST_PLUGIN_DIR");
    return split_dirs(env && *env ? env : CC_PLUGIN_DIR, out, n);
}

static void free_dirs(char **dirs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    free(dirs);
}

/* ------------------------------------------------------------------ */
/* Prepare: load and check, no init                                    */

static int check_entry(cc_runtime_t *rt, const cc_manifest_entry_t *e, cc_plugin_kind_t kind,
                       const char *dirs_text)
{
    const cc_manifest_t *m = rt->manifest;
    const cc_loaded_plugin_t *p = cc_loader_find(&rt->loader, e->plugin);
    if (!p) {
        cc_buf_t names = CC_BUF_INIT;
        for (size_t i = 0; i < rt->loader.n_plugins; i++) {
            if (i)
                cc_buf_lit(&names, ", ");
            cc_buf_puts(&names, rt->loader.plugins[i].desc.name);
        }
        fprintf(stderr, "%s: %s.plugin: no plugin named \"%s\" in %s (found: %s)%s\n", m->display,
                e->place, e->plugin, dirs_text, names.len ? cc_buf_cstr(&names) : "none",
                rt->loader.n_refused ? "; some files were refused: run `changecast plugins` "
                                       "to see why"
                                     : "");
        cc_buf_free(&names);
        return CC_ECONFIG;
    }
    if (p->desc.kind != kind) {
        fprintf(stderr, "%s: %s.plugin: \"%s\" is a %s, not a %s\n", m->display, e->place,
                e->plugin, p->desc.kind == CC_PLUGIN_SOURCE ? "source" : "sink",
                kind == CC_PLUGIN_SOURCE ? "source" : "sink");
        return CC_ECONFIG;
    }
    char place[64], err[1024];
    snprintf(place, sizeof place, "%s.config", e->place);
    if (p->desc.config) {
        if (cc_config_validate(e->config, p->desc.config, place, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", m->display, err);
            return CC_ECONFIG;
        }
    } else if (json_object_size(e->config) > 0) {
        fprintf(stderr, "%s: %s: plugin \"%s\" takes no configuration keys\n", m->display, place,
                e->plugin);
        return CC_ECONFIG;
    }
    return 0;
}

int cc_runtime_prepare(cc_runtime_t *rt, cc_manifest_t *m, int quiet_refusals)
{
    memset(rt, 0, sizeof *rt);
    rt->manifest = m;
    char **dirs;
    size_t n_dirs;
    if (cc_plugin_dirs(m, NULL, &dirs, &n_dirs) != 0)
        return CC_ENOMEM;
    cc_buf_t dt = CC_BUF_INIT;
    for (size_t i = 0; i < n_dirs; i++) {
        if (i)
            cc_buf_putc(&dt, ':');
        cc_buf_puts(&dt, dirs[i]);
    }
    int rc = cc_loader_scan(&rt->loader, dirs, n_dirs);
    free_dirs(dirs, n_dirs);
    if (!quiet_refusals)
        for (size_t i = 0; i < rt->loader.n_refused; i++)
            cc_log_warn("%s", rt->loader.refused[i]);
    for (size_t i = 0; rc == 0 && i < m->n_sources; i++)
        rc = check_entry(rt, &m->sources[i], CC_PLUGIN_SOURCE, cc_buf_cstr(&dt));
    for (size_t i = 0; rc == 0 && i < m->n_sinks; i++)
        rc = check_entry(rt, &m->sinks[i], CC_PLUGIN_SINK, cc_buf_cstr(&dt));
    cc_buf_free(&dt);
    return rc;
}

int cc_runtime_check_plugins(cc_runtime_t *rt)
{
    const cc_manifest_t *m = rt->manifest;
    int rc = 0;
    for (size_t k = 0; k < m->n_sources + m->n_sinks; k++) {
        int is_source = k < m->n_sources;
        const cc_manifest_entry_t *e = is_source ? &m->sources[k] : &m->sinks[k - m->n_sources];
        const cc_loaded_plugin_t *p = cc_loader_find(&rt->loader, e->plugin);
        if (!p || p->desc.abi_minor < 3 || !p->desc.check)
            continue;
        /* Only what the config getters, log and place read. */
        cc_instance_t *in = calloc(1, sizeof *in);
        if (!in)
            return CC_ENOMEM;
        in->rt = rt;
        in->entry = e;
        in->plugin = p;
        in->index = (uint32_t)(is_source ? k : k - m->n_sources);
        pthread_mutex_init(&in->paths_lock, NULL);
        int r = p->desc.check(in, &cc_host_api);
        if (r != 0 && rc != CC_ENOMEM)
            rc = r == CC_ENOMEM ? CC_ENOMEM : CC_ECONFIG;
        for (size_t i = 0; i < in->n_paths; i++)
            free(in->paths[i]);
        free(in->paths);
        pthread_mutex_destroy(&in->paths_lock);
        free(in);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Sinks: one event loop thread each                                   */

static int sink_wants(const cc_instance_t *s, const cc_event_t *ev)
{
    const cc_manifest_entry_t *e = s->entry;
    if (!ev->op_mask)
        return 0;   /* a position marker: acknowledged at once, never delivered */
    if (s->from && !s->from[ev->source])
        return 0;
    const cc_where_t *w = &e->where;
    if (w->op_mask && !(w->op_mask & ev->op_mask))
        return 0;
    if (w->recipient_present >= 0 && (ev->recipient != NULL) != (w->recipient_present != 0))
        return 0;
    if (w->n_databases) {
        size_t i = 0;
        while (i < w->n_databases && (!ev->database || strcmp(w->databases[i], ev->database)))
            i++;
        if (i == w->n_databases)
            return 0;
    }
    if (w->n_collections) {
        size_t i = 0;
        while (i < w->n_collections && strcmp(w->collections[i], ev->collection))
            i++;
        if (i == w->n_collections)
            return 0;
    }
    return 1;
}

static void sink_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cc_instance_t *s = arg;
    uint64_t dropped = 0;
    size_t n = cc_bus_poll(s->consumer, s->polled, SINK_BATCH, &dropped);
    if (dropped)
        cc_metric_add(s->m_dropped, (double)dropped);
    if (n) {
        size_t k = 0, j = 0;
        for (size_t i = 0; i < n; i++) {
            if (sink_wants(s, s->polled[i]))
                s->matched[k++] = s->polled[i];
            else
                s->skipped[j++] = s->polled[i];
        }
        if (j)
            cc_bus_ack(s->consumer, s->skipped, j);
        if (k) {
            cc_batch_t batch = {sizeof batch, k, s->matched};
            int rc = s->plugin->desc.deliver(s->state, &batch);
            if (rc != 0)
                cc_log(CC_LOG_WARN, s->plugin->desc.name, s->entry->name, "deliver: %s",
                       cc_strerror(rc));
        }
    }
    if (n == SINK_BATCH) {
        /* More is waiting: come back after pending I/O had its turn. A
         * zero timeout, not event_active: libevent runs events activated
         * from a callback in the same pass, before polling sockets, so a
         * long backlog would be delivered whole before a sink's sockets
         * could write anything. */
        static const struct timeval now = {0, 0};
        event_add(s->linger_ev, &now);
    } else if (n > 0) {
        static const struct timeval linger = {0, SINK_LINGER_US};
        event_add(s->linger_ev, &linger);
    } else if (cc_bus_sleep(s->consumer)) {
        event_active(s->drain_ev, EV_READ, 0);
    }
}

static void sink_wake(void *arg)
{
    cc_instance_t *s = arg;
    event_active(s->drain_ev, EV_READ, 0);
}

static void sink_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cc_instance_t *s = arg;
    s->plugin->desc.stop(s->state);
    event_base_loopbreak(s->base);
}

static void sink_reopen_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cc_instance_t *s = arg;
    if (s->plugin->desc.reopen)
        s->plugin->desc.reopen(s->state);
}

static void *sink_thread(void *arg)
{
    cc_instance_t *s = arg;
    int rc = s->plugin->desc.start(s->state);
    pthread_mutex_lock(&s->run_lock);
    s->stopped = rc ? -1 : 1;    /* 1: running; -1: start failed */
    pthread_cond_signal(&s->run_cond);
    pthread_mutex_unlock(&s->run_lock);
    if (rc) {
        cc_log(CC_LOG_ERROR, s->plugin->desc.name, s->entry->name, "start failed: %s",
               cc_strerror(rc));
        return NULL;
    }
    event_active(s->drain_ev, EV_READ, 0);
    event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static int sink_start(cc_instance_t *s)
{
    pthread_mutex_lock(&s->run_lock);
    if (pthread_create(&s->thread, NULL, sink_thread, s) != 0) {
        pthread_mutex_unlock(&s->run_lock);
        cc_log_error("sink %s: cannot start a thread: %s", s->entry->name, strerror(errno));
        return CC_EIO;
    }
    s->thread_started = 1;
    /* "cc:<sink name>" in top -H, perf and gdb (15 characters at most). */
    char tname[16];
    snprintf(tname, sizeof tname, "cc:%s", s->entry->name);
    pthread_setname_np(s->thread, tname);
    while (s->stopped == 0)
        pthread_cond_wait(&s->run_cond, &s->run_lock);
    int ok = s->stopped == 1;
    pthread_mutex_unlock(&s->run_lock);
    return ok ? 0 : CC_EIO;
}

static void sink_stop(cc_instance_t *s)
{
    if (!s->thread_started)
        return;
    if (s->stopped == 1)
        event_active(s->stop_ev, EV_READ, 0);
    pthread_join(s->thread, NULL);
    s->thread_started = 0;
}

/* ------------------------------------------------------------------ */
/* Instances                                                           */

static void on_position(void *arg, uint32_t source, const char *position)
{
    cc_runtime_t *rt = arg;
    if (source < rt->n_sources && rt->state)
        cc_state_set(rt->state, rt->sources[source].entry->name, position);
}

/* The state file now holds `position` for `source`: tell the source, when
 * it asked (ABI 1.2 `committed`) and the position is new to it. The main
 * thread (flush_state). */
static void on_written(void *arg, const char *source, const char *position)
{
    cc_runtime_t *rt = arg;
    for (size_t i = 0; i < rt->n_sources; i++) {
        cc_instance_t *in = &rt->sources[i];
        if (strcmp(in->entry->name, source) != 0)
            continue;
        if (!in->inited || in->plugin->desc.abi_minor < 2 || !in->plugin->desc.committed)
            return;
        if (in->committed && strcmp(in->committed, position) == 0)
            return;
        char *copy = strdup(position);
        if (!copy)
            return;   /* told again after the next write */
        free(in->committed);
        in->committed = copy;
        in->plugin->desc.committed(in->state, position);
        return;
    }
}

/* Registers `name{who="<instance>"[,result="<result>"]}`. */
static cc_metric_t *instance_metric(cc_runtime_t *rt, cc_metric_kind_t kind, const char *name,
                                    const char *help, const char *who, const char *instance,
                                    const char *result)
{
    cc_buf_t labels = CC_BUF_INIT;
    cc_buf_printf(&labels, "%s=", who);
    cc_metrics_label_value(&labels, instance);
    if (result)
        cc_buf_printf(&labels, ",result=\"%s\"", result);
    cc_metric_t *m = labels.oom ? NULL
                                : cc_metrics_add(rt->metrics, kind, name, help, cc_buf_cstr(&labels));
    cc_buf_free(&labels);
    return m;
}

static int instance_setup(cc_runtime_t *rt, cc_instance_t *in, const cc_manifest_entry_t *e,
                          uint32_t index)
{
    in->rt = rt;
    in->entry = e;
    in->plugin = cc_loader_find(&rt->loader, e->plugin);
    in->index = index;
    pthread_mutex_init(&in->paths_lock, NULL);
    pthread_mutex_init(&in->run_lock, NULL);
    pthread_cond_init(&in->run_cond, NULL);
    if (in->plugin->desc.kind == CC_PLUGIN_SOURCE) {
        atomic_init(&in->status, CC_SOURCE_CONNECTING);
        in->m_events = instance_metric(rt, CC_METRIC_COUNTER, "changecast_source_events_total",
                                       "Events published to the bus, per source.", "source",
                                       e->name, NULL);
        in->m_lag = instance_metric(rt, CC_METRIC_GAUGE, "changecast_source_lag_seconds",
                                    "Wall-clock seconds between a change and its publication.",
                                    "source", e->name, NULL);
        in->m_bad = instance_metric(rt, CC_METRIC_COUNTER, "changecast_source_bad_events_total",
                                    "Changes skipped because they could not be parsed.", "source",
                                    e->name, NULL);
        return in->m_events && in->m_lag && in->m_bad ? 0 : CC_ENOMEM;
    }
    atomic_init(&in->status, CC_SINK_OK);
    in->lossless = e->on_full == CC_ON_FULL_BLOCK ||
                   (e->on_full == CC_ON_FULL_DEFAULT &&
                    !(in->plugin->desc.flags & CC_PLUGIN_F_LOSSY_DEFAULT));
    if (e->n_from) {
        in->from = calloc(rt->n_sources, 1);
        if (!in->from)
            return CC_ENOMEM;
        for (size_t i = 0; i < e->n_from; i++)
            for (size_t j = 0; j < rt->n_sources; j++)
                if (strcmp(e->from[i], rt->sources[j].entry->name) == 0)
                    in->from[j] = 1;
    }
    static const char *const results[] = {"ok", "failed", "dropped", "retried"};
    cc_metric_t **slots[] = {&in->m_ok, &in->m_failed, &in->m_dropped, &in->m_retried};
    for (int i = 0; i < 4; i++) {
        *slots[i] = instance_metric(rt, CC_METRIC_COUNTER, "changecast_sink_events_total",
                                    "Events handled by each sink, by result.", "sink", e->name,
                                    results[i]);
        if (!*slots[i])
            return CC_ENOMEM;
    }
    in->base = event_base_new();
    in->polled = calloc(SINK_BATCH, sizeof *in->polled);
    in->matched = calloc(SINK_BATCH, sizeof *in->matched);
    in->skipped = calloc(SINK_BATCH, sizeof *in->skipped);
    if (!in->base || !in->polled || !in->matched || !in->skipped)
        return CC_ENOMEM;
    in->drain_ev = event_new(in->base, -1, 0, sink_drain_cb, in);
    in->linger_ev = evtimer_new(in->base, sink_drain_cb, in);
    in->stop_ev = event_new(in->base, -1, 0, sink_stop_cb, in);
    in->reopen_ev = event_new(in->base, -1, 0, sink_reopen_cb, in);
    in->consumer = cc_bus_consumer_add(rt->bus, in->lossless, sink_wake, in);
    return in->drain_ev && in->linger_ev && in->stop_ev && in->reopen_ev && in->consumer
               ? 0
               : CC_ENOMEM;
}

static void instance_free(cc_instance_t *in)
{
    if (!in->rt)
        return;
    if (in->inited)
        in->plugin->desc.destroy(in->state);
    cc_emit_free(in);
    free(in->committed);
    for (size_t i = 0; i < in->n_paths; i++)
        free(in->paths[i]);
    free(in->paths);
    free(in->from);
    free(in->polled);
    free(in->matched);
    free(in->skipped);
    if (in->drain_ev)
        event_free(in->drain_ev);
    if (in->linger_ev)
        event_free(in->linger_ev);
    if (in->stop_ev)
        event_free(in->stop_ev);
    if (in->reopen_ev)
        event_free(in->reopen_ev);
    if (in->base)
        event_base_free(in->base);
    pthread_mutex_destroy(&in->paths_lock);
    pthread_mutex_destroy(&in->run_lock);
    pthread_cond_destroy(&in->run_cond);
}

/* ------------------------------------------------------------------ */
/* Health and metrics                                                  */

static int health_cb(void *arg, cc_buf_t *body)
{
    static const char *const src_names[] = {"connecting", "connected", "failed", "connected"};
    static const char *const sink_names[] = {"ok", "retrying", "down"};
    cc_runtime_t *rt = arg;
    int healthy = 1;
    cc_buf_t parts = CC_BUF_INIT;
    cc_buf_lit(&parts, "\"sources\":{");
    for (size_t i = 0; i < rt->n_sources; i++) {
        int st = atomic_load(&rt->sources[i].status);
        if (st != CC_SOURCE_CONNECTED && st != CC_SOURCE_FINISHED)
            healthy = 0;
        if (i)
            cc_buf_putc(&parts, ',');
        cc_buf_json_string(&parts, rt->sources[i].entry->name, strlen(rt->sources[i].entry->name));
        cc_buf_printf(&parts, ":\"%s\"", src_names[st >= 0 && st <= 3 ? st : 0]);
    }
    cc_buf_lit(&parts, "},\"sinks\":{");
    for (size_t i = 0; i < rt->n_sinks; i++) {
        int st = atomic_load(&rt->sinks[i].status);
        /* A sink that cannot reach its destination at all (DOWN) makes the
         * node unhealthy too: a load balancer should prefer another node.
         * RETRYING (errors answered, events retried) does not. */
        if (st == CC_SINK_DOWN)
            healthy = 0;
        if (i)
            cc_buf_putc(&parts, ',');
        cc_buf_json_string(&parts, rt->sinks[i].entry->name, strlen(rt->sinks[i].entry->name));
        cc_buf_printf(&parts, ":\"%s\"", sink_names[st >= 0 && st <= 2 ? st : 0]);
    }
    cc_buf_putc(&parts, '}');
    cc_buf_printf(body, "{\"status\":\"%s\",%s}", healthy ? "ok" : "degraded",
                  cc_buf_cstr(&parts));
    cc_buf_free(&parts);
    return healthy;
}

static void metrics_refresh(void *arg)
{
    cc_runtime_t *rt = arg;
    cc_metric_set(rt->m_bus_depth, (double)cc_bus_depth(rt->bus));
    for (size_t i = 0; i < rt->n_sinks; i++) {
        cc_instance_t *s = &rt->sinks[i];
        uint64_t acked = atomic_load(&s->n_acked), given_up = atomic_load(&s->n_given_up);
        double ok = (double)(acked > given_up ? acked - given_up : 0);
        /* The two tallies are read apart: never let the counter go down. */
        if (ok > s->ok_shown) {
            s->ok_shown = ok;
            cc_metric_set(s->m_ok, ok);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Main-thread events: signals, state flushes, shutdown                */

static void flush_state(cc_runtime_t *rt)
{
    char err[512];
    if (cc_state_flush(rt->state, err, sizeof err) != 0) {
        cc_metric_add(rt->m_state_errors, 1);
        cc_log_error("%s", err);
    }
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush_state(arg);
}

void cc_runtime_request_stop(cc_runtime_t *rt, int exit_code)
{
    if (exit_code)
        atomic_store(&rt->exit_code, exit_code);
    if (!atomic_exchange(&rt->stopping, 1))
        event_active(rt->shutdown_ev, EV_READ, 0);
}

void cc_runtime_source_finished(cc_runtime_t *rt)
{
    event_active(rt->finish_ev, EV_READ, 0);
}

static void finish_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cc_runtime_t *rt = arg;
    for (size_t i = 0; i < rt->n_sources; i++)
        if (atomic_load(&rt->sources[i].status) != CC_SOURCE_FINISHED)
            return;
    /* Nobody asked to hurry: wait for lossless sinks without shutdown_ms
     * (a signal then starts the bounded drain). */
    rt->finishing = 1;
    cc_runtime_request_stop(rt, 0);
}

static void drain_check_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cc_runtime_t *rt = arg;
    int drained = cc_bus_drained(rt->bus);
    if (!drained && cc_now_ns() < rt->drain_deadline_ns)
        return;
    event_del(rt->drain_timer);
    if (!drained)
        cc_log_warn("shutdown_ms passed with %llu events not acknowledged by every sink; "
                    "they will be delivered again after a restart",
                    (unsigned long long)cc_bus_depth(rt->bus));
    for (size_t i = 0; i < rt->n_sinks; i++)
        sink_stop(&rt->sinks[i]);
    flush_state(rt);
    event_base_loopbreak(rt->base);
}

static void shutdown_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cc_runtime_t *rt = arg;
    if (rt->finishing && atomic_load(&rt->exit_code) == 0)
        cc_log_info("every source finished; stopping once lossless sinks have delivered "
                    "everything (SIGTERM to wait at most shutdown_ms)");
    else
        cc_log_info("stopping: sources first, then draining lossless sinks (up to %lld ms)",
                    (long long)rt->manifest->shutdown_ms);
    /* Closing first releases a source waiting for room on the bus. */
    cc_bus_close(rt->bus);
    for (size_t i = 0; i < rt->n_sources; i++)
        if (rt->sources[i].inited)
            rt->sources[i].plugin->desc.stop(rt->sources[i].state);
    rt->drain_deadline_ns = rt->finishing && atomic_load(&rt->exit_code) == 0
                                ? UINT64_MAX
                                : cc_now_ns() + (uint64_t)rt->manifest->shutdown_ms * 1000000ull;
    struct timeval tv = {0, 10000};
    event_add(rt->drain_timer, &tv);
    drain_check_cb(-1, 0, rt);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    cc_runtime_t *rt = arg;
    if (sig == SIGHUP) {
        cc_log_info("SIGHUP: reopening log and output files");
        cc_log_reopen();
        for (size_t i = 0; i < rt->n_sinks; i++)
            event_active(rt->sinks[i].reopen_ev, EV_READ, 0);
        for (size_t i = 0; i < rt->n_sources; i++)
            if (rt->sources[i].plugin->desc.reopen)
                rt->sources[i].plugin->desc.reopen(rt->sources[i].state);
        return;
    }
    if (atomic_load(&rt->stopping)) {
        if (rt->drain_deadline_ns == UINT64_MAX) {
            /* Finishing without a deadline: now bound it. */
            cc_log_info("%s received: waiting at most %lld ms more for sinks",
                        sig == SIGINT ? "SIGINT" : "SIGTERM", (long long)rt->manifest->shutdown_ms);
            rt->drain_deadline_ns = cc_now_ns() + (uint64_t)rt->manifest->shutdown_ms * 1000000ull;
            return;
        }
        cc_log_warn("second %s: stopping now without waiting for sinks",
                    sig == SIGINT ? "SIGINT" : "SIGTERM");
        rt->drain_deadline_ns = 0;
        return;
    }
    cc_log_info("%s received", sig == SIGINT ? "SIGINT" : "SIGTERM");
    cc_runtime_request_stop(rt, 0);
}

/* ------------------------------------------------------------------ */
/* Run                                                                 */

static int init_instance(cc_instance_t *in)
{
    int rc = in->plugin->desc.init(in, &cc_host_api, &in->state);
    if (rc != 0) {
        cc_log(CC_LOG_ERROR, in->plugin->desc.name, in->entry->name, "%s: init failed: %s",
               in->entry->place, cc_strerror(rc));
        return rc;
    }
    in->inited = 1;
    return 0;
}

int cc_runtime_run(cc_runtime_t *rt)
{
    cc_manifest_t *m = rt->manifest;
    char err[1024];
    int status = 1;

    evthread_use_pthreads();
    signal(SIGPIPE, SIG_IGN);

    if (cc_state_open(m->state_path, &rt->state, err, sizeof err) != 0) {
        cc_log_error("%s", err);
        return 1;
    }
    rt->metrics = cc_metrics_new();
    cc_state_on_written(rt->state, on_written, rt);
    rt->bus = cc_bus_new(m->bus_capacity, (uint32_t)m->n_sources, on_position, rt);
    rt->base = event_base_new();
    rt->sources = calloc(m->n_sources, sizeof *rt->sources);
    rt->sinks = calloc(m->n_sinks, sizeof *rt->sinks);
    if (!rt->metrics || !rt->bus || !rt->base || !rt->sources || !rt->sinks) {
        cc_log_error("out of memory (bus capacity %zu)", m->bus_capacity);
        return 1;
    }
    rt->m_bus_depth = cc_metrics_add(rt->metrics, CC_METRIC_GAUGE, "changecast_bus_depth",
                                     "Events on the bus not yet acknowledged by every sink.", NULL);
    rt->m_bus_cap = cc_metrics_add(rt->metrics, CC_METRIC_GAUGE, "changecast_bus_capacity",
                                   "Slots in the bus ring.", NULL);
    rt->m_state_errors = cc_metrics_add(rt->metrics, CC_METRIC_COUNTER,
                                        "changecast_state_write_errors_total",
                                        "Failed writes of the state file.", NULL);
    cc_metric_set(rt->m_bus_cap, (double)m->bus_capacity);
    cc_metrics_on_render(rt->metrics, metrics_refresh, rt);

    rt->n_sources = m->n_sources;
    rt->n_sinks = m->n_sinks;
    for (size_t i = 0; i < m->n_sources; i++)
        if (instance_setup(rt, &rt->sources[i], &m->sources[i], (uint32_t)i) != 0)
            goto oom;
    for (size_t i = 0; i < m->n_sinks; i++)
        if (instance_setup(rt, &rt->sinks[i], &m->sinks[i], (uint32_t)i) != 0)
            goto oom;

    rt->shutdown_ev = event_new(rt->base, -1, 0, shutdown_cb, rt);
    rt->finish_ev = event_new(rt->base, -1, 0, finish_cb, rt);
    rt->drain_timer = event_new(rt->base, -1, EV_PERSIST, drain_check_cb, rt);
    rt->flush_timer = event_new(rt->base, -1, EV_PERSIST, flush_cb, rt);
    rt->sig_term = evsignal_new(rt->base, SIGTERM, signal_cb, rt);
    rt->sig_int = evsignal_new(rt->base, SIGINT, signal_cb, rt);
    rt->sig_hup = evsignal_new(rt->base, SIGHUP, signal_cb, rt);
    if (!rt->shutdown_ev || !rt->finish_ev || !rt->drain_timer || !rt->flush_timer ||
        !rt->sig_term || !rt->sig_int || !rt->sig_hup)
        goto oom;

    /* init: a configuration the plugin rejects is a configuration error. */
    for (size_t i = 0; i < rt->n_sinks; i++)
        if ((status = init_instance(&rt->sinks[i])) != 0)
            goto out_init;
    for (size_t i = 0; i < rt->n_sources; i++)
        if ((status = init_instance(&rt->sources[i])) != 0)
            goto out_init;

    if (m->admin_listen &&
        cc_admin_start(rt->base, m->admin_listen, rt->metrics, health_cb, rt, &rt->admin, err,
                       sizeof err) != 0) {
        cc_log_error("%s", err);
        status = 1;
        goto out;
    }
    for (size_t i = 0; i < rt->n_sinks; i++)
        if (sink_start(&rt->sinks[i]) != 0) {
            status = 1;
            goto out;
        }
    evsignal_add(rt->sig_term, NULL);
    evsignal_add(rt->sig_int, NULL);
    evsignal_add(rt->sig_hup, NULL);
    struct timeval tv = {m->flush_ms / 1000, (m->flush_ms % 1000) * 1000};
    event_add(rt->flush_timer, &tv);
    for (size_t i = 0; i < rt->n_sources; i++) {
        cc_instance_t *s = &rt->sources[i];
        int rc = s->plugin->desc.start(s->state);
        if (rc != 0) {
            cc_log(CC_LOG_ERROR, s->plugin->desc.name, s->entry->name, "start failed: %s",
                   cc_strerror(rc));
            cc_runtime_request_stop(rt, 1);
            break;
        }
    }
    if (rt->admin)
        cc_log_info("changecast %s running: %zu source(s), %zu sink(s), bus %zu slots, admin on "
                    "port %d",
                    CC_VERSION, rt->n_sources, rt->n_sinks, m->bus_capacity,
                    cc_admin_port(rt->admin));
    else
        cc_log_info("changecast %s running: %zu source(s), %zu sink(s), bus %zu slots", CC_VERSION,
                    rt->n_sources, rt->n_sinks, m->bus_capacity);
    event_base_dispatch(rt->base);
    status = atomic_load(&rt->exit_code);
    cc_log_info("stopped (exit %d)", status);
    goto out;

oom:
    cc_log_error("out of memory while setting up");
    status = 1;
    goto out;
out_init:
    status = status == CC_ECONFIG ? 2 : 1;
out:
    /* Normal stops arrive here with everything stopped; error paths may
     * still have sources and sink threads to stop. */
    if (!atomic_exchange(&rt->stopping, 1)) {
        cc_bus_close(rt->bus);
        for (size_t i = 0; i < rt->n_sources; i++)
            if (rt->sources[i].inited)
                rt->sources[i].plugin->desc.stop(rt->sources[i].state);
        for (size_t i = 0; i < rt->n_sinks; i++)
            sink_stop(&rt->sinks[i]);
    }
    return status;
}

void cc_runtime_free(cc_runtime_t *rt)
{
    for (size_t i = 0; rt->sources && i < rt->n_sources; i++)
        instance_free(&rt->sources[i]);
    for (size_t i = 0; rt->sinks && i < rt->n_sinks; i++)
        instance_free(&rt->sinks[i]);
    free(rt->sources);
    free(rt->sinks);
    cc_admin_free(rt->admin);
    struct event *evs[] = {rt->sig_term, rt->sig_int, rt->sig_hup, rt->flush_timer,
                           rt->shutdown_ev, rt->drain_timer, rt->finish_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    if (rt->base)
        event_base_free(rt->base);
    cc_bus_free(rt->bus);
    cc_state_free(rt->state);
    cc_metrics_free(rt->metrics);
    cc_loader_free(&rt->loader);
    memset(rt, 0, sizeof *rt);
}
