/* SPDX-License-Identifier: Apache-2.0 */
/* The effective traffic policy of a pool (host, port, subset), computed as Istio does
 * (../shared/spec/istio-traffic.md §4.3): a port-level entry replaces the four sections of
 * the top level wholesale, and a subset's policy replaces whole sections of that. [M] */
#ifndef MESHLET_MODEL_CLUSTER_H
#define MESHLET_MODEL_CLUSTER_H

#include <stdint.h>

#include "config/resource.h"

/* The sections in force; each NULL when unset (Istio's defaults apply). */
struct model_policy {
    const struct load_balancer *lb;
    const struct connection_pool *pool;
    const struct outlier_detection *od;
    const struct client_tls *tls;
    const struct tunnel *tunnel;
    const struct proxy_protocol *proxy_protocol;
    const struct retry_budget *retry_budget;
};

/* Effective policy for service port <port> and the subset whose traffic policy is
 * <subset_tp> (NULL: the default pool or a subset without one), given the DestinationRule's
 * top-level <top> (NULL when it has none). Pointers into the inputs. */
void cluster_effective_policy(const struct traffic_policy *top,
                              const struct traffic_policy *subset_tp, uint32_t port,
                              struct model_policy *out);

#endif
