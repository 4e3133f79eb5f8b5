/* Unit tests of the plugin loader: the ABI cases with real shared objects
 * built in tests/abi/ (older minor loads; newer minor, other major, missing
 * entry symbol, bad descriptor and duplicate name are refused while the
 * others load), and descriptor checks in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/loader.h"

static const char *abi_dir(void)
{
    const char *d = getenv("CC_TEST_ABI_DIR");
    return d ? d : "tests/abi";
}

/* The refusal message for a file, or NULL when it was not refused. */
static const char *refusal_for(const cc_loader_t *ld, const char *file)
{
    for (size_t i = 0; i < ld->n_refused; i++)
        if (strstr(ld->refused[i], file))
            return ld->refused[i];
    return NULL;
}

static void scan(cc_loader_t *ld)
{
    char *dirs[] = {(char *)abi_dir()};
    memset(ld, 0, sizeof *ld);
    assert_int_equal(cc_loader_scan(ld, dirs, 1), 0);
}

static void older_minor_plugin_loads_with_newer_fields_zeroed(void **unused)
{
    (void)unused;
    cc_loader_t ld;
    scan(&ld);
    const cc_loaded_plugin_t *p = cc_loader_find(&ld, "abi_old_minor");
    assert_non_null(p);
    assert_int_equal(p->desc.abi_major, 1);
    assert_int_equal(p->desc.abi_minor, 0);
    assert_null(p->desc.reopen);      /* beyond its size: read as absent */
    assert_int_equal(p->desc.flags, 0);
    assert_non_null(p->desc.deliver);
    assert_null(refusal_for(&ld, "old_minor.so"));
    cc_loader_free(&ld);
}

static void newer_minor_is_refused_naming_both_versions(void **unused)
{
    (void)unused;
    cc_loader_t ld;
    scan(&ld);
    assert_null(cc_loader_find(&ld, "abi_new_minor"));
    const char *why = refusal_for(&ld, "new_minor.so");
    assert_non_null(why);
    char want[64];
    snprintf(want, sizeof want, "built for ABI 1.%d, newer than this changecast's 1.%d",
             CC_ABI_MINOR + 1, CC_ABI_MINOR);
    assert_non_null(strstr(why, want));
    cc_loader_free(&ld);
}

static void other_major_is_refused(void **unused)
{
    (void)unused;
    cc_loader_t ld;
    scan(&ld);
    assert_null(cc_loader_find(&ld, "abi_other_major"));
    const char *why = refusal_for(&ld, "other_major.so");
    assert_non_null(why);
    assert_non_null(strstr(why, "built for ABI 2."));
    assert_non_null(strstr(why, "rebuild the plugin"));
    cc_loader_free(&ld);
}

static void missing_entry_symbol_is_refused(void **unused)
{
    (void)unused;
    cc_loader_t ld;
    scan(&ld);
    const char *why = refusal_for(&ld, "no_entry.so");
    assert_non_null(why);
    assert_non_null(strstr(why, "no cc_plugin_entry symbol"));
    cc_loader_free(&ld);
}

static void duplicate_name_is_refused_and_first_one_kept(void **unused)
{
    (void)unused;
    cc_loader_t ld;
    scan(&ld);
    const cc_loaded_plugin_t *p = cc_loader_find(&ld, "abi_dup");
    assert_non_null(p);
    assert_non_null(strstr(p->path, "dup_a.so"));   /* sorted: a before b */
    const char *why = refusal_for(&ld, "dup_b.so");
    assert_non_null(why);
    assert_non_null(strstr(why, "a plugin named \"abi_dup\" is already loaded"));
    cc_loader_free(&ld);
}

static void malformed_descriptor_is_refused(void **unused)
{
    (void)unused;
    cc_loader_t ld;
    scan(&ld);
    assert_non_null(refusal_for(&ld, "bad_desc.so"));
    cc_loader_free(&ld);
}

static void refusals_leave_the_good_plugins_loaded(void **unused)
{
    (void)unused;
    cc_loader_t ld;
    scan(&ld);
    /* abi_old_minor and abi_dup load; everything else is refused. */
    assert_int_equal(ld.n_plugins, 2);
    assert_true(ld.n_refused >= 5);
    cc_loader_free(&ld);
}

static void missing_folder_is_reported_not_fatal(void **unused)
{
    (void)unused;
    cc_loader_t ld = {0};
    char *dirs[] = {"/nonexistent/changecast-plugins", (char *)abi_dir()};
    assert_int_equal(cc_loader_scan(&ld, dirs, 2), 0);
    assert_non_null(refusal_for(&ld, "/nonexistent/changecast-plugins: cannot open plugin folder"));
    assert_non_null(cc_loader_find(&ld, "abi_old_minor"));
    cc_loader_free(&ld);
}

static int fake_init(cc_instance_t *i, const cc_host_t *h, void **s)
{
    (void)i;
    (void)h;
    *s = NULL;
    return 0;
}
static int fake_start(void *s) { (void)s; return 0; }
static int fake_deliver(void *s, const cc_batch_t *b) { (void)s; (void)b; return 0; }
static void fake_stop(void *s) { (void)s; }

static cc_plugin_t good(void)
{
    return (cc_plugin_t){
        .abi_major = CC_ABI_MAJOR, .abi_minor = CC_ABI_MINOR, .size = sizeof(cc_plugin_t),
        .name = "x", .kind = CC_PLUGIN_SINK, .init = fake_init, .start = fake_start,
        .deliver = fake_deliver, .stop = fake_stop, .destroy = fake_stop,
    };
}

static void descriptor_checks_in_memory(void **unused)
{
    (void)unused;
    char err[256];
    cc_plugin_t d = good();
    assert_int_equal(cc_loader_check(&d, err, sizeof err), 0);

    d = good();
    d.size = offsetof(cc_plugin_t, name);
    assert_int_equal(cc_loader_check(&d, err, sizeof err), CC_EABI);
    assert_non_null(strstr(err, "too small"));

    d = good();
    d.name = "Bad Name";
    assert_int_equal(cc_loader_check(&d, err, sizeof err), CC_EINVAL);

    d = good();
    d.deliver = NULL;   /* a sink must deliver */
    assert_int_equal(cc_loader_check(&d, err, sizeof err), CC_EINVAL);
    assert_non_null(strstr(err, "deliver"));

    d = good();
    d.kind = CC_PLUGIN_SOURCE;
    d.deliver = NULL;   /* a source need not */
    assert_int_equal(cc_loader_check(&d, err, sizeof err), 0);

    d = good();
    d.kind = (cc_plugin_kind_t)7;
    assert_int_equal(cc_loader_check(&d, err, sizeof err), CC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(older_minor_plugin_loads_with_newer_fields_zeroed),
        cmocka_unit_test(newer_minor_is_refused_naming_both_versions),
        cmocka_unit_test(other_major_is_refused),
        cmocka_unit_test(missing_entry_symbol_is_refused),
        cmocka_unit_test(duplicate_name_is_refused_and_first_one_kept),
        cmocka_unit_test(malformed_descriptor_is_refused),
        cmocka_unit_test(refusals_leave_the_good_plugins_loaded),
        cmocka_unit_test(missing_folder_is_reported_not_fatal),
        cmocka_unit_test(descriptor_checks_in_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
