/* SPDX-License-Identifier: Apache-2.0 */
/* Base64 as protobuf JSON writes bytes: both alphabets, optional padding, strict otherwise. */
#include <string.h>

#include "core/base64.h"
#include "harness.h"

static ssize_t
decode(const char *in, unsigned char *out)
{
    return base64_decode(in, strlen(in), out);
}

static void
test_base64_decodes_padded_and_unpadded(void **state)
{
    (void)state;
    unsigned char out[64];
    assert_int_equal(decode("aGVsbG8=", out), 5);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(decode("aGVsbG8", out), 5);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(decode("aGk=", out), 2);
    assert_memory_equal(out, "hi", 2);
    assert_int_equal(decode("aGVsbG9=", out), 5); /* non-canonical tail bits, as Go accepts */
    assert_int_equal(decode("", out), 0);
    assert_int_equal(decode("//79", out), 3); /* standard alphabet */
    assert_memory_equal(out, "\xff\xfe\xfd", 3);
    assert_int_equal(decode("__79", out), 3); /* URL-safe alphabet */
    assert_memory_equal(out, "\xff\xfe\xfd", 3);
}

static void
test_base64_rejects_what_is_not_base64(void **state)
{
    (void)state;
    unsigned char out[64];
    const char *bad[] = {"a", "aGVsbG8==", "aG=k", "aGVs bG8=", "====", "aG*k"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ssize_t n = decode(bad[i], out);
        if (n >= 0) fail_msg("decoded \"%s\" (%zd bytes)", bad[i], n);
    }
}

static void
test_base64_encodes_every_tail_length_and_round_trips(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {{"", ""},        {"f", "Zg=="},        {"fo", "Zm8="},
                 {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"/meshlet/", "L21lc2hsZXQv"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[32];
        size_t len = strlen(cases[i].in);
        assert_int_equal(base64_encode(cases[i].in, len, out), base64_encoded_len(len));
        assert_string_equal(out, cases[i].out);
    }
    unsigned char all[256], back[256 + 3];
    char text[base64_encoded_len(256) + 1];
    for (int i = 0; i < 256; i++) all[i] = (unsigned char)(255 - i);
    size_t n = base64_encode(all, sizeof(all), text);
    assert_int_equal(base64_decode(text, n, back), 256);
    assert_memory_equal(back, all, 256);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_decodes_padded_and_unpadded),
        cmocka_unit_test(test_base64_rejects_what_is_not_base64),
        cmocka_unit_test(test_base64_encodes_every_tail_length_and_round_trips),
    };
    return cmocka_run_group_tests_name("test_base64", tests, NULL, NULL);
}
