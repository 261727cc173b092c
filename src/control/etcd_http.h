/* SPDX-License-Identifier: Apache-2.0 */
/* A small non-blocking HTTP/1.1 client for etcd's v3 JSON gateway, on the main thread's
 * loop: one POST per connection ("Connection: close"), the response head parsed by
 * http/h1_parse, its body handed over as it arrives, de-chunked (a watch is one response
 * that lasts as long as the watch). Plain TCP, or TLS (https:// endpoints, tls/conn.c). [M] */
#ifndef MESHLET_CONTROL_ETCD_HTTP_H
#define MESHLET_CONTROL_ETCD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/loop.h"
#include "core/strbuf.h"
#include "http/h1_parse.h"

/* One etcd member's client address. */
struct tls_upstream;
struct tls_conn;

struct etcd_endpoint {
    struct sockaddr_storage addr;
    socklen_t len;
    char host[128];                 /* HOST:PORT for the Host header and messages */
    char name[128];                 /* HOST alone: the TLS server name it must prove */
    bool https;                     /* given as https:// */
    const struct tls_upstream *tls; /* https: the client context (etcd_endpoints_tls) */
};

/* Parse "http://IP:PORT[,http://...]" (the scheme may be left out; localhost is 127.0.0.1)
 * into a new array <*out> of <*n> (freed by the caller, even on error). 0, or -1 with the
 * reason in <err>. */
int etcd_endpoints_parse(const char *urls, struct etcd_endpoint **out, size_t *n, char *err,
                         size_t err_len);

/* TLS for the https:// endpoints of <eps>: trust <ca> (NULL: the system's CAs), present
 * <cert> and <key> when given (etcd's --client-cert-auth). The context goes to <*ctx>
 * (freed with tls_upstream_free; NULL when no endpoint is https). 0, or -1 with why. */
int etcd_endpoints_tls(struct etcd_endpoint *eps, size_t n, const char *ca, const char *cert,
                       const char *key, struct tls_upstream **ctx, char *err, size_t err_len);

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
    struct tls_conn *tls; /* https: the session; NULL: plain TCP */
    bool handshaking;
    char why[160]; /* a TLS failure's reason ("" otherwise) */
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

/* POST <body> (JSON) to <path> of endpoint <ep> (borrowed for the exchange); <timeout_ms>
 * bounds the whole exchange (0: none). 0, or -errno when it could not start (no callback
 * then). */
int etcd_http_post(struct etcd_http *h, const struct etcd_endpoint *ep, const char *path,
                   const char *body, size_t n, uint64_t timeout_ms, etcd_http_data_fn *data,
                   etcd_http_end_fn *end);

/* The same with any <method>; <body> NULL sends no body and no Content-Length (a GET). */
int etcd_http_request(struct etcd_http *h, const struct etcd_endpoint *ep, const char *method,
                      const char *path, const char *body, size_t n, uint64_t timeout_ms,
                      etcd_http_data_fn *data, etcd_http_end_fn *end);

/* Stop the exchange in progress, if any, without a callback. */
void etcd_http_cancel(struct etcd_http *h);

/* Free what <h> holds (the exchange is cancelled). */
void etcd_http_fini(struct etcd_http *h);

/* One call for a command-line tool (meshlet apply, get, status), on a loop of its own:
 * POST <body> to <path> on the first of <eps> that answers, within <timeout_ms> each. The
 * answer's status in <*status> and its body in <out> (appended). 0, or -errno of the last
 * endpoint tried with why in <err>. Not for the main thread of `meshlet run`. */
int etcd_call(const struct etcd_endpoint *eps, size_t n, const char *path, const char *body,
              size_t len, uint64_t timeout_ms, int *status, struct strbuf *out, char *err,
              size_t err_len);

/* etcd_call with any <method> (<body> NULL: none), for any plain HTTP/1.1 server (the
 * proxies' admin ports, Prometheus): <err> says "HOST:PORT: why" without the "etcd " that
 * etcd_call puts first. */
int etcd_http_call(const struct etcd_endpoint *eps, size_t n, const char *method, const char *path,
                   const char *body, size_t len, uint64_t timeout_ms, int *status,
                   struct strbuf *out, char *err, size_t err_len);

#endif
