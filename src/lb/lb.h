/* SPDX-License-Identifier: Apache-2.0 */
/* Choosing an endpoint of a pool with its effective load balancer: LEAST_REQUEST (Istio's
 * default; power of two choices), ROUND_ROBIN (smooth weighted), RANDOM. [W] */
#ifndef MESHLET_LB_LB_H
#define MESHLET_LB_LB_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* Index of the endpoint of <c> for the next request, by smooth weighted round robin over
 * the endpoints' weights; <cur> holds one counter per endpoint (the worker's own). <c> must
 * have at least one endpoint. */
size_t lb_rr_pick(int64_t *cur, const struct model_cluster *c);

/* The algorithm in force for <c> (its policy's `simple`, LEAST_REQUEST when unset). */
int lb_kind(const struct model_cluster *c);

/* Index of the endpoint of <c> for the next request. <rr> holds the worker's round-robin
 * counters for <c> (one per endpoint), <active> its requests in flight per endpoint.
 * Consistent hash is not implemented yet: it falls back to round robin. */
size_t lb_pick(const struct model_cluster *c, int64_t *rr, const uint32_t *active);

#endif
