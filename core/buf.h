/* core/buf.h — a growable byte buffer for rendering text. */
#ifndef CC_CORE_BUF_H
#define CC_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct cc_buf {
    char *data;     /* owned; NUL-terminated when len > 0 or after cc_buf_cstr */
    size_t len;
    size_t cap;
    int oom;        /* sticky: an append failed; every later append is a no-op */
} cc_buf_t;

#define CC_BUF_INIT {NULL, 0, 0, 0}

void cc_buf_append(cc_buf_t *b, const void *p, size_t n);
void cc_buf_puts(cc_buf_t *b, const char *s);
void cc_buf_putc(cc_buf_t *b, char c);
void cc_buf_printf(cc_buf_t *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Appends `s` (n bytes, UTF-8) as a JSON string literal with quotes. */
void cc_buf_json_string(cc_buf_t *b, const char *s, size_t n);
/* Returns the data as a C string (borrowed; "" when empty). */
const char *cc_buf_cstr(cc_buf_t *b);
/* Hands the data over: returns new (caller frees), leaves `b` empty. */
char *cc_buf_steal(cc_buf_t *b, size_t *len);
void cc_buf_reset(cc_buf_t *b);   /* keeps capacity */
void cc_buf_free(cc_buf_t *b);

#endif
