/* SPDX-License-Identifier: Apache-2.0 */
/* Smooth weighted split: exact counts over every window of `total` requests, spread out,
 * relative weights, and a zero weight never chosen. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lb/lb.h"
#include "lb/split.h"

static void
make_route(struct model_route *r, struct model_destination *d, const uint32_t *w, size_t n)
{
    memset(r, 0, sizeof(*r));
    r->dests = d;
    r->n_dests = n;
    for (size_t i = 0; i < n; i++) {
        memset(&d[i], 0, sizeof(d[i]));
        d[i].weight = w[i];
        r->total_weight += w[i];
    }
}

static void
test_split_90_10_is_exact_in_every_window(void **state)
{
    (void)state;
    struct snapshot snap = {.n_split_slots = 2};
    struct split_state st;
    assert_int_equal(split_init(&st, &snap, 0), 0);
    struct model_route r;
    struct model_destination d[2];
    uint32_t w[] = {90, 10};
    make_route(&r, d, w, 2);
    size_t picks[1000];
    for (size_t i = 0; i < 1000; i++) picks[i] = split_pick(&st, &r);
    /* Every window of 100 consecutive picks holds exactly 10 for v2. */
    for (size_t start = 0; start + 100 <= 1000; start++) {
        size_t v2 = 0;
        for (size_t i = start; i < start + 100; i++) v2 += picks[i] == 1;
        assert_int_equal(v2, 10);
    }
    /* And they are spread: never two v2 in a row, at most 10 v1 between two v2. */
    size_t run = 0;
    for (size_t i = 0; i < 1000; i++) {
        run = picks[i] == 0 ? run + 1 : 0;
        assert_true(run <= 10);
        if (i) assert_false(picks[i] == 1 && picks[i - 1] == 1);
    }
    split_fini(&st);
}

/* Each pick is counted per destination, for /splits' observed share. */
static void
test_split_counts_picks(void **state)
{
    (void)state;
    struct snapshot snap = {.n_split_slots = 2};
    struct split_state st;
    assert_int_equal(split_init(&st, &snap, 0), 0);
    struct model_route r;
    struct model_destination d[2];
    uint32_t w[] = {90, 10};
    make_route(&r, d, w, 2);
    for (size_t i = 0; i < 250; i++) split_pick(&st, &r);
    assert_int_equal(st.picks[0], 225);
    assert_int_equal(st.picks[1], 25);
    split_fini(&st);
}

static void
test_split_relative_weights_and_cutover(void **state)
{
    (void)state;
    struct snapshot snap = {.n_split_slots = 3};
    struct split_state st;
    assert_int_equal(split_init(&st, &snap, 0), 0);
    struct model_route r;
    struct model_destination d[3];
    uint32_t w[] = {1, 3, 0};
    make_route(&r, d, w, 3);
    size_t count[3] = {0};
    for (size_t i = 0; i < 400; i++) count[split_pick(&st, &r)]++;
    assert_int_equal(count[0], 100);
    assert_int_equal(count[1], 300);
    assert_int_equal(count[2], 0);
    split_fini(&st);
}

static void
test_split_routes_keep_separate_state(void **state)
{
    (void)state;
    struct snapshot snap = {.n_split_slots = 4};
    struct split_state st;
    assert_int_equal(split_init(&st, &snap, 0), 0);
    struct model_route a, b;
    struct model_destination da[2], db[2];
    uint32_t wa[] = {50, 50}, wb[] = {99, 1};
    make_route(&a, da, wa, 2);
    make_route(&b, db, wb, 2);
    b.split_offset = 2;
    size_t ca = 0, cb = 0;
    for (size_t i = 0; i < 100; i++) {
        ca += split_pick(&st, &a);
        cb += split_pick(&st, &b);
    }
    assert_int_equal(ca, 50);
    assert_int_equal(cb, 1);
    split_fini(&st);
}

static void
test_lb_rr_honours_endpoint_weights(void **state)
{
    (void)state;
    struct model_endpoint eps[3];
    memset(eps, 0, sizeof(eps));
    eps[0].weight = 1;
    eps[1].weight = 1;
    eps[2].weight = 2;
    struct model_cluster c = {.n_endpoints = 3, .endpoints = eps};
    int64_t cur[3] = {0};
    size_t count[3] = {0};
    for (int i = 0; i < 400; i++) count[lb_rr_pick(cur, &c)]++;
    assert_int_equal(count[0], 100);
    assert_int_equal(count[1], 100);
    assert_int_equal(count[2], 200);
    /* Equal weights: plain round robin, in order. */
    eps[2].weight = 1;
    int64_t cur2[3] = {0};
    size_t last = lb_rr_pick(cur2, &c);
    for (int i = 0; i < 30; i++) {
        size_t next = lb_rr_pick(cur2, &c);
        assert_int_not_equal(next, last);
        last = next;
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_90_10_is_exact_in_every_window),
        cmocka_unit_test(test_split_relative_weights_and_cutover),
        cmocka_unit_test(test_split_counts_picks),
        cmocka_unit_test(test_split_routes_keep_separate_state),
        cmocka_unit_test(test_lb_rr_honours_endpoint_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
