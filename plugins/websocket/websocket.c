/* websocket — a sink pushing events to WebSocket (RFC 6455) and Server-Sent
 * Events clients on one listener, per recipient, with JWT auth, a replay
 * window for resuming clients, slow-consumer policies and a viewer page.
 * See README.md.
 *
 * Files: websocket.c (descriptor, config, lifecycle, deliver, metrics),
 * ws_server.c (listener, TLS, request heads, routing), ws_conn.c (open
 * connections), ws_hub.c (recipient -> connections), ws_replay.c (the
 * window), ws_conflate.c (newest pending per document), ws_item.c (frames
 * built once per event, shared by reference), ws_viewer.c (GET /); the
 * protocol parts are ws_http, ws_frame, ws_utf8 and ws_auth.
 *
 * init and destroy run on the main thread; everything else on the sink's
 * event-loop thread.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "ws_sink.h"

#define WS_FLUSH_BYTES 16384   /* see ws_deliver */

static const char *const ws_on_slow_choices[] = {"close", "conflate", NULL};

static const cc_config_field_t ws_auth_fields[] = {
    {.name = "jwt_secret", .type = CC_CFG_STRING, .required = 1,
     .doc = "HS256 key: tokens must be signed with it (use ${ENV})"},
    {.name = "recipient_claim", .type = CC_CFG_STRING, .def = "\"sub\"",
     .doc = "claim that must equal the path's recipient"},
    {.name = "token_param", .type = CC_CFG_STRING, .def = "\"token\"",
     .doc = "query parameter carrying the token"},
    {0}
};

static const cc_config_field_t ws_tls_fields[] = {
    {.name = "cert", .type = CC_CFG_STRING, .required = 1,
     .doc = "PEM certificate chain file (wss://, https://)"},
    {.name = "key", .type = CC_CFG_STRING, .required = 1, .doc = "PEM private key file"},
    {0}
};

static const cc_config_field_t ws_config_fields[] = {
    {.name = "listen", .type = CC_CFG_STRING, .def = "\"0.0.0.0:8000\"",
     .doc = "host:port of the listener (port 0: any free port, logged)"},
    {.name = "path", .type = CC_CFG_STRING, .def = "\"/ws/{recipient}\"",
     .doc = "WebSocket path template; without {recipient}: broadcasts only"},
    {.name = "sse_path", .type = CC_CFG_STRING, .def = "\"/sse/{recipient}\"",
     .doc = "Server-Sent Events path template"},
    {.name = "auth", .type = CC_CFG_OBJECT, .fields = ws_auth_fields,
     .doc = "require an HS256 JWT whose claim names the recipient"},
    {.name = "max_connections", .type = CC_CFG_INT, .def = "100000", .min = 1, .max = 10000000,
     .doc = "open connections at most; more get 503"},
    {.name = "max_queue_bytes", .type = CC_CFG_INT, .def = "1048576", .min = 1024,
     .max = 1073741824, .doc = "bytes queued for one socket before on_slow applies"},
    {.name = "on_slow", .type = CC_CFG_STRING, .def = "\"close\"", .choices = ws_on_slow_choices,
     .doc = "close (1013) or conflate (newest pending event per document)"},
    {.name = "replay_events", .type = CC_CFG_INT, .def = "10000", .min = 0, .max = 10000000,
     .doc = "events kept for clients resuming with last_event_id"},
    {.name = "ping_ms", .type = CC_CFG_INT, .def = "30000", .min = 10, .max = 3600000,
     .doc = "ping a silent peer after this long; dead after twice this"},
    {.name = "tls", .type = CC_CFG_OBJECT, .fields = ws_tls_fields,
     .doc = "serve wss:// and https:// with this certificate"},
    {.name = "allowed_origins", .type = CC_CFG_STRINGS, .def = "[]",
     .doc = "browser Origins allowed (empty: any; \"*\": any)"},
    {.name = "max_message_bytes", .type = CC_CFG_INT, .def = "65536", .min = 125,
     .max = 16777216, .doc = "largest client message; bigger closes with 1009"},
    {.name = "handshake_timeout_ms", .type = CC_CFG_INT, .def = "10000", .min = 10,
     .max = 600000, .doc = "time allowed for the whole request head"},
    {0}
};

/* ------------------------------------------------------------------ */
/* Metrics                                                             */

void ws_sink_metrics_flush(ws_sink_t *ws)
{
    if (ws->n_messages && ws->m_messages)
        ws->host->metric_add(ws->m_messages, (double)ws->n_messages);
    if (ws->n_bytes && ws->m_bytes)
        ws->host->metric_add(ws->m_bytes, (double)ws->n_bytes);
    ws->n_messages = ws->n_bytes = 0;
}

void ws_sink_connections_changed(ws_sink_t *ws)
{
    if (ws->m_connections)
        ws->host->metric_set(ws->m_connections, (double)ws->hub.n_open);
}

static void ws_metrics_new(ws_sink_t *ws)
{
    const cc_host_t *h = ws->host;
    if (!CC_HOST_HAS(h, metric_new) || !CC_HOST_HAS(h, metric_set))
        return;
    ws->m_connections = h->metric_new(ws->self, CC_METRIC_GAUGE, "changecast_websocket_connections",
                                      "open WebSocket and SSE connections", NULL, NULL);
    ws->m_messages = h->metric_new(ws->self, CC_METRIC_COUNTER,
                                   "changecast_websocket_messages_total",
                                   "event messages queued to clients (one per socket)", NULL, NULL);
    ws->m_bytes = h->metric_new(ws->self, CC_METRIC_COUNTER, "changecast_websocket_bytes_total",
                                "bytes of event messages queued to clients", NULL, NULL);
    ws->m_slow_closes = h->metric_new(ws->self, CC_METRIC_COUNTER,
                                      "changecast_websocket_slow_closes_total",
                                      "sockets closed for exceeding max_queue_bytes", NULL, NULL);
    ws->m_conflated = h->metric_new(ws->self, CC_METRIC_COUNTER,
                                    "changecast_websocket_conflated_total",
                                    "pending events replaced by a newer one of their document",
                                    NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* Delivery                                                            */

static int ws_deliver(void *state, const cc_batch_t *batch)
{
    ws_sink_t *ws = state;
    int rc = 0;
    size_t unflushed = 0;   /* frame bytes fanned out since the last flush */
    /* A batch of one or two events (a live feed at its usual pace): each
     * frame goes straight to each socket as it is fanned out, so the first
     * clients have it at once. Bigger batches (a backlog) are staged and
     * written with one writev per socket per WS_FLUSH_BYTES. */
    ws->direct = batch->count <= 2;
    for (size_t i = 0; i < batch->count; i++) {
        cc_event_t *ev = batch->events[i];
        ws_item_t *it = ws_item_new(ws->host, ev, ++ws->seq);
        if (it == NULL) {
            ws->host->count(ws->self, CC_RESULT_DROPPED, ws->hub.n_open);
            rc = CC_ENOMEM;
            continue;
        }
        ws_replay_push(&ws->replay, ws->host, it);
        const char *r = ws->host->event_recipient(ev);
        ws_conn_t *c = r ? ws_hub_find(&ws->hub, r) : ws->hub.open;
        /* Save the successor first: a slow socket leaves the lists here. */
        while (c != NULL) {
            ws_conn_t *next = r ? c->rnext : c->next;
            ws_conn_send(c, it);
            c = next;
        }
        /* A big batch is written out every WS_FLUSH_BYTES of frames: one
         * writev per socket for many events, yet clients see events as
         * they are fanned out and the queued chains stay few. */
        unflushed += it->ws->len;
        if (unflushed >= WS_FLUSH_BYTES) {
            ws_conn_flush_dirty(ws);
            unflushed = 0;
        }
        ws_item_unref(ws->host, it);
    }
    /* Lossy by nature: fanned out (or missed by whoever is not connected;
     * the replay window covers a reconnect), so acknowledged. */
    ws->direct = false;
    ws->host->ack_batch(ws->self, batch);
    ws_conn_flush_dirty(ws);
    ws_sink_metrics_flush(ws);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */

static int ws_start(void *state)
{
    ws_sink_t *ws = state;
    ws->base = ws->host->event_base(ws->self);
    if (ws->base == NULL) {
        ws->host->log(ws->self, CC_LOG_ERROR, "the host gave no event base");
        return CC_EINVAL;
    }
    int rc = ws_server_start(ws);
    if (rc != 0)
        return rc;
    ws->running = true;
    ws_sink_connections_changed(ws);
    ws->host->sink_status(ws->self, CC_SINK_OK);
    return 0;
}

static void ws_stop(void *state)
{
    ws_sink_t *ws = state;
    if (!ws->running)
        return;
    ws->running = false;
    ws_server_stop(ws);
    ws_sink_connections_changed(ws);
    ws_sink_metrics_flush(ws);
}

static void ws_route_free(ws_route_t *r)
{
    free(r->prefix);
    free(r->suffix);
    r->prefix = r->suffix = NULL;
}

static void ws_free(ws_sink_t *ws)
{
    if (ws->listener != NULL || ws->others != NULL || ws->hub.open != NULL)
        ws_server_stop(ws);   /* start ran but stop did not (error paths) */
    ws_replay_free(&ws->replay, ws->host);
    if (ws->hub.buckets)
        ws_hub_free(&ws->hub);
    ws_auth_free(ws->auth);
    ws_server_tls_free(ws);
    ws_route_free(&ws->ws_route);
    ws_route_free(&ws->sse_route);
    free(ws->origins);
    free(ws->req);
    free(ws->viewer);
    free(ws);
}

static void ws_destroy(void *state)
{
    ws_free(state);
}

/* ------------------------------------------------------------------ */
/* init: config                                                        */

/* Splits a path template; logs and returns CC_ECONFIG when malformed. */
static int ws_route_parse(ws_sink_t *ws, const char *key, const char *tpl, ws_route_t *r)
{
    const char *at = strstr(tpl, "{recipient}");
    if (tpl[0] != '/' || strpbrk(tpl, "?# \t\r\n") != NULL ||
        (at && strstr(at + 11, "{recipient}") != NULL)) {
        ws->host->log(ws->self, CC_LOG_ERROR,
                      "%s.config.%s: expected a path starting with '/', with {recipient} at "
                      "most once and no query (\"/ws/{recipient}\"), got \"%s\"",
                      ws->place, key, tpl);
        return CC_ECONFIG;
    }
    size_t pl = at ? (size_t)(at - tpl) : strlen(tpl);
    r->prefix = strndup(tpl, pl);
    r->suffix = strdup(at ? at + 11 : "");
    r->has_rcpt = at != NULL;
    return r->prefix && r->suffix ? 0 : CC_ENOMEM;
}

static int ws_config(ws_sink_t *ws)
{
    const cc_host_t *h = ws->host;
    cc_instance_t *self = ws->self;
    ws->listen = h->config_string(self, "listen");
    int rc = ws_route_parse(ws, "path", h->config_string(self, "path"), &ws->ws_route);
    if (rc == 0)
        rc = ws_route_parse(ws, "sse_path", h->config_string(self, "sse_path"), &ws->sse_route);
    if (rc != 0)
        return rc;
    if (strcmp(ws->ws_route.prefix, ws->sse_route.prefix) == 0 &&
        strcmp(ws->ws_route.suffix, ws->sse_route.suffix) == 0) {
        /* Allowed: one path serves both; SSE is picked by its Accept header. */
        h->log(self, CC_LOG_DEBUG, "path and sse_path are the same: SSE by Accept header");
    }
    ws->max_connections = (size_t)h->config_int(self, "max_connections", 100000);
    ws->max_queue_bytes = (size_t)h->config_int(self, "max_queue_bytes", 1048576);
    const char *slow = h->config_string(self, "on_slow");
    ws->conflate = slow != NULL && strcmp(slow, "conflate") == 0;
    ws->replay_events = (size_t)h->config_int(self, "replay_events", 10000);
    ws->ping_ms = (int)h->config_int(self, "ping_ms", 30000);
    ws->max_message_bytes = (size_t)h->config_int(self, "max_message_bytes", 65536);
    ws->handshake_timeout_ms = (int)h->config_int(self, "handshake_timeout_ms", 10000);

    size_t n = h->config_count(self, "allowed_origins");
    if (n > 0) {
        ws->origins = calloc(n, sizeof *ws->origins);
        if (ws->origins == NULL)
            return CC_ENOMEM;
        for (size_t i = 0; i < n; i++)
            ws->origins[i] = h->config_string_at(self, "allowed_origins", i);
        ws->n_origins = n;
    }

    if (h->config_json(self, "auth") != NULL) {
        const char *secret = h->config_string(self, "auth.jwt_secret");
        if (secret == NULL || *secret == '\0') {
            h->log(self, CC_LOG_ERROR, "%s.config.auth.jwt_secret: expected a non-empty secret",
                   ws->place);
            return CC_ECONFIG;
        }
        const char *claim = h->config_string(self, "auth.recipient_claim");
        ws->auth = ws_auth_new(secret, claim ? claim : "sub");
        if (ws->auth == NULL)
            return CC_ENOMEM;
        ws->token_param = h->config_string(self, "auth.token_param");
        if (ws->token_param == NULL)
            ws->token_param = "token";
    } else {
        ws->token_param = "token";
    }

    if (h->config_json(self, "tls") != NULL) {
        ws->tls_cert = h->config_path(self, "tls.cert");
        ws->tls_key = h->config_path(self, "tls.key");
        rc = ws_server_tls_init(ws);
        if (rc != 0)
            return rc;
    }

    /* The listen address is checked here so `changecast run` fails early. */
    struct sockaddr_storage ss;
    int sl;
    if (ws->listen == NULL || ws_listen_parse(ws->listen, &ss, &sl) != 0) {
        h->log(self, CC_LOG_ERROR,
               "%s.config.listen: expected host:port (\"0.0.0.0:8000\", \"[::1]:8000\"), got "
               "\"%s\"", ws->place, ws->listen ? ws->listen : "");
        return CC_ECONFIG;
    }
    return 0;
}

/* A sink with its place, nothing more yet. Returns new (ws_free) or NULL
 * after logging. */
static ws_sink_t *ws_new(cc_instance_t *self, const cc_host_t *host)
{
    ws_sink_t *ws = calloc(1, sizeof *ws);
    if (ws == NULL) {
        host->log(self, CC_LOG_ERROR, "out of memory");
        return NULL;
    }
    ws->self = self;
    ws->host = host;
    ws->place = cc_place(host, self, "sinks", ws->place_buf, sizeof ws->place_buf);
    return ws;
}

/* changecast check: the config as init reads it (paths, listen address,
 * auth, the TLS certificate and key loaded), and nothing else. */
static int ws_check(cc_instance_t *self, const cc_host_t *host)
{
    ws_sink_t *ws = ws_new(self, host);
    if (ws == NULL)
        return CC_ENOMEM;
    int rc = ws_config(ws);
    ws_free(ws);
    return rc;
}

static int ws_init(cc_instance_t *self, const cc_host_t *host, void **state)
{
    ws_sink_t *ws = ws_new(self, host);
    if (ws == NULL)
        return CC_ENOMEM;
    int rc = ws_config(ws);
    if (rc == 0) {
        ws->req = malloc(sizeof *ws->req);
        ws->viewer = ws_viewer_build(host->config_string(self, "path"), &ws->viewer_len);
        rc = ws->req == NULL || ws->viewer == NULL ? CC_ENOMEM : ws_hub_init(&ws->hub);
        if (rc == 0)
            rc = ws_replay_init(&ws->replay, ws->replay_events);
        if (rc == CC_ENOMEM)
            host->log(self, CC_LOG_ERROR, "out of memory");
    }
    if (rc != 0) {
        ws_free(ws);
        return rc;
    }
    if (ws->auth == NULL)
        host->log(self, CC_LOG_WARN,
                  "no auth configured: anyone who can reach %s may listen to any recipient",
                  ws->listen);
    ws_metrics_new(ws);
    *state = ws;
    return 0;
}

static const cc_plugin_t ws_plugin = {
    .abi_major = CC_ABI_MAJOR,
    .abi_minor = CC_ABI_MINOR,
    .size = sizeof(cc_plugin_t),
    .name = "websocket",
    .version = WS_PLUGIN_VERSION,
    .description = "pushes events to WebSocket and SSE clients per recipient (JWT auth, replay "
                   "window, slow-consumer policies, viewer page)",
    .kind = CC_PLUGIN_SINK,
    .config = ws_config_fields,
    .init = ws_init,
    .start = ws_start,
    .deliver = ws_deliver,
    .stop = ws_stop,
    .destroy = ws_destroy,
    .reopen = NULL,
    .flags = CC_PLUGIN_F_LOSSY_DEFAULT,
    .check = ws_check,
};

CC_PLUGIN_ENTRY(ws_plugin)
