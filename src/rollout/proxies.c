/* SPDX-License-Identifier: Apache-2.0 */
/* The proxies' /splits?format=json, read for the weights in force; /rollout, written. */
#include "rollout/proxies.h"

#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/etcd_http.h"
#include "core/strbuf.h"
#include "config/source.h"

#define ADMIN_TIMEOUT_MS 2000
#define POST_TIMEOUT_MS 500

static const char *
str_at(struct fy_node *n, const char *key)
{
    struct fy_node *v = n ? fy_node_mapping_lookup_by_string(n, key, FY_NT) : NULL;
    return v && fy_node_get_type(v) == FYNT_SCALAR ? fy_node_get_scalar0(v) : NULL;
}

/* <d> among the destinations /splits shows: its weight and requests (0, 0 when it is not
 * there: a weight-0 destination is not routed to, so not shown). Whether it was there. */
static bool
dest_of(struct fy_node *dests, const struct dest_ref *d, long *weight, double *requests)
{
    void *it = NULL;
    struct fy_node *x;
    *weight = 0;
    *requests = 0;
    while ((x = fy_node_sequence_iterate(dests, &it))) {
        const char *host = str_at(x, "host"), *subset = str_at(x, "subset"),
                   *w = str_at(x, "weight"), *n = str_at(x, "requests");
        if (host && w && !strcmp(host, d->host) && !strcmp(subset ? subset : "", d->subset)) {
            *weight = strtol(w, NULL, 10);
            *requests = n ? strtod(n, NULL) : 0;
            return true;
        }
    }
    return false;
}

/* "prod/orders" shown as "prod/orders" or "prod/orders (delegate ...)". */
static bool
same_vs(const char *shown, const char *want)
{
    size_t n = strlen(want);
    return !strncmp(shown, want, n) && (!shown[n] || shown[n] == ' ');
}

int
proxies_read_route(const char *hostport, const struct rollout_plan *plan, struct proxy_route *out,
                   char *err, size_t cap)
{
    memset(out, 0, sizeof(*out));
    out->weight_stable = out->weight_canary = -1;
    struct strbuf body;
    strbuf_init(&body, 64u << 20);
    int status = 0, rc = -1;
    struct fy_document *doc = NULL;
    if (scrape_http_get(hostport, "/splits?format=json", ADMIN_TIMEOUT_MS, &status, &body, err,
                        cap))
        goto out;
    if (status != 200) {
        snprintf(err, cap, "%s: /splits answered %d", hostport, status);
        goto out;
    }
    doc = source_document(body.data, body.len, true);
    struct fy_node *root = doc ? fy_document_root(doc) : NULL;
    struct fy_node *routes = root && fy_node_get_type(root) == FYNT_MAPPING
                                 ? fy_node_mapping_lookup_by_string(root, "routes", FY_NT)
                                 : NULL;
    if (!routes || fy_node_get_type(routes) != FYNT_SEQUENCE) {
        snprintf(err, cap, "%s: /splits?format=json is not meshlet's", hostport);
        goto out;
    }
    size_t seen = 0;
    void *it = NULL;
    struct fy_node *r;
    while ((r = fy_node_sequence_iterate(routes, &it))) {
        const char *vs = str_at(r, "virtual_service"), *name = str_at(r, "name");
        struct fy_node *dests = fy_node_mapping_lookup_by_string(r, "destinations", FY_NT);
        if (!vs || !same_vs(vs, plan->vs) || !dests || fy_node_get_type(dests) != FYNT_SEQUENCE)
            continue;
        if (*plan->route && (!name || strcmp(name, plan->route))) continue;
        long wc, ws;
        double nc, ns;
        bool has_c = dest_of(dests, &plan->canary, &wc, &nc);
        bool has_s = dest_of(dests, &plan->stable, &ws, &ns);
        if (!has_c && !has_s) continue;
        /* One route may show on several listeners (gateway and mesh): each must have the
         * weights; their requests add up. */
        if (seen && (wc != out->weight_canary || ws != out->weight_stable))
            out->weight_canary = out->weight_stable = -2;
        else if (!seen) {
            out->weight_canary = wc;
            out->weight_stable = ws;
        }
        out->picked_canary += nc;
        out->picked_stable += ns;
        seen++;
    }
    if (!seen) {
        snprintf(err, cap, "%s serves no route of VirtualService %s to %s%s%s and %s%s%s", hostport,
                 plan->vs, plan->stable.host, *plan->stable.subset ? " subset " : "",
                 plan->stable.subset, plan->canary.host, *plan->canary.subset ? " subset " : "",
                 plan->canary.subset);
        goto out;
    }
    rc = 0;
out:
    fy_document_destroy(doc);
    strbuf_fini(&body);
    return rc;
}

int
proxies_weight_in_force(const char *hostport, const struct rollout_plan *plan, int weight,
                        char *err, size_t cap)
{
    struct proxy_route pr;
    if (proxies_read_route(hostport, plan, &pr, err, cap)) return -1;
    return pr.weight_canary == weight && pr.weight_stable == 100 - weight;
}

void
proxies_post_status(const struct rollout_plan *plan, const char *json, size_t len)
{
    for (size_t i = 0; i < plan->n_metrics; i++) {
        struct etcd_endpoint *eps = NULL;
        size_t n = 0;
        char err[256];
        if (!etcd_endpoints_parse(plan->metrics[i], &eps, &n, err, sizeof(err))) {
            struct strbuf out;
            strbuf_init(&out, 1 << 16);
            int status = 0;
            etcd_http_call(eps, n, "POST", "/rollout", json, len, POST_TIMEOUT_MS, &status, &out,
                           err, sizeof(err));
            strbuf_fini(&out);
        }
        free(eps);
    }
}
