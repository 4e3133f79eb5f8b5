/* Bus handoff benchmark: events/s and ns/event from one producer to 1, 2
 * and 4 lossless consumers through cc_bus, beside a plain single-producer
 * single-consumer ring of pointers measured in the same run.
 *
 *   build/tests/bench/bench_bus [events] [capacity]   (default: 4096 and 65536)
 *
 * Events come from a pool and are re-published (one reference taken per
 * publish, dropped when the slot is reused), so the figures are the bus's
 * handoff cost, not malloc's. Consumers poll up to 1024 at a time and
 * acknowledge each batch, like the daemon's sink threads. The baseline ring
 * moves the same events with the same lifetime handling (a reference
 * handed over per event); a pointer-only ring is printed for reference. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/bus.h"

#define PUB_BATCH 64
#define POLL_BATCH 1024

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- baseline: Lamport SPSC ring with cached indices ---------------- */

typedef struct spsc {
    void **slots;
    size_t mask;
    _Alignas(64) _Atomic size_t head;
    _Alignas(64) _Atomic size_t tail;
} spsc_t;

typedef struct spsc_args {
    spsc_t *q;
    uint64_t n;
    int refs;          /* hand over a reference per event, as the bus does */
    uint64_t sum;
} spsc_args_t;

static void *spsc_consumer(void *arg)
{
    spsc_args_t *a = arg;
    spsc_t *q = a->q;
    size_t tail = 0, head_cache = 0;
    uint64_t got = 0, sum = 0;
    while (got < a->n) {
        if (tail == head_cache) {
            head_cache = atomic_load_explicit(&q->head, memory_order_acquire);
            if (tail == head_cache)
                continue;
        }
        size_t k = 0;
        while (tail != head_cache && k < POLL_BATCH) {
            void *p = q->slots[tail & q->mask];
            sum += (uintptr_t)p & 1;
            if (a->refs)
                cc_event_unref(p);
            tail++;
            k++;
        }
        atomic_store_explicit(&q->tail, tail, memory_order_release);
        got += k;
    }
    a->sum = sum;
    return NULL;
}

static double run_spsc(uint64_t n, size_t cap, cc_event_t **pool, size_t pool_mask, int refs)
{
    spsc_t q = {.slots = calloc(cap, sizeof(void *)), .mask = cap - 1};
    spsc_args_t a = {&q, n, refs, 0};
    pthread_t t;
    double t0 = now_s();
    pthread_create(&t, NULL, spsc_consumer, &a);
    size_t head = 0, tail_cache = 0;
    for (uint64_t i = 0; i < n;) {
        size_t want = n - i < PUB_BATCH ? (size_t)(n - i) : PUB_BATCH;
        while (head + want - tail_cache > cap)
            tail_cache = atomic_load_explicit(&q.tail, memory_order_acquire);
        for (size_t k = 0; k < want; k++) {
            cc_event_t *ev = pool[(i + k) & pool_mask];
            q.slots[(head + k) & q.mask] = refs ? cc_event_ref(ev) : ev;
        }
        head += want;
        i += want;
        atomic_store_explicit(&q.head, head, memory_order_release);
    }
    pthread_join(t, NULL);
    double dt = now_s() - t0;
    free(q.slots);
    return dt;
}

/* ---- cc_bus ----------------------------------------------------------- */

typedef struct consumer {
    cc_bus_consumer_t *c;
    pthread_t tid;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int woken;
    uint64_t n;
} consumer_t;

static void consumer_wake(void *arg)
{
    consumer_t *c = arg;
    pthread_mutex_lock(&c->lock);
    c->woken = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void *consumer_main(void *arg)
{
    consumer_t *c = arg;
    cc_event_t *out[POLL_BATCH];
    uint64_t got = 0;
    while (got < c->n) {
        size_t k = cc_bus_poll(c->c, out, POLL_BATCH, NULL);
        if (k == 0) {
            if (cc_bus_sleep(c->c))
                continue;
            pthread_mutex_lock(&c->lock);
            while (!c->woken)
                pthread_cond_wait(&c->cond, &c->lock);
            c->woken = 0;
            pthread_mutex_unlock(&c->lock);
            continue;
        }
        cc_bus_ack(c->c, out, k);
        got += k;
    }
    return NULL;
}

static double run_bus(uint64_t n, size_t cap, int sinks, cc_event_t **pool, size_t pool_mask)
{
    cc_bus_t *bus = cc_bus_new(cap, 1, NULL, NULL);
    consumer_t cons[8];
    for (int i = 0; i < sinks; i++) {
        memset(&cons[i], 0, sizeof cons[i]);
        pthread_mutex_init(&cons[i].lock, NULL);
        pthread_cond_init(&cons[i].cond, NULL);
        cons[i].n = n;
        cons[i].c = cc_bus_consumer_add(bus, 1, consumer_wake, &cons[i]);
    }
    double t0 = now_s();
    for (int i = 0; i < sinks; i++)
        pthread_create(&cons[i].tid, NULL, consumer_main, &cons[i]);
    cc_event_t *batch[PUB_BATCH];
    for (uint64_t i = 0; i < n;) {
        size_t want = n - i < PUB_BATCH ? (size_t)(n - i) : PUB_BATCH;
        for (size_t k = 0; k < want; k++)
            batch[k] = cc_event_ref(pool[(i + k) & pool_mask]);
        size_t done = 0;
        if (cc_bus_publish(bus, batch, want, &done) != 0)
            abort();
        i += want;
    }
    for (int i = 0; i < sinks; i++)
        pthread_join(cons[i].tid, NULL);
    double dt = now_s() - t0;
    cc_bus_free(bus);
    return dt;
}

static void report(const char *what, uint64_t n, double dt, double baseline)
{
    printf("%-28s %8.1f M events/s  %6.1f ns/event", what, n / dt / 1e6, dt * 1e9 / n);
    if (baseline > 0)
        printf("  (%3.0f%% of baseline)", 100.0 * (n / dt) / (n / baseline));
    printf("\n");
}

static void run_all(uint64_t n, size_t cap)
{
    /* Pool larger than the ring: an event is on the ring at most once. */
    size_t pool_n = cap * 2;
    cc_event_t **pool = calloc(pool_n, sizeof *pool);
    for (size_t i = 0; i < pool_n; i++) {
        cc_event_init_t init = {.json = "{}", .json_len = 2, .id = "x", .operation = "insert",
                                .database = "db", .collection = "c", .document_id = "1"};
        pool[i] = cc_event_new(&init);
    }
    printf("bus handoff: %llu events, ring %zu slots, producer batch %d, consumer batch %d\n",
           (unsigned long long)n, cap, PUB_BATCH, POLL_BATCH);
    double bare = run_spsc(n, cap, pool, pool_n - 1, 0);
    report("spsc ring, pointers only", n, bare, 0);
    /* The baseline: the same events with the same lifetime handling (a
     * reference handed over per event and dropped after use), the least any
     * ring must do to pass refcounted events between threads. */
    double base = run_spsc(n, cap, pool, pool_n - 1, 1);
    report("baseline spsc ring 1 -> 1", n, base, 0);
    int fan[] = {1, 2, 4};
    for (size_t i = 0; i < 3; i++) {
        char what[64];
        snprintf(what, sizeof what, "cc_bus 1 -> %d sink%s", fan[i], fan[i] > 1 ? "s" : "");
        report(what, n, run_bus(n, cap, fan[i], pool, pool_n - 1), fan[i] == 1 ? base : 0);
    }
    for (size_t i = 0; i < pool_n; i++)
        cc_event_unref(pool[i]);
    free(pool);
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000ull;
    if (argc > 2) {
        run_all(n, strtoull(argv[2], NULL, 10));
        return 0;
    }
    /* A ring whose events stay in cache measures the handoff itself; the
     * default 65,536 adds the cost of touching events that left the cache. */
    run_all(n, 4096);
    run_all(n, 65536);
    return 0;
}
