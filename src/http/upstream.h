/* SPDX-License-Identifier: Apache-2.0 */
/* Upstream connections and the ops a request drives them through. An exclusive connection
 * (HTTP/1.1, h1_upstream.c) carries one request at a time and is parked in its worker's
 * keep-alive pool between them; a multiplexed one (HTTP/2) will carry many behind the same
 * ops. The request that uses a connection owns it until it lets it go. [W] */
#ifndef MESHLET_HTTP_UPSTREAM_H
#define MESHLET_HTTP_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/loop.h"
#include "core/xprt.h"
#include "core/wheel.h"
#include "http/h1_parse.h"
#include "http/stream.h"

struct req;
struct shadow;
struct worker;
struct idle_pool;
struct pool_state;
struct tls_conn;
struct model_cluster;

struct upstream;

struct upstream_ops {
    /* The request head of <q> (its replay when it has one, with the try's attempt count). */
    int (*send_head)(struct upstream *u, struct req *q, const struct req_head *h,
                     const char *request_id);
    /* Body bytes as received, framed by the codec; then the end, with trailers <t>, <n>. */
    int (*send_data)(struct upstream *u, struct req *q, const char *p, size_t n);
    int (*send_end)(struct upstream *u, struct req *q, const struct h1_header *t, size_t n);
    /* Socket work (write what is queued, read what came); true on progress. */
    bool (*io)(struct upstream *u, struct req *q);
    /* Hand the response to <q> (req_response_head/data/end, req_try_failed); true on
     * progress. */
    bool (*deliver)(struct upstream *u, struct req *q);
    /* Bytes of <q> queued towards the server, for flow control. */
    size_t (*queued)(const struct upstream *u, const struct req *q);
    /* <q> takes <u> for a try / lets it go (reusable: its exchange ended cleanly). */
    void (*bind)(struct upstream *u, struct req *q);
    void (*release)(struct upstream *u, struct req *q, bool reusable);
    /* Socket events once connected (or failed), for a connection that serves several
     * requests; NULL: the one request using it is woken. */
    void (*event)(struct upstream *u);
};

struct upstream {
    struct loop_watch w;
    const struct upstream_ops *ops;
    struct worker *wk;                   /* borrowed */
    struct req *owner;                   /* the request using it, or NULL when idle */
    const struct model_cluster *cluster; /* borrowed from its user's snapshot; NULL parked */
    size_t endpoint;                     /* index in cluster->endpoints */
    struct idle_pool *pool;              /* this worker's pool of its endpoint */
    struct pool_state *pstate;           /* its pool's shared counts (outlive snapshots) */
    uint64_t tls_kind;                   /* how it was secured (upstream_fits) */
    struct buf in, out;
    bool connected;               /* the TCP connect (and the TLS handshake) completed */
    bool tcp_up;                  /* the TCP connect completed */
    const struct xprt_ops *xprt;  /* how its bytes move: sock_xprt or tls_xprt */
    struct tls_conn *tls;         /* TLS to this endpoint; NULL: plain text */
    bool in_ready;                /* may have bytes to read (edge seen, not drained) */
    bool eof;                     /* the server closed its side */
    bool hup;                     /* LOOP_RDHUP seen: read on to the end of stream */
    bool failed;                  /* connect failed or the connection broke */
    struct upstream *next, *prev; /* idle list links */
    struct shadow *shadow;        /* a mirrored request owns it (owner is NULL then) */
    void *user;                   /* a tunnel or TCP connection that uses it (ops->event) */
    uint32_t requests;            /* requests sent on it (maxRequestsPerConnection) */
    bool counted;                 /* in its pool's shared connection count (circuit breaker) */
    struct wheel_timer timer;     /* connectTimeout while connecting, idleTimeout while idle */
    bool flush_queued;            /* on the worker's list of writes done after the batch */
    bool closed;                  /* closed in this batch: its memory goes after it */
    bool idle_expired;            /* a shared connection's idleTimeout fired */
    struct upstream *flush_next;
    /* HTTP/1.1 framing of the exchange in progress (h1_upstream.c). */
    bool chunked_out;     /* the request body goes chunked */
    bool resp_started;    /* the response head was handed over */
    bool resp_keep_alive; /* the server lets the connection carry another request */
    enum h1_body resp_body;
    uint64_t resp_left;
    struct h1_chunked resp_chunks;
};

extern const struct upstream_ops h1_upstream_ops;
extern const struct upstream_ops h2_upstream_ops;

/* A connection to endpoint <ep> of <c>, or NULL: a failure counts as the endpoint's
 * connect failure for outlier detection, unless this proxy is out of file descriptors. */
struct upstream *upstream_open(struct worker *wk, const struct model_cluster *c, size_t ep);
/* The same for a codec whose connection embeds struct upstream first (<size> bytes, zeroed
 * past it) and speaks by <ops>. */
struct upstream *upstream_open_as(struct worker *wk, const struct model_cluster *c, size_t ep,
                                  size_t size, const struct upstream_ops *ops);
/* h2_upstream.c: wake the requests whose streams had news while another request moved
 * their connection's bytes (after the batch, never from inside a request's own step). */
void h2_upstream_wake_deferred(struct worker *wk);
void upstream_close(struct upstream *u);
/* Whether parked connection <u> may carry a request to endpoint <ep> of <c>: secured the
 * way <c> asks now (a reload may have changed its TLS). */
bool upstream_fits(const struct upstream *u, const struct model_cluster *c, size_t ep);
/* h2_upstream.c: a connection of pool <ep> of <c> with room for one more stream (opened
 * when none has), or NULL when it cannot connect. */
struct upstream *h2_upstream_take(struct worker *wk, const struct model_cluster *c, size_t ep);
/* A mirror copy for an HTTP/2 pool, borrowed for the call: its head in HTTP/1.1 form (the
 * shadow host in it), its body and trailers when it has a body. */
struct h2_upstream_copy {
    const char *head;
    size_t head_len;
    bool has_body;
    const char *body;
    size_t body_len;
    const struct h1_header *trailers;
    size_t n_trailers;
    uint64_t timeout_ms; /* cancelled then if its response has not ended */
};
/* h2_upstream.c: send copy <m> on an ownerless stream of pool <ep> of <cl> (copied: <m> may
 * go when this returns); its response is read and dropped, and its stream freed when it
 * closes. 0, or -1 when it could not go (a lost copy is no client error). */
int h2_upstream_mirror(struct worker *wk, const struct model_cluster *cl, size_t ep,
                       const struct h2_upstream_copy *m);
/* h2_upstream.c: close every HTTP/2 upstream connection of the worker (at exit). */
void h2_upstream_close_all(struct worker *wk);

/* Arm the pool's idleTimeout on a connection going idle, or disarm it on reuse. */
void upstream_idle_timer(struct upstream *u, bool idle);
/* The user of <u> is done with it: parked in its worker's keep-alive pool when <reusable>
 * and it is clean (open both ways, nothing unread or unsent, under
 * maxRequestsPerConnection), else closed. */
void upstream_release(struct upstream *u, bool reusable);

#endif
