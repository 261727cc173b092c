/* SPDX-License-Identifier: Apache-2.0 */
/* Reading Istio's series from an exposition (meshlet's own, then hostile ones), quantiles
 * by Prometheus's rules, deltas across a restart, and the fetch over HTTP. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "rollout/scrape.h"
#include "serve.h"

static const struct traffic_query v2 = {"orders.prod.svc.cluster.local", "v2", "source"};

static char *
fixture(const char *name, size_t *len)
{
    const char *dir = getenv("MESHLET_SRCDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/tests/fixtures/rollout/%s", dir ? dir : ".", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 18];
    *len = fread(buf, 1, sizeof(buf) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static int
parse(const char *text, const struct traffic_query *q, struct traffic *t, char *err)
{
    memset(t, 0, sizeof(*t));
    size_t n = strlen(text);
    return scrape_parse(harness_guarded(text, n), n, q, t, err, 160);
}

/* meshlet's /stats/prometheus after 7 requests to v2 (2 of them 503) and 91 to v1. */
static void
test_scrape_reads_meshlet_exposition(void **state)
{
    (void)state;
    size_t len;
    const char *text = fixture("meshlet-stats.prom", &len);
    struct traffic t = {0};
    char err[160] = "";
    assert_int_equal(scrape_parse(harness_guarded(text, len), len, &v2, &t, err, sizeof(err)), 0);
    assert_true(t.requests == 7 && t.errors == 2);
    assert_int_equal(t.n_bounds, 19);
    assert_true(t.bounds[0] == 0.5 && t.bounds[18] == 3.6e6);
    assert_true(t.cum[0] == 4 && t.cum[1] == 5 && t.cum[5] == 5 && t.cum[6] == 7);
    assert_true(t.cum[19] == 7);
    /* p50: rank 3.5 in [0, 0.5] holding 4; p99: rank 6.93 in (50, 100] holding 2 past 5 */
    assert_true(fabs(traffic_quantile(&t, 0.5) - 0.4375) < 1e-9);
    assert_true(fabs(traffic_quantile(&t, 0.99) - 98.25) < 1e-9);
    struct traffic_query any = {"orders.prod.svc.cluster.local", NULL, NULL};
    memset(&t, 0, sizeof(t));
    assert_int_equal(scrape_parse(text, len, &any, &t, err, sizeof(err)), 0);
    assert_true(t.requests == 102 && t.errors == 30);
    struct traffic_query inbound = {"orders.prod.svc.cluster.local", NULL, "destination"};
    memset(&t, 0, sizeof(t));
    assert_int_equal(scrape_parse(text, len, &inbound, &t, err, sizeof(err)), 0);
    assert_true(t.requests == 0 && t.n_bounds == 0);
    /* two proxies' expositions add up */
    memset(&t, 0, sizeof(t));
    assert_int_equal(scrape_parse(text, len, &v2, &t, err, sizeof(err)), 0);
    assert_int_equal(scrape_parse(text, len, &v2, &t, err, sizeof(err)), 0);
    assert_true(t.requests == 14 && t.errors == 4 && t.cum[19] == 14 && t.n_bounds == 19);
}

/* Any valid exposition: labels in any order, blanks, a trailing comma, comments, escapes,
 * timestamps, exponents. */
static void
test_scrape_reads_any_valid_form(void **state)
{
    (void)state;
    const char *text = "# HELP istio_requests_total a \"help\" with \\ and {\n"
                       "# TYPE istio_requests_total counter\n"
                       "\n"
                       "istio_requests_total{response_code=\"503\",destination_version=\"v2\","
                       "reporter=\"source\",destination_service=\"s\"} 3 1700000000000\n"
                       "  istio_requests_total { reporter = \"source\" , destination_service="
                       "\"s\", destination_version=\"v2\", response_code=\"200\", } 1.7e1\t\n"
                       "istio_requests_total{destination_service=\"s\",destination_version=\"v1\","
                       "reporter=\"source\",response_code=\"500\"} 100\n"
                       "istio_requests_total{destination_service=\"s\",destination_version=\"v2\","
                       "reporter=\"source\",response_code=\"5000\"} 1\n"
                       "istio_requests_total{destination_service=\"s\\\\\",destination_version="
                       "\"v2\",reporter=\"source\",response_code=\"503\"} 1000\n"
                       "istio_requests_total{x=\"destination_service=\\\"s\\\"\",reporter="
                       "\"source\"} 1000\n"
                       "other_metric{destination_service=\"s\"} NaN\n"
                       "other_metric{destination_service=\"s\"} -Inf -12\n";
    struct traffic_query q = {"s", "v2", "source"};
    struct traffic t;
    char err[160] = "";
    assert_int_equal(parse(text, &q, &t, err), 0);
    assert_true(t.requests == 21);
    assert_true(t.errors == 3); /* 5000 is not a 5xx code */
    /* an escaped quote and backslash are the value's own */
    struct traffic_query bs = {"s\\", "v2", "source"};
    assert_int_equal(parse(text, &bs, &t, err), 0);
    assert_true(t.requests == 1000 && t.errors == 1000);
    const char *quoted = "istio_requests_total{destination_service=\"a\\\"b\\nc\"} 5\n";
    struct traffic_query qq = {"a\"b\nc", NULL, NULL};
    assert_int_equal(parse(quoted, &qq, &t, err), 0);
    assert_true(t.requests == 5);
}

struct bad {
    const char *text;
    const char *err;
};

static void
test_scrape_rejects_malformed(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        {"istio_requests_total{destination_service=\"s\"} NaN\n",
         "line 1: a count that is not finite and >= 0"},
        {"istio_requests_total{destination_service=\"s\"} 1e400\n",
         "line 1: a count that is not finite and >= 0"},
        {"istio_requests_total{destination_service=\"s\"} -1\n",
         "line 1: a count that is not finite and >= 0"},
        {"# c\nistio_requests_total{destination_service=\"s\"} 12",
         "line 2: no newline at the end (a cut exposition?)"},
        {"istio_requests_total{destination_service=\"s\n",
         "line 1: label value without its closing quote"},
        {"istio_requests_total{destination_service=\"s\"\n",
         "line 1: expected ',' or '}' after a label value"},
        {"istio_requests_total{destination_service=\"s\"}\n",
         "line 1: expected a blank then a value"},
        {"istio_requests_total{destination_service=\"s\"}12\n",
         "line 1: expected a blank then a value"},
        {"istio_requests_total{destination_service=\"s\"} 12abc\n",
         "line 1: value is not a number"},
        {"istio_requests_total{destination_service=\"s\"} 12 1.5\n",
         "line 1: expected an integer timestamp or the end of the line"},
        {"istio_requests_total{destination_service=\"s\"} 12 15 x\n",
         "line 1: text after the timestamp"},
        {"istio_requests_total{destination_service=\"s\\t\"} 1\n",
         "line 1: invalid escape in a label value (only \\\\, \\\" and \\n)"},
        {"istio_requests_total{destination_service=\"s\",destination_service=\"s\"} 1\n",
         "line 1: a label given twice"},
        {"istio_requests_total{1a=\"s\"} 1\n", "line 1: expected a label name or '}'"},
        {"istio_requests_total{a\"s\"} 1\n", "line 1: expected '=' after a label name"},
        {"istio_requests_total{a=s} 1\n", "line 1: expected '\"' to open a label value"},
        {"{a=\"s\"} 1\n", "line 1: expected a metric name"},
        {"x 1\nistio_request_duration_milliseconds_bucket{destination_service=\"s\",le=\"1\"} 1\n"
         "istio_request_duration_milliseconds_bucket{destination_service=\"s\",le=\"2\"} 1\n",
         "line 2: istio_request_duration_milliseconds series without its le=\"+Inf\" bucket"},
        {"istio_request_duration_milliseconds_bucket{destination_service=\"s\",le=\"+Inf\"} 1\n"
         "istio_request_duration_milliseconds_bucket{le=\"+Inf\",destination_service=\"s\"} 1\n",
         "line 2: a second le=\"+Inf\" bucket for one series"},
        {"istio_request_duration_milliseconds_bucket{destination_service=\"s\"} 1\n",
         "line 1: a histogram bucket without le"},
        {"istio_request_duration_milliseconds_bucket{destination_service=\"s\",le=\"x\"} 1\n",
         "line 1: le is not a number"},
    };
    struct traffic_query q = {"s", NULL, NULL};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct traffic t;
        char err[160] = "";
        if (parse(cases[i].text, &q, &t, err) != -1 || strcmp(err, cases[i].err))
            fail_msg("case %zu: got '%s', want '%s'", i, err, cases[i].err);
    }
    /* what does not match may hold any valid value */
    struct traffic t;
    char err[160] = "";
    assert_int_equal(parse("istio_requests_total{destination_service=\"o\"} NaN\n"
                           "istio_requests_total{destination_service=\"o\"} 1e400\n",
                           &q, &t, err),
                     0);
    /* huge but finite counts are taken */
    assert_int_equal(parse("istio_requests_total{destination_service=\"s\"} 1e300\n", &q, &t, err),
                     0);
    assert_true(t.requests == 1e300);
}

/* Cut anywhere but right after a newline, an exposition is refused, never half-read; cut
 * after one, inside a histogram, too. */
static void
test_scrape_refuses_every_cut(void **state)
{
    (void)state;
    size_t len;
    const char *text = fixture("meshlet-stats.prom", &len);
    struct traffic_query q = {"orders.prod.svc.cluster.local", NULL, NULL};
    /* the first 3 kB, every cut; then a cut in every line */
    for (size_t k = 1; k < len; k += k < 3000 ? 1 : 97) {
        struct traffic t = {0};
        char err[160];
        int rc = scrape_parse(harness_guarded(text, k), k, &q, &t, err, sizeof(err));
        if (text[k - 1] == '\n') /* whole lines: a histogram cut short is still caught */
            assert_true(rc == 0 || strstr(err, "without its le=\"+Inf\" bucket"));
        else if (rc != -1)
            fail_msg("cut at %zu accepted", k);
    }
}

/* Series with other bounds add theirs, as sum by (le); more than the room drops bounds. */
static void
test_scrape_merges_bounds(void **state)
{
    (void)state;
    const char *text = "h_bucket{le=\"1\"} 1\n" /* not ours: ignored */
                       "istio_request_duration_milliseconds_bucket{destination_service=\"s\","
                       "le=\"10\"} 2\n"
                       "istio_request_duration_milliseconds_bucket{destination_service=\"s\","
                       "le=\"+Inf\"} 4\n"
                       "istio_request_duration_milliseconds_bucket{destination_service=\"s\","
                       "a=\"2\",le=\"5\"} 1\n"
                       "istio_request_duration_milliseconds_bucket{destination_service=\"s\","
                       "a=\"2\",le=\"10\"} 1\n"
                       "istio_request_duration_milliseconds_bucket{destination_service=\"s\","
                       "a=\"2\",le=\"+Inf\"} 1\n";
    struct traffic_query q = {"s", NULL, NULL};
    struct traffic t;
    char err[160] = "";
    assert_int_equal(parse(text, &q, &t, err), 0);
    assert_int_equal(t.n_bounds, 2);
    assert_true(t.bounds[0] == 5 && t.bounds[1] == 10);
    assert_true(t.cum[0] == 1 && t.cum[1] == 3 && t.cum[2] == 5);

    char many[16384] = "";
    size_t off = 0;
    for (int i = 1; i <= 50; i++)
        off += (size_t)snprintf(many + off, sizeof(many) - off,
                                "istio_request_duration_milliseconds_bucket{destination_service="
                                "\"s\",le=\"%d\"} %d\n",
                                i, i);
    snprintf(many + off, sizeof(many) - off,
             "istio_request_duration_milliseconds_bucket{destination_service=\"s\",le=\"+Inf\"} "
             "60\n");
    assert_int_equal(parse(many, &q, &t, err), 0);
    assert_int_equal(t.n_bounds, TRAFFIC_MAX_BOUNDS);
    assert_true(t.bounds[39] == 40 && t.cum[39] == 40 && t.cum[40] == 60);
}

static struct traffic
histo(size_t n, const double *bounds, const double *cum)
{
    struct traffic t = {0};
    t.n_bounds = n;
    memcpy(t.bounds, bounds, n * sizeof(double));
    memcpy(t.cum, cum, (n + 1) * sizeof(double));
    t.requests = cum[n];
    return t;
}

/* Expected figures worked out by hand from promql/quantile.go's rules. */
static void
test_quantile_follows_prometheus(void **state)
{
    (void)state;
    struct traffic t = histo(3, (double[]){10, 20, 40}, (double[]){10, 50, 90, 100});
    assert_true(isnan(traffic_quantile(&t, NAN)));
    assert_true(isinf(traffic_quantile(&t, -0.1)) && traffic_quantile(&t, -0.1) < 0);
    assert_true(isinf(traffic_quantile(&t, 1.1)) && traffic_quantile(&t, 1.1) > 0);
    assert_true(traffic_quantile(&t, 0.05) == 5);  /* first bucket: from 0 */
    assert_true(traffic_quantile(&t, 0.5) == 20);  /* rank 50: end of (10, 20] */
    assert_true(traffic_quantile(&t, 0.3) == 15);  /* rank 30: half of (10, 20] */
    assert_true(traffic_quantile(&t, 0.7) == 30);  /* rank 70: half of (20, 40] */
    assert_true(traffic_quantile(&t, 0.95) == 40); /* in +Inf: the largest finite bound */
    assert_true(traffic_quantile(&t, 1) == 40);
    /* no observations, or only a +Inf bucket */
    struct traffic empty = histo(3, (double[]){10, 20, 40}, (double[]){0, 0, 0, 0});
    assert_true(isnan(traffic_quantile(&empty, 0.5)));
    struct traffic inf_only = histo(0, (double[]){0}, (double[]){7});
    assert_true(isnan(traffic_quantile(&inf_only, 0.5)));
    /* all in +Inf */
    struct traffic slow = histo(2, (double[]){1, 2}, (double[]){0, 0, 9});
    assert_true(traffic_quantile(&slow, 0.99) == 2);
    /* a first bound <= 0 is returned as is */
    struct traffic neg = histo(2, (double[]){-1, 1}, (double[]){5, 10, 10});
    assert_true(traffic_quantile(&neg, 0.2) == -1);
    /* non-monotonic counts are evened out: (10 20 15 30 30) reads as (10 20 20 30 30), so
     * rank 24 is 4 of the 10 in (3, 4], not 9 of 15 */
    struct traffic bumpy = histo(4, (double[]){1, 2, 3, 4}, (double[]){10, 20, 15, 30, 30});
    assert_true(fabs(traffic_quantile(&bumpy, 0.8) - 3.4) < 1e-9);
    assert_true(fabs(traffic_quantile(&bumpy, 0.6) - 1.8) < 1e-9);
}

static void
test_delta_and_stats(void **state)
{
    (void)state;
    double b[] = {10, 100};
    struct traffic then = histo(2, b, (double[]){50, 90, 100});
    then.errors = 5;
    struct traffic now = histo(2, b, (double[]){150, 280, 300});
    now.errors = 7;
    struct traffic d = traffic_delta(&now, &then);
    assert_true(d.requests == 200 && d.errors == 2);
    assert_true(d.cum[0] == 100 && d.cum[1] == 190 && d.cum[2] == 200);
    struct window_stats w = traffic_stats(&d);
    assert_true(w.requests == 200 && w.success_rate == 99);
    assert_true(fabs(w.p50_ms - 10) < 1e-9);
    assert_true(fabs(w.p99_ms - 100) < 1e-9); /* rank 198 in (100, +Inf): 100 */

    /* a restart: counters went down, the new totals are the delta */
    struct traffic after = histo(2, b, (double[]){3, 4, 4});
    after.errors = 1;
    d = traffic_delta(&after, &now);
    assert_true(d.requests == 4 && d.errors == 1 && d.cum[0] == 3 && d.cum[2] == 4);
    /* one bucket down is enough */
    struct traffic odd = histo(2, b, (double[]){149, 290, 310});
    odd.errors = 7;
    d = traffic_delta(&odd, &now);
    assert_true(d.requests == 310);

    /* a destination first seen: everything counts */
    struct traffic none = {0};
    d = traffic_delta(&now, &none);
    assert_true(d.requests == 300 && d.cum[0] == 150 && d.n_bounds == 2);

    /* no requests: NAN figures */
    w = traffic_stats(&none);
    assert_true(w.requests == 0 && isnan(w.success_rate) && isnan(w.p99_ms) && isnan(w.p50_ms));

    /* deltas of two proxies add up by le */
    struct traffic sum = {0};
    traffic_add(&sum, &now);
    struct traffic other = histo(1, (double[]){50}, (double[]){10, 20});
    traffic_add(&sum, &other);
    assert_true(sum.requests == 320 && sum.errors == 7 && sum.n_bounds == 3);
    assert_true(sum.cum[0] == 150 && sum.cum[1] == 10 && sum.cum[2] == 280 && sum.cum[3] == 320);
}

static size_t
answer_stats(const char *req, char *resp, size_t cap)
{
    (void)req;
    size_t len;
    const char *body = fixture("meshlet-stats.prom", &len);
    int n = snprintf(resp, cap, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", len);
    memcpy(resp + n, body, len);
    return (size_t)n + len;
}

static size_t
answer_404(const char *req, char *resp, size_t cap)
{
    (void)req;
    return (size_t)snprintf(resp, cap, "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno");
}

static size_t
answer_cut(const char *req, char *resp, size_t cap)
{
    (void)req;
    return (size_t)snprintf(resp, cap,
                            "HTTP/1.1 200 OK\r\n\r\nistio_requests_total{destination_service="
                            "\"orders.prod.svc.cluster.local\"} 1");
}

static void
test_fetch_over_http(void **state)
{
    (void)state;
    struct serve s;
    serve_start(&s, 1, answer_stats);
    char hp[64], err[160] = "";
    snprintf(hp, sizeof(hp), "127.0.0.1:%d", s.port);
    struct traffic t = {0};
    assert_int_equal(scrape_fetch(hp, 5000, &v2, &t, err, sizeof(err)), 0);
    serve_stop(&s);
    assert_true(t.requests == 7 && t.errors == 2);
    assert_non_null(strstr(s.last, "GET /stats/prometheus HTTP/1.1\r\n"));
    assert_non_null(strstr(s.last, "Connection: close\r\n"));
    assert_null(strstr(s.last, "Content-Length"));

    serve_start(&s, 1, answer_404);
    snprintf(hp, sizeof(hp), "http://127.0.0.1:%d", s.port);
    assert_int_equal(scrape_fetch(hp, 5000, &v2, &t, err, sizeof(err)), -1);
    serve_stop(&s);
    char want[160];
    snprintf(want, sizeof(want), "%s/stats/prometheus: HTTP 404", hp);
    assert_string_equal(err, want);

    /* a body cut by the connection's end: the exposition's last line has no newline */
    serve_start(&s, 1, answer_cut);
    snprintf(hp, sizeof(hp), "127.0.0.1:%d", s.port);
    assert_int_equal(scrape_fetch(hp, 5000, &v2, &t, err, sizeof(err)), -1);
    serve_stop(&s);
    snprintf(want, sizeof(want),
             "%s/stats/prometheus: line 1: no newline at the end (a cut exposition?)", hp);
    assert_string_equal(err, want);

    /* nobody listening: the port of a server just stopped */
    assert_int_equal(scrape_fetch(hp, 5000, &v2, &t, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: Connection refused", hp);
    assert_string_equal(err, want);
    assert_int_equal(scrape_fetch("nowhere:1", 5000, &v2, &t, err, sizeof(err)), -1);
    assert_int_equal(scrape_fetch("127.0.0.1:1,127.0.0.1:2", 5000, &v2, &t, err, sizeof(err)), -1);
    assert_string_equal(err, "'127.0.0.1:1,127.0.0.1:2': one IP:PORT expected");
}

static size_t
open_fds(void)
{
    size_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

/* A server that accepts (the kernel's backlog) and never answers: the timeout ends the
 * exchange, and every failure gives its socket back. */
static void
test_fetch_times_out_and_frees(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    char hp[64], err[160] = "", want[160];
    snprintf(hp, sizeof(hp), "127.0.0.1:%d", ntohs(a.sin_port));
    size_t before = open_fds();
    struct traffic t = {0};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(scrape_fetch(hp, 100, &v2, &t, err, sizeof(err)), -1);
        snprintf(want, sizeof(want), "%s: Connection timed out", hp);
        assert_string_equal(err, want);
    }
    close(fd);
    assert_int_equal(scrape_fetch(hp, 100, &v2, &t, err, sizeof(err)), -1);
    assert_int_equal(open_fds(), before - 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrape_reads_meshlet_exposition),
        cmocka_unit_test(test_scrape_reads_any_valid_form),
        cmocka_unit_test(test_scrape_rejects_malformed),
        cmocka_unit_test(test_scrape_refuses_every_cut),
        cmocka_unit_test(test_scrape_merges_bounds),
        cmocka_unit_test(test_quantile_follows_prometheus),
        cmocka_unit_test(test_delta_and_stats),
        cmocka_unit_test(test_fetch_over_http),
        cmocka_unit_test(test_fetch_times_out_and_frees),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    harness_cleanup();
    return rc;
}
