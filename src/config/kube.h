/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes objects beside Istio config, read as istiod reads them for analysis: a
 * Service makes <name>.<ns>.svc.cluster.local known with its ports and selector; Pods and
 * the pod templates of Deployment, StatefulSet, DaemonSet and ReplicaSet give pod labels. */
#ifndef MESHLET_CONFIG_KUBE_H
#define MESHLET_CONFIG_KUBE_H

#include <stdbool.h>
#include <stddef.h>

struct fy_node;
struct resource_set;
struct kube_service;

/* Record the object at <root> if it is one of the kinds above; false for any other kind. */
bool kube_add(struct resource_set *set, const char *api_version, const char *kind, const char *file,
              struct fy_node *root);

/* True when some workload in the Service's namespace has every selector label of <svc>
 * and every label of <subset_labels> (pairs <keys>/<vals>, <n> of them). */
bool kube_selects(const struct resource_set *set, const struct kube_service *svc,
                  const char *const *keys, const char *const *vals, size_t n);

#endif
