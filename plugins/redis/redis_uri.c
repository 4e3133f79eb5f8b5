/* plugins/redis/redis_uri.c — Redis connection URIs (see redis_uri.h). */
#include "redis_uri.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "changecast/error.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes p[0..n) into a new string (*out; NULL on out of memory).
 * Returns 0 or CC_ECONFIG for a bad escape or an encoded NUL. */
static int decode(const char *p, size_t n, char **out)
{
    char *s = malloc(n + 1), *d = s;
    *out = NULL;
    if (!s)
        return CC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '%') {
            *d++ = p[i];
            continue;
        }
        if (i + 2 >= n || hexval((unsigned char)p[i + 1]) < 0 ||
            hexval((unsigned char)p[i + 2]) < 0) {
            free(s);
            return CC_ECONFIG;
        }
        int c = hexval((unsigned char)p[i + 1]) * 16 + hexval((unsigned char)p[i + 2]);
        if (c == 0) {
            free(s);
            return CC_ECONFIG;
        }
        *d++ = (char)c;
        i += 2;
    }
    *d = '\0';
    *out = s;
    return 0;
}

static char *copy(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* Reads a decimal in [lo, hi] from p[0..n). Returns 0 or -1. */
static int number(const char *p, size_t n, long lo, long hi, int *out)
{
    long v = 0;
    if (n == 0 || n > 9)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

void redis_uri_free(redis_uri_t *u)
{
    free(u->host);
    free(u->path);
    free(u->user);
    free(u->password);
    memset(u, 0, sizeof *u);
}

#define FAIL(...)                                 \
    do {                                          \
        snprintf(err, errlen, __VA_ARGS__);       \
        rc = CC_ECONFIG;                          \
        goto fail;                                \
    } while (0)

static int parse_unix(const char *rest, redis_uri_t *u, char *err, size_t errlen)
{
    int rc = 0;
    if (rest[0] != '/')
        FAIL("a unix socket URI is unix:///absolute/path[?db=N]");
    const char *q = strchr(rest, '?');
    size_t n = q ? (size_t)(q - rest) : strlen(rest);
    if (n < 2)
        FAIL("the unix socket path is empty");
    if (q) {
        if (strncmp(q, "?db=", 4) != 0 || number(q + 4, strlen(q + 4), 0, 1 << 20, &u->db) != 0)
            FAIL("after the socket path only ?db=N (a database number) may follow");
    }
    u->path = copy(rest, n);
    if (!u->path)
        rc = CC_ENOMEM;
    return rc;
fail:
    return rc;
}

int redis_uri_parse(const char *text, redis_uri_t *u, char *err, size_t errlen)
{
    int rc = 0;
    memset(u, 0, sizeof *u);
    u->port = 6379;
    if (!text || !*text)
        FAIL("expected a redis:// URI");
    for (const char *c = text; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 127)
            FAIL("a URI holds no spaces or control characters (percent-encode them)");
    if (strncasecmp(text, "rediss://", 9) == 0)
        FAIL("rediss:// (TLS) is not supported: Debian 12's hiredis 0.14 has no TLS; "
             "use redis:// on a trusted network or a TLS tunnel (stunnel, spiped)");
    if (strncasecmp(text, "unix://", 7) == 0) {
        rc = parse_unix(text + 7, u, err, errlen);
        if (rc)
            goto fail;
        return 0;
    }
    if (strncasecmp(text, "redis://", 8) != 0)
        FAIL("expected redis://[user:password@]host[:port][/db] or unix:///path");
    const char *p = text + 8;
    if (strpbrk(p, "?#"))
        FAIL("query strings and fragments are not supported");
    const char *end = p + strcspn(p, "/");
    const char *at = NULL;
    for (const char *c = p; c < end; c++)
        if (*c == '@')
            at = c;   /* the last '@': an unencoded one may sit in the password */
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        if (!colon)
            FAIL("credentials are user:password@ or :password@ (the password is required)");
        if (uend > p && (rc = decode(p, (size_t)(uend - p), &u->user)) != 0) {
            if (rc == CC_ECONFIG)
                FAIL("bad percent-escape in the user name");
            goto fail;
        }
        if ((rc = decode(colon + 1, (size_t)(at - colon - 1), &u->password)) != 0) {
            if (rc == CC_ECONFIG)
                FAIL("bad percent-escape in the password");
            goto fail;
        }
        if (!u->password[0])
            FAIL("the password is empty");
        p = at + 1;
    }
    const char *hend;
    const char *port = NULL;
    if (*p == '[') {   /* [IPv6] */
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close || close == p + 1)
            FAIL("an IPv6 host is written [address]");
        u->host = copy(p + 1, (size_t)(close - p - 1));
        hend = close + 1;
        if (hend < end && *hend != ':')
            FAIL("expected :port after ]");
    } else {
        hend = memchr(p, ':', (size_t)(end - p));
        if (!hend)
            hend = end;
        if (hend == p)
            FAIL("the host is missing");
        u->host = copy(p, (size_t)(hend - p));
    }
    if (!u->host) {
        rc = CC_ENOMEM;
        goto fail;
    }
    if (hend < end && *hend == ':') {
        port = hend + 1;
        if (number(port, (size_t)(end - port), 1, 65535, &u->port) != 0)
            FAIL("the port must be a number from 1 to 65535");
    }
    if (*end == '/' && end[1] != '\0') {
        if (number(end + 1, strlen(end + 1), 0, 1 << 20, &u->db) != 0)
            FAIL("the path must be a database number (\"/0\")");
    }
    return 0;
fail:
    redis_uri_free(u);
    return rc;
}

void redis_uri_where(const redis_uri_t *u, char *out, size_t cap)
{
    if (u->path)
        snprintf(out, cap, "unix:%s", u->path);
    else if (u->host && strchr(u->host, ':'))
        snprintf(out, cap, "[%s]:%d", u->host, u->port);
    else
        snprintf(out, cap, "%s:%d", u->host ? u->host : "?", u->port);
}
