/* SPDX-License-Identifier: Apache-2.0 */
/* What meshlet knows about an endpoint and a pool beyond one snapshot: when an endpoint
 * joined its pool, its outlier-detection counters and ejection, and the pool's
 * circuit-breaker counts. The tables outlive snapshots, so an endpoint that stays across a
 * reload keeps its state and a new one starts fresh (slow start ramps it up). Workers update
 * the atomics; keyed by pool name (and address). [A] */
#ifndef MESHLET_MODEL_ENDPOINT_H
#define MESHLET_MODEL_ENDPOINT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct endpoint_state {
    uint32_t id;        /* dense, from 0, never reused: workers index their pools by it */
    uint64_t joined_ms; /* monotonic ms when it first appeared in its pool */
    /* Outlier detection (lb/outlier.c): consecutive failures by kind, reset by a success. */
    _Atomic uint32_t c5xx, cgw, clocal;
    _Atomic bool ejected;
    /* Written under outlier.c's lock; read relaxed by admin output. */
    _Atomic uint64_t ejected_at_ms, unejected_at_ms; /* 0: never */
    _Atomic uint32_t backoff;                        /* ejection-time multiplier */
    _Atomic uint64_t ejections;                      /* total, for stats */
    /* Its last connect failed (set by a failure, cleared by a success): when every address
     * of a DNS name has, the main thread asks the name again. */
    _Atomic bool connect_failed;
    char peer_id[256];         /* the identity its last mTLS handshake verified (endpoint_peer_*) */
    _Atomic uint32_t peer_gen; /* bumped when peer_id changes (metric series key on it) */
    void *tls_session;         /* the TLS session its next connection resumes (tls/conn.c) */
};

/* How many endpoint states exist: every id is below it. [A] */
uint32_t endpoint_state_count(void);

/* One pool (cluster) as every worker sees it. */
struct pool_state {
    uint32_t id;                /* dense, from 0, never reused: workers index their stats by it */
    const char *name;           /* the cluster name it is keyed by (lives as long as the process) */
    _Atomic uint32_t n_ejected; /* endpoints ejected now: a pick checks this first */
    _Atomic uint64_t next_tick_ms; /* outlier detection's next interval sweep; 0: not started */
    /* Circuit breakers (connectionPool): what is open or waiting across all workers. */
    _Atomic uint32_t connections, pending, requests, retries;
    _Atomic uint64_t overflows; /* requests answered 503 UO */
};

/* The state of endpoint <address>:<port> of pool <cluster>, created (joined now) on first
 * sight. Never NULL: out of memory aborts. Called while building a snapshot. [M] */
struct endpoint_state *endpoint_state_get(const char *cluster, const char *address, uint16_t port,
                                          uint64_t now_ms);

/* Record / copy out the identity the last mTLS handshake with <st> verified. [A] */
void endpoint_peer_set(struct endpoint_state *st, const char *id);
void endpoint_peer_get(struct endpoint_state *st, char *out, size_t cap);

/* How many pool states exist: every id is below it. [A] */
uint32_t pool_state_count(void);

/* The state of pool <cluster>, created on first sight. Never NULL. [M] */
struct pool_state *pool_state_get(const char *cluster);

#endif
