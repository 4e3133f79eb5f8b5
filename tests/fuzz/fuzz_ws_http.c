/* tests/fuzz/fuzz_ws_http.c — libFuzzer target for the websocket sink's
 * HTTP request-head parser, upgrade check and token handling.
 *
 * The input is what a client sends before its first frame. It is parsed in
 * one read and again dribbled in reads of pseudo-random sizes (seeded by
 * its last byte): both must reach the same verdict at the same offset. A
 * parsed request then goes through every lookup the server makes, the
 * upgrade check, the Origin allow-list, token extraction and the HS256 JWT
 * check (so libjwt and jansson see hostile tokens too). Any crash, leak or
 * sanitizer report is a bug; refusals are fine.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugins/websocket/ws_auth.h"
#include "plugins/websocket/ws_http.h"

static ws_auth_t *auth;

static int parse_dribbled(const char *in, size_t n, ws_request_t *req, size_t *consumed, unsigned seed)
{
    ws_http_request_init(req);
    uint32_t rng = seed;
    size_t have = 0;
    for (;;) {
        rng = rng * 1103515245u + 12345u;
        have += 1 + (rng >> 16) % 300;
        if (have > n) have = n;
        int rc = ws_http_parse(in, have, req, consumed);
        if (rc != WS_HTTP_MORE || have == n) return rc;
        if (*consumed != 0) abort();
    }
}

static void use_request(const ws_request_t *req)
{
    static const char *const names[] = {"Host", "Upgrade", "Connection", "Origin", "Sec-WebSocket-Key",
                                        "Sec-WebSocket-Version", "Last-Event-ID", "Accept"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const char *v = ws_http_header(req, names[k]);
        if (v) (void)strlen(v);
        (void)ws_http_header_count(req, names[k]);
    }
    (void)ws_http_header_has_token(req, "Connection", "upgrade");
    (void)ws_http_header_has_token(req, "Accept", "text/event-stream");
    const char *q = ws_http_query(req, "last_event_id");
    if (q) (void)strlen(q);
    if (strlen(req->path) == 0 || req->path[0] != '/') abort();
    for (size_t k = 0; k < req->nparams; k++) (void)strlen(req->params[k].name);
    char accept[WS_HTTP_ACCEPT_LEN + 1];
    const char *why = NULL;
    int rc = ws_http_upgrade_check(req, accept, &why);
    if (rc == 0 && strlen(accept) != WS_HTTP_ACCEPT_LEN) abort();
    if (rc != 0 && rc != 400 && rc != 405 && rc != 426) abort();
    if (rc != 0 && !why) abort();
    const char *const allow[] = {"https://app.example.com", "http://localhost:8000"};
    (void)ws_http_origin_allowed(req, allow, 2);
    size_t len;
    const char *echo;
    const char *tok = ws_auth_token(req, "token", &len, &echo);
    if (echo && echo != tok) abort();
    char reason[128];
    int st = ws_auth_check(auth, tok, len, q ? q : "user_123", (time_t)1745257727, reason, sizeof reason);
    if (st != 0 && st != 401 && st != 403) abort();
    st = ws_auth_check(auth, tok, len, NULL, (time_t)1745257727, NULL, 0);
    if (st != 0 && st != 401) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ws_request_t a, b;
    if (!auth) auth = ws_auth_new("fuzz-secret", "sub"); /* lives for the process */
    if (!auth) abort();
    const char *in = (const char *)data;
    size_t ca = 0, cb = 0;
    ws_http_request_init(&a);
    int ra = ws_http_parse(in, size, &a, &ca);
    int rb = parse_dribbled(in, size, &b, &cb, size ? data[size - 1] : 0);
    if (ra != rb || ca != cb) abort();
    switch (ra) {
    case WS_HTTP_DONE:
        if (ca == 0 || ca > size || ca > WS_HTTP_MAX_HEAD) abort();
        use_request(&a);
        break;
    case WS_HTTP_MORE:
        if (ca != 0 || size >= WS_HTTP_MAX_HEAD) abort();
        break;
    case 400: case 414: case 431: case 505:
        if (ca != 0 || !a.why) abort();
        break;
    default:
        abort();
    }
    return 0;
}
