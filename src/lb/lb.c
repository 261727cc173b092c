/* SPDX-License-Identifier: Apache-2.0 */
/* Dispatch to the pool's balancer. LEAST_REQUEST is Envoy's power of two choices: two
 * random endpoints, the one with fewer requests in flight wins (ties to the first). With
 * unequal endpoint weights Envoy switches to weighted least request; meshlet uses smooth
 * weighted round robin there, which honours the weights exactly. Consistent hash looks the
 * request's hash up in the pool's ring or Maglev table. */
#include "lb/lb.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <xxhash.h>

#include "core/prng.h"

uint64_t
lb_hash_seeded(const void *p, size_t n, uint64_t seed)
{
    return XXH64(p, n, seed);
}

uint64_t
lb_hash(const void *p, size_t n)
{
    return XXH64(p, n, 0);
}

void
lb_endpoint_key(const struct model_endpoint *e, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "";
    if (e->addr.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&e->addr;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(out, cap, "[%s]:%u", ip, e->port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&e->addr;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(out, cap, "%s:%u", ip, e->port);
    }
}

size_t
lb_table_pick(const struct lb_table *t, uint64_t h)
{
    if (t->maglev) return t->hosts[h % t->size];
    size_t lo = 0, hi = t->size; /* first point >= h */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->points[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return t->hosts[lo == t->size ? 0 : lo];
}

void
lb_prepare_cluster(struct model_cluster *c, struct arena *a)
{
    const struct load_balancer *lb = c->policy.lb;
    c->lb_table = NULL;
    if (!lb || !lb->consistent_hash || !c->n_endpoints) return;
    const struct consistent_hash *ch = lb->consistent_hash;
    if (ch->maglev)
        c->lb_table = lb_maglev_build(c, a, ch->maglev->table_size.v);
    else if (ch->ring_hash)
        c->lb_table = lb_ring_build(c, a, ch->ring_hash->minimum_ring_size.v);
    else
        c->lb_table = lb_ring_build(c, a, ch->minimum_ring_size.v);
}

int
lb_kind(const struct model_cluster *c)
{
    const struct load_balancer *lb = c->policy.lb;
    if (lb && lb->consistent_hash) return LB_CONSISTENT_HASH;
    if (!lb || !lb->simple.set) return LB_LEAST_REQUEST;
    if (lb->simple.v == LB_UNSPECIFIED || lb->simple.v == LB_LEAST_CONN) return LB_LEAST_REQUEST;
    return lb->simple.v;
}

size_t
lb_pick(const struct model_cluster *c, int64_t *rr, const uint32_t *active, const uint64_t *hash)
{
    size_t n = c->n_endpoints;
    if (n == 1) return 0;
    switch (lb_kind(c)) {
    case LB_CONSISTENT_HASH:
        if (hash && c->lb_table) return lb_table_pick(c->lb_table, *hash);
        return (size_t)(prng_next() % n);
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
