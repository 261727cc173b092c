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
}

struct seen {
    char labels[8][1024];
    uint64_t requests[8];
    uint64_t duration_count[8];
    size_t n;
};

static void
collect(const struct metrics_series_view *v, void *arg)
{
    struct seen *s = arg;
    if (s->n == 8) return;
    snprintf(s->labels[s->n], sizeof(s->labels[0]), "%s", v->labels);
    s->requests[s->n] = v->requests;
    s->duration_count[s->n] = v->duration.count;
    s->n++;
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
    struct metrics_shard *shards[2] = {metrics_shard_new("gw", "edge"),
                                       metrics_shard_new("gw", "edge")};
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
    struct exchange_record in = {
        .inbound = true, .peer_mtls = true, .endpoint = SIZE_MAX, .code = 200};
    metrics_record(shards[0], &in);

    struct seen s = {.n = 0};
    metrics_each_series(shards, 2, collect, &s);
    assert_int_equal(s.n, 3); /* the 200s of both workers are one series */
    int found_ok = 0, found_nr = 0, found_in = 0;
    for (size_t i = 0; i < s.n; i++) {
        const char *l = s.labels[i];
        if (strstr(l, "response_code=\"200\"") && strstr(l, "reporter=\"source\"")) {
            found_ok++;
            assert_int_equal(s.requests[i], 5);
            assert_int_equal(s.duration_count[i], 5);
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
            assert_int_equal(s.requests[i], 1);
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

    metrics_shard_free(shards[0]);
    metrics_shard_free(shards[1]);
}

struct cluster_seen {
    uint64_t rq, retry, xx5, xx2;
    size_t n;
};

static void
collect_cluster(const struct metrics_cluster_view *v, void *arg)
{
    struct cluster_seen *s = arg;
    s->n++;
    s->rq = v->ev[UP_RQ];
    s->retry = v->ev[UP_RETRY];
    s->xx5 = v->xx[5];
    s->xx2 = v->xx[2];
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
    struct metrics_shard *shards[2] = {metrics_shard_new("gw", "edge"),
                                       metrics_shard_new("gw", "edge")};
    metrics_upstream(shards[0], ps, UP_RQ);
    metrics_upstream(shards[1], ps, UP_RQ);
    metrics_upstream(shards[1], ps, UP_RETRY);
    metrics_upstream_code(shards[0], &cl, 0, 503);
    metrics_upstream_code(shards[1], &cl, 0, 200);
    metrics_upstream_code(shards[1], &cl, 0, 201);
    struct cluster_seen s = {0};
    metrics_each_cluster(shards, 2, collect_cluster, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.rq, 2);
    assert_int_equal(s.retry, 1);
    assert_int_equal(s.xx5, 1);
    assert_int_equal(s.xx2, 2);
    metrics_shard_free(shards[0]);
    metrics_shard_free(shards[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_in_envoy_order),
        cmocka_unit_test(test_series_merge_across_shards),
        cmocka_unit_test(test_cluster_counters_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
