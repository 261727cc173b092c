/* SPDX-License-Identifier: Apache-2.0 */
/* Private to the HTTP/1.1 proxy (h1_conn.c, h1_io.c, upstream.c, headers.c, reply.c): the
 * downstream connection, the upstream connection and the helpers between them. [W] */
#ifndef MESHLET_HTTP_H1_INT_H
#define MESHLET_HTTP_H1_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/loop.h"
#include "core/wheel.h"
#include "http/access_log.h"
#include "http/h1_parse.h"
#include "http/metrics.h"
#include "http/worker.h"

struct shadow;

/* An upstream connection: owned by a downstream connection during an exchange, parked in
 * the worker's idle list between exchanges. */
struct tls_conn;

struct upstream {
    struct loop_watch w;
    struct worker *wk;                   /* borrowed */
    struct h1_conn *owner;               /* the exchange using it, or NULL when idle */
    const struct model_cluster *cluster; /* borrowed from its user's snapshot; NULL parked */
    size_t endpoint;                     /* index in cluster->endpoints */
    struct idle_pool *pool;              /* this worker's pool of its endpoint */
    struct pool_state *pstate;           /* its pool's shared counts (outlive snapshots) */
    uint64_t tls_kind;                   /* how it was secured (upstream_fits) */
    struct buf in, out;
    bool connected;               /* the TCP connect (and the TLS handshake) completed */
    bool tcp_up;                  /* the TCP connect completed */
    struct tls_conn *tls;         /* ISTIO_MUTUAL to this endpoint; NULL: plain text */
    bool in_ready;                /* may have bytes to read (edge seen, not drained) */
    bool eof;                     /* the server closed its side */
    bool hup;                     /* LOOP_RDHUP seen: read on to the end of stream */
    bool reused;                  /* came from the idle pool */
    bool failed;                  /* connect failed or the connection broke */
    struct upstream *next, *prev; /* idle list links */
    struct shadow *shadow;        /* a mirrored request owns it (owner is NULL then) */
    uint32_t requests;            /* requests sent on it (maxRequestsPerConnection) */
    bool counted;                 /* in its pool's shared connection count (circuit breaker) */
    struct wheel_timer timer;     /* connectTimeout while connecting, idleTimeout while idle */
    bool flush_queued;            /* on the worker's list of writes done after the batch */
    bool closed;                  /* closed in this batch: its memory goes after it */
    struct upstream *flush_next;
};

#define H1_RETRY_BODY_LIMIT (1u << 20) /* as Envoy's default buffer limit: 1 MiB */

/* One request/response exchange: parse scratch, framing state, the upstream. Taken from
 * the worker's pool when a request starts arriving, given back when it ends, so an idle
 * keep-alive connection holds none of it. */
struct h1_exchange {
    struct h1_request req;
    bool keep_alive; /* keep the client connection after this exchange */
    enum h1_body req_body;
    uint64_t req_left;
    struct h1_chunked req_chunks;
    bool req_sent; /* the whole request is in the upstream buffer */
    struct upstream *up;
    bool resp_head; /* response head forwarded */
    bool probed;    /* the client's FIN was answered with 100 Continue (probe_client) */
    struct h1_response resp;
    enum h1_body resp_body;
    uint64_t resp_left;
    struct h1_chunked resp_chunks;
    bool resp_chunked_out; /* we chunk-encode towards the client */
    bool head_request;
    uint64_t start_ms;
    const struct model_route *route;      /* borrowed from the worker's snapshot */
    const struct model_destination *dest; /* the destination chosen, or NULL */
    int block;                            /* the match block that matched (-1: none needed) */
    struct h1_conn *conn;                 /* borrowed: the connection it belongs to */
    struct wheel_timer timeout;           /* the route timeout (VirtualService `timeout`) */
    char *replay;            /* the upstream head without its blank line, kept to retry */
    char replay_small[1024]; /* its storage when it fits */
    size_t replay_len;
    uint32_t attempt;              /* tries so far, from 1 */
    uint64_t tried;                /* endpoints tried (bit per index < 64) */
    bool hash_known, hashed;       /* the consistent-hash key was computed / exists */
    uint64_t hash;                 /* that key, for every try */
    struct wheel_timer retry_wait; /* back-off before the next try */
    struct wheel_timer try_timer;  /* perTryTimeout of the current try */
    bool fault_delayed;            /* held by an injected delay: the head waits in conn->in */
    size_t held_head;              /* its length, dropped from conn->in once the delay ends */
    size_t cors_origin_len;        /* an allowed CORS Origin to echo; 0: none */
    char cors_origin[256];
    size_t set_cookie_len; /* a generated hash cookie to set; 0: none */
    char set_cookie[256];
    struct h1_exchange *next_free; /* worker pool link */
    /* Circuit breakers: the pool whose shared counts this exchange holds a place in. */
    const struct model_cluster *counted;
    bool counts_request, counts_pending, counts_retry;
    struct wait_node wait; /* waiting for a connection (pool at maxConnections) */
    /* A route that retries keeps the body bytes sent upstream (framed) to send them again,
     * up to H1_RETRY_BODY_LIMIT; past it the request is no longer retried. */
    struct buf body_replay; /* storage allocated on first use */
    bool body_kept;         /* body_replay holds every body byte sent so far */
    bool body_done;         /* the whole body has been read from the client */
    uint32_t mirrors_due;   /* mirrors (bit per index) to copy a body request to once read */
    char *shadow_head;      /* their request head, kept while the request's slices were valid */
    size_t shadow_head_len;
    size_t wait_ep; /* the endpoint it waits for; SIZE_MAX: pick one */
    /* What the metrics and the access log report when it ends. */
    bool started;        /* a request arrived (an exchange that saw none reports nothing) */
    int status;          /* sent to the client; 0: nothing yet */
    uint32_t flags;      /* enum response_flag */
    uint64_t start_us;   /* precise clock at the request head */
    uint64_t req_bytes;  /* request head and body bytes read from the client */
    uint64_t out_mark;   /* the connection's output count when it started */
    size_t last_ep;      /* endpoint of the last try; SIZE_MAX: none */
    int64_t upstream_ms; /* x-envoy-upstream-service-time sent; -1: none */
    uint64_t head_ms;    /* the first byte of its head arrived (request_headers_timeout) */
    char rid[37];        /* the x-request-id meshlet generated ("": none) */
    size_t log_len;      /* access log: the request half kept in log_req; 0: none */
    char log_req[2048];
};

/* A downstream (client) connection: small while idle (buffers and exchange released). */
struct h1_conn {
    struct loop_watch w;
    struct worker *wk;               /* borrowed */
    struct worker_gen *gen;          /* held: the generation its requests run on */
    const struct model_listener *ml; /* borrowed from gen: the listener it arrived on */
    struct tls_conn *tls;            /* mTLS on an inbound listener; NULL: plain text */
    enum {
        H1_XP_PLAIN,     /* plain text */
        H1_XP_SNIFF,     /* PERMISSIVE: the first byte tells TLS from plain text */
        H1_XP_HANDSHAKE, /* TLS handshake in progress */
        H1_XP_TLS,       /* mutual TLS established */
    } xport;
    struct buf in, out;     /* storage released while empty */
    struct h1_exchange *ex; /* the current exchange, or NULL */
    uint8_t peer[16];       /* client address (IPv4 in the first 4 bytes) */
    uint8_t peer_family;
    uint16_t peer_port;
    bool in_ready, in_eof;
    bool in_hup;       /* LOOP_RDHUP seen: read on to the end of stream */
    bool close_after;  /* close once out is flushed */
    uint64_t written;  /* bytes written to the client so far */
    bool used;         /* a request has started on it (draining keeps it until then) */
    bool retired;      /* its listener is gone: this exchange is its last */
    bool flush_queued; /* on the worker's list of writes done after the batch */
    bool closed;       /* closed in this batch: its memory goes after it */
    struct h1_conn *flush_next;
    enum {
        H1_IDLE,         /* waiting for a request head */
        H1_REQUEST_BODY, /* forwarding the request body */
        H1_WAIT,         /* request sent; waiting for the response to end */
    } state;
    struct h1_conn *next, *prev; /* the worker's list of open connections */
    struct wheel_timer timer;    /* its client-side timeouts (h1_timeout.c) */
    uint64_t active_ms;          /* the last byte read from or written to the client */
};

/* h1_conn.c: a buffer's storage from the worker's blocks; given back once it is empty. */
void h1_buf_ensure(struct worker *wk, struct buf *b);
void h1_buf_shed(struct worker *wk, struct buf *b);
/* A closing connection's buffer: its bytes dropped, its storage given back the same way. */
void h1_buf_drop(struct worker *wk, struct buf *b);

/* shadow.c: mirroring. A copy of the current request of <c> to a pool of <cl> (with its
 * body, once read, from c->ex->body_replay), response dropped; the client never waits. Every shadow
 * is closed by shadow_close_all() when the worker ends. */
void shadow_start(struct h1_conn *c, const struct model_cluster *cl);
void shadow_io(struct shadow *s);
void shadow_close_all(struct worker *wk);

/* upstream.c */
struct upstream *upstream_open(struct worker *wk, const struct model_cluster *c, size_t ep);
void upstream_close(struct upstream *u);
/* Whether parked connection <u> may carry a request to endpoint <ep> of <c>: secured the
 * way <c> asks now (a reload may have changed its TLS). */
bool upstream_fits(const struct upstream *u, const struct model_cluster *c, size_t ep);
/* h1_io.c: one edge-triggered read into <b> from <fd>, through <tls> when not NULL: 1 on
 * progress (bytes or EOF), 0 when nothing came (or the buffer is full), -1 on a socket
 * error. A short plain read means the socket is drained, unless <hup> (LOOP_RDHUP seen:
 * the end of stream is still to be read); a TLS read, only -EAGAIN does. */
int h1_read_some(struct buf *b, int fd, struct tls_conn *tls, bool hup, bool *ready, bool *eof);

/* Write what <b> holds to <fd>, through <tls> when not NULL: as buf_write_fd. */
ssize_t h1_write_some(struct buf *b, int fd, struct tls_conn *tls);

/* Arm the pool's idleTimeout on a connection going idle, or disarm it on reuse. */
void upstream_idle_timer(struct upstream *u, bool idle);

/* h1_conn.c: start the tries of exchanges whose pool freed a connection (after a batch). */
void h1_resume_waiters(struct worker *wk);

/* h1_conn.c: write the upstream requests and client responses queued during the batch,
 * all at once. */
void h1_flush(struct worker *wk);

/* The client address as text. */
void h1_conn_peer_ip(const struct h1_conn *c, char *buf, size_t len);

/* hash_policy.c: the request's key for consistent-hash pool <cl>; false when the request
 * lacks the input. A generated cookie is left in c->ex->set_cookie for the response. */
bool hash_policy_key(struct h1_conn *c, const struct model_cluster *cl, uint64_t *out);

/* headers.c: whether the clients of <c>'s listener are external (a Gateway listener, Envoy's
 * use_remote_address edge): their x-envoy-* headers are dropped and their x-request-id
 * replaced. Mesh hops (the outbound listener from the local app, inbound sidecars) keep
 * them. */
bool headers_untrusted(const struct h1_conn *c);

/* headers.c: the value of the first header <name> (any case) of <h>; false when absent. */
bool headers_find(const struct h1_head *h, const char *name, struct slice *out);

/* headers.c: write the head to send upstream / downstream into <out>. */
int headers_request(struct buf *out, const struct h1_conn *c, const char *request_id, bool shadow);
int headers_response(struct buf *out, const struct h1_conn *c, uint64_t upstream_ms);
/* The answer to a CORS preflight whose origin the rule allows (Envoy's CORS filter). */
int headers_cors_preflight(struct buf *out, const struct model_cors *cors, struct slice origin,
                           bool close);
/* A route's direct response: <status>, <body> (its length only when answering HEAD) and the
 * route's response header <ops>. */
int headers_direct(struct buf *out, int status, struct slice body,
                   const struct model_header_ops *ops, bool head, bool close);

/* reply.c: a complete local response (head and body) into <out>; <location> adds a
 * location header (redirects) when not NULL. */
int reply_local(struct buf *out, int status, const char *body, bool close);
/* The same with extra header lines <headers> ("name: value\r\n" each; "" for none). */
int reply_local_headers(struct buf *out, int status, const char *headers, const char *body,
                        bool close);
int reply_redirect(struct buf *out, int status, const char *location, bool close);
/* A gRPC error answered by the proxy: HTTP 200 with grpc-status <code>. */
int reply_grpc(struct buf *out, int code, const char *message, bool close);
const char *reply_reason(int status);

/* worker.c: free <p> after the current batch of events (two-phase close); take an idle
 * upstream out of its pool. */
void worker_defer_free(struct worker *wk, void *p);
void worker_unlink_idle(struct worker *wk, struct upstream *u);
/* The listener of <snap> that takes over from <ml> of an earlier snapshot, or NULL. */
const struct model_listener *worker_listener_match(const struct snapshot *snap,
                                                   const struct model_listener *ml);

/* h1_log.c: the request half of the exchange's access log line (its fields, the start time
 * and the client's address), captured while the head's slices are valid. */
void h1_log_begin(struct h1_conn *c);

/* h1_timeout.c: the client-side timeouts of a connection (Envoy's idle_timeout,
 * request_headers_timeout, stream_idle_timeout). */
enum h1_timeout { H1_TIMEOUT_NONE, H1_TIMEOUT_IDLE, H1_TIMEOUT_HEADERS, H1_TIMEOUT_STREAM };
/* Where a connection stands, as its timeouts see it. */
struct h1_timing {
    bool stream;        /* a request or its response is in progress */
    bool head;          /* ... and its head has not arrived whole */
    uint64_t active_ms; /* the last byte read from or written to the client (or the accept) */
    uint64_t head_ms;   /* the first byte of that head */
};
/* The timeout of <o> due at <now_ms> for <k>; or H1_TIMEOUT_NONE, and the time to look
 * again in *<next_ms> (0: never, every timeout is off). */
enum h1_timeout h1_timeout_check(const struct proxy_options *o, const struct h1_timing *k,
                                 uint64_t now_ms, uint64_t *next_ms);
/* Start the timeouts of <c>, just accepted. */
void h1_timeout_start(struct h1_conn *c);
/* h1_conn.c: end the exchange of <c> (begun or not) with local reply <status> and <body>
 * when no response byte went out, else by cutting the connection. */
void h1_conn_abort(struct h1_conn *c, int status, const char *body);

/* h1_conn.c */
void h1_conn_accept(struct worker *wk, const struct model_listener *ml, int fd,
                    const struct sockaddr_storage *peer);
void h1_conn_pump(struct h1_conn *c);
void h1_conn_close(struct h1_conn *c);
/* After a reload: a connection between requests moves to the worker's generation now. */
void h1_conn_rebind_idle(struct h1_conn *c);
/* Draining: close the connection if it is between requests, else once its exchange ends
 * (its response says `connection: close` when not yet sent). */
void h1_conn_drain(struct h1_conn *c);

#endif
