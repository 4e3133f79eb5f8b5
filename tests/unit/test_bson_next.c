/* tests/unit/test_bson_next.c — cc_bson_next against libbson's
 * bson_iter_next: the same iterator state after every step (and the same
 * refusal, err_off included) on valid documents of every type and on
 * hundreds of thousands of mutated and truncated ones; cc_bson_recurse
 * against bson_iter_recurse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/bson_next.h"

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* The fields bson_iter_next sets (value is libbson's scratch, not set by next). */
static void same_state(const bson_iter_t *a, const bson_iter_t *b)
{
    assert_ptr_equal(a->raw, b->raw);
    assert_int_equal(a->len, b->len);
    assert_int_equal(a->off, b->off);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->key, b->key);
    assert_int_equal(a->d1, b->d1);
    assert_int_equal(a->d2, b->d2);
    assert_int_equal(a->d3, b->d3);
    assert_int_equal(a->d4, b->d4);
    assert_int_equal(a->next_off, b->next_off);
    assert_int_equal(a->err_off, b->err_off);
}

/* Steps both iterators to the end, comparing, and recurses into documents
 * and arrays (as far as depth allows). Returns the elements seen. */
static size_t walk_both(bson_iter_t *fast, bson_iter_t *ref, int depth)
{
    size_t n = 0;
    for (;;) {
        bool f = cc_bson_next(fast);
        bool r = bson_iter_next(ref);
        assert_int_equal(f, r);
        same_state(fast, ref);
        if (!r)
            return n;
        n++;
        assert_int_equal(cc_bson_key_len(fast), bson_iter_key_len(ref));
        bson_type_t t = bson_iter_type(ref);
        if (t != BSON_TYPE_DOCUMENT && t != BSON_TYPE_ARRAY) {
            bson_iter_t fc;
            assert_false(cc_bson_recurse(fast, &fc));
        }
        if (depth < 4 && (t == BSON_TYPE_DOCUMENT || t == BSON_TYPE_ARRAY)) {
            bson_iter_t fc, rc;
            bool fr = cc_bson_recurse(fast, &fc);
            bool rr = bson_iter_recurse(ref, &rc);
            assert_int_equal(fr, rr);
            if (rr)
                same_state(&fc, &rc);
            if (rr)
                n += walk_both(&fc, &rc, depth + 1);
        }
    }
}

static void check_bytes(const uint8_t *data, uint32_t len)
{
    bson_iter_t fast, ref;
    /* As the envelope sees a change: any bytes of that length (the source
     * hands raw BSON over unvalidated). */
    memset(&fast, 0, sizeof fast);
    fast.raw = data;
    fast.len = len;
    fast.next_off = 4;
    ref = fast;
    walk_both(&fast, &ref, 0);
}

/* A document with every type, nested, with odd keys. */
static bson_t *sample(void)
{
    bson_t *d = bson_new();
    bson_t sub, arr;
    bson_oid_t oid;
    bson_decimal128_t dec;
    bson_oid_init_from_string(&oid, "5f1a2b3c4d5e6f7081920a1b");
    bson_decimal128_from_string("1.5", &dec);
    BSON_APPEND_DOUBLE(d, "dbl", 1.25);
    BSON_APPEND_UTF8(d, "s", "hello");
    BSON_APPEND_UTF8(d, "", "empty key");
    bson_append_utf8(d, "nul", -1, "a\0b", 3);
    BSON_APPEND_DOCUMENT_BEGIN(d, "doc", &sub);
    BSON_APPEND_INT32(&sub, "i", 7);
    BSON_APPEND_ARRAY_BEGIN(&sub, "arr", &arr);
    BSON_APPEND_INT64(&arr, "0", 42);
    BSON_APPEND_BOOL(&arr, "1", true);
    BSON_APPEND_NULL(&arr, "2");
    bson_append_array_end(&sub, &arr);
    bson_append_document_end(d, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(d, "emptydoc", &sub);
    bson_append_document_end(d, &sub);
    BSON_APPEND_BINARY(d, "bin", BSON_SUBTYPE_BINARY, (const uint8_t *)"xyz", 3);
    BSON_APPEND_UNDEFINED(d, "u");
    BSON_APPEND_OID(d, "oid", &oid);
    BSON_APPEND_BOOL(d, "f", false);
    BSON_APPEND_DATE_TIME(d, "date", 1700000000123);
    BSON_APPEND_REGEX(d, "re", "^a.*", "im");
    BSON_APPEND_DBPOINTER(d, "dbp", "coll", &oid);
    BSON_APPEND_CODE(d, "code", "function(){}");
    BSON_APPEND_SYMBOL(d, "sym", "sy");
    BSON_APPEND_INT32(d, "i32", -5);
    BSON_APPEND_TIMESTAMP(d, "ts", 1700000000, 3);
    BSON_APPEND_INT64(d, "i64", -9);
    BSON_APPEND_DECIMAL128(d, "dec", &dec);
    BSON_APPEND_MAXKEY(d, "max");
    BSON_APPEND_MINKEY(d, "min");
    BSON_APPEND_NULL(d, "n");
    return d;
}

static void test_valid(void **state)
{
    (void)state;
    bson_t *d = sample();
    bson_iter_t fast, ref;
    assert_true(bson_iter_init(&fast, d));
    assert_true(bson_iter_init(&ref, d));
    assert_true(walk_both(&fast, &ref, 0) > 25);
    bson_destroy(d);
}

/* Every truncation, and random byte changes biased to lengths and types. */
static void test_mutated(void **state)
{
    (void)state;
    bson_t *d = sample();
    uint32_t len = d->len;
    const uint8_t *orig = bson_get_data(d);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    for (uint32_t n = 0; n <= len; n++) {
        uint8_t *t = malloc(n ? n : 1);   /* exact size: ASan sees any overread */
        assert_non_null(t);
        memcpy(t, orig, n);
        check_bytes(t, n);
        free(t);
    }
    static const uint8_t special[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x7f, 0x80, 0xff, 0xfe,
                                      0x10, 0x12, 0x13, 0x20};
    for (int round = 0; round < 200000; round++) {
        memcpy(buf, orig, len);
        int changes = 1 + (int)(rnd() % 3);
        for (int c = 0; c < changes; c++) {
            uint32_t at = 4 + rnd() % (len - 4);
            buf[at] = (rnd() & 1) ? special[rnd() % sizeof special] : (uint8_t)rnd();
        }
        check_bytes(buf, len);
    }
    free(buf);
    bson_destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_mutated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
