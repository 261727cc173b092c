/* SPDX-License-Identifier: Apache-2.0 */
/* Scalar decoding: Go durations, percents, enums by name and number, ints and their ranges,
 * null values, and diagnostics formatting. */
#include <errno.h>
#include <string.h>

#include "config_case.h"

static void
test_field_parses_go_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t ns;
    } good[] = {
        {"0", 0},
        {"500ms", 500000000},
        {"1.5s", 1500000000},
        {"2m", 120000000000LL},
        {"1h30m", 5400000000000LL},
        {"24h", 86400000000000LL},
        {"10us", 10000},
        {"7ns", 7},
        {"1m0.5s", 60500000000LL},
        {"-3s", -3000000000LL},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t ns = -1;
        assert_int_equal(field_parse_duration(good[i].text, &ns), 0);
        assert_int_equal(ns, good[i].ns);
    }
    static const char *const bad[] = {"", "5", "s", "1.2.3s", "5 s", "1d", "ms", ".s", "10sec"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ns;
        assert_int_equal(field_parse_duration(bad[i], &ns), -EINVAL);
    }
}

static const struct config_case cases[] = {
    {"field_enum_accepts_proto_number",
     "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n"
     "  host: r\n  trafficPolicy:\n    tls: {mode: 3}\n",
     "IST0106", NULL, NULL, true},
    {"field_enum_is_case_sensitive",
     "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n"
     "  host: r\n  trafficPolicy:\n    tls: {mode: istio_mutual}\n",
     "IST0106", "spec.trafficPolicy.tls.mode", "Unsupported value: \"istio_mutual\""},
    {"field_percent_needs_value_key",
     "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n"
     "  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n"
     "    mirror: {host: m}\n    mirrorPercentage: {val: 5}\n",
     "IST0106", "spec.http[0].mirrorPercentage.val", "unknown field \"val\""},
    {"field_int_rejects_fraction",
     "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n"
     "  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n      weight: 2.5\n",
     "IST0106", "spec.http[0].route[0].weight", "invalid value \"2.5\": expected int32"},
    {"field_int_accepts_quoted_number",
     "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n"
     "  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n      weight: \"100\"\n",
     "IST0106", NULL, NULL, true},
    {"field_bool_rejects_yes",
     "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n"
     "  hosts: [c]\n  http:\n  - match:\n    - uri: {prefix: /a}\n      ignoreUriCase: maybe\n"
     "    route:\n    - destination: {host: c}\n",
     "IST0106", "spec.http[0].match[0].ignoreUriCase", "expected true or false"},
    {"field_null_value_means_unset",
     "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n"
     "  hosts: [c]\n  gateways: ~\n  http:\n  - route:\n    - destination: {host: c}\n"
     "    timeout:\n",
     "IST0106", NULL, NULL, true},
    {"field_mapping_where_list_expected",
     "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n"
     "  hosts: {a: b}\n  http:\n  - route:\n    - destination: {host: c}\n",
     "IST0106", "spec.hosts", "expected a list of strings"},
    {"field_top_level_unknown_key",
     "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\n"
     "specs: {}\nspec:\n  hosts: [c]\n  http:\n  - route:\n    - destination: {host: c}\n",
     "IST0106", "specs", "unknown field \"specs\""},
};

static void
test_diag_text_names_everything(void **state)
{
    (void)state;
    struct resource_set set;
    struct diag_list dl;
    config_case_load("apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                     "metadata: {name: v, namespace: shop}\nspec:\n  hosts: [c]\n  http:\n"
                     "  - route:\n    - destination: {host: c}\n      weight: -1\n"
                     "    - destination: {host: d}\n      weight: 5\n",
                     false, &set, &dl);
    struct strbuf sb;
    strbuf_init(&sb, 1 << 16);
    diag_list_format(&dl, false, &sb);
    const char *t = strbuf_str(&sb);
    assert_non_null(strstr(t, "Error [IST0106] (VirtualService shop/v "));
    assert_non_null(strstr(t, "case.yaml:9:15) spec.http[0].route[0].weight: weight -1 < 0 -- "));
    strbuf_fini(&sb);

    strbuf_init(&sb, 1 << 16);
    diag_list_format(&dl, true, &sb);
    t = strbuf_str(&sb);
    assert_non_null(strstr(t, "\"errors\":1"));
    assert_non_null(strstr(t, "\"code\":\"IST0106\""));
    assert_non_null(strstr(t, "\"path\":\"spec.http[0].route[0].weight\""));
    assert_non_null(strstr(t, "\"line\":9,\"column\":15"));
    assert_non_null(strstr(t, "\"namespace\":\"shop\""));
    strbuf_fini(&sb);
    diag_list_fini(&dl);
    config_fini(&set);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_parses_go_durations),
        cmocka_unit_test(test_diag_text_names_everything),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rc |= config_case_run_all("field", cases, sizeof(cases) / sizeof(cases[0]));
    return rc;
}
