/* SPDX-License-Identifier: Apache-2.0 */
/* Choosing a route's destination per request with smooth weighted round robin (as nginx's
 * upstream weights): exact to within one request over any window, on every connection,
 * with no randomness. Each worker keeps its own state: no lock, no shared counter. [W] */
#ifndef MESHLET_LB_SPLIT_H
#define MESHLET_LB_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* Per-worker split state for one snapshot: a counter per destination of every route. */
struct split_state {
    const struct snapshot *snap; /* borrowed: the snapshot the counters belong to */
    int64_t *current;            /* snap->n_split_slots counters */
    uint64_t *picks;             /* requests sent to each destination, the same layout */
    bool owned;                  /* allocated here, not the snapshot's */
};

/* Worker <worker>'s counters of <snap>: the snapshot's own when it has them for that
 * worker (model_options.n_workers), else allocated zeroed. 0 or -ENOMEM. */
int split_init(struct split_state *st, const struct snapshot *snap, size_t worker);
void split_fini(struct split_state *st);

/* Index of the destination of <r> to use for the next request, counted in <picks>. <r>
 * must belong to the state's snapshot and have at least one destination. */
size_t split_pick(struct split_state *st, const struct model_route *r);

/* The same step on <r>'s counters <cur> (r->n_dests of them): `meshlet explain` replays a
 * running worker's split with it. The counters are read and written with relaxed atomics,
 * so the admin thread may copy a worker's while it serves. */
size_t split_next(int64_t *cur, const struct model_route *r);

/* Sticky split (model_route.sticky_on). A user key hashes to a point of [0, 1); with the
 * destinations' weights laid end to end in listed order over [0, total_weight), the user
 * goes to the destination whose interval holds point * total_weight. A weight change only
 * moves interval bounds, so with two destinations a growing canary takes users from stable
 * and never gives one back. The seed is fixed: every worker and every instance of a fleet
 * sends a user to the same place. */
#define SPLIT_STICKY_SEED UINT64_C(0x6d6573686c657431) /* "meshlet1" */

/* xxHash64 of the user key <key> (<len> bytes) with SPLIT_STICKY_SEED. [A] */
uint64_t split_sticky_hash(const void *key, size_t len);

/* Index of the destination of <r> (at least one) whose weight interval holds <hash>. [A] */
size_t split_sticky_index(const struct model_route *r, uint64_t hash);

/* split_sticky_index(), counted in the state's picks like split_pick(). [W] */
size_t split_pick_sticky(struct split_state *st, const struct model_route *r, uint64_t hash);

#endif
