/* SPDX-License-Identifier: Apache-2.0 */
/* Gateway analysis, as istioctl's gateway analyzers: Gateways in conflict (IST0145), a
 * selector no workload matches (IST0101), a server port the ingress Service does not expose
 * (IST0162) and one certificate in several Gateways (IST0138). Workloads count only when the
 * input has some: Istio analyzes against the cluster's pods, and without any pod meshlet
 * cannot tell a selector that matches nothing from one whose pods are elsewhere. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/analyze_int.h"
#include "config/config.h"
#include "config/rules.h"
#include "core/alloc.h"
#include "core/strbuf.h"

/* Kubernetes' labels.SelectorFromSet(...).String(): "k=v" pairs sorted by key. */
static void
format_selector(struct strbuf *sb, const struct str_map *m)
{
    size_t n = m->len, *order = xcalloc(n ? n : 1, sizeof(*order));
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(m->keys[order[j - 1]], m->keys[order[j]]) > 0; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++)
        strbuf_printf(sb, "%s%s=%s", i ? "," : "", m->keys[order[i]], m->vals[order[i]]);
    free(order);
}

static bool
same_labels(const struct str_map *a, const struct str_map *b)
{
    return a->len == b->len && config_labels_contain(a, b);
}

/* Do the two Gateways configure one workload? With workloads in the input: some workload
 * has the labels of both selectors (Gateway selectors are not namespaced). Without: the
 * selectors are the same. */
static bool
same_workload(const struct resource_set *set, const struct gateway *a, const struct gateway *b)
{
    if (same_labels(&a->selector, &b->selector)) return true;
    for (size_t i = 0; i < set->n_workloads; i++) {
        const struct str_map *l = &set->workloads[i]->labels;
        if (config_labels_contain(l, &a->selector) && config_labels_contain(l, &b->selector))
            return true;
    }
    return false;
}

static const char *
host_part(const char *h)
{
    const char *slash = strchr(h, '/');
    return slash ? slash + 1 : h;
}

/* Istio's host.Name.Matches: equal, or a wildcard covering the other (either way). */
static bool
hosts_overlap(const char *a, const char *b)
{
    if (!strcmp(a, "*") || !strcmp(b, "*")) return true;
    size_t la = strlen(a), lb = strlen(b);
    if (a[0] == '*' && b[0] == '*') {
        return la <= lb ? !strcasecmp(b + lb - la + 1, a + 1) : !strcasecmp(a + la - lb + 1, b + 1);
    }
    if (a[0] == '*') return lb >= la && !strcasecmp(b + lb - la + 1, a + 1);
    if (b[0] == '*') return la >= lb && !strcasecmp(a + la - lb + 1, b + 1);
    return !strcasecmp(a, b);
}

/* Does some host of <y> overlap host <h>? */
static bool
server_claims(const struct server *y, const char *h)
{
    for (size_t k = 0; k < y->hosts.len; k++)
        if (hosts_overlap(h, host_part(y->hosts.v[k]))) return true;
    return false;
}

static int
by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* IST0145 on each Gateway, for each of its servers whose port and hosts another Gateway of
 * the same workload also claims (Istio's ConflictingGatewayAnalyzer reports every side). */
static void
check_conflicts(struct arena *a, const struct resource_set *set, struct diag_list *dl,
                const struct resource **gws, size_t n)
{
    const char **names = xcalloc(n ? n : 1, sizeof(*names));
    for (size_t i = 0; i < n; i++) {
        const struct gateway *g = gws[i]->spec.gw;
        struct vctx v = {dl, gws[i]};
        for (size_t s = 0; s < g->servers_len; s++) {
            const struct server *x = &g->servers[s];
            if (!x->port) continue;
            size_t n_names = 0;
            int first_host = -1;
            for (size_t j = 0; j < n; j++) {
                if (j == i || !same_workload(set, g, gws[j]->spec.gw)) continue;
                const struct gateway *o = gws[j]->spec.gw;
                bool hit = false;
                for (size_t t = 0; t < o->servers_len && !hit; t++) {
                    const struct server *y = &o->servers[t];
                    if (!y->port || y->port->number.v != x->port->number.v) continue;
                    for (size_t h = 0; h < x->hosts.len && !hit; h++) {
                        hit = server_claims(y, host_part(x->hosts.v[h]));
                        if (hit && first_host < 0) first_host = (int)h;
                    }
                }
                if (hit) names[n_names++] = arena_printf(a, "%s/%s", gws[j]->ns, gws[j]->name);
            }
            if (!n_names) continue;
            qsort(names, n_names, sizeof(*names), by_string);
            struct strbuf sb;
            strbuf_init(&sb, 1 << 16);
            for (size_t k = 0; k < n_names; k++) strbuf_printf(&sb, "%s%s", k ? "," : "", names[k]);
            strbuf_puts(&sb, "|");
            format_selector(&sb, &g->selector);
            strbuf_puts(&sb, "|");
            for (size_t h = 0; h < x->hosts.len; h++)
                strbuf_printf(&sb, "%s%s", h ? "," : "", x->hosts.v[h]);
            char *text = (char *)strbuf_str(&sb);
            char *sel = strchr(text, '|');
            *sel++ = '\0';
            char *hosts = strchr(sel, '|');
            *hosts++ = '\0';
            rules_report(&v, DIAG_ERROR, DIAG_CONFLICTING_GATEWAYS, x, "hosts", first_host,
                         "give each host and port of a gateway workload to one Gateway",
                         "Conflict with gateways %s (workload selector %s, port %" PRId64
                         ", hosts %s).",
                         text, sel, x->port->number.v, hosts);
            strbuf_fini(&sb);
        }
    }
    free(names);
}

/* IST0138, Istio's CertificateAnalyzer: the same credentialName, or else the same
 * serverCertificate with the same privateKey (both set), in servers of two Gateways. */
static bool
same_certificate(const struct server_tls *a, const struct server_tls *b)
{
    bool ca = a->credential_name && *a->credential_name;
    bool cb = b->credential_name && *b->credential_name;
    if (ca && cb) return !strcmp(a->credential_name, b->credential_name);
    if (ca || cb) return false;
    if (!a->server_certificate || !*a->server_certificate || !b->server_certificate ||
        strcmp(a->server_certificate, b->server_certificate))
        return false;
    return a->private_key && *a->private_key && b->private_key &&
           !strcmp(a->private_key, b->private_key);
}

/* A Gateway is compared with every Gateway whose selector has all of its labels (any, for
 * an empty selector): Istio's getGatewaysWithSelector. Reported on <i> only; the other
 * side is reported when its own selector is a subset too (always, for equal selectors). */
static void
check_certificates(struct diag_list *dl, const struct resource **gws, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct gateway *g = gws[i]->spec.gw;
        struct vctx v = {dl, gws[i]};
        for (size_t j = 0; j < n; j++) {
            const struct gateway *o = gws[j]->spec.gw;
            if (j == i || !config_labels_contain(&o->selector, &g->selector)) continue;
            const struct server *at = NULL;
            for (size_t s = 0; s < g->servers_len && !at; s++)
                for (size_t t = 0; t < o->servers_len && !at; t++)
                    if (g->servers[s].tls && o->servers[t].tls &&
                        same_certificate(g->servers[s].tls, o->servers[t].tls))
                        at = &g->servers[s];
            if (!at) continue;
            /* Istio's order: this Gateway, then the other */
            rules_report(&v, DIAG_WARNING, DIAG_DUPLICATE_CERTIFICATE, at, "tls", -1,
                         "put the hosts that share a certificate in one server of one Gateway, "
                         "or give each Gateway its own certificate",
                         "Duplicate certificate in multiple gateways [%s/%s %s/%s] may cause 404s "
                         "if clients re-use HTTP2 connections.",
                         gws[i]->ns, gws[i]->name, gws[j]->ns, gws[j]->name);
        }
    }
}

/* IST0101 for a selector no workload matches, and IST0162 for a server port no Service of
 * the selected workloads exposes (as target port), Istio's IngressGatewayPortAnalyzer. */
static void
check_workloads(const struct resource_set *set, struct diag_list *dl, const struct resource *r)
{
    const struct gateway *g = r->spec.gw;
    struct vctx v = {dl, r};
    size_t matches = 0;
    uint32_t *ports = NULL; /* every TCP target port of a Service of the selected pods */
    size_t n_ports = 0, cap = 0;
    for (size_t i = 0; i < set->n_workloads; i++) {
        const struct kube_workload *w = set->workloads[i];
        if (!config_labels_contain(&w->labels, &g->selector)) continue;
        matches++;
        for (size_t s = 0; s < set->n_services; s++) {
            const struct kube_service *ks = set->services[s];
            if (strcmp(ks->ns, w->ns) || !ks->selector.len ||
                !config_labels_contain(&w->labels, &ks->selector))
                continue;
            for (size_t p = 0; p < ks->n_ports; p++) {
                if (!ks->port_tcp[p]) continue;
                xgrow((void **)&ports, &cap, n_ports + 1, sizeof(*ports));
                ports[n_ports++] = ks->target_ports[p] ? ks->target_ports[p] : ks->ports[p];
            }
        }
    }
    struct strbuf sel;
    strbuf_init(&sel, 1 << 14);
    format_selector(&sel, &g->selector);
    if (!matches) {
        rules_report(&v, DIAG_ERROR, DIAG_NOT_FOUND, g, "selector", -1,
                     "make the selector match the labels of the gateway's pods",
                     "Referenced selector not found: \"%s\"", strbuf_str(&sel));
        strbuf_fini(&sel);
        free(ports);
        return;
    }
    for (size_t s = 0; s < g->servers_len; s++) {
        const struct server *x = &g->servers[s];
        if (!x->port || !x->port->number.set) continue;
        bool found = false;
        for (size_t p = 0; p < n_ports && !found; p++) found = ports[p] == x->port->number.v;
        if (found) continue;
        rules_report(&v, DIAG_WARNING, DIAG_GATEWAY_PORT_NOT_ON_SERVICE, x->port, "number", -1,
                     "use a target port of the gateway's Service, or add the port to it",
                     "The gateway is listening on a target port (port %" PRId64
                     ") that is not defined in the Service associated with its workload "
                     "instances (Pod selector %s). If you need to access the gateway port "
                     "through the gateway Service, it will not be available.",
                     x->port->number.v, strbuf_str(&sel));
    }
    strbuf_fini(&sel);
    free(ports);
}

void
analyze__gateways(struct arena *a, const struct resource_set *set, struct diag_list *dl)
{
    const struct resource **gws = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < set->len; i++) {
        if (set->items[i]->kind != KIND_GATEWAY || !set->items[i]->spec.gw) continue;
        xgrow((void **)&gws, &cap, n + 1, sizeof(*gws));
        gws[n++] = set->items[i];
    }
    check_conflicts(a, set, dl, gws, n);
    check_certificates(dl, gws, n);
    for (size_t i = 0; i < n && set->n_workloads; i++) check_workloads(set, dl, gws[i]);
    free(gws);
}
