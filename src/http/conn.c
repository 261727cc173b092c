/* SPDX-License-Identifier: Apache-2.0 */
/* What every client connection shares, whatever its codec: its address as text and its
 * move to a new generation after a reload. [W] */
#include <arpa/inet.h>
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
