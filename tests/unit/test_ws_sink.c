/* tests/unit/test_ws_sink.c — the websocket sink in-process, against the
 * mock host: config errors name their key, the routes answer with the right
 * status (path templates, broadcasts-only paths, SSE, viewer, health,
 * refusals), events reach the sockets of their recipient plus broadcasts,
 * and the auth table is applied at the upgrade. The sink runs on the test's
 * own event base; each client is a thread with a blocking socket.
 * Every plugins/websocket/ source is compiled in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mock_host.h"
#include "plugins/websocket/ws_sink.h"

#define KEY_HEADERS                                                                   \
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"      \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

typedef struct fixture {
    struct event_base *base;
    cc_instance_t *inst;
    void *state;
    bool inited, started;
    int port;
    cc_event_t *events[16];
    size_t n_events;
} fixture_t;

/* One client: sends `request`, then reads the response head and, after a
 * 101, `want_frames` text frames (or until the server closes). */
typedef struct client {
    int port;
    char request[2048];
    int want_frames;
    char head[4096];
    uint8_t after[256];       /* sent right after the 101 arrives */
    size_t after_len;
    char frames[8][512];
    uint8_t opcodes[8];
    size_t lens[8];
    int n_frames;
    atomic_int upgraded;      /* the 101 head has arrived */
    atomic_int done;
    pthread_t thread;
} client_t;

static size_t read_full(int fd, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got;
}

static void *client_main(void *arg)
{
    client_t *c = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        send(fd, c->request, strlen(c->request), MSG_NOSIGNAL) == (ssize_t)strlen(c->request)) {
        size_t n = 0;
        /* the head, byte by byte so that no frame byte is taken with it */
        while (n + 1 < sizeof c->head && !(n >= 4 && memcmp(c->head + n - 4, "\r\n\r\n", 4) == 0)) {
            if (recv(fd, c->head + n, 1, 0) != 1) break;
            n++;
        }
        c->head[n] = '\0';
        if (strncmp(c->head, "HTTP/1.1 101", 12) == 0) {
            atomic_store(&c->upgraded, 1);
            if (c->after_len) send(fd, c->after, c->after_len, MSG_NOSIGNAL);
            while (c->n_frames < c->want_frames) {
                uint8_t h[4];
                if (read_full(fd, h, 2) != 2) break;
                size_t len = h[1] & 0x7F;
                if (len == 126) {
                    if (read_full(fd, h + 2, 2) != 2) break;
                    len = (size_t)h[2] << 8 | h[3];
                }
                char *f = c->frames[c->n_frames];
                if (len >= sizeof c->frames[0] || read_full(fd, (uint8_t *)f, len) != len) break;
                f[len] = '\0';
                c->opcodes[c->n_frames] = h[0] & 0x0F;
                c->lens[c->n_frames] = len;
                c->n_frames++;
                if ((h[0] & 0x0F) == 0x8) break;   /* a close ends the stream */
            }
        } else if (!strstr(c->head, "text/event-stream")) {
            /* a whole answer: read its body too, to the close (an SSE
             * stream stays open: its head is enough) */
            ssize_t r;
            while (n + 1 < sizeof c->head && (r = recv(fd, c->head + n, sizeof c->head - 1 - n, 0)) > 0)
                n += (size_t)r;
            c->head[n] = '\0';
        }
    }
    close(fd);
    atomic_store(&c->done, 1);
    return NULL;
}

static void client_start(fixture_t *f, client_t *c, int want_frames, const char *fmt, ...)
{
    memset(c, 0, sizeof *c);
    c->port = f->port;
    c->want_frames = want_frames;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->request, sizeof c->request, fmt, ap);
    va_end(ap);
    assert_int_equal(pthread_create(&c->thread, NULL, client_main, c), 0);
}

/* Runs the sink's loop until every client is done, or (upgraded_only) has
 * its 101 or is done; 10 s at most. */
static void run_until(fixture_t *f, client_t *cs, size_t n, bool upgraded_only)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        bool all = true;
        for (size_t i = 0; i < n; i++)
            all = all && (atomic_load(&cs[i].done) || (upgraded_only && atomic_load(&cs[i].upgraded)));
        if (all) return;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 10) fail_msg("clients did not finish in 10 s");
        struct timeval tick = {0, 5000};
        event_base_loopexit(f->base, &tick);
        event_base_dispatch(f->base);
    }
}

static void client_join(client_t *c)
{
    pthread_join(c->thread, NULL);
}

static int setup(void **vs)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->base = event_base_new();
    assert_non_null(f->base);
    *vs = f;
    return 0;
}

static int teardown(void **vs)
{
    fixture_t *f = *vs;
    const cc_plugin_t *p = cc_plugin_entry();
    if (f->started) p->stop(f->state);
    if (f->inited) p->destroy(f->state);
    for (size_t i = 0; i < f->n_events; i++) mock_event_free(f->events[i]);
    mock_instance_free(f->inst);
    event_base_free(f->base);
    free(f);
    return 0;
}

/* Inits the sink with `extra` config members (a JSON fragment after the
 * listen address); returns init's result. */
static int init_with(fixture_t *f, const char *extra)
{
    const cc_plugin_t *p = cc_plugin_entry();
    char config[1024];
    /* port 0: the kernel picks a free one, read back after start */
    snprintf(config, sizeof config, "{\"listen\":\"127.0.0.1:0\"%s%s}", extra[0] ? "," : "", extra);
    f->inst = mock_instance_new(p, config, NULL);
    assert_non_null(f->inst);
    mock_set_event_base(f->inst, f->base);
    int rc = p->init(f->inst, mock_host(), &f->state);
    f->inited = rc == 0;
    return rc;
}

static void start_with(fixture_t *f, const char *extra)
{
    if (init_with(f, extra) != 0) {
        mock_log_print(f->inst);
        fail_msg("init failed");
    }
    assert_int_equal(cc_plugin_entry()->start(f->state), 0);
    f->started = true;
    struct evconnlistener *l = ((ws_sink_t *)f->state)->listener;
    assert_non_null(l);
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&a, &al), 0);
    f->port = ntohs(a.sin_port);
    assert_int_not_equal(f->port, 0);
}

static void deliver_one(fixture_t *f, const char *json)
{
    assert_true(f->n_events < 16);
    cc_event_t *ev = f->events[f->n_events++] = mock_event_new(json);
    cc_batch_t batch = {.size = sizeof batch, .count = 1, .events = &ev};
    assert_int_equal(cc_plugin_entry()->deliver(f->state, &batch), 0);
}

typedef struct config_case {
    const char *extra;
    const char *needle;
} config_case_t;

static void config_errors_name_their_key(void **vs)
{
    static const config_case_t cases[] = {
        {"\"path\":\"ws/{recipient}\"", "config.path"},
        {"\"path\":\"/ws/{recipient}/{recipient}\"", "config.path"},
        {"\"path\":\"/ws?x={recipient}\"", "config.path"},
        {"\"sse_path\":\"/sse {recipient}\"", "config.sse_path"},
        {"\"auth\":{\"jwt_secret\":\"\"}", "config.auth.jwt_secret"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        fixture_t *f = *vs;
        assert_int_not_equal(init_with(f, cases[k].extra), 0);
        if (!mock_log_contains(f->inst, cases[k].needle)) {
            mock_log_print(f->inst);
            fail_msg("case %zu: no log naming %s", k, cases[k].needle);
        }
        mock_instance_free(f->inst);
        f->inst = NULL;
    }
    /* a bad listen address, checked at init */
    fixture_t *f = *vs;
    f->inst = mock_instance_new(cc_plugin_entry(), "{\"listen\":\"nowhere\"}", NULL);
    assert_non_null(f->inst);
    assert_int_not_equal(cc_plugin_entry()->init(f->inst, mock_host(), &f->state), 0);
    assert_true(mock_log_contains(f->inst, "config.listen"));
}

static void without_auth_it_warns_that_anyone_may_listen(void **vs)
{
    fixture_t *f = *vs;
    assert_int_equal(init_with(f, ""), 0);
    assert_true(mock_log_contains(f->inst, "no auth configured"));
}

typedef struct route_case {
    const char *request;
    const char *status;      /* start of the status line */
    const char *also;        /* NULL, or text the response must hold */
} route_case_t;

static void routes_answer_with_the_right_status(void **vs)
{
    fixture_t *f = *vs;
    start_with(f, "\"path\":\"/live/{recipient}/feed\",\"sse_path\":\"/events/{recipient}\"");
    static const route_case_t cases[] = {
        {"GET /live/user_1/feed HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n", "HTTP/1.1 101",
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
        {"GET /live/user%201/feed?x=1 HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n", "HTTP/1.1 101", NULL},
        {"GET /live//feed HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n", "HTTP/1.1 101", NULL},
        {"GET /live/user_1 HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n", "HTTP/1.1 404", NULL},
        {"GET /ws/user_1 HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n", "HTTP/1.1 404", NULL},
        {"GET /events/user_1 HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\n\r\n", "HTTP/1.1 200",
         "text/event-stream"},
        {"GET /live/user_1/feed HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\n\r\n",
         "HTTP/1.1 200", "text/event-stream"},
        {"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", "HTTP/1.1 200", "\"status\":\"ok\""},
        {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", "HTTP/1.1 200", "text/html"},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405", "Allow: GET"},
        {"POST /live/u/feed HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n", "HTTP/1.1 405", "Allow: GET"},
        {"GET /live/u/feed HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
         "HTTP/1.1 426", "Sec-WebSocket-Version: 13"},
        {"GET /live/u/feed HTTP/1.1\r\nHost: h\r\n\r\n", "HTTP/1.1 426", "Upgrade: websocket"},
        {"GET /live/u/feed HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n", "HTTP/1.1 400", NULL},
        {"GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n", "HTTP/1.1 400", NULL},
        {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", "HTTP/1.1 505", NULL},
        {"\x16\x03\x01\x02\x01\x01\x01\x01\xfc\x03\x03\r\n\r\n", "HTTP/1.1 400", NULL},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    client_t *cs = calloc(N, sizeof *cs);
    assert_non_null(cs);
    for (size_t k = 0; k < N; k++) client_start(f, &cs[k], 0, "%s", cases[k].request);
    run_until(f, cs, N, false);
    for (size_t k = 0; k < N; k++) {
        client_join(&cs[k]);
        if (strncmp(cs[k].head, cases[k].status, strlen(cases[k].status)) != 0 ||
            (cases[k].also && !strstr(cs[k].head, cases[k].also)))
            fail_msg("case %zu: got \"%.80s\", want %s%s%s", k, cs[k].head, cases[k].status,
                     cases[k].also ? " with " : "", cases[k].also ? cases[k].also : "");
    }
    free(cs);
}

static void events_reach_their_recipient_and_broadcasts_reach_all(void **vs)
{
    fixture_t *f = *vs;
    start_with(f, "");
    client_t cs[4];
    client_start(f, &cs[0], 2, "GET /ws/user_1 HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n");
    client_start(f, &cs[1], 2, "GET /ws/user_1 HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n");
    client_start(f, &cs[2], 1, "GET /ws/user_2 HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n");
    client_start(f, &cs[3], 1, "GET /ws HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n");
    run_until(f, cs, 4, true);
    for (int k = 0; k < 4; k++) assert_int_equal(atomic_load(&cs[k].upgraded), 1);
    deliver_one(f, "{\"operation\":\"update\",\"collection\":\"users\",\"document_id\":\"user_1\","
                   "\"recipient\":\"user_1\",\"id\":\"t1:user_1\"}");
    deliver_one(f, "{\"operation\":\"insert\",\"collection\":\"news\",\"document_id\":\"n1\","
                   "\"recipient\":null,\"id\":\"t2\"}");
    run_until(f, cs, 4, false);
    for (int k = 0; k < 4; k++) client_join(&cs[k]);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(cs[k].n_frames, 2);
        assert_non_null(strstr(cs[k].frames[0], "\"id\":\"t1:user_1\""));
        assert_non_null(strstr(cs[k].frames[1], "\"id\":\"t2\""));
    }
    for (int k = 2; k < 4; k++) {
        assert_int_equal(cs[k].n_frames, 1);
        assert_non_null(strstr(cs[k].frames[0], "\"id\":\"t2\""));
    }
    assert_int_equal(mock_event_acks(f->events[0]), 1);
    assert_int_equal(mock_event_acks(f->events[1]), 1);
}

/* header.payload.signature with HMAC-SHA256 under key. Static buffer. */
static const char *token(const char *payload, const char *key)
{
    static char tok[1024];
    const char *header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    const char *parts[2] = {header, payload};
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    size_t o = 0;
    for (int p = 0; p < 3; p++) {
        const uint8_t *in = p < 2 ? (const uint8_t *)parts[p] : mac;
        size_t n = p < 2 ? strlen(parts[p]) : maclen;
        if (p == 2) {
            assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key), (const uint8_t *)tok, o - 1, mac, &maclen));
            n = maclen;
        }
        for (size_t k = 0; k < n; k += 3) {
            uint32_t v = (uint32_t)in[k] << 16 | (k + 1 < n ? (uint32_t)in[k + 1] << 8 : 0) |
                         (k + 2 < n ? in[k + 2] : 0);
            tok[o++] = tab[v >> 18 & 63];
            tok[o++] = tab[v >> 12 & 63];
            if (k + 1 < n) tok[o++] = tab[v >> 6 & 63];
            if (k + 2 < n) tok[o++] = tab[v & 63];
        }
        if (p < 2) tok[o++] = '.';
    }
    tok[o] = '\0';
    return tok;
}

static void the_upgrade_applies_the_token_table(void **vs)
{
    fixture_t *f = *vs;
    start_with(f, "\"auth\":{\"jwt_secret\":\"k3y\",\"recipient_claim\":\"uid\"}");
    char good[1024], other[1024], expired[1024], forged[1024];
    snprintf(good, sizeof good, "%s", token("{\"uid\":\"user_1\",\"exp\":4102444800}", "k3y"));
    snprintf(other, sizeof other, "%s", token("{\"uid\":\"user_2\"}", "k3y"));
    snprintf(expired, sizeof expired, "%s", token("{\"uid\":\"user_1\",\"exp\":1000}", "k3y"));
    snprintf(forged, sizeof forged, "%s", token("{\"uid\":\"user_1\"}", "not-the-key"));
    client_t cs[8];
    client_start(f, &cs[0], 0, "GET /ws/user_1?token=%s HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n", good);
    client_start(f, &cs[1], 0, "GET /ws/user_1 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n"
                               KEY_HEADERS "\r\n", good);
    client_start(f, &cs[2], 0, "GET /ws/user_1 HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: bearer, %s\r\n"
                               KEY_HEADERS "\r\n", good);
    client_start(f, &cs[3], 0, "GET /ws/user_1 HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n");
    client_start(f, &cs[4], 0, "GET /ws/user_1?token=%s HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n", other);
    client_start(f, &cs[5], 0, "GET /ws/user_1?token=%s HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n", expired);
    client_start(f, &cs[6], 0, "GET /ws/user_1?token=%s HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n", forged);
    client_start(f, &cs[7], 0, "GET /ws?token=%s HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n", other);
    run_until(f, cs, 8, false);
    static const char *const want[] = {"HTTP/1.1 101", "HTTP/1.1 101", "HTTP/1.1 101", "HTTP/1.1 401",
                                       "HTTP/1.1 403", "HTTP/1.1 401", "HTTP/1.1 401", "HTTP/1.1 101"};
    for (int k = 0; k < 8; k++) {
        client_join(&cs[k]);
        if (strncmp(cs[k].head, want[k], strlen(want[k])) != 0)
            fail_msg("client %d: got \"%.60s\", want %s", k, cs[k].head, want[k]);
    }
    /* the subprotocol carrying the token is echoed, as browsers require */
    char echo[1100];
    snprintf(echo, sizeof echo, "Sec-WebSocket-Protocol: %s\r\n", good);
    assert_non_null(strstr(cs[2].head, echo));
    assert_null(strstr(cs[0].head, "Sec-WebSocket-Protocol"));
    assert_non_null(strstr(cs[3].head, "WWW-Authenticate: Bearer"));
}

/* A masked client frame (mask 0x01020304) appended to c->after. */
static void after_frame(client_t *c, uint8_t b0, bool masked, const void *payload, size_t n, size_t announce)
{
    static const uint8_t mask[4] = {1, 2, 3, 4};
    uint8_t *o = c->after + c->after_len;
    size_t h = 0;
    o[h++] = b0;
    if (announce < 126) {
        o[h++] = (uint8_t)((masked ? 0x80 : 0) | announce);
    } else {
        o[h++] = (uint8_t)((masked ? 0x80 : 0) | 127);
        for (int k = 7; k >= 0; k--) o[h++] = (uint8_t)((uint64_t)announce >> (8 * k));
    }
    if (masked) {
        memcpy(o + h, mask, 4);
        h += 4;
    }
    const uint8_t *p = payload;
    for (size_t k = 0; k < n; k++) o[h + k] = masked ? (uint8_t)(p[k] ^ mask[k & 3]) : p[k];
    c->after_len += h + n;
}

static uint16_t close_code(const client_t *c, int i)
{
    if (c->opcodes[i] != 0x8 || c->lens[i] < 2) return 0;
    return (uint16_t)((uint8_t)c->frames[i][0] << 8 | (uint8_t)c->frames[i][1]);
}

/* Client frames through the real read path: ping answered, close echoed,
 * each violation closed with its code (the parser's table, end to end). */
static void client_frames_get_pongs_echoes_and_close_codes(void **vs)
{
    fixture_t *f = *vs;
    start_with(f, "\"max_message_bytes\":1000");
    enum { N = 6 };
    client_t *cs = calloc(N, sizeof *cs);
    assert_non_null(cs);
    for (int k = 0; k < N; k++) {
        cs[k].want_frames = 2;
        cs[k].port = f->port;
        snprintf(cs[k].request, sizeof cs[k].request, "GET /ws/u%d HTTP/1.1\r\nHost: h\r\n" KEY_HEADERS "\r\n", k);
    }
    after_frame(&cs[0], 0x89, true, "hi", 2, 2);                  /* ping */
    after_frame(&cs[0], 0x88, true, "\x03\xe8" "bye", 5, 5);       /* then close 1000 */
    after_frame(&cs[1], 0x81, false, "hi", 2, 2);                 /* unmasked */
    after_frame(&cs[2], 0x81, true, "\xc0\x80", 2, 2);             /* overlong NUL */
    after_frame(&cs[3], 0x82, true, "", 0, 70000);                /* over max_message_bytes */
    after_frame(&cs[4], 0x83, true, "x", 1, 1);                   /* reserved opcode */
    after_frame(&cs[5], 0x89, false, "", 0, 0);                   /* unmasked ping */
    for (int k = 0; k < N; k++) assert_int_equal(pthread_create(&cs[k].thread, NULL, client_main, &cs[k]), 0);
    run_until(f, cs, N, false);
    for (int k = 0; k < N; k++) client_join(&cs[k]);
    assert_int_equal(cs[0].n_frames, 2);
    assert_int_equal(cs[0].opcodes[0], 0xA);
    assert_int_equal(cs[0].lens[0], 2);
    assert_memory_equal(cs[0].frames[0], "hi", 2);
    assert_int_equal(close_code(&cs[0], 1), 1000);
    static const uint16_t want[N] = {1000, 1002, 1007, 1009, 1002, 1002};
    for (int k = 1; k < N; k++) {
        if (cs[k].n_frames != 1 || close_code(&cs[k], 0) != want[k])
            fail_msg("client %d: %d frames, close code %u, want %u", k, cs[k].n_frames,
                     cs[k].n_frames ? close_code(&cs[k], 0) : 0, want[k]);
    }
    free(cs);
}

/* Accepted sockets: no Nagle, and a dead peer's unacknowledged bytes drop
 * the connection after two ping periods (TCP_USER_TIMEOUT). */
static void accepted_sockets_time_out_unacknowledged_data(void **s)
{
    (void)s;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof sa), 0);
    int fd = accept(l, NULL, NULL);
    assert_true(fd >= 0);
    ws_socket_tune(fd, 1500);
    unsigned int ms = 0;
    int nodelay = 0;
    socklen_t len = sizeof ms;
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, &len), 0);
    assert_int_equal(ms, 3000);
    len = sizeof nodelay;
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
    assert_int_equal(nodelay, 1);
    close(fd);
    close(c);
    close(l);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(config_errors_name_their_key),
        T(without_auth_it_warns_that_anyone_may_listen),
        T(routes_answer_with_the_right_status),
        T(events_reach_their_recipient_and_broadcasts_reach_all),
        T(the_upgrade_applies_the_token_table),
        T(client_frames_get_pongs_echoes_and_close_codes),
        cmocka_unit_test(accepted_sockets_time_out_unacknowledged_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
