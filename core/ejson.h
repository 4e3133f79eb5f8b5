/* core/ejson.h — Extended JSON in and out.
 *
 * Output is compact relaxed Extended JSON as MongoDB's Extended JSON spec
 * writes it (no spaces; ObjectId {"$oid":…}; dates 1970–9999 as ISO-8601
 * with milliseconds, others {"$date":{"$numberLong":…}}; finite doubles as
 * numbers that read back exactly, integral ones with ".0").
 */
#ifndef CC_CORE_EJSON_H
#define CC_CORE_EJSON_H

#include <bson/bson.h>

#include "core/buf.h"

void cc_ejson_append_value(cc_buf_t *out, const bson_iter_t *it);
void cc_ejson_append_document(cc_buf_t *out, const bson_t *doc);
void cc_ejson_append_array(cc_buf_t *out, const bson_t *arr);

/* Shortest decimal text for a double that strtod reads back to the same
 * value, with ".0" when it would otherwise look like an integer. Finite
 * values only. */
void cc_ejson_double(cc_buf_t *out, double d);

/* Parses one change event written as canonical or relaxed Extended JSON
 * into `doc` (initialized here; caller destroys with bson_destroy on 0).
 * Returns 0, or CC_EPARSE with the parser's message in err. */
int cc_ejson_parse(const char *json, size_t len, bson_t *doc, char *err, size_t errlen);

#endif
