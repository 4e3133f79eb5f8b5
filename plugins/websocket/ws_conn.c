/* ws_conn.c — open connections: replay then live events, the slow-consumer
 * policies, client frames (ping, close, errors), keepalive and the close
 * handshake. Sink thread only.
 *
 * Timers: a connection has none of its own beyond the bufferevent's read and
 * write timeouts. Open: the read timeout is ping_ms, so a peer silent that
 * long gets a ping, and one still silent after another ping_ms is dead; the
 * write timeout (2 x ping_ms) catches a peer that stopped reading while we
 * have bytes for it. Closing: both are WS_LINGER_MS.
 *
 * Writes: a plain socket's bufferevent keeps EV_WRITE disabled while its
 * output is empty. deliver queues shared frames on each target and, once
 * per batch, writes them straight to the socket (one writev); only what
 * the kernel did not take enables EV_WRITE until it drains. This saves the
 * two epoll_ctl calls per socket per batch that arming and disarming the
 * write event would cost: with 10k sockets that is most of the work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

#include "ws_sink.h"

#define WS_LINGER_MS 2000   /* closing: wait this long for the peer's close or EOF */

void ws_conn_write_cb(struct bufferevent *bev, void *arg);
void ws_conn_finish(ws_conn_t *c);

int64_t ws_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* Lists                                                               */

static void ws_others_link(ws_sink_t *ws, ws_conn_t *c)
{
    c->prev = NULL;
    c->next = ws->others;
    if (ws->others)
        ws->others->prev = c;
    ws->others = c;
    ws->n_others++;
}

static void ws_others_unlink(ws_sink_t *ws, ws_conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        ws->others = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    ws->n_others--;
}

/* Out of the hub (no more events), into the others list. */
static void ws_conn_leave_hub(ws_conn_t *c)
{
    if (!c->in_open_list)
        return;
    ws_hub_remove(&c->sink->hub, c);
    ws_others_link(c->sink, c);
    ws_sink_connections_changed(c->sink);
}

void ws_conn_kick(ws_conn_t *c)
{
    bufferevent_enable(c->bev, EV_WRITE);
}

/* One non-blocking write of the output to a plain socket, as the
 * bufferevent itself does it (it keeps the output's start frozen against
 * anyone else draining it). Errors are left for the bufferevent to find. */
static void ws_conn_write_now(ws_conn_t *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_unfreeze(out, 1);
    evbuffer_write(out, bufferevent_getfd(c->bev));
    evbuffer_freeze(out, 1);
}

void ws_conn_flush_dirty(ws_sink_t *ws)
{
    while (ws->dirty != NULL) {
        ws_conn_t *c = ws->dirty;
        ws->dirty = c->dirty_next;
        c->dirty_next = NULL;
        c->dirty = false;
        struct evbuffer *out = bufferevent_get_output(c->bev);
        if (evbuffer_get_length(out) == 0 || (bufferevent_get_enabled(c->bev) & EV_WRITE))
            continue;   /* empty, or already waiting for the socket */
        if (ws->ssl_ctx == NULL)
            ws_conn_write_now(c);
        if (evbuffer_get_length(out) > 0)
            ws_conn_kick(c);
        else
            c->grace = 0;   /* a replay is out too */
    }
}

void ws_conn_free(ws_conn_t *c)
{
    ws_sink_t *ws = c->sink;
    if (c->dirty) {
        ws_conn_t **p = &ws->dirty;
        while (*p != c)
            p = &(*p)->dirty_next;
        *p = c->dirty_next;
    }
    if (c->in_open_list) {
        ws_hub_remove(&ws->hub, c);
        ws_sink_connections_changed(ws);
    } else {
        ws_others_unlink(ws, c);
    }
    /* Frees the socket; shared blobs still queued are released through
     * their evbuffer cleanup callbacks. */
    bufferevent_free(c->bev);
    if (c->parser != NULL) {
        ws_frame_parser_free(c->parser);
        free(c->parser);
    }
    ws_conflate_free(c->cf, ws->host);
    free(c);
}

static void ws_conn_timeouts(ws_conn_t *c, int read_ms, int write_ms)
{
    struct timeval r = {read_ms / 1000, (read_ms % 1000) * 1000};
    struct timeval w = {write_ms / 1000, (write_ms % 1000) * 1000};
    bufferevent_set_timeouts(c->bev, read_ms > 0 ? &r : NULL, write_ms > 0 ? &w : NULL);
}

void ws_conn_arm_keepalive(ws_conn_t *c)
{
    int p = c->sink->ping_ms;
    ws_conn_timeouts(c, p, p * 2);
}

/* ------------------------------------------------------------------ */
/* Closing                                                             */

/* Everything is written: half-close (after TLS's close_notify) and wait
 * for the peer's EOF, so that our last bytes are not lost to a reset. */
static void ws_conn_flushed(ws_conn_t *c)
{
    if (c->sink->ssl_ctx != NULL) {
        SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
        if (ssl != NULL)
            SSL_shutdown(ssl);   /* sends close_notify; the reply is not awaited */
    }
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    bufferevent_disable(c->bev, EV_WRITE);
    bufferevent_enable(c->bev, EV_READ);
}

/* Sends what is queued, then closes (see ws_conn_flushed). */
void ws_conn_finish(ws_conn_t *c)
{
    ws_conn_leave_hub(c);
    c->state = WS_ST_FLUSH;
    ws_conn_timeouts(c, WS_LINGER_MS, WS_LINGER_MS);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        ws_conn_flushed(c);
    else
        ws_conn_kick(c);
}

/* Queues a control frame as a chain of its own (a blob reference): every
 * frame in the output is then whole in one chain, which ws_conn_drop_queue
 * relies on. */
static void ws_conn_send_control(ws_conn_t *c, const uint8_t *frame, size_t n)
{
    ws_blob_t *b = ws_blob_new(n);
    if (b == NULL)
        return;   /* out of memory: the frame is lost, the timeouts still close */
    memcpy(b->data, frame, n);
    ws_blob_send(b, bufferevent_get_output(c->bev));
    ws_blob_unref(b);
}

static void ws_conn_send_close(ws_conn_t *c, uint16_t code, const char *reason)
{
    uint8_t f[WS_CLOSE_FRAME_MAX];
    size_t n = ws_frame_close(f, code, reason);
    ws_conn_send_control(c, f, n);
}

void ws_conn_close(ws_conn_t *c, uint16_t code, const char *reason)
{
    if (c->state == WS_ST_HEAD) {
        ws_conn_free(c);
        return;
    }
    if (c->state != WS_ST_OPEN)
        return;
    if (c->kind != WS_KIND_WS) {
        ws_conn_finish(c);
        return;
    }
    ws_conn_leave_hub(c);
    ws_conn_send_close(c, code, reason);
    /* Wait for the peer's close frame (RFC 6455 7.1.1), bounded. */
    c->state = WS_ST_CLOSING;
    ws_conn_timeouts(c, WS_LINGER_MS, WS_LINGER_MS);
    ws_conn_kick(c);
}

/* Drops the queued frames, keeping only the first chain of the output: it
 * is the one being written (its start may be on the wire already) and ends
 * on a frame boundary, as every shared frame is a chain of its own. */
static void ws_conn_drop_queue(ws_conn_t *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    struct evbuffer_iovec v;
    if (evbuffer_peek(out, -1, NULL, &v, 1) < 1)
        return;
    size_t keep = v.iov_len, len = evbuffer_get_length(out);
    if (len <= keep)
        return;
    struct evbuffer *tmp = evbuffer_new();
    if (tmp == NULL)
        return;
    /* Moves chains (no copy): first chain aside, drain, put it back. The
     * bufferevent keeps the output's start frozen: thaw it for this. */
    evbuffer_unfreeze(out, 1);
    evbuffer_remove_buffer(out, tmp, keep);
    evbuffer_drain(out, evbuffer_get_length(out));
    evbuffer_freeze(out, 1);
    evbuffer_add_buffer(out, tmp);
    evbuffer_free(tmp);
}

void ws_conn_going_away(ws_conn_t *c)
{
    if (c->kind != WS_KIND_WS || c->state != WS_ST_OPEN || c->sink->ssl_ctx != NULL)
        return;
    ws_conn_drop_queue(c);
    ws_conn_send_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
    ws_conn_write_now(c);
}

static void ws_conn_slow_close(ws_conn_t *c, const char *why)
{
    ws_sink_t *ws = c->sink;
    ws->host->count(ws->self, CC_RESULT_DROPPED, 1);
    if (ws->m_slow_closes)
        ws->host->metric_add(ws->m_slow_closes, 1);
    /* One line a second at most: a stalled network may close thousands. */
    int64_t now = ws_now_ms();
    if (now - ws->slow_logged_ms >= 1000) {
        ws->host->log(ws->self, CC_LOG_WARN,
                      "closing a slow %s client%s%s: %s (%zu more closed since the last such "
                      "line; see changecast_websocket_slow_closes_total)",
                      c->kind == WS_KIND_SSE ? "SSE" : "WebSocket", c->rcpt ? " of " : "",
                      c->rcpt ? c->rcpt->name : "", why, ws->slow_unlogged);
        ws->slow_logged_ms = now;
        ws->slow_unlogged = 0;
    } else {
        ws->slow_unlogged++;
    }
    ws_conn_drop_queue(c);
    ws_conn_close(c, WS_CLOSE_TRY_LATER, "slow consumer");
}

/* ------------------------------------------------------------------ */
/* Sending                                                             */

/* Low-rate path (see ws_deliver): nothing queued, so hand the frame to
 * the kernel at once, no chain, no staging; only a remainder the kernel did
 * not take is queued (by reference). Returns true when done. */
static bool ws_conn_send_direct(ws_conn_t *c, ws_blob_t *b)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) != 0 || (bufferevent_get_enabled(c->bev) & EV_WRITE))
        return false;
    ssize_t n = send(bufferevent_getfd(c->bev), b->data, b->len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0)
        return false;   /* EAGAIN, or an error the bufferevent will find */
    c->grace = 0;
    if ((size_t)n == b->len)
        return true;
    b->refs++;   /* owned by the evbuffer from here, as in ws_blob_send */
    if (evbuffer_add_reference(out, b->data + n, b->len - (size_t)n, ws_blob_cleanup_cb, b) != 0) {
        b->refs--;
        return false;   /* (cannot happen for a partial frame without breaking the stream) */
    }
    ws_conn_kick(c);
    return true;
}

static int ws_conn_put(ws_conn_t *c, ws_item_t *it)
{
    ws_sink_t *ws = c->sink;
    ws_blob_t *b = c->kind == WS_KIND_SSE ? ws_item_sse(ws->host, it) : it->ws;
    if (b == NULL)
        return CC_ENOMEM;
    if (ws->direct && ws->ssl_ctx == NULL && ws_conn_send_direct(c, b)) {
        ws->n_messages++;
        ws->n_bytes += b->len;
        return 0;
    }
    if (ws_blob_send(b, bufferevent_get_output(c->bev)) != 0)
        return CC_ENOMEM;
    ws->n_messages++;
    ws->n_bytes += b->len;
    if (!c->dirty) {
        c->dirty = true;
        c->dirty_next = ws->dirty;
        ws->dirty = c;
    }
    return 0;
}

void ws_conn_send(ws_conn_t *c, ws_item_t *it)
{
    ws_sink_t *ws = c->sink;
    if (c->state != WS_ST_OPEN)
        return;
    if (c->cf != NULL) {
        int rc = ws_conflate_add(c->cf, ws->host, it);
        if (rc == 1) {
            ws->host->count(ws->self, CC_RESULT_DROPPED, 1);
            if (ws->m_conflated)
                ws->host->metric_add(ws->m_conflated, 1);
        }
        /* Pending memory is bounded too: as many distinct documents as fit
         * in another max_queue_bytes, then the socket is closed. */
        if (rc < 0 || c->cf->bytes > ws->max_queue_bytes)
            ws_conn_slow_close(c, rc < 0 ? "out of memory" : "too many distinct documents pending");
        return;
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t queued = evbuffer_get_length(out);
    if (queued > ws->max_queue_bytes + c->grace && ws->ssl_ctx == NULL) {
        /* Over the limit: first see if the kernel takes more now. The loop
         * may not have polled for writes yet (a burst of batches), and a
         * socket is only slow when its peer does not read. */
        ws_conn_write_now(c);
        queued = evbuffer_get_length(out);
    }
    if (queued > ws->max_queue_bytes + c->grace) {
        if (!ws->conflate) {
            ws_conn_slow_close(c, "max_queue_bytes exceeded");
            return;
        }
        c->cf = ws_conflate_new();
        if (c->cf == NULL || ws_conflate_add(c->cf, ws->host, it) < 0) {
            ws_conn_slow_close(c, "out of memory");
            return;
        }
        /* Refill from the pending queue once half the output is written. */
        bufferevent_setwatermark(c->bev, EV_WRITE, ws->max_queue_bytes / 2, 0);
        return;
    }
    if (ws_conn_put(c, it) != 0)
        ws_conn_slow_close(c, "out of memory");
}

/* Output drained below the low watermark: conflated events go out again. */
static void ws_conn_refill(ws_conn_t *c)
{
    ws_sink_t *ws = c->sink;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    while (evbuffer_get_length(out) <= ws->max_queue_bytes) {
        ws_item_t *it = ws_conflate_pop(c->cf);
        if (it == NULL)
            break;
        int rc = ws_conn_put(c, it);
        ws_item_unref(ws->host, it);
        if (rc != 0) {
            ws_conn_slow_close(c, "out of memory");
            return;
        }
    }
    if (c->cf->count == 0) {
        ws_conflate_free(c->cf, ws->host);
        c->cf = NULL;
        bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    }
}

void ws_conn_write_cb(struct bufferevent *bev, void *arg)
{
    ws_conn_t *c = arg;
    size_t left = evbuffer_get_length(bufferevent_get_output(bev));
    if (c->state == WS_ST_FLUSH) {
        if (left == 0)
            ws_conn_flushed(c);
        return;
    }
    if (c->state != WS_ST_OPEN)
        return;
    if (left <= c->sink->max_queue_bytes)
        c->grace = 0;   /* the replay is out: the plain limit applies again */
    if (c->cf != NULL) {
        ws_conn_refill(c);
        ws_sink_metrics_flush(c->sink);
        return;   /* (c may be closing now) */
    }
    /* Drained: writes go straight to the socket again (ws_conn_flush_dirty). */
    if (left == 0 && c->sink->ssl_ctx == NULL)
        bufferevent_disable(c->bev, EV_WRITE);
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

static void ws_conn_discard_input(ws_conn_t *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

/* Handles one result of the frame parser. Returns false when c is gone or
 * no longer reads frames. */
static bool ws_conn_frame(ws_conn_t *c, ws_frame_result_t r, const ws_msg_t *m)
{
    ws_sink_t *ws = c->sink;
    switch (r) {
    case WS_FRAME_PING:
        if (c->state == WS_ST_OPEN) {
            uint8_t f[WS_FRAME_HEADER_MAX + WS_CONTROL_MAX];
            size_t n = ws_frame_header(f, WS_OP_PONG, m->len);
            memcpy(f + n, m->data, m->len);   /* a ping's payload is <= 125 */
            ws_conn_send_control(c, f, n + m->len);
            ws_conn_kick(c);
        }
        return true;
    case WS_FRAME_CLOSE:
        if (c->state == WS_ST_CLOSING) {
            ws_conn_free(c);   /* both closes done: the server closes first */
            return false;
        }
        /* Echo the peer's code (RFC 6455 5.5.1), then close. */
        ws_conn_leave_hub(c);
        ws_conn_send_close(c, m->code == WS_CLOSE_NO_STATUS ? 0 : m->code, NULL);
        ws_conn_finish(c);
        return false;
    case WS_FRAME_ERROR:
        ws->host->log(ws->self, CC_LOG_DEBUG, "closing a client with %u: %s", m->code,
                      m->why ? m->why : "protocol error");
        if (c->state == WS_ST_OPEN) {
            ws_conn_leave_hub(c);
            ws_conn_send_close(c, m->code, m->why);
        }
        ws_conn_finish(c);
        return false;
    case WS_FRAME_TEXT:
    case WS_FRAME_BINARY:
        /* The feed is one-way: client messages are read and dropped. */
    case WS_FRAME_PONG:
    case WS_FRAME_MORE:
        return true;
    }
    return true;
}

static void ws_conn_read_cb(struct bufferevent *bev, void *arg)
{
    ws_conn_t *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    c->ping_sent = false;   /* any traffic shows the peer is alive */
    if (c->state == WS_ST_FLUSH || c->kind != WS_KIND_WS) {
        ws_conn_discard_input(c);
        return;
    }
    for (;;) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
            break;
        size_t used = 0;
        ws_msg_t m;
        ws_frame_result_t r = ws_frame_feed(c->parser, v.iov_base, v.iov_len, &used, &m);
        /* Handle before draining: m.data may point into the input. */
        bool go_on = ws_conn_frame(c, r, &m);
        if (!go_on)
            return;   /* c may be freed: touch nothing */
        evbuffer_drain(in, used);
    }
    ws_frame_parser_trim(c->parser);
}

void ws_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    ws_conn_t *c = arg;
    ws_sink_t *ws = c->sink;
    if (what == BEV_EVENT_CONNECTED)
        return;   /* TLS handshake done: the request head comes next */
    if (!(what & BEV_EVENT_TIMEOUT) || c->state != WS_ST_OPEN) {
        /* EOF, error, a handshake deadline or the closing linger. */
        if (c->state == WS_ST_HEAD && (what & BEV_EVENT_TIMEOUT))
            ws->host->log(ws->self, CC_LOG_DEBUG, "closing a client: no request head within %d ms",
                          ws->handshake_timeout_ms);
        ws_conn_free(c);
        return;
    }
    if ((what & BEV_EVENT_WRITING) || (c->ping_sent && c->kind == WS_KIND_WS)) {
        ws->host->log(ws->self, CC_LOG_DEBUG, "closing a dead %s client (%s for %d ms)",
                      c->kind == WS_KIND_SSE ? "SSE" : "WebSocket",
                      (what & BEV_EVENT_WRITING) ? "not reading" : "silent", 2 * ws->ping_ms);
        ws_conn_free(c);
        return;
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    /* Static bytes by reference: a chain of their own, nothing to free. */
    if (c->kind == WS_KIND_WS) {
        static const uint8_t ping[2] = {0x80 | WS_OP_PING, 0};
        evbuffer_add_reference(out, ping, sizeof ping, NULL, NULL);
        c->ping_sent = true;
    } else {
        static const char comment[] = ": ping\n\n";   /* keeps proxies open */
        evbuffer_add_reference(out, comment, sizeof comment - 1, NULL, NULL);
    }
    ws_conn_kick(c);
    bufferevent_enable(c->bev, EV_READ);   /* a timeout disabled reading */
}

/* ------------------------------------------------------------------ */
/* Opening                                                             */

/* A JSON string body for `s` (quotes not included), cut at 256 bytes. */
static void ws_json_escape(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < cap && o < 256; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
}

/* The gap notice: the requested id is not (or no longer) in the window. */
static int ws_conn_send_gap(ws_conn_t *c, const char *last_id)
{
    ws_sink_t *ws = c->sink;
    char req[300], old[300], json[800];
    ws_json_escape(req, sizeof req, last_id);
    const char *oldest = ws->replay.count ? ws->host->event_id(ws_replay_at(&ws->replay, 0)->ev)
                                          : NULL;
    if (oldest)
        ws_json_escape(old, sizeof old, oldest);
    int n = snprintf(json, sizeof json,
                     "{\"operation\":\"gap\",\"last_event_id\":\"%s\",\"oldest_id\":%s%s%s,"
                     "\"timestamp\":%.3f}",
                     req, oldest ? "\"" : "", oldest ? old : "null", oldest ? "\"" : "",
                     (double)time(NULL));
    ws_blob_t *b = c->kind == WS_KIND_SSE ? ws_blob_sse(NULL, json, (size_t)n)
                                          : ws_blob_text_frame(json, (size_t)n);
    if (b == NULL)
        return CC_ENOMEM;
    int rc = ws_blob_send(b, bufferevent_get_output(c->bev));
    ws_blob_unref(b);
    return rc;
}

/* Sends every kept event after `last_id` that this client may see. */
static int ws_conn_replay(ws_conn_t *c, const char *rcpt, const char *last_id)
{
    ws_sink_t *ws = c->sink;
    size_t i;
    if (!ws_replay_find(&ws->replay, ws->host, last_id, &i))
        return ws_conn_send_gap(c, last_id);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t before = evbuffer_get_length(out);
    for (; i < ws->replay.count; i++) {
        ws_item_t *it = ws_replay_at(&ws->replay, i);
        const char *r = ws->host->event_recipient(it->ev);
        if (r != NULL && (rcpt == NULL || strcmp(r, rcpt) != 0))
            continue;
        if (ws_conn_put(c, it) != 0)
            return CC_ENOMEM;
    }
    c->grace = evbuffer_get_length(out) - before;
    return 0;
}

int ws_conn_open(ws_conn_t *c, const char *recipient, const char *last_id, bool has_last_id)
{
    ws_sink_t *ws = c->sink;
    c->state = WS_ST_OPEN;
    bufferevent_setcb(c->bev, ws_conn_read_cb, ws_conn_write_cb, ws_conn_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, 64 * 1024);   /* bounded input per socket */
    /* Replay and joining the hub happen in one go on the loop thread: no
     * live event can fall between them (no gap, no duplicate). */
    int rc = has_last_id ? ws_conn_replay(c, recipient, last_id) : 0;
    if (rc == 0) {
        ws_others_unlink(ws, c);
        rc = ws_hub_add(&ws->hub, c, recipient);
        if (rc != 0)
            ws_others_link(ws, c);
    }
    if (rc != 0) {
        ws->host->log(ws->self, CC_LOG_WARN, "out of memory opening a connection");
        ws_conn_close(c, WS_CLOSE_INTERNAL, "out of memory");
        return rc;
    }
    ws_sink_connections_changed(ws);
    ws_sink_metrics_flush(ws);
    ws_conn_arm_keepalive(c);
    ws_conn_kick(c);   /* the 101 or SSE head, and the replay */
    /* Frames sent right behind the head are in the input already. */
    if (c->kind == WS_KIND_WS && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        ws_conn_read_cb(c->bev, c);
    return 0;
}
