/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP/2 upstream codec (upstream_ops of a multiplexed connection): requests of many
 * clients share one connection per endpoint and worker, each on its own stream, up to the
 * server's SETTINGS_MAX_CONCURRENT_STREAMS; past it (or after a GOAWAY) a new connection
 * takes new streams while the old one finishes its own. nghttp2 does frames, HPACK and
 * flow control; the request's head is written by the same rules as for HTTP/1.1 (headers.c)
 * and read back into HTTP/2 fields, so rewrites, header operations and the proxy headers
 * are the same on both. Response DATA is acknowledged to the server only as the client
 * side takes it. [W] */
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/compiler.h"
#include "core/log.h"
#include "core/now.h"
#include "http/h1_int.h"
#include "http/h2_conn.h"
#include "http/h2_flood.h"
#include "model/model.h"
#include "tls/conn.h"

#define H2UP_STREAM_WINDOW 1048576 /* response bytes in flight per stream */
#define H2UP_CONN_WINDOW 16777216
#define H2UP_DEFAULT_STREAMS 100 /* until the server's SETTINGS say */
#define H2UP_TRAILERS 32         /* request trailer fields forwarded, at most */
#define H2UP_TRAILER_BYTES 16384 /* and their bytes: meshlet's limit on a trailer block */
/* Abuse limits: Envoy's http2_protocol_options defaults, which it applies to upstream
 * connections as to clients' (h2_conn.c). */
#define H2UP_MAX_HEADER_LIST 61440 /* max_response_headers_kb: 60 KiB */
#define H2UP_DRAIN_READS 64        /* reads of what a refused server still sends, at close */
#define H2UP_READS_PER_IO 16       /* reads per io_conn(); more input waits for the batch's end */
#define H2UP_INPUT_REQUEUES 64     /* io_conn() budgets in a row before waiting for an edge */

struct h2up_stream;

struct h2up {
    struct upstream base;
    nghttp2_session *ng;
    struct h2up_stream *streams;
    size_t n_streams;
    bool goaway;      /* the server sent GOAWAY, or the connection failed: no new streams */
    bool news;        /* a stream has news for its request */
    bool wake_queued; /* on the worker's array of deferred wakes */
    bool in_event;    /* event() runs: it wakes the requests itself */
    bool old;         /* on its pool's h2_old list: it takes no new stream */
    /* Abuse: the server's frames against Envoy's flood limits. */
    bool abused;           /* refused: GOAWAY queued, closes once written */
    struct h2_flood flood; /* Envoy's flood checks, from the client side */
    uint32_t requeues;     /* more_input() calls since the socket last drained */
    /* Its newest user's pool settings, copied: base.cluster is that user's snapshot, which
     * may go while the connection lives on without streams (a reload). */
    uint32_t max_requests; /* maxRequestsPerConnection; 0: none */
    uint64_t idle_ms;      /* idleTimeout; 0: none */
    char who[160];         /* "<cluster> <address>:<port>", for the log */
};

/* A response's header blocks as they arrive, their fields borrowed from nghttp2's buffers:
 * in a worker block taken at the first field, so a stream that waits for its answer holds
 * none of it. */
struct h2up_head {
    size_t n_fields, n_trailers, n_held; /* first: all a new one needs set */
    struct h1_header fields[H1_MAX_HEADERS];
    struct h1_header trailers[32];
    nghttp2_rcbuf *held[2 * H1_MAX_HEADERS + 72];
};
_Static_assert(sizeof(struct h2up_head) <= WORKER_BLOCK_BYTES, "a head fits a worker block");

struct h2up_stream {
    struct h2up *c; /* NULL once its connection went (the request still holds it) */
    struct worker *wk;
    struct req *q; /* NULL once the request let it go */
    int32_t id;
    struct h2up_stream *next, *prev;
    struct buf body; /* request DATA waiting for nghttp2 */
    bool body_end, body_deferred;
    nghttp2_nv *req_trailers; /* owned, with their bytes: sent after the last DATA */
    size_t n_req_trailers;
    /* The response as it arrives, handed to the request by deliver(). */
    int status;
    struct h2up_head *head; /* NULL until a field came */
    bool head_done, head_delivered, trailers_started;
    size_t header_bytes; /* of the header list in progress (H2UP_MAX_HEADER_LIST) */
    bool overflow;       /* reset for a header list too large: a protocol error */
    struct buf resp;
    bool resp_end;
    bool reset;   /* RST_STREAM or the connection went before the response ended */
    bool refused; /* REFUSED_STREAM, or beyond a GOAWAY's last stream: never processed */
    bool rst;     /* the server reset it (RST_STREAM) */
    bool closed;  /* nghttp2 closed it */
    bool news;    /* something for its request to see */
    struct wheel_timer timeout; /* an ownerless stream (a mirror copy) is cancelled then */
};

static struct h2up *
h2up_of(struct upstream *u)
{
    return container_of(u, struct h2up, base);
}

/* News for the stream's request: it is woken by event() or after the batch, never from
 * inside nghttp2's callbacks or another request's step. */
static void
mark(struct h2up_stream *s)
{
    s->news = true;
    if (s->c) s->c->news = true;
}

/* --- Streams. --- */

static void
stream_unlink(struct h2up_stream *s)
{
    struct h2up *c = s->c;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = NULL;
    c->n_streams--;
    s->c = NULL;
}

static void
stream_free(struct h2up_stream *s)
{
    /* nghttp2 may still know it (a failed connection): it must not reach freed memory. */
    if (s->c && s->c->ng && !s->closed) nghttp2_session_set_stream_user_data(s->c->ng, s->id, NULL);
    if (s->c) stream_unlink(s);
    if (s->q) s->q->up_stream = NULL;
    for (size_t i = 0; s->head && i < s->head->n_held; i++) nghttp2_rcbuf_decref(s->head->held[i]);
    if (s->head) worker_block_put(s->wk, s->head);
    worker_buf_drop(s->wk, &s->body);
    worker_buf_drop(s->wk, &s->resp);
    free(s->req_trailers);
    wheel_disarm(&s->wk->loop.wheel, &s->timeout);
    free(s);
}

static int
on_header(nghttp2_session *ng, const nghttp2_frame *f, nghttp2_rcbuf *name, nghttp2_rcbuf *value,
          uint8_t flags, void *arg)
{
    (void)flags, (void)arg;
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    struct h2up_stream *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!s) return 0;
    nghttp2_vec n = nghttp2_rcbuf_get_buf(name), v = nghttp2_rcbuf_get_buf(value);
    /* Envoy's max_response_headers_kb, HPACK bombs included (sizes as decoded, plus 32 per
     * field as RFC 9113 §6.5.2 counts them): the stream is reset, the connection stays. */
    s->header_bytes += n.len + v.len + 32;
    if (s->header_bytes > H2UP_MAX_HEADER_LIST) {
        if (!s->overflow) metric_add(&s->wk->h2_up.header_overflow, 1);
        s->overflow = true;
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (!s->q) return 0; /* a mirror copy's: dropped */
    if (!s->head) {
        if (!(s->head = worker_block_get(s->wk))) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        s->head->n_fields = s->head->n_trailers = s->head->n_held = 0;
    }
    struct h2up_head *hd = s->head;
    if (hd->n_held + 2 > ARRAY_SIZE(hd->held)) return 0;
    struct slice ns = slice_make((const char *)n.base, n.len);
    struct slice vs = slice_make((const char *)v.base, v.len);
    if (s->head_done) { /* trailers */
        if (hd->n_trailers == ARRAY_SIZE(hd->trailers)) return 0;
        hd->trailers[hd->n_trailers++] = (struct h1_header){ns, vs};
    } else if (slice_eq(ns, ":status")) {
        int st = 0;
        for (size_t i = 0; i < vs.len && i < 3; i++) st = st * 10 + (vs.ptr[i] - '0');
        s->status = st;
        return 0;
    } else {
        if (ns.len && ns.ptr[0] == ':') return 0;
        if (hd->n_fields == ARRAY_SIZE(hd->fields)) return 0;
        hd->fields[hd->n_fields++] = (struct h1_header){ns, vs};
    }
    nghttp2_rcbuf_incref(name);
    nghttp2_rcbuf_incref(value);
    hd->held[hd->n_held++] = name;
    hd->held[hd->n_held++] = value;
    return 0;
}

static int
on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *arg)
{
    struct h2up *c = arg;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        c->goaway = true;
        /* Streams past its last stream id were never processed: retried as refused. */
        for (struct h2up_stream *s = c->streams; s; s = s->next)
            if (s->id > f->goaway.last_stream_id) s->refused = true;
        return 0;
    }
    struct h2up_stream *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!s) return 0;
    if (f->hd.type == NGHTTP2_RST_STREAM) s->rst = true;
    if (f->hd.type == NGHTTP2_HEADERS) {
        s->header_bytes = 0; /* trailers have a list of their own */
        if (!s->head_done && s->status >= 100 && s->status < 200) {
            if (s->head) s->head->n_fields = 0; /* interim: dropped */
            s->status = 0;
        } else if (!s->head_done) {
            s->head_done = true;
        }
    }
    if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) s->resp_end = true;
    mark(s);
    return 0;
}

static int
on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
              void *arg)
{
    (void)flags;
    struct h2up *c = arg;
    struct h2up_stream *s = nghttp2_session_get_stream_user_data(ng, id);
    if (!s || !s->q) {
        nghttp2_session_consume(ng, id, len);
        return 0;
    }
    worker_buf_ensure(c->base.wk, &s->resp);
    if (buf_append(&s->resp, data, len)) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    mark(s);
    return 0;
}

static int
on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *arg)
{
    (void)arg;
    struct h2up_stream *s = nghttp2_session_get_stream_user_data(ng, id);
    if (!s) return 0;
    s->closed = true;
    if (!s->resp_end) {
        s->reset = true;
        if (error_code == NGHTTP2_REFUSED_STREAM) s->refused = true;
    }
    if (!s->q) {
        stream_free(s);
        return 0;
    }
    mark(s);
    return 0;
}

/* nghttp2 asks for request DATA. */
static ssize_t
read_body(nghttp2_session *ng, int32_t id, uint8_t *out, size_t len, uint32_t *flags,
          nghttp2_data_source *src, void *arg)
{
    (void)id, (void)arg;
    struct h2up_stream *s = src->ptr;
    size_t n = h2_buf_take(&s->body, out, len);
    if (buf_empty(&s->body)) {
        worker_buf_shed(s->wk, &s->body); /* a stream waiting for its response holds none */
        if (s->body_end) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            /* Trailers end the stream instead of the last DATA. */
            if (s->n_req_trailers &&
                !nghttp2_submit_trailer(ng, s->id, s->req_trailers, s->n_req_trailers))
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        } else if (!n) {
            s->body_deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    if (n) mark(s); /* room for more of the body */
    return (ssize_t)n;
}

/* --- Abuse: Envoy's flood checks on what the server sends. --- */

/* Refuse the server: count it in /stats (<counter>), log it (rate-limited), and queue
 * GOAWAY(<code>); its streams fail (retried as the policy says) and the connection closes
 * once the GOAWAY is written. Returns what a callback returns to stop nghttp2 at once. */
static int
refuse(struct h2up *c, uint64_t *counter, uint32_t code, const char *what)
{
    static struct log_limit said;
    if (c->abused) return NGHTTP2_ERR_CALLBACK_FAILURE;
    c->abused = true;
    c->goaway = true;
    metric_add(counter, 1);
    nghttp2_session_terminate_session(c->ng, code);
    uint64_t held;
    if (log_limit_pass(&said, now_ms(), 10000, &held))
        log_msg(LOG_WARNING,
                "HTTP/2 upstream %s closed with GOAWAY(%s): %s (%llu not logged "
                "before)",
                c->who, nghttp2_http2_strerror(code), what, (unsigned long long)held);
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* Each inbound frame, before its payload (h2_flood.c; the streams opened are ours). */
static int
on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *arg)
{
    (void)ng;
    struct h2up *c = arg;
    uint64_t *counter;
    const char *why = h2_flood_rx(&c->flood, hd, c->base.requests, &c->base.wk->h2_up, &counter);
    return why ? refuse(c, counter, NGHTTP2_ENHANCE_YOUR_CALM, why) : 0;
}

/* Each frame queued for the server: what it provoked (PING and SETTINGS acknowledgements,
 * resets) and the rest, counted until the output drains (Envoy's outbound flood checks).
 * A GOAWAY of nghttp2's own (a protocol error of the server's) ends the connection too. */
static int
on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *arg)
{
    (void)ng;
    struct h2up *c = arg;
    h2_flood_tx(&c->flood, f->hd.type);
    if (f->hd.type == NGHTTP2_GOAWAY) {
        c->goaway = true;
        if (f->goaway.error_code != NGHTTP2_NO_ERROR && !c->abused) {
            c->abused = true;
            metric_add(&c->base.wk->h2_up.protocol_errors, 1);
        }
    }
    return 0;
}

/* A server that lets frames it provoked pile up unread reads no GOAWAY either: the
 * connection just fails. */
static bool
outbound_flood(struct h2up *c)
{
    uint64_t *counter;
    if (!h2_flood_out(&c->flood, &c->base.wk->h2_up, &counter)) return false;
    metric_add(counter, 1);
    c->abused = true;
    return true;
}

/* Before closing a refused connection: read and drop what the server still sent, so that
 * closing with unread bytes does not reset the GOAWAY away (bounded). */
static void
drain_input(struct upstream *u)
{
    bool ready = true;
    for (int i = 0; i < H2UP_DRAIN_READS && ready && !u->eof; i++) {
        worker_buf_ensure(u->wk, &u->in);
        if (h1_read_some(&u->in, u->w.fd, u->xprt, u->tls, u->hup, &ready, &u->eof) < 0) break;
        buf_consume(&u->in, buf_len(&u->in));
    }
}

/* --- The connection. --- */

static nghttp2_session *
session_new(struct h2up *c)
{
    nghttp2_session_callbacks *cb;
    nghttp2_option *opt;
    if (nghttp2_session_callbacks_new(&cb)) return NULL;
    if (nghttp2_option_new(&opt)) {
        nghttp2_session_callbacks_del(cb);
        return NULL;
    }
    nghttp2_session_callbacks_set_on_header_callback2(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_no_closed_streams(opt, 1); /* as for clients (h2_conn.c) */
    nghttp2_session *ng = NULL;
    if (nghttp2_session_client_new2(&ng, cb, c, opt)) ng = NULL;
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (!ng) return NULL;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2UP_STREAM_WINDOW},
    };
    if (nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, iv, ARRAY_SIZE(iv)) ||
        nghttp2_session_set_local_window_size(ng, NGHTTP2_FLAG_NONE, 0, H2UP_CONN_WINDOW)) {
        nghttp2_session_del(ng);
        return NULL;
    }
    return ng;
}

/* maxRequestsPerConnection <limit> reached: no new stream goes to <c> (Envoy drains it). */
static bool
spent(const struct h2up *c, uint32_t limit)
{
    return limit && c->base.requests >= limit;
}

/* Streams <c> may still open for pool <cl>: the server's SETTINGS_MAX_CONCURRENT_STREAMS,
 * capped by the pool's maxConcurrentStreams (as Envoy's pool takes the lower of its
 * http2_protocol_options.max_concurrent_streams and the server's), within
 * maxRequestsPerConnection. */
static size_t
room(const struct h2up *c, const struct model_cluster *cl)
{
    if (c->goaway || c->base.failed || c->base.closed || spent(c, cl->max_requests_per_conn))
        return 0;
    uint32_t max =
        nghttp2_session_get_remote_settings(c->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    if (max > H2UP_DEFAULT_STREAMS * 10) max = H2UP_DEFAULT_STREAMS * 10;
    if (cl->max_concurrent_streams && max > cl->max_concurrent_streams)
        max = cl->max_concurrent_streams;
    size_t left = c->n_streams < max ? max - c->n_streams : 0;
    uint32_t limit = cl->max_requests_per_conn;
    if (limit && left > limit - c->base.requests) left = limit - c->base.requests;
    return left;
}

/* <c> takes no new stream: it closes once its last one ends. */
static bool
retired(const struct h2up *c)
{
    const struct upstream *u = &c->base;
    return u->failed || c->goaway || !u->pool || u->pool->h2 != u || spent(c, c->max_requests);
}

/* Close <c> once nothing uses it: no stream, or it failed. */
static void
close_conn(struct h2up *c)
{
    struct upstream *u = &c->base;
    struct idle_pool *p = u->pool;
    if (p && p->h2 == u) p->h2 = NULL;
    if (c->old) {
        if (u->prev)
            u->prev->next = u->next;
        else
            p->h2_old = u->next;
        if (u->next) u->next->prev = u->prev;
        u->next = u->prev = NULL;
        c->old = false;
    }
    while (c->streams) {
        struct h2up_stream *s = c->streams;
        if (s->q) { /* its request learns it ended (deliver) when it looks */
            s->reset = !s->resp_end;
            s->closed = true;
            stream_unlink(s);
            continue;
        }
        stream_free(s);
    }
    if (c->abused && !u->closed && u->connected) drain_input(u);
    nghttp2_session_del(c->ng);
    c->ng = NULL;
    upstream_close(&c->base);
}

/* Read and write what can move; true on progress. */
static bool
io_conn(struct h2up *c)
{
    struct upstream *u = &c->base;
    struct worker *wk = u->wk;
    bool progress = false;
    if (!u->connected || u->failed || u->closed) return false;
    /* Read until drained, within a budget: the rest after the batch (event, io). */
    for (int i = 0; i < H2UP_READS_PER_IO && u->in_ready && !u->eof && !u->failed; i++) {
        worker_buf_ensure(wk, &u->in);
        int r = h1_read_some(&u->in, u->w.fd, u->xprt, u->tls, u->hup, &u->in_ready, &u->eof);
        if (r < 0) u->eof = true;
        progress |= r != 0;
        if (c->abused) buf_consume(&u->in, buf_len(&u->in)); /* its session is over */
        if (buf_empty(&u->in)) continue;
        ssize_t n =
            nghttp2_session_mem_recv(c->ng, (const uint8_t *)buf_head(&u->in), buf_len(&u->in));
        if (n >= 0) {
            buf_consume(&u->in, (size_t)n);
            continue;
        }
        buf_consume(&u->in, buf_len(&u->in));
        if (n == NGHTTP2_ERR_FLOODED) /* acknowledgements past max_outbound_ack */
            refuse(c, &wk->h2_up.outbound_control, NGHTTP2_ENHANCE_YOUR_CALM,
                   "PING or SETTINGS flood");
        else if (n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)
            refuse(c, &wk->h2_up.continuations, NGHTTP2_ENHANCE_YOUR_CALM, "CONTINUATION flood");
        else
            refuse(c, &wk->h2_up.protocol_errors, NGHTTP2_INTERNAL_ERROR, nghttp2_strerror((int)n));
    }
    for (;;) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(c->ng, &p);
        if (n <= 0) break;
        worker_buf_ensure(wk, &u->out);
        if (buf_append(&u->out, p, (size_t)n)) {
            u->failed = true;
            break;
        }
    }
    if (outbound_flood(c)) {
        u->failed = true;
        return true;
    }
    while (!buf_empty(&u->out)) {
        ssize_t n = h1_write_some(&u->out, u->w.fd, u->xprt, u->tls);
        if (n > 0) {
            progress = true;
            continue;
        }
        if (n != -EAGAIN) u->failed = true;
        break;
    }
    if (buf_empty(&u->out)) h2_flood_read(&c->flood); /* the server reads */
    if (u->eof && buf_empty(&u->in)) u->failed = true;
    /* Refused (its GOAWAY written, or never to be), or nghttp2 is done with the session. */
    if (c->abused && (buf_empty(&u->out) || u->failed)) u->failed = true;
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng) &&
        buf_empty(&u->out))
        u->failed = true;
    return progress;
}

static void more_input(struct h2up *c);

/* No stream left: the pool's idleTimeout starts. */
static void
arm_idle(struct h2up *c)
{
    struct upstream *u = &c->base;
    if (!u->closed && !c->streams && u->connected && c->idle_ms)
        wheel_arm(&u->wk->loop.wheel, &u->timer, now_ms() + c->idle_ms);
}

/* Socket events: move bytes, then wake the requests whose streams have news, one at a
 * time from the list's head (a request's step may end other streams). */
static void
event(struct upstream *u)
{
    struct h2up *c = h2up_of(u);
    c->in_event = true;
    io_conn(c);
    if (u->failed) {
        c->goaway = true;
        for (struct h2up_stream *s = c->streams, *next; s; s = next) {
            next = s->next;
            if (!s->q) { /* a mirror copy: lost */
                stream_free(s);
                continue;
            }
            if (!s->resp_end) s->reset = true;
            mark(s);
        }
    }
    for (int guard = 0; guard < 10000 && c->news && !u->closed; guard++) {
        struct h2up_stream *s = c->streams;
        while (s && !s->news) s = s->next;
        if (!s) {
            c->news = false;
            break;
        }
        s->news = false;
        if (s->q) req_wake(s->q);
    }
    c->in_event = false;
    more_input(c);
    /* An idleTimeout that fired on a connection still without streams closes it (Envoy's). */
    bool idle = u->idle_expired && !c->streams;
    u->idle_expired = false;
    if (!u->closed && (retired(c) || idle) && !c->streams) close_conn(c);
    arm_idle(c);
}

void
h2_upstream_wake_deferred(struct worker *wk)
{
    for (size_t i = 0; i < wk->n_wake_ups; i++) {
        struct upstream *u = wk->wake_ups[i];
        h2up_of(u)->wake_queued = false;
        if (!u->closed) event(u);
    }
    wk->n_wake_ups = 0;
}

/* News seen outside event(): the requests are woken after the batch. */
static void
defer_wake(struct h2up *c)
{
    struct worker *wk = c->base.wk;
    if (c->wake_queued || c->in_event || !c->news) return;
    if (wk->n_wake_ups == wk->cap_wake_ups) {
        size_t cap = wk->cap_wake_ups ? 2 * wk->cap_wake_ups : 16;
        struct upstream **a = realloc(wk->wake_ups, cap * sizeof(*a));
        if (!a) return;
        wk->wake_ups = a;
        wk->cap_wake_ups = cap;
    }
    wk->wake_ups[wk->n_wake_ups++] = &c->base;
    c->wake_queued = true;
}

/* Input left unread by io_conn's budget: event() runs again after the batch (in the same
 * pass of h2_upstream_wake_deferred). */
static void
more_input(struct h2up *c)
{
    const struct upstream *u = &c->base;
    if (u->closed || u->failed || !u->in_ready || u->eof || !u->connected) {
        c->requeues = 0;
        return;
    }
    /* Bounded: past it, a server that keeps sending wakes the connection by its next edge. */
    if (++c->requeues > H2UP_INPUT_REQUEUES) return;
    c->news = true;
    defer_wake(c);
}

/* What <c> keeps of its newest user's pool <cl>. */
static void
adopt(struct h2up *c, const struct model_cluster *cl)
{
    c->max_requests = cl->max_requests_per_conn;
    c->idle_ms = cl->limits.idle_timeout_ms;
}

struct upstream *
h2_upstream_take(struct worker *wk, const struct model_cluster *cl, size_t ep)
{
    struct idle_pool *p = worker_pool(wk, cl, ep);
    if (p && p->h2 && upstream_fits(p->h2, cl, ep) && room(h2up_of(p->h2), cl)) {
        /* The newest user's snapshot: an older one may go while the connection lives. */
        p->h2->cluster = cl;
        p->h2->endpoint = ep;
        adopt(h2up_of(p->h2), cl);
        return p->h2;
    }
    /* The current connection takes no more: it finishes its streams, or goes now. */
    if (p && p->h2 && !h2up_of(p->h2)->streams) close_conn(h2up_of(p->h2));
    if (p && p->h2) { /* kept where the worker's end finds it */
        struct upstream *old = p->h2;
        old->prev = NULL;
        old->next = p->h2_old;
        if (p->h2_old) p->h2_old->prev = old;
        p->h2_old = old;
        h2up_of(old)->old = true;
        p->h2 = NULL;
    }
    struct upstream *u = upstream_open_as(wk, cl, ep, sizeof(struct h2up), &h2_upstream_ops);
    if (!u) return NULL;
    struct h2up *c = h2up_of(u);
    if (!(c->ng = session_new(c))) {
        upstream_close(u);
        return NULL;
    }
    if (u->tls) tls_conn_offer_h2(u->tls, !cl->tls_user); /* ISTIO_MUTUAL: istio-h2 */
    if (p) p->h2 = u;
    adopt(c, cl);
    const struct model_endpoint *e = &cl->endpoints[ep];
    snprintf(c->who, sizeof(c->who), "%s %s:%u", cl->name, e->address, e->port);
    return u;
}

/* --- What a request asks of its stream (upstream_ops). --- */

static void
bind_req(struct upstream *u, struct req *q)
{
    (void)u;
    q->up_stream = NULL; /* the stream is opened with the head */
}

/* A stream for <q> (NULL: ownerless, a mirror copy), not opened yet; NULL out of memory. */
static struct h2up_stream *
stream_new(struct worker *wk, struct req *q)
{
    struct h2up_stream *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->wk = wk;
    s->q = q;
    buf_init_empty(&s->body, 4u << 20);
    buf_init_empty(&s->resp, 64u << 20);
    return s;
}

/* Open <s> on <c>: its head is <head>, <len> bytes of HTTP/1.1 head read back into fields
 * (:authority from its host), with the try's <attempt> count (0: none), and request DATA
 * follows when <body>. 0, or -1 (<s> is the caller's to free). */
static int
stream_open(struct h2up *c, struct h2up_stream *s, const char *head, size_t len, uint32_t attempt,
            bool body)
{
    struct upstream *u = &c->base;
    struct worker *wk = u->wk;
    struct h1_request *r = &wk->req_scratch;
    if (h1_parse_request(head, len, &wk->opt->limits, r) <= 0) return -1;
    nghttp2_nv nv[H1_MAX_HEADERS + 8];
    size_t n = 0;
    char count[16];
    char lower[16384]; /* lower-cased names: nghttp2 copies them on submit */
    const char *scheme = u->tls ? "https" : "http";
#define NV(name, v, vlen)                                                                          \
    (nghttp2_nv){(uint8_t *)(name), (uint8_t *)(v), strlen(name), (vlen), NGHTTP2_NV_FLAG_NONE}
    nv[n++] = NV(":method", r->method.ptr, r->method.len);
    nv[n++] = NV(":scheme", scheme, strlen(scheme));
    nv[n++] = NV(":authority", r->authority.ptr, r->authority.len);
    nv[n++] = NV(":path", r->path.ptr, r->path.len);
#undef NV
    size_t used = 0;
    bool grpc = false;
    for (size_t i = 0; i < r->head.n_headers && n < ARRAY_SIZE(nv) - 2; i++) {
        struct slice nm = r->head.headers[i].name, v = r->head.headers[i].value;
        if (slice_ieq(nm, "host") || slice_ieq(nm, "connection") ||
            slice_ieq(nm, "transfer-encoding") || slice_ieq(nm, "keep-alive") ||
            slice_ieq(nm, "upgrade") || slice_ieq(nm, "proxy-connection"))
            continue;
        if (slice_ieq(nm, "content-type") && v.len >= 16 && !memcmp(v.ptr, "application/grpc", 16))
            grpc = true;
        if (used + nm.len > sizeof(lower)) break;
        for (size_t k = 0; k < nm.len; k++) lower[used + k] = slice_lower_ascii(nm.ptr[k]);
        nv[n++] = (nghttp2_nv){(uint8_t *)lower + used, (uint8_t *)v.ptr, nm.len, v.len,
                               NGHTTP2_NV_FLAG_NONE};
        used += nm.len;
    }
    if (attempt) {
        int an = snprintf(count, sizeof(count), "%u", attempt);
        nv[n++] = (nghttp2_nv){(uint8_t *)"x-envoy-attempt-count", (uint8_t *)count, 21, (size_t)an,
                               NGHTTP2_NV_FLAG_NONE};
    }
    /* gRPC servers want te: trailers, which the HTTP/1.1 rules drop (hop-by-hop). */
    if (grpc)
        nv[n++] = (nghttp2_nv){(uint8_t *)"te", (uint8_t *)"trailers", 2, 8, NGHTTP2_NV_FLAG_NONE};
    nghttp2_data_provider dp = {.source.ptr = s, .read_callback = read_body};
    int32_t id = nghttp2_submit_request(c->ng, NULL, nv, n, body ? &dp : NULL, s);
    if (id < 0) return -1;
    s->id = id;
    s->c = c;
    upstream_idle_timer(u, false);
    if (!body) s->body_end = true;
    s->next = c->streams;
    if (c->streams) c->streams->prev = s;
    c->streams = s;
    c->n_streams++;
    return 0;
}

/* The head for this try: the HTTP/1.1 head the request keeps (or writes now). */
static int
send_head(struct upstream *u, struct req *q, const struct req_head *h, const char *rid)
{
    struct buf tmp; /* a worker block: no allocation per request */
    buf_init_empty(&tmp, 1 << 20);
    worker_buf_ensure(u->wk, &tmp);
    int rc = 0;
    if (q->replay) {
        rc = buf_append(&tmp, q->replay, q->replay_len);
        if (!rc) rc = buf_append(&tmp, "\r\n", 2);
    } else if (h) {
        rc = headers_request(&tmp, q, h, rid, false);
        if (!rc && q->route && q->route->retry_attempts)
            req_keep_replay(q, buf_head(&tmp), buf_len(&tmp) - 2);
    } else {
        rc = -1;
    }
    struct h2up_stream *s = rc ? NULL : stream_new(u->wk, q);
    if (s && stream_open(h2up_of(u), s, buf_head(&tmp), buf_len(&tmp), q->attempt,
                         q->body != REQ_BODY_NONE)) {
        stream_free(s);
        s = NULL;
    }
    worker_buf_drop(u->wk, &tmp);
    if (!s) return -1;
    q->up_stream = s;
    return 0;
}

static void
resume(struct h2up_stream *s)
{
    if (s->body_deferred && s->c) {
        s->body_deferred = false;
        nghttp2_session_resume_data(s->c->ng, s->id);
    }
}

static int
send_data(struct upstream *u, struct req *q, const char *p, size_t n)
{
    struct h2up_stream *s = q->up_stream;
    if (!s) return -1;
    worker_buf_ensure(u->wk, &s->body);
    if (buf_append(&s->body, p, n)) return -1;
    resume(s);
    return 0;
}

/* Fields HTTP/2 forbids in any header block (RFC 9113 §8.2.2), or that a trailer section
 * may not carry (RFC 9110 §6.5.1: framing, routing): never forwarded as trailers. */
static bool
trailer_forbidden(struct slice nm)
{
    static const char *const no[] = {
        "connection",     "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
        "content-length", "host",       "trailer",
    };
    if (!nm.len || nm.ptr[0] == ':') return true;
    for (size_t i = 0; i < ARRAY_SIZE(no); i++)
        if (slice_ieq(nm, no[i])) return true;
    return false;
}

/* Trailers <t>, <n> (valid during the call only) copied into <s>: names lower-cased, up to
 * H2UP_TRAILERS fields and H2UP_TRAILER_BYTES bytes, sent as a HEADERS frame after the
 * last DATA (read_body). 0, or -1 out of memory. */
static int
keep_trailers(struct h2up_stream *s, const struct h1_header *t, size_t n)
{
    if (!n || s->req_trailers) return 0;
    size_t keep = 0, bytes = 0;
    for (size_t i = 0; i < n && keep < H2UP_TRAILERS; i++) {
        if (trailer_forbidden(t[i].name)) continue;
        size_t more = t[i].name.len + t[i].value.len;
        if (bytes + more > H2UP_TRAILER_BYTES) break;
        bytes += more;
        keep++;
    }
    if (!keep) return 0;
    if (!(s->req_trailers = malloc(keep * sizeof(nghttp2_nv) + bytes))) return -1;
    char *p = (char *)(s->req_trailers + keep);
    for (size_t i = 0; i < n && s->n_req_trailers < keep; i++) {
        if (trailer_forbidden(t[i].name)) continue;
        nghttp2_nv *v = &s->req_trailers[s->n_req_trailers++];
        v->name = (uint8_t *)p;
        for (size_t k = 0; k < t[i].name.len; k++) p[k] = slice_lower_ascii(t[i].name.ptr[k]);
        p += t[i].name.len;
        v->value = (uint8_t *)p;
        if (t[i].value.len) memcpy(p, t[i].value.ptr, t[i].value.len);
        p += t[i].value.len;
        v->namelen = t[i].name.len;
        v->valuelen = t[i].value.len;
        v->flags = NGHTTP2_NV_FLAG_NONE;
    }
    return 0;
}

/* The request's end, with its trailers. */
static int
send_end(struct upstream *u, struct req *q, const struct h1_header *t, size_t n)
{
    (void)u;
    struct h2up_stream *s = q->up_stream;
    if (!s || keep_trailers(s, t, n)) return -1;
    s->body_end = true;
    resume(s);
    return 0;
}

/* An ownerless stream's time is up: cancelled (freed once nghttp2 closes it). */
static void
on_mirror_timeout(struct wheel_timer *t)
{
    struct h2up_stream *s = container_of(t, struct h2up_stream, timeout);
    struct h2up *c = s->c;
    if (!c || s->closed) return;
    nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
    c->news = true; /* event() after the batch sends it, and closes a retired connection */
    defer_wake(c);
}

int
h2_upstream_mirror(struct worker *wk, const struct model_cluster *cl, size_t ep,
                   const struct h2_upstream_copy *m)
{
    /* Body and trailers first: a stream once submitted cannot be taken back. */
    struct h2up_stream *s = stream_new(wk, NULL);
    if (!s) return -1;
    int rc = 0;
    if (m->has_body) {
        if (m->body_len) {
            worker_buf_ensure(wk, &s->body);
            rc = buf_append(&s->body, m->body, m->body_len);
        }
        if (!rc) rc = keep_trailers(s, m->trailers, m->n_trailers);
        s->body_end = true;
    }
    struct upstream *u = rc ? NULL : h2_upstream_take(wk, cl, ep);
    struct h2up *c = u ? h2up_of(u) : NULL;
    if (!c || stream_open(c, s, m->head, m->head_len, 0, m->has_body)) {
        stream_free(s);
        if (c && !c->streams && retired(c)) close_conn(c);
        if (c) arm_idle(c);
        return -1;
    }
    u->requests++;
    s->timeout.cb = on_mirror_timeout;
    wheel_arm(&wk->loop.wheel, &s->timeout, now_ms() + m->timeout_ms);
    c->news = true; /* its bytes go out after the batch (event) */
    defer_wake(c);
    return 0;
}

static bool
io(struct upstream *u, struct req *q)
{
    struct h2up *c = h2up_of(u);
    bool progress = io_conn(c);
    struct h2up_stream *s = q->up_stream;
    if (s) s->news = false; /* this request looks at its stream next (deliver) */
    more_input(c);
    defer_wake(c);
    return progress;
}

/* Hand the stream's response to the request, as far as the client side takes it. */
static bool
deliver(struct upstream *u, struct req *q)
{
    struct h2up_stream *s = q->up_stream;
    if (!s || (s->reset && !s->head_done) || (u->failed && !s->head_done)) {
        req_try_failed(q, !u->connected      ? REQ_TRY_CONNECT_FAILED
                          : s && s->refused  ? REQ_TRY_REFUSED
                          : s && s->overflow ? REQ_TRY_PROTOCOL
                          : s && s->rst      ? REQ_TRY_REMOTE_RESET
                                             : REQ_TRY_RESET);
        return true;
    }
    static const struct h2up_head none_yet;
    const struct h2up_head *hd = s->head ? s->head : &none_yet;
    if (s->head_done && !s->head_delivered) {
        struct slice cl;
        bool has_cl = headers_find(hd->fields, hd->n_fields, "content-length", &cl);
        const struct h1_header *clf = NULL;
        for (size_t i = 0; i < hd->n_fields && has_cl; i++)
            if (slice_ieq(hd->fields[i].name, "content-length")) clf = &hd->fields[i];
        uint64_t len = 0;
        for (size_t i = 0; has_cl && i < cl.len; i++) len = len * 10 + (uint64_t)(cl.ptr[i] - '0');
        bool none = s->resp_end && buf_empty(&s->resp) && !hd->n_trailers;
        struct resp_head h = {
            .code = s->status,
            .fields = hd->fields,
            .n_fields = hd->n_fields,
            .body = none     ? RESP_BODY_NONE
                    : has_cl ? RESP_BODY_LENGTH
                             : RESP_BODY_STREAM,
            .body_len = len,
            .content_length = clf,
        };
        s->head_delivered = true;
        if (!req_response_head(q, &h)) return true; /* retried, or ended */
    }
    if (!s->head_delivered) return false;
    bool progress = false;
    while (!buf_empty(&s->resp)) {
        size_t room = req_resp_room(q);
        if (!room) break;
        size_t n = buf_len(&s->resp) < room ? buf_len(&s->resp) : room;
        if (req_response_data(q, buf_head(&s->resp), n)) break;
        buf_consume(&s->resp, n);
        if (s->c) nghttp2_session_consume(s->c->ng, s->id, n);
        progress = true;
    }
    worker_buf_shed(s->wk, &s->resp);
    if (buf_empty(&s->resp) && s->resp_end) {
        req_response_end(q, true, hd->trailers, hd->n_trailers);
        return true;
    }
    if (buf_empty(&s->resp) && s->reset) {
        q->flags |= RF_UPE;
        req_abort(q, 502, "upstream reset mid-response");
        return true;
    }
    return progress;
}

static size_t
queued(const struct upstream *u, const struct req *q)
{
    (void)u;
    const struct h2up_stream *s = q->up_stream;
    return s ? buf_len(&s->body) : 0;
}

/* The request lets its stream go: cancelled when not done; the connection stays for
 * others (or closes when it can take no more and serves none). */
static void
release(struct upstream *u, struct req *q, bool reusable)
{
    (void)reusable;
    struct h2up_stream *s = q->up_stream;
    struct h2up *c = h2up_of(u);
    q->up_stream = NULL;
    if (s) {
        s->q = NULL;
        if (!s->c || s->closed || u->failed) {
            stream_free(s); /* done, or its connection went or failed */
        } else {
            nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
            io_conn(c);
            defer_wake(c);
        }
    }
    /* A connection no longer taking streams closes with its last one. */
    if (!u->closed && !c->streams && retired(c)) close_conn(c);
    arm_idle(c);
}

void
h2_upstream_close_all(struct worker *wk)
{
    for (size_t i = 0; i < wk->n_pools; i++) {
        struct idle_pool *p = wk->pools[i];
        if (p && p->h2) close_conn(h2up_of(p->h2));
        while (p && p->h2_old) close_conn(h2up_of(p->h2_old));
    }
}

const struct upstream_ops h2_upstream_ops = {
    .send_head = send_head,
    .send_data = send_data,
    .send_end = send_end,
    .io = io,
    .deliver = deliver,
    .queued = queued,
    .bind = bind_req,
    .release = release,
    .event = event,
};
