/* core/loader.h — finding and opening plugin shared objects.
 *
 * Every `*.so` in the plugin folders is opened RTLD_NOW | RTLD_LOCAL and
 * asked for `cc_plugin_entry`. A plugin built for another major ABI, for a
 * newer minor, without the entry symbol, with a malformed descriptor, or
 * whose name is already taken is refused with a clear message; the others
 * still load.
 */
#ifndef CC_CORE_LOADER_H
#define CC_CORE_LOADER_H

#include <stddef.h>

#include "changecast/plugin.h"

typedef struct cc_loaded_plugin {
    cc_plugin_t desc;      /* the plugin's descriptor, copied up to its size,
                              zero beyond (newer host fields read as absent) */
    char *path;            /* owned */
    void *handle;          /* dlopen handle, owned */
} cc_loaded_plugin_t;

typedef struct cc_loader {
    cc_loaded_plugin_t *plugins; size_t n_plugins;
    char **refused; size_t n_refused;     /* one message per refused file */
} cc_loader_t;

/* Scans the folders in order. A folder that does not exist is noted in
 * `refused` and skipped. Returns 0 (even when some plugins were refused) or
 * CC_ENOMEM. */
int cc_loader_scan(cc_loader_t *ld, char *const *dirs, size_t n_dirs);
/* Opens one file (used by scan, and by tests). 0, or a CC_E* with the
 * message appended to `refused`. */
int cc_loader_open(cc_loader_t *ld, const char *path);
const cc_loaded_plugin_t *cc_loader_find(const cc_loader_t *ld, const char *name);
/* dlcloses every plugin. */
void cc_loader_free(cc_loader_t *ld);

/* Checks a descriptor against the host ABI; 0 or CC_EABI/CC_EINVAL with the
 * reason in err. Exposed for unit tests. */
int cc_loader_check(const cc_plugin_t *desc, char *err, size_t errlen);

#endif
