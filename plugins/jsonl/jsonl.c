/* jsonl — a source that replays change events from a file of JSON lines.
 *
 * One line, one change event (canonical or relaxed Extended JSON). A thread
 * per instance reads the file (or stdin) through its own buffer and hands each
 * non-blank line to host->emit without copying it. A line's position is the
 * byte offset just past its newline, so a restart resumes after the last line
 * every lossless sink acknowledged. See README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "changecast/changecast.h"

#define JSONL_MAX_LINE ((size_t)16 * 1024 * 1024)  /* longer lines are skipped   */
#define JSONL_READ_SIZE ((size_t)256 * 1024)       /* initial buffer, read size  */
#define JSONL_BUF_MAX (JSONL_MAX_LINE + 2)         /* line + '\n' + spare byte   */
#define JSONL_POLL_MS 100                          /* stop latency, follow period */
#define JSONL_NS 1000000000ull
#define JSONL_BATCH 256                            /* lines per emit_batch call  */

typedef enum jsonl_on_eof {
    JSONL_EOF_FINISH,
    JSONL_EOF_FOLLOW,
    JSONL_EOF_STAY
} jsonl_on_eof_t;

typedef struct jsonl {
    cc_instance_t *self;
    const cc_host_t *host;
    const char *path;           /* borrowed (config); "-" = stdin             */
    const char *name;           /* for messages: the path, or "<stdin>"       */
    int fd;
    bool is_stdin;
    bool regular;               /* a regular file: seekable, can be followed */
    double rate;                /* events per second, 0 = unlimited          */
    jsonl_on_eof_t on_eof;
    const char **fields;        /* owned array of borrowed strings           */
    size_t n_fields;
    cc_shape_t *shape;          /* owned; NULL = no fields, no recipient      */
    char *origin;               /* owned: "<name>:<line>", for the core's messages */
    size_t origin_prefix;       /* length of "<name>:"                        */

    /* Reader state, owned by the thread once started. */
    char *buf;
    size_t cap;
    uint64_t offset;            /* file offset where reading starts          */
    bool resync;                /* drop bytes up to the first newline        */
    uint64_t lineno;            /* lines seen since `offset`                 */
    uint64_t rate_t0;           /* rate schedule: start (CLOCK_MONOTONIC ns) */
    uint64_t rate_n;            /* ... and lines emitted since               */

    /* Lines waiting for emit_batch: they point into `buf`, so the batch is
     * flushed before the buffer moves (compaction, growth, the next read). */
    cc_change_t batch[JSONL_BATCH];
    char batch_pos[JSONL_BATCH][24];
    char *batch_origin;         /* owned: JSONL_BATCH origins of origin_stride bytes */
    size_t origin_stride;
    size_t n_batch;
    bool use_batch;             /* host has emit_batch and no rate is set   */

    pthread_t thread;
    bool started;
    atomic_bool stopping;
} jsonl_t;

static const char *const jsonl_on_eof_choices[] = {"finish", "follow", "stay", NULL};

static const cc_config_field_t jsonl_config[] = {
    {.name = "path", .type = CC_CFG_STRING, .def = "\"-\"",
     .doc = "file of JSON lines, one change event each, or \"-\" for stdin"},
    {.name = "rate", .type = CC_CFG_DOUBLE, .def = "0", .min = 0, .max = 1000000000,
     .doc = "events per second; 0 = as fast as the sinks take them"},
    {.name = "fields", .type = CC_CFG_STRINGS, .def = "[]",
     .doc = "dotted paths copied into the envelope's data (as in a mongo watch entry)"},
    {.name = "recipient", .type = CC_CFG_STRING,
     .doc = "dotted path to the recipient (as in a mongo watch entry)"},
    {.name = "on_eof", .type = CC_CFG_STRING, .def = "\"finish\"", .choices = jsonl_on_eof_choices,
     .doc = "at end of input: finish (the daemon exits once drained), follow (like tail -f), stay"},
    {0}
};

static uint64_t jsonl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * JSONL_NS + (uint64_t)ts.tv_nsec;
}

/* Sleeps until CLOCK_MONOTONIC reaches `deadline_ns`, in slices short enough
 * to notice stop(). Returns false when stopping. */
static bool jsonl_sleep_until(jsonl_t *js, uint64_t deadline_ns)
{
    for (;;) {
        if (atomic_load_explicit(&js->stopping, memory_order_relaxed))
            return false;
        uint64_t now = jsonl_now_ns();
        if (now >= deadline_ns)
            return true;
        uint64_t until = deadline_ns;
        if (until - now > (uint64_t)JSONL_POLL_MS * 1000000u)
            until = now + (uint64_t)JSONL_POLL_MS * 1000000u;
        struct timespec ts = {.tv_sec = (time_t)(until / JSONL_NS),
                              .tv_nsec = (long)(until % JSONL_NS)};
        /* EINTR or not, the loop re-checks the clock. */
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
}

/* Waits for the next slot of the rate schedule. Deadlines are absolute
 * (t0 + n / rate), so sleeping late does not accumulate drift; a source more
 * than a second behind (a slow sink) restarts the schedule rather than
 * bursting to catch up. Returns false when stopping. */
static bool jsonl_rate_wait(jsonl_t *js)
{
    uint64_t now = jsonl_now_ns();
    if (js->rate_n == 0)
        js->rate_t0 = now;
    uint64_t deadline = js->rate_t0 + (uint64_t)((double)js->rate_n * (double)JSONL_NS / js->rate);
    if (now > deadline && now - deadline > JSONL_NS) {
        js->rate_t0 = now;
        js->rate_n = 0;
        deadline = now;
    }
    js->rate_n++;
    return deadline <= now || jsonl_sleep_until(js, deadline);
}

/* Writes `v` in decimal into `out` (at least 21 bytes); returns `out`. */
static const char *jsonl_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return out;
}

/* Hands one line (its newline excluded, writable) to the core. `at` is the
 * line's offset, `end` the offset just past its newline (its position).
 * Returns 0 to go on or CC_ECLOSED. */
/* After emit: 0 to go on (a bad line was logged by the core and skipped),
 * else CC_ECLOSED to stop reading. Any other failure (out of memory) stops
 * the process: reading on would acknowledge later lines and move the resume
 * point past the ones that were not handed over. */
static int jsonl_emit_failed(jsonl_t *js, int rc)
{
    if (rc == 0 || rc == CC_EPARSE)
        return 0;
    if (rc != CC_ECLOSED) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s: cannot hand changes to the core: %s; stopping so that "
                 "a restart resumes before them", js->origin, cc_strerror(rc));
        js->host->source_status(js->self, CC_SOURCE_FAILED);
        js->host->fatal(js->self, msg);
    }
    return CC_ECLOSED;
}

/* Hands the collected lines to the core. 0, or CC_ECLOSED when stopping. */
static int jsonl_flush(jsonl_t *js)
{
    if (js->n_batch == 0)
        return 0;
    int rc = js->host->emit_batch(js->self, js->batch, js->n_batch, NULL);
    js->n_batch = 0;
    return jsonl_emit_failed(js, rc);
}

static int jsonl_line(jsonl_t *js, char *line, size_t len, uint64_t at, uint64_t end)
{
    while (len > 0 && line[len - 1] == '\r')
        len--;
    line[len] = '\0';   /* the core gets a NUL-terminated line */
    /* A UTF-8 byte order mark, as some editors write, starts the file. */
    if (at == 0 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
        line += 3;
        len -= 3;
    }

    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' ||
                       line[i] == '\f' || line[i] == '\v'))
        i++;
    if (i == len)
        return 0;   /* blank */

    if (js->rate > 0 && !jsonl_rate_wait(js))
        return CC_ECLOSED;

    if (js->use_batch) {
        size_t k = js->n_batch++;
        char *origin = js->batch_origin + k * js->origin_stride;
        memcpy(origin, js->origin, js->origin_prefix);
        jsonl_u64(origin + js->origin_prefix, js->lineno);
        js->batch[k] = (cc_change_t){
            .size = sizeof(cc_change_t),
            .json = line,
            .json_len = len,
            .position = jsonl_u64(js->batch_pos[k], end),
            .shape = js->shape,
            .origin = origin,
        };
        return js->n_batch == JSONL_BATCH ? jsonl_flush(js) : 0;
    }

    char pos[24];
    cc_change_t change = {
        .size = sizeof change,
        .json = line,
        .json_len = len,
        .position = jsonl_u64(pos, end),
        .shape = js->shape,
        .origin = js->origin,
    };
    jsonl_u64(js->origin + js->origin_prefix, js->lineno);
    return jsonl_emit_failed(js, js->host->emit(js->self, &change));
}

/* Reads into buf; for pipes and terminals waits in poll() slices so stop()
 * is noticed. Returns bytes read, 0 at end of input, -1 on error (errno set),
 * -2 when stopping. */
static ssize_t jsonl_read(jsonl_t *js, char *into, size_t want)
{
    for (;;) {
        if (atomic_load_explicit(&js->stopping, memory_order_relaxed))
            return -2;
        if (!js->regular) {
            struct pollfd pfd = {.fd = js->fd, .events = POLLIN};
            int n = poll(&pfd, 1, JSONL_POLL_MS);
            if (n == 0 || (n < 0 && errno == EINTR))
                continue;
            if (n < 0)
                return -1;
        }
        ssize_t r = read(js->fd, into, want);
        if (r >= 0)
            return r;
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            continue;
        return -1;
    }
}

/* Follow mode, at end of input: a file truncated in place is read again from
 * its start; a file replaced at `path` (rotation) is opened anew. Returns
 * true when reading restarts at offset 0. */
static bool jsonl_follow_check(jsonl_t *js, uint64_t read_off)
{
    if (!js->regular)
        return false;
    struct stat cur, named;
    if (fstat(js->fd, &cur) != 0)
        return false;
    if (!js->is_stdin && stat(js->path, &named) == 0 &&
        (named.st_ino != cur.st_ino || named.st_dev != cur.st_dev)) {
        int fd = open(js->path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            close(js->fd);
            js->fd = fd;
            js->host->log(js->self, CC_LOG_INFO, "%s was replaced; reading the new file", js->name);
            return true;
        }
    }
    if ((uint64_t)cur.st_size < read_off) {
        if (lseek(js->fd, 0, SEEK_SET) == 0) {
            js->host->log(js->self, CC_LOG_WARN, "%s was truncated; reading it again from the start",
                          js->name);
            return true;
        }
    }
    return false;
}

/* The reader thread. The buffer holds [start, end) unconsumed bytes; `base`
 * is the file offset of buf[0]. Lines are handed over in place. */
static void *jsonl_run(void *arg)
{
    jsonl_t *js = arg;
    const cc_host_t *host = js->host;
    size_t start = 0, end = 0;
    uint64_t base = js->offset;
    bool skipping = false;      /* inside a line longer than JSONL_MAX_LINE */
    bool resync = js->resync;

    for (;;) {
        char *nl;
        while (start < end && (nl = memchr(js->buf + start, '\n', end - start)) != NULL) {
            size_t stop_at = (size_t)(nl - js->buf);
            if (resync) {
                resync = false;   /* the tail of a line before the saved position */
            } else {
                js->lineno++;
                if (skipping)
                    skipping = false;
                else if (jsonl_line(js, js->buf + start, stop_at - start, base + start,
                                    base + stop_at + 1) != 0)
                    return NULL;
            }
            start = stop_at + 1;
        }
        if (jsonl_flush(js) != 0)
            return NULL;

        /* No newline in [start, end): make room for more. */
        if (skipping || resync) {
            base += end;
            start = end = 0;
        } else if (end - start > JSONL_MAX_LINE) {
            host->log(js->self, CC_LOG_WARN, "%s:%" PRIu64 ": line longer than 16 MB, skipped",
                      js->name, js->lineno + 1);
            skipping = true;
            base += end;
            start = end = 0;
        } else {
            if (start > 0) {
                memmove(js->buf, js->buf + start, end - start);
                base += start;
                end -= start;
                start = 0;
            }
            if (end > js->cap / 2 && js->cap < JSONL_BUF_MAX) {
                size_t cap = js->cap * 2 < JSONL_BUF_MAX ? js->cap * 2 : JSONL_BUF_MAX;
                char *buf = realloc(js->buf, cap);
                if (buf == NULL) {
                    host->log(js->self, CC_LOG_ERROR, "%s:%" PRIu64 ": out of memory for a long line",
                              js->name, js->lineno + 1);
                    host->source_status(js->self, CC_SOURCE_FAILED);
                    return NULL;
                }
                js->buf = buf;
                js->cap = cap;
            }
        }

        ssize_t n = jsonl_read(js, js->buf + end, js->cap - 1 - end);
        if (n > 0) {
            end += (size_t)n;
            continue;
        }
        if (n == -2)
            return NULL;
        if (n < 0) {
            host->log(js->self, CC_LOG_ERROR, "cannot read %s: %s", js->name, strerror(errno));
            host->source_status(js->self, CC_SOURCE_FAILED);
            return NULL;
        }

        /* End of input. */
        if (js->on_eof == JSONL_EOF_FOLLOW) {
            /* A partial last line is probably being written: wait for the rest. */
            js->rate_n = 0;
            if (jsonl_follow_check(js, base + end)) {
                base = 0;
                start = end = 0;
                skipping = resync = false;
                js->lineno = 0;
                continue;
            }
            if (!jsonl_sleep_until(js, jsonl_now_ns() + (uint64_t)JSONL_POLL_MS * 1000000u))
                return NULL;
            continue;
        }
        if (end > start && !skipping && !resync) {
            js->lineno++;   /* a last line without its newline */
            if (jsonl_line(js, js->buf + start, end - start, base + start, base + end) != 0 ||
                jsonl_flush(js) != 0)
                return NULL;
        }
        if (js->on_eof == JSONL_EOF_FINISH) {
            host->log(js->self, CC_LOG_INFO, "end of %s after %" PRIu64 " lines", js->name,
                      js->lineno);
            host->source_status(js->self, CC_SOURCE_FINISHED);
            return NULL;
        }
        host->log(js->self, CC_LOG_INFO, "end of %s after %" PRIu64 " lines; staying idle",
                  js->name, js->lineno);
        while (jsonl_sleep_until(js, jsonl_now_ns() + (uint64_t)JSONL_POLL_MS * 1000000u))
            ;
        return NULL;
    }
}

/* Applies the saved position, if any. Main thread, before the reader runs. */
static void jsonl_resume(jsonl_t *js)
{
    const char *saved = js->host->state_position(js->self);
    if (saved == NULL || *saved == '\0')
        return;
    char *endp;
    errno = 0;
    unsigned long long pos = strtoull(saved, &endp, 10);
    if (errno != 0 || *endp != '\0' || saved[0] < '0' || saved[0] > '9') {
        js->host->log(js->self, CC_LOG_WARN,
                      "saved position \"%s\" is not a byte offset; reading %s from the start",
                      saved, js->name);
        return;
    }
    if (pos == 0)
        return;
    if (!js->regular) {
        js->host->log(js->self, CC_LOG_INFO,
                      "cannot resume %s (not a regular file): saved position %llu ignored, "
                      "reading from the start", js->name, pos);
        return;
    }
    struct stat st;
    if (fstat(js->fd, &st) == 0 && (uint64_t)st.st_size < pos) {
        js->host->log(js->self, CC_LOG_WARN,
                      "saved position %llu is past the end of %s (%lld bytes): file replaced? "
                      "reading from the start", pos, js->name, (long long)st.st_size);
        return;
    }
    if (lseek(js->fd, (off_t)pos, SEEK_SET) < 0) {
        js->host->log(js->self, CC_LOG_WARN, "cannot seek %s to saved position %llu: %s; "
                      "reading from the start", js->name, pos, strerror(errno));
        return;
    }
    char prev;
    if (pread(js->fd, &prev, 1, (off_t)pos - 1) == 1 && prev != '\n') {
        js->host->log(js->self, CC_LOG_WARN, "saved position %llu of %s is not at a line start "
                      "(file changed?); skipping to the next line", pos, js->name);
        js->resync = true;
    }
    js->offset = pos;
    js->host->log(js->self, CC_LOG_INFO,
                  "resuming %s at byte %llu; line numbers count from there", js->name, pos);
}

static void jsonl_free(jsonl_t *js)
{
    if (js->shape != NULL)
        js->host->shape_free(js->shape);
    if (js->fd >= 0 && !js->is_stdin)
        close(js->fd);
    free(js->fields);
    free(js->origin);
    free(js->batch_origin);
    free(js->buf);
    free(js);
}

/* The config as init and check read it (path, rate, on_eof, fields,
 * recipient); nothing opened. 0 or CC_ECONFIG/CC_ENOMEM (logged). */
static int jsonl_read_config(jsonl_t *js)
{
    cc_instance_t *self = js->self;
    const cc_host_t *host = js->host;
    js->path = host->config_path(self, "path");
    if (js->path == NULL || *js->path == '\0')
        js->path = "-";
    js->is_stdin = strcmp(js->path, "-") == 0;
    js->name = js->is_stdin ? "<stdin>" : js->path;

    js->rate = host->config_double(self, "rate", 0);
    if (!(js->rate >= 0)) {
        host->log(self, CC_LOG_ERROR, "config.rate: expected a number of events per second >= 0");
        return CC_ECONFIG;
    }
    const char *on_eof = host->config_string(self, "on_eof");
    if (on_eof == NULL || strcmp(on_eof, "finish") == 0) {
        js->on_eof = JSONL_EOF_FINISH;
    } else if (strcmp(on_eof, "follow") == 0) {
        js->on_eof = JSONL_EOF_FOLLOW;
    } else if (strcmp(on_eof, "stay") == 0) {
        js->on_eof = JSONL_EOF_STAY;
    } else {
        host->log(self, CC_LOG_ERROR, "config.on_eof: expected \"finish\", \"follow\" or \"stay\"");
        return CC_ECONFIG;
    }

    js->n_fields = host->config_count(self, "fields");
    if (js->n_fields > 0) {
        js->fields = calloc(js->n_fields, sizeof *js->fields);
        if (js->fields == NULL) {
            host->log(self, CC_LOG_ERROR, "out of memory");
            return CC_ENOMEM;
        }
        for (size_t i = 0; i < js->n_fields; i++) {
            js->fields[i] = host->config_string_at(self, "fields", i);
            if (js->fields[i] == NULL) {
                host->log(self, CC_LOG_ERROR, "config.fields[%zu]: expected a string", i);
                return CC_ECONFIG;
            }
        }
    }
    const char *recipient = host->config_string(self, "recipient");
    if (recipient != NULL && *recipient == '\0')
        recipient = NULL;
    if (js->n_fields > 0 || recipient != NULL) {
        js->shape = host->shape_new(self, js->fields, js->n_fields, recipient);
        if (js->shape == NULL)
            return CC_ECONFIG;   /* shape_new logged why */
    }
    return 0;
}

/* A source with nothing opened yet. Returns new (jsonl_free) or NULL after
 * logging. */
static jsonl_t *jsonl_new(cc_instance_t *self, const cc_host_t *host)
{
    jsonl_t *js = calloc(1, sizeof *js);
    if (js == NULL) {
        host->log(self, CC_LOG_ERROR, "out of memory");
        return NULL;
    }
    js->self = self;
    js->host = host;
    js->fd = -1;
    atomic_init(&js->stopping, false);
    return js;
}

/* changecast check: the config as init reads it; the file is not opened
 * (it may come later: a FIFO, a capture being written). */
static int jsonl_check(cc_instance_t *self, const cc_host_t *host)
{
    jsonl_t *js = jsonl_new(self, host);
    if (js == NULL)
        return CC_ENOMEM;
    int rc = jsonl_read_config(js);
    jsonl_free(js);
    return rc;
}

static int jsonl_init(cc_instance_t *self, const cc_host_t *host, void **state)
{
    jsonl_t *js = jsonl_new(self, host);
    if (js == NULL)
        return CC_ENOMEM;
    int rc = jsonl_read_config(js);
    if (rc != 0) {
        jsonl_free(js);
        return rc;
    }

    if (js->is_stdin) {
        js->fd = STDIN_FILENO;
    } else {
        /* O_NONBLOCK: opening a FIFO must not wait for a writer here. */
        js->fd = open(js->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (js->fd < 0) {
            int err = errno;
            host->log(self, CC_LOG_ERROR, "cannot open %s: %s%s", js->path, strerror(err),
                      err == ENOENT ? " (config.path: relative paths start at the manifest's folder)"
                                    : "");
            host->source_status(self, CC_SOURCE_FAILED);
            jsonl_free(js);
            return err == ENOENT ? CC_ENOENT : CC_EIO;
        }
    }
    struct stat st;
    if (fstat(js->fd, &st) != 0) {
        host->log(self, CC_LOG_ERROR, "cannot stat %s: %s", js->name, strerror(errno));
        host->source_status(self, CC_SOURCE_FAILED);
        jsonl_free(js);
        return CC_EIO;
    }
    if (S_ISDIR(st.st_mode)) {
        host->log(self, CC_LOG_ERROR, "cannot read %s: it is a directory", js->name);
        host->source_status(self, CC_SOURCE_FAILED);
        jsonl_free(js);
        return CC_ECONFIG;
    }
    js->regular = S_ISREG(st.st_mode);
    if (js->regular && !js->is_stdin) {
        int flags = fcntl(js->fd, F_GETFL);
        if (flags >= 0)
            fcntl(js->fd, F_SETFL, flags & ~O_NONBLOCK);
    }

    js->origin_prefix = strlen(js->name) + 1;
    js->origin = malloc(js->origin_prefix + 24);
    if (js->origin == NULL) {
        host->log(self, CC_LOG_ERROR, "out of memory");
        jsonl_free(js);
        return CC_ENOMEM;
    }
    memcpy(js->origin, js->name, js->origin_prefix - 1);
    js->origin[js->origin_prefix - 1] = ':';
    js->origin[js->origin_prefix] = '\0';

    /* Unthrottled replays hand lines over in batches, which the core builds
     * on two threads; a rate limit paces line by line. */
    js->use_batch = js->rate <= 0 && CC_HOST_HAS(host, emit_batch);
    if (js->use_batch) {
        js->origin_stride = js->origin_prefix + 24;
        js->batch_origin = malloc(JSONL_BATCH * js->origin_stride);
        if (js->batch_origin == NULL) {
            host->log(self, CC_LOG_ERROR, "out of memory");
            jsonl_free(js);
            return CC_ENOMEM;
        }
    }

    js->cap = JSONL_READ_SIZE;
    js->buf = malloc(js->cap);
    if (js->buf == NULL) {
        host->log(self, CC_LOG_ERROR, "out of memory");
        jsonl_free(js);
        return CC_ENOMEM;
    }
    *state = js;
    return 0;
}

static int jsonl_start(void *state)
{
    jsonl_t *js = state;
    if (js->started)
        return 0;
    if (js->regular) {
        /* stdin redirected from a file may not start at offset 0. */
        off_t cur = lseek(js->fd, 0, SEEK_CUR);
        js->offset = cur > 0 ? (uint64_t)cur : 0;
    }
    jsonl_resume(js);
    atomic_store(&js->stopping, false);
    /* Reported before the thread runs so it cannot overwrite FINISHED. */
    js->host->source_status(js->self, CC_SOURCE_CONNECTED);
    int rc = pthread_create(&js->thread, NULL, jsonl_run, js);
    if (rc != 0) {
        js->host->log(js->self, CC_LOG_ERROR, "cannot start the reader thread: %s", strerror(rc));
        js->host->source_status(js->self, CC_SOURCE_FAILED);
        return CC_EIO;
    }
    char tname[16];
    snprintf(tname, sizeof tname, "jsonl:%s", js->host->instance_name(js->self));
    pthread_setname_np(js->thread, tname);
    js->started = true;
    return 0;
}

static void jsonl_stop(void *state)
{
    jsonl_t *js = state;
    if (!js->started)
        return;
    atomic_store(&js->stopping, true);
    pthread_join(js->thread, NULL);
    js->started = false;
}

static void jsonl_destroy(void *state)
{
    jsonl_t *js = state;
    jsonl_stop(js);
    jsonl_free(js);
}

static const cc_plugin_t jsonl_plugin = {
    .abi_major = CC_ABI_MAJOR,
    .abi_minor = CC_ABI_MINOR,
    .size = sizeof(cc_plugin_t),
    .name = "jsonl",
    .version = "1.0.0",
    .description = "replays change events from a JSON-lines file or stdin",
    .kind = CC_PLUGIN_SOURCE,
    .config = jsonl_config,
    .init = jsonl_init,
    .start = jsonl_start,
    .stop = jsonl_stop,
    .destroy = jsonl_destroy,
    .flags = 0,
    .check = jsonl_check,
};

CC_PLUGIN_ENTRY(jsonl_plugin)
