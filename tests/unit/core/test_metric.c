/* SPDX-License-Identifier: Apache-2.0 */
/* Histogram buckets (Envoy's default bounds, inclusive as Prometheus's `le`), observation
 * and merging of shards. */
#include <string.h>

#include "core/metric.h"
#include "harness.h"

static void
test_bounds_are_inclusive(void **state)
{
    (void)state;
    /* durations recorded in µs against bounds in ms */
    assert_int_equal(metric_bucket(0, 1000), 0);
    assert_int_equal(metric_bucket(500, 1000), 0);  /* 0.5 ms: le="0.5" */
    assert_int_equal(metric_bucket(501, 1000), 1);  /* just above: le="1" */
    assert_int_equal(metric_bucket(1000, 1000), 1); /* 1 ms */
    assert_int_equal(metric_bucket(1001, 1000), 2); /* le="5" */
    assert_int_equal(metric_bucket(3600000ull * 1000, 1000), METRIC_BUCKETS - 1);
    assert_int_equal(metric_bucket(3600000ull * 1000 + 1, 1000), METRIC_BUCKETS); /* +Inf only */
    /* sizes in bytes */
    assert_int_equal(metric_bucket(1, 1), 1);
    assert_int_equal(metric_bucket(100, 1), 6);
    assert_int_equal(metric_bucket(101, 1), 7);
}

static void
test_observe_and_merge(void **state)
{
    (void)state;
    struct metric_histo a, b, sum;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&sum, 0, sizeof(sum));
    metric_observe(&a, 300, 1000);  /* 0.3 ms */
    metric_observe(&a, 7000, 1000); /* 7 ms: le="10" */
    metric_observe(&b, 7500, 1000);
    metric_histo_merge(&sum, &a);
    metric_histo_merge(&sum, &b);
    assert_int_equal(sum.count, 3);
    assert_int_equal(sum.sum, 300 + 7000 + 7500);
    assert_int_equal(sum.bucket[0], 1);
    assert_int_equal(sum.bucket[3], 2);
    uint64_t c = 0;
    metric_add(&c, 5);
    metric_add(&c, 2);
    assert_int_equal(metric_get(&c), 7);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_are_inclusive),
        cmocka_unit_test(test_observe_and_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
