/* SPDX-License-Identifier: Apache-2.0 */
/* Consistent hashing: xxHash64 as Envoy, ring and Maglev tables that spread keys by weight,
 * keep every key on one endpoint, and move only (ring) or almost only (Maglev) the keys of
 * an endpoint that leaves. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "lb/lb.h"

#define MAX_EPS 8
#define KEYS 20000

static struct arena arena;

static void
setup_cluster(struct model_cluster *c, struct model_endpoint *eps, size_t n, const uint32_t *w)
{
    memset(c, 0, sizeof(*c));
    memset(eps, 0, n * sizeof(*eps));
    for (size_t i = 0; i < n; i++) {
        struct sockaddr_in *sa = (struct sockaddr_in *)&eps[i].addr;
        sa->sin_family = AF_INET;
        inet_pton(AF_INET, "10.0.0.1", &sa->sin_addr);
        eps[i].port = (uint16_t)(8000 + i);
        eps[i].weight = w ? w[i] : 1;
        eps[i].state_id = (uint32_t)i;
    }
    c->endpoints = eps;
    c->n_endpoints = n;
}

static uint64_t
key_hash(int k)
{
    char key[32];
    int n = snprintf(key, sizeof(key), "user-%d", k);
    return lb_hash(key, (size_t)n);
}

static void
test_hash_is_xxhash64(void **state)
{
    (void)state;
    /* Reference values of XXH64 with seed 0. */
    assert_true(lb_hash("", 0) == 0xEF46DB3751D8E999ull);
    assert_true(lb_hash("a", 1) == 0xD24EC4F1A98C6E5Bull);
    assert_true(lb_hash("abc", 3) == 0x44BC2CF5AD770999ull);
    assert_true(lb_hash_seeded("abc", 3, 1) != lb_hash("abc", 3));
}

static void
test_ring_size_follows_envoy(void **state)
{
    (void)state;
    struct model_cluster c;
    struct model_endpoint eps[MAX_EPS];
    setup_cluster(&c, eps, 3, NULL);
    const struct lb_table *t = lb_ring_build(&c, &arena, 0);
    /* ceil(1024 / 3) points each */
    assert_int_equal(t->size, 1026);
    for (size_t i = 1; i < t->size; i++) assert_true(t->points[i - 1] <= t->points[i]);
    t = lb_ring_build(&c, &arena, 3000);
    assert_int_equal(t->size, 3000);
}

static void
count_keys(const struct lb_table *t, size_t *count)
{
    for (int k = 0; k < KEYS; k++) count[lb_table_pick(t, key_hash(k))]++;
}

static void
test_tables_spread_keys_by_weight(void **state)
{
    (void)state;
    struct model_cluster c;
    struct model_endpoint eps[MAX_EPS];
    for (int maglev = 0; maglev < 2; maglev++) {
        setup_cluster(&c, eps, 4, NULL);
        const struct lb_table *t =
            maglev ? lb_maglev_build(&c, &arena, 65537) : lb_ring_build(&c, &arena, 1024);
        size_t count[MAX_EPS] = {0};
        count_keys(t, count);
        for (int i = 0; i < 4; i++)
            if (count[i] < KEYS / 4 * 80 / 100 || count[i] > KEYS / 4 * 120 / 100)
                fail_msg("%s: endpoint %d got %zu of %d keys", maglev ? "maglev" : "ring", i,
                         count[i], KEYS);
        uint32_t w[2] = {1, 3};
        setup_cluster(&c, eps, 2, w);
        t = maglev ? lb_maglev_build(&c, &arena, 65537) : lb_ring_build(&c, &arena, 1024);
        memset(count, 0, sizeof(count));
        count_keys(t, count);
        /* weight 1 of 4: a quarter of the keys, within a few points */
        if (count[0] < KEYS * 20 / 100 || count[0] > KEYS * 30 / 100)
            fail_msg("%s: weight 1 of 4 got %zu of %d keys", maglev ? "maglev" : "ring", count[0],
                     KEYS);
    }
}

static void
test_maglev_slots_are_balanced(void **state)
{
    (void)state;
    struct model_cluster c;
    struct model_endpoint eps[MAX_EPS];
    setup_cluster(&c, eps, 3, NULL);
    const struct lb_table *t = lb_maglev_build(&c, &arena, 251);
    size_t slots[3] = {0};
    for (size_t s = 0; s < t->size; s++) slots[t->hosts[s]]++;
    /* equal weights take turns: 84, 84, 83 of 251 */
    for (int i = 0; i < 3; i++) assert_true(slots[i] == 83 || slots[i] == 84);
}

/* Remove endpoint <gone> of 5 and count keys that changed endpoint, apart from its own. */
static size_t
moved_when_one_leaves(bool maglev, size_t gone, uint64_t rest_ring_size, size_t *own)
{
    struct model_cluster all, rest;
    struct model_endpoint eps_all[MAX_EPS], eps_rest[MAX_EPS];
    setup_cluster(&all, eps_all, 5, NULL);
    setup_cluster(&rest, eps_rest, 5, NULL);
    /* the same endpoints without <gone> */
    memmove(&eps_rest[gone], &eps_rest[gone + 1], (4 - gone) * sizeof(eps_rest[0]));
    rest.n_endpoints = 4;
    const struct lb_table *a =
        maglev ? lb_maglev_build(&all, &arena, 65537) : lb_ring_build(&all, &arena, 1024);
    const struct lb_table *b = maglev ? lb_maglev_build(&rest, &arena, 65537)
                                      : lb_ring_build(&rest, &arena, rest_ring_size);
    size_t moved = 0;
    *own = 0;
    for (int k = 0; k < KEYS; k++) {
        uint64_t h = key_hash(k);
        size_t before = lb_table_pick(a, h);
        uint16_t after_port = eps_rest[lb_table_pick(b, h)].port;
        if (before == gone) {
            (*own)++;
            continue;
        }
        if (eps_all[before].port != after_port) moved++;
    }
    return moved;
}

static void
test_ring_moves_only_the_keys_of_the_endpoint_that_left(void **state)
{
    (void)state;
    size_t own;
    /* With the same points per endpoint (205 of the 1025-point ring of five), the survivors'
     * points are unchanged: only the departed endpoint's keys move. */
    assert_int_equal(moved_when_one_leaves(false, 2, 820, &own), 0);
    assert_true(own > 0);
    /* Envoy rescales the ring to at least 1024 points: each survivor gains points 205..255,
     * which take about a fifth of the other keys. meshlet does the same, on purpose. */
    size_t moved = moved_when_one_leaves(false, 2, 1024, &own);
    if (moved > (KEYS - own) / 4) fail_msg("%zu of %zu other keys moved", moved, KEYS - own);
}

static void
test_maglev_moves_few_other_keys_when_an_endpoint_leaves(void **state)
{
    (void)state;
    size_t own;
    size_t moved = moved_when_one_leaves(true, 2, 0, &own);
    assert_true(own > 0);
    /* Maglev trades perfect stability for balance; the paper and Envoy see a few percent. */
    if (moved > (KEYS - own) * 5 / 100) fail_msg("%zu of %zu other keys moved", moved, KEYS - own);
}

static void
test_pick_uses_the_table_or_random_without_key(void **state)
{
    (void)state;
    struct model_cluster c;
    struct model_endpoint eps[MAX_EPS];
    setup_cluster(&c, eps, 4, NULL);
    c.policy.lb.kind = MODEL_LB_CONSISTENT_HASH;
    c.policy.lb.hash.on = MODEL_HASH_HEADER;
    c.policy.lb.hash.name = "x-user";
    lb_prepare_cluster(&c, &arena);
    assert_non_null(c.lb_table);
    assert_int_equal(lb_kind(&c), MODEL_LB_CONSISTENT_HASH);
    int64_t rr[4] = {0};
    uint32_t active[4] = {0};
    for (int k = 0; k < 50; k++) {
        uint64_t h = key_hash(k);
        size_t first = lb_pick(&c, rr, active, &h);
        for (int again = 0; again < 5; again++)
            assert_int_equal(lb_pick(&c, rr, active, &h), first);
    }
    size_t count[4] = {0};
    for (int i = 0; i < 400; i++) count[lb_pick(&c, rr, active, NULL)]++;
    for (int i = 0; i < 4; i++) assert_true(count[i] > 40); /* random, not stuck */
}

int
main(void)
{
    arena_init(&arena, 1 << 16, true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_is_xxhash64),
        cmocka_unit_test(test_ring_size_follows_envoy),
        cmocka_unit_test(test_tables_spread_keys_by_weight),
        cmocka_unit_test(test_maglev_slots_are_balanced),
        cmocka_unit_test(test_ring_moves_only_the_keys_of_the_endpoint_that_left),
        cmocka_unit_test(test_maglev_moves_few_other_keys_when_an_endpoint_leaves),
        cmocka_unit_test(test_pick_uses_the_table_or_random_without_key),
    };
    int rc = cmocka_run_group_tests_name("test_hash", tests, NULL, NULL);
    arena_fini(&arena);
    return rc;
}
