/* redis — a sink that PUBLISHes each event to Redis, and optionally XADDs
 * it to a stream.
 *
 * PUBLISH {prefix}{recipient} (or {prefix}broadcast) <envelope>; with
 * `stream`, also XADD key MAXLEN ~ maxlen * event <envelope> recipient <r>.
 * hiredis async on the sink's own libevent loop: commands are pipelined
 * (written without waiting for replies, at most `max_in_flight` commands
 * outstanding) and an event is acknowledged once every reply for it came
 * back. A lost connection or an error reply: the events not yet answered
 * are written again, in order, after reconnecting with capped, jittered
 * backoff (at-least-once: a resend may duplicate). See README.md.
 *
 * init and destroy run on the main thread; everything else on the sink's
 * event-loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "changecast/changecast.h"
#include "redis_queue.h"
#include "redis_uri.h"
#include "redis_util.h"

/* Reply markers (privdata): the last command of an event, or an earlier one. */
static char rs_last_mark, rs_more_mark;
/* Handshake command names, also the privdata of their replies. */
static char rs_auth[] = "AUTH", rs_select[] = "SELECT";
#define RS_LAST ((void *)&rs_last_mark)
#define RS_MORE ((void *)&rs_more_mark)

typedef struct redis_sink {
    cc_instance_t *self;
    const cc_host_t *host;
    const char *place;           /* "sinks[1]": for config messages */
    char place_buf[96];
    /* Config (strings borrowed from the host until destroy). */
    redis_uri_t uri;             /* owned */
    char where[300];             /* "host:port", for messages */
    const char *prefix;
    size_t prefix_len;
    int publish;
    const char *stream_key;      /* NULL: no XADD */
    char maxlen[24];             /* "" = no trimming */
    unsigned max_in_flight;      /* commands */
    uint64_t backoff_ms, max_backoff_ms, connect_timeout_ms;

    struct event_base *base;     /* borrowed: the sink's loop */
    redisAsyncContext *ac;       /* owned by hiredis; NULL when not connected */
    int ready;                   /* AUTH and SELECT done: events may go out */
    int handshake_left;          /* replies still awaited before ready */
    int broken;                  /* asked to disconnect: ignore further replies */
    cc_sink_status_t broken_status;
    char why[512];               /* reason for the disconnect we asked for */
    unsigned attempts;           /* failed connections in a row */
    int ever_connected;
    struct event *retry_ev, *ack_ev, *timeout_ev;
    redis_queue_t q;
    unsigned in_flight;          /* commands written, replies not yet read */
    unsigned per_event;          /* commands per event: 1 or 2 */
    char *chan;                  /* owned scratch for channel names */
    size_t chan_cap;
    char *cmd;                   /* owned scratch for formatted commands */
    size_t cmd_cap;
    cc_sink_status_t status;
    int running;
    uint32_t rng;

    cc_metric_t *m_in_flight, *m_reconnects;
} redis_sink_t;

static const cc_config_field_t rs_stream_fields[] = {
    {.name = "key", .type = CC_CFG_STRING, .required = 1, .doc = "stream key to XADD to"},
    {.name = "maxlen", .type = CC_CFG_INT, .def = "100000", .min = 0, .max = INT64_MAX,
     .doc = "approximate length cap (XADD MAXLEN ~ n); 0 = no trimming"},
    {0}
};

static const cc_config_field_t rs_config_fields[] = {
    {.name = "uri", .type = CC_CFG_STRING, .def = "\"redis://127.0.0.1:6379/0\"",
     .doc = "redis://[[user]:password@]host[:port][/db] or unix:///path[?db=N]"},
    {.name = "channel_prefix", .type = CC_CFG_STRING, .def = "\"" REDIS_DEFAULT_PREFIX "\"",
     .doc = "PUBLISH to {prefix}{recipient} or {prefix}broadcast"},
    {.name = "publish", .type = CC_CFG_BOOL, .def = "true",
     .doc = "PUBLISH each event (false: stream only)"},
    {.name = "stream", .type = CC_CFG_OBJECT, .fields = rs_stream_fields,
     .doc = "also XADD each event to a stream: {key, maxlen}"},
    {.name = "max_in_flight", .type = CC_CFG_INT, .def = "10000", .min = 2, .max = 1000000,
     .doc = "commands written and not yet answered, at most"},
    {.name = "connect_timeout_ms", .type = CC_CFG_INT, .def = "5000", .min = 1, .max = 600000,
     .doc = "connecting, AUTH and SELECT must finish within this"},
    {.name = "backoff_ms", .type = CC_CFG_INT, .def = "100", .min = 1, .max = 3600000,
     .doc = "delay before the first reconnection; doubles per failure, jittered"},
    {.name = "max_backoff_ms", .type = CC_CFG_INT, .def = "5000", .min = 1, .max = 86400000,
     .doc = "longest delay between reconnections"},
    {0}
};

static void rs_set_status(redis_sink_t *rs, cc_sink_status_t s)
{
    if (s != rs->status) {
        rs->status = s;
        rs->host->sink_status(rs->self, s);
    }
}

static void rs_metric_set(redis_sink_t *rs, cc_metric_t *m, double v)
{
    if (m)
        rs->host->metric_set(m, v);
}

static void rs_connect(redis_sink_t *rs);
static void rs_pump(redis_sink_t *rs);

/* ------------------------------------------------------------------ */
/* Connection lifecycle                                                 */

/* The connection is gone (hiredis frees the context): rewind the events
 * not yet answered and try again after a backoff. */
static void rs_lost(redis_sink_t *rs, cc_sink_status_t status, const char *why)
{
    rs->ac = NULL;
    rs->ready = 0;
    rs->broken = 0;
    rs->handshake_left = 0;
    rs->in_flight = 0;
    rs_metric_set(rs, rs->m_in_flight, 0);
    evtimer_del(rs->timeout_ev);
    uint64_t resend = redis_queue_rewind(&rs->q);
    rs->attempts++;
    uint64_t ms = cc_backoff_ms(rs->attempts, rs->backoff_ms, rs->max_backoff_ms,
                                cc_xorshift32(&rs->rng));
    /* The first failure of an outage is an error; repeats are details. */
    rs->host->log(rs->self, rs->attempts == 1 ? CC_LOG_ERROR : CC_LOG_DEBUG,
                  "%s: %s; %llu events held (%llu to write again); reconnecting in %llu ms",
                  rs->where, why, (unsigned long long)redis_queue_held(&rs->q),
                  (unsigned long long)resend, (unsigned long long)ms);
    rs_set_status(rs, status);
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(rs->retry_ev, &tv);
}

/* Ends the connection from inside a hiredis callback (the context is freed
 * once the callback returns; rs_lost follows from the disconnect callback). */
static void rs_break(redis_sink_t *rs, redisAsyncContext *c, cc_sink_status_t status,
                     const char *why)
{
    if (rs->broken)
        return;
    rs->broken = 1;
    rs->broken_status = status;
    snprintf(rs->why, sizeof rs->why, "%s", why);
    redisAsyncDisconnect(c);
}

static void rs_ready(redis_sink_t *rs)
{
    evtimer_del(rs->timeout_ev);
    rs->ready = 1;
    if (!rs->ever_connected || (rs->attempts && rs->status != CC_SINK_RETRYING))
        rs->host->log(rs->self, CC_LOG_INFO, "connected to %s%s", rs->where,
                      rs->attempts ? "; writing the held events again" : "");
    rs->ever_connected = 1;
    /* After an error reply, only an answered event proves the cause is gone
     * (rs_ack_cb): until then the backoff keeps growing and the repeats
     * stay quiet, so a command Redis always refuses cannot spin the loop. */
    if (rs->status != CC_SINK_RETRYING) {
        rs->attempts = 0;
        rs_set_status(rs, CC_SINK_OK);
    }
    rs_pump(rs);
}

static void rs_on_handshake(redisAsyncContext *c, void *r, void *priv)
{
    redis_sink_t *rs = c->data;
    redisReply *reply = r;
    if (!reply || !rs->running || rs->broken)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[512];
        snprintf(why, sizeof why, "%s failed: %s", (const char *)priv, reply->str);
        rs_break(rs, c, CC_SINK_DOWN, why);
        return;
    }
    if (--rs->handshake_left == 0)
        rs_ready(rs);
}

static void rs_on_connect(const redisAsyncContext *c, int status)
{
    redis_sink_t *rs = c->data;
    if (!rs->running)
        return;
    if (status != REDIS_OK) {
        char why[256];
        snprintf(why, sizeof why, "cannot connect: %s", c->errstr);
        rs_lost(rs, CC_SINK_DOWN, why);   /* hiredis frees c after this */
        return;
    }
    redisAsyncContext *ac = (redisAsyncContext *)c;
    /* AUTH and SELECT before anything else; events wait for their replies. */
    if (rs->uri.password) {
        const char *argv[3] = {"AUTH", rs->uri.user, rs->uri.password};
        int argc = rs->uri.user ? 3 : 2;
        if (!rs->uri.user)
            argv[1] = rs->uri.password;
        if (redisAsyncCommandArgv(ac, rs_on_handshake, rs_auth, argc, argv, NULL) == REDIS_OK)
            rs->handshake_left++;
    }
    if (rs->uri.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", rs->uri.db);
        const char *argv[2] = {"SELECT", db};
        if (redisAsyncCommandArgv(ac, rs_on_handshake, rs_select, 2, argv, NULL) == REDIS_OK)
            rs->handshake_left++;
    }
    if (rs->handshake_left == 0)
        rs_ready(rs);
}

static void rs_on_disconnect(const redisAsyncContext *c, int status)
{
    redis_sink_t *rs = c->data;
    if (!rs->running)
        return;   /* stop freed it */
    if (status == REDIS_OK && rs->broken) {
        rs_lost(rs, rs->broken_status, rs->why);
        return;
    }
    char why[256];
    snprintf(why, sizeof why, "connection lost: %s",
             c->err ? c->errstr : "closed by the server");
    rs_lost(rs, CC_SINK_DOWN, why);
}

static void rs_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redis_sink_t *rs = arg;
    if (rs->running && !rs->ac) {
        if (rs->m_reconnects)
            rs->host->metric_add(rs->m_reconnects, 1);
        rs_connect(rs);
    }
}

/* Connecting, AUTH or SELECT took too long. */
static void rs_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redis_sink_t *rs = arg;
    if (!rs->running || !rs->ac || rs->ready)
        return;
    redisAsyncContext *ac = rs->ac;
    char why[128];
    snprintf(why, sizeof why, "no answer within %llu ms (connect_timeout_ms)",
             (unsigned long long)rs->connect_timeout_ms);
    if (ac->c.flags & REDIS_CONNECTED) {
        /* Outside any hiredis callback: the disconnect callback runs now. */
        rs->broken = 1;
        rs->broken_status = CC_SINK_DOWN;
        snprintf(rs->why, sizeof rs->why, "%s", why);
        redisAsyncDisconnect(ac);
    } else {
        /* Not connected yet: freeing calls no callback of ours. */
        rs->ac = NULL;
        redisAsyncFree(ac);
        rs_lost(rs, CC_SINK_DOWN, why);
    }
}

static void rs_connect(redis_sink_t *rs)
{
    /* hiredis 0.14 resolves a host name synchronously: use an address or a
     * local name for a loop that must never stall. */
    redisAsyncContext *ac = rs->uri.path ? redisAsyncConnectUnix(rs->uri.path)
                                         : redisAsyncConnect(rs->uri.host, rs->uri.port);
    if (!ac) {
        rs_lost(rs, CC_SINK_DOWN, "cannot connect: out of memory");
        return;
    }
    if (ac->err) {
        char why[256];
        snprintf(why, sizeof why, "cannot connect: %s", ac->errstr);
        redisAsyncFree(ac);
        rs_lost(rs, CC_SINK_DOWN, why);
        return;
    }
    ac->data = rs;
    if (redisLibeventAttach(ac, rs->base) != REDIS_OK) {
        redisAsyncFree(ac);
        rs_lost(rs, CC_SINK_DOWN, "cannot attach to the event loop");
        return;
    }
    redisAsyncSetConnectCallback(ac, rs_on_connect);
    redisAsyncSetDisconnectCallback(ac, rs_on_disconnect);
    rs->ac = ac;
    rs->broken = 0;
    struct timeval tv = {.tv_sec = (time_t)(rs->connect_timeout_ms / 1000),
                         .tv_usec = (suseconds_t)(rs->connect_timeout_ms % 1000) * 1000};
    evtimer_add(rs->timeout_ev, &tv);
}

/* ------------------------------------------------------------------ */
/* Events                                                               */

/* Acknowledges every event whose replies all came back, in order; returns
 * how many. */
static size_t rs_flush_acks(redis_sink_t *rs)
{
    cc_event_t *const *run;
    size_t n, total = 0;
    while ((n = redis_queue_acks(&rs->q, &run)) > 0) {
        cc_batch_t b = {.size = sizeof b, .count = n, .events = run};
        rs->host->ack_batch(rs->self, &b);
        redis_queue_pop(&rs->q, n);
        total += n;
    }
    return total;
}

static void rs_ack_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redis_sink_t *rs = arg;
    if (!rs->running)
        return;
    if (rs_flush_acks(rs) > 0 && rs->status != CC_SINK_OK) {
        rs->attempts = 0;
        rs_set_status(rs, CC_SINK_OK);
    }
    rs_metric_set(rs, rs->m_in_flight, rs->in_flight);
    rs_pump(rs);
}

static void rs_on_reply(redisAsyncContext *c, void *r, void *priv)
{
    redis_sink_t *rs = c->data;
    redisReply *reply = r;
    /* NULL: the context is being freed; its events were rewound. */
    if (!reply || !rs->running || rs->broken)
        return;
    rs->in_flight--;
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[512];
        snprintf(why, sizeof why, "Redis refused a command: %s", reply->str);
        rs_break(rs, c, CC_SINK_RETRYING, why);
        return;
    }
    if (priv == RS_LAST) {
        redis_queue_replied(&rs->q);
        /* Acknowledge once this read's replies are all handled, not one by one. */
        if (!event_pending(rs->ack_ev, EV_READ, NULL))
            event_active(rs->ack_ev, EV_READ, 0);
    }
}

/* Formats one command ourselves (cheaper than hiredis' printf-style
 * formatter, which showed in profiles) and queues it with its reply
 * callback. 0 or -1. */
static int rs_command(redis_sink_t *rs, void *mark, int argc, const char *const *argv,
                      const size_t *lens)
{
    size_t n = redis_format(&rs->cmd, &rs->cmd_cap, argc, argv, lens);
    if (n == 0 || redisAsyncFormattedCommand(rs->ac, rs_on_reply, mark, rs->cmd, n) != REDIS_OK)
        return -1;
    rs->in_flight++;
    return 0;
}

/* Writes one event's commands. 0, or -1 when hiredis refused (the
 * connection is then ended and the event written again later). */
static int rs_send(redis_sink_t *rs, cc_event_t *ev)
{
    size_t len;
    const char *json = rs->host->event_json(ev, &len);
    const char *recipient = rs->host->event_recipient(ev);
    if (rs->publish) {
        size_t cn = redis_channel(&rs->chan, &rs->chan_cap, rs->prefix, rs->prefix_len, recipient);
        if (cn == 0)
            return -1;
        const char *argv[3] = {"PUBLISH", rs->chan, json};
        size_t lens[3] = {7, cn, len};
        if (rs_command(rs, rs->stream_key ? RS_MORE : RS_LAST, 3, argv, lens) != 0)
            return -1;
    }
    if (rs->stream_key) {
        const char *argv[10];
        size_t lens[10];
        int n = 0;
#define ARG(s, l) (argv[n] = (s), lens[n] = (l), n++)
        ARG("XADD", 4);
        ARG(rs->stream_key, strlen(rs->stream_key));
        if (rs->maxlen[0]) {
            ARG("MAXLEN", 6);
            ARG("~", 1);
            ARG(rs->maxlen, strlen(rs->maxlen));
        }
        ARG("*", 1);
        ARG("event", 5);
        ARG(json, len);
        ARG("recipient", 9);
        ARG(recipient ? recipient : "", recipient ? strlen(recipient) : 0);
#undef ARG
        if (rs_command(rs, RS_LAST, n, argv, lens) != 0)
            return -1;
    }
    return 0;
}

/* Writes held events while the connection is ready and the window allows. */
static void rs_pump(redis_sink_t *rs)
{
    while (rs->running && rs->ready && !rs->broken &&
           rs->in_flight + rs->per_event <= rs->max_in_flight) {
        cc_event_t *ev = redis_queue_next(&rs->q);
        if (!ev)
            break;
        if (rs_send(rs, ev) != 0) {
            rs_break(rs, rs->ac, CC_SINK_DOWN, "cannot queue a command (out of memory?)");
            break;
        }
    }
}

static int rs_deliver(void *state, const cc_batch_t *batch)
{
    redis_sink_t *rs = state;
    for (size_t i = 0; i < batch->count; i++) {
        if (redis_queue_push(&rs->q, batch->events[i]) != 0) {
            /* The rest stay unacknowledged: a restart delivers them again. */
            rs->host->log(rs->self, CC_LOG_ERROR, "out of memory holding %zu events",
                          batch->count - i);
            rs_pump(rs);
            return CC_ENOMEM;
        }
    }
    rs_pump(rs);
    return 0;
}

static int rs_start(void *state)
{
    redis_sink_t *rs = state;
    rs->base = rs->host->event_base(rs->self);
    if (!rs->base) {
        rs->host->log(rs->self, CC_LOG_ERROR, "the host gave no event base");
        return CC_EINVAL;
    }
    rs->retry_ev = evtimer_new(rs->base, rs_retry_cb, rs);
    rs->timeout_ev = evtimer_new(rs->base, rs_timeout_cb, rs);
    rs->ack_ev = event_new(rs->base, -1, 0, rs_ack_cb, rs);
    if (!rs->retry_ev || !rs->timeout_ev || !rs->ack_ev) {
        rs->host->log(rs->self, CC_LOG_ERROR, "out of memory");
        return CC_ENOMEM;
    }
    rs->running = 1;
    rs->status = CC_SINK_OK;
    rs->host->sink_status(rs->self, CC_SINK_OK);
    rs_connect(rs);
    return 0;
}

static void rs_free_events(redis_sink_t *rs)
{
    struct event **evs[] = {&rs->retry_ev, &rs->timeout_ev, &rs->ack_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        if (*evs[i])
            event_free(*evs[i]);
        *evs[i] = NULL;
    }
}

static void rs_stop(void *state)
{
    redis_sink_t *rs = state;
    if (!rs->running)
        return;
    /* What has been answered is acknowledged; the rest stays for the next
     * run (at-least-once). */
    rs_flush_acks(rs);
    rs->running = 0;   /* from here hiredis callbacks do nothing */
    if (rs->ac) {
        redisAsyncContext *ac = rs->ac;
        rs->ac = NULL;
        redisAsyncFree(ac);
    }
    rs->in_flight = 0;
    rs_metric_set(rs, rs->m_in_flight, 0);
    rs_free_events(rs);
}

static void rs_free(redis_sink_t *rs)
{
    rs_free_events(rs);
    redis_uri_free(&rs->uri);
    redis_queue_free(&rs->q);
    free(rs->chan);
    free(rs->cmd);
    free(rs);
}

static void rs_destroy(void *state)
{
    rs_free(state);
}

/* ------------------------------------------------------------------ */
/* init: config                                                         */

static int rs_config(redis_sink_t *rs)
{
    const cc_host_t *host = rs->host;
    cc_instance_t *self = rs->self;
    char err[256];
    const char *uri = host->config_string(self, "uri");
    int rc = redis_uri_parse(uri, &rs->uri, err, sizeof err);
    if (rc == CC_ECONFIG) {
        host->log(self, CC_LOG_ERROR, "%s.config.uri: %s", rs->place, err);
        return rc;
    }
    if (rc != 0) {
        host->log(self, CC_LOG_ERROR, "out of memory");
        return rc;
    }
    redis_uri_where(&rs->uri, rs->where, sizeof rs->where);
    rs->prefix = host->config_string(self, "channel_prefix");
    if (!rs->prefix)
        rs->prefix = REDIS_DEFAULT_PREFIX;
    rs->prefix_len = strlen(rs->prefix);
    rs->publish = host->config_bool(self, "publish", 1);
    rs->stream_key = host->config_string(self, "stream.key");
    if (rs->stream_key && !*rs->stream_key) {
        host->log(self, CC_LOG_ERROR, "%s.config.stream.key: expected a non-empty key", rs->place);
        return CC_ECONFIG;
    }
    if (!rs->publish && !rs->stream_key) {
        host->log(self, CC_LOG_ERROR,
                  "%s.config.publish: false needs a \"stream\" (else nothing is written)",
                  rs->place);
        return CC_ECONFIG;
    }
    int64_t maxlen = host->config_int(self, "stream.maxlen", 100000);
    if (maxlen > 0)
        snprintf(rs->maxlen, sizeof rs->maxlen, "%lld", (long long)maxlen);
    rs->per_event = (unsigned)(rs->publish != 0) + (rs->stream_key != NULL);
    rs->max_in_flight = (unsigned)host->config_int(self, "max_in_flight", 10000);
    rs->connect_timeout_ms = (uint64_t)host->config_int(self, "connect_timeout_ms", 5000);
    rs->backoff_ms = (uint64_t)host->config_int(self, "backoff_ms", 100);
    rs->max_backoff_ms = (uint64_t)host->config_int(self, "max_backoff_ms", 5000);
    if (rs->max_backoff_ms < rs->backoff_ms)
        rs->max_backoff_ms = rs->backoff_ms;
    return 0;
}

/* A sink with its place, nothing more yet. Returns new (rs_free) or NULL
 * after logging. */
static redis_sink_t *rs_new(cc_instance_t *self, const cc_host_t *host)
{
    redis_sink_t *rs = calloc(1, sizeof *rs);
    if (!rs) {
        host->log(self, CC_LOG_ERROR, "out of memory");
        return NULL;
    }
    rs->self = self;
    rs->host = host;
    rs->place = cc_place(host, self, "sinks", rs->place_buf, sizeof rs->place_buf);
    return rs;
}

/* changecast check: the config as init reads it, nothing connected. */
static int rs_check(cc_instance_t *self, const cc_host_t *host)
{
    redis_sink_t *rs = rs_new(self, host);
    if (!rs)
        return CC_ENOMEM;
    int rc = rs_config(rs);
    rs_free(rs);
    return rc;
}

static int rs_init(cc_instance_t *self, const cc_host_t *host, void **state)
{
    redis_sink_t *rs = rs_new(self, host);
    if (!rs)
        return CC_ENOMEM;
    rs->rng = (uint32_t)time(NULL) ^ (uint32_t)getpid() ^ (uint32_t)(uintptr_t)rs;
    if (!rs->rng)
        rs->rng = 1;
    int rc = rs_config(rs);
    if (rc != 0) {
        rs_free(rs);
        return rc;
    }
    if (CC_HOST_HAS(host, metric_new) && CC_HOST_HAS(host, metric_set)) {
        rs->m_in_flight = host->metric_new(self, CC_METRIC_GAUGE,
                                           "changecast_redis_commands_in_flight",
                                           "Redis commands written and not yet answered",
                                           NULL, NULL);
        rs->m_reconnects = host->metric_new(self, CC_METRIC_COUNTER,
                                            "changecast_redis_reconnects_total",
                                            "Redis reconnection attempts after a failure",
                                            NULL, NULL);
    }
    *state = rs;
    return 0;
}

static const cc_plugin_t redis_sink_plugin = {
    .abi_major = CC_ABI_MAJOR,
    .abi_minor = CC_ABI_MINOR,
    .size = sizeof(cc_plugin_t),
    .name = "redis",
    .version = REDIS_PLUGIN_VERSION,
    .description = "PUBLISHes events to Redis channels (and XADDs them to a stream), "
                   "pipelined, resent after reconnecting",
    .kind = CC_PLUGIN_SINK,
    .config = rs_config_fields,
    .init = rs_init,
    .start = rs_start,
    .deliver = rs_deliver,
    .stop = rs_stop,
    .destroy = rs_destroy,
    .flags = 0,
    .check = rs_check,
};

CC_PLUGIN_ENTRY(redis_sink_plugin)
