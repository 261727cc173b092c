/* SPDX-License-Identifier: Apache-2.0 */
/* Cross-resource analysis: each istioctl analyzer meshlet implements and each of meshlet's
 * own warnings, with a failing and a passing configuration. */
#include "config_case.h"

#define SVC_REVIEWS                                                                                \
    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: reviews, "           \
    "namespace: default}\nspec:\n  hosts: [reviews.default.svc.cluster.local]\n"                   \
    "  location: MESH_INTERNAL\n  ports:\n  - {number: 9080, name: http, protocol: HTTP}\n"        \
    "  resolution: STATIC\n  endpoints:\n"                                                         \
    "  - {address: 10.0.0.1, labels: {app: reviews, version: v1}}\n"                               \
    "  - {address: 10.0.0.2, labels: {app: reviews, version: v2}}\n---\n"
#define DR_REVIEWS(extra)                                                                          \
    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews, "        \
    "namespace: default}\nspec:\n  host: reviews\n" extra "  subsets:\n"                           \
    "  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n---\n"
#define VS_REVIEWS(dest)                                                                           \
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews, "         \
    "namespace: default}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n"                        \
    "    - destination: " dest "\n"
#define A true
#define GW(name, selector, port, hosts, tls)                                                       \
    "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: " name "}\nspec:\n"       \
    "  selector: " selector "\n  servers:\n  - port: {number: " port ", name: p" port              \
    ", protocol: " tls "}\n    hosts: " hosts "\n---\n"
#define TLS(cred) "HTTPS}\n    tls: {mode: SIMPLE, credentialName: " cred
#define FILE_TLS(key)                                                                              \
    "HTTPS}\n    tls: {mode: SIMPLE, serverCertificate: /etc/certs/tls.crt, privateKey: "          \
    "/etc/certs/" key
/* Gateways a and b on port 443 (a.example.com, b.example.com) with these TLS settings. */
#define TLS_PAIR(selector_b, tls_a, tls_b)                                                         \
    GW("a", "{istio: ingressgateway}", "443", "[a.example.com]", tls_a)                            \
    GW("b", selector_b, "443", "[b.example.com]", tls_b)
#define POD(name, labels)                                                                          \
    "apiVersion: v1\nkind: Pod\nmetadata: {name: " name                                            \
    ", namespace: istio-system, labels: " labels "}\n---\n"
#define INGRESS_SVC                                                                                \
    "apiVersion: v1\nkind: Service\nmetadata: {name: istio-ingressgateway, namespace: "            \
    "istio-system}\nspec:\n  selector: {istio: ingressgateway}\n  ports:\n"                        \
    "  - {name: status-port, port: 15021, protocol: TCP, targetPort: 15021}\n"                     \
    "  - {name: http2, port: 80, protocol: TCP, targetPort: 8080}\n---\n"
#define VS_GW(hosts, gateways)                                                                     \
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n"       \
    "  hosts: " hosts "\n  gateways: " gateways "\n  http:\n  - route:\n"                          \
    "    - destination: {host: reviews}\n---\n"
#define VS_RULES(rules)                                                                            \
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n"       \
    "  hosts: [reviews]\n  http:\n" rules "---\n"
#define MESH_VS(name, host)                                                                        \
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: " name "}\n"       \
    "spec:\n  hosts: [" host "]\n  http:\n  - route:\n    - destination: {host: reviews}\n---\n"
#define K8S_REVIEWS                                                                                \
    "apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: default}\nspec:\n"        \
    "  selector: {app: reviews}\n  ports: [{port: 9080, name: http}]\n---\n"

#define SVC_TCP(name, port)                                                                        \
    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: " name               \
    "}\nspec:\n  hosts: [" name ".example.com]\n  ports:\n  - {number: " port                      \
    ", name: tcp, protocol: TCP}\n  resolution: DNS\n---\n"
/* A VirtualService "name" bound to gateway gw, with one tcp or tls rule. */
#define VS_L4(name, section, match)                                                                \
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: " name             \
    "}\nspec:\n  hosts: ['*.example.com']\n  gateways: [gw]\n  " section ":\n  - " match           \
    "route: [{destination: {host: db.example.com}}]\n---\n"
#define GW_L4(port, proto) GW("gw", "{istio: ingressgateway}", port, "['*.example.com']", proto)

static const struct config_case cases[] = {
    {"analyze_clean_canary_has_no_error",
     SVC_REVIEWS DR_REVIEWS("") VS_REVIEWS("{host: reviews, subset: v2}"), "IST0101", NULL, NULL,
     true, A},
    {"analyze_reports_unknown_subset",
     SVC_REVIEWS DR_REVIEWS("") VS_REVIEWS("{host: reviews, subset: v9}"), "IST0101",
     "spec.http[0].route[0].destination.subset",
     "Referenced host+subset in destinationrule not found: \"reviews+v9\"", false, A},
    {"analyze_reports_unknown_host", DR_REVIEWS("") VS_REVIEWS("{host: ratings}"), "IST0101",
     "spec.http[0].route[0].destination.host", "Referenced host not found: \"ratings\"", false, A},
    {"analyze_fqdn_and_short_name_are_the_same_host",
     SVC_REVIEWS DR_REVIEWS("") VS_REVIEWS("{host: reviews.default.svc.cluster.local, subset: v1}"),
     "IST0101", NULL, NULL, true, A},
    {"analyze_short_name_resolves_in_the_vs_namespace",
     SVC_REVIEWS "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r, "
                 "namespace: other}\nspec:\n  hosts: [x.com]\n  http:\n  - route:\n"
                 "    - destination: {host: reviews}\n",
     "IST0101", "spec.http[0].route[0].destination.host", "\"reviews\"", false, A},
    {"analyze_reports_unknown_destination_port",
     SVC_REVIEWS VS_REVIEWS("{host: reviews, port: {number: 8080}}"), "IST0101",
     "spec.http[0].route[0].destination.port.number", "reviews:8080", false, A},
    {"analyze_reports_missing_port_for_multiport_service",
     "apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: default}\nspec:\n"
     "  ports:\n  - {port: 80, name: http}\n  - {port: 443, name: https}\n---\n" VS_REVIEWS(
         "{host: reviews}"),
     "IST0112", "spec.http[0].route[0].destination.host", "exposes multiple ports [80 443]", false,
     A},
    {"analyze_reports_unknown_gateway",
     SVC_REVIEWS "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"
                 "spec:\n  hosts: [a.example.com]\n  gateways: [nope]\n  http:\n  - route:\n"
                 "    - destination: {host: reviews}\n",
     "IST0101", "spec.gateways[0]", "Referenced gateway not found: \"nope\"", false, A},
    {"analyze_reports_vs_host_missing_from_gateway",
     SVC_REVIEWS
     "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  servers:\n"
     "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [a.example.com]\n---\n"
     "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"
     "spec:\n  hosts: [b.example.com]\n  gateways: [gw]\n  http:\n  - route:\n"
     "    - destination: {host: reviews}\n",
     "IST0132", "spec.gateways[0]", "one or more host [b.example.com]", false, A},
    {"analyze_gateway_wildcard_admits_host",
     SVC_REVIEWS
     "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  servers:\n"
     "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [\"*.example.com\"]\n---\n"
     "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"
     "spec:\n  hosts: [b.example.com]\n  gateways: [default/gw]\n  http:\n  - route:\n"
     "    - destination: {host: reviews}\n",
     "IST0132", NULL, NULL, true, A},
    {"analyze_reports_conflicting_mesh_hosts",
     SVC_REVIEWS VS_REVIEWS(
         "{host: reviews}") "---\n"
                            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: "
                            "{name: r2}\n"
                            "spec:\n  hosts: [reviews.default.svc.cluster.local]\n  http:\n  - "
                            "route:\n"
                            "    - destination: {host: reviews}\n",
     "IST0109", "spec.hosts", "default/reviews,default/r2", false, A},
    {"analyze_reports_subset_selecting_no_pod",
     "apiVersion: v1\nkind: Service\nmetadata: {name: reviews}\nspec:\n  selector: {app: reviews}\n"
     "  ports:\n  - {port: 9080, name: http}\n---\n"
     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: reviews-v1}\nspec:\n  template:\n"
     "    metadata:\n      labels: {app: reviews, version: v1}\n---\n" DR_REVIEWS(""),
     "IST0173", "spec.subsets[1].labels", "The Subset v2 defined in the DestinationRule", false, A},
    {"analyze_subset_selecting_pods_is_fine",
     "apiVersion: v1\nkind: Service\nmetadata: {name: reviews}\nspec:\n  selector: {app: reviews}\n"
     "  ports:\n  - {port: 9080, name: http}\n---\n"
     "apiVersion: v1\nkind: List\nitems:\n"
     "- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: reviews-v1}\n  spec:\n"
     "    template:\n      metadata:\n        labels: {app: reviews, version: v1}\n"
     "- apiVersion: v1\n  kind: Pod\n  metadata: {name: reviews-v2-abc, labels: {app: reviews, "
     "version: v2}}\n---\n" DR_REVIEWS(""),
     "IST0173", NULL, NULL, true, A},
    {"analyze_warns_subset_selecting_no_se_endpoint",
     SVC_REVIEWS "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\n"
                 "spec:\n  host: reviews\n  subsets:\n  - {name: v3, labels: {version: v3}}\n",
     "ML0106", "spec.subsets[0].labels", "subset v3 selects no endpoint", false, A},
    {"analyze_warns_outlier_detection_that_cannot_eject",
     SVC_REVIEWS DR_REVIEWS("  trafficPolicy:\n    outlierDetection: {consecutive5xxErrors: 1}\n"),
     "ML0101", "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
     "it has 2 endpoints, so ejecting one is 50% of the pool, above maxEjectionPercent 10%", false,
     A},
    {"analyze_outlier_detection_with_100_percent_is_fine",
     SVC_REVIEWS DR_REVIEWS("  trafficPolicy:\n    outlierDetection: {maxEjectionPercent: 100}\n"),
     "ML0101", NULL, NULL, true, A},
    {"analyze_warns_simple_tls_without_ca",
     SVC_REVIEWS DR_REVIEWS("  trafficPolicy:\n    tls: {mode: SIMPLE}\n"), "IST0128",
     "spec.trafficPolicy.tls.caCertificates", "has TLS mode set to SIMPLE but no caCertificates",
     false, A},
    {"analyze_warns_port_level_mutual_without_ca",
     SVC_REVIEWS DR_REVIEWS("  trafficPolicy:\n    portLevelSettings:\n    - port: {number: 443}\n"
                            "      tls: {mode: MUTUAL, clientCertificate: /c, privateKey: /k}\n"),
     "IST0129", "spec.trafficPolicy.portLevelSettings[0].tls.caCertificates", "at port number:443",
     false, A},
    {"analyze_warns_dr_for_unknown_host",
     "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n"
     "  host: nowhere\n  trafficPolicy:\n    loadBalancer: {simple: RANDOM}\n",
     "IST0174", "spec.host", "The host nowhere defined in the DestinationRule", false, A},
    {"analyze_warns_two_drs_for_one_host",
     SVC_REVIEWS DR_REVIEWS(
         "") "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: again}\n"
             "spec:\n  host: reviews.default.svc.cluster.local\n  subsets:\n"
             "  - {name: v3, labels: {version: v1}}\n",
     "ML0105", "spec.host", "DestinationRules default/reviews and default/again", false, A},
    {"analyze_warns_ingress_route_ignoring_mesh_subsets",
     SVC_REVIEWS DR_REVIEWS("") VS_REVIEWS(
         "{host: reviews, subset: v1}") "---\n"
                                        "apiVersion: networking.istio.io/v1\nkind: "
                                        "Gateway\nmetadata: {name: gw}\nspec:\n  servers:\n"
                                        "  - port: {number: 80, name: http, protocol: HTTP}\n    "
                                        "hosts: [\"*\"]\n---\n"
                                        "apiVersion: networking.istio.io/v1\nkind: "
                                        "VirtualService\nmetadata: {name: edge}\n"
                                        "spec:\n  hosts: [a.example.com]\n  gateways: [gw]\n  "
                                        "http:\n  - route:\n"
                                        "    - destination: {host: reviews}\n",
     "IST0140", "spec.http[0].route[0].destination.host",
     "Subset in virtual service default/reviews has no effect on ingress gateway default/gw", false,
     A},
    {"analyze_export_to_hides_service",
     "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: s, namespace: "
     "other}\n"
     "spec:\n  hosts: [other.example.com]\n  exportTo: [\".\"]\n---\n"
     "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"
     "spec:\n  hosts: [a.example.com]\n  http:\n  - route:\n"
     "    - destination: {host: other.example.com}\n",
     "IST0101", "spec.http[0].route[0].destination.host", "other.example.com", false, A},
    {"analyze_wildcard_service_entry_covers_host",
     "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: s}\n"
     "spec:\n  hosts: [\"*.eu.example.com\"]\n---\n"
     "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"
     "spec:\n  hosts: [a.example.com]\n  http:\n  - route:\n"
     "    - destination: {host: reviews.eu.example.com}\n",
     "IST0101", NULL, NULL, true, A},
    {"analyze_warns_duplicate_subset_across_drs",
     SVC_REVIEWS DR_REVIEWS(
         "") "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: again}\n"
             "spec:\n  host: reviews\n  subsets:\n  - {name: v1, labels: {version: v2}}\n",
     "ML0105", "spec.subsets[0].name",
     "subset v1 is also defined by DestinationRule "
     "default/reviews",
     false, A},
    {"analyze_reports_conflicting_gateways",
     "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: a}\nspec:\n"
     "  selector: {istio: ingressgateway}\n  servers:\n"
     "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [api.example.com]\n---\n"
     "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: b}\nspec:\n"
     "  selector: {istio: ingressgateway}\n  servers:\n"
     "  - port: {number: 80, name: http2, protocol: HTTP}\n    hosts: [api.example.com]\n",
     "IST0145", "spec.servers[0].hosts[0]",
     "Conflict with gateways default/a (workload selector istio=ingressgateway, port 80, hosts "
     "api.example.com).",
     false, A},
    {"analyze_gateways_with_other_selectors_do_not_conflict",
     "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: a}\nspec:\n"
     "  selector: {istio: ingressgateway}\n  servers:\n"
     "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [api.example.com]\n---\n"
     "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: b}\nspec:\n"
     "  selector: {istio: eastwest}\n  servers:\n"
     "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [api.example.com]\n",
     "IST0145", NULL, NULL, true, A},
    {"analyze_notes_virtual_services_sharing_a_gateway_host",
     SVC_REVIEWS
     "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  servers:\n"
     "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [\"*\"]\n---\n"
     "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: one}\n"
     "spec:\n  hosts: [a.example.com]\n  gateways: [gw]\n  http:\n  - route:\n"
     "    - destination: {host: reviews}\n---\n"
     "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: two}\n"
     "spec:\n  hosts: [a.example.com]\n  gateways: [default/gw]\n  http:\n  - route:\n"
     "    - destination: {host: reviews}\n",
     "ML0107", "spec.hosts",
     "VirtualServices default/one and default/two both route host "
     "a.example.com on gateway default/gw",
     false, A},
    {"analyze_warns_resource_defined_twice", SVC_REVIEWS DR_REVIEWS("") DR_REVIEWS(""), "ML0108",
     "spec", "DestinationRule default/reviews is defined twice", false, A},
    {"analyze_warns_hostless_vs_nobody_delegates_to",
     SVC_REVIEWS "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: d}\n"
                 "spec:\n  http:\n  - route:\n    - destination: {host: reviews}\n",
     "ML0110", "spec.hosts", "has no hosts and no VirtualService names it as a delegate", false, A},
    {"analyze_hostless_vs_named_as_delegate_is_fine",
     SVC_REVIEWS "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: d}\n"
                 "spec:\n  http:\n  - route:\n    - destination: {host: reviews}\n---\n"
                 "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: "
                 "root}\nspec:\n  hosts: [a.example.com]\n  http:\n  - delegate: {name: d}\n",
     "ML0110", NULL, NULL, true, A},
    /* ---- Istio analyzer parity (issue 12) ---- */
    {"analyze_conflicting_gateways_reported_on_both",
     GW("a", "{istio: ingressgateway}", "80", "[api.example.com]", "HTTP")
         GW("b", "{istio: ingressgateway}", "80", "[api.example.com]", "HTTP"),
     "IST0145", "spec.servers[0].hosts[0]",
     "Conflict with gateways default/b (workload selector istio=ingressgateway, port 80, hosts "
     "api.example.com).",
     false, A},
    {"analyze_conflicting_gateways_by_overlapping_wildcard",
     GW("a", "{istio: ingressgateway}", "80", "[foo.example.com]", "HTTP")
         GW("b", "{istio: ingressgateway}", "80", "[\"*.example.com\"]", "HTTP"),
     "IST0145", "spec.servers[0].hosts[0]",
     "Conflict with gateways default/b (workload selector istio=ingressgateway, port 80, hosts "
     "foo.example.com).",
     false, A},
    {"analyze_conflicting_gateways_by_different_selectors_of_one_pod",
     POD("gw-pod", "{istio: ingressgateway, app: edge}")
         GW("a", "{istio: ingressgateway}", "80", "[api.example.com]", "HTTP")
             GW("b", "{app: edge}", "80", "[api.example.com]", "HTTP"),
     "IST0145", "spec.servers[0].hosts[0]",
     "Conflict with gateways default/a (workload selector "
     "app=edge, port 80, hosts api.example.com).",
     false, A},
    {"analyze_different_selectors_of_different_pods_do_not_conflict",
     POD("p1", "{istio: ingressgateway}") POD("p2", "{app: edge}")
         GW("a", "{istio: ingressgateway}", "80", "[api.example.com]", "HTTP")
             GW("b", "{app: edge}", "80", "[api.example.com]", "HTTP"),
     "IST0145", NULL, NULL, true, A},
    {"analyze_gateway_selector_matching_no_pod",
     POD("p1", "{app: web}") GW("a", "{istio: ingressgateway}", "80", "[api.example.com]", "HTTP"),
     "IST0101", "spec.selector", "Referenced selector not found: \"istio=ingressgateway\"", false,
     A},
    {"analyze_gateway_selector_unchecked_without_workloads",
     GW("a", "{istio: ingressgateway}", "80", "[api.example.com]", "HTTP"), "IST0101",
     "spec.selector", NULL, true, A},
    {"analyze_gateway_port_not_on_ingress_service",
     POD("gw-pod", "{istio: ingressgateway}")
         INGRESS_SVC GW("a", "{istio: ingressgateway}", "8004", "[api.example.com]", "HTTP"),
     "IST0162", "spec.servers[0].port.number",
     "The gateway is listening on a target port (port 8004) that is not defined in the Service "
     "associated with its workload instances (Pod selector istio=ingressgateway).",
     false, A},
    {"analyze_gateway_port_that_is_a_service_target_port_is_fine",
     POD("gw-pod", "{istio: ingressgateway}")
         INGRESS_SVC GW("a", "{istio: ingressgateway}", "8080", "[api.example.com]", "HTTP"),
     "IST0162", NULL, NULL, true, A},
    {"analyze_duplicate_certificate_across_gateways",
     TLS_PAIR("{istio: ingressgateway}", TLS("shared-cert"), TLS("shared-cert")), "IST0138",
     "spec.servers[0].tls",
     "Duplicate certificate in multiple gateways [default/a default/b] may cause 404s if clients "
     "re-use HTTP2 connections.",
     false, A},
    {"analyze_distinct_certificates_are_fine",
     TLS_PAIR("{istio: ingressgateway}", TLS("a-cert"), TLS("b-cert")), "IST0138", NULL, NULL, true,
     A},
    {"analyze_same_server_certificate_with_other_private_key_is_fine",
     TLS_PAIR("{istio: ingressgateway}", FILE_TLS("a.key"), FILE_TLS("b.key")), "IST0138", NULL,
     NULL, true, A},
    {"analyze_same_server_certificate_and_private_key_is_duplicate",
     TLS_PAIR("{istio: ingressgateway}", FILE_TLS("k.key"), FILE_TLS("k.key")), "IST0138",
     "spec.servers[0].tls", "[default/b default/a]", false, A},
    {"analyze_duplicate_certificate_for_a_selector_subset_without_workloads",
     TLS_PAIR("{istio: ingressgateway, app: edge}", TLS("shared-cert"), TLS("shared-cert")),
     "IST0138", "spec.servers[0].tls", "[default/a default/b]", false, A},
    {"analyze_duplicate_certificate_not_reported_on_the_narrower_selector",
     TLS_PAIR("{istio: ingressgateway, app: edge}", TLS("shared-cert"), TLS("shared-cert")),
     "IST0138", "spec.servers[0].tls", "[default/b default/a]", true, A},
    {"analyze_vs_host_missing_from_gateway_only_when_none_admitted",
     SVC_REVIEWS GW("gw", "{istio: ingressgateway}", "80", "[a.example.com]", "HTTP")
         VS_GW("[a.example.com, b.example.com]", "[gw]"),
     "IST0132", NULL, NULL, true, A},
    {"analyze_vs_hosts_none_in_gateway_lists_every_host",
     SVC_REVIEWS GW("gw", "{istio: ingressgateway}", "80", "[c.example.com]", "HTTP")
         VS_GW("[a.example.com, b.example.com]", "[gw]"),
     "IST0132", "spec.gateways[0]",
     "one or more host [a.example.com b.example.com] defined in VirtualService default/r not "
     "found in Gateway default/gw.",
     false, A},
    {"analyze_vs_referencing_internal_gateway",
     SVC_REVIEWS VS_GW("[a.example.com]",
                       "[istio-system/gateway-istio-autogenerated-k8s-gateway-default]"),
     "IST0165", "spec.gateways[0]",
     "Gateway reference in VirtualService default/r is to an implementation-generated internal "
     "Gateway: istio-system/gateway-istio-autogenerated-k8s-gateway-default.",
     false, A},
    {"analyze_vs_referencing_internal_gateway_named_as_istio_does_today",
     SVC_REVIEWS VS_GW("[a.example.com]", "[\"gw~istio-autogenerated-k8s-gateway~http\"]"),
     "IST0165", "spec.gateways[0]", "internal Gateway: gw~istio-autogenerated-k8s-gateway~http.",
     false, A},
    {"analyze_gateway_merely_ending_like_an_internal_one_is_not_internal",
     SVC_REVIEWS VS_GW("[a.example.com]", "[edge-istio-autogenerated-k8s-gateway]"), "IST0165",
     NULL, NULL, true, A},
    {"analyze_internal_gateway_is_not_also_not_found",
     SVC_REVIEWS VS_GW("[a.example.com]",
                       "[istio-system/gateway-istio-autogenerated-k8s-gateway-default]"),
     "IST0101", "spec.gateways[0]", NULL, true, A},
    {"analyze_overlapping_prefix_is_ineffective_match_not_unreachable_rule",
     SVC_REVIEWS VS_RULES("  - match: [{uri: {prefix: /a}}]\n    route: [{destination: {host: "
                          "reviews}}]\n  - match: [{uri: {prefix: /a/b}}]\n    route: "
                          "[{destination: {host: reviews}}]\n"),
     "IST0130", NULL, NULL, true, A},
    {"analyze_overlapping_prefix_reports_ineffective_match",
     SVC_REVIEWS VS_RULES("  - match: [{uri: {prefix: /a}}]\n    route: [{destination: {host: "
                          "reviews}}]\n  - match: [{uri: {prefix: /a/b}}]\n    route: "
                          "[{destination: {host: reviews}}]\n"),
     "IST0131", "spec.http[1].match[0]", "duplicate/overlapping match in rule #0", false, A},
    {"analyze_overlapping_prefix_is_reported_in_istios_words",
     SVC_REVIEWS VS_RULES("  - match: [{uri: {prefix: /a}}]\n    route: [{destination: {host: "
                          "reviews}}]\n  - name: deep\n    match: [{uri: {prefix: /b}}, {name: "
                          "sub, uri: {prefix: /a/b}}]\n    route: [{destination: {host: "
                          "reviews}}]\n"),
     "IST0131", "spec.http[1].match[1]",
     "VirtualService rule \"deep\" match \"sub\" of prefix /a/b is not used "
     "(duplicate/overlapping match in rule #0 of prefix /a on #0).",
     false, A},
    {"analyze_exact_duplicate_match_is_unreachable_rule",
     SVC_REVIEWS VS_RULES("  - match: [{uri: {prefix: /a}}]\n    route: [{destination: {host: "
                          "reviews}}]\n  - match: [{uri: {prefix: /a}}]\n    route: "
                          "[{destination: {host: reviews}}]\n"),
     "IST0130", "spec.http[1]", "all matches used by prior rules", false, A},
    {"analyze_overlapping_wildcard_mesh_hosts_conflict",
     SVC_REVIEWS MESH_VS("one", "\"*.a.example.com\"") MESH_VS("two", "\"*.example.com\""),
     "IST0109", "spec.hosts", "*.a.example.com (also matched by *.example.com)", false, A},
    {"analyze_disjoint_wildcard_mesh_hosts_do_not_conflict",
     SVC_REVIEWS MESH_VS("one", "\"*.a.example.com\"") MESH_VS("two", "\"*.b.example.com\""),
     "IST0109", NULL, NULL, true, A},
    {"analyze_deprecated_fault_delay_percent",
     SVC_REVIEWS VS_RULES("  - fault: {delay: {percent: 50, fixedDelay: 1s}}\n    route: "
                          "[{destination: {host: reviews}}]\n"),
     "IST0002", "spec.http[0].fault.delay.percent",
     "Deprecated: HTTPRoute.fault.delay.percent is deprecated; use "
     "HTTPRoute.fault.delay.percentage",
     false, A},
    {"analyze_fault_delay_percentage_is_not_deprecated",
     SVC_REVIEWS VS_RULES("  - fault: {delay: {percentage: {value: 50}, fixedDelay: 1s}}\n"
                          "    route: [{destination: {host: reviews}}]\n"),
     "IST0002", NULL, NULL, true, A},
    {"analyze_subset_of_service_without_any_pod",
     K8S_REVIEWS POD("web", "{app: web}") DR_REVIEWS(""), "IST0173", "spec.subsets[0].labels",
     "The Subset v1 defined in the DestinationRule does not select any pods.", false, A},
    {"analyze_subset_pods_unknown_without_workloads", K8S_REVIEWS DR_REVIEWS(""), "IST0173", NULL,
     NULL, true, A},
    {"analyze_tls_rule_on_a_gateway_without_passthrough",
     SVC_TCP("db", "5432") GW_L4("443", TLS("cred"))
         VS_L4("v", "tls", "match: [{sniHosts: [db.example.com]}]\n    "),
     "ML0111", "spec.tls[0]",
     "tls[0] is bound to gateway default/gw, which has no TLS PASSTHROUGH "
     "server: it routes nothing there",
     false, A},
    {"analyze_tls_rule_on_an_auto_passthrough_gateway",
     SVC_TCP("db", "5432") GW_L4("443", "TLS}\n    tls: {mode: AUTO_PASSTHROUGH")
         VS_L4("v", "tls", "match: [{sniHosts: [db.example.com]}]\n    "),
     "ML0111", "spec.tls[0]", "which has no TLS PASSTHROUGH server", false, A},
    {"analyze_tls_rule_on_a_passthrough_gateway_is_fine",
     SVC_TCP("db", "5432") GW_L4("443", "TLS}\n    tls: {mode: PASSTHROUGH")
         VS_L4("v", "tls", "match: [{sniHosts: [db.example.com]}]\n    "),
     "ML0111", NULL, NULL, true, A},
    {"analyze_tcp_rule_on_an_http_gateway_port",
     SVC_TCP("db", "5432") GW_L4("80", "HTTP") VS_L4("v", "tcp", "match: [{port: 80}]\n    "),
     "ML0111", "spec.tcp[0]", "whose server on port 80 is HTTP: tcp rules apply only to TCP", false,
     A},
    {"analyze_tcp_rule_on_a_tcp_gateway_is_fine",
     SVC_TCP("db", "5432") GW_L4("5432", "TCP") VS_L4("v", "tcp", ""), "ML0111", NULL, NULL, true,
     A},
    {"analyze_tcp_rules_are_no_longer_unenforced",
     SVC_TCP("db", "5432") GW_L4("5432", "TCP") VS_L4("v", "tcp", ""), "ML0109", NULL, NULL, true,
     false},
    {"analyze_two_tcp_services_on_one_mesh_port",
     SVC_TCP("db", "5432") SVC_TCP("pg", "5432") SVC_TCP("redis", "6379"), "ML0112",
     "spec.ports[0].number",
     "TCP port 5432 of pg.example.com is already the mesh's TCP port of db.example.com "
     "(ServiceEntry default/db)",
     false, A},
    {"analyze_tcp_rule_hidden_by_an_older_catch_all",
     SVC_TCP("db", "5432") GW_L4("5432", "TCP") VS_L4("old", "tcp", "")
         VS_L4("new", "tcp", "match: [{destinationSubnets: [10.0.0.0/8]}]\n    "),
     "ML0113", "spec.tcp[0]",
     "tcp[0] never matches on gateway default/gw port 5432: the older VirtualService "
     "default/old's tcp[0] takes every connection first",
     false, A},
    {"analyze_tcp_rule_after_a_narrower_one_is_reached",
     SVC_TCP("db", "5432") GW_L4("5432", "TCP") VS_L4("old", "tcp", "match: [{port: 5433}]\n    ")
         VS_L4("new", "tcp", ""),
     "ML0113", NULL, NULL, true, A},
    {"analyze_gateway_subnets_are_a_catch_all",
     SVC_TCP("db", "5432") GW_L4("5432", "TCP") VS_L4(
         "old", "tcp", "match: [{destinationSubnets: [10.0.0.0/8]}]\n    ") VS_L4("new", "tcp", ""),
     "ML0113", "spec.tcp[0]", "the older VirtualService default/old's tcp[0]", false, A},
    {"analyze_sni_an_older_virtual_service_routes",
     SVC_TCP("db", "5432") GW_L4("443", "TLS}\n    tls: {mode: PASSTHROUGH")
         VS_L4("old", "tls", "match: [{sniHosts: [db.example.com]}]\n    ")
             VS_L4("new", "tls", "match: [{sniHosts: [x.example.com, DB.example.com]}]\n    "),
     "ML0113", "spec.tls[0].match[0].sniHosts[1]",
     "tls[0] never routes DB.example.com on gateway default/gw port 443: the older "
     "VirtualService default/old tls[0] routes it first",
     false, A},
    {"analyze_sni_names_of_different_hosts_do_not_clash",
     SVC_TCP("db", "5432") GW_L4("443", "TLS}\n    tls: {mode: PASSTHROUGH")
         VS_L4("old", "tls", "match: [{sniHosts: [db.example.com]}]\n    ")
             VS_L4("new", "tls", "match: [{sniHosts: [x.example.com]}]\n    "),
     "ML0113", NULL, NULL, true, A},
    {"analyze_tcp_rule_for_another_port_is_not_hidden",
     SVC_TCP("db", "5432") GW_L4("5432", "TCP") VS_L4("old", "tcp", "")
         VS_L4("new", "tcp", "match: [{port: 5433}]\n    "),
     "ML0113", NULL, NULL, true, A},
    {"analyze_gateway_ignores_destination_subnets",
     SVC_TCP("db", "5432") GW_L4("5432", "TCP")
         VS_L4("v", "tcp", "match: [{destinationSubnets: [10.0.0.0/8]}]\n    "),
     "ML0114", "spec.tcp[0].match[0].destinationSubnets",
     "destinationSubnets of tcp[0] is ignored: the rule binds only gateways", false, A},
    {"analyze_mesh_keeps_destination_subnets",
     SVC_TCP("db", "5432") "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: "
                           "{name: m}\nspec:\n"
                           "  hosts: [db.example.com]\n  tcp:\n  - match: [{destinationSubnets: "
                           "[10.0.0.0/8]}]\n"
                           "    route: [{destination: {host: db.example.com}}]\n",
     "ML0114", NULL, NULL, true, A},
    {"analyze_dynamic_dns_is_not_enforced",
     "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: dyn}\nspec:\n"
     "  hosts: [\"*.wiki.test\"]\n  resolution: DYNAMIC_DNS\n"
     "  ports: [{number: 80, name: http, protocol: HTTP}]\n",
     "ML0115", "spec.resolution", "resolution DYNAMIC_DNS is not enforced by meshlet", false, A},
    {"analyze_dns_resolution_is_enforced",
     "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext}\nspec:\n"
     "  hosts: [api.wiki.test]\n  resolution: DNS\n"
     "  ports: [{number: 80, name: http, protocol: HTTP}]\n",
     "ML0115", NULL, NULL, true, A},
    {"validate_alone_does_not_analyze", DR_REVIEWS("") VS_REVIEWS("{host: reviews, subset: v9}"),
     "IST0101", NULL, NULL, true, false},
};

/* Analysis runs after the documents are unloaded; its messages still point at the right
 * line and column, found by reading the file again, List items and dotted keys included. */
static void
test_analyze_messages_are_located_after_unload(void **state)
{
    (void)state;
    struct resource_set set;
    struct diag_list dl;
    config_case_load("# leading comment\n"
                     "---\n"
                     "apiVersion: v1\nkind: List\nitems:\n"
                     "- apiVersion: networking.istio.io/v1\n"
                     "  kind: VirtualService\n"
                     "  metadata: {name: a}\n"
                     "  spec:\n"
                     "    hosts: [a.example.com]\n"
                     "    http:\n"
                     "    - route:\n"
                     "      - destination:\n"
                     "          host: nowhere\n"
                     "---\n"
                     "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n"
                     "  selector: {app: s}\n  ports: [{port: 80, name: http}]\n"
                     "---\n"
                     "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: s}}\n"
                     "---\n"
                     "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                     "metadata: {name: d}\nspec:\n  host: s\n  subsets:\n  - name: v1\n"
                     "    labels:\n      app.kubernetes.io/version: v1\n",
                     true, &set, &dl);
    bool host = false, subset = false;
    for (size_t i = 0; i < dl.len; i++) {
        const struct diag *d = &dl.items[i];
        if (!strcmp(d->code, "IST0101") &&
            !strcmp(d->path, "spec.http[0].route[0].destination.host")) {
            assert_int_equal(d->line, 14);
            assert_int_equal(d->col, 17);
            host = true;
        }
        if (!strcmp(d->code, "IST0173")) {
            assert_string_equal(d->path, "spec.subsets[0].labels");
            assert_int_equal(d->line, 35);
            assert_int_equal(d->col, 7);
            subset = true;
        }
    }
    if (!host || !subset) config_case_dump(&dl);
    assert_true(host && subset);
    diag_list_fini(&dl);
    config_fini(&set);
}

/* An ingress Service with 300 ports, the gateway's the last: every one counts (IST0162 came
 * from a cap of 256), and a selector of 70 labels is quoted whole in IST0101 (a cap of 64). */
static void
test_analyze_gateway_checks_have_no_fixed_caps(void **state)
{
    (void)state;
    struct strbuf y;
    strbuf_init(&y, 1 << 20);
    strbuf_puts(&y, POD("gw-pod", "{istio: ingressgateway}"));
    strbuf_puts(&y, "apiVersion: v1\nkind: Service\nmetadata: {name: ingress, namespace: "
                    "istio-system}\nspec:\n  selector: {istio: ingressgateway}\n  ports:\n");
    for (int i = 0; i < 300; i++)
        strbuf_printf(&y, "  - {name: p%d, port: %d, targetPort: %d}\n", i, 10000 + i, 20000 + i);
    strbuf_puts(&y, "---\n");
    strbuf_puts(&y, GW("a", "{istio: ingressgateway}", "20299", "[a.example.com]", "HTTP"));
    strbuf_puts(&y, "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: b}\n"
                    "spec:\n  selector: {");
    for (int i = 0; i < 70; i++) strbuf_printf(&y, "%sk%02d: v", i ? ", " : "", i);
    strbuf_puts(&y, "}\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n"
                    "    hosts: [b.example.com]\n");
    struct resource_set set;
    struct diag_list dl;
    config_case_load(strbuf_str(&y), true, &set, &dl);
    strbuf_fini(&y);
    const struct config_case no_port_warning = {"", "", "IST0162", NULL, NULL, true, A};
    const struct config_case whole_selector = {
        "", "", "IST0101", "spec.selector", "k00=v,k01=v,", false, A};
    const struct config_case last_label = {"",         "",    "IST0101", "spec.selector",
                                           ",k69=v\"", false, A};
    bool ok = !config_case_found(&dl, &no_port_warning) &&
              config_case_found(&dl, &whole_selector) && config_case_found(&dl, &last_label);
    if (!ok) config_case_dump(&dl);
    assert_true(ok);
    diag_list_fini(&dl);
    config_fini(&set);
}

int
main(void)
{
    const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_analyze_messages_are_located_after_unload),
        cmocka_unit_test(test_analyze_gateway_checks_have_no_fixed_caps),
    };
    int rc = config_case_run_all("analyze", cases, sizeof(cases) / sizeof(cases[0]));
    rc |= cmocka_run_group_tests(extra, NULL, NULL);
    harness_cleanup();
    return rc;
}
