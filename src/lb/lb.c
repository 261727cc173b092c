/* SPDX-License-Identifier: Apache-2.0 */
/* Dispatch to the pool's balancer. LEAST_REQUEST is Envoy's power of two choices: two
 * random endpoints, the one with fewer requests in flight wins (ties to the first). With
 * unequal endpoint weights Envoy switches to weighted least request; meshlet uses smooth
 * weighted round robin there, which honours the weights exactly. */
#include "lb/lb.h"

#include "core/prng.h"

int
lb_kind(const struct model_cluster *c)
{
    const struct load_balancer *lb = c->policy.lb;
    if (!lb || !lb->simple.set) return LB_LEAST_REQUEST;
    if (lb->simple.v == LB_UNSPECIFIED || lb->simple.v == LB_LEAST_CONN) return LB_LEAST_REQUEST;
    return lb->simple.v;
}

size_t
lb_pick(const struct model_cluster *c, int64_t *rr, const uint32_t *active)
{
    size_t n = c->n_endpoints;
    if (n == 1) return 0;
    switch (lb_kind(c)) {
    case LB_RANDOM: return (size_t)(prng_next() % n);
    case LB_LEAST_REQUEST:
        if (c->equal_weights) {
            uint64_t r = prng_next();
            size_t a = (size_t)(r % n);
            size_t b = (size_t)((r >> 32) % (n - 1));
            if (b >= a) b++; /* two distinct endpoints */
            return active[b] < active[a] ? b : a;
        }
        return lb_rr_pick(rr, c);
    default: return lb_rr_pick(rr, c);
    }
}
