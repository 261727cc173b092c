/* SPDX-License-Identifier: Apache-2.0 */
/* ServiceEntry and WorkloadEntry validation rules. */
#include "config_case.h"

#define SE(spec)                                                                                   \
    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: s, "                 \
    "namespace: default}\nspec:\n" spec
#define WE(spec)                                                                                   \
    "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: w, "                \
    "namespace: default}\nspec:\n" spec

static const struct config_case cases[] = {
    {"se_valid_static_has_no_error",
     SE("  hosts: [api.example.com]\n  ports:\n  - {number: 80, name: http, protocol: HTTP}\n"
        "  resolution: STATIC\n  endpoints:\n  - {address: 10.0.0.1, labels: {version: v1}}\n"),
     "IST0106", NULL, NULL, true},
    {"se_accepts_empty_protocol_for_sniffing",
     SE("  hosts: [a.com]\n  addresses: [10.0.0.1]\n  ports:\n"
        "  - {number: 80, name: http, protocol: \"\"}\n"),
     "IST0106", NULL, NULL, true},
    {"se_accepts_http_proxy_protocol",
     SE("  hosts: [a.com]\n  ports:\n  - {number: 3128, name: proxy, protocol: HTTP_PROXY}\n"),
     "IST0106", NULL, NULL, true},
    {"se_rejects_unknown_protocol",
     SE("  hosts: [a.com]\n  ports:\n  - {number: 80, name: http, protocol: SPDY}\n"), "IST0106",
     "spec.ports[0].protocol", "unrecognized protocol \"SPDY\""},
    {"se_reads_ipv6_in_flow_sequence_as_go_yaml_does",
     SE("  hosts: [a.com]\n  addresses: [1.2.3.4, 2001:db8::, fe80::]\n"
        "  ports:\n  - {number: 80, name: http, protocol: HTTP}\n"),
     "IST0106", NULL, NULL, true},
    {"se_requires_hosts", SE("  ports:\n  - {number: 80, name: http, protocol: HTTP}\n"), "IST0106",
     "spec.hosts", "service entry must have at least one host"},
    {"se_rejects_star_host", SE("  hosts: [\"*\"]\n"), "IST0106", "spec.hosts[0]",
     "invalid host *"},
    {"se_rejects_negative_port",
     SE("  hosts: [a.com]\n  ports:\n  - {number: -1, name: http, protocol: HTTP}\n"), "IST0106",
     "spec.ports[0].number", "out of range"},
    {"se_rejects_duplicate_port_number",
     SE("  hosts: [a.com]\n  ports:\n  - {number: 80, name: http, protocol: HTTP}\n"
        "  - {number: 80, name: http2, protocol: HTTP2}\n"),
     "IST0106", "spec.ports[1].number", "service entry port 80 already defined"},
    {"se_rejects_endpoints_with_resolution_none",
     SE("  hosts: [a.com]\n  endpoints:\n  - address: 10.0.0.1\n"), "IST0106", "spec.endpoints",
     "no endpoints should be provided for resolution type none"},
    {"se_rejects_static_endpoint_not_ip",
     SE("  hosts: [a.com]\n  resolution: STATIC\n  endpoints:\n  - address: foo.com\n"), "IST0106",
     "spec.endpoints[0].address", "is not a valid IP address"},
    {"se_rejects_selector_and_endpoints",
     SE("  hosts: [a.com]\n  resolution: STATIC\n  workloadSelector: {labels: {app: a}}\n"
        "  endpoints:\n  - address: 10.0.0.1\n"),
     "IST0106", "spec.workloadSelector", "only one of WorkloadSelector or Endpoints"},
    {"se_rejects_cidr_with_dns",
     SE("  hosts: [a.com]\n  addresses: [10.0.0.0/24]\n  resolution: DNS\n"), "IST0106",
     "spec.addresses[0]", "CIDR addresses are allowed only for NONE/STATIC"},
    {"se_rejects_two_dns_rr_endpoints",
     SE("  hosts: [a.com]\n  resolution: DNS_ROUND_ROBIN\n  endpoints:\n  - address: a.com\n"
        "  - address: b.com\n"),
     "IST0106", "spec.endpoints", "there must only be 0 or 1 endpoint"},
    {"se_rejects_unknown_endpoint_port",
     SE("  hosts: [a.com]\n  ports:\n  - {number: 80, name: http, protocol: HTTP}\n"
        "  resolution: STATIC\n  endpoints:\n  - {address: 10.0.0.1, ports: {grpc: 9000}}\n"),
     "IST0106", "spec.endpoints[0].ports", "endpoint port grpc is not defined"},
    {"se_warns_tcp_without_addresses",
     SE("  hosts: [a.com]\n  ports:\n  - {number: 3306, name: tcp, protocol: TCP}\n"), "IST0134",
     "spec.addresses", "addresses are required"},
    {"se_accepts_lowercase_protocol",
     SE("  hosts: [a.com]\n  addresses: [10.1.1.1]\n  ports:\n"
        "  - {number: 22, name: ssh, protocol: tcp}\n"),
     "IST0106", NULL, NULL, true},
    {"we_requires_address", WE("  address: \"\"\n"), "IST0106", "spec.address",
     "address is required"},
    {"we_rejects_uds_dir", WE("  address: unix:///dir/\n"), "IST0106", "spec.address",
     "UDS may not be a dir"},
    {"we_rejects_uds_with_ports", WE("  address: unix://@foo\n  ports: {http: 80}\n"), "IST0106",
     "spec.ports", "must not include ports"},
    {"we_rejects_port_out_of_range", WE("  address: 1.1.1.1\n  ports: {http: 99999}\n"), "IST0106",
     "spec.ports", "port number 99999 must be in the range 1..65535"},
    {"we_rejects_bad_port_name", WE("  address: 1.1.1.1\n  ports: {\"@\": 80}\n"), "IST0106",
     "spec.ports", "invalid port name: @"},
};

int
main(void)
{
    return config_case_run_all("service_entry", cases, sizeof(cases) / sizeof(cases[0]));
}
