/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP/2 codec (h2_conn.h). nghttp2 turns bytes into frames and back; each request
 * stream carries one struct req, started when its header block is whole. Request DATA is
 * handed to the request as its upstream takes it, and only then acknowledged to the client
 * (WINDOW_UPDATE), so a fast sender is held by flow control, never buffered without bound.
 * Response DATA waits in the stream until nghttp2 asks for it. Abuse (rapid reset, floods of
 * CONTINUATION, empty, PRIORITY, WINDOW_UPDATE or control frames) is refused as Envoy refuses
 * it, with its defaults: GOAWAY, a /stats counter, a rate-limited warning. [W] */
#include "http/h2_conn.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/compiler.h"
#include "core/log.h"
#include "core/now.h"
#include "http/h1_int.h"
#include "http/h2_flood.h"
#include "http/h2_mem.h"
#include "tls/conn.h"

#define H2_MAX_STREAMS 100         /* SETTINGS_MAX_CONCURRENT_STREAMS (nginx 128, h2o 100) */
#define H2_MAX_HEADER_LIST 61440   /* Envoy's max_request_headers_kb: 60 KiB */
#define H2_STREAM_WINDOW 1048576   /* per stream: one request's body in flight, as Envoy's buffer */
#define H2_CONN_WINDOW 16777216    /* per connection */
#define H2_MAX_FIELDS 128          /* request header fields, as HTTP/1.1 (H1_MAX_HEADERS) */
#define H2_OUT_HIGH_WATER 262144   /* stop asking nghttp2 for frames past this much output */
#define H2_STREAM_RESP_HIGH 262144 /* response bytes a stream holds before its upstream waits */

/* Abuse limits: Envoy's http2_protocol_options defaults and its premature-reset check. */
#define H2_MAX_CONTINUATIONS 8   /* CONTINUATION frames after one HEADERS (nghttp2's) */
#define H2_PREMATURE_STREAMS 500 /* overload.premature_reset_total_stream_count */
#define H2_PREMATURE_MS 1000     /* overload.premature_reset_min_stream_lifetime_seconds */
#define H2_CLOSE_DELAY_MS 1000   /* delayed_close_timeout: a GOAWAY the client won't read */
#define H2_DRAIN_NOTICE_MS 1000  /* the longest from a drain's first GOAWAY to its final */
#define H2_DRAIN_PING "meshdrn"  /* the PING whose ACK says the client saw the first */
#define H2_SHED_MS 1000          /* idle this long, a connection's frame buffer goes back */

struct h2_conn;

/* A header block as it arrives (a request's head, or its trailers), its fields borrowed
 * from nghttp2's refcounted buffers: in a worker block, held by the connection while the
 * block comes in (blocks do not interleave, RFC 9113 §4.3), then let go once the request
 * started, or kept by a stream that needs it later (an injected delay; trailers). */
struct h2_head {
    struct slice method, path, authority;
    struct slice protocol; /* :protocol of an extended CONNECT (RFC 8441); empty: none */
    size_t bytes;          /* as SETTINGS_MAX_HEADER_LIST_SIZE counts */
    size_t n_fields, n_held;
    struct h1_header fields[H2_MAX_FIELDS];
    nghttp2_rcbuf *held[2 * H2_MAX_FIELDS + 8];
};

struct h2_stream {
    struct req q; /* the request core's state */
    struct h2_conn *c;
    int32_t id;
    struct h2_stream *next, *prev; /* the connection's streams */
    struct h2_head *head;          /* its request head, while the request still needs it */
    struct h2_head *trailers;      /* its request trailers, until they went with the body */
    bool started;                  /* req_start ran */
    bool released;                 /* the request core is done with it (req_release ran) */
    bool rx_reset;                 /* the client reset it (RST_STREAM) */
    bool overflowed;               /* its header list passed H2_MAX_HEADER_LIST (counted once) */
    bool in_end;                   /* the client's END_STREAM arrived */
    bool body_end;                 /* req_body_end ran */
    uint64_t begin_ms; /* when its HEADERS came: a reset within H2_PREMATURE_MS is premature */
    struct buf body_in;
    /* The response: submitted head, DATA waiting for nghttp2, its end and trailers. */
    struct buf resp;
    bool resp_submitted, resp_end, resp_deferred;
    uint64_t resp_bytes;
    nghttp2_nv *resp_trailers; /* owned, with their bytes: sent after the last DATA */
    size_t n_resp_trailers;
};

struct h2_conn {
    struct conn base;
    nghttp2_session *ng;
    struct buf in, out;
    bool in_ready, in_eof, in_hup;
    bool close_after; /* GOAWAY sent: close once the streams are done and output written */
    bool noticed;     /* a drain's first GOAWAY (last stream 2^31-1) went: the final follows */
    bool failed;      /* a session error: close after writing its GOAWAY */
    struct h2_stream *streams;
    size_t n_streams;
    struct h2_head *rx_head;     /* the header block coming in now, or NULL */
    struct h2_stream *rx_stream; /* whose it is */
    struct wheel_timer timer;    /* idle timeout; after a failure, the delayed close */
    struct wheel_timer shed;     /* gives the frame buffer back once idle for H2_SHED_MS */
    uint64_t active_ms;
    struct h2_mem mem; /* nghttp2's allocations, the frame buffer on pages of its own */
    /* Abuse accounting, as Envoy's ProtocolConstraints. */
    struct h2_flood flood;
    uint64_t rx_streams;
    bool goaway_sent;                   /* nghttp2 sent a GOAWAY with an error of its own */
    uint64_t closed_streams, premature; /* client streams closed; reset early by the client */
};

static const struct stream_ops h2_stream_ops;
static const struct conn_ops h2_conn_ops;
static void pump(struct h2_conn *c);
static void conn_close(struct h2_conn *c);
static void final_goaway(struct h2_conn *c);
static void ops_drain(struct conn *base);

size_t
h2_buf_take(struct buf *b, unsigned char *out, size_t len)
{
    size_t n = buf_len(b) < len ? buf_len(b) : len;
    if (n) memcpy(out, buf_head(b), n);
    buf_consume(b, n);
    return n;
}

int
h2_preface(const char *p, size_t n)
{
    size_t k = n < H2_PREFACE_LEN ? n : H2_PREFACE_LEN;
    if (memcmp(p, H2_PREFACE, k)) return 0;
    return n >= H2_PREFACE_LEN ? 1 : -1;
}

static struct h2_conn *
h2_of(struct conn *c)
{
    return container_of(c, struct h2_conn, base);
}

static struct h2_stream *
stream_of(const struct req *q)
{
    return container_of(q, struct h2_stream, q);
}

/* --- Abuse. --- */

/* End the connection for abuse: count it in /stats (<counter>), log it (rate-limited), and
 * queue GOAWAY(<code>); the connection closes once that is written (or H2_CLOSE_DELAY_MS
 * later). Returns what a callback returns to stop nghttp2 at once. */
static int
refuse(struct h2_conn *c, uint64_t *counter, uint32_t code, const char *what)
{
    static struct log_limit said;
    if (c->failed) return NGHTTP2_ERR_CALLBACK_FAILURE;
    c->failed = true;
    metric_add(counter, 1);
    if (!c->goaway_sent) nghttp2_session_terminate_session(c->ng, code);
    uint64_t held;
    if (log_limit_pass(&said, now_ms(), 10000, &held))
        log_msg(LOG_WARNING,
                "%s: HTTP/2 client closed with GOAWAY(%s): %s (%llu not logged before)",
                c->base.ml->name, nghttp2_http2_strerror(code), what, (unsigned long long)held);
    wheel_disarm(&c->base.wk->loop.wheel, &c->timer);
    wheel_arm(&c->base.wk->loop.wheel, &c->timer, now_ms() + H2_CLOSE_DELAY_MS);
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* Each inbound frame, before its payload: Envoy's inbound flood checks (h2_flood.c). */
static int
on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *arg)
{
    (void)ng;
    struct h2_conn *c = arg;
    uint64_t *counter;
    const char *why = h2_flood_rx(&c->flood, hd, c->rx_streams, &c->base.wk->h2, &counter);
    return why ? refuse(c, counter, NGHTTP2_ENHANCE_YOUR_CALM, why) : 0;
}

/* Envoy's premature-reset check (CVE-2023-44487): once half of the client's streams (counted
 * over at least H2_PREMATURE_STREAMS, or already half of that) were reset by the client
 * within H2_PREMATURE_MS of their start, the connection goes. */
static void
check_premature(struct h2_conn *c)
{
    uint64_t closed = c->closed_streams, bad = c->premature;
    if (closed < H2_PREMATURE_STREAMS ? bad * 2 < H2_PREMATURE_STREAMS : bad * 2 < closed) return;
    refuse(c, &c->base.wk->h2.premature_resets, NGHTTP2_ENHANCE_YOUR_CALM,
           "too many streams reset by the client early (rapid reset)");
}

/* Each frame written to <out>: Envoy's outbound flood checks, for a client that does not read
 * what it provokes (PING and SETTINGS acknowledgements, resets). */
static int
on_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *arg)
{
    (void)ng;
    struct h2_conn *c = arg;
    h2_flood_tx(&c->flood, f->hd.type);
    /* A connection error nghttp2 found itself (PROTOCOL_ERROR, FLOW_CONTROL_ERROR,
     * COMPRESSION_ERROR, too many SETTINGS entries or resets): count it; close soon. */
    if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR && !c->failed) {
        c->goaway_sent = true;
        refuse(c, &c->base.wk->h2.protocol_errors, f->goaway.error_code, "protocol error");
    }
    return 0;
}

/* --- Header blocks. --- */

_Static_assert(sizeof(struct h2_head) <= WORKER_BLOCK_BYTES, "a header block fits a worker block");
/* An open stream is its request and a few fields (744 B on x86-64); its head is not kept. */
_Static_assert(sizeof(struct h2_stream) <= 1024, "an open HTTP/2 stream stays small");

static void
head_put(struct worker *wk, struct h2_head *h)
{
    if (!h) return;
    for (size_t i = 0; i < h->n_held; i++) nghttp2_rcbuf_decref(h->held[i]);
    worker_block_put(wk, h);
}

/* A header block begins on stream <s>: the connection holds it while it comes in. */
static struct h2_head *
head_begin(struct h2_conn *c, struct h2_stream *s)
{
    struct worker *wk = c->base.wk;
    head_put(wk, c->rx_head); /* one abandoned by an earlier stream's reset */
    c->rx_head = worker_block_get(wk);
    c->rx_stream = c->rx_head ? s : NULL;
    if (c->rx_head) memset(c->rx_head, 0, offsetof(struct h2_head, fields));
    return c->rx_head;
}

/* The block that came in on stream <s>, now the caller's; NULL if it was another's. */
static struct h2_head *
head_take(struct h2_conn *c, struct h2_stream *s)
{
    if (c->rx_stream != s) return NULL;
    struct h2_head *h = c->rx_head;
    c->rx_head = NULL;
    c->rx_stream = NULL;
    return h;
}

/* --- Streams. --- */

static void
stream_free(struct h2_stream *s)
{
    struct h2_conn *c = s->c;
    struct worker *wk = c->base.wk;
    if (!s->released) {
        s->q.flags |= RF_DC; /* reset by the client before its response was done */
        s->released = true;
        req_release(&s->q, s->resp_bytes);
    }
    head_put(wk, s->head);
    head_put(wk, s->trailers);
    head_put(wk, head_take(c, s));
    free(s->resp_trailers);
    worker_buf_drop(wk, &s->body_in);
    worker_buf_drop(wk, &s->resp);
    if (s->prev)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    c->n_streams--;
    worker_freed(wk, sizeof(*s));
    free(s);
}

static int
on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *arg)
{
    struct h2_conn *c = arg;
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    if (f->headers.cat != NGHTTP2_HCAT_REQUEST) { /* trailers */
        struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
        if (s && s->started && !s->trailers && !head_begin(c, s))
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        return 0;
    }
    struct h2_stream *s = calloc(1, sizeof(*s));
    if (!s) return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (!head_begin(c, s)) {
        free(s);
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    s->c = c;
    s->id = f->hd.stream_id;
    s->begin_ms = now_ms();
    c->rx_streams++;
    buf_init_empty(&s->body_in, H2_STREAM_WINDOW);
    buf_init_empty(&s->resp, 64u << 20);
    /* A new request starts on the current generation (its listener may have gone). */
    if (!conn_rebind(&c->base)) c->base.retired = true;
    req_init(&s->q, &c->base, &h2_stream_ops);
    s->next = c->streams;
    if (c->streams) c->streams->prev = s;
    c->streams = s;
    c->n_streams++;
    nghttp2_session_set_stream_user_data(ng, s->id, s);
    return 0;
}

static int
on_header(nghttp2_session *ng, const nghttp2_frame *f, nghttp2_rcbuf *name, nghttp2_rcbuf *value,
          uint8_t flags, void *arg)
{
    (void)flags;
    struct h2_conn *c = arg;
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    struct h2_head *h = s && c->rx_stream == s ? c->rx_head : NULL;
    if (!h) return 0;
    nghttp2_vec n = nghttp2_rcbuf_get_buf(name), v = nghttp2_rcbuf_get_buf(value);
    struct slice ns = slice_make((const char *)n.base, n.len);
    struct slice vs = slice_make((const char *)v.base, v.len);
    h->bytes += n.len + v.len + 32; /* as SETTINGS_MAX_HEADER_LIST_SIZE counts */
    if (h->bytes > H2_MAX_HEADER_LIST || h->n_held + 2 > ARRAY_SIZE(h->held)) {
        if (!s->overflowed) metric_add(&c->base.wk->h2.header_overflow, 1);
        s->overflowed = true;
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM, as Envoy: too large */
    }
    bool pseudo = ns.len && ns.ptr[0] == ':';
    if (pseudo && s->started) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* in trailers */
    if (pseudo) {
        if (slice_eq(ns, ":method"))
            h->method = vs;
        else if (slice_eq(ns, ":path"))
            h->path = vs;
        else if (slice_eq(ns, ":authority"))
            h->authority = vs;
        else if (slice_eq(ns, ":protocol")) /* nghttp2 lets it through when we allow it */
            h->protocol = vs;
        /* :scheme: the connection's transport says it (as Envoy). */
    } else {
        if (h->n_fields == H2_MAX_FIELDS) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        /* Host from a client that sent no :authority (RFC 9113 §8.3.1). */
        if (!s->started && !h->authority.len && slice_eq(ns, "host")) h->authority = vs;
        h->fields[h->n_fields++] = (struct h1_header){ns, vs};
    }
    nghttp2_rcbuf_incref(name);
    nghttp2_rcbuf_incref(value);
    h->held[h->n_held++] = name;
    h->held[h->n_held++] = value;
    return 0;
}

static const struct req_head *
stream_head(struct req *q)
{
    const struct h2_head *k = stream_of(q)->head;
    if (!k) return NULL; /* let go once the request no longer needed it */
    static _Thread_local struct req_head h;
    h = (struct req_head){
        .method = k->method,
        .authority = k->authority,
        .path = k->path,
        .fields = k->fields,
        .n_fields = k->n_fields,
        .protocol = "HTTP/2",
        /* An extended CONNECT (RFC 8441) is the HTTP/2 form of an upgrade. */
        .upgrade = slice_eq(k->method, "CONNECT") ? k->protocol : slice_make("", 0),
    };
    return &h;
}

/* The header block is whole: start the request. */
static void
start_stream(struct h2_stream *s, bool end_stream)
{
    struct req *q = &s->q;
    s->started = true;
    s->in_end = end_stream;
    struct slice cl;
    if (end_stream) {
        q->body = REQ_BODY_NONE;
    } else if (headers_find(s->head->fields, s->head->n_fields, "content-length", &cl) && cl.len &&
               cl.len < 20) {
        uint64_t v = 0;
        bool ok = true;
        for (size_t i = 0; i < cl.len && ok; i++) {
            ok = cl.ptr[i] >= '0' && cl.ptr[i] <= '9';
            v = v * 10 + (uint64_t)(cl.ptr[i] - '0');
        }
        q->body = ok ? REQ_BODY_LENGTH : REQ_BODY_STREAM;
        q->body_len = v;
    } else {
        q->body = REQ_BODY_STREAM;
    }
    req_begin(q, stream_head(q), s->head->bytes);
    req_start(q, stream_head(q));
    if (!q->fault_delayed) { /* routed, or answered: the head is no longer read */
        head_put(s->c->base.wk, s->head);
        s->head = NULL;
    }
}

/* Hand the request body that waits in the stream to the request, as far as its upstream
 * takes it, then acknowledge it to the client; the end (and trailers) after the last byte. */
static bool
move_body(struct h2_stream *s)
{
    struct req *q = &s->q;
    struct h2_conn *c = s->c;
    bool progress = false;
    while (!buf_empty(&s->body_in)) {
        size_t room = req_body_room(q);
        if (!room) break;
        size_t n = buf_len(&s->body_in) < room ? buf_len(&s->body_in) : room;
        if (req_body_data(q, buf_head(&s->body_in), n)) break;
        buf_consume(&s->body_in, n);
        q->req_bytes += n;
        nghttp2_session_consume(c->ng, s->id, n);
        progress = true;
    }
    worker_buf_shed(c->base.wk, &s->body_in); /* a stream waiting for its response holds none */
    if (s->in_end && !s->body_end && buf_empty(&s->body_in) && q->up && !q->sent) {
        s->body_end = true;
        const struct h2_head *t = s->trailers;
        req_body_end(q, t ? t->fields : NULL, t ? t->n_fields : 0); /* the request keeps them */
        head_put(c->base.wk, s->trailers);
        s->trailers = NULL;
        progress = true;
    }
    return progress;
}

static int
on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *arg)
{
    struct h2_conn *c = arg;
    if (f->hd.type == NGHTTP2_DATA && (f->hd.flags & NGHTTP2_FLAG_PADDED)) {
        uint64_t *counter;
        const char *why = h2_flood_empty(
            &c->flood, f->hd.length == f->data.padlen && !(f->hd.flags & NGHTTP2_FLAG_END_STREAM),
            &c->base.wk->h2, &counter);
        if (why) return refuse(c, counter, NGHTTP2_ENHANCE_YOUR_CALM, why);
    }
    if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK) && c->noticed &&
        !memcmp(f->ping.opaque_data, H2_DRAIN_PING, 8)) {
        final_goaway(c); /* a round trip after the notice: the client's streams are all in */
        return 0;
    }
    if (f->hd.type == NGHTTP2_RST_STREAM) {
        metric_add(&c->base.wk->h2.rx_reset, 1);
        struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
        if (s) s->rx_reset = true;
        return 0;
    }
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!s || s->released) return 0;
    bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (f->hd.type == NGHTTP2_HEADERS && !s->started) {
        s->head = head_take(c, s);
        if (!s->head || !s->head->method.len || !s->head->path.len)
            return 0; /* nghttp2 resets a malformed head */
        start_stream(s, end);
        return 0;
    }
    if (f->hd.type == NGHTTP2_HEADERS && !s->trailers) s->trailers = head_take(c, s);
    if (end) s->in_end = true;
    return 0;
}

static int
on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
              void *arg)
{
    (void)flags;
    struct h2_conn *c = arg;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, id);
    if (!s || s->released || s->q.sent || !s->started) {
        nghttp2_session_consume(ng, id, len); /* nobody reads it: give the window back */
        return 0;
    }
    worker_buf_ensure(c->base.wk, &s->body_in);
    if (buf_append(&s->body_in, data, len)) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
}

static int
on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *arg)
{
    (void)error_code;
    struct h2_conn *c = arg;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, id);
    if (!s) return 0;
    c->closed_streams++;
    /* Premature as Envoy has it: reset by the client early, before any response head. */
    if (s->rx_reset && !s->resp_submitted && now_ms() - s->begin_ms < H2_PREMATURE_MS)
        c->premature++;
    stream_free(s);
    if (c->premature) check_premature(c); /* not fatal here: streams close in sends too */
    return 0;
}

/* nghttp2 asks for response DATA: what waits in the stream, its end, then trailers. */
static ssize_t
read_response(nghttp2_session *ng, int32_t id, uint8_t *out, size_t len, uint32_t *flags,
              nghttp2_data_source *src, void *arg)
{
    (void)ng, (void)id, (void)arg;
    struct h2_stream *s = src->ptr;
    size_t n = h2_buf_take(&s->resp, out, len);
    s->resp_bytes += n;
    if (buf_empty(&s->resp)) {
        worker_buf_shed(s->c->base.wk, &s->resp);
        if (!s->resp_end) {
            if (n) return (ssize_t)n;
            s->resp_deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        /* Trailers end the stream instead of the last DATA (gRPC's grpc-status). */
        if (s->n_resp_trailers &&
            !nghttp2_submit_trailer(ng, s->id, s->resp_trailers, s->n_resp_trailers))
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
    return (ssize_t)n;
}

/* --- What the request core asks of the stream (stream_ops). --- */

/* A header list under construction: names lower-cased into <mem>. */
struct nvlist {
    nghttp2_nv v[H1_MAX_HEADERS + 16];
    size_t n;
    char mem[16384];
    size_t used;
};

/* The worker's list, emptied: nghttp2 copies a list when it is submitted, so one serves
 * every response. */
static struct nvlist *
nv_scratch(void)
{
    static _Thread_local struct nvlist l;
    l.n = l.used = 0;
    return &l;
}

static int
nv_add(void *arg, struct slice name, struct slice value)
{
    struct nvlist *l = arg;
    if (l->n == ARRAY_SIZE(l->v) || name.len + value.len > sizeof(l->mem) - l->used)
        return -ENOBUFS;
    char *p = l->mem + l->used;
    for (size_t i = 0; i < name.len; i++) p[i] = slice_lower_ascii(name.ptr[i]);
    if (value.len) memcpy(p + name.len, value.ptr, value.len);
    l->used += name.len + value.len;
    l->v[l->n++] = (nghttp2_nv){(uint8_t *)p, (uint8_t *)p + name.len, name.len, value.len,
                                NGHTTP2_NV_FLAG_NONE};
    return 0;
}

static int
nv_add_u64(struct nvlist *l, const char *name, uint64_t v)
{
    char d[24];
    int n = snprintf(d, sizeof(d), "%llu", (unsigned long long)v);
    return nv_add(l, slice_make(name, strlen(name)), slice_make(d, (size_t)n));
}

static int
submit(struct h2_stream *s, struct nvlist *l, bool body)
{
    nghttp2_data_provider dp = {.source.ptr = s, .read_callback = read_response};
    int rc = nghttp2_submit_response(s->c->ng, s->id, l->v, l->n, body ? &dp : NULL);
    s->resp_submitted = rc == 0;
    return rc ? -1 : 0;
}

static const struct req_head *
ops_head(struct req *q)
{
    return stream_head(q);
}

static int
ops_proceed(struct req *q)
{
    (void)q; /* HTTP/2 clients send their body without waiting for 100 Continue */
    return 0;
}

static int
ops_reply(struct req *q, const struct local_reply *r)
{
    struct h2_stream *s = stream_of(q);
    struct nvlist *l = nv_scratch();
    int rc = nv_add_u64(l, ":status", (uint64_t)r->status);
    if (!rc) rc = nv_add_u64(l, "content-length", r->body.len);
    if (!rc) rc = headers_local_fields(r, nv_add, l);
    if (!rc) rc = nv_add(l, SLICE_LIT("server"), SLICE_LIT("meshlet"));
    bool body = r->body.len && !r->no_body;
    if (body) {
        worker_buf_ensure(s->c->base.wk, &s->resp);
        if (buf_append(&s->resp, r->body.ptr, r->body.len)) rc = -1;
    }
    s->resp_end = true;
    if (!rc) rc = submit(s, l, body);
    return rc;
}

static int
ops_send_head(struct req *q, const struct resp_head *h, uint64_t upstream_ms)
{
    struct h2_stream *s = stream_of(q);
    struct nvlist *l = nv_scratch();
    /* An upgrade answered 101 is an extended CONNECT answered 200 (RFC 8441 §5): the bytes
     * that follow are the stream's DATA, both ways, until either side ends. */
    bool tunnel = h->code == 101;
    int rc = nv_add_u64(l, ":status", tunnel ? 200 : (uint64_t)h->code);
    if (!rc) rc = headers_response_fields(q, h, nv_add, l);
    if (!rc) rc = nv_add(l, SLICE_LIT("server"), SLICE_LIT("meshlet"));
    if (!rc) rc = nv_add_u64(l, "x-envoy-upstream-service-time", upstream_ms);
    if (!rc && h->body == RESP_BODY_LENGTH)
        rc = nv_add_u64(l, "content-length", h->body_len);
    else if (!rc && h->body == RESP_BODY_NONE && h->content_length && h->code >= 200 &&
             h->code != 204)
        rc = nv_add(l, SLICE_LIT("content-length"), h->content_length->value); /* HEAD, 304 */
    if (!rc) rc = submit(s, l, tunnel || h->body != RESP_BODY_NONE);
    if (h->body == RESP_BODY_NONE && !tunnel) s->resp_end = true;
    return rc;
}

static void
resume(struct h2_stream *s)
{
    if (s->resp_deferred && s->resp_submitted) {
        s->resp_deferred = false;
        nghttp2_session_resume_data(s->c->ng, s->id);
    }
}

static int
ops_send_data(struct req *q, const char *p, size_t n)
{
    struct h2_stream *s = stream_of(q);
    worker_buf_ensure(s->c->base.wk, &s->resp);
    if (buf_append(&s->resp, p, n)) return -1;
    resume(s);
    return 0;
}

/* The response's end, with its trailers (from an HTTP/2 upstream; an HTTP/1.1 one drops
 * them): kept, names lower-cased, until nghttp2 has sent the last DATA. */
static int
ops_send_end(struct req *q, const struct h1_header *t, size_t n)
{
    struct h2_stream *s = stream_of(q);
    size_t bytes = n * sizeof(nghttp2_nv);
    for (size_t i = 0; i < n; i++) bytes += t[i].name.len + t[i].value.len;
    if (n && !s->resp_trailers && (s->resp_trailers = malloc(bytes))) {
        char *p = (char *)(s->resp_trailers + n);
        for (size_t i = 0; i < n; i++) {
            nghttp2_nv *v = &s->resp_trailers[i];
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
        s->n_resp_trailers = n;
    }
    s->resp_end = true;
    resume(s);
    return 0;
}

static size_t
ops_room(const struct req *q)
{
    const struct h2_stream *s = stream_of(q);
    size_t n = buf_len(&s->resp);
    return n < H2_STREAM_RESP_HIGH ? H2_STREAM_RESP_HIGH - n : 0;
}

/* The request core is done. A response cut short resets the stream; otherwise the stream
 * lives on until nghttp2 has sent what it holds, and closes it. */
static void
ops_done(struct req *q, int how)
{
    struct h2_stream *s = stream_of(q);
    struct h2_conn *c = s->c;
    s->released = true;
    req_release(q, s->resp_bytes + buf_len(&s->resp));
    if (how == REQ_DONE_CUT || !s->resp_submitted) {
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    /* A client still sending its body gets its response first; what it sends after is read
     * and dropped (on_data_chunk gives the window back) until it ends its side. A reset now
     * would discard the response nghttp2 has not sent yet. */
    resume(s);
}

static const struct stream_ops h2_stream_ops = {
    .head = ops_head,
    .proceed = ops_proceed,
    .reply = ops_reply,
    .send_head = ops_send_head,
    .send_data = ops_send_data,
    .send_end = ops_send_end,
    .room = ops_room,
    .done = ops_done,
};

/* --- The connection. --- */

static void
on_io(struct loop_watch *w, unsigned events)
{
    struct h2_conn *c = container_of(w, struct h2_conn, base.w);
    if (events & (LOOP_IN | LOOP_HUP | LOOP_ERR)) c->in_ready = true;
    if (events & (LOOP_RDHUP | LOOP_HUP | LOOP_ERR)) c->in_hup = true;
    pump(c);
}

/* Feed what the client sent to nghttp2. false when the session failed. */
static bool
receive(struct h2_conn *c)
{
    if (buf_empty(&c->in)) return true;
    if (c->failed) { /* read and dropped, so that closing does not reset the GOAWAY away */
        buf_consume(&c->in, buf_len(&c->in));
        return true;
    }
    ssize_t n = nghttp2_session_mem_recv(c->ng, (const uint8_t *)buf_head(&c->in), buf_len(&c->in));
    if (n < 0) {
        struct worker_h2_counts *k = &c->base.wk->h2;
        log_msg(LOG_DEBUG, "%s: HTTP/2 session error: %s", c->base.ml->name,
                nghttp2_strerror((int)n));
        buf_consume(&c->in, buf_len(&c->in));
        if (n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)
            refuse(c, &k->continuations, NGHTTP2_ENHANCE_YOUR_CALM, "CONTINUATION flood");
        else if (n == NGHTTP2_ERR_FLOODED) /* acknowledgements the client does not read */
            refuse(c, &k->outbound_control, NGHTTP2_ENHANCE_YOUR_CALM, "outbound control flood");
        else
            refuse(c, &k->protocol_errors, NGHTTP2_INTERNAL_ERROR, nghttp2_strerror((int)n));
        return false;
    }
    buf_consume(&c->in, (size_t)n);
    return true;
}

/* Take frames from nghttp2 into the output buffer. */
static bool
produce(struct h2_conn *c)
{
    bool progress = false;
    while (buf_len(&c->out) < H2_OUT_HIGH_WATER) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(c->ng, &p);
        if (n <= 0) break;
        c->mem.dirty = true;
        worker_buf_ensure(c->base.wk, &c->out);
        if (buf_append(&c->out, p, (size_t)n)) {
            c->failed = true;
            break;
        }
        progress = true;
    }
    return progress;
}

/* Whether the client lets frames it provoked pile up unread (Envoy's outbound flood): the
 * frames put in <out> since the client last read any (<out> itself stops taking frames at
 * H2_OUT_HIGH_WATER; past it, nghttp2 bounds the acknowledgements and resets it queues with
 * max_outbound_ack). Such a client reads no GOAWAY either: the connection is just closed. */
static bool
outbound_flood(struct h2_conn *c)
{
    uint64_t *counter;
    const char *why = h2_flood_out(&c->flood, &c->base.wk->h2, &counter);
    if (!why) return false;
    refuse(c, counter, NGHTTP2_ENHANCE_YOUR_CALM, why);
    return true;
}

/* The client sent its end of stream and nothing is left to send it: every request is done
 * and written. A stream the client never ended (an extended CONNECT it closed the
 * connection under) waits for nothing more. */
static bool
finished(struct h2_conn *c)
{
    if (!c->in_eof || nghttp2_session_want_write(c->ng)) return false;
    for (struct h2_stream *s = c->streams; s; s = s->next)
        if (!s->released) return false;
    return true;
}

/* No stream and no frame on the way: the frame buffer's content is dead. */
static bool
quiet(struct h2_conn *c)
{
    return !c->n_streams && buf_empty(&c->out) && !nghttp2_session_want_write(c->ng);
}

static void
on_shed(struct wheel_timer *t)
{
    struct h2_conn *c = container_of(t, struct h2_conn, shed);
    uint64_t due = c->active_ms + H2_SHED_MS;
    if (!quiet(c)) return; /* pump() arms it again when the connection is next quiet */
    if (now_ms() < due) {
        wheel_arm(&c->base.wk->loop.wheel, &c->shed, due);
        return;
    }
    if (h2_mem_shed(&c->mem)) c->base.wk->h2.frames_shed++;
}

static void
pump(struct h2_conn *c)
{
    struct worker *wk = c->base.wk;
    for (int guard = 0; guard < 1000 && !c->base.closed; guard++) {
        bool progress = false;
        if (c->in_ready && !c->in_eof) { /* after a failure, read to drop (receive) */
            worker_buf_ensure(wk, &c->in);
            int r = h1_read_some(&c->in, c->base.w.fd, c->base.xprt, c->base.tls, c->in_hup,
                                 &c->in_ready, &c->in_eof);
            if (r < 0) {
                conn_close(c);
                return;
            }
            if (r > 0) c->active_ms = now_ms();
            progress |= r > 0;
            if (!receive(c)) c->failed = true;
        }
        for (struct h2_stream *s = c->streams; s; s = s->next) {
            if (s->released) continue;
            if (s->q.up && !s->q.sent) progress |= move_body(s);
            if (!s->released && s->q.up) progress |= req_pump(&s->q);
        }
        progress |= produce(c);
        if (!buf_empty(&c->out) && wk->defer_writes && conn_queue_flush(&c->base)) {
            /* written after this batch (conn_flush), with the frames of other events */
        } else if (!buf_empty(&c->out)) {
            ssize_t n = h1_write_some(&c->out, c->base.w.fd, c->base.xprt, c->base.tls);
            if (n > 0) {
                c->active_ms = now_ms();
                h2_flood_read(&c->flood);
                progress = true;
            } else if (n != -EAGAIN) {
                conn_close(c);
                return;
            }
        }
        if (outbound_flood(c)) {
            conn_close(c);
            return;
        }
        bool idle = !nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng);
        if (buf_empty(&c->out) && (c->failed || idle || (c->in_eof && !c->n_streams) ||
                                   finished(c) || (c->close_after && !c->n_streams))) {
            conn_close(c);
            return;
        }
        if (!progress) break;
    }
    worker_buf_shed(wk, &c->in);
    worker_buf_shed(wk, &c->out);
    if (!c->base.closed && c->mem.dirty && !wheel_armed(&c->shed) && quiet(c))
        wheel_arm(&wk->loop.wheel, &c->shed, c->active_ms + H2_SHED_MS);
    /* Its last stream ended on an older generation: move on, or drain if the listener went
     * (a connection idle at the reload was told at once: ops_rebind_idle). */
    if (!c->n_streams && c->base.gen != wk->gen && !c->noticed && !c->close_after &&
        !conn_rebind(&c->base))
        ops_drain(&c->base);
}

static void
conn_close(struct h2_conn *c)
{
    struct worker *wk = c->base.wk;
    c->base.closed = true;
    while (c->streams) stream_free(c->streams);
    head_put(wk, c->rx_head);
    c->rx_head = NULL;
    nghttp2_session_del(c->ng);
    c->ng = NULL;
    wheel_disarm(&wk->loop.wheel, &c->timer);
    wheel_disarm(&wk->loop.wheel, &c->shed);
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

/* Envoy's idle_timeout: a connection without streams for this long is sent GOAWAY. */
static void
on_timer(struct wheel_timer *t)
{
    struct h2_conn *c = container_of(t, struct h2_conn, timer);
    if (c->failed) { /* its GOAWAY was not read in time */
        conn_close(c);
        return;
    }
    uint64_t ms = c->base.wk->opt->idle_timeout_ms;
    if (c->noticed && !c->close_after) { /* a drain's PING went unanswered */
        final_goaway(c);
        pump(c);
        if (!c->base.closed && ms) wheel_arm(&c->base.wk->loop.wheel, &c->timer, now_ms() + ms);
        return;
    }
    if (!ms) return;
    uint64_t due = c->active_ms + ms;
    if (!c->n_streams && now_ms() >= due) {
        nghttp2_session_terminate_session(c->ng, NGHTTP2_NO_ERROR);
        c->close_after = true;
        pump(c);
        return;
    }
    wheel_arm(&c->base.wk->loop.wheel, &c->timer, (now_ms() >= due ? now_ms() : due) + ms);
}

/* The drain's final GOAWAY: the last stream the connection took; it closes once those are
 * done. */
static void
final_goaway(struct h2_conn *c)
{
    if (c->close_after) return;
    nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->ng),
                          NGHTTP2_NO_ERROR, NULL, 0);
    c->close_after = true;
}

/* Drain, gracefully as RFC 9113 §6.8 and Envoy do it: a first GOAWAY with the largest stream
 * id tells the client to open no more streams, a PING measures the round trip in which
 * streams it already sent still arrive (and are served), and the final GOAWAY follows the
 * PING's ACK (or H2_DRAIN_NOTICE_MS, for a client that does not answer). */
static void
ops_drain(struct conn *base)
{
    struct h2_conn *c = h2_of(base);
    if (!c->close_after && !c->noticed && !c->failed) {
        nghttp2_submit_shutdown_notice(c->ng);
        nghttp2_submit_ping(c->ng, NGHTTP2_FLAG_NONE, (const uint8_t *)H2_DRAIN_PING);
        c->noticed = true;
        wheel_disarm(&c->base.wk->loop.wheel, &c->timer);
        wheel_arm(&c->base.wk->loop.wheel, &c->timer, now_ms() + H2_DRAIN_NOTICE_MS);
    }
    pump(c);
}

/* After a reload: new streams start on the new generation (on_begin_headers); an idle
 * connection whose listener went is told GOAWAY. */
static void
ops_rebind_idle(struct conn *base)
{
    struct h2_conn *c = h2_of(base);
    if (c->n_streams) return;
    if (!conn_rebind(base)) ops_drain(base);
}

static void
ops_pump(struct conn *base)
{
    pump(h2_of(base));
}

static void
ops_close(struct conn *base)
{
    conn_close(h2_of(base));
}

static const struct conn_ops h2_conn_ops = {
    .pump = ops_pump,
    .rebind_idle = ops_rebind_idle,
    .drain = ops_drain,
    .close = ops_close,
};

static nghttp2_session *
session_new(struct h2_conn *c, bool allow_connect)
{
    nghttp2_session_callbacks *cb;
    nghttp2_option *opt;
    if (nghttp2_session_callbacks_new(&cb)) return NULL;
    if (nghttp2_option_new(&opt)) {
        nghttp2_session_callbacks_del(cb);
        return NULL;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback2(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    /* Closed streams are kept only for RFC 7540's priority tree, which we do not schedule
     * by: 232 bytes each, up to 100 a connection, held while it idles. */
    nghttp2_option_set_no_closed_streams(opt, 1);
    nghttp2_option_set_max_continuations(opt, H2_MAX_CONTINUATIONS);
    nghttp2_option_set_max_outbound_ack(opt, H2_FLOOD_OUT_CONTROL);
    nghttp2_option_set_max_send_header_block_length(opt, 65536);
    nghttp2_session *ng = NULL;
    h2_mem_init(&c->mem);
    h2_mem_catch(&c->mem, true);
    if (nghttp2_session_server_new3(&ng, cb, c, opt, &c->mem.mem)) ng = NULL;
    h2_mem_catch(&c->mem, false);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (!ng) return NULL;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_MAX_HEADER_LIST},
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1}, /* last: sent with --http2-allow-connect */
    };
    size_t n_iv = ARRAY_SIZE(iv) - !allow_connect;
    if (nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, iv, n_iv) ||
        nghttp2_session_set_local_window_size(ng, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW)) {
        nghttp2_session_del(ng);
        return NULL;
    }
    return ng;
}

int
h2_conn_adopt(struct conn *from, struct buf *in)
{
    struct worker *wk = from->wk;
    struct h2_conn *c = calloc(1, sizeof(*c));
    if (!c) return -1;
    if (!(c->ng = session_new(c, wk->opt->allow_connect))) {
        free(c);
        return -1;
    }
    c->base = *from;
    c->base.ops = &h2_conn_ops;
    c->base.w.cb = on_io;
    c->base.next = c->base.prev = NULL;
    if (loop_move(&wk->loop, &from->w, &c->base.w, LOOP_IN | LOOP_OUT)) {
        nghttp2_session_del(c->ng);
        free(c);
        return -1;
    }
    /* <from> is gone from the worker's list; its codec frees the rest. */
    worker_conn_closed(wk, from);
    worker_conn_opened(wk, &c->base);
    from->tls = NULL;
    from->gen = NULL;
    from->closed = true;
    c->in = *in; /* its bytes, preface first */
    buf_init_empty(in, in->max_bytes);
    buf_init_empty(&c->out, 4 << 20);
    c->in_ready = true;
    c->active_ms = now_ms();
    c->timer.cb = on_timer;
    c->shed.cb = on_shed;
    if (wk->opt->idle_timeout_ms)
        wheel_arm(&wk->loop.wheel, &c->timer, now_ms() + wk->opt->idle_timeout_ms);
    if (!receive(c)) c->failed = true;
    pump(c);
    return 0;
}
