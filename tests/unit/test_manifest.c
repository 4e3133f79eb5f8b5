/* tests/unit/test_manifest.c — the manifest loader: a table of bad
 * manifests with their exact messages, defaults, path resolution, ${NAME}
 * substitution, from/where parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/event.h"
#include "core/manifest.h"

#define FILE_NAME "changecast.json"
#define MIN_SOURCES "\"sources\": [{\"plugin\": \"jsonl\"}]"
#define MIN_SINKS "\"sinks\": [{\"plugin\": \"file\"}]"
#define MIN MIN_SOURCES ", " MIN_SINKS

static cc_manifest_t *parse_ok(const char *text)
{
    char err[512] = "";
    cc_manifest_t *m = NULL;
    int rc = cc_manifest_parse(text, strlen(text), FILE_NAME, &m, err, sizeof err);
    if (rc != 0)
        fail_msg("expected success, got %d: %s", rc, err);
    assert_non_null(m);
    return m;
}

static char *cwd_join(const char *rel)
{
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    size_t n = strlen(cwd) + strlen(rel) + 2;
    char *s = malloc(n);
    assert_non_null(s);
    snprintf(s, n, "%s/%s", cwd, rel);
    return s;
}

/* ---- the table of bad manifests ---------------------------------------------- */

typedef struct bad_row {
    const char *name;   /* what the row proves */
    const char *json;
    const char *msg;    /* the exact message */
} bad_row_t;

static const bad_row_t bad_rows[] = {
    { "syntax_error_reports_line_and_column",
      "{\n  \"sources\": [\n    {\"plugin\": \"jsonl\",}\n  ]\n}",
      FILE_NAME ":3:24: invalid JSON: string or '}' expected near '}'" },
    { "syntax_error_in_a_literal_reports_its_place",
      "{\"sources\": tru}",
      FILE_NAME ":1:15: invalid JSON: invalid token near 'tru'" },
    { "trailing_text_after_the_object_is_a_syntax_error",
      "{" MIN "} x",
      FILE_NAME ":1:67: invalid JSON: end of file expected near 'x'" },
    { "duplicate_json_keys_are_rejected",
      "{" MIN ",\n \"sinks\": []}",
      FILE_NAME ":2:8: invalid JSON: duplicate object key near '\"sinks\"'" },
    { "empty_file_says_what_a_manifest_needs",
      "  \n",
      FILE_NAME ": the manifest is empty; it needs at least \"sources\" and \"sinks\"" },
    { "top_level_array_is_rejected",
      "[]",
      FILE_NAME ": expected an object at the top level" },
    { "unknown_top_level_key_suggests_the_near_one",
      "{\"souces\": [], " MIN "}",
      FILE_NAME ": souces: unknown key; did you mean \"sources\"?" },
    { "unknown_top_level_key_lists_expected_keys",
      "{\"colour\": 1, " MIN "}",
      FILE_NAME ": colour: unknown key; expected one of \"plugin_dir\", \"bus\", \"state\", "
                "\"admin\", \"log\", \"shutdown_ms\", \"sources\", \"sinks\"" },
    { "missing_sources_is_an_error",
      "{" MIN_SINKS "}",
      FILE_NAME ": missing required key \"sources\"" },
    { "missing_sinks_is_an_error",
      "{" MIN_SOURCES "}",
      FILE_NAME ": missing required key \"sinks\"" },
    { "sources_must_be_an_array",
      "{\"sources\": {\"plugin\": \"jsonl\"}, " MIN_SINKS "}",
      FILE_NAME ": sources: expected an array of objects" },
    { "empty_sinks_is_an_error",
      "{" MIN_SOURCES ", \"sinks\": []}",
      FILE_NAME ": sinks: empty array; at least one sink is required" },
    { "source_entry_must_be_an_object",
      "{\"sources\": [\"jsonl\"], " MIN_SINKS "}",
      FILE_NAME ": sources[0]: expected an object" },
    { "entry_without_plugin_is_an_error",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\"}, {\"name\": \"x\"}]}",
      FILE_NAME ": sinks[1]: missing required key \"plugin\"" },
    { "plugin_must_be_a_string",
      "{\"sources\": [{\"plugin\": 7}], " MIN_SINKS "}",
      FILE_NAME ": sources[0].plugin: expected a string" },
    { "plugin_name_cannot_be_a_path",
      "{\"sources\": [{\"plugin\": \"../evil\"}], " MIN_SINKS "}",
      FILE_NAME ": sources[0].plugin: \"../evil\" is not a plugin name (1 to 64 of A-Z a-z "
                "0-9 _ -)" },
    { "name_with_a_space_is_rejected",
      "{\"sources\": [{\"plugin\": \"jsonl\", \"name\": \"my app\"}], " MIN_SINKS "}",
      FILE_NAME ": sources[0].name: \"my app\" is not a valid name (1 to 64 of A-Z a-z 0-9 _ "
                ". -)" },
    { "duplicate_names_across_sinks_are_rejected",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\", \"name\": \"out\"},"
      " {\"plugin\": \"http\", \"name\": \"out\"}]}",
      FILE_NAME ": sinks[1].name: \"out\" is already used by sinks[0]" },
    { "sink_name_may_not_reuse_a_source_name",
      "{\"sources\": [{\"plugin\": \"jsonl\", \"name\": \"app\"}],"
      " \"sinks\": [{\"plugin\": \"file\", \"name\": \"app\"}]}",
      FILE_NAME ": sinks[0].name: \"app\" is already used by sources[0]" },
    { "two_unnamed_entries_of_one_plugin_need_names",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\"}, {\"plugin\": \"file\"}]}",
      FILE_NAME ": sinks[1]: the name defaults to the plugin name \"file\", which is already "
                "used by sinks[0]; set a distinct \"name\"" },
    { "config_must_be_an_object",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\"}, {\"plugin\": \"http\", "
      "\"config\": \"url\"}]}",
      FILE_NAME ": sinks[1].config: expected an object" },
    { "unknown_sink_key_suggests_from",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\", \"form\": [\"jsonl\"]}]}",
      FILE_NAME ": sinks[0].form: unknown key; did you mean \"from\"?" },
    { "sources_take_no_from",
      "{\"sources\": [{\"plugin\": \"jsonl\", \"from\": []}], " MIN_SINKS "}",
      FILE_NAME ": sources[0].from: unknown key; expected one of \"name\", \"plugin\", "
                "\"config\"" },
    { "from_naming_no_source_lists_the_sources",
      "{\"sources\": [{\"plugin\": \"mongo\", \"name\": \"app\"}, {\"plugin\": \"jsonl\", "
      "\"name\": \"replay\"}], \"sinks\": [{\"plugin\": \"file\", \"from\": [\"app\", \"x\"]}]}",
      FILE_NAME ": sinks[0].from[1]: no source named \"x\" (sources: app, replay)" },
    { "from_may_not_name_a_sink",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\"}, {\"plugin\": \"http\", "
      "\"from\": [\"file\"]}]}",
      FILE_NAME ": sinks[1].from[0]: no source named \"file\" (sources: jsonl)" },
    { "from_must_be_an_array",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\", \"from\": \"jsonl\"}]}",
      FILE_NAME ": sinks[0].from: expected an array of source names" },
    { "from_elements_must_be_strings",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\", \"from\": [\"jsonl\", 2]}]}",
      FILE_NAME ": sinks[0].from[1]: expected a string" },
    { "empty_from_is_rejected_as_ambiguous",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\", \"from\": []}]}",
      FILE_NAME ": sinks[0].from: empty array; name sources, or leave \"from\" out for every "
                "source" },
    { "from_listing_a_source_twice_is_rejected",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\", \"from\": [\"jsonl\", \"jsonl\"]}]}",
      FILE_NAME ": sinks[0].from[1]: \"jsonl\" is already listed in from[0]" },
    { "unknown_where_operation_lists_the_valid_ones",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\", \"where\": {\"operation\": "
      "[\"insert\", \"upsert\"]}}]}",
      FILE_NAME ": sinks[0].where.operation[1]: unknown operation \"upsert\"; expected one of "
                "\"insert\", \"update\", \"replace\", \"delete\", \"invalidate\", \"drop\", "
                "\"rename\", \"dropDatabase\", \"snapshot\"" },
    { "where_operation_must_be_an_array",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\", \"where\": {\"operation\": "
      "\"insert\"}}]}",
      FILE_NAME ": sinks[0].where.operation: expected an array of strings" },
    { "where_unknown_key_suggests_collection",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\", \"where\": {\"collections\": "
      "[\"a\"]}}]}",
      FILE_NAME ": sinks[0].where.collections: unknown key; did you mean \"collection\"?" },
    { "where_recipient_present_must_be_boolean",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\", \"where\": {\"recipient_present\": "
      "\"yes\"}}]}",
      FILE_NAME ": sinks[0].where.recipient_present: expected true or false" },
    { "where_must_be_an_object",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\", \"where\": [\"insert\"]}]}",
      FILE_NAME ": sinks[0].where: expected an object" },
    { "bad_on_full_lists_block_and_drop",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\", \"on_full\": \"wait\"}]}",
      FILE_NAME ": sinks[0].on_full: must be one of \"block\", \"drop\"; got \"wait\"" },
    { "non_power_of_two_capacity_is_rejected",
      "{\"bus\": {\"capacity\": 1000}, " MIN "}",
      FILE_NAME ": bus.capacity: must be a power of two between 2 and 16777216 (e.g. 65536); "
                "got 1000" },
    { "capacity_above_the_limit_is_rejected",
      "{\"bus\": {\"capacity\": 33554432}, " MIN "}",
      FILE_NAME ": bus.capacity: must be a power of two between 2 and 16777216 (e.g. 65536); "
                "got 33554432" },
    { "capacity_as_a_string_is_a_type_error",
      "{\"bus\": {\"capacity\": \"64k\"}, " MIN "}",
      FILE_NAME ": bus.capacity: expected an integer" },
    { "capacity_as_a_real_is_a_type_error",
      "{\"bus\": {\"capacity\": 65536.0}, " MIN "}",
      FILE_NAME ": bus.capacity: expected an integer" },
    { "bus_must_be_an_object",
      "{\"bus\": 65536, " MIN "}",
      FILE_NAME ": bus: expected an object" },
    { "unknown_bus_key_suggests_capacity",
      "{\"bus\": {\"capacty\": 1024}, " MIN "}",
      FILE_NAME ": bus.capacty: unknown key; did you mean \"capacity\"?" },
    { "flush_ms_zero_is_out_of_range",
      "{\"state\": {\"flush_ms\": 0}, " MIN "}",
      FILE_NAME ": state.flush_ms: must be between 1 and 3600000; got 0" },
    { "empty_state_path_is_rejected",
      "{\"state\": {\"path\": \"\"}, " MIN "}",
      FILE_NAME ": state.path: must not be empty; leave it out for \"changecast.state\"" },
    { "listen_without_port_is_rejected",
      "{\"admin\": {\"listen\": \"localhost\"}, " MIN "}",
      FILE_NAME ": admin.listen: expected \"host:port\", e.g. \"127.0.0.1:9464\" or "
                "\"[::1]:9464\" (\"\" disables the admin listener); got \"localhost\"" },
    { "listen_port_above_65535_is_rejected",
      "{\"admin\": {\"listen\": \"0.0.0.0:70000\"}, " MIN "}",
      FILE_NAME ": admin.listen: the port must be a number between 0 and 65535; got "
                "\"0.0.0.0:70000\"" },
    { "listen_ipv6_without_brackets_is_rejected",
      "{\"admin\": {\"listen\": \"::1:9464\"}, " MIN "}",
      FILE_NAME ": admin.listen: write an IPv6 address in brackets, e.g. \"[::1]:9464\"; got "
                "\"::1:9464\"" },
    { "listen_as_a_number_is_a_type_error",
      "{\"admin\": {\"listen\": 9464}, " MIN "}",
      FILE_NAME ": admin.listen: expected a string" },
    { "bad_log_level_lists_the_levels",
      "{\"log\": {\"level\": \"verbose\"}, " MIN "}",
      FILE_NAME ": log.level: must be one of \"error\", \"warn\", \"info\", \"debug\"; got "
                "\"verbose\"" },
    { "bad_log_format_lists_the_formats",
      "{\"log\": {\"format\": \"logfmt\"}, " MIN "}",
      FILE_NAME ": log.format: must be one of \"text\", \"json\"; got \"logfmt\"" },
    { "negative_shutdown_ms_is_out_of_range",
      "{\"shutdown_ms\": -1, " MIN "}",
      FILE_NAME ": shutdown_ms: must be between 0 and 3600000; got -1" },
    { "plugin_dir_as_a_number_is_a_type_error",
      "{\"plugin_dir\": 1, " MIN "}",
      FILE_NAME ": plugin_dir: expected a string or an array of strings" },
    { "plugin_dir_element_must_be_a_string",
      "{\"plugin_dir\": [\"a\", null], " MIN "}",
      FILE_NAME ": plugin_dir[1]: expected a string" },
    { "plugin_dir_with_an_empty_folder_is_rejected",
      "{\"plugin_dir\": \"a::b\", " MIN "}",
      FILE_NAME ": plugin_dir: empty folder name in \"a::b\" (separate folders with one "
                "\":\")" },
    { "unset_environment_variable_names_variable_and_place",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"http\", \"config\": "
      "{\"secret\": \"${CC_TEST_UNSET_VAR}\"}}]}",
      FILE_NAME ": sinks[0].config.secret: environment variable CC_TEST_UNSET_VAR is not set" },
    { "unset_variable_deep_in_config_names_the_nested_place",
      "{\"sources\": [{\"plugin\": \"mongo\", \"config\": {\"watch\": [{\"collection\": \"a\"}, "
      "{\"collection\": \"x-${CC_TEST_UNSET_VAR}\"}]}}], " MIN_SINKS "}",
      FILE_NAME ": sources[0].config.watch[1].collection: environment variable "
                "CC_TEST_UNSET_VAR is not set" },
    { "unterminated_dollar_brace_is_an_error",
      "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"http\", \"config\": "
      "{\"auth\": {\"jwt_secret\": \"${JWT\"}}}]}",
      FILE_NAME ": sinks[0].config.auth.jwt_secret: unterminated \"${\" (close it with \"}\", "
                "or write \"$${\" for a literal \"${\")" },
    { "invalid_variable_name_is_an_error",
      "{\"state\": {\"path\": \"${1DIR}/state\"}, " MIN "}",
      FILE_NAME ": state.path: invalid environment variable name \"1DIR\" in \"${...}\" (use "
                "letters, digits and _, not starting with a digit)" },
    { "empty_variable_name_is_an_error",
      "{\"log\": {\"path\": \"${}\"}, " MIN "}",
      FILE_NAME ": log.path: invalid environment variable name \"\" in \"${...}\" (use "
                "letters, digits and _, not starting with a digit)" },
    { "control_characters_in_keys_keep_the_message_on_one_line",
      "{\"a\\nb\": 1, " MIN "}",
      FILE_NAME ": a?b: unknown key; expected one of \"plugin_dir\", \"bus\", \"state\", "
                "\"admin\", \"log\", \"shutdown_ms\", \"sources\", \"sinks\"" },
};

static void test_bad_row(void **state)
{
    const bad_row_t *row = *state;
    char err[1024] = "";
    cc_manifest_t *m = (cc_manifest_t *)(uintptr_t)1;
    int rc = cc_manifest_parse(row->json, strlen(row->json), FILE_NAME, &m, err, sizeof err);
    if (rc != CC_ECONFIG)
        fail_msg("%s: expected CC_ECONFIG, got %d (%s)", row->name, rc, err);
    assert_null(m);
    assert_null(strchr(err, '\n'));
    if (strcmp(err, row->msg) != 0)
        fail_msg("%s:\n  expected: %s\n  got:      %s", row->name, row->msg, err);
}

/* ---- good manifests ---------------------------------------------------------- */

static void test_minimal_manifest_gets_every_default(void **state)
{
    (void)state;
    cc_manifest_t *m = parse_ok("{" MIN "}");
    char *dir = cwd_join("");
    dir[strlen(dir) - 1] = '\0';
    char *state_path = cwd_join("changecast.state");
    assert_string_equal(m->path, FILE_NAME);
    assert_string_equal(m->display, FILE_NAME);
    assert_string_equal(m->dir, dir);
    assert_int_equal(m->n_plugin_dirs, 0);
    assert_null(m->plugin_dirs);
    assert_int_equal(m->bus_capacity, 65536);
    assert_string_equal(m->state_path, state_path);
    assert_int_equal(m->flush_ms, 500);
    assert_string_equal(m->admin_listen, "127.0.0.1:9464");
    assert_int_equal(m->log_level, CC_LOG_INFO);
    assert_int_equal(m->log_json, 0);
    assert_null(m->log_path);
    assert_int_equal(m->shutdown_ms, 10000);

    assert_int_equal(m->n_sources, 1);
    cc_manifest_entry_t *src = &m->sources[0];
    assert_string_equal(src->place, "sources[0]");
    assert_string_equal(src->name, "jsonl");
    assert_string_equal(src->plugin, "jsonl");
    assert_true(json_is_object(src->config));
    assert_int_equal(json_object_size(src->config), 0);

    assert_int_equal(m->n_sinks, 1);
    cc_manifest_entry_t *sink = &m->sinks[0];
    assert_string_equal(sink->place, "sinks[0]");
    assert_string_equal(sink->name, "file");
    assert_string_equal(sink->plugin, "file");
    assert_true(json_is_object(sink->config));
    assert_int_equal(json_object_size(sink->config), 0);
    assert_int_equal(sink->n_from, 0);
    assert_null(sink->from);
    assert_int_equal(sink->where.op_mask, 0);
    assert_int_equal(sink->where.n_operations, 0);
    assert_int_equal(sink->where.n_databases, 0);
    assert_int_equal(sink->where.n_collections, 0);
    assert_int_equal(sink->where.recipient_present, -1);
    assert_int_equal(sink->on_full, CC_ON_FULL_DEFAULT);
    free(dir);
    free(state_path);
    cc_manifest_free(m);
}

static void test_every_setting_is_read(void **state)
{
    (void)state;
    cc_manifest_t *m = parse_ok(
        "{\"plugin_dir\": \"/opt/cc/plugins\","
        " \"bus\": {\"capacity\": 1024},"
        " \"state\": {\"path\": \"/var/lib/cc/state\", \"flush_ms\": 250},"
        " \"admin\": {\"listen\": \"[::1]:0\"},"
        " \"log\": {\"level\": \"debug\", \"format\": \"json\", \"path\": \"/var/log/cc.log\"},"
        " \"shutdown_ms\": 0,"
        " \"sources\": [{\"name\": \"app\", \"plugin\": \"mongo\", \"config\": {\"uri\": \"x\"}}],"
        " \"sinks\": [{\"name\": \"live.ws-1\", \"plugin\": \"websocket\", \"on_full\": \"drop\"},"
        "             {\"name\": \"audit\", \"plugin\": \"database\", \"on_full\": \"block\"}]}");
    assert_int_equal(m->n_plugin_dirs, 1);
    assert_string_equal(m->plugin_dirs[0], "/opt/cc/plugins");
    assert_int_equal(m->bus_capacity, 1024);
    assert_string_equal(m->state_path, "/var/lib/cc/state");
    assert_int_equal(m->flush_ms, 250);
    assert_string_equal(m->admin_listen, "[::1]:0");
    assert_int_equal(m->log_level, CC_LOG_DEBUG);
    assert_int_equal(m->log_json, 1);
    assert_string_equal(m->log_path, "/var/log/cc.log");
    assert_int_equal(m->shutdown_ms, 0);
    assert_string_equal(m->sources[0].name, "app");
    assert_string_equal(json_string_value(json_object_get(m->sources[0].config, "uri")), "x");
    assert_string_equal(m->sinks[0].name, "live.ws-1");
    assert_int_equal(m->sinks[0].on_full, CC_ON_FULL_DROP);
    assert_int_equal(m->sinks[1].on_full, CC_ON_FULL_BLOCK);
    cc_manifest_free(m);
}

static void test_empty_admin_listen_disables_admin(void **state)
{
    (void)state;
    cc_manifest_t *m = parse_ok("{\"admin\": {\"listen\": \"\"}, " MIN "}");
    assert_null(m->admin_listen);
    cc_manifest_free(m);
}

static void test_listen_accepts_names_ipv4_ipv6_and_port_zero(void **state)
{
    (void)state;
    static const char *const good[] = { "localhost:9464", "0.0.0.0:0", "[::]:65535",
                                        "[fe80::1%eth0]:80", "my-host.example.org:8080" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "{\"admin\": {\"listen\": \"%s\"}, " MIN "}", good[i]);
        cc_manifest_t *m = parse_ok(text);
        assert_string_equal(m->admin_listen, good[i]);
        cc_manifest_free(m);
    }
    static const char *const bad[] = { ":9464", "host:", "host:port", "[::1]9464", "[]:1",
                                       "[1.2.3.4]:80", "a b:1", "host:123456", "host:-1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256], err[512];
        snprintf(text, sizeof text, "{\"admin\": {\"listen\": \"%s\"}, " MIN "}", bad[i]);
        cc_manifest_t *m = NULL;
        int rc = cc_manifest_parse(text, strlen(text), FILE_NAME, &m, err, sizeof err);
        if (rc != CC_ECONFIG)
            fail_msg("listen \"%s\" was accepted", bad[i]);
        assert_non_null(strstr(err, "admin.listen: "));
    }
}

static void test_relative_paths_resolve_against_the_manifest_folder(void **state)
{
    (void)state;
    const char *text =
        "{\"plugin_dir\": [\"plugins\", \"/abs/one:./rel/two\", \"../up\"],"
        " \"state\": {\"path\": \"./data/cc.state\"},"
        " \"log\": {\"path\": \"logs/cc.log\"}, " MIN "}";
    char err[512];
    cc_manifest_t *m = NULL;
    assert_int_equal(cc_manifest_parse(text, strlen(text), "/etc/changecast/main.json", &m, err,
                                       sizeof err), 0);
    assert_string_equal(m->dir, "/etc/changecast");
    assert_int_equal(m->n_plugin_dirs, 4);
    assert_string_equal(m->plugin_dirs[0], "/etc/changecast/plugins");
    assert_string_equal(m->plugin_dirs[1], "/abs/one");
    assert_string_equal(m->plugin_dirs[2], "/etc/changecast/rel/two");
    assert_string_equal(m->plugin_dirs[3], "/etc/changecast/../up");
    assert_string_equal(m->state_path, "/etc/changecast/data/cc.state");
    assert_string_equal(m->log_path, "/etc/changecast/logs/cc.log");
    cc_manifest_free(m);
}

static void test_relative_manifest_path_resolves_against_the_working_folder(void **state)
{
    (void)state;
    const char *text = "{\"plugin_dir\": \"p\", " MIN "}";
    char err[512];
    cc_manifest_t *m = NULL;
    assert_int_equal(cc_manifest_parse(text, strlen(text), "./etc/x.json", &m, err, sizeof err),
                     0);
    char *dir = cwd_join("etc");
    char *p = cwd_join("etc/p");
    char *st = cwd_join("etc/changecast.state");
    assert_string_equal(m->path, "./etc/x.json");
    assert_string_equal(m->dir, dir);
    assert_string_equal(m->plugin_dirs[0], p);
    assert_string_equal(m->state_path, st);
    free(dir);
    free(p);
    free(st);
    cc_manifest_free(m);

    /* A manifest at the root keeps a single slash. */
    assert_int_equal(cc_manifest_parse(text, strlen(text), "/x.json", &m, err, sizeof err), 0);
    assert_string_equal(m->dir, "/");
    assert_string_equal(m->plugin_dirs[0], "/p");
    cc_manifest_free(m);
}

static void test_env_vars_are_substituted_in_nested_config(void **state)
{
    (void)state;
    setenv("CC_TEST_SECRET", "s3cret", 1);
    setenv("CC_TEST_HOST", "db1", 1);
    setenv("CC_TEST_EMPTY", "", 1);
    cc_manifest_t *m = parse_ok(
        "{\"admin\": {\"listen\": \"${CC_TEST_HOST}:9464\"},"
        " \"sources\": [{\"name\": \"${CC_TEST_HOST}\", \"plugin\": \"mongo\", \"config\": {"
        "   \"uri\": \"mongodb://${CC_TEST_HOST}:27017/?x=${CC_TEST_EMPTY}\","
        "   \"watch\": [{\"collection\": \"a\"}, {\"collection\": \"${CC_TEST_HOST}_c\"}]}}],"
        " \"sinks\": [{\"plugin\": \"http\", \"config\": {"
        "   \"auth\": {\"jwt_secret\": \"${CC_TEST_SECRET}\"},"
        "   \"literal\": \"$${CC_TEST_SECRET}\","
        "   \"dollars\": \"a$b $$ c$\","
        "   \"number\": 5}}]}");
    assert_string_equal(m->admin_listen, "db1:9464");
    assert_string_equal(m->sources[0].name, "db1");
    json_t *sc = m->sources[0].config;
    assert_string_equal(json_string_value(cc_json_path(sc, "uri")), "mongodb://db1:27017/?x=");
    json_t *watch = json_object_get(sc, "watch");
    assert_string_equal(json_string_value(json_object_get(json_array_get(watch, 0), "collection")),
                        "a");
    assert_string_equal(json_string_value(json_object_get(json_array_get(watch, 1), "collection")),
                        "db1_c");
    json_t *kc = m->sinks[0].config;
    assert_string_equal(json_string_value(cc_json_path(kc, "auth.jwt_secret")), "s3cret");
    assert_string_equal(json_string_value(cc_json_path(kc, "literal")), "${CC_TEST_SECRET}");
    assert_string_equal(json_string_value(cc_json_path(kc, "dollars")), "a$b $$ c$");
    assert_int_equal(json_integer_value(cc_json_path(kc, "number")), 5);
    cc_manifest_free(m);
}

static void test_substituted_value_is_not_expanded_again(void **state)
{
    (void)state;
    setenv("CC_TEST_TRICKY", "${CC_TEST_UNSET_VAR}", 1);
    cc_manifest_t *m = parse_ok(
        "{\"state\": {\"path\": \"/x/${CC_TEST_TRICKY}\"}, " MIN "}");
    assert_string_equal(m->state_path, "/x/${CC_TEST_UNSET_VAR}");
    cc_manifest_free(m);
}

static void test_env_var_that_is_not_utf8_is_an_error(void **state)
{
    (void)state;
    setenv("CC_TEST_LATIN1", "caf\xe9", 1);
    const char *text = "{\"state\": {\"path\": \"${CC_TEST_LATIN1}\"}, " MIN "}";
    char err[512];
    cc_manifest_t *m = NULL;
    assert_int_equal(cc_manifest_parse(text, strlen(text), FILE_NAME, &m, err, sizeof err),
                     CC_ECONFIG);
    assert_string_equal(err, FILE_NAME ": state.path: environment variable CC_TEST_LATIN1 is "
                                       "not valid UTF-8");
}

static void test_env_var_with_multibyte_text_is_substituted(void **state)
{
    (void)state;
    setenv("CC_TEST_UTF8", "caf\xc3\xa9 \xe2\x98\x95 \xf0\x9d\x84\x9e", 1);
    cc_manifest_t *m = parse_ok("{\"state\": {\"path\": \"/${CC_TEST_UTF8}\"}, " MIN "}");
    assert_string_equal(m->state_path, "/caf\xc3\xa9 \xe2\x98\x95 \xf0\x9d\x84\x9e");
    cc_manifest_free(m);
    /* Overlong, surrogate and truncated sequences are refused. */
    static const char *const bad[] = { "\xc0\xaf", "\xed\xa0\x80", "\xe2\x98", "\xf4\x90\x80\x80" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("CC_TEST_UTF8", bad[i], 1);
        const char *text = "{\"state\": {\"path\": \"${CC_TEST_UTF8}\"}, " MIN "}";
        char err[512];
        cc_manifest_t *bad_m = NULL;
        assert_int_equal(cc_manifest_parse(text, strlen(text), FILE_NAME, &bad_m, err, sizeof err),
                         CC_ECONFIG);
        assert_null(bad_m);
    }
}

static void test_from_and_where_are_parsed(void **state)
{
    (void)state;
    cc_manifest_t *m = parse_ok(
        "{\"sources\": [{\"name\": \"app\", \"plugin\": \"mongo\"},"
        "              {\"name\": \"replay\", \"plugin\": \"jsonl\"}],"
        " \"sinks\": [{\"name\": \"live\", \"plugin\": \"websocket\", \"from\": [\"replay\", \"app\"],"
        "   \"where\": {\"operation\": [\"insert\", \"delete\", \"dropDatabase\"],"
        "               \"database\": [\"test\"], \"collection\": [\"orders\", \"users\"],"
        "               \"recipient_present\": true}},"
        "  {\"name\": \"bcast\", \"plugin\": \"redis\", \"where\": {\"recipient_present\": false,"
        "   \"operation\": []}}]}");
    cc_manifest_entry_t *live = &m->sinks[0];
    assert_int_equal(live->n_from, 2);
    assert_string_equal(live->from[0], "replay");
    assert_string_equal(live->from[1], "app");
    assert_int_equal(live->where.op_mask, CC_OP_INSERT | CC_OP_DELETE | CC_OP_DROPDATABASE);
    assert_int_equal(live->where.n_operations, 3);
    assert_string_equal(live->where.operations[2], "dropDatabase");
    assert_int_equal(live->where.n_databases, 1);
    assert_string_equal(live->where.databases[0], "test");
    assert_int_equal(live->where.n_collections, 2);
    assert_string_equal(live->where.collections[1], "users");
    assert_int_equal(live->where.recipient_present, 1);

    cc_manifest_entry_t *bcast = &m->sinks[1];
    assert_int_equal(bcast->n_from, 0);
    assert_int_equal(bcast->where.recipient_present, 0);
    assert_int_equal(bcast->where.op_mask, 0);   /* empty list: any operation */
    assert_int_equal(bcast->where.n_operations, 0);
    cc_manifest_free(m);
}

static void test_every_operation_name_maps_to_its_bit(void **state)
{
    (void)state;
    cc_manifest_t *m = parse_ok(
        "{" MIN_SOURCES ", \"sinks\": [{\"plugin\": \"file\", \"where\": {\"operation\": "
        "[\"insert\", \"update\", \"replace\", \"delete\", \"invalidate\", \"drop\", \"rename\","
        " \"dropDatabase\", \"snapshot\"]}}]}");
    assert_int_equal(m->sinks[0].where.op_mask,
                     CC_OP_INSERT | CC_OP_UPDATE | CC_OP_REPLACE | CC_OP_DELETE |
                         CC_OP_INVALIDATE | CC_OP_DROP | CC_OP_RENAME | CC_OP_DROPDATABASE |
                         CC_OP_SNAPSHOT);
    cc_manifest_free(m);
}

static void test_config_is_a_reference_that_outlives_the_document(void **state)
{
    (void)state;
    cc_manifest_t *m = parse_ok(
        "{\"sources\": [{\"plugin\": \"jsonl\", \"config\": {\"path\": \"-\", \"rate\": 10}}], "
        MIN_SINKS "}");
    json_t *c = m->sources[0].config;
    assert_int_equal(c->refcount, 1);
    assert_string_equal(json_string_value(json_object_get(c, "path")), "-");
    cc_manifest_free(m);
}

/* ---- files --------------------------------------------------------------------- */

static void test_missing_file_says_cannot_read(void **state)
{
    (void)state;
    char err[512];
    cc_manifest_t *m = (cc_manifest_t *)(uintptr_t)1;
    assert_int_equal(cc_manifest_load("no-such-dir/changecast.json", &m, err, sizeof err),
                     CC_ECONFIG);
    assert_null(m);
    assert_string_equal(err, "no-such-dir/changecast.json: cannot read: No such file or "
                             "directory");
}

static void test_folder_instead_of_file_says_cannot_read(void **state)
{
    (void)state;
    char err[512];
    cc_manifest_t *m = NULL;
    assert_int_equal(cc_manifest_load("/", &m, err, sizeof err), CC_ECONFIG);
    assert_string_equal(err, "/: cannot read: Is a directory");
}

static void test_load_reads_the_file_and_resolves_against_its_folder(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/cc-manifest-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    char path[256];
    snprintf(path, sizeof path, "%s/changecast.json", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\n  \"plugin_dir\": \"plugins\",\n  " MIN "\n}\n", fp);
    fclose(fp);

    char err[512], want[300];
    cc_manifest_t *m = NULL;
    assert_int_equal(cc_manifest_load(path, &m, err, sizeof err), 0);
    assert_string_equal(m->path, path);
    assert_string_equal(m->dir, dir);
    snprintf(want, sizeof want, "%s/plugins", dir);
    assert_string_equal(m->plugin_dirs[0], want);
    snprintf(want, sizeof want, "%s/changecast.state", dir);
    assert_string_equal(m->state_path, want);
    cc_manifest_free(m);

    /* A syntax error in a loaded file is prefixed with the path as given. */
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\n  \"sources\": [\n", fp);
    fclose(fp);
    assert_int_equal(cc_manifest_load(path, &m, err, sizeof err), CC_ECONFIG);
    snprintf(want, sizeof want, "%s:3:0: invalid JSON: ", path);
    assert_memory_equal(err, want, strlen(want));

    unlink(path);
    rmdir(dir);
}

static void test_small_error_buffer_is_truncated_not_overrun(void **state)
{
    (void)state;
    char err[16];
    memset(err, 'X', sizeof err);
    cc_manifest_t *m = NULL;
    const char *text = "{\"colour\": 1, " MIN "}";
    assert_int_equal(cc_manifest_parse(text, strlen(text), FILE_NAME, &m, err, 12), CC_ECONFIG);
    assert_string_equal(err, "changecast.");
    assert_int_equal(err[12], 'X');
    /* No buffer at all is allowed. */
    assert_int_equal(cc_manifest_parse(text, strlen(text), FILE_NAME, &m, NULL, 0), CC_ECONFIG);
}

static void test_free_accepts_null(void **state)
{
    (void)state;
    cc_manifest_free(NULL);
}

int main(void)
{
    unsetenv("CC_TEST_UNSET_VAR");
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_minimal_manifest_gets_every_default),
        cmocka_unit_test(test_every_setting_is_read),
        cmocka_unit_test(test_empty_admin_listen_disables_admin),
        cmocka_unit_test(test_listen_accepts_names_ipv4_ipv6_and_port_zero),
        cmocka_unit_test(test_relative_paths_resolve_against_the_manifest_folder),
        cmocka_unit_test(test_relative_manifest_path_resolves_against_the_working_folder),
        cmocka_unit_test(test_env_vars_are_substituted_in_nested_config),
        cmocka_unit_test(test_substituted_value_is_not_expanded_again),
        cmocka_unit_test(test_env_var_that_is_not_utf8_is_an_error),
        cmocka_unit_test(test_env_var_with_multibyte_text_is_substituted),
        cmocka_unit_test(test_from_and_where_are_parsed),
        cmocka_unit_test(test_every_operation_name_maps_to_its_bit),
        cmocka_unit_test(test_config_is_a_reference_that_outlives_the_document),
        cmocka_unit_test(test_missing_file_says_cannot_read),
        cmocka_unit_test(test_folder_instead_of_file_says_cannot_read),
        cmocka_unit_test(test_load_reads_the_file_and_resolves_against_its_folder),
        cmocka_unit_test(test_small_error_buffer_is_truncated_not_overrun),
        cmocka_unit_test(test_free_accepts_null),
    };
    enum { N_FIXED = sizeof fixed / sizeof fixed[0], N_BAD = sizeof bad_rows / sizeof bad_rows[0] };

    /* One named test per bad-manifest row, so a failure says which. */
    struct CMUnitTest tests[N_FIXED + N_BAD];
    memcpy(tests, fixed, sizeof fixed);
    for (size_t i = 0; i < N_BAD; i++) {
        tests[N_FIXED + i] = (struct CMUnitTest){
            .name = bad_rows[i].name,
            .test_func = test_bad_row,
            .initial_state = (void *)(uintptr_t)&bad_rows[i],
        };
    }
    return _cmocka_run_group_tests("manifest", tests, N_FIXED + N_BAD, NULL, NULL);
}
