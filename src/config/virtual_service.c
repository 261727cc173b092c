/* SPDX-License-Identifier: Apache-2.0 */
/* VirtualService: the decoding tables of its messages and Istio's per-resource validation
 * (pkg/config/validation/virtualservice.go and validation.go), including the reachability
 * warnings (IST0130/IST0131) and meshlet's own warnings about retries and percentages. */
#include "config/virtual_service.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/field.h"
#include "config/rules.h"
#include "core/alloc.h"
#include "core/base64.h"
#include "core/regex.h"
#include "core/strbuf.h"

FIELD_SCHEMA(header_operations, RES_HEADER_OPERATIONS)
FIELD_SCHEMA(headers, RES_HEADERS)
FIELD_SCHEMA(http_match_request, RES_HTTP_MATCH_REQUEST)
FIELD_SCHEMA(http_route_destination, RES_HTTP_ROUTE_DESTINATION)
FIELD_SCHEMA(route_destination, RES_ROUTE_DESTINATION)
FIELD_SCHEMA(http_redirect, RES_HTTP_REDIRECT)
FIELD_SCHEMA(http_body, RES_HTTP_BODY)
FIELD_SCHEMA(http_direct_response, RES_HTTP_DIRECT_RESPONSE)
FIELD_SCHEMA(delegate, RES_DELEGATE)
FIELD_SCHEMA(regex_rewrite, RES_REGEX_REWRITE)
FIELD_SCHEMA(http_rewrite, RES_HTTP_REWRITE)
FIELD_SCHEMA(http_retry, RES_HTTP_RETRY)
FIELD_SCHEMA(fault_delay, RES_FAULT_DELAY)
FIELD_SCHEMA(fault_abort, RES_FAULT_ABORT)
FIELD_SCHEMA(http_fault_injection, RES_HTTP_FAULT_INJECTION)
FIELD_SCHEMA(http_mirror_policy, RES_HTTP_MIRROR_POLICY)
FIELD_SCHEMA(cors_policy, RES_CORS_POLICY)
FIELD_SCHEMA(http_route, RES_HTTP_ROUTE)
FIELD_SCHEMA(tls_match_attributes, RES_TLS_MATCH_ATTRIBUTES)
FIELD_SCHEMA(l4_match_attributes, RES_L4_MATCH_ATTRIBUTES)
FIELD_SCHEMA(tls_route, RES_TLS_ROUTE)
FIELD_SCHEMA(tcp_route, RES_TCP_ROUTE)
FIELD_SCHEMA(virtual_service, RES_VIRTUAL_SERVICE)

static const char *const retry_conditions[] = {"5xx",
                                               "gateway-error",
                                               "reset",
                                               "reset-before-request",
                                               "connect-failure",
                                               "retriable-4xx",
                                               "refused-stream",
                                               "retriable-status-codes",
                                               "retriable-headers",
                                               "envoy-ratelimited",
                                               "http3-post-connect-failure",
                                               "cancelled",
                                               "deadline-exceeded",
                                               "internal",
                                               "resource-exhausted",
                                               "unavailable"};

static const char *const grpc_codes[] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

int
virtual_service_grpc_code(const char *name)
{
    for (size_t i = 0; i < sizeof(grpc_codes) / sizeof(grpc_codes[0]); i++)
        if (!strcmp(grpc_codes[i], name)) return (int)i;
    return 2; /* UNKNOWN; validation rejects other names */
}

static const char *const cors_methods[] = {"GET",    "HEAD",    "POST",    "PUT",   "PATCH",
                                           "DELETE", "CONNECT", "OPTIONS", "TRACE", "*"};

static bool
in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, list[i])) return true;
    return false;
}

/* Istio host.Name.Matches: do two (wildcard) hosts overlap? */
static bool
hosts_overlap(const char *a, const char *b)
{
    bool wa = a[0] == '*', wb = b[0] == '*';
    if (!wa && !wb) return strcasecmp(a, b) == 0;
    size_t la = strlen(a), lb = strlen(b);
    if (wa && wb) {
        const char *longer = la >= lb ? a : b, *shorter = la >= lb ? b : a;
        size_t ls = strlen(shorter) - 1, ll = strlen(longer);
        return ll >= ls && strcasecmp(longer + ll - ls, shorter + 1) == 0;
    }
    const char *w = wa ? a : b, *c = wa ? b : a;
    size_t lw = strlen(w) - 1, lc = strlen(c);
    return lc >= lw && strcasecmp(c + lc - lw, w + 1) == 0;
}

static void
validate_gateway_names(struct vctx *v, const void *obj, const struct str_list *gws)
{
    for (size_t i = 0; i < gws->len; i++) {
        const char *g = gws->v[i];
        if (!strcmp(g, "mesh")) continue;
        const char *slash = strchr(g, '/');
        if (slash) {
            size_t nl = (size_t)(slash - g);
            if (nl == 0 || !slash[1]) {
                rules_error(v, obj, "gateways", (int)i, "write <namespace>/<name>",
                            "config namespace and gateway name cannot be empty");
                continue;
            }
            char ns[256];
            snprintf(ns, sizeof(ns), "%.*s", (int)nl, g);
            if (!rules_dns1123_label(ns))
                rules_error(v, obj, "gateways", (int)i, "a namespace is a DNS-1123 label",
                            "invalid value for namespace: \"%s\"", ns);
            if (!rules_dns1123_label(slash + 1))
                rules_error(v, obj, "gateways", (int)i, "a gateway name is a DNS-1123 label",
                            "invalid value for gateway name: \"%s\"", slash + 1);
        } else if (strchr(g, '.')) {
            const char *err = rules_wildcard_domain(g);
            if (err) {
                rules_error(v, obj, "gateways", (int)i, RULES_DNS_HINT, "%s", err);
            } else {
                rules_warn(v, obj, "gateways", (int)i, "write <namespace>/<name>",
                           "using legacy gatewayName format %s; prefer the <namespace>/<name> "
                           "format",
                           g);
            }
        } else if (!rules_dns1123_label(g)) {
            rules_error(v, obj, "gateways", (int)i, "a gateway name is a DNS-1123 label",
                        "invalid value for gateway name: \"%s\"", g);
        }
    }
}

static void
validate_destination(struct vctx *v, const struct destination *d, const void *parent,
                     const char *key)
{
    if (!d) {
        rules_error(v, parent, key, -1, "name the destination host", "destination is required");
        return;
    }
    if (!d->host || !*d->host) {
        rules_error(v, d, "host", -1, "set destination.host", "empty domain name not allowed");
    } else if (!strcmp(d->host, "*")) {
        rules_error(v, d, "host", -1, "name one service host", "invalid destination host *");
    } else if (!rules_is_ip(d->host)) {
        const char *err = rules_wildcard_domain(d->host);
        if (err) rules_error(v, d, "host", -1, RULES_DNS_HINT, "%s", err);
    }
    if (d->subset) {
        if (!*d->subset) {
            rules_error(v, d, "subset", -1, "remove subset or name one",
                        "subset name cannot be empty");
        } else if (!rules_dns1123_label(d->subset)) {
            rules_error(v, d, "subset", -1, "a subset name is a DNS-1123 label",
                        "subset name is invalid: %s", d->subset);
        }
    }
    if (d->port && d->port->number.set) rules_port(v, d->port, "number", d->port->number.v);
}

static void
validate_percent(struct vctx *v, const void *obj, const char *key, const struct opt_dbl *p)
{
    if (!p->set) return;
    if (p->v != 0 && (p->v < 0.0001 || p->v > 100)) {
        rules_error(v, obj, key, -1, "use 0, or a value from 0.0001 to 100",
                    "percentage %g is neither 0.0, nor in range [0.0001, 100.0]", p->v);
    }
}

/* Envoy header value syntax: %% is a literal %, %NAME% or %NAME(args)% a variable. */
static bool
header_value_ok(const char *s)
{
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x20 && *p != '\t') return false;
        if (*p != '%') continue;
        if (p[1] == '%') {
            p++;
            continue;
        }
        const char *q = p + 1;
        while ((*q >= 'A' && *q <= 'Z') || *q == '_' || (*q >= '0' && *q <= '9')) q++;
        if (q == p + 1) return false;
        if (*q == '(') {
            int depth = 0;
            while (*q) {
                if (*q == '(') depth++;
                if (*q == ')' && --depth == 0) break;
                q++;
            }
            if (*q != ')') return false;
            q++;
        }
        if (*q != '%') return false;
        p = q;
    }
    return true;
}

static void
validate_header_ops(struct vctx *v, const struct header_operations *ops, bool request,
                    const char **authority)
{
    if (!ops) return;
    const struct str_map *maps[2] = {&ops->set, &ops->add};
    const char *keys[2] = {"set", "add"};
    for (int m = 0; m < 2; m++) {
        for (size_t i = 0; i < maps[m]->len; i++) {
            const char *name = maps[m]->keys[i];
            const char *value = maps[m]->vals[i];
            bool is_authority = !strcasecmp(name, ":authority") || !strcasecmp(name, "host");
            if (request && is_authority) {
                if (*authority) {
                    rules_error(v, ops, keys[m], -1, "set the authority in one place only",
                                "authority header cannot be set multiple times: have \"%s\", "
                                "attempting to set \"%s\"",
                                *authority, value);
                }
                *authority = value;
            } else if (!request && !strcasecmp(name, "host")) {
                rules_error(v, ops, keys[m], -1, "rewrite the authority on the request instead",
                            "invalid header \"%s\": cannot set Host header", name);
            } else if (name[0] == ':') {
                rules_error(v, ops, keys[m], -1, "only :authority may be set, on requests",
                            "invalid header \"%s\": header cannot have \":\" prefix", name);
            } else if (!rules_header_name(name)) {
                rules_error(v, ops, keys[m], -1, "header names are HTTP tokens",
                            "header name %s is not a valid header name", name);
            }
            if (!header_value_ok(value)) {
                rules_error(v, ops, keys[m], -1,
                            "write a literal % as %%; variables are %NAME% or %NAME(arg)%",
                            "header value configuration %s is invalid", value);
            }
        }
    }
    for (size_t i = 0; i < ops->remove.len; i++) {
        const char *name = ops->remove.v[i];
        if (!strcasecmp(name, "host")) {
            rules_error(v, ops, "remove", (int)i, "the Host header cannot be removed",
                        "invalid header \"%s\": cannot set Host header", name);
        } else if (name[0] == ':') {
            rules_error(v, ops, "remove", (int)i, "pseudo-headers cannot be removed",
                        "invalid header \"%s\": header cannot have \":\" prefix", name);
        }
    }
}

static void
validate_headers(struct vctx *v, const struct headers *h, const char **authority)
{
    if (!h) return;
    validate_header_ops(v, h->request, true, authority);
    validate_header_ops(v, h->response, false, authority);
}

static void
validate_match_map(struct vctx *v, const struct http_match_request *m, size_t n,
                   const char *const *keys, const struct string_match *vals, const char *field,
                   bool header_names, bool gateway_bound)
{
    for (size_t i = 0; i < n; i++) {
        if (header_names) {
            if (!*keys[i]) {
                rules_error(v, m, field, -1, "name the header", "header name cannot be empty");
            } else if (!rules_header_name(keys[i])) {
                rules_error(v, m, field, -1, "header names are HTTP tokens",
                            "header name %s is not a valid header name", keys[i]);
            } else if (!strncmp(keys[i], "@request.auth.claims", 20) && !gateway_bound) {
                rules_error(v, m, field, -1, "bind the VirtualService to a gateway",
                            "JWT claim based routing (key: %s) is only supported for gateway, "
                            "found no gateways: []",
                            keys[i]);
            }
        }
        if (field_is_null(&vals[i])) {
            if (header_names) {
                /* `name:` with nothing is a presence test in YAML terms; Istio rejects null. */
                rules_error(v, m, field, -1, "write {} to test that the header is present",
                            "header match %s cannot be null", keys[i]);
            }
            continue;
        }
        /* A regex "*" is a presence test, not a regex (Istio). */
        if (vals[i].regex && !strcmp(vals[i].regex, "*") && strcmp(field, "uri")) continue;
        rules_string_match(v, &vals[i], field, false);
    }
}

static void
validate_match(struct vctx *v, const struct http_match_request *m, bool gateway_bound)
{
    if (field_is_null(m)) {
        rules_error(v, m, NULL, -1, "remove the empty item", "match may not be null");
        return;
    }
    if (m->uri) rules_string_match(v, m->uri, "uri", true);
    if (m->scheme) rules_string_match(v, m->scheme, "scheme", false);
    if (m->method) rules_string_match(v, m->method, "method", false);
    if (m->authority) rules_string_match(v, m->authority, "authority", false);
    validate_match_map(v, m, m->headers_len, m->headers_keys, m->headers, "headers", true,
                       gateway_bound);
    validate_match_map(v, m, m->without_headers_len, m->without_headers_keys, m->without_headers,
                       "withoutHeaders", true, gateway_bound);
    validate_match_map(v, m, m->query_params_len, m->query_params_keys, m->query_params,
                       "queryParams", false, gateway_bound);
    if (m->port.set) rules_port(v, m, "port", m->port.v);
    if (m->source_namespace && !rules_dns1123_label(m->source_namespace)) {
        rules_error(v, m, "sourceNamespace", -1, "a namespace is a DNS-1123 label",
                    "sourceNamespace match %s is invalid", m->source_namespace);
    }
    rules_labels(v, m, "sourceLabels", &m->source_labels);
    validate_gateway_names(v, m, &m->gateways);
}

static void
validate_retries(struct vctx *v, const struct http_retry *r)
{
    if (r->attempts.set && r->attempts.v < 0) {
        rules_error(v, r, "attempts", -1, "use 0 to disable retries",
                    "attempts cannot be negative");
    }
    if ((!r->attempts.set || r->attempts.v == 0) &&
        (r->per_try_timeout.set || (r->retry_on && *r->retry_on) ||
         r->retry_remote_localities.set)) {
        rules_warn(v, r, "attempts", -1,
                   "set attempts to the number of retries, or drop the other retry fields",
                   "http retry policy configured when attempts are set to 0 (disabled)");
    }
    rules_duration(v, r, "perTryTimeout", &r->per_try_timeout);
    rules_duration(v, r, "backoff", &r->backoff);
    if (!r->retry_on) return;
    /* Istio splits on ',' without trimming: "5xx, reset" has the token " reset". */
    const char *p = r->retry_on;
    while (*p || p == r->retry_on) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char tok[128];
        snprintf(tok, sizeof(tok), "%.*s", (int)n, p);
        char *end;
        long code = strtol(tok, &end, 10);
        /* No valid token is anywhere near sizeof(tok): a longer one is invalid as is. */
        bool ok = n < sizeof(tok) &&
                  (in_list(tok, retry_conditions, sizeof(retry_conditions) / sizeof(char *)) ||
                   (*tok && !*end && rules_known_status(code)));
        if (!ok) {
            bool spaced = n && (p[0] == ' ' || p[n - 1] == ' ');
            if (spaced) {
                rules_report(v, DIAG_ERROR, DIAG_RETRYON_SPACE, r, "retryOn", -1,
                             "Istio splits retryOn on ',' without trimming spaces, so the token "
                             "includes the space: write the list with no spaces, as in "
                             "\"5xx,reset\"",
                             "\"%s\" is not a valid retryOn policy", tok);
            } else {
                rules_error(v, r, "retryOn", -1,
                            "use Envoy retry conditions (5xx, gateway-error, reset, "
                            "connect-failure, retriable-4xx, refused-stream, ...) or HTTP status "
                            "codes",
                            "\"%s\" is not a valid retryOn policy", tok);
            }
        }
        if (!comma) break;
        p = comma + 1;
    }
}

static void
validate_fault(struct vctx *v, const struct http_fault_injection *f)
{
    if (!f->delay && !f->abort) {
        rules_error(v, f, NULL, -1, "add delay and/or abort, or remove fault",
                    "HTTP fault injection must have an abort and/or a delay");
    }
    if (f->delay) {
        const struct fault_delay *d = f->delay;
        if (d->exponential_delay.set) {
            rules_error(v, d, "exponentialDelay", -1, "use fixedDelay",
                        "exponentialDelay not supported yet");
        }
        rules_duration(v, d, "fixedDelay", &d->fixed_delay);
        validate_percent(v, d, "percentage", &d->percentage);
        if (d->percent.set && (d->percent.v < 0 || d->percent.v > 100)) {
            rules_error(v, d, "percent", -1, "use 0 to 100",
                        "percentage %" PRId64 " is not in range 0..100", d->percent.v);
        }
        if (!d->percentage.set && !d->percent.set) {
            rules_report(v, DIAG_WARNING, DIAG_PERCENT_DEFAULT, d, NULL, -1,
                         "add percentage: {value: 100} to delay every matching request",
                         "fault.delay has no percentage, so it delays 0%% of requests (a mirror "
                         "without percentage copies 100%%: the two defaults are opposite)");
        }
    }
    if (f->abort) {
        const struct fault_abort *a = f->abort;
        if (a->http_status.set && (a->http_status.v < 200 || a->http_status.v > 599)) {
            rules_error(v, a, "httpStatus", -1, "use a status from 200 to 599",
                        "HTTP status %" PRId64 " is not in range 200-599", a->http_status.v);
        }
        if (a->grpc_status &&
            !in_list(a->grpc_status, grpc_codes, sizeof(grpc_codes) / sizeof(char *))) {
            rules_error(v, a, "grpcStatus", -1,
                        "use an upper-case gRPC code name such as UNAVAILABLE",
                        "gRPC status \"%s\" is not supported. See "
                        "https://github.com/grpc/grpc/blob/master/doc/statuscodes.md",
                        a->grpc_status);
        }
        if (a->http2_error) {
            rules_error(v, a, "http2Error", -1, "use httpStatus or grpcStatus",
                        "HTTP/2 abort fault injection not supported yet");
        }
        if (!a->http_status.set && !a->grpc_status && !a->http2_error) {
            rules_warn(v, a, NULL, -1, "set httpStatus or grpcStatus",
                       "abort configured, but error type not set");
        }
        validate_percent(v, a, "percentage", &a->percentage);
        if (!a->percentage.set) {
            rules_report(v, DIAG_WARNING, DIAG_PERCENT_DEFAULT, a, NULL, -1,
                         "add percentage: {value: 100} to abort every matching request",
                         "fault.abort has no percentage, so it aborts 0%% of requests (a mirror "
                         "without percentage copies 100%%: the two defaults are opposite)");
        }
    }
}

static void
validate_mirrors(struct vctx *v, const struct http_route *h)
{
    if (h->mirror && h->mirrors_len) {
        rules_error(v, h, "mirrors", -1, "use mirrors alone (it takes a list)",
                    "HTTP route cannot contain both mirror and mirrors");
    }
    if (h->mirror) {
        validate_destination(v, h->mirror, h, "mirror");
        if (!h->mirror_percentage.set && !h->mirror_percent.set) {
            rules_report(v, DIAG_WARNING, DIAG_PERCENT_DEFAULT, h, "mirror", -1,
                         "add mirrorPercentage: {value: N} to copy only part of the traffic",
                         "mirror has no mirrorPercentage, so it copies 100%% of requests (a fault "
                         "without percentage fires on 0%%: the two defaults are opposite)");
        }
    }
    if (h->mirror_percentage.set) {
        if (h->mirror_percentage.v > 100) {
            rules_error(v, h, "mirrorPercentage", -1, "use 0 to 100",
                        "mirror_percentage must have a max value of 100 (it has %f)",
                        h->mirror_percentage.v);
        } else if (h->mirror_percentage.v < 0) {
            rules_error(v, h, "mirrorPercentage", -1, "use 0 to 100",
                        "mirror_percentage must have a min value of 0 (it has %f)",
                        h->mirror_percentage.v);
        }
    }
    if (h->mirror_percent.set) {
        rules_report(v, DIAG_WARNING, DIAG_DEPRECATED, h, "mirrorPercent", -1,
                     "use mirrorPercentage: {value: N}",
                     "using deprecated setting \"mirrorPercent\", use \"mirrorPercentage\" "
                     "instead");
        if (h->mirror_percent.v > 100) {
            rules_error(v, h, "mirrorPercent", -1, "use 0 to 100",
                        "mirror_percent must have a max value of 100 (it has %" PRId64 ")",
                        h->mirror_percent.v);
        }
    }
    for (size_t i = 0; i < h->mirrors_len; i++) {
        const struct http_mirror_policy *m = &h->mirrors[i];
        if (field_is_null(m)) {
            rules_error(v, m, NULL, -1, "remove the empty item", "mirror may not be null");
            continue;
        }
        validate_destination(v, m->destination, m, "destination");
        if (m->percentage.set && (m->percentage.v > 100 || m->percentage.v < 0)) {
            rules_error(v, m, "percentage", -1, "use 0 to 100",
                        "mirror percentage must have a max value of 100 (it has %f)",
                        m->percentage.v);
        }
    }
}

static void
validate_rewrite(struct vctx *v, const struct http_rewrite *rw, const char **authority)
{
    if (rw->uri && rw->uri_regex_rewrite) {
        rules_error(v, rw, NULL, -1, "keep uri or uriRegexRewrite",
                    "rewrite may only contain one of URI or UriRegexRewrite");
    }
    if (!rw->uri && !rw->uri_regex_rewrite && !rw->authority) {
        rules_error(v, rw, NULL, -1, "set uri, uriRegexRewrite or authority",
                    "rewrite must specify at least one of URI, UriRegexRewrite, or authority. "
                    "Only one of URI or UriRegexRewrite may be specified");
    }
    if (rw->uri_regex_rewrite) {
        const struct regex_rewrite *rr = rw->uri_regex_rewrite;
        if (!rr->match || !rr->rewrite) {
            rules_error(v, rr, NULL, -1, "set both match and rewrite",
                        "UriRegexRewrite requires both Rewrite and Match fields to be specified");
        } else {
            rules_regex(v, rr, "match", "uriRegexRewrite.match", rr->match);
        }
    }
    if (rw->authority) {
        if (*authority) {
            rules_error(v, rw, "authority", -1, "set the authority in one place only",
                        "authority header cannot be set multiple times: have \"%s\", attempting "
                        "to set \"%s\"",
                        *authority, rw->authority);
        }
        *authority = rw->authority;
    }
}

static void
validate_redirect(struct vctx *v, const struct http_route *h)
{
    const struct http_redirect *rd = h->redirect;
    if (!rd->uri && !rd->prefix_rewrite && !rd->authority && !rd->scheme && !rd->port.set &&
        !rd->derive_port.set) {
        rules_error(v, rd, NULL, -1, "set uri, authority, scheme or port",
                    "redirect must specify URI, authority, scheme, or port");
    }
    if (rd->uri && rd->prefix_rewrite) {
        rules_error(v, rd, "prefixRewrite", -1, "keep one of uri or prefixRewrite",
                    "redirect may only specify one of uri or prefix_rewrite");
    }
    if (rd->prefix_rewrite) {
        for (size_t i = 0; i < h->match_len; i++) {
            const struct string_match *u = h->match[i].uri;
            if (u && !u->prefix) {
                rules_error(v, rd, "prefixRewrite", -1, "match uri by prefix in this rule",
                            "redirect prefix_rewrite requires all URI matches to use prefix "
                            "match type");
                break;
            }
        }
    }
    if (rd->scheme && strcmp(rd->scheme, "http") && strcmp(rd->scheme, "https")) {
        rules_error(v, rd, "scheme", -1, "use http or https",
                    "invalid redirect scheme, must be \"http\" or \"https\"");
    }
    if (rd->port.set) rules_port(v, rd, "port", rd->port.v);
    if (rd->redirect_code.set && rd->redirect_code.v != 0) {
        int64_t c = rd->redirect_code.v;
        if (c < 300 || c > 399) {
            rules_error(v, rd, "redirectCode", -1, "use 301, 302, 303, 307 or 308",
                        "%" PRId64 " is not a valid redirect code, must be 3xx", c);
        } else if (c != 301 && c != 302 && c != 303 && c != 307 && c != 308) {
            rules_warn(v, rd, "redirectCode", -1, "use 301, 302, 303, 307 or 308",
                       "Redirect Code %" PRId64 " is not yet supported", c);
        }
    }
}

static void
validate_direct_response(struct vctx *v, const struct http_direct_response *dr)
{
    if (!dr->status.set || dr->status.v < 200 || dr->status.v > 599) {
        rules_error(v, dr, "status", -1, "use a status from 200 to 599",
                    "status %" PRId64 " is not in range 200-599", dr->status.v);
    }
    if (!dr->body) return;
    if (dr->body->string && dr->body->bytes) {
        rules_error(v, dr->body, NULL, -1, "keep string or bytes",
                    "only one of string or bytes may be set");
    }
    size_t len = dr->body->string ? strlen(dr->body->string) : 0;
    if (dr->body->bytes) {
        size_t n = strlen(dr->body->bytes);
        unsigned char *tmp = xmalloc(base64_decoded_max(n) + 1);
        ssize_t got = base64_decode(dr->body->bytes, n, tmp);
        free(tmp);
        if (got < 0) {
            rules_error(v, dr->body, "bytes", -1, "give the body base64-encoded, or use string",
                        "bytes is not valid base64");
        }
        len = got > 0 ? (size_t)got : 0;
    }
    if (len > (1u << 20)) {
        rules_error(v, dr->body, NULL, -1, "serve large bodies from an upstream",
                    "large direct_responses may impact control plane performance, must be less "
                    "than 1MB");
    } else if (len > 100 * 1024) {
        rules_warn(v, dr->body, NULL, -1, "serve large bodies from an upstream",
                   "large direct_responses may impact control plane performance");
    }
}

static void
validate_cors(struct vctx *v, const struct cors_policy *c)
{
    for (size_t i = 0; i < c->allow_origins_len; i++) {
        const struct string_match *m = &c->allow_origins[i];
        if (field_is_null(m) || (!m->exact && !m->prefix && !m->regex)) {
            rules_error(v, c, "allowOrigins", (int)i, "give exact, prefix or regex",
                        "'%s' is not a valid match type for CORS allow origins", "{}");
            continue;
        }
        rules_string_match(v, m, "allowOrigins", false);
    }
    for (size_t i = 0; i < c->allow_methods.len; i++) {
        if (!in_list(c->allow_methods.v[i], cors_methods, sizeof(cors_methods) / sizeof(char *)))
            rules_error(v, c, "allowMethods", (int)i, "use GET, POST, PUT, ... or *",
                        "\"%s\" is not a supported HTTP method", c->allow_methods.v[i]);
    }
    const struct str_list *lists[2] = {&c->allow_headers, &c->expose_headers};
    const char *keys[2] = {"allowHeaders", "exposeHeaders"};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < lists[l]->len; i++) {
            const char *h = lists[l]->v[i];
            if (strcmp(h, "*") && !rules_header_name(h))
                rules_error(v, c, keys[l], (int)i, "header names are HTTP tokens",
                            "header name %s is not a valid header name", h);
        }
    }
    if (c->max_age.set) {
        if (c->max_age.ns % 1000000000) {
            rules_error(v, c, "maxAge", -1, "use whole seconds",
                        "max_age duration is accurate only to seconds precision");
        } else {
            rules_duration(v, c, "maxAge", &c->max_age);
        }
    }
}

static void
format_dur(char *buf, size_t n, int64_t ns)
{
    if (ns % 1000000000 == 0) {
        snprintf(buf, n, "%" PRId64 "s", ns / 1000000000);
    } else {
        snprintf(buf, n, "%" PRId64 "ms", ns / 1000000);
    }
}

static void
check_timeout_vs_retries(struct vctx *v, const struct http_route *h)
{
    const struct http_retry *r = h->retries;
    if (!h->timeout.set || !r || !r->per_try_timeout.set || !r->attempts.set || r->attempts.v <= 0)
        return;
    int64_t need = r->per_try_timeout.ns * (r->attempts.v + 1);
    if (h->timeout.ns >= need) return;
    char t[32], p[32], nd[32];
    format_dur(t, sizeof(t), h->timeout.ns);
    format_dur(p, sizeof(p), r->per_try_timeout.ns);
    format_dur(nd, sizeof(nd), need);
    char hint[256];
    snprintf(hint, sizeof(hint),
             "raise timeout to at least %s, or lower perTryTimeout or attempts; the route "
             "timeout covers every try",
             nd);
    rules_report(v, DIAG_WARNING, DIAG_TIMEOUT_TOO_SHORT, h, "timeout", -1, hint,
                 "timeout %s is shorter than perTryTimeout %s x %" PRId64
                 " tries (%s): the last retries can never run",
                 t, p, r->attempts.v + 1, nd);
}

/* The weighted destinations of one route, Istio's validateHTTPRouteDestinations and the
 * destination part of validateTCPRoute / validateTLSRoute: each item's destination and
 * weight, and a positive total when there are several. <what> is NULL for an HTTP route:
 * its <n> items are <http> (they may carry header operations, and there may be none:
 * redirect, directResponse). Otherwise it names the TCP or TLS route in messages, its items
 * are <l4>, and one is required. */
static void
validate_destinations(struct vctx *v, const void *parent, size_t n,
                      const struct http_route_destination *http, const struct route_destination *l4,
                      const char *what, const char **authority)
{
    bool is_http = !what;
    if (!is_http && n == 0) {
        rules_error(v, parent, "route", -1, "add a route with a destination",
                    "%s route is required", what);
    }
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const void *d = is_http ? (const void *)&http[i] : (const void *)&l4[i];
        const struct destination *dest = is_http ? http[i].destination : l4[i].destination;
        const struct opt_int *weight = is_http ? &http[i].weight : &l4[i].weight;
        if (field_is_null(d)) {
            rules_error(v, d, NULL, -1, "remove the empty item", "weight may not be nil");
            continue;
        }
        validate_destination(v, dest, d, "destination");
        if (weight->set && weight->v < 0) {
            rules_error(v, d, "weight", -1, "use a weight of 0 or more; weights are relative",
                        "weight %" PRId64 " < 0", weight->v);
        }
        if (weight->set && weight->v > 0) total += weight->v;
        if (is_http && http[i].headers) {
            const char *dest_authority = *authority;
            validate_headers(v, http[i].headers, &dest_authority);
        }
    }
    if (n > 1 && total == 0) {
        rules_error(v, parent, "route", -1,
                    is_http
                        ? "give at least one destination a positive weight; weights are relative"
                        : "give at least one destination a positive weight",
                    "total destination weight = 0");
    }
}

static void
validate_http_route(struct vctx *v, const struct virtual_service *vs, const struct http_route *h,
                    bool delegate_vs, bool gateway_bound)
{
    if (field_is_null(h)) {
        rules_error(v, h, NULL, -1, "remove the empty item", "http route may not be null");
        return;
    }
    (void)vs;
    bool route = h->route_len > 0;
    if (h->delegate) {
        if (delegate_vs) {
            rules_error(v, h, "delegate", -1, "delegation is one level deep",
                        "delegate HTTP route cannot contain delegate");
        }
        const char *id = h->name ? h->name : "";
        if (route)
            rules_error(v, h, "route", -1, "remove route; the delegate supplies the routes",
                        "root HTTP route %s must not specify route", id);
        if (h->redirect)
            rules_error(v, h, "redirect", -1, "remove redirect; the delegate decides",
                        "root HTTP route %s must not specify redirect", id);
        if (!h->delegate->name || !*h->delegate->name)
            rules_error(v, h->delegate, "name", -1, "name the delegate VirtualService",
                        "delegate name is required");
    } else if (!route && !h->redirect && !h->direct_response) {
        rules_error(v, h, NULL, -1, "add route, redirect or directResponse",
                    "HTTP route, redirect or direct_response is required");
    }
    if (h->redirect) {
        if (route)
            rules_error(v, h, "redirect", -1, "keep route or redirect",
                        "HTTP route cannot contain both route and redirect");
        if (h->fault)
            rules_error(v, h, "fault", -1, "faults apply to routed requests only",
                        "HTTP route cannot contain both fault and redirect");
        if (h->rewrite)
            rules_error(v, h, "rewrite", -1, "keep rewrite or redirect",
                        "HTTP route rule cannot contain both rewrite and redirect");
        if (h->direct_response)
            rules_error(v, h, "directResponse", -1, "keep redirect or directResponse",
                        "HTTP route rule cannot contain both direct_response and redirect");
        validate_redirect(v, h);
    }
    if (h->direct_response) {
        if (route)
            rules_error(v, h, "directResponse", -1, "keep route or directResponse",
                        "HTTP route cannot contain both route and direct_response");
        if (h->fault)
            rules_error(v, h, "fault", -1, "faults apply to routed requests only",
                        "HTTP route cannot contain both fault and direct_response");
        if (h->rewrite)
            rules_error(v, h, "rewrite", -1, "keep rewrite or directResponse",
                        "HTTP route rule cannot contain both rewrite and direct_response");
        validate_direct_response(v, h->direct_response);
    }
    for (size_t i = 0; i < h->match_len; i++) validate_match(v, &h->match[i], gateway_bound);

    const char *authority = NULL;
    if (h->rewrite) validate_rewrite(v, h->rewrite, &authority);
    validate_headers(v, h->headers, &authority);
    validate_destinations(v, h, h->route_len, h->route, NULL, NULL, &authority);
    rules_duration(v, h, "timeout", &h->timeout);
    if (h->retries) validate_retries(v, h->retries);
    if (h->fault) validate_fault(v, h->fault);
    validate_mirrors(v, h);
    if (h->cors_policy) validate_cors(v, h->cors_policy);
    check_timeout_vs_retries(v, h);
}

/* A canonical text of a match block without its name, to find duplicates (Istio compares
 * the JSON of the block). */
static void
match_key_sm(struct strbuf *sb, const char *field, const struct string_match *m)
{
    if (!m) return;
    strbuf_printf(sb, "%s{", field);
    if (m->exact) strbuf_printf(sb, "e=%s;", m->exact);
    if (m->prefix) strbuf_printf(sb, "p=%s;", m->prefix);
    if (m->regex) strbuf_printf(sb, "r=%s;", m->regex);
    strbuf_puts(sb, "}");
}

static void
match_key_map(struct strbuf *sb, const char *field, size_t n, const char *const *keys,
              const struct string_match *vals)
{
    /* Go marshals maps with sorted keys; sort indices by key. */
    size_t order[64];
    if (n > 64) n = 64;
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(keys[order[j - 1]], keys[order[j]]) > 0; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        strbuf_printf(sb, "%s.%s", field, keys[order[i]]);
        match_key_sm(sb, "", &vals[order[i]]);
    }
}

static void
match_key(struct strbuf *sb, const struct http_match_request *m, bool skip_uri_and_method)
{
    if (!skip_uri_and_method) {
        match_key_sm(sb, "uri", m->uri);
        match_key_sm(sb, "method", m->method);
    }
    match_key_sm(sb, "scheme", m->scheme);
    match_key_sm(sb, "authority", m->authority);
    match_key_map(sb, "h", m->headers_len, m->headers_keys, m->headers);
    match_key_map(sb, "q", m->query_params_len, m->query_params_keys, m->query_params);
    match_key_map(sb, "w", m->without_headers_len, m->without_headers_keys, m->without_headers);
    if (m->port.set) strbuf_printf(sb, "port=%" PRId64 ";", m->port.v);
    for (size_t i = 0; i < m->source_labels.len; i++)
        strbuf_printf(sb, "sl.%s=%s;", m->source_labels.keys[i], m->source_labels.vals[i]);
    for (size_t i = 0; i < m->gateways.len; i++) strbuf_printf(sb, "gw=%s;", m->gateways.v[i]);
    if (m->ignore_uri_case.set) strbuf_printf(sb, "icase=%d;", m->ignore_uri_case.v);
    if (m->source_namespace) strbuf_printf(sb, "sns=%s;", m->source_namespace);
    if (m->stat_prefix) strbuf_printf(sb, "sp=%s;", m->stat_prefix);
}

/* A later prefix match that an earlier, shorter prefix with otherwise identical conditions
 * covers can never win (first match wins). A block without method counts as GET. */
static bool
prefix_covered(const struct http_match_request *earlier, const struct http_match_request *later)
{
    if (!earlier->uri || !later->uri || !earlier->uri->prefix || !later->uri->prefix) return false;
    if (earlier->uri->exact || earlier->uri->regex || later->uri->exact || later->uri->regex)
        return false;
    if (strncmp(later->uri->prefix, earlier->uri->prefix, strlen(earlier->uri->prefix)))
        return false;
    const char *me = earlier->method && earlier->method->exact ? earlier->method->exact : "GET";
    const char *ml = later->method && later->method->exact ? later->method->exact : "GET";
    if ((earlier->method && !earlier->method->exact) || (later->method && !later->method->exact))
        return false;
    if (strcmp(me, ml)) return false;
    struct strbuf a, b;
    strbuf_init(&a, 1 << 16);
    strbuf_init(&b, 1 << 16);
    match_key(&a, earlier, true);
    match_key(&b, later, true);
    bool same = !strcmp(strbuf_str(&a), strbuf_str(&b));
    strbuf_fini(&a);
    strbuf_fini(&b);
    return same;
}

/* One rule as the reachability check sees it: its match blocks as canonical keys. */
struct reach_rule {
    const void *obj;          /* the rule (for the report) */
    const char *name;         /* may be NULL */
    size_t n;                 /* match blocks */
    char **keys;              /* owned: canonical text per block */
    const void **matches;     /* owned array of borrowed blocks */
    const char **match_names; /* owned array of borrowed names (may be NULL) */
};

static const char *
reach_id(char *buf, size_t n, const char *name, size_t i)
{
    if (name && *name) {
        snprintf(buf, n, "\"%s\"", name);
    } else {
        snprintf(buf, n, "#%zu", i);
    }
    return buf;
}

/* Istio's analyzeUnreachable{HTTP,TCP,TLS}Rules: a second rule without matches, rules after
 * a match-less rule, and match blocks an earlier rule already has (or, for HTTP, covers
 * with a shorter prefix) can never be used. */
static void
reach_check(struct vctx *v, struct reach_rule *rules, size_t n_rules)
{
    ssize_t empty_rule = -1;
    char id[160], mid[160], did[160];
    for (size_t i = 0; i < n_rules; i++) {
        struct reach_rule *rr = &rules[i];
        if (!rr->obj) continue;
        if (rr->n == 0) {
            if (empty_rule >= 0) {
                rules_report(v, DIAG_WARNING, DIAG_UNREACHABLE_RULE, rr->obj, NULL, -1,
                             "give this rule a match, or remove it",
                             "VirtualService rule %s not used (only the last rule can have no "
                             "matches).",
                             reach_id(id, sizeof(id), rr->name, i));
            }
            empty_rule = (ssize_t)i;
            continue;
        }
        if (empty_rule >= 0) {
            rules_report(v, DIAG_WARNING, DIAG_UNREACHABLE_RULE, rr->obj, NULL, -1,
                         "move this rule above the rule without matches",
                         "VirtualService rule %s not used (route without matches defined "
                         "before).",
                         reach_id(id, sizeof(id), rr->name, i));
            continue;
        }
        /* Istio counts only exact duplicates towards an unused rule (IST0130); a match an
         * earlier shorter prefix covers is an ineffective match (IST0131) alone. */
        size_t dups = 0;
        for (size_t j = 0; j < rr->n; j++) {
            ssize_t hit = -1, hit_m = -1; /* the rule and block that make it unused */
            bool exact = false;
            for (size_t k = 0; k <= i && !exact; k++) {
                /* earlier rules, then earlier blocks of this one (Istio records blocks as it
                 * goes) */
                for (size_t m = 0; m < (k < i ? rules[k].n : j) && !exact; m++) {
                    if (!strcmp(rules[k].keys[m], rr->keys[j])) {
                        exact = true;
                    } else if (!(hit < 0 && rr->match_names && /* HTTP only */
                                 prefix_covered(rules[k].matches[m], rr->matches[j]))) {
                        continue;
                    }
                    hit = (ssize_t)k;
                    hit_m = (ssize_t)m;
                }
            }
            if (hit < 0) continue;
            dups += exact;
            reach_id(id, sizeof(id), rr->name, i);
            reach_id(mid, sizeof(mid), rr->match_names ? rr->match_names[j] : NULL, j);
            reach_id(did, sizeof(did), rules[hit].name, (size_t)hit);
            if (exact) {
                rules_report(v, DIAG_INFO, DIAG_INEFFECTIVE_MATCH, rr->matches[j], NULL, -1,
                             "remove this match block or make it more specific",
                             "VirtualService rule %s match %s is not used (duplicate/overlapping "
                             "match in rule %s).",
                             id, mid, did);
                continue;
            }
            /* Istio's words for an overlap: each block with its prefix, the earlier one's
             * rule last ("match in rule #0 of prefix /a on #0"). */
            const struct http_match_request *later = rr->matches[j];
            const struct http_match_request *earlier = rules[hit].matches[hit_m];
            char eid[160];
            reach_id(eid, sizeof(eid), rules[hit].match_names[hit_m], (size_t)hit_m);
            rules_report(v, DIAG_INFO, DIAG_INEFFECTIVE_MATCH, later, NULL, -1,
                         "remove this match block or make it more specific",
                         "VirtualService rule %s match %s of prefix %s is not used "
                         "(duplicate/overlapping match in rule %s of prefix %s on %s).",
                         id, mid, later->uri->prefix, eid, earlier->uri->prefix, did);
        }
        if (dups == rr->n) {
            rules_report(v, DIAG_WARNING, DIAG_UNREACHABLE_RULE, rr->obj, NULL, -1,
                         "remove the rule or change its matches",
                         "VirtualService rule %s not used (all matches used by prior rules).",
                         reach_id(id, sizeof(id), rr->name, i));
        }
    }
    for (size_t i = 0; i < n_rules; i++) {
        for (size_t j = 0; j < rules[i].n; j++) free(rules[i].keys[j]);
        free(rules[i].keys);
        free(rules[i].matches);
        free(rules[i].match_names);
    }
    free(rules);
}

static char *
take(struct strbuf *sb)
{
    char *s = sb->data ? sb->data : xcalloc(1, 1);
    sb->data = NULL;
    return s;
}

static void
l4_key(struct strbuf *sb, const struct str_list *subnets, const struct opt_int *port,
       const struct str_map *labels, const struct str_list *gateways, const char *sns,
       const struct str_list *sni)
{
    for (size_t i = 0; sni && i < sni->len; i++) strbuf_printf(sb, "sni=%s;", sni->v[i]);
    for (size_t i = 0; i < subnets->len; i++) strbuf_printf(sb, "net=%s;", subnets->v[i]);
    if (port->set) strbuf_printf(sb, "port=%" PRId64 ";", port->v);
    for (size_t i = 0; i < labels->len; i++)
        strbuf_printf(sb, "sl.%s=%s;", labels->keys[i], labels->vals[i]);
    for (size_t i = 0; i < gateways->len; i++) strbuf_printf(sb, "gw=%s;", gateways->v[i]);
    if (sns) strbuf_printf(sb, "sns=%s;", sns);
}

static struct reach_rule *
reach_rule_init(struct reach_rule *rr, const void *obj, const char *name, size_t n, bool http)
{
    rr->obj = obj;
    rr->name = name;
    rr->n = n;
    rr->keys = xcalloc(n + 1, sizeof(char *));
    rr->matches = xcalloc(n + 1, sizeof(void *));
    if (http) rr->match_names = xcalloc(n + 1, sizeof(char *));
    return rr;
}

/* Record match block <j> of <rr> with the canonical text built in <sb>. */
static void
reach_rule_set(struct reach_rule *rr, size_t j, struct strbuf *sb, const void *match,
               const char *name)
{
    rr->keys[j] = take(sb);
    rr->matches[j] = match;
    if (rr->match_names) rr->match_names[j] = name;
}

static void
analyze_reachability(struct vctx *v, const struct virtual_service *vs)
{
    struct strbuf sb;
    struct reach_rule *rules = xcalloc(vs->http_len + 1, sizeof(*rules));
    for (size_t i = 0; i < vs->http_len; i++) {
        const struct http_route *h = &vs->http[i];
        if (field_is_null(h)) continue;
        struct reach_rule *rr = reach_rule_init(&rules[i], h, h->name, h->match_len, true);
        for (size_t j = 0; j < h->match_len; j++) {
            strbuf_init(&sb, 1 << 16);
            match_key(&sb, &h->match[j], false);
            reach_rule_set(rr, j, &sb, &h->match[j], h->match[j].name);
        }
    }
    reach_check(v, rules, vs->http_len);

    rules = xcalloc(vs->tcp_len + 1, sizeof(*rules));
    for (size_t i = 0; i < vs->tcp_len; i++) {
        const struct tcp_route *t = &vs->tcp[i];
        if (field_is_null(t)) continue;
        struct reach_rule *rr = reach_rule_init(&rules[i], t, NULL, t->match_len, false);
        for (size_t j = 0; j < t->match_len; j++) {
            const struct l4_match_attributes *m = &t->match[j];
            strbuf_init(&sb, 1 << 16);
            l4_key(&sb, &m->destination_subnets, &m->port, &m->source_labels, &m->gateways,
                   m->source_namespace, NULL);
            reach_rule_set(rr, j, &sb, m, NULL);
        }
    }
    reach_check(v, rules, vs->tcp_len);

    rules = xcalloc(vs->tls_len + 1, sizeof(*rules));
    for (size_t i = 0; i < vs->tls_len; i++) {
        const struct tls_route *t = &vs->tls[i];
        if (field_is_null(t)) continue;
        struct reach_rule *rr = reach_rule_init(&rules[i], t, NULL, t->match_len, false);
        for (size_t j = 0; j < t->match_len; j++) {
            const struct tls_match_attributes *m = &t->match[j];
            strbuf_init(&sb, 1 << 16);
            l4_key(&sb, &m->destination_subnets, &m->port, &m->source_labels, &m->gateways,
                   m->source_namespace, &m->sni_hosts);
            reach_rule_set(rr, j, &sb, m, NULL);
        }
    }
    reach_check(v, rules, vs->tls_len);
}

static void
validate_tcp_routes(struct vctx *v, const struct virtual_service *vs)
{
    for (size_t i = 0; i < vs->tcp_len; i++) {
        const struct tcp_route *t = &vs->tcp[i];
        if (field_is_null(t)) {
            rules_error(v, t, NULL, -1, "remove the empty item", "tcp route may not be null");
            continue;
        }
        for (size_t j = 0; j < t->match_len; j++) {
            const struct l4_match_attributes *m = &t->match[j];
            if (field_is_null(m)) {
                rules_error(v, m, NULL, -1, "remove the empty item", "tcp match may not be nil");
                continue;
            }
            for (size_t k = 0; k < m->destination_subnets.len; k++) {
                const char *s = m->destination_subnets.v[k];
                if (!rules_is_ip(s) && !rules_is_cidr(s))
                    rules_error(v, m, "destinationSubnets", (int)k, "use an IP or a CIDR block",
                                "%s is not a valid CIDR block", s);
            }
            if (m->port.set) rules_port(v, m, "port", m->port.v);
            rules_labels(v, m, "sourceLabels", &m->source_labels);
            validate_gateway_names(v, m, &m->gateways);
        }
        validate_destinations(v, t, t->route_len, NULL, t->route, "TCP", NULL);
    }
}

static void
validate_tls_routes(struct vctx *v, const struct virtual_service *vs)
{
    for (size_t i = 0; i < vs->tls_len; i++) {
        const struct tls_route *t = &vs->tls[i];
        if (field_is_null(t)) {
            rules_error(v, t, NULL, -1, "remove the empty item", "tls route may not be null");
            continue;
        }
        if (t->match_len == 0) {
            rules_error(v, t, "match", -1, "add a match with sniHosts",
                        "TLS route must have at least one match condition");
        }
        for (size_t j = 0; j < t->match_len; j++) {
            const struct tls_match_attributes *m = &t->match[j];
            if (field_is_null(m) || m->sni_hosts.len == 0) {
                rules_error(v, m, "sniHosts", -1, "list the SNI hosts to match",
                            "TLS match must have at least one SNI host");
                continue;
            }
            for (size_t k = 0; k < m->sni_hosts.len; k++) {
                const char *sni = m->sni_hosts.v[k];
                if (rules_is_ip(sni)) {
                    rules_warn(v, m, "sniHosts", (int)k, "use a DNS name",
                               "using an IP address (\"%s\") goes against SNI spec and most "
                               "clients do not support this",
                               sni);
                    continue;
                }
                const char *err = rules_wildcard_domain(sni);
                if (err) rules_error(v, m, "sniHosts", (int)k, RULES_DNS_HINT, "%s", err);
            }
            if (m->port.set) rules_port(v, m, "port", m->port.v);
            validate_gateway_names(v, m, &m->gateways);
        }
        validate_destinations(v, t, t->route_len, NULL, t->route, "TLS", NULL);
    }
}

void
virtual_service_validate(const struct resource *r, struct diag_list *dl)
{
    struct vctx v = {dl, r};
    const struct virtual_service *vs = r->spec.vs;
    bool delegate_vs = vs->hosts.len == 0;
    bool mesh = config_mesh_bound(&vs->gateways);

    if (!vs->http_len && !vs->tcp_len && !vs->tls_len) {
        rules_error(&v, vs, NULL, -1, "add http, tcp or tls routes",
                    "http, tcp or tls must be provided in virtual service");
    }
    /* Without hosts a VirtualService is a delegate (Istio's validation, delegation on), and
     * a delegate has no gateways, tls or tcp. Say that it is hosts that is missing, since a
     * user who forgot them never meant to write a delegate. */
    if (delegate_vs) {
        static const char hostless[] =
            "hosts is required unless this VirtualService is a delegate (one that another "
            "VirtualService names in http[].delegate), and a ";
        const char *hint = "add hosts; a delegate takes its hosts and gateways from the "
                           "VirtualService that names it";
        if (vs->gateways.len)
            rules_error(&v, vs, "gateways", -1, hint,
                        "%sdelegate virtual service must have no gateways specified", hostless);
        if (vs->tls_len)
            rules_error(&v, vs, "tls", -1, hint,
                        "%sdelegate virtual service must have no tls route specified", hostless);
        if (vs->tcp_len)
            rules_error(&v, vs, "tcp", -1, hint,
                        "%sdelegate virtual service must have no tcp route specified", hostless);
    }
    for (size_t i = 0; i < vs->hosts.len; i++) {
        const char *h = vs->hosts.v[i];
        if (!strcmp(h, "*") && mesh) {
            rules_error(&v, vs, "hosts", (int)i, "name the hosts, or bind to a gateway",
                        "wildcard host * is not allowed for virtual services bound to the mesh "
                        "gateway");
            continue;
        }
        if (!rules_is_ip(h)) {
            const char *err = rules_wildcard_domain(h);
            if (err) rules_error(&v, vs, "hosts", (int)i, RULES_DNS_HINT, "%s", err);
        }
        for (size_t j = 0; j < i; j++) {
            if (hosts_overlap(vs->hosts.v[j], h))
                rules_error(&v, vs, "hosts", (int)i, "list each host once",
                            "duplicate hosts in virtual service: %s & %s", vs->hosts.v[j], h);
        }
    }
    validate_gateway_names(&v, vs, &vs->gateways);
    rules_export_to(&v, vs, &vs->export_to, false);

    bool gateway_bound = !mesh || vs->gateways.len > 1;
    for (size_t i = 0; i < vs->http_len; i++)
        validate_http_route(&v, vs, &vs->http[i], delegate_vs, gateway_bound);
    validate_tcp_routes(&v, vs);
    validate_tls_routes(&v, vs);
    analyze_reachability(&v, vs);
}
