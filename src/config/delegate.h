/* SPDX-License-Identifier: Apache-2.0 */
/* Delegate VirtualServices (spec §3.16): a root rule with `delegate` stands for the delegate's
 * rules, each merged with it as Istio merges them (matches intersected, unset actions
 * inherited). [M] */
#ifndef MESHLET_CONFIG_DELEGATE_H
#define MESHLET_CONFIG_DELEGATE_H

#include <stdbool.h>

#include "config/config.h"

/* The delegate VirtualService that rule <h> of <root> names, when it exists and is exported
 * to the root's namespace; NULL otherwise (Istio then drops the root rule). */
const struct resource *delegate_find(const struct resource_set *set, const struct resource *root,
                                     const struct http_route *h);

/* Merge delegate rule <d> into root rule <root> as <out>, allocated in <a> (which must
 * outlive <out>). false when their matches conflict: Istio drops the delegate rule. */
bool delegate_merge(struct arena *a, const struct http_route *root, const struct http_route *d,
                    struct http_route *out);

#endif
