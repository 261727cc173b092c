/* SPDX-License-Identifier: Apache-2.0 */
/* The live snapshot as JSON, from the compiled model (what the data plane uses), not from
 * the YAML. */
#include "admin/config_dump.h"

#include <inttypes.h>

#include "admin/listeners.h"
#include "model/route.h"

static void
str_field(struct strbuf *sb, const char *name, const char *v, bool comma)
{
    strbuf_printf(sb, "%s\"%s\":", comma ? "," : "", name);
    if (v && *v)
        strbuf_json_str(sb, v);
    else
        strbuf_puts(sb, "null");
}

static void
route(struct strbuf *sb, const struct model_route *r)
{
    static const char *const actions[] = {"route", "redirect", "direct_response"};
    strbuf_puts(sb, "{");
    str_field(sb, "name", r->name, false);
    str_field(sb, "virtual_service", r->vs, true);
    strbuf_printf(sb, ",\"rule_index\":%zu,\"matches\":%zu,\"action\":\"%s\"", r->rule_index,
                  r->n_matches, actions[r->action % 3]);
    if (r->l4) strbuf_printf(sb, ",\"l4\":\"%s\"", r->l4 == MODEL_L4_TLS ? "tls" : "tcp");
    if (r->action == MODEL_ROUTE) {
        strbuf_puts(sb, ",\"destinations\":[");
        for (size_t d = 0; d < r->n_dests; d++) {
            const struct model_destination *dst = &r->dests[d];
            strbuf_puts(sb, d ? ",{" : "{");
            str_field(sb, "cluster", dst->cluster ? dst->cluster->name : NULL, false);
            str_field(sb, "host", dst->host, true);
            str_field(sb, "subset", dst->subset, true);
            strbuf_printf(sb, ",\"weight\":%u}", dst->weight);
        }
        strbuf_printf(sb,
                      "],\"timeout_ms\":%" PRIu64 ",\"retries\":{\"attempts\":%u,"
                      "\"per_try_timeout_ms\":%" PRIu64 "},\"mirrors\":%zu",
                      r->timeout_ms, r->retry_attempts, r->retry_per_try_ms, r->n_mirrors);
        const char *sticky = route_sticky_source(r);
        if (sticky) {
            strbuf_printf(sb, ",\"sticky\":{\"source\":\"%s\"", sticky);
            str_field(sb, "name", r->sticky_name, true);
            strbuf_puts(sb, "}");
        } else {
            strbuf_puts(sb, ",\"sticky\":null");
        }
    } else if (r->action == MODEL_REDIRECT) {
        strbuf_printf(sb, ",\"redirect_code\":%d", r->redirect_code);
    } else {
        strbuf_printf(sb, ",\"status\":%d", r->direct_status);
    }
    strbuf_puts(sb, "}");
}

static void
listener(struct strbuf *sb, const struct model_listener *l)
{
    strbuf_puts(sb, "{");
    str_field(sb, "name", l->name, false);
    strbuf_printf(sb,
                  ",\"port\":%u,\"kind\":\"%s\",\"protocol\":\"%s\",\"tls_servers\":%zu,"
                  "\"virtual_hosts\":[",
                  l->port,
                  l->mesh      ? "mesh"
                  : l->inbound ? "inbound"
                               : "gateway",
                  listeners_kind_name(l), l->n_tls);
    for (const struct model_vhost *vh = l->vhosts; vh; vh = vh->next) {
        strbuf_puts(sb, vh == l->vhosts ? "{" : ",{");
        str_field(sb, "host", vh->host, false);
        strbuf_puts(sb, ",\"routes\":[");
        for (size_t i = 0; i < vh->n_routes; i++) {
            if (i) strbuf_puts(sb, ",");
            route(sb, &vh->routes[i]);
        }
        strbuf_puts(sb, "]}");
    }
    strbuf_puts(sb, "]}");
}

void
config_dump_labels(struct strbuf *sb, const struct model_endpoint *ep)
{
    strbuf_puts(sb, "{");
    for (size_t k = 0; k < ep->n_labels; k++) {
        if (k) strbuf_puts(sb, ",");
        strbuf_json_str(sb, ep->label_keys[k]);
        strbuf_puts(sb, ":");
        strbuf_json_str(sb, ep->label_vals[k]);
    }
    strbuf_puts(sb, "}");
}

static void
cluster(struct strbuf *sb, const struct model_cluster *c)
{
    strbuf_puts(sb, "{");
    str_field(sb, "name", c->name, false);
    str_field(sb, "host", c->host, true);
    str_field(sb, "subset", c->subset, true);
    const struct model_outlier *o = &c->outlier;
    const struct model_limits *l = &c->limits;
    strbuf_printf(sb,
                  ",\"port\":%u,\"consistent_hash\":%s,\"tls\":\"%s\","
                  "\"outlier_detection\":%s",
                  c->port, c->lb_table ? "true" : "false",
                  c->tls_user ? "simple_or_mutual" : "auto", o->enabled ? "{" : "null");
    if (o->enabled)
        strbuf_printf(sb,
                      "\"consecutive_5xx\":%u,\"consecutive_gateway_errors\":%u,"
                      "\"interval_ms\":%" PRIu64 ",\"base_ejection_ms\":%" PRIu64
                      ",\"max_ejection_percent\":%u,\"min_health_percent\":%u}",
                      o->consecutive_5xx, o->consecutive_gw, o->interval_ms, o->base_ms,
                      o->max_percent, o->min_health_percent);
    strbuf_printf(sb,
                  ",\"limits\":{\"max_connections\":%u,\"max_pending\":%u,\"max_requests\":%u,"
                  "\"max_retries\":%u,\"connect_timeout_ms\":%" PRIu64
                  ",\"idle_timeout_ms\":%" PRIu64 "},\"endpoints\":[",
                  l->max_connections, l->max_pending, l->max_requests, l->max_retries,
                  l->connect_timeout_ms, l->idle_timeout_ms);
    for (size_t e = 0; e < c->n_endpoints; e++) {
        const struct model_endpoint *ep = &c->endpoints[e];
        strbuf_puts(sb, e ? ",{" : "{");
        str_field(sb, "address", ep->address, false);
        strbuf_printf(sb, ",\"port\":%u,\"weight\":%u,\"mtls\":%s,\"labels\":", ep->port,
                      ep->weight, ep->mtls ? "true" : "false");
        config_dump_labels(sb, ep);
        strbuf_puts(sb, "}");
    }
    strbuf_puts(sb, "]}");
}

void
config_dump_write(const struct snapshot *s, struct strbuf *sb)
{
    strbuf_printf(sb, "{\"version\":%" PRIu64 ",\"digest\":\"%016" PRIx64 "\",", s->version,
                  s->digest);
    if (s->revision) strbuf_printf(sb, "\"etcd_revision\":%" PRId64 ",", s->revision);
    strbuf_puts(sb, "\"files\":[");
    for (size_t i = 0; i < s->n_files; i++) {
        if (i) strbuf_puts(sb, ",");
        strbuf_json_str(sb, s->files[i]);
    }
    strbuf_puts(sb, "],\"listeners\":[");
    for (size_t i = 0; i < s->n_listeners; i++) {
        if (i) strbuf_puts(sb, ",");
        listener(sb, &s->listeners[i]);
    }
    strbuf_puts(sb, "],\"clusters\":[");
    for (size_t i = 0; i < s->n_clusters; i++) {
        if (i) strbuf_puts(sb, ",");
        cluster(sb, s->clusters[i]);
    }
    strbuf_puts(sb, "]}\n");
}
