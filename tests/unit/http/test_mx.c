/* SPDX-License-Identifier: Apache-2.0 */
/* A worker's table of exchanged peers (http/mx.c): a value is decoded once and names the
 * same peer every time after; malformed values name none and are counted; past
 * MX_MAX_PEERS distinct values new ones name none (the bound on the series a lying client
 * can make), while those already known still do. */
#include <stdio.h>
#include <string.h>

#include "core/base64.h"
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

/* Envoy's value names the pod (NAME): a thousand pods of one workload version are one peer,
 * one series, and take one place of the cap; the value cache forgets, the peers stay. */
static void
test_pods_of_one_workload_are_one_peer(void **state)
{
    (void)state;
    struct mx x;
    assert_true(mx_init(&x, &self));
    const struct peer_metadata *first = NULL;
    for (int i = 0; i < 1000; i++) {
        /* LABELS first, then NAME: a pod's value as Envoy writes it, by hand */
        char pod[64], raw[512], b64[1024];
        int n = snprintf(pod, sizeof(pod), "reviews-v2-5d8f-%04d", i);
        size_t len = 0;
        raw[len++] = 0x0A; /* an entry: NAME -> pod */
        raw[len++] = (char)(2 + 4 + 2 + 2 + n);
        raw[len++] = 0x0A;
        raw[len++] = 4;
        memcpy(raw + len, "NAME", 4);
        len += 4;
        raw[len++] = 0x12;
        raw[len++] = (char)(2 + n);
        raw[len++] = 0x1A;
        raw[len++] = (char)n;
        memcpy(raw + len, pod, (size_t)n);
        len += (size_t)n;
        const char wl[] = "\x0a\x1d\x0a\x0dWORKLOAD_NAME\x12\x0c\x1a\x0areviews-v2";
        memcpy(raw + len, wl, sizeof(wl) - 1);
        len += sizeof(wl) - 1;
        size_t m = base64_encode((const unsigned char *)raw, len, b64);
        const struct peer_metadata *p = mx_peer(&x, slice_make(b64, m));
        assert_non_null(p);
        assert_string_equal(p->workload, "reviews-v2");
        if (!first) first = p;
        assert_ptr_equal(p, first);
    }
    assert_int_equal(x.n, 1);
    assert_int_equal(x.overflow, 0);
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
        cmocka_unit_test(test_pods_of_one_workload_are_one_peer),
        cmocka_unit_test(test_malformed_values_name_no_peer_and_are_counted),
        cmocka_unit_test(test_past_the_cap_new_values_name_no_peer),
        cmocka_unit_test(test_find_tells_which_headers_came),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
