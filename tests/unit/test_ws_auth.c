/* tests/unit/test_ws_auth.c — the websocket sink's JWT check and token
 * extraction: the SPEC's table (valid; wrong recipient 403; expired, not yet
 * valid, bad signature, alg none, other algorithms, malformed, missing 401),
 * claim types, and the three places a token may come from. Tokens are built
 * here with OpenSSL's HMAC so that every byte of them is under the test's
 * control (libjwt would refuse to produce most of the bad ones). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "plugins/websocket/ws_auth.h"

#define SECRET "s3cret-for-tests"
#define NOW ((time_t)1745257727)

static void b64url(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t k = 0; k < n; k += 3) {
        uint32_t v = (uint32_t)in[k] << 16;
        if (k + 1 < n) v |= (uint32_t)in[k + 1] << 8;
        if (k + 2 < n) v |= in[k + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        if (k + 1 < n) out[o++] = tab[v >> 6 & 63];
        if (k + 2 < n) out[o++] = tab[v & 63];
    }
    out[o] = '\0';
}

/* header.payload.signature, signed with key by md (NULL: the empty
 * signature of alg none). Static buffer. */
static const char *make_token(const char *header, const char *payload, const EVP_MD *md, const char *key)
{
    static char tok[4096];
    char part[2048];
    b64url((const uint8_t *)header, strlen(header), tok);
    strcat(tok, ".");
    b64url((const uint8_t *)payload, strlen(payload), part);
    strcat(tok, part);
    strcat(tok, ".");
    if (md) {
        uint8_t mac[EVP_MAX_MD_SIZE];
        unsigned int maclen = 0;
        size_t signed_len = strlen(tok) - 1;
        assert_non_null(HMAC(md, key, (int)strlen(key), (const uint8_t *)tok, signed_len, mac, &maclen));
        b64url(mac, maclen, part);
        strcat(tok, part);
    }
    return tok;
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static int check(const ws_auth_t *a, const char *tok, const char *recipient, char *why)
{
    return ws_auth_check(a, tok, tok ? strlen(tok) : 0, recipient, NOW, why, 160);
}

typedef struct jwt_case {
    const char *name;
    const char *header;
    const char *payload;
    const EVP_MD *(*md)(void);
    const char *key;
    const char *recipient;
    int status;
} jwt_case_t;

static void the_token_table(void **s)
{
    (void)s;
    const jwt_case_t cases[] = {
        {"valid", HS256, "{\"sub\":\"user_123\",\"exp\":1745257787}", EVP_sha256, SECRET, "user_123", 0},
        {"valid, no typ, no exp", "{\"alg\":\"HS256\"}", "{\"sub\":\"user_123\"}", EVP_sha256, SECRET, "user_123", 0},
        {"valid, integer claim", HS256, "{\"sub\":42}", EVP_sha256, SECRET, "42", 0},
        {"valid, nbf now, fractional exp", HS256, "{\"sub\":\"u\",\"nbf\":1745257727,\"exp\":1745257727.5}",
         EVP_sha256, SECRET, "u", 0},
        {"valid, broadcast path", HS256, "{\"sub\":\"anyone\"}", EVP_sha256, SECRET, NULL, 0},
        {"valid, broadcast path, no claim", HS256, "{}", EVP_sha256, SECRET, NULL, 0},
        {"wrong recipient", HS256, "{\"sub\":\"user_999\"}", EVP_sha256, SECRET, "user_123", 403},
        {"claim missing", HS256, "{\"uid\":\"user_123\"}", EVP_sha256, SECRET, "user_123", 403},
        {"claim an object", HS256, "{\"sub\":{\"id\":\"user_123\"}}", EVP_sha256, SECRET, "user_123", 403},
        {"claim a float", HS256, "{\"sub\":42.0}", EVP_sha256, SECRET, "42", 403},
        {"expired", HS256, "{\"sub\":\"u\",\"exp\":1745257700}", EVP_sha256, SECRET, "u", 401},
        {"expires right now", HS256, "{\"sub\":\"u\",\"exp\":1745257727}", EVP_sha256, SECRET, "u", 401},
        {"expired, broadcast path", HS256, "{\"exp\":1}", EVP_sha256, SECRET, NULL, 401},
        {"not yet valid", HS256, "{\"sub\":\"u\",\"nbf\":1745257728}", EVP_sha256, SECRET, "u", 401},
        {"exp not a number", HS256, "{\"sub\":\"u\",\"exp\":\"tomorrow\"}", EVP_sha256, SECRET, "u", 401},
        {"nbf not a number", HS256, "{\"sub\":\"u\",\"nbf\":null}", EVP_sha256, SECRET, "u", 401},
        {"bad signature", HS256, "{\"sub\":\"u\"}", EVP_sha256, "another-secret", "u", 401},
        {"alg none", "{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"sub\":\"u\"}", NULL, NULL, "u", 401},
        {"alg none, signed anyway", "{\"alg\":\"none\"}", "{\"sub\":\"u\"}", EVP_sha256, SECRET, "u", 401},
        {"alg NONE", "{\"alg\":\"NONE\"}", "{\"sub\":\"u\"}", EVP_sha256, SECRET, "u", 401},
        {"HS512 with the right key", "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", "{\"sub\":\"u\"}", EVP_sha512, SECRET, "u", 401},
        {"HS384 with the right key", "{\"alg\":\"HS384\"}", "{\"sub\":\"u\"}", EVP_sha384, SECRET, "u", 401},
        {"RS256 header", "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "{\"sub\":\"u\"}", EVP_sha256, SECRET, "u", 401},
        {"lowercase hs256", "{\"alg\":\"hs256\"}", "{\"sub\":\"u\"}", EVP_sha256, SECRET, "u", 401},
        {"no alg", "{\"typ\":\"JWT\"}", "{\"sub\":\"u\"}", EVP_sha256, SECRET, "u", 401},
        {"header not JSON", "{alg:HS256}", "{\"sub\":\"u\"}", EVP_sha256, SECRET, "u", 401},
        {"header an array", "[\"HS256\"]", "{\"sub\":\"u\"}", EVP_sha256, SECRET, "u", 401},
        {"payload not JSON", HS256, "sub=u", EVP_sha256, SECRET, "u", 401},
        {"payload an array", HS256, "[1,2]", EVP_sha256, SECRET, "u", 401},
        {"typ not JWT", "{\"alg\":\"HS256\",\"typ\":\"JOSE+X\"}", "{\"sub\":\"u\"}", EVP_sha256, SECRET, "u", 401},
    };
    ws_auth_t *a = ws_auth_new(SECRET, "sub");
    assert_non_null(a);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const jwt_case_t *c = &cases[k];
        const char *tok = make_token(c->header, c->payload, c->md ? c->md() : NULL, c->key);
        char why[160];
        int rc = check(a, tok, c->recipient, why);
        if (rc != c->status) fail_msg("%s: %d, want %d (%s)", c->name, rc, c->status, why);
        if (rc) assert_true(why[0] != '\0');
    }
    ws_auth_free(a);
}

/* The refusal names the algorithm, but only in printable characters: the
 * reason goes to logs and to the response body. */
static void refused_algorithm_is_named_safely(void **s)
{
    (void)s;
    ws_auth_t *a = ws_auth_new(SECRET, "sub");
    assert_non_null(a);
    char why[160];
    assert_int_equal(check(a, make_token("{\"alg\":\"none\"}", "{}", NULL, NULL), "u", why), 401);
    assert_string_equal(why, "token algorithm \"none\" refused: only HS256 is accepted");
    assert_int_equal(check(a, make_token("{\"alg\":\"x\\r\\nlevel=error\"}", "{}", EVP_sha256(), SECRET),
                           "u", why), 401);
    assert_null(strchr(why, '\r'));
    assert_null(strchr(why, '\n'));
    assert_non_null(strstr(why, "x??level=error"));
    ws_auth_free(a);
}

static void malformed_and_missing_tokens_are_401(void **s)
{
    (void)s;
    ws_auth_t *a = ws_auth_new(SECRET, "sub");
    assert_non_null(a);
    char good[4096];
    strcpy(good, make_token(HS256, "{\"sub\":\"u\"}", EVP_sha256(), SECRET));
    char why[160];
    assert_int_equal(check(a, good, "u", why), 0);
    static const char *const bad[] = {
        "", "abc", "a.b", "a.b.c.d", "..", "a..c", ".b.c", "a.b.", "a$b.c.d",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0=.c2ln",      /* padding */
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln c2ln",  /* space */
        "e.eyJzdWIiOiJ1In0.c2ln",                          /* impossible base64 length */
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int rc = check(a, bad[k], "u", why);
        if (rc != 401) fail_msg("\"%s\": %d (%s)", bad[k], rc, why);
    }
    assert_int_equal(check(a, NULL, "u", why), 401);
    assert_string_equal(why, "no token");
    assert_int_equal(ws_auth_check(a, NULL, 0, NULL, NOW, NULL, 0), 401);
    /* tampering with any part breaks the signature */
    char *dot = strchr(good, '.');
    dot[1] = dot[1] == 'e' ? 'f' : 'e';
    assert_int_equal(check(a, good, "u", why), 401);
    /* too long */
    char *huge = malloc(WS_AUTH_MAX_TOKEN + 10);
    assert_non_null(huge);
    memset(huge, 'a', WS_AUTH_MAX_TOKEN + 9);
    huge[5] = '.';
    huge[10] = '.';
    huge[WS_AUTH_MAX_TOKEN + 9] = '\0';
    assert_int_equal(check(a, huge, "u", why), 401);
    free(huge);
    ws_auth_free(a);
}

/* The token need not be NUL-terminated: only len bytes are read. */
static void token_is_read_by_length(void **s)
{
    (void)s;
    ws_auth_t *a = ws_auth_new(SECRET, "uid");
    assert_non_null(a);
    char buf[4096];
    strcpy(buf, make_token(HS256, "{\"uid\":\"user_7\"}", EVP_sha256(), SECRET));
    size_t n = strlen(buf);
    strcat(buf, ", other-protocol");
    assert_int_equal(ws_auth_check(a, buf, n, "user_7", NOW, NULL, 0), 0);
    assert_int_equal(ws_auth_check(a, buf, n, "user_8", NOW, NULL, 0), 403);
    ws_auth_free(a);
    assert_null(ws_auth_new("", "sub"));
}

static ws_request_t *req_of(const char *head)
{
    ws_request_t *r = malloc(sizeof *r);
    assert_non_null(r);
    ws_http_request_init(r);
    size_t used;
    assert_int_equal(ws_http_parse(head, strlen(head), r, &used), WS_HTTP_DONE);
    return r;
}

static void token_comes_from_query_then_bearer_then_subprotocol(void **s)
{
    (void)s;
    size_t len;
    const char *echo = "unset";
    ws_request_t *r = req_of("GET /ws/u?token=q.q.q HTTP/1.1\r\nHost: h\r\n"
                             "Authorization: Bearer b.b.b\r\nSec-WebSocket-Protocol: p.p.p\r\n\r\n");
    const char *t = ws_auth_token(r, "token", &len, &echo);
    assert_non_null(t);
    assert_int_equal(len, 5);
    assert_memory_equal(t, "q.q.q", 5);
    assert_null(echo);
    t = ws_auth_token(r, "access_token", &len, &echo);   /* another param name */
    assert_memory_equal(t, "b.b.b", len);
    assert_null(echo);
    free(r);

    r = req_of("GET /ws/u?token= HTTP/1.1\r\nHost: h\r\nauthorization: bearer   b.b.b\r\n\r\n");
    t = ws_auth_token(r, "token", &len, &echo);          /* empty ?token= is no token */
    assert_int_equal(len, 5);
    assert_memory_equal(t, "b.b.b", 5);
    free(r);

    r = req_of("GET /ws/u HTTP/1.1\r\nHost: h\r\nAuthorization: Basic dXNlcjpwdw==\r\n"
               "Sec-WebSocket-Protocol: bearer, eyJ.eyJ.sig , chat\r\n\r\n");
    t = ws_auth_token(r, "token", &len, &echo);
    assert_non_null(t);
    assert_int_equal(len, 11);
    assert_memory_equal(t, "eyJ.eyJ.sig", 11);
    assert_ptr_equal(echo, t);
    free(r);

    r = req_of("GET /ws/u HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
               "Authorization: Bearer\r\n\r\n");
    echo = "unset";
    assert_null(ws_auth_token(r, "token", &len, &echo));
    assert_int_equal(len, 0);
    assert_null(echo);
    assert_null(ws_auth_token(r, NULL, &len, NULL));
    free(r);
}

/* End to end: a browser passing its token as the subprotocol. */
static void subprotocol_token_verifies(void **s)
{
    (void)s;
    char head[6000];
    snprintf(head, sizeof head, "GET /ws/user_1 HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
             make_token(HS256, "{\"sub\":\"user_1\",\"exp\":1745257787}", EVP_sha256(), SECRET));
    ws_request_t *r = req_of(head);
    ws_auth_t *a = ws_auth_new(SECRET, "sub");
    size_t len;
    const char *echo;
    const char *t = ws_auth_token(r, "token", &len, &echo);
    assert_non_null(echo);
    assert_int_equal(ws_auth_check(a, t, len, "user_1", NOW, NULL, 0), 0);
    assert_int_equal(ws_auth_check(a, t, len, "user_1", NOW + 60, NULL, 0), 401);
    ws_auth_free(a);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_token_table),
        cmocka_unit_test(refused_algorithm_is_named_safely),
        cmocka_unit_test(malformed_and_missing_tokens_are_401),
        cmocka_unit_test(token_is_read_by_length),
        cmocka_unit_test(token_comes_from_query_then_bearer_then_subprotocol),
        cmocka_unit_test(subprotocol_token_verifies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
