/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP/1.1 upstream codec (upstream_ops of an exclusive connection): the request head
 * and body framed our own way (Content-Length, or chunked), the response head parsed and
 * its body unframed for the request, which hands both to its client's codec. [W] */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/compiler.h"
#include "core/now.h"
#include "http/h1_int.h"
#include "model/model.h"

#define OUT_HIGH_WATER (256 * 1024) /* stop moving bytes into a buffer this full */

int
h1_frame_body(struct buf *out, bool chunked, const char *p, size_t n, bool end)
{
    int rc = 0;
    if (chunked && n) {
        char size[32];
        int k = snprintf(size, sizeof(size), "%zx\r\n", n);
        rc = buf_append(out, size, (size_t)k);
        if (!rc) rc = buf_append(out, p, n);
        if (!rc) rc = buf_append(out, "\r\n", 2);
    } else if (n) {
        rc = buf_append(out, p, n);
    }
    if (!rc && chunked && end) rc = buf_append(out, "0\r\n\r\n", 5);
    return rc;
}

static void
bind_req(struct upstream *u, struct req *q)
{
    u->owner = q;
    u->chunked_out = q->body == REQ_BODY_STREAM && !q->upgrade; /* a tunnel's bytes go raw */
    u->resp_started = false;
    worker_buf_ensure(u->wk, &u->out);
}

/* The request head for this try, then `x-envoy-attempt-count` and the blank line. The
 * first try writes it from the head (and keeps it when the route may retry). */
static int
send_head(struct upstream *u, struct req *q, const struct req_head *h, const char *rid)
{
    int rc;
    if (q->replay) {
        rc = buf_append(&u->out, q->replay, q->replay_len);
    } else if (h) {
        size_t start = buf_len(&u->out);
        rc = headers_request(&u->out, q, h, rid, false);
        if (!rc) {
            u->out.wr -= 2; /* the blank line goes after the attempt count */
            if (q->route && q->route->retry_attempts)
                req_keep_replay(q, buf_head(&u->out) + start, buf_len(&u->out) - start);
        }
    } else {
        rc = -EINVAL;
    }
    /* "x-envoy-attempt-count: N" without printf: this runs for every request. */
    char count[48] = "x-envoy-attempt-count: ";
    size_t n = 23;
    char digits[10];
    size_t nd = 0;
    for (uint32_t a = q->attempt; a || !nd; a /= 10) digits[nd++] = (char)('0' + a % 10);
    while (nd) count[n++] = digits[--nd];
    memcpy(count + n, "\r\n\r\n", 4);
    if (!rc) rc = buf_append(&u->out, count, n + 4);
    return rc;
}

static int
send_data(struct upstream *u, struct req *q, const char *p, size_t n)
{
    (void)q;
    return h1_frame_body(&u->out, u->chunked_out, p, n, false);
}

/* The request's trailers are dropped, as Envoy's HTTP/1.1 codec does unless
 * http_protocol_options.enable_trailers is set (Istio leaves it off). */
static int
send_end(struct upstream *u, struct req *q, const struct h1_header *t, size_t n)
{
    (void)q, (void)t, (void)n;
    return h1_frame_body(&u->out, u->chunked_out, NULL, 0, true);
}

static size_t
queued(const struct upstream *u, const struct req *q)
{
    (void)q;
    return buf_len(&u->out);
}

static void
release(struct upstream *u, struct req *q, bool reusable)
{
    (void)q;
    u->owner = NULL;
    upstream_release(u, reusable);
}

static bool
io(struct upstream *u, struct req *q)
{
    struct worker *wk = u->wk;
    bool progress = false;
    if (!u->connected || u->failed) return false;
    if (!buf_empty(&u->out) && wk->defer_writes) {
        if (!u->flush_queued) { /* written after this batch (h1_upstream_flush) */
            u->flush_queued = true;
            u->flush_next = wk->flush_head;
            wk->flush_head = u;
        }
    } else if (!buf_empty(&u->out)) {
        ssize_t n = h1_write_some(&u->out, u->w.fd, u->xprt, u->tls);
        if (n > 0)
            progress = true;
        else if (n != -EAGAIN)
            u->failed = true;
    }
    if (u->in_ready && !u->eof) {
        worker_buf_ensure(wk, &u->in);
        int r = h1_read_some(&u->in, u->w.fd, u->xprt, u->tls, u->hup, &u->in_ready, &u->eof);
        if (r < 0) { /* a reset: like EOF, and a failure if nothing came back */
            u->eof = true;
            u->failed = !q->resp_head && buf_empty(&u->in);
        }
        progress |= r != 0;
    }
    return progress;
}

/* Parse the response head and hand it over: false when the request went elsewhere (retried
 * or ended) or needs more bytes (<wait>). */
static bool
deliver_head(struct upstream *u, struct req *q, bool *wait)
{
    const struct h1_limits *lim = &u->wk->opt->limits;
    *wait = false;
    if (buf_empty(&u->in)) {
        if (u->eof) {
            req_try_failed(q, REQ_TRY_RESET); /* UC */
            return false;
        }
        *wait = true;
        return false;
    }
    struct h1_response *resp = &u->wk->resp_scratch;
    ssize_t n = h1_parse_response(buf_head(&u->in), buf_len(&u->in), lim, q->head_request, resp);
    if (n == H1_NEED_MORE) {
        if (u->eof) {
            req_try_failed(q, REQ_TRY_PROTOCOL); /* UPE */
            return false;
        }
        *wait = true;
        return false;
    }
    if (n == H1_BAD) {
        q->flags |= RF_UPE;
        req_abort(q, 502, "invalid response from upstream");
        return false;
    }
    if (resp->code < 200 && resp->code != 101) { /* interim: drop, read on */
        buf_consume(&u->in, (size_t)n);
        return true;
    }
    const struct h1_head *hd = &resp->head;
    struct resp_head h = {
        .code = resp->code,
        .reason = resp->reason,
        .fields = hd->headers,
        .n_fields = hd->n_headers,
        .has_connection = hd->has_connection,
        .body = hd->body == H1_BODY_NONE     ? RESP_BODY_NONE
                : hd->body == H1_BODY_LENGTH ? RESP_BODY_LENGTH
                                             : RESP_BODY_STREAM,
        .body_len = hd->content_length,
        .content_length = h1_header_find(hd, "content-length"),
    };
    u->resp_body = hd->body;
    u->resp_left = hd->content_length;
    bool resp_keep_alive = hd->keep_alive;
    if (!req_response_head(q, &h)) return false; /* retried with another connection */
    buf_consume(&u->in, (size_t)n);
    if (u->resp_body == H1_BODY_CHUNKED) {
        h1_chunked_init(&u->resp_chunks, lim);
        h1_chunked_keep_trailers(&u->resp_chunks);
    }
    u->resp_started = true;
    u->resp_keep_alive = resp_keep_alive;
    return true;
}

static bool
deliver(struct upstream *u, struct req *q)
{
    if (u->failed && !u->resp_started) {
        req_try_failed(q, u->connected ? REQ_TRY_RESET : REQ_TRY_CONNECT_FAILED);
        return true;
    }
    if (!u->resp_started) {
        bool wait;
        if (!deliver_head(u, q, &wait)) return !wait;
        if (!u->resp_started) return true; /* an interim response went by */
        if (q->status == 101) {            /* switched: the bytes after it are a tunnel's */
            if (req_upgraded(q)) return true;
            u->resp_body = H1_BODY_UNTIL_CLOSE; /* relayed as the stream's response body */
        }
    }
    bool progress = false, done = u->resp_body == H1_BODY_NONE;
    while (!done && !buf_empty(&u->in) && req_resp_room(q)) {
        if (u->resp_body == H1_BODY_LENGTH) {
            size_t n = buf_len(&u->in);
            if (n > u->resp_left) n = (size_t)u->resp_left;
            if (req_response_data(q, buf_head(&u->in), n)) break;
            buf_consume(&u->in, n);
            u->resp_left -= n;
            done = u->resp_left == 0;
        } else if (u->resp_body == H1_BODY_CHUNKED) {
            struct slice data;
            ssize_t rc =
                h1_chunked_parse(&u->resp_chunks, buf_head(&u->in), buf_len(&u->in), &data);
            if (rc < 0) {
                q->flags |= RF_UPE;
                req_abort(q, 502, "invalid chunked response");
                return true;
            }
            if (data.len && req_response_data(q, data.ptr, data.len)) break;
            buf_consume(&u->in, (size_t)rc);
            done = h1_chunked_done(&u->resp_chunks);
            if (rc == 0 && !done) break;
        } else { /* until close */
            size_t n = buf_len(&u->in);
            if (req_response_data(q, buf_head(&u->in), n)) break;
            buf_consume(&u->in, n);
        }
        progress = true;
    }
    if (!done && u->resp_body == H1_BODY_UNTIL_CLOSE && u->eof && buf_empty(&u->in)) done = true;
    if (!done && u->eof && buf_empty(&u->in)) { /* cut short: UPE, as Envoy's codec */
        q->flags |= RF_UPE;
        req_abort(q, 502, "upstream closed mid-response");
        return true;
    }
    if (done) {
        /* maxRequestsPerConnection is upstream_release's to apply. */
        bool reusable = u->resp_keep_alive && u->resp_body != H1_BODY_UNTIL_CLOSE;
        struct h1_header t[32];
        size_t n = 0;
        if (u->resp_body == H1_BODY_CHUNKED)
            n = h1_trailer_fields(u->resp_chunks.trailers, t, ARRAY_SIZE(t));
        req_response_end(q, reusable, t, n);
        return true;
    }
    return progress;
}

void
h1_upstream_flush(struct worker *wk)
{
    struct upstream *u = wk->flush_head;
    wk->flush_head = NULL;
    while (u) {
        struct upstream *next = u->flush_next;
        u->flush_queued = false;
        if (!u->closed && u->owner) {
            ssize_t n = 1;
            while (!buf_empty(&u->out) &&
                   (n = h1_write_some(&u->out, u->w.fd, u->xprt, u->tls)) > 0) {
            }
            if (n < 0 && n != -EAGAIN) u->failed = true;
            req_wake(u->owner); /* the request may have more to send, or failed */
        }
        u = next;
    }
}

const struct upstream_ops h1_upstream_ops = {
    .send_head = send_head,
    .send_data = send_data,
    .send_end = send_end,
    .io = io,
    .deliver = deliver,
    .queued = queued,
    .bind = bind_req,
    .release = release,
};
