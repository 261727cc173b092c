/* SPDX-License-Identifier: Apache-2.0 */
/* Counters and histograms that one thread writes and any thread reads: plain loads and
 * stores (relaxed atomics, no locked instruction on the writer's path); a reader sees each
 * value whole, perhaps a few events old. Shards of one thread each are merged on read. [A] */
#ifndef MESHLET_CORE_METRIC_H
#define MESHLET_CORE_METRIC_H

#include <stddef.h>
#include <stdint.h>

/* Envoy's default histogram bounds, which Istio's standard metrics use (ms and bytes). */
#define METRIC_BUCKETS 19
extern const double metric_bounds[METRIC_BUCKETS];

/* Add <n> to a counter only this thread writes. */
static inline void
metric_add(uint64_t *c, uint64_t n)
{
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline uint64_t
metric_get(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* Observations: per bucket (not cumulative), their count and sum, in <scale>ths of the
 * unit of metric_bounds (a histogram of ms fed in µs has scale 1000). */
struct metric_histo {
    uint64_t bucket[METRIC_BUCKETS + 1]; /* the last: above every bound */
    uint64_t count, sum;
};

/* The bucket <v> (in units of the bounds x <scale>) falls in. */
size_t metric_bucket(uint64_t v, uint64_t scale);

static inline void
metric_observe(struct metric_histo *h, uint64_t v, uint64_t scale)
{
    metric_add(&h->bucket[metric_bucket(v, scale)], 1);
    metric_add(&h->count, 1);
    metric_add(&h->sum, v);
}

/* <into> += <from>, read with relaxed loads. */
void metric_histo_merge(struct metric_histo *into, const struct metric_histo *from);

#endif
