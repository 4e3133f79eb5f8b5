/* changecast/portable.h — the one place for compiler-specific extensions.
 *
 * Everything else in changecast is plain C11; what the standard cannot say
 * (symbol visibility, printf-format checking) is spelled here once.
 */
#ifndef CHANGECAST_PORTABLE_H
#define CHANGECAST_PORTABLE_H

#if defined(__GNUC__) || defined(__clang__)
/* Marks the one symbol a plugin exports; plugins build -fvisibility=hidden. */
#define CC_EXPORT __attribute__((visibility("default")))
/* Lets the compiler check printf-style calls. */
#define CC_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define CC_UNUSED __attribute__((unused))
#else
#define CC_EXPORT
#define CC_PRINTF(fmt, args)
#define CC_UNUSED
#endif

#endif
