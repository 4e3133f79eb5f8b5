/* tests/unit/mock_host.h — a recording cc_host_t for plugin unit tests.
 *
 * A plugin's source file is compiled straight into the test with mock_host.c:
 * no daemon, no dlopen. The mock fills the config defaults from the plugin's
 * own key table (and refuses unknown keys, as the core does), records logs,
 * emitted changes, acknowledgements and statuses, and offers tiny fake events
 * for sinks. Everything here is thread-safe: a source's thread may emit while
 * the test waits.
 */
#ifndef CC_TEST_MOCK_HOST_H
#define CC_TEST_MOCK_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "changecast/changecast.h"

/* The plugin under test's entry point (compiled into the test). */
const cc_plugin_t *cc_plugin_entry(void);

/* The host vtable (static, ABI 1.1). */
const cc_host_t *mock_host(void);

/* Returns a new instance configured with `config_json` (a JSON object; NULL
 * = {}), defaults from plugin->config filled in; relative config_path values
 * resolve against `base_dir` (NULL = the working directory). Returns NULL
 * (after printing why) on bad JSON, an unknown key or a missing required one. */
cc_instance_t *mock_instance_new(const cc_plugin_t *plugin, const char *config_json,
                                 const char *base_dir);
/* Frees the instance and what it recorded. */
void mock_instance_free(cc_instance_t *inst);

/* Settings, before init/start. `base` is a struct event_base *, borrowed. */
void mock_set_event_base(cc_instance_t *inst, void *base);
void mock_set_state_position(cc_instance_t *inst, const char *position);   /* copied */
/* From now on emit returns CC_ECLOSED (the core shutting down). */
void mock_set_closed(cc_instance_t *inst, bool closed);

/* Log. */
bool mock_log_contains(cc_instance_t *inst, const char *needle);
size_t mock_log_count(cc_instance_t *inst, cc_log_level_t level);   /* records at that level */
size_t mock_log_count_matching(cc_instance_t *inst, const char *needle);
void mock_log_print(cc_instance_t *inst);   /* to stderr, for failing tests */

/* Changes emitted and accepted (emit returns 0 for a JSON object; for
 * anything else CC_EPARSE after logging "<origin>: skipped change: <why>" as
 * the core does; CC_ECLOSED once closed). Strings are borrowed, valid until
 * mock_instance_free. */
size_t mock_changes(cc_instance_t *inst);
size_t mock_emit_calls(cc_instance_t *inst);   /* including refused ones */
const char *mock_change_json(cc_instance_t *inst, size_t i);
const char *mock_change_position(cc_instance_t *inst, size_t i);
const char *mock_change_origin(cc_instance_t *inst, size_t i);   /* NULL when none */
const cc_shape_t *mock_change_shape(cc_instance_t *inst, size_t i);
/* Waits until at least n changes were accepted; false on timeout. */
bool mock_wait_changes(cc_instance_t *inst, size_t n, int timeout_ms);

/* Shapes made by shape_new: the last one's description, as
 * "fields=a,b recipient=x" (borrowed), and how many are still alive. */
const char *mock_last_shape(cc_instance_t *inst);
int mock_shapes_alive(void);

/* Statuses. The source starts CONNECTING and the sink OK; -1 = never set. */
int mock_source_status(cc_instance_t *inst);
int mock_sink_status(cc_instance_t *inst);
bool mock_wait_source_status(cc_instance_t *inst, cc_source_status_t status, int timeout_ms);
/* How often the sink status was set to `status`. */
size_t mock_sink_status_count(cc_instance_t *inst, cc_sink_status_t status);
uint64_t mock_counted(cc_instance_t *inst, cc_sink_result_t result);
size_t mock_acks(cc_instance_t *inst);   /* events acknowledged so far */
const char *mock_fatal(cc_instance_t *inst);   /* fatal's message or NULL */

/* Fake events: `json` is the envelope; operation, collection, document_id
 * and recipient are read from it when present. Returns new (refs = 1). */
cc_event_t *mock_event_new(const char *json);
void mock_event_free(cc_event_t *ev);
/* How often the event was acknowledged (1 is right; 2 is a double ack). */
int mock_event_acks(const cc_event_t *ev);

#endif
