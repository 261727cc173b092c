/* SPDX-License-Identifier: Apache-2.0 */
/* Gateway validation rules. */
#include "config_case.h"

#define GW(spec)                                                                                   \
    "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g, namespace: "           \
    "default}\nspec:\n" spec

#define HTTP_SERVER "  - port: {number: 80, name: http, protocol: HTTP}\n"

static const struct config_case cases[] = {
    {"gw_valid_has_no_error", GW("  servers:\n" HTTP_SERVER "    hosts: [\"*.example.com\"]\n"),
     "IST0106", NULL, NULL, true},
    {"gw_requires_servers", GW("  selector: {istio: ingressgateway}\n"), "IST0106", "spec.servers",
     "gateway must have at least one server"},
    {"gw_requires_server_hosts", GW("  servers:\n" HTTP_SERVER), "IST0106", "spec.servers[0].hosts",
     "server config must contain at least one host"},
    {"gw_rejects_short_host", GW("  servers:\n" HTTP_SERVER "    hosts: [reviews]\n"), "IST0106",
     "spec.servers[0].hosts[0]", "short names (non FQDN) are not allowed"},
    {"gw_rejects_partial_wildcard", GW("  servers:\n" HTTP_SERVER "    hosts: [\"*foo.com\"]\n"),
     "IST0106", "spec.servers[0].hosts[0]", "partial wildcard"},
    {"gw_accepts_namespaced_host",
     GW("  servers:\n" HTTP_SERVER "    hosts: [\"prod/api.example.com\"]\n"), "IST0106", NULL,
     NULL, true},
    {"gw_rejects_bad_protocol",
     GW("  servers:\n  - port: {number: 80, name: http, protocol: SPDY}\n    hosts: [\"*\"]\n"),
     "IST0106", "spec.servers[0].port.protocol", "invalid protocol \"SPDY\""},
    /* Istio's validateServerPort takes whatever protocol.Parse knows, as ServiceEntry does. */
    {"gw_accepts_udp_as_istio_parses_it",
     GW("  servers:\n  - port: {number: 80, name: u, protocol: udp}\n    hosts: [\"*\"]\n"),
     "IST0106", "spec.servers[0].port.protocol", NULL, true},
    {"gw_accepts_http_proxy_as_istio_parses_it",
     GW("  servers:\n  - port: {number: 80, name: p, protocol: HTTP_PROXY}\n    hosts: [\"*\"]\n"),
     "IST0106", "spec.servers[0].port.protocol", NULL, true},
    {"gw_rejects_port_out_of_range",
     GW("  servers:\n  - port: {number: 0, name: http, protocol: HTTP}\n    hosts: [\"*\"]\n"),
     "IST0106", "spec.servers[0].port.number", "port number 0 must be in the range 1..65535"},
    {"gw_rejects_duplicate_port_names",
     GW("  servers:\n" HTTP_SERVER "    hosts: [\"*\"]\n"
        "  - port: {number: 81, name: http, protocol: HTTP}\n    hosts: [\"*\"]\n"),
     "IST0106", "spec.servers[1].port.name", "port names in servers must be unique"},
    {"gw_https_requires_tls",
     GW("  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [\"*\"]\n"),
     "IST0106", "spec.servers[0].tls", "server must have TLS settings for HTTPS/TLS protocols"},
    {"gw_simple_requires_certificate",
     GW("  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [\"*\"]\n"
        "    tls: {mode: SIMPLE}\n"),
     "IST0106", "spec.servers[0].tls.serverCertificate",
     "SIMPLE TLS requires a server certificate"},
    {"gw_simple_with_credential_is_fine",
     GW("  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [\"*\"]\n"
        "    tls: {mode: SIMPLE, credentialName: api-cert}\n"),
     "IST0106", NULL, NULL, true},
    {"gw_mutual_requires_ca",
     GW("  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [\"*\"]\n"
        "    tls: {mode: MUTUAL, serverCertificate: /c, privateKey: /k}\n"),
     "IST0106", "spec.servers[0].tls.caCertificates", "MUTUAL TLS requires a client CA bundle"},
    {"gw_http_with_redirect_only_is_fine",
     GW("  servers:\n" HTTP_SERVER "    hosts: [\"*\"]\n    tls: {httpsRedirect: true}\n"),
     "IST0106", NULL, NULL, true},
    {"gw_http_rejects_tls_mode",
     GW("  servers:\n" HTTP_SERVER
        "    hosts: [\"*\"]\n    tls: {mode: SIMPLE, credentialName: x}\n"),
     "IST0106", "spec.servers[0].tls", "server cannot have TLS settings for plain text HTTP ports"},
    {"gw_rejects_name_with_dot",
     "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: a.b}\nspec:\n"
     "  servers:\n" HTTP_SERVER "    hosts: [\"*\"]\n",
     "IST0106", "spec", "invalid gateway name: \"a.b\""},
};

int
main(void)
{
    return config_case_run_all("gateway", cases, sizeof(cases) / sizeof(cases[0]));
}
