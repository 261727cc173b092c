/* SPDX-License-Identifier: Apache-2.0 */
/* A worker thread of the data plane: its own epoll loop, its own SO_REUSEPORT listening
 * sockets, its own split state, round-robin cursors and upstream keep-alive pools. Nothing
 * here is shared with another worker, so the request path takes no lock. [W] */
#ifndef MESHLET_HTTP_WORKER_H
#define MESHLET_HTTP_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/loop.h"
#include "http/access_log.h"
#include "http/h1_parse.h"
#include "http/metrics.h"
#include "http/mx.h"
#include "lb/split.h"
#include "model/model.h"

struct worker;
struct metrics_shard;
struct upstream;
struct tls_identity;
struct tls_gateway;
struct tls_upstream;

/* A FIFO of requests waiting for an upstream connection (connectionPool limits); the node
 * is embedded in what waits. */
struct wait_list;
struct wait_node {
    struct wait_node *prev, *next;
    struct wait_list *list; /* NULL: not waiting */
};
struct wait_list {
    struct wait_node *head, *tail;
};
void wait_push(struct wait_list *l, struct wait_node *n);
void wait_unlink(struct wait_node *n);

/* This worker's connections to one endpoint: the idle keep-alive ones, how many are open
 * (busy or idle), and the requests waiting for one when the pool is at maxConnections. */
struct idle_pool {
    struct upstream *head;
    size_t n;
    uint32_t open;
    struct wait_list waiters;
    struct upstream *h2;     /* the HTTP/2 connection new streams go to, or NULL */
    struct upstream *h2_old; /* HTTP/2 connections that take no new stream, till they close */
};
struct conn;
struct h1_conn;
struct shadow;
struct h1_exchange;

struct proxy_options {
    struct sockaddr_storage gateway_addr; /* address Gateway listeners bind (port replaced) */
    socklen_t gateway_addr_len;
    struct sockaddr_storage mesh_addr; /* the mesh listener */
    socklen_t mesh_addr_len;
    struct h1_limits limits;
    const char *workload, *ns;     /* this proxy's workload name and namespace (metric labels) */
    struct metrics_local local;    /* this proxy as its metrics' labels name it */
    struct access_log *access_log; /* --access-log; NULL: none */
    /* --identity, for ISTIO_MUTUAL (NULL: none). Set once; its credential rotates inside
     * (tls/certs.h): new connections take the new one, open ones keep theirs. */
    struct tls_identity *_Atomic identity;
    /* Client-side limits (Envoy's connection manager and overload manager); 0: none. */
    uint64_t request_headers_timeout_ms; /* a request head must arrive whole within it */
    uint64_t stream_idle_timeout_ms;     /* a request moving no byte either way this long */
    uint64_t idle_timeout_ms;            /* a connection with no request in progress */
    /* --http2-allow-connect, Envoy's http2_protocol_options.allow_connect (off in Istio):
     * HTTP/2 clients may open WebSockets with extended CONNECT (RFC 8441). */
    bool allow_connect;
    size_t max_connections;        /* client connections of every worker at once */
    _Atomic size_t *downstream_cx; /* borrowed: those open now (NULL: not counted) */
};

struct worker_listener {
    struct loop_watch w;             /* listening socket */
    struct worker *wk;               /* borrowed: owner */
    const struct model_listener *ml; /* borrowed from the worker's current snapshot */
};

/* What a worker serves from one snapshot (a generation): the snapshot, its split counters
 * and round-robin cursors. A client connection is bound to one between requests, so each
 * request runs wholly on one snapshot; after a reload, a connection moves to the new
 * generation when its next request starts, and the old one is freed when its last
 * connection or mirror has moved on or closed. The new generation starts from the old one's
 * cursors (pools and endpoints that stay) and, when the config is the same (a DNS answer
 * changed, or an unchanged file was reloaded), its split counters: a reload restarts no
 * sequence. */
struct worker_gen {
    struct snapshot *snap; /* acquired */
    struct split_state split;
    int64_t **rr; /* owned: per cluster, a counter per endpoint (lb_rr) */
    size_t users; /* connections and mirrors bound to it, +1 while it is current */
};

/* Client connections ended or refused by a limit, counted by their worker (/stats). */
struct worker_cx_counts {
    uint64_t overflow;        /* refused past --max-connections (Envoy's downstream_cx_overflow) */
    uint64_t fd_exhausted;    /* refused for want of a file descriptor */
    uint64_t idle_timeout;    /* Envoy's downstream_cx_idle_timeout */
    uint64_t header_timeout;  /* downstream_rq_header_timeout */
    uint64_t stream_timeout;  /* downstream_rq_idle_timeout */
    uint64_t upgrades;        /* answered 101 (downstream_cx_upgrades_total) */
    uint64_t upgrades_ended;  /* of which over (active: the difference) */
    uint64_t upgrade_refused; /* another type than websocket (downstream_rq_ws_on_non_ws_route) */
};

/* What the HTTP/2 codec refused (Envoy's http2.* and premature-reset counters, /stats). */
struct worker_h2_counts {
    uint64_t rx_reset;         /* RST_STREAM frames received */
    uint64_t premature_resets; /* connections closed for rapid reset (CVE-2023-44487) */
    uint64_t header_overflow;  /* streams reset for a header list over 60 KiB */
    uint64_t continuations;    /* too many CONTINUATION frames in one header block */
    uint64_t empty_frames;     /* consecutive frames with an empty payload */
    uint64_t priority_frames;  /* PRIORITY flood */
    uint64_t window_updates;   /* WINDOW_UPDATE flood */
    uint64_t outbound_control; /* PING/SETTINGS/RST_STREAM answers the client does not read */
    uint64_t outbound_frames;  /* any frames the client does not read */
    uint64_t protocol_errors;  /* other connection errors the client caused (GOAWAY sent) */
    uint64_t frames_shed;      /* idle connections' frame buffers given back (h2_mem.h) */
};

struct worker {
    int id;
    struct loop loop;
    struct worker_gen *gen; /* the current generation */
    /* The next snapshot (acquired for this worker), published by the main thread and
     * announced on <mail>: the worker switches to it after the current batch. */
    struct snapshot *_Atomic next_snap;
    struct loop_watch mail; /* eventfd */
    _Atomic bool drain;     /* stop accepting; close connections as their exchanges end */
    bool draining;          /* the worker has acted on <drain> */
    _Atomic size_t n_conns; /* open client connections (the main thread waits on drain) */
    /* Upstream pools by endpoint state id (model/endpoint.h): they outlive snapshots, so a
     * reload keeps the connections of endpoints that remain. */
    struct idle_pool **pools;
    size_t n_pools;
    /* Requests (and relayed connections) in flight per endpoint state id, whatever
     * generation they run on: least-request picks on a new snapshot see those of the old. */
    uint32_t *active;
    size_t n_active;
    struct worker_listener **listeners; /* owned */
    size_t n_listeners;
    const struct proxy_options *opt; /* borrowed */
    pthread_t thread;
    struct metrics_shard *metrics; /* owned: written by this worker only */
    struct mx mx;                  /* Istio's metadata exchange: ours, and peers read */
    struct access_log_buf alog;    /* lines waiting for the access log's writer */
    struct wheel_timer alog_timer; /* hands them over at least once a second */
    uint64_t requests;             /* served by this worker (for tests and stats) */
    uint64_t tls_handshakes;       /* upstream mTLS handshakes completed, */
    uint64_t tls_resumed;          /* of which resumed a session */
    struct conn *conns;            /* open client connections (closed at exit) */
    struct shadow *shadows;        /* mirrored requests in flight (closed at exit) */
    struct wait_list ready;        /* waiters whose pool freed a connection: resumed next */
    /* Upstream requests and client responses are written after the batch of events that
     * made them, together: a peer woken by the first finds the others waiting instead of
     * being woken again for each (waking a sleeping peer is the costliest part of a send). */
    bool defer_writes;
    struct upstream *flush_head;
    struct conn **flush_conns;  /* owned array: client connections with output to write */
    struct upstream **wake_ups; /* owned array: HTTP/2 upstreams whose streams have news */
    size_t n_wake_ups, cap_wake_ups;
    size_t n_flush_conns, cap_flush_conns;
    struct h1_exchange *free_ex; /* owned: pool of HTTP/1.1 exchanges */
    size_t n_free_ex;
    void **blocks; /* owned: pool of WORKER_BLOCK_BYTES buffer blocks */
    size_t n_blocks, cap_blocks;
    void **dead; /* owned: objects to free after this batch */
    size_t n_dead, cap_dead;
    /* Client connections: those limits ended or refused, and accepting out of fds. */
    struct worker_cx_counts cx;      /* written by this worker only */
    struct worker_h2_counts h2;      /* written by this worker only */
    struct worker_h2_counts h2_up;   /* the same for its HTTP/2 upstream connections */
    int reserve_fd;                  /* given up to refuse a connection when out of fds */
    struct wheel_timer accept_retry; /* accepting paused (out of fds or memory) until then */
    /* Memory given back to malloc past the pools since the last trim (worker_freed). */
    size_t freed_bytes;
    uint64_t last_freed_ms; /* when the latest of them was freed */
    struct wheel_timer trim_timer;
    /* Parse scratch: a head is parsed here and used at once (the request's routing, the
     * response's forwarding), so no request holds its header array. */
    struct h1_request req_scratch;
    struct h1_response resp_scratch;
};

/* Set up <wk> for <snap> (acquired here): listening sockets bound now, so errors surface
 * before any thread starts. 0 or -errno, with what failed in <err>. [M] */
int worker_init(struct worker *wk, int id, struct snapshot *snap, const struct proxy_options *opt,
                char *err, size_t err_len);

/* Start the thread / ask it to stop / wait for it (when <started>) and free everything
 * worker_init set up, even partly. [M] */
int worker_start(struct worker *wk);
void worker_stop(struct worker *wk);
void worker_join(struct worker *wk, bool started);

/* The identity new TLS connections use now. [W] */
static inline const struct tls_identity *
worker_identity(const struct worker *wk)
{
    return atomic_load_explicit(&wk->opt->identity, memory_order_acquire);
}

/* Buffer blocks from the worker's pool: no malloc per request once warm. [W] */
#define WORKER_BLOCK_BYTES 16384
void *worker_block_get(struct worker *wk);
void worker_block_put(struct worker *wk, void *block);

/* A connection buffer's storage from the worker's blocks; given back once it is empty
 * (shed), or with its bytes dropped (a closing connection). An idle keep-alive connection
 * so holds no buffer memory. [W] */
struct buf;
void worker_buf_ensure(struct worker *wk, struct buf *b);
void worker_buf_shed(struct worker *wk, struct buf *b);
void worker_buf_drop(struct worker *wk, struct buf *b);

/* A client connection opened / closed: on the worker's list, in its counts. [W] */
void worker_conn_opened(struct worker *wk, struct conn *c);
void worker_conn_closed(struct worker *wk, struct conn *c);

/* Free <p> after the current batch of events (two-phase close). [W] */
void worker_defer_free(struct worker *wk, void *p);

/* Take an idle upstream out of its pool. [W] */
void worker_unlink_idle(struct worker *wk, struct upstream *u);

/* The listener of <snap> that takes over from <ml> of an earlier snapshot, or NULL. [W] */
const struct model_listener *worker_listener_match(const struct snapshot *snap,
                                                   const struct model_listener *ml);

/* The per-cluster array of generation <g> that picks use (round-robin cursors), made at
 * the cluster's first use: false when out of memory. [W] */
bool worker_gen_ready(struct worker_gen *g, const struct model_cluster *cl);

/* One request (or relayed connection) more / fewer in flight to endpoint <ep> of <cl>. [W] */
static inline void
worker_active_add(struct worker *wk, const struct model_cluster *cl, size_t ep)
{
    wk->active[cl->endpoints[ep].state_id]++;
}

static inline void
worker_active_sub(struct worker *wk, const struct model_cluster *cl, size_t ep)
{
    uint32_t *n = &wk->active[cl->endpoints[ep].state_id];
    if (*n) --*n;
}

/* <bytes> went back to malloc, past the worker's pools (buffers and exchanges of closed
 * connections after a burst): once enough has, the free memory is handed back to the
 * system a moment later (malloc_trim), when the burst is over. [W] */
void worker_freed(struct worker *wk, size_t bytes);

/* An idle upstream connection to endpoint <ep> of cluster <c>, or NULL. [W] */
struct upstream *worker_take_idle(struct worker *wk, const struct model_cluster *c, size_t ep);

/* Park a finished upstream connection for reuse. [W] */
void worker_put_idle(struct worker *wk, struct upstream *u);

/* The worker's pool of endpoint <ep> of <c> (NULL when out of memory). [W] */
struct idle_pool *worker_pool(struct worker *wk, const struct model_cluster *c, size_t ep);

/* A connection of pool <p> was parked or closed: its first waiter, if any, is resumed
 * after this batch of events. [W] */
void worker_pool_freed(struct worker *wk, struct idle_pool *p);

/* Serve <snap> (acquired for this worker) from the next batch on. [M] */
void worker_publish(struct worker *wk, struct snapshot *snap);

/* Stop accepting and close client connections as their exchanges end. [M] */
void worker_drain(struct worker *wk);

/* A connection or mirror binds to / lets go of a generation; the last user of a retired
 * one frees it. [W] */
static inline struct worker_gen *
worker_gen_hold(struct worker_gen *g)
{
    g->users++;
    return g;
}
void worker_gen_put(struct worker_gen *g);

#endif
