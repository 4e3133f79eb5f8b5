/* tests/unit/test_util.h — small helpers shared by the cmocka tests.
 * Include after <cmocka.h>. */
#ifndef CC_TEST_UTIL_H
#define CC_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Returns the whole file as a new NUL-terminated string (caller frees);
 * fails the test when it cannot be read. */
static inline char *test_read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    return buf;
}

/* Raw BSON for {"a":{"a":...{}}} (or {"a":[[...[]]]}) nested `levels`
 * deep, the top document being level 1. Level k (0-based) starts at byte 7k
 * with its int32 length, then the child's type byte and key; the innermost
 * is empty, and every level ends with one NUL. Caller frees. */
static inline uint8_t *nested_bson(int levels, int arrays, uint32_t *len_out)
{
    uint32_t len = 8 * (uint32_t)(levels - 1) + 5;
    uint8_t *p = calloc(len, 1);
    assert_non_null(p);
    for (int k = 0; k < levels; k++) {
        uint8_t *lv = p + 7 * k;
        uint32_t l = len - 8 * (uint32_t)k;
        lv[0] = (uint8_t)(l & 0xFF);
        lv[1] = (uint8_t)(l >> 8 & 0xFF);
        lv[2] = (uint8_t)(l >> 16 & 0xFF);
        lv[3] = (uint8_t)(l >> 24);
        if (k + 1 < levels) {
            lv[4] = arrays ? 0x04 : 0x03;
            lv[5] = arrays && k > 0 ? '0' : 'a';   /* array keys are indexes */
        }
    }
    *len_out = len;
    return p;
}

#endif
