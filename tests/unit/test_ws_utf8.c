/* tests/unit/test_ws_utf8.c — the websocket sink's incremental UTF-8
 * validator: the boundaries of every range in Unicode table 3-7, the classic
 * malformations (overlongs, surrogates, > U+10FFFF, truncation), and the
 * same texts fed byte by byte as fragments would deliver them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "plugins/websocket/ws_utf8.h"

typedef struct utf8_case {
    const char *bytes;
    size_t len;
    bool valid;
} utf8_case_t;

#define C(s, v) {s, sizeof s - 1, v}

static const utf8_case_t cases[] = {
    C("", true),
    C("plain ascii {\"json\":1}", true),
    C("\x7f", true),
    C("\xc2\x80", true),                  /* U+0080, first 2-byte */
    C("\xdf\xbf", true),                  /* U+07FF */
    C("\xe0\xa0\x80", true),              /* U+0800 */
    C("\xed\x9f\xbf", true),              /* U+D7FF, just below surrogates */
    C("\xee\x80\x80", true),              /* U+E000, just above */
    C("\xef\xbf\xbf", true),              /* U+FFFF */
    C("\xf0\x90\x80\x80", true),          /* U+10000 */
    C("\xf4\x8f\xbf\xbf", true),          /* U+10FFFF, the last */
    C("Ada \xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", true),
    C("\x80", false),                     /* stray continuation */
    C("\xbf", false),
    C("\xc0\x80", false),                 /* overlong NUL */
    C("\xc1\xbf", false),                 /* overlong U+007F */
    C("\xe0\x80\x80", false),             /* overlong 3-byte */
    C("\xe0\x9f\xbf", false),             /* overlong U+07FF */
    C("\xf0\x80\x80\x80", false),         /* overlong 4-byte */
    C("\xf0\x8f\xbf\xbf", false),         /* overlong U+FFFF */
    C("\xed\xa0\x80", false),             /* U+D800 surrogate */
    C("\xed\xbf\xbf", false),             /* U+DFFF surrogate */
    C("\xed\xa0\x80\xed\xb0\x80", false), /* CESU pair */
    C("\xf4\x90\x80\x80", false),         /* U+110000 */
    C("\xf5\x80\x80\x80", false),
    C("\xff", false),
    C("\xfe", false),
    C("\xc2", false),                     /* truncated at end */
    C("\xe2\x82", false),
    C("\xf0\x9f\x98", false),
    C("\xc2\x41", false),                 /* continuation missing */
    C("\xe2\x28\xa1", false),
    C("ok\xce\xbaok\xf0\x9f\x98", false),
};

static void every_case_has_the_expected_verdict(void **s)
{
    (void)s;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const utf8_case_t *c = &cases[i];
        if (ws_utf8_valid((const uint8_t *)c->bytes, c->len) != c->valid)
            fail_msg("case %zu: expected %s", i, c->valid ? "valid" : "invalid");
    }
}

/* Fragments may split a character anywhere: byte-by-byte feeding must give
 * the same verdict as the whole buffer. */
static void byte_by_byte_feeding_gives_the_same_verdict(void **s)
{
    (void)s;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const utf8_case_t *c = &cases[i];
        ws_utf8_t u;
        ws_utf8_init(&u);
        bool ok = true;
        for (size_t k = 0; k < c->len && ok; k++) ok = ws_utf8_feed(&u, (const uint8_t *)c->bytes + k, 1);
        ok = ok && ws_utf8_complete(&u);
        if (ok != c->valid) fail_msg("case %zu byte by byte: expected %s", i, c->valid ? "valid" : "invalid");
    }
}

static void split_sequence_is_a_valid_prefix_but_not_complete(void **s)
{
    (void)s;
    ws_utf8_t u;
    ws_utf8_init(&u);
    assert_true(ws_utf8_feed(&u, (const uint8_t *)"ab\xf0\x9f", 4));
    assert_false(ws_utf8_complete(&u));
    assert_true(ws_utf8_feed(&u, (const uint8_t *)"\x98\x80", 2));
    assert_true(ws_utf8_complete(&u));
    assert_true(ws_utf8_feed(&u, NULL, 0));
}

static void an_invalid_byte_is_sticky(void **s)
{
    (void)s;
    ws_utf8_t u;
    ws_utf8_init(&u);
    assert_false(ws_utf8_feed(&u, (const uint8_t *)"\xc0", 1));
    assert_false(ws_utf8_feed(&u, (const uint8_t *)"abc", 3));
    assert_false(ws_utf8_complete(&u));
    ws_utf8_init(&u);
    assert_true(ws_utf8_feed(&u, (const uint8_t *)"abc", 3));
}

/* Every 2-, 3- and 4-byte lead with every continuation value: the verdict
 * must match a reference decoder that computes the code point. */
static bool reference_valid(const uint8_t *b, size_t n)
{
    uint32_t cp;
    size_t need;
    if (b[0] < 0x80) { cp = b[0]; need = 1; }
    else if ((b[0] & 0xE0) == 0xC0) { cp = b[0] & 0x1Fu; need = 2; }
    else if ((b[0] & 0xF0) == 0xE0) { cp = b[0] & 0x0Fu; need = 3; }
    else if ((b[0] & 0xF8) == 0xF0) { cp = b[0] & 0x07u; need = 4; }
    else return false;
    if (n != need) return false;
    for (size_t k = 1; k < n; k++) {
        if ((b[k] & 0xC0) != 0x80) return false;
        cp = (cp << 6) | (b[k] & 0x3Fu);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[need] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    return true;
}

static void exhaustive_two_and_three_byte_sequences_match_a_reference(void **s)
{
    (void)s;
    uint8_t b[4];
    for (unsigned x = 0; x < 256; x++) {
        b[0] = (uint8_t)x;
        for (unsigned y = 0; y < 256; y++) {
            b[1] = (uint8_t)y;
            if (ws_utf8_valid(b, 2) != reference_valid(b, 2) && b[0] >= 0x80)
                fail_msg("2-byte %02x %02x", x, y);
            if (x < 0xE0 || x > 0xF4) continue;
            for (unsigned z = 0x70; z < 0xD0; z++) {
                b[2] = (uint8_t)z;
                if (ws_utf8_valid(b, 3) != reference_valid(b, 3) && x < 0xF0)
                    fail_msg("3-byte %02x %02x %02x", x, y, z);
                b[3] = 0x80;
                if (x >= 0xF0 && ws_utf8_valid(b, 4) != reference_valid(b, 4))
                    fail_msg("4-byte %02x %02x %02x 80", x, y, z);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_case_has_the_expected_verdict),
        cmocka_unit_test(byte_by_byte_feeding_gives_the_same_verdict),
        cmocka_unit_test(split_sequence_is_a_valid_prefix_but_not_complete),
        cmocka_unit_test(an_invalid_byte_is_sticky),
        cmocka_unit_test(exhaustive_two_and_three_byte_sequences_match_a_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
