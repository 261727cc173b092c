/* SPDX-License-Identifier: Apache-2.0 */
/* The effective policy of (host, port, subset), every case of the spec's merge algorithm
 * (§4.3, E78, E79) and of several DestinationRules for one host (§4.2). */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "harness.h"
#include "model/cluster.h"
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
    assert_int_equal(dl.errors, 0);
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
    struct model_policy p;
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
    struct model_policy p;
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
    struct model_policy p;
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
    struct model_policy p;
    cluster_effective_policy(dr->traffic_policy, subset_tp(dr, "v1"), 9080, &p);
    assert_int_equal(p.lb->simple.v, LB_ROUND_ROBIN);
    cluster_effective_policy(dr->traffic_policy, subset_tp(dr, "v2"), 9080, &p);
    assert_null(p.lb);
    assert_null(p.pool);
    done();
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
    assert_int_equal(v1->n_endpoints, 1);                 /* a's v1 (version v1), not b's */
    assert_int_equal(v1->policy.lb->simple.v, LB_RANDOM); /* a's policy, not b's or w's */
    assert_non_null(v2);                                  /* b's v2: subsets merge */
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
        cmocka_unit_test(test_model_first_dr_policy_wins_and_subsets_merge),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    harness_cleanup();
    return rc;
}
