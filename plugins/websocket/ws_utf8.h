/* ws_utf8.h — incremental UTF-8 validation for WebSocket text (RFC 3629).
 *
 * Pure: no allocation, no globals; any thread. Rejects overlong forms,
 * UTF-16 surrogates (U+D800..U+DFFF), code points above U+10FFFF and bytes
 * that can never appear (0xC0, 0xC1, 0xF5..0xFF). A sequence may be split
 * across feeds (one text message arriving in several fragments); whether the
 * message ended inside a sequence is asked with ws_utf8_complete().
 */
#ifndef CC_WS_UTF8_H
#define CC_WS_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Validator state; a plain value, 4 bytes. Initialise with ws_utf8_init. */
typedef struct ws_utf8 {
    uint8_t need;   /* continuation bytes still expected (0..3)       */
    uint8_t lo, hi; /* allowed range of the next continuation byte    */
    uint8_t bad;    /* sticky: an invalid byte was seen               */
} ws_utf8_t;

/* Starts a new text (a message). */
void ws_utf8_init(ws_utf8_t *u);

/* Validates the next n bytes of the text (s borrowed, may be NULL when n is
 * 0). Returns true while everything fed so far is a valid prefix of some
 * UTF-8 text, false from the first invalid byte on (sticky). */
bool ws_utf8_feed(ws_utf8_t *u, const uint8_t *s, size_t n);

/* True when everything fed is valid and does not end inside a sequence:
 * ask it at the end of a message. */
bool ws_utf8_complete(const ws_utf8_t *u);

/* Whole-buffer check: ws_utf8_init + feed + complete. */
bool ws_utf8_valid(const uint8_t *s, size_t n);

#endif
