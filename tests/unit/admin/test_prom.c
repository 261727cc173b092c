/* SPDX-License-Identifier: Apache-2.0 */
/* The Prometheus text exposition of a histogram: cumulative buckets at Envoy's bounds,
 * +Inf equal to _count, _sum in the family's unit. */
#include <string.h>

#include "admin/prom.h"
#include "core/metric.h"
#include "core/strbuf.h"
#include "harness.h"

static void
test_histogram_lines(void **state)
{
    (void)state;
    struct metric_histo h;
    memset(&h, 0, sizeof(h));
    metric_observe(&h, 400, 1000);        /* 0.4 ms */
    metric_observe(&h, 3000, 1000);       /* 3 ms */
    metric_observe(&h, 7200000000, 1000); /* 2 hours: above every bound */
    struct strbuf sb;
    strbuf_init(&sb, 1 << 20);
    prom_family(&sb, "d_ms", "histogram", "help text");
    prom_histogram(&sb, "d_ms", "a=\"1\"", &h, 1000);
    const char *out = strbuf_str(&sb);
    assert_non_null(strstr(out, "# HELP d_ms help text\n# TYPE d_ms histogram\n"));
    assert_non_null(strstr(out, "d_ms_bucket{a=\"1\",le=\"0.5\"} 1\n"));
    assert_non_null(strstr(out, "d_ms_bucket{a=\"1\",le=\"1\"} 1\n"));
    assert_non_null(strstr(out, "d_ms_bucket{a=\"1\",le=\"5\"} 2\n"));
    assert_non_null(strstr(out, "d_ms_bucket{a=\"1\",le=\"3.6e+06\"} 2\n"));
    assert_non_null(strstr(out, "d_ms_bucket{a=\"1\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(out, "d_ms_sum{a=\"1\"} 7200003.400\n"));
    assert_non_null(strstr(out, "d_ms_count{a=\"1\"} 3\n"));
    /* 19 bounds + Inf + sum + count, after the 2 header lines */
    size_t lines = 0;
    for (const char *p = out; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 2 + METRIC_BUCKETS + 3);
    strbuf_fini(&sb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
