/* SPDX-License-Identifier: Apache-2.0 */
/* GET /stats/prometheus: Istio's standard metrics and Envoy's cluster and server stats in
 * Prometheus's text format (0.0.4), from the workers' shards merged now. Each family is
 * written whole (HELP, TYPE, then every sample), as the format requires. */
#include "admin/prom.h"
#include "admin/certs.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/dns.h"
#include "core/metric.h"
#include "core/now.h"
#include "http/access_log.h"
#include "http/metrics.h"
#include "lb/outlier.h"
#include "model/endpoint.h"

void
prom_family(struct strbuf *sb, const char *name, const char *type, const char *help)
{
    strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram series: cumulative buckets, +Inf, sum and count. <scale> converts the
 * recorded unit to the family's (1000: µs recorded, ms exposed). */
void
prom_histogram(struct strbuf *sb, const char *name, const char *labels,
               const struct metric_histo *h, uint64_t scale)
{
    uint64_t cum = 0;
    for (size_t i = 0; i < METRIC_BUCKETS; i++) {
        cum += h->bucket[i];
        strbuf_printf(sb, "%s_bucket{%s,le=\"%g\"} %" PRIu64 "\n", name, labels, metric_bounds[i],
                      cum);
    }
    cum += h->bucket[METRIC_BUCKETS];
    strbuf_printf(sb, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", name, labels, cum);
    strbuf_printf(sb, "%s_sum{%s} %.3f\n", name, labels, (double)h->sum / (double)scale);
    /* the count is the buckets' total, so +Inf and _count always agree */
    strbuf_printf(sb, "%s_count{%s} %" PRIu64 "\n", name, labels, cum);
}

/* A gRPC series' message counts under its first 20 labels (the two workloads). */
struct messages {
    const char *labels;
    int len; /* of the first 20 labels (metrics_series_view.prefix_len) */
    uint64_t req, resp;
};

static int
messages_cmp(const void *a, const void *b)
{
    const struct messages *x = a, *y = b;
    int c = memcmp(x->labels, y->labels, (size_t)(x->len < y->len ? x->len : y->len));
    return c ? c : x->len - y->len;
}

/* Istio's message counters: on gRPC series only, and under the 20 labels naming the two
 * workloads alone (Istio counts them before it adds the protocol, code and flags), so the
 * series of one pair of workloads are summed. */
static void
message_families(struct strbuf *sb, const struct metrics_series_view *v, size_t n)
{
    struct messages *m = calloc(n + 1, sizeof(*m));
    size_t k = 0;
    for (size_t i = 0; m && i < n; i++) {
        if (!v[i].grpc) continue;
        m[k++] = (struct messages){v[i].labels, (int)v[i].prefix_len, v[i].req_messages,
                                   v[i].resp_messages};
    }
    if (k) qsort(m, k, sizeof(*m), messages_cmp);
    size_t out = 0; /* runs of one prefix summed into their first */
    for (size_t i = 0; i < k; i++) {
        if (out && !messages_cmp(&m[out - 1], &m[i])) {
            m[out - 1].req += m[i].req;
            m[out - 1].resp += m[i].resp;
        } else {
            m[out++] = m[i];
        }
    }
    prom_family(sb, "istio_request_messages_total", "counter", "gRPC messages sent by the client.");
    for (size_t i = 0; i < out; i++)
        strbuf_printf(sb, "istio_request_messages_total{%.*s} %" PRIu64 "\n", m[i].len, m[i].labels,
                      m[i].req);
    prom_family(sb, "istio_response_messages_total", "counter",
                "gRPC messages sent by the server.");
    for (size_t i = 0; i < out; i++)
        strbuf_printf(sb, "istio_response_messages_total{%.*s} %" PRIu64 "\n", m[i].len,
                      m[i].labels, m[i].resp);
    free(m);
}

static void
istio_families(struct strbuf *sb, const struct metrics_series_view *v, size_t n)
{
    prom_family(sb, "istio_requests_total", "counter",
                "Requests handled, by Istio's standard labels.");
    for (size_t i = 0; i < n; i++)
        strbuf_printf(sb, "istio_requests_total{%s} %" PRIu64 "\n", v[i].labels, v[i].requests);
    prom_family(sb, "istio_request_duration_milliseconds", "histogram",
                "Request duration, from the request head to the end of the response.");
    for (size_t i = 0; i < n; i++)
        prom_histogram(sb, "istio_request_duration_milliseconds", v[i].labels, &v[i].duration,
                       1000);
    prom_family(sb, "istio_request_bytes", "histogram",
                "Request size on the wire (head and body).");
    for (size_t i = 0; i < n; i++)
        prom_histogram(sb, "istio_request_bytes", v[i].labels, &v[i].req_bytes, 1);
    prom_family(sb, "istio_response_bytes", "histogram",
                "Response size on the wire (head and body).");
    for (size_t i = 0; i < n; i++)
        prom_histogram(sb, "istio_response_bytes", v[i].labels, &v[i].resp_bytes, 1);
    message_families(sb, v, n);
}

/* Istio's TCP families: each written whole, every TCP series in each. */
static void
tcp_families(struct strbuf *sb, const struct metrics_tcp_view *v, size_t n)
{
    static const struct {
        const char *name, *help;
        size_t off;
    } fam[] = {
        {"istio_tcp_connections_opened_total", "TCP connections opened.",
         offsetof(struct metrics_tcp_view, opened)},
        {"istio_tcp_connections_closed_total", "TCP connections closed.",
         offsetof(struct metrics_tcp_view, closed)},
        {"istio_tcp_sent_bytes_total", "Bytes sent to the client on TCP connections (responses).",
         offsetof(struct metrics_tcp_view, sent_bytes)},
        {"istio_tcp_received_bytes_total",
         "Bytes received from the client on TCP connections (requests).",
         offsetof(struct metrics_tcp_view, received_bytes)},
    };
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        prom_family(sb, fam[f].name, "counter", fam[f].help);
        for (size_t i = 0; i < n; i++) {
            uint64_t value;
            memcpy(&value, (const char *)&v[i] + fam[f].off, sizeof(value));
            strbuf_printf(sb, "%s{%s} %" PRIu64 "\n", fam[f].name, v[i].labels, value);
        }
    }
}

static void
cluster_counter(struct strbuf *sb, const struct metrics_cluster_view *v, size_t n,
                enum upstream_event e, const char *help)
{
    char name[128];
    snprintf(name, sizeof(name), "envoy_cluster_%s", upstream_event_name[e]);
    prom_family(sb, name, "counter", help);
    for (size_t i = 0; i < n; i++) {
        strbuf_printf(sb, "%s{", name);
        metrics_label(sb, "cluster_name", v[i].name, true);
        strbuf_printf(sb, "} %" PRIu64 "\n", v[i].ev[e]);
    }
}

static void
cluster_families(struct strbuf *sb, const struct metrics_cluster_view *v, size_t n)
{
    cluster_counter(sb, v, n, UP_RQ, "Upstream requests (every try).");
    prom_family(sb, "envoy_cluster_upstream_rq_xx", "counter",
                "Upstream responses by class (timeouts count as 504, resets as 503).");
    for (size_t i = 0; i < n; i++) {
        for (int x = 1; x <= 5; x++) {
            strbuf_printf(sb, "envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"%d\",", x);
            metrics_label(sb, "cluster_name", v[i].name, true);
            strbuf_printf(sb, "} %" PRIu64 "\n", v[i].xx[x]);
        }
    }
    cluster_counter(sb, v, n, UP_RETRY, "Retries.");
    cluster_counter(sb, v, n, UP_RETRY_OVERFLOW,
                    "Retries refused by the maxRetries circuit breaker.");
    cluster_counter(sb, v, n, UP_TIMEOUT, "Tries that timed out waiting for a response.");
    cluster_counter(sb, v, n, UP_PENDING_OVERFLOW,
                    "Requests refused by the pool's circuit breakers (UO).");
    prom_family(sb, "envoy_cluster_upstream_cx_active", "gauge", "Upstream connections open.");
    for (size_t i = 0; i < n; i++) {
        strbuf_puts(sb, "envoy_cluster_upstream_cx_active{");
        metrics_label(sb, "cluster_name", v[i].name, true);
        strbuf_printf(sb, "} %" PRIu64 "\n", metrics_cx_active(&v[i]));
    }
}

/* What the live snapshot's pools know: membership, health, ejections. */
static void
health_families(struct strbuf *sb, const struct snapshot *s)
{
    prom_family(sb, "envoy_cluster_membership_total", "gauge", "Endpoints in the cluster.");
    for (size_t i = 0; i < s->n_clusters; i++) {
        strbuf_puts(sb, "envoy_cluster_membership_total{");
        metrics_label(sb, "cluster_name", s->clusters[i]->name, true);
        strbuf_printf(sb, "} %zu\n", s->clusters[i]->n_endpoints);
    }
    prom_family(sb, "envoy_cluster_membership_healthy", "gauge",
                "Endpoints not ejected by outlier detection.");
    for (size_t i = 0; i < s->n_clusters; i++) {
        const struct model_cluster *c = s->clusters[i];
        size_t healthy = 0;
        for (size_t e = 0; e < c->n_endpoints; e++) healthy += !outlier_ejected(c, e);
        strbuf_puts(sb, "envoy_cluster_membership_healthy{");
        metrics_label(sb, "cluster_name", c->name, true);
        strbuf_printf(sb, "} %zu\n", healthy);
    }
    prom_family(sb, "envoy_cluster_outlier_detection_ejections_active", "gauge",
                "Endpoints ejected now.");
    for (size_t i = 0; i < s->n_clusters; i++) {
        const struct model_cluster *c = s->clusters[i];
        strbuf_puts(sb, "envoy_cluster_outlier_detection_ejections_active{");
        metrics_label(sb, "cluster_name", c->name, true);
        strbuf_printf(sb, "} %u\n",
                      atomic_load_explicit(&c->state->n_ejected, memory_order_relaxed));
    }
    prom_family(sb, "envoy_cluster_outlier_detection_ejections_total", "counter",
                "Ejections of the cluster's current endpoints.");
    for (size_t i = 0; i < s->n_clusters; i++) {
        const struct model_cluster *c = s->clusters[i];
        uint64_t total = 0;
        for (size_t e = 0; e < c->n_endpoints; e++)
            total += atomic_load_explicit(&c->endpoints[e].state->ejections, memory_order_relaxed);
        strbuf_puts(sb, "envoy_cluster_outlier_detection_ejections_total{");
        metrics_label(sb, "cluster_name", c->name, true);
        strbuf_printf(sb, "} %" PRIu64 "\n", total);
    }
    prom_family(sb, "meshlet_endpoint_healthy", "gauge",
                "1 for an endpoint in rotation, 0 for one ejected by outlier detection.");
    for (size_t i = 0; i < s->n_clusters; i++) {
        const struct model_cluster *c = s->clusters[i];
        for (size_t e = 0; e < c->n_endpoints; e++) {
            strbuf_puts(sb, "meshlet_endpoint_healthy{");
            metrics_label(sb, "cluster_name", c->name, true);
            strbuf_printf(sb, ",endpoint=\"%s:%u\"} %d\n", c->endpoints[e].address,
                          c->endpoints[e].port, !outlier_ejected(c, e));
        }
    }
}

/* The resolver of DNS endpoints: Envoy's c-ares totals, then per name (bounded by the
 * config: one series per name a ServiceEntry lists) its queries, failures, answers that
 * changed its addresses, and how many addresses it has now. */
static void
dns_families(struct strbuf *sb, const struct admin *a)
{
    if (!a->dns) return;
    size_t n;
    struct dns_name_view *v = dns_names_all(a->dns, &n);
    uint64_t queries, failures;
    dns_totals(a->dns, &queries, &failures);
    prom_family(sb, "envoy_dns_cares_resolve_total", "counter", "DNS queries made.");
    strbuf_printf(sb, "envoy_dns_cares_resolve_total %" PRIu64 "\n", queries);
    prom_family(sb, "envoy_dns_cares_get_addr_failure", "counter",
                "DNS queries that failed (timeout, error, no address).");
    strbuf_printf(sb, "envoy_dns_cares_get_addr_failure %" PRIu64 "\n", failures);
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } fam[] = {
        {"meshlet_dns_queries_total", "counter", "DNS queries for the name.",
         offsetof(struct dns_name_view, queries)},
        {"meshlet_dns_failures_total", "counter",
         "Failed DNS queries for the name (its last good addresses stay).",
         offsetof(struct dns_name_view, failures)},
        {"meshlet_dns_changes_total", "counter", "Answers that changed the name's addresses.",
         offsetof(struct dns_name_view, changes)},
    };
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        prom_family(sb, fam[f].name, fam[f].type, fam[f].help);
        for (size_t i = 0; i < n; i++) {
            uint64_t value;
            memcpy(&value, (const char *)&v[i] + fam[f].off, sizeof(value));
            strbuf_printf(sb, "%s{", fam[f].name);
            metrics_label(sb, "name", v[i].name, true);
            strbuf_printf(sb, "} %" PRIu64 "\n", value);
        }
    }
    prom_family(sb, "meshlet_dns_addresses", "gauge", "Addresses the name has now.");
    for (size_t i = 0; i < n; i++) {
        strbuf_puts(sb, "meshlet_dns_addresses{");
        metrics_label(sb, "name", v[i].name, true);
        strbuf_printf(sb, "} %zu\n", (size_t)v[i].n_addrs);
    }
    free(v);
}

void
prom_write(const struct admin *a, struct strbuf *sb)
{
    struct metrics_shard *shards[256];
    size_t len, n = admin_shards(a, shards, 256);
    struct metrics_series_view *series = metrics_series(shards, n, &len);
    istio_families(sb, series, len);
    free(series);
    struct metrics_tcp_view *tcp = metrics_tcp_series(shards, n, &len);
    tcp_families(sb, tcp, len);
    free(tcp);
    struct metrics_cluster_view *clusters = metrics_clusters(shards, n, &len);
    cluster_families(sb, clusters, len);
    free(clusters);
    health_families(sb, a->snap);
    dns_families(sb, a);
    prom_family(sb, "envoy_server_live", "gauge", "1 while serving, 0 while draining.");
    strbuf_printf(sb, "envoy_server_live %d\n", !strcmp(admin_state(a), "LIVE"));
    prom_family(sb, "envoy_server_uptime", "gauge", "Seconds since the start.");
    strbuf_printf(sb, "envoy_server_uptime %" PRIu64 "\n", (now_ms() - a->started_ms) / 1000);
    int cert_days = certs_days_until_first_expiring(a);
    if (cert_days >= 0) {
        prom_family(sb, "envoy_server_days_until_first_cert_expiring", "gauge",
                    "Days until the first certificate in use expires.");
        strbuf_printf(sb, "envoy_server_days_until_first_cert_expiring %d\n", cert_days);
    }
    /* Istio's mesh dashboard lists proxies by it ("Istio Component Versions") */
    prom_family(sb, "istio_build", "gauge", "This proxy's build, as Istio's proxies report it.");
    strbuf_printf(sb, "istio_build{component=\"proxy\",tag=\"meshlet-%s\"} 1\n",
                  a->opts && a->opts->version ? a->opts->version : "unknown");
    prom_family(sb, "meshlet_config_version", "gauge", "Version of the config in force.");
    strbuf_printf(sb, "meshlet_config_version %" PRIu64 "\n", a->snap->version);
    prom_family(sb, "meshlet_access_log_dropped_total", "counter",
                "Access log lines dropped because the writer fell behind.");
    strbuf_printf(sb, "meshlet_access_log_dropped_total %" PRIu64 "\n",
                  a->n_workers ? access_log_dropped(a->workers[0].opt->access_log) : 0);
    prom_family(sb, "meshlet_config_reloads_total", "counter", "Config reloads, by result.");
    strbuf_printf(sb, "meshlet_config_reloads_total{result=\"success\"} %" PRIu64 "\n",
                  a->reloads_ok);
    strbuf_printf(sb, "meshlet_config_reloads_total{result=\"failure\"} %" PRIu64 "\n",
                  a->reloads_failed);
}
