/* SPDX-License-Identifier: Apache-2.0 */
/* Log line prefixes: Envoy's "[YYYY-MM-DD HH:MM:SS.mmm][level] " in UTC, the cached second
 * refreshed when the second changes, and level names parsed both ways. The rate limit with
 * a fake clock: the first message goes out, the next ones within the interval are held
 * back and counted, and the first after it says how many. */
#include <string.h>

#include "core/log.h"
#include "harness.h"

static void
test_log_limit_holds_back_within_the_interval_and_counts(void **state)
{
    (void)state;
    struct log_limit l = {0};
    uint64_t held = 99;
    assert_true(log_limit_pass(&l, 1000, 10000, &held));
    assert_int_equal(held, 0);
    assert_false(log_limit_pass(&l, 1001, 10000, &held));
    assert_false(log_limit_pass(&l, 10999, 10000, &held));
    assert_true(log_limit_pass(&l, 11000, 10000, &held));
    assert_int_equal(held, 2);
    assert_false(log_limit_pass(&l, 11000, 10000, &held));
    assert_true(log_limit_pass(&l, 50000, 10000, &held));
    assert_int_equal(held, 1);
}

static void
test_prefix_is_utc_with_milliseconds_and_level(void **state)
{
    (void)state;
    char out[64];
    /* 2026-12-07 01:02:03.456 UTC */
    size_t n = log_prefix(1796605323456ULL, LOG_INFO, out, sizeof(out));
    assert_string_equal(out, "[2026-12-07 01:02:03.456][info] ");
    assert_int_equal(n, strlen(out));
    log_prefix(1796605323007ULL, LOG_WARNING, out, sizeof(out)); /* same second, cached */
    assert_string_equal(out, "[2026-12-07 01:02:03.007][warning] ");
    log_prefix(1796605324000ULL, LOG_ERROR, out, sizeof(out)); /* next second */
    assert_string_equal(out, "[2026-12-07 01:02:04.000][error] ");
    log_prefix(0, LOG_DEBUG, out, sizeof(out));
    assert_string_equal(out, "[1970-01-01 00:00:00.000][debug] ");
}

static void
test_levels_parse_and_gate(void **state)
{
    (void)state;
    enum log_level l;
    assert_true(log_level_parse("warning", &l) && l == LOG_WARNING);
    assert_true(log_level_parse("off", &l) && l == LOG_OFF);
    assert_false(log_level_parse("warn", &l));
    assert_false(log_level_parse("", &l));
    log_set_level(LOG_WARNING);
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_ERROR));
    log_set_level(LOG_OFF);
    assert_false(log_enabled(LOG_ERROR));
    assert_false(log_enabled(LOG_OFF));
    log_set_level(LOG_INFO);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_limit_holds_back_within_the_interval_and_counts),
        cmocka_unit_test(test_prefix_is_utc_with_milliseconds_and_level),
        cmocka_unit_test(test_levels_parse_and_gate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
