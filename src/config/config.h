/* SPDX-License-Identifier: Apache-2.0 */
/* The config layer's entry: paths -> a resource set of typed, validated Istio resources
 * (plus the Kubernetes Services and workloads beside them) and a list of diagnostics. */
#ifndef MESHLET_CONFIG_CONFIG_H
#define MESHLET_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/diag.h"
#include "config/resource.h"
#include "config/source.h"
#include "core/arena.h"

struct config_options {
    const char *default_ns; /* metadata.namespace when absent; "default" when NULL */
    bool verbose;           /* also report skipped kinds (Info) */
};

struct resource_set {
    struct arena arena;      /* owns every decoded value */
    struct source source;    /* owns the YAML documents */
    struct resource **items; /* arena objects, load order */
    size_t len, cap;
    struct kube_service **services; /* Kubernetes Services */
    size_t n_services, cap_services;
    struct kube_workload **workloads; /* Pods and pod templates */
    size_t n_workloads, cap_workloads;
    size_t n_skipped;                 /* documents of other kinds */
    const struct config_options *opt; /* borrowed during load */
    struct diag_list *dl;             /* borrowed during load */
};

void config_init(struct resource_set *set);
void config_fini(struct resource_set *set);

/* Load and decode <paths>, running per-resource validation on each Istio resource (as
 * `istioctl validate`). Problems go to <dl>. Returns 0, or a negative errno when a path
 * cannot be read: a named one, or a directory or config file found under one (the caller
 * exits 2). [M] */
int config_load(struct resource_set *set, const char *const *paths, size_t n,
                const struct config_options *opt, struct diag_list *dl);

/* The same for in-memory documents (a config store's values; see source_load_docs): every
 * problem, unreadable text included, goes to <dl>. [M] */
void config_load_docs(struct resource_set *set, const struct source_doc *docs, size_t n,
                      const struct config_options *opt, struct diag_list *dl);

/* The digest of a loaded <set> read with namespace <ns> (/config_dump, `explain`): the
 * documents' bytes (not their names or order) and the namespace. Equal digests mean two
 * readers read the same config. */
uint64_t config_digest(const struct resource_set *set, const char *ns);

/* Cross-resource analysis, as `istioctl analyze`, over a loaded set. [M] */
void config_analyze(const struct resource_set *set, struct diag_list *dl);

/* The resource of <kind> that <ref> names: "NS/NAME", or "NAME" in namespace <ns>; the last
 * definition wins, as in the proxy. NULL when none (or only ones whose spec did not decode). */
const struct resource *config_find(const struct resource_set *set, enum resource_kind kind,
                                   const char *ref, const char *ns);

/* Kind name -> kind; -1 for kinds meshlet does not read. */
int config_kind(const char *api_version, const char *kind);

/* Do the labels <have> include every key and value of <want>? (Subsets select endpoints
 * this way.) */
bool config_labels_contain(const struct str_map *have, const struct str_map *want);

/* Does a VirtualService with these <gateways> apply to sidecars (none listed, or "mesh")? */
bool config_mesh_bound(const struct str_list *gateways);

/* The short-name expansion of Istio (§1.3): a host without a dot becomes
 * <host>.<ns>.svc.cluster.local; "*", hosts with a dot and IPs stay. Returns <host> or an
 * arena copy. */
const char *config_fqdn(struct arena *a, const char *host, const char *ns);

#endif
