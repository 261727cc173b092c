/* SPDX-License-Identifier: Apache-2.0 */
/* epoll, edge-triggered, and an eventfd to stop a loop from another thread. */
#include "core/loop.h"

#include "core/now.h"
#include "core/sys.h"

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

_Static_assert(LOOP_IN == EPOLLIN && LOOP_OUT == EPOLLOUT && LOOP_ERR == EPOLLERR &&
                   LOOP_HUP == EPOLLHUP && LOOP_RDHUP == EPOLLRDHUP,
               "LOOP_* bits are epoll's");

static void
on_stop(struct loop_watch *w, unsigned events)
{
    (void)events;
    uint64_t v;
    while (read(w->fd, &v, sizeof(v)) > 0) {
    }
}

/* CLOCK_MONOTONIC_COARSE trails real time by up to one kernel tick and now_ms() truncates
 * to the millisecond, so a deadline of now_ms() + d can lie before the real arming time + d.
 * Advancing the wheel that much later keeps every timer from firing early (a 300 ms fault
 * delay lasts at least 300 ms, as a client measures it). */
static uint64_t
coarse_lag_ms(void)
{
    struct timespec res;
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &res)) return 11;
    return (uint64_t)res.tv_sec * 1000 + ((uint64_t)res.tv_nsec + 999999) / 1000000 + 1;
}

int
loop_init(struct loop *l)
{
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) return -errno;
    l->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->stop_fd < 0) {
        int rc = -errno;
        close(l->epfd);
        return rc;
    }
    atomic_init(&l->stopping, false);
    l->lag_ms = coarse_lag_ms();
    wheel_init(&l->wheel, now_ms() - l->lag_ms);
    l->stop_watch.fd = l->stop_fd;
    l->stop_watch.cb = on_stop;
    return loop_add(l, &l->stop_watch, LOOP_IN);
}

void
loop_fini(struct loop *l)
{
    if (l->stop_fd > 0) close(l->stop_fd);
    if (l->epfd > 0) close(l->epfd);
    l->stop_fd = l->epfd = -1;
}

static int
ctl(struct loop *l, int op, struct loop_watch *w, unsigned events)
{
    struct epoll_event ev = {.events = events | EPOLLET | EPOLLRDHUP, .data.ptr = w};
    return epoll_ctl(l->epfd, op, w->fd, &ev) ? -errno : 0;
}

int
loop_add(struct loop *l, struct loop_watch *w, unsigned events)
{
    return ctl(l, EPOLL_CTL_ADD, w, events);
}

void
loop_del(struct loop *l, struct loop_watch *w)
{
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

static void
ignore(struct loop_watch *w, unsigned events)
{
    (void)w;
    (void)events;
}

int
loop_move(struct loop *l, struct loop_watch *from, struct loop_watch *to, unsigned events)
{
    to->fd = from->fd;
    int rc = ctl(l, EPOLL_CTL_MOD, to, events);
    if (rc) return rc;
    from->fd = -1;
    from->cb = ignore;
    return 0;
}

void
loop_kill(struct loop *l, struct loop_watch *w)
{
    /* No EPOLL_CTL_DEL: closing the last descriptor of a socket takes it out of the epoll
     * set, a call less per connection. Only a watch whose file has no other descriptor may
     * come here: overload.c keeps a duplicate of a worker's mail eventfd (its reserve slot),
     * so that watch must never be killed this way while the worker runs. */
    (void)l;
    close(w->fd);
    w->fd = -1;
    w->cb = ignore;
}

void
loop_run(struct loop *l, void (*idle_cb)(void *arg), void *arg)
{
    struct epoll_event evs[256];
    while (!atomic_load_explicit(&l->stopping, memory_order_acquire)) {
        int wait = wheel_wait_ms(&l->wheel);
        int n = sys_epoll_wait(l->epfd, evs, 256, wait < 0 ? 1000 : wait);
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < n; i++) {
            struct loop_watch *w = evs[i].data.ptr;
            unsigned e = evs[i].events;
            if (e & EPOLLRDHUP) e |= LOOP_IN;
            w->cb(w, e & (LOOP_IN | LOOP_OUT | LOOP_ERR | LOOP_HUP | LOOP_RDHUP));
        }
        if (l->wheel.armed) wheel_advance(&l->wheel, now_ms() - l->lag_ms);
        if (idle_cb) idle_cb(arg);
    }
    atomic_store_explicit(&l->stopping, false, memory_order_release);
}

void
loop_stop(struct loop *l)
{
    atomic_store_explicit(&l->stopping, true, memory_order_release);
    uint64_t one = 1;
    ssize_t rc = write(l->stop_fd, &one, sizeof(one));
    (void)rc;
}
