/* SPDX-License-Identifier: Apache-2.0 */
/* Smooth weighted round robin. Every pick adds each destination's weight to its counter,
 * takes the largest, and subtracts the total from the winner: over any run of `total`
 * picks each destination is chosen exactly `weight` times, spread out (90/10 gives one v2
 * in every ten requests), and a weight of 0 (cutover) is never chosen. */
#include "lb/split.h"

#include <errno.h>
#include <stdlib.h>

#include "lb/lb.h"

int
split_init(struct split_state *st, const struct snapshot *snap, size_t worker)
{
    st->snap = snap;
    st->owned = !snap->split_counters || !snap->split_picks || worker >= snap->n_split_workers;
    size_t stride = snap->n_split_slots + 1;
    st->current =
        st->owned ? calloc(stride, sizeof(*st->current)) : snap->split_counters + worker * stride;
    st->picks =
        st->owned ? calloc(stride, sizeof(*st->picks)) : snap->split_picks + worker * stride;
    if (st->current && st->picks) return 0;
    split_fini(st);
    return -ENOMEM;
}

void
split_fini(struct split_state *st)
{
    if (st->owned) {
        free(st->current);
        free(st->picks);
    }
    st->current = NULL;
    st->picks = NULL;
    st->snap = NULL;
}

size_t
split_next(int64_t *cur, const struct model_route *r)
{
    size_t best = 0;
    int64_t best_v = INT64_MIN;
    for (size_t i = 0; i < r->n_dests; i++) {
        int64_t v = __atomic_load_n(&cur[i], __ATOMIC_RELAXED) + r->dests[i].weight;
        __atomic_store_n(&cur[i], v, __ATOMIC_RELAXED);
        if (v > best_v) {
            best = i;
            best_v = v;
        }
    }
    __atomic_store_n(&cur[best], best_v - (int64_t)r->total_weight, __ATOMIC_RELAXED);
    return best;
}

static void
count_pick(struct split_state *st, const struct model_route *r, size_t d)
{
    uint64_t *n = &st->picks[r->split_offset + d]; /* this worker alone writes it */
    __atomic_store_n(n, *n + 1, __ATOMIC_RELAXED);
}

size_t
split_pick(struct split_state *st, const struct model_route *r)
{
    if (r->n_dests == 1) {
        /* A split whose other destinations have weight 0 (a rollout's end): still counted,
         * so /splits shows what the one left was sent. Plain routes pay one branch. */
        if (r->n_listed_dests > 1) count_pick(st, r, 0);
        return 0;
    }
    size_t d = split_next(st->current + r->split_offset, r);
    count_pick(st, r, d);
    return d;
}

uint64_t
split_sticky_hash(const void *key, size_t len)
{
    return lb_hash_seeded(key, len, SPLIT_STICKY_SEED);
}

size_t
split_sticky_index(const struct model_route *r, uint64_t hash)
{
    /* floor(hash * total / 2^64) < cum  <=>  hash / 2^64 < cum / total: exact integers, so
     * the user's point is the same fraction of the weights whatever their sum. */
    uint64_t at = (uint64_t)(((unsigned __int128)hash * r->total_weight) >> 64);
    uint64_t cum = 0;
    for (size_t i = 0; i < r->n_dests; i++) {
        cum += r->dests[i].weight;
        if (at < cum) return i;
    }
    return r->n_dests - 1;
}

size_t
split_pick_sticky(struct split_state *st, const struct model_route *r, uint64_t hash)
{
    if (r->n_dests == 1) {
        if (r->n_listed_dests > 1) count_pick(st, r, 0);
        return 0;
    }
    size_t d = split_sticky_index(r, hash);
    count_pick(st, r, d);
    return d;
}
