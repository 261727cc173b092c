/* SPDX-License-Identifier: Apache-2.0 */
/* Istio's delegate merge (MergeHTTPRoutes): every match block of a delegate rule must lie
 * within some block of the root rule; each compatible pair becomes one block, the delegate's
 * conditions refining the root's. */
#include "config/delegate.h"

#include <string.h>

const struct resource *
delegate_find(const struct resource_set *set, const struct resource *root,
              const struct http_route *h)
{
    const char *name = h->delegate->name;
    const char *ns =
        h->delegate->namespace_ && *h->delegate->namespace_ ? h->delegate->namespace_ : root->ns;
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (r->kind != KIND_VIRTUAL_SERVICE || !r->spec.vs || r->spec.vs->hosts.len) continue;
        if (strcmp(r->name, name) || strcmp(r->ns, ns)) continue;
        const struct str_list *to = &r->spec.vs->export_to;
        if (!to->len) return r;
        for (size_t k = 0; k < to->len; k++) {
            if (!strcmp(to->v[k], "*") || !strcmp(to->v[k], root->ns) ||
                (!strcmp(to->v[k], ".") && !strcmp(r->ns, root->ns)))
                return r;
        }
        return NULL; /* not visible from the root's namespace */
    }
    return NULL;
}

static bool
starts_with(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

/* Istio's stringMatchConflict: may <leaf> refine <root> for one property? */
static bool
sm_conflict(const struct string_match *root, const struct string_match *leaf)
{
    if (!root || !leaf) return false;
    if ((root->regex && *root->regex) || (leaf->regex && *leaf->regex)) return true;
    if (root->exact && *root->exact) {
        if (leaf->prefix && *leaf->prefix) return true;
        return !leaf->exact || strcmp(leaf->exact, root->exact);
    }
    if (root->prefix && *root->prefix) {
        if (leaf->prefix && *leaf->prefix) return !starts_with(leaf->prefix, root->prefix);
        if (leaf->exact && *leaf->exact) return !starts_with(leaf->exact, root->prefix);
    }
    return true;
}

static const struct string_match *
map_get(size_t n, const char *const *keys, const struct string_match *vals, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(keys[i], key)) return &vals[i];
    return NULL;
}

static bool
map_conflict(size_t rn, const char *const *rk, const struct string_match *rv, size_t ln,
             const char *const *lk, const struct string_match *lv)
{
    for (size_t i = 0; i < ln; i++)
        if (sm_conflict(map_get(rn, rk, rv, lk[i]), &lv[i])) return true;
    return false;
}

static bool
has(const struct str_list *l, const char *v)
{
    for (size_t i = 0; i < l->len; i++)
        if (!strcmp(l->v[i], v)) return true;
    return false;
}

static bool
match_conflict(const struct http_match_request *root, const struct http_match_request *leaf)
{
    if (sm_conflict(root->uri, leaf->uri) || sm_conflict(root->scheme, leaf->scheme) ||
        sm_conflict(root->method, leaf->method) || sm_conflict(root->authority, leaf->authority))
        return true;
    bool ric = root->ignore_uri_case.set && root->ignore_uri_case.v;
    bool lic = leaf->ignore_uri_case.set && leaf->ignore_uri_case.v;
    if (ric != lic) return true;
    if (root->port.set && leaf->port.set && root->port.v && leaf->port.v &&
        root->port.v != leaf->port.v)
        return true;
    if (root->source_namespace && *root->source_namespace && leaf->source_namespace &&
        *leaf->source_namespace && strcmp(root->source_namespace, leaf->source_namespace))
        return true;
    if (map_conflict(root->headers_len, root->headers_keys, root->headers, leaf->headers_len,
                     leaf->headers_keys, leaf->headers) ||
        map_conflict(root->without_headers_len, root->without_headers_keys, root->without_headers,
                     leaf->without_headers_len, leaf->without_headers_keys,
                     leaf->without_headers) ||
        map_conflict(root->query_params_len, root->query_params_keys, root->query_params,
                     leaf->query_params_len, leaf->query_params_keys, leaf->query_params))
        return true;
    for (size_t i = 0; i < leaf->source_labels.len; i++)
        for (size_t k = 0; k < root->source_labels.len; k++)
            if (!strcmp(root->source_labels.keys[k], leaf->source_labels.keys[i]) &&
                strcmp(root->source_labels.vals[k], leaf->source_labels.vals[i]))
                return true;
    for (size_t i = 0; root->gateways.len && i < leaf->gateways.len; i++)
        if (!has(&root->gateways, leaf->gateways.v[i])) return true;
    return false;
}

/* The leaf's entries, then the root's for keys the leaf does not name. */
static void
merge_map(struct arena *a, size_t rn, const char **rk, struct string_match *rv, size_t *n,
          const char ***k, struct string_match **v)
{
    size_t ln = *n;
    const char **keys = arena_alloc(a, (ln + rn + 1) * sizeof(*keys));
    struct string_match *vals = arena_alloc(a, (ln + rn + 1) * sizeof(*vals));
    for (size_t i = 0; i < ln; i++) {
        keys[i] = (*k)[i];
        vals[i] = (*v)[i];
    }
    size_t m = ln;
    for (size_t i = 0; i < rn; i++) {
        if (map_get(ln, *k, *v, rk[i])) continue;
        keys[m] = rk[i];
        vals[m++] = rv[i];
    }
    *n = m;
    *k = keys;
    *v = vals;
}

static void
merge_labels(struct arena *a, const struct str_map *root, struct str_map *leaf)
{
    struct str_map out = {0};
    out.keys = arena_alloc(a, (root->len + leaf->len + 1) * sizeof(char *));
    out.vals = arena_alloc(a, (root->len + leaf->len + 1) * sizeof(char *));
    for (size_t i = 0; i < leaf->len; i++) {
        out.keys[out.len] = leaf->keys[i];
        out.vals[out.len++] = leaf->vals[i];
    }
    for (size_t i = 0; i < root->len; i++) {
        bool seen = false;
        for (size_t k = 0; k < leaf->len && !seen; k++)
            seen = !strcmp(leaf->keys[k], root->keys[i]);
        if (seen) continue;
        out.keys[out.len] = root->keys[i];
        out.vals[out.len++] = root->vals[i];
    }
    *leaf = out;
}

/* Istio's mergeHTTPMatchRequest: the delegate's block, completed from the root's. */
static void
merge_match(struct arena *a, const struct http_match_request *root,
            const struct http_match_request *leaf, struct http_match_request *out)
{
    *out = *leaf;
    if (!out->uri) out->uri = root->uri;
    if (!out->scheme) out->scheme = root->scheme;
    if (!out->method) out->method = root->method;
    if (!out->authority) out->authority = root->authority;
    if (!out->port.set || !out->port.v) out->port = root->port;
    if (!out->source_namespace || !*out->source_namespace)
        out->source_namespace = root->source_namespace;
    if (!out->gateways.len) out->gateways = root->gateways;
    if (!out->stat_prefix) out->stat_prefix = root->stat_prefix;
    merge_map(a, root->headers_len, root->headers_keys, root->headers, &out->headers_len,
              &out->headers_keys, &out->headers);
    merge_map(a, root->without_headers_len, root->without_headers_keys, root->without_headers,
              &out->without_headers_len, &out->without_headers_keys, &out->without_headers);
    merge_map(a, root->query_params_len, root->query_params_keys, root->query_params,
              &out->query_params_len, &out->query_params_keys, &out->query_params);
    merge_labels(a, &root->source_labels, &out->source_labels);
}

bool
delegate_merge(struct arena *a, const struct http_route *root, const struct http_route *d,
               struct http_route *out)
{
    *out = *d;
    if (root->match_len && d->match_len) {
        out->match = arena_alloc(a, (root->match_len * d->match_len + 1) * sizeof(*out->match));
        out->match_len = 0;
        for (size_t i = 0; i < d->match_len; i++) {
            bool found = false;
            for (size_t k = 0; k < root->match_len; k++) {
                if (match_conflict(&root->match[k], &d->match[i])) continue;
                merge_match(a, &root->match[k], &d->match[i], &out->match[out->match_len++]);
                found = true;
            }
            if (!found) return false;
        }
    } else if (root->match_len) {
        out->match = root->match;
        out->match_len = root->match_len;
    }
    /* What the delegate leaves unset it takes from the root rule. */
    if (!out->rewrite) out->rewrite = root->rewrite;
    if (!out->direct_response) out->direct_response = root->direct_response;
    if (!out->timeout.set) out->timeout = root->timeout;
    if (!out->retries) out->retries = root->retries;
    if (!out->fault) out->fault = root->fault;
    if (!out->mirror) out->mirror = root->mirror;
    if (!out->mirrors_len) {
        out->mirrors = root->mirrors;
        out->mirrors_len = root->mirrors_len;
    }
    if (!out->mirror_percent.set) out->mirror_percent = root->mirror_percent;
    if (!out->mirror_percentage.set) out->mirror_percentage = root->mirror_percentage;
    if (!out->cors_policy) out->cors_policy = root->cors_policy;
    if (!out->headers) out->headers = root->headers;
    const char *rn = root->name ? root->name : "", *dn = d->name ? d->name : "";
    if (*rn && *dn) {
        size_t n = strlen(rn) + strlen(dn) + 2;
        char *name = arena_alloc(a, n);
        memcpy(name, rn, strlen(rn));
        name[strlen(rn)] = '-';
        memcpy(name + strlen(rn) + 1, dn, strlen(dn) + 1);
        out->name = name;
    } else {
        out->name = *rn ? rn : dn;
    }
    return true;
}
