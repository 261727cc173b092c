/* SPDX-License-Identifier: Apache-2.0 */
/* xoshiro256** (Blackman, Vigna), one state per thread. */
#include "core/prng.h"

#include <stdio.h>
#include <sys/random.h>
#include <time.h>

static __thread uint64_t state[4];
static __thread int seeded;

static inline uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void
seed(void)
{
    if (getrandom(state, sizeof(state), 0) != (ssize_t)sizeof(state)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        state[0] = (uint64_t)ts.tv_nsec ^ 0x9e3779b97f4a7c15ULL;
        state[1] = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&ts;
        state[2] = 0xbf58476d1ce4e5b9ULL;
        state[3] = 0x94d049bb133111ebULL;
    }
    seeded = 1;
}

uint64_t
prng_next(void)
{
    if (!seeded) seed();
    uint64_t result = rotl(state[1] * 5, 7) * 9;
    uint64_t t = state[1] << 17;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= t;
    state[3] = rotl(state[3], 45);
    return result;
}

void
prng_uuid(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    /* Where each byte's two digits go in 8-4-4-4-12: a fixed layout, no branch per byte. */
    static const unsigned char at[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
    uint64_t w[2] = {prng_next(), prng_next()};
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) {
        unsigned b = (unsigned)(w[i >> 3] >> ((i & 7) * 8)) & 0xff;
        if (i == 6) b = (b & 0x0f) | 0x40; /* version 4 */
        if (i == 8) b = (b & 0x3f) | 0x80; /* RFC 4122 variant */
        out[at[i]] = hex[b >> 4];
        out[at[i] + 1] = hex[b & 15];
    }
    out[8] = out[13] = out[18] = out[23] = '-';
    out[36] = '\0';
}
