/* SPDX-License-Identifier: Apache-2.0 */
/* Cross-resource analysis. Builds hash indexes once (service hosts, DestinationRule subsets,
 * gateways, mesh VirtualService hosts), then checks every reference against them. Messages
 * follow istioctl analyze (IST codes, wording); ML#### are meshlet's additions. */
#include "config/analyze.h"
#include "config/analyze_int.h"
#include "config/rollout_spec.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/field.h"
#include "config/kube.h"
#include "config/rules.h"
#include "core/alloc.h"
#include "core/hmap.h"
#include "core/strbuf.h"

/* One service known to the registry under one host. */
struct svc {
    const char *host; /* fqdn, lower case */
    const char *ns;
    const struct str_list *export_to;
    const struct resource *se;     /* ServiceEntry, or NULL */
    const struct kube_service *ks; /* Kubernetes Service, or NULL */
    struct svc *next;              /* other services with the same host */
};

struct dr_entry {
    const struct resource *r;
    const char *host;      /* fqdn */
    struct dr_entry *next; /* other DRs for the same host */
};

struct index {
    struct arena arena;
    struct hmap services;   /* host -> struct svc list */
    struct svc **wildcards; /* services with wildcard hosts */
    size_t n_wild, cap_wild;
    struct hmap subsets;  /* "fqdn|subset" -> DR resource */
    struct hmap drs;      /* fqdn -> struct dr_entry list */
    struct hmap gateways; /* "ns/name" -> Gateway resource */
    struct hmap names;    /* "Kind ns/name" -> resource */
    struct diag_list *dl; /* borrowed */
};

static const char *
lower(struct arena *a, const char *s)
{
    char *c = arena_strdup(a, s);
    for (char *p = c; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
    return c;
}

static void
add_service(struct index *ix, const char *host, const char *ns, const struct str_list *export_to,
            const struct resource *se, const struct kube_service *ks)
{
    struct svc *s = arena_alloc(&ix->arena, sizeof(*s));
    s->host = lower(&ix->arena, host);
    s->ns = ns;
    s->export_to = export_to;
    s->se = se;
    s->ks = ks;
    if (s->host[0] == '*') {
        xgrow((void **)&ix->wildcards, &ix->cap_wild, ix->n_wild + 1, sizeof(void *));
        ix->wildcards[ix->n_wild++] = s;
    }
    s->next = hmap_put(&ix->services, s->host, s);
}

/* exportTo visibility of something in <owner_ns> from namespace <ns>. */
static bool
visible(const struct str_list *export_to, const char *owner_ns, const char *ns)
{
    if (!export_to || export_to->len == 0) return true;
    for (size_t i = 0; i < export_to->len; i++) {
        const char *e = export_to->v[i];
        if (!strcmp(e, "*")) return true;
        if (!strcmp(e, ".") && !strcmp(owner_ns, ns)) return true;
        if (!strcmp(e, ns)) return true;
    }
    return false;
}

static bool
wildcard_covers(const char *wild, const char *host)
{
    if (!strcmp(wild, "*")) return true;
    size_t lw = strlen(wild) - 1, lh = strlen(host);
    if (host[0] == '*') return !strcasecmp(wild, host);
    return lh > lw && !strcasecmp(host + lh - lw, wild + 1);
}

/* The service for destination host <fqdn> as seen from namespace <ns>, or NULL. */
static const struct svc *
find_service(const struct index *ix, const char *fqdn, const char *ns)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", fqdn);
    for (char *p = buf; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
    for (const struct svc *s = hmap_get(&ix->services, buf); s; s = s->next)
        if (visible(s->export_to, s->ns, ns)) return s;
    for (size_t i = 0; i < ix->n_wild; i++) {
        const struct svc *s = ix->wildcards[i];
        if (wildcard_covers(s->host, buf) && visible(s->export_to, s->ns, ns)) return s;
    }
    return NULL;
}

static void
build_index(struct index *ix, const struct resource_set *set)
{
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (!r->spec.any) continue;
        if (r->kind == KIND_SERVICE_ENTRY) {
            const struct service_entry *se = r->spec.se;
            for (size_t h = 0; h < se->hosts.len; h++)
                add_service(ix, se->hosts.v[h], r->ns, &se->export_to, r, NULL);
        } else if (r->kind == KIND_DESTINATION_RULE && r->spec.dr->host) {
            struct dr_entry *e = arena_alloc(&ix->arena, sizeof(*e));
            e->r = r;
            e->host = lower(&ix->arena, config_fqdn(&ix->arena, r->spec.dr->host, r->ns));
            e->next = hmap_put(&ix->drs, e->host, e);
            for (size_t s = 0; s < r->spec.dr->subsets_len; s++) {
                const char *name = r->spec.dr->subsets[s].name;
                if (!name) continue;
                const char *key = arena_printf(&ix->arena, "%s|%s", e->host, name);
                if (!hmap_get(&ix->subsets, key)) hmap_put(&ix->subsets, key, (void *)r);
            }
        } else if (r->kind == KIND_GATEWAY) {
            hmap_put(&ix->gateways, arena_printf(&ix->arena, "%s/%s", r->ns, r->name), (void *)r);
        }
        /* One name per kind and namespace: a second definition replaces the first, as
         * `kubectl apply` of both would. */
        const char *id = arena_printf(&ix->arena, "%s %s/%s", r->kind_name, r->ns, r->name);
        const struct resource *prev = hmap_put(&ix->names, id, (void *)r);
        if (prev) {
            struct vctx v = {ix->dl, r};
            rules_report(&v, DIAG_WARNING, DIAG_DUPLICATE_RESOURCE, NULL, NULL, -1,
                         "give each resource its own name, or keep one definition",
                         "%s %s/%s is defined twice (also in %s): this definition replaces "
                         "the earlier one",
                         r->kind_name, r->ns, r->name, prev->file);
        }
    }
    for (size_t i = 0; i < set->n_services; i++) {
        const struct kube_service *ks = set->services[i];
        add_service(ix, ks->host, ks->ns, &ks->export_to, NULL, ks);
    }
}

static void report(struct diag_list *dl, const struct resource *r, const void *obj, const char *key,
                   int index, enum diag_severity sev, const char *code, const char *hint,
                   const char *fmt, ...) __attribute__((format(printf, 9, 10)));

static void
report(struct diag_list *dl, const struct resource *r, const void *obj, const char *key, int index,
       enum diag_severity sev, const char *code, const char *hint, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct vctx v = {dl, r};
    rules_report(&v, sev, code, obj, key, index, hint, "%s", msg);
}

/* ML0115: a ServiceEntry with resolution DYNAMIC_DNS (Envoy's dynamic forward proxy:
 * the request's host resolved when it comes) has no endpoints in meshlet. */
static void
check_dynamic_dns(const struct resource_set *set, struct diag_list *dl)
{
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (r->kind != KIND_SERVICE_ENTRY || !r->spec.any) continue;
        const struct service_entry *se = r->spec.se;
        if (!se->resolution.set || se->resolution.v != RES_DYNAMIC_DNS) continue;
        report(dl, r, se, "resolution", -1, DIAG_WARNING, DIAG_DYNAMIC_DNS,
               "list the hosts the mesh calls with resolution DNS",
               "resolution DYNAMIC_DNS is not enforced by meshlet: requests to its hosts find "
               "no route (404 NR)");
    }
}

/* ---- VirtualService references ---- */

static void
check_destination(const struct index *ix, struct diag_list *dl, const struct resource *r,
                  const struct destination *d, const struct str_list *vs_export, bool mirror)
{
    if (!d || !d->host || !*d->host || !strcmp(d->host, "*")) return;
    struct arena *a = (struct arena *)&ix->arena;
    const char *fqdn = config_fqdn(a, d->host, r->ns);
    if (d->subset && *d->subset) {
        const char *key = arena_printf(a, "%s|%s", fqdn, d->subset);
        for (char *p = (char *)key; *p && *p != '|'; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
        if (!hmap_get(&ix->subsets, key)) {
            report(dl, r, d, "subset", -1, DIAG_ERROR, DIAG_NOT_FOUND,
                   "define the subset in a DestinationRule for this host, or fix the name",
                   "Referenced %s not found: \"%s+%s\"",
                   mirror ? "mirror+subset in destinationrule" : "host+subset in destinationrule",
                   d->host, d->subset);
        }
    }
    const struct svc *s = find_service(ix, fqdn, r->ns);
    /* The destination must also be visible wherever the VirtualService is exported to. */
    for (size_t i = 0; s && vs_export && i < vs_export->len; i++) {
        const char *ns = vs_export->v[i];
        if (!strcmp(ns, ".") || !strcmp(ns, "*") || !strcmp(ns, "~")) continue;
        if (!visible(s->export_to, s->ns, ns)) s = NULL;
    }
    if (!s) {
        report(dl, r, d, "host", -1, DIAG_ERROR, DIAG_NOT_FOUND,
               "add a ServiceEntry (or Kubernetes Service) for this host, or fix its spelling",
               "Referenced %s not found: \"%s\"", mirror ? "mirror host" : "host", d->host);
        return;
    }
    size_t n_ports = s->ks ? s->ks->n_ports : s->se->spec.se->ports_len;
    if (d->port && d->port->number.set) {
        bool found = n_ports == 0;
        for (size_t i = 0; i < n_ports && !found; i++) {
            int64_t p = s->ks ? s->ks->ports[i] : s->se->spec.se->ports[i].number.v;
            found = p == d->port->number.v;
        }
        if (!found) {
            report(dl, r, d->port, "number", -1, DIAG_ERROR, DIAG_NOT_FOUND,
                   "use a port the service exposes", "Referenced %s not found: \"%s:%" PRId64 "\"",
                   mirror ? "mirror host" : "host", d->host, d->port->number.v);
            return;
        }
    } else if (n_ports > 1) {
        struct strbuf sb;
        strbuf_init(&sb, 4096);
        strbuf_puts(&sb, "[");
        for (size_t i = 0; i < n_ports; i++)
            strbuf_printf(&sb, "%s%" PRId64, i ? " " : "",
                          s->ks ? (int64_t)s->ks->ports[i] : s->se->spec.se->ports[i].number.v);
        strbuf_puts(&sb, "]");
        report(dl, r, d, "host", -1, DIAG_ERROR, DIAG_PORT_REQUIRED,
               "add port: {number: N} to the destination",
               "This VirtualService routes to a service \"%s\" that exposes multiple ports %s. "
               "Specifying a port in the destination is required to disambiguate.",
               fqdn, strbuf_str(&sb));
        strbuf_fini(&sb);
    }
}

static const char *
gateway_key(struct arena *a, const char *g, const char *ns)
{
    const char *slash = strchr(g, '/');
    if (slash) return g;
    const char *dot = strchr(g, '.');
    if (dot) { /* legacy name.ns[.svc.cluster.local] */
        const char *dot2 = strchr(dot + 1, '.');
        size_t nl = dot2 ? (size_t)(dot2 - dot - 1) : strlen(dot + 1);
        return arena_printf(a, "%.*s/%.*s", (int)nl, dot + 1, (int)(dot - g), g);
    }
    return arena_printf(a, "%s/%s", ns, g);
}

/* Does gateway server host entry <sh> ("ns/host" or "host") admit VS host <h> of <vs_ns>? */
static bool
server_host_admits(const char *sh, const char *gw_ns, const char *vs_ns, const char *h)
{
    const char *slash = strchr(sh, '/');
    const char *dns = sh;
    if (slash) {
        size_t nl = (size_t)(slash - sh);
        bool any = nl == 1 && sh[0] == '*';
        bool dot = nl == 1 && sh[0] == '.';
        if (!any && !(dot && !strcmp(gw_ns, vs_ns)) &&
            !(strlen(vs_ns) == nl && !strncmp(sh, vs_ns, nl)))
            return false;
        dns = slash + 1;
    }
    if (!strcmp(dns, "*") || !strcmp(h, "*")) return true;
    if (dns[0] == '*' && h[0] == '*') {
        size_t a = strlen(dns), b = strlen(h);
        return a <= b ? !strcasecmp(h + b - a + 1, dns + 1) : !strcasecmp(dns + a - b + 1, h + 1);
    }
    if (dns[0] == '*') return wildcard_covers(dns, h);
    if (h[0] == '*') return wildcard_covers(h, dns);
    return !strcasecmp(dns, h);
}

/* Istio's IsInternalGatewayReference: the name part of <g> is what Istio generates for a
 * Gateway API listener, "<gw>~istio-autogenerated-k8s-gateway~<listener>" (in older
 * Istio releases, '-' for '~'). */
static bool
internal_gateway(const char *g)
{
    const char *slash = strchr(g, '/');
    const char *name = slash ? slash + 1 : g;
    return strstr(name, "~istio-autogenerated-k8s-gateway~") ||
           strstr(name, "-istio-autogenerated-k8s-gateway-");
}

static void
check_gateways(const struct index *ix, struct diag_list *dl, const struct resource *r,
               const struct virtual_service *vs)
{
    struct arena *a = (struct arena *)&ix->arena;
    for (size_t i = 0; i < vs->gateways.len; i++) {
        const char *g = vs->gateways.v[i];
        if (!strcmp(g, "mesh")) continue;
        const char *key = gateway_key(a, g, r->ns);
        /* Gateways Istio makes from Gateway API Gateways are an implementation detail. */
        if (internal_gateway(g)) {
            report(dl, r, vs, "gateways", (int)i, DIAG_WARNING, DIAG_INTERNAL_GATEWAY,
                   "route with an HTTPRoute of the Gateway API Gateway, or create an Istio "
                   "Gateway and name it here",
                   "Gateway reference in VirtualService %s/%s is to an implementation-generated "
                   "internal Gateway: %s.",
                   r->ns, r->name, g);
            continue;
        }
        const struct resource *gw = hmap_get(&ix->gateways, key);
        if (!gw) {
            report(dl, r, vs, "gateways", (int)i, DIAG_ERROR, DIAG_NOT_FOUND,
                   "create the Gateway, or fix the name (<namespace>/<name>)",
                   "Referenced gateway not found: \"%s\"", g);
        }
        /* Istio's vsHostInGateway: a warning only when the gateway admits none of the
         * hosts (a gateway that serves some of them is a normal split). */
        bool admitted = false;
        for (size_t h = 0; h < vs->hosts.len && !admitted; h++) {
            const char *host = config_fqdn(a, vs->hosts.v[h], r->ns);
            for (size_t s = 0; gw && !admitted && s < gw->spec.gw->servers_len; s++) {
                const struct server *srv = &gw->spec.gw->servers[s];
                for (size_t k = 0; !admitted && k < srv->hosts.len; k++)
                    admitted = server_host_admits(srv->hosts.v[k], gw->ns, r->ns, host);
            }
        }
        if (!admitted && vs->hosts.len) {
            struct strbuf hosts;
            strbuf_init(&hosts, 1 << 16);
            for (size_t h = 0; h < vs->hosts.len; h++)
                strbuf_printf(&hosts, "%s%s", h ? " " : "", vs->hosts.v[h]);
            report(dl, r, vs, "gateways", (int)i, DIAG_WARNING, DIAG_HOST_NOT_IN_GATEWAY,
                   "add a host to a server of the Gateway, or bind the VirtualService "
                   "elsewhere",
                   "one or more host [%s] defined in VirtualService %s/%s not found in Gateway "
                   "%s.",
                   strbuf_str(&hosts), r->ns, r->name, key);
            strbuf_fini(&hosts);
        }
    }
}

static void
check_vs_refs(const struct index *ix, struct diag_list *dl, const struct resource *r)
{
    const struct virtual_service *vs = r->spec.vs;
    for (size_t i = 0; i < vs->http_len; i++) {
        const struct http_route *h = &vs->http[i];
        if (field_is_null(h)) continue;
        for (size_t d = 0; d < h->route_len; d++) {
            const struct http_route_destination *rd = &h->route[d];
            if (field_is_null(rd) || !rd->destination || !rd->destination->host) {
                /* istioctl reports an empty destination as an unknown host "". */
                report(dl, r, rd, "destination", -1, DIAG_ERROR, DIAG_NOT_FOUND,
                       "give the destination a host", "Referenced host not found: \"\"");
                continue;
            }
            check_destination(ix, dl, r, rd->destination, &vs->export_to, false);
        }
        /* Istio's deprecation analyzer (FieldAnalyzer). */
        if (h->fault && h->fault->delay && h->fault->delay->percent.set &&
            h->fault->delay->percent.v > 0)
            report(dl, r, h->fault->delay, "percent", -1, DIAG_WARNING, DIAG_DEPRECATED,
                   "write percentage: {value: N} instead",
                   "Deprecated: HTTPRoute.fault.delay.percent is deprecated; use "
                   "HTTPRoute.fault.delay.percentage");
        if (h->mirror) check_destination(ix, dl, r, h->mirror, &vs->export_to, true);
        for (size_t m = 0; m < h->mirrors_len; m++)
            check_destination(ix, dl, r, h->mirrors[m].destination, &vs->export_to, true);
    }
    for (size_t i = 0; i < vs->tcp_len; i++)
        for (size_t d = 0; d < vs->tcp[i].route_len; d++)
            check_destination(ix, dl, r, vs->tcp[i].route[d].destination, &vs->export_to, false);
    for (size_t i = 0; i < vs->tls_len; i++)
        for (size_t d = 0; d < vs->tls[i].route_len; d++)
            check_destination(ix, dl, r, vs->tls[i].route[d].destination, &vs->export_to, false);
    check_gateways(ix, dl, r, vs);
}

/* ---- IST0109: mesh VirtualServices sharing a host ---- */

struct host_claim {
    const struct resource *r;
    struct host_claim *next;
};

static bool
export_scopes_meet(const struct resource *a, const struct resource *b)
{
    const struct str_list *ea = &a->spec.vs->export_to, *eb = &b->spec.vs->export_to;
    /* Two scopes meet unless both are explicit lists with no namespace in common. */
    bool all_a = !ea->len, all_b = !eb->len;
    for (size_t i = 0; i < ea->len; i++) all_a |= !strcmp(ea->v[i], "*");
    for (size_t i = 0; i < eb->len; i++) all_b |= !strcmp(eb->v[i], "*");
    if (all_a || all_b) return true;
    for (size_t i = 0; i < ea->len; i++) {
        const char *na = !strcmp(ea->v[i], ".") ? a->ns : ea->v[i];
        for (size_t j = 0; j < eb->len; j++) {
            const char *nb = !strcmp(eb->v[j], ".") ? b->ns : eb->v[j];
            if (!strcmp(na, nb)) return true;
        }
    }
    return false;
}

/* Wildcard hosts that overlap (*.a.b and *.b) claim the same requests as surely as one host
 * twice: the same report, on both VirtualServices. */
static void
check_mesh_wildcards(const struct hmap *claims, struct diag_list *dl)
{
    const struct hmap_slot **wild = NULL;
    size_t n = 0, cap = 0;
    for (size_t s = 0; s < claims->cap; s++)
        if (claims->slots[s].key && claims->slots[s].key[0] == '*') {
            xgrow((void **)&wild, &cap, n + 1, sizeof(*wild));
            wild[n++] = &claims->slots[s];
        }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            const char *narrow = wild[i]->key, *broad = wild[j]->key;
            if (i == j || strlen(narrow) <= strlen(broad) || !wildcard_covers(broad, narrow + 1))
                continue;
            for (const struct host_claim *a = wild[i]->value; a; a = a->next) {
                for (const struct host_claim *b = wild[j]->value; b; b = b->next) {
                    if (a->r == b->r || !export_scopes_meet(a->r, b->r)) continue;
                    const struct resource *pair[2] = {a->r, b->r};
                    for (int k = 0; k < 2; k++)
                        report(dl, pair[k], pair[k]->spec.vs, "hosts", -1, DIAG_ERROR,
                               DIAG_MESH_HOST_CONFLICT,
                               "merge the VirtualServices, or make their wildcard hosts disjoint",
                               "The VirtualServices %s/%s,%s/%s associated with mesh gateway "
                               "define the same host %s (also matched by %s) which can lead to "
                               "undefined behavior. This can be fixed by merging the "
                               "conflicting VirtualServices into a single resource.",
                               b->r->ns, b->r->name, a->r->ns, a->r->name, narrow, broad);
                }
            }
        }
    }
    free(wild);
}

static void
check_mesh_conflicts(struct index *ix, const struct resource_set *set, struct diag_list *dl)
{
    struct hmap claims;
    hmap_init(&claims);
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (r->kind != KIND_VIRTUAL_SERVICE || !r->spec.vs ||
            !config_mesh_bound(&r->spec.vs->gateways))
            continue;
        for (size_t h = 0; h < r->spec.vs->hosts.len; h++) {
            const char *host =
                lower(&ix->arena, config_fqdn(&ix->arena, r->spec.vs->hosts.v[h], r->ns));
            struct host_claim *c = arena_alloc(&ix->arena, sizeof(*c));
            c->r = r;
            c->next = hmap_put(&claims, host, c);
        }
    }
    for (size_t s = 0; s < claims.cap; s++) {
        const struct hmap_slot *slot = &claims.slots[s];
        if (!slot->key) continue;
        const struct host_claim *list = slot->value;
        if (!list->next) continue;
        for (const struct host_claim *c = list; c; c = c->next) {
            struct strbuf names;
            strbuf_init(&names, 1 << 14);
            size_t n = 0;
            /* Claims were pushed in reverse; list oldest first. */
            const struct host_claim *order[256];
            size_t k = 0;
            for (const struct host_claim *o = list; o && k < 256; o = o->next) order[k++] = o;
            for (size_t j = k; j-- > 0;) {
                const struct host_claim *o = order[j];
                if (o != c && !export_scopes_meet(o->r, c->r)) continue;
                strbuf_printf(&names, "%s%s/%s", n++ ? "," : "", o->r->ns, o->r->name);
            }
            if (n > 1) {
                report(dl, c->r, c->r->spec.vs, "hosts", -1, DIAG_ERROR, DIAG_MESH_HOST_CONFLICT,
                       "merge the VirtualServices for this host into one (sidecars use only the "
                       "oldest)",
                       "The VirtualServices %s associated with mesh gateway define the same host "
                       "%s which can lead to undefined behavior. This can be fixed by merging the "
                       "conflicting VirtualServices into a single resource.",
                       strbuf_str(&names), slot->key);
            }
            strbuf_fini(&names);
        }
    }
    check_mesh_wildcards(&claims, dl);
    hmap_fini(&claims);
}

/* ---- IST0140: gateway routes without subset to a host whose mesh routes use subsets ---- */

static void
check_ingress_subsets(struct index *ix, const struct resource_set *set, struct diag_list *dl)
{
    struct hmap subset_vs; /* fqdn -> mesh VS routing to it with a subset */
    hmap_init(&subset_vs);
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (r->kind != KIND_VIRTUAL_SERVICE || !r->spec.vs ||
            !config_mesh_bound(&r->spec.vs->gateways))
            continue;
        const struct virtual_service *vs = r->spec.vs;
        for (size_t h = 0; h < vs->http_len; h++)
            for (size_t d = 0; d < vs->http[h].route_len; d++) {
                const struct destination *dst = vs->http[h].route[d].destination;
                if (dst && dst->host && dst->subset)
                    hmap_put(&subset_vs,
                             lower(&ix->arena, config_fqdn(&ix->arena, dst->host, r->ns)),
                             (void *)r);
            }
    }
    for (size_t i = 0; i < set->len && subset_vs.len; i++) {
        const struct resource *r = set->items[i];
        if (r->kind != KIND_VIRTUAL_SERVICE || !r->spec.vs ||
            config_mesh_bound(&r->spec.vs->gateways))
            continue;
        const struct virtual_service *vs = r->spec.vs;
        for (size_t h = 0; h < vs->http_len; h++)
            for (size_t d = 0; d < vs->http[h].route_len; d++) {
                const struct destination *dst = vs->http[h].route[d].destination;
                if (!dst || !dst->host || dst->subset) continue;
                const struct resource *mesh = hmap_get(
                    &subset_vs, lower(&ix->arena, config_fqdn(&ix->arena, dst->host, r->ns)));
                if (!mesh) continue;
                report(dl, r, dst, "host", -1, DIAG_WARNING, DIAG_INGRESS_SUBSET,
                       "name the subset here too: the gateway applies only its own routes",
                       "Subset in virtual service %s/%s has no effect on ingress gateway %s "
                       "requests",
                       mesh->ns, mesh->name, gateway_key(&ix->arena, vs->gateways.v[0], r->ns));
            }
    }
    hmap_fini(&subset_vs);
}

/* ---- DestinationRule checks ---- */

/* Count the endpoints of <s> whose labels contain <want>; <*known> says whether the
 * endpoints of this service are known at all (inline endpoints, WorkloadEntries or pods). */
static size_t
count_endpoints(const struct resource_set *set, const struct svc *s, const struct str_map *want,
                bool *known)
{
    size_t n = 0;
    *known = false;
    if (s->se) {
        const struct service_entry *se = s->se->spec.se;
        for (size_t i = 0; i < se->endpoints_len; i++) {
            *known = true;
            n += config_labels_contain(&se->endpoints[i].labels, want);
        }
        if (se->workload_selector) {
            for (size_t i = 0; i < set->len; i++) {
                const struct resource *w = set->items[i];
                if (w->kind != KIND_WORKLOAD_ENTRY || !w->spec.we || strcmp(w->ns, s->se->ns))
                    continue;
                if (!config_labels_contain(&w->spec.we->labels, &se->workload_selector->labels))
                    continue;
                *known = true;
                n += config_labels_contain(&w->spec.we->labels, want);
            }
        }
    } else if (s->ks) {
        /* With workloads in the input, a Service none of them backs has no pod at all, and
         * every subset selects none (Istio's IST0173 looks at the pods, not the Service). */
        *known = set->n_workloads > 0;
        for (size_t i = 0; *known && i < set->n_workloads; i++) {
            const struct kube_workload *w = set->workloads[i];
            if (strcmp(w->ns, s->ks->ns) || !s->ks->selector.len) continue;
            if (config_labels_contain(&w->labels, &s->ks->selector) &&
                config_labels_contain(&w->labels, want))
                n++;
        }
    }
    return n;
}

static void
check_outlier_cap(struct diag_list *dl, const struct resource *r,
                  const struct outlier_detection *od, size_t endpoints, const char *pool)
{
    if (!od || endpoints == 0) return;
    int64_t max = od->max_ejection_percent.set && od->max_ejection_percent.v > 0
                      ? od->max_ejection_percent.v
                      : 10;
    /* Envoy: eject only if (ejected + 1) / hosts <= maxEjectionPercent. */
    if (100.0 / (double)endpoints <= (double)max) return;
    char hint[256];
    snprintf(hint, sizeof(hint),
             "set maxEjectionPercent to at least %d (100 lets every failing host go)",
             (int)((100 + endpoints - 1) / endpoints));
    report(dl, r, od, "maxEjectionPercent", -1, DIAG_WARNING, DIAG_OUTLIER_NEVER_EJECTS, hint,
           "outlier detection can never eject a host of %s: it has %zu endpoint%s, so ejecting "
           "one is %.0f%% of the pool, above maxEjectionPercent %" PRId64 "%%",
           pool, endpoints, endpoints == 1 ? "" : "s", 100.0 / (double)endpoints, max);
}

static void
check_tls_ca(struct diag_list *dl, const struct resource *r, const struct client_tls *t,
             int64_t port)
{
    if (!t || !t->mode.set || (t->mode.v != TLS_SIMPLE && t->mode.v != TLS_MUTUAL)) return;
    if (t->ca_certificates && *t->ca_certificates) return;
    if (t->insecure_skip_verify.set && t->insecure_skip_verify.v) return;
    if (t->credential_name && r->spec.dr->workload_selector) return;
    const char *mode = client_tls_mode_names[t->mode.v];
    if (port < 0) {
        report(dl, r, t, "caCertificates", -1, DIAG_WARNING, DIAG_NO_CA_DEST,
               "set caCertificates to the CA that signs the server's certificate",
               "DestinationRule %s in namespace %s has TLS mode set to %s but no caCertificates "
               "are set to validate server identity for host: %s",
               r->name, r->ns, mode, r->spec.dr->host);
    } else {
        report(dl, r, t, "caCertificates", -1, DIAG_WARNING, DIAG_NO_CA_PORT,
               "set caCertificates to the CA that signs the server's certificate",
               "DestinationRule %s in namespace %s has TLS mode set to %s but no caCertificates "
               "are set to validate server identity for host: %s at port number:%" PRId64,
               r->name, r->ns, mode, r->spec.dr->host, port);
    }
}

static void
check_dr(const struct index *ix, const struct resource_set *set, struct diag_list *dl,
         const struct resource *r)
{
    const struct destination_rule *dr = r->spec.dr;
    if (!dr->host) return;
    const char *fqdn = config_fqdn((struct arena *)&ix->arena, dr->host, r->ns);
    const struct traffic_policy *tp = dr->traffic_policy;
    if (tp) {
        check_tls_ca(dl, r, tp->tls, -1);
        for (size_t i = 0; i < tp->port_level_settings_len; i++) {
            const struct port_traffic_policy *p = &tp->port_level_settings[i];
            check_tls_ca(dl, r, p->tls, p->port ? p->port->number.v : 0);
        }
    }
    const struct svc *s = fqdn[0] == '*' ? NULL : find_service(ix, fqdn, r->ns);
    if (!s && fqdn[0] != '*') {
        report(dl, r, dr, "host", -1, DIAG_WARNING, DIAG_DR_UNKNOWN_HOST,
               "add a ServiceEntry (or Kubernetes Service) for the host, or fix its spelling",
               "The host %s defined in the DestinationRule does not match any services in the "
               "mesh.",
               dr->host);
        return;
    }
    if (!s) return;

    static const struct str_map all = {0};
    bool known;
    size_t total = count_endpoints(set, s, &all, &known);
    if (known && tp) {
        check_outlier_cap(dl, r, tp->outlier_detection, total, "the default pool");
        for (size_t i = 0; i < tp->port_level_settings_len; i++)
            check_outlier_cap(dl, r, tp->port_level_settings[i].outlier_detection, total,
                              "the default pool");
    }
    for (size_t i = 0; i < dr->subsets_len; i++) {
        const struct subset *sub = &dr->subsets[i];
        if (field_is_null(sub) || !sub->name) continue;
        size_t n = count_endpoints(set, s, &sub->labels, &known);
        if (!known) continue;
        if (n == 0 && s->ks) {
            report(dl, r, sub, "labels", -1, DIAG_ERROR, DIAG_SUBSET_NO_PODS,
                   "make the subset labels match the pod labels (every subset label must be "
                   "on the pod)",
                   "The Subset %s defined in the DestinationRule does not select any pods. Which "
                   "may lead to 503 UH (NoHealthyUpstream).",
                   sub->name);
            continue;
        }
        if (n == 0) {
            /* istioctl looks at pods only; the same hole with ServiceEntry endpoints is ours
             * to report, as a warning. */
            report(dl, r, sub, "labels", -1, DIAG_WARNING, DIAG_SUBSET_NO_ENDPOINTS,
                   "make the subset labels match the endpoint labels (every subset label must "
                   "be on the endpoint)",
                   "subset %s selects no endpoint of ServiceEntry %s/%s: requests routed to it "
                   "get 503 UH (no healthy upstream)",
                   sub->name, s->se->ns, s->se->name);
            continue;
        }
        /* A subset's policy replaces the top-level sections wholesale (§4.3). */
        const struct outlier_detection *od =
            sub->traffic_policy && sub->traffic_policy->outlier_detection
                ? sub->traffic_policy->outlier_detection
            : tp ? tp->outlier_detection
                 : NULL;
        char pool[160];
        snprintf(pool, sizeof(pool), "subset %s", sub->name);
        if (od) check_outlier_cap(dl, r, od, n, pool);
    }
}

static void
check_multiple_drs(const struct index *ix, struct diag_list *dl)
{
    for (size_t s = 0; s < ix->drs.cap; s++) {
        const struct hmap_slot *slot = &ix->drs.slots[s];
        if (!slot->key) continue;
        const struct dr_entry *list = slot->value;
        for (const struct dr_entry *e = list; e; e = e->next) {
            for (const struct dr_entry *o = e->next; o; o = o->next) {
                if (strcmp(o->r->ns, e->r->ns)) continue;
                if ((o->r->spec.dr->workload_selector != NULL) !=
                    (e->r->spec.dr->workload_selector != NULL))
                    continue;
                /* <o> is older (lists are newest first). */
                report(dl, e->r, e->r->spec.dr, "host", -1, DIAG_WARNING, DIAG_MULTIPLE_DR,
                       "keep one DestinationRule per host",
                       "DestinationRules %s/%s and %s/%s both apply to host %s: subsets are "
                       "merged (first definition of a name wins) and only the first "
                       "trafficPolicy counts",
                       o->r->ns, o->r->name, e->r->ns, e->r->name, slot->key);
                const struct destination_rule *older = o->r->spec.dr, *newer = e->r->spec.dr;
                for (size_t i = 0; i < newer->subsets_len; i++) {
                    const char *name = newer->subsets[i].name;
                    for (size_t j = 0; name && j < older->subsets_len; j++) {
                        if (!older->subsets[j].name || strcmp(older->subsets[j].name, name))
                            continue;
                        report(dl, e->r, &newer->subsets[i], "name", -1, DIAG_WARNING,
                               DIAG_MULTIPLE_DR, "rename the subset or remove one definition",
                               "subset %s is also defined by DestinationRule %s/%s for host "
                               "%s: this definition is ignored",
                               name, o->r->ns, o->r->name, slot->key);
                    }
                }
            }
        }
    }
}

/* ---- VirtualServices sharing a host on one gateway ---- */

static void
check_gateway_vs_sharing(struct index *ix, const struct resource_set *set, struct diag_list *dl)
{
    struct hmap claims; /* "gw-key host" -> struct host_claim list */
    hmap_init(&claims);
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (r->kind != KIND_VIRTUAL_SERVICE || !r->spec.vs) continue;
        const struct virtual_service *vs = r->spec.vs;
        for (size_t g = 0; g < vs->gateways.len; g++) {
            if (!strcmp(vs->gateways.v[g], "mesh")) continue;
            const char *gw = gateway_key(&ix->arena, vs->gateways.v[g], r->ns);
            for (size_t h = 0; h < vs->hosts.len; h++) {
                const char *key =
                    arena_printf(&ix->arena, "%s %s", gw,
                                 lower(&ix->arena, config_fqdn(&ix->arena, vs->hosts.v[h], r->ns)));
                struct host_claim *c = arena_alloc(&ix->arena, sizeof(*c));
                c->r = r;
                c->next = hmap_put(&claims, key, c);
            }
        }
    }
    for (size_t s = 0; s < claims.cap; s++) {
        const struct hmap_slot *slot = &claims.slots[s];
        if (!slot->key) continue;
        const struct host_claim *newest = slot->value;
        if (!newest->next) continue;
        const char *space = strchr(slot->key, ' ');
        for (const struct host_claim *c = newest; c->next; c = c->next) {
            const struct resource *older = c->next->r;
            if (older == c->r) continue;
            report(dl, c->r, c->r->spec.vs, "hosts", -1, DIAG_INFO, DIAG_GATEWAY_VS_SHARED,
                   "keep one VirtualService per host and gateway if rule order matters",
                   "VirtualServices %s/%s and %s/%s both route host %s on gateway %.*s: the "
                   "gateway merges their rules (older first, catch-all rules last)",
                   older->ns, older->name, c->r->ns, c->r->name, space + 1,
                   (int)(space - slot->key), slot->key);
        }
    }
    hmap_fini(&claims);
}

/* ---- VirtualServices without hosts that no VirtualService delegates to ---- */

static void
check_orphan_delegates(struct index *ix, const struct resource_set *set, struct diag_list *dl)
{
    struct hmap named; /* "ns/name" of every delegate reference */
    hmap_init(&named);
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (r->kind != KIND_VIRTUAL_SERVICE || !r->spec.vs) continue;
        for (size_t h = 0; h < r->spec.vs->http_len; h++) {
            const struct delegate *d = r->spec.vs->http[h].delegate;
            if (!d || !d->name) continue;
            const char *ns = d->namespace_ && *d->namespace_ ? d->namespace_ : r->ns;
            hmap_put(&named, arena_printf(&ix->arena, "%s/%s", ns, d->name), (void *)r);
        }
    }
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (r->kind != KIND_VIRTUAL_SERVICE || !r->spec.vs || r->spec.vs->hosts.len) continue;
        if (hmap_get(&named, arena_printf(&ix->arena, "%s/%s", r->ns, r->name))) continue;
        report(dl, r, r->spec.vs, "hosts", -1, DIAG_WARNING, DIAG_ORPHAN_DELEGATE,
               "add hosts, or name it in another VirtualService's http[].delegate",
               "VirtualService %s/%s has no hosts and no VirtualService names it as a delegate: "
               "it routes nothing",
               r->ns, r->name);
    }
    hmap_fini(&named);
}

void
analyze_run(const struct resource_set *set, struct diag_list *dl)
{
    struct index ix;
    memset(&ix, 0, sizeof(ix));
    arena_init(&ix.arena, 64 * 1024, true);
    ix.dl = dl;
    build_index(&ix, set);

    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (!r->spec.any) continue;
        if (r->kind == KIND_VIRTUAL_SERVICE) check_vs_refs(&ix, dl, r);
        if (r->kind == KIND_DESTINATION_RULE) check_dr(&ix, set, dl, r);
    }
    check_mesh_conflicts(&ix, set, dl);
    check_ingress_subsets(&ix, set, dl);
    check_multiple_drs(&ix, dl);
    check_gateway_vs_sharing(&ix, set, dl);
    analyze__gateways(&ix.arena, set, dl);
    analyze__l4(&ix.arena, set, dl);
    check_orphan_delegates(&ix, set, dl);
    check_dynamic_dns(set, dl);
    rollout_analyze(set, dl);

    hmap_fini(&ix.services);
    hmap_fini(&ix.subsets);
    hmap_fini(&ix.drs);
    hmap_fini(&ix.gateways);
    hmap_fini(&ix.names);
    free(ix.wildcards);
    arena_fini(&ix.arena);
}
