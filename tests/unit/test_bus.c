/* Unit tests of the event bus: ring wrap-around, multi-producer order,
 * block vs drop, gating by the slowest lossless sink, the acknowledged-prefix
 * rule for resume positions, close and drain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/bus.h"

static cc_event_t *mk(uint32_t source, uint64_t n, const char *position)
{
    char num[32];
    snprintf(num, sizeof num, "%llu", (unsigned long long)n);
    cc_event_init_t init = {
        .json = "{}", .json_len = 2, .id = num, .operation = "insert",
        .database = "db", .collection = "c", .document_id = num, .timestamp = (double)n,
    };
    cc_event_t *ev = cc_event_new(&init);
    assert_non_null(ev);
    ev->source = source;
    if (position)
        assert_int_equal(cc_event_set_position(ev, position), 0);
    return ev;
}

static void publish_one(cc_bus_t *bus, cc_event_t *ev)
{
    size_t done = 0;
    assert_int_equal(cc_bus_publish(bus, &ev, 1, &done), 0);
    assert_int_equal(done, 1);
}

/* Records resume positions reported by the bus. */
typedef struct positions {
    pthread_mutex_t lock;
    char last[4][32];
    int calls;
} positions_t;

static void on_position(void *arg, uint32_t source, const char *position)
{
    positions_t *p = arg;
    pthread_mutex_lock(&p->lock);
    snprintf(p->last[source], sizeof p->last[source], "%s", position);
    p->calls++;
    pthread_mutex_unlock(&p->lock);
}

static void ring_wraps_around_many_times_keeping_order(void **unused)
{
    (void)unused;
    cc_bus_t *bus = cc_bus_new(8, 1, NULL, NULL);
    cc_bus_consumer_t *c = cc_bus_consumer_add(bus, 1, NULL, NULL);
    cc_event_t *out[8];
    for (uint64_t i = 0; i < 1000; i++) {
        publish_one(bus, mk(0, i, NULL));
        if (i % 3 == 2) {
            size_t n = cc_bus_poll(c, out, 8, NULL);
            assert_int_equal(n, 3);
            for (size_t k = 0; k < n; k++)
                assert_int_equal((uint64_t)out[k]->timestamp, i - 2 + k);
            cc_bus_ack(c, out, n);
        }
    }
    assert_int_equal(cc_bus_published(bus), 1000);
    cc_bus_free(bus);
}

static void capacity_must_be_power_of_two(void **unused)
{
    (void)unused;
    assert_null(cc_bus_new(0, 1, NULL, NULL));
    assert_null(cc_bus_new(1, 1, NULL, NULL));
    assert_null(cc_bus_new(12, 1, NULL, NULL));
    cc_bus_t *bus = cc_bus_new(16, 1, NULL, NULL);
    assert_non_null(bus);
    assert_int_equal(cc_bus_capacity(bus), 16);
    cc_bus_free(bus);
}

/* A waiting consumer thread: sleeps on a condition variable until woken. */
typedef struct sink_thread {
    cc_bus_consumer_t *c;
    pthread_t tid;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int woken;
    uint64_t expect_total;
    uint64_t got;
    uint64_t *next_per_source;   /* per-source order check */
    int order_ok;
    int ack_reverse;             /* acknowledge each batch in reverse order */
} sink_thread_t;

static void sink_wake(void *arg)
{
    sink_thread_t *s = arg;
    pthread_mutex_lock(&s->lock);
    s->woken = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void *sink_main(void *arg)
{
    sink_thread_t *s = arg;
    cc_event_t *out[256];
    while (s->got < s->expect_total) {
        size_t n = cc_bus_poll(s->c, out, 256, NULL);
        if (n == 0) {
            if (cc_bus_sleep(s->c))
                continue;
            pthread_mutex_lock(&s->lock);
            while (!s->woken)
                pthread_cond_wait(&s->cond, &s->lock);
            s->woken = 0;
            pthread_mutex_unlock(&s->lock);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            uint32_t src = out[i]->source;
            if ((uint64_t)out[i]->timestamp != s->next_per_source[src])
                s->order_ok = 0;
            s->next_per_source[src] = (uint64_t)out[i]->timestamp + 1;
        }
        if (s->ack_reverse) {
            for (size_t i = n; i-- > 0;)
                cc_bus_ack(s->c, &out[i], 1);
        } else {
            cc_bus_ack(s->c, out, n);
        }
        s->got += n;
    }
    return NULL;
}

typedef struct producer {
    cc_bus_t *bus;
    uint32_t source;
    uint64_t count;
} producer_t;

static void *producer_main(void *arg)
{
    producer_t *p = arg;
    cc_event_t *batch[32];
    uint64_t i = 0;
    while (i < p->count) {
        size_t n = 0;
        while (n < 32 && i < p->count) {
            char pos[32];
            snprintf(pos, sizeof pos, "%u:%llu", p->source, (unsigned long long)i);
            batch[n++] = mk(p->source, i++, pos);
        }
        size_t done = 0;
        if (cc_bus_publish(p->bus, batch, n, &done) != 0 || done != n)
            abort();
    }
    return NULL;
}

static void sink_thread_start(sink_thread_t *s, cc_bus_t *bus, int lossless, uint64_t total,
                              uint32_t n_sources)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->c = cc_bus_consumer_add(bus, lossless, sink_wake, s);
    s->expect_total = total;
    s->next_per_source = calloc(n_sources, sizeof(uint64_t));
    s->order_ok = 1;
}

static void multi_producer_stress_keeps_per_source_order_for_every_sink(void **unused)
{
    (void)unused;
    enum { SOURCES = 4, PER = 100000, SINKS = 2 };
    positions_t pos = {.lock = PTHREAD_MUTEX_INITIALIZER};
    cc_bus_t *bus = cc_bus_new(1024, SOURCES, on_position, &pos);
    sink_thread_t sinks[SINKS];
    for (int i = 0; i < SINKS; i++)
        sink_thread_start(&sinks[i], bus, 1, (uint64_t)SOURCES * PER, SOURCES);
    sinks[1].ack_reverse = 1;
    for (int i = 0; i < SINKS; i++)
        pthread_create(&sinks[i].tid, NULL, sink_main, &sinks[i]);
    producer_t prod[SOURCES];
    pthread_t ptid[SOURCES];
    for (uint32_t i = 0; i < SOURCES; i++) {
        prod[i] = (producer_t){bus, i, PER};
        pthread_create(&ptid[i], NULL, producer_main, &prod[i]);
    }
    for (int i = 0; i < SOURCES; i++)
        pthread_join(ptid[i], NULL);
    for (int i = 0; i < SINKS; i++) {
        pthread_join(sinks[i].tid, NULL);
        assert_int_equal(sinks[i].got, (uint64_t)SOURCES * PER);
        assert_true(sinks[i].order_ok);
        for (int s = 0; s < SOURCES; s++)
            assert_int_equal(sinks[i].next_per_source[s], PER);
        free(sinks[i].next_per_source);
    }
    /* Every event acknowledged by both sinks: each source's resume point is
     * its last event. */
    for (uint32_t s = 0; s < SOURCES; s++) {
        char want[32];
        snprintf(want, sizeof want, "%u:%d", s, PER - 1);
        assert_string_equal(pos.last[s], want);
    }
    assert_true(cc_bus_drained(bus));
    assert_int_equal(cc_bus_depth(bus), 0);
    cc_bus_free(bus);
}

typedef struct pub_args {
    cc_bus_t *bus;
    uint64_t n;
    int rc;
} pub_args_t;

static void *publish_n(void *arg)
{
    pub_args_t *a = arg;
    for (uint64_t i = 0; i < a->n; i++) {
        cc_event_t *ev = mk(0, i, NULL);
        size_t done = 0;
        a->rc = cc_bus_publish(a->bus, &ev, 1, &done);
        if (a->rc != 0) {
            cc_event_unref(ev);
            return NULL;
        }
    }
    return NULL;
}

static void wait_published(cc_bus_t *bus, uint64_t n)
{
    for (int i = 0; i < 5000 && cc_bus_published(bus) < n; i++)
        usleep(1000);
    assert_int_equal(cc_bus_published(bus), n);
}

static void lossless_sink_blocks_producer_until_it_acknowledges(void **unused)
{
    (void)unused;
    cc_bus_t *bus = cc_bus_new(16, 1, NULL, NULL);
    cc_bus_consumer_t *c = cc_bus_consumer_add(bus, 1, NULL, NULL);
    pub_args_t a = {bus, 20, 0};
    pthread_t t;
    pthread_create(&t, NULL, publish_n, &a);
    wait_published(bus, 16);
    usleep(50000);
    assert_int_equal(cc_bus_published(bus), 16);   /* still waiting for room */
    cc_event_t *out[16];
    size_t n = cc_bus_poll(c, out, 16, NULL);
    assert_int_equal(n, 16);
    usleep(20000);
    assert_int_equal(cc_bus_published(bus), 16);   /* polled is not acknowledged */
    cc_bus_ack(c, out, 4);
    pthread_join(t, NULL);
    assert_int_equal(a.rc, 0);
    assert_int_equal(cc_bus_published(bus), 20);
    cc_bus_free(bus);
}

static void slowest_lossless_sink_gates_producers(void **unused)
{
    (void)unused;
    cc_bus_t *bus = cc_bus_new(16, 1, NULL, NULL);
    cc_bus_consumer_t *fast = cc_bus_consumer_add(bus, 1, NULL, NULL);
    cc_bus_consumer_t *slow = cc_bus_consumer_add(bus, 1, NULL, NULL);
    pub_args_t a = {bus, 40, 0};
    pthread_t t;
    pthread_create(&t, NULL, publish_n, &a);
    cc_event_t *out[64];
    wait_published(bus, 16);
    size_t n = cc_bus_poll(fast, out, 64, NULL);
    cc_bus_ack(fast, out, n);
    usleep(50000);
    /* The fast sink acknowledged everything; the slow one nothing. */
    assert_int_equal(cc_bus_published(bus), 16);
    assert_int_equal(cc_bus_depth(bus), 16);
    n = cc_bus_poll(slow, out, 8, NULL);
    cc_bus_ack(slow, out, n);
    wait_published(bus, 24);
    cc_bus_close(bus);
    pthread_join(t, NULL);
    assert_int_equal(a.rc, CC_ECLOSED);
    cc_bus_free(bus);
}

static void lossy_sink_skips_ahead_and_counts_drops(void **unused)
{
    (void)unused;
    cc_bus_t *bus = cc_bus_new(16, 1, NULL, NULL);
    cc_bus_consumer_t *c = cc_bus_consumer_add(bus, 0, NULL, NULL);
    pub_args_t a = {bus, 100, 0};
    pthread_t t;
    pthread_create(&t, NULL, publish_n, &a);
    uint64_t dropped = 0, got = 0, last = 0;
    int first = 1, increasing = 1;
    cc_event_t *out[4];
    while (got + dropped < 100) {
        usleep(2000);   /* slower than the producer */
        size_t n = cc_bus_poll(c, out, 4, &dropped);
        for (size_t i = 0; i < n; i++) {
            uint64_t v = (uint64_t)out[i]->timestamp;
            if (!first && v <= last)
                increasing = 0;
            last = v;
            first = 0;
        }
        cc_bus_ack(c, out, n);
        got += n;
    }
    pthread_join(t, NULL);
    assert_int_equal(a.rc, 0);
    assert_true(dropped > 0);
    assert_true(increasing);
    assert_int_equal(got + dropped, 100);
    assert_int_equal(last, 99);
    cc_bus_free(bus);
}

static void resume_position_follows_the_contiguous_acknowledged_prefix(void **unused)
{
    (void)unused;
    positions_t pos = {.lock = PTHREAD_MUTEX_INITIALIZER};
    cc_bus_t *bus = cc_bus_new(16, 2, on_position, &pos);
    cc_bus_consumer_t *a = cc_bus_consumer_add(bus, 1, NULL, NULL);
    cc_bus_consumer_t *b = cc_bus_consumer_add(bus, 1, NULL, NULL);
    const char *p[] = {"p0", "p1", "p2", "p3", "p4"};
    for (int i = 0; i < 5; i++)
        publish_one(bus, mk(0, (uint64_t)i, p[i]));
    cc_event_t *ea[8], *eb[8];
    assert_int_equal(cc_bus_poll(a, ea, 8, NULL), 5);
    assert_int_equal(cc_bus_poll(b, eb, 8, NULL), 5);

    cc_bus_ack(b, eb, 5);                 /* b has everything             */
    cc_bus_ack(a, &ea[0], 1);
    cc_bus_ack(a, &ea[2], 1);
    cc_bus_ack(a, &ea[3], 1);
    assert_string_equal(pos.last[0], "p0");   /* 1 is missing: prefix is 0 */
    cc_bus_ack(a, &ea[1], 1);
    assert_string_equal(pos.last[0], "p3");
    cc_bus_ack(a, &ea[4], 1);
    assert_string_equal(pos.last[0], "p4");

    /* Only events that carry a position move it (copies of a
     * multi-recipient change carry none but the last). */
    publish_one(bus, mk(1, 0, NULL));
    publish_one(bus, mk(1, 1, "q1"));
    assert_int_equal(cc_bus_poll(a, ea, 8, NULL), 2);
    assert_int_equal(cc_bus_poll(b, eb, 8, NULL), 2);
    cc_bus_ack(a, ea, 2);
    cc_bus_ack(b, eb, 1);
    assert_string_equal(pos.last[1], "");
    cc_bus_ack(b, &eb[1], 1);
    assert_string_equal(pos.last[1], "q1");
    assert_string_equal(pos.last[0], "p4");
    cc_bus_free(bus);
}

static void close_releases_a_waiting_producer_with_eclosed(void **unused)
{
    (void)unused;
    cc_bus_t *bus = cc_bus_new(4, 1, NULL, NULL);
    cc_bus_consumer_add(bus, 1, NULL, NULL);
    pub_args_t a = {bus, 10, 0};
    pthread_t t;
    pthread_create(&t, NULL, publish_n, &a);
    wait_published(bus, 4);
    cc_bus_close(bus);
    pthread_join(t, NULL);
    assert_int_equal(a.rc, CC_ECLOSED);
    cc_event_t *ev = mk(0, 0, NULL);
    size_t done = 7;
    assert_int_equal(cc_bus_publish(bus, &ev, 1, &done), CC_ECLOSED);
    assert_int_equal(done, 0);
    cc_event_unref(ev);
    cc_bus_free(bus);
}

static void drained_only_when_every_lossless_sink_acknowledged(void **unused)
{
    (void)unused;
    cc_bus_t *bus = cc_bus_new(16, 1, NULL, NULL);
    cc_bus_consumer_t *c = cc_bus_consumer_add(bus, 1, NULL, NULL);
    cc_bus_consumer_add(bus, 0, NULL, NULL);   /* lossy: never counts */
    assert_true(cc_bus_drained(bus));
    publish_one(bus, mk(0, 0, NULL));
    assert_false(cc_bus_drained(bus));
    cc_event_t *out[2];
    assert_int_equal(cc_bus_poll(c, out, 2, NULL), 1);
    assert_false(cc_bus_drained(bus));
    cc_bus_ack(c, out, 1);
    assert_true(cc_bus_drained(bus));
    cc_bus_free(bus);
}

static int woke;
static void count_wake(void *arg)
{
    (void)arg;
    woke++;
}

static void sleeping_consumer_is_woken_once_per_sleep(void **unused)
{
    (void)unused;
    cc_bus_t *bus = cc_bus_new(16, 1, NULL, NULL);
    cc_bus_consumer_t *c = cc_bus_consumer_add(bus, 1, count_wake, NULL);
    woke = 0;
    publish_one(bus, mk(0, 0, NULL));
    assert_int_equal(woke, 0);            /* not sleeping: no wake call */
    assert_int_equal(cc_bus_sleep(c), 1); /* events waiting: don't sleep */
    cc_event_t *out[4];
    size_t n = cc_bus_poll(c, out, 4, NULL);
    cc_bus_ack(c, out, n);
    assert_int_equal(cc_bus_sleep(c), 0);
    publish_one(bus, mk(0, 1, NULL));
    publish_one(bus, mk(0, 2, NULL));
    assert_int_equal(woke, 1);
    cc_bus_free(bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(capacity_must_be_power_of_two),
        cmocka_unit_test(ring_wraps_around_many_times_keeping_order),
        cmocka_unit_test(multi_producer_stress_keeps_per_source_order_for_every_sink),
        cmocka_unit_test(lossless_sink_blocks_producer_until_it_acknowledges),
        cmocka_unit_test(slowest_lossless_sink_gates_producers),
        cmocka_unit_test(lossy_sink_skips_ahead_and_counts_drops),
        cmocka_unit_test(resume_position_follows_the_contiguous_acknowledged_prefix),
        cmocka_unit_test(close_releases_a_waiting_producer_with_eclosed),
        cmocka_unit_test(drained_only_when_every_lossless_sink_acknowledged),
        cmocka_unit_test(sleeping_consumer_is_woken_once_per_sleep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
