/* tests/abi/new_minor.c — a sink built for a minor newer than the host's
 * (CC_ABI_MINOR + 1), whose descriptor has grown a field the host does not
 * know. The loader must refuse it: the plugin may rely on services this host
 * lacks. */
#include "test_sink.h"

/* What the next minor's descriptor might look like: one more field. */
typedef struct cc_plugin_next {
    cc_plugin_t base;
    void *(*future_hook)(void *state);
} cc_plugin_next_t;

static const cc_plugin_next_t new_minor_plugin = {
    .base = {
        .abi_major = CC_ABI_MAJOR,
        .abi_minor = CC_ABI_MINOR + 1,
        .size = sizeof(cc_plugin_next_t),
        .name = "abi_new_minor",
        .version = "1.0.0",
        .description = "test: a sink built for a newer minor ABI",
        .kind = CC_PLUGIN_SINK,
        TEST_SINK_CALLBACKS,
    },
    .future_hook = NULL,
};

CC_PLUGIN_ENTRY(new_minor_plugin.base)
