/* SPDX-License-Identifier: Apache-2.0 */
/* Weighted round robin among a cluster's endpoints, smooth (each endpoint gets its weight's
 * share in every cycle, interleaved). Equal weights make it plain round robin. */
#include "lb/lb.h"

size_t
lb_rr_pick_weights(int64_t *cur, const uint32_t *w, size_t n)
{
    int64_t total = 0;
    size_t best = SIZE_MAX; /* a weight of 0 (an ejected endpoint) is never picked */
    for (size_t i = 0; i < n; i++) {
        cur[i] += w[i];
        total += w[i];
        if (w[i] && (best == SIZE_MAX || cur[i] > cur[best])) best = i;
    }
    if (best == SIZE_MAX) return 0;
    cur[best] -= total;
    return best;
}

size_t
lb_rr_pick(int64_t *cur, const struct model_cluster *c)
{
    if (c->n_endpoints == 1) return 0;
    int64_t total = 0;
    size_t best = 0;
    for (size_t i = 0; i < c->n_endpoints; i++) {
        cur[i] += c->endpoints[i].weight;
        total += c->endpoints[i].weight;
        if (cur[i] > cur[best]) best = i;
    }
    cur[best] -= total;
    return best;
}
