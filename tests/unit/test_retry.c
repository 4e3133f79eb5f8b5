/* tests/unit/test_retry.c — the SDK's retry helpers (changecast/retry.h),
 * which the http, database, redis and mongo plugins share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "changecast/retry.h"

static void backoff_doubles_is_capped_and_jitter_stays_in_upper_half(void **s)
{
    (void)s;
    /* rnd 0 gives the smallest delay (d - d/2), larger ones any in range. */
    assert_int_equal(cc_backoff_ms(1, 200, 30000, 0), 100);
    assert_int_equal(cc_backoff_ms(2, 200, 30000, 0), 200);
    assert_int_equal(cc_backoff_ms(3, 200, 30000, 0), 400);
    assert_int_equal(cc_backoff_ms(1, 200, 30000, 100), 200);
    assert_int_equal(cc_backoff_ms(1, 200, 30000, 101), 100);   /* rnd wraps in range */
    assert_int_equal(cc_backoff_ms(20, 200, 30000, 0), 15000);
    assert_int_equal(cc_backoff_ms(1000, 200, 30000, 15000), 30000);
    assert_int_equal(cc_backoff_ms(UINT32_MAX, 200, 30000, 0), 15000);
    for (uint32_t r = 0; r < 100000; r += 7) {
        uint64_t d = cc_backoff_ms(4, 200, 30000, r * 2654435761u);
        assert_true(d >= 800 && d <= 1600);
    }
}

static void backoff_never_retries_at_once(void **s)
{
    (void)s;
    /* Odd delays round the fixed half up; a 1 ms delay stays 1 ms. */
    assert_int_equal(cc_backoff_ms(1, 101, 30000, 0), 51);
    assert_int_equal(cc_backoff_ms(1, 101, 30000, 50), 101);
    assert_int_equal(cc_backoff_ms(1, 1, 1, 5), 1);
    assert_int_equal(cc_backoff_ms(7, 1, 1, 0), 1);
    assert_int_equal(cc_backoff_ms(1, 0, 100, 0), 1);   /* base 0 counts as 1 ms */
    assert_int_equal(cc_backoff_ms(0, 100, 5000, 0), 50);   /* attempt 0 reads as 1 */
    assert_int_equal(cc_backoff_ms(3, 100, 0, 9), 0);   /* max 0: no wait at all */
}

static void xorshift_moves_and_survives_a_zero_state(void **s)
{
    (void)s;
    uint32_t st = 1;
    uint32_t a = cc_xorshift32(&st), b = cc_xorshift32(&st);
    assert_int_not_equal(a, 0);
    assert_int_not_equal(a, b);
    assert_int_equal(st, b);
    uint32_t z = 0;   /* a zero state would stay zero forever: replaced */
    assert_int_not_equal(cc_xorshift32(&z), 0);
    assert_int_not_equal(z, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backoff_doubles_is_capped_and_jitter_stays_in_upper_half),
        cmocka_unit_test(backoff_never_retries_at_once),
        cmocka_unit_test(xorshift_moves_and_survives_a_zero_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
