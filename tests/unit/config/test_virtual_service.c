/* SPDX-License-Identifier: Apache-2.0 */
/* VirtualService validation: each Istio rule, with a failing and (where it matters) a
 * passing input, checked by code and field path. */
#include "config_case.h"

#define VS(spec)                                                                                   \
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r, "               \
    "namespace: default}\nspec:\n" spec

#define ROUTE "  http:\n  - route:\n    - destination: {host: reviews}\n"

static const struct config_case cases[] = {
    {"vs_valid_minimal_has_no_error", VS("  hosts: [reviews]\n" ROUTE), "IST0106", NULL, NULL,
     true},
    {"vs_requires_http_tcp_or_tls", VS("  hosts: [reviews]\n"), "IST0106", "spec",
     "http, tcp or tls must be provided"},
    {"vs_rejects_negative_weight",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c, subset: v1}\n"
        "      weight: 75\n    - destination: {host: c, subset: v2}\n      weight: -15\n"),
     "IST0106", "spec.http[0].route[1].weight", "weight -15 < 0"},
    {"vs_weights_need_not_sum_to_100",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c, subset: v1}\n"
        "      weight: 1\n    - destination: {host: c, subset: v2}\n      weight: 3\n"),
     "IST0106", NULL, NULL, true},
    {"vs_rejects_all_zero_weights",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c, subset: v1}\n"
        "      weight: 0\n    - destination: {host: c, subset: v2}\n      weight: 0\n"),
     "IST0106", "spec.http[0].route", "total destination weight = 0"},
    {"vs_single_destination_weight_zero_is_fine",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n      weight: 0\n"),
     "IST0106", NULL, NULL, true},
    {"vs_rejects_lookahead_regex",
     VS("  hosts: [c]\n  http:\n  - match:\n    - uri: {regex: \"^(?!x).*\"}\n    route:\n"
        "    - destination: {host: c}\n"),
     "IST0106", "spec.http[0].match[0].uri.regex", "invalid or unsupported Perl syntax: `(?!`"},
    {"vs_rejects_backreference_regex",
     VS("  hosts: [c]\n  http:\n  - match:\n    - headers: {x: {regex: \"(a)\\\\1\"}}\n"
        "    route:\n    - destination: {host: c}\n"),
     "IST0106", "spec.http[0].match[0].headers.x.regex", "invalid escape sequence"},
    {"vs_accepts_re2_regex",
     VS("  hosts: [c]\n  http:\n  - match:\n    - uri: {regex: \"/api/v[0-9]+/(?i:items)\"}\n"
        "    route:\n    - destination: {host: c}\n"),
     "IST0106", NULL, NULL, true},
    {"vs_rejects_empty_regex",
     VS("  hosts: [c]\n  http:\n  - match:\n    - uri: {regex: \"\"}\n    route:\n"
        "    - destination: {host: c}\n"),
     "IST0106", "spec.http[0].match[0].uri.regex", "regex string match should not be empty"},
    {"vs_rejects_empty_header_prefix",
     VS("  hosts: [c]\n  http:\n  - match:\n    - headers: {x-a: {prefix: \"\"}}\n    route:\n"
        "    - destination: {host: c}\n"),
     "IST0106", "spec.http[0].match[0].headers.x-a.prefix",
     "prefix string match should not be empty"},
    {"vs_allows_empty_uri_prefix",
     VS("  hosts: [c]\n  http:\n  - match:\n    - uri: {prefix: \"\"}\n    route:\n"
        "    - destination: {host: c}\n"),
     "IST0106", NULL, NULL, true},
    {"vs_rejects_bad_header_name",
     VS("  hosts: [c]\n  http:\n  - match:\n    - headers: {\"x a\": {exact: b}}\n    route:\n"
        "    - destination: {host: c}\n"),
     "IST0106", "spec.http[0].match[0].headers", "is not a valid header name"},
    {"vs_rejects_wildcard_host_on_mesh", VS("  hosts: [\"*\"]\n" ROUTE), "IST0106", "spec.hosts[0]",
     "wildcard host * is not allowed"},
    {"vs_allows_wildcard_host_on_gateway", VS("  hosts: [\"*\"]\n  gateways: [gw]\n" ROUTE),
     "IST0106", NULL, NULL, true},
    {"vs_rejects_duplicate_hosts", VS("  hosts: [a.com, \"*.com\"]\n" ROUTE), "IST0106",
     "spec.hosts[1]", "duplicate hosts in virtual service: a.com & *.com"},
    {"vs_rejects_bad_host_label", VS("  hosts: [\"a..b\"]\n" ROUTE), "IST0106", "spec.hosts[0]",
     "domain name \"a..b\" invalid"},
    {"vs_rejects_route_and_redirect",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    redirect: {uri: /x}\n"),
     "IST0106", "spec.http[0].redirect", "both route and redirect"},
    {"vs_requires_an_action", VS("  hosts: [c]\n  http:\n  - match:\n    - uri: {exact: /}\n"),
     "IST0106", "spec.http[0]", "HTTP route, redirect or direct_response is required"},
    {"vs_rejects_mirror_and_mirrors",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    mirror: {host: m}\n    mirrors:\n    - destination: {host: m}\n"),
     "IST0106", "spec.http[0].mirrors", "both mirror and mirrors"},
    {"vs_rejects_zero_timeout",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n    timeout: 0s\n"),
     "IST0106", "spec.http[0].timeout", "duration must be greater than 1ms"},
    {"vs_rejects_sub_ms_timeout",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    timeout: 1500us\n"),
     "IST0106", "spec.http[0].timeout", "only durations to ms precision are supported"},
    {"vs_rejects_unparsable_duration",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n    timeout: 5 s\n"),
     "IST0106", "spec.http[0].timeout", "invalid duration"},
    {"vs_rejects_negative_attempts",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    retries: {attempts: -1}\n"),
     "IST0106", "spec.http[0].retries.attempts", "attempts cannot be negative"},
    {"vs_rejects_unknown_retry_on",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    retries: {attempts: 2, retryOn: \"5xx,bogus\"}\n"),
     "IST0106", "spec.http[0].retries.retryOn", "\"bogus\" is not a valid retryOn policy"},
    {"vs_accepts_retry_on_codes_and_grpc",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    retries: {attempts: 2, retryOn: \"503,reset,unavailable,retriable-4xx\"}\n"),
     "IST0106", NULL, NULL, true},
    {"vs_rejects_retry_on_unknown_status",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    retries: {attempts: 2, retryOn: \"599\"}\n"),
     "IST0106", "spec.http[0].retries.retryOn", "\"599\" is not a valid retryOn policy"},
    {"vs_explains_space_after_comma_in_retry_on",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    retries: {attempts: 2, retryOn: \"5xx, reset\"}\n"),
     "ML0104", "spec.http[0].retries.retryOn", "\" reset\" is not a valid retryOn policy"},
    {"vs_rejects_very_long_retry_on_token",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    retries: {attempts: 2, retryOn: \"5xx,"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        " \"}\n"),
     "ML0104", "spec.http[0].retries.retryOn", "is not a valid retryOn policy"},
    {"vs_warns_retry_fields_with_zero_attempts",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    retries: {attempts: 0, perTryTimeout: 1s}\n"),
     "IST0133", "spec.http[0].retries.attempts", "attempts are set to 0"},
    {"vs_warns_timeout_shorter_than_tries",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n    timeout: 2s\n"
        "    retries: {attempts: 3, perTryTimeout: 1s}\n"),
     "ML0102", "spec.http[0].timeout", "timeout 2s is shorter than perTryTimeout 1s x 4 tries"},
    {"vs_no_timeout_warning_when_tries_fit",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n    timeout: 4s\n"
        "    retries: {attempts: 3, perTryTimeout: 1s}\n"),
     "ML0102", NULL, NULL, true},
    {"vs_warns_fault_delay_without_percentage",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    fault: {delay: {fixedDelay: 5s}}\n"),
     "ML0103", "spec.http[0].fault.delay", "delays 0% of requests"},
    {"vs_warns_mirror_without_percentage",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    mirror: {host: m}\n"),
     "ML0103", "spec.http[0].mirror", "copies 100% of requests"},
    {"vs_rejects_fault_without_delay_or_abort",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n    fault: {}\n"),
     "IST0106", "spec.http[0].fault", "must have an abort and/or a delay"},
    {"vs_rejects_abort_status_out_of_range",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    fault: {abort: {httpStatus: 700, percentage: {value: 10}}}\n"),
     "IST0106", "spec.http[0].fault.abort.httpStatus", "HTTP status 700 is not in range 200-599"},
    {"vs_rejects_fault_percentage_out_of_range",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    fault: {abort: {httpStatus: 503, percentage: {value: 101}}}\n"),
     "IST0106", "spec.http[0].fault.abort.percentage", "is neither 0.0, nor in range"},
    {"vs_rejects_mirror_percentage_over_100",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    mirror: {host: m}\n    mirrorPercentage: {value: 150}\n"),
     "IST0106", "spec.http[0].mirrorPercentage", "mirror_percentage must have a max value of 100"},
    {"vs_rejects_redirect_code_not_3xx",
     VS("  hosts: [c]\n  http:\n  - redirect: {uri: /x, redirectCode: 200}\n"), "IST0106",
     "spec.http[0].redirect.redirectCode", "200 is not a valid redirect code, must be 3xx"},
    {"vs_rejects_redirect_bad_scheme", VS("  hosts: [c]\n  http:\n  - redirect: {scheme: ftp}\n"),
     "IST0106", "spec.http[0].redirect.scheme", "invalid redirect scheme"},
    {"vs_rejects_direct_response_status",
     VS("  hosts: [c]\n  http:\n  - directResponse: {status: 700}\n"), "IST0106",
     "spec.http[0].directResponse.status", "status 700 is not in range 200-599"},
    {"vs_rejects_direct_response_bytes_not_base64",
     VS("  hosts: [c]\n  http:\n  - directResponse: {status: 200, body: {bytes: \"a*b=\"}}\n"),
     "IST0106", "spec.http[0].directResponse.body.bytes", "bytes is not valid base64"},
    {"vs_rejects_empty_rewrite",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    rewrite: {uriRegexRewrite: {match: a}}\n"),
     "IST0106", "spec.http[0].rewrite.uriRegexRewrite",
     "UriRegexRewrite requires both Rewrite and Match"},
    {"vs_rejects_authority_set_twice",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    rewrite: {authority: a.com}\n"
        "    headers: {request: {set: {host: b.com}}}\n"),
     "IST0106", "spec.http[0].headers.request.set", "authority header cannot be set multiple"},
    {"vs_rejects_response_host_header",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    headers: {response: {set: {host: b.com}}}\n"),
     "IST0106", "spec.http[0].headers.response.set", "cannot set Host header"},
    {"vs_rejects_bad_header_value_escape",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    headers: {request: {set: {x-a: \"50%\"}}}\n"),
     "IST0106", "spec.http[0].headers.request.set", "header value configuration 50% is invalid"},
    {"vs_rejects_bad_subset_name",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c, subset: V_1}\n"),
     "IST0106", "spec.http[0].route[0].destination.subset", "subset name is invalid: V_1"},
    {"vs_rejects_destination_port_out_of_range",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c, port: {number: 70000}}\n"),
     "IST0106", "spec.http[0].route[0].destination.port.number",
     "port number 70000 must be in the range 1..65535"},
    {"vs_rejects_wildcard_destination",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: \"*\"}\n"), "IST0106",
     "spec.http[0].route[0].destination.host", "invalid destination host *"},
    {"vs_rejects_cors_method",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    corsPolicy: {allowMethods: [GET, FETCH]}\n"),
     "IST0106", "spec.http[0].corsPolicy.allowMethods[1]", "\"FETCH\" is not a supported"},
    {"vs_rejects_cors_max_age_fraction",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    corsPolicy: {maxAge: 1500ms}\n"),
     "IST0106", "spec.http[0].corsPolicy.maxAge", "seconds precision"},
    {"vs_delegate_rejects_gateways", VS("  gateways: [gw]\n" ROUTE), "IST0106", "spec.gateways",
     "delegate virtual service must have no gateways specified"},
    {"vs_root_delegate_rejects_route",
     VS("  hosts: [c]\n  http:\n  - delegate: {name: d}\n    route:\n"
        "    - destination: {host: c}\n"),
     "IST0106", "spec.http[0].route", "must not specify route"},
    {"vs_rejects_bad_gateway_namespace", VS("  hosts: [c]\n  gateways: [\"Bad_NS/gw\"]\n" ROUTE),
     "IST0106", "spec.gateways[0]", "invalid value for namespace"},
    {"vs_tls_route_needs_sni",
     VS("  hosts: [c.com]\n  tls:\n  - match:\n    - port: 443\n    route:\n"
        "    - destination: {host: c.com}\n"),
     "IST0106", "spec.tls[0].match[0].sniHosts", "TLS match must have at least one SNI host"},
    {"vs_tcp_route_needs_route", VS("  hosts: [c]\n  tcp:\n  - match:\n    - port: 80\n"),
     "IST0106", "spec.tcp[0].route", "TCP route is required"},
    {"vs_rejects_unknown_field",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n    timeoutt: 1s\n"),
     "IST0106", "spec.http[0].timeoutt", "unknown field \"timeoutt\""},
    {"vs_accepts_proto_field_names",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "    retries: {attempts: 2, per_try_timeout: 1s}\n"),
     "IST0106", NULL, NULL, true},
    {"vs_rejects_string_for_int",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n      weight: lots\n"),
     "IST0106", "spec.http[0].route[0].weight", "expected int32"},
    {"vs_rejects_list_for_string",
     VS("  hosts: [c]\n  http:\n  - name: [a]\n    route:\n    - destination: {host: c}\n"),
     "IST0106", "spec.http[0].name", "expected a string"},
    {"vs_rejects_null_http_route", VS("  hosts: [c]\n  http:\n  - ~\n"), "IST0106", "spec.http[0]",
     "http route may not be null"},
    {"vs_warns_second_rule_without_match",
     VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
        "  - route:\n    - destination: {host: d}\n"),
     "IST0130", "spec.http[1]", "only the last rule can have no matches"},
    {"vs_info_duplicate_match_block",
     VS("  hosts: [c]\n  http:\n  - match:\n    - uri: {prefix: /a}\n    route:\n"
        "    - destination: {host: c}\n  - match:\n    - uri: {prefix: /a/b}\n    route:\n"
        "    - destination: {host: d}\n"),
     "IST0131", "spec.http[1].match[0]", "duplicate/overlapping match in rule #0"},
    {"vs_no_overlap_for_different_methods",
     VS("  hosts: [c]\n  http:\n  - match:\n    - uri: {prefix: /a}\n    route:\n"
        "    - destination: {host: c}\n  - match:\n    - uri: {prefix: /a/b}\n"
        "      method: {exact: POST}\n    route:\n    - destination: {host: d}\n"),
     "IST0131", NULL, NULL, true},
    {"vs_rejects_exportto_star_and_ns", VS("  hosts: [c]\n  exportTo: [\"*\", foo]\n" ROUTE),
     "IST0106", "spec.exportTo", "cannot have both public (*) and non-public"},
    {"vs_rejects_bad_enum",
     VS("  hosts: [c]\n  http:\n  - redirect: {uri: /a, derivePort: FROM_NOWHERE}\n"), "IST0106",
     "spec.http[0].redirect.derivePort", "Unsupported value: \"FROM_NOWHERE\""},
    {"vs_rejects_unknown_api_version",
     "apiVersion: networking.istio.io/v2\nkind: VirtualService\nmetadata: {name: r}\n"
     "spec:\n  hosts: [c]\n" ROUTE,
     "IST0106", "apiVersion", "unsupported apiVersion"},
    {"vs_requires_metadata_name",
     "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {namespace: x}\n"
     "spec:\n  hosts: [c]\n" ROUTE,
     "IST0106", "metadata.name", "Required value"},
};

static void
test_vs_fault_without_delay_or_abort_is_rejected(void **state)
{
    (void)state;
    struct resource_set set;
    struct diag_list dl;
    config_case_load(VS("  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
                        "    fault: {abort: ~, delay: ~}\n    name: x\n"),
                     false, &set, &dl);
    /* Null sections are unset, so fault is empty: Istio's message applies. */
    assert_true(diag_list_has(&dl, "IST0106", "spec.http[0].fault"));
    diag_list_fini(&dl);
    config_fini(&set);
}

static void
test_vs_typed_values_are_decoded(void **state)
{
    (void)state;
    struct resource_set set;
    struct diag_list dl;
    config_case_load(VS("  hosts: [reviews]\n  gateways: [mesh]\n  http:\n  - name: canary\n"
                        "    match:\n    - headers: {x-canary: {exact: \"true\"}}\n"
                        "    route:\n    - destination: {host: reviews, subset: v2}\n"
                        "      weight: 10\n    - destination: {host: reviews, subset: v1}\n"
                        "      weight: 90\n    timeout: 1.5s\n"
                        "    retries: {attempts: 3, perTryTimeout: 500ms, retryOn: 5xx}\n"
                        "    fault: {delay: {fixedDelay: 2m, percentage: {value: 12.5}}}\n"),
                     false, &set, &dl);
    assert_int_equal(dl.errors, 0);
    assert_int_equal(set.len, 1);
    const struct resource *r = set.items[0];
    assert_true(r->valid);
    assert_string_equal(r->ns, "default");
    const struct virtual_service *vs = r->spec.vs;
    assert_int_equal(vs->http_len, 1);
    const struct http_route *h = &vs->http[0];
    assert_string_equal(h->name, "canary");
    assert_int_equal(h->match_len, 1);
    assert_int_equal(h->match[0].headers_len, 1);
    assert_string_equal(h->match[0].headers_keys[0], "x-canary");
    assert_string_equal(h->match[0].headers[0].exact, "true");
    assert_int_equal(h->route_len, 2);
    assert_string_equal(h->route[0].destination->subset, "v2");
    assert_int_equal(h->route[0].weight.v, 10);
    assert_true(h->timeout.set);
    assert_int_equal(h->timeout.ns, 1500000000);
    assert_int_equal(h->retries->attempts.v, 3);
    assert_int_equal(h->retries->per_try_timeout.ns, 500000000);
    assert_string_equal(h->retries->retry_on, "5xx");
    assert_int_equal(h->fault->delay->fixed_delay.ns, 120000000000LL);
    assert_true(h->fault->delay->percentage.set);
    assert_true(h->fault->delay->percentage.v == 12.5);
    /* Documents are unloaded after loading: nodes must not be kept. */
    assert_false(r->doc_live);
    diag_list_fini(&dl);
    config_fini(&set);
}

int
main(void)
{
    const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_vs_fault_without_delay_or_abort_is_rejected),
        cmocka_unit_test(test_vs_typed_values_are_decoded),
    };
    int rc = config_case_run_all("virtual_service", cases, sizeof(cases) / sizeof(cases[0]));
    rc |= cmocka_run_group_tests(extra, NULL, NULL);
    harness_cleanup();
    return rc;
}
