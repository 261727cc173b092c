/* SPDX-License-Identifier: Apache-2.0 */
/* model-private: the DestinationRule sections in force for a pool, as pointers into the
 * resource set (valid only while the build runs), and their compilation into the pool.
 * Only the .c files of model/ and their unit tests include this; config/ types are only named here,
 * never defined, so no reader of the snapshot needs config/. [M] */
#ifndef MESHLET_MODEL_CLUSTER_INT_H
#define MESHLET_MODEL_CLUSTER_INT_H

#include <stdbool.h>
#include <stdint.h>

struct arena;
struct model_cluster;
struct traffic_policy;
struct load_balancer;
struct connection_pool;
struct outlier_detection;
struct client_tls;
struct tunnel;
struct proxy_protocol;
struct retry_budget;

/* The sections in force; each NULL when unset (Istio's defaults apply). Borrowed from the
 * resource set. */
struct cluster_sections {
    const struct load_balancer *lb;
    const struct connection_pool *pool;
    const struct outlier_detection *od;
    const struct client_tls *tls;
    const struct tunnel *tunnel;
    const struct proxy_protocol *proxy_protocol;
    const struct retry_budget *retry_budget;
};

/* Effective sections for service port <port> and the subset whose traffic policy is
 * <subset_tp> (NULL: the default pool or a subset without one), given the DestinationRule's
 * top-level <top> (NULL when it has none). Pointers into the inputs. */
void cluster_effective_policy(const struct traffic_policy *top,
                              const struct traffic_policy *subset_tp, uint32_t port,
                              struct cluster_sections *out);

/* Compile <s> into <c>: policy (balancer, hash key, tls mode, tunnel, proxyProtocol,
 * retryBudget), warmup_*, outlier, limits and max_requests_per_conn, with Istio's defaults
 * for what is unset. Strings are copied into <a> (the snapshot arena). The endpoints'
 * TLS (tls_*, mtls) is the builder's, from s->tls. */
void cluster_compile_policy(struct model_cluster *c, const struct cluster_sections *s,
                            struct arena *a);

/* Compile <c>'s upstream_sidecar and upstream_gateway from the service port (<port_protocol>,
 * an enum port_protocol from config/port_protocol.h, declared by <port_source>, e.g.
 * "ServiceEntry protocol"), the connection pool in force <pool> (NULL: none) and
 * meshConfig's h2UpgradePolicy (<mesh_upgrade>: UPGRADE), as Istio does. The reasons are
 * written into <a>. */
void cluster_compile_upstream(struct model_cluster *c, const struct connection_pool *pool,
                              unsigned port_protocol, const char *port_source, bool mesh_upgrade,
                              struct arena *a);

/* Every endpoint's label_digest (model_endpoint), once <c> is complete: its host, its
 * labels and mtls known. */
void cluster_digest_endpoints(struct model_cluster *c);

#endif
