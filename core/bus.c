/* core/bus.c — the event bus (see bus.h for the contract).
 *
 * Sequence numbers grow forever (64 bits); slot = seq & mask. Three cursors:
 *   head   next sequence a producer claims (CAS, so a closed bus leaves no
 *          claimed-but-unwritten holes);
 *   c->read / c->acked  per consumer: next to poll / contiguous acknowledged
 *          prefix (out-of-order acks wait in a bitmap until the gap closes);
 *   tail   every consumer acknowledged everything below it. Producers may
 *          claim sequence s only when s < tail + capacity, so a slot is
 *          reused only after all consumers are done with it; moving tail
 *          drops the ring's reference to the events passed.
 * The consumer that moves the minimum acknowledgement forward also moves
 * tail (one at a time, by an exchange flag), reporting on the way the newest
 * position of each source: that is the resume point every sink has covered.
 */
#include "core/bus.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "changecast/error.h"

#define CC_CACHELINE 64

typedef struct cc_slot {
    _Atomic uint64_t pub;      /* seq + 1 once published; 0 = never        */
    cc_event_t *ev;
    uint32_t source;
    uint32_t has_position;
} cc_slot_t;

struct cc_bus_consumer {
    cc_bus_t *bus;
    int lossless;
    cc_bus_wake_cb wake;
    void *wake_arg;

    /* Read by producers on every publish: on a line of its own, away from
     * `read`, which the consumer writes on every poll. */
    _Alignas(CC_CACHELINE) _Atomic int sleeping;

    _Alignas(CC_CACHELINE) _Atomic uint64_t read;     /* written by the consumer thread */

    _Alignas(CC_CACHELINE) _Atomic uint64_t acked;    /* written under ack_lock */
    pthread_mutex_t ack_lock;
    uint64_t *ack_bits;        /* capacity bits: acknowledged beyond `acked` */
};

struct cc_bus {
    size_t cap;
    uint64_t mask;
    cc_slot_t *slots;
    uint32_t n_sources;
    cc_bus_position_cb on_position;
    void *position_arg;

    cc_bus_consumer_t **consumers;
    size_t n_consumers;

    _Alignas(CC_CACHELINE) _Atomic uint64_t head;
    _Alignas(CC_CACHELINE) _Atomic uint64_t tail;
    _Atomic int tracker_busy;
    uint64_t *last_pos;        /* per source: newest seq+1 with a position in a walk (tracker only) */

    _Alignas(CC_CACHELINE) _Atomic int closed;
    _Atomic int producers_waiting;
    pthread_mutex_t wait_lock;
    pthread_cond_t space;
};

cc_bus_t *cc_bus_new(size_t capacity, uint32_t n_sources, cc_bus_position_cb on_position,
                     void *arg)
{
    if (capacity < 2 || (capacity & (capacity - 1)) != 0)
        return NULL;
    cc_bus_t *bus = calloc(1, sizeof *bus);
    if (!bus)
        return NULL;
    bus->cap = capacity;
    bus->mask = capacity - 1;
    bus->slots = calloc(capacity, sizeof *bus->slots);
    bus->n_sources = n_sources;
    bus->last_pos = calloc(n_sources ? n_sources : 1, sizeof *bus->last_pos);
    if (!bus->slots || !bus->last_pos) {
        free(bus->slots);
        free(bus->last_pos);
        free(bus);
        return NULL;
    }
    bus->on_position = on_position;
    bus->position_arg = arg;
    pthread_mutex_init(&bus->wait_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&bus->space, &ca);
    pthread_condattr_destroy(&ca);
    return bus;
}

void cc_bus_free(cc_bus_t *bus)
{
    if (!bus)
        return;
    for (size_t i = 0; i < bus->cap; i++)
        if (bus->slots[i].ev)
            cc_event_unref(bus->slots[i].ev);
    for (size_t i = 0; i < bus->n_consumers; i++) {
        pthread_mutex_destroy(&bus->consumers[i]->ack_lock);
        free(bus->consumers[i]->ack_bits);
        free(bus->consumers[i]);
    }
    free(bus->consumers);
    pthread_mutex_destroy(&bus->wait_lock);
    pthread_cond_destroy(&bus->space);
    free(bus->slots);
    free(bus->last_pos);
    free(bus);
}

cc_bus_consumer_t *cc_bus_consumer_add(cc_bus_t *bus, int lossless, cc_bus_wake_cb wake, void *arg)
{
    cc_bus_consumer_t **v = realloc(bus->consumers, (bus->n_consumers + 1) * sizeof *v);
    if (!v)
        return NULL;
    bus->consumers = v;
    cc_bus_consumer_t *c = aligned_alloc(CC_CACHELINE, (sizeof *c + CC_CACHELINE - 1)
                                                           / CC_CACHELINE * CC_CACHELINE);
    if (!c)
        return NULL;
    memset(c, 0, sizeof *c);
    c->ack_bits = calloc(bus->cap / 64 + 1, sizeof(uint64_t));
    if (!c->ack_bits) {
        free(c);
        return NULL;
    }
    c->bus = bus;
    c->lossless = lossless;
    c->wake = wake;
    c->wake_arg = arg;
    uint64_t h = atomic_load(&bus->head);
    atomic_init(&c->read, h);
    atomic_init(&c->acked, h);
    pthread_mutex_init(&c->ack_lock, NULL);
    bus->consumers[bus->n_consumers++] = c;
    return c;
}

static uint64_t bus_min_acked(const cc_bus_t *bus)
{
    uint64_t m = UINT64_MAX;
    for (size_t i = 0; i < bus->n_consumers; i++) {
        uint64_t a = atomic_load_explicit(&bus->consumers[i]->acked, memory_order_acquire);
        if (a < m)
            m = a;
    }
    /* No consumer: everything published counts as handled. */
    return m == UINT64_MAX ? atomic_load(&bus->head) : m;
}

static void bus_wake_producers(cc_bus_t *bus)
{
    if (atomic_load(&bus->producers_waiting) == 0)
        return;
    pthread_mutex_lock(&bus->wait_lock);
    pthread_cond_broadcast(&bus->space);
    pthread_mutex_unlock(&bus->wait_lock);
}

/* Moves tail up to the minimum acknowledgement, reporting each source's
 * newest position on the way. Runs on whichever thread acknowledged; one at a
 * time. A caller that finds the walk busy leaves: the walker looks again
 * after releasing the flag (seq_cst on both sides makes that re-check see
 * every acknowledgement that found the flag set). */
static void bus_advance_tail(cc_bus_t *bus)
{
    for (;;) {
        if (atomic_exchange(&bus->tracker_busy, 1))
            return;
        uint64_t t = atomic_load_explicit(&bus->tail, memory_order_relaxed);
        uint64_t g = bus_min_acked(bus);
        uint64_t s = t;
        int any = 0;
        for (; s < g; s++) {
            cc_slot_t *slot = &bus->slots[s & bus->mask];
            /* A lossy consumer may have skipped past a claimed slot whose
             * producer is still writing it: stop there. */
            if (atomic_load_explicit(&slot->pub, memory_order_acquire) != s + 1)
                break;
            if (slot->has_position && slot->source < bus->n_sources) {
                bus->last_pos[slot->source] = s + 1;
                any = 1;
            }
        }
        if (any && bus->on_position) {
            for (uint32_t src = 0; src < bus->n_sources; src++) {
                if (!bus->last_pos[src])
                    continue;
                cc_slot_t *slot = &bus->slots[(bus->last_pos[src] - 1) & bus->mask];
                bus->on_position(bus->position_arg, src, slot->ev->position);
                bus->last_pos[src] = 0;
            }
        }
        /* Drop the ring's references here, on the acknowledging thread that
         * just handled these events, rather than in a producer that would
         * touch them cold when reusing the slots. */
        for (uint64_t r = t; r < s; r++) {
            cc_slot_t *slot = &bus->slots[r & bus->mask];
            cc_event_unref(slot->ev);
            slot->ev = NULL;
        }
        if (s != t) {
            atomic_store_explicit(&bus->tail, s, memory_order_release);
            bus_wake_producers(bus);
        }
        atomic_store(&bus->tracker_busy, 0);
        if (bus_min_acked(bus) <= g || s < g)
            return;
    }
}

static void bus_wake_consumers(cc_bus_t *bus)
{
    /* Pairs with the fence in cc_bus_sleep: either the consumer sees the
     * new slot or we see it sleeping. */
    atomic_thread_fence(memory_order_seq_cst);
    for (size_t i = 0; i < bus->n_consumers; i++) {
        cc_bus_consumer_t *c = bus->consumers[i];
        if (atomic_load_explicit(&c->sleeping, memory_order_relaxed) &&
            atomic_exchange(&c->sleeping, 0) && c->wake)
            c->wake(c->wake_arg);
    }
}

/* Waits until [h, h + n) fits, or the bus closes. */
static int bus_wait_space(cc_bus_t *bus, uint64_t h, size_t n)
{
    for (int spin = 0; spin < 64; spin++) {
        if (h + n <= atomic_load(&bus->tail) + bus->cap)
            return 0;
        if (atomic_load(&bus->closed))
            return CC_ECLOSED;
    }
    pthread_mutex_lock(&bus->wait_lock);
    atomic_fetch_add(&bus->producers_waiting, 1);
    int rc = 0;
    while (h + n > atomic_load(&bus->tail) + bus->cap) {
        if (atomic_load(&bus->closed)) {
            rc = CC_ECLOSED;
            break;
        }
        /* Timed only as a safety net; the tracker broadcasts. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&bus->space, &bus->wait_lock, &ts);
    }
    atomic_fetch_sub(&bus->producers_waiting, 1);
    pthread_mutex_unlock(&bus->wait_lock);
    return rc;
}

int cc_bus_publish(cc_bus_t *bus, cc_event_t *const *evs, size_t n, size_t *published)
{
    size_t done = 0;
    int rc = 0;
    while (done < n) {
        size_t chunk = n - done;
        if (chunk > bus->cap / 2)
            chunk = bus->cap / 2;
        uint64_t h = atomic_load(&bus->head);
        for (;;) {
            if (atomic_load(&bus->closed)) {
                rc = CC_ECLOSED;
                goto out;
            }
            if (h + chunk > atomic_load(&bus->tail) + bus->cap) {
                if ((rc = bus_wait_space(bus, h, chunk)) != 0)
                    goto out;
                h = atomic_load(&bus->head);
                continue;
            }
            if (atomic_compare_exchange_weak(&bus->head, &h, h + chunk))
                break;
        }
        for (size_t i = 0; i < chunk; i++) {
            uint64_t s = h + i;
            cc_slot_t *slot = &bus->slots[s & bus->mask];
            cc_event_t *ev = evs[done + i];
            ev->seq = s;
            slot->ev = ev;
            slot->source = ev->source;
            slot->has_position = ev->position != NULL;
            atomic_store_explicit(&slot->pub, s + 1, memory_order_release);
        }
        done += chunk;
        bus_wake_consumers(bus);
        if (bus->n_consumers == 0)
            bus_advance_tail(bus);
    }
out:
    if (published)
        *published = done;
    return rc;
}

void cc_bus_close(cc_bus_t *bus)
{
    atomic_store(&bus->closed, 1);
    pthread_mutex_lock(&bus->wait_lock);
    pthread_cond_broadcast(&bus->space);
    pthread_mutex_unlock(&bus->wait_lock);
}

static inline void ack_bit_set(cc_bus_consumer_t *c, uint64_t s)
{
    uint64_t i = s & c->bus->mask;
    c->ack_bits[i >> 6] |= 1ull << (i & 63);
}

/* Consumes set bits at `a`; returns the new contiguous prefix. */
static inline uint64_t ack_bits_drain(cc_bus_consumer_t *c, uint64_t a)
{
    for (;;) {
        uint64_t i = a & c->bus->mask;
        uint64_t bit = 1ull << (i & 63);
        uint64_t *w = &c->ack_bits[i >> 6];
        if (!(*w & bit))
            return a;
        *w &= ~bit;
        a++;
    }
}

/* Marks [from, to) acknowledged; caller holds ack_lock. */
static uint64_t ack_range_locked(cc_bus_consumer_t *c, uint64_t a, uint64_t from, uint64_t to)
{
    if (from == a)
        return ack_bits_drain(c, to);
    for (uint64_t s = from; s < to; s++)
        ack_bit_set(c, s);
    return a;
}

void cc_bus_ack(cc_bus_consumer_t *c, cc_event_t *const *evs, size_t n)
{
    if (n == 0)
        return;
    /* Polled batches are in increasing order: when first and last span
     * exactly n sequences the batch is one run, acknowledged without
     * touching the events in between. */
    uint64_t first = evs[0]->seq;
    if (n > 2 && evs[n - 1]->seq - first == n - 1) {
        pthread_mutex_lock(&c->ack_lock);
        uint64_t a = atomic_load_explicit(&c->acked, memory_order_relaxed);
        uint64_t na = ack_range_locked(c, a, first, first + n);
        atomic_store_explicit(&c->acked, na, memory_order_release);
        pthread_mutex_unlock(&c->ack_lock);
        if (na != a)
            bus_advance_tail(c->bus);
        return;
    }
    pthread_mutex_lock(&c->ack_lock);
    uint64_t a = atomic_load_explicit(&c->acked, memory_order_relaxed);
    uint64_t before = a;
    for (size_t i = 0; i < n; i++) {
        uint64_t s = evs[i]->seq;
        if (s == a)
            a = ack_bits_drain(c, a + 1);
        else if (s > a)
            ack_bit_set(c, s);
        /* s < a: acknowledged twice; ignore rather than corrupt the window. */
    }
    atomic_store_explicit(&c->acked, a, memory_order_release);
    pthread_mutex_unlock(&c->ack_lock);
    if (a != before)
        bus_advance_tail(c->bus);
}

size_t cc_bus_poll(cc_bus_consumer_t *c, cc_event_t **out, size_t max, uint64_t *dropped)
{
    cc_bus_t *bus = c->bus;
    uint64_t r = atomic_load_explicit(&c->read, memory_order_relaxed);
    if (!c->lossless) {
        uint64_t h = atomic_load(&bus->head);
        if (h - r > bus->cap / 2) {
            /* Behind by more than half the ring: keep the newest quarter. */
            uint64_t to = h - bus->cap / 4;
            pthread_mutex_lock(&c->ack_lock);
            uint64_t a = atomic_load_explicit(&c->acked, memory_order_relaxed);
            a = ack_range_locked(c, a, r, to);
            atomic_store_explicit(&c->acked, a, memory_order_release);
            pthread_mutex_unlock(&c->ack_lock);
            if (dropped)
                *dropped += to - r;
            r = to;
            atomic_store_explicit(&c->read, r, memory_order_release);
            bus_advance_tail(bus);
        }
    }
    size_t n = 0;
    while (n < max) {
        cc_slot_t *slot = &bus->slots[r & bus->mask];
        if (atomic_load_explicit(&slot->pub, memory_order_acquire) != r + 1)
            break;
        out[n++] = slot->ev;
        r++;
    }
    if (n)
        atomic_store_explicit(&c->read, r, memory_order_release);
    return n;
}

int cc_bus_sleep(cc_bus_consumer_t *c)
{
    atomic_store(&c->sleeping, 1);
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t r = atomic_load_explicit(&c->read, memory_order_relaxed);
    cc_slot_t *slot = &c->bus->slots[r & c->bus->mask];
    if (atomic_load_explicit(&slot->pub, memory_order_acquire) == r + 1) {
        /* A producer may have cleared the flag and called wake already;
         * an extra wake is harmless. */
        atomic_store(&c->sleeping, 0);
        return 1;
    }
    return 0;
}

uint64_t cc_bus_depth(const cc_bus_t *bus)
{
    uint64_t h = atomic_load(&bus->head);
    uint64_t t = atomic_load(&bus->tail);
    return h > t ? h - t : 0;
}

size_t cc_bus_capacity(const cc_bus_t *bus)
{
    return bus->cap;
}

uint64_t cc_bus_published(const cc_bus_t *bus)
{
    return atomic_load(&bus->head);
}

int cc_bus_drained(const cc_bus_t *bus)
{
    for (size_t i = 0; i < bus->n_consumers; i++) {
        cc_bus_consumer_t *c = bus->consumers[i];
        if (!c->lossless)
            continue;
        uint64_t r = atomic_load(&c->read);
        if (atomic_load(&c->acked) != r)
            return 0;
        if (atomic_load(&bus->slots[r & bus->mask].pub) == r + 1)
            return 0;
    }
    return 1;
}
