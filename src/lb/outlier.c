/* SPDX-License-Identifier: Apache-2.0 */
/* Consecutive-failure outlier detection. Counters are atomics bumped by whichever worker saw
 * the try end; the one whose increment reaches the threshold (exact equality, as Envoy)
 * takes the lock and decides the ejection, so the cap on ejected endpoints holds even when
 * workers race. The lock also serialises the main thread's sweep. */
#include "lb/outlier.h"

#include <pthread.h>

#include "model/endpoint.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void
clear(_Atomic uint32_t *counter)
{
    /* A load first: the happy path must not write a shared cache line per response. */
    if (atomic_load_explicit(counter, memory_order_relaxed))
        atomic_store_explicit(counter, 0, memory_order_relaxed);
}

static bool
reaches(_Atomic uint32_t *counter, uint32_t threshold)
{
    return atomic_fetch_add_explicit(counter, 1, memory_order_relaxed) + 1 == threshold;
}

/* Eject endpoint <ep> unless it already is or the cap forbids it: (ejected + 1) / hosts
 * must stay within maxEjectionPercent. The counter that fired starts again either way. */
static void
consider_eject(const struct model_cluster *c, size_t ep, _Atomic uint32_t *fired, uint64_t now)
{
    const struct model_outlier *o = &c->outlier;
    struct endpoint_state *e = c->endpoints[ep].state;
    pthread_mutex_lock(&lock);
    if (!atomic_load(&e->ejected)) {
        atomic_store(fired, 0);
        uint32_t ejected = 0;
        for (size_t i = 0; i < c->n_endpoints; i++)
            ejected += atomic_load(&c->endpoints[i].state->ejected);
        if ((uint64_t)100 * (ejected + 1) <= (uint64_t)o->max_percent * c->n_endpoints) {
            uint32_t b = atomic_load(&e->backoff);
            if ((uint64_t)b * o->base_ms < o->max_ms + o->base_ms) atomic_store(&e->backoff, b + 1);
            atomic_store(&e->ejected_at_ms, now);
            atomic_fetch_add(&e->ejections, 1);
            atomic_store(&e->ejected, true);
            atomic_store(&c->state->n_ejected, ejected + 1);
        }
    }
    pthread_mutex_unlock(&lock);
}

void
outlier_status(const struct model_cluster *c, size_t ep, int status, uint64_t now_ms)
{
    const struct model_outlier *o = &c->outlier;
    if (!o->enabled || ep >= c->n_endpoints) return;
    struct endpoint_state *e = c->endpoints[ep].state;
    if (o->split) clear(&e->clocal); /* an answer proves the connection worked */
    if (status < 500 || status > 599) {
        clear(&e->c5xx);
        clear(&e->cgw);
        return;
    }
    if (status >= 502 && status <= 504) {
        if (reaches(&e->cgw, o->consecutive_gw)) consider_eject(c, ep, &e->cgw, now_ms);
    } else {
        clear(&e->cgw);
    }
    if (reaches(&e->c5xx, o->consecutive_5xx)) consider_eject(c, ep, &e->c5xx, now_ms);
}

void
outlier_local(const struct model_cluster *c, size_t ep, enum outlier_local what, uint64_t now_ms)
{
    const struct model_outlier *o = &c->outlier;
    if (ep < c->n_endpoints && (what == OUTLIER_CONNECT_FAILED || what == OUTLIER_CONNECT_OK))
        atomic_store_explicit(&c->endpoints[ep].state->connect_failed,
                              what == OUTLIER_CONNECT_FAILED, memory_order_relaxed);
    if (!o->enabled || ep >= c->n_endpoints) return;
    if (!o->split) { /* Envoy's mapping: connect failures and resets are 503s, timeouts 504s */
        if (what != OUTLIER_CONNECT_OK)
            outlier_status(c, ep, what == OUTLIER_TIMEOUT ? 504 : 503, now_ms);
        return;
    }
    struct endpoint_state *e = c->endpoints[ep].state;
    if (what == OUTLIER_CONNECT_OK)
        clear(&e->clocal);
    else if (reaches(&e->clocal, o->consecutive_local))
        consider_eject(c, ep, &e->clocal, now_ms);
}

bool
outlier_ejected(const struct model_cluster *c, size_t ep)
{
    return c->outlier.enabled &&
           atomic_load_explicit(&c->endpoints[ep].state->ejected, memory_order_relaxed);
}

bool
outlier_panic(const struct model_cluster *c)
{
    uint32_t min = c->outlier.min_health_percent;
    if (!min) return false;
    uint64_t ejected = atomic_load_explicit(&c->state->n_ejected, memory_order_relaxed);
    uint64_t n = c->n_endpoints, healthy = ejected < n ? n - ejected : 0;
    return 100 * healthy < (uint64_t)min * n;
}

void
outlier_sweep_pool(const struct model_cluster *c, uint64_t now_ms)
{
    const struct model_outlier *o = &c->outlier;
    pthread_mutex_lock(&lock);
    uint32_t ejected = 0;
    for (size_t i = 0; i < c->n_endpoints; i++) {
        struct endpoint_state *e = c->endpoints[i].state;
        uint32_t backoff = atomic_load(&e->backoff);
        if (!atomic_load(&e->ejected)) {
            /* Healthy for a whole interval since its return: the next ejection is shorter. */
            uint64_t back = atomic_load(&e->unejected_at_ms);
            if (back && backoff && now_ms - back >= o->interval_ms)
                atomic_store(&e->backoff, backoff - 1);
            continue;
        }
        uint64_t span = o->base_ms * backoff;
        if (span > o->max_ms) span = o->max_ms;
        if (now_ms - atomic_load(&e->ejected_at_ms) < span) {
            ejected++;
            continue;
        }
        /* Back in service with clean counters, so a few errors do not eject it again. */
        atomic_store(&e->c5xx, 0);
        atomic_store(&e->cgw, 0);
        atomic_store(&e->clocal, 0);
        atomic_store(&e->unejected_at_ms, now_ms);
        atomic_store(&e->ejected, false);
    }
    atomic_store(&c->state->n_ejected, ejected);
    pthread_mutex_unlock(&lock);
}

uint64_t
outlier_sweep(const struct snapshot *s, uint64_t now_ms)
{
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < s->n_clusters; i++) {
        const struct model_cluster *c = s->clusters[i];
        if (!c->outlier.enabled) continue;
        uint64_t tick = atomic_load(&c->state->next_tick_ms);
        if (!tick) {
            tick = now_ms + c->outlier.interval_ms; /* the pool's first interval starts now */
        } else if (tick <= now_ms) {
            outlier_sweep_pool(c, now_ms);
            tick += c->outlier.interval_ms;
            if (tick <= now_ms) tick = now_ms + c->outlier.interval_ms;
        }
        atomic_store(&c->state->next_tick_ms, tick);
        if (tick < next) next = tick;
    }
    return next;
}
