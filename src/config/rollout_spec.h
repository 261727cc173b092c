/* SPDX-License-Identifier: Apache-2.0 */
/* meshlet.io/v1alpha1 Rollout: the steps, step minimums and checks of a progressive
 * delivery, decoded and validated like an Istio kind so `meshlet check` reports its errors
 * with file:line:col. The proxy skips it; `meshlet rollout` runs it. */
#ifndef MESHLET_CONFIG_ROLLOUT_SPEC_H
#define MESHLET_CONFIG_ROLLOUT_SPEC_H

#include "config/diag.h"
#include "config/resource.h"

#define ROLLOUT_MAX_STEPS 32

/* Per-resource rules: required fields, ascending weights in 1..100, sane bounds. [M] */
void rollout_validate(const struct resource *r, struct diag_list *dl);

struct resource_set;
/* Cross-resource rules, when the Rollout's VirtualService is among the checked files: the
 * route exists and routes to both the stable and the canary destination. */
void rollout_analyze(const struct resource_set *set, struct diag_list *dl);

struct arena;
/* The http route of VirtualService <vs> that Rollout <ro> (in namespace <ns>) shifts: the one
 * named spec.route, else the first that routes to both destinations. NULL when none. */
const struct http_route *rollout_route(struct arena *a, const struct resource *vs,
                                       const struct rollout *ro, const char *ns);

/* The host of <h>'s destination that is <d> (hosts compared as FQDNs, <d> read in <ro_ns>,
 * <h>'s in <vs_ns>), as <h> writes it; NULL when <h> does not route to <d>. */
const char *rollout_route_host(struct arena *a, const struct http_route *h,
                               const struct destination *d, const char *vs_ns, const char *ro_ns);

#endif
