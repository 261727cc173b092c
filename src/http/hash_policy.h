/* SPDX-License-Identifier: Apache-2.0 */
/* The consistent-hash key of a request (DestinationRule consistentHash): a header, a
 * cookie (generated when it has a ttl and the request has none), the source IP or a query
 * parameter, hashed as Envoy does. [W] */
#ifndef MESHLET_HTTP_HASH_POLICY_H
#define MESHLET_HTTP_HASH_POLICY_H

#include <stdbool.h>
#include <stdint.h>

struct req;
struct req_head;
struct model_cluster;

/* The request's key for consistent-hash pool <cl>; false when the request
 * lacks the input. A generated cookie is left in q->set_cookie for the response. */
bool hash_policy_key(struct req *q, const struct req_head *h, const struct model_cluster *cl,
                     uint64_t *out);

#endif
