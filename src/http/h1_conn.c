/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP/1.1 codec on one client connection: read and parse request heads (pipelined
 * ones wait in the buffer), hand each to a request (req.c), unframe its body (Content-Length
 * or chunked) for it, frame its response our own way, keep the connection alive between
 * requests. Everything is driven by one pump that makes every possible step until none is
 * left, so edge-triggered events never strand bytes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "core/compiler.h"
#include "core/log.h"
#include "core/now.h"
#include "http/h1_int.h"
#include "http/h2_conn.h"
#include "tls/conn.h"
#include "tls/sniff.h"

#define OUT_HIGH_WATER (256 * 1024) /* stop moving bytes into a buffer this full */

static const struct stream_ops h1_stream_ops;
static const struct conn_ops h1_conn_ops;

static struct h1_conn *
h1_of(struct conn *c)
{
    return container_of(c, struct h1_conn, base);
}

static struct h1_exchange *
ex_of(const struct req *q)
{
    return container_of(q, struct h1_exchange, q);
}

static void
on_io(struct loop_watch *w, unsigned events)
{
    struct h1_conn *c = container_of(w, struct h1_conn, base.w);
    if (c->tunnel) { /* upgraded: the socket is the tunnel's */
        h1_upgrade_event(c, events);
        return;
    }
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
               const struct sockaddr_storage *peer, struct tls_conn *tls, bool sniff)
{
    struct h1_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        tls_conn_free(tls);
        close(fd);
        return;
    }
    const struct h1_limits *lim = &wk->opt->limits;
    buf_init_empty(&c->in, lim->max_head_bytes + 65536);
    buf_init_empty(&c->out, 4 << 20);
    c->base.w.fd = fd;
    c->base.w.cb = on_io;
    c->base.ops = &h1_conn_ops;
    c->base.wk = wk;
    c->base.ml = ml;
    c->base.tls = tls;
    c->base.xprt = tls ? &tls_xprt : &sock_xprt;
    c->xport = tls ? H1_XP_HANDSHAKE : sniff ? H1_XP_SNIFF : H1_XP_PLAIN;
    c->in_ready = true;
    c->base.gen = worker_gen_hold(wk->gen);
    c->base.peer_family = (uint8_t)peer->ss_family;
    if (peer->ss_family == AF_INET6) {
        memcpy(c->base.peer, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
        c->base.peer_port = ntohs(((const struct sockaddr_in6 *)peer)->sin6_port);
    } else {
        memcpy(c->base.peer, &((const struct sockaddr_in *)peer)->sin_addr, 4);
        c->base.peer_port = ntohs(((const struct sockaddr_in *)peer)->sin_port);
    }
    if (loop_add(&wk->loop, &c->base.w, LOOP_IN | LOOP_OUT)) {
        tls_conn_free(c->base.tls);
        worker_gen_put(c->base.gen);
        free(c);
        close(fd);
        return;
    }
    worker_conn_opened(wk, &c->base);
    h1_timeout_start(c);
    h1_conn_pump(c);
}

static struct h1_exchange *
exchange_get(struct h1_conn *c)
{
    struct worker *wk = c->base.wk;
    struct h1_exchange *ex = wk->free_ex;
    if (ex) {
        wk->free_ex = ex->next_free;
        wk->n_free_ex--;
    } else if (!(ex = malloc(sizeof(*ex)))) {
        return NULL;
    }
    *ex = (struct h1_exchange){.minor = 1, .out_mark = c->written + buf_len(&c->out)};
    req_init(&ex->q, &c->base, &h1_stream_ops);
    return ex;
}

static void
exchange_put(struct h1_conn *c)
{
    struct h1_exchange *ex = c->ex;
    if (!ex) return;
    c->ex = NULL;
    struct worker *wk = c->base.wk;
    if (ex->held_head) buf_consume(&c->in, ex->held_head); /* a delayed head, routed or not */
    req_release(&ex->q, c->written + buf_len(&c->out) - ex->out_mark);
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
    struct worker *wk = c->base.wk;
    c->base.closed = true;
    if (c->tunnel) h1_upgrade_close(c);
    /* The client went before its response was done. */
    if (c->ex && !c->ex->q.upgraded) c->ex->q.flags |= RF_DC;
    exchange_put(c);
    wheel_disarm(&wk->loop.wheel, &c->timer);
    tls_conn_free(c->base.tls);
    c->base.tls = NULL;
    loop_kill(&wk->loop, &c->base.w);
    worker_conn_closed(wk, &c->base);
    worker_buf_drop(wk, &c->in);
    worker_buf_drop(wk, &c->out);
    worker_freed(wk, sizeof(*c));
    worker_gen_put(c->base.gen);
    c->base.gen = NULL;
    worker_defer_free(wk, c);
}

void
h1_conn_rebind_idle(struct h1_conn *c)
{
    /* A TLS handshake in progress still needs its listener's contexts (the SNI callback's
     * argument): it moves at its first request instead. */
    if (c->ex || c->state != H1_IDLE || c->xport == H1_XP_HANDSHAKE || c->xport == H1_XP_SNIFF)
        return;
    if (conn_rebind(&c->base)) return;
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
    if (c->ex && !c->ex->q.resp_head) c->ex->keep_alive = false;
}

/* The Upgrade value of an HTTP/1.1 upgrade request, or empty. An h2c upgrade is none: Envoy's
 * codec strips its fields (and HTTP2-Settings, which its Connection names) and the request
 * goes on as a plain one; HTTP/1.0 has no upgrades (RFC 9110 §7.8). */
static struct slice
upgrade_of(const struct h1_request *r)
{
    const struct h1_header *u = r->head.upgrade ? h1_header_find(&r->head, "upgrade") : NULL;
    if (!u || r->head.minor != 1 || slice_ieq(u->value, "h2c")) return slice_make("", 0);
    return u->value;
}

/* The request head as the request sees it, from a parsed HTTP/1.1 head. */
static void
head_of(const struct h1_request *r, struct req_head *h)
{
    *h = (struct req_head){
        .method = r->method,
        .authority = r->authority,
        .path = r->path,
        .fields = r->head.headers,
        .n_fields = r->head.n_headers,
        .has_connection = r->head.has_connection,
        .expect_continue = r->expect_continue,
        .protocol = r->head.minor == 0 ? "HTTP/1.0" : "HTTP/1.1",
        .upgrade = upgrade_of(r),
    };
}

/* The head of the current exchange, parsed again from the buffer (a request held by an
 * injected delay, or one cut by a timeout before it was whole). The parse is the same
 * every time: the bytes have not moved. */
static const struct req_head *
stream_head(struct req *q)
{
    struct h1_conn *c = h1_of(q->conn);
    struct worker *wk = c->base.wk;
    static _Thread_local struct req_head h;
    ssize_t n =
        h1_parse_request(buf_head(&c->in), buf_len(&c->in), &wk->opt->limits, &wk->req_scratch);
    if (n <= 0) return NULL;
    head_of(&wk->req_scratch, &h);
    return &h;
}

static int
stream_proceed(struct req *q)
{
    struct h1_conn *c = h1_of(q->conn);
    if (!ex_of(q)->expect_continue) return 0;
    worker_buf_ensure(c->base.wk, &c->out);
    return buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

/* Whether the connection carries another request after this one's local reply: not when
 * a body may be left unread. */
static int
stream_reply(struct req *q, const struct local_reply *r)
{
    struct h1_conn *c = h1_of(q->conn);
    struct h1_exchange *ex = ex_of(q);
    bool keep = ex->keep_alive && ex->req_body == H1_BODY_NONE && !r->close;
    worker_buf_ensure(c->base.wk, &c->out);
    if (headers_local(&c->out, r, !keep)) keep = false;
    if (!keep) ex->replied = true;
    return 0;
}

static int
stream_send_head(struct req *q, const struct resp_head *h, uint64_t upstream_ms)
{
    struct h1_conn *c = h1_of(q->conn);
    struct h1_exchange *ex = ex_of(q);
    if (h->body == RESP_BODY_STREAM) { /* chunked or until close upstream */
        ex->resp_chunked_out = ex->minor == 1;
        if (!ex->resp_chunked_out) ex->keep_alive = false;
    }
    if (!q->sent) ex->keep_alive = false;
    worker_buf_ensure(c->base.wk, &c->out);
    return headers_response(&c->out, q, h, upstream_ms, ex->resp_chunked_out, ex->keep_alive);
}

static int
stream_send_data(struct req *q, const char *p, size_t n)
{
    struct h1_conn *c = h1_of(q->conn);
    return h1_frame_body(&c->out, ex_of(q)->resp_chunked_out, p, n, false);
}

/* The last chunk. The response's trailers are dropped, as Envoy's HTTP/1.1 codec does
 * unless http_protocol_options.enable_trailers is set (Istio leaves it off). */
static int
stream_send_end(struct req *q, const struct h1_header *t, size_t n)
{
    (void)t, (void)n;
    struct h1_conn *c = h1_of(q->conn);
    struct h1_exchange *ex = ex_of(q);
    return ex->resp_chunked_out ? buf_append(&c->out, "0\r\n\r\n", 5) : 0;
}

static size_t
stream_room(const struct req *q)
{
    const struct h1_conn *c = h1_of(q->conn);
    size_t n = buf_len(&c->out);
    return n < OUT_HIGH_WATER ? OUT_HIGH_WATER - n : 0;
}

/* The exchange is over: the connection waits for the next request, or closes once its
 * output is written (a cut response closes it too: the client sees the truncation). */
static void
stream_done(struct req *q, int how)
{
    struct h1_conn *c = h1_of(q->conn);
    struct h1_exchange *ex = ex_of(q);
    c->state = H1_IDLE;
    if (how != REQ_DONE_OK || ex->replied || !ex->keep_alive || c->base.wk->draining)
        c->close_after = true;
    exchange_put(c);
}

static const struct stream_ops h1_stream_ops = {
    .head = stream_head,
    .proceed = stream_proceed,
    .reply = stream_reply,
    .send_head = stream_send_head,
    .send_data = stream_send_data,
    .send_end = stream_send_end,
    .room = stream_room,
    .done = stream_done,
    .upgraded = h1_upgrade_start,
};

void
h1_conn_abort(struct h1_conn *c, int status, const char *body)
{
    struct req *q = &c->ex->q;
    if (!q->started) { /* with what came of the head */
        struct worker *wk = c->base.wk;
        struct req_head h;
        h1_parse_request(buf_head(&c->in), buf_len(&c->in), &wk->opt->limits, &wk->req_scratch);
        head_of(&wk->req_scratch, &h);
        req_begin(q, &h, buf_len(&c->in));
    }
    req_abort(q, status, body);
    h1_conn_pump(c);
}

/* Unframe request body bytes from the client buffer for the request. */
static bool
move_request_body(struct h1_conn *c)
{
    struct h1_exchange *ex = c->ex;
    struct req *q = &ex->q;
    bool progress = false;
    while (!buf_empty(&c->in) && req_body_room(q) && c->ex == ex) {
        if (ex->req_body == H1_BODY_LENGTH) {
            size_t n = buf_len(&c->in);
            if (n > ex->req_left) n = (size_t)ex->req_left;
            if (req_body_data(q, buf_head(&c->in), n)) break;
            buf_consume(&c->in, n);
            q->req_bytes += n;
            ex->req_left -= n;
            if (!ex->req_left) req_body_end(q, NULL, 0);
        } else {
            struct slice data;
            ssize_t rc =
                h1_chunked_parse(&ex->req_chunks, buf_head(&c->in), buf_len(&c->in), &data);
            if (rc < 0) {
                req_abort(q, ex->req_chunks.status, "invalid chunked request body");
                return true;
            }
            if (req_body_data(q, data.ptr, data.len)) break;
            buf_consume(&c->in, (size_t)rc); /* the trailers stay readable until the next read */
            q->req_bytes += (uint64_t)rc;
            if (h1_chunked_done(&ex->req_chunks)) {
                struct h1_header t[32];
                size_t nt = h1_trailer_fields(ex->req_chunks.trailers, t, ARRAY_SIZE(t));
                req_body_end(q, t, nt);
            }
            if (rc == 0) break;
        }
        progress = true;
    }
    if (c->ex != ex) return true;
    if (q->sent && c->state == H1_REQUEST_BODY) c->state = H1_WAIT;
    if (!q->sent && c->in_eof && buf_empty(&c->in)) {
        req_abort(q, 400, "request body cut short");
        return true;
    }
    return progress;
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
    if (!ex || !ex->q.started || ex->q.resp_head || ex->probed || c->state != H1_WAIT) return;
    if (ex->q.upgrade) return; /* no interim answer before a 101: the FIN is tunnelled */
    if (ex->minor != 1) return;
    ex->probed = true;
    worker_buf_ensure(c->base.wk, &c->out);
    buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

/* The HTTP/2 codec took <c>'s socket, transport, generation and read bytes: free the rest. */
static void
handed_over(struct h1_conn *c)
{
    struct worker *wk = c->base.wk;
    wheel_disarm(&wk->loop.wheel, &c->timer);
    worker_buf_drop(wk, &c->out);
    worker_freed(wk, sizeof(*c));
    worker_defer_free(wk, c);
}

/* Before HTTP on an inbound connection: tell TLS from plain text (PERMISSIVE), then finish
 * the mTLS handshake. true when HTTP may flow; false to wait for the socket, or when the
 * connection was closed (a STRICT listener refuses anything that is not mesh mTLS). */
static bool
conn_secured(struct h1_conn *c)
{
    int fd = c->base.w.fd;
    if (c->xport == H1_XP_SNIFF) {
        enum sniff what = sniff_first_byte(fd);
        if (what == SNIFF_WAIT) return false;
        if (what == SNIFF_GONE) {
            h1_conn_close(c);
            return false;
        }
        c->xport = what == SNIFF_TLS ? H1_XP_HANDSHAKE : H1_XP_PLAIN;
        if (c->xport == H1_XP_HANDSHAKE &&
            !(c->base.tls = tls_conn_server(worker_identity(c->base.wk), fd))) {
            h1_conn_close(c);
            return false;
        }
        if (c->base.tls) c->base.xprt = &tls_xprt;
    }
    if (c->xport == H1_XP_HANDSHAKE) {
        int hs = tls_conn_handshake(c->base.tls);
        if (hs == 0) return false;
        if (hs < 0) {
            log_msg(LOG_WARNING, "%s: TLS handshake refused: %s", c->base.ml->name,
                    tls_conn_error(c->base.tls));
            h1_conn_close(c);
            return false;
        }
        c->xport = H1_XP_TLS;
        c->base.secured = true;
        /* ALPN chose HTTP/2: the connection is the HTTP/2 codec's from its first byte. */
        if (tls_conn_alpn_h2(c->base.tls) && !h2_conn_adopt(&c->base, &c->in)) {
            handed_over(c);
            return false;
        }
    }
    return true;
}

/* A request head is whole in the buffer (<n> bytes, parsed into the worker's scratch):
 * start its exchange. Its fields point into c->in: the request starts (and writes the
 * upstream head) before the head is dropped from the buffer. */
static void
start_request(struct h1_conn *c, size_t n)
{
    struct worker *wk = c->base.wk;
    const struct h1_request *r = &wk->req_scratch;
    struct h1_exchange *ex = c->ex;
    struct req *q = &ex->q;
    struct req_head h;
    head_of(r, &h);
    c->used = true;
    ex->out_mark = c->written + buf_len(&c->out);
    req_begin(q, &h, n);
    ex->keep_alive = r->head.keep_alive && !wk->draining && !c->base.retired; /* else close */
    if (h.upgrade.len) ex->keep_alive = false; /* a 101 tunnels it, anything else ends it */
    ex->minor = r->head.minor;
    ex->expect_continue = r->expect_continue;
    ex->req_body = r->head.body;
    ex->req_left = r->head.content_length;
    q->body = r->head.body == H1_BODY_NONE     ? REQ_BODY_NONE
              : r->head.body == H1_BODY_LENGTH ? REQ_BODY_LENGTH
                                               : REQ_BODY_STREAM;
    q->body_len = r->head.content_length;
    if (ex->req_body == H1_BODY_CHUNKED) {
        h1_chunked_init(&ex->req_chunks, &wk->opt->limits);
        h1_chunked_keep_trailers(&ex->req_chunks);
    }
    c->state = ex->req_body == H1_BODY_NONE ? H1_WAIT : H1_REQUEST_BODY;
    req_start(q, &h);
    if (c->ex == ex && q->fault_delayed) {
        ex->held_head = n; /* dropped when the delay ends */
        return;
    }
    buf_consume(&c->in, n);
}

/* HTTP/2 with prior knowledge: the connection preface instead of a first request hands the
 * connection to the HTTP/2 codec (as Envoy's codec AUTO tells them apart), in plain text
 * or over a TLS whose ALPN chose nothing (an Istio sidecar's istio-h2 to a server that
 * does not know the name). -1: too few bytes to say yet; 0: HTTP/1.1; 1: handed over (<c>
 * is gone). */
static int
hand_to_h2(struct h1_conn *c)
{
    if (c->used || c->ex || (c->xport != H1_XP_PLAIN && c->xport != H1_XP_TLS)) return 0;
    int p = h2_preface(buf_head(&c->in), buf_len(&c->in));
    if (p <= 0) return p;
    if (h2_conn_adopt(&c->base, &c->in)) return 0; /* out of memory: HTTP/1.1 answers 400 */
    handed_over(c);
    return 1;
}

/* Read, parse and start what the client sent; true on progress. */
static bool
read_requests(struct h1_conn *c, bool *closed)
{
    struct worker *wk = c->base.wk;
    bool progress = false;
    *closed = false;
    /* Read from the client while there is room (pipelined requests wait in the buffer). */
    if (c->in_ready && !c->in_eof && !c->close_after && !(c->ex && c->ex->q.fault_delayed)) {
        worker_buf_ensure(wk, &c->in);
        int r = h1_read_some(&c->in, c->base.w.fd, c->base.xprt, c->base.tls, c->in_hup,
                             &c->in_ready, &c->in_eof);
        if (r < 0) {
            h1_conn_close(c);
            *closed = true;
            return false;
        }
        if (r > 0) c->active_ms = now_ms(); /* a store: the timeouts look at it later */
        if (c->in_eof) probe_client(c);
        progress |= r > 0;
    }
    /* A new request. */
    if (c->state == H1_IDLE && !(c->ex && c->ex->q.up) && !c->close_after && !buf_empty(&c->in) &&
        buf_len(&c->out) < OUT_HIGH_WATER) {
        /* A connection whose listener a reload removed is answered on its old
         * snapshot one last time, with connection: close. */
        int h2 = hand_to_h2(c);
        if (h2 > 0) {
            *closed = true;
            return false;
        }
        if (h2 < 0 && !c->in_eof) return progress; /* a preface, or the start of one */
        if (!c->ex && !conn_rebind(&c->base)) c->base.retired = true;
        if (!c->ex && !(c->ex = exchange_get(c))) {
            h1_conn_close(c);
            *closed = true;
            return false;
        }
        struct h1_request *r = &wk->req_scratch;
        ssize_t n = h1_parse_request(buf_head(&c->in), buf_len(&c->in), &wk->opt->limits, r);
        if (n == H1_BAD) {
            struct req_head h;
            head_of(r, &h);
            worker_buf_ensure(wk, &c->out);
            c->ex->out_mark = c->written + buf_len(&c->out);
            req_begin(&c->ex->q, &h, buf_len(&c->in)); /* with what was parsed before the fault */
            c->ex->q.status = r->head.status;
            c->ex->q.flags |= RF_DPE;
            reply_local(&c->out, r->head.status, r->head.error, true);
            c->close_after = true;
            exchange_put(c);
            progress = true;
        } else if (n > 0) {
            start_request(c, (size_t)n);
            progress = true;
        } else if (c->in_eof) {
            c->close_after = true;
            exchange_put(c);
        }
    } else if (c->state == H1_IDLE && !c->ex && c->in_eof && buf_empty(&c->in)) {
        c->close_after = true;
    }
    return progress;
}

void
h1_conn_pump(struct h1_conn *c)
{
    struct worker *wk = c->base.wk;
    if (c->xport == H1_XP_SNIFF || c->xport == H1_XP_HANDSHAKE) {
        if (!conn_secured(c)) return;
        c->in_ready = true;
    }
    for (int guard = 0; guard < 1000; guard++) {
        if (c->tunnel || c->base.closed) return; /* upgraded: the tunnel's bytes */
        struct h1_exchange *ex = c->ex;
        if (ex && ex->held_head && !ex->q.fault_delayed) { /* routed after its delay */
            buf_consume(&c->in, ex->held_head);
            ex->held_head = 0;
        }
        bool closed;
        bool progress = read_requests(c, &closed);
        if (closed) return;
        if (c->ex && c->ex->q.up && c->state == H1_REQUEST_BODY) progress |= move_request_body(c);
        if (c->ex && c->ex->q.up) progress |= req_pump(&c->ex->q);
        /* A 101 started a tunnel, which may have ended and closed <c> already. */
        if (c->tunnel || c->base.closed) return;
        /* Write to the client: after the batch (conn_flush), or now from conn_flush itself. */
        if (!buf_empty(&c->out) && wk->defer_writes && conn_queue_flush(&c->base)) {
            /* written after this batch (conn_flush) */
        } else if (!buf_empty(&c->out)) {
            ssize_t n = h1_write_some(&c->out, c->base.w.fd, c->base.xprt, c->base.tls);
            if (n > 0) {
                c->written += (uint64_t)n;
                c->active_ms = now_ms();
                progress = true;
            } else if (n != -EAGAIN) {
                h1_conn_close(c);
                return;
            }
        }
        if (c->close_after && buf_empty(&c->out) && !(c->ex && c->ex->q.up)) {
            h1_conn_close(c);
            return;
        }
        if (wk->draining && c->used && !c->ex && buf_empty(&c->in) && buf_empty(&c->out)) {
            h1_conn_close(c);
            return;
        }
        if (!progress) break;
    }
    worker_buf_shed(wk, &c->in);
    worker_buf_shed(wk, &c->out);
}

static void
ops_pump(struct conn *c)
{
    h1_conn_pump(h1_of(c));
}

static void
ops_rebind_idle(struct conn *c)
{
    h1_conn_rebind_idle(h1_of(c));
}

static void
ops_drain(struct conn *c)
{
    h1_conn_drain(h1_of(c));
}

static void
ops_close(struct conn *c)
{
    h1_conn_close(h1_of(c));
}

static const struct conn_ops h1_conn_ops = {
    .pump = ops_pump,
    .rebind_idle = ops_rebind_idle,
    .drain = ops_drain,
    .close = ops_close,
};
