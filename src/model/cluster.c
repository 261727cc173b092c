/* SPDX-License-Identifier: Apache-2.0 */
/* Istio's MergeSubsetTrafficPolicy / MergeTrafficPolicy, step by step. Granularity is the
 * whole section: a subset's connectionPool {http: ...} replaces the parent's connectionPool,
 * tcp included; a port-level entry drops tunnel, proxyProtocol and retryBudget. */
#include "model/cluster.h"

#include <string.h>

static const struct port_traffic_policy *
port_entry(const struct traffic_policy *tp, uint32_t port)
{
    for (size_t i = 0; tp && i < tp->port_level_settings_len; i++) {
        const struct port_traffic_policy *p = &tp->port_level_settings[i];
        if (!p->obj.is_null && p->port && p->port->number.set && p->port->number.v == port)
            return p;
    }
    return NULL;
}

static void
from_port_entry(const struct port_traffic_policy *p, struct model_policy *out)
{
    memset(out, 0, sizeof(*out));
    out->lb = p->load_balancer;
    out->pool = p->connection_pool;
    out->od = p->outlier_detection;
    out->tls = p->tls;
}

static void
from_policy(const struct traffic_policy *tp, struct model_policy *out)
{
    memset(out, 0, sizeof(*out));
    if (!tp) return;
    out->lb = tp->load_balancer;
    out->pool = tp->connection_pool;
    out->od = tp->outlier_detection;
    out->tls = tp->tls;
    out->tunnel = tp->tunnel;
    out->proxy_protocol = tp->proxy_protocol;
    out->retry_budget = tp->retry_budget;
}

void
cluster_effective_policy(const struct traffic_policy *top, const struct traffic_policy *subset_tp,
                         uint32_t port, struct model_policy *out)
{
    struct model_policy base;
    const struct port_traffic_policy *pe = port_entry(top, port);
    if (pe)
        from_port_entry(pe, &base);
    else
        from_policy(top, &base);
    if (!subset_tp) {
        *out = base;
        return;
    }
    struct model_policy sp;
    const struct port_traffic_policy *spe = port_entry(subset_tp, port);
    bool port_level = spe != NULL;
    if (spe)
        from_port_entry(spe, &sp);
    else
        from_policy(subset_tp, &sp);
    if (!top) {
        *out = sp;
        return;
    }
    *out = base;
    if (sp.pool || port_level) out->pool = sp.pool;
    if (sp.od || port_level) out->od = sp.od;
    if (sp.lb || port_level) out->lb = sp.lb;
    if (sp.tls || port_level) out->tls = sp.tls;
    if (sp.tunnel) out->tunnel = sp.tunnel;
    if (sp.proxy_protocol) out->proxy_protocol = sp.proxy_protocol;
    if (sp.retry_budget) out->retry_budget = sp.retry_budget;
}
