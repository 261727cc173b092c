/* SPDX-License-Identifier: Apache-2.0 */
/* Matching a request against compiled routes. Header names compare case-insensitively;
 * values byte for byte; repeated header lines are joined with ',' before matching (Envoy);
 * for query parameters only the first occurrence counts (Envoy getFirstValue); uri exact
 * and regex ignore the query, prefix is a plain string prefix of the path. L4 blocks (tcp and
 * tls rules) look at the ClientHello's SNI and the address the connection reached. */
#include "model/route.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/regex.h"

static bool
sm_matches(const struct model_string_match *m, struct slice v, bool icase)
{
    switch (m->kind) {
    case MODEL_SM_PRESENT: return true;
    case MODEL_SM_EXACT:
        if (v.len != m->value.len) return false;
        if (!icase) return memcmp(v.ptr, m->value.ptr, v.len) == 0;
        for (size_t i = 0; i < v.len; i++)
            if (slice_lower_ascii(v.ptr[i]) != slice_lower_ascii(m->value.ptr[i])) return false;
        return true;
    case MODEL_SM_PREFIX:
        if (v.len < m->value.len) return false;
        if (!icase) return memcmp(v.ptr, m->value.ptr, m->value.len) == 0;
        for (size_t i = 0; i < m->value.len; i++)
            if (slice_lower_ascii(v.ptr[i]) != slice_lower_ascii(m->value.ptr[i])) return false;
        return true;
    case MODEL_SM_REGEX: return m->re && regex_full_match(m->re, v.ptr, v.len);
    }
    return false;
}

/* The value of header <name>: several lines are joined with ',' into <scratch>. Returns
 * false when absent (or too long to join). */
static bool
header_value(const struct route_request *rq, struct slice name, char *scratch, size_t cap,
             struct slice *out)
{
    size_t found = 0, len = 0;
    for (size_t i = 0; i < rq->n_headers; i++) {
        const struct route_header *h = &rq->headers[i];
        if (h->name.len != name.len) continue;
        bool same = true;
        for (size_t k = 0; k < name.len && same; k++)
            same = slice_lower_ascii(h->name.ptr[k]) == name.ptr[k];
        if (!same) continue;
        if (found == 0) {
            *out = h->value;
        } else {
            if (found == 1) {
                if (out->len > cap) return false;
                memcpy(scratch, out->ptr, out->len);
                len = out->len;
            }
            if (len + 1 + h->value.len > cap) return false;
            scratch[len++] = ',';
            memcpy(scratch + len, h->value.ptr, h->value.len);
            len += h->value.len;
            *out = slice_make(scratch, len);
        }
        found++;
    }
    return found > 0;
}

/* The first value of query parameter <name>; "?key" counts as present with "". */
static bool
query_value(struct slice path, struct slice name, struct slice *out)
{
    const char *q = memchr(path.ptr, '?', path.len);
    if (!q) return false;
    const char *end = path.ptr + path.len;
    for (const char *p = q + 1; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        if (!amp) amp = end;
        const char *eq = memchr(p, '=', (size_t)(amp - p));
        const char *kend = eq ? eq : amp;
        if ((size_t)(kend - p) == name.len && !memcmp(p, name.ptr, name.len)) {
            *out = eq ? slice_make(eq + 1, (size_t)(amp - eq - 1)) : slice_make(amp, 0);
            return true;
        }
        p = amp + 1;
    }
    return false;
}

static const char *
kind_name(const struct model_string_match *m)
{
    switch (m->kind) {
    case MODEL_SM_EXACT: return "exact";
    case MODEL_SM_PREFIX: return "prefix";
    case MODEL_SM_REGEX: return "regex";
    default: return "present";
    }
}

/* "<what> <value> does not match <kind> <wanted>" into <why>; always false. */
static bool
mismatch(char *why, size_t why_len, const char *what, struct slice name, struct slice got,
         const struct model_string_match *m)
{
    if (!why) return false;
    snprintf(why, why_len, "%s%s%.*s \"%.*s\" does not match %s%s%.*s%s", what, name.len ? " " : "",
             (int)name.len, name.ptr, (int)got.len, got.ptr, kind_name(m),
             m->kind == MODEL_SM_REGEX ? "" : " \"", (int)m->value.len, m->value.ptr,
             m->kind == MODEL_SM_REGEX ? "" : "\"");
    return false;
}

static bool
absent(char *why, size_t why_len, const char *what, struct slice name)
{
    if (why) snprintf(why, why_len, "%s %.*s absent", what, (int)name.len, name.ptr);
    return false;
}

/* Does <sni> match pattern <p> (lower case: exact, "*.suffix" or "*")? Case-insensitive. */
static bool
sni_matches(const char *p, struct slice sni)
{
    if (!strcmp(p, "*")) return true;
    size_t pl = strlen(p);
    if (p[0] == '*') { /* "*.example.com": at least one label before the suffix */
        if (sni.len < pl) return false;
        return slice_ieq(slice_make(sni.ptr + sni.len - (pl - 1), pl - 1), p + 1);
    }
    return slice_ieq(sni, p);
}

/* Is <ss> (IPv4, IPv6, or IPv4-mapped IPv6) inside block <c>? */
static bool
cidr_contains(const struct model_cidr *c, const struct sockaddr_storage *ss)
{
    const uint8_t *a;
    if (ss->ss_family == AF_INET) {
        if (c->family != AF_INET) return false;
        a = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
    } else if (ss->ss_family == AF_INET6) {
        a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (c->family == AF_INET) {
            if (memcmp(a, mapped, sizeof(mapped))) return false;
            a += 12;
        }
    } else {
        return false;
    }
    size_t full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(a, c->addr, full)) return false;
    if (!rest) return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (c->addr[full] & mask);
}

/* "[a, b]" of <m>'s sniHosts or subnets, into <buf>. */
static const char *
l4_list(const struct model_match *m, bool sni, char *buf, size_t cap)
{
    size_t n = 0, count = sni ? m->n_sni : m->n_subnets;
    buf[n++] = '[';
    for (size_t i = 0; i < count && n < cap; i++) {
        char text[INET6_ADDRSTRLEN + 8];
        if (!sni) {
            const struct model_cidr *c = &m->subnets[i];
            char ip[INET6_ADDRSTRLEN];
            inet_ntop(c->family, c->addr, ip, sizeof(ip));
            snprintf(text, sizeof(text), "%s/%u", ip, c->bits);
        }
        int k = snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", sni ? m->sni[i] : text);
        n += k > 0 ? (size_t)k : 0;
    }
    if (n < cap - 1) {
        buf[n++] = ']';
        buf[n] = '\0';
    } else {
        buf[cap - 1] = '\0';
    }
    return buf;
}

/* The L4 conditions of <m> (sniHosts, destinationSubnets); none: true. */
static bool
l4_matches(const struct model_match *m, const struct route_request *rq, char *why, size_t why_len)
{
    char list[512];
    bool hit = !m->n_sni;
    for (size_t i = 0; i < m->n_sni && !hit; i++) hit = sni_matches(m->sni[i], rq->sni);
    if (!hit) {
        if (why)
            snprintf(why, why_len, "sni %.*s not in %s", rq->sni.len ? (int)rq->sni.len : 6,
                     rq->sni.len ? rq->sni.ptr : "(none)", l4_list(m, true, list, sizeof(list)));
        return false;
    }
    hit = !m->n_subnets;
    for (size_t i = 0; i < m->n_subnets && !hit && rq->dst; i++)
        hit = cidr_contains(&m->subnets[i], rq->dst);
    if (!hit) {
        if (why) {
            char ip[INET6_ADDRSTRLEN] = "(unknown)";
            if (rq->dst && rq->dst->ss_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)rq->dst)->sin_addr, ip,
                          sizeof(ip));
            else if (rq->dst && rq->dst->ss_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)rq->dst)->sin6_addr, ip,
                          sizeof(ip));
            snprintf(why, why_len, "destination %s not in %s", ip,
                     l4_list(m, false, list, sizeof(list)));
        }
        return false;
    }
    return true;
}

bool
route_block_matches(const struct model_match *m, const struct route_request *rq, char *why,
                    size_t why_len)
{
    static const struct slice none = {"", 0};
    if ((m->n_sni || m->n_subnets) && !l4_matches(m, rq, why, why_len)) return false;
    const char *qmark = rq->path.len ? memchr(rq->path.ptr, '?', rq->path.len) : NULL;
    struct slice path = qmark ? slice_make(rq->path.ptr, (size_t)(qmark - rq->path.ptr)) : rq->path;
    if (m->has_uri && !sm_matches(&m->uri, path, m->ignore_uri_case))
        return mismatch(why, why_len, "uri", none, path, &m->uri);
    if (m->has_method && !sm_matches(&m->method, rq->method, false))
        return mismatch(why, why_len, "method", none, rq->method, &m->method);
    if (m->has_authority && !sm_matches(&m->authority, rq->authority, false))
        return mismatch(why, why_len, "authority", none, rq->authority, &m->authority);
    if (m->has_scheme && !sm_matches(&m->scheme, rq->scheme, false))
        return mismatch(why, why_len, "scheme", none, rq->scheme, &m->scheme);
    char scratch[8192];
    for (size_t i = 0; i < m->n_headers; i++) {
        const struct model_header_match *h = &m->headers[i];
        struct slice v;
        bool present = header_value(rq, h->name, scratch, sizeof(scratch), &v);
        if (h->invert) {
            /* withoutHeaders: an absent header reads as "" (so {} holds, exact "" fails). */
            bool hit =
                present ? sm_matches(&h->m, v, false)
                        : h->m.kind != MODEL_SM_PRESENT && sm_matches(&h->m, SLICE_LIT(""), false);
            if (hit) {
                if (why)
                    snprintf(why, why_len, "header %.*s matches a withoutHeaders condition",
                             (int)h->name.len, h->name.ptr);
                return false;
            }
            continue;
        }
        if (!present) return absent(why, why_len, "header", h->name);
        if (!sm_matches(&h->m, v, false))
            return mismatch(why, why_len, "header", h->name, v, &h->m);
    }
    for (size_t i = 0; i < m->n_query; i++) {
        const struct model_header_match *q = &m->query[i];
        struct slice v;
        if (!query_value(rq->path, q->name, &v))
            return absent(why, why_len, "query parameter", q->name);
        if (!sm_matches(&q->m, v, false))
            return mismatch(why, why_len, "query parameter", q->name, v, &q->m);
    }
    return true;
}

const struct model_route *
route_match(const struct model_vhost *vh, const struct route_request *rq, int *block)
{
    if (!vh) return NULL;
    for (size_t i = 0; i < vh->n_routes; i++) {
        const struct model_route *r = &vh->routes[i];
        if (!r->n_matches) {
            if (block) *block = -1;
            return r;
        }
        for (size_t k = 0; k < r->n_matches; k++) {
            if (route_block_matches(&r->matches[k], rq, NULL, 0)) {
                if (block) *block = (int)k;
                return r;
            }
        }
    }
    return NULL;
}

size_t
route_rewrite_path(const struct model_route *r, int block, struct slice path, char *buf, size_t cap)
{
    if (!r->has_uri_rewrite && !r->uri_regex) return 0; /* most routes: no scan */
    const char *q = memchr(path.ptr, '?', path.len);
    size_t plen = q ? (size_t)(q - path.ptr) : path.len;
    struct slice query = slice_make(path.ptr + plen, path.len - plen);
    size_t n = 0;
    if (r->has_uri_rewrite) {
        /* Istio compiles a rule without a uri match as prefix "/": a prefix match replaces
         * the matched prefix, exact and regex matches the whole path; the query stays. */
        size_t keep_from = path.len && path.ptr[0] == '/' ? 1 : 0;
        if (block >= 0 && r->matches[block].has_uri) {
            const struct model_string_match *u = &r->matches[block].uri;
            keep_from = u->kind == MODEL_SM_PREFIX ? u->value.len : plen;
        }
        if (keep_from > plen) keep_from = plen;
        size_t rest = plen - keep_from;
        n = r->uri_rewrite.len + rest + query.len;
        if (n >= cap) return 0;
        memcpy(buf, r->uri_rewrite.ptr, r->uri_rewrite.len);
        memcpy(buf + r->uri_rewrite.len, path.ptr + keep_from, rest);
        memcpy(buf + r->uri_rewrite.len + rest, query.ptr, query.len);
        return n;
    }
    if (r->uri_regex) {
        n = regex_substitute(r->uri_regex, path.ptr, plen, r->uri_regex_sub, buf, cap);
        if (!n || n + query.len >= cap) return 0;
        memcpy(buf + n, query.ptr, query.len);
        return n + query.len;
    }
    return 0;
}

bool
route_cors_allows(const struct model_cors *c, struct slice origin)
{
    for (size_t i = 0; i < c->n_origins; i++)
        if (sm_matches(&c->origins[i], origin, false)) return true;
    return false;
}

static struct slice
trim_ows(struct slice s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) s = slice_make(s.ptr + 1, s.len - 1);
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t')) s.len--;
    return s;
}

bool
route_cookie(struct slice v, const char *name, struct slice *out)
{
    size_t nlen = strlen(name);
    while (v.len) {
        const char *semi = memchr(v.ptr, ';', v.len);
        size_t n = semi ? (size_t)(semi - v.ptr) : v.len;
        struct slice pair = trim_ows(slice_make(v.ptr, n));
        v = semi ? slice_make(semi + 1, v.len - n - 1) : slice_make(v.ptr + n, 0);
        const char *eq = memchr(pair.ptr, '=', pair.len);
        if (!eq) continue;
        struct slice k = trim_ows(slice_make(pair.ptr, (size_t)(eq - pair.ptr)));
        if (k.len != nlen || memcmp(k.ptr, name, nlen)) continue;
        struct slice val = trim_ows(slice_make(eq + 1, pair.len - (size_t)(eq + 1 - pair.ptr)));
        if (val.len >= 2 && val.ptr[0] == '"' && val.ptr[val.len - 1] == '"')
            val = slice_make(val.ptr + 1, val.len - 2);
        *out = val;
        return true;
    }
    return false;
}

bool
route_sticky_key(const struct model_route *r, const struct route_request *rq, struct slice *key)
{
    if (r->sticky_on == MODEL_STICKY_NONE) return false;
    bool cookie = r->sticky_on == MODEL_STICKY_COOKIE;
    const char *field = cookie ? "cookie" : r->sticky_name;
    for (size_t i = 0; i < rq->n_headers; i++) {
        if (!slice_ieq(rq->headers[i].name, field)) continue;
        /* HTTP/2 may send each cookie in a field of its own (RFC 9113 §8.2.3): look on. */
        if (cookie && !route_cookie(rq->headers[i].value, r->sticky_name, key)) continue;
        if (!cookie) *key = rq->headers[i].value;
        return key->len > 0;
    }
    return false;
}

const char *
route_sticky_source(const struct model_route *r)
{
    switch (r->sticky_on) {
    case MODEL_STICKY_HEADER: return "header";
    case MODEL_STICKY_COOKIE: return "cookie";
    default: return NULL;
    }
}
