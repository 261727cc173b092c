/* SPDX-License-Identifier: Apache-2.0 */
/* Outlier detection on a fake clock (spec §4.7): thresholds on exact equality, the cap on
 * ejected endpoints counted as (ejected + 1) / hosts, ejection time base x backoff ending
 * on a sweep, backoff decay, Envoy's mapping of local failures, split mode, panic, and the
 * balancer steering around ejected endpoints. */
#include <string.h>

#include "harness.h"
#include "lb/lb.h"
#include "lb/outlier.h"
#include "model/endpoint.h"

#define MAX_EPS 12
static struct model_endpoint eps[MAX_EPS];
static struct endpoint_state states[MAX_EPS];
static struct pool_state pool;

/* A pool of <n> equal endpoints with round robin and the detector's usual test settings:
 * consecutive5xxErrors 3, interval 100 ms, base 1 s, maxEjectionPercent 100. */
static void
cluster(struct model_cluster *c, size_t n)
{
    memset(c, 0, sizeof(*c));
    memset(eps, 0, sizeof(eps));
    memset(states, 0, sizeof(states));
    memset(&pool, 0, sizeof(pool));
    for (size_t i = 0; i < n; i++) {
        eps[i].weight = 1;
        eps[i].state_id = (uint32_t)i;
        eps[i].state = &states[i];
    }
    c->endpoints = eps;
    c->n_endpoints = n;
    c->equal_weights = true;
    c->state = &pool;
    c->outlier = (struct model_outlier){.enabled = true,
                                        .consecutive_5xx = 3,
                                        .interval_ms = 100,
                                        .base_ms = 1000,
                                        .max_ms = 300000,
                                        .max_percent = 100};
}

static void
fail_n(struct model_cluster *c, size_t ep, int status, int times, uint64_t now)
{
    for (int i = 0; i < times; i++) outlier_status(c, ep, status, now);
}

static void
test_outlier_threshold_is_exact_and_a_success_resets(void **state)
{
    (void)state;
    struct model_cluster c;
    cluster(&c, 2);
    fail_n(&c, 0, 503, 2, 0);
    outlier_status(&c, 0, 200, 0);
    fail_n(&c, 0, 500, 2, 0);
    assert_false(outlier_ejected(&c, 0));
    outlier_status(&c, 0, 500, 0);
    assert_true(outlier_ejected(&c, 0));
    assert_int_equal(pool.n_ejected, 1);
    assert_int_equal(states[0].ejections, 1);
    assert_false(outlier_ejected(&c, 1));
}

static void
test_outlier_gateway_detector_counts_502_to_504_only(void **state)
{
    (void)state;
    struct model_cluster c;
    cluster(&c, 2);
    c.outlier.consecutive_5xx = 0; /* off */
    c.outlier.consecutive_gw = 2;
    fail_n(&c, 0, 500, 10, 0);
    assert_false(outlier_ejected(&c, 0));
    outlier_status(&c, 0, 502, 0);
    outlier_status(&c, 0, 500, 0); /* a non-gateway 5xx breaks the run */
    outlier_status(&c, 0, 504, 0);
    assert_false(outlier_ejected(&c, 0));
    outlier_status(&c, 0, 503, 0);
    assert_true(outlier_ejected(&c, 0));
}

static void
test_outlier_default_cap_never_ejects_from_fewer_than_ten_hosts(void **state)
{
    (void)state;
    struct model_cluster c;
    cluster(&c, 9);
    c.outlier.max_percent = 10;
    fail_n(&c, 0, 503, 3, 0);
    assert_false(outlier_ejected(&c, 0));
    fail_n(&c, 0, 503, 3, 0); /* the counter started again after the refused ejection */
    assert_false(outlier_ejected(&c, 0));

    cluster(&c, 10);
    c.outlier.max_percent = 10;
    fail_n(&c, 0, 503, 3, 0);
    fail_n(&c, 1, 503, 3, 0);
    assert_true(outlier_ejected(&c, 0));
    assert_false(outlier_ejected(&c, 1)); /* (1 + 1) / 10 = 20% > 10% */
}

static void
test_outlier_ejection_lasts_base_times_backoff_and_ends_on_a_sweep(void **state)
{
    (void)state;
    struct model_cluster c;
    cluster(&c, 2);
    fail_n(&c, 0, 503, 3, 1000);
    outlier_sweep_pool(&c, 1999);
    assert_true(outlier_ejected(&c, 0));
    outlier_sweep_pool(&c, 2000);
    assert_false(outlier_ejected(&c, 0));
    assert_int_equal(pool.n_ejected, 0);
    /* Counters start clean: two more failures are not enough. */
    fail_n(&c, 0, 503, 2, 2010);
    assert_false(outlier_ejected(&c, 0));
    /* The second ejection, before the backoff decays, lasts twice as long. */
    outlier_status(&c, 0, 503, 2050);
    assert_true(outlier_ejected(&c, 0));
    outlier_sweep_pool(&c, 4049);
    assert_true(outlier_ejected(&c, 0));
    outlier_sweep_pool(&c, 4050);
    assert_false(outlier_ejected(&c, 0));
    assert_int_equal(states[0].backoff, 2);
    /* Each sweep at least an interval after its return takes one off the multiplier. */
    outlier_sweep_pool(&c, 4100); /* back only 50 ms */
    assert_int_equal(states[0].backoff, 2);
    outlier_sweep_pool(&c, 4150);
    assert_int_equal(states[0].backoff, 1);
    outlier_sweep_pool(&c, 4250);
    assert_int_equal(states[0].backoff, 0);
    outlier_sweep_pool(&c, 4350);
    assert_int_equal(states[0].backoff, 0);
    fail_n(&c, 0, 503, 3, 5000);
    outlier_sweep_pool(&c, 6000);
    assert_false(outlier_ejected(&c, 0)); /* base again */
}

static void
test_outlier_ejection_time_is_capped(void **state)
{
    (void)state;
    struct model_cluster c;
    cluster(&c, 2);
    c.outlier.consecutive_5xx = 1;
    c.outlier.base_ms = 200000;
    c.outlier.max_ms = 300000;
    uint64_t t = 0;
    for (int i = 0; i < 5; i++) { /* repeated ejections: the multiplier grows, the time caps */
        outlier_status(&c, 0, 503, t);
        outlier_sweep_pool(&c, t + 299999);
        if (i > 0) assert_true(outlier_ejected(&c, 0));
        outlier_sweep_pool(&c, t + 300000);
        assert_false(outlier_ejected(&c, 0));
        t += 300000;
    }
    assert_true(states[0].backoff <= 3); /* backoff x base stays below max + base */
}

static void
test_outlier_local_failures_map_to_503_and_504(void **state)
{
    (void)state;
    struct model_cluster c;
    cluster(&c, 2);
    c.outlier.consecutive_5xx = 0;
    c.outlier.consecutive_gw = 3;
    outlier_local(&c, 0, OUTLIER_CONNECT_FAILED, 0);
    outlier_local(&c, 0, OUTLIER_CONNECT_OK, 0); /* no effect outside split mode */
    outlier_local(&c, 0, OUTLIER_RESET, 0);
    assert_false(outlier_ejected(&c, 0));
    outlier_local(&c, 0, OUTLIER_TIMEOUT, 0);
    assert_true(outlier_ejected(&c, 0));
}

static void
test_outlier_split_mode_counts_local_failures_apart(void **state)
{
    (void)state;
    struct model_cluster c;
    cluster(&c, 2);
    c.outlier.split = true;
    c.outlier.consecutive_local = 2;
    fail_n(&c, 0, 503, 2, 0); /* 5xx count on their own: 2 of 3 */
    outlier_local(&c, 0, OUTLIER_CONNECT_FAILED, 0);
    outlier_local(&c, 0, OUTLIER_CONNECT_OK, 0); /* a connection made clears them */
    outlier_local(&c, 0, OUTLIER_CONNECT_FAILED, 0);
    assert_false(outlier_ejected(&c, 0));
    outlier_local(&c, 0, OUTLIER_TIMEOUT, 0);
    assert_true(outlier_ejected(&c, 0));
    assert_int_equal(states[0].c5xx, 2);
}

static void
test_outlier_balancer_avoids_ejected_and_reports_none_left(void **state)
{
    (void)state;
    struct model_cluster c;
    for (int kind = 0; kind < 2; kind++) {
        cluster(&c, 3);
        if (kind) c.policy.lb.kind = MODEL_LB_ROUND_ROBIN;
        int64_t rr[3] = {0};
        uint32_t active[3] = {0};
        fail_n(&c, 1, 503, 3, 0);
        for (int i = 0; i < 300; i++) assert_int_not_equal(lb_pick(&c, rr, active, NULL), 1);
        fail_n(&c, 0, 503, 3, 0);
        for (int i = 0; i < 50; i++) assert_int_equal(lb_pick(&c, rr, active, NULL), 2);
        fail_n(&c, 2, 503, 3, 0);
        assert_true(lb_pick(&c, rr, active, NULL) == LB_NO_HOST);
    }
}

static void
test_outlier_panic_balances_over_every_endpoint(void **state)
{
    (void)state;
    struct model_cluster c;
    cluster(&c, 2);
    c.outlier.min_health_percent = 60;
    int64_t rr[2] = {0};
    uint32_t active[2] = {0};
    fail_n(&c, 0, 503, 3, 0); /* 50% healthy < 60%: panic */
    assert_true(outlier_panic(&c));
    size_t count[2] = {0};
    for (int i = 0; i < 400; i++) count[lb_pick(&c, rr, active, NULL)]++;
    assert_true(count[0] > 100 && count[1] > 100);
    c.outlier.min_health_percent = 50; /* 50% is not below 50%: no panic */
    assert_false(outlier_panic(&c));
    for (int i = 0; i < 100; i++) assert_int_equal(lb_pick(&c, rr, active, NULL), 1);
}

static void
test_outlier_retry_takes_an_untried_endpoint(void **state)
{
    (void)state;
    struct model_cluster c;
    cluster(&c, 4);
    c.outlier.enabled = false;
    int64_t rr[4] = {0};
    uint32_t active[4] = {0};
    /* Least request picks at random: only the scan finds the last untried endpoint. */
    for (int i = 0; i < 500; i++) assert_int_equal(lb_pick_retry(&c, rr, active, 0x7), 3);
    c.outlier.enabled = true;
    fail_n(&c, 3, 503, 3, 0); /* ejected: not a candidate, a tried one is better than none */
    for (int i = 0; i < 100; i++) assert_true(lb_pick_retry(&c, rr, active, 0x7) < 3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outlier_threshold_is_exact_and_a_success_resets),
        cmocka_unit_test(test_outlier_gateway_detector_counts_502_to_504_only),
        cmocka_unit_test(test_outlier_default_cap_never_ejects_from_fewer_than_ten_hosts),
        cmocka_unit_test(test_outlier_ejection_lasts_base_times_backoff_and_ends_on_a_sweep),
        cmocka_unit_test(test_outlier_ejection_time_is_capped),
        cmocka_unit_test(test_outlier_local_failures_map_to_503_and_504),
        cmocka_unit_test(test_outlier_split_mode_counts_local_failures_apart),
        cmocka_unit_test(test_outlier_balancer_avoids_ejected_and_reports_none_left),
        cmocka_unit_test(test_outlier_panic_balances_over_every_endpoint),
        cmocka_unit_test(test_outlier_retry_takes_an_untried_endpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
