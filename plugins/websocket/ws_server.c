/* ws_server.c — the listener and request heads: accept (plain or TLS), read
 * one HTTP/1.1 head within handshake_timeout_ms, then answer it: the 101
 * upgrade, the SSE stream, the viewer page, /healthz, or an error status.
 * Sink thread only.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ws_sink.h"

#define WS_ACCEPT_RETRY_MS 200   /* out of descriptors: pause accepting this long */

static void ws_head_read_cb(struct bufferevent *bev, void *arg);
void ws_conn_write_cb(struct bufferevent *bev, void *arg);
void ws_conn_finish(ws_conn_t *c);

/* ------------------------------------------------------------------ */
/* TLS                                                                 */

static void ws_tls_error(ws_sink_t *ws, const char *key, const char *what, const char *path)
{
    char buf[256];
    unsigned long e = ERR_peek_error();   /* the first: the cause ("No such file") */
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    ws->host->log(ws->self, CC_LOG_ERROR, "%s.config.tls.%s: cannot %s %s: %s", ws->place, key,
                  what, path, e ? buf : "unknown error");
}

int ws_server_tls_init(ws_sink_t *ws)
{
    if (ws->tls_cert == NULL)
        return 0;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ws->host->log(ws->self, CC_LOG_ERROR, "cannot create a TLS context");
        return CC_ENOMEM;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, ws->tls_cert) != 1) {
        ws_tls_error(ws, "cert", "load the certificate chain", ws->tls_cert);
        SSL_CTX_free(ctx);
        return CC_ECONFIG;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, ws->tls_key, SSL_FILETYPE_PEM) != 1) {
        ws_tls_error(ws, "key", "load the private key", ws->tls_key);
        SSL_CTX_free(ctx);
        return CC_ECONFIG;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ws_tls_error(ws, "key", "match the key with the certificate of", ws->tls_cert);
        SSL_CTX_free(ctx);
        return CC_ECONFIG;
    }
    ws->ssl_ctx = ctx;
    return 0;
}

void ws_server_tls_free(ws_sink_t *ws)
{
    if (ws->ssl_ctx != NULL)
        SSL_CTX_free(ws->ssl_ctx);
    ws->ssl_ctx = NULL;
}

/* ------------------------------------------------------------------ */
/* Simple responses                                                    */

/* Queues a whole response (without its body for HEAD) and closes after it
 * is written. `headers` are extra lines, each ending in CRLF (may be ""). */
static void ws_respond_full(ws_conn_t *c, int status, const char *headers, const char *ctype,
                            const char *body, size_t blen, bool with_body)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                        "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
                        status, ws_http_reason(status), ctype, blen, headers);
    if (with_body)
        evbuffer_add(out, body, blen);
    ws_conn_finish(c);
}

static void ws_respond(ws_conn_t *c, int status, const char *headers, const char *ctype,
                       const char *body, size_t blen)
{
    ws_respond_full(c, status, headers, ctype, body, blen, true);
}

static void ws_respond_error(ws_conn_t *c, int status, const char *headers, const char *why)
{
    char body[256];
    int n = snprintf(body, sizeof body, "%d %s: %s\n", status, ws_http_reason(status), why);
    ws_respond(c, status, headers, "text/plain; charset=utf-8", body,
               n < 0 ? 0 : (size_t)n >= sizeof body ? sizeof body - 1 : (size_t)n);
}

static void ws_respond_health(ws_conn_t *c, bool with_body)
{
    char body[96];
    int n = snprintf(body, sizeof body, "{\"status\":\"ok\",\"connections\":%zu}\n",
                     c->sink->hub.n_open);
    ws_respond_full(c, 200, "", "application/json", body, (size_t)n, with_body);
}

/* ------------------------------------------------------------------ */
/* Routing                                                             */

/* Whether `path` names this route; *rcpt gets the recipient (a pointer into
 * path, *rlen bytes) or NULL for broadcasts only. */
static bool ws_route_match(const ws_route_t *r, const char *path, const char **rcpt, size_t *rlen)
{
    size_t pl = strlen(r->prefix), sl = strlen(r->suffix), n = strlen(path);
    *rcpt = NULL;
    *rlen = 0;
    if (!r->has_rcpt)
        return strcmp(path, r->prefix) == 0;
    if (n >= pl + sl && strncmp(path, r->prefix, pl) == 0 && strcmp(path + n - sl, r->suffix) == 0) {
        if (n > pl + sl) {
            *rcpt = path + pl;
            *rlen = n - pl - sl;
        }
        return true;
    }
    /* "/ws" for "/ws/{recipient}": the prefix without its trailing '/',
     * then the suffix: broadcasts only. */
    if (sl == 0 && pl > 1 && r->prefix[pl - 1] == '/' && n == pl - 1 &&
        strncmp(path, r->prefix, n) == 0)
        return true;
    return false;
}

static bool ws_wants_sse(const ws_request_t *req)
{
    const char *a = ws_http_header(req, "Accept");
    return a != NULL && strstr(a, "text/event-stream") != NULL;
}

/* Auth and origin for both kinds. Returns 0, or answers and returns -1.
 * echo, echo_len: the Sec-WebSocket-Protocol item to echo, if any. */
static int ws_admit(ws_conn_t *c, const ws_request_t *req, const char *rcpt, const char **echo,
                    size_t *echo_len)
{
    ws_sink_t *ws = c->sink;
    *echo = NULL;
    *echo_len = 0;
    if (!ws_http_origin_allowed(req, ws->origins, ws->n_origins)) {
        ws_respond_error(c, 403, "", "origin not allowed");
        return -1;
    }
    if (ws->auth != NULL) {
        size_t len = 0;
        const char *sub = NULL;
        const char *tok = ws_auth_token(req, ws->token_param, &len, &sub);
        char why[128] = "";
        int rc = ws_auth_check(ws->auth, tok, len, rcpt, time(NULL), why, sizeof why);
        if (rc != 0) {
            ws->host->log(ws->self, CC_LOG_DEBUG, "refused %s: %d %s", req->path, rc, why);
            ws_respond_error(c, rc,
                             rc == 401 ? "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n" : "",
                             why[0] ? why : (rc == 401 ? "invalid token" : "forbidden"));
            return -1;
        }
        if (sub != NULL) {
            *echo = sub;
            *echo_len = len;
        }
    }
    if (ws->hub.n_open >= ws->max_connections) {
        ws->host->log(ws->self, CC_LOG_WARN, "refusing a connection: max_connections (%zu) reached",
                      ws->max_connections);
        ws_respond_error(c, 503, "Retry-After: 5\r\n", "too many connections");
        return -1;
    }
    return 0;
}

/* Copies the recipient out of the request (it is percent-decoded already). */
static char *ws_rcpt_copy(const char *p, size_t n, char *buf, size_t cap)
{
    if (p == NULL || n == 0 || n >= cap)
        return NULL;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

static void ws_upgrade(ws_conn_t *c, const ws_request_t *req, const char *rcpt, size_t consumed)
{
    ws_sink_t *ws = c->sink;
    char accept[WS_HTTP_ACCEPT_LEN + 1];
    const char *why = "bad upgrade request";
    int st = ws_http_upgrade_check(req, accept, &why);
    if (st != 0) {
        ws_respond_error(c, st,
                         st == 426 ? "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                         : st == 405 ? "Allow: GET\r\n" : "",
                         why ? why : "bad upgrade request");
        return;
    }
    const char *echo;
    size_t echo_len;
    if (ws_admit(c, req, rcpt, &echo, &echo_len) != 0)
        return;
    c->parser = malloc(sizeof *c->parser);
    if (c->parser == NULL) {
        ws_respond_error(c, 503, "", "out of memory");
        return;
    }
    ws_frame_parser_init(c->parser, ws->max_message_bytes);
    /* One add, so the whole head is one chain (see ws_conn_drop_queue). */
    char head[256 + WS_AUTH_MAX_TOKEN];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%.*s%s\r\n",
                      accept, echo ? "Sec-WebSocket-Protocol: " : "", echo ? (int)echo_len : 0,
                      echo ? echo : "", echo ? "\r\n" : "");
    if (hl < 0 || (size_t)hl >= sizeof head)   /* (tokens over 4 KB were refused) */
        hl = 0;
    evbuffer_add(bufferevent_get_output(c->bev), head, (size_t)hl);
    evbuffer_drain(bufferevent_get_input(c->bev), consumed);
    c->kind = WS_KIND_WS;
    const char *last = ws_http_query(req, "last_event_id");
    ws_conn_open(c, rcpt, last, last != NULL && *last != '\0');
}

static void ws_sse_start(ws_conn_t *c, const ws_request_t *req, const char *rcpt, size_t consumed)
{
    if (strcmp(req->method, "GET") != 0) {
        ws_respond_error(c, 405, "Allow: GET\r\n", "use GET");
        return;
    }
    const char *echo;
    size_t echo_len;
    if (ws_admit(c, req, rcpt, &echo, &echo_len) != 0)
        return;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    /* No Content-Length: the body is the stream, ended by closing. */
    evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             "Cache-Control: no-store\r\nConnection: close\r\n"
                             "X-Accel-Buffering: no\r\n");
    const char *origin = ws_http_header(req, "Origin");
    if (origin != NULL && c->sink->n_origins > 0)
        evbuffer_add_printf(out, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n", origin);
    else if (origin != NULL)
        evbuffer_add_printf(out, "Access-Control-Allow-Origin: *\r\n");
    /* The first comment makes proxies and curl show the stream at once. */
    static const char first[] = "\r\n: changecast\n\n";
    evbuffer_add(out, first, sizeof first - 1);
    evbuffer_drain(bufferevent_get_input(c->bev), consumed);
    c->kind = WS_KIND_SSE;
    const char *last = ws_http_header(req, "Last-Event-ID");
    if (last == NULL || *last == '\0')
        last = ws_http_query(req, "last_event_id");
    ws_conn_open(c, rcpt, last, last != NULL && *last != '\0');
}

/* Answers a whole request head. */
static void ws_dispatch(ws_conn_t *c, const ws_request_t *req, size_t consumed)
{
    ws_sink_t *ws = c->sink;
    const char *rp;
    size_t rl;
    char rbuf[WS_HTTP_MAX_TARGET + 1];
    bool upgrade = ws_http_header_has_token(req, "Upgrade", "websocket");
    if (ws_route_match(&ws->ws_route, req->path, &rp, &rl)) {
        const char *rcpt = ws_rcpt_copy(rp, rl, rbuf, sizeof rbuf);
        if (!upgrade && ws_wants_sse(req))
            ws_sse_start(c, req, rcpt, consumed);
        else
            ws_upgrade(c, req, rcpt, consumed);
        return;
    }
    if (ws_route_match(&ws->sse_route, req->path, &rp, &rl)) {
        ws_sse_start(c, req, ws_rcpt_copy(rp, rl, rbuf, sizeof rbuf), consumed);
        return;
    }
    bool get = strcmp(req->method, "GET") == 0, head = strcmp(req->method, "HEAD") == 0;
    if (strcmp(req->path, "/healthz") == 0) {
        if (get || head)
            ws_respond_health(c, get);
        else
            ws_respond_error(c, 405, "Allow: GET, HEAD\r\n", "use GET");
    } else if (strcmp(req->path, "/") == 0) {
        if (get || head)
            ws_respond_full(c, 200, "", "text/html; charset=utf-8", ws->viewer, ws->viewer_len,
                            get);
        else
            ws_respond_error(c, 405, "Allow: GET, HEAD\r\n", "use GET");
    } else {
        ws_respond_error(c, 404, "", "no such path");
    }
}

/* ------------------------------------------------------------------ */
/* Reading the head                                                    */

static void ws_head_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    ws_conn_t *c = arg;
    ws_sink_t *ws = c->sink;
    if (c->state != WS_ST_HEAD) {
        /* Answered already: read and drop what the client still sends. */
        struct evbuffer *in = bufferevent_get_input(c->bev);
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    /* One absolute deadline for the whole head: libevent re-arms the read
     * timeout after every read, so set what is left of it again. */
    int64_t left = c->deadline_ms - ws_now_ms();
    if (left <= 0) {
        ws_conn_free(c);
        return;
    }
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
    bufferevent_set_timeouts(c->bev, &tv, NULL);
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t len = evbuffer_get_length(in);
    size_t n = len < WS_HTTP_MAX_HEAD ? len : WS_HTTP_MAX_HEAD;
    const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
    if (p == NULL && n > 0)
        return;
    /* Look for the end of the head only in what is new (and 3 bytes back). */
    size_t from = c->scanned > 3 ? c->scanned - 3u : 0u;
    const char *end = n >= 4 && from < n ? memmem(p + from, n - from, "\r\n\r\n", 4) : NULL;
    ws_request_t *req = ws->req;
    size_t consumed = 0;
    if (end == NULL) {
        c->scanned = (uint16_t)n;
        if (len >= WS_HTTP_MAX_HEAD) {
            ws_respond_error(c, 431, "", "request head too large");
            return;
        }
        /* Judge the request line while it arrives (a TLS hello on the
         * plain port, garbage: refused at once), on the shared scratch;
         * once the line is whole it is not judged again. */
        if (!c->line_checked) {
            ws_http_request_init(req);
            int rc = ws_http_parse(p, n, req, &consumed);
            if (rc != WS_HTTP_MORE && rc != WS_HTTP_DONE) {
                ws_respond_error(c, rc, "", req->why ? req->why : "malformed request");
                return;
            }
            c->line_checked = memchr(p, '\n', n) != NULL;
        }
        return;
    }
    size_t head = (size_t)(end - p) + 4;
    ws_http_request_init(req);
    int rc = ws_http_parse(p, head, req, &consumed);
    if (rc != WS_HTTP_DONE) {
        ws_respond_error(c, rc == WS_HTTP_MORE ? 400 : rc, "",
                         req->why ? req->why : "malformed request head");
        return;
    }
    /* The head is parsed: the keepalive timeout replaces the deadline. */
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    ws_dispatch(c, req, consumed);
}

/* ------------------------------------------------------------------ */
/* Accepting                                                           */

void ws_socket_tune(evutil_socket_t fd, int ping_ms)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);   /* live feed: no Nagle delay */
    /* What we send must be acknowledged within two ping periods, or the
     * kernel drops the connection. An SSE client never writes, so a
     * vanished one (power, network: no RST) would otherwise hold its socket
     * through TCP's ~15 minutes of retransmits; ": ping" comments give the
     * timer something to time. */
    unsigned int ms = (unsigned int)ping_ms * 2u;
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
}

static void ws_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                         int socklen, void *arg)
{
    (void)l;
    (void)sa;
    (void)socklen;
    ws_sink_t *ws = arg;
    /* Heads being read are bounded too: a flood of idle sockets must not
     * grow without limit before any of them is counted. */
    if (ws->n_others >= ws->max_connections) {
        evutil_closesocket(fd);
        return;
    }
    ws_socket_tune(fd, ws->ping_ms);
    struct bufferevent *bev;
    if (ws->ssl_ctx != NULL) {
        SSL *ssl = SSL_new(ws->ssl_ctx);
        bev = ssl ? bufferevent_openssl_socket_new(ws->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                   BEV_OPT_CLOSE_ON_FREE)
                  : NULL;
        if (bev == NULL && ssl != NULL)
            SSL_free(ssl);
        if (bev != NULL)
            bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    } else {
        bev = bufferevent_socket_new(ws->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    ws_conn_t *c = bev ? calloc(1, sizeof *c) : NULL;
    if (c == NULL) {
        if (bev)
            bufferevent_free(bev);
        else
            evutil_closesocket(fd);
        ws->host->log(ws->self, CC_LOG_WARN, "out of memory accepting a connection");
        return;
    }
    c->sink = ws;
    c->bev = bev;
    c->kind = WS_KIND_HTTP;
    c->state = WS_ST_HEAD;
    c->next = ws->others;
    if (ws->others)
        ws->others->prev = c;
    ws->others = c;
    ws->n_others++;
    c->deadline_ms = ws_now_ms() + ws->handshake_timeout_ms;
    struct timeval tv = {ws->handshake_timeout_ms / 1000, (ws->handshake_timeout_ms % 1000) * 1000};
    bufferevent_set_timeouts(bev, &tv, NULL);
    bufferevent_setcb(bev, ws_head_read_cb, ws_conn_write_cb, ws_conn_event_cb, c);
    bufferevent_setwatermark(bev, EV_READ, 0, WS_HTTP_MAX_HEAD + 1);
    bufferevent_enable(bev, EV_READ);   /* EV_WRITE when there is something to write */
}

static void ws_accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ws_sink_t *ws = arg;
    if (ws->listener)
        evconnlistener_enable(ws->listener);
}

static void ws_accept_error_cb(struct evconnlistener *l, void *arg)
{
    ws_sink_t *ws = arg;
    int err = EVUTIL_SOCKET_ERROR();
    ws->host->log(ws->self, CC_LOG_WARN, "accept: %s; pausing new connections for %d ms",
                  evutil_socket_error_to_string(err), WS_ACCEPT_RETRY_MS);
    /* EMFILE would make the listener spin: pause it instead. */
    evconnlistener_disable(l);
    struct timeval tv = {0, WS_ACCEPT_RETRY_MS * 1000};
    event_base_once(ws->base, -1, EV_TIMEOUT, ws_accept_resume_cb, ws, &tv);
}

int ws_listen_parse(const char *listen, struct sockaddr_storage *ss, int *len)
{
    memset(ss, 0, sizeof *ss);
    *len = (int)sizeof *ss;
    if (evutil_parse_sockaddr_port(listen, (struct sockaddr *)ss, len) == 0)
        return 0;
    /* libevent refuses port 0; "any free port" is useful (tests, demos). */
    size_t n = strlen(listen);
    char buf[128];
    if (n < 2 || n >= sizeof buf || strcmp(listen + n - 2, ":0") != 0)
        return -1;
    memcpy(buf, listen, n - 1);
    buf[n - 1] = '1';
    buf[n] = '\0';
    *len = (int)sizeof *ss;
    if (evutil_parse_sockaddr_port(buf, (struct sockaddr *)ss, len) != 0)
        return -1;
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = 0;
    else
        ((struct sockaddr_in *)ss)->sin_port = 0;
    return 0;
}

int ws_server_start(ws_sink_t *ws)
{
    struct sockaddr_storage ss;
    int sl;
    if (ws_listen_parse(ws->listen, &ss, &sl) != 0) {
        ws->host->log(ws->self, CC_LOG_ERROR,
                      "%s.config.listen: expected host:port (\"0.0.0.0:8000\", \"[::1]:8000\"), "
                      "got \"%s\"", ws->place, ws->listen);
        return CC_ECONFIG;
    }
    ws->listener = evconnlistener_new_bind(ws->base, ws_accept_cb, ws,
                                           LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                               LEV_OPT_CLOSE_ON_EXEC,
                                           4096, (struct sockaddr *)&ss, sl);
    if (ws->listener == NULL) {
        int err = EVUTIL_SOCKET_ERROR();
        ws->host->log(ws->self, CC_LOG_ERROR, "%s.config.listen: cannot listen on %s: %s",
                      ws->place, ws->listen, evutil_socket_error_to_string(err));
        return CC_EIO;
    }
    evconnlistener_set_error_cb(ws->listener, ws_accept_error_cb);
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    int port = 0;
    if (getsockname(evconnlistener_get_fd(ws->listener), (struct sockaddr *)&bound, &bl) == 0)
        port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                 : ((struct sockaddr_in *)&bound)->sin_port);
    ws->host->log(ws->self, CC_LOG_INFO, "listening on %s (port %d%s): WebSocket %s%s, SSE %s%s, viewer /",
                  ws->listen, port, ws->ssl_ctx ? ", TLS" : "", ws->ws_route.prefix,
                  ws->ws_route.has_rcpt ? "{recipient}" : "", ws->sse_route.prefix,
                  ws->sse_route.has_rcpt ? "{recipient}" : "");
    return 0;
}

void ws_server_stop(ws_sink_t *ws)
{
    if (ws->listener != NULL)
        evconnlistener_free(ws->listener);
    ws->listener = NULL;
    while (ws->others != NULL)
        ws_conn_free(ws->others);
    while (ws->hub.open != NULL) {
        ws_conn_t *c = ws->hub.open;
        ws_conn_going_away(c);
        ws_conn_free(c);
    }
}
