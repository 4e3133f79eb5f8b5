/* core/log.c — one line per record, text (logfmt) or JSON.
 *
 * Each record is formatted into one buffer and handed to one write(2), so
 * records from different threads never interleave (O_APPEND files and pipes
 * up to PIPE_BUF bytes write atomically).
 *
 * The log file lives on one descriptor that never changes number once opened:
 * a reopen (logrotate, SIGHUP) dup3()s the new file onto it, so a thread in
 * the middle of a write never sees a closed or reused descriptor.
 */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "changecast/error.h"

static _Atomic int g_level = CC_LOG_INFO;
static _Atomic int g_json = 0;
static _Atomic int g_fd = STDERR_FILENO;   /* where records go */

static pthread_mutex_t g_setup_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_file_fd = -1;                 /* our own descriptor, once opened */
static char *g_path = NULL;                /* the file to reopen, or NULL */

/* ---- a small appender: stack first, heap when a record is long ---- */

typedef struct line {
    char *p;
    size_t len, cap;
    int heap;
    int full;                    /* out of memory: the rest is cut */
} line_t;

/* Room kept for the closing quote/brace and newline of a truncated line. */
#define LINE_RESERVE 8

static int line_grow(line_t *l, size_t more)
{
    size_t cap;
    char *p;

    if (l->full)
        return -1;
    if (l->len + more + LINE_RESERVE <= l->cap)
        return 0;
    cap = l->cap * 2;
    while (cap < l->len + more + LINE_RESERVE)
        cap *= 2;
    p = l->heap ? realloc(l->p, cap) : malloc(cap);
    if (p == NULL) {
        l->full = 1;
        return -1;
    }
    if (!l->heap)
        memcpy(p, l->p, l->len);
    l->p = p;
    l->cap = cap;
    l->heap = 1;
    return 0;
}

static void line_put(line_t *l, const char *s, size_t n)
{
    if (line_grow(l, n) != 0)
        return;
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void line_puts(line_t *l, const char *s)
{
    line_put(l, s, strlen(s));
}

/* Always fits: used for the closing bytes inside LINE_RESERVE. */
static void line_close(line_t *l, const char *s)
{
    size_t n = strlen(s);

    memcpy(l->p + l->len, s, n);
    l->len += n;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t need;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        need = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        need = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        need = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

/* Appends `s` between double quotes with ", \ and control characters
 * escaped, the same way for text and JSON; invalid UTF-8 becomes U+FFFD,
 * so a JSON record is always valid. */
static void line_quoted(line_t *l, const char *s, int json)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);

    line_put(l, "\"", 1);
    while (n > 0) {
        unsigned char c = *p;
        const char *esc = NULL;
        char ubuf[8];
        size_t k;

        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default: break;
        }
        if (esc != NULL) {
            line_puts(l, esc);
            p++;
            n--;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            snprintf(ubuf, sizeof(ubuf), "\\u%04x", c);
            line_puts(l, ubuf);
            p++;
            n--;
            continue;
        }
        k = utf8_len(p, n);
        if (k == 0) {
            line_puts(l, json ? "\\ufffd" : "\xef\xbf\xbd");
            p++;
            n--;
            continue;
        }
        line_put(l, (const char *)p, k);
        p += k;
        n -= k;
    }
    line_put(l, "\"", 1);
}

/* Text values that need no quotes: names like "core", "ws-1", "a.b". */
static int bare_ok(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == ':' || c == '/' || c == '@' || c == '+'))
            return 0;
    }
    return 1;
}

static const char *level_name(cc_log_level_t level)
{
    switch (level) {
    case CC_LOG_ERROR: return "error";
    case CC_LOG_WARN: return "warn";
    case CC_LOG_INFO: return "info";
    case CC_LOG_DEBUG: return "debug";
    default: return "info";
    }
}

static void format_ts(char *out, size_t n)
{
    struct timespec ts;
    struct tm tm;
    size_t k;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, n - k, ".%03ldZ", ts.tv_nsec / 1000000L);
}

static void write_line(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;       /* nowhere left to report it */
        p += w;
        n -= (size_t)w;
    }
}

void cc_logv(cc_log_level_t level, const char *plugin, const char *name, const char *fmt,
             va_list ap)
{
    char stack_line[2048], stack_msg[1024], ts[40];
    line_t l = {stack_line, 0, sizeof(stack_line), 0, 0};
    char *msg = stack_msg;
    int json = atomic_load_explicit(&g_json, memory_order_relaxed);
    va_list ap2;
    int n;

    if ((int)level > atomic_load_explicit(&g_level, memory_order_relaxed))
        return;
    if (plugin == NULL)
        plugin = "core";
    if (fmt == NULL)
        fmt = "";

    va_copy(ap2, ap);
    n = vsnprintf(stack_msg, sizeof(stack_msg), fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        stack_msg[0] = '\0';
    } else if ((size_t)n >= sizeof(stack_msg)) {
        char *big = malloc((size_t)n + 1);
        if (big != NULL) {
            va_copy(ap2, ap);
            vsnprintf(big, (size_t)n + 1, fmt, ap2);
            va_end(ap2);
            msg = big;
        }   /* else: the message stays cut at sizeof(stack_msg) */
    }

    format_ts(ts, sizeof(ts));
    if (json) {
        line_puts(&l, "{\"ts\":\"");
        line_puts(&l, ts);
        line_puts(&l, "\",\"level\":\"");
        line_puts(&l, level_name(level));
        line_puts(&l, "\",\"plugin\":");
        line_quoted(&l, plugin, 1);
        if (name != NULL) {
            line_puts(&l, ",\"name\":");
            line_quoted(&l, name, 1);
        }
        line_puts(&l, ",\"msg\":");
        line_quoted(&l, msg, 1);
        if (l.full)
            line_close(&l, "\"}\n");   /* a cut message still parses */
        else
            line_close(&l, "}\n");
    } else {
        line_puts(&l, "ts=");
        line_puts(&l, ts);
        line_puts(&l, " level=");
        line_puts(&l, level_name(level));
        line_puts(&l, " plugin=");
        if (bare_ok(plugin))
            line_puts(&l, plugin);
        else
            line_quoted(&l, plugin, 0);
        if (name != NULL) {
            line_puts(&l, " name=");
            if (bare_ok(name))
                line_puts(&l, name);
            else
                line_quoted(&l, name, 0);
        }
        line_puts(&l, " msg=");
        line_quoted(&l, msg, 0);
        line_close(&l, l.full ? "\"\n" : "\n");
    }

    write_line(atomic_load_explicit(&g_fd, memory_order_acquire), l.p, l.len);

    if (l.heap)
        free(l.p);
    if (msg != stack_msg)
        free(msg);
}

void cc_log(cc_log_level_t level, const char *plugin, const char *name, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cc_logv(level, plugin, name, fmt, ap);
    va_end(ap);
}

cc_log_level_t cc_log_level(void)
{
    return (cc_log_level_t)atomic_load(&g_level);
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

/* Makes g_file_fd refer to `nf` (closing nf). Caller holds g_setup_lock. */
static int install_fd(int nf)
{
    if (g_file_fd < 0) {
        g_file_fd = nf;
        return 0;
    }
    if (dup3(nf, g_file_fd, O_CLOEXEC) < 0) {
        int saved = errno;
        close(nf);
        errno = saved;
        return -1;
    }
    close(nf);
    return 0;
}

int cc_log_setup(cc_log_level_t level, int json, const char *path)
{
    int lv = (int)level;

    pthread_mutex_lock(&g_setup_lock);
    if (lv < (int)CC_LOG_ERROR)
        lv = CC_LOG_ERROR;
    if (lv > (int)CC_LOG_DEBUG)
        lv = CC_LOG_DEBUG;
    atomic_store(&g_level, lv);
    atomic_store(&g_json, json ? 1 : 0);

    if (path == NULL || strcmp(path, "-") == 0) {
        atomic_store(&g_fd, STDERR_FILENO);
        free(g_path);
        g_path = NULL;
        /* Our descriptor stays open (a writer may hold its number) but now
         * points at stderr, so the old file is released. */
        if (g_file_fd >= 0)
            dup3(STDERR_FILENO, g_file_fd, O_CLOEXEC);
    } else {
        char *copy = strdup(path);
        int nf = copy != NULL ? open_log(path) : -1;
        int saved = copy != NULL ? errno : ENOMEM;

        if (nf >= 0 && install_fd(nf) != 0) {   /* install_fd closed nf */
            saved = errno;
            nf = -1;
        }
        if (nf < 0) {
            free(copy);
            pthread_mutex_unlock(&g_setup_lock);
            cc_log_error("cannot open log file %s: %s (logging to the previous output)", path,
                         strerror(saved));
            return CC_EIO;
        }
        free(g_path);
        g_path = copy;
        atomic_store(&g_fd, g_file_fd);
    }
    pthread_mutex_unlock(&g_setup_lock);
    return 0;
}

int cc_log_reopen(void)
{
    char *path = NULL;
    int nf, saved;

    pthread_mutex_lock(&g_setup_lock);
    if (g_path == NULL) {
        pthread_mutex_unlock(&g_setup_lock);
        return 0;
    }
    nf = open_log(g_path);
    if (nf >= 0 && install_fd(nf) == 0) {
        pthread_mutex_unlock(&g_setup_lock);
        return 0;
    }
    saved = errno;
    path = strdup(g_path);
    pthread_mutex_unlock(&g_setup_lock);
    cc_log_error("cannot reopen log file %s: %s (still writing to the old one)",
                 path ? path : "(log file)", strerror(saved));
    free(path);
    return CC_EIO;
}
