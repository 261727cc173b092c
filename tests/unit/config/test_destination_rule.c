/* SPDX-License-Identifier: Apache-2.0 */
/* DestinationRule validation rules, each with a failing input and its code and path. */
#include "config_case.h"

#define DR(spec)                                                                                   \
    "apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: d, "         \
    "namespace: default}\nspec:\n" spec

static const struct config_case cases[] = {
    {"dr_valid_subsets_have_no_error",
     DR("  host: reviews\n  trafficPolicy:\n    tls: {mode: ISTIO_MUTUAL}\n  subsets:\n"
        "  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n"),
     "IST0106", NULL, NULL, true},
    {"dr_requires_host", DR("  subsets:\n  - {name: v1, labels: {version: v1}}\n"), "IST0106",
     "spec.host", "empty domain name not allowed"},
    {"dr_rejects_double_wildcard_host", DR("  host: \"**\"\n"), "IST0106", "spec.host",
     "domain name \"**\" invalid (label \"**\" invalid)"},
    {"dr_accepts_wildcard_host", DR("  host: \"*.example.com\"\n"), "IST0106", NULL, NULL, true},
    {"dr_rejects_duplicate_subset",
     DR("  host: r\n  subsets:\n  - {name: v1, labels: {version: v1}}\n"
        "  - {name: v1, labels: {version: v2}}\n"),
     "IST0106", "spec.subsets[1].name", "duplicate subset names: v1"},
    {"dr_rejects_subset_name_not_dns_label",
     DR("  host: r\n  subsets:\n  - {name: V1, labels: {version: v1}}\n"), "IST0106",
     "spec.subsets[0].name", "subset name is invalid: V1"},
    {"dr_rejects_subset_without_name", DR("  host: r\n  subsets:\n  - {labels: {version: v1}}\n"),
     "IST0106", "spec.subsets[0].name", "subset name cannot be empty"},
    {"dr_rejects_bad_label_value",
     DR("  host: r\n  subsets:\n  - {name: v1, labels: {version: \"v 1\"}}\n"), "IST0106",
     "spec.subsets[0].labels", "invalid label value"},
    {"dr_rejects_empty_traffic_policy", DR("  host: r\n  trafficPolicy: {}\n"), "IST0106",
     "spec.trafficPolicy", "traffic policy must have at least one field"},
    {"dr_rejects_empty_connection_pool",
     DR("  host: r\n  trafficPolicy:\n    connectionPool: {}\n"), "IST0106",
     "spec.trafficPolicy.connectionPool", "connection pool must have at least one field"},
    {"dr_rejects_negative_max_connections",
     DR("  host: r\n  trafficPolicy:\n    connectionPool: {tcp: {maxConnections: -1}}\n"),
     "IST0106", "spec.trafficPolicy.connectionPool.tcp.maxConnections",
     "max connections must be non-negative"},
    {"dr_rejects_negative_max_concurrent_streams",
     DR("  host: r\n  trafficPolicy:\n    connectionPool: {http: {maxConcurrentStreams: -1}}\n"),
     "IST0106", "spec.trafficPolicy.connectionPool.http.maxConcurrentStreams",
     "max concurrent streams must be non-negative"},
    {"dr_rejects_outlier_percent_over_100",
     DR("  host: r\n  trafficPolicy:\n    outlierDetection: {maxEjectionPercent: 120}\n"),
     "IST0106", "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
     "percentage 120 is not in range 0..100"},
    {"dr_warns_deprecated_consecutive_errors",
     DR("  host: r\n  trafficPolicy:\n    outlierDetection: {consecutiveErrors: 7}\n"), "IST0133",
     "spec.trafficPolicy.outlierDetection.consecutiveErrors",
     "outlier detection consecutive errors is deprecated"},
    {"dr_rejects_local_origin_without_split",
     DR("  host: r\n  trafficPolicy:\n    outlierDetection: {consecutiveLocalOriginFailures: 3}\n"),
     "IST0106", "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures",
     "split external local origin errors is set to false"},
    {"dr_rejects_interval_below_1ms",
     DR("  host: r\n  trafficPolicy:\n    outlierDetection: {interval: 100us}\n"), "IST0106",
     "spec.trafficPolicy.outlierDetection.interval", "duration must be greater than 1ms"},
    {"dr_rejects_mutual_without_cert",
     DR("  host: r\n  trafficPolicy:\n    tls: {mode: MUTUAL, caCertificates: /ca.pem}\n"),
     "IST0106", "spec.trafficPolicy.tls.clientCertificate",
     "client certificate required for mutual tls"},
    {"dr_rejects_istio_mutual_with_cert",
     DR("  host: r\n  trafficPolicy:\n    tls: {mode: ISTIO_MUTUAL, clientCertificate: /c.pem}\n"),
     "IST0106", "spec.trafficPolicy.tls.mode", "ISTIO_MUTUAL TLS cannot have"},
    {"dr_rejects_bad_tls_mode", DR("  host: r\n  trafficPolicy:\n    tls: {mode: STRICT}\n"),
     "IST0106", "spec.trafficPolicy.tls.mode", "Unsupported value: \"STRICT\""},
    {"dr_rejects_port_level_without_port",
     DR("  host: r\n  trafficPolicy:\n    portLevelSettings:\n"
        "    - loadBalancer: {simple: RANDOM}\n"),
     "IST0106", "spec.trafficPolicy.portLevelSettings[0].port",
     "portTrafficPolicy must have valid port"},
    {"dr_rejects_port_level_without_fields",
     DR("  host: r\n  trafficPolicy:\n    portLevelSettings:\n    - port: {number: 80}\n"),
     "IST0106", "spec.trafficPolicy.portLevelSettings[0]",
     "port traffic policy must have at least one field"},
    {"dr_rejects_maglev_non_prime",
     DR("  host: r\n  trafficPolicy:\n    loadBalancer:\n"
        "      consistentHash: {httpHeaderName: x, maglev: {tableSize: 1000}}\n"),
     "IST0106", "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize",
     "tableSize must be a prime number for maglev"},
    {"dr_rejects_cookie_without_name",
     DR("  host: r\n  trafficPolicy:\n    loadBalancer:\n"
        "      consistentHash: {httpCookie: {ttl: 0s}}\n"),
     "IST0106", "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name",
     "name required for HttpCookie"},
    {"dr_accepts_cookie_ttl_zero",
     DR("  host: r\n  trafficPolicy:\n    loadBalancer:\n"
        "      consistentHash: {httpCookie: {name: s, ttl: 0s}}\n"),
     "IST0106", NULL, NULL, true},
    {"dr_rejects_warmup_without_duration",
     DR("  host: r\n  trafficPolicy:\n    loadBalancer: {warmup: {minimumPercent: 5}}\n"),
     "IST0106", "spec.trafficPolicy.loadBalancer.warmup.duration", "duration is required"},
    {"dr_rejects_warmup_minimum_over_100",
     DR("  host: r\n  trafficPolicy:\n    loadBalancer:\n"
        "      warmup: {duration: 30s, minimumPercent: 150}\n"),
     "IST0106", "spec.trafficPolicy.loadBalancer.warmup.minimumPercent",
     "minimumPercent value should be less than or equal to 100"},
    {"dr_rejects_locality_weights_not_100",
     DR("  host: r\n  trafficPolicy:\n    loadBalancer:\n      localityLbSetting:\n"
        "        distribute:\n        - from: a/b/*\n          to: {\"a/b/*\": 60}\n"),
     "IST0106", "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to",
     "total locality weight 60 != 100"},
    {"dr_rejects_workload_selector_exported_widely",
     DR("  host: r\n  workloadSelector: {matchLabels: {app: a}}\n  exportTo: [\"*\"]\n"), "IST0106",
     "spec.exportTo[0]", "cannot have exportTo beyond current namespace"},
    {"dr_rejects_unknown_policy_field",
     DR("  host: r\n  trafficPolicy:\n    outlierDetection: {consecutive5xx: 3}\n"), "IST0106",
     "spec.trafficPolicy.outlierDetection.consecutive5xx", "unknown field"},
    {"dr_suggests_close_field_name",
     DR("  host: r\n  trafficPolicy:\n    outlierDetection: {baseEjectTime: 3s}\n"), "IST0106",
     "spec.trafficPolicy.outlierDetection.baseEjectTime", "unknown field \"baseEjectTime\""},
};

static void
test_dr_unknown_field_hint_names_the_field(void **state)
{
    (void)state;
    struct resource_set set;
    struct diag_list dl;
    config_case_load(DR("  host: r\n  trafficPolicy:\n    outlierDetection: {baseEjectTime: 3s}\n"),
                     false, &set, &dl);
    assert_int_equal(dl.errors, 1);
    assert_non_null(dl.items[0].hint);
    assert_non_null(strstr(dl.items[0].hint, "baseEjectionTime"));
    assert_int_equal(dl.items[0].line, 7);
    assert_int_equal(dl.items[0].col, 24);
    diag_list_fini(&dl);
    config_fini(&set);
}

int
main(void)
{
    const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_dr_unknown_field_hint_names_the_field),
    };
    int rc = config_case_run_all("destination_rule", cases, sizeof(cases) / sizeof(cases[0]));
    rc |= cmocka_run_group_tests(extra, NULL, NULL);
    harness_cleanup();
    return rc;
}
