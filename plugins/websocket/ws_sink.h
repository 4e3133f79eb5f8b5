/* ws_sink.h — the websocket sink's internal types, shared by its files.
 *
 * Everything here lives on the sink's own event-loop thread
 * (host->event_base): the listener, every connection, the hub, the replay
 * window and deliver. Nothing is locked.
 */
#ifndef WS_SINK_H
#define WS_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "changecast/changecast.h"
#include "ws_auth.h"
#include "ws_conflate.h"
#include "ws_frame.h"
#include "ws_http.h"
#include "ws_item.h"
#include "ws_replay.h"

#define WS_PLUGIN_VERSION "0.1.0"

typedef struct ws_sink ws_sink_t;
typedef struct ws_conn ws_conn_t;
typedef struct ws_rcpt ws_rcpt_t;

/* A path template split around "{recipient}": prefix + recipient + suffix.
 * has_rcpt false: the path is matched exactly and carries broadcasts only. */
typedef struct ws_route {
    char *prefix;            /* owned */
    char *suffix;            /* owned */
    bool has_rcpt;
} ws_route_t;

typedef enum ws_kind {
    WS_KIND_HTTP = 0,        /* reading the request head */
    WS_KIND_WS,              /* upgraded WebSocket */
    WS_KIND_SSE              /* text/event-stream */
} ws_kind_t;

typedef enum ws_state {
    WS_ST_HEAD = 0,          /* reading the request head (handshake deadline) */
    WS_ST_OPEN,              /* in the hub, receiving events */
    WS_ST_CLOSING,           /* our close frame sent; waiting for the peer's */
    WS_ST_FLUSH              /* last bytes queued; freed once written */
} ws_state_t;

/* One client connection. Kept small: 10k idle sockets are the benchmark. */
struct ws_conn {
    ws_sink_t *sink;
    struct bufferevent *bev;       /* owned (closes the socket) */
    ws_conn_t *prev, *next;        /* sink->others or the hub's open list */
    ws_conn_t *rprev, *rnext;      /* the recipient's list while open */
    ws_rcpt_t *rcpt;               /* NULL: broadcasts only */
    ws_frame_parser_t *parser;     /* WebSocket: owned, after the upgrade */
    ws_conflate_t *cf;             /* on_slow=conflate, while over the limit: owned */
    ws_conn_t *dirty_next;         /* sink->dirty: got frames in this deliver */
    size_t grace;                  /* replayed bytes allowed over the limit until drained */
    int64_t deadline_ms;           /* head: monotonic deadline of the handshake */
    uint16_t scanned;              /* head bytes already searched for CRLFCRLF */
    uint8_t kind;                  /* ws_kind_t */
    uint8_t state;                 /* ws_state_t */
    bool ping_sent;                /* a keepalive ping awaits any traffic */
    bool in_open_list;
    bool line_checked;             /* head: the request line was judged */
    bool dirty;                    /* in sink->dirty */
};

/* A recipient with at least one open connection. */
struct ws_rcpt {
    char *name;                    /* owned */
    ws_rcpt_t *hnext;
    ws_conn_t *conns;              /* list through rprev/rnext */
};

typedef struct ws_hub {
    ws_rcpt_t **buckets;           /* owned; nbuckets, a power of two */
    size_t nbuckets, nrcpt;
    ws_conn_t *open;               /* every open connection (broadcasts) */
    size_t n_open, n_sse;
} ws_hub_t;

struct ws_sink {
    cc_instance_t *self;
    const cc_host_t *host;
    const char *place;             /* "sinks[1]" */
    char place_buf[96];

    /* Config (strings borrowed from the host until destroy). */
    const char *listen;
    ws_route_t ws_route, sse_route;
    const char *token_param;
    ws_auth_t *auth;               /* owned; NULL = anyone may listen */
    const char **origins;          /* owned array of borrowed strings */
    size_t n_origins;
    size_t max_connections;
    size_t max_queue_bytes;
    bool conflate;                 /* on_slow */
    size_t replay_events;
    int ping_ms;
    int handshake_timeout_ms;
    size_t max_message_bytes;
    const char *tls_cert, *tls_key;
    void *ssl_ctx;                 /* owned SSL_CTX *, NULL = plain */

    struct event_base *base;       /* borrowed: the sink's loop */
    struct evconnlistener *listener;
    ws_conn_t *others;             /* connections not in the hub: reading their
                                      head, or closing */
    size_t n_others;
    ws_hub_t hub;
    ws_conn_t *dirty;              /* connections to write to after a deliver */
    ws_replay_t replay;
    uint64_t seq;                  /* items made so far */
    ws_request_t *req;             /* owned scratch: one head parsed at a time */
    char *viewer;                  /* owned: the page for GET / */
    size_t viewer_len;
    bool running;
    bool direct;                   /* this deliver sends straight to idle sockets */
    int64_t slow_logged_ms;        /* last "closing a slow client" line */
    size_t slow_unlogged;          /* slow closes since, not logged */

    cc_metric_t *m_connections, *m_messages, *m_bytes, *m_slow_closes, *m_conflated;
    uint64_t n_messages, n_bytes;  /* since the last metric flush */
};

/* --- websocket.c --- */
void ws_sink_metrics_flush(ws_sink_t *ws);
void ws_sink_connections_changed(ws_sink_t *ws);

int64_t ws_now_ms(void);

/* --- ws_hub.c: recipient -> connections --- */
int ws_hub_init(ws_hub_t *h);
void ws_hub_free(ws_hub_t *h);
/* Adds an open connection, subscribed to `recipient` (borrowed, copied;
 * NULL = broadcasts only). 0 or CC_ENOMEM (nothing changed). */
int ws_hub_add(ws_hub_t *h, ws_conn_t *c, const char *recipient);
/* Takes a connection out (no-op when not in). */
void ws_hub_remove(ws_hub_t *h, ws_conn_t *c);
/* The connections of `recipient` (borrowed list through rnext), or NULL. */
ws_conn_t *ws_hub_find(const ws_hub_t *h, const char *recipient);

/* --- ws_server.c: listener and request heads --- */
/* "host:port" (port 0 = any free one) into *ss. 0 or -1. */
int ws_listen_parse(const char *listen, struct sockaddr_storage *ss, int *len);
int ws_server_start(ws_sink_t *ws);
/* An accepted socket's options: no Nagle delay, and unacknowledged data
 * drops it after 2 x ping_ms (dead peers, SSE ones included). */
void ws_socket_tune(evutil_socket_t fd, int ping_ms);
void ws_server_stop(ws_sink_t *ws);
/* Frees the SSL_CTX built by ws_server_tls_init. */
int ws_server_tls_init(ws_sink_t *ws);
void ws_server_tls_free(ws_sink_t *ws);

/* --- ws_conn.c: open connections --- */
/* Makes `c` (head parsed) a WebSocket or SSE connection: replays after
 * `last_id` (borrowed, may be NULL), then joins the hub under `recipient`.
 * Returns 0, or CC_ENOMEM after closing c. */
int ws_conn_open(ws_conn_t *c, const char *recipient, const char *last_id, bool has_last_id);
/* Sends one event to c (WebSocket frame or SSE message) under the slow-
 * consumer policy. */
void ws_conn_send(ws_conn_t *c, ws_item_t *it);
/* Starts closing c: WebSocket close frame with `code`, or just the socket. */
void ws_conn_close(ws_conn_t *c, uint16_t code, const char *reason);
/* Shutting down: best effort, one non-blocking write of a 1001 close frame
 * (plain WebSocket sockets), so clients know to reconnect. */
void ws_conn_going_away(ws_conn_t *c);
/* Frees c at once (socket closed, unlinked everywhere). */
void ws_conn_free(ws_conn_t *c);
void ws_conn_event_cb(struct bufferevent *bev, short what, void *arg);
/* Writes what deliver queued, straight to each socket (see ws_conn.c). */
void ws_conn_flush_dirty(ws_sink_t *ws);
/* Lets the bufferevent write what was queued outside deliver. */
void ws_conn_kick(ws_conn_t *c);
/* Sets the read timeout for keepalive (ping_ms) on an open connection. */
void ws_conn_arm_keepalive(ws_conn_t *c);

/* --- ws_viewer.c --- */
/* The viewer page for this WebSocket path template (borrowed). Returns new
 * (free), *len set, or NULL when out of memory. */
char *ws_viewer_build(const char *ws_path, size_t *len);

#endif
