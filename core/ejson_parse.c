/* core/ejson_parse.c — Extended JSON v2 (canonical and relaxed) to BSON.
 *
 * A single pass over the text that writes BSON bytes as it goes: no DOM, no
 * recursion (an explicit stack of open documents, at most
 * CC_EJSON_MAX_DEPTH deep), no allocation per value. Strings are unescaped
 * straight into the output; the output is built in a stack buffer (grown on
 * the heap for large events) and copied into the caller's bson_t once.
 *
 * It reads what bson_init_from_json (libbson 1.23) reads and gives
 * byte-identical BSON for it, except where libbson is wrong, refuses what
 * the Extended JSON spec allows, or accepts junk. Deliberately:
 *   - integers beyond int64 become doubles (libbson: an error, or past 2^64
 *     a silently wrapped value); bare NaN / Infinity / -Infinity, leading
 *     zeros ("-01" is 0 to libbson) and raw bytes 0x14-0x1F in strings are
 *     refused;
 *   - nesting up to CC_EJSON_MAX_DEPTH (libbson stops at 98), as the writer;
 *   - $date also takes "+hh:mm" offsets and more than 3 fraction digits
 *     (truncated to milliseconds), and refuses days a month lacks (libbson:
 *     Feb 30 is Mar 2) and {"$date":{}} (libbson: 0);
 *   - $oid needs 24 hex digits, $numberInt/$numberLong [+-]digits (no white
 *     space), $numberDouble a decimal number or Infinity/-Infinity/NaN,
 *     $numberDecimal text bson_decimal128_from_string accepts, subType and
 *     legacy $type 1-2 hex digits, $timestamp t and i at most 2^32-1,
 *     $undefined true; libbson reads junk there as 0, NaN, a hex prefix or
 *     a truncated value;
 *   - a wrapper may not repeat or mix keys (libbson keeps the last);
 *   - {"$type": x} with x not 1-2 hex digits (libbson: any string starting
 *     with a hex digit, "array" included, is a binary subtype) and
 *     {"$regex": x} with x not a string are query operators, plain
 *     documents ({"$type":2} and {"$regex":{...}} are errors to libbson);
 *   - $code and $dbPointer.$ref keep an embedded U+0000 (libbson truncates
 *     there), $regex without $options has no options (libbson may reuse an
 *     earlier regex's), and a $code/$scope or $dbPointer value that is an
 *     array element, or under the key "", gets its own key (libbson writes
 *     an uninitialised byte, or a key from inside the scope).
 */
#include "core/buf.h"
#include "core/ejson.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "changecast/error.h"

/* ---- output buffer ----------------------------------------------------- */

#define P_STACK_OUT 2048
#define P_MAX_OUT ((size_t)INT32_MAX)

enum { K_DOC, K_ARR, K_SCOPE };

typedef struct frame {
    uint32_t start; /* offset of the container's int32 length */
    uint32_t idx;   /* next array index */
    uint8_t kind;
} frame_t;

typedef struct parser {
    const uint8_t *base, *p, *end;
    uint8_t *out;
    size_t len, cap;
    int heap;
    char *err;
    size_t errlen;
    const char *wkw; /* wrapper being read, for error messages */
    /* The open $code/$scope wrapper (they cannot nest: inside a scope, as in
     * libbson, $code and $scope start plain documents). */
    int in_scope;
    int scope_has_code;
    uint32_t scope_cws; /* offset of the code-with-scope int32 total */
    size_t next_el;     /* W_VALUE: the element whose value comes next */
    int depth;
    frame_t stack[CC_EJSON_MAX_DEPTH];
    uint8_t sbuf[P_STACK_OUT];
} parser_t;

static int verr(parser_t *c, const uint8_t *at, const char *fmt, va_list ap)
{
    if (c->err && c->errlen) {
        size_t off = (size_t)(at - c->base);
        int n;
        if (c->wkw)
            n = snprintf(c->err, c->errlen, "invalid %s at byte %zu: ", c->wkw, off);
        else
            n = snprintf(c->err, c->errlen, "invalid JSON at byte %zu: ", off);
        if (n >= 0 && (size_t)n < c->errlen)
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    }
    return -1;
}

static int fail(parser_t *c, const uint8_t *at, const char *fmt, ...) CC_PRINTF(3, 4);
static int fail(parser_t *c, const uint8_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(c, at, fmt, ap);
    va_end(ap);
    return -1;
}

static int grow(parser_t *c, size_t n)
{
    if (n > P_MAX_OUT - c->len)
        return fail(c, c->p, "the document would exceed the BSON size limit");
    size_t want = c->len + n, cap = c->cap;
    while (cap < want)
        cap = cap > P_MAX_OUT / 2 ? P_MAX_OUT : cap * 2;
    uint8_t *b;
    if (c->heap) {
        b = realloc(c->out, cap);
    } else {
        b = malloc(cap);
        if (b)
            memcpy(b, c->out, c->len);
    }
    if (!b)
        return fail(c, c->p, "out of memory");
    c->out = b;
    c->cap = cap;
    c->heap = 1;
    return 0;
}

static inline int need(parser_t *c, size_t n)
{
    return c->cap - c->len >= n ? 0 : grow(c, n);
}

/* Callers have made room with need(). */
static inline void put1(parser_t *c, uint8_t b)
{
    c->out[c->len++] = b;
}

static inline void put4_at(parser_t *c, size_t off, uint32_t v)
{
    uint8_t *o = c->out + off;
    o[0] = (uint8_t)v;
    o[1] = (uint8_t)(v >> 8);
    o[2] = (uint8_t)(v >> 16);
    o[3] = (uint8_t)(v >> 24);
}

static inline void put4(parser_t *c, uint32_t v)
{
    put4_at(c, c->len, v);
    c->len += 4;
}

static inline void put8(parser_t *c, uint64_t v)
{
    put4(c, (uint32_t)v);
    put4(c, (uint32_t)(v >> 32));
}

/* ---- lexical helpers ---------------------------------------------------- */

static inline void skip_ws(parser_t *c)
{
    const uint8_t *p = c->p, *e = c->end;
    while (p < e && *p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    c->p = p;
}

static int hexval(uint8_t ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* A key or value for messages: printable ASCII, at most 40 bytes. */
static const char *show(const uint8_t *s, size_t n, char buf[48])
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < 40; i++)
        buf[k++] = (s[i] >= 0x20 && s[i] < 0x7F) ? (char)s[i] : '?';
    if (k < n && k >= 40) {
        buf[37] = buf[38] = buf[39] = '.';
    }
    buf[k] = '\0';
    return buf;
}

/* Word-at-a-time test for bytes that end a plain run in a string: '"',
 * '\\', control bytes and non-ASCII. The lowest flagged byte is exact. */
#define ONES UINT64_C(0x0101010101010101)
#define HIGH UINT64_C(0x8080808080808080)
static inline uint64_t special_bytes(uint64_t v)
{
    uint64_t q = v ^ (ONES * '"');
    uint64_t b = v ^ (ONES * '\\');
    return (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((v - ONES * 0x20) & ~v) | v) & HIGH;
}

/* Reads the JSON string at c->p (a '"') and appends its unescaped bytes to
 * the output (no terminator). *n gets their number, *nul whether one is
 * U+0000. The unescaped text is never longer than the quoted one. */
static int read_string_slow(parser_t *c, size_t *n, int *nul)
{
    const uint8_t *p = c->p + 1, *e = c->end;
    if (need(c, (size_t)(e - p) + 8) != 0)
        return -1;
    uint8_t *o0 = c->out + c->len, *o = o0;
    int has_nul = 0;
    for (;;) {
        while (e - p >= 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            memcpy(o, &v, 8);
            uint64_t m = special_bytes(v);
            if (m == 0) {
                p += 8;
                o += 8;
                continue;
            }
            unsigned k = (unsigned)CC_CTZ64(m) >> 3;
            p += k;
            o += k;
            break;
        }
        while (p < e && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            *o++ = *p++;
        if (p >= e)
            return fail(c, c->p, "unterminated string");
        uint8_t ch = *p;
        if (ch == '"') {
            p++;
            break;
        }
        if (ch == '\\') {
            const uint8_t *bs = p;
            if (e - p < 2)
                return fail(c, c->p, "unterminated string");
            ch = p[1];
            p += 2;
            switch (ch) {
            case '"':
            case '\\':
            case '/':
                *o++ = ch;
                continue;
            case 'b':
                *o++ = '\b';
                continue;
            case 'f':
                *o++ = '\f';
                continue;
            case 'n':
                *o++ = '\n';
                continue;
            case 'r':
                *o++ = '\r';
                continue;
            case 't':
                *o++ = '\t';
                continue;
            case 'u':
                break;
            default:
                return fail(c, bs, "invalid escape '\\%c' in a string",
                            ch >= 0x20 && ch < 0x7F ? ch : '?');
            }
            uint32_t cp = 0;
            for (int i = 0; i < 4; i++) {
                int h = p + i < e ? hexval(p[i]) : -1;
                if (h < 0)
                    return fail(c, bs, "invalid \\u escape (expected 4 hex digits)");
                cp = cp << 4 | (uint32_t)h;
            }
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo = 0;
                int ok = e - p >= 6 && p[0] == '\\' && p[1] == 'u';
                for (int i = 0; ok && i < 4; i++) {
                    int h = hexval(p[2 + i]);
                    if (h < 0)
                        ok = 0;
                    lo = lo << 4 | (uint32_t)h;
                }
                if (!ok || lo < 0xDC00 || lo > 0xDFFF)
                    return fail(c, bs, "lone surrogate \\u%04X in a string", (unsigned)cp);
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return fail(c, bs, "lone surrogate \\u%04X in a string", (unsigned)cp);
            }
            if (cp < 0x80) {
                has_nul |= cp == 0;
                *o++ = (uint8_t)cp;
            } else if (cp < 0x800) {
                *o++ = (uint8_t)(0xC0 | cp >> 6);
                *o++ = (uint8_t)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                *o++ = (uint8_t)(0xE0 | cp >> 12);
                *o++ = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
                *o++ = (uint8_t)(0x80 | (cp & 0x3F));
            } else {
                *o++ = (uint8_t)(0xF0 | cp >> 18);
                *o++ = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
                *o++ = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
                *o++ = (uint8_t)(0x80 | (cp & 0x3F));
            }
            continue;
        }
        if (ch < 0x20)
            return fail(c, p, "control character 0x%02X in a string (must be escaped)",
                        (unsigned)ch);
        /* UTF-8: shortest form, no surrogates, at most U+10FFFF. */
        size_t len;
        uint8_t lo = 0x80, hi = 0xBF;
        if (ch >= 0xC2 && ch <= 0xDF) {
            len = 2;
        } else if (ch >= 0xE0 && ch <= 0xEF) {
            len = 3;
            if (ch == 0xE0)
                lo = 0xA0;
            else if (ch == 0xED)
                hi = 0x9F;
        } else if (ch >= 0xF0 && ch <= 0xF4) {
            len = 4;
            if (ch == 0xF0)
                lo = 0x90;
            else if (ch == 0xF4)
                hi = 0x8F;
        } else {
            return fail(c, p, "invalid UTF-8 in a string");
        }
        if ((size_t)(e - p) < len || p[1] < lo || p[1] > hi)
            return fail(c, p, "invalid UTF-8 in a string");
        for (size_t i = 2; i < len; i++)
            if (p[i] < 0x80 || p[i] > 0xBF)
                return fail(c, p, "invalid UTF-8 in a string");
        for (size_t i = 0; i < len; i++)
            *o++ = p[i];
        p += len;
    }
    c->p = p;
    *n = (size_t)(o - o0);
    c->len += *n;
    if (nul)
        *nul = has_nul;
    return 0;
}

/* The common case inline: printable ASCII without escapes, with at least 8
 * bytes of input after it. Anything else starts over in the general
 * reader. */
static inline int read_string(parser_t *c, size_t *n, int *nul)
{
    const uint8_t *p = c->p + 1, *e = c->end;
    if (c->cap - c->len >= (size_t)(e - p) + 8) {
        uint8_t *o = c->out + c->len;
        size_t i = 0;
        while ((size_t)(e - p) - i >= 8) {
            uint64_t v;
            memcpy(&v, p + i, 8);
            memcpy(o + i, &v, 8);
            uint64_t m = special_bytes(v);
            if (m == 0) {
                i += 8;
                continue;
            }
            i += (unsigned)CC_CTZ64(m) >> 3;
            if (p[i] != '"')
                break;
            c->p = p + i + 1;
            c->len += i;
            *n = i;
            if (nul)
                *nul = 0;
            return 0;
        }
    }
    return read_string_slow(c, n, nul);
}

/* A string value as BSON: int32 length, bytes, NUL. */
static int put_string_value(parser_t *c)
{
    size_t at = c->len, n;
    if (need(c, 4) != 0)
        return -1;
    c->len += 4;
    if (read_string(c, &n, NULL) != 0)
        return -1;
    if (need(c, 1) != 0)
        return -1;
    put1(c, 0);
    put4_at(c, at, (uint32_t)(n + 1));
    return 0;
}

/* ---- numbers ----------------------------------------------------------- */

typedef struct num {
    const uint8_t *s, *e; /* the literal */
    uint64_t mant;        /* first (up to) 19 significant digits */
    int ndig;             /* significant digits seen (capped) */
    int dropped;          /* nonzero digits beyond the 19 kept */
    int exp10;            /* value = mant * 10^exp10 (when !dropped) */
    int neg, is_int;
} num_t;

/* Scans a JSON number at c->p (strict RFC 8259 grammar). */
static int scan_number(parser_t *c, num_t *nm)
{
    const uint8_t *p = c->p, *e = c->end;
    memset(nm, 0, sizeof *nm);
    nm->s = p;
    nm->is_int = 1;
    if (*p == '-') {
        nm->neg = 1;
        p++;
    }
    if (p >= e || *p < '0' || *p > '9') {
        if (p < e && (*p == 'I' || *p == 'N'))
            return fail(c, nm->s,
                        "NaN and Infinity must be written as {\"$numberDouble\":\"...\"}");
        return fail(c, nm->s, "invalid number");
    }
    uint64_t m = 0;
    int nd = 0, dropped = 0, ex = 0;
    if (*p == '0') {
        p++;
        if (p < e && *p >= '0' && *p <= '9')
            return fail(c, nm->s, "invalid number (leading zero)");
    } else {
        while (p < e && *p >= '0' && *p <= '9') {
            if (nd < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                nd++;
            } else {
                ex++;
                dropped |= *p != '0';
                nd = 20;
            }
            p++;
        }
    }
    if (p < e && *p == '.') {
        nm->is_int = 0;
        p++;
        if (p >= e || *p < '0' || *p > '9')
            return fail(c, nm->s, "invalid number (expected a digit after '.')");
        while (p < e && *p >= '0' && *p <= '9') {
            if (nd < 19) {
                if (m != 0 || *p != '0')
                    nd++;
                m = m * 10 + (uint64_t)(*p - '0');
                ex--;
            } else {
                dropped |= *p != '0';
            }
            p++;
        }
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        nm->is_int = 0;
        p++;
        int eneg = 0;
        if (p < e && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p >= e || *p < '0' || *p > '9')
            return fail(c, nm->s, "invalid number (expected a digit in the exponent)");
        int ev = 0;
        while (p < e && *p >= '0' && *p <= '9') {
            if (ev < 100000)
                ev = ev * 10 + (*p - '0');
            p++;
        }
        ex += eneg ? -ev : ev;
    }
    nm->e = p;
    nm->mant = m;
    nm->ndig = nd;
    nm->dropped = dropped;
    nm->exp10 = ex;
    c->p = p;
    return 0;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* strtod of [s, s+n) in the C locale, whatever the process locale. */
static double strtod_c(const uint8_t *s, size_t n, int *erange)
{
    char small[128];
    char *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf) {
        *erange = -1;
        return 0;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    pthread_once(&c_locale_once, make_c_locale);
    errno = 0;
    double d = c_locale ? strtod_l(buf, NULL, c_locale) : strtod(buf, NULL);
    *erange = errno == ERANGE;
    if (buf != small)
        free(buf);
    return d;
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The double nearest to the scanned decimal. */
static int num_double(parser_t *c, const num_t *nm, double *out)
{
    if (!nm->dropped && nm->mant <= (UINT64_C(1) << 53) && nm->exp10 >= -22 && nm->exp10 <= 22) {
        /* Exact operands and one correctly rounded operation (Clinger). */
        double d = (double)nm->mant;
        d = nm->exp10 < 0 ? d / pow10_exact[-nm->exp10] : d * pow10_exact[nm->exp10];
        *out = nm->neg ? -d : d;
        return 0;
    }
    if (nm->mant == 0 && !nm->dropped) {
        *out = nm->neg ? -0.0 : 0.0;
        return 0;
    }
    int erange;
    double d = strtod_c(nm->s, (size_t)(nm->e - nm->s), &erange);
    if (erange < 0)
        return fail(c, nm->s, "out of memory");
    if (erange && isinf(d))
        return fail(c, nm->s, "number %.*s is out of range",
                    (int)(nm->e - nm->s > 40 ? 40 : nm->e - nm->s), (const char *)nm->s);
    *out = d;
    return 0;
}

/* For integer literals: the magnitude when it fits in 64 bits. */
static int num_u64(const num_t *nm, uint64_t *mag)
{
    if (!nm->is_int || nm->ndig > 19)
        return 0;
    *mag = nm->mant;
    return 1;
}

/* A relaxed number as int32, int64 or double. Returns the BSON type. */
static int put_number(parser_t *c)
{
    /* Fast path: up to 9 digits, not followed by a fraction or exponent. */
    const uint8_t *p = c->p, *e = c->end;
    int neg = *p == '-';
    p += neg;
    if (e - p >= 10 && p[0] >= '1' && p[0] <= '9') {
        uint32_t v = (uint32_t)(p[0] - '0');
        int k = 1;
        while (k < 9 && p[k] >= '0' && p[k] <= '9')
            v = v * 10 + (uint32_t)(p[k++] - '0');
        uint8_t nx = p[k];
        if (!(nx >= '0' && nx <= '9') && nx != '.' && nx != 'e' && nx != 'E') {
            if (need(c, 4) != 0)
                return -1;
            put4(c, neg ? 0 - v : v);
            c->p = p + k;
            return BSON_TYPE_INT32;
        }
    }
    num_t nm;
    if (scan_number(c, &nm) != 0)
        return -1;
    uint64_t mag;
    if (num_u64(&nm, &mag)) {
        if (!nm.neg ? mag <= INT32_MAX : mag <= (uint64_t)INT32_MAX + 1) {
            if (need(c, 4) != 0)
                return -1;
            put4(c, nm.neg ? (uint32_t)(0 - mag) : (uint32_t)mag);
            return BSON_TYPE_INT32;
        }
        if (!nm.neg ? mag <= INT64_MAX : mag <= (uint64_t)INT64_MAX + 1) {
            if (need(c, 8) != 0)
                return -1;
            put8(c, nm.neg ? 0 - mag : mag);
            return BSON_TYPE_INT64;
        }
    }
    double d = 0;
    if (num_double(c, &nm, &d) != 0)
        return -1;
    uint64_t bits;
    memcpy(&bits, &d, 8);
    if (need(c, 8) != 0)
        return -1;
    put8(c, bits);
    return BSON_TYPE_DOUBLE;
}

/* ---- wrapper values --------------------------------------------------- */

enum {
    KW_NONE,
    KW_OID,
    KW_SYMBOL,
    KW_INT,
    KW_LONG,
    KW_DOUBLE,
    KW_DECIMAL,
    KW_BINARY,
    KW_TYPE,
    KW_UUID,
    KW_CODE,
    KW_SCOPE,
    KW_TIMESTAMP,
    KW_REGEXP,
    KW_REGEX,
    KW_OPTIONS,
    KW_DBPOINTER,
    KW_DATE,
    KW_MINKEY,
    KW_MAXKEY,
    KW_UNDEFINED,
};

static const char *const kw_names[] = {
    "", "$oid", "$symbol", "$numberInt", "$numberLong", "$numberDouble", "$numberDecimal",
    "$binary", "$type", "$uuid", "$code", "$scope", "$timestamp", "$regularExpression",
    "$regex", "$options", "$dbPointer", "$date", "$minKey", "$maxKey", "$undefined",
};

static int keyword(const uint8_t *k, size_t n)
{
    if (n < 4 || k[0] != '$')
        return KW_NONE;
#define KW(s, v)                                                                   \
    if (n == sizeof s - 1 && memcmp(k, s, n) == 0)                                 \
    return v
    switch (k[1]) {
    case 'o':
        KW("$oid", KW_OID);
        KW("$options", KW_OPTIONS);
        break;
    case 's':
        KW("$symbol", KW_SYMBOL);
        KW("$scope", KW_SCOPE);
        break;
    case 'n':
        KW("$numberInt", KW_INT);
        KW("$numberLong", KW_LONG);
        KW("$numberDouble", KW_DOUBLE);
        KW("$numberDecimal", KW_DECIMAL);
        break;
    case 'b':
        KW("$binary", KW_BINARY);
        break;
    case 't':
        KW("$type", KW_TYPE);
        KW("$timestamp", KW_TIMESTAMP);
        break;
    case 'u':
        KW("$uuid", KW_UUID);
        KW("$undefined", KW_UNDEFINED);
        break;
    case 'c':
        KW("$code", KW_CODE);
        break;
    case 'r':
        KW("$regularExpression", KW_REGEXP);
        KW("$regex", KW_REGEX);
        break;
    case 'd':
        KW("$dbPointer", KW_DBPOINTER);
        KW("$date", KW_DATE);
        break;
    case 'm':
        KW("$minKey", KW_MINKEY);
        KW("$maxKey", KW_MAXKEY);
        break;
    }
#undef KW
    return KW_NONE;
}

/* ':' with white space around, before a value. */
static int colon_slow(parser_t *c)
{
    skip_ws(c);
    if (c->p >= c->end)
        return fail(c, c->p, "unterminated JSON object");
    if (*c->p != ':')
        return fail(c, c->p, "expected ':' after an object key");
    c->p++;
    skip_ws(c);
    if (c->p >= c->end)
        return fail(c, c->p, "unterminated JSON object");
    return 0;
}

static inline int colon(parser_t *c)
{
    const uint8_t *p = c->p;
    if (c->end - p >= 2 && p[0] == ':' && p[1] > ' ') {
        c->p = p + 1;
        return 0;
    }
    return colon_slow(c);
}

/* Reads an object key inside a wrapper into scratch space at the end of the
 * output (released by the caller). */
static int scratch_key(parser_t *c, size_t *off, size_t *n)
{
    *off = c->len;
    *n = 0;
    skip_ws(c);
    if (c->p >= c->end)
        return fail(c, c->p, "unterminated JSON object");
    if (*c->p != '"')
        return fail(c, c->p, "expected a string key");
    *off = c->len;
    return read_string(c, n, NULL);
}

/* After a wrapper member: 1 when another member follows (',' consumed), 0
 * when the object closed ('}' consumed). */
static int next_member(parser_t *c)
{
    skip_ws(c);
    if (c->p >= c->end)
        return fail(c, c->p, "unterminated JSON object");
    if (*c->p == '}') {
        c->p++;
        return 0;
    }
    if (*c->p == ',') {
        c->p++;
        return 1;
    }
    return fail(c, c->p, "expected ',' or '}'");
}

static int unexpected_key(parser_t *c, const uint8_t *at, size_t off, size_t n)
{
    char b[48];
    return fail(c, at, "unexpected key \"%s\"", show(c->out + off, n, b));
}

/* The wrapper object must close here. */
static int wrapper_end(parser_t *c)
{
    int r = next_member(c);
    if (r <= 0)
        return r;
    size_t off, n;
    skip_ws(c);
    const uint8_t *at = c->p;
    if (scratch_key(c, &off, &n) != 0)
        return -1;
    c->len = off;
    return unexpected_key(c, at, off, n);
}

/* A string value into scratch space; wrong JSON type is an error. */
static int scratch_string(parser_t *c, const char *what, size_t *off, size_t *n, int *nul)
{
    *off = c->len;
    *n = 0;
    if (*c->p != '"')
        return fail(c, c->p, "%s must be a string", what);
    *off = c->len;
    return read_string(c, n, nul);
}

static int expect_key(parser_t *c, const char *want)
{
    size_t off, n;
    skip_ws(c);
    const uint8_t *at = c->p;
    if (at < c->end && *at == '}')
        return fail(c, at, "missing \"%s\"", want);
    if (scratch_key(c, &off, &n) != 0)
        return -1;
    c->len = off;
    if (n != strlen(want) || memcmp(c->out + off, want, n) != 0)
        return unexpected_key(c, at, off, n);
    return colon(c);
}

static int parse_i64_text(const uint8_t *s, size_t n, int64_t *v)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == n)
        return 0;
    uint64_t m = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        if (m > (UINT64_MAX - 9) / 10)
            return 0;
        m = m * 10 + (uint64_t)(s[i] - '0');
        if (m > (uint64_t)INT64_MAX + 1)
            return 0;
    }
    if (!neg && m > INT64_MAX)
        return 0;
    *v = neg ? (int64_t)(0 - m) : (int64_t)m;
    return 1;
}

/* $numberDouble text: a decimal number (sign, digits, point, exponent as
 * strtod reads them, without hex or white space) or Infinity, -Infinity,
 * NaN. */
static int parse_double_text(parser_t *c, const uint8_t *at, const uint8_t *s, size_t n,
                             double *d)
{
    char b[48];
    if (n == 8 && memcmp(s, "Infinity", 8) == 0) {
        *d = INFINITY;
        return 0;
    }
    if (n == 9 && memcmp(s, "-Infinity", 9) == 0) {
        *d = -INFINITY;
        return 0;
    }
    if (n == 3 && memcmp(s, "NaN", 3) == 0) {
        uint64_t bits = UINT64_C(0x7FF8000000000000);
        memcpy(d, &bits, 8);
        return 0;
    }
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits && i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (s[j] == '+' || s[j] == '-'))
            j++;
        if (j < n && s[j] >= '0' && s[j] <= '9') {
            while (j < n && s[j] >= '0' && s[j] <= '9')
                j++;
            i = j;
        } else {
            i = n + 1; /* bad exponent */
        }
    }
    if (!digits || i != n)
        return fail(c, at, "\"%s\" is not a number, Infinity, -Infinity or NaN",
                    show(s, n, b));
    int erange;
    *d = strtod_c(s, n, &erange);
    if (erange < 0)
        return fail(c, at, "out of memory");
    if (erange && isinf(*d))
        return fail(c, at, "number \"%s\" is out of range", show(s, n, b));
    return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits_at(const uint8_t *s, size_t n, size_t i, int k, unsigned *v)
{
    if (i + (size_t)k > n)
        return 0;
    unsigned x = 0;
    for (int j = 0; j < k; j++) {
        if (s[i + j] < '0' || s[i + j] > '9')
            return 0;
        x = x * 10 + (unsigned)(s[i + j] - '0');
    }
    *v = x;
    return 1;
}

/* YYYY-MM-DDTHH:MM[:SS[.fff…]](Z|±HHMM|±HH:MM) as milliseconds since the
 * epoch; fraction digits past milliseconds are dropped. */
static int parse_iso_date(parser_t *c, const uint8_t *at, const uint8_t *s, size_t n,
                          int64_t *ms)
{
    char b[48];
    unsigned y, mo, d, h, mi, sec = 0, milli = 0;
    size_t i = 0;
    if (!digits_at(s, n, 0, 4, &y) || n < 16 || s[4] != '-' || !digits_at(s, n, 5, 2, &mo) ||
        s[7] != '-' || !digits_at(s, n, 8, 2, &d) || s[10] != 'T' ||
        !digits_at(s, n, 11, 2, &h) || s[13] != ':' || !digits_at(s, n, 14, 2, &mi))
        goto syntax;
    i = 16;
    if (i < n && s[i] == ':') {
        if (!digits_at(s, n, i + 1, 2, &sec))
            goto syntax;
        i += 3;
        if (i < n && s[i] == '.') {
            i++;
            size_t f0 = i;
            unsigned scale = 100;
            while (i < n && s[i] >= '0' && s[i] <= '9') {
                milli += (unsigned)(s[i] - '0') * scale;
                scale /= 10;
                i++;
            }
            if (i == f0)
                goto syntax;
        }
    }
    int tz = 0;
    if (i < n && s[i] == 'Z') {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int neg = s[i] == '-';
        unsigned th, tm;
        if (!digits_at(s, n, i + 1, 2, &th))
            goto syntax;
        i += 3;
        if (i < n && s[i] == ':')
            i++;
        if (!digits_at(s, n, i, 2, &tm))
            goto syntax;
        i += 2;
        if (th > 23 || tm > 59)
            return fail(c, at, "time zone offset out of range in \"%s\"", show(s, n, b));
        tz = (int)(th * 60 + tm) * (neg ? -1 : 1);
    } else {
        goto syntax;
    }
    if (i != n)
        goto syntax;
    static const unsigned char mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
        return fail(c, at, "no such day in \"%s\"", show(s, n, b));
    if (h > 23 || mi > 59 || sec > 60)
        return fail(c, at, "time out of range in \"%s\"", show(s, n, b));
    int64_t days = days_from_civil((int64_t)y, mo, d);
    *ms = ((days * 24 + h) * 60 + mi - tz) * 60000 + (int64_t)sec * 1000 + milli;
    return 0;
syntax:
    return fail(c, at,
                "\"%s\" is not an ISO-8601 date like 2025-04-21T17:48:47.405Z "
                "(or with an offset +hh:mm / +hhmm)",
                show(s, n, b));
}

static int b64val(uint8_t ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

static int is_space(uint8_t ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Decodes base64 in place (the output is never longer than the input), as
 * libbson's b64_pton: white space anywhere is ignored, the text is padded
 * to a multiple of 4 and the bits past the last byte are zero. Returns the
 * length, or -1. */
static long b64_decode(uint8_t *s, size_t n)
{
    size_t w = 0;
    uint32_t acc = 0;
    int k = 0, pad = 0, done = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = s[i];
        if (is_space(ch))
            continue;
        if (done)
            return -1;
        if (ch == '=') {
            if (k < 2)
                return -1;
            pad++;
            if (++k < 4)
                continue;
            if (pad == 2) {
                if (acc & 0xF)
                    return -1;
                s[w++] = (uint8_t)(acc >> 4);
            } else {
                if (acc & 0x3)
                    return -1;
                s[w++] = (uint8_t)(acc >> 10);
                s[w++] = (uint8_t)(acc >> 2);
            }
            done = 1;
            continue;
        }
        if (pad)
            return -1;
        int v = b64val(ch);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        if (++k == 4) {
            s[w++] = (uint8_t)(acc >> 16);
            s[w++] = (uint8_t)(acc >> 8);
            s[w++] = (uint8_t)acc;
            acc = 0;
            k = 0;
        }
    }
    if (k != 0 && !done)
        return -1;
    return (long)w;
}

static int subtype_text(const uint8_t *s, size_t n, unsigned *sub)
{
    if (n < 1 || n > 2)
        return 0;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        int h = hexval(s[i]);
        if (h < 0)
            return 0;
        v = v << 4 | (unsigned)h;
    }
    *sub = v;
    return 1;
}

/* Writes a binary value at offset `at` from the `n` bytes at out+src
 * (src >= at; they may overlap the header's place). */
static int put_binary(parser_t *c, size_t at, size_t src, size_t n, unsigned sub)
{
    size_t hdr = sub == 2 ? 9 : 5;
    if (n > INT32_MAX - 9)
        return fail(c, c->p, "binary value too large");
    size_t end = at + hdr + n;
    if (end > c->len && need(c, end - c->len) != 0)
        return -1;
    memmove(c->out + at + hdr, c->out + src, n);
    if (sub == 2) {
        put4_at(c, at, (uint32_t)(n + 4));
        c->out[at + 4] = 2;
        put4_at(c, at + 5, (uint32_t)n);
    } else {
        put4_at(c, at, (uint32_t)n);
        c->out[at + 4] = (uint8_t)sub;
    }
    c->len = end;
    return 0;
}

static int read_base64(parser_t *c, size_t *off, size_t *n)
{
    const uint8_t *at = c->p;
    size_t sn;
    char b[48];
    if (scratch_string(c, "the base64 payload", off, &sn, NULL) != 0)
        return -1;
    long dn = b64_decode(c->out + *off, sn);
    if (dn < 0)
        goto bad;
    *n = (size_t)dn;
    c->len = *off + (size_t)dn;
    return 0;
bad:
    return fail(c, at, "\"%s\" is not base64", show(c->out + *off, sn, b));
}

static int read_subtype(parser_t *c, unsigned *sub)
{
    const uint8_t *at = c->p;
    size_t off, n;
    char b[48];
    if (scratch_string(c, "the subtype", &off, &n, NULL) != 0)
        return -1;
    c->len = off;
    if (!subtype_text(c->out + off, n, sub))
        return fail(c, at, "subtype \"%s\" is not 1 or 2 hex digits", show(c->out + off, n, b));
    return 0;
}

/* Regular expression options: libbson keeps the valid ones, sorted, once. */
static unsigned regex_flags(const uint8_t *s, size_t n)
{
    static const char order[] = "ilmsux";
    unsigned m = 0;
    for (size_t i = 0; i < n; i++) {
        const char *q = memchr(order, s[i], 6);
        if (q && s[i])
            m |= 1u << (q - order);
    }
    return m;
}

static void put_regex_flags(parser_t *c, unsigned m)
{
    static const char order[] = "ilmsux";
    for (int i = 0; i < 6; i++)
        if (m & (1u << i))
            put1(c, (uint8_t)order[i]);
    put1(c, 0);
}

static int read_oid(parser_t *c, uint8_t oid[12])
{
    const uint8_t *at = c->p;
    size_t off, n;
    char b[48];
    if (scratch_string(c, "the ObjectId", &off, &n, NULL) != 0)
        return -1;
    c->len = off;
    const uint8_t *s = c->out + off;
    if (n != 24)
        goto bad;
    for (int i = 0; i < 12; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            goto bad;
        oid[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
bad:
    return fail(c, at, "\"%s\" is not 24 hex digits", show(s, n, b));
}

/* An integer literal (for $timestamp, $date, $minKey): *neg and magnitude;
 * 0 when the number is not an integer that fits 64 bits. */
static int read_int_literal(parser_t *c, const char *what, int *neg, uint64_t *mag)
{
    const uint8_t *at = c->p;
    if (*c->p != '-' && (*c->p < '0' || *c->p > '9'))
        return fail(c, at, "%s must be an integer", what);
    num_t nm;
    if (scan_number(c, &nm) != 0)
        return -1;
    if (!nm.is_int)
        return fail(c, at, "%s must be an integer", what);
    if (!num_u64(&nm, mag))
        return fail(c, at, "%s is out of range", what);
    *neg = nm.neg;
    return 0;
}

static int read_u32_literal(parser_t *c, const char *what, uint32_t *v)
{
    const uint8_t *at = c->p;
    int neg;
    uint64_t mag;
    if (read_int_literal(c, what, &neg, &mag) != 0)
        return -1;
    if ((neg && mag != 0) || mag > UINT32_MAX)
        return fail(c, at, "%s must be between 0 and 4294967295", what);
    *v = (uint32_t)mag;
    return 0;
}

enum { W_ERR = -1, W_DONE, W_VALUE, W_AFTER, W_SCOPE };

static int push(parser_t *c, const uint8_t *at, uint8_t kind, size_t start)
{
    if (c->depth >= CC_EJSON_MAX_DEPTH) {
        c->wkw = NULL;
        return fail(c, at, "nested deeper than %d levels", CC_EJSON_MAX_DEPTH);
    }
    frame_t *f = &c->stack[c->depth++];
    f->start = (uint32_t)start;
    f->idx = 0;
    f->kind = kind;
    return 0;
}

/* The value of a wrapper whose first key `kw` has been read (the value
 * starts at c->p, after ':'). The element's type byte is out[el]; its value
 * goes at c->len. `ob` is the wrapper's '{'. */
static int wrapper(parser_t *c, int kw, size_t el, const uint8_t *ob)
{
    const uint8_t *at = c->p;
    size_t off, n;
    char b[48];
    uint8_t type;
    int closed = 0; /* the wrapper's '}' has been read */
    c->wkw = kw_names[kw];

    switch (kw) {
    case KW_OID: {
        uint8_t oid[12];
        if (read_oid(c, oid) != 0 || need(c, 12) != 0)
            return W_ERR;
        memcpy(c->out + c->len, oid, 12);
        c->len += 12;
        type = BSON_TYPE_OID;
        break;
    }
    case KW_SYMBOL:
        if (*c->p != '"')
            return fail(c, at, "the symbol must be a string");
        if (put_string_value(c) != 0)
            return W_ERR;
        type = BSON_TYPE_SYMBOL;
        break;
    case KW_INT:
    case KW_LONG: {
        int64_t v;
        if (scratch_string(c, "the number", &off, &n, NULL) != 0)
            return W_ERR;
        c->len = off;
        if (!parse_i64_text(c->out + off, n, &v) ||
            (kw == KW_INT && (v < INT32_MIN || v > INT32_MAX)))
            return fail(c, at, "\"%s\" is not %s", show(c->out + off, n, b),
                        kw == KW_INT ? "a 32-bit integer" : "a 64-bit integer");
        if (need(c, 8) != 0)
            return W_ERR;
        if (kw == KW_INT) {
            put4(c, (uint32_t)(int32_t)v);
            type = BSON_TYPE_INT32;
        } else {
            put8(c, (uint64_t)v);
            type = BSON_TYPE_INT64;
        }
        break;
    }
    case KW_DOUBLE: {
        double d;
        uint64_t bits;
        if (scratch_string(c, "the number", &off, &n, NULL) != 0)
            return W_ERR;
        c->len = off;
        if (parse_double_text(c, at, c->out + off, n, &d) != 0)
            return W_ERR;
        memcpy(&bits, &d, 8);
        if (need(c, 8) != 0)
            return W_ERR;
        put8(c, bits);
        type = BSON_TYPE_DOUBLE;
        break;
    }
    case KW_DECIMAL: {
        bson_decimal128_t dec;
        if (scratch_string(c, "the decimal", &off, &n, NULL) != 0)
            return W_ERR;
        /* libbson compares "NaN" / "Inf" as C strings: terminate the text. */
        if (need(c, 1) != 0)
            return W_ERR;
        c->out[off + n] = '\0';
        c->len = off;
        if (n > INT32_MAX || memchr(c->out + off, 0, n) ||
            !bson_decimal128_from_string_w_len((const char *)c->out + off, (int)n, &dec))
            return fail(c, at, "\"%s\" is not a decimal128 number", show(c->out + off, n, b));
        if (need(c, 16) != 0)
            return W_ERR;
        put8(c, dec.low);
        put8(c, dec.high);
        type = BSON_TYPE_DECIMAL128;
        break;
    }
    case KW_UUID: {
        if (scratch_string(c, "the UUID", &off, &n, NULL) != 0)
            return W_ERR;
        c->len = off;
        const uint8_t *s = c->out + off;
        uint8_t u[16];
        int ok = n == 36;
        for (size_t i = 0, k = 0; ok && i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                ok = s[i] == '-';
                continue;
            }
            int h = hexval(s[i]);
            if (h < 0) {
                ok = 0;
                break;
            }
            if (k % 2 == 0)
                u[k / 2] = (uint8_t)(h << 4);
            else
                u[k / 2] |= (uint8_t)h;
            k++;
        }
        if (!ok)
            return fail(c, at, "\"%s\" is not a UUID like 00112233-4455-6677-8899-aabbccddeeff",
                        show(s, n, b));
        if (need(c, 21) != 0)
            return W_ERR;
        put4(c, 16);
        put1(c, BSON_SUBTYPE_UUID);
        memcpy(c->out + c->len, u, 16);
        c->len += 16;
        type = BSON_TYPE_BINARY;
        break;
    }
    case KW_BINARY: {
        unsigned sub;
        if (*c->p == '"') {
            /* Legacy {"$binary": "<base64>", "$type": "<hex>"}. */
            size_t val = c->len, dn;
            if (read_base64(c, &off, &dn) != 0)
                return W_ERR;
            int r = next_member(c);
            if (r < 0)
                return W_ERR;
            if (r == 0)
                return fail(c, ob, "missing \"$type\" after \"$binary\"");
            if (expect_key(c, "$type") != 0 || read_subtype(c, &sub) != 0)
                return W_ERR;
            c->len = off + dn;
            if (put_binary(c, val, off, dn, sub) != 0)
                return W_ERR;
        } else if (*c->p == '{') {
            int have_b = 0, have_s = 0;
            size_t val = c->len, boff = 0, bn = 0;
            c->p++;
            for (;;) {
                size_t ko, kn;
                skip_ws(c);
                const uint8_t *kat = c->p;
                if (c->p < c->end && *c->p == '}' && !have_b && !have_s)
                    return fail(c, kat, "missing \"base64\" and \"subType\"");
                if (scratch_key(c, &ko, &kn) != 0)
                    return W_ERR;
                c->len = ko;
                int isb = kn == 6 && memcmp(c->out + ko, "base64", 6) == 0;
                int iss = kn == 7 && memcmp(c->out + ko, "subType", 7) == 0;
                if ((!isb && !iss) || (isb && have_b) || (iss && have_s))
                    return unexpected_key(c, kat, ko, kn);
                if (colon(c) != 0)
                    return W_ERR;
                if (isb) {
                    if (read_base64(c, &boff, &bn) != 0)
                        return W_ERR;
                    have_b = 1;
                } else {
                    if (read_subtype(c, &sub) != 0)
                        return W_ERR;
                    have_s = 1;
                }
                int r = next_member(c);
                if (r < 0)
                    return W_ERR;
                if (r == 0)
                    break;
            }
            if (!have_b)
                return fail(c, ob, "missing \"base64\"");
            if (!have_s)
                return fail(c, ob, "missing \"subType\"");
            if (put_binary(c, val, boff, bn, sub) != 0)
                return W_ERR;
        } else {
            return fail(c, at, "expected {\"base64\":…,\"subType\":…} or a base64 string");
        }
        type = BSON_TYPE_BINARY;
        break;
    }
    case KW_TYPE: {
        /* Legacy binary when the value is a 1-2 digit hex string (then
         * "$binary" must follow); otherwise the $type query operator, a
         * plain document. */
        size_t doc = c->len;
        if (need(c, 4 + 1 + 6) != 0)
            return W_ERR;
        c->len += 4;
        size_t kel = c->len;
        put1(c, BSON_TYPE_UTF8);
        memcpy(c->out + c->len, "$type", 6);
        c->len += 6;
        if (*c->p == '"') {
            size_t sv = c->len;
            if (put_string_value(c) != 0)
                return W_ERR;
            unsigned sub;
            if (subtype_text(c->out + sv + 4, c->len - sv - 5, &sub)) {
                c->len = doc;
                int r = next_member(c);
                if (r < 0)
                    return W_ERR;
                c->wkw = kw_names[KW_BINARY];
                if (r == 0)
                    return fail(c, ob, "missing \"$binary\" after \"$type\"");
                size_t dn;
                if (expect_key(c, "$binary") != 0)
                    return W_ERR;
                if (*c->p != '"')
                    return fail(c, c->p, "with \"$type\", \"$binary\" must be a base64 string");
                if (read_base64(c, &off, &dn) != 0 || put_binary(c, doc, off, dn, sub) != 0)
                    return W_ERR;
                type = BSON_TYPE_BINARY;
                break;
            }
            c->out[el] = BSON_TYPE_DOCUMENT;
            c->wkw = NULL;
            if (push(c, ob, K_DOC, doc) != 0)
                return W_ERR;
            return W_AFTER;
        }
        c->out[el] = BSON_TYPE_DOCUMENT;
        c->wkw = NULL;
        if (push(c, ob, K_DOC, doc) != 0)
            return W_ERR;
        c->next_el = kel;
        return W_VALUE;
    }
    case KW_REGEX:
    case KW_OPTIONS: {
        if (kw == KW_REGEX && *c->p != '"') {
            /* The $regex query operator with a non-string value. */
            size_t doc = c->len;
            if (need(c, 4 + 1 + 7) != 0)
                return W_ERR;
            c->len += 4;
            size_t kel = c->len;
            put1(c, 0);
            memcpy(c->out + c->len, "$regex", 7);
            c->len += 7;
            c->out[el] = BSON_TYPE_DOCUMENT;
            c->wkw = NULL;
            if (push(c, ob, K_DOC, doc) != 0)
                return W_ERR;
            c->next_el = kel;
            return W_VALUE;
        }
        /* Legacy {"$regex": "…", "$options": "…"}, either order; the pattern
         * ends up at the value position, the options as a flag set. */
        unsigned flags = 0;
        int have_p = 0, have_o = 0, cur = kw;
        for (;;) {
            const uint8_t *vat = c->p;
            int nul;
            if (cur == KW_REGEX) {
                if (scratch_string(c, "\"$regex\"", &off, &n, &nul) != 0)
                    return W_ERR;
                if (nul)
                    return fail(c, vat, "the pattern contains U+0000");
                have_p = 1;
            } else {
                if (scratch_string(c, "\"$options\"", &off, &n, &nul) != 0)
                    return W_ERR;
                if (nul)
                    return fail(c, vat, "the options contain U+0000");
                flags = regex_flags(c->out + off, n);
                c->len = off;
                have_o = 1;
            }
            int r = next_member(c);
            if (r < 0)
                return W_ERR;
            if (r == 0)
                break;
            skip_ws(c);
            const uint8_t *kat = c->p;
            size_t ko, kn;
            if (scratch_key(c, &ko, &kn) != 0)
                return W_ERR;
            c->len = ko;
            int k2 = keyword(c->out + ko, kn);
            if (!((k2 == KW_REGEX && !have_p) || (k2 == KW_OPTIONS && !have_o)))
                return unexpected_key(c, kat, ko, kn);
            if (colon(c) != 0)
                return W_ERR;
            cur = k2;
        }
        c->wkw = kw_names[KW_REGEX];
        if (!have_p)
            return fail(c, ob, "missing \"$regex\" after \"$options\"");
        /* The pattern sits at the value position (the options, read into
         * scratch space, were released). */
        if (need(c, 8) != 0)
            return W_ERR;
        put1(c, 0);
        put_regex_flags(c, flags);
        type = BSON_TYPE_REGEX;
        closed = 1;
        break;
    }
    case KW_REGEXP: {
        if (*c->p != '{')
            return fail(c, at, "expected {\"pattern\":…,\"options\":…}");
        c->p++;
        unsigned flags = 0;
        int have_p = 0, have_o = 0;
        for (;;) {
            size_t ko, kn;
            skip_ws(c);
            const uint8_t *kat = c->p;
            if (c->p < c->end && *c->p == '}' && !have_p && !have_o)
                return fail(c, kat, "missing \"pattern\" and \"options\"");
            if (scratch_key(c, &ko, &kn) != 0)
                return W_ERR;
            c->len = ko;
            int isp = kn == 7 && memcmp(c->out + ko, "pattern", 7) == 0;
            int iso = kn == 7 && memcmp(c->out + ko, "options", 7) == 0;
            if ((!isp && !iso) || (isp && have_p) || (iso && have_o))
                return unexpected_key(c, kat, ko, kn);
            if (colon(c) != 0)
                return W_ERR;
            const uint8_t *vat = c->p;
            int nul;
            if (scratch_string(c, isp ? "\"pattern\"" : "\"options\"", &off, &n, &nul) != 0)
                return W_ERR;
            if (nul)
                return fail(c, vat, "the %s contain%s U+0000", isp ? "pattern" : "options",
                            isp ? "s" : "");
            if (isp) {
                have_p = 1;
            } else {
                flags = regex_flags(c->out + off, n);
                c->len = off;
                have_o = 1;
            }
            int r = next_member(c);
            if (r < 0)
                return W_ERR;
            if (r == 0)
                break;
        }
        if (!have_p)
            return fail(c, ob, "missing \"pattern\"");
        if (!have_o)
            return fail(c, ob, "missing \"options\"");
        if (need(c, 8) != 0)
            return W_ERR;
        put1(c, 0);
        put_regex_flags(c, flags);
        type = BSON_TYPE_REGEX;
        break;
    }
    case KW_TIMESTAMP: {
        if (*c->p != '{')
            return fail(c, at, "expected {\"t\":…,\"i\":…}");
        c->p++;
        uint32_t t = 0, i = 0;
        int have_t = 0, have_i = 0;
        for (;;) {
            size_t ko, kn;
            skip_ws(c);
            const uint8_t *kat = c->p;
            if (c->p < c->end && *c->p == '}' && !have_t && !have_i)
                return fail(c, kat, "missing \"t\" and \"i\"");
            if (scratch_key(c, &ko, &kn) != 0)
                return W_ERR;
            c->len = ko;
            int ist = kn == 1 && c->out[ko] == 't';
            int isi = kn == 1 && c->out[ko] == 'i';
            if ((!ist && !isi) || (ist && have_t) || (isi && have_i))
                return unexpected_key(c, kat, ko, kn);
            if (colon(c) != 0)
                return W_ERR;
            if (read_u32_literal(c, ist ? "\"t\"" : "\"i\"", ist ? &t : &i) != 0)
                return W_ERR;
            have_t |= ist;
            have_i |= isi;
            int r = next_member(c);
            if (r < 0)
                return W_ERR;
            if (r == 0)
                break;
        }
        if (!have_t)
            return fail(c, ob, "missing \"t\"");
        if (!have_i)
            return fail(c, ob, "missing \"i\"");
        if (need(c, 8) != 0)
            return W_ERR;
        put4(c, i);
        put4(c, t);
        type = BSON_TYPE_TIMESTAMP;
        break;
    }
    case KW_DBPOINTER: {
        if (*c->p != '{')
            return fail(c, at, "expected {\"$ref\":…,\"$id\":…}");
        c->p++;
        uint8_t oid[12];
        int have_r = 0, have_i = 0;
        for (;;) {
            size_t ko, kn;
            skip_ws(c);
            const uint8_t *kat = c->p;
            if (c->p < c->end && *c->p == '}' && !have_r && !have_i)
                return fail(c, kat, "missing \"$ref\" and \"$id\"");
            if (scratch_key(c, &ko, &kn) != 0)
                return W_ERR;
            c->len = ko;
            int isr = kn == 4 && memcmp(c->out + ko, "$ref", 4) == 0;
            int isi = kn == 3 && memcmp(c->out + ko, "$id", 3) == 0;
            if ((!isr && !isi) || (isr && have_r) || (isi && have_i))
                return unexpected_key(c, kat, ko, kn);
            if (colon(c) != 0)
                return W_ERR;
            if (isr) {
                if (*c->p != '"')
                    return fail(c, c->p, "\"$ref\" must be a string");
                /* The namespace goes at the value position. */
                if (put_string_value(c) != 0)
                    return W_ERR;
                have_r = 1;
            } else {
                const uint8_t *iat = c->p;
                if (*c->p != '{')
                    return fail(c, iat, "\"$id\" must be {\"$oid\":…}");
                c->p++;
                size_t save = c->len;
                if (expect_key(c, "$oid") != 0)
                    return W_ERR;
                c->wkw = "$oid";
                if (read_oid(c, oid) != 0 || wrapper_end(c) != 0)
                    return W_ERR;
                c->wkw = kw_names[KW_DBPOINTER];
                c->len = save;
                have_i = 1;
            }
            int r = next_member(c);
            if (r < 0)
                return W_ERR;
            if (r == 0)
                break;
        }
        if (!have_r)
            return fail(c, ob, "missing \"$ref\"");
        if (!have_i)
            return fail(c, ob, "missing \"$id\"");
        if (need(c, 12) != 0)
            return W_ERR;
        memcpy(c->out + c->len, oid, 12);
        c->len += 12;
        type = BSON_TYPE_DBPOINTER;
        break;
    }
    case KW_DATE: {
        int64_t ms = 0;   /* every branch sets it or fails; -O3 cannot tell */
        if (*c->p == '"') {
            if (scratch_string(c, "the date", &off, &n, NULL) != 0)
                return W_ERR;
            c->len = off;
            if (parse_iso_date(c, at, c->out + off, n, &ms) != 0)
                return W_ERR;
        } else if (*c->p == '{') {
            c->p++;
            if (expect_key(c, "$numberLong") != 0)
                return W_ERR;
            const uint8_t *vat = c->p;
            if (scratch_string(c, "\"$numberLong\"", &off, &n, NULL) != 0)
                return W_ERR;
            c->len = off;
            if (!parse_i64_text(c->out + off, n, &ms))
                return fail(c, vat, "\"%s\" is not a 64-bit integer", show(c->out + off, n, b));
            if (wrapper_end(c) != 0)
                return W_ERR;
        } else if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) {
            int neg;
            uint64_t mag;
            if (read_int_literal(c, "the date", &neg, &mag) != 0)
                return W_ERR;
            if (neg ? mag > (uint64_t)INT64_MAX + 1 : mag > INT64_MAX)
                return fail(c, at, "the date is out of range");
            ms = neg ? (int64_t)(0 - mag) : (int64_t)mag;
        } else {
            return fail(c, at,
                        "expected an ISO-8601 string, {\"$numberLong\":…} or an integer");
        }
        if (need(c, 8) != 0)
            return W_ERR;
        put8(c, (uint64_t)ms);
        type = BSON_TYPE_DATE_TIME;
        break;
    }
    case KW_MINKEY:
    case KW_MAXKEY: {
        int neg;
        uint64_t mag;
        if (*c->p != '-' && (*c->p < '0' || *c->p > '9'))
            return fail(c, at, "the value must be 1");
        if (read_int_literal(c, "the value", &neg, &mag) != 0)
            return W_ERR;
        if (neg || mag != 1)
            return fail(c, at, "the value must be 1");
        type = kw == KW_MINKEY ? BSON_TYPE_MINKEY : BSON_TYPE_MAXKEY;
        break;
    }
    case KW_UNDEFINED:
        if (c->end - c->p < 4 || memcmp(c->p, "true", 4) != 0)
            return fail(c, at, "the value must be true");
        c->p += 4;
        type = BSON_TYPE_UNDEFINED;
        break;
    case KW_CODE:
    case KW_SCOPE: {
        size_t val = c->len;
        if (kw == KW_CODE) {
            if (*c->p != '"')
                return fail(c, at, "the code must be a string");
            if (put_string_value(c) != 0)
                return W_ERR;
            int r = next_member(c);
            if (r < 0)
                return W_ERR;
            if (r == 0) {
                type = BSON_TYPE_CODE;
                closed = 1;
                break;
            }
            if (expect_key(c, "$scope") != 0)
                return W_ERR;
            if (*c->p != '{')
                return fail(c, c->p, "\"$scope\" must be an object");
            /* Make room for the code-with-scope total in front. */
            size_t sn = c->len - val;
            if (need(c, 4) != 0)
                return W_ERR;
            memmove(c->out + val + 4, c->out + val, sn);
            c->len += 4;
            c->scope_has_code = 1;
        } else {
            if (*c->p != '{')
                return fail(c, at, "\"$scope\" must be an object");
            if (need(c, 4) != 0)
                return W_ERR;
            c->len += 4;
            c->scope_has_code = 0;
        }
        /* Open the scope document and hand it to the main loop. */
        const uint8_t *sb = c->p;
        c->p++;
        c->out[el] = BSON_TYPE_CODEWSCOPE;
        c->scope_cws = (uint32_t)val;
        if (need(c, 4) != 0)
            return W_ERR;
        c->wkw = NULL;
        if (push(c, sb, K_SCOPE, c->len) != 0)
            return W_ERR;
        c->len += 4;
        c->in_scope = 1;
        return W_SCOPE;
    }
    default:
        return fail(c, at, "internal error: unknown wrapper");
    }
    if (!closed && wrapper_end(c) != 0)
        return W_ERR;
    c->out[el] = type;
    c->wkw = NULL;
    return W_DONE;
}

/* The scope document of the open $code/$scope wrapper has closed: read the
 * rest of the wrapper and complete the code-with-scope value. */
static int scope_done(parser_t *c)
{
    c->in_scope = 0;
    c->wkw = "$code";
    size_t cws = c->scope_cws;
    if (!c->scope_has_code) {
        int r = next_member(c);
        if (r < 0)
            return -1;
        if (r == 0)
            return fail(c, c->p - 1, "missing \"$code\" after \"$scope\"");
        if (expect_key(c, "$code") != 0)
            return -1;
        if (*c->p != '"')
            return fail(c, c->p, "the code must be a string");
        /* [total][scope doc][code string] -> [total][code string][scope]. */
        size_t doc = cws + 4, dn = c->len - doc, n;
        if (read_string(c, &n, NULL) != 0)
            return -1;
        if (need(c, 5) != 0)
            return -1;
        uint8_t *o = c->out;
        /* Rotate [doc | text] into [text | doc] by three reversals. */
        size_t tn = n;
        for (size_t i = 0, j = dn - 1; i < j; i++, j--) {
            uint8_t t = o[doc + i];
            o[doc + i] = o[doc + j];
            o[doc + j] = t;
        }
        for (size_t i = 0, j = tn ? tn - 1 : 0; tn && i < j; i++, j--) {
            uint8_t t = o[doc + dn + i];
            o[doc + dn + i] = o[doc + dn + j];
            o[doc + dn + j] = t;
        }
        for (size_t i = 0, j = dn + tn - 1; i < j; i++, j--) {
            uint8_t t = o[doc + i];
            o[doc + i] = o[doc + j];
            o[doc + j] = t;
        }
        /* Now [text][doc]: insert the int32 length before and NUL after. */
        memmove(o + doc + tn + 5, o + doc + tn, dn);
        memmove(o + doc + 4, o + doc, tn);
        put4_at(c, doc, (uint32_t)(tn + 1));
        o[doc + 4 + tn] = 0;
        c->len += 5;
    }
    if (wrapper_end(c) != 0)
        return -1;
    size_t total = c->len - cws;
    if (total > INT32_MAX)
        return fail(c, c->p, "the document would exceed the BSON size limit");
    put4_at(c, cws, (uint32_t)total);
    c->wkw = NULL;
    return 0;
}

/* ---- the document ------------------------------------------------------ */

static size_t put_index(uint8_t *o, uint32_t i)
{
    if (i < 10) {
        o[0] = (uint8_t)('0' + i);
        o[1] = 0;
        return 2;
    }
    char t[12];
    size_t k = sizeof t;
    do {
        t[--k] = (char)('0' + i % 10);
        i /= 10;
    } while (i);
    size_t n = sizeof t - k;
    memcpy(o, t + k, n);
    o[n] = 0;
    return n + 1;
}

static int run(parser_t *c)
{
    size_t el = 0; /* offset of the current element's type byte */
    skip_ws(c);
    if (c->p >= c->end || *c->p != '{') {
        if (c->err && c->errlen)
            snprintf(c->err, c->errlen, "expected a JSON object (a change event)");
        return -1;
    }
    const uint8_t *open = c->p++;
    if (push(c, open, K_DOC, 0) != 0)
        return -1;
    put4(c, 0);

obj_first:
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        goto close;
    }
    goto obj_key;

obj_next:
    skip_ws(c);
    if (c->p < c->end && *c->p == '}')
        return fail(c, c->p, "trailing comma before '}'");

obj_key : {
    if (c->p >= c->end)
        return fail(c, c->p, "unterminated JSON object");
    if (*c->p != '"')
        return fail(c, c->p, "expected a string key");
    const uint8_t *kat = c->p;
    size_t n;
    int nul;
    if (need(c, 1) != 0)
        return -1;
    el = c->len;
    put1(c, 0);
    if (read_string(c, &n, &nul) != 0)
        return -1;
    if (nul)
        return fail(c, kat, "U+0000 is not allowed in a key");
    put1(c, 0); /* read_string left room */
    if (colon(c) != 0)
        return -1;
    goto value;
}

arr_first:
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        goto close;
    }
    goto arr_elem;

arr_next:
    skip_ws(c);
    if (c->p < c->end && *c->p == ']')
        return fail(c, c->p, "trailing comma before ']'");

arr_elem : {
    if (c->p >= c->end)
        return fail(c, c->p, "unterminated array");
    if (need(c, 12) != 0)
        return -1;
    frame_t *f = &c->stack[c->depth - 1];
    el = c->len;
    put1(c, 0);
    c->len += put_index(c->out + c->len, f->idx++);
    goto value;
}

value : {
    const uint8_t *vat = c->p;
    int t;
    switch (*c->p) {
    case '"':
        if (put_string_value(c) != 0)
            return -1;
        c->out[el] = BSON_TYPE_UTF8;
        goto after_value;
    case '{': {
        c->p++;
        skip_ws(c);
        if (c->p >= c->end)
            return fail(c, c->p, "unterminated JSON object");
        if (*c->p == '}') {
            if (c->depth >= CC_EJSON_MAX_DEPTH)
                return fail(c, vat, "nested deeper than %d levels", CC_EJSON_MAX_DEPTH);
            c->p++;
            if (need(c, 5) != 0)
                return -1;
            put4(c, 5);
            put1(c, 0);
            c->out[el] = BSON_TYPE_DOCUMENT;
            goto after_value;
        }
        if (*c->p != '"')
            return fail(c, c->p, "expected a string key");
        const uint8_t *kat = c->p;
        size_t doc = c->len, n;
        int nul;
        if (need(c, 5) != 0)
            return -1;
        c->len += 4;
        size_t kel = c->len;
        put1(c, 0);
        if (read_string(c, &n, &nul) != 0)
            return -1;
        int kw = keyword(c->out + kel + 1, n);
        if (kw != KW_NONE && c->in_scope && (kw == KW_CODE || kw == KW_SCOPE))
            kw = KW_NONE;
        if (kw == KW_NONE) {
            if (nul)
                return fail(c, kat, "U+0000 is not allowed in a key");
            put1(c, 0);
            c->out[el] = BSON_TYPE_DOCUMENT;
            if (push(c, vat, K_DOC, doc) != 0)
                return -1;
            el = kel;
            if (colon(c) != 0)
                return -1;
            goto value;
        }
        c->len = doc;
        if (colon(c) != 0)
            return -1;
        switch (wrapper(c, kw, el, vat)) {
        case W_DONE:
        case W_AFTER:
            goto after_value;
        case W_VALUE:
            el = c->next_el;
            goto value;
        case W_SCOPE:
            goto obj_first;
        default:
            return -1;
        }
    }
    case '[':
        c->p++;
        if (need(c, 4) != 0)
            return -1;
        c->out[el] = BSON_TYPE_ARRAY;
        if (push(c, vat, K_ARR, c->len) != 0)
            return -1;
        c->len += 4;
        goto arr_first;
    case 't':
        if (c->end - c->p < 4 || memcmp(c->p, "true", 4) != 0)
            goto bad_value;
        c->p += 4;
        if (need(c, 1) != 0)
            return -1;
        put1(c, 1);
        c->out[el] = BSON_TYPE_BOOL;
        goto after_value;
    case 'f':
        if (c->end - c->p < 5 || memcmp(c->p, "false", 5) != 0)
            goto bad_value;
        c->p += 5;
        if (need(c, 1) != 0)
            return -1;
        put1(c, 0);
        c->out[el] = BSON_TYPE_BOOL;
        goto after_value;
    case 'n':
        if (c->end - c->p < 4 || memcmp(c->p, "null", 4) != 0)
            goto bad_value;
        c->p += 4;
        c->out[el] = BSON_TYPE_NULL;
        goto after_value;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        if ((t = put_number(c)) < 0)
            return -1;
        c->out[el] = (uint8_t)t;
        goto after_value;
    case 'N':
    case 'I':
        return fail(c, vat, "NaN and Infinity must be written as {\"$numberDouble\":\"...\"}");
    default:
    bad_value:
        return fail(c, vat, "expected a value");
    }
}

after_value : {
    skip_ws(c);
    frame_t *f = &c->stack[c->depth - 1];
    if (c->p >= c->end)
        return fail(c, c->p, f->kind == K_ARR ? "unterminated array" : "unterminated JSON object");
    uint8_t ch = *c->p;
    if (f->kind == K_ARR) {
        if (ch == ',') {
            c->p++;
            goto arr_next;
        }
        if (ch == ']') {
            c->p++;
            goto close;
        }
        return fail(c, c->p, "expected ',' or ']' after an array element");
    }
    if (ch == ',') {
        c->p++;
        goto obj_next;
    }
    if (ch == '}') {
        c->p++;
        goto close;
    }
    return fail(c, c->p, "expected ',' or '}' after an object member");
}

close : {
    frame_t *f = &c->stack[--c->depth];
    if (need(c, 1) != 0)
        return -1;
    put1(c, 0);
    size_t n = c->len - f->start;
    if (n > INT32_MAX)
        return fail(c, c->p, "the document would exceed the BSON size limit");
    put4_at(c, f->start, (uint32_t)n);
    if (c->depth == 0)
        return 0;
    if (f->kind == K_SCOPE) {
        if (scope_done(c) != 0)
            return -1;
    }
    goto after_value;
}
}

/* Runs the parser over the whole input. On 0, c->out[0..c->len) is the
 * BSON; the caller frees c->out when c->heap. */
static int parse_all(parser_t *c, const char *json, size_t len, char *err, size_t errlen)
{
    c->base = c->p = (const uint8_t *)json;
    c->end = c->base + len;
    c->out = c->sbuf;
    c->len = 0;
    c->cap = sizeof c->sbuf;
    c->heap = 0;
    c->err = err;
    c->errlen = errlen;
    c->wkw = NULL;
    c->in_scope = 0;
    c->scope_has_code = 0;
    c->depth = 0;
    if (err && errlen)
        err[0] = '\0';
    int rc = run(c);
    if (rc == 0) {
        skip_ws(c);
        if (c->p != c->end) {
            if (err && errlen)
                snprintf(err, errlen, "unexpected data after the JSON object at byte %zu",
                         (size_t)(c->p - c->base));
            rc = -1;
        }
    }
    return rc;
}

int cc_ejson_parse(const char *json, size_t len, bson_t *doc, char *err, size_t errlen)
{
    parser_t c;
    int rc = parse_all(&c, json, len, err, errlen);
    if (rc == 0) {
        bson_init(doc);
        uint8_t *d = bson_reserve_buffer(doc, (uint32_t)c.len);
        if (!d) {
            bson_destroy(doc);
            if (err && errlen)
                snprintf(err, errlen, "out of memory");
            rc = -1;
        } else {
            memcpy(d, c.out, c.len);
        }
    }
    if (c.heap)
        free(c.out);
    return rc == 0 ? 0 : CC_EPARSE;
}

int cc_ejson_parse_view(const char *json, size_t len, cc_buf_t *scratch, bson_t *view, char *err,
                        size_t errlen)
{
    parser_t c;
    int rc = parse_all(&c, json, len, err, errlen);
    if (rc == 0) {
        cc_buf_reset(scratch);
        cc_buf_append(scratch, c.out, c.len);
        if (scratch->oom || !bson_init_static(view, (const uint8_t *)scratch->data, c.len)) {
            if (err && errlen)
                snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    if (c.heap)
        free(c.out);
    return rc == 0 ? 0 : CC_EPARSE;
}
