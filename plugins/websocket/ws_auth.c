/* ws_auth.c — token extraction and HS256 JWT checks.
 *
 * libjwt verifies the signature. Before it runs, the token's shape and its
 * header's "alg" are checked here, so that each refusal names its reason
 * (a log line that says "alg none refused" beats "invalid token") and so
 * that the algorithm is pinned by us, not by whatever the token claims.
 * After it, exp/nbf and the recipient claim are read from the verified
 * claims with jansson (libjwt 1.x has no typed access to numbers that are
 * not integers).
 */
#include "ws_auth.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>

struct ws_auth {
    unsigned char *key; /* the secret's bytes, owned */
    int key_len;
    char *claim;        /* owned */
};

ws_auth_t *ws_auth_new(const char *secret, const char *recipient_claim)
{
    size_t n = strlen(secret);
    if (n == 0 || n > INT32_MAX) return NULL;
    ws_auth_t *a = calloc(1, sizeof *a); /* owned by the caller: ws_auth_free */
    if (!a) return NULL;
    a->key = malloc(n);
    a->claim = strdup(recipient_claim);
    if (!a->key || !a->claim) {
        ws_auth_free(a);
        return NULL;
    }
    memcpy(a->key, secret, n);
    a->key_len = (int)n;
    return a;
}

void ws_auth_free(ws_auth_t *a)
{
    if (!a) return;
    free(a->key);
    free(a->claim);
    free(a);
}

static int b64url_val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

/* Decodes unpadded base64url s[0..n) into out (room for n bytes). Returns
 * the decoded length, or -1 for a length that no encoding produces. */
static long b64url_decode(const char *s, size_t n, unsigned char *out)
{
    if (n % 4 == 1) return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t k = 0; k < n; k++) {
        acc = (acc << 6) | (uint32_t)b64url_val(s[k]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

static int auth_fail(int status, char *why, size_t whylen, const char *fmt, const char *arg)
{
    if (why && whylen) snprintf(why, whylen, fmt, arg ? arg : "");
    return status;
}

/* The header's "alg" must be HS256: refuse anything else ourselves, with
 * the algorithm named, before libjwt picks a verifier from it. */
static int check_header(const char *tok, size_t hlen, char *why, size_t whylen)
{
    unsigned char *raw = malloc(hlen + 1); /* freed below */
    if (!raw) return auth_fail(401, why, whylen, "out of memory%s", NULL);
    long n = b64url_decode(tok, hlen, raw);
    json_t *h = n > 0 ? json_loadb((const char *)raw, (size_t)n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(raw);
    int rc = 0;
    const char *alg = json_string_value(json_object_get(h, "alg"));
    if (!json_is_object(h)) rc = auth_fail(401, why, whylen, "token header is not a JSON object%s", NULL);
    else if (!alg) rc = auth_fail(401, why, whylen, "token header has no alg%s", NULL);
    else if (strcmp(alg, "HS256") != 0) {
        /* the name goes to logs and the response body: printable only */
        char shown[33];
        size_t k = 0;
        for (; alg[k] && k < sizeof shown - 1; k++)
            shown[k] = alg[k] >= 0x20 && alg[k] < 0x7F ? alg[k] : '?';
        shown[k] = '\0';
        rc = auth_fail(401, why, whylen, "token algorithm \"%s\" refused: only HS256 is accepted", shown);
    }
    json_decref(h);
    return rc;
}

/* exp / nbf: absent is fine, present must be a number. */
static int check_time(json_t *claims, const char *name, time_t now, char *why, size_t whylen)
{
    json_t *v = json_object_get(claims, name);
    if (!v) return 0;
    if (!json_is_number(v)) return auth_fail(401, why, whylen, "token %s is not a number", name);
    double t = json_number_value(v), tnow = (double)now;
    if (name[0] == 'e' && tnow >= t) return auth_fail(401, why, whylen, "token expired%s", NULL);
    if (name[0] == 'n' && tnow < t) return auth_fail(401, why, whylen, "token not valid yet (nbf)%s", NULL);
    return 0;
}

static int check_claims(const ws_auth_t *a, jwt_t *jwt, const char *recipient, time_t now,
                        char *why, size_t whylen)
{
    char *text = jwt_get_grants_json(jwt, NULL); /* new: freed below */
    json_t *claims = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!json_is_object(claims)) {
        json_decref(claims);
        return auth_fail(401, why, whylen, "token claims are not a JSON object%s", NULL);
    }
    int rc = check_time(claims, "exp", now, why, whylen);
    if (rc == 0) rc = check_time(claims, "nbf", now, why, whylen);
    if (rc == 0 && recipient) {
        json_t *c = json_object_get(claims, a->claim);
        char num[32];
        const char *have = json_string_value(c);
        if (json_is_integer(c)) {
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(c));
            have = num;
        }
        if (!c) rc = auth_fail(403, why, whylen, "token has no \"%.64s\" claim", a->claim);
        else if (!have) rc = auth_fail(403, why, whylen, "token claim \"%.64s\" is not a string or integer", a->claim);
        else if (strcmp(have, recipient) != 0)
            rc = auth_fail(403, why, whylen, "token is for another recipient than the path's%s", NULL);
    }
    json_decref(claims);
    return rc;
}

int ws_auth_check(const ws_auth_t *a, const char *token, size_t len, const char *recipient,
                  time_t now, char *why, size_t whylen)
{
    if (why && whylen) why[0] = '\0';
    if (!token || len == 0) return auth_fail(401, why, whylen, "no token%s", NULL);
    if (len > WS_AUTH_MAX_TOKEN) return auth_fail(401, why, whylen, "token longer than 4096 bytes%s", NULL);
    size_t dots[2], ndots = 0;
    for (size_t k = 0; k < len; k++) {
        if (token[k] == '.') {
            if (ndots == 2) return auth_fail(401, why, whylen, "token is not three base64url parts%s", NULL);
            dots[ndots++] = k;
        } else if (b64url_val(token[k]) < 0) {
            return auth_fail(401, why, whylen, "token is not three base64url parts%s", NULL);
        }
    }
    if (ndots != 2 || dots[0] == 0 || dots[1] == dots[0] + 1)
        return auth_fail(401, why, whylen, "token is not three base64url parts%s", NULL);
    int rc = check_header(token, dots[0], why, whylen);
    if (rc) return rc;
    if (dots[1] == len - 1) return auth_fail(401, why, whylen, "token is not signed%s", NULL);

    char *copy = malloc(len + 1); /* libjwt wants a C string; freed below */
    if (!copy) return auth_fail(401, why, whylen, "out of memory%s", NULL);
    memcpy(copy, token, len);
    copy[len] = '\0';
    jwt_t *jwt = NULL;
    int err = jwt_decode(&jwt, copy, a->key, a->key_len);
    free(copy);
    if (err || !jwt) {
        jwt_free(jwt);
        return auth_fail(401, why, whylen, "%s",
                         err == ENOMEM ? "out of memory" : "bad token signature or payload");
    }
    if (jwt_get_alg(jwt) != JWT_ALG_HS256) rc = auth_fail(401, why, whylen, "token algorithm is not HS256%s", NULL);
    else rc = check_claims(a, jwt, recipient, now, why, whylen);
    jwt_free(jwt);
    return rc;
}

/* True when s[0..n) looks like a JWT: two dots, base64url otherwise. */
static bool jwt_shaped(const char *s, size_t n)
{
    size_t dots = 0;
    for (size_t k = 0; k < n; k++) {
        if (s[k] == '.') dots++;
        else if (b64url_val(s[k]) < 0) return false;
    }
    return dots == 2;
}

/* ASCII case-insensitive: a is any text, lower is lowercase; compares n
 * bytes, or up to the NUL of lower when n is 0 (then a must end there too). */
static bool lower_eq(const char *a, const char *lower, size_t n)
{
    size_t k = 0;
    for (; n ? k < n : lower[k] != '\0'; k++) {
        char c = a[k];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != lower[k] || c == '\0') return false;
    }
    return n ? true : a[k] == '\0';
}

const char *ws_auth_token(const ws_request_t *req, const char *token_param, size_t *len,
                          const char **subprotocol_echo)
{
    if (subprotocol_echo) *subprotocol_echo = NULL;
    *len = 0;
    const char *q = token_param ? ws_http_query(req, token_param) : NULL;
    if (q && *q) {
        *len = strlen(q);
        return q;
    }
    for (size_t k = 0; k < req->nheaders; k++) {
        const char *v = req->headers[k].value;
        if (!lower_eq(req->headers[k].name, "authorization", 0)) continue;
        if (!lower_eq(v, "bearer", 6) || (v[6] != ' ' && v[6] != '\t')) continue;
        const char *t = v + 7;
        while (*t == ' ' || *t == '\t') t++;
        if (*t) {
            *len = strlen(t);
            return t;
        }
    }
    for (size_t k = 0; k < req->nheaders; k++) {
        if (!lower_eq(req->headers[k].name, "sec-websocket-protocol", 0)) continue;
        const char *s = req->headers[k].value;
        while (*s) {
            while (*s == ' ' || *s == '\t') s++;
            size_t n = strcspn(s, ",");
            size_t m = n;
            while (m > 0 && (s[m - 1] == ' ' || s[m - 1] == '\t')) m--;
            if (jwt_shaped(s, m)) {
                *len = m;
                if (subprotocol_echo) *subprotocol_echo = s;
                return s;
            }
            s += n;
            if (*s == ',') s++;
        }
    }
    return NULL;
}
