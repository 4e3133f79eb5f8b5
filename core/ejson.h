/* core/ejson.h — Extended JSON in and out.
 *
 * Output is compact relaxed Extended JSON as MongoDB's Extended JSON spec
 * writes it (no spaces; ObjectId {"$oid":…}; dates 1970–9999 as ISO-8601
 * with milliseconds, others {"$date":{"$numberLong":…}}; finite doubles as
 * numbers that read back exactly, integral ones with ".0").
 *
 * The renderers are recursive; nesting deeper than CC_EJSON_MAX_DEPTH
 * (documents and arrays inside one another, a code-with-scope's scope
 * counting as one level) is refused rather than risking the stack. MongoDB
 * itself stores at most 100 levels, so no real document is refused.
 * All functions: any thread; `out` is borrowed and appended to.
 */
#ifndef CC_CORE_EJSON_H
#define CC_CORE_EJSON_H

#include <bson/bson.h>

#include "core/buf.h"

#define CC_EJSON_MAX_DEPTH 200

/* Appends the value under `it` (or the whole document / array). Returns 0;
 * CC_ERANGE when nested deeper than CC_EJSON_MAX_DEPTH; CC_EPARSE when the
 * BSON is corrupt; CC_ENOMEM when `out` ran out of memory. On error `out`
 * holds a partial rendering: the caller truncates it. */
int cc_ejson_append_value(cc_buf_t *out, const bson_iter_t *it);
int cc_ejson_append_document(cc_buf_t *out, const bson_t *doc);
int cc_ejson_append_array(cc_buf_t *out, const bson_t *arr);

/* A double as relaxed Extended JSON: a finite value as the shortest decimal
 * text that strtod reads back to the same value, with ".0" when it would
 * otherwise look like an integer ("1.0", "1.5", "-0.0", "1e+300"); a
 * non-finite one as {"$numberDouble":"Infinity"|"-Infinity"|"NaN"}. */
void cc_ejson_double(cc_buf_t *out, double d);

/* Writes the finite double `d` as above into buf (NUL-terminated) and
 * returns its length. Non-finite values give "Infinity", "-Infinity" or
 * "NaN" (the $numberDouble text). */
size_t cc_ejson_double_text(char buf[32], double d);

/* Parses one change event written as canonical or relaxed Extended JSON
 * into `doc` (initialized here; caller destroys with bson_destroy on 0).
 * The text must be one JSON object, optionally surrounded by white space,
 * nested at most CC_EJSON_MAX_DEPTH deep. Returns 0, or CC_EPARSE with the
 * reason in err (doc then needs no destroy): one line naming the byte
 * offset from json[0], like "invalid JSON at byte 37: expected ':' after an
 * object key" or "invalid $date at byte 12: …". err may be NULL. One
 * pass, no allocation per value (core/ejson_parse.c lists where it
 * deliberately differs from bson_init_from_json). */
int cc_ejson_parse(const char *json, size_t len, bson_t *doc, char *err, size_t errlen);

/* The same, without an allocation per call: the BSON is written into
 * `scratch` (reused across calls, owned by the caller) and `view` is a
 * read-only bson_t over it, valid until `scratch` is next used. */
int cc_ejson_parse_view(const char *json, size_t len, cc_buf_t *scratch, bson_t *view, char *err,
                        size_t errlen);

#endif
