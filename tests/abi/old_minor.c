/* tests/abi/old_minor.c — a sink built against ABI 1.0 (abi_1_0.h): its
 * descriptor stops at `destroy`. The loader must accept it and treat the
 * 1.1 fields (reopen, flags) as absent. It acknowledges every batch. */
#include <stdlib.h>

#include "abi_1_0.h"

typedef struct old_minor {
    cc_instance_t *self;
    const cc_host_t *host;
} old_minor_t;

static int old_minor_init(cc_instance_t *self, const cc_host_t *host, void **state)
{
    old_minor_t *om = calloc(1, sizeof *om);
    if (om == NULL)
        return CC_ENOMEM;
    om->self = self;
    om->host = host;
    *state = om;
    return 0;
}

static int old_minor_start(void *state)
{
    (void)state;
    return 0;
}

static int old_minor_deliver(void *state, const cc_batch_t *batch)
{
    old_minor_t *om = state;
    om->host->ack_batch(om->self, batch);
    return 0;
}

static void old_minor_stop(void *state)
{
    (void)state;
}

static void old_minor_destroy(void *state)
{
    free(state);
}

static const cc_plugin_v1_0_t old_minor_plugin = {
    .abi_major = CC_ABI_1_0_MAJOR,
    .abi_minor = CC_ABI_1_0_MINOR,
    .size = sizeof(cc_plugin_v1_0_t),
    .name = "abi_old_minor",
    .version = "1.0.0",
    .description = "test: a sink built for ABI 1.0",
    .kind = CC_PLUGIN_SINK,
    .config = NULL,
    .init = old_minor_init,
    .start = old_minor_start,
    .deliver = old_minor_deliver,
    .stop = old_minor_stop,
    .destroy = old_minor_destroy,
};

/* A 1.0 plugin's entry, spelled out: CC_PLUGIN_ENTRY returns today's type. */
CC_EXPORT const cc_plugin_v1_0_t *cc_plugin_entry(void);
CC_EXPORT const cc_plugin_v1_0_t *cc_plugin_entry(void)
{
    return &old_minor_plugin;
}
