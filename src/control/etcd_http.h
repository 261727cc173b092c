/* SPDX-License-Identifier: Apache-2.0 */
/* A small non-blocking HTTP/1.1 client for etcd's v3 JSON gateway, on the main thread's
 * loop: one POST per connection ("Connection: close"), the response head parsed by
 * http/h1_parse, its body handed over as it arrives, de-chunked (a watch is one response
 * that lasts as long as the watch). Plain TCP. [M] */
#ifndef MESHLET_CONTROL_ETCD_HTTP_H
#define MESHLET_CONTROL_ETCD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/loop.h"
#include "core/strbuf.h"
#include "http/h1_parse.h"

struct etcd_http;

/* Body bytes as they arrive (of any status: etcd explains its errors in JSON). */
typedef void etcd_http_data_fn(struct etcd_http *h, const char *p, size_t n);
/* The exchange ended: 0 when the whole response came (status in h->status), or -errno
 * (-ECONNREFUSED, -ETIMEDOUT, -EPROTO for a response that is not HTTP, -ECONNRESET for one
 * cut short). Called last: <h> may start its next exchange from here. */
typedef void etcd_http_end_fn(struct etcd_http *h, int err);

struct etcd_http {
    struct loop *loop; /* borrowed */
    struct loop_watch w;
    struct wheel_timer deadline; /* the whole exchange's (not armed for a watch) */
    struct strbuf out;           /* the request */
    size_t out_off;
    char *in; /* owned: what came and was not consumed yet */
    size_t in_len, in_cap;
    bool busy, connected, head_done;
    int status;
    enum h1_body body;
    uint64_t left; /* H1_BODY_LENGTH: body bytes still to come */
    struct h1_chunked chunked;
    struct h1_limits lim;
    etcd_http_data_fn *data;
    etcd_http_end_fn *end;
    void *arg; /* the caller's */
};

/* Set up <h> on <loop>. */
void etcd_http_init(struct etcd_http *h, struct loop *loop);

/* POST <body> (JSON) to <path> of <host> (the Host header) at <addr>; <timeout_ms> bounds the
 * whole exchange (0: none). 0, or -errno when it could not start (no callback then). */
int etcd_http_post(struct etcd_http *h, const struct sockaddr *addr, socklen_t len,
                   const char *host, const char *path, const char *body, size_t n,
                   uint64_t timeout_ms, etcd_http_data_fn *data, etcd_http_end_fn *end);

/* Stop the exchange in progress, if any, without a callback. */
void etcd_http_cancel(struct etcd_http *h);

/* Free what <h> holds (the exchange is cancelled). */
void etcd_http_fini(struct etcd_http *h);

#endif
