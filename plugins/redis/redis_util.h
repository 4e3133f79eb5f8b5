/* plugins/redis/redis_util.h — small pure helpers shared by the redis sink
 * and source: channel names. Any thread. (Backoff: changecast/retry.h.) */
#ifndef CC_REDIS_UTIL_H
#define CC_REDIS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define REDIS_PLUGIN_VERSION "1.0.0"
#define REDIS_DEFAULT_PREFIX "mongo_change:"

/* Writes "{prefix}{recipient}" or "{prefix}broadcast" (recipient NULL) into
 * *buf (grown with realloc; owned by the caller) and returns its length, or
 * 0 on out of memory. */
size_t redis_channel(char **buf, size_t *cap, const char *prefix, size_t prefix_len,
                     const char *recipient);

/* Writes one command in the Redis protocol (RESP: "*<argc>\r\n" then
 * "$<len>\r\n<arg>\r\n" per argument) into *buf (grown with realloc;
 * owned by the caller). Returns its length, or 0 on out of memory. */
size_t redis_format(char **buf, size_t *cap, int argc, const char *const *argv,
                    const size_t *lens);

/* A stream entry ID "<ms>-<seq>". */
typedef struct redis_sid {
    uint64_t ms, seq;
} redis_sid_t;

/* Parses "<ms>-<seq>" (both decimal). 0, or -1 when it is not an ID. */
int redis_sid_parse(const char *s, redis_sid_t *out);
/* <0, 0, >0 as a is before, equal to, after b. */
int redis_sid_cmp(redis_sid_t a, redis_sid_t b);
/* Writes "<ms>-<seq>" (at most 42 bytes with the NUL). */
void redis_sid_format(redis_sid_t id, char out[48]);

#endif
