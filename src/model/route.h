/* SPDX-License-Identifier: Apache-2.0 */
/* Route matching: the first route of a virtual host whose match blocks accept a request
 * (OR across blocks, AND within one), as Envoy evaluates what Istio compiles (§3.4, §3.5).
 * Shared by the proxy and `meshlet explain`, so both always agree. [A] */
#ifndef MESHLET_MODEL_ROUTE_H
#define MESHLET_MODEL_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/slice.h"
#include "model/model.h"

struct route_header {
    struct slice name; /* any case */
    struct slice value;
};

/* What matching looks at; every slice is borrowed from the caller. */
struct route_request {
    struct slice method;
    struct slice path;      /* path and query, as received */
    struct slice authority; /* Host or :authority, with the port if the client sent one */
    struct slice scheme;    /* "http" or "https" */
    const struct route_header *headers;
    size_t n_headers;
    /* L4 (tcp and tls routes): the ClientHello's server name (empty: none) and the local
     * address the connection reached (destinationSubnets; NULL: matches no subnet). */
    struct slice sni;
    const struct sockaddr_storage *dst;
};

/* The first route of <vh> that matches <rq>, or NULL (404, flag NR). <block> (may be
 * NULL) receives the index of the match block that matched (-1: a rule without matches). */
const struct model_route *route_match(const struct model_vhost *vh, const struct route_request *rq,
                                      int *block);

/* The path to send upstream after <r>'s rewrite (Envoy prefix_rewrite / regex_rewrite,
 * §3.11): into <buf> (<cap> bytes); returns its length, or 0 when the path is unchanged.
 * <block> is what route_match said. */
size_t route_rewrite_path(const struct model_route *r, int block, struct slice path, char *buf,
                          size_t cap);

/* Does <origin> pass the rule's CORS allowOrigins? */
bool route_cors_allows(const struct model_cors *c, struct slice origin);

/* Does match block <m> accept <rq>? When not and <why> is given, it receives the first
 * condition that failed, in words ("header x-canary absent"). */
bool route_block_matches(const struct model_match *m, const struct route_request *rq, char *why,
                         size_t why_len);

/* The value of cookie <name> in one Cookie field value <v> (RFC 6265 §5.4: "a=1; b=2";
 * blanks around names and values and a value's DQUOTEs dropped): the sticky split's key
 * and consistentHash's httpCookie read cookies the same way. */
bool route_cookie(struct slice v, const char *name, struct slice *out);

/* The user key of <rq> for <r>'s sticky split: the first value of its header, or the
 * value of its cookie (the first pair of that name in any Cookie field, quotes removed),
 * into <key> (borrowed from <rq>). false when the route is not sticky or the request has
 * no key or an empty one: it then takes the smooth weighted split. */
bool route_sticky_key(const struct model_route *r, const struct route_request *rq,
                      struct slice *key);

/* "header" or "cookie": where <r>'s sticky split reads the user key; NULL when not sticky. */
const char *route_sticky_source(const struct model_route *r);

#endif
