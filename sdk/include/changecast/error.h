/* changecast/error.h — one error convention for the host and every plugin.
 *
 * Calls return 0 on success or a negative CC_E* code; never a bare -1.
 * A call that fails leaves no half-built state and calls no callback.
 */
#ifndef CHANGECAST_ERROR_H
#define CHANGECAST_ERROR_H

#define CC_ERRNO_MAP(X)                                                   \
    X(ENOMEM,    "out of memory")                                         \
    X(EINVAL,    "invalid argument")                                      \
    X(ECONFIG,   "invalid configuration")                                 \
    X(ENOENT,    "not found")                                             \
    X(EIO,       "input/output error")                                    \
    X(EAGAIN,    "temporary failure, try again")                          \
    X(ETIMEDOUT, "timed out")                                             \
    X(ECLOSED,   "closed or stopping")                                    \
    X(EABI,      "plugin ABI mismatch")                                   \
    X(ENOTSUP,   "not supported")                                         \
    X(EPARSE,    "malformed input")                                       \
    X(ERANGE,    "value out of range")                                    \
    X(EFATAL,    "fatal error")

typedef enum cc_errno {
    CC_OK = 0,
#define CC__ERR_ENUM(name, text) CC_##name,
    CC__ERR_FIRST = -1000,
    CC_ERRNO_MAP(CC__ERR_ENUM)
#undef CC__ERR_ENUM
    CC__ERR_END
} cc_errno_t;

/* Returns a static, human-readable text for a CC_* code. Any thread. */
static inline const char *cc_strerror(int err)
{
    switch (err) {
    case CC_OK: return "success";
#define CC__ERR_CASE(name, text) case CC_##name: return text;
    CC_ERRNO_MAP(CC__ERR_CASE)
#undef CC__ERR_CASE
    default: return "unknown error";
    }
}

#endif
