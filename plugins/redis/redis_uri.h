/* plugins/redis/redis_uri.h — Redis connection URIs, shared by the sink and
 * the source.
 *
 *     redis://[[user]:password@]host[:port][/db]
 *     unix:///path/to/redis.sock[?db=N]
 *
 * user and password may be percent-encoded (a password holding '@' or ':').
 * `rediss://` is refused: Debian 12's hiredis 0.14 has no TLS.
 * Pure: no I/O, any thread.
 */
#ifndef CC_REDIS_URI_H
#define CC_REDIS_URI_H

#include <stddef.h>

typedef struct redis_uri {
    char *host;        /* owned; NULL for a unix socket */
    int port;          /* 6379 by default */
    char *path;        /* owned unix socket path, or NULL */
    char *user;        /* owned, or NULL: AUTH <password> (legacy form) */
    char *password;    /* owned, or NULL: no AUTH */
    int db;            /* 0 by default: no SELECT */
} redis_uri_t;

/* Parses `text` into *out (zeroed first). Returns 0, or CC_ECONFIG with the
 * reason in err (without the place: the caller prefixes it), or CC_ENOMEM.
 * On failure *out holds nothing to free. */
int redis_uri_parse(const char *text, redis_uri_t *out, char *err, size_t errlen);
void redis_uri_free(redis_uri_t *u);

/* "host:port" or "unix:/path", for messages (writes at most cap bytes). */
void redis_uri_where(const redis_uri_t *u, char *out, size_t cap);

#endif
