/* SPDX-License-Identifier: Apache-2.0 */
/* What a codec offers a request (req.c): the request head it parsed, in a form every
 * protocol can fill, and the calls that send the response to the client. HTTP/1.1 implements
 * them in h1_conn.c; HTTP/2 will implement the same per stream. [W] */
#ifndef MESHLET_HTTP_STREAM_H
#define MESHLET_HTTP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"
#include "http/h1_parse.h"

struct req;
struct upstream;
struct model_header_ops;

/* A request head, borrowed from the codec: valid while the request is routed and started
 * (req_start), never kept. Header fields are name/value slices in arrival order. */
struct req_head {
    struct slice method;
    struct slice authority;
    struct slice path; /* path and query */
    const struct h1_header *fields;
    size_t n_fields;
    bool has_connection;  /* a Connection field may name other hop-by-hop fields (HTTP/1.1) */
    bool expect_continue; /* Expect: 100-continue, which the codec answers */
    const char *protocol; /* as the access log prints it: "HTTP/1.1", "HTTP/1.0", "HTTP/2" */
    /* An HTTP/1.1 upgrade (Connection: upgrade and Upgrade): the Upgrade field's value;
     * empty: none (HTTP/1.0, and h2c, whose fields Envoy's codec strips, are no upgrade). */
    struct slice upgrade;
};

/* How the request body arrives; the upstream codec frames it its own way. */
enum req_body {
    REQ_BODY_NONE,
    REQ_BODY_LENGTH, /* exactly body_len bytes */
    REQ_BODY_STREAM, /* until the codec says the end (chunked, HTTP/2 DATA) */
};

/* A response head on its way to the client: from an upstream, or none (local replies). */
struct resp_head {
    int code;
    struct slice reason; /* may be empty */
    const struct h1_header *fields;
    size_t n_fields;
    bool has_connection;
    enum { RESP_BODY_NONE, RESP_BODY_LENGTH, RESP_BODY_STREAM } body;
    uint64_t body_len;                      /* RESP_BODY_LENGTH */
    const struct h1_header *content_length; /* as received, for HEAD and 304 answers */
};

/* A response the proxy makes itself (no route, redirect, direct response, CORS preflight,
 * injected abort, ...). Its head: content-length, then content-type text/plain when <text>
 * (unless <ops> set one), <fields>, <ops> (a direct response's set and add), server. */
struct local_reply {
    int status;
    const struct h1_header *fields;
    size_t n_fields;
    const struct model_header_ops *ops;
    struct slice body;
    bool text;
    bool no_body; /* HEAD: the body's length only */
    bool close;   /* the connection cannot carry another request after it */
    /* An inbound sidecar's answer to the metadata exchange (MX_HAS_*, mx.h) the request
     * <mx_for> asked for: set by req_local. */
    unsigned mx;
    const struct req *mx_for;
};

struct stream_ops {
    /* The request head again (a request held by an injected delay is routed later): parse
     * it anew if need be. */
    const struct req_head *(*head)(struct req *q);
    /* The request is going upstream: a client waiting for `100 Continue` gets it now. */
    int (*proceed)(struct req *q);
    /* A complete response of our own. 0, or -1 when it did not fit. */
    int (*reply)(struct req *q, const struct local_reply *r);
    /* The upstream response: its head (with the route's response header operations applied
     * by the codec through headers.c), body bytes, its end with its trailers (<t>, <n>). */
    int (*send_head)(struct req *q, const struct resp_head *h, uint64_t upstream_ms);
    int (*send_data)(struct req *q, const char *p, size_t n);
    int (*send_end)(struct req *q, const struct h1_header *t, size_t n);
    /* How many more response bytes the client side takes before the request should wait. */
    size_t (*room)(const struct req *q);
    /* The request is over; <how> says whether the connection can carry another. The codec
     * releases <q> (req_release) before it returns. */
    void (*done)(struct req *q, int how);
    /* The upstream answered an upgrade request 101 (its head went out by send_head): the
     * codec takes connection <u> (the request has let it go) and relays bytes both ways;
     * the request stays with the codec until the relay ends, then is done. -1 when it could
     * not start: <u> is closed, the request still the caller's. NULL: no upgrades. */
    int (*upgraded)(struct req *q, struct upstream *u);
};

/* done()'s <how>. */
enum { REQ_DONE_OK, REQ_DONE_CLOSE, REQ_DONE_CUT };

#endif
