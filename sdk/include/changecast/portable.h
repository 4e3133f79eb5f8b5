/* changecast/portable.h — the one place for compiler-specific extensions.
 *
 * Everything else in changecast is plain C11; what the standard cannot say
 * (symbol visibility, printf-format checking, bit scans) is spelled here
 * once.
 */
#ifndef CHANGECAST_PORTABLE_H
#define CHANGECAST_PORTABLE_H

#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
/* Marks the one symbol a plugin exports; plugins build -fvisibility=hidden. */
#define CC_EXPORT __attribute__((visibility("default")))
/* Lets the compiler check printf-style calls. */
#define CC_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define CC_UNUSED __attribute__((unused))
/* Zero bits below the lowest set bit / above the highest; x != 0. */
#define CC_CTZ32(x) __builtin_ctz(x)
#define CC_CTZ64(x) __builtin_ctzll(x)
#define CC_CLZ64(x) __builtin_clzll(x)
#else
#define CC_EXPORT
#define CC_PRINTF(fmt, args)
#define CC_UNUSED
static inline int cc__ctz64(uint64_t x)
{
    int n = 0;
    while (!(x & 1u)) {
        x >>= 1;
        n++;
    }
    return n;
}
static inline int cc__clz64(uint64_t x)
{
    int n = 0;
    while (!(x & (UINT64_C(1) << 63))) {
        x <<= 1;
        n++;
    }
    return n;
}
#define CC_CTZ32(x) cc__ctz64((uint64_t)(uint32_t)(x))
#define CC_CTZ64(x) cc__ctz64(x)
#define CC_CLZ64(x) cc__clz64(x)
#endif

#endif
