/* SPDX-License-Identifier: Apache-2.0 */
/* Worker threads: listening sockets per worker (SO_REUSEPORT spreads connections across
 * them in the kernel), the accept handler, keep-alive pools, generations (the switch to a
 * reloaded snapshot, and draining), and freeing closed objects after each batch of events
 * so no callback in the batch sees freed memory. */
#include "http/worker.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/compiler.h"
#include "core/log.h"
#include "core/now.h"
#include "core/sock.h"
#include "http/h1_int.h"
#include "http/listener.h"
#include "http/overload.h"
#include "model/endpoint.h"

#define IDLE_PER_ENDPOINT 128

#define ACCEPT_RETRY_MS 100 /* accepting paused for want of fds or memory resumes then */

static void
on_accept(struct loop_watch *w, unsigned events)
{
    (void)events;
    struct worker_listener *wl = container_of(w, struct worker_listener, w);
    struct worker *wk = wl->wk;
    /* Edge-triggered: drain the backlog until EAGAIN, or connections left in it would
     * wait for the next one to arrive. */
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t len;
        int fd = overload_accept(wl, &peer, &len);
        if (fd == -EAGAIN) return;
        if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
            /* No edge will come for what waits in the queue: look again soon. */
            if (!wheel_armed(&wk->accept_retry))
                wheel_arm(&wk->loop.wheel, &wk->accept_retry, now_ms() + ACCEPT_RETRY_MS);
            return;
        }
        if (fd < 0) continue; /* gone before its turn, or refused for want of fds */
        if (!overload_admit(wk)) {
            overload_refuse(wl, fd);
            continue;
        }
        listener_accept(wk, wl->ml, fd, &peer);
    }
}

static void
on_accept_retry(struct wheel_timer *t)
{
    struct worker *wk = container_of(t, struct worker, accept_retry);
    for (size_t i = 0; i < wk->n_listeners; i++) on_accept(&wk->listeners[i]->w, LOOP_IN);
}

void
worker_buf_ensure(struct worker *wk, struct buf *b)
{
    if (!b->data) buf_attach(b, worker_block_get(wk), WORKER_BLOCK_BYTES);
}

void
worker_buf_shed(struct worker *wk, struct buf *b)
{
    if (!b->data || !buf_empty(b)) return;
    size_t size;
    void *p = buf_detach(b, &size);
    if (size == WORKER_BLOCK_BYTES) {
        worker_block_put(wk, p);
    } else {
        free(p);
        worker_freed(wk, size);
    }
}

void
worker_buf_drop(struct worker *wk, struct buf *b)
{
    b->rd = b->wr = 0;
    worker_buf_shed(wk, b);
}

void
worker_conn_opened(struct worker *wk, struct conn *c)
{
    atomic_fetch_add_explicit(&wk->n_conns, 1, memory_order_relaxed);
    if (wk->opt->downstream_cx)
        atomic_fetch_add_explicit(wk->opt->downstream_cx, 1, memory_order_relaxed);
    c->next = wk->conns;
    c->prev = NULL;
    if (wk->conns) wk->conns->prev = c;
    wk->conns = c;
}

void
worker_conn_closed(struct worker *wk, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        wk->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    atomic_fetch_sub_explicit(&wk->n_conns, 1, memory_order_relaxed);
    if (wk->opt->downstream_cx)
        atomic_fetch_sub_explicit(wk->opt->downstream_cx, 1, memory_order_relaxed);
}

bool
worker_gen_ready(struct worker_gen *g, const struct model_cluster *cl)
{
    if (!g->rr[cl->index]) g->rr[cl->index] = calloc(cl->n_endpoints + 1, sizeof(int64_t));
    return g->rr[cl->index] != NULL;
}

void
worker_defer_free(struct worker *wk, void *p)
{
    if (wk->n_dead == wk->cap_dead) {
        size_t cap = wk->cap_dead ? wk->cap_dead * 2 : 64;
        void **d = realloc(wk->dead, cap * sizeof(*d));
        if (!d) abort(); /* cannot leak safely; this is tiny and rare */
        wk->dead = d;
        wk->cap_dead = cap;
    }
    wk->dead[wk->n_dead++] = p;
}

static void
reap(void *arg)
{
    struct worker *wk = arg;
    wk->defer_writes = false;
    req_resume_waiters(wk);
    conn_flush(wk);
    h1_upstream_flush(wk);
    h2_upstream_wake_deferred(wk);
    wk->defer_writes = true;
    for (size_t i = 0; i < wk->n_dead; i++) free(wk->dead[i]);
    wk->n_dead = 0;
}

void
wait_push(struct wait_list *l, struct wait_node *n)
{
    n->list = l;
    n->next = NULL;
    n->prev = l->tail;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
}

void
wait_unlink(struct wait_node *n)
{
    struct wait_list *l = n->list;
    if (!l) return;
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->prev = n->next = NULL;
    n->list = NULL;
}

void *
worker_block_get(struct worker *wk)
{
    if (wk->n_blocks) return wk->blocks[--wk->n_blocks];
    return malloc(WORKER_BLOCK_BYTES);
}

void
worker_block_put(struct worker *wk, void *block)
{
    if (wk->n_blocks == wk->cap_blocks) {
        size_t cap = wk->cap_blocks ? wk->cap_blocks * 2 : 64;
        void **b = cap > 256 ? NULL : realloc(wk->blocks, cap * sizeof(*b));
        if (!b) { /* keep at most 4 MiB of spare blocks after a burst */
            free(block);
            worker_freed(wk, WORKER_BLOCK_BYTES);
            return;
        }
        wk->blocks = b;
        wk->cap_blocks = cap;
    }
    wk->blocks[wk->n_blocks++] = block;
}

#define TRIM_AFTER_BYTES (1u << 20) /* freed past the pools before a trim is due */
#define TRIM_DELAY_MS 1000          /* after the first of them, and again while frees go on */
#define BLOCKS_KEPT_AFTER_TRIM 64   /* 1 MiB of spare blocks */

void
worker_freed(struct worker *wk, size_t bytes)
{
    wk->freed_bytes += bytes;
    wk->last_freed_ms = now_ms();
    if (wk->freed_bytes >= TRIM_AFTER_BYTES && !wheel_armed(&wk->trim_timer))
        wheel_arm(&wk->loop.wheel, &wk->trim_timer, now_ms() + TRIM_DELAY_MS);
}

/* After a burst of closes: spare blocks down to a few, and free memory back to the system.
 * glibc keeps freed chunks in its arenas (a worker's own, here) and returns only the top of
 * a heap by itself; malloc_trim(0) also releases the free pages inside them. A burst may
 * last longer than the delay (responses and closes trickling in on a loaded machine), and
 * its last frees are what empty whole pages: so while frees go on, trim again a delay
 * later, until a delay has passed with none. */
static void
on_trim(struct wheel_timer *t)
{
    struct worker *wk = container_of(t, struct worker, trim_timer);
    if (wk->freed_bytes == 0) return;
    while (wk->n_blocks > BLOCKS_KEPT_AFTER_TRIM) free(wk->blocks[--wk->n_blocks]);
    wk->freed_bytes = 0;
    malloc_trim(0);
    uint64_t now = now_ms();
    if (now - wk->last_freed_ms < TRIM_DELAY_MS)
        wheel_arm(&wk->loop.wheel, &wk->trim_timer, now + TRIM_DELAY_MS);
}

struct idle_pool *
worker_pool(struct worker *wk, const struct model_cluster *c, size_t ep)
{
    uint32_t id = c->endpoints[ep].state->id;
    if (id >= wk->n_pools) { /* endpoints new since the last pool this worker opened */
        size_t n = endpoint_state_count();
        if (n <= id) n = (size_t)id + 1;
        struct idle_pool **p = realloc(wk->pools, n * sizeof(*p));
        if (!p) return NULL;
        memset(p + wk->n_pools, 0, (n - wk->n_pools) * sizeof(*p));
        wk->pools = p;
        wk->n_pools = n;
    }
    if (!wk->pools[id]) wk->pools[id] = calloc(1, sizeof(struct idle_pool));
    return wk->pools[id];
}

struct upstream *
worker_take_idle(struct worker *wk, const struct model_cluster *c, size_t ep)
{
    struct idle_pool *p = worker_pool(wk, c, ep);
    while (p && p->head) {
        struct upstream *u = p->head;
        p->head = u->next;
        if (u->next) u->next->prev = NULL;
        u->next = u->prev = NULL;
        p->n--;
        upstream_idle_timer(u, false);
        /* Parked under an earlier snapshot whose TLS for this pool differs: not reusable. */
        if (!upstream_fits(u, c, ep)) {
            upstream_close(u);
            continue;
        }
        u->cluster = c;
        u->endpoint = ep;
        return u;
    }
    return NULL;
}

void
worker_unlink_idle(struct worker *wk, struct upstream *u)
{
    (void)wk;
    struct idle_pool *p = u->pool;
    if (!p) return;
    if (u->prev)
        u->prev->next = u->next;
    else if (p->head == u)
        p->head = u->next;
    else
        return; /* not in the pool */
    if (u->next) u->next->prev = u->prev;
    u->next = u->prev = NULL;
    p->n--;
}

void
worker_pool_freed(struct worker *wk, struct idle_pool *p)
{
    if (!p || !p->waiters.head) return;
    struct wait_node *n = p->waiters.head;
    wait_unlink(n);
    wait_push(&wk->ready, n);
}

void
worker_put_idle(struct worker *wk, struct upstream *u)
{
    struct idle_pool *p = u->pool;
    if (!p || p->n >= IDLE_PER_ENDPOINT) {
        upstream_close(u);
        return;
    }
    u->owner = NULL;
    u->prev = NULL;
    u->next = p->head;
    if (p->head) p->head->prev = u;
    p->head = u;
    p->n++;
    upstream_idle_timer(u, true);
    u->cluster = NULL; /* the snapshot may go while it is parked; the next taker sets it */
    worker_pool_freed(wk, p);
}

/* Room in wk->active for every endpoint state that exists now (those of a snapshot are
 * made before it is published): false when out of memory. */
static bool
active_grow(struct worker *wk)
{
    size_t n = endpoint_state_count();
    if (n <= wk->n_active) return true;
    uint32_t *a = realloc(wk->active, n * sizeof(*a));
    if (!a) return false;
    memset(a + wk->n_active, 0, (n - wk->n_active) * sizeof(*a));
    wk->active = a;
    wk->n_active = n;
    return true;
}

static struct worker_gen *
gen_new(struct worker *wk, struct snapshot *snap)
{
    struct worker_gen *g = calloc(1, sizeof(*g));
    if (!g) return NULL;
    g->snap = snap;
    g->users = 1;
    g->rr = calloc(snap->n_clusters + 1, sizeof(*g->rr));
    if (!g->rr || !active_grow(wk) || split_init(&g->split, snap, (size_t)wk->id)) {
        free(g->rr);
        free(g);
        return NULL;
    }
    return g;
}

/* <g> takes over what <old> learnt: the round-robin cursor of every endpoint that stays in
 * its pool (found by its state, which outlives snapshots), and, when both were built from
 * the same config, the split counters (the routes are then laid out alike).
 * Best effort: what cannot be allocated starts afresh. */
static void
gen_carry(struct worker_gen *g, const struct worker_gen *old)
{
    const struct snapshot *ns = g->snap, *os = old->snap;
    if (ns->digest && ns->digest == os->digest && ns->n_split_slots == os->n_split_slots) {
        size_t n = ns->n_split_slots + 1;
        /* the positions only: /splits counts start again with each config version */
        memcpy(g->split.current, old->split.current, n * sizeof(*g->split.current));
    }
    size_t n_pools = pool_state_count(), n_eps = endpoint_state_count();
    size_t *cl_of = malloc(n_pools * sizeof(*cl_of)); /* pool state id -> old cluster */
    size_t *ep_of = calloc(n_eps, sizeof(*ep_of));    /* endpoint state id -> old index */
    for (size_t i = 0; cl_of && i < n_pools; i++) cl_of[i] = SIZE_MAX;
    for (size_t i = 0; cl_of && i < os->n_clusters; i++)
        if (old->rr[i]) cl_of[os->clusters[i]->state->id] = i;
    for (size_t i = 0; cl_of && ep_of && i < ns->n_clusters; i++) {
        const struct model_cluster *nc = ns->clusters[i];
        size_t k = cl_of[nc->state->id];
        if (k == SIZE_MAX || !worker_gen_ready(g, nc)) continue;
        const struct model_cluster *oc = os->clusters[k];
        for (size_t e = 0; e < oc->n_endpoints; e++) ep_of[oc->endpoints[e].state_id] = e;
        for (size_t e = 0; e < nc->n_endpoints; e++) { /* a stale entry fails the check */
            size_t from = ep_of[nc->endpoints[e].state_id];
            if (from < oc->n_endpoints && oc->endpoints[from].state_id == nc->endpoints[e].state_id)
                g->rr[i][e] = old->rr[k][from];
        }
    }
    free(cl_of);
    free(ep_of);
}

void
worker_gen_put(struct worker_gen *g)
{
    if (!g || --g->users) return;
    for (size_t i = 0; i < g->snap->n_clusters; i++) free(g->rr[i]);
    free(g->rr);
    split_fini(&g->split);
    model_release(g->snap);
    free(g);
}

/* The listener of <snap> that takes over from <ml> (of an earlier snapshot): the same port,
 * place (gateway, mesh, mesh service port, inbound) and kind (a port that changes from HTTP
 * to TCP gets a new socket; connections of the old kind finish on the old snapshot). NULL
 * when the reload removed it. */
const struct model_listener *
worker_listener_match(const struct snapshot *snap, const struct model_listener *ml)
{
    for (size_t i = 0; i < snap->n_listeners; i++) {
        const struct model_listener *l = &snap->listeners[i];
        if (l->port == ml->port && l->mesh == ml->mesh && l->inbound == ml->inbound &&
            l->service_port == ml->service_port && l->kind == ml->kind)
            return l;
    }
    return NULL;
}

static int
listen_for(struct worker *wk, const struct model_listener *ml, struct worker_listener **out)
{
    const struct proxy_options *opt = wk->opt;
    struct sockaddr_storage addr = ml->mesh ? opt->mesh_addr : opt->gateway_addr;
    socklen_t len = ml->mesh ? opt->mesh_addr_len : opt->gateway_addr_len;
    /* A mesh service port (TCP, TLS) binds the mesh address's IP with its own port. */
    if (!ml->mesh || ml->service_port) {
        if (addr.ss_family == AF_INET6)
            ((struct sockaddr_in6 *)&addr)->sin6_port = htons(ml->port);
        else
            ((struct sockaddr_in *)&addr)->sin_port = htons(ml->port);
    }
    int fd = sock_listen((struct sockaddr *)&addr, len, 1024);
    if (fd < 0) return fd;
    struct worker_listener *wl = calloc(1, sizeof(*wl));
    if (!wl) {
        close(fd);
        return -ENOMEM;
    }
    wl->w.fd = fd;
    wl->w.cb = on_accept;
    wl->wk = wk;
    wl->ml = ml;
    int rc = loop_add(&wk->loop, &wl->w, LOOP_IN);
    if (rc) {
        close(fd);
        free(wl);
        return rc;
    }
    *out = wl;
    return 0;
}

static void
close_listeners(struct worker *wk)
{
    for (size_t i = 0; i < wk->n_listeners; i++) {
        loop_kill(&wk->loop, &wk->listeners[i]->w);
        worker_defer_free(wk, wk->listeners[i]);
    }
    wk->n_listeners = 0;
}

/* Serve <snap> from now on: listening sockets of ports that remain are kept (their accept
 * queues with them), new ports are bound, removed ones closed; idle client connections move
 * to the new generation at once, busy ones when their next request starts. */
static void
switch_to(struct worker *wk, struct snapshot *snap)
{
    struct worker_gen *g = gen_new(wk, snap);
    struct worker_listener **ls = calloc(snap->n_listeners + 1, sizeof(*ls));
    if (!g || !ls) {
        log_msg(LOG_ERROR, "worker %d: out of memory; config version %llu not applied", wk->id,
                (unsigned long long)snap->version);
        free(ls);
        if (g)
            worker_gen_put(g);
        else
            model_release(snap);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < snap->n_listeners && !wk->draining; i++) {
        const struct model_listener *ml = &snap->listeners[i];
        struct worker_listener *wl = NULL;
        for (size_t k = 0; k < wk->n_listeners && !wl; k++) {
            struct worker_listener *old = wk->listeners[k];
            if (old && worker_listener_match(snap, old->ml) == ml) {
                wl = old;
                wk->listeners[k] = NULL;
            }
        }
        int rc = wl ? 0 : listen_for(wk, ml, &wl);
        if (rc) {
            if (wk->id == 0)
                log_msg(LOG_ERROR, "listen for %s (port %u): %s", ml->name, ml->port,
                        strerror(-rc));
            continue;
        }
        wl->ml = ml;
        ls[n++] = wl;
    }
    for (size_t k = 0; k < wk->n_listeners; k++) {
        if (!wk->listeners[k]) continue;
        /* A removed port: connections already queued would be reset with the socket;
         * they are taken (on the old generation) and answered once, with close. */
        on_accept(&wk->listeners[k]->w, LOOP_IN);
        loop_kill(&wk->loop, &wk->listeners[k]->w);
        worker_defer_free(wk, wk->listeners[k]);
    }
    free(wk->listeners);
    wk->listeners = ls;
    wk->n_listeners = n;
    struct worker_gen *old = wk->gen;
    gen_carry(g, old);
    wk->gen = g;
    for (struct conn *c = wk->conns, *next; c; c = next) {
        next = c->next;
        c->ops->rebind_idle(c);
    }
    worker_gen_put(old);
}

static void
on_mail(struct loop_watch *w, unsigned events)
{
    (void)events;
    struct worker *wk = container_of(w, struct worker, mail);
    uint64_t v;
    while (read(w->fd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
    }
    struct snapshot *snap = atomic_exchange(&wk->next_snap, NULL);
    if (snap) switch_to(wk, snap);
    if (atomic_load(&wk->drain) && !wk->draining) {
        wk->draining = true;
        /* Connections the kernel already completed would be reset with the socket: take
         * them first; each gets its answer and `connection: close`. */
        for (size_t i = 0; i < wk->n_listeners; i++) on_accept(&wk->listeners[i]->w, LOOP_IN);
        close_listeners(wk);
        for (struct conn *c = wk->conns, *next; c; c = next) {
            next = c->next;
            c->ops->drain(c);
        }
    }
}

static void
mail(struct worker *wk)
{
    uint64_t one = 1;
    if (write(wk->mail.fd, &one, sizeof(one)) < 0) { /* the counter is full: a wakeup is due */
    }
}

void
worker_publish(struct worker *wk, struct snapshot *snap)
{
    struct snapshot *old = atomic_exchange(&wk->next_snap, snap);
    if (old) model_release(old); /* never applied: a newer one came first */
    mail(wk);
}

void
worker_drain(struct worker *wk)
{
    atomic_store(&wk->drain, true);
    mail(wk);
}

int
worker_init(struct worker *wk, int id, struct snapshot *snap, const struct proxy_options *opt,
            char *err, size_t err_len)
{
    memset(wk, 0, sizeof(*wk));
    wk->id = id;
    wk->opt = opt;
    wk->mail.fd = -1;
    wk->reserve_fd = overload_reserve_open();
    wk->accept_retry.cb = on_accept_retry;
    wk->trim_timer.cb = on_trim;
    int rc = loop_init(&wk->loop);
    if (rc) {
        snprintf(err, err_len, "epoll: %s", strerror(-rc));
        return rc;
    }
    wk->gen = gen_new(wk, model_acquire(snap));
    wk->listeners = calloc(snap->n_listeners + 1, sizeof(*wk->listeners));
    if (!wk->gen || !wk->listeners) {
        if (!wk->gen) model_release(snap);
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    wk->alog.log = opt->access_log;
    wk->metrics = metrics_shard_new(&opt->local);
    if (!wk->metrics || !mx_init(&wk->mx, &opt->local)) {
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    wk->mail.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    wk->mail.cb = on_mail;
    if (wk->mail.fd < 0 || (rc = loop_add(&wk->loop, &wk->mail, LOOP_IN))) {
        snprintf(err, err_len, "eventfd: %s", strerror(errno));
        return -EIO;
    }
    for (size_t i = 0; i < snap->n_listeners; i++) {
        const struct model_listener *ml = &snap->listeners[i];
        rc = listen_for(wk, ml, &wk->listeners[wk->n_listeners]);
        if (rc && ml->service_port) { /* a service's port (perhaps below 1024): not fatal */
            if (wk->id == 0)
                log_msg(LOG_ERROR, "listen for %s (port %u): %s", ml->name, ml->port,
                        strerror(-rc));
            continue;
        }
        if (rc) {
            snprintf(err, err_len, "listen for %s (port %u): %s", ml->name, ml->port,
                     strerror(-rc));
            return rc;
        }
        wk->n_listeners++;
    }
    return 0;
}

static void
on_alog_timer(struct wheel_timer *t)
{
    struct worker *wk = container_of(t, struct worker, alog_timer);
    access_log_flush(&wk->alog);
    wheel_arm(&wk->loop.wheel, &wk->alog_timer, now_ms() + 1000);
}

static void *
worker_main(void *arg)
{
    struct worker *wk = arg;
    if (wk->alog.log) {
        wk->alog_timer.cb = on_alog_timer;
        wheel_arm(&wk->loop.wheel, &wk->alog_timer, now_ms() + 1000);
    }
    loop_run(&wk->loop, reap, wk);
    return NULL;
}

int
worker_start(struct worker *wk)
{
    return -pthread_create(&wk->thread, NULL, worker_main, wk);
}

void
worker_stop(struct worker *wk)
{
    loop_stop(&wk->loop);
}

void
worker_join(struct worker *wk, bool started)
{
    if (started) pthread_join(wk->thread, NULL);
    for (size_t i = 0; i < wk->n_listeners; i++) {
        close(wk->listeners[i]->w.fd);
        free(wk->listeners[i]);
    }
    while (wk->conns) wk->conns->ops->close(wk->conns);
    mirror_close_all(wk);
    h2_upstream_close_all(wk);
    for (size_t i = 0; i < wk->n_pools; i++) {
        struct idle_pool *p = wk->pools[i];
        while (p && p->head) {
            struct upstream *u = p->head;
            worker_unlink_idle(wk, u);
            upstream_close(u);
        }
        free(p);
    }
    free(wk->pools);
    reap(wk);
    free(wk->active);
    wk->active = NULL;
    free(wk->dead);
    wk->dead = NULL;
    free(wk->flush_conns);
    wk->flush_conns = NULL;
    free(wk->wake_ups);
    wk->wake_ups = NULL;
    while (wk->free_ex) {
        struct h1_exchange *ex = wk->free_ex;
        wk->free_ex = ex->next_free;
        free(ex);
    }
    for (size_t i = 0; i < wk->n_blocks; i++) free(wk->blocks[i]);
    free(wk->blocks);
    free(wk->listeners);
    worker_gen_put(wk->gen);
    model_release(atomic_exchange(&wk->next_snap, NULL));
    if (wk->mail.fd >= 0) close(wk->mail.fd);
    if (wk->reserve_fd >= 0) close(wk->reserve_fd);
    access_log_flush(&wk->alog);
    free(wk->alog.data);
    metrics_shard_free(wk->metrics);
    wk->metrics = NULL;
    mx_fini(&wk->mx);
    loop_fini(&wk->loop);
}
