/* core/buf.h — a growable byte buffer for rendering text. */
#ifndef CC_CORE_BUF_H
#define CC_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "changecast/portable.h"

typedef struct cc_buf {
    char *data;     /* owned; NUL-terminated when len > 0 or after cc_buf_cstr */
    size_t len;
    size_t cap;
    int oom;        /* sticky: an append failed; every later append is a no-op */
} cc_buf_t;

#define CC_BUF_INIT {NULL, 0, 0, 0}

void cc_buf_printf(cc_buf_t *b, const char *fmt, ...) CC_PRINTF(2, 3);
/* Append an integer in decimal (no printf: these are on the hot path). */
void cc_buf_put_int(cc_buf_t *b, int64_t v);
void cc_buf_put_uint(cc_buf_t *b, uint64_t v);
/* cc_buf_json_string's out-of-line part (any length, any content). */
void cc__buf_json_string(cc_buf_t *b, const char *s, size_t n);
/* 1 for the bytes a JSON string carries as they are (printable ASCII but
 * '"' and '\\'). */
extern const unsigned char cc__json_plain[256];
/* Makes room for `extra` more bytes (plus the NUL). 0, or CC_ENOMEM (and
 * the buffer turns oom). */
int cc_buf_reserve(cc_buf_t *b, size_t extra);

/* The appends are inline: they run per byte and per token on the envelope
 * hot path; only growth (cc_buf_reserve) is out of line. */
static inline void cc_buf_append(cc_buf_t *b, const void *p, size_t n)
{
    if (n == 0 || (b->cap - b->len <= n && cc_buf_reserve(b, n) != 0))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static inline void cc_buf_putc(cc_buf_t *b, char c)
{
    if (b->cap - b->len <= 1 && cc_buf_reserve(b, 1) != 0)
        return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

static inline void cc_buf_puts(cc_buf_t *b, const char *s)
{
    cc_buf_append(b, s, strlen(s));
}

/* Appends `s` (n bytes, UTF-8) as a JSON string literal with quotes:
 * RFC 8259 escapes (\" \\ \b \f \n \r \t, other controls as \u00XX) and
 * each invalid UTF-8 sequence (maximal subpart) as \ufffd, so the result is
 * always valid JSON. Short plain strings (keys, names: most calls) are
 * copied here, inline, while they are checked. */
static inline void cc_buf_json_string(cc_buf_t *b, const char *s, size_t n)
{
    if (n <= 16 && b->cap - b->len > n + 2) {
        const unsigned char *p = (const unsigned char *)s;
        char *o = b->data + b->len;
        size_t i = 0;
        /* Into the spare room after the NUL at o[0]: s never lies there. */
        for (; i < n && cc__json_plain[p[i]]; i++)
            o[i + 1] = (char)p[i];
        if (i == n) {
            o[0] = '"';
            o[n + 1] = '"';
            o[n + 2] = '\0';
            b->len += n + 2;
            return;
        }
    }
    cc__buf_json_string(b, s, n);
}

/* Appends a string literal, its length known at compile time. */
#define cc_buf_lit(b, lit) cc_buf_append((b), "" lit, sizeof(lit) - 1)
/* Inserts n bytes at `pos` (<= len), moving the tail up. */
void cc_buf_insert(cc_buf_t *b, size_t pos, const void *p, size_t n);
/* Cuts the data back to `len` bytes (no-op when already shorter). */
void cc_buf_truncate(cc_buf_t *b, size_t len);
/* Returns the data as a C string (borrowed; "" when empty). */
const char *cc_buf_cstr(cc_buf_t *b);
/* Hands the data over: returns new (caller frees), leaves `b` empty. */
char *cc_buf_steal(cc_buf_t *b, size_t *len);
/* Writes a message into a caller's (err, errlen) buffer, the core's way of
 * returning error text; a NULL or empty buffer is ignored. */
void cc_set_err(char *err, size_t errlen, const char *fmt, ...) CC_PRINTF(3, 4);

void cc_buf_reset(cc_buf_t *b);   /* keeps capacity, clears oom */
void cc_buf_free(cc_buf_t *b);

#endif
