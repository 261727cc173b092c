/* SPDX-License-Identifier: Apache-2.0 */
/* Smooth weighted split: exact counts over every window of `total` requests, spread out,
 * relative weights, and a zero weight never chosen. */
#include <math.h>
#include <stdio.h>
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

/* The user's point is the hash's fraction of 2^64: it falls in the interval of the
 * destination whose cumulative weights (listed order) hold it. */
static void
test_sticky_index_picks_the_interval_holding_the_point(void **state)
{
    (void)state;
    struct model_route r;
    struct model_destination d[3];
    uint32_t w[] = {20, 30, 50};
    make_route(&r, d, w, 3);
    uint64_t q = UINT64_MAX / 100 + 1; /* a hundredth of 2^64, rounded up */
    assert_int_equal(split_sticky_index(&r, 0), 0);
    assert_int_equal(split_sticky_index(&r, 19 * q), 0);
    assert_int_equal(split_sticky_index(&r, 20 * q), 1);
    assert_int_equal(split_sticky_index(&r, 49 * q), 1);
    assert_int_equal(split_sticky_index(&r, 50 * q), 2);
    assert_int_equal(split_sticky_index(&r, UINT64_MAX), 2);
    /* Relative weights: 1/1 splits at half of 2^64, like 50/50. */
    uint32_t half[] = {1, 1};
    make_route(&r, d, half, 2);
    assert_int_equal(split_sticky_index(&r, UINT64_C(1) << 63), 1);
    assert_int_equal(split_sticky_index(&r, (UINT64_C(1) << 63) - 1), 0);
    /* A sole destination takes every user. */
    uint32_t one[] = {7};
    make_route(&r, d, one, 1);
    assert_int_equal(split_sticky_index(&r, UINT64_MAX), 0);
}

/* The seed is part of the contract: every instance of a fleet, whatever its build, must
 * put a user at the same point. */
static void
test_sticky_hash_is_fixed(void **state)
{
    (void)state;
    assert_true(split_sticky_hash("alice", 5) == lb_hash_seeded("alice", 5, SPLIT_STICKY_SEED));
    assert_true(SPLIT_STICKY_SEED == UINT64_C(0x6d6573686c657431));
    assert_true(split_sticky_hash("alice", 5) != split_sticky_hash("bob", 3));
}

static size_t
sticky_of(struct model_route *r, size_t user)
{
    char key[32];
    int n = snprintf(key, sizeof(key), "user-%zu", user);
    return split_sticky_index(r, split_sticky_hash(key, (size_t)n));
}

/* A canary rollout 10 -> 50 -> 100 over 10,000 users: nobody goes back to stable, and
 * at each step the share on the canary is within 5 sigma of its weight. */
static void
test_sticky_rollout_only_moves_users_to_the_canary(void **state)
{
    (void)state;
    enum { USERS = 10000 };
    static unsigned char was[USERS];
    const uint32_t steps[][2] = {{90, 10}, {50, 50}, {0, 100}};
    for (size_t s = 0; s < 3; s++) {
        struct model_route r;
        struct model_destination d[2];
        /* as the model compiles it: a weight-0 destination is dropped when there are several */
        uint32_t w[2];
        size_t n = 0;
        for (size_t i = 0; i < 2; i++)
            if (steps[s][i]) w[n++] = steps[s][i];
        make_route(&r, d, w, n);
        size_t canary = 0, back = 0;
        for (size_t u = 0; u < USERS; u++) {
            unsigned char on = n == 1 ? 1 : (unsigned char)sticky_of(&r, u);
            if (s && was[u] && !on) back++;
            was[u] = on;
            canary += on;
        }
        assert_int_equal(back, 0);
        double p = steps[s][1] / 100.0, mean = USERS * p;
        double sigma = sqrt(USERS * p * (1 - p));
        assert_true(fabs((double)canary - mean) <= 5 * sigma);
    }
}

/* A weight change moves interval bounds only: a user moves when a bound passes its point,
 * to the neighbouring destination, and no one else moves. 50/30/20 -> 40/24/36 moves the
 * bounds 0.5 -> 0.4 and 0.8 -> 0.64: 26% of users, each one step towards the end. */
static void
test_sticky_weight_change_moves_only_the_users_it_must(void **state)
{
    (void)state;
    enum { USERS = 10000 };
    struct model_route a, b;
    struct model_destination da[3], db[3];
    uint32_t wa[] = {50, 30, 20}, wb[] = {40, 24, 36};
    make_route(&a, da, wa, 3);
    make_route(&b, db, wb, 3);
    size_t moved = 0;
    for (size_t u = 0; u < USERS; u++) {
        size_t x = sticky_of(&a, u), y = sticky_of(&b, u);
        if (x == y) continue;
        moved++;
        assert_int_equal(y, x + 1);
    }
    double sigma = sqrt(USERS * 0.26 * 0.74);
    assert_true(fabs((double)moved - USERS * 0.26) <= 5 * sigma);
    /* The same weights scaled (5/3/2) move no one. */
    uint32_t wc[] = {5, 3, 2};
    make_route(&b, db, wc, 3);
    for (size_t u = 0; u < USERS; u++) assert_int_equal(sticky_of(&a, u), sticky_of(&b, u));
}

/* Sticky picks are counted with the others, for /splits' observed share. */
static void
test_sticky_picks_are_counted(void **state)
{
    (void)state;
    struct snapshot snap = {.n_split_slots = 2};
    struct split_state st;
    assert_int_equal(split_init(&st, &snap, 0), 0);
    struct model_route r;
    struct model_destination d[2];
    uint32_t w[] = {50, 50};
    make_route(&r, d, w, 2);
    assert_int_equal(split_pick_sticky(&st, &r, UINT64_MAX), 1);
    assert_int_equal(split_pick_sticky(&st, &r, UINT64_MAX), 1);
    assert_int_equal(split_pick_sticky(&st, &r, 0), 0);
    assert_int_equal(st.picks[0], 1);
    assert_int_equal(st.picks[1], 2);
    /* and the round robin's counters are left alone for requests without a key */
    assert_int_equal(st.current[0], 0);
    assert_int_equal(st.current[1], 0);
    split_fini(&st);
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
        cmocka_unit_test(test_sticky_index_picks_the_interval_holding_the_point),
        cmocka_unit_test(test_sticky_hash_is_fixed),
        cmocka_unit_test(test_sticky_rollout_only_moves_users_to_the_canary),
        cmocka_unit_test(test_sticky_weight_change_moves_only_the_users_it_must),
        cmocka_unit_test(test_sticky_picks_are_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
