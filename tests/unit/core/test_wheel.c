/* SPDX-License-Identifier: Apache-2.0 */
/* Timer wheel with a fake clock: timers fire once, in their tick, never early; re-arming
 * moves a deadline; disarming cancels; timers more than one turn away wait their turn (the
 * single-level wheel's stand-in for cascading between levels), also when one advance jumps
 * several turns; callbacks may cancel, re-arm and arm timers of the slot being fired. */
#include <string.h>

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

/* ---- many timers on a seeded schedule ---- */

#define N_TIMERS 3000

struct probe {
    struct wheel_timer t; /* first: the callback gets it back */
    uint64_t due_ms;      /* the deadline it was armed with */
    uint64_t fired_at;    /* the clock when it fired (0: not yet) */
    int fired;
    struct probe *victim; /* cancelled by this one's callback, when set */
};

static struct wheel *cur_wheel;
static uint64_t cur_ms;

static void
on_probe(struct wheel_timer *t)
{
    struct probe *p = (struct probe *)t;
    p->fired++;
    p->fired_at = cur_ms;
    if (p->victim && wheel_armed(&p->victim->t)) {
        wheel_disarm(cur_wheel, &p->victim->t);
        p->victim->due_ms = 0; /* must never fire now */
    }
}

static uint64_t
xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void
test_wheel_seeded_schedule_fires_each_once_in_its_tick(void **state)
{
    (void)state;
    static struct probe p[N_TIMERS];
    static struct wheel w;
    memset(p, 0, sizeof(p));
    uint64_t seed = 0x9e3779b97f4a7c15ULL, start = 123457;
    wheel_init(&w, start);
    cur_wheel = &w;
    uint64_t turn = (uint64_t)WHEEL_TICK_MS * WHEEL_SLOTS;
    for (int i = 0; i < N_TIMERS; i++) {
        /* Up to three and a half turns away: most share slots with timers of other turns. */
        p[i].due_ms = start + 1 + xorshift(&seed) % (turn * 7 / 2);
        p[i].t.cb = on_probe;
        if (i % 7 == 3) p[i].victim = &p[(i * 31 + 5) % N_TIMERS];
        wheel_arm(&w, &p[i].t, p[i].due_ms);
    }
    assert_int_equal(w.armed, N_TIMERS);
    for (cur_ms = start; w.armed; cur_ms += 1 + xorshift(&seed) % 23) {
        wheel_advance(&w, cur_ms);
        assert_true(cur_ms < start + 5 * turn); /* bounded */
    }
    int n_fired = 0, cancelled = 0;
    for (int i = 0; i < N_TIMERS; i++) {
        if (!p[i].due_ms) {
            cancelled++;
            assert_int_equal(p[i].fired, 0); /* cancelled while armed: never fires */
            continue;
        }
        n_fired++;
        assert_int_equal(p[i].fired, 1);
        /* Never early; at most one tick late plus the step the clock took. */
        if (p[i].fired_at < p[i].due_ms)
            fail_msg("timer %d due %llu fired at %llu", i, (unsigned long long)p[i].due_ms,
                     (unsigned long long)p[i].fired_at);
        assert_true(p[i].fired_at < p[i].due_ms + WHEEL_TICK_MS + 23);
    }
    assert_true(cancelled > 0 && n_fired > N_TIMERS / 2);
}

static void
test_wheel_long_jump_fires_everything_due(void **state)
{
    (void)state;
    static struct probe p[64];
    struct wheel w;
    memset(p, 0, sizeof(p));
    wheel_init(&w, 0);
    cur_wheel = &w;
    uint64_t turn = (uint64_t)WHEEL_TICK_MS * WHEEL_SLOTS;
    for (int i = 0; i < 64; i++) {
        p[i].t.cb = on_probe;
        p[i].due_ms = 100 + (uint64_t)i * turn / 8; /* spread over eight turns */
        wheel_arm(&w, &p[i].t, p[i].due_ms);
    }
    /* One advance over ten turns (a loop that slept): every timer is due and fires once. */
    cur_ms = 10 * turn;
    wheel_advance(&w, cur_ms);
    for (int i = 0; i < 64; i++) assert_int_equal(p[i].fired, 1);
    assert_int_equal(w.armed, 0);
    assert_int_equal(wheel_wait_ms(&w), -1);
}

/* Callbacks that change the slot being fired. */
static struct wheel_timer t_self, t_other, t_late;
static int n_self, n_other, n_late;

static void
cb_other(struct wheel_timer *t)
{
    (void)t;
    n_other++;
}

static void
cb_late(struct wheel_timer *t)
{
    (void)t;
    n_late++;
}

/* Re-arms itself for the same (passed) deadline, cancels its slot mate and arms another for
 * the past: all of them go to the next tick, not this one, so the advance ends. */
static void
cb_self(struct wheel_timer *t)
{
    n_self++;
    wheel_disarm(cur_wheel, &t_other);
    if (n_self == 1) {
        wheel_arm(cur_wheel, t, 0);
        wheel_arm(cur_wheel, &t_late, 0);
    }
}

static void
test_wheel_callback_cancels_and_rearms_in_its_slot(void **state)
{
    (void)state;
    struct wheel w;
    wheel_init(&w, 0);
    cur_wheel = &w;
    n_self = n_other = n_late = 0;
    t_self = (struct wheel_timer){.cb = cb_self};
    t_other = (struct wheel_timer){.cb = cb_other};
    t_late = (struct wheel_timer){.cb = cb_late};
    wheel_arm(&w, &t_other, 40); /* same tick as t_self; armed first, so it sits second */
    wheel_arm(&w, &t_self, 40);
    wheel_advance(&w, 40);
    assert_int_equal(n_self, 1);
    assert_int_equal(n_other, 0); /* cancelled by its slot mate before its turn */
    assert_false(wheel_armed(&t_other));
    assert_int_equal(n_late, 0); /* armed for the past during the tick: the next tick */
    assert_int_equal(w.armed, 2);
    wheel_advance(&w, 40 + WHEEL_TICK_MS);
    assert_int_equal(n_self, 2);
    assert_int_equal(n_late, 1);
    assert_int_equal(n_other, 0);
    assert_int_equal(w.armed, 0);
    /* Disarming an unarmed timer, or twice, changes nothing. */
    wheel_disarm(&w, &t_other);
    wheel_disarm(&w, &t_other);
    assert_int_equal(w.armed, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wheel_fires_once_and_never_early),
        cmocka_unit_test(test_wheel_rearm_and_disarm),
        cmocka_unit_test(test_wheel_seeded_schedule_fires_each_once_in_its_tick),
        cmocka_unit_test(test_wheel_long_jump_fires_everything_due),
        cmocka_unit_test(test_wheel_callback_cancels_and_rearms_in_its_slot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
