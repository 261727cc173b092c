/* SPDX-License-Identifier: Apache-2.0 */
/* The checks' verdicts and their wording, unknown checks when a side has no traffic. */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "rollout/analysis.h"

static const struct rollout_checks all = {99, 1, 500, 2};

static void
expect(const struct check_outcome *o, const char *name, bool ok, bool known, const char *detail)
{
    assert_string_equal(o->name, name);
    assert_int_equal(o->ok, ok);
    assert_int_equal(o->known, known);
    assert_string_equal(o->detail, detail);
}

static void
test_analysis_passes_healthy_canary(void **state)
{
    (void)state;
    struct window_stats stable = {1000, 99.9, 95, 12};
    struct window_stats canary = {200, 99.5, 120, 14};
    struct check_outcome out[ANALYSIS_MAX_CHECKS];
    size_t n;
    assert_true(analysis_run(&all, &stable, &canary, out, &n));
    assert_int_equal(n, 4);
    expect(&out[0], "success_rate", true, true, "canary 99.5% >= floor 99.0% (1 of 200 failed)");
    expect(&out[1], "success_drop", true, true,
           "canary 99.5% is 0.4 points below stable 99.9% (<= 1.0 allowed)");
    expect(&out[2], "p99", true, true, "canary p99 120 ms <= bound 500 ms");
    expect(&out[3], "p99_ratio", true, true, "canary p99 120 ms <= 2.0 x stable 95 ms = 190 ms");
}

static void
test_analysis_fails_with_numbers(void **state)
{
    (void)state;
    struct window_stats stable = {1000, 99.9, 95, 12};
    struct window_stats canary = {1000, 91.3, 812, 40};
    struct check_outcome out[ANALYSIS_MAX_CHECKS];
    size_t n;
    assert_false(analysis_run(&all, &stable, &canary, out, &n));
    assert_int_equal(n, 4);
    expect(&out[0], "success_rate", false, true, "canary 91.3% < floor 99.0% (87 of 1000 failed)");
    expect(&out[1], "success_drop", false, true,
           "canary 91.3% is 8.6 points below stable 99.9% (> 1.0 allowed)");
    expect(&out[2], "p99", false, true, "canary p99 812 ms > bound 500 ms");
    expect(&out[3], "p99_ratio", false, true, "canary p99 812 ms > 2.0 x stable 95 ms = 190 ms");

    /* one failing check is enough; sub-10 ms figures keep two decimals */
    struct rollout_checks ratio = {-1, -1, 0, 1.5};
    struct window_stats fast = {100, 100, 2, 0.4}, slower = {100, 100, 4.95, 0.5};
    assert_false(analysis_run(&ratio, &fast, &slower, out, &n));
    assert_int_equal(n, 1);
    expect(&out[0], "p99_ratio", false, true,
           "canary p99 4.95 ms > 1.5 x stable 2.00 ms = 3.00 ms");
    /* better than stable */
    struct rollout_checks drop = {-1, 0, 0, 0};
    assert_true(analysis_run(&drop, &slower, &slower, out, &n));
    expect(&out[0], "success_drop", true, true, "canary 100.0% not below stable 100.0%");
    /* the p99 of the +Inf bucket is the largest bound: still over a smaller limit */
    struct rollout_checks bound = {-1, -1, 1000, 0};
    struct window_stats stuck = {100, 100, 3.6e6, 3.6e6};
    assert_false(analysis_run(&bound, &stable, &stuck, out, &n));
    expect(&out[0], "p99", false, true, "canary p99 3600000 ms > bound 1000 ms");
    struct window_stats inf = {100, 100, INFINITY, INFINITY};
    assert_false(analysis_run(&bound, &stable, &inf, out, &n));
    expect(&out[0], "p99", false, true, "canary p99 +Inf ms > bound 1000 ms");
    /* a p99 of a few requests is their maximum: the check waits for more */
    struct window_stats few = {42, 100, 3.6e6, 3.6e6};
    assert_true(analysis_run(&bound, &stable, &few, out, &n));
    expect(&out[0], "p99", true, false, "p99 needs 100 canary requests (42 so far)");
    assert_true(out[0].waiting);
    struct rollout_checks ratio2 = {-1, -1, 0, 2};
    struct window_stats few_stable = {7, 100, 1, 1};
    assert_true(analysis_run(&ratio2, &few_stable, &stable, out, &n));
    expect(&out[0], "p99_ratio", true, false, "p99 needs 100 stable requests (7 so far)");
    assert_true(out[0].waiting);
}

static void
test_analysis_unknown_without_traffic(void **state)
{
    (void)state;
    struct window_stats none = {0, NAN, NAN, NAN};
    struct window_stats canary = {500, 100, 80, 10};
    struct check_outcome out[ANALYSIS_MAX_CHECKS];
    size_t n;
    /* canary at 100%: stable has no traffic, the comparisons are unknown and pass */
    assert_true(analysis_run(&all, &none, &canary, out, &n));
    assert_int_equal(n, 4);
    expect(&out[0], "success_rate", true, true, "canary 100.0% >= floor 99.0% (0 of 500 failed)");
    expect(&out[1], "success_drop", true, false, "no stable requests yet");
    expect(&out[2], "p99", true, true, "canary p99 80 ms <= bound 500 ms");
    expect(&out[3], "p99_ratio", true, false, "no stable latency yet");
    assert_false(out[1].waiting || out[3].waiting); /* none is coming: the step goes on */
    /* no canary traffic yet */
    assert_true(analysis_run(&all, &canary, &none, out, &n));
    expect(&out[0], "success_rate", true, false, "no canary requests yet");
    expect(&out[1], "success_drop", true, false, "no canary requests yet");
    expect(&out[2], "p99", true, false, "no canary latency yet");
    expect(&out[3], "p99_ratio", true, false, "no canary latency yet");
    for (size_t i = 0; i < n; i++) assert_true(out[i].waiting);
    /* every check off */
    struct rollout_checks off = {-1, -1, 0, 0};
    assert_true(analysis_run(&off, &none, &none, out, &n));
    assert_int_equal(n, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_analysis_passes_healthy_canary),
        cmocka_unit_test(test_analysis_fails_with_numbers),
        cmocka_unit_test(test_analysis_unknown_without_traffic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
