/* SPDX-License-Identifier: Apache-2.0 */
/* The log rate limit with a fake clock: the first message goes out, the next ones within
 * the interval are held back and counted, and the first after it says how many. */
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_limit_holds_back_within_the_interval_and_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
