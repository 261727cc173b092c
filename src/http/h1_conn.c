/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP/1.1 proxy on one client connection: read a request head, route it (virtual host,
 * first matching route, weighted destination, endpoint), stream the request to a pooled
 * upstream connection with our own framing, stream the response back, then reuse both
 * connections. Everything is driven by one pump that makes every possible step until none
 * is left, so edge-triggered events never strand bytes. Local replies: 404 when no route
 * matches (NR), 503 for a missing cluster (NC), an empty pool (UH), a failed connect (UF) or
 * a connection closed before the response (UC), 502 for a bad upstream response. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/compiler.h"
#include "core/log.h"
#include "core/now.h"
#include "core/prng.h"
#include "core/sock.h"
#include <arpa/inet.h>
#include "http/h1_int.h"
#include "http/retry.h"
#include "lb/lb.h"
#include "lb/outlier.h"
#include "model/endpoint.h"
#include "tls/conn.h"
#include "model/route.h"

#define OUT_HIGH_WATER (256 * 1024) /* stop moving bytes into a buffer this full */

static void
on_io(struct loop_watch *w, unsigned events)
{
    struct h1_conn *c = container_of(w, struct h1_conn, w);
    if (events & (LOOP_IN | LOOP_HUP | LOOP_ERR)) c->in_ready = true;
    /* The client shut its side, or the connection broke: read on to the end or the error. */
    if (events & (LOOP_RDHUP | LOOP_HUP | LOOP_ERR)) c->in_hup = true;
    /* A reset after the client's FIN: it closed, not half-closed (see probe_client). */
    if (c->in_eof && (events & (LOOP_HUP | LOOP_ERR))) {
        h1_conn_close(c);
        return;
    }
    h1_conn_pump(c);
}

void
h1_conn_accept(struct worker *wk, const struct model_listener *ml, int fd,
               const struct sockaddr_storage *peer)
{
    struct h1_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    const struct h1_limits *lim = &wk->opt->limits;
    buf_init_empty(&c->in, lim->max_head_bytes + 65536);
    buf_init_empty(&c->out, 4 << 20);
    c->w.fd = fd;
    c->w.cb = on_io;
    c->wk = wk;
    c->ml = ml;
    c->in_ready = true;
    c->gen = worker_gen_hold(wk->gen);
    /* TLS first: a Gateway server with SIMPLE or MUTUAL; an inbound listener by its
     * PeerAuthentication mode (§6.3): STRICT mTLS, PERMISSIVE sniffed, DISABLE plain. */
    const struct tls_gateway *gw_tls = ml->tls_ext;
    const struct tls_identity *id = worker_identity(wk);
    if (gw_tls) {
        c->xport = H1_XP_HANDSHAKE;
        c->tls = tls_conn_gateway(gw_tls, fd);
    } else if (ml->inbound && ml->peer_mode == MODEL_PEER_STRICT) {
        c->xport = H1_XP_HANDSHAKE;
        c->tls = id ? tls_conn_server(id, fd) : NULL;
    } else if (ml->inbound && ml->peer_mode == MODEL_PEER_PERMISSIVE && id) {
        c->xport = H1_XP_SNIFF;
    }
    if (c->xport == H1_XP_HANDSHAKE && !c->tls) {
        worker_gen_put(c->gen);
        free(c);
        close(fd);
        return;
    }
    c->peer_family = (uint8_t)peer->ss_family;
    if (peer->ss_family == AF_INET6) {
        memcpy(c->peer, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
        c->peer_port = ntohs(((const struct sockaddr_in6 *)peer)->sin6_port);
    } else {
        memcpy(c->peer, &((const struct sockaddr_in *)peer)->sin_addr, 4);
        c->peer_port = ntohs(((const struct sockaddr_in *)peer)->sin_port);
    }
    if (loop_add(&wk->loop, &c->w, LOOP_IN | LOOP_OUT)) {
        tls_conn_free(c->tls);
        worker_gen_put(c->gen);
        free(c);
        close(fd);
        return;
    }
    atomic_fetch_add_explicit(&wk->n_conns, 1, memory_order_relaxed);
    if (wk->opt->downstream_cx)
        atomic_fetch_add_explicit(wk->opt->downstream_cx, 1, memory_order_relaxed);
    c->next = wk->conns;
    if (wk->conns) wk->conns->prev = c;
    wk->conns = c;
    h1_timeout_start(c);
    h1_conn_pump(c);
}

void
h1_conn_peer_ip(const struct h1_conn *c, char *buf, size_t len)
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

/* Buffer storage comes from the worker's pool of blocks and goes back as soon as a buffer
 * is empty, so an idle keep-alive connection holds no buffer memory. */
void
h1_buf_ensure(struct worker *wk, struct buf *b)
{
    if (!b->data) buf_attach(b, worker_block_get(wk), WORKER_BLOCK_BYTES);
}

void
h1_buf_shed(struct worker *wk, struct buf *b)
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
h1_buf_drop(struct worker *wk, struct buf *b)
{
    b->rd = b->wr = 0;
    h1_buf_shed(wk, b);
}

/* The exchange is done with endpoint <u>: one request fewer in flight there. */
static void
endpoint_done(struct worker_gen *g, const struct upstream *u)
{
    uint32_t *active = g->active[u->cluster->index];
    if (active && active[u->endpoint]) active[u->endpoint]--;
}

static struct h1_exchange *
exchange_get(struct worker *wk)
{
    struct h1_exchange *ex = wk->free_ex;
    if (ex) {
        wk->free_ex = ex->next_free;
        wk->n_free_ex--;
    } else {
        ex = malloc(sizeof(*ex));
        if (!ex) return NULL;
    }
    memset(&ex->timeout, 0, sizeof(ex->timeout));
    ex->route = NULL;
    ex->dest = NULL;
    ex->block = -1;
    ex->set_cookie_len = 0;
    ex->fault_delayed = false;
    ex->held_head = 0;
    ex->replay = NULL;
    ex->replay_len = 0;
    ex->attempt = 1;
    ex->tried = 0;
    memset(&ex->retry_wait, 0, sizeof(ex->retry_wait));
    memset(&ex->try_timer, 0, sizeof(ex->try_timer));
    ex->cors_origin_len = 0;
    ex->up = NULL;
    ex->resp_head = false;
    ex->resp_chunked_out = false;
    ex->req_body = H1_BODY_NONE;
    ex->req_sent = false;
    ex->keep_alive = false;
    ex->counted = NULL;
    ex->counts_request = ex->counts_pending = ex->counts_retry = false;
    memset(&ex->wait, 0, sizeof(ex->wait));
    ex->wait_ep = SIZE_MAX;
    buf_init_empty(&ex->body_replay, H1_RETRY_BODY_LIMIT);
    ex->body_kept = false;
    ex->body_done = false;
    ex->mirrors_due = 0;
    ex->shadow_head = NULL;
    ex->shadow_head_len = 0;
    ex->started = false;
    ex->status = 0;
    ex->flags = 0;
    ex->req_bytes = 0;
    ex->last_ep = SIZE_MAX;
    ex->upstream_ms = -1;
    ex->head_ms = now_ms();
    ex->rid[0] = '\0';
    ex->log_len = 0;
    ex->hash_known = ex->hashed = false;
    ex->probed = false;
    return ex;
}

/* Give back the places this exchange holds in its pool's circuit-breaker counts. */
static void
uncount(struct h1_exchange *ex)
{
    struct pool_state *ps = ex->counted ? ex->counted->state : NULL;
    wait_unlink(&ex->wait);
    if (!ps) return;
    if (ex->counts_request) atomic_fetch_sub_explicit(&ps->requests, 1, memory_order_relaxed);
    if (ex->counts_pending) atomic_fetch_sub_explicit(&ps->pending, 1, memory_order_relaxed);
    if (ex->counts_retry) atomic_fetch_sub_explicit(&ps->retries, 1, memory_order_relaxed);
    ex->counts_request = ex->counts_pending = ex->counts_retry = false;
}

/* The exchange's line in the metrics (and the access log). */
static void
report(struct h1_conn *c, struct h1_exchange *ex)
{
    const struct model_cluster *cl = ex->dest ? ex->dest->cluster : NULL;
    struct exchange_record r = {
        .inbound = c->ml->inbound,
        .peer_mtls = c->tls != NULL,
        .cluster = cl,
        .endpoint = cl ? ex->last_ep : SIZE_MAX,
        .code = ex->status,
        .flags = ex->flags,
        .duration_us = now_us_precise() - ex->start_us,
        .req_bytes = ex->req_bytes,
        .resp_bytes = c->written + buf_len(&c->out) - ex->out_mark,
    };
    metrics_record(c->wk->metrics, &r);
    if (ex->log_len) {
        struct access_log_end e = {
            .request_id = ex->rid[0] ? ex->rid : NULL,
            .route_name = ex->route ? ex->route->name : NULL,
            .attempts = ex->last_ep != SIZE_MAX ? ex->attempt : 0,
            .upstream_ms = ex->upstream_ms,
        };
        access_log_finish(&c->wk->alog, ex->log_req, ex->log_len, &r, &e);
    }
}

static void
exchange_put(struct h1_conn *c)
{
    struct h1_exchange *ex = c->ex;
    if (!ex) return;
    if (ex->started) report(c, ex);
    c->ex = NULL;
    struct worker *wk = c->wk;
    wheel_disarm(&wk->loop.wheel, &ex->timeout);
    wheel_disarm(&wk->loop.wheel, &ex->retry_wait);
    wheel_disarm(&wk->loop.wheel, &ex->try_timer);
    uncount(ex);
    buf_fini(&ex->body_replay);
    free(ex->shadow_head);
    ex->shadow_head = NULL;
    if (ex->replay != ex->replay_small) free(ex->replay);
    ex->replay = NULL;
    if (ex->up) {
        endpoint_done(c->gen, ex->up);
        upstream_close(ex->up);
    }
    if (wk->n_free_ex < 64) {
        ex->next_free = wk->free_ex;
        wk->free_ex = ex;
        wk->n_free_ex++;
    } else {
        free(ex);
        worker_freed(wk, sizeof(*ex));
    }
}

void
h1_conn_close(struct h1_conn *c)
{
    struct worker *wk = c->wk;
    c->closed = true;
    if (c->ex) c->ex->flags |= RF_DC; /* the client went before its response was done */
    exchange_put(c);
    wheel_disarm(&wk->loop.wheel, &c->timer);
    tls_conn_free(c->tls);
    c->tls = NULL;
    loop_kill(&wk->loop, &c->w);
    if (c->prev)
        c->prev->next = c->next;
    else
        wk->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    h1_buf_drop(wk, &c->in);
    h1_buf_drop(wk, &c->out);
    worker_freed(wk, sizeof(*c));
    worker_gen_put(c->gen);
    c->gen = NULL;
    atomic_fetch_sub_explicit(&wk->n_conns, 1, memory_order_relaxed);
    if (wk->opt->downstream_cx)
        atomic_fetch_sub_explicit(wk->opt->downstream_cx, 1, memory_order_relaxed);
    worker_defer_free(wk, c);
}

/* Move <c> to its worker's current generation: false when the reload removed its listener
 * (the connection then closes). */
static bool
rebind(struct h1_conn *c)
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

void
h1_conn_rebind_idle(struct h1_conn *c)
{
    /* A TLS handshake in progress still needs its listener's contexts (the SNI callback's
     * argument): it moves at its first request instead. */
    if (c->ex || c->state != H1_IDLE || c->xport == H1_XP_HANDSHAKE || c->xport == H1_XP_SNIFF)
        return;
    if (rebind(c)) return;
    /* Its listener went. A connection accepted just before the reload, or with a request
     * waiting in its buffer, stays on its old generation: the request is answered there
     * with connection: close (the pump's retired case), as a drain does. A response still
     * to be written (client writes wait for the end of the batch) goes out first. */
    if (!c->used || !buf_empty(&c->in)) return;
    if (!buf_empty(&c->out)) {
        c->close_after = true;
        return;
    }
    h1_conn_close(c);
}

void
h1_conn_drain(struct h1_conn *c)
{
    if (!c->ex && c->state == H1_IDLE && buf_empty(&c->in) && buf_empty(&c->out) && c->used) {
        h1_conn_close(c);
        return;
    }
    /* Otherwise the exchange in flight (or the request waiting in the buffer, or the first
     * one of a connection just accepted, within the drain time) is answered with
     * `connection: close`, and the pump closes the connection once it is written. */
    if (c->ex && !c->ex->resp_head) c->ex->keep_alive = false;
}

/* A reply of our own (<headers>: extra header lines); the connection survives only if the
 * request left nothing unread. */
static void
local_reply_headers(struct h1_conn *c, int status, const char *headers, const char *body)
{
    bool unread_body = c->state == H1_REQUEST_BODY || c->ex->req_body != H1_BODY_NONE;
    bool keep = c->ex->keep_alive && !unread_body;
    h1_buf_ensure(c->wk, &c->out);
    c->ex->status = status;
    if (reply_local_headers(&c->out, status, headers, body, !keep)) keep = false;
    c->state = H1_IDLE;
    if (!keep) c->close_after = true;
    exchange_put(c);
}

static void
local_reply(struct h1_conn *c, int status, const char *body)
{
    local_reply_headers(c, status, "", body);
}

/* Envoy's CORS filter for a rule with a corsPolicy: answer an allowed preflight (and, with
 * unmatchedPreflights IGNORE, any other) ourselves; remember an allowed origin so the
 * response carries the CORS headers. true when the exchange is answered. */
static bool
cors_handled(struct h1_conn *c, const struct model_cors *cors)
{
    const struct h1_request *q = &c->ex->req;
    struct slice origin, want;
    if (!headers_find(&q->head, "origin", &origin) || !origin.len) return false;
    bool allowed = route_cors_allows(cors, origin);
    bool preflight = slice_eq(q->method, "OPTIONS") &&
                     headers_find(&q->head, "access-control-request-method", &want) && want.len;
    if (preflight && (allowed || cors->ignore_unmatched)) {
        bool keep = c->ex->keep_alive && c->ex->req_body == H1_BODY_NONE;
        h1_buf_ensure(c->wk, &c->out);
        c->ex->status = 200;
        int rc = allowed ? headers_cors_preflight(&c->out, cors, origin, !keep)
                         : reply_local(&c->out, 200, "", !keep);
        if (rc) keep = false;
        c->state = H1_IDLE;
        if (!keep) c->close_after = true;
        exchange_put(c);
        return true;
    }
    if (allowed && origin.len <= sizeof(c->ex->cors_origin)) {
        memcpy(c->ex->cors_origin, origin.ptr, origin.len);
        c->ex->cors_origin_len = origin.len;
    }
    return false;
}

static void
direct_reply(struct h1_conn *c, const struct model_route *r)
{
    bool keep = c->ex->keep_alive && c->ex->req_body == H1_BODY_NONE;
    h1_buf_ensure(c->wk, &c->out);
    c->ex->status = r->direct_status;
    if (headers_direct(&c->out, r->direct_status, r->direct_body, &r->headers.response,
                       c->ex->head_request, !keep))
        keep = false;
    c->state = H1_IDLE;
    if (!keep) c->close_after = true;
    exchange_put(c);
}

/* End the exchange with the upstream, reusable or not. */
static void
release_upstream(struct h1_conn *c, bool reusable)
{
    struct upstream *u = c->ex->up;
    if (!u) return;
    endpoint_done(c->gen, u);
    c->ex->up = NULL;
    u->owner = NULL;
    if (reusable && !u->eof && !u->hup && !u->failed && buf_empty(&u->in) && buf_empty(&u->out)) {
        h1_buf_shed(c->wk, &u->in);
        h1_buf_shed(c->wk, &u->out);
        worker_put_idle(c->wk, u);
    } else {
        upstream_close(u);
    }
}

/* The exchange failed after it started: a local reply when no response byte went out yet,
 * otherwise the client connection is cut (its response is truncated). */
static void
abort_exchange(struct h1_conn *c, int status, const char *body)
{
    release_upstream(c, false);
    bool head_sent = c->ex->resp_head;
    if (!c->ex->req_sent) c->ex->keep_alive = false; /* the client stream cannot resync */
    if (head_sent) {
        c->close_after = true;
        c->state = H1_IDLE;
        exchange_put(c);
        return;
    }
    local_reply(c, status, body);
}

static void report_begin(struct h1_conn *c, size_t head_bytes);

void
h1_conn_abort(struct h1_conn *c, int status, const char *body)
{
    if (!c->ex->started) report_begin(c, buf_len(&c->in)); /* with what came of the head */
    abort_exchange(c, status, body);
    h1_conn_pump(c);
}

/* The route timeout covers the whole exchange from the moment the request has been
 * received (Envoy): 504 when no response has started, a reset when one has (flag UT). */
static void
on_route_timeout(struct wheel_timer *t)
{
    struct h1_exchange *ex = container_of(t, struct h1_exchange, timeout);
    struct h1_conn *c = ex->conn;
    if (ex->up && !ex->resp_head) {
        outlier_local(ex->up->cluster, ex->up->endpoint, OUTLIER_TIMEOUT, now_ms());
        metrics_upstream(c->wk->metrics, ex->up->pstate, UP_TIMEOUT);
        metrics_upstream_code(c->wk->metrics, ex->up->cluster, ex->up->endpoint, 504);
    }
    ex->flags |= RF_UT;
    abort_exchange(c, 504, "upstream request timeout");
    h1_conn_pump(c);
}

static void
arm_route_timeout(struct h1_conn *c)
{
    const struct model_route *r = c->ex->route;
    if (!r || !r->timeout_ms || wheel_armed(&c->ex->timeout)) return;
    c->ex->timeout.cb = on_route_timeout;
    wheel_arm(&c->wk->loop.wheel, &c->ex->timeout, now_ms() + r->timeout_ms);
}

/* A route that may retry keeps the upstream head of a request without a body (all but
 * the blank line), so that every try sends the same request: in the exchange when it is
 * small, as it nearly always is, so the happy path does not allocate. */
static void
keep_replay(struct h1_exchange *ex, const char *head, size_t len, bool always)
{
    const struct model_route *r = ex->route;
    if (ex->replay) return;
    if (!always && (!r || !r->retry_attempts)) return;
    ex->replay = len <= sizeof(ex->replay_small) ? ex->replay_small : malloc(len);
    if (!ex->replay) return;
    memcpy(ex->replay, head, len);
    ex->replay_len = len;
}

/* The request head for this try, then `x-envoy-attempt-count` and the blank line. */
static int
put_upstream_head(struct h1_conn *c, struct upstream *u, const char *rid)
{
    struct h1_exchange *ex = c->ex;
    int rc;
    if (ex->replay) {
        rc = buf_append(&u->out, ex->replay, ex->replay_len);
    } else {
        size_t start = buf_len(&u->out);
        rc = headers_request(&u->out, c, rid, false);
        if (!rc) {
            u->out.wr -= 2; /* the blank line goes after the attempt count */
            keep_replay(ex, buf_head(&u->out) + start, buf_len(&u->out) - start, false);
        }
    }
    /* "x-envoy-attempt-count: N" without printf: this runs for every request. */
    char count[48] = "x-envoy-attempt-count: ";
    size_t n = 23;
    char digits[10];
    size_t nd = 0;
    for (uint32_t a = ex->attempt; a || !nd; a /= 10) digits[nd++] = (char)('0' + a % 10);
    while (nd) count[n++] = digits[--nd];
    memcpy(count + n, "\r\n\r\n", 4);
    if (!rc) rc = buf_append(&u->out, count, n + 4);
    return rc;
}

/* The head of a first try that has not gone out, kept for the retry (when the policy
 * retries) or, <always>, for the connection it waits for. */
static void
keep_replay_unsent(struct h1_conn *c, const char *rid, bool always)
{
    struct buf tmp;
    if (buf_init(&tmp, 4096, 1 << 20)) return;
    if (!headers_request(&tmp, c, rid, false))
        keep_replay(c->ex, buf_head(&tmp), buf_len(&tmp) - 2, always);
    buf_fini(&tmp);
}

/* 503 UO: a circuit breaker of the pool is full (Envoy's overflow reply). */
static void
overflow_reply(struct h1_conn *c, const struct model_cluster *cl)
{
    c->ex->flags |= RF_UO;
    metrics_upstream(c->wk->metrics, cl->state, UP_PENDING_OVERFLOW);
    atomic_fetch_add_explicit(&cl->state->overflows, 1, memory_order_relaxed);
    local_reply_headers(c, 503, "x-envoy-overloaded: true\r\n",
                        "upstream connect error or disconnect/reset before headers. reset "
                        "reason: overflow");
}

/* Circuit breakers on a try that found no idle connection to endpoint <ep>: false when
 * the exchange ended (overflow) or now waits for a connection of that pool (<waits>); true
 * when it may open one. A worker with no connection to the endpoint may always open one,
 * as Envoy's pools do, so a waiter always has a connection to wait for. */
static bool
admit_connection(struct h1_conn *c, const struct model_cluster *cl, size_t ep, const char *rid,
                 bool *waits)
{
    struct h1_exchange *ex = c->ex;
    struct pool_state *ps = cl->state;
    struct idle_pool *p = worker_pool(c->wk, cl, ep);
    *waits = false;
    if (!p || !p->open ||
        atomic_load_explicit(&ps->connections, memory_order_relaxed) < cl->limits.max_connections)
        return true;
    if (!ex->counts_pending) {
        if (atomic_load_explicit(&ps->pending, memory_order_relaxed) >= cl->limits.max_pending) {
            overflow_reply(c, cl);
            return false;
        }
        atomic_fetch_add_explicit(&ps->pending, 1, memory_order_relaxed);
        ex->counts_pending = true;
        ex->counted = cl;
    }
    keep_replay_unsent(c, rid, true);
    if (!ex->replay) {
        local_reply(c, 503, "out of memory");
        return false;
    }
    ex->wait_ep = ep;
    wait_push(&p->waiters, &ex->wait);
    c->state = ex->req_body == H1_BODY_NONE ? H1_WAIT : H1_REQUEST_BODY;
    arm_route_timeout(c); /* a waiter waits no longer than the route allows */
    *waits = true;
    return false;
}

static bool start_upstream(struct h1_conn *c, const struct model_cluster *cl);

void
h1_resume_waiters(struct worker *wk)
{
    for (int guard = 0; wk->ready.head && guard < 4096; guard++) {
        struct wait_node *n = wk->ready.head;
        wait_unlink(n);
        struct h1_exchange *ex = container_of(n, struct h1_exchange, wait);
        struct h1_conn *c = ex->conn;
        if (ex->counts_pending) {
            atomic_fetch_sub_explicit(&ex->counted->state->pending, 1, memory_order_relaxed);
            ex->counts_pending = false;
        }
        start_upstream(c, ex->dest->cluster);
        h1_conn_pump(c);
    }
}

static void retry(struct h1_conn *c);
static bool should_retry(struct h1_conn *c, enum retry_outcome what, int code);
static void on_try_timeout(struct wheel_timer *t);

/* Start a try: the endpoint, a pooled or new connection, the request head. false when the
 * exchange ended with a local reply. */
static bool
start_upstream(struct h1_conn *c, const struct model_cluster *cl)
{
    struct worker *wk = c->wk;
    struct worker_gen *g = c->gen;
    struct h1_exchange *ex = c->ex;
    if (!g->rr[cl->index]) g->rr[cl->index] = calloc(cl->n_endpoints, sizeof(int64_t));
    if (!g->active[cl->index]) g->active[cl->index] = calloc(cl->n_endpoints, sizeof(uint32_t));
    if (!g->rr[cl->index] || !g->active[cl->index]) {
        local_reply(c, 503, "out of memory");
        return false;
    }
    char rid[37] = "";
    if (!ex->replay) { /* a retry resends the first try's request id */
        prng_uuid(rid);
        memcpy(ex->rid, rid, sizeof(rid));
    }
    const struct model_route *rt = ex->route;
    if (cl->limits.any && !ex->counts_request) { /* http2MaxRequests: requests in flight */
        if (atomic_load_explicit(&cl->state->requests, memory_order_relaxed) >=
            cl->limits.max_requests) {
            overflow_reply(c, cl);
            return false;
        }
        atomic_fetch_add_explicit(&cl->state->requests, 1, memory_order_relaxed);
        ex->counts_request = true;
        ex->counted = cl;
    }
    if (ex->attempt == 1 && ex->req_body != H1_BODY_NONE && rt &&
        (rt->retry_attempts || rt->n_mirrors))
        ex->body_kept = true; /* nothing sent yet: move_request_body keeps what it sends */
    size_t ep = ex->wait_ep;  /* a waiter takes the connection its endpoint freed */
    ex->wait_ep = SIZE_MAX;
    if (ep == SIZE_MAX) {
        /* The request's hash, from its head while its slices are valid: a retry reuses it. */
        if (ex->attempt == 1 && !ex->hash_known) {
            ex->hashed = cl->lb_table && hash_policy_key(c, cl, &ex->hash);
            ex->hash_known = true;
        }
        bool hashed = ex->hashed;
        uint64_t hash = ex->hash;
        /* A retry avoids endpoints already tried (Istio's previous_hosts predicate), except
         * where the hash must decide or the policy keeps the host. */
        bool avoid = ex->attempt > 1 && !hashed && !(rt && rt->retry_keep_previous_host);
        ep = avoid ? lb_pick_retry(cl, g->rr[cl->index], g->active[cl->index], ex->tried)
                   : lb_pick(cl, g->rr[cl->index], g->active[cl->index], hashed ? &hash : NULL);
    }
    if (ep == LB_NO_HOST) { /* every endpoint ejected by outlier detection */
        ex->flags |= RF_UH;
        local_reply(c, 503, "no healthy upstream");
        return false;
    }
    if (ep < 64) ex->tried |= 1ull << ep;
    ex->last_ep = ep;
    struct upstream *u = worker_take_idle(wk, cl, ep);
    bool waits = false;
    if (!u && cl->limits.any && !admit_connection(c, cl, ep, rid, &waits)) return waits;
    if (!u) u = upstream_open(wk, cl, ep);
    c->state = ex->req_body == H1_BODY_NONE ? H1_WAIT : H1_REQUEST_BODY;
    metrics_upstream(wk->metrics, cl->state, UP_RQ);
    if (!u) {
        metrics_upstream_code(wk->metrics, cl, ep, 503);
        outlier_local(cl, ep, OUTLIER_CONNECT_FAILED, now_ms());
        if (ex->attempt == 1) keep_replay_unsent(c, rid, false);
        if (should_retry(c, RETRY_CONNECT_FAILURE, 0)) {
            if (ex->req_body == H1_BODY_NONE || ex->body_done) arm_route_timeout(c);
            retry(c);
            return true;
        }
        ex->flags |= RF_UF;
        local_reply(c, 503,
                    "upstream connect error or disconnect/reset before headers. "
                    "reset reason: connection failure");
        return false;
    }
    g->active[cl->index][ep]++; /* back down when the exchange lets the upstream go */
    u->requests++;
    u->owner = c;
    ex->up = u;
    h1_buf_ensure(wk, &u->out);
    if (ex->attempt == 1 && ex->req.expect_continue) {
        h1_buf_ensure(wk, &c->out);
        if (buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25)) {
            abort_exchange(c, 500, "");
            return false;
        }
    }
    if (put_upstream_head(c, u, rid)) {
        abort_exchange(c, 431, "request header too large to forward");
        return false;
    }

    if (ex->attempt > 1 && buf_len(&ex->body_replay) &&
        buf_append(&u->out, buf_head(&ex->body_replay), buf_len(&ex->body_replay))) {
        abort_exchange(c, 503, "out of memory");
        return false;
    }
    ex->req_sent = ex->req_body == H1_BODY_NONE || ex->body_done;
    c->state = ex->req_sent ? H1_WAIT : H1_REQUEST_BODY;
    if (ex->req_sent) arm_route_timeout(c);
    if (rt && rt->retry_attempts && rt->retry_per_try_ms) {
        ex->try_timer.cb = on_try_timeout;
        wheel_arm(&wk->loop.wheel, &ex->try_timer, now_ms() + rt->retry_per_try_ms);
    }
    return true;
}

static void
redirect(struct h1_conn *c, const struct model_route *r)
{
    const struct h1_request *q = &c->ex->req;
    char location[4096];
    const char *scheme = r->redirect_scheme ? r->redirect_scheme : "http";
    const char *path_end = memchr(q->path.ptr, '?', q->path.len);
    struct slice query = path_end
                             ? slice_make(path_end, q->path.len - (size_t)(path_end - q->path.ptr))
                             : slice_make("", 0);
    char authority[512];
    if (r->redirect_authority) {
        snprintf(authority, sizeof(authority), "%s", r->redirect_authority);
    } else {
        /* The request's host without its port. */
        size_t n = q->authority.len;
        const char *colon = memchr(q->authority.ptr, ':', n);
        if (colon && q->authority.ptr[0] != '[') n = (size_t)(colon - q->authority.ptr);
        snprintf(authority, sizeof(authority), "%.*s", (int)n, q->authority.ptr);
    }
    unsigned want_port = r->redirect_request_port ? c->ml->port : r->redirect_port;
    char port[16] = "";
    if (want_port && !(want_port == 80 && !strcmp(scheme, "http")) &&
        !(want_port == 443 && !strcmp(scheme, "https")))
        snprintf(port, sizeof(port), ":%u", want_port);
    const struct model_match *m = c->ex->block >= 0 ? &r->matches[c->ex->block] : NULL;
    if (r->redirect_uri) {
        /* A new path with its own query replaces the request's query (Envoy). */
        bool own_query = strchr(r->redirect_uri, '?') != NULL;
        snprintf(location, sizeof(location), "%s://%s%s%s%.*s", scheme, authority, port,
                 r->redirect_uri, own_query ? 0 : (int)query.len, query.ptr);
    } else if (r->redirect_prefix && m && m->has_uri && m->uri.kind == MODEL_SM_PREFIX &&
               m->uri.value.len <= q->path.len) {
        size_t cut = m->uri.value.len;
        snprintf(location, sizeof(location), "%s://%s%s%s%.*s", scheme, authority, port,
                 r->redirect_prefix, (int)(q->path.len - cut), q->path.ptr + cut);
    } else {
        snprintf(location, sizeof(location), "%s://%s%s%.*s", scheme, authority, port,
                 (int)q->path.len, q->path.ptr);
    }
    bool keep = c->ex->keep_alive && c->ex->req_body == H1_BODY_NONE;
    h1_buf_ensure(c->wk, &c->out);
    c->ex->status = r->redirect_code;
    reply_redirect(&c->out, r->redirect_code, location, !keep);
    if (!keep) c->close_after = true;
    c->state = H1_IDLE;
    exchange_put(c);
}

/* A Gateway HTTP server with tls.httpsRedirect: every request is sent to https, same host
 * (its port dropped) and path, 301 (Envoy's require_tls). */
static void
https_redirect(struct h1_conn *c)
{
    const struct h1_request *q = &c->ex->req;
    struct slice host = q->authority;
    const char *colon = host.len && host.ptr[0] != '[' ? memchr(host.ptr, ':', host.len) : NULL;
    if (colon) host.len = (size_t)(colon - host.ptr);
    char location[8192];
    snprintf(location, sizeof(location), "https://%.*s%.*s", (int)host.len, host.ptr,
             (int)q->path.len, q->path.ptr);
    bool keep = c->ex->keep_alive && c->ex->req_body == H1_BODY_NONE;
    h1_buf_ensure(c->wk, &c->out);
    c->ex->status = 301;
    reply_redirect(&c->out, 301, location, !keep);
    if (!keep) c->close_after = true;
    c->state = H1_IDLE;
    exchange_put(c);
}

static void route_upstream(struct h1_conn *c, const struct model_route *r);

/* Is this request among the <ppm> per million that a fault applies to? */
static bool
sampled(uint32_t ppm)
{
    return ppm >= 1000000 || prng_next() % 1000000 < ppm;
}

/* The injected delay is over: route the held request, then drop its head. */
static void
on_fault_delay(struct wheel_timer *t)
{
    struct h1_exchange *ex = container_of(t, struct h1_exchange, timeout);
    struct h1_conn *c = ex->conn;
    size_t held = ex->held_head;
    ex->fault_delayed = false;
    c->state = H1_IDLE; /* route_upstream sets the next state, or answers */
    route_upstream(c, ex->route);
    buf_consume(&c->in, held);
    h1_conn_pump(c);
}

/* The exchange now reports when it ends (report()): its start, the <head_bytes> read so
 * far, and the access log's request half. */
static void
report_begin(struct h1_conn *c, size_t head_bytes)
{
    c->ex->started = true;
    c->ex->req_bytes = head_bytes;
    c->ex->start_us = now_us_precise();
    c->ex->out_mark = c->written + buf_len(&c->out);
    if (c->wk->alog.log) h1_log_begin(c);
}

/* Route the parsed request and start the exchange (or answer it ourselves). */
static void
start_exchange(struct h1_conn *c, size_t head_len)
{
    struct worker *wk = c->wk;
    const struct h1_request *q = &c->ex->req;
    metric_add(&wk->requests, 1); /* read by the admin thread */
    c->used = true;
    c->ex->start_ms = now_ms();
    report_begin(c, head_len);
    c->ex->keep_alive = q->head.keep_alive && !wk->draining && !c->retired; /* else close */
    c->ex->head_request = slice_eq(q->method, "HEAD");
    c->ex->req_body = q->head.body;
    c->ex->req_left = q->head.content_length;
    if (c->ex->req_body == H1_BODY_CHUNKED) h1_chunked_init(&c->ex->req_chunks, &wk->opt->limits);

    struct route_header hdrs[H1_MAX_HEADERS];
    for (size_t i = 0; i < q->head.n_headers; i++) {
        hdrs[i].name = q->head.headers[i].name;
        hdrs[i].value = q->head.headers[i].value;
    }
    if (slice_eq(q->method, "CONNECT")) {
        /* No tunnels: Envoy's 403 for a CONNECT no upgrade config enables; what follows
         * would be tunnel payload, so the connection closes. */
        c->ex->conn = c;
        c->ex->keep_alive = false;
        local_reply(c, 403, "");
        return;
    }
    if (c->ml->https_redirect && !c->tls) {
        c->ex->conn = c;
        https_redirect(c);
        return;
    }
    struct route_request rq = {q->method,    q->path,
                               q->authority, c->tls ? SLICE_LIT("https") : SLICE_LIT("http"),
                               hdrs,         q->head.n_headers};
    const struct model_vhost *vh = model_vhost_find(c->ml, q->authority);
    const struct model_route *r = route_match(vh, &rq, &c->ex->block);
    c->ex->route = r;
    c->ex->conn = c;
    if (!r) {
        c->ex->flags |= RF_NR;
        local_reply(c, 404, "");
        return;
    }
    if (r->cors && cors_handled(c, r->cors)) return;
    if (r->action == MODEL_DIRECT_RESPONSE) {
        direct_reply(c, r);
        return;
    }
    if (r->action == MODEL_REDIRECT) {
        redirect(c, r);
        return;
    }
    if (r->fault_delay_ppm && sampled(r->fault_delay_ppm)) {
        /* Injected delay (flag DI), before the router: the route timeout starts after it. */
        c->ex->flags |= RF_DI;
        c->ex->fault_delayed = true;
        c->ex->timeout.cb = on_fault_delay;
        wheel_arm(&wk->loop.wheel, &c->ex->timeout, now_ms() + r->fault_delay_ms);
        c->state = H1_WAIT;
        return;
    }
    route_upstream(c, r);
}

/* The head a mirror copy of this request sends, written now while the request's slices
 * still point into the client buffer: the body arrives after they are gone. */
static void
keep_shadow_head(struct h1_conn *c)
{
    struct h1_exchange *ex = c->ex;
    struct buf tmp;
    char rid[37];
    prng_uuid(rid);
    if (buf_init(&tmp, 4096, 1 << 20)) return;
    if (!headers_request(&tmp, c, rid, true) && (ex->shadow_head = malloc(buf_len(&tmp)))) {
        memcpy(ex->shadow_head, buf_head(&tmp), buf_len(&tmp));
        ex->shadow_head_len = buf_len(&tmp);
    }
    buf_fini(&tmp);
}

/* After any injected delay: an injected abort, or the destination and the upstream. */
static void
route_upstream(struct h1_conn *c, const struct model_route *r)
{
    struct worker *wk = c->wk;
    if (r->fault_abort_ppm && sampled(r->fault_abort_ppm)) { /* flag FI */
        if (r->fault_abort_status > 0) {
            c->ex->flags |= RF_FI;
            local_reply(c, r->fault_abort_status, "fault filter abort");
        } else {
            bool keep = c->ex->keep_alive && c->ex->req_body == H1_BODY_NONE;
            h1_buf_ensure(wk, &c->out);
            c->ex->status = 200;
            c->ex->flags |= RF_FI;
            if (reply_grpc(&c->out, r->fault_abort_grpc, "fault filter abort", !keep)) keep = false;
            c->state = H1_IDLE;
            if (!keep) c->close_after = true;
            exchange_put(c);
        }
        return;
    }
    const struct model_destination *d = &r->dests[split_pick(&c->gen->split, r)];
    c->ex->dest = d;
    if (!d->cluster) {
        c->ex->flags |= RF_NC;
        local_reply(c, 503, "cluster not found");
        return;
    }
    if (!d->cluster->n_endpoints) {
        c->ex->flags |= RF_UH;
        local_reply(c, 503, "no healthy upstream");
        return;
    }
    if (!start_upstream(c, d->cluster)) return;
    for (size_t i = 0; i < r->n_mirrors && i < 32; i++) {
        if (!sampled(r->mirrors[i].ppm)) continue;
        if (c->ex->req_body == H1_BODY_NONE)
            shadow_start(c, r->mirrors[i].cluster);
        else
            c->ex->mirrors_due |= 1u << i; /* copied once the body has been read */
    }
    if (c->ex->mirrors_due) keep_shadow_head(c);
}

static int
chunk_out(struct buf *out, const char *p, size_t n)
{
    char size[32];
    int k = snprintf(size, sizeof(size), "%zx\r\n", n);
    int rc = buf_append(out, size, (size_t)k);
    if (!rc) rc = buf_append(out, p, n);
    if (!rc) rc = buf_append(out, "\r\n", 2);
    return rc;
}

/* Keep body bytes sent upstream for a retry, while they fit the limit. */
static void
keep_body(struct h1_exchange *ex, const char *p, size_t n)
{
    if (!ex->body_kept || !n) return;
    if (buf_append(&ex->body_replay, p, n)) {
        ex->body_kept = false; /* past the limit: this request will not be retried */
        buf_fini(&ex->body_replay);
        buf_init_empty(&ex->body_replay, H1_RETRY_BODY_LIMIT);
    }
}

/* The mirrors of a request with a body, now that it has all been read (and kept). */
static void
start_body_mirrors(struct h1_conn *c)
{
    const struct model_route *r = c->ex->route;
    uint32_t due = c->ex->mirrors_due;
    c->ex->mirrors_due = 0;
    for (size_t i = 0; due && r && i < r->n_mirrors && i < 32; i++)
        if (due >> i & 1 && c->ex->body_kept) shadow_start(c, r->mirrors[i].cluster);
}

/* Move request body bytes from the client buffer to the upstream buffer. */
static bool
move_request_body(struct h1_conn *c)
{
    struct upstream *u = c->ex->up;
    bool progress = false;
    size_t from = buf_len(&u->out); /* what this call adds is the body as sent upstream */
    while (!buf_empty(&c->in) && buf_len(&u->out) < OUT_HIGH_WATER && !c->ex->req_sent) {
        if (c->ex->req_body == H1_BODY_LENGTH) {
            size_t n = buf_len(&c->in);
            if (n > c->ex->req_left) n = (size_t)c->ex->req_left;
            if (buf_append(&u->out, buf_head(&c->in), n)) break;
            buf_consume(&c->in, n);
            c->ex->req_bytes += n;
            c->ex->req_left -= n;
            c->ex->req_sent = c->ex->req_left == 0;
        } else {
            struct slice data;
            ssize_t rc =
                h1_chunked_parse(&c->ex->req_chunks, buf_head(&c->in), buf_len(&c->in), &data);
            if (rc < 0) {
                abort_exchange(c, c->ex->req_chunks.status, "invalid chunked request body");
                return true;
            }
            if (data.len && chunk_out(&u->out, data.ptr, data.len)) break;
            buf_consume(&c->in, (size_t)rc);
            c->ex->req_bytes += (uint64_t)rc;
            if (h1_chunked_done(&c->ex->req_chunks)) {
                buf_append(&u->out, "0\r\n\r\n", 5);
                c->ex->req_sent = true;
            }
            if (rc == 0) break;
        }
        progress = true;
    }
    keep_body(c->ex, buf_head(&u->out) + from, buf_len(&u->out) - from);
    if (c->ex->req_sent && !c->ex->body_done) {
        c->ex->body_done = true;
        start_body_mirrors(c);
    }
    if (c->ex->req_sent && c->state == H1_REQUEST_BODY) {
        c->state = H1_WAIT;
        arm_route_timeout(c);
    }
    if (!c->ex->req_sent && c->in_eof && buf_empty(&c->in)) {
        abort_exchange(c, 400, "request body cut short");
        return true;
    }
    return progress;
}

static void
finish_exchange(struct h1_conn *c)
{
    struct h1_exchange *ex = c->ex;
    const struct upstream *u = ex->up;
    uint32_t limit = u ? u->cluster->max_requests_per_conn : 0;
    bool reusable = ex->req_sent && ex->resp.head.keep_alive &&
                    ex->resp_body != H1_BODY_UNTIL_CLOSE && !(limit && u->requests >= limit);
    release_upstream(c, reusable);
    c->state = H1_IDLE;
    if (!ex->keep_alive || !ex->req_sent || c->wk->draining) c->close_after = true;
    exchange_put(c);
}

/* Does the route's retry policy retry this outcome of a try (§3.8.4), with a try left?
 * <what> is how the try ended; <code> the status of a RETRY_RESPONSE. */
static bool
should_retry(struct h1_conn *c, enum retry_outcome what, int code)
{
    const struct h1_exchange *ex = c->ex;
    const struct model_route *r = ex->route;
    if (!r || !r->retry_attempts || !ex->replay || ex->resp_head) return false;
    if (!retry_on_outcome(r, what, code)) return false;
    if (ex->attempt > r->retry_attempts) {
        c->ex->flags |= RF_URX; /* the policy would retry, but no try is left */
        return false;
    }
    if (ex->req_body != H1_BODY_NONE && !ex->body_kept) return false; /* past the limit */
    const struct model_cluster *cl = ex->dest ? ex->dest->cluster : NULL;
    if (cl && cl->limits.any && !ex->counts_retry &&
        atomic_load_explicit(&cl->state->retries, memory_order_relaxed) >= cl->limits.max_retries) {
        metrics_upstream(c->wk->metrics, cl->state, UP_RETRY_OVERFLOW);
        return false; /* http.maxRetries: retries in flight on the pool */
    }
    return true;
}

static void
on_retry_wait(struct wheel_timer *t)
{
    struct h1_exchange *ex = container_of(t, struct h1_exchange, retry_wait);
    struct h1_conn *c = ex->conn;
    start_upstream(c, ex->dest->cluster);
    h1_conn_pump(c);
}

/* perTryTimeout: before any response byte went to the client the try is cut and, as a
 * reset, retried when the policy retries resets (5xx, gateway-error, reset); else 504. */
static void
on_try_timeout(struct wheel_timer *t)
{
    struct h1_exchange *ex = container_of(t, struct h1_exchange, try_timer);
    struct h1_conn *c = ex->conn;
    if (ex->resp_head) return;
    if (ex->up) {
        outlier_local(ex->up->cluster, ex->up->endpoint, OUTLIER_TIMEOUT, now_ms());
        metrics_upstream(c->wk->metrics, ex->up->pstate, UP_TIMEOUT);
        metrics_upstream_code(c->wk->metrics, ex->up->cluster, ex->up->endpoint, 504);
    }
    if (should_retry(c, RETRY_RESET, 0)) {
        retry(c);
    } else {
        ex->flags |= RF_UT;
        abort_exchange(c, 504, "upstream request timeout");
    }
    h1_conn_pump(c);
}

/* Let this try's upstream go and start the next try after Envoy's fully jittered
 * exponential back-off (base 25 ms: 0-24 ms, then 0-49 ms, ..., at most 10x the base). */
static void
retry(struct h1_conn *c)
{
    struct h1_exchange *ex = c->ex;
    release_upstream(c, false);
    wheel_disarm(&c->wk->loop.wheel, &ex->try_timer);
    const struct model_cluster *cl = ex->dest ? ex->dest->cluster : NULL;
    if (cl && cl->limits.any && !ex->counts_retry) {
        atomic_fetch_add_explicit(&cl->state->retries, 1, memory_order_relaxed);
        ex->counts_retry = true;
        ex->counted = cl;
    }
    if (cl) metrics_upstream(c->wk->metrics, cl->state, UP_RETRY);
    uint64_t base = ex->route->retry_backoff_ms;
    uint64_t span = retry_backoff_window_ms(base, ex->attempt);
    ex->attempt++;
    ex->retry_wait.cb = on_retry_wait;
    wheel_arm(&c->wk->loop.wheel, &ex->retry_wait, now_ms() + prng_next() % span);
}

/* A try ended without a response head: the next try when the policy allows, else 503 with
 * Envoy's body: UF for a connection failure, UC for a termination, UPE when a head came cut
 * short (<partial>: Envoy's codec fails on the early end of stream, a protocol error). */
static bool
try_failed(struct h1_conn *c, enum retry_outcome what, bool partial)
{
    const struct upstream *u = c->ex->up;
    if (u) {
        outlier_local(u->cluster, u->endpoint,
                      what == RETRY_CONNECT_FAILURE ? OUTLIER_CONNECT_FAILED : OUTLIER_RESET,
                      now_ms());
        metrics_upstream_code(c->wk->metrics, u->cluster, u->endpoint, 503);
    }
    if (should_retry(c, what, 0)) {
        retry(c);
        return true;
    }
    static const char *const why[] = {"connection failure", "connection termination",
                                      "protocol error"};
    static const uint32_t flag[] = {RF_UF, RF_UC, RF_UPE};
    int k = what == RETRY_CONNECT_FAILURE ? 0 : partial ? 2 : 1;
    char body[128];
    snprintf(body, sizeof(body),
             "upstream connect error or disconnect/reset before headers. reset reason: %s", why[k]);
    c->ex->flags |= flag[k];
    abort_exchange(c, 503, body);
    return true;
}

/* Parse the response head, then move body bytes to the client. */
static bool
move_response(struct h1_conn *c)
{
    struct upstream *u = c->ex->up;
    const struct h1_limits *lim = &c->wk->opt->limits;
    if (u->failed && !c->ex->resp_head)
        return try_failed(c, u->connected ? RETRY_RESET : RETRY_CONNECT_FAILURE, false);
    if (!c->ex->resp_head) {
        if (buf_empty(&u->in)) {
            if (u->eof) return try_failed(c, RETRY_RESET, false); /* UC */
            return false;
        }
        ssize_t n = h1_parse_response(buf_head(&u->in), buf_len(&u->in), lim, c->ex->head_request,
                                      &c->ex->resp);
        if (n == H1_NEED_MORE) {
            if (u->eof) return try_failed(c, RETRY_RESET, true); /* UPE */
            return false;
        }
        if (n == H1_BAD) {
            c->ex->flags |= RF_UPE;
            abort_exchange(c, 502, "invalid response from upstream");
            return true;
        }
        if (c->ex->resp.code < 200 && c->ex->resp.code != 101) { /* interim: drop, read on */
            buf_consume(&u->in, (size_t)n);
            return true;
        }
        if (u->cluster->outlier.enabled)
            outlier_status(u->cluster, u->endpoint, c->ex->resp.code, now_ms());
        metrics_upstream_code(c->wk->metrics, u->cluster, u->endpoint, c->ex->resp.code);
        if (should_retry(c, RETRY_RESPONSE, c->ex->resp.code)) {
            retry(c); /* this response is dropped with its connection */
            return true;
        }
        buf_consume(&u->in, (size_t)n);
        c->ex->resp_body = c->ex->resp.head.body;
        c->ex->resp_left = c->ex->resp.head.content_length;
        if (c->ex->resp_body == H1_BODY_CHUNKED) h1_chunked_init(&c->ex->resp_chunks, lim);
        if (c->ex->resp_body == H1_BODY_CHUNKED || c->ex->resp_body == H1_BODY_UNTIL_CLOSE) {
            c->ex->resp_chunked_out = c->ex->req.head.minor == 1;
            if (!c->ex->resp_chunked_out) c->ex->keep_alive = false;
        }
        if (!c->ex->req_sent) c->ex->keep_alive = false;
        h1_buf_ensure(c->wk, &c->out);
        c->ex->upstream_ms = (int64_t)(now_ms() - c->ex->start_ms);
        if (headers_response(&c->out, c, (uint64_t)c->ex->upstream_ms)) {
            c->ex->flags |= RF_UPE;
            abort_exchange(c, 502, "response header too large");
            return true;
        }
        c->ex->resp_head = true;
        c->ex->status = c->ex->resp.code;
    }
    bool progress = false, done = c->ex->resp_body == H1_BODY_NONE;
    while (!done && !buf_empty(&u->in) && buf_len(&c->out) < OUT_HIGH_WATER) {
        if (c->ex->resp_body == H1_BODY_LENGTH) {
            size_t n = buf_len(&u->in);
            if (n > c->ex->resp_left) n = (size_t)c->ex->resp_left;
            if (buf_append(&c->out, buf_head(&u->in), n)) break;
            buf_consume(&u->in, n);
            c->ex->resp_left -= n;
            done = c->ex->resp_left == 0;
        } else if (c->ex->resp_body == H1_BODY_CHUNKED) {
            struct slice data;
            ssize_t rc =
                h1_chunked_parse(&c->ex->resp_chunks, buf_head(&u->in), buf_len(&u->in), &data);
            if (rc < 0) {
                c->ex->flags |= RF_UPE;
                abort_exchange(c, 502, "invalid chunked response");
                return true;
            }
            if (data.len) {
                int e = c->ex->resp_chunked_out ? chunk_out(&c->out, data.ptr, data.len)
                                                : buf_append(&c->out, data.ptr, data.len);
                if (e) break;
            }
            buf_consume(&u->in, (size_t)rc);
            done = h1_chunked_done(&c->ex->resp_chunks);
            if (rc == 0 && !done) break;
        } else { /* until close */
            size_t n = buf_len(&u->in);
            int e = c->ex->resp_chunked_out ? chunk_out(&c->out, buf_head(&u->in), n)
                                            : buf_append(&c->out, buf_head(&u->in), n);
            if (e) break;
            buf_consume(&u->in, n);
        }
        progress = true;
    }
    if (!done && c->ex->resp_body == H1_BODY_UNTIL_CLOSE && u->eof && buf_empty(&u->in))
        done = true;
    if (!done && u->eof && buf_empty(&u->in)) { /* cut short: UPE, as Envoy's codec */
        c->ex->flags |= RF_UPE;
        abort_exchange(c, 502, "upstream closed mid-response");
        return true;
    }
    if (done) {
        if (c->ex->resp_chunked_out && c->ex->resp_body != H1_BODY_NONE)
            buf_append(&c->out, "0\r\n\r\n", 5);
        finish_exchange(c);
        return true;
    }
    return progress;
}

static bool
upstream_io(struct h1_conn *c)
{
    struct upstream *u = c->ex->up;
    bool progress = false;
    if (!u->connected || u->failed) return false;
    if (!buf_empty(&u->out) && c->wk->defer_writes) {
        if (!u->flush_queued) { /* written after this batch (h1_flush_upstreams) */
            u->flush_queued = true;
            u->flush_next = c->wk->flush_head;
            c->wk->flush_head = u;
        }
    } else if (!buf_empty(&u->out)) {
        ssize_t n = h1_write_some(&u->out, u->w.fd, u->tls);
        if (n > 0)
            progress = true;
        else if (n != -EAGAIN)
            u->failed = true;
    }
    if (u->in_ready && !u->eof) {
        h1_buf_ensure(c->wk, &u->in);
        int r = h1_read_some(&u->in, u->w.fd, u->tls, u->hup, &u->in_ready, &u->eof);
        if (r < 0) { /* a reset: like EOF, and a failure if nothing came back */
            u->eof = true;
            u->failed = !c->ex->resp_head && buf_empty(&u->in);
        }
        progress |= r != 0;
    }
    return progress;
}

void
h1_flush(struct worker *wk)
{
    struct upstream *u = wk->flush_head;
    wk->flush_head = NULL;
    struct h1_conn *c = wk->flush_conns;
    wk->flush_conns = NULL;
    while (c) { /* pumping writes at once (defer_writes is off) and closes when done */
        struct h1_conn *next = c->flush_next;
        c->flush_queued = false;
        if (!c->closed) h1_conn_pump(c);
        c = next;
    }
    while (u) {
        struct upstream *next = u->flush_next;
        u->flush_queued = false;
        if (!u->closed && u->owner) {
            ssize_t n = 1;
            while (!buf_empty(&u->out) && (n = h1_write_some(&u->out, u->w.fd, u->tls)) > 0) {
            }
            if (n < 0 && n != -EAGAIN) u->failed = true;
            h1_conn_pump(u->owner); /* the request may have more to send, or failed */
        }
        u = next;
    }
}

/* The client sent its FIN while its request waits for the response head. A client that
 * closed and one that only half-closed (shutdown(SHUT_WR), still reading) look the same
 * until something is written: Envoy and nginx take either as an abort, but a half-closed
 * client is owed its answer (RFC 9112 §9.6), so meshlet writes an interim `100 Continue`,
 * which every HTTP/1.1 client must accept (RFC 9110 §15.2). A closed client's kernel answers
 * it with a reset: on_io then closes the connection, the exchange ends with DC and its
 * upstream connection is closed. HTTP/1.0 clients take no 1xx: their request goes on. */
static void
probe_client(struct h1_conn *c)
{
    struct h1_exchange *ex = c->ex;
    if (!ex || !ex->started || ex->resp_head || ex->probed || c->state != H1_WAIT) return;
    if (ex->req.head.minor != 1) return;
    ex->probed = true;
    h1_buf_ensure(c->wk, &c->out);
    buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

/* Before HTTP on an inbound connection: tell TLS from plain text (PERMISSIVE), then finish
 * the mTLS handshake. true when HTTP may flow; false to wait for the socket, or when the
 * connection was closed (a STRICT listener refuses anything that is not mesh mTLS). */
static bool
conn_secured(struct h1_conn *c)
{
    if (c->xport == H1_XP_SNIFF) {
        unsigned char first;
        ssize_t n = recv(c->w.fd, &first, 1, MSG_PEEK);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
        if (n <= 0) {
            h1_conn_close(c);
            return false;
        }
        c->xport = first == 0x16 ? H1_XP_HANDSHAKE : H1_XP_PLAIN; /* a TLS handshake record */
        if (c->xport == H1_XP_HANDSHAKE &&
            !(c->tls = tls_conn_server(worker_identity(c->wk), c->w.fd))) {
            h1_conn_close(c);
            return false;
        }
    }
    if (c->xport == H1_XP_HANDSHAKE) {
        int hs = tls_conn_handshake(c->tls);
        if (hs == 0) return false;
        if (hs < 0) {
            log_msg(LOG_WARNING, "%s: TLS handshake refused: %s", c->ml->name,
                    tls_conn_error(c->tls));
            h1_conn_close(c);
            return false;
        }
        c->xport = H1_XP_TLS;
    }
    return true;
}

void
h1_conn_pump(struct h1_conn *c)
{
    struct worker *wk = c->wk;
    const struct h1_limits *lim = &wk->opt->limits;
    if (c->xport == H1_XP_SNIFF || c->xport == H1_XP_HANDSHAKE) {
        if (!conn_secured(c)) return;
        c->in_ready = true;
    }
    for (int guard = 0; guard < 1000; guard++) {
        bool progress = false;
        /* Read from the client while there is room (pipelined requests wait in the buffer). */
        if (c->in_ready && !c->in_eof && !c->close_after && !(c->ex && c->ex->fault_delayed)) {
            h1_buf_ensure(wk, &c->in);
            int r = h1_read_some(&c->in, c->w.fd, c->tls, c->in_hup, &c->in_ready, &c->in_eof);
            if (r < 0) {
                h1_conn_close(c);
                return;
            }
            if (r > 0) c->active_ms = now_ms(); /* a store: the timeouts look at it later */
            if (c->in_eof) probe_client(c);
            progress |= r > 0;
        }
        /* A new request. */
        if (c->state == H1_IDLE && !(c->ex && c->ex->up) && !c->close_after && !buf_empty(&c->in) &&
            buf_len(&c->out) < OUT_HIGH_WATER) {
            /* A connection whose listener a reload removed is answered on its old
             * snapshot one last time, with connection: close. */
            if (!c->ex && !rebind(c)) c->retired = true;
            if (!c->ex && !(c->ex = exchange_get(wk))) {
                h1_conn_close(c);
                return;
            }
            ssize_t n = h1_parse_request(buf_head(&c->in), buf_len(&c->in), lim, &c->ex->req);
            if (n == H1_BAD) {
                h1_buf_ensure(wk, &c->out);
                report_begin(c, buf_len(&c->in)); /* with what was parsed before the fault */
                c->ex->status = c->ex->req.head.status;
                c->ex->flags |= RF_DPE;
                reply_local(&c->out, c->ex->req.head.status, c->ex->req.head.error, true);
                c->close_after = true;
                exchange_put(c);
                progress = true;
            } else if (n > 0) {
                /* The request's slices point into c->in: the exchange starts (and writes the
                 * upstream head) before the head is dropped from the buffer. */
                start_exchange(c, (size_t)n);
                if (c->ex && c->ex->fault_delayed)
                    c->ex->held_head = (size_t)n; /* dropped when the delay ends */
                else
                    buf_consume(&c->in, (size_t)n);
                progress = true;
            } else if (c->in_eof) {
                c->close_after = true;
                exchange_put(c);
            }
        } else if (c->state == H1_IDLE && !c->ex && c->in_eof && buf_empty(&c->in)) {
            c->close_after = true;
        }
        if (c->ex && c->ex->up && c->state == H1_REQUEST_BODY) progress |= move_request_body(c);
        if (c->ex && c->ex->up) {
            progress |= upstream_io(c);
            if (c->ex && c->ex->up) progress |= move_response(c);
        }
        /* Write to the client: after the batch (h1_flush), or now from h1_flush itself. */
        if (!buf_empty(&c->out) && wk->defer_writes) {
            if (!c->flush_queued) {
                c->flush_queued = true;
                c->flush_next = wk->flush_conns;
                wk->flush_conns = c;
            }
        } else if (!buf_empty(&c->out)) {
            ssize_t n = h1_write_some(&c->out, c->w.fd, c->tls);
            if (n > 0) {
                c->written += (uint64_t)n;
                c->active_ms = now_ms();
                progress = true;
            } else if (n != -EAGAIN) {
                h1_conn_close(c);
                return;
            }
        }
        if (c->close_after && buf_empty(&c->out) && !(c->ex && c->ex->up)) {
            h1_conn_close(c);
            return;
        }
        if (wk->draining && c->used && !c->ex && buf_empty(&c->in) && buf_empty(&c->out)) {
            h1_conn_close(c);
            return;
        }
        if (!progress) break;
    }
    h1_buf_shed(wk, &c->in);
    h1_buf_shed(wk, &c->out);
}
