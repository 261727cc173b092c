/* SPDX-License-Identifier: Apache-2.0 */
/* Path rewrites as Envoy applies Istio's rewrite (§3.11): prefix matches replace the matched
 * prefix, exact and regex matches the whole path, rules without a uri match the leading
 * "/"; the query string stays; uriRegexRewrite substitutes with \1 references. */
#include <string.h>

#include "core/regex.h"
#include "harness.h"
#include "model/route.h"

static struct model_match block;
static struct model_route route;

static void
setup_route(enum model_sm_kind kind, const char *uri_value, const char *rewrite)
{
    memset(&block, 0, sizeof(block));
    memset(&route, 0, sizeof(route));
    if (uri_value) {
        block.has_uri = true;
        block.uri.kind = kind;
        block.uri.value = slice_make(uri_value, strlen(uri_value));
    }
    route.matches = &block;
    route.n_matches = 1;
    route.has_uri_rewrite = rewrite != NULL;
    if (rewrite) route.uri_rewrite = slice_make(rewrite, strlen(rewrite));
}

static const char *
rewrite(const char *path, int blk)
{
    static char buf[512];
    size_t n =
        route_rewrite_path(&route, blk, slice_make(path, strlen(path)), buf, sizeof(buf) - 1);
    buf[n] = '\0';
    return n ? buf : "(unchanged)";
}

static void
test_rewrite_prefix_replaces_the_matched_prefix(void **state)
{
    (void)state;
    setup_route(MODEL_SM_PREFIX, "/api/", "/");
    assert_string_equal(rewrite("/api/orders?x=1", 0), "/orders?x=1");
    setup_route(MODEL_SM_PREFIX, "/foo", "/");
    assert_string_equal(rewrite("/foo/bar", 0), "//bar"); /* the spec's gotcha, as Envoy */
}

static void
test_rewrite_exact_and_regex_replace_the_whole_path(void **state)
{
    (void)state;
    setup_route(MODEL_SM_EXACT, "/old", "/new");
    assert_string_equal(rewrite("/old?q", 0), "/new?q");
    setup_route(MODEL_SM_REGEX, "/v[0-9]+/x", "/x");
    assert_string_equal(rewrite("/v2/x", 0), "/x");
}

static void
test_rewrite_without_uri_match_replaces_the_leading_slash(void **state)
{
    (void)state;
    setup_route(MODEL_SM_PREFIX, NULL, "/svc/");
    assert_string_equal(rewrite("/a/b", -1), "/svc/a/b");
    assert_string_equal(rewrite("/a/b", 0), "/svc/a/b");
}

static void
test_regex_rewrite_substitutes_groups(void **state)
{
    (void)state;
    setup_route(MODEL_SM_PREFIX, "/", NULL);
    route.uri_regex = regex_compile_search("^/service/([^/]+)(/.*)$");
    route.uri_regex_sub = "\\2/instance/\\1";
    assert_string_equal(rewrite("/service/foo/v1/api?z=1", 0), "/v1/api/instance/foo?z=1");
    regex_free(route.uri_regex);
    route.uri_regex = NULL;
    setup_route(MODEL_SM_PREFIX, "/", NULL);
    assert_string_equal(rewrite("/same", 0), "(unchanged)");
}

/* The user key of a sticky route: the first value of its header, any case of the name; or
 * its cookie, in any Cookie field (HTTP/2 splits them), quotes removed; none when absent
 * or empty, or when the route is not sticky. */
static void
test_sticky_key_from_header_or_cookie(void **state)
{
    (void)state;
    struct model_route r = {.sticky_on = MODEL_STICKY_HEADER, .sticky_name = "x-user"};
    struct route_header h[] = {
        {SLICE_LIT("Accept"), SLICE_LIT("*/*")},
        {SLICE_LIT("X-User"), SLICE_LIT("alice")},
        {SLICE_LIT("x-user"), SLICE_LIT("bob")},
        {SLICE_LIT("cookie"), SLICE_LIT("a=1; uid=\"u-7\"")},
        {SLICE_LIT("cookie"), SLICE_LIT("sid=9")},
        {SLICE_LIT("x-empty"), SLICE_LIT("")},
    };
    struct route_request rq = {.headers = h, .n_headers = 6};
    struct slice key;
    assert_true(route_sticky_key(&r, &rq, &key));
    assert_true(slice_eq(key, "alice"));
    r.sticky_name = "x-none";
    assert_false(route_sticky_key(&r, &rq, &key));
    r.sticky_name = "x-empty";
    assert_false(route_sticky_key(&r, &rq, &key));
    r.sticky_on = MODEL_STICKY_COOKIE;
    r.sticky_name = "uid";
    assert_true(route_sticky_key(&r, &rq, &key));
    assert_true(slice_eq(key, "u-7"));
    r.sticky_name = "sid"; /* in the second Cookie field */
    assert_true(route_sticky_key(&r, &rq, &key));
    assert_true(slice_eq(key, "9"));
    r.sticky_name = "SID"; /* cookie names are case-sensitive */
    assert_false(route_sticky_key(&r, &rq, &key));
    r.sticky_name = "u"; /* not a prefix of uid */
    assert_false(route_sticky_key(&r, &rq, &key));
    r.sticky_on = MODEL_STICKY_NONE;
    r.sticky_name = "uid";
    assert_false(route_sticky_key(&r, &rq, &key));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rewrite_prefix_replaces_the_matched_prefix),
        cmocka_unit_test(test_rewrite_exact_and_regex_replace_the_whole_path),
        cmocka_unit_test(test_rewrite_without_uri_match_replaces_the_leading_slash),
        cmocka_unit_test(test_regex_rewrite_substitutes_groups),
        cmocka_unit_test(test_sticky_key_from_header_or_cookie),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
