/* SPDX-License-Identifier: Apache-2.0 */
/* GET /traffic: Istio's request series summed per reporter, destination_service and
 * destination_version (every other label folded in): requests, 5xx answers and the duration
 * histogram. A small JSON page the dashboard polls instead of the whole Prometheus text. [M] */
#ifndef MESHLET_ADMIN_TRAFFIC_H
#define MESHLET_ADMIN_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/admin.h"
#include "core/metric.h"
#include "core/strbuf.h"

struct metrics_series_view;

/* One destination version's traffic as one reporter saw it. */
struct traffic_group {
    char reporter[16]; /* "source" (outbound) or "destination" (a sidecar's inbound) */
    char service[256]; /* destination_service: the host's FQDN, or "unknown" */
    char version[128]; /* destination_version: the endpoint's version label, or "unknown" */
    uint64_t requests; /* istio_requests_total summed */
    uint64_t errors;   /* of which response_code 5xx */
    uint64_t duration[METRIC_BUCKETS + 1]; /* requests per bucket of metric_bounds (ms), not
                                            * cumulative; the last is above every bound */
};

/* The value of label <name> in <labels> (`name="value",...`, Prometheus escapes), unescaped
 * into <out> (<cap> bytes, cut to fit); false when the label is absent. */
bool traffic_label(const char *labels, const char *name, char *out, size_t cap);

/* <n> series grouped: a malloc'd array of *len groups in the order first seen (NULL with
 * *len 0 when there is none or on ENOMEM). */
struct traffic_group *traffic_group(const struct metrics_series_view *v, size_t n, size_t *len);

/* {"bounds_ms":[...],"series":[{"reporter","service","version","requests","errors",
 * "duration_ms":[per bucket]}...]} of <n> groups. */
void traffic_write_groups(const struct traffic_group *g, size_t n, struct strbuf *sb);

/* The page from the workers' shards now. */
void traffic_write(const struct admin *a, struct strbuf *sb);

#endif
