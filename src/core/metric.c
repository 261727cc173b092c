/* SPDX-License-Identifier: Apache-2.0 */
/* Histogram buckets and merging. */
#include "core/metric.h"

const double metric_bounds[METRIC_BUCKETS] = {
    0.5,  1,    5,     10,    25,    50,     100,    250,     500,     1000,
    2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
};

size_t
metric_bucket(uint64_t v, uint64_t scale)
{
    /* Bounds are inclusive (Prometheus `le`): v lands in the first bucket whose bound
     * x scale it does not exceed. Nineteen compares at most; most values stop early. */
    double x = (double)v / (double)scale;
    size_t i = 0;
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
