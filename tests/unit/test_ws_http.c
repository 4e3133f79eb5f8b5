/* tests/unit/test_ws_http.c — the websocket sink's HTTP request-head parser
 * and WebSocket upgrade check: a real browser handshake, incremental input,
 * percent-decoding, header lookups, every refusal with its status, the
 * RFC 6455 accept-key example, the Origin allow-list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugins/websocket/ws_http.h"

#define CHROME_UPGRADE                                                              \
    "GET /ws/user_123?token=abc.def.ghi&last_event_id=82680684%3Aa HTTP/1.1\r\n"   \
    "Host: localhost:8000\r\n"                                                      \
    "Connection: Upgrade\r\n"                                                       \
    "Pragma: no-cache\r\n"                                                          \
    "Upgrade: websocket\r\n"                                                        \
    "Origin: http://localhost:8000\r\n"                                             \
    "Sec-WebSocket-Version: 13\r\n"                                                 \
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0\r\n"              \
    "Accept-Encoding: gzip, deflate, br\r\n"                                        \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                               \
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"      \
    "\r\n"

static ws_request_t *new_req(void)
{
    ws_request_t *r = malloc(sizeof *r);
    assert_non_null(r);
    ws_http_request_init(r);
    return r;
}

/* Parses text in one go; returns the status. */
static int parse(ws_request_t *r, const char *text, size_t *consumed)
{
    size_t c;
    ws_http_request_init(r);
    return ws_http_parse(text, strlen(text), r, consumed ? consumed : &c);
}

static void browser_upgrade_is_parsed_and_accepted(void **s)
{
    (void)s;
    ws_request_t *r = new_req();
    const char *text = CHROME_UPGRADE "\x81\x85";   /* a frame already behind it */
    size_t used;
    assert_int_equal(parse(r, text, &used), WS_HTTP_DONE);
    assert_int_equal(used, strlen(CHROME_UPGRADE));
    assert_int_equal(r->head_len, used);
    assert_string_equal(r->method, "GET");
    assert_string_equal(r->target, "/ws/user_123?token=abc.def.ghi&last_event_id=82680684%3Aa");
    assert_string_equal(r->path, "/ws/user_123");
    assert_string_equal(r->query, "token=abc.def.ghi&last_event_id=82680684%3Aa");
    assert_int_equal(r->version_minor, 1);
    assert_int_equal(r->nheaders, 10);
    assert_string_equal(ws_http_query(r, "token"), "abc.def.ghi");
    assert_string_equal(ws_http_query(r, "last_event_id"), "82680684:a");
    assert_null(ws_http_query(r, "missing"));
    assert_string_equal(ws_http_header(r, "user-agent"), "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0");
    assert_string_equal(ws_http_header(r, "SEC-WEBSOCKET-VERSION"), "13");
    char accept[WS_HTTP_ACCEPT_LEN + 1];
    const char *why = "unset";
    assert_int_equal(ws_http_upgrade_check(r, accept, &why), 0);
    assert_null(why);
    /* RFC 6455 section 1.3's example */
    assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    free(r);
}

/* Every proper prefix is MORE (consuming nothing), and a head dribbled in
 * one byte at a time parses the same as in one piece. */
static void incremental_input_waits_for_the_end_of_head(void **s)
{
    (void)s;
    ws_request_t *r = new_req();
    const char *text = CHROME_UPGRADE;
    size_t n = strlen(text), used = 99;
    for (size_t k = 0; k < n; k++) {
        int rc = ws_http_parse(text, k, r, &used);
        if (rc != WS_HTTP_MORE) fail_msg("prefix %zu: %d (%s)", k, rc, r->why);
        assert_int_equal(used, 0);
    }
    assert_int_equal(ws_http_parse(text, n, r, &used), WS_HTTP_DONE);
    assert_int_equal(used, n);
    assert_string_equal(ws_http_header(r, "Host"), "localhost:8000");
    /* fresh request, whole prefixes again starting from 0 */
    ws_http_request_init(r);
    assert_int_equal(ws_http_parse(text, n - 1, r, &used), WS_HTTP_MORE);
    assert_int_equal(ws_http_parse(text, n, r, &used), WS_HTTP_DONE);
    free(r);
}

static void path_and_query_are_percent_decoded(void **s)
{
    (void)s;
    ws_request_t *r = new_req();
    assert_int_equal(parse(r, "GET /ws/a%20b%2Fc+d?x=1+2%2B3&flag&&y=&x=second&%C3%A9=%E2%82%AC HTTP/1.1\r\n"
                              "Host: h\r\n\r\n", NULL), WS_HTTP_DONE);
    assert_string_equal(r->path, "/ws/a b/c+d");                 /* '+' kept in paths */
    assert_string_equal(ws_http_query(r, "x"), "1 2+3");          /* first one wins */
    assert_string_equal(ws_http_query(r, "flag"), "");
    assert_string_equal(ws_http_query(r, "y"), "");
    assert_string_equal(ws_http_query(r, "\xc3\xa9"), "\xe2\x82\xac");
    assert_int_equal(r->nparams, 5);
    assert_int_equal(parse(r, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", NULL), WS_HTTP_DONE);
    assert_string_equal(r->path, "/");
    assert_string_equal(r->query, "");
    assert_int_equal(r->nparams, 0);
    /* absolute-form */
    assert_int_equal(parse(r, "GET http://example.com:8000/ws/u1?token=t HTTP/1.1\r\nHost: h\r\n\r\n", NULL),
                     WS_HTTP_DONE);
    assert_string_equal(r->path, "/ws/u1");
    assert_string_equal(ws_http_query(r, "token"), "t");
    assert_int_equal(parse(r, "GET HTTPS://example.com?q=1 HTTP/1.1\r\nHost: h\r\n\r\n", NULL), WS_HTTP_DONE);
    assert_string_equal(r->path, "/");
    assert_string_equal(ws_http_query(r, "q"), "1");
    free(r);
}

static void header_lookups_ignore_case_and_find_list_tokens(void **s)
{
    (void)s;
    ws_request_t *r = new_req();
    assert_int_equal(parse(r, "GET / HTTP/1.1\r\nHost: h\r\n"
                              "connection: keep-alive,\t Upgrade \r\n"
                              "Connection: close\r\n"
                              "X-Empty:\r\n"
                              "Upgrade: upgrade-insecure\r\n"
                              "\r\n", NULL), WS_HTTP_DONE);
    assert_true(ws_http_header_has_token(r, "Connection", "upgrade"));
    assert_true(ws_http_header_has_token(r, "CONNECTION", "close"));
    assert_true(ws_http_header_has_token(r, "connection", "keep-alive"));
    assert_false(ws_http_header_has_token(r, "Connection", "keep"));
    assert_false(ws_http_header_has_token(r, "Upgrade", "upgrade"));
    assert_false(ws_http_header_has_token(r, "Missing", "x"));
    assert_string_equal(ws_http_header(r, "Connection"), "keep-alive,\t Upgrade");
    assert_int_equal(ws_http_header_count(r, "connection"), 2);
    assert_string_equal(ws_http_header(r, "x-empty"), "");
    assert_null(ws_http_header(r, "X-Empt"));
    free(r);
}

typedef struct bad_head {
    const char *text;
    int status;
} bad_head_t;

static void malformed_heads_get_their_status(void **s)
{
    (void)s;
    static const bad_head_t cases[] = {
        {"GET / HTTP/1.1\nHost: h\n\n", 400},                  /* bare LF */
        {"GET / HTTP/1.1\r\nHost: h\n\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400},      /* bare CR */
        {"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400}, /* obs-fold */
        {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},           /* space before colon */
        {"GET / HTTP/1.1\r\n: h\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\x01\r\n\r\n", 400},        /* control byte */
        {"GET / HTTP/1.1\r\nHost: h\x7f\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n\r\n", 400},                       /* no Host */
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400}, /* two Hosts */
        {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
        {"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505},
        {"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400},
        {"GET / http/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET / HTTP/11\r\nHost: h\r\n\r\n", 400},
        {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},           /* two spaces */
        {"GET /\r\nHost: h\r\n\r\n", 400},                     /* HTTP/0.9 style */
        {"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /a%2 HTTP/1.1\r\nHost: h\r\n\r\n", 400},         /* short escape */
        {"GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n", 400},       /* encoded NUL */
        {"GET /?t=%0 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET /\x80 HTTP/1.1\r\nHost: h\r\n\r\n", 400},        /* non-ASCII target */
        {"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    };
    ws_request_t *r = new_req();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t used = 7;
        int rc = parse(r, cases[k].text, &used);
        if (rc != cases[k].status) fail_msg("case %zu: %d, want %d", k, rc, cases[k].status);
        assert_non_null(r->why);
        assert_int_equal(used, 0);
    }
    /* a NUL byte inside the head */
    static const char nul[] = "GET / HTTP/1.1\r\nHost: h\0x\r\n\r\n";
    ws_http_request_init(r);
    size_t used;
    assert_int_equal(ws_http_parse(nul, sizeof nul - 1, r, &used), 400);
    /* HTTP/1.0 needs no Host */
    assert_int_equal(parse(r, "GET / HTTP/1.0\r\n\r\n", NULL), WS_HTTP_DONE);
    assert_int_equal(r->version_minor, 0);
    free(r);
}

/* Garbage and endless request lines are refused before a head could end. */
static void bad_request_lines_are_refused_early(void **s)
{
    (void)s;
    ws_request_t *r = new_req();
    static const char tls_hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    size_t used;
    ws_http_request_init(r);
    assert_int_equal(ws_http_parse(tls_hello, sizeof tls_hello - 1, r, &used), 400);
    ws_http_request_init(r);
    assert_int_equal(ws_http_parse("GET / HTTP/3.0\r\nHo", 19, r, &used), 505);
    char *line = malloc(WS_HTTP_MAX_TARGET + 100);
    assert_non_null(line);
    strcpy(line, "GET /");
    memset(line + 5, 'a', WS_HTTP_MAX_TARGET + 10);
    ws_http_request_init(r);
    assert_int_equal(ws_http_parse(line, WS_HTTP_MAX_TARGET + 15, r, &used), 414);
    /* a target of exactly the limit is fine */
    size_t n = (size_t)sprintf(line, "GET /");
    memset(line + n, 'b', WS_HTTP_MAX_TARGET - 1);
    n += WS_HTTP_MAX_TARGET - 1;
    n += (size_t)sprintf(line + n, " HTTP/1.1\r\nHost: h\r\n\r\n");
    ws_http_request_init(r);
    assert_int_equal(ws_http_parse(line, n, r, &used), WS_HTTP_DONE);
    assert_int_equal(strlen(r->target), WS_HTTP_MAX_TARGET);
    free(line);
    free(r);
}

static void oversized_heads_get_431(void **s)
{
    (void)s;
    ws_request_t *r = new_req();
    char *text = malloc(20000);
    assert_non_null(text);
    size_t n = (size_t)sprintf(text, "GET / HTTP/1.1\r\nHost: h\r\n");
    while (n < WS_HTTP_MAX_HEAD) n += (size_t)sprintf(text + n, "X-Pad: %0100d\r\n", 0);
    size_t used;
    ws_http_request_init(r);
    assert_int_equal(ws_http_parse(text, n, r, &used), 431);   /* no end in 8 KB */
    /* 64 header lines are fine, 65 are not */
    n = (size_t)sprintf(text, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int k = 1; k < WS_HTTP_MAX_HEADERS; k++) n += (size_t)sprintf(text + n, "X-%d: v\r\n", k);
    strcpy(text + n, "\r\n");
    assert_int_equal(parse(r, text, NULL), WS_HTTP_DONE);
    assert_int_equal(r->nheaders, WS_HTTP_MAX_HEADERS);
    strcpy(text + n, "X-Last: v\r\n\r\n");
    assert_int_equal(parse(r, text, NULL), 431);
    /* 32 query parameters are fine, 33 are not */
    n = (size_t)sprintf(text, "GET /?");
    for (int k = 0; k < WS_HTTP_MAX_PARAMS; k++) n += (size_t)sprintf(text + n, "p%d=%d&", k, k);
    strcpy(text + n, " HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(parse(r, text, NULL), WS_HTTP_DONE);
    assert_string_equal(ws_http_query(r, "p31"), "31");
    strcpy(text + n, "one=more HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_int_equal(parse(r, text, NULL), 400);
    free(text);
    free(r);
}

typedef struct upgrade_case {
    const char *head;
    int status;
} upgrade_case_t;

#define UP(method, extra) method " /ws HTTP/1.1\r\nHost: h\r\n" extra "\r\n"
#define GOOD_KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define GOOD_VER "Sec-WebSocket-Version: 13\r\n"
#define GOOD_UPG "Upgrade: websocket\r\nConnection: Upgrade\r\n"

static void upgrade_check_answers_each_fault(void **s)
{
    (void)s;
    static const upgrade_case_t cases[] = {
        {UP("GET", GOOD_UPG GOOD_VER GOOD_KEY), 0},
        {UP("GET", "Upgrade: WebSocket\r\nConnection: keep-alive, upgrade\r\n" GOOD_VER GOOD_KEY), 0},
        {UP("POST", GOOD_UPG GOOD_VER GOOD_KEY), 405},
        {UP("get", GOOD_UPG GOOD_VER GOOD_KEY), 405},
        {"GET /ws HTTP/1.0\r\nHost: h\r\n" GOOD_UPG GOOD_VER GOOD_KEY "\r\n", 400},
        {"GET /ws HTTP/1.0\r\n" GOOD_UPG GOOD_VER GOOD_KEY "\r\n", 400},
        {UP("GET", "Connection: Upgrade\r\n" GOOD_VER GOOD_KEY), 426},
        {UP("GET", "Upgrade: h2c\r\nConnection: Upgrade\r\n" GOOD_VER GOOD_KEY), 426},
        {UP("GET", "Upgrade: websocket\r\n" GOOD_VER GOOD_KEY), 400},
        {UP("GET", "Upgrade: websocket\r\nConnection: keep-alive\r\n" GOOD_VER GOOD_KEY), 400},
        {UP("GET", GOOD_UPG GOOD_KEY), 426},
        {UP("GET", GOOD_UPG "Sec-WebSocket-Version: 8\r\n" GOOD_KEY), 426},
        {UP("GET", GOOD_UPG GOOD_VER GOOD_VER GOOD_KEY), 426},
        {UP("GET", GOOD_UPG GOOD_VER), 400},
        {UP("GET", GOOD_UPG GOOD_VER GOOD_KEY GOOD_KEY), 400},
        {UP("GET", GOOD_UPG GOOD_VER "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n"), 400},
        {UP("GET", GOOD_UPG GOOD_VER "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n"), 400},
        {UP("GET", GOOD_UPG GOOD_VER "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSE=\r\n"), 400},
        {UP("GET", GOOD_UPG GOOD_VER "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j*Q==\r\n"), 400},
        {UP("GET", GOOD_UPG GOOD_VER "Sec-WebSocket-Key: \r\n"), 400},
    };
    ws_request_t *r = new_req();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int prc = parse(r, cases[k].head, NULL);
        if (prc != WS_HTTP_DONE) fail_msg("case %zu does not parse: %d %s", k, prc, r->why);
        char accept[WS_HTTP_ACCEPT_LEN + 1];
        const char *why = NULL;
        int rc = ws_http_upgrade_check(r, accept, &why);
        if (rc != cases[k].status) fail_msg("case %zu: %d, want %d (%s)", k, rc, cases[k].status, why);
        if (rc) assert_non_null(why);
        else assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_int_equal(ws_http_upgrade_check(r, accept, NULL), cases[k].status);
    }
    free(r);
}

static void accept_key_matches_known_values(void **s)
{
    (void)s;
    char out[WS_HTTP_ACCEPT_LEN + 1];
    assert_int_equal(ws_http_accept("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /* python3 -c 'import base64,hashlib;print(base64.b64encode(hashlib.sha1(
     * b"x3JJHMbDL1EzLkh9GBhXDw==258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()))' */
    assert_int_equal(ws_http_accept("x3JJHMbDL1EzLkh9GBhXDw==", 24, out), 0);
    assert_string_equal(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

static void origin_allow_list(void **s)
{
    (void)s;
    ws_request_t *r = new_req();
    const char *const allow[] = {"https://app.example.com", "http://localhost:8000"};
    const char *const star[] = {"*"};
    assert_int_equal(parse(r, "GET / HTTP/1.1\r\nHost: h\r\nOrigin: HTTPS://App.Example.com\r\n\r\n", NULL), 0);
    assert_true(ws_http_origin_allowed(r, allow, 2));
    assert_true(ws_http_origin_allowed(r, NULL, 0));
    assert_int_equal(parse(r, "GET / HTTP/1.1\r\nHost: h\r\nOrigin: https://evil.example\r\n\r\n", NULL), 0);
    assert_false(ws_http_origin_allowed(r, allow, 2));
    assert_true(ws_http_origin_allowed(r, star, 1));
    assert_int_equal(parse(r, "GET / HTTP/1.1\r\nHost: h\r\nOrigin: https://app.example.com.evil\r\n\r\n", NULL), 0);
    assert_false(ws_http_origin_allowed(r, allow, 2));
    assert_int_equal(parse(r, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", NULL), 0);
    assert_true(ws_http_origin_allowed(r, allow, 2));  /* not a browser */
    free(r);
}

static void reason_phrases(void **s)
{
    (void)s;
    assert_string_equal(ws_http_reason(101), "Switching Protocols");
    assert_string_equal(ws_http_reason(426), "Upgrade Required");
    assert_string_equal(ws_http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(ws_http_reason(503), "Service Unavailable");
    assert_string_equal(ws_http_reason(799), "Error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(browser_upgrade_is_parsed_and_accepted),
        cmocka_unit_test(incremental_input_waits_for_the_end_of_head),
        cmocka_unit_test(path_and_query_are_percent_decoded),
        cmocka_unit_test(header_lookups_ignore_case_and_find_list_tokens),
        cmocka_unit_test(malformed_heads_get_their_status),
        cmocka_unit_test(bad_request_lines_are_refused_early),
        cmocka_unit_test(oversized_heads_get_431),
        cmocka_unit_test(upgrade_check_answers_each_fault),
        cmocka_unit_test(accept_key_matches_known_values),
        cmocka_unit_test(origin_allow_list),
        cmocka_unit_test(reason_phrases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
