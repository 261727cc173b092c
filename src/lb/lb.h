/* SPDX-License-Identifier: Apache-2.0 */
/* Choosing an endpoint of a cluster. Today: weighted round robin (Istio ROUND_ROBIN, and
 * the default until LEAST_REQUEST lands with the other balancers). [W] */
#ifndef MESHLET_LB_LB_H
#define MESHLET_LB_LB_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* Index of the endpoint of <c> for the next request, by smooth weighted round robin over
 * the endpoints' weights; <cur> holds one counter per endpoint (the worker's own). <c> must
 * have at least one endpoint. */
size_t lb_rr_pick(int64_t *cur, const struct model_cluster *c);

#endif
