/* SPDX-License-Identifier: Apache-2.0 */
/* The heads meshlet sends: the request upstream and the response downstream. Hop-by-hop
 * fields (and those Connection names) are dropped, framing is always our own (one
 * Content-Length or chunked, never the received framing), and the proxy headers Envoy sets
 * are added: x-forwarded-for, x-forwarded-proto, x-request-id, server,
 * x-envoy-upstream-service-time. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "http/h1_int.h"
#include "model/route.h"
#include "tls/conn.h"

/* The header names this file treats specially, told apart by length first: every header of
 * every request and response goes through here. */
enum hname {
    H_OTHER,
    H_HOP, /* always hop-by-hop or framing: connection, keep-alive, proxy-connection,
            * transfer-encoding, te, trailer, upgrade, content-length */
    H_HOST,
    H_EXPECT,
    H_SERVER,
    H_XFF,
    H_XFP,
    H_REQUEST_ID,
    H_ORIGINAL_PATH,
    H_CONTENT_LENGTH, /* also H_HOP for forwarding */
    H_XFCC,
};

static enum hname
classify(struct slice n)
{
    switch (n.len) {
    case 2: return slice_ieq(n, "te") ? H_HOP : H_OTHER;
    case 4: return slice_ieq(n, "host") ? H_HOST : H_OTHER;
    case 6: return slice_ieq(n, "expect") ? H_EXPECT : slice_ieq(n, "server") ? H_SERVER : H_OTHER;
    case 7: return slice_ieq(n, "trailer") || slice_ieq(n, "upgrade") ? H_HOP : H_OTHER;
    case 10: return slice_ieq(n, "connection") || slice_ieq(n, "keep-alive") ? H_HOP : H_OTHER;
    case 12: return slice_ieq(n, "x-request-id") ? H_REQUEST_ID : H_OTHER;
    case 14: return slice_ieq(n, "content-length") ? H_CONTENT_LENGTH : H_OTHER;
    case 15: return slice_ieq(n, "x-forwarded-for") ? H_XFF : H_OTHER;
    case 16: return slice_ieq(n, "proxy-connection") ? H_HOP : H_OTHER;
    case 17:
        return slice_ieq(n, "transfer-encoding")   ? H_HOP
               : slice_ieq(n, "x-forwarded-proto") ? H_XFP
                                                   : H_OTHER;
    case 21: return slice_ieq(n, "x-envoy-original-path") ? H_ORIGINAL_PATH : H_OTHER;
    case 23: return slice_ieq(n, "x-forwarded-client-cert") ? H_XFCC : H_OTHER;
    default: return H_OTHER;
    }
}

/* Is <n> listed in any Connection header of <h>? (RFC 9110 §7.6.1) */
static bool
named_by_connection(const struct h1_head *h, struct slice n)
{
    if (!h->has_connection) return false;
    for (size_t i = 0; i < h->n_headers; i++) {
        if (!slice_ieq(h->headers[i].name, "connection")) continue;
        struct slice v = h->headers[i].value;
        size_t a = 0;
        while (a < v.len) {
            size_t b = a;
            while (b < v.len && v.ptr[b] != ',') b++;
            size_t s = a, e = b;
            while (s < e && (v.ptr[s] == ' ' || v.ptr[s] == '\t')) s++;
            while (e > s && (v.ptr[e - 1] == ' ' || v.ptr[e - 1] == '\t')) e--;
            if (e - s == n.len) {
                bool same = true;
                for (size_t k = 0; k < n.len && same; k++)
                    same = slice_lower_ascii(v.ptr[s + k]) == slice_lower_ascii(n.ptr[k]);
                if (same) return true;
            }
            a = b + 1;
        }
    }
    return false;
}

static inline int
put(struct buf *out, const char *s, size_t n)
{
    if (out->cap - out->wr >= n) { /* the common case, without a call */
        memcpy(out->data + out->wr, s, n);
        out->wr += n;
        return 0;
    }
    return buf_append(out, s, n);
}

/* Decimal <v> without printf (this runs for every request). */
static int
put_u64(struct buf *out, uint64_t v)
{
    char digits[24];
    size_t n = sizeof(digits);
    do {
        digits[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return put(out, digits + n, sizeof(digits) - n);
}

static int
put_header(struct buf *out, struct slice name, struct slice value)
{
    int rc = put(out, name.ptr, name.len);
    if (!rc) rc = put(out, ": ", 2);
    if (!rc) rc = put(out, value.ptr, value.len);
    if (!rc) rc = put(out, "\r\n", 2);
    return rc;
}

bool
headers_untrusted(const struct h1_conn *c)
{
    return !c->ml->mesh && !c->ml->inbound;
}

/* An x-envoy-* header: Envoy's own, which only proxies of the mesh may set. */
static bool
envoy_internal(struct slice n)
{
    return n.len > 8 && slice_ieq(slice_make(n.ptr, 8), "x-envoy-");
}

bool
headers_find(const struct h1_head *h, const char *name, struct slice *out)
{
    for (size_t i = 0; i < h->n_headers; i++) {
        if (slice_ieq(h->headers[i].name, name)) {
            *out = h->headers[i].value;
            return true;
        }
    }
    return false;
}

static bool
named(struct slice n, const struct slice *names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (names[i].len != n.len) continue;
        bool same = true;
        for (size_t k = 0; k < n.len && same; k++)
            same = slice_lower_ascii(n.ptr[k]) == names[i].ptr[k];
        if (same) return true;
    }
    return false;
}

/* Does <o> remove or overwrite any header? (Most routes have no operations.) */
static bool
removes_any(const struct model_header_ops *o)
{
    return o && (o->n_remove || o->n_set);
}

/* Is header <n> removed or overwritten by the route's or the destination's operations? */
static bool
replaced(struct slice n, const struct model_header_ops *a, const struct model_header_ops *b)
{
    return (a && (named(n, a->remove, a->n_remove) || named(n, a->set_names, a->n_set))) ||
           (b && (named(n, b->remove, b->n_remove) || named(n, b->set_names, b->n_set)));
}

/* Route-level set and add, then the destination's: a destination set overrides the route's
 * set of the same header (§3.14). */
static int
put_ops(struct buf *out, const struct model_header_ops *route, const struct model_header_ops *dest)
{
    int rc = 0;
    for (size_t i = 0; route && i < route->n_set && !rc; i++)
        if (!dest || !named(route->set_names[i], dest->set_names, dest->n_set))
            rc = put_header(out, route->set_names[i], route->set_values[i]);
    for (size_t i = 0; dest && i < dest->n_set && !rc; i++)
        rc = put_header(out, dest->set_names[i], dest->set_values[i]);
    for (size_t i = 0; route && i < route->n_add && !rc; i++)
        rc = put_header(out, route->add_names[i], route->add_values[i]);
    for (size_t i = 0; dest && i < dest->n_add && !rc; i++)
        rc = put_header(out, dest->add_names[i], dest->add_values[i]);
    return rc;
}

/* CORS headers on the response to an actual (not preflight) cross-origin request. */
static int
put_cors_actual(struct buf *out, const struct model_cors *cors, const struct h1_exchange *ex)
{
    int rc = put_header(out, SLICE_LIT("access-control-allow-origin"),
                        slice_make(ex->cors_origin, ex->cors_origin_len));
    if (!rc && cors->allow_credentials)
        rc = put_header(out, SLICE_LIT("access-control-allow-credentials"), SLICE_LIT("true"));
    if (!rc && cors->expose_headers.len)
        rc = put_header(out, SLICE_LIT("access-control-expose-headers"), cors->expose_headers);
    return rc;
}

int
headers_cors_preflight(struct buf *out, const struct model_cors *cors, struct slice origin,
                       bool close)
{
    int rc = put(out, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n", 36);
    if (!rc) rc = put_header(out, SLICE_LIT("access-control-allow-origin"), origin);
    if (!rc && cors->allow_credentials)
        rc = put_header(out, SLICE_LIT("access-control-allow-credentials"), SLICE_LIT("true"));
    if (!rc && cors->allow_methods.len)
        rc = put_header(out, SLICE_LIT("access-control-allow-methods"), cors->allow_methods);
    if (!rc && cors->allow_headers.len)
        rc = put_header(out, SLICE_LIT("access-control-allow-headers"), cors->allow_headers);
    if (!rc && cors->max_age.len)
        rc = put_header(out, SLICE_LIT("access-control-max-age"), cors->max_age);
    if (!rc) rc = put(out, "server: meshlet\r\n", 17);
    if (!rc && close) rc = put(out, "connection: close\r\n", 19);
    if (!rc) rc = put(out, "\r\n", 2);
    return rc;
}

int
headers_request(struct buf *out, const struct h1_conn *c, const char *request_id, bool shadow)
{
    const struct h1_request *r = &c->ex->req;
    const struct h1_head *h = &r->head;
    const struct model_route *route = c->ex->route;
    const struct model_headers *rh = route ? &route->headers : NULL;
    const struct model_headers *dh = c->ex->dest ? &c->ex->dest->headers : NULL;
    const struct model_header_ops *rq_route = rh ? &rh->request : NULL;
    const struct model_header_ops *rq_dest = dh ? &dh->request : NULL;
    char rewritten[8192];
    size_t rw =
        route ? route_rewrite_path(route, c->ex->block, r->path, rewritten, sizeof(rewritten)) : 0;
    struct slice path = rw ? slice_make(rewritten, rw) : r->path;
    /* The rule's authority rewrite wins; a destination's applies when the rule sets none. */
    struct slice authority = rh && rh->authority.len   ? rh->authority
                             : dh && dh->authority.len ? dh->authority
                                                       : r->authority;
    char shadow_host[1024];
    if (shadow && authority.len < sizeof(shadow_host) - 8) {
        /* A mirrored copy says so in its host: "api.example.com-shadow:8080" (Envoy). */
        const char *colon =
            authority.ptr[0] == '[' ? NULL : memchr(authority.ptr, ':', authority.len);
        size_t host_len = colon ? (size_t)(colon - authority.ptr) : authority.len;
        memcpy(shadow_host, authority.ptr, host_len);
        memcpy(shadow_host + host_len, "-shadow", 7);
        memcpy(shadow_host + host_len + 7, authority.ptr + host_len, authority.len - host_len);
        authority = slice_make(shadow_host, authority.len + 7);
    }
    int rc = put(out, r->method.ptr, r->method.len);
    if (!rc) rc = put(out, " ", 1);
    if (!rc) rc = put(out, path.ptr, path.len);
    if (!rc) rc = put(out, " HTTP/1.1\r\n", 11);
    if (!rc && authority.len) rc = put_header(out, SLICE_LIT("host"), authority);
    if (!rc && rw) rc = put_header(out, SLICE_LIT("x-envoy-original-path"), r->path);
    const struct h1_header *xff = NULL;
    bool have_xfp = false, have_rid = false;
    bool untrusted = headers_untrusted(c);
    bool ops = removes_any(rq_route) || removes_any(rq_dest);
    for (size_t i = 0; i < h->n_headers && !rc; i++) {
        struct slice n = h->headers[i].name;
        enum hname k = classify(n);
        if (k == H_HOP || k == H_CONTENT_LENGTH || k == H_HOST || named_by_connection(h, n))
            continue;
        if (r->expect_continue && k == H_EXPECT) continue; /* answered by us */
        if (ops && replaced(n, rq_route, rq_dest)) continue;
        if (rw && k == H_ORIGINAL_PATH) continue; /* ours replaces it */
        if (k == H_XFCC && c->ml->inbound)
            continue; /* only the sidecar's own (Envoy's
                       * SANITIZE_SET): never a client's */
        if (k == H_XFF) {
            xff = &h->headers[i]; /* rewritten below with the client address appended */
            continue;
        }
        /* From an external client, x-envoy-* and x-request-id are not believed (Envoy at an
         * edge: internal-only headers stripped, a request id of its own). */
        if (untrusted && (k == H_REQUEST_ID || envoy_internal(n))) continue;
        have_xfp |= k == H_XFP;
        have_rid |= k == H_REQUEST_ID;
        rc = put_header(out, n, h->headers[i].value);
    }
    if (!rc) rc = put_ops(out, rq_route, rq_dest);
    char ip[64];
    h1_conn_peer_ip(c, ip, sizeof(ip));
    if (!rc) rc = put(out, "x-forwarded-for: ", 17);
    if (!rc && xff) rc = put(out, xff->value.ptr, xff->value.len);
    if (!rc && xff) rc = put(out, ", ", 2);
    if (!rc) rc = put(out, ip, strlen(ip));
    if (!rc) rc = put(out, "\r\n", 2);
    if (!rc && !have_xfp)
        rc = c->tls ? put(out, "x-forwarded-proto: https\r\n", 26)
                    : put(out, "x-forwarded-proto: http\r\n", 25);
    if (!rc && c->tls && c->xport == H1_XP_TLS) {
        const char *xfcc = tls_conn_xfcc(c->tls);
        rc = put_header(out, SLICE_LIT("x-forwarded-client-cert"), slice_make(xfcc, strlen(xfcc)));
    }
    if (!rc && !have_rid) {
        rc = put(out, "x-request-id: ", 14);
        if (!rc) rc = put(out, request_id, 36); /* a UUID */
        if (!rc) rc = put(out, "\r\n", 2);
    }
    if (!rc && c->ex->req_body == H1_BODY_LENGTH) {
        rc = put(out, "content-length: ", 16);
        if (!rc) rc = put_u64(out, h->content_length);
        if (!rc) rc = put(out, "\r\n", 2);
    } else if (!rc && c->ex->req_body == H1_BODY_CHUNKED) {
        rc = put(out, "transfer-encoding: chunked\r\n", 28);
    }
    if (!rc) rc = put(out, "\r\n", 2);
    return rc;
}

int
headers_response(struct buf *out, const struct h1_conn *c, uint64_t upstream_ms)
{
    const struct h1_response *r = &c->ex->resp;
    const struct h1_head *h = &r->head;
    const struct model_header_ops *rs_route = c->ex->route ? &c->ex->route->headers.response : NULL;
    const struct model_header_ops *rs_dest = c->ex->dest ? &c->ex->dest->headers.response : NULL;
    int rc = put(out, "HTTP/1.1 ", 9);
    if (!rc) rc = put_u64(out, (uint64_t)r->code);
    if (!rc) rc = put(out, " ", 1);
    if (!rc && r->reason.len)
        rc = put(out, r->reason.ptr, r->reason.len);
    else if (!rc)
        rc = put(out, reply_reason(r->code), strlen(reply_reason(r->code)));
    if (!rc) rc = put(out, "\r\n", 2);
    const struct h1_header *cl = NULL;
    bool ops = removes_any(rs_route) || removes_any(rs_dest);
    for (size_t i = 0; i < h->n_headers && !rc; i++) {
        struct slice nm = h->headers[i].name;
        enum hname k = classify(nm);
        if (k == H_CONTENT_LENGTH) cl = &h->headers[i];
        if (k == H_HOP || k == H_CONTENT_LENGTH || k == H_SERVER || named_by_connection(h, nm))
            continue;
        if (ops && replaced(nm, rs_route, rs_dest)) continue;
        rc = put_header(out, nm, h->headers[i].value);
    }
    if (!rc) rc = put_ops(out, rs_route, rs_dest);
    const struct model_cors *cors = c->ex->route ? c->ex->route->cors : NULL;
    if (!rc && cors && c->ex->cors_origin_len) rc = put_cors_actual(out, cors, c->ex);
    if (!rc && c->ex->set_cookie_len)
        rc = put_header(out, SLICE_LIT("set-cookie"),
                        slice_make(c->ex->set_cookie, c->ex->set_cookie_len));
    if (!rc) rc = put(out, "server: meshlet\r\nx-envoy-upstream-service-time: ", 48);
    if (!rc) rc = put_u64(out, upstream_ms);
    if (!rc) rc = put(out, "\r\n", 2);
    if (!rc && c->ex->resp_body == H1_BODY_LENGTH) {
        rc = put(out, "content-length: ", 16);
        if (!rc) rc = put_u64(out, c->ex->resp_left);
        if (!rc) rc = put(out, "\r\n", 2);
    } else if (!rc && c->ex->resp_body == H1_BODY_NONE && cl && r->code >= 200 && r->code != 204) {
        rc = put_header(out, SLICE_LIT("content-length"), cl->value); /* HEAD, 304 */
    } else if (!rc && c->ex->resp_chunked_out) {
        rc = put(out, "transfer-encoding: chunked\r\n", 28);
    }
    if (!rc && !c->ex->keep_alive) rc = put(out, "connection: close\r\n", 19);
    if (!rc) rc = put(out, "\r\n", 2);
    return rc;
}

int
headers_direct(struct buf *out, int status, struct slice body, const struct model_header_ops *ops,
               bool head, bool close)
{
    int rc = put(out, "HTTP/1.1 ", 9);
    if (!rc) rc = put_u64(out, (uint64_t)status);
    if (!rc) rc = put(out, " ", 1);
    if (!rc) rc = put(out, reply_reason(status), strlen(reply_reason(status)));
    if (!rc) rc = put(out, "\r\ncontent-length: ", 18);
    if (!rc) rc = put_u64(out, body.len);
    if (!rc) rc = put(out, "\r\n", 2);
    /* Envoy labels a local body text/plain unless the route's response ops say otherwise. */
    if (!rc && body.len && !replaced(SLICE_LIT("content-type"), ops, NULL))
        rc = put(out, "content-type: text/plain\r\n", 26);
    if (!rc) rc = put_ops(out, ops, NULL);
    if (!rc) rc = put(out, "server: meshlet\r\n", 17);
    if (!rc && close) rc = put(out, "connection: close\r\n", 19);
    if (!rc) rc = put(out, "\r\n", 2);
    if (!rc && body.len && !head) rc = buf_append(out, body.ptr, body.len);
    return rc;
}
