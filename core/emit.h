/* core/emit.h — from a source's changes to events on the bus.
 *
 * Parse (BSON or Extended JSON), build the envelopes, publish. A batch is
 * built on two threads, the source's own and a builder thread of the core's
 * for that source, and published in order: one source can then use more
 * than one core, which the envelope work needs at full speed.
 */
#ifndef CC_CORE_EMIT_H
#define CC_CORE_EMIT_H

#include "core/buf.h"
#include "core/envelope.h"

/* Reused buffers of one building thread. Zero is ready to use. */
typedef struct cc_emit_ctx {
    cc_event_vec_t vec;      /* events built, not yet published */
    cc_buf_t bson;           /* the parsed change                */
} cc_emit_ctx_t;

struct cc_instance;
typedef struct cc_builder cc_builder_t;

/* host->emit. The source's thread. */
int cc_emit_one(struct cc_instance *self, const cc_change_t *ch);
/* host->emit_batch. The source's thread. */
int cc_emit_batch(struct cc_instance *self, const cc_change_t *changes, size_t n, size_t *done);
/* host->emit_position (see plugin.h): a position marker through the bus,
 * an event with op_mask 0 that no sink takes. The source's thread. */
int cc_emit_position(struct cc_instance *self, const char *position);

/* host->emit_envelope (see plugin.h). The source's thread. */
int cc_emit_envelope(struct cc_instance *self, const char *json, size_t len, const char *position,
                     const char *origin);
/* Stops the source's builder thread, if any, and frees every buffer. Main
 * thread, after the source stopped. */
void cc_emit_free(struct cc_instance *self);

#endif
