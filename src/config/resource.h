/* SPDX-License-Identifier: Apache-2.0 */
/* Typed structs for every Istio kind meshlet reads, and the Kubernetes objects that feed
 * analysis. Each message is declared once as a field list; the list makes both the struct
 * (here) and its decoding table (field.c and the per-kind files). Field names are the
 * proto names, so snake_case YAML keys decode as jsonpb decodes them. */
#ifndef MESHLET_CONFIG_RESOURCE_H
#define MESHLET_CONFIG_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/port_protocol.h"

struct fy_node;
struct fy_document;
struct sticky_split;

/* Values of wrapper and scalar fields keep a presence bit (Istio tells unset from 0). */
struct opt_int {
    bool set;
    int64_t v;
};
struct opt_bool {
    bool set;
    bool v;
};
struct opt_dbl {
    bool set;
    double v;
};
struct opt_dur {
    bool set;
    int64_t ns; /* nanoseconds */
};
struct opt_enum {
    bool set;
    int v; /* index in the enum's name table */
};
struct str_list {
    size_t len;
    const char **v; /* arena */
};
struct str_map {
    size_t len;
    const char **keys; /* arena */
    const char **vals; /* arena */
};
struct int_map {
    size_t len;
    const char **keys;
    int64_t *vals;
};

/* Every decoded struct starts with this: where it came from. */
struct res_obj {
    struct fy_node *node; /* borrowed from the resource's document: valid only while that
                           * document is loaded (during config_load); see resource.doc_live */
    const char *path;     /* field path of this struct, e.g. "spec.http[0]" */
    bool is_null;         /* written as null (`~` or empty), or not a mapping: no fields */
};

/* clang-format off */
/* Member declarations per field kind. */
#define RES_M_STR(n, s) const char *n;
#define RES_M_I32(n, s) struct opt_int n;
#define RES_M_U32(n, s) struct opt_int n;
#define RES_M_U64(n, s) struct opt_int n;
#define RES_M_BOOL(n, s) struct opt_bool n;
#define RES_M_DBL(n, s) struct opt_dbl n;
#define RES_M_DUR(n, s) struct opt_dur n;
#define RES_M_PCT(n, s) struct opt_dbl n;
#define RES_M_ENUM(n, s) struct opt_enum n;
#define RES_M_STRS(n, s) struct str_list n;
#define RES_M_SMAP(n, s) struct str_map n;
#define RES_M_IMAP(n, s) struct int_map n;
#define RES_M_OBJ(n, s) struct s *n;
#define RES_M_LIST(n, s)                                                                 \
    size_t n##_len;                                                                      \
    struct s *n;
#define RES_M_MAP(n, s)                                                                  \
    size_t n##_len;                                                                      \
    const char **n##_keys;                                                               \
    struct s *n;
#define RES_MEMBER(T, n, json, kind, sub) RES_M_##kind(n, sub)
#define RES_STRUCT(T, FIELDS)                                                            \
    struct T {                                                                           \
        struct res_obj obj;                                                              \
        FIELDS(RES_MEMBER, T)                                                            \
    };

/* ---- shared messages ---- */
#define RES_STRING_MATCH(X, T)                                                           \
    X(T, exact, "exact", STR, _)                                                         \
    X(T, prefix, "prefix", STR, _)                                                       \
    X(T, regex, "regex", STR, _)
#define RES_PORT_SELECTOR(X, T) X(T, number, "number", U32, _)
#define RES_DESTINATION(X, T)                                                            \
    X(T, host, "host", STR, _)                                                           \
    X(T, subset, "subset", STR, _)                                                       \
    X(T, port, "port", OBJ, port_selector)
#define RES_WORKLOAD_SELECTOR(X, T) X(T, match_labels, "matchLabels", SMAP, _)
#define RES_SE_WORKLOAD_SELECTOR(X, T) X(T, labels, "labels", SMAP, _)
#define RES_SERVICE_PORT(X, T)                                                           \
    X(T, number, "number", U32, _)                                                       \
    X(T, protocol, "protocol", STR, _)                                                   \
    X(T, name, "name", STR, _)                                                           \
    X(T, target_port, "targetPort", U32, _)
#define RES_WORKLOAD_ENTRY(X, T)                                                         \
    X(T, address, "address", STR, _)                                                     \
    X(T, ports, "ports", IMAP, _)                                                        \
    X(T, labels, "labels", SMAP, _)                                                      \
    X(T, network, "network", STR, _)                                                     \
    X(T, locality, "locality", STR, _)                                                   \
    X(T, weight, "weight", U32, _)                                                       \
    X(T, service_account, "serviceAccount", STR, _)

/* ---- VirtualService ---- */
#define RES_HEADER_OPERATIONS(X, T)                                                      \
    X(T, set, "set", SMAP, _)                                                            \
    X(T, add, "add", SMAP, _)                                                            \
    X(T, remove, "remove", STRS, _)
#define RES_HEADERS(X, T)                                                                \
    X(T, request, "request", OBJ, header_operations)                                     \
    X(T, response, "response", OBJ, header_operations)
#define RES_HTTP_MATCH_REQUEST(X, T)                                                     \
    X(T, name, "name", STR, _)                                                           \
    X(T, uri, "uri", OBJ, string_match)                                                  \
    X(T, scheme, "scheme", OBJ, string_match)                                            \
    X(T, method, "method", OBJ, string_match)                                            \
    X(T, authority, "authority", OBJ, string_match)                                      \
    X(T, headers, "headers", MAP, string_match)                                          \
    X(T, port, "port", U32, _)                                                           \
    X(T, source_labels, "sourceLabels", SMAP, _)                                         \
    X(T, gateways, "gateways", STRS, _)                                                  \
    X(T, query_params, "queryParams", MAP, string_match)                                 \
    X(T, ignore_uri_case, "ignoreUriCase", BOOL, _)                                      \
    X(T, without_headers, "withoutHeaders", MAP, string_match)                           \
    X(T, source_namespace, "sourceNamespace", STR, _)                                    \
    X(T, stat_prefix, "statPrefix", STR, _)
#define RES_HTTP_ROUTE_DESTINATION(X, T)                                                 \
    X(T, destination, "destination", OBJ, destination)                                   \
    X(T, weight, "weight", I32, _)                                                       \
    X(T, headers, "headers", OBJ, headers)
#define RES_ROUTE_DESTINATION(X, T)                                                      \
    X(T, destination, "destination", OBJ, destination)                                   \
    X(T, weight, "weight", I32, _)
#define RES_HTTP_REDIRECT(X, T)                                                          \
    X(T, uri, "uri", STR, _)                                                             \
    X(T, authority, "authority", STR, _)                                                 \
    X(T, port, "port", U32, _)                                                           \
    X(T, derive_port, "derivePort", ENUM, redirect_port_selection)                       \
    X(T, scheme, "scheme", STR, _)                                                       \
    X(T, redirect_code, "redirectCode", U32, _)                                          \
    X(T, prefix_rewrite, "prefixRewrite", STR, _)
#define RES_HTTP_BODY(X, T)                                                              \
    X(T, string, "string", STR, _)                                                       \
    X(T, bytes, "bytes", STR, _)
#define RES_HTTP_DIRECT_RESPONSE(X, T)                                                   \
    X(T, status, "status", U32, _)                                                       \
    X(T, body, "body", OBJ, http_body)
#define RES_DELEGATE(X, T)                                                               \
    X(T, name, "name", STR, _)                                                           \
    X(T, namespace_, "namespace", STR, _)
#define RES_REGEX_REWRITE(X, T)                                                          \
    X(T, match, "match", STR, _)                                                         \
    X(T, rewrite, "rewrite", STR, _)
#define RES_HTTP_REWRITE(X, T)                                                           \
    X(T, uri, "uri", STR, _)                                                             \
    X(T, authority, "authority", STR, _)                                                 \
    X(T, uri_regex_rewrite, "uriRegexRewrite", OBJ, regex_rewrite)
#define RES_HTTP_RETRY(X, T)                                                             \
    X(T, attempts, "attempts", I32, _)                                                   \
    X(T, per_try_timeout, "perTryTimeout", DUR, _)                                       \
    X(T, retry_on, "retryOn", STR, _)                                                    \
    X(T, retry_remote_localities, "retryRemoteLocalities", BOOL, _)                      \
    X(T, retry_ignore_previous_hosts, "retryIgnorePreviousHosts", BOOL, _)               \
    X(T, backoff, "backoff", DUR, _)
#define RES_FAULT_DELAY(X, T)                                                            \
    X(T, fixed_delay, "fixedDelay", DUR, _)                                              \
    X(T, exponential_delay, "exponentialDelay", DUR, _)                                  \
    X(T, percentage, "percentage", PCT, _)                                               \
    X(T, percent, "percent", I32, _)
#define RES_FAULT_ABORT(X, T)                                                            \
    X(T, http_status, "httpStatus", I32, _)                                              \
    X(T, grpc_status, "grpcStatus", STR, _)                                              \
    X(T, http2_error, "http2Error", STR, _)                                              \
    X(T, percentage, "percentage", PCT, _)
#define RES_HTTP_FAULT_INJECTION(X, T)                                                   \
    X(T, delay, "delay", OBJ, fault_delay)                                               \
    X(T, abort, "abort", OBJ, fault_abort)
#define RES_HTTP_MIRROR_POLICY(X, T)                                                     \
    X(T, destination, "destination", OBJ, destination)                                   \
    X(T, percentage, "percentage", PCT, _)
#define RES_CORS_POLICY(X, T)                                                            \
    X(T, allow_origins, "allowOrigins", LIST, string_match)                              \
    X(T, allow_origin, "allowOrigin", STRS, _)                                           \
    X(T, allow_methods, "allowMethods", STRS, _)                                         \
    X(T, allow_headers, "allowHeaders", STRS, _)                                         \
    X(T, expose_headers, "exposeHeaders", STRS, _)                                       \
    X(T, max_age, "maxAge", DUR, _)                                                      \
    X(T, allow_credentials, "allowCredentials", BOOL, _)                                 \
    X(T, unmatched_preflights, "unmatchedPreflights", ENUM, unmatched_preflights)
#define RES_HTTP_ROUTE(X, T)                                                             \
    X(T, name, "name", STR, _)                                                           \
    X(T, match, "match", LIST, http_match_request)                                       \
    X(T, route, "route", LIST, http_route_destination)                                   \
    X(T, redirect, "redirect", OBJ, http_redirect)                                       \
    X(T, direct_response, "directResponse", OBJ, http_direct_response)                   \
    X(T, delegate, "delegate", OBJ, delegate)                                            \
    X(T, rewrite, "rewrite", OBJ, http_rewrite)                                          \
    X(T, timeout, "timeout", DUR, _)                                                     \
    X(T, retries, "retries", OBJ, http_retry)                                            \
    X(T, fault, "fault", OBJ, http_fault_injection)                                      \
    X(T, mirror, "mirror", OBJ, destination)                                             \
    X(T, mirrors, "mirrors", LIST, http_mirror_policy)                                   \
    X(T, mirror_percent, "mirrorPercent", U32, _)                                        \
    X(T, mirror_percentage, "mirrorPercentage", PCT, _)                                  \
    X(T, cors_policy, "corsPolicy", OBJ, cors_policy)                                    \
    X(T, headers, "headers", OBJ, headers)
#define RES_TLS_MATCH_ATTRIBUTES(X, T)                                                   \
    X(T, sni_hosts, "sniHosts", STRS, _)                                                 \
    X(T, destination_subnets, "destinationSubnets", STRS, _)                             \
    X(T, port, "port", U32, _)                                                           \
    X(T, source_labels, "sourceLabels", SMAP, _)                                         \
    X(T, gateways, "gateways", STRS, _)                                                  \
    X(T, source_namespace, "sourceNamespace", STR, _)
#define RES_L4_MATCH_ATTRIBUTES(X, T)                                                    \
    X(T, destination_subnets, "destinationSubnets", STRS, _)                             \
    X(T, port, "port", U32, _)                                                           \
    X(T, source_labels, "sourceLabels", SMAP, _)                                         \
    X(T, gateways, "gateways", STRS, _)                                                  \
    X(T, source_namespace, "sourceNamespace", STR, _)
#define RES_TLS_ROUTE(X, T)                                                              \
    X(T, match, "match", LIST, tls_match_attributes)                                     \
    X(T, route, "route", LIST, route_destination)
#define RES_TCP_ROUTE(X, T)                                                              \
    X(T, match, "match", LIST, l4_match_attributes)                                      \
    X(T, route, "route", LIST, route_destination)
#define RES_VIRTUAL_SERVICE(X, T)                                                        \
    X(T, hosts, "hosts", STRS, _)                                                        \
    X(T, gateways, "gateways", STRS, _)                                                  \
    X(T, http, "http", LIST, http_route)                                                 \
    X(T, tls, "tls", LIST, tls_route)                                                    \
    X(T, tcp, "tcp", LIST, tcp_route)                                                    \
    X(T, export_to, "exportTo", STRS, _)

/* ---- DestinationRule ---- */
#define RES_HTTP_COOKIE_ATTRIBUTE(X, T)                                                  \
    X(T, name, "name", STR, _)                                                           \
    X(T, value, "value", STR, _)
#define RES_HTTP_COOKIE(X, T)                                                            \
    X(T, name, "name", STR, _)                                                           \
    X(T, path, "path", STR, _)                                                           \
    X(T, ttl, "ttl", DUR, _)                                                             \
    X(T, attributes, "attributes", LIST, http_cookie_attribute)
#define RES_RING_HASH(X, T) X(T, minimum_ring_size, "minimumRingSize", U64, _)
#define RES_MAGLEV(X, T) X(T, table_size, "tableSize", U64, _)
#define RES_CONSISTENT_HASH(X, T)                                                        \
    X(T, http_header_name, "httpHeaderName", STR, _)                                     \
    X(T, http_cookie, "httpCookie", OBJ, http_cookie)                                    \
    X(T, use_source_ip, "useSourceIp", BOOL, _)                                          \
    X(T, http_query_parameter_name, "httpQueryParameterName", STR, _)                    \
    X(T, ring_hash, "ringHash", OBJ, ring_hash)                                          \
    X(T, maglev, "maglev", OBJ, maglev)                                                  \
    X(T, minimum_ring_size, "minimumRingSize", U64, _)
#define RES_LOCALITY_DISTRIBUTE(X, T)                                                    \
    X(T, from, "from", STR, _)                                                           \
    X(T, to, "to", IMAP, _)
#define RES_LOCALITY_FAILOVER(X, T)                                                      \
    X(T, from, "from", STR, _)                                                           \
    X(T, to, "to", STR, _)
#define RES_LOCALITY_LB_SETTING(X, T)                                                    \
    X(T, distribute, "distribute", LIST, locality_distribute)                            \
    X(T, failover, "failover", LIST, locality_failover)                                  \
    X(T, failover_priority, "failoverPriority", STRS, _)                                 \
    X(T, enabled, "enabled", BOOL, _)
#define RES_WARMUP(X, T)                                                                 \
    X(T, duration, "duration", DUR, _)                                                   \
    X(T, minimum_percent, "minimumPercent", DBL, _)                                      \
    X(T, aggression, "aggression", DBL, _)
#define RES_LOAD_BALANCER(X, T)                                                          \
    X(T, simple, "simple", ENUM, lb_simple)                                              \
    X(T, consistent_hash, "consistentHash", OBJ, consistent_hash)                        \
    X(T, locality_lb_setting, "localityLbSetting", OBJ, locality_lb_setting)             \
    X(T, warmup_duration_secs, "warmupDurationSecs", DUR, _)                             \
    X(T, warmup, "warmup", OBJ, warmup)
#define RES_TCP_KEEPALIVE(X, T)                                                          \
    X(T, probes, "probes", U32, _)                                                       \
    X(T, time, "time", DUR, _)                                                           \
    X(T, interval, "interval", DUR, _)
#define RES_TCP_SETTINGS(X, T)                                                           \
    X(T, max_connections, "maxConnections", I32, _)                                      \
    X(T, connect_timeout, "connectTimeout", DUR, _)                                      \
    X(T, tcp_keepalive, "tcpKeepalive", OBJ, tcp_keepalive)                              \
    X(T, max_connection_duration, "maxConnectionDuration", DUR, _)                       \
    X(T, idle_timeout, "idleTimeout", DUR, _)
#define RES_HTTP2_KEEPALIVE(X, T)                                                        \
    X(T, interval, "interval", DUR, _)                                                   \
    X(T, timeout, "timeout", DUR, _)
#define RES_HTTP_SETTINGS(X, T)                                                          \
    X(T, http1_max_pending_requests, "http1MaxPendingRequests", I32, _)                  \
    X(T, http2_max_requests, "http2MaxRequests", I32, _)                                 \
    X(T, max_requests_per_connection, "maxRequestsPerConnection", I32, _)                \
    X(T, max_retries, "maxRetries", I32, _)                                              \
    X(T, idle_timeout, "idleTimeout", DUR, _)                                            \
    X(T, h2_upgrade_policy, "h2UpgradePolicy", ENUM, h2_upgrade_policy)                  \
    X(T, use_client_protocol, "useClientProtocol", BOOL, _)                              \
    X(T, max_concurrent_streams, "maxConcurrentStreams", I32, _)                         \
    X(T, http2_keepalive, "http2KeepAlive", OBJ, http2_keepalive)
#define RES_CONNECTION_POOL(X, T)                                                        \
    X(T, tcp, "tcp", OBJ, tcp_settings)                                                  \
    X(T, http, "http", OBJ, http_settings)
#define RES_OUTLIER_DETECTION(X, T)                                                      \
    X(T, split_external_local_origin_errors, "splitExternalLocalOriginErrors", BOOL, _)  \
    X(T, consecutive_local_origin_failures, "consecutiveLocalOriginFailures", U32, _)    \
    X(T, consecutive_gateway_errors, "consecutiveGatewayErrors", U32, _)                 \
    X(T, consecutive_5xx_errors, "consecutive5xxErrors", U32, _)                         \
    X(T, interval, "interval", DUR, _)                                                   \
    X(T, base_ejection_time, "baseEjectionTime", DUR, _)                                 \
    X(T, max_ejection_percent, "maxEjectionPercent", I32, _)                             \
    X(T, min_health_percent, "minHealthPercent", I32, _)                                 \
    X(T, consecutive_errors, "consecutiveErrors", I32, _)                                \
    X(T, outlier_detection_http_error_codes, "outlierDetectionHttpErrorCodes", STRS, _)
#define RES_CLIENT_TLS(X, T)                                                             \
    X(T, mode, "mode", ENUM, client_tls_mode)                                            \
    X(T, client_certificate, "clientCertificate", STR, _)                                \
    X(T, private_key, "privateKey", STR, _)                                              \
    X(T, ca_certificates, "caCertificates", STR, _)                                      \
    X(T, credential_name, "credentialName", STR, _)                                      \
    X(T, subject_alt_names, "subjectAltNames", STRS, _)                                  \
    X(T, sni, "sni", STR, _)                                                             \
    X(T, insecure_skip_verify, "insecureSkipVerify", BOOL, _)                            \
    X(T, ca_crl, "caCrl", STR, _)
#define RES_TUNNEL(X, T)                                                                 \
    X(T, protocol, "protocol", STR, _)                                                   \
    X(T, target_host, "targetHost", STR, _)                                              \
    X(T, target_port, "targetPort", U32, _)
#define RES_PROXY_PROTOCOL(X, T) X(T, version, "version", ENUM, proxy_protocol_version)
#define RES_RETRY_BUDGET(X, T)                                                           \
    X(T, percent, "percent", PCT, _)                                                     \
    X(T, min_retry_concurrency, "minRetryConcurrency", U32, _)                           \
    X(T, budget_interval, "budgetInterval", DUR, _)
#define RES_PORT_TRAFFIC_POLICY(X, T)                                                    \
    X(T, port, "port", OBJ, port_selector)                                               \
    X(T, load_balancer, "loadBalancer", OBJ, load_balancer)                              \
    X(T, connection_pool, "connectionPool", OBJ, connection_pool)                        \
    X(T, outlier_detection, "outlierDetection", OBJ, outlier_detection)                  \
    X(T, tls, "tls", OBJ, client_tls)
#define RES_TRAFFIC_POLICY(X, T)                                                         \
    X(T, load_balancer, "loadBalancer", OBJ, load_balancer)                              \
    X(T, connection_pool, "connectionPool", OBJ, connection_pool)                        \
    X(T, outlier_detection, "outlierDetection", OBJ, outlier_detection)                  \
    X(T, tls, "tls", OBJ, client_tls)                                                    \
    X(T, port_level_settings, "portLevelSettings", LIST, port_traffic_policy)            \
    X(T, tunnel, "tunnel", OBJ, tunnel)                                                  \
    X(T, proxy_protocol, "proxyProtocol", OBJ, proxy_protocol)                           \
    X(T, retry_budget, "retryBudget", OBJ, retry_budget)
#define RES_SUBSET(X, T)                                                                 \
    X(T, name, "name", STR, _)                                                           \
    X(T, labels, "labels", SMAP, _)                                                      \
    X(T, traffic_policy, "trafficPolicy", OBJ, traffic_policy)
#define RES_DESTINATION_RULE(X, T)                                                       \
    X(T, host, "host", STR, _)                                                           \
    X(T, traffic_policy, "trafficPolicy", OBJ, traffic_policy)                           \
    X(T, subsets, "subsets", LIST, subset)                                               \
    X(T, export_to, "exportTo", STRS, _)                                                 \
    X(T, workload_selector, "workloadSelector", OBJ, workload_selector)

/* ---- Gateway ---- */
#define RES_SERVER_TLS_CERT(X, T)                                                        \
    X(T, server_certificate, "serverCertificate", STR, _)                                \
    X(T, private_key, "privateKey", STR, _)                                              \
    X(T, ca_certificates, "caCertificates", STR, _)
#define RES_SERVER_TLS(X, T)                                                             \
    X(T, https_redirect, "httpsRedirect", BOOL, _)                                       \
    X(T, mode, "mode", ENUM, server_tls_mode)                                            \
    X(T, server_certificate, "serverCertificate", STR, _)                                \
    X(T, private_key, "privateKey", STR, _)                                              \
    X(T, ca_certificates, "caCertificates", STR, _)                                      \
    X(T, ca_crl, "caCrl", STR, _)                                                        \
    X(T, credential_name, "credentialName", STR, _)                                      \
    X(T, credential_names, "credentialNames", STRS, _)                                   \
    X(T, ca_cert_credential_name, "caCertCredentialName", STR, _)                        \
    X(T, tls_certificates, "tlsCertificates", LIST, server_tls_cert)                     \
    X(T, subject_alt_names, "subjectAltNames", STRS, _)                                  \
    X(T, verify_certificate_spki, "verifyCertificateSpki", STRS, _)                      \
    X(T, verify_certificate_hash, "verifyCertificateHash", STRS, _)                      \
    X(T, min_protocol_version, "minProtocolVersion", ENUM, tls_protocol)                 \
    X(T, max_protocol_version, "maxProtocolVersion", ENUM, tls_protocol)                 \
    X(T, cipher_suites, "cipherSuites", STRS, _)
#define RES_SERVER(X, T)                                                                 \
    X(T, port, "port", OBJ, service_port)                                                \
    X(T, bind, "bind", STR, _)                                                           \
    X(T, hosts, "hosts", STRS, _)                                                        \
    X(T, tls, "tls", OBJ, server_tls)                                                    \
    X(T, default_endpoint, "defaultEndpoint", STR, _)                                    \
    X(T, name, "name", STR, _)
#define RES_GATEWAY(X, T)                                                                \
    X(T, servers, "servers", LIST, server)                                               \
    X(T, selector, "selector", SMAP, _)

/* ---- ServiceEntry ---- */
#define RES_SERVICE_ENTRY(X, T)                                                          \
    X(T, hosts, "hosts", STRS, _)                                                        \
    X(T, addresses, "addresses", STRS, _)                                                \
    X(T, ports, "ports", LIST, service_port)                                             \
    X(T, location, "location", ENUM, se_location)                                       \
    X(T, resolution, "resolution", ENUM, se_resolution)                                  \
    X(T, endpoints, "endpoints", LIST, workload_entry)                                   \
    X(T, workload_selector, "workloadSelector", OBJ, se_workload_selector)               \
    X(T, export_to, "exportTo", STRS, _)                                                 \
    X(T, subject_alt_names, "subjectAltNames", STRS, _)

/* ---- PeerAuthentication ---- */
#define RES_MTLS(X, T) X(T, mode, "mode", ENUM, mtls_mode)
#define RES_PEER_AUTHENTICATION(X, T)                                                    \
    X(T, selector, "selector", OBJ, workload_selector)                                   \
    X(T, mtls, "mtls", OBJ, mtls)                                                        \
    X(T, port_level_mtls, "portLevelMtls", MAP, mtls)

/* Every message: its struct and its schema table. */
#define RES_MESSAGES(Y)                                                                  \
    Y(string_match, RES_STRING_MATCH)                                                    \
    Y(port_selector, RES_PORT_SELECTOR)                                                  \
    Y(destination, RES_DESTINATION)                                                      \
    Y(workload_selector, RES_WORKLOAD_SELECTOR)                                          \
    Y(se_workload_selector, RES_SE_WORKLOAD_SELECTOR)                                    \
    Y(service_port, RES_SERVICE_PORT)                                                    \
    Y(workload_entry, RES_WORKLOAD_ENTRY)                                                \
    Y(header_operations, RES_HEADER_OPERATIONS)                                          \
    Y(headers, RES_HEADERS)                                                              \
    Y(http_match_request, RES_HTTP_MATCH_REQUEST)                                        \
    Y(http_route_destination, RES_HTTP_ROUTE_DESTINATION)                                \
    Y(route_destination, RES_ROUTE_DESTINATION)                                          \
    Y(http_redirect, RES_HTTP_REDIRECT)                                                  \
    Y(http_body, RES_HTTP_BODY)                                                          \
    Y(http_direct_response, RES_HTTP_DIRECT_RESPONSE)                                    \
    Y(delegate, RES_DELEGATE)                                                            \
    Y(regex_rewrite, RES_REGEX_REWRITE)                                                  \
    Y(http_rewrite, RES_HTTP_REWRITE)                                                    \
    Y(http_retry, RES_HTTP_RETRY)                                                        \
    Y(fault_delay, RES_FAULT_DELAY)                                                      \
    Y(fault_abort, RES_FAULT_ABORT)                                                      \
    Y(http_fault_injection, RES_HTTP_FAULT_INJECTION)                                    \
    Y(http_mirror_policy, RES_HTTP_MIRROR_POLICY)                                        \
    Y(cors_policy, RES_CORS_POLICY)                                                      \
    Y(http_route, RES_HTTP_ROUTE)                                                        \
    Y(tls_match_attributes, RES_TLS_MATCH_ATTRIBUTES)                                    \
    Y(l4_match_attributes, RES_L4_MATCH_ATTRIBUTES)                                      \
    Y(tls_route, RES_TLS_ROUTE)                                                          \
    Y(tcp_route, RES_TCP_ROUTE)                                                          \
    Y(virtual_service, RES_VIRTUAL_SERVICE)                                              \
    Y(http_cookie_attribute, RES_HTTP_COOKIE_ATTRIBUTE)                                  \
    Y(http_cookie, RES_HTTP_COOKIE)                                                      \
    Y(ring_hash, RES_RING_HASH)                                                          \
    Y(maglev, RES_MAGLEV)                                                                \
    Y(consistent_hash, RES_CONSISTENT_HASH)                                              \
    Y(locality_distribute, RES_LOCALITY_DISTRIBUTE)                                      \
    Y(locality_failover, RES_LOCALITY_FAILOVER)                                          \
    Y(locality_lb_setting, RES_LOCALITY_LB_SETTING)                                      \
    Y(warmup, RES_WARMUP)                                                                \
    Y(load_balancer, RES_LOAD_BALANCER)                                                  \
    Y(tcp_keepalive, RES_TCP_KEEPALIVE)                                                  \
    Y(tcp_settings, RES_TCP_SETTINGS)                                                    \
    Y(http2_keepalive, RES_HTTP2_KEEPALIVE)                                              \
    Y(http_settings, RES_HTTP_SETTINGS)                                                  \
    Y(connection_pool, RES_CONNECTION_POOL)                                              \
    Y(outlier_detection, RES_OUTLIER_DETECTION)                                          \
    Y(client_tls, RES_CLIENT_TLS)                                                        \
    Y(tunnel, RES_TUNNEL)                                                                \
    Y(proxy_protocol, RES_PROXY_PROTOCOL)                                                \
    Y(retry_budget, RES_RETRY_BUDGET)                                                    \
    Y(port_traffic_policy, RES_PORT_TRAFFIC_POLICY)                                      \
    Y(traffic_policy, RES_TRAFFIC_POLICY)                                                \
    Y(subset, RES_SUBSET)                                                                \
    Y(destination_rule, RES_DESTINATION_RULE)                                            \
    Y(server_tls_cert, RES_SERVER_TLS_CERT)                                              \
    Y(server_tls, RES_SERVER_TLS)                                                        \
    Y(server, RES_SERVER)                                                                \
    Y(gateway, RES_GATEWAY)                                                              \
    Y(service_entry, RES_SERVICE_ENTRY)                                                  \
    Y(mtls, RES_MTLS)                                                                    \
    Y(peer_authentication, RES_PEER_AUTHENTICATION)                                      \
    Y(rollout_step, RES_ROLLOUT_STEP)                                                    \
    Y(rollout_checks_spec, RES_ROLLOUT_CHECKS)                                           \
    Y(rollout, RES_ROLLOUT)

/* ---- meshlet.io/v1alpha1 Rollout: read by `meshlet rollout`, not by the proxy ---- */
#define RES_ROLLOUT_STEP(X, T)                                                           \
    X(T, weight, "weight", U32, _)                                                       \
    X(T, min_duration, "minDuration", DUR, _)                                            \
    X(T, min_requests, "minRequests", U64, _)
#define RES_ROLLOUT_CHECKS(X, T)                                                         \
    X(T, min_success_rate, "minSuccessRate", DBL, _)                                     \
    X(T, max_success_rate_drop, "maxSuccessRateDrop", DBL, _)                            \
    X(T, max_p99, "maxP99", DUR, _)                                                      \
    X(T, max_p99_ratio, "maxP99Ratio", DBL, _)                                           \
    X(T, failure_threshold, "failureThreshold", U32, _)
#define RES_ROLLOUT(X, T)                                                                \
    X(T, virtual_service, "virtualService", STR, _)                                      \
    X(T, route, "route", STR, _)                                                         \
    X(T, stable, "stable", OBJ, destination)                                             \
    X(T, canary, "canary", OBJ, destination)                                             \
    X(T, steps, "steps", LIST, rollout_step)                                             \
    X(T, min_duration, "minDuration", DUR, _)                                            \
    X(T, min_requests, "minRequests", U64, _)                                            \
    X(T, interval, "interval", DUR, _)                                                   \
    X(T, checks, "checks", OBJ, rollout_checks_spec)                                     \
    X(T, reporter, "reporter", STR, _)                                                   \
    X(T, metrics, "metrics", STRS, _)                                                    \
    X(T, prometheus, "prometheus", STR, _)

/* clang-format on */
#define RES_DECLARE_STRUCT(T, FIELDS) RES_STRUCT(T, FIELDS)
RES_MESSAGES(RES_DECLARE_STRUCT)

/* Enums: names in proto number order. Tables live in field.c. */
enum redirect_port_selection { FROM_PROTOCOL_DEFAULT, FROM_REQUEST_PORT };
enum unmatched_preflights { UNMATCHED_PREFLIGHTS_UNSPECIFIED, UNMATCHED_FORWARD, UNMATCHED_IGNORE };
enum lb_simple {
    LB_UNSPECIFIED,
    LB_LEAST_CONN,
    LB_RANDOM,
    LB_PASSTHROUGH,
    LB_ROUND_ROBIN,
    LB_LEAST_REQUEST
};
enum h2_upgrade_policy { H2_DEFAULT, H2_DO_NOT_UPGRADE, H2_UPGRADE };
enum client_tls_mode { TLS_DISABLE, TLS_SIMPLE, TLS_MUTUAL, TLS_ISTIO_MUTUAL };
enum proxy_protocol_version { PROXY_V1, PROXY_V2 };
enum server_tls_mode {
    SRV_PASSTHROUGH,
    SRV_SIMPLE,
    SRV_MUTUAL,
    SRV_AUTO_PASSTHROUGH,
    SRV_ISTIO_MUTUAL,
    SRV_OPTIONAL_MUTUAL
};
enum tls_protocol { TLS_AUTO, TLSV1_0, TLSV1_1, TLSV1_2, TLSV1_3 };
enum se_location { MESH_EXTERNAL, MESH_INTERNAL };
enum se_resolution { RES_NONE, RES_STATIC, RES_DNS, RES_DNS_ROUND_ROBIN, RES_DYNAMIC_DNS };
enum mtls_mode { MTLS_UNSET, MTLS_DISABLE, MTLS_PERMISSIVE, MTLS_STRICT };

/* ---- resources ---- */
enum resource_kind {
    KIND_VIRTUAL_SERVICE,
    KIND_DESTINATION_RULE,
    KIND_GATEWAY,
    KIND_SERVICE_ENTRY,
    KIND_WORKLOAD_ENTRY,
    KIND_PEER_AUTHENTICATION,
    KIND_ROLLOUT, /* meshlet.io: for `meshlet rollout` and `check`; the proxy skips it */
    KIND__COUNT,
};

struct resource {
    enum resource_kind kind;
    const char *kind_name;          /* static: "VirtualService" */
    const char *api_version;        /* arena */
    const char *name;               /* arena; "" when missing */
    const char *ns;                 /* arena; metadata.namespace or the default */
    const char *creation_timestamp; /* arena; NULL when absent */
    struct str_map labels;
    const char *file;          /* borrowed from the set's file table */
    size_t order;              /* load order (file path order, then document order) */
    size_t doc_index;          /* document number in <file>, from 0, empty ones counted */
    int item_index;            /* item of a `kind: List` document, or -1 */
    bool doc_live;             /* the document is loaded: the node pointers below (and in
                                * every res_obj) may be used; false once config_load returns */
    struct fy_node *root;      /* borrowed: the document root (or List item) */
    struct fy_node *spec_node; /* borrowed; NULL when spec is absent */
    bool valid;                /* no error from decoding or per-resource validation */
    /* VirtualService: its meshlet.io/sticky-split annotation (config/sticky.h), in the
     * set's arena; NULL when absent or in error. */
    const struct sticky_split *sticky;
    union {
        void *any;
        struct virtual_service *vs;
        struct destination_rule *dr;
        struct gateway *gw;
        struct service_entry *se;
        struct workload_entry *we;
        struct peer_authentication *pa;
        struct rollout *ro;
    } spec; /* arena; NULL when spec is absent */
};

/* Kubernetes objects that sit beside Istio config (only what analysis needs). */
struct kube_service {
    const char *name, *ns; /* arena */
    const char *host;      /* arena: <name>.<ns>.svc.cluster.local */
    size_t n_ports;
    uint32_t *ports;                    /* arena */
    uint32_t *target_ports;             /* arena: numeric targetPort, or 0 (absent or named) */
    const char **port_names;            /* arena */
    bool *port_tcp;                     /* arena: protocol TCP (the default) */
    enum port_protocol *port_protocols; /* arena: as Istio reads appProtocol, name, protocol */
    struct str_map selector;
    struct str_list export_to; /* annotation networking.istio.io/exportTo, split on ',' */
    const char *file;
};

struct kube_workload {
    const char *kind;      /* static: "Pod", "Deployment", ... */
    const char *name, *ns; /* arena */
    struct str_map labels; /* the pod labels */
    const char *file;
};

#endif
