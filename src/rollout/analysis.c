/* SPDX-License-Identifier: Apache-2.0 */
/* See analysis.h. Only judgement and wording: the figures come from scrape.c or promql.c,
 * and what to do about a failure is rollout.c's. */
#include "rollout/analysis.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Milliseconds as a person reads them: whole above 10, two decimals below. */
static const char *
ms(char *buf, size_t cap, double v)
{
    if (isinf(v))
        snprintf(buf, cap, "%s", v > 0 ? "+Inf" : "-Inf");
    else
        snprintf(buf, cap, fabs(v) >= 10 ? "%.0f" : "%.2f", v);
    return buf;
}

static struct check_outcome *
next(struct check_outcome *out, size_t *n, const char *name)
{
    struct check_outcome *o = &out[(*n)++];
    memset(o, 0, sizeof(*o));
    snprintf(o->name, sizeof(o->name), "%s", name);
    o->ok = true;
    return o;
}

static void
success_rate(const struct rollout_checks *c, const struct window_stats *canary,
             struct check_outcome *o)
{
    double sr = canary->success_rate;
    if (isnan(sr)) {
        snprintf(o->detail, sizeof(o->detail), "no canary requests yet");
        o->waiting = true;
        return;
    }
    o->known = true;
    o->ok = sr >= c->min_success_rate;
    double failed = round(canary->requests * (100.0 - sr) / 100.0);
    snprintf(o->detail, sizeof(o->detail), "canary %.1f%% %s floor %.1f%% (%.0f of %.0f failed)",
             sr, o->ok ? ">=" : "<", c->min_success_rate, failed, canary->requests);
}

static void
success_drop(const struct rollout_checks *c, const struct window_stats *stable,
             const struct window_stats *canary, struct check_outcome *o)
{
    if (isnan(canary->success_rate) || isnan(stable->success_rate)) {
        snprintf(o->detail, sizeof(o->detail), "no %s requests yet",
                 isnan(canary->success_rate) ? "canary" : "stable");
        o->waiting = isnan(canary->success_rate);
        return;
    }
    o->known = true;
    double drop = stable->success_rate - canary->success_rate;
    o->ok = drop <= c->max_success_drop;
    if (drop > 0)
        snprintf(o->detail, sizeof(o->detail),
                 "canary %.1f%% is %.1f points below stable %.1f%% (%s %.1f allowed)",
                 canary->success_rate, drop, stable->success_rate, o->ok ? "<=" : ">",
                 c->max_success_drop);
    else
        snprintf(o->detail, sizeof(o->detail), "canary %.1f%% not below stable %.1f%%",
                 canary->success_rate, stable->success_rate);
}

/* Whether <w>'s p99 means something yet; else says why in <o> (waiting when it will). */
static bool
enough_for_p99(const struct window_stats *w, const char *who, struct check_outcome *o)
{
    if (isnan(w->p99_ms) && !(w->requests > 0)) {
        snprintf(o->detail, sizeof(o->detail), "no %s latency yet", who);
        o->waiting = !strcmp(who, "canary");
        return false;
    }
    if (isnan(w->p99_ms) || w->requests < ANALYSIS_QUANTILE_MIN) {
        snprintf(o->detail, sizeof(o->detail), "p99 needs %d %s requests (%.0f so far)",
                 ANALYSIS_QUANTILE_MIN, who, w->requests);
        o->waiting = true;
        return false;
    }
    return true;
}

static void
p99(const struct rollout_checks *c, const struct window_stats *canary, struct check_outcome *o)
{
    char a[32], b[32];
    if (!enough_for_p99(canary, "canary", o)) return;
    o->known = true;
    o->ok = canary->p99_ms <= c->max_p99_ms;
    snprintf(o->detail, sizeof(o->detail), "canary p99 %s ms %s bound %s ms",
             ms(a, sizeof(a), canary->p99_ms), o->ok ? "<=" : ">", ms(b, sizeof(b), c->max_p99_ms));
}

static void
p99_ratio(const struct rollout_checks *c, const struct window_stats *stable,
          const struct window_stats *canary, struct check_outcome *o)
{
    char a[32], b[32], l[32];
    if (!enough_for_p99(canary, "canary", o) || !enough_for_p99(stable, "stable", o)) return;
    o->known = true;
    double limit = c->max_p99_ratio * stable->p99_ms;
    o->ok = canary->p99_ms <= limit;
    snprintf(o->detail, sizeof(o->detail), "canary p99 %s ms %s %.1f x stable %s ms = %s ms",
             ms(a, sizeof(a), canary->p99_ms), o->ok ? "<=" : ">", c->max_p99_ratio,
             ms(b, sizeof(b), stable->p99_ms), ms(l, sizeof(l), limit));
}

bool
analysis_run(const struct rollout_checks *c, const struct window_stats *stable,
             const struct window_stats *canary, struct check_outcome *out, size_t *n)
{
    *n = 0;
    if (c->min_success_rate >= 0) success_rate(c, canary, next(out, n, "success_rate"));
    if (c->max_success_drop >= 0) success_drop(c, stable, canary, next(out, n, "success_drop"));
    if (c->max_p99_ms > 0) p99(c, canary, next(out, n, "p99"));
    if (c->max_p99_ratio > 0) p99_ratio(c, stable, canary, next(out, n, "p99_ratio"));
    bool all = true;
    for (size_t i = 0; i < *n; i++) all &= out[i].ok;
    return all;
}

void
analysis_reach(double picked, double answered, double min, struct check_outcome *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->name, sizeof(o->name), "reach");
    o->ok = true;
    if (!(picked >= min) || picked <= 0) {
        snprintf(o->detail, sizeof(o->detail), "%.0f canary requests routed so far", picked);
        return;
    }
    o->known = true;
    o->ok = answered * 2 >= picked;
    snprintf(o->detail, sizeof(o->detail),
             o->ok ? "canary answered %.0f of %.0f requests routed to it"
                   : "canary answered %.0f of %.0f requests routed to it: its endpoints are "
                     "ejected or unreachable (503 UH)",
             answered, picked);
}
