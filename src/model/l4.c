/* SPDX-License-Identifier: Apache-2.0 */
/* L4 listeners and their routes: Gateway servers that relay bytes (protocol TCP, MONGO,
 * MYSQL, REDIS; TLS terminated by SIMPLE or MUTUAL; TLS or HTTPS passed through on SNI,
 * AUTO_PASSTHROUGH included) and the mesh's TCP and TLS service ports. VirtualService tcp
 * and tls rules become model_routes with l4 set, in the virtual hosts the data path picks:
 * "*" on a TCP listener, the ClientHello's SNI on a TLS one. The HTTP listeners, the pools
 * and the inbound listeners are model.c's. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/resource.h"
#include "model/model_int.h"

/* One tcp or tls match block as written: the two kinds differ only by sniHosts. */
struct l4_block {
    const struct str_list *sni; /* NULL for tcp */
    const struct str_list *subnets, *gateways;
    const struct opt_int *port;
    const struct str_map *labels;
    const char *source_ns;
};

bool
model__server_kind(const struct server *srv, enum model_listener_kind *kind)
{
    const char *p = srv->port ? srv->port->protocol : NULL;
    if (!p) return false;
    if (model__http_protocol(p)) {
        *kind = MODEL_LISTENER_HTTP;
        return true;
    }
    bool https = !strcasecmp(p, "HTTPS"), tls = !strcasecmp(p, "TLS");
    if (https || tls) {
        /* tls.mode defaults to PASSTHROUGH (proto enum value 0) */
        int mode = srv->tls && srv->tls->mode.set ? srv->tls->mode.v : SRV_PASSTHROUGH;
        if (mode == SRV_SIMPLE || mode == SRV_MUTUAL) {
            *kind = https ? MODEL_LISTENER_HTTP : MODEL_LISTENER_TCP;
            return true;
        }
        if (mode == SRV_PASSTHROUGH || mode == SRV_AUTO_PASSTHROUGH) {
            *kind = MODEL_LISTENER_TLS;
            return true;
        }
        return false; /* ISTIO_MUTUAL, OPTIONAL_MUTUAL: not served */
    }
    static const char *const tcp_like[] = {"TCP", "MONGO", "MYSQL", "REDIS"};
    for (size_t i = 0; i < sizeof(tcp_like) / sizeof(tcp_like[0]); i++) {
        if (!strcasecmp(p, tcp_like[i])) {
            *kind = MODEL_LISTENER_TCP;
            return true;
        }
    }
    return false;
}

/* This proxy's labels (--label k=v) hold every one of <want>? */
static bool
my_labels_contain(const struct model_options *opt, const struct str_map *want)
{
    for (size_t i = 0; i < want->len; i++) {
        size_t kl = strlen(want->keys[i]);
        bool found = false;
        for (size_t j = 0; j < opt->n_labels && !found; j++) {
            const char *l = opt->labels[j];
            found = !strncmp(l, want->keys[i], kl) && l[kl] == '=' &&
                    !strcmp(l + kl + 1, want->vals[i]);
        }
        if (!found) return false;
    }
    return true;
}

/* "10.0.0.0/8", "::1/128" or a bare address into <out>; false when it is none. */
static bool
parse_cidr(const char *s, struct model_cidr *out)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n >= sizeof(ip)) return false;
    memcpy(ip, s, n);
    ip[n] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, ip, out->addr) == 1) {
        out->family = AF_INET;
        out->bits = 32;
    } else if (inet_pton(AF_INET6, ip, out->addr) == 1) {
        out->family = AF_INET6;
        out->bits = 128;
    } else {
        return false;
    }
    if (slash) {
        char *end;
        unsigned long bits = strtoul(slash + 1, &end, 10);
        if (*end || end == slash + 1 || bits > out->bits) return false;
        out->bits = (uint8_t)bits;
    }
    return true;
}

/* Compile block <in> of a rule of a VirtualService in <vs_ns>, for a listener on <port>
 * bound to <gateway> ("ns/name" or "mesh"); false when the block cannot match there. On the
 * mesh (Istio's matchTCP, matchTLS) port, gateways, sourceLabels and sourceNamespace decide
 * now, as Istio builds per proxy, and destinationSubnets per connection. A Gateway looks at
 * port and gateways only (Istio's l4SingleMatch): there the other fields are ignored. */
static bool
compile_block(struct build *b, const struct l4_block *in, const char *gateway, const char *vs_ns,
              uint16_t port, struct model_match *out)
{
    struct arena *a = &b->s->arena;
    const struct model_options *opt = b->opt;
    bool mesh = !strcmp(gateway, "mesh");
    if (in->port->set && in->port->v != port) return false;
    if (in->gateways->len && !model__gateway_listed(in->gateways, gateway, vs_ns, a)) return false;
    if (mesh && !my_labels_contain(opt, in->labels)) return false;
    if (mesh && in->source_ns && *in->source_ns &&
        strcmp(in->source_ns, opt->ns ? opt->ns : "default"))
        return false;
    memset(out, 0, sizeof(*out));
    out->port = in->port->set ? (uint32_t)in->port->v : 0;
    size_t n_sni = in->sni ? in->sni->len : 0;
    out->sni = arena_alloc(a, (n_sni + 1) * sizeof(*out->sni));
    for (size_t i = 0; i < n_sni; i++) out->sni[out->n_sni++] = model__lower_dup(a, in->sni->v[i]);
    out->subnets = arena_alloc(a, (in->subnets->len + 1) * sizeof(*out->subnets));
    for (size_t i = 0; mesh && i < in->subnets->len; i++)
        if (parse_cidr(in->subnets->v[i], &out->subnets[out->n_subnets])) out->n_subnets++;
    return true;
}

/* Compile rule <index> of <r>'s tcp (<tls> false) or tls section into <out>; false when it
 * does not exist on this listener (every match block dropped, or no destination). */
static bool
compile_l4_route(struct build *b, const struct resource *r, size_t index, bool tls,
                 const char *gateway, uint16_t port, struct model_route *out)
{
    struct arena *a = &b->s->arena;
    const struct virtual_service *vs = r->spec.vs;
    size_t n_match, n_route;
    const struct route_destination *route;
    if (tls) {
        if (vs->tls[index].obj.is_null) return false;
        n_match = vs->tls[index].match_len;
        n_route = vs->tls[index].route_len;
        route = vs->tls[index].route;
    } else {
        if (vs->tcp[index].obj.is_null) return false;
        n_match = vs->tcp[index].match_len;
        n_route = vs->tcp[index].route_len;
        route = vs->tcp[index].route;
    }
    memset(out, 0, sizeof(*out));
    out->name = "";
    out->l4 = tls ? MODEL_L4_TLS : MODEL_L4_TCP;
    out->vs = arena_printf(a, "%s/%s", r->ns, r->name);
    out->rule_index = index;
    out->action = MODEL_ROUTE;
    out->matches = arena_alloc(a, (n_match + 1) * sizeof(*out->matches));
    for (size_t i = 0; i < n_match; i++) {
        struct l4_block in;
        if (tls) {
            const struct tls_match_attributes *m = &vs->tls[index].match[i];
            if (m->obj.is_null) continue;
            in = (struct l4_block){&m->sni_hosts, &m->destination_subnets, &m->gateways,
                                   &m->port,      &m->source_labels,       m->source_namespace};
            /* A tls block without sniHosts takes the VirtualService's hosts (Istio). */
            if (!m->sni_hosts.len) in.sni = &vs->hosts;
        } else {
            const struct l4_match_attributes *m = &vs->tcp[index].match[i];
            if (m->obj.is_null) continue;
            in = (struct l4_block){NULL,     &m->destination_subnets, &m->gateways,
                                   &m->port, &m->source_labels,       m->source_namespace};
        }
        if (compile_block(b, &in, gateway, r->ns, port, &out->matches[out->n_matches]))
            out->n_matches++;
    }
    if (n_match && !out->n_matches) return false;
    if (tls && !n_match) { /* no match at all: the VirtualService's hosts as SNI */
        struct l4_block in = {&vs->hosts,           &(struct str_list){0}, &(struct str_list){0},
                              &(struct opt_int){0}, &(struct str_map){0},  NULL};
        compile_block(b, &in, gateway, r->ns, port, &out->matches[0]);
        out->n_matches = 1;
    }
    out->dests = arena_alloc(a, (n_route + 1) * sizeof(*out->dests));
    for (size_t i = 0; i < n_route; i++) {
        const struct route_destination *d = &route[i];
        if (d->obj.is_null || !d->destination || !d->destination->host) continue;
        out->n_listed_dests++;
        uint32_t w = d->weight.set && d->weight.v > 0 ? (uint32_t)d->weight.v : 0;
        if (n_route == 1) w = 1; /* §3.6: a sole destination takes everything */
        if (!w) continue;
        struct model_destination *md = &out->dests[out->n_dests++];
        md->cluster = model__cluster_for(b, d->destination, r->ns, port);
        md->host = arena_strdup(a, d->destination->host);
        md->subset = d->destination->subset ? arena_strdup(a, d->destination->subset) : "";
        md->weight = w;
        out->total_weight += w;
    }
    return out->n_dests > 0;
}

/* Append <rt> to <vh> with split slots of its own. */
static void
append_route(struct build *b, struct model_vhost *vh, const struct model_route *rt)
{
    struct model_route *routes = arena_alloc(&b->s->arena, (vh->n_routes + 1) * sizeof(*routes));
    if (vh->n_routes) memcpy(routes, vh->routes, vh->n_routes * sizeof(*routes));
    routes[vh->n_routes] = *rt;
    routes[vh->n_routes].split_offset = b->s->n_split_slots;
    for (size_t i = 0; i < rt->n_matches; i++)
        if (rt->matches[i].n_subnets) vh->l4_subnets = true;
    b->s->n_split_slots += rt->n_dests;
    b->s->n_routes++;
    vh->routes = routes;
    vh->n_routes++;
}

/* Does <rt> take every connection that reaches its virtual host (SNI aside)? */
static bool
l4_catch_all(const struct model_route *rt)
{
    if (!rt->n_matches) return true;
    for (size_t i = 0; i < rt->n_matches; i++)
        if (!rt->matches[i].n_subnets) return true;
    return false;
}

static bool
vhost_has_catch_all(const struct model_vhost *vh)
{
    for (size_t i = 0; vh && i < vh->n_routes; i++)
        if (l4_catch_all(&vh->routes[i])) return true;
    return false;
}

/* The tls rules of <r> on TLS listener <l>: each in the virtual host of every SNI host its
 * blocks name. On a Gateway the VirtualService has a host the server admits; its sniHosts
 * are taken as written, as Istio's gateway takes them. Returns how many rules. */
static size_t
add_tls_routes(struct build *b, struct model_listener *l, const struct resource *r,
               const char *gateway)
{
    const struct virtual_service *vs = r->spec.vs;
    size_t added = 0;
    for (size_t i = 0; i < vs->tls_len; i++) {
        struct model_route rt;
        if (!compile_l4_route(b, r, i, true, gateway, l->port, &rt)) continue;
        added++;
        const char *done[64];
        size_t n_done = 0;
        for (size_t k = 0; k < rt.n_matches; k++) {
            for (size_t s = 0; s < rt.matches[k].n_sni; s++) {
                const char *sni = rt.matches[k].sni[s];
                bool ok = true;
                for (size_t d = 0; ok && d < n_done; d++) ok = strcmp(done[d], sni) != 0;
                if (!ok || n_done == sizeof(done) / sizeof(done[0])) continue;
                done[n_done++] = sni;
                append_route(b, model__vhost_get(b, l, sni), &rt);
            }
        }
    }
    return added;
}

/* The tcp rules of <r> on TCP listener <l>, until one takes every connection (nothing after
 * it could match: Istio stops there too). true when that happened. */
static bool
add_tcp_routes(struct build *b, struct model_listener *l, const struct resource *r,
               const char *gateway)
{
    struct model_vhost *vh = model__vhost_get(b, l, "*");
    if (vhost_has_catch_all(vh)) return true;
    for (size_t i = 0; i < r->spec.vs->tcp_len; i++) {
        struct model_route rt;
        if (!compile_l4_route(b, r, i, false, gateway, l->port, &rt)) continue;
        append_route(b, vh, &rt);
        if (l4_catch_all(&rt)) return true;
    }
    return false;
}

/* A virtual host per pool, named as Istio's SNI outbound_.PORT_.SUBSET_.HOST (the default
 * pool's SUBSET is empty: outbound_.PORT_._.HOST), its pool the sole route: every host of
 * the mesh (not MESH_EXTERNAL) that server <srv> of a Gateway in <gw_ns> admits, every port
 * but UDP, with every subset of its DestinationRules (Istio's
 * builtAutoPassthroughFilterChains). */
static void
add_auto_passthrough(struct build *b, struct model_listener *l, const struct server *srv,
                     const char *gw_ns)
{
    struct arena *a = &b->s->arena;
    for (size_t i = 0; i < b->set->len; i++) {
        const struct resource *r = b->set->items[i];
        if (r->kind != KIND_SERVICE_ENTRY || !r->spec.se) continue;
        const struct service_entry *se = r->spec.se;
        if (se->location.set && se->location.v == MESH_EXTERNAL) continue;
        for (size_t h = 0; h < se->hosts.len; h++) {
            const char *host = model__lower_dup(a, se->hosts.v[h]);
            if (host[0] == '*' || hmap_get(&b->services, host) != r) continue;
            bool admitted = false;
            for (size_t k = 0; !admitted && k < srv->hosts.len; k++)
                admitted = model__server_admits(srv->hosts.v[k], gw_ns, r->ns, host);
            if (!admitted) continue;
            const struct dr_list *drs = model__drs_for(b, host);
            for (size_t p = 0; p < se->ports_len; p++) {
                if (port_protocol_parse(se->ports[p].protocol) == PORT_PROTOCOL_UDP) continue;
                struct port_selector ps = {.number = se->ports[p].number};
                uint32_t port = (uint32_t)se->ports[p].number.v;
                for (size_t d = 0; d == 0 || (drs && d <= drs->n); d++) {
                    const struct destination_rule *dr = d ? drs->items[d - 1]->spec.dr : NULL;
                    for (size_t k = 0; k < (dr ? dr->subsets_len : 1); k++) {
                        const char *subset = dr ? dr->subsets[k].name : "";
                        if (!subset || (dr && dr->subsets[k].obj.is_null)) continue;
                        const char *sni =
                            arena_printf(a, "outbound_.%u_.%s_.%s", port, subset, host);
                        if (hmap_get(&l->exact, sni)) continue; /* first definition wins */
                        struct destination dest = {.host = host, .subset = subset, .port = &ps};
                        const struct model_cluster *c = model__cluster_for(b, &dest, r->ns, 0);
                        struct model_route *rt =
                            model__sole_route(b, model__vhost_get(b, l, sni), "auto", c, host);
                        rt->dests[0].subset = subset;
                        rt->l4 = MODEL_L4_TLS;
                        rt->retry_attempts = 0;
                    }
                }
            }
        }
    }
}

void
model__l4_gateway_server(struct build *b, const struct resource *gr, const char *key,
                         const struct server *srv, enum model_listener_kind kind)
{
    struct arena *a = &b->s->arena;
    uint16_t port = (uint16_t)srv->port->number.v;
    const struct model_listener *taken = model_listener_for(b->s, port);
    if (taken && (taken->kind != kind || taken->mesh || taken->inbound)) return; /* first wins */
    struct model_listener *l =
        model__listener_for_port(b, port, arena_printf(a, "gateway %s", key), false);
    l->kind = kind;
    model__listener_add_gateway(a, l, key);
    if (kind == MODEL_LISTENER_TCP) model__listener_tls(b, l, srv); /* SIMPLE or MUTUAL */
    if (srv->tls && srv->tls->mode.set && srv->tls->mode.v == SRV_AUTO_PASSTHROUGH) {
        add_auto_passthrough(b, l, srv, gr->ns);
        l->auto_passthrough = true;
        return;
    }
    for (size_t v = 0; v < b->set->len; v++) {
        const struct resource *r = b->set->items[v];
        if (r->kind != KIND_VIRTUAL_SERVICE || !r->spec.vs) continue;
        if (!model__gateway_listed(&r->spec.vs->gateways, key, r->ns, a)) continue;
        bool ok = false;
        for (size_t h = 0; !ok && h < r->spec.vs->hosts.len; h++) {
            const char *host = config_fqdn(a, r->spec.vs->hosts.v[h], r->ns);
            for (size_t k = 0; !ok && k < srv->hosts.len; k++)
                ok = model__server_admits(srv->hosts.v[k], gr->ns, r->ns, host);
        }
        if (!ok) continue;
        if (kind == MODEL_LISTENER_TLS)
            add_tls_routes(b, l, r, key);
        else
            add_tcp_routes(b, l, r, key);
    }
}

/* The listener kind of a mesh service port of protocol <p>; false: the HTTP mesh listener
 * serves it (HTTP, gRPC, or sniffed). */
static bool
mesh_kind(enum port_protocol p, enum model_listener_kind *kind)
{
    switch (p) {
    case PORT_PROTOCOL_TCP:
    case PORT_PROTOCOL_MONGO:
    case PORT_PROTOCOL_MYSQL:
    case PORT_PROTOCOL_REDIS: *kind = MODEL_LISTENER_TCP; return true;
    case PORT_PROTOCOL_TLS:
    case PORT_PROTOCOL_HTTPS: *kind = MODEL_LISTENER_TLS; return true;
    default: return false;
    }
}

/* Does mesh-bound VirtualService <r> name <fqdn> (exactly, or by a wildcard)? Istio's
 * getConfigsForHost: every such VirtualService applies to a TCP or TLS port, oldest first. */
static bool
mesh_vs_names(struct build *b, const struct resource *r, const char *fqdn)
{
    struct arena *a = &b->s->arena;
    if (r->kind != KIND_VIRTUAL_SERVICE || !r->spec.vs || !config_mesh_bound(&r->spec.vs->gateways))
        return false;
    for (size_t h = 0; h < r->spec.vs->hosts.len; h++)
        if (model__server_admits(config_fqdn(a, r->spec.vs->hosts.v[h], r->ns), "", "", fqdn))
            return true;
    return false;
}

/* Istio's default route of a service port: every connection to outbound|port||host. */
static void
add_default_route(struct build *b, struct model_vhost *vh, const struct resource *se_res,
                  const char *host, uint16_t port, enum model_route_l4 l4)
{
    struct port_selector ps = {.number = {.set = true, .v = port}};
    struct destination d = {.host = host, .port = &ps};
    struct model_route rt = {.name = "default", .l4 = l4, .vs = "", .action = MODEL_ROUTE};
    struct model_destination md = {.host = host, .subset = "", .weight = 1};
    md.cluster = model__cluster_for(b, &d, se_res->ns, port);
    rt.dests = arena_alloc(&b->s->arena, sizeof(md));
    rt.dests[0] = md;
    rt.n_dests = rt.n_listed_dests = 1;
    rt.total_weight = 1;
    append_route(b, vh, &rt);
}

/* Service port <sp> of <host> (ServiceEntry <r>) on the mesh. */
static void
mesh_service_port(struct build *b, const struct resource *r, const char *host,
                  const struct service_port *sp)
{
    struct arena *a = &b->s->arena;
    const char *source;
    enum model_listener_kind kind;
    if (!mesh_kind(model__port_protocol_of(b, host, r, sp, &source), &kind)) return;
    uint16_t port = (uint16_t)sp->number.v;
    if (port == b->opt->mesh_port) return;
    const struct model_listener *taken = model_listener_for(b->s, port);
    /* One mesh address: a TCP port is the first service's; a TLS port is shared by SNI. */
    if (taken && (!taken->service_port || taken->kind != kind || kind == MODEL_LISTENER_TCP))
        return;
    const char *name =
        arena_printf(a, "mesh %s %u", kind == MODEL_LISTENER_TCP ? "tcp" : "tls", (unsigned)port);
    struct model_listener *l = model__listener_for_port(b, port, name, true);
    l->kind = kind;
    l->service_port = true;
    if (kind == MODEL_LISTENER_TCP) {
        bool terminal = false;
        for (size_t v = 0; v < b->set->len && !terminal; v++)
            if (mesh_vs_names(b, b->set->items[v], host))
                terminal = add_tcp_routes(b, l, b->set->items[v], "mesh");
        if (!terminal)
            add_default_route(b, model__vhost_get(b, l, "*"), r, host, port, MODEL_L4_TCP);
        return;
    }
    /* Istio's default chain (SNI = the host) only when no tls rule applies to the service. A
     * VirtualService's rules go in once per port, whichever of its hosts came first. */
    size_t rules = 0;
    for (size_t v = 0; v < b->set->len; v++) {
        const struct resource *vs = b->set->items[v];
        if (!mesh_vs_names(b, vs, host)) continue;
        const char *seen = arena_printf(a, "%u %s/%s", (unsigned)port, vs->ns, vs->name);
        uintptr_t had = (uintptr_t)hmap_get(&b->l4_seen, seen); /* rules added + 1 */
        if (!had) {
            had = add_tls_routes(b, l, vs, "mesh") + 1;
            hmap_put(&b->l4_seen, seen, (void *)had);
        }
        rules += had - 1;
    }
    if (!rules) add_default_route(b, model__vhost_get(b, l, host), r, host, port, MODEL_L4_TLS);
}

void
model__l4_mesh(struct build *b)
{
    struct arena *a = &b->s->arena;
    hmap_init(&b->l4_seen);
    for (size_t i = 0; i < b->set->len; i++) {
        const struct resource *r = b->set->items[i];
        if (r->kind != KIND_SERVICE_ENTRY || !r->spec.se) continue;
        const struct service_entry *se = r->spec.se;
        for (size_t h = 0; h < se->hosts.len; h++) {
            const char *host = model__lower_dup(a, se->hosts.v[h]);
            /* the first definition wins; a wildcard host has no address to relay to */
            if (host[0] == '*' || hmap_get(&b->services, host) != r) continue;
            for (size_t p = 0; p < se->ports_len; p++)
                if (!se->ports[p].obj.is_null) mesh_service_port(b, r, host, &se->ports[p]);
        }
    }
    hmap_fini(&b->l4_seen);
}
