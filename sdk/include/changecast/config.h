/* changecast/config.h — declaring a plugin's configuration keys.
 *
 * A plugin declares its keys in a table; the core validates the manifest's
 * "config" object against it before calling init (unknown keys, wrong types,
 * missing required keys and values outside `choices` are errors that name the
 * place, e.g. "sinks[1].config.url: expected a string"), fills in defaults,
 * and prints the table for `changecast plugins --help NAME`.
 */
#ifndef CHANGECAST_CONFIG_H
#define CHANGECAST_CONFIG_H

#include <stdint.h>

typedef enum cc_config_type {
    CC_CFG_STRING = 1,   /* JSON string                                   */
    CC_CFG_INT,          /* JSON integer within [min, max]                */
    CC_CFG_DOUBLE,       /* JSON number within [min, max]                 */
    CC_CFG_BOOL,         /* JSON true/false                               */
    CC_CFG_STRINGS,      /* array of strings                              */
    CC_CFG_OBJECT,       /* object; checked against `fields` when set     */
    CC_CFG_OBJECTS,      /* array of objects, each checked against `fields` */
    CC_CFG_JSON          /* any JSON value; the plugin checks it itself   */
} cc_config_type_t;

/* One key of a plugin's configuration. A table ends with a zeroed entry. */
typedef struct cc_config_field {
    const char *name;                 /* key in the "config" object          */
    cc_config_type_t type;
    const char *def;                  /* default as JSON text, or NULL        */
    int required;                     /* non-zero: the key must be present    */
    const char *doc;                  /* one line for `changecast plugins`    */
    const char *const *choices;       /* CC_CFG_STRING(S): allowed values, NULL-terminated */
    int64_t min, max;                 /* CC_CFG_INT/DOUBLE: range when min < max */
    const struct cc_config_field *fields; /* CC_CFG_OBJECT(S): nested keys; NULL = free-form */
} cc_config_field_t;

#endif
