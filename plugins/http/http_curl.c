/* http_curl.c — libcurl's multi interface on a libevent base.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to
 * wake it (CURLMOPT_TIMERFUNCTION); libevent watches them on the sink's own
 * loop and we hand readiness back with curl_multi_socket_action. Nothing
 * here blocks, and the multi keeps finished connections open for the next
 * request (keep-alive), up to max_conns.
 */
#include <stdlib.h>

#include "changecast/error.h"
#include "http.h"

typedef struct http_sock {
    struct http_curl *hc;
    struct event *ev;           /* owned */
    struct http_sock *prev, *next;
} http_sock_t;

struct http_curl {
    struct event_base *base;    /* borrowed */
    CURLM *multi;
    struct event *timer;        /* owned */
    http_sock_t *socks;         /* every watched socket, to free leftovers */
    http_curl_done_cb done;
    void *arg;
};

/* Hands finished transfers to the owner; their handles are removed first so
 * the callback may start new transfers with them at once. */
static void hc_check_done(http_curl_t *hc)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(hc->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;   /* msg is invalid after the remove */
        curl_multi_remove_handle(hc->multi, easy);
        hc->done(hc->arg, easy, rc);
    }
}

static void hc_event_cb(evutil_socket_t fd, short what, void *arg)
{
    http_sock_t *sk = arg;
    http_curl_t *hc = sk->hc;   /* sk may be freed inside socket_action */
    int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(hc->multi, fd, flags, &running);
    hc_check_done(hc);
}

static void hc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_curl_t *hc = arg;
    int running;
    curl_multi_socket_action(hc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    hc_check_done(hc);
}

static void hc_sock_free(http_curl_t *hc, http_sock_t *sk)
{
    event_free(sk->ev);
    if (sk->prev)
        sk->prev->next = sk->next;
    else
        hc->socks = sk->next;
    if (sk->next)
        sk->next->prev = sk->prev;
    free(sk);
}

static int hc_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    http_curl_t *hc = userp;
    http_sock_t *sk = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            curl_multi_assign(hc->multi, s, NULL);
            hc_sock_free(hc, sk);
        }
        return 0;
    }
    short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) |
                         (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST);
    if (sk == NULL) {
        sk = calloc(1, sizeof *sk);
        if (sk == NULL)
            return -1;   /* curl fails the transfer: retried like any error */
        sk->hc = hc;
        sk->ev = event_new(hc->base, s, kind, hc_event_cb, sk);
        if (sk->ev == NULL) {
            free(sk);
            return -1;
        }
        sk->next = hc->socks;
        if (hc->socks)
            hc->socks->prev = sk;
        hc->socks = sk;
        curl_multi_assign(hc->multi, s, sk);
    } else {
        /* Allowed on an event_new'd event once it is no longer pending. */
        event_del(sk->ev);
        event_assign(sk->ev, hc->base, s, kind, hc_event_cb, sk);
    }
    event_add(sk->ev, NULL);
    return 0;
}

static int hc_timer_set_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    http_curl_t *hc = userp;
    if (timeout_ms < 0) {
        evtimer_del(hc->timer);
        return 0;
    }
    /* Never socket_action from here (curl forbids the recursion): let the
     * loop call it, even for a zero timeout. */
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    evtimer_add(hc->timer, &tv);
    return 0;
}

http_curl_t *http_curl_new(struct event_base *base, long max_conns, http_curl_done_cb done,
                           void *arg)
{
    http_curl_t *hc = calloc(1, sizeof *hc);
    if (hc == NULL)
        return NULL;
    hc->base = base;
    hc->done = done;
    hc->arg = arg;
    hc->multi = curl_multi_init();
    hc->timer = evtimer_new(base, hc_timer_cb, hc);
    if (hc->multi == NULL || hc->timer == NULL) {
        http_curl_free(hc);
        return NULL;
    }
    curl_multi_setopt(hc->multi, CURLMOPT_SOCKETFUNCTION, hc_socket_cb);
    curl_multi_setopt(hc->multi, CURLMOPT_SOCKETDATA, hc);
    curl_multi_setopt(hc->multi, CURLMOPT_TIMERFUNCTION, hc_timer_set_cb);
    curl_multi_setopt(hc->multi, CURLMOPT_TIMERDATA, hc);
    curl_multi_setopt(hc->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_conns);
    curl_multi_setopt(hc->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_conns);
    /* Idle connections kept for reuse: one per slot. */
    curl_multi_setopt(hc->multi, CURLMOPT_MAXCONNECTS, max_conns);
    return hc;
}

int http_curl_add(http_curl_t *hc, CURL *easy)
{
    return curl_multi_add_handle(hc->multi, easy) == CURLM_OK ? 0 : CC_EIO;
}

void http_curl_cancel(http_curl_t *hc, CURL *easy)
{
    curl_multi_remove_handle(hc->multi, easy);
}

void http_curl_free(http_curl_t *hc)
{
    if (hc == NULL)
        return;
    if (hc->multi)
        curl_multi_cleanup(hc->multi);   /* may still call hc_socket_cb */
    while (hc->socks)
        hc_sock_free(hc, hc->socks);
    if (hc->timer)
        event_free(hc->timer);
    free(hc);
}
