/* core/bus.h — the event bus: a bounded ring between sources and sinks.
 *
 * Sources publish from their own threads (multi-producer); each sink reads
 * through its own consumer cursor on its own thread and acknowledges events,
 * possibly out of order. A slot is reused only after every consumer has
 * acknowledged it, so a lossless ("block") consumer that falls behind makes
 * producers wait, and an event stays valid until its consumer acks it. A
 * lossy ("drop") consumer that lags more than half the ring skips ahead
 * instead, counting what it skipped. Producers and idle consumers sleep;
 * nothing spins while idle. Events from one producer keep their order.
 *
 * The bus owns one reference to each published event, dropped once every
 * consumer acknowledged it (or when the bus is freed).
 */
#ifndef CC_CORE_BUS_H
#define CC_CORE_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "core/event.h"

typedef struct cc_bus cc_bus_t;
typedef struct cc_bus_consumer cc_bus_consumer_t;

/* Called (on the acknowledging thread) when every consumer has acknowledged
 * a source's newest event carrying a position: the source's resume point.
 * `position` is borrowed for the call. */
typedef void (*cc_bus_position_cb)(void *arg, uint32_t source, const char *position);

/* Called from a producer's thread when a sleeping consumer has events. */
typedef void (*cc_bus_wake_cb)(void *arg);

/* `capacity` must be a power of two >= 2; events carry a source index below
 * `n_sources`. Returns new or NULL. */
cc_bus_t *cc_bus_new(size_t capacity, uint32_t n_sources, cc_bus_position_cb on_position,
                     void *arg);
/* Frees the ring and drops its references. No thread may still use it. */
void cc_bus_free(cc_bus_t *bus);

/* Adds a consumer before anything is published. `lossless`: 1 block, 0 drop.
 * Returns a consumer owned by the bus, or NULL. Main thread. */
cc_bus_consumer_t *cc_bus_consumer_add(cc_bus_t *bus, int lossless, cc_bus_wake_cb wake, void *arg);

/* Publishes n events in order, stealing the caller's reference to each and
 * setting ev->seq. Waits while the ring is full. Returns 0, or CC_ECLOSED
 * once cc_bus_close was called (the caller keeps its references to the
 * events not published; *published says how many were). Any thread. */
int cc_bus_publish(cc_bus_t *bus, cc_event_t *const *evs, size_t n, size_t *published);

/* Stops publishing: waiting and later producers get CC_ECLOSED. Any thread. */
void cc_bus_close(cc_bus_t *bus);

/* Takes up to `max` published events in order (borrowed; valid until
 * acknowledged). Returns the count; 0 when none are ready. A lossy consumer
 * lagging more than half the ring first skips to the newest half; the
 * skipped events are acknowledged for it and counted in *dropped. The
 * consumer's own thread. */
size_t cc_bus_poll(cc_bus_consumer_t *c, cc_event_t **out, size_t max, uint64_t *dropped);

/* Before sleeping: arms the wake callback. Returns 1 when events arrived
 * meanwhile (poll again instead of sleeping), else 0 (a later publish calls
 * wake once). The consumer's own thread. */
int cc_bus_sleep(cc_bus_consumer_t *c);

/* Acknowledges events taken with cc_bus_poll, each exactly once. Calls may
 * come in any order, but within one call `evs` must be in increasing
 * sequence order (a polled batch or a subset of one). Any thread. */
void cc_bus_ack(cc_bus_consumer_t *c, cc_event_t *const *evs, size_t n);

/* Events published and not yet acknowledged by every consumer. */
uint64_t cc_bus_depth(const cc_bus_t *bus);
size_t cc_bus_capacity(const cc_bus_t *bus);
/* Events published, total. */
uint64_t cc_bus_published(const cc_bus_t *bus);
/* 1 when every lossless consumer acknowledged everything published. */
int cc_bus_drained(const cc_bus_t *bus);

#endif
