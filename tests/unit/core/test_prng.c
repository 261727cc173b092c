/* SPDX-License-Identifier: Apache-2.0 */
/* Request ids: RFC 4122 version-4 UUIDs, lowercase, and not repeated. */
#include <string.h>

#include "core/prng.h"
#include "harness.h"

static void
test_uuid_has_the_v4_layout(void **state)
{
    (void)state;
    for (int n = 0; n < 1000; n++) {
        char id[37];
        memset(id, 'Z', sizeof(id));
        prng_uuid(id);
        assert_int_equal(strlen(id), 36);
        for (int i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                assert_int_equal(id[i], '-');
            else
                assert_non_null(strchr("0123456789abcdef", id[i]));
        }
        assert_int_equal(id[14], '4');           /* version */
        assert_non_null(strchr("89ab", id[19])); /* variant 10xx */
    }
}

static void
test_uuids_differ_and_use_every_digit(void **state)
{
    (void)state;
    char a[37], b[37];
    int seen[16] = {0};
    prng_uuid(a);
    for (int n = 0; n < 200; n++) {
        prng_uuid(b);
        assert_string_not_equal(a, b);
        for (int i = 0; i < 36; i++)
            if (b[i] != '-') seen[strchr("0123456789abcdef", b[i]) - "0123456789abcdef"]++;
        memcpy(a, b, sizeof(a));
    }
    for (int d = 0; d < 16; d++) assert_true(seen[d] > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid_has_the_v4_layout),
        cmocka_unit_test(test_uuids_differ_and_use_every_digit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
