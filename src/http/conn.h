/* SPDX-License-Identifier: Apache-2.0 */
/* A client connection as the worker and a request see it, whatever its protocol: where it
 * came from, what it is bound to, and the ops its codec implements. The worker keeps every
 * open one on a list and reaches them only through these ops (reload, drain, exit). [W] */
#ifndef MESHLET_HTTP_CONN_H
#define MESHLET_HTTP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "core/xprt.h"

struct conn;
struct worker;
struct worker_gen;
struct model_listener;
struct tls_conn;

struct conn_ops {
    void (*pump)(struct conn *c);        /* make every step that can be made now */
    void (*rebind_idle)(struct conn *c); /* after a reload: move to the new generation */
    void (*drain)(struct conn *c);       /* close now if idle, else after what is in flight */
    void (*close)(struct conn *c);
};

struct conn {
    struct loop_watch w;
    const struct conn_ops *ops;
    struct worker *wk;               /* borrowed */
    struct worker_gen *gen;          /* held: the generation its requests run on */
    const struct model_listener *ml; /* borrowed from gen: the listener it arrived on */
    const struct xprt_ops *xprt;     /* how its bytes move: sock_xprt or tls_xprt */
    struct tls_conn *tls;            /* TLS (begun or established); NULL: plain text */
    uint8_t peer[16];                /* client address (IPv4 in the first 4 bytes) */
    uint8_t peer_family;
    uint16_t peer_port;
    bool secured;             /* TLS established (not only begun) */
    bool retired;             /* its listener is gone: this request is its last */
    bool closed;              /* closed in this batch: its memory goes after it */
    bool flush_queued;        /* on the worker's array of writes done after the batch */
    struct conn *next, *prev; /* the worker's list of open connections */
};

/* The client address as text. */
void conn_peer_ip(const struct conn *c, char *buf, size_t len);

/* Put <c> on its worker's array of connections written after the batch (conn_flush): true
 * when it is there, false when out of memory (write now instead). Its codec checks
 * wk->defer_writes first; the array only grows, so a warm worker allocates nothing. */
bool conn_queue_flush(struct conn *c);

/* Pump every connection queued during the batch (defer_writes is off: they write now). */
void conn_flush(struct worker *wk);

/* Move <c> to its worker's current generation: false when the reload removed its listener
 * (the connection then closes). */
bool conn_rebind(struct conn *c);

#endif
