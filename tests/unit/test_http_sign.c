/* tests/unit/test_http_sign.c — the http sink's Standard Webhooks signing:
 * base64 both ways, secret-to-key rules, and the convention's published test
 * vector. plugins/http/http_sign.c is compiled in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "changecast/error.h"
#include "plugins/http/http.h"

static void signature_matches_standard_webhooks_test_vector(void **s)
{
    (void)s;
    uint8_t *key;
    size_t key_len;
    assert_int_equal(http_secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &key, &key_len), 0);
    const char *body = "{\"test\": 2432232314}";
    char sig[HTTP_SIGNATURE_MAX];
    assert_int_equal(http_sign(key, key_len, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                               strlen(body), sig), 0);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    free(key);
}

static void signature_changes_with_id_timestamp_and_body(void **s)
{
    (void)s;
    uint8_t *key;
    size_t key_len;
    assert_int_equal(http_secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &key, &key_len), 0);
    const char *body = "{\"test\": 2432232314}";
    char a[HTTP_SIGNATURE_MAX], b[HTTP_SIGNATURE_MAX], c[HTTP_SIGNATURE_MAX];
    assert_int_equal(http_sign(key, key_len, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body,
                               strlen(body), a), 0);
    assert_int_equal(http_sign(key, key_len, "msg_other", 1614265330, body, strlen(body), b), 0);
    assert_int_equal(http_sign(key, key_len, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                               strlen(body) - 1, c), 0);
    const char *want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert_string_not_equal(a, want);
    assert_string_not_equal(b, want);
    assert_string_not_equal(c, want);
    free(key);
}

/* A secret without the whsec_ prefix is used as its bytes: HMAC-SHA256 with
 * key "key" over "id.1.x", as computed by Python's hmac module. */
static void plain_secret_is_used_as_bytes(void **s)
{
    (void)s;
    uint8_t *key;
    size_t key_len;
    assert_int_equal(http_secret_key("key", &key, &key_len), 0);
    assert_int_equal(key_len, 3);
    assert_memory_equal(key, "key", 3);
    char sig[HTTP_SIGNATURE_MAX];
    assert_int_equal(http_sign(key, key_len, "id", 1, "x", 1, sig), 0);
    assert_string_equal(sig, "v1,V+BN+KJ9XRc0teK5GeSHdKcB1cEfVRnOi5FW4HN2EhI=");
    free(key);
}

static void bad_or_empty_secrets_are_refused(void **s)
{
    (void)s;
    uint8_t *key = NULL;
    size_t key_len;
    assert_int_equal(http_secret_key("whsec_not*base64", &key, &key_len), CC_EPARSE);
    assert_int_equal(http_secret_key("whsec_", &key, &key_len), CC_EPARSE);
    assert_int_equal(http_secret_key("", &key, &key_len), CC_EPARSE);
    assert_int_equal(http_secret_key("whsec_QQ=", &key, &key_len), CC_EPARSE);
    assert_null(key);
}

static void base64_round_trips_every_length(void **s)
{
    (void)s;
    uint8_t in[64], back[64];
    char enc[4 * 22 + 1];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof in; n++) {
        size_t len = http_b64_encode(in, n, enc);
        assert_int_equal(len, 4 * ((n + 2) / 3));
        assert_int_equal(strlen(enc), len);
        size_t got = 99;
        assert_int_equal(http_b64_decode(enc, len, back, &got), 0);
        assert_int_equal(got, n);
        assert_memory_equal(back, in, n);
    }
}

static void base64_matches_rfc4648_vectors(void **s)
{
    (void)s;
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                        "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        http_b64_encode((const uint8_t *)plain[i], strlen(plain[i]), out);
        assert_string_equal(out, coded[i]);
    }
    uint8_t out[16];
    size_t n;
    assert_int_equal(http_b64_decode("Zm9vYg", 6, out, &n), 0);   /* padding optional */
    assert_int_equal(n, 4);
    assert_memory_equal(out, "foob", 4);
    assert_int_equal(http_b64_decode("Zm9vY", 5, out, &n), CC_EPARSE);
    assert_int_equal(http_b64_decode("Zm9v\n", 5, out, &n), CC_EPARSE);
    assert_int_equal(http_b64_decode("Zg===", 5, out, &n), CC_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signature_matches_standard_webhooks_test_vector),
        cmocka_unit_test(signature_changes_with_id_timestamp_and_body),
        cmocka_unit_test(plain_secret_is_used_as_bytes),
        cmocka_unit_test(bad_or_empty_secrets_are_refused),
        cmocka_unit_test(base64_round_trips_every_length),
        cmocka_unit_test(base64_matches_rfc4648_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
