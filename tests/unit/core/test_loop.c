/* SPDX-License-Identifier: Apache-2.0 */
/* The loop's timers on the real clocks: a timer armed at now_ms() + d never fires before d
 * has passed on the precise clock, although now_ms() reads the coarse one. And a peer's
 * shutdown: data and a FIN that arrive together come in one edge with LOOP_IN and
 * LOOP_RDHUP, and no edge follows for the FIN, so a reader that stopped at a short read
 * would never see the end of stream. On the harness's fake clock: timers fire in order, never
 * before their delay (the coarse-clock lag included), and the idle callback runs after every
 * batch. Two-phase close: a watch killed during a batch gets none of that batch's events.
 * loop_stop() from another thread ends loop_run. */
#include "core/compiler.h"
#include "core/loop.h"
#include "core/now.h"
#include "harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define ROUNDS 60 /* delays of 9 to 17 ms: every phase against the wheel's 8 ms tick */

struct probe {
    struct wheel_timer t; /* first: the callback gets it back */
    struct loop *loop;
    uint64_t armed_us, fired_us;
};

static void
on_fire(struct wheel_timer *t)
{
    struct probe *p = (struct probe *)t;
    p->fired_us = now_us_precise();
    loop_stop(p->loop);
}

/* An eventfd that re-arms itself on every wake keeps the loop spinning, so the wheel is
 * checked as often as possible: any early firing shows. */
static void
on_spin(struct loop_watch *w, unsigned events)
{
    (void)events;
    uint64_t v = 1;
    if (read(w->fd, &v, sizeof(v)) < 0) v = 1;
    if (write(w->fd, &v, sizeof(v)) < 0) return;
}

static void
test_loop_timer_never_fires_before_its_delay(void **state)
{
    (void)state;
    int early = 0;
    for (int i = 0; i < ROUNDS; i++) {
        uint64_t delay_ms = 9 + (uint64_t)i % 9;
        struct loop l;
        assert_int_equal(loop_init(&l), 0);
        struct probe p = {.t.cb = on_fire, .loop = &l};
        struct loop_watch spin = {.fd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC), .cb = on_spin};
        assert_true(spin.fd >= 0);
        assert_int_equal(loop_add(&l, &spin, LOOP_IN), 0);
        p.armed_us = now_us_precise();
        wheel_arm(&l.wheel, &p.t, now_ms() + delay_ms);
        loop_run(&l, NULL, NULL);
        assert_true(p.fired_us > 0);
        if (p.fired_us - p.armed_us < delay_ms * 1000) early++;
        loop_kill(&l, &spin);
        loop_fini(&l);
    }
    /* Before the loop allowed for the coarse clock's lag, some rounds fired 1-5 ms early. */
    assert_int_equal(early, 0);
}

static unsigned seen;
static int calls;

static void
on_ready(struct loop_watch *w, unsigned events)
{
    seen |= events;
    calls++;
    char buf[64];
    while (read(w->fd, buf, sizeof(buf)) > 0) {
    }
}

static void
on_stop_soon(void *arg)
{
    loop_stop(arg);
}

static void
test_data_and_fin_in_one_edge_report_rdhup(void **state)
{
    (void)state;
    struct loop l;
    assert_int_equal(loop_init(&l), 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    assert_int_equal(write(sv[1], "last bytes", 10), 10);
    assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
    struct loop_watch w = {.fd = sv[0], .cb = on_ready};
    assert_int_equal(loop_add(&l, &w, LOOP_IN), 0);
    seen = 0;
    calls = 0;
    loop_run(&l, on_stop_soon, &l); /* one batch */
    assert_int_equal(calls, 1);
    assert_true(seen & LOOP_IN);
    assert_true(seen & LOOP_RDHUP);
    loop_kill(&l, &w);
    close(sv[1]);
    loop_fini(&l);
}

/* ---- on the fake clock ---- */

struct fake_probe {
    struct wheel_timer t; /* first */
    uint64_t due_ms, fired_ms;
    int order;
};

static int fired_count;

static void
on_fake_fire(struct wheel_timer *t)
{
    struct fake_probe *p = (struct fake_probe *)t;
    p->fired_ms = now_ms();
    p->order = ++fired_count;
}

struct fake_run {
    struct loop *l;
    struct fake_probe *p;
    size_t n;
    int batches;
};

/* After every batch: one fake millisecond passes; stop once every timer fired (or, as a
 * bound, after 10,000 batches). */
static void
on_fake_idle(void *arg)
{
    struct fake_run *run = arg;
    run->batches++;
    harness_clock_advance(1);
    if (run->l->wheel.armed == 0 || run->batches >= 10000) loop_stop(run->l);
}

static void
test_loop_timers_on_the_fake_clock_fire_in_order_never_early(void **state)
{
    (void)state;
    harness_clock_set(5000000);
    struct loop l;
    assert_int_equal(loop_init(&l), 0);
    struct loop_watch spin = {.fd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC), .cb = on_spin};
    assert_true(spin.fd >= 0);
    assert_int_equal(loop_add(&l, &spin, LOOP_IN), 0);
    static const uint64_t delays[] = {1, 7, 8, 9, 15, 16, 17, 100, 250, 4095, 4096, 5000};
    struct fake_probe p[ARRAY_SIZE(delays)];
    fired_count = 0;
    uint64_t t0 = now_ms();
    assert_int_equal(t0, 5000000);
    /* Armed out of order; each fires after its own delay. */
    for (size_t k = 0; k < ARRAY_SIZE(delays); k++) {
        size_t i = (k * 5) % ARRAY_SIZE(delays);
        p[i] = (struct fake_probe){.t.cb = on_fake_fire, .due_ms = t0 + delays[i]};
        wheel_arm(&l.wheel, &p[i].t, p[i].due_ms);
    }
    struct fake_run run = {.l = &l, .p = p, .n = ARRAY_SIZE(delays)};
    loop_run(&l, on_fake_idle, &run);
    assert_int_equal(l.wheel.armed, 0);
    for (size_t i = 0; i < ARRAY_SIZE(delays); i++) {
        assert_true(p[i].fired_ms >= p[i].due_ms);
        /* Late by at most a tick plus the coarse clock's lag the loop allows for. */
        assert_true(p[i].fired_ms <= p[i].due_ms + WHEEL_TICK_MS + l.lag_ms);
        if (i > 0 && delays[i] - delays[i - 1] > WHEEL_TICK_MS)
            assert_true(p[i].order > p[i - 1].order);
    }
    assert_true(run.batches >= 5000); /* the last one waited 5 s of fake time */
    loop_kill(&l, &spin);
    loop_fini(&l);
    harness_clock_real();
}

/* ---- two-phase close ---- */

struct pair_watch {
    struct loop_watch w; /* first */
    struct loop *l;
    struct pair_watch *other;
    int calls;
};

static void
on_pair(struct loop_watch *w, unsigned events)
{
    (void)events;
    struct pair_watch *p = (struct pair_watch *)w;
    p->calls++;
    if (p->other && p->other->w.fd >= 0) loop_kill(p->l, &p->other->w);
}

static void
test_watch_killed_in_a_batch_gets_none_of_its_events(void **state)
{
    (void)state;
    struct loop l;
    assert_int_equal(loop_init(&l), 0);
    struct pair_watch a = {.l = &l}, b = {.l = &l};
    a.other = &b;
    b.other = &a;
    a.w = (struct loop_watch){.fd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC), .cb = on_pair};
    b.w = (struct loop_watch){.fd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC), .cb = on_pair};
    int b_fd = b.w.fd;
    assert_int_equal(loop_add(&l, &a.w, LOOP_IN), 0);
    assert_int_equal(loop_add(&l, &b.w, LOOP_IN), 0);
    loop_run(&l, on_stop_soon, &l); /* one batch: both are ready in it */
    /* Whichever ran first killed the other, whose event in the same batch went nowhere. */
    assert_int_equal(a.calls + b.calls, 1);
    struct pair_watch *killed = a.calls ? &b : &a;
    assert_int_equal(killed->w.fd, -1);
    if (killed == &b) assert_int_equal(fcntl(b_fd, F_GETFD), -1); /* and its fd is closed */
    struct pair_watch *alive = a.calls ? &a : &b;
    alive->other = NULL;
    loop_kill(&l, &alive->w);
    loop_fini(&l);
}

/* ---- stop from another thread, and the idle callback ---- */

static void *
stopper(void *arg)
{
    loop_stop(arg);
    return NULL;
}

static pthread_t stopper_thread;
static struct loop *stop_loop;

/* Runs inside loop_run, so the other thread's stop reaches a running loop, asleep in
 * epoll_wait (no timers: up to a second) until the stop eventfd wakes it. */
static void
start_stopper(struct loop_watch *w, unsigned events)
{
    (void)events;
    uint64_t v;
    if (read(w->fd, &v, sizeof(v)) < 0) return;
    assert_int_equal(pthread_create(&stopper_thread, NULL, stopper, stop_loop), 0);
}

static void
count_idle(void *arg)
{
    (*(int *)arg)++;
}

static void
test_loop_stop_from_another_thread_ends_run(void **state)
{
    (void)state;
    struct loop l;
    assert_int_equal(loop_init(&l), 0);
    stop_loop = &l;
    struct loop_watch kick = {.fd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC), .cb = start_stopper};
    assert_true(kick.fd >= 0);
    assert_int_equal(loop_add(&l, &kick, LOOP_IN), 0);
    int idle = 0;
    loop_run(&l, count_idle, &idle); /* returns only through the other thread's stop */
    pthread_join(stopper_thread, NULL);
    assert_true(idle >= 1); /* the idle callback ran after the batch that started it */
    loop_kill(&l, &kick);
    loop_fini(&l);
}

static void
test_fin_alone_reports_rdhup_with_in(void **state)
{
    (void)state;
    struct loop l;
    assert_int_equal(loop_init(&l), 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    assert_int_equal(shutdown(sv[1], SHUT_WR), 0); /* a FIN and no data */
    struct loop_watch w = {.fd = sv[0], .cb = on_ready};
    assert_int_equal(loop_add(&l, &w, LOOP_IN), 0);
    seen = 0;
    calls = 0;
    loop_run(&l, on_stop_soon, &l);
    assert_int_equal(calls, 1);
    assert_true(seen & LOOP_IN); /* a reader that only looks at LOOP_IN reads the EOF */
    assert_true(seen & LOOP_RDHUP);
    assert_false(seen & LOOP_HUP); /* our side may still write */
    char c;
    assert_int_equal(read(sv[0], &c, 1), 0);
    loop_kill(&l, &w);
    close(sv[1]);
    loop_fini(&l);
}

static void
count_then_stop(void *arg)
{
    struct loop *l = arg;
    calls++;
    loop_stop(l);
}

/* A loop stopped once runs again (the first config read runs it before the main run). */
static void
test_loop_runs_again_after_a_stop(void **state)
{
    (void)state;
    struct loop l;
    assert_int_equal(loop_init(&l), 0);
    calls = 0;
    loop_run(&l, count_then_stop, &l);
    loop_run(&l, count_then_stop, &l);
    assert_int_equal(calls, 2);
    loop_fini(&l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_timer_never_fires_before_its_delay),
        cmocka_unit_test(test_data_and_fin_in_one_edge_report_rdhup),
        cmocka_unit_test(test_loop_timers_on_the_fake_clock_fire_in_order_never_early),
        cmocka_unit_test(test_watch_killed_in_a_batch_gets_none_of_its_events),
        cmocka_unit_test(test_loop_stop_from_another_thread_ends_run),
        cmocka_unit_test(test_fin_alone_reports_rdhup_with_in),
        cmocka_unit_test(test_loop_runs_again_after_a_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
