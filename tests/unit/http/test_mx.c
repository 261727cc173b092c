/* SPDX-License-Identifier: Apache-2.0 */
/* A worker's table of exchanged peers (http/mx.c): a value is decoded once and names the
 * same peer every time after; malformed values name none and are counted; past
 * MX_MAX_PEERS distinct values new ones name none (the bound on the series a lying client
 * can make), while those already known still do. */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "http/metrics.h"
#include "http/mx.h"

static const struct metrics_local self = {.workload = "ratings-v1",
                                          .ns = "prod",
                                          .app = "ratings",
                                          .version = "v1",
                                          .canonical_service = "ratings",
                                          .canonical_rev = "v1",
                                          .cluster = "Kubernetes"};

/* The value a workload named <name> would send, into <out>. */
static struct slice
value_of(const char *name, char *out, size_t cap)
{
    struct metrics_local l = self;
    l.workload = name;
    size_t n = peer_metadata_encode(&l, out, cap);
    assert_true(n > 0);
    return slice_make(out, n);
}

static void
test_a_value_is_read_once_and_names_the_same_peer(void **state)
{
    (void)state;
    struct mx x;
    assert_true(mx_init(&x, &self));
    assert_true(x.value_len > 0);
    char a[2048], b[2048];
    const struct peer_metadata *p = mx_peer(&x, value_of("productpage-v1", a, sizeof(a)));
    assert_non_null(p);
    assert_string_equal(p->workload, "productpage-v1");
    assert_string_equal(p->ns, "prod");
    assert_string_equal(p->app, "ratings");
    /* the same bytes in another buffer: the same peer, not a new one */
    memcpy(b, a, sizeof(a));
    assert_ptr_equal(mx_peer(&x, slice_make(b, strlen(b))), p);
    const struct peer_metadata *q = mx_peer(&x, value_of("reviews-v2", b, sizeof(b)));
    assert_non_null(q);
    assert_ptr_not_equal(q, p);
    assert_string_equal(q->workload, "reviews-v2");
    assert_int_equal(x.n, 2);
    assert_int_equal(x.read, 3);
    mx_fini(&x);
}

static void
test_malformed_values_name_no_peer_and_are_counted(void **state)
{
    (void)state;
    struct mx x;
    assert_true(mx_init(&x, &self));
    assert_null(mx_peer(&x, SLICE_LIT("not base64!")));
    assert_null(mx_peer(&x, SLICE_LIT("Cg"))); /* a field cut short */
    assert_null(mx_peer(&x, SLICE_LIT("")));   /* empty: nothing read */
    assert_int_equal(x.malformed, 2);
    assert_int_equal(x.n, 0);
    mx_fini(&x);
}

static void
test_past_the_cap_new_values_name_no_peer(void **state)
{
    (void)state;
    struct mx x;
    assert_true(mx_init(&x, &self));
    char buf[2048], name[32];
    const struct peer_metadata *first = NULL;
    for (int i = 0; i < MX_MAX_PEERS; i++) {
        snprintf(name, sizeof(name), "w-%d", i);
        const struct peer_metadata *p = mx_peer(&x, value_of(name, buf, sizeof(buf)));
        assert_non_null(p);
        if (!first) first = p;
    }
    assert_null(mx_peer(&x, value_of("one-too-many", buf, sizeof(buf))));
    assert_null(mx_peer(&x, value_of("another", buf, sizeof(buf))));
    assert_int_equal(x.overflow, 2);
    assert_int_equal(x.n, MX_MAX_PEERS);
    assert_ptr_equal(mx_peer(&x, value_of("w-0", buf, sizeof(buf))), first);
    mx_fini(&x);
}

static void
test_find_tells_which_headers_came(void **state)
{
    (void)state;
    struct slice md;
    const struct h1_header both[] = {{SLICE_LIT("X-Envoy-Peer-Metadata-Id"), SLICE_LIT("a")},
                                     {SLICE_LIT("x-envoy-peer-metadata"), SLICE_LIT("Zm9v")}};
    assert_int_equal(mx_find(both, 2, &md), MX_HAS_VALUE | MX_HAS_ID);
    assert_true(slice_eq(md, "Zm9v"));
    assert_int_equal(mx_find(both, 1, &md), MX_HAS_ID);
    assert_int_equal(md.len, 0);
    const struct h1_header other[] = {{SLICE_LIT("x-envoy-peer-metadata-x"), SLICE_LIT("a")}};
    assert_int_equal(mx_find(other, 1, &md), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_value_is_read_once_and_names_the_same_peer),
        cmocka_unit_test(test_malformed_values_name_no_peer_and_are_counted),
        cmocka_unit_test(test_past_the_cap_new_values_name_no_peer),
        cmocka_unit_test(test_find_tells_which_headers_came),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
