/* tsv.c — an example changecast sink built out of tree.
 *
 * Appends one tab-separated line per event to the file named by config key
 * "path":
 *
 *     operation <TAB> collection <TAB> document_id <TAB> recipient or "-"
 *
 * Tabs, newlines and backslashes inside a value are written as \t, \n and
 * \\ so every event stays one line. It uses only the installed SDK headers
 * and reaches every host service through the cc_host_t vtable handed to
 * init; the only exported symbol is cc_plugin_entry. Build with the Makefile
 * beside it, drop tsv.so into a plugin folder, and name it in a manifest:
 *
 *     { "name": "audit", "plugin": "tsv", "config": { "path": "events.tsv" } }
 *
 * For brevity it acknowledges a batch even when the write fails (after
 * counting the events as failed); a sink that must not lose events keeps
 * them and retries, as plugins/file does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <changecast/changecast.h>

typedef struct tsv {
    cc_instance_t *self;
    const cc_host_t *host;   /* borrowed until destroy */
    const char *path;        /* borrowed from the config */
    FILE *out;
} tsv_t;

static const cc_config_field_t tsv_config[] = {
    {.name = "path", .type = CC_CFG_STRING, .required = 1,
     .doc = "file to append tab-separated lines to (relative to the manifest)"},
    {0}
};

/* Writes one value, escaped so it cannot break the line or the columns. */
static void tsv_put(FILE *out, const char *s)
{
    if (s == NULL || *s == '\0') {
        fputc('-', out);
        return;
    }
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '\t': fputs("\\t", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\\': fputs("\\\\", out); break;
        default: fputc(*s, out);
        }
    }
}

static int tsv_init(cc_instance_t *self, const cc_host_t *host, void **state)
{
    tsv_t *t = calloc(1, sizeof *t);
    if (t == NULL) {
        host->log(self, CC_LOG_ERROR, "out of memory");
        return CC_ENOMEM;
    }
    t->self = self;
    t->host = host;
    t->path = host->config_path(self, "path");
    if (t->path == NULL || strcmp(t->path, "-") == 0) {
        host->log(self, CC_LOG_ERROR, "config.path: expected a file name");
        free(t);
        return CC_ECONFIG;
    }
    t->out = fopen(t->path, "a");
    if (t->out == NULL) {
        host->log(self, CC_LOG_ERROR, "cannot open %s: %s", t->path, strerror(errno));
        free(t);
        return CC_EIO;
    }
    *state = t;
    return 0;
}

static int tsv_start(void *state)
{
    tsv_t *t = state;
    t->host->sink_status(t->self, CC_SINK_OK);
    return 0;
}

/* Runs on the sink's own thread: a short buffered write, then the ack. */
static int tsv_deliver(void *state, const cc_batch_t *batch)
{
    tsv_t *t = state;
    const cc_host_t *h = t->host;
    for (size_t i = 0; i < batch->count; i++) {
        const cc_event_t *ev = batch->events[i];
        tsv_put(t->out, h->event_operation(ev));
        fputc('\t', t->out);
        tsv_put(t->out, h->event_collection(ev));
        fputc('\t', t->out);
        tsv_put(t->out, h->event_document_id(ev));
        fputc('\t', t->out);
        tsv_put(t->out, h->event_recipient(ev));   /* NULL (broadcast) -> "-" */
        fputc('\n', t->out);
    }
    int rc = 0;
    if (fflush(t->out) != 0) {
        h->log(t->self, CC_LOG_ERROR, "cannot write to %s: %s", t->path, strerror(errno));
        h->count(t->self, CC_RESULT_FAILED, batch->count);
        h->sink_status(t->self, CC_SINK_DOWN);
        clearerr(t->out);
        rc = CC_EIO;
    }
    h->ack_batch(t->self, batch);
    return rc;
}

/* SIGHUP: reopen the path so logrotate can move the old file away. */
static void tsv_reopen(void *state)
{
    tsv_t *t = state;
    FILE *out = fopen(t->path, "a");
    if (out == NULL) {
        t->host->log(t->self, CC_LOG_ERROR, "cannot reopen %s: %s", t->path, strerror(errno));
        return;
    }
    fclose(t->out);
    t->out = out;
}

static void tsv_stop(void *state)
{
    tsv_t *t = state;
    fflush(t->out);
}

static void tsv_destroy(void *state)
{
    tsv_t *t = state;
    fclose(t->out);
    free(t);
}

static const cc_plugin_t tsv_plugin = {
    .abi_major = CC_ABI_MAJOR,
    .abi_minor = CC_ABI_MINOR,
    .size = sizeof(cc_plugin_t),
    .name = "tsv",
    .version = "1.0.0",
    .description = "example: one tab-separated line per event",
    .kind = CC_PLUGIN_SINK,
    .config = tsv_config,
    .init = tsv_init,
    .start = tsv_start,
    .deliver = tsv_deliver,
    .stop = tsv_stop,
    .destroy = tsv_destroy,
    .reopen = tsv_reopen,
    .flags = 0,
};

CC_PLUGIN_ENTRY(tsv_plugin)
