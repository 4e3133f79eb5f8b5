/* core/state.c — resume points, one per source, kept in a JSON file.
 *
 * Sets come from bus threads and must not wait on disk I/O, so there are two
 * locks: `lock` guards the table and is held only to swap a pointer or to copy
 * the table into a flat snapshot; `flush_lock` serializes flushes, which
 * render and write the snapshot with `lock` released.
 */
#include "core/buf.h"
#include "core/state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "changecast/error.h"
#include "changecast/portable.h"

#define CC_STATE_VERSION 1
/* A state file holds a handful of short positions; anything this large is
 * not ours. */
#define CC_STATE_MAX_FILE (64u * 1024u * 1024u)

int (*cc_state_test_before_rename)(const char *tmp_path) = NULL;

typedef struct cc_state_entry {
    char *source;
    char *position;
} cc_state_entry_t;

struct cc_state {
    char *path;
    char *tmp_path;
    pthread_mutex_t lock;        /* entries, n, cap, bytes, dirty */
    pthread_mutex_t flush_lock;  /* one flush at a time */
    cc_state_entry_t *entries;
    size_t n, cap;
    size_t bytes;                /* sum of strlen+1 of every source and position */
    int dirty;
    /* Flat copy of the table taken by flush; only touched under flush_lock. */
    char *snap;
    size_t snap_cap;
    cc_state_written_cb on_written;   /* or NULL */
    void *written_arg;
};

/* Caller holds st->lock (or owns st exclusively). */
static cc_state_entry_t *find_entry(cc_state_t *st, const char *source)
{
    for (size_t i = 0; i < st->n; i++) {
        if (strcmp(st->entries[i].source, source) == 0)
            return &st->entries[i];
    }
    return NULL;
}

static cc_state_t *state_new(const char *path)
{
    cc_state_t *st = calloc(1, sizeof(*st));
    size_t plen = strlen(path);

    if (st == NULL)
        return NULL;
    st->path = strdup(path);
    st->tmp_path = malloc(plen + sizeof(".tmp"));
    if (st->path == NULL || st->tmp_path == NULL) {
        free(st->path);
        free(st->tmp_path);
        free(st);
        return NULL;
    }
    memcpy(st->tmp_path, path, plen);
    memcpy(st->tmp_path + plen, ".tmp", sizeof(".tmp"));
    pthread_mutex_init(&st->lock, NULL);
    pthread_mutex_init(&st->flush_lock, NULL);
    return st;
}

/* Adds an entry while loading (no concurrency yet). Steals nothing. */
static int load_entry(cc_state_t *st, const char *source, const char *position)
{
    cc_state_entry_t *e;

    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 8;
        cc_state_entry_t *p = realloc(st->entries, cap * sizeof(*p));
        if (p == NULL)
            return CC_ENOMEM;
        st->entries = p;
        st->cap = cap;
    }
    e = &st->entries[st->n];
    e->source = strdup(source);
    e->position = strdup(position);
    if (e->source == NULL || e->position == NULL) {
        free(e->source);
        free(e->position);
        return CC_ENOMEM;
    }
    st->n++;
    st->bytes += strlen(source) + 1 + strlen(position) + 1;
    return 0;
}

/* Reads the whole file. Returns 0 with *data (new) and *len, CC_ENOENT when
 * the file does not exist, or CC_EIO/CC_EPARSE with a message. */
static int read_file(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    struct stat sb;
    char *buf;
    size_t have = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        if (errno == ENOENT)
            return CC_ENOENT;
        cc_set_err(err, errlen, "%s: cannot read state file: %s", path, strerror(errno));
        return CC_EIO;
    }
    if (fstat(fd, &sb) != 0) {
        cc_set_err(err, errlen, "%s: cannot read state file: %s", path, strerror(errno));
        close(fd);
        return CC_EIO;
    }
    if (!S_ISREG(sb.st_mode)) {
        cc_set_err(err, errlen, "%s: state path is not a regular file", path);
        close(fd);
        return CC_EIO;
    }
    if ((uintmax_t)sb.st_size > CC_STATE_MAX_FILE) {
        cc_set_err(err, errlen, "%s: state file too large (%jd bytes, at most %u)", path,
                (intmax_t)sb.st_size, CC_STATE_MAX_FILE);
        close(fd);
        return CC_EPARSE;
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (buf == NULL) {
        close(fd);
        cc_set_err(err, errlen, "%s: out of memory", path);
        return CC_ENOMEM;
    }
    while (have < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + have, (size_t)sb.st_size - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            cc_set_err(err, errlen, "%s: cannot read state file: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return CC_EIO;
        }
        if (r == 0)
            break;   /* shrank under us: parse what is there */
        have += (size_t)r;
    }
    close(fd);
    buf[have] = '\0';
    *data = buf;
    *len = have;
    return 0;
}

#define CORRUPT_HINT "(repair it, or move it away to start without resume points)"

static int parse_state(cc_state_t *st, const char *data, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root, *version, *sources, *val;
    const char *key;
    int rc = 0;

    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        cc_set_err(err, errlen, "%s:%d:%d: corrupt state file: %s " CORRUPT_HINT, st->path,
                jerr.line, jerr.column, jerr.text);
        return CC_EPARSE;
    }
    if (!json_is_object(root)) {
        cc_set_err(err, errlen, "%s: corrupt state file: expected an object at the top "
                CORRUPT_HINT, st->path);
        rc = CC_EPARSE;
        goto out;
    }
    version = json_object_get(root, "version");
    if (!json_is_integer(version)) {
        cc_set_err(err, errlen, "%s: corrupt state file: version: expected an integer "
                CORRUPT_HINT, st->path);
        rc = CC_EPARSE;
        goto out;
    }
    if (json_integer_value(version) != CC_STATE_VERSION) {
        cc_set_err(err, errlen, "%s: unsupported state file version %" JSON_INTEGER_FORMAT
                " (this changecast reads version %d)", st->path, json_integer_value(version),
                CC_STATE_VERSION);
        rc = CC_EPARSE;
        goto out;
    }
    sources = json_object_get(root, "sources");
    if (!json_is_object(sources)) {
        cc_set_err(err, errlen, "%s: corrupt state file: sources: expected an object "
                CORRUPT_HINT, st->path);
        rc = CC_EPARSE;
        goto out;
    }
    json_object_foreach(sources, key, val) {
        json_t *pos = json_object_get(val, "position");
        if (!json_is_object(val) || !json_is_string(pos)) {
            cc_set_err(err, errlen, "%s: corrupt state file: sources.%s.position: expected a "
                    "string " CORRUPT_HINT, st->path, key);
            rc = CC_EPARSE;
            goto out;
        }
        if (key[0] == '\0' || strlen(json_string_value(pos)) != json_string_length(pos)) {
            cc_set_err(err, errlen, "%s: corrupt state file: sources.%s: empty name or NUL in "
                    "position " CORRUPT_HINT, st->path, key);
            rc = CC_EPARSE;
            goto out;
        }
        rc = load_entry(st, key, json_string_value(pos));
        if (rc != 0) {
            cc_set_err(err, errlen, "%s: out of memory", st->path);
            goto out;
        }
    }
out:
    json_decref(root);
    return rc;
}

int cc_state_open(const char *path, cc_state_t **out, char *err, size_t errlen)
{
    cc_state_t *st;
    char *data = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    if (path == NULL || path[0] == '\0') {
        cc_set_err(err, errlen, "state.path: expected a file path");
        return CC_EINVAL;
    }
    st = state_new(path);
    if (st == NULL) {
        cc_set_err(err, errlen, "%s: out of memory", path);
        return CC_ENOMEM;
    }
    rc = read_file(path, &data, &len, err, errlen);
    if (rc == CC_ENOENT) {
        *out = st;           /* first run: no resume points yet */
        return 0;
    }
    if (rc == 0) {
        rc = parse_state(st, data, len, err, errlen);
        free(data);
    }
    if (rc != 0) {
        cc_state_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

void cc_state_free(cc_state_t *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->n; i++) {
        free(st->entries[i].source);
        free(st->entries[i].position);
    }
    free(st->entries);
    free(st->snap);
    pthread_mutex_destroy(&st->lock);
    pthread_mutex_destroy(&st->flush_lock);
    free(st->path);
    free(st->tmp_path);
    free(st);
}

const char *cc_state_get(cc_state_t *st, const char *source)
{
    cc_state_entry_t *e;
    const char *pos = NULL;

    if (st == NULL || source == NULL)
        return NULL;
    pthread_mutex_lock(&st->lock);
    e = find_entry(st, source);
    if (e != NULL)
        pos = e->position;
    pthread_mutex_unlock(&st->lock);
    return pos;
}

int cc_state_set(cc_state_t *st, const char *source, const char *position)
{
    cc_state_entry_t *e;
    char *copy, *old = NULL, *name = NULL;
    size_t plen;

    if (st == NULL || source == NULL || source[0] == '\0' || position == NULL)
        return CC_EINVAL;
    plen = strlen(position);
    copy = malloc(plen + 1);
    if (copy == NULL)
        return CC_ENOMEM;
    memcpy(copy, position, plen + 1);

    pthread_mutex_lock(&st->lock);
    e = find_entry(st, source);
    if (e != NULL) {
        old = e->position;
        e->position = copy;
        st->bytes = st->bytes - strlen(old) + plen;
        st->dirty = 1;
        pthread_mutex_unlock(&st->lock);
        free(old);
        return 0;
    }
    pthread_mutex_unlock(&st->lock);

    /* A new source (once per source per run): allocate outside the lock,
     * then check again, since another thread may have added it meanwhile. */
    name = strdup(source);
    if (name == NULL) {
        free(copy);
        return CC_ENOMEM;
    }
    pthread_mutex_lock(&st->lock);
    e = find_entry(st, source);
    if (e != NULL) {
        old = e->position;
        e->position = copy;
        st->bytes = st->bytes - strlen(old) + plen;
    } else {
        if (st->n == st->cap) {
            size_t cap = st->cap ? st->cap * 2 : 8;
            cc_state_entry_t *p = realloc(st->entries, cap * sizeof(*p));
            if (p == NULL) {
                pthread_mutex_unlock(&st->lock);
                free(name);
                free(copy);
                return CC_ENOMEM;
            }
            st->entries = p;
            st->cap = cap;
        }
        st->entries[st->n].source = name;
        st->entries[st->n].position = copy;
        st->n++;
        st->bytes += strlen(name) + 1 + plen + 1;
        name = NULL;
    }
    st->dirty = 1;
    pthread_mutex_unlock(&st->lock);
    free(old);
    free(name);
    return 0;
}

/* Copies the table into st->snap as "source\0position\0" pairs and clears
 * dirty. Returns the number of pairs, 0 with *clean = 1 when there is
 * nothing to write, or -1 on ENOMEM. Caller holds flush_lock. */
static long take_snapshot(cc_state_t *st, int *clean)
{
    size_t n;

    *clean = 0;
    for (;;) {
        size_t need;

        pthread_mutex_lock(&st->lock);
        if (!st->dirty) {
            pthread_mutex_unlock(&st->lock);
            *clean = 1;
            return 0;
        }
        need = st->bytes;
        if (need <= st->snap_cap) {
            char *p = st->snap;
            for (size_t i = 0; i < st->n; i++) {
                size_t a = strlen(st->entries[i].source) + 1;
                size_t b = strlen(st->entries[i].position) + 1;
                memcpy(p, st->entries[i].source, a);
                memcpy(p + a, st->entries[i].position, b);
                p += a + b;
            }
            n = st->n;
            st->dirty = 0;
            pthread_mutex_unlock(&st->lock);
            return (long)n;
        }
        pthread_mutex_unlock(&st->lock);
        /* Grow without holding the lock, then try again. */
        {
            size_t cap = need + need / 2 + 64;
            char *p = realloc(st->snap, cap);
            if (p == NULL)
                return -1;
            st->snap = p;
            st->snap_cap = cap;
        }
    }
}

void cc_state_on_written(cc_state_t *st, cc_state_written_cb cb, void *arg)
{
    st->on_written = cb;
    st->written_arg = arg;
}

static void mark_dirty(cc_state_t *st)
{
    pthread_mutex_lock(&st->lock);
    st->dirty = 1;
    pthread_mutex_unlock(&st->lock);
}

static char *render(const char *snap, long n)
{
    json_t *root = json_object(), *sources = json_object();
    char *text = NULL;
    const char *p = snap;

    if (root == NULL || sources == NULL)
        goto out;
    if (json_object_set_new(root, "version", json_integer(CC_STATE_VERSION)) != 0)
        goto out;
    for (long i = 0; i < n; i++) {
        const char *source = p;
        const char *position = p + strlen(p) + 1;
        json_t *entry = json_pack("{s:s}", "position", position);

        p = position + strlen(position) + 1;
        if (entry == NULL || json_object_set_new(sources, source, entry) != 0)
            goto out;
    }
    if (json_object_set(root, "sources", sources) != 0)
        goto out;
    text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
out:
    json_decref(sources);
    json_decref(root);
    return text;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fsyncs the folder holding `path`, so the rename itself is durable. */
static int sync_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    int fd, rc, saved;

    if (slash == NULL) {
        dir[0] = '.';
        dir[1] = '\0';
    } else if (slash == path) {
        dir[0] = '/';
        dir[1] = '\0';
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof(dir)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    saved = errno;
    close(fd);
    errno = saved;
    /* Some filesystems refuse fsync on a folder; the rename is done anyway. */
    if (rc != 0 && (errno == EINVAL || errno == EBADF))
        rc = 0;
    return rc;
}

static int write_file(cc_state_t *st, const char *text, char *err, size_t errlen)
{
    int fd, saved;

    fd = open(st->tmp_path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
        cc_set_err(err, errlen, "%s: cannot write: %s", st->tmp_path, strerror(errno));
        return CC_EIO;
    }
    if (write_all(fd, text, strlen(text)) != 0 || write_all(fd, "\n", 1) != 0 ||
        fsync(fd) != 0) {
        saved = errno;
        close(fd);
        unlink(st->tmp_path);
        cc_set_err(err, errlen, "%s: cannot write: %s", st->path, strerror(saved));
        return CC_EIO;
    }
    if (close(fd) != 0) {
        saved = errno;
        unlink(st->tmp_path);
        cc_set_err(err, errlen, "%s: cannot write: %s", st->path, strerror(saved));
        return CC_EIO;
    }
    if (cc_state_test_before_rename != NULL && cc_state_test_before_rename(st->tmp_path) != 0) {
        /* Leave the temporary file behind, exactly as a crash would. */
        cc_set_err(err, errlen, "%s: cannot write: interrupted before rename (test hook)",
                st->path);
        return CC_EIO;
    }
    if (rename(st->tmp_path, st->path) != 0) {
        saved = errno;
        unlink(st->tmp_path);
        cc_set_err(err, errlen, "%s: cannot write: rename from %s: %s", st->path, st->tmp_path,
                strerror(saved));
        return CC_EIO;
    }
    if (sync_folder(st->path) != 0) {
        cc_set_err(err, errlen, "%s: cannot write: fsync of its folder: %s", st->path,
                strerror(errno));
        return CC_EIO;
    }
    return 0;
}

int cc_state_flush(cc_state_t *st, char *err, size_t errlen)
{
    char *text;
    long n;
    int clean, rc;

    if (st == NULL)
        return CC_EINVAL;
    pthread_mutex_lock(&st->flush_lock);
    n = take_snapshot(st, &clean);
    if (clean) {
        pthread_mutex_unlock(&st->flush_lock);
        return 0;
    }
    if (n < 0 || (text = render(st->snap, n)) == NULL) {
        if (n >= 0)
            mark_dirty(st);
        pthread_mutex_unlock(&st->flush_lock);
        cc_set_err(err, errlen, "%s: cannot write: out of memory", st->path);
        return CC_ENOMEM;
    }
    rc = write_file(st, text, err, errlen);
    free(text);
    if (rc != 0)
        mark_dirty(st);   /* the next flush tries again */
    else if (st->on_written) {
        /* The snapshot is what the file now holds. */
        const char *p = st->snap;
        for (long i = 0; i < n; i++) {
            const char *source = p;
            const char *position = p + strlen(p) + 1;
            p = position + strlen(position) + 1;
            st->on_written(st->written_arg, source, position);
        }
    }
    pthread_mutex_unlock(&st->flush_lock);
    return rc;
}
