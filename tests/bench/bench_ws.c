/* bench_ws — N WebSocket clients on one epoll loop, for the websocket sink's
 * broadcast benchmark (driven by tests/bench/bench_ws.py).
 *
 *   bench_ws -p PORT [-n 10000] [-e EVENTS] [-P /ws] [-c 256] [-i 5] [-t 300]
 *
 * Opens -n connections to 127.0.0.1:PORT (at most -c handshakes in flight,
 * so the listen backlog never overflows), upgrades each with GET -P, then
 * prints "READY <n>" on stdout and waits for -e text frames on every
 * connection. Each frame's envelope carries the emission time as a
 * "t_ns": <CLOCK_REALTIME ns> field (put into fullDocument by the emitter);
 * the client takes the receipt time when it parses the frame. At the end it
 * prints the figures, and one machine-readable line:
 *   RESULT conns=.. deliveries=.. seconds=.. per_s=.. e2e_per_s=.. p50_ms=.. p99_ms=.. ...
 * deliveries/s counts from the first to the last receipt, and (e2e) from
 * the earliest emission stamp seen to the last receipt. It stops when all
 * frames arrived, after -i seconds without a frame, or after -t seconds.
 * Exit status 0 when every connection got every frame, else 1.
 *
 * One thread, edge-triggered epoll, one shared 1 MB read buffer; a
 * connection keeps only a partial frame between reads (in its own small
 * heap buffer), so 10,000 clients fit in little memory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* memmem */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_CONNECTING, ST_HEAD, ST_OPEN, ST_DONE };

typedef struct conn {
    int fd;
    uint8_t state;
    uint32_t got;            /* text frames received */
    char *pend;              /* owned: bytes of an unfinished head or frame */
    uint32_t plen, pcap;
} conn_t;

static const char KEY[] = "dGhlIHNhbXBsZSBub25jZQ==";
static const char ACCEPT[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";   /* RFC 6455 1.3 */

static conn_t *conns;
static int nconns = 10000, port, inflight_max = 256;
static long events = 0;
static const char *path = "/ws";
static char request[512];
static size_t request_len;
static int ep;
static int opened, failed, inflight, next_conn;
static uint32_t *lat_us;                 /* owned: one entry per delivery */
static size_t nlat, latcap;
static uint64_t deliveries, first_rx, last_rx;
static uint64_t first_tx = UINT64_MAX;   /* earliest emission time seen */
static uint64_t closes;
static char rbuf[1 << 20];

static uint64_t now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static void conn_fail(conn_t *c, const char *why)
{
    if (failed < 5)
        fprintf(stderr, "bench_ws: connection %ld: %s\n", (long)(c - conns), why);
    failed++;
    if (c->state == ST_CONNECTING || c->state == ST_HEAD)
        inflight--;
    c->state = ST_DONE;
    close(c->fd);
    c->fd = -1;
    free(c->pend);
    c->pend = NULL;
    c->plen = c->pcap = 0;
}

static void start_one(void)
{
    conn_t *c = &conns[next_conn];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket (raise the open-file limit)");
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = fd;
    c->state = ST_CONNECTING;
    inflight++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP,
                             .data.u32 = (uint32_t)next_conn};
    next_conn++;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        die("epoll_ctl");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)
        conn_fail(c, strerror(errno));
}

static void keep(conn_t *c, const char *p, size_t n)
{
    if (n > c->pcap) {
        char *np = realloc(c->pend, n);
        if (np == NULL)
            die("realloc");
        c->pend = np;
        c->pcap = (uint32_t)n;
    }
    memmove(c->pend, p, n);
    c->plen = (uint32_t)n;
}

static void record(const char *payload, size_t n)
{
    static const char tag[] = "\"t_ns\":";
    const char *p = memmem(payload, n, tag, sizeof tag - 1);
    uint64_t rx = now_ns(CLOCK_REALTIME);
    if (first_rx == 0)
        first_rx = rx;
    last_rx = rx;
    deliveries++;
    if (p == NULL)
        return;
    p += sizeof tag - 1;
    while (p < payload + n && *p == ' ')
        p++;
    uint64_t t = 0;
    while (p < payload + n && *p >= '0' && *p <= '9')
        t = t * 10 + (uint64_t)(*p++ - '0');
    if (nlat == latcap) {
        latcap = latcap ? latcap * 2 : (size_t)1 << 20;
        uint32_t *nl = realloc(lat_us, latcap * sizeof *lat_us);
        if (nl == NULL)
            die("realloc");
        lat_us = nl;
    }
    if (t < first_tx)
        first_tx = t;
    uint64_t us = rx > t ? (rx - t) / 1000u : 0;
    lat_us[nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void send_pong(conn_t *c, const char *payload, size_t n)
{
    uint8_t f[2 + 4 + 125];
    f[0] = 0x8A;
    f[1] = (uint8_t)(0x80 | n);
    memset(f + 2, 0, 4);               /* a zero mask key leaves the payload as is */
    memcpy(f + 6, payload, n);
    if (write(c->fd, f, 6 + n) < 0 && errno != EAGAIN)
        conn_fail(c, "pong write failed");
}

/* Parses frames in [p, p+n); returns bytes consumed (whole frames only). */
static size_t frames(conn_t *c, const char *p, size_t n)
{
    size_t off = 0;
    while (n - off >= 2) {
        const uint8_t *h = (const uint8_t *)p + off;
        uint64_t len = h[1] & 0x7F;
        size_t hl = 2;
        if (len == 126) {
            if (n - off < 4)
                break;
            len = ((uint64_t)h[2] << 8) | h[3];
            hl = 4;
        } else if (len == 127) {
            if (n - off < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | h[2 + i];
            hl = 10;
        }
        if (n - off - hl < len)
            break;
        const char *payload = p + off + hl;
        int op = h[0] & 0x0F;
        if (op == 1 || op == 2) {
            c->got++;
            record(payload, (size_t)len);
        } else if (op == 9 && len <= 125) {
            send_pong(c, payload, (size_t)len);
        } else if (op == 8) {
            closes++;
            conn_fail(c, "closed by the server");
            return n;
        }
        off += hl + (size_t)len;
    }
    return off;
}

static void on_head(conn_t *c, size_t n)
{
    char *end = memmem(rbuf, n, "\r\n\r\n", 4);
    if (end == NULL) {
        if (n > 4096)
            conn_fail(c, "response head too long");
        else
            keep(c, rbuf, n);
        return;
    }
    size_t head = (size_t)(end - rbuf) + 4;
    if (n < 12 || memcmp(rbuf, "HTTP/1.1 101", 12) != 0 || !memmem(rbuf, head, ACCEPT, sizeof ACCEPT - 1)) {
        rbuf[head - 4] = '\0';
        conn_fail(c, rbuf);
        return;
    }
    c->state = ST_OPEN;
    opened++;
    inflight--;
    size_t used = frames(c, rbuf + head, n - head);
    if (c->state == ST_OPEN)
        keep(c, rbuf + head + used, n - head - used);
}

/* Edge-triggered, yet no read just to see EAGAIN: a short read emptied the
 * socket, and more data makes a new edge (nginx does the same). Only a
 * hang-up seen with the edge makes it read on to the EOF, which would bring
 * no further edge. That halves the client's read calls per frame. */
static void on_readable(conn_t *c, bool hup)
{
    for (;;) {
        size_t have = c->plen;
        if (have >= sizeof rbuf / 2) {
            conn_fail(c, "frame larger than 512 KB");
            return;
        }
        if (have)
            memcpy(rbuf, c->pend, have);
        ssize_t r = read(c->fd, rbuf + have, sizeof rbuf - have);
        if (r == 0) {
            conn_fail(c, "EOF");
            return;
        }
        if (r < 0) {
            if (errno == EAGAIN)
                return;
            conn_fail(c, strerror(errno));
            return;
        }
        size_t n = have + (size_t)r;
        bool drained = (size_t)r < sizeof rbuf - have && !hup;
        c->plen = 0;
        if (c->state == ST_HEAD) {
            on_head(c, n);
        } else {
            size_t used = frames(c, rbuf, n);
            if (c->state == ST_OPEN)
                keep(c, rbuf + used, n - used);
        }
        if (c->state == ST_DONE)
            return;
        if (c->plen == 0 && c->pcap > 256) {   /* give back a big one-off buffer */
            free(c->pend);
            c->pend = NULL;
            c->pcap = 0;
        }
        if (drained)
            return;
    }
}

static void on_event(conn_t *c, uint32_t what)
{
    if (c->state == ST_DONE)
        return;
    if (c->state == ST_CONNECTING && (what & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err != 0) {
            conn_fail(c, strerror(err));
            return;
        }
        if (write(c->fd, request, request_len) != (ssize_t)request_len) {
            conn_fail(c, "request write failed");
            return;
        }
        c->state = ST_HEAD;
    }
    if (what & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        on_readable(c, (what & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p)
{
    if (nlat == 0)
        return 0;
    size_t i = (size_t)(p * (double)(nlat - 1) + 0.5);
    return lat_us[i] / 1000.0;
}

static void loop_once(int ms)
{
    struct epoll_event evs[1024];
    int k = epoll_wait(ep, evs, 1024, ms);
    if (k < 0 && errno != EINTR)
        die("epoll_wait");
    for (int i = 0; i < k; i++)
        on_event(&conns[evs[i].data.u32], evs[i].events);
}

int main(int argc, char **argv)
{
    int idle_s = 5, total_s = 300, opt;
    while ((opt = getopt(argc, argv, "p:n:e:P:c:i:t:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'n': nconns = atoi(optarg); break;
        case 'e': events = atol(optarg); break;
        case 'P': path = optarg; break;
        case 'c': inflight_max = atoi(optarg); break;
        case 'i': idle_s = atoi(optarg); break;
        case 't': total_s = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: bench_ws -p PORT [-n CONNS] [-e EVENTS] [-P PATH] "
                            "[-c INFLIGHT] [-i IDLE_S] [-t TOTAL_S]\n");
            return 2;
        }
    }
    if (port <= 0 || port > 65535 || nconns <= 0 || events < 0 || inflight_max <= 0) {
        fprintf(stderr, "bench_ws: -p PORT is required; -n, -c > 0; -e >= 0\n");
        return 2;
    }

    /* Every client is a descriptor: raise the soft limit to the hard one. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nconns + 16) {
        fprintf(stderr, "bench_ws: open-file limit %llu is below %d connections\n",
                (unsigned long long)rl.rlim_cur, nconns);
        return 2;
    }

    int rl_len = snprintf(request, sizeof request,
                          "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n", path, port, KEY);
    if (rl_len < 0 || (size_t)rl_len >= sizeof request) {
        fprintf(stderr, "bench_ws: path too long\n");
        return 2;
    }
    request_len = (size_t)rl_len;
    conns = calloc((size_t)nconns, sizeof *conns);
    if (conns == NULL)
        die("calloc");
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");

    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    uint64_t give_up = t0 + (uint64_t)total_s * 1000000000u;
    while (opened + failed < nconns && now_ns(CLOCK_MONOTONIC) < give_up) {
        while (next_conn < nconns && inflight < inflight_max)
            start_one();
        loop_once(100);
    }
    double conn_s = (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
    printf("connected %d of %d in %.2f s (%d failed)\nREADY %d\n", opened, nconns, conn_s,
           failed, opened);
    fflush(stdout);

    uint64_t want = (uint64_t)opened * (uint64_t)events;
    uint64_t last_seen = 0, last_change = now_ns(CLOCK_MONOTONIC);
    while (deliveries < want) {
        uint64_t t = now_ns(CLOCK_MONOTONIC);
        if (deliveries != last_seen) {
            last_seen = deliveries;
            last_change = t;
        } else if (deliveries > 0 && t - last_change > (uint64_t)idle_s * 1000000000u) {
            break;
        }
        if (t > give_up)
            break;
        loop_once(100);
    }

    qsort(lat_us, nlat, sizeof *lat_us, cmp_u32);
    double secs = last_rx > first_rx ? (double)(last_rx - first_rx) / 1e9 : 0;
    double per_s = secs > 0 ? (double)deliveries / secs : 0;
    double e2e = first_tx < last_rx ? (double)(last_rx - first_tx) / 1e9 : 0;
    double e2e_per_s = e2e > 0 ? (double)deliveries / e2e : 0;
    printf("deliveries %" PRIu64 " of %" PRIu64 " in %.3f s (first to last receipt): %.0f/s;"
           " %.3f s from the first emission: %.0f/s\n", deliveries, want, secs, per_s, e2e,
           e2e_per_s);
    printf("latency emission->receipt: min %.2f ms  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms"
           "  max %.2f ms (%zu samples)\n", pct(0), pct(0.5), pct(0.9), pct(0.99),
           nlat ? lat_us[nlat - 1] / 1000.0 : 0, nlat);
    int complete = 0;
    for (int i = 0; i < nconns; i++)
        complete += conns[i].got == (uint32_t)events;
    printf("connections with every frame: %d of %d\n", complete, opened);
    if (closes)
        printf("closed by the server: %" PRIu64 "\n", closes);
    printf("RESULT conns=%d deliveries=%" PRIu64 " want=%" PRIu64 " seconds=%.3f per_s=%.0f "
           "e2e_seconds=%.3f e2e_per_s=%.0f "
           "p50_ms=%.3f p99_ms=%.3f max_ms=%.3f connect_s=%.2f failed=%d\n",
           opened, deliveries, want, secs, per_s, e2e, e2e_per_s, pct(0.5), pct(0.99),
           nlat ? lat_us[nlat - 1] / 1000.0 : 0, conn_s, failed);
    fflush(stdout);
    for (int i = 0; i < nconns; i++) {
        if (conns[i].fd > 0)
            close(conns[i].fd);
        free(conns[i].pend);
    }
    free(conns);
    free(lat_us);
    close(ep);
    return deliveries == want && failed == 0 ? 0 : 1;
}
