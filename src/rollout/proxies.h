/* SPDX-License-Identifier: Apache-2.0 */
/* What a rollout asks of the proxies' admin ports besides metrics: whether a written weight
 * is in force (their /splits), and its progress for their /dashboard (POST /rollout). */
#ifndef MESHLET_ROLLOUT_PROXIES_H
#define MESHLET_ROLLOUT_PROXIES_H

#include <stdbool.h>
#include <stddef.h>

#include "rollout/rollout.h"

/* The route a rollout shifts as one proxy's /splits shows it (summed over its listeners). */
struct proxy_route {
    long weight_stable, weight_canary;   /* -2: its listeners differ (a reload under way) */
    double picked_stable, picked_canary; /* requests the weighted choice sent to each, since
                                          * the config version in force */
};

/* Read it from the proxy at <hostport>: 0, or -1 with why in <err> (unreachable, or it
 * serves no such route). */
int proxies_read_route(const char *hostport, const struct rollout_plan *plan,
                       struct proxy_route *out, char *err, size_t cap);

/* Whether the proxy at <hostport> routes <plan>'s route with the canary at <weight> (and
 * the stable at 100 - <weight>). 1 yes, 0 not yet, -1 with why in <err> (unreachable, or
 * it serves no such route). */
int proxies_weight_in_force(const char *hostport, const struct rollout_plan *plan, int weight,
                            char *err, size_t cap);

/* POST <json> to /rollout of every proxy of <plan>; best effort (the dashboard is a view). */
void proxies_post_status(const struct rollout_plan *plan, const char *json, size_t len);

#endif
