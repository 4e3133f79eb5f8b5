/* tests/unit/test_admin.c — the admin listener over a real socket: /metrics,
 * /healthz, 404, 405, bind errors, oversized requests. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "core/admin.h"
#include "changecast/error.h"

typedef struct server {
    struct event_base *base;
    cc_metrics_t *metrics;
    cc_admin_t *admin;
    pthread_t thread;
    _Atomic int healthy;        /* read on the loop thread */
    _Atomic int health_calls;
    _Atomic int running;
} server_t;

static int health_cb(void *arg, cc_buf_t *body)
{
    server_t *s = arg;

    s->health_calls++;
    if (s->healthy) {
        cc_buf_puts(body, "{\"status\":\"ok\",\"sources\":{\"orders\":\"connected\"},"
                          "\"sinks\":{\"out\":\"ok\"}}");
        return 1;
    }
    cc_buf_puts(body, "{\"status\":\"degraded\",\"sources\":{\"orders\":\"connecting\"},"
                      "\"sinks\":{\"out\":\"ok\"}}");
    return 0;
}

static void mark_running(evutil_socket_t fd, short what, void *arg)
{
    server_t *s = arg;

    (void)fd;
    (void)what;
    s->running = 1;
}

static void *loop_main(void *arg)
{
    server_t *s = arg;

    event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static int setup(void **vs)
{
    server_t *s = calloc(1, sizeof(*s));
    char err[256] = "";
    cc_metric_t *c;

    assert_non_null(s);
    s->base = event_base_new();
    assert_non_null(s->base);
    s->metrics = cc_metrics_new();
    c = cc_metrics_add(s->metrics, CC_METRIC_COUNTER, "changecast_source_events_total",
                       "Events read from each source.", "source=\"orders\"");
    cc_metric_add(c, 12);
    s->healthy = 1;
    if (cc_admin_start(s->base, "127.0.0.1:0", s->metrics, health_cb, s, &s->admin, err,
                       sizeof(err)) != 0)
        fail_msg("cc_admin_start: %s", err);
    assert_true(cc_admin_port(s->admin) > 0);
    /* A loopbreak sent before the loop starts is lost (event_base_loop
     * clears it), so wait until the loop has run one callback. */
    assert_int_equal(event_base_once(s->base, -1, EV_TIMEOUT, mark_running, s, NULL), 0);
    assert_int_equal(pthread_create(&s->thread, NULL, loop_main, s), 0);
    while (!s->running)
        usleep(1000);
    *vs = s;
    return 0;
}

static int teardown(void **vs)
{
    server_t *s = *vs;

    event_base_loopbreak(s->base);
    pthread_join(s->thread, NULL);
    cc_admin_free(s->admin);
    cc_metrics_free(s->metrics);
    event_base_free(s->base);
    free(s);
    return 0;
}

/* Sends `request` raw and reads until the server closes. Returns new. */
static char *exchange(int port, const char *request, size_t *len_out)
{
    struct sockaddr_in sin;
    struct timeval tv = {5, 0};
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t off = 0, rlen = strlen(request);

    assert_non_null(buf);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    while (off < rlen) {
        ssize_t w = send(fd, request + off, rlen - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;    /* the server may refuse part way (oversized request) */
        off += (size_t)w;
    }
    for (;;) {
        ssize_t r;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
        r = recv(fd, buf + len, cap - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == ECONNRESET)
            break;
        assert_true(r >= 0);   /* a timeout means the server never closed */
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    if (len_out != NULL)
        *len_out = len;
    return buf;
}

typedef struct response {
    int status;
    char *head;       /* status line and headers */
    char *body;
} response_t;

static response_t get(server_t *s, const char *method, const char *path)
{
    char req[512];
    response_t r = {0, NULL, NULL};
    char *raw, *sep;

    snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: localhost\r\n\r\n", method, path);
    raw = exchange(cc_admin_port(s->admin), req, NULL);
    assert_int_equal(sscanf(raw, "HTTP/1.%*d %d ", &r.status), 1);
    sep = strstr(raw, "\r\n\r\n");
    assert_non_null(sep);
    r.body = strdup(sep + 4);
    sep[2] = '\0';
    r.head = raw;
    return r;
}

static void response_free(response_t *r)
{
    free(r->head);
    free(r->body);
}

/* The value of header `name` (case-insensitive), or NULL. Returns new. */
static char *header(const response_t *r, const char *name)
{
    const char *p = strstr(r->head, "\r\n");
    size_t n = strlen(name);

    while (p != NULL && p[2] != '\0') {
        const char *line = p + 2;
        const char *end = strstr(line, "\r\n");
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            return strndup(v, (size_t)(end - v));
        }
        p = end;
    }
    return NULL;
}

static void metrics_are_served_as_prometheus_text(void **vs)
{
    server_t *s = *vs;
    response_t r = get(s, "GET", "/metrics");
    cc_buf_t want = CC_BUF_INIT;
    char *ct = header(&r, "Content-Type");

    assert_int_equal(r.status, 200);
    assert_memory_equal(r.head + 8, " 200 OK\r\n", 9);   /* HTTP/1.x */
    assert_non_null(ct);
    assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
    cc_metrics_render(s->metrics, &want);
    assert_string_equal(r.body, cc_buf_cstr(&want));
    assert_non_null(strstr(r.body, "\nchangecast_source_events_total{source=\"orders\"} 12\n"));
    cc_buf_free(&want);
    free(ct);
    response_free(&r);
}

static void query_strings_are_ignored(void **vs)
{
    server_t *s = *vs;
    response_t r = get(s, "GET", "/metrics?name[]=x");

    assert_int_equal(r.status, 200);
    response_free(&r);
}

static void healthz_is_200_when_healthy(void **vs)
{
    server_t *s = *vs;
    response_t r;
    char *ct;

    s->healthy = 1;
    r = get(s, "GET", "/healthz");
    ct = header(&r, "Content-Type");
    assert_int_equal(r.status, 200);
    assert_string_equal(ct, "application/json");
    assert_string_equal(r.body, "{\"status\":\"ok\",\"sources\":{\"orders\":\"connected\"},"
                                "\"sinks\":{\"out\":\"ok\"}}");
    assert_int_equal(s->health_calls, 1);
    free(ct);
    response_free(&r);
}

static void healthz_is_503_when_degraded(void **vs)
{
    server_t *s = *vs;
    response_t r;
    char *ct;

    s->healthy = 0;
    r = get(s, "GET", "/healthz");
    ct = header(&r, "Content-Type");
    assert_int_equal(r.status, 503);
    assert_string_equal(ct, "application/json");
    assert_string_equal(r.body, "{\"status\":\"degraded\",\"sources\":{\"orders\":\"connecting\"},"
                                "\"sinks\":{\"out\":\"ok\"}}");
    free(ct);
    response_free(&r);
}

static void unknown_paths_are_404(void **vs)
{
    server_t *s = *vs;
    const char *paths[] = {"/", "/nope", "/metricsx", "/metrics/", "/healthz/x"};

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        response_t r = get(s, "GET", paths[i]);
        assert_int_equal(r.status, 404);
        response_free(&r);
    }
    {
        response_t r = get(s, "POST", "/nope");
        assert_int_equal(r.status, 404);
        response_free(&r);
    }
}

static void other_methods_are_405_with_allow(void **vs)
{
    server_t *s = *vs;
    const char *methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"};

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        response_t r = get(s, methods[i], "/metrics");
        char *allow = header(&r, "Allow");
        assert_int_equal(r.status, 405);
        assert_non_null(allow);
        assert_string_equal(allow, "GET, HEAD");
        free(allow);
        response_free(&r);
    }
    assert_int_equal(s->health_calls, 0);
}

static void head_gives_headers_without_body(void **vs)
{
    server_t *s = *vs;
    response_t r = get(s, "HEAD", "/metrics");
    char *ct = header(&r, "Content-Type");

    response_t g = get(s, "GET", "/metrics");
    char *clen = header(&r, "Content-Length");
    char want[32];

    assert_int_equal(r.status, 200);
    assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(r.body, "");
    snprintf(want, sizeof(want), "%zu", strlen(g.body));
    assert_non_null(clen);
    assert_string_equal(clen, want);
    free(clen);
    free(ct);
    response_free(&r);
    response_free(&g);
}

static void keep_alive_serves_two_requests_on_one_connection(void **vs)
{
    server_t *s = *vs;
    char *raw = exchange(cc_admin_port(s->admin),
                         "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                         NULL);
    char *second = strstr(raw + 1, "HTTP/1.1 200 OK\r\n");

    assert_memory_equal(raw, "HTTP/1.1 200 OK\r\n", 17);
    assert_non_null(second);
    assert_int_equal(s->health_calls, 2);
    free(raw);
}

static void oversized_headers_are_refused_and_the_server_goes_on(void **vs)
{
    server_t *s = *vs;
    size_t n = 64 * 1024;
    char *req = malloc(n + 100);
    char *raw;
    int status = 0;
    response_t r;

    assert_non_null(req);
    strcpy(req, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + strlen(req), 'a', n);
    strcpy(req + strlen("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ") + n, "\r\n\r\n");
    raw = exchange(cc_admin_port(s->admin), req, NULL);
    /* Either an error status or a plain close; never the metrics. */
    if (raw[0] != '\0') {
        assert_int_equal(sscanf(raw, "HTTP/1.%*d %d ", &status), 1);
        assert_true(status >= 400);
    }
    free(raw);
    free(req);

    r = get(s, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    response_free(&r);
}

static void port_in_use_is_eio_with_the_system_message(void **vs)
{
    server_t *s = *vs;
    char listen[64], err[256] = "", want[256];
    cc_admin_t *other = (cc_admin_t *)0x1;

    snprintf(listen, sizeof(listen), "127.0.0.1:%d", cc_admin_port(s->admin));
    assert_int_equal(cc_admin_start(s->base, listen, s->metrics, NULL, NULL, &other, err,
                                    sizeof(err)),
                     CC_EIO);
    assert_null(other);
    snprintf(want, sizeof(want), "admin.listen: cannot listen on %s: Address already in use",
             listen);
    assert_string_equal(err, want);
}

static void bad_addresses_are_einval(void **vs)
{
    server_t *s = *vs;
    const char *bad[] = {"", "nope", "127.0.0.1", "127.0.0.1:", ":9464", "127.0.0.1:99999",
                         "127.0.0.1:-1", "127.0.0.1:80x", "::1:9464", "[::1:9464",
                         "127.0.0.1: 80"};
    char err[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cc_admin_t *a = NULL;
        int rc = cc_admin_start(s->base, bad[i], s->metrics, NULL, NULL, &a, err, sizeof(err));
        if (rc != CC_EINVAL)
            fail_msg("\"%s\": rc %d (%s)", bad[i], rc, err);
        assert_null(a);
        assert_non_null(strstr(err, "admin.listen: expected \"host:port\""));
    }
}

static void unresolvable_host_is_einval(void **vs)
{
    server_t *s = *vs;
    char err[256];
    cc_admin_t *a = NULL;

    assert_int_equal(cc_admin_start(s->base, "no-such-host.invalid:0", s->metrics, NULL, NULL,
                                    &a, err, sizeof(err)),
                     CC_EINVAL);
    assert_non_null(strstr(err, "admin.listen: cannot resolve \"no-such-host.invalid\""));
}

static void ipv6_loopback_in_brackets_listens(void **vs)
{
    server_t *s = *vs;
    char err[256];
    cc_admin_t *a = NULL;
    int fd = socket(AF_INET6, SOCK_STREAM, 0);

    if (fd < 0)
        skip();
    close(fd);
    if (cc_admin_start(s->base, "[::1]:0", s->metrics, NULL, NULL, &a, err, sizeof(err)) != 0) {
        if (strstr(err, "Cannot assign requested address") != NULL)
            skip();    /* no IPv6 loopback in this sandbox */
        fail_msg("%s", err);
    }
    assert_true(cc_admin_port(a) > 0);
    cc_admin_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(metrics_are_served_as_prometheus_text, setup, teardown),
        cmocka_unit_test_setup_teardown(query_strings_are_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(healthz_is_200_when_healthy, setup, teardown),
        cmocka_unit_test_setup_teardown(healthz_is_503_when_degraded, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_paths_are_404, setup, teardown),
        cmocka_unit_test_setup_teardown(other_methods_are_405_with_allow, setup, teardown),
        cmocka_unit_test_setup_teardown(head_gives_headers_without_body, setup, teardown),
        cmocka_unit_test_setup_teardown(keep_alive_serves_two_requests_on_one_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(oversized_headers_are_refused_and_the_server_goes_on,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(port_in_use_is_eio_with_the_system_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_addresses_are_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(unresolvable_host_is_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(ipv6_loopback_in_brackets_listens, setup, teardown),
    };

    /* The loop runs on its own thread; teardown breaks it from this one. */
    evthread_use_pthreads();
    if (getenv("CC_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("CC_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
