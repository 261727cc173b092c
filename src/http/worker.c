/* SPDX-License-Identifier: Apache-2.0 */
/* Worker threads: listening sockets per worker (SO_REUSEPORT spreads connections across
 * them in the kernel), the accept handler, keep-alive pools, and freeing closed objects
 * after each batch of events so no callback in the batch sees freed memory. */
#include "http/worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/compiler.h"
#include "core/sock.h"
#include "http/h1_int.h"

#define IDLE_PER_ENDPOINT 128

static void
on_accept(struct loop_watch *w, unsigned events)
{
    (void)events;
    struct worker_listener *wl = container_of(w, struct worker_listener, w);
    /* Edge-triggered: drain the backlog until EAGAIN, or connections left in it would
     * wait for the next one to arrive. */
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t len;
        int fd = sock_accept(w->fd, &peer, &len);
        if (fd == -EAGAIN) return;
        if (fd < 0) {
            if (fd == -EMFILE || fd == -ENFILE) return; /* retried on the next edge */
            continue;
        }
        h1_conn_accept(wl->wk, wl->ml, fd, &peer);
    }
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
    h1_resume_waiters(wk);
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
        if (cap > 256) { /* keep at most 4 MiB of spare blocks after a burst */
            free(block);
            return;
        }
        void **b = realloc(wk->blocks, cap * sizeof(*b));
        if (!b) {
            free(block);
            return;
        }
        wk->blocks = b;
        wk->cap_blocks = cap;
    }
    wk->blocks[wk->n_blocks++] = block;
}

struct idle_pool *
worker_pool(struct worker *wk, const struct model_cluster *c, size_t ep)
{
    if (!wk->idle[c->index]) {
        wk->idle[c->index] = calloc(c->n_endpoints + 1, sizeof(struct idle_pool));
        if (!wk->idle[c->index]) return NULL;
    }
    return &wk->idle[c->index][ep];
}

struct upstream *
worker_take_idle(struct worker *wk, const struct model_cluster *c, size_t ep)
{
    struct idle_pool *p = worker_pool(wk, c, ep);
    if (!p || !p->head) return NULL;
    struct upstream *u = p->head;
    p->head = u->next;
    if (u->next) u->next->prev = NULL;
    u->next = u->prev = NULL;
    u->reused = true;
    p->n--;
    upstream_idle_timer(u, false);
    return u;
}

void
worker_unlink_idle(struct worker *wk, struct upstream *u)
{
    struct idle_pool *p = worker_pool(wk, u->cluster, u->endpoint);
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
worker_pool_freed(struct worker *wk, const struct model_cluster *c, size_t ep)
{
    struct idle_pool *p = wk->idle[c->index] ? &wk->idle[c->index][ep] : NULL;
    if (!p || !p->waiters.head) return;
    struct wait_node *n = p->waiters.head;
    wait_unlink(n);
    wait_push(&wk->ready, n);
}

void
worker_put_idle(struct worker *wk, struct upstream *u)
{
    struct idle_pool *p = worker_pool(wk, u->cluster, u->endpoint);
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
    worker_pool_freed(wk, u->cluster, u->endpoint);
}

int
worker_init(struct worker *wk, int id, struct snapshot *snap, const struct proxy_options *opt,
            char *err, size_t err_len)
{
    memset(wk, 0, sizeof(*wk));
    wk->id = id;
    wk->opt = opt;
    int rc = loop_init(&wk->loop);
    if (rc) {
        snprintf(err, err_len, "epoll: %s", strerror(-rc));
        return rc;
    }
    wk->snap = model_acquire(snap);
    if (split_init(&wk->split, snap)) return -ENOMEM;
    wk->rr = calloc(snap->n_clusters + 1, sizeof(*wk->rr));
    wk->active = calloc(snap->n_clusters + 1, sizeof(*wk->active));
    wk->idle = calloc(snap->n_clusters + 1, sizeof(*wk->idle));
    wk->listeners = calloc(snap->n_listeners + 1, sizeof(*wk->listeners));
    if (!wk->rr || !wk->active || !wk->idle || !wk->listeners) return -ENOMEM;
    for (size_t i = 0; i < snap->n_listeners; i++) {
        const struct model_listener *ml = &snap->listeners[i];
        struct sockaddr_storage addr = ml->mesh ? opt->mesh_addr : opt->gateway_addr;
        socklen_t len = ml->mesh ? opt->mesh_addr_len : opt->gateway_addr_len;
        if (!ml->mesh) {
            if (addr.ss_family == AF_INET6)
                ((struct sockaddr_in6 *)&addr)->sin6_port = htons(ml->port);
            else
                ((struct sockaddr_in *)&addr)->sin_port = htons(ml->port);
        }
        int fd = sock_listen((struct sockaddr *)&addr, len, 1024);
        if (fd < 0) {
            snprintf(err, err_len, "listen for %s (port %u): %s", ml->name, ml->port,
                     strerror(-fd));
            return fd;
        }
        struct worker_listener *wl = &wk->listeners[wk->n_listeners++];
        wl->w.fd = fd;
        wl->w.cb = on_accept;
        wl->wk = wk;
        wl->ml = ml;
        rc = loop_add(&wk->loop, &wl->w, LOOP_IN);
        if (rc) return rc;
    }
    return 0;
}

static void *
worker_main(void *arg)
{
    struct worker *wk = arg;
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
    for (size_t i = 0; i < wk->n_listeners; i++) close(wk->listeners[i].w.fd);
    while (wk->conns) {
        struct h1_conn *c = wk->conns;
        h1_conn_close(c);
    }
    shadow_close_all(wk);
    for (size_t i = 0; wk->idle && i < wk->snap->n_clusters; i++) {
        if (!wk->idle[i]) continue;
        for (size_t e = 0; e < wk->snap->clusters[i]->n_endpoints; e++) {
            while (wk->idle[i][e].head) {
                struct upstream *u = worker_take_idle(wk, wk->snap->clusters[i], e);
                upstream_close(u);
            }
        }
        free(wk->idle[i]);
    }
    reap(wk);
    free(wk->dead);
    wk->dead = NULL;
    while (wk->free_ex) {
        struct h1_exchange *ex = wk->free_ex;
        wk->free_ex = ex->next_free;
        free(ex);
    }
    for (size_t i = 0; i < wk->n_blocks; i++) free(wk->blocks[i]);
    free(wk->blocks);
    free(wk->idle);
    for (size_t i = 0; wk->rr && i < wk->snap->n_clusters; i++) free(wk->rr[i]);
    for (size_t i = 0; wk->active && i < wk->snap->n_clusters; i++) free(wk->active[i]);
    free(wk->rr);
    free(wk->active);
    free(wk->listeners);
    split_fini(&wk->split);
    if (wk->snap) model_release(wk->snap);
    loop_fini(&wk->loop);
}
