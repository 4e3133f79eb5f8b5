/* http_sign.c — Standard Webhooks signatures: base64 and HMAC-SHA256.
 *
 * Pure functions (no host, no clock): the caller passes the timestamp, so
 * unit tests check them against the convention's published test vector.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "changecast/error.h"
#include "http.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t http_b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18 & 63];
        out[o++] = b64_alphabet[v >> 12 & 63];
        out[o++] = b64_alphabet[v >> 6 & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = b64_alphabet[v >> 18 & 63];
        out[o++] = b64_alphabet[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64_alphabet[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int http_b64_decode(const char *in, size_t n, uint8_t *out, size_t *out_len)
{
    /* Padding is optional, but only at the end and never more than two. */
    size_t pad = 0;
    while (n > 0 && in[n - 1] == '=' && pad < 2) {
        n--;
        pad++;
    }
    if (n % 4 == 1 || (pad > 0 && (n + pad) % 4 != 0))
        return CC_EPARSE;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(in[i]);
        if (v < 0)
            return CC_EPARSE;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = o;
    return 0;
}

int http_secret_key(const char *secret, uint8_t **key, size_t *key_len)
{
    static const char prefix[] = "whsec_";
    size_t n = strlen(secret);
    bool b64 = strncmp(secret, prefix, sizeof prefix - 1) == 0;
    const char *src = b64 ? secret + sizeof prefix - 1 : secret;
    size_t src_len = b64 ? n - (sizeof prefix - 1) : n;
    uint8_t *k = malloc(src_len + 3);
    if (k == NULL)
        return CC_ENOMEM;
    size_t len = src_len;
    if (b64) {
        if (http_b64_decode(src, src_len, k, &len) != 0) {
            free(k);
            return CC_EPARSE;
        }
    } else {
        memcpy(k, src, src_len);
    }
    if (len == 0) {   /* OpenSSL refuses empty HMAC keys; so would a reader */
        free(k);
        return CC_EPARSE;
    }
    *key = k;
    *key_len = len;
    return 0;
}

int http_sign(const uint8_t *key, size_t key_len, const char *id, int64_t timestamp,
              const char *body, size_t body_len, char out[HTTP_SIGNATURE_MAX])
{
    char ts[32];
    int ts_len = snprintf(ts, sizeof ts, ".%" PRId64 ".", timestamp);
    /* EVP_MAC streams the three parts: no copy of a large body per attempt. */
    EVP_MAC *mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end(),
    };
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t md_len = 0;
    int ok = ctx != NULL && EVP_MAC_init(ctx, key, key_len, params) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)id, strlen(id)) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)ts, (size_t)ts_len) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)body, body_len) == 1 &&
             EVP_MAC_final(ctx, md, &md_len, sizeof md) == 1 && md_len == 32;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok)
        return CC_EIO;
    memcpy(out, "v1,", 3);
    http_b64_encode(md, md_len, out + 3);
    return 0;
}
