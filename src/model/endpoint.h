/* SPDX-License-Identifier: Apache-2.0 */
/* What meshlet knows about an endpoint beyond one snapshot: when it joined its pool. The
 * table outlives snapshots, so an endpoint that stays across a reload keeps its state and a
 * new one starts fresh (slow start ramps it up). Keyed by pool name and address. [A] */
#ifndef MESHLET_MODEL_ENDPOINT_H
#define MESHLET_MODEL_ENDPOINT_H

#include <stdint.h>

struct endpoint_state {
    uint64_t joined_ms; /* monotonic ms when it first appeared in its pool */
};

/* The state of endpoint <address>:<port> of pool <cluster>, created (joined now) on first
 * sight. Never NULL: out of memory aborts. Called while building a snapshot. [M] */
struct endpoint_state *endpoint_state_get(const char *cluster, const char *address, uint16_t port,
                                          uint64_t now_ms);

#endif
