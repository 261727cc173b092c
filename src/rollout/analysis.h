/* SPDX-License-Identifier: Apache-2.0 */
/* A rollout's checks: the canary's window figures against fixed bounds and against the
 * stable version's, each with a verdict and the numbers behind it. Pure. [A] */
#ifndef MESHLET_ROLLOUT_ANALYSIS_H
#define MESHLET_ROLLOUT_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>

#include "rollout/scrape.h"

struct rollout_checks {
    double min_success_rate; /* canary % non-5xx floor, e.g. 99; <0 = off */
    double max_success_drop; /* canary may be at most this many points below stable; <0 = off */
    double max_p99_ms;       /* canary p99 bound; <=0 = off */
    double max_p99_ratio;    /* canary p99 <= ratio x stable p99; <=0 = off */
};

#define ANALYSIS_MAX_CHECKS 5 /* the four below and analysis_reach */
/* A p99 of fewer requests is mostly their maximum: the latency checks wait for this many
 * requests of each version they compare. */
#define ANALYSIS_QUANTILE_MIN 100

struct check_outcome {
    char name[32]; /* "success_rate", "success_drop", "p99", "p99_ratio" */
    bool ok;       /* passed, or not known (a check without data does not fail) */
    bool known;    /* false: not enough data (no requests, no histogram) */
    bool waiting;  /* unknown for now: the data it needs is coming (a step waits for it) */
    char detail[160];
};

/* Run every enabled check of <c> on the window figures <stable> and <canary>, in the order
 * above, into <out> (room for ANALYSIS_MAX_CHECKS); <*n> says how many. Details carry the
 * numbers: "canary 91.3% < floor 99.0% (87 of 1000 failed)", "canary p99 812 ms > 2.0 x
 * stable 95 ms = 190 ms". A check is unknown (ok, known false) when a figure it needs is
 * NAN: no canary requests, or for the drop and ratio checks no stable requests (a canary
 * at 100%). Returns true when every known check passes. */
bool analysis_run(const struct rollout_checks *c, const struct window_stats *stable,
                  const struct window_stats *canary, struct check_outcome *out, size_t *n);

/* Whether the canary answers the requests routed to it: <picked> of them by the proxies'
 * weighted choice (/splits), <answered> in its Istio series (version labels). Requests that
 * found no endpoint (every one ejected: 503 UH) carry no version, so a success rate alone
 * never sees them. Fails once <picked> >= <min> and fewer than half were answered. */
void analysis_reach(double picked, double answered, double min, struct check_outcome *o);

#endif
