/* core/metrics.h — counters, gauges and one histogram, in Prometheus text.
 *
 * Updates are lock-free atomics, safe from any thread; registration and
 * rendering take a mutex.
 */
#ifndef CC_CORE_METRICS_H
#define CC_CORE_METRICS_H

#include <stdint.h>

#include "core/buf.h"
#include "changecast/plugin.h"

typedef struct cc_metrics cc_metrics_t;

cc_metrics_t *cc_metrics_new(void);
void cc_metrics_free(cc_metrics_t *m);

/* Registers one series: `name{labels}` where labels is preformatted
 * ("sink=\"out\",result=\"ok\"") or NULL. `help` is printed once per name.
 * Returns a metric owned by the registry, or NULL. */
cc_metric_t *cc_metrics_add(cc_metrics_t *m, cc_metric_kind_t kind, const char *name,
                            const char *help, const char *labels);
void cc_metric_add(cc_metric_t *mt, double v);
void cc_metric_set(cc_metric_t *mt, double v);
double cc_metric_get(const cc_metric_t *mt);

/* The delivery latency histogram (seconds, fixed buckets). */
void cc_metrics_observe_latency(cc_metrics_t *m, double seconds);

/* Called before rendering, to refresh gauges computed on demand. */
typedef void (*cc_metrics_refresh_cb)(void *arg);
void cc_metrics_on_render(cc_metrics_t *m, cc_metrics_refresh_cb cb, void *arg);

/* Appends every series in Prometheus text format 0.0.4. */
void cc_metrics_render(cc_metrics_t *m, cc_buf_t *out);

/* Appends `value` as a quoted label value with \\, \" and \n escaped, for
 * building the `labels` of cc_metrics_add from names a user chose. */
void cc_metrics_label_value(cc_buf_t *out, const char *value);

#endif
