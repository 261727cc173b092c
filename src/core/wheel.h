/* SPDX-License-Identifier: Apache-2.0 */
/* A hashed timer wheel with embedded timers: arming, re-arming and disarming are O(1),
 * and a tick only visits the timers of its slot. Timers store their real deadline, so
 * pushing a deadline back is a store: a timer that fires early re-arms itself. [W,M] */
#ifndef MESHLET_CORE_WHEEL_H
#define MESHLET_CORE_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WHEEL_SLOTS 512 /* power of two */
#define WHEEL_TICK_MS 8 /* resolution: a timer fires within one tick after its deadline */

struct wheel_timer;
typedef void wheel_cb(struct wheel_timer *t);

struct wheel_timer {
    uint64_t deadline_ms;            /* when it is due (0: not armed) */
    wheel_cb *cb;                    /* called once, on the wheel's thread, after the deadline */
    struct wheel_timer *next, *prev; /* slot links */
};

struct wheel {
    struct wheel_timer *slots[WHEEL_SLOTS];
    uint64_t now_tick; /* the last tick processed */
    size_t armed;
};

void wheel_init(struct wheel *w, uint64_t now_ms);

/* Arm (or re-arm) <t> for <deadline_ms>. */
void wheel_arm(struct wheel *w, struct wheel_timer *t, uint64_t deadline_ms);

/* Disarm <t>; a timer that is not armed is left alone. */
void wheel_disarm(struct wheel *w, struct wheel_timer *t);

static inline bool
wheel_armed(const struct wheel_timer *t)
{
    return t->deadline_ms != 0;
}

/* Fire every timer due at <now_ms> (callbacks may arm and disarm timers). */
void wheel_advance(struct wheel *w, uint64_t now_ms);

/* Milliseconds the caller may sleep before the next tick matters (-1: no timers). */
int wheel_wait_ms(const struct wheel *w);

#endif
