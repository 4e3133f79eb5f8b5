/* tests/unit/test_abi_1_2.c — the ABI 1.2 core services: finished envelopes
 * published as events (host->emit_envelope), the state file's "written"
 * notice behind the `committed` descriptor callback, and the loader's
 * sizes for 1.1 and 1.2 descriptors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "changecast/error.h"
#include "core/envelope_read.h"
#include "core/loader.h"
#include "core/runtime.h"
#include "core/state.h"

static const char GOOD[] =
    "{\"operation\":\"update\",\"collection\":\"users\",\"document_id\":\"u1\","
    "\"data\":{\"name\":\"Ada\"},\"timestamp\":1745257727.5,\"namespace\":\"test\","
    "\"recipient\":\"u1\",\"id\":\"8268:u1\",\"cluster_time\":{\"t\":1745257727,\"i\":1}}";

static void envelope_fields_come_from_its_keys_and_text_is_kept(void **unused)
{
    (void)unused;
    char err[256];
    cc_event_t *ev = NULL;
    assert_int_equal(cc_envelope_read(GOOD, strlen(GOOD), &ev, err, sizeof err), 0);
    assert_non_null(ev);
    assert_int_equal(ev->json_len, strlen(GOOD));
    assert_memory_equal(ev->json, GOOD, strlen(GOOD));
    assert_string_equal(ev->id, "8268:u1");
    assert_string_equal(ev->operation, "update");
    assert_int_equal(ev->op_mask, CC_OP_UPDATE);
    assert_string_equal(ev->collection, "users");
    assert_string_equal(ev->database, "test");
    assert_string_equal(ev->document_id, "u1");
    assert_string_equal(ev->recipient, "u1");
    assert_true(ev->timestamp == 1745257727.5);
    cc_event_unref(ev);
}

static void null_recipient_is_a_broadcast(void **unused)
{
    (void)unused;
    const char *j = "{\"operation\":\"insert\",\"collection\":\"c\",\"document_id\":\"1\","
                    "\"timestamp\":1,\"namespace\":\"d\",\"recipient\":null,\"id\":\"x\"}";
    char err[256];
    cc_event_t *ev = NULL;
    assert_int_equal(cc_envelope_read(j, strlen(j), &ev, err, sizeof err), 0);
    assert_null(ev->recipient);
    cc_event_unref(ev);
}

static void bad_envelopes_are_refused_naming_the_key(void **unused)
{
    (void)unused;
    static const struct {
        const char *json, *why;
    } bad[] = {
        {"not json", "not JSON"},
        {"[1,2]", "must be a JSON object"},
        {"{\"operation\":\"insert\",\"collection\":\"c\",\"document_id\":\"1\","
         "\"timestamp\":1,\"namespace\":\"d\",\"recipient\":null}", "\"id\" is missing"},
        {"{\"id\":5,\"operation\":\"insert\"}", "\"id\" must be a string"},
        {"{\"id\":\"x\",\"operation\":\"insert\",\"collection\":\"c\",\"document_id\":\"1\","
         "\"timestamp\":\"1\",\"namespace\":\"d\",\"recipient\":null}", "\"timestamp\" must be a number"},
        {"{\"id\":\"x\",\"operation\":\"insert\",\"collection\":\"c\",\"document_id\":\"1\","
         "\"timestamp\":1,\"namespace\":\"d\",\"recipient\":3}", "\"recipient\" must be a string or null"},
        {"{\"id\":\"x\",\"operation\":\"insert\",\"collection\":\"c\",\"document_id\":\"1\","
         "\"timestamp\":1,\"namespace\":\"d\"}", "\"recipient\" is missing"},
        {"{\"id\":\"x\",\"id\":\"y\"}", "duplicate"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        cc_event_t *ev = (cc_event_t *)1;
        assert_int_equal(cc_envelope_read(bad[i].json, strlen(bad[i].json), &ev, err, sizeof err),
                         CC_EPARSE);
        assert_null(ev);
        if (!strstr(err, bad[i].why))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].why);
    }
}

/* A source instance over a real bus, without the rest of the runtime. */
typedef struct rig {
    cc_runtime_t rt;
    cc_loaded_plugin_t lp;
    cc_manifest_entry_t entry;
    cc_instance_t in;
    cc_bus_consumer_t *consumer;
} rig_t;

static int rig_setup(void **vs)
{
    rig_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->rt.bus = cc_bus_new(8, 1, NULL, NULL);
    assert_non_null(r->rt.bus);
    r->consumer = cc_bus_consumer_add(r->rt.bus, 1, NULL, NULL);
    r->lp.desc.name = "test_source";
    r->entry.name = "src";
    r->in.rt = &r->rt;
    r->in.entry = &r->entry;
    r->in.plugin = &r->lp;
    *vs = r;
    return 0;
}

static int rig_teardown(void **vs)
{
    rig_t *r = *vs;
    cc_emit_free(&r->in);
    cc_bus_free(r->rt.bus);
    free(r);
    return 0;
}

static void emit_envelope_publishes_the_text_with_its_position(void **vs)
{
    rig_t *r = *vs;
    assert_int_equal(cc_host_api.emit_envelope(&r->in, GOOD, strlen(GOOD), "1-7", "test:1"), 0);
    cc_event_t *got[4];
    uint64_t dropped = 0;
    assert_int_equal(cc_bus_poll(r->consumer, got, 4, &dropped), 1);
    assert_int_equal(got[0]->json_len, strlen(GOOD));
    assert_memory_equal(got[0]->json, GOOD, strlen(GOOD));
    assert_string_equal(got[0]->position, "1-7");
    assert_int_equal(got[0]->source, 0);
    assert_string_equal(cc_host_api.event_recipient(got[0]), "u1");
    assert_string_equal(cc_host_api.event_database(got[0]), "test");
    cc_bus_ack(r->consumer, got, 1);
}

static void emit_envelope_skips_a_bad_one_and_publishes_nothing(void **vs)
{
    rig_t *r = *vs;
    assert_int_equal(cc_host_api.emit_envelope(&r->in, "{\"id\":1}", 8, "1-1", "redis:1-1"),
                     CC_EPARSE);
    cc_event_t *got[4];
    uint64_t dropped = 0;
    assert_int_equal(cc_bus_poll(r->consumer, got, 4, &dropped), 0);
    assert_int_equal(cc_bus_depth(r->rt.bus), 0);
}

static void emit_envelope_after_stop_is_closed(void **vs)
{
    rig_t *r = *vs;
    atomic_store(&r->rt.stopping, 1);
    assert_int_equal(cc_host_api.emit_envelope(&r->in, GOOD, strlen(GOOD), NULL, NULL),
                     CC_ECLOSED);
}

/* ABI 1.3: a position without an event, in order with the events. */
static void emit_position_is_a_marker_in_order(void **vs)
{
    rig_t *r = *vs;
    assert_true(CC_HOST_HAS(&cc_host_api, emit_position));
    assert_int_equal(cc_host_api.emit_envelope(&r->in, GOOD, strlen(GOOD), "1-1", NULL), 0);
    assert_int_equal(cc_host_api.emit_position(&r->in, "1-5"), 0);
    assert_int_equal(cc_host_api.emit_envelope(&r->in, GOOD, strlen(GOOD), "1-6", NULL), 0);
    assert_int_equal(cc_host_api.emit_position(&r->in, NULL), CC_EINVAL);
    cc_event_t *got[4];
    uint64_t dropped = 0;
    assert_int_equal(cc_bus_poll(r->consumer, got, 4, &dropped), 3);
    assert_string_equal(got[0]->position, "1-1");
    assert_int_equal(got[1]->op_mask, 0);   /* the marker: no sink takes it */
    assert_string_equal(got[1]->position, "1-5");
    assert_int_equal(got[1]->json_len, 0);
    assert_string_equal(got[2]->position, "1-6");
    assert_int_not_equal(got[2]->op_mask, 0);
    cc_bus_ack(r->consumer, got, 3);
    atomic_store(&r->rt.stopping, 1);
    assert_int_equal(cc_host_api.emit_position(&r->in, "1-7"), CC_ECLOSED);
}

static void host_table_reaches_emit_envelope(void **unused)
{
    (void)unused;
    assert_true(cc_host_api.abi_minor >= 2);
    assert_true(CC_HOST_HAS(&cc_host_api, emit_envelope));
    /* A host built for 1.1 stops before it: a plugin can tell. */
    cc_host_t old = cc_host_api;
    old.size = offsetof(cc_host_t, emit_envelope);
    assert_false(CC_HOST_HAS(&old, emit_envelope));
}

typedef struct seen {
    int calls;
    char source[32], position[32];
} seen_t;

static void record_written(void *arg, const char *source, const char *position)
{
    seen_t *s = arg;
    s->calls++;
    snprintf(s->source, sizeof s->source, "%s", source);
    snprintf(s->position, sizeof s->position, "%s", position);
}

static int fail_rename(const char *tmp)
{
    (void)tmp;
    return 1;
}

static void written_notice_follows_a_successful_write_only(void **unused)
{
    (void)unused;
    char dir[] = "/tmp/cc-abi12-XXXXXX", path[64], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/state", dir);
    cc_state_t *st = NULL;
    assert_int_equal(cc_state_open(path, &st, err, sizeof err), 0);
    seen_t seen = {0};
    cc_state_on_written(st, record_written, &seen);

    assert_int_equal(cc_state_flush(st, err, sizeof err), 0);
    assert_int_equal(seen.calls, 0);              /* nothing to write */

    assert_int_equal(cc_state_set(st, "redis", "1-5"), 0);
    cc_state_test_before_rename = fail_rename;    /* as a crash before rename */
    assert_int_equal(cc_state_flush(st, err, sizeof err), CC_EIO);
    cc_state_test_before_rename = NULL;
    assert_int_equal(seen.calls, 0);              /* not durable: not told */

    assert_int_equal(cc_state_flush(st, err, sizeof err), 0);
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.source, "redis");
    assert_string_equal(seen.position, "1-5");

    cc_state_free(st);
    char tmp[80];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    unlink(path);
    rmdir(dir);
}

static int fake_init(cc_instance_t *self, const cc_host_t *host, void **state)
{
    (void)self;
    (void)host;
    (void)state;
    return 0;
}
static int fake_start(void *state)
{
    (void)state;
    return 0;
}
static void fake_stop(void *state)
{
    (void)state;
}

static void loader_sizes_for_1_1_to_1_3_descriptors(void **unused)
{
    (void)unused;
    char err[256];
    cc_plugin_t d = {
        .abi_major = CC_ABI_MAJOR, .abi_minor = 1,
        .size = offsetof(cc_plugin_t, committed),   /* a 1.1 build: no `committed` */
        .name = "x", .kind = CC_PLUGIN_SOURCE, .init = fake_init, .start = fake_start,
        .stop = fake_stop, .destroy = fake_stop,
    };
    assert_int_equal(cc_loader_check(&d, err, sizeof err), 0);
    d.abi_minor = 2;   /* claims 1.2 without the field */
    assert_int_equal(cc_loader_check(&d, err, sizeof err), CC_EABI);
    assert_non_null(strstr(err, "too small"));
    d.size = offsetof(cc_plugin_t, check);   /* a 1.2 build: no `check` */
    assert_int_equal(cc_loader_check(&d, err, sizeof err), 0);
    d.abi_minor = 3;   /* claims 1.3 without the field */
    assert_int_equal(cc_loader_check(&d, err, sizeof err), CC_EABI);
    d.size = sizeof(cc_plugin_t);
    assert_int_equal(cc_loader_check(&d, err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(envelope_fields_come_from_its_keys_and_text_is_kept),
        cmocka_unit_test(null_recipient_is_a_broadcast),
        cmocka_unit_test(bad_envelopes_are_refused_naming_the_key),
        cmocka_unit_test_setup_teardown(emit_envelope_publishes_the_text_with_its_position,
                                        rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(emit_envelope_skips_a_bad_one_and_publishes_nothing,
                                        rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(emit_envelope_after_stop_is_closed, rig_setup,
                                        rig_teardown),
        cmocka_unit_test_setup_teardown(emit_position_is_a_marker_in_order, rig_setup,
                                        rig_teardown),
        cmocka_unit_test(host_table_reaches_emit_envelope),
        cmocka_unit_test(written_notice_follows_a_successful_write_only),
        cmocka_unit_test(loader_sizes_for_1_1_to_1_3_descriptors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
