/* core/admin.c — the admin HTTP listener: GET /metrics and GET /healthz.
 *
 * The socket is created and bound here (not by evhttp_bind_socket) so a
 * failure reports the exact errno, then handed to evhttp. Requests are small
 * GETs: header and body sizes are capped and idle or slow connections time
 * out, so a misbehaving client cannot hold the listener.
 */
#include "core/buf.h"
#include "core/admin.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "changecast/error.h"
#include "changecast/portable.h"

#define ADMIN_MAX_HEADERS 8192      /* bytes of request line + headers */
#define ADMIN_MAX_BODY 1024         /* GETs carry no body */
#define ADMIN_TIMEOUT_S 10          /* read/write timeout per connection */
#define ADMIN_BACKLOG 64

struct cc_admin {
    struct evhttp *http;
    cc_metrics_t *metrics;
    cc_admin_health_cb health;
    void *arg;
    int port;
};

static void free_cb(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    free((void *)data);
}

/* Sends `body` (consumed) with `status` and `type`. */
static void reply(struct evhttp_request *req, int status, const char *reason, const char *type,
                  cc_buf_t *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *out = evbuffer_new();
    size_t len = 0;
    char *data;

    if (out == NULL || body->oom) {
        if (out != NULL)
            evbuffer_free(out);
        cc_buf_free(body);
        evhttp_send_error(req, HTTP_INTERNAL, "Out of memory");
        return;
    }
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        /* libevent would send the body even for HEAD: send its length only. */
        char clen[32];
        snprintf(clen, sizeof(clen), "%zu", body->len);
        evhttp_add_header(h, "Content-Length", clen);
        cc_buf_reset(body);
    }
    data = cc_buf_steal(body, &len);
    if (data != NULL && len > 0) {
        if (evbuffer_add_reference(out, data, len, free_cb, NULL) != 0) {
            free(data);
            evbuffer_free(out);
            evhttp_send_error(req, HTTP_INTERNAL, "Out of memory");
            return;
        }
    } else {
        free(data);
    }
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, status, reason, out);
    evbuffer_free(out);
}

static void reply_text(struct evhttp_request *req, int status, const char *reason,
                       const char *text)
{
    cc_buf_t b = CC_BUF_INIT;

    cc_buf_puts(&b, text);
    reply(req, status, reason, "text/plain; charset=utf-8", &b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    cc_admin_t *a = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    int is_metrics, is_health;
    cc_buf_t body = CC_BUF_INIT;

    is_metrics = path != NULL && strcmp(path, "/metrics") == 0;
    is_health = path != NULL && strcmp(path, "/healthz") == 0;
    if (!is_metrics && !is_health) {
        reply_text(req, HTTP_NOTFOUND, "Not Found",
                   "not found: the admin listener serves GET /metrics and GET /healthz\n");
        return;
    }
    /* HEAD is GET without a body. */
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        reply_text(req, 405, "Method Not Allowed", "method not allowed: use GET\n");
        return;
    }
    if (is_metrics) {
        cc_metrics_render(a->metrics, &body);
        reply(req, HTTP_OK, "OK", "text/plain; version=0.0.4; charset=utf-8", &body);
        return;
    }
    if (a->health == NULL) {
        cc_buf_lit(&body, "{\"status\":\"ok\"}");
        reply(req, HTTP_OK, "OK", "application/json", &body);
        return;
    }
    if (a->health(a->arg, &body))
        reply(req, HTTP_OK, "OK", "application/json", &body);
    else
        reply(req, 503, "Service Unavailable", "application/json", &body);
}

/* Splits "host:port" ("[::1]:9464" for IPv6) into host and port. */
static int parse_listen(const char *listen, char *host, size_t hostlen, char *port,
                        size_t portlen)
{
    const char *colon = strrchr(listen, ':');
    const char *h = listen;
    size_t hl;
    char *end;
    long p;

    if (colon == NULL || colon == listen || colon[1] == '\0')
        return -1;
    hl = (size_t)(colon - listen);
    if (listen[0] == '[') {
        if (hl < 3 || listen[hl - 1] != ']')
            return -1;
        h = listen + 1;
        hl -= 2;
    } else if (memchr(listen, ':', hl) != NULL) {
        return -1;   /* a bare IPv6 address needs brackets */
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || p < 0 || p > 65535 || colon[1] < '0' || colon[1] > '9')
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, portlen, "%ld", p);
    return 0;
}

/* Returns a listening, non-blocking socket, or -1 with errno set. */
static int listen_on(const struct addrinfo *ai)
{
    int one = 1, saved;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);

    if (fd < 0)
        return -1;
    /* Restarts must not fail on connections left in TIME_WAIT. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, ADMIN_BACKLOG) != 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

int cc_admin_start(struct event_base *base, const char *listen, cc_metrics_t *metrics,
                   cc_admin_health_cb health, void *arg, cc_admin_t **out, char *err,
                   size_t errlen)
{
    struct addrinfo hints, *res = NULL, *ai;
    char host[256], port[8];
    cc_admin_t *a;
    int fd = -1, saved = 0, gai;

    *out = NULL;
    if (base == NULL || metrics == NULL || listen == NULL ||
        parse_listen(listen, host, sizeof(host), port, sizeof(port)) != 0) {
        cc_set_err(err, errlen, "admin.listen: expected \"host:port\" (e.g. \"127.0.0.1:9464\"), "
                "got \"%s\"", listen != NULL ? listen : "(null)");
        return CC_EINVAL;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        cc_set_err(err, errlen, "admin.listen: cannot resolve \"%s\": %s", host,
                gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
        return CC_EINVAL;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = listen_on(ai);
        if (fd >= 0)
            break;
        if (saved == 0)
            saved = errno;     /* report the first address's reason */
    }
    freeaddrinfo(res);
    if (fd < 0) {
        cc_set_err(err, errlen, "admin.listen: cannot listen on %s: %s", listen,
                strerror(saved ? saved : EADDRNOTAVAIL));
        return CC_EIO;
    }

    a = calloc(1, sizeof(*a));
    if (a == NULL || (a->http = evhttp_new(base)) == NULL) {
        free(a);
        close(fd);
        cc_set_err(err, errlen, "admin.listen: out of memory");
        return CC_ENOMEM;
    }
    a->metrics = metrics;
    a->health = health;
    a->arg = arg;
    a->port = bound_port(fd);
    /* Let every method reach on_request, which answers 405 itself. */
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_max_headers_size(a->http, ADMIN_MAX_HEADERS);
    evhttp_set_max_body_size(a->http, ADMIN_MAX_BODY);
    evhttp_set_timeout(a->http, ADMIN_TIMEOUT_S);
    evhttp_set_gencb(a->http, on_request, a);
    if (evhttp_accept_socket_with_handle(a->http, fd) == NULL) {
        /* Only on out of memory. libevent may already have closed fd (its
         * listener closes on free), so it is not closed again here. */
        saved = errno;
        evhttp_free(a->http);
        free(a);
        cc_set_err(err, errlen, "admin.listen: cannot listen on %s: %s", listen,
                strerror(saved ? saved : ENOMEM));
        return CC_EIO;
    }
    *out = a;
    return 0;
}

int cc_admin_port(const cc_admin_t *a)
{
    return a != NULL ? a->port : -1;
}

void cc_admin_free(cc_admin_t *a)
{
    if (a == NULL)
        return;
    evhttp_free(a->http);   /* closes the listener and open connections */
    free(a);
}
