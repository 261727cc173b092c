/* SPDX-License-Identifier: Apache-2.0 */
/* Dispatch to the pool's balancer. LEAST_REQUEST is Envoy's power of two choices: two
 * random endpoints, the one with fewer requests in flight wins (ties to the first). With
 * unequal endpoint weights Envoy switches to weighted least request; meshlet uses smooth
 * weighted round robin there, which honours the weights exactly. Consistent hash looks the
 * request's hash up in the pool's ring or Maglev table. */
#include "lb/lb.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <xxhash.h>

#include "core/now.h"
#include "core/prng.h"
#include "model/endpoint.h"

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

double
lb_slow_start_factor(const struct model_cluster *c, const struct model_endpoint *e, uint64_t now_ms)
{
    if (!c->warmup_ms || !e->state) return 1.0;
    uint64_t age = now_ms > e->state->joined_ms ? now_ms - e->state->joined_ms : 0;
    if (age >= c->warmup_ms) return 1.0;
    double secs = fmax((double)age / 1000, 1.0);
    double f = pow(secs / ((double)c->warmup_ms / 1000), 1.0 / c->warmup_aggression);
    return fmin(1.0, fmax(c->warmup_min, f));
}

/* Round robin over weights scaled by slow start; false when no endpoint is warming up. */
static bool
pick_warming(const struct model_cluster *c, int64_t *rr, size_t *out)
{
    uint64_t now = now_ms();
    uint32_t w[256];
    size_t n = c->n_endpoints;
    if (n > 256) return false;
    bool warming = false;
    for (size_t i = 0; i < n; i++) {
        double f = lb_slow_start_factor(c, &c->endpoints[i], now);
        warming |= f < 1.0;
        /* thousandths keep the ramp smooth in integer weights */
        w[i] = (uint32_t)fmax(1.0, c->endpoints[i].weight * f * 1000);
    }
    if (!warming) return false;
    *out = lb_rr_pick_weights(rr, w, n);
    return true;
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
    int kind = lb_kind(c);
    if (kind == LB_CONSISTENT_HASH && hash && c->lb_table) return lb_table_pick(c->lb_table, *hash);
    if (kind == LB_CONSISTENT_HASH || kind == LB_RANDOM) return (size_t)(prng_next() % n);
    size_t pick; /* slow start: weights scaled while an endpoint warms up, as Envoy */
    if (c->warmup_ms && pick_warming(c, rr, &pick)) return pick;
    if (kind == LB_LEAST_REQUEST && c->equal_weights) {
        uint64_t r = prng_next();
        size_t a = (size_t)(r % n);
        size_t b = (size_t)((r >> 32) % (n - 1));
        if (b >= a) b++; /* two distinct endpoints */
        return active[b] < active[a] ? b : a;
    }
    return lb_rr_pick(rr, c);
}
