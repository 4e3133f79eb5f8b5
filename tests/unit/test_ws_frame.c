/* tests/unit/test_ws_frame.c — the websocket sink's RFC 6455 frame parser
 * and encoder: the RFC's own examples, fragmentation and interleaved control
 * frames, every protocol error with its close code, the size limit checked
 * before buffering, bounded memory, byte-by-byte delivery, and round trips
 * through the server-side encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugins/websocket/ws_frame.h"

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Writes a client frame: first byte b0 (FIN|RSV|opcode), payload masked
 * with mask_key unless unmasked; form 0 picks the shortest length form,
 * 126/127 force one. Returns its length. */
static size_t client_frame(uint8_t *out, uint8_t b0, const void *payload, size_t n, int form,
                           bool unmasked)
{
    size_t h = 0;
    out[h++] = b0;
    uint8_t m = unmasked ? 0 : 0x80;
    if (form == 0) form = n < 126 ? 0 : n <= 0xFFFF ? 126 : 127;
    if (form == 0) {
        out[h++] = (uint8_t)(m | n);
    } else if (form == 126) {
        out[h++] = m | 126;
        out[h++] = (uint8_t)(n >> 8);
        out[h++] = (uint8_t)n;
    } else {
        out[h++] = m | 127;
        for (int k = 7; k >= 0; k--) out[h++] = (uint8_t)((uint64_t)n >> (8 * k));
    }
    if (!unmasked) {
        memcpy(out + h, mask_key, 4);
        h += 4;
    }
    const uint8_t *p = payload;
    for (size_t k = 0; k < n; k++) out[h + k] = unmasked ? p[k] : (uint8_t)(p[k] ^ mask_key[k & 3]);
    return h + n;
}

/* Feeds buf[0..len) as one read; asserts every byte is used and returns
 * the result. */
static ws_frame_result_t feed_all(ws_frame_parser_t *p, uint8_t *buf, size_t len, ws_msg_t *msg)
{
    size_t used = 0;
    ws_frame_result_t r = ws_frame_feed(p, buf, len, &used, msg);
    assert_int_equal(used, len);
    return r;
}

static void rfc_masked_hello_is_one_text_message_without_a_copy(void **s)
{
    (void)s;
    /* RFC 6455 5.7: "A single-frame masked text message". */
    uint8_t in[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    ws_frame_parser_t p;
    ws_frame_parser_init(&p, 1024);
    ws_msg_t m;
    assert_int_equal(feed_all(&p, in, sizeof in, &m), WS_FRAME_TEXT);
    assert_int_equal(m.len, 5);
    assert_memory_equal(m.data, "Hello", 5);
    assert_ptr_equal(m.data, in + 6);     /* unmasked in place */
    assert_null(p.buf);                   /* nothing allocated */
    ws_frame_parser_free(&p);
}

static void fragments_reassemble_around_an_interleaved_ping(void **s)
{
    (void)s;
    uint8_t in[128];
    size_t n = client_frame(in, 0x01, "Hel", 3, 0, false);       /* TEXT, not FIN */
    n += client_frame(in + n, 0x89, "ping!", 5, 0, false);       /* PING mid-message */
    n += client_frame(in + n, 0x80, "lo", 2, 0, false);          /* CONT, FIN */
    ws_frame_parser_t p;
    ws_frame_parser_init(&p, 1024);
    ws_msg_t m;
    size_t used = 0, at = 0;
    assert_int_equal(ws_frame_feed(&p, in, n, &used, &m), WS_FRAME_PING);
    assert_int_equal(m.len, 5);
    assert_memory_equal(m.data, "ping!", 5);
    at += used;
    assert_int_equal(ws_frame_feed(&p, in + at, n - at, &used, &m), WS_FRAME_TEXT);
    at += used;
    assert_int_equal(at, n);
    assert_int_equal(m.len, 5);
    assert_memory_equal(m.data, "Hello", 5);
    assert_int_equal(ws_frame_feed(&p, in + at, 0, &used, &m), WS_FRAME_MORE);
    ws_frame_parser_free(&p);
}

/* A stream of frames, each read split into single bytes, gives the same
 * messages as one big read. */
static void byte_by_byte_delivery_gives_the_same_messages(void **s)
{
    (void)s;
    static uint8_t big[70000];
    for (size_t k = 0; k < sizeof big; k++) big[k] = (uint8_t)('a' + k % 26);
    uint8_t *in = malloc(80000);
    assert_non_null(in);
    size_t n = client_frame(in, 0x82, "\x00\xff\x10", 3, 0, false);
    n += client_frame(in + n, 0x01, "\xe2\x82", 2, 0, false);     /* split euro sign */
    n += client_frame(in + n, 0x8A, "", 0, 0, false);             /* empty PONG */
    n += client_frame(in + n, 0x80, "\xac!", 2, 0, false);
    n += client_frame(in + n, 0x81, big, 300, 0, false);          /* 126 form */
    n += client_frame(in + n, 0x81, big, sizeof big, 0, false);   /* 127 form */
    n += client_frame(in + n, 0x88, "\x03\xe8" "bye", 5, 0, false);
    ws_frame_parser_t p;
    ws_frame_parser_init(&p, 100000);
    ws_msg_t m;
    int got[8], ngot = 0;
    size_t lens[8];
    for (size_t k = 0; k < n; k++) {
        size_t used;
        ws_frame_result_t r = ws_frame_feed(&p, in + k, 1, &used, &m);
        assert_int_equal(used, 1);
        if (r == WS_FRAME_MORE) continue;
        assert_true(ngot < 8);
        lens[ngot] = m.len;
        got[ngot++] = (int)r;
        if (r == WS_FRAME_TEXT && m.len == 3) assert_memory_equal(m.data, "\xe2\x82\xac!", 4);
        if (r == WS_FRAME_TEXT && m.len >= 300) assert_memory_equal(m.data, big, m.len);
        if (r == WS_FRAME_CLOSE) {
            assert_int_equal(m.code, 1000);
            assert_memory_equal(m.data, "bye", 3);
        }
    }
    int want[] = {WS_FRAME_BINARY, WS_FRAME_PONG, WS_FRAME_TEXT, WS_FRAME_TEXT, WS_FRAME_TEXT,
                  WS_FRAME_CLOSE};
    size_t want_len[] = {3, 0, 4, 300, sizeof big, 3};
    assert_int_equal(ngot, 6);
    for (int k = 0; k < 6; k++) {
        assert_int_equal(got[k], want[k]);
        assert_int_equal(lens[k], want_len[k]);
    }
    ws_frame_parser_free(&p);
    free(in);
}

static void several_frames_in_one_read_stop_at_each_message(void **s)
{
    (void)s;
    uint8_t in[64];
    size_t a = client_frame(in, 0x81, "one", 3, 0, false);
    size_t b = client_frame(in + a, 0x81, "two", 3, 0, false);
    ws_frame_parser_t p;
    ws_frame_parser_init(&p, 64);
    ws_msg_t m;
    size_t used;
    assert_int_equal(ws_frame_feed(&p, in, a + b, &used, &m), WS_FRAME_TEXT);
    assert_int_equal(used, a);
    assert_memory_equal(m.data, "one", 3);
    assert_int_equal(ws_frame_feed(&p, in + a, b, &used, &m), WS_FRAME_TEXT);
    assert_int_equal(used, b);
    assert_memory_equal(m.data, "two", 3);
    ws_frame_parser_free(&p);
}

static void empty_messages_have_a_non_null_payload(void **s)
{
    (void)s;
    uint8_t in[64];
    size_t n = client_frame(in, 0x81, "", 0, 0, false);
    ws_frame_parser_t p;
    ws_frame_parser_init(&p, 64);
    ws_msg_t m;
    assert_int_equal(feed_all(&p, in, n, &m), WS_FRAME_TEXT);
    assert_int_equal(m.len, 0);
    assert_non_null(m.data);
    n = client_frame(in, 0x02, "", 0, 0, false);
    n += client_frame(in + n, 0x00, "", 0, 0, false);
    n += client_frame(in + n, 0x80, "", 0, 0, false);
    size_t used, at = 0;
    assert_int_equal(ws_frame_feed(&p, in, n, &used, &m), WS_FRAME_BINARY);
    at += used;
    assert_int_equal(at, n);
    assert_int_equal(m.len, 0);
    assert_non_null(m.data);
    ws_frame_parser_free(&p);
}

typedef struct bad_case {
    const char *name;
    uint8_t frames[40];
    size_t len;
    uint16_t code;
} bad_case_t;

static void expect_error(const uint8_t *frames, size_t len, uint16_t code, size_t max, const char *name)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, frames, len);
    ws_frame_parser_t p;
    ws_frame_parser_init(&p, max);
    ws_msg_t m;
    size_t at = 0, used;
    ws_frame_result_t r;
    do {
        r = ws_frame_feed(&p, copy + at, len - at, &used, &m);
        at += used;
    } while (r != WS_FRAME_ERROR && r != WS_FRAME_MORE);
    if (r != WS_FRAME_ERROR) fail_msg("%s: no error", name);
    if (m.code != code) fail_msg("%s: code %u, want %u (%s)", name, m.code, code, m.why);
    assert_non_null(m.why);
    /* sticky, consumes nothing */
    assert_int_equal(ws_frame_feed(&p, copy, len, &used, &m), WS_FRAME_ERROR);
    assert_int_equal(used, 0);
    assert_int_equal(m.code, code);
    ws_frame_parser_free(&p);
    free(copy);
}

static void each_protocol_violation_gets_its_close_code(void **s)
{
    (void)s;
    uint8_t f[200];
    size_t n;
    n = client_frame(f, 0x81, "hi", 2, 0, true);
    expect_error(f, n, 1002, 64, "unmasked");
    n = client_frame(f, 0xC1, "hi", 2, 0, false);
    expect_error(f, n, 1002, 64, "RSV1");
    n = client_frame(f, 0xA1, "hi", 2, 0, false);
    expect_error(f, n, 1002, 64, "RSV2");
    n = client_frame(f, 0x91, "hi", 2, 0, false);
    expect_error(f, n, 1002, 64, "RSV3");
    for (uint8_t op = 3; op <= 0xF; op++) {
        if (op >= 8 && op <= 0xA) continue;
        n = client_frame(f, (uint8_t)(0x80 | op), "hi", 2, 0, false);
        expect_error(f, n, 1002, 64, "reserved opcode");
    }
    n = client_frame(f, 0x09, "hi", 2, 0, false);
    expect_error(f, n, 1002, 64, "fragmented ping");
    n = client_frame(f, 0x08, "", 0, 0, false);
    expect_error(f, n, 1002, 64, "fragmented close");
    static uint8_t long_ping[126];
    n = client_frame(f, 0x89, long_ping, 126, 0, false);
    expect_error(f, n, 1002, 1024, "ping over 125");
    n = client_frame(f, 0x80, "x", 1, 0, false);
    expect_error(f, n, 1002, 64, "continuation without start");
    n = client_frame(f, 0x01, "a", 1, 0, false);
    n += client_frame(f + n, 0x81, "b", 1, 0, false);
    expect_error(f, n, 1002, 64, "text inside fragmented text");
    n = client_frame(f, 0x02, "a", 1, 0, false);
    n += client_frame(f + n, 0x82, "b", 1, 0, false);
    expect_error(f, n, 1002, 64, "binary inside fragmented binary");
    n = client_frame(f, 0x81, "abc", 3, 126, false);
    expect_error(f, n, 1002, 64, "126 form for 3 bytes");
    n = client_frame(f, 0x81, "abc", 3, 127, false);
    expect_error(f, n, 1002, 64, "127 form for 3 bytes");
    uint8_t top[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    expect_error(top, sizeof top, 1002, 64, "64-bit length top bit");
    n = client_frame(f, 0x88, "\x03", 1, 0, false);
    expect_error(f, n, 1002, 64, "close with 1 byte");
    static const uint16_t bad_codes[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535};
    for (size_t k = 0; k < sizeof bad_codes / sizeof bad_codes[0]; k++) {
        uint8_t pl[2] = {(uint8_t)(bad_codes[k] >> 8), (uint8_t)bad_codes[k]};
        n = client_frame(f, 0x88, pl, 2, 0, false);
        expect_error(f, n, 1002, 64, "close code not allowed");
    }
    n = client_frame(f, 0x88, "\x03\xe8\xc0\x80", 4, 0, false);
    expect_error(f, n, 1007, 64, "close reason overlong");
    n = client_frame(f, 0x81, "\xed\xa0\x80", 3, 0, false);
    expect_error(f, n, 1007, 64, "surrogate in text");
    n = client_frame(f, 0x01, "ok\xe2\x82", 4, 0, false);
    n += client_frame(f + n, 0x80, "", 0, 0, false);
    expect_error(f, n, 1007, 64, "text ends inside a character");
    n = client_frame(f, 0x81, "xy", 2, 0, false);
    expect_error(f, n, 1009, 1, "over max by one");
}

/* The limit is checked on the announced length: the parser refuses before
 * any payload arrives and has allocated nothing. */
static void oversized_message_is_refused_from_its_header(void **s)
{
    (void)s;
    uint8_t hdr[14] = {0x82, 0xFF, 0, 0, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4};
    ws_frame_parser_t p;
    ws_frame_parser_init(&p, 1 << 20);
    ws_msg_t m;
    size_t used;
    assert_int_equal(ws_frame_feed(&p, hdr, sizeof hdr, &used, &m), WS_FRAME_ERROR);
    assert_int_equal(m.code, 1009);
    assert_int_equal(used, sizeof hdr);
    assert_null(p.buf);
    ws_frame_parser_free(&p);

    /* the sum of fragments counts: 40 + 40 > 64 */
    uint8_t f[200], part[40];
    memset(part, 'x', sizeof part);
    size_t n = client_frame(f, 0x01, part, 40, 0, false);
    n += client_frame(f + n, 0x80, part, 40, 0, false);
    expect_error(f, n, 1009, 64, "fragments over max");
    /* exactly max is fine */
    n = client_frame(f, 0x01, part, 32, 0, false);
    n += client_frame(f + n, 0x80, part, 32, 0, false);
    ws_frame_parser_init(&p, 64);
    size_t at = 0;
    assert_int_equal(ws_frame_feed(&p, f, n, &used, &m), WS_FRAME_TEXT);
    assert_int_equal(m.len, 64);
    ws_frame_parser_free(&p);
    (void)at;
}

/* A peer announcing a big frame and sending little makes the parser hold
 * what arrived, not what was announced; trim frees it once idle. */
static void memory_follows_arrived_bytes_and_trim_frees_it(void **s)
{
    (void)s;
    uint8_t hdr[14] = {0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4}; /* 1 MiB */
    ws_frame_parser_t p;
    ws_frame_parser_init(&p, 4 << 20);
    ws_msg_t m;
    size_t used;
    assert_int_equal(ws_frame_feed(&p, hdr, sizeof hdr, &used, &m), WS_FRAME_MORE);
    uint8_t some[10] = {0};
    assert_int_equal(ws_frame_feed(&p, some, sizeof some, &used, &m), WS_FRAME_MORE);
    assert_true(p.buf_cap <= 1024);
    ws_frame_parser_trim(&p);          /* a message is open: kept */
    assert_non_null(p.buf);
    ws_frame_parser_free(&p);

    uint8_t f[3000];
    static uint8_t payload[2000];
    size_t n = client_frame(f, 0x82, payload, sizeof payload, 0, false);
    ws_frame_parser_init(&p, 4096);
    assert_int_equal(ws_frame_feed(&p, f, 100, &used, &m), WS_FRAME_MORE);
    assert_int_equal(ws_frame_feed(&p, f + 100, n - 100, &used, &m), WS_FRAME_BINARY);
    assert_int_equal(m.len, sizeof payload);
    assert_true(p.buf_cap <= 4096);
    ws_frame_parser_trim(&p);
    assert_null(p.buf);
    ws_frame_parser_free(&p);
}

/* Bad text is refused as soon as the bad byte arrives, not at message end. */
static void invalid_utf8_is_found_before_the_message_ends(void **s)
{
    (void)s;
    uint8_t f[64];
    size_t n = client_frame(f, 0x01, "ok\xff", 3, 0, false);
    ws_frame_parser_t p;
    ws_frame_parser_init(&p, 1024);
    ws_msg_t m;
    size_t used;
    assert_int_equal(ws_frame_feed(&p, f, n, &used, &m), WS_FRAME_ERROR);
    assert_int_equal(m.code, 1007);
    ws_frame_parser_free(&p);
    /* binary may hold anything */
    n = client_frame(f, 0x82, "\xff\xfe\xc0", 3, 0, false);
    ws_frame_parser_init(&p, 1024);
    assert_int_equal(feed_all(&p, f, n, &m), WS_FRAME_BINARY);
    ws_frame_parser_free(&p);
}

static void close_frames_report_code_and_reason(void **s)
{
    (void)s;
    uint8_t f[200];
    ws_frame_parser_t p;
    ws_msg_t m;
    size_t n = client_frame(f, 0x88, "", 0, 0, false);
    ws_frame_parser_init(&p, 64);
    assert_int_equal(feed_all(&p, f, n, &m), WS_FRAME_CLOSE);
    assert_int_equal(m.code, WS_CLOSE_NO_STATUS);
    assert_int_equal(m.len, 0);
    static const uint16_t ok_codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                        1012, 1013, 1014, 3000, 4000, 4999};
    for (size_t k = 0; k < sizeof ok_codes / sizeof ok_codes[0]; k++) {
        uint8_t pl[8] = {(uint8_t)(ok_codes[k] >> 8), (uint8_t)ok_codes[k], 'd', 'o', 'n', 'e'};
        n = client_frame(f, 0x88, pl, 6, 0, false);
        ws_frame_parser_init(&p, 64);
        assert_int_equal(feed_all(&p, f, n, &m), WS_FRAME_CLOSE);
        assert_int_equal(m.code, ok_codes[k]);
        assert_int_equal(m.len, 4);
        assert_memory_equal(m.data, "done", 4);
    }
    /* a close split across reads goes through the control buffer */
    n = client_frame(f, 0x88, "\x0f\xa0" "split reason", 14, 0, false);
    ws_frame_parser_init(&p, 64);
    size_t used;
    assert_int_equal(ws_frame_feed(&p, f, 9, &used, &m), WS_FRAME_MORE);
    assert_int_equal(ws_frame_feed(&p, f + 9, n - 9, &used, &m), WS_FRAME_CLOSE);
    assert_int_equal(m.code, 4000);
    assert_int_equal(m.len, 12);
    assert_memory_equal(m.data, "split reason", 12);
}

static void header_encoder_uses_the_shortest_form(void **s)
{
    (void)s;
    uint8_t h[WS_FRAME_HEADER_MAX];
    assert_int_equal(ws_frame_header(h, WS_OP_TEXT, 0), 2);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], 0);
    assert_int_equal(ws_frame_header(h, WS_OP_TEXT, 125), 2);
    assert_int_equal(h[1], 125);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, 126), 4);
    assert_int_equal(h[0], 0x82);
    assert_int_equal(h[1], 126);
    assert_int_equal(h[2], 0);
    assert_int_equal(h[3], 126);
    assert_int_equal(ws_frame_header(h, WS_OP_TEXT, 65535), 4);
    assert_int_equal(h[2], 0xFF);
    assert_int_equal(h[3], 0xFF);
    assert_int_equal(ws_frame_header(h, WS_OP_TEXT, 65536), 10);
    assert_int_equal(h[1], 127);
    static const uint8_t want[8] = {0, 0, 0, 0, 0, 1, 0, 0};
    assert_memory_equal(h + 2, want, 8);
    assert_int_equal(ws_frame_header(h, WS_OP_PING, 5), 2);
    assert_int_equal(h[0], 0x89);
}

static void close_encoder_cuts_reasons_at_a_character_boundary(void **s)
{
    (void)s;
    uint8_t out[WS_CLOSE_FRAME_MAX];
    assert_int_equal(ws_frame_close(out, 0, NULL), 2);
    assert_int_equal(out[0], 0x88);
    assert_int_equal(out[1], 0);
    assert_int_equal(ws_frame_close(out, 1009, "message too big"), 2 + 2 + 15);
    assert_int_equal(out[1], 17);
    assert_int_equal(out[2], 0x03);
    assert_int_equal(out[3], 0xF1);
    assert_memory_equal(out + 4, "message too big", 15);
    /* 61 two-byte characters = 122 bytes, then a euro sign: 125 > 123 */
    char reason[200] = "";
    for (int k = 0; k < 61; k++) strcat(reason, "\xc3\xa9");
    strcat(reason, "\xe2\x82\xac");
    size_t n = ws_frame_close(out, 1000, reason);
    assert_int_equal(n, 2 + 2 + 122);
    assert_int_equal(out[1], 124);
    /* the frame parses back (after masking) as a valid close */
    uint8_t f[200];
    size_t fn = client_frame(f, 0x88, out + 2, n - 2, 0, false);
    ws_frame_parser_t p;
    ws_frame_parser_init(&p, 64);
    ws_msg_t m;
    assert_int_equal(feed_all(&p, f, fn, &m), WS_FRAME_CLOSE);
    assert_int_equal(m.code, 1000);
    assert_int_equal(m.len, 122);
    assert_true(ws_close_code_valid(1013));
    assert_false(ws_close_code_valid(1006));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc_masked_hello_is_one_text_message_without_a_copy),
        cmocka_unit_test(fragments_reassemble_around_an_interleaved_ping),
        cmocka_unit_test(byte_by_byte_delivery_gives_the_same_messages),
        cmocka_unit_test(several_frames_in_one_read_stop_at_each_message),
        cmocka_unit_test(empty_messages_have_a_non_null_payload),
        cmocka_unit_test(each_protocol_violation_gets_its_close_code),
        cmocka_unit_test(oversized_message_is_refused_from_its_header),
        cmocka_unit_test(memory_follows_arrived_bytes_and_trim_frees_it),
        cmocka_unit_test(invalid_utf8_is_found_before_the_message_ends),
        cmocka_unit_test(close_frames_report_code_and_reason),
        cmocka_unit_test(header_encoder_uses_the_shortest_form),
        cmocka_unit_test(close_encoder_cuts_reasons_at_a_character_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
