/* SPDX-License-Identifier: Apache-2.0 */
/* The explain report: which listener, virtual host and route a request takes on a snapshot,
 * why each earlier route was skipped, and what the route does. One implementation for
 * `meshlet explain -c` (a snapshot built from files) and the admin endpoint GET /explain
 * (the running proxy's own snapshot), so the two cannot disagree. [M] */
#ifndef MESHLET_ADMIN_EXPLAIN_H
#define MESHLET_ADMIN_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/slice.h"
#include "core/strbuf.h"
#include "model/model.h"
#include "model/route.h"

#define EXPLAIN_MAX_HEADERS 64

/* A request as a client sends it to the proxy (curl's view: a URL and -H headers). Every
 * slice and string is borrowed from what explain_request_init() was given. */
struct explain_request {
    const char *method;
    const char *url;
    struct slice scheme;    /* "http" or "https" */
    struct slice authority; /* the Host header when given (the proxy routes by it), else the
                               URL's host[:port] */
    struct slice path;      /* path and query */
    uint16_t port;          /* the listener: --port, else the URL's port; 0: not said */
    bool mesh;              /* the mesh listener (port aside) */
    const char *gateway;    /* "ns/name": only listeners of this Gateway; NULL: any */
    struct route_header headers[EXPLAIN_MAX_HEADERS + 1]; /* as given, plus Host if absent */
    size_t n_headers;
    /* A connection to a TCP or TLS listener (`explain --port N ... tcp`), not a request. */
    bool l4;
    struct slice sni;            /* the ClientHello's server name; empty: none */
    const char *source;          /* the client's address as given; NULL: not said */
    bool has_dst;                /* the address the connection reached is known: */
    struct sockaddr_storage dst; /* destinationSubnets are matched against it */
};

enum explain_outcome {
    EXPLAIN_ROUTED,          /* a route matched: forwarded, redirected or answered as set */
    EXPLAIN_LOCAL_REPLY,     /* the proxy answers (some of) these itself: 404 NR, 503 NC/UH */
    EXPLAIN_UNKNOWN_GATEWAY, /* no listener serves the Gateway named */
    EXPLAIN_NO_LISTENER,     /* nothing listens on that port, or no mesh listener */
    EXPLAIN_AMBIGUOUS,       /* several listeners could take it: the port decides */
};

/* "routed", "local_reply", "unknown_gateway", "no_listener", "ambiguous". */
const char *explain_outcome_name(enum explain_outcome o);

/* Parse curl's -H argument "name: value" into <h> (borrowing from <arg>). false when there is
 * no colon or no name. */
bool explain_header_parse(const char *arg, struct route_header *h);

/* Fill <rq> for <method> <url> with <n> <headers> (at most EXPLAIN_MAX_HEADERS), listener
 * <port> (0: the URL's), <mesh> and <gateway> (NULL: any). NULL, or what is wrong with the
 * input, in words. */
const char *explain_request_init(struct explain_request *rq, const char *method, const char *url,
                                 const struct route_header *headers, size_t n, uint16_t port,
                                 bool mesh, const char *gateway);

/* Fill <rq> for a connection to listener <port> (required) with SNI <sni>, from client
 * <source> to local address <dest> (IP literals; each may be NULL), on the mesh
 * (<mesh>) or Gateway <gateway>'s listeners (NULL: any). NULL, or what is wrong, in words. */
const char *explain_request_init_l4(struct explain_request *rq, uint16_t port, const char *sni,
                                    const char *source, const char *dest, bool mesh,
                                    const char *gateway);

/* Explain <rq> on <s>: the report as text into <text> and as one JSON object into <json>.
 * When <s> carries workers' split counters (a running proxy), where the matched route's
 * split stands. Returns the outcome. */
enum explain_outcome explain_write(const struct snapshot *s, const struct explain_request *rq,
                                   struct strbuf *text, struct strbuf *json);

/* GET /explain?method=M&url=U&header=k:v...&gateway=NS/N&port=P&mesh=1&format=json&text=1
 * &digest=HEX (values percent-encoded), or for a connection ?l4=1&port=P&sni=S&source=IP
 * &dest=IP[&gateway=..&mesh=1...]: explain_write() on <s>, the text report, or the JSON
 * one (with text=1, the text report in it as "text") into <out>; <type> set to its media
 * type. digest=HEX refuses (409) when <s> was built from another config. Returns the HTTP
 * status: 200, 400 (bad parameters, said in <out>) or 409. */
int explain_page(const struct snapshot *s, struct slice query, struct strbuf *out,
                 const char **type);

#endif
