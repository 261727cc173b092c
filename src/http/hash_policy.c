/* SPDX-License-Identifier: Apache-2.0 */
/* The request's key for a consistent-hash pool, from the DestinationRule's consistentHash:
 * a header, a cookie, the client IP or a query parameter, hashed with xxHash64 as Envoy
 * does. A missing cookie with a ttl is generated from the connection's addresses (the same
 * value for every request of one connection) and set on the response. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/conn.h"
#include "http/hash_policy.h"
#include "http/req.h"
#include "lb/lb.h"
#include "model/route.h"

/* Split <s> at the first <sep>: <s> becomes the rest, the part before is returned. */
static struct slice
next_part(struct slice *s, char sep)
{
    const char *end = memchr(s->ptr, sep, s->len);
    size_t n = end ? (size_t)(end - s->ptr) : s->len;
    struct slice part = slice_make(s->ptr, n);
    *s = end ? slice_make(end + 1, s->len - n - 1) : slice_make(s->ptr + n, 0);
    return part;
}

static bool
cookie_value(const struct req_head *h, const char *name, struct slice *out)
{
    for (size_t i = 0; i < h->n_fields; i++)
        if (slice_ieq(h->fields[i].name, "cookie") && route_cookie(h->fields[i].value, name, out))
            return true;
    return false;
}

static bool
query_value(struct slice path, const char *name, struct slice *out)
{
    const char *q = memchr(path.ptr, '?', path.len);
    if (!q) return false;
    struct slice rest = slice_make(q + 1, path.len - (size_t)(q + 1 - path.ptr));
    size_t nlen = strlen(name);
    while (rest.len) {
        struct slice pair = next_part(&rest, '&');
        struct slice key = next_part(&pair, '=');
        if (key.len == nlen && !memcmp(key.ptr, name, nlen)) {
            *out = pair; /* the first occurrence counts, as Envoy */
            return true;
        }
    }
    return false;
}

static int
by_bytes(const void *a, const void *b)
{
    const struct slice *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->ptr, y->ptr, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Envoy hashes every value of a repeated header, sorted so that their order does not
 * matter, chaining xxHash64 seeds; a single value hashes as itself. */
static bool
header_hash(const struct req_head *h, const char *name, uint64_t *out)
{
    struct slice v[16];
    size_t n = 0;
    for (size_t i = 0; i < h->n_fields && n < 16; i++)
        if (slice_ieq(h->fields[i].name, name)) v[n++] = h->fields[i].value;
    if (!n) return false;
    qsort(v, n, sizeof(v[0]), by_bytes);
    uint64_t hash = 0;
    for (size_t i = 0; i < n; i++) hash = lb_hash_seeded(v[i].ptr, v[i].len, hash);
    *out = hash;
    return true;
}

/* Envoy's generated cookie: the hex xxHash64 of the client and local addresses. */
static struct slice
generate_cookie(struct req *q, const struct model_hash *hc)
{
    const struct conn *c = q->conn;
    char ip[64], addrs[96], value[17];
    conn_peer_ip(c, ip, sizeof(ip));
    int n = snprintf(addrs, sizeof(addrs), "%s:%u|%u", ip, c->peer_port, c->ml->port);
    snprintf(value, sizeof(value), "%016llx", (unsigned long long)lb_hash(addrs, (size_t)n));
    enum { SET_COOKIE_BYTES = 256 };
    char *sc = req_alloc(q, SET_COOKIE_BYTES);
    if (!sc) return slice_make("", 0);
    size_t cap = SET_COOKIE_BYTES, len = 0;
    int w = snprintf(sc, cap, "%s=\"%s\"", hc->name, value);
    if (w > 0) len = (size_t)w;
    if (hc->cookie_ttl_s > 0 && len < cap) {
        w = snprintf(sc + len, cap - len, "; Max-Age=%lld", (long long)hc->cookie_ttl_s);
        if (w > 0) len += (size_t)w;
    }
    if (hc->cookie_path && hc->cookie_path[0] && len < cap) {
        w = snprintf(sc + len, cap - len, "; Path=%s", hc->cookie_path);
        if (w > 0) len += (size_t)w;
    }
    for (size_t i = 0; i < hc->n_cookie_attrs && len < cap; i++) {
        const struct model_cookie_attr *at = &hc->cookie_attrs[i];
        w = at->value && at->value[0]
                ? snprintf(sc + len, cap - len, "; %s=%s", at->name, at->value)
                : snprintf(sc + len, cap - len, "; %s", at->name);
        if (w > 0) len += (size_t)w;
    }
    if (len < cap) {
        w = snprintf(sc + len, cap - len, "; HttpOnly");
        if (w > 0) len += (size_t)w;
    }
    /* A cookie that does not fit is not sent rather than sent cut. */
    q->set_cookie = slice_make(sc, len < cap ? len : 0);
    size_t off = strlen(hc->name) + 2;
    return slice_make(sc + off, 16);
}

bool
hash_policy_key(struct req *q, const struct req_head *r, const struct model_cluster *cl,
                uint64_t *out)
{
    const struct model_hash *ch = &cl->policy.lb.hash;
    if (cl->policy.lb.kind != MODEL_LB_CONSISTENT_HASH) return false;
    struct slice v;
    if (ch->on == MODEL_HASH_HEADER) {
        return header_hash(r, ch->name, out);
    } else if (ch->on == MODEL_HASH_COOKIE) {
        if (!cookie_value(r, ch->name, &v)) {
            if (!ch->cookie_ttl_set) return false;
            v = generate_cookie(q, ch);
            if (!q->set_cookie.len) return false;
        }
    } else if (ch->on == MODEL_HASH_SOURCE_IP) {
        char ip[64];
        conn_peer_ip(q->conn, ip, sizeof(ip));
        *out = lb_hash(ip, strlen(ip));
        return true;
    } else if (ch->on == MODEL_HASH_QUERY) {
        if (!query_value(r->path, ch->name, &v)) return false;
    } else {
        return false;
    }
    *out = lb_hash(v.ptr, v.len);
    return true;
}
