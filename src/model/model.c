/* SPDX-License-Identifier: Apache-2.0 */
/* Building the snapshot from a checked resource set, and its reference count. Everything a
 * worker reads lives in the snapshot's arena; nothing points back into the resource set.
 * What the build decides follows ../shared/spec/istio-traffic.md: §3.2 (which VirtualService
 * applies where), §3.6 (cluster keys, weights), §4.4 (subsets to endpoints). */
#include "model/model.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/delegate.h"
#include "config/sticky.h"
#include "config/virtual_service.h"
#include "core/alloc.h"
#include "core/base64.h"
#include "core/now.h"
#include "core/regex.h"
#include "core/sock.h"
#include "model/cluster_int.h"
#include "model/endpoint.h"
#include "model/model_int.h"

const char *
model__lower_dup(struct arena *a, const char *s)
{
    char *c = arena_strdup(a, s);
    for (char *p = c; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
    return c;
}

void
model__fail(struct build *b, const char *fmt, const char *what)
{
    if (b->failed) return;
    b->failed = true;
    snprintf(b->err, b->err_len, fmt, what);
}

static void
index_resources(struct build *b)
{
    struct arena *a = &b->s->arena;
    for (size_t i = 0; i < b->set->len; i++) {
        const struct resource *r = b->set->items[i];
        if (!r->spec.any) continue;
        if (r->kind == KIND_SERVICE_ENTRY) {
            for (size_t h = 0; h < r->spec.se->hosts.len; h++) {
                const char *host = model__lower_dup(a, r->spec.se->hosts.v[h]);
                if (!hmap_get(&b->services, host)) hmap_put(&b->services, host, (void *)r);
            }
        } else if (r->kind == KIND_DESTINATION_RULE && r->spec.dr->host) {
            const char *host = model__lower_dup(a, config_fqdn(a, r->spec.dr->host, r->ns));
            struct dr_list *l = hmap_get(&b->drs, host);
            if (!l) {
                l = arena_alloc(a, sizeof(*l));
                l->host = host;
                hmap_put(&b->drs, host, l);
                if (host[0] == '*') {
                    xgrow((void **)&b->wild, &b->cap_wild, b->n_wild + 1, sizeof(void *));
                    b->wild[b->n_wild++] = l;
                }
            }
            if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 4;
                const struct resource **items = arena_alloc(a, cap * sizeof(*items));
                if (l->n) memcpy(items, l->items, l->n * sizeof(*items));
                l->items = items;
                l->cap = cap;
            }
            l->items[l->n++] = r;
        }
    }
}

/* The DestinationRules that apply to <fqdn>: an exact host beats wildcards, and the longest
 * wildcard suffix wins (§4.2). NULL when none. */
const struct dr_list *
model__drs_for(const struct build *b, const char *fqdn)
{
    const struct dr_list *l = hmap_get(&b->drs, fqdn);
    if (l) return l;
    const struct dr_list *best = NULL;
    size_t best_len = 0, fl = strlen(fqdn);
    for (size_t i = 0; i < b->n_wild; i++) {
        const char *w = b->wild[i]->host;
        size_t wl = strlen(w) - 1; /* ".suffix" */
        bool covers = !strcmp(w, "*") || (fl > wl && !strcmp(fqdn + fl - wl, w + 1));
        if (covers && wl >= best_len) {
            best = b->wild[i];
            best_len = wl;
        }
    }
    return best;
}

/* Several DestinationRules for one host merge (§4.2): the first trafficPolicy wins whole;
 * subsets are the union, the first definition of a name wins. */
static const struct traffic_policy *
drs_policy(const struct dr_list *l)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (l->items[i]->spec.dr->traffic_policy) return l->items[i]->spec.dr->traffic_policy;
    return NULL;
}

const struct subset *
model__drs_subset(const struct dr_list *l, const char *name)
{
    for (size_t i = 0; l && i < l->n; i++) {
        const struct destination_rule *dr = l->items[i]->spec.dr;
        for (size_t k = 0; k < dr->subsets_len; k++)
            if (!dr->subsets[k].obj.is_null && dr->subsets[k].name &&
                !strcmp(dr->subsets[k].name, name))
                return &dr->subsets[k];
    }
    return NULL;
}

/* The most addresses one DNS name gives a pool (Envoy takes them all; 16 is plenty). */
#define DNS_MAX_ADDRS 16

static void
set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* The addresses of <address> (up to <max>): an IP literal as itself; a name from the
 * build's resolver (cached answers, never blocking; 0 while it has none), or without one
 * once by getaddrinfo, its first address. *named: it was a name. -1: a name that cannot
 * be resolved without a resolver (numeric_only, or getaddrinfo failed). */
static int
resolve_all(const struct model_options *opt, bool use_resolver, const char *address,
            struct sockaddr_storage *out, size_t max, bool *named)
{
    *named = false;
    if (sock_parse_ip(address, &out[0])) return 1;
    *named = true;
    if (opt->numeric_only) return -1;
    if (use_resolver && opt->resolve) return (int)opt->resolve(opt->resolve_arg, address, out, max);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(address, NULL, &hints, &res) || !res) return -1;
    memset(&out[0], 0, sizeof(out[0]));
    memcpy(&out[0], res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 1;
}

/* Resolve <address>:<port> into <ep>: the first address (an inbound app's, a flag of this
 * proxy: looked up once, at build time, as before there was a resolver). */
static bool
resolve(struct build *b, struct model_endpoint *ep, const char *address, uint16_t port)
{
    bool named;
    if (resolve_all(b->opt, false, address, &ep->addr, 1, &named) < 1) return false;
    set_port(&ep->addr, port);
    ep->addr_len =
        ep->addr.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    return true;
}

/* Remember that pool <c> takes endpoints from DNS name <name> (once). */
static void
note_dns_name(struct arena *a, struct model_cluster *c, const char *name)
{
    for (size_t i = 0; i < c->n_dns_names; i++)
        if (!strcmp(c->dns_names[i], name)) return;
    const char **v = arena_alloc(a, (c->n_dns_names + 1) * sizeof(*v));
    if (c->n_dns_names) memcpy(v, c->dns_names, c->n_dns_names * sizeof(*v));
    v[c->n_dns_names++] = arena_strdup(a, name);
    c->dns_names = v;
}

/* Add workload <we> to <c> (whose endpoint array holds *cap): one endpoint per address,
 * a name giving every address it resolves to (Envoy's STRICT_DNS), or its first only when
 * <first_only> (DNS_ROUND_ROBIN: LOGICAL_DNS). */
static void
add_endpoint(struct build *b, struct model_cluster *c, size_t *cap, const struct workload_entry *we,
             const struct service_port *sp, bool first_only)
{
    uint16_t port =
        (uint16_t)(sp->target_port.set && sp->target_port.v ? sp->target_port.v : sp->number.v);
    for (size_t i = 0; i < we->ports.len; i++)
        if (sp->name && !strcmp(we->ports.keys[i], sp->name)) port = (uint16_t)we->ports.vals[i];
    if (!we->address || !strncmp(we->address, "unix://", 7)) return;
    struct arena *a = &b->s->arena;
    struct sockaddr_storage addrs[DNS_MAX_ADDRS];
    bool named;
    int n = resolve_all(b->opt, true, we->address, addrs, first_only ? 1 : DNS_MAX_ADDRS, &named);
    if (n < 0) {
        model__fail(b, "endpoint address %s does not resolve", we->address);
        return;
    }
    if (named && b->opt->resolve) note_dns_name(a, c, we->address);
    if (c->n_endpoints + (size_t)n > *cap) {
        size_t grown = (c->n_endpoints + (size_t)n) * 2;
        struct model_endpoint *e = arena_alloc(a, (grown + 1) * sizeof(*e));
        if (c->n_endpoints) memcpy(e, c->endpoints, c->n_endpoints * sizeof(*e));
        c->endpoints = e;
        *cap = grown;
    }
    for (int k = 0; k < n; k++) {
        struct model_endpoint *ep = &c->endpoints[c->n_endpoints];
        memset(ep, 0, sizeof(*ep));
        ep->addr = addrs[k];
        set_port(&ep->addr, port);
        ep->addr_len = ep->addr.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                     : sizeof(struct sockaddr_in6);
        if (named) {
            char ip[INET6_ADDRSTRLEN] = "";
            const void *raw = ep->addr.ss_family == AF_INET
                                  ? (const void *)&((struct sockaddr_in *)&ep->addr)->sin_addr
                                  : (const void *)&((struct sockaddr_in6 *)&ep->addr)->sin6_addr;
            inet_ntop(ep->addr.ss_family, raw, ip, sizeof(ip));
            ep->address = arena_strdup(a, ip);
            ep->dns_name = arena_strdup(a, we->address);
        } else {
            ep->address = arena_strdup(a, we->address);
        }
        ep->port = port;
        ep->weight = we->weight.set && we->weight.v ? (uint32_t)we->weight.v : 1;
        ep->service_account = we->service_account && *we->service_account
                                  ? arena_strdup(a, we->service_account)
                                  : NULL;
        ep->n_labels = we->labels.len;
        ep->label_keys = arena_alloc(a, (we->labels.len + 1) * sizeof(char *));
        ep->label_vals = arena_alloc(a, (we->labels.len + 1) * sizeof(char *));
        for (size_t i = 0; i < we->labels.len; i++) {
            ep->label_keys[i] = arena_strdup(a, we->labels.keys[i]);
            ep->label_vals[i] = arena_strdup(a, we->labels.vals[i]);
        }
        c->n_endpoints++;
    }
}

/* A workload as PeerAuthentication selectors see it: its namespace and labels. */
struct workload {
    const char *ns;
    const char *const *keys, *const *vals;
    size_t n;
};

/* Does every label of <sel> appear in <w>'s labels? An empty one does not select. */
static bool
map_selects(const struct str_map *sel, const struct workload *w)
{
    if (!sel->len) return false;
    for (size_t i = 0; i < sel->len; i++) {
        bool found = false;
        for (size_t j = 0; j < w->n && !found; j++)
            found = !strcmp(w->keys[j], sel->keys[i]) && !strcmp(w->vals[j], sel->vals[i]);
        if (!found) return false;
    }
    return true;
}

/* Does selector <sel> match <w>'s labels? An empty one does not. */
static bool
selects(const struct workload_selector *sel, const struct workload *w)
{
    return sel && map_selects(&sel->match_labels, w);
}

static enum model_peer_mode
peer_mode(int v, enum model_peer_mode inherited)
{
    return v == MTLS_STRICT       ? MODEL_PEER_STRICT
           : v == MTLS_DISABLE    ? MODEL_PEER_DISABLE
           : v == MTLS_PERMISSIVE ? MODEL_PEER_PERMISSIVE
                                  : inherited;
}

/* Istio's ComposePeerAuthentication (§6.2) for port <port> of workload <w>: the oldest
 * mesh-wide policy, then the namespace's, then the oldest selecting the workload, then its
 * portLevelMtls entry. Without any: PERMISSIVE. */
static enum model_peer_mode
compose_peer_mode(struct build *b, const struct workload *w, uint16_t port)
{
    const char *root = b->opt->root_namespace ? b->opt->root_namespace : "istio-system";
    const struct peer_authentication *mesh = NULL, *nsw = NULL, *wl = NULL;
    for (size_t i = 0; i < b->set->len; i++) { /* load order: oldest first */
        const struct resource *r = b->set->items[i];
        if (r->kind != KIND_PEER_AUTHENTICATION || !r->spec.pa) continue;
        const struct peer_authentication *pa = r->spec.pa;
        bool selector = pa->selector && pa->selector->match_labels.len;
        if (!selector && !strcmp(r->ns, root) && !mesh) mesh = pa;
        if (!selector && !strcmp(r->ns, w->ns) && strcmp(w->ns, root) && !nsw) nsw = pa;
        if (selector && !strcmp(r->ns, w->ns) && strcmp(w->ns, root) && !wl &&
            selects(pa->selector, w))
            wl = pa;
    }
    enum model_peer_mode m = MODEL_PEER_PERMISSIVE;
    if (mesh && mesh->mtls) m = peer_mode(mesh->mtls->mode.v, m);
    if (nsw && nsw->mtls) m = peer_mode(nsw->mtls->mode.v, m);
    if (wl && wl->mtls) m = peer_mode(wl->mtls->mode.v, m);
    for (size_t i = 0; wl && i < wl->port_level_mtls_len; i++)
        if ((uint16_t)strtoul(wl->port_level_mtls_keys[i], NULL, 10) == port)
            m = peer_mode(wl->port_level_mtls[i].mode.v, m);
    return m;
}

/* SIMPLE and MUTUAL (§4.8): TLS to every endpoint with the DestinationRule's files; the
 * server must carry one of subjectAltNames, else (not insecure) the SNI as its name. */
static void
compile_user_tls(struct build *b, struct model_cluster *c, const struct client_tls *tls)
{
    struct arena *a = &b->s->arena;
    c->tls_user = true;
    c->tls_sni = arena_strdup(a, tls->sni && *tls->sni ? tls->sni : c->host);
    c->tls_ca = tls->ca_certificates ? arena_strdup(a, tls->ca_certificates) : NULL;
    if (tls->mode.v == TLS_MUTUAL) {
        c->tls_cert = tls->client_certificate ? arena_strdup(a, tls->client_certificate) : NULL;
        c->tls_key = tls->private_key ? arena_strdup(a, tls->private_key) : NULL;
    }
    if (tls->credential_name && *tls->credential_name) { /* as a gateway honours it */
        const char *dir = b->opt->credentials_dir ? b->opt->credentials_dir : ".";
        c->tls_ca = arena_printf(a, "%s/%s/ca.crt", dir, tls->credential_name);
        if (tls->mode.v == TLS_MUTUAL) {
            c->tls_cert = arena_printf(a, "%s/%s/tls.crt", dir, tls->credential_name);
            c->tls_key = arena_printf(a, "%s/%s/tls.key", dir, tls->credential_name);
        }
    }
    c->tls_insecure = tls->insecure_skip_verify.v;
    c->tls_sans = arena_alloc(a, (tls->subject_alt_names.len + 1) * sizeof(char *));
    for (size_t i = 0; i < tls->subject_alt_names.len; i++)
        c->tls_sans[c->n_tls_sans++] = arena_strdup(a, tls->subject_alt_names.v[i]);
}

/* Upstream TLS of a pool (§6.4): an explicit ISTIO_MUTUAL makes every endpoint mTLS; no
 * `tls` leaves it to automatic mTLS, per endpoint by its security.istio.io/tlsMode label
 * (not for MESH_EXTERNAL services); SIMPLE and MUTUAL use the user's files. For mTLS the
 * server must present tls.subjectAltNames, else the SPIFFE ID of an endpoint's service
 * account, else the ServiceEntry's subjectAltNames. */
static void
compile_tls(struct build *b, struct model_cluster *c, const struct client_tls *tls,
            const struct service_entry *se, const char *ns)
{
    struct arena *a = &b->s->arena;
    if (tls && tls->mode.set && (tls->mode.v == TLS_SIMPLE || tls->mode.v == TLS_MUTUAL)) {
        compile_user_tls(b, c, tls);
        return;
    }
    bool explicit_mtls = tls && tls->mode.set && tls->mode.v == TLS_ISTIO_MUTUAL;
    bool any = false;
    for (size_t i = 0; i < c->n_endpoints; i++) {
        struct model_endpoint *e = &c->endpoints[i];
        bool labelled = false;
        for (size_t l = 0; l < e->n_labels; l++)
            labelled |= !strcmp(e->label_keys[l], "security.istio.io/tlsMode") &&
                        !strcmp(e->label_vals[l], "istio");
        /* Automatic mTLS also needs the endpoint's own PeerAuthentication not to be DISABLE. */
        struct workload w = {ns, e->label_keys, e->label_vals, e->n_labels};
        e->mtls = explicit_mtls ||
                  (!tls && labelled && !(se->location.set && se->location.v == MESH_EXTERNAL) &&
                   compose_peer_mode(b, &w, e->port) != MODEL_PEER_DISABLE);
        any |= e->mtls;
    }
    if (!any) return;
    c->tls_sni = tls && tls->sni
                     ? arena_strdup(a, tls->sni)
                     : arena_printf(a, "outbound_.%u_.%s_.%s", c->port, c->subset, c->host);
    const char *td = b->opt->trust_domain ? b->opt->trust_domain : "cluster.local";
    size_t cap =
        (tls ? tls->subject_alt_names.len : 0) + c->n_endpoints + se->subject_alt_names.len;
    c->tls_sans = arena_alloc(a, (cap + 1) * sizeof(char *));
    if (tls && tls->subject_alt_names.len) {
        for (size_t i = 0; i < tls->subject_alt_names.len; i++)
            c->tls_sans[c->n_tls_sans++] = arena_strdup(a, tls->subject_alt_names.v[i]);
        return;
    }
    for (size_t i = 0; i < c->n_endpoints; i++) {
        if (!c->endpoints[i].service_account) continue;
        const char *id =
            arena_printf(a, "spiffe://%s/ns/%s/sa/%s", td, ns, c->endpoints[i].service_account);
        bool seen = false;
        for (size_t k = 0; k < c->n_tls_sans && !seen; k++) seen = !strcmp(c->tls_sans[k], id);
        if (!seen) c->tls_sans[c->n_tls_sans++] = id;
    }
    for (size_t i = 0; i < se->subject_alt_names.len; i++)
        c->tls_sans[c->n_tls_sans++] = arena_strdup(a, se->subject_alt_names.v[i]);
}

/* The protocol of port <number> of <fqdn>, and who declared it (into <source>): a Kubernetes
 * Service of that host in the ServiceEntry's namespace wins, as istiod's service index lets
 * a Kubernetes Service take a hostname over a ServiceEntry (push_context.go
 * initServiceRegistry); else the ServiceEntry port's protocol field (its name plays no part). */
unsigned
model__port_protocol_of(const struct build *b, const char *fqdn, const struct resource *se_res,
                        const struct service_port *sp, const char **source)
{
    for (size_t i = 0; i < b->set->n_services; i++) {
        const struct kube_service *ks = b->set->services[i];
        if (!ks->host || strcasecmp(ks->host, fqdn) || strcmp(ks->ns, se_res->ns)) continue;
        for (size_t p = 0; p < ks->n_ports; p++) {
            if (ks->ports[p] != sp->number.v) continue;
            *source = arena_printf(&b->s->arena, "Kubernetes Service %s/%s", ks->ns, ks->name);
            return ks->port_protocols[p];
        }
    }
    *source = arena_printf(&b->s->arena, "ServiceEntry %s/%s", se_res->ns, se_res->name);
    return port_protocol_parse(sp->protocol);
}

/* The pool for (host, port, subset), made on first use; NULL when the host or subset is not
 * known (requests routed there get 503 NC). <listener_port> picks the port of a service
 * with several when the destination names none (§3.6). */
const struct model_cluster *
model__cluster_for(struct build *b, const struct destination *d, const char *ns,
                   uint16_t listener_port)
{
    struct arena *a = &b->s->arena;
    const char *fqdn = model__lower_dup(a, config_fqdn(a, d->host, ns));
    const struct resource *se_res = hmap_get(&b->services, fqdn);
    if (!se_res) return NULL;
    const struct service_entry *se = se_res->spec.se;
    const struct service_port *sp = NULL;
    uint32_t want = d->port && d->port->number.set ? (uint32_t)d->port->number.v
                    : se->ports_len == 1           ? (uint32_t)se->ports[0].number.v
                                                   : listener_port;
    for (size_t i = 0; i < se->ports_len; i++)
        if (se->ports[i].number.v == want) sp = &se->ports[i];
    if (!sp) return NULL;
    const char *subset = d->subset ? d->subset : "";
    const struct dr_list *drs = model__drs_for(b, fqdn);
    const struct subset *sub = NULL;
    if (*subset) {
        sub = model__drs_subset(drs, subset);
        if (!sub) return NULL;
    }
    const char *name = arena_printf(a, "outbound|%u|%s|%s", want, subset, fqdn);
    struct model_cluster *c = hmap_get(&b->clusters, name);
    if (c) return c;

    c = arena_alloc(a, sizeof(*c));
    c->name = name;
    c->host = fqdn;
    c->subset = arena_strdup(a, subset);
    c->port = (uint16_t)want;
    static const struct str_map none = {0};
    const struct str_map *labels = sub ? &sub->labels : &none;
    /* Endpoints: inline ones, or the WorkloadEntries the selector picks (same namespace). */
    size_t max = se->endpoints_len;
    for (size_t i = 0; se->workload_selector && i < b->set->len; i++)
        max += b->set->items[i]->kind == KIND_WORKLOAD_ENTRY;
    c->endpoints = arena_alloc(a, (max + 1) * sizeof(*c->endpoints));
    int resolution = se->resolution.set ? se->resolution.v : RES_NONE;
    bool dns = resolution == RES_DNS || resolution == RES_DNS_ROUND_ROBIN;
    bool first_only = resolution == RES_DNS_ROUND_ROBIN;
    for (size_t i = 0; i < se->endpoints_len; i++)
        if (config_labels_contain(&se->endpoints[i].labels, labels))
            add_endpoint(b, c, &max, &se->endpoints[i], sp, first_only);
    for (size_t i = 0; se->workload_selector && i < b->set->len; i++) {
        const struct resource *w = b->set->items[i];
        if (w->kind != KIND_WORKLOAD_ENTRY || !w->spec.we || strcmp(w->ns, se_res->ns)) continue;
        if (!config_labels_contain(&w->spec.we->labels, &se->workload_selector->labels)) continue;
        if (config_labels_contain(&w->spec.we->labels, labels))
            add_endpoint(b, c, &max, w->spec.we, sp, first_only);
    }
    /* A DNS ServiceEntry without endpoints: its hosts are resolved, as Istio makes them the
     * endpoints of a STRICT_DNS (DNS) or LOGICAL_DNS (DNS_ROUND_ROBIN) cluster. They carry
     * no labels, so a subset with labels selects none of them, as in Istio. Only with a
     * resolver (`meshlet run`): a tool that builds offline never blocks on a lookup. */
    if (dns && b->opt->resolve && !se->endpoints_len && !se->workload_selector && !labels->len) {
        for (size_t h = 0; h < se->hosts.len; h++) {
            if (se->hosts.v[h][0] == '*') continue;
            struct workload_entry host = {.address = se->hosts.v[h]};
            add_endpoint(b, c, &max, &host, sp, first_only);
        }
    }
    uint64_t now = now_ms();
    for (size_t i = 0; i < c->n_endpoints; i++) {
        struct model_endpoint *e = &c->endpoints[i];
        e->state = endpoint_state_get(name, e->address, e->port, now);
        e->state_id = e->state->id;
    }
    c->equal_weights = true;
    for (size_t i = 1; i < c->n_endpoints; i++)
        if (c->endpoints[i].weight != c->endpoints[0].weight) c->equal_weights = false;
    struct cluster_sections pol;
    cluster_effective_policy(drs_policy(drs), sub ? sub->traffic_policy : NULL, want, &pol);
    /* Compiled now: the resource set is gone once the build ends. */
    cluster_compile_policy(c, &pol, a);
    const char *source;
    enum port_protocol proto = model__port_protocol_of(b, fqdn, se_res, sp, &source);
    cluster_compile_upstream(c, pol.pool, proto, source, b->opt->mesh_h2_upgrade, a);
    compile_tls(b, c, pol.tls, se, se_res->ns);
    cluster_digest_endpoints(c);
    c->state = pool_state_get(name);
    /* The balancer's own tables (hash ring, Maglev) live in the snapshot with the pool. */
    if (b->opt->prepare_cluster) b->opt->prepare_cluster(c, a);
    c->index = b->s->n_clusters;
    xgrow((void **)&b->s->clusters, &b->cap_clusters, b->s->n_clusters + 1, sizeof(void *));
    b->s->clusters[b->s->n_clusters++] = c;
    hmap_put(&b->clusters, name, c);
    return c;
}

static struct regex *
keep_regex(struct build *b, const char *pattern)
{
    struct regex *re = regex_compile(pattern);
    if (!re) {
        model__fail(b, "regex %s does not compile", pattern);
        return NULL;
    }
    xgrow((void **)&b->s->regexes, &b->s->cap_regexes, b->s->n_regexes + 1, sizeof(void *));
    b->s->regexes[b->s->n_regexes++] = re;
    return re;
}

static void
compile_sm(struct build *b, const struct string_match *in, struct model_string_match *out)
{
    struct arena *a = &b->s->arena;
    if (!in || in->obj.is_null || (!in->exact && !in->prefix && !in->regex)) {
        out->kind = MODEL_SM_PRESENT;
    } else if (in->exact) {
        out->kind = MODEL_SM_EXACT;
        out->value = slice_make(arena_strdup(a, in->exact), strlen(in->exact));
    } else if (in->prefix) {
        out->kind = MODEL_SM_PREFIX;
        out->value = slice_make(arena_strdup(a, in->prefix), strlen(in->prefix));
    } else if (!strcmp(in->regex, "*")) {
        out->kind = MODEL_SM_PRESENT; /* Istio: regex "*" means present */
    } else {
        out->kind = MODEL_SM_REGEX;
        out->re = keep_regex(b, in->regex);
    }
}

static void
compile_header_map(struct build *b, size_t n, const char *const *keys,
                   const struct string_match *vals, bool invert, bool lower, size_t *out_n,
                   struct model_header_match *out)
{
    struct arena *a = &b->s->arena;
    for (size_t i = 0; i < n; i++) {
        struct model_header_match *h = &out[(*out_n)++];
        const char *name = lower ? model__lower_dup(a, keys[i]) : arena_strdup(a, keys[i]);
        h->name = slice_make(name, strlen(name));
        h->invert = invert;
        compile_sm(b, &vals[i], &h->m);
    }
}

bool
model__gateway_listed(const struct str_list *gws, const char *key, const char *vs_ns,
                      struct arena *a)
{
    for (size_t i = 0; i < gws->len; i++) {
        const char *g = gws->v[i];
        const char *k = strchr(g, '/') ? g : arena_printf(a, "%s/%s", vs_ns, g);
        if (!strcmp(k, key)) return true;
    }
    return false;
}

static void
compile_ops(struct build *b, const struct header_operations *in, struct model_header_ops *out,
            bool request, struct slice *authority)
{
    struct arena *a = &b->s->arena;
    memset(out, 0, sizeof(*out));
    if (!in) return;
    out->set_names = arena_alloc(a, (in->set.len + 1) * sizeof(struct slice));
    out->set_values = arena_alloc(a, (in->set.len + 1) * sizeof(struct slice));
    out->add_names = arena_alloc(a, (in->add.len + 1) * sizeof(struct slice));
    out->add_values = arena_alloc(a, (in->add.len + 1) * sizeof(struct slice));
    out->remove = arena_alloc(a, (in->remove.len + 1) * sizeof(struct slice));
    const struct str_map *maps[2] = {&in->set, &in->add};
    for (int m = 0; m < 2; m++) {
        for (size_t i = 0; i < maps[m]->len; i++) {
            const char *name = model__lower_dup(a, maps[m]->keys[i]);
            /* Envoy header values: "%%" is a literal percent. */
            char *v = arena_strdup(a, maps[m]->vals[i]), *w = v;
            for (const char *p = v; *p; p++) {
                *w++ = *p;
                if (p[0] == '%' && p[1] == '%') p++;
            }
            *w = '\0';
            struct slice value = slice_make(v, strlen(v));
            if (request && (!strcmp(name, "host") || !strcmp(name, ":authority"))) {
                /* set wins over add; the rewrite's authority wins over both (§3.14) */
                if (!authority->len || m == 0) *authority = value;
                continue;
            }
            if (m == 0) {
                out->set_names[out->n_set] = slice_make(name, strlen(name));
                out->set_values[out->n_set++] = value;
            } else {
                out->add_names[out->n_add] = slice_make(name, strlen(name));
                out->add_values[out->n_add++] = value;
            }
        }
    }
    for (size_t i = 0; i < in->remove.len; i++) {
        const char *name = model__lower_dup(a, in->remove.v[i]);
        out->remove[out->n_remove++] = slice_make(name, strlen(name));
    }
}

static void
compile_headers(struct build *b, const struct headers *in, struct model_headers *out)
{
    memset(out, 0, sizeof(*out));
    if (!in) return;
    compile_ops(b, in->request, &out->request, true, &out->authority);
    compile_ops(b, in->response, &out->response, false, &out->authority);
}

static struct slice
joined(struct arena *a, const struct str_list *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->len; i++) n += strlen(l->v[i]) + 1;
    char *p = arena_alloc(a, n + 1), *w = p;
    for (size_t i = 0; i < l->len; i++) {
        if (i) *w++ = ',';
        size_t k = strlen(l->v[i]);
        memcpy(w, l->v[i], k);
        w += k;
    }
    return slice_make(p, (size_t)(w - p));
}

/* Istio's retry translation (§3.8.2): no `retries` means the default policy (2 retries on
 * connect-failure, refused-stream, unavailable, cancelled, retriable-status-codes with no
 * codes); attempts <= 0 disables; retryOn tokens that are numbers become retriable codes.
 * refused-stream fires on HTTP/2 upstreams only; the gRPC conditions read grpc-status from
 * response headers (a trailers-only response), as Envoy's. */
static void
compile_retries(const struct http_retry *in, struct model_route *out)
{
    out->retry_backoff_ms = 25;
    out->retry_attempts = 2;
    out->retry_on = MODEL_RETRY_CONNECT_FAILURE | MODEL_RETRY_REFUSED_STREAM |
                    MODEL_RETRY_GRPC_UNAVAILABLE | MODEL_RETRY_GRPC_CANCELLED |
                    MODEL_RETRY_STATUS_CODES;
    if (!in) return;
    if (!in->attempts.set || in->attempts.v <= 0) {
        out->retry_attempts = 0;
        return;
    }
    out->retry_attempts = (uint32_t)in->attempts.v;
    if (in->per_try_timeout.set)
        out->retry_per_try_ms = (uint64_t)(in->per_try_timeout.ns / 1000000);
    if (in->backoff.set && in->backoff.ns >= 1000000)
        out->retry_backoff_ms = (uint64_t)(in->backoff.ns / 1000000);
    out->retry_keep_previous_host =
        in->retry_ignore_previous_hosts.set && !in->retry_ignore_previous_hosts.v;
    if (!in->retry_on || !*in->retry_on) return;
    static const struct {
        const char *name;
        uint32_t bit;
    } names[] = {
        {"5xx", MODEL_RETRY_5XX},
        {"gateway-error", MODEL_RETRY_GATEWAY_ERROR},
        {"reset", MODEL_RETRY_RESET},
        {"reset-before-request", MODEL_RETRY_RESET},
        {"connect-failure", MODEL_RETRY_CONNECT_FAILURE},
        {"retriable-4xx", MODEL_RETRY_RETRIABLE_4XX},
        {"retriable-status-codes", MODEL_RETRY_STATUS_CODES},
        {"refused-stream", MODEL_RETRY_REFUSED_STREAM},
        {"cancelled", MODEL_RETRY_GRPC_CANCELLED},
        {"deadline-exceeded", MODEL_RETRY_GRPC_DEADLINE_EXCEEDED},
        {"internal", MODEL_RETRY_GRPC_INTERNAL},
        {"resource-exhausted", MODEL_RETRY_GRPC_RESOURCE_EXHAUSTED},
        {"unavailable", MODEL_RETRY_GRPC_UNAVAILABLE},
    };
    out->retry_on = 0;
    for (const char *p = in->retry_on; *p;) {
        while (*p == ' ' || *p == ',') p++;
        const char *end = p;
        while (*end && *end != ',') end++;
        size_t n = (size_t)(end - p);
        while (n && p[n - 1] == ' ') n--;
        if (n && p[0] >= '0' && p[0] <= '9') {
            unsigned code = (unsigned)strtoul(p, NULL, 10);
            if (out->n_retry_codes < 8) out->retry_codes[out->n_retry_codes++] = (uint16_t)code;
            out->retry_on |= MODEL_RETRY_STATUS_CODES;
        }
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strlen(names[i].name) == n && !strncmp(names[i].name, p, n))
                out->retry_on |= names[i].bit;
        p = end;
    }
}

/* Istio's percentage (0.0001..100) or the deprecated integer percent, in parts per million;
 * neither set means never (§3.9). */
static uint32_t
fault_ppm(const struct opt_dbl *percentage, const struct opt_int *percent)
{
    if (percentage && percentage->set) return (uint32_t)(percentage->v * 10000 + 0.5);
    if (percent && percent->set && percent->v > 0) return (uint32_t)(percent->v * 10000);
    return 0;
}

static void
compile_fault(const struct http_fault_injection *f, struct model_route *out)
{
    if (f->delay && f->delay->fixed_delay.set) {
        out->fault_delay_ms = (uint64_t)(f->delay->fixed_delay.ns / 1000000);
        out->fault_delay_ppm = fault_ppm(&f->delay->percentage, &f->delay->percent);
    }
    if (f->abort) {
        out->fault_abort_ppm = fault_ppm(&f->abort->percentage, NULL);
        if (f->abort->http_status.set) {
            out->fault_abort_status = (int)f->abort->http_status.v;
        } else if (f->abort->grpc_status) {
            out->fault_abort_status = -1;
            out->fault_abort_grpc = virtual_service_grpc_code(f->abort->grpc_status);
        } else {
            out->fault_abort_ppm = 0; /* nothing to answer with */
        }
    }
}

static const struct model_cors *
compile_cors(struct build *b, const struct cors_policy *in)
{
    struct arena *a = &b->s->arena;
    struct model_cors *c = arena_alloc(a, sizeof(*c));
    /* allowOrigin (deprecated, exact strings) counts only when allowOrigins is unset. */
    size_t n = in->allow_origins_len ? in->allow_origins_len : in->allow_origin.len;
    c->origins = arena_alloc(a, (n + 1) * sizeof(*c->origins));
    for (size_t i = 0; i < in->allow_origins_len; i++)
        compile_sm(b, &in->allow_origins[i], &c->origins[c->n_origins++]);
    for (size_t i = 0; !in->allow_origins_len && i < in->allow_origin.len; i++) {
        struct model_string_match *m = &c->origins[c->n_origins++];
        m->kind = MODEL_SM_EXACT;
        m->value =
            slice_make(arena_strdup(a, in->allow_origin.v[i]), strlen(in->allow_origin.v[i]));
    }
    c->allow_methods = joined(a, &in->allow_methods);
    c->allow_headers = joined(a, &in->allow_headers);
    c->expose_headers = joined(a, &in->expose_headers);
    if (in->max_age.set) {
        const char *secs = arena_printf(a, "%lld", (long long)(in->max_age.ns / 1000000000));
        c->max_age = slice_make(secs, strlen(secs));
    }
    c->allow_credentials = in->allow_credentials.set && in->allow_credentials.v;
    c->ignore_unmatched =
        in->unmatched_preflights.set && in->unmatched_preflights.v == UNMATCHED_IGNORE;
    return c;
}

/* Compile one match block; false when it does not exist for this listener (§3.3). */
static bool
compile_match(struct build *b, const struct http_match_request *in, const char *gateway,
              const char *vs_ns, uint16_t port, struct model_match *out)
{
    struct arena *a = &b->s->arena;
    if (in->port.set && in->port.v != port) return false;
    if (in->gateways.len && !model__gateway_listed(&in->gateways, gateway, vs_ns, a)) return false;
    memset(out, 0, sizeof(*out));
    if ((out->has_uri = in->uri != NULL)) compile_sm(b, in->uri, &out->uri);
    if ((out->has_method = in->method != NULL)) compile_sm(b, in->method, &out->method);
    if ((out->has_authority = in->authority != NULL)) compile_sm(b, in->authority, &out->authority);
    if ((out->has_scheme = in->scheme != NULL)) compile_sm(b, in->scheme, &out->scheme);
    out->ignore_uri_case = in->ignore_uri_case.set && in->ignore_uri_case.v;
    size_t nh = in->headers_len + in->without_headers_len;
    out->headers = arena_alloc(a, (nh + 1) * sizeof(*out->headers));
    compile_header_map(b, in->headers_len, in->headers_keys, in->headers, false, true,
                       &out->n_headers, out->headers);
    compile_header_map(b, in->without_headers_len, in->without_headers_keys, in->without_headers,
                       true, true, &out->n_headers, out->headers);
    out->query = arena_alloc(a, (in->query_params_len + 1) * sizeof(*out->query));
    compile_header_map(b, in->query_params_len, in->query_params_keys, in->query_params, false,
                       false, &out->n_query, out->query);
    out->port = in->port.set ? (uint32_t)in->port.v : 0;
    return true;
}

/* Compile rule <h> (rule <index> of <r>'s VirtualService, or a rule merged from its
 * delegate <dlg>) into <out>; false when the rule does not exist here. Short destination
 * hosts resolve in the namespace of the VirtualService that wrote the rule. */
static bool
compile_route(struct build *b, const struct resource *r, const struct resource *dlg,
              const struct http_route *h, size_t index, const char *gateway, uint16_t port,
              struct model_route *out)
{
    struct arena *a = &b->s->arena;
    if (h->obj.is_null || h->delegate) return false;
    const char *dest_ns = dlg ? dlg->ns : r->ns;
    memset(out, 0, sizeof(*out));
    out->name = h->name ? arena_strdup(a, h->name) : "";
    out->vs = dlg ? arena_printf(a, "%s/%s (delegate %s/%s)", r->ns, r->name, dlg->ns, dlg->name)
                  : arena_printf(a, "%s/%s", r->ns, r->name);
    out->rule_index = index;
    out->matches = arena_alloc(a, (h->match_len + 1) * sizeof(*out->matches));
    for (size_t i = 0; i < h->match_len; i++)
        if (compile_match(b, &h->match[i], gateway, r->ns, port, &out->matches[out->n_matches]))
            out->n_matches++;
    if (h->match_len && !out->n_matches) return false; /* every block dropped: no rule (§3.3) */
    out->timeout_ms = h->timeout.set ? (uint64_t)(h->timeout.ns / 1000000) : 0;
    out->retries_set = h->retries != NULL;
    out->retry_on_text =
        h->retries && h->retries->retry_on ? arena_strdup(a, h->retries->retry_on) : NULL;
    compile_retries(h->retries, out);
    compile_headers(b, h->headers, &out->headers);
    if (h->rewrite) {
        if (h->rewrite->uri) {
            out->has_uri_rewrite = true;
            out->uri_rewrite =
                slice_make(arena_strdup(a, h->rewrite->uri), strlen(h->rewrite->uri));
        }
        const struct regex_rewrite *rr = h->rewrite->uri_regex_rewrite;
        if (rr && rr->match && rr->rewrite) {
            out->uri_regex = regex_compile_search(rr->match);
            if (!out->uri_regex) {
                model__fail(b, "uriRegexRewrite %s does not compile", rr->match);
            } else {
                xgrow((void **)&b->s->regexes, &b->s->cap_regexes, b->s->n_regexes + 1,
                      sizeof(void *));
                b->s->regexes[b->s->n_regexes++] = out->uri_regex;
            }
            out->uri_regex_sub = arena_strdup(a, rr->rewrite);
        }
        if (h->rewrite->authority)
            out->headers.authority =
                slice_make(arena_strdup(a, h->rewrite->authority), strlen(h->rewrite->authority));
    }
    if (h->cors_policy) out->cors = compile_cors(b, h->cors_policy);
    if (h->fault) compile_fault(h->fault, out);
    if (h->direct_response) {
        out->action = MODEL_DIRECT_RESPONSE;
        out->direct_status = (int)h->direct_response->status.v;
        const struct http_body *body = h->direct_response->body;
        const char *text = body && body->string ? body->string : "";
        out->direct_body = slice_make(arena_strdup(a, text), strlen(text));
        if (body && body->bytes) {
            size_t n = strlen(body->bytes);
            unsigned char *raw = arena_alloc(a, base64_decoded_max(n) + 1);
            ssize_t got = base64_decode(body->bytes, n, raw);
            out->direct_body = slice_make((char *)raw, got > 0 ? (size_t)got : 0);
        }
        return true;
    }
    if (h->redirect) {
        const struct http_redirect *rd = h->redirect;
        out->action = MODEL_REDIRECT;
        out->redirect_code =
            rd->redirect_code.set && rd->redirect_code.v ? (int)rd->redirect_code.v : 301;
        out->redirect_uri = rd->uri ? arena_strdup(a, rd->uri) : NULL;
        out->redirect_authority = rd->authority ? arena_strdup(a, rd->authority) : NULL;
        out->redirect_scheme = rd->scheme ? arena_strdup(a, rd->scheme) : NULL;
        out->redirect_port = (uint16_t)(rd->port.set ? rd->port.v : 0);
        out->redirect_prefix = rd->prefix_rewrite ? arena_strdup(a, rd->prefix_rewrite) : NULL;
        out->redirect_request_port = rd->derive_port.set && rd->derive_port.v == FROM_REQUEST_PORT;
        return true;
    }
    out->action = MODEL_ROUTE;
    /* Mirrors: unset percentages copy everything, as Istio (§3.10). */
    out->mirrors = arena_alloc(a, (h->mirrors_len + 2) * sizeof(*out->mirrors));
    if (h->mirror && h->mirror->host) {
        struct model_mirror *m = &out->mirrors[out->n_mirrors++];
        m->cluster = model__cluster_for(b, h->mirror, dest_ns, port);
        m->ppm = h->mirror_percentage.set ? (uint32_t)(h->mirror_percentage.v * 10000 + 0.5)
                 : h->mirror_percent.set  ? (uint32_t)(h->mirror_percent.v * 10000)
                                          : 1000000;
    }
    for (size_t i = 0; i < h->mirrors_len; i++) {
        const struct http_mirror_policy *mp = &h->mirrors[i];
        if (mp->obj.is_null || !mp->destination || !mp->destination->host) continue;
        struct model_mirror *m = &out->mirrors[out->n_mirrors++];
        m->cluster = model__cluster_for(b, mp->destination, dest_ns, port);
        m->ppm = mp->percentage.set ? (uint32_t)(mp->percentage.v * 10000 + 0.5) : 1000000;
    }
    out->dests = arena_alloc(a, (h->route_len + 1) * sizeof(*out->dests));
    for (size_t i = 0; i < h->route_len; i++) {
        const struct http_route_destination *d = &h->route[i];
        if (d->obj.is_null || !d->destination || !d->destination->host) continue;
        out->n_listed_dests++;
        uint32_t w = d->weight.set && d->weight.v > 0 ? (uint32_t)d->weight.v : 0;
        /* §3.6: a sole destination takes all traffic whatever its weight; with several,
         * weight-0 destinations are dropped. */
        if (h->route_len == 1) w = 1;
        if (!w) continue;
        struct model_destination *md = &out->dests[out->n_dests++];
        md->cluster = model__cluster_for(b, d->destination, dest_ns, port);
        md->host = arena_strdup(a, d->destination->host);
        md->subset = d->destination->subset ? arena_strdup(a, d->destination->subset) : "";
        md->weight = w;
        compile_headers(b, d->headers, &md->headers);
        out->total_weight += w;
    }
    return out->n_dests > 0;
}

static bool
catch_all(const struct model_route *r)
{
    if (!r->n_matches) return true;
    for (size_t i = 0; i < r->n_matches; i++) {
        const struct model_match *m = &r->matches[i];
        bool path_all =
            !m->has_uri || (m->uri.kind == MODEL_SM_PREFIX && slice_eq(m->uri.value, "/"));
        if (path_all && !m->has_method && !m->has_authority && !m->has_scheme && !m->n_headers &&
            !m->n_query)
            return true;
    }
    return false;
}

/* The user key of <out>, from the annotation of <owner>, the VirtualService that wrote the
 * rule named <name> (a delegate's rules follow the delegate's annotation). */
static void
compile_sticky(struct arena *a, const struct resource *owner, const char *name,
               struct model_route *out)
{
    const struct sticky_key *k = sticky_for_route(owner->sticky, name);
    if (out->action != MODEL_ROUTE || !k || k->source == STICKY_NONE) return;
    out->sticky_on = k->source == STICKY_HEADER ? MODEL_STICKY_HEADER : MODEL_STICKY_COOKIE;
    out->sticky_name = arena_strdup(a, k->name);
}

/* Append the rules of <r> to <vh>; on gateways several VirtualServices merge (§3.2). */
static void
add_routes(struct build *b, struct model_vhost *vh, const struct resource *r, const char *gateway,
           uint16_t port)
{
    const struct virtual_service *vs = r->spec.vs;
    struct arena *a = &b->s->arena;
    size_t n = vh->n_routes;
    for (size_t i = 0; i < vs->http_len; i++) {
        const struct resource *d =
            vs->http[i].delegate ? delegate_find(b->set, r, &vs->http[i]) : NULL;
        n += d ? d->spec.vs->http_len : 1;
    }
    struct model_route *routes = arena_alloc(a, (n + 1) * sizeof(*routes));
    if (vh->n_routes) memcpy(routes, vh->routes, vh->n_routes * sizeof(*routes));
    size_t k = vh->n_routes;
    bool done = false;
    for (size_t i = 0; i < vs->http_len && !done; i++) {
        const struct http_route *h = &vs->http[i];
        /* A delegating rule stands for the delegate's rules, merged with it (§3.16); a
         * missing delegate or a conflicting delegate rule drops out, as in Istio. */
        const struct resource *d = h->delegate ? delegate_find(b->set, r, h) : NULL;
        size_t count = h->delegate ? (d ? d->spec.vs->http_len : 0) : 1;
        for (size_t j = 0; j < count && !done; j++) {
            const struct http_route *rule = h;
            struct http_route merged;
            if (d) {
                if (!delegate_merge(a, h, &d->spec.vs->http[j], &merged)) continue;
                rule = &merged;
            }
            if (!compile_route(b, r, d, rule, i, gateway, port, &routes[k])) continue;
            compile_sticky(a, d ? d : r, d ? d->spec.vs->http[j].name : h->name, &routes[k]);
            routes[k].split_offset = b->s->n_split_slots;
            b->s->n_split_slots += routes[k].n_dests;
            /* Within one VirtualService nothing after a catch-all can match (§3.3). */
            b->s->n_routes++;
            done = catch_all(&routes[k++]);
        }
    }
    /* Catch-all rules go last, keeping their relative order (Istio's SortVHostRoutes). */
    struct model_route *sorted = arena_alloc(&b->s->arena, (k + 1) * sizeof(*sorted));
    size_t j = 0;
    for (size_t i = 0; i < k; i++)
        if (!catch_all(&routes[i])) sorted[j++] = routes[i];
    for (size_t i = 0; i < k; i++)
        if (catch_all(&routes[i])) sorted[j++] = routes[i];
    vh->routes = sorted;
    vh->n_routes = j;
}

struct model_vhost *
model__vhost_get(struct build *b, struct model_listener *l, const char *host)
{
    struct arena *a = &b->s->arena;
    host = model__lower_dup(a, host);
    struct hmap *m = host[0] == '*' && host[1] == '.' ? &l->wildcard : &l->exact;
    if (!strcmp(host, "*")) {
        if (!l->any) {
            l->any = arena_alloc(a, sizeof(*l->any));
            l->any->host = host;
            l->any->next = l->vhosts;
            l->vhosts = l->any;
        }
        return l->any;
    }
    struct model_vhost *vh = hmap_get(m, host);
    if (vh) return vh;
    vh = arena_alloc(a, sizeof(*vh));
    vh->host = host;
    vh->next = l->vhosts;
    l->vhosts = vh;
    hmap_put(m, host, vh);
    return vh;
}

bool
model__server_admits(const char *sh, const char *gw_ns, const char *vs_ns, const char *h)
{
    const char *slash = strchr(sh, '/');
    const char *dns = slash ? slash + 1 : sh;
    if (slash) {
        size_t nl = (size_t)(slash - sh);
        bool any = nl == 1 && sh[0] == '*';
        bool dot = nl == 1 && sh[0] == '.' && !strcmp(gw_ns, vs_ns);
        bool named = strlen(vs_ns) == nl && !strncmp(sh, vs_ns, nl);
        if (!any && !dot && !named) return false;
    }
    if (!strcmp(dns, "*")) return true;
    if (dns[0] == '*') {
        size_t ld = strlen(dns) - 1, lh = strlen(h);
        return lh > ld && !strcasecmp(h + lh - ld, dns + 1);
    }
    return !strcasecmp(dns, h);
}

bool
model__http_protocol(const char *p)
{
    return p && (!strcasecmp(p, "HTTP") || !strcasecmp(p, "HTTP2") || !strcasecmp(p, "GRPC"));
}

/* A server that terminates TLS (SIMPLE or MUTUAL): then HTTP (HTTPS), or bytes (TLS). */
bool
model__terminates_tls(const struct server *srv)
{
    const struct server_tls *t = srv->tls;
    const char *p = srv->port ? srv->port->protocol : NULL;
    return p && (!strcasecmp(p, "HTTPS") || !strcasecmp(p, "TLS")) && t && t->mode.set &&
           (t->mode.v == SRV_SIMPLE || t->mode.v == SRV_MUTUAL);
}

/* Gateway TLS of listener <l> from server <srv>: its hosts and certificate files, from the
 * server's paths or its credentialName under --credentials (tls.crt, tls.key, ca.crt).
 * Several TLS servers on one port are told apart by SNI; the first is the default. */
void
model__listener_tls(struct build *b, struct model_listener *l, const struct server *srv)
{
    struct arena *a = &b->s->arena;
    const struct server_tls *t = srv->tls;
    if (!model__terminates_tls(srv)) {
        if (t && t->https_redirect.v) l->https_redirect = true;
        return;
    }
    struct model_tls_server *grown = arena_alloc(a, (l->n_tls + 1) * sizeof(*grown));
    if (l->n_tls) memcpy(grown, l->tls, l->n_tls * sizeof(*grown));
    l->tls = grown;
    struct model_tls_server *ts = &l->tls[l->n_tls++];
    ts->hosts = arena_alloc(a, (srv->hosts.len + 1) * sizeof(char *));
    for (size_t i = 0; i < srv->hosts.len; i++) {
        const char *h = strchr(srv->hosts.v[i], '/');
        ts->hosts[ts->n_hosts++] = model__lower_dup(a, h ? h + 1 : srv->hosts.v[i]);
    }
    static const int versions[] = {0, 10, 11, 12, 13}; /* enum tls_protocol */
    ts->min_version = t->min_protocol_version.set ? versions[t->min_protocol_version.v % 5] : 0;
    ts->max_version = t->max_protocol_version.set ? versions[t->max_protocol_version.v % 5] : 0;
    for (size_t i = 0; i < t->cipher_suites.len; i++)
        ts->ciphers = ts->ciphers ? arena_printf(a, "%s:%s", ts->ciphers, t->cipher_suites.v[i])
                                  : arena_strdup(a, t->cipher_suites.v[i]);
    bool mutual = t->mode.v == SRV_MUTUAL;
    if (t->credential_name) {
        const char *dir = b->opt->credentials_dir ? b->opt->credentials_dir : ".";
        ts->cert = arena_printf(a, "%s/%s/tls.crt", dir, t->credential_name);
        ts->key = arena_printf(a, "%s/%s/tls.key", dir, t->credential_name);
        if (mutual) ts->ca = arena_printf(a, "%s/%s/ca.crt", dir, t->credential_name);
    } else {
        ts->cert = t->server_certificate ? arena_strdup(a, t->server_certificate) : "";
        ts->key = t->private_key ? arena_strdup(a, t->private_key) : "";
        if (mutual) ts->ca = t->ca_certificates ? arena_strdup(a, t->ca_certificates) : "";
    }
}

static bool
gateway_selected(const struct model_options *opt, const char *key)
{
    if (!opt->n_gateways) return true;
    for (size_t i = 0; i < opt->n_gateways; i++)
        if (!strcmp(opt->gateways[i], key)) return true;
    return false;
}

struct model_listener *
model__listener_for_port(struct build *b, uint16_t port, const char *name, bool mesh)
{
    struct snapshot *s = b->s;
    for (size_t i = 0; i < s->n_listeners; i++)
        if (s->listeners[i].port == port) return &s->listeners[i];
    xgrow((void **)&s->listeners, &b->cap_listeners, s->n_listeners + 1, sizeof(*s->listeners));
    struct model_listener *l = &s->listeners[s->n_listeners++];
    memset(l, 0, sizeof(*l));
    l->name = arena_strdup(&s->arena, name);
    l->port = port;
    l->mesh = mesh;
    hmap_init(&l->exact);
    hmap_init(&l->wildcard);
    return l;
}

/* Remember that <l> serves Gateway <key> (once), so explain can tell which Gateways a port
 * carries. */
void
model__listener_add_gateway(struct arena *a, struct model_listener *l, const char *key)
{
    for (size_t i = 0; i < l->n_gateways; i++)
        if (!strcmp(l->gateways[i], key)) return;
    const char **v = arena_alloc(a, (l->n_gateways + 1) * sizeof(*v));
    for (size_t i = 0; i < l->n_gateways; i++) v[i] = l->gateways[i];
    v[l->n_gateways] = key;
    l->gateways = v;
    l->n_gateways++;
}

static void
build_gateways(struct build *b)
{
    struct arena *a = &b->s->arena;
    for (size_t g = 0; g < b->set->len; g++) {
        const struct resource *gr = b->set->items[g];
        if (gr->kind != KIND_GATEWAY || !gr->spec.gw) continue;
        const char *key = arena_printf(a, "%s/%s", gr->ns, gr->name);
        if (!gateway_selected(b->opt, key)) continue;
        for (size_t si = 0; si < gr->spec.gw->servers_len; si++) {
            const struct server *srv = &gr->spec.gw->servers[si];
            enum model_listener_kind kind;
            if (!srv->port || !model__server_kind(srv, &kind)) continue;
            if (kind != MODEL_LISTENER_HTTP) {
                model__l4_gateway_server(b, gr, key, srv, kind);
                continue;
            }
            uint16_t port = (uint16_t)srv->port->number.v;
            const struct model_listener *taken = model_listener_for(b->s, port);
            if (taken && taken->kind != MODEL_LISTENER_HTTP) continue; /* first wins */
            struct model_listener *l =
                model__listener_for_port(b, port, arena_printf(a, "gateway %s", key), false);
            model__listener_add_gateway(a, l, key);
            model__listener_tls(b, l, srv);
            for (size_t v = 0; v < b->set->len; v++) {
                const struct resource *r = b->set->items[v];
                if (r->kind != KIND_VIRTUAL_SERVICE || !r->spec.vs) continue;
                if (!model__gateway_listed(&r->spec.vs->gateways, key, r->ns, a)) continue;
                for (size_t h = 0; h < r->spec.vs->hosts.len; h++) {
                    const char *host = config_fqdn(a, r->spec.vs->hosts.v[h], r->ns);
                    bool ok = false;
                    for (size_t k = 0; !ok && k < srv->hosts.len; k++)
                        ok = model__server_admits(srv->hosts.v[k], gr->ns, r->ns, host);
                    if (ok) add_routes(b, model__vhost_get(b, l, host), r, key, port);
                }
            }
        }
    }
}

/* reviews.prod.svc.cluster.local also answers as reviews.prod and reviews.prod.svc, and as
 * reviews from its own namespace, as sidecar virtual hosts do. */
static void
add_aliases(struct build *b, struct model_listener *l, const char *fqdn, struct model_vhost *vh)
{
    struct arena *a = &b->s->arena;
    const char *suffix = ".svc.cluster.local";
    size_t fl = strlen(fqdn), sl = strlen(suffix);
    if (fl <= sl || strcmp(fqdn + fl - sl, suffix)) return;
    char *base = arena_strndup(a, fqdn, fl - sl); /* name.ns */
    char *dot = strchr(base, '.');
    const char *alts[3] = {base, arena_printf(a, "%s.svc", base), NULL};
    if (dot && b->opt->ns && !strcmp(dot + 1, b->opt->ns))
        alts[2] = arena_strndup(a, base, (size_t)(dot - base));
    for (int i = 0; i < 3; i++)
        if (alts[i] && !hmap_get(&l->exact, alts[i])) hmap_put(&l->exact, alts[i], vh);
}

/* The only route of <vh>: every request to <cluster> (<host> as configured), with Istio's
 * default retry policy. */
struct model_route *
model__sole_route(struct build *b, struct model_vhost *vh, const char *name,
                  const struct model_cluster *cluster, const char *host)
{
    struct arena *a = &b->s->arena;
    struct model_route *rt = arena_alloc(a, sizeof(*rt));
    rt->name = name;
    rt->vs = "";
    rt->action = MODEL_ROUTE;
    compile_retries(NULL, rt);
    rt->dests = arena_alloc(a, sizeof(*rt->dests));
    rt->dests[0].cluster = cluster;
    rt->dests[0].host = host;
    rt->dests[0].subset = "";
    rt->dests[0].weight = 1;
    rt->n_dests = 1;
    rt->total_weight = 1;
    rt->split_offset = b->s->n_split_slots++;
    vh->routes = rt;
    vh->n_routes = 1;
    return rt;
}

/* A service without a VirtualService still gets Istio's default route on the mesh: every
 * request to its host goes to the default pool outbound|port||host (§3.2 point 6). */
static void
add_default_routes(struct build *b, struct model_listener *l)
{
    struct arena *a = &b->s->arena;
    for (size_t i = 0; i < b->set->len; i++) {
        const struct resource *r = b->set->items[i];
        if (r->kind != KIND_SERVICE_ENTRY || !r->spec.se || !r->spec.se->ports_len) continue;
        const struct service_entry *se = r->spec.se;
        for (size_t h = 0; h < se->hosts.len; h++) {
            const char *host = model__lower_dup(a, se->hosts.v[h]);
            if (host[0] == '*' || hmap_get(&l->exact, host)) continue;
            struct port_selector ps = {.number = se->ports[0].number};
            struct destination d = {.host = host, .port = &ps};
            struct model_vhost *vh = model__vhost_get(b, l, host);
            /* Istio's default retry policy applies here too */
            model__sole_route(b, vh, "default", model__cluster_for(b, &d, r->ns, l->port), host);
            add_aliases(b, l, host, vh);
        }
    }
}

/* The mesh listener: VirtualServices bound to mesh; for one host the oldest wins (§3.2).
 * Hosts answer to their short forms too, as sidecar virtual hosts do. */
static void
build_mesh(struct build *b)
{
    struct arena *a = &b->s->arena;
    struct model_listener *l = model__listener_for_port(b, b->opt->mesh_port, "mesh", true);
    for (size_t v = 0; v < b->set->len; v++) {
        const struct resource *r = b->set->items[v];
        if (r->kind != KIND_VIRTUAL_SERVICE || !r->spec.vs ||
            !config_mesh_bound(&r->spec.vs->gateways))
            continue;
        for (size_t h = 0; h < r->spec.vs->hosts.len; h++) {
            const char *fqdn = model__lower_dup(a, config_fqdn(a, r->spec.vs->hosts.v[h], r->ns));
            if (hmap_get(&l->exact, fqdn) || hmap_get(&l->wildcard, fqdn)) continue;
            struct model_vhost *vh = model__vhost_get(b, l, fqdn);
            if (vh->n_routes) continue;
            add_routes(b, vh, r, "mesh", l->port);
            add_aliases(b, l, fqdn, vh);
        }
    }
    add_default_routes(b, l);
}

/* This proxy's own workload: --namespace and --label k=v. */
static struct workload
my_workload(struct build *b)
{
    struct arena *a = &b->s->arena;
    const struct model_options *opt = b->opt;
    const char **keys = arena_alloc(a, (opt->n_labels + 1) * sizeof(char *));
    const char **vals = arena_alloc(a, (opt->n_labels + 1) * sizeof(char *));
    for (size_t i = 0; i < opt->n_labels; i++) {
        const char *eq = strchr(opt->labels[i], '=');
        keys[i] = eq ? arena_strndup(a, opt->labels[i], (size_t)(eq - opt->labels[i])) : "";
        vals[i] = eq ? eq + 1 : "";
    }
    return (struct workload){opt->ns ? opt->ns : "default", keys, vals, opt->n_labels};
}

enum model_peer_mode
model__my_peer_mode(struct build *b, uint16_t port)
{
    struct workload w = my_workload(b);
    return compose_peer_mode(b, &w, port);
}

/* The service an inbound <port> of workload <w> serves, as Istio names it in the inbound
 * cluster's metadata (the destination_service of what arrives there): a Service or
 * ServiceEntry of <w>'s namespace whose selector picks <w> and with a port whose target
 * (else number) is <port>. Else <w>'s canonical name (its canonical-name, app.kubernetes.io
 * /name or app label, else the workload's name), as Istio falls back; NULL without one. */
static const char *
inbound_service(const struct build *b, const struct workload *w, uint32_t port)
{
    const struct resource_set *set = b->set;
    for (size_t i = 0; i < set->n_services; i++) {
        const struct kube_service *ks = set->services[i];
        if (strcmp(ks->ns, w->ns) || !map_selects(&ks->selector, w)) continue;
        for (size_t p = 0; p < ks->n_ports; p++)
            if ((ks->target_ports[p] ? ks->target_ports[p] : ks->ports[p]) == port) return ks->host;
    }
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (r->kind != KIND_SERVICE_ENTRY || !r->spec.any || strcmp(r->ns, w->ns)) continue;
        const struct service_entry *se = r->spec.se;
        if (!se->hosts.len || !se->workload_selector ||
            !map_selects(&se->workload_selector->labels, w))
            continue;
        for (size_t p = 0; p < se->ports_len; p++) {
            const struct service_port *sp = &se->ports[p];
            if ((sp->target_port.set && sp->target_port.v ? sp->target_port.v : sp->number.v) ==
                port)
                return se->hosts.v[0];
        }
    }
    static const char *const canonical[] = {"service.istio.io/canonical-name",
                                            "app.kubernetes.io/name", "app"};
    for (size_t k = 0; k < 3; k++)
        for (size_t i = 0; i < w->n; i++)
            if (!strcmp(w->keys[i], canonical[k]) && *w->vals[i]) return w->vals[i];
    return b->opt->workload; /* the injector's last resort for the canonical name */
}

/* The pool inbound|<port>|| of an inbound listener: the app, one endpoint. */
static struct model_cluster *
inbound_cluster(struct build *b, const struct model_inbound *in)
{
    struct arena *a = &b->s->arena;
    struct model_cluster *c = arena_alloc(a, sizeof(*c));
    c->name = arena_printf(a, "inbound|%u||", in->port);
    struct workload me = my_workload(b);
    const char *service = inbound_service(b, &me, in->port);
    c->host = service ? arena_strdup(a, service) : "unknown";
    c->subset = "";
    c->port = in->port;
    c->endpoints = arena_alloc(a, sizeof(*c->endpoints));
    struct model_endpoint *ep = &c->endpoints[0];
    if (!resolve(b, ep, in->app_address, in->app_port)) {
        model__fail(b, "inbound app address %s does not resolve", in->app_address);
        return NULL;
    }
    ep->address = arena_strdup(a, in->app_address);
    ep->port = in->app_port;
    ep->weight = 1;
    ep->state = endpoint_state_get(c->name, ep->address, ep->port, now_ms());
    ep->state_id = ep->state->id;
    c->n_endpoints = 1;
    c->equal_weights = true;
    static const struct cluster_sections defaults; /* no DestinationRule: Istio's defaults */
    cluster_compile_policy(c, &defaults, a);
    /* --inbound declares no protocol: Istio's inbound cluster sniffs it (the client's). */
    cluster_compile_upstream(c, NULL, in->tcp ? PORT_PROTOCOL_TCP : PORT_PROTOCOL_UNSUPPORTED,
                             in->tcp ? "--inbound-tcp" : "--inbound", b->opt->mesh_h2_upgrade, a);
    c->upstream_gateway = c->upstream_sidecar; /* only a sidecar has inbound pools */
    cluster_digest_endpoints(c);
    c->state = pool_state_get(c->name);
    if (b->opt->prepare_cluster) b->opt->prepare_cluster(c, a);
    c->index = b->s->n_clusters;
    xgrow((void **)&b->s->clusters, &b->cap_clusters, b->s->n_clusters + 1, sizeof(void *));
    b->s->clusters[b->s->n_clusters++] = c;
    return c;
}

/* Inbound listeners (a sidecar in front of its app): every request to the app's pool, as
 * Istio's inbound route does; no retries (they are the caller's side). */
static void
build_inbounds(struct build *b)
{
    struct arena *a = &b->s->arena;
    for (size_t i = 0; i < b->opt->n_inbounds; i++) {
        const struct model_inbound *in = &b->opt->inbounds[i];
        struct model_listener *l =
            model__listener_for_port(b, in->port, arena_printf(a, "inbound %u", in->port), false);
        l->inbound = true;
        l->peer_mode = model__my_peer_mode(b, in->port);
        struct model_cluster *c = inbound_cluster(b, in);
        if (!c) return;
        struct model_route *rt =
            model__sole_route(b, model__vhost_get(b, l, "*"), "inbound", c, c->host);
        rt->retry_attempts = 0;
        if (in->tcp) { /* --inbound-tcp: bytes relayed to the app */
            l->kind = MODEL_LISTENER_TCP;
            rt->l4 = MODEL_L4_TCP;
        }
    }
}

struct snapshot *
model_build(const struct resource_set *set, const struct model_options *opt, char *err,
            size_t err_len)
{
    static uint64_t next_version = 1;
    struct snapshot *s = xcalloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    s->version = next_version++;
    arena_init(&s->arena, 64 * 1024, true);
    struct build b = {.s = s, .set = set, .opt = opt, .err = err, .err_len = err_len};
    hmap_init(&b.services);
    hmap_init(&b.drs);
    hmap_init(&b.clusters);
    index_resources(&b);
    build_gateways(&b);
    if (opt->mesh_port) build_mesh(&b);
    build_inbounds(&b);
    if (opt->mesh_port) model__l4_mesh(&b);
    hmap_fini(&b.services);
    hmap_fini(&b.drs);
    free(b.wild);
    hmap_fini(&b.clusters);
    if (b.failed) {
        model_release(s);
        return NULL;
    }
    if (opt->n_workers) {
        s->n_split_workers = opt->n_workers;
        s->split_counters = arena_alloc(&s->arena, (s->n_split_slots + 1) * opt->n_workers *
                                                       sizeof(*s->split_counters));
        s->split_picks = arena_alloc(&s->arena, (s->n_split_slots + 1) * opt->n_workers *
                                                    sizeof(*s->split_picks));
    }
    return s;
}

struct snapshot *
model_acquire(struct snapshot *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void
model_release(struct snapshot *s)
{
    if (!s) return;
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
    if (s->ext_free) s->ext_free(s);
    for (size_t i = 0; i < s->n_listeners; i++) {
        hmap_fini(&s->listeners[i].exact);
        hmap_fini(&s->listeners[i].wildcard);
    }
    for (size_t i = 0; i < s->n_regexes; i++) regex_free(s->regexes[i]);
    free(s->regexes);
    free(s->listeners);
    free(s->clusters);
    arena_fini(&s->arena);
    free(s);
}

const struct model_listener *
model_listener_for(const struct snapshot *s, uint16_t port)
{
    for (size_t i = 0; i < s->n_listeners; i++)
        if (s->listeners[i].port == port) return &s->listeners[i];
    return NULL;
}

const struct model_vhost *
model_vhost_find(const struct model_listener *l, struct slice host)
{
    char buf[256];
    size_t n = host.len;
    /* Strip ":port" (not inside an IPv6 literal). */
    for (size_t i = host.len; i > 0; i--) {
        if (host.ptr[i - 1] == ':') {
            n = i - 1;
            break;
        }
        if (host.ptr[i - 1] < '0' || host.ptr[i - 1] > '9') break;
    }
    if (n == 0 || n >= sizeof(buf) - 2) return l->any;
    for (size_t i = 0; i < n; i++) buf[i] = slice_lower_ascii(host.ptr[i]);
    buf[n] = '\0';
    const struct model_vhost *vh = hmap_get(&l->exact, buf);
    if (vh) return vh;
    /* Wildcards, longest suffix first: *.b.example.com, *.example.com, *.com. */
    char key[258];
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != '.') continue;
        key[0] = '*';
        memcpy(key + 1, buf + i, n - i + 1);
        vh = hmap_get(&l->wildcard, key);
        if (vh) return vh;
    }
    return l->any;
}
