/* tests/unit/test_util.h — small helpers shared by the cmocka tests.
 * Include after <cmocka.h>. */
#ifndef CC_TEST_UTIL_H
#define CC_TEST_UTIL_H

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

#endif
