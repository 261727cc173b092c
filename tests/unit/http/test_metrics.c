/* SPDX-License-Identifier: Apache-2.0 */
/* Per-request metrics: Envoy's response flag strings, Istio's labels for a series (the
 * endpoint's version, the service's name and namespace, the reporter), and the merge of
 * workers' shards by label set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "http/metrics.h"
#include "model/endpoint.h"

/* The proxy the shards describe: a gateway workload "gw" in namespace "edge". */
static const struct metrics_local gw = {.workload = "gw",
                                        .ns = "edge",
                                        .app = "gw",
                                        .version = "",
                                        .canonical_service = "gw",
                                        .canonical_rev = "latest",
                                        .cluster = "Kubernetes",
                                        .principal = "spiffe://cluster.local/ns/edge/sa/gw"};

static void
test_flags_in_envoy_order(void **state)
{
    (void)state;
    char out[96];
    response_flags_format(0, out, sizeof(out));
    assert_string_equal(out, "-");
    response_flags_format(RF_URX | RF_UF, out, sizeof(out));
    assert_string_equal(out, "UF,URX");
    response_flags_format(RF_NR | RF_UH, out, sizeof(out));
    assert_string_equal(out, "UH,NR");
    response_flags_format(RF_DC, out, sizeof(out));
    assert_string_equal(out, "DC");
    response_flags_format(RF_NC | RF_DT | RF_UPE | RF_DPE | RF_SI, out, sizeof(out));
    assert_string_equal(out, "SI,DPE,DT,UPE,NC");
}

static void
test_series_merge_across_shards(void **state)
{
    (void)state;
    const char *keys[] = {"app", "version"}, *vals[] = {"reviews", "v2"};
    struct model_endpoint ep = {
        .address = "10.0.0.1", .port = 9080, .label_keys = keys, .label_vals = vals, .n_labels = 2};
    struct model_cluster cl = {.name = "outbound|9080|v2|reviews.prod.svc.cluster.local",
                               .host = "reviews.prod.svc.cluster.local",
                               .n_endpoints = 1,
                               .endpoints = &ep};
    cl.state = pool_state_get(cl.name);
    ep.state = endpoint_state_get(cl.name, "10.0.0.1", 9080, 0);
    struct metrics_shard *shards[2] = {metrics_shard_new(&gw), metrics_shard_new(&gw)};
    struct exchange_record ok = {.cluster = &cl,
                                 .endpoint = 0,
                                 .code = 200,
                                 .duration_us = 800,
                                 .req_bytes = 90,
                                 .resp_bytes = 300};
    for (int i = 0; i < 3; i++) metrics_record(shards[0], &ok);
    for (int i = 0; i < 2; i++) metrics_record(shards[1], &ok);
    struct exchange_record nr = {.endpoint = SIZE_MAX, .code = 404, .flags = RF_NR};
    metrics_record(shards[1], &nr);
    struct exchange_record in = {.inbound = true,
                                 .peer_mtls = true,
                                 .peer_principal = "spiffe://cluster.local/ns/edge/sa/gw",
                                 .endpoint = SIZE_MAX,
                                 .code = 200};
    metrics_record(shards[0], &in);

    size_t n;
    struct metrics_series_view *v = metrics_series(shards, 2, &n);
    assert_int_equal(n, 3); /* the 200s of both workers are one series */
    int found_ok = 0, found_nr = 0, found_in = 0;
    for (size_t i = 0; i < n; i++) {
        const char *l = v[i].labels;
        if (strstr(l, "response_code=\"200\"") && strstr(l, "reporter=\"source\"")) {
            found_ok++;
            assert_int_equal(v[i].requests, 5);
            assert_int_equal(v[i].duration.count, 5);
            assert_non_null(strstr(l, "destination_version=\"v2\""));
            assert_non_null(strstr(l, "destination_workload=\"reviews-v2\""));
            assert_non_null(strstr(l, "destination_service=\"reviews.prod.svc.cluster.local\""));
            assert_non_null(strstr(l, "destination_service_name=\"reviews\""));
            assert_non_null(strstr(l, "destination_service_namespace=\"prod\""));
            assert_non_null(strstr(l, "source_workload=\"gw\""));
            assert_non_null(strstr(l, "response_flags=\"-\""));
            assert_non_null(strstr(l, "connection_security_policy=\"unknown\""));
        } else if (strstr(l, "response_code=\"404\"")) {
            found_nr++;
            assert_int_equal(v[i].requests, 1);
            assert_non_null(strstr(l, "response_flags=\"NR\""));
            assert_non_null(strstr(l, "destination_service=\"unknown\""));
        } else {
            found_in++;
            assert_non_null(strstr(l, "reporter=\"destination\""));
            assert_non_null(strstr(l, "destination_workload=\"gw\""));
            assert_non_null(strstr(l, "connection_security_policy=\"mutual_tls\""));
        }
    }
    assert_int_equal(found_ok + found_nr + found_in, 3);
    assert_int_equal(found_ok, 1);
    free(v);

    metrics_shard_free(shards[0]);
    metrics_shard_free(shards[1]);
}

static void
test_cluster_counters_merge(void **state)
{
    (void)state;
    struct model_endpoint ep = {.address = "10.0.0.9", .port = 80};
    struct model_cluster cl = {.name = "outbound|80||merge.test",
                               .host = "merge.test",
                               .n_endpoints = 1,
                               .endpoints = &ep};
    cl.state = pool_state_get(cl.name);
    ep.state = endpoint_state_get(cl.name, "10.0.0.9", 80, 0);
    struct pool_state *ps = cl.state;
    struct metrics_shard *shards[2] = {metrics_shard_new(&gw), metrics_shard_new(&gw)};
    metrics_upstream(shards[0], ps, UP_RQ);
    metrics_upstream(shards[1], ps, UP_RQ);
    metrics_upstream(shards[1], ps, UP_RETRY);
    metrics_upstream_code(shards[0], &cl, 0, 503);
    metrics_upstream_code(shards[1], &cl, 0, 200);
    metrics_upstream_code(shards[1], &cl, 0, 201);
    size_t n;
    struct metrics_cluster_view *v = metrics_clusters(shards, 2, &n);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].ev[UP_RQ], 2);
    assert_int_equal(v[0].ev[UP_RETRY], 1);
    assert_int_equal(v[0].xx[5], 1);
    assert_int_equal(v[0].xx[2], 2);
    free(v);
    metrics_answers *ans = metrics_endpoint_answers(shards, 2, &n);
    assert_true(ep.state->id < n);
    assert_int_equal(ans[ep.state->id][0], 3);
    assert_int_equal(ans[ep.state->id][2], 2);
    assert_int_equal(ans[ep.state->id][5], 1);
    free(ans);
    metrics_shard_free(shards[0]);
    metrics_shard_free(shards[1]);
}

/* Istio's message counters: summed over shards on gRPC series, absent from HTTP ones. */
static void
test_grpc_message_counts_merge(void **state)
{
    (void)state;
    struct model_cluster cl = {.name = "outbound|50051||echo.prod.svc.cluster.local",
                               .host = "echo.prod.svc.cluster.local"};
    cl.state = pool_state_get(cl.name);
    struct metrics_shard *shards[2] = {metrics_shard_new(&gw), metrics_shard_new(&gw)};
    struct exchange_record bidi = {.cluster = &cl,
                                   .endpoint = SIZE_MAX,
                                   .code = 200,
                                   .grpc = true,
                                   .grpc_status = 0,
                                   .req_messages = 3,
                                   .resp_messages = 4};
    metrics_record(shards[0], &bidi);
    metrics_record(shards[1], &bidi);
    bidi.req_messages = 1;
    bidi.resp_messages = 0;
    metrics_record(shards[1], &bidi);
    struct exchange_record http = {
        .cluster = &cl, .endpoint = SIZE_MAX, .code = 200, .req_messages = 9, .resp_messages = 9};
    metrics_record(shards[0], &http);
    size_t n;
    struct metrics_series_view *v = metrics_series(shards, 2, &n);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        if (strstr(v[i].labels, "request_protocol=\"grpc\"")) {
            assert_true(v[i].grpc);
            assert_int_equal(v[i].requests, 3);
            assert_int_equal(v[i].req_messages, 7);
            assert_int_equal(v[i].resp_messages, 8);
        } else {
            assert_false(v[i].grpc);
            assert_int_equal(v[i].req_messages, 0);
            assert_int_equal(v[i].resp_messages, 0);
        }
    }
    free(v);
    metrics_shard_free(shards[0]);
    metrics_shard_free(shards[1]);
}

/* TCP series: Istio's TCP labels (no response_code, request_protocol "tcp"), one series per
 * endpoint and flags over every shard, bytes counted on the client's side. */
static void
test_tcp_series(void **state)
{
    (void)state;
    const char *keys[] = {"app", "version"}, *vals[] = {"db", "v1"};
    struct model_endpoint ep = {
        .address = "10.0.0.7", .port = 5432, .label_keys = keys, .label_vals = vals, .n_labels = 2};
    struct model_cluster cl = {.name = "outbound|5432|v1|db.data.svc.cluster.local",
                               .host = "db.data.svc.cluster.local",
                               .n_endpoints = 1,
                               .endpoints = &ep};
    cl.state = pool_state_get(cl.name);
    ep.state = endpoint_state_get(cl.name, "10.0.0.7", 5432, 0);
    struct metrics_shard *shards[2] = {metrics_shard_new(&gw), metrics_shard_new(&gw)};
    struct tcp_record up = {.cluster = &cl, .endpoint = 0};
    struct metrics_tcp *a = metrics_tcp_open(shards[0], &up);
    struct metrics_tcp *b = metrics_tcp_open(shards[0], &up);
    struct metrics_tcp *c = metrics_tcp_open(shards[1], &up);
    assert_non_null(a);
    assert_ptr_equal(a, b); /* same labels, same series */
    metrics_tcp_bytes(a, 100, 7);
    metrics_tcp_bytes(b, 1, 0);
    metrics_tcp_bytes(c, 1000, 70);
    metrics_tcp_close(a);
    metrics_tcp_close(c);
    struct tcp_record failed = {.cluster = &cl, .endpoint = SIZE_MAX, .flags = RF_UF};
    struct metrics_tcp *f = metrics_tcp_open(shards[1], &failed);
    metrics_tcp_close(f);
    /* NULL shard or series: nothing, no crash */
    assert_null(metrics_tcp_open(NULL, &up));
    metrics_tcp_bytes(NULL, 1, 1);
    metrics_tcp_close(NULL);

    size_t n;
    struct metrics_tcp_view *v = metrics_tcp_series(shards, 2, &n);
    assert_int_equal(n, 2);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        const char *l = v[i].labels;
        assert_non_null(strstr(l, "request_protocol=\"tcp\""));
        assert_null(strstr(l, "response_code="));
        assert_null(strstr(l, "grpc_response_status="));
        assert_non_null(strstr(l, "destination_service=\"db.data.svc.cluster.local\""));
        if (strstr(l, "response_flags=\"-\"")) {
            found++;
            assert_non_null(strstr(l, "destination_version=\"v1\""));
            assert_non_null(strstr(l, "destination_workload=\"db-v1\""));
            assert_int_equal(v[i].opened, 3);
            assert_int_equal(v[i].closed, 2);
            assert_int_equal(v[i].sent_bytes, 1101);
            assert_int_equal(v[i].received_bytes, 77);
        } else {
            found += 10;
            assert_non_null(strstr(l, "response_flags=\"UF\""));
            assert_non_null(strstr(l, "destination_version=\"unknown\""));
            assert_int_equal(v[i].opened, 1);
            assert_int_equal(v[i].closed, 1);
            assert_int_equal(v[i].sent_bytes, 0);
        }
    }
    assert_int_equal(found, 11);
    free(v);
    /* HTTP series stay apart from TCP ones */
    struct metrics_series_view *hv = metrics_series(shards, 2, &n);
    assert_int_equal(n, 0);
    free(hv);
    metrics_shard_free(shards[0]);
    metrics_shard_free(shards[1]);
}

/* Many TCP series in one shard (the table grows) each keep their own counts. */
static void
test_tcp_series_table_grows(void **state)
{
    (void)state;
    struct model_cluster cl = {.name = "outbound|9000||grow.test", .host = "grow.test"};
    cl.state = pool_state_get(cl.name);
    struct metrics_shard *m = metrics_shard_new(&gw);
    for (uint32_t round = 0; round < 2; round++)
        for (uint32_t flags = 0; flags < 64; flags++) {
            struct tcp_record r = {.cluster = &cl, .endpoint = SIZE_MAX, .flags = flags};
            struct metrics_tcp *s = metrics_tcp_open(m, &r);
            assert_non_null(s);
            metrics_tcp_bytes(s, flags, 1);
        }
    size_t n;
    struct metrics_tcp_view *v = metrics_tcp_series(&m, 1, &n);
    assert_int_equal(n, 64);
    uint64_t sent = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].opened, 2);
        assert_int_equal(v[i].received_bytes, 2);
        sent += v[i].sent_bytes;
    }
    assert_int_equal(sent, 2 * (63 * 64 / 2));
    free(v);
    metrics_shard_free(m);
}

/* Every label of one series, in order, as "name=value" strings: how many. */
static size_t
label_list(const char *labels, char out[][160], size_t max)
{
    size_t n = 0;
    for (const char *p = labels; *p && n < max;) {
        const char *eq = strchr(p, '=');
        const char *end = strchr(eq + 2, '"');
        snprintf(out[n++], 160, "%.*s%.*s", (int)(eq - p + 1), p, (int)(end - eq - 2), eq + 2);
        p = end + 1;
        if (*p == ',') p++;
    }
    return n;
}

/* Istio's 25 HTTP labels in its stats filter's order, with the values a sidecar reports:
 * the source from this proxy's flags (its identity only when the upstream is mTLS), the
 * destination from the endpoint's labels and the identity its handshake proved. */
static void
test_outbound_http_series_has_istios_labels_in_order(void **state)
{
    (void)state;
    const char *keys[] = {"app", "version", "service.istio.io/canonical-name"};
    const char *vals[] = {"reviews", "v2", "reviews-svc"};
    struct model_endpoint ep = {.address = "10.0.0.7",
                                .port = 9080,
                                .label_keys = keys,
                                .label_vals = vals,
                                .n_labels = 3,
                                .mtls = true};
    struct model_cluster cl = {.name = "outbound|9080|v2|reviews.prod.svc.cluster.local",
                               .host = "reviews.prod.svc.cluster.local",
                               .n_endpoints = 1,
                               .endpoints = &ep};
    cl.state = pool_state_get(cl.name);
    ep.state = endpoint_state_get(cl.name, "10.0.0.7", 9080, 0);
    endpoint_peer_set(ep.state, "spiffe://cluster.local/ns/prod/sa/reviews");
    const char *flags[] = {"app=productpage", "version=v1"};
    struct metrics_local pp = {
        .ns = "shop", .cluster = "east", .principal = "spiffe://x/ns/shop/sa/pp"};
    metrics_local_from_labels(&pp, "productpage-v1", flags, 2);
    struct metrics_shard *m = metrics_shard_new(&pp);
    struct exchange_record r = {.cluster = &cl, .endpoint = 0, .code = 200};
    metrics_record(m, &r);
    size_t n;
    struct metrics_series_view *v = metrics_series(&m, 1, &n);
    assert_int_equal(n, 1);
    char got[32][160];
    size_t k = label_list(v[0].labels, got, 32);
    static const char *const want[] = {
        "reporter=source",
        "source_workload=productpage-v1",
        "source_canonical_service=productpage",
        "source_canonical_revision=v1",
        "source_workload_namespace=shop",
        "source_principal=spiffe://x/ns/shop/sa/pp",
        "source_app=productpage",
        "source_version=v1",
        "source_cluster=east",
        "destination_workload=reviews-v2",
        "destination_workload_namespace=prod",
        "destination_principal=spiffe://cluster.local/ns/prod/sa/reviews",
        "destination_app=reviews",
        "destination_version=v2",
        "destination_service=reviews.prod.svc.cluster.local",
        "destination_canonical_service=reviews-svc",
        "destination_canonical_revision=v2",
        "destination_service_name=reviews",
        "destination_service_namespace=prod",
        "destination_cluster=east",
        "request_protocol=http",
        "response_code=200",
        "grpc_response_status=",
        "response_flags=-",
        "connection_security_policy=unknown",
    };
    assert_int_equal(k, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < k; i++) assert_string_equal(got[i], want[i]);
    free(v);
    metrics_shard_free(m);
}

/* reporter="destination": the caller's principal and namespace from its certificate, the
 * rest of the caller "unknown" (revision "latest"); this proxy as the destination. TCP has
 * neither response_code nor grpc_response_status. Two callers are two series. */
static void
test_inbound_series_take_the_callers_identity(void **state)
{
    (void)state;
    struct metrics_local rv = {.ns = "prod",
                               .cluster = "Kubernetes",
                               .principal = "spiffe://cluster.local/ns/prod/sa/reviews"};
    const char *flags[] = {"app=reviews", "version=v2"};
    metrics_local_from_labels(&rv, "reviews-v2", flags, 2);
    struct metrics_shard *m = metrics_shard_new(&rv);
    struct tcp_record a = {.inbound = true,
                           .peer_mtls = true,
                           .endpoint = SIZE_MAX,
                           .peer_principal = "spiffe://cluster.local/ns/shop/sa/productpage"};
    struct tcp_record b = a;
    b.peer_principal = "spiffe://cluster.local/ns/ops/sa/probe";
    metrics_tcp_close(metrics_tcp_open(m, &a));
    metrics_tcp_close(metrics_tcp_open(m, &b));
    metrics_tcp_close(metrics_tcp_open(m, &a));
    size_t n;
    struct metrics_tcp_view *v = metrics_tcp_series(&m, 1, &n);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        const char *l = v[i].labels;
        bool shop = strstr(l, "sa/productpage") != NULL;
        assert_int_equal(v[i].opened, shop ? 2 : 1);
        assert_non_null(strstr(l, shop ? "source_workload_namespace=\"shop\""
                                       : "source_workload_namespace=\"ops\""));
        assert_non_null(strstr(l, "source_workload=\"unknown\""));
        assert_non_null(strstr(l, "source_canonical_revision=\"latest\""));
        assert_non_null(
            strstr(l, "destination_principal=\"spiffe://cluster.local/ns/prod/sa/reviews\""));
        assert_non_null(strstr(l, "destination_canonical_service=\"reviews\""));
        assert_non_null(strstr(l, "destination_service_namespace=\"prod\""));
        assert_non_null(strstr(l, "request_protocol=\"tcp\""));
        assert_null(strstr(l, "response_code"));
        assert_null(strstr(l, "grpc_response_status"));
        assert_non_null(strstr(l, "connection_security_policy=\"mutual_tls\""));
    }
    free(v);
    metrics_shard_free(m);
}

/* A series is keyed on what its labels are made of: the same endpoint state under new
 * labels (a reload) or with a newly proven identity is a new series, and the old one keeps
 * its counts; a connection that failed names no source principal; a client certificate
 * without a URI SAN is not mutual_tls. */
static void
test_series_follow_what_their_labels_are_made_of(void **state)
{
    (void)state;
    const char *keys[] = {"app", "version"}, *v1[] = {"pay", "v1"}, *v2[] = {"pay", "v2"};
    struct model_endpoint ep = {.address = "10.0.0.8",
                                .port = 80,
                                .label_keys = keys,
                                .label_vals = v1,
                                .n_labels = 2,
                                .mtls = true,
                                .label_digest = 1};
    struct model_cluster cl = {.name = "outbound|80||pay.prod.svc.cluster.local",
                               .host = "pay.prod.svc.cluster.local",
                               .n_endpoints = 1,
                               .endpoints = &ep};
    cl.state = pool_state_get(cl.name);
    ep.state = endpoint_state_get(cl.name, "10.0.0.8", 80, 0);
    endpoint_peer_set(ep.state, "spiffe://cluster.local/ns/prod/sa/pay-v1");
    struct metrics_shard *m = metrics_shard_new(&gw);
    struct exchange_record r = {.cluster = &cl, .endpoint = 0, .code = 200};
    metrics_record(m, &r);
    ep.label_vals = v2; /* a reload: the same address now carries v2 */
    ep.label_digest = 2;
    metrics_record(m, &r);
    metrics_record(m, &r);
    endpoint_peer_set(ep.state, "spiffe://cluster.local/ns/prod/sa/pay-v2");
    metrics_record(m, &r);
    struct exchange_record failed = {.cluster = &cl, .endpoint = 0, .code = 503, .flags = RF_UF};
    metrics_record(m, &failed);
    struct exchange_record no_san = {
        .inbound = true, .peer_mtls = true, .endpoint = SIZE_MAX, .code = 200};
    metrics_record(m, &no_san);
    size_t n;
    struct metrics_series_view *v = metrics_series(&m, 1, &n);
    assert_int_equal(n, 5);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        const char *l = v[i].labels;
        if (strstr(l, "reporter=\"destination\"")) {
            seen |= 1;
            assert_non_null(strstr(l, "connection_security_policy=\"none\""));
        } else if (strstr(l, "response_code=\"503\"")) {
            seen |= 2;
            assert_non_null(strstr(l, "source_principal=\"unknown\""));
        } else if (strstr(l, "destination_version=\"v1\"")) {
            seen |= 4;
            assert_int_equal(v[i].requests, 1);
            assert_non_null(strstr(l, "sa/pay-v1\""));
        } else if (strstr(l, "sa/pay-v1\"")) {
            seen |= 8; /* v2 labels, the identity not yet proven again */
            assert_int_equal(v[i].requests, 2);
        } else {
            seen |= 16;
            assert_non_null(
                strstr(l, "destination_principal=\"spiffe://cluster.local/ns/prod/sa/pay-v2\""));
            assert_non_null(strstr(l, "source_principal=\"spiffe://cluster.local/ns/edge/sa/gw\""));
            assert_int_equal(v[i].requests, 1);
        }
    }
    assert_int_equal(seen, 31);
    free(v);
    metrics_shard_free(m);
}

/* The canonical service and revision as Istio's injector fills them. */
static void
test_local_canonical_names_follow_the_injector(void **state)
{
    (void)state;
    struct metrics_local l = {0};
    metrics_local_from_labels(&l, "web-7f9c", NULL, 0);
    assert_string_equal(l.canonical_service, "web-7f9c");
    assert_string_equal(l.canonical_rev, "latest");
    assert_string_equal(l.app, "");
    const char *k8s[] = {"app=web", "app.kubernetes.io/name=storefront",
                         "app.kubernetes.io/version=2.1", "version=v2"};
    metrics_local_from_labels(&l, "web-7f9c", k8s, 4);
    assert_string_equal(l.canonical_service, "storefront");
    assert_string_equal(l.canonical_rev, "2.1");
    assert_string_equal(l.app, "web");
    assert_string_equal(l.version, "v2");
    const char *canon[] = {"service.istio.io/canonical-revision=canary", "app=web",
                           "service.istio.io/canonical-name=shop-web"};
    metrics_local_from_labels(&l, "web-7f9c", canon, 3);
    assert_string_equal(l.canonical_service, "shop-web");
    assert_string_equal(l.canonical_rev, "canary");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_in_envoy_order),
        cmocka_unit_test(test_outbound_http_series_has_istios_labels_in_order),
        cmocka_unit_test(test_inbound_series_take_the_callers_identity),
        cmocka_unit_test(test_local_canonical_names_follow_the_injector),
        cmocka_unit_test(test_series_follow_what_their_labels_are_made_of),
        cmocka_unit_test(test_series_merge_across_shards),
        cmocka_unit_test(test_cluster_counters_merge),
        cmocka_unit_test(test_grpc_message_counts_merge),
        cmocka_unit_test(test_tcp_series),
        cmocka_unit_test(test_tcp_series_table_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
