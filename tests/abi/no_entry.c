/* tests/abi/no_entry.c — a shared object with no cc_plugin_entry symbol.
 *
 * It defines the function but forgets CC_EXPORT, the usual mistake: built
 * with -fvisibility=hidden, the symbol stays local and dlsym cannot find it.
 * The loader must refuse the file and go on. */
#include "test_sink.h"

static const cc_plugin_t no_entry_plugin = {
    .abi_major = CC_ABI_MAJOR,
    .abi_minor = CC_ABI_MINOR,
    .size = sizeof(cc_plugin_t),
    .name = "abi_no_entry",
    .version = "1.0.0",
    .description = "test: exports no entry point",
    .kind = CC_PLUGIN_SINK,
    TEST_SINK_CALLBACKS,
};

const cc_plugin_t *cc_plugin_entry(void);   /* hidden: no CC_EXPORT */
const cc_plugin_t *cc_plugin_entry(void)
{
    return &no_entry_plugin;
}
