/* SPDX-License-Identifier: Apache-2.0 */
/* The effective policy of (host, port, subset), every case of the spec's merge algorithm
 * (§4.3, E78, E79) and of several DestinationRules for one host (§4.2); and its compilation
 * into model-owned values, Istio's defaults for what is unset, that outlive the resource
 * set. */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "harness.h"
#include "core/arena.h"
#include "core/strbuf.h"
#include "model/cluster_int.h"
#include "model/model.h"

static struct resource_set set;
static struct diag_list dl;

static const struct destination_rule *
load_dr(const char *spec)
{
    char text[8192];
    snprintf(text, sizeof(text),
             "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\n"
             "spec:\n  host: reviews\n%s",
             spec);
    const char *paths[] = {harness_write(harness_tmpdir(), "dr.yaml", text)};
    config_init(&set);
    diag_list_init(&dl);
    assert_int_equal(config_load(&set, paths, 1, NULL, &dl), 0);
    if (dl.errors) {
        struct strbuf sb;
        strbuf_init(&sb, 1 << 16);
        diag_list_format(&dl, false, &sb);
        fail_msg("%s\n%s", text, strbuf_str(&sb));
    }
    return set.items[0]->spec.dr;
}

static void
done(void)
{
    diag_list_fini(&dl);
    config_fini(&set);
}

static const struct traffic_policy *
subset_tp(const struct destination_rule *dr, const char *name)
{
    for (size_t i = 0; i < dr->subsets_len; i++)
        if (!strcmp(dr->subsets[i].name, name)) return dr->subsets[i].traffic_policy;
    return NULL;
}

static void
test_merge_e78_subset_section_replaces_whole_section(void **state)
{
    (void)state;
    const struct destination_rule *dr =
        load_dr("  trafficPolicy:\n    connectionPool: {tcp: {maxConnections: 5}}\n"
                "    loadBalancer: {simple: RANDOM}\n  subsets:\n"
                "  - name: v1\n    labels: {version: v1}\n    trafficPolicy:\n"
                "      connectionPool: {http: {http2MaxRequests: 10}}\n");
    struct cluster_sections p;
    cluster_effective_policy(dr->traffic_policy, subset_tp(dr, "v1"), 9080, &p);
    assert_non_null(p.pool);
    assert_null(p.pool->tcp); /* maxConnections not inherited */
    assert_int_equal(p.pool->http->http2_max_requests.v, 10);
    assert_int_equal(p.lb->simple.v, LB_RANDOM); /* untouched section inherited */
    cluster_effective_policy(dr->traffic_policy, NULL, 9080, &p);
    assert_int_equal(p.pool->tcp->max_connections.v, 5);
    done();
}

static void
test_merge_e79_port_level_replaces_all_four_sections(void **state)
{
    (void)state;
    const struct destination_rule *dr =
        load_dr("  trafficPolicy:\n    loadBalancer: {simple: ROUND_ROBIN}\n"
                "    tunnel: {targetHost: proxy.example.com, targetPort: 3128}\n"
                "    portLevelSettings:\n    - port: {number: 9080}\n"
                "      connectionPool: {tcp: {maxConnections: 7}}\n");
    struct cluster_sections p;
    cluster_effective_policy(dr->traffic_policy, NULL, 9080, &p);
    assert_null(p.lb); /* LEAST_REQUEST default, not ROUND_ROBIN */
    assert_null(p.tunnel);
    assert_int_equal(p.pool->tcp->max_connections.v, 7);
    cluster_effective_policy(dr->traffic_policy, NULL, 8080, &p);
    assert_int_equal(p.lb->simple.v, LB_ROUND_ROBIN);
    assert_non_null(p.tunnel);
    done();
}

static void
test_merge_subset_port_level_clears_unset_sections(void **state)
{
    (void)state;
    const struct destination_rule *dr =
        load_dr("  trafficPolicy:\n    loadBalancer: {simple: RANDOM}\n"
                "    outlierDetection: {consecutive5xxErrors: 3}\n  subsets:\n"
                "  - name: v1\n    labels: {version: v1}\n    trafficPolicy:\n"
                "      retryBudget: {percent: {value: 20}}\n"
                "      portLevelSettings:\n      - port: {number: 9080}\n"
                "        tls: {mode: ISTIO_MUTUAL}\n");
    struct cluster_sections p;
    cluster_effective_policy(dr->traffic_policy, subset_tp(dr, "v1"), 9080, &p);
    /* A port-level subset entry sets all four sections, unset ones to nothing. */
    assert_null(p.lb);
    assert_null(p.od);
    assert_int_equal(p.tls->mode.v, TLS_ISTIO_MUTUAL);
    assert_null(p.retry_budget); /* a port entry carries no retryBudget */
    cluster_effective_policy(dr->traffic_policy, subset_tp(dr, "v1"), 8080, &p);
    assert_int_equal(p.lb->simple.v, LB_RANDOM);
    assert_int_equal(p.od->consecutive_5xx_errors.v, 3);
    assert_non_null(p.retry_budget);
    done();
}

static void
test_merge_without_top_level_policy_takes_the_subset_policy(void **state)
{
    (void)state;
    const struct destination_rule *dr = load_dr(
        "  subsets:\n  - name: v1\n    labels: {version: v1}\n    trafficPolicy:\n"
        "      loadBalancer: {simple: ROUND_ROBIN}\n  - name: v2\n    labels: {version: v2}\n");
    struct cluster_sections p;
    cluster_effective_policy(dr->traffic_policy, subset_tp(dr, "v1"), 9080, &p);
    assert_int_equal(p.lb->simple.v, LB_ROUND_ROBIN);
    cluster_effective_policy(dr->traffic_policy, subset_tp(dr, "v2"), 9080, &p);
    assert_null(p.lb);
    assert_null(p.pool);
    done();
}

/* Compile the effective policy of (reviews, <port>, <subset>) of <dr> into <c>; strings go
 * to <a>. */
static void
compile(const struct destination_rule *dr, const char *subset, uint32_t port,
        struct model_cluster *c, struct arena *a)
{
    struct cluster_sections s;
    cluster_effective_policy(dr->traffic_policy, subset ? subset_tp(dr, subset) : NULL, port, &s);
    memset(c, 0, sizeof(*c));
    cluster_compile_policy(c, &s, a);
}

static void
test_compile_unset_sections_get_istio_defaults(void **state)
{
    (void)state;
    const struct destination_rule *dr = load_dr("  subsets: [{name: v1, labels: {v: '1'}}]\n");
    struct arena a;
    arena_init(&a, 4096, true);
    struct model_cluster c;
    compile(dr, "v1", 9080, &c, &a);
    done();
    assert_int_equal(c.policy.lb.kind, MODEL_LB_LEAST_REQUEST);
    assert_int_equal(c.policy.lb.hash.on, MODEL_HASH_NONE);
    assert_int_equal(c.policy.tls_mode, MODEL_TLS_AUTO);
    assert_false(c.policy.tunnel.set);
    assert_false(c.policy.proxy_protocol.set);
    assert_false(c.policy.retry_budget.set);
    assert_false(c.outlier.enabled);
    assert_false(c.limits.any);
    assert_int_equal(c.limits.max_connections, UINT32_MAX);
    assert_int_equal(c.limits.max_pending, UINT32_MAX);
    assert_int_equal(c.limits.max_requests, UINT32_MAX);
    assert_int_equal(c.limits.max_retries, UINT32_MAX);
    assert_int_equal(c.limits.connect_timeout_ms, 10000);
    assert_int_equal(c.limits.idle_timeout_ms, 3600000);
    assert_int_equal(c.limits.tcp_idle_timeout_ms, 3600000); /* Envoy's tcp_proxy default */
    assert_int_equal(c.limits.max_connection_duration_ms, 0);
    assert_false(c.limits.keepalive);
    assert_int_equal(c.max_requests_per_conn, 0);
    assert_int_equal(c.max_concurrent_streams, 0);
    assert_int_equal(c.warmup_ms, 0);
    arena_fini(&a);
}

static void
test_compile_consistent_hash_http_cookie(void **state)
{
    (void)state;
    const struct destination_rule *dr =
        load_dr("  trafficPolicy:\n    loadBalancer:\n      consistentHash:\n"
                "        httpCookie:\n          name: session\n          path: /app\n"
                "          ttl: 90.5s\n          attributes:\n"
                "          - {name: SameSite, value: Strict}\n          - {name: Secure}\n"
                "        maglev: {tableSize: 1021}\n");
    struct arena a;
    arena_init(&a, 4096, true);
    struct model_cluster c;
    compile(dr, NULL, 9080, &c, &a);
    done(); /* the compiled strings are the snapshot's, not the resource set's */
    const struct model_hash *h = &c.policy.lb.hash;
    assert_int_equal(c.policy.lb.kind, MODEL_LB_CONSISTENT_HASH);
    assert_int_equal(h->on, MODEL_HASH_COOKIE);
    assert_string_equal(h->name, "session");
    assert_true(h->cookie_ttl_set);
    assert_int_equal(h->cookie_ttl_s, 90); /* whole seconds, as Max-Age */
    assert_string_equal(h->cookie_path, "/app");
    assert_int_equal(h->n_cookie_attrs, 2);
    assert_string_equal(h->cookie_attrs[0].name, "SameSite");
    assert_string_equal(h->cookie_attrs[0].value, "Strict");
    assert_string_equal(h->cookie_attrs[1].name, "Secure");
    assert_null(h->cookie_attrs[1].value);
    assert_true(h->maglev);
    assert_int_equal(h->table_size, 1021);
    assert_int_equal(c.warmup_ms, 0); /* no slow start for consistent hash */
    arena_fini(&a);
}

static void
test_compile_hash_keys_and_ring_sizes(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        enum model_hash_on on;
        const char *name;
        bool maglev;
        uint64_t size;
    } rows[] = {
        {"{httpHeaderName: x-user, ringHash: {minimumRingSize: 2048}}", MODEL_HASH_HEADER, "x-user",
         false, 2048},
        {"{httpQueryParameterName: u, minimumRingSize: 4096}", MODEL_HASH_QUERY, "u", false, 4096},
        {"{useSourceIp: true}", MODEL_HASH_SOURCE_IP, NULL, false, 0},
        {"{httpCookie: {name: c}, maglev: {tableSize: 65537}}", MODEL_HASH_COOKIE, "c", true,
         65537},
        {"{useSourceIp: false}", MODEL_HASH_NONE, NULL, false, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char spec[512];
        snprintf(spec, sizeof(spec),
                 "  trafficPolicy:\n    loadBalancer:\n      consistentHash: %s\n", rows[i].yaml);
        const struct destination_rule *dr = load_dr(spec);
        struct arena a;
        arena_init(&a, 4096, true);
        struct model_cluster c;
        compile(dr, NULL, 9080, &c, &a);
        done();
        const struct model_hash *h = &c.policy.lb.hash;
        assert_int_equal(c.policy.lb.kind, MODEL_LB_CONSISTENT_HASH);
        assert_int_equal(h->on, rows[i].on);
        if (rows[i].name)
            assert_string_equal(h->name, rows[i].name);
        else
            assert_null(h->name);
        assert_int_equal(h->maglev, rows[i].maglev);
        assert_int_equal(h->table_size, rows[i].size);
        assert_false(h->cookie_ttl_set);
        arena_fini(&a);
    }
}

static void
test_compile_simple_lb_and_warmup(void **state)
{
    (void)state;
    static const struct {
        const char *yaml;
        enum model_lb_kind kind;
        uint64_t warmup_ms;
    } rows[] = {
        {"{simple: LEAST_CONN, warmupDurationSecs: 30s}", MODEL_LB_LEAST_REQUEST, 30000},
        {"{simple: UNSPECIFIED}", MODEL_LB_LEAST_REQUEST, 0},
        {"{simple: LEAST_REQUEST}", MODEL_LB_LEAST_REQUEST, 0},
        {"{simple: ROUND_ROBIN, warmup: {duration: 60s, minimumPercent: 20, aggression: 2}}",
         MODEL_LB_ROUND_ROBIN, 60000},
        {"{simple: RANDOM, warmupDurationSecs: 30s}", MODEL_LB_RANDOM, 0},
        {"{simple: PASSTHROUGH}", MODEL_LB_PASSTHROUGH, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char spec[512];
        snprintf(spec, sizeof(spec), "  trafficPolicy:\n    loadBalancer: %s\n", rows[i].yaml);
        const struct destination_rule *dr = load_dr(spec);
        struct arena a;
        arena_init(&a, 4096, true);
        struct model_cluster c;
        compile(dr, NULL, 9080, &c, &a);
        done();
        assert_int_equal(c.policy.lb.kind, rows[i].kind);
        assert_int_equal(c.warmup_ms, rows[i].warmup_ms);
        if (rows[i].kind == MODEL_LB_ROUND_ROBIN) {
            assert_true(c.warmup_min > 0.199 && c.warmup_min < 0.201);
            assert_true(c.warmup_aggression > 1.99 && c.warmup_aggression < 2.01);
        } else {
            assert_true(c.warmup_min > 0.099 && c.warmup_min < 0.101); /* Envoy's 10 % */
            assert_true(c.warmup_aggression > 0.99 && c.warmup_aggression < 1.01);
        }
        arena_fini(&a);
    }
}

static void
test_compile_pool_outlier_and_tls(void **state)
{
    (void)state;
    const struct destination_rule *dr = load_dr(
        "  trafficPolicy:\n    connectionPool:\n"
        "      tcp: {maxConnections: 7, connectTimeout: 250ms, idleTimeout: 9s,\n"
        "            maxConnectionDuration: 2m,\n"
        "            tcpKeepalive: {time: 60s, interval: 5s, probes: 4}}\n"
        "      http: {http1MaxPendingRequests: 3, maxRequestsPerConnection: 2, maxRetries: 0,\n"
        "            maxConcurrentStreams: 5}\n"
        "    outlierDetection: {}\n    tls: {sni: api.example.com}\n  subsets:\n"
        "  - name: m\n    labels: {v: m}\n    trafficPolicy:\n      tls: {mode: ISTIO_MUTUAL}\n"
        "  - name: d\n    labels: {v: d}\n    trafficPolicy:\n      tls: {mode: DISABLE}\n");
    struct arena a;
    arena_init(&a, 4096, true);
    struct model_cluster c, m, d;
    compile(dr, NULL, 9080, &c, &a);
    compile(dr, "m", 9080, &m, &a);
    compile(dr, "d", 9080, &d, &a);
    done();
    assert_true(c.limits.any);
    assert_int_equal(c.limits.max_connections, 7);
    assert_int_equal(c.limits.max_pending, 3);
    assert_int_equal(c.limits.max_requests, UINT32_MAX);
    assert_int_equal(c.limits.max_retries, UINT32_MAX); /* 0 is unset, as Istio */
    assert_int_equal(c.limits.connect_timeout_ms, 250);
    assert_int_equal(c.limits.idle_timeout_ms, 9000); /* tcp's, http has none */
    assert_int_equal(c.limits.tcp_idle_timeout_ms, 9000);
    assert_int_equal(c.limits.max_connection_duration_ms, 120000);
    assert_true(c.limits.keepalive);
    assert_int_equal(c.limits.keepalive_time_s, 60);
    assert_int_equal(c.limits.keepalive_interval_s, 5);
    assert_int_equal(c.limits.keepalive_probes, 4);
    assert_int_equal(c.max_requests_per_conn, 2);
    assert_int_equal(c.max_concurrent_streams, 5);
    /* An empty outlierDetection turns it on with Istio's defaults. */
    assert_true(c.outlier.enabled);
    assert_int_equal(c.outlier.consecutive_5xx, 5);
    assert_int_equal(c.outlier.consecutive_gw, 0);
    assert_int_equal(c.outlier.consecutive_local, 0);
    assert_int_equal(c.outlier.interval_ms, 10000);
    assert_int_equal(c.outlier.base_ms, 30000);
    assert_int_equal(c.outlier.max_ms, 300000);
    assert_int_equal(c.outlier.max_percent, 10);
    assert_int_equal(c.outlier.min_health_percent, 0);
    assert_int_equal(c.policy.tls_mode, MODEL_TLS_UNSET); /* a section, no mode */
    assert_int_equal(m.policy.tls_mode, MODEL_TLS_ISTIO_MUTUAL);
    assert_int_equal(d.policy.tls_mode, MODEL_TLS_DISABLE);
    arena_fini(&a);
}

static void
test_compile_unenforced_sections_keep_istio_defaults(void **state)
{
    (void)state;
    const struct destination_rule *dr =
        load_dr("  trafficPolicy:\n    tunnel: {targetHost: proxy.example.com, targetPort: 3128}\n"
                "    retryBudget: {}\n  subsets:\n"
                "  - name: v1\n    labels: {v: '1'}\n    trafficPolicy:\n      proxyProtocol: {}\n"
                "  - name: v2\n    labels: {v: '2'}\n    trafficPolicy:\n"
                "      proxyProtocol: {version: V2}\n"
                "      retryBudget: {percent: {value: 5}, minRetryConcurrency: 1, "
                "budgetInterval: 2s}\n");
    struct arena a;
    arena_init(&a, 4096, true);
    struct model_cluster c, v1, v2;
    compile(dr, NULL, 9080, &c, &a);
    compile(dr, "v1", 9080, &v1, &a);
    compile(dr, "v2", 9080, &v2, &a);
    done();
    assert_true(c.policy.tunnel.set);
    assert_string_equal(c.policy.tunnel.protocol, "CONNECT");
    assert_string_equal(c.policy.tunnel.target_host, "proxy.example.com");
    assert_int_equal(c.policy.tunnel.target_port, 3128);
    assert_false(c.policy.proxy_protocol.set);
    assert_true(v1.policy.proxy_protocol.set);
    assert_int_equal(v1.policy.proxy_protocol.version, 1);
    assert_true(c.policy.retry_budget.set);
    assert_true(c.policy.retry_budget.percent > 19.99 && c.policy.retry_budget.percent < 20.01);
    assert_int_equal(c.policy.retry_budget.min_retry_concurrency, 3);
    assert_int_equal(c.policy.retry_budget.interval_ms, 0);
    assert_true(v2.policy.tunnel.set); /* inherited: the subset does not set it */
    assert_int_equal(v2.policy.proxy_protocol.version, 2);
    assert_true(v2.policy.retry_budget.percent > 4.99 && v2.policy.retry_budget.percent < 5.01);
    assert_int_equal(v2.policy.retry_budget.min_retry_concurrency, 1);
    assert_int_equal(v2.policy.retry_budget.interval_ms, 2000);
    arena_fini(&a);
}

/* Through model_build: several DestinationRules for one host, and exact before wildcard. */
static void
test_model_first_dr_policy_wins_and_subsets_merge(void **state)
{
    (void)state;
    const char *text =
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: r}\nspec:\n"
        "  hosts: [reviews.default.svc.cluster.local]\n"
        "  ports: [{number: 9080, name: http, protocol: HTTP}]\n  resolution: STATIC\n"
        "  endpoints: [{address: 127.0.0.1, labels: {version: v1}}]\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec:\n"
        "  host: reviews\n  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n"
        "  subsets: [{name: v1, labels: {version: v1}}]\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: b}\nspec:\n"
        "  host: reviews\n  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n"
        "  subsets: [{name: v1, labels: {version: v9}}, {name: v2, labels: {version: v1}}]\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: w}\nspec:\n"
        "  host: \"*.svc.cluster.local\"\n  trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}\n"
        "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"
        "spec:\n  hosts: [reviews]\n  http:\n  - match: [{uri: {prefix: /2}}]\n    route:\n"
        "    - destination: {host: reviews, subset: v2}\n  - route:\n"
        "    - destination: {host: reviews, subset: v1}\n";
    const char *paths[] = {harness_write(harness_tmpdir(), "c.yaml", text)};
    config_init(&set);
    diag_list_init(&dl);
    assert_int_equal(config_load(&set, paths, 1, NULL, &dl), 0);
    struct model_options opt = {.mesh_port = 15001, .ns = "default"};
    char err[256];
    struct snapshot *snap = model_build(&set, &opt, err, sizeof(err));
    assert_non_null(snap);
    done(); /* the snapshot must not need the resource set any more */
    const struct model_vhost *vh =
        model_vhost_find(model_listener_for(snap, 15001), SLICE_LIT("reviews"));
    const struct model_cluster *v1 = vh->routes[1].dests[0].cluster;
    const struct model_cluster *v2 = vh->routes[0].dests[0].cluster;
    assert_string_equal(v1->name, "outbound|9080|v1|reviews.default.svc.cluster.local");
    assert_int_equal(v1->n_endpoints, 1);                  /* a's v1 (version v1), not b's */
    assert_int_equal(v1->policy.lb.kind, MODEL_LB_RANDOM); /* a's policy, not b's or w's */
    assert_non_null(v2);                                   /* b's v2: subsets merge */
    model_release(snap);
}

/* The upstream protocol of one pool given its DestinationRule <dr_spec> (may be empty: no
 * policy) and port protocol <port>, for a sidecar (<gw> false) or a Gateway. */
static enum model_upstream_proto
up_proto(const char *dr_spec, enum port_protocol port, bool mesh_upgrade, bool gw, const char **why)
{
    const struct destination_rule *dr = load_dr(dr_spec);
    struct cluster_sections sec;
    cluster_effective_policy(dr->traffic_policy, NULL, 9080, &sec);
    struct arena a;
    arena_init(&a, 4096, true);
    struct model_cluster c = {.port = 9080};
    cluster_compile_upstream(&c, sec.pool, port, "ServiceEntry default/r", mesh_upgrade, &a);
    const struct model_upstream_choice *ch = gw ? &c.upstream_gateway : &c.upstream_sidecar;
    static char buf[512];
    snprintf(buf, sizeof(buf), "%s", ch->why);
    if (why) *why = buf;
    enum model_upstream_proto p = ch->proto;
    arena_fini(&a);
    done();
    return p;
}

#define UPGRADE "  trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}\n"
#define NO_UPGRADE "  trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: DO_NOT_UPGRADE}}}\n"
#define DEFAULT_UP "  trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: DEFAULT}}}\n"
#define CLIENT "  trafficPolicy: {connectionPool: {http: {useClientProtocol: true}}}\n"

static void
test_upstream_port_protocol_decides_without_policy(void **state)
{
    (void)state;
    const char *why;
    assert_int_equal(up_proto("", PORT_PROTOCOL_GRPC, false, false, &why), MODEL_UP_HTTP2);
    assert_string_equal(why, "port 9080 is GRPC (ServiceEntry default/r)");
    assert_int_equal(up_proto("", PORT_PROTOCOL_GRPC_WEB, false, true, NULL), MODEL_UP_HTTP2);
    assert_int_equal(up_proto("", PORT_PROTOCOL_HTTP2, false, false, NULL), MODEL_UP_HTTP2);
    assert_int_equal(up_proto("", PORT_PROTOCOL_HTTP, false, false, &why), MODEL_UP_HTTP1);
    assert_string_equal(why, "port 9080 is HTTP (ServiceEntry default/r)");
    assert_int_equal(up_proto("", PORT_PROTOCOL_TCP, false, false, NULL), MODEL_UP_HTTP1);
    /* an undeclared port: a sidecar sniffs (the client's protocol), a Gateway does not */
    assert_int_equal(up_proto("", PORT_PROTOCOL_UNSUPPORTED, false, false, &why), MODEL_UP_CLIENT);
    assert_non_null(strstr(why, "sniffs"));
    assert_int_equal(up_proto("", PORT_PROTOCOL_UNSUPPORTED, false, true, NULL), MODEL_UP_HTTP1);
}

static void
test_upstream_h2_upgrade_policy(void **state)
{
    (void)state;
    const char *why;
    assert_int_equal(up_proto(UPGRADE, PORT_PROTOCOL_HTTP, false, false, &why), MODEL_UP_HTTP2);
    assert_string_equal(why, "h2UpgradePolicy: UPGRADE");
    /* Istio: "the user is sure it is an HTTP port", so any port is upgraded */
    assert_int_equal(up_proto(UPGRADE, PORT_PROTOCOL_TCP, false, false, NULL), MODEL_UP_HTTP2);
    assert_int_equal(up_proto(UPGRADE, PORT_PROTOCOL_UNSUPPORTED, false, true, NULL),
                     MODEL_UP_HTTP2);
    /* ... but a sniffed sidecar port was set to the client's protocol first */
    assert_int_equal(up_proto(UPGRADE, PORT_PROTOCOL_UNSUPPORTED, false, false, NULL),
                     MODEL_UP_CLIENT);
    assert_int_equal(up_proto(NO_UPGRADE, PORT_PROTOCOL_HTTP, false, false, &why), MODEL_UP_HTTP1);
    assert_non_null(strstr(why, "DO_NOT_UPGRADE"));
    /* DO_NOT_UPGRADE never downgrades a port declared HTTP/2 */
    assert_int_equal(up_proto(NO_UPGRADE, PORT_PROTOCOL_GRPC, false, false, NULL), MODEL_UP_HTTP2);
}

static void
test_upstream_mesh_default_applies_to_http_ports_only(void **state)
{
    (void)state;
    const char *why;
    assert_int_equal(up_proto("", PORT_PROTOCOL_HTTP, true, false, &why), MODEL_UP_HTTP2);
    assert_non_null(strstr(why, "meshConfig h2UpgradePolicy: UPGRADE"));
    assert_int_equal(up_proto(DEFAULT_UP, PORT_PROTOCOL_HTTP, true, true, NULL), MODEL_UP_HTTP2);
    assert_int_equal(up_proto(DEFAULT_UP, PORT_PROTOCOL_HTTP, false, true, NULL), MODEL_UP_HTTP1);
    assert_int_equal(up_proto("", PORT_PROTOCOL_HTTP_PROXY, true, false, NULL), MODEL_UP_HTTP2);
    assert_int_equal(up_proto("", PORT_PROTOCOL_TCP, true, false, NULL), MODEL_UP_HTTP1);
    assert_int_equal(up_proto("", PORT_PROTOCOL_UNSUPPORTED, true, true, NULL), MODEL_UP_HTTP1);
    /* the DestinationRule's DO_NOT_UPGRADE beats the mesh's UPGRADE */
    assert_int_equal(up_proto(NO_UPGRADE, PORT_PROTOCOL_HTTP, true, false, NULL), MODEL_UP_HTTP1);
}

static void
test_upstream_use_client_protocol_wins(void **state)
{
    (void)state;
    const char *why;
    assert_int_equal(up_proto(CLIENT, PORT_PROTOCOL_HTTP, false, false, &why), MODEL_UP_CLIENT);
    assert_string_equal(why, "connectionPool.http.useClientProtocol: true");
    /* applyConnectionPool replaces setH2Options: a GRPC port too, at a Gateway too */
    assert_int_equal(up_proto(CLIENT, PORT_PROTOCOL_GRPC, false, true, NULL), MODEL_UP_CLIENT);
    assert_int_equal(up_proto(CLIENT, PORT_PROTOCOL_HTTP, true, false, NULL), MODEL_UP_CLIENT);
    /* (with UPGRADE in the same block the DestinationRule is rejected, as by Istio; the merge
     * replaces whole pools, so the two never meet) */
    /* false is as good as unset */
    assert_int_equal(up_proto("  trafficPolicy: {connectionPool: {http: {useClientProtocol: "
                              "false}}}\n",
                              PORT_PROTOCOL_HTTP, false, false, NULL),
                     MODEL_UP_HTTP1);
}

static const struct model_cluster *
cluster_named(const struct snapshot *snap, const char *name)
{
    for (size_t i = 0; i < snap->n_clusters; i++)
        if (!strcmp(snap->clusters[i]->name, name)) return snap->clusters[i];
    fail_msg("no cluster %s", name);
    return NULL;
}

/* Through model_build: the merged pool of each subset and port, and a Kubernetes Service's
 * appProtocol and port names taking the host's ports over the ServiceEntry's. */
static void
test_model_upstream_per_subset_port_and_kube_service(void **state)
{
    (void)state;
    const char *text =
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: r}\nspec:\n"
        "  hosts: [reviews.default.svc.cluster.local]\n  ports:\n"
        "  - {number: 9080, name: http, protocol: HTTP}\n"
        "  - {number: 9090, name: grpc-x, protocol: HTTP}\n"
        "  - {number: 9091, name: x, protocol: HTTP}\n"
        "  - {number: 9092, name: grpc, protocol: http}\n"
        "  resolution: STATIC\n"
        "  endpoints: [{address: 127.0.0.1, labels: {version: v1}}]\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: default}\n"
        "spec:\n  selector: {app: reviews}\n  ports:\n"
        "  - {port: 9090, name: grpc-x}\n"
        "  - {port: 9091, name: tcp-x, appProtocol: kubernetes.io/h2c}\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec:\n"
        "  host: reviews\n"
        "  trafficPolicy:\n    connectionPool: {http: {h2UpgradePolicy: UPGRADE}}\n"
        "    portLevelSettings:\n"
        "    - port: {number: 9092}\n"
        "      connectionPool: {http: {useClientProtocol: true}}\n"
        "  subsets:\n"
        "  - {name: v1, labels: {version: v1}}\n"
        "  - name: v2\n    labels: {version: v1}\n"
        "    trafficPolicy: {connectionPool: {tcp: {maxConnections: 3}}}\n"
        "  - name: v3\n    labels: {version: v1}\n"
        "    trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: DO_NOT_UPGRADE}}}\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"
        "spec:\n  hosts: [reviews]\n  http:\n"
        "  - match: [{uri: {prefix: /a}}]\n    route: [{destination: {host: reviews, subset: v1,"
        " port: {number: 9080}}}]\n"
        "  - match: [{uri: {prefix: /b}}]\n    route: [{destination: {host: reviews, subset: v2,"
        " port: {number: 9080}}}]\n"
        "  - match: [{uri: {prefix: /c}}]\n    route: [{destination: {host: reviews, subset: v3,"
        " port: {number: 9080}}}]\n"
        "  - match: [{uri: {prefix: /d}}]\n    route: [{destination: {host: reviews, subset: v3,"
        " port: {number: 9090}}}]\n"
        "  - match: [{uri: {prefix: /e}}]\n    route: [{destination: {host: reviews, subset: v3,"
        " port: {number: 9091}}}]\n"
        "  - match: [{uri: {prefix: /f}}]\n    route: [{destination: {host: reviews, subset: v3,"
        " port: {number: 9092}}}]\n"
        "  - route: [{destination: {host: reviews, port: {number: 9092}}}]\n";
    const char *paths[] = {harness_write(harness_tmpdir(), "u.yaml", text)};
    config_init(&set);
    diag_list_init(&dl);
    assert_int_equal(config_load(&set, paths, 1, NULL, &dl), 0);
    struct model_options opt = {.mesh_port = 15001, .ns = "default"};
    char err[256];
    struct snapshot *snap = model_build(&set, &opt, err, sizeof(err));
    assert_non_null(snap);
    done();
    const char *host = "reviews.default.svc.cluster.local";
    char name[128];
#define UP(port, subset)                                                                           \
    (snprintf(name, sizeof(name), "outbound|%d|%s|%s", port, subset, host),                        \
     cluster_named(snap, name)->upstream_sidecar)
    /* v1 has no policy of its own: the top-level UPGRADE */
    assert_int_equal(UP(9080, "v1").proto, MODEL_UP_HTTP2);
    /* v2's connectionPool {tcp} replaces the whole top-level pool: no upgrade any more */
    assert_int_equal(UP(9080, "v2").proto, MODEL_UP_HTTP1);
    assert_int_equal(UP(9080, "v3").proto, MODEL_UP_HTTP1);
    /* the Kubernetes Service's port name grpc-x makes 9090 GRPC despite the SE's HTTP */
    assert_int_equal(UP(9090, "v3").proto, MODEL_UP_HTTP2);
    assert_string_equal(UP(9090, "v3").why,
                        "port 9090 is GRPC (Kubernetes Service default/reviews)");
    /* appProtocol kubernetes.io/h2c beats the port name tcp-x */
    assert_int_equal(UP(9091, "v3").proto, MODEL_UP_HTTP2);
    /* 9092: the ServiceEntry's protocol (its name "grpc" plays no part); the port-level pool
     * (useClientProtocol) applies to the default pool and, as v3's own policy has no entry
     * for the port, v3 keeps its own DO_NOT_UPGRADE */
    assert_int_equal(UP(9092, "").proto, MODEL_UP_CLIENT);
    assert_int_equal(UP(9092, "v3").proto, MODEL_UP_HTTP1);
    assert_string_equal(UP(9092, "v3").why,
                        "port 9092 is HTTP (ServiceEntry default/r); h2UpgradePolicy: "
                        "DO_NOT_UPGRADE");
    /* the Gateway's choice equals the sidecar's for declared ports */
    const struct model_cluster *c = cluster_named(snap, name);
    assert_int_equal(c->upstream_gateway.proto, c->upstream_sidecar.proto);
    assert_ptr_equal(model_cluster_upstream(c, NULL), &c->upstream_sidecar);
#undef UP
    model_release(snap);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_e78_subset_section_replaces_whole_section),
        cmocka_unit_test(test_merge_e79_port_level_replaces_all_four_sections),
        cmocka_unit_test(test_merge_subset_port_level_clears_unset_sections),
        cmocka_unit_test(test_merge_without_top_level_policy_takes_the_subset_policy),
        cmocka_unit_test(test_compile_unset_sections_get_istio_defaults),
        cmocka_unit_test(test_compile_consistent_hash_http_cookie),
        cmocka_unit_test(test_compile_hash_keys_and_ring_sizes),
        cmocka_unit_test(test_compile_simple_lb_and_warmup),
        cmocka_unit_test(test_compile_pool_outlier_and_tls),
        cmocka_unit_test(test_compile_unenforced_sections_keep_istio_defaults),
        cmocka_unit_test(test_model_first_dr_policy_wins_and_subsets_merge),
        cmocka_unit_test(test_upstream_port_protocol_decides_without_policy),
        cmocka_unit_test(test_upstream_h2_upgrade_policy),
        cmocka_unit_test(test_upstream_mesh_default_applies_to_http_ports_only),
        cmocka_unit_test(test_upstream_use_client_protocol_wins),
        cmocka_unit_test(test_model_upstream_per_subset_port_and_kube_service),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    harness_cleanup();
    return rc;
}
