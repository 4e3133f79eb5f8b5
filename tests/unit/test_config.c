/* tests/unit/test_config.c — plugin config tables: types, required keys,
 * choices, ranges, nested tables, defaults, suggestions, help text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/manifest.h"

#define PLACE "sinks[0].config"

/* A sample plugin's table, shaped like the mongo source and the websocket
 * sink, using every key type. */
static const char *const slow_choices[] = { "close", "conflate", NULL };
static const char *const op_choices[] = { "insert", "update", "replace", "delete", NULL };

static const cc_config_field_t lookup_fields[] = {
    { .name = "collection", .type = CC_CFG_STRING, .required = 1, .doc = "Collection to read." },
    { .name = "cache_ms", .type = CC_CFG_INT, .def = "30000", .min = 0, .max = 3600000,
      .doc = "How long to keep a result." },
    { .name = NULL }
};

static const cc_config_field_t watch_fields[] = {
    { .name = "collection", .type = CC_CFG_STRING, .required = 1, .doc = "Collection or \"*\"." },
    { .name = "operations", .type = CC_CFG_STRINGS,
      .def = "[\"insert\", \"update\", \"replace\", \"delete\"]", .choices = op_choices },
    { .name = "pipeline", .type = CC_CFG_JSON },
    { .name = "snapshot", .type = CC_CFG_BOOL, .def = "false" },
    { .name = "recipient_lookup", .type = CC_CFG_OBJECT, .fields = lookup_fields },
    { .name = NULL }
};

static const cc_config_field_t auth_fields[] = {
    { .name = "jwt_secret", .type = CC_CFG_STRING, .required = 1 },
    { .name = "recipient_claim", .type = CC_CFG_STRING, .def = "\"sub\"" },
    { .name = NULL }
};

static const cc_config_field_t tls_fields[] = {
    { .name = "verify", .type = CC_CFG_BOOL, .def = "true" },
    { .name = "ca", .type = CC_CFG_STRING },
    { .name = NULL }
};

static const cc_config_field_t table[] = {
    { .name = "url", .type = CC_CFG_STRING, .required = 1, .doc = "Where to POST events." },
    { .name = "timeout_ms", .type = CC_CFG_INT, .def = "5000", .min = 1, .max = 600000 },
    { .name = "ratio", .type = CC_CFG_DOUBLE, .def = "0.5", .min = 0, .max = 1 },
    { .name = "verbose", .type = CC_CFG_BOOL, .def = "false" },
    { .name = "on_slow", .type = CC_CFG_STRING, .def = "\"close\"", .choices = slow_choices },
    { .name = "headers", .type = CC_CFG_OBJECT, .def = "{}" },
    { .name = "auth", .type = CC_CFG_OBJECT, .fields = auth_fields },
    { .name = "tls", .type = CC_CFG_OBJECT, .def = "{}", .fields = tls_fields },
    { .name = "watch", .type = CC_CFG_OBJECTS, .fields = watch_fields },
    { .name = "count", .type = CC_CFG_INT },          /* no range: min == max */
    { .name = "extra", .type = CC_CFG_JSON },
    { .name = NULL }
};

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (!v)
        fail_msg("bad test JSON: %s", je.text);
    return v;
}

static void check_ok(json_t *config)
{
    char err[512] = "";
    int rc = cc_config_validate(config, table, PLACE, err, sizeof err);
    if (rc != 0)
        fail_msg("expected success, got %d: %s", rc, err);
}

/* ---- a table of bad configs ---------------------------------------------------- */

typedef struct bad_row {
    const char *name;
    const char *json;
    const char *msg;
} bad_row_t;

static const bad_row_t bad_rows[] = {
    { "config_that_is_not_an_object_is_rejected", "[]", PLACE ": expected an object" },
    { "missing_required_key_is_named", "{\"timeout_ms\": 5}",
      PLACE ": missing required key \"url\"" },
    { "string_key_given_a_number", "{\"url\": 5}", PLACE ".url: expected a string" },
    { "string_key_given_null", "{\"url\": null}", PLACE ".url: expected a string" },
    { "integer_key_given_a_string", "{\"url\": \"u\", \"timeout_ms\": \"5\"}",
      PLACE ".timeout_ms: expected an integer" },
    { "integer_key_given_a_real", "{\"url\": \"u\", \"timeout_ms\": 1.5}",
      PLACE ".timeout_ms: expected an integer" },
    { "integer_below_its_range", "{\"url\": \"u\", \"timeout_ms\": 0}",
      PLACE ".timeout_ms: must be between 1 and 600000; got 0" },
    { "integer_above_its_range", "{\"url\": \"u\", \"timeout_ms\": 600001}",
      PLACE ".timeout_ms: must be between 1 and 600000; got 600001" },
    { "number_key_given_a_string", "{\"url\": \"u\", \"ratio\": \"half\"}",
      PLACE ".ratio: expected a number" },
    { "number_above_its_range_shows_the_value", "{\"url\": \"u\", \"ratio\": 1.25}",
      PLACE ".ratio: must be between 0 and 1; got 1.25" },
    { "boolean_key_given_a_string", "{\"url\": \"u\", \"verbose\": \"yes\"}",
      PLACE ".verbose: expected true or false" },
    { "string_outside_its_choices", "{\"url\": \"u\", \"on_slow\": \"drop\"}",
      PLACE ".on_slow: must be one of \"close\", \"conflate\"; got \"drop\"" },
    { "object_key_given_an_array", "{\"url\": \"u\", \"headers\": []}",
      PLACE ".headers: expected an object" },
    { "objects_key_given_an_object", "{\"url\": \"u\", \"watch\": {}}",
      PLACE ".watch: expected an array of objects" },
    { "objects_element_that_is_not_an_object", "{\"url\": \"u\", \"watch\": [1]}",
      PLACE ".watch[0]: expected an object" },
    { "strings_key_given_a_string",
      "{\"url\": \"u\", \"watch\": [{\"collection\": \"a\"}, {\"collection\": \"b\", "
      "\"operations\": \"insert\"}]}",
      PLACE ".watch[1].operations: expected an array of strings" },
    { "strings_element_that_is_not_a_string",
      "{\"url\": \"u\", \"watch\": [{\"collection\": \"a\", \"operations\": [1]}]}",
      PLACE ".watch[0].operations[0]: expected a string" },
    { "strings_element_outside_its_choices",
      "{\"url\": \"u\", \"watch\": [{\"collection\": \"a\", \"operations\": [\"insert\", "
      "\"upsert\"]}]}",
      PLACE ".watch[0].operations[1]: must be one of \"insert\", \"update\", \"replace\", "
            "\"delete\"; got \"upsert\"" },
    { "nested_element_missing_a_required_key",
      "{\"url\": \"u\", \"watch\": [{\"collection\": \"a\"}, {\"snapshot\": true}]}",
      PLACE ".watch[1]: missing required key \"collection\"" },
    { "range_checked_two_levels_down",
      "{\"url\": \"u\", \"watch\": [{\"collection\": \"a\", \"recipient_lookup\": "
      "{\"collection\": \"b\", \"cache_ms\": -1}}]}",
      PLACE ".watch[0].recipient_lookup.cache_ms: must be between 0 and 3600000; got -1" },
    { "unknown_key_suggests_a_near_key", "{\"url\": \"u\", \"timeoutms\": 5}",
      PLACE ".timeoutms: unknown key; did you mean \"timeout_ms\"?" },
    { "unknown_key_differing_in_case_is_suggested", "{\"URL\": \"u\"}",
      PLACE ".URL: unknown key; did you mean \"url\"?" },
    { "swapped_letters_count_as_one_edit", "{\"url\": \"u\", \"vebrose\": true}",
      PLACE ".vebrose: unknown key; did you mean \"verbose\"?" },
    { "unknown_key_far_from_all_lists_them", "{\"url\": \"u\", \"colour\": 1}",
      PLACE ".colour: unknown key; expected one of \"url\", \"timeout_ms\", \"ratio\", "
            "\"verbose\", \"on_slow\", \"headers\", \"auth\", \"tls\", \"watch\", \"count\", "
            "\"extra\"" },
    { "unknown_nested_key_suggests_within_its_table",
      "{\"url\": \"u\", \"auth\": {\"jwt_secert\": \"s\"}}",
      PLACE ".auth.jwt_secert: unknown key; did you mean \"jwt_secret\"?" },
    { "unknown_key_is_reported_before_missing_required", "{\"urll\": \"u\"}",
      PLACE ".urll: unknown key; did you mean \"url\"?" },
    { "first_problem_in_document_order_is_reported",
      "{\"verbose\": 1, \"url\": 2}", PLACE ".verbose: expected true or false" },
};

static void test_bad_row(void **state)
{
    const bad_row_t *row = *state;
    json_t *config = load(row->json);
    char err[1024] = "";
    int rc = cc_config_validate(config, table, PLACE, err, sizeof err);
    json_decref(config);
    if (rc != CC_ECONFIG)
        fail_msg("%s: expected CC_ECONFIG, got %d (%s)", row->name, rc, err);
    if (strcmp(err, row->msg) != 0)
        fail_msg("%s:\n  expected: %s\n  got:      %s", row->name, row->msg, err);
}

/* ---- good configs ---------------------------------------------------------------- */

static void test_defaults_are_filled_at_every_level(void **state)
{
    (void)state;
    json_t *c = load("{\"url\": \"http://x\", \"watch\": [{\"collection\": \"a\"},"
                     " {\"collection\": \"b\", \"snapshot\": true, \"operations\": [\"delete\"],"
                     "  \"recipient_lookup\": {\"collection\": \"owners\"}}]}");
    check_ok(c);
    assert_string_equal(json_string_value(cc_json_path(c, "url")), "http://x");
    assert_int_equal(json_integer_value(cc_json_path(c, "timeout_ms")), 5000);
    assert_true(json_is_real(cc_json_path(c, "ratio")));
    assert_true(json_real_value(cc_json_path(c, "ratio")) == 0.5);
    assert_true(json_is_false(cc_json_path(c, "verbose")));
    assert_string_equal(json_string_value(cc_json_path(c, "on_slow")), "close");
    assert_true(json_is_object(cc_json_path(c, "headers")));
    assert_int_equal(json_object_size(cc_json_path(c, "headers")), 0);
    /* A defaulted object gets the defaults of its own table. */
    assert_true(json_is_true(cc_json_path(c, "tls.verify")));
    assert_null(cc_json_path(c, "tls.ca"));
    /* An optional object without a default stays absent. */
    assert_null(cc_json_path(c, "auth"));
    assert_null(cc_json_path(c, "count"));

    json_t *w0 = json_array_get(cc_json_path(c, "watch"), 0);
    json_t *w1 = json_array_get(cc_json_path(c, "watch"), 1);
    assert_int_equal(json_array_size(cc_json_path(w0, "operations")), 4);
    assert_string_equal(json_string_value(json_array_get(cc_json_path(w0, "operations"), 3)),
                        "delete");
    assert_true(json_is_false(cc_json_path(w0, "snapshot")));
    assert_null(cc_json_path(w0, "pipeline"));
    assert_int_equal(json_array_size(cc_json_path(w1, "operations")), 1);
    assert_true(json_is_true(cc_json_path(w1, "snapshot")));
    assert_int_equal(json_integer_value(cc_json_path(w1, "recipient_lookup.cache_ms")), 30000);
    json_decref(c);
}

static void test_given_values_are_kept_and_checked(void **state)
{
    (void)state;
    json_t *c = load("{\"url\": \"u\", \"timeout_ms\": 600000, \"ratio\": 1, \"verbose\": true,"
                     " \"on_slow\": \"conflate\", \"headers\": {\"X-A\": \"1\", \"n\": [1]},"
                     " \"auth\": {\"jwt_secret\": \"s\"}, \"tls\": {\"verify\": false},"
                     " \"count\": -99999999999, \"extra\": null,"
                     " \"watch\": [{\"collection\": \"*\", \"pipeline\": [{\"$match\": {}}]}]}");
    check_ok(c);
    assert_int_equal(json_integer_value(cc_json_path(c, "timeout_ms")), 600000);
    assert_true(json_is_integer(cc_json_path(c, "ratio")));   /* an integer is a number */
    assert_true(json_is_true(cc_json_path(c, "verbose")));
    assert_string_equal(json_string_value(cc_json_path(c, "on_slow")), "conflate");
    assert_int_equal(json_object_size(cc_json_path(c, "headers")), 2);  /* free-form */
    assert_string_equal(json_string_value(cc_json_path(c, "auth.recipient_claim")), "sub");
    assert_true(json_is_false(cc_json_path(c, "tls.verify")));
    assert_true(json_is_null(cc_json_path(c, "extra")));
    json_decref(c);
}

static void test_validating_twice_changes_nothing(void **state)
{
    (void)state;
    json_t *c = load("{\"url\": \"u\", \"watch\": [{\"collection\": \"a\"}]}");
    check_ok(c);
    char *once = json_dumps(c, JSON_SORT_KEYS);
    check_ok(c);
    char *twice = json_dumps(c, JSON_SORT_KEYS);
    assert_string_equal(once, twice);
    free(once);
    free(twice);
    json_decref(c);
}

static void test_plugin_without_table_takes_no_keys(void **state)
{
    (void)state;
    char err[256];
    json_t *empty = json_object();
    assert_int_equal(cc_config_validate(empty, NULL, "sources[0].config", err, sizeof err), 0);
    json_decref(empty);
    json_t *c = load("{\"path\": \"-\"}");
    assert_int_equal(cc_config_validate(c, NULL, "sources[0].config", err, sizeof err),
                     CC_ECONFIG);
    assert_string_equal(err, "sources[0].config.path: unknown key; this object takes no keys");
    json_decref(c);
}

static void test_empty_place_gives_bare_key_paths(void **state)
{
    (void)state;
    char err[256];
    json_t *c = load("{\"url\": 1}");
    assert_int_equal(cc_config_validate(c, table, "", err, sizeof err), CC_ECONFIG);
    assert_string_equal(err, "url: expected a string");
    json_decref(c);
    c = load("{}");
    assert_int_equal(cc_config_validate(c, table, NULL, err, sizeof err), CC_ECONFIG);
    assert_string_equal(err, "missing required key \"url\"");
    json_decref(c);
}

static void test_default_that_is_not_json_is_a_plugin_error(void **state)
{
    (void)state;
    static const cc_config_field_t broken[] = {
        { .name = "mode", .type = CC_CFG_STRING, .def = "fast" },   /* should be "\"fast\"" */
        { .name = NULL }
    };
    char err[256];
    json_t *c = json_object();
    assert_int_equal(cc_config_validate(c, broken, PLACE, err, sizeof err), CC_EINVAL);
    assert_non_null(strstr(err, PLACE ".mode: the plugin's default is not valid JSON ("));
    json_decref(c);
}

static void test_default_that_breaks_its_own_table_is_a_plugin_error(void **state)
{
    (void)state;
    static const cc_config_field_t broken[] = {
        { .name = "port", .type = CC_CFG_INT, .def = "\"80\"" },
        { .name = NULL }
    };
    char err[256];
    json_t *c = json_object();
    assert_int_equal(cc_config_validate(c, broken, PLACE, err, sizeof err), CC_EINVAL);
    assert_string_equal(err, PLACE ".port: the plugin's default does not fit its own table ("
                             PLACE ".port: expected an integer)");
    json_decref(c);
}

static void test_null_config_is_an_invalid_argument(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(cc_config_validate(NULL, table, PLACE, err, sizeof err), CC_EINVAL);
}

/* ---- suggestions ------------------------------------------------------------------- */

static void test_hint_rules(void **state)
{
    (void)state;
    static const char *const keys[] = { "sources", "sinks", "bus", "to" };
    char buf[256];
    cc_config_hint(buf, sizeof buf, "soucres", keys, 4);      /* swap */
    assert_string_equal(buf, "did you mean \"sources\"?");
    cc_config_hint(buf, sizeof buf, "sink", keys, 4);         /* deletion */
    assert_string_equal(buf, "did you mean \"sinks\"?");
    cc_config_hint(buf, sizeof buf, "buss", keys, 4);         /* insertion */
    assert_string_equal(buf, "did you mean \"bus\"?");
    cc_config_hint(buf, sizeof buf, "BUS", keys, 4);          /* case only */
    assert_string_equal(buf, "did you mean \"bus\"?");
    /* Three edits away: no suggestion. */
    cc_config_hint(buf, sizeof buf, "sorcs_x", keys, 4);
    assert_string_equal(buf, "expected one of \"sources\", \"sinks\", \"bus\", \"to\"");
    /* A one-letter key is within 2 of "to" but is not a plausible typo. */
    cc_config_hint(buf, sizeof buf, "x", keys, 4);
    assert_string_equal(buf, "expected one of \"sources\", \"sinks\", \"bus\", \"to\"");
    cc_config_hint(buf, sizeof buf, "x", keys, 0);
    assert_string_equal(buf, "this object takes no keys");
    /* Ties go to the first candidate. */
    static const char *const ab[] = { "ab", "ba" };
    cc_config_hint(buf, sizeof buf, "aa", ab, 2);
    assert_string_equal(buf, "did you mean \"ab\"?");
    /* Truncates into a small buffer. */
    cc_config_hint(buf, 8, "soucres", keys, 4);
    assert_string_equal(buf, "did you");
    /* Very long keys are cheap and never suggested. */
    char longkey[4096];
    memset(longkey, 'a', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    cc_config_hint(buf, sizeof buf, longkey, keys, 4);
    assert_memory_equal(buf, "expected one of", 15);
}

/* ---- help text --------------------------------------------------------------------- */

static void test_print_lists_each_key_with_type_default_choices_and_doc(void **state)
{
    (void)state;
    static const cc_config_field_t inner[] = {
        { .name = "secret", .type = CC_CFG_STRING, .required = 1, .doc = "HMAC key." },
        { .name = NULL }
    };
    static const cc_config_field_t t[] = {
        { .name = "url", .type = CC_CFG_STRING, .required = 1, .doc = "Where to POST events." },
        { .name = "timeout_ms", .type = CC_CFG_INT, .def = "5000", .min = 1, .max = 600000,
          .doc = "Per request." },
        { .name = "on_slow", .type = CC_CFG_STRING, .def = "\"close\"", .choices = slow_choices },
        { .name = "auth", .type = CC_CFG_OBJECT, .fields = inner, .doc = "Signing." },
        { .name = NULL }
    };
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    assert_non_null(fp);
    cc_config_print(fp, t, 2);
    cc_config_print(fp, NULL, 4);
    fclose(fp);
    const char *want =
        "  url         string, required                                     \xe2\x80\x94 Where to POST events.\n"
        "  timeout_ms  integer 1..600000, default 5000                      \xe2\x80\x94 Per request.\n"
        "  on_slow     string, one of \"close\", \"conflate\", default \"close\"\n"
        "  auth        object                                               \xe2\x80\x94 Signing.\n"
        "    secret  string, required  \xe2\x80\x94 HMAC key.\n"
        "    (no configuration keys)\n";
    if (strcmp(text, want) != 0)
        fail_msg("got:\n%s\nwant:\n%s", text, want);
    free(text);
}

/* ---- lookup -------------------------------------------------------------------------- */

static void test_json_path_walks_objects_only(void **state)
{
    (void)state;
    json_t *root = load("{\"a\": {\"b\": {\"c\": 3}, \"list\": [1]}, \"x.y\": 1}");
    assert_int_equal(json_integer_value(cc_json_path(root, "a.b.c")), 3);
    assert_ptr_equal(cc_json_path(root, ""), root);
    assert_true(json_is_object(cc_json_path(root, "a.b")));
    assert_null(cc_json_path(root, "a.b.c.d"));     /* through a number */
    assert_null(cc_json_path(root, "a.list.0"));    /* arrays are not walked */
    assert_null(cc_json_path(root, "a.nope"));
    assert_null(cc_json_path(root, "x.y"));         /* dots always separate */
    assert_null(cc_json_path(NULL, "a"));
    assert_null(cc_json_path(root, NULL));
    json_decref(root);
}

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_defaults_are_filled_at_every_level),
        cmocka_unit_test(test_given_values_are_kept_and_checked),
        cmocka_unit_test(test_validating_twice_changes_nothing),
        cmocka_unit_test(test_plugin_without_table_takes_no_keys),
        cmocka_unit_test(test_empty_place_gives_bare_key_paths),
        cmocka_unit_test(test_default_that_is_not_json_is_a_plugin_error),
        cmocka_unit_test(test_default_that_breaks_its_own_table_is_a_plugin_error),
        cmocka_unit_test(test_null_config_is_an_invalid_argument),
        cmocka_unit_test(test_hint_rules),
        cmocka_unit_test(test_print_lists_each_key_with_type_default_choices_and_doc),
        cmocka_unit_test(test_json_path_walks_objects_only),
    };
    enum { N_FIXED = sizeof fixed / sizeof fixed[0], N_BAD = sizeof bad_rows / sizeof bad_rows[0] };
    struct CMUnitTest tests[N_FIXED + N_BAD];
    memcpy(tests, fixed, sizeof fixed);
    for (size_t i = 0; i < N_BAD; i++) {
        tests[N_FIXED + i] = (struct CMUnitTest){
            .name = bad_rows[i].name,
            .test_func = test_bad_row,
            .initial_state = (void *)(uintptr_t)&bad_rows[i],
        };
    }
    return _cmocka_run_group_tests("config", tests, N_FIXED + N_BAD, NULL, NULL);
}
