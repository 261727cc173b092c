/* SPDX-License-Identifier: Apache-2.0 */
/* The explain report on a snapshot: the listener and virtual host a request reaches, each
 * route skipped with the first condition that failed, the match, the destinations with
 * their shares, the pools' endpoints and effective policy, or why nothing can serve it. It
 * runs the proxy's own matcher (model/route.c) and, in a running proxy, reads the workers'
 * own split counters. Flag parsing and printing belong to cli/cmd_explain.c; the HTTP side
 * of GET /explain to admin.c. */
#include "admin/explain.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sock.h"
#include "lb/lb.h"
#include "lb/outlier.h"
#include "lb/split.h"

const char *
explain_outcome_name(enum explain_outcome o)
{
    switch (o) {
    case EXPLAIN_ROUTED: return "routed";
    case EXPLAIN_LOCAL_REPLY: return "local_reply";
    case EXPLAIN_UNKNOWN_GATEWAY: return "unknown_gateway";
    case EXPLAIN_NO_LISTENER: return "no_listener";
    default: return "ambiguous";
    }
}

bool
explain_header_parse(const char *arg, struct route_header *h)
{
    const char *colon = strchr(arg, ':');
    if (!colon || colon == arg) return false;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    size_t vlen = strlen(v);
    while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;
    h->name = slice_make(arg, (size_t)(colon - arg));
    h->value = slice_make(v, vlen);
    return true;
}

/* The port of authority <a> ("host", "host:port", "[v6]:port"): 0 when absent, -1 when
 * not a number in 1..65535. */
static long
authority_port(struct slice a)
{
    size_t i = 0;
    if (a.len && a.ptr[0] == '[') {
        while (i < a.len && a.ptr[i] != ']') i++;
    }
    while (i < a.len && a.ptr[i] != ':') i++;
    if (i == a.len) return 0;
    long port = 0;
    size_t digits = 0;
    for (i++; i < a.len; i++, digits++) {
        if (a.ptr[i] < '0' || a.ptr[i] > '9' || port > 65535) return -1;
        port = port * 10 + (a.ptr[i] - '0');
    }
    return digits && port >= 1 && port <= 65535 ? port : -1;
}

const char *
explain_request_init(struct explain_request *rq, const char *method, const char *url,
                     const struct route_header *headers, size_t n, uint16_t port, bool mesh,
                     const char *gateway)
{
    memset(rq, 0, sizeof(*rq));
    rq->method = method;
    rq->url = url;
    rq->mesh = mesh;
    rq->gateway = gateway;
    if (!*method || strpbrk(method, " \t\r\n:/"))
        return "METHOD is a word such as GET or POST, then comes the URL";
    const char *p = strstr(url, "://");
    if (!p) return "the URL needs a scheme: http://HOST[:PORT]/PATH";
    struct slice scheme = slice_make(url, (size_t)(p - url));
    if (slice_ieq(scheme, "http"))
        rq->scheme = SLICE_LIT("http");
    else if (slice_ieq(scheme, "https"))
        rq->scheme = SLICE_LIT("https");
    else
        return "the URL's scheme must be http or https";
    p += 3;
    size_t alen = strcspn(p, "/?#");
    if (!alen) return "the URL has no host: http://HOST[:PORT]/PATH";
    rq->authority = slice_make(p, alen);
    long url_port = authority_port(rq->authority);
    if (url_port < 0) return "the URL's port is not a number from 1 to 65535";
    /* curl sends "/" for an empty path and drops the fragment */
    const char *path = p + alen;
    size_t plen = strcspn(path, "#");
    rq->path = path[0] == '/' ? slice_make(path, plen) : SLICE_LIT("/");
    if (path[0] == '?') return "put a path before the query: http://HOST/?QUERY";
    rq->port = port ? port : (uint16_t)url_port;
    if (n > EXPLAIN_MAX_HEADERS) return "too many headers (at most 64)";
    bool host = false;
    for (size_t i = 0; i < n; i++) {
        rq->headers[rq->n_headers++] = headers[i];
        if (!slice_ieq(headers[i].name, "host")) continue;
        /* The proxy routes by the Host header, not by the address the client connected to. */
        if (host) return "several Host headers (the proxy answers 400)";
        if (!headers[i].value.len) return "an empty Host header (the proxy answers 400)";
        host = true;
        rq->authority = headers[i].value;
    }
    if (!host) /* as curl does */
        rq->headers[rq->n_headers++] = (struct route_header){SLICE_LIT("host"), rq->authority};
    return NULL;
}

const char *
explain_request_init_l4(struct explain_request *rq, uint16_t port, const char *sni,
                        const char *source, const char *dest, bool mesh, const char *gateway)
{
    memset(rq, 0, sizeof(*rq));
    rq->l4 = true;
    rq->method = "tcp";
    rq->url = "";
    rq->port = port;
    rq->mesh = mesh;
    rq->gateway = gateway;
    rq->source = source;
    if (!port) return "a connection needs the listener's port: --port N";
    if (sni) {
        size_t n = strlen(sni);
        if (!n || n > 255 || strpbrk(sni, " \t\r\n/:"))
            return "--sni takes a server name such as api.example.com";
        rq->sni = slice_make(sni, n);
    }
    struct sockaddr_storage ss;
    if (source && !sock_parse_ip(source, &ss)) return "--source takes an IP address";
    if (dest) {
        if (!sock_parse_ip(dest, &rq->dst)) return "--dest takes an IP address";
        rq->has_dst = true;
    }
    return NULL;
}

static bool
serves_gateway(const struct model_listener *l, const char *gateway)
{
    for (size_t i = 0; i < l->n_gateways; i++)
        if (!strcmp(l->gateways[i], gateway)) return true;
    return false;
}

/* Every Gateway some listener of <s> serves, for messages. */
static void
list_gateways(const struct snapshot *s, struct strbuf *sb)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_listeners; i++)
        for (size_t k = 0; k < s->listeners[i].n_gateways; k++)
            strbuf_printf(sb, "%s%s (port %u)", n++ ? ", " : "", s->listeners[i].gateways[k],
                          s->listeners[i].port);
    if (!n) strbuf_puts(sb, "none");
}

/* The listener <rq> reaches, or NULL with the reason in <text> and the outcome in <o>. A
 * port decides; without one, the only gateway listener (of rq->gateway, if named). */
static const struct model_listener *
pick_listener(const struct snapshot *s, const struct explain_request *rq, struct strbuf *text,
              enum explain_outcome *o)
{
    const struct model_listener *found = NULL;
    size_t candidates = 0, of_gateway = 0;
    for (size_t i = 0; i < s->n_listeners; i++) {
        const struct model_listener *l = &s->listeners[i];
        if (rq->mesh) {
            if (l->mesh && !l->service_port) return l;
            continue;
        }
        bool mine = !rq->gateway || serves_gateway(l, rq->gateway);
        of_gateway += mine && l->n_gateways;
        if (!mine) continue;
        /* without a port, only HTTP listeners are candidates */
        if (rq->port ? l->port == rq->port
                     : !l->mesh && !l->inbound && l->kind == MODEL_LISTENER_HTTP) {
            found = l;
            candidates++;
        }
    }
    if (rq->mesh) {
        strbuf_puts(text, "no listener: this proxy has no mesh listener\n");
        *o = EXPLAIN_NO_LISTENER;
        return NULL;
    }
    if (rq->gateway && !of_gateway) {
        strbuf_printf(text,
                      "no listener: no listener serves Gateway %s (no such Gateway, or "
                      "none of its servers is HTTP); the Gateways served: ",
                      rq->gateway);
        list_gateways(s, text);
        strbuf_puts(text, "\n");
        *o = EXPLAIN_UNKNOWN_GATEWAY;
        return NULL;
    }
    if (candidates == 1 && found->kind != MODEL_LISTENER_HTTP) {
        strbuf_printf(text,
                      "no listener: %s on port %u relays %s connections, not HTTP requests: "
                      "explain --port %u tcp\n",
                      found->name, found->port,
                      found->kind == MODEL_LISTENER_TLS ? "TLS (SNI passthrough)" : "TCP",
                      found->port);
        *o = EXPLAIN_NO_LISTENER;
        return NULL;
    }
    if (candidates == 1) return found;
    if (candidates > 1) {
        strbuf_puts(text, "no listener: several listeners could take it (");
        list_gateways(s, text);
        strbuf_puts(text, "): give the port in the URL or --port\n");
        *o = EXPLAIN_AMBIGUOUS;
        return NULL;
    }
    if (rq->port)
        strbuf_printf(text, "no listener on port %u%s%s; the Gateways served: ", rq->port,
                      rq->gateway ? " of Gateway " : "", rq->gateway ? rq->gateway : "");
    else
        strbuf_puts(text, "no listener: no Gateway server serves HTTP here (--mesh for the mesh "
                          "listener); the Gateways served: ");
    list_gateways(s, text);
    strbuf_puts(text, "\n");
    *o = EXPLAIN_NO_LISTENER;
    return NULL;
}

static const char *
lb_name(const struct model_cluster *c)
{
    switch (lb_kind(c)) {
    case MODEL_LB_ROUND_ROBIN: return "ROUND_ROBIN";
    case MODEL_LB_RANDOM: return "RANDOM";
    case MODEL_LB_PASSTHROUGH: return "PASSTHROUGH";
    case MODEL_LB_CONSISTENT_HASH:
        return c->policy.lb.hash.maglev ? "CONSISTENT_HASH (maglev)"
                                        : "CONSISTENT_HASH (ring hash)";
    default: return "LEAST_REQUEST";
    }
}

static void
json_kv(struct strbuf *sb, const char *k, const char *v, bool comma)
{
    strbuf_printf(sb, "%s\"%s\":", comma ? "," : "", k);
    strbuf_json_str(sb, v ? v : "");
}

static void
json_kslice(struct strbuf *sb, const char *k, struct slice v)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%.*s", (int)v.len, v.ptr);
    json_kv(sb, k, tmp, true);
}

struct out {
    struct strbuf *text, *json;
    const struct model_listener *l; /* the listener the request reached */
};

static void
describe_policy(struct out *o, const struct model_cluster *c)
{
    const struct model_policy *p = &c->policy;
    const struct model_upstream_choice *up = model_cluster_upstream(c, o->l);
    if (o->l->kind != MODEL_LISTENER_HTTP)
        strbuf_puts(o->text, "      upstream: the connection's bytes, as they come\n");
    else
        strbuf_printf(o->text, "      upstream protocol: %s (%s)\n",
                      up->proto == MODEL_UP_HTTP2    ? "HTTP/2"
                      : up->proto == MODEL_UP_CLIENT ? "the client's"
                                                     : "HTTP/1.1",
                      up->why);
    strbuf_printf(o->text, "      load balancer: %s\n", lb_name(c));
    if (c->warmup_ms)
        strbuf_printf(o->text,
                      "      slow start: new endpoints ramp up over %.1fs from %.0f%% of their "
                      "weight (aggression %.1f)\n",
                      (double)c->warmup_ms / 1000, c->warmup_min * 100, c->warmup_aggression);
    const struct model_limits *l = &c->limits;
    if (l->max_connections != UINT32_MAX)
        strbuf_printf(o->text, "      max connections: %u\n", l->max_connections);
    if (l->max_pending != UINT32_MAX)
        strbuf_printf(o->text, "      max pending requests: %u\n", l->max_pending);
    if (l->max_requests != UINT32_MAX)
        strbuf_printf(o->text, "      max requests: %u\n", l->max_requests);
    if (l->max_retries != UINT32_MAX)
        strbuf_printf(o->text, "      max concurrent retries: %u\n", l->max_retries);
    if (c->max_requests_per_conn)
        strbuf_printf(o->text, "      max requests per connection: %u\n", c->max_requests_per_conn);
    if (c->max_concurrent_streams)
        strbuf_printf(o->text, "      max concurrent streams per connection: %u\n",
                      c->max_concurrent_streams);
    bool relay = o->l->kind != MODEL_LISTENER_HTTP;
    strbuf_printf(o->text, "      connect timeout: %" PRIu64 "ms, idle timeout: %" PRIu64 "ms",
                  l->connect_timeout_ms, relay ? l->tcp_idle_timeout_ms : l->idle_timeout_ms);
    if (relay && l->max_connection_duration_ms)
        strbuf_printf(o->text, ", max connection duration: %" PRIu64 "ms",
                      l->max_connection_duration_ms);
    strbuf_puts(o->text, "\n");
    const struct model_outlier *od = &c->outlier;
    if (od->enabled) {
        strbuf_puts(o->text, "      outlier detection: eject after");
        if (od->consecutive_5xx) strbuf_printf(o->text, " %u consecutive 5xx", od->consecutive_5xx);
        if (od->consecutive_gw)
            strbuf_printf(o->text, "%s %u consecutive gateway errors",
                          od->consecutive_5xx ? " or" : "", od->consecutive_gw);
        if (od->consecutive_local)
            strbuf_printf(o->text, "%s %u consecutive local-origin failures",
                          od->consecutive_5xx || od->consecutive_gw ? " or" : "",
                          od->consecutive_local);
        if (!od->consecutive_5xx && !od->consecutive_gw && !od->consecutive_local)
            strbuf_puts(o->text, " nothing (every detector is off)");
        strbuf_printf(o->text,
                      ", interval %" PRIu64 "ms, base ejection %" PRIu64 "ms, at most %u%% of "
                      "%zu endpoint(s) ejected%s",
                      od->interval_ms, od->base_ms, od->max_percent, c->n_endpoints,
                      (uint64_t)od->max_percent * c->n_endpoints < 100 ? " (so none can be)" : "");
        if (od->min_health_percent)
            strbuf_printf(o->text, ", panic below %u%% healthy\n", od->min_health_percent);
        else
            strbuf_puts(o->text, ", no panic mode\n");
        size_t ejected = 0;
        for (size_t i = 0; i < c->n_endpoints; i++) ejected += outlier_ejected(c, i);
        if (ejected)
            strbuf_printf(o->text, "      ejected now: %zu of %zu\n", ejected, c->n_endpoints);
    } else {
        strbuf_puts(o->text, "      outlier detection: off\n");
    }
    size_t mtls = 0;
    for (size_t i = 0; i < c->n_endpoints; i++) mtls += c->endpoints[i].mtls;
    if (p->tls_mode == MODEL_TLS_DISABLE)
        strbuf_puts(o->text, "      tls: DISABLE (plain text)\n");
    else if (p->tls_mode == MODEL_TLS_SIMPLE || p->tls_mode == MODEL_TLS_MUTUAL)
        strbuf_printf(o->text, "      tls: %s (not built yet: plain text)\n",
                      p->tls_mode == MODEL_TLS_SIMPLE ? "SIMPLE" : "MUTUAL");
    else if (p->tls_mode == MODEL_TLS_AUTO && !mtls)
        strbuf_puts(o->text, "      tls: not set, no endpoint labelled "
                             "security.istio.io/tlsMode=istio: plain text\n");
    if (mtls) {
        strbuf_printf(o->text, "      tls: ISTIO_MUTUAL%s to %zu of %zu endpoint(s), SNI %s, ",
                      p->tls_mode != MODEL_TLS_AUTO ? "" : " (automatic, by the tlsMode label)",
                      mtls, c->n_endpoints, c->tls_sni);
        if (!c->n_tls_sans) strbuf_puts(o->text, "any identity the mesh root signed");
        for (size_t i = 0; i < c->n_tls_sans; i++)
            strbuf_printf(o->text, "%s%s", i ? " or " : "the server must be ", c->tls_sans[i]);
        strbuf_puts(o->text, "\n");
    }
}

static int describe_destinations(struct out *o, const struct model_route *r);

/* The route's action and destinations; the status of the answer (200 when forwarded). */
static int
describe_route(struct out *o, const struct model_route *r)
{
    strbuf_printf(o->json, ",\"route\":{");
    json_kv(o->json, "name", r->name, false);
    json_kv(o->json, "virtualService", r->vs, true);
    strbuf_printf(o->json, ",\"rule\":%zu", r->rule_index);
    if (r->action == MODEL_DIRECT_RESPONSE) {
        strbuf_printf(o->text, "action: direct response %d \"%.*s\"\n", r->direct_status,
                      (int)r->direct_body.len, r->direct_body.ptr);
        strbuf_printf(o->json, ",\"action\":\"direct_response\",\"status\":%d}", r->direct_status);
        return r->direct_status;
    }
    if (r->action == MODEL_REDIRECT) {
        strbuf_printf(o->text, "action: redirect %d to %s%s%s\n", r->redirect_code,
                      r->redirect_authority ? r->redirect_authority : "(same host)",
                      r->redirect_uri ? " " : "", r->redirect_uri ? r->redirect_uri : "");
        strbuf_printf(o->json, ",\"action\":\"redirect\",\"status\":%d}", r->redirect_code);
        return r->redirect_code;
    }
    if (r->l4) {
        strbuf_printf(o->text,
                      "action: relay the connection's bytes (%s rule: the destination is picked "
                      "per connection; no retries, no timeout)\n",
                      r->l4 == MODEL_L4_TLS ? "a tls" : "a tcp");
        strbuf_printf(o->json, ",\"action\":\"relay\",\"l4\":\"%s\",\"destinations\":[",
                      r->l4 == MODEL_L4_TLS ? "tls" : "tcp");
        return describe_destinations(o, r);
    }
    strbuf_printf(o->text, "action: route (timeout %s", r->timeout_ms ? "" : "none");
    if (r->timeout_ms) strbuf_printf(o->text, "%" PRIu64 "ms", r->timeout_ms);
    if (!r->retry_attempts)
        strbuf_puts(o->text, ", retries: off");
    else if (!r->retries_set)
        strbuf_puts(o->text, ", retries: Istio's default, 2 on connect-failure,refused-stream,"
                             "unavailable,cancelled");
    else
        strbuf_printf(o->text, ", retries: %u on %s", r->retry_attempts,
                      r->retry_on_text && *r->retry_on_text ? r->retry_on_text
                                                            : "Istio's default conditions");
    if (r->retry_attempts)
        strbuf_printf(o->text, ", back-off %" PRIu64 "ms; requests with a body are not retried",
                      r->retry_backoff_ms);
    strbuf_puts(o->text, ")\n");
    for (size_t i = 0; i < r->n_mirrors; i++)
        strbuf_printf(o->text, "mirror: %.4g%% of requests copied to %s (host + \"-shadow\")\n",
                      r->mirrors[i].ppm / 10000.0,
                      r->mirrors[i].cluster ? r->mirrors[i].cluster->name : "no such pool");
    if (r->fault_delay_ppm)
        strbuf_printf(o->text, "fault: delay %" PRIu64 "ms on %.4g%% of requests (DI)\n",
                      r->fault_delay_ms, r->fault_delay_ppm / 10000.0);
    if (r->fault_abort_ppm && r->fault_abort_status > 0)
        strbuf_printf(o->text, "fault: abort with %d on %.4g%% of requests (FI)\n",
                      r->fault_abort_status, r->fault_abort_ppm / 10000.0);
    else if (r->fault_abort_ppm)
        strbuf_printf(o->text, "fault: abort with grpc-status %d on %.4g%% of requests (FI)\n",
                      r->fault_abort_grpc, r->fault_abort_ppm / 10000.0);
    strbuf_printf(o->json, ",\"action\":\"route\",\"timeoutMs\":%" PRIu64 ",\"destinations\":[",
                  r->timeout_ms);
    return describe_destinations(o, r);
}

/* The destinations of <r> with their shares, pools, endpoints and policy; the status: 200,
 * or 503 when one has no pool or no endpoint. */
static int
describe_destinations(struct out *o, const struct model_route *r)
{
    int status = 200;
    for (size_t i = 0; i < r->n_dests; i++) {
        const struct model_destination *d = &r->dests[i];
        double pct = 100.0 * d->weight / r->total_weight;
        strbuf_printf(o->text, "  %5.1f%%  %s%s%s", pct, d->host, *d->subset ? " subset " : "",
                      d->subset);
        strbuf_printf(o->json, "%s{", i ? "," : "");
        json_kv(o->json, "host", d->host, false);
        json_kv(o->json, "subset", d->subset, true);
        strbuf_printf(o->json, ",\"percent\":%.1f", pct);
        if (!d->cluster) {
            strbuf_puts(o->text, r->l4 ? ": connection closed (NC)" : ": 503 NC");
            strbuf_puts(o->text, ", no such pool: the host or subset is not defined "
                                 "(no ServiceEntry, or no DestinationRule subset)\n");
            strbuf_puts(o->json, ",\"status\":503,\"flags\":\"NC\"}");
            status = 503;
            continue;
        }
        strbuf_printf(o->text, " -> %s\n", d->cluster->name);
        json_kv(o->json, "cluster", d->cluster->name, true);
        if (!d->cluster->n_endpoints) {
            strbuf_puts(o->text, r->l4 ? "      connection closed (UH)" : "      503 UH");
            if (d->cluster->n_dns_names) {
                strbuf_puts(o->text, ": no DNS answer yet for");
                for (size_t k = 0; k < d->cluster->n_dns_names; k++)
                    strbuf_printf(o->text, "%s %s", k ? "," : "", d->cluster->dns_names[k]);
                strbuf_puts(o->text, " (see /clusters)\n");
            } else {
                strbuf_puts(o->text, ": the subset's labels select no endpoint\n");
            }
            strbuf_puts(o->json, ",\"status\":503,\"flags\":\"UH\",\"endpoints\":[]}");
            status = 503;
            continue;
        }
        strbuf_puts(o->json, ",\"endpoints\":[");
        for (size_t e = 0; e < d->cluster->n_endpoints; e++) {
            const struct model_endpoint *ep = &d->cluster->endpoints[e];
            strbuf_printf(o->text, "      endpoint %s:%u weight %u", ep->address, ep->port,
                          ep->weight);
            if (ep->dns_name) strbuf_printf(o->text, " (DNS %s)", ep->dns_name);
            strbuf_printf(o->json, "%s{\"address\":\"%s:%u\",\"labels\":{", e ? "," : "",
                          ep->address, ep->port);
            for (size_t l = 0; l < ep->n_labels; l++) {
                strbuf_printf(o->text, "%s%s=%s", l ? "," : " ", ep->label_keys[l],
                              ep->label_vals[l]);
                strbuf_printf(o->json, "%s", l ? "," : "");
                strbuf_json_str(o->json, ep->label_keys[l]);
                strbuf_puts(o->json, ":");
                strbuf_json_str(o->json, ep->label_vals[l]);
            }
            strbuf_puts(o->text, "\n");
            strbuf_puts(o->json, "}}");
        }
        strbuf_printf(o->json, "],\"loadBalancer\":\"%s\"", lb_name(d->cluster));
        const struct model_upstream_choice *up = model_cluster_upstream(d->cluster, o->l);
        strbuf_printf(o->json, ",\"upstreamProtocol\":\"%s\"",
                      model_upstream_proto_name(up->proto));
        json_kv(o->json, "upstreamProtocolReason", up->why, true);
        strbuf_puts(o->json, "}");
        describe_policy(o, d->cluster);
    }
    strbuf_puts(o->json, "]}");
    return status;
}

/* A sticky split: where the key is read and, when <match> carries it, where that user goes
 * (the proxy's own key reading, hash and interval pick). */
static void
describe_sticky(struct out *o, const struct model_route *r, const struct route_request *match)
{
    const char *source = route_sticky_source(r);
    struct slice key;
    strbuf_printf(o->text, "sticky split on %s %s: ", source, r->sticky_name);
    strbuf_printf(o->json, ",\"sticky\":{\"source\":\"%s\"", source);
    json_kv(o->json, "name", r->sticky_name, true);
    if (!route_sticky_key(r, match, &key)) {
        strbuf_printf(o->text,
                      "the request has no %s %s (or an empty one): no key: weighted "
                      "round robin\n",
                      r->sticky_name, source);
        strbuf_puts(o->json, ",\"key\":null,\"destination\":null}");
        return;
    }
    uint64_t h = split_sticky_hash(key.ptr, key.len);
    const struct model_destination *d = &r->dests[split_sticky_index(r, h)];
    /* The user's point as a share of the weights: 2^-64 per hash unit. */
    double at = (double)h / 18446744073709551616.0;
    strbuf_printf(o->text,
                  "user \"%.*s\" -> %s%s%s (hash point %.4f of the weights; this "
                  "user stays there while the weights stay)\n",
                  (int)key.len, key.ptr, d->host, *d->subset ? " subset " : "", d->subset, at);
    json_kslice(o->json, "key", key);
    strbuf_puts(o->json, ",\"destination\":{");
    json_kv(o->json, "host", d->host, false);
    json_kv(o->json, "subset", d->subset, true);
    strbuf_printf(o->json, "},\"point\":%.6f}", at);
}

/* Where the running proxy's split of <r> stands: per worker, the destinations of its next
 * ten requests, replayed from a copy of the worker's counters with the proxy's own step. */
static void
describe_split_now(struct out *o, const struct snapshot *s, const struct model_route *r)
{
    /* split_next() steps every destination of the route: the copy holds them all. */
    int64_t small[64];
    int64_t *cur = r->n_dests <= 64 ? small : calloc(r->n_dests, sizeof(*cur));
    if (!cur) {
        strbuf_puts(o->text, "split now: not shown (out of memory)\n");
        return;
    }
    strbuf_puts(o->text, r->sticky_on ? "split now for requests without the key (smooth weighted "
                                        "round robin, per worker):\n"
                                      : "split now (smooth weighted round robin, per worker):\n");
    strbuf_puts(o->json, ",\"splitNow\":[");
    for (size_t w = 0; w < s->n_split_workers; w++) {
        const int64_t *live = s->split_counters + w * (s->n_split_slots + 1) + r->split_offset;
        for (size_t d = 0; d < r->n_dests; d++)
            cur[d] = __atomic_load_n(&live[d], __ATOMIC_RELAXED);
        strbuf_printf(o->text, "  worker %zu: next 10 requests ->", w);
        strbuf_printf(o->json, "%s{\"worker\":%zu,\"next\":[", w ? "," : "", w);
        for (int k = 0; k < 10; k++) {
            const struct model_destination *d = &r->dests[split_next(cur, r)];
            const char *label = *d->subset ? d->subset : d->host;
            strbuf_printf(o->text, " %s", label);
            strbuf_printf(o->json, "%s", k ? "," : "");
            strbuf_json_str(o->json, label);
        }
        strbuf_puts(o->text, "\n");
        strbuf_puts(o->json, "]}");
    }
    strbuf_puts(o->json, "]");
    if (cur != small) free(cur);
}

/* The route a connection takes on L4 listener <l>, as the data path picks it: the virtual
 * host of the SNI on a TLS listener, "*" on a TCP one, then the first route whose block
 * holds. Writes the rest of the report; the outcome. */
static enum explain_outcome
explain_l4(const struct snapshot *s, struct out *o, const struct explain_request *rq)
{
    struct strbuf *text = o->text, *json = o->json;
    const struct model_listener *l = o->l;
    bool tls = l->kind == MODEL_LISTENER_TLS;
    const struct model_vhost *vh = tls ? model_vhost_find(l, rq->sni) : l->any;
    if (!vh) {
        if (tls)
            strbuf_printf(text, "connection closed (NR): no virtual host for SNI %.*s%s\n",
                          (int)rq->sni.len, rq->sni.ptr,
                          rq->sni.len ? "" : "(none: --sni names it)");
        else
            strbuf_puts(text, "connection closed (NR): no tcp route on this listener\n");
        strbuf_puts(json, ",\"status\":0,\"flags\":\"NR\"");
        return EXPLAIN_LOCAL_REPLY;
    }
    strbuf_printf(text, "virtual host: %s%s\n", vh->host,
                  tls ? " (picked by the ClientHello's SNI)" : "");
    json_kv(json, "virtualHost", vh->host, true);
    struct route_request match = {.sni = rq->sni, .dst = rq->has_dst ? &rq->dst : NULL};
    strbuf_puts(json, ",\"skipped\":[");
    const struct model_route *hit = NULL;
    int block = -1;
    for (size_t i = 0; i < vh->n_routes && !hit; i++) {
        const struct model_route *r = &vh->routes[i];
        char why[512] = "", label[512];
        bool ok = r->n_matches == 0;
        for (size_t k = 0; k < r->n_matches && !ok; k++) {
            char w[256];
            ok = route_block_matches(&r->matches[k], &match, w, sizeof(w));
            if (ok) block = (int)k;
            if (!ok && k == 0) snprintf(why, sizeof(why), "%s", w);
        }
        if (*r->vs)
            snprintf(label, sizeof(label), "(%s %s[%zu])", r->vs,
                     r->l4 == MODEL_L4_TLS ? "tls" : "tcp", r->rule_index);
        else if (!strcmp(r->name, "inbound"))
            snprintf(label, sizeof(label), "(the sidecar's route to its app)");
        else if (l->auto_passthrough)
            snprintf(label, sizeof(label), "(AUTO_PASSTHROUGH: the pool the SNI names)");
        else
            snprintf(label, sizeof(label), "'%s' (no rule: Istio's default route to the service)",
                     r->name);
        if (ok) {
            hit = r;
            strbuf_printf(text, "route %zu %s: matched", i, label);
            if (block >= 0)
                strbuf_printf(text, " by match[%d]\n", block);
            else
                strbuf_puts(text, " (no conditions: takes every connection)\n");
            break;
        }
        strbuf_printf(text, "route %zu %s: %s\n", i, label, why);
        strbuf_printf(json, "%s{\"index\":%zu,", i ? "," : "", i);
        json_kv(json, "virtualService", r->vs, false);
        json_kv(json, "why", why, true);
        strbuf_puts(json, "}");
    }
    strbuf_puts(json, "]");
    if (!hit) {
        strbuf_puts(text, "connection closed (NR): no route of this virtual host takes it\n");
        strbuf_puts(json, ",\"status\":0,\"flags\":\"NR\"");
        return EXPLAIN_LOCAL_REPLY;
    }
    int status = describe_route(o, hit);
    if (s->n_split_workers && hit->n_dests > 1) describe_split_now(o, s, hit);
    strbuf_printf(json, ",\"status\":%d", status);
    return status == 503 ? EXPLAIN_LOCAL_REPLY : EXPLAIN_ROUTED;
}

/* The listener a connection reaches: the one on rq->port (of the mesh with --mesh, of
 * rq->gateway when named). NULL with the reason in <text>. */
static const struct model_listener *
pick_l4_listener(const struct snapshot *s, const struct explain_request *rq, struct strbuf *text)
{
    for (size_t i = 0; i < s->n_listeners; i++) {
        const struct model_listener *l = &s->listeners[i];
        if (l->port != rq->port || (rq->mesh && !l->mesh)) continue;
        if (rq->gateway && !serves_gateway(l, rq->gateway)) continue;
        return l;
    }
    strbuf_printf(text, "no listener on port %u%s%s%s; the Gateways served: ", rq->port,
                  rq->mesh ? " of the mesh" : "", rq->gateway ? " of Gateway " : "",
                  rq->gateway ? rq->gateway : "");
    list_gateways(s, text);
    strbuf_puts(text, "\n");
    return NULL;
}

enum explain_outcome
explain_write(const struct snapshot *s, const struct explain_request *rq, struct strbuf *text,
              struct strbuf *json)
{
    struct out o = {text, json, NULL};
    enum explain_outcome outcome = EXPLAIN_ROUTED;
    int status = 0;
    strbuf_puts(json, "{");
    if (rq->l4) {
        strbuf_printf(json, "\"connection\":{\"port\":%u", rq->port);
        json_kslice(json, "sni", rq->sni);
        json_kv(json, "source", rq->source, true);
        strbuf_puts(json, "}");
        const struct model_listener *l = pick_l4_listener(s, rq, text);
        if (!l) {
            strbuf_puts(json, ",\"status\":0,\"reason\":\"no listener\"");
            outcome = EXPLAIN_NO_LISTENER;
            goto done;
        }
        o.l = l;
        strbuf_printf(text, "listener: %s, port %u, kind %s%s\n", l->name, l->port,
                      l->kind == MODEL_LISTENER_TCP   ? "tcp (bytes relayed)"
                      : l->kind == MODEL_LISTENER_TLS ? "tls (SNI passthrough)"
                                                      : "http",
                      l->auto_passthrough ? ", AUTO_PASSTHROUGH" : "");
        if (rq->source) strbuf_printf(text, "client: %s\n", rq->source);
        json_kv(json, "listener", l->name, true);
        strbuf_printf(json, ",\"kind\":\"%s\"",
                      l->kind == MODEL_LISTENER_TCP   ? "tcp"
                      : l->kind == MODEL_LISTENER_TLS ? "tls"
                                                      : "http");
        if (l->kind == MODEL_LISTENER_HTTP) {
            strbuf_puts(text, "this listener speaks HTTP: explain METHOD URL instead of tcp\n");
            strbuf_puts(json, ",\"status\":0,\"reason\":\"http listener\"");
            outcome = EXPLAIN_NO_LISTENER;
            goto done;
        }
        outcome = explain_l4(s, &o, rq);
        goto done;
    }
    json_kv(json, "method", rq->method, false);
    json_kv(json, "url", rq->url, true);
    json_kslice(json, "authority", rq->authority);
    const struct model_listener *l = pick_listener(s, rq, text, &outcome);
    if (!l) {
        strbuf_puts(json, ",\"status\":0,\"reason\":\"no listener\"");
        goto done;
    }
    o.l = l;
    strbuf_printf(text, "listener: %s, port %u\n", l->name, l->port);
    json_kv(json, "listener", l->name, true);
    const struct model_vhost *vh = model_vhost_find(l, rq->authority);
    if (!vh) {
        strbuf_printf(text, "404 NR: no virtual host for %.*s on this listener\n",
                      (int)rq->authority.len, rq->authority.ptr);
        strbuf_puts(json, ",\"status\":404,\"flags\":\"NR\"");
        outcome = EXPLAIN_LOCAL_REPLY;
        goto done;
    }
    strbuf_printf(text, "virtual host: %s\n", vh->host);
    json_kv(json, "virtualHost", vh->host, true);
    struct route_request match = {slice_make(rq->method, strlen(rq->method)),
                                  rq->path,
                                  rq->authority,
                                  rq->scheme,
                                  rq->headers,
                                  rq->n_headers};
    strbuf_puts(json, ",\"skipped\":[");
    const struct model_route *hit = NULL;
    for (size_t i = 0; i < vh->n_routes && !hit; i++) {
        const struct model_route *r = &vh->routes[i];
        char why[512] = "";
        bool ok = r->n_matches == 0;
        for (size_t k = 0; k < r->n_matches && !ok; k++) {
            char w[256];
            ok = route_block_matches(&r->matches[k], &match, w, sizeof(w));
            if (!ok && k == 0) snprintf(why, sizeof(why), "%s", w);
        }
        if (ok) {
            hit = r;
            /* Routes Istio makes for a service without a VirtualService have no rule. */
            if (*r->vs)
                strbuf_printf(text, "route %zu '%s' (%s rule %zu): matched", i, r->name, r->vs,
                              r->rule_index);
            else if (!strcmp(r->name, "inbound"))
                strbuf_printf(text, "route %zu 'inbound' (the sidecar's route to its app): matched",
                              i);
            else
                strbuf_printf(text,
                              "route %zu '%s' (no VirtualService: Istio's default route "
                              "to the service): matched",
                              i, r->name);
            strbuf_puts(text, r->n_matches ? "\n" : " (no conditions: matches everything)\n");
            break;
        }
        strbuf_printf(text, "route %zu '%s': %s\n", i, r->name, why);
        strbuf_printf(json, "%s{\"index\":%zu,", i ? "," : "", i);
        json_kv(json, "name", r->name, false);
        json_kv(json, "why", why, true);
        strbuf_puts(json, "}");
    }
    strbuf_puts(json, "]");
    if (!hit) {
        strbuf_puts(text, "404 NR: no route of this virtual host matches the request\n");
        strbuf_puts(json, ",\"status\":404,\"flags\":\"NR\"");
        outcome = EXPLAIN_LOCAL_REPLY;
        goto done;
    }
    status = describe_route(&o, hit);
    if (status == 503) outcome = EXPLAIN_LOCAL_REPLY;
    if (hit->action == MODEL_ROUTE && route_sticky_source(hit)) describe_sticky(&o, hit, &match);
    if (s->n_split_workers && hit->action == MODEL_ROUTE && hit->n_dests > 1)
        describe_split_now(&o, s, hit);
    strbuf_printf(json, ",\"status\":%d", status);
done:
    strbuf_printf(json, ",\"outcome\":\"%s\"}", explain_outcome_name(outcome));
    return outcome;
}

/* Percent-decode <n> bytes at <v> ('+' is a space, as in forms) into <out>, NUL-terminated;
 * <out> has room for n + 1. false on a bad escape. */
static bool
url_decode(const char *v, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '+') {
            out[o++] = ' ';
        } else if (v[i] != '%') {
            out[o++] = v[i];
        } else {
            /* two hex digits: strtol alone also took a sign or a space ("%-1" was 0xff) */
            if (i + 2 >= n || !isxdigit((unsigned char)v[i + 1]) ||
                !isxdigit((unsigned char)v[i + 2]))
                return false;
            char hex[3] = {v[i + 1], v[i + 2], '\0'};
            long c = strtol(hex, NULL, 16);
            if (c == 0) return false;
            out[o++] = (char)c;
            i += 2;
        }
    }
    out[o] = '\0';
    return true;
}

int
explain_page(const struct snapshot *s, struct slice query, struct strbuf *out, const char **type)
{
    /* Decoded values live in one copy of the query, each NUL-terminated. */
    char *store = malloc(query.len + 1);
    if (!store) return 503;
    const char *method = "GET", *url = NULL, *gateway = NULL, *digest = NULL;
    const char *sni = NULL, *source = NULL, *dest = NULL;
    bool mesh = false, json = false, with_text = false, l4 = false;
    unsigned long port = 0;
    struct route_header hdrs[EXPLAIN_MAX_HEADERS];
    size_t n_hdrs = 0, used = 0;
    int status = 400;
    for (size_t i = 0; i < query.len;) {
        size_t end = i;
        while (end < query.len && query.ptr[end] != '&') end++;
        const char *kv = query.ptr + i;
        const char *eq = memchr(kv, '=', end - i);
        size_t klen = eq ? (size_t)(eq - kv) : end - i;
        struct slice k = slice_make(kv, klen);
        char *v = store + used;
        size_t vlen = eq ? end - i - klen - 1 : 0;
        if (!url_decode(eq ? eq + 1 : "", vlen, v)) {
            strbuf_printf(out, "bad percent-escape in parameter %.*s\n", (int)klen, kv);
            goto fail;
        }
        used += strlen(v) + 1;
        i = end + 1;
        if (slice_eq(k, "method")) {
            method = v;
        } else if (slice_eq(k, "url")) {
            url = v;
        } else if (slice_eq(k, "gateway")) {
            gateway = v;
        } else if (slice_eq(k, "digest")) {
            digest = v;
        } else if (slice_eq(k, "mesh")) {
            mesh = !strcmp(v, "1") || !strcmp(v, "true") || !eq;
        } else if (slice_eq(k, "l4")) {
            l4 = !strcmp(v, "1") || !strcmp(v, "true") || !eq;
        } else if (slice_eq(k, "sni")) {
            sni = v;
        } else if (slice_eq(k, "source")) {
            source = v;
        } else if (slice_eq(k, "dest")) {
            dest = v;
        } else if (slice_eq(k, "text")) {
            with_text = !strcmp(v, "1") || !strcmp(v, "true") || !eq;
        } else if (slice_eq(k, "format")) {
            json = !strcmp(v, "json");
        } else if (slice_eq(k, "port")) {
            char *e;
            port = strtoul(v, &e, 10);
            if (*e || !port || port > 65535) {
                strbuf_printf(out, "port=%s: give a number from 1 to 65535\n", v);
                goto fail;
            }
        } else if (slice_eq(k, "header")) {
            if (n_hdrs == EXPLAIN_MAX_HEADERS || !explain_header_parse(v, &hdrs[n_hdrs])) {
                strbuf_printf(out, "header=%s: give name:value (at most %d headers)\n", v,
                              EXPLAIN_MAX_HEADERS);
                goto fail;
            }
            n_hdrs++;
        }
    }
    if (!url && !l4) {
        strbuf_puts(out, "usage: GET /explain?method=GET&url=http://HOST[:PORT]/PATH"
                         "[&header=NAME:VALUE]...[&gateway=NS/NAME][&port=N][&mesh=1]"
                         "[&format=json[&text=1]][&digest=HEX], or for a connection "
                         "?l4=1&port=N[&sni=HOST][&source=IP][&dest=IP]...\n");
        goto fail;
    }
    if (digest) {
        char mine[32];
        snprintf(mine, sizeof(mine), "%016" PRIx64, s->digest);
        if (strcmp(mine, digest)) {
            strbuf_printf(out,
                          "this proxy runs config version %" PRIu64 " (digest %s), not the "
                          "config with digest %s\n",
                          s->version, mine, digest);
            status = 409;
            goto fail;
        }
    }
    struct explain_request rq;
    const char *why =
        l4 ? explain_request_init_l4(&rq, (uint16_t)port, sni, source, dest, mesh, gateway)
           : explain_request_init(&rq, method, url, hdrs, n_hdrs, (uint16_t)port, mesh, gateway);
    if (why) {
        strbuf_printf(out, "%s\n", why);
        goto fail;
    }
    struct strbuf text, doc;
    strbuf_init(&text, 1 << 20);
    strbuf_init(&doc, 1 << 20);
    strbuf_printf(&text, "explained by the running proxy (config version %" PRIu64 ")\n",
                  s->version);
    explain_write(s, &rq, &text, &doc);
    if (json) {
        *type = "application/json";
        /* the object without its closing brace, then what the proxy adds */
        strbuf_add(out, strbuf_str(&doc), doc.len - 1);
        strbuf_printf(out, ",\"configVersion\":%" PRIu64 ",\"configDigest\":\"%016" PRIx64 "\"",
                      s->version, s->digest);
        if (with_text) {
            strbuf_puts(out, ",\"text\":");
            strbuf_json_str(out, strbuf_str(&text));
        }
        strbuf_puts(out, "}\n");
    } else {
        strbuf_puts(out, strbuf_str(&text));
    }
    strbuf_fini(&text);
    strbuf_fini(&doc);
    status = 200;
fail:
    free(store);
    return status;
}
