/* SPDX-License-Identifier: Apache-2.0 */
/* The heads meshlet sends: the request upstream and the response downstream. Hop-by-hop
 * fields (and those Connection names) are dropped, framing is always our own (one
 * Content-Length or chunked, never the received framing), and the proxy headers Envoy sets
 * are added: x-forwarded-for, x-forwarded-proto, x-request-id, server,
 * x-envoy-upstream-service-time. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "http/conn.h"
#include "http/h1_int.h"
#include "core/prng.h"
#include "http/mx.h"
#include "http/req.h"
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
    H_MX,    /* x-envoy-peer-metadata (mx.h) */
    H_MX_ID, /* x-envoy-peer-metadata-id */
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
    case 21:
        return slice_ieq(n, "x-envoy-original-path") ? H_ORIGINAL_PATH
               : slice_ieq(n, MX_HEADER)             ? H_MX
                                                     : H_OTHER;
    case 23: return slice_ieq(n, "x-forwarded-client-cert") ? H_XFCC : H_OTHER;
    case 24: return slice_ieq(n, MX_ID_HEADER) ? H_MX_ID : H_OTHER;
    default: return H_OTHER;
    }
}

/* Is <n> listed in any Connection header of <f>? (RFC 9110 §7.6.1) */
static bool
named_by_connection(const struct h1_header *f, size_t nf, struct slice n)
{
    for (size_t i = 0; i < nf; i++) {
        if (!slice_ieq(f[i].name, "connection")) continue;
        struct slice v = f[i].value;
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
headers_untrusted(const struct conn *c)
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
headers_find(const struct h1_header *f, size_t n, const char *name, struct slice *out)
{
    for (size_t i = 0; i < n; i++) {
        if (slice_ieq(f[i].name, name)) {
            *out = f[i].value;
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

/* Route-level set and add, then the destination's, each to <f>: a destination set
 * overrides the route's set of the same header (§3.14). */
static int
each_op(const struct model_header_ops *route, const struct model_header_ops *dest, headers_fn *f,
        void *arg)
{
    int rc = 0;
    for (size_t i = 0; route && i < route->n_set && !rc; i++)
        if (!dest || !named(route->set_names[i], dest->set_names, dest->n_set))
            rc = f(arg, route->set_names[i], route->set_values[i]);
    for (size_t i = 0; dest && i < dest->n_set && !rc; i++)
        rc = f(arg, dest->set_names[i], dest->set_values[i]);
    for (size_t i = 0; route && i < route->n_add && !rc; i++)
        rc = f(arg, route->add_names[i], route->add_values[i]);
    for (size_t i = 0; dest && i < dest->n_add && !rc; i++)
        rc = f(arg, dest->add_names[i], dest->add_values[i]);
    return rc;
}

/* Istio's metadata exchange: which of our two headers go with what <q>'s connection sends
 * (MX_HAS_*). Toward an upstream, a sidecar's outbound and a gateway send both on every
 * request (replacing any the client sent); an inbound sidecar answers each only when the
 * request carried it. */
static unsigned
mx_ours(const struct req *q, bool upstream)
{
    const struct conn *c = q->conn;
    if (!c->wk->mx.value_len) return 0;
    if (upstream) return c->ml->inbound ? 0 : MX_HAS_VALUE | MX_HAS_ID;
    return c->ml->inbound ? q->mx_asked : 0;
}

/* Is <k> one of the exchange's headers that a response from an upstream does not pass on?
 * Toward a sidecar's app or a gateway's client none (read and stripped); from an inbound
 * sidecar's app those ours replace (<ours>). A request never passes them on: an inbound
 * sidecar reads and strips them, and toward an upstream ours replace them. */
static bool
mx_dropped(enum hname k, unsigned ours, bool inbound)
{
    if (k != H_MX && k != H_MX_ID) return false;
    return !inbound || (ours & (k == H_MX ? MX_HAS_VALUE : MX_HAS_ID));
}

/* Ours of <which> (MX_HAS_*), through <f>. */
static int
mx_fields(const struct req *q, unsigned which, headers_fn *f, void *arg)
{
    const struct mx *x = &q->conn->wk->mx;
    int rc = 0;
    if (which & MX_HAS_VALUE) rc = f(arg, SLICE_LIT(MX_HEADER), slice_make(x->value, x->value_len));
    if (!rc && (which & MX_HAS_ID)) {
        struct slice id = headers_untrusted(q->conn) ? x->id_router : x->id_sidecar;
        rc = f(arg, SLICE_LIT(MX_ID_HEADER), id);
    }
    return rc;
}

static int
put_field(void *out, struct slice name, struct slice value)
{
    return put_header(out, name, value);
}

static int
put_ops(struct buf *out, const struct model_header_ops *route, const struct model_header_ops *dest)
{
    return each_op(route, dest, put_field, out);
}

int
headers_response_fields(const struct req *q, const struct resp_head *r, headers_fn *f, void *arg)
{
    const struct model_header_ops *rs_route = q->route ? &q->route->headers.response : NULL;
    const struct model_header_ops *rs_dest = q->dest ? &q->dest->headers.response : NULL;
    const struct h1_header *fl = r->fields;
    bool ops = removes_any(rs_route) || removes_any(rs_dest);
    unsigned mx = mx_ours(q, false);
    int rc = 0;
    for (size_t i = 0; i < r->n_fields && !rc; i++) {
        struct slice nm = fl[i].name;
        enum hname k = classify(nm);
        if (k == H_HOP || k == H_CONTENT_LENGTH || k == H_SERVER ||
            (r->has_connection && named_by_connection(fl, r->n_fields, nm)))
            continue;
        if (ops && replaced(nm, rs_route, rs_dest)) continue;
        if (mx_dropped(k, mx, q->conn->ml->inbound)) continue;
        rc = f(arg, nm, fl[i].value);
    }
    if (!rc && mx) rc = mx_fields(q, mx, f, arg);
    if (!rc) rc = each_op(rs_route, rs_dest, f, arg);
    /* CORS headers on the response to an actual (not preflight) cross-origin request. */
    const struct model_cors *cors = q->route ? q->route->cors : NULL;
    if (!rc && cors && q->cors_origin.len) {
        rc = f(arg, SLICE_LIT("access-control-allow-origin"), q->cors_origin);
        if (!rc && cors->allow_credentials)
            rc = f(arg, SLICE_LIT("access-control-allow-credentials"), SLICE_LIT("true"));
        if (!rc && cors->expose_headers.len)
            rc = f(arg, SLICE_LIT("access-control-expose-headers"), cors->expose_headers);
    }
    if (!rc && q->set_cookie.len) rc = f(arg, SLICE_LIT("set-cookie"), q->set_cookie);
    return rc;
}

int
headers_local_fields(const struct local_reply *r, headers_fn *f, void *arg)
{
    int rc = 0;
    /* Envoy labels a local body text/plain unless the route's response ops say otherwise. */
    if (r->text && !replaced(SLICE_LIT("content-type"), r->ops, NULL))
        rc = f(arg, SLICE_LIT("content-type"), SLICE_LIT("text/plain"));
    for (size_t i = 0; i < r->n_fields && !rc; i++)
        rc = f(arg, r->fields[i].name, r->fields[i].value);
    if (!rc && r->mx) rc = mx_fields(r->mx_for, r->mx, f, arg);
    if (!rc) rc = each_op(r->ops, NULL, f, arg);
    return rc;
}

size_t
headers_cors_preflight(struct h1_header *f, const struct model_cors *cors, struct slice origin)
{
    size_t n = 0;
    f[n++] = (struct h1_header){SLICE_LIT("access-control-allow-origin"), origin};
    if (cors->allow_credentials)
        f[n++] =
            (struct h1_header){SLICE_LIT("access-control-allow-credentials"), SLICE_LIT("true")};
    if (cors->allow_methods.len)
        f[n++] = (struct h1_header){SLICE_LIT("access-control-allow-methods"), cors->allow_methods};
    if (cors->allow_headers.len)
        f[n++] = (struct h1_header){SLICE_LIT("access-control-allow-headers"), cors->allow_headers};
    if (cors->max_age.len)
        f[n++] = (struct h1_header){SLICE_LIT("access-control-max-age"), cors->max_age};
    return n;
}

/* An HTTP/2 WebSocket (RFC 8441) has no Sec-WebSocket-Key, which an HTTP/1.1 server must
 * see (RFC 6455 §4.1): one of 16 random bytes, base64, when the request has none. The
 * server's Sec-WebSocket-Accept goes back unused (RFC 8441 §5). */
static int
websocket_key(struct buf *out, const struct req *q, const struct req_head *r)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    struct slice have;
    if (!q->client_h2 || !slice_ieq(r->upgrade, "websocket") ||
        headers_find(r->fields, r->n_fields, "sec-websocket-key", &have))
        return 0;
    uint8_t raw[18] = {0};
    uint64_t a = prng_next(), b = prng_next();
    memcpy(raw, &a, 8);
    memcpy(raw + 8, &b, 8);
    char key[24];
    for (size_t i = 0, k = 0; i < 18; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        key[k++] = b64[v >> 18 & 63];
        key[k++] = b64[v >> 12 & 63];
        key[k++] = b64[v >> 6 & 63];
        key[k++] = b64[v & 63];
    }
    key[22] = key[23] = '='; /* 16 bytes: 22 characters and two pads */
    return put_header(out, SLICE_LIT("sec-websocket-key"), slice_make(key, 24));
}

int
headers_request(struct buf *out, const struct req *q, const struct req_head *r,
                const char *request_id, bool shadow)
{
    const struct conn *c = q->conn;
    const struct model_route *route = q->route;
    const struct model_headers *rh = route ? &route->headers : NULL;
    const struct model_headers *dh = q->dest ? &q->dest->headers : NULL;
    const struct model_header_ops *rq_route = rh ? &rh->request : NULL;
    const struct model_header_ops *rq_dest = dh ? &dh->request : NULL;
    char rewritten[8192];
    size_t rw =
        route ? route_rewrite_path(route, q->block, r->path, rewritten, sizeof(rewritten)) : 0;
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
    /* An extended CONNECT goes to an HTTP/1.1 server as the GET upgrade it stands for
     * (RFC 8441 §5; Envoy's transformUpgradeRequestFromH2toH1). */
    struct slice method =
        q->upgrade && slice_eq(r->method, "CONNECT") ? SLICE_LIT("GET") : r->method;
    int rc = put(out, method.ptr, method.len);
    if (!rc) rc = put(out, " ", 1);
    if (!rc) rc = put(out, path.ptr, path.len);
    if (!rc) rc = put(out, " HTTP/1.1\r\n", 11);
    if (!rc && authority.len) rc = put_header(out, SLICE_LIT("host"), authority);
    if (!rc && rw) rc = put_header(out, SLICE_LIT("x-envoy-original-path"), r->path);
    const struct h1_header *xff = NULL;
    bool have_xfp = false, have_rid = false;
    bool untrusted = headers_untrusted(c);
    bool ops = removes_any(rq_route) || removes_any(rq_dest);
    const struct h1_header *f = r->fields;
    for (size_t i = 0; i < r->n_fields && !rc; i++) {
        struct slice n = f[i].name;
        enum hname k = classify(n);
        if (k == H_HOP || k == H_CONTENT_LENGTH || k == H_HOST ||
            (r->has_connection && named_by_connection(f, r->n_fields, n)))
            continue;
        if (r->expect_continue && k == H_EXPECT) continue; /* answered by us */
        if (ops && replaced(n, rq_route, rq_dest)) continue;
        if (rw && k == H_ORIGINAL_PATH) continue; /* ours replaces it */
        if (k == H_MX || k == H_MX_ID) continue;  /* see mx_dropped */
        if (k == H_XFCC && c->ml->inbound)
            continue; /* only the sidecar's own (Envoy's
                       * SANITIZE_SET): never a client's */
        if (k == H_XFF) {
            xff = &f[i]; /* rewritten below with the client address appended */
            continue;
        }
        /* From an external client, x-envoy-* and x-request-id are not believed (Envoy at an
         * edge: internal-only headers stripped, a request id of its own). */
        if (untrusted && (k == H_REQUEST_ID || envoy_internal(n))) continue;
        have_xfp |= k == H_XFP;
        have_rid |= k == H_REQUEST_ID;
        rc = put_header(out, n, f[i].value);
    }
    if (!rc) rc = put_ops(out, rq_route, rq_dest);
    /* An upgrade keeps what makes it one, and only that: the client's other Connection
     * options were its own hop's (as Envoy's codec writes it). */
    if (!rc && q->upgrade && !shadow) {
        rc = put(out, "connection: upgrade\r\n", 21);
        if (!rc) rc = put_header(out, SLICE_LIT("upgrade"), r->upgrade);
        if (!rc) rc = websocket_key(out, q, r);
    }
    char ip[64];
    conn_peer_ip(c, ip, sizeof(ip));
    if (!rc) rc = put(out, "x-forwarded-for: ", 17);
    if (!rc && xff) rc = put(out, xff->value.ptr, xff->value.len);
    if (!rc && xff) rc = put(out, ", ", 2);
    if (!rc) rc = put(out, ip, strlen(ip));
    if (!rc) rc = put(out, "\r\n", 2);
    if (!rc && !have_xfp)
        rc = c->tls ? put(out, "x-forwarded-proto: https\r\n", 26)
                    : put(out, "x-forwarded-proto: http\r\n", 25);
    if (!rc && c->tls && c->secured) {
        const char *xfcc = tls_conn_xfcc(c->tls);
        rc = put_header(out, SLICE_LIT("x-forwarded-client-cert"), slice_make(xfcc, strlen(xfcc)));
    }
    unsigned mx = mx_ours(q, true);
    if (!rc && mx) rc = mx_fields(q, mx, put_field, out);
    if (!rc && !have_rid) {
        rc = put(out, "x-request-id: ", 14);
        if (!rc) rc = put(out, request_id, 36); /* a UUID */
        if (!rc) rc = put(out, "\r\n", 2);
    }
    if (!rc && q->body == REQ_BODY_LENGTH) {
        rc = put(out, "content-length: ", 16);
        if (!rc) rc = put_u64(out, q->body_len);
        if (!rc) rc = put(out, "\r\n", 2);
    } else if (!rc && q->body == REQ_BODY_STREAM && !q->upgrade) {
        rc = put(out, "transfer-encoding: chunked\r\n", 28);
    }
    if (!rc) rc = put(out, "\r\n", 2);
    return rc;
}

int
headers_response(struct buf *out, const struct req *q, const struct resp_head *r,
                 uint64_t upstream_ms, bool chunked_out, bool keep_alive)
{
    int rc = put(out, "HTTP/1.1 ", 9);
    if (!rc) rc = put_u64(out, (uint64_t)r->code);
    if (!rc) rc = put(out, " ", 1);
    if (!rc && r->reason.len)
        rc = put(out, r->reason.ptr, r->reason.len);
    else if (!rc)
        rc = put(out, reply_reason(r->code), strlen(reply_reason(r->code)));
    if (!rc) rc = put(out, "\r\n", 2);
    if (!rc) rc = headers_response_fields(q, r, put_field, out);
    if (!rc) rc = put(out, "server: meshlet\r\nx-envoy-upstream-service-time: ", 48);
    if (!rc) rc = put_u64(out, upstream_ms);
    if (!rc) rc = put(out, "\r\n", 2);
    struct slice up;
    if (r->code == 101 && headers_find(r->fields, r->n_fields, "upgrade", &up)) {
        /* Switching protocols: no framing, and the connection is the new protocol's. */
        if (!rc) rc = put(out, "connection: upgrade\r\n", 21);
        if (!rc) rc = put_header(out, SLICE_LIT("upgrade"), up);
        if (!rc) rc = put(out, "\r\n", 2);
        return rc;
    }
    const struct h1_header *cl = r->content_length;
    if (!rc && r->body == RESP_BODY_LENGTH) {
        rc = put(out, "content-length: ", 16);
        if (!rc) rc = put_u64(out, r->body_len);
        if (!rc) rc = put(out, "\r\n", 2);
    } else if (!rc && r->body == RESP_BODY_NONE && cl && r->code >= 200 && r->code != 204) {
        rc = put_header(out, SLICE_LIT("content-length"), cl->value); /* HEAD, 304 */
    } else if (!rc && chunked_out) {
        rc = put(out, "transfer-encoding: chunked\r\n", 28);
    }
    if (!rc && !keep_alive) rc = put(out, "connection: close\r\n", 19);
    if (!rc) rc = put(out, "\r\n", 2);
    return rc;
}

int
headers_local(struct buf *out, const struct local_reply *r, bool close)
{
    int rc = put(out, "HTTP/1.1 ", 9);
    if (!rc) rc = put_u64(out, (uint64_t)r->status);
    if (!rc) rc = put(out, " ", 1);
    if (!rc) rc = put(out, reply_reason(r->status), strlen(reply_reason(r->status)));
    if (!rc) rc = put(out, "\r\ncontent-length: ", 18);
    if (!rc) rc = put_u64(out, r->body.len);
    if (!rc) rc = put(out, "\r\n", 2);
    if (!rc) rc = headers_local_fields(r, put_field, out);
    if (!rc) rc = put(out, "server: meshlet\r\n", 17);
    if (!rc && close) rc = put(out, "connection: close\r\n", 19);
    if (!rc) rc = put(out, "\r\n", 2);
    if (!rc && r->body.len && !r->no_body) rc = buf_append(out, r->body.ptr, r->body.len);
    return rc;
}
