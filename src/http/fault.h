/* SPDX-License-Identifier: Apache-2.0 */
/* Fault injection (VirtualService `fault`, spec §3.9): a delay before the router, then an
 * abort with an HTTP status or a gRPC status, each applied to a sampled share of requests.
 * [W] */
#ifndef MESHLET_HTTP_FAULT_H
#define MESHLET_HTTP_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/wheel.h"

struct req;
struct model_route;

/* Is this request among the <ppm> per million that a fault (or a mirror) applies to? */
bool fault_sampled(uint32_t ppm);

/* Hold <q> for the route's delay when sampled (flag DI): true when it waits, and <done>
 * routes it when the delay is over. The route timeout starts after it. */
bool fault_delay(struct req *q, const struct model_route *r, void (*done)(struct wheel_timer *));

/* Answer <q> with the route's abort when sampled (flag FI): true when it did. */
bool fault_abort(struct req *q, const struct model_route *r);

#endif
