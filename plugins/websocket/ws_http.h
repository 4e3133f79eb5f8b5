/* ws_http.h — HTTP/1.1 request heads and the WebSocket upgrade (RFC 7230,
 * RFC 6455 section 4.2).
 *
 * Pure: no sockets, no host, no clock; any thread (one request per caller).
 * The parser copies the head into the request struct, so every string it
 * hands out is NUL-terminated, lives exactly as long as the ws_request_t, and
 * needs no free. A ws_request_t is about 18 KB: allocate one per connection
 * only while its handshake is being read, copy out what must outlive it
 * (recipient, last_event_id, ...), then free it.
 */
#ifndef CC_WS_HTTP_H
#define CC_WS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define WS_HTTP_MAX_HEAD    8192  /* request line + headers + final CRLF   */
#define WS_HTTP_MAX_TARGET  4096  /* request-target, raw (longer: 414)     */
#define WS_HTTP_MAX_HEADERS 64    /* more header lines: 431                */
#define WS_HTTP_MAX_PARAMS  32    /* more query parameters: 400            */
#define WS_HTTP_ACCEPT_LEN  28    /* base64 of a SHA-1: 28 chars (+ NUL)   */

/* ws_http_parse results: DONE, MORE, or the HTTP status to answer with. */
#define WS_HTTP_DONE 0
#define WS_HTTP_MORE 1
/* errors: 400 Bad Request, 414 URI Too Long, 431 Request Header Fields Too
 * Large, 505 HTTP Version Not Supported. */

typedef struct ws_http_header {
    const char *name;   /* as sent (case kept); compare case-insensitively */
    const char *value;  /* leading/trailing spaces and tabs removed        */
} ws_http_header_t;

typedef struct ws_http_param {
    const char *name;   /* percent-decoded, '+' read as a space            */
    const char *value;  /* same; "" when the parameter had no '='          */
} ws_http_param_t;

typedef struct ws_request {
    const char *method;   /* "GET", ... (case-sensitive token)              */
    const char *target;   /* raw request-target as sent                     */
    const char *path;     /* percent-decoded path of the target, starts '/' */
    const char *query;    /* raw query after '?', "" when none              */
    int version_minor;    /* HTTP/1.<version_minor>: 0 or 1                 */
    size_t head_len;      /* bytes of the head, final CRLFCRLF included     */
    const char *why;      /* after an error status: what was wrong (static) */
    size_t nheaders;
    ws_http_header_t headers[WS_HTTP_MAX_HEADERS];
    size_t nparams;
    ws_http_param_t params[WS_HTTP_MAX_PARAMS];
    /* private */
    size_t scanned;                       /* bytes already searched for the end */
    char head[WS_HTTP_MAX_HEAD + 1];      /* NUL-split copy of the head    */
    char decoded[WS_HTTP_MAX_HEAD + 1];   /* decoded path and parameters   */
} ws_request_t;

/* Resets req before the first ws_http_parse of a connection. */
void ws_http_request_init(ws_request_t *req);

/* Parses a request head from buf[0..len) (borrowed): the bytes received so
 * far on the connection, from its first byte. Call again with the same bytes
 * plus the new ones after WS_HTTP_MORE (the search resumes where it stopped,
 * so a head dribbled in byte by byte costs linear time).
 * Returns WS_HTTP_DONE with req filled and *consumed = head length (bytes
 * after it belong to the next protocol), WS_HTTP_MORE (no end of head yet,
 * *consumed = 0), or an HTTP error status (400, 414, 431, 505) after which
 * the connection should get that status and be closed. A request line that
 * is already wrong is refused before the head ends. Bare LF line ends,
 * obsolete line folding, control bytes, a non-origin/absolute target, bad
 * percent escapes, an encoded NUL, a '#' in the target and an HTTP/1.1
 * request without exactly one Host header are 400. req->why says which. */
int ws_http_parse(const char *buf, size_t len, ws_request_t *req, size_t *consumed);

/* The first header called name (case-insensitive), or NULL. Borrowed. */
const char *ws_http_header(const ws_request_t *req, const char *name);

/* How many header lines are called name (case-insensitive). */
size_t ws_http_header_count(const ws_request_t *req, const char *name);

/* True when any header line called name holds token in its comma-separated
 * list (case-insensitive, spaces around items ignored): Connection: keep-alive,
 * Upgrade → has "upgrade". */
bool ws_http_header_has_token(const ws_request_t *req, const char *name, const char *token);

/* The first query parameter called name (exact match after decoding), or
 * NULL. Borrowed. */
const char *ws_http_query(const ws_request_t *req, const char *name);

/* Checks a parsed request as a WebSocket opening handshake, in this order.
 * Returns 0 and writes the Sec-WebSocket-Accept value (NUL-terminated) into
 * accept; or 405 when the method is not GET (answer with "Allow: GET");
 * 400 when it is not HTTP/1.1 or has no Host; 426 when Upgrade lacks
 * "websocket", or Sec-WebSocket-Version is missing, repeated or not 13
 * (answer with "Upgrade: websocket" and "Sec-WebSocket-Version: 13"); 400
 * when Connection lacks "upgrade" or Sec-WebSocket-Key is missing, repeated
 * or not the base64 of 16 bytes. *why (static text, may be NULL) says what
 * was wrong. Origin and the path are the caller's checks. */
int ws_http_upgrade_check(const ws_request_t *req, char accept[WS_HTTP_ACCEPT_LEN + 1],
                          const char **why);

/* base64(SHA-1(key[0..len) + the RFC 6455 GUID)) into accept, NUL-
 * terminated. Returns 0, or -1 if OpenSSL fails. */
int ws_http_accept(const char *key, size_t len, char accept[WS_HTTP_ACCEPT_LEN + 1]);

/* The Origin allow-list: true when allow is empty (n == 0), when it holds
 * "*", when the request has no Origin header (not a browser), or when Origin
 * equals an entry case-insensitively ("https://app.example.com:8443").
 * Otherwise false: answer 403. */
bool ws_http_origin_allowed(const ws_request_t *req, const char *const *allow, size_t n);

/* The reason phrase of a status the websocket sink sends ("Bad Request"),
 * "Error" for others. Static. */
const char *ws_http_reason(int status);

#endif
