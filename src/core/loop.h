/* SPDX-License-Identifier: Apache-2.0 */
/* One edge-triggered epoll loop per thread: objects embed a struct loop_watch and get a
 * callback with the ready events. Another thread may only call loop_stop(). [W,M] */
#ifndef MESHLET_CORE_LOOP_H
#define MESHLET_CORE_LOOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/wheel.h"

#define LOOP_IN 0x001u  /* EPOLLIN */
#define LOOP_OUT 0x004u /* EPOLLOUT */
#define LOOP_ERR 0x008u /* EPOLLERR */
#define LOOP_HUP 0x010u /* EPOLLHUP */
/* EPOLLRDHUP, always with LOOP_IN: the peer shut its sending side. A short read does not
 * mean the socket is drained then: the end of stream is still to be read. */
#define LOOP_RDHUP 0x2000u

struct loop;
struct loop_watch;

typedef void loop_cb(struct loop_watch *w, unsigned events);

struct loop_watch {
    int fd;
    loop_cb *cb; /* called on the loop's thread with LOOP_* bits */
};

struct loop {
    int epfd;
    int stop_fd; /* eventfd: loop_stop() from any thread */
    struct loop_watch stop_watch;
    atomic_bool stopping;
    struct wheel wheel; /* this thread's timers, advanced after every batch */
    uint64_t lag_ms;    /* how far now_ms() may trail real time; timers wait that much more */
};

/* Create the epoll instance. 0 or -errno. */
int loop_init(struct loop *l);
void loop_fini(struct loop *l);

/* Watch <w->fd> for <events> (edge-triggered). 0 or -errno; on failure <cb> is never
 * called. */
int loop_add(struct loop *l, struct loop_watch *w, unsigned events);
void loop_del(struct loop *l, struct loop_watch *w);

/* Hand <from>'s fd over to <to> (same fd, <events>): events already fetched for <from> in
 * this batch go to a no-op; the fd's readiness is reported to <to> afresh. 0 or -errno. */
int loop_move(struct loop *l, struct loop_watch *from, struct loop_watch *to, unsigned events);

/* Stop watching and close <w->fd>; events for <w> already fetched in this batch go to a
 * no-op, so the owner may be freed once the batch ends (two-phase close). */
void loop_kill(struct loop *l, struct loop_watch *w);

/* Run callbacks until loop_stop(); <idle_cb> (may be NULL) runs after each batch. It
 * returns with the stop consumed: the loop may run again (a first config read before the
 * main run, for one). */
void loop_run(struct loop *l, void (*idle_cb)(void *arg), void *arg);

/* Ask the loop to return from loop_run. [A] */
void loop_stop(struct loop *l);

#endif
