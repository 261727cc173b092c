/* SPDX-License-Identifier: Apache-2.0 */
/* Choosing an endpoint of a pool with its effective load balancer: LEAST_REQUEST (Istio's
 * default; power of two choices), ROUND_ROBIN (smooth weighted), RANDOM. [W] */
#ifndef MESHLET_LB_LB_H
#define MESHLET_LB_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "model/model.h"

/* Index of the endpoint of <c> for the next request, by smooth weighted round robin over
 * the endpoints' weights; <cur> holds one counter per endpoint (the worker's own). <c> must
 * have at least one endpoint. */
size_t lb_rr_pick(int64_t *cur, const struct model_cluster *c);

/* The same over explicit weights <w> of <n> endpoints. */
size_t lb_rr_pick_weights(int64_t *cur, const uint32_t *w, size_t n);

/* Envoy's slow-start factor for endpoint <e> of <c> at <now_ms>: within the pool's warmup
 * window max(minimumPercent, (max(seconds since it joined, 1) / window)^(1/aggression)),
 * else 1. */
double lb_slow_start_factor(const struct model_cluster *c, const struct model_endpoint *e,
                            uint64_t now_ms);

/* The algorithm in force for <c> (its policy's `simple` or consistentHash; LEAST_REQUEST
 * when unset). PASSTHROUGH picks as ROUND_ROBIN does. */
enum model_lb_kind lb_kind(const struct model_cluster *c);

/* lb_pick() when every endpoint is ejected and the pool is not in panic: 503 UH. */
#define LB_NO_HOST SIZE_MAX

/* Index of the endpoint of <c> for the next request, among the endpoints outlier detection
 * has not ejected (all of them in panic mode), or LB_NO_HOST. <rr> holds the worker's round-robin
 * counters for <c> (one per endpoint), <active> its requests in flight per endpoint state
 * (indexed by model_endpoint.state_id: kept across snapshots, as the requests are). <hash>
 * is the request's hash key for a consistent-hash pool; NULL when the request lacks the
 * input (header, cookie, parameter), which makes the pick random, as Envoy. */
size_t lb_pick(const struct model_cluster *c, int64_t *rr, const uint32_t *active,
               const uint64_t *hash);

/* The endpoint for a retry of a request that tried the endpoints in bitmask <tried>: picks
 * again up to 5 times while the pick was tried (Istio's previous_hosts predicate with
 * host_selection_retry_max_attempts 5), then takes the next endpoint neither tried nor
 * ejected, so a retry reaches an untried endpoint whenever one exists. */
size_t lb_pick_retry(const struct model_cluster *c, int64_t *rr, const uint32_t *active,
                     uint64_t tried);

/* xxHash64 with seed 0: how Envoy hashes request keys and ring points. */
uint64_t lb_hash(const void *p, size_t n);
uint64_t lb_hash_seeded(const void *p, size_t n, uint64_t seed);

/* A pool's consistent-hash table, built once per snapshot and shared by the workers. */
struct lb_table {
    bool maglev;
    size_t size;
    uint64_t *points; /* ring: sorted point hashes; NULL for Maglev */
    uint32_t *hosts;  /* ring: endpoint at each point; Maglev: endpoint in each slot */
};

/* Envoy's ring hash: every endpoint gets points in proportion to its weight, the ring at
 * least <min_size> points (1024 when 0) and at most 8M. The key of point i of an endpoint
 * is "<ip>:<port>_<i>". [M] */
const struct lb_table *lb_ring_build(const struct model_cluster *c, struct arena *a,
                                     uint64_t min_size);

/* Envoy's Maglev table of <size> slots (a prime; 65537 when 0), endpoints weighted. [M] */
const struct lb_table *lb_maglev_build(const struct model_cluster *c, struct arena *a,
                                       uint64_t size);

/* The endpoint for request hash <h>: the first ring point at or after h (wrapping), or the
 * Maglev slot h mod size. */
size_t lb_table_pick(const struct lb_table *t, uint64_t h);

/* The index in t->hosts of that point or slot. */
size_t lb_table_slot(const struct lb_table *t, uint64_t h);

/* Build <c>'s table when its policy asks for consistent hashing (model_options hook). [M] */
void lb_prepare_cluster(struct model_cluster *c, struct arena *a);

/* "<ip>:<port>" (IPv6 in brackets) of endpoint <e>, as Envoy names a host when hashing. */
void lb_endpoint_key(const struct model_endpoint *e, char *out, size_t cap);

#endif
