/* http — a sink that POSTs each event to a webhook URL.
 *
 * Body {"recipient": r, "event": <envelope>} (or {"event": …} for a
 * broadcast), signed per Standard Webhooks when a secret is set. Up to
 * `concurrency` requests run at once on the sink's own event loop (libcurl
 * multi, keep-alive). Events of one recipient go out in order: a head that
 * fails with 5xx, 429, a timeout or a connection error waits for a retry
 * with capped, jittered exponential backoff (at least Retry-After) and holds
 * back only its own recipient. Other 4xx/3xx and exhausted retries go to the
 * dead-letter file; an event is acknowledged once delivered or written
 * there. See README.md.
 *
 * init and destroy run on the main thread; everything else on the sink's
 * event-loop thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "changecast/changecast.h"
#include "http.h"

#define HTTP_DOWN_AFTER_MS 5000        /* connection errors only, this long: DOWN */
#define HTTP_DEAD_LETTER_RETRY_MS 1000 /* a failed dead-letter write, again      */
#define HTTP_HEADER_MAX 256            /* status line / Retry-After kept         */

enum { HTTP_CODE_2XX, HTTP_CODE_4XX, HTTP_CODE_5XX, HTTP_CODE_ERROR, HTTP_CODE_N };
static const char *const http_code_labels[HTTP_CODE_N] = {"2xx", "4xx", "5xx", "error"};

typedef struct http_sink http_sink_t;

/* One concurrency slot: an easy handle kept across requests (it remembers
 * its connection and TLS session), the body and headers of its attempt. */
typedef struct http_req {
    http_sink_t *hs;
    CURL *easy;                  /* owned, created on first use */
    http_key_t *key;             /* whose head is in flight; NULL = free slot */
    http_buf_t body;             /* owned */
    struct curl_slist *headers;  /* owned, per attempt */
    char errbuf[CURL_ERROR_SIZE];
    char resp[HTTP_BODY_EXCERPT];
    size_t resp_len;
    char phrase[64];             /* the status line's reason phrase */
    char retry_after[64];
} http_req_t;

struct http_sink {
    cc_instance_t *self;
    const cc_host_t *host;
    const char *name;            /* borrowed: instance name */
    const char *place;           /* "sinks[1]": for config messages */
    char place_buf[96];          /* place when the host predates instance_place */
    /* Config (strings borrowed from the host until destroy). */
    const char *url;
    long timeout_ms;
    unsigned max_retries;
    unsigned concurrency;
    uint64_t backoff_ms, max_backoff_ms;
    const char *dead_letter;     /* path or NULL */
    uint8_t *key;                /* owned HMAC key, NULL = unsigned */
    size_t key_len;
    char **fixed_headers;        /* owned "Name: value" lines */
    size_t n_fixed_headers;

    int dl_fd;
    bool dl_partial;             /* the last dead-letter write stopped mid-line */
    http_buf_t dl_line;          /* owned scratch for dead-letter lines */
    struct event_base *base;     /* borrowed: the sink's loop */
    http_curl_t *curl;
    http_queue_t queue;
    http_req_t *reqs;            /* owned, `concurrency` slots */
    unsigned in_flight;
    size_t n_retrying;           /* keys whose head failed and is being retried */
    size_t n_dl_waiting;         /* keys whose dead-letter write failed */
    uint32_t rng;

    cc_sink_status_t status;
    int64_t conn_err_since_ms;   /* first of an unbroken run of connection errors; 0 = none */
    bool conn_down;
    bool running;

    cc_metric_t *m_in_flight;
    cc_metric_t *m_requests[HTTP_CODE_N];
};

static const cc_config_field_t http_config_fields[] = {
    {.name = "url", .type = CC_CFG_STRING, .required = 1,
     .doc = "http:// or https:// URL to POST each event to"},
    {.name = "headers", .type = CC_CFG_OBJECT, .def = "{}",
     .doc = "extra request headers, name to string value"},
    {.name = "timeout_ms", .type = CC_CFG_INT, .def = "5000", .min = 1, .max = 600000,
     .doc = "whole-request timeout per attempt"},
    {.name = "secret", .type = CC_CFG_STRING,
     .doc = "Standard Webhooks signing secret (whsec_<base64> or raw bytes)"},
    {.name = "max_retries", .type = CC_CFG_INT, .def = "8", .min = 0, .max = 1000,
     .doc = "retries after the first attempt before dead-lettering"},
    {.name = "concurrency", .type = CC_CFG_INT, .def = "16", .min = 1, .max = 1024,
     .doc = "requests (and connections) in flight at most"},
    {.name = "dead_letter", .type = CC_CFG_STRING,
     .doc = "JSON-lines file for events given up on (else they are logged)"},
    {.name = "backoff_ms", .type = CC_CFG_INT, .def = "200", .min = 1, .max = 3600000,
     .doc = "delay before the first retry; doubles per retry, jittered"},
    {.name = "max_backoff_ms", .type = CC_CFG_INT, .def = "30000", .min = 1, .max = 86400000,
     .doc = "longest delay between retries"},
    {0}
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void http_status_update(http_sink_t *hs)
{
    cc_sink_status_t s = CC_SINK_OK;
    if (hs->conn_down || hs->n_dl_waiting > 0)
        s = CC_SINK_DOWN;
    else if (hs->n_retrying > 0)
        s = CC_SINK_RETRYING;
    if (s != hs->status) {
        if (s == CC_SINK_OK)
            hs->host->log(hs->self, CC_LOG_INFO, "delivering to %s again", hs->url);
        hs->status = s;
        hs->host->sink_status(hs->self, s);
    }
}

static void http_metric_add(http_sink_t *hs, cc_metric_t *m, double v)
{
    if (m != NULL)
        hs->host->metric_add(m, v);
}

static void http_set_in_flight(http_sink_t *hs, int delta)
{
    hs->in_flight = (unsigned)((int)hs->in_flight + delta);
    if (hs->m_in_flight != NULL)
        hs->host->metric_set(hs->m_in_flight, hs->in_flight);
}

/* ------------------------------------------------------------------ */
/* Timers: one per key, made when the key first waits                   */

static void http_key_timer_cb(evutil_socket_t fd, short what, void *arg);
static void http_pump(http_sink_t *hs);

static void http_key_free_cb(http_key_t *key)
{
    if (key->timer != NULL)
        event_free(key->timer);
    key->timer = NULL;
}

static int http_key_wait(http_sink_t *hs, http_key_t *key, uint64_t ms)
{
    if (key->timer == NULL) {
        key->timer = evtimer_new(hs->base, http_key_timer_cb, key);
        if (key->timer == NULL)
            return CC_ENOMEM;
    }
    key->state = HTTP_KEY_WAITING;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(key->timer, &tv);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Giving up: the dead letter                                           */

/* Drops the head of `key` (delivered or given up); returns its event. */
static cc_event_t *http_head_pop(http_sink_t *hs, http_key_t *key)
{
    if (key->retrying)
        hs->n_retrying--;
    return http_queue_pop(&hs->queue, key);
}

/* Acknowledges the head of `key` as given up and moves on. */
static void http_head_failed(http_sink_t *hs, http_key_t *key)
{
    cc_event_t *ev = http_head_pop(hs, key);
    hs->host->count(hs->self, CC_RESULT_FAILED, 1);
    hs->host->ack(hs->self, ev);
}

/* Appends a dead-letter line. A line a failed write left cut short is ended
 * first with its own '\n', so one fragment never swallows the next line.
 * Returns 0 or an errno value. */
static int http_dl_append(http_sink_t *hs, const char *p, size_t n)
{
    if (hs->dl_partial) {
        ssize_t w;
        while ((w = write(hs->dl_fd, "\n", 1)) < 0 && errno == EINTR)
            ;
        if (w != 1)
            return w < 0 ? errno : EIO;
        hs->dl_partial = false;
    }
    while (n > 0) {
        ssize_t w = write(hs->dl_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;   /* dl_partial says if bytes went out */
        hs->dl_partial = true;   /* until the whole line is out */
        p += w;
        n -= (size_t)w;
    }
    hs->dl_partial = false;
    return 0;
}

/* Writes the head's dead-letter line (key->reason, key->status); on success
 * acknowledges it. On failure the head stays unacknowledged and the write is
 * tried again on a timer: nothing is lost. Returns true when done. */
static bool http_dead_letter_write(http_sink_t *hs, http_key_t *key)
{
    cc_event_t *ev = key->head->ev;
    const char *reason = key->reason ? key->reason : "out of memory keeping the reason";
    size_t len;
    const char *json = hs->host->event_json(ev, &len);
    if (hs->dl_fd < 0) {
        hs->host->log(hs->self, CC_LOG_ERROR, "giving up on event %s%s%s: %s",
                      hs->host->event_id(ev), key->recipient ? " for " : "",
                      key->recipient ? key->recipient : "", reason);
        http_head_failed(hs, key);
        return true;
    }
    int err = http_dead_letter_line(&hs->dl_line, json, len, key->recipient, key->status,
                                    reason, key->attempts) != 0 ? ENOMEM
              : http_dl_append(hs, hs->dl_line.data, hs->dl_line.len);
    if (err != 0) {
        hs->host->log(hs->self, CC_LOG_ERROR,
                      "cannot write event %s to the dead letter %s: %s; keeping it "
                      "unacknowledged and trying again",
                      hs->host->event_id(ev), hs->dead_letter, strerror(err));
        return false;
    }
    hs->host->log(hs->self, CC_LOG_WARN, "dead-lettered event %s%s%s: %s",
                  hs->host->event_id(ev), key->recipient ? " for " : "",
                  key->recipient ? key->recipient : "", reason);
    http_head_failed(hs, key);
    return true;
}

/* Gives up on the head of a BUSY key: `reason` is copied. */
static void http_dead_letter(http_sink_t *hs, http_key_t *key, long status, const char *reason)
{
    free(key->reason);
    key->reason = strdup(reason);
    key->status = status;
    key->dead = true;
    if (!http_dead_letter_write(hs, key)) {
        if (http_key_wait(hs, key, HTTP_DEAD_LETTER_RETRY_MS) != 0) {
            key->dead = false;   /* no timer (out of memory): send it again instead */
            http_queue_ready(&hs->queue, key);
            return;
        }
        hs->n_dl_waiting++;
    }
}

static void http_key_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_key_t *key = arg;
    http_sink_t *hs = key->owner;
    if (!hs->running)
        return;
    if (key->dead) {
        hs->n_dl_waiting--;
        if (!http_dead_letter_write(hs, key)) {
            if (http_key_wait(hs, key, HTTP_DEAD_LETTER_RETRY_MS) == 0) {
                hs->n_dl_waiting++;
            } else {
                key->dead = false;
                http_queue_ready(&hs->queue, key);
            }
        }
    } else {
        http_queue_ready(&hs->queue, key);
    }
    http_status_update(hs);
    http_pump(hs);
}

/* ------------------------------------------------------------------ */
/* Requests                                                             */

static size_t http_write_cb(char *p, size_t size, size_t n, void *arg)
{
    http_req_t *req = arg;
    size_t len = size * n, room = sizeof req->resp - req->resp_len;
    size_t take = len < room ? len : room;
    memcpy(req->resp + req->resp_len, p, take);
    req->resp_len += take;
    return len;   /* the rest is read and dropped: the reason quotes 200 bytes */
}

static void http_copy_value(char *out, size_t cap, const char *p, size_t n)
{
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static size_t http_header_cb(char *p, size_t size, size_t n, void *arg)
{
    http_req_t *req = arg;
    size_t len = size * n;
    if (len > 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue, say): forget the old one. */
        req->phrase[0] = req->retry_after[0] = '\0';
        req->resp_len = 0;
        const char *sp = memchr(p, ' ', len);
        if (sp) {
            size_t rest = len - (size_t)(sp + 1 - p);
            const char *sp2 = memchr(sp + 1, ' ', rest);
            if (sp2)
                http_copy_value(req->phrase, sizeof req->phrase, sp2 + 1,
                                len - (size_t)(sp2 + 1 - p));
        }
    } else if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        http_copy_value(req->retry_after, sizeof req->retry_after, p + 12, len - 12);
    }
    return len;
}

static int http_req_setup(http_sink_t *hs, http_req_t *req)
{
    if (req->easy != NULL)
        return 0;
    CURL *e = curl_easy_init();
    if (e == NULL)
        return CC_ENOMEM;
    curl_easy_setopt(e, CURLOPT_URL, hs->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);    /* threads: no SIGALRM */
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, hs->timeout_ms);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, req);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);   /* a 3xx is the receiver's answer */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    req->easy = e;
    return 0;
}

static int http_append(struct curl_slist **l, const char *line)
{
    struct curl_slist *t = curl_slist_append(*l, line);
    if (t == NULL)
        return CC_ENOMEM;
    *l = t;
    return 0;
}

/* The signature headers, made afresh per attempt (the timestamp moves). */
static int http_sign_headers(http_sink_t *hs, http_req_t *req, const cc_event_t *ev,
                             struct curl_slist **l)
{
    const char *ev_id = hs->host->event_id(ev);
    char *id = http_header_id(ev_id);
    if (id == NULL)
        return CC_ENOMEM;
    /* Wall-clock seconds: receivers compare it with their own clock. */
    int64_t ts = (int64_t)time(NULL);
    char sig[HTTP_SIGNATURE_MAX];
    char line[HTTP_SIGNATURE_MAX + 64];
    int rc = http_sign(hs->key, hs->key_len, id, ts, req->body.data, req->body.len, sig);
    char *idl = rc == 0 ? malloc(strlen(id) + sizeof "webhook-id: ") : NULL;
    if (rc == 0 && idl == NULL)
        rc = CC_ENOMEM;
    if (rc == 0) {
        sprintf(idl, "webhook-id: %s", id);
        rc = http_append(l, idl);
    }
    if (rc == 0) {
        snprintf(line, sizeof line, "webhook-timestamp: %lld", (long long)ts);
        rc = http_append(l, line);
    }
    if (rc == 0) {
        snprintf(line, sizeof line, "webhook-signature: %s", sig);
        rc = http_append(l, line);
    }
    free(idl);
    if (id != ev_id)
        free(id);
    return rc;
}

static int http_req_headers(http_sink_t *hs, http_req_t *req, const cc_event_t *ev)
{
    struct curl_slist *l = NULL;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < hs->n_fixed_headers; i++)
        rc = http_append(&l, hs->fixed_headers[i]);
    if (rc == 0 && hs->key != NULL)
        rc = http_sign_headers(hs, req, ev, &l);
    if (rc != 0) {
        curl_slist_free_all(l);
        return rc;
    }
    req->headers = l;
    return 0;
}

static void http_retry(http_sink_t *hs, http_key_t *key, long status, const char *reason,
                       int64_t retry_after_ms);

/* Sends the head of a BUSY key on a free slot. */
static void http_send(http_sink_t *hs, http_req_t *req, http_key_t *key)
{
    cc_event_t *ev = key->head->ev;
    size_t len;
    const char *json = hs->host->event_json(ev, &len);
    key->attempts++;
    int rc = http_req_setup(hs, req);
    if (rc == 0)
        rc = http_body(&req->body, key->recipient, json, len);
    if (rc == 0)
        rc = http_req_headers(hs, req, ev);
    if (rc == 0) {
        curl_easy_setopt(req->easy, CURLOPT_POSTFIELDS, req->body.data);
        curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
        curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers);
        req->errbuf[0] = req->phrase[0] = req->retry_after[0] = '\0';
        req->resp_len = 0;
        req->key = key;
        rc = http_curl_add(hs->curl, req->easy);
        if (rc == 0) {
            http_set_in_flight(hs, +1);
            return;
        }
        req->key = NULL;
        curl_slist_free_all(req->headers);
        req->headers = NULL;
    }
    /* Could not even start: a local failure, retried like a connection error. */
    char reason[128];
    snprintf(reason, sizeof reason, "cannot start the request: %s", cc_strerror(rc));
    http_metric_add(hs, hs->m_requests[HTTP_CODE_ERROR], 1);
    http_retry(hs, key, -1, reason, -1);
}

static http_req_t *http_free_slot(http_sink_t *hs)
{
    for (unsigned i = 0; i < hs->concurrency; i++)
        if (hs->reqs[i].key == NULL)
            return &hs->reqs[i];
    return NULL;
}

/* Fills free slots with ready heads, round-robin over recipients. */
static void http_pump(http_sink_t *hs)
{
    while (hs->running && hs->in_flight < hs->concurrency) {
        http_req_t *req = http_free_slot(hs);
        if (req == NULL)
            break;
        http_key_t *key = http_queue_take(&hs->queue);
        if (key == NULL)
            break;
        http_send(hs, req, key);
    }
}

/* The head of a BUSY key failed in a retryable way: wait, or give up. */
static void http_retry(http_sink_t *hs, http_key_t *key, long status, const char *reason,
                       int64_t retry_after_ms)
{
    if (key->attempts > hs->max_retries) {
        char why[1024];
        snprintf(why, sizeof why, "gave up after %u attempt%s: %.960s", key->attempts,
                 key->attempts == 1 ? "" : "s", reason);
        http_dead_letter(hs, key, status, why);
        return;
    }
    uint64_t ms = cc_backoff_ms(key->attempts, hs->backoff_ms, hs->max_backoff_ms,
                                cc_xorshift32(&hs->rng));
    if (retry_after_ms >= 0 && (uint64_t)retry_after_ms > ms)
        ms = (uint64_t)retry_after_ms;
    /* The first failure of an outage is a warning; the rest are details. */
    hs->host->log(hs->self, hs->status == CC_SINK_OK ? CC_LOG_WARN : CC_LOG_DEBUG,
                  "event %s%s%s: %s; retry %u in %llu ms",
                  hs->host->event_id(key->head->ev), key->recipient ? " for " : "",
                  key->recipient ? key->recipient : "", reason, key->attempts,
                  (unsigned long long)ms);
    hs->host->count(hs->self, CC_RESULT_RETRIED, 1);
    if (!key->retrying) {
        key->retrying = true;   /* until its head is delivered or given up */
        hs->n_retrying++;
    }
    if (http_key_wait(hs, key, ms) != 0)
        http_queue_ready(&hs->queue, key);   /* no timer: retry at once */
}

static void http_transport_reason(char *out, size_t cap, const http_sink_t *hs,
                                  const http_req_t *req, CURLcode rc)
{
    const char *detail = req->errbuf[0] ? req->errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(out, cap, "timeout after %ld ms", hs->timeout_ms);
        break;
    case CURLE_COULDNT_CONNECT:
        snprintf(out, cap, "connection refused (%s)", detail);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(out, cap, "cannot resolve host (%s)", detail);
        break;
    default:
        snprintf(out, cap, "connection error (%s)", detail);
    }
}

static void http_done_cb(void *arg, CURL *easy, CURLcode rc)
{
    http_sink_t *hs = arg;
    char *priv = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    http_req_t *req = (http_req_t *)(void *)priv;
    http_key_t *key = req->key;
    req->key = NULL;
    curl_slist_free_all(req->headers);
    req->headers = NULL;
    http_set_in_flight(hs, -1);

    long status = -1;
    char reason[1024];
    if (rc == CURLE_OK)
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    bool transport = rc != CURLE_OK || status <= 0;
    if (transport) {
        status = -1;
        http_metric_add(hs, hs->m_requests[HTTP_CODE_ERROR], 1);
        http_transport_reason(reason, sizeof reason, hs, req, rc);
        int64_t now = now_ms();
        if (hs->conn_err_since_ms == 0) {
            hs->conn_err_since_ms = now;
        } else if (!hs->conn_down && now - hs->conn_err_since_ms >= HTTP_DOWN_AFTER_MS) {
            hs->conn_down = true;
            hs->host->log(hs->self, CC_LOG_ERROR, "%s unreachable for %lld s: %s", hs->url,
                          (long long)((now - hs->conn_err_since_ms) / 1000), reason);
        }
    } else {
        http_metric_add(hs, hs->m_requests[status < 300 ? HTTP_CODE_2XX
                                           : status < 500 ? HTTP_CODE_4XX : HTTP_CODE_5XX], 1);
        if (hs->conn_down)
            hs->host->log(hs->self, CC_LOG_INFO, "%s answers again", hs->url);
        hs->conn_err_since_ms = 0;
        hs->conn_down = false;
        http_reason_http(reason, sizeof reason, status, req->phrase, req->resp, req->resp_len);
    }

    switch (http_verdict(transport, status)) {
    case HTTP_VERDICT_OK: {
        cc_event_t *ev = http_head_pop(hs, key);
        hs->host->ack(hs->self, ev);
        break;
    }
    case HTTP_VERDICT_DEAD:
        http_dead_letter(hs, key, status, reason);
        break;
    case HTTP_VERDICT_RETRY: {
        int64_t ra = -1;
        if (status == 429 || status == 503)
            ra = http_retry_after_ms(req->retry_after, time(NULL));
        http_retry(hs, key, status, reason, ra);
        break;
    }
    }
    http_status_update(hs);
    http_pump(hs);
}

/* ------------------------------------------------------------------ */
/* Plugin callbacks                                                     */

static int http_deliver(void *state, const cc_batch_t *batch)
{
    http_sink_t *hs = state;
    for (size_t i = 0; i < batch->count; i++) {
        cc_event_t *ev = batch->events[i];
        if (http_queue_push(&hs->queue, hs->host->event_recipient(ev), ev) == NULL) {
            hs->host->log(hs->self, CC_LOG_ERROR, "out of memory queueing %zu events",
                          batch->count - i);
            http_pump(hs);
            return CC_ENOMEM;
        }
    }
    http_pump(hs);
    return 0;
}

static int http_start(void *state)
{
    http_sink_t *hs = state;
    hs->base = hs->host->event_base(hs->self);
    if (hs->base == NULL) {
        hs->host->log(hs->self, CC_LOG_ERROR, "the host gave no event base");
        return CC_EINVAL;
    }
    hs->curl = http_curl_new(hs->base, (long)hs->concurrency, http_done_cb, hs);
    if (hs->curl == NULL) {
        hs->host->log(hs->self, CC_LOG_ERROR, "cannot create a curl multi handle");
        return CC_ENOMEM;
    }
    hs->running = true;
    hs->status = CC_SINK_OK;
    hs->host->sink_status(hs->self, CC_SINK_OK);
    return 0;
}

/* Frees every key's timer (they live on the sink's base, which outlives
 * stop but not necessarily destroy). */
static void http_free_timers(http_sink_t *hs)
{
    http_queue_t *q = &hs->queue;
    for (size_t i = 0; i < q->nbuckets; i++)
        for (http_key_t *k = q->buckets[i]; k; k = k->hnext)
            http_key_free_cb(k);
    if (q->broadcast)
        http_key_free_cb(q->broadcast);
}

static void http_stop(void *state)
{
    http_sink_t *hs = state;
    if (!hs->running)
        return;
    hs->running = false;
    size_t left = hs->queue.nitems;
    /* In-flight and waiting events stay unacknowledged: the next run
     * delivers them again (receivers drop duplicates by webhook-id). */
    for (unsigned i = 0; i < hs->concurrency; i++) {
        http_req_t *req = &hs->reqs[i];
        if (req->key != NULL) {
            http_curl_cancel(hs->curl, req->easy);
            curl_slist_free_all(req->headers);
            req->headers = NULL;
            req->key = NULL;
        }
    }
    http_set_in_flight(hs, -(int)hs->in_flight);
    http_curl_free(hs->curl);
    hs->curl = NULL;
    for (unsigned i = 0; i < hs->concurrency; i++) {
        if (hs->reqs[i].easy)
            curl_easy_cleanup(hs->reqs[i].easy);
        hs->reqs[i].easy = NULL;
    }
    http_free_timers(hs);
    if (hs->dl_fd >= 0)
        close(hs->dl_fd);
    hs->dl_fd = -1;
    if (left > 0)
        hs->host->log(hs->self, CC_LOG_WARN,
                      "stopping with %zu events not delivered to %s; they are sent again "
                      "after a restart", left, hs->url);
}

/* SIGHUP: reopen the dead-letter file, for logrotate. */
static void http_reopen(void *state)
{
    http_sink_t *hs = state;
    if (hs->dead_letter == NULL || !hs->running)
        return;
    int fd = open(hs->dead_letter, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        hs->host->log(hs->self, CC_LOG_ERROR, "cannot reopen %s: %s; still writing to the old file",
                      hs->dead_letter, strerror(errno));
        return;
    }
    if (hs->dl_fd >= 0)
        close(hs->dl_fd);
    hs->dl_fd = fd;
    hs->dl_partial = false;   /* a fragment stays in the old file */
    hs->host->log(hs->self, CC_LOG_INFO, "reopened %s", hs->dead_letter);
}

static void http_free(http_sink_t *hs)
{
    if (hs->curl != NULL)
        http_curl_free(hs->curl);
    if (hs->reqs != NULL) {
        for (unsigned i = 0; i < hs->concurrency; i++) {
            if (hs->reqs[i].easy)
                curl_easy_cleanup(hs->reqs[i].easy);
            curl_slist_free_all(hs->reqs[i].headers);
            http_buf_free(&hs->reqs[i].body);
        }
        free(hs->reqs);
    }
    if (hs->queue.buckets != NULL)
        http_queue_free(&hs->queue);
    for (size_t i = 0; i < hs->n_fixed_headers; i++)
        free(hs->fixed_headers[i]);
    free(hs->fixed_headers);
    free(hs->key);
    http_buf_free(&hs->dl_line);
    if (hs->dl_fd >= 0)
        close(hs->dl_fd);
    free(hs);
}

static void http_destroy(void *state)
{
    http_free(state);
}

/* ------------------------------------------------------------------ */
/* init: config                                                         */

static pthread_once_t http_curl_once = PTHREAD_ONCE_INIT;
static CURLcode http_curl_init_rc = CURLE_FAILED_INIT;

static void http_curl_global_init(void)
{
    http_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool http_token_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s >= 127 || strchr("()<>@,;:\\\"/[]?={}", *s))
            return false;
    return true;
}

/* Keeps a header line (steals `line`, which may be NULL: out of memory). */
static int http_add_line(http_sink_t *hs, char *line)
{
    char **h = line ? realloc(hs->fixed_headers, (hs->n_fixed_headers + 1) * sizeof *h) : NULL;
    if (h == NULL) {
        free(line);
        return CC_ENOMEM;
    }
    hs->fixed_headers = h;
    h[hs->n_fixed_headers++] = line;
    return 0;
}

static int http_add_header(http_sink_t *hs, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = malloc(n);
    /* curl drops "Name:" with an empty value; "Name;" sends it empty. */
    if (line != NULL && *value)
        snprintf(line, n, "%s: %s", name, value);
    else if (line != NULL)
        snprintf(line, n, "%s;", name);
    return http_add_line(hs, line);
}

static int http_config_headers(http_sink_t *hs)
{
    const json_t *obj = hs->host->config_json(hs->self, "headers");
    bool own_type = false, own_agent = false;
    const char *name;
    json_t *v;
    if (obj != NULL && !json_is_object(obj)) {
        hs->host->log(hs->self, CC_LOG_ERROR, "%s.config.headers: expected an object",
                      hs->place);
        return CC_ECONFIG;
    }
    if (obj != NULL) {
        json_object_foreach((json_t *)(uintptr_t)obj, name, v) {
            if (!http_token_ok(name)) {
                hs->host->log(hs->self, CC_LOG_ERROR,
                              "%s.config.headers: \"%s\" is not a valid header name",
                              hs->place, name);
                return CC_ECONFIG;
            }
            if (!json_is_string(v) || strpbrk(json_string_value(v), "\r\n") != NULL) {
                hs->host->log(hs->self, CC_LOG_ERROR,
                              "%s.config.headers.%s: expected a string on one line",
                              hs->place, name);
                return CC_ECONFIG;
            }
            own_type |= strcasecmp(name, "Content-Type") == 0;
            own_agent |= strcasecmp(name, "User-Agent") == 0;
            if (http_add_header(hs, name, json_string_value(v)) != 0)
                return CC_ENOMEM;
        }
    }
    /* Expect: off — curl would wait for "100 Continue" before large bodies. */
    if ((!own_type && http_add_header(hs, "Content-Type", "application/json") != 0) ||
        (!own_agent && http_add_header(hs, "User-Agent", "changecast-http/" HTTP_PLUGIN_VERSION) != 0) ||
        http_add_line(hs, strdup("Expect:")) != 0)
        return CC_ENOMEM;
    return 0;
}

static int http_config(http_sink_t *hs)
{
    const cc_host_t *host = hs->host;
    cc_instance_t *self = hs->self;
    hs->url = host->config_string(self, "url");
    if (hs->url == NULL || (strncasecmp(hs->url, "http://", 7) != 0 &&
                            strncasecmp(hs->url, "https://", 8) != 0) ||
        strpbrk(hs->url, " \r\n\t") != NULL) {
        host->log(self, CC_LOG_ERROR, "%s.config.url: expected an http:// or https:// URL",
                  hs->place);
        return CC_ECONFIG;
    }
    hs->timeout_ms = (long)host->config_int(self, "timeout_ms", 5000);
    hs->max_retries = (unsigned)host->config_int(self, "max_retries", 8);
    hs->concurrency = (unsigned)host->config_int(self, "concurrency", 16);
    hs->backoff_ms = (uint64_t)host->config_int(self, "backoff_ms", 200);
    hs->max_backoff_ms = (uint64_t)host->config_int(self, "max_backoff_ms", 30000);
    if (hs->max_backoff_ms < hs->backoff_ms)
        hs->max_backoff_ms = hs->backoff_ms;
    const char *secret = host->config_string(self, "secret");
    if (secret != NULL) {
        int rc = http_secret_key(secret, &hs->key, &hs->key_len);
        if (rc == CC_ENOMEM)
            return rc;
        if (rc != 0) {
            host->log(self, CC_LOG_ERROR,
                      "%s.config.secret: expected a non-empty secret (a whsec_ prefix "
                      "must be followed by base64)", hs->place);
            return CC_ECONFIG;
        }
    }
    int rc = http_config_headers(hs);
    if (rc != 0)
        return rc;
    if (host->config_string(self, "dead_letter") != NULL)
        hs->dead_letter = host->config_path(self, "dead_letter");
    return 0;
}

/* Opens the dead-letter file, when there is one (init only: check opens
 * nothing). */
static int http_open_dead_letter(http_sink_t *hs)
{
    if (hs->dead_letter == NULL)
        return 0;
    hs->dl_fd = open(hs->dead_letter, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (hs->dl_fd >= 0)
        return 0;
    int err = errno;
    hs->host->log(hs->self, CC_LOG_ERROR, "%s.config.dead_letter: cannot open %s for appending: %s",
                  hs->place, hs->dead_letter, strerror(err));
    return err == ENOENT ? CC_ENOENT : CC_EIO;
}

static void http_metrics(http_sink_t *hs)
{
    if (!CC_HOST_HAS(hs->host, metric_new) || !CC_HOST_HAS(hs->host, metric_set))
        return;
    hs->m_in_flight = hs->host->metric_new(hs->self, CC_METRIC_GAUGE, "changecast_http_in_flight",
                                           "webhook requests in flight", NULL, NULL);
    for (int i = 0; i < HTTP_CODE_N; i++)
        hs->m_requests[i] = hs->host->metric_new(
            hs->self, CC_METRIC_COUNTER, "changecast_http_requests_total",
            "webhook requests by outcome (HTTP status class, or error for no response)", "code",
            http_code_labels[i]);
}

/* A sink with its place, nothing more yet. Returns new (http_free) or
 * NULL after logging. */
static http_sink_t *http_new(cc_instance_t *self, const cc_host_t *host)
{
    http_sink_t *hs = calloc(1, sizeof *hs);
    if (hs == NULL) {
        host->log(self, CC_LOG_ERROR, "out of memory");
        return NULL;
    }
    hs->self = self;
    hs->host = host;
    hs->name = host->instance_name(self);
    /* "sinks[1]", as the core writes places; older hosts: "sinks[<name>]". */
    hs->place = cc_place(host, self, "sinks", hs->place_buf, sizeof hs->place_buf);
    hs->dl_fd = -1;
    return hs;
}

/* changecast check: the config as init reads it; the dead-letter file is
 * not opened (nor created). */
static int http_check(cc_instance_t *self, const cc_host_t *host)
{
    http_sink_t *hs = http_new(self, host);
    if (hs == NULL)
        return CC_ENOMEM;
    int rc = http_config(hs);
    http_free(hs);
    return rc;
}

static int http_init(cc_instance_t *self, const cc_host_t *host, void **state)
{
    pthread_once(&http_curl_once, http_curl_global_init);
    if (http_curl_init_rc != CURLE_OK) {
        host->log(self, CC_LOG_ERROR, "curl_global_init failed: %s",
                  curl_easy_strerror(http_curl_init_rc));
        return CC_EIO;
    }
    http_sink_t *hs = http_new(self, host);
    if (hs == NULL)
        return CC_ENOMEM;
    hs->rng = (uint32_t)time(NULL) ^ (uint32_t)getpid() ^ (uint32_t)(uintptr_t)hs;
    if (hs->rng == 0)
        hs->rng = 1;
    int rc = http_config(hs);
    if (rc == 0)
        rc = http_open_dead_letter(hs);
    if (rc == 0) {
        hs->reqs = calloc(hs->concurrency, sizeof *hs->reqs);
        rc = hs->reqs == NULL ? CC_ENOMEM : http_queue_init(&hs->queue, hs, http_key_free_cb);
        if (rc == CC_ENOMEM)
            host->log(self, CC_LOG_ERROR, "out of memory");
    }
    if (rc != 0) {
        http_free(hs);
        return rc;
    }
    for (unsigned i = 0; i < hs->concurrency; i++)
        hs->reqs[i].hs = hs;
    http_metrics(hs);
    *state = hs;
    return 0;
}

static const cc_plugin_t http_plugin = {
    .abi_major = CC_ABI_MAJOR,
    .abi_minor = CC_ABI_MINOR,
    .size = sizeof(cc_plugin_t),
    .name = "http",
    .version = HTTP_PLUGIN_VERSION,
    .description = "POSTs events to a webhook URL (Standard Webhooks signatures, retries, "
                   "dead letter)",
    .kind = CC_PLUGIN_SINK,
    .config = http_config_fields,
    .init = http_init,
    .start = http_start,
    .deliver = http_deliver,
    .stop = http_stop,
    .destroy = http_destroy,
    .reopen = http_reopen,
    .flags = 0,
    .check = http_check,
};

CC_PLUGIN_ENTRY(http_plugin)
