/* plugins/redis/redis_util.c — channel names and backoff (see redis_util.h). */
#include "redis_util.h"

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

uint64_t redis_backoff_ms(unsigned attempt, uint64_t base, uint64_t max, uint32_t rnd)
{
    uint64_t d = base ? base : 1;
    for (unsigned i = 1; i < attempt && d < max; i++)
        d *= 2;
    if (d > max)
        d = max;
    uint64_t half = d / 2;
    return half + (half ? rnd % (d - half + 1) : 0);
}

uint32_t redis_rand(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}
