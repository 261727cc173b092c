/* SPDX-License-Identifier: Apache-2.0 */
/* Config entry point: sorts each loaded document into an Istio resource (decoded by the
 * schema of its kind and validated), a Kubernetes object for analysis, or a skipped kind. */
#include "config/config.h"

#include <errno.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "config/analyze.h"
#include "config/destination_rule.h"
#include "config/field.h"
#include "config/gateway.h"
#include "config/kube.h"
#include "config/peer_authentication.h"
#include "config/rollout_spec.h"
#include "config/service_entry.h"
#include "config/sticky.h"
#include "config/virtual_service.h"
#include "core/alloc.h"

static const struct {
    const char *name;
    const char *group;
    const struct schema *schema;
    void (*validate)(const struct resource *r, struct diag_list *dl);
} kinds[KIND__COUNT] = {
    [KIND_VIRTUAL_SERVICE] = {"VirtualService", "networking.istio.io", &virtual_service_schema,
                              virtual_service_validate},
    [KIND_DESTINATION_RULE] = {"DestinationRule", "networking.istio.io", &destination_rule_schema,
                               destination_rule_validate},
    [KIND_GATEWAY] = {"Gateway", "networking.istio.io", &gateway_schema, gateway_validate},
    [KIND_SERVICE_ENTRY] = {"ServiceEntry", "networking.istio.io", &service_entry_schema,
                            service_entry_validate},
    [KIND_WORKLOAD_ENTRY] = {"WorkloadEntry", "networking.istio.io", &workload_entry_schema,
                             workload_entry_validate},
    [KIND_PEER_AUTHENTICATION] = {"PeerAuthentication", "security.istio.io",
                                  &peer_authentication_schema, peer_authentication_validate},
    [KIND_ROLLOUT] = {"Rollout", "meshlet.io", &rollout_schema, rollout_validate},
};

void
config_init(struct resource_set *set)
{
    memset(set, 0, sizeof(*set));
    arena_init(&set->arena, 256 * 1024, true);
    source_init(&set->source);
}

void
config_fini(struct resource_set *set)
{
    free(set->items);
    free(set->services);
    free(set->workloads);
    source_fini(&set->source);
    arena_fini(&set->arena);
    memset(set, 0, sizeof(*set));
}

static bool
version_ok(const char *group, const char *api_version)
{
    size_t gl = strlen(group);
    if (strncmp(api_version, group, gl) || api_version[gl] != '/') return false;
    const char *v = api_version + gl + 1;
    if (!strcmp(group, "security.istio.io")) return !strcmp(v, "v1") || !strcmp(v, "v1beta1");
    if (!strcmp(group, "meshlet.io")) return !strcmp(v, "v1alpha1");
    return !strcmp(v, "v1") || !strcmp(v, "v1beta1") || !strcmp(v, "v1alpha3");
}

const struct resource *
config_find(const struct resource_set *set, enum resource_kind kind, const char *ref,
            const char *ns)
{
    const char *slash = strchr(ref, '/');
    size_t ns_len = slash ? (size_t)(slash - ref) : strlen(ns);
    const char *want_ns = slash ? ref : ns, *name = slash ? slash + 1 : ref;
    const struct resource *found = NULL;
    for (size_t i = 0; i < set->len; i++) {
        const struct resource *r = set->items[i];
        if (r->kind == kind && r->spec.any && strlen(r->ns) == ns_len &&
            !strncmp(r->ns, want_ns, ns_len) && !strcmp(r->name, name))
            found = r;
    }
    return found;
}

int
config_kind(const char *api_version, const char *kind)
{
    for (int k = 0; k < KIND__COUNT; k++) {
        if (kind && !strcmp(kinds[k].name, kind) && api_version &&
            !strncmp(api_version, kinds[k].group, strlen(kinds[k].group)))
            return k;
    }
    return -1;
}

bool
config_labels_contain(const struct str_map *have, const struct str_map *want)
{
    for (size_t i = 0; i < want->len; i++) {
        bool ok = false;
        for (size_t j = 0; j < have->len && !ok; j++)
            ok = !strcmp(have->keys[j], want->keys[i]) && !strcmp(have->vals[j], want->vals[i]);
        if (!ok) return false;
    }
    return true;
}

bool
config_mesh_bound(const struct str_list *gateways)
{
    if (gateways->len == 0) return true;
    for (size_t i = 0; i < gateways->len; i++)
        if (!strcmp(gateways->v[i], "mesh")) return true;
    return false;
}

const char *
config_fqdn(struct arena *a, const char *host, const char *ns)
{
    if (!host || !*host || strchr(host, '.') || strchr(host, ':') || !strcmp(host, "*"))
        return host;
    return arena_printf(a, "%s.%s.svc.cluster.local", host, ns);
}

static const char *
scalar_at(struct resource_set *set, struct fy_node *map, const char *key)
{
    return field_scalar(&set->arena, field_node(map, key, -1));
}

/* metadata: name, namespace, labels, creationTimestamp; other Kubernetes metadata fields
 * are legal and ignored. */
static void
decode_metadata(struct resource_set *set, struct resource *r)
{
    struct fy_node *md = field_node(r->root, "metadata", -1);
    r->name = scalar_at(set, md, "name");
    r->ns = scalar_at(set, md, "namespace");
    r->creation_timestamp = scalar_at(set, md, "creationTimestamp");
    if (!r->ns || !*r->ns) r->ns = set->opt->default_ns ? set->opt->default_ns : "default";
    struct fy_node *labels = field_node(md, "labels", -1);
    if (labels && fy_node_get_type(labels) == FYNT_MAPPING) {
        int n = fy_node_mapping_item_count(labels);
        r->labels.keys = arena_alloc(&set->arena, (size_t)(n > 0 ? n : 1) * sizeof(char *));
        r->labels.vals = arena_alloc(&set->arena, (size_t)(n > 0 ? n : 1) * sizeof(char *));
        void *it = NULL;
        struct fy_node_pair *p;
        while ((p = fy_node_mapping_iterate(labels, &it))) {
            const char *k = field_scalar(&set->arena, fy_node_pair_key(p));
            const char *v = field_scalar(&set->arena, fy_node_pair_value(p));
            if (!k) continue;
            r->labels.keys[r->labels.len] = k;
            r->labels.vals[r->labels.len++] = v ? v : "";
        }
    }
    if (!r->name || !*r->name) {
        field_report(set->dl, r, md ? md : r->root, md ? "metadata" : "", md ? "name" : "metadata",
                     -1, DIAG_ERROR, DIAG_SCHEMA_ERROR, "give the resource a metadata.name",
                     "Required value");
        r->name = "";
    }
}

static void
add_istio(struct resource_set *set, int kind, const char *api_version, const char *file,
          struct fy_node *root, size_t doc_index, int item_index)
{
    struct resource *r = arena_alloc(&set->arena, sizeof(*r));
    r->doc_index = doc_index;
    r->item_index = item_index;
    r->doc_live = true;
    r->kind = (enum resource_kind)kind;
    r->kind_name = kinds[kind].name;
    r->api_version = api_version;
    r->file = file;
    r->root = root;
    r->order = set->len;
    decode_metadata(set, r);

    size_t errors_before = set->dl->errors;
    if (!version_ok(kinds[kind].group, api_version)) {
        field_report(set->dl, r, root, "", "apiVersion", -1, DIAG_ERROR, DIAG_SCHEMA_ERROR,
                     !strcmp(kinds[kind].group, "security.istio.io")
                         ? "use security.istio.io/v1 or v1beta1"
                     : !strcmp(kinds[kind].group, "meshlet.io")
                         ? "use meshlet.io/v1alpha1"
                         : "use networking.istio.io/v1, v1beta1 or v1alpha3",
                     "unsupported apiVersion \"%s\" for %s", api_version, r->kind_name);
    }
    /* Top level: apiVersion, kind, metadata, spec, status; anything else is unknown. */
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(root, &it))) {
        const char *k = fy_node_get_scalar0(fy_node_pair_key(p));
        if (k && (!strcmp(k, "apiVersion") || !strcmp(k, "kind") || !strcmp(k, "metadata") ||
                  !strcmp(k, "spec") || !strcmp(k, "status")))
            continue;
        struct diag *d = diag_add(set->dl, DIAG_ERROR, DIAG_SCHEMA_ERROR, k ? k : "",
                                  "remove it; a resource has apiVersion, kind, metadata, spec",
                                  "unknown field \"%s\"", k ? k : "?");
        field_attach(d, r, fy_node_pair_key(p));
    }

    r->spec_node = field_node(root, "spec", -1);
    struct field_ctx fc = {&set->arena, set->dl, r, 0};
    if (r->spec_node) r->spec.any = field_decode_new(&fc, kinds[kind].schema, r->spec_node, "spec");
    if (!r->spec.any) {
        field_report(set->dl, r, root, "", "spec", -1, DIAG_ERROR, DIAG_SCHEMA_ERROR, "add a spec",
                     "Required value");
    } else {
        /* Validate even after decode errors, so one run reports every problem. */
        kinds[kind].validate(r, set->dl);
        if (kind == KIND_VIRTUAL_SERVICE) sticky_decode(&set->arena, set->dl, r);
    }
    r->valid = set->dl->errors == errors_before;

    xgrow((void **)&set->items, &set->cap, set->len + 1, sizeof(*set->items));
    set->items[set->len++] = r;
}

/* The API group of <api_version> ("security.istio.io/v1" -> "security.istio.io"). */
static bool
group_is(const char *api_version, const char *group)
{
    size_t n = strlen(group);
    return !strncmp(api_version, group, n) && api_version[n] == '/';
}

static bool
group_ends_with(const char *api_version, const char *suffix)
{
    const char *slash = strchr(api_version, '/');
    size_t n = slash ? (size_t)(slash - api_version) : strlen(api_version), k = strlen(suffix);
    return n >= k && !strncmp(api_version + n - k, suffix, k);
}

/* Istio's other kinds (AuthorizationPolicy, Sidecar, EnvoyFilter, Telemetry, ...) and the
 * Gateway API's are valid config meshlet does not enforce: never an error, as
 * `istioctl validate` accepts them, but never silent, or a deny-all AuthorizationPolicy
 * would look in force. Returns whether <kind> is one of them (and was reported). */
static bool
warn_unenforced(struct resource_set *set, const char *api_version, const char *kind,
                const char *file, struct fy_node *root)
{
    if (!group_ends_with(api_version, ".istio.io") &&
        !group_is(api_version, "gateway.networking.k8s.io") &&
        !group_is(api_version, "gateway.networking.x-k8s.io"))
        return false;
    struct fy_node *md = field_node(root, "metadata", -1);
    const char *name = scalar_at(set, md, "name");
    const char *ns = scalar_at(set, md, "namespace");
    if (!ns || !*ns) ns = set->opt->default_ns ? set->opt->default_ns : "default";
    const char *what = "its rules do not apply to any traffic meshlet serves";
    if (!strcmp(kind, "AuthorizationPolicy"))
        what = "no access control is applied: every request it would deny is served";
    else if (!strcmp(kind, "RequestAuthentication"))
        what = "no JWT is checked: requests with a missing or bad token are served";
    else if (!strcmp(kind, "Sidecar") || !strcmp(kind, "EnvoyFilter"))
        what = "it changes nothing in how meshlet proxies";
    struct diag *d = diag_add(
        set->dl, DIAG_WARNING, DIAG_NOT_ENFORCED, NULL,
        "enforce it elsewhere: meshlet enforces only VirtualService, DestinationRule, Gateway, "
        "ServiceEntry, WorkloadEntry (networking.istio.io) and PeerAuthentication",
        "%s is not enforced by meshlet (%s): %s", kind, api_version, what);
    field_attach(d, NULL, root);
    d->kind = arena_strdup(&set->arena, kind);
    d->ns = ns;
    d->name = name ? name : "";
    d->file = file;
    return true;
}

static void
on_document(void *arg, const char *file, struct fy_node *root, size_t doc_index, int item_index)
{
    struct resource_set *set = arg;
    if (fy_node_get_type(root) != FYNT_MAPPING) {
        struct diag *d = diag_add(set->dl, DIAG_ERROR, DIAG_LOAD_ERROR, NULL,
                                  "each YAML document must be one Kubernetes object",
                                  "document is not a mapping");
        field_attach(d, NULL, root);
        d->file = file;
        return;
    }
    const char *api_version = scalar_at(set, root, "apiVersion");
    const char *kind = scalar_at(set, root, "kind");
    if (!kind || !api_version) {
        struct diag *d =
            diag_add(set->dl, DIAG_ERROR, DIAG_LOAD_ERROR, kind ? "apiVersion" : "kind",
                     "every object needs apiVersion and kind", "%s: Required value",
                     kind ? "apiVersion" : "kind");
        field_attach(d, NULL, root);
        d->file = file;
        return;
    }
    int k = config_kind(api_version, kind);
    if (k >= 0) {
        add_istio(set, k, api_version, file, root, doc_index, item_index);
        return;
    }
    if (kube_add(set, api_version, kind, file, root)) return;
    set->n_skipped++;
    if (warn_unenforced(set, api_version, kind, file, root)) return;
    if (set->opt->verbose) {
        struct fy_node *md = field_node(root, "metadata", -1);
        const char *name = scalar_at(set, md, "name");
        struct diag *d = diag_add(
            set->dl, DIAG_INFO, "ML0003", NULL,
            "nothing to do: meshlet reads Istio kinds, Services and workloads",
            "skipped %s %s (%s): not a kind meshlet reads", kind, name ? name : "", api_version);
        field_attach(d, NULL, root);
        d->file = file;
    }
}

/* What every load ends with, the documents read: <only> names the one source when there
 * was one (the "nothing found" message points there). */
static int
load_done(struct resource_set *set, int rc, const char *only, struct diag_list *dl)
{
    if (!set->source.keep_documents)
        for (size_t i = 0; i < set->len; i++) set->items[i]->doc_live = false;
    /* Kubernetes objects of kinds meshlet does not read are fine (skipped, or warned about):
     * the error is for input with no object at all. */
    if (!rc && set->len == 0 && set->n_services == 0 && set->n_workloads == 0 &&
        set->n_skipped == 0 && dl->errors == 0) {
        struct diag *d =
            diag_add(dl, DIAG_ERROR, DIAG_LOAD_ERROR, NULL,
                     "point meshlet at YAML or JSON files holding Istio resources",
                     "no Istio or Kubernetes resources found in %zu file(s)", set->source.n_files);
        d->file = only;
    }
    set->opt = NULL;
    set->dl = NULL;
    return rc;
}

int
config_load(struct resource_set *set, const char *const *paths, size_t n,
            const struct config_options *opt, struct diag_list *dl)
{
    static const struct config_options defaults = {0};
    set->opt = opt ? opt : &defaults;
    set->dl = dl;
    int rc = source_load(&set->source, paths, n, on_document, set, dl);
    return load_done(set, rc, n == 1 ? paths[0] : NULL, dl);
}

void
config_load_docs(struct resource_set *set, const struct source_doc *docs, size_t n,
                 const struct config_options *opt, struct diag_list *dl)
{
    static const struct config_options defaults = {0};
    set->opt = opt ? opt : &defaults;
    set->dl = dl;
    source_load_docs(&set->source, docs, n, on_document, set, dl);
    load_done(set, 0, n == 1 ? set->source.files[0] : NULL, dl);
}

uint64_t
config_digest(const struct resource_set *set, const char *ns)
{
    /* The namespace counts as one more file: resources without one land in it. */
    return set->source.digest + XXH64(ns, strlen(ns), 1);
}

static int
by_file_then_doc(const void *a, const void *b)
{
    const struct source_locate *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    if (c) return c;
    return x->doc_index < y->doc_index ? -1 : x->doc_index > y->doc_index;
}

/* Messages made after the documents were unloaded get their positions here, reading each
 * file once more: a cost paid only when there is something to report. */
static void
locate_pending(const struct resource_set *set, struct diag_list *dl)
{
    size_t n = 0;
    for (size_t i = 0; i < dl->len; i++) n += dl->items[i].pending;
    if (!n) return;
    struct source_locate *reqs = xcalloc(n, sizeof(*reqs));
    size_t *owner = xcalloc(n, sizeof(*owner));
    size_t k = 0;
    for (size_t i = 0; i < dl->len; i++) {
        const struct diag *d = &dl->items[i];
        if (!d->pending) continue;
        reqs[k] = (struct source_locate){d->file, d->doc_index, d->item_index, d->path, 0, 0};
        owner[k] = i;
        k++;
    }
    /* Sort a permutation so results go back to their messages. */
    struct source_locate *sorted = xcalloc(n, sizeof(*sorted));
    size_t *order = xcalloc(n, sizeof(*order));
    for (size_t i = 0; i < n; i++) {
        sorted[i] = reqs[i];
        sorted[i].line = (unsigned)i; /* carries the request number through qsort */
    }
    qsort(sorted, n, sizeof(*sorted), by_file_then_doc);
    for (size_t i = 0; i < n; i++) order[i] = sorted[i].line;
    for (size_t i = 0; i < n; i++) sorted[i].line = 0;
    /* Group equal file names under one pointer, as source_locate_all expects. */
    for (size_t i = 1; i < n; i++)
        if (!strcmp(sorted[i].file, sorted[i - 1].file)) sorted[i].file = sorted[i - 1].file;
    source_locate_all(&set->source, sorted, n);
    for (size_t i = 0; i < n; i++) {
        struct diag *d = &dl->items[owner[order[i]]];
        d->line = sorted[i].line;
        d->col = sorted[i].col;
        d->pending = false;
    }
    free(sorted);
    free(order);
    free(reqs);
    free(owner);
}

void
config_analyze(const struct resource_set *set, struct diag_list *dl)
{
    analyze_run(set, dl);
    locate_pending(set, dl);
}
