/* SPDX-License-Identifier: Apache-2.0 */
/* Consistent hash on a ring, as Envoy's RING_HASH builds it: weighted points keyed
 * "<address>_<i>", hashed with xxHash64, sorted; a request takes the first point at or after
 * its own hash. When an endpoint leaves, only the keys that landed on its points move. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb/lb.h"

#define RING_MAX_SIZE (8u << 20) /* Envoy's default maximum_ring_size */
#define RING_MIN_SIZE 1024       /* Envoy's default minimum_ring_size */

struct point {
    uint64_t hash;
    uint32_t host;
};

static int
by_hash(const void *a, const void *b)
{
    const struct point *x = a, *y = b;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    return x->host < y->host ? -1 : x->host > y->host; /* a total order: same ring each build */
}

const struct lb_table *
lb_ring_build(const struct model_cluster *c, struct arena *a, uint64_t min_size)
{
    if (!c->n_endpoints) return NULL;
    if (!min_size) min_size = RING_MIN_SIZE;
    double total = 0, min_norm = 1;
    for (size_t i = 0; i < c->n_endpoints; i++) total += c->endpoints[i].weight;
    for (size_t i = 0; i < c->n_endpoints; i++)
        if (c->endpoints[i].weight / total < min_norm) min_norm = c->endpoints[i].weight / total;
    /* Scale so the lightest endpoint still gets whole points, within the maximum. */
    double scale = fmin(ceil(min_norm * (double)min_size) / min_norm, (double)RING_MAX_SIZE);
    size_t cap = (size_t)ceil(scale) + c->n_endpoints;
    struct point *ring = malloc(cap * sizeof(*ring));
    if (!ring) return NULL;
    size_t n = 0;
    double current = 0, target = 0;
    for (size_t i = 0; i < c->n_endpoints; i++) {
        char key[96];
        lb_endpoint_key(&c->endpoints[i], key, sizeof(key));
        size_t base = strlen(key);
        target += scale * (c->endpoints[i].weight / total);
        for (unsigned k = 0; current < target && n < cap; k++, current++) {
            int len = snprintf(key + base, sizeof(key) - base, "_%u", k);
            ring[n].hash = lb_hash(key, base + (size_t)len);
            ring[n++].host = (uint32_t)i;
        }
    }
    qsort(ring, n, sizeof(*ring), by_hash);
    struct lb_table *t = arena_alloc(a, sizeof(*t));
    t->maglev = false;
    t->size = n;
    t->points = arena_alloc(a, (n + 1) * sizeof(*t->points));
    t->hosts = arena_alloc(a, (n + 1) * sizeof(*t->hosts));
    for (size_t i = 0; i < n; i++) {
        t->points[i] = ring[i].hash;
        t->hosts[i] = ring[i].host;
    }
    free(ring);
    return t;
}
