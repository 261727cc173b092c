/* SPDX-License-Identifier: Apache-2.0 */
/* The protocol-neutral request (req.h): route, answer locally or start the tries, move the
 * body and the response between its upstream and its codec, report. Local replies: 404
 * when no route matches (NR), 503 for a missing cluster (NC), an empty pool (UH), a failed
 * connect (UF) or a connection closed before the response (UC), 502 for a bad upstream
 * response, 504 on the route timeout (UT). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/compiler.h"
#include "core/metric.h"
#include "core/now.h"
#include "core/prng.h"
#include "http/conn.h"
#include "http/fault.h"
#include "http/hash_policy.h"
#include "http/headers.h"
#include "http/metrics.h"
#include "http/mirror.h"
#include "http/req.h"
#include "http/retry.h"
#include "http/upstream.h"
#include "lb/lb.h"
#include "lb/outlier.h"
#include "lb/split.h"
#include "model/endpoint.h"
#include "model/route.h"
#include "tls/conn.h"

#define OUT_HIGH_WATER (256 * 1024) /* stop moving bytes into a buffer this full */
#define REQ_ARENA_BLOCK 1024        /* a retry head, a CORS origin: most need one block */

void
req_init(struct req *q, struct conn *conn, const struct stream_ops *down)
{
    *q = (struct req){
        .conn = conn,
        .down = down,
        .block = -1,
        .attempt = 1,
        .wait_ep = SIZE_MAX,
        .last_ep = SIZE_MAX,
        .upstream_ms = -1,
        .grpc_status = -1,
        .head_ms = now_ms(),
        .gen = worker_gen_hold(conn->gen),
    };
    buf_init_empty(&q->body_replay, REQ_RETRY_BODY_LIMIT);
    arena_init(&q->mem, REQ_ARENA_BLOCK, false);
}

void *
req_alloc(struct req *q, size_t n)
{
    return arena_alloc(&q->mem, n);
}

/* The request is done with the endpoint of its try: one request fewer in flight there
 * (counted by the request's own pool: a shared HTTP/2 connection serves several). */
static void
endpoint_done(const struct req *q)
{
    const struct model_cluster *cl = q->dest->cluster;
    if (q->last_ep < cl->n_endpoints) worker_active_sub(q->conn->wk, cl, q->last_ep);
}

/* Give back the places this request holds in its pool's circuit-breaker counts. */
static void
uncount(struct req *q)
{
    struct pool_state *ps = q->counted ? q->counted->state : NULL;
    wait_unlink(&q->wait);
    if (!ps) return;
    if (q->counts_request) atomic_fetch_sub_explicit(&ps->requests, 1, memory_order_relaxed);
    if (q->counts_pending) atomic_fetch_sub_explicit(&ps->pending, 1, memory_order_relaxed);
    if (q->counts_retry) atomic_fetch_sub_explicit(&ps->retries, 1, memory_order_relaxed);
    q->counts_request = q->counts_pending = q->counts_retry = false;
}

/* The request's line in the metrics (and the access log). */
static void
report(struct req *q, uint64_t resp_bytes)
{
    struct worker *wk = q->conn->wk;
    const struct model_cluster *cl = q->dest ? q->dest->cluster : NULL;
    struct exchange_record r = {
        .inbound = q->conn->ml->inbound,
        .peer_mtls = q->conn->tls != NULL,
        .peer_principal = q->conn->tls ? tls_conn_peer_uri(q->conn->tls) : NULL,
        .peer = q->peer,
        .cluster = cl,
        .endpoint = cl ? q->last_ep : SIZE_MAX,
        .code = q->status,
        .flags = q->flags,
        .duration_us = now_us_precise() - q->start_us,
        .req_bytes = q->req_bytes,
        .resp_bytes = resp_bytes,
        .grpc = q->grpc,
        .grpc_status = q->grpc_status,
        .req_messages = q->req_msgs.messages,
        .resp_messages = q->resp_msgs.messages,
    };
    metrics_record(wk->metrics, &r);
    if (q->log_len) {
        struct access_log_end e = {
            .request_id = q->rid[0] ? q->rid : NULL,
            .route_name = q->route ? q->route->name : NULL,
            .attempts = q->last_ep != SIZE_MAX ? q->attempt : 0,
            .upstream_ms = q->upstream_ms,
        };
        access_log_finish(&wk->alog, q->log_req, q->log_len, &r, &e);
    }
}

void
req_release(struct req *q, uint64_t resp_bytes)
{
    struct worker *wk = q->conn->wk;
    if (q->started) report(q, resp_bytes);
    if (q->upgraded) metric_add(&wk->cx.upgrades_ended, 1);
    wheel_disarm(&wk->loop.wheel, &q->timer);
    wheel_disarm(&wk->loop.wheel, &q->retry_wait);
    wheel_disarm(&wk->loop.wheel, &q->try_timer);
    uncount(q);
    buf_fini(&q->body_replay);
    free(q->shadow_head);
    q->shadow_head = NULL;
    if (q->replay_owned) free(q->replay);
    q->replay = NULL;
    if (q->up) {
        struct upstream *u = q->up;
        endpoint_done(q);
        q->up = NULL;
        u->ops->release(u, q, false);
    }
    arena_fini(&q->mem);
    if (q->gen) worker_gen_put(q->gen);
    q->gen = NULL;
}

void
req_begin(struct req *q, const struct req_head *h, size_t head_bytes)
{
    q->started = true;
    q->req_bytes = head_bytes;
    q->start_us = now_us_precise();
    q->start_ms = now_ms();
    if (h && q->conn->wk->alog.log) req_log_begin(q, h);
}

void
req_wake(struct req *q)
{
    struct conn *c = q->conn;
    if (!c->closed) c->ops->pump(c);
}

/* The request is over for the codec: <how> (REQ_DONE_*). */
static void
done(struct req *q, int how)
{
    q->down->done(q, how);
}

void
req_local(struct req *q, struct local_reply *r)
{
    q->status = r->status;
    if (q->conn->ml->inbound && q->conn->wk->mx.value_len) {
        r->mx = q->mx_asked;
        r->mx_for = q;
    }
    if (q->down->reply(q, r)) r->close = true;
    done(q, r->close ? REQ_DONE_CLOSE : REQ_DONE_OK);
}

/* Envoy's gRPC status for an HTTP status it answers a gRPC request with itself. */
static int
grpc_status_of(int http)
{
    switch (http) {
    case 400: return 13; /* INTERNAL */
    case 401: return 16; /* UNAUTHENTICATED */
    case 403: return 7;  /* PERMISSION_DENIED */
    case 404: return 12; /* UNIMPLEMENTED */
    case 429:
    case 502:
    case 503:
    case 504: return 14; /* UNAVAILABLE */
    default: return 2;   /* UNKNOWN */
    }
}

/* A local reply to a gRPC request: trailers-only, HTTP 200 with grpc-status and the body as
 * grpc-message (Envoy's). */
static void
grpc_reply(struct req *q, int status, const char *body)
{
    char code[8];
    q->grpc_status = grpc_status_of(status);
    int n = snprintf(code, sizeof(code), "%d", q->grpc_status);
    struct h1_header f[3] = {
        {SLICE_LIT("content-type"), SLICE_LIT("application/grpc")},
        {SLICE_LIT("grpc-status"), slice_make(code, n > 0 ? (size_t)n : 0)},
        {SLICE_LIT("grpc-message"), body ? slice_make(body, strlen(body)) : SLICE_LIT("")},
    };
    struct local_reply lr = {.status = 200, .fields = f, .n_fields = 3, .close = q->must_close};
    req_local(q, &lr);
}

void
req_reply(struct req *q, int status, const struct h1_header *fields, size_t n_fields,
          const char *body)
{
    if (q->grpc && !n_fields) {
        grpc_reply(q, status, body);
        return;
    }
    struct local_reply r = {
        .status = status,
        .fields = fields,
        .n_fields = n_fields,
        .body = body ? slice_make(body, strlen(body)) : slice_make("", 0),
        .text = true,
        .close = q->must_close,
    };
    req_local(q, &r);
}

/* Envoy's CORS filter for a rule with a corsPolicy: answer an allowed preflight (and, with
 * unmatchedPreflights IGNORE, any other) ourselves; remember an allowed origin so the
 * response carries the CORS headers. true when the request is answered. */
static bool
cors_handled(struct req *q, const struct req_head *h, const struct model_cors *cors)
{
    struct slice origin, want;
    if (!headers_find(h->fields, h->n_fields, "origin", &origin) || !origin.len) return false;
    bool allowed = route_cors_allows(cors, origin);
    bool preflight = slice_eq(h->method, "OPTIONS") &&
                     headers_find(h->fields, h->n_fields, "access-control-request-method", &want) &&
                     want.len;
    if (preflight && (allowed || cors->ignore_unmatched)) {
        struct h1_header f[5];
        size_t n = allowed ? headers_cors_preflight(f, cors, origin) : 0;
        struct local_reply r = {.status = 200, .fields = f, .n_fields = n};
        req_local(q, &r);
        return true;
    }
    char *keep = allowed && origin.len <= 256 ? req_alloc(q, origin.len) : NULL;
    if (keep) {
        memcpy(keep, origin.ptr, origin.len);
        q->cors_origin = slice_make(keep, origin.len);
    }
    return false;
}

static void
direct_reply(struct req *q, const struct model_route *r)
{
    struct local_reply lr = {
        .status = r->direct_status,
        .ops = &r->headers.response,
        .body = r->direct_body,
        .text = r->direct_body.len > 0,
        .no_body = q->head_request,
    };
    req_local(q, &lr);
}

static void
redirect(struct req *q, const struct req_head *h, const struct model_route *r)
{
    char location[4096];
    const char *scheme = r->redirect_scheme ? r->redirect_scheme : "http";
    const char *path_end = memchr(h->path.ptr, '?', h->path.len);
    struct slice query = path_end
                             ? slice_make(path_end, h->path.len - (size_t)(path_end - h->path.ptr))
                             : slice_make("", 0);
    char authority[512];
    if (r->redirect_authority) {
        snprintf(authority, sizeof(authority), "%s", r->redirect_authority);
    } else {
        /* The request's host without its port. */
        size_t n = h->authority.len;
        const char *colon = memchr(h->authority.ptr, ':', n);
        if (colon && h->authority.ptr[0] != '[') n = (size_t)(colon - h->authority.ptr);
        snprintf(authority, sizeof(authority), "%.*s", (int)n, h->authority.ptr);
    }
    unsigned want_port = r->redirect_request_port ? q->conn->ml->port : r->redirect_port;
    char port[16] = "";
    if (want_port && !(want_port == 80 && !strcmp(scheme, "http")) &&
        !(want_port == 443 && !strcmp(scheme, "https")))
        snprintf(port, sizeof(port), ":%u", want_port);
    const struct model_match *m = q->block >= 0 ? &r->matches[q->block] : NULL;
    int n;
    if (r->redirect_uri) {
        /* A new path with its own query replaces the request's query (Envoy). */
        bool own_query = strchr(r->redirect_uri, '?') != NULL;
        n = snprintf(location, sizeof(location), "%s://%s%s%s%.*s", scheme, authority, port,
                     r->redirect_uri, own_query ? 0 : (int)query.len, query.ptr);
    } else if (r->redirect_prefix && m && m->has_uri && m->uri.kind == MODEL_SM_PREFIX &&
               m->uri.value.len <= h->path.len) {
        size_t cut = m->uri.value.len;
        n = snprintf(location, sizeof(location), "%s://%s%s%s%.*s", scheme, authority, port,
                     r->redirect_prefix, (int)(h->path.len - cut), h->path.ptr + cut);
    } else {
        n = snprintf(location, sizeof(location), "%s://%s%s%.*s", scheme, authority, port,
                     (int)h->path.len, h->path.ptr);
    }
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(location) ? (size_t)n : sizeof(location) - 1;
    struct h1_header f = {SLICE_LIT("location"), slice_make(location, len)};
    struct local_reply lr = {.status = r->redirect_code, .fields = &f, .n_fields = 1};
    req_local(q, &lr);
}

/* A Gateway HTTP server with tls.httpsRedirect: every request is sent to https, same host
 * (its port dropped) and path, 301 (Envoy's require_tls). */
static void
https_redirect(struct req *q, const struct req_head *h)
{
    struct slice host = h->authority;
    const char *colon = host.len && host.ptr[0] != '[' ? memchr(host.ptr, ':', host.len) : NULL;
    if (colon) host.len = (size_t)(colon - host.ptr);
    char location[8192];
    int n = snprintf(location, sizeof(location), "https://%.*s%.*s", (int)host.len, host.ptr,
                     (int)h->path.len, h->path.ptr);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(location) ? (size_t)n : sizeof(location) - 1;
    struct h1_header f = {SLICE_LIT("location"), slice_make(location, len)};
    struct local_reply lr = {.status = 301, .fields = &f, .n_fields = 1};
    req_local(q, &lr);
}

void
req_release_upstream(struct req *q, bool reusable)
{
    struct upstream *u = q->up;
    if (!u) return;
    endpoint_done(q);
    q->up = NULL;
    u->ops->release(u, q, reusable);
}

void
req_abort(struct req *q, int status, const char *body)
{
    req_release_upstream(q, false);
    if (q->resp_head) {
        done(q, REQ_DONE_CUT);
        return;
    }
    /* A request not wholly sent leaves its client's stream where it cannot resync. */
    if (!q->sent) q->must_close = true;
    req_reply(q, status, NULL, 0, body);
}

/* The route timeout covers the whole exchange from the moment the request has been
 * received (Envoy): 504 when no response has started, a reset when one has (flag UT). */
static void
on_route_timeout(struct wheel_timer *t)
{
    struct req *q = container_of(t, struct req, timer);
    struct conn *c = q->conn;
    struct upstream *u = q->up;
    if (u && !q->resp_head) {
        outlier_local(u->cluster, u->endpoint, OUTLIER_TIMEOUT, now_ms());
        metrics_upstream(c->wk->metrics, u->pstate, UP_TIMEOUT);
        metrics_upstream_code(c->wk->metrics, u->cluster, u->endpoint, 504);
    }
    q->flags |= RF_UT;
    req_abort(q, 504, "upstream request timeout");
    if (!c->closed) c->ops->pump(c);
}

void
req_arm_route_timeout(struct req *q)
{
    const struct model_route *r = q->route;
    if (!r || !r->timeout_ms || wheel_armed(&q->timer) || q->upgraded) return;
    q->timer.cb = on_route_timeout;
    wheel_arm(&q->conn->wk->loop.wheel, &q->timer, now_ms() + r->timeout_ms);
}

void
req_keep_replay(struct req *q, const char *head, size_t len)
{
    if (q->replay) return;
    char *p = req_alloc(q, len);
    if (!p && (p = malloc(len))) q->replay_owned = true;
    if (!p) return;
    memcpy(p, head, len);
    q->replay = p;
    q->replay_len = len;
}

/* The head of a first try that has not gone out, kept for the retry (when the policy
 * retries) or, <always>, for the connection it waits for. */
static void
keep_replay_unsent(struct req *q, const struct req_head *h, const char *rid, bool always)
{
    const struct model_route *r = q->route;
    if (q->replay || !h || (!always && (!r || !r->retry_attempts))) return;
    struct buf tmp;
    if (buf_init(&tmp, 4096, 1 << 20)) return;
    if (!headers_request(&tmp, q, h, rid, false))
        req_keep_replay(q, buf_head(&tmp), buf_len(&tmp) - 2);
    buf_fini(&tmp);
}

/* 503 UO: a circuit breaker of the pool is full (Envoy's overflow reply). */
static void
overflow_reply(struct req *q, const struct model_cluster *cl)
{
    static const struct h1_header overloaded = {SLICE_LIT("x-envoy-overloaded"), SLICE_LIT("true")};
    q->flags |= RF_UO;
    metrics_upstream(q->conn->wk->metrics, cl->state, UP_PENDING_OVERFLOW);
    atomic_fetch_add_explicit(&cl->state->overflows, 1, memory_order_relaxed);
    req_reply(q, 503, &overloaded, 1,
              "upstream connect error or disconnect/reset before headers. reset "
              "reason: overflow");
}

/* Circuit breakers on a try that found no idle connection to endpoint <ep>: false when
 * the request ended (overflow) or now waits for a connection of that pool (<waits>); true
 * when it may open one. A worker with no connection to the endpoint may always open one,
 * as Envoy's pools do, so a waiter always has a connection to wait for. */
static bool
admit_connection(struct req *q, const struct req_head *h, const char *rid,
                 const struct model_cluster *cl, size_t ep, bool *waits)
{
    struct pool_state *ps = cl->state;
    struct idle_pool *p = worker_pool(q->conn->wk, cl, ep);
    *waits = false;
    if (!p || !p->open ||
        atomic_load_explicit(&ps->connections, memory_order_relaxed) < cl->limits.max_connections)
        return true;
    if (!q->counts_pending) {
        if (atomic_load_explicit(&ps->pending, memory_order_relaxed) >= cl->limits.max_pending) {
            overflow_reply(q, cl);
            return false;
        }
        atomic_fetch_add_explicit(&ps->pending, 1, memory_order_relaxed);
        q->counts_pending = true;
        q->counted = cl;
    }
    keep_replay_unsent(q, h, rid, true);
    if (!q->replay) {
        req_reply(q, 503, NULL, 0, "out of memory");
        return false;
    }
    q->wait_ep = ep;
    wait_push(&p->waiters, &q->wait);
    req_arm_route_timeout(q); /* a waiter waits no longer than the route allows */
    *waits = true;
    return false;
}

void
req_resume_waiters(struct worker *wk)
{
    for (int guard = 0; wk->ready.head && guard < 4096; guard++) {
        struct wait_node *n = wk->ready.head;
        wait_unlink(n);
        struct req *q = container_of(n, struct req, wait);
        if (q->counts_pending) {
            atomic_fetch_sub_explicit(&q->counted->state->pending, 1, memory_order_relaxed);
            q->counts_pending = false;
        }
        struct conn *c = q->conn;
        req_try_start(q, q->dest->cluster);
        if (!c->closed) c->ops->pump(c);
    }
}

static void retry(struct req *q);
static void arm_try_timer(struct req *q);

/* Start a try; <h> is the request's head on the first try (NULL on a later one, or after
 * a wait: the replay has it). */
static bool
try_start(struct req *q, const struct model_cluster *cl, const struct req_head *h)
{
    struct worker *wk = q->conn->wk;
    struct worker_gen *g = q->gen;
    if (!worker_gen_ready(g, cl)) {
        req_reply(q, 503, NULL, 0, "out of memory");
        return false;
    }
    char rid[37] = "";
    if (!q->replay) { /* a later try resends the first try's request id */
        prng_uuid(rid);
        memcpy(q->rid, rid, sizeof(rid));
    }
    const struct model_route *rt = q->route;
    if (cl->limits.any && !q->counts_request) { /* http2MaxRequests: requests in flight */
        if (atomic_load_explicit(&cl->state->requests, memory_order_relaxed) >=
            cl->limits.max_requests) {
            overflow_reply(q, cl);
            return false;
        }
        atomic_fetch_add_explicit(&cl->state->requests, 1, memory_order_relaxed);
        q->counts_request = true;
        q->counted = cl;
    }
    if (q->attempt == 1 && q->body != REQ_BODY_NONE && rt &&
        (rt->retry_attempts || rt->n_mirrors) && !q->upgrade)
        q->body_kept = true; /* nothing sent yet: req_body_data keeps what it sends */
    size_t ep = q->wait_ep;  /* a waiter takes the connection its endpoint freed */
    q->wait_ep = SIZE_MAX;
    if (ep == SIZE_MAX) {
        /* The request's hash, from its head while it is valid: a retry reuses it. */
        if (q->attempt == 1 && !q->hash_known && h) {
            q->hashed = cl->lb_table && hash_policy_key(q, h, cl, &q->hash);
            q->hash_known = true;
        }
        bool hashed = q->hashed;
        uint64_t hash = q->hash;
        /* A retry avoids endpoints already tried (Istio's previous_hosts predicate), except
         * where the hash must decide or the policy keeps the host. */
        bool avoid = q->attempt > 1 && !hashed && !(rt && rt->retry_keep_previous_host);
        ep = avoid ? lb_pick_retry(cl, g->rr[cl->index], wk->active, q->tried)
                   : lb_pick(cl, g->rr[cl->index], wk->active, hashed ? &hash : NULL);
    }
    if (ep == LB_NO_HOST) { /* every endpoint ejected by outlier detection */
        q->flags |= RF_UH;
        req_reply(q, 503, NULL, 0, "no healthy upstream");
        return false;
    }
    if (ep < 64) q->tried |= 1ull << ep;
    q->last_ep = ep;
    /* HTTP/2 pools share a connection between requests (h2_upstream.c); HTTP/1.1 ones take
     * an idle connection or open one, within the pool's limits. */
    enum model_upstream_proto proto = model_cluster_upstream(cl, q->conn->ml)->proto;
    bool h2 = proto == MODEL_UP_HTTP2 || (proto == MODEL_UP_CLIENT && q->client_h2);
    /* An upgrade goes as HTTP/1.1 whatever the pool speaks: Istio's clusters do not enable
     * extended CONNECT towards an HTTP/2 server (RFC 8441), so there is no other form. */
    if (q->upgrade) h2 = false;
    struct upstream *u = h2 ? h2_upstream_take(wk, cl, ep) : worker_take_idle(wk, cl, ep);
    bool waits = false;
    if (!u && !h2 && cl->limits.any && !admit_connection(q, h, rid, cl, ep, &waits)) return waits;
    if (!u && !h2) u = upstream_open(wk, cl, ep);
    metrics_upstream(wk->metrics, cl->state, UP_RQ);
    if (!u) {
        metrics_upstream_code(wk->metrics, cl, ep, 503);
        if (q->attempt == 1) keep_replay_unsent(q, h, rid, false);
        if (retry_should(q, RETRY_CONNECT_FAILURE, 0)) {
            if (q->body == REQ_BODY_NONE || q->body_done) req_arm_route_timeout(q);
            retry(q);
            return true;
        }
        q->flags |= RF_UF;
        req_reply(q, 503, NULL, 0,
                  "upstream connect error or disconnect/reset before headers. "
                  "reset reason: connection failure");
        return false;
    }
    worker_active_add(wk, cl, ep); /* back down when the request lets the upstream go */
    u->requests++;
    u->ops->bind(u, q);
    q->up = u;
    if (q->attempt == 1 && q->down->proceed(q)) {
        req_abort(q, 500, "");
        return false;
    }
    if (u->ops->send_head(u, q, h, rid)) {
        req_abort(q, 431, "request header too large to forward");
        return false;
    }
    if (q->attempt > 1 &&
        ((buf_len(&q->body_replay) &&
          u->ops->send_data(u, q, buf_head(&q->body_replay), buf_len(&q->body_replay))) ||
         (q->body != REQ_BODY_NONE && q->body_done &&
          u->ops->send_end(u, q, q->trailers, q->n_trailers)))) {
        req_abort(q, 503, "out of memory");
        return false;
    }
    q->sent = q->body == REQ_BODY_NONE || q->body_done;
    if (q->sent) req_arm_route_timeout(q);
    if (rt && rt->retry_attempts && rt->retry_per_try_ms) arm_try_timer(q);
    return true;
}

bool
req_try_start(struct req *q, const struct model_cluster *cl)
{
    return try_start(q, cl, NULL);
}

/* The head a mirror copy of this request sends, written now while the request's head is
 * valid: the body arrives after it is gone. */
static void
keep_shadow_head(struct req *q, const struct req_head *h)
{
    struct buf tmp;
    char rid[37];
    prng_uuid(rid);
    if (buf_init(&tmp, 4096, 1 << 20)) return;
    if (!headers_request(&tmp, q, h, rid, true) && (q->shadow_head = malloc(buf_len(&tmp)))) {
        memcpy(q->shadow_head, buf_head(&tmp), buf_len(&tmp));
        q->shadow_head_len = buf_len(&tmp);
    }
    buf_fini(&tmp);
}

/* The route's injected abort (flag FI): an HTTP status, or a gRPC status in an HTTP 200
 * with no body. */
static void
fault_abort_reply(struct req *q, const struct model_route *r)
{
    q->flags |= RF_FI;
    if (r->fault_abort_status > 0) {
        req_reply(q, r->fault_abort_status, NULL, 0, "fault filter abort");
        return;
    }
    char code[16];
    q->grpc_status = r->fault_abort_grpc;
    int n = snprintf(code, sizeof(code), "%d", r->fault_abort_grpc);
    struct h1_header f[3] = {
        {SLICE_LIT("content-type"), SLICE_LIT("application/grpc")},
        {SLICE_LIT("grpc-status"), slice_make(code, n > 0 ? (size_t)n : 0)},
        {SLICE_LIT("grpc-message"), SLICE_LIT("fault filter abort")},
    };
    struct local_reply lr = {.status = 200, .fields = f, .n_fields = 3};
    req_local(q, &lr);
}

/* An upgrade request the route must refuse: an upgrade type other than websocket, the only
 * one Istio enables (HCM upgrade_configs), gets Envoy's 403 (upgrade_failed), and an upgrade
 * with a body 400 (RFC 6455 §4.1: a GET; a body would be tunnel bytes read as HTTP). The
 * connection closes after either. true when refused. */
static bool
upgrade_refused(struct req *q, const struct req_head *h)
{
    if (!slice_ieq(h->upgrade, "websocket")) {
        metric_add(&q->conn->wk->cx.upgrade_refused, 1);
        req_reply(q, 403, NULL, 0, "");
        return true;
    }
    if (q->body != REQ_BODY_NONE && !q->client_h2) { /* HTTP/2: its DATA are the tunnel */
        req_reply(q, 400, NULL, 0, "upgrade request with a body");
        return true;
    }
    return false;
}

/* After any injected delay: an injected abort, or the destination and the upstream. */
static void
route_upstream(struct req *q, const struct req_head *h, const struct model_route *r)
{
    if (fault_aborts(r)) {
        fault_abort_reply(q, r);
        return;
    }
    size_t di = q->sticky ? split_pick_sticky(&q->gen->split, r, q->sticky_hash)
                          : split_pick(&q->gen->split, r);
    const struct model_destination *d = &r->dests[di];
    q->dest = d;
    if (!d->cluster) {
        q->flags |= RF_NC;
        req_reply(q, 503, NULL, 0, "cluster not found");
        return;
    }
    if (!d->cluster->n_endpoints) {
        q->flags |= RF_UH;
        req_reply(q, 503, NULL, 0, "no healthy upstream");
        return;
    }
    if (!try_start(q, d->cluster, h)) return;
    /* A mirror gets no upgrade request: its copy could not be tunnelled (Envoy's shadow
     * copies are plain requests). */
    for (size_t i = 0; !q->upgrade && i < r->n_mirrors && i < 32; i++) {
        if (!fault_sampled(r->mirrors[i].ppm)) continue;
        if (q->body == REQ_BODY_NONE)
            mirror_start(q, h, r->mirrors[i].cluster);
        else
            q->mirrors_due |= 1u << i; /* copied once the body has been read */
    }
    if (q->mirrors_due) keep_shadow_head(q, h);
}

/* The injected delay is over: route the held request. */
static void
on_fault_delay(struct wheel_timer *t)
{
    struct req *q = container_of(t, struct req, timer);
    struct conn *c = q->conn;
    q->fault_delayed = false;
    const struct req_head *h = q->down->head(q);
    if (h)
        route_upstream(q, h, q->route);
    else
        req_abort(q, 500, "");
    if (!c->closed) c->ops->pump(c);
}

void
req_start(struct req *q, const struct req_head *h)
{
    struct worker *wk = q->conn->wk;
    metric_add(&wk->requests, 1); /* read by the admin thread */
    q->head_request = slice_eq(h->method, "HEAD");
    q->client_h2 = h->protocol && !strcmp(h->protocol, "HTTP/2");
    struct slice ct;
    q->grpc = headers_find(h->fields, h->n_fields, "content-type", &ct) && ct.len >= 16 &&
              !memcmp(ct.ptr, "application/grpc", 16);
    /* What follows an upgrade request that is not answered 101 is not HTTP: its connection
     * carries nothing more (Envoy closes it too: the request never ends). */
    q->upgrade = h->upgrade.len > 0;
    if (q->upgrade) q->must_close = true;
    if (q->conn->ml->inbound) { /* the caller's metadata, before anything can answer it */
        struct slice md;
        q->mx_asked = mx_find(h->fields, h->n_fields, &md);
        if (md.len) q->peer = mx_peer(&wk->mx, md);
    }
    if (slice_eq(h->method, "CONNECT") && !q->upgrade) {
        /* No tunnels: Envoy's 403 for a CONNECT no upgrade config enables; what follows
         * would be tunnel payload, so the connection closes. */
        q->must_close = true;
        req_reply(q, 403, NULL, 0, "");
        return;
    }
    if (q->conn->ml->https_redirect && !q->conn->tls) {
        https_redirect(q, h);
        return;
    }
    struct route_header hdrs[H1_MAX_HEADERS];
    size_t n = h->n_fields < H1_MAX_HEADERS ? h->n_fields : H1_MAX_HEADERS;
    for (size_t i = 0; i < n; i++) {
        hdrs[i].name = h->fields[i].name;
        hdrs[i].value = h->fields[i].value;
    }
    struct route_request rq = {h->method,    h->path,
                               h->authority, q->conn->tls ? SLICE_LIT("https") : SLICE_LIT("http"),
                               hdrs,         n};
    const struct model_vhost *vh = model_vhost_find(q->conn->ml, h->authority);
    const struct model_route *r = route_match(vh, &rq, &q->block);
    q->route = r;
    if (!r) {
        q->flags |= RF_NR;
        req_reply(q, 404, NULL, 0, "");
        return;
    }
    if (q->upgrade && upgrade_refused(q, h)) return;
    struct slice key;
    q->sticky = r->action == MODEL_ROUTE && r->n_dests > 1 && route_sticky_key(r, &rq, &key);
    if (q->sticky) q->sticky_hash = split_sticky_hash(key.ptr, key.len);
    if (r->cors && cors_handled(q, h, r->cors)) return;
    if (r->action == MODEL_DIRECT_RESPONSE) {
        direct_reply(q, r);
        return;
    }
    if (r->action == MODEL_REDIRECT) {
        redirect(q, h, r);
        return;
    }
    uint64_t delay = fault_delay_ms(r);
    if (delay) { /* before the router: the route timeout starts after it (flag DI) */
        q->flags |= RF_DI;
        q->fault_delayed = true;
        q->timer.cb = on_fault_delay;
        wheel_arm(&wk->loop.wheel, &q->timer, now_ms() + delay);
        return;
    }
    route_upstream(q, h, r);
}

/* Keep body bytes sent upstream for a retry, while they fit the limit. */
static void
keep_body(struct req *q, const char *p, size_t n)
{
    if (!q->body_kept || !n) return;
    if (buf_append(&q->body_replay, p, n)) {
        q->body_kept = false; /* past the limit: this request will not be retried */
        buf_fini(&q->body_replay);
        buf_init_empty(&q->body_replay, REQ_RETRY_BODY_LIMIT);
    }
}

/* The mirrors of a request with a body, now that it has all been read (and kept). */
static void
start_body_mirrors(struct req *q)
{
    const struct model_route *r = q->route;
    uint32_t due = q->mirrors_due;
    q->mirrors_due = 0;
    for (size_t i = 0; due && r && i < r->n_mirrors && i < 32; i++)
        if (due >> i & 1 && q->body_kept) mirror_start(q, NULL, r->mirrors[i].cluster);
}

size_t
req_body_room(const struct req *q)
{
    const struct upstream *u = q->up;
    if (!u || q->sent) return 0;
    size_t queued = u->ops->queued(u, q);
    return queued < OUT_HIGH_WATER ? OUT_HIGH_WATER - queued : 0;
}

int
req_body_data(struct req *q, const char *p, size_t n)
{
    struct upstream *u = q->up;
    if (n && u->ops->send_data(u, q, p, n)) return -1;
    if (q->grpc) grpc_frames_feed(&q->req_msgs, p, n); /* once: a retry's replay is not */
    keep_body(q, p, n);
    return 0;
}

/* Trailers that live as long as the request (a later try sends them again). */
static void
keep_trailers(struct req *q, const struct h1_header *t, size_t n)
{
    if (!n || q->trailers) return;
    size_t bytes = n * sizeof(*t);
    for (size_t i = 0; i < n; i++) bytes += t[i].name.len + t[i].value.len;
    struct h1_header *v = req_alloc(q, bytes);
    if (!v) return;
    char *p = (char *)(v + n);
    for (size_t i = 0; i < n; i++) {
        memcpy(p, t[i].name.ptr, t[i].name.len);
        v[i].name = slice_make(p, t[i].name.len);
        p += t[i].name.len;
        memcpy(p, t[i].value.ptr, t[i].value.len);
        v[i].value = slice_make(p, t[i].value.len);
        p += t[i].value.len;
    }
    q->trailers = v;
    q->n_trailers = n;
}

int
req_body_end(struct req *q, const struct h1_header *t, size_t n)
{
    struct upstream *u = q->up;
    if (u->ops->send_end(u, q, t, n)) return -1;
    keep_trailers(q, t, n);
    q->sent = true;
    if (!q->body_done) {
        q->body_done = true;
        start_body_mirrors(q);
    }
    req_arm_route_timeout(q);
    return 0;
}

/* The grpc-status among fields <f>, or -1. */
static int
grpc_status_in(const struct h1_header *f, size_t n)
{
    struct slice gs;
    if (!headers_find(f, n, "grpc-status", &gs) || !gs.len || gs.len > 3) return -1;
    int v = 0;
    for (size_t i = 0; i < gs.len; i++) {
        if (gs.ptr[i] < '0' || gs.ptr[i] > '9') return -1;
        v = v * 10 + gs.ptr[i] - '0';
    }
    return v;
}

bool
req_response_head(struct req *q, const struct resp_head *h)
{
    struct upstream *u = q->up;
    struct worker *wk = q->conn->wk;
    if (u->cluster->outlier.enabled) outlier_status(u->cluster, u->endpoint, h->code, now_ms());
    metrics_upstream_code(wk->metrics, u->cluster, u->endpoint, h->code);
    struct slice up;
    if (h->code == 101 && !(q->upgrade && headers_find(h->fields, h->n_fields, "upgrade", &up))) {
        /* 101 to a request that asked for no upgrade, or without the protocol it switches
         * to (RFC 9110 §15.2.2): nothing could make sense of the bytes after it. */
        q->flags |= RF_UPE;
        req_abort(q, 502, "invalid upgrade response from upstream");
        return false;
    }
    int grpc = q->grpc ? grpc_status_in(h->fields, h->n_fields) : -1; /* trailers-only */
    if (grpc >= 0) q->grpc_status = grpc;
    if (retry_should(q, RETRY_RESPONSE, h->code) ||
        (grpc > 0 && retry_should(q, RETRY_GRPC, grpc))) {
        retry(q); /* this response is dropped with its connection */
        return false;
    }
    struct slice md;
    if (!q->conn->ml->inbound && mx_find(h->fields, h->n_fields, &md) & MX_HAS_VALUE)
        q->peer = mx_peer(&wk->mx, md); /* the upstream's: the destination's labels */
    q->upstream_ms = (int64_t)(now_ms() - q->start_ms);
    if (q->down->send_head(q, h, (uint64_t)q->upstream_ms)) {
        q->flags |= RF_UPE;
        req_abort(q, 502, "response header too large");
        return false;
    }
    q->resp_head = true;
    q->status = h->code;
    return true;
}

int
req_response_data(struct req *q, const char *p, size_t n)
{
    int rc = q->down->send_data(q, p, n);
    if (!rc && q->grpc) grpc_frames_feed(&q->resp_msgs, p, n);
    return rc;
}

bool
req_upgraded(struct req *q)
{
    struct worker *wk = q->conn->wk;
    struct upstream *u = q->up;
    wheel_disarm(&wk->loop.wheel, &q->timer);
    wheel_disarm(&wk->loop.wheel, &q->try_timer);
    q->upgraded = true;
    metric_add(&wk->cx.upgrades, 1); /* ended in req_release */
    if (!q->down->upgraded) {        /* HTTP/2: the stream carries the bytes, answered 200 */
        q->status = 200;
        return false;
    }
    endpoint_done(q);
    q->up = NULL;
    u->owner = NULL;
    if (q->down->upgraded(q, u)) done(q, REQ_DONE_CUT); /* it closed <u> */
    return true;
}

void
req_response_end(struct req *q, bool reusable, const struct h1_header *t, size_t n)
{
    int grpc = q->grpc ? grpc_status_in(t, n) : -1;
    if (grpc >= 0) q->grpc_status = grpc;
    q->down->send_end(q, t, n);
    req_release_upstream(q, reusable && q->sent);
    done(q, q->sent ? REQ_DONE_OK : REQ_DONE_CLOSE);
}

size_t
req_resp_room(const struct req *q)
{
    return q->down->room(q);
}

void
req_try_failed(struct req *q, enum req_try_end how)
{
    const struct upstream *u = q->up;
    if (u) {
        outlier_local(u->cluster, u->endpoint,
                      how == REQ_TRY_CONNECT_FAILED ? OUTLIER_CONNECT_FAILED : OUTLIER_RESET,
                      now_ms());
        metrics_upstream_code(q->conn->wk->metrics, u->cluster, u->endpoint, 503);
    }
    enum retry_outcome what = how == REQ_TRY_CONNECT_FAILED ? RETRY_CONNECT_FAILURE
                              : how == REQ_TRY_REFUSED      ? RETRY_REFUSED
                                                            : RETRY_RESET;
    if (retry_should(q, what, 0)) {
        retry(q);
        return;
    }
    /* Envoy's body and flag: UF for a connection failure, UC for a termination, UR for a
     * stream the server reset, UPE when a head came cut short (Envoy's codec fails on the
     * early end of stream, a protocol error). */
    static const char *const why[] = {"connection failure", "connection termination",
                                      "protocol error", "remote refused stream reset",
                                      "remote reset"};
    static const uint32_t flag[] = {RF_UF, RF_UC, RF_UPE, RF_UR, RF_UR};
    int k = how == REQ_TRY_CONNECT_FAILED ? 0
            : how == REQ_TRY_PROTOCOL     ? 2
            : how == REQ_TRY_REFUSED      ? 3
            : how == REQ_TRY_REMOTE_RESET ? 4
                                          : 1;
    char body[128];
    snprintf(body, sizeof(body),
             "upstream connect error or disconnect/reset before headers. reset reason: %s", why[k]);
    q->flags |= flag[k];
    req_abort(q, 503, body);
}

bool
req_pump(struct req *q)
{
    struct upstream *u = q->up;
    if (!u) return false;
    bool progress = u->ops->io(u, q);
    if (q->up == u) progress |= u->ops->deliver(u, q);
    return progress;
}

/* --- Retries: the back-off wait and the per-try timeout (whether: retry.c). --- */

static void
on_retry_wait(struct wheel_timer *t)
{
    struct req *q = container_of(t, struct req, retry_wait);
    struct conn *c = q->conn;
    req_try_start(q, q->dest->cluster);
    if (!c->closed) c->ops->pump(c);
}

/* perTryTimeout: before any response byte went to the client the try is cut and, as a
 * reset, retried when the policy retries resets (5xx, gateway-error, reset); else 504. */
static void
on_try_timeout(struct wheel_timer *t)
{
    struct req *q = container_of(t, struct req, try_timer);
    struct conn *c = q->conn;
    if (q->resp_head) return;
    struct upstream *u = q->up;
    if (u) {
        outlier_local(u->cluster, u->endpoint, OUTLIER_TIMEOUT, now_ms());
        metrics_upstream(c->wk->metrics, u->pstate, UP_TIMEOUT);
        metrics_upstream_code(c->wk->metrics, u->cluster, u->endpoint, 504);
    }
    if (retry_should(q, RETRY_RESET, 0)) {
        retry(q);
    } else {
        q->flags |= RF_UT;
        req_abort(q, 504, "upstream request timeout");
    }
    if (!c->closed) c->ops->pump(c);
}

static void
arm_try_timer(struct req *q)
{
    q->try_timer.cb = on_try_timeout;
    wheel_arm(&q->conn->wk->loop.wheel, &q->try_timer, now_ms() + q->route->retry_per_try_ms);
}

/* Let this try's upstream go and start the next try after Envoy's fully jittered
 * exponential back-off (base 25 ms: 0-24 ms, then 0-49 ms, ..., at most 10x the base). */
static void
retry(struct req *q)
{
    struct worker *wk = q->conn->wk;
    req_release_upstream(q, false);
    wheel_disarm(&wk->loop.wheel, &q->try_timer);
    const struct model_cluster *cl = q->dest ? q->dest->cluster : NULL;
    if (cl && cl->limits.any && !q->counts_retry) {
        atomic_fetch_add_explicit(&cl->state->retries, 1, memory_order_relaxed);
        q->counts_retry = true;
        q->counted = cl;
    }
    if (cl) metrics_upstream(wk->metrics, cl->state, UP_RETRY);
    uint64_t span = retry_backoff_window_ms(q->route->retry_backoff_ms, q->attempt);
    q->attempt++;
    q->retry_wait.cb = on_retry_wait;
    wheel_arm(&wk->loop.wheel, &q->retry_wait, now_ms() + prng_next() % span);
}
