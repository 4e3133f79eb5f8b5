/* tests/abi/dup_b.c — one of two valid sinks both named "abi_dup". The
 * loader keeps the first (dup_a.so, in sorted order) and refuses the second
 * naming the clash. */
#include "test_sink.h"

static const cc_plugin_t dup_b_plugin = {
    .abi_major = CC_ABI_MAJOR,
    .abi_minor = CC_ABI_MINOR,
    .size = sizeof(cc_plugin_t),
    .name = "abi_dup",
    .version = "1.0.0",
    .description = "test: duplicate name (b)",
    .kind = CC_PLUGIN_SINK,
    TEST_SINK_CALLBACKS,
};

CC_PLUGIN_ENTRY(dup_b_plugin)
