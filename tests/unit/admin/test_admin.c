/* SPDX-License-Identifier: Apache-2.0 */
/* Admin request helpers: query parameters found whole (not as a suffix of another name),
 * %XX-decoded, refused when too long; and the server state Envoy's /ready reports. */
#include <string.h>

#include "admin/admin.h"
#include "harness.h"

static struct admin_request
req(const char *query)
{
    return (struct admin_request){.method = SLICE_LIT("GET"),
                                  .path = SLICE_LIT("/stats"),
                                  .query = slice_make(query, strlen(query))};
}

static void
test_query_get(void **state)
{
    (void)state;
    char v[32];
    struct admin_request q = req("usedonly&filter=%5Ecluster%5C.a%7Cb%24&format=json");
    assert_true(admin_query_get(&q, "filter", v, sizeof(v)));
    assert_string_equal(v, "^cluster\\.a|b$");
    assert_true(admin_wants_json(&q));
    assert_false(admin_query_get(&q, "usedonly", v, sizeof(v))); /* no value */
    q = req("xfilter=1&filter=");
    assert_true(admin_query_get(&q, "filter", v, sizeof(v)));
    assert_string_equal(v, ""); /* not xfilter's */
    q = req("filter=%zz%4");
    assert_true(admin_query_get(&q, "filter", v, sizeof(v)));
    assert_string_equal(v, "%zz%4"); /* bad escapes are kept as they are */
    q = req("filter=0123456789012345678901234567890123456789");
    assert_false(admin_query_get(&q, "filter", v, sizeof(v)));
    q = req("format=jsonx");
    assert_false(admin_wants_json(&q));
    q = req("");
    assert_false(admin_query_get(&q, "filter", v, sizeof(v)));
}

static void
test_state(void **state)
{
    (void)state;
    struct admin a;
    memset(&a, 0, sizeof(a));
    assert_string_equal(admin_state(&a), "PRE_INITIALIZING");
    a.ready = true;
    assert_string_equal(admin_state(&a), "LIVE");
    a.health_failed = true;
    assert_string_equal(admin_state(&a), "DRAINING");
    a.health_failed = false;
    a.draining = true;
    assert_string_equal(admin_state(&a), "DRAINING");
}

/* Answer <method> <path> with <body> from the endpoint table: the status; the page in <sb>. */
static int
dispatch(struct admin *a, const char *method, const char *path, const char *body, struct strbuf *sb,
         const char **type)
{
    struct admin_request q = {.method = slice_make(method, strlen(method)),
                              .path = slice_make(path, strlen(path)),
                              .query = SLICE_LIT(""),
                              .body = slice_make(body, strlen(body))};
    strbuf_fini(sb);
    strbuf_init(sb, 1 << 20);
    *type = "text/plain";
    return admin_dispatch(a, &q, sb, type);
}

static void
test_table_routes_and_refuses(void **state)
{
    (void)state;
    struct admin a;
    memset(&a, 0, sizeof(a));
    struct strbuf sb = {0};
    const char *type;
    assert_int_equal(dispatch(&a, "GET", "/healthz", "", &sb, &type), 200);
    assert_string_equal(strbuf_str(&sb), "ok\n");
    assert_int_equal(dispatch(&a, "GET", "/nope", "", &sb, &type), 404);
    assert_non_null(strstr(strbuf_str(&sb), "  /rollout: "));
    /* a mutating endpoint refuses GET before its handler runs */
    assert_int_equal(dispatch(&a, "GET", "/healthcheck/fail", "", &sb, &type), 405);
    assert_false(a.health_failed);
    assert_int_equal(dispatch(&a, "POST", "/healthcheck/fail", "", &sb, &type), 200);
    assert_true(a.health_failed);
    /* the dashboard is one whole page, built in */
    assert_int_equal(dispatch(&a, "GET", "/dashboard", "", &sb, &type), 200);
    assert_string_equal(type, "text/html; charset=utf-8");
    assert_true(!strncmp(strbuf_str(&sb), "<!DOCTYPE html>", 15));
    assert_non_null(strstr(strbuf_str(&sb), "</html>\n"));
    assert_int_equal(strlen(strbuf_str(&sb)), sb.len);
    assert_null(strstr(strbuf_str(&sb), "<script src"));
    /* / lists every endpoint, in order */
    assert_int_equal(dispatch(&a, "GET", "/", "", &sb, &type), 200);
    const char *page = strbuf_str(&sb);
    assert_true(strstr(page, "  /reload: ") < strstr(page, "  /rollout: "));
    assert_true(strstr(page, "  /rollout: ") < strstr(page, "  /server_info: "));
    strbuf_fini(&sb);
}

static void
test_rollout_post_then_get(void **state)
{
    (void)state;
    struct admin a;
    memset(&a, 0, sizeof(a));
    struct strbuf sb = {0};
    const char *type;
    harness_clock_set(10000);
    assert_int_equal(dispatch(&a, "GET", "/rollout", "", &sb, &type), 200);
    assert_string_equal(type, "application/json");
    assert_string_equal(strbuf_str(&sb), "{\"active\":false}\n");
    assert_int_equal(
        dispatch(&a, "POST", "/rollout", "{\"step\":3,\"phase\":\"observing\"}", &sb, &type), 200);
    harness_clock_advance(12500);
    assert_int_equal(dispatch(&a, "GET", "/rollout", "", &sb, &type), 200);
    assert_string_equal(strbuf_str(&sb), "{\"age_s\":12.500,\"step\":3,\"phase\":\"observing\"}\n");
    /* not an object, or none at all: 400, the last status stays */
    assert_int_equal(dispatch(&a, "POST", "/rollout", "[3]", &sb, &type), 400);
    assert_int_equal(dispatch(&a, "POST", "/rollout", "", &sb, &type), 400);
    assert_int_equal(dispatch(&a, "GET", "/rollout", "", &sb, &type), 200);
    assert_non_null(strstr(strbuf_str(&sb), "\"step\":3"));
    harness_clock_real();
    strbuf_fini(&sb);
    admin_fini(&a);
    assert_null(a.rollout.body);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_get),
        cmocka_unit_test(test_state),
        cmocka_unit_test(test_table_routes_and_refuses),
        cmocka_unit_test(test_rollout_post_then_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
