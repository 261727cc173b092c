/* SPDX-License-Identifier: Apache-2.0 */
/* The reload sequence: a good config comes into force and is published, a bad one is
 * refused with its reasons while the old snapshot stays, the next good one comes in; the
 * same from files and from in-memory documents; the first load refuses what `meshlet run`
 * refuses to start with. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "control/reload.h"
#include "core/strbuf.h"
#include "harness.h"
#include "lb/lb.h"
#include "model/model.h"

#define REGISTRY                                                                                   \
    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: reviews}\n"          \
    "spec:\n  hosts: [reviews.default.svc.cluster.local]\n"                                        \
    "  ports:\n  - {number: 9080, name: http, protocol: HTTP}\n  resolution: STATIC\n"             \
    "  endpoints:\n  - {address: 127.0.0.1, ports: {http: 19081}}\n---\n"

#define ROUTE(prefix, weight)                                                                      \
    REGISTRY "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\n"     \
             "spec:\n  hosts: [reviews]\n  http:\n  - match: [{uri: {prefix: " prefix "}}]\n"      \
             "    route:\n    - destination: {host: reviews}\n      weight: " weight "\n"

static const char good1[] = ROUTE("/one", "100");
static const char good2[] = ROUTE("/two", "100");
static const char bad[] = ROUTE("/bad", "-5"); /* IST0106 */

/* What the publish callback saw. */
static struct snapshot *published[8];
static size_t n_done;

static void
on_done(struct reload *rl, struct snapshot *snap, void *arg)
{
    (void)arg;
    assert_ptr_equal(rl->snap, snap ? snap : rl->snap); /* in force before it is told */
    if (n_done < 8) published[n_done] = snap;
    n_done++;
}

static void
init(struct reload *rl)
{
    memset(rl, 0, sizeof(*rl));
    rl->ns = "default";
    rl->mopt.ns = "default";
    rl->mopt.mesh_port = 15001; /* a listener to route on: nothing binds in a build */
    rl->mopt.prepare_cluster = lb_prepare_cluster;
    rl->done = on_done;
    n_done = 0;
}

static struct reload_source
doc(const char *name, const char *text)
{
    static struct source_doc d;
    d = (struct source_doc){name, text, strlen(text)};
    return (struct reload_source){.docs = &d, .n_docs = 1};
}

static void
test_reload_good_bad_good_keeps_the_old_snapshot_on_error(void **state)
{
    (void)state;
    struct reload rl;
    init(&rl);
    struct strbuf out;
    strbuf_init(&out, 1 << 20);
    struct reload_source src = doc("store/r", good1);
    assert_int_equal(reload_run(&rl, &src, NULL, NULL), RELOAD_OK);
    struct snapshot *first = rl.snap;
    assert_non_null(first);
    assert_int_equal(first->n_listeners, 1);
    assert_true(first->n_routes > 0);
    assert_int_equal(n_done, 0); /* the first load publishes nothing: workers start from it */

    /* Bad: refused with the reason, the first stays in force, nothing new published. */
    struct snapshot *held = model_acquire(first);
    src = doc("store/r", bad);
    assert_int_equal(reload_run(&rl, &src, "test", &out), RELOAD_ERRORS);
    assert_ptr_equal(rl.snap, first);
    assert_int_equal(rl.n_failed, 1);
    assert_int_equal(rl.n_ok, 0);
    assert_int_equal(n_done, 1);
    assert_null(published[0]);
    assert_non_null(strstr(strbuf_str(&out), "IST0106"));
    assert_non_null(strstr(strbuf_str(&out), "store/r"));
    assert_non_null(strstr(strbuf_str(&out), "reload refused"));

    /* Good again: in force, published, and the first one released by the reload. */
    strbuf_fini(&out);
    strbuf_init(&out, 1 << 20);
    src = doc("store/r", good2);
    assert_int_equal(reload_run(&rl, &src, "test", &out), RELOAD_OK);
    assert_ptr_not_equal(rl.snap, first);
    assert_true(rl.snap->version > first->version);
    assert_int_equal(rl.n_ok, 1);
    assert_int_equal(rl.n_failed, 1);
    assert_int_equal(n_done, 2);
    assert_ptr_equal(published[1], rl.snap);
    assert_non_null(strstr(strbuf_str(&out), "in force"));
    assert_int_equal(atomic_load(&first->refs), 1); /* only the test's reference is left */
    model_release(held);
    assert_int_equal(atomic_load(&rl.snap->refs), 1);
    reload_fini(&rl);
    assert_null(rl.snap);
    strbuf_fini(&out);
}

/* The default source is the --config paths: a change of the files is what a reload reads;
 * a path gone is refused as unreadable (exit 2 at start), and the old snapshot stays. */
static void
test_reload_reads_the_paths_again(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", harness_tmpdir());
    const char *paths[] = {harness_write(dir, "c.yaml", good1)};
    struct reload rl;
    init(&rl);
    rl.source = (struct reload_source){.paths = paths, .n_paths = 1};
    assert_int_equal(reload_run(&rl, NULL, NULL, NULL), RELOAD_OK);
    uint64_t digest = rl.snap->digest;
    harness_write(dir, "c.yaml", good2);
    assert_int_equal(reload_run(&rl, NULL, "files", NULL), RELOAD_OK);
    assert_true(rl.snap->digest != digest);
    struct snapshot *kept = rl.snap;
    harness_write(dir, "c.yaml", bad);
    assert_int_equal(reload_run(&rl, NULL, "files", NULL), RELOAD_ERRORS);
    assert_ptr_equal(rl.snap, kept);
    const char *gone[] = {"/nonexistent/meshlet/config.yaml"};
    struct reload_source missing = {.paths = gone, .n_paths = 1};
    assert_int_equal(reload_run(&rl, &missing, "files", NULL), RELOAD_USAGE);
    assert_ptr_equal(rl.snap, kept);
    assert_int_equal(rl.n_failed, 2);
    reload_fini(&rl);
}

/* The first load refuses what `meshlet run` will not start with, and keeps nothing. */
static void
test_reload_first_load_refuses_errors_and_unknown_gateways(void **state)
{
    (void)state;
    struct reload rl;
    init(&rl);
    struct reload_source src = doc("store/r", bad);
    struct strbuf out;
    strbuf_init(&out, 1 << 20);
    assert_int_equal(reload_run(&rl, &src, NULL, &out), RELOAD_ERRORS);
    assert_null(rl.snap);
    assert_non_null(strstr(strbuf_str(&out), "1 error(s)"));
    static const char *const gws[] = {"default/edge"};
    rl.gateways = gws;
    rl.n_gateways = 1;
    src = doc("store/r", good1);
    strbuf_fini(&out);
    strbuf_init(&out, 1 << 20);
    assert_int_equal(reload_run(&rl, &src, NULL, &out), RELOAD_USAGE);
    assert_null(rl.snap);
    assert_non_null(strstr(strbuf_str(&out), "no Gateway default/edge"));
    assert_int_equal(n_done, 0);
    strbuf_fini(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reload_good_bad_good_keeps_the_old_snapshot_on_error),
        cmocka_unit_test(test_reload_reads_the_paths_again),
        cmocka_unit_test(test_reload_first_load_refuses_errors_and_unknown_gateways),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    harness_cleanup();
    return rc;
}
