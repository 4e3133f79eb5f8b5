/* tests/fuzz/fuzz_redis_input.c — libFuzzer target for what the redis
 * plugins take from outside: envelopes read from Redis (cc_envelope_read,
 * behind host->emit_envelope), and, on the same bytes as NUL-terminated
 * text, connection URIs and stream entry IDs. An accepted envelope must
 * keep its text byte for byte; a refused one must leave nothing behind.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "changecast/error.h"
#include "core/envelope_read.h"
#include "plugins/redis/redis_uri.h"
#include "plugins/redis/redis_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    cc_event_t *ev = NULL;
    int rc = cc_envelope_read((const char *)data, size, &ev, err, sizeof err);
    if (rc == 0) {
        if (ev->json_len != size || memcmp(ev->json, data, size) != 0)
            abort();
        cc_event_unref(ev);
    } else if (ev != NULL) {
        abort();
    }

    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    redis_uri_t u;
    if (redis_uri_parse(text, &u, err, sizeof err) == 0) {
        char where[300];
        redis_uri_where(&u, where, sizeof where);
        if (!u.host && !u.path)
            abort();
        redis_uri_free(&u);
    }
    redis_sid_t id;
    if (redis_sid_parse(text, &id) == 0) {
        char back[48];
        redis_sid_format(id, back);
        redis_sid_t again;
        if (redis_sid_parse(back, &again) != 0 || redis_sid_cmp(id, again) != 0)
            abort();
    }
    free(text);
    return 0;
}
