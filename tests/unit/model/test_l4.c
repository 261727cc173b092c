/* SPDX-License-Identifier: Apache-2.0 */
/* L4 listeners and routes (model/l4.c): Gateway TCP and TLS passthrough servers, VirtualService
 * tcp and tls rules with their match blocks, the mesh's TCP service ports, --inbound-tcp and
 * AUTO_PASSTHROUGH; and route_block_matches on sniHosts and destinationSubnets. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/strbuf.h"
#include "harness.h"
#include "model/model.h"
#include "model/route.h"

static const char *const registry =
    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: echo, "
    "namespace: default}\nspec:\n  hosts: [tcp-echo.default.svc.cluster.local]\n"
    "  ports:\n  - {number: 9000, name: tcp, protocol: TCP}\n  resolution: STATIC\n"
    "  endpoints:\n"
    "  - {address: 127.0.0.1, ports: {tcp: 19001}, labels: {version: v1}}\n"
    "  - {address: 127.0.0.1, ports: {tcp: 19002}, labels: {version: v2}}\n---\n"
    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: echo, "
    "namespace: default}\nspec:\n  host: tcp-echo\n  subsets:\n"
    "  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n---\n"
    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: tls-a, "
    "namespace: default}\nspec:\n  hosts: [a.example.com, x.b.example.com]\n"
    "  ports:\n  - {number: 8443, name: tls, protocol: TLS}\n  resolution: STATIC\n"
    "  endpoints:\n  - {address: 127.0.0.1, ports: {tls: 19443}}\n---\n";

static struct resource_set set;
static struct diag_list dl;
static struct snapshot *snap;

static void
build_with(const char *yaml, uint16_t mesh_port, const char *const *labels, size_t n_labels,
           const struct model_inbound *in, size_t n_in)
{
    char text[16384];
    snprintf(text, sizeof(text), "%s%s", registry, yaml);
    const char *dir = harness_tmpdir();
    const char *paths[] = {harness_write(dir, "c.yaml", text)};
    config_init(&set);
    diag_list_init(&dl);
    assert_int_equal(config_load(&set, paths, 1, NULL, &dl), 0);
    config_analyze(&set, &dl);
    if (dl.errors) {
        struct strbuf sb;
        strbuf_init(&sb, 1 << 16);
        diag_list_format(&dl, false, &sb);
        fail_msg("config has errors:\n%s", strbuf_str(&sb));
    }
    struct model_options opt = {.mesh_port = mesh_port,
                                .ns = "default",
                                .labels = labels,
                                .n_labels = n_labels,
                                .inbounds = in,
                                .n_inbounds = n_in};
    char err[256];
    snap = model_build(&set, &opt, err, sizeof(err));
    if (!snap) fail_msg("build failed: %s", err);
}

static void
build(const char *yaml)
{
    build_with(yaml, 0, NULL, 0, NULL, 0);
}

static void
teardown(void)
{
    model_release(snap);
    snap = NULL;
    diag_list_fini(&dl);
    config_fini(&set);
}

/* The route a connection gets on <port>, as the data path picks it: the SNI's virtual host
 * on a TLS listener, "*" on a TCP one; <dst> the local address reached (NULL: unknown). */
static const struct model_route *
l4_route(uint16_t port, const char *sni, const char *dst)
{
    const struct model_listener *l = model_listener_for(snap, port);
    assert_non_null(l);
    struct slice s = slice_make(sni ? sni : "", sni ? strlen(sni) : 0);
    const struct model_vhost *vh = l->kind == MODEL_LISTENER_TLS ? model_vhost_find(l, s) : l->any;
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    if (dst) {
        v4->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, dst, &v4->sin_addr), 1);
    }
    struct route_request rq = {.sni = s, .dst = dst ? &ss : NULL};
    return route_match(vh, &rq, NULL);
}

static const char *
l4_cluster(uint16_t port, const char *sni, const char *dst)
{
    const struct model_route *r = l4_route(port, sni, dst);
    if (!r) return "";
    return r->dests[0].cluster ? r->dests[0].cluster->name : "NC";
}

static const char *const tcp_gateway =
    "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: "
    "default}\nspec:\n  servers:\n  - port: {number: 31400, name: tcp, protocol: TCP}\n"
    "    hosts: ['*']\n---\n";

static void
test_l4_gateway_tcp_server_with_a_weighted_route(void **state)
{
    (void)state;
    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "%sapiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: "
             "echo, namespace: default}\nspec:\n  hosts: ['*']\n  gateways: [gw]\n  tcp:\n"
             "  - match: [{port: 31400}]\n    route:\n"
             "    - {destination: {host: tcp-echo, port: {number: 9000}, subset: v1}, weight: 80}\n"
             "    - {destination: {host: tcp-echo, port: {number: 9000}, subset: v2}, weight: 20}\n"
             "    - {destination: {host: tcp-echo, port: {number: 9000}, subset: v2}, weight: 0}\n",
             tcp_gateway);
    build(yaml);
    const struct model_listener *l = model_listener_for(snap, 31400);
    assert_non_null(l);
    assert_int_equal(l->kind, MODEL_LISTENER_TCP);
    assert_false(l->mesh);
    assert_int_equal(l->n_gateways, 1);
    assert_string_equal(l->gateways[0], "default/gw");
    const struct model_route *r = l4_route(31400, NULL, "127.0.0.1");
    assert_non_null(r);
    assert_int_equal(r->l4, MODEL_L4_TCP);
    assert_int_equal(r->action, MODEL_ROUTE);
    assert_int_equal(r->retry_attempts, 0);
    assert_string_equal(r->vs, "default/echo");
    assert_int_equal(r->n_dests, 2);        /* the weight-0 one dropped ... */
    assert_int_equal(r->n_listed_dests, 3); /* ... but listed for /splits */
    assert_int_equal(r->total_weight, 100);
    assert_string_equal(r->dests[0].cluster->name,
                        "outbound|9000|v1|tcp-echo.default.svc.cluster.local");
    assert_string_equal(r->dests[1].cluster->name,
                        "outbound|9000|v2|tcp-echo.default.svc.cluster.local");
    assert_int_equal(r->dests[0].weight, 80);
    assert_true(r->split_offset + r->n_dests <= snap->n_split_slots);
    /* A VirtualService bound elsewhere adds nothing; the listener still exists. */
    teardown();
    build(tcp_gateway);
    assert_int_equal(model_listener_for(snap, 31400)->kind, MODEL_LISTENER_TCP);
    assert_null(l4_route(31400, NULL, NULL));
    teardown();
}

static const char *const tls_gateway =
    "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: "
    "default}\nspec:\n  servers:\n  - port: {number: 8443, name: tls, protocol: TLS}\n"
    "    hosts: ['*.example.com']\n    tls: {mode: PASSTHROUGH}\n---\n"
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: sni, "
    "namespace: default}\nspec:\n  hosts: [a.example.com, '*.b.example.com', c.other.org]\n"
    "  gateways: [gw]\n  tls:\n"
    "  - match: [{sniHosts: [A.example.com]}]\n"
    "    route: [{destination: {host: a.example.com}}]\n"
    "  - match: [{sniHosts: ['*.b.example.com', c.other.org]}]\n"
    "    route: [{destination: {host: x.b.example.com}}]\n";

static void
test_l4_tls_passthrough_virtual_hosts_by_sni(void **state)
{
    (void)state;
    build(tls_gateway);
    const struct model_listener *l = model_listener_for(snap, 8443);
    assert_non_null(l);
    assert_int_equal(l->kind, MODEL_LISTENER_TLS);
    assert_int_equal(l->n_tls, 0); /* nothing terminated */
    const char *a = "outbound|8443||a.example.com", *b = "outbound|8443||x.b.example.com";
    assert_string_equal(l4_cluster(8443, "a.example.com", NULL), a);
    assert_string_equal(l4_cluster(8443, "A.Example.COM", NULL), a);
    assert_string_equal(l4_cluster(8443, "x.b.example.com", NULL), b);
    assert_string_equal(l4_cluster(8443, "y.z.b.example.com", NULL), b);
    assert_int_equal(l4_route(8443, "a.example.com", NULL)->l4, MODEL_L4_TLS);
    /* sniHosts count as written once the VirtualService is bound (Istio's gateway) */
    assert_string_equal(l4_cluster(8443, "c.other.org", NULL), b);
    /* no virtual host: nothing */
    assert_string_equal(l4_cluster(8443, "b.example.com", NULL), "");
    assert_string_equal(l4_cluster(8443, NULL, NULL), "");
    teardown();
}

/* Mesh tcp rules: destinationSubnets are checked per connection, sourceLabels and
 * sourceNamespace against this proxy now; rules up to a catch-all, else the default route. */
static const char *const subnet_vs =
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: "
    "echo, namespace: default}\nspec:\n  hosts: [tcp-echo]\n  tcp:\n"
    "  - match: [{destinationSubnets: [10.0.0.0/8, 192.168.1.7]}]\n"
    "    route: [{destination: {host: tcp-echo, subset: v2}}]\n"
    "  - match: [{sourceLabels: {app: gw, zone: b}}, {sourceNamespace: other}]\n"
    "    route: [{destination: {host: tcp-echo, subset: v2}}]\n"
    "  - match: [{sourceLabels: {app: gw}, port: 9000}]\n"
    "    route: [{destination: {host: tcp-echo, subset: v1}}]\n";

static void
test_l4_destination_subnets_pick_the_route(void **state)
{
    (void)state;
    static const char *const mine[] = {"app=gw", "zone=a"};
    build_with(subnet_vs, 15001, mine, 2, NULL, 0);
    const char *v1 = "outbound|9000|v1|tcp-echo.default.svc.cluster.local";
    const char *v2 = "outbound|9000|v2|tcp-echo.default.svc.cluster.local";
    assert_string_equal(l4_cluster(9000, NULL, "10.1.2.3"), v2);
    assert_string_equal(l4_cluster(9000, NULL, "192.168.1.7"), v2);
    assert_string_equal(l4_cluster(9000, NULL, "192.168.1.8"), v1);
    assert_string_equal(l4_cluster(9000, NULL, "127.0.0.1"), v1);
    assert_string_equal(l4_cluster(9000, NULL, NULL), v1); /* unknown: no subnet holds it */
    /* rule 1 is gone for this proxy; rule 2 takes everything: nothing after it, no default */
    const struct model_listener *l = model_listener_for(snap, 9000);
    assert_int_equal(l->any->n_routes, 2);
    assert_int_equal(l->any->routes[1].rule_index, 2);
    assert_true(l->any->l4_subnets); /* the data path reads the local address */
    teardown();
}

static void
test_l4_source_labels_and_namespace_drop_blocks(void **state)
{
    (void)state;
    static const char *const other[] = {"app=web"};
    build_with(subnet_vs, 15001, other, 1, NULL, 0);
    /* rules 1 and 2 fail for app=web: Istio's default route follows rule 0 */
    const struct model_listener *l = model_listener_for(snap, 9000);
    assert_int_equal(l->any->n_routes, 2);
    assert_string_equal(l->any->routes[1].name, "default");
    assert_string_equal(l4_cluster(9000, NULL, "127.0.0.1"),
                        "outbound|9000||tcp-echo.default.svc.cluster.local");
    assert_string_equal(l4_cluster(9000, NULL, "10.0.0.1"),
                        "outbound|9000|v2|tcp-echo.default.svc.cluster.local");
    teardown();
}

/* On a Gateway, Istio looks only at a block's port and gateways: destinationSubnets and
 * sourceLabels do not count, so the first rule that exists takes every connection. */
static void
test_l4_gateway_ignores_subnets_and_source_labels(void **state)
{
    (void)state;
    char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "%sapiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: "
             "echo, namespace: default}\nspec:\n  hosts: ['*']\n  gateways: [gw]\n  tcp:\n"
             "  - match: [{port: 31401}]\n"
             "    route: [{destination: {host: tcp-echo, subset: v1}}]\n"
             "  - match: [{destinationSubnets: [10.0.0.0/8], sourceLabels: {app: nobody}}]\n"
             "    route: [{destination: {host: tcp-echo, subset: v2}}]\n"
             "  - route: [{destination: {host: tcp-echo, subset: v1}}]\n",
             tcp_gateway);
    build(yaml);
    const struct model_listener *l = model_listener_for(snap, 31400);
    assert_int_equal(l->any->n_routes, 1);
    assert_int_equal(l->any->routes[0].matches[0].n_subnets, 0);
    assert_false(l->any->l4_subnets); /* no getsockname per connection */
    assert_string_equal(l4_cluster(31400, NULL, "127.0.0.1"),
                        "outbound|9000|v2|tcp-echo.default.svc.cluster.local");
    teardown();
}

static void
test_l4_mesh_service_ports_get_listeners_with_a_default_route(void **state)
{
    (void)state;
    build_with("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: "
               "canary, namespace: default}\nspec:\n  hosts: [tcp-echo]\n  tcp:\n"
               "  - match: [{destinationSubnets: [10.0.0.0/8]}]\n"
               "    route: [{destination: {host: tcp-echo, subset: v2}}]\n",
               15001, NULL, 0, NULL, 0);
    const struct model_listener *l = model_listener_for(snap, 9000);
    assert_non_null(l);
    assert_int_equal(l->kind, MODEL_LISTENER_TCP);
    assert_true(l->mesh && l->service_port);
    assert_false(model_listener_for(snap, 15001)->service_port);
    assert_int_equal(l->any->n_routes, 2);
    assert_string_equal(l4_cluster(9000, NULL, "10.0.0.1"),
                        "outbound|9000|v2|tcp-echo.default.svc.cluster.local");
    const struct model_route *d = l4_route(9000, NULL, "127.0.0.1");
    assert_string_equal(d->name, "default");
    assert_int_equal(d->l4, MODEL_L4_TCP);
    assert_string_equal(d->dests[0].cluster->name,
                        "outbound|9000||tcp-echo.default.svc.cluster.local");
    /* TLS service port: a virtual host per service host (its SNI), shared by the services. */
    const struct model_listener *t = model_listener_for(snap, 8443);
    assert_non_null(t);
    assert_int_equal(t->kind, MODEL_LISTENER_TLS);
    assert_true(t->service_port);
    assert_string_equal(l4_cluster(8443, "x.b.example.com", NULL),
                        "outbound|8443||x.b.example.com");
    assert_string_equal(l4_cluster(8443, "a.example.com", NULL), "outbound|8443||a.example.com");
    assert_string_equal(l4_cluster(8443, "other.example.com", NULL), "");
    teardown();
    /* No mesh listener: no service ports either. */
    build("");
    assert_null(model_listener_for(snap, 9000));
    teardown();
}

static void
test_l4_inbound_tcp_listener(void **state)
{
    (void)state;
    struct model_inbound in[] = {
        {.port = 9000, .tcp = true, .app_address = "127.0.0.1", .app_port = 19009},
        {.port = 9080, .app_address = "127.0.0.1", .app_port = 19080},
    };
    build_with("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: "
               "strict, namespace: default}\nspec:\n  mtls: {mode: STRICT}\n",
               0, NULL, 0, in, 2);
    const struct model_listener *l = model_listener_for(snap, 9000);
    assert_int_equal(l->kind, MODEL_LISTENER_TCP);
    assert_true(l->inbound);
    assert_false(l->service_port);
    assert_int_equal(l->peer_mode, MODEL_PEER_STRICT);
    const struct model_route *r = l4_route(9000, NULL, NULL);
    assert_int_equal(r->l4, MODEL_L4_TCP);
    assert_int_equal(r->retry_attempts, 0);
    assert_string_equal(r->dests[0].cluster->name, "inbound|9000||");
    assert_int_equal(r->dests[0].cluster->endpoints[0].port, 19009);
    assert_int_equal(model_listener_for(snap, 9080)->kind, MODEL_LISTENER_HTTP);
    teardown();
}

static void
test_l4_auto_passthrough_names_every_pool(void **state)
{
    (void)state;
    build("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: east, "
          "namespace: default}\nspec:\n  servers:\n  - port: {number: 15443, name: tls, "
          "protocol: TLS}\n    hosts: ['*.local']\n    tls: {mode: AUTO_PASSTHROUGH}\n");
    const struct model_listener *l = model_listener_for(snap, 15443);
    assert_non_null(l);
    assert_int_equal(l->kind, MODEL_LISTENER_TLS);
    assert_true(l->auto_passthrough);
    const char *host = "tcp-echo.default.svc.cluster.local";
    char sni[256], want[256];
    static const char *const subsets[] = {"", "v1", "v2"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(sni, sizeof(sni), "outbound_.9000_.%s_.%s", subsets[i], host);
        snprintf(want, sizeof(want), "outbound|9000|%s|%s", subsets[i], host);
        assert_string_equal(l4_cluster(15443, sni, NULL), want);
        assert_int_equal(l4_route(15443, sni, NULL)->l4, MODEL_L4_TLS);
    }
    assert_string_equal(
        l4_cluster(15443, "outbound_.9000_._.tcp-echo.default.svc.cluster.local", NULL),
        "outbound|9000||tcp-echo.default.svc.cluster.local");
    /* hosts the server does not admit (*.local) get none */
    assert_string_equal(l4_cluster(15443, "outbound_.8443_._.a.example.com", NULL), "");
    assert_string_equal(
        l4_cluster(15443, "outbound_.9000_.v3_.tcp-echo.default.svc.cluster.local", NULL), "");
    teardown();
}

static void
test_l4_block_matches_sni_and_subnets_with_reasons(void **state)
{
    (void)state;
    const char *snis[] = {"a.example.com", "*.b.example.com"};
    struct model_cidr nets[2] = {{.family = AF_INET, .bits = 8}, {.family = AF_INET, .bits = 32}};
    nets[0].addr[0] = 10;
    inet_pton(AF_INET, "192.168.1.7", nets[1].addr);
    struct model_match m = {.n_sni = 2, .sni = snis};
    char why[256] = "";
    struct route_request rq = {.sni = SLICE_LIT("A.EXAMPLE.com")};
    assert_true(route_block_matches(&m, &rq, why, sizeof(why)));
    rq.sni = SLICE_LIT("x.y.b.example.com");
    assert_true(route_block_matches(&m, &rq, why, sizeof(why)));
    rq.sni = SLICE_LIT("b.example.com"); /* a wildcard needs a label before its suffix */
    assert_false(route_block_matches(&m, &rq, why, sizeof(why)));
    assert_string_equal(why, "sni b.example.com not in [a.example.com, *.b.example.com]");
    rq.sni = SLICE_LIT("");
    assert_false(route_block_matches(&m, &rq, why, sizeof(why)));
    assert_string_equal(why, "sni (none) not in [a.example.com, *.b.example.com]");
    const char *star[] = {"*"};
    struct model_match any = {.n_sni = 1, .sni = star};
    assert_true(route_block_matches(&any, &rq, NULL, 0));

    struct model_match sub = {.n_subnets = 2, .subnets = nets};
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    v4->sin_family = AF_INET;
    inet_pton(AF_INET, "10.200.0.1", &v4->sin_addr);
    rq.dst = &ss;
    assert_true(route_block_matches(&sub, &rq, why, sizeof(why)));
    inet_pton(AF_INET, "192.168.1.8", &v4->sin_addr);
    assert_false(route_block_matches(&sub, &rq, why, sizeof(why)));
    assert_string_equal(why, "destination 192.168.1.8 not in [10.0.0.0/8, 192.168.1.7/32]");
    /* An IPv4-mapped IPv6 address is its IPv4 address. */
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    memset(&ss, 0, sizeof(ss));
    v6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:10.0.0.9", &v6->sin6_addr);
    assert_true(route_block_matches(&sub, &rq, NULL, 0));
    rq.dst = NULL;
    assert_false(route_block_matches(&sub, &rq, why, sizeof(why)));
    assert_string_equal(why, "destination (unknown) not in [10.0.0.0/8, 192.168.1.7/32]");
    /* No L4 condition: any connection. */
    struct model_match none = {0};
    assert_true(route_block_matches(&none, &rq, NULL, 0));
}

/* TLS terminated (SIMPLE) then bytes: a TCP listener with the server's certificate; one
 * port, one kind: the first server (or the gateway before a service port) keeps it. */
static void
test_l4_tls_terminated_server_and_first_kind_on_a_port_wins(void **state)
{
    (void)state;
    build_with("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, "
               "namespace: default}\nspec:\n  servers:\n"
               "  - port: {number: 9443, name: tls, protocol: TLS}\n    hosts: ['*']\n"
               "    tls: {mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}\n"
               "  - port: {number: 9443, name: http, protocol: HTTP}\n    hosts: ['*']\n"
               "  - port: {number: 9000, name: http2, protocol: HTTP}\n    hosts: ['*']\n---\n"
               "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: t, "
               "namespace: default}\nspec:\n  hosts: ['*']\n  gateways: [gw]\n  tcp:\n"
               "  - route: [{destination: {host: tcp-echo, subset: v1}}]\n",
               15001, NULL, 0, NULL, 0);
    const struct model_listener *l = model_listener_for(snap, 9443);
    assert_int_equal(l->kind, MODEL_LISTENER_TCP);
    assert_int_equal(l->n_tls, 1);
    assert_string_equal(l->tls[0].cert, "/c.pem");
    assert_string_equal(l4_cluster(9443, NULL, NULL),
                        "outbound|9000|v1|tcp-echo.default.svc.cluster.local");
    /* port 9000 is the gateway's HTTP server: the TCP service gets no mesh listener there */
    l = model_listener_for(snap, 9000);
    assert_int_equal(l->kind, MODEL_LISTENER_HTTP);
    assert_false(l->mesh);
    size_t n = 0;
    for (size_t i = 0; i < snap->n_listeners; i++) n += snap->listeners[i].port == 9000;
    assert_int_equal(n, 1);
    teardown();
}

/* The pool of an inbound port names the service it serves (what its requests report as
 * destination_service): a ServiceEntry of this namespace selecting this workload on that
 * port (target port), else the workload's canonical name, else "unknown". */
static void
test_l4_inbound_pool_names_the_service_it_serves(void **state)
{
    (void)state;
    const char *yaml =
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ratings, "
        "namespace: default}\nspec:\n  hosts: [ratings.default.svc.cluster.local]\n"
        "  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 9080}]\n"
        "  resolution: STATIC\n  workloadSelector: {labels: {app: ratings}}\n";
    const char *labels[] = {"app=ratings", "version=v1"};
    struct model_inbound in[] = {
        {.port = 9080, .app_address = "127.0.0.1", .app_port = 19080},
        {.port = 9081, .app_address = "127.0.0.1", .app_port = 19081},
    };
    build_with(yaml, 0, labels, 2, in, 2);
    const char *hosts[2] = {NULL, NULL};
    for (size_t i = 0; i < snap->n_clusters; i++) {
        const struct model_cluster *c = snap->clusters[i];
        if (!strcmp(c->name, "inbound|9080||")) hosts[0] = c->host;
        if (!strcmp(c->name, "inbound|9081||")) hosts[1] = c->host;
    }
    assert_string_equal(hosts[0], "ratings.default.svc.cluster.local");
    assert_string_equal(hosts[1], "ratings"); /* no service on 9081: the app label */
    teardown();
    build_with(yaml, 0, NULL, 0, in, 1); /* no labels: nothing selects it */
    for (size_t i = 0; i < snap->n_clusters; i++)
        if (!strcmp(snap->clusters[i]->name, "inbound|9080||"))
            assert_string_equal(snap->clusters[i]->host, "unknown");
    teardown();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_l4_gateway_tcp_server_with_a_weighted_route),
        cmocka_unit_test(test_l4_tls_passthrough_virtual_hosts_by_sni),
        cmocka_unit_test(test_l4_destination_subnets_pick_the_route),
        cmocka_unit_test(test_l4_source_labels_and_namespace_drop_blocks),
        cmocka_unit_test(test_l4_gateway_ignores_subnets_and_source_labels),
        cmocka_unit_test(test_l4_mesh_service_ports_get_listeners_with_a_default_route),
        cmocka_unit_test(test_l4_inbound_tcp_listener),
        cmocka_unit_test(test_l4_tls_terminated_server_and_first_kind_on_a_port_wins),
        cmocka_unit_test(test_l4_auto_passthrough_names_every_pool),
        cmocka_unit_test(test_l4_block_matches_sni_and_subnets_with_reasons),
        cmocka_unit_test(test_l4_inbound_pool_names_the_service_it_serves),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    harness_cleanup();
    return rc;
}
