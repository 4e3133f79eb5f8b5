/* ws_utf8.c — incremental UTF-8 validation (Unicode 15, table 3-7).
 *
 * The lead byte fixes how many continuation bytes follow and the range of
 * the first of them, which is what excludes overlongs (E0 A0.., F0 90..),
 * surrogates (ED 80..9F) and code points past U+10FFFF (F4 80..8F); every
 * later continuation byte is 80..BF.
 */
#include "ws_utf8.h"

#include <string.h>

void ws_utf8_init(ws_utf8_t *u)
{
    memset(u, 0, sizeof *u);
}

/* Sets the expectations after lead byte c; false when c cannot start a
 * character. */
static bool utf8_lead(ws_utf8_t *u, uint8_t c)
{
    if (c >= 0xC2 && c <= 0xDF) { u->need = 1; u->lo = 0x80; u->hi = 0xBF; }
    else if (c == 0xE0)         { u->need = 2; u->lo = 0xA0; u->hi = 0xBF; }
    else if (c == 0xED)         { u->need = 2; u->lo = 0x80; u->hi = 0x9F; }
    else if (c >= 0xE1 && c <= 0xEF) { u->need = 2; u->lo = 0x80; u->hi = 0xBF; }
    else if (c == 0xF0)         { u->need = 3; u->lo = 0x90; u->hi = 0xBF; }
    else if (c >= 0xF1 && c <= 0xF3) { u->need = 3; u->lo = 0x80; u->hi = 0xBF; }
    else if (c == 0xF4)         { u->need = 3; u->lo = 0x80; u->hi = 0x8F; }
    else return false;          /* 80..C1 (stray continuation, overlong), F5..FF */
    return true;
}

bool ws_utf8_feed(ws_utf8_t *u, const uint8_t *s, size_t n)
{
    if (u->bad) return false;
    size_t i = 0;
    while (i < n) {
        if (u->need == 0) {
            /* ASCII runs are the common case for JSON: skip them fast. */
            while (i < n && s[i] < 0x80) i++;
            if (i == n) break;
            if (!utf8_lead(u, s[i])) { u->bad = 1; return false; }
            i++;
            continue;
        }
        uint8_t c = s[i];
        if (c < u->lo || c > u->hi) { u->bad = 1; return false; }
        u->need--;
        u->lo = 0x80;
        u->hi = 0xBF;
        i++;
    }
    return true;
}

bool ws_utf8_complete(const ws_utf8_t *u)
{
    return !u->bad && u->need == 0;
}

bool ws_utf8_valid(const uint8_t *s, size_t n)
{
    ws_utf8_t u;
    ws_utf8_init(&u);
    return ws_utf8_feed(&u, s, n) && ws_utf8_complete(&u);
}
