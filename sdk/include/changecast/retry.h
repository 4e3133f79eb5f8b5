/* changecast/retry.h — retry delays for plugins: capped exponential backoff
 * with equal jitter, and a small random source for the jitter. Header-only.
 */
#ifndef CHANGECAST_RETRY_H
#define CHANGECAST_RETRY_H

#include <stdint.h>

/* The delay before retry number `attempt` (1 = the first retry): base_ms
 * doubled per attempt up to max_ms, then a point in its upper half,
 * [d - d/2, d], picked by `rnd` (any random value): a retry never comes at
 * once, and many clients that failed together do not come back in step.
 * A base of 0 counts as 1 ms; max_ms 0 gives 0. */
static inline uint64_t cc_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t max_ms,
                                     uint32_t rnd)
{
    uint64_t d = base_ms ? base_ms : 1;
    for (unsigned i = 1; i < attempt && d < max_ms; i++)
        d *= 2;   /* a loop, not a shift: no overflow for any attempt */
    if (d > max_ms)
        d = max_ms;
    uint64_t half = d / 2;
    return d - half + (half ? rnd % (half + 1) : 0);
}

/* xorshift32: enough randomness for jitter, not for anything secret.
 * *state must start non-zero (seed it from the time, the pid and an
 * address, so processes started together differ). */
static inline uint32_t cc_xorshift32(uint32_t *state)
{
    uint32_t x = *state ? *state : 2463534242u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

#endif
