/* SPDX-License-Identifier: Apache-2.0 */
/* /traffic: the dashboard's view of Istio's series. It reads the merged series views (the
 * same ones /stats/prometheus prints) and folds every label except reporter,
 * destination_service and destination_version, taking the response code apart only to count
 * 5xx. Rates and quantiles are left to the reader, from deltas between two polls. */
#include "admin/traffic.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/metrics.h"

bool
traffic_label(const char *labels, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    const char *p = labels;
    while (*p) {
        const char *eq = strchr(p, '=');
        if (!eq || eq[1] != '"') return false;
        bool hit = (size_t)(eq - p) == n && !memcmp(p, name, n);
        size_t len = 0;
        const char *v = eq + 2;
        for (; *v && *v != '"'; v++) {
            char c = *v;
            if (c == '\\' && v[1]) c = *++v == 'n' ? '\n' : *v;
            if (hit && len + 1 < cap) out[len++] = c;
        }
        if (!*v) return false; /* unterminated */
        if (hit) {
            if (cap) out[len] = '\0';
            return true;
        }
        p = v + 1;
        if (*p == ',') p++;
    }
    return false;
}

static void
label_or_unknown(const char *labels, const char *name, char *out, size_t cap)
{
    if (!traffic_label(labels, name, out, cap)) snprintf(out, cap, "unknown");
}

struct traffic_group *
traffic_group(const struct metrics_series_view *v, size_t n, size_t *len)
{
    *len = 0;
    struct traffic_group *g = n ? calloc(n, sizeof(*g)) : NULL;
    if (!g) return NULL;
    for (size_t i = 0; i < n; i++) {
        struct traffic_group key;
        memset(&key, 0, sizeof(key));
        label_or_unknown(v[i].labels, "reporter", key.reporter, sizeof(key.reporter));
        label_or_unknown(v[i].labels, "destination_service", key.service, sizeof(key.service));
        label_or_unknown(v[i].labels, "destination_version", key.version, sizeof(key.version));
        struct traffic_group *t = NULL;
        for (size_t j = 0; j < *len && !t; j++)
            if (!strcmp(g[j].reporter, key.reporter) && !strcmp(g[j].service, key.service) &&
                !strcmp(g[j].version, key.version))
                t = &g[j];
        if (!t) {
            t = &g[(*len)++];
            *t = key;
        }
        char code[8];
        t->requests += v[i].requests;
        if (traffic_label(v[i].labels, "response_code", code, sizeof(code)) && code[0] == '5' &&
            strlen(code) == 3)
            t->errors += v[i].requests;
        for (size_t b = 0; b <= METRIC_BUCKETS; b++) t->duration[b] += v[i].duration.bucket[b];
    }
    return g;
}

void
traffic_write_groups(const struct traffic_group *g, size_t n, struct strbuf *sb)
{
    strbuf_puts(sb, "{\"bounds_ms\":[");
    for (size_t b = 0; b < METRIC_BUCKETS; b++)
        strbuf_printf(sb, "%s%.10g", b ? "," : "", metric_bounds[b]);
    strbuf_puts(sb, "],\"series\":[");
    for (size_t i = 0; i < n; i++) {
        strbuf_puts(sb, i ? ",{\"reporter\":" : "{\"reporter\":");
        strbuf_json_str(sb, g[i].reporter);
        strbuf_puts(sb, ",\"service\":");
        strbuf_json_str(sb, g[i].service);
        strbuf_puts(sb, ",\"version\":");
        strbuf_json_str(sb, g[i].version);
        strbuf_printf(sb, ",\"requests\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"duration_ms\":[",
                      g[i].requests, g[i].errors);
        for (size_t b = 0; b <= METRIC_BUCKETS; b++)
            strbuf_printf(sb, "%s%" PRIu64, b ? "," : "", g[i].duration[b]);
        strbuf_puts(sb, "]}");
    }
    strbuf_puts(sb, "]}\n");
}

void
traffic_write(const struct admin *a, struct strbuf *sb)
{
    struct metrics_shard *shards[256];
    size_t len, n_groups, n = admin_shards(a, shards, 256);
    struct metrics_series_view *series = metrics_series(shards, n, &len);
    struct traffic_group *g = traffic_group(series, len, &n_groups);
    traffic_write_groups(g, n_groups, sb);
    free(g);
    free(series);
}
