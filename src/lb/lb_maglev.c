/* SPDX-License-Identifier: Apache-2.0 */
/* Consistent hash with a Maglev lookup table, as Envoy's MAGLEV builds it: each endpoint
 * walks its own permutation of the slots (offset and skip from two xxHash64 seeds of its
 * address) and claims free slots in turns, heavier endpoints taking more turns. A request
 * takes slot hash mod size. An endpoint leaving moves its own keys and few others. */
#include <stdlib.h>
#include <string.h>

#include "lb/lb.h"

#define MAGLEV_DEFAULT_SIZE 65537
#define SLOT_FREE UINT32_MAX

struct walker {
    uint64_t offset, skip, next;
    double weight; /* relative to the heaviest endpoint */
    double target;
};

const struct lb_table *
lb_maglev_build(const struct model_cluster *c, struct arena *a, uint64_t size)
{
    if (!c->n_endpoints) return NULL;
    if (size < 2) size = MAGLEV_DEFAULT_SIZE;
    struct walker *w = calloc(c->n_endpoints, sizeof(*w));
    if (!w) return NULL;
    double max_weight = 0;
    for (size_t i = 0; i < c->n_endpoints; i++)
        if (c->endpoints[i].weight > max_weight) max_weight = c->endpoints[i].weight;
    for (size_t i = 0; i < c->n_endpoints; i++) {
        char key[96];
        lb_endpoint_key(&c->endpoints[i], key, sizeof(key));
        size_t len = strlen(key);
        w[i].offset = lb_hash(key, len) % size;
        w[i].skip = lb_hash_seeded(key, len, 1) % (size - 1) + 1;
        w[i].weight = c->endpoints[i].weight / max_weight;
    }
    struct lb_table *t = arena_alloc(a, sizeof(*t));
    t->maglev = true;
    t->size = size;
    t->points = NULL;
    t->hosts = arena_alloc(a, size * sizeof(*t->hosts));
    for (uint64_t s = 0; s < size; s++) t->hosts[s] = SLOT_FREE;
    uint64_t filled = 0;
    for (uint64_t turn = 1; filled < size; turn++) {
        for (size_t i = 0; i < c->n_endpoints && filled < size; i++) {
            /* A lighter endpoint sits out turns until its share catches up. */
            if ((double)turn * w[i].weight < w[i].target) continue;
            w[i].target += 1.0;
            uint64_t slot = (w[i].offset + w[i].skip * w[i].next) % size;
            while (t->hosts[slot] != SLOT_FREE) {
                w[i].next++;
                slot = (w[i].offset + w[i].skip * w[i].next) % size;
            }
            t->hosts[slot] = (uint32_t)i;
            w[i].next++;
            filled++;
        }
    }
    free(w);
    return t;
}
