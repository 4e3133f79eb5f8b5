/* ws_frame.c — RFC 6455 client-frame parser and server-frame encoder.
 *
 * A frame is read in two phases: its header (2 to 14 bytes, gathered in
 * p->hdr so a header split across reads costs nothing), then its payload.
 * Everything a header can get wrong is refused as soon as the byte that
 * shows it has arrived, and the size limit is checked against the announced
 * length before any payload is buffered. A whole unfragmented frame found in
 * the caller's input is unmasked there and returned without a copy (the
 * usual case: small JSON messages); anything else is copied into p->buf
 * (data) or p->ctl (control frames, which may interleave with fragments).
 */
#include "ws_frame.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t ws_empty[1] = {0};

void ws_frame_parser_init(ws_frame_parser_t *p, size_t max_message)
{
    memset(p, 0, sizeof *p);
    p->max_message = max_message;
    p->hdr_need = 2;
}

void ws_frame_parser_free(ws_frame_parser_t *p)
{
    free(p->buf);
    p->buf = NULL;
    p->buf_len = p->buf_cap = 0;
}

void ws_frame_parser_trim(ws_frame_parser_t *p)
{
    if (p->msg_opcode != 0) return; /* a fragmented message is still open */
    ws_frame_parser_free(p);
    p->buf_done = false;
}

bool ws_close_code_valid(uint16_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static ws_frame_result_t frame_fail(ws_frame_parser_t *p, uint16_t code, const char *why,
                                    ws_msg_t *msg)
{
    p->failed = true;
    p->fail_code = code;
    p->fail_why = why;
    msg->data = ws_empty;
    msg->len = 0;
    msg->code = code;
    msg->why = why;
    return WS_FRAME_ERROR;
}

static void unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4], uint64_t pos)
{
    for (size_t k = 0; k < n; k++) dst[k] = (uint8_t)(src[k] ^ mask[(pos + k) & 3]);
}

/* Checks the first two header bytes; sets hdr_need to the full length. */
static ws_frame_result_t header_start(ws_frame_parser_t *p, ws_msg_t *msg)
{
    uint8_t b0 = p->hdr[0], b1 = p->hdr[1];
    uint8_t op = b0 & 0x0F;
    uint8_t len7 = b1 & 0x7F;
    if (b0 & 0x70) return frame_fail(p, WS_CLOSE_PROTOCOL, "reserved bits set", msg);
    if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY && op != WS_OP_CLOSE &&
        op != WS_OP_PING && op != WS_OP_PONG)
        return frame_fail(p, WS_CLOSE_PROTOCOL, "unknown opcode", msg);
    if (!(b1 & 0x80)) return frame_fail(p, WS_CLOSE_PROTOCOL, "unmasked client frame", msg);
    if (op & 0x8) {
        if (!(b0 & 0x80)) return frame_fail(p, WS_CLOSE_PROTOCOL, "fragmented control frame", msg);
        if (len7 > WS_CONTROL_MAX)
            return frame_fail(p, WS_CLOSE_PROTOCOL, "control frame longer than 125 bytes", msg);
    } else if (op == WS_OP_CONT && p->msg_opcode == 0) {
        return frame_fail(p, WS_CLOSE_PROTOCOL, "continuation frame with no message open", msg);
    } else if (op != WS_OP_CONT && p->msg_opcode != 0) {
        return frame_fail(p, WS_CLOSE_PROTOCOL, "new data message inside a fragmented one", msg);
    }
    p->opcode = op;
    p->fin = (b0 & 0x80) != 0;
    p->hdr_need = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4);
    return WS_FRAME_MORE;
}

/* The header is whole: length forms, size limit, mask key. */
static ws_frame_result_t header_end(ws_frame_parser_t *p, ws_msg_t *msg)
{
    uint8_t len7 = p->hdr[1] & 0x7F;
    uint64_t n = len7;
    size_t at = 2;
    if (len7 == 126) {
        n = ((uint64_t)p->hdr[2] << 8) | p->hdr[3];
        at = 4;
        if (n < 126) return frame_fail(p, WS_CLOSE_PROTOCOL, "length not in its shortest form", msg);
    } else if (len7 == 127) {
        n = 0;
        for (int k = 0; k < 8; k++) n = (n << 8) | p->hdr[2 + k];
        at = 10;
        if (n >> 63) return frame_fail(p, WS_CLOSE_PROTOCOL, "64-bit length with the top bit set", msg);
        if (n <= 0xFFFF) return frame_fail(p, WS_CLOSE_PROTOCOL, "length not in its shortest form", msg);
    }
    memcpy(p->mask, p->hdr + at, 4);
    if (!(p->opcode & 0x8)) {
        size_t have = p->opcode == WS_OP_CONT ? p->buf_len : 0;
        if (n > p->max_message - have)
            return frame_fail(p, WS_CLOSE_TOO_BIG, "message larger than max_message", msg);
        if (p->opcode != WS_OP_CONT) {
            p->msg_opcode = p->opcode;
            p->buf_len = 0;
            ws_utf8_init(&p->utf8);
        }
    }
    p->frame_len = n;
    p->frame_pos = 0;
    p->ctl_len = 0;
    return WS_FRAME_MORE;
}

/* Makes room for n more bytes in p->buf, growing geometrically but never
 * past max_message (header_end proved buf_len + n fits). */
static bool buf_reserve(ws_frame_parser_t *p, size_t n)
{
    size_t need = p->buf_len + n;
    if (need <= p->buf_cap) return true;
    size_t cap = p->buf_cap ? p->buf_cap * 2 : 1024;
    if (cap > p->max_message) cap = p->max_message;
    if (cap < need) cap = need;
    uint8_t *b = realloc(p->buf, cap); /* owned by p, freed in ws_frame_parser_free */
    if (!b) return false;
    p->buf = b;
    p->buf_cap = cap;
    return true;
}

/* A control frame's payload is whole: turn it into the result. */
static ws_frame_result_t control_done(ws_frame_parser_t *p, const uint8_t *pl, size_t n,
                                      ws_msg_t *msg)
{
    msg->data = n ? pl : ws_empty;
    msg->len = n;
    if (p->opcode == WS_OP_PING) return WS_FRAME_PING;
    if (p->opcode == WS_OP_PONG) return WS_FRAME_PONG;
    if (n == 0) {
        msg->code = WS_CLOSE_NO_STATUS;
        return WS_FRAME_CLOSE;
    }
    if (n == 1) return frame_fail(p, WS_CLOSE_PROTOCOL, "close payload of 1 byte", msg);
    uint16_t code = (uint16_t)((pl[0] << 8) | pl[1]);
    if (!ws_close_code_valid(code)) return frame_fail(p, WS_CLOSE_PROTOCOL, "invalid close code", msg);
    if (!ws_utf8_valid(pl + 2, n - 2))
        return frame_fail(p, WS_CLOSE_BAD_DATA, "close reason is not valid UTF-8", msg);
    msg->code = code;
    msg->data = n > 2 ? pl + 2 : ws_empty;
    msg->len = n - 2;
    return WS_FRAME_CLOSE;
}

/* The final frame of a data message is whole: pl[0..n) is the message. */
static ws_frame_result_t message_done(ws_frame_parser_t *p, const uint8_t *pl, size_t n,
                                      bool text_checked, ws_msg_t *msg)
{
    uint8_t op = p->msg_opcode;
    p->msg_opcode = 0;
    if (op == WS_OP_TEXT) {
        bool ok = text_checked ? ws_utf8_complete(&p->utf8) : ws_utf8_valid(pl, n);
        if (!ok) return frame_fail(p, WS_CLOSE_BAD_DATA, "text message is not valid UTF-8", msg);
    }
    msg->data = n ? pl : ws_empty;
    msg->len = n;
    return op == WS_OP_TEXT ? WS_FRAME_TEXT : WS_FRAME_BINARY;
}

ws_frame_result_t ws_frame_feed(ws_frame_parser_t *p, uint8_t *data, size_t len,
                                size_t *consumed, ws_msg_t *msg)
{
    size_t i = 0;
    ws_frame_result_t r;
    memset(msg, 0, sizeof *msg);
    *consumed = 0;
    if (p->failed) return frame_fail(p, p->fail_code, p->fail_why, msg);
    if (p->buf_done) { /* the message returned last time is gone now */
        p->buf_len = 0;
        p->buf_done = false;
    }
    for (;;) {
        if (p->hdr_len < p->hdr_need) {
            while (i < len && p->hdr_len < p->hdr_need) {
                p->hdr[p->hdr_len++] = data[i++];
                if (p->hdr_len == 2 && p->hdr_need == 2) {
                    if ((r = header_start(p, msg)) != WS_FRAME_MORE) goto out;
                }
            }
            if (p->hdr_len < p->hdr_need) {
                r = WS_FRAME_MORE;
                goto out;
            }
            if ((r = header_end(p, msg)) != WS_FRAME_MORE) goto out;
        }
        bool control = (p->opcode & 0x8) != 0;
        size_t avail = len - i;
        uint64_t rest = p->frame_len - p->frame_pos;
        if (p->frame_pos == 0 && avail >= p->frame_len &&
            (control || (p->fin && p->opcode != WS_OP_CONT))) {
            /* Zero-copy: the whole frame is here and is the whole message. */
            size_t n = (size_t)p->frame_len;
            uint8_t *pl = n ? data + i : NULL;
            if (n) unmask(pl, pl, n, p->mask, 0);
            i += n;
            p->hdr_len = 0;
            p->hdr_need = 2;
            r = control ? control_done(p, pl, n, msg) : message_done(p, pl, n, false, msg);
            goto out;
        }
        size_t take = rest < avail ? (size_t)rest : avail;
        if (take == 0) {
            /* an empty frame, or no payload bytes in this read */
        } else if (control) {
            unmask(p->ctl + p->ctl_len, data + i, take, p->mask, p->frame_pos);
            p->ctl_len = (uint8_t)(p->ctl_len + take);
        } else {
            if (!buf_reserve(p, take)) {
                r = frame_fail(p, WS_CLOSE_INTERNAL, "out of memory", msg);
                goto out;
            }
            uint8_t *dst = p->buf + p->buf_len;
            unmask(dst, data + i, take, p->mask, p->frame_pos);
            p->buf_len += take;
            /* Fail fast on bad text rather than buffer up to max_message. */
            if (p->msg_opcode == WS_OP_TEXT && !ws_utf8_feed(&p->utf8, dst, take)) {
                i += take;
                r = frame_fail(p, WS_CLOSE_BAD_DATA, "text message is not valid UTF-8", msg);
                goto out;
            }
        }
        i += take;
        p->frame_pos += take;
        if (p->frame_pos < p->frame_len) {
            r = WS_FRAME_MORE;
            goto out;
        }
        p->hdr_len = 0;
        p->hdr_need = 2;
        if (control) {
            r = control_done(p, p->ctl, p->ctl_len, msg);
            goto out;
        }
        if (p->fin) {
            p->buf_done = true;
            r = message_done(p, p->buf ? p->buf : ws_empty, p->buf_len, true, msg);
            goto out;
        }
        if (i == len) {
            r = WS_FRAME_MORE;
            goto out;
        }
    }
out:
    *consumed = i;
    return r;
}

size_t ws_frame_header(uint8_t out[WS_FRAME_HEADER_MAX], int opcode, size_t len)
{
    out[0] = (uint8_t)(0x80 | (opcode & 0x0F));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    uint64_t n = len;
    for (int k = 7; k >= 0; k--) {
        out[2 + k] = (uint8_t)n;
        n >>= 8;
    }
    return 10;
}

size_t ws_frame_close(uint8_t out[WS_CLOSE_FRAME_MAX], uint16_t code, const char *reason)
{
    if (code == 0) return ws_frame_header(out, WS_OP_CLOSE, 0);
    size_t full = reason ? strlen(reason) : 0;
    size_t n = full > WS_CONTROL_MAX - 2 ? WS_CONTROL_MAX - 2 : full;
    /* Cutting before a continuation byte would split a character. */
    while (n > 0 && n < full && ((uint8_t)reason[n] & 0xC0) == 0x80) n--;
    size_t h = ws_frame_header(out, WS_OP_CLOSE, 2 + n);
    out[h] = (uint8_t)(code >> 8);
    out[h + 1] = (uint8_t)code;
    if (n) memcpy(out + h + 2, reason, n);
    return h + 2 + n;
}
