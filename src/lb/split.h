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

#endif
