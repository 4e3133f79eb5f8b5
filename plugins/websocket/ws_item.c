/* ws_item.c — shared frames: one buffer per event, referenced by every socket. */
#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"
#include "ws_item.h"

ws_blob_t *ws_blob_new(size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    ws_blob_t *b = malloc(sizeof *b + len);
    if (b == NULL)
        return NULL;
    b->refs = 1;
    b->len = (uint32_t)len;
    return b;
}

void ws_blob_unref(ws_blob_t *b)
{
    if (b != NULL && --b->refs == 0)
        free(b);
}

void ws_blob_cleanup_cb(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    ws_blob_unref(arg);
}

int ws_blob_send(ws_blob_t *b, struct evbuffer *out)
{
    b->refs++;   /* owned by the evbuffer from here; its cleanup drops it */
    if (evbuffer_add_reference(out, b->data, b->len, ws_blob_cleanup_cb, b) != 0) {
        b->refs--;
        return CC_ENOMEM;
    }
    return 0;
}

ws_blob_t *ws_blob_text_frame(const char *json, size_t len)
{
    uint8_t hdr[WS_FRAME_HEADER_MAX];
    size_t h = ws_frame_header(hdr, WS_OP_TEXT, len);
    ws_blob_t *b = ws_blob_new(h + len);
    if (b == NULL)
        return NULL;
    memcpy(b->data, hdr, h);
    memcpy(b->data + h, json, len);
    return b;
}

ws_blob_t *ws_blob_sse(const char *id, const char *json, size_t len)
{
    /* The envelope is compact JSON: no raw newline can split the data line. */
    size_t idl = id ? strlen(id) : 0;
    size_t n = (id ? 4 + idl + 1 : 0) + 6 + len + 2;
    ws_blob_t *b = ws_blob_new(n);
    if (b == NULL)
        return NULL;
    char *p = b->data;
    if (id != NULL) {
        memcpy(p, "id: ", 4);
        memcpy(p + 4, id, idl);
        p[4 + idl] = '\n';
        p += 4 + idl + 1;
    }
    memcpy(p, "data: ", 6);
    memcpy(p + 6, json, len);
    memcpy(p + 6 + len, "\n\n", 2);
    return b;
}

/* FNV-1a over the parts that name a document; 0 = no document. */
static uint64_t ws_doc_hash(const cc_host_t *host, const cc_event_t *ev)
{
    const char *doc = host->event_document_id(ev);
    if (doc == NULL || *doc == '\0')
        return 0;
    const char *parts[3] = {host->event_database(ev), host->event_collection(ev), doc};
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 3; i++) {
        for (const char *s = parts[i] ? parts[i] : ""; *s; s++) {
            h ^= (unsigned char)*s;
            h *= 1099511628211ull;
        }
        h ^= 0xff;   /* separator: ("ab","c") differs from ("a","bc") */
        h *= 1099511628211ull;
    }
    return h ? h : 1;
}

ws_item_t *ws_item_new(const cc_host_t *host, const cc_event_t *ev, uint64_t seq)
{
    ws_item_t *it = calloc(1, sizeof *it);
    if (it == NULL)
        return NULL;
    size_t len;
    const char *json = host->event_json(ev, &len);
    it->ws = ws_blob_text_frame(json, len);
    if (it->ws == NULL) {
        free(it);
        return NULL;
    }
    it->refs = 1;
    it->ev = host->event_ref(ev);
    it->seq = seq;
    it->doc_hash = ws_doc_hash(host, ev);
    return it;
}

void ws_item_ref(ws_item_t *it)
{
    it->refs++;
}

void ws_item_unref(const cc_host_t *host, ws_item_t *it)
{
    if (it == NULL || --it->refs > 0)
        return;
    ws_blob_unref(it->ws);
    ws_blob_unref(it->sse);
    host->event_unref(it->ev);
    free(it);
}

ws_blob_t *ws_item_sse(const cc_host_t *host, ws_item_t *it)
{
    if (it->sse == NULL) {
        size_t len;
        const char *json = host->event_json(it->ev, &len);
        it->sse = ws_blob_sse(host->event_id(it->ev), json, len);
    }
    return it->sse;
}

static int ws_str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int ws_item_same_doc(const cc_host_t *host, const ws_item_t *a, const ws_item_t *b)
{
    if (a->doc_hash == 0 || a->doc_hash != b->doc_hash)
        return 0;
    return ws_str_eq(host->event_document_id(a->ev), host->event_document_id(b->ev)) &&
           ws_str_eq(host->event_collection(a->ev), host->event_collection(b->ev)) &&
           ws_str_eq(host->event_database(a->ev), host->event_database(b->ev));
}
