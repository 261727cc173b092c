/* SPDX-License-Identifier: Apache-2.0 */
/* Endpoints from DNS (model_options.resolve, a fake resolver here): a resolution DNS
 * ServiceEntry without endpoints takes every address of each host (STRICT_DNS), and
 * DNS_ROUND_ROBIN the first (LOGICAL_DNS); an endpoint address that is a name resolves the
 * same way; a name with no answer yet leaves the pool empty and named; each endpoint keeps
 * the name it came from and its IP as its address; without a resolver nothing is looked
 * up for a DNS ServiceEntry's hosts. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/strbuf.h"
#include "harness.h"
#include "model/model.h"

static struct resource_set set;
static struct diag_list dl;
static struct snapshot *snap;
static unsigned lookups;

/* api.payments.example: two addresses; one.example: one; anything else: no answer yet. */
static size_t
fake_resolve(void *arg, const char *name, struct sockaddr_storage *out, size_t max)
{
    (void)arg;
    lookups++;
    const char *a[2] = {NULL, NULL};
    if (!strcmp(name, "api.payments.example")) {
        a[0] = "127.0.0.11";
        a[1] = "127.0.0.12";
    } else if (!strcmp(name, "one.example")) {
        a[0] = "127.0.0.21";
    }
    size_t n = 0;
    for (size_t i = 0; i < 2 && a[i] && n < max; i++, n++) {
        memset(&out[n], 0, sizeof(out[n]));
        struct sockaddr_in *v4 = (struct sockaddr_in *)&out[n];
        v4->sin_family = AF_INET;
        inet_pton(AF_INET, a[i], &v4->sin_addr);
    }
    return n;
}

static void
build(const char *yaml, bool with_resolver)
{
    const char *dir = harness_tmpdir();
    const char *paths[] = {harness_write(dir, "c.yaml", yaml)};
    config_init(&set);
    diag_list_init(&dl);
    assert_int_equal(config_load(&set, paths, 1, NULL, &dl), 0);
    config_analyze(&set, &dl);
    assert_int_equal(dl.errors, 0);
    struct model_options opt = {.mesh_port = 15001, .ns = "default"};
    if (with_resolver) opt.resolve = fake_resolve;
    char err[256];
    snap = model_build(&set, &opt, err, sizeof(err));
    if (!snap) fail_msg("build failed: %s", err);
}

static void
teardown(void)
{
    model_release(snap);
    snap = NULL;
    diag_list_fini(&dl);
    config_fini(&set);
}

static const struct model_cluster *
pool(const char *name)
{
    for (size_t i = 0; i < snap->n_clusters; i++)
        if (!strcmp(snap->clusters[i]->name, name)) return snap->clusters[i];
    fail_msg("no pool %s", name);
    return NULL;
}

static const char *const egress =
    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: pay, "
    "namespace: default}\nspec:\n  hosts: [api.payments.example]\n  location: MESH_EXTERNAL\n"
    "  resolution: %s\n  ports: [{number: 443, name: tls, protocol: TLS}]\n";

static void
test_dns_service_entry_takes_every_address(void **state)
{
    (void)state;
    char y[1024];
    snprintf(y, sizeof(y), egress, "DNS");
    build(y, true);
    const struct model_cluster *c = pool("outbound|443||api.payments.example");
    assert_int_equal(c->n_endpoints, 2);
    assert_string_equal(c->endpoints[0].address, "127.0.0.11");
    assert_string_equal(c->endpoints[1].address, "127.0.0.12");
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(c->endpoints[i].dns_name, "api.payments.example");
        assert_int_equal(c->endpoints[i].port, 443);
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)&c->endpoints[i].addr;
        assert_int_equal(ntohs(v4->sin_port), 443);
    }
    assert_int_equal(c->n_dns_names, 1);
    assert_string_equal(c->dns_names[0], "api.payments.example");
    teardown();
}

static void
test_dns_round_robin_takes_the_first_address(void **state)
{
    (void)state;
    char y[1024];
    snprintf(y, sizeof(y), egress, "DNS_ROUND_ROBIN");
    build(y, true);
    const struct model_cluster *c = pool("outbound|443||api.payments.example");
    assert_int_equal(c->n_endpoints, 1);
    assert_string_equal(c->endpoints[0].address, "127.0.0.11");
    teardown();
}

static void
test_endpoint_names_resolve_and_unanswered_names_leave_the_pool_named(void **state)
{
    (void)state;
    build("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: db, "
          "namespace: default}\nspec:\n  hosts: [db.default.svc.cluster.local]\n"
          "  resolution: DNS\n  ports: [{number: 5432, name: tcp, protocol: TCP}]\n"
          "  endpoints:\n  - {address: one.example, labels: {version: v1}}\n"
          "  - {address: 127.0.0.31, labels: {version: v1}}\n"
          "  - {address: later.example, labels: {version: v2}}\n---\n"
          "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: db, "
          "namespace: default}\nspec:\n  host: db.default.svc.cluster.local\n  subsets:\n"
          "  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n---\n"
          "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: db, "
          "namespace: default}\nspec:\n  hosts: [db.default.svc.cluster.local]\n  tcp:\n"
          "  - route:\n    - destination: {host: db.default.svc.cluster.local, subset: v1}\n"
          "      weight: 50\n    - destination: {host: db.default.svc.cluster.local, subset: v2}\n"
          "      weight: 50\n",
          true);
    const struct model_cluster *v1 = pool("outbound|5432|v1|db.default.svc.cluster.local");
    assert_int_equal(v1->n_endpoints, 2);
    assert_string_equal(v1->endpoints[0].address, "127.0.0.21");
    assert_string_equal(v1->endpoints[0].dns_name, "one.example");
    assert_string_equal(v1->endpoints[1].address, "127.0.0.31");
    assert_null(v1->endpoints[1].dns_name);
    const struct model_cluster *v2 = pool("outbound|5432|v2|db.default.svc.cluster.local");
    assert_int_equal(v2->n_endpoints, 0); /* no answer yet */
    assert_int_equal(v2->n_dns_names, 1);
    assert_string_equal(v2->dns_names[0], "later.example");
    teardown();
}

static void
test_without_a_resolver_dns_hosts_are_not_looked_up(void **state)
{
    (void)state;
    char y[1024];
    snprintf(y, sizeof(y), egress, "DNS");
    lookups = 0;
    build(y, false);
    const struct model_cluster *c = pool("outbound|443||api.payments.example");
    assert_int_equal(c->n_endpoints, 0);
    assert_int_equal(lookups, 0);
    teardown();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns_service_entry_takes_every_address),
        cmocka_unit_test(test_dns_round_robin_takes_the_first_address),
        cmocka_unit_test(test_endpoint_names_resolve_and_unanswered_names_leave_the_pool_named),
        cmocka_unit_test(test_without_a_resolver_dns_hosts_are_not_looked_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
