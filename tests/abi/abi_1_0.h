/* tests/abi/abi_1_0.h — the plugin descriptor as ABI 1.0 froze it.
 *
 * A plugin built against 1.0 ends its descriptor at `destroy`: no `reopen`,
 * no `flags`, and a smaller `size`. old_minor.c is built against this copy
 * to prove today's loader still accepts such a plugin and reads nothing past
 * its size. Never edit this file: 1.0 is what it is.
 *
 * The types it points to (cc_host_t, cc_batch_t, cc_instance_t,
 * cc_config_field_t) only grew at the end since, so the current header
 * supplies them.
 */
#ifndef CC_TEST_ABI_1_0_H
#define CC_TEST_ABI_1_0_H

#include <stddef.h>
#include <stdint.h>

#include "changecast/changecast.h"

#define CC_ABI_1_0_MAJOR 1
#define CC_ABI_1_0_MINOR 0

typedef struct cc_plugin_v1_0 {
    uint32_t abi_major;
    uint32_t abi_minor;
    size_t size;
    const char *name;
    const char *version;
    const char *description;
    cc_plugin_kind_t kind;
    const cc_config_field_t *config;
    int (*init)(cc_instance_t *self, const cc_host_t *host, void **state);
    int (*start)(void *state);
    int (*deliver)(void *state, const cc_batch_t *batch);
    void (*stop)(void *state);
    void (*destroy)(void *state);
} cc_plugin_v1_0_t;

/* 1.1 only grew the descriptor at the end. */
_Static_assert(offsetof(cc_plugin_v1_0_t, destroy) == offsetof(cc_plugin_t, destroy),
               "ABI 1.0 descriptor is not a prefix of the current one");
_Static_assert(sizeof(cc_plugin_v1_0_t) <= offsetof(cc_plugin_t, reopen),
               "ABI 1.0 descriptor reaches into the 1.1 fields");

#endif
