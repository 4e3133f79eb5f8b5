/* plugins/redis/redis_util.c — channel names and backoff (see redis_util.h). */
#include "redis_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t redis_channel(char **buf, size_t *cap, const char *prefix, size_t prefix_len,
                     const char *recipient)
{
    const char *tail = recipient ? recipient : "broadcast";
    size_t tn = strlen(tail), n = prefix_len + tn;
    if (n + 1 > *cap) {
        size_t c = (n + 1) * 2;
        char *b = realloc(*buf, c);
        if (!b)
            return 0;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf, prefix, prefix_len);
    memcpy(*buf + prefix_len, tail, tn + 1);
    return n;
}

static int parse_u64(const char *s, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    if (s == end || end - s > 20)
        return -1;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int redis_sid_parse(const char *s, redis_sid_t *out)
{
    if (!s)
        return -1;
    const char *dash = strchr(s, '-');
    if (!dash)
        return -1;
    return parse_u64(s, dash, &out->ms) == 0 &&
                   parse_u64(dash + 1, dash + 1 + strlen(dash + 1), &out->seq) == 0
               ? 0
               : -1;
}

int redis_sid_cmp(redis_sid_t a, redis_sid_t b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq)
        return a.seq < b.seq ? -1 : 1;
    return 0;
}

void redis_sid_format(redis_sid_t id, char out[48])
{
    snprintf(out, 48, "%llu-%llu", (unsigned long long)id.ms, (unsigned long long)id.seq);
}

/* Appends "<c><n>\r\n" at p; returns the end. */
static char *put_header(char *p, char c, size_t n)
{
    char digits[24];
    int k = 0;
    *p++ = c;
    do {
        digits[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    while (k)
        *p++ = digits[--k];
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

size_t redis_format(char **buf, size_t *cap, int argc, const char *const *argv,
                    const size_t *lens)
{
    size_t need = 24 + 2;
    for (int i = 0; i < argc; i++)
        need += 24 + 2 + lens[i] + 2;
    if (need > *cap) {
        size_t c = need * 2;
        char *b = realloc(*buf, c);
        if (!b)
            return 0;
        *buf = b;
        *cap = c;
    }
    char *p = put_header(*buf, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        p = put_header(p, '$', lens[i]);
        memcpy(p, argv[i], lens[i]);
        p += lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    return (size_t)(p - *buf);
}
