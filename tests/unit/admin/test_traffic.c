/* SPDX-License-Identifier: Apache-2.0 */
/* /traffic: labels found whole and unescaped, series folded per reporter, service and
 * version, 5xx counted apart, histograms summed bucket by bucket, and the JSON shape. */
#include <stdlib.h>
#include <string.h>

#include "admin/traffic.h"
#include "harness.h"
#include "http/metrics.h"

static void
test_label_found_whole_and_unescaped(void **state)
{
    (void)state;
    char v[32];
    const char *labels = "reporter=\"source\",xdestination_version=\"no\","
                         "destination_version=\"v\\\"2\\\\\\n\",response_code=\"503\"";
    assert_true(traffic_label(labels, "destination_version", v, sizeof(v)));
    assert_string_equal(v, "v\"2\\\n");
    assert_true(traffic_label(labels, "reporter", v, sizeof(v)));
    assert_string_equal(v, "source");
    assert_true(traffic_label(labels, "response_code", v, sizeof(v)));
    assert_string_equal(v, "503");
    assert_false(traffic_label(labels, "version", v, sizeof(v)));
    assert_false(traffic_label("a=\"unterminated", "a", v, sizeof(v)));
    assert_false(traffic_label("", "a", v, sizeof(v)));
    char small[4];
    assert_true(traffic_label("a=\"abcdef\"", "a", small, sizeof(small)));
    assert_string_equal(small, "abc"); /* cut to fit */
}

static struct metrics_series_view
series(const char *labels, uint64_t requests, size_t bucket)
{
    struct metrics_series_view v;
    memset(&v, 0, sizeof(v));
    v.labels = labels;
    v.requests = requests;
    v.duration.bucket[bucket] = requests;
    v.duration.count = requests;
    return v;
}

static void
test_groups_by_service_and_version(void **state)
{
    (void)state;
    struct metrics_series_view v[] = {
        series("reporter=\"source\",destination_version=\"v1\",destination_service=\"o.svc\","
               "response_code=\"200\"",
               90, 2),
        series("reporter=\"source\",destination_version=\"v2\",destination_service=\"o.svc\","
               "response_code=\"200\"",
               7, 3),
        series("reporter=\"source\",destination_version=\"v2\",destination_service=\"o.svc\","
               "response_code=\"503\",response_flags=\"UF\"",
               3, METRIC_BUCKETS),
        series("reporter=\"source\",destination_version=\"v1\",destination_service=\"o.svc\","
               "response_code=\"500\"",
               1, 2),
        series("reporter=\"destination\",destination_version=\"v1\","
               "destination_service=\"o.svc\",response_code=\"200\"",
               5, 0),
        series("reporter=\"source\",response_code=\"404\"", 2, 1),
    };
    size_t len;
    struct traffic_group *g = traffic_group(v, sizeof(v) / sizeof(v[0]), &len);
    assert_int_equal(len, 4);
    assert_string_equal(g[0].version, "v1");
    assert_int_equal(g[0].requests, 91);
    assert_int_equal(g[0].errors, 1);
    assert_int_equal(g[0].duration[2], 91);
    assert_string_equal(g[1].version, "v2");
    assert_int_equal(g[1].requests, 10);
    assert_int_equal(g[1].errors, 3);
    assert_int_equal(g[1].duration[3], 7);
    assert_int_equal(g[1].duration[METRIC_BUCKETS], 3);
    assert_string_equal(g[2].reporter, "destination");
    assert_int_equal(g[2].requests, 5);
    assert_string_equal(g[3].service, "unknown");
    assert_string_equal(g[3].version, "unknown");
    assert_int_equal(g[3].errors, 0);

    struct strbuf sb;
    strbuf_init(&sb, 1 << 20);
    traffic_write_groups(g, 1, &sb);
    assert_string_equal(strbuf_str(&sb),
                        "{\"bounds_ms\":[0.5,1,5,10,25,50,100,250,500,1000,2500,5000,10000,"
                        "30000,60000,300000,600000,1800000,3600000],\"series\":[{\"reporter\":"
                        "\"source\",\"service\":\"o.svc\",\"version\":\"v1\",\"requests\":91,"
                        "\"errors\":1,\"duration_ms\":[0,0,91,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]"
                        "}]}\n");
    strbuf_fini(&sb);
    free(g);

    assert_null(traffic_group(v, 0, &len));
    assert_int_equal(len, 0);
    harness_alloc_fail_at(0);
    assert_null(traffic_group(v, 1, &len));
    assert_int_equal(harness_alloc_fail_off(), 1);
    assert_int_equal(len, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_found_whole_and_unescaped),
        cmocka_unit_test(test_groups_by_service_and_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
