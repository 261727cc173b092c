/* SPDX-License-Identifier: Apache-2.0 */
/* Per-thread fast PRNG (xoshiro256**) for request ids, jitter and sampling. Not for keys. */
#ifndef MESHLET_CORE_PRNG_H
#define MESHLET_CORE_PRNG_H

#include <stddef.h>
#include <stdint.h>

/* Next 64 random bits from this thread's generator, seeded from getrandom() on first use. [A] */
uint64_t prng_next(void);

/* Write a random RFC 4122 version-4 UUID (36 characters, NUL-terminated) into <out>. [A] */
void prng_uuid(char out[37]);

#endif
