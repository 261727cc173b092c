/* SPDX-License-Identifier: Apache-2.0 */
/* Flag value parsing shared by the subcommands: whole numbers in a range, seconds or
 * durations, NS/NAME; anything a user did not mean (signs, spaces, trailing text, empty) is
 * refused. */
#include "cli/cli.h"
#include "harness.h"

static void
test_parse_int(void **state)
{
    (void)state;
    long v = -7;
    assert_true(cli_parse_int("1", 1, 256, &v) && v == 1);
    assert_true(cli_parse_int("256", 1, 256, &v) && v == 256);
    const char *bad[] = {"0",  "257", "abc", "",     " 4",
                         "4 ", "4x",  "+4",  "0x10", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = -7;
        assert_false(cli_parse_int(bad[i], 1, 256, &v));
        assert_int_equal(v, -7); /* untouched */
    }
}

static void
test_parse_seconds(void **state)
{
    (void)state;
    uint64_t ms = 0;
    assert_true(cli_parse_seconds("5", 3600000, &ms) && ms == 5000);
    assert_true(cli_parse_seconds("0.3", 3600000, &ms) && ms == 300);
    assert_true(cli_parse_seconds("0", 3600000, &ms) && ms == 0);
    assert_true(cli_parse_seconds("300ms", 3600000, &ms) && ms == 300);
    assert_true(cli_parse_seconds("1m", 3600000, &ms) && ms == 60000);
    assert_true(cli_parse_seconds("1h", 3600000, &ms) && ms == 3600000);
    const char *bad[] = {"", "soon", "-1", " 5", "5 ", "2h", "3601", "nan", "inf", "5x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(cli_parse_seconds(bad[i], 3600000, &ms));
}

static void
test_ns_name(void **state)
{
    (void)state;
    assert_true(cli_is_ns_name("prod/edge"));
    assert_false(cli_is_ns_name("edge"));
    assert_false(cli_is_ns_name("/edge"));
    assert_false(cli_is_ns_name("prod/"));
    assert_false(cli_is_ns_name("a/b/c"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_parse_seconds),
        cmocka_unit_test(test_ns_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
