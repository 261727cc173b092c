/* SPDX-License-Identifier: Apache-2.0 */
/* Monotonic time in milliseconds, cached per loop iteration by the caller. [A] */
#ifndef MESHLET_CORE_NOW_H
#define MESHLET_CORE_NOW_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock. */
static inline uint64_t
now_ms(void)
{
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
