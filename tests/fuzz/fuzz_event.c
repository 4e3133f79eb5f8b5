/* tests/fuzz/fuzz_event.c — libFuzzer target for change event → envelope.
 *
 * Input: a change event as Extended JSON (parsed with cc_ejson_parse), or,
 * when the first byte is 0x00-0x08, the rest as raw BSON handed to the
 * builder unvalidated (the mongo source's path; corrupt BSON must be
 * refused, not read out of bounds). Every envelope produced must be valid
 * JSON with valid UTF-8 and carry the event's id.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "changecast/error.h"
#include "core/ejson.h"
#include "core/envelope.h"
#include "core/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- a strict JSON checker (RFC 8259, UTF-8) --------------------------- */

typedef struct jp {
    const unsigned char *p, *end;
    int depth;
} jp_t;

static void ws(jp_t *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int lit(jp_t *j, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, s, n) != 0)
        return 0;
    j->p += n;
    return 1;
}

static int hexdig(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int str(jp_t *j)
{
    if (j->p >= j->end || *j->p != '"')
        return 0;
    j->p++;
    while (j->p < j->end) {
        unsigned char c = *j->p;
        if (c == '"') {
            j->p++;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (++j->p >= j->end)
                return 0;
            c = *j->p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++)
                    if (j->p >= j->end || !hexdig(*j->p++))
                        return 0;
            } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
                return 0;
            }
            continue;
        }
        if (c < 0x80) {
            j->p++;
            continue;
        }
        /* UTF-8: same rules as the writer must follow. */
        size_t len;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c >= 0xE0 && c <= 0xEF)
            len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        else if (c >= 0xF0 && c <= 0xF4)
            len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        else
            return 0;
        if ((size_t)(j->end - j->p) < len)
            return 0;
        for (size_t i = 1; i < len; i++) {
            unsigned char ci = j->p[i];
            if (i == 1 ? (ci < lo || ci > hi) : (ci < 0x80 || ci > 0xBF))
                return 0;
        }
        j->p += len;
    }
    return 0;
}

static int num(jp_t *j)
{
    const unsigned char *s = j->p;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p >= j->end)
        return 0;
    if (*j->p == '0') {
        j->p++;
    } else if (*j->p >= '1' && *j->p <= '9') {
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    } else {
        return 0;
    }
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9')
            return 0;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9')
            return 0;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    return j->p > s;
}

static int value(jp_t *j)
{
    ws(j);
    if (j->p >= j->end)
        return 0;
    unsigned char c = *j->p;
    if (c == '{' || c == '[') {
        unsigned char close = c == '{' ? '}' : ']';
        if (++j->depth > 2 * CC_EJSON_MAX_DEPTH + 8)
            return 0;
        j->p++;
        ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            j->depth--;
            return 1;
        }
        for (;;) {
            if (c == '{') {
                ws(j);
                if (!str(j))
                    return 0;
                ws(j);
                if (j->p >= j->end || *j->p++ != ':')
                    return 0;
            }
            if (!value(j))
                return 0;
            ws(j);
            if (j->p >= j->end)
                return 0;
            if (*j->p == ',') {
                j->p++;
                continue;
            }
            if (*j->p++ != close)
                return 0;
            j->depth--;
            return 1;
        }
    }
    if (c == '"')
        return str(j);
    if (c == 't')
        return lit(j, "true");
    if (c == 'f')
        return lit(j, "false");
    if (c == 'n')
        return lit(j, "null");
    return num(j);
}

static int valid_json_object(const char *s, size_t n)
{
    jp_t j = {(const unsigned char *)s, (const unsigned char *)s + n, 0};
    if (n == 0 || s[0] != '{' || !value(&j))
        return 0;
    ws(&j);
    return j.p == j.end;
}

/* ---- the target -------------------------------------------------------- */

static cc_shape_t *shape_for_fuzz(void)
{
    static cc_shape_t *shape;
    if (!shape) {
        static const char *const fields[] = {"fullDocument.a.b", "documentKey._id"};
        char err[256];
        shape = cc_shape_new(fields, 2, "fullDocument.owner", err, sizeof err);
        if (!shape)
            abort();
    }
    return shape;
}

/* Checks the events one build appended, from index `from`. */
static void check_events(const cc_event_vec_t *vec, size_t from)
{
    for (size_t i = from; i < vec->n; i++) {
        const cc_event_t *ev = vec->v[i];
        if (!ev->json || ev->json_len == 0 || strlen(ev->json) != ev->json_len)
            abort();
        if (!valid_json_object(ev->json, ev->json_len))
            abort();
        if (!ev->id || !ev->operation || !ev->database || !ev->collection || !ev->document_id)
            abort();
        if (vec->n - from > 1 && !ev->recipient)
            abort();   /* several copies are always addressed */
        if (atomic_load(&ev->refs) != 1)
            abort();
    }
}

static void run(const bson_t *doc)
{
    char err[256];
    cc_event_vec_t vec = {0};
    int rc = cc_envelope_build(doc, shape_for_fuzz(), NULL, 0, &vec, err, sizeof err);
    if (rc == 0) {
        if (vec.n == 0)
            abort();
        check_events(&vec, 0);
    } else if (vec.n != 0 || (rc != CC_EPARSE && rc != CC_ENOMEM) || err[0] == '\0') {
        abort();
    }
    /* The same change with an explicit list and with no shape. */
    static const char *const explicit_r[] = {"r1", "r2", "r1"};
    size_t before = vec.n;
    int rc2 = cc_envelope_build(doc, NULL, explicit_r, 3, &vec, err, sizeof err);
    if (rc2 == 0) {
        if (vec.n != before + 2)
            abort();
        check_events(&vec, before);
    } else if (vec.n != before) {
        abort();
    }
    cc_event_vec_free(&vec);

    cc_buf_t b = CC_BUF_INIT;
    if (cc_ejson_append_document(&b, doc) == 0 && !valid_json_object(b.data, b.len))
        abort();
    cc_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] <= 0x08) {
        /* Raw BSON: copy so the buffer is exactly the document. */
        uint8_t *raw = malloc(size - 1 ? size - 1 : 1);
        if (!raw)
            return 0;
        memcpy(raw, data + 1, size - 1);
        bson_t doc;
        if (bson_init_static(&doc, raw, size - 1))
            run(&doc);
        free(raw);
        return 0;
    }
    bson_t doc;
    char err[256];
    if (cc_ejson_parse((const char *)data, size, &doc, err, sizeof err) != 0) {
        if (err[0] == '\0')
            abort();
        return 0;
    }
    run(&doc);
    bson_destroy(&doc);
    return 0;
}
