/* SPDX-License-Identifier: Apache-2.0 */
/* Balancer dispatch: LEAST_REQUEST by default (power of two choices favours the less
 * loaded endpoint), ROUND_ROBIN and RANDOM when the DestinationRule says so. */
#include <string.h>

#include "harness.h"
#include "core/now.h"
#include "lb/lb.h"
#include "model/endpoint.h"

static struct model_endpoint eps[4];

static void
cluster(struct model_cluster *c, size_t n, enum model_lb_kind kind)
{
    memset(c, 0, sizeof(*c));
    memset(eps, 0, sizeof(eps));
    for (size_t i = 0; i < n; i++) {
        eps[i].weight = 1;
        eps[i].state_id = (uint32_t)i; /* in-flight counts are indexed by it */
    }
    c->endpoints = eps;
    c->n_endpoints = n;
    c->equal_weights = true;
    c->policy.lb.kind = kind;
}

static void
test_lb_default_is_least_request_and_avoids_the_busy_endpoint(void **state)
{
    (void)state;
    struct model_cluster c;
    cluster(&c, 2, MODEL_LB_LEAST_REQUEST);
    assert_int_equal(lb_kind(&c), MODEL_LB_LEAST_REQUEST);
    int64_t rr[2] = {0};
    uint32_t active[2] = {5, 0};
    /* With two endpoints P2C always compares both: the idle one wins every time. */
    for (int i = 0; i < 100; i++) assert_int_equal(lb_pick(&c, rr, active, NULL), 1);
}

static void
test_lb_least_request_spreads_even_load(void **state)
{
    (void)state;
    struct model_cluster c;
    cluster(&c, 4, MODEL_LB_LEAST_REQUEST);
    int64_t rr[4] = {0};
    uint32_t active[4] = {0};
    size_t count[4] = {0};
    for (int i = 0; i < 4000; i++) count[lb_pick(&c, rr, active, NULL)]++;
    /* Ties go to the first of two random picks: each endpoint gets about a quarter; 5 sigma
     * of a binomial(4000, 1/4) is about 137. */
    for (int i = 0; i < 4; i++) assert_true(count[i] > 1000 - 137 && count[i] < 1000 + 137);
}

static void
test_lb_round_robin_and_random_when_asked(void **state)
{
    (void)state;
    struct model_cluster c;
    cluster(&c, 3, MODEL_LB_ROUND_ROBIN);
    int64_t rr[3] = {0};
    uint32_t active[3] = {9, 9, 9};
    size_t first = lb_pick(&c, rr, active, NULL), second = lb_pick(&c, rr, active, NULL);
    size_t third = lb_pick(&c, rr, active, NULL);
    assert_true(first != second && second != third && first != third);
    c.policy.lb.kind = MODEL_LB_RANDOM;
    size_t count[3] = {0};
    for (int i = 0; i < 3000; i++) count[lb_pick(&c, rr, active, NULL)]++;
    for (int i = 0; i < 3; i++) assert_true(count[i] > 1000 - 130 && count[i] < 1000 + 130);
}

static void
test_lb_slow_start_factor_follows_envoy(void **state)
{
    (void)state;
    struct model_cluster c;
    cluster(&c, 1, MODEL_LB_LEAST_REQUEST);
    struct endpoint_state st = {.joined_ms = 1000000};
    eps[0].state = &st;
    assert_true(lb_slow_start_factor(&c, &eps[0], 1000000) == 1.0); /* no warmup: full */
    c.warmup_ms = 10000;
    c.warmup_min = 0.1;
    c.warmup_aggression = 1.0;
    /* max(MinWeightPercent, (max(seconds, 1) / window)^(1/aggression)) */
    assert_float_equal(lb_slow_start_factor(&c, &eps[0], 1000000), 0.1, 1e-9);
    assert_float_equal(lb_slow_start_factor(&c, &eps[0], 1000000 + 5000), 0.5, 1e-9);
    assert_float_equal(lb_slow_start_factor(&c, &eps[0], 1000000 + 9999), 0.9999, 1e-9);
    assert_true(lb_slow_start_factor(&c, &eps[0], 1000000 + 10000) == 1.0);
    c.warmup_aggression = 2.0;
    assert_float_equal(lb_slow_start_factor(&c, &eps[0], 1000000 + 2500), 0.5, 1e-9);
    c.warmup_min = 0.3;
    assert_float_equal(lb_slow_start_factor(&c, &eps[0], 1000000 + 1000), 0.3162, 1e-4);
    assert_float_equal(lb_slow_start_factor(&c, &eps[0], 1000000 + 500), 0.3162, 1e-4);
    c.warmup_aggression = 1.0; /* (1/10)^1 is below the minimum: the minimum holds */
    assert_float_equal(lb_slow_start_factor(&c, &eps[0], 1000000 + 1000), 0.3, 1e-9);
}

static void
test_lb_new_endpoint_warms_up_while_old_ones_take_the_rest(void **state)
{
    (void)state;
    struct model_cluster c;
    cluster(&c, 2, MODEL_LB_LEAST_REQUEST); /* LEAST_REQUEST by default: slow start applies */
    struct endpoint_state old = {.joined_ms = 0}, young = {.joined_ms = now_ms() - 5000};
    eps[0].state = &old;
    eps[1].state = &young;
    c.warmup_ms = 10000;
    c.warmup_min = 0.1;
    c.warmup_aggression = 1.0;
    int64_t rr[2] = {0};
    uint32_t active[2] = {0};
    size_t count[2] = {0};
    for (int i = 0; i < 3000; i++) count[lb_pick(&c, rr, active, NULL)]++;
    /* half a weight against a full one: a third of the requests, within the drift of the
     * clock during the loop */
    if (count[1] < 980 || count[1] > 1040) fail_msg("young endpoint got %zu of 3000", count[1]);
    young.joined_ms = 0; /* warmed up: back to an even spread */
    memset(count, 0, sizeof(count));
    for (int i = 0; i < 3000; i++) count[lb_pick(&c, rr, active, NULL)]++;
    assert_true(count[1] > 1500 - 150 && count[1] < 1500 + 150);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lb_default_is_least_request_and_avoids_the_busy_endpoint),
        cmocka_unit_test(test_lb_least_request_spreads_even_load),
        cmocka_unit_test(test_lb_round_robin_and_random_when_asked),
        cmocka_unit_test(test_lb_slow_start_factor_follows_envoy),
        cmocka_unit_test(test_lb_new_endpoint_warms_up_while_old_ones_take_the_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
