/* tests/unit/test_ws_viewer.c — the websocket sink's viewer page (GET /):
 * one self-contained HTML page that carries the configured WebSocket path
 * template, escaped for the attribute it sits in. ws_viewer.c is compiled
 * in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugins/websocket/ws_sink.h"

static void page_carries_the_path_template(void **s)
{
    (void)s;
    size_t len = 0;
    char *page = ws_viewer_build("/ws/{recipient}", &len);
    assert_non_null(page);
    assert_int_equal(strlen(page), len);
    assert_true(strncmp(page, "<!DOCTYPE html>", 15) == 0 || strncmp(page, "<!doctype html>", 15) == 0);
    assert_non_null(strstr(page, "<meta name=\"ws-path\" content=\"/ws/{recipient}\">"));
    assert_non_null(strstr(page, "</html>"));
    assert_null(strstr(page, "@WS_PATH@"));
    free(page);
}

static void path_is_escaped_for_its_attribute(void **s)
{
    (void)s;
    size_t len = 0;
    char *page = ws_viewer_build("/a\"b<c>&d/{recipient}", &len);
    assert_non_null(page);
    assert_int_equal(strlen(page), len);
    assert_non_null(strstr(page, "content=\"/a&quot;b&lt;c&gt;&amp;d/{recipient}\""));
    assert_null(strstr(page, "/a\"b"));
    free(page);
    /* every character escaped: the size computed up front must hold it */
    page = ws_viewer_build("\"\"\"\"\"\"\"\"<<<<>>>>&&&&", &len);
    assert_non_null(page);
    assert_int_equal(strlen(page), len);
    free(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(page_carries_the_path_template),
        cmocka_unit_test(path_is_escaped_for_its_attribute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
