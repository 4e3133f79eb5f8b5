/* redis_source — a source that reads envelopes another changecast node
 * published to Redis, and hands them to the core as they are
 * (host->emit_envelope, ABI 1.2).
 *
 * mode "pubsub": PSUBSCRIBE {channel_prefix}* (or SUBSCRIBE to `channels`);
 * every message payload is an envelope. At-most-once: Redis keeps nothing
 * for a subscriber that is away.
 * mode "stream": XREADGROUP on a stream with a consumer group (created if
 * missing); the entry's "event" field is the envelope and its ID the
 * position. When the core reports a position durably acknowledged by every
 * lossless sink (descriptor `committed`), the entries up to it are XACKed.
 * On start, this consumer's pending entries are read again first (those at
 * or before the saved position were delivered already: XACKed only), then
 * new ones. At-least-once.
 *
 * Its own name: plugin names are unique across kinds and the sink is
 * `redis`. hiredis' blocking API on the source's own thread; `stop` wakes a
 * blocked read by shutting the socket down. init, start, stop, destroy and
 * committed run on the main thread; reading on the source's thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "changecast/changecast.h"
#include "redis_uri.h"
#include "redis_util.h"

#define RSRC_XACK_CHUNK 1000   /* IDs per XACK command */

typedef struct redis_source {
    cc_instance_t *self;
    const cc_host_t *host;
    const char *place;
    char place_buf[96];
    /* Config (strings borrowed from the host until destroy). */
    redis_uri_t uri;             /* owned */
    char where[300];
    int stream_mode;
    const char *prefix;
    char *pattern;               /* owned: prefix + "*" */
    size_t n_channels;           /* SUBSCRIBE to these instead of the pattern */
    const char *key, *group, *consumer, *start_id;
    long long count, block_ms;
    uint64_t connect_timeout_ms, backoff_ms, max_backoff_ms;

    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock;        /* stopping, fd, committed, wake */
    pthread_cond_t wake;
    int stopping;
    int fd;                      /* the connection's socket, for stop; -1 = none */
    redis_sid_t committed;       /* newest durable position (stream mode) */
    int has_committed;

    /* The source's thread only. */
    redis_sid_t *outstanding;    /* owned: IDs emitted, not yet XACKed, in order */
    size_t out_head, out_n, out_cap;
    int resumed;                 /* pending entries of the last run re-read */
    redis_sid_t saved;           /* the position saved by the last run */
    int has_saved;
    unsigned attempts;
    uint32_t rng;
} redis_source_t;

static const char *const rsrc_modes[] = {"pubsub", "stream", NULL};
static const char *const rsrc_starts[] = {"$", "0", NULL};

static const cc_config_field_t rsrc_stream_fields[] = {
    {.name = "key", .type = CC_CFG_STRING, .required = 1, .doc = "stream key to read"},
    {.name = "group", .type = CC_CFG_STRING, .required = 1,
     .doc = "consumer group: one per edge node, so every node gets every event"},
    {.name = "consumer", .type = CC_CFG_STRING,
     .doc = "consumer name within the group (default: the instance name)"},
    {.name = "start", .type = CC_CFG_STRING, .def = "\"$\"", .choices = rsrc_starts,
     .doc = "where a new group starts: \"$\" new entries only, \"0\" the whole stream"},
    {.name = "count", .type = CC_CFG_INT, .def = "1000", .min = 1, .max = 100000,
     .doc = "entries per XREADGROUP"},
    {.name = "block_ms", .type = CC_CFG_INT, .def = "1000", .min = 1, .max = 600000,
     .doc = "XREADGROUP BLOCK; also bounds how late an XACK goes out"},
    {0}
};

static const cc_config_field_t rsrc_config_fields[] = {
    {.name = "uri", .type = CC_CFG_STRING, .def = "\"redis://127.0.0.1:6379/0\"",
     .doc = "redis://[[user]:password@]host[:port][/db] or unix:///path[?db=N]"},
    {.name = "mode", .type = CC_CFG_STRING, .def = "\"pubsub\"", .choices = rsrc_modes,
     .doc = "pubsub (at-most-once) or stream (consumer group, at-least-once)"},
    {.name = "channel_prefix", .type = CC_CFG_STRING, .def = "\"" REDIS_DEFAULT_PREFIX "\"",
     .doc = "pubsub: PSUBSCRIBE {prefix}*"},
    {.name = "channels", .type = CC_CFG_STRINGS,
     .doc = "pubsub: SUBSCRIBE to these channels instead of the prefix pattern"},
    {.name = "stream", .type = CC_CFG_OBJECT, .fields = rsrc_stream_fields,
     .doc = "stream mode: {key, group, consumer, start, count, block_ms}"},
    {.name = "connect_timeout_ms", .type = CC_CFG_INT, .def = "5000", .min = 1, .max = 600000,
     .doc = "connecting, AUTH and SELECT must finish within this"},
    {.name = "backoff_ms", .type = CC_CFG_INT, .def = "100", .min = 1, .max = 3600000,
     .doc = "delay before the first reconnection; doubles per failure, jittered"},
    {.name = "max_backoff_ms", .type = CC_CFG_INT, .def = "5000", .min = 1, .max = 86400000,
     .doc = "longest delay between reconnections"},
    {0}
};

static int rsrc_stopping(redis_source_t *rs)
{
    pthread_mutex_lock(&rs->lock);
    int s = rs->stopping;
    pthread_mutex_unlock(&rs->lock);
    return s;
}

static struct timeval ms_tv(uint64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

/* Sleeps up to ms, or until stop. */
static void rsrc_sleep(redis_source_t *rs, uint64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&rs->lock);
    while (!rs->stopping && pthread_cond_timedwait(&rs->wake, &rs->lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&rs->lock);
}

/* A failure to connect or a lost connection: log (an error the first time
 * in a row, then details), report CONNECTING, wait a backoff. */
static void rsrc_failed(redis_source_t *rs, const char *why)
{
    rs->host->source_status(rs->self, CC_SOURCE_CONNECTING);
    rs->attempts++;
    uint64_t ms = cc_backoff_ms(rs->attempts, rs->backoff_ms, rs->max_backoff_ms,
                                cc_xorshift32(&rs->rng));
    rs->host->log(rs->self, rs->attempts == 1 ? CC_LOG_ERROR : CC_LOG_DEBUG,
                  "%s: %s; reconnecting in %llu ms", rs->where, why, (unsigned long long)ms);
    rsrc_sleep(rs, ms);
}

/* Runs one command; returns the reply (caller frees) or NULL with the
 * reason in why (an error reply is returned as NULL too). */
static redisReply *rsrc_command(redisContext *c, int argc, const char **argv, const size_t *lens,
                                char *why, size_t cap, const char *what)
{
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (!r) {
        snprintf(why, cap, "%s: %s", what, c->err ? c->errstr : "no reply");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, cap, "%s failed: %s", what, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Connects, AUTHs and SELECTs. Returns the context or NULL with why. */
static redisContext *rsrc_connect(redis_source_t *rs, char *why, size_t cap)
{
    struct timeval tv = ms_tv(rs->connect_timeout_ms);
    redisContext *c = rs->uri.path ? redisConnectUnixWithTimeout(rs->uri.path, tv)
                                   : redisConnectWithTimeout(rs->uri.host, rs->uri.port, tv);
    if (!c) {
        snprintf(why, cap, "cannot connect: out of memory");
        return NULL;
    }
    if (c->err) {
        snprintf(why, cap, "cannot connect: %s", c->errstr);
        redisFree(c);
        return NULL;
    }
    /* Publish the socket so that stop can wake a blocked read. */
    pthread_mutex_lock(&rs->lock);
    int stopping = rs->stopping;
    if (!stopping)
        rs->fd = c->fd;
    pthread_mutex_unlock(&rs->lock);
    if (stopping) {
        redisFree(c);
        snprintf(why, cap, "stopping");
        return NULL;
    }
    redisSetTimeout(c, tv);   /* the handshake, too, is bounded */
    /* TCP keepalive notices a peer that vanished while we wait on a quiet
     * channel; a unix socket has none (and hiredis would flag the context
     * as failed). */
    if (!rs->uri.path)
        redisEnableKeepAlive(c);
    redisReply *r;
    if (rs->uri.password) {
        const char *argv[3] = {"AUTH", rs->uri.user ? rs->uri.user : rs->uri.password,
                               rs->uri.password};
        if (!(r = rsrc_command(c, rs->uri.user ? 3 : 2, argv, NULL, why, cap, "AUTH")))
            goto fail;
        freeReplyObject(r);
    }
    if (rs->uri.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", rs->uri.db);
        const char *argv[2] = {"SELECT", db};
        if (!(r = rsrc_command(c, 2, argv, NULL, why, cap, "SELECT")))
            goto fail;
        freeReplyObject(r);
    }
    return c;
fail:
    pthread_mutex_lock(&rs->lock);
    rs->fd = -1;
    pthread_mutex_unlock(&rs->lock);
    redisFree(c);
    return NULL;
}

static void rsrc_disconnect(redis_source_t *rs, redisContext *c)
{
    pthread_mutex_lock(&rs->lock);
    rs->fd = -1;
    pthread_mutex_unlock(&rs->lock);
    redisFree(c);
}

/* ------------------------------------------------------------------ */
/* pub/sub                                                              */

/* Reads messages until the connection ends or the core closes. Returns 1
 * to stop for good, 0 to reconnect (why says why). */
static int rsrc_pubsub(redis_source_t *rs, redisContext *c, char *why, size_t cap)
{
    size_t n = rs->n_channels ? rs->n_channels : 1;
    const char **argv = calloc(n + 1, sizeof *argv);
    if (!argv) {
        snprintf(why, cap, "out of memory");
        return 0;
    }
    argv[0] = rs->n_channels ? "SUBSCRIBE" : "PSUBSCRIBE";
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = rs->n_channels ? rs->host->config_string_at(rs->self, "channels", i)
                                     : rs->pattern;
    int rc = redisAppendCommandArgv(c, (int)n + 1, argv, NULL);
    free(argv);
    if (rc != REDIS_OK) {
        snprintf(why, cap, "cannot subscribe: %s", c->errstr);
        return 0;
    }
    struct timeval none = {0, 0};
    redisSetTimeout(c, none);   /* quiet channels are normal: wait for ever */
    size_t confirmed = 0;
    for (;;) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            if (rsrc_stopping(rs))
                return 1;
            snprintf(why, cap, "connection lost: %s", c->errstr);
            return 0;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(why, cap, "subscribe failed: %s", r->str);
            freeReplyObject(r);
            return 0;
        }
        int stop = 0;
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 3 &&
            r->element[0]->type == REDIS_REPLY_STRING) {
            const char *kind = r->element[0]->str;
            if (strcmp(kind, "subscribe") == 0 || strcmp(kind, "psubscribe") == 0) {
                if (++confirmed == n) {
                    rs->attempts = 0;
                    rs->host->log(rs->self, CC_LOG_INFO, "subscribed on %s to %s%s", rs->where,
                                  rs->n_channels ? "channels of " : "",
                                  rs->n_channels ? "the config" : rs->pattern);
                    rs->host->source_status(rs->self, CC_SOURCE_CONNECTED);
                }
            } else {
                int pm = strcmp(kind, "pmessage") == 0 && r->elements == 4;
                int m = strcmp(kind, "message") == 0 && r->elements == 3;
                redisReply *chan = pm ? r->element[2] : r->element[1];
                redisReply *payload = pm ? r->element[3] : r->element[2];
                if ((pm || m) && payload->type == REDIS_REPLY_STRING) {
                    char origin[160];
                    snprintf(origin, sizeof origin, "redis channel %.100s",
                             chan->type == REDIS_REPLY_STRING ? chan->str : "?");
                    if (rs->host->emit_envelope(rs->self, payload->str, payload->len, NULL,
                                                origin) == CC_ECLOSED)
                        stop = 1;
                }
            }
        }
        freeReplyObject(r);
        if (stop)
            return 1;
    }
}

/* ------------------------------------------------------------------ */
/* stream                                                               */

static int rsrc_outstanding_push(redis_source_t *rs, redis_sid_t id)
{
    if (rs->out_head + rs->out_n == rs->out_cap) {
        if (rs->out_head > 0) {   /* slide down before growing */
            memmove(rs->outstanding, rs->outstanding + rs->out_head,
                    rs->out_n * sizeof *rs->outstanding);
            rs->out_head = 0;
        }
        if (rs->out_n == rs->out_cap) {
            size_t cap = rs->out_cap ? rs->out_cap * 2 : 1024;
            redis_sid_t *v = realloc(rs->outstanding, cap * sizeof *v);
            if (!v)
                return CC_ENOMEM;
            rs->outstanding = v;
            rs->out_cap = cap;
        }
    }
    rs->outstanding[rs->out_head + rs->out_n++] = id;
    return 0;
}

/* XACKs ids[0..n). 0, or -1 with why (the connection is then suspect). */
static int rsrc_xack(redis_source_t *rs, redisContext *c, const redis_sid_t *ids, size_t n,
                     char *why, size_t cap)
{
    const char *argv[3 + RSRC_XACK_CHUNK];
    char (*text)[48] = malloc(RSRC_XACK_CHUNK * sizeof *text);
    if (!text) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    int rc = 0;
    for (size_t at = 0; at < n && rc == 0; at += RSRC_XACK_CHUNK) {
        size_t k = n - at < RSRC_XACK_CHUNK ? n - at : RSRC_XACK_CHUNK;
        argv[0] = "XACK";
        argv[1] = rs->key;
        argv[2] = rs->group;
        for (size_t i = 0; i < k; i++) {
            redis_sid_format(ids[at + i], text[i]);
            argv[3 + i] = text[i];
        }
        redisReply *r = rsrc_command(c, (int)(3 + k), argv, NULL, why, cap, "XACK");
        if (!r)
            rc = -1;
        else
            freeReplyObject(r);
    }
    free(text);
    return rc;
}

/* XACKs the outstanding IDs up to the newest committed position. */
static int rsrc_ack_committed(redis_source_t *rs, redisContext *c, char *why, size_t cap)
{
    pthread_mutex_lock(&rs->lock);
    int has = rs->has_committed;
    redis_sid_t upto = rs->committed;
    pthread_mutex_unlock(&rs->lock);
    if (!has)
        return 0;
    size_t k = 0;
    while (k < rs->out_n && redis_sid_cmp(rs->outstanding[rs->out_head + k], upto) <= 0)
        k++;
    if (k == 0)
        return 0;
    if (rsrc_xack(rs, c, rs->outstanding + rs->out_head, k, why, cap) != 0)
        return -1;
    rs->out_head += k;
    rs->out_n -= k;
    if (rs->out_n == 0)
        rs->out_head = 0;
    return 0;
}

/* Creates the group if missing. 0, or -1 with why. */
static int rsrc_group(redis_source_t *rs, redisContext *c, char *why, size_t cap)
{
    const char *argv[6] = {"XGROUP", "CREATE", rs->key, rs->group, rs->start_id, "MKSTREAM"};
    redisReply *r = redisCommandArgv(c, 6, argv, NULL);
    if (!r) {
        snprintf(why, cap, "XGROUP CREATE: %s", c->err ? c->errstr : "no reply");
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
        snprintf(why, cap, "XGROUP CREATE %s %s failed: %s", rs->key, rs->group, r->str);
        rc = -1;
    } else if (r->type != REDIS_REPLY_ERROR) {
        rs->host->log(rs->self, CC_LOG_INFO, "created consumer group %s on stream %s (from %s)",
                      rs->group, rs->key, rs->start_id);
    }
    freeReplyObject(r);
    return rc;
}

/* Handles one entry [id, [field, value, ...]] (value nil: trimmed away
 * before it was read). Returns 0, 1 when the core closed, -1 on a local
 * failure (out of memory). */
static int rsrc_entry(redis_source_t *rs, redisContext *c, const redisReply *e, int pending,
                      char *why, size_t cap, redis_sid_t *last)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return 0;
    const char *ids = e->element[0]->str;
    redis_sid_t id;
    if (redis_sid_parse(ids, &id) != 0)
        return 0;
    *last = id;
    const redisReply *fields = e->element[1];
    const char *json = NULL;
    size_t len = 0;
    if (fields->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < fields->elements; i += 2) {
            const redisReply *f = fields->element[i], *v = fields->element[i + 1];
            if (f->type == REDIS_REPLY_STRING && strcmp(f->str, "event") == 0 &&
                v->type == REDIS_REPLY_STRING) {
                json = v->str;
                len = v->len;
                break;
            }
        }
    }
    /* Delivered by the last run already (at or before its saved position):
     * only its XACK was lost. */
    int done = pending && rs->has_saved && redis_sid_cmp(id, rs->saved) <= 0;
    if (!done && json) {
        char origin[160];
        snprintf(origin, sizeof origin, "redis stream %.100s entry %s", rs->key, ids);
        int rc = rs->host->emit_envelope(rs->self, json, len, ids, origin);
        if (rc == CC_ECLOSED)
            return 1;
        if (rc == 0)
            return rsrc_outstanding_push(rs, id) == 0 ? 0 : -1;
        if (rc != CC_EPARSE)
            return -1;   /* left pending: the next run reads it again */
    } else if (!done) {
        rs->host->log(rs->self, CC_LOG_WARN, "redis stream %s entry %s: %s; skipped", rs->key, ids,
                      fields->type == REDIS_REPLY_ARRAY ? "no \"event\" field"
                                                        : "trimmed from the stream before it "
                                                          "was delivered (raise maxlen)");
    }
    /* Nothing to deliver (done, bad or empty): acknowledge it at once. */
    return rsrc_xack(rs, c, &id, 1, why, cap) == 0 ? 0 : -2;
}

/* Reads the stream until the connection ends or the core closes. Returns 1
 * to stop for good, 0 to reconnect. */
static int rsrc_stream(redis_source_t *rs, redisContext *c, char *why, size_t cap)
{
    if (rsrc_group(rs, c, why, cap) != 0)
        return 0;
    /* A read blocks up to block_ms; past that plus the connect timeout the
     * server is gone. */
    redisSetTimeout(c, ms_tv((uint64_t)rs->block_ms + rs->connect_timeout_ms));
    rs->attempts = 0;
    rs->host->log(rs->self, CC_LOG_INFO, "reading stream %s on %s as %s/%s", rs->key, rs->where,
                  rs->group, rs->consumer);
    rs->host->source_status(rs->self, CC_SOURCE_CONNECTED);
    char count[24], block[24], cursor[48] = "0";
    snprintf(count, sizeof count, "%lld", rs->count);
    snprintf(block, sizeof block, "%lld", rs->block_ms);
    for (;;) {
        if (rsrc_stopping(rs))
            return 1;
        if (rsrc_ack_committed(rs, c, why, cap) != 0)
            return 0;
        /* First this consumer's pending entries of the last run (from ID 0
         * on), then new ones (">"). */
        int pending = !rs->resumed;
        const char *argv[11] = {"XREADGROUP", "GROUP", rs->group, rs->consumer, "COUNT", count,
                                "BLOCK", block, "STREAMS", rs->key, pending ? cursor : ">"};
        int argc = 11;
        if (pending) {   /* no BLOCK for the history */
            argv[6] = "STREAMS";
            argv[7] = rs->key;
            argv[8] = cursor;
            argc = 9;
        }
        redisReply *r = redisCommandArgv(c, argc, argv, NULL);
        if (!r) {
            if (rsrc_stopping(rs))
                return 1;
            snprintf(why, cap, "connection lost: %s", c->errstr);
            return 0;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(why, cap, "XREADGROUP failed: %s", r->str);
            freeReplyObject(r);
            return 0;
        }
        size_t got = 0;
        int rc = 0;
        redis_sid_t last = {0, 0};
        /* [[key, [entry, ...]]] or nil on timeout. */
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
            r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2) {
            const redisReply *entries = r->element[0]->element[1];
            if (entries->type == REDIS_REPLY_ARRAY) {
                for (size_t i = 0; i < entries->elements && rc == 0; i++, got++)
                    rc = rsrc_entry(rs, c, entries->element[i], pending, why, cap, &last);
            }
        }
        freeReplyObject(r);
        if (rc == 1)
            return 1;
        if (rc == -1) {
            snprintf(why, cap, "out of memory");
            return 0;
        }
        if (rc == -2)
            return 0;
        if (pending) {
            if (got == 0) {
                rs->resumed = 1;
                if (strcmp(cursor, "0") != 0)
                    rs->host->log(rs->self, CC_LOG_INFO,
                                  "re-read this consumer's pending entries up to %s", cursor);
            } else {
                redis_sid_format(last, cursor);
            }
        }
    }
}

/* ------------------------------------------------------------------ */
/* Thread and lifecycle                                                 */

static void *rsrc_main(void *arg)
{
    redis_source_t *rs = arg;
    char why[512];
    while (!rsrc_stopping(rs)) {
        redisContext *c = rsrc_connect(rs, why, sizeof why);
        if (!c) {
            if (!rsrc_stopping(rs))
                rsrc_failed(rs, why);
            continue;
        }
        int stop = rs->stream_mode ? rsrc_stream(rs, c, why, sizeof why)
                                   : rsrc_pubsub(rs, c, why, sizeof why);
        rsrc_disconnect(rs, c);
        if (stop || rsrc_stopping(rs))
            break;
        rsrc_failed(rs, why);
    }
    return NULL;
}

static void rsrc_committed(void *state, const char *position)
{
    redis_source_t *rs = state;
    redis_sid_t id;
    if (!rs->stream_mode || redis_sid_parse(position, &id) != 0)
        return;
    pthread_mutex_lock(&rs->lock);
    if (!rs->has_committed || redis_sid_cmp(id, rs->committed) > 0) {
        rs->committed = id;
        rs->has_committed = 1;
    }
    pthread_mutex_unlock(&rs->lock);
}

static int rsrc_start(void *state)
{
    redis_source_t *rs = state;
    if (pthread_create(&rs->thread, NULL, rsrc_main, rs) != 0) {
        rs->host->log(rs->self, CC_LOG_ERROR, "cannot start the reading thread");
        return CC_ENOMEM;
    }
    rs->thread_started = 1;
    return 0;
}

static void rsrc_stop(void *state)
{
    redis_source_t *rs = state;
    pthread_mutex_lock(&rs->lock);
    rs->stopping = 1;
    /* Wakes a read blocked on the socket; the thread frees the context. */
    if (rs->fd >= 0)
        shutdown(rs->fd, SHUT_RDWR);
    pthread_cond_broadcast(&rs->wake);
    pthread_mutex_unlock(&rs->lock);
    if (rs->thread_started) {
        pthread_join(rs->thread, NULL);
        rs->thread_started = 0;
    }
}

static void rsrc_free(redis_source_t *rs)
{
    redis_uri_free(&rs->uri);
    free(rs->pattern);
    free(rs->outstanding);
    pthread_mutex_destroy(&rs->lock);
    pthread_cond_destroy(&rs->wake);
    free(rs);
}

static void rsrc_destroy(void *state)
{
    rsrc_free(state);
}

static int rsrc_config(redis_source_t *rs)
{
    const cc_host_t *host = rs->host;
    cc_instance_t *self = rs->self;
    char err[256];
    int rc = redis_uri_parse(host->config_string(self, "uri"), &rs->uri, err, sizeof err);
    if (rc == CC_ECONFIG) {
        host->log(self, CC_LOG_ERROR, "%s.config.uri: %s", rs->place, err);
        return rc;
    }
    if (rc != 0)
        return rc;
    redis_uri_where(&rs->uri, rs->where, sizeof rs->where);
    const char *mode = host->config_string(self, "mode");
    rs->stream_mode = mode && strcmp(mode, "stream") == 0;
    rs->prefix = host->config_string(self, "channel_prefix");
    if (!rs->prefix)
        rs->prefix = REDIS_DEFAULT_PREFIX;
    size_t pn = strlen(rs->prefix);
    rs->pattern = malloc(pn + 2);
    if (!rs->pattern)
        return CC_ENOMEM;
    memcpy(rs->pattern, rs->prefix, pn);
    memcpy(rs->pattern + pn, "*", 2);
    rs->n_channels = host->config_count(self, "channels");
    rs->key = host->config_string(self, "stream.key");
    if (rs->stream_mode && !rs->key) {
        host->log(self, CC_LOG_ERROR,
                  "%s.config.stream: mode \"stream\" needs {\"key\": …, \"group\": …}", rs->place);
        return CC_ECONFIG;
    }
    if (!rs->stream_mode && rs->key) {
        host->log(self, CC_LOG_ERROR,
                  "%s.config.stream: only read in mode \"stream\" (set \"mode\": \"stream\")",
                  rs->place);
        return CC_ECONFIG;
    }
    if (rs->stream_mode && rs->n_channels) {
        host->log(self, CC_LOG_ERROR, "%s.config.channels: only used in mode \"pubsub\"",
                  rs->place);
        return CC_ECONFIG;
    }
    for (size_t i = 0; i < rs->n_channels; i++) {
        const char *ch = host->config_string_at(self, "channels", i);
        if (!ch || !*ch) {
            host->log(self, CC_LOG_ERROR, "%s.config.channels[%zu]: expected a channel name",
                      rs->place, i);
            return CC_ECONFIG;
        }
    }
    rs->group = host->config_string(self, "stream.group");
    rs->consumer = host->config_string(self, "stream.consumer");
    if (!rs->consumer)
        rs->consumer = host->instance_name(self);
    rs->start_id = host->config_string(self, "stream.start");
    if (!rs->start_id)
        rs->start_id = "$";
    rs->count = (long long)host->config_int(self, "stream.count", 1000);
    rs->block_ms = (long long)host->config_int(self, "stream.block_ms", 1000);
    rs->connect_timeout_ms = (uint64_t)host->config_int(self, "connect_timeout_ms", 5000);
    rs->backoff_ms = (uint64_t)host->config_int(self, "backoff_ms", 100);
    rs->max_backoff_ms = (uint64_t)host->config_int(self, "max_backoff_ms", 5000);
    if (rs->max_backoff_ms < rs->backoff_ms)
        rs->max_backoff_ms = rs->backoff_ms;
    return 0;
}

/* Where a stream consumer resumes: the saved entry ID (init only). */
static void rsrc_restore(redis_source_t *rs)
{
    if (!rs->stream_mode) {
        rs->resumed = 1;
        return;
    }
    const char *saved = rs->host->state_position(rs->self);
    if (saved && redis_sid_parse(saved, &rs->saved) == 0)
        rs->has_saved = 1;
    else if (saved)
        rs->host->log(rs->self, CC_LOG_WARN, "saved position \"%s\" is not a stream entry ID; "
                      "re-reading every pending entry", saved);
}

/* A source with its place and locks, nothing more yet. Returns new
 * (rsrc_free) or NULL after logging. */
static redis_source_t *rsrc_new(cc_instance_t *self, const cc_host_t *host)
{
    redis_source_t *rs = calloc(1, sizeof *rs);
    if (!rs) {
        host->log(self, CC_LOG_ERROR, "out of memory");
        return NULL;
    }
    rs->self = self;
    rs->host = host;
    rs->fd = -1;
    pthread_mutex_init(&rs->lock, NULL);
    pthread_cond_init(&rs->wake, NULL);
    rs->place = host->instance_place(self);
    return rs;
}

/* changecast check: the config as init reads it, nothing connected. */
static int rsrc_check(cc_instance_t *self, const cc_host_t *host)
{
    redis_source_t *rs = rsrc_new(self, host);
    if (!rs)
        return CC_ENOMEM;
    int rc = rsrc_config(rs);
    if (rc == CC_ENOMEM)
        host->log(self, CC_LOG_ERROR, "out of memory");
    rsrc_free(rs);
    return rc;
}

static int rsrc_init(cc_instance_t *self, const cc_host_t *host, void **state)
{
    if (!CC_HOST_HAS(host, emit_envelope)) {
        host->log(self, CC_LOG_ERROR, "needs a changecast host with ABI 1.2 (emit_envelope)");
        return CC_EABI;
    }
    redis_source_t *rs = rsrc_new(self, host);
    if (!rs)
        return CC_ENOMEM;
    rs->rng = (uint32_t)time(NULL) ^ (uint32_t)getpid() ^ (uint32_t)(uintptr_t)rs;
    if (!rs->rng)
        rs->rng = 1;
    int rc = rsrc_config(rs);
    if (rc != 0) {
        if (rc == CC_ENOMEM)
            host->log(self, CC_LOG_ERROR, "out of memory");
        rsrc_free(rs);
        return rc;
    }
    rsrc_restore(rs);
    *state = rs;
    return 0;
}

static const cc_plugin_t redis_source_plugin = {
    .abi_major = CC_ABI_MAJOR,
    .abi_minor = CC_ABI_MINOR,
    .size = sizeof(cc_plugin_t),
    .name = "redis_source",
    .version = REDIS_PLUGIN_VERSION,
    .description = "reads envelopes another node published to Redis (pub/sub, or a stream "
                   "with a consumer group)",
    .kind = CC_PLUGIN_SOURCE,
    .config = rsrc_config_fields,
    .init = rsrc_init,
    .start = rsrc_start,
    .stop = rsrc_stop,
    .destroy = rsrc_destroy,
    .committed = rsrc_committed,
    .check = rsrc_check,
};

CC_PLUGIN_ENTRY(redis_source_plugin)
