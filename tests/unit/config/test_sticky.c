/* SPDX-License-Identifier: Apache-2.0 */
/* The meshlet.io/sticky-split annotation: its grammar (both forms), each bad value with
 * its message, the field path and the column of the fault, route names checked against
 * the VirtualService, and the lookup per route. */
#include "config/sticky.h"
#include "config_case.h"

#define PATH "metadata.annotations[meshlet.io/sticky-split]"

/* A VirtualService with the annotation value <v> (YAML, as written) and three routes: two
 * weighted (named split and other) and one with a single destination (named one). */
#define VS_WITH(v)                                                                                 \
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: r\n"             \
    "  namespace: default\n  annotations:\n    meshlet.io/sticky-split: " v "\n"                   \
    "spec:\n  hosts: [c]\n  http:\n"                                                               \
    "  - name: split\n    match: [{uri: {prefix: /a}}]\n    route:\n"                              \
    "    - {destination: {host: c, subset: v1}, weight: 90}\n"                                     \
    "    - {destination: {host: c, subset: v2}, weight: 10}\n"                                     \
    "  - name: one\n    match: [{uri: {prefix: /b}}]\n    route:\n"                                \
    "    - destination: {host: c, subset: v1}\n"                                                   \
    "  - name: other\n    route:\n"                                                                \
    "    - {destination: {host: c, subset: v1}, weight: 50}\n"                                     \
    "    - {destination: {host: c, subset: v2}, weight: 50}\n"

static const struct config_case cases[] = {
    {"sticky_header_for_every_route_is_valid", VS_WITH("header:x-user"), "IST0106", NULL, NULL,
     true},
    {"sticky_cookie_for_every_route_is_valid", VS_WITH("\"cookie:uid\""), "IST0106", NULL, NULL,
     true},
    {"sticky_per_route_items_are_valid", VS_WITH("\"split=header:x-user, other = cookie:u\""),
     "IST0106", NULL, NULL, true},
    {"sticky_rejects_unknown_source", VS_WITH("query:user"), "IST0106", PATH,
     "unknown user key source \"query\""},
    {"sticky_rejects_missing_colon", VS_WITH("header"), "IST0106", PATH, "empty header name"},
    {"sticky_rejects_empty_header_name", VS_WITH("\"header:\""), "IST0106", PATH,
     "empty header name"},
    {"sticky_rejects_empty_cookie_name", VS_WITH("\"split=cookie:\""), "IST0106", PATH,
     "empty cookie name"},
    {"sticky_rejects_bad_header_name_chars", VS_WITH("\"header:x user\""), "IST0106", PATH,
     "not allowed in a header name: ' '"},
    {"sticky_rejects_pseudo_header", VS_WITH("\"header::authority\""), "IST0106", PATH,
     "not allowed in a header name: ':'"},
    {"sticky_rejects_bad_cookie_name_chars", VS_WITH("\"cookie:a;b\""), "IST0106", PATH,
     "not allowed in a cookie name: ';'"},
    {"sticky_rejects_empty_value", VS_WITH("\"\""), "IST0106", PATH, "empty item"},
    {"sticky_rejects_trailing_comma", VS_WITH("\"split=header:a,\""), "IST0106", PATH,
     "empty item"},
    {"sticky_rejects_empty_route_name", VS_WITH("\"=header:a\""), "IST0106", PATH,
     "empty route name"},
    {"sticky_rejects_unknown_route", VS_WITH("\"nosuch=header:a\""), "IST0106", PATH,
     "no http route named \"nosuch\" in this VirtualService"},
    {"sticky_rejects_route_named_twice", VS_WITH("\"split=header:a,split=cookie:b\""), "IST0106",
     PATH, "route \"split\" is named twice"},
    {"sticky_rejects_two_items_without_route", VS_WITH("\"header:a,cookie:b\""), "IST0106", PATH,
     "more than one item without a route name"},
    {"sticky_accepts_a_block_scalar", VS_WITH("|\n      split=header:x-user\n"), "IST0106", NULL,
     NULL, true},
    {"sticky_shows_a_control_byte_by_its_value", VS_WITH("\"header:x\\ty\""), "IST0106", PATH,
     "header name has a character not allowed in a header name: byte 0x09"},
    {"sticky_rejects_a_mapping", VS_WITH("{a: b}"), "IST0106", PATH, "must be a string"},
    {"sticky_warns_on_route_without_split", VS_WITH("\"one=header:a\""), "IST0133", PATH,
     "http route \"one\" does not split between destinations"},
    {"sticky_route_without_split_is_no_error", VS_WITH("\"one=header:a\""), "IST0106", NULL, NULL,
     true},
};

/* The first message at the annotation's path. */
static const struct diag *
annotation_diag(const struct diag_list *dl)
{
    for (size_t i = 0; i < dl->len; i++)
        if (!strcmp(dl->items[i].path, PATH)) return &dl->items[i];
    return NULL;
}

/* The position names the annotation's line and the column of the fault in the value. */
static void
test_sticky_error_points_at_the_fault(void **state)
{
    (void)state;
    struct resource_set set;
    struct diag_list dl;
    /* "    meshlet.io/sticky-split: " is 29 columns; the value's quote is at 30. */
    config_case_load(VS_WITH("\"split=header:x-user, other=header:x y\""), false, &set, &dl);
    const struct diag *d = annotation_diag(&dl);
    assert_non_null(d);
    assert_int_equal(d->severity, DIAG_ERROR);
    assert_int_equal(d->line, 7);
    /* the space in "x y": 30 + 1 + strlen("split=header:x-user, other=header:x") */
    assert_int_equal(d->col, 31 + 35);
    assert_true(strstr(d->file, "case.yaml") != NULL);
    diag_list_fini(&dl);
    config_fini(&set);

    config_case_load(VS_WITH("query:u"), false, &set, &dl); /* plain: the value at 30 */
    d = annotation_diag(&dl);
    assert_non_null(d);
    assert_int_equal(d->line, 7);
    assert_int_equal(d->col, 30);
    diag_list_fini(&dl);
    config_fini(&set);
}

static void
test_sticky_lookup_per_route(void **state)
{
    (void)state;
    struct resource_set set;
    struct diag_list dl;
    config_case_load(VS_WITH("\"header:X-User, other=cookie:uid\""), false, &set, &dl);
    assert_int_equal(dl.errors, 0);
    assert_int_equal(set.len, 1);
    const struct sticky_split *s = set.items[0]->sticky;
    assert_non_null(s);
    assert_int_equal(s->n, 2);
    const struct sticky_key *k = sticky_for_route(s, "split");
    assert_non_null(k);
    assert_int_equal(k->source, STICKY_HEADER);
    assert_string_equal(k->name, "x-user"); /* header names in lower case */
    k = sticky_for_route(s, "other");
    assert_int_equal(k->source, STICKY_COOKIE);
    assert_string_equal(k->name, "uid");
    assert_int_equal(sticky_for_route(s, NULL)->source, STICKY_HEADER);
    assert_null(sticky_for_route(NULL, "split"));
    diag_list_fini(&dl);
    config_fini(&set);

    /* Per route only: a route not named has no key. */
    config_case_load(VS_WITH("\"split=cookie:Uid\""), false, &set, &dl);
    s = set.items[0]->sticky;
    assert_non_null(s);
    assert_string_equal(sticky_for_route(s, "split")->name, "Uid"); /* cookies keep case */
    assert_null(sticky_for_route(s, "other"));
    diag_list_fini(&dl);
    config_fini(&set);

    /* An annotation in error is not used. */
    config_case_load(VS_WITH("\"nosuch=cookie:u\""), false, &set, &dl);
    assert_null(set.items[0]->sticky);
    diag_list_fini(&dl);
    config_fini(&set);
}

int
main(void)
{
    const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_sticky_error_points_at_the_fault),
        cmocka_unit_test(test_sticky_lookup_per_route),
    };
    int rc = config_case_run_all("sticky", cases, sizeof(cases) / sizeof(cases[0]));
    rc |= cmocka_run_group_tests(extra, NULL, NULL);
    harness_cleanup();
    return rc;
}
