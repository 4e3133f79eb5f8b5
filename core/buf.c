/* core/buf.c — a growable byte buffer for rendering text. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "changecast/error.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define CC__BUF_MIN 256

int cc_buf_reserve(cc_buf_t *b, size_t extra)
{
    if (b->oom)
        return CC_ENOMEM;
    /* +1 keeps room for the terminating NUL. */
    if (extra > SIZE_MAX - b->len - 1)
        goto fail;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : CC__BUF_MIN;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p)
        goto fail;
    b->data = p;
    b->cap = cap;
    return 0;
fail:
    /* Sticky: with cap pulled down to len, the fast paths of the append
     * functions come back here, and oom refuses them. The allocation
     * itself is unchanged (still at least len + 1 bytes). */
    b->oom = 1;
    if (b->data)
        b->cap = b->len + 1;
    return CC_ENOMEM;
}

void cc_buf_printf(cc_buf_t *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    char small[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        cc_buf_append(b, small, (size_t)n);
        return;
    }
    if (cc_buf_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* "00" .. "99": two digits per division (three integers per envelope). */
static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

void cc_buf_put_uint(cc_buf_t *b, uint64_t v)
{
    /* The digit count first, then the digits straight into the buffer,
     * from the right, two per division (32-bit ones once they fit). */
    static const uint64_t pow10[20] = {
        UINT64_C(1), UINT64_C(10), UINT64_C(100), UINT64_C(1000), UINT64_C(10000),
        UINT64_C(100000), UINT64_C(1000000), UINT64_C(10000000), UINT64_C(100000000),
        UINT64_C(1000000000), UINT64_C(10000000000), UINT64_C(100000000000),
        UINT64_C(1000000000000), UINT64_C(10000000000000), UINT64_C(100000000000000),
        UINT64_C(1000000000000000), UINT64_C(10000000000000000),
        UINT64_C(100000000000000000), UINT64_C(1000000000000000000),
        UINT64_C(10000000000000000000)};
    /* log10 from log2 (1233 / 4096 ~ log10(2)): off by at most one below. */
    unsigned bits = 64u - (unsigned)CC_CLZ64(v | 1);
    unsigned t = (bits * 1233u) >> 12;
    size_t n = t + (v >= pow10[t]);
    if (n == 0)
        n = 1;   /* v == 0 */
    if (b->cap - b->len <= n && cc_buf_reserve(b, n) != 0)
        return;
    char *end = b->data + b->len + n;
    char *o = end;
    while (v > UINT32_MAX) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        o -= 2;
        memcpy(o, digit_pairs + 2 * r, 2);
    }
    uint32_t w = (uint32_t)v;
    while (w >= 100) {
        unsigned r = w % 100;
        w /= 100;
        o -= 2;
        memcpy(o, digit_pairs + 2 * r, 2);
    }
    if (w >= 10) {
        o -= 2;
        memcpy(o, digit_pairs + 2 * w, 2);
    } else {
        *--o = (char)('0' + w);
    }
    *end = '\0';
    b->len += n;
}

void cc_buf_put_int(cc_buf_t *b, int64_t v)
{
    if (v < 0) {
        cc_buf_putc(b, '-');
        /* -(v + 1) + 1 avoids overflowing on INT64_MIN. */
        cc_buf_put_uint(b, (uint64_t)(-(v + 1)) + 1u);
    } else {
        cc_buf_put_uint(b, (uint64_t)v);
    }
}

void cc_buf_insert(cc_buf_t *b, size_t pos, const void *p, size_t n)
{
    if (n == 0 || pos > b->len || cc_buf_reserve(b, n) != 0)
        return;
    memmove(b->data + pos + n, b->data + pos, b->len - pos);
    memcpy(b->data + pos, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cc_buf_truncate(cc_buf_t *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->data[len] = '\0';
    }
}

/* Bytes that go out as they are: printable ASCII except '"' and '\\'.
 * 1 = copy, 0 = needs attention (escape, or UTF-8 lead/continuation). */
const unsigned char cc__json_plain[256] = {
    /* 0x00-0x1f: control characters */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x20-0x7f */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x80-0xff: zero-initialized, UTF-8 is checked by hand */
};

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when invalid; on 0,
 * *skip is the length of the maximal invalid subpart (at least 1), which is
 * replaced by one U+FFFD (the WHATWG / Unicode "best practice"). */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *skip)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;   /* bounds for the second byte */

    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;          /* no overlongs */
        else if (c == 0xED)
            hi = 0x9F;          /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;          /* no overlongs */
        else if (c == 0xF4)
            hi = 0x8F;          /* nothing above U+10FFFF */
    } else {
        *skip = 1;
        return 0;
    }
    size_t i = 1;
    for (; i < len; i++) {
        if (i >= n)
            break;
        unsigned char ci = s[i];
        if (i == 1 ? (ci < lo || ci > hi) : (ci < 0x80 || ci > 0xBF))
            break;
    }
    if (i == len)
        return len;
    *skip = i;
    return 0;
}

#define SWAR_ONES UINT64_C(0x0101010101010101)
#define SWAR_HIGHS UINT64_C(0x8080808080808080)

/* Nonzero when any of the 8 bytes at p is not json_plain: a control
 * character (< 0x20), '"', '\\', or a byte >= 0x80. Each test is exact for
 * "some byte matches" (borrows only propagate past a byte that matched). */
static inline uint64_t swar_special(const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    uint64_t q = x ^ (SWAR_ONES * '"');
    uint64_t bs = x ^ (SWAR_ONES * '\\');
    uint64_t ctl = (x - SWAR_ONES * 0x20) & ~x;        /* byte < 0x20 (or >= 0x80) */
    uint64_t zq = (q - SWAR_ONES) & ~q;                 /* byte == '"' */
    uint64_t zb = (bs - SWAR_ONES) & ~bs;               /* byte == '\\' */
    return (ctl | zq | zb | x) & SWAR_HIGHS;
}

/* The index of the first byte in p[i, n) that is not json_plain, or n. */
static inline size_t plain_run(const unsigned char *p, size_t i, size_t n)
{
#if defined(__SSE2__)
    /* Sixteen at a time. Signed compare: < 0x20 also catches >= 0x80. */
    const __m128i ctl = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'),
                  bslash = _mm_set1_epi8('\\');
    while (n - i >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i hit = _mm_or_si128(_mm_cmplt_epi8(x, ctl),
                                   _mm_or_si128(_mm_cmpeq_epi8(x, quote),
                                                _mm_cmpeq_epi8(x, bslash)));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m != 0)
            return i + (size_t)CC_CTZ32(m);
        i += 16;
    }
#endif
    while (n - i >= 8 && !swar_special(p + i))
        i += 8;
    if (i < n && n - i < 8 && n >= 8 && !swar_special(p + n - 8))
        return n;   /* the tail, as the last 8 bytes (they overlap checked ones) */
    while (i < n && cc__json_plain[p[i]])
        i++;
    return i;
}

void cc__buf_json_string(cc_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    /* Most strings need no escaping: reserve once for the common case. */
    if (b->cap - b->len <= n + 2 && cc_buf_reserve(b, n + 2) != 0)
        return;
    /* The common case: nothing to escape, one copy between the quotes. */
    i = plain_run(p, 0, n);
    char *o = b->data + b->len;
    *o++ = '"';
    if (i == n) {
        if (n)
            memcpy(o, p, n);
        o[n] = '"';
        o[n + 1] = '\0';
        b->len += n + 2;
        return;
    }
    b->len++;
    if (i > 0)
        cc_buf_append(b, p, i);
    while (i < n) {
        size_t start = i;
        i = plain_run(p, i, n);
        if (i > start)
            cc_buf_append(b, p + start, i - start);
        if (i >= n)
            break;
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t skip = 0;
            size_t len = utf8_seq(p + i, n - i, &skip);
            if (len) {
                cc_buf_append(b, p + i, len);
                i += len;
            } else {
                cc_buf_append(b, "\\ufffd", 6);
                i += skip;
            }
            continue;
        }
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xF];
            elen = 6;
            break;
        }
        cc_buf_append(b, esc, elen);
        i++;
    }
    cc_buf_putc(b, '"');
}

const char *cc_buf_cstr(cc_buf_t *b)
{
    return b->data ? b->data : "";
}

char *cc_buf_steal(cc_buf_t *b, size_t *len)
{
    char *p = b->data;
    size_t n = b->len;
    if (b->oom) {
        free(p);
        p = NULL;
        n = 0;
    } else if (!p) {
        p = malloc(1);
        if (p)
            p[0] = '\0';
    }
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
    if (len)
        *len = n;
    return p;
}

void cc_buf_reset(cc_buf_t *b)
{
    b->len = 0;
    b->oom = 0;
    if (b->data)
        b->data[0] = '\0';
}

void cc_buf_free(cc_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

void cc_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
