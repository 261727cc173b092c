/* SPDX-License-Identifier: Apache-2.0 */
/* Histogram buckets and merging. */
#include "core/metric.h"

const double metric_bounds[METRIC_BUCKETS] = {
    0.5,  1,    5,     10,    25,    50,     100,    250,     500,     1000,
    2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
};

/* The bounds as integers in the two scales in use, so the hot path compares integers:
 * a whole value v is <= 0.5 only when it is 0. */
static const uint64_t bounds_x1[METRIC_BUCKETS] = {
    0,    1,    5,     10,    25,    50,     100,    250,     500,     1000,
    2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
};
static const uint64_t bounds_x1000[METRIC_BUCKETS] = {
    500,      1000,      5000,      10000,      25000,      50000,    100000,
    250000,   500000,    1000000,   2500000,    5000000,    10000000, 30000000,
    60000000, 300000000, 600000000, 1800000000, 3600000000,
};

size_t
metric_bucket(uint64_t v, uint64_t scale)
{
    /* Bounds are inclusive (Prometheus `le`): v lands in the first bucket whose bound
     * x scale it does not exceed. Most values stop within a few compares. */
    const uint64_t *b = scale == 1 ? bounds_x1 : scale == 1000 ? bounds_x1000 : NULL;
    size_t i = 0;
    if (b) {
        while (i < METRIC_BUCKETS && v > b[i]) i++;
        return i;
    }
    double x = (double)v / (double)scale;
    while (i < METRIC_BUCKETS && x > metric_bounds[i]) i++;
    return i;
}

void
metric_histo_merge(struct metric_histo *into, const struct metric_histo *from)
{
    for (size_t i = 0; i <= METRIC_BUCKETS; i++) into->bucket[i] += metric_get(&from->bucket[i]);
    into->count += metric_get(&from->count);
    into->sum += metric_get(&from->sum);
}
