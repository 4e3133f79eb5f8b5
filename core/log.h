/* core/log.h — one line per record on stderr (or a file), text or JSON.
 *
 *   level=info plugin=core msg="loaded 3 plugins"
 *   {"level":"info","plugin":"core","msg":"loaded 3 plugins"}
 *
 * Thread-safe: each record is one write(2).
 */
#ifndef CC_CORE_LOG_H
#define CC_CORE_LOG_H

#include <stdarg.h>

#include "changecast/plugin.h"

/* Sets the threshold, the format and the output (path NULL = stderr).
 * Returns 0 or CC_EIO when the file cannot be opened (stderr is kept). */
int cc_log_setup(cc_log_level_t level, int json, const char *path);
/* Reopens the log file (SIGHUP). */
int cc_log_reopen(void);
cc_log_level_t cc_log_level(void);

/* `plugin` names the plugin ("core" for the core); `name` the instance or
 * NULL. */
void cc_log(cc_log_level_t level, const char *plugin, const char *name, const char *fmt, ...)
    CC_PRINTF(4, 5);
void cc_logv(cc_log_level_t level, const char *plugin, const char *name, const char *fmt,
             va_list ap);

#define cc_log_error(...) cc_log(CC_LOG_ERROR, "core", NULL, __VA_ARGS__)
#define cc_log_warn(...)  cc_log(CC_LOG_WARN, "core", NULL, __VA_ARGS__)
#define cc_log_info(...)  cc_log(CC_LOG_INFO, "core", NULL, __VA_ARGS__)
#define cc_log_debug(...) cc_log(CC_LOG_DEBUG, "core", NULL, __VA_ARGS__)

#endif
