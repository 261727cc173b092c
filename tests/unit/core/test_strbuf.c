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

/* Into a fixed buffer (the access log's lines): escapes, and a cut that never splits an
 * escape and always closes the string. */
static void
test_json_quote_into_a_buffer(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(strbuf_json_quote(out, sizeof(out), "a\"b\\c\x01"), 15);
    assert_string_equal(out, "\"a\\\"b\\\\c\\u0001\"");
    /* "\x01\x01": 1 + 6 + 6 + 1 + NUL = 15 bytes; with 14 only the first fits */
    assert_int_equal(strbuf_json_quote(out, 14, "\x01\x01"), 8);
    assert_string_equal(out, "\"\\u0001\"");
    assert_int_equal(strbuf_json_quote(out, 15, "\x01\x01"), 14);
    assert_int_equal(strbuf_json_quote(out, 3, "abc"), 2);
    assert_string_equal(out, "\"\"");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strbuf_appends_and_formats),
        cmocka_unit_test(test_strbuf_stops_at_cap),
        cmocka_unit_test(test_strbuf_escapes_json),
        cmocka_unit_test(test_json_quote_into_a_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
