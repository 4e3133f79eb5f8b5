/* core/manifest.c — reads the JSON manifest, replaces ${NAME} with the
 * environment, checks every key and fills the defaults.
 *
 * Every message is one line, "<path>: <place>: <what is wrong>", where the
 * place is the JSON path of the offending value ("sinks[1].config.url").
 * The whole manifest is checked before anything is built, and a failure
 * frees everything built so far (cc_manifest_free copes with any partly
 * filled manifest).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/event.h"
#include "core/manifest.h"

#define MAN_BUS_CAPACITY_DEFAULT 65536
#define MAN_BUS_CAPACITY_MIN 2
#define MAN_BUS_CAPACITY_MAX 16777216
#define MAN_FLUSH_MS_DEFAULT 500
#define MAN_FLUSH_MS_MAX 3600000
#define MAN_SHUTDOWN_MS_DEFAULT 10000
#define MAN_SHUTDOWN_MS_MAX 3600000
#define MAN_STATE_DEFAULT "changecast.state"
#define MAN_ADMIN_DEFAULT "127.0.0.1:9464"
#define MAN_NAME_MAX 64
/* A manifest is a few kilobytes; this only stops `-c /dev/zero`. */
#define MAN_FILE_MAX (16u << 20)

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *const top_keys[] = { "plugin_dir", "bus", "state", "admin", "log",
                                        "shutdown_ms", "sources", "sinks" };
static const char *const bus_keys[] = { "capacity" };
static const char *const state_keys[] = { "path", "flush_ms" };
static const char *const admin_keys[] = { "listen" };
static const char *const log_keys[] = { "level", "format", "path" };
static const char *const source_keys[] = { "name", "plugin", "config" };
static const char *const sink_keys[] = { "name", "plugin", "from", "where", "on_full", "config" };
static const char *const where_keys[] = { "operation", "database", "collection",
                                          "recipient_present" };
static const char *const operations[] = { "insert", "update", "replace", "delete", "invalidate",
                                          "drop", "rename", "dropDatabase", "snapshot" };
static const char *const log_levels[] = { "error", "warn", "info", "debug" };
static const char *const log_formats[] = { "text", "json" };
static const char *const on_full_names[] = { "block", "drop" };

typedef struct man_ctx {
    const char *file;       /* message prefix: the path as given */
    char *err;
    size_t errlen;
    cc_manifest_t *m;
    json_t *names;          /* entry name -> its place ("sources[0]"): O(1) checks */
} man_ctx_t;

/* ---- messages ------------------------------------------------------------ */

static void man_one_line(char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

/* Writes "<file>: <place>.<key>: <message>"; place and key may each be
 * NULL or empty. Returns rc. */
static int man_vfail(man_ctx_t *c, int rc, const char *place, const char *key, const char *fmt,
                     va_list ap)
{
    if (!c->err || c->errlen == 0)
        return rc;
    bool has_place = place && *place, has_key = key && *key;
    int n;
    if (has_place && has_key)
        n = snprintf(c->err, c->errlen, "%s: %s.%s: ", c->file, place, key);
    else if (has_place || has_key)
        n = snprintf(c->err, c->errlen, "%s: %s: ", c->file, has_place ? place : key);
    else
        n = snprintf(c->err, c->errlen, "%s: ", c->file);
    if (n >= 0 && (size_t)n < c->errlen)
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    man_one_line(c->err);
    return rc;
}

static int man_fail(man_ctx_t *c, const char *place, const char *key, const char *fmt, ...)
    CC_PRINTF(4, 5);

static int man_fail(man_ctx_t *c, const char *place, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = man_vfail(c, CC_ECONFIG, place, key, fmt, ap);
    va_end(ap);
    return rc;
}

static int man_oom(man_ctx_t *c)
{
    if (c->err && c->errlen)
        snprintf(c->err, c->errlen, "%s: out of memory", c->file);
    man_one_line(c->err);
    return CC_ENOMEM;
}

/* Writes "\"text\"" into buf, cut short (on a UTF-8 boundary) when long. */
static const char *man_quote(char *buf, size_t len, const char *s)
{
    enum { MAX_SHOWN = 64 };
    size_t n = strlen(s);
    int cut = 0;
    if (n > MAX_SHOWN) {
        n = MAX_SHOWN;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        cut = 1;
    }
    snprintf(buf, len, "\"%.*s%s\"", (int)n, s, cut ? "..." : "");
    return buf;
}

/* "\"a\", \"b\", \"c\"" */
static const char *man_list(char *buf, size_t len, const char *const *items, size_t n)
{
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(buf);
        if (used < len)
            snprintf(buf + used, len - used, "%s\"%s\"", i ? ", " : "", items[i]);
    }
    return buf;
}

/* ---- small helpers ----------------------------------------------------------- */

static char *man_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void man_free_strv(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static int man_index_of(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return (int)i;
    return -1;
}

/* Every key of obj must be one of `keys`. */
static int man_keys(man_ctx_t *c, json_t *obj, const char *place, const char *const *keys,
                    size_t n)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (man_index_of(key, keys, n) >= 0)
            continue;
        char hint[512];
        cc_config_hint(hint, sizeof hint, key, keys, n);
        return man_fail(c, place, key, "unknown key; %s", hint);
    }
    return 0;
}

/* Optional object member `key`; absent leaves *out NULL. */
static int man_object(man_ctx_t *c, json_t *parent, const char *place, const char *key,
                      json_t **out)
{
    json_t *v = json_object_get(parent, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_object(v))
        return man_fail(c, place, key, "expected an object");
    *out = v;
    return 0;
}

/* Optional integer member within [min, max]; absent leaves *out as is. */
static int man_int(man_ctx_t *c, json_t *parent, const char *place, const char *key,
                   int64_t min, int64_t max, int64_t *out)
{
    json_t *v = json_object_get(parent, key);
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return man_fail(c, place, key, "expected an integer");
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return man_fail(c, place, key, "must be between %" PRId64 " and %" PRId64 "; got %" PRId64,
                        min, max, (int64_t)x);
    *out = (int64_t)x;
    return 0;
}

/* Optional string member; absent leaves *out NULL. Borrowed. */
static int man_string(man_ctx_t *c, json_t *parent, const char *place, const char *key,
                      const char **out)
{
    json_t *v = json_object_get(parent, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return man_fail(c, place, key, "expected a string");
    *out = json_string_value(v);
    return 0;
}

/* Optional string member that must be one of `choices`; *out is its index,
 * left as is when absent. */
static int man_choice(man_ctx_t *c, json_t *parent, const char *place, const char *key,
                      const char *const *choices, size_t n, int *out)
{
    const char *s;
    int rc = man_string(c, parent, place, key, &s);
    if (rc || !s)
        return rc;
    int i = man_index_of(s, choices, n);
    if (i < 0) {
        char list[256], got[96];
        return man_fail(c, place, key, "must be one of %s; got %s",
                        man_list(list, sizeof list, choices, n), man_quote(got, sizeof got, s));
    }
    *out = i;
    return 0;
}

/* Optional array of strings; copies into *out (new). An empty array gives
 * n 0 and *out NULL. */
static int man_strings(man_ctx_t *c, json_t *parent, const char *place, const char *key,
                       char ***out, size_t *n_out)
{
    json_t *v = json_object_get(parent, key);
    *out = NULL;
    *n_out = 0;
    if (!v)
        return 0;
    if (!json_is_array(v))
        return man_fail(c, place, key, "expected an array of strings");
    size_t n = json_array_size(v);
    if (n == 0)
        return 0;
    char **list = calloc(n, sizeof *list);
    if (!list)
        return man_oom(c);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e)) {
            char k[96];
            snprintf(k, sizeof k, "%s[%zu]", key, i);
            man_free_strv(list, n);
            return man_fail(c, place, k, "expected a string");
        }
        list[i] = man_strdup(json_string_value(e));
        if (!list[i]) {
            man_free_strv(list, n);
            return man_oom(c);
        }
    }
    *out = list;
    *n_out = n;
    return 0;
}

/* ---- paths ------------------------------------------------------------------- */

/* The manifest's folder, absolute, so paths stay right whatever the
 * daemon's working folder later is. Returns new, or NULL (errno set). */
/* Returns new: `p` when absolute, else `p` in the manifest's folder. */
static char *man_resolve(const char *dir, const char *p, size_t plen)
{
    if (plen > 0 && p[0] == '/') {
        char *d = malloc(plen + 1);
        if (d) {
            memcpy(d, p, plen);
            d[plen] = '\0';
        }
        return d;
    }
    while (plen >= 2 && p[0] == '.' && p[1] == '/') {
        p += 2;
        plen -= 2;
        while (plen > 0 && p[0] == '/') {
            p++;
            plen--;
        }
    }
    if (plen == 1 && p[0] == '.')
        plen = 0;
    size_t dl = strlen(dir);
    char *d = malloc(dl + 1 + plen + 1);
    if (!d)
        return NULL;
    memcpy(d, dir, dl);
    if (plen) {
        if (dl == 0 || d[dl - 1] != '/')
            d[dl++] = '/';
        memcpy(d + dl, p, plen);
    }
    d[dl + plen] = '\0';
    return d;
}

/* Returns new: the absolute folder holding the manifest at `path`. */
static char *man_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) : 0;
    if (slash && dl == 0)
        return man_strdup("/");
    char cwd[4096];
    if (path[0] != '/' && !getcwd(cwd, sizeof cwd))
        return NULL;
    /* "/etc/x.json" -> "/etc"; "./etc/x.json" -> "<cwd>/etc"; "x.json" -> "<cwd>" */
    return man_resolve(path[0] == '/' ? "" : cwd, path, dl);
}


/* ---- ${NAME} -------------------------------------------------------------------- */

typedef struct man_buf {
    char *s;
    size_t len, cap;
} man_buf_t;

static int man_buf_add(man_buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p)
            return -1;
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

static bool man_env_name_ok(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_'))
            return false;
    }
    return true;
}

/* jansson keeps strings UTF-8; the file's own text was checked when it
 * parsed, so only a variable's value can bring in anything else. */
static bool man_utf8_ok(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s;
        size_t n;
        unsigned min;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, c &= 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, c &= 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, c &= 0x07, min = 0x10000;
        } else {
            return false;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return false;
            c = (c << 6) | (s[i] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        s += n + 1;
    }
    return true;
}

/* Replaces ${NAME} in one string value; `place` is its JSON path. */
static int man_subst_string(man_ctx_t *c, json_t *v, const char *place)
{
    const char *in = json_string_value(v);
    if (!strchr(in, '$'))
        return 0;
    man_buf_t out = { 0 };
    const char *p = in;
    int rc = 0;
    while (*p) {
        const char *d = strchr(p, '$');
        if (!d) {
            if (man_buf_add(&out, p, strlen(p)))
                goto oom;
            break;
        }
        if (man_buf_add(&out, p, (size_t)(d - p)))
            goto oom;
        if (d[1] == '$' && d[2] == '{') {           /* $${ -> literal ${ */
            if (man_buf_add(&out, "${", 2))
                goto oom;
            p = d + 3;
        } else if (d[1] == '{') {
            const char *name = d + 2;
            const char *end = strchr(name, '}');
            if (!end) {
                rc = man_fail(c, place, NULL,
                              "unterminated \"${\" (close it with \"}\", or write \"$${\" for a "
                              "literal \"${\")");
                goto done;
            }
            size_t nl = (size_t)(end - name);
            if (!man_env_name_ok(name, nl)) {
                char shown[96], q[112];
                snprintf(shown, sizeof shown, "%.*s", (int)(nl > 64 ? 64 : nl), name);
                rc = man_fail(c, place, NULL,
                              "invalid environment variable name %s in \"${...}\" (use letters, "
                              "digits and _, not starting with a digit)",
                              man_quote(q, sizeof q, shown));
                goto done;
            }
            char *key = malloc(nl + 1);
            if (!key)
                goto oom;
            memcpy(key, name, nl);
            key[nl] = '\0';
            const char *val = getenv(key);
            if (!val) {
                rc = man_fail(c, place, NULL, "environment variable %s is not set", key);
                free(key);
                goto done;
            }
            if (!man_utf8_ok((const unsigned char *)val)) {
                rc = man_fail(c, place, NULL, "environment variable %s is not valid UTF-8", key);
                free(key);
                goto done;
            }
            free(key);
            if (man_buf_add(&out, val, strlen(val)))
                goto oom;
            p = end + 1;
        } else {
            if (man_buf_add(&out, "$", 1))
                goto oom;
            p = d + 1;
        }
    }
    if (json_string_set(v, out.s ? out.s : "") != 0)
        goto oom;
    goto done;
oom:
    rc = man_oom(c);
done:
    free(out.s);
    return rc;
}

/* Walks every string value of the tree; `path` holds the place of v. */
static int man_subst(man_ctx_t *c, json_t *v, man_buf_t *path)
{
    size_t mark = path->len;
    int rc = 0;
    if (json_is_string(v))
        return man_subst_string(c, v, path->s ? path->s : "");
    if (json_is_object(v)) {
        const char *key;
        json_t *child;
        json_object_foreach(v, key, child) {
            if ((mark && man_buf_add(path, ".", 1)) || man_buf_add(path, key, strlen(key)))
                return man_oom(c);
            rc = man_subst(c, child, path);
            path->len = mark;
            path->s[mark] = '\0';
            if (rc)
                return rc;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) {
            char idx[32];
            int n = snprintf(idx, sizeof idx, "[%zu]", i);
            if (man_buf_add(path, idx, (size_t)n))
                return man_oom(c);
            rc = man_subst(c, child, path);
            path->len = mark;
            path->s[mark] = '\0';
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- sections --------------------------------------------------------------------- */

static int man_add_plugin_dirs(man_ctx_t *c, const char *s, const char *key)
{
    cc_manifest_t *m = c->m;
    if (*s == '\0')
        return man_fail(c, NULL, key,
                        "must not be empty; leave plugin_dir out to use the installed plugins");
    const char *p = s;
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        if (n == 0) {
            char q[96];
            return man_fail(c, NULL, key, "empty folder name in %s (separate folders with one \":\")",
                            man_quote(q, sizeof q, s));
        }
        char **dirs = realloc(m->plugin_dirs, (m->n_plugin_dirs + 1) * sizeof *dirs);
        if (!dirs)
            return man_oom(c);
        m->plugin_dirs = dirs;
        dirs[m->n_plugin_dirs] = man_resolve(m->dir, p, n);
        if (!dirs[m->n_plugin_dirs])
            return man_oom(c);
        m->n_plugin_dirs++;
        if (!colon)
            return 0;
        p = colon + 1;
    }
}

static int man_plugin_dir(man_ctx_t *c, json_t *root)
{
    json_t *v = json_object_get(root, "plugin_dir");
    if (!v)
        return 0;
    if (json_is_string(v))
        return man_add_plugin_dirs(c, json_string_value(v), "plugin_dir");
    if (!json_is_array(v))
        return man_fail(c, NULL, "plugin_dir", "expected a string or an array of strings");
    if (json_array_size(v) == 0)
        return man_fail(c, NULL, "plugin_dir",
                        "empty array; leave plugin_dir out to use the installed plugins");
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        char key[48];
        snprintf(key, sizeof key, "plugin_dir[%zu]", i);
        if (!json_is_string(e))
            return man_fail(c, NULL, key, "expected a string");
        int rc = man_add_plugin_dirs(c, json_string_value(e), key);
        if (rc)
            return rc;
    }
    return 0;
}

static int man_bus(man_ctx_t *c, json_t *root)
{
    json_t *bus;
    int rc = man_object(c, root, NULL, "bus", &bus);
    if (rc || !bus)
        return rc;
    if ((rc = man_keys(c, bus, "bus", bus_keys, N_OF(bus_keys))))
        return rc;
    json_t *v = json_object_get(bus, "capacity");
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return man_fail(c, "bus", "capacity", "expected an integer");
    json_int_t x = json_integer_value(v);
    if (x < MAN_BUS_CAPACITY_MIN || x > MAN_BUS_CAPACITY_MAX || (x & (x - 1)) != 0)
        return man_fail(c, "bus", "capacity",
                        "must be a power of two between %d and %d (e.g. 65536); got %" PRId64,
                        MAN_BUS_CAPACITY_MIN, MAN_BUS_CAPACITY_MAX, (int64_t)x);
    c->m->bus_capacity = (size_t)x;
    return 0;
}

static int man_state(man_ctx_t *c, json_t *root)
{
    cc_manifest_t *m = c->m;
    json_t *st;
    const char *path = NULL;
    int rc = man_object(c, root, NULL, "state", &st);
    if (rc)
        return rc;
    if (st) {
        if ((rc = man_keys(c, st, "state", state_keys, N_OF(state_keys))) ||
            (rc = man_string(c, st, "state", "path", &path)) ||
            (rc = man_int(c, st, "state", "flush_ms", 1, MAN_FLUSH_MS_MAX, &m->flush_ms)))
            return rc;
        if (path && *path == '\0')
            return man_fail(c, "state", "path",
                            "must not be empty; leave it out for \"" MAN_STATE_DEFAULT "\"");
    }
    if (!path)
        path = MAN_STATE_DEFAULT;
    m->state_path = man_resolve(m->dir, path, strlen(path));
    return m->state_path ? 0 : man_oom(c);
}

static bool man_host_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-' || ch == '_';
}

/* Checks "host:port" / "[v6]:port". Returns NULL or what is wrong. */
static const char *man_listen_problem(const char *s)
{
    static const char *const form =
        "expected \"host:port\", e.g. \"127.0.0.1:9464\" or \"[::1]:9464\" "
        "(\"\" disables the admin listener)";
    const char *port;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close == s + 1 || close[1] != ':')
            return form;
        for (const char *p = s + 1; p < close; p++) {
            char ch = *p;
            bool ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                      (ch >= 'A' && ch <= 'F') || ch == ':' || ch == '.';
            if (!ok && ch == '%' && p + 1 < close) /* zone: [fe80::1%eth0] */
                break;
            if (!ok)
                return "invalid IPv6 address in brackets";
        }
        if (!memchr(s + 1, ':', (size_t)(close - s - 1)))
            return "brackets are for IPv6 addresses; write an IPv4 address or name without them";
        port = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon || colon == s)
            return form;
        if (memchr(s, ':', (size_t)(colon - s)))
            return "write an IPv6 address in brackets, e.g. \"[::1]:9464\"";
        for (const char *p = s; p < colon; p++)
            if (!man_host_char(*p))
                return form;
        port = colon + 1;
    }
    size_t n = strlen(port);
    if (n == 0 || n > 5 || strspn(port, "0123456789") != n || atol(port) > 65535)
        return "the port must be a number between 0 and 65535";
    return NULL;
}

static int man_admin(man_ctx_t *c, json_t *root)
{
    cc_manifest_t *m = c->m;
    json_t *admin;
    const char *listen = NULL;
    int rc = man_object(c, root, NULL, "admin", &admin);
    if (rc)
        return rc;
    if (admin && ((rc = man_keys(c, admin, "admin", admin_keys, N_OF(admin_keys))) ||
                  (rc = man_string(c, admin, "admin", "listen", &listen))))
        return rc;
    if (!listen)
        listen = MAN_ADMIN_DEFAULT;
    if (*listen == '\0')
        return 0;                       /* disabled: admin_listen stays NULL */
    const char *problem = man_listen_problem(listen);
    if (problem) {
        char q[96];
        return man_fail(c, "admin", "listen", "%s; got %s", problem,
                        man_quote(q, sizeof q, listen));
    }
    m->admin_listen = man_strdup(listen);
    return m->admin_listen ? 0 : man_oom(c);
}

static int man_log(man_ctx_t *c, json_t *root)
{
    cc_manifest_t *m = c->m;
    json_t *log;
    int rc = man_object(c, root, NULL, "log", &log);
    if (rc || !log)
        return rc;
    int level = (int)m->log_level, format = m->log_json;
    const char *path;
    if ((rc = man_keys(c, log, "log", log_keys, N_OF(log_keys))) ||
        (rc = man_choice(c, log, "log", "level", log_levels, N_OF(log_levels), &level)) ||
        (rc = man_choice(c, log, "log", "format", log_formats, N_OF(log_formats), &format)) ||
        (rc = man_string(c, log, "log", "path", &path)))
        return rc;
    /* log_levels is in cc_log_level_t order. */
    m->log_level = (cc_log_level_t)level;
    m->log_json = format == 1;
    if (path) {
        if (*path == '\0')
            return man_fail(c, "log", "path", "must not be empty; leave it out to log to stderr");
        m->log_path = man_resolve(m->dir, path, strlen(path));
        if (!m->log_path)
            return man_oom(c);
    }
    return 0;
}

/* ---- sources and sinks ------------------------------------------------------------- */

/* [A-Za-z0-9_.-]{1,64}; plugins also refuse '.' so a name is never a path. */
static bool man_name_ok(const char *s, bool dot)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAN_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || (dot && ch == '.')))
            return false;
    }
    return true;
}

/* The place of the entry already named `name`, or NULL. */
static const char *man_find_name(man_ctx_t *c, const char *name)
{
    return json_string_value(json_object_get(c->names, name));
}

static bool man_is_source(man_ctx_t *c, const char *name)
{
    const char *place = man_find_name(c, name);
    return place && strncmp(place, "sources[", 8) == 0;
}

static int man_from(man_ctx_t *c, json_t *sink, cc_manifest_entry_t *e)
{
    cc_manifest_t *m = c->m;
    json_t *v = json_object_get(sink, "from");
    if (!v)
        return 0;
    if (!json_is_array(v))
        return man_fail(c, e->place, "from", "expected an array of source names");
    if (json_array_size(v) == 0)
        return man_fail(c, e->place, "from",
                        "empty array; name sources, or leave \"from\" out for every source");
    int rc = man_strings(c, sink, e->place, "from", &e->from, &e->n_from);
    if (rc)
        return rc;
    json_t *seen = json_object();           /* name -> its index in from */
    if (!seen)
        return man_oom(c);
    for (size_t i = 0; i < e->n_from && rc == 0; i++) {
        char key[48], q[96];
        snprintf(key, sizeof key, "from[%zu]", i);
        json_t *earlier = json_object_get(seen, e->from[i]);
        if (!man_is_source(c, e->from[i])) {
            char names[512] = "";
            for (size_t s = 0; s < m->n_sources; s++) {
                size_t used = strlen(names);
                if (used + 1 >= sizeof names)
                    break;
                snprintf(names + used, sizeof names - used, "%s%s", s ? ", " : "",
                         m->sources[s].name);
            }
            rc = man_fail(c, e->place, key, "no source named %s (sources: %s)",
                          man_quote(q, sizeof q, e->from[i]), names);
        } else if (earlier) {
            rc = man_fail(c, e->place, key, "%s is already listed in from[%" JSON_INTEGER_FORMAT
                          "]", man_quote(q, sizeof q, e->from[i]), json_integer_value(earlier));
        } else if (json_object_set_new(seen, e->from[i], json_integer((json_int_t)i)) != 0) {
            rc = man_oom(c);
        }
    }
    json_decref(seen);
    return rc;
}

static int man_where(man_ctx_t *c, json_t *sink, cc_manifest_entry_t *e)
{
    cc_where_t *w = &e->where;
    json_t *where;
    char place[64];
    snprintf(place, sizeof place, "%s.where", e->place);
    int rc = man_object(c, sink, e->place, "where", &where);
    if (rc || !where)
        return rc;
    if ((rc = man_keys(c, where, place, where_keys, N_OF(where_keys))) ||
        (rc = man_strings(c, where, place, "operation", &w->operations, &w->n_operations)) ||
        (rc = man_strings(c, where, place, "database", &w->databases, &w->n_databases)) ||
        (rc = man_strings(c, where, place, "collection", &w->collections, &w->n_collections)))
        return rc;
    for (size_t i = 0; i < w->n_operations; i++) {
        if (man_index_of(w->operations[i], operations, N_OF(operations)) < 0) {
            char key[48], list[256], q[96];
            snprintf(key, sizeof key, "operation[%zu]", i);
            return man_fail(c, place, key, "unknown operation %s; expected one of %s",
                            man_quote(q, sizeof q, w->operations[i]),
                            man_list(list, sizeof list, operations, N_OF(operations)));
        }
        w->op_mask |= cc_op_mask(w->operations[i]);
    }
    json_t *rp = json_object_get(where, "recipient_present");
    if (rp) {
        if (!json_is_boolean(rp))
            return man_fail(c, place, "recipient_present", "expected true or false");
        w->recipient_present = json_is_true(rp) ? 1 : 0;
    }
    return 0;
}

static int man_entry(man_ctx_t *c, json_t *obj, bool sink, size_t idx, cc_manifest_entry_t *e)
{
    snprintf(e->place, sizeof e->place, "%s[%zu]", sink ? "sinks" : "sources", idx);
    e->where.recipient_present = -1;
    if (!json_is_object(obj))
        return man_fail(c, e->place, NULL, "expected an object");
    int rc = sink ? man_keys(c, obj, e->place, sink_keys, N_OF(sink_keys))
                  : man_keys(c, obj, e->place, source_keys, N_OF(source_keys));
    if (rc)
        return rc;

    char q[96];
    const char *plugin, *name;
    if ((rc = man_string(c, obj, e->place, "plugin", &plugin)))
        return rc;
    if (!plugin)
        return man_fail(c, e->place, NULL, "missing required key \"plugin\"");
    if (!man_name_ok(plugin, false))
        return man_fail(c, e->place, "plugin",
                        "%s is not a plugin name (1 to %d of A-Z a-z 0-9 _ -)",
                        man_quote(q, sizeof q, plugin), MAN_NAME_MAX);
    e->plugin = man_strdup(plugin);
    if (!e->plugin)
        return man_oom(c);

    if ((rc = man_string(c, obj, e->place, "name", &name)))
        return rc;
    if (name && !man_name_ok(name, true))
        return man_fail(c, e->place, "name", "%s is not a valid name (1 to %d of A-Z a-z 0-9 _ . -)",
                        man_quote(q, sizeof q, name), MAN_NAME_MAX);
    e->name = man_strdup(name ? name : plugin);
    if (!e->name)
        return man_oom(c);
    const char *other = man_find_name(c, e->name);
    if (other && name)
        return man_fail(c, e->place, "name", "%s is already used by %s",
                        man_quote(q, sizeof q, e->name), other);
    if (other)
        return man_fail(c, e->place, NULL,
                        "the name defaults to the plugin name %s, which is already used by %s; "
                        "set a distinct \"name\"",
                        man_quote(q, sizeof q, e->name), other);
    if (json_object_set_new(c->names, e->name, json_string(e->place)) != 0)
        return man_oom(c);

    json_t *config = json_object_get(obj, "config");
    if (config && !json_is_object(config))
        return man_fail(c, e->place, "config", "expected an object");
    e->config = config ? json_incref(config) : json_object();
    if (!e->config)
        return man_oom(c);

    if (!sink)
        return 0;
    int on_full = -1;
    if ((rc = man_from(c, obj, e)) || (rc = man_where(c, obj, e)) ||
        (rc = man_choice(c, obj, e->place, "on_full", on_full_names, N_OF(on_full_names),
                         &on_full)))
        return rc;
    e->on_full = on_full < 0 ? CC_ON_FULL_DEFAULT : on_full == 0 ? CC_ON_FULL_BLOCK : CC_ON_FULL_DROP;
    return 0;
}

static int man_entries(man_ctx_t *c, json_t *root, bool sink)
{
    cc_manifest_t *m = c->m;
    const char *key = sink ? "sinks" : "sources";
    json_t *v = json_object_get(root, key);
    if (!v)
        return man_fail(c, NULL, NULL, "missing required key \"%s\"", key);
    if (!json_is_array(v))
        return man_fail(c, NULL, key, "expected an array of objects");
    size_t n = json_array_size(v);
    if (n == 0)
        return man_fail(c, NULL, key, "empty array; at least one %s is required",
                        sink ? "sink" : "source");
    cc_manifest_entry_t *list = calloc(n, sizeof *list);
    if (!list)
        return man_oom(c);
    if (sink)
        m->sinks = list;
    else
        m->sources = list;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        /* Count the entry first, so the free path sees what it holds and the
         * name check sees the earlier ones. */
        if (sink)
            m->n_sinks = i + 1;
        else
            m->n_sources = i + 1;
        int rc = man_entry(c, e, sink, i, &list[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- entry points ------------------------------------------------------------------ */

static void man_entry_free(cc_manifest_entry_t *e)
{
    free(e->name);
    free(e->plugin);
    json_decref(e->config);
    man_free_strv(e->from, e->n_from);
    man_free_strv(e->where.operations, e->where.n_operations);
    man_free_strv(e->where.databases, e->where.n_databases);
    man_free_strv(e->where.collections, e->where.n_collections);
}

void cc_manifest_free(cc_manifest_t *m)
{
    if (!m)
        return;
    free(m->path);
    free(m->dir);
    free(m->display);
    man_free_strv(m->plugin_dirs, m->n_plugin_dirs);
    free(m->state_path);
    free(m->admin_listen);
    free(m->log_path);
    for (size_t i = 0; i < m->n_sources; i++)
        man_entry_free(&m->sources[i]);
    free(m->sources);
    for (size_t i = 0; i < m->n_sinks; i++)
        man_entry_free(&m->sinks[i]);
    free(m->sinks);
    free(m);
}

static int man_build(man_ctx_t *c, json_t *root)
{
    int rc;
    if (!json_is_object(root))
        return man_fail(c, NULL, NULL, "expected an object at the top level");
    man_buf_t path = { 0 };
    rc = man_subst(c, root, &path);
    free(path.s);
    if (rc ||
        (rc = man_keys(c, root, NULL, top_keys, N_OF(top_keys))) ||
        (rc = man_plugin_dir(c, root)) ||
        (rc = man_bus(c, root)) ||
        (rc = man_state(c, root)) ||
        (rc = man_admin(c, root)) ||
        (rc = man_log(c, root)) ||
        (rc = man_int(c, root, NULL, "shutdown_ms", 0, MAN_SHUTDOWN_MS_MAX, &c->m->shutdown_ms)) ||
        (rc = man_entries(c, root, false)) ||
        (rc = man_entries(c, root, true)))
        return rc;
    return 0;
}

int cc_manifest_parse(const char *text, size_t len, const char *path, cc_manifest_t **out,
                      char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (out)
        *out = NULL;
    if (!path)
        path = "manifest";
    man_ctx_t c = { .file = path, .err = err, .errlen = errlen };
    if (!out || (!text && len)) {
        if (err && errlen)
            snprintf(err, errlen, "%s: no manifest text given", path);
        return CC_EINVAL;
    }

    size_t blank = 0;
    while (blank < len && strchr(" \t\r\n", text[blank]) && text[blank] != '\0')
        blank++;
    if (blank == len) {
        if (err && errlen)
            snprintf(err, errlen, "%s: the manifest is empty; it needs at least \"sources\" and "
                     "\"sinks\"", path);
        return CC_ECONFIG;
    }

    /* jansson leaves `je` untouched when its first allocation fails */
    json_error_t je;
    memset(&je, 0, sizeof je);
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        /* jansson reports an allocation failure in its set-up with no text */
        if (json_error_code(&je) == json_error_out_of_memory || je.text[0] == '\0')
            return man_oom(&c);
        if (err && errlen)
            snprintf(err, errlen, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
        man_one_line(err);
        return CC_ECONFIG;
    }

    cc_manifest_t *m = calloc(1, sizeof *m);
    if (!m) {
        json_decref(root);
        return man_oom(&c);
    }
    c.m = m;
    c.names = json_object();
    m->bus_capacity = MAN_BUS_CAPACITY_DEFAULT;
    m->flush_ms = MAN_FLUSH_MS_DEFAULT;
    m->log_level = CC_LOG_INFO;
    m->log_json = 0;
    m->shutdown_ms = MAN_SHUTDOWN_MS_DEFAULT;
    m->path = man_strdup(path);
    m->display = man_strdup(path);
    int rc;
    if (!m->path || !m->display || !c.names) {
        rc = man_oom(&c);
    } else if (!(m->dir = man_dir_of(path))) {
        rc = errno == ENOMEM ? man_oom(&c)
                             : man_fail(&c, NULL, NULL, "cannot find the current folder: %s",
                                        strerror(errno));
    } else {
        rc = man_build(&c, root);
    }
    json_decref(c.names);
    json_decref(root);
    if (rc) {
        cc_manifest_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int cc_manifest_load(const char *path, cc_manifest_t **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (out)
        *out = NULL;
    if (!path)
        path = "changecast.json";
    man_ctx_t c = { .file = path, .err = err, .errlen = errlen };
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return man_fail(&c, NULL, NULL, "cannot read: %s", strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= MAN_FILE_MAX) {
                rc = man_fail(&c, NULL, NULL, "cannot read: larger than %u MiB; is it the "
                              "manifest?", MAN_FILE_MAX >> 20);
                break;
            }
            cap = cap ? cap * 2 : 8192;
            char *p = realloc(buf, cap + 1);
            if (!p) {
                rc = man_oom(&c);
                break;
            }
            buf = p;
        }
        size_t n = fread(buf + len, 1, cap - len, fp);
        len += n;
        if (n == 0) {
            if (ferror(fp))
                rc = man_fail(&c, NULL, NULL, "cannot read: %s", strerror(errno));
            break;
        }
    }
    fclose(fp);
    if (rc == 0)
        rc = cc_manifest_parse(buf, len, path, out, err, errlen);
    free(buf);
    return rc;
}
