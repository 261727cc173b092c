/* SPDX-License-Identifier: Apache-2.0 */
/* How a rollout shows itself: one live line per step in a terminal (a bar for the step's
 * time and canary requests, success rate and p99 per version) and a summary; JSON events
 * for scripts; the status object the proxies' /dashboard shows. */
#ifndef MESHLET_ROLLOUT_REPORT_H
#define MESHLET_ROLLOUT_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "core/strbuf.h"
#include "rollout/rollout.h"

/* One moment of a rollout. */
struct rollout_view {
    const struct rollout_plan *plan;
    enum rollout_phase phase;
    int step;         /* index; -1 before the first */
    int weight;       /* the canary's, in force */
    double elapsed_s; /* in the step */
    struct window_stats stable, canary;
    struct check_outcome checks[ANALYSIS_MAX_CHECKS];
    size_t n_checks;
    const char *message; /* "" when none */
};

/* The object POSTed to /rollout (the dashboard's shape; see admin/dashboard). */
void report_status_json(const struct rollout_view *v, struct strbuf *sb);

/* One JSON event line: {"event": <event>, ...the status...}. */
void report_event(FILE *out, const char *event, const struct rollout_view *v);

/* The step's line: redrawn in place on a tty (<final> ends it with a newline), else printed
 * once when <final>. */
void report_line(FILE *out, bool tty, bool final, const struct rollout_view *v);

/* At the end (text): one row per step observed (requests, success rate and p99 per
 * version), then how it ended. */
void report_summary(FILE *out, const struct rollout_view *steps, size_t n,
                    const struct rollout_view *end);

#endif
