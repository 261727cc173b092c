/* SPDX-License-Identifier: Apache-2.0 */
/* The protocol-neutral request: everything from "a request head is parsed" to "the response
 * is done". Routing (virtual host, route, weighted destination), local answers (no route,
 * redirect, direct response, CORS, injected faults), the tries (endpoint pick, pool
 * admission, attempts, retries and back-off: retry.c), route and per-try timeouts, mirrors,
 * and the report (metrics, access log). It meets its client only through its codec's
 * stream_ops (stream.h) and its upstream only through upstream_ops (upstream.h), so
 * HTTP/1.1 and HTTP/2 share every line of it. [W] */
#ifndef MESHLET_HTTP_REQ_H
#define MESHLET_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/wheel.h"
#include "http/grpc_frames.h"
#include "http/stream.h"
#include "http/worker.h"

struct conn;
struct upstream;
struct model_route;
struct model_destination;
struct model_cluster;

#define REQ_RETRY_BODY_LIMIT (1u << 20) /* as Envoy's default buffer limit: 1 MiB */

/* What ends a try without a response (retry.c decides whether another follows). */
enum req_try_end {
    REQ_TRY_CONNECT_FAILED,
    REQ_TRY_RESET, /* the connection went */
    REQ_TRY_PROTOCOL,
    REQ_TRY_REFUSED,      /* HTTP/2: refused unprocessed (REFUSED_STREAM, past a GOAWAY) */
    REQ_TRY_REMOTE_RESET, /* HTTP/2: the server reset the stream */
};

struct req {
    struct conn *conn;             /* borrowed: the client connection it came on */
    struct worker_gen *gen;        /* held: the generation it runs on, start to end */
    const struct stream_ops *down; /* its codec */
    /* Routing. */
    const struct model_route *route;      /* borrowed from the connection's generation */
    const struct model_destination *dest; /* the destination chosen, or NULL */
    int block;                            /* the match block that matched (-1: none needed) */
    bool sticky;          /* the route's sticky split applies: the request has a user key */
    uint64_t sticky_hash; /* split_sticky_hash() of that key */
    /* The request. */
    enum req_body body;
    uint64_t body_len;  /* REQ_BODY_LENGTH */
    bool head_request;  /* HEAD: a response body's length only */
    bool body_done;     /* the whole body has come from the client */
    bool sent;          /* the whole request is with the upstream codec */
    bool resp_head;     /* a response head went to the client */
    bool fault_delayed; /* held by an injected delay */
    bool must_close;    /* the client connection cannot carry another request after it */
    bool grpc;          /* content-type application/grpc*: local replies are gRPC's */
    bool client_h2;     /* it came over HTTP/2 (useClientProtocol pools follow it) */
    bool upgrade;       /* an upgrade request (WebSocket): HTTP/1.1 upstream, bytes after 101 */
    bool upgraded;      /* the upstream answered 101: the codec relays bytes both ways */
    int grpc_status;    /* the grpc-status its response carried (headers or trailers); -1 */
    struct grpc_frames req_msgs, resp_msgs; /* gRPC: messages each way, as they move */
    /* The current try. */
    struct upstream *up;
    uint32_t attempt;         /* tries so far, from 1 */
    uint64_t tried;           /* endpoints tried (bit per index < 64) */
    bool hash_known, hashed;  /* the consistent-hash key was computed / exists */
    uint64_t hash;            /* that key, for every try */
    size_t wait_ep;           /* the endpoint it waits for; SIZE_MAX: pick one */
    struct wait_node wait;    /* waiting for a connection (pool at maxConnections) */
    struct wheel_timer timer; /* the route timeout, or the end of an injected delay */
    struct wheel_timer retry_wait, try_timer;
    /* Circuit breakers: the pool whose shared counts this request holds a place in. */
    const struct model_cluster *counted;
    bool counts_request, counts_pending, counts_retry;
    /* What a retry (or a waiter, or a mirror) sends again: the upstream head in HTTP/1.1
     * form, the body as received (up to REQ_RETRY_BODY_LIMIT; past it no retry). */
    char *replay;
    size_t replay_len;
    bool replay_owned;      /* malloc'd (too big for the request's block) */
    struct buf body_replay; /* storage allocated on first use */
    bool body_kept;         /* body_replay holds every body byte sent so far */
    uint32_t mirrors_due;   /* mirrors (bit per index) to copy a body request to once read */
    char *shadow_head;      /* their head, written while the request's head was valid */
    size_t shadow_head_len;
    struct h1_header *trailers; /* the request's trailers, kept for a later try */
    size_t n_trailers;
    /* Istio's metadata exchange (mx.h): the peer its headers named (NULL: none), the
     * client's from the request on an inbound listener, else the upstream's from the
     * response; and which of them an inbound request carried (MX_HAS_*): its response
     * answers each with ours. */
    const struct peer_metadata *peer;
    unsigned mx_asked;
    /* What the response carries besides the upstream's head. */
    struct slice cors_origin; /* an allowed CORS Origin to echo; empty: none */
    struct slice set_cookie;  /* a generated hash cookie to set; empty: none */
    /* What the metrics and the access log report when it ends. */
    bool started;        /* a request arrived (one that saw none reports nothing) */
    int status;          /* sent to the client; 0: nothing yet */
    uint32_t flags;      /* enum response_flag */
    uint64_t start_us;   /* precise clock at the request head */
    uint64_t start_ms;   /* coarse clock at the request head */
    uint64_t head_ms;    /* the first byte of its head arrived (request_headers_timeout) */
    uint64_t req_bytes;  /* request head and body bytes read from the client */
    size_t last_ep;      /* endpoint of the last try; SIZE_MAX: none */
    int64_t upstream_ms; /* x-envoy-upstream-service-time sent; -1: none */
    char rid[37];        /* the x-request-id meshlet generated ("": none) */
    char *log_req;       /* access log: the request half; NULL: none */
    size_t log_len;
    void *up_stream; /* the upstream codec's state of this request (HTTP/2: its stream) */
    /* Storage for the above that lives as long as the request, in 1 KiB blocks taken at the
     * first need (the retry copy of the head, access log, CORS): a request in flight holds
     * what it keeps, not a 16 KiB worker block. */
    struct arena mem;
};

/* A fresh request on <conn>, spoken by <down>, whose head began arriving now. */
void req_init(struct req *q, struct conn *conn, const struct stream_ops *down);

/* Give back everything <q> holds (timers, upstream, pool places, storage) and report it
 * if it started; <resp_bytes> is what its codec sent the client for it. */
void req_release(struct req *q, uint64_t resp_bytes);

/* The request now reports when it ends: its start and <head_bytes>, and the access log's
 * request half from <h> (NULL: no head parsed). */
void req_begin(struct req *q, const struct req_head *h, size_t head_bytes);

/* Route the request whose head is <h> (valid only during this call) and start it, or
 * answer it ourselves (no route, redirect, direct response, CORS, fault). The codec
 * learns the outcome through its ops. */
void req_start(struct req *q, const struct req_head *h);

/* Body bytes of the request (already unframed) for its upstream, then its end with its
 * trailers (<t>, <n>: kept with the request for a retry). 0, or -1 when the upstream codec
 * cannot take them now (req_body_room). */
int req_body_data(struct req *q, const char *p, size_t n);
int req_body_end(struct req *q, const struct h1_header *t, size_t n);
/* Whether body bytes can go on now, and how many at most. */
size_t req_body_room(const struct req *q);

/* Move what can move between the upstream and the client; true on progress. */
bool req_pump(struct req *q);

/* End the request with a local reply <status> and <body> when no response byte went out
 * yet, else by cutting the stream (its response is truncated). */
void req_abort(struct req *q, int status, const char *body);

/* A local reply (status, extra fields, text body): the request ends. */
void req_reply(struct req *q, int status, const struct h1_header *fields, size_t n_fields,
               const char *body);

/* A local reply <r>, written by the codec: the request ends. */
void req_local(struct req *q, struct local_reply *r);

/* Bytes that live as long as the request (NULL when they do not fit its block). */
void *req_alloc(struct req *q, size_t n);

/* Start the tries of requests whose pool freed a connection (after a batch). */
void req_resume_waiters(struct worker *wk);

/* --- Used by retry.c and the upstream codecs. --- */

/* Start a try: the endpoint, a pooled or new connection, the head. false when the request
 * ended with a local reply. */
bool req_try_start(struct req *q, const struct model_cluster *cl);
/* The route timeout, once the whole request is sent (or waits for a connection). */
void req_arm_route_timeout(struct req *q);
/* Let the current upstream go, reusable (keep-alive) or not. */
void req_release_upstream(struct req *q, bool reusable);
/* The upstream response head arrived: true when it goes to the client, false when the
 * request was retried or ended instead. */
bool req_response_head(struct req *q, const struct resp_head *h);
int req_response_data(struct req *q, const char *p, size_t n);
/* The upstream answered the upgrade request 101 and req_response_head sent it on: the
 * route timeout and the per-try timeout stop (Envoy disables both for an upgraded stream;
 * the relay's idle timeout applies from now). true: the upstream went to the codec's relay
 * (stream_ops.upgraded; HTTP/1.1) and the request ends when the relay does; false: the
 * codec has none (HTTP/2, RFC 8441), so the upstream codec goes on moving the bytes as
 * the request's body and its response's, until either side ends. */
bool req_upgraded(struct req *q);
/* The upstream response ended, with trailers <t>, <n>; <reusable>: its connection may
 * carry another request. */
void req_response_end(struct req *q, bool reusable, const struct h1_header *t, size_t n);
/* The try ended without a response head (retried when the policy allows). */
void req_try_failed(struct req *q, enum req_try_end how);
/* Keep <len> bytes of upstream head for the later tries (an upstream codec's first try). */
void req_keep_replay(struct req *q, const char *head, size_t len);
/* How many response bytes the client side takes now. */
size_t req_resp_room(const struct req *q);
/* req_log.c: the request half of the access log line of <q> (its fields, the start time
 * and the client's address), from head <h> while it is valid. */
void req_log_begin(struct req *q, const struct req_head *h);

/* Wake the connection's codec after an event of the request's own (a timer). */
void req_wake(struct req *q);

#endif
