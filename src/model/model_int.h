/* SPDX-License-Identifier: Apache-2.0 */
/* model-private: the build state shared by the snapshot builder (model.c) and the L4
 * builder (l4.c), and the helpers both use. Only model/ .c files include this. [M] */
#ifndef MESHLET_MODEL_MODEL_INT_H
#define MESHLET_MODEL_MODEL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hmap.h"
#include "model/model.h"

struct resource;
struct resource_set;
struct destination;
struct server;
struct service_port;
struct str_list;
struct subset;

/* The DestinationRules of one host. */
struct dr_list {
    const char *host;              /* lower-case fqdn or "*.suffix" */
    const struct resource **items; /* snapshot arena; load order (oldest first) */
    size_t n, cap;
};

struct build {
    struct snapshot *s;
    const struct resource_set *set;
    const struct model_options *opt;
    struct hmap services;  /* fqdn -> ServiceEntry resource (first defined wins) */
    struct hmap drs;       /* fqdn -> struct dr_list: DestinationRules for that host, in order */
    struct dr_list **wild; /* DestinationRules for wildcard hosts */
    size_t n_wild, cap_wild;
    struct hmap clusters; /* cluster name -> struct model_cluster */
    size_t cap_clusters;
    size_t cap_listeners; /* of s->listeners */
    struct hmap l4_seen;  /* l4.c: "port ns/name" -> 1 + tls rules it put on that TLS port */
    char *err;
    size_t err_len;
    bool failed;
};

/* A lower-case copy of <s> in <a>. */
const char *model__lower_dup(struct arena *a, const char *s);

/* The build fails with the reason <fmt> (one %s: <what>); the first reason stays. */
void model__fail(struct build *b, const char *fmt, const char *what);

/* The DestinationRules of <fqdn> (exact, else the longest wildcard), or NULL; a subset
 * named <name> among them, or NULL. */
const struct dr_list *model__drs_for(const struct build *b, const char *fqdn);
const struct subset *model__drs_subset(const struct dr_list *l, const char *name);

/* The protocol (enum port_protocol, config/port_protocol.h) of service port <sp> of <fqdn>
 * (ServiceEntry <se_res>, or a Kubernetes Service of that host), and who said so, into
 * <source>. */
unsigned model__port_protocol_of(const struct build *b, const char *fqdn,
                                 const struct resource *se_res, const struct service_port *sp,
                                 const char **source);

/* The pool for destination <d> (short hosts in namespace <ns>; <listener_port> picks the
 * port of a service with several), made on first use; NULL when unknown. */
const struct model_cluster *model__cluster_for(struct build *b, const struct destination *d,
                                               const char *ns, uint16_t listener_port);

/* Does <gws> (a VirtualService's or a match block's gateways) name Gateway <key>? */
bool model__gateway_listed(const struct str_list *gws, const char *key, const char *vs_ns,
                           struct arena *a);

/* The virtual host <host> of <l> (exact, "*.suffix" or "*"), made on first use. */
struct model_vhost *model__vhost_get(struct build *b, struct model_listener *l, const char *host);

/* Does Gateway server host <sh> ("ns/host" or "host") of a Gateway in <gw_ns> admit host
 * <h> of a VirtualService in <vs_ns>? */
bool model__server_admits(const char *sh, const char *gw_ns, const char *vs_ns, const char *h);

/* HTTP, HTTP2 or GRPC; a server with tls mode SIMPLE or MUTUAL and protocol HTTPS or TLS. */
bool model__http_protocol(const char *p);
bool model__terminates_tls(const struct server *srv);

/* Add the TLS that Gateway server <srv> terminates (or its httpsRedirect) to <l>. */
void model__listener_tls(struct build *b, struct model_listener *l, const struct server *srv);

/* The listener on <port> (made, kind HTTP, when none has it). */
struct model_listener *model__listener_for_port(struct build *b, uint16_t port, const char *name,
                                                bool mesh);
void model__listener_add_gateway(struct arena *a, struct model_listener *l, const char *key);

/* Make <cluster> the only route of <vh>, with Istio's default retries. */
struct model_route *model__sole_route(struct build *b, struct model_vhost *vh, const char *name,
                                      const struct model_cluster *cluster, const char *host);

/* PeerAuthentication's mode for <port> of this proxy's workload (--namespace, --label). */
enum model_peer_mode model__my_peer_mode(struct build *b, uint16_t port);

/* ---- l4.c ---- */

/* The kind of listener Gateway server <srv> makes; false when meshlet serves none (UDP,
 * ISTIO_MUTUAL, ...). */
bool model__server_kind(const struct server *srv, enum model_listener_kind *kind);

/* Gateway server <srv> (of Gateway <gr>, "ns/name" <key>) of kind TCP or TLS: its listener,
 * with the tcp or tls rules of the VirtualServices bound to it. */
void model__l4_gateway_server(struct build *b, const struct resource *gr, const char *key,
                              const struct server *srv, enum model_listener_kind kind);

/* The mesh's TCP and TLS service ports: a listener each (first come on a port wins). */
void model__l4_mesh(struct build *b);

#endif
