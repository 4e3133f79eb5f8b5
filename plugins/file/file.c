/* file — a sink that appends each event's envelope as a JSON line.
 *
 * Writes a batch in as few writev() calls as possible and acknowledges it
 * once written (and synced, with fsync). A failed write (disk full, I/O error)
 * keeps the unwritten events, unacknowledged and in order, and retries them on
 * a timer with capped backoff; a line cut short by the failure is finished,
 * not written twice. SIGHUP reopens the path for logrotate. See README.md.
 *
 * Every callback but init and destroy runs on the sink's event-loop thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>

#include "changecast/changecast.h"

#define FILE_IOV 1024                 /* iovecs per writev (IOV_MAX on Linux) */
#define FILE_BACKOFF_MIN_MS 100u
#define FILE_BACKOFF_MAX_MS 5000u
#define FILE_AGAIN_MS 10u             /* stdout made non-blocking and full   */

typedef struct file_sink {
    cc_instance_t *self;
    const cc_host_t *host;
    const char *path;        /* borrowed (config); "-" = stdout              */
    const char *name;        /* for messages                                */
    int fd;
    bool is_stdout;
    bool fsync_on;           /* config.fsync                                 */
    bool can_sync;           /* fd is a regular file                        */
    struct event *retry;     /* owned; timer on the sink's event base       */
    unsigned backoff_ms;
    bool down;               /* a write failed; the queue holds the rest     */
    /* Events taken but not yet acknowledged, oldest first, in
     * queue[head .. head+count). The first `written` are written (waiting for
     * fsync); the next has `off` bytes of its line written. */
    cc_event_t **queue;
    size_t head, count, cap;
    size_t written;
    size_t off;
} file_sink_t;

static const cc_config_field_t file_config[] = {
    {.name = "path", .type = CC_CFG_STRING, .def = "\"-\"",
     .doc = "file to append JSON lines to, or \"-\" for stdout"},
    {.name = "fsync", .type = CC_CFG_BOOL, .def = "false",
     .doc = "fsync after each batch, before acknowledging it"},
    {0}
};

/* A file left ending in a partial line (a write cut short by a full disk or
 * a kill) is cut back to its last complete line before appending: that
 * line's event was never acknowledged, so it is written again whole, and the
 * next run's first line is not glued to the fragment. */
static void file_cut_partial_line(file_sink_t *fs)
{
    int fd = open(fs->path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;   /* missing: created by the append open below */
    struct stat st;
    char buf[4096];
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0 ||
        pread(fd, buf, 1, st.st_size - 1) != 1 || buf[0] == '\n') {
        close(fd);
        return;
    }
    off_t end = st.st_size, keep = 0;
    while (end > 0 && keep == 0) {
        off_t from = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
        ssize_t n = pread(fd, buf, (size_t)(end - from), from);
        if (n <= 0)
            break;
        for (ssize_t i = n; i-- > 0;)
            if (buf[i] == '\n') {
                keep = from + i + 1;
                break;
            }
        end = from;
    }
    if (ftruncate(fd, keep) == 0)
        fs->host->log(fs->self, CC_LOG_WARN,
                      "%s ended with a partial line (%lld bytes, from an interrupted write); "
                      "cut it: its event was not acknowledged and is written again",
                      fs->path, (long long)(st.st_size - keep));
    else
        fs->host->log(fs->self, CC_LOG_ERROR, "%s ends with a partial line and cannot be cut: %s",
                      fs->path, strerror(errno));
    close(fd);
}

static int file_open(file_sink_t *fs)
{
    file_cut_partial_line(fs);
    return open(fs->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static bool file_fd_is_regular(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/* Writes the lines of evs[0..n), the first one from byte `*off` of its line.
 * On return `*done` events are fully written and `*off` bytes of evs[*done]'s
 * line. Handles short writes and EINTR. Returns 0 or an errno value. */
static int file_write_events(file_sink_t *fs, cc_event_t *const *evs, size_t n, size_t *done,
                             size_t *off)
{
    struct iovec iov[FILE_IOV];
    size_t lens[FILE_IOV / 2];
    *done = 0;
    while (*done < n) {
        int k = 0;
        size_t m = 0, skip = *off;
        for (size_t j = *done; j < n && m < FILE_IOV / 2; j++, m++) {
            size_t len;
            const char *json = fs->host->event_json(evs[j], &len);
            lens[m] = len;
            if (skip < len)
                iov[k++] = (struct iovec){.iov_base = (void *)(uintptr_t)(json + skip),
                                          .iov_len = len - skip};
            iov[k++] = (struct iovec){.iov_base = (void *)(uintptr_t)"\n", .iov_len = 1};
            skip = 0;
        }
        ssize_t w = writev(fs->fd, iov, k);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (w == 0)
            return EIO;   /* no progress on a non-empty write: never loop */
        size_t left = (size_t)w;
        for (size_t j = 0; left > 0 && j < m; j++) {
            size_t rem = lens[j] + 1 - *off;
            if (left < rem) {
                *off += left;
                break;
            }
            left -= rem;
            *off = 0;
            (*done)++;
        }
    }
    return 0;
}

static int file_sync(file_sink_t *fs)
{
    if (!fs->fsync_on || !fs->can_sync)
        return 0;
    while (fsync(fs->fd) != 0) {
        if (errno != EINTR)
            return errno;
    }
    return 0;
}

/* Appends events to the queue (borrowed: they stay valid until acked). */
static int file_queue_push(file_sink_t *fs, cc_event_t *const *evs, size_t n)
{
    if (fs->head > 0 && fs->head + fs->count + n > fs->cap) {
        memmove(fs->queue, fs->queue + fs->head, fs->count * sizeof *fs->queue);
        fs->head = 0;
    }
    if (fs->count + n > fs->cap) {
        size_t cap = fs->cap ? fs->cap : 256;
        while (cap < fs->count + n)
            cap *= 2;
        cc_event_t **q = realloc(fs->queue, cap * sizeof *q);
        if (q == NULL)
            return CC_ENOMEM;
        fs->queue = q;
        fs->cap = cap;
    }
    memcpy(fs->queue + fs->head + fs->count, evs, n * sizeof *evs);
    fs->count += n;
    return 0;
}

/* Acknowledges the first n queued events and drops them from the queue. */
static void file_queue_ack(file_sink_t *fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fs->host->ack(fs->self, fs->queue[fs->head + i]);
    fs->head += n;
    fs->count -= n;
    fs->written -= n;
    if (fs->count == 0)
        fs->head = 0;
}

/* Writes, syncs and acknowledges what the queue holds. Acknowledges what is
 * safely written even when the rest fails. Returns 0 or an errno value. */
static int file_flush(file_sink_t *fs)
{
    size_t done = 0;
    int err = file_write_events(fs, fs->queue + fs->head + fs->written, fs->count - fs->written,
                                &done, &fs->off);
    fs->written += done;
    if (fs->fsync_on && fs->can_sync) {
        if (err == 0)
            err = file_sync(fs);
        if (err == 0)
            file_queue_ack(fs, fs->written);
    } else {
        file_queue_ack(fs, fs->written);
    }
    return err;
}

static void file_schedule(file_sink_t *fs, unsigned ms)
{
    if (fs->retry == NULL)
        return;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000};
    evtimer_add(fs->retry, &tv);
}

/* A write failed: report it once per outage and schedule a retry. */
static void file_failed(file_sink_t *fs, int err)
{
    if (err == EAGAIN || err == EWOULDBLOCK) {
        file_schedule(fs, FILE_AGAIN_MS);   /* a full pipe, not an outage */
        return;
    }
    if (!fs->down) {
        fs->down = true;
        fs->backoff_ms = FILE_BACKOFF_MIN_MS;
        fs->host->log(fs->self, CC_LOG_ERROR,
                      "cannot write to %s: %s; keeping %zu events unacknowledged and retrying",
                      fs->name, strerror(err), fs->count);
        fs->host->sink_status(fs->self, CC_SINK_DOWN);
    } else {
        fs->host->log(fs->self, CC_LOG_DEBUG, "retry of %s failed: %s; next in %u ms", fs->name,
                      strerror(err), fs->backoff_ms);
    }
    fs->host->count(fs->self, CC_RESULT_RETRIED, fs->count);
    file_schedule(fs, fs->backoff_ms);
    fs->backoff_ms = fs->backoff_ms * 2 < FILE_BACKOFF_MAX_MS ? fs->backoff_ms * 2
                                                               : FILE_BACKOFF_MAX_MS;
}

static void file_recovered(file_sink_t *fs)
{
    if (!fs->down)
        return;
    fs->down = false;
    fs->backoff_ms = FILE_BACKOFF_MIN_MS;
    fs->host->log(fs->self, CC_LOG_INFO, "writing to %s again", fs->name);
    fs->host->sink_status(fs->self, CC_SINK_OK);
}

static void file_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    file_sink_t *fs = arg;
    if (fs->count == 0) {
        file_recovered(fs);
        return;
    }
    int err = file_flush(fs);
    if (err != 0)
        file_failed(fs, err);
    else
        file_recovered(fs);
}

static int file_deliver(void *state, const cc_batch_t *batch)
{
    file_sink_t *fs = state;
    if (batch->count == 0)
        return 0;
    if (fs->count > 0) {
        /* Older events wait for a retry: queue behind them to keep order. */
        if (file_queue_push(fs, batch->events, batch->count) != 0) {
            fs->host->log(fs->self, CC_LOG_ERROR, "out of memory queueing %zu events",
                          batch->count);
            return CC_ENOMEM;
        }
        return 0;
    }

    /* Fast path: straight from the batch, acknowledged as a whole. */
    size_t done = 0, off = 0;
    int err = file_write_events(fs, batch->events, batch->count, &done, &off);
    if (err == 0) {
        err = file_sync(fs);
        if (err == 0) {
            fs->host->ack_batch(fs->self, batch);
            file_recovered(fs);
            return 0;
        }
    }
    if (file_queue_push(fs, batch->events, batch->count) != 0) {
        fs->host->log(fs->self, CC_LOG_ERROR, "cannot write to %s: %s; out of memory keeping "
                      "%zu events", fs->name, strerror(err), batch->count);
        return CC_ENOMEM;
    }
    fs->written = done;
    fs->off = off;
    if (!(fs->fsync_on && fs->can_sync))
        file_queue_ack(fs, done);   /* as safe as any written line */
    file_failed(fs, err);
    return 0;
}

static void file_reopen(void *state)
{
    file_sink_t *fs = state;
    if (fs->is_stdout)
        return;
    int fd = file_open(fs);
    if (fd < 0) {
        fs->host->log(fs->self, CC_LOG_ERROR, "cannot reopen %s: %s; still writing to the old file",
                      fs->name, strerror(errno));
        return;
    }
    if (fs->written > 0 && file_sync(fs) == 0)
        file_queue_ack(fs, fs->written);
    close(fs->fd);
    fs->fd = fd;
    fs->can_sync = file_fd_is_regular(fd);
    /* Unsynced or cut-short lines of the old file are written whole again. */
    fs->written = 0;
    fs->off = 0;
    fs->host->log(fs->self, CC_LOG_INFO, "reopened %s", fs->name);
    if (fs->count > 0)
        file_schedule(fs, 0);
}

static int file_start(void *state)
{
    file_sink_t *fs = state;
    struct event_base *base = fs->host->event_base(fs->self);
    if (base == NULL) {
        fs->host->log(fs->self, CC_LOG_ERROR, "the host gave no event base");
        return CC_EINVAL;
    }
    if (fs->retry == NULL) {
        fs->retry = evtimer_new(base, file_retry_cb, fs);
        if (fs->retry == NULL) {
            fs->host->log(fs->self, CC_LOG_ERROR, "out of memory");
            return CC_ENOMEM;
        }
    }
    fs->host->sink_status(fs->self, CC_SINK_OK);
    return 0;
}

static void file_stop(void *state)
{
    file_sink_t *fs = state;
    if (fs->retry != NULL) {
        event_free(fs->retry);
        fs->retry = NULL;
    }
    if (fs->count > 0) {
        /* One last attempt; what fails stays unacknowledged for the next run. */
        int err = file_flush(fs);
        if (err != 0)
            fs->host->log(fs->self, CC_LOG_WARN, "stopping with %zu events not written to %s: %s",
                          fs->count, fs->name, strerror(err));
    }
}

static void file_free(file_sink_t *fs)
{
    if (fs->retry != NULL)
        event_free(fs->retry);
    if (fs->fd >= 0 && !fs->is_stdout)
        close(fs->fd);
    free(fs->queue);
    free(fs);
}

static int file_init(cc_instance_t *self, const cc_host_t *host, void **state)
{
    file_sink_t *fs = calloc(1, sizeof *fs);
    if (fs == NULL) {
        host->log(self, CC_LOG_ERROR, "out of memory");
        return CC_ENOMEM;
    }
    fs->self = self;
    fs->host = host;
    fs->fd = -1;
    fs->backoff_ms = FILE_BACKOFF_MIN_MS;
    fs->path = host->config_path(self, "path");
    if (fs->path == NULL || *fs->path == '\0')
        fs->path = "-";
    fs->is_stdout = strcmp(fs->path, "-") == 0;
    fs->name = fs->is_stdout ? "<stdout>" : fs->path;
    fs->fsync_on = host->config_bool(self, "fsync", 0) != 0;

    if (fs->is_stdout) {
        fs->fd = STDOUT_FILENO;
    } else {
        fs->fd = file_open(fs);
        if (fs->fd < 0) {
            int err = errno;
            host->log(self, CC_LOG_ERROR, "cannot open %s for appending: %s", fs->path,
                      strerror(err));
            free(fs);
            return err == ENOENT ? CC_ENOENT : CC_EIO;
        }
    }
    fs->can_sync = file_fd_is_regular(fs->fd);
    *state = fs;
    return 0;
}

static void file_destroy(void *state)
{
    file_free(state);
}

static const cc_plugin_t file_plugin = {
    .abi_major = CC_ABI_MAJOR,
    .abi_minor = CC_ABI_MINOR,
    .size = sizeof(cc_plugin_t),
    .name = "file",
    .version = "1.0.0",
    .description = "appends event envelopes as JSON lines to a file or stdout",
    .kind = CC_PLUGIN_SINK,
    .config = file_config,
    .init = file_init,
    .start = file_start,
    .deliver = file_deliver,
    .stop = file_stop,
    .destroy = file_destroy,
    .reopen = file_reopen,
    .flags = 0,
};

CC_PLUGIN_ENTRY(file_plugin)
