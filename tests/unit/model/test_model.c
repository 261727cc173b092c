/* SPDX-License-Identifier: Apache-2.0 */
/* Building snapshots and matching routes, with the spec's worked examples (§11.1): which
 * listener, virtual host, route and cluster a request gets. */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "harness.h"
#include "model/model.h"
#include "model/route.h"
#include "core/strbuf.h"

static const char *const registry =
    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: reviews, "
    "namespace: default}\nspec:\n  hosts: [reviews.default.svc.cluster.local]\n"
    "  ports:\n  - {number: 9080, name: http, protocol: HTTP}\n  resolution: STATIC\n"
    "  endpoints:\n"
    "  - {address: 127.0.0.1, ports: {http: 19081}, labels: {version: v1}}\n"
    "  - {address: 127.0.0.1, ports: {http: 19082}, labels: {version: v2}}\n"
    "  - {address: 127.0.0.1, ports: {http: 19083}, labels: {version: v3}}\n---\n"
    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews, "
    "namespace: default}\nspec:\n  host: reviews\n  subsets:\n"
    "  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n"
    "  - {name: v3, labels: {version: v3}}\n  - {name: v4, labels: {version: v4}}\n---\n";

static struct resource_set set;
static struct diag_list dl;
static struct snapshot *snap;

static void
build_from(const char *vs_yaml, uint16_t mesh_port, bool allow_errors)
{
    char text[16384];
    snprintf(text, sizeof(text), "%s%s", registry, vs_yaml);
    const char *dir = harness_tmpdir();
    const char *paths[] = {harness_write(dir, "c.yaml", text)};
    config_init(&set);
    diag_list_init(&dl);
    assert_int_equal(config_load(&set, paths, 1, NULL, &dl), 0);
    config_analyze(&set, &dl);
    if (dl.errors && !allow_errors) {
        struct strbuf sb;
        strbuf_init(&sb, 1 << 16);
        diag_list_format(&dl, false, &sb);
        fail_msg("config has errors:\n%s", strbuf_str(&sb));
    }
    struct model_options opt = {.mesh_port = mesh_port, .ns = "default"};
    char err[256];
    snap = model_build(&set, &opt, err, sizeof(err));
    if (!snap) fail_msg("build failed: %s", err);
}

static void
build(const char *vs_yaml, uint16_t mesh_port)
{
    build_from(vs_yaml, mesh_port, false);
}

static void
teardown(void)
{
    model_release(snap);
    snap = NULL;
    diag_list_fini(&dl);
    config_fini(&set);
}

/* The cluster name the request would go to ("" for no route, "NC" for a missing cluster,
 * the first destination otherwise). */
static const char *
route_of(uint16_t port, const char *host, const char *method, const char *path,
         const struct route_header *hdrs, size_t n)
{
    const struct model_listener *l = model_listener_for(snap, port);
    if (!l) return "no listener";
    const struct model_vhost *vh = model_vhost_find(l, slice_make(host, strlen(host)));
    struct route_request rq = {
        .method = slice_make(method, strlen(method)),
        .path = slice_make(path, strlen(path)),
        .authority = slice_make(host, strlen(host)),
        .scheme = SLICE_LIT("http"),
        .headers = hdrs,
        .n_headers = n,
    };
    const struct model_route *r = route_match(vh, &rq, NULL);
    if (!r) return "";
    if (r->action != MODEL_ROUTE) return "local";
    return r->dests[0].cluster ? r->dests[0].cluster->name : "NC";
}

#define H(n, v)                                                                                    \
    {                                                                                              \
        SLICE_LIT(n), SLICE_LIT(v)                                                                 \
    }

static const char *const jason_vs =
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews, "
    "namespace: default}\nspec:\n  hosts: [reviews]\n  http:\n  - match:\n"
    "    - headers: {end-user: {exact: jason}}\n    route:\n"
    "    - destination: {host: reviews, subset: v2}\n  - route:\n"
    "    - destination: {host: reviews, subset: v3}\n";

static void
test_model_e1_header_routing_on_the_mesh(void **state)
{
    (void)state;
    build(jason_vs, 15001);
    static const char *v2 = "outbound|9080|v2|reviews.default.svc.cluster.local";
    static const char *v3 = "outbound|9080|v3|reviews.default.svc.cluster.local";
    struct route_header jason[] = {H("end-user", "jason")};
    struct route_header Jason_name[] = {H("End-User", "jason")};
    struct route_header Jason_value[] = {H("end-user", "Jason")};
    struct route_header twice[] = {H("end-user", "jason"), H("end-user", "jason")};
    assert_string_equal(route_of(15001, "reviews", "GET", "/reviews/0", jason, 1), v2);
    assert_string_equal(route_of(15001, "reviews", "GET", "/reviews/0", NULL, 0), v3);
    assert_string_equal(route_of(15001, "reviews", "GET", "/reviews/0", Jason_name, 1), v2);
    assert_string_equal(route_of(15001, "reviews", "GET", "/reviews/0", Jason_value, 1), v3);
    assert_string_equal(route_of(15001, "reviews", "GET", "/reviews/0", twice, 2), v3);
    /* Host forms of a sidecar virtual host, with or without port, any case. */
    assert_string_equal(
        route_of(15001, "reviews.default.svc.cluster.local:9080", "GET", "/", jason, 1), v2);
    assert_string_equal(route_of(15001, "Reviews.Default", "GET", "/", jason, 1), v2);
    assert_string_equal(route_of(15001, "ratings", "GET", "/", NULL, 0), "");
    teardown();
}

static void
test_model_e6_e8_uri_matching(void **state)
{
    (void)state;
    build("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"
          "spec:\n  hosts: [reviews]\n  http:\n"
          "  - match:\n    - uri: {prefix: /api}\n    route:\n"
          "    - destination: {host: reviews, subset: v1}\n"
          "  - match:\n    - uri: {exact: /v1/health}\n    route:\n"
          "    - destination: {host: reviews, subset: v2}\n"
          "  - match:\n    - uri: {regex: \"/x/v[0-9]+/items\"}\n    route:\n"
          "    - destination: {host: reviews, subset: v3}\n",
          15001);
    static const char *v1 = "outbound|9080|v1|reviews.default.svc.cluster.local";
    static const char *v2 = "outbound|9080|v2|reviews.default.svc.cluster.local";
    static const char *v3 = "outbound|9080|v3|reviews.default.svc.cluster.local";
    assert_string_equal(route_of(15001, "reviews", "GET", "/api", NULL, 0), v1);
    assert_string_equal(route_of(15001, "reviews", "GET", "/api/x", NULL, 0), v1);
    assert_string_equal(route_of(15001, "reviews", "GET", "/apiary", NULL, 0), v1);
    assert_string_equal(route_of(15001, "reviews", "GET", "/ap", NULL, 0), "");
    assert_string_equal(route_of(15001, "reviews", "GET", "/API/x", NULL, 0), "");
    assert_string_equal(route_of(15001, "reviews", "GET", "/v1/health?verbose=1", NULL, 0), v2);
    assert_string_equal(route_of(15001, "reviews", "GET", "/v1/health/", NULL, 0), "");
    assert_string_equal(route_of(15001, "reviews", "GET", "/x/v2/items", NULL, 0), v3);
    assert_string_equal(route_of(15001, "reviews", "GET", "/x/v2/items/7", NULL, 0), "");
    assert_string_equal(route_of(15001, "reviews", "GET", "/y/x/v2/items", NULL, 0), "");
    teardown();
}

static void
test_model_e9_e12_headers_query_authority(void **state)
{
    (void)state;
    build("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"
          "spec:\n  hosts: [reviews]\n  http:\n"
          "  - match:\n    - headers: {x-canary: {}}\n    route:\n"
          "    - destination: {host: reviews, subset: v1}\n"
          "  - match:\n    - queryParams: {debug: {exact: \"1\"}}\n    route:\n"
          "    - destination: {host: reviews, subset: v2}\n"
          "  - match:\n    - authority: {exact: reviews}\n      withoutHeaders: {x-skip: {exact: "
          "\"true\"}}\n"
          "    route:\n    - destination: {host: reviews, subset: v3}\n",
          15001);
    static const char *v1 = "outbound|9080|v1|reviews.default.svc.cluster.local";
    static const char *v2 = "outbound|9080|v2|reviews.default.svc.cluster.local";
    static const char *v3 = "outbound|9080|v3|reviews.default.svc.cluster.local";
    struct route_header empty[] = {H("x-canary", "")};
    struct route_header skip[] = {H("x-skip", "true")};
    struct route_header noskip[] = {H("x-skip", "false")};
    assert_string_equal(route_of(15001, "reviews", "GET", "/", empty, 1), v1);
    assert_string_equal(route_of(15001, "reviews", "GET", "/p?debug=1", NULL, 0), v2);
    assert_string_equal(route_of(15001, "reviews", "GET", "/p?debug=1&debug=0", NULL, 0), v2);
    assert_string_equal(route_of(15001, "reviews", "GET", "/p?debug=0&debug=1", NULL, 0), v3);
    assert_string_equal(route_of(15001, "reviews", "GET", "/p", NULL, 0), v3);
    assert_string_equal(route_of(15001, "reviews", "GET", "/p", skip, 1), "");
    assert_string_equal(route_of(15001, "reviews", "GET", "/p", noskip, 1), v3);
    assert_string_equal(route_of(15001, "reviews:9080", "GET", "/p", NULL, 0), "");
    teardown();
}

static void
test_model_e16_e17_missing_subset_and_empty_subset(void **state)
{
    (void)state;
    /* validate/check would flag v9 (IST0101); the model still serves the rest and routes
     * the v9 share to no cluster (503 NC). v4 exists but selects nothing (503 UH). */
    build("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"
          "spec:\n  hosts: [reviews]\n  http:\n"
          "  - match:\n    - uri: {prefix: /nine}\n    route:\n"
          "    - destination: {host: reviews, subset: v1}\n",
          15001);
    teardown();
    char vs[2048];
    snprintf(vs, sizeof(vs),
             "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"
             "spec:\n  hosts: [reviews]\n  http:\n  - route:\n"
             "    - destination: {host: reviews, subset: v4}\n");
    build(vs, 15001);
    const struct model_listener *l = model_listener_for(snap, 15001);
    const struct model_vhost *vh = model_vhost_find(l, SLICE_LIT("reviews"));
    assert_non_null(vh);
    assert_int_equal(vh->n_routes, 1);
    assert_non_null(vh->routes[0].dests[0].cluster);
    assert_int_equal(vh->routes[0].dests[0].cluster->n_endpoints, 0);
    teardown();
}

static void
test_model_weights_and_cluster_endpoints(void **state)
{
    (void)state;
    build("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"
          "spec:\n  hosts: [reviews]\n  http:\n  - route:\n"
          "    - destination: {host: reviews, subset: v1}\n      weight: 90\n"
          "    - destination: {host: reviews, subset: v2}\n      weight: 10\n"
          "    - destination: {host: reviews, subset: v3}\n      weight: 0\n",
          15001);
    const struct model_vhost *vh =
        model_vhost_find(model_listener_for(snap, 15001), SLICE_LIT("reviews"));
    const struct model_route *r = &vh->routes[0];
    assert_int_equal(r->n_dests, 2); /* weight 0 dropped */
    assert_int_equal(r->total_weight, 100);
    const struct model_cluster *c = r->dests[0].cluster;
    assert_int_equal(c->n_endpoints, 1);
    assert_int_equal(c->endpoints[0].port, 19081);
    assert_string_equal(c->endpoints[0].address, "127.0.0.1");
    teardown();
}

/* Endpoint and pool state (outlier detection, circuit breakers) outlives a snapshot: a new
 * snapshot with the same pools finds the same state; the same address in another pool
 * (a subset and the default pool) has its own. */
static void
test_model_endpoint_state_survives_a_rebuild_per_pool(void **state)
{
    (void)state;
    const char *vs =
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"
        "spec:\n  hosts: [reviews]\n  http:\n  - match: [{uri: {prefix: /v1}}]\n"
        "    route: [{destination: {host: reviews, subset: v1}}]\n"
        "  - route: [{destination: {host: reviews}}]\n";
    build(vs, 15001);
    const struct model_vhost *vh =
        model_vhost_find(model_listener_for(snap, 15001), SLICE_LIT("reviews"));
    const struct model_cluster *v1 = vh->routes[0].dests[0].cluster;
    const struct model_cluster *all = vh->routes[1].dests[0].cluster;
    const void *ep_state = v1->endpoints[0].state, *pool_state = v1->state;
    assert_ptr_not_equal(all->endpoints[0].state, ep_state); /* same address, other pool */
    assert_ptr_not_equal(all->state, pool_state);
    teardown();
    build(vs, 15001);
    vh = model_vhost_find(model_listener_for(snap, 15001), SLICE_LIT("reviews"));
    v1 = vh->routes[0].dests[0].cluster;
    assert_ptr_equal(v1->endpoints[0].state, ep_state);
    assert_ptr_equal(v1->state, pool_state);
    teardown();
}

/* The route keeps what explain shows of `retries` as its own values: whether the rule has
 * it and retryOn as written, valid after the resource set is gone. */
static void
test_model_route_retries_outlive_the_resource_set(void **state)
{
    (void)state;
    build("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"
          "spec:\n  hosts: [reviews]\n  http:\n  - match: [{uri: {prefix: /a}}]\n"
          "    retries: {attempts: 4, retryOn: \"5xx,409\"}\n"
          "    route: [{destination: {host: reviews}}]\n"
          "  - route: [{destination: {host: reviews}}]\n",
          15001);
    diag_list_fini(&dl);
    config_fini(&set); /* the snapshot must not need the resource set any more */
    const struct model_vhost *vh =
        model_vhost_find(model_listener_for(snap, 15001), SLICE_LIT("reviews"));
    const struct model_route *a = &vh->routes[0], *dflt = &vh->routes[1];
    assert_true(a->retries_set);
    assert_string_equal(a->retry_on_text, "5xx,409");
    assert_int_equal(a->retry_attempts, 4);
    assert_int_equal(a->retry_on, MODEL_RETRY_5XX | MODEL_RETRY_STATUS_CODES);
    assert_false(dflt->retries_set); /* Istio's default policy */
    assert_null(dflt->retry_on_text);
    assert_int_equal(dflt->retry_attempts, 2);
    model_release(snap);
    snap = NULL;
}

static void
test_model_gateway_listener_merges_and_puts_catch_alls_last(void **state)
{
    (void)state;
    build("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n"
          "  servers:\n  - port: {number: 18080, name: http, protocol: HTTP}\n"
          "    hosts: [\"*.example.com\"]\n---\n"
          "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\n"
          "spec:\n  hosts: [api.example.com]\n  gateways: [gw]\n  http:\n  - route:\n"
          "    - destination: {host: reviews, subset: v1}\n---\n"
          "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b}\n"
          "spec:\n  hosts: [api.example.com]\n  gateways: [default/gw]\n  http:\n"
          "  - match:\n    - uri: {prefix: /b}\n    route:\n"
          "    - destination: {host: reviews, subset: v2}\n---\n"
          "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: c}\n"
          "spec:\n  hosts: [\"*.example.com\"]\n  gateways: [gw]\n  http:\n  - route:\n"
          "    - destination: {host: reviews, subset: v3}\n",
          0);
    assert_null(model_listener_for(snap, 15001));
    assert_string_equal(route_of(18080, "api.example.com", "GET", "/b/1", NULL, 0),
                        "outbound|9080|v2|reviews.default.svc.cluster.local");
    assert_string_equal(route_of(18080, "api.example.com:18080", "GET", "/x", NULL, 0),
                        "outbound|9080|v1|reviews.default.svc.cluster.local");
    assert_string_equal(route_of(18080, "other.example.com", "GET", "/b", NULL, 0),
                        "outbound|9080|v3|reviews.default.svc.cluster.local");
    assert_string_equal(route_of(18080, "example.com", "GET", "/", NULL, 0), "");
    teardown();
}

static void
test_model_mesh_oldest_virtual_service_wins(void **state)
{
    (void)state;
    /* check reports IST0109 for this; a running sidecar still serves the oldest. */
    build_from(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\n"
        "spec:\n  hosts: [reviews]\n  http:\n  - route:\n"
        "    - destination: {host: reviews, subset: v1}\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b}\n"
        "spec:\n  hosts: [reviews]\n  http:\n  - match:\n    - uri: {prefix: /b}\n    route:\n"
        "    - destination: {host: reviews, subset: v2}\n",
        15001, true);
    assert_true(diag_list_has(&dl, "IST0109", "spec.hosts"));
    assert_string_equal(route_of(15001, "reviews", "GET", "/b", NULL, 0),
                        "outbound|9080|v1|reviews.default.svc.cluster.local");
    teardown();
}

static void
test_model_mesh_default_route_without_virtual_service(void **state)
{
    (void)state;
    build("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ratings}\n"
          "spec:\n  hosts: [ratings.default.svc.cluster.local]\n"
          "  ports:\n  - {number: 9080, name: http, protocol: HTTP}\n  resolution: STATIC\n"
          "  endpoints:\n  - {address: 127.0.0.1, weight: 3}\n",
          15001);
    assert_string_equal(route_of(15001, "ratings", "POST", "/anything", NULL, 0),
                        "outbound|9080||ratings.default.svc.cluster.local");
    /* reviews has no VirtualService here either: default pool with all three endpoints. */
    const struct model_vhost *vh =
        model_vhost_find(model_listener_for(snap, 15001), SLICE_LIT("reviews.default"));
    assert_non_null(vh);
    assert_int_equal(vh->routes[0].dests[0].cluster->n_endpoints, 3);
    vh = model_vhost_find(model_listener_for(snap, 15001), SLICE_LIT("ratings"));
    assert_int_equal(vh->routes[0].dests[0].cluster->endpoints[0].weight, 3);
    teardown();
}

static void
test_model_subset_with_two_labels(void **state)
{
    (void)state;
    build(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: pay}\n"
        "spec:\n  hosts: [pay.default.svc.cluster.local]\n"
        "  ports:\n  - {number: 80, name: http, protocol: HTTP}\n  resolution: STATIC\n"
        "  endpoints:\n  - {address: 127.0.0.1, labels: {version: v2, zone: a}}\n"
        "  - {address: 127.0.0.2, labels: {version: v2, zone: b}}\n"
        "  - {address: 127.0.0.3, labels: {version: v1, zone: a}}\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: pay}\n"
        "spec:\n  host: pay\n  subsets:\n  - {name: v2a, labels: {version: v2, zone: a}}\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: pay}\n"
        "spec:\n  hosts: [pay]\n  http:\n  - route:\n    - destination: {host: pay, subset: v2a}\n",
        15001);
    const struct model_vhost *vh =
        model_vhost_find(model_listener_for(snap, 15001), SLICE_LIT("pay"));
    const struct model_cluster *c = vh->routes[0].dests[0].cluster;
    assert_int_equal(c->n_endpoints, 1);
    assert_string_equal(c->endpoints[0].address, "127.0.0.1");
    teardown();
}

/* §3.16: a root rule delegating to a VirtualService without hosts stands for its rules, each
 * merged with the root's match and inheriting what it leaves unset; a delegate rule whose
 * match leaves the root's is dropped; a missing delegate drops the root rule. */
static void
test_model_delegate_merges_rules_into_the_root(void **state)
{
    (void)state;
    build("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: root}\n"
          "spec:\n  hosts: [reviews]\n  http:\n"
          "  - name: api\n    match:\n    - uri: {prefix: /api}\n      headers: {x-team: {exact: "
          "a}}\n"
          "    timeout: 2s\n    delegate: {name: team-a}\n"
          "  - match:\n    - uri: {prefix: /gone}\n    delegate: {name: missing}\n"
          "  - route:\n    - destination: {host: reviews, subset: v1}\n---\n"
          "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: team-a}\n"
          "spec:\n  http:\n"
          "  - name: v2\n    match:\n    - uri: {prefix: /api/v2}\n    route:\n"
          "    - destination: {host: reviews, subset: v2}\n"
          "  - name: outside\n    match:\n    - uri: {prefix: /other}\n    route:\n"
          "    - destination: {host: reviews, subset: v4}\n"
          "  - name: rest\n    timeout: 5s\n    route:\n"
          "    - destination: {host: reviews, subset: v3}\n",
          15001);
    static const char *v1 = "outbound|9080|v1|reviews.default.svc.cluster.local";
    static const char *v2 = "outbound|9080|v2|reviews.default.svc.cluster.local";
    static const char *v3 = "outbound|9080|v3|reviews.default.svc.cluster.local";
    struct route_header team[] = {H("x-team", "a")};
    /* delegate block /api/v2 refines root /api and keeps the root's header condition */
    assert_string_equal(route_of(15001, "reviews", "GET", "/api/v2/x", team, 1), v2);
    assert_string_equal(route_of(15001, "reviews", "GET", "/api/v2/x", NULL, 0), v1);
    /* a delegate rule without match takes the root's match */
    assert_string_equal(route_of(15001, "reviews", "GET", "/api/v1", team, 1), v3);
    /* /other is outside /api: that delegate rule is dropped, not served anywhere */
    assert_string_equal(route_of(15001, "reviews", "GET", "/other", team, 1), v1);
    assert_string_equal(route_of(15001, "reviews", "GET", "/gone", NULL, 0), v1);
    const struct model_listener *l = model_listener_for(snap, 15001);
    const struct model_vhost *vh = model_vhost_find(l, SLICE_LIT("reviews"));
    assert_int_equal(vh->n_routes, 3);
    assert_string_equal(vh->routes[0].name, "api-v2");
    assert_int_equal(vh->routes[0].timeout_ms, 2000); /* inherited from the root rule */
    assert_string_equal(vh->routes[1].name, "api-rest");
    assert_int_equal(vh->routes[1].timeout_ms, 5000); /* the delegate's own wins */
    assert_string_equal(vh->routes[0].vs, "default/root (delegate default/team-a)");
    teardown();
}

/* Slow start settings reach the pool: `warmup` with its defaults, the older
 * warmupDurationSecs, and none for balancers Envoy does not ramp (RANDOM). The subsets get
 * new names: a second DestinationRule for a host adds only subsets not yet defined. */
static void
test_model_warmup_reaches_the_pool(void **state)
{
    (void)state;
    build("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: w}\n"
          "spec:\n  host: reviews\n  trafficPolicy:\n    loadBalancer:\n"
          "      simple: ROUND_ROBIN\n      warmup: {duration: 30s, aggression: 2}\n"
          "  subsets:\n  - name: w1\n    labels: {version: v1}\n    trafficPolicy:\n"
          "      loadBalancer: {warmupDurationSecs: 15s}\n"
          "  - name: w2\n    labels: {version: v2}\n    trafficPolicy:\n"
          "      loadBalancer: {simple: RANDOM, warmupDurationSecs: 15s}\n---\n"
          "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"
          "spec:\n  hosts: [reviews]\n  http:\n"
          "  - match:\n    - uri: {prefix: /1}\n    route:\n"
          "    - destination: {host: reviews, subset: w1}\n"
          "  - match:\n    - uri: {prefix: /2}\n    route:\n"
          "    - destination: {host: reviews, subset: w2}\n"
          "  - route:\n    - destination: {host: reviews}\n",
          15001);
    for (size_t i = 0; i < snap->n_clusters; i++) {
        const struct model_cluster *c = snap->clusters[i];
        if (!strcmp(c->subset, "w1")) {
            assert_int_equal(c->warmup_ms, 15000);
            assert_true(c->warmup_min == 0.1 && c->warmup_aggression == 1.0);
        } else if (!strcmp(c->subset, "w2")) {
            assert_int_equal(c->warmup_ms, 0);
        } else {
            assert_int_equal(c->warmup_ms, 30000);
            assert_true(c->warmup_min == 0.1 && c->warmup_aggression == 2.0);
        }
        assert_non_null(c->endpoints[0].state);
    }
    teardown();
}

/* The annotation reaches the compiled routes: the bare item on every route it does not
 * name, a named item on its route, header names in lower case. */
static void
test_model_sticky_split_from_the_annotation(void **state)
{
    (void)state;
    build("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n"
          "  name: reviews\n  namespace: default\n  annotations:\n"
          "    meshlet.io/sticky-split: \"header:X-User, b=cookie:uid\"\n"
          "spec:\n  hosts: [reviews]\n  http:\n"
          "  - name: a\n    match: [{uri: {prefix: /a}}]\n    route:\n"
          "    - {destination: {host: reviews, subset: v1}, weight: 90}\n"
          "    - {destination: {host: reviews, subset: v2}, weight: 10}\n"
          "  - name: b\n    route:\n"
          "    - {destination: {host: reviews, subset: v1}, weight: 50}\n"
          "    - {destination: {host: reviews, subset: v2}, weight: 50}\n",
          15001);
    const struct model_listener *l = model_listener_for(snap, 15001);
    assert_non_null(l);
    const struct model_vhost *vh = model_vhost_find(l, SLICE_LIT("reviews"));
    assert_non_null(vh);
    assert_int_equal(vh->n_routes, 2);
    assert_string_equal(vh->routes[0].name, "a");
    assert_int_equal(vh->routes[0].sticky_on, MODEL_STICKY_HEADER);
    assert_string_equal(vh->routes[0].sticky_name, "x-user");
    assert_string_equal(vh->routes[1].name, "b");
    assert_int_equal(vh->routes[1].sticky_on, MODEL_STICKY_COOKIE);
    assert_string_equal(vh->routes[1].sticky_name, "uid");
    teardown();

    /* A delegate's rules follow the delegate's annotation, by the delegate rule's own name
     * (the merged route is named root-leaf); the root's annotation is not theirs. */
    build("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n"
          "  name: root\n  annotations: {meshlet.io/sticky-split: \"cookie:root\"}\n"
          "spec:\n  hosts: [reviews]\n  http:\n"
          "  - name: api\n    match: [{uri: {prefix: /api}}]\n    delegate: {name: team-a}\n"
          "  - route:\n    - {destination: {host: reviews, subset: v1}, weight: 50}\n"
          "    - {destination: {host: reviews, subset: v2}, weight: 50}\n---\n"
          "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n"
          "  name: team-a\n  annotations: {meshlet.io/sticky-split: \"v2=header:x-team-user\"}\n"
          "spec:\n  http:\n"
          "  - name: v2\n    match: [{uri: {prefix: /api/v2}}]\n    route:\n"
          "    - {destination: {host: reviews, subset: v1}, weight: 50}\n"
          "    - {destination: {host: reviews, subset: v2}, weight: 50}\n"
          "  - name: rest\n    route:\n"
          "    - {destination: {host: reviews, subset: v1}, weight: 50}\n"
          "    - {destination: {host: reviews, subset: v3}, weight: 50}\n",
          15001);
    vh = model_vhost_find(model_listener_for(snap, 15001), SLICE_LIT("reviews"));
    assert_int_equal(vh->n_routes, 3);
    assert_string_equal(vh->routes[0].name, "api-v2");
    assert_int_equal(vh->routes[0].sticky_on, MODEL_STICKY_HEADER);
    assert_string_equal(vh->routes[0].sticky_name, "x-team-user");
    assert_string_equal(vh->routes[1].name, "api-rest");
    assert_int_equal(vh->routes[1].sticky_on, MODEL_STICKY_NONE);
    assert_int_equal(vh->routes[2].sticky_on, MODEL_STICKY_COOKIE); /* the root's own rule */
    assert_string_equal(vh->routes[2].sticky_name, "root");
    teardown();

    /* Without the annotation: no sticky route. */
    build(jason_vs, 15001);
    vh = model_vhost_find(model_listener_for(snap, 15001), SLICE_LIT("reviews"));
    for (size_t i = 0; i < vh->n_routes; i++)
        assert_int_equal(vh->routes[i].sticky_on, MODEL_STICKY_NONE);
    teardown();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_delegate_merges_rules_into_the_root),
        cmocka_unit_test(test_model_warmup_reaches_the_pool),
        cmocka_unit_test(test_model_e1_header_routing_on_the_mesh),
        cmocka_unit_test(test_model_e6_e8_uri_matching),
        cmocka_unit_test(test_model_e9_e12_headers_query_authority),
        cmocka_unit_test(test_model_e16_e17_missing_subset_and_empty_subset),
        cmocka_unit_test(test_model_weights_and_cluster_endpoints),
        cmocka_unit_test(test_model_route_retries_outlive_the_resource_set),
        cmocka_unit_test(test_model_gateway_listener_merges_and_puts_catch_alls_last),
        cmocka_unit_test(test_model_mesh_oldest_virtual_service_wins),
        cmocka_unit_test(test_model_mesh_default_route_without_virtual_service),
        cmocka_unit_test(test_model_subset_with_two_labels),
        cmocka_unit_test(test_model_endpoint_state_survives_a_rebuild_per_pool),
        cmocka_unit_test(test_model_sticky_split_from_the_annotation),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    harness_cleanup();
    return rc;
}
