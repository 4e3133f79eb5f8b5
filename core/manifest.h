/* core/manifest.h — the JSON manifest: loading, checking, defaults.
 *
 * Errors name the place and the fix, prefixed with the manifest's file
 * name: "changecast.json: sinks[1].config.url: expected a string".
 */
#ifndef CC_CORE_MANIFEST_H
#define CC_CORE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "changecast/plugin.h"

typedef enum cc_on_full {
    CC_ON_FULL_DEFAULT = 0,    /* not given: the plugin's default */
    CC_ON_FULL_BLOCK,
    CC_ON_FULL_DROP
} cc_on_full_t;

/* A sink's `where` filter. An empty list matches everything. */
typedef struct cc_where {
    uint32_t op_mask;              /* CC_OP_* bits; 0 = any operation        */
    char **operations; size_t n_operations;   /* as written, for unknown ops */
    char **databases; size_t n_databases;
    char **collections; size_t n_collections;
    int recipient_present;         /* -1 any, 0 must be null, 1 must be set  */
} cc_where_t;

typedef struct cc_manifest_entry {
    char place[32];        /* "sources[0]", "sinks[2]": for messages         */
    char *name;            /* unique across sources and sinks                */
    char *plugin;
    json_t *config;        /* owned reference; {} when absent                 */
    /* sinks only */
    char **from; size_t n_from;    /* source names; n_from == 0: every source */
    cc_where_t where;
    cc_on_full_t on_full;
} cc_manifest_entry_t;

typedef struct cc_manifest {
    char *path;                    /* as given                                */
    char *dir;                     /* folder of the manifest, for relative paths */
    char *display;                 /* file name used as the message prefix     */
    char **plugin_dirs; size_t n_plugin_dirs;   /* resolved; 0 = default     */
    size_t bus_capacity;           /* power of two, default 65536             */
    char *state_path;              /* resolved; default "<dir>/changecast.state" */
    int64_t flush_ms;              /* default 500                              */
    char *admin_listen;            /* "host:port"; NULL = admin disabled (""). default 127.0.0.1:9464 */
    cc_log_level_t log_level;      /* default info                             */
    int log_json;                  /* log.format == "json"                     */
    char *log_path;                /* resolved; NULL = stderr                  */
    int64_t shutdown_ms;           /* default 10000                            */
    cc_manifest_entry_t *sources; size_t n_sources;
    cc_manifest_entry_t *sinks; size_t n_sinks;
} cc_manifest_t;

/* Reads and checks the manifest at `path`. `${NAME}` in any string is
 * replaced by the environment variable (unset = error). $CHANGECAST_PLUGIN_DIR
 * overrides nothing here: the caller decides. On success *out is new (free
 * with cc_manifest_free). On failure returns CC_ECONFIG (or CC_ENOMEM) with
 * the whole message in err. */
int cc_manifest_load(const char *path, cc_manifest_t **out, char *err, size_t errlen);

/* The same from text in memory (fuzzing, tests); `path` names it. */
int cc_manifest_parse(const char *text, size_t len, const char *path, cc_manifest_t **out,
                      char *err, size_t errlen);

void cc_manifest_free(cc_manifest_t *m);

/* Checks `config` against a plugin's key table and fills in defaults, in
 * place. `place` is the prefix for messages ("sinks[1].config"). Returns 0
 * or CC_ECONFIG with "place.key: what is wrong" in err (no file prefix).
 * A NULL table takes no keys; a nested `fields` left NULL is free-form.
 * Keys are checked in document order, then missing ones in table order;
 * a filled default is checked like a written value (so nested defaults
 * are filled too). A defect of the plugin's own table (a `def` that is
 * not JSON or does not fit its key) returns CC_EINVAL; CC_ENOMEM on out
 * of memory. `config` is borrowed and modified; any thread. */
int cc_config_validate(json_t *config, const cc_config_field_t *table, const char *place,
                       char *err, size_t errlen);

/* Prints a key table as help text, indented, one key a line plus docs. */
void cc_config_print(FILE *fp, const cc_config_field_t *table, int indent);

/* Finds a dotted path ("auth.jwt_secret") in a JSON object. Borrowed. */
json_t *cc_json_path(json_t *root, const char *path);

/* Writes into buf (always NUL-terminated) the hint that follows "unknown
 * key; " in a message: `did you mean "url"?` when one of `known` is within
 * edit distance 2 of `key` (ignoring case, a swap counting 1, and closer
 * than the key's own length), else `expected one of "a", "b"`, or `this
 * object takes no keys` when n_known is 0. Any thread; all borrowed. */
void cc_config_hint(char *buf, size_t len, const char *key, const char *const *known,
                    size_t n_known);

#endif
