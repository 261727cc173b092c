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
#include "lb/outlier.h"
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
lb_table_slot(const struct lb_table *t, uint64_t h)
{
    if (t->maglev) return h % t->size;
    size_t lo = 0, hi = t->size; /* first point >= h */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->points[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == t->size ? 0 : lo;
}

size_t
lb_table_pick(const struct lb_table *t, uint64_t h)
{
    return t->hosts[lb_table_slot(t, h)];
}

void
lb_prepare_cluster(struct model_cluster *c, struct arena *a)
{
    const struct model_lb *lb = &c->policy.lb;
    c->lb_table = NULL;
    if (lb->kind != MODEL_LB_CONSISTENT_HASH || !c->n_endpoints) return;
    if (lb->hash.maglev)
        c->lb_table = lb_maglev_build(c, a, lb->hash.table_size);
    else
        c->lb_table = lb_ring_build(c, a, lb->hash.table_size);
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

/* The endpoints' weights into <w>, scaled by slow start, 0 for an ejected endpoint when
 * <skip_ejected>; false when there are too many endpoints for the buffer. */
static bool
fill_weights(const struct model_cluster *c, uint32_t *w, size_t cap, bool skip_ejected,
             bool *warming)
{
    size_t n = c->n_endpoints;
    if (n > cap) return false;
    uint64_t now = c->warmup_ms ? now_ms() : 0;
    *warming = false;
    for (size_t i = 0; i < n; i++) {
        double f = c->warmup_ms ? lb_slow_start_factor(c, &c->endpoints[i], now) : 1.0;
        *warming |= f < 1.0;
        /* thousandths keep the ramp smooth in integer weights */
        w[i] = (uint32_t)fmax(1.0, c->endpoints[i].weight * f * 1000);
        if (skip_ejected && outlier_ejected(c, i)) w[i] = 0;
    }
    return true;
}

/* Round robin over weights scaled by slow start; false when no endpoint is warming up. */
static bool
pick_warming(const struct model_cluster *c, int64_t *rr, size_t *out)
{
    uint32_t w[256];
    bool warming;
    if (!fill_weights(c, w, 256, false, &warming) || !warming) return false;
    *out = lb_rr_pick_weights(rr, w, c->n_endpoints);
    return true;
}

/* The <k>-th endpoint of <c> that is not ejected. */
static size_t
nth_healthy(const struct model_cluster *c, size_t k)
{
    for (size_t i = 0; i < c->n_endpoints; i++)
        if (!outlier_ejected(c, i) && k-- == 0) return i;
    return LB_NO_HOST;
}

/* Of endpoints <a> and <b>, the one with fewer requests in flight (a on a tie). */
static size_t
less_busy(const struct model_cluster *c, const uint32_t *active, size_t a, size_t b)
{
    return active[c->endpoints[b].state_id] < active[c->endpoints[a].state_id] ? b : a;
}

/* The pick while outlier detection has ejected endpoints: the same algorithm over the
 * healthy ones. A hash lookup that lands on an ejected endpoint walks on to the next healthy
 * point (on a ring, exactly where the key would land with the ejected points gone). */
static size_t
pick_healthy(const struct model_cluster *c, int64_t *rr, const uint32_t *active,
             const uint64_t *hash)
{
    size_t healthy = 0;
    for (size_t i = 0; i < c->n_endpoints; i++) healthy += !outlier_ejected(c, i);
    if (!healthy) return LB_NO_HOST;
    enum model_lb_kind kind = lb_kind(c);
    if (kind == MODEL_LB_CONSISTENT_HASH && hash && c->lb_table) {
        const struct lb_table *t = c->lb_table;
        size_t slot = lb_table_slot(t, *hash);
        for (size_t k = 0; k < t->size; k++, slot = slot + 1 == t->size ? 0 : slot + 1)
            if (!outlier_ejected(c, t->hosts[slot])) return t->hosts[slot];
        return LB_NO_HOST;
    }
    uint64_t r = prng_next();
    if (kind == MODEL_LB_CONSISTENT_HASH || kind == MODEL_LB_RANDOM)
        return nth_healthy(c, r % healthy);
    uint32_t w[256];
    bool warming = false;
    bool weighted = fill_weights(c, w, 256, true, &warming);
    if (kind == MODEL_LB_LEAST_REQUEST && c->equal_weights && !warming) {
        if (healthy == 1) return nth_healthy(c, 0);
        size_t a = (size_t)(r % healthy), b = (size_t)((r >> 32) % (healthy - 1));
        if (b >= a) b++;
        a = nth_healthy(c, a);
        b = nth_healthy(c, b);
        return less_busy(c, active, a, b);
    }
    if (!weighted) return nth_healthy(c, r % healthy);
    return lb_rr_pick_weights(rr, w, c->n_endpoints);
}

enum model_lb_kind
lb_kind(const struct model_cluster *c)
{
    return c->policy.lb.kind;
}

size_t
lb_pick(const struct model_cluster *c, int64_t *rr, const uint32_t *active, const uint64_t *hash)
{
    size_t n = c->n_endpoints;
    if (c->outlier.enabled && atomic_load_explicit(&c->state->n_ejected, memory_order_relaxed) &&
        !outlier_panic(c))
        return pick_healthy(c, rr, active, hash);
    if (n == 1) return 0;
    enum model_lb_kind kind = lb_kind(c);
    if (kind == MODEL_LB_CONSISTENT_HASH && hash && c->lb_table)
        return lb_table_pick(c->lb_table, *hash);
    if (kind == MODEL_LB_CONSISTENT_HASH || kind == MODEL_LB_RANDOM)
        return (size_t)(prng_next() % n);
    size_t pick; /* slow start: weights scaled while an endpoint warms up, as Envoy */
    if (c->warmup_ms && pick_warming(c, rr, &pick)) return pick;
    if (kind == MODEL_LB_LEAST_REQUEST && c->equal_weights) {
        uint64_t r = prng_next();
        size_t a = (size_t)(r % n);
        size_t b = (size_t)((r >> 32) % (n - 1));
        if (b >= a) b++; /* two distinct endpoints */
        return less_busy(c, active, a, b);
    }
    return lb_rr_pick(rr, c);
}

size_t
lb_pick_retry(const struct model_cluster *c, int64_t *rr, const uint32_t *active, uint64_t tried)
{
    size_t ep = lb_pick(c, rr, active, NULL);
    for (int k = 0; k < 5 && ep < 64 && (tried >> ep & 1); k++) ep = lb_pick(c, rr, active, NULL);
    if (ep >= 64 || !(tried >> ep & 1)) return ep;
    /* Still a tried one: take the next endpoint that is neither tried nor ejected. */
    for (size_t k = 1; k < c->n_endpoints; k++) {
        size_t i = (ep + k) % c->n_endpoints;
        if ((i >= 64 || !(tried >> i & 1)) && !outlier_ejected(c, i)) return i;
    }
    return ep;
}
