/* core/ejson.c — compact relaxed Extended JSON writer (the parser is in
 * core/ejson_parse.c).
 *
 * Written by hand rather than with bson_as_relaxed_extended_json because
 * that one puts spaces after every ':' and ',' and writes dates without
 * their milliseconds when they are zero.
 */
#include "core/ejson.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <float.h>
#include <limits.h>
#include <string.h>

#include "changecast/error.h"
#include "core/bson_next.h"

/* ---- scalars ---------------------------------------------------------- */

/* Fast path for the common short decimals (12.5, 0.25, 19.99): the first
 * k <= 6 for which m = round(d * 10^k) gives back d as m / 10^k. IEEE
 * division is correctly rounded and m and 10^k are exact, so m / 10^k == d
 * exactly when strtod would read the text "m with k decimals" as d. Only
 * where %g would also print fixed notation (1e-4 <= |d| < 1e15). Returns the
 * length written, or 0 to take the slow path. */
static size_t short_decimal(char *buf, double d)
{
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
    double a = fabs(d);
    if (!(a >= 1e-4 && a < 1e9))
        return 0;
    for (int k = 1; k <= 6; k++) {
        double m = nearbyint(a * pow10[k]);
        if (m / pow10[k] != a)
            continue;
        if (m >= 1e15)
            return 0;
        /* Digits of m with the point k places from the right. */
        char tmp[24];
        size_t i = sizeof tmp;
        uint64_t v = (uint64_t)m;
        for (int j = 0; j < k; j++) {
            tmp[--i] = (char)('0' + v % 10);
            v /= 10;
        }
        tmp[--i] = '.';
        do {
            tmp[--i] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        if (d < 0)
            tmp[--i] = '-';
        size_t n = sizeof tmp - i;
        memcpy(buf, tmp + i, n);
        buf[n] = '\0';
        return n;
    }
    return 0;
}

size_t cc_ejson_double_text(char buf[32], double d)
{
    int n;
    if (isnan(d))
        return (size_t)snprintf(buf, 32, "NaN");
    if (isinf(d))
        return (size_t)snprintf(buf, 32, d < 0 ? "-Infinity" : "Infinity");
    /* Integral values below 1e15 print exactly with %.0f: the fast path for
     * the common case (counts, prices in cents, ids). -0.0 gives "-0". */
    if (fabs(d) < 1e15 && d == trunc(d)) {
        n = snprintf(buf, 32, "%.0f", d);
    } else if ((n = (int)short_decimal(buf, d)) > 0) {
        return (size_t)n;
    } else {
        /* For a normal double, a text of at most 15 significant digits that
         * reads back is its correctly rounded 15-digit form (the 15-digit
         * grid is coarser than the double's half-ulp), which %g prints
         * without trailing zeros; otherwise 16, and 17 always reads back.
         * Subnormals have fewer bits, so they search from 1 digit. */
        n = 0;
        for (int prec = fabs(d) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
            n = snprintf(buf, 32, "%.*g", prec, d);
            if (strtod(buf, NULL) == d)
                break;
        }
    }
    if (n < 0 || n > 29)
        n = 0;   /* cannot happen: %.17g of a double fits in 24 bytes */
    if (!strpbrk(buf, ".e")) {
        buf[n++] = '.';
        buf[n++] = '0';
        buf[n] = '\0';
    }
    return (size_t)n;
}

void cc_ejson_double(cc_buf_t *out, double d)
{
    char text[32];
    size_t n = cc_ejson_double_text(text, d);
    if (isfinite(d)) {
        cc_buf_append(out, text, n);
    } else {
        cc_buf_lit(out, "{\"$numberDouble\":\"");
        cc_buf_append(out, text, n);
        cc_buf_lit(out, "\"}");
    }
}

/* Days since 1970-01-01 to a civil date (proleptic Gregorian; H. Hinnant's
 * days_from_civil inverse). Valid for the whole int64 range we use. */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

/* 9999-12-31T23:59:59.999Z in milliseconds since the epoch. */
#define CC__DATE_MAX_MS INT64_C(253402300799999)

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

static void put_date(cc_buf_t *out, int64_t ms)
{
    if (ms < 0 || ms > CC__DATE_MAX_MS) {
        cc_buf_lit(out, "{\"$date\":{\"$numberLong\":\"");
        cc_buf_put_int(out, ms);
        cc_buf_lit(out, "\"}}");
        return;
    }
    int64_t days = ms / 86400000;
    int64_t rem = ms % 86400000;
    int y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    unsigned h = (unsigned)(rem / 3600000);
    unsigned mi = (unsigned)(rem / 60000 % 60);
    unsigned s = (unsigned)(rem / 1000 % 60);
    unsigned milli = (unsigned)(rem % 1000);
    /* {"$date":"YYYY-MM-DDTHH:MM:SS.mmmZ"} */
    char t[] = "{\"$date\":\"0000-00-00T00:00:00.000Z\"}";
    char *p = t + 10;
    p[0] = (char)('0' + y / 1000);
    p[1] = (char)('0' + y / 100 % 10);
    p[2] = (char)('0' + y / 10 % 10);
    p[3] = (char)('0' + y % 10);
    put2(p + 5, mo);
    put2(p + 8, d);
    put2(p + 11, h);
    put2(p + 14, mi);
    put2(p + 17, s);
    p[20] = (char)('0' + milli / 100);
    put2(p + 21, milli % 100);
    cc_buf_append(out, t, sizeof t - 1);
}

static void put_oid(cc_buf_t *out, const bson_oid_t *oid)
{
    char hex[25];
    bson_oid_to_string(oid, hex);
    cc_buf_lit(out, "{\"$oid\":\"");
    cc_buf_append(out, hex, 24);
    cc_buf_lit(out, "\"}");
}

static void put_base64(cc_buf_t *out, const uint8_t *p, uint32_t n)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (cc_buf_reserve(out, ((size_t)n + 2) / 3 * 4) != 0)
        return;
    char *o = out->data + out->len;
    uint32_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tbl[v >> 18];
        *o++ = tbl[v >> 12 & 63];
        *o++ = tbl[v >> 6 & 63];
        *o++ = tbl[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = tbl[v >> 18];
        *o++ = tbl[v >> 12 & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = tbl[v >> 18];
        *o++ = tbl[v >> 12 & 63];
        *o++ = tbl[v >> 6 & 63];
        *o++ = '=';
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
}

static void put_string(cc_buf_t *out, const char *s, uint32_t n)
{
    cc_buf_json_string(out, s ? s : "", s ? n : 0);
}

/* The spec wants regex options in alphabetical order. */
static void put_regex(cc_buf_t *out, const char *pattern, const char *options)
{
    char opts[16];
    size_t n = 0;
    size_t olen = options ? strlen(options) : 0;
    if (olen < sizeof opts) {
        for (size_t i = 0; i < olen; i++) {
            char c = options[i];
            size_t j = n++;
            while (j > 0 && opts[j - 1] > c) {
                opts[j] = opts[j - 1];
                j--;
            }
            opts[j] = c;
        }
    }
    cc_buf_lit(out, "{\"$regularExpression\":{\"pattern\":");
    put_string(out, pattern, pattern ? (uint32_t)strlen(pattern) : 0);
    cc_buf_lit(out, ",\"options\":");
    if (olen < sizeof opts)
        cc_buf_json_string(out, opts, n);
    else
        cc_buf_json_string(out, options, olen);
    cc_buf_lit(out, "}}");
}

/* ---- containers ------------------------------------------------------- */

static int put_value(cc_buf_t *out, const bson_iter_t *it, int depth);

/* Renders the elements of the container `child` (already recursed into).
 * `depth` is the nesting level of that container, 1 for a top document. */
static int put_container(cc_buf_t *out, bson_iter_t *child, int is_array, int depth)
{
    if (depth > CC_EJSON_MAX_DEPTH)
        return CC_ERANGE;
    cc_buf_putc(out, is_array ? '[' : '{');
    int first = 1;
    while (cc_bson_next(child)) {
        if (!first)
            cc_buf_putc(out, ',');
        first = 0;
        if (!is_array) {
            cc_buf_json_string(out, bson_iter_key_unsafe(child), cc_bson_key_len(child));
            cc_buf_putc(out, ':');
        }
        int rc = put_value(out, child, depth);
        if (rc != 0)
            return rc;
    }
    if (child->err_off != 0)
        return CC_EPARSE;
    cc_buf_putc(out, is_array ? ']' : '}');
    return out->oom ? CC_ENOMEM : 0;
}

static int put_value(cc_buf_t *out, const bson_iter_t *it, int depth)
{
    switch (bson_iter_type_unsafe(it)) {
    case BSON_TYPE_DOUBLE:
        cc_ejson_double(out, bson_iter_double(it));
        break;
    case BSON_TYPE_UTF8: {
        size_t n = 0;
        const char *s = bson_iter_utf8_unsafe(it, &n);
        put_string(out, s, (uint32_t)n);
        break;
    }
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY: {
        bson_iter_t child;
        if (!cc_bson_recurse(it, &child))
            return CC_EPARSE;
        return put_container(out, &child, bson_iter_type_unsafe(it) == BSON_TYPE_ARRAY,
                             depth + 1);
    }
    case BSON_TYPE_BINARY: {
        bson_subtype_t sub;
        uint32_t n = 0;
        const uint8_t *p = NULL;
        bson_iter_binary(it, &sub, &n, &p);
        if (!p && n)
            return CC_EPARSE;
        cc_buf_lit(out, "{\"$binary\":{\"base64\":\"");
        put_base64(out, p, n);
        char st[] = "\",\"subType\":\"00\"}}";
        st[13] = "0123456789abcdef"[(unsigned)sub >> 4 & 0xFu];
        st[14] = "0123456789abcdef"[(unsigned)sub & 0xFu];
        cc_buf_append(out, st, sizeof st - 1);
        break;
    }
    case BSON_TYPE_UNDEFINED:
        cc_buf_lit(out, "{\"$undefined\":true}");
        break;
    case BSON_TYPE_OID:
        put_oid(out, bson_iter_oid(it));
        break;
    case BSON_TYPE_BOOL:
        cc_buf_puts(out, bson_iter_bool(it) ? "true" : "false");
        break;
    case BSON_TYPE_DATE_TIME:
        put_date(out, bson_iter_date_time(it));
        break;
    case BSON_TYPE_NULL:
        cc_buf_lit(out, "null");
        break;
    case BSON_TYPE_REGEX: {
        const char *options = NULL;
        const char *pattern = bson_iter_regex(it, &options);
        put_regex(out, pattern, options);
        break;
    }
    case BSON_TYPE_DBPOINTER: {
        uint32_t n = 0;
        const char *coll = NULL;
        const bson_oid_t *oid = NULL;
        bson_iter_dbpointer(it, &n, &coll, &oid);
        if (!oid)
            return CC_EPARSE;
        cc_buf_lit(out, "{\"$dbPointer\":{\"$ref\":");
        put_string(out, coll, n);
        cc_buf_lit(out, ",\"$id\":");
        put_oid(out, oid);
        cc_buf_lit(out, "}}");
        break;
    }
    case BSON_TYPE_CODE: {
        uint32_t n = 0;
        const char *code = bson_iter_code(it, &n);
        cc_buf_lit(out, "{\"$code\":");
        put_string(out, code, n);
        cc_buf_putc(out, '}');
        break;
    }
    case BSON_TYPE_SYMBOL: {
        uint32_t n = 0;
        const char *sym = bson_iter_symbol(it, &n);
        cc_buf_lit(out, "{\"$symbol\":");
        put_string(out, sym, n);
        cc_buf_putc(out, '}');
        break;
    }
    case BSON_TYPE_CODEWSCOPE: {
        uint32_t n = 0, scope_len = 0;
        const uint8_t *scope = NULL;
        const char *code = bson_iter_codewscope(it, &n, &scope_len, &scope);
        bson_t sdoc;
        bson_iter_t child;
        if (!scope || !bson_init_static(&sdoc, scope, scope_len) ||
            !bson_iter_init(&child, &sdoc))
            return CC_EPARSE;
        cc_buf_lit(out, "{\"$code\":");
        put_string(out, code, n);
        cc_buf_lit(out, ",\"$scope\":");
        int rc = put_container(out, &child, 0, depth + 1);
        if (rc != 0)
            return rc;
        cc_buf_putc(out, '}');
        break;
    }
    case BSON_TYPE_INT32:
        cc_buf_put_int(out, bson_iter_int32_unsafe(it));
        break;
    case BSON_TYPE_TIMESTAMP: {
        uint32_t t = 0, i = 0;
        bson_iter_timestamp(it, &t, &i);
        cc_buf_lit(out, "{\"$timestamp\":{\"t\":");
        cc_buf_put_uint(out, t);
        cc_buf_lit(out, ",\"i\":");
        cc_buf_put_uint(out, i);
        cc_buf_lit(out, "}}");
        break;
    }
    case BSON_TYPE_INT64:
        cc_buf_put_int(out, bson_iter_int64_unsafe(it));
        break;
    case BSON_TYPE_DECIMAL128: {
        bson_decimal128_t dec;
        char text[BSON_DECIMAL128_STRING];
        if (!bson_iter_decimal128(it, &dec))
            return CC_EPARSE;
        bson_decimal128_to_string(&dec, text);
        cc_buf_lit(out, "{\"$numberDecimal\":\"");
        cc_buf_puts(out, text);
        cc_buf_lit(out, "\"}");
        break;
    }
    case BSON_TYPE_MAXKEY:
        cc_buf_lit(out, "{\"$maxKey\":1}");
        break;
    case BSON_TYPE_MINKEY:
        cc_buf_lit(out, "{\"$minKey\":1}");
        break;
    case BSON_TYPE_EOD:
    default:
        return CC_EPARSE;
    }
    return out->oom ? CC_ENOMEM : 0;
}

int cc_ejson_append_value(cc_buf_t *out, const bson_iter_t *it)
{
    return put_value(out, it, 0);
}

static int put_top(cc_buf_t *out, const bson_t *doc, int is_array)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return CC_EPARSE;
    return put_container(out, &it, is_array, 1);
}

int cc_ejson_append_document(cc_buf_t *out, const bson_t *doc)
{
    return put_top(out, doc, 0);
}

int cc_ejson_append_array(cc_buf_t *out, const bson_t *arr)
{
    return put_top(out, arr, 1);
}

