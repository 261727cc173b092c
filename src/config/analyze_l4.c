/* SPDX-License-Identifier: Apache-2.0 */
/* Analysis of L4 routing (VirtualService tcp and tls, TCP and TLS service ports): a tcp or
 * tls rule bound to a Gateway with no server of its kind on its port (ML0111), two services
 * of the mesh on one TCP port (ML0112), a tcp rule another VirtualService's earlier
 * catch-all hides on a Gateway port, or an SNI name an older one routes there (ML0113), and
 * conditions a Gateway ignores (ML0114).
 * Unreachable rules within one VirtualService are virtual_service.c's reach check (IST0130,
 * IST0131). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/analyze_int.h"
#include "config/config.h"
#include "config/port_protocol.h"
#include "config/rules.h"
#include "core/hmap.h"

enum server_l4 { SRV_L4_NONE, SRV_L4_HTTP, SRV_L4_TCP, SRV_L4_TLS, SRV_L4_AUTO };

/* What a Gateway server serves, as model/l4.c builds it: HTTP, TCP (TCP, MONGO, MYSQL,
 * REDIS, or TLS terminated), TLS passthrough (TLS or HTTPS, PASSTHROUGH: tls rules) or
 * AUTO_PASSTHROUGH (no rules). */
static enum server_l4
server_l4(const struct server *srv)
{
    const char *p = srv->port ? srv->port->protocol : NULL;
    if (!p) return SRV_L4_NONE;
    if (!strcasecmp(p, "HTTP") || !strcasecmp(p, "HTTP2") || !strcasecmp(p, "GRPC"))
        return SRV_L4_HTTP;
    bool https = !strcasecmp(p, "HTTPS");
    if (https || !strcasecmp(p, "TLS")) {
        int mode = srv->tls && srv->tls->mode.set ? srv->tls->mode.v : SRV_PASSTHROUGH;
        if (mode == SRV_SIMPLE || mode == SRV_MUTUAL) return https ? SRV_L4_HTTP : SRV_L4_TCP;
        if (mode == SRV_PASSTHROUGH) return SRV_L4_TLS;
        if (mode == SRV_AUTO_PASSTHROUGH) return SRV_L4_AUTO; /* routes by SNI alone */
        return SRV_L4_NONE;
    }
    static const char *const tcp[] = {"TCP", "MONGO", "MYSQL", "REDIS"};
    for (size_t i = 0; i < sizeof(tcp) / sizeof(tcp[0]); i++)
        if (!strcasecmp(p, tcp[i])) return SRV_L4_TCP;
    return SRV_L4_NONE;
}

static const char *
gateway_key(struct arena *a, const char *g, const char *vs_ns)
{
    return strchr(g, '/') ? g : arena_printf(a, "%s/%s", vs_ns, g);
}

/* Has Gateway <gw> a server of kind <want> on <port> (0: any)? Else the first other server
 * on that port, into <other>. */
static bool
has_server(const struct gateway *gw, enum server_l4 want, int64_t port, const struct server **other)
{
    *other = NULL;
    for (size_t s = 0; s < gw->servers_len; s++) {
        const struct server *srv = &gw->servers[s];
        if (!srv->port || (port && srv->port->number.v != port)) continue;
        if (server_l4(srv) == want) return true;
        if (!*other) *other = srv;
    }
    return false;
}

/* One match block of a tcp or tls rule, as far as binding goes. */
struct bind_block {
    const struct str_list *gateways; /* the block's own; empty: the VirtualService's */
    int64_t port;                    /* 0: any */
};

static bool
block_binds(struct arena *a, const struct resource *r, const struct bind_block *b, const char *key)
{
    const struct str_list *l = b->gateways->len ? b->gateways : &r->spec.vs->gateways;
    for (size_t g = 0; g < l->len; g++)
        if (strcmp(l->v[g], "mesh") && !strcmp(gateway_key(a, l->v[g], r->ns), key)) return true;
    return false;
}

/* ML0111: rule <index> of <section> ("tcp" or "tls", served by <want> servers) of <v->r>,
 * with blocks <bl>: each Gateway it binds must have a server it can use on some block's
 * port, else it routes nothing there. */
static void
check_rule(struct arena *a, struct vctx *v, struct hmap *gws, const void *rule, const char *section,
           size_t index, const struct bind_block *bl, size_t n, enum server_l4 want)
{
    const struct resource *r = v->r;
    for (size_t k = 0; k < n; k++) {
        const struct str_list *l = bl[k].gateways->len ? bl[k].gateways : &r->spec.vs->gateways;
        for (size_t g = 0; g < l->len; g++) {
            if (!strcmp(l->v[g], "mesh")) continue;
            const char *key = gateway_key(a, l->v[g], r->ns);
            bool earlier = false; /* this Gateway was looked at for an earlier block */
            for (size_t e = 0; e < k && !earlier; e++) earlier = block_binds(a, r, &bl[e], key);
            const struct resource *gr = hmap_get(gws, key);
            if (earlier || !gr || !gr->spec.gw) continue; /* a missing one is IST0101 */
            const struct server *other = NULL, *o;
            bool served = false;
            int64_t port = bl[k].port;
            for (size_t e = k; e < n && !served; e++) {
                if (!block_binds(a, r, &bl[e], key)) continue;
                served = has_server(gr->spec.gw, want, bl[e].port, &o);
                if (!other) other = o;
                if (bl[e].port != port) port = 0;
            }
            if (served) continue;
            const char *kind = want == SRV_L4_TCP ? "TCP" : "TLS PASSTHROUGH";
            if (other && port) {
                rules_report(v, DIAG_WARNING, DIAG_L4_NO_SERVER, rule, NULL, -1,
                             want == SRV_L4_TCP ? "bind it to a server with protocol TCP (or "
                                                  "TLS terminated), or write http routes"
                                                : "bind it to a server with protocol TLS and "
                                                  "tls.mode PASSTHROUGH",
                             "%s[%zu] is bound to gateway %s, whose server on port %lld is %s: "
                             "%s rules apply only to %s servers, so this one routes nothing there",
                             section, index, key, (long long)port,
                             other->port->protocol ? other->port->protocol : "?", section, kind);
                continue;
            }
            char where[32] = "";
            if (port) snprintf(where, sizeof(where), " on port %lld", (long long)port);
            rules_report(v, DIAG_WARNING, DIAG_L4_NO_SERVER, rule, NULL, -1,
                         want == SRV_L4_TCP
                             ? "add a server with protocol TCP to the gateway"
                             : "add a server with protocol TLS and tls.mode PASSTHROUGH",
                         "%s[%zu] is bound to gateway %s, which has no %s server%s: it routes "
                         "nothing there",
                         section, index, key, kind, where);
        }
    }
}

/* ML0114: destinationSubnets, sourceLabels and sourceNamespace of a tcp or tls block that
 * binds Gateways only: Istio's Gateways ignore them (the block holds without them). */
static void
check_gateway_ignored(struct vctx *v, const void *block, const char *section, size_t rule,
                      const struct str_list *block_gws, const struct str_list *subnets,
                      const struct str_map *labels, const char *source_ns)
{
    const struct str_list *l = block_gws->len ? block_gws : &v->r->spec.vs->gateways;
    if (config_mesh_bound(l)) return;
    const char *field = subnets->len              ? "destinationSubnets"
                        : labels->len             ? "sourceLabels"
                        : source_ns && *source_ns ? "sourceNamespace"
                                                  : NULL;
    if (!field) return;
    rules_report(v, DIAG_WARNING, DIAG_L4_GATEWAY_IGNORES, block, field, -1,
                 "bind the rule to mesh to use it, or drop the condition",
                 "%s of %s[%zu] is ignored: the rule binds only gateways, and a gateway matches "
                 "a %s rule on its port and gateways alone",
                 field, section, rule, section);
}

static void
check_vs_servers(struct arena *a, struct hmap *gws, struct diag_list *dl, const struct resource *r)
{
    const struct virtual_service *vs = r->spec.vs;
    struct vctx v = {dl, r};
    static const struct str_list none;
    struct bind_block bl[64];
    for (size_t i = 0; i < vs->tcp_len; i++) {
        const struct tcp_route *t = &vs->tcp[i];
        if (t->obj.is_null) continue;
        size_t n = 0;
        for (size_t j = 0; j < t->match_len && n < 64; j++)
            if (!t->match[j].obj.is_null)
                bl[n++] = (struct bind_block){&t->match[j].gateways,
                                              t->match[j].port.set ? t->match[j].port.v : 0};
        if (!t->match_len) bl[n++] = (struct bind_block){&none, 0};
        check_rule(a, &v, gws, t, "tcp", i, bl, n, SRV_L4_TCP);
        for (size_t j = 0; j < t->match_len; j++) {
            const struct l4_match_attributes *m = &t->match[j];
            if (!m->obj.is_null)
                check_gateway_ignored(&v, m, "tcp", i, &m->gateways, &m->destination_subnets,
                                      &m->source_labels, m->source_namespace);
        }
    }
    for (size_t i = 0; i < vs->tls_len; i++) {
        const struct tls_route *t = &vs->tls[i];
        if (t->obj.is_null) continue;
        size_t n = 0;
        for (size_t j = 0; j < t->match_len && n < 64; j++)
            if (!t->match[j].obj.is_null)
                bl[n++] = (struct bind_block){&t->match[j].gateways,
                                              t->match[j].port.set ? t->match[j].port.v : 0};
        if (!t->match_len) bl[n++] = (struct bind_block){&none, 0};
        check_rule(a, &v, gws, t, "tls", i, bl, n, SRV_L4_TLS);
        for (size_t j = 0; j < t->match_len; j++) {
            const struct tls_match_attributes *m = &t->match[j];
            if (!m->obj.is_null)
                check_gateway_ignored(&v, m, "tls", i, &m->gateways, &m->destination_subnets,
                                      &m->source_labels, m->source_namespace);
        }
    }
}

/* ML0112: the mesh has one address, so one TCP service per port (a TLS port is shared by
 * SNI). The first ServiceEntry in load order keeps the port. */
static void
check_mesh_ports(struct arena *a, const struct resource_set *set, struct diag_list *dl)
{
    struct hmap ports; /* "port" -> "host (ServiceEntry ns/name)" */
    hmap_init(&ports);
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (r->kind != KIND_SERVICE_ENTRY || !r->spec.se) continue;
        const struct service_entry *se = r->spec.se;
        struct vctx v = {dl, r};
        for (size_t p = 0; p < se->ports_len; p++) {
            const struct service_port *sp = &se->ports[p];
            enum port_protocol proto = port_protocol_parse(sp->protocol);
            bool tcp = proto == PORT_PROTOCOL_TCP || proto == PORT_PROTOCOL_MONGO ||
                       proto == PORT_PROTOCOL_MYSQL || proto == PORT_PROTOCOL_REDIS;
            if (sp->obj.is_null || !tcp) continue;
            for (size_t h = 0; h < se->hosts.len; h++) {
                if (se->hosts.v[h][0] == '*') continue;
                const char *key = arena_printf(a, "%lld", (long long)sp->number.v);
                const char *first = hmap_get(&ports, key);
                if (!first) {
                    hmap_put(&ports, key,
                             (void *)arena_printf(a, "%s (ServiceEntry %s/%s)", se->hosts.v[h],
                                                  r->ns, r->name));
                    continue;
                }
                rules_report(&v, DIAG_WARNING, DIAG_MESH_TCP_PORT_SHARED, sp, "number", -1,
                             "give each TCP service of the mesh a port of its own",
                             "TCP port %lld of %s is already the mesh's TCP port of %s: meshlet "
                             "listens once per port on the mesh address, so connections to port "
                             "%lld go to %s only",
                             (long long)sp->number.v, se->hosts.v[h], first,
                             (long long)sp->number.v, first);
            }
        }
    }
    hmap_fini(&ports);
}

/* Does block <m> of a VirtualService in <ns> hold on every connection to port <port> of
 * Gateway <key>? A Gateway looks at port and gateways only (Istio's l4SingleMatch). */
static bool
tcp_block_all(struct arena *a, const struct l4_match_attributes *m, const char *ns, const char *key,
              int64_t port)
{
    if (m->obj.is_null || (m->port.set && m->port.v != port)) return false;
    bool listed = !m->gateways.len;
    for (size_t g = 0; g < m->gateways.len && !listed; g++)
        listed = !strcmp(gateway_key(a, m->gateways.v[g], ns), key);
    return listed;
}

/* ML0113: on TCP server <port> of Gateway <key>, the VirtualServices bound to it merge their
 * tcp rules in load order; once one has a catch-all, a later one's rules never match. */
static void
check_gateway_port_shadowing(struct arena *a, const struct resource_set *set, struct diag_list *dl,
                             const char *key, int64_t port)
{
    const struct resource *owner = NULL;
    size_t owner_rule = 0;
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (r->kind != KIND_VIRTUAL_SERVICE || !r->spec.vs) continue;
        const struct virtual_service *vs = r->spec.vs;
        bool bound = false;
        for (size_t g = 0; g < vs->gateways.len && !bound; g++)
            bound = !strcmp(gateway_key(a, vs->gateways.v[g], r->ns), key);
        if (!bound) continue;
        for (size_t t = 0; t < vs->tcp_len; t++) {
            const struct tcp_route *tr = &vs->tcp[t];
            if (tr->obj.is_null) continue;
            /* a rule whose blocks all name another port or gateway is not on this one */
            bool here = !tr->match_len;
            for (size_t j = 0; j < tr->match_len && !here; j++)
                here = tcp_block_all(a, &tr->match[j], r->ns, key, port);
            if (!here) continue;
            if (owner && owner != r) {
                struct vctx v = {dl, r};
                rules_report(&v, DIAG_WARNING, DIAG_L4_SHADOWED, tr, NULL, -1,
                             "bind one VirtualService per gateway port, or add matches to "
                             "the earlier rule",
                             "tcp[%zu] never matches on gateway %s port %lld: the older "
                             "VirtualService %s/%s's tcp[%zu] takes every connection first",
                             t, key, (long long)port, owner->ns, owner->name, owner_rule);
                continue;
            }
            if (!owner) { /* on a Gateway, a block that applies takes every connection */
                owner = r;
                owner_rule = t;
            }
        }
    }
}

/* ML0113 for tls rules: on PASSTHROUGH server <port> of Gateway <key>, an SNI name an older
 * VirtualService's rule already routes is never routed by a later one (Istio's gateway
 * skips the duplicate). Duplicates within one VirtualService are the reach check's. */
static void
check_gateway_sni_shadowing(struct arena *a, const struct resource_set *set, struct diag_list *dl,
                            const char *key, int64_t port)
{
    struct hmap owners; /* SNI name (lower case) -> "ns/name's tls[k]" */
    hmap_init(&owners);
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (r->kind != KIND_VIRTUAL_SERVICE || !r->spec.vs) continue;
        const struct virtual_service *vs = r->spec.vs;
        bool bound = false;
        for (size_t g = 0; g < vs->gateways.len && !bound; g++)
            bound = !strcmp(gateway_key(a, vs->gateways.v[g], r->ns), key);
        if (!bound) continue;
        const char *mine = arena_printf(a, "%s/%s", r->ns, r->name);
        for (size_t t = 0; t < vs->tls_len; t++) {
            const struct tls_route *tr = &vs->tls[t];
            for (size_t j = 0; !tr->obj.is_null && j < tr->match_len; j++) {
                const struct tls_match_attributes *m = &tr->match[j];
                if (m->obj.is_null || (m->port.set && m->port.v != port)) continue;
                bool listed = !m->gateways.len;
                for (size_t g = 0; g < m->gateways.len && !listed; g++)
                    listed = !strcmp(gateway_key(a, m->gateways.v[g], r->ns), key);
                for (size_t h = 0; listed && h < m->sni_hosts.len; h++) {
                    char *sni = arena_strdup(a, m->sni_hosts.v[h]);
                    for (char *c = sni; *c; c++) *c = (char)tolower((unsigned char)*c);
                    const char *owner = hmap_get(&owners, sni);
                    if (!owner) {
                        hmap_put(&owners, sni, (void *)arena_printf(a, "%s tls[%zu]", mine, t));
                        continue;
                    }
                    if (!strncmp(owner, mine, strlen(mine)) && owner[strlen(mine)] == ' ')
                        continue; /* the same VirtualService */
                    struct vctx v = {dl, r};
                    rules_report(&v, DIAG_WARNING, DIAG_L4_SHADOWED, m, "sniHosts", (int)h,
                                 "route each server name on a gateway port from one "
                                 "VirtualService",
                                 "tls[%zu] never routes %s on gateway %s port %lld: the older "
                                 "VirtualService %s routes it first",
                                 t, m->sni_hosts.v[h], key, (long long)port, owner);
                }
            }
        }
    }
    hmap_fini(&owners);
}

void
analyze__l4(struct arena *a, const struct resource_set *set, struct diag_list *dl)
{
    struct hmap gws; /* "ns/name" -> Gateway resource */
    hmap_init(&gws);
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (r->kind == KIND_GATEWAY && r->spec.gw)
            hmap_put(&gws, arena_printf(a, "%s/%s", r->ns, r->name), (void *)r);
    }
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (r->kind == KIND_VIRTUAL_SERVICE && r->spec.vs && r->valid)
            check_vs_servers(a, &gws, dl, r);
        if (r->kind != KIND_GATEWAY || !r->spec.gw) continue;
        const char *key = arena_printf(a, "%s/%s", r->ns, r->name);
        for (size_t s = 0; s < r->spec.gw->servers_len; s++) {
            const struct server *srv = &r->spec.gw->servers[s];
            enum server_l4 kind = server_l4(srv);
            if (kind != SRV_L4_TCP && kind != SRV_L4_TLS) continue;
            bool seen = false; /* one check per port */
            for (size_t o = 0; o < s && !seen; o++)
                seen = server_l4(&r->spec.gw->servers[o]) == kind &&
                       r->spec.gw->servers[o].port->number.v == srv->port->number.v;
            if (seen) continue;
            if (kind == SRV_L4_TCP)
                check_gateway_port_shadowing(a, set, dl, key, srv->port->number.v);
            else
                check_gateway_sni_shadowing(a, set, dl, key, srv->port->number.v);
        }
    }
    check_mesh_ports(a, set, dl);
    hmap_fini(&gws);
}
