/* SPDX-License-Identifier: Apache-2.0 */
/* Service port protocols as Istio names and parses them: protocol.Parse for a ServiceEntry
 * port (its name plays no part: serviceentry/conversion.go convertPort), kube.ConvertProtocol
 * for a Kubernetes Service port (pkg/config/kube/conversion.go). No policy here: what a
 * protocol means for a pool is model/'s. */
#include "config/port_protocol.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

static const char *const names[] = {
    [PORT_PROTOCOL_UNSUPPORTED] = "UnsupportedProtocol",
    [PORT_PROTOCOL_TCP] = "TCP",
    [PORT_PROTOCOL_UDP] = "UDP",
    [PORT_PROTOCOL_GRPC] = "GRPC",
    [PORT_PROTOCOL_GRPC_WEB] = "GRPC-Web",
    [PORT_PROTOCOL_HTTP] = "HTTP",
    [PORT_PROTOCOL_HTTP_PROXY] = "HTTP_PROXY",
    [PORT_PROTOCOL_HTTP2] = "HTTP2",
    [PORT_PROTOCOL_HTTPS] = "HTTPS",
    [PORT_PROTOCOL_TLS] = "TLS",
    [PORT_PROTOCOL_MONGO] = "Mongo",
    [PORT_PROTOCOL_REDIS] = "Redis",
    [PORT_PROTOCOL_MYSQL] = "MySQL",
};

/* The first <n> bytes of <s> as protocol.Parse reads a whole name. */
static enum port_protocol
parse_n(const char *s, size_t n)
{
    for (size_t p = PORT_PROTOCOL_TCP; p < sizeof(names) / sizeof(names[0]); p++)
        if (strlen(names[p]) == n && !strncasecmp(s, names[p], n)) return (enum port_protocol)p;
    return PORT_PROTOCOL_UNSUPPORTED;
}

enum port_protocol
port_protocol_parse(const char *s)
{
    return s ? parse_n(s, strlen(s)) : PORT_PROTOCOL_UNSUPPORTED;
}

enum port_protocol
port_protocol_kube(uint32_t port, const char *name, bool udp, const char *app_protocol)
{
    if (udp) return PORT_PROTOCOL_UDP;
    if (app_protocol) {
        /* Kubernetes' standard appProtocol names, only there (a port name cannot hold '/'). */
        if (!strcmp(app_protocol, "kubernetes.io/h2c")) return PORT_PROTOCOL_HTTP2;
        if (!strcmp(app_protocol, "kubernetes.io/ws")) return PORT_PROTOCOL_HTTP;
        if (!strcmp(app_protocol, "kubernetes.io/wss")) return PORT_PROTOCOL_HTTPS;
        name = app_protocol;
    }
    if (!name) name = "";
    /* "grpc-web" before the general prefix rule, as it holds a '-' itself. */
    if (!strncasecmp(name, "grpc-web", 8)) return PORT_PROTOCOL_GRPC_WEB;
    enum port_protocol p = parse_n(name, strcspn(name, "-"));
    if (p == PORT_PROTOCOL_UNSUPPORTED &&
        (port == 25 || port == 53 || port == 3306 || port == 27017))
        return PORT_PROTOCOL_TCP; /* well-known ports are never sniffed */
    return p;
}

bool
port_protocol_is_http(enum port_protocol p)
{
    return p == PORT_PROTOCOL_HTTP || p == PORT_PROTOCOL_HTTP_PROXY || port_protocol_is_http2(p);
}

bool
port_protocol_is_http2(enum port_protocol p)
{
    return p == PORT_PROTOCOL_HTTP2 || p == PORT_PROTOCOL_GRPC || p == PORT_PROTOCOL_GRPC_WEB;
}

const char *
port_protocol_name(enum port_protocol p)
{
    return (size_t)p < sizeof(names) / sizeof(names[0]) ? names[p] : names[0];
}
