/* SPDX-License-Identifier: Apache-2.0 */
/* The explain request as the proxy sees it (the Host header decides the virtual host, the
 * URL's port the listener), the listener choice and its outcomes, and GET /explain's
 * parameters. */
#include <stdio.h>
#include <string.h>

#include "admin/explain.h"
#include "core/hmap.h"
#include "core/strbuf.h"
#include "harness.h"

static bool
same(struct slice s, const char *want)
{
    return s.len == strlen(want) && !memcmp(s.ptr, want, s.len);
}

static void
test_explain_host_header_decides_the_authority(void **state)
{
    (void)state;
    struct route_header h[2];
    assert_true(explain_header_parse("Host:  api.example.com ", &h[0]));
    assert_true(same(h[0].name, "Host") && same(h[0].value, "api.example.com"));
    assert_true(explain_header_parse("x-canary:true", &h[1]));
    struct explain_request rq;
    assert_null(explain_request_init(&rq, "GET", "http://127.0.0.1:8080/orders?x=1#frag", h, 2, 0,
                                     false, NULL));
    assert_true(same(rq.authority, "api.example.com"));
    assert_true(same(rq.path, "/orders?x=1"));
    assert_true(same(rq.scheme, "http"));
    assert_int_equal(rq.port, 8080);
    assert_int_equal(rq.n_headers, 2);
    /* without a Host header, the URL's authority, sent as Host as curl does */
    assert_null(
        explain_request_init(&rq, "GET", "HTTPS://[::1]:8443", &h[1], 1, 9000, false, NULL));
    assert_true(same(rq.authority, "[::1]:8443"));
    assert_true(same(rq.path, "/"));
    assert_true(same(rq.scheme, "https"));
    assert_int_equal(rq.port, 9000); /* --port wins */
    assert_int_equal(rq.n_headers, 2);
    assert_true(same(rq.headers[1].name, "host") && same(rq.headers[1].value, "[::1]:8443"));
}

static void
test_explain_request_errors_say_what_is_wrong(void **state)
{
    (void)state;
    struct explain_request rq;
    struct route_header h[2];
    assert_false(explain_header_parse("no-colon", &h[0]));
    assert_false(explain_header_parse(": empty name", &h[0]));
    assert_non_null(
        strstr(explain_request_init(&rq, "GET", "example.com/x", NULL, 0, 0, false, NULL),
               "needs a scheme"));
    assert_non_null(
        strstr(explain_request_init(&rq, "GET", "http:///x", NULL, 0, 0, false, NULL), "no host"));
    assert_non_null(strstr(
        explain_request_init(&rq, "GET", "http://a:70000/", NULL, 0, 0, false, NULL), "port"));
    assert_non_null(
        strstr(explain_request_init(&rq, "http://a/", "GET", NULL, 0, 0, false, NULL), "METHOD"));
    explain_header_parse("Host: a", &h[0]);
    explain_header_parse("host: b", &h[1]);
    assert_non_null(strstr(explain_request_init(&rq, "GET", "http://a/", h, 2, 0, false, NULL),
                           "several Host headers"));
}

/* Two gateway listeners (8080: a and b; 9090: c) and the mesh listener, no virtual hosts. */
struct fixture {
    struct snapshot s;
    struct model_listener l[3];
    const char *gw80[2], *gw90[1];
};

static void
fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->gw80[0] = "ns/a";
    f->gw80[1] = "ns/b";
    f->gw90[0] = "ns/c";
    f->l[0] = (struct model_listener){.name = "gateway ns/a", .port = 8080};
    f->l[0].gateways = f->gw80;
    f->l[0].n_gateways = 2;
    f->l[1] = (struct model_listener){.name = "gateway ns/c", .port = 9090};
    f->l[1].gateways = f->gw90;
    f->l[1].n_gateways = 1;
    f->l[2] = (struct model_listener){.name = "mesh", .port = 15001, .mesh = true};
    for (int i = 0; i < 3; i++) {
        hmap_init(&f->l[i].exact);
        hmap_init(&f->l[i].wildcard);
    }
    f->s.listeners = f->l;
    f->s.n_listeners = 3;
}

static void
fixture_fini(struct fixture *f)
{
    for (int i = 0; i < 3; i++) {
        hmap_fini(&f->l[i].exact);
        hmap_fini(&f->l[i].wildcard);
    }
}

static enum explain_outcome
run(const struct fixture *f, const char *url, uint16_t port, bool mesh, const char *gateway,
    struct strbuf *text)
{
    struct explain_request rq;
    assert_null(explain_request_init(&rq, "GET", url, NULL, 0, port, mesh, gateway));
    struct strbuf json;
    strbuf_init(&json, 1 << 16);
    strbuf_init(text, 1 << 16);
    enum explain_outcome o = explain_write(&f->s, &rq, text, &json);
    assert_non_null(strstr(strbuf_str(&json), explain_outcome_name(o)));
    strbuf_fini(&json);
    return o;
}

static void
test_explain_listener_choice(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    struct strbuf t;
    /* a port decides; the virtual host is then missing: 404 NR, a local reply */
    assert_int_equal(run(&f, "http://x:8080/", 0, false, NULL, &t), EXPLAIN_LOCAL_REPLY);
    assert_non_null(strstr(strbuf_str(&t), "listener: gateway ns/a, port 8080\n404 NR"));
    strbuf_fini(&t);
    /* no port, two gateway listeners: the port must be given */
    assert_int_equal(run(&f, "http://x/", 0, false, NULL, &t), EXPLAIN_AMBIGUOUS);
    assert_non_null(strstr(strbuf_str(&t), "give the port in the URL or --port"));
    strbuf_fini(&t);
    /* no port, but the Gateway has one listener */
    assert_int_equal(run(&f, "http://x/", 0, false, "ns/c", &t), EXPLAIN_LOCAL_REPLY);
    assert_non_null(strstr(strbuf_str(&t), "port 9090"));
    strbuf_fini(&t);
    /* a Gateway sharing a port with another */
    assert_int_equal(run(&f, "http://x/", 0, false, "ns/b", &t), EXPLAIN_LOCAL_REPLY);
    strbuf_fini(&t);
    assert_int_equal(run(&f, "http://x/", 0, false, "ns/zzz", &t), EXPLAIN_UNKNOWN_GATEWAY);
    assert_non_null(strstr(strbuf_str(&t), "ns/a (port 8080), ns/b (port 8080), ns/c (port 9090)"));
    strbuf_fini(&t);
    assert_int_equal(run(&f, "http://x:9090/", 0, false, "ns/a", &t), EXPLAIN_NO_LISTENER);
    strbuf_fini(&t);
    assert_int_equal(run(&f, "http://x:1234/", 0, false, NULL, &t), EXPLAIN_NO_LISTENER);
    strbuf_fini(&t);
    /* --mesh: the mesh listener whatever its port */
    assert_int_equal(run(&f, "http://x:8080/", 0, true, NULL, &t), EXPLAIN_LOCAL_REPLY);
    assert_non_null(strstr(strbuf_str(&t), "listener: mesh, port 15001"));
    strbuf_fini(&t);
    f.s.n_listeners = 2;
    assert_int_equal(run(&f, "http://x/", 0, true, NULL, &t), EXPLAIN_NO_LISTENER);
    strbuf_fini(&t);
    fixture_fini(&f);
}

static void
test_explain_page_parameters(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    f.s.digest = 0xabc;
    struct strbuf out;
    const char *type = "text/plain";
    static const struct {
        const char *query;
        int status;
        const char *says;
    } cases[] = {
        {"method=GET", 400, "usage: GET /explain?"},
        {"url=http%3A%2F%2Fx%3A8080%2F&header=nocolon", 400, "header=nocolon"},
        {"url=http://x:8080/&port=0", 400, "port=0"},
        {"url=http%2", 400, "bad percent-escape in parameter url"},
        {"url=http://x:8080/%-1", 400, "bad percent-escape in parameter url"},
        {"url=http://x:8080/%+1", 400, "bad percent-escape in parameter url"},
        {"url=x", 400, "needs a scheme"},
        {"url=http://x:8080/&digest=0000000000000abd", 409, "digest 0000000000000abc"},
        {"url=http%3A%2F%2Fx%3A8080%2F&header=Host%3A+api.example.com&digest=0000000000000abc", 200,
         "404 NR: no virtual host for api.example.com"},
        {"url=http://x/&port=9090", 200, "listener: gateway ns/c, port 9090"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        strbuf_init(&out, 1 << 16);
        struct slice q = slice_make(cases[i].query, strlen(cases[i].query));
        assert_int_equal(explain_page(&f.s, q, &out, &type), cases[i].status);
        if (!strstr(strbuf_str(&out), cases[i].says)) fail_msg("%s", strbuf_str(&out));
        strbuf_fini(&out);
    }
    strbuf_init(&out, 1 << 16);
    struct slice q = SLICE_LIT("url=http://x:8080/&format=json&text=1");
    assert_int_equal(explain_page(&f.s, q, &out, &type), 200);
    assert_string_equal(type, "application/json");
    assert_non_null(strstr(strbuf_str(&out), "\"outcome\":\"local_reply\""));
    assert_non_null(strstr(strbuf_str(&out), "\"configDigest\":\"0000000000000abc\""));
    assert_non_null(strstr(strbuf_str(&out), "\"text\":\"explained by the running proxy"));
    strbuf_fini(&out);
    fixture_fini(&f);
}

/* A route with more destinations than explain's old fixed copy of a worker's counters (64):
 * the split replayed from the live counters reaches every destination, the last included. */
static void
test_explain_split_now_covers_every_destination(void **state)
{
    (void)state;
    enum { N = 70 };
    struct strbuf yaml;
    strbuf_init(&yaml, 1 << 20);
    strbuf_puts(&yaml, "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                       "metadata: {name: wide, namespace: default}\nspec:\n"
                       "  hosts: [wide.example.com]\n  http:\n  - route:\n");
    for (int i = 0; i < N; i++) /* 40 of weight 1 and 30 of weight 2: 100 */
        strbuf_printf(&yaml, "    - {destination: {host: d%d.example.com}, weight: %d}\n", i,
                      i < 40 ? 1 : 2);
    const char *paths[] = {harness_write(harness_tmpdir(), "wide.yaml", strbuf_str(&yaml))};
    strbuf_fini(&yaml);
    struct model_options opt = {.mesh_port = 15001, .ns = "default", .n_workers = 1};
    struct snapshot *s = harness_snapshot(paths, 1, &opt);
    const struct model_listener *l = model_listener_for(s, 15001);
    assert_non_null(l);
    const struct model_vhost *vh = model_vhost_find(l, SLICE_LIT("wide.example.com"));
    assert_non_null(vh);
    assert_int_equal(vh->routes[0].n_dests, N);
    /* the worker is owed d69 most: it is the next pick */
    s->split_counters[vh->routes[0].split_offset + N - 1] = 1000;
    struct explain_request rq;
    assert_null(
        explain_request_init(&rq, "GET", "http://wide.example.com/", NULL, 0, 0, true, NULL));
    struct strbuf text, json;
    strbuf_init(&text, 1 << 20);
    strbuf_init(&json, 1 << 20);
    explain_write(s, &rq, &text, &json);
    if (!strstr(strbuf_str(&text), "worker 0: next 10 requests -> d69.example.com "))
        fail_msg("%s", strbuf_str(&text));
    assert_non_null(strstr(strbuf_str(&json), "\"next\":[\"d69.example.com\""));
    strbuf_fini(&text);
    strbuf_fini(&json);
    model_release(s);
}

/* explain <url> (on the mesh listener when <mesh>) over snapshot <s>; its text and JSON. */
static void
explain_into(struct snapshot *s, const char *url, bool mesh, struct strbuf *text,
             struct strbuf *json)
{
    struct explain_request rq;
    assert_null(explain_request_init(&rq, "GET", url, NULL, 0, 0, mesh, NULL));
    strbuf_fini(text);
    strbuf_fini(json);
    strbuf_init(text, 1 << 20);
    strbuf_init(json, 1 << 20);
    explain_write(s, &rq, text, json);
}

/* A port that declares no protocol: a sidecar (the mesh listener) keeps the client's
 * protocol, a Gateway speaks HTTP/1.1; a GRPC port is HTTP/2 on both. */
static void
test_explain_upstream_protocol_by_listener(void **state)
{
    (void)state;
    const char *yaml =
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n"
        "  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ['*']}]\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: o}\nspec:\n"
        "  hosts: [o.default.svc.cluster.local]\n"
        "  ports: [{number: 80, name: http}, {number: 90, name: x, protocol: GRPC}]\n"
        "  resolution: STATIC\n  endpoints: [{address: 127.0.0.1}]\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: o}\n"
        "spec:\n  hosts: [o, o.example.com]\n  gateways: [gw, mesh]\n  http:\n"
        "  - match: [{uri: {prefix: /g}}]\n"
        "    route: [{destination: {host: o, port: {number: 90}}}]\n"
        "  - route: [{destination: {host: o, port: {number: 80}}}]\n";
    const char *paths[] = {harness_write(harness_tmpdir(), "up.yaml", yaml)};
    struct model_options opt = {.mesh_port = 15001, .ns = "default", .n_workers = 1};
    struct snapshot *s = harness_snapshot(paths, 1, &opt);
    struct strbuf text, json;
    strbuf_init(&text, 1 << 20);
    strbuf_init(&json, 1 << 20);
    explain_into(s, "http://o/", true, &text, &json);
    if (!strstr(strbuf_str(&text), "upstream protocol: the client's (port 80 declares no "
                                   "protocol (ServiceEntry default/o): a sidecar sniffs it"))
        fail_msg("%s", strbuf_str(&text));
    assert_non_null(strstr(strbuf_str(&json), "\"upstreamProtocol\":\"client\""));
    explain_into(s, "http://o.example.com:8080/", false, &text, &json);
    if (!strstr(strbuf_str(&text), "upstream protocol: HTTP/1.1 (port 80 declares no "
                                   "protocol (ServiceEntry default/o): a Gateway does not "
                                   "sniff)\n"))
        fail_msg("%s", strbuf_str(&text));
    assert_non_null(strstr(strbuf_str(&json), "\"upstreamProtocol\":\"http1\""));
    explain_into(s, "http://o.example.com:8080/g", false, &text, &json);
    assert_non_null(strstr(strbuf_str(&text), "upstream protocol: HTTP/2 (port 90 is GRPC"));
    assert_non_null(strstr(strbuf_str(&json), "\"upstreamProtocol\":\"http2\""));
    strbuf_fini(&text);
    strbuf_fini(&json);
    model_release(s);
}

/* A connection: the listener by port, a TCP one's "*" host; an HTTP request on an L4 port
 * and a connection on an HTTP port are told which form to use; bad flags say what is wrong. */
static void
test_explain_connection_on_l4_listeners(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    f.l[1].kind = MODEL_LISTENER_TCP; /* 9090 */
    struct explain_request rq;
    assert_non_null(
        strstr(explain_request_init_l4(&rq, 0, NULL, NULL, NULL, false, NULL), "--port N"));
    assert_non_null(
        strstr(explain_request_init_l4(&rq, 9090, NULL, "10.0.0.300", NULL, false, NULL),
               "--source takes an IP address"));
    assert_non_null(
        strstr(explain_request_init_l4(&rq, 9090, "a b", NULL, NULL, false, NULL), "--sni"));
    assert_null(
        explain_request_init_l4(&rq, 9090, "db.example.com", "::1", "10.1.2.3", false, NULL));
    assert_true(rq.l4 && rq.has_dst && rq.dst.ss_family == AF_INET);
    assert_true(slice_eq(rq.sni, "db.example.com"));
    struct strbuf text, json;
    strbuf_init(&text, 1 << 16);
    strbuf_init(&json, 1 << 16);
    /* no "*" virtual host on the TCP listener: the connection is closed */
    assert_int_equal(explain_write(&f.s, &rq, &text, &json), EXPLAIN_LOCAL_REPLY);
    assert_non_null(strstr(strbuf_str(&text), "listener: gateway ns/c, port 9090, kind tcp"));
    assert_non_null(strstr(strbuf_str(&text), "connection closed (NR)"));
    assert_non_null(strstr(strbuf_str(&json), "\"kind\":\"tcp\""));
    strbuf_fini(&text);
    strbuf_fini(&json);
    strbuf_init(&text, 1 << 16);
    strbuf_init(&json, 1 << 16);
    assert_null(explain_request_init_l4(&rq, 8080, NULL, NULL, NULL, false, NULL));
    assert_int_equal(explain_write(&f.s, &rq, &text, &json), EXPLAIN_NO_LISTENER);
    assert_non_null(strstr(strbuf_str(&text), "speaks HTTP: explain METHOD URL"));
    strbuf_fini(&text);
    strbuf_fini(&json);
    assert_int_equal(run(&f, "http://x:9090/", 0, false, NULL, &text), EXPLAIN_NO_LISTENER);
    assert_non_null(strstr(strbuf_str(&text), "relays TCP connections, not HTTP requests"));
    strbuf_fini(&text);
    /* without a port only HTTP listeners count: 8080 is then the only one */
    f.l[0].gateways = f.gw90;
    assert_int_equal(run(&f, "http://x/", 0, false, NULL, &text), EXPLAIN_LOCAL_REPLY);
    assert_non_null(strstr(strbuf_str(&text), "port 8080"));
    strbuf_fini(&text);
    fixture_fini(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_explain_host_header_decides_the_authority),
        cmocka_unit_test(test_explain_request_errors_say_what_is_wrong),
        cmocka_unit_test(test_explain_listener_choice),
        cmocka_unit_test(test_explain_connection_on_l4_listeners),
        cmocka_unit_test(test_explain_page_parameters),
        cmocka_unit_test(test_explain_split_now_covers_every_destination),
        cmocka_unit_test(test_explain_upstream_protocol_by_listener),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
