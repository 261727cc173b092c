/* SPDX-License-Identifier: Apache-2.0 */
/* Cross-resource analysis, as `istioctl analyze`: references between VirtualServices,
 * DestinationRules, Gateways, ServiceEntries and Kubernetes Services and workloads, with
 * Istio's message codes, plus meshlet's own warnings where Istio users get hurt. */
#ifndef MESHLET_CONFIG_ANALYZE_H
#define MESHLET_CONFIG_ANALYZE_H

#include "config/diag.h"

struct resource_set;

/* Run every cross-resource check over <set>; messages go to <dl>. Linear in the number of
 * resources (hash lookups, no scan of every resource per resource). [M] */
void analyze_run(const struct resource_set *set, struct diag_list *dl);

#endif
