/* SPDX-License-Identifier: Apache-2.0 */
/* Istio's standard series for one destination, read from the proxies' own
 * /stats/prometheus (summed over a fleet, as deltas between two reads) or asked of a
 * Prometheus server as PromQL. The figures a rollout's checks look at. [M] */
#ifndef MESHLET_ROLLOUT_SCRAPE_H
#define MESHLET_ROLLOUT_SCRAPE_H

#include <stddef.h>

#include "core/strbuf.h"

#define TRAFFIC_MAX_BOUNDS 40

/* Totals of Istio's standard series for one destination, summed over every proxy. */
struct traffic {
    double requests; /* istio_requests_total */
    double errors;   /* ... with response_code 5xx */
    size_t n_bounds; /* histogram le bounds (ms), ascending, +Inf excluded */
    double bounds[TRAFFIC_MAX_BOUNDS];
    double cum[TRAFFIC_MAX_BOUNDS + 1]; /* cumulative bucket counts, [n_bounds] = +Inf */
};

struct traffic_query {
    const char *service;  /* destination_service label, e.g. orders.shop.svc.cluster.local */
    const char *version;  /* destination_version label, or NULL for any */
    const char *reporter; /* "source" or "destination" (NULL: any) */
};

/* Add the series of one Prometheus text exposition (<text>, <len> bytes) that match <q> to
 * <*out> (zero it first for a fresh total): istio_requests_total into requests (and errors
 * when response_code is 5xx), istio_request_duration_milliseconds_bucket into the buckets
 * by le (bounds merged in order; series with other bounds add theirs). Any valid exposition
 * is read (labels in any order, escapes, comments, blanks, timestamps). 0, or -1 with
 * "line N: why" in <err> (<cap> bytes) for a malformed exposition, a matching sample that
 * is not a finite count >= 0, a matching histogram without its le="+Inf" bucket, or a
 * last line without its newline (a cut body); <*out> is then unspecified. Bounds past
 * TRAFFIC_MAX_BOUNDS are dropped (counts are cumulative: only resolution is lost). */
int scrape_parse(const char *text, size_t len, const struct traffic_query *q, struct traffic *out,
                 char *err, size_t cap);

/* GET http://<hostport>/stats/prometheus (blocking, on a loop of its own, <timeout_ms> for
 * the whole exchange) and scrape_parse it into <*out>. <hostport> is IP:PORT, localhost:PORT
 * or http://IP:PORT. 0, or -1 with "127.0.0.1:15000: Connection refused"-style <err>. Not
 * for the main thread of `meshlet run`. */
int scrape_fetch(const char *hostport, int timeout_ms, const struct traffic_query *q,
                 struct traffic *out, char *err, size_t cap);

/* The same for <n> queries over one read of the exposition: <outs>[i] for <qs>[i]. */
int scrape_fetch_many(const char *hostport, int timeout_ms, const struct traffic_query *qs,
                      struct traffic *outs, size_t n, char *err, size_t cap);

/* GET <url><path> (<url>: http://IP:PORT[/prefix], IP:PORT or localhost:PORT) on a loop
 * of its own within <timeout_ms> (<= 0: 10 s; never unbounded), the body appended to <out> (capped
 * by its max_bytes). 0 when an answer came, whatever its status (in <*status>); -1 with "IP:PORT:
 * why" in <err> (refused, timed out, not HTTP, over the cap). Blocking: not for `meshlet run`. */
int scrape_http_get(const char *url, const char *path, int timeout_ms, int *status,
                    struct strbuf *out, char *err, size_t cap);

/* Add <from> into <into> (requests, errors, buckets by le): to sum per-proxy deltas. */
void traffic_add(struct traffic *into, const struct traffic *from);

/* <now> - <then> for counters read from the same proxy (or fleet). When any counter went
 * down (a proxy restarted) the whole of <now> is the delta, as from zero. A bound of <now>
 * that <then> lacks takes <then>'s count at its largest bound below (0 when none): a
 * histogram that first appears counts whole. With a fleet, keep one reading per proxy,
 * delta each and traffic_add the deltas, so one restart does not hide the others'
 * traffic. */
struct traffic traffic_delta(const struct traffic *now, const struct traffic *then);

/* One window's figures for a check. */
struct window_stats {
    double requests;
    double success_rate; /* % non-5xx; NAN without requests */
    double p99_ms;       /* NAN without requests (or without a histogram) */
    double p50_ms;       /* NAN without requests */
};

/* The figures of a delta: p99 and p50 by traffic_quantile. */
struct window_stats traffic_stats(const struct traffic *delta);

/* Prometheus's histogram_quantile(<q>) over <t>'s buckets: linear interpolation inside the
 * bucket (from 0 for the first when its bound is > 0); the largest finite bound when the
 * rank falls in the +Inf bucket; NAN without observations or with fewer than two buckets;
 * -Inf for q < 0, +Inf for q > 1, NAN for q NAN. Non-monotonic counts are evened out
 * first, as Prometheus does. */
double traffic_quantile(const struct traffic *t, double q);

/* The same window figures from a Prometheus server at <url> (http://IP:PORT[/prefix]):
 * GET /api/v1/query with sum(increase(istio_requests_total{...}[<window_s>s])), the same
 * for response_code=~"5..", and histogram_quantile(0.99 and 0.5, sum by (le)(increase(
 * istio_request_duration_milliseconds_bucket{...}[<window_s>s]))). Each query gets
 * <timeout_ms>; <window_s> > 0. An empty result is "no requests" (requests 0, rates NAN).
 * Prometheus's increase() extrapolates to the window's edges and skips a series' first
 * sample, so counts are approximate (ratios and quantiles hold better). 0, or -1 with
 * why in <err> (connection, HTTP status, Prometheus's own error text). */
int promql_window(const char *url, const struct traffic_query *q, unsigned window_s, int timeout_ms,
                  struct window_stats *out, char *err, size_t cap);

#endif
