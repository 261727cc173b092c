/* SPDX-License-Identifier: Apache-2.0 */
/* /clusters, text and JSON. Counters are the workers' shards summed now. */
#include "admin/clusters.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/config_dump.h"
#include "control/dns.h"
#include "core/hmap.h"
#include "http/metrics.h"
#include "lb/outlier.h"
#include "model/endpoint.h"

/* Answers per endpoint state id, summed over the workers. */
struct answers {
    metrics_answers *xx;
    size_t n;
};

/* What the resolver says of the pool's DNS names: addresses, age, next refresh, counts,
 * and why a name has none ("no answer yet" and its last error). */
static void
dns_text(struct strbuf *sb, const struct model_cluster *c, const struct dns_name_view *views,
         size_t n_views)
{
    for (size_t i = 0; i < c->n_dns_names; i++) {
        const struct dns_name_view *v = NULL;
        for (size_t k = 0; k < n_views && !v; k++)
            if (!strcmp(views[k].name, c->dns_names[i])) v = &views[k];
        char pre[600];
        snprintf(pre, sizeof(pre), "%s::dns::%s", c->name, c->dns_names[i]);
        if (!v) {
            strbuf_printf(sb, "%s::state::not asked yet\n", pre);
            continue;
        }
        strbuf_printf(sb, "%s::state::%s\n", pre,
                      v->n_addrs ? "resolved" : "no answer yet: the pool has no endpoint from it");
        strbuf_printf(sb, "%s::addresses::", pre);
        for (size_t k = 0; k < v->n_addrs; k++) {
            char ip[INET6_ADDRSTRLEN] = "";
            const struct sockaddr_storage *ss = &v->addrs[k];
            const void *raw = ss->ss_family == AF_INET
                                  ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                                  : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
            inet_ntop(ss->ss_family, raw, ip, sizeof(ip));
            strbuf_printf(sb, "%s%s", k ? "," : "", ip);
        }
        strbuf_puts(sb, "\n");
        if (v->age_ms != UINT64_MAX) strbuf_printf(sb, "%s::age_ms::%" PRIu64 "\n", pre, v->age_ms);
        strbuf_printf(sb, "%s::next_refresh_ms::%" PRIu64 "\n", pre, v->next_refresh_ms);
        strbuf_printf(
            sb, "%s::queries::%" PRIu64 "\n%s::failures::%" PRIu64 "\n%s::changes::%" PRIu64 "\n",
            pre, v->queries, pre, v->failures, pre, v->changes);
        if (v->last_error[0]) strbuf_printf(sb, "%s::last_error::%s\n", pre, v->last_error);
    }
}

static void
cluster_text(struct strbuf *sb, const struct model_cluster *c, const struct metrics_cluster_view *v,
             const struct answers *ans)
{
    for (size_t e = 0; e < UP_CX_OPEN; e++)
        strbuf_printf(sb, "%s::%s::%" PRIu64 "\n", c->name, upstream_event_name[e], v->ev[e]);
    /* The sidecar's choice (mesh and inbound listeners); a Gateway's only where it differs. */
    strbuf_printf(sb, "%s::upstream_protocol::%s\n", c->name,
                  model_upstream_proto_name(c->upstream_sidecar.proto));
    if (c->upstream_gateway.proto != c->upstream_sidecar.proto)
        strbuf_printf(sb, "%s::upstream_protocol_gateway::%s\n", c->name,
                      model_upstream_proto_name(c->upstream_gateway.proto));
    strbuf_printf(sb, "%s::outlier::ejections_active::%u\n", c->name,
                  atomic_load_explicit(&c->state->n_ejected, memory_order_relaxed));
    for (size_t e = 0; e < c->n_endpoints; e++) {
        const struct model_endpoint *ep = &c->endpoints[e];
        char pre[600];
        snprintf(pre, sizeof(pre), "%s::%s:%u", c->name, ep->address, ep->port);
        /* Envoy's flag for an endpoint outlier detection has ejected */
        strbuf_printf(sb, "%s::health_flags::%s\n", pre,
                      outlier_ejected(c, e) ? "/failed_outlier_check" : "healthy");
        strbuf_printf(sb, "%s::weight::%u\n", pre, ep->weight);
        if (ep->dns_name) strbuf_printf(sb, "%s::dns_name::%s\n", pre, ep->dns_name);
        strbuf_printf(sb, "%s::ejections::%" PRIu64 "\n", pre,
                      atomic_load_explicit(&ep->state->ejections, memory_order_relaxed));
        const uint64_t *xx = ep->state->id < ans->n ? ans->xx[ep->state->id] : NULL;
        strbuf_printf(sb, "%s::rq_total::%" PRIu64 "\n", pre, xx ? xx[0] : 0);
        strbuf_printf(sb, "%s::rq_success::%" PRIu64 "\n", pre, xx ? xx[2] : 0);
        strbuf_printf(sb, "%s::rq_error::%" PRIu64 "\n", pre, xx ? xx[5] : 0);
        /* mTLS: the mode, and the identity the last handshake verified */
        char peer[256];
        endpoint_peer_get(ep->state, peer, sizeof(peer));
        strbuf_printf(sb, "%s::tls::%s\n", pre,
                      c->tls_user ? "simple"
                      : ep->mtls  ? "istio_mutual"
                                  : "none");
        if (ep->mtls && peer[0]) strbuf_printf(sb, "%s::peer_identity::%s\n", pre, peer);
        for (size_t l = 0; l < ep->n_labels; l++)
            strbuf_printf(sb, "%s::label::%s=%s\n", pre, ep->label_keys[l], ep->label_vals[l]);
    }
    if (!c->n_endpoints) strbuf_printf(sb, "%s::no endpoints\n", c->name);
}

static void
cluster_json(struct strbuf *sb, const struct model_cluster *c, const struct metrics_cluster_view *v,
             const struct answers *ans)
{
    strbuf_puts(sb, "{\"name\":");
    strbuf_json_str(sb, c->name);
    strbuf_puts(sb, ",\"host\":");
    strbuf_json_str(sb, c->host);
    strbuf_puts(sb, ",\"subset\":");
    strbuf_json_str(sb, c->subset);
    strbuf_printf(sb, ",\"port\":%u,\"upstream_protocol\":\"%s\"", c->port,
                  model_upstream_proto_name(c->upstream_sidecar.proto));
    if (c->upstream_gateway.proto != c->upstream_sidecar.proto)
        strbuf_printf(sb, ",\"upstream_protocol_gateway\":\"%s\"",
                      model_upstream_proto_name(c->upstream_gateway.proto));
    strbuf_puts(sb, ",\"stats\":{");
    for (size_t e = 0; e < UP_CX_OPEN; e++)
        strbuf_printf(sb, "\"%s\":%" PRIu64 ",", upstream_event_name[e], v->ev[e]);
    for (int x = 1; x <= 5; x++)
        strbuf_printf(sb, "\"upstream_rq_%dxx\":%" PRIu64 ",", x, v->xx[x]);
    strbuf_printf(sb, "\"upstream_cx_active\":%" PRIu64 ",\"ejections_active\":%u},",
                  metrics_cx_active(v),
                  atomic_load_explicit(&c->state->n_ejected, memory_order_relaxed));
    strbuf_puts(sb, "\"endpoints\":[");
    for (size_t e = 0; e < c->n_endpoints; e++) {
        const struct model_endpoint *ep = &c->endpoints[e];
        const uint64_t *xx = ep->state->id < ans->n ? ans->xx[ep->state->id] : NULL;
        char peer[256];
        endpoint_peer_get(ep->state, peer, sizeof(peer));
        uint64_t ejected_at = atomic_load_explicit(&ep->state->ejected_at_ms, memory_order_relaxed);
        bool ejected = outlier_ejected(c, e);
        strbuf_puts(sb, e ? ",{\"address\":" : "{\"address\":");
        strbuf_json_str(sb, ep->address);
        strbuf_printf(sb,
                      ",\"port\":%u,\"weight\":%u,\"health\":\"%s\",\"ejected\":%s,"
                      "\"ejections\":%" PRIu64 ",\"ejected_at_ms\":%" PRIu64 ",",
                      ep->port, ep->weight, ejected ? "/failed_outlier_check" : "healthy",
                      ejected ? "true" : "false",
                      atomic_load_explicit(&ep->state->ejections, memory_order_relaxed),
                      ejected ? ejected_at : 0);
        strbuf_printf(sb,
                      "\"rq_total\":%" PRIu64 ",\"rq_success\":%" PRIu64 ",\"rq_error\":%" PRIu64
                      ",\"tls\":\"%s\",\"peer_identity\":",
                      xx ? xx[0] : 0, xx ? xx[2] : 0, xx ? xx[5] : 0,
                      c->tls_user ? "simple"
                      : ep->mtls  ? "istio_mutual"
                                  : "none");
        if (peer[0])
            strbuf_json_str(sb, peer);
        else
            strbuf_puts(sb, "null");
        strbuf_puts(sb, ",\"labels\":");
        config_dump_labels(sb, ep);
        strbuf_puts(sb, "}");
    }
    strbuf_puts(sb, "]}");
}

void
clusters_write(const struct admin *a, struct strbuf *sb, bool json)
{
    const struct snapshot *s = a->snap;
    struct metrics_shard *sh[256];
    size_t n = admin_shards(a, sh, 256), n_counts;
    struct answers ans;
    ans.xx = metrics_endpoint_answers(sh, n, &ans.n);
    struct metrics_cluster_view *counts = metrics_clusters(sh, n, &n_counts);
    struct hmap by_name;
    hmap_init(&by_name);
    for (size_t i = 0; i < n_counts; i++) hmap_put(&by_name, counts[i].name, &counts[i]);
    size_t n_dns = 0;
    struct dns_name_view *dns = a->dns && !json ? dns_names_all(a->dns, &n_dns) : NULL;
    if (json) strbuf_printf(sb, "{\"version\":%" PRIu64 ",\"clusters\":[", s->version);
    for (size_t i = 0; i < s->n_clusters; i++) {
        const struct model_cluster *c = s->clusters[i];
        struct metrics_cluster_view none;
        memset(&none, 0, sizeof(none));
        const struct metrics_cluster_view *v = hmap_get(&by_name, c->name);
        if (!v) v = &none;
        if (json) {
            if (i) strbuf_puts(sb, ",");
            cluster_json(sb, c, v, &ans);
        } else {
            cluster_text(sb, c, v, &ans);
            dns_text(sb, c, dns, n_dns);
        }
    }
    if (json) strbuf_puts(sb, "]}\n");
    hmap_fini(&by_name);
    free(dns);
    free(counts);
    free(ans.xx);
}
