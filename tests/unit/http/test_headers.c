/* SPDX-License-Identifier: Apache-2.0 */
/* The heads meshlet writes (headers.c), byte for byte: the request for an upstream (hop-by-hop
 * fields dropped, our own framing, host, x-forwarded-*, x-request-id, what an untrusted
 * client may not set, rewrites, header operations, mirrors), the response to the client
 * (status line, server, x-envoy-upstream-service-time, framing, CORS, set-cookie) and local
 * replies. Every expected value is Envoy's as Istio configures it (spec §3.10, §3.11,
 * §3.14, §3.15, §7.3) and is cited where it is not obvious. The request, its connection and
 * the routes are built by hand: no sockets, no snapshot. */
#include <string.h>
#include <sys/socket.h>

#include "core/compiler.h"
#include "harness.h"
#include "http/h1_int.h"
#include "http/peer_metadata.h"
#include "model/model.h"

#define RID "0f8fad5b-d9cb-469f-a165-70867728950e" /* the id meshlet would generate */
#define FIELD(n, v)                                                                                \
    {                                                                                              \
        SLICE_LIT(n), SLICE_LIT(v)                                                                 \
    }
#define S(s) SLICE_LIT(s)

/* A Gateway server's listener: its clients are external (Envoy's use_remote_address edge). */
static const struct model_listener gateway_listener = {.name = "gateway prod/gw server 0",
                                                       .port = 8080};
/* The outbound listener the local app sends to, and an inbound sidecar's: mesh hops. */
static const struct model_listener mesh_listener = {.name = "mesh", .port = 15001, .mesh = true};
static const struct model_listener inbound_listener = {
    .name = "inbound 9080", .port = 9080, .inbound = true};

static struct conn conn;
static struct worker wk; /* its metadata exchange only; empty: no header sent */
static struct req req;
static struct buf out;
static char text[16384];

static void
client_ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    memset(conn.peer, 0, sizeof(conn.peer));
    conn.peer[0] = a;
    conn.peer[1] = b;
    conn.peer[2] = c;
    conn.peer[3] = d;
    conn.peer_family = AF_INET;
}

static int
setup(void **state)
{
    (void)state;
    memset(&conn, 0, sizeof(conn));
    memset(&wk, 0, sizeof(wk));
    conn.wk = &wk;
    conn.ml = &gateway_listener;
    client_ipv4(192, 0, 2, 5); /* not loopback: Envoy appends its own address for those */
    memset(&req, 0, sizeof(req));
    req.conn = &conn;
    req.block = -1;
    req.body = REQ_BODY_NONE;
    buf_init_empty(&out, 1 << 16);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    mx_fini(&wk.mx);
    buf_fini(&out);
    return 0;
}

/* What <out> holds, as a string, then empty it for the next head. */
static const char *
taken(void)
{
    size_t n = buf_len(&out);
    assert_true(n < sizeof(text));
    if (n) memcpy(text, buf_head(&out), n);
    text[n] = '\0';
    buf_consume(&out, n);
    return text;
}

static struct req_head
head(const char *method, const char *authority, const char *path, const struct h1_header *f,
     size_t n)
{
    return (struct req_head){
        .method = slice_make(method, strlen(method)),
        .authority = slice_make(authority, strlen(authority)),
        .path = slice_make(path, strlen(path)),
        .fields = f,
        .n_fields = n,
    };
}

static const char *
upstream_head(const struct req_head *h, bool shadow)
{
    assert_int_equal(headers_request(&out, &req, h, RID, shadow), 0);
    return taken();
}

/* On sidecar listeners Istio leaves use_remote_address off, so Envoy does not touch
 * x-forwarded-for there; tests of those listeners leave that line out of what they assert
 * (the gateway tests assert it). */
static const char *
without_xff(const char *s)
{
    static char copy[sizeof(text)];
    const char *line = strstr(s, "\r\nx-forwarded-for: ");
    assert_non_null(line);
    const char *end = strstr(line + 2, "\r\n");
    size_t keep = (size_t)(line - s) + 2;
    memcpy(copy, s, keep);
    memcpy(copy + keep, end + 2, strlen(end + 2) + 1);
    return copy;
}

/* <s> begins with <prefix> (a failure shows both). */
static void
assert_prefix(const char *s, const char *prefix)
{
    if (strncmp(s, prefix, strlen(prefix)))
        fail_msg("\"%s\"\ndoes not begin with\n\"%s\"", s, prefix);
}

/* --- headers_request --- */

static void
test_request_drops_hop_by_hop_fields_and_those_connection_names(void **state)
{
    (void)state;
    const struct h1_header f[] = {
        FIELD("Host", "api.example.com"),
        FIELD("Connection", "keep-alive, X-Hop-A ,\tx-hop-b"),
        FIELD("Keep-Alive", "timeout=5"),
        FIELD("Transfer-Encoding", "chunked"),
        FIELD("TE", "trailers"),
        FIELD("Upgrade", "websocket"),
        FIELD("Proxy-Connection", "keep-alive"),
        FIELD("Accept", "*/*"),
        FIELD("x-hop-a", "1"),
        FIELD("X-HOP-B", "2"),
        FIELD("X-Hop-C", "3"), /* named by no Connection field: end to end */
        FIELD("User-Agent", "curl/8.5.0"),
    };
    struct req_head h = head("POST", "api.example.com", "/orders", f, ARRAY_SIZE(f));
    h.has_connection = true;
    req.body = REQ_BODY_STREAM;
    assert_string_equal(upstream_head(&h, false), "POST /orders HTTP/1.1\r\n"
                                                  "host: api.example.com\r\n"
                                                  "Accept: */*\r\n"
                                                  "X-Hop-C: 3\r\n"
                                                  "User-Agent: curl/8.5.0\r\n"
                                                  "x-forwarded-for: 192.0.2.5\r\n"
                                                  "x-forwarded-proto: http\r\n"
                                                  "x-request-id: " RID "\r\n"
                                                  "transfer-encoding: chunked\r\n"
                                                  "\r\n");
}

/* An upgrade keeps Upgrade and `Connection: upgrade` (and nothing else its Connection named):
 * the server must see what it is asked to switch to. */
static void
test_request_upgrade_keeps_upgrade_and_connection(void **state)
{
    (void)state;
    const struct h1_header f[] = {
        FIELD("Host", "api.example.com"),
        FIELD("Connection", "Upgrade, x-hop"),
        FIELD("Upgrade", "websocket"),
        FIELD("x-hop", "1"),
        FIELD("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        FIELD("Sec-WebSocket-Version", "13"),
    };
    struct req_head h = head("GET", "api.example.com", "/chat", f, ARRAY_SIZE(f));
    h.has_connection = true;
    h.upgrade = S("websocket");
    req.upgrade = true;
    assert_string_equal(upstream_head(&h, false), "GET /chat HTTP/1.1\r\n"
                                                  "host: api.example.com\r\n"
                                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                                  "Sec-WebSocket-Version: 13\r\n"
                                                  "connection: upgrade\r\n"
                                                  "upgrade: websocket\r\n"
                                                  "x-forwarded-for: 192.0.2.5\r\n"
                                                  "x-forwarded-proto: http\r\n"
                                                  "x-request-id: " RID "\r\n"
                                                  "\r\n");
}

static void
test_request_framing_is_our_own(void **state)
{
    (void)state;
    /* A known length: one content-length of ours, whatever the client wrote. */
    const struct h1_header with_length[] = {FIELD("Content-Length", "0011"),
                                            FIELD("Content-Type", "text/plain")};
    struct req_head h = head("PUT", "a.example", "/x", with_length, ARRAY_SIZE(with_length));
    req.body = REQ_BODY_LENGTH;
    req.body_len = 11;
    assert_string_equal(upstream_head(&h, false), "PUT /x HTTP/1.1\r\n"
                                                  "host: a.example\r\n"
                                                  "Content-Type: text/plain\r\n"
                                                  "x-forwarded-for: 192.0.2.5\r\n"
                                                  "x-forwarded-proto: http\r\n"
                                                  "x-request-id: " RID "\r\n"
                                                  "content-length: 11\r\n"
                                                  "\r\n");
    req.body_len = 1099511627776ull; /* 1 TiB: every digit written */
    assert_non_null(strstr(upstream_head(&h, false), "\r\ncontent-length: 1099511627776\r\n\r\n"));

    /* A body of unknown length (chunked, or HTTP/2 DATA later): chunked upstream. */
    const struct h1_header chunked[] = {FIELD("Transfer-Encoding", "chunked")};
    h = head("POST", "a.example", "/x", chunked, ARRAY_SIZE(chunked));
    req.body = REQ_BODY_STREAM;
    const char *s = upstream_head(&h, false);
    assert_non_null(strstr(s, "\r\nx-request-id: " RID "\r\ntransfer-encoding: chunked\r\n\r\n"));
    assert_null(strstr(s, "Transfer-Encoding"));
    assert_null(strstr(s, "content-length"));

    /* No body: no framing field at all. */
    h = head("GET", "a.example", "/x", NULL, 0);
    req.body = REQ_BODY_NONE;
    assert_string_equal(upstream_head(&h, false), "GET /x HTTP/1.1\r\n"
                                                  "host: a.example\r\n"
                                                  "x-forwarded-for: 192.0.2.5\r\n"
                                                  "x-forwarded-proto: http\r\n"
                                                  "x-request-id: " RID "\r\n"
                                                  "\r\n");
}

static void
test_request_host_is_the_authority(void **state)
{
    (void)state;
    /* An absolute-form target's authority wins over a Host field (RFC 9112 §3.2.2): the
     * codec says which in <authority>; the Host field itself never goes through. */
    const struct h1_header f[] = {FIELD("Host", "stale.example"), FIELD("Accept", "*/*")};
    struct req_head h = head("GET", "api.example.com:8443", "/", f, ARRAY_SIZE(f));
    const char *s = upstream_head(&h, false);
    assert_prefix(s, "GET / HTTP/1.1\r\nhost: api.example.com:8443\r\nAccept: */*\r\n");
    assert_null(strstr(s, "stale.example"));
}

static void
test_request_appends_the_client_to_x_forwarded_for(void **state)
{
    (void)state;
    /* Envoy's own example 1 (use_remote_address, no trusted hops): the immediate client is
     * appended to what the client sent. (Envoy before 1.16 joined with ", ", later ones
     * with ","; both are the same list.) */
    const struct h1_header f[] = {
        FIELD("x-Forwarded-For", "203.0.113.128, 203.0.113.10, 203.0.113.1"),
        FIELD("Accept", "*/*"),
    };
    struct req_head h = head("GET", "a.example", "/", f, ARRAY_SIZE(f));
    assert_string_equal(upstream_head(&h, false),
                        "GET / HTTP/1.1\r\n"
                        "host: a.example\r\n"
                        "Accept: */*\r\n"
                        "x-forwarded-for: 203.0.113.128, 203.0.113.10, 203.0.113.1, 192.0.2.5\r\n"
                        "x-forwarded-proto: http\r\n"
                        "x-request-id: " RID "\r\n"
                        "\r\n");

    /* An IPv6 client, as Envoy's addressAsString writes it (no brackets). */
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x01};
    memcpy(conn.peer, v6, sizeof(v6));
    conn.peer_family = AF_INET6;
    h = head("GET", "a.example", "/", NULL, 0);
    assert_non_null(strstr(upstream_head(&h, false), "\r\nx-forwarded-for: 2001:db8::1\r\n"));
}

static void
test_request_x_forwarded_proto_says_the_client_transport(void **state)
{
    (void)state;
    struct req_head h = head("GET", "a.example", "/", NULL, 0);
    assert_non_null(strstr(upstream_head(&h, false), "\r\nx-forwarded-proto: http\r\n"));

    /* TLS from the client (its handshake begun; no peer certificate to report). */
    static char tls_stand_in;
    conn.tls = (struct tls_conn *)&tls_stand_in;
    const char *s = upstream_head(&h, false);
    assert_non_null(strstr(s, "\r\nx-forwarded-proto: https\r\n"));
    assert_null(strstr(s, "x-forwarded-client-cert"));

    /* A mesh hop trusts the proto its client set (Envoy keeps it when use_remote_address is
     * off, and only adds one when absent). */
    conn.tls = NULL;
    conn.ml = &mesh_listener;
    const struct h1_header f[] = {FIELD("X-Forwarded-Proto", "https")};
    h = head("GET", "a.example", "/", f, ARRAY_SIZE(f));
    assert_string_equal(without_xff(upstream_head(&h, false)), "GET / HTTP/1.1\r\n"
                                                               "host: a.example\r\n"
                                                               "X-Forwarded-Proto: https\r\n"
                                                               "x-request-id: " RID "\r\n"
                                                               "\r\n");
}

static void
test_request_id_is_added_only_when_absent(void **state)
{
    (void)state;
    /* A mesh hop keeps the id its client propagates (Envoy: generated only if absent). */
    conn.ml = &mesh_listener;
    const struct h1_header with_id[] = {FIELD("X-Request-Id", "caller-chosen-id")};
    struct req_head h = head("GET", "a.example", "/", with_id, ARRAY_SIZE(with_id));
    assert_string_equal(without_xff(upstream_head(&h, false)), "GET / HTTP/1.1\r\n"
                                                               "host: a.example\r\n"
                                                               "X-Request-Id: caller-chosen-id\r\n"
                                                               "x-forwarded-proto: http\r\n"
                                                               "\r\n");
    h = head("GET", "a.example", "/", NULL, 0);
    assert_string_equal(without_xff(upstream_head(&h, false)), "GET / HTTP/1.1\r\n"
                                                               "host: a.example\r\n"
                                                               "x-forwarded-proto: http\r\n"
                                                               "x-request-id: " RID "\r\n"
                                                               "\r\n");
    conn.ml = &inbound_listener;
    h = head("GET", "a.example", "/", with_id, ARRAY_SIZE(with_id));
    const char *s = upstream_head(&h, false);
    assert_non_null(strstr(s, "\r\nX-Request-Id: caller-chosen-id\r\n"));
    assert_null(strstr(s, RID));
}

static void
test_untrusted_clients_cannot_set_envoy_headers_or_the_request_id(void **state)
{
    (void)state;
    const struct h1_header f[] = {
        FIELD("X-Envoy-Max-Retries", "5"),
        FIELD("x-envoy-upstream-rq-timeout-ms", "1"),
        FIELD("X-Request-Id", "forged"),
        FIELD("x-envoyx", "not envoy's"),
        FIELD("Accept", "*/*"),
    };
    struct req_head h = head("GET", "a.example", "/", f, ARRAY_SIZE(f));
    /* At the edge Envoy strips the x-envoy-* control headers from external requests and
     * replaces their x-request-id with its own. */
    assert_true(headers_untrusted(&conn));
    assert_string_equal(upstream_head(&h, false), "GET / HTTP/1.1\r\n"
                                                  "host: a.example\r\n"
                                                  "x-envoyx: not envoy's\r\n"
                                                  "Accept: */*\r\n"
                                                  "x-forwarded-for: 192.0.2.5\r\n"
                                                  "x-forwarded-proto: http\r\n"
                                                  "x-request-id: " RID "\r\n"
                                                  "\r\n");
    /* From the local app (mesh) or a peer sidecar (inbound) they are believed. */
    conn.ml = &mesh_listener;
    assert_false(headers_untrusted(&conn));
    assert_string_equal(without_xff(upstream_head(&h, false)),
                        "GET / HTTP/1.1\r\n"
                        "host: a.example\r\n"
                        "X-Envoy-Max-Retries: 5\r\n"
                        "x-envoy-upstream-rq-timeout-ms: 1\r\n"
                        "X-Request-Id: forged\r\n"
                        "x-envoyx: not envoy's\r\n"
                        "Accept: */*\r\n"
                        "x-forwarded-proto: http\r\n"
                        "\r\n");
    conn.ml = &inbound_listener;
    assert_false(headers_untrusted(&conn));
    assert_non_null(strstr(upstream_head(&h, false), "\r\nX-Envoy-Max-Retries: 5\r\n"));
}

static void
test_request_expect_is_dropped_when_we_answer_it(void **state)
{
    (void)state;
    /* Envoy answers 100-continue itself (proxy_100_continue off) and strips Expect. */
    const struct h1_header f[] = {FIELD("Expect", "100-continue"), FIELD("Content-Length", "3")};
    struct req_head h = head("POST", "a.example", "/up", f, ARRAY_SIZE(f));
    h.expect_continue = true;
    req.body = REQ_BODY_LENGTH;
    req.body_len = 3;
    assert_string_equal(upstream_head(&h, false), "POST /up HTTP/1.1\r\n"
                                                  "host: a.example\r\n"
                                                  "x-forwarded-for: 192.0.2.5\r\n"
                                                  "x-forwarded-proto: http\r\n"
                                                  "x-request-id: " RID "\r\n"
                                                  "content-length: 3\r\n"
                                                  "\r\n");
}

static void
test_request_inbound_drops_a_client_cert_header(void **state)
{
    (void)state;
    /* Envoy removes x-forwarded-client-cert on a connection without a client certificate,
     * whatever forward_client_cert_details says (Istio's inbound: APPEND_FORWARD). */
    conn.ml = &inbound_listener;
    const struct h1_header f[] = {FIELD("X-Forwarded-Client-Cert", "By=spiffe://forged")};
    struct req_head h = head("GET", "a.example", "/", f, ARRAY_SIZE(f));
    assert_null(strstr(upstream_head(&h, false), "forged"));
}

/* A route "match: [{uri: {prefix: /ratings}}]" with "rewrite: {uri: /v1/bookRatings}". */
static struct model_match ratings_prefix = {
    .has_uri = true,
    .uri = {.kind = MODEL_SM_PREFIX, .value = S("/ratings")},
};

static void
test_request_prefix_rewrite_keeps_the_original_path(void **state)
{
    (void)state;
    struct model_route route = {
        .n_matches = 1,
        .matches = &ratings_prefix,
        .has_uri_rewrite = true,
        .uri_rewrite = S("/v1/bookRatings"),
    };
    req.route = &route;
    req.block = 0;
    conn.ml = &mesh_listener; /* where a client's own x-envoy-* would otherwise pass */
    const struct h1_header f[] = {FIELD("x-envoy-original-path", "/client/says"),
                                  FIELD("Accept", "*/*")};
    struct req_head h = head("GET", "reviews", "/ratings/2?x=1", f, ARRAY_SIZE(f));
    /* §11 example: /ratings/2?x=1 goes upstream as /v1/bookRatings/2?x=1 with
     * x-envoy-original-path: /ratings/2?x=1 (Envoy sets it, replacing any). */
    assert_string_equal(without_xff(upstream_head(&h, false)),
                        "GET /v1/bookRatings/2?x=1 HTTP/1.1\r\n"
                        "host: reviews\r\n"
                        "x-envoy-original-path: /ratings/2?x=1\r\n"
                        "Accept: */*\r\n"
                        "x-forwarded-proto: http\r\n"
                        "x-request-id: " RID "\r\n"
                        "\r\n");
    /* A path the rewrite leaves alone gets no x-envoy-original-path of ours. */
    route.has_uri_rewrite = false;
    h = head("GET", "reviews", "/ratings/2", NULL, 0);
    const char *s = upstream_head(&h, false);
    assert_prefix(s, "GET /ratings/2 HTTP/1.1\r\n");
    assert_null(strstr(s, "original-path"));
}

/* Header operations as the model holds them: lower-case names, Istio's order (sets then
 * adds, each sorted by name). */
static struct slice route_set_names[] = {S("x-a"), S("x-only-route")};
static struct slice route_set_values[] = {S("route"), S("r")};
static struct slice route_add_names[] = {S("x-b")};
static struct slice route_add_values[] = {S("route-add")};
static struct slice route_remove[] = {S("x-c")};
static struct slice dest_set_names[] = {S("x-a"), S("x-d")};
static struct slice dest_set_values[] = {S("dest"), S("dest-d")};
static struct slice dest_add_names[] = {S("x-b")};
static struct slice dest_add_values[] = {S("dest-add")};

static const struct model_header_ops route_ops = {
    .n_set = 2,
    .set_names = route_set_names,
    .set_values = route_set_values,
    .n_add = 1,
    .add_names = route_add_names,
    .add_values = route_add_values,
    .n_remove = 1,
    .remove = route_remove,
};
static const struct model_header_ops dest_ops = {
    .n_set = 2,
    .set_names = dest_set_names,
    .set_values = dest_set_values,
    .n_add = 1,
    .add_names = dest_add_names,
    .add_values = dest_add_values,
};

static void
test_request_header_operations_of_route_and_destination(void **state)
{
    (void)state;
    struct model_route route = {.headers.request = route_ops};
    struct model_destination dest = {.host = "reviews", .headers.request = dest_ops};
    req.route = &route;
    const struct h1_header f[] = {
        FIELD("X-A", "client"),   FIELD("X-B", "client-b"), FIELD("X-C", "removed"),
        FIELD("X-D", "client-d"), FIELD("X-E", "kept"),
    };
    struct req_head h = head("GET", "reviews", "/", f, ARRAY_SIZE(f));
    /* Route only (§3.14): remove deletes, set overwrites, add appends another value. */
    assert_string_equal(upstream_head(&h, false), "GET / HTTP/1.1\r\n"
                                                  "host: reviews\r\n"
                                                  "X-B: client-b\r\n"
                                                  "X-D: client-d\r\n"
                                                  "X-E: kept\r\n"
                                                  "x-a: route\r\n"
                                                  "x-only-route: r\r\n"
                                                  "x-b: route-add\r\n"
                                                  "x-forwarded-for: 192.0.2.5\r\n"
                                                  "x-forwarded-proto: http\r\n"
                                                  "x-request-id: " RID "\r\n"
                                                  "\r\n");
    /* With the destination's: Istio appends them after the rule's on the same Envoy route,
     * so the destination's set of x-a overrides the rule's; adds of both levels stay. */
    req.dest = &dest;
    assert_string_equal(upstream_head(&h, false), "GET / HTTP/1.1\r\n"
                                                  "host: reviews\r\n"
                                                  "X-B: client-b\r\n"
                                                  "X-E: kept\r\n"
                                                  "x-only-route: r\r\n"
                                                  "x-a: dest\r\n"
                                                  "x-d: dest-d\r\n"
                                                  "x-b: route-add\r\n"
                                                  "x-b: dest-add\r\n"
                                                  "x-forwarded-for: 192.0.2.5\r\n"
                                                  "x-forwarded-proto: http\r\n"
                                                  "x-request-id: " RID "\r\n"
                                                  "\r\n");
    /* The destination's alone. */
    req.route = NULL;
    assert_string_equal(upstream_head(&h, false), "GET / HTTP/1.1\r\n"
                                                  "host: reviews\r\n"
                                                  "X-B: client-b\r\n"
                                                  "X-C: removed\r\n"
                                                  "X-E: kept\r\n"
                                                  "x-a: dest\r\n"
                                                  "x-d: dest-d\r\n"
                                                  "x-b: dest-add\r\n"
                                                  "x-forwarded-for: 192.0.2.5\r\n"
                                                  "x-forwarded-proto: http\r\n"
                                                  "x-request-id: " RID "\r\n"
                                                  "\r\n");
}

static void
test_request_authority_rewrite_rule_before_destination(void **state)
{
    (void)state;
    struct model_route route = {0};
    struct model_destination dest = {.host = "reviews", .headers.authority = S("dest.example")};
    req.route = &route;
    req.dest = &dest;
    struct req_head h = head("GET", "reviews:9080", "/", NULL, 0);
    /* §3.14: the destination's authority applies when the rule sets none ... */
    assert_non_null(strstr(upstream_head(&h, false), "\r\nhost: dest.example\r\n"));
    /* ... and the rule's (rewrite.authority, Envoy host_rewrite_literal) wins. */
    route.headers.authority = S("rule.example");
    const char *s = upstream_head(&h, false);
    assert_non_null(strstr(s, "\r\nhost: rule.example\r\n"));
    assert_null(strstr(s, "reviews:9080"));
}

static void
test_request_mirror_host_gets_the_shadow_suffix(void **state)
{
    (void)state;
    /* Envoy's shadowAppendedHost: "-shadow" after the host, before any port (§3.10). */
    struct req_head h = head("GET", "httpbin", "/", NULL, 0);
    assert_prefix(upstream_head(&h, true), "GET / HTTP/1.1\r\nhost: httpbin-shadow\r\n");
    h = head("GET", "api.example.com:8080", "/", NULL, 0);
    assert_prefix(upstream_head(&h, true),
                  "GET / HTTP/1.1\r\nhost: api.example.com-shadow:8080\r\n");
    /* An IPv6 literal without a port: its colons are not a port. */
    h = head("GET", "[::1]", "/", NULL, 0);
    assert_prefix(upstream_head(&h, true), "GET / HTTP/1.1\r\nhost: [::1]-shadow\r\n");
    /* The primary request keeps its host. */
    h = head("GET", "httpbin:8000", "/", NULL, 0);
    assert_prefix(upstream_head(&h, false), "GET / HTTP/1.1\r\nhost: httpbin:8000\r\n");
    /* A rewritten authority is the one that gets the suffix. */
    struct model_route route = {.headers.authority = S("reviews.prod:9080")};
    req.route = &route;
    assert_prefix(upstream_head(&h, true), "GET / HTTP/1.1\r\nhost: reviews.prod-shadow:9080\r\n");
}

/* --- headers_response --- */

static const char *
client_head(const struct resp_head *r, uint64_t upstream_ms, bool chunked_out, bool keep_alive)
{
    assert_int_equal(headers_response(&out, &req, r, upstream_ms, chunked_out, keep_alive), 0);
    return taken();
}

static void
test_response_status_line_reason(void **state)
{
    (void)state;
    struct resp_head r = {.code = 429, .reason = S("Too Many Requests")};
    assert_prefix(client_head(&r, 0, false, true), "HTTP/1.1 429 Too Many Requests\r\n");
    /* No reason from the upstream: the standard one (Envoy's CodeUtility::toString) ... */
    r = (struct resp_head){.code = 503};
    assert_prefix(client_head(&r, 0, false, true), "HTTP/1.1 503 Service Unavailable\r\n");
    r = (struct resp_head){.code = 204};
    assert_prefix(client_head(&r, 0, false, true), "HTTP/1.1 204 No Content\r\n");
    /* ... and "Unknown" for a code without one, as Envoy. */
    r = (struct resp_head){.code = 299};
    assert_prefix(client_head(&r, 0, false, true), "HTTP/1.1 299 Unknown\r\n");
}

static void
test_response_drops_hop_by_hop_and_says_server_meshlet(void **state)
{
    (void)state;
    const struct h1_header cl = FIELD("Content-Length", "5");
    const struct h1_header f[] = {
        FIELD("Server", "gunicorn"),
        FIELD("Connection", "keep-alive, X-Upstream-Hop"),
        FIELD("Keep-Alive", "timeout=5"),
        FIELD("Content-Type", "text/html"),
        cl,
        FIELD("X-Upstream-Hop", "1"),
        FIELD("Date", "Mon, 07 Dec 2026 04:00:00 GMT"),
        FIELD("Upgrade", "h2c"),
    };
    struct resp_head r = {
        .code = 200,
        .reason = S("OK"),
        .fields = f,
        .n_fields = ARRAY_SIZE(f),
        .has_connection = true,
        .body = RESP_BODY_LENGTH,
        .body_len = 5,
        .content_length = &cl,
    };
    /* Envoy overwrites server (server_header_transformation OVERWRITE) and adds
     * x-envoy-upstream-service-time; the framing is ours. */
    assert_string_equal(client_head(&r, 12, false, true), "HTTP/1.1 200 OK\r\n"
                                                          "Content-Type: text/html\r\n"
                                                          "Date: Mon, 07 Dec 2026 04:00:00 GMT\r\n"
                                                          "server: meshlet\r\n"
                                                          "x-envoy-upstream-service-time: 12\r\n"
                                                          "content-length: 5\r\n"
                                                          "\r\n");
}

static void
test_response_framing(void **state)
{
    (void)state;
    /* A chunked upstream body to an HTTP/1.1 client: chunked again. */
    const struct h1_header te = FIELD("Transfer-Encoding", "chunked");
    struct resp_head r = {.code = 200, .fields = &te, .n_fields = 1, .body = RESP_BODY_STREAM};
    assert_string_equal(client_head(&r, 3, true, true), "HTTP/1.1 200 OK\r\n"
                                                        "server: meshlet\r\n"
                                                        "x-envoy-upstream-service-time: 3\r\n"
                                                        "transfer-encoding: chunked\r\n"
                                                        "\r\n");
    /* The same to a client that cannot take chunks: no framing, the close ends it. */
    assert_string_equal(client_head(&r, 3, false, false), "HTTP/1.1 200 OK\r\n"
                                                          "server: meshlet\r\n"
                                                          "x-envoy-upstream-service-time: 3\r\n"
                                                          "connection: close\r\n"
                                                          "\r\n");
    /* HEAD and 304: no body, but the length the body would have (RFC 9110 §8.6). */
    const struct h1_header cl = FIELD("content-length", "1234");
    r = (struct resp_head){
        .code = 200, .fields = &cl, .n_fields = 1, .body = RESP_BODY_NONE, .content_length = &cl};
    assert_string_equal(client_head(&r, 0, false, true), "HTTP/1.1 200 OK\r\n"
                                                         "server: meshlet\r\n"
                                                         "x-envoy-upstream-service-time: 0\r\n"
                                                         "content-length: 1234\r\n"
                                                         "\r\n");
    r.code = 304;
    r.reason = S("Not Modified");
    assert_string_equal(client_head(&r, 0, false, true), "HTTP/1.1 304 Not Modified\r\n"
                                                         "server: meshlet\r\n"
                                                         "x-envoy-upstream-service-time: 0\r\n"
                                                         "content-length: 1234\r\n"
                                                         "\r\n");
    /* 204 and 1xx never carry one (RFC 9110 §8.6; Envoy's codec drops it). */
    r.code = 204;
    r.reason = (struct slice){0};
    assert_null(strstr(client_head(&r, 0, false, true), "content-length"));
    r.code = 101;
    assert_null(strstr(client_head(&r, 0, false, true), "content-length"));
    /* An empty body whose upstream said "content-length: 0". */
    const struct h1_header zero = FIELD("Content-Length", "0");
    r = (struct resp_head){.code = 200,
                           .fields = &zero,
                           .n_fields = 1,
                           .body = RESP_BODY_NONE,
                           .content_length = &zero};
    assert_non_null(strstr(client_head(&r, 0, false, true), "\r\ncontent-length: 0\r\n\r\n"));
}

static void
test_response_connection_close_when_not_kept_alive(void **state)
{
    (void)state;
    struct resp_head r = {.code = 200, .body = RESP_BODY_LENGTH, .body_len = 2};
    assert_string_equal(client_head(&r, 1, false, false), "HTTP/1.1 200 OK\r\n"
                                                          "server: meshlet\r\n"
                                                          "x-envoy-upstream-service-time: 1\r\n"
                                                          "content-length: 2\r\n"
                                                          "connection: close\r\n"
                                                          "\r\n");
    assert_null(strstr(client_head(&r, 1, false, true), "connection"));
}

/* A 101 says what it switched to and nothing about framing or closing: the connection is
 * the new protocol's (Envoy adds no content-length to a 101 either). */
static void
test_response_101_switches_without_framing(void **state)
{
    (void)state;
    const struct h1_header f[] = {
        FIELD("Upgrade", "websocket"),
        FIELD("Connection", "Upgrade"),
        FIELD("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    };
    struct resp_head r = {
        .code = 101, .fields = f, .n_fields = ARRAY_SIZE(f), .has_connection = true};
    assert_string_equal(client_head(&r, 3, false, false),
                        "HTTP/1.1 101 Switching Protocols\r\n"
                        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                        "server: meshlet\r\n"
                        "x-envoy-upstream-service-time: 3\r\n"
                        "connection: upgrade\r\n"
                        "upgrade: websocket\r\n"
                        "\r\n");
}

static void
test_response_header_operations(void **state)
{
    (void)state;
    static struct slice set_names[] = {S("cache-control")};
    static struct slice set_values[] = {S("no-store")};
    static struct slice remove[] = {S("x-internal")};
    static struct slice add_names[] = {S("x-served-by")};
    static struct slice add_values[] = {S("v2")};
    struct model_route route = {.headers.response = {.n_set = 1,
                                                     .set_names = set_names,
                                                     .set_values = set_values,
                                                     .n_remove = 1,
                                                     .remove = remove}};
    struct model_destination dest = {
        .headers.response = {.n_add = 1, .add_names = add_names, .add_values = add_values}};
    req.route = &route;
    req.dest = &dest;
    const struct h1_header f[] = {FIELD("Cache-Control", "max-age=60"), FIELD("X-Internal", "1"),
                                  FIELD("X-Served-By", "app")};
    struct resp_head r = {.code = 200, .fields = f, .n_fields = ARRAY_SIZE(f), .body_len = 0};
    r.body = RESP_BODY_LENGTH;
    assert_string_equal(client_head(&r, 7, false, true), "HTTP/1.1 200 OK\r\n"
                                                         "X-Served-By: app\r\n"
                                                         "cache-control: no-store\r\n"
                                                         "x-served-by: v2\r\n"
                                                         "server: meshlet\r\n"
                                                         "x-envoy-upstream-service-time: 7\r\n"
                                                         "content-length: 0\r\n"
                                                         "\r\n");
}

static void
test_response_carries_cors_headers_for_an_allowed_origin(void **state)
{
    (void)state;
    struct model_cors cors = {.allow_credentials = true, .expose_headers = S("x-trace,x-cost")};
    struct model_route route = {.cors = &cors};
    req.route = &route;
    struct resp_head r = {.code = 200, .body = RESP_BODY_LENGTH, .body_len = 2};
    /* No allowed Origin on the request: nothing. */
    assert_null(strstr(client_head(&r, 0, false, true), "access-control"));
    /* Envoy's CORS filter on an actual request: the origin echoed, credentials, exposed. */
    req.cors_origin = S("https://app.example");
    assert_string_equal(client_head(&r, 0, false, true),
                        "HTTP/1.1 200 OK\r\n"
                        "access-control-allow-origin: https://app.example\r\n"
                        "access-control-allow-credentials: true\r\n"
                        "access-control-expose-headers: x-trace,x-cost\r\n"
                        "server: meshlet\r\n"
                        "x-envoy-upstream-service-time: 0\r\n"
                        "content-length: 2\r\n"
                        "\r\n");
    cors = (struct model_cors){0};
    assert_string_equal(client_head(&r, 0, false, true),
                        "HTTP/1.1 200 OK\r\n"
                        "access-control-allow-origin: https://app.example\r\n"
                        "server: meshlet\r\n"
                        "x-envoy-upstream-service-time: 0\r\n"
                        "content-length: 2\r\n"
                        "\r\n");
}

static void
test_response_sets_the_generated_hash_cookie(void **state)
{
    (void)state;
    /* Envoy's makeSetCookieValue form, written by hash_policy.c. */
    req.set_cookie = S("session=\"5b2c2f0e8d9a1c34\"; Max-Age=60; Path=/; HttpOnly");
    struct resp_head r = {.code = 200, .body = RESP_BODY_LENGTH, .body_len = 2};
    assert_string_equal(client_head(&r, 4, false, true),
                        "HTTP/1.1 200 OK\r\n"
                        "set-cookie: session=\"5b2c2f0e8d9a1c34\"; Max-Age=60; Path=/; HttpOnly\r\n"
                        "server: meshlet\r\n"
                        "x-envoy-upstream-service-time: 4\r\n"
                        "content-length: 2\r\n"
                        "\r\n");
}

/* --- Istio's metadata exchange (x-envoy-peer-metadata, -id) --- */

/* This proxy as reviews-v2 of prod: the values its worker sends. */
static void
exchange_as_reviews_v2(void)
{
    const char *labels[] = {"app=reviews", "version=v2"};
    struct metrics_local l = {.ns = "prod", .cluster = "Kubernetes"};
    metrics_local_from_labels(&l, "reviews-v2", labels, 2);
    assert_true(mx_init(&wk.mx, &l));
    assert_true(wk.mx.value_len > 0);
}

/* The value of field <name> in head <s> ("" when absent, NULL when there twice). */
static const char *
field_of(const char *s, const char *name)
{
    static char v[4096];
    char key[64];
    snprintf(key, sizeof(key), "\r\n%s: ", name);
    const char *at = strstr(s, key);
    if (!at) return "";
    if (strstr(at + 1, key)) return NULL;
    at += strlen(key);
    size_t n = (size_t)(strstr(at, "\r\n") - at);
    assert_true(n < sizeof(v));
    memcpy(v, at, n);
    v[n] = '\0';
    return v;
}

static void
test_exchange_outbound_and_gateway_send_ours_in_place_of_the_clients(void **state)
{
    (void)state;
    exchange_as_reviews_v2();
    const struct h1_header f[] = {FIELD("X-Envoy-Peer-Metadata", "Zm9yZ2Vk"),
                                  FIELD("x-envoy-peer-metadata-id", "sidecar~1~forged")};
    struct req_head h = head("GET", "ratings:9080", "/", f, 2);
    struct peer_metadata md;
    /* A sidecar's outbound: ours replace the app's, and name this workload. */
    conn.ml = &mesh_listener;
    const char *s = upstream_head(&h, false);
    assert_null(strstr(s, "Zm9yZ2Vk"));
    assert_null(strstr(s, "forged"));
    const char *v = field_of(s, "x-envoy-peer-metadata");
    assert_non_null(v);
    assert_true(peer_metadata_decode(v, strlen(v), &md));
    assert_string_equal(md.workload, "reviews-v2");
    assert_string_equal(md.ns, "prod");
    assert_string_equal(md.app, "reviews");
    assert_string_equal(md.version, "v2");
    assert_string_equal(md.canonical_rev, "v2");
    assert_string_equal(field_of(s, "x-envoy-peer-metadata-id"),
                        "sidecar~127.0.0.1~reviews-v2.prod~prod.svc.cluster.local");
    /* A gateway sends them too, as a router; a mirror's copy carries them as well. */
    conn.ml = &gateway_listener;
    s = upstream_head(&h, true);
    assert_non_null(field_of(s, "x-envoy-peer-metadata"));
    assert_string_equal(field_of(s, "x-envoy-peer-metadata-id"),
                        "router~127.0.0.1~reviews-v2.prod~prod.svc.cluster.local");
}

static void
test_exchange_inbound_strips_them_from_the_request(void **state)
{
    (void)state;
    exchange_as_reviews_v2();
    conn.ml = &inbound_listener;
    const struct h1_header f[] = {FIELD("x-envoy-peer-metadata", "Zm9v"),
                                  FIELD("X-ENVOY-PEER-METADATA-ID", "sidecar~x"),
                                  FIELD("x-envoy-peer-metadata-other", "kept")};
    struct req_head h = head("GET", "reviews:9080", "/", f, 3);
    const char *s = upstream_head(&h, false);
    assert_string_equal(field_of(s, "x-envoy-peer-metadata"), "");
    assert_string_equal(field_of(s, "x-envoy-peer-metadata-id"), "");
    assert_string_equal(field_of(s, "x-envoy-peer-metadata-other"), "kept");
}

static void
test_exchange_inbound_answers_only_what_was_asked(void **state)
{
    (void)state;
    exchange_as_reviews_v2();
    conn.ml = &inbound_listener;
    const struct h1_header f[] = {FIELD("x-envoy-peer-metadata", "YXBw"),
                                  FIELD("x-envoy-peer-metadata-id", "app's")};
    struct resp_head r = {.code = 200, .fields = f, .n_fields = 2};
    /* Neither asked: the app's own pass (Envoy's inbound does not read responses). */
    const char *s = client_head(&r, 1, false, true);
    assert_string_equal(field_of(s, "x-envoy-peer-metadata"), "YXBw");
    assert_string_equal(field_of(s, "x-envoy-peer-metadata-id"), "app's");
    /* Each asked alone gets ours in place of the app's, the other untouched. */
    req.mx_asked = MX_HAS_ID;
    s = client_head(&r, 1, false, true);
    assert_string_equal(field_of(s, "x-envoy-peer-metadata"), "YXBw");
    assert_string_equal(field_of(s, "x-envoy-peer-metadata-id"),
                        "sidecar~127.0.0.1~reviews-v2.prod~prod.svc.cluster.local");
    req.mx_asked = MX_HAS_VALUE | MX_HAS_ID;
    s = client_head(&r, 1, false, true);
    assert_string_equal(field_of(s, "x-envoy-peer-metadata"), wk.mx.value);
    /* A local reply (the app is down) answers too. */
    struct local_reply lr = {.status = 503, .mx = MX_HAS_VALUE, .mx_for = &req};
    assert_int_equal(headers_local(&out, &lr, false), 0);
    s = taken();
    assert_string_equal(field_of(s, "x-envoy-peer-metadata"), wk.mx.value);
    assert_string_equal(field_of(s, "x-envoy-peer-metadata-id"), "");
}

static void
test_exchange_outbound_strips_them_from_the_response(void **state)
{
    (void)state;
    exchange_as_reviews_v2();
    const struct h1_header f[] = {FIELD("x-envoy-peer-metadata", "dXA="),
                                  FIELD("x-envoy-peer-metadata-id", "sidecar~up")};
    struct resp_head r = {.code = 200, .fields = f, .n_fields = 2};
    const struct model_listener *edges[] = {&mesh_listener, &gateway_listener};
    for (size_t i = 0; i < 2; i++) {
        conn.ml = edges[i];
        const char *s = client_head(&r, 1, false, true);
        assert_string_equal(field_of(s, "x-envoy-peer-metadata"), "");
        assert_string_equal(field_of(s, "x-envoy-peer-metadata-id"), "");
    }
}

/* Without a value of its own (none could be made) a proxy sends and answers nothing. */
static void
test_exchange_without_a_value_sends_nothing(void **state)
{
    (void)state;
    conn.ml = &mesh_listener;
    struct req_head h = head("GET", "ratings:9080", "/", NULL, 0);
    assert_null(strstr(upstream_head(&h, false), "peer-metadata"));
}

/* --- headers_local --- */

static const char *
local_reply(const struct local_reply *r, bool close)
{
    assert_int_equal(headers_local(&out, r, close), 0);
    return taken();
}

static void
test_local_reply_is_text_with_its_length(void **state)
{
    (void)state;
    const struct h1_header loc = FIELD("location", "https://a.example/");
    struct local_reply r = {.status = 503, .body = S("no healthy upstream"), .text = true};
    /* Envoy's sendLocalReply: content-length and text/plain for a body. */
    assert_string_equal(local_reply(&r, false), "HTTP/1.1 503 Service Unavailable\r\n"
                                                "content-length: 19\r\n"
                                                "content-type: text/plain\r\n"
                                                "server: meshlet\r\n"
                                                "\r\n"
                                                "no healthy upstream");
    assert_string_equal(local_reply(&r, true), "HTTP/1.1 503 Service Unavailable\r\n"
                                               "content-length: 19\r\n"
                                               "content-type: text/plain\r\n"
                                               "server: meshlet\r\n"
                                               "connection: close\r\n"
                                               "\r\n"
                                               "no healthy upstream");
    /* Extra fields (a redirect's location) after the framing, no body: no content-type. */
    r = (struct local_reply){.status = 301, .fields = &loc, .n_fields = 1};
    assert_string_equal(local_reply(&r, false), "HTTP/1.1 301 Moved Permanently\r\n"
                                                "content-length: 0\r\n"
                                                "location: https://a.example/\r\n"
                                                "server: meshlet\r\n"
                                                "\r\n");
}

static void
test_local_reply_ops_may_set_the_content_type(void **state)
{
    (void)state;
    /* §3.13: a direct response sets its content-type through headers.response.set. */
    static struct slice set_names[] = {S("content-type")};
    static struct slice set_values[] = {S("application/json")};
    static struct slice add_names[] = {S("x-direct")};
    static struct slice add_values[] = {S("1")};
    const struct model_header_ops ops = {.n_set = 1,
                                         .set_names = set_names,
                                         .set_values = set_values,
                                         .n_add = 1,
                                         .add_names = add_names,
                                         .add_values = add_values};
    struct local_reply r = {.status = 200, .ops = &ops, .body = S("{\"ok\":true}"), .text = true};
    assert_string_equal(local_reply(&r, false), "HTTP/1.1 200 OK\r\n"
                                                "content-length: 11\r\n"
                                                "content-type: application/json\r\n"
                                                "x-direct: 1\r\n"
                                                "server: meshlet\r\n"
                                                "\r\n"
                                                "{\"ok\":true}");
}

static void
test_local_reply_to_head_has_the_length_only(void **state)
{
    (void)state;
    struct local_reply r = {.status = 404, .body = S("not here"), .text = true, .no_body = true};
    assert_string_equal(local_reply(&r, false), "HTTP/1.1 404 Not Found\r\n"
                                                "content-length: 8\r\n"
                                                "content-type: text/plain\r\n"
                                                "server: meshlet\r\n"
                                                "\r\n");
}

static void
test_cors_preflight_answer(void **state)
{
    (void)state;
    /* §11 example: allowOrigins exact http://foo.example, allowMethods POST,GET,OPTIONS,
     * allowHeaders content-type, maxAge 5m, allowCredentials true. */
    struct model_cors cors = {.allow_methods = S("POST,GET,OPTIONS"),
                              .allow_headers = S("content-type"),
                              .max_age = S("300"),
                              .allow_credentials = true};
    struct h1_header f[5];
    size_t n = headers_cors_preflight(f, &cors, S("http://foo.example"));
    assert_int_equal(n, 5);
    struct local_reply r = {.status = 200, .fields = f, .n_fields = n};
    assert_string_equal(local_reply(&r, false),
                        "HTTP/1.1 200 OK\r\n"
                        "content-length: 0\r\n"
                        "access-control-allow-origin: http://foo.example\r\n"
                        "access-control-allow-credentials: true\r\n"
                        "access-control-allow-methods: POST,GET,OPTIONS\r\n"
                        "access-control-allow-headers: content-type\r\n"
                        "access-control-max-age: 300\r\n"
                        "server: meshlet\r\n"
                        "\r\n");
    /* Only what the policy sets: the origin alone. */
    cors = (struct model_cors){0};
    n = headers_cors_preflight(f, &cors, S("http://foo.example"));
    assert_int_equal(n, 1);
    assert_true(slice_eq(f[0].name, "access-control-allow-origin"));
    assert_true(slice_eq(f[0].value, "http://foo.example"));
}

/* --- headers_find --- */

static void
test_find_is_case_insensitive_and_takes_the_first(void **state)
{
    (void)state;
    const struct h1_header f[] = {FIELD("Accept", "*/*"), FIELD("ORIGIN", "https://a.example"),
                                  FIELD("origin", "https://b.example")};
    struct slice v = S("untouched");
    assert_true(headers_find(f, ARRAY_SIZE(f), "origin", &v));
    assert_true(slice_eq(v, "https://a.example"));
    assert_true(headers_find(f, ARRAY_SIZE(f), "AcCePt", &v));
    assert_true(slice_eq(v, "*/*"));
    v = S("untouched");
    assert_false(headers_find(f, ARRAY_SIZE(f), "origi", &v));
    assert_false(headers_find(f, ARRAY_SIZE(f), "origins", &v));
    assert_false(headers_find(NULL, 0, "origin", &v));
    assert_true(slice_eq(v, "untouched"));
}

/* --- failure --- */

static void
test_heads_that_do_not_fit_fail(void **state)
{
    (void)state;
    /* A buffer at its cap refuses the head rather than writing part of it. */
    struct buf small;
    buf_init_empty(&small, 40);
    const struct h1_header f[] = {FIELD("Accept", "*/*")};
    struct req_head h = head("GET", "api.example.com", "/a/long/enough/path", f, ARRAY_SIZE(f));
    assert_int_not_equal(headers_request(&small, &req, &h, RID, false), 0);
    assert_true(buf_len(&small) <= 40);
    buf_consume(&small, buf_len(&small));
    struct resp_head r = {.code = 200, .body = RESP_BODY_LENGTH, .body_len = 1};
    assert_int_not_equal(headers_response(&small, &req, &r, 0, false, true), 0);
    buf_consume(&small, buf_len(&small));
    struct local_reply lr = {.status = 503, .body = S("no healthy upstream"), .text = true};
    assert_int_not_equal(headers_local(&small, &lr, false), 0);
    buf_fini(&small);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_request_drops_hop_by_hop_fields_and_those_connection_names),
        T(test_request_upgrade_keeps_upgrade_and_connection),
        T(test_request_framing_is_our_own),
        T(test_request_host_is_the_authority),
        T(test_request_appends_the_client_to_x_forwarded_for),
        T(test_request_x_forwarded_proto_says_the_client_transport),
        T(test_request_id_is_added_only_when_absent),
        T(test_untrusted_clients_cannot_set_envoy_headers_or_the_request_id),
        T(test_request_expect_is_dropped_when_we_answer_it),
        T(test_request_inbound_drops_a_client_cert_header),
        T(test_request_prefix_rewrite_keeps_the_original_path),
        T(test_request_header_operations_of_route_and_destination),
        T(test_request_authority_rewrite_rule_before_destination),
        T(test_request_mirror_host_gets_the_shadow_suffix),
        T(test_response_status_line_reason),
        T(test_response_drops_hop_by_hop_and_says_server_meshlet),
        T(test_response_framing),
        T(test_response_connection_close_when_not_kept_alive),
        T(test_response_101_switches_without_framing),
        T(test_response_header_operations),
        T(test_response_carries_cors_headers_for_an_allowed_origin),
        T(test_response_sets_the_generated_hash_cookie),
        T(test_exchange_outbound_and_gateway_send_ours_in_place_of_the_clients),
        T(test_exchange_inbound_strips_them_from_the_request),
        T(test_exchange_inbound_answers_only_what_was_asked),
        T(test_exchange_outbound_strips_them_from_the_response),
        T(test_exchange_without_a_value_sends_nothing),
        T(test_local_reply_is_text_with_its_length),
        T(test_local_reply_ops_may_set_the_content_type),
        T(test_local_reply_to_head_has_the_length_only),
        T(test_cors_preflight_answer),
        T(test_find_is_case_insensitive_and_takes_the_first),
        T(test_heads_that_do_not_fit_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
