/* SPDX-License-Identifier: Apache-2.0 */
/* Private to the HTTP/1.1 codec and its helpers (h1_conn.c, h1_upstream.c, h1_io.c,
 * h1_timeout.c, headers.c, reply.c, shadow.c): the client connection, its exchange, and
 * the HTTP/1.1 forms of heads. [W] */
#ifndef MESHLET_HTTP_H1_INT_H
#define MESHLET_HTTP_H1_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/loop.h"
#include "core/wheel.h"
#include "http/access_log.h"
#include "http/conn.h"
#include "http/h1_parse.h"
#include "http/headers.h"
#include "http/metrics.h"
#include "http/mirror.h"
#include "http/req.h"
#include "http/stream.h"
#include "http/upstream.h"
#include "http/worker.h"

struct shadow;
struct req_head;
struct tunnel;

/* One HTTP/1.1 request on a client connection: the protocol-neutral request and the
 * framing of its two messages on this side. Taken from the worker's pool when a request
 * starts arriving, given back when it ends, so an idle keep-alive connection holds none. */
struct h1_exchange {
    struct req q;
    bool keep_alive; /* keep the client connection after this exchange */
    bool probed;     /* the client's FIN was answered with 100 Continue (probe_client) */
    bool expect_continue;
    bool resp_chunked_out; /* we chunk-encode the response towards the client */
    bool replied;          /* a local reply decided to close the connection */
    int minor;             /* HTTP/1.<minor> of the request */
    enum h1_body req_body;
    uint64_t req_left;
    struct h1_chunked req_chunks;
    size_t held_head;  /* a head held by an injected delay waits in conn->in, this long */
    uint64_t out_mark; /* the connection's output count when it started */
    struct h1_exchange *next_free; /* worker pool link */
};

/* How a client connection's bytes are carried. */
enum {
    H1_XP_PLAIN,     /* plain text */
    H1_XP_SNIFF,     /* PERMISSIVE: the first byte tells TLS from plain text */
    H1_XP_HANDSHAKE, /* TLS handshake in progress */
    H1_XP_TLS,       /* TLS established */
};

/* Where a client connection stands. */
enum {
    H1_IDLE,         /* waiting for a request head */
    H1_REQUEST_BODY, /* forwarding the request body */
    H1_WAIT,         /* request read; waiting for the response to end */
    H1_TUNNEL,       /* upgraded (101): bytes relayed both ways by <tunnel> */
};

/* A downstream (client) connection: small while idle (buffers and exchange released); the
 * small fields go last, packed. */
struct h1_conn {
    struct conn base;
    struct buf in, out;       /* storage released while empty */
    struct h1_exchange *ex;   /* the current exchange, or NULL */
    struct tunnel *tunnel;    /* owned: the relay after a 101 (h1_upgrade.c), or NULL */
    uint64_t written;         /* bytes written to the client so far */
    struct wheel_timer timer; /* its client-side timeouts (h1_timeout.c) */
    uint64_t active_ms;       /* the last byte read from or written to the client */
    uint8_t xport;            /* H1_XP_* */
    uint8_t state;            /* H1_IDLE, ... */
    bool in_ready, in_eof;
    bool in_hup;      /* LOOP_RDHUP seen: read on to the end of stream */
    bool close_after; /* close once out is flushed */
    bool used;        /* a request has started on it (draining keeps it until then) */
};

/* h1_io.c: one edge-triggered read into <b> from <fd> through transport <x> (state <t>): 1
 * on progress (bytes or EOF), 0 when nothing came (or the buffer is full), -1 on a socket
 * error. A short plain read means the socket is drained, unless <hup> (LOOP_RDHUP seen:
 * the end of stream is still to be read); a TLS read, only -EAGAIN does. */
int h1_read_some(struct buf *b, int fd, const struct xprt_ops *x, void *t, bool hup, bool *ready,
                 bool *eof);

/* Write what <b> holds to <fd> through <x>: as buf_write_fd. */
ssize_t h1_write_some(struct buf *b, int fd, const struct xprt_ops *x, void *t);

/* h1_upstream.c: write the upstream requests queued during the batch, all at once. */
void h1_upstream_flush(struct worker *wk);
/* HTTP/1.1 body framing: <n> bytes at <p> as one chunk (when <chunked>; none when empty),
 * and the last chunk when <end>. */
int h1_frame_body(struct buf *out, bool chunked, const char *p, size_t n, bool end);

/* A local reply <r> in HTTP/1.1 form. */
int headers_local(struct buf *out, const struct local_reply *r, bool close);

/* reply.c: a complete local response (head and body) into <out>. */
int reply_local(struct buf *out, int status, const char *body, bool close);
const char *reply_reason(int status);

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

/* h1_upgrade.c: stream_ops.upgraded: <c>'s exchange was answered 101 by upstream <u>; its
 * bytes both ways go to a tunnel from now on (-1: <u> closed, nothing started). */
int h1_upgrade_start(struct req *q, struct upstream *u);
/* The client socket's <events> for the tunnel of <c>. */
void h1_upgrade_event(struct h1_conn *c, unsigned events);
/* <c> closes with its tunnel running (worker exit): the tunnel ends, its upstream closes, and
 * the exchange reports what went through. */
void h1_upgrade_close(struct h1_conn *c);

/* h1_conn.c */
/* A connection accepted on <ml>, secured by <tls> (its handshake to come; NULL: none) or
 * to be sniffed (PERMISSIVE), as listener_accept decided. */
void h1_conn_accept(struct worker *wk, const struct model_listener *ml, int fd,
                    const struct sockaddr_storage *peer, struct tls_conn *tls, bool sniff);
void h1_conn_pump(struct h1_conn *c);
void h1_conn_close(struct h1_conn *c);
/* After a reload: a connection between requests moves to the worker's generation now. */
void h1_conn_rebind_idle(struct h1_conn *c);
/* Draining: close the connection if it is between requests, else once its exchange ends
 * (its response says `connection: close` when not yet sent). */
void h1_conn_drain(struct h1_conn *c);

#endif
