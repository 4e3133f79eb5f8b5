/* tests/unit/test_ejson.c — the relaxed Extended JSON writer, the parser
 * wrapper and the JSON string escaper. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "changecast/error.h"
#include "core/buf.h"
#include "core/ejson.h"

/* ---- helpers ---------------------------------------------------------- */

/* Renders `doc` and compares with `want`. */
static void expect_doc(const bson_t *doc, const char *want)
{
    cc_buf_t b = CC_BUF_INIT;
    assert_int_equal(cc_ejson_append_document(&b, doc), 0);
    assert_string_equal(cc_buf_cstr(&b), want);
    cc_buf_free(&b);
}

/* Renders the single value "v" of a one-field document built by `fill`. */
static char *render_v(const bson_t *doc)
{
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, doc, "v"));
    cc_buf_t b = CC_BUF_INIT;
    assert_int_equal(cc_ejson_append_value(&b, &it), 0);
    return cc_buf_steal(&b, NULL);
}

static void expect_double(double d, const char *want)
{
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_DOUBLE(&doc, "v", d);
    char *got = render_v(&doc);
    assert_string_equal(got, want);
    free(got);
    bson_destroy(&doc);
}

static void expect_date(int64_t ms, const char *want)
{
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_DATE_TIME(&doc, "v", ms);
    char *got = render_v(&doc);
    assert_string_equal(got, want);
    free(got);
    bson_destroy(&doc);
}

static char *escape(const char *s, size_t n)
{
    cc_buf_t b = CC_BUF_INIT;
    cc_buf_json_string(&b, s, n);
    return cc_buf_steal(&b, NULL);
}

static void expect_escape(const char *s, size_t n, const char *want)
{
    char *got = escape(s, n);
    assert_string_equal(got, want);
    free(got);
}


/* ---- buffer and escaping ---------------------------------------------- */

static void escape_writes_rfc8259_short_forms(void **state)
{
    (void)state;
    expect_escape("a\"b\\c/", 6, "\"a\\\"b\\\\c/\"");
    expect_escape("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
}

static void escape_writes_other_controls_as_u00xx(void **state)
{
    (void)state;
    expect_escape("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
    expect_escape("a\0b", 3, "\"a\\u0000b\"");
}

static void escape_keeps_valid_utf8(void **state)
{
    (void)state;
    /* é, €, U+10348, U+10FFFF */
    const char *s = "\xc3\xa9\xe2\x82\xac\xf0\x90\x8d\x88\xf4\x8f\xbf\xbf";
    char want[64];
    snprintf(want, sizeof want, "\"%s\"", s);
    expect_escape(s, strlen(s), want);
}

static void escape_replaces_invalid_utf8_with_fffd(void **state)
{
    (void)state;
    expect_escape("a\xff" "b", 3, "\"a\\ufffdb\"");                /* never valid   */
    expect_escape("\x80", 1, "\"\\ufffd\"");                       /* lone continuation */
    expect_escape("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");            /* overlong      */
    expect_escape("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate     */
    expect_escape("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > 10FFFF */
    expect_escape("\xe2\x82" "A", 3, "\"\\ufffdA\"");              /* truncated: one U+FFFD */
    expect_escape("x\xe2\x82", 3, "\"x\\ufffd\"");                 /* truncated at the end */
    expect_escape("\xf0\x90\x8d", 3, "\"\\ufffd\"");
}

static void buf_printf_grows_past_its_stack_buffer(void **state)
{
    (void)state;
    cc_buf_t b = CC_BUF_INIT;
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cc_buf_puts(&b, "<");
    cc_buf_printf(&b, "%s|%d", big, 42);
    assert_int_equal(b.len, 1 + 599 + 3);
    assert_memory_equal(b.data + 600, "|42", 4);
    cc_buf_insert(&b, 0, "[", 1);
    assert_int_equal(b.data[0], '[');
    assert_int_equal(b.data[1], '<');
    cc_buf_truncate(&b, 2);
    assert_string_equal(cc_buf_cstr(&b), "[<");
    size_t n = 0;
    char *s = cc_buf_steal(&b, &n);
    assert_int_equal(n, 2);
    assert_string_equal(s, "[<");
    assert_null(b.data);
    free(s);
    s = cc_buf_steal(&b, &n);   /* empty buffer still gives a C string */
    assert_string_equal(s, "");
    free(s);
}

/* ---- each BSON type --------------------------------------------------- */

static void doubles_are_numbers_that_read_back(void **state)
{
    (void)state;
    expect_double(1.0, "1.0");
    expect_double(1.5, "1.5");
    expect_double(-2.0, "-2.0");
    expect_double(-0.0, "-0.0");
    expect_double(0.0, "0.0");
    expect_double(0.1, "0.1");
    expect_double(1.0 / 3.0, "0.3333333333333333");
    expect_double(1e300, "1e+300");
    expect_double(1e15, "1e+15");
    expect_double(1234567890123456.0, "1234567890123456.0");
    expect_double(5e-324, "5e-324");
    expect_double(2.2250738585072014e-308, "2.2250738585072014e-308");
    expect_double(1e-310, "1e-310");
    expect_double(1.7976931348623157e308, "1.7976931348623157e+308");
    expect_double(123456.789, "123456.789");
}

static void non_finite_doubles_use_numberdouble(void **state)
{
    (void)state;
    expect_double(INFINITY, "{\"$numberDouble\":\"Infinity\"}");
    expect_double(-INFINITY, "{\"$numberDouble\":\"-Infinity\"}");
    expect_double(NAN, "{\"$numberDouble\":\"NaN\"}");
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng_next(void)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717u;
}

static void random_doubles_round_trip_with_shortest_text(void **state)
{
    (void)state;
    char text[32], shorter[400];
    for (int i = 0; i < 200000; i++) {
        double d;
        uint64_t bits = rng_next();
        if (i % 4 == 0) {
            d = (double)(int64_t)(bits >> 11) / 1024.0;   /* short decimals */
        } else if (i % 4 == 1) {
            d = (double)(bits % 100000) / 100.0;         /* prices */
        } else {
            memcpy(&d, &bits, sizeof d);                 /* any bit pattern */
        }
        if (!isfinite(d))
            continue;
        size_t n = cc_ejson_double_text(text, d);
        assert_int_equal(n, strlen(text));
        if (strtod(text, NULL) != d || signbit(strtod(text, NULL)) != signbit(d))
            fail_msg("%.17g written as %s does not read back", d, text);
        if (!strpbrk(text, ".e"))
            fail_msg("%s looks like an integer", text);
        /* Shortest: one significant digit fewer must not read back. */
        /* Significant digits: no leading zeros, no trailing zeros after
         * the point (the ".0" of an integral value). */
        int digits = 0, leading = 1, zeros = 0, after_point = 0;
        for (const char *p = text; *p && *p != 'e'; p++) {
            if (*p == '.')
                after_point = 1;
            if (*p < '0' || *p > '9' || (leading && *p == '0'))
                continue;
            leading = 0;
            digits++;
            zeros = *p == '0' && after_point ? zeros + 1 : 0;
        }
        digits -= zeros;
        if (digits > 1 && !(fabs(d) < 1e15 && d == trunc(d))) {
            snprintf(shorter, sizeof shorter, "%.*g", digits - 1, d);
            if (strtod(shorter, NULL) == d)
                fail_msg("%s is not the shortest text for %.17g (%s)", text, d, shorter);
        }
    }
}

/* The reference: the first precision whose %g text reads back. */
static void shortest_reference(char *out, size_t n, double d)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    if (!strpbrk(out, ".e"))
        strcat(out, ".0");
}

static void short_decimals_match_the_reference_text(void **state)
{
    (void)state;
    static const double scale[] = {1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
    char text[32], want[64];
    for (int i = 0; i < 200000; i++) {
        uint64_t r = rng_next();
        double m = (double)(r % 2000000000u) - 1e9;
        double d = m / scale[(r >> 40) % 8];
        if (d == trunc(d))
            continue;
        cc_ejson_double_text(text, d);
        shortest_reference(want, sizeof want, d);
        if (strcmp(text, want) != 0)
            fail_msg("%.17g written as %s, reference %s", d, text, want);
    }
    expect_double(12.5, "12.5");
    expect_double(-19.99, "-19.99");
    expect_double(0.0001, "0.0001");
    expect_double(0.00001, "1e-05");
    expect_double(999999999.5, "999999999.5");
}

static void integers_are_plain_numbers(void **state)
{
    (void)state;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_INT32(&doc, "i", INT32_MIN);
    BSON_APPEND_INT32(&doc, "j", 7);
    BSON_APPEND_INT64(&doc, "l", INT64_MAX);
    BSON_APPEND_INT64(&doc, "m", INT64_MIN);
    expect_doc(&doc, "{\"i\":-2147483648,\"j\":7,\"l\":9223372036854775807,"
                     "\"m\":-9223372036854775808}");
    bson_destroy(&doc);
}

static void strings_and_keys_are_escaped(void **state)
{
    (void)state;
    bson_t doc = BSON_INITIALIZER;
    bson_append_utf8(&doc, "k\"\n", -1, "v\x01\xff\\", 4);
    bson_append_utf8(&doc, "nul", -1, "a\0b", 3);
    expect_doc(&doc, "{\"k\\\"\\n\":\"v\\u0001\\ufffd\\\\\",\"nul\":\"a\\u0000b\"}");
    bson_destroy(&doc);
}

static void objectid_is_oid_with_lowercase_hex(void **state)
{
    (void)state;
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, "6806A2F1C3B9A1D2E3F40516");
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_OID(&doc, "_id", &oid);
    expect_doc(&doc, "{\"_id\":{\"$oid\":\"6806a2f1c3b9a1d2e3f40516\"}}");
    bson_destroy(&doc);
}

static void dates_from_1970_to_9999_are_iso_with_milliseconds(void **state)
{
    (void)state;
    expect_date(0, "{\"$date\":\"1970-01-01T00:00:00.000Z\"}");
    expect_date(1745257727405, "{\"$date\":\"2025-04-21T17:48:47.405Z\"}");
    expect_date(951782400000, "{\"$date\":\"2000-02-29T00:00:00.000Z\"}");
    expect_date(1709164800123, "{\"$date\":\"2024-02-29T00:00:00.123Z\"}");
    expect_date(4107542399999, "{\"$date\":\"2100-02-28T23:59:59.999Z\"}");
    expect_date(253402300799999, "{\"$date\":\"9999-12-31T23:59:59.999Z\"}");
}

static void dates_outside_1970_to_9999_are_numberlong(void **state)
{
    (void)state;
    expect_date(-1, "{\"$date\":{\"$numberLong\":\"-1\"}}");
    expect_date(-62135596800000, "{\"$date\":{\"$numberLong\":\"-62135596800000\"}}");
    expect_date(253402300800000, "{\"$date\":{\"$numberLong\":\"253402300800000\"}}");
    expect_date(INT64_MAX, "{\"$date\":{\"$numberLong\":\"9223372036854775807\"}}");
    expect_date(INT64_MIN, "{\"$date\":{\"$numberLong\":\"-9223372036854775808\"}}");
}

static void decimal128_is_numberdecimal(void **state)
{
    (void)state;
    bson_decimal128_t dec;
    bson_decimal128_from_string("12345.6789", &dec);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_DECIMAL128(&doc, "d", &dec);
    bson_decimal128_from_string("-Infinity", &dec);
    BSON_APPEND_DECIMAL128(&doc, "e", &dec);
    expect_doc(&doc, "{\"d\":{\"$numberDecimal\":\"12345.6789\"},"
                     "\"e\":{\"$numberDecimal\":\"-Infinity\"}}");
    bson_destroy(&doc);
}

static void binary_is_base64_with_two_hex_digit_subtype(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0xFB, 0xFF, 0x01, 0x02};
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_BINARY(&doc, "a", BSON_SUBTYPE_BINARY, bytes, 0);
    BSON_APPEND_BINARY(&doc, "b", BSON_SUBTYPE_BINARY, bytes, 1);
    BSON_APPEND_BINARY(&doc, "c", BSON_SUBTYPE_UUID, bytes, 2);
    BSON_APPEND_BINARY(&doc, "d", BSON_SUBTYPE_USER, bytes, 3);
    BSON_APPEND_BINARY(&doc, "e", BSON_SUBTYPE_MD5, bytes, 4);
    expect_doc(&doc, "{\"a\":{\"$binary\":{\"base64\":\"\",\"subType\":\"00\"}},"
                     "\"b\":{\"$binary\":{\"base64\":\"+w==\",\"subType\":\"00\"}},"
                     "\"c\":{\"$binary\":{\"base64\":\"+/8=\",\"subType\":\"04\"}},"
                     "\"d\":{\"$binary\":{\"base64\":\"+/8B\",\"subType\":\"80\"}},"
                     "\"e\":{\"$binary\":{\"base64\":\"+/8BAg==\",\"subType\":\"05\"}}}");
    bson_destroy(&doc);
}

static void regex_writes_pattern_and_sorted_options(void **state)
{
    (void)state;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_REGEX(&doc, "r", "^a\"b$", "xmi");
    BSON_APPEND_REGEX(&doc, "s", "", "");
    expect_doc(&doc, "{\"r\":{\"$regularExpression\":{\"pattern\":\"^a\\\"b$\",\"options\":\"imx\"}},"
                     "\"s\":{\"$regularExpression\":{\"pattern\":\"\",\"options\":\"\"}}}");
    bson_destroy(&doc);
}

static void timestamp_writes_t_and_i(void **state)
{
    (void)state;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_TIMESTAMP(&doc, "ts", 4294967295u, 1);
    expect_doc(&doc, "{\"ts\":{\"$timestamp\":{\"t\":4294967295,\"i\":1}}}");
    bson_destroy(&doc);
}

static void minkey_maxkey_undefined_null_and_bools(void **state)
{
    (void)state;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_MINKEY(&doc, "lo");
    BSON_APPEND_MAXKEY(&doc, "hi");
    BSON_APPEND_UNDEFINED(&doc, "u");
    BSON_APPEND_NULL(&doc, "n");
    BSON_APPEND_BOOL(&doc, "t", true);
    BSON_APPEND_BOOL(&doc, "f", false);
    expect_doc(&doc, "{\"lo\":{\"$minKey\":1},\"hi\":{\"$maxKey\":1},\"u\":{\"$undefined\":true},"
                     "\"n\":null,\"t\":true,\"f\":false}");
    bson_destroy(&doc);
}

static void code_scope_symbol_and_dbpointer(void **state)
{
    (void)state;
    bson_t scope = BSON_INITIALIZER;
    BSON_APPEND_INT32(&scope, "x", 1);
    bson_oid_t oid;
    bson_oid_init_from_string(&oid, "6806a2f1c3b9a1d2e3f40516");
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_CODE(&doc, "c", "return \"x\";");
    BSON_APPEND_CODE_WITH_SCOPE(&doc, "cs", "return x;", &scope);
    BSON_APPEND_SYMBOL(&doc, "s", "sym");
    BSON_APPEND_DBPOINTER(&doc, "p", "db.coll", &oid);
    expect_doc(&doc, "{\"c\":{\"$code\":\"return \\\"x\\\";\"},"
                     "\"cs\":{\"$code\":\"return x;\",\"$scope\":{\"x\":1}},"
                     "\"s\":{\"$symbol\":\"sym\"},"
                     "\"p\":{\"$dbPointer\":{\"$ref\":\"db.coll\",\"$id\":"
                     "{\"$oid\":\"6806a2f1c3b9a1d2e3f40516\"}}}}");
    bson_destroy(&doc);
    bson_destroy(&scope);
}

static void nested_documents_and_arrays_are_compact(void **state)
{
    (void)state;
    bson_t doc = BSON_INITIALIZER, sub, arr;
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "d", &sub);
    BSON_APPEND_ARRAY_BEGIN(&sub, "a", &arr);
    BSON_APPEND_INT32(&arr, "0", 1);
    BSON_APPEND_UTF8(&arr, "1", "two");
    bson_append_array_end(&sub, &arr);
    bson_append_document_end(&doc, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "e", &sub);
    bson_append_document_end(&doc, &sub);
    BSON_APPEND_ARRAY_BEGIN(&doc, "f", &arr);
    bson_append_array_end(&doc, &arr);
    expect_doc(&doc, "{\"d\":{\"a\":[1,\"two\"]},\"e\":{},\"f\":[]}");
    bson_destroy(&doc);
}

static void empty_document_renders_braces(void **state)
{
    (void)state;
    bson_t doc = BSON_INITIALIZER;
    expect_doc(&doc, "{}");
    cc_buf_t b = CC_BUF_INIT;
    assert_int_equal(cc_ejson_append_array(&b, &doc), 0);
    assert_string_equal(cc_buf_cstr(&b), "[]");
    cc_buf_free(&b);
    bson_destroy(&doc);
}

/* ---- depth and corruption --------------------------------------------- */

static void nesting_at_the_cap_renders(void **state)
{
    (void)state;
    uint32_t len;
    uint8_t *raw = nested_bson(CC_EJSON_MAX_DEPTH, 0, &len);
    bson_t doc;
    assert_true(bson_init_static(&doc, raw, len));
    cc_buf_t b = CC_BUF_INIT;
    assert_int_equal(cc_ejson_append_document(&b, &doc), 0);
    assert_int_equal(b.len, (size_t)(CC_EJSON_MAX_DEPTH - 1) * 6 + 2);
    cc_buf_free(&b);
    free(raw);
}

static void nesting_past_the_cap_is_erange_not_a_crash(void **state)
{
    (void)state;
    int depths[] = {CC_EJSON_MAX_DEPTH + 1, 1000, 100000};
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
        for (int arrays = 0; arrays <= 1; arrays++) {
            uint32_t len;
            uint8_t *raw = nested_bson(depths[i], arrays, &len);
            bson_t doc;
            assert_true(bson_init_static(&doc, raw, len));
            cc_buf_t b = CC_BUF_INIT;
            assert_int_equal(cc_ejson_append_document(&b, &doc), CC_ERANGE);
            cc_buf_free(&b);
            free(raw);
        }
    }
}

static void corrupt_bson_is_eparse(void **state)
{
    (void)state;
    /* {"a": {"b": 1}} with the inner document's length too large. */
    bson_t src = BSON_INITIALIZER, sub;
    BSON_APPEND_DOCUMENT_BEGIN(&src, "a", &sub);
    BSON_APPEND_INT32(&sub, "b", 1);
    bson_append_document_end(&src, &sub);
    uint8_t raw[64];
    assert_true(src.len <= sizeof raw);
    memcpy(raw, bson_get_data(&src), src.len);
    raw[7] = 0x7F;   /* inner length */
    bson_t doc;
    assert_true(bson_init_static(&doc, raw, src.len));
    cc_buf_t b = CC_BUF_INIT;
    assert_int_equal(cc_ejson_append_document(&b, &doc), CC_EPARSE);
    cc_buf_free(&b);

    /* An element type byte that does not exist. */
    memcpy(raw, bson_get_data(&src), src.len);
    raw[4] = 0x42;
    assert_true(bson_init_static(&doc, raw, src.len));
    b = (cc_buf_t)CC_BUF_INIT;
    assert_int_equal(cc_ejson_append_document(&b, &doc), CC_EPARSE);
    cc_buf_free(&b);
    bson_destroy(&src);
}

/* ---- parsing ---------------------------------------------------------- */

static void parse_reads_canonical_and_relaxed_forms(void **state)
{
    (void)state;
    const char *json =
        "{\"a\":{\"$numberInt\":\"1\"},\"b\":{\"$numberLong\":\"2\"},\"c\":1.5,"
        "\"d\":{\"$date\":\"2025-04-21T17:48:47.405Z\"},"
        "\"e\":{\"$date\":{\"$numberLong\":\"-1\"}},"
        "\"f\":{\"$oid\":\"6806a2f1c3b9a1d2e3f40516\"},"
        "\"g\":{\"$timestamp\":{\"t\":5,\"i\":6}}}";
    bson_t doc;
    char err[256];
    assert_int_equal(cc_ejson_parse(json, strlen(json), &doc, err, sizeof err), 0);
    expect_doc(&doc, "{\"a\":1,\"b\":2,\"c\":1.5,\"d\":{\"$date\":\"2025-04-21T17:48:47.405Z\"},"
                     "\"e\":{\"$date\":{\"$numberLong\":\"-1\"}},"
                     "\"f\":{\"$oid\":\"6806a2f1c3b9a1d2e3f40516\"},"
                     "\"g\":{\"$timestamp\":{\"t\":5,\"i\":6}}}");
    bson_destroy(&doc);
}

static void parse_accepts_surrounding_white_space(void **state)
{
    (void)state;
    const char *json = " \r\n\t{\"a\":1}\n";
    bson_t doc;
    char err[256];
    assert_int_equal(cc_ejson_parse(json, strlen(json), &doc, err, sizeof err), 0);
    expect_doc(&doc, "{\"a\":1}");
    bson_destroy(&doc);
}

static void expect_parse_error(const char *json, const char *needle)
{
    bson_t doc;
    char err[256] = "";
    assert_int_equal(cc_ejson_parse(json, strlen(json), &doc, err, sizeof err), CC_EPARSE);
    if (!strstr(err, needle))
        fail_msg("error for %s was \"%s\", expected it to mention \"%s\"", json, err, needle);
}

static void parse_rejects_non_objects_and_trailing_data(void **state)
{
    (void)state;
    expect_parse_error("[1,2]", "expected a JSON object");
    expect_parse_error("\"x\"", "expected a JSON object");
    expect_parse_error("", "expected a JSON object");
    expect_parse_error("   ", "expected a JSON object");
    expect_parse_error("{\"a\":1},{\"b\":2}", "after the JSON object");
    expect_parse_error("{\"a\":1} {\"b\":2}", "after the JSON object");
    expect_parse_error("{\"a\":1", "unterminated");
}

static void parse_reports_the_parsers_message(void **state)
{
    (void)state;
    /* The reason and the byte offset. (Before the parser was our own these
     * needles were libbson's codes: TRAILING_COMMA, OID, UTF8.) */
    expect_parse_error("{\"a\":1,}", "at byte 7: trailing comma");
    expect_parse_error("{\"_id\":{\"$oid\":\"zz\"}}", "invalid $oid at byte 15");
    expect_parse_error("{\"a\":\"\xff\"}", "at byte 6: invalid UTF-8");
}

static void parse_refuses_deep_json_without_crashing(void **state)
{
    (void)state;
    size_t levels = 5000;
    char *s = malloc(levels * 6 + 8);
    assert_non_null(s);
    size_t k = 0;
    for (size_t i = 0; i < levels; i++) {
        memcpy(s + k, "{\"a\":", 5);
        k += 5;
    }
    s[k++] = '1';
    for (size_t i = 0; i < levels; i++)
        s[k++] = '}';
    bson_t doc;
    char err[256] = "";
    assert_int_equal(cc_ejson_parse(s, k, &doc, err, sizeof err), CC_EPARSE);
    assert_true(err[0] != '\0');
    free(s);
}

static void parse_error_buffer_may_be_null(void **state)
{
    (void)state;
    bson_t doc;
    assert_int_equal(cc_ejson_parse("[", 1, &doc, NULL, 0), CC_EPARSE);
    assert_int_equal(cc_ejson_parse("{,}", 3, &doc, NULL, 0), CC_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escape_writes_rfc8259_short_forms),
        cmocka_unit_test(escape_writes_other_controls_as_u00xx),
        cmocka_unit_test(escape_keeps_valid_utf8),
        cmocka_unit_test(escape_replaces_invalid_utf8_with_fffd),
        cmocka_unit_test(buf_printf_grows_past_its_stack_buffer),
        cmocka_unit_test(doubles_are_numbers_that_read_back),
        cmocka_unit_test(non_finite_doubles_use_numberdouble),
        cmocka_unit_test(random_doubles_round_trip_with_shortest_text),
        cmocka_unit_test(short_decimals_match_the_reference_text),
        cmocka_unit_test(integers_are_plain_numbers),
        cmocka_unit_test(strings_and_keys_are_escaped),
        cmocka_unit_test(objectid_is_oid_with_lowercase_hex),
        cmocka_unit_test(dates_from_1970_to_9999_are_iso_with_milliseconds),
        cmocka_unit_test(dates_outside_1970_to_9999_are_numberlong),
        cmocka_unit_test(decimal128_is_numberdecimal),
        cmocka_unit_test(binary_is_base64_with_two_hex_digit_subtype),
        cmocka_unit_test(regex_writes_pattern_and_sorted_options),
        cmocka_unit_test(timestamp_writes_t_and_i),
        cmocka_unit_test(minkey_maxkey_undefined_null_and_bools),
        cmocka_unit_test(code_scope_symbol_and_dbpointer),
        cmocka_unit_test(nested_documents_and_arrays_are_compact),
        cmocka_unit_test(empty_document_renders_braces),
        cmocka_unit_test(nesting_at_the_cap_renders),
        cmocka_unit_test(nesting_past_the_cap_is_erange_not_a_crash),
        cmocka_unit_test(corrupt_bson_is_eparse),
        cmocka_unit_test(parse_reads_canonical_and_relaxed_forms),
        cmocka_unit_test(parse_accepts_surrounding_white_space),
        cmocka_unit_test(parse_rejects_non_objects_and_trailing_data),
        cmocka_unit_test(parse_reports_the_parsers_message),
        cmocka_unit_test(parse_refuses_deep_json_without_crashing),
        cmocka_unit_test(parse_error_buffer_may_be_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
