/* SPDX-License-Identifier: Apache-2.0 */
/* The endpoint table: one process-wide map from "<pool>|<address>:<port>" to its state, and
 * one from "<pool>" to the pool's.
 * Snapshots are built on the main thread and workers only read the states they point to, so
 * a mutex around lookups is enough. Entries stay for the life of the process. */
#include "model/endpoint.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hmap.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct hmap table;
static int table_ready;
static _Atomic uint32_t n_states, n_pools;

struct endpoint_state *
endpoint_state_get(const char *cluster, const char *address, uint16_t port, uint64_t now_ms)
{
    char key[1024];
    snprintf(key, sizeof(key), "%s|%s:%u", cluster, address, port);
    pthread_mutex_lock(&lock);
    if (!table_ready) {
        hmap_init(&table);
        table_ready = 1;
    }
    struct endpoint_state *st = hmap_get(&table, key);
    if (!st) {
        st = xcalloc(1, sizeof(*st));
        st->joined_ms = now_ms;
        st->id = atomic_fetch_add(&n_states, 1);
        hmap_put(&table, xstrdup(key), st);
    }
    pthread_mutex_unlock(&lock);
    return st;
}

uint32_t
endpoint_state_count(void)
{
    return atomic_load(&n_states);
}

uint32_t
pool_state_count(void)
{
    return atomic_load(&n_pools);
}

struct pool_state *
pool_state_get(const char *cluster)
{
    pthread_mutex_lock(&lock);
    if (!table_ready) {
        hmap_init(&table);
        table_ready = 1;
    }
    struct pool_state *st = hmap_get(&table, cluster);
    if (!st) {
        st = xcalloc(1, sizeof(*st));
        st->id = atomic_fetch_add(&n_pools, 1);
        st->name = xstrdup(cluster);
        hmap_put(&table, xstrdup(cluster), st);
    }
    pthread_mutex_unlock(&lock);
    return st;
}

/* Per new TLS connection, not per request: one lock for every endpoint is enough. */
static pthread_mutex_t peer_lock = PTHREAD_MUTEX_INITIALIZER;

void
endpoint_peer_set(struct endpoint_state *st, const char *id)
{
    pthread_mutex_lock(&peer_lock);
    if (strncmp(st->peer_id, id, sizeof(st->peer_id) - 1)) {
        snprintf(st->peer_id, sizeof(st->peer_id), "%s", id);
        atomic_fetch_add_explicit(&st->peer_gen, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&peer_lock);
}

void
endpoint_peer_get(struct endpoint_state *st, char *out, size_t cap)
{
    pthread_mutex_lock(&peer_lock);
    snprintf(out, cap, "%s", st->peer_id);
    pthread_mutex_unlock(&peer_lock);
}
