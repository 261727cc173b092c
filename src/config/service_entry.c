/* SPDX-License-Identifier: Apache-2.0 */
/* ServiceEntry and WorkloadEntry: Istio's per-resource validation (ValidateServiceEntry,
 * ValidateWorkloadEntry). The WorkloadEntry and ServicePort tables are shared (field.c). */
#include "config/service_entry.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/field.h"
#include "config/rules.h"

FIELD_SCHEMA(service_entry, RES_SERVICE_ENTRY)

static bool
http_or_tls(const char *p)
{
    return p && (!strcasecmp(p, "HTTP") || !strcasecmp(p, "HTTP2") || !strcasecmp(p, "GRPC") ||
                 !strcasecmp(p, "GRPC-WEB") || !strcasecmp(p, "HTTPS") || !strcasecmp(p, "TLS") ||
                 !strcasecmp(p, "HTTP_PROXY"));
}

/* Address and unix-socket rules of one WorkloadEntry (standalone or inline). */
static void
validate_workload(struct vctx *v, const struct workload_entry *we)
{
    if (!we->address || !*we->address) {
        if (!we->network || !*we->network) {
            rules_error(v, we, "address", -1, "set address to an IP, hostname or unix:///path",
                        "address is required");
        } else {
            rules_warn(v, we, "address", -1,
                       "set the address unless a gateway of that network reaches it",
                       "address is unset with network %s", we->network);
        }
        return;
    }
    if (!strncmp(we->address, "unix://", 7)) {
        const char *path = we->address + 7;
        if (we->ports.len)
            rules_error(v, we, "ports", -1, "remove ports from a unix endpoint",
                        "unix endpoint %s must not include ports", we->address);
        if (path[0] != '/' && path[0] != '@')
            rules_error(v, we, "address", -1, "write unix:///absolute/path or unix://@abstract",
                        "UDS must be an absolute path or abstract socket");
        else if (path[strlen(path) - 1] == '/')
            rules_error(v, we, "address", -1, "name the socket file, not a directory",
                        "UDS may not be a dir");
    }
    for (size_t i = 0; i < we->ports.len; i++) {
        if (!rules_dns1123_label(we->ports.keys[i]))
            rules_error(v, we, "ports", -1, "keys are service port names such as http",
                        "invalid port name: %s", we->ports.keys[i]);
        if (we->ports.vals[i] < 1 || we->ports.vals[i] > 65535)
            rules_error(v, we, "ports", -1, "use a port from 1 to 65535",
                        "port number %" PRId64 " must be in the range 1..65535", we->ports.vals[i]);
    }
    rules_labels(v, we, "labels", &we->labels);
}

void
workload_entry_validate(const struct resource *r, struct diag_list *dl)
{
    struct vctx v = {dl, r};
    validate_workload(&v, r->spec.we);
}

void
service_entry_validate(const struct resource *r, struct diag_list *dl)
{
    struct vctx v = {dl, r};
    const struct service_entry *se = r->spec.se;
    int resolution = se->resolution.set ? se->resolution.v : RES_NONE;

    if (se->hosts.len == 0)
        rules_error(&v, se, "hosts", -1, "list the hosts this entry makes known",
                    "service entry must have at least one host");
    for (size_t i = 0; i < se->hosts.len; i++) {
        const char *h = se->hosts.v[i];
        if (!strcmp(h, "*")) {
            rules_error(&v, se, "hosts", (int)i, "name the hosts", "invalid host *");
            continue;
        }
        if (h[0] == '*' && h[1] != '.' && resolution != RES_DYNAMIC_DNS) {
            rules_warn(&v, se, "hosts", (int)i, "use a whole leading label: *.example.com",
                       "partial wildcard \"%s\" not allowed", h);
            continue;
        }
        const char *err = rules_wildcard_domain(h);
        if (err) rules_error(&v, se, "hosts", (int)i, RULES_DNS_HINT, "%s", err);
        if (resolution == RES_DYNAMIC_DNS && h[0] != '*')
            rules_error(&v, se, "hosts", (int)i, "use a wildcard host",
                        "host must be wildcarded for resolution mode DYNAMIC_DNS");
    }
    for (size_t i = 0; i < se->addresses.len; i++) {
        const char *a = se->addresses.v[i];
        if (strchr(a, '/')) {
            if (!rules_is_cidr(a))
                rules_error(&v, se, "addresses", (int)i, "write a CIDR block such as 10.0.0.0/16",
                            "%s is not a valid CIDR block", a);
            else if (resolution != RES_NONE && resolution != RES_STATIC)
                rules_error(&v, se, "addresses", (int)i,
                            "use single IPs, or resolution NONE/STATIC",
                            "CIDR addresses are allowed only for NONE/STATIC resolution types");
        } else if (!rules_is_ip(a)) {
            rules_error(&v, se, "addresses", (int)i, "write an IPv4 or IPv6 address",
                        "%s is not a valid IP", a);
        }
    }
    if (se->workload_selector && se->endpoints_len)
        rules_error(&v, se, "workloadSelector", -1, "keep endpoints or workloadSelector",
                    "only one of WorkloadSelector or Endpoints is allowed in Service Entry");
    if (se->workload_selector) {
        rules_selector(&v, se->workload_selector, "labels", &se->workload_selector->labels);
        if (resolution == RES_NONE)
            rules_warn(&v, se, "workloadSelector", -1, "set resolution STATIC",
                       "workloadSelector should not be set when resolution mode is NONE");
    }

    bool non_http_tls = false, tcp_unset = false;
    for (size_t i = 0; i < se->ports_len; i++) {
        const struct service_port *p = &se->ports[i];
        if (field_is_null(p)) {
            rules_error(&v, p, NULL, -1, "remove the empty item",
                        "service entry port may not be null");
            continue;
        }
        rules_port(&v, p, "number", p->number.v);
        if (p->target_port.set && p->target_port.v != 0)
            rules_port(&v, p, "targetPort", p->target_port.v);
        if (!p->name || !rules_dns1123_label(p->name)) {
            rules_error(&v, p, "name", -1, "a port name is a DNS-1123 label, e.g. http",
                        "invalid port name: %s", p->name ? p->name : "");
        }
        /* Istio's ValidateProtocol: the empty string is protocol sniffing, and valid. */
        bool sniffed = !p->protocol || !*p->protocol;
        if (!sniffed && !rules_known_protocol(p->protocol))
            rules_error(&v, p, "protocol", -1,
                        "use HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, HTTP_PROXY, TLS, TCP, MONGO, "
                        "REDIS, MYSQL or UDP (or leave it empty to sniff)",
                        "unrecognized protocol \"%s\"", p->protocol);
        if (!http_or_tls(p->protocol)) non_http_tls = true;
        if (sniffed || !strcasecmp(p->protocol, "TCP")) tcp_unset = true;
        for (size_t j = 0; j < i; j++) {
            const struct service_port *o = &se->ports[j];
            if (p->name && o->name && !strcmp(o->name, p->name))
                rules_error(&v, p, "name", -1, "give each port its own name",
                            "service entry port name \"%s\" already defined", p->name);
            if (o->number.v == p->number.v)
                rules_error(&v, p, "number", -1, "list each port once",
                            "service entry port %" PRId64 " already defined", p->number.v);
        }
    }
    if (resolution != RES_NONE && se->hosts.len > 1 && non_http_tls && se->ports_len)
        rules_error(&v, se, "hosts", -1, "split the hosts into one ServiceEntry each",
                    "multiple hosts provided with non-HTTP, non-TLS ports");
    if (tcp_unset && se->addresses.len == 0 && se->ports_len && resolution != RES_DYNAMIC_DNS)
        rules_report(&v, DIAG_WARNING, DIAG_SE_ADDRESSES, se, "addresses", -1,
                     "add addresses (a VIP or CIDR) so TCP traffic can be told apart",
                     "addresses are required for ports serving TCP (or unset) protocol when IP "
                     "Autoallocation is not enabled");

    switch (resolution) {
    case RES_NONE:
        if (se->endpoints_len)
            rules_error(&v, se, "endpoints", -1, "set resolution: STATIC or DNS for endpoints",
                        "no endpoints should be provided for resolution type none");
        break;
    case RES_STATIC:
        for (size_t i = 0; i < se->endpoints_len; i++) {
            const struct workload_entry *e = &se->endpoints[i];
            if (e->address && strncmp(e->address, "unix://", 7) && !rules_is_ip(e->address))
                rules_error(&v, e, "address", -1, "STATIC endpoints are IPs; use resolution DNS",
                            "endpoint address \"%s\" is not a valid IP address", e->address);
        }
        break;
    case RES_DNS:
    case RES_DNS_ROUND_ROBIN:
        if (!se->endpoints_len) {
            for (size_t i = 0; i < se->hosts.len; i++) {
                const char *h = se->hosts.v[i];
                if (h[0] == '*' || !strchr(h, '.'))
                    rules_error(&v, se, "hosts", (int)i, "give endpoints, or use FQDN hosts",
                                "hosts must be FQDN or contain only prefix wildcards if no "
                                "endpoints are provided for resolution mode %s",
                                se_resolution_names[resolution]);
            }
        }
        if (resolution == RES_DNS_ROUND_ROBIN && se->endpoints_len > 1)
            rules_error(&v, se, "endpoints", -1, "keep one endpoint, or use resolution DNS",
                        "there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN");
        for (size_t i = 0; i < se->endpoints_len; i++) {
            const struct workload_entry *e = &se->endpoints[i];
            if (e->address && strncmp(e->address, "unix://", 7) && !rules_is_ip(e->address) &&
                rules_wildcard_domain(e->address))
                rules_error(&v, e, "address", -1, "give an IP or a DNS name",
                            "endpoint address \"%s\" is not a valid FQDN or an IP address",
                            e->address);
        }
        break;
    case RES_DYNAMIC_DNS:
        if (se->addresses.len)
            rules_error(&v, se, "addresses", -1, "remove addresses, or use another resolution",
                        "addresses cannot be set for resolution mode DYNAMIC_DNS");
        if (se->endpoints_len)
            rules_error(&v, se, "endpoints", -1,
                        "remove endpoints, or use resolution STATIC or DNS",
                        "endpoints cannot be set for resolution mode DYNAMIC_DNS");
        for (size_t i = 0; i < se->ports_len; i++) {
            const char *p = se->ports[i].protocol;
            if (p && *p && strcasecmp(p, "HTTP") && strcasecmp(p, "TLS") && strcasecmp(p, "GRPC") &&
                strcasecmp(p, "HTTP2"))
                rules_error(&v, &se->ports[i], "protocol", -1, "use HTTP, TLS, GRPC or HTTP2",
                            "only HTTP, TLS, GRPC, and HTTP2 protocols are supported for "
                            "resolution mode DYNAMIC_DNS");
        }
        break;
    }
    for (size_t i = 0; i < se->endpoints_len; i++) {
        const struct workload_entry *e = &se->endpoints[i];
        if (field_is_null(e)) {
            rules_error(&v, e, NULL, -1, "remove the empty item", "endpoint may not be null");
            continue;
        }
        validate_workload(&v, e);
        for (size_t k = 0; k < e->ports.len; k++) {
            bool known = false;
            for (size_t j = 0; j < se->ports_len; j++)
                if (se->ports[j].name && !strcmp(se->ports[j].name, e->ports.keys[k])) known = true;
            if (!known)
                rules_error(&v, e, "ports", -1, "name a port that spec.ports defines",
                            "endpoint port %s is not defined by the service entry",
                            e->ports.keys[k]);
        }
        if (e->address && !strncmp(e->address, "unix://", 7) && se->ports_len != 1)
            rules_error(&v, e, "address", -1, "give the ServiceEntry exactly one port",
                        "exactly 1 service port required for unix endpoints");
    }
    rules_export_to(&v, se, &se->export_to, true);
}
