/* SPDX-License-Identifier: Apache-2.0 */
/* promql_window against a canned Prometheus API: the PromQL it sends, how it reads vectors,
 * empty results and Prometheus's errors. The real server is in tests/e2e. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "rollout/scrape.h"
#include "serve.h"

static char queries[4][1024];
static int n_queries;

/* The query parameter of a request line, %XX decoded. */
static void
decode(const char *req, char *out, size_t cap)
{
    const char *q = strstr(req, "?query=");
    size_t n = 0;
    for (q = q ? q + 7 : ""; *q && *q != ' ' && n + 1 < cap; q++) {
        if (*q == '%' && q[1] && q[2]) {
            char hex[3] = {q[1], q[2], 0};
            out[n++] = (char)strtol(hex, NULL, 16);
            q += 2;
        } else {
            out[n++] = *q == '+' ? ' ' : *q;
        }
    }
    out[n] = '\0';
}

static size_t
reply(char *resp, size_t cap, int status, const char *body)
{
    return (size_t)snprintf(resp, cap, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n\r\n%s", status,
                            strlen(body), body);
}

static const char *
vector(const char *value)
{
    static char b[512];
    snprintf(b, sizeof(b),
             "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":"
             "{},\"value\":[1765000000.123,\"%s\"]}]}}",
             value);
    return b;
}

static size_t
answer_traffic(const char *req, char *resp, size_t cap)
{
    char q[1024];
    decode(req, q, sizeof(q));
    snprintf(queries[n_queries++ & 3], sizeof(queries[0]), "%s", q);
    if (strstr(q, "histogram_quantile(0.99")) return reply(resp, cap, 200, vector("812.5"));
    if (strstr(q, "histogram_quantile(0.5")) return reply(resp, cap, 200, vector("NaN"));
    if (strstr(q, "5..")) return reply(resp, cap, 200, vector("87"));
    return reply(resp, cap, 200, vector("1000"));
}

static size_t
answer_empty(const char *req, char *resp, size_t cap)
{
    (void)req;
    return reply(resp, cap, 200,
                 "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}");
}

static size_t
answer_error(const char *req, char *resp, size_t cap)
{
    (void)req;
    return reply(resp, cap, 400,
                 "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"parse error\"}");
}

static size_t
answer_junk(const char *req, char *resp, size_t cap)
{
    (void)req;
    return reply(resp, cap, 200, "<html>not prometheus</html>");
}

static void
test_promql_window_queries(void **state)
{
    (void)state;
    struct serve s;
    serve_start(&s, 4, answer_traffic);
    char url[64], err[256] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    struct traffic_query q = {"orders.prod.svc.cluster.local", "v\"2", "source"};
    struct window_stats w;
    n_queries = 0;
    assert_int_equal(promql_window(url, &q, 30, 5000, &w, err, sizeof(err)), 0);
    serve_stop(&s);
    assert_int_equal(n_queries, 4);
    const char *sel = "{destination_service=\"orders.prod.svc.cluster.local\",destination_version="
                      "\"v\\\"2\",reporter=\"source\"";
    char want[1024];
    snprintf(want, sizeof(want), "sum(increase(istio_requests_total%s}[30s]))", sel);
    assert_string_equal(queries[0], want);
    snprintf(want, sizeof(want),
             "sum(increase(istio_requests_total%s,response_code=~\"5..\"}[30s]))", sel);
    assert_string_equal(queries[1], want);
    snprintf(want, sizeof(want),
             "histogram_quantile(0.99, sum by (le) (increase("
             "istio_request_duration_milliseconds_bucket%s}[30s])))",
             sel);
    assert_string_equal(queries[2], want);
    assert_non_null(strstr(s.last, "GET /api/v1/query?query=histogram_quantile%280.5%2C"));
    assert_true(w.requests == 1000 && fabs(w.success_rate - 91.3) < 1e-9);
    assert_true(w.p99_ms == 812.5 && isnan(w.p50_ms));
}

static void
test_promql_window_no_traffic_and_errors(void **state)
{
    (void)state;
    struct serve s;
    char url[64], err[256] = "";
    struct traffic_query q = {"s", NULL, NULL};
    struct window_stats w;
    /* an empty vector: no requests, one query only */
    serve_start(&s, 1, answer_empty);
    snprintf(url, sizeof(url), "127.0.0.1:%d", s.port);
    assert_int_equal(promql_window(url, &q, 60, 5000, &w, err, sizeof(err)), 0);
    serve_stop(&s);
    assert_non_null(strstr(s.last, "query=sum%28increase%28istio_requests_total%7B"
                                   "destination_service%3D%22s%22%7D%5B60s%5D%29%29 "));
    assert_true(w.requests == 0 && isnan(w.success_rate) && isnan(w.p99_ms));

    serve_start(&s, 1, answer_error);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
    assert_int_equal(promql_window(url, &q, 60, 5000, &w, err, sizeof(err)), -1);
    serve_stop(&s);
    char want[256];
    snprintf(want, sizeof(want),
             "%s: sum(increase(istio_requests_total{destination_service=\"s\"}[60s])): HTTP 400: "
             "parse error",
             url);
    assert_string_equal(err, want);

    serve_start(&s, 1, answer_junk);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
    assert_int_equal(promql_window(url, &q, 60, 5000, &w, err, sizeof(err)), -1);
    serve_stop(&s);
    assert_non_null(strstr(err, ": HTTP 200, not a Prometheus API answer"));

    assert_int_equal(promql_window(url, &q, 0, 5000, &w, err, sizeof(err)), -1);
    assert_string_equal(err, "a window of 0 s");
    /* the server is gone */
    assert_int_equal(promql_window(url, &q, 60, 5000, &w, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s: Connection refused", url + 7);
    assert_string_equal(err, want);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_promql_window_queries),
        cmocka_unit_test(test_promql_window_no_traffic_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
