/* SPDX-License-Identifier: Apache-2.0 */
/* DestinationRule: decoding tables and Istio's per-resource validation of host, subsets,
 * traffic policy sections and port-level settings (validation.go ValidateDestinationRule). */
#include "config/destination_rule.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/field.h"
#include "config/rules.h"

FIELD_SCHEMA(http_cookie_attribute, RES_HTTP_COOKIE_ATTRIBUTE)
FIELD_SCHEMA(http_cookie, RES_HTTP_COOKIE)
FIELD_SCHEMA(ring_hash, RES_RING_HASH)
FIELD_SCHEMA(maglev, RES_MAGLEV)
FIELD_SCHEMA(consistent_hash, RES_CONSISTENT_HASH)
FIELD_SCHEMA(locality_distribute, RES_LOCALITY_DISTRIBUTE)
FIELD_SCHEMA(locality_failover, RES_LOCALITY_FAILOVER)
FIELD_SCHEMA(locality_lb_setting, RES_LOCALITY_LB_SETTING)
FIELD_SCHEMA(warmup, RES_WARMUP)
FIELD_SCHEMA(load_balancer, RES_LOAD_BALANCER)
FIELD_SCHEMA(tcp_keepalive, RES_TCP_KEEPALIVE)
FIELD_SCHEMA(tcp_settings, RES_TCP_SETTINGS)
FIELD_SCHEMA(http2_keepalive, RES_HTTP2_KEEPALIVE)
FIELD_SCHEMA(http_settings, RES_HTTP_SETTINGS)
FIELD_SCHEMA(connection_pool, RES_CONNECTION_POOL)
FIELD_SCHEMA(outlier_detection, RES_OUTLIER_DETECTION)
FIELD_SCHEMA(client_tls, RES_CLIENT_TLS)
FIELD_SCHEMA(tunnel, RES_TUNNEL)
FIELD_SCHEMA(proxy_protocol, RES_PROXY_PROTOCOL)
FIELD_SCHEMA(retry_budget, RES_RETRY_BUDGET)
FIELD_SCHEMA(port_traffic_policy, RES_PORT_TRAFFIC_POLICY)
FIELD_SCHEMA(traffic_policy, RES_TRAFFIC_POLICY)
FIELD_SCHEMA(subset, RES_SUBSET)
FIELD_SCHEMA(destination_rule, RES_DESTINATION_RULE)

static bool
is_prime(uint64_t n)
{
    if (n < 2) return false;
    for (uint64_t d = 2; d * d <= n; d++)
        if (n % d == 0) return false;
    return true;
}

static void
validate_lb(struct vctx *v, const struct load_balancer *lb)
{
    const struct consistent_hash *ch = lb->consistent_hash;
    if (lb->simple.set && ch) {
        rules_error(v, lb, NULL, -1, "keep simple or consistentHash",
                    "only one of simple or consistentHash may be set");
    }
    if (ch) {
        int keys = (ch->http_header_name != NULL) + (ch->http_cookie != NULL) +
                   (ch->use_source_ip.set && ch->use_source_ip.v) +
                   (ch->http_query_parameter_name != NULL);
        if (keys > 1) {
            rules_error(v, ch, NULL, -1, "hash on one key",
                        "only one of httpHeaderName, httpCookie, useSourceIp or "
                        "httpQueryParameterName may be set");
        }
        if (ch->http_cookie) {
            const struct http_cookie *c = ch->http_cookie;
            if (!c->name || !*c->name)
                rules_error(v, c, "name", -1, "name the cookie", "name required for HttpCookie");
            for (size_t i = 0; i < c->attributes_len; i++) {
                const struct http_cookie_attribute *a = &c->attributes[i];
                if (!a->name || !*a->name)
                    rules_error(v, c, "attributes", (int)i, "name the attribute",
                                "cookie attribute name is required");
                for (size_t j = 0; j < i && a->name; j++)
                    if (c->attributes[j].name && !strcmp(c->attributes[j].name, a->name))
                        rules_error(v, c, "attributes", (int)i, "list each attribute once",
                                    "cookie attribute name %s is duplicated", a->name);
            }
        }
        if (ch->minimum_ring_size.set) {
            if (ch->ring_hash || ch->maglev) {
                rules_error(v, ch, "minimumRingSize", -1, "use ringHash.minimumRingSize",
                            "only one of MinimumRingSize or Maglev/Ringhash can be specified");
            } else {
                rules_report(v, DIAG_WARNING, DIAG_DEPRECATED, ch, "minimumRingSize", -1,
                             "use ringHash: {minimumRingSize: N}",
                             "Deprecated: minimumRingSize is deprecated, use ringHash");
            }
        }
        if (ch->ring_hash && ch->maglev) {
            rules_error(v, ch, "maglev", -1, "keep ringHash or maglev",
                        "only one of ringHash or maglev may be set");
        }
        if (ch->maglev) {
            const struct maglev *m = ch->maglev;
            if (!m->table_size.set || m->table_size.v == 0) {
                rules_error(v, m, "tableSize", -1, "set a prime such as 65537",
                            "tableSize must be set for maglev");
            } else if (m->table_size.v >= 5000011) {
                rules_error(v, m, "tableSize", -1, "use a prime below 5000011",
                            "tableSize must be less than 5000011 for maglev");
            } else if (!is_prime((uint64_t)m->table_size.v)) {
                rules_error(v, m, "tableSize", -1, "use a prime such as 65537",
                            "tableSize must be a prime number for maglev");
            }
        }
    }
    if (lb->locality_lb_setting) {
        const struct locality_lb_setting *l = lb->locality_lb_setting;
        if (l->distribute_len && l->failover_len) {
            rules_error(v, l, NULL, -1, "keep distribute or failover",
                        "can not simultaneously specify 'distribute' and 'failover'");
        }
        for (size_t i = 0; i < l->distribute_len; i++) {
            const struct locality_distribute *d = &l->distribute[i];
            int64_t total = 0;
            for (size_t j = 0; j < d->to.len; j++) {
                if (d->to.vals[j] < 1 || d->to.vals[j] > 100)
                    rules_error(v, d, "to", -1, "use weights from 1 to 100",
                                "locality weight must be in range [1, 100]");
                total += d->to.vals[j];
            }
            if (total != 100)
                rules_error(v, d, "to", -1, "make the weights add up to 100",
                            "total locality weight %" PRId64 " != 100", total);
        }
        for (size_t i = 0; i < l->failover_len; i++) {
            const struct locality_failover *f = &l->failover[i];
            if (f->from && f->to && !strcmp(f->from, f->to))
                rules_error(v, f, "to", -1, "fail over to another region",
                            "locality lb failover settings must specify different regions");
        }
    }
    if (lb->warmup) {
        const struct warmup *w = lb->warmup;
        if (!w->duration.set) {
            rules_error(v, w, "duration", -1, "set the warmup duration", "duration is required");
        } else {
            rules_duration(v, w, "duration", &w->duration);
        }
        if (w->minimum_percent.set && (w->minimum_percent.v > 100 || w->minimum_percent.v < 0))
            rules_error(v, w, "minimumPercent", -1, "use 0 to 100",
                        "minimumPercent value should be less than or equal to 100");
        if (w->aggression.set && w->aggression.v <= 0)
            rules_error(v, w, "aggression", -1, "use a value above 0 (1.0 is linear)",
                        "aggression should be greater than 0");
    }
    rules_duration(v, lb, "warmupDurationSecs", &lb->warmup_duration_secs);
}

static void
nonneg(struct vctx *v, const void *obj, const char *key, const struct opt_int *x, const char *what)
{
    if (x->set && x->v < 0)
        rules_error(v, obj, key, -1, "use 0 (the default) or more", "%s must be non-negative",
                    what);
}

static void
validate_pool(struct vctx *v, const struct connection_pool *cp)
{
    if (!cp->tcp && !cp->http) {
        rules_error(v, cp, NULL, -1, "add tcp or http settings, or remove connectionPool",
                    "connection pool must have at least one field");
    }
    if (cp->http) {
        const struct http_settings *h = cp->http;
        nonneg(v, h, "http1MaxPendingRequests", &h->http1_max_pending_requests,
               "http1 max pending requests");
        nonneg(v, h, "http2MaxRequests", &h->http2_max_requests, "http2 max requests");
        nonneg(v, h, "maxRequestsPerConnection", &h->max_requests_per_connection,
               "max requests per connection");
        nonneg(v, h, "maxRetries", &h->max_retries, "max retries");
        nonneg(v, h, "maxConcurrentStreams", &h->max_concurrent_streams, "max concurrent streams");
        rules_duration(v, h, "idleTimeout", &h->idle_timeout);
        if (h->use_client_protocol.v && h->h2_upgrade_policy.set &&
            h->h2_upgrade_policy.v == H2_UPGRADE)
            rules_error(v, h, "useClientProtocol", -1, "drop one of the two",
                        "use client protocol must not be true when H2UpgradePolicy is UPGRADE");
        if (h->http2_keepalive) {
            if (!h->http2_keepalive->interval.set)
                rules_error(v, h->http2_keepalive, "interval", -1, "set interval, e.g. 30s",
                            "http2 keepalive interval is required");
            if (!h->http2_keepalive->timeout.set)
                rules_error(v, h->http2_keepalive, "timeout", -1, "set timeout, e.g. 5s",
                            "http2 keepalive timeout is required");
        }
    }
    if (cp->tcp) {
        const struct tcp_settings *t = cp->tcp;
        nonneg(v, t, "maxConnections", &t->max_connections, "max connections");
        rules_duration(v, t, "connectTimeout", &t->connect_timeout);
        rules_duration(v, t, "maxConnectionDuration", &t->max_connection_duration);
        if (t->tcp_keepalive) {
            rules_duration(v, t->tcp_keepalive, "time", &t->tcp_keepalive->time);
            rules_duration(v, t->tcp_keepalive, "interval", &t->tcp_keepalive->interval);
        }
    }
}

static void
validate_outlier(struct vctx *v, const struct outlier_detection *od)
{
    if (od->max_ejection_percent.set &&
        (od->max_ejection_percent.v < 0 || od->max_ejection_percent.v > 100))
        rules_error(v, od, "maxEjectionPercent", -1, "use 0 to 100",
                    "percentage %" PRId64 " is not in range 0..100", od->max_ejection_percent.v);
    if (od->min_health_percent.set &&
        (od->min_health_percent.v < 0 || od->min_health_percent.v > 100))
        rules_error(v, od, "minHealthPercent", -1, "use 0 to 100",
                    "percentage %" PRId64 " is not in range 0..100", od->min_health_percent.v);
    rules_duration(v, od, "interval", &od->interval);
    rules_duration(v, od, "baseEjectionTime", &od->base_ejection_time);
    if (od->consecutive_errors.set) {
        rules_warn(v, od, "consecutiveErrors", -1,
                   "use consecutive5xxErrors or consecutiveGatewayErrors; this field is ignored",
                   "outlier detection consecutive errors is deprecated, use "
                   "consecutiveGatewayErrors or consecutive5xxErrors instead");
    }
    if (od->consecutive_local_origin_failures.set &&
        !(od->split_external_local_origin_errors.set && od->split_external_local_origin_errors.v))
        rules_error(v, od, "consecutiveLocalOriginFailures", -1,
                    "set splitExternalLocalOriginErrors: true",
                    "outlier detection consecutive local origin failures is specified, but split "
                    "external local origin errors is set to false");
    for (size_t i = 0; i < od->outlier_detection_http_error_codes.len; i++) {
        const char *c = od->outlier_detection_http_error_codes.v[i];
        long n = strtol(c, NULL, 10);
        if (n < 100 || n > 599)
            rules_error(v, od, "outlierDetectionHttpErrorCodes", (int)i, "use 100 to 599",
                        "http error code %s must be in range 100-599", c);
    }
}

static void
validate_tls(struct vctx *v, const struct client_tls *t)
{
    int mode = t->mode.set ? t->mode.v : TLS_DISABLE;
    bool skip = t->insecure_skip_verify.set && t->insecure_skip_verify.v;
    if (t->credential_name &&
        (t->client_certificate || t->private_key || t->ca_certificates || t->ca_crl)) {
        rules_error(v, t, "credentialName", -1, "use credentialName or the file fields",
                    "cannot specify client certificates or CA certificate or CA CRL If "
                    "credentialName is set");
    }
    if (mode == TLS_ISTIO_MUTUAL) {
        if (t->client_certificate || t->private_key || t->ca_certificates || t->credential_name ||
            t->ca_crl)
            rules_error(v, t, "mode", -1,
                        "remove the certificate fields; ISTIO_MUTUAL uses the mesh identity",
                        "ISTIO_MUTUAL TLS cannot have associated client certificates or CA "
                        "certificate or CA CRL");
        return;
    }
    if (mode == TLS_MUTUAL && !t->credential_name) {
        if (!t->client_certificate)
            rules_error(v, t, "clientCertificate", -1, "give the client certificate file",
                        "client certificate required for mutual tls");
        if (!t->private_key)
            rules_error(v, t, "privateKey", -1, "give the private key file",
                        "private key required for mutual tls");
    }
    if (skip && mode == TLS_SIMPLE &&
        (t->ca_certificates || t->credential_name || t->subject_alt_names.len))
        rules_error(v, t, "insecureSkipVerify", -1, "drop verification settings or the skip",
                    "cannot specify CaCertificates or CredentialName or SubjectAltNames when "
                    "InsecureSkipVerify is set true");
    if (skip && mode == TLS_MUTUAL && (t->ca_certificates || t->subject_alt_names.len))
        rules_error(v, t, "insecureSkipVerify", -1, "drop verification settings or the skip",
                    "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is "
                    "set true");
}

static void
validate_policy_sections(struct vctx *v, const struct load_balancer *lb,
                         const struct connection_pool *cp, const struct outlier_detection *od,
                         const struct client_tls *tls)
{
    if (lb) validate_lb(v, lb);
    if (cp) validate_pool(v, cp);
    if (od) validate_outlier(v, od);
    if (tls) validate_tls(v, tls);
}

static void
validate_policy(struct vctx *v, const struct traffic_policy *tp)
{
    if (!tp->load_balancer && !tp->connection_pool && !tp->outlier_detection && !tp->tls &&
        !tp->port_level_settings_len && !tp->tunnel && !tp->proxy_protocol && !tp->retry_budget) {
        rules_error(v, tp, NULL, -1, "add a policy section or remove trafficPolicy",
                    "traffic policy must have at least one field");
    }
    validate_policy_sections(v, tp->load_balancer, tp->connection_pool, tp->outlier_detection,
                             tp->tls);
    for (size_t i = 0; i < tp->port_level_settings_len; i++) {
        const struct port_traffic_policy *p = &tp->port_level_settings[i];
        if (field_is_null(p)) {
            rules_error(v, p, NULL, -1, "remove the empty item", "traffic policy may not be null");
            continue;
        }
        if (!p->port || !p->port->number.set) {
            rules_error(v, p, "port", -1, "set port: {number: N}",
                        "portTrafficPolicy must have valid port");
        } else {
            rules_port(v, p->port, "number", p->port->number.v);
        }
        if (!p->load_balancer && !p->connection_pool && !p->outlier_detection && !p->tls) {
            rules_error(v, p, NULL, -1, "add a policy section or remove this entry",
                        "port traffic policy must have at least one field");
        }
        validate_policy_sections(v, p->load_balancer, p->connection_pool, p->outlier_detection,
                                 p->tls);
    }
    if (tp->tunnel) {
        const struct tunnel *t = tp->tunnel;
        if (t->protocol && strcmp(t->protocol, "CONNECT") && strcmp(t->protocol, "POST"))
            rules_error(v, t, "protocol", -1, "use CONNECT or POST",
                        "tunnel protocol must be \"CONNECT\" or \"POST\"");
        if (!t->target_host ||
            (!rules_is_ip(t->target_host) && rules_wildcard_domain(t->target_host)))
            rules_error(v, t, "targetHost", -1, "give an FQDN or IP",
                        "tunnel target host must be valid FQDN or IP address: %s",
                        t->target_host ? t->target_host : "");
        if (!t->target_port.set || t->target_port.v < 1 || t->target_port.v > 65535)
            rules_error(v, t, "targetPort", -1, "use a port from 1 to 65535",
                        "tunnel target port is invalid: %" PRId64, t->target_port.v);
        if (tp->proxy_protocol)
            rules_error(v, tp, "proxyProtocol", -1, "keep tunnel or proxyProtocol",
                        "tunnel and proxyProtocol must not be set together");
    }
    if (tp->retry_budget) {
        const struct retry_budget *b = tp->retry_budget;
        if (b->percent.set && (b->percent.v < 0 || b->percent.v > 100))
            rules_error(v, b, "percent", -1, "use 0 to 100",
                        "retry budget percent must be in range [0.0, 100.0]");
    }
}

void
destination_rule_validate(const struct resource *r, struct diag_list *dl)
{
    struct vctx v = {dl, r};
    const struct destination_rule *dr = r->spec.dr;
    if (!dr->host || !*dr->host) {
        rules_error(&v, dr, "host", -1, "set spec.host to the service this rule is for",
                    "empty domain name not allowed");
    } else {
        const char *err = rules_wildcard_domain(dr->host);
        if (err)
            rules_error(&v, dr, "host", -1, "use a service host, optionally *.suffix", "%s", err);
    }
    if (dr->traffic_policy) validate_policy(&v, dr->traffic_policy);
    for (size_t i = 0; i < dr->subsets_len; i++) {
        const struct subset *s = &dr->subsets[i];
        if (field_is_null(s)) {
            rules_error(&v, s, NULL, -1, "remove the empty item", "subset may not be null");
            continue;
        }
        if (!s->name || !*s->name) {
            rules_error(&v, s, "name", -1, "name the subset", "subset name cannot be empty");
        } else if (!rules_dns1123_label(s->name)) {
            rules_error(&v, s, "name", -1, "a subset name is a DNS-1123 label (lower case, -)",
                        "subset name is invalid: %s", s->name);
        } else {
            for (size_t j = 0; j < i; j++) {
                if (dr->subsets[j].name && !strcmp(dr->subsets[j].name, s->name)) {
                    rules_error(&v, s, "name", -1, "give each subset its own name",
                                "duplicate subset names: %s", s->name);
                    break;
                }
            }
        }
        rules_labels(&v, s, "labels", &s->labels);
        if (s->traffic_policy) validate_policy(&v, s->traffic_policy);
    }
    rules_export_to(&v, dr, &dr->export_to, false);
    if (dr->workload_selector) {
        rules_selector(&v, dr->workload_selector, "matchLabels",
                       &dr->workload_selector->match_labels);
        if (dr->export_to.len > 1) {
            rules_error(&v, dr, "exportTo", -1, "export it to \".\" only",
                        "destination rule with workload selector cannot have multiple entries in "
                        "exportTo");
        } else if (dr->export_to.len == 1 && strcmp(dr->export_to.v[0], ".") &&
                   strcmp(dr->export_to.v[0], r->ns)) {
            rules_error(&v, dr, "exportTo", 0, "export it to \".\" only",
                        "destination rule with workload selector cannot have exportTo beyond "
                        "current namespace");
        }
    }
}
