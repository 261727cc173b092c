/* SPDX-License-Identifier: Apache-2.0 */
/* An HTTP/1.1 client connection whose upgrade request (WebSocket) the upstream answered 101:
 * the connection and that upstream become the two ends of a tunnel (tunnel.h), which relays
 * bytes both ways until either side ends. What was already read or queued on either side
 * (the 101 head, bytes the client sent after its request, bytes the server sent after its
 * 101) goes first. When the tunnel ends, the exchange ends: its access-log line carries code
 * 101, the bytes each way and the whole duration; then the connection closes. Routing and
 * the 101 itself are req.c's; relaying is tunnel.c's. [W] */
#include <stdlib.h>

#include "core/compiler.h"
#include "http/h1_int.h"
#include "http/tunnel.h"

/* The response flag of a tunnel's end, as Envoy reports an upgraded stream that ended so. */
static uint32_t
flag_of(enum tunnel_end why)
{
    switch (why) {
    case TUNNEL_DOWN_RESET: return RF_DC;
    case TUNNEL_UP_RESET: return RF_UC;
    case TUNNEL_IDLE_TIMEOUT: return RF_SI; /* stream_idle_timeout */
    default: return 0;
    }
}

/* Count what went through <t> in the exchange of <c> (its report is written when the
 * exchange is put back): request bytes up, response bytes down. */
static void
account(struct h1_conn *c, const struct tunnel *t)
{
    struct req *q = &c->ex->q;
    q->req_bytes += t->to_up.bytes;
    c->written += t->to_down.bytes;
}

static void
on_end(struct tunnel *t, enum tunnel_end why)
{
    struct h1_conn *c = container_of(t->down, struct h1_conn, base);
    if (c->ex) {
        c->ex->q.flags |= flag_of(why);
        account(c, t);
    }
    c->tunnel = NULL;
    worker_defer_free(c->base.wk, t);
    h1_conn_close(c);
}

void
h1_upgrade_event(struct h1_conn *c, unsigned events)
{
    tunnel_down_event(c->tunnel, events);
}

void
h1_upgrade_close(struct h1_conn *c)
{
    struct tunnel *t = c->tunnel;
    c->tunnel = NULL;
    tunnel_close(t);
    if (c->ex) account(c, t);
    free(t);
}

/* What was read or queued before the tunnel: <b>'s bytes towards the upstream (<to_up>) or
 * the client, handed to <t> and dropped from <b>. */
static int
preload(struct tunnel *t, bool to_up, struct buf *b)
{
    if (buf_empty(b)) return 0;
    if (tunnel_preload(t, to_up, buf_head(b), buf_len(b))) return -1;
    buf_consume(b, buf_len(b));
    return 0;
}

int
h1_upgrade_start(struct req *q, struct upstream *u)
{
    struct h1_conn *c = container_of(q->conn, struct h1_conn, base);
    struct worker *wk = c->base.wk;
    struct tunnel *t = calloc(1, sizeof(*t));
    /* Envoy: after the 101 the stream stays open while bytes move; its stream_idle_timeout
     * (5 min unless --stream-idle-timeout says otherwise) ends a silent one. */
    struct tunnel_limits lim = {.idle_timeout_ms = wk->opt->stream_idle_timeout_ms};
    if (!t || tunnel_start(t, wk, &c->base, u, &lim, on_end)) { /* then nothing taken */
        free(t);
        upstream_close(u);
        return -1;
    }
    /* The 101 head (c->out) goes before the server's first bytes; what the client sent
     * after its request head goes after anything the request left unsent. The tunnel
     * counts what it reads; these were read before it, and are counted here. */
    c->written += buf_len(&c->out) + buf_len(&u->in);
    q->req_bytes += buf_len(&c->in);
    if (preload(t, false, &c->out) || preload(t, false, &u->in) || preload(t, true, &u->out) ||
        preload(t, true, &c->in)) {
        tunnel_close(t);
        free(t);
        return -1;
    }
    wheel_disarm(&wk->loop.wheel, &c->timer); /* the tunnel's idle timeout replaces them */
    worker_buf_drop(wk, &c->in);
    worker_buf_drop(wk, &c->out);
    c->state = H1_TUNNEL;
    c->tunnel = t;
    /* A FIN the client sent before the 101 is read again (and passed on) by the tunnel. */
    tunnel_down_event(t, LOOP_IN | LOOP_OUT | (c->in_eof || c->in_hup ? LOOP_RDHUP : 0));
    return 0;
}
