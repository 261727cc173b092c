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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_get),
        cmocka_unit_test(test_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
