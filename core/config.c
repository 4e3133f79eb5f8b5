/* core/config.c — checks a plugin's "config" object against its key table
 * (changecast/config.h), fills in defaults, and prints the table as help.
 *
 * Messages name the place ("sinks[1].config.url: expected a string") and
 * carry no file prefix: the caller adds it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/manifest.h"

/* ---- messages ---------------------------------------------------------- */

/* Messages are one line: user text (keys, values) may hold control
 * characters through JSON escapes. */
static void cfg_one_line(char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

/* Writes "place: message" (or just the message when place is empty). */
static int cfg_fail(char *err, size_t errlen, int rc, const char *place, const char *fmt, ...)
    CC_PRINTF(5, 6);

static int cfg_fail(char *err, size_t errlen, int rc, const char *place, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return rc;
    int n = 0;
    if (place && *place)
        n = snprintf(err, errlen, "%s: ", place);
    if (n < 0)
        n = 0;
    if ((size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    cfg_one_line(err);
    return rc;
}

/* Appends "\"text\"" to buf, cutting long text (on a UTF-8 boundary) so a
 * message stays readable. */
static void cfg_quote(char *buf, size_t len, const char *s)
{
    enum { MAX_SHOWN = 64 };
    size_t used = strlen(buf);
    size_t n = strlen(s);
    int cut = 0;
    if (n > MAX_SHOWN) {
        n = MAX_SHOWN;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        cut = 1;
    }
    if (used < len)
        snprintf(buf + used, len - used, "\"%.*s%s\"", (int)n, s, cut ? "..." : "");
}

/* ---- "did you mean" ------------------------------------------------------ */

static int cfg_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* Optimal string alignment distance (a swap of two neighbours counts 1),
 * ignoring case. Returns a large value when the lengths alone rule out a
 * distance of 2 or less, so long keys cost nothing. */
static size_t cfg_distance(const char *a, const char *b)
{
    enum { MAXLEN = 64, FAR = 1000 };
    size_t n = strlen(a), m = strlen(b);
    if (n > m + 2 || m > n + 2 || n > MAXLEN || m > MAXLEN)
        return FAR;
    unsigned char d[MAXLEN + 1][MAXLEN + 1];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            int ca = cfg_lower((unsigned char)a[i - 1]), cb = cfg_lower((unsigned char)b[j - 1]);
            unsigned best = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1u < best)
                best = d[i - 1][j] + 1u;
            if (d[i][j - 1] + 1u < best)
                best = d[i][j - 1] + 1u;
            if (i > 1 && j > 1 && ca == cfg_lower((unsigned char)b[j - 2]) &&
                cfg_lower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1u < best)
                best = d[i - 2][j - 2] + 1u;
            d[i][j] = (unsigned char)best;
        }
    }
    return d[n][m];
}

void cc_config_hint(char *buf, size_t len, const char *key, const char *const *known,
                    size_t n_known)
{
    if (!buf || len == 0)
        return;
    buf[0] = '\0';
    if (n_known == 0) {
        snprintf(buf, len, "this object takes no keys");
        return;
    }
    size_t best = SIZE_MAX, best_i = 0;
    for (size_t i = 0; i < n_known; i++) {
        size_t d = cfg_distance(key, known[i]);
        if (d < best) {
            best = d;
            best_i = i;
        }
    }
    /* A one-letter key is "near" every short key: demand the distance be
     * smaller than the key itself, so suggestions stay plausible. */
    if (best <= 2 && best < strlen(key)) {
        snprintf(buf, len, "did you mean ");
        cfg_quote(buf, len, known[best_i]);
        size_t used = strlen(buf);
        if (used < len)
            snprintf(buf + used, len - used, "?");
        return;
    }
    snprintf(buf, len, "expected one of ");
    for (size_t i = 0; i < n_known; i++) {
        size_t used = strlen(buf);
        if (i > 0 && used < len)
            snprintf(buf + used, len - used, ", ");
        cfg_quote(buf, len, known[i]);
    }
}

/* ---- validation ---------------------------------------------------------- */

/* Returns new "place.key" (or "key" when place is empty), or NULL. */
static char *cfg_join(const char *place, const char *key)
{
    size_t pl = strlen(place), kl = strlen(key);
    char *s = malloc(pl + kl + 2);
    if (!s)
        return NULL;
    if (pl) {
        memcpy(s, place, pl);
        s[pl++] = '.';
    }
    memcpy(s + pl, key, kl + 1);
    return s;
}

/* Returns new "place[i]", or NULL. */
static char *cfg_index(const char *place, size_t i)
{
    size_t len = strlen(place) + 24;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s[%zu]", place, i);
    return s;
}

static int cfg_oom(char *err, size_t errlen)
{
    return cfg_fail(err, errlen, CC_ENOMEM, "", "out of memory");
}

/* Shortest text of d that reads back the same ("0.1", not
 * "0.10000000000000001"). */
static void cfg_double_text(char *buf, size_t len, double d)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

static int cfg_choices(const char *value, const cc_config_field_t *f, const char *place,
                       char *err, size_t errlen)
{
    if (!f->choices)
        return 0;
    for (const char *const *c = f->choices; *c; c++)
        if (strcmp(*c, value) == 0)
            return 0;
    char list[1024] = "";
    for (const char *const *c = f->choices; *c; c++) {
        size_t used = strlen(list);
        if (c != f->choices && used < sizeof list)
            snprintf(list + used, sizeof list - used, ", ");
        cfg_quote(list, sizeof list, *c);
    }
    char got[96] = "";
    cfg_quote(got, sizeof got, value);
    return cfg_fail(err, errlen, CC_ECONFIG, place, "must be one of %s; got %s", list, got);
}

static int cfg_object(json_t *obj, const cc_config_field_t *fields, const char *place,
                      char *err, size_t errlen);

/* Checks the value at `place` against one key's declaration. */
static int cfg_value(json_t *v, const cc_config_field_t *f, const char *place, char *err,
                     size_t errlen)
{
    switch (f->type) {
    case CC_CFG_STRING:
        if (!json_is_string(v))
            return cfg_fail(err, errlen, CC_ECONFIG, place, "expected a string");
        return cfg_choices(json_string_value(v), f, place, err, errlen);

    case CC_CFG_INT: {
        if (!json_is_integer(v))
            return cfg_fail(err, errlen, CC_ECONFIG, place, "expected an integer");
        json_int_t x = json_integer_value(v);
        if (f->min < f->max && (x < f->min || x > f->max))
            return cfg_fail(err, errlen, CC_ECONFIG, place,
                            "must be between %" PRId64 " and %" PRId64 "; got %" PRId64, f->min,
                            f->max, (int64_t)x);
        return 0;
    }

    case CC_CFG_DOUBLE: {
        if (!json_is_number(v))
            return cfg_fail(err, errlen, CC_ECONFIG, place, "expected a number");
        double x = json_number_value(v);
        if (f->min < f->max && (x < (double)f->min || x > (double)f->max)) {
            char got[40];
            cfg_double_text(got, sizeof got, x);
            return cfg_fail(err, errlen, CC_ECONFIG, place,
                            "must be between %" PRId64 " and %" PRId64 "; got %s", f->min,
                            f->max, got);
        }
        return 0;
    }

    case CC_CFG_BOOL:
        if (!json_is_boolean(v))
            return cfg_fail(err, errlen, CC_ECONFIG, place, "expected true or false");
        return 0;

    case CC_CFG_STRINGS: {
        if (!json_is_array(v))
            return cfg_fail(err, errlen, CC_ECONFIG, place, "expected an array of strings");
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (json_is_string(e) && !f->choices)
                continue;
            char *p = cfg_index(place, i);
            if (!p)
                return cfg_oom(err, errlen);
            int rc = json_is_string(e)
                         ? cfg_choices(json_string_value(e), f, p, err, errlen)
                         : cfg_fail(err, errlen, CC_ECONFIG, p, "expected a string");
            free(p);
            if (rc)
                return rc;
        }
        return 0;
    }

    case CC_CFG_OBJECT:
        if (!json_is_object(v))
            return cfg_fail(err, errlen, CC_ECONFIG, place, "expected an object");
        return f->fields ? cfg_object(v, f->fields, place, err, errlen) : 0;

    case CC_CFG_OBJECTS: {
        if (!json_is_array(v))
            return cfg_fail(err, errlen, CC_ECONFIG, place, "expected an array of objects");
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            char *p = cfg_index(place, i);
            if (!p)
                return cfg_oom(err, errlen);
            int rc = 0;
            if (!json_is_object(e))
                rc = cfg_fail(err, errlen, CC_ECONFIG, p, "expected an object");
            else if (f->fields)
                rc = cfg_object(e, f->fields, p, err, errlen);
            free(p);
            if (rc)
                return rc;
        }
        return 0;
    }

    case CC_CFG_JSON:
        return 0;
    }
    return cfg_fail(err, errlen, CC_EINVAL, place, "the plugin declares an unknown type %d",
                    (int)f->type);
}

static const cc_config_field_t *cfg_find(const cc_config_field_t *fields, const char *key)
{
    for (const cc_config_field_t *f = fields; f && f->name; f++)
        if (strcmp(f->name, key) == 0)
            return f;
    return NULL;
}

static int cfg_unknown(const cc_config_field_t *fields, const char *key, const char *place,
                       char *err, size_t errlen)
{
    size_t n = 0;
    for (const cc_config_field_t *f = fields; f && f->name; f++)
        n++;
    const char **names = malloc((n ? n : 1) * sizeof *names);
    if (!names)
        return cfg_oom(err, errlen);
    for (size_t i = 0; i < n; i++)
        names[i] = fields[i].name;
    char hint[1024];
    cc_config_hint(hint, sizeof hint, key, names, n);
    free(names);
    return cfg_fail(err, errlen, CC_ECONFIG, place, "unknown key; %s", hint);
}

/* Fills a missing key from the plugin's default, then checks the default
 * like a written value (which also fills defaults nested inside it). */
static int cfg_default(json_t *obj, const cc_config_field_t *f, const char *place, char *err,
                       size_t errlen)
{
    json_error_t je;
    memset(&je, 0, sizeof je);  /* untouched when jansson's first allocation fails */
    json_t *dv = json_loads(f->def, JSON_DECODE_ANY, &je);
    if (!dv) {
        if (json_error_code(&je) == json_error_out_of_memory || je.text[0] == '\0')
            return cfg_oom(err, errlen);
        return cfg_fail(err, errlen, CC_EINVAL, place,
                        "the plugin's default is not valid JSON (%s)", je.text);
    }
    if (json_object_set_new(obj, f->name, dv) != 0)
        return cfg_oom(err, errlen);
    char inner[512];
    int rc = cfg_value(dv, f, place, inner, sizeof inner);
    if (rc == CC_ENOMEM)
        return cfg_oom(err, errlen);
    if (rc)
        return cfg_fail(err, errlen, CC_EINVAL, place,
                        "the plugin's default does not fit its own table (%s)", inner);
    return 0;
}

static int cfg_object(json_t *obj, const cc_config_field_t *fields, const char *place,
                      char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    /* Document order, so the first problem reported is the first one a
     * reader meets in the file. */
    json_object_foreach(obj, key, v) {
        const cc_config_field_t *f = cfg_find(fields, key);
        char *p = cfg_join(place, key);
        if (!p)
            return cfg_oom(err, errlen);
        int rc = f ? cfg_value(v, f, p, err, errlen) : cfg_unknown(fields, key, p, err, errlen);
        free(p);
        if (rc)
            return rc;
    }
    for (const cc_config_field_t *f = fields; f && f->name; f++) {
        if (json_object_get(obj, f->name))
            continue;
        if (f->required)
            return cfg_fail(err, errlen, CC_ECONFIG, place, "missing required key \"%s\"",
                            f->name);
        if (!f->def)
            continue;
        char *p = cfg_join(place, f->name);
        if (!p)
            return cfg_oom(err, errlen);
        int rc = cfg_default(obj, f, p, err, errlen);
        free(p);
        if (rc)
            return rc;
    }
    return 0;
}

int cc_config_validate(json_t *config, const cc_config_field_t *table, const char *place,
                       char *err, size_t errlen)
{
    static const cc_config_field_t no_keys[] = { { .name = NULL } };
    if (!place)
        place = "";
    if (!config)
        return cfg_fail(err, errlen, CC_EINVAL, place, "no configuration object given");
    if (!json_is_object(config))
        return cfg_fail(err, errlen, CC_ECONFIG, place, "expected an object");
    /* A plugin without a table takes no keys (plugin.h); nested tables
     * left NULL mean free-form instead, handled in cfg_value. */
    return cfg_object(config, table ? table : no_keys, place, err, errlen);
}

/* ---- help text ------------------------------------------------------------ */

static const char *cfg_type_name(cc_config_type_t t)
{
    switch (t) {
    case CC_CFG_STRING: return "string";
    case CC_CFG_INT: return "integer";
    case CC_CFG_DOUBLE: return "number";
    case CC_CFG_BOOL: return "boolean";
    case CC_CFG_STRINGS: return "array of strings";
    case CC_CFG_OBJECT: return "object";
    case CC_CFG_OBJECTS: return "array of objects";
    case CC_CFG_JSON: return "any JSON";
    }
    return "?";
}

/* "integer 1..100, required, one of "a", "b", default 5" */
static void cfg_describe(char *buf, size_t len, const cc_config_field_t *f)
{
    size_t used;
    snprintf(buf, len, "%s", cfg_type_name(f->type));
    used = strlen(buf);
    if ((f->type == CC_CFG_INT || f->type == CC_CFG_DOUBLE) && f->min < f->max && used < len)
        snprintf(buf + used, len - used, " %" PRId64 "..%" PRId64, f->min, f->max);
    used = strlen(buf);
    if (f->required && used < len)
        snprintf(buf + used, len - used, ", required");
    if (f->choices && (f->type == CC_CFG_STRING || f->type == CC_CFG_STRINGS)) {
        used = strlen(buf);
        if (used < len)
            snprintf(buf + used, len - used, ", one of ");
        for (const char *const *c = f->choices; *c; c++) {
            used = strlen(buf);
            if (c != f->choices && used < len)
                snprintf(buf + used, len - used, ", ");
            cfg_quote(buf, len, *c);
        }
    }
    used = strlen(buf);
    if (f->def && used < len)
        snprintf(buf + used, len - used, ", default %s", f->def);
}

static void cfg_print(FILE *fp, const cc_config_field_t *table, int indent)
{
    int name_w = 0, desc_w = 0;
    char desc[1024];
    for (const cc_config_field_t *f = table; f->name; f++) {
        int n = (int)strlen(f->name);
        if (n > name_w)
            name_w = n;
        cfg_describe(desc, sizeof desc, f);
        n = (int)strlen(desc);
        if (n > desc_w)
            desc_w = n;
    }
    for (const cc_config_field_t *f = table; f->name; f++) {
        cfg_describe(desc, sizeof desc, f);
        if (f->doc && *f->doc)
            fprintf(fp, "%*s%-*s  %-*s  \xe2\x80\x94 %s\n", indent, "", name_w, f->name, desc_w, desc,
                    f->doc);
        else
            fprintf(fp, "%*s%-*s  %s\n", indent, "", name_w, f->name, desc);
        if ((f->type == CC_CFG_OBJECT || f->type == CC_CFG_OBJECTS) && f->fields)
            cfg_print(fp, f->fields, indent + 2);
    }
}

void cc_config_print(FILE *fp, const cc_config_field_t *table, int indent)
{
    if (!fp)
        return;
    if (indent < 0)
        indent = 0;
    if (!table || !table->name) {
        fprintf(fp, "%*s(no configuration keys)\n", indent, "");
        return;
    }
    cfg_print(fp, table, indent);
}

/* ---- lookup ----------------------------------------------------------------- */

json_t *cc_json_path(json_t *root, const char *path)
{
    if (!root || !path)
        return NULL;
    json_t *cur = root;
    const char *p = path;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!json_is_object(cur))
            return NULL;
        cur = json_object_getn(cur, p, n);
        if (!cur)
            return NULL;
        p += n;
        if (*p == '.')
            p++;
    }
    return cur;
}
