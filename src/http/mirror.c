/* SPDX-License-Identifier: Apache-2.0 */
/* Mirroring (VirtualService mirror / mirrors, spec §3.10): a copy of a request goes to the
 * mirror's pool with "-shadow" appended to its host, its response is read and dropped, and
 * the client never waits for it. To an HTTP/2 pool the copy is an ownerless stream on the
 * pool's shared connection (h2_upstream.c). To an HTTP/1.1 pool a shadow owns its upstream
 * connection until the response ends (then the connection goes back to the keep-alive pool) or
 * fails, or until the route timeout (60 s without one) expires. A request with a body is copied
 * once its body has been read, from the exchange's copies of the shadow head and of the body (up to
 * REQ_RETRY_BODY_LIMIT; a longer one is not mirrored). [W] */
#include <errno.h>
#include <stdlib.h>

#include "core/compiler.h"
#include "core/now.h"
#include "core/prng.h"
#include "http/h1_int.h"
#include "lb/lb.h"

#define SHADOW_TIMEOUT_MS 60000

struct shadow {
    struct worker *wk;
    struct worker_gen *gen; /* held: the generation of the request it copies */
    struct upstream *up;
    struct h1_response resp;
    bool head_done;
    enum h1_body body;
    uint64_t left;
    struct h1_chunked chunks;
    struct wheel_timer timeout;
    struct shadow *next, *prev; /* the worker's shadows */
};

static void
shadow_end(struct shadow *s, bool reusable)
{
    struct worker *wk = s->wk;
    struct upstream *u = s->up;
    wheel_disarm(&wk->loop.wheel, &s->timeout);
    if (s->prev)
        s->prev->next = s->next;
    else
        wk->shadows = s->next;
    if (s->next) s->next->prev = s->prev;
    worker_active_sub(wk, u->cluster, u->endpoint);
    u->shadow = NULL;
    upstream_release(u, reusable);
    worker_gen_put(s->gen);
    free(s);
}

static void
on_timeout(struct wheel_timer *t)
{
    shadow_end(container_of(t, struct shadow, timeout), false);
}

void
mirror_close_all(struct worker *wk)
{
    while (wk->shadows) shadow_end(wk->shadows, false);
}

/* Drop what arrived of the response; true once it is complete. */
static bool
drop_response(struct shadow *s, bool *bad)
{
    struct upstream *u = s->up;
    const struct h1_limits *lim = &s->wk->opt->limits;
    while (!s->head_done) {
        if (buf_empty(&u->in)) return false;
        ssize_t n = h1_parse_response(buf_head(&u->in), buf_len(&u->in), lim, false, &s->resp);
        if (n == H1_NEED_MORE) return false;
        if (n < 0) {
            *bad = true;
            return false;
        }
        buf_consume(&u->in, (size_t)n);
        if (s->resp.code < 200) continue; /* interim */
        s->head_done = true;
        s->body = s->resp.head.body;
        s->left = s->resp.head.content_length;
        if (s->body == H1_BODY_CHUNKED) h1_chunked_init(&s->chunks, lim);
    }
    while (!buf_empty(&u->in)) {
        if (s->body == H1_BODY_NONE) break;
        if (s->body == H1_BODY_LENGTH) {
            size_t n = buf_len(&u->in) < s->left ? buf_len(&u->in) : (size_t)s->left;
            buf_consume(&u->in, n);
            s->left -= n;
            if (!s->left) break;
        } else if (s->body == H1_BODY_CHUNKED) {
            struct slice data;
            ssize_t rc = h1_chunked_parse(&s->chunks, buf_head(&u->in), buf_len(&u->in), &data);
            if (rc < 0) {
                *bad = true;
                return false;
            }
            buf_consume(&u->in, (size_t)rc);
            if (h1_chunked_done(&s->chunks)) break;
            if (rc == 0) return false;
        } else {
            buf_consume(&u->in, buf_len(&u->in)); /* until close */
        }
    }
    switch (s->body) {
    case H1_BODY_NONE: return true;
    case H1_BODY_LENGTH: return s->left == 0;
    case H1_BODY_CHUNKED: return h1_chunked_done(&s->chunks);
    default: return u->eof;
    }
}

void
mirror_io(struct shadow *s)
{
    struct upstream *u = s->up;
    if (u->failed) {
        shadow_end(s, false);
        return;
    }
    if (!u->connected) return;
    if (!buf_empty(&u->out)) {
        ssize_t n = h1_write_some(&u->out, u->w.fd, u->xprt, u->tls);
        if (n < 0 && n != -EAGAIN) {
            shadow_end(s, false);
            return;
        }
    }
    while (u->in_ready && !u->eof) {
        worker_buf_ensure(s->wk, &u->in);
        int r = h1_read_some(&u->in, u->w.fd, u->xprt, u->tls, u->hup, &u->in_ready, &u->eof);
        if (r < 0) {
            shadow_end(s, false);
            return;
        }
        if (r == 0 && buf_empty(&u->in)) break;
        bool bad = false;
        bool done = drop_response(s, &bad);
        if (bad) {
            shadow_end(s, false);
            return;
        }
        if (done) {
            shadow_end(s, s->resp.head.keep_alive && s->body != H1_BODY_UNTIL_CLOSE);
            return;
        }
    }
    if (u->eof) shadow_end(s, false); /* closed before the response ended */
}

/* A copy to an HTTP/2 pool: an ownerless stream (h2_upstream.c) from the same HTTP/1.1
 * head, its body and trailers. */
static void
start_h2(struct req *q, const struct req_head *h, const struct model_cluster *cl, size_t ep,
         uint64_t timeout_ms)
{
    struct buf tmp;
    if (buf_init(&tmp, 4096, 1 << 20)) return;
    struct h2_upstream_copy m = {.timeout_ms = timeout_ms};
    if (h) {
        char rid[37];
        prng_uuid(rid);
        if (headers_request(&tmp, q, h, rid, true)) goto done;
        m.head = buf_head(&tmp);
        m.head_len = buf_len(&tmp);
    } else {
        m.head = q->shadow_head;
        m.head_len = q->shadow_head_len;
        m.has_body = true;
        m.body = buf_head(&q->body_replay);
        m.body_len = buf_len(&q->body_replay);
        m.trailers = q->trailers;
        m.n_trailers = q->n_trailers;
    }
    h2_upstream_mirror(q->conn->wk, cl, ep, &m); /* a lost copy is no client error */
done:
    buf_fini(&tmp);
}

void
mirror_start(struct req *q, const struct req_head *h, const struct model_cluster *cl)
{
    struct worker *wk = q->conn->wk;
    bool body = h == NULL;
    if (!cl || !cl->n_endpoints) return;
    enum model_upstream_proto proto = model_cluster_upstream(cl, q->conn->ml)->proto;
    bool h2 = proto == MODEL_UP_HTTP2 || (proto == MODEL_UP_CLIENT && q->client_h2);
    if (body && !(q->body_kept && q->body_done && q->shadow_head)) return;
    struct worker_gen *g = q->gen;
    if (!worker_gen_ready(g, cl)) return;
    size_t ep = lb_pick(cl, g->rr[cl->index], wk->active, NULL);
    if (ep == LB_NO_HOST) return;
    const struct model_route *r = q->route;
    uint64_t timeout_ms = r && r->timeout_ms ? r->timeout_ms : SHADOW_TIMEOUT_MS;
    if (h2) {
        start_h2(q, h, cl, ep, timeout_ms);
        return;
    }
    struct upstream *u = worker_take_idle(wk, cl, ep);
    if (!u && !(u = upstream_open(wk, cl, ep))) return; /* a lost copy is no client error */
    struct shadow *s = calloc(1, sizeof(*s));
    if (!s) {
        upstream_close(u);
        return;
    }
    worker_active_add(wk, cl, ep);
    u->requests++;
    s->wk = wk;
    s->gen = worker_gen_hold(g);
    s->up = u;
    u->owner = NULL;
    u->shadow = s;
    worker_buf_ensure(wk, &u->out);
    char rid[37];
    prng_uuid(rid);
    s->next = wk->shadows;
    if (wk->shadows) wk->shadows->prev = s;
    wk->shadows = s;
    int rc = body ? buf_append(&u->out, q->shadow_head, q->shadow_head_len)
                  : headers_request(&u->out, q, h, rid, true);
    if (!rc && body)
        rc = h1_frame_body(&u->out, q->body == REQ_BODY_STREAM, buf_head(&q->body_replay),
                           buf_len(&q->body_replay), true);
    if (rc) {
        shadow_end(s, false);
        return;
    }
    s->timeout.cb = on_timeout;
    wheel_arm(&wk->loop.wheel, &s->timeout, now_ms() + timeout_ms);
    mirror_io(s);
}
