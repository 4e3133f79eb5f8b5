/* tests/abi/other_major.c — a sink claiming ABI major 2. The loader must
 * refuse it: layouts differ across majors. */
#include "test_sink.h"

static const cc_plugin_t other_major_plugin = {
    .abi_major = 2,
    .abi_minor = 0,
    .size = sizeof(cc_plugin_t),
    .name = "abi_other_major",
    .version = "2.0.0",
    .description = "test: a sink built for ABI 2",
    .kind = CC_PLUGIN_SINK,
    TEST_SINK_CALLBACKS,
};

CC_PLUGIN_ENTRY(other_major_plugin)
