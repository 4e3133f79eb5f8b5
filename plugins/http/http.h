/* http.h — the http sink's internal interfaces, one section per file.
 *
 * http_sign.c and http_format.c are pure (no host, no network, no clock of
 * their own) so unit tests compile them directly; http_queue.c is pure too;
 * http_curl.c runs libcurl's multi interface on a libevent base; http.c is
 * the plugin: config, lifecycle, outcomes, ordering, dead letters.
 */
#ifndef CC_HTTP_H
#define CC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#define HTTP_PLUGIN_VERSION "1.0.0"
#define HTTP_BODY_EXCERPT 200          /* response bytes quoted in a reason */
#define HTTP_SIGNATURE_MAX 64          /* "v1," + 44 base64 chars + NUL     */

/* ------------------------------------------------------------------ */
/* http_sign.c: base64 and Standard Webhooks signatures                 */

/* Encodes in[0..n) as padded standard base64 into out (room for
 * 4 * ((n + 2) / 3) + 1 bytes), NUL-terminated. Returns the length. */
size_t http_b64_encode(const uint8_t *in, size_t n, char *out);

/* Decodes standard base64 (padding optional, no whitespace) into out (room
 * for 3 * (n / 4) + 3 bytes). Returns 0 and sets *out_len, or CC_EPARSE. */
int http_b64_decode(const char *in, size_t n, uint8_t *out, size_t *out_len);

/* The HMAC key of a configured secret: the base64-decoded part after
 * "whsec_", else the secret's own bytes. *key is new (free it). Returns 0,
 * CC_EPARSE (bad base64 or empty key) or CC_ENOMEM. */
int http_secret_key(const char *secret, uint8_t **key, size_t *key_len);

/* Writes "v1," + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")) into
 * out. Returns 0, or CC_EIO when OpenSSL fails. */
int http_sign(const uint8_t *key, size_t key_len, const char *id, int64_t timestamp,
              const char *body, size_t body_len, char out[HTTP_SIGNATURE_MAX]);

/* ------------------------------------------------------------------ */
/* http_format.c: bodies, dead-letter lines, verdicts, delays           */

/* A growable byte buffer; owns data. Zero-initialise before first use. */
typedef struct http_buf {
    char *data;
    size_t len, cap;
} http_buf_t;

int http_buf_append(http_buf_t *b, const void *p, size_t n);   /* 0 or CC_ENOMEM */
void http_buf_free(http_buf_t *b);

/* Appends s[0..n) as a JSON string literal. 0 or CC_ENOMEM. */
int http_json_string(http_buf_t *b, const char *s, size_t n);

/* Replaces b's content with the request body: {"recipient":r,"event":e} or
 * {"event":e} when recipient is NULL, the envelope embedded verbatim, NUL-
 * terminated (not counted in len). 0 or CC_ENOMEM. */
int http_body(http_buf_t *b, const char *recipient, const char *event_json, size_t event_len);

/* Replaces b's content with one dead-letter line, '\n' included:
 * {"event":e,"recipient":r|null,"status":s|null,"reason":"...","attempts":n}.
 * status < 0 writes null. 0 or CC_ENOMEM. */
int http_dead_letter_line(http_buf_t *b, const char *event_json, size_t event_len,
                          const char *recipient, long status, const char *reason,
                          unsigned attempts);

typedef enum http_verdict {
    HTTP_VERDICT_OK = 0,     /* 2xx: acknowledge                          */
    HTTP_VERDICT_RETRY,      /* 5xx, 429, 408, timeout, connection error  */
    HTTP_VERDICT_DEAD        /* any other status: dead letter now         */
} http_verdict_t;

/* The verdict on an attempt: transport_error when no HTTP status came back. */
http_verdict_t http_verdict(bool transport_error, long status);

/* A Retry-After value (delta-seconds or an HTTP-date) in ms from `now`;
 * -1 when absent or unreadable; at most one day. */
int64_t http_retry_after_ms(const char *value, time_t now);

/* The event id as it can travel in a header line: control characters (a
 * recipient may hold a newline) as %XX, so they cannot end the header early
 * and inject others. Returns `id` itself when it is clean, else new (free
 * it when != id); NULL out of memory. The signature signs this text. */
char *http_header_id(const char *id);

/* The standard reason phrase of a status ("Bad Request"), or "". */
const char *http_status_text(long status);

/* Writes "HTTP <status> <phrase>[: <excerpt>]" into out (NUL-terminated):
 * phrase falls back to http_status_text; the excerpt is the first
 * HTTP_BODY_EXCERPT bytes of body, made printable valid UTF-8. */
void http_reason_http(char *out, size_t cap, long status, const char *phrase, const char *body,
                      size_t body_len);

/* Copies in[0..n) into out (cap > 0) as valid UTF-8 with control
 * characters turned into spaces, cut on a character boundary, trimmed. */
void http_text_clean(const char *in, size_t n, char *out, size_t cap);

/* ------------------------------------------------------------------ */
/* http_queue.c: one FIFO per recipient, and the queue of ready heads   */

typedef struct http_item {
    void *ev;                    /* the event; borrowed until acknowledged  */
    struct http_item *next;
} http_item_t;

typedef enum http_key_state {
    HTTP_KEY_READY = 0,          /* head waits in the ready list           */
    HTTP_KEY_BUSY,               /* head is in flight                      */
    HTTP_KEY_WAITING             /* head waits for a timer (retry, dead letter) */
} http_key_state_t;

/* One recipient's FIFO (the broadcast key has recipient NULL). A key exists
 * only while it holds events: its last pop frees it. */
typedef struct http_key {
    char *recipient;             /* owned copy, or NULL for broadcasts       */
    uint32_t hash;
    struct http_key *hnext;      /* hash chain                               */
    struct http_key *rnext;      /* ready list                               */
    http_item_t *head, *tail;
    size_t len;
    http_key_state_t state;
    /* About the head event; reset when it is popped. */
    unsigned attempts;
    long status;                 /* last HTTP status, -1 = none              */
    char *reason;                /* owned: why it is being dead-lettered     */
    bool dead;                   /* its dead-letter line awaits writing      */
    bool retrying;               /* it failed at least once, still pending   */
    void *timer;                 /* owned by the queue's user (key_free_cb)  */
    void *owner;                 /* the queue's owner, for timer callbacks   */
} http_key_t;

typedef struct http_queue {
    http_key_t **buckets;
    size_t nbuckets, nkeys, nitems;
    http_key_t *broadcast;
    http_key_t *ready_head, *ready_tail;
    void *owner;                             /* copied into each key         */
    void (*key_free_cb)(http_key_t *key);    /* releases key->timer, or NULL */
} http_queue_t;

/* 0 or CC_ENOMEM. */
int http_queue_init(http_queue_t *q, void *owner, void (*key_free_cb)(http_key_t *));
/* Frees every key and item (the events are not touched). */
void http_queue_free(http_queue_t *q);
/* Appends ev to its recipient's FIFO (recipient borrowed, copied); a new key
 * is READY at the ready list's tail. Returns the key, or NULL out of memory. */
http_key_t *http_queue_push(http_queue_t *q, const char *recipient, void *ev);
/* The next key whose head may be sent (now BUSY), or NULL. */
http_key_t *http_queue_take(http_queue_t *q);
/* Puts a BUSY/WAITING key back at the ready list's tail. */
void http_queue_ready(http_queue_t *q, http_key_t *key);
/* Drops the head (acknowledged or given up) and resets its per-event fields;
 * the key is READY again if it holds more, else freed. Returns the event. */
void *http_queue_pop(http_queue_t *q, http_key_t *key);

/* ------------------------------------------------------------------ */
/* http_curl.c: libcurl multi driven by a libevent base                 */

typedef struct http_curl http_curl_t;
/* Called on the base's thread when a transfer ends; the handle has been
 * removed from the multi already and may be reused. */
typedef void (*http_curl_done_cb)(void *arg, CURL *easy, CURLcode result);

/* Returns new or NULL. max_conns bounds the multi's connections. */
http_curl_t *http_curl_new(struct event_base *base, long max_conns, http_curl_done_cb done,
                           void *arg);
/* Starts a transfer (easy borrowed until done or cancel). 0 or CC_EIO. */
int http_curl_add(http_curl_t *hc, CURL *easy);
/* Abandons a running transfer: done is not called for it. */
void http_curl_cancel(http_curl_t *hc, CURL *easy);
/* Frees the multi, its connections and events (no transfer may run). */
void http_curl_free(http_curl_t *hc);

#endif
