/* SPDX-License-Identifier: Apache-2.0 */
/* Arenas: zeroed, 16-byte aligned bump allocation from one block until it is full; a big
 * allocation gets a block of its own without wasting the current block's tail; copies and
 * printf; fini frees every block (ASan's leak check watches); a request arena answers NULL
 * when memory runs out, at any allocation, and stays usable. */
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "harness.h"

/* The number of blocks an arena holds, by walking its list: struct arena_block is private,
 * but its first member is the next pointer. */
static size_t
blocks(const struct arena *a)
{
    size_t n = 0;
    for (void *const *b = (void *const *)a->head; b; b = *b) n++;
    return n;
}

static void
test_arena_bumps_aligned_zeroed_memory(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, 1024, true);
    assert_null(a.head); /* nothing until the first allocation */
    char *p = arena_alloc(&a, 1);
    char *q = arena_alloc(&a, 17);
    char *r = arena_alloc(&a, 16);
    assert_int_equal((uintptr_t)p % 16, 0);
    assert_int_equal((uintptr_t)q % 16, 0);
    assert_ptr_equal(q, p + 16); /* bump: the next one starts at the rounded end */
    assert_ptr_equal(r, q + 32);
    for (int i = 0; i < 32; i++) assert_int_equal(q[i], 0);
    assert_int_equal(a.used_bytes, 16 + 32 + 16);
    assert_int_equal(blocks(&a), 1);
    arena_fini(&a);
    assert_null(a.head);
    assert_int_equal(a.used_bytes, 0);
    arena_fini(&a); /* twice is a no-op */
    struct arena zero = {0};
    arena_fini(&zero);
}

static void
test_arena_takes_a_new_block_when_full(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, 256, true);
    for (int i = 0; i < 16; i++) assert_non_null(arena_alloc(&a, 16)); /* 256 bytes */
    assert_int_equal(blocks(&a), 1);
    char *p = arena_alloc(&a, 16);
    assert_non_null(p);
    assert_int_equal(blocks(&a), 2);
    memset(p, 0xff, 16); /* the memory is usable to its end (ASan checks) */
    arena_fini(&a);
    /* Blocks are never smaller than 256 bytes. */
    arena_init(&a, 10, true);
    assert_int_equal(a.block_bytes, 256);
    arena_fini(&a);
}

static void
test_big_allocation_gets_its_own_block_and_keeps_the_tail(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, 1024, true);
    char *small = arena_alloc(&a, 16);
    /* Over a quarter of a block, and more than is free: a block of its own. */
    char *big = arena_alloc(&a, 1500);
    assert_non_null(big);
    memset(big, 0xab, 1500);
    assert_int_equal(blocks(&a), 2);
    /* The current block's tail is still used: the next small one follows the first. */
    char *next = arena_alloc(&a, 16);
    assert_ptr_equal(next, small + 16);
    /* A big one on an empty arena becomes its head. */
    struct arena e;
    arena_init(&e, 1024, true);
    assert_non_null(arena_alloc(&e, 4096));
    assert_int_equal(blocks(&e), 1);
    assert_int_equal(e.used_bytes, 4096);
    arena_fini(&e);
    arena_fini(&a);
}

static void
test_arena_copies_strings(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, 512, true);
    assert_string_equal(arena_strdup(&a, "reviews"), "reviews");
    assert_string_equal(arena_strndup(&a, "reviews.prod", 7), "reviews");
    assert_string_equal(arena_printf(&a, "%s/%d", "v", 2), "v/2");
    char *longer = arena_printf(&a, "%0300d", 7); /* bigger than a quarter block */
    assert_int_equal(strlen(longer), 300);
    assert_int_equal(longer[299], '7');
    arena_fini(&a);
}

static void
test_arena_refuses_impossible_sizes(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, 512, false);
    assert_null(arena_alloc(&a, SIZE_MAX));
    assert_null(arena_alloc(&a, SIZE_MAX - 63));
    assert_non_null(arena_alloc(&a, 8));
    arena_fini(&a);
}

/* A request-sized workload that checks every allocation, as data-path code must. */
static void
request_like_work(void *arg)
{
    size_t *completed = arg;
    struct arena a;
    arena_init(&a, 512, false);
    size_t ok = 0;
    for (int i = 0; i < 40; i++) {
        char *p = arena_alloc(&a, (size_t)(i % 5 == 4 ? 300 : 24));
        if (!p) continue; /* that one failed; the arena stays usable */
        memset(p, 1, 24);
        ok++;
    }
    char *s = arena_printf(&a, "%s-%d", "route", 3);
    if (s) assert_string_equal(s, "route-3");
    if (ok == 40 && s) (*completed)++;
    arena_fini(&a);
}

static void
test_request_arena_survives_a_failure_at_any_allocation(void **state)
{
    (void)state;
    size_t completed = 0;
    harness_alloc_fail_off();
    request_like_work(&completed);
    size_t mallocs = harness_alloc_count();
    assert_true(mallocs >= 5); /* several blocks, some of them big ones */
    completed = 0;
    size_t runs = harness_alloc_sweep(request_like_work, &completed, 1000);
    /* Each block allocation failed once, in its own run; only the last run got them all. */
    assert_int_equal(runs, mallocs);
    assert_int_equal(completed, 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_bumps_aligned_zeroed_memory),
        cmocka_unit_test(test_arena_takes_a_new_block_when_full),
        cmocka_unit_test(test_big_allocation_gets_its_own_block_and_keeps_the_tail),
        cmocka_unit_test(test_arena_copies_strings),
        cmocka_unit_test(test_arena_refuses_impossible_sizes),
        cmocka_unit_test(test_request_arena_survives_a_failure_at_any_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
