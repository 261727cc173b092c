/* SPDX-License-Identifier: Apache-2.0 */
/* The /rollout store: only one JSON object is kept (strict syntax, checked whole, byte by
 * byte and cut at every length), the size cap, the previous status kept on a refusal, and
 * the age inserted on the way out. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "admin/rollout_view.h"
#include "harness.h"

static bool
is_object(const char *s)
{
    size_t n = strlen(s);
    return rollout_view_is_object(slice_make(harness_guarded(s, n), n));
}

static void
test_accepts_json_objects(void **state)
{
    (void)state;
    static const char *const good[] = {
        "{}",
        " {\"a\":1}\n",
        "{\"name\":\"web-canary\",\"step\":3,\"steps\":[5,10,25,50,100],\"weight\":25,"
        "\"stable\":{\"host\":\"orders\",\"subset\":\"v1\"},\"elapsed_s\":12.3,"
        "\"checks\":[{\"name\":\"success rate\",\"ok\":true,\"detail\":\"100.0% >= 99.0%\"}],"
        "\"x\":null,\"y\":false,\"z\":-0.5e-3,\"u\":\"\\u00e9\\n\\\"\\\\\\/\",\"e\":[]}",
        "{\"a\" : [ 1 , 2 ] , \"b\" : { } }",
        "{\"n\":0,\"m\":1E+9,\"k\":10.25}",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_true(is_object(good[i]));
        /* every shorter prefix that cuts into the object is refused */
        size_t n = strlen(good[i]);
        while (n && (good[i][n - 1] == '\n' || good[i][n - 1] == ' ')) n--;
        for (size_t cut = 0; cut < n; cut++)
            assert_false(rollout_view_is_object(slice_make(harness_guarded(good[i], cut), cut)));
    }
}

static void
test_refuses_what_is_not_one_object(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",           "[1]",        "\"x\"",           "1",
        "null",       "{a: b}",     "{\"a\":1,}",      "{\"a\":1} x",
        "{}{}",       "{'a':1}",    "{\"a\":tru}",     "{\"a\":01}",
        "{\"a\":1.}", "{\"a\":-}",  "{\"a\":\"\\x\"}", "{\"a\":\"\t\"}",
        "{\"a\" 1}",  "{,}",        "{\"a\":[1,]}",    "{\"a\":\"\\u12\"}",
        "{\"a\":1e}", "{\"a\":+1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (is_object(bad[i])) fail_msg("accepted: %s", bad[i]);
    }
    /* a NUL inside is not white space */
    assert_false(rollout_view_is_object(slice_make("{}\0", 3)));
    /* nesting: 64 levels are fine, 65 are not */
    char deep[200];
    size_t n = 0;
    for (int i = 0; i < 62; i++) deep[n++] = '[';
    memcpy(deep + n, "{}", 2);
    n += 2;
    for (int i = 0; i < 62; i++) deep[n++] = ']';
    deep[n] = '\0';
    assert_false(is_object(deep)); /* an array at the top */
    char obj[300];
    snprintf(obj, sizeof(obj), "{\"a\":%s}", deep);
    assert_true(is_object(obj)); /* 64 levels: the object, 62 arrays, the inner object */
    snprintf(obj, sizeof(obj), "{\"a\":[%s]}", deep);
    assert_false(is_object(obj));
}

static void
test_post_keeps_last_and_refuses_bad(void **state)
{
    (void)state;
    struct rollout_view v;
    memset(&v, 0, sizeof(v));
    struct strbuf sb;
    strbuf_init(&sb, 1 << 20);
    rollout_view_write(&v, 1000, &sb);
    assert_string_equal(strbuf_str(&sb), "{\"active\":false}\n");

    assert_int_equal(rollout_view_post(&v, SLICE_LIT(" { \"step\":3 }"), 1000), 0);
    strbuf_fini(&sb);
    strbuf_init(&sb, 1 << 20);
    rollout_view_write(&v, 3250, &sb);
    assert_string_equal(strbuf_str(&sb), "{\"age_s\":2.250,\"step\":3 }\n");

    /* refused: the previous status stays */
    assert_int_equal(rollout_view_post(&v, SLICE_LIT("[1]"), 4000), -EINVAL);
    static char big[ROLLOUT_VIEW_MAX_BYTES + 2];
    memset(big, ' ', sizeof(big));
    big[0] = '{';
    big[sizeof(big) - 1] = '}';
    assert_int_equal(rollout_view_post(&v, slice_make(big, sizeof(big)), 4000), -EMSGSIZE);
    strbuf_fini(&sb);
    strbuf_init(&sb, 1 << 20);
    rollout_view_write(&v, 4000, &sb);
    assert_string_equal(strbuf_str(&sb), "{\"age_s\":3.000,\"step\":3 }\n");

    /* exactly the cap is accepted; an empty object gets no stray comma */
    big[ROLLOUT_VIEW_MAX_BYTES - 1] = '}';
    assert_int_equal(rollout_view_post(&v, slice_make(big, ROLLOUT_VIEW_MAX_BYTES), 5000), 0);
    assert_int_equal(v.len, ROLLOUT_VIEW_MAX_BYTES);
    assert_int_equal(rollout_view_post(&v, SLICE_LIT("{}"), 5000), 0);
    strbuf_fini(&sb);
    strbuf_init(&sb, 1 << 20);
    rollout_view_write(&v, 4000, &sb); /* a clock behind the post: age 0, not a wrap */
    assert_string_equal(strbuf_str(&sb), "{\"age_s\":0.000}\n");
    strbuf_fini(&sb);
    rollout_view_fini(&v);
    assert_null(v.body);
    rollout_view_fini(&v); /* twice: a no-op */
}

static void
test_post_out_of_memory_keeps_previous(void **state)
{
    (void)state;
    struct rollout_view v;
    memset(&v, 0, sizeof(v));
    assert_int_equal(rollout_view_post(&v, SLICE_LIT("{\"step\":1}"), 1), 0);
    harness_alloc_fail_at(0);
    assert_int_equal(rollout_view_post(&v, SLICE_LIT("{\"step\":2}"), 2), -ENOMEM);
    assert_int_equal(harness_alloc_fail_off(), 1);
    assert_string_equal(v.body, "{\"step\":1}");
    rollout_view_fini(&v);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_json_objects),
        cmocka_unit_test(test_refuses_what_is_not_one_object),
        cmocka_unit_test(test_post_keeps_last_and_refuses_bad),
        cmocka_unit_test(test_post_out_of_memory_keeps_previous),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
