/* tests/fuzz/fuzz_ws_frame.c — libFuzzer target for the websocket frame
 * parser.
 *
 * Input: byte 0 picks max_message, byte 1 seeds the read sizes, the rest is
 * what a client sends. The stream is parsed twice, once as a single read and
 * once cut into reads of pseudo-random sizes (1..64 bytes), and both must
 * give the same messages and the same error: where the TCP stream happens
 * to be cut must never matter. Also checked: messages obey the limits (data
 * <= max_message, control <= 125, text valid UTF-8, close codes sendable),
 * the parser's buffer never exceeds max_message, consumed never exceeds the
 * input. Any crash, leak or sanitizer report is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/websocket/ws_frame.h"

#define MAX_EVENTS 4096

typedef struct event {
    int result;
    size_t len;
    uint16_t code;
    uint64_t hash;
} event_t;

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t k = 0; k < n; k++) h = (h ^ p[k]) * 1099511628211ull;
    return h;
}

static void check_msg(const ws_frame_parser_t *p, ws_frame_result_t r, const ws_msg_t *m)
{
    if (r == WS_FRAME_MORE) return;
    if (!m->data) abort();
    if (p->buf_cap > p->max_message) abort();
    switch (r) {
    case WS_FRAME_TEXT:
        if (!ws_utf8_valid(m->data, m->len)) abort();
        /* fall through */
    case WS_FRAME_BINARY:
        if (m->len > p->max_message) abort();
        break;
    case WS_FRAME_PING:
    case WS_FRAME_PONG:
        if (m->len > WS_CONTROL_MAX) abort();
        break;
    case WS_FRAME_CLOSE:
        if (m->len > WS_CONTROL_MAX - 2 || !ws_utf8_valid(m->data, m->len)) abort();
        if (m->code != WS_CLOSE_NO_STATUS && !ws_close_code_valid(m->code)) abort();
        break;
    case WS_FRAME_ERROR:
        if (m->code != 1002 && m->code != 1007 && m->code != 1009 && m->code != 1011) abort();
        if (!m->why) abort();
        break;
    default:
        abort();
    }
}

/* Parses in[0..n) in reads of the given sizes (seed 0: one read); records
 * every message. Returns the number recorded. */
static size_t run(const uint8_t *in, size_t n, size_t max, unsigned seed, event_t *ev)
{
    uint8_t *buf = malloc(n ? n : 1); /* the parser unmasks in place: a copy */
    if (!buf) abort();
    memcpy(buf, in, n);
    ws_frame_parser_t p;
    ws_frame_parser_init(&p, max);
    size_t at = 0, nev = 0;
    uint32_t rng = seed;
    while (at < n && nev < MAX_EVENTS) {
        size_t chunk = n - at;
        if (seed) {
            rng = rng * 1103515245u + 12345u;
            size_t c = 1 + (rng >> 16) % 64;
            if (c < chunk) chunk = c;
        }
        size_t end = at + chunk;
        while (at < end && nev < MAX_EVENTS) {
            size_t used = 0;
            ws_msg_t m;
            ws_frame_result_t r = ws_frame_feed(&p, buf + at, end - at, &used, &m);
            if (used > end - at) abort();
            at += used;
            check_msg(&p, r, &m);
            if (r == WS_FRAME_MORE) {
                if (at != end) abort();
                ws_frame_parser_trim(&p);
                break;
            }
            ev[nev++] = (event_t){r, m.len, m.code, fnv(m.data, m.len)};
            if (r == WS_FRAME_TEXT || r == WS_FRAME_BINARY) {
                /* what a server does next: encode a reply header */
                uint8_t h[WS_FRAME_HEADER_MAX];
                size_t hl = ws_frame_header(h, WS_OP_TEXT, m.len);
                if (hl != 2 && hl != 4 && hl != 10) abort();
            }
            if (r == WS_FRAME_ERROR) {
                uint8_t c[WS_CLOSE_FRAME_MAX];
                if (ws_frame_close(c, m.code, m.why) > WS_CLOSE_FRAME_MAX) abort();
                ws_frame_parser_free(&p);
                free(buf);
                return nev;
            }
        }
    }
    ws_frame_parser_free(&p);
    free(buf);
    return nev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static event_t a[MAX_EVENTS], b[MAX_EVENTS];
    static const size_t maxes[] = {1, 16, 125, 1000, 65536, 1 << 20};
    if (size < 2) return 0;
    size_t max = maxes[data[0] % (sizeof maxes / sizeof maxes[0])];
    unsigned seed = 1u + data[1];
    size_t na = run(data + 2, size - 2, max, 0, a);
    size_t nb = run(data + 2, size - 2, max, seed, b);
    if (na != nb) abort();
    for (size_t k = 0; k < na; k++)
        if (a[k].result != b[k].result || a[k].len != b[k].len || a[k].code != b[k].code ||
            a[k].hash != b[k].hash)
            abort();
    return 0;
}
