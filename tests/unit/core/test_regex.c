/* SPDX-License-Identifier: Apache-2.0 */
/* RE2-subset checking: what RE2 accepts passes, what only PCRE knows is refused with Go's
 * wording. */
#include <errno.h>
#include <string.h>

#include "core/regex.h"
#include "harness.h"

static void
test_regex_accepts_re2_syntax(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "/api/v[0-9]+/items",
        "\\d+$",
        "(?i)abc",
        "(?i:abc)def",
        "(?P<name>x)",
        "(?<name>x)",
        "[\\]a]",
        "[^]a]",
        "a{2,3}",
        "a*?",
        "\\.",
        "^(foo|bar)$",
        ".*",
        "[(?!]",
    };
    char err[256];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (regex_check(ok[i], err, sizeof(err))) fail_msg("rejected %s: %s", ok[i], err);
    }
}

static void
test_regex_rejects_what_re2_lacks(void **state)
{
    (void)state;
    static const struct {
        const char *re, *msg;
    } bad[] = {
        {"^(?!x).*", "invalid or unsupported Perl syntax: `(?!`"},
        {"(?=x)", "invalid or unsupported Perl syntax: `(?=`"},
        {"(?<=x)y", "invalid or unsupported Perl syntax: `(?<=`"},
        {"(?<!x)y", "invalid or unsupported Perl syntax: `(?<!`"},
        {"(?>x)", "invalid or unsupported Perl syntax: `(?>`"},
        {"(a)\\1", "invalid escape sequence: `\\1`"},
        {"a*+", "invalid nested repetition operator: `*+`"},
        {"(unclosed", "missing closing parenthesis: `(unclosed` at offset 9"},
        {"[abc", "missing closing ]: `[abc` at offset 0"},
        {"x[abc", "missing closing ]: `[abc` at offset 1"},
        {"a\\", "trailing backslash at end of expression: `\\` at offset 1"},
        {"ab(?!x)", "invalid or unsupported Perl syntax: `(?!` at offset 2"},
        {"a{2,1}", "at offset"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(regex_check(bad[i].re, err, sizeof(err)), -EINVAL);
        if (!strstr(err, bad[i].msg))
            fail_msg("%s: got \"%s\", want \"%s\"", bad[i].re, err, bad[i].msg);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regex_accepts_re2_syntax),
        cmocka_unit_test(test_regex_rejects_what_re2_lacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
