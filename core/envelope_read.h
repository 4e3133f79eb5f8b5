/* core/envelope_read.h — an event from an envelope built elsewhere.
 *
 * A source that receives finished envelopes (another changecast node's
 * output, carried by Redis) hands them over as JSON text. The text becomes
 * the event's envelope byte for byte; the fields that filters and sink
 * accessors need are read from its keys.
 */
#ifndef CC_CORE_ENVELOPE_READ_H
#define CC_CORE_ENVELOPE_READ_H

#include <stddef.h>

#include "core/event.h"

/* Checks that json[0..len) is an envelope: a JSON object with string "id"
 * and "operation", "recipient" a string or null, string "collection",
 * "namespace" and "document_id", and a number "timestamp". On success
 * returns a new event (refs = 1, envelope = the text as given, database =
 * "namespace") in *out and 0; else CC_EPARSE with the reason in err, or
 * CC_ENOMEM. `json` is borrowed. Any thread. */
int cc_envelope_read(const char *json, size_t len, cc_event_t **out, char *err, size_t errlen);

#endif
