/* http_format.c — what the http sink writes and decides, without I/O:
 * request bodies, dead-letter lines, reasons, the verdict on a response,
 * retry delays and Retry-After. Unit tests call these directly.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "changecast/error.h"
#include "http.h"

#define HTTP_RETRY_AFTER_MAX_MS (24 * 3600 * 1000LL)

int http_buf_append(http_buf_t *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL)
            return CC_ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';   /* always a C string too, for curl and logs */
    return 0;
}

static int buf_str(http_buf_t *b, const char *s)
{
    return http_buf_append(b, s, strlen(s));
}

void http_buf_free(http_buf_t *b)
{
    free(b->data);
    *b = (http_buf_t){0};
}

int http_json_string(http_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (http_buf_append(b, "\"", 1) != 0)
        return CC_ENOMEM;
    size_t run = 0;   /* bytes copied as they are, in one append */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (http_buf_append(b, s + run, i - run) != 0)
            return CC_ENOMEM;
        char esc[7] = {'\\', (char)c, 0};
        size_t el = 2;
        switch (c) {
        case '"': case '\\': break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        if (http_buf_append(b, esc, el) != 0)
            return CC_ENOMEM;
        run = i + 1;
    }
    if (http_buf_append(b, s + run, n - run) != 0 || http_buf_append(b, "\"", 1) != 0)
        return CC_ENOMEM;
    return 0;
}

int http_body(http_buf_t *b, const char *recipient, const char *event_json, size_t event_len)
{
    b->len = 0;
    if (recipient != NULL) {
        if (buf_str(b, "{\"recipient\":") != 0 ||
            http_json_string(b, recipient, strlen(recipient)) != 0 ||
            buf_str(b, ",\"event\":") != 0)
            return CC_ENOMEM;
    } else if (buf_str(b, "{\"event\":") != 0) {
        return CC_ENOMEM;
    }
    if (http_buf_append(b, event_json, event_len) != 0 || buf_str(b, "}") != 0)
        return CC_ENOMEM;
    return 0;
}

int http_dead_letter_line(http_buf_t *b, const char *event_json, size_t event_len,
                          const char *recipient, long status, const char *reason,
                          unsigned attempts)
{
    char num[64];
    b->len = 0;
    if (buf_str(b, "{\"event\":") != 0 || http_buf_append(b, event_json, event_len) != 0 ||
        buf_str(b, ",\"recipient\":") != 0)
        return CC_ENOMEM;
    if ((recipient ? http_json_string(b, recipient, strlen(recipient)) : buf_str(b, "null")) != 0)
        return CC_ENOMEM;
    if (status >= 0)
        snprintf(num, sizeof num, ",\"status\":%ld,\"reason\":", status);
    else
        snprintf(num, sizeof num, ",\"status\":null,\"reason\":");
    if (buf_str(b, num) != 0 || http_json_string(b, reason, strlen(reason)) != 0)
        return CC_ENOMEM;
    snprintf(num, sizeof num, ",\"attempts\":%u}\n", attempts);
    return buf_str(b, num);
}

http_verdict_t http_verdict(bool transport_error, long status)
{
    if (transport_error)
        return HTTP_VERDICT_RETRY;
    if (status >= 200 && status <= 299)
        return HTTP_VERDICT_OK;
    /* 408 is the server's own "request timeout": as retryable as ours. */
    if (status >= 500 || status == 429 || status == 408)
        return HTTP_VERDICT_RETRY;
    return HTTP_VERDICT_DEAD;
}

int64_t http_retry_after_ms(const char *value, time_t now)
{
    if (value == NULL)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (*value == '\0')
        return -1;
    int64_t ms;
    if (isdigit((unsigned char)*value)) {
        char *end;
        unsigned long long s = strtoull(value, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (*end != '\0')
            return -1;
        ms = s > HTTP_RETRY_AFTER_MAX_MS / 1000 ? HTTP_RETRY_AFTER_MAX_MS : (int64_t)s * 1000;
    } else {
        time_t t = curl_getdate(value, NULL);   /* RFC 1123 and the older forms */
        if (t < 0)
            return -1;
        ms = t <= now ? 0 : ((int64_t)t - (int64_t)now) * 1000;
    }
    return ms > HTTP_RETRY_AFTER_MAX_MS ? HTTP_RETRY_AFTER_MAX_MS : ms;
}

char *http_header_id(const char *id)
{
    size_t bad = 0, n = 0;
    for (; id[n]; n++)
        bad += (unsigned char)id[n] < 0x20 || id[n] == 0x7f;
    if (bad == 0)
        return (char *)(uintptr_t)id;
    char *out = malloc(n + 2 * bad + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (const char *p = id; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f)
            o += sprintf(o, "%%%02X", c);
        else
            *o++ = (char)c;
    }
    *o = '\0';
    return out;
}

const char *http_status_text(long status)
{
    switch (status) {
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
    }
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

void http_text_clean(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)in;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len(s + i, n - i);
        if (l == 0) {   /* not UTF-8 (or cut by the excerpt): a '?' */
            if (o + 1 >= cap)
                break;
            out[o++] = '?';
            i++;
            continue;
        }
        if (o + l >= cap)
            break;
        if (l == 1 && (s[i] < 0x20 || s[i] == 0x7f)) {
            out[o++] = ' ';
        } else {
            memcpy(out + o, s + i, l);
            o += l;
        }
        i += l;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    size_t lead = 0;
    while (lead < o && out[lead] == ' ')
        lead++;
    memmove(out, out + lead, o - lead);
    out[o - lead] = '\0';
}

void http_reason_http(char *out, size_t cap, long status, const char *phrase, const char *body,
                      size_t body_len)
{
    char excerpt[HTTP_BODY_EXCERPT * 3 + 1];   /* room for '?' per bad byte */
    if (phrase == NULL || *phrase == '\0')
        phrase = http_status_text(status);
    if (body_len > HTTP_BODY_EXCERPT)
        body_len = HTTP_BODY_EXCERPT;
    http_text_clean(body ? body : "", body ? body_len : 0, excerpt, sizeof excerpt);
    snprintf(out, cap, "HTTP %ld%s%s%s%s", status, *phrase ? " " : "", phrase,
             *excerpt ? ": " : "", excerpt);
}
