/* tests/fuzz/fuzz_manifest.c — libFuzzer target for the manifest loader.
 *
 * Feeds the input to cc_manifest_parse as "fuzz.json"; when it parses,
 * also checks every entry's config against a nested sample table (so the
 * config validator and its default filling are fuzzed too) and frees it
 * all. Any crash, leak or sanitizer report is a bug; error returns are fine.
 * A few environment variables are set so ${NAME} substitution succeeds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/manifest.h"

static const char *const ops[] = { "insert", "update", "replace", "delete", NULL };

static const cc_config_field_t lookup_fields[] = {
    { .name = "collection", .type = CC_CFG_STRING, .required = 1 },
    { .name = "cache_ms", .type = CC_CFG_INT, .def = "30000", .min = 0, .max = 3600000 },
    { .name = NULL }
};

static const cc_config_field_t watch_fields[] = {
    { .name = "collection", .type = CC_CFG_STRING, .required = 1 },
    { .name = "operations", .type = CC_CFG_STRINGS, .def = "[\"insert\"]", .choices = ops },
    { .name = "pipeline", .type = CC_CFG_JSON },
    { .name = "snapshot", .type = CC_CFG_BOOL, .def = "false" },
    { .name = "recipient_lookup", .type = CC_CFG_OBJECT, .fields = lookup_fields },
    { .name = NULL }
};

static const cc_config_field_t tls_fields[] = {
    { .name = "verify", .type = CC_CFG_BOOL, .def = "true" },
    { .name = NULL }
};

static const cc_config_field_t table[] = {
    { .name = "url", .type = CC_CFG_STRING },
    { .name = "timeout_ms", .type = CC_CFG_INT, .def = "5000", .min = 1, .max = 600000 },
    { .name = "ratio", .type = CC_CFG_DOUBLE, .def = "0.5", .min = 0, .max = 1 },
    { .name = "headers", .type = CC_CFG_OBJECT, .def = "{}" },
    { .name = "tls", .type = CC_CFG_OBJECT, .def = "{}", .fields = tls_fields },
    { .name = "watch", .type = CC_CFG_OBJECTS, .fields = watch_fields },
    { .name = "extra", .type = CC_CFG_JSON },
    { .name = NULL }
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("CC_FUZZ", "value", 1);
    setenv("CC_FUZZ_EMPTY", "", 1);
    setenv("CC_FUZZ_DOLLAR", "${CC_FUZZ}", 1);
    unsetenv("CC_FUZZ_UNSET");
    return 0;
}

static void check_entries(cc_manifest_entry_t *list, size_t n)
{
    char err[512];
    for (size_t i = 0; i < n; i++) {
        char place[64];
        snprintf(place, sizeof place, "%s.config", list[i].place);
        int rc = cc_config_validate(list[i].config, table, place, err, sizeof err);
        if (rc != 0 && rc != CC_ECONFIG)
            abort();        /* only the sample table could be at fault */
        if (rc != 0 && (err[0] == '\0' || strchr(err, '\n')))
            abort();        /* a message is one non-empty line */
        (void)cc_json_path(list[i].config, "watch.recipient_lookup.cache_ms");
        (void)cc_json_path(list[i].config, "tls.verify");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    cc_manifest_t *m = NULL;
    int rc = cc_manifest_parse((const char *)data, size, "fuzz.json", &m, err, sizeof err);
    if (rc != 0) {
        if (m || err[0] == '\0' || strchr(err, '\n') || strncmp(err, "fuzz.json", 9) != 0)
            abort();        /* failure leaves nothing and says why, on one line */
        return 0;
    }
    if (!m || m->n_sources == 0 || m->n_sinks == 0 || (m->bus_capacity & (m->bus_capacity - 1)))
        abort();
    check_entries(m->sources, m->n_sources);
    check_entries(m->sinks, m->n_sinks);
    cc_manifest_free(m);
    return 0;
}
