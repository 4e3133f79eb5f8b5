/* core/admin.h — the admin HTTP listener: GET /metrics and GET /healthz. */
#ifndef CC_CORE_ADMIN_H
#define CC_CORE_ADMIN_H

#include <event2/event.h>

#include "core/buf.h"
#include "core/metrics.h"

typedef struct cc_admin cc_admin_t;

/* Fills `body` with the /healthz JSON and returns 1 when healthy (200),
 * 0 when degraded (503). Called on the admin (main) thread. */
typedef int (*cc_admin_health_cb)(void *arg, cc_buf_t *body);

/* Listens on "host:port" (port 0 picks a free one) on `base`. Returns 0 and
 * a new admin in *out, or CC_EINVAL (bad address) / CC_EIO (cannot bind)
 * with a message in err. Main thread. */
int cc_admin_start(struct event_base *base, const char *listen, cc_metrics_t *metrics,
                   cc_admin_health_cb health, void *arg, cc_admin_t **out,
                   char *err, size_t errlen);
/* The bound port (useful with port 0). */
int cc_admin_port(const cc_admin_t *a);
void cc_admin_free(cc_admin_t *a);

#endif
