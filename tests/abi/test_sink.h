/* tests/abi/test_sink.h — a trivial sink that acknowledges every batch, for
 * the ABI test plugins (each includes it once). */
#ifndef CC_TEST_ABI_TEST_SINK_H
#define CC_TEST_ABI_TEST_SINK_H

#include <stdlib.h>

#include "changecast/changecast.h"

typedef struct test_sink {
    cc_instance_t *self;
    const cc_host_t *host;
} test_sink_t;

static int test_sink_init(cc_instance_t *self, const cc_host_t *host, void **state)
{
    test_sink_t *ts = calloc(1, sizeof *ts);
    if (ts == NULL)
        return CC_ENOMEM;
    ts->self = self;
    ts->host = host;
    *state = ts;
    return 0;
}

static int test_sink_start(void *state)
{
    (void)state;
    return 0;
}

static int test_sink_deliver(void *state, const cc_batch_t *batch)
{
    test_sink_t *ts = state;
    ts->host->ack_batch(ts->self, batch);
    return 0;
}

static void test_sink_stop(void *state)
{
    (void)state;
}

static void test_sink_destroy(void *state)
{
    free(state);
}

/* Designated initializers for a valid sink's callbacks. */
#define TEST_SINK_CALLBACKS                                                  \
    .init = test_sink_init, .start = test_sink_start,                        \
    .deliver = test_sink_deliver, .stop = test_sink_stop,                    \
    .destroy = test_sink_destroy

#endif
