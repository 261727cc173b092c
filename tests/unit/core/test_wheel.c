/* SPDX-License-Identifier: Apache-2.0 */
/* Timer wheel with a fake clock: timers fire once, in their tick, never early; re-arming
 * moves a deadline; disarming cancels; timers more than one turn away wait their turn. */
#include "core/wheel.h"
#include "harness.h"

static int fired[8];

static void
cb0(struct wheel_timer *t)
{
    (void)t;
    fired[0]++;
}

static void
cb1(struct wheel_timer *t)
{
    (void)t;
    fired[1]++;
}

static void
test_wheel_fires_once_and_never_early(void **state)
{
    (void)state;
    struct wheel w;
    wheel_init(&w, 1000);
    struct wheel_timer a = {.cb = cb0}, b = {.cb = cb1};
    fired[0] = fired[1] = 0;
    wheel_arm(&w, &a, 1100);
    wheel_arm(&w, &b, 1000 + WHEEL_TICK_MS * WHEEL_SLOTS * 3); /* three turns away */
    for (uint64_t t = 1000; t < 1100; t++) wheel_advance(&w, t);
    assert_int_equal(fired[0], 0);
    wheel_advance(&w, 1100 + WHEEL_TICK_MS);
    assert_int_equal(fired[0], 1);
    assert_false(wheel_armed(&a));
    for (uint64_t t = 1100; t < 1000 + WHEEL_TICK_MS * WHEEL_SLOTS * 3; t += 5)
        wheel_advance(&w, t);
    assert_int_equal(fired[1], 0);
    wheel_advance(&w, 1000 + WHEEL_TICK_MS * WHEEL_SLOTS * 3 + WHEEL_TICK_MS);
    assert_int_equal(fired[1], 1);
    assert_int_equal(fired[0], 1);
    assert_int_equal(w.armed, 0);
}

static void
test_wheel_rearm_and_disarm(void **state)
{
    (void)state;
    struct wheel w;
    wheel_init(&w, 0);
    struct wheel_timer a = {.cb = cb0};
    fired[0] = 0;
    wheel_arm(&w, &a, 50);
    wheel_arm(&w, &a, 500); /* pushed back */
    wheel_advance(&w, 100);
    assert_int_equal(fired[0], 0);
    wheel_disarm(&w, &a);
    wheel_advance(&w, 1000);
    assert_int_equal(fired[0], 0);
    assert_int_equal(wheel_wait_ms(&w), -1);
    wheel_arm(&w, &a, 0); /* in the past: next tick */
    wheel_advance(&w, 1000 + WHEEL_TICK_MS);
    assert_int_equal(fired[0], 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wheel_fires_once_and_never_early),
        cmocka_unit_test(test_wheel_rearm_and_disarm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
