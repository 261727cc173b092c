/* SPDX-License-Identifier: Apache-2.0 */
/* Hash map: insert, replace, lookup of absent keys, growth past many entries. */
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/hmap.h"
#include "harness.h"

static void
test_hmap_put_get_replace(void **state)
{
    (void)state;
    struct hmap m;
    hmap_init(&m);
    assert_null(hmap_get(&m, "a"));
    int one = 1, two = 2;
    assert_null(hmap_put(&m, "a", &one));
    assert_ptr_equal(hmap_get(&m, "a"), &one);
    assert_ptr_equal(hmap_put(&m, "a", &two), &one);
    assert_ptr_equal(hmap_get(&m, "a"), &two);
    assert_int_equal(m.len, 1);
    hmap_fini(&m);
    hmap_fini(&m);
}

static void
test_hmap_grows_and_keeps_every_key(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, 4096, true);
    struct hmap m;
    hmap_init(&m);
    for (int i = 0; i < 20000; i++)
        hmap_put(&m, arena_printf(&a, "host-%d.example.com", i), (void *)(intptr_t)(i + 1));
    assert_int_equal(m.len, 20000);
    for (int i = 0; i < 20000; i++) {
        char key[64];
        snprintf(key, sizeof(key), "host-%d.example.com", i);
        assert_int_equal((intptr_t)hmap_get(&m, key), i + 1);
    }
    assert_null(hmap_get(&m, "host-20000.example.com"));
    hmap_fini(&m);
    arena_fini(&a);
}

static void
test_arena_aligns_zeroes_and_handles_big_blocks(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, 1024, true);
    char *small = arena_alloc(&a, 3);
    char *big = arena_alloc(&a, 100000);
    char *after = arena_alloc(&a, 8);
    assert_int_equal((uintptr_t)small % 16, 0);
    assert_int_equal((uintptr_t)big % 16, 0);
    assert_int_equal((uintptr_t)after % 16, 0);
    for (int i = 0; i < 100000; i++) assert_int_equal(big[i], 0);
    assert_string_equal(arena_strndup(&a, "abcdef", 3), "abc");
    assert_string_equal(arena_printf(&a, "%s-%d", "x", 7), "x-7");
    arena_fini(&a);
    arena_fini(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmap_put_get_replace),
        cmocka_unit_test(test_hmap_grows_and_keeps_every_key),
        cmocka_unit_test(test_arena_aligns_zeroes_and_handles_big_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
