/* SPDX-License-Identifier: Apache-2.0 */
/* String builder: appends, the hard cap, JSON escaping. */
#include <string.h>

#include "core/strbuf.h"
#include "harness.h"

static void
test_strbuf_appends_and_formats(void **state)
{
    (void)state;
    struct strbuf sb;
    strbuf_init(&sb, 1024);
    assert_string_equal(strbuf_str(&sb), "");
    strbuf_puts(&sb, "ab");
    strbuf_printf(&sb, "%d-%s", 42, "x");
    assert_string_equal(strbuf_str(&sb), "ab42-x");
    assert_int_equal(sb.len, 6);
    strbuf_fini(&sb);
}

static void
test_strbuf_stops_at_cap(void **state)
{
    (void)state;
    struct strbuf sb;
    strbuf_init(&sb, 8);
    strbuf_puts(&sb, "1234");
    strbuf_puts(&sb, "56789");
    assert_true(sb.truncated);
    assert_string_equal(strbuf_str(&sb), "1234");
    strbuf_fini(&sb);
}

static void
test_strbuf_escapes_json(void **state)
{
    (void)state;
    struct strbuf sb;
    strbuf_init(&sb, 1024);
    strbuf_json_str(&sb, "a\"b\\c\n\x01");
    assert_string_equal(strbuf_str(&sb), "\"a\\\"b\\\\c\\n\\u0001\"");
    strbuf_fini(&sb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strbuf_appends_and_formats),
        cmocka_unit_test(test_strbuf_stops_at_cap),
        cmocka_unit_test(test_strbuf_escapes_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
