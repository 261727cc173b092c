/* SPDX-License-Identifier: Apache-2.0 */
/* What every client connection shares, whatever its codec: its address as text, its writes
 * deferred to the end of the batch, and its move to a new generation after a reload. [W] */
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "http/conn.h"
#include "http/worker.h"

void
conn_peer_ip(const struct conn *c, char *buf, size_t len)
{
    if (c->peer_family == AF_INET6 || len < 16) {
        inet_ntop(c->peer_family == AF_INET6 ? AF_INET6 : AF_INET, c->peer, buf, (socklen_t)len);
        return;
    }
    /* IPv4 by hand: glibc's inet_ntop formats it with sprintf, on every request (XFF). */
    char *w = buf;
    for (int i = 0; i < 4; i++) {
        unsigned v = c->peer[i];
        if (v >= 100) *w++ = (char)('0' + v / 100);
        if (v >= 10) *w++ = (char)('0' + v / 10 % 10);
        *w++ = (char)('0' + v % 10);
        *w++ = i < 3 ? '.' : '\0';
    }
}

bool
conn_queue_flush(struct conn *c)
{
    struct worker *wk = c->wk;
    if (c->flush_queued) return true;
    if (wk->n_flush_conns == wk->cap_flush_conns) {
        size_t cap = wk->cap_flush_conns ? 2 * wk->cap_flush_conns : 64;
        struct conn **a = realloc(wk->flush_conns, cap * sizeof(*a));
        if (!a) return false;
        wk->flush_conns = a;
        wk->cap_flush_conns = cap;
    }
    wk->flush_conns[wk->n_flush_conns++] = c;
    c->flush_queued = true;
    return true;
}

void
conn_flush(struct worker *wk)
{
    for (size_t i = 0; i < wk->n_flush_conns; i++) {
        struct conn *c = wk->flush_conns[i];
        c->flush_queued = false;
        if (!c->closed) c->ops->pump(c);
    }
    wk->n_flush_conns = 0;
}

bool
conn_rebind(struct conn *c)
{
    struct worker_gen *g = c->wk->gen;
    if (c->gen == g) return true;
    const struct model_listener *ml = worker_listener_match(g->snap, c->ml);
    if (!ml) return false;
    worker_gen_put(c->gen);
    c->gen = worker_gen_hold(g);
    c->ml = ml;
    return true;
}
