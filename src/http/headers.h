/* SPDX-License-Identifier: Apache-2.0 */
/* The heads meshlet sends, and the header lookups every codec shares. The request head for
 * an upstream is written in HTTP/1.1 form (the upstream codec's, and the form a request
 * keeps for its later tries and mirrors); HTTP/2 upstreams will add their own. [W] */
#ifndef MESHLET_HTTP_HEADERS_H
#define MESHLET_HTTP_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "http/stream.h"

struct conn;
struct req;
struct model_cors;

/* whether the clients of <c>'s listener are external (a Gateway listener, Envoy's
 * use_remote_address edge): their x-envoy-* headers are dropped and their x-request-id
 * replaced. Mesh hops (the outbound listener from the local app, inbound sidecars) keep
 * them. */
bool headers_untrusted(const struct conn *c);

/* the value of the first field <name> (any case) of <f>; false when absent. */
bool headers_find(const struct h1_header *f, size_t n, const char *name, struct slice *out);

/* write the head to send upstream / downstream into <out>. */
int headers_request(struct buf *out, const struct req *q, const struct req_head *h,
                    const char *request_id, bool shadow);
int headers_response(struct buf *out, const struct req *q, const struct resp_head *h,
                     uint64_t upstream_ms, bool chunked_out, bool keep_alive);
/* The fields of the answer to a CORS preflight whose origin the rule allows (Envoy's CORS
 * filter), into <f> (room for 5): how many. */
size_t headers_cors_preflight(struct h1_header *f, const struct model_cors *cors,
                              struct slice origin);

/* What a codec does with one field of a head it writes: 0, or an error that stops the walk. */
typedef int headers_fn(void *arg, struct slice name, struct slice value);

/* The fields of the response to <q> after its status, through <f>: the upstream's fields
 * that go on (hop-by-hop, framing and server dropped), the route's and destination's
 * operations, CORS, a generated cookie. The codec adds server, upstream time, framing. */
int headers_response_fields(const struct req *q, const struct resp_head *r, headers_fn *f,
                            void *arg);

/* The fields of local reply <r> between its length and server: content-type, its own
 * fields, a direct response's operations. */
int headers_local_fields(const struct local_reply *r, headers_fn *f, void *arg);

#endif
