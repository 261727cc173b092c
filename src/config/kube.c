/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes Service and workload extraction. Lenient on purpose: only the few fields
 * analysis needs are read, and nothing else in these objects is judged. */
#include "config/kube.h"

#include <libfyaml.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/field.h"
#include "config/port_protocol.h"
#include "core/alloc.h"

static void
read_labels(struct arena *a, struct fy_node *map, struct str_map *out)
{
    if (!map || fy_node_get_type(map) != FYNT_MAPPING) return;
    int n = fy_node_mapping_item_count(map);
    if (n <= 0) return;
    out->keys = arena_alloc(a, (size_t)n * sizeof(char *));
    out->vals = arena_alloc(a, (size_t)n * sizeof(char *));
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(map, &it))) {
        const char *k = field_scalar(a, fy_node_pair_key(p));
        const char *v = field_scalar(a, fy_node_pair_value(p));
        if (!k) continue;
        out->keys[out->len] = k;
        out->vals[out->len++] = v ? v : "";
    }
}

static const char *
ns_of(struct resource_set *set, struct fy_node *md)
{
    const char *ns = field_scalar(&set->arena, field_node(md, "namespace", -1));
    if (ns && *ns) return ns;
    return set->opt && set->opt->default_ns ? set->opt->default_ns : "default";
}

static void
add_service(struct resource_set *set, const char *file, struct fy_node *root)
{
    struct fy_node *md = field_node(root, "metadata", -1);
    struct fy_node *spec = field_node(root, "spec", -1);
    struct kube_service *s = arena_alloc(&set->arena, sizeof(*s));
    s->name = field_scalar(&set->arena, field_node(md, "name", -1));
    if (!s->name) s->name = "";
    s->ns = ns_of(set, md);
    s->host = arena_printf(&set->arena, "%s.%s.svc.cluster.local", s->name, s->ns);
    s->file = file;
    read_labels(&set->arena, field_node(spec, "selector", -1), &s->selector);
    const char *exp = field_scalar(&set->arena, field_node(field_node(md, "annotations", -1),
                                                           "networking.istio.io/exportTo", -1));
    if (exp && *exp) {
        size_t n = 1;
        for (const char *p = exp; *p; p++) n += *p == ',';
        s->export_to.v = arena_alloc(&set->arena, n * sizeof(char *));
        char *copy = arena_strdup(&set->arena, exp), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ') tok++;
            s->export_to.v[s->export_to.len++] = tok;
        }
    }

    struct fy_node *ports = field_node(spec, "ports", -1);
    if (ports && fy_node_get_type(ports) == FYNT_SEQUENCE) {
        int n = fy_node_sequence_item_count(ports);
        size_t cap = (size_t)(n > 0 ? n : 1);
        s->ports = arena_alloc(&set->arena, cap * sizeof(uint32_t));
        s->target_ports = arena_alloc(&set->arena, cap * sizeof(uint32_t));
        s->port_names = arena_alloc(&set->arena, cap * sizeof(char *));
        s->port_tcp = arena_alloc(&set->arena, cap * sizeof(bool));
        s->port_protocols = arena_alloc(&set->arena, cap * sizeof(*s->port_protocols));
        void *it = NULL;
        struct fy_node *p;
        while ((p = fy_node_sequence_iterate(ports, &it))) {
            const char *num = fy_node_get_scalar0(field_node(p, "port", -1));
            if (!num) continue;
            s->ports[s->n_ports] = (uint32_t)strtoul(num, NULL, 10);
            const char *target = fy_node_get_scalar0(field_node(p, "targetPort", -1));
            char *end = NULL;
            unsigned long tp = target ? strtoul(target, &end, 10) : 0;
            s->target_ports[s->n_ports] = end && !*end && tp <= 65535 ? (uint32_t)tp : 0;
            const char *proto = fy_node_get_scalar0(field_node(p, "protocol", -1));
            s->port_tcp[s->n_ports] = !proto || !strcmp(proto, "TCP");
            const char *name = field_scalar(&set->arena, field_node(p, "name", -1));
            const char *app = fy_node_get_scalar0(field_node(p, "appProtocol", -1));
            s->port_protocols[s->n_ports] =
                port_protocol_kube(s->ports[s->n_ports], name, proto && !strcmp(proto, "UDP"), app);
            s->port_names[s->n_ports++] = name ? name : "";
        }
    }
    xgrow((void **)&set->services, &set->cap_services, set->n_services + 1, sizeof(void *));
    set->services[set->n_services++] = s;
}

static void
add_workload(struct resource_set *set, const char *kind, const char *file, struct fy_node *root,
             struct fy_node *pod_md)
{
    struct fy_node *md = field_node(root, "metadata", -1);
    struct kube_workload *w = arena_alloc(&set->arena, sizeof(*w));
    w->kind = kind;
    w->name = field_scalar(&set->arena, field_node(md, "name", -1));
    if (!w->name) w->name = "";
    w->ns = ns_of(set, md);
    w->file = file;
    read_labels(&set->arena, field_node(pod_md, "labels", -1), &w->labels);
    xgrow((void **)&set->workloads, &set->cap_workloads, set->n_workloads + 1, sizeof(void *));
    set->workloads[set->n_workloads++] = w;
}

bool
kube_add(struct resource_set *set, const char *api_version, const char *kind, const char *file,
         struct fy_node *root)
{
    static const char *const templated[] = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"};
    if (!strcmp(api_version, "v1") && !strcmp(kind, "Service")) {
        add_service(set, file, root);
        return true;
    }
    if (!strcmp(api_version, "v1") && !strcmp(kind, "Pod")) {
        add_workload(set, "Pod", file, root, field_node(root, "metadata", -1));
        return true;
    }
    if (!strncmp(api_version, "apps/", 5)) {
        for (size_t i = 0; i < sizeof(templated) / sizeof(templated[0]); i++) {
            if (strcmp(kind, templated[i])) continue;
            struct fy_node *tmpl = field_node(field_node(root, "spec", -1), "template", -1);
            add_workload(set, templated[i], file, root, field_node(tmpl, "metadata", -1));
            return true;
        }
    }
    return false;
}

static bool
has_label(const struct str_map *m, const char *k, const char *v)
{
    for (size_t i = 0; i < m->len; i++)
        if (!strcmp(m->keys[i], k) && !strcmp(m->vals[i], v)) return true;
    return false;
}

bool
kube_selects(const struct resource_set *set, const struct kube_service *svc,
             const char *const *keys, const char *const *vals, size_t n)
{
    for (size_t i = 0; i < set->n_workloads; i++) {
        const struct kube_workload *w = set->workloads[i];
        if (strcmp(w->ns, svc->ns)) continue;
        bool ok = svc->selector.len > 0;
        for (size_t j = 0; ok && j < svc->selector.len; j++)
            ok = has_label(&w->labels, svc->selector.keys[j], svc->selector.vals[j]);
        for (size_t j = 0; ok && j < n; j++) ok = has_label(&w->labels, keys[j], vals[j]);
        if (ok) return true;
    }
    return false;
}
