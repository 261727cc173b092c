/* SPDX-License-Identifier: Apache-2.0 */
/* A TCP proxy connection: (TLS handshake, or the ClientHello's SNI) -> route -> weighted
 * destination -> endpoint -> connect (another endpoint after a failure) -> tunnel. Each
 * connection is one pick of the split, so the split is exact per connection. */
#include "http/tcp_conn.h"

#include <arpa/inet.h>
#include <time.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/compiler.h"
#include "core/log.h"
#include "core/now.h"
#include "http/access_log.h"
#include "http/conn.h"
#include "http/metrics.h"
#include "http/mx.h"
#include "http/tunnel.h"
#include "http/upstream.h"
#include "http/worker.h"
#include "lb/lb.h"
#include "lb/outlier.h"
#include "lb/split.h"
#include "model/endpoint.h"
#include "model/route.h"
#include "tls/client_hello.h"
#include "tls/conn.h"
#include "tls/sniff.h"

/* How long a passthrough client may take to send its whole ClientHello (Envoy's
 * listener_filters_timeout default); a client of a port that terminates TLS gets as long
 * for its handshake, or a silent one would hold its connection for ever. On a PERMISSIVE
 * port a client silent that long is taken as plain text, as Istio's inbound listeners
 * continue on that timeout: a protocol whose server speaks first works, late. */
#define HELLO_TIMEOUT_MS 15000
/* Connect attempts, each to an endpoint not tried yet where there is one: the first and
 * two more, as Istio's default HTTP retry policy allows. */
#define CONNECT_ATTEMPTS 3

enum tc_phase { TC_SNIFF, TC_HANDSHAKE, TC_HELLO, TC_CONNECTING, TC_RELAY };

struct tcp_conn {
    struct conn base;
    struct tunnel tun;
    enum tc_phase phase;
    bool in_ready, in_hup;
    struct buf hello; /* passthrough: what the client sent before the route was known */
    struct sockaddr_storage local; /* AF_UNSPEC until asked for (local_addr) */
    const struct model_route *route;
    const struct model_cluster *cl;
    size_t ep;
    struct upstream *up; /* while connecting; the tunnel owns it afterwards */
    bool counted_active; /* in the generation's in-flight count of cl/ep */
    uint64_t tried;      /* endpoints tried (the first 64) */
    unsigned attempts;
    uint32_t flags;           /* response flags */
    struct wheel_timer timer; /* the ClientHello's (or the handshake's) deadline */
    uint64_t start_ms;
    uint64_t start_us, start_wall_ms;
    /* Istio's TCP metadata exchange (ALPN istio-peer-exchange): the peer it named (inbound:
     * the client, else the upstream). */
    const struct peer_metadata *peer;
    struct metrics_tcp *series;          /* its TCP series, once connected (and exchanged) */
    uint64_t reported_sent, reported_rx; /* bytes already counted in it */
    char sni[256];
};

static void tc_close(struct tcp_conn *tc);

static const char *
tc_name(const struct tcp_conn *tc)
{
    return tc->base.ml ? tc->base.ml->name : "tcp";
}

static void
uncount(struct tcp_conn *tc)
{
    if (!tc->counted_active) return;
    tc->counted_active = false;
    worker_active_sub(tc->base.wk, tc->cl, tc->ep);
}

/* The connection's series, chosen once: when its upstream is up, or at its end. */
static void
open_series(struct tcp_conn *tc)
{
    const struct model_listener *ml = tc->base.ml;
    struct tcp_record r = {
        .inbound = ml->inbound,
        .peer_mtls = ml->inbound && tc->base.tls && tc->base.secured,
        .peer_principal = ml->inbound && tc->base.tls && tc->base.secured
                              ? tls_conn_peer_uri(tc->base.tls)
                              : NULL,
        .cluster = tc->cl,
        .endpoint = tc->cl && tc->phase >= TC_CONNECTING ? tc->ep : SIZE_MAX,
        .flags = tc->flags,
        .peer = tc->peer,
    };
    tc->series = metrics_tcp_open(tc->base.wk->metrics, &r);
}

/* Bytes moved since the last report; none before the series is open (they are counted
 * in it once it is). */
static void
report_bytes(struct tcp_conn *tc)
{
    if (!tc->series) return;
    uint64_t sent = tc->tun.to_down.bytes, rx = tc->tun.to_up.bytes;
    metrics_tcp_bytes(tc->series, sent - tc->reported_sent, rx - tc->reported_rx);
    tc->reported_sent = sent;
    tc->reported_rx = rx;
}

static void
on_tunnel_moved(struct tunnel *t)
{
    report_bytes(container_of(t, struct tcp_conn, tun));
}

static void
on_tunnel_end(struct tunnel *t, enum tunnel_end why)
{
    struct tcp_conn *tc = container_of(t, struct tcp_conn, tun);
    switch (why) {
    case TUNNEL_DOWN_RESET: tc->flags |= RF_DC; break;
    case TUNNEL_UP_RESET: tc->flags |= RF_UC; break;
    case TUNNEL_IDLE_TIMEOUT: break; /* Envoy's tcp_proxy counts it, with no flag */
    case TUNNEL_MAX_DURATION: tc->flags |= RF_DT; break;
    default: break;
    }
    tc_close(tc);
}

static void connect_next(struct tcp_conn *tc);

/* The peer's exchange came (or what came was none): the series opens, naming it. */
static void
on_prefix(struct tunnel *t, const unsigned char *payload, size_t n)
{
    struct tcp_conn *tc = container_of(t, struct tcp_conn, tun);
    if (payload) tc->peer = mx_peer_tcp(&tc->base.wk->mx, payload, n);
    open_series(tc);
    report_bytes(tc);
}

/* Ours, first on a connection whose handshake chose the exchange: toward an upstream (as a
 * gateway's or a sidecar's), or toward an inbound's client. Istio's peer writes its own
 * without waiting for ours, so neither side waits: ours goes first, theirs is taken out
 * of what they send (tunnel_dir.prefix). */
static int
preload_exchange(struct tcp_conn *tc, bool to_up)
{
    const struct mx *x = &tc->base.wk->mx;
    bool router = to_up && !tc->base.ml->mesh && !tc->base.ml->inbound;
    return tunnel_preload(&tc->tun, to_up, router ? x->tcp_router : x->tcp_sidecar,
                          router ? x->tcp_router_len : x->tcp_sidecar_len);
}

static void
start_relay(struct tcp_conn *tc)
{
    struct upstream *u = tc->up;
    bool up_exchange = u->tls && tls_conn_peer_exchange(u->tls);
    bool down_exchange =
        tc->base.ml->inbound && tc->base.tls && tls_conn_peer_exchange(tc->base.tls);
    const struct model_limits *l = &tc->cl->limits;
    struct tunnel_limits lim = {.idle_timeout_ms = l->tcp_idle_timeout_ms,
                                .max_duration_ms = l->max_connection_duration_ms};
    tc->up = NULL;
    if (tunnel_start(&tc->tun, tc->base.wk, &tc->base, u, &lim, on_tunnel_end)) {
        upstream_close(u);
        tc_close(tc);
        return;
    }
    tc->phase = TC_RELAY;
    tc->tun.moved = on_tunnel_moved;
    /* the series waits for the peer's exchange, to name it */
    if (up_exchange) tc->tun.to_down.prefix = on_prefix;
    if (down_exchange) tc->tun.to_up.prefix = on_prefix;
    if (!up_exchange && !down_exchange) open_series(tc);
    if ((up_exchange && preload_exchange(tc, true)) ||
        (down_exchange && preload_exchange(tc, false)) ||
        (buf_len(&tc->hello) &&
         tunnel_preload(&tc->tun, true, buf_head(&tc->hello), buf_len(&tc->hello)))) {
        tunnel_close(&tc->tun);
        tc_close(tc);
        return;
    }
    tc->tun.to_up.bytes += buf_len(&tc->hello); /* the client's, read before: counted too */
    worker_buf_drop(tc->base.wk, &tc->hello);
    tc->tun.to_up.hup = tc->in_hup;
    tunnel_down_event(&tc->tun, 0);
}

/* The upstream being connected had news: connected (relay), failed (another endpoint), or
 * still on its way. */
static void
on_connect_event(struct upstream *u)
{
    struct tcp_conn *tc = u->user;
    if (u->connected && !u->failed) {
        start_relay(tc);
        return;
    }
    if (!u->failed) return;
    outlier_local(tc->cl, tc->ep, OUTLIER_CONNECT_FAILED, now_ms());
    metrics_upstream_code(tc->base.wk->metrics, tc->cl, tc->ep, 503);
    tc->up = NULL;
    u->user = NULL;
    upstream_close(u);
    uncount(tc);
    connect_next(tc);
}

static const struct upstream_ops tcp_connect_ops = {.event = on_connect_event};

/* The client address as consistentHash useSourceIp hashes it (as for HTTP). */
static bool
source_hash(const struct tcp_conn *tc, uint64_t *out)
{
    const struct model_cluster *cl = tc->cl;
    if (cl->policy.lb.kind != MODEL_LB_CONSISTENT_HASH ||
        cl->policy.lb.hash.on != MODEL_HASH_SOURCE_IP)
        return false;
    char ip[64];
    conn_peer_ip(&tc->base, ip, sizeof(ip));
    *out = lb_hash(ip, strlen(ip));
    return true;
}

/* Connect to the next endpoint of the destination: a new one after a failure, within
 * CONNECT_ATTEMPTS and the pool's maxConnections. */
static void
connect_next(struct tcp_conn *tc)
{
    struct worker *wk = tc->base.wk;
    struct worker_gen *g = tc->base.gen;
    const struct model_cluster *cl = tc->cl;
    for (; tc->attempts < CONNECT_ATTEMPTS;) {
        /* no more tries than endpoints, but a pool of one gets a second (a passing fault) */
        if (tc->attempts && tc->attempts >= cl->n_endpoints + 1) break;
        tc->attempts++;
        uint64_t hash;
        bool hashed = source_hash(tc, &hash);
        size_t ep = tc->attempts > 1 && !hashed
                        ? lb_pick_retry(cl, g->rr[cl->index], wk->active, tc->tried)
                        : lb_pick(cl, g->rr[cl->index], wk->active, hashed ? &hash : NULL);
        if (ep == LB_NO_HOST) {
            tc->flags |= RF_UH;
            tc_close(tc);
            return;
        }
        if (cl->limits.any && atomic_load_explicit(&cl->state->connections, memory_order_relaxed) >=
                                  cl->limits.max_connections) {
            /* maxConnections: Envoy's tcp_proxy closes the client (upstream_cx_overflow) */
            tc->flags |= RF_UO;
            metrics_upstream(wk->metrics, cl->state, UP_PENDING_OVERFLOW);
            atomic_fetch_add_explicit(&cl->state->overflows, 1, memory_order_relaxed);
            tc_close(tc);
            return;
        }
        if (ep < 64) tc->tried |= 1ull << ep;
        tc->ep = ep;
        metrics_upstream(wk->metrics, cl->state, UP_RQ);
        struct upstream *u =
            upstream_open_as(wk, cl, ep, sizeof(struct upstream), &tcp_connect_ops);
        if (!u) {
            metrics_upstream_code(wk->metrics, cl, ep, 503);
            continue;
        }
        u->user = tc;
        tc->up = u;
        worker_active_add(wk, cl, ep);
        tc->counted_active = true;
        tc->phase = TC_CONNECTING;
        return;
    }
    tc->flags |= RF_UF;
    if (tc->attempts > 1) tc->flags |= RF_URX;
    tc_close(tc);
}

/* The address the client reached, read once and only when something needs it (a route's
 * destinationSubnets, the access log): a call less per connection otherwise. NULL when
 * the socket cannot say. */
static const struct sockaddr_storage *
local_addr(struct tcp_conn *tc)
{
    if (tc->local.ss_family == AF_UNSPEC) {
        socklen_t ll = sizeof(tc->local);
        if (getsockname(tc->base.w.fd, (struct sockaddr *)&tc->local, &ll))
            tc->local.ss_family = AF_UNSPEC;
    }
    return tc->local.ss_family == AF_UNSPEC ? NULL : &tc->local;
}

/* Route the connection: the listener's virtual host (by SNI on a passthrough listener),
 * its first matching L4 route, the route's weighted destination. */
static void
route(struct tcp_conn *tc)
{
    const struct model_listener *ml = tc->base.ml;
    struct worker_gen *g = tc->base.gen;
    wheel_disarm(&tc->base.wk->loop.wheel, &tc->timer);
    const struct model_vhost *vh = ml->kind == MODEL_LISTENER_TLS
                                       ? model_vhost_find(ml, slice_make(tc->sni, strlen(tc->sni)))
                                       : ml->any;
    struct route_request rq = {.sni = slice_make(tc->sni, strlen(tc->sni))};
    if (vh && vh->l4_subnets) rq.dst = local_addr(tc);
    const struct model_route *r = vh ? route_match(vh, &rq, NULL) : NULL;
    if (!r || !r->n_dests) {
        tc->flags |= RF_NR;
        tc_close(tc);
        return;
    }
    tc->route = r;
    size_t d = split_pick(&g->split, r);
    tc->cl = r->dests[d].cluster;
    if (!tc->cl) {
        tc->flags |= RF_NC;
        tc_close(tc);
        return;
    }
    if (!worker_gen_ready(g, tc->cl)) {
        tc_close(tc);
        return;
    }
    connect_next(tc);
}

/* One read of what the client sent before its route (a passthrough's ClientHello, an
 * inbound's exchange) into <hello>: 1 when bytes came, 0 when none can now (drained, or
 * <hello> at its bound), -1 when the client is gone (the connection is closed). */
static int
read_first(struct tcp_conn *tc)
{
    struct buf *b = &tc->hello;
    if (!tc->in_ready || buf_reserve(b, 4096)) return 0;
    ssize_t n = tc->base.xprt->read(tc->base.tls, tc->base.w.fd, b->data + b->wr, b->cap - b->wr);
    if (n == -EAGAIN) {
        tc->in_ready = false;
        return 0;
    }
    if (n <= 0) {
        tc->flags |= RF_DC;
        tc_close(tc);
        return -1;
    }
    b->wr += (size_t)n;
    return 1;
}

/* Read the ClientHello of a passthrough connection until its SNI is known. */
static void
read_hello(struct tcp_conn *tc)
{
    struct buf *b = &tc->hello;
    int r;
    while ((r = read_first(tc)) > 0) {
    }
    if (r < 0) return;
    enum client_hello h =
        client_hello_sni((const uint8_t *)buf_head(b), buf_len(b), tc->sni, sizeof(tc->sni));
    if (h == CLIENT_HELLO_MORE && buf_len(b) < CLIENT_HELLO_MAX) return;
    if (h != CLIENT_HELLO_DONE) tc->sni[0] = '\0'; /* not TLS: only a "*" host takes it */
    route(tc);
}

static void
handshake(struct tcp_conn *tc)
{
    int hs = tls_conn_handshake(tc->base.tls);
    if (hs == 0) return;
    if (hs < 0) {
        log_msg(LOG_INFO, "%s: TLS handshake failed: %s", tc_name(tc),
                tls_conn_error(tc->base.tls));
        tc->flags |= RF_DPE;
        tc_close(tc);
        return;
    }
    tc->base.secured = true;
    route(tc);
}

/* PERMISSIVE: the client's first byte says mTLS or plain text (a protocol whose server
 * speaks first waits here, as it does in Istio: such ports want STRICT or DISABLE). */
static void
sniff(struct tcp_conn *tc)
{
    enum sniff what = sniff_first_byte(tc->base.w.fd);
    if (what == SNIFF_WAIT) return;
    if (what == SNIFF_GONE) {
        tc->flags |= RF_DC;
        tc_close(tc);
        return;
    }
    if (what == SNIFF_PLAIN) {
        route(tc);
        return;
    }
    if (!(tc->base.tls = tls_conn_server(worker_identity(tc->base.wk), tc->base.w.fd))) {
        tc_close(tc);
        return;
    }
    tls_conn_accept_peer_exchange(tc->base.tls);
    tc->base.xprt = &tls_xprt;
    tc->phase = TC_HANDSHAKE;
    handshake(tc);
}

/* What a connection does before it has a route: the sniff, the handshake, the hello. */
static void
first_step(struct tcp_conn *tc)
{
    if (tc->phase == TC_SNIFF)
        sniff(tc);
    else if (tc->phase == TC_HANDSHAKE)
        handshake(tc);
    else if (tc->phase == TC_HELLO)
        read_hello(tc);
}

static void
on_io(struct loop_watch *w, unsigned events)
{
    struct tcp_conn *tc = container_of(w, struct tcp_conn, base.w);
    if (tc->phase == TC_RELAY) {
        tunnel_down_event(&tc->tun, events);
        return;
    }
    if (events & (LOOP_IN | LOOP_HUP | LOOP_ERR)) tc->in_ready = true;
    if (events & LOOP_RDHUP) tc->in_hup = true;
    if (tc->phase < TC_CONNECTING)
        first_step(tc);
    else if (events & (LOOP_HUP | LOOP_ERR)) { /* the client went while we connected */
        tc->flags |= RF_DC;
        tc_close(tc);
    }
}

static void
on_hello_timeout(struct wheel_timer *t)
{
    struct tcp_conn *tc = container_of(t, struct tcp_conn, timer);
    if (tc->phase >= TC_CONNECTING) return;
    if (tc->phase == TC_SNIFF) {
        route(tc);
        return;
    }
    tc->flags |= RF_DPE;
    tc_close(tc);
}

static void
peer_addr(const struct conn *c, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    ss->ss_family = c->peer_family;
    if (c->peer_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        memcpy(&a->sin6_addr, c->peer, 16);
        a->sin6_port = htons(c->peer_port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        memcpy(&a->sin_addr, c->peer, 4);
        a->sin_port = htons(c->peer_port);
    }
}

static void
tc_close(struct tcp_conn *tc)
{
    struct worker *wk = tc->base.wk;
    if (tc->base.closed) return;
    tc->base.closed = true;
    bool relayed = tc->phase == TC_RELAY;
    /* never connected (its flags say why), or the upstream's exchange never came */
    if (!tc->series) open_series(tc);
    if (relayed) {
        report_bytes(tc);
        tunnel_close(&tc->tun);
    }
    metrics_tcp_close(tc->series);
    struct tcp_log_entry e = {
        .start_wall_ms = tc->start_wall_ms,
        .duration_us = now_us_precise() - tc->start_us,
        .cluster = tc->cl,
        .endpoint = tc->cl && tc->attempts ? tc->ep : SIZE_MAX,
        .flags = tc->flags,
        .bytes_received = relayed ? tc->tun.to_up.bytes : 0,
        .bytes_sent = relayed ? tc->tun.to_down.bytes : 0,
        .local = wk->alog.log ? local_addr(tc) : NULL,
        .sni = tc->sni,
        .route_name = tc->route ? tc->route->name : NULL,
        .attempts = tc->attempts,
    };
    struct sockaddr_storage remote;
    peer_addr(&tc->base, &remote);
    e.remote = &remote;
    access_log_tcp(&wk->alog, &e);
    if (!relayed && tc->up) {
        tc->up->user = NULL;
        upstream_close(tc->up);
        tc->up = NULL;
    }
    uncount(tc);
    wheel_disarm(&wk->loop.wheel, &tc->timer);
    tls_conn_free(tc->base.tls);
    tc->base.tls = NULL;
    loop_kill(&wk->loop, &tc->base.w);
    worker_conn_closed(wk, &tc->base);
    worker_buf_drop(wk, &tc->hello);
    worker_freed(wk, sizeof(*tc));
    worker_gen_put(tc->base.gen);
    tc->base.gen = NULL;
    worker_defer_free(wk, tc);
}

static void
ops_pump(struct conn *c)
{
    struct tcp_conn *tc = container_of(c, struct tcp_conn, base);
    if (tc->phase == TC_RELAY) tunnel_down_event(&tc->tun, 0);
}

/* A connection stays on the route it took: a reload changes only new connections. */
static void
ops_rebind_idle(struct conn *c)
{
    (void)c;
}

/* Draining (exit, or its listener gone): a TCP connection has no request boundary to stop
 * at; it keeps going until it ends or the drain's deadline closes it. */
static void
ops_drain(struct conn *c)
{
    struct tcp_conn *tc = container_of(c, struct tcp_conn, base);
    if (tc->phase != TC_RELAY) tc_close(tc);
}

static void
ops_close(struct conn *c)
{
    tc_close(container_of(c, struct tcp_conn, base));
}

static const struct conn_ops tcp_conn_ops = {
    .pump = ops_pump,
    .rebind_idle = ops_rebind_idle,
    .drain = ops_drain,
    .close = ops_close,
};

void
tcp_conn_accept(struct worker *wk, const struct model_listener *ml, int fd,
                const struct sockaddr_storage *peer, struct tls_conn *tls, bool sniff_tls)
{
    struct tcp_conn *tc = calloc(1, sizeof(*tc));
    if (!tc) {
        tls_conn_free(tls);
        close(fd);
        return;
    }
    tc->local.ss_family = AF_UNSPEC;
    buf_init_empty(&tc->hello, CLIENT_HELLO_MAX + 4096);
    tc->base.w.fd = fd;
    tc->base.w.cb = on_io;
    tc->base.ops = &tcp_conn_ops;
    tc->base.wk = wk;
    tc->base.ml = ml;
    tc->base.tls = tls;
    tc->base.xprt = tls ? &tls_xprt : &sock_xprt;
    if (tls && ml->inbound) tls_conn_accept_peer_exchange(tls);
    tc->base.gen = worker_gen_hold(wk->gen);
    tc->base.peer_family = (uint8_t)peer->ss_family;
    if (peer->ss_family == AF_INET6) {
        memcpy(tc->base.peer, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
        tc->base.peer_port = ntohs(((const struct sockaddr_in6 *)peer)->sin6_port);
    } else {
        memcpy(tc->base.peer, &((const struct sockaddr_in *)peer)->sin_addr, 4);
        tc->base.peer_port = ntohs(((const struct sockaddr_in *)peer)->sin_port);
    }
    tc->in_ready = true;
    tc->start_ms = now_ms();
    tc->start_us = now_us_precise();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    tc->start_wall_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    tc->timer.cb = on_hello_timeout;
    tc->phase = sniff_tls                        ? TC_SNIFF
                : tls                            ? TC_HANDSHAKE
                : ml->kind == MODEL_LISTENER_TLS ? TC_HELLO
                                                 : TC_CONNECTING;
    if (loop_add(&wk->loop, &tc->base.w, LOOP_IN | LOOP_OUT)) {
        tls_conn_free(tls);
        worker_gen_put(tc->base.gen);
        free(tc);
        close(fd);
        return;
    }
    worker_conn_opened(wk, &tc->base);
    if (tc->phase < TC_CONNECTING)
        wheel_arm(&wk->loop.wheel, &tc->timer, tc->start_ms + HELLO_TIMEOUT_MS);
    if (tc->phase < TC_CONNECTING)
        first_step(tc);
    else
        route(tc);
}
