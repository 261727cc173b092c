/* SPDX-License-Identifier: Apache-2.0 */
/* Istio's x-envoy-peer-metadata value: what meshlet writes reads back; a value written by
 * another encoder (docs/internals/istio-metadata-exchange.md §7) reads as Istio's receiver
 * reads it, and starts with the same bytes as ours for the same fields; malformed, cut and
 * random values are refused or read without overrunning anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "harness.h"
#include "http/peer_metadata.h"

/* A 1.24 sidecar's value for productpage-v1, from the notes' own encoder. */
static const char example[] = "Ch4KCkNMVVNURVJfSUQSEBoOY2xpZW50LWNsdXN0ZXIKngEKBkxBQkVMUxKTASqQAQoU"
                              "CgNhcHASDRoLcHJvZHVjdHBhZ2UK"
                              "Mwofc2VydmljZS5pc3Rpby5pby9jYW5vbmljYWwtbmFtZRIQGg5wcm9kdWN0cGFnZS12"
                              "MQoyCiNzZXJ2aWNlLmlzdGlvLmlv"
                              "L2Nhbm9uaWNhbC1yZXZpc2lvbhILGgl2ZXJzaW9uLTEKDwoHdmVyc2lvbhIEGgJ2MQop"
                              "CgROQU1FEiEaH3Byb2R1Y3RwYWdl"
                              "LXYxLTg0OTc1YmM3NzgtcHh6MncKFgoJTkFNRVNQQUNFEgkaB2RlZmF1bHQKUgoFT1dO"
                              "RVISSRpHa3ViZXJuZXRlczovL2Fw"
                              "aXMvYXBwcy92MS9uYW1lc3BhY2VzL2RlZmF1bHQvZGVwbG95bWVudHMvcHJvZHVjdHBh"
                              "Z2UtdjEKIQoNV09SS0xPQURfTkFN"
                              "RRIQGg5wcm9kdWN0cGFnZS12MQ==";

static const struct metrics_local productpage = {.workload = "productpage-v1",
                                                 .ns = "default",
                                                 .app = "productpage",
                                                 .version = "v1",
                                                 .canonical_service = "productpage-v1",
                                                 .canonical_rev = "version-1",
                                                 .cluster = "client-cluster"};

static void
test_what_meshlet_writes_reads_back(void **state)
{
    (void)state;
    char out[2048];
    size_t n = peer_metadata_encode(&productpage, out, sizeof(out));
    assert_true(n > 0 && n == strlen(out));
    struct peer_metadata md;
    assert_true(peer_metadata_decode(out, n, &md));
    assert_string_equal(md.workload, "productpage-v1");
    assert_string_equal(md.name, "productpage-v1");
    assert_string_equal(md.ns, "default");
    assert_string_equal(md.cluster, "client-cluster");
    assert_string_equal(md.app, "productpage");
    assert_string_equal(md.version, "v1");
    assert_string_equal(md.canonical_service, "productpage-v1");
    assert_string_equal(md.canonical_rev, "version-1");
    /* the same fields in the same sorted order as the other encoder: CLUSTER_ID and LABELS
     * (193 bytes, 256 characters) are byte for byte the same; NAME differs (a pod's name) */
    assert_int_equal(strncmp(out, example, 256), 0);
    assert_int_equal(peer_metadata_encode(&productpage, out, 64), 0); /* too small */
    /* missing values are left out, LABELS stays */
    struct metrics_local bare = {.workload = "w",
                                 .ns = "",
                                 .app = "",
                                 .version = "",
                                 .canonical_service = "",
                                 .canonical_rev = "",
                                 .cluster = ""};
    n = peer_metadata_encode(&bare, out, sizeof(out));
    assert_true(peer_metadata_decode(out, n, &md));
    assert_string_equal(md.workload, "w");
    assert_string_equal(md.ns, "");
    assert_string_equal(md.app, "");
}

static void
test_another_encoders_value_reads_as_istio_reads_it(void **state)
{
    (void)state;
    struct peer_metadata md;
    assert_true(peer_metadata_decode(example, strlen(example), &md));
    assert_string_equal(md.workload, "productpage-v1");
    assert_string_equal(md.name, "productpage-v1-84975bc778-pxz2w");
    assert_string_equal(md.ns, "default");
    assert_string_equal(md.cluster, "client-cluster");
    assert_string_equal(md.canonical_rev, "version-1");
    assert_string_equal(md.app, "productpage");
    /* unpadded, as Istio's own tests send it */
    char unpadded[sizeof(example)];
    snprintf(unpadded, sizeof(unpadded), "%s", example);
    unpadded[strlen(unpadded) - 2] = '\0';
    assert_true(peer_metadata_decode(unpadded, strlen(unpadded), &md));
    assert_string_equal(md.workload, "productpage-v1");
}

/* A Struct with one entry <key> whose Value is <value> (<n> bytes, already a Value). */
static size_t
one_entry(unsigned char *buf, const char *key, const unsigned char *value, size_t n)
{
    size_t k = strlen(key), at = 0;
    buf[at++] = 0x0A;
    buf[at++] = (unsigned char)(2 + k + 2 + n);
    buf[at++] = 0x0A;
    buf[at++] = (unsigned char)k;
    memcpy(buf + at, key, k);
    at += k;
    buf[at++] = 0x12;
    buf[at++] = (unsigned char)n;
    memcpy(buf + at, value, n);
    return at + n;
}

static bool
decode_bytes(const unsigned char *b, size_t n, struct peer_metadata *md)
{
    char text[4096];
    size_t len = base64_encode(b, n, text);
    return peer_metadata_decode(text, len, md);
}

static void
test_malformed_values_are_refused_and_others_skipped(void **state)
{
    (void)state;
    struct peer_metadata md;
    assert_false(peer_metadata_decode("not base64!", 11, &md));
    assert_false(peer_metadata_decode("Ch4K-_", 6, &md)); /* the URL-safe alphabet */
    /* cut in the middle of an entry */
    assert_false(peer_metadata_decode(example, 100, &md));
    assert_string_equal(md.workload, "");
    /* a length past the end; a varint of eleven bytes; a wire type that does not exist */
    static const unsigned char past[] = {0x0A, 0x7F, 0x0A, 0x01, 'x'};
    assert_false(decode_bytes(past, sizeof(past), &md));
    static const unsigned char long_varint[] = {0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                                0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    assert_false(decode_bytes(long_varint, sizeof(long_varint), &md));
    static const unsigned char bad_type[] = {0x0F, 0x00};
    assert_false(decode_bytes(bad_type, sizeof(bad_type), &md));
    /* a number where a string is expected reads as nothing; control bytes are replaced */
    unsigned char buf[256];
    static const unsigned char number[] = {0x11, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_true(decode_bytes(buf, one_entry(buf, "WORKLOAD_NAME", number, sizeof(number)), &md));
    assert_string_equal(md.workload, "");
    static const unsigned char ctl[] = {0x1A, 3, 'a', '\n', 'b'};
    assert_true(decode_bytes(buf, one_entry(buf, "NAMESPACE", ctl, sizeof(ctl)), &md));
    assert_string_equal(md.ns, "a?b");
    /* too long to read at all */
    char *huge = malloc(PEER_METADATA_MAX_CHARS + 4);
    memset(huge, 'A', PEER_METADATA_MAX_CHARS + 4);
    assert_false(peer_metadata_decode(huge, PEER_METADATA_MAX_CHARS + 4, &md));
    free(huge);
}

/* Random bytes, and the example with bytes flipped: every value is decided on without
 * reading past it (ASan) and every string it leaves is terminated. */
static void
test_random_values_never_overrun(void **state)
{
    (void)state;
    unsigned char raw[1400];
    size_t n = (size_t)base64_decode(example, strlen(example), raw);
    unsigned seed = 7;
    struct peer_metadata md;
    for (int i = 0; i < 20000; i++) {
        unsigned char b[1400];
        memcpy(b, raw, n);
        for (int k = 0; k < 1 + i % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            b[(seed >> 8) % n] = (unsigned char)(seed >> 20);
        }
        size_t len = i % 7 ? n : (seed >> 4) % n;
        decode_bytes(b, len, &md);
        assert_true(strlen(md.workload) < sizeof(md.workload));
        assert_true(strlen(md.canonical_rev) < sizeof(md.canonical_rev));
    }
}

/* Istio's TCP exchange: ours reads back through the framing and the Any; a partial one
 * asks for more; another magic, a payload past the bound, another type are refused. */
static void
test_tcp_exchange_frames_and_reads_back(void **state)
{
    (void)state;
    unsigned char out[4096];
    size_t n = peer_exchange_encode(&productpage, "sidecar~1~p.default~default", out, sizeof(out));
    assert_true(n > 8);
    assert_memory_equal(out, "\x3d\x23\x04\x67", 4); /* the magic, big-endian */
    assert_int_equal((size_t)out[6] << 8 | out[7], n - 8);
    assert_int_equal(peer_exchange_length(out, n), (int64_t)n);
    assert_int_equal(peer_exchange_length(out, 8), (int64_t)n); /* known from its header */
    assert_int_equal(peer_exchange_length(out, 7), 0);          /* the header is not there */
    struct peer_metadata md;
    assert_true(peer_exchange_decode(out + 8, n - 8, &md));
    assert_string_equal(md.workload, "productpage-v1");
    assert_string_equal(md.ns, "default");
    assert_string_equal(md.canonical_rev, "version-1");
    /* too small a buffer, or names past protobuf's room: nothing; one of nobody: always */
    assert_int_equal(peer_exchange_encode(&productpage, "id", out, 40), 0);
    static char huge[5000];
    memset(huge, 'w', sizeof(huge) - 1);
    struct metrics_local long_names = productpage;
    long_names.workload = huge;
    assert_int_equal(peer_exchange_encode(&long_names, "id", out, sizeof(out)), 0);
    assert_true(peer_exchange_encode(&(struct metrics_local){0}, "", out, sizeof(out)) > 8);
    /* another magic; a length past the bound is told (its reader drops it unread) */
    unsigned char bad[8] = {0x3d, 0x23, 0x04, 0x66, 0, 0, 0, 1};
    assert_int_equal(peer_exchange_length(bad, 8), -1);
    unsigned char big[8] = {0x3d, 0x23, 0x04, 0x67, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(peer_exchange_length(big, 8), 8 + (int64_t)0xffffffffu);
    /* an Any of another type is not read */
    n = peer_exchange_encode(&productpage, "id", out, sizeof(out));
    unsigned char *url = memmem(out, n, "Struct", 6);
    assert_non_null(url);
    url[0] = 'X';
    assert_false(peer_exchange_decode(out + 8, n - 8, &md));
    /* cut anywhere: refused or read, never past the end */
    for (size_t k = 8; k < n; k++) (void)peer_exchange_decode(out + 8, k - 8, &md);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_what_meshlet_writes_reads_back),
        cmocka_unit_test(test_another_encoders_value_reads_as_istio_reads_it),
        cmocka_unit_test(test_malformed_values_are_refused_and_others_skipped),
        cmocka_unit_test(test_random_values_never_overrun),
        cmocka_unit_test(test_tcp_exchange_frames_and_reads_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
