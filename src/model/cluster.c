/* SPDX-License-Identifier: Apache-2.0 */
/* A pool's effective traffic policy. First Istio's MergeSubsetTrafficPolicy /
 * MergeTrafficPolicy, step by step: granularity is the whole section (a subset's
 * connectionPool {http: ...} replaces the parent's connectionPool, tcp included; a
 * port-level entry drops tunnel, proxyProtocol and retryBudget). Then the sections in force
 * are compiled into the pool's model-owned values with Istio's defaults, so that nothing
 * after the build reads a DestinationRule. The endpoints' TLS is left to model.c, which
 * knows the ServiceEntry and PeerAuthentication. */
#include "model/cluster_int.h"

#include <string.h>

#include "config/resource.h"
#include "core/arena.h"
#include "model/model.h"

static const struct port_traffic_policy *
port_entry(const struct traffic_policy *tp, uint32_t port)
{
    for (size_t i = 0; tp && i < tp->port_level_settings_len; i++) {
        const struct port_traffic_policy *p = &tp->port_level_settings[i];
        if (!p->obj.is_null && p->port && p->port->number.set && p->port->number.v == port)
            return p;
    }
    return NULL;
}

static void
from_port_entry(const struct port_traffic_policy *p, struct cluster_sections *out)
{
    memset(out, 0, sizeof(*out));
    out->lb = p->load_balancer;
    out->pool = p->connection_pool;
    out->od = p->outlier_detection;
    out->tls = p->tls;
}

static void
from_policy(const struct traffic_policy *tp, struct cluster_sections *out)
{
    memset(out, 0, sizeof(*out));
    if (!tp) return;
    out->lb = tp->load_balancer;
    out->pool = tp->connection_pool;
    out->od = tp->outlier_detection;
    out->tls = tp->tls;
    out->tunnel = tp->tunnel;
    out->proxy_protocol = tp->proxy_protocol;
    out->retry_budget = tp->retry_budget;
}

void
cluster_effective_policy(const struct traffic_policy *top, const struct traffic_policy *subset_tp,
                         uint32_t port, struct cluster_sections *out)
{
    struct cluster_sections base;
    const struct port_traffic_policy *pe = port_entry(top, port);
    if (pe)
        from_port_entry(pe, &base);
    else
        from_policy(top, &base);
    if (!subset_tp) {
        *out = base;
        return;
    }
    struct cluster_sections sp;
    const struct port_traffic_policy *spe = port_entry(subset_tp, port);
    bool port_level = spe != NULL;
    if (spe)
        from_port_entry(spe, &sp);
    else
        from_policy(subset_tp, &sp);
    if (!top) {
        *out = sp;
        return;
    }
    *out = base;
    if (sp.pool || port_level) out->pool = sp.pool;
    if (sp.od || port_level) out->od = sp.od;
    if (sp.lb || port_level) out->lb = sp.lb;
    if (sp.tls || port_level) out->tls = sp.tls;
    if (sp.tunnel) out->tunnel = sp.tunnel;
    if (sp.proxy_protocol) out->proxy_protocol = sp.proxy_protocol;
    if (sp.retry_budget) out->retry_budget = sp.retry_budget;
}

static const char *
dup_or_null(struct arena *a, const char *s)
{
    return s ? arena_strdup(a, s) : NULL;
}

static uint64_t
dur_ms(const struct opt_dur *d)
{
    return (uint64_t)(d->ns / 1000000);
}

/* The request's hash key, in the order Envoy's hash policy list would try them (the
 * validator allows only one): header, cookie, source IP, query parameter. */
static void
compile_hash(const struct consistent_hash *ch, struct arena *a, struct model_hash *h)
{
    if (ch->http_header_name) {
        h->on = MODEL_HASH_HEADER;
        h->name = arena_strdup(a, ch->http_header_name);
    } else if (ch->http_cookie && ch->http_cookie->name) {
        const struct http_cookie *hc = ch->http_cookie;
        h->on = MODEL_HASH_COOKIE;
        h->name = arena_strdup(a, hc->name);
        h->cookie_ttl_set = hc->ttl.set;
        h->cookie_ttl_s = hc->ttl.set && hc->ttl.ns > 0 ? (uint64_t)(hc->ttl.ns / 1000000000) : 0;
        h->cookie_path = dup_or_null(a, hc->path);
        struct model_cookie_attr *at = arena_alloc(a, (hc->attributes_len + 1) * sizeof(*at));
        for (size_t i = 0; i < hc->attributes_len; i++) {
            at[i].name = dup_or_null(a, hc->attributes[i].name);
            at[i].value = dup_or_null(a, hc->attributes[i].value);
        }
        h->cookie_attrs = at;
        h->n_cookie_attrs = hc->attributes_len;
    } else if (ch->use_source_ip.set && ch->use_source_ip.v) {
        h->on = MODEL_HASH_SOURCE_IP;
    } else if (ch->http_query_parameter_name) {
        h->on = MODEL_HASH_QUERY;
        h->name = arena_strdup(a, ch->http_query_parameter_name);
    }
    if (ch->maglev) {
        h->maglev = true;
        h->table_size = (uint64_t)ch->maglev->table_size.v;
    } else if (ch->ring_hash) {
        h->table_size = (uint64_t)ch->ring_hash->minimum_ring_size.v;
    } else {
        h->table_size = (uint64_t)ch->minimum_ring_size.v;
    }
}

static void
compile_lb(const struct load_balancer *lb, struct arena *a, struct model_lb *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = MODEL_LB_LEAST_REQUEST;
    if (!lb) return;
    if (lb->consistent_hash) {
        out->kind = MODEL_LB_CONSISTENT_HASH;
        compile_hash(lb->consistent_hash, a, &out->hash);
        return;
    }
    if (!lb->simple.set) return;
    switch (lb->simple.v) {
    case LB_ROUND_ROBIN: out->kind = MODEL_LB_ROUND_ROBIN; break;
    case LB_RANDOM: out->kind = MODEL_LB_RANDOM; break;
    case LB_PASSTHROUGH: out->kind = MODEL_LB_PASSTHROUGH; break;
    default: break; /* UNSPECIFIED, LEAST_CONN (deprecated), LEAST_REQUEST */
    }
}

/* Slow start: `warmup` (duration, minimumPercent, aggression) or the older
 * `warmupDurationSecs`; Envoy applies it to round robin and least request only. */
static void
compile_warmup(struct model_cluster *c, const struct load_balancer *lb)
{
    c->warmup_ms = 0;
    c->warmup_min = 0.1;
    c->warmup_aggression = 1.0;
    if (!lb || lb->consistent_hash) return;
    if (lb->simple.set && lb->simple.v != LB_ROUND_ROBIN && lb->simple.v != LB_LEAST_REQUEST &&
        lb->simple.v != LB_LEAST_CONN && lb->simple.v != LB_UNSPECIFIED)
        return;
    if (lb->warmup && lb->warmup->duration.set) {
        c->warmup_ms = dur_ms(&lb->warmup->duration);
        if (lb->warmup->minimum_percent.set) c->warmup_min = lb->warmup->minimum_percent.v / 100;
        if (lb->warmup->aggression.set && lb->warmup->aggression.v > 0)
            c->warmup_aggression = lb->warmup->aggression.v;
    } else if (lb->warmup_duration_secs.set) {
        c->warmup_ms = dur_ms(&lb->warmup_duration_secs);
    }
}

/* Outlier detection as Istio writes it for Envoy (§4.7): defaults for unset fields, a 5xx
 * detector unless set to 0, the gateway detector only when set, local-origin failures
 * counted apart only in split mode. */
static void
compile_outlier(const struct outlier_detection *od, struct model_outlier *o)
{
    memset(o, 0, sizeof(*o));
    if (!od) return;
    o->enabled = true;
    o->split = od->split_external_local_origin_errors.v;
    o->consecutive_5xx =
        od->consecutive_5xx_errors.set ? (uint32_t)od->consecutive_5xx_errors.v : 5;
    o->consecutive_gw = (uint32_t)od->consecutive_gateway_errors.v;
    if (o->split)
        o->consecutive_local = od->consecutive_local_origin_failures.set
                                   ? (uint32_t)od->consecutive_local_origin_failures.v
                                   : 5;
    o->interval_ms = od->interval.set ? dur_ms(&od->interval) : 10000;
    o->base_ms = od->base_ejection_time.set ? dur_ms(&od->base_ejection_time) : 30000;
    if (!o->interval_ms) o->interval_ms = 1;
    o->max_ms = o->base_ms > 300000 ? o->base_ms : 300000;
    o->max_percent = od->max_ejection_percent.v > 0 ? (uint32_t)od->max_ejection_percent.v : 10;
    o->min_health_percent = od->min_health_percent.v > 0 ? (uint32_t)od->min_health_percent.v : 0;
}

static uint32_t
limit_or_max(const struct opt_int *v)
{
    return v->set && v->v > 0 && v->v < UINT32_MAX ? (uint32_t)v->v : UINT32_MAX;
}

/* Circuit breakers and timeouts of the connection pool (§4.6), Istio's baseline when unset. */
static void
compile_limits(const struct connection_pool *p, struct model_limits *l)
{
    static const struct opt_int unset;
    const struct tcp_settings *tcp = p ? p->tcp : NULL;
    const struct http_settings *http = p ? p->http : NULL;
    memset(l, 0, sizeof(*l));
    l->max_connections = limit_or_max(tcp ? &tcp->max_connections : &unset);
    l->max_pending = limit_or_max(http ? &http->http1_max_pending_requests : &unset);
    l->max_requests = limit_or_max(http ? &http->http2_max_requests : &unset);
    l->max_retries = limit_or_max(http ? &http->max_retries : &unset);
    l->any = l->max_connections != UINT32_MAX || l->max_pending != UINT32_MAX ||
             l->max_requests != UINT32_MAX || l->max_retries != UINT32_MAX;
    l->connect_timeout_ms = tcp && tcp->connect_timeout.set ? dur_ms(&tcp->connect_timeout) : 10000;
    const struct tcp_keepalive *ka = tcp ? tcp->tcp_keepalive : NULL;
    l->keepalive = ka != NULL;
    l->keepalive_time_s = ka && ka->time.set ? (uint32_t)(ka->time.ns / 1000000000) : 0;
    l->keepalive_interval_s = ka && ka->interval.set ? (uint32_t)(ka->interval.ns / 1000000000) : 0;
    l->keepalive_probes = ka && ka->probes.set ? (uint32_t)ka->probes.v : 0;
    l->idle_timeout_ms = http && http->idle_timeout.set ? dur_ms(&http->idle_timeout)
                         : tcp && tcp->idle_timeout.set ? dur_ms(&tcp->idle_timeout)
                                                        : 3600000;
    l->tcp_idle_timeout_ms = tcp && tcp->idle_timeout.set ? dur_ms(&tcp->idle_timeout) : 3600000;
    l->max_connection_duration_ms =
        tcp && tcp->max_connection_duration.set ? dur_ms(&tcp->max_connection_duration) : 0;
}

static enum model_tls_mode
tls_mode(const struct client_tls *tls)
{
    if (!tls) return MODEL_TLS_AUTO;
    if (!tls->mode.set) return MODEL_TLS_UNSET;
    switch (tls->mode.v) {
    case TLS_SIMPLE: return MODEL_TLS_SIMPLE;
    case TLS_MUTUAL: return MODEL_TLS_MUTUAL;
    case TLS_ISTIO_MUTUAL: return MODEL_TLS_ISTIO_MUTUAL;
    default: return MODEL_TLS_DISABLE;
    }
}

/* The sections meshlet does not enforce, kept with Istio's defaults for readers. */
static void
compile_unenforced(const struct cluster_sections *s, struct arena *a, struct model_policy *p)
{
    if (s->tunnel) {
        p->tunnel.set = true;
        p->tunnel.protocol = arena_strdup(
            a, s->tunnel->protocol && *s->tunnel->protocol ? s->tunnel->protocol : "CONNECT");
        p->tunnel.target_host = dup_or_null(a, s->tunnel->target_host);
        p->tunnel.target_port = (uint32_t)s->tunnel->target_port.v;
    }
    if (s->proxy_protocol) {
        p->proxy_protocol.set = true;
        p->proxy_protocol.version =
            s->proxy_protocol->version.set && s->proxy_protocol->version.v == PROXY_V2 ? 2 : 1;
    }
    if (s->retry_budget) {
        const struct retry_budget *rb = s->retry_budget;
        p->retry_budget.set = true;
        p->retry_budget.percent = rb->percent.set ? rb->percent.v : 20;
        p->retry_budget.min_retry_concurrency =
            rb->min_retry_concurrency.set ? (uint32_t)rb->min_retry_concurrency.v : 3;
        p->retry_budget.interval_ms = rb->budget_interval.set ? dur_ms(&rb->budget_interval) : 0;
    }
}

void
cluster_compile_policy(struct model_cluster *c, const struct cluster_sections *s, struct arena *a)
{
    memset(&c->policy, 0, sizeof(c->policy));
    compile_lb(s->lb, a, &c->policy.lb);
    c->policy.tls_mode = tls_mode(s->tls);
    compile_unenforced(s, a, &c->policy);
    compile_warmup(c, s->lb);
    compile_outlier(s->od, &c->outlier);
    compile_limits(s->pool, &c->limits);
    const struct http_settings *http = s->pool ? s->pool->http : NULL;
    c->max_requests_per_conn = http && http->max_requests_per_connection.v > 0
                                   ? (uint32_t)http->max_requests_per_connection.v
                                   : 0;
    c->max_concurrent_streams =
        http && http->max_concurrent_streams.v > 0 ? (uint32_t)http->max_concurrent_streams.v : 0;
}

/* One proxy role's choice, step by step as istiod builds the cluster
 * (pilot/pkg/networking/core, istio/istio at 86c9f01):
 *  1. buildCluster -> setUpstreamProtocol: an HTTP2/GRPC/GRPC-Web port gets HTTP/2
 *     (setH2Options); else a sidecar (not a Gateway) gives a port that declares no protocol
 *     use_downstream_protocol, since it sniffs.
 *  2. applyTrafficPolicy -> applyH2Upgrade -> shouldH2Upgrade: useClientProtocol -> no;
 *     h2UpgradePolicy UPGRADE -> yes (any port: "the user is sure it is HTTP"); DO_NOT_UPGRADE
 *     -> no; a port that is not HTTP (TCP, TLS, undeclared) -> no; else meshConfig's
 *     h2UpgradePolicy. setH2Options changes nothing already set in step 1, so UPGRADE leaves
 *     a sniffed sidecar port at the client's protocol and DO_NOT_UPGRADE never downgrades a
 *     GRPC port.
 *  3. applyConnectionPool: useClientProtocol: true -> use_downstream_protocol, replacing
 *     whatever came before (a GRPC port too).
 * The connection pool is the one in force after Istio's subset and port-level merge. */
static struct model_upstream_choice
choose_upstream(const struct connection_pool *pool, enum port_protocol port, const char *port_desc,
                bool sidecar, bool mesh_upgrade, struct arena *a)
{
    struct model_upstream_choice ch = {MODEL_UP_HTTP1, NULL};
    bool set = false;
    if (port_protocol_is_http2(port)) {
        ch = (struct model_upstream_choice){MODEL_UP_HTTP2, port_desc};
        set = true;
    } else if (sidecar && port == PORT_PROTOCOL_UNSUPPORTED) {
        ch.proto = MODEL_UP_CLIENT;
        ch.why =
            arena_printf(a, "%s: a sidecar sniffs it and keeps the client's protocol", port_desc);
        set = true;
    }
    const struct http_settings *http = pool ? pool->http : NULL;
    bool client = http && http->use_client_protocol.set && http->use_client_protocol.v;
    enum h2_upgrade_policy policy =
        http && http->h2_upgrade_policy.set ? http->h2_upgrade_policy.v : H2_DEFAULT;
    if (client) {
        ch.proto = MODEL_UP_CLIENT;
        ch.why = "connectionPool.http.useClientProtocol: true";
        return ch;
    }
    if (policy == H2_UPGRADE) {
        if (!set) ch = (struct model_upstream_choice){MODEL_UP_HTTP2, "h2UpgradePolicy: UPGRADE"};
    } else if (policy == H2_DO_NOT_UPGRADE) {
        if (!set) ch.why = arena_printf(a, "%s; h2UpgradePolicy: DO_NOT_UPGRADE", port_desc);
    } else if (!set && mesh_upgrade && port_protocol_is_http(port)) {
        ch = (struct model_upstream_choice){
            MODEL_UP_HTTP2, arena_printf(a, "%s; meshConfig h2UpgradePolicy: UPGRADE", port_desc)};
    }
    if (!ch.why)
        ch.why = port == PORT_PROTOCOL_UNSUPPORTED
                     ? arena_printf(a, "%s: a Gateway does not sniff", port_desc)
                     : port_desc;
    return ch;
}

void
cluster_compile_upstream(struct model_cluster *c, const struct connection_pool *pool,
                         unsigned port_protocol, const char *port_source, bool mesh_upgrade,
                         struct arena *a)
{
    enum port_protocol port = (enum port_protocol)port_protocol;
    const char *desc =
        port == PORT_PROTOCOL_UNSUPPORTED
            ? arena_printf(a, "port %u declares no protocol (%s)", c->port, port_source)
            : arena_printf(a, "port %u is %s (%s)", c->port, port_protocol_name(port), port_source);
    c->upstream_sidecar = choose_upstream(pool, port, desc, true, mesh_upgrade, a);
    c->upstream_gateway = choose_upstream(pool, port, desc, false, mesh_upgrade, a);
}

static uint64_t
digest_str(uint64_t h, const char *s)
{
    for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (h ^ 0xff) * 1099511628211ull; /* a separator: "ab","c" is not "a","bc" */
}

void
cluster_digest_endpoints(struct model_cluster *c)
{
    for (size_t i = 0; i < c->n_endpoints; i++) {
        struct model_endpoint *e = &c->endpoints[i];
        uint64_t h = digest_str(1469598103934665603ull, c->host);
        for (size_t k = 0; k < e->n_labels; k++)
            h = digest_str(digest_str(h, e->label_keys[k]), e->label_vals[k]);
        e->label_digest = h ^ e->mtls;
    }
}
