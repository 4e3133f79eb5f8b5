/* bench_tcp_floor — what this machine's kernel alone costs for a broadcast
 * over N loopback TCP sockets: the floor under bench_ws.py's figures.
 *
 *   bench_tcp_floor [-n 10000] [-e 100] [-r 30] [-s 350] [-t 1]
 *
 * Two processes, no WebSocket, no libevent, no changecast: the parent
 * sends one -s byte message (stamped with CLOCK_REALTIME) to each of -n
 * accepted sockets, -e times at -r per second, from -t threads (each a
 * slice of the sockets); a child on edge-triggered epoll over the
 * connecting ends receives them, as bench_ws does. Prints the send loop's
 * time per broadcast and the latency from the stamp to receipt (p50, p99).
 * Whatever a server adds comes on top of this.
 *
 * On loopback a send() also runs the receiving side's TCP input (softirq in
 * the sender's context): about two thirds of its cost here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int n = 10000, events = 100, msg = 350, threads = 1;
static double rate = 30;
static int *srv, *cli;
static uint32_t *lat_us;          /* owned: n * events entries */
static size_t nlat;

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

/* -t > 1: each broadcast's sockets split among that many senders. */
typedef struct slice {
    pthread_t th;
    int begin, end;
    const char *m;
    pthread_barrier_t *go, *done;
} slice_t;

static void send_range(const char *m, int begin, int end)
{
    for (int i = begin; i < end; i++)
        if (send(srv[i], m, (size_t)msg, MSG_NOSIGNAL) != msg)
            die("send");
}

static void *sender(void *arg)
{
    slice_t *sl = arg;
    for (int e = 0; e < events; e++) {
        pthread_barrier_wait(sl->go);
        send_range(sl->m, sl->begin, sl->end);
        pthread_barrier_wait(sl->done);
    }
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Receives every message; messages are fixed-size, so a short read of a
 * partial one keeps the rest for the next read (per socket). */
static void reader(void)
{
    int ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    uint16_t *have = calloc((size_t)n, sizeof *have);
    char *part = malloc((size_t)n * (size_t)msg);
    if (have == NULL || part == NULL)
        die("malloc");
    for (int i = 0; i < n; i++) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, cli[i], &ev) != 0)
            die("epoll_ctl");
    }
    static char buf[1 << 16];
    size_t want = (size_t)n * (size_t)events;
    struct epoll_event evs[1024];
    while (nlat < want) {
        int k = epoll_wait(ep, evs, 1024, 1000);
        if (k < 0 && errno != EINTR)
            die("epoll_wait");
        for (int j = 0; j < k; j++) {
            uint32_t i = evs[j].data.u32;
            for (;;) {
                ssize_t r = read(cli[i], buf, sizeof buf);
                if (r == 0) {
                    fprintf(stderr, "bench_tcp_floor: the sender went away\n");
                    exit(1);
                }
                if (r < 0)
                    break;   /* EAGAIN */
                uint64_t rx = now_ns(CLOCK_REALTIME);
                size_t off = 0;
                while (off < (size_t)r) {
                    size_t take = (size_t)msg - have[i];
                    if (take > (size_t)r - off)
                        take = (size_t)r - off;
                    memcpy(part + (size_t)i * (size_t)msg + have[i], buf + off, take);
                    have[i] = (uint16_t)(have[i] + take);
                    off += take;
                    if (have[i] == (size_t)msg) {
                        uint64_t tx;
                        memcpy(&tx, part + (size_t)i * (size_t)msg, sizeof tx);
                        lat_us[nlat++] = (uint32_t)(rx > tx ? (rx - tx) / 1000u : 0);
                        have[i] = 0;
                    }
                }
                if ((size_t)r < sizeof buf)
                    break;   /* drained: the next data makes a new edge */
            }
        }
    }
    free(have);
    free(part);
    close(ep);
    qsort(lat_us, nlat, sizeof *lat_us, cmp_u32);
    printf("latency emission->receipt: p50 %.2f ms  p99 %.2f ms  max %.2f ms (%zu samples)\n",
           lat_us[nlat / 2] / 1000.0, lat_us[(size_t)(0.99 * (double)(nlat - 1))] / 1000.0,
           lat_us[nlat - 1] / 1000.0, nlat);
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "n:e:r:s:t:")) != -1) {
        switch (opt) {
        case 'n': n = atoi(optarg); break;
        case 'e': events = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 's': msg = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: bench_tcp_floor [-n conns] [-e events] [-r per_s] "
                            "[-s bytes] [-t threads]\n");
            return 2;
        }
    }
    if (n < 1 || events < 1 || msg < 8 || msg > 60000 || rate <= 0 || threads < 1 ||
        threads > 64) {
        fprintf(stderr, "bench_tcp_floor: bad arguments\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    srv = calloc((size_t)n, sizeof *srv);
    cli = calloc((size_t)n, sizeof *cli);
    lat_us = malloc((size_t)n * (size_t)events * sizeof *lat_us);
    char *m = calloc(1, (size_t)msg);
    if (srv == NULL || cli == NULL || lat_us == NULL || m == NULL)
        die("malloc");

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 4096) != 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) != 0)
        die("listen");
    /* Each side in its own process, so each holds n descriptors. */
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        close(ls);
        for (int i = 0; i < n; i++) {
            cli[i] = socket(AF_INET, SOCK_STREAM, 0);
            if (cli[i] < 0 || connect(cli[i], (struct sockaddr *)&sa, sizeof sa) != 0)
                die("connect (raise the open-file limit)");
            /* Non-blocking for the edge-triggered reader. */
            if (fcntl(cli[i], F_SETFL, fcntl(cli[i], F_GETFL) | O_NONBLOCK) != 0)
                die("fcntl");
        }
        reader();
        return 0;
    }
    int one = 1;
    for (int i = 0; i < n; i++) {
        srv[i] = accept(ls, NULL, NULL);
        if (srv[i] < 0)
            die("accept");
        /* Blocking sends: small messages to a reading peer never wait. */
        setsockopt(srv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    close(ls);
    struct timespec settle = {0, 200000000};   /* the child's epoll set is built */
    nanosleep(&settle, NULL);

    pthread_barrier_t go, done;
    slice_t slices[64];
    pthread_barrier_init(&go, NULL, (unsigned)threads);
    pthread_barrier_init(&done, NULL, (unsigned)threads);
    for (int k = 1; k < threads; k++) {
        slices[k] = (slice_t){.begin = n * k / threads, .end = n * (k + 1) / threads, .m = m,
                          .go = &go, .done = &done};
        if (pthread_create(&slices[k].th, NULL, sender, &slices[k]) != 0)
            die("pthread_create");
    }
    uint64_t period = (uint64_t)(1e9 / rate), send_ns = 0;
    uint64_t next = now_ns(CLOCK_MONOTONIC);
    for (int e = 0; e < events; e++) {
        uint64_t t = now_ns(CLOCK_MONOTONIC);
        if (t < next) {
            struct timespec ts = {(time_t)((next - t) / 1000000000u),
                                  (long)((next - t) % 1000000000u)};
            nanosleep(&ts, NULL);
        }
        /* Stamped with when it was due, as bench_ws.py's emitter does: a
         * sender behind schedule shows as queueing, not hidden by it. */
        uint64_t t0 = now_ns(CLOCK_MONOTONIC);
        uint64_t tx = now_ns(CLOCK_REALTIME) - (t0 > next ? t0 - next : 0);
        next += period;
        memcpy(m, &tx, sizeof tx);
        if (threads > 1)
            pthread_barrier_wait(&go);
        send_range(m, 0, n / threads);
        if (threads > 1)
            pthread_barrier_wait(&done);
        send_ns += now_ns(CLOCK_MONOTONIC) - t0;
    }
    for (int k = 1; k < threads; k++)
        pthread_join(slices[k].th, NULL);
    printf("tcp floor: %d sockets, %d broadcasts at %.0f/s, %d bytes, %d sender thread%s: send "
           "loop %.1f ms per broadcast\n", n, events, rate, msg, threads, threads > 1 ? "s" : "",
           send_ns / 1e6 / events);
    fflush(stdout);
    int st = 0;
    if (waitpid(child, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 1;
    return 0;
}
