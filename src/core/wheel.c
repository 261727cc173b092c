/* SPDX-License-Identifier: Apache-2.0 */
/* Hashed timing wheel: slot = deadline tick mod WHEEL_SLOTS. A timer further away than one
 * turn sits in its slot and is skipped (left armed) until its turn comes round. */
#include "core/wheel.h"

#include <string.h>

void
wheel_init(struct wheel *w, uint64_t now_ms)
{
    memset(w, 0, sizeof(*w));
    w->now_tick = now_ms / WHEEL_TICK_MS;
}

/* The tick a deadline belongs to: the first tick at or after it, so a timer never fires
 * before its deadline. */
static inline uint64_t
tick_of(uint64_t deadline_ms)
{
    return (deadline_ms + WHEEL_TICK_MS - 1) / WHEEL_TICK_MS;
}

static void
unlink_timer(struct wheel *w, struct wheel_timer *t)
{
    size_t slot = tick_of(t->deadline_ms) & (WHEEL_SLOTS - 1);
    if (t->prev)
        t->prev->next = t->next;
    else if (w->slots[slot] == t)
        w->slots[slot] = t->next;
    if (t->next) t->next->prev = t->prev;
    t->next = t->prev = NULL;
}

void
wheel_disarm(struct wheel *w, struct wheel_timer *t)
{
    if (!t->deadline_ms) return;
    unlink_timer(w, t);
    t->deadline_ms = 0;
    w->armed--;
}

void
wheel_arm(struct wheel *w, struct wheel_timer *t, uint64_t deadline_ms)
{
    wheel_disarm(w, t);
    /* Never in the past: the earliest slot is the next tick. */
    uint64_t min = (w->now_tick + 1) * WHEEL_TICK_MS;
    if (deadline_ms < min) deadline_ms = min;
    t->deadline_ms = deadline_ms;
    size_t slot = tick_of(deadline_ms) & (WHEEL_SLOTS - 1);
    t->prev = NULL;
    t->next = w->slots[slot];
    if (t->next) t->next->prev = t;
    w->slots[slot] = t;
    w->armed++;
}

void
wheel_advance(struct wheel *w, uint64_t now_ms)
{
    uint64_t target = now_ms / WHEEL_TICK_MS;
    /* After a long sleep, one turn visits every slot once. */
    if (target > w->now_tick + WHEEL_SLOTS) w->now_tick = target - WHEEL_SLOTS;
    while (w->now_tick < target) {
        w->now_tick++;
        size_t slot = w->now_tick & (WHEEL_SLOTS - 1);
        struct wheel_timer *t = w->slots[slot];
        while (t) {
            struct wheel_timer *next = t->next;
            if (tick_of(t->deadline_ms) <= w->now_tick) {
                wheel_disarm(w, t);
                t->cb(t);
                /* The callback may have changed this slot: restart it. */
                next = w->slots[slot];
            }
            t = next;
        }
    }
}

int
wheel_wait_ms(const struct wheel *w)
{
    return w->armed ? WHEEL_TICK_MS : -1;
}
