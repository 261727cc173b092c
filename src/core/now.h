/* SPDX-License-Identifier: Apache-2.0 */
/* Monotonic time in milliseconds, cached per loop iteration by the caller. [A] */
#ifndef MESHLET_CORE_NOW_H
#define MESHLET_CORE_NOW_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "core/compiler.h"

/* Test hook: when non-zero, now_ms() returns this instead of reading the clock
 * (tests/unit/harness.h's fake clock). Only unit tests store to it; in the binary it stays 0
 * and costs now_ms() one predictable load. Defined in now.c. */
extern _Atomic uint64_t now__fake_ms;

/* Milliseconds on the monotonic clock. */
static inline uint64_t
now_ms(void)
{
    uint64_t fake = atomic_load_explicit(&now__fake_ms, memory_order_relaxed);
    if (unlikely(fake)) return fake;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Microseconds on the precise monotonic clock, for measuring phases (not per request). */
static inline uint64_t
now_us_precise(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

#endif
