/* SPDX-License-Identifier: Apache-2.0 */
/* The protocol Istio gives a service port: from a ServiceEntry's `protocol` field, or from a
 * Kubernetes Service port's appProtocol, name prefix and protocol. Istio's own names
 * (pkg/config/protocol/instance.go), so that model/ can apply Istio's rules to them. */
#ifndef MESHLET_CONFIG_PORT_PROTOCOL_H
#define MESHLET_CONFIG_PORT_PROTOCOL_H

#include <stdbool.h>
#include <stdint.h>

enum port_protocol {
    PORT_PROTOCOL_UNSUPPORTED, /* none declared: Istio sniffs the protocol */
    PORT_PROTOCOL_TCP,
    PORT_PROTOCOL_UDP,
    PORT_PROTOCOL_GRPC,
    PORT_PROTOCOL_GRPC_WEB,
    PORT_PROTOCOL_HTTP,
    PORT_PROTOCOL_HTTP_PROXY,
    PORT_PROTOCOL_HTTP2,
    PORT_PROTOCOL_HTTPS,
    PORT_PROTOCOL_TLS,
    PORT_PROTOCOL_MONGO,
    PORT_PROTOCOL_REDIS,
    PORT_PROTOCOL_MYSQL,
};

/* <s> as Istio's protocol.Parse reads it: a whole name, case-insensitive ("grpc", "HTTP2");
 * NULL or anything else is PORT_PROTOCOL_UNSUPPORTED. A ServiceEntry port's protocol. */
enum port_protocol port_protocol_parse(const char *s);

/* A Kubernetes Service port's protocol as Istio's kube.ConvertProtocol gives it: UDP for
 * <udp>; else <app_protocol> when set (NULL: absent; kubernetes.io/h2c is HTTP2), else the
 * port <name>, by its prefix before the first '-' ("grpc-web" first: "http2-x", "grpc-foo",
 * "grpc-web-x"); an unknown prefix on ports 25, 53, 3306, 27017 is TCP. */
enum port_protocol port_protocol_kube(uint32_t port, const char *name, bool udp,
                                      const char *app_protocol);

/* Istio's IsHTTP (HTTP, HTTP2, HTTP_PROXY, GRPC, GRPC-Web) and IsHTTP2 (HTTP2, GRPC, GRPC-Web). */
bool port_protocol_is_http(enum port_protocol p);
bool port_protocol_is_http2(enum port_protocol p);

/* Istio's name for <p> ("GRPC-Web", "UnsupportedProtocol"); static. */
const char *port_protocol_name(enum port_protocol p);

#endif
