/* tests/abi/bad_desc.c — a descriptor with the right ABI but unusable
 * contents. Built twice: bad_desc.so has a NULL name; bad_kind.so (with
 * -DBAD_KIND) is named "abi_bad_kind" but has kind 0. The loader must refuse
 * both and go on. */
#include "test_sink.h"

static const cc_plugin_t bad_desc_plugin = {
    .abi_major = CC_ABI_MAJOR,
    .abi_minor = CC_ABI_MINOR,
    .size = sizeof(cc_plugin_t),
#ifdef BAD_KIND
    .name = "abi_bad_kind",
    .kind = (cc_plugin_kind_t)0,
#else
    .name = NULL,
    .kind = CC_PLUGIN_SINK,
#endif
    .version = "1.0.0",
    .description = "test: malformed descriptor",
    TEST_SINK_CALLBACKS,
};

CC_PLUGIN_ENTRY(bad_desc_plugin)
