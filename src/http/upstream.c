/* SPDX-License-Identifier: Apache-2.0 */
/* Upstream connections: non-blocking connect, the connect result, and the life of a
 * connection parked in its worker's keep-alive pool (closed when the server closes it). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/compiler.h"
#include "core/log.h"
#include "core/now.h"
#include "core/sock.h"
#include "http/h1_int.h"
#include "lb/outlier.h"
#include "model/endpoint.h"
#include "tls/conn.h"

static void
on_io(struct loop_watch *w, unsigned events)
{
    struct upstream *u = container_of(w, struct upstream, w);
    /* A connect that failed reports LOOP_ERR (and LOOP_HUP) with its LOOP_OUT, so a bare
     * LOOP_OUT means connected: no getsockopt(SO_ERROR) per connection. */
    if (!u->tcp_up && (events & (LOOP_OUT | LOOP_ERR | LOOP_HUP))) {
        if (!(events & (LOOP_ERR | LOOP_HUP)))
            u->tcp_up = true;
        else
            u->failed = true;
    }
    if (u->tcp_up && !u->connected && !u->failed) {
        int hs = u->tls ? tls_conn_handshake(u->tls) : 1;
        if (hs < 0) {
            u->failed = true; /* a TLS failure is a connect failure (503 UF) */
            log_msg(LOG_WARNING, "TLS to %s:%u (%s) failed: %s",
                    u->cluster->endpoints[u->endpoint].address,
                    u->cluster->endpoints[u->endpoint].port, u->cluster->name,
                    tls_conn_error(u->tls));
        } else if (hs > 0) {
            u->connected = true;
            if (u->tls) {
                endpoint_peer_set(u->cluster->endpoints[u->endpoint].state,
                                  tls_conn_peer_uri(u->tls));
                __atomic_add_fetch(&u->wk->tls_handshakes, 1, __ATOMIC_RELAXED);
                if (tls_conn_resumed(u->tls))
                    __atomic_add_fetch(&u->wk->tls_resumed, 1, __ATOMIC_RELAXED);
            }
            wheel_disarm(&u->wk->loop.wheel, &u->timer);
            /* clears local-origin failures (split mode) and the endpoint's failed connect */
            if (u->cluster->outlier.split ||
                atomic_load_explicit(&u->cluster->endpoints[u->endpoint].state->connect_failed,
                                     memory_order_relaxed))
                outlier_local(u->cluster, u->endpoint, OUTLIER_CONNECT_OK, 0);
        }
    }
    if (events & (LOOP_IN | LOOP_HUP | LOOP_ERR)) u->in_ready = true;
    if (events & LOOP_RDHUP) u->hup = true;
    if (u->ops->event) {
        u->ops->event(u);
        return;
    }
    if (u->shadow) {
        mirror_io(u->shadow);
        return;
    }
    if (u->owner) {
        req_wake(u->owner);
        return;
    }
    /* Idle: the server closed it (or sent bytes nobody asked for). */
    if (events & (LOOP_IN | LOOP_HUP | LOOP_ERR)) {
        worker_unlink_idle(u->wk, u);
        upstream_close(u);
    }
}

/* connectTimeout: a connect still pending fails like a refused one (UF). idleTimeout: an
 * idle connection is closed. */
static void
on_timer(struct wheel_timer *t)
{
    struct upstream *u = container_of(t, struct upstream, timer);
    if (!u->connected) {
        u->failed = true;
        if (u->ops->event)
            u->ops->event(u);
        else if (u->shadow)
            mirror_io(u->shadow);
        else if (u->owner)
            req_wake(u->owner);
        return;
    }
    if (u->ops->event) { /* a shared connection's idleTimeout: it decides */
        u->idle_expired = true;
        u->ops->event(u);
        return;
    }
    if (!u->owner && !u->shadow) {
        worker_unlink_idle(u->wk, u);
        upstream_close(u);
    }
}

void
upstream_idle_timer(struct upstream *u, bool idle)
{
    struct wheel *w = &u->wk->loop.wheel;
    if (idle)
        wheel_arm(w, &u->timer, now_ms() + u->cluster->limits.idle_timeout_ms);
    else
        wheel_disarm(w, &u->timer);
}

/* How connections to endpoint <ep> of <c> are secured: SIMPLE/MUTUAL by one context (each
 * reload makes new ones, each with its own serial), ISTIO_MUTUAL (1), or plain text (0). */
static uint64_t
tls_kind(const struct model_cluster *c, size_t ep)
{
    if (c->tls_user) return c->tls_serial;
    return c->endpoints[ep].mtls ? 1 : 0;
}

bool
upstream_fits(const struct upstream *u, const struct model_cluster *c, size_t ep)
{
    return u->tls_kind == tls_kind(c, ep);
}

struct upstream *
upstream_open(struct worker *wk, const struct model_cluster *c, size_t ep)
{
    struct upstream *u = upstream_open_as(wk, c, ep, sizeof(struct upstream), &h1_upstream_ops);
    if (u && u->tls && !c->tls_user) tls_conn_offer_istio_http1(u->tls); /* ISTIO_MUTUAL */
    return u;
}

struct upstream *
upstream_open_as(struct worker *wk, const struct model_cluster *c, size_t ep, size_t size,
                 const struct upstream_ops *ops)
{
    const struct model_endpoint *e = &c->endpoints[ep];
    int fd = sock_connect((const struct sockaddr *)&e->addr, e->addr_len);
    if (fd < 0) {
        /* Out of fds here is no fault of the endpoint's: a proxy out of fds would eject
         * every healthy endpoint, and stay unable to serve after the fds came back. */
        if (fd != -EMFILE && fd != -ENFILE) outlier_local(c, ep, OUTLIER_CONNECT_FAILED, now_ms());
        return NULL;
    }
    const struct model_limits *l = &c->limits;
    if (l->keepalive)
        sock_keepalive(fd, l->keepalive_time_s, l->keepalive_interval_s, l->keepalive_probes);
    struct upstream *u = calloc(1, size);
    if (!u) goto fail_fd;
    buf_init_empty(&u->in, 1 << 20);   /* storage from the worker's blocks while in use */
    buf_init_empty(&u->out, 2u << 20); /* a retried body (up to 1 MiB) and its head */
    u->w.fd = fd;
    u->w.cb = on_io;
    u->ops = ops;
    u->wk = wk;
    u->cluster = c;
    u->endpoint = ep;
    if (c->tls_user) { /* SIMPLE or MUTUAL */
        const struct tls_upstream *ut = c->tls_ext;
        u->tls = ut ? tls_conn_upstream(ut, fd, c->tls_sni, c->tls_sans, c->n_tls_sans) : NULL;
    } else if (e->mtls) { /* ISTIO_MUTUAL: without an identity to present, no connection */
        const struct tls_identity *id = worker_identity(wk);
        u->tls = id ? tls_conn_client(id, fd, c->tls_sni, c->tls_sans, c->n_tls_sans) : NULL;
    }
    if (c->tls_user || e->mtls) {
        if (!u->tls) goto fail_u; /* a connect failure */
        tls_conn_resume(u->tls, &e->state->tls_session);
    }
    u->xprt = u->tls ? &tls_xprt : &sock_xprt;
    if (loop_add(&wk->loop, &u->w, LOOP_IN | LOOP_OUT)) goto fail_u;
    u->tls_kind = tls_kind(c, ep);
    u->pool = worker_pool(wk, c, ep);
    if (u->pool) u->pool->open++;
    u->pstate = c->state;
    metrics_upstream(wk->metrics, u->pstate, UP_CX_OPEN);
    if (c->limits.any) {
        atomic_fetch_add_explicit(&c->state->connections, 1, memory_order_relaxed);
        u->counted = true;
    }
    u->timer.cb = on_timer;
    wheel_arm(&wk->loop.wheel, &u->timer, now_ms() + c->limits.connect_timeout_ms);
    return u;
fail_u:
    tls_conn_free(u->tls);
    free(u);
fail_fd:
    close(fd);
    outlier_local(c, ep, OUTLIER_CONNECT_FAILED, now_ms());
    return NULL;
}

void
upstream_release(struct upstream *u, bool reusable)
{
    uint32_t limit = u->cluster->max_requests_per_conn;
    if (limit && u->requests >= limit) reusable = false;
    if (reusable && !u->eof && !u->hup && !u->failed && buf_empty(&u->in) && buf_empty(&u->out)) {
        worker_buf_shed(u->wk, &u->in);
        worker_buf_shed(u->wk, &u->out);
        worker_put_idle(u->wk, u);
    } else {
        upstream_close(u);
    }
}

void
upstream_close(struct upstream *u)
{
    u->closed = true;
    loop_kill(&u->wk->loop, &u->w);
    wheel_disarm(&u->wk->loop.wheel, &u->timer);
    tls_conn_free(u->tls);
    u->tls = NULL;
    struct idle_pool *p = u->pool;
    if (p && p->open) p->open--;
    if (u->counted) atomic_fetch_sub_explicit(&u->pstate->connections, 1, memory_order_relaxed);
    metrics_upstream(u->wk->metrics, u->pstate, UP_CX_CLOSE);
    worker_pool_freed(u->wk, p);
    worker_buf_drop(u->wk, &u->in);
    worker_buf_drop(u->wk, &u->out);
    worker_freed(u->wk, sizeof(*u));
    worker_defer_free(u->wk, u);
}
