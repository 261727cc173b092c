/* SPDX-License-Identifier: Apache-2.0 */
/* The loop's timers on the real clocks: a timer armed at now_ms() + d never fires before d
 * has passed on the precise clock, although now_ms() reads the coarse one. And a peer's
 * shutdown: data and a FIN that arrive together come in one edge with LOOP_IN and
 * LOOP_RDHUP, and no edge follows for the FIN, so a reader that stopped at a short read
 * would never see the end of stream. */
#include "core/loop.h"
#include "core/now.h"
#include "harness.h"

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_timer_never_fires_before_its_delay),
        cmocka_unit_test(test_data_and_fin_in_one_edge_report_rdhup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
